//! Kept payloads, replay and the replication view end to end: the real binary over HTTP, the
//! `deliveries show`, `replay` and `artifacts` commands, and one headless chromium look at the
//! delivery page's payload and at `/ui/artifacts`.
//!
//! - a payload is kept (body, non-secret headers) and shown pretty-printed; none is kept with
//!   `--keep-payloads=false`, and then a replay is refused (409) saying why;
//! - credentials (Authorization, signatures, secret query values) are never kept nor shown;
//! - a replay after a Warehouse's constraint is fixed refreshes the Warehouse the original did
//!   not, is recorded with `replayOf`, and is never taken for a duplicate;
//! - 404 for an unknown delivery and for a receiver that is gone, 409 for a rejected delivery
//!   and for a trimmed payload;
//! - the replication view of one image reported by two replica webhooks (`?region=`).

use serde_json::Value;

use crate::common::*;
use crate::support::registry::Registry;
use crate::ui::{escaped, Browser, DESKTOP};

const PROJECT: &str = "kargo-demo";

/// A secret a sender may put in the URL it was given: never stored (it is in TEST_SECRETS,
/// which `wait_for` looks for in everything the server wrote).
const QUERY_SECRET: &str = "test-registry-url-secret";

/// A GitHub receiver in a project of its own (BASE_CONFIG has kargo-demo's ProjectConfig).
const GITHUB_CONFIG: &str = "
apiVersion: v1
kind: Secret
metadata: {name: github-wh-secret, namespace: other}
stringData: {secret: test-github-secret-value}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {name: other, namespace: other}
spec:
  webhookReceivers:
  - name: github-wh-receiver
    github: {secretRef: {name: github-wh-secret}}
";

fn id(d: &Value) -> &str {
    d["id"].as_str().expect("delivery id")
}

