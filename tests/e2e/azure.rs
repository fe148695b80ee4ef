//! Issue 4: the azure receiver end to end — ACR, Azure DevOps, Event Grid, authentication,
//! malformed input — against the running binary.

use crate::common::*;
use serde_json::{json, Value};

const WAREHOUSES: &str = r#"
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: hello, namespace: kargo-demo}
spec:
  subscriptions:
  - image:
      repoURL: MyRegistry.azurecr.io/hello-world
      imageSelectionStrategy: Lexical
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: chart, namespace: kargo-demo}
spec:
  subscriptions:
  - chart:
      repoURL: oci://myregistry.azurecr.io/helm/mychart
      semverConstraint: ^0.1.0
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: nginx, namespace: kargo-demo}
spec:
  subscriptions:
  - image:
      repoURL: jolovcr.azurecr.io/samples/nginx
      imageSelectionStrategy: Digest
      constraint: latest
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: repo-ssh, namespace: kargo-demo}
spec:
  subscriptions:
  - git:
      repoURL: git@ssh.dev.azure.com:v3/alexander0053/alex-test/alex-test
      branch: master
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: repo-other-branch, namespace: kargo-demo}
spec:
  subscriptions:
  - git:
      repoURL: https://alexander0053@dev.azure.com/alexander0053/alex-test/_git/alex-test
      branch: release
"#;

fn server(extra_secret_keys: &str) -> (tempfile::TempDir, Server) {
    let mut cfg = BASE_CONFIG.replace(
        "  secret: test-azure-secret-value\n",
        &format!("  secret: test-azure-secret-value\n{extra_secret_keys}"),
    );
    cfg.push_str(WAREHOUSES);
    let dir = config_dir(&[("c.yaml", &cfg)]);
    let s = Server::start(&[dir.path()], &[]);
    (dir, s)
}

/// The payload with another top-level `id` (a new delivery, not a redelivery).
fn with_id(body: &str, id: &str) -> String {
    let mut v: Value = serde_json::from_str(body).unwrap();
    v["id"] = json!(id);
    v.to_string()
}

fn last(s: &Server) -> Value {
    s.deliveries().into_iter().next().expect("a delivery")
}

#[test]
fn acr_events() {
    let (_d, s) = server("");
    let path = s.receiver_path("azure-wh-receiver");

    let (status, body) = s.post(&path, &[ACR_UA], &fixture("acr-ping.json"));
    assert_eq!(
        (status, body["msg"].as_str()),
        (
            200,
            Some("ping event received, webhook is configured correctly")
        )
    );
    assert_eq!(last(&s)["outcome"], "ping");

    let (status, body) = s.post(&path, &[ACR_UA], &fixture("acr-push.json"));
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 1 warehouse(s)"))
    );
    let d = last(&s);
    assert_eq!(d["refreshed"], json!(["kargo-demo/hello"]));
    assert_eq!(
        d["repositories"],
        json!(["myregistry.azurecr.io/hello-world"])
    );

    // ACR sends the OCI image manifest media type for Helm charts: the chart subscriber hears it.
    let (_, body) = s.post(&path, &[ACR_UA], &fixture("acr-push-helm-oci.json"));
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
    assert_eq!(last(&s)["refreshed"], json!(["kargo-demo/chart"]));

    // Deletes, quarantine and unknown actions: 200, recorded, nothing refreshed.
    for (file, action) in [
        ("acr-delete.json", "delete"),
        ("acr-quarantine.json", "quarantine"),
        ("acr-chart-delete.json", "chart_delete"),
    ] {
        let (status, body) = s.post(&path, &[ACR_UA], &fixture(file));
        assert_eq!(status, 200, "{file}: {body}");
        let d = last(&s);
        assert_eq!(d["outcome"], "ignored", "{file}");
        assert_eq!(d["eventType"], action, "{file}");
        assert_eq!(d["refreshed"], json!([]), "{file}");
    }
    let (status, _) = s.post(
        &path,
        &[ACR_UA],
        r#"{"id":"x","action":"replicate","target":{"repository":"a"}}"#,
    );
    assert_eq!(status, 200);
    let d = last(&s);
    assert_eq!(d["outcome"], "ignored");
    assert!(d["message"].as_str().unwrap().contains("replicate"), "{d}");

    // Without the User-Agent the body's shape is enough.
    let (_, body) = s.post(
        &path,
        &[],
        &with_id(&fixture("acr-push.json"), "another-id"),
    );
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
    assert_eq!(last(&s)["source"], "acr");

    // Host with a port and upper case, nested repository.
    let (_, body) = s.post(
        &path,
        &[ACR_UA],
        &acr_push("p", "MYREGISTRY.azurecr.io", "hello-world", "v2"),
    );
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
}

