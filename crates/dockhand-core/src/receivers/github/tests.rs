//! Table tests of the github receiver: every GitHub fixture, the signature rules, events we do
//! not act on, malformed bodies, and the never-panics sweep.

use super::super::test_support::{fixture, never_panics, receiver, sign_sha256, Req};
use super::*;

/// `receiver()` puts `url-secret` under the URL key, which is the HMAC key here.
const SECRET_VALUE: &str = "url-secret";

fn github() -> Receiver {
    receiver(&super::TYPE, None, None)
}

fn send(event: &str, body: impl AsRef<[u8]>) -> Result<Event, Rejection> {
    let body = body.as_ref();
    Req::post(body)
        .header("x-github-event", event)
        .header("x-github-delivery", "d-1")
        .header("x-hub-signature-256", &sign_sha256(SECRET_VALUE, body))
        .send(&github())
}

fn git(url: &str, reference: &str, after: &str, default: &str, paths: &[&str]) -> Action {
    Action::Refresh(vec![Target::Git {
        repo_url: url.into(),
        refs: vec![RefUpdate {
            name: reference.into(),
            new_object_id: after.into(),
        }],
        default_branch: Some(default.into()),
        changed_paths: Some(paths.iter().map(|p| p.to_string()).collect()),
    }])
}

fn oci(url: &str, image: bool, chart: bool, tags: &[&str]) -> Action {
    Action::Refresh(vec![Target::Oci {
        repo_url: url.into(),
        image,
        chart,
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }])
}

const JSONNET: [&str; 3] = [
    "ksapps/test-app/environments/staging-argocd-demo/main.jsonnet",
    "ksapps/test-app/environments/staging-argocd-demo/params.libsonnet",
    "ksapps/test-app/app.yaml",
];

#[test]
fn fixtures_give_exact_actions() {
    let zeros = "0".repeat(40);
    let cases: Vec<(&str, &str, Action)> = vec![
        (
            "push",
            fixture!("github-push.json"),
            git(
                "https://github.com/jessesuen/test-repo.git",
                "refs/heads/master",
                "63738bb582c8b540af7bcfc18f87c575c3ed66e0",
                "refs/heads/master",
                &JSONNET,
            ),
        ),
        (
            "push",
            fixture!("github-push-tag-created.json"),
            git(
                "https://github.com/jessesuen/test-repo.git",
                "refs/tags/v1.0",
                "63738bb582c8b540af7bcfc18f87c575c3ed66e0",
                "refs/heads/master",
                &JSONNET,
            ),
        ),
        (
            // A deleted tag: the ref is kept so the delivery explains why nothing refreshed.
            "push",
            fixture!("github-push-tag-deleted.json"),
            git(
                "https://github.com/Codertocat/Hello-World.git",
                "refs/tags/simple-tag",
                &zeros,
                "refs/heads/master",
                &[],
            ),
        ),
        ("ping", fixture!("github-ping.json"), Action::Ping),
        ("ping", fixture!("github-ping-captured.json"), Action::Ping),
        (
            "pull_request",
            fixture!("github-pull-request-closed-merged-captured.json"),
            Action::RefreshPromotions {
                pr_url: "https://github.com/ailisp/gcbapp-buildconfig-example/pull/3".into(),
            },
        ),
        (
            // A multi-arch index: the config media type is empty, the manifest's says image.
            "package",
            fixture!("github-package-published-container-captured.json"),
            oci("ghcr.io/theryangeary/www", true, false, &["0e2a89b"]),
        ),
        (
            "package",
            fixture!("github-package-published.json"),
            Action::Ignore {
                reason: "package type \"npm\" is not a container image or OCI chart; no refresh"
                    .into(),
            },
        ),
        (
            "registry_package",
            fixture!("github-registry-package-published-docs.json"),
            Action::Ignore {
                reason: "package type \"npm\" is not a container image or OCI chart; no refresh"
                    .into(),
            },
        ),
        (
            "issues",
            fixture!("github-ping.json"),
            Action::Ignore {
                reason: "GitHub event \"issues\" is not handled: push, package, \
                         registry_package and pull_request are"
                    .into(),
            },
        ),
    ];
    for (event_type, body, action) in cases {
        let e = send(event_type, body).unwrap_or_else(|r| panic!("{event_type}: {r:?}"));
        assert_eq!(
            e,
            Event {
                source: GITHUB,
                event_type: event_type.into(),
                provider_id: Some("d-1".into()),
                action,
            }
        );
    }
}

