//! Operator tooling (issue 15 items 2, 5, 6), end to end: `dockhand explain` and
//! `POST /api/v1/explain` against a real delivery of the same payload, Warehouses reconciled
//! soon after start (and not again after a restart), and the CLI habits — `-o yaml`,
//! `--no-headers`, `-p`, `deliveries --watch`, `refresh --wait`, `version`, `completion`,
//! `DOCKHAND_*` variables, byte sizes with units, logs without colour.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::support::registry::Registry;
use serde_json::Value;

const PROJECT: &str = "kargo-demo";

/// BASE_CONFIG with a Warehouse `v1` on `repo` accepting ^1.0.0 and `v2` accepting ^2.0.0.
fn config(repo: &str) -> tempfile::TempDir {
    let mut yaml = BASE_CONFIG.to_string();
    yaml.push_str(&image_warehouse(PROJECT, "v1", repo, "^1.0.0"));
    yaml.push_str(&image_warehouse(PROJECT, "v2", repo, "^2.0.0"));
    config_dir(&[("c.yaml", &yaml)])
}

/// The fields of a delivery that say what was decided (not its id, time or duration).
fn decided(d: &Value) -> Vec<(&'static str, Value)> {
    [
        "status",
        "outcome",
        "message",
        "source",
        "eventType",
        "repositories",
        "qualifiers",
        "refreshed",
        "explanation",
        "detail",
    ]
    .into_iter()
    .map(|k| (k, d[k].clone()))
    .collect()
}

