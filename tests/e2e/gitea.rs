//! Issue 13: the gitea receiver end to end — push, tag push, deletion, pull requests, ignored
//! events, both signature headers, malformed bodies — against the running binary.

use crate::common::*;
use serde_json::{json, Value};

const SECRET: &str = "test-gitea-secret-value";

fn server() -> (tempfile::TempDir, Server) {
    let mut cfg = receiver_config("gitea", "secret", SECRET);
    cfg.push_str(&git_warehouse(
        "kargo-demo",
        "webhooks",
        "http://localhost:3000/gitea/webhooks",
        "      branch: develop\n",
    ));
    cfg.push_str(&git_warehouse(
        "kargo-demo",
        "webhooks-tags",
        "http://localhost:3000/gitea/webhooks.git",
        "      commitSelectionStrategy: SemVer\n",
    ));
    let dir = config_dir(&[("c.yaml", &cfg)]);
    let s = Server::start(&[dir.path()], &[]);
    (dir, s)
}

fn send(s: &Server, event: &str, body: &str) -> (u16, Value) {
    let path = s.receiver_path("gitea-wh-receiver");
    let sig = hub_signature(SECRET, body);
    s.post(
        &path,
        &[("X-Gitea-Event", event), ("X-Hub-Signature-256", &sig)],
        body,
    )
}

fn with_ref(reference: &str, after: &str) -> String {
    let mut v: Value = serde_json::from_str(&fixture("gitea-push-docs.json")).unwrap();
    v["ref"] = json!(reference);
    v["after"] = json!(after);
    v.to_string()
}

fn last(s: &Server) -> Value {
    s.deliveries().into_iter().next().expect("a delivery")
}

#[test]
fn pushes_pull_requests_and_ignored_events() {
    let (_d, s) = server();
    let (status, body) = send(&s, "push", &fixture("gitea-push-docs.json"));
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 1 warehouse(s)")),
        "{body}"
    );
    let d = last(&s);
    assert_eq!(d["source"], "gitea");
    assert_eq!(d["refreshed"], json!(["kargo-demo/webhooks"]));

    let sha = "bffeb74224043ba2feb48d137756c8a9331c449a";
    let (_, body) = send(&s, "push", &with_ref("refs/tags/v2.0.0", sha));
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
    assert_eq!(last(&s)["refreshed"], json!(["kargo-demo/webhooks-tags"]));

    let (_, body) = send(&s, "push", &with_ref("refs/heads/develop", &"0".repeat(40)));
    assert_eq!(body["msg"], "refreshed 0 warehouse(s)");

    let (status, body) = send(
        &s,
        "pull_request",
        &fixture("gitea-pull-request-merged.json"),
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

    let (status, _) = send(&s, "release", "{}");
    assert_eq!(status, 200);
    let d = last(&s);
    assert_eq!(
        (d["outcome"].as_str(), d["refreshed"].clone()),
        (Some("ignored"), json!([]))
    );
}

#[test]
fn signatures_and_malformed_bodies() {
    let (_d, s) = server();
    let path = s.receiver_path("gitea-wh-receiver");
    let body = fixture("gitea-push-docs.json");
    let sig = hub_signature(SECRET, &body);

    // Older Gitea: X-Gitea-Signature alone, bare hex.
    let (status, _) = s.post(
        &path,
        &[
            ("X-Gitea-Event", "push"),
            ("X-Gitea-Signature", &sig["sha256=".len()..]),
        ],
        &body,
    );
    assert_eq!(status, 200);

    let (status, resp) = s.post(&path, &[("X-Gitea-Event", "push")], &body);
    assert_eq!(
        (status, resp["error"].as_str()),
        (401, Some("missing signature"))
    );
    let wrong = hub_signature("nope", &body);
    let (status, resp) = s.post(
        &path,
        &[("X-Gitea-Event", "push"), ("X-Hub-Signature-256", &wrong)],
        &body,
    );
    assert_eq!(
        (status, resp["error"].as_str()),
        (401, Some("unauthorized"))
    );

    let (status, resp) = send(&s, "push", "payload=%7B%7D");
    assert_eq!(status, 400);
    assert!(resp["error"]
        .as_str()
        .unwrap_or_default()
        .starts_with("invalid request body: "));
}
