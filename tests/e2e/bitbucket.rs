//! Issue 13: the bitbucket receiver end to end — Bitbucket Cloud and Server pushes, tags,
//! deletions, pull requests, the Server's diagnostics ping, ignored events, signatures (sha256
//! and sha1), malformed bodies — against the running binary.

use crate::common::*;
use serde_json::{json, Value};

const SECRET: &str = "test-bitbucket-secret-value";

fn server() -> (tempfile::TempDir, Server) {
    let mut cfg = receiver_config("bitbucket", "secret", SECRET);
    cfg.push_str(&git_warehouse(
        "kargo-demo",
        "firmware",
        "git@bitbucket.org:arolgroup/j0664-ns2-firmware.git",
        "      branch: main\n",
    ));
    // Subscribed by the Server's SSH clone URL (port 7999): the push's other clone link.
    cfg.push_str(&git_warehouse(
        "kargo-demo",
        "server-app",
        "ssh://git@bb.example.com:7999/proj/app.git",
        "      branch: main\n",
    ));
    cfg.push_str(&git_warehouse(
        "kargo-demo",
        "server-tags",
        "https://bb.example.com/scm/proj/app.git",
        "      commitSelectionStrategy: SemVer\n",
    ));
    let dir = config_dir(&[("c.yaml", &cfg)]);
    let s = Server::start(&[dir.path()], &[]);
    (dir, s)
}

fn send(s: &Server, event: &str, body: &str) -> (u16, Value) {
    let path = s.receiver_path("bitbucket-wh-receiver");
    let sig = hub_signature(SECRET, body);
    s.post(
        &path,
        &[("X-Event-Key", event), ("X-Hub-Signature", &sig)],
        body,
    )
}

fn refs_changed(id: &str, kind: &str, change: &str) -> String {
    json!({
        "eventKey": "repo:refs_changed",
        "repository": {"slug": "app", "links": {"clone": [
            {"href": "ssh://git@bb.example.com:7999/proj/app.git", "name": "ssh"},
            {"href": "https://bb.example.com/scm/proj/app.git", "name": "http"}]}},
        "changes": [{"ref": {"id": id, "displayId": id, "type": kind},
                     "refId": id, "fromHash": "0000000000000000000000000000000000000000",
                     "toHash": if change == "DELETE" { "0000000000000000000000000000000000000000" } else { "823b2230a56056231c9425d63758fa87078a66b4" },
                     "type": change}]
    })
    .to_string()
}

fn last(s: &Server) -> Value {
    s.deliveries().into_iter().next().expect("a delivery")
}

#[test]
fn cloud_and_server_events() {
    let (_d, s) = server();

    let (status, body) = send(
        &s,
        "repo:push",
        &fixture("bitbucket-cloud-repo-push-captured.json"),
    );
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 1 warehouse(s)")),
        "{body}"
    );
    let d = last(&s);
    assert_eq!(d["source"], "bitbucket-cloud");
    assert_eq!(d["refreshed"], json!(["kargo-demo/firmware"]));

    let (_, body) = send(
        &s,
        "repo:push",
        &fixture("bitbucket-cloud-repo-push-branch-deleted-captured.json"),
    );
    assert_eq!(body["msg"], "refreshed 0 warehouse(s)");

    // Server: a bare branch name (akuity/kargo#6109) on the SSH-subscribed Warehouse.
    let (_, body) = send(
        &s,
        "repo:refs_changed",
        &refs_changed("main", "BRANCH", "UPDATE"),
    );
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
    let d = last(&s);
    assert_eq!(d["source"], "bitbucket-server");
    assert_eq!(d["refreshed"], json!(["kargo-demo/server-app"]));

    let (_, body) = send(
        &s,
        "repo:refs_changed",
        &refs_changed("refs/tags/v1.1.0", "TAG", "ADD"),
    );
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
    assert_eq!(last(&s)["refreshed"], json!(["kargo-demo/server-tags"]));

    let (_, body) = send(
        &s,
        "repo:refs_changed",
        &refs_changed("refs/heads/main", "BRANCH", "DELETE"),
    );
    assert_eq!(body["msg"], "refreshed 0 warehouse(s)");

    let (status, body) = send(
        &s,
        "diagnostics:ping",
        &fixture("bitbucket-server-diagnostics-ping.json"),
    );
    assert_eq!(status, 200);
    assert_eq!(
        body["msg"],
        "ping event received, webhook is configured correctly"
    );

    for (event, fx) in [
        (
            "pullrequest:fulfilled",
            "bitbucket-cloud-pullrequest-fulfilled-captured.json",
        ),
        ("pr:merged", "bitbucket-server-pr-merged.json"),
    ] {
        let (status, body) = send(&s, event, &fixture(fx));
        assert_eq!(status, 200, "{event}: {body}");
        // Files mode: no Promotions to refresh; acknowledged and recorded as ignored.
        assert!(
        body["msg"]
            .as_str()
            .unwrap_or_default()
            .ends_with("event ignored: pull requests refresh Kargo Promotions, which only Kargo mode (--source kargo) sees"),
        "{body}"
    );
    }

    let (status, _) = send(&s, "repo:fork", "{}");
    assert_eq!(status, 200);
    let d = last(&s);
    assert_eq!(
        (d["outcome"].as_str(), d["refreshed"].clone()),
        (Some("ignored"), json!([]))
    );
}

#[test]
fn signatures_and_malformed_bodies() {
    use hmac::{Hmac, Mac};
    let (_d, s) = server();
    let path = s.receiver_path("bitbucket-wh-receiver");
    let body = fixture("bitbucket-cloud-repo-push-captured.json");

    // sha1= is accepted too.
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let sha1 = format!("sha1={hex}");
    let (status, _) = s.post(
        &path,
        &[("X-Event-Key", "repo:push"), ("X-Hub-Signature", &sha1)],
        &body,
    );
    assert_eq!(status, 200);

    let (status, resp) = s.post(&path, &[("X-Event-Key", "repo:push")], &body);
    assert_eq!(
        (status, resp["error"].as_str()),
        (401, Some("missing signature"))
    );
    let wrong = hub_signature("nope", &body);
    let (status, resp) = s.post(
        &path,
        &[("X-Event-Key", "repo:push"), ("X-Hub-Signature", &wrong)],
        &body,
    );
    assert_eq!(
        (status, resp["error"].as_str()),
        (401, Some("unauthorized"))
    );

    let (status, resp) = send(&s, "repo:push", "[1]");
    assert_eq!(status, 400);
    assert!(resp["error"]
        .as_str()
        .unwrap_or_default()
        .starts_with("invalid request body: "));
}