/// POSTs to the admin API; status and JSON body.
fn admin_post(s: &Server, path: &str) -> (u16, Value) {
    let resp = s.http.post(s.admin_url(path)).send().expect("POST");
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

fn payload(s: &Server, delivery: &str) -> Value {
    s.admin_get(&format!("/api/v1/deliveries/{delivery}/payload"))
}

fn header_names(p: &Value) -> Vec<String> {
    p["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .map(|h| h["name"].as_str().expect("name").to_string())
        .collect()
}

/// The newest delivery.
fn newest(s: &Server) -> Value {
    s.deliveries().into_iter().next().expect("a delivery")
}

#[test]
fn a_replay_after_a_fix_refreshes_what_the_original_did_not() {
    let reg = Registry::start();
    let repo = format!("{}/team/app", reg.host());
    reg.push_image(
        "team/app",
        Some("1.5.0"),
        "linux",
        "amd64",
        "2026-01-02T00:00:00Z",
    );
    let dir = config_dir(&[
        ("base.yaml", BASE_CONFIG),
        (
            "warehouses.yaml",
            &image_warehouse(PROJECT, "app", &repo, "^2.0.0"),
        ),
    ]);
    let s = Server::start(&[dir.path()], &["--refresh-cooldown", "0s"]);
    let azure = s.receiver_path("azure-wh-receiver");
    let body = acr_push("push-150", &reg.host(), "team/app", "1.5.0");
    let (status, answer) = s.post(
        &format!("{azure}?region=westus&token={QUERY_SECRET}"),
        &[ACR_UA, ("X-Request-Id", "req-1")],
        &body,
    );
    assert_eq!(status, 200, "{answer}");
    let original = newest(&s);
    assert_eq!(original["outcome"], "unmatched", "{original}");
    assert_eq!(original["refreshed"], serde_json::json!([]));
    assert_eq!(original["replayOf"], Value::Null);
    // The secret in the URL is redacted in the record; the replica's region is kept.
    assert_eq!(
        original["query"], "region=westus&token=[redacted]",
        "{original}"
    );

    // What arrived is kept: the body as sent, the headers a receiver reads.
    let p = payload(&s, id(&original));
    assert_eq!(p["kept"], true, "{p}");
    assert_eq!(p["json"]["target"]["tag"], "1.5.0", "{p}");
    assert_eq!(p["body"], body.as_str());
    assert_eq!(p["notReplayable"], Value::Null, "{p}");
    let names = header_names(&p);
    assert!(names.contains(&"user-agent".to_string()), "{names:?}");
    assert!(names.contains(&"x-request-id".to_string()), "{names:?}");
    assert!(!names.contains(&"host".to_string()), "{names:?}");

    // `deliveries show`: the decision and the payload pretty-printed.
    let server = s.admin_server();
    let out = dockhand(&["deliveries", "show", id(&original), "--server", &server]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("answer:     HTTP 200 unmatched"), "{text}");
    assert!(text.contains("not matched: "), "{text}");
    assert!(
        text.contains("header:     user-agent: AzureContainerRegistry"),
        "{text}"
    );
    assert!(
        text.contains("\n    \"tag\": \"1.5.0\""),
        "pretty-printed:\n{text}"
    );
    let out = dockhand(&[
        "deliveries",
        "show",
        id(&original),
        "--server",
        &server,
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown: Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(shown["id"], id(&original));
    assert_eq!(shown["payload"]["json"]["target"]["tag"], "1.5.0");
    let out = dockhand(&[
        "deliveries",
        "show",
        id(&original),
        "--server",
        &server,
        "-o",
        "yaml",
    ]);
    assert!(stdout(&out).contains("replayOf: null"), "{}", stdout(&out));

    // Nothing was reconciled: the constraint refused 1.5.0.
    assert_eq!(s.warehouse(PROJECT, "app")["reconcileCount"], 0);

    // Someone fixes the constraint; the server reloads it.
    std::fs::write(
        dir.path().join("warehouses.yaml"),
        image_warehouse(PROJECT, "app", &repo, "^1.0.0"),
    )
    .expect("fix the constraint");
    s.wait_for("the fixed constraint", |s| {
        s.admin_get("/api/v1/warehouses/kargo-demo/app")
            .to_string()
            .contains("^1.0.0")
    });

    let out = dockhand(&["replay", id(&original), "--server", &server, "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let replayed: Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(replayed["replayOf"], id(&original), "{replayed}");
    assert_ne!(replayed["id"], original["id"]);
    assert_eq!(replayed["outcome"], "refreshed", "{replayed}");
    assert_eq!(replayed["refreshed"], serde_json::json!(["kargo-demo/app"]));
    assert_eq!(replayed["query"], original["query"]);
    assert_eq!(replayed["payload"]["json"]["target"]["tag"], "1.5.0");
    s.wait_for("Freight of app after the replay", |s| {
        s.admin_get("/api/v1/freight?project=kargo-demo&warehouse=app")
            .as_array()
            .is_some_and(|a| !a.is_empty())
    });

    // Recorded as a new delivery; the original is unchanged.
    let list = s.deliveries();
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["replayOf"], id(&original));
    assert_eq!(list[1]["id"], original["id"]);
    assert_eq!(list[1]["outcome"], "unmatched");

    // Replayed again: not a duplicate of the original (same provider id), refreshed again.
    let (status, again) = admin_post(&s, &format!("/api/v1/deliveries/{}/replay", id(&original)));
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["outcome"], "refreshed", "{again}");
    assert_eq!(again["replayOf"], id(&original));
    // The replay of a replay names its own original.
    let (status, third) = admin_post(&s, &format!("/api/v1/deliveries/{}/replay", id(&again)));
    assert_eq!(status, 200, "{third}");
    assert_eq!(third["replayOf"], id(&again));

    // The text form says what it replayed.
    let out = dockhand(&["replay", id(&original), "--server", &server]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("replay of:  {}", id(&original))),
        "{text}"
    );
    assert!(text.contains("refreshes:  kargo-demo/app"), "{text}");
}

#[test]
fn credentials_are_never_kept_and_a_signed_push_replays_without_them() {
    let github_secret = "test-github-secret-value";
    let dir = config_dir(&[("base.yaml", BASE_CONFIG), ("github.yaml", GITHUB_CONFIG)]);
    let s = Server::start(&[dir.path()], &[]);

    // Harbor authenticates with Authorization: never kept, nor the cookie or the client address.
    let harbor = s.receiver_path("harbor-wh-receiver");
    let (status, answer) = s.post(
        &harbor,
        &[
            ("Authorization", "Bearer test-harbor-token-value"),
            ("Cookie", "session=test-harbor-token-value"),
            ("X-Forwarded-For", "203.0.113.9"),
        ],
        &fixture("harbor-push-artifact.json"),
    );
    assert_eq!(status, 200, "{answer}");
    let d = newest(&s);
    let p = payload(&s, id(&d));
    let names = header_names(&p);
    for never in ["authorization", "cookie", "x-forwarded-for", "host"] {
        assert!(!names.contains(&never.to_string()), "{never} kept: {p}");
    }
    assert!(names.contains(&"content-type".to_string()), "{names:?}");
    assert!(!p.to_string().contains("test-harbor-token-value"), "{p}");
    // Nor in the dashboard's view of it.
    let page = s
        .http
        .get(s.admin_url(&format!("/ui/deliveries/{}", id(&d))))
        .send()
        .expect("GET")
        .text()
        .expect("page");
    assert!(page.contains("class=\"payload\""), "{page}");
    assert!(!page.contains("test-harbor-token-value"));
    // A replay skips the credential check (the credentials were not kept) and nothing else.
    let (status, replayed) = admin_post(&s, &format!("/api/v1/deliveries/{}/replay", id(&d)));
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(replayed["outcome"], d["outcome"], "{replayed}");
    assert_eq!(replayed["status"], 200);

    // GitHub signs the body: the signature is not kept, the event type is.
    let github = s.receiver_path("github-wh-receiver");
    let body = fixture("github-push.json");
    let (status, answer) = s.post(
        &github,
        &[
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", "gh-1"),
            ("X-Hub-Signature-256", &hub_signature(github_secret, &body)),
            ("X-Hub-Signature", "sha1=0123"),
        ],
        &body,
    );
    assert_eq!(status, 200, "{answer}");
    let d = newest(&s);
    let p = payload(&s, id(&d));
    let names = header_names(&p);
    assert!(names.contains(&"x-github-event".to_string()), "{names:?}");
    assert!(
        !names.iter().any(|n| n.contains("signature")),
        "a signature was kept: {names:?}"
    );
    let (status, replayed) = admin_post(&s, &format!("/api/v1/deliveries/{}/replay", id(&d)));
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(replayed["eventType"], "push", "{replayed}");
    assert_ne!(replayed["outcome"], "duplicate", "{replayed}");
    assert_ne!(replayed["outcome"], "rejected", "{replayed}");
    s.wait_for("everything written", |_| true);
}

#[test]
fn no_payload_is_kept_with_the_flag_off_and_a_replay_says_why() {
    let dir = config_dir(&[("base.yaml", BASE_CONFIG)]);
    let s = Server::start(&[dir.path()], &["--keep-payloads=false"]);
    let azure = s.receiver_path("azure-wh-receiver");
    let (status, _) = s.post(&azure, &[ACR_UA], &fixture("acr-push.json"));
    assert_eq!(status, 200);
    let d = newest(&s);
    let p = payload(&s, id(&d));
    assert_eq!(p["kept"], false, "{p}");
    assert_eq!(p["body"], Value::Null);
    assert_eq!(p["headers"], serde_json::json!([]));
    let (status, refused) = admin_post(&s, &format!("/api/v1/deliveries/{}/replay", id(&d)));
    assert_eq!(status, 409, "{refused}");
    let message = refused["error"].as_str().expect("error");
    assert!(message.contains("--keep-payloads=false"), "{message}");
    assert!(message.contains(id(&d)), "{message}");
    // The CLI exits 1 with the message.
    let out = dockhand(&["replay", id(&d), "--server", &s.admin_server()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--keep-payloads=false"),
        "{}",
        stderr(&out)
    );
    // The records are the same as ever: the replication index does not need the payload.
    let view = s.admin_get("/api/v1/artifacts?repository=myregistry.azurecr.io/hello-world");
    assert_eq!(view["reports"].as_array().map(Vec::len), Some(1), "{view}");
}

#[test]
fn replays_that_cannot_be_are_refused_with_the_reason() {
    let dir = config_dir(&[("base.yaml", BASE_CONFIG)]);
    let s = Server::start(&[dir.path()], &[]);
    let azure = s.receiver_path("azure-wh-receiver");

    let (status, body) = admin_post(&s, "/api/v1/deliveries/no-such-id/replay");
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("no-such-id")),
        "{body}"
    );
    let out = dockhand(&[
        "deliveries",
        "show",
        "no-such-id",
        "--server",
        &s.admin_server(),
    ]);
    assert_eq!(out.status.code(), Some(1));

    // Rejected when it arrived: replaying would skip the check it failed, so never.
    let (status, _) = s.post(&azure, &[ACR_UA], "{not json");
    assert_eq!(status, 400);
    let rejected = newest(&s);
    assert_eq!(payload(&s, id(&rejected))["kept"], true);
    let (status, body) = admin_post(&s, &format!("/api/v1/deliveries/{}/replay", id(&rejected)));
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("rejected")),
        "{body}"
    );

    // A header over the field cap trims the payload: shown, not replayed.
    let big = "b".repeat(3000);
    let (status, _) = s.post(
        &azure,
        &[ACR_UA, ("X-Big", big.as_str())],
        &fixture("acr-push.json"),
    );
    assert_eq!(status, 200);
    let trimmed = newest(&s);
    let p = payload(&s, id(&trimmed));
    assert!(
        p["trimmed"].as_str().is_some_and(|t| t.contains("x-big")),
        "{p}"
    );
    let (status, body) = admin_post(&s, &format!("/api/v1/deliveries/{}/replay", id(&trimmed)));
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("trimmed")),
        "{body}"
    );

    // The receiver is removed (renamed): 404 naming it.
    let harbor = s.receiver_path("harbor-wh-receiver");
    let (status, _) = s.post(
        &harbor,
        &[("Authorization", "Bearer test-harbor-token-value")],
        &fixture("harbor-push-artifact.json"),
    );
    assert_eq!(status, 200);
    let from_harbor = newest(&s);
    std::fs::write(
        dir.path().join("base.yaml"),
        BASE_CONFIG.replace("name: harbor-wh-receiver", "name: harbor-renamed"),
    )
    .expect("rename the receiver");
    s.wait_for("the renamed receiver", |s| {
        s.admin_get("/api/v1/receivers")
            .to_string()
            .contains("harbor-renamed")
    });
    let (status, body) = admin_post(
        &s,
        &format!("/api/v1/deliveries/{}/replay", id(&from_harbor)),
    );
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("kargo-demo/harbor-wh-receiver")),
        "{body}"
    );
}

