//! Kargo's generic receiver cases (`pkg/webhook/external/generic_test.go`, the examples of
//! `docs/.../80-webhook-receivers/generic.md`) replayed: configuration (through the loader),
//! request, Kargo's response body and status.

use serde_json::{json, Value};

use super::*;
use crate::config::{load_str, Config};
use crate::receivers::test_support::{fixture, Req};

const PUSH: &str = fixture!("generic-git-push.json");

/// A project with three Warehouses (labels and git subscriptions as in Kargo's test) and one
/// generic receiver whose `actions` are `actions` (YAML flow).
fn config(actions: &str) -> Config {
    let yaml = format!(
        r#"
apiVersion: kargo.akuity.io/v1alpha1
kind: Project
metadata: {{name: test-project}}
---
apiVersion: v1
kind: Secret
metadata: {{name: wh, namespace: test-project}}
stringData: {{secret: s3cret}}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {{name: test-project, namespace: test-project}}
spec:
  webhookReceivers:
    - name: my-receiver
      generic:
        secretRef: {{name: wh}}
        actions: {actions}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {{name: api-warehouse, namespace: test-project, labels: {{foo: bar, tier: backend}}}}
spec: {{subscriptions: [{{git: {{repoURL: "https://github.com/example/repo"}}}}]}}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {{name: ui-warehouse, namespace: test-project, labels: {{foo: baz, tier: frontend, environment: prod}}}}
spec: {{subscriptions: [{{git: {{repoURL: "git@github.com:example/repo.git"}}}}]}}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {{name: other, namespace: test-project, labels: {{service: api}}}}
spec: {{subscriptions: [{{image: {{repoURL: "docker.io/library/nginx"}}}}]}}
"#
    );
    load_str("c.yaml", &yaml).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs one request through the handler, selection and Kargo's answer.
fn run(actions: &str, req: Req) -> (u16, Value) {
    let c = config(actions);
    let r = &c.receivers[0];
    let event = match req.send(r) {
        Ok(e) => e,
        Err(rej) => return (rej.status, json!({ "error": rej.message })),
    };
    let Action::Generic(evaluated) = event.action else {
        panic!("not a generic action: {:?}", event.action)
    };
    let results: Vec<ActionResult> = evaluated
        .iter()
        .map(|e| {
            let selected = match &e.state {
                State::Selected(criteria) => select(criteria, &r.project, &c.warehouses),
                _ => Vec::new(),
            };
            action_result(e, &selected)
        })
        .collect();
    (status(&results), response_body(&results))
}

fn push() -> Req {
    Req::post(PUSH).header("X-Event-Type", "push")
}

/// The names of the selected targets of each action.
fn selected(body: &Value) -> Vec<Vec<String>> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["selectedTargets"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .map(|t| t["name"].as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn invalid_json_is_a_400_with_kargos_wording() {
    let (status, body) = run("[]", Req::post(r#""invalid-json"#));
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid request body: "),
        "{body}"
    );
}

#[test]
fn kargo_error_cases_give_kargos_bodies() {
    // (whenExpression, Kargo's status, result, summary, matched)
    let cases = [
        (
            r#"{x!kj"}"#,
            500,
            "Error",
            "Error evaluating whenExpression",
            false,
        ),
        (
            "foo()",
            500,
            "Error",
            "Error evaluating whenExpression",
            false,
        ),
        (
            "request.header('X-Event-Type') == 'pull'",
            200,
            "NotApplicable",
            "Request did not match whenExpression",
            false,
        ),
        // Not a bool.
        (
            "request.header('X-Event-Type')",
            500,
            "Error",
            "Error evaluating whenExpression",
            false,
        ),
    ];
    for (when, want_status, result, summary, matched) in cases {
        let actions = format!(
            r#"[{{action: Refresh, whenExpression: {when:?}, targetSelectionCriteria: [{{kind: Warehouse, name: doesntmatter}}]}}]"#
        );
        let (status, body) = run(
            &actions,
            Req::post(r#"{"some": "data"}"#).header("X-Event-Type", "push"),
        );
        let expected = json!({"results": [{
            "action": "Refresh",
            "whenExpression": when,
            "targetSelectionCriteria": [{"kind": "Warehouse", "name": "doesntmatter", "labelSelector": {}, "indexSelector": {}}],
            "matchedWhenExpression": matched,
            "result": result,
            "summary": summary,
        }]});
        assert_eq!(status, want_status, "{when}: {body}");
        assert_eq!(body, expected, "{when}");
    }
}

#[test]
fn kargo_label_and_index_selector_case() {
    // generic_test.go "partial success"/"success": labels AND subscribedURLs, the URL
    // normalized by normalizeGit from an unnormalized http://...git.
    let actions = r#"[{action: Refresh, whenExpression: "request.header('X-Event-Type') == 'push'",
        targetSelectionCriteria: [{kind: Warehouse,
          labelSelector: {matchLabels: {foo: bar}, matchExpressions: [{key: tier, operator: In, values: [backend, frontend]}]},
          indexSelector: {matchIndices: [{key: subscribedURLs, operator: Equals, value: "${{ normalizeGit(request.body.repository.url) }}"}]}}]}]"#;
    let (status, body) = run(actions, push());
    let expected = json!({"results": [{
        "action": "Refresh",
        "whenExpression": "request.header('X-Event-Type') == 'push'",
        "targetSelectionCriteria": [{
            "kind": "Warehouse",
            "labelSelector": {
                "matchLabels": {"foo": "bar"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["backend", "frontend"]}]
            },
            "indexSelector": {"matchIndices": [{"key": "subscribedURLs", "operator": "Equals", "value": "${{ normalizeGit(request.body.repository.url) }}"}]}
        }],
        "matchedWhenExpression": true,
        "selectedTargets": [{"namespace": "test-project", "name": "api-warehouse", "success": true}],
        "result": "Success",
        "summary": "Refreshed 1 of 1 selected resources"
    }]});
    assert_eq!(status, 200);
    assert_eq!(body, expected);
}

#[test]
fn selection_table() {
    // (targetSelectionCriteria, request, names selected)
    let cases: &[(&str, Req, &[&str])] = &[
        // Docs: by a static name.
        ("[{kind: Warehouse, name: api-warehouse}]", push(), &["api-warehouse"]),
        // Docs: by a name from the body.
        (
            r#"[{kind: Warehouse, name: "${{ request.body.repository.name }}-warehouse"}]"#,
            push(),
            &[],
        ),
        (
            r#"[{kind: Warehouse, name: "api-${{ 'warehouse' }}"}]"#,
            push(),
            &["api-warehouse"],
        ),
        // Docs: labels.
        ("[{kind: Warehouse, labelSelector: {matchLabels: {environment: prod}}}]", push(), &["ui-warehouse"]),
        (
            "[{kind: Warehouse, labelSelector: {matchExpressions: [{key: service, operator: In, values: [ui, api]}]}}]",
            push(),
            &["other"],
        ),
        (
            "[{kind: Warehouse, labelSelector: {matchExpressions: [{key: tier, operator: NotIn, values: [backend]}]}}]",
            push(),
            &["other", "ui-warehouse"],
        ),
        (
            "[{kind: Warehouse, labelSelector: {matchExpressions: [{key: tier, operator: DoesNotExist}]}}]",
            push(),
            &["other"],
        ),
        // Docs: subscribedURLs; dockhand joins the HTTPS and SSH spellings of one repository.
        (
            r#"[{kind: Warehouse, indexSelector: {matchIndices: [{key: subscribedURLs, operator: Equals, value: "${{ normalizeGit(request.body.repository.url) }}"}]}}]"#,
            push(),
            &["api-warehouse", "ui-warehouse"],
        ),
        (
            r#"[{kind: Warehouse, indexSelector: {matchIndices: [{key: subscribedURLs, operator: NotEquals, value: "${{ normalizeGit(request.body.repository.url) }}"}]}}]"#,
            push(),
            &["other"],
        ),
        (
            r#"[{kind: Warehouse, indexSelector: {matchIndices: [{key: subscribedURLs, operator: Equals, value: "${{ normalizeImage(request.params('image')) }}"}]}}]"#,
            push(),
            &[],
        ),
        // Criteria are ORed (then sorted, without repeats); parts of one criterion ANDed.
        (
            "[{kind: Warehouse, name: other}, {kind: Warehouse, name: api-warehouse}, {kind: Warehouse, name: other}]",
            push(),
            &["api-warehouse", "other"],
        ),
        (
            "[{kind: Warehouse, name: other, labelSelector: {matchLabels: {foo: bar}}}]",
            push(),
            &[],
        ),
    ];
    for (criteria, req, want) in cases.iter() {
        let actions = format!("[{{action: Refresh, targetSelectionCriteria: {criteria}}}]");
        let (status, body) = run(&actions, req.clone());
        assert_eq!(status, 200, "{criteria}: {body}");
        assert_eq!(
            selected(&body),
            vec![want.iter().map(|s| s.to_string()).collect::<Vec<_>>()],
            "{criteria}"
        );
        assert_eq!(
            body["results"][0]["summary"],
            format!("Refreshed {0} of {0} selected resources", want.len()),
        );
    }
}

#[test]
fn selection_errors_are_kargos_error_result() {
    for criteria in [
        // A template that is not a string.
        r#"[{kind: Warehouse, name: "${{ 42 }}"}]"#,
        r#"[{kind: Warehouse, name: "${{ request.body.nope.deeper }}"}]"#,
        "[{kind: Warehouse, indexSelector: {matchIndices: [{key: receiverPaths, operator: Equals, value: x}]}}]",
        "[{kind: Promotion, name: p}]",
    ] {
        let actions = format!("[{{action: Refresh, targetSelectionCriteria: {criteria}}}]");
        let (status, body) = run(&actions, push());
        assert_eq!(status, 500, "{criteria}: {body}");
        assert_eq!(body["results"][0]["result"], "Error", "{criteria}");
        assert_eq!(body["results"][0]["matchedWhenExpression"], true);
        assert_eq!(
            body["results"][0]["summary"],
            "Error evaluating targetSelectionCriteria"
        );
    }
}

#[test]
fn expression_environment() {
    // (whenExpression, expected truth) over push() with a query.
    let cases = [
        ("request.header('x-event-type') == 'push'", true),
        ("request.header(\"X-Missing\") == ''", true),
        ("request.headers('X-Event-Type') == ['push']", true),
        ("len(request.headers('X-None')) == 0", true),
        ("request.params('a') == 'b c' && request.params('none') == ''", true),
        ("request.body.repository.url endsWith '.git'", true),
        ("request.body['ref'] matches '^refs/heads/'", true),
        ("params.team == 'blue'", true),
        ("normalizeGit(request.body.repository.url) == 'http://github.com/example/repo'", true),
        ("normalizeGit('git@github.com:example/repo.git') == 'ssh://git@github.com/example/repo'", true),
        ("normalizeImage('docker.io/library/nginx:1.25') == 'nginx'", true),
        ("normalizeImage('ghcr.io/o/app@sha256:abc') == 'ghcr.io/o/app'", true),
        ("normalizeChart('oci://Example.azurecr.io/charts/c') == 'example.azurecr.io/charts/c'", true),
        // 'request.header(' inside a string literal is text, not a call.
        ("'request.header(' == 'request.header('", true),
        ("request.header('X-Event-Type') != 'push'", false),
    ];
    for (when, truth) in cases {
        let actions = format!(
            "[{{action: Refresh, whenExpression: {when:?}, parameters: {{team: blue}}, targetSelectionCriteria: [{{kind: Warehouse, name: none}}]}}]"
        );
        let (status, body) = run(&actions, push().query("a=b+c&a=second"));
        assert_eq!(status, 200, "{when}: {body}");
        assert_eq!(
            body["results"][0]["matchedWhenExpression"], truth,
            "{when}: {body}"
        );
    }
}

#[test]
fn empty_body_is_nil_and_empty_condition_is_true() {
    let (status, body) = run(
        "[{action: Refresh, targetSelectionCriteria: [{kind: Warehouse, name: other}]}, {action: Refresh, whenExpression: 'request.body == nil', targetSelectionCriteria: [{kind: Warehouse, name: api-warehouse}]}]",
        Req::post(""),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        selected(&body),
        [vec!["other".to_string()], vec!["api-warehouse".to_string()]]
    );
}

#[test]
fn rewrite_leaves_literals_and_other_identifiers_alone() {
    assert_eq!(
        expression::rewrite("request.header('a') + myrequest.header('b') + \"request.params(\""),
        "__request_header('a') + myrequest.header('b') + \"request.params(\""
    );
}

#[test]
fn never_panics() {
    let c = config(
        r#"[{action: Refresh, whenExpression: "request.body.a.b == 1 || request.header('x') == 'y'", targetSelectionCriteria: [{kind: Warehouse, name: "${{ request.body.name }}"}]}]"#,
    );
    let r = c.receivers[0].clone();
    crate::receivers::test_support::never_panics(|b| Req::post(b).send(&r), &[PUSH]);
}
