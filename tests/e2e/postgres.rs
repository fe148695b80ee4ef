//! Issue 14 (and issue 17 item 8): several replicas on one PostgreSQL behave as one server. Two
//! real `dockhand serve` processes share a database on a real PostgreSQL cluster
//! (`support::postgres`); each test has its own database. Also: de-duplication survives a
//! restart on SQLite.

use std::time::{Duration, Instant};

use crate::common::*;
use crate::support::postgres::Cluster;
use crate::support::web::{json, Reply, Web};
use serde_json::Value;

fn config() -> tempfile::TempDir {
    let mut c = BASE_CONFIG.to_string();
    c.push_str(&image_warehouse(
        "kargo-demo",
        "app",
        "myregistry.azurecr.io/team/app",
        "^1.0.0",
    ));
    config_dir(&[("c.yaml", &c)])
}

fn azure_path(s: &Server) -> String {
    s.admin_get("/api/v1/receivers")
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "azure")
        .and_then(|r| r["path"].as_str())
        .unwrap()
        .to_string()
}

/// Two replicas on one fresh database.
fn replicas(dir: &tempfile::TempDir, url: &str, extra: &[&str]) -> (Server, Server) {
    let mut args = vec!["--database-url", url];
    args.extend_from_slice(extra);
    let a = Server::start(&[dir.path()], &args);
    let b = Server::start(&[dir.path()], &args);
    (a, b)
}

fn push(s: &Server, id: &str, tag: &str) -> (u16, Value) {
    let path = azure_path(s);
    s.post(
        &path,
        &[ACR_UA],
        &acr_push(id, "myregistry.azurecr.io", "team/app", tag),
    )
}

#[test]
fn either_replica_stores_and_both_show_everything() {
    let dir = config();
    // The cluster trusts loopback connections, so any password works: it must never show.
    let url = Cluster::shared()
        .database()
        .replace("postgres@", "postgres:hunter2-db-password@");
    let (a, b) = replicas(&dir, &url, &[]);
    let (status, body) = push(&a, "to-a", "1.0.0");
    assert_eq!(
        (status, &body["msg"]),
        (200, &Value::from("refreshed 1 warehouse(s)"))
    );
    let (status, _) = push(&b, "to-b", "1.0.1");
    assert_eq!(status, 200);
    // A 2xx means committed in PostgreSQL: each replica's admin API shows both at once.
    for s in [&a, &b] {
        let ids: Vec<String> = s
            .deliveries()
            .iter()
            .map(|d| d["providerId"].as_str().unwrap_or("").to_string())
            .collect();
        assert_eq!(ids, ["to-b", "to-a"]);
        assert_eq!(s.warehouse("kargo-demo", "app")["refreshCount"], 2);
    }
    a.wait_for("a reconcile", |s| {
        s.warehouse("kargo-demo", "app")["reconcileCount"]
            .as_u64()
            .unwrap_or(0)
            >= 1
    });
    // Whichever replica reconciled, the other shows it.
    assert!(
        b.warehouse("kargo-demo", "app")["reconcileCount"]
            .as_u64()
            .unwrap_or(0)
            >= 1
    );
    // The database password is never in a log.
    for s in [&a, &b] {
        assert!(!s.logs().contains("hunter2-db-password"), "{}", s.logs());
    }
}

#[test]
fn the_same_delivery_id_sent_to_both_replicas_refreshes_once() {
    let dir = config();
    let url = Cluster::shared().database();
    let (a, b) = replicas(&dir, &url, &[]);
    let (status, body) = push(&a, "same-id", "1.0.0");
    assert_eq!(
        (status, &body["msg"]),
        (200, &Value::from("refreshed 1 warehouse(s)"))
    );
    let (status, body) = push(&b, "same-id", "1.0.0");
    assert_eq!(status, 200);
    assert!(
        body["msg"]
            .as_str()
            .unwrap_or("")
            .starts_with("duplicate delivery same-id"),
        "{body}"
    );
    assert_eq!(a.warehouse("kargo-demo", "app")["refreshCount"], 1);
    let outcomes: Vec<Value> = b
        .deliveries()
        .iter()
        .map(|d| d["outcome"].clone())
        .collect();
    assert_eq!(
        outcomes,
        [Value::from("duplicate"), Value::from("refreshed")]
    );
}

#[test]
fn a_storm_over_two_replicas_reconciles_at_most_twice() {
    let dir = config();
    let url = Cluster::shared().database();
    let (a, b) = replicas(&dir, &url, &["--refresh-cooldown", "3s"]);
    for i in 0..40 {
        let s = if i % 2 == 0 { &a } else { &b };
        let (status, _) = push(s, &format!("storm-{i}"), "1.2.0");
        assert_eq!(status, 200);
    }
    a.wait_for("the follow-up reconcile", |s| {
        let w = s.warehouse("kargo-demo", "app");
        w["reconcileCount"].as_u64().unwrap_or(0) >= 1 && w["pending"] == false
    });
    // Longer than a cooldown: a third reconcile would have happened by now.
    std::thread::sleep(Duration::from_secs(5));
    let w = b.warehouse("kargo-demo", "app");
    let n = w["reconcileCount"].as_u64().unwrap_or(0);
    assert!((1..=2).contains(&n), "{w}");
    assert_eq!(w["refreshCount"], 40, "{w}");
}