#[test]
fn azure_devops_pushes() {
    let (_d, s) = server("");
    let path = s.receiver_path("azure-wh-receiver");
    let ua = ("User-Agent", "VSServices/16.255.0");
    let (status, body) = s.post(&path, &[ua], &fixture("azure-devops-git-push.json"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
    let d = last(&s);
    assert_eq!(d["source"], "azure-devops");
    assert_eq!(d["eventType"], "git.push");
    // The HTTPS payload matched the SSH subscription; the other branch was told why not.
    assert_eq!(d["refreshed"], json!(["kargo-demo/repo-ssh"]));
    let why = d["explanation"].as_array().unwrap();
    assert!(
        why.iter()
            .any(|w| w.as_str().unwrap().contains("repo-other-branch")),
        "{d}"
    );

    // The "Test" button's sample: accepted, nothing matches.
    let (status, body) = s.post(
        &path,
        &[ua],
        &fixture("azure-devops-git-push-docs-sample.json"),
    );
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 0 warehouse(s)"))
    );

    // Other event types are acknowledged and recorded as ignored.
    let pr = json!({"id": "pr-1", "eventType": "git.pullrequest.created", "publisherId": "tfs", "resource": {}});
    let (status, _) = s.post(&path, &[ua], &pr.to_string());
    assert_eq!(status, 200);
    assert_eq!(last(&s)["outcome"], "ignored");
}

#[test]
fn event_grid() {
    let (_d, s) = server("");
    let path = s.receiver_path("azure-wh-receiver");
    let (status, body) = s.post(
        &path,
        &[("aeg-event-type", "SubscriptionValidation")],
        &fixture("eventgrid-validation.json"),
    );
    assert_eq!(status, 200);
    let expected: Value =
        serde_json::from_str(&fixture("eventgrid-validation-response.json")).unwrap();
    assert_eq!(body["validationResponse"], expected["validationResponse"]);

    // CloudEvents abuse protection: OPTIONS echoes the origin.
    let r = s
        .http
        .request(reqwest::Method::OPTIONS, s.url(&path))
        .header("WebHook-Request-Origin", "eventgrid.azure.net")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["webhook-allowed-origin"], "eventgrid.azure.net");

    let (_, body) = s.post(
        &path,
        &[("aeg-event-type", "Notification")],
        &fixture("eventgrid-image-pushed.json"),
    );
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
    let d = last(&s);
    assert_eq!(d["source"], "event-grid");
    assert_eq!(d["refreshed"], json!(["kargo-demo/nginx"]));

    let (_, body) = s.post(
        &path,
        &[],
        &with_id(&fixture("eventgrid-cloudevents-image-pushed.json"), "ce-1"),
    );
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)", "{body}");

    let (status, _) = s.post(&path, &[], &fixture("eventgrid-image-deleted.json"));
    assert_eq!(status, 200);
    assert_eq!(last(&s)["outcome"], "ignored");

    // Two events in one delivery: both handled.
    let mut both: Vec<Value> =
        serde_json::from_str(&fixture("eventgrid-image-pushed.json")).unwrap();
    let deleted: Vec<Value> =
        serde_json::from_str(&fixture("eventgrid-image-deleted.json")).unwrap();
    both.extend(deleted);
    let (_, body) = s.post(&path, &[], &Value::Array(both).to_string());
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
}

