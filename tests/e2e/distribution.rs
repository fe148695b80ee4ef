//! The distribution receiver end to end with a real sender: Debian's `docker-registry` (CNCF
//! Distribution) configured with a `notifications.endpoints` entry pointing at dockhand's
//! receiver URL. Images are pushed into the registry; the registry's own notifications refresh
//! the Warehouse, discovery finds the tag and its digest, Freight is recorded. No payload here
//! is written by the test. Then the receiver's refusals over HTTP.

use crate::common::*;
use crate::support::registry::Registry;
use serde_json::{json, Value};

const AUTH: &str = "Bearer test-distribution-token";

fn config(registry_port: u16) -> String {
    format!(
        "apiVersion: v1
kind: Secret
metadata: {{name: registry-wh-secret, namespace: kargo-demo}}
stringData:
  secret: test-distribution-secret
  auth-header: {AUTH}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {{name: kargo-demo, namespace: kargo-demo}}
spec:
  webhookReceivers:
  - name: registry-wh-receiver
    distribution: {{secretRef: {{name: registry-wh-secret}}}}
{}{}",
        image_warehouse(
            "kargo-demo",
            "app",
            &format!("127.0.0.1:{registry_port}/team/app"),
            "^1.0.0"
        ),
        image_warehouse(
            "kargo-demo",
            "other",
            &format!("127.0.0.1:{registry_port}/team/other"),
            "^1.0.0"
        ),
    )
}

fn freight(s: &Server, warehouse: &str) -> Vec<Value> {
    s.admin_get(&format!(
        "/api/v1/freight?project=kargo-demo&warehouse={warehouse}"
    ))
    .as_array()
    .cloned()
    .unwrap_or_default()
}

fn from_registry(s: &Server) -> Vec<Value> {
    s.deliveries()
        .into_iter()
        .filter(|d| d["receiverType"] == "distribution")
        .collect()
}

#[test]
fn registry_notifications_refresh_and_record_freight() {
    let registry_port = free_port();
    let dir = config_dir(&[("c.yaml", &config(registry_port))]);
    let s = Server::start(&[dir.path()], &["--refresh-cooldown", "0s"]);
    let url = s.url(&s.receiver_path("registry-wh-receiver"));
    let reg = Registry::start_notifying(registry_port, &url, Some(AUTH));
    let repo = format!("{}/team/app", reg.host());

    let (digest, _) = reg.push_image(
        "team/app",
        Some("1.2.0"),
        "linux",
        "amd64",
        "2026-01-02T00:00:00Z",
    );
    s.wait_for("Freight from the registry's notification", |s| {
        !freight(s, "app").is_empty()
    });
    let list = freight(&s, "app");
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(
        list[0]["artifacts"]["images"],
        json!([{"repoURL": repo, "tag": "1.2.0", "digest": digest}])
    );

    // The registry sent one notification per blob and one for the manifest: the manifest push
    // refreshed `app` (and only it), the blob uploads were acknowledged and ignored, nothing
    // was refused (the endpoint's Authorization header matched auth-header).
    s.wait_for("the registry's notifications recorded", |s| {
        from_registry(s).len() >= 3
    });
    let all = from_registry(&s);
    assert!(all.iter().all(|d| d["status"] == 200), "{all:?}");
    assert!(all.iter().all(|d| d["source"] == "distribution"), "{all:?}");
    let refreshed: Vec<&Value> = all.iter().filter(|d| d["outcome"] == "refreshed").collect();
    assert_eq!(refreshed.len(), 1, "{all:?}");
    assert_eq!(refreshed[0]["eventType"], "push");
    assert_eq!(refreshed[0]["refreshed"], json!(["kargo-demo/app"]));
    assert_eq!(refreshed[0]["repositories"], json!([repo]));
    assert_eq!(refreshed[0]["qualifiers"], json!(["1.2.0"]));
    let blobs = all
        .iter()
        .filter(|d| {
            d["outcome"] == "ignored" && d["message"].as_str().unwrap_or("").contains("blob upload")
        })
        .count();
    assert_eq!(blobs, 2, "{all:?}");

    // Discovery's own reads of the registry are notified as pulls: acknowledged, ignored.
    s.wait_for("a pull notification", |s| {
        from_registry(s).iter().any(|d| d["eventType"] == "pull")
    });
    for pull in from_registry(&s)
        .iter()
        .filter(|d| d["eventType"] == "pull")
    {
        assert_eq!(
            (pull["status"].as_u64(), pull["outcome"].as_str()),
            (Some(200), Some("ignored")),
            "{pull}"
        );
    }

    // A newer tag makes a second Freight.
    let (digest2, _) = reg.push_image(
        "team/app",
        Some("1.3.0"),
        "linux",
        "amd64",
        "2026-01-03T00:00:00Z",
    );
    s.wait_for("a second Freight", |s| freight(s, "app").len() == 2);
    assert_eq!(
        freight(&s, "app")[0]["artifacts"]["images"],
        json!([{"repoURL": repo, "tag": "1.3.0", "digest": digest2}])
    );

    // A manifest pushed by digest refreshes every subscriber of its repository (here `other`,
    // whose repository has no tag yet: discovery runs and finds nothing to make Freight of).
    reg.push_image("team/other", None, "linux", "amd64", "2026-01-04T00:00:00Z");
    s.wait_for("the push by digest refreshed other", |s| {
        from_registry(s)
            .iter()
            .any(|d| d["refreshed"] == json!(["kargo-demo/other"]))
    });
    let by_digest = from_registry(&s)
        .into_iter()
        .find(|d| d["refreshed"] == json!(["kargo-demo/other"]))
        .expect("delivery");
    assert_eq!(by_digest["qualifiers"], json!([]));
}

#[test]
fn refusals_over_http() {
    let dir = config_dir(&[("c.yaml", &config(5000))]);
    let s = Server::start(&[dir.path()], &[]);
    let path = s.receiver_path("registry-wh-receiver");
    let body = fixture("distribution-push-captured.json");

    let (status, resp) = s.post(&path, &[], &body);
    assert_eq!(
        (status, resp["error"].as_str()),
        (401, Some("missing authorization"))
    );
    let (status, resp) = s.post(&path, &[("Authorization", "Bearer nope")], &body);
    assert_eq!(
        (status, resp["error"].as_str()),
        (401, Some("unauthorized"))
    );

    let (status, resp) = s.post(&path, &[("Authorization", AUTH)], "{\"events\": 1}");
    assert_eq!(status, 400);
    assert_eq!(
        resp["error"],
        "invalid request body: events must be an array, not a number"
    );

    // A captured tag push from another registry host: accepted, nothing subscribes to it.
    let (status, resp) = s.post(&path, &[("Authorization", AUTH)], &body);
    assert_eq!(
        (status, resp["msg"].as_str()),
        (200, Some("refreshed 0 warehouse(s)"))
    );
    let (status, resp) = s.post(
        &path,
        &[("Authorization", AUTH)],
        &fixture("distribution-delete-captured.json"),
    );
    assert_eq!(status, 200, "{resp}");
    let d = s.deliveries().into_iter().next().expect("delivery");
    assert_eq!(
        (d["eventType"].as_str(), d["outcome"].as_str()),
        (Some("delete"), Some("ignored"))
    );
}
