//! Table tests of the harbor receiver: every Harbor fixture in both formats, authentication,
//! the resource list rules, malformed bodies, and the never-panics sweep.

use serde_json::{json, Value};

use super::super::test_support::{fixture, never_panics, receiver, Req};
use super::*;

const AUTH: &str = "Bearer s3cr3t";

fn harbor() -> Receiver {
    receiver(&super::TYPE, Some(AUTH), None)
}

fn send(body: impl AsRef<[u8]>) -> Result<Event, Rejection> {
    Req::post(body)
        .header("authorization", AUTH)
        .send(&harbor())
}

fn oci(url: &str, tags: &[&str]) -> Target {
    Target::Oci {
        repo_url: url.into(),
        image: true,
        chart: true,
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }
}

fn event(event_type: &str, id: Option<&str>, action: Action) -> Event {
    Event {
        source: super::HARBOR,
        event_type: event_type.into(),
        provider_id: id.map(str::to_owned),
        action,
    }
}

/// Auth case: configured auth-header, Authorization values sent, body, status (0 = accepted),
/// message.
type AuthRow<'a> = (Option<&'a str>, &'a [&'a str], &'a str, u16, &'a str);

const ALPINE_DIGEST: &str =
    "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4";

#[test]
fn pushes_give_exact_events() {
    let cases = [
        (
            fixture!("harbor-push-artifact.json"),
            event(
                "PUSH_ARTIFACT",
                Some("PUSH_ARTIFACT:1586922308:sha256:8a9e9863dbb6e10edb5adfe917c00da84e1700fa76e7ed02476aa6e6fb8ee0d8:latest"),
                Action::Refresh(vec![oci("hub.harbor.com/test-webhook/debian", &["latest"])]),
            ),
        ),
        (
            // Pushed by digest (replication): `tag` is the digest, so no tag, every subscriber.
            fixture!("harbor-push-artifact-digest.json"),
            event(
                "PUSH_ARTIFACT",
                Some(&format!("PUSH_ARTIFACT:1680501893:{ALPINE_DIGEST}")),
                Action::Refresh(vec![oci("localhost/harbor/alpine", &[])]),
            ),
        ),
        (
            fixture!("harbor-legacy-v1-pushimage.json"),
            event(
                "pushImage",
                Some("pushImage:1582640688:sha256:b4758aaed11c155a476b9857e1178f157759c99cb04c907a04993f5481eff848:1.2.3"),
                Action::Refresh(vec![oci("quay.io/mynamespace/repository", &["1.2.3"])]),
            ),
        ),
        (
            fixture!("harbor-cloudevents-push.json"),
            event(
                "harbor.artifact.pushed",
                Some("66e18103-09c1-41f6-982f-37df223f3eeb"),
                Action::Refresh(vec![oci("localhost/harbor/alpine", &[])]),
            ),
        ),
    ];
    for (body, want) in cases {
        assert_eq!(send(body), Ok(want.clone()), "{}", want.event_type);
        // The Content-Type Harbor sends for CloudEvents changes nothing.
        let ce = Req::post(body)
            .header("authorization", AUTH)
            .header("content-type", "application/cloudevents+json")
            .send(&harbor());
        assert_eq!(ce, Ok(want));
    }
}

