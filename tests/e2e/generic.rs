//! Issue 13: the `generic` receiver end to end — Kargo's generic receiver over HTTP: actions
//! from the ProjectConfig, expressions over headers, body and query, Warehouses selected by
//! name, labels and subscribed URL, Kargo's `{"results": [...]}` answer, and the delivery
//! record of what was refreshed.

use crate::common::*;
use serde_json::{json, Value};

const CONFIG: &str = r#"
apiVersion: kargo.akuity.io/v1alpha1
kind: Project
metadata: {name: gen}
---
apiVersion: v1
kind: Secret
metadata: {name: wh-secret, namespace: gen}
stringData: {secret: generic-test-secret}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {name: gen, namespace: gen}
spec:
  webhookReceivers:
  - name: my-receiver
    generic:
      secretRef: {name: wh-secret}
      actions:
      - action: Refresh
        whenExpression: "request.header('X-Event-Type') == 'push'"
        targetSelectionCriteria:
        - kind: Warehouse
          indexSelector:
            matchIndices:
            - key: subscribedURLs
              operator: Equals
              value: "${{ normalizeGit(request.body.repository.url) }}"
      - action: Refresh
        whenExpression: "request.params('env') != ''"
        targetSelectionCriteria:
        - kind: Warehouse
          labelSelector:
            matchLabels: {environment: "${{ request.params('env') }}"}
      - action: Refresh
        whenExpression: "request.body.broken.field == 1"
        targetSelectionCriteria:
        - kind: Warehouse
          name: never
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: app, namespace: gen, labels: {environment: prod}}
spec:
  subscriptions:
  - git: {repoURL: "https://git.invalid/example/app"}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: app-ssh, namespace: gen, labels: {environment: dev}}
spec:
  subscriptions:
  - git: {repoURL: "git@git.invalid:example/app.git"}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: unrelated, namespace: gen}
spec:
  subscriptions:
  - git: {repoURL: "https://git.invalid/example/other"}
"#;

fn last(s: &Server) -> Value {
    s.deliveries().into_iter().next().expect("a delivery")
}

fn results(body: &Value) -> Vec<(String, bool, Vec<String>)> {
    body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let names = r["selectedTargets"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .map(|t| t["name"].as_str().unwrap_or("").to_string())
                        .collect()
                })
                .unwrap_or_default();
            (
                r["result"].as_str().unwrap_or("").to_string(),
                r["matchedWhenExpression"].as_bool().unwrap_or(false),
                names,
            )
        })
        .collect()
}

#[test]
fn generic_receiver_runs_kargos_actions() {
    let dir = config_dir(&[("c.yaml", CONFIG)]);
    let s = Server::start(&[dir.path()], &[]);
    let path = s.receiver_path("my-receiver");
    assert!(path.starts_with("/generic/"), "{path}");

    // A push naming the repository (unnormalized): both spellings' Warehouses; the third
    // action's expression fails on this body, which makes Kargo's answer a 500.
    let (status, body) = s.post(
        &path,
        &[("X-Event-Type", "push")],
        r#"{"repository": {"url": "http://git.invalid/example/app.git"}, "broken": null}"#,
    );
    assert_eq!(status, 500, "{body}");
    assert_eq!(
        results(&body),
        vec![
            ("Success".into(), true, vec!["app".into(), "app-ssh".into()]),
            ("NotApplicable".into(), false, vec![]),
            ("Error".into(), false, vec![]),
        ],
        "{body}"
    );
    assert_eq!(
        body["results"][0]["summary"],
        "Refreshed 2 of 2 selected resources"
    );
    assert_eq!(
        body["results"][2]["summary"],
        "Error evaluating whenExpression"
    );
    assert_eq!(
        body["results"][0]["targetSelectionCriteria"][0]["indexSelector"]["matchIndices"][0]
            ["value"],
        "${{ normalizeGit(request.body.repository.url) }}"
    );
    let d = last(&s);
    assert_eq!(d["source"], "generic");
    assert_eq!(d["outcome"], "refreshed");
    assert_eq!(d["refreshed"], json!(["gen/app", "gen/app-ssh"]));
    assert!(
        d["explanation"].to_string().contains("whenExpression"),
        "{d}"
    );

    // A label chosen by a query parameter; the third action matches nothing: all 200.
    let (status, body) = s.post(
        &format!("{path}?env=dev"),
        &[("X-Event-Type", "tag")],
        r#"{"broken": {"field": 2}}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        results(&body),
        vec![
            ("NotApplicable".into(), false, vec![]),
            ("Success".into(), true, vec!["app-ssh".into()]),
            ("NotApplicable".into(), false, vec![]),
        ]
    );
    let d = last(&s);
    assert_eq!(d["refreshed"], json!(["gen/app-ssh"]));
    assert_eq!(d["query"], "env=dev");

    // Nothing selected: 200, recorded as unmatched.
    let (status, body) = s.post(&path, &[], r#"{"broken": {"field": 2}}"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(last(&s)["outcome"], "unmatched");

    // Not JSON: Kargo's 400 wording, recorded as rejected.
    let (status, body) = s.post(&path, &[("X-Event-Type", "push")], "{not json");
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or("")
            .starts_with("invalid request body: "),
        "{body}"
    );
    assert_eq!(last(&s)["outcome"], "rejected");

    // The wrong secret is another URL: 404, like any unknown path.
    let (status, _) = s.post(&format!("/generic/{}", "0".repeat(64)), &[], "{}");
    assert_eq!(status, 404);
}
