//! The ecr receiver end to end over HTTP: EventBridge deliveries of ECR Image Action events
//! (the documented push, by digest, a delete), the Authorization check, malformed bodies.

use crate::common::*;
use serde_json::{json, Value};

const AUTH: (&str, &str) = ("Authorization", "Bearer test-ecr-token");
const REPO: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com/my-repository-name";

fn server() -> (tempfile::TempDir, Server) {
    let config = format!(
        "apiVersion: v1
kind: Secret
metadata: {{name: ecr-wh-secret, namespace: kargo-demo}}
stringData:
  secret: test-registry-url-secret
  auth-header: {}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {{name: kargo-demo, namespace: kargo-demo}}
spec:
  webhookReceivers:
  - name: ecr-wh-receiver
    ecr: {{secretRef: {{name: ecr-wh-secret}}}}
{}",
        AUTH.1,
        image_warehouse("kargo-demo", "app", REPO, "^1.0.0"),
    );
    let dir = config_dir(&[("c.yaml", &config)]);
    let s = Server::start(&[dir.path()], &[]);
    (dir, s)
}

fn push(id: &str, tag: Option<&str>) -> String {
    let mut v: Value = serde_json::from_str(&fixture("ecr-image-action-push.json")).unwrap();
    v["id"] = json!(id);
    match tag {
        Some(t) => v["detail"]["image-tag"] = json!(t),
        None => {
            v["detail"].as_object_mut().unwrap().remove("image-tag");
        }
    }
    v.to_string()
}

#[test]
fn eventbridge_deliveries() {
    let (_d, s) = server();
    let path = s.receiver_path("ecr-wh-receiver");
    assert!(path.starts_with("/ecr/"));

    let ua = ("User-Agent", "Amazon/EventBridge/ApiDestinations");
    let (status, body) = s.post(&path, &[AUTH, ua], &push("e1", Some("1.3.0")));
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 1 warehouse(s)")),
        "{body}"
    );
    let d = s.deliveries().into_iter().next().expect("delivery");
    assert_eq!(
        (d["source"].as_str(), d["eventType"].as_str()),
        (Some("ecr"), Some("ECR Image Action"))
    );
    assert_eq!(d["repositories"], json!([REPO]));
    assert_eq!(d["providerId"], "e1");

    // The documented push (tag latest): not SemVer, nothing refreshed, explained.
    let (_, body) = s.post(&path, &[AUTH], &fixture("ecr-image-action-push.json"));
    assert_eq!(body["msg"], "refreshed 0 warehouse(s)");
    // By digest: every subscriber.
    let (_, body) = s.post(&path, &[AUTH], &push("e2", None));
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
    // A delete: 200, ignored.
    let (status, _) = s.post(&path, &[AUTH], &fixture("ecr-image-action-delete.json"));
    assert_eq!(status, 200);
    assert_eq!(s.deliveries()[0]["outcome"], "ignored");

    let (status, body) = s.post(&path, &[], &push("e3", Some("1.3.0")));
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("missing authorization"))
    );
    let (status, body) = s.post(
        &path,
        &[("Authorization", "Bearer nope")],
        &push("e3", Some("1.3.0")),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );

    // An input transformer that sent only the detail.
    let (status, body) = s.post(&path, &[AUTH], "{\"repository-name\": \"x\"}");
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid request body: detail-type is missing"),
        "{body}"
    );
}
