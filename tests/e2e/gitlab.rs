//! Issue 13: the gitlab receiver end to end — push, tag push, merge requests, ignored events,
//! the token, malformed bodies — against the running binary.

use crate::common::*;
use serde_json::{json, Value};

const TOKEN: &str = "test-gitlab-token-value";

fn server() -> (tempfile::TempDir, Server) {
    let mut cfg = receiver_config("gitlab", "secret-token", TOKEN);
    cfg.push_str(&git_warehouse(
        "kargo-demo",
        "diaspora",
        "git@example.com:mike/diaspora.git",
        "      branch: master\n",
    ));
    cfg.push_str(&git_warehouse(
        "kargo-demo",
        "example-tags",
        "http://example.com/jsmith/example.git",
        "      commitSelectionStrategy: SemVer\n",
    ));
    cfg.push_str(&git_warehouse(
        "kargo-demo",
        "diaspora-docs",
        "http://example.com/mike/diaspora",
        "      branch: master\n      includePaths: [docs]\n",
    ));
    let dir = config_dir(&[("c.yaml", &cfg)]);
    let s = Server::start(&[dir.path()], &[]);
    (dir, s)
}

fn send(s: &Server, event: &str, token: Option<&str>, body: &str) -> (u16, Value) {
    let path = s.receiver_path("gitlab-wh-receiver");
    let mut headers = vec![("X-Gitlab-Event", event)];
    if let Some(t) = token {
        headers.push(("X-Gitlab-Token", t));
    }
    s.post(&path, &headers, body)
}

fn last(s: &Server) -> Value {
    s.deliveries().into_iter().next().expect("a delivery")
}

#[test]
fn pushes_merge_requests_and_ignored_events() {
    let (_d, s) = server();

    // The docs' push lists 2 of 4 commits: paths unknown, so the includePaths subscriber is
    // refreshed too (as Kargo).
    let (status, body) = send(&s, "Push Hook", Some(TOKEN), &fixture("gitlab-push.json"));
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 2 warehouse(s)")),
        "{body}"
    );
    let d = last(&s);
    assert_eq!(d["source"], "gitlab");
    assert_eq!(d["eventType"], "Push Hook");
    assert_eq!(
        d["refreshed"],
        json!(["kargo-demo/diaspora", "kargo-demo/diaspora-docs"])
    );

    // Every commit listed, none under docs/: the path subscriber is left out, and says why.
    let mut push: Value = serde_json::from_str(&fixture("gitlab-push.json")).unwrap();
    push["total_commits_count"] = json!(2);
    let (_, body) = send(&s, "Push Hook", Some(TOKEN), &push.to_string());
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
    assert!(last(&s)["explanation"].to_string().contains("includePaths"));

    let (_, body) = send(
        &s,
        "Tag Push Hook",
        Some(TOKEN),
        &fixture("gitlab-tag-push.json"),
    );
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
    assert_eq!(last(&s)["refreshed"], json!(["kargo-demo/example-tags"]));

    // A deleted branch refreshes nothing.
    push["after"] = json!("0".repeat(40));
    let (_, body) = send(&s, "Push Hook", Some(TOKEN), &push.to_string());
    assert_eq!(body["msg"], "refreshed 0 warehouse(s)");

    let (status, body) = send(
        &s,
        "Merge Request Hook",
        Some(TOKEN),
        &fixture("gitlab-merge-request-merged.json"),
    );
    assert_eq!(status, 200);
    // Files mode: no Promotions to refresh; acknowledged and recorded as ignored.
    assert!(
        body["msg"]
            .as_str()
            .unwrap_or_default()
            .ends_with("event ignored: pull requests refresh Kargo Promotions, which only Kargo mode (--source kargo) sees"),
        "{body}"
    );
    assert_eq!(last(&s)["outcome"], "ignored");

    // An opened merge request and a pipeline event: 200, ignored.
    for (event, fx) in [
        ("Merge Request Hook", "gitlab-merge-request-docs.json"),
        ("Pipeline Hook", "gitlab-push.json"),
    ] {
        let (status, _) = send(&s, event, Some(TOKEN), &fixture(fx));
        assert_eq!(status, 200, "{event}");
        let d = last(&s);
        assert_eq!(
            (d["outcome"].as_str(), d["refreshed"].clone()),
            (Some("ignored"), json!([]))
        );
    }
}

#[test]
fn token_and_malformed_bodies() {
    let (_d, s) = server();
    let body = fixture("gitlab-push.json");
    let (status, resp) = send(&s, "Push Hook", None, &body);
    assert_eq!(
        (status, resp["error"].as_str()),
        (401, Some("missing token"))
    );
    let (status, resp) = send(&s, "Push Hook", Some("test-gitlab-token-valu"), &body);
    assert_eq!(
        (status, resp["error"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, resp) = send(&s, "Push Hook", Some(TOKEN), "{nope");
    assert_eq!(status, 400);
    assert!(resp["error"]
        .as_str()
        .unwrap_or_default()
        .starts_with("invalid request body: "));
    let d = s.deliveries();
    assert_eq!(d.len(), 3);
    assert!(d
        .iter()
        .all(|d| d["outcome"] == "rejected" && d["refreshed"] == json!([])));
}
