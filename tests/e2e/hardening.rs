//! Issue 7: the public listener survives hostile traffic, duplicate deliveries and crashes.
//! Each test checks the refusal and that a normal push is still served afterwards.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{json, Value};

fn setup(extra: &[&str]) -> (tempfile::TempDir, Server, String) {
    let wh = image_warehouse("kargo-demo", "app", "myregistry.azurecr.io/app", "^1.0.0");
    let dir = config_dir(&[("c.yaml", BASE_CONFIG), ("w.yaml", &wh)]);
    let s = Server::start(&[dir.path()], extra);
    let path = s.receiver_path("azure-wh-receiver");
    (dir, s, path)
}

/// A normal push with a fresh id is still answered 200.
fn still_serving(s: &Server, path: &str) {
    let id = uuid_like();
    let (status, body) = s.post(
        path,
        &[ACR_UA],
        &acr_push(&id, "myregistry.azurecr.io", "app", "1.0.0"),
    );
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 1 warehouse(s)")),
        "{body}"
    );
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "id-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Sends raw bytes on a new connection and returns the status code of the answer.
fn raw(port: u16, request: &[u8]) -> u16 {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = c.write_all(request);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match c.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn oversized_bodies_get_413_with_and_without_content_length() {
    let (_d, s, path) = setup(&[]);
    let big = "x".repeat(3 * 1024 * 1024);
    let (status, body) = s.post(&path, &[ACR_UA], &big);
    assert_eq!(status, 413, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("larger than the limit"),
        "{body}"
    );

    // Chunked: no Content-Length to check up front.
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..(3 * 16) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(&chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(raw(s.port, &req), 413);
    let d = s.deliveries();
    assert_eq!(d.iter().filter(|d| d["status"] == 413).count(), 2);
    still_serving(&s, &path);
}

#[test]
fn oversized_headers_and_slow_bodies_are_refused() {
    let (_d, s, path) = setup(&["--request-timeout", "1s", "--max-header-bytes", "16384"]);
    let huge = "a".repeat(40_000);
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nX-Big: {huge}\r\nContent-Length: 2\r\n\r\n{{}}"
    );
    assert_eq!(raw(s.port, req.as_bytes()), 431);

    // Headers complete, body never finished: 408 after --request-timeout, recorded.
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(
        format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{").as_bytes(),
    )
    .unwrap();
    let mut buf = [0u8; 512];
    let n = c.read(&mut buf).unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    assert!(s.deliveries().iter().any(|d| d["status"] == 408));
    still_serving(&s, &path);
}

#[test]
fn slow_clients_do_not_hold_up_a_normal_push() {
    let (_d, s, path) = setup(&["--header-read-timeout", "60s"]);
    // 200 connections that each trickle a request head one byte a second.
    let port = s.port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut handles = Vec::new();
    for _ in 0..4 {
        let stop = stop.clone();
        handles.push(std::thread::spawn(move || {
            let mut conns: Vec<TcpStream> = (0..50)
                .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
                .collect();
            let head = b"POST /azure/slow HTTP/1.1\r\nHost: slow\r\n";
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && i < head.len() {
                for c in conns.iter_mut() {
                    let _ = c.write_all(&head[i..i + 1]);
                }
                i += 1;
                std::thread::sleep(Duration::from_secs(1));
            }
            conns.len()
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let started = Instant::now();
    still_serving(&s, &path);
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let opened: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(opened, 200);
    // Generous bound for a shared machine; a server that gave each slow client a worker would
    // not answer before the slow clients finish (40 s).
    assert!(took < Duration::from_secs(3), "normal push took {took:?}");
}

#[test]
fn bursts_over_the_rate_limit_get_429_with_retry_after() {
    let (_d, s, path) = setup(&["--rate-limit-receiver", "2/s:5"]);
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..10 {
        let r = s
            .http
            .post(s.url(&path))
            .header("User-Agent", "AzureContainerRegistry/1.0")
            .body(acr_push(
                &uuid_like(),
                "myregistry.azurecr.io",
                "app",
                "1.0.0",
            ))
            .send()
            .unwrap();
        if r.status() == 429 {
            retry_after = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(
        statuses.iter().filter(|&&c| c == 200).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&c| c == 429).count(),
        5,
        "{statuses:?}"
    );
    let wait: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!(wait >= 1, "{wait}");
    std::thread::sleep(Duration::from_secs(wait));
    still_serving(&s, &path);
    let metrics = s
        .http
        .get(s.admin_url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("dockhand_rate_limited_total{limit=\"receiver\"} 5"),
        "{metrics}"
    );

    // Per client address.
    let (_d2, s2, path2) = setup(&["--rate-limit-client", "1/s:3"]);
    let codes: Vec<u16> = (0..5).map(|_| s2.post("/unknown", &[], "{}").0).collect();
    assert_eq!(codes, [404, 404, 404, 429, 429]);
    std::thread::sleep(Duration::from_secs(2));
    still_serving(&s2, &path2);
}

#[test]
fn a_redelivered_event_refreshes_once() {
    let (_d, s, path) = setup(&["--refresh-cooldown", "0s"]);
    let body = acr_push("same-delivery-id", "myregistry.azurecr.io", "app", "1.0.0");
    let (_, first) = s.post(&path, &[ACR_UA], &body);
    assert_eq!(first["msg"], "refreshed 1 warehouse(s)");
    let (status, second) = s.post(&path, &[ACR_UA], &body);
    assert_eq!(status, 200);
    assert!(
        second["msg"]
            .as_str()
            .unwrap()
            .starts_with("duplicate delivery same-delivery-id"),
        "{second}"
    );
    let d = s.deliveries();
    assert_eq!(d[0]["outcome"], "duplicate");
    assert_eq!(d[0]["refreshed"], json!([]));
    s.wait_for("reconcile", |s| {
        s.warehouse("kargo-demo", "app")["reconcileCount"] == 1
    });
    assert_eq!(s.warehouse("kargo-demo", "app")["refreshCount"], 1);
}

#[test]
fn wrong_secret_and_unknown_path_look_the_same() {
    let (_d, s, path) = setup(&[]);
    // The same receiver type, a hash computed from a wrong secret.
    let wrong = format!("/azure/{}", "0".repeat(64));
    let a = s.post(&wrong, &[ACR_UA], "{}");
    let b = s.post("/nothing/here", &[ACR_UA], "{}");
    let mut flipped = path.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
    let c = s.post(std::str::from_utf8(&flipped).unwrap(), &[ACR_UA], "{}");
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(a, (404, json!({"error": "not found"})));
    still_serving(&s, &path);
}

#[test]
fn tls_listener() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let wh = image_warehouse("kargo-demo", "app", "myregistry.azurecr.io/app", "^1.0.0");
    let cfg = config_dir(&[("c.yaml", BASE_CONFIG), ("w.yaml", &wh)]);
    let s = Server::start_with(
        &[cfg.path()],
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
        true,
    );
    let path = s.receiver_path("azure-wh-receiver");
    let out = std::process::Command::new("curl")
        .args([
            "-sk",
            "-X",
            "POST",
            "-H",
            "User-Agent: AzureContainerRegistry/1.0",
        ])
        .arg("--data-binary")
        .arg(acr_push("tls-1", "myregistry.azurecr.io", "app", "1.0.0"))
        .arg(format!("https://127.0.0.1:{}{path}", s.port))
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(
        v["msg"],
        "refreshed 1 warehouse(s)",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Plain HTTP on the TLS port is not served.
    assert!(s.http.get(s.url("/healthz")).send().is_err());
    // Reload on SIGHUP with a broken key keeps serving with the old certificate.
    std::fs::write(&key, "garbage").unwrap();
    s.signal("HUP");
    s.wait_for("rejected TLS reload", |s| {
        s.logs().contains("TLS reload rejected")
    });
    let out = std::process::Command::new("curl")
        .args(["-sk"])
        .arg(format!("https://127.0.0.1:{}/healthz", s.port))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));

    // Only one of the pair: usage error.
    let o = dockhand(&["serve", "--config", "/x", "--tls-cert", "/x"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn acknowledged_deliveries_and_refreshes_survive_sigkill() {
    // Several kill points: after 5, 15, 40 and 100 ms of load.
    let mut total_acked = 0;
    for (round, kill_after_ms) in [5u64, 15, 40, 100].into_iter().enumerate() {
        let mut cfg = BASE_CONFIG.to_string();
        for i in 0..20 {
            cfg.push_str(&image_warehouse(
                "kargo-demo",
                &format!("w{i}"),
                &format!("myregistry.azurecr.io/app{i}"),
                ">=0.0.0",
            ));
        }
        let dir = config_dir(&[("c.yaml", &cfg)]);
        let mut s = Server::start(
            &[dir.path()],
            &[
                "--refresh-cooldown",
                "0s",
                "--rate-limit-receiver",
                "0",
                "--rate-limit-client",
                "0",
            ],
        );
        let path = s.receiver_path("azure-wh-receiver");
        let url = s.url(&path);
        let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
        let mut senders = Vec::new();
        // Clients are built before the clock starts: TLS set-up in a debug build takes longer
        // than the shortest kill point.
        let ready = std::sync::Arc::new(std::sync::Barrier::new(5));
        for t in 0..4 {
            let (url, acked, ready) = (url.clone(), acked.clone(), ready.clone());
            senders.push(std::thread::spawn(move || {
                let http = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap();
                ready.wait();
                for n in 0..500 {
                    let repo = format!("app{}", (t * 7 + n) % 20);
                    let id = format!("crash-{round}-{t}-{n}");
                    let r = http
                        .post(&url)
                        .header("User-Agent", "AzureContainerRegistry/1.0")
                        .body(acr_push(&id, "myregistry.azurecr.io", &repo, "1.0.0"))
                        .send();
                    match r {
                        Ok(r) if r.status().is_success() => {
                            let v: Value = r.json().unwrap_or(Value::Null);
                            if let Some(d) = v["deliveryId"].as_str() {
                                acked
                                    .lock()
                                    .unwrap()
                                    .push((d.to_string(), format!("w{}", (t * 7 + n) % 20)));
                            }
                        }
                        _ => break,
                    }
                }
            }));
        }
        ready.wait();
        std::thread::sleep(Duration::from_millis(kill_after_ms));
        s.kill9();
        for h in senders {
            h.join().unwrap();
        }
        let acked = acked.lock().unwrap().clone();
        total_acked += acked.len();
        eprintln!(
            "round {round}: killed after {kill_after_ms} ms with {} acknowledged",
            acked.len()
        );
        s.restart();
        let recorded: std::collections::HashSet<String> = s
            .deliveries()
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_string())
            .collect();
        for (id, _) in &acked {
            assert!(
                recorded.contains(id),
                "round {round}: acknowledged delivery {id} lost"
            );
        }
        let refreshed: std::collections::BTreeSet<&String> = acked.iter().map(|(_, w)| w).collect();
        s.wait_for("every refreshed Warehouse reconciled", |s| {
            refreshed.iter().all(|w| {
                let v = s.warehouse("kargo-demo", w);
                v["pending"] == false && v["reconcileCount"].as_u64().unwrap_or(0) >= 1
            })
        });
    }
    assert!(
        total_acked > 0,
        "no delivery was acknowledged before the kills"
    );
}

/// A project with one azure receiver; `auth` adds the Secret's `auth-header`, which every request
/// to that receiver must then carry.
fn colliding_project(ns: &str, receiver: &str, auth: bool) -> String {
    let auth = if auth {
        "  auth-header: Bearer collision-auth\n"
    } else {
        ""
    };
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: {ns}\nstringData:\n  secret: collision-secret\n{auth}---\napiVersion: kargo.akuity.io/v1alpha1\nkind: ProjectConfig\nmetadata:\n  name: {ns}\n  namespace: {ns}\nspec:\n  webhookReceivers:\n  - name: {receiver}\n    azure:\n      secretRef:\n        name: s\n{}",
        image_warehouse(ns, "app", "myregistry.azurecr.io/app", "^1.0.0")
    )
}

/// Issue 17, item 1: `rt` + `az` and `r` + `taz` hash to one path. Before the fix, one URL served
/// both and a request without the Authorization `rt/az` requires refreshed `r`'s Warehouses.
#[test]
fn two_receivers_on_one_url_are_a_configuration_error() {
    let rt = colliding_project("rt", "az", true);
    let r = colliding_project("r", "taz", false);
    let both = config_dir(&[("rt.yaml", &rt), ("r.yaml", &r)]);
    let dir = both.path().to_str().unwrap();

    let out = dockhand(&["check", "--config", dir]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        said.contains("receiver rt/az has the same URL path as receiver r/taz"),
        "{said}"
    );

    let out = dockhand(&[
        "serve",
        "--config",
        dir,
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("same URL path"), "{}", stderr(&out));

    // Running with rt alone, adding r is a rejected reload: the path stays rt/az's, which still
    // demands its Authorization, and r's Warehouse is never refreshed through it.
    let dir = config_dir(&[("rt.yaml", &rt)]);
    let s = Server::start(&[dir.path()], &[]);
    let path = s.receiver_path("az");
    std::fs::write(dir.path().join("r.yaml"), &r).unwrap();
    s.wait_for("rejected reload", |s| s.logs().contains("reload rejected"));
    assert!(s.logs().contains("same URL path"), "{}", s.logs());
    let push = acr_push("c1", "myregistry.azurecr.io", "app", "1.0.0");
    let (status, body) = s.post(&path, &[ACR_UA], &push);
    assert_eq!(
        (status, &body["error"]),
        (401, &json!("missing authorization"))
    );
    let (status, body) = s.post(
        &path,
        &[ACR_UA, ("Authorization", "Bearer collision-auth")],
        &push,
    );
    assert_eq!(status, 200, "{body}");
    let refreshed: Vec<Value> = s.deliveries()[0]["refreshed"].as_array().unwrap().clone();
    assert_eq!(refreshed, vec![json!("rt/app")]);
    assert!(s
        .admin_get("/api/v1/warehouses")
        .as_array()
        .unwrap()
        .iter()
        .all(|w| w["project"] == "rt"));
}

/// Issue 17, item 2: the de-duplication table keeps a fixed-size digest per id. Before, each
/// distinct 1 MiB id stayed in memory for the whole window (RSS grew ~1.2 MB per push).
#[test]
fn huge_delivery_ids_do_not_grow_memory() {
    let (_dir, s, path) = setup(&[]);
    let push = |i: usize| {
        let id = format!("{i:04}{}", "x".repeat(1 << 20));
        let (status, _) = s.post(
            &path,
            &[ACR_UA],
            &acr_push(&id, "myregistry.azurecr.io", "app", "1.0.0"),
        );
        assert_eq!(status, 200);
    };
    // Warm up allocator pools and the store's buffers first, then measure 40 more.
    for i in 0..10 {
        push(i);
    }
    let before = s.rss_kib();
    for i in 10..50 {
        push(i);
    }
    let grown = s.rss_kib().saturating_sub(before);
    assert!(
        grown < 20 * 1024,
        "RSS grew {grown} KiB over 40 deliveries with 1 MiB ids"
    );
    // The ids are still recognised as duplicates.
    let id = format!("{:04}{}", 42, "x".repeat(1 << 20));
    let (status, body) = s.post(
        &path,
        &[ACR_UA],
        &acr_push(&id, "myregistry.azurecr.io", "app", "1.0.0"),
    );
    assert_eq!(status, 200);
    assert!(
        body["msg"]
            .as_str()
            .unwrap()
            .starts_with("duplicate delivery"),
        "{body}"
    );
    still_serving(&s, &path);
}

/// Issue 17, item 10: deeply nested flow collections are refused before the YAML parser scans
/// them (it took 27 s on 100,000 brackets and held later reloads back).
#[test]
fn deeply_nested_yaml_is_refused_before_parsing() {
    let deep = format!("a: {}", "[".repeat(100_000));
    let dir = config_dir(&[("c.yaml", BASE_CONFIG), ("deep.yaml", &deep)]);
    let out = dockhand(&["check", "--config", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        said.contains("deep.yaml: flow collections ([...] or {...}) nested deeper than 64 levels at line 1 column 68; not parsed"),
        "{said}"
    );
}

/// Issue 17, item 7: a second server on the same data directory is refused with a clear error,
/// instead of serving beside the first with its own de-duplication and rate-limit state.
#[test]
fn a_second_server_on_one_data_dir_is_refused() {
    let (dir, s, path) = setup(&[]);
    let out = dockhand(&[
        "serve",
        "--config",
        dir.path().to_str().unwrap(),
        "--data-dir",
        s.data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is in use by another dockhand"),
        "{}",
        stderr(&out)
    );
    still_serving(&s, &path);
}

/// Issue 17, item 13: a database that is not one gets one clear line, not its text repeated.
#[test]
fn a_corrupt_database_is_one_clear_line() {
    let dir = config_dir(&[("c.yaml", BASE_CONFIG)]);
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("dockhand.db"), vec![0x5a; 8192]).unwrap();
    let out = dockhand(&[
        "serve",
        "--config",
        dir.path().to_str().unwrap(),
        "--data-dir",
        data.path().to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let line = err
        .lines()
        .find(|l| l.contains("dockhand.db"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(line.starts_with("error: database "), "{line}");
    assert_eq!(line.matches("not a database").count(), 1, "{line}");
}

/// Issue 17, item 11: the deliveries `query` filter is a substring; `_` and `%` are not
/// wildcards (`query=_` listed every delivery that had a query string).
#[test]
fn the_query_filter_has_no_wildcards() {
    let (_dir, s, path) = setup(&[]);
    for (n, q) in ["region=westus", "tag=a_b"].iter().enumerate() {
        let (status, _) = s.post(
            &format!("{path}?{q}"),
            &[ACR_UA],
            &acr_push(&format!("q{n}"), "myregistry.azurecr.io", "app", "1.0.0"),
        );
        assert_eq!(status, 200);
    }
    let list = |q: &str| -> Vec<String> {
        s.admin_get(&format!("/api/v1/deliveries?query={q}"))
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["query"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(list("_"), ["tag=a_b"]);
    assert!(list("%25").is_empty());
    assert_eq!(list("west"), ["region=westus"]);
}

/// Issue 17, item 9: a FIFO in the config folder is passed over with a warning; before, `check`
/// and `serve` blocked reading it and every reload wedged. Named directly, it is an error.
#[cfg(unix)]
#[test]
fn a_fifo_in_the_config_folder_is_skipped() {
    let wh = image_warehouse("kargo-demo", "app", "myregistry.azurecr.io/app", "^1.0.0");
    let dir = config_dir(&[("c.yaml", BASE_CONFIG), ("w.yaml", &wh)]);
    let fifo = dir.path().join("pipe.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());

    let out = dockhand(&["check", "--config", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("pipe.yaml: is not a regular file (a FIFO, socket or device); skipped"),
        "{}",
        stderr(&out)
    );
    let out = dockhand(&["check", "--config", fifo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("is not a regular file"),
        "{}",
        stdout(&out)
    );

    // The server starts, and a change next to the FIFO still reloads.
    let s = Server::start(&[dir.path()], &[]);
    let path = s.receiver_path("azure-wh-receiver");
    let wh2 = image_warehouse("kargo-demo", "app2", "myregistry.azurecr.io/app", "^1.0.0");
    std::fs::write(dir.path().join("w2.yaml"), wh2).unwrap();
    s.wait_for("reload", |s| {
        s.admin_get("/api/v1/warehouses").as_array().unwrap().len() == 2
    });
    let (status, body) = s.post(
        &path,
        &[ACR_UA],
        &acr_push("fifo-1", "myregistry.azurecr.io", "app", "1.0.0"),
    );
    assert_eq!(
        (status, &body["msg"]),
        (200, &json!("refreshed 2 warehouse(s)"))
    );
}

/// Issue 17, item 12: a config folder that is briefly empty (a ConfigMap swapping its links, a
/// deploy replacing the folder) does not reload as an empty configuration.
#[test]
fn an_emptied_config_folder_keeps_the_running_configuration() {
    let (dir, s, path) = setup(&[]);
    let aside = tempfile::tempdir().unwrap();
    for f in ["c.yaml", "w.yaml"] {
        std::fs::rename(dir.path().join(f), aside.path().join(f)).unwrap();
    }
    s.wait_for("rejected reload", |s| {
        s.logs().contains("no manifests found")
    });
    still_serving(&s, &path);
    assert_eq!(
        s.admin_get("/api/v1/warehouses").as_array().unwrap().len(),
        1
    );
    // Back again: reloaded as usual.
    let before = s.logs().matches("configuration reloaded").count();
    for f in ["c.yaml", "w.yaml"] {
        std::fs::rename(aside.path().join(f), dir.path().join(f)).unwrap();
    }
    s.wait_for("reload", |s| {
        s.logs().matches("configuration reloaded").count() > before
    });
    still_serving(&s, &path);
}
