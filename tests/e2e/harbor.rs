//! Issue 5: the harbor receiver end to end — both payload formats, every artifact of a push,
//! Authorization compared exactly, malformed input, registry aliases.

use crate::common::*;
use serde_json::{json, Value};

const AUTH: (&str, &str) = ("Authorization", "Bearer test-harbor-token-value");

fn warehouses() -> String {
    let mut c = String::new();
    for (n, repo, constraint) in [
        ("debian", "hub.harbor.com/test-webhook/debian", "^1.0.0"),
        ("alpine", "localhost/harbor/alpine", "^1.0.0"),
        ("other", "hub.harbor.com/test-webhook/other", "^1.0.0"),
        (
            "internal",
            "registry.internal:5000/test-webhook/debian",
            "^1.0.0",
        ),
    ] {
        c.push_str(&image_warehouse("kargo-demo", n, repo, constraint));
    }
    c.push_str(
        "---\napiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata: {name: debian-chart, namespace: kargo-demo}\nspec:\n  subscriptions:\n  - chart: {repoURL: 'oci://hub.harbor.com/test-webhook/debian', semverConstraint: '>=2.0.0'}\n",
    );
    c
}

fn server(extra: &[&str]) -> (tempfile::TempDir, Server) {
    let dir = config_dir(&[("c.yaml", BASE_CONFIG), ("w.yaml", &warehouses())]);
    let s = Server::start(&[dir.path()], extra);
    (dir, s)
}

fn push(resources: &[(&str, &str)]) -> String {
    let res: Vec<Value> = resources
        .iter()
        .map(|(tag, url)| json!({"digest": "sha256:8a9e9863dbb6e10edb5adfe917c00da84e1700fa76e7ed02476aa6e6fb8ee0d8", "tag": tag, "resource_url": url}))
        .collect();
    json!({
        "type": "PUSH_ARTIFACT",
        "occur_at": 1586922308,
        "operator": "admin",
        "event_data": {"resources": res, "repository": {"name": "debian", "namespace": "test-webhook", "repo_full_name": "test-webhook/debian", "repo_type": "private"}}
    })
    .to_string()
}

fn last(s: &Server) -> Value {
    s.deliveries().into_iter().next().expect("a delivery")
}

#[test]
fn default_format_pushes() {
    let (_d, s) = server(&[]);
    let path = s.receiver_path("harbor-wh-receiver");

    // Two tags of one repository: the SemVer subscriber is refreshed once.
    let (status, body) = s.post(
        &path,
        &[AUTH],
        &push(&[
            ("1.0.0", "hub.harbor.com/test-webhook/debian:1.0.0"),
            ("1.0", "hub.harbor.com/test-webhook/debian:1.0"),
        ]),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
    let d = last(&s);
    assert_eq!(d["source"], "harbor");
    assert_eq!(d["eventType"], "PUSH_ARTIFACT");
    assert_eq!(d["refreshed"], json!(["kargo-demo/debian"]));
    // The chart subscriber of the same OCI repository says why not.
    assert!(d["explanation"].to_string().contains("debian-chart"), "{d}");

    // A push listing two repositories refreshes both.
    let (_, body) = s.post(
        &path,
        &[AUTH],
        &push(&[
            ("1.2.0", "hub.harbor.com/test-webhook/debian:1.2.0"),
            ("1.2.0", "hub.harbor.com/test-webhook/other:1.2.0"),
        ]),
    );
    assert_eq!(body["msg"], "refreshed 2 warehouse(s)");

    // A tag that fails the constraint refreshes nothing and says which rule.
    let (_, body) = s.post(
        &path,
        &[AUTH],
        &push(&[("0.1.0", "hub.harbor.com/test-webhook/debian:0.1.0")]),
    );
    assert_eq!(body["msg"], "refreshed 0 warehouse(s)");
    let why = last(&s)["explanation"].to_string();
    assert!(why.contains("0.1.0") && why.contains("^1.0.0"), "{why}");

    // A digest-only push (the docs' replication example) refreshes every subscriber.
    let (_, body) = s.post(&path, &[AUTH], &fixture("harbor-push-artifact-digest.json"));
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
    assert_eq!(last(&s)["refreshed"], json!(["kargo-demo/alpine"]));

    // The docs' tag push ("latest" is not SemVer): accepted, nothing refreshed, explained.
    let (status, body) = s.post(&path, &[AUTH], &fixture("harbor-push-artifact.json"));
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 0 warehouse(s)"))
    );

    // Harbor 1.x pushImage is a push.
    let (status, _) = s.post(&path, &[AUTH], &fixture("harbor-legacy-v1-pushimage.json"));
    assert_eq!(status, 200);
    assert_eq!(last(&s)["eventType"], "pushImage");
    assert_eq!(last(&s)["outcome"], "unmatched");

    // Empty resources: 200, refreshed 0.
    let (status, body) = s.post(&path, &[AUTH], &push(&[]));
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 0 warehouse(s)"))
    );
}

