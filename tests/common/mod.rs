//! Test harness: runs the real `dockhand` binary on loopback ports with a temporary data
//! directory, and talks to it over HTTP.
#![allow(dead_code)]

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_dockhand");

/// A free loopback port (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

/// Writes `files` (relative path, contents) under a new temporary directory.
pub fn config_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        let p = dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write config");
    }
    dir
}

/// Runs `dockhand ARGS` to completion.
pub fn dockhand(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("DOCKHAND_BASE_URL")
        .env_remove("RUST_LOG")
        .output()
        .expect("run dockhand")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A running `dockhand serve`.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub admin_port: u16,
    pub data: PathBuf,
    _data_dir: Option<tempfile::TempDir>,
    config: Vec<PathBuf>,
    tls: bool,
    extra: Vec<String>,
    pub http: reqwest::blocking::Client,
    log: PathBuf,
}

impl Server {
    /// Starts a server on `config` paths with `extra` arguments and waits until it is ready.
    pub fn start(config: &[&Path], extra: &[&str]) -> Server {
        Server::start_with(config, extra, false)
    }

    /// As `start`; `tls` says the webhook listener speaks TLS (readiness is then checked on
    /// the admin listener).
    pub fn start_with(config: &[&Path], extra: &[&str], tls: bool) -> Server {
        let data_dir = tempfile::tempdir().expect("tempdir");
        let data = data_dir.path().to_path_buf();
        let mut s = Server {
            child: None,
            port: 0,
            admin_port: 0,
            log: data.join("server.log"),
            data,
            _data_dir: Some(data_dir),
            config: config.iter().map(|p| p.to_path_buf()).collect(),
            tls,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        self.port = free_port();
        self.admin_port = free_port();
        let mut cmd = Command::new(BIN);
        cmd.arg("serve");
        for c in &self.config {
            cmd.arg("--config").arg(c);
        }
        cmd.args([
            "--listen",
            &format!("127.0.0.1:{}", self.port),
            "--admin-listen",
            &format!("127.0.0.1:{}", self.admin_port),
            "--base-url",
            &format!("http://127.0.0.1:{}", self.port),
            "--watch-interval",
            "200ms",
        ])
        .arg("--data-dir")
        .arg(&self.data)
        .args(&self.extra)
        .env("RUST_LOG", "info")
        // The suite counts reconciles a webhook causes: no start-up catch-up unless a test asks
        // for it with `--reconcile-on-start true` (an argument beats the variable).
        .env("DOCKHAND_RECONCILE_ON_START", "false")
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .expect("log file"),
        );
        self.child = Some(cmd.spawn().expect("spawn dockhand serve"));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let probe = if self.tls {
                self.admin_url("/api/v1/receivers")
            } else {
                self.url("/readyz")
            };
            if let Ok(r) = self.http.get(probe).send() {
                if r.status().is_success() {
                    return;
                }
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("dockhand exited early ({status}): {}", self.logs());
            }
            assert!(
                Instant::now() < deadline,
                "server not ready: {}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn logs(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin_port)
    }

    pub fn admin_server(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    /// POSTs `body` to `path` with `headers`; returns status and JSON body (Null if none).
    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, Value) {
        let mut req = self
            .http
            .post(self.url(path))
            .header("Content-Type", "application/json")
            .body(body.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().expect("POST");
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub fn admin_get(&self, path: &str) -> Value {
        let resp = self.http.get(self.admin_url(path)).send().expect("GET");
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.json().expect("json")
    }

    /// Path of the receiver named `name` (from the admin API).
    pub fn receiver_path(&self, name: &str) -> String {
        let list = self.admin_get("/api/v1/receivers");
        list.as_array()
            .and_then(|a| a.iter().find(|r| r["name"] == name))
            .and_then(|r| r["path"].as_str())
            .unwrap_or_else(|| panic!("no receiver {name} in {list}"))
            .to_string()
    }

    pub fn deliveries(&self) -> Vec<Value> {
        self.admin_get("/api/v1/deliveries?limit=10000")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn warehouse(&self, project: &str, name: &str) -> Value {
        self.admin_get(&format!("/api/v1/warehouses/{project}/{name}"))
    }

    /// Waits until `f` holds (polling), or panics with `what`.
    pub fn wait_for(&self, what: &str, mut f: impl FnMut(&Server) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !f(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's resident set size in KiB (Linux `/proc`).
    pub fn rss_kib(&self) -> u64 {
        let pid = self.child.as_ref().expect("server running").id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends `sig` (e.g. "HUP", "TERM") to the server.
    pub fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let ok = Command::new("kill")
                .args([&format!("-{sig}"), &c.id().to_string()])
                .status()
                .expect("kill")
                .success();
            assert!(ok, "kill -{sig}");
        }
    }

    /// Waits for the process to exit and returns its status.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = c.try_wait().expect("wait") {
                return s;
            }
            assert!(Instant::now() < deadline, "server did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the server again on the same data directory and configuration.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            return;
        }
        // Nothing the server wrote (log, database, WAL) may contain a secret used by the tests.
        let mut written = vec![("log", std::fs::read(&self.log).unwrap_or_default())];
        for f in ["dockhand.db", "dockhand.db-wal"] {
            written.push((f, std::fs::read(self.data.join(f)).unwrap_or_default()));
        }
        for (what, bytes) in &written {
            for secret in TEST_SECRETS {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "a test secret was written to the server's {what}"
                );
            }
        }
    }
}

/// The quickstart-like configuration used by most tests: project kargo-demo with an azure and a
/// harbor receiver.
pub const BASE_CONFIG: &str = r#"
apiVersion: v1
kind: Secret
metadata:
  name: azure-wh-secret
  namespace: kargo-demo
stringData:
  secret: test-azure-secret-value
---
apiVersion: v1
kind: Secret
metadata:
  name: harbor-wh-secret
  namespace: kargo-demo
stringData:
  auth-header: Bearer test-harbor-token-value
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
  - name: harbor-wh-receiver
    harbor:
      secretRef:
        name: harbor-wh-secret
"#;

/// Secret values used in tests: nothing the server writes may contain them.
pub const TEST_SECRETS: &[&str] = &[
    "test-azure-secret-value",
    "test-harbor-token-value",
    "test-ado-password",
    "YWRvLXVzZXI6dGVzdC1hZG8tcGFzc3dvcmQ",
    "dGVzdC1henVyZS1hdXRo",
    "admin-token-123",
    "test-github-secret-value",
    "test-gitlab-token-value",
    "test-bitbucket-secret-value",
    "test-gitea-secret-value",
    // Registry receivers (tests/e2e/{distribution,artifactory,ecr,...}.rs).
    "test-distribution-secret",
    "test-distribution-token",
    "test-artifactory-token",
    "test-ecr-token",
    "test-registry-url-secret",
    // Notifications (tests/e2e/notify.rs): the signing key and a token in the sink's address.
    "dGVzdC1ub3RpZnktc2lnbmluZy1rZXktMDEyMw",
    "test-notify-address-token",
];

/// `sha256=<hex HMAC-SHA256(secret, body)>`: how GitHub, Gitea and Bitbucket sign a delivery.
pub fn hub_signature(secret: &str, body: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(body.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// A Warehouse manifest with one git subscription; `extra` adds fields under `git:` (each line
/// indented six spaces).
pub fn git_warehouse(project: &str, name: &str, repo: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata:\n  name: {name}\n  namespace: {project}\nspec:\n  subscriptions:\n  - git:\n      repoURL: '{repo}'\n{extra}"
    )
}

/// A Secret and a ProjectConfig with one receiver of `kind` named `{kind}-wh-receiver` in
/// project kargo-demo, its Secret holding `key: value`.
pub fn receiver_config(kind: &str, key: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {kind}-wh-secret, namespace: kargo-demo}}\nstringData:\n  {key}: {value}\n---\napiVersion: kargo.akuity.io/v1alpha1\nkind: ProjectConfig\nmetadata: {{name: kargo-demo, namespace: kargo-demo}}\nspec:\n  webhookReceivers:\n  - name: {kind}-wh-receiver\n    {kind}: {{secretRef: {{name: {kind}-wh-secret}}}}\n"
    )
}

/// A Warehouse manifest with one image subscription.
pub fn image_warehouse(project: &str, name: &str, repo: &str, constraint: &str) -> String {
    format!(
        "---\napiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata:\n  name: {name}\n  namespace: {project}\nspec:\n  subscriptions:\n  - image:\n      repoURL: {repo}\n      constraint: \"{constraint}\"\n"
    )
}

/// An ACR push body for `host/repo:tag` with delivery id `id`.
pub fn acr_push(id: &str, host: &str, repo: &str, tag: &str) -> String {
    serde_json::json!({
        "id": id,
        "timestamp": "2026-11-21T12:00:00.0000000Z",
        "action": "push",
        "target": {
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "size": 524,
            "digest": "sha256:80f0d5c8786bb9e621a45ece0db56d11cdc624ad20da9fe62e9d25490f331d7d",
            "length": 524,
            "repository": repo,
            "tag": tag
        },
        "request": {"id": "r1", "host": host, "method": "PUT", "useragent": "docker/27"}
    })
    .to_string()
}

pub const ACR_UA: (&str, &str) = ("User-Agent", "AzureContainerRegistry/1.0.0");
