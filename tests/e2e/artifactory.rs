//! The artifactory receiver end to end over HTTP: signed tag pushes (the host from
//! `jpd_origin`, from the Secret's `registry-host`, Kargo's `virtualRepoName`), the signature
//! refusals, events that are not tag pushes, malformed bodies.

use crate::common::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

const TOKEN: &str = "test-artifactory-token";

fn server() -> (tempfile::TempDir, Server) {
    let config = format!(
        "apiVersion: v1
kind: Secret
metadata: {{name: af-secret, namespace: kargo-demo}}
stringData:
  secret-token: {TOKEN}
---
apiVersion: v1
kind: Secret
metadata: {{name: af-proxy-secret, namespace: kargo-demo}}
stringData:
  secret-token: {TOKEN}
  registry-host: docker.acme.example
---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {{name: kargo-demo, namespace: kargo-demo}}
spec:
  webhookReceivers:
  - name: af-receiver
    artifactory: {{secretRef: {{name: af-secret}}}}
  - name: af-virtual-receiver
    artifactory:
      secretRef: {{name: af-secret}}
      virtualRepoName: proj-virtual
  - name: af-proxy-receiver
    artifactory: {{secretRef: {{name: af-proxy-secret}}}}
{}{}{}",
        image_warehouse(
            "kargo-demo",
            "local",
            "acme.jfrog.io/docker-local/team/app",
            "^1.0.0"
        ),
        image_warehouse(
            "kargo-demo",
            "virtual",
            "acme.jfrog.io/proj-virtual/team/app",
            "^1.0.0"
        ),
        image_warehouse(
            "kargo-demo",
            "proxied",
            "docker.acme.example/docker-local/team/app",
            "^1.0.0"
        ),
    );
    let dir = config_dir(&[("c.yaml", &config)]);
    let s = Server::start(&[dir.path()], &[]);
    (dir, s)
}

fn pushed(tag: &str, extra: Value) -> String {
    let mut v = json!({
        "domain": "docker", "event_type": "pushed",
        "data": {"repo_key": "docker-local", "event_type": "pushed",
                 "path": format!("team/app/{tag}/manifest.json"), "name": "manifest.json",
                 "sha256": "35c4a2c15539c6c1e4e5fa4e554dac323ad0107d8eb5c582d6ff386b383b7dce",
                 "size": 1206, "image_name": "team/app", "tag": tag, "image_type": "docker"},
        "subscription_key": "dockhand", "jpd_origin": "https://acme.jfrog.io",
        "source": "jfrog/ci@acme.example"});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v.to_string()
}

fn sign(body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(TOKEN.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn post_signed(s: &Server, receiver: &str, body: &str) -> (u16, Value) {
    let sig = sign(body);
    s.post(
        &s.receiver_path(receiver),
        &[("X-Jfrog-Event-Auth", sig.as_str())],
        body,
    )
}

#[test]
fn signed_pushes_refresh_by_origin_virtual_repository_and_registry_host() {
    let (_d, s) = server();
    for (receiver, warehouse) in [
        ("af-receiver", "kargo-demo/local"),
        ("af-virtual-receiver", "kargo-demo/virtual"),
        ("af-proxy-receiver", "kargo-demo/proxied"),
    ] {
        let (status, body) = post_signed(&s, receiver, &pushed("1.2.0", json!({})));
        assert_eq!(
            (status, body["msg"].as_str()),
            (200, Some("refreshed 1 warehouse(s)")),
            "{receiver}: {body}"
        );
        let d = s.deliveries().into_iter().next().expect("delivery");
        assert_eq!(d["refreshed"], json!([warehouse]), "{d}");
        assert_eq!(
            (d["source"].as_str(), d["eventType"].as_str()),
            (Some("artifactory"), Some("docker:pushed"))
        );
    }
    // keel's envelope around JFrog's documented data, origin example.jfrog.io: accepted.
    let (status, body) = post_signed(&s, "af-receiver", &fixture("jfrog-docker-pushed.json"));
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 0 warehouse(s)"))
    );

    // Not a tag push: 200, recorded as ignored (Kargo answers 501).
    let (status, _) = post_signed(
        &s,
        "af-receiver",
        &pushed(
            "1.2.0",
            json!({"domain": "artifact", "event_type": "deployed"}),
        ),
    );
    assert_eq!(status, 200);
    let d = s.deliveries().into_iter().next().expect("delivery");
    assert_eq!(
        (d["outcome"].as_str(), d["eventType"].as_str()),
        (Some("ignored"), Some("artifact:deployed"))
    );
    // No host anywhere: ignored, and the delivery says what to set.
    let (status, _) = post_signed(
        &s,
        "af-receiver",
        &pushed("1.2.2", json!({"jpd_origin": ""})),
    );
    assert_eq!(status, 200);
    let d = s.deliveries().into_iter().next().expect("delivery");
    assert!(
        d["message"].as_str().unwrap().contains("registry-host"),
        "{d}"
    );
}

#[test]
fn signature_refusals_and_malformed_bodies() {
    let (_d, s) = server();
    let path = s.receiver_path("af-receiver");
    let body = pushed("1.2.0", json!({}));
    let (status, resp) = s.post(&path, &[], &body);
    assert_eq!(
        (status, resp["error"].as_str()),
        (401, Some("missing signature"))
    );
    let other = sign("another body");
    let (status, resp) = s.post(&path, &[("X-Jfrog-Event-Auth", other.as_str())], &body);
    assert_eq!(
        (status, resp["error"].as_str()),
        (401, Some("unauthorized"))
    );
    let d = s.deliveries().into_iter().next().expect("delivery");
    assert_eq!(d["outcome"], "rejected");

    let (status, resp) = post_signed(&s, "af-receiver", "{\"domain\": ");
    assert_eq!(status, 400);
    assert!(
        resp["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid request body: request body is not valid JSON"),
        "{resp}"
    );
}