#[test]
fn authentication_beyond_the_url() {
    let (_d, s) = server("  auth-header: Basic dGVzdC1henVyZS1hdXRo\n  username: ado-user\n  password: test-ado-password\n");
    let path = s.receiver_path("azure-wh-receiver");
    let push = fixture("acr-push.json");

    let (status, body) = s.post(&path, &[ACR_UA], &push);
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("missing authorization"))
    );
    let (status, body) = s.post(&path, &[ACR_UA, ("Authorization", "Basic wrong")], &push);
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, _) = s.post(
        &path,
        &[ACR_UA, ("Authorization", "Basic dGVzdC1henVyZS1hdXRo")],
        &push,
    );
    assert_eq!(status, 200);

    // Azure DevOps uses basic auth: base64("ado-user:test-ado-password").
    let ua = ("User-Agent", "VSServices/16.255.0");
    let ado = fixture("azure-devops-git-push.json");
    let good = "Basic YWRvLXVzZXI6dGVzdC1hZG8tcGFzc3dvcmQ=";
    let wrong_password = "Basic YWRvLXVzZXI6bm9wZQ==";
    let (status, _) = s.post(&path, &[ua, ("Authorization", wrong_password)], &ado);
    assert_eq!(status, 401);
    let (status, _) = s.post(&path, &[ua], &ado);
    assert_eq!(status, 401);
    let (status, _) = s.post(&path, &[ua, ("Authorization", good)], &ado);
    assert_eq!(status, 200);

    let rejected: Vec<Value> = s
        .deliveries()
        .into_iter()
        .filter(|d| d["status"] == 401)
        .collect();
    assert_eq!(rejected.len(), 4);
    for d in &rejected {
        let text = d.to_string();
        assert!(
            !text.contains("wrong")
                && !text.contains("YWRv")
                && !text.contains("test-ado-password"),
            "{text}"
        );
    }
}

#[test]
fn malformed_bodies_are_400_recorded_and_harmless() {
    let (_d, s) = server("");
    let path = s.receiver_path("azure-wh-receiver");
    let cases = [
        ("not json", "{nope", ""),
        ("array", "[1, 2]", ""),
        (
            "missing target",
            r#"{"id":"x","action":"push","request":{"host":"h.io"}}"#,
            "target",
        ),
        (
            "non-string tag",
            r#"{"id":"x","action":"push","target":{"repository":"a","tag":5},"request":{"host":"h.io"}}"#,
            "tag",
        ),
        ("empty", "", ""),
        ("unknown shape", r#"{"hello":"world"}"#, "Azure DevOps"),
    ];
    for (what, body, needle) in cases {
        let (status, resp) = s.post(&path, &[], body);
        assert_eq!(status, 400, "{what}: {resp}");
        let msg = resp["error"].as_str().unwrap_or_default();
        assert!(!msg.is_empty() && msg.contains(needle), "{what}: {msg}");
        // Kargo's words first (issue 17 item 17), then what was wrong.
        assert!(msg.starts_with("invalid request body: "), "{what}: {msg}");
    }
    let d = s.deliveries();
    assert_eq!(d.len(), cases.len());
    assert!(d
        .iter()
        .all(|d| d["status"] == 400 && d["refreshed"] == json!([])));
    // Still serving.
    let (_, body) = s.post(&path, &[ACR_UA], &fixture("acr-push.json"));
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
}

/// Issue 17, item 16: an OCI chart subscription without `semverConstraint` is refreshed only by a
/// pushed tag that is a version, as Kargo's chart selector decides; `latest` refreshes nothing and
/// the delivery says why.
#[test]
fn chart_without_constraint_needs_a_version_tag() {
    let wh = "apiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata: {name: any-chart, namespace: kargo-demo}\nspec:\n  subscriptions:\n  - chart: {repoURL: 'oci://myregistry.azurecr.io/helm/other'}\n";
    let dir = config_dir(&[("c.yaml", BASE_CONFIG), ("w.yaml", wh)]);
    let s = Server::start(&[dir.path()], &[]);
    let path = s.receiver_path("azure-wh-receiver");
    let push = |id: &str, tag: &str| {
        let mut body: Value =
            serde_json::from_str(&acr_push(id, "myregistry.azurecr.io", "helm/other", tag))
                .unwrap();
        body["target"]["mediaType"] = json!("application/vnd.cncf.helm.config.v1+json");
        s.post(&path, &[ACR_UA], &body.to_string())
    };
    let (status, body) = push("v1", "latest");
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 0 warehouse(s)"))
    );
    assert!(
        s.deliveries()[0]["explanation"]
            .to_string()
            .contains("chart version \\\"latest\\\" is not a semantic version"),
        "{}",
        s.deliveries()[0]
    );
    let (_, body) = push("v2", "0.3.0");
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
}
