//! The dockerhub receiver end to end over HTTP: Kargo's URL, pushes (official images under
//! `library/`, pushes by digest), the documented payload, malformed bodies.

use crate::common::*;
use serde_json::json;

fn server() -> (tempfile::TempDir, Server) {
    let config = format!(
        "apiVersion: v1
kind: Secret
metadata: {{name: dh-wh-secret, namespace: kargo-demo}}
stringData:
  secret: test-registry-url-secret
---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {{name: kargo-demo, namespace: kargo-demo}}
spec:
  webhookReceivers:
  - name: dh-wh-receiver
    dockerhub: {{secretRef: {{name: dh-wh-secret}}}}
{}{}",
        image_warehouse("kargo-demo", "nginx", "nginx", "^1.0.0"),
        image_warehouse("kargo-demo", "api", "docker.io/acme/api", "^2.0.0"),
    );
    let dir = config_dir(&[("c.yaml", &config)]);
    let s = Server::start(&[dir.path()], &[]);
    (dir, s)
}

fn push(repo_name: &str, tag: &str) -> String {
    json!({"push_data": {"pushed_at": 1700000000, "pusher": "ci", "tag": tag},
           "repository": {"repo_name": repo_name, "name": repo_name, "namespace": "x"}})
    .to_string()
}

#[test]
fn pushes_refresh_their_subscribers() {
    let (_d, s) = server();
    let path = s.receiver_path("dh-wh-receiver");
    // Kargo's URL: sha256(project + name + secret).
    let out = dockhand(&[
        "receivers",
        "--config",
        _d.path().to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert!(stdout(&out).contains(&path), "{}", stdout(&out));
    assert!(path.starts_with("/dockerhub/"));

    // An official image: repo_name without a namespace is library/nginx, which the Warehouse
    // spells `nginx`.
    let (status, body) = s.post(&path, &[], &push("nginx", "1.27.0"));
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 1 warehouse(s)"))
    );
    let d = s.deliveries().into_iter().next().expect("delivery");
    assert_eq!(d["source"], "dockerhub");
    assert_eq!(d["eventType"], "push");
    assert_eq!(d["refreshed"], json!(["kargo-demo/nginx"]));
    assert_eq!(d["repositories"], json!(["docker.io/library/nginx"]));

    let (_, body) = s.post(&path, &[], &push("acme/api", "2.1.0"));
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
    // A tag the constraint refuses refreshes nothing, and the delivery says why.
    let (_, body) = s.post(&path, &[], &push("acme/api", "1.0.0"));
    assert_eq!(body["msg"], "refreshed 0 warehouse(s)");
    // A push by digest refreshes every subscriber.
    let (_, body) = s.post(&path, &[], &push("acme/api", ""));
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");

    // Docker Hub's documented payload: accepted, nothing subscribes to it.
    let (status, body) = s.post(&path, &[], &fixture("dockerhub-push.json"));
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 0 warehouse(s)"))
    );
}

#[test]
fn malformed_bodies_are_400() {
    let (_d, s) = server();
    let path = s.receiver_path("dh-wh-receiver");
    let (status, body) = s.post(&path, &[], "{\"repository\": {}}");
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid request body: repository.repo_name is missing"),
        "{body}"
    );
    let (status, body) = s.post(&path, &[], "nope");
    assert_eq!(status, 400);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .starts_with("invalid request body: "));
    let d = s.deliveries().into_iter().next().expect("delivery");
    assert_eq!(
        (d["outcome"].as_str(), d["source"].as_str()),
        (Some("rejected"), Some("dockerhub"))
    );
}