#[test]
fn ghcr_packages_by_media_type_tag_and_action() {
    let package =
        |event: &str, action: &str, pkg_type: &str, url: &str, tag: &str, config: &str| {
            let key = if event == "package" {
                "package"
            } else {
                "registry_package"
            };
            serde_json::json!({
                "action": action,
                key: {"package_type": pkg_type, "package_version": {
                    "package_url": url,
                    "container_metadata": {
                        "tag": {"name": tag, "digest": "sha256:ab"},
                        "manifest": {"media_type": "application/vnd.oci.image.manifest.v1+json",
                                     "config": {"media_type": config}}
                    }
                }}
            })
            .to_string()
        };
    let helm = "application/vnd.cncf.helm.config.v1+json";
    let image = "application/vnd.oci.image.config.v1+json";
    let cases = [
        (
            package(
                "package",
                "published",
                "CONTAINER",
                "ghcr.io/o/chart:1.2.3",
                "1.2.3",
                helm,
            ),
            oci("ghcr.io/o/chart", false, true, &["1.2.3"]),
        ),
        (
            package(
                "registry_package",
                "updated",
                "docker",
                "ghcr.io/o/app:",
                "",
                image,
            ),
            oci("ghcr.io/o/app", true, false, &[]),
        ),
        (
            // Unknown config type, pushed by digest: both kinds, every subscriber.
            package(
                "package",
                "published",
                "CONTAINER",
                "ghcr.io/o/x@sha256:ab",
                "",
                "x/y",
            ),
            oci("ghcr.io/o/x", true, true, &[]),
        ),
        (
            package(
                "package",
                "published",
                "CONTAINER",
                "ghcr.io:443/o/x:v1",
                "v1",
                "",
            ),
            // The manifest's plain OCI type: image or chart.
            oci("ghcr.io:443/o/x", true, true, &["v1"]),
        ),
        (
            package(
                "package",
                "deleted",
                "CONTAINER",
                "ghcr.io/o/x:v1",
                "v1",
                image,
            ),
            Action::Ignore {
                reason: "package \"deleted\": only published and updated packages refresh".into(),
            },
        ),
    ];
    for (body, action) in cases {
        let event = if body.contains("registry_package") {
            "registry_package"
        } else {
            "package"
        };
        assert_eq!(send(event, &body).unwrap().action, action, "{body}");
    }
}

#[test]
fn pull_requests() {
    let pr = |action: &str, merged: bool| {
        serde_json::json!({"action": action, "pull_request": {
            "html_url": "https://github.com/o/r/pull/7", "merged": merged}})
        .to_string()
    };
    assert_eq!(
        send("pull_request", pr("closed", false)).unwrap().action,
        Action::RefreshPromotions {
            pr_url: "https://github.com/o/r/pull/7".into(),
        }
    );
    assert_eq!(
        send("pull_request", pr("opened", false)).unwrap().action,
        Action::Ignore {
            reason: "pull request \"opened\": only a closed pull request concerns Kargo".into()
        }
    );
}

#[test]
fn signatures() {
    let body = fixture!("github-push.json");
    let good = sign_sha256(SECRET_VALUE, body.as_bytes());
    let other = sign_sha256("other", body.as_bytes());
    let cases: [(&[&str], u16, &str); 5] = [
        (&[], 401, "missing signature"),
        (&[""], 401, "missing signature"),
        (&[&other], 401, "unauthorized"),
        (&[&good[7..]], 401, "unauthorized"),
        (&[&good, &good], 401, "unauthorized"),
    ];
    for (values, status, message) in cases {
        let mut req = Req::post(body).header("x-github-event", "push");
        for v in values {
            req = req.header("x-hub-signature-256", v);
        }
        let r = req.send(&github()).unwrap_err();
        assert_eq!(
            (r.status, r.message.as_str(), r.source),
            (status, message, GITHUB)
        );
    }
    // The legacy sha1 header alone is not enough, and a body changed after signing fails.
    let r = Req::post(body)
        .header("x-github-event", "push")
        .header("x-hub-signature", "sha1=0000")
        .send(&github())
        .unwrap_err();
    assert_eq!((r.status, r.message.as_str()), (401, "missing signature"));
    let r = Req::post(format!("{body} "))
        .header("x-github-event", "push")
        .header("x-hub-signature-256", &good)
        .send(&github())
        .unwrap_err();
    assert_eq!((r.status, r.message.as_str()), (401, "unauthorized"));
    // Authentication comes before the event type: an unsigned ping is refused too.
    let r = Req::post("{}")
        .header("x-github-event", "ping")
        .send(&github())
        .unwrap_err();
    assert_eq!(r.status, 401);
}

