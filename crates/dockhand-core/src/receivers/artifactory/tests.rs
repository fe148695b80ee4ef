//! Table tests of the artifactory receiver: the signature, the repository URL (origin,
//! `registry-host`, `virtualRepoName`), the events that are not tag pushes, malformed bodies,
//! and the never-panics sweep.

use hmac::{Hmac, Mac};
use serde_json::{json, Value};

use super::super::test_support::{fixture, never_panics, receiver, Req};
use super::*;
use crate::secret::Secret;

/// The HMAC key: what `test_support::receiver` puts under the type's URL key.
const KEY: &str = "url-secret";

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn artifactory(registry_host: Option<&str>, virtual_repo: Option<&str>) -> Receiver {
    let mut r = receiver(&super::TYPE, None, None);
    if let Some(h) = registry_host {
        r.secrets.insert("registry-host", Secret::new(h));
    }
    if let Some(v) = virtual_repo {
        r.fields.push(("virtualRepoName".into(), v.into()));
    }
    r
}

fn send_to(r: &Receiver, body: &[u8]) -> Result<Event, Rejection> {
    Req::post(body)
        .header("x-jfrog-event-auth", &sign(body))
        .send(r)
}

fn send(body: &[u8]) -> Result<Event, Rejection> {
    send_to(&artifactory(None, None), body)
}

fn refresh(url: &str, image: bool, chart: bool, tags: &[&str]) -> Action {
    Action::Refresh(vec![Target::Oci {
        repo_url: url.into(),
        image,
        chart,
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }])
}

/// JFrog's documented `data` in a delivery envelope, with `changes` applied to `data`.
fn pushed(envelope: Value, changes: Value) -> Vec<u8> {
    let mut data: Value =
        serde_json::from_str(fixture!("jfrog-docker-pushed-docs-data.json")).unwrap();
    for (k, v) in changes.as_object().unwrap() {
        data[k] = v.clone();
    }
    let mut body = json!({"domain": "docker", "event_type": "pushed", "data": data,
                          "subscription_key": "k", "jpd_origin": "https://acme.jfrog.io",
                          "source": "jfrog/ci@acme.example"});
    for (k, v) in envelope.as_object().unwrap() {
        body[k] = v.clone();
    }
    body.to_string().into_bytes()
}

const ID: &str = "docker:pushed:docker-remote-cache/library/ubuntu/latest/list.manifest.json@35c4a2c15539c6c1e4e5fa4e554dac323ad0107d8eb5c582d6ff386b383b7dce";

#[test]
fn pushes_give_exact_events() {
    let cases: Vec<(Receiver, Vec<u8>, Action)> = vec![
        (
            // keel's envelope around the documented data: no image_type, so both kinds.
            artifactory(None, None),
            fixture!("jfrog-docker-pushed.json").as_bytes().to_vec(),
            refresh(
                "example.jfrog.io/docker-remote-cache/library/ubuntu",
                true,
                true,
                &["latest"],
            ),
        ),
        (
            artifactory(None, None),
            pushed(json!({}), json!({"image_type": "docker"})),
            refresh(
                "acme.jfrog.io/docker-remote-cache/library/ubuntu",
                true,
                false,
                &["latest"],
            ),
        ),
        (
            artifactory(None, None),
            pushed(json!({}), json!({"image_type": "oci", "tag": "1.2.0"})),
            refresh(
                "acme.jfrog.io/docker-remote-cache/library/ubuntu",
                true,
                true,
                &["1.2.0"],
            ),
        ),
        (
            // A push by digest: every subscriber.
            artifactory(None, None),
            pushed(json!({}), json!({"tag": "sha256:35c4"})),
            refresh(
                "acme.jfrog.io/docker-remote-cache/library/ubuntu",
                true,
                true,
                &[],
            ),
        ),
        (
            // Kargo's virtualRepoName replaces the local repository key.
            artifactory(None, Some("proj-virtual")),
            pushed(json!({}), json!({})),
            refresh(
                "acme.jfrog.io/proj-virtual/library/ubuntu",
                true,
                true,
                &["latest"],
            ),
        ),
        (
            // registry-host replaces jpd_origin's host, which may be missing altogether.
            artifactory(Some("docker.acme.example:8443"), None),
            pushed(json!({"jpd_origin": ""}), json!({})),
            refresh(
                "docker.acme.example:8443/docker-remote-cache/library/ubuntu",
                true,
                true,
                &["latest"],
            ),
        ),
        (
            // The subdomain access method.
            artifactory(Some("{repo}.artifactory.acme.example"), Some("virt")),
            pushed(json!({}), json!({})),
            refresh(
                "virt.artifactory.acme.example/library/ubuntu",
                true,
                true,
                &["latest"],
            ),
        ),
        (
            // A base URL with a path and a port.
            artifactory(None, None),
            pushed(
                json!({"jpd_origin": "http://10.0.0.5:8082/artifactory"}),
                json!({"path": "app/1.0/manifest.json"}),
            ),
            refresh(
                "10.0.0.5:8082/docker-remote-cache/app",
                true,
                true,
                &["latest"],
            ),
        ),
    ];
    for (r, body, action) in cases {
        let got = send_to(&r, &body).unwrap();
        assert_eq!(got.source, ARTIFACTORY);
        assert_eq!(got.event_type, "docker:pushed");
        assert_eq!(got.action, action, "{}", String::from_utf8_lossy(&body));
    }
    let got = send(fixture!("jfrog-docker-pushed.json").as_bytes()).unwrap();
    assert_eq!(got.provider_id.as_deref(), Some(ID));
}