#[test]
fn other_event_types_and_cloudevents() {
    let (_d, s) = server(&[]);
    let path = s.receiver_path("harbor-wh-receiver");
    for (file, kind) in [
        ("harbor-pull-artifact.json", "PULL_ARTIFACT"),
        ("harbor-delete-artifact.json", "DELETE_ARTIFACT"),
        ("harbor-scanning-completed.json", "SCANNING_COMPLETED"),
        ("harbor-scanning-failed.json", "SCANNING_FAILED"),
        ("harbor-scanning-stopped.json", "SCANNING_STOPPED"),
        ("harbor-quota-exceed.json", "QUOTA_EXCEED"),
        ("harbor-quota-warning.json", "QUOTA_WARNING"),
        ("harbor-replication.json", "REPLICATION"),
        ("harbor-tag-retention.json", "TAG_RETENTION"),
    ] {
        let (status, body) = s.post(&path, &[AUTH], &fixture(file));
        assert_eq!(status, 200, "{file}: {body}");
        let d = last(&s);
        assert_eq!(
            (d["eventType"].as_str(), d["outcome"].as_str()),
            (Some(kind), Some("ignored")),
            "{file}"
        );
        assert_eq!(d["refreshed"], json!([]));
    }

    // CloudEvents structured mode: a push by digest refreshes the alpine subscriber.
    let ce = ("Content-Type", "application/cloudevents+json");
    let (status, body) = s.post(&path, &[AUTH, ce], &fixture("harbor-cloudevents-push.json"));
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 1 warehouse(s)")),
        "{body}"
    );
    let d = last(&s);
    assert_eq!(d["eventType"], "harbor.artifact.pushed");
    assert_eq!(d["providerId"], "66e18103-09c1-41f6-982f-37df223f3eeb");
    for file in [
        "harbor-cloudevents-pull.json",
        "harbor-cloudevents-delete.json",
        "harbor-cloudevents-scan-completed.json",
    ] {
        let (status, _) = s.post(&path, &[AUTH, ce], &fixture(file));
        assert_eq!(status, 200, "{file}");
        assert_eq!(last(&s)["outcome"], "ignored", "{file}");
    }

    // Binary mode: attributes in ce-* headers, the body is the data.
    let structured: Value = serde_json::from_str(&fixture("harbor-cloudevents-push.json")).unwrap();
    let (status, body) = s.post(
        &path,
        &[
            AUTH,
            ("ce-specversion", "1.0"),
            ("ce-type", "harbor.artifact.pushed"),
            ("ce-id", "bin-1"),
            ("ce-source", "/projects/2/webhook/policies/15"),
        ],
        &structured["data"].to_string(),
    );
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 1 warehouse(s)")),
        "{body}"
    );
    assert_eq!(last(&s)["providerId"], "bin-1");
}

