//! Table tests of the azure receiver: every ACR, Azure DevOps and Event Grid fixture, the
//! authentication rules, malformed bodies, and the never-panics sweep.

use http::Method;
use serde_json::{json, Value};

use super::super::test_support::{fixture, never_panics, receiver, Req};
use super::*;

const ACR_UA: &str = "AzureContainerRegistry/1.0.0";
const ADO_UA: &str = "VSServices/19.244.35615.1";

fn open() -> Receiver {
    receiver(&super::TYPE, None, None)
}

fn oci(url: &str, image: bool, chart: bool, tags: &[&str]) -> Action {
    Action::Refresh(vec![Target::Oci {
        repo_url: url.into(),
        image,
        chart,
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }])
}

fn git(url: &str, refs: &[(&str, &str)], default_branch: &str) -> Action {
    Action::Refresh(vec![Target::Git {
        repo_url: url.into(),
        refs: refs
            .iter()
            .map(|(n, o)| RefUpdate {
                name: n.to_string(),
                new_object_id: o.to_string(),
            })
            .collect(),
        default_branch: Some(default_branch.into()),
        changed_paths: None,
    }])
}

fn event(source: Source, event_type: &str, id: Option<&str>, action: Action) -> Event {
    Event {
        source,
        event_type: event_type.into(),
        provider_id: id.map(str::to_owned),
        action,
    }
}

/// The reason of an Ignore, for tests that check its wording rather than all of it.
fn ignored(e: &Event) -> &str {
    match &e.action {
        Action::Ignore { reason } => reason,
        other => panic!("expected Ignore, got {other:?}"),
    }
}

/// Ignored fixture: body, source, event type, provider id, words the reason must contain.
type IgnoredRow<'a> = (&'a str, Source, &'a str, Option<&'a str>, &'a [&'a str]);
/// Auth case: receiver, body, one extra header, Authorization, status (0 = accepted), message.
type HeaderAuthRow<'a> = (
    &'a Receiver,
    &'a str,
    Option<(&'a str, &'a str)>,
    Option<&'a str>,
    u16,
    &'a str,
);
/// Basic auth case: receiver, body, User-Agent, Authorization, status (0 = accepted), message.
type BasicAuthRow<'a> = (
    &'a Receiver,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    u16,
    &'a str,
);
/// Malformed case: one header, body, source, event type, message.
type MalformedRow<'a> = (
    Option<(&'a str, &'a str)>,
    &'a str,
    Source,
    Option<&'a str>,
    &'a str,
);

const MS_PUSHED: &str = "Microsoft.ContainerRegistry.ImagePushed";

/// The answer to a body the azure receiver cannot attribute to any of its sources.
static UNRECOGNIZED_BODY: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("invalid request body: {UNRECOGNIZED}"));

