//! Notifications end to end: real Freight from a real registry (as in `discovery.rs`) reported
//! to sinks started by the test. The generic body's signature is checked by a verifier written
//! here from the Standard Webhooks spec, not by the server's signing code; Slack and Teams
//! bodies are checked against the vendors' documented samples (`tests/fixtures/notifications/`).

use std::time::{Duration, Instant};

use crate::common::*;
use crate::support::registry::Registry;
use crate::support::sink::{Received, Sink};
use serde_json::Value;

const PROJECT: &str = "kargo-demo";
/// `whsec_` + base64("test-notify-signing-key-0123").
const SIGNING_SECRET: &str = "whsec_dGVzdC1ub3RpZnktc2lnbmluZy1rZXktMDEyMw==";
/// In every sink address: the address is a credential and must never be logged or stored.
const ADDRESS_PATH: &str = "/hooks/test-notify-address-token";

/// A Notification `name` of `kind` posting to `address`, with its Secret.
fn notification(name: &str, kind: &str, address: &str, extra_spec: &str) -> String {
    let secret = if kind == "generic" {
        format!("  secret: {SIGNING_SECRET}\n")
    } else {
        String::new()
    };
    format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: {name}-hook, namespace: {PROJECT}}}\nstringData:\n  address: {address}\n{secret}---\napiVersion: dockhand.dev/v1alpha1\nkind: Notification\nmetadata: {{name: {name}, namespace: {PROJECT}}}\nspec:\n  type: {kind}\n  secretRef: {{name: {name}-hook}}\n{extra_spec}"
    )
}

fn start(manifests: &str) -> (tempfile::TempDir, Server) {
    let dir = config_dir(&[("base.yaml", BASE_CONFIG), ("notify.yaml", manifests)]);
    let s = Server::start(
        &[dir.path()],
        &["--refresh-cooldown", "0s", "--discovery-timeout", "2s"],
    );
    (dir, s)
}

/// Pushes `team/app:tag` to `reg` and sends dockhand the registry's webhook for it.
fn push(s: &Server, reg: &Registry, tag: &str) -> String {
    let (digest, _) = reg.push_image(
        "team/app",
        Some(tag),
        "linux",
        "amd64",
        "2024-01-02T00:00:00Z",
    );
    let path = s.receiver_path("azure-wh-receiver");
    let (status, body) = s.post(
        &path,
        &[ACR_UA],
        &acr_push(&format!("d-{tag}"), &reg.host(), "team/app", tag),
    );
    assert_eq!(status, 200, "{body}");
    digest
}