#[test]
fn interval_reconciles_are_not_doubled_by_two_replicas() {
    let mut c = BASE_CONFIG.to_string();
    c.push_str("---\napiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata: {name: fast, namespace: kargo-demo}\nspec:\n  interval: 4s\n  subscriptions:\n  - image: {repoURL: myregistry.azurecr.io/fast}\n");
    let dir = config_dir(&[("c.yaml", &c)]);
    let url = Cluster::shared().database();
    let (a, _b) = replicas(&dir, &url, &["--refresh-cooldown", "0s"]);
    let started = Instant::now();
    a.wait_for("an interval reconcile", |s| {
        s.warehouse("kargo-demo", "fast")["reconcileCount"]
            .as_u64()
            .unwrap_or(0)
            >= 1
    });
    std::thread::sleep(Duration::from_secs(12));
    let n = a.warehouse("kargo-demo", "fast")["reconcileCount"]
        .as_u64()
        .unwrap_or(0);
    // One replica alone gives one per 4 s; two replicas each doing their own would give about
    // twice as many.
    let intervals = started.elapsed().as_secs() / 4;
    assert!(
        n >= 2 && n <= intervals + 1,
        "{n} reconciles in {intervals} intervals"
    );
}

#[test]
fn database_down_answers_503_then_recovers() {
    let cluster = Cluster::start();
    let url = cluster.database();
    let dir = config();
    let (a, _b) = replicas(&dir, &url, &[]);
    let (status, _) = push(&a, "before", "1.0.0");
    assert_eq!(status, 200);
    cluster.stop();
    let stopped = Instant::now();
    a.wait_for("/readyz 503", |s| {
        s.http
            .get(s.url("/readyz"))
            .send()
            .is_ok_and(|r| r.status() == 503)
    });
    assert!(stopped.elapsed() < Duration::from_secs(10));
    let (status, body) = push(&a, "while-down", "1.0.1");
    assert_eq!(status, 503, "{body}");
    cluster.restart();
    let back = Instant::now();
    let deadline = back + Duration::from_secs(30);
    loop {
        let ready = a
            .http
            .get(a.url("/readyz"))
            .send()
            .is_ok_and(|r| r.status() == 200);
        if ready {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not ready 30 s after the database returned"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The sender's retry is stored and refreshes; what was refused was never stored.
    let (status, body) = push(&a, "while-down", "1.0.1");
    assert_eq!(
        (status, &body["msg"]),
        (200, &Value::from("refreshed 1 warehouse(s)"))
    );
    let ids: Vec<Value> = a
        .deliveries()
        .iter()
        .map(|d| d["providerId"].clone())
        .collect();
    assert_eq!(ids, [Value::from("while-down"), Value::from("before")]);
}

#[test]
fn migrate_applies_the_schema_and_a_newer_one_is_refused() {
    let url = Cluster::shared().database();
    let out = dockhand(&["migrate", "--database-url", &url]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Make the schema look newer than this binary: serve refuses with a clear message.
    let out = std::process::Command::new("psql")
        .args([&url, "-c", "UPDATE dockhand_schema SET version = 999"])
        .output()
        .expect("psql (Debian's postgresql-client, installed with postgresql)");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = dockhand(&["migrate", "--database-url", &url]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("schema version 999, newer than this dockhand"),
        "{err}"
    );
    // sslmode is honoured: the test server speaks no TLS, so requiring it fails, and says why.
    for mode in ["require", "verify-full"] {
        let tls = url.replace("sslmode=disable", &format!("sslmode={mode}"));
        let out = dockhand(&["migrate", "--database-url", &tls]);
        assert!(
            !out.status.success(),
            "sslmode={mode} connected without TLS"
        );
        assert!(stderr(&out).contains("TLS"), "{}", stderr(&out));
    }
    // A wrong password is refused without showing it.
    let bad = url
        .replace("postgres@", "postgres:hunter2-secret@")
        .replace("127.0.0.1", "127.0.0.1:1");
    let out = dockhand(&["migrate", "--database-url", &bad]);
    assert!(!out.status.success());
    assert!(!stderr(&out).contains("hunter2-secret"), "{}", stderr(&out));
}

#[test]
fn dedup_window_survives_a_restart_on_sqlite() {
    let dir = config();
    let mut s = Server::start(&[dir.path()], &[]);
    let (_, body) = push(&s, "before-restart", "1.0.0");
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
    s.kill9();
    s.restart();
    let (status, body) = push(&s, "before-restart", "1.0.0");
    assert_eq!(status, 200);
    assert!(
        body["msg"]
            .as_str()
            .unwrap_or("")
            .starts_with("duplicate delivery before-restart"),
        "{body}"
    );
    assert_eq!(s.warehouse("kargo-demo", "app")["refreshCount"], 1);
}

#[test]
fn a_replica_killed_mid_reconcile_is_taken_over_after_its_lease() {
    // A registry that does not answer keeps the first replica's reconcile running.
    let web = Web::start();
    web.route(
        "/v2/team/slow/tags/list",
        Reply::Hang(Duration::from_secs(60)),
    );
    let mut c = BASE_CONFIG.to_string();
    c.push_str(&image_warehouse(
        "kargo-demo",
        "slow",
        &format!("{}/team/slow", web.host()),
        "^1.0.0",
    ));
    let dir = config_dir(&[("c.yaml", &c)]);
    let url = Cluster::shared().database();
    let args = ["--database-url", &url, "--refresh-lease", "3s"];
    let mut a = Server::start(&[dir.path()], &args);
    let path = azure_path(&a);
    let (status, _) = a.post(
        &path,
        &[ACR_UA],
        &acr_push("slow-1", &web.host(), "team/slow", "1.0.0"),
    );
    assert_eq!(status, 200);
    a.wait_for("the reconcile to reach the registry", |_| web.hits() >= 1);
    // The second replica starts while the first holds the claim: it renews its lease, so the
    // second one leaves the refresh alone for longer than a lease.
    let b = Server::start(&[dir.path()], &args);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(web.hits(), 1, "the refresh was reconciled twice at once");
    // The registry answers from now on; the first replica dies mid-reconcile.
    web.route(
        "/v2/team/slow/tags/list",
        json(404, r#"{"errors":[{"code":"NAME_UNKNOWN"}]}"#),
    );
    a.kill9();
    let killed = Instant::now();
    b.wait_for("the takeover", |s| {
        let w = s.warehouse("kargo-demo", "slow");
        w["reconcileCount"] == 1 && w["pending"] == false
    });
    assert!(
        killed.elapsed() < Duration::from_secs(12),
        "{:?}",
        killed.elapsed()
    );
    assert!(web.hits() >= 2);
    // The acknowledged delivery is there.
    assert_eq!(b.deliveries().len(), 1);
}

#[test]
fn the_postgres_overlay_runs_two_replicas_with_the_url_from_a_secret() {
    let docs = crate::deploy::kustomize("deploy/kubernetes/overlays/postgres");
    let deployment = docs
        .iter()
        .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == "dockhand")
        .expect("the dockhand Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let env = container["env"].as_array().expect("env");
    let url = env
        .iter()
        .find(|e| e["name"] == "DOCKHAND_DATABASE_URL")
        .expect("DOCKHAND_DATABASE_URL");
    assert_eq!(
        url["valueFrom"]["secretKeyRef"],
        serde_json::json!({"name": "dockhand-database", "key": "url"})
    );
    assert!(url.get("value").is_none(), "{url}");
    // The base's environment is kept next to it.
    assert!(env.iter().any(|e| e["name"] == "DOCKHAND_BASE_URL"));
    // Still the side-by-side layout: its Ingress comes along.
    assert!(docs.iter().any(|d| d["kind"] == "Ingress"));
}

#[test]
fn a_replica_shut_down_mid_reconcile_hands_its_claim_over_at_once() {
    let web = Web::start();
    web.route(
        "/v2/team/slow/tags/list",
        Reply::Hang(Duration::from_secs(60)),
    );
    let mut c = BASE_CONFIG.to_string();
    c.push_str(&image_warehouse(
        "kargo-demo",
        "slow",
        &format!("{}/team/slow", web.host()),
        "^1.0.0",
    ));
    let dir = config_dir(&[("c.yaml", &c)]);
    let url = Cluster::shared().database();
    // A lease far longer than the test: only giving it back lets the other replica in.
    let args = ["--database-url", &url, "--refresh-lease", "5m"];
    let mut a = Server::start(&[dir.path()], &args);
    let path = azure_path(&a);
    let (status, _) = a.post(
        &path,
        &[ACR_UA],
        &acr_push("slow-1", &web.host(), "team/slow", "1.0.0"),
    );
    assert_eq!(status, 200);
    a.wait_for("the reconcile to reach the registry", |_| web.hits() >= 1);
    let b = Server::start(&[dir.path()], &args);
    web.route(
        "/v2/team/slow/tags/list",
        json(404, r#"{"errors":[{"code":"NAME_UNKNOWN"}]}"#),
    );
    a.signal("TERM");
    assert!(a.wait_exit().success());
    b.wait_for("the handover", |s| {
        let w = s.warehouse("kargo-demo", "slow");
        w["reconcileCount"] == 1 && w["pending"] == false
    });
}
