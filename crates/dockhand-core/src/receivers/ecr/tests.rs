//! Table tests of the ecr receiver: the documented push and delete, pushes by digest and of
//! charts, the events that are not pushes, `auth-header`, malformed bodies, and the
//! never-panics sweep.

use serde_json::{json, Value};

use super::super::test_support::{fixture, never_panics, receiver, Req};
use super::*;

const AUTH: &str = "Bearer from-the-connection";

fn send(body: impl AsRef<[u8]>) -> Result<Event, Rejection> {
    Req::post(body)
        .header("authorization", AUTH)
        .send(&receiver(&super::TYPE, Some(AUTH), None))
}

/// The documented push with `changes` applied to `detail` (a `null` removes the field).
fn push(top: Value, changes: Value) -> String {
    let mut v: Value = serde_json::from_str(fixture!("ecr-image-action-push.json")).unwrap();
    for (k, c) in changes.as_object().unwrap() {
        v["detail"][k] = c.clone();
    }
    for (k, c) in top.as_object().unwrap() {
        v[k] = c.clone();
    }
    v.to_string()
}

fn oci(url: &str, image: bool, chart: bool, tags: &[&str]) -> Action {
    Action::Refresh(vec![Target::Oci {
        repo_url: url.into(),
        image,
        chart,
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }])
}

const REPO: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com/my-repository-name";

#[test]
fn pushes_give_exact_events() {
    let cases = [
        (
            fixture!("ecr-image-action-push.json").to_owned(),
            oci(REPO, true, true, &["latest"]),
        ),
        (
            push(json!({}), json!({"image-tag": null})),
            oci(REPO, true, true, &[]),
        ),
        (
            push(json!({}), json!({"image-tag": ""})),
            oci(REPO, true, true, &[]),
        ),
        (
            push(
                json!({}),
                json!({
                "manifest-media-type": "application/vnd.oci.image.manifest.v1+json",
                "artifact-media-type": "application/vnd.cncf.helm.config.v1+json"}),
            ),
            oci(REPO, false, true, &["latest"]),
        ),
        (
            push(
                json!({}),
                json!({
                "manifest-media-type": "application/vnd.docker.distribution.manifest.v2+json"}),
            ),
            oci(REPO, true, false, &["latest"]),
        ),
        (
            push(json!({"region": "cn-north-1"}), json!({})),
            oci(
                "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/my-repository-name",
                true,
                true,
                &["latest"],
            ),
        ),
    ];
    for (body, action) in cases {
        assert_eq!(
            send(&body).unwrap(),
            Event {
                source: ECR,
                event_type: "ECR Image Action".into(),
                provider_id: Some("13cde686-328b-6117-af20-0e5566167482".into()),
                action,
            },
            "{body}"
        );
    }
}

#[test]
fn other_events_are_ignored_with_a_reason() {
    let cases = [
        (
            fixture!("ecr-image-action-delete.json").to_owned(),
            "\"DELETE\"",
        ),
        (push(json!({}), json!({"result": "FAILURE"})), "\"FAILURE\""),
        (
            push(json!({"detail-type": "ECR Image Scan"}), json!({})),
            "\"ECR Image Scan\" is not an ECR Image Action",
        ),
    ];
    for (body, why) in cases {
        match send(&body).unwrap().action {
            Action::Ignore { reason } => assert!(reason.contains(why), "{reason}"),
            other => panic!("{body}: {other:?}"),
        }
    }
}

#[test]
fn auth_header_is_checked_before_the_body() {
    let r = receiver(&super::TYPE, Some(AUTH), None);
    for (values, message) in [
        (&[][..], "missing authorization"),
        (&["Bearer other"][..], "unauthorized"),
        (&[AUTH, AUTH][..], "unauthorized"),
    ] {
        let mut req = Req::post("not json");
        for v in values {
            req = req.header("authorization", v);
        }
        let e = req.send(&r).unwrap_err();
        assert_eq!(
            (e.status, e.message.as_str(), e.source),
            (401, message, ECR)
        );
    }
    let open = receiver(&super::TYPE, None, None);
    assert!(Req::post(fixture!("ecr-image-action-push.json"))
        .send(&open)
        .is_ok());
}

#[test]
fn malformed_bodies_are_400_in_kargo_wording() {
    let cases = [
        (String::new(), "invalid request body: request body is empty"),
        (
            "[".to_owned(),
            "invalid request body: request body is not valid JSON",
        ),
        (
            "[]".to_owned(),
            "invalid request body: an EventBridge event must be a JSON object",
        ),
        // An input transformer that sent only the detail.
        (
            json!({"repository-name": "x"}).to_string(),
            "invalid request body: detail-type is missing",
        ),
        (
            push(json!({"detail": null}), json!({})),
            "invalid request body: detail is missing",
        ),
        (
            push(json!({"account": null}), json!({})),
            "invalid request body: account is missing",
        ),
        (
            push(json!({}), json!({"repository-name": 3})),
            "invalid request body: detail.repository-name must be a string",
        ),
    ];
    for (body, start) in cases {
        let e = send(&body).unwrap_err();
        assert_eq!((e.status, e.source), (400, ECR), "{body}");
        assert!(e.message.starts_with(start), "{body}: {}", e.message);
    }
}

#[test]
fn never_panics_on_any_bytes() {
    never_panics(
        |b| send(b),
        &[
            fixture!("ecr-image-action-push.json"),
            fixture!("ecr-image-action-delete.json"),
        ],
    );
}
