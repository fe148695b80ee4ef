//! Table tests of the gitlab receiver: every GitLab fixture, the token rules, events we do not
//! act on, malformed bodies, and the never-panics sweep.

use super::super::test_support::{fixture, never_panics, receiver, Req};
use super::*;

/// `receiver()` puts `url-secret` under the URL key, which is the token here.
const TOKEN: &str = "url-secret";

fn gitlab() -> Receiver {
    receiver(&super::TYPE, None, None)
}

fn send(event: &str, body: impl AsRef<[u8]>) -> Result<Event, Rejection> {
    Req::post(body)
        .header("x-gitlab-event", event)
        .header("x-gitlab-token", TOKEN)
        .header("idempotency-key", "k-1")
        .send(&gitlab())
}

fn git(url: &str, r: &str, after: &str, paths: Option<&[&str]>) -> Action {
    Action::Refresh(vec![Target::Git {
        repo_url: url.into(),
        refs: vec![RefUpdate {
            name: r.into(),
            new_object_id: after.into(),
        }],
        default_branch: Some("refs/heads/master".into()),
        changed_paths: paths.map(|p| p.iter().map(|s| s.to_string()).collect()),
    }])
}

#[test]
fn fixtures_give_exact_actions() {
    let cases = [
        (
            // The docs' example lists 2 of 4 commits: paths unknown, no path filtering.
            "Push Hook",
            fixture!("gitlab-push.json"),
            git(
                "http://example.com/mike/diaspora.git",
                "refs/heads/master",
                "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
                None,
            ),
        ),
        (
            "Tag Push Hook",
            fixture!("gitlab-tag-push.json"),
            git(
                "http://example.com/jsmith/example.git",
                "refs/tags/v1.0.0",
                "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7",
                None,
            ),
        ),
        (
            "Merge Request Hook",
            fixture!("gitlab-merge-request-merged.json"),
            Action::RefreshPromotions {
                pr_url: "https://gitlab.com/gitlab-org/hello-world/merge_requests/1".into(),
            },
        ),
        (
            "Merge Request Hook",
            fixture!("gitlab-merge-request-docs.json"),
            Action::Ignore {
                reason: "merge request \"open\": only a merged or closed merge request concerns Kargo".into(),
            },
        ),
        (
            "Pipeline Hook",
            "{}",
            Action::Ignore {
                reason: "GitLab event \"Pipeline Hook\" is not handled: Push Hook, Tag Push Hook and Merge Request Hook are".into(),
            },
        ),
    ];
    for (event_type, body, action) in cases {
        let e = send(event_type, body).unwrap_or_else(|r| panic!("{event_type}: {r:?}"));
        assert_eq!(
            e,
            Event {
                source: GITLAB,
                event_type: event_type.into(),
                provider_id: Some("k-1".into()),
                action,
            }
        );
    }
}

#[test]
fn pushes_paths_deletions_and_closed_merge_requests() {
    let push = serde_json::json!({
        "ref": "refs/heads/main", "after": "0000000000000000000000000000000000000000",
        "project": {"git_http_url": "https://gitlab.com/g/p.git", "default_branch": "main"},
        "total_commits_count": 1,
        "commits": [{"added": ["a"], "modified": ["b", "a"], "removed": []}]
    })
    .to_string();
    let Action::Refresh(targets) = send("Push Hook", &push).unwrap().action else {
        panic!("not a refresh");
    };
    let Target::Git {
        refs,
        changed_paths,
        default_branch,
        ..
    } = &targets[0]
    else {
        panic!("not git");
    };
    assert!(refs[0].is_deletion());
    assert_eq!(
        changed_paths.as_deref(),
        Some(&["a".to_string(), "b".to_string()][..])
    );
    assert_eq!(default_branch.as_deref(), Some("refs/heads/main"));
    let close = r#"{"object_attributes":{"action":"close","url":"https://gitlab.com/g/p/-/merge_requests/2"}}"#;
    assert_eq!(
        send("Merge Request Hook", close).unwrap().action,
        Action::RefreshPromotions {
            pr_url: "https://gitlab.com/g/p/-/merge_requests/2".into(),
        }
    );
}

#[test]
fn token_rules() {
    let body = fixture!("gitlab-push.json");
    for (token, message) in [
        (None, "missing token"),
        (Some(""), "missing token"),
        (Some("url-secre"), "unauthorized"),
        (Some("Url-secret"), "unauthorized"),
    ] {
        let mut req = Req::post(body).header("x-gitlab-event", "Push Hook");
        if let Some(t) = token {
            req = req.header("x-gitlab-token", t);
        }
        let r = req.send(&gitlab()).unwrap_err();
        assert_eq!(
            (r.status, r.message.as_str(), r.source),
            (401, message, GITLAB)
        );
    }
}

#[test]
fn malformed_bodies_are_400_naming_the_field() {
    let cases = [
        ("Push Hook", "", "request body is empty"),
        (
            "Push Hook",
            "[]",
            "a GitLab webhook body must be a JSON object, not an array",
        ),
        (
            "Push Hook",
            r#"{"project":{}}"#,
            "ref is missing: a push names the ref it moved",
        ),
        (
            "Push Hook",
            r#"{"ref":"refs/heads/main"}"#,
            "project.git_http_url is missing: a push names its repository's URL",
        ),
        (
            "Tag Push Hook",
            r#"{"ref":"refs/tags/v1","project":{"git_http_url":5}}"#,
            "project.git_http_url must be a string, not a number",
        ),
        (
            "Merge Request Hook",
            r#"{"object_kind":"merge_request"}"#,
            "object_attributes is missing: a merge request event carries the merge request",
        ),
        (
            "Merge Request Hook",
            r#"{"object_attributes":{"action":"merge"}}"#,
            "object_attributes.url is missing: Kargo knows a merge request by its web URL",
        ),
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
    let r = Req::post("{}")
        .header("x-gitlab-token", TOKEN)
        .send(&gitlab())
        .unwrap_err();
    assert_eq!(r.status, 400);
}

#[test]
fn never_panics_on_any_body() {
    for (event, body) in [
        ("Push Hook", fixture!("gitlab-push.json")),
        (
            "Merge Request Hook",
            fixture!("gitlab-merge-request-merged.json"),
        ),
    ] {
        never_panics(|b| send(event, b), &[body]);
    }
}
