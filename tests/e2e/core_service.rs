//! Issue 2: manifests in, receiver URLs out, one binary with a store and an admin API.

use std::time::Duration;

use crate::common::*;
use serde_json::Value;

const KARGO_DOCS_EXAMPLE: &str = r#"
apiVersion: v1
kind: Secret
metadata:
  name: azure-wh-secret
  namespace: kargo-demo
  labels:
    kargo.akuity.io/cred-type: generic
data:
  secret: bXlzZWNyZXQ=
---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata:
  name: kargo-demo
  namespace: kargo-demo
spec:
  webhookReceivers:
  - name: azure-wh-receiver
    azure:
      secretRef:
        name: azure-wh-secret
"#;

/// sha256("kargo-demo" + "azure-wh-receiver" + "mysecret"), as Kargo computes it.
const KARGO_VECTOR: &str =
    "/azure/745146127fcc648612afc12a906adf7d5414fac3a2fee947b931243f7d8368cd";

#[test]
fn receivers_prints_kargo_compatible_urls() {
    let dir = config_dir(&[("kargo.yaml", KARGO_DOCS_EXAMPLE)]);
    let d = dir.path().to_str().unwrap();
    let out = dockhand(&[
        "receivers",
        "--config",
        d,
        "-o",
        "json",
        "--base-url",
        "https://hooks.example.com/",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        rows,
        serde_json::json!([{
            "project": "kargo-demo",
            "name": "azure-wh-receiver",
            "type": "azure",
            "path": KARGO_VECTOR,
            "url": format!("https://hooks.example.com{KARGO_VECTOR}"),
        }])
    );
    // Base path from --base-url prefixes the path; table output names the columns.
    let out = dockhand(&[
        "receivers",
        "--config",
        d,
        "--base-url",
        "https://example.com/dockhand",
    ]);
    let text = stdout(&out);
    assert!(text.starts_with("PROJECT"), "{text}");
    assert!(
        text.contains(&format!("https://example.com/dockhand{KARGO_VECTOR}")),
        "{text}"
    );
}

#[test]
fn check_lists_every_problem_and_exits_1() {
    let bad = r#"
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata:
  name: p1
  namespace: p1
spec:
  webhookReceivers:
  - name: r1
    azure:
      secretRef:
        name: missing-secret
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata:
  name: w1
  namespace: p1
spec:
  subscriptions: []
"#;
    let dir = config_dir(&[("bad.yaml", bad), ("good.yaml", BASE_CONFIG)]);
    let out = dockhand(&["check", "--config", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("bad.yaml (document 0)"), "{text}");
    assert!(text.contains("missing-secret"), "{text}");
    assert!(text.contains("bad.yaml (document 1)"), "{text}");
    assert!(text.contains("subscriptions"), "{text}");
    assert!(stderr(&out).contains("2 problem(s)"), "{}", stderr(&out));

    let good = config_dir(&[("good.yaml", BASE_CONFIG)]);
    let out = dockhand(&["check", "--config", good.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("2 receiver(s)"), "{}", stdout(&out));
}

#[test]
fn serve_refuses_bad_config_and_bad_data_dir() {
    let bad = config_dir(&[("bad.yaml", "kind: [unclosed")]);
    let out = dockhand(&[
        "serve",
        "--config",
        bad.path().to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("bad.yaml"), "{}", stderr(&out));

    let good = config_dir(&[("good.yaml", BASE_CONFIG)]);
    let file = good.path().join("good.yaml");
    // A data directory below a regular file cannot be created.
    let data = file.join("data");
    let out = dockhand(&[
        "serve",
        "--config",
        good.path().to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("cannot create data directory"), "{err}");
}

#[test]
fn listener_routes_health_unknown_paths_and_methods() {
    let dir = config_dir(&[("c.yaml", BASE_CONFIG)]);
    let s = Server::start(&[dir.path()], &[]);
    let r = s.http.get(s.url("/healthz")).send().unwrap();
    assert_eq!(r.status(), 200);
    let r = s.http.get(s.url("/readyz")).send().unwrap();
    assert_eq!(r.status(), 200);

    // Unknown path: 404 with no hint.
    let (status, body) = s.post("/azure/0000", &[], "{}");
    assert_eq!(
        (status, body),
        (404, serde_json::json!({"error": "not found"}))
    );
    let (status, body) = s.post("/nope", &[], "{}");
    assert_eq!(
        (status, body),
        (404, serde_json::json!({"error": "not found"}))
    );

    // Known path, wrong method: 405, recorded.
    let path = s.receiver_path("azure-wh-receiver");
    let r = s.http.get(s.url(&path)).send().unwrap();
    assert_eq!(r.status(), 405);
    let body: Value = r.json().unwrap();
    assert!(body["error"].as_str().unwrap().contains("POST"), "{body}");
    let d = s.deliveries();
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["status"], 405);
    assert_eq!(d[0]["receiver"], "azure-wh-receiver");
}

#[test]
fn deliveries_are_recorded_with_query_and_without_secrets() {
    let wh = image_warehouse("kargo-demo", "app", "myregistry.azurecr.io/app", "^1.0.0");
    let dir = config_dir(&[("c.yaml", BASE_CONFIG), ("w.yaml", &wh)]);
    let s = Server::start(&[dir.path()], &[]);
    let path = s.receiver_path("azure-wh-receiver");
    let (status, body) = s.post(
        &format!("{path}?region=westus"),
        &[ACR_UA],
        &acr_push("d-1", "myregistry.azurecr.io", "app", "1.2.3"),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
    let id = body["deliveryId"].as_str().unwrap().to_string();

    let list = s.deliveries();
    assert_eq!(list.len(), 1);
    let d = &list[0];
    assert_eq!(d["id"], id.as_str());
    assert_eq!(d["project"], "kargo-demo");
    assert_eq!(d["source"], "acr");
    assert_eq!(d["eventType"], "push");
    assert_eq!(d["providerId"], "d-1");
    assert_eq!(d["query"], "region=westus");
    assert_eq!(d["status"], 200);
    assert_eq!(d["refreshed"], serde_json::json!(["kargo-demo/app"]));
    assert_eq!(
        d["repositories"],
        serde_json::json!(["myregistry.azurecr.io/app"])
    );
    assert_eq!(d["qualifiers"], serde_json::json!(["1.2.3"]));

    // Filter by query string through the CLI.
    let out = dockhand(&[
        "deliveries",
        "--server",
        &s.admin_server(),
        "--query",
        "region=westus",
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    let out = dockhand(&[
        "deliveries",
        "--server",
        &s.admin_server(),
        "--query",
        "region=eastus",
        "-o",
        "json",
    ]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 0);

    // Nothing the server wrote contains a secret.
    let db = std::fs::read(s.data.join("dockhand.db")).unwrap_or_default();
    let wal = std::fs::read(s.data.join("dockhand.db-wal")).unwrap_or_default();
    for secret in TEST_SECRETS {
        for (what, bytes) in [("db", &db), ("wal", &wal), ("log", &s.logs().into_bytes())] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "secret found in {what}"
            );
        }
    }
}

#[test]
fn admin_api_and_cli_clients() {
    let wh = image_warehouse("kargo-demo", "app", "myregistry.azurecr.io/app", "^1.0.0");
    let dir = config_dir(&[("c.yaml", BASE_CONFIG), ("w.yaml", &wh)]);
    let s = Server::start(&[dir.path()], &[]);
    let server = s.admin_server();

    let out = dockhand(&["refresh", "kargo-demo/app", "--server", &server]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("refresh of kargo-demo/app requested"));
    s.wait_for("reconcile", |s| {
        s.warehouse("kargo-demo", "app")["reconcileCount"] == 1
    });

    let out = dockhand(&["refresh", "kargo-demo/nope", "--server", &server]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no Warehouse kargo-demo/nope"),
        "{}",
        stderr(&out)
    );

    let out = dockhand(&["warehouses", "--server", &server, "-o", "json"]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v[0]["name"], "app");
    assert!(v[0]["lastReconciled"].is_string(), "{v}");
    let out = dockhand(&["warehouses", "--server", &server]);
    assert!(stdout(&out).contains("kargo-demo"), "{}", stdout(&out));

    let w = s.warehouse("kargo-demo", "app");
    assert_eq!(
        w["subscriptions"][0]["repoURL"],
        "myregistry.azurecr.io/app"
    );

    let out = dockhand(&[
        "freight",
        "kargo-demo/app",
        "--server",
        &server,
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    let metrics = s
        .http
        .get(s.admin_url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("dockhand_reconcile_duration_seconds_count 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("dockhand_refreshes_requested_total 1"),
        "{metrics}"
    );

    let r = s.http.get(s.admin_url("/api/v1/nope")).send().unwrap();
    assert_eq!(r.status(), 404);
}

#[test]
fn admin_token_is_required_when_configured() {
    let dir = config_dir(&[("c.yaml", BASE_CONFIG)]);
    let token = dir.path().join("token");
    std::fs::write(&token, "admin-token-123\n").unwrap();
    let s = Server::start(
        &[&dir.path().join("c.yaml")],
        &["--admin-token-file", token.to_str().unwrap()],
    );
    let r = s.http.get(s.admin_url("/api/v1/receivers")).send().unwrap();
    assert_eq!(r.status(), 401);
    let r = s
        .http
        .get(s.admin_url("/api/v1/receivers"))
        .bearer_auth("admin-token-123")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let out = dockhand(&[
        "warehouses",
        "--server",
        &s.admin_server(),
        "--admin-token-file",
        token.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn cli_says_when_the_server_is_not_running() {
    let port = free_port();
    let out = dockhand(&[
        "deliveries",
        "--server",
        &format!("http://127.0.0.1:{port}"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not running"), "{err}");
}

#[test]
fn reload_on_file_change_and_sighup_keeps_old_config_when_invalid() {
    let dir = config_dir(&[("c.yaml", BASE_CONFIG)]);
    let s = Server::start(&[dir.path()], &[]);
    assert!(s
        .admin_get("/api/v1/warehouses")
        .as_array()
        .unwrap()
        .is_empty());

    // A new Warehouse file is picked up without a signal.
    let wh = image_warehouse("kargo-demo", "app", "myregistry.azurecr.io/app", "^1.0.0");
    std::fs::write(dir.path().join("w.yaml"), &wh).unwrap();
    s.wait_for("reload", |s| {
        s.admin_get("/api/v1/warehouses").as_array().unwrap().len() == 1
    });

    // An invalid change is rejected and the old configuration keeps serving.
    std::fs::write(dir.path().join("w2.yaml"), "apiVersion: [").unwrap();
    s.wait_for("rejected reload", |s| s.logs().contains("reload rejected"));
    assert_eq!(
        s.admin_get("/api/v1/warehouses").as_array().unwrap().len(),
        1
    );
    let path = s.receiver_path("azure-wh-receiver");
    let (status, _) = s.post(
        &path,
        &[ACR_UA],
        &acr_push("x", "myregistry.azurecr.io", "app", "1.0.0"),
    );
    assert_eq!(status, 200);

    // SIGHUP reloads too.
    std::fs::remove_file(dir.path().join("w2.yaml")).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let before = s.logs().matches("configuration reloaded").count();
    s.signal("HUP");
    s.wait_for("SIGHUP reload", |s| {
        s.logs().matches("configuration reloaded").count() > before
    });
}

#[test]
fn sigterm_stops_gracefully() {
    let dir = config_dir(&[("c.yaml", BASE_CONFIG)]);
    let mut s = Server::start(&[dir.path()], &[]);
    s.signal("TERM");
    let status = s.wait_exit();
    assert!(status.success(), "{status}");
    assert!(s.logs().contains("stopped"));
}

#[test]
fn retention_keeps_the_newest_deliveries_per_receiver() {
    let wh = image_warehouse("kargo-demo", "app", "myregistry.azurecr.io/app", "^1.0.0");
    let dir = config_dir(&[("c.yaml", BASE_CONFIG), ("w.yaml", &wh)]);
    let s = Server::start(&[dir.path()], &["--keep-deliveries", "3"]);
    let path = s.receiver_path("azure-wh-receiver");
    for i in 0..5 {
        let (status, _) = s.post(
            &path,
            &[ACR_UA],
            &acr_push(
                &format!("keep-{i}"),
                "myregistry.azurecr.io",
                "app",
                "1.0.0",
            ),
        );
        assert_eq!(status, 200);
    }
    let ids: Vec<String> = s
        .deliveries()
        .iter()
        .map(|d| d["providerId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["keep-4", "keep-3", "keep-2"]);
}

#[test]
fn json_logs_have_one_object_per_delivery() {
    let dir = config_dir(&[("c.yaml", BASE_CONFIG)]);
    let s = Server::start(&[dir.path()], &["--log-format", "json"]);
    let path = s.receiver_path("azure-wh-receiver");
    let (status, _) = s.post(&path, &[ACR_UA], &fixture("acr-ping.json"));
    assert_eq!(status, 200);
    s.wait_for("delivery log line", |s| {
        s.logs().contains("\"outcome\":\"ping\"")
    });
    let line = s
        .logs()
        .lines()
        .find(|l| l.contains("\"outcome\":\"ping\""))
        .unwrap()
        .to_string();
    let v: Value = serde_json::from_str(&line).unwrap();
    // Flat (issue 15): the event's fields at the top level next to ts, level and msg.
    assert_eq!(v["receiver"], "azure-wh-receiver");
    assert_eq!(v["status"], 200);
    assert_eq!(v["level"], "info");
    assert!(v["ts"].is_string() && v["msg"].is_string(), "{line}");
}

/// A reader that goes away (`dockhand receivers | head -1`) ends the command with success, not a
/// panic (exit 101). The output is made larger than a pipe's buffer so the write really fails.
#[test]
fn a_closed_pipe_exits_zero() {
    use std::io::{BufRead, BufReader};
    let mut yaml = String::from(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: p}\nstringData: {secret: pipe-secret}\n---\napiVersion: kargo.akuity.io/v1alpha1\nkind: ProjectConfig\nmetadata: {name: p, namespace: p}\nspec:\n  webhookReceivers:\n",
    );
    for i in 0..3000 {
        yaml.push_str(&format!(
            "  - name: receiver-{i}\n    azure: {{secretRef: {{name: s}}}}\n"
        ));
    }
    let dir = config_dir(&[("c.yaml", &yaml)]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dockhand"))
        .args(["receivers", "--config", dir.path().to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(!first.is_empty());
    // The reader is dropped here: the rest of the output meets a closed pipe.
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}