#[test]
fn other_events_are_ignored_with_their_type() {
    let default = [
        (fixture!("harbor-pull-artifact.json"), "PULL_ARTIFACT", Some(format!("PULL_ARTIFACT:1680502372:{ALPINE_DIGEST}"))),
        (fixture!("harbor-delete-artifact.json"), "DELETE_ARTIFACT", Some("DELETE_ARTIFACT:1680502598:sha256:2bb501e6173d9d006e56de5bce2720eb06396803300fe1687b58a7ff32bf4c14:3.8".to_owned())),
        (fixture!("harbor-scanning-completed.json"), "SCANNING_COMPLETED", Some(format!("SCANNING_COMPLETED:1680502375:{ALPINE_DIGEST}"))),
        (fixture!("harbor-scanning-stopped.json"), "SCANNING_STOPPED", Some("SCANNING_STOPPED:1680502334:sha256:e802987f152d7826cf929ad4999fb3bb956ce7a30966aeb46c749f9120eaf22c".to_owned())),
        (fixture!("harbor-scanning-failed.json"), "SCANNING_FAILED", Some("SCANNING_FAILED:1680505885:sha256:dabea2944dcc2b86482b4f0b0fb62da80e0673e900c46c0e03b45919881a5d84".to_owned())),
        (fixture!("harbor-quota-exceed.json"), "QUOTA_EXCEED", Some("QUOTA_EXCEED:1680505484:sha256:402d21757a03a114d273bbe372fa4b9eca567e8b6c332fa7ebf982b902207242".to_owned())),
        (fixture!("harbor-quota-warning.json"), "QUOTA_WARNING", Some("QUOTA_WARNING:1680505653:sha256:514ec80ffbe1a2ab1d9a3d5e6082296296a1d8b6870246edf897228e5df2367d".to_owned())),
        (fixture!("harbor-replication.json"), "REPLICATION", Some("REPLICATION:1680501904".to_owned())),
        (fixture!("harbor-tag-retention.json"), "TAG_RETENTION", Some("TAG_RETENTION:1680502598".to_owned())),
        (fixture!("harbor-cloudevents-pull.json"), "harbor.artifact.pulled", Some("718eab63-2efa-4f88-8c27-8bcacc34929b".to_owned())),
        (fixture!("harbor-cloudevents-delete.json"), "harbor.artifact.deleted", Some("343f1623-7cba-487c-88f1-c5ebf55e93aa".to_owned())),
        (fixture!("harbor-cloudevents-scan-completed.json"), "harbor.scan.completed", Some("64bce2fe-6159-454d-8389-852d01ef1e9d".to_owned())),
    ];
    for (body, event_type, id) in default {
        let want = event(
            event_type,
            id.as_deref(),
            Action::Ignore {
                reason: format!(
                    "Harbor event \"{event_type}\" is not an artifact push; no refresh"
                ),
            },
        );
        assert_eq!(send(body), Ok(want));
    }
    // The remaining CloudEvents examples, kept in one file keyed by section.
    let others: Value = serde_json::from_str(fixture!("harbor-cloudevents-others.json")).unwrap();
    let others = others.as_object().unwrap();
    assert_eq!(others.len(), 6);
    for ce in others.values() {
        let e = send(ce.to_string()).unwrap();
        assert_eq!(e.event_type, ce["type"].as_str().unwrap());
        assert_eq!(e.provider_id.as_deref(), ce["id"].as_str());
        assert!(matches!(e.action, Action::Ignore { .. }), "{e:?}");
    }
}

#[test]
fn every_resource_of_a_push_counts() {
    let resources = json!([
        {"digest": "sha256:a", "tag": "1.0", "resource_url": "harbor.example.com:8443/lib/app:1.0"},
        {"digest": "sha256:a", "tag": "latest", "resource_url": "harbor.example.com:8443/lib/app:latest"},
        {"digest": "sha256:a", "tag": "1.0", "resource_url": "harbor.example.com:8443/lib/app:1.0"},
        {"digest": "sha256:b", "tag": "2.0", "resource_url": "harbor.example.com:8443/lib/team/api:2.0"},
        {"digest": "sha256:c", "resource_url": "harbor.example.com:8443/lib/other@sha256:c"},
        {"digest": "sha256:d", "tag": "", "resource_url": "harbor.example.com:8443/lib/urlonly:3.1"},
        {"digest": "sha256:e", "tag": "x", "resource_url": "harbor.example.com:8443/lib/mixed:x"},
        {"digest": "sha256:f", "tag": "sha256:f", "resource_url": "harbor.example.com:8443/lib/mixed@sha256:f"}
    ]);
    let body =
        json!({"type": "PUSH_ARTIFACT", "occur_at": 1, "event_data": {"resources": resources}});
    let e = send(body.to_string()).unwrap();
    assert_eq!(
        e.provider_id.as_deref(),
        Some("PUSH_ARTIFACT:1:sha256:a:1.0")
    );
    assert_eq!(
        e.action,
        Action::Refresh(vec![
            oci("harbor.example.com:8443/lib/app", &["1.0", "latest"]),
            oci("harbor.example.com:8443/lib/team/api", &["2.0"]),
            oci("harbor.example.com:8443/lib/other", &[]),
            oci("harbor.example.com:8443/lib/urlonly", &["3.1"]),
            // One resource by digest: every subscriber of the repository.
            oci("harbor.example.com:8443/lib/mixed", &[]),
        ])
    );
    // Nothing listed: accepted, nothing to refresh.
    for data in [
        json!({"resources": []}),
        json!({}),
        json!({"resources": null}),
    ] {
        let body = json!({"type": "PUSH_ARTIFACT", "event_data": data});
        assert_eq!(
            send(body.to_string()),
            Ok(event("PUSH_ARTIFACT", None, Action::Refresh(vec![])))
        );
    }
}