fn notifications(s: &Server) -> Vec<Value> {
    s.admin_get("/api/v1/notifications")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn row(s: &Server, id: &str) -> Value {
    notifications(s)
        .into_iter()
        .find(|n| n["id"] == id)
        .unwrap_or_else(|| panic!("no notification {id}"))
}

/// Waits (up to `within`) until the row `id` has `status`.
fn wait_status(s: &Server, id: &str, status: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let r = row(s, id);
        if r["status"] == status {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "notification {id} is not {status}: {r}\n{}",
            s.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `dockhand notify test PROJECT/NAME` against the running server; the queued id.
fn notify_test(s: &Server, name: &str) -> String {
    let out = dockhand(&[
        "notify",
        "test",
        &format!("{PROJECT}/{name}"),
        "--server",
        &s.admin_server(),
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).expect("json");
    v["id"].as_str().expect("id").to_string()
}

/// A Standard Webhooks verifier, from the spec's "Verifying webhook authenticity": the key is
/// the base64 after `whsec_`; the signed content is `{id}.{timestamp}.{body}`; the header holds
/// space-separated `v1,{base64 HMAC-SHA256}` entries; the timestamp must be within five
/// minutes of now.
fn verify_standard_webhooks(secret: &str, r: &Received) -> Result<(), String> {
    use base64::Engine as _;
    use hmac::{Hmac, Mac};
    let b64 = base64::engine::general_purpose::STANDARD;
    let id = r.header("webhook-id").ok_or("no webhook-id")?;
    let ts = r
        .header("webhook-timestamp")
        .ok_or("no webhook-timestamp")?;
    let sigs = r
        .header("webhook-signature")
        .ok_or("no webhook-signature")?;
    let ts_n: i64 = ts.parse().map_err(|_| "timestamp is not an integer")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    if (now - ts_n).abs() > 300 {
        return Err(format!("timestamp {ts_n} is not within 5 minutes of {now}"));
    }
    let key = b64
        .decode(
            secret
                .strip_prefix("whsec_")
                .ok_or("secret without whsec_")?,
        )
        .map_err(|e| e.to_string())?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&r.body);
    let expected = mac.finalize().into_bytes();
    for entry in sigs.split(' ') {
        if let Some(sig) = entry.strip_prefix("v1,") {
            if b64.decode(sig).map_err(|e| e.to_string())? == expected.as_slice() {
                return Ok(());
            }
        }
    }
    Err(format!("no v1 signature matches in {sigs:?}"))
}

#[test]
fn generic_freight_created_is_signed_per_standard_webhooks() {
    let reg = Registry::start();
    let sink = Sink::start(&[], (200, "ok"));
    let repo = format!("{}/team/app", reg.host());
    let (_dir, s) = start(&format!(
        "{}{}",
        image_warehouse(PROJECT, "app", &repo, "^1.0.0"),
        notification("pipeline", "generic", &sink.url(ADDRESS_PATH), "")
    ));
    let digest = push(&s, &reg, "v1.2.0");

    let got = sink.wait_for(1, Duration::from_secs(20));
    let r = &got[0];
    assert_eq!(r.path, ADDRESS_PATH);
    assert_eq!(r.header("content-type"), Some("application/json"));
    verify_standard_webhooks(SIGNING_SECRET, r).expect("the signature verifies");
    // Tampering is detected by the same verifier (it can fail).
    let mut tampered = r.clone();
    tampered.body.push(b' ');
    assert!(verify_standard_webhooks(SIGNING_SECRET, &tampered).is_err());

    let event = r.json();
    assert_eq!(event["type"], "FreightCreated");
    assert_eq!(event["id"], r.header("webhook-id").unwrap());
    assert!(event["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(event["project"], PROJECT);
    assert_eq!(event["warehouse"], "app");
    assert!(event["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    let image = &event["freight"]["artifacts"]["images"][0];
    assert_eq!(image["repoURL"], repo.as_str());
    assert_eq!(image["tag"], "v1.2.0");
    assert_eq!(image["digest"], digest.as_str());
    assert_eq!(event["freight"]["id"].as_str().map(str::len), Some(40));

    // Recorded as sent, through the API and the CLI; never the address or the key.
    let id = event["id"].as_str().unwrap();
    let n = wait_status(&s, id, "sent", Duration::from_secs(10));
    // The wire shape of GET /api/v1/notifications, pinned (as admin_api.rs pins the others).
    let mut keys: Vec<&str> = n.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "attempts",
            "createdAt",
            "event",
            "finishedAt",
            "id",
            "lastError",
            "notification",
            "project",
            "responseCode",
            "status",
            "type",
            "warehouse"
        ]
    );
    assert!(
        n["lastError"].is_null() && n["finishedAt"].is_string(),
        "{n}"
    );
    assert_eq!(n["attempts"], 1);
    assert_eq!(n["responseCode"], 200);
    assert_eq!(n["type"], "generic");
    assert_eq!(n["event"], "FreightCreated");
    assert_eq!(n["notification"], "pipeline");
    assert_eq!(n["warehouse"], "app");
    let out = dockhand(&[
        "notifications",
        "-p",
        PROJECT,
        "--server",
        &s.admin_server(),
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(listed[0]["id"], id);
    let table = dockhand(&["notifications", "--server", &s.admin_server()]);
    assert!(
        stdout(&table).contains("kargo-demo/pipeline"),
        "{}",
        stdout(&table)
    );
    for text in [stdout(&out), stdout(&table)] {
        assert!(!text.contains("test-notify-address-token"));
        assert!(!text.contains("dGVzdC1ub3RpZnkt"));
    }
    let metrics = s
        .http
        .get(s.admin_url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains(r#"dockhand_notifications_total{type="generic",outcome="sent"} 1"#),
        "{metrics}"
    );

    // The same Freight again (a lower tag leaves the newest as it was): no second event.
    push(&s, &reg, "v1.1.0");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sink.received().len(), 1);
}

#[test]
fn retries_keep_one_webhook_id_until_sent() {
    let sink = Sink::start(&[(500, "boom"), (500, "boom")], (200, "ok"));
    let (_dir, s) = start(&notification(
        "pipeline",
        "generic",
        &sink.url(ADDRESS_PATH),
        "",
    ));
    let id = notify_test(&s, "pipeline");
    let got = sink.wait_for(3, Duration::from_secs(20));
    assert_eq!(got.len(), 3);
    for r in &got {
        assert_eq!(r.header("webhook-id"), Some(id.as_str()));
        verify_standard_webhooks(SIGNING_SECRET, r).expect("every attempt is signed");
        assert_eq!(r.json()["type"], "Test");
    }
    let n = wait_status(&s, &id, "sent", Duration::from_secs(10));
    assert_eq!(n["attempts"], 3);
    assert_eq!(n["responseCode"], 200);
    assert_eq!(n["lastError"], "HTTP 500: boom");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(sink.received().len(), 3, "nothing sent after success");
}

#[test]
fn a_sink_down_across_a_sigkill_gets_the_event_after_restart() {
    let port = free_port();
    let address = format!("http://127.0.0.1:{port}{ADDRESS_PATH}");
    let (_dir, mut s) = start(&notification("pipeline", "generic", &address, ""));
    let id = notify_test(&s, "pipeline");
    s.wait_for("a failed attempt", |s| {
        row(s, &id)["attempts"].as_u64().unwrap_or(0) >= 1
    });
    let n = row(&s, &id);
    assert_eq!(n["status"], "pending");
    assert!(
        n["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("connect")),
        "{n}"
    );
    assert!(!n.to_string().contains("test-notify-address-token"), "{n}");
    s.kill9();
    let sink = Sink::start_on(port, &[], (204, ""));
    s.restart();
    let got = sink.wait_for(1, Duration::from_secs(20));
    assert_eq!(got[0].header("webhook-id"), Some(id.as_str()));
    let n = wait_status(&s, &id, "sent", Duration::from_secs(10));
    assert_eq!(n["responseCode"], 204);
}

#[test]
fn a_4xx_fails_at_once_with_the_reason() {
    let sink = Sink::start(&[], (400, "invalid payload"));
    let (_dir, s) = start(&notification(
        "pipeline",
        "generic",
        &sink.url(ADDRESS_PATH),
        "",
    ));
    let id = notify_test(&s, "pipeline");
    let n = wait_status(&s, &id, "failed", Duration::from_secs(10));
    assert_eq!(n["attempts"], 1);
    assert_eq!(n["responseCode"], 400);
    assert_eq!(n["lastError"], "HTTP 400: invalid payload");
    assert!(n["finishedAt"].is_string());
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(sink.received().len(), 1, "a 400 is not retried");

    // The dashboard page lists the Notification and the row, never the address.
    let page = s
        .http
        .get(s.admin_url("/ui/notifications"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("<a href=\"/ui/notifications\" aria-current=\"page\">Notifications</a>"),
        "{page}"
    );
    assert!(page.contains(&id), "{page}");
    assert!(page.contains("HTTP 400: invalid payload"), "{page}");
    assert!(page.contains(">failed</span>"), "{page}");
    assert!(!page.contains("test-notify-address-token"), "{page}");

    // An unknown Notification is a 404 from the API, an error from the CLI.
    let out = dockhand(&[
        "notify",
        "test",
        &format!("{PROJECT}/nope"),
        "--server",
        &s.admin_server(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no Notification kargo-demo/nope"),
        "{}",
        stderr(&out)
    );
}

/// Does `ours` have the shape of `documented`: same JSON type, every key of an object present
/// in the documented one with the same shape (lists: every item shaped like some documented
/// item of the same `type`)?
fn shaped_like(ours: &Value, documented: &[&Value], at: &str) -> Result<(), String> {
    match ours {
        Value::Object(map) => {
            let kind = map.get("type");
            let candidates: Vec<&serde_json::Map<String, Value>> = documented
                .iter()
                .filter_map(|d| d.as_object())
                .filter(|d| kind.is_none() || d.get("type") == kind)
                .collect();
            if candidates.is_empty() {
                return Err(format!("{at}: no documented object of type {kind:?}"));
            }
            for (k, v) in map {
                let same: Vec<&Value> = candidates.iter().filter_map(|d| d.get(k)).collect();
                if same.is_empty() {
                    return Err(format!("{at}.{k}: not in the documented samples"));
                }
                shaped_like(v, &same, &format!("{at}.{k}"))?;
            }
            Ok(())
        }
        Value::Array(items) => {
            let documented_items: Vec<&Value> = documented
                .iter()
                .filter_map(|d| d.as_array())
                .flatten()
                .collect();
            for (i, item) in items.iter().enumerate() {
                shaped_like(item, &documented_items, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        other => {
            let same_type = documented.iter().any(|d| {
                std::mem::discriminant(*d) == std::mem::discriminant(other)
                    || (d.is_null() && other.is_null())
            });
            if same_type {
                Ok(())
            } else {
                Err(format!("{at}: {other} is not of a documented type"))
            }
        }
    }
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&fixture(&format!("notifications/{name}"))).expect("fixture JSON")
}

#[test]
fn slack_and_teams_bodies_have_the_documented_shapes() {
    let reg = Registry::start();
    let slack = Sink::start(&[], (200, "ok"));
    let teams = Sink::start(&[], (202, ""));
    let repo = format!("{}/team/app", reg.host());
    let (_dir, s) = start(&format!(
        "{}{}{}",
        image_warehouse(PROJECT, "app", &repo, "^1.0.0"),
        notification(
            "chat",
            "slack",
            &slack.url(ADDRESS_PATH),
            "  warehouses: [app]\n"
        ),
        notification("channel", "teams", &teams.url(ADDRESS_PATH), "")
    ));
    let digest = push(&s, &reg, "v1.2.0");
    let link = format!("{}/ui/warehouses/{PROJECT}/app", s.url(""));

    let sent = &slack.wait_for(1, Duration::from_secs(20))[0];
    assert_eq!(
        sent.header("webhook-signature"),
        None,
        "only generic is signed"
    );
    let body = sent.json();
    let documented = fixture_json("slack-incoming-webhook-blocks.json");
    let context = fixture_json("slack-block-kit-context.json");
    let mut blocks: Vec<Value> = documented["blocks"].as_array().unwrap().clone();
    blocks.push(context);
    let documented = serde_json::json!({ "text": documented["text"], "blocks": blocks });
    shaped_like(&body, &[&documented], "slack").unwrap_or_else(|e| panic!("{e}\n{body:#}"));
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("kargo-demo/app"), "{text}");
    assert!(text.contains(&format!("{repo}:v1.2.0")), "{text}");
    let all = body.to_string();
    assert!(all.contains(&digest), "names the digest: {all}");
    assert!(all.contains(&format!("<{link}|Open in dockhand>")), "{all}");

    let sent = &teams.wait_for(1, Duration::from_secs(20))[0];
    let body = sent.json();
    let mut documented = fixture_json("teams-workflows-adaptive-card.json");
    let card = fixture_json("adaptive-card-factset-openurl.json");
    // The documented card items and actions beside the envelope's own.
    let content = &mut documented["attachments"][0]["content"];
    let mut items = content["body"].as_array().unwrap().clone();
    items.extend(card["body"].as_array().unwrap().iter().cloned());
    content["body"] = Value::Array(items);
    content["actions"] = card["actions"].clone();
    shaped_like(&body, &[&documented], "teams").unwrap_or_else(|e| panic!("{e}\n{body:#}"));
    assert_eq!(body["type"], "message");
    assert_eq!(
        body["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &body["attachments"][0]["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert!(card["body"][0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("kargo-demo/app")));
    assert_eq!(card["actions"][0]["url"], link.as_str());
    assert!(body.to_string().contains(&digest));
}

#[test]
fn check_reports_notification_problems() {
    let dir = config_dir(&[
        ("base.yaml", BASE_CONFIG),
        (
            "notify.yaml",
            &format!(
                "{}---\napiVersion: dockhand.dev/v1alpha1\nkind: Notification\nmetadata: {{name: pager, namespace: {PROJECT}}}\nspec:\n  type: pagerduty\n  secretRef: {{name: nope}}\n  events: [FreightCreated, Promoted]\n",
                notification("chat", "generic", "not a url", "  warehouses: [ghost]\n")
            ),
        ),
    ]);
    let out = dockhand(&["check", "--config", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stdout(&out);
    for want in [
        "spec.secretRef.name: Secret kargo-demo/chat-hook key \"address\" is not an http:// or https:// URL",
        "spec.type: unknown type \"pagerduty\"",
        "spec.events[1]: unknown event \"Promoted\"",
    ] {
        assert!(err.contains(want), "want {want:?} in:\n{err}");
    }
}

#[test]
fn check_warns_about_an_unknown_warehouse() {
    let dir = config_dir(&[
        ("base.yaml", BASE_CONFIG),
        (
            "notify.yaml",
            &notification(
                "chat",
                "slack",
                "https://hooks.slack.example/x",
                "  warehouses: [ghost]\n",
            ),
        ),
    ]);
    let out = dockhand(&["check", "--config", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(" 1 notification(s), "),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("warning: ")
            && stderr(&out)
                .contains("spec.warehouses[0]: no Warehouse \"ghost\" in project \"kargo-demo\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn failures_are_reported_once_when_they_start() {
    let sink = Sink::start(&[], (200, "ok"));
    // A registry nobody listens on: every discovery fails.
    let repo = format!("127.0.0.1:{}/team/app", free_port());
    let (_dir, s) = start(&format!(
        "{}{}",
        image_warehouse(PROJECT, "app", &repo, "^1.0.0"),
        notification(
            "alerts",
            "generic",
            &sink.url(ADDRESS_PATH),
            "  events: [DiscoveryFailed, DeliveryRejected]\n"
        )
    ));
    let reconciles = |s: &Server| {
        s.warehouse(PROJECT, "app")["reconcileCount"]
            .as_u64()
            .unwrap_or(0)
    };
    for round in 1..=2u64 {
        let r = s
            .http
            .post(s.admin_url(&format!("/api/v1/warehouses/{PROJECT}/app/refresh")))
            .send()
            .unwrap();
        assert_eq!(r.status(), 202);
        s.wait_for("a failed reconcile", |s| reconciles(s) >= round);
    }
    let got = sink.wait_for(1, Duration::from_secs(10));
    let event = got[0].json();
    assert_eq!(event["type"], "DiscoveryFailed");
    assert_eq!(event["warehouse"], "app");
    assert!(
        event["error"].as_str().is_some_and(|e| e.contains(&repo)),
        "{event}"
    );

    // Rejected deliveries: two bad bodies to one receiver, one event.
    let path = s.receiver_path("azure-wh-receiver");
    for _ in 0..2 {
        let (status, _) = s.post(&path, &[], "{nope");
        assert_eq!(status, 400);
    }
    let got = sink.wait_for(2, Duration::from_secs(10));
    let event = got[1].json();
    assert_eq!(event["type"], "DeliveryRejected");
    assert_eq!(event["receiver"], "azure-wh-receiver");
    assert_eq!(event["status"], 400);
    assert!(
        event["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("invalid request body")),
        "{event}"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        sink.received().len(),
        2,
        "the ongoing failure and the second rejection are not reported again"
    );
}

#[test]
fn two_replicas_on_postgres_send_each_notification_once() {
    let sink = Sink::start(&[], (200, "ok"));
    let dir = config_dir(&[
        ("base.yaml", BASE_CONFIG),
        (
            "notify.yaml",
            &notification("pipeline", "generic", &sink.url(ADDRESS_PATH), ""),
        ),
    ]);
    let url = crate::support::postgres::Cluster::shared().database();
    let args = ["--database-url", url.as_str()];
    let a = Server::start(&[dir.path()], &args);
    let b = Server::start(&[dir.path()], &args);
    let mut ids: Vec<String> = (0..10)
        .map(|i| notify_test(if i % 2 == 0 { &a } else { &b }, "pipeline"))
        .collect();
    let got = sink.wait_for(10, Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(2));
    let mut sent: Vec<String> = sink
        .received()
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_string())
        .collect();
    assert!(got.len() >= 10);
    sent.sort();
    ids.sort();
    assert_eq!(sent, ids, "each notification sent once, by one replica");
    // Both replicas show every row as sent.
    for s in [&a, &b] {
        for id in &ids {
            assert_eq!(row(s, id)["status"], "sent");
        }
    }
}

#[test]
fn a_hanging_endpoint_delays_neither_the_others_nor_webhooks() {
    // An endpoint that never answers (each attempt runs into the 10 s timeout).
    let slow = crate::support::web::Web::start();
    slow.route(
        ADDRESS_PATH,
        crate::support::web::Reply::Hang(Duration::from_secs(60)),
    );
    let fast = Sink::start(&[], (200, "ok"));
    let (_dir, s) = start(&format!(
        "{}{}",
        notification("stuck", "generic", &slow.url(ADDRESS_PATH), ""),
        notification("pipeline", "generic", &fast.url(ADDRESS_PATH), "")
    ));
    // More rows for the hanging endpoint than it may have in flight at once.
    for _ in 0..8 {
        notify_test(&s, "stuck");
    }
    s.wait_for("the hanging endpoint to be busy", |_| slow.hits() >= 4);
    let started = Instant::now();
    let id = notify_test(&s, "pipeline");
    let got = fast.wait_for(1, Duration::from_secs(5));
    assert_eq!(got[0].header("webhook-id"), Some(id.as_str()));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the other endpoint waited {:?}",
        started.elapsed()
    );
    // The webhook path does not wait for any of it either.
    let started = Instant::now();
    let (status, _) = s.post(
        &s.receiver_path("azure-wh-receiver"),
        &[ACR_UA],
        &acr_push("d-1", "myregistry.azurecr.io", "team/app", "1.0.0"),
    );
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_secs(2));
    // At most four attempts at once reach the hanging endpoint.
    std::thread::sleep(Duration::from_millis(500));
    assert!(slow.hits() <= 4, "{} attempts in flight", slow.hits());
}
