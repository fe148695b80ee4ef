//! Table tests of the bitbucket receiver: every Bitbucket Cloud and Server fixture, the
//! signature rules, the source detection, events we do not act on, malformed bodies, and the
//! never-panics sweep.

use super::super::test_support::{fixture, never_panics, receiver, sign_sha256, Req};
use super::*;

const SECRET_VALUE: &str = "url-secret";

fn bitbucket() -> Receiver {
    receiver(&super::TYPE, None, None)
}

fn send(event: &str, body: impl AsRef<[u8]>) -> Result<Event, Rejection> {
    let body = body.as_ref();
    Req::post(body)
        .header("x-event-key", event)
        .header("x-request-uuid", "b-1")
        .header("x-hub-signature", &sign_sha256(SECRET_VALUE, body))
        .send(&bitbucket())
}

fn git(url: &str, refs: &[(&str, &str)]) -> Action {
    git2(&[url], refs)
}

/// One target per clone link (their repository keys differ).
fn git2(urls: &[&str], refs: &[(&str, &str)]) -> Action {
    Action::Refresh(
        urls.iter()
            .map(|url| Target::Git {
                repo_url: url.to_string(),
                refs: refs
                    .iter()
                    .map(|(n, h)| RefUpdate {
                        name: n.to_string(),
                        new_object_id: h.to_string(),
                    })
                    .collect(),
                default_branch: None,
                changed_paths: None,
            })
            .collect(),
    )
}

const AROL: &str = "https://bitbucket.org/arolgroup/j0664-ns2-firmware";
const MERGE: &str = "6ca0691239785a619fa1dce7bf1073f50499cd60";
const ZEROS: &str = "0000000000000000000000000000000000000000";

#[test]
fn fixtures_give_exact_actions() {
    let cases = [
        ("repo:push", fixture!("bitbucket-cloud-repo-push-captured.json"), BITBUCKET_CLOUD, git(AROL, &[("refs/heads/main", MERGE)])),
        ("repo:push", fixture!("bitbucket-cloud-repo-push-branch-created-captured.json"), BITBUCKET_CLOUD, git(AROL, &[("refs/heads/gt/develop", MERGE)])),
        ("repo:push", fixture!("bitbucket-cloud-repo-push-branch-deleted-captured.json"), BITBUCKET_CLOUD, git(AROL, &[("refs/heads/feat/sync-from-bitbucket", ZEROS)])),
        ("repo:push", fixture!("bitbucket-cloud-repo-push-tag-created.json"), BITBUCKET_CLOUD, git("https://bitbucket.org/brydzewski/foo", &[("refs/tags/feature/x", "141977fedf5cf35aa290ac87d4b5177ac4cd9de1")])),
        ("pullrequest:fulfilled", fixture!("bitbucket-cloud-pullrequest-fulfilled-captured.json"), BITBUCKET_CLOUD, Action::RefreshPromotions {
            pr_url: format!("{AROL}/pull-requests/6"),
        }),
        ("repo:refs_changed", fixture!("bitbucket-server-repo-refs-changed-branch-deleted.json"), BITBUCKET_SERVER, git2(
            &["https://server.bitbucket.local/scm/~gopher/webhook-test.git", "ssh://git@server.bitbucket.local:7999/~gopher/webhook-test.git"],
            &[("refs/heads/feature/wip", ZEROS)])),
        ("pr:merged", fixture!("bitbucket-server-pr-merged.json"), BITBUCKET_SERVER, Action::RefreshPromotions {
            pr_url: "https://server.bitbucket.local/users/gopher/repos/webhook-test/pull-requests/5".into(),
        }),
        ("diagnostics:ping", fixture!("bitbucket-server-diagnostics-ping.json"), BITBUCKET_SERVER, Action::Ping),
        ("repo:fork", "{}", BITBUCKET_CLOUD, Action::Ignore {
            reason: "Bitbucket event \"repo:fork\" is not handled: repo:push, repo:refs_changed, pullrequest:fulfilled/rejected, pr:merged/declined and diagnostics:ping are".into(),
        }),
    ];
    for (event_type, body, source, action) in cases {
        let e = send(event_type, body).unwrap_or_else(|r| panic!("{event_type}: {r:?}"));
        assert_eq!(
            e,
            Event {
                source,
                event_type: event_type.into(),
                provider_id: Some("b-1".into()),
                action,
            },
            "{event_type}"
        );
    }
}

