//! Table tests of the quay receiver: the documented push, pushes by digest, the notifications
//! that are not pushes, malformed bodies, and the never-panics sweep.

use serde_json::json;

use super::super::test_support::{fixture, never_panics, receiver, Req};
use super::*;

fn send(body: impl AsRef<[u8]>) -> Result<Event, Rejection> {
    Req::post(body).send(&receiver(&super::TYPE, None, None))
}

fn push(repo_url: &str, tags: &[&str]) -> Action {
    Action::Refresh(vec![Target::Oci {
        repo_url: repo_url.into(),
        image: true,
        chart: true,
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }])
}

#[test]
fn notifications_give_exact_events() {
    let repo = |extra: serde_json::Value| {
        let mut v = json!({
            "repository": "acme/api", "namespace": "acme", "name": "api",
            "docker_url": "quay.example.com/acme/api",
            "homepage": "https://quay.example.com/repository/acme/api"
        });
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v.to_string()
    };
    let cases = [
        (
            fixture!("quay-repo-push.json").to_owned(),
            "repo_push",
            Some(push("quay.io/dgangaia/test", &["latest"])),
        ),
        (
            // The "Test Notification" sample of a push (notificationevent.py).
            repo(json!({"updated_tags": ["latest", "foo"], "pruned_image_count": 3})),
            "repo_push",
            Some(push("quay.example.com/acme/api", &["latest", "foo"])),
        ),
        (
            repo(json!({"updated_tags": []})),
            "repo_push",
            Some(push("quay.example.com/acme/api", &[])),
        ),
        (
            repo(json!({"build_id": "296ec063", "trigger_kind": "github",
                        "docker_tags": ["latest"]})),
            "build",
            None,
        ),
        (
            repo(json!({"vulnerability": {"id": "CVE-1", "priority": "High"}})),
            "vulnerability_found",
            None,
        ),
        (repo(json!({"message": "mirror"})), "unknown", None),
    ];
    for (body, event_type, refresh) in cases {
        let got = send(&body).unwrap();
        assert_eq!(
            (got.source, got.event_type.as_str(), &got.provider_id),
            (QUAY, event_type, &None),
            "{body}"
        );
        match refresh {
            Some(action) => assert_eq!(got.action, action, "{body}"),
            None => assert!(
                matches!(&got.action, Action::Ignore { reason } if reason.contains("no refresh")),
                "{body}: {:?}",
                got.action
            ),
        }
    }
}

#[test]
fn malformed_bodies_are_400_in_kargo_wording() {
    let cases = [
        ("", "invalid request body: request body is empty"),
        (
            "not json",
            "invalid request body: request body is not valid JSON",
        ),
        (
            "[]",
            "invalid request body: a Quay notification body must be a JSON object",
        ),
        (
            r#"{"updated_tags": ["a"]}"#,
            "invalid request body: docker_url is missing",
        ),
        (
            r#"{"docker_url": "quay.io/a/b", "updated_tags": "latest"}"#,
            "invalid request body: updated_tags must be an array of strings, not a string",
        ),
        (
            r#"{"docker_url": "quay.io/a/b", "updated_tags": [1]}"#,
            "invalid request body: updated_tags must be an array of strings, not a number",
        ),
    ];
    for (body, start) in cases {
        let r = send(body).unwrap_err();
        assert_eq!((r.status, r.source), (400, QUAY), "{body}");
        assert!(r.message.starts_with(start), "{body}: {}", r.message);
    }
}

#[test]
fn never_panics_on_any_bytes() {
    never_panics(|b| send(b), &[fixture!("quay-repo-push.json")]);
}