#[test]
fn binary_mode_cloud_events() {
    let ce: Value = serde_json::from_str(fixture!("harbor-cloudevents-push.json")).unwrap();
    let e = Req::post(ce["data"].to_string())
        .header("authorization", AUTH)
        .header("ce-specversion", "1.0")
        .header("ce-type", "harbor.artifact.pushed")
        .header("ce-id", "bin-1")
        .send(&harbor())
        .unwrap();
    assert_eq!(
        e,
        event(
            "harbor.artifact.pushed",
            Some("bin-1"),
            Action::Refresh(vec![oci("localhost/harbor/alpine", &[])])
        )
    );
    // Other types are acknowledged without reading the body.
    let e = Req::post("not json")
        .header("authorization", AUTH)
        .header("ce-specversion", "1.0")
        .header("ce-type", "harbor.scan.completed")
        .send(&harbor())
        .unwrap();
    assert_eq!(e.event_type, "harbor.scan.completed");
    assert_eq!(e.provider_id, None);
    let r = Req::post("{}")
        .header("authorization", AUTH)
        .header("ce-specversion", "1.0")
        .send(&harbor())
        .unwrap_err();
    assert_eq!(
        (r.status, r.message.as_str()),
        (
            400,
            "a binary-mode CloudEvent needs a ce-type header (visible ASCII)"
        )
    );
}

#[test]
fn legacy_documentation_shape_is_explained() {
    let body = r#"{"event_type":"pushImage","events":[{"project":"library","repo_name":"library/busybox","tag":"latest","full_name":"library/busybox","trigger_time":1,"image_id":"sha256:x","project_type":"Public"}]}"#;
    let e = send(body).unwrap();
    assert_eq!(
        (e.event_type.as_str(), e.provider_id.as_deref()),
        ("pushImage", None)
    );
    let Action::Ignore { reason } = e.action else {
        panic!()
    };
    assert!(reason.contains("names no registry host"), "{reason}");
}

#[test]
fn authorization_is_the_whole_header() {
    let push = fixture!("harbor-push-artifact.json");
    let cases: Vec<AuthRow> = vec![
        (Some("Bearer s3cr3t"), &["Bearer s3cr3t"], push, 0, ""),
        (Some("Bearer s3cr3t"), &[], push, 401, "missing authorization"),
        (Some("Bearer s3cr3t"), &["Bearer wrong"], push, 401, "unauthorized"),
        (Some("Bearer s3cr3t"), &["bearer s3cr3t"], push, 401, "unauthorized"),
        (Some("Bearer s3cr3t"), &["Bearer S3CR3T"], push, 401, "unauthorized"),
        (Some("Bearer s3cr3t"), &["Token s3cr3t"], push, 401, "unauthorized"),
        (Some("Bearer s3cr3t"), &["s3cr3t"], push, 401, "unauthorized"),
        (Some("Bearer s3cr3t"), &["Bearer s3cr3t "], push, 401, "unauthorized"),
        (Some("Bearer s3cr3t"), &["Bearer s3cr3t", "Bearer s3cr3t"], push, 401, "unauthorized"),
        // Whatever scheme word the user typed into Harbor is part of the value.
        (Some("Token s3cr3t"), &["Token s3cr3t"], push, 0, ""),
        (Some("s3cr3t"), &["s3cr3t"], push, 0, ""),
        (Some("s3cr3t"), &["Bearer s3cr3t"], push, 401, "unauthorized"),
        // The secret of another receiver.
        (Some("Bearer other"), &["Bearer s3cr3t"], push, 401, "unauthorized"),
        // Checked before the body: a wrong value on garbage is 401, not 400.
        (Some("Bearer s3cr3t"), &["Bearer x"], "{{{", 401, "unauthorized"),
        (Some("Bearer s3cr3t"), &[], "", 401, "missing authorization"),
        (None, &["Bearer s3cr3t"], push, 401, "this harbor receiver has no auth-header configured, so no request can be authenticated"),
    ];
    for (i, (configured, sent, body, status, message)) in cases.into_iter().enumerate() {
        let r = receiver(&super::TYPE, configured, None);
        let mut req = Req::post(body);
        for s in sent {
            req = req.header("authorization", s);
        }
        match req.send(&r) {
            Ok(e) => assert_eq!(status, 0, "case {i}: accepted {e:?}"),
            Err(rej) => {
                assert_eq!(
                    (rej.status, rej.message.as_str(), rej.source),
                    (status, message, super::HARBOR),
                    "case {i}"
                );
                assert!(!rej.message.contains("s3cr3t"), "case {i}");
            }
        }
    }
}