#[test]
fn server_refs_with_and_without_prefix_and_tag_creation() {
    let body = |id: &str, kind: &str| {
        serde_json::json!({
            "repository": {"links": {"clone": [
                {"href": "ssh://git@bb.local:7999/p/r.git", "name": "ssh"},
                {"href": "https://bb.local/scm/p/r.git", "name": "http"}]}},
            "changes": [{"ref": {"id": id, "type": kind}, "toHash": "abc", "type": "ADD"}]
        })
        .to_string()
    };
    for (id, kind, full) in [
        ("refs/heads/main", "BRANCH", "refs/heads/main"),
        ("main", "BRANCH", "refs/heads/main"),
        ("v1.0.0", "TAG", "refs/tags/v1.0.0"),
        ("refs/tags/v1.0.0", "TAG", "refs/tags/v1.0.0"),
    ] {
        assert_eq!(
            send("repo:refs_changed", body(id, kind)).unwrap().action,
            git2(
                &[
                    "https://bb.local/scm/p/r.git",
                    "ssh://git@bb.local:7999/p/r.git"
                ],
                &[(full, "abc")]
            ),
            "{id}"
        );
    }
    // The tag fixture has no clone links, as the docs' example: the repository cannot be named.
    let r = send(
        "repo:refs_changed",
        fixture!("bitbucket-server-repo-refs-changed-tag-created.json"),
    )
    .unwrap_err();
    assert_eq!(r.status, 400);
    assert!(
        r.message
            .starts_with("invalid request body: repository.links.clone is missing"),
        "{}",
        r.message
    );
}

#[test]
fn signatures_sha256_and_sha1() {
    use hmac::{Hmac, Mac};
    let body = fixture!("bitbucket-cloud-repo-push-captured.json");
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(SECRET_VALUE.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let sha1: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let ok = Req::post(body)
        .header("x-event-key", "repo:push")
        .header("x-hub-signature", &format!("sha1={sha1}"))
        .send(&bitbucket());
    assert!(ok.is_ok(), "{ok:?}");
    let good = sign_sha256(SECRET_VALUE, body.as_bytes());
    for (value, message, source) in [
        (None, "missing signature", BITBUCKET_CLOUD),
        (Some(""), "missing signature", BITBUCKET_CLOUD),
        (Some(&good[7..]), "unauthorized", BITBUCKET_CLOUD),
        (Some("sha1=00"), "unauthorized", BITBUCKET_CLOUD),
        (
            Some(&sign_sha256("other", body.as_bytes())[..]),
            "unauthorized",
            BITBUCKET_CLOUD,
        ),
    ] {
        let mut req = Req::post(body).header("x-event-key", "repo:push");
        if let Some(v) = value {
            req = req.header("x-hub-signature", v);
        }
        let r = req.send(&bitbucket()).unwrap_err();
        assert_eq!(
            (r.status, r.message.as_str(), r.source),
            (401, message, source)
        );
    }
    // An unsigned ping is refused: the ping is what tells a user the secret is right.
    let r = Req::post("{}")
        .header("x-event-key", "diagnostics:ping")
        .send(&bitbucket())
        .unwrap_err();
    assert_eq!((r.status, r.source), (401, BITBUCKET_SERVER));
}

#[test]
fn malformed_bodies_are_400_naming_the_field() {
    let cases = [
        ("repo:push", "{", "request body is not valid JSON: EOF while parsing an object at line 1 column 1"),
        ("repo:push", "{}", "repository is missing: a push names its repository"),
        ("repo:push", r#"{"repository":{"links":{"html":{"href":"https://bitbucket.org/o/r"}}}}"#, "push is missing: a push lists its changes in push"),
        ("repo:push", r#"{"repository":{"links":{"html":{"href":"u"}}},"push":{"changes":[{"new":{"type":"branch"}}]}}"#, "push.changes[0].new.name is missing: a change names the branch or tag"),
        ("repo:refs_changed", r#"{"repository":{"links":{"clone":[{"href":"h"}]}},"changes":[{"toHash":"a"}]}"#, "changes[0].ref.id is missing: a change names its ref"),
        ("pullrequest:rejected", r#"{"pullrequest":{}}"#, "pullrequest.links.html.href is missing: Kargo knows a pull request by its web URL"),
        ("pr:declined", r#"{"pullRequest":{"links":{"self":[]}}}"#, "pullRequest.links.self is missing: Kargo knows a pull request by its web URL (links.self[0].href)"),
    ];
    for (event_type, body, detail) in cases {
        let r = send(event_type, body).unwrap_err();
        assert_eq!(
            (r.status, r.message.clone(), r.event_type.as_deref()),
            (
                400,
                format!("invalid request body: {detail}"),
                Some(event_type)
            ),
            "{body}"
        );
    }
}

#[test]
fn never_panics_on_any_body() {
    for (event, body) in [
        (
            "repo:push",
            fixture!("bitbucket-cloud-repo-push-captured.json"),
        ),
        (
            "repo:refs_changed",
            fixture!("bitbucket-server-repo-refs-changed-branch-deleted.json"),
        ),
        ("pr:merged", fixture!("bitbucket-server-pr-merged.json")),
    ] {
        never_panics(|b| send(event, b), &[body]);
    }
}