#[test]
fn fixtures_give_exact_events() {
    let cases: Vec<(&str, &str, Event)> = vec![
        (
            "acr-ping",
            fixture!("acr-ping.json"),
            event(ACR, "ping", Some("00000000-0000-0000-0000-000000000000"), Action::Ping),
        ),
        (
            "acr-push",
            fixture!("acr-push.json"),
            event(
                ACR,
                "push",
                Some("cb8c3971-9adc-488b-bdd8-43cbb4974ff5"),
                oci("myregistry.azurecr.io/hello-world", true, false, &["v1"]),
            ),
        ),
        (
            "acr-push-captured",
            fixture!("acr-push-captured.json"),
            event(
                ACR,
                "push",
                Some("ea889308-3834-4a1d-a631-cadc572dab91"),
                oci("mojrodevops.azurecr.io/hello-world", true, false, &["test-v1"]),
            ),
        ),
        (
            // No mediaType: could be either kind. Empty tag: a push by digest.
            "acr-push-digest-only",
            fixture!("acr-push-digest-only.json"),
            event(ACR, "push", None, oci("mojrodevops.azurecr.io/hello-world", true, true, &[])),
        ),
        (
            // Plain OCI manifest: ACR sends this for Helm 3 charts too.
            "acr-push-helm-oci",
            fixture!("acr-push-helm-oci.json"),
            event(
                ACR,
                "push",
                Some("00000000-0000-0000-0000-000000000001"),
                oci("myregistry.azurecr.io/helm/mychart", true, true, &["0.1.0"]),
            ),
        ),
        (
            "azure-devops-git-push",
            fixture!("azure-devops-git-push.json"),
            event(
                AZURE_DEVOPS,
                "git.push",
                Some("09b0b950-47fa-4f45-8b65-5a22686314f8"),
                git(
                    "https://dev.azure.com/alexander0053/alex-test/_git/alex-test",
                    &[("refs/heads/master", "298a79aa1552799a70718a0ee914d153d5a1a76b")],
                    "refs/heads/master",
                ),
            ),
        ),
        (
            // What the service hook's "Test" button sends: a normal push.
            "azure-devops-git-push-docs-sample",
            fixture!("azure-devops-git-push-docs-sample.json"),
            event(
                AZURE_DEVOPS,
                "git.push",
                Some("03c164c2-8912-4d5e-8009-3707d5f83734"),
                git(
                    "https://dev.azure.com/fabrikam-fiber-inc/DefaultCollection/_git/Fabrikam-Fiber-Git",
                    &[("refs/heads/master", "33b55f7cb7e7e245323987634f960cf4a6e6bc74")],
                    "refs/heads/master",
                ),
            ),
        ),
        (
            "azure-devops-git-push-visualstudio-legacy",
            fixture!("azure-devops-git-push-visualstudio-legacy.json"),
            event(
                AZURE_DEVOPS,
                "git.push",
                Some("2d01bcf8-83cb-49aa-8d0b-3f2233965060"),
                git(
                    "https://v1platformtest.visualstudio.com/DefaultCollection/_git/V1 Integration",
                    &[("refs/heads/MyNew/Shelveset", "cf383dd370a74a8a5062385f6c1723fcc7cc66eb")],
                    "refs/heads/master",
                ),
            ),
        ),
        (
            "eventgrid-image-pushed",
            fixture!("eventgrid-image-pushed.json"),
            event(
                EVENT_GRID,
                MS_PUSHED,
                Some("c25fdb80-ebbd-4dd0-a29c-a7349e6388f6"),
                oci("jolovcr.azurecr.io/samples/nginx", true, false, &["latest"]),
            ),
        ),
        (
            "eventgrid-cloudevents-image-pushed",
            fixture!("eventgrid-cloudevents-image-pushed.json"),
            event(
                EVENT_GRID,
                MS_PUSHED,
                Some("c25fdb80-ebbd-4dd0-a29c-a7349e6388f6"),
                oci("jolovcr.azurecr.io/samples/nginx", true, false, &["latest"]),
            ),
        ),
        (
            "eventgrid-validation",
            fixture!("eventgrid-validation.json"),
            event(
                EVENT_GRID,
                VALIDATION_EVENT,
                Some("2d1781af-3a4c-4d7c-bd0c-e34b19da4e66"),
                Action::Handshake {
                    status: 200,
                    body: Some(
                        serde_json::from_str(fixture!("eventgrid-validation-response.json"))
                            .unwrap(),
                    ),
                    headers: vec![],
                },
            ),
        ),
    ];
    for (name, body, want) in cases {
        // Recognized by body shape alone, and with the header each sender really sends.
        let header = match want.source {
            ACR => ("user-agent", ACR_UA),
            AZURE_DEVOPS => ("user-agent", ADO_UA),
            _ => ("aeg-event-type", "Notification"),
        };
        let header = if want.event_type == VALIDATION_EVENT {
            ("aeg-event-type", "SubscriptionValidation")
        } else {
            header
        };
        for req in [Req::post(body), Req::post(body).header(header.0, header.1)] {
            assert_eq!(req.send(&open()).as_ref(), Ok(&want), "{name}");
        }
    }
}

#[test]
fn ignored_fixtures_say_why() {
    let cases: [IgnoredRow; 8] = [
        (
            fixture!("acr-delete.json"),
            ACR,
            "delete",
            Some("afc359ce-df7f-4e32-bdde-1ff8aa80927b"),
            &["delete", "no refresh"],
        ),
        (
            fixture!("acr-chart-delete.json"),
            ACR,
            "chart_delete",
            Some("338a3ef7-ad68-4128-xxxx-fdd3af8e8f67"),
            &["chart_delete", "no refresh"],
        ),
        (
            fixture!("acr-quarantine.json"),
            ACR,
            "quarantine",
            Some("0d799b14-404b-4859-b2f6-50c5ee2a2c3a"),
            &["quarantine", "must not be promoted", "no refresh"],
        ),
        // The native chart_push payload has no request object: no host, nothing to refresh.
        (
            fixture!("acr-chart-push.json"),
            ACR,
            "chart_push",
            Some("6356e9e0-627f-4fed-xxxx-d9059b5143ac"),
            &["\"wordpress\" \"5.4.0\"", "no registry host", "no refresh"],
        ),
        (
            fixture!("eventgrid-image-deleted.json"),
            EVENT_GRID,
            "Microsoft.ContainerRegistry.ImageDeleted",
            Some("6fdef14c-2594-41e8-9156-c0376eb0a190"),
            &["ImageDeleted", "no refresh"],
        ),
        (
            fixture!("eventgrid-cloudevents-image-deleted.json"),
            EVENT_GRID,
            "Microsoft.ContainerRegistry.ImageDeleted",
            Some("6fdef14c-2594-41e8-9156-c0376eb0a190"),
            &["ImageDeleted", "no refresh"],
        ),
        (
            fixture!("eventgrid-chart-deleted.json"),
            EVENT_GRID,
            "Microsoft.ContainerRegistry.ChartDeleted",
            Some("39136b3a-1a7e-416f-a09e-5c85d5402fca"),
            &["ChartDeleted", "no refresh"],
        ),
        // The spec example's topic is the placeholder `registries/{name}`: no host to be had.
        (
            fixture!("eventgrid-chart-pushed.json"),
            EVENT_GRID,
            "Microsoft.ContainerRegistry.ChartPushed",
            Some("ea3a9c28-5b17-40f6-a500-3f02b6829277"),
            &["\"mychart\" \"1.0.0\"", "no registry host"],
        ),
    ];
    for (body, source, event_type, id, words) in cases {
        let e = Req::post(body).send(&open()).unwrap();
        assert_eq!(
            (e.source, e.event_type.as_str(), e.provider_id.as_deref()),
            (source, event_type, id)
        );
        let reason = ignored(&e);
        for w in words {
            assert!(reason.contains(w), "{reason:?} lacks {w:?}");
        }
    }
}