#[test]
fn malformed_bodies_are_400_with_the_field() {
    let push = |resources: Value| {
        json!({"type": "PUSH_ARTIFACT", "event_data": {"resources": resources}}).to_string()
    };
    let not_ref = |i: usize, url: &str, why: &str| {
        format!(
            "event_data.resources[{i}].resource_url {url:?} is not an image reference \
             (host[:port]/project/repository[:tag|@digest]): {why}"
        )
    };
    let cases: Vec<(String, Option<&str>, String)> = vec![
        ("".into(), None, "request body is empty".into()),
        ("nope".into(), None, "request body is not valid JSON: expected ident at line 1 column 2".into()),
        ("[]".into(), None, "a Harbor webhook body must be a JSON object, not an array".into()),
        (r#"{"occur_at":1}"#.into(), None, "not a Harbor webhook: expected the default payload format (type, occur_at, event_data) or a CloudEvent (specversion, type, data)".into()),
        (r#"{"type":5}"#.into(), None, "type must be a string, not a number".into()),
        (r#"{"type":"PUSH_ARTIFACT"}"#.into(), Some("PUSH_ARTIFACT"), "event_data is missing: a push lists the pushed artifacts in event_data.resources".into()),
        (r#"{"type":"PUSH_ARTIFACT","event_data":[]}"#.into(), Some("PUSH_ARTIFACT"), "event_data must be an object, not an array".into()),
        (push(json!({})), Some("PUSH_ARTIFACT"), "event_data.resources must be an array, not an object".into()),
        (push(json!("x")), Some("PUSH_ARTIFACT"), "event_data.resources must be an array, not a string".into()),
        (push(json!([1])), Some("PUSH_ARTIFACT"), "event_data.resources[0] must be an object, not a number".into()),
        (push(json!([{"digest": "sha256:a"}])), Some("PUSH_ARTIFACT"), "event_data.resources[0].resource_url is missing: a pushed artifact's resource_url names its repository".into()),
        (push(json!([{"resource_url": "h/a:1"}, {"resource_url": ""}])), Some("PUSH_ARTIFACT"), "event_data.resources[1].resource_url is missing: a pushed artifact's resource_url names its repository".into()),
        (push(json!([{"resource_url": "h/a:1", "tag": 1}])), Some("PUSH_ARTIFACT"), "event_data.resources[0].tag must be a string, not a number".into()),
        (push(json!([{"resource_url": 5}])), Some("PUSH_ARTIFACT"), "event_data.resources[0].resource_url must be a string, not a number".into()),
        (push(json!([{"resource_url": "h/a:1"}, {"resource_url": "harbor.io/a b:1"}])), Some("PUSH_ARTIFACT"), not_ref(1, "harbor.io/a b:1", "it contains spaces, control or non-ASCII characters")),
        (push(json!([{"resource_url": "harbor.io"}])), Some("PUSH_ARTIFACT"), not_ref(0, "harbor.io", "it has no repository path after the registry host")),
        (r#"{"type":"PUSH_ARTIFACT","occur_at":{}}"#.into(), Some("PUSH_ARTIFACT"), "event_data is missing: a push lists the pushed artifacts in event_data.resources".into()),
        (r#"{"type":"PULL_ARTIFACT","occur_at":{}}"#.into(), Some("PULL_ARTIFACT"), "occur_at must be a string or a number, not an object".into()),
        (r#"{"specversion":"1.0","type":"harbor.artifact.pushed"}"#.into(), Some("harbor.artifact.pushed"), "data is missing: harbor.artifact.pushed carries the pushed artifacts in data".into()),
        (r#"{"specversion":"1.0","id":"i"}"#.into(), None, "type is missing: every CloudEvent names its type".into()),
        (r#"{"specversion":"1.0","type":"harbor.artifact.pushed","data":{"resources":[{"resource_url":"https://h/a:1"}]}}"#.into(), Some("harbor.artifact.pushed"), "data.resources[0].resource_url \"https://h/a:1\" is not an image reference (host[:port]/project/repository[:tag|@digest]): it has a URL scheme; Harbor sends references without one".into()),
    ];
    for (i, (body, event_type, message)) in cases.into_iter().enumerate() {
        let r = send(&body).unwrap_err();
        assert_eq!(
            (
                r.status,
                r.source,
                r.event_type.as_deref(),
                r.message.as_str()
            ),
            (
                400,
                super::HARBOR,
                event_type,
                format!("invalid request body: {message}").as_str()
            ),
            "case {i}"
        );
    }
}

#[test]
fn references() {
    let ok = |repo, tag, digest| Ok(Reference { repo, tag, digest });
    let cases = [
        (
            "hub.harbor.com/test-webhook/debian:latest",
            ok("hub.harbor.com/test-webhook/debian", Some("latest"), None),
        ),
        (
            "h:8443/p/team/app:1.0",
            ok("h:8443/p/team/app", Some("1.0"), None),
        ),
        ("h:8443/p/app", ok("h:8443/p/app", None, None)),
        (
            "localhost/harbor/alpine@sha256:954b",
            ok("localhost/harbor/alpine", None, Some("sha256:954b")),
        ),
        (
            "h/p/app:1.0@sha256:ab",
            ok("h/p/app", Some("1.0"), Some("sha256:ab")),
        ),
        ("", Err("it is empty")),
        (
            "h/p/a b",
            Err("it contains spaces, control or non-ASCII characters"),
        ),
        (
            "h/p/\u{e9}",
            Err("it contains spaces, control or non-ASCII characters"),
        ),
        (
            "h/p/a\t",
            Err("it contains spaces, control or non-ASCII characters"),
        ),
        (
            "http://h/p/a",
            Err("it has a URL scheme; Harbor sends references without one"),
        ),
        (
            "h",
            Err("it has no repository path after the registry host"),
        ),
        (
            "h:5000",
            Err("it has no repository path after the registry host"),
        ),
        ("/p/a", Err("it has no registry host")),
        ("h/p/a:", Err("the tag after ':' is empty")),
        ("h/p/a:1:2", Err("the tag contains ':'")),
        ("h//a", Err("it has an empty path segment")),
        ("h/p/", Err("it has an empty path segment")),
        (
            "h/p/a@sha256",
            Err("the part after @ is not a digest (algorithm:hex)"),
        ),
        (
            "h/p/a@",
            Err("the part after @ is not a digest (algorithm:hex)"),
        ),
        (
            "h/p/a@sha256:x@y",
            Err("the part after @ is not a digest (algorithm:hex)"),
        ),
        (
            "h/p/a@:x",
            Err("the part after @ is not a digest (algorithm:hex)"),
        ),
    ];
    for (s, want) in cases {
        assert_eq!(parse_reference(s), want, "{s}");
    }
}

#[test]
fn never_panics_on_any_input() {
    let others: Value = serde_json::from_str(fixture!("harbor-cloudevents-others.json")).unwrap();
    let others: Vec<String> = others
        .as_object()
        .unwrap()
        .values()
        .map(Value::to_string)
        .collect();
    let mut bodies = vec![
        fixture!("harbor-push-artifact.json"),
        fixture!("harbor-push-artifact-digest.json"),
        fixture!("harbor-legacy-v1-pushimage.json"),
        fixture!("harbor-pull-artifact.json"),
        fixture!("harbor-delete-artifact.json"),
        fixture!("harbor-scanning-completed.json"),
        fixture!("harbor-scanning-stopped.json"),
        fixture!("harbor-scanning-failed.json"),
        fixture!("harbor-quota-exceed.json"),
        fixture!("harbor-quota-warning.json"),
        fixture!("harbor-replication.json"),
        fixture!("harbor-tag-retention.json"),
        fixture!("harbor-cloudevents-push.json"),
        fixture!("harbor-cloudevents-pull.json"),
        fixture!("harbor-cloudevents-delete.json"),
        fixture!("harbor-cloudevents-scan-completed.json"),
        fixture!("harbor-cloudevents-others.json"),
    ];
    bodies.extend(others.iter().map(String::as_str));
    never_panics(|b| send(b), &bodies);
    never_panics(
        |body| {
            Req::post(body)
                .header("authorization", AUTH)
                .header("ce-type", "harbor.artifact.pushed")
                .send(&harbor())
        },
        &bodies,
    );
}
