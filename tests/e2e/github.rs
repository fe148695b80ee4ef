//! Issue 13: the github receiver end to end — pushes (branch and tag, by SSH or HTTPS
//! subscription), GHCR packages, pings, pull requests, ignored events, signatures, malformed
//! bodies — against the running binary.

use crate::common::*;
use serde_json::{json, Value};

const SECRET: &str = "test-github-secret-value";

fn server() -> (tempfile::TempDir, Server) {
    let mut cfg = receiver_config("github", "secret", SECRET);
    // Subscribed by SSH: a push names the HTTPS clone URL, and it is the same repository.
    cfg.push_str(&git_warehouse(
        "kargo-demo",
        "app",
        "git@github.com:example/app.git",
        "      branch: main\n",
    ));
    cfg.push_str(&git_warehouse(
        "kargo-demo",
        "app-release",
        "https://github.com/example/app",
        "      commitSelectionStrategy: SemVer\n      semverConstraint: ^1.0.0\n",
    ));
    cfg.push_str(&image_warehouse(
        "kargo-demo",
        "ghcr",
        "ghcr.io/example/app",
        "^1.0.0",
    ));
    let dir = config_dir(&[("c.yaml", &cfg)]);
    let s = Server::start(&[dir.path()], &[]);
    (dir, s)
}

fn send(s: &Server, event: &str, body: &str) -> (u16, Value) {
    let path = s.receiver_path("github-wh-receiver");
    let sig = hub_signature(SECRET, body);
    s.post(
        &path,
        &[("X-GitHub-Event", event), ("X-Hub-Signature-256", &sig)],
        body,
    )
}

fn push(reference: &str, after: &str, deleted: bool) -> String {
    json!({
        "ref": reference, "before": "0000000000000000000000000000000000000000",
        "after": after, "deleted": deleted,
        "repository": {"clone_url": "https://github.com/example/app.git",
                       "ssh_url": "git@github.com:example/app.git", "default_branch": "main"},
        "commits": [], "head_commit": null
    })
    .to_string()
}

fn last(s: &Server) -> Value {
    s.deliveries().into_iter().next().expect("a delivery")
}

const SHA: &str = "63738bb582c8b540af7bcfc18f87c575c3ed66e0";

#[test]
fn pushes_packages_pings_and_pull_requests() {
    let (_d, s) = server();

    let (status, body) = send(&s, "ping", &fixture("github-ping.json"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["msg"],
        "ping event received, webhook is configured correctly"
    );
    assert_eq!(last(&s)["outcome"], "ping");

    // A branch push refreshes the branch subscriber (subscribed by SSH URL), not the tag one.
    let (status, body) = send(&s, "push", &push("refs/heads/main", SHA, false));
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 1 warehouse(s)"))
    );
    let d = last(&s);
    assert_eq!(d["source"], "github");
    assert_eq!(d["eventType"], "push");
    assert_eq!(d["refreshed"], json!(["kargo-demo/app"]));

    // A tag push refreshes the SemVer subscriber only.
    let (_, body) = send(&s, "push", &push("refs/tags/v1.2.0", SHA, false));
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
    assert_eq!(last(&s)["refreshed"], json!(["kargo-demo/app-release"]));

    // A deleted tag refreshes nothing, and the delivery says why.
    let zeros = "0".repeat(40);
    let (status, body) = send(&s, "push", &push("refs/tags/v1.2.0", &zeros, true));
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 0 warehouse(s)"))
    );
    let d = last(&s);
    assert_eq!(d["outcome"], "unmatched");
    assert!(d["explanation"].to_string().contains("deleted"), "{d}");

    // GHCR: a tagged image refreshes the image subscriber; untagged (by digest) too.
    let package = |tag: &str| {
        json!({"action": "published", "package": {"package_type": "CONTAINER",
            "package_version": {"package_url": format!("ghcr.io/example/app:{tag}"),
                "container_metadata": {"tag": {"name": tag, "digest": "sha256:ab"},
                    "manifest": {"media_type": "application/vnd.oci.image.manifest.v1+json",
                        "config": {"media_type": "application/vnd.oci.image.config.v1+json"}}}}}})
        .to_string()
    };
    let (_, body) = send(&s, "package", &package("1.4.0"));
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
    assert_eq!(last(&s)["refreshed"], json!(["kargo-demo/ghcr"]));
    let (_, body) = send(&s, "package", &package("latest"));
    assert_eq!(body["msg"], "refreshed 0 warehouse(s)");
    let (_, body) = send(&s, "package", &package(""));
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");

    // A merged pull request: recorded as ignored in files mode, with its URL.
    let (status, body) = send(
        &s,
        "pull_request",
        &fixture("github-pull-request-closed-merged-captured.json"),
    );
    assert_eq!(status, 200, "{body}");
    // Files mode: no Promotions to refresh; acknowledged and recorded as ignored.
    assert!(
        body["msg"]
            .as_str()
            .unwrap_or_default()
            .ends_with("event ignored: pull requests refresh Kargo Promotions, which only Kargo mode (--source kargo) sees"),
        "{body}"
    );
    let d = last(&s);
    assert_eq!(d["outcome"], "ignored");
    assert_eq!(
        d["repositories"],
        json!(["https://github.com/ailisp/gcbapp-buildconfig-example/pull/3"])
    );

    // An event we do not act on: 200, recorded as ignored, nothing refreshed.
    let (status, body) = send(&s, "issues", r#"{"action":"opened"}"#);
    assert_eq!(status, 200, "{body}");
    let d = last(&s);
    assert_eq!(
        (d["outcome"].as_str(), d["refreshed"].clone()),
        (Some("ignored"), json!([]))
    );
}

#[test]
fn signatures_and_malformed_bodies() {
    let (_d, s) = server();
    let path = s.receiver_path("github-wh-receiver");
    let body = push("refs/heads/main", SHA, false);

    let (status, resp) = s.post(&path, &[("X-GitHub-Event", "push")], &body);
    assert_eq!(
        (status, resp["error"].as_str()),
        (401, Some("missing signature"))
    );
    let wrong = hub_signature("not-the-secret", &body);
    let (status, resp) = s.post(
        &path,
        &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &wrong)],
        &body,
    );
    assert_eq!(
        (status, resp["error"].as_str()),
        (401, Some("unauthorized"))
    );
    // Signed for another body.
    let other = hub_signature(SECRET, "{}");
    let (status, _) = s.post(
        &path,
        &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &other)],
        &body,
    );
    assert_eq!(status, 401);

    for (what, body) in [("not json", "{nope"), ("no ref", r#"{"repository":{}}"#)] {
        let (status, resp) = send(&s, "push", body);
        assert_eq!(status, 400, "{what}: {resp}");
        let msg = resp["error"].as_str().unwrap_or_default();
        assert!(msg.starts_with("invalid request body: "), "{what}: {msg}");
    }
    let d = s.deliveries();
    assert_eq!(d.len(), 5);
    assert!(d
        .iter()
        .all(|d| d["outcome"] == "rejected" && d["refreshed"] == json!([])));
    assert_eq!(d.iter().filter(|d| d["status"] == 401).count(), 3, "{d:?}");
}
