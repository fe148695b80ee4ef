//! Table tests of the gar receiver: the documented INSERT in a push envelope and unwrapped,
//! pushes by digest, deletes, malformed bodies, and the never-panics sweep.

use base64::Engine as _;
use serde_json::{json, Value};

use super::super::test_support::{fixture, never_panics, receiver, Req};
use super::*;

fn send(body: impl AsRef<[u8]>) -> Result<Event, Rejection> {
    Req::post(body).send(&receiver(&super::TYPE, None, None))
}

fn envelope(data: &Value) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(data.to_string());
    json!({"message": {"data": encoded, "messageId": "42", "publishTime": "2026-01-01T00:00:00Z"},
           "subscription": "projects/p/subscriptions/s"})
    .to_string()
}

const REPO: &str = "us-east1-docker.pkg.dev/my-project/my-repo/hello-world";

fn oci(url: &str, tags: &[&str]) -> Action {
    Action::Refresh(vec![Target::Oci {
        repo_url: url.into(),
        image: true,
        chart: true,
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }])
}

#[test]
fn inserts_give_exact_events() {
    let got = send(fixture!("gar-pubsub-push-insert.json")).unwrap();
    assert_eq!(
        got,
        Event {
            source: GAR,
            event_type: "INSERT".into(),
            provider_id: Some("2070443601311540".into()),
            action: oci(REPO, &["1.1"]),
        }
    );
    // Payload unwrapping: the decoded data is the body; no message id.
    let got = send(fixture!("gar-pubsub-data-insert.json")).unwrap();
    assert_eq!((got.action, got.provider_id), (oci(REPO, &["1.1"]), None));

    let cases = [
        (
            json!({"action": "INSERT", "digest": format!("{REPO}@sha256:6ec1")}),
            oci(REPO, &[]),
        ),
        (
            json!({"action": "INSERT", "tag": "localhost:5000/p/r/img:2.0", "digest": ""}),
            oci("localhost:5000/p/r/img", &["2.0"]),
        ),
    ];
    for (data, action) in cases {
        let got = send(envelope(&data)).unwrap();
        assert_eq!(
            (got.action, got.provider_id.as_deref()),
            (action, Some("42")),
            "{data}"
        );
    }
}

#[test]
fn deletes_are_ignored() {
    let data = json!({"action": "DELETE", "digest": format!("{REPO}@sha256:6ec1")});
    let got = send(envelope(&data)).unwrap();
    assert_eq!(got.event_type, "DELETE");
    assert!(
        matches!(got.action, Action::Ignore { reason } if reason.contains("\"DELETE\" is not a push"))
    );
}

#[test]
fn malformed_bodies_are_400_in_kargo_wording() {
    let cases = [
        (String::new(), "invalid request body: request body is empty"),
        (
            "{".to_owned(),
            "invalid request body: request body is not valid JSON",
        ),
        (
            json!({"message": {}}).to_string(),
            "invalid request body: message.data is missing",
        ),
        (
            json!({"message": {"data": "%%%"}}).to_string(),
            "invalid request body: message.data is not base64",
        ),
        (
            json!({"message": {"data": "bm90IGpzb24="}}).to_string(),
            "invalid request body: message.data does not decode to JSON",
        ),
        (
            envelope(&json!([1])),
            "invalid request body: an Artifact Registry notification must be a JSON object",
        ),
        (
            envelope(&json!({"tag": "a/b:c"})),
            "invalid request body: message.data.action is missing",
        ),
        (
            envelope(&json!({"action": "INSERT"})),
            "invalid request body: message.data.tag is missing",
        ),
        (
            envelope(&json!({"action": "INSERT", "tag": "hello:1"})),
            "invalid request body: message.data.tag \"hello:1\" is not an image reference",
        ),
        (
            envelope(&json!({"action": "INSERT", "tag": "host:5000/img"})),
            "invalid request body: message.data.tag \"host:5000/img\" is not an image reference",
        ),
        (
            envelope(&json!({"action": "INSERT", "digest": "host/img"})),
            "invalid request body: message.data.digest \"host/img\" is not an image reference",
        ),
        (
            json!({"action": 1}).to_string(),
            "invalid request body: action must be a string",
        ),
    ];
    for (body, start) in cases {
        let e = send(&body).unwrap_err();
        assert_eq!((e.status, e.source), (400, GAR), "{body}");
        assert!(e.message.starts_with(start), "{body}: {}", e.message);
    }
}

#[test]
fn never_panics_on_any_bytes() {
    never_panics(
        |b| send(b),
        &[
            fixture!("gar-pubsub-push-insert.json"),
            fixture!("gar-pubsub-data-insert.json"),
        ],
    );
}
