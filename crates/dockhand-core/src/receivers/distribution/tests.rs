//! Table tests of the distribution receiver over the events captured from Debian's
//! `docker-registry` and the documented envelope: pushes with a tag and by digest, blobs,
//! pulls, deletes, several events per envelope, `auth-header`, malformed bodies, and the
//! never-panics sweep.

use serde_json::json;

use super::super::test_support::{fixture, never_panics, receiver, Req};
use super::*;

fn send(body: impl AsRef<[u8]>) -> Result<Event, Rejection> {
    Req::post(body).send(&receiver(&super::TYPE, None, None))
}

fn oci(url: &str, image: bool, chart: bool, tags: &[&str]) -> Target {
    Target::Oci {
        repo_url: url.into(),
        image,
        chart,
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }
}

#[test]
fn captured_pushes_refresh() {
    let cases = [
        (
            fixture!("distribution-push-captured.json"),
            "52083cec-0d32-4f1b-b5a2-2c074debdfcf",
            oci("127.0.0.1:58329/team/app", true, true, &["1.0.0"]),
        ),
        (
            // By digest: every subscriber.
            fixture!("distribution-push-by-digest-captured.json"),
            "219fb280-33c8-468a-9bf7-0b8cf6a084c2",
            oci("127.0.0.1:58329/team/app", true, true, &[]),
        ),
        (
            // An image index says image.
            fixture!("distribution-push-index-captured.json"),
            "",
            oci("127.0.0.1:58329/team/app", true, false, &["2.0.0"]),
        ),
        (
            fixture!("distribution-push-authenticated-captured.json"),
            "",
            oci("127.0.0.1:58329/team/app", true, true, &["1.0.1"]),
        ),
    ];
    for (body, id, target) in cases {
        let got = send(body).unwrap();
        assert_eq!(
            (got.source, got.event_type.as_str()),
            (DISTRIBUTION, "push")
        );
        assert_eq!(got.action, Action::Refresh(vec![target]), "{body}");
        let got_id = got.provider_id.unwrap();
        assert!(id.is_empty() || got_id == id, "{got_id}");
        assert!(!got_id.contains(','));
    }
}

#[test]
fn the_documented_envelope_refreshes_its_manifest_and_skips_its_blobs() {
    let got = send(fixture!("distribution-push-docs.json")).unwrap();
    assert_eq!(
        got,
        Event {
            source: DISTRIBUTION,
            event_type: "push".into(),
            provider_id: Some(
                "asdf-asdf-asdf-asdf-0,asdf-asdf-asdf-asdf-1,asdf-asdf-asdf-asdf-2".into()
            ),
            // No tag in the documented manifest event: by digest, Docker v2 manifest: image.
            action: Action::Refresh(vec![oci(
                "registrycluster.local/library/test",
                true,
                false,
                &[]
            )]),
        }
    );
}