#[test]
fn the_replication_view_lists_each_replica_that_reported_an_image() {
    let dir = config_dir(&[("base.yaml", BASE_CONFIG)]);
    let s = Server::start(&[dir.path()], &[]);
    let azure = s.receiver_path("azure-wh-receiver");
    // Sample 6: one webhook per replica, each URL with its region (one with a secret too).
    // Both carry the same event id, so the second is a duplicate that refreshes nothing; it is
    // still that replica's report.
    let push = fixture("acr-push.json");
    for query in [
        "region=westus",
        &format!("region=eastus&code={QUERY_SECRET}"),
    ] {
        let (status, body) = s.post(&format!("{azure}?{query}"), &[ACR_UA], &push);
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(newest(&s)["outcome"], "duplicate");
    // Another tag and another repository are not this image.
    let other_tag = push.replace("\"tag\": \"v1\"", "\"tag\": \"v2\"");
    s.post(&format!("{azure}?region=westus"), &[ACR_UA], &other_tag);
    let other_repo = push.replace("\"hello-world\"", "\"other\"");
    s.post(&format!("{azure}?region=westus"), &[ACR_UA], &other_repo);

    let digest = "sha256:80f0d5c8786bb9e621a45ece0db56d11cdc624ad20da9fe62e9d25490f331d7d";
    // As users type it: the registry's host and the repository, with the tag apart.
    let view = s.admin_get("/api/v1/artifacts?repository=myregistry.azurecr.io/hello-world&tag=v1");
    assert_eq!(
        view["repository"], "myregistry.azurecr.io/hello-world",
        "{view}"
    );
    assert_eq!(view["tag"], "v1");
    let replicas = view["replicas"].as_array().expect("replicas");
    let regions: Vec<&str> = replicas
        .iter()
        .map(|r| r["replica"].as_str().expect("replica"))
        .collect();
    assert_eq!(regions, ["eastus", "westus"], "newest first: {view}");
    for r in replicas {
        assert_eq!(r["digests"], serde_json::json!([digest]), "{r}");
        assert_eq!(r["deliveries"], 1);
        assert!(
            r["lastReportedAt"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z')),
            "{r}"
        );
    }
    assert_eq!(replicas[0]["query"], "region=eastus&code=[redacted]");
    assert_eq!(view["reports"].as_array().map(Vec::len), Some(2), "{view}");
    assert!(!view.to_string().contains(QUERY_SECRET));

    // Every tag of the repository; a spelling with a tag or a scheme is the same repository.
    let all = s.admin_get("/api/v1/artifacts?repository=myregistry.azurecr.io/hello-world:v1");
    assert_eq!(all["reports"].as_array().map(Vec::len), Some(3), "{all}");
    assert_eq!(
        all["replicas"][0]["tags"],
        serde_json::json!(["v2", "v1"]),
        "{all}"
    );
    // Nothing reported and not an image repository.
    let none = s.admin_get("/api/v1/artifacts?repository=myregistry.azurecr.io/nothing");
    assert_eq!(none["reports"], serde_json::json!([]));
    let resp = s
        .http
        .get(s.admin_url("/api/v1/artifacts"))
        .send()
        .expect("GET");
    assert_eq!(resp.status().as_u16(), 400);

    // The CLI: a table by default, JSON on request.
    let server = s.admin_server();
    let out = dockhand(&[
        "artifacts",
        "--repository",
        "myregistry.azurecr.io/hello-world",
        "--tag",
        "v1",
        "--server",
        &server,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("REPLICA"), "{text}");
    assert!(text.contains("westus") && text.contains("eastus"), "{text}");
    assert!(text.contains(digest), "{text}");
    let out = dockhand(&[
        "artifacts",
        "-r",
        "myregistry.azurecr.io/hello-world",
        "-t",
        "v1",
        "--server",
        &server,
        "-o",
        "json",
    ]);
    let json: Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(json, view);
    s.wait_for("everything written", |_| true);
}

#[test]
fn the_dashboard_shows_the_payload_and_the_replicas() {
    let browser = Browser::new();
    let dir = config_dir(&[("base.yaml", BASE_CONFIG)]);
    let s = Server::start(&[dir.path()], &[]);
    let azure = s.receiver_path("azure-wh-receiver");
    let push = fixture("acr-push.json");
    for region in ["westus", "eastus"] {
        let (status, _) = s.post(&format!("{azure}?region={region}"), &[ACR_UA], &push);
        assert_eq!(status, 200);
    }
    let d = newest(&s);

    let page = s.admin_url(&format!("/ui/deliveries/{}", id(&d)));
    let dom = browser.dom(&page);
    assert!(dom.contains("<pre class=\"payload\""), "{dom}");
    // Pretty-printed: one field a line, indented.
    assert!(
        dom.contains("\n    \"repository\": \"hello-world\",\n"),
        "the payload pretty-printed:\n{dom}"
    );
    assert!(
        dom.contains(&escaped("AzureContainerRegistry/1.0.0")),
        "{dom}"
    );
    assert!(
        dom.contains("action=\"/ui/deliveries/"),
        "the replay button:\n{dom}"
    );
    browser.screenshot(&page, "delivery-payload", DESKTOP);

    let page = s.admin_url("/ui/artifacts?repository=myregistry.azurecr.io%2Fhello-world&tag=v1");
    let dom = browser.dom(&page);
    assert!(
        dom.contains("href=\"/ui/artifacts\" aria-current=\"page\""),
        "{dom}"
    );
    assert!(
        dom.contains("<td data-label=\"Replica\" class=\"replica\">westus</td>"),
        "{dom}"
    );
    assert!(
        dom.contains("<td data-label=\"Replica\" class=\"replica\">eastus</td>"),
        "{dom}"
    );
    assert!(
        dom.contains("sha256:80f0d5c8786bb9e621a45ece0db56d11cdc624ad20da9fe62e9d25490f331d7d"),
        "{dom}"
    );
    assert!(
        dom.contains(&format!("href=\"/ui/deliveries/{}\"", id(&d))),
        "each report links its delivery:\n{dom}"
    );
    browser.screenshot(&page, "artifacts", DESKTOP);
}

#[test]
fn a_replay_in_kargo_mode_patches_the_warehouse_it_now_matches() {
    use crate::kargo::{azure_path, Cluster, AZURE_SECRET, PROJECT as KARGO_PROJECT};
    let c = Cluster::start();
    c.demo("http://kargo.example.com");
    let s = c.serve(&["--refresh-cooldown", "0s"]);
    let azure = azure_path(KARGO_PROJECT, "azure-wh-receiver", AZURE_SECRET);
    // 2.0.0 is outside kargo-demo/app's ^1.0.0 (other-project is another project).
    let body = acr_push("k-1", "myregistry.azurecr.io", "app", "2.0.0");
    let (status, answer) = s.post(&azure, &[ACR_UA], &body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["msg"], "refreshed 0 warehouse(s)");
    let original = answer["deliveryId"].as_str().expect("id").to_string();
    assert!(c.annotation(KARGO_PROJECT, "app").is_none());

    // The constraint is fixed in the cluster; the dry run says when dockhand has seen it.
    c.kube
        .merge_patch(
            "warehouses",
            Some(KARGO_PROJECT),
            "app",
            &serde_json::json!({"spec": {"subscriptions": [{"image": {"repoURL": "myregistry.azurecr.io/app", "constraint": "^2.0.0"}}]}}),
        )
        .expect("edit");
    s.wait_for("the fixed constraint", |s| {
        let resp = s
            .http
            .post(s.admin_url("/api/v1/explain"))
            .json(&serde_json::json!({
                "receiver": "kargo-demo/azure-wh-receiver",
                "headers": ["User-Agent: AzureContainerRegistry/1.0.0"],
                "payload": body,
            }))
            .send()
            .expect("explain");
        resp.json::<Value>()
            .is_ok_and(|d| d["refreshed"] == serde_json::json!(["kargo-demo/app"]))
    });

    let (status, replayed) = admin_post(&s, &format!("/api/v1/deliveries/{original}/replay"));
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(replayed["replayOf"], original.as_str());
    assert_eq!(replayed["refreshed"], serde_json::json!(["kargo-demo/app"]));
    // The refresh is Kargo's annotation patch, recorded against the replay.
    s.wait_for("the patch", |_| {
        c.annotation(KARGO_PROJECT, "app").is_some()
    });
    let new_id = id(&replayed).to_string();
    s.wait_for("the patch recorded on the replay", |s| {
        s.admin_get(&format!("/api/v1/deliveries/{new_id}"))["refreshes"][0]["token"].is_string()
    });
}