fn reconciles(s: &Server, name: &str) -> u64 {
    s.warehouse(PROJECT, name)["reconcileCount"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn explain_says_what_a_real_delivery_does_and_changes_nothing() {
    // Nothing listens on port 1: the refresh the real delivery causes fails fast, which is fine.
    let repo = "127.0.0.1:1/team/app";
    let dir = config(repo);
    let payload_dir = config_dir(&[(
        "push.json",
        &acr_push("explain-1", "127.0.0.1:1", "team/app", "1.4.0"),
    )]);
    let payload = payload_dir.path().join("push.json");
    let cfg = dir.path().to_str().unwrap();
    let payload_arg = payload.to_str().unwrap();

    // Offline, as JSON: the delivery object.
    let out = dockhand(&[
        "explain",
        "--config",
        cfg,
        "--receiver",
        "kargo-demo/azure-wh-receiver",
        "--payload",
        payload_arg,
        "-H",
        "User-Agent: AzureContainerRegistry/1.0.0",
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let offline: Value = serde_json::from_str(&stdout(&out)).expect("explain -o json");
    assert_eq!(offline["status"], 200);
    assert_eq!(offline["outcome"], "refreshed");
    assert_eq!(offline["refreshed"], serde_json::json!(["kargo-demo/v1"]));
    assert_eq!(offline["detail"][0]["key"], repo);
    let why = offline["explanation"].to_string();
    assert!(
        why.contains("kargo-demo/v2") && why.contains("^2.0.0"),
        "{why}"
    );

    // As a table: answer, normalized key, each candidate with its verdict.
    let out = dockhand(&[
        "explain",
        "-c",
        cfg,
        "-p",
        PROJECT,
        "--receiver",
        "azure-wh-receiver",
        "--payload",
        payload_arg,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("HTTP 200 refreshed"), "{text}");
    assert!(text.contains(&format!("-> {repo}")), "{text}");
    assert!(
        text.contains("kargo-demo/v1 subscription 0") && text.contains(": matched"),
        "{text}"
    );
    assert!(text.contains("not matched: tag \"1.4.0\""), "{text}");
    assert!(text.contains("refreshes:  kargo-demo/v1"), "{text}");

    // Against the running configuration: the same decision, and nothing recorded or queued.
    let s = Server::start(&[dir.path()], &[]);
    let resp = s
        .http
        .post(s.admin_url("/api/v1/explain"))
        .json(&serde_json::json!({
            "receiver": "kargo-demo/azure-wh-receiver",
            "headers": ["User-Agent: AzureContainerRegistry/1.0.0"],
            "payload": std::fs::read_to_string(&payload).unwrap(),
        }))
        .send()
        .expect("explain");
    assert_eq!(resp.status(), 200);
    let online: Value = resp.json().expect("json");
    assert_eq!(decided(&online), decided(&offline));
    std::thread::sleep(Duration::from_millis(300));
    assert!(s.deliveries().is_empty(), "explain recorded a delivery");
    assert_eq!(s.warehouse(PROJECT, "v1")["refreshCount"], 0);

    // The real delivery decides exactly the same — and is not taken for a duplicate of the
    // explained one (explain claims no delivery id).
    let (status, body) = s.post(
        &s.receiver_path("azure-wh-receiver"),
        &[ACR_UA],
        &std::fs::read_to_string(&payload).unwrap(),
    );
    assert_eq!(status, 200, "{body}");
    let real = s.deliveries().into_iter().next().expect("a delivery");
    assert_eq!(decided(&real), decided(&offline));

    // An unknown receiver: 404 from the API.
    let resp = s
        .http
        .post(s.admin_url("/api/v1/explain"))
        .json(&serde_json::json!({"receiver": "kargo-demo/nope", "payload": "{}"}))
        .send()
        .expect("explain");
    assert_eq!(resp.status(), 404);
}

#[test]
fn explain_exits_1_on_a_bad_configuration_or_payload_file() {
    let dir = config("127.0.0.1:1/team/app");
    let cfg = dir.path().to_str().unwrap();
    let out = dockhand(&[
        "explain",
        "-c",
        cfg,
        "--receiver",
        "kargo-demo/azure-wh-receiver",
        "--payload",
        "/nonexistent/push.json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/nonexistent/push.json"),
        "{}",
        stderr(&out)
    );

    let bad = config_dir(&[("c.yaml", "kind: [unclosed")]);
    let payload = config_dir(&[("p.json", "{}")]);
    let out = dockhand(&[
        "explain",
        "-c",
        bad.path().to_str().unwrap(),
        "--receiver",
        "kargo-demo/azure-wh-receiver",
        "--payload",
        payload.path().join("p.json").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));

    // A rejected payload is still an explanation (exit 0): the answer is the rejection.
    let out = dockhand(&[
        "explain",
        "-c",
        cfg,
        "--receiver",
        "kargo-demo/harbor-wh-receiver",
        "--payload",
        payload.path().join("p.json").to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["outcome"], "rejected");
    assert!(v["status"].as_u64().unwrap() >= 400, "{v}");
}

#[test]
fn warehouses_are_reconciled_soon_after_start_and_not_again_after_a_restart() {
    let dir = config("127.0.0.1:1/team/app");
    let mut s = Server::start(
        &[dir.path()],
        &["--reconcile-on-start", "true", "--discovery-timeout", "1s"],
    );
    // Both are new: each is reconciled well before its five-minute interval.
    s.wait_for("both reconciled after start", |s| {
        reconciles(s, "v1") == 1 && reconciles(s, "v2") == 1
    });
    let last = s.warehouse(PROJECT, "v1")["lastReconciled"].clone();
    assert!(last.is_string(), "{last}");

    // A restart within the interval: last_reconciled persisted, so nothing is overdue.
    s.restart();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(reconciles(&s, "v1"), 1);
    assert_eq!(s.warehouse(PROJECT, "v1")["lastReconciled"], last);

    // A Warehouse a reload adds does not wait an interval either.
    let mut yaml = std::fs::read_to_string(dir.path().join("c.yaml")).unwrap();
    yaml.push_str(&image_warehouse(
        PROJECT,
        "v3",
        "127.0.0.1:1/team/app",
        "^3.0.0",
    ));
    std::fs::write(dir.path().join("c.yaml"), yaml).unwrap();
    s.wait_for("the added Warehouse reconciled", |s| {
        s.admin_get("/api/v1/warehouses")
            .as_array()
            .is_some_and(|l| {
                l.iter()
                    .any(|w| w["name"] == "v3" && w["reconcileCount"] == 1)
            })
    });
    assert_eq!(reconciles(&s, "v1"), 1);
}

#[test]
fn refresh_wait_prints_the_result_and_fails_when_the_reconcile_fails() {
    let reg = Registry::start();
    let repo = format!("{}/team/app", reg.host());
    reg.push_image(
        "team/app",
        Some("1.0.0"),
        "linux",
        "amd64",
        "2026-01-01T00:00:00Z",
    );
    let mut yaml = BASE_CONFIG.to_string();
    yaml.push_str(&image_warehouse(PROJECT, "good", &repo, "^1.0.0"));
    yaml.push_str(&image_warehouse(
        PROJECT,
        "bad",
        "127.0.0.1:1/team/app",
        "^1.0.0",
    ));
    let dir = config_dir(&[("c.yaml", &yaml)]);
    let s = Server::start(&[dir.path()], &["--discovery-timeout", "2s"]);
    let server = s.admin_server();

    let out = dockhand(&[
        "refresh", "--server", &server, "-p", PROJECT, "good", "--wait",
    ]);
    assert!(out.status.success(), "{} {}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("kargo-demo/good reconciled at"),
        "{}",
        stdout(&out)
    );
    assert_eq!(reconciles(&s, "good"), 1);

    let out = dockhand(&[
        "refresh",
        "--server",
        &server,
        "kargo-demo/bad",
        "--wait",
        "-o",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{} {}",
        stdout(&out),
        stderr(&out)
    );
    let v: Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert!(v["lastError"].is_string(), "{v}");
    assert_eq!(v["reconcileCount"], 1);

    // -p and a project in the argument that disagree: a usage mistake, exit 1.
    let out = dockhand(&[
        "refresh",
        "--server",
        &server,
        "-p",
        "other",
        "kargo-demo/good",
    ]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn output_formats_headers_project_filter_version_and_completion() {
    let dir = config("127.0.0.1:1/team/app");
    let s = Server::start(&[dir.path()], &[]);
    let server = s.admin_server();

    // -o yaml is the JSON answer in YAML.
    let out = dockhand(&["warehouses", "--server", &server, "-o", "yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let yaml: Value = serde_yaml_ng::from_str(&stdout(&out)).expect("yaml");
    let json: Value = s.admin_get("/api/v1/warehouses");
    assert_eq!(yaml, json);

    // --no-headers: rows only.
    let cfg = dir.path().to_str().unwrap();
    let with = stdout(&dockhand(&["receivers", "-c", cfg]));
    let without = stdout(&dockhand(&["receivers", "-c", cfg, "--no-headers"]));
    assert!(with.starts_with("PROJECT"), "{with}");
    assert_eq!(without.lines().count(), 2, "{without}");
    assert!(without.lines().all(|l| l.starts_with(PROJECT)), "{without}");
    let other = stdout(&dockhand(&[
        "receivers",
        "-c",
        cfg,
        "-p",
        "other",
        "--no-headers",
    ]));
    assert_eq!(other, "");

    // -p filters the Warehouse list; the other project has none.
    let out = dockhand(&[
        "warehouses",
        "--server",
        &server,
        "-p",
        "other",
        "--no-headers",
    ]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "");
    let out = dockhand(&[
        "warehouses",
        "--server",
        &server,
        "-p",
        PROJECT,
        "v2",
        "-o",
        "json",
    ]);
    let v: Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(v["name"], "v2");

    // version: the client's and the server's.
    let out = dockhand(&["version", "--server", &server, "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(v["client"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["server"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        s.admin_get("/api/v1/version")["version"],
        env!("CARGO_PKG_VERSION")
    );
    let out = dockhand(&["version", "--server", "http://127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("Client Version:"), "{}", stdout(&out));

    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef dockhand"),
        ("fish", "complete -c dockhand"),
    ] {
        let out = dockhand(&["completion", shell]);
        assert!(out.status.success(), "{shell}");
        let text = stdout(&out);
        assert!(
            text.contains(marker) && text.contains("explain"),
            "{shell}: {text}"
        );
    }

    // The server's log went to a file, not a terminal: no ANSI colour codes.
    assert!(!s.logs().contains('\u{1b}'), "{}", s.logs());
}

#[test]
fn every_serve_flag_has_an_environment_variable_and_sizes_take_units() {
    let out = dockhand(&["serve", "--help"]);
    let help = stdout(&out);
    let flags: Vec<&str> = help
        .lines()
        .map(str::trim_start)
        .filter_map(|l| {
            l.strip_prefix("--")
                .or_else(|| l.split_once(", --").map(|(_, f)| f))
        })
        .filter_map(|l| l.split([' ', '=', '<']).next())
        .filter(|f| *f != "help" && *f != "version" && *f != "no-headers")
        .collect();
    assert!(flags.len() > 20, "{help}");
    for f in &flags {
        let var = format!("[env: DOCKHAND_{}", f.to_uppercase().replace('-', "_"));
        assert!(help.contains(&var), "--{f} has no {var}]: {help}");
    }

    // Sizes with units, from the command line and from the environment.
    let dir = config("127.0.0.1:1/team/app");
    let s = Server::start(&[dir.path()], &["--max-body-bytes", "1KiB"]);
    let big = acr_push(&"x".repeat(2000), "127.0.0.1:1", "team/app", "1.0.0");
    let (status, _) = s.post(&s.receiver_path("azure-wh-receiver"), &[ACR_UA], &big);
    assert_eq!(status, 413);
    let small = acr_push("small", "127.0.0.1:1", "team/app", "1.0.0");
    let (status, _) = s.post(&s.receiver_path("azure-wh-receiver"), &[ACR_UA], &small);
    assert_eq!(status, 200);

    let out = Command::new(BIN)
        .args(["serve", "-c", dir.path().to_str().unwrap()])
        .env("DOCKHAND_MAX_BODY_BYTES", "2 parsecs")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("2MiB"), "{}", stderr(&out));
}

#[test]
fn deliveries_watch_prints_new_deliveries_as_they_arrive() {
    let dir = config("127.0.0.1:1/team/app");
    let s = Server::start(&[dir.path()], &[]);
    let mut child = Command::new(BIN)
        .args([
            "deliveries",
            "--server",
            &s.admin_server(),
            "--watch",
            "--watch-interval",
            "200ms",
            "-o",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("watch");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    for (i, id) in ["watch-1", "watch-2"].iter().enumerate() {
        let (status, _) = s.post(
            &s.receiver_path("azure-wh-receiver"),
            &[ACR_UA],
            &acr_push(id, "127.0.0.1:1", "team/app", &format!("1.0.{i}")),
        );
        assert_eq!(status, 200);
    }
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < 2 && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            let v: Value = serde_json::from_str(&line).expect("one JSON object per line");
            seen.push(v["providerId"].as_str().unwrap_or_default().to_string());
        }
    }
    // Ctrl-C ends the watch with success.
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(interrupted.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Oldest first, each once.
    assert_eq!(seen, ["watch-1", "watch-2"]);
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}

#[test]
fn metrics_listen_serves_metrics_without_the_admin_token_and_nothing_else() {
    let dir = config("127.0.0.1:1/team/app");
    let token = config_dir(&[("token", "admin-token-123\n")]);
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let s = Server::start(
        &[dir.path()],
        &[
            "--admin-token-file",
            token.path().join("token").to_str().unwrap(),
            "--metrics-listen",
            &addr,
        ],
    );
    let http = reqwest::blocking::Client::new();
    let resp = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .expect("metrics");
    assert_eq!(resp.status(), 200);
    assert!(resp.text().unwrap().contains("dockhand_build_info"));
    // Only /metrics there; the admin API stays behind its token on its own listener.
    let resp = http
        .get(format!("http://{addr}/api/v1/warehouses"))
        .send()
        .expect("api");
    assert_eq!(resp.status(), 404);
    let resp = http.get(s.admin_url("/metrics")).send().expect("admin");
    assert_eq!(resp.status(), 401);
}
