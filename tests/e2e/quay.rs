//! The quay receiver end to end over HTTP: pushes (several tags, by digest), notifications that
//! are not pushes, malformed bodies.

use crate::common::*;
use serde_json::json;

fn server() -> (tempfile::TempDir, Server) {
    let config = format!(
        "apiVersion: v1
kind: Secret
metadata: {{name: q-wh-secret, namespace: kargo-demo}}
stringData:
  secret: test-registry-url-secret
---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {{name: kargo-demo, namespace: kargo-demo}}
spec:
  webhookReceivers:
  - name: q-wh-receiver
    quay: {{secretRef: {{name: q-wh-secret}}}}
{}",
        image_warehouse("kargo-demo", "api", "quay.io/acme/api", "^1.0.0"),
    );
    let dir = config_dir(&[("c.yaml", &config)]);
    let s = Server::start(&[dir.path()], &[]);
    (dir, s)
}

fn notification(extra: serde_json::Value) -> String {
    let mut v = json!({"repository": "acme/api", "namespace": "acme", "name": "api",
                       "docker_url": "quay.io/acme/api",
                       "homepage": "https://quay.io/repository/acme/api"});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    v.to_string()
}

#[test]
fn pushes_refresh_and_other_notifications_are_ignored() {
    let (_d, s) = server();
    let path = s.receiver_path("q-wh-receiver");
    assert!(path.starts_with("/quay/"));

    let (status, body) = s.post(
        &path,
        &[],
        &notification(json!({"updated_tags": ["latest", "1.4.0"]})),
    );
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 1 warehouse(s)"))
    );
    let d = s.deliveries().into_iter().next().expect("delivery");
    assert_eq!(
        (d["source"].as_str(), d["eventType"].as_str()),
        (Some("quay"), Some("repo_push"))
    );
    assert_eq!(d["qualifiers"], json!(["latest", "1.4.0"]));

    let (_, body) = s.post(
        &path,
        &[],
        &notification(json!({"updated_tags": ["0.9.0"]})),
    );
    assert_eq!(body["msg"], "refreshed 0 warehouse(s)");
    let (_, body) = s.post(&path, &[], &notification(json!({"updated_tags": []})));
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");

    // A build notification: 200, recorded as ignored, nothing refreshed.
    let (status, _) = s.post(
        &path,
        &[],
        &notification(json!({"build_id": "b1", "docker_tags": ["1.5.0"]})),
    );
    assert_eq!(status, 200);
    let d = s.deliveries().into_iter().next().expect("delivery");
    assert_eq!(
        (d["outcome"].as_str(), d["eventType"].as_str()),
        (Some("ignored"), Some("build"))
    );
    assert_eq!(d["refreshed"], json!([]));

    // The documented push (another repository): accepted.
    let (status, body) = s.post(&path, &[], &fixture("quay-repo-push.json"));
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 0 warehouse(s)"))
    );

    let (status, body) = s.post(&path, &[], "{\"updated_tags\": [\"1\"]}");
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid request body: docker_url is missing"),
        "{body}"
    );
}