#[test]
fn chart_push_with_a_host() {
    // Event Grid: the registry named by `topic`.
    let body = fixture!("eventgrid-chart-pushed.json").replace("{name}", "MyRegistry");
    let e = Req::post(&body).send(&open()).unwrap();
    let helm = |url: &str, chart: &str, versions: &[&str]| {
        Action::Refresh(vec![Target::HelmRepo {
            repo_url: url.into(),
            chart: chart.into(),
            versions: versions.iter().map(|v| v.to_string()).collect(),
        }])
    };
    assert_eq!(
        e.action,
        helm(
            "https://myregistry.azurecr.io/helm/v1/repo",
            "mychart",
            &["1.0.0"]
        )
    );
    // Native payload with request.host: `.tgz` dropped from the version.
    let mut v: Value = serde_json::from_str(fixture!("acr-chart-push.json")).unwrap();
    v["request"] = json!({"host": "reg.azurecr.io"});
    let e = Req::post(v.to_string()).send(&open()).unwrap();
    assert_eq!(
        e.action,
        helm(
            "https://reg.azurecr.io/helm/v1/repo",
            "wordpress",
            &["5.4.0"]
        )
    );
    // No name: taken from the tag `{name}-{version}.tgz`; no version: every version.
    v["target"].as_object_mut().unwrap().remove("name");
    let e = Req::post(v.to_string()).send(&open()).unwrap();
    assert_eq!(
        e.action,
        helm(
            "https://reg.azurecr.io/helm/v1/repo",
            "wordpress",
            &["5.4.0"]
        )
    );
    v["target"].as_object_mut().unwrap().remove("version");
    v["target"]["name"] = json!("wordpress");
    let e = Req::post(v.to_string()).send(&open()).unwrap();
    assert_eq!(
        e.action,
        helm("https://reg.azurecr.io/helm/v1/repo", "wordpress", &[])
    );
}

#[test]
fn arm_event_record_content_is_a_push() {
    // The ARM "list events" record is not a delivery, but its content is: a host with a port.
    let record: Value =
        serde_json::from_str(fixture!("acr-webhook-list-events-example.json")).unwrap();
    let content = record["eventRequestMessage"]["content"].to_string();
    let e = Req::post(content).send(&open()).unwrap();
    assert_eq!(
        e.action,
        oci("192.168.100.227:5000/hello-world", true, false, &["latest"])
    );
    // The record itself is nothing this receiver accepts.
    let r = Req::post(fixture!("acr-webhook-list-events-example.json"))
        .send(&open())
        .unwrap_err();
    assert_eq!(
        (r.status, r.source, r.message.as_str()),
        (400, Source::UNKNOWN, UNRECOGNIZED_BODY.as_str())
    );
}

#[test]
fn media_types_decide_image_or_chart() {
    let cases = [
        (
            Some("application/vnd.cncf.helm.config.v1+json"),
            (false, true),
        ),
        (
            Some("application/vnd.cncf.helm.chart.content.v1.tar+gzip"),
            (false, true),
        ),
        (
            Some("application/vnd.docker.distribution.manifest.v2+json"),
            (true, false),
        ),
        (
            Some("application/vnd.docker.distribution.manifest.list.v2+json"),
            (true, false),
        ),
        (
            Some("application/vnd.oci.image.index.v1+json"),
            (true, false),
        ),
        (
            Some("application/vnd.oci.image.manifest.v1+json"),
            (true, true),
        ),
        (Some("application/x-unknown"), (true, true)),
        (None, (true, true)),
    ];
    for (mt, want) in cases {
        assert_eq!(oci_kinds(mt), want, "{mt:?}");
    }
}