#[test]
fn authorization_is_exact() {
    let (_d, s) = server(&[]);
    let path = s.receiver_path("harbor-wh-receiver");
    let body = push(&[("1.0.0", "hub.harbor.com/test-webhook/debian:1.0.0")]);
    type Headers<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Headers, u16, &str); 4] = [
        (&[], 401, "missing authorization"),
        (
            &[("Authorization", "Bearer wrong-value")],
            401,
            "unauthorized",
        ),
        (
            &[("Authorization", "bearer test-harbor-token-value")],
            401,
            "unauthorized",
        ),
        (
            &[("Authorization", "Bearer TEST-HARBOR-TOKEN-VALUE")],
            401,
            "unauthorized",
        ),
    ];
    for (headers, status, msg) in cases {
        let (got, resp) = s.post(&path, headers, &body);
        assert_eq!(
            (got, resp["error"].as_str()),
            (status, Some(msg)),
            "{headers:?}"
        );
    }
    let (got, _) = s.post(&path, &[AUTH], &body);
    assert_eq!(got, 200);
    let list = s.deliveries();
    assert_eq!(list.len(), 5);
    for d in &list {
        let text = d.to_string();
        assert!(
            !text.contains("wrong-value") && !text.contains("TEST-HARBOR"),
            "{text}"
        );
    }
    // The right secret for another receiver (the azure one) is not a harbor credential.
    let azure_path = s.receiver_path("azure-wh-receiver");
    assert_ne!(azure_path, path);
    let (got, _) = s.post(
        &path,
        &[("Authorization", "test-azure-secret-value")],
        &body,
    );
    assert_eq!(got, 401);
}

#[test]
fn scheme_word_is_whatever_the_secret_says() {
    let cfg = BASE_CONFIG.replace(
        "auth-header: Bearer test-harbor-token-value",
        "auth-header: Token test-harbor-token-value",
    );
    let dir = config_dir(&[("c.yaml", &cfg), ("w.yaml", &warehouses())]);
    let s = Server::start(&[dir.path()], &[]);
    let path = s.receiver_path("harbor-wh-receiver");
    let body = push(&[("1.0.0", "hub.harbor.com/test-webhook/debian:1.0.0")]);
    let (got, _) = s.post(&path, &[AUTH], &body);
    assert_eq!(got, 401);
    let (got, resp) = s.post(
        &path,
        &[("Authorization", "Token test-harbor-token-value")],
        &body,
    );
    assert_eq!(
        (got, resp["msg"].as_str()),
        (200, Some("refreshed 1 warehouse(s)"))
    );
}

#[test]
fn malformed_bodies() {
    let (_d, s) = server(&[]);
    let path = s.receiver_path("harbor-wh-receiver");
    let cases = [
        ("not json", "<xml/>".to_string(), ""),
        ("wrong type", json!({"type": 5}).to_string(), "type"),
        (
            "resources not an array",
            json!({"type": "PUSH_ARTIFACT", "event_data": {"resources": {"a": 1}}}).to_string(),
            "resources",
        ),
        (
            "not a reference",
            push(&[("1.0.0", "not a reference")]),
            "resource_url",
        ),
    ];
    for (what, body, needle) in &cases {
        let (status, resp) = s.post(&path, &[AUTH], body);
        assert_eq!(status, 400, "{what}: {resp}");
        let msg = resp["error"].as_str().unwrap_or_default();
        assert!(!msg.is_empty() && msg.contains(needle), "{what}: {msg}");
        // Kargo's words first (issue 17 item 17), then what was wrong.
        assert!(msg.starts_with("invalid request body: "), "{what}: {msg}");
    }
    let d = s.deliveries();
    assert_eq!(d.len(), cases.len());
    assert!(d
        .iter()
        .all(|d| d["status"] == 400 && d["refreshed"] == json!([])));
    let (_, resp) = s.post(
        &path,
        &[AUTH],
        &push(&[("1.0.0", "hub.harbor.com/test-webhook/debian:1.0.0")]),
    );
    assert_eq!(resp["msg"], "refreshed 1 warehouse(s)");
}

#[test]
fn registry_alias_rewrites_the_payload_host() {
    let (_d, s) = server(&["--registry-alias", "hub.harbor.com=registry.internal:5000"]);
    let path = s.receiver_path("harbor-wh-receiver");
    let (_, body) = s.post(
        &path,
        &[AUTH],
        &push(&[("1.0.0", "HUB.harbor.com/test-webhook/debian:1.0.0")]),
    );
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
    assert_eq!(last(&s)["refreshed"], json!(["kargo-demo/internal"]));

    let out = dockhand(&[
        "serve",
        "--config",
        "/nonexistent",
        "--registry-alias",
        "nohost",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("FROM=TO"), "{}", stderr(&out));
}
