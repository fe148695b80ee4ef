//! Table tests of the dockerhub receiver: the documented push, official images, pushes by
//! digest, media types, malformed bodies, and the never-panics sweep.

use serde_json::json;

use super::super::test_support::{fixture, never_panics, receiver, Req};
use super::*;

fn send(body: impl AsRef<[u8]>) -> Result<Event, Rejection> {
    Req::post(body).send(&receiver(&super::TYPE, None, None))
}

fn refresh(repo_url: &str, image: bool, chart: bool, tags: &[&str]) -> Action {
    Action::Refresh(vec![Target::Oci {
        repo_url: repo_url.into(),
        image,
        chart,
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }])
}

#[test]
fn pushes_give_exact_events() {
    let official = json!({
        "push_data": {"pushed_at": 1700000000, "tag": "1.27.0",
                      "media_type": "application/vnd.oci.image.index.v1+json"},
        "repository": {"repo_name": "nginx", "namespace": "library", "name": "nginx"}
    });
    let by_digest = json!({
        "push_data": {"pushed_at": 1700000001, "tag": ""},
        "repository": {"repo_name": "acme/api"}
    });
    let digest_tag = json!({
        "push_data": {"tag": "sha256:abc"},
        "repository": {"repo_name": "acme/api"}
    });
    let chart = json!({
        "push_data": {"tag": "0.3.1", "media_type": "application/vnd.cncf.helm.config.v1+json"},
        "repository": {"repo_name": "acme/charts"}
    });
    let cases = [
        (
            fixture!("dockerhub-push.json").to_owned(),
            Some("svendowideit/testhook:latest:1417566161"),
            refresh("docker.io/svendowideit/testhook", true, true, &["latest"]),
        ),
        (
            official.to_string(),
            Some("nginx:1.27.0:1700000000"),
            refresh("docker.io/library/nginx", true, false, &["1.27.0"]),
        ),
        (
            by_digest.to_string(),
            Some("acme/api::1700000001"),
            refresh("docker.io/acme/api", true, true, &[]),
        ),
        (
            digest_tag.to_string(),
            None,
            refresh("docker.io/acme/api", true, true, &[]),
        ),
        (
            chart.to_string(),
            None,
            refresh("docker.io/acme/charts", false, true, &["0.3.1"]),
        ),
    ];
    for (body, id, action) in cases {
        let got = send(&body).unwrap();
        assert_eq!(
            got,
            Event {
                source: DOCKERHUB,
                event_type: "push".into(),
                provider_id: id.map(str::to_owned),
                action,
            },
            "{body}"
        );
    }
}

#[test]
fn malformed_bodies_are_400_in_kargo_wording() {
    let cases = [
        ("", "invalid request body: request body is empty"),
        ("{", "invalid request body: request body is not valid JSON"),
        (
            "[]",
            "invalid request body: a Docker Hub webhook body must be a JSON object, not an array",
        ),
        ("{}", "invalid request body: repository is missing"),
        (
            r#"{"repository": {"repo_name": ""}}"#,
            "invalid request body: repository.repo_name is missing",
        ),
        (
            r#"{"repository": {"repo_name": "a/b"}, "push_data": {"tag": 5}}"#,
            "invalid request body: push_data.tag must be a string, not a number",
        ),
    ];
    for (body, start) in cases {
        let r = send(body).unwrap_err();
        assert_eq!((r.status, r.source), (400, DOCKERHUB), "{body}");
        assert!(r.message.starts_with(start), "{body}: {}", r.message);
    }
}

#[test]
fn never_panics_on_any_bytes() {
    never_panics(|b| send(b), &[fixture!("dockerhub-push.json")]);
}
