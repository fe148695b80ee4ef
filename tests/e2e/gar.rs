//! The gar receiver end to end over HTTP: a Pub/Sub push of an Artifact Registry INSERT (with
//! a tag, by digest, unwrapped), a DELETE, malformed bodies, and redeliveries.

use crate::common::*;
use base64::Engine as _;
use serde_json::{json, Value};

const REPO: &str = "us-east1-docker.pkg.dev/my-project/my-repo/hello-world";

fn server() -> (tempfile::TempDir, Server) {
    let config = format!(
        "apiVersion: v1
kind: Secret
metadata: {{name: gar-wh-secret, namespace: kargo-demo}}
stringData:
  secret: test-registry-url-secret
---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {{name: kargo-demo, namespace: kargo-demo}}
spec:
  webhookReceivers:
  - name: gar-wh-receiver
    gar: {{secretRef: {{name: gar-wh-secret}}}}
{}",
        image_warehouse("kargo-demo", "hello", REPO, "^1.0.0"),
    );
    let dir = config_dir(&[("c.yaml", &config)]);
    let s = Server::start(&[dir.path()], &[]);
    (dir, s)
}

fn envelope(id: &str, data: Value) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(data.to_string());
    json!({"message": {"data": encoded, "messageId": id, "publishTime": "2026-11-26T00:00:00Z"},
           "subscription": "projects/my-project/subscriptions/dockhand"})
    .to_string()
}

#[test]
fn pubsub_pushes() {
    let (_d, s) = server();
    let path = s.receiver_path("gar-wh-receiver");
    assert!(path.starts_with("/gar/"));

    // The documented notification in a push envelope: tag 1.1 is not SemVer, so the
    // subscriber says no, and the delivery says why.
    let (status, body) = s.post(&path, &[], &fixture("gar-pubsub-push-insert.json"));
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 0 warehouse(s)")),
        "{body}"
    );
    let d = s.deliveries().into_iter().next().expect("delivery");
    assert_eq!(
        (d["source"].as_str(), d["eventType"].as_str()),
        (Some("gar"), Some("INSERT"))
    );
    assert_eq!(d["providerId"], "2070443601311540");
    assert_eq!(d["repositories"], json!([REPO]));
    assert_eq!(d["qualifiers"], json!(["1.1"]));
    let (_, body) = s.post(
        &path,
        &[],
        &envelope(
            "1",
            json!({"action": "INSERT", "tag": format!("{REPO}:1.2.0")}),
        ),
    );
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");

    // Pub/Sub redelivers the same message id: a duplicate, nothing refreshed again.
    let (status, body) = s.post(&path, &[], &fixture("gar-pubsub-push-insert.json"));
    assert_eq!(status, 200);
    assert_eq!(s.deliveries()[0]["outcome"], "duplicate", "{body}");

    // By digest: every subscriber. Unwrapped payload: the notification itself.
    let (_, body) = s.post(
        &path,
        &[],
        &envelope(
            "2",
            json!({"action": "INSERT", "digest": format!("{REPO}@sha256:00")}),
        ),
    );
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
    let unwrapped = json!({"action": "INSERT", "tag": format!("{REPO}:1.3.0")});
    let (_, body) = s.post(&path, &[], &unwrapped.to_string());
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");

    let (status, _) = s.post(
        &path,
        &[],
        &envelope(
            "3",
            json!({"action": "DELETE", "tag": format!("{REPO}:1.1")}),
        ),
    );
    assert_eq!(status, 200);
    assert_eq!(s.deliveries()[0]["outcome"], "ignored");

    let (status, body) = s.post(&path, &[], &json!({"message": {"data": "@@"}}).to_string());
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid request body: message.data is not base64"),
        "{body}"
    );
}