#[test]
fn malformed_bodies_are_400_naming_the_field() {
    let cases = [
        ("push", "", "request body is empty"),
        ("push", "{", "request body is not valid JSON: EOF while parsing an object at line 1 column 1"),
        ("push", "[]", "a GitHub webhook body must be a JSON object, not an array"),
        ("push", r#"{"repository":{}}"#, "ref is missing: a push names the ref it moved"),
        ("push", r#"{"ref":"refs/heads/main"}"#, "repository is missing: a push names its repository"),
        ("push", r#"{"ref":"refs/heads/main","repository":{"name":"r"}}"#, "repository.clone_url is missing: a push names its repository's URL"),
        ("push", r#"{"ref":"refs/heads/main","repository":{"clone_url":"u"},"commits":[{"added":[1]}]}"#, "commits[0].added[0] must be a string, not a number"),
        ("push", r#"{"ref":"refs/heads/main","repository":{"clone_url":"u"},"deleted":"yes"}"#, "deleted must be a boolean, not a string"),
        ("pull_request", r#"{"action":"closed"}"#, "pull_request is missing: a pull_request event carries the pull request"),
        ("pull_request", r#"{"action":"closed","pull_request":{}}"#, "pull_request.html_url is missing: Kargo knows a pull request by its web URL"),
        ("package", r#"{"action":"published","package":{"package_type":"CONTAINER"}}"#, "package.package_version is missing: the published version"),
        ("registry_package", r#"{"action":"published","registry_package":{"package_type":"CONTAINER","package_version":{}}}"#, "registry_package.package_version.package_url is missing: it names the image repository (ghcr.io/owner/name:tag)"),
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
    let body = "payload=%7B%7D";
    let r = Req::post(body)
        .header("x-github-event", "push")
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "x-hub-signature-256",
            &sign_sha256(SECRET_VALUE, body.as_bytes()),
        )
        .send(&github())
        .unwrap_err();
    assert_eq!(r.status, 400);
    assert!(
        r.message.starts_with("invalid request body: "),
        "{}",
        r.message
    );
    assert!(r.message.contains("application/json"), "{}", r.message);
    // No event header at all.
    let r = Req::post("{}")
        .header("x-hub-signature-256", &sign_sha256(SECRET_VALUE, b"{}"))
        .send(&github())
        .unwrap_err();
    assert_eq!(r.status, 400);
}

#[test]
fn repository_of_strips_tag_and_digest() {
    for (url, repo) in [
        ("ghcr.io/o/x:1", "ghcr.io/o/x"),
        ("ghcr.io/o/x:", "ghcr.io/o/x"),
        ("ghcr.io/o/x@sha256:ab", "ghcr.io/o/x"),
        ("ghcr.io:443/o/x", "ghcr.io:443/o/x"),
        ("ghcr.io/o/x", "ghcr.io/o/x"),
    ] {
        assert_eq!(repository_of(url), repo);
    }
}

#[test]
fn never_panics_on_any_body() {
    for (event, body) in [
        ("push", fixture!("github-push.json")),
        (
            "package",
            fixture!("github-package-published-container-captured.json"),
        ),
        (
            "registry_package",
            fixture!("github-registry-package-published-docs.json"),
        ),
        (
            "pull_request",
            fixture!("github-pull-request-closed-merged-captured.json"),
        ),
    ] {
        never_panics(|b| send(event, b), &[body]);
    }
}