#[test]
fn pulls_deletes_and_blobs_are_ignored() {
    let cases = [
        (
            fixture!("distribution-push-blob-captured.json"),
            "push",
            "is a blob upload",
        ),
        (
            fixture!("distribution-pull-captured.json"),
            "pull",
            "is not a push",
        ),
        (
            fixture!("distribution-pull-head-captured.json"),
            "pull",
            "is not a push",
        ),
        (
            fixture!("distribution-pull-blob-captured.json"),
            "pull",
            "is not a push",
        ),
        (
            fixture!("distribution-pull-docs.json"),
            "pull",
            "is not a push",
        ),
        (
            fixture!("distribution-delete-captured.json"),
            "delete",
            "\"delete\" \"team/app\" is not a push",
        ),
        (
            fixture!("distribution-delete-tag-captured.json"),
            "delete",
            "is not a push",
        ),
        (r#"{"events": []}"#, "", "no events"),
    ];
    for (body, event_type, why) in cases {
        let got = send(body).unwrap();
        assert_eq!(got.event_type, event_type);
        match &got.action {
            Action::Ignore { reason } => {
                assert!(
                    reason.contains(why) && reason.ends_with("no refresh"),
                    "{reason}"
                )
            }
            other => panic!("{body}: {other:?}"),
        }
    }
}

#[test]
fn several_events_merge_per_repository() {
    let event = |action: &str, repo: &str, tag: Option<&str>, media: &str| {
        let mut target = json!({"mediaType": media, "repository": repo,
            "url": format!("https://reg.example/v2/{repo}/manifests/sha256:1")});
        if let Some(t) = tag {
            target["tag"] = json!(t);
        }
        json!({"id": format!("{action}-{repo}-{}", tag.unwrap_or("")), "action": action,
               "target": target, "request": {"host": "reg.example:5000"}})
    };
    const M: &str = "application/vnd.oci.image.manifest.v1+json";
    const H: &str = "application/vnd.cncf.helm.config.v1+json";
    let body = json!({"events": [
        event("push", "a", Some("1.0"), M),
        event("pull", "a", Some("0.9"), M),
        event("push", "a", Some("1.1"), M),
        event("push", "a", Some("1.0"), M),
        event("push", "charts/c", Some("0.1.0"), H),
        event("push", "b", Some("2.0"), M),
        event("push", "b", None, M),
    ]});
    let got = send(body.to_string()).unwrap();
    assert_eq!(got.event_type, "pull,push");
    assert_eq!(
        got.action,
        Action::Refresh(vec![
            oci("reg.example:5000/a", true, true, &["1.0", "1.1"]),
            oci("reg.example:5000/charts/c", false, true, &["0.1.0"]),
            oci("reg.example:5000/b", true, true, &[]),
        ])
    );
    assert_eq!(got.provider_id.unwrap().split(',').count(), 7);

    // Without request.host, target.url's host; without either, skipped with the reason.
    let no_request = json!({"events": [{"action": "push",
        "target": {"repository": "x", "tag": "1", "url": "http://r.local:5000/v2/x/manifests/1"}}]});
    assert_eq!(
        send(no_request.to_string()).unwrap().action,
        Action::Refresh(vec![oci("r.local:5000/x", true, true, &["1"])])
    );
    let no_host =
        json!({"events": [{"action": "push", "target": {"repository": "x", "tag": "1"}}]});
    assert!(matches!(send(no_host.to_string()).unwrap().action,
        Action::Ignore { reason } if reason.contains("names no registry host")));
}

#[test]
fn auth_header_is_checked_when_configured() {
    let r = receiver(&super::TYPE, Some("Bearer test-token"), None);
    let body = fixture!("distribution-push-captured.json");
    assert!(Req::post(body)
        .header("authorization", "Bearer test-token")
        .send(&r)
        .is_ok());
    for (values, message) in [
        (&[][..], "missing authorization"),
        (&["Bearer other"][..], "unauthorized"),
        (&["bearer test-token"][..], "unauthorized"),
    ] {
        let mut req = Req::post("{");
        for v in values {
            req = req.header("authorization", v);
        }
        let e = req.send(&r).unwrap_err();
        assert_eq!(
            (e.status, e.message.as_str(), e.source),
            (401, message, DISTRIBUTION)
        );
    }
    // Without auth-header, an Authorization header is not looked at.
    assert!(Req::post(body)
        .header("authorization", "x")
        .send(&receiver(&super::TYPE, None, None))
        .is_ok());
}

#[test]
fn malformed_bodies_are_400_in_kargo_wording() {
    let cases = [
        ("", "invalid request body: request body is empty"),
        (
            "{\"events\": [",
            "invalid request body: request body is not valid JSON",
        ),
        (
            "[]",
            "invalid request body: a Distribution notification envelope must be a JSON object",
        ),
        ("{}", "invalid request body: events is missing"),
        (
            r#"{"events": {}}"#,
            "invalid request body: events must be an array, not an object",
        ),
        (
            r#"{"events": [1]}"#,
            "invalid request body: events[0] must be an object, not a number",
        ),
        (
            r#"{"events": [{"action": "push", "target": {"tag": 1}}]}"#,
            "invalid request body: events[0].target.tag must be a string",
        ),
    ];
    for (body, start) in cases {
        let e = send(body).unwrap_err();
        assert_eq!((e.status, e.source), (400, DISTRIBUTION), "{body}");
        assert!(e.message.starts_with(start), "{body}: {}", e.message);
    }
}

#[test]
fn never_panics_on_any_bytes() {
    never_panics(
        |b| send(b),
        &[
            fixture!("distribution-push-docs.json"),
            fixture!("distribution-push-captured.json"),
            fixture!("distribution-delete-captured.json"),
        ],
    );
}