#[test]
fn other_actions_and_event_types_are_ignored() {
    let e = Req::post(r#"{"id":"1","action":"retag","target":{"repository":"a"}}"#)
        .send(&open())
        .unwrap();
    assert_eq!(
        (e.event_type.as_str(), e.provider_id.as_deref()),
        ("retag", Some("1"))
    );
    assert!(ignored(&e).contains("\"retag\""));

    let pr = r#"{"notificationId":12,"eventType":"git.pullrequest.created","publisherId":"tfs","resource":{}}"#;
    let e = Req::post(pr).send(&open()).unwrap();
    assert_eq!(
        (e.source, e.provider_id.as_deref()),
        (super::AZURE_DEVOPS, Some("12"))
    );
    assert!(ignored(&e).contains("git.pullrequest.created"));

    let e = Req::post(r#"[{"id":"x","eventType":"Microsoft.Storage.BlobCreated","data":{}}]"#)
        .send(&open())
        .unwrap();
    assert_eq!(e.source, super::EVENT_GRID);
    assert!(ignored(&e).contains("not an Azure Container Registry push"));
}

#[test]
fn devops_push_keeps_every_ref_update_and_deletions() {
    let body = json!({
        "notificationId": 3, "eventType": "git.push", "publisherId": "tfs",
        "resource": {
            "refUpdates": [
                {"name": "refs/heads/main", "oldObjectId": "a", "newObjectId": "b"},
                {"name": "refs/tags/v1", "oldObjectId": "0000000000000000000000000000000000000000", "newObjectId": "c"},
                {"name": "refs/heads/old", "oldObjectId": "d", "newObjectId": "0000000000000000000000000000000000000000"}
            ],
            "repository": {"remoteUrl": "https://org@dev.azure.com/org/p/_git/r"}
        }
    });
    let e = Req::post(body.to_string()).send(&open()).unwrap();
    let Action::Refresh(targets) = &e.action else {
        panic!("{e:?}")
    };
    let Target::Git {
        repo_url,
        refs,
        default_branch,
        ..
    } = &targets[0]
    else {
        panic!()
    };
    assert_eq!(repo_url, "https://org@dev.azure.com/org/p/_git/r");
    assert_eq!(default_branch, &None);
    assert_eq!(e.provider_id.as_deref(), Some("3"));
    let names: Vec<_> = refs
        .iter()
        .map(|r| (r.name.as_str(), r.is_deletion()))
        .collect();
    assert_eq!(
        names,
        [
            ("refs/heads/main", false),
            ("refs/tags/v1", false),
            ("refs/heads/old", true)
        ]
    );
}

#[test]
fn event_grid_batches_and_handshakes() {
    let pushed: Value = serde_json::from_str(fixture!("eventgrid-image-pushed.json")).unwrap();
    let deleted: Value = serde_json::from_str(fixture!("eventgrid-image-deleted.json")).unwrap();
    let mut second = pushed[0].clone();
    second["id"] = json!("id-2");
    second["data"]["target"]["tag"] = json!("1.25");
    second["data"]["target"]["mediaType"] = json!("application/vnd.oci.image.manifest.v1+json");
    let batch = json!([pushed[0], deleted[0], second]);
    let e = Req::post(batch.to_string()).send(&open()).unwrap();
    assert_eq!(
        e.event_type,
        "Microsoft.ContainerRegistry.ImagePushed,Microsoft.ContainerRegistry.ImageDeleted"
    );
    assert_eq!(
        e.provider_id.as_deref(),
        Some("c25fdb80-ebbd-4dd0-a29c-a7349e6388f6,6fdef14c-2594-41e8-9156-c0376eb0a190,id-2")
    );
    let Action::Refresh(targets) = &e.action else {
        panic!("{e:?}")
    };
    assert_eq!(
        targets,
        &[
            Target::Oci {
                repo_url: "jolovcr.azurecr.io/samples/nginx".into(),
                image: true,
                chart: false,
                tags: vec!["latest".into()]
            },
            Target::Oci {
                repo_url: "jolovcr.azurecr.io/samples/nginx".into(),
                image: true,
                chart: true,
                tags: vec!["1.25".into()]
            },
        ]
    );

    // Only deletions: one Ignore naming each.
    let e = Req::post(json!([deleted[0], deleted[0]]).to_string())
        .send(&open())
        .unwrap();
    assert_eq!(ignored(&e).matches("ImageDeleted").count(), 2);

    // CloudEvents wrapped in an array (Microsoft's own example does this).
    let ce = format!("[{}]", fixture!("eventgrid-cloudevents-image-pushed.json"));
    let e = Req::post(ce).send(&open()).unwrap();
    assert_eq!(
        e.action,
        oci("jolovcr.azurecr.io/samples/nginx", true, false, &["latest"])
    );

    // The namespace-less type of an old doc page.
    let mut short = pushed.clone();
    short[0]["eventType"] = json!("ImagePushed");
    let e = Req::post(short.to_string())
        .header("aeg-event-type", "Notification")
        .send(&open())
        .unwrap();
    assert_eq!(
        e.action,
        oci("jolovcr.azurecr.io/samples/nginx", true, false, &["latest"])
    );

    // Subscription deletion.
    let e = Req::post(
        r#"[{"id":"d","eventType":"Microsoft.EventGrid.SubscriptionDeletedEvent","data":{}}]"#,
    )
    .header("aeg-event-type", "SubscriptionDeletion")
    .send(&open())
    .unwrap();
    assert!(ignored(&e).contains("subscription deleted"));

    // A validation header without a validation event, and a validation event without a code.
    let r = Req::post(fixture!("eventgrid-image-pushed.json"))
        .header("aeg-event-type", "SubscriptionValidation")
        .send(&open())
        .unwrap_err();
    assert_eq!(r.status, 400);
    assert!(r
        .message
        .contains("no event is a Microsoft.EventGrid.SubscriptionValidationEvent"));
    let r = Req::post(
        r#"[{"id":"v","eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","data":{}}]"#,
    )
    .send(&open())
    .unwrap_err();
    assert_eq!(
        r.message,
        "invalid request body: [0].data.validationCode is missing: Event Grid's handshake echoes this code"
    );
}

#[test]
fn options_handshake_echoes_the_origin() {
    // Needs no Authorization even when one is configured.
    let guarded = receiver(&super::TYPE, Some("Bearer t"), Some(("u", "p")));
    let e = Req::post("")
        .method(Method::OPTIONS)
        .header("WebHook-Request-Origin", "eventgrid.azure.net")
        .header("WebHook-Request-Rate", "120")
        .send(&guarded)
        .unwrap();
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        e,
        event(
            super::EVENT_GRID,
            "OPTIONS",
            None,
            Action::Handshake {
                status: 200,
                body: None,
                headers: vec![
                    pair("WebHook-Allowed-Origin", "eventgrid.azure.net"),
                    pair("WebHook-Allowed-Rate", "*"),
                    pair("Allow", "POST"),
                ],
            }
        )
    );
    let e = Req::post("")
        .method(Method::OPTIONS)
        .header("WebHook-Request-Origin", "eventgrid.azure.us")
        .send(&open())
        .unwrap();
    let Action::Handshake { headers, .. } = e.action else {
        panic!()
    };
    assert_eq!(
        headers,
        vec![
            pair("WebHook-Allowed-Origin", "eventgrid.azure.us"),
            pair("Allow", "POST")
        ]
    );
    let r = Req::post("")
        .method(Method::OPTIONS)
        .send(&open())
        .unwrap_err();
    assert_eq!(r.status, 400);
    assert!(r.message.contains("WebHook-Request-Origin"));
}

#[test]
fn authorization_header_rules() {
    let push = fixture!("acr-push.json");
    let validation = fixture!("eventgrid-validation.json");
    let ado = fixture!("azure-devops-git-push.json");
    let bearer = receiver(&super::TYPE, Some("Bearer s3cr3t"), None);
    let custom_scheme = receiver(&super::TYPE, Some("Token s3cr3t"), None);
    // (receiver, body, extra header, Authorization, expected status (0 = accepted), message)
    let cases: Vec<HeaderAuthRow> = vec![
        (
            &bearer,
            push,
            Some(("user-agent", ACR_UA)),
            Some("Bearer s3cr3t"),
            0,
            "",
        ),
        (&bearer, push, None, Some("Bearer s3cr3t"), 0, ""),
        (
            &bearer,
            push,
            Some(("user-agent", ACR_UA)),
            None,
            401,
            "missing authorization",
        ),
        (
            &bearer,
            push,
            Some(("user-agent", ACR_UA)),
            Some("Bearer wrong"),
            401,
            "unauthorized",
        ),
        (
            &bearer,
            push,
            Some(("user-agent", ACR_UA)),
            Some("bearer s3cr3t"),
            401,
            "unauthorized",
        ),
        (
            &bearer,
            push,
            Some(("user-agent", ACR_UA)),
            Some("BEARER S3CR3T"),
            401,
            "unauthorized",
        ),
        (
            &bearer,
            push,
            Some(("user-agent", ACR_UA)),
            Some("Token s3cr3t"),
            401,
            "unauthorized",
        ),
        (
            &custom_scheme,
            push,
            Some(("user-agent", ACR_UA)),
            Some("Token s3cr3t"),
            0,
            "",
        ),
        (
            &custom_scheme,
            push,
            Some(("user-agent", ACR_UA)),
            Some("Bearer s3cr3t"),
            401,
            "unauthorized",
        ),
        // The Event Grid validation handshake needs none (it refreshes nothing and Event Grid
        // does not document sending custom headers with it); Azure DevOps without Basic
        // credentials configured needs the header like the others.
        (
            &bearer,
            validation,
            Some(("aeg-event-type", "SubscriptionValidation")),
            None,
            0,
            "",
        ),
        (
            &bearer,
            validation,
            Some(("aeg-event-type", "SubscriptionValidation")),
            Some("Bearer s3cr3t"),
            0,
            "",
        ),
        (
            &bearer,
            ado,
            Some(("user-agent", ADO_UA)),
            Some("Bearer s3cr3t"),
            0,
            "",
        ),
        (&bearer, ado, None, Some("Bearer x"), 401, "unauthorized"),
        // A wrong credential is refused before the body is even parsed.
        (
            &bearer,
            "{not json",
            Some(("user-agent", ACR_UA)),
            Some("Bearer x"),
            401,
            "unauthorized",
        ),
        (
            &bearer,
            "{not json",
            None,
            None,
            401,
            "missing authorization",
        ),
        (&bearer, "", None, Some("nope"), 401, "unauthorized"),
    ];
    for (i, (r, body, extra, authz, status, message)) in cases.into_iter().enumerate() {
        let mut req = Req::post(body);
        if let Some((k, v)) = extra {
            req = req.header(k, v);
        }
        if let Some(a) = authz {
            req = req.header("authorization", a);
        }
        match req.send(r) {
            Ok(e) => assert_eq!(status, 0, "case {i}: accepted {e:?}"),
            Err(rej) => {
                assert_eq!(
                    (rej.status, rej.message.as_str()),
                    (status, message),
                    "case {i}"
                );
                assert!(!rej.message.contains("s3cr3t"), "case {i}");
            }
        }
    }
}

#[test]
fn basic_auth_rules() {
    // base64("ado:pw") = YWRvOnB3, ("adx:pw") = YWR4OnB3, ("ado:px") = YWRvOnB4
    let ado = fixture!("azure-devops-git-push.json");
    let push = fixture!("acr-push.json");
    let basic = receiver(&super::TYPE, None, Some(("ado", "pw")));
    let both = receiver(&super::TYPE, Some("Bearer s3cr3t"), Some(("ado", "pw")));
    let cases: Vec<BasicAuthRow> = vec![
        (&basic, ado, Some(ADO_UA), Some("Basic YWRvOnB3"), 0, ""),
        (&basic, ado, None, Some("Basic YWRvOnB3"), 0, ""),
        (
            &basic,
            ado,
            Some(ADO_UA),
            None,
            401,
            "missing authorization",
        ),
        (
            &basic,
            ado,
            Some(ADO_UA),
            Some("Basic YWR4OnB3"),
            401,
            "unauthorized",
        ),
        (
            &basic,
            ado,
            Some(ADO_UA),
            Some("Basic YWRvOnB4"),
            401,
            "unauthorized",
        ),
        (
            &basic,
            ado,
            None,
            Some("Basic YWRvOnB4"),
            401,
            "unauthorized",
        ),
        (
            &basic,
            ado,
            Some(ADO_UA),
            Some("Bearer YWRvOnB3"),
            401,
            "unauthorized",
        ),
        // Wrong credentials on a garbage body: 401, not a parse error.
        (
            &basic,
            "{{{{",
            Some(ADO_UA),
            Some("Basic YWR4OnB3"),
            401,
            "unauthorized",
        ),
        // Basic credentials concern Azure DevOps only.
        (&basic, push, Some(ACR_UA), None, 0, ""),
        (&basic, push, None, None, 0, ""),
        // With both: Azure DevOps by Basic, the others by the header.
        (&both, ado, Some(ADO_UA), Some("Basic YWRvOnB3"), 0, ""),
        (
            &both,
            ado,
            Some(ADO_UA),
            Some("Bearer s3cr3t"),
            401,
            "unauthorized",
        ),
        (&both, push, Some(ACR_UA), Some("Bearer s3cr3t"), 0, ""),
        (&both, push, None, Some("Bearer s3cr3t"), 0, ""),
        (
            &both,
            push,
            None,
            Some("Basic YWRvOnB3"),
            401,
            "unauthorized",
        ),
        // Unrecognizable body: still needs the header before it is told so.
        (
            &both,
            r#"{"x":1}"#,
            None,
            None,
            401,
            "missing authorization",
        ),
        (
            &both,
            r#"{"x":1}"#,
            None,
            Some("Bearer s3cr3t"),
            400,
            &UNRECOGNIZED_BODY,
        ),
    ];
    for (i, (r, body, ua, authz, status, message)) in cases.into_iter().enumerate() {
        let mut req = Req::post(body);
        if let Some(ua) = ua {
            req = req.header("user-agent", ua);
        }
        if let Some(a) = authz {
            req = req.header("authorization", a);
        }
        match req.send(r) {
            Ok(e) => assert_eq!(status, 0, "case {i}: accepted {e:?}"),
            Err(rej) => {
                assert_eq!(
                    (rej.status, rej.message.as_str()),
                    (status, message),
                    "case {i}"
                );
                assert!(!rej.message.contains("YWR"), "case {i}");
            }
        }
    }
}

#[test]
fn malformed_requests_are_400_with_the_field() {
    let acr = Some(("user-agent", ACR_UA));
    let ado = Some(("user-agent", ADO_UA));
    let grid = Some(("aeg-event-type", "Notification"));
    let no_resource = format!("resource is missing: {ALL_DETAILS}");
    let no_repository = format!("resource.repository is missing: {ALL_DETAILS}");
    let no_remote_url = format!("resource.repository.remoteUrl is missing: {ALL_DETAILS}");
    let cases: Vec<MalformedRow> = vec![
        (acr, "", super::ACR, None, "request body is empty"),
        (None, "", Source::UNKNOWN, None, "request body is empty"),
        (acr, "{\"action\":", super::ACR, None, "request body is not valid JSON: EOF while parsing a value at line 1 column 10"),
        (acr, r#"[{"action":"push"}]"#, super::ACR, None, "an Azure Container Registry webhook body must be a JSON object, not an array"),
        (acr, r#"{"target":{}}"#, super::ACR, None, "action is missing: every ACR webhook names its action (push, delete, ping …)"),
        (acr, r#"{"action":7}"#, super::ACR, None, "action must be a string, not a number"),
        (None, r#"{"action":"push","request":{"host":"r.azurecr.io"}}"#, super::ACR, Some("push"), "target is missing: an ACR push names the pushed repository in target"),
        (acr, r#"{"action":"push","target":"x","request":{"host":"r.azurecr.io"}}"#, super::ACR, Some("push"), "target must be an object, not a string"),
        (acr, r#"{"action":"push","target":{"repository":"a","tag":5},"request":{"host":"r.azurecr.io"}}"#, super::ACR, Some("push"), "target.tag must be a string, not a number"),
        (acr, r#"{"action":"push","target":{"tag":"1"},"request":{"host":"r.azurecr.io"}}"#, super::ACR, Some("push"), "target.repository is missing: an ACR push names the pushed repository"),
        (acr, r#"{"action":"push","target":{"repository":"a","tag":"1"}}"#, super::ACR, Some("push"), "request.host is missing: ACR always sends the registry host on a push; without it the repository cannot be named"),
        (acr, r#"{"action":"push","id":{},"target":{"repository":"a"}}"#, super::ACR, Some("push"), "id must be a string or a number, not an object"),
        (ado, r#"{"action":"push"}"#, super::AZURE_DEVOPS, None, "eventType is missing: every Azure DevOps service hook names its event type"),
        (ado, r#"{"eventType":"git.push","resource":{"id":"x"}}"#, super::AZURE_DEVOPS, Some("git.push"), &no_repository),
        (None, r#"{"eventType":"git.push","publisherId":"tfs"}"#, super::AZURE_DEVOPS, Some("git.push"), &no_resource),
        (ado, r#"{"eventType":"git.push","resource":{"repository":{"id":"r"}}}"#, super::AZURE_DEVOPS, Some("git.push"), &no_remote_url),
        (ado, r#"{"eventType":"git.push","resource":{"refUpdates":{},"repository":{"remoteUrl":"u"}}}"#, super::AZURE_DEVOPS, Some("git.push"), "resource.refUpdates must be an array, not an object"),
        (ado, r#"{"eventType":"git.push","resource":{"refUpdates":[{"newObjectId":"a"}],"repository":{"remoteUrl":"u"}}}"#, super::AZURE_DEVOPS, Some("git.push"), "resource.refUpdates[0].name is missing: a ref update names the ref it moved"),
        (grid, "[]", super::EVENT_GRID, None, "the Event Grid delivery is an empty array; it carries at least one event"),
        (grid, "[1]", super::EVENT_GRID, None, "an Event Grid event ([0]) must be a JSON object, not a number"),
        (grid, "\"x\"", super::EVENT_GRID, None, "an Event Grid delivery (an array of events or one CloudEvent) must be a JSON object, not a string"),
        (grid, r#"[{"id":"a"}]"#, super::EVENT_GRID, None, "[0].eventType is missing: every Event Grid event names its type"),
        (grid, r#"[{"eventType":"Microsoft.ContainerRegistry.ImagePushed"}]"#, super::EVENT_GRID, Some("Microsoft.ContainerRegistry.ImagePushed"), "[0].data is missing: an ImagePushed event carries the ACR push in data"),
        (None, r#"[{"eventType":"Microsoft.ContainerRegistry.ImagePushed","data":{"target":{"repository":"a","tag":[]},"request":{"host":"h"}}}]"#, super::EVENT_GRID, Some("Microsoft.ContainerRegistry.ImagePushed"), "[0].data.target.tag must be a string, not an array"),
        (None, r#"{"hello":"world"}"#, Source::UNKNOWN, None, UNRECOGNIZED),
        (None, "42", Source::UNKNOWN, None, UNRECOGNIZED),
        (None, r#"[{"a":1}]"#, Source::UNKNOWN, None, UNRECOGNIZED),
        (None, fixture!("github-push.json"), Source::UNKNOWN, None, UNRECOGNIZED),
        (None, fixture!("dockerhub-push.json"), Source::UNKNOWN, None, UNRECOGNIZED),
        (None, fixture!("quay-repo-push.json"), Source::UNKNOWN, None, UNRECOGNIZED),
        (None, fixture!("harbor-cloudevents-push.json"), Source::UNKNOWN, None, UNRECOGNIZED),
        (None, fixture!("harbor-push-artifact.json"), Source::UNKNOWN, None, UNRECOGNIZED),
    ];
    for (i, (header, body, source, event_type, detail)) in cases.into_iter().enumerate() {
        let mut req = Req::post(body);
        if let Some((k, v)) = header {
            req = req.header(k, v);
        }
        let r = req.send(&open()).unwrap_err();
        // Kargo's words first, then the detail (the table lists the details).
        let message = format!("invalid request body: {detail}");
        assert_eq!(
            (
                r.status,
                r.source,
                r.event_type.as_deref(),
                r.message.as_str()
            ),
            (400, source, event_type, message.as_str()),
            "case {i}"
        );
    }
}

#[test]
fn header_detection_overrides_shape() {
    // An ACR-shaped body sent by Azure DevOps is read as Azure DevOps, and the reverse.
    let r = Req::post(fixture!("acr-push.json"))
        .header("user-agent", ADO_UA)
        .send(&open())
        .unwrap_err();
    assert_eq!((r.source, r.status), (super::AZURE_DEVOPS, 400));
    let r = Req::post(fixture!("azure-devops-git-push.json"))
        .header("user-agent", ACR_UA)
        .send(&open())
        .unwrap_err();
    assert_eq!((r.source, r.status), (super::ACR, 400));
    let r = Req::post(fixture!("acr-push.json"))
        .header("aeg-event-type", "Notification")
        .send(&open())
        .unwrap_err();
    assert_eq!(r.source, super::EVENT_GRID);
    // A user agent that merely mentions ACR later on is not ACR.
    let e = Req::post(fixture!("azure-devops-git-push.json"))
        .header("user-agent", "curl/8 AzureContainerRegistry")
        .send(&open())
        .unwrap();
    assert_eq!(e.source, super::AZURE_DEVOPS);
}

#[test]
fn registry_host_from_topic() {
    let cases = [
        ("/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/MyReg01", Some("myreg01.azurecr.io")),
        ("/subscriptions/s/providers/Microsoft.ContainerRegistry/registries/{name}", None),
        ("/subscriptions/s/providers/Microsoft.ContainerRegistry/registries/", None),
        ("/subscriptions/s/providers/Microsoft.ContainerRegistry/registries/abc", None),
        ("/subscriptions/s", None),
        ("", None),
    ];
    for (arm, want) in cases {
        assert_eq!(registry_host_from_arm_id(arm).as_deref(), want, "{arm}");
    }
}

#[test]
fn never_panics_on_any_input() {
    let bodies = [
        fixture!("acr-ping.json"),
        fixture!("acr-push.json"),
        fixture!("acr-push-captured.json"),
        fixture!("acr-push-digest-only.json"),
        fixture!("acr-push-helm-oci.json"),
        fixture!("acr-delete.json"),
        fixture!("acr-chart-push.json"),
        fixture!("acr-chart-delete.json"),
        fixture!("acr-quarantine.json"),
        fixture!("acr-webhook-list-events-example.json"),
        fixture!("azure-devops-git-push.json"),
        fixture!("azure-devops-git-push-docs-sample.json"),
        fixture!("azure-devops-git-push-visualstudio-legacy.json"),
        fixture!("eventgrid-image-pushed.json"),
        fixture!("eventgrid-image-deleted.json"),
        fixture!("eventgrid-chart-pushed.json"),
        fixture!("eventgrid-chart-deleted.json"),
        fixture!("eventgrid-cloudevents-image-pushed.json"),
        fixture!("eventgrid-cloudevents-image-deleted.json"),
        fixture!("eventgrid-validation.json"),
    ];
    let open = open();
    let both = receiver(&super::TYPE, Some("Bearer t"), Some(("u", "p")));
    let basic = receiver(&super::TYPE, None, Some(("u", "p")));
    let combos: [(&Receiver, &[(&str, &str)]); 6] = [
        (&open, &[]),
        (&open, &[("user-agent", ACR_UA)]),
        (&open, &[("user-agent", ADO_UA)]),
        (&open, &[("aeg-event-type", "SubscriptionValidation")]),
        (&both, &[("authorization", "Bearer t")]),
        (&basic, &[("authorization", "Basic dTpw")]),
    ];
    for (r, hs) in combos {
        never_panics(
            |body| {
                let mut req = Req::post(body);
                for (k, v) in hs {
                    req = req.header(k, v);
                }
                req.send(r)
            },
            &bodies,
        );
    }
}

#[test]
fn merged_or_abandoned_pull_requests_refresh_the_promotions_waiting_on_them() {
    let href = "https://dev.azure.com/org/proj/_git/repo/pullrequest/7";
    let body = |event: &str, status: &str| {
        json!({"id": "pr-1", "eventType": event, "publisherId": "tfs",
               "resource": {"status": status, "pullRequestId": 7,
                            "_links": {"web": {"href": href}}}})
        .to_string()
    };
    let wants = Action::RefreshPromotions {
        pr_url: href.into(),
    };
    for (event, status, refresh) in [
        ("git.pullrequest.merged", "completed", true),
        ("git.pullrequest.updated", "abandoned", true),
        ("git.pullrequest.updated", "active", false),
    ] {
        let e = Req::post(body(event, status))
            .header("User-Agent", ADO_UA)
            .send(&open())
            .unwrap();
        assert_eq!(e.event_type, event);
        if refresh {
            assert_eq!(e.action, wants, "{event} {status}");
        } else {
            assert!(ignored(&e).contains("\"active\""), "{event} {status}");
        }
    }
    // A merged pull request without its web URL cannot name the Promotions: 400.
    let r = Req::post(r#"{"eventType":"git.pullrequest.merged","publisherId":"tfs","resource":{"status":"completed"}}"#)
        .send(&open())
        .unwrap_err();
    assert_eq!(r.status, 400);
    assert!(r.message.contains("resource._links"), "{}", r.message);
}