#[test]
fn other_events_are_ignored_with_a_reason() {
    let cases = [
        (
            pushed(
                json!({"domain": "artifact", "event_type": "deployed"}),
                json!({}),
            ),
            "artifact:deployed",
            "is not a Docker or OCI tag push",
        ),
        (
            pushed(json!({"event_type": "deleted"}), json!({})),
            "docker:deleted",
            "is not a Docker or OCI tag push",
        ),
        (
            pushed(json!({}), json!({"image_type": "generic"})),
            "docker:pushed",
            "image type \"generic\"",
        ),
        (
            pushed(json!({"jpd_origin": ""}), json!({})),
            "docker:pushed",
            "registry-host",
        ),
        (
            pushed(json!({"jpd_origin": null}), json!({})),
            "docker:pushed",
            "jpd_origin is absent",
        ),
    ];
    for (body, event_type, why) in cases {
        let got = send(&body).unwrap();
        assert_eq!(got.event_type, event_type);
        match &got.action {
            Action::Ignore { reason } => assert!(reason.contains(why), "{reason}"),
            other => panic!("{event_type}: {other:?}"),
        }
    }
}

#[test]
fn signature_is_checked_before_the_body() {
    let body = fixture!("jfrog-docker-pushed.json").as_bytes();
    let r = artifactory(None, None);
    let good = sign(body);
    assert!(Req::post(body)
        .header("x-jfrog-event-auth", &good.to_uppercase())
        .send(&r)
        .is_ok());
    let cases: [(&[&str], &str); 6] = [
        (&[], "missing signature"),
        (&[""], "missing signature"),
        (&["00"], "unauthorized"),
        (&["not hex"], "unauthorized"),
        (&[&format!("sha256={good}")], "unauthorized"),
        (&[&good, &good], "unauthorized"),
    ];
    for (values, message) in cases {
        let mut req = Req::post(body);
        for v in values {
            req = req.header("x-jfrog-event-auth", v);
        }
        let e = req.send(&r).unwrap_err();
        assert_eq!(
            (e.status, e.message.as_str(), e.source),
            (401, message, ARTIFACTORY),
            "{values:?}"
        );
    }
    // Signed for another body; and a bad body is refused on its signature, not its syntax.
    let e = Req::post(b"{")
        .header("x-jfrog-event-auth", &good)
        .send(&r)
        .unwrap_err();
    assert_eq!((e.status, e.message.as_str()), (401, "unauthorized"));
}

#[test]
fn malformed_bodies_are_400_in_kargo_wording() {
    let cases = [
        (
            b"{".to_vec(),
            "invalid request body: request body is not valid JSON",
        ),
        (
            b"[1]".to_vec(),
            "invalid request body: an Artifactory webhook body must be a JSON object",
        ),
        (
            br#"{"domain": 1}"#.to_vec(),
            "invalid request body: domain must be a string",
        ),
        (
            br#"{"domain": "docker", "event_type": "pushed"}"#.to_vec(),
            "invalid request body: data is missing",
        ),
        (
            pushed(json!({}), json!({"path": "manifest.json"})),
            "invalid request body: invalid value \"manifest.json\" in payload's data.path field",
        ),
        (
            pushed(json!({}), json!({"repo_key": null})),
            "invalid request body: data.repo_key is missing",
        ),
        (
            pushed(json!({}), json!({"tag": 3})),
            "invalid request body: data.tag must be a string",
        ),
    ];
    for (body, start) in cases {
        let e = send(&body).unwrap_err();
        assert_eq!((e.status, e.source), (400, ARTIFACTORY));
        assert!(e.message.starts_with(start), "{}", e.message);
    }
}

#[test]
fn never_panics_on_any_bytes() {
    let r = artifactory(Some("{repo}.x"), Some("v"));
    never_panics(
        |b| send_to(&r, b),
        &[
            fixture!("jfrog-docker-pushed.json"),
            fixture!("jfrog-docker-pushed-docs-data.json"),
        ],
    );
}
