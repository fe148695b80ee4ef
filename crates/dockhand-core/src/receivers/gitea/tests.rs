//! Table tests of the gitea receiver: the Gitea fixtures, both signature headers, events we do
//! not act on, malformed bodies, and the never-panics sweep.

use super::super::test_support::{fixture, never_panics, receiver, sign_sha256, Req};
use super::*;

const SECRET_VALUE: &str = "url-secret";

fn gitea() -> Receiver {
    receiver(&super::TYPE, None, None)
}

fn send(event: &str, body: impl AsRef<[u8]>) -> Result<Event, Rejection> {
    let body = body.as_ref();
    Req::post(body)
        .header("x-gitea-event", event)
        .header("x-gitea-delivery", "g-1")
        .header("x-hub-signature-256", &sign_sha256(SECRET_VALUE, body))
        .send(&gitea())
}

#[test]
fn fixtures_give_exact_actions() {
    let cases = [
        (
            "push",
            fixture!("gitea-push-docs.json"),
            // HTTP on :3000 and SSH on :2222 are two repository keys: one target each.
            Action::Refresh(
                [
                    "http://localhost:3000/gitea/webhooks.git",
                    "ssh://gitea@localhost:2222/gitea/webhooks.git",
                ]
                .map(|url| Target::Git {
                    repo_url: url.into(),
                    refs: vec![RefUpdate {
                        name: "refs/heads/develop".into(),
                        new_object_id: "bffeb74224043ba2feb48d137756c8a9331c449a".into(),
                    }],
                    default_branch: Some("refs/heads/main".into()),
                    changed_paths: Some(vec![]),
                })
                .to_vec(),
            ),
        ),
        (
            "pull_request",
            fixture!("gitea-pull-request-merged.json"),
            Action::RefreshPromotions {
                pr_url: "https://try.gitea.io/jcitizen/my-repo/pulls/1".into(),
            },
        ),
        (
            "create",
            "{}",
            Action::Ignore {
                reason: "Gitea event \"create\" is not handled: push and pull_request are".into(),
            },
        ),
        (
            "pull_request",
            r#"{"action":"opened"}"#,
            Action::Ignore {
                reason: "pull request \"opened\": only a closed pull request concerns Kargo".into(),
            },
        ),
    ];
    for (event_type, body, action) in cases {
        let e = send(event_type, body).unwrap_or_else(|r| panic!("{event_type}: {r:?}"));
        assert_eq!(
            e,
            Event {
                source: GITEA,
                event_type: event_type.into(),
                provider_id: Some("g-1".into()),
                action,
            }
        );
    }
}

#[test]
fn signatures() {
    let body = fixture!("gitea-push-docs.json");
    let good = sign_sha256(SECRET_VALUE, body.as_bytes());
    // X-Gitea-Signature alone: the bare hex.
    let e = Req::post(body)
        .header("x-gitea-event", "push")
        .header("x-gitea-signature", &good[7..])
        .send(&gitea());
    assert!(e.is_ok(), "{e:?}");
    let cases: [(&str, &str, &str); 4] = [
        ("x-gitea-signature", &good, "unauthorized"),
        ("x-hub-signature-256", &good[7..], "unauthorized"),
        ("x-hub-signature", "sha1=00", "missing signature"),
        ("x-gitea-delivery", "g", "missing signature"),
    ];
    for (header, value, message) in cases {
        let r = Req::post(body)
            .header("x-gitea-event", "push")
            .header(header, value)
            .send(&gitea())
            .unwrap_err();
        assert_eq!(
            (r.status, r.message.as_str(), r.source),
            (401, message, GITEA),
            "{header}"
        );
    }
    // X-Hub-Signature-256 decides when both are sent: a wrong one fails even with a good
    // X-Gitea-Signature.
    let r = Req::post(body)
        .header("x-gitea-event", "push")
        .header(
            "x-hub-signature-256",
            &sign_sha256("other", body.as_bytes()),
        )
        .header("x-gitea-signature", &good[7..])
        .send(&gitea())
        .unwrap_err();
    assert_eq!(r.status, 401);
}

#[test]
fn malformed_bodies_are_400_naming_the_field() {
    let cases = [
        (
            "push",
            "payload=%7B%7D",
            "request body is not valid JSON: expected value at line 1 column 1",
        ),
        (
            "push",
            r#"{"ref":"refs/heads/main"}"#,
            "repository is missing: a push names its repository",
        ),
        (
            "push",
            r#"{"ref":"refs/heads/main","repository":{},"total_commits":1}"#,
            "repository.clone_url is missing: a push names its repository's URL",
        ),
        (
            "pull_request",
            r#"{"action":"closed","pull_request":{"html_url":5}}"#,
            "pull_request.html_url must be a string, not a number",
        ),
    ];
    for (event_type, body, detail) in cases {
        let r = send(event_type, body).unwrap_err();
        assert_eq!(
            (r.status, r.message.clone()),
            (400, format!("invalid request body: {detail}")),
            "{body}"
        );
    }
}

#[test]
fn never_panics_on_any_body() {
    for (event, body) in [
        ("push", fixture!("gitea-push-docs.json")),
        ("pull_request", fixture!("gitea-pull-request-merged.json")),
    ] {
        never_panics(|b| send(event, b), &[body]);
    }
}
