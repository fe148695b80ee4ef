//! The CNCF Distribution registry (`/usr/bin/docker-registry`, Debian's `docker-registry`)
//! started on a loopback port with a temporary storage directory, optionally behind htpasswd
//! Basic auth, optionally sending its notifications to an endpoint; and a push helper speaking
//! the distribution API (blob upload, manifest PUT).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

pub const BINARY: &str = "/usr/bin/docker-registry";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

pub struct Registry {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    auth: Option<(String, String)>,
    http: reqwest::blocking::Client,
}

pub fn digest(bytes: &[u8]) -> String {
    let h = Sha256::digest(bytes);
    format!(
        "sha256:{}",
        h.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

impl Registry {
    /// Starts a registry on a free loopback port.
    pub fn start() -> Registry {
        Registry::start_on(crate::common::free_port(), None)
    }

    /// Starts a registry requiring Basic auth for `user`/`password` (bcrypt via `htpasswd`).
    pub fn start_with_auth(user: &str, password: &str) -> Registry {
        Registry::start_on(
            crate::common::free_port(),
            Some((user.to_string(), password.to_string())),
        )
    }

    /// Starts a registry on `port` whose `notifications.endpoints` has one endpoint posting to
    /// `url` with `authorization` as its `Authorization` header (when given): the registry's own
    /// notifications, as a real deployment configures them.
    pub fn start_notifying(port: u16, url: &str, authorization: Option<&str>) -> Registry {
        let mut endpoint = format!(
            "notifications:\n  endpoints:\n    - name: dockhand\n      url: {url}\n      timeout: 2s\n      threshold: 5\n      backoff: 1s\n"
        );
        if let Some(a) = authorization {
            endpoint.push_str(&format!("      headers:\n        Authorization: [{a}]\n"));
        }
        Registry::start_configured(port, None, &endpoint)
    }

    pub fn start_on(port: u16, auth: Option<(String, String)>) -> Registry {
        Registry::start_configured(port, auth, "")
    }

    /// Starts a registry on `port`; `extra` is appended to its `config.yml`.
    fn start_configured(port: u16, auth: Option<(String, String)>, extra: &str) -> Registry {
        assert!(
            std::path::Path::new(BINARY).exists(),
            "{BINARY} is missing: apt-get install -y docker-registry (scripts/test does)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("storage").display()
        );
        if let Some((user, password)) = &auth {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd (apt-get install -y apache2-utils)");
            assert!(out.status.success(), "htpasswd failed");
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).expect("write htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
                file.display()
            ));
        }
        config.push_str(extra);
        let config_file = dir.path().join("config.yml");
        std::fs::write(&config_file, config).expect("write registry config");
        let child = Command::new(BINARY)
            .arg("serve")
            .arg(&config_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let r = Registry {
            child: Some(child),
            port,
            dir,
            auth,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(resp) = r.http.get(r.url("/v2/")).send() {
                if resp.status().is_success() || resp.status() == 401 {
                    return r;
                }
            }
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn req(&self, method: reqwest::Method, url: &str) -> reqwest::blocking::RequestBuilder {
        let r = self.http.request(method, url);
        match &self.auth {
            Some((u, p)) => r.basic_auth(u, Some(p)),
            None => r,
        }
    }

    /// Uploads a blob (POST then PUT with the digest); returns its digest.
    pub fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let d = digest(bytes);
        let resp = self
            .req(
                reqwest::Method::POST,
                &self.url(&format!("/v2/{repo}/blobs/uploads/")),
            )
            .send()
            .expect("start upload");
        assert_eq!(resp.status(), 202, "start upload: {}", resp.status());
        let location = resp.headers()["location"]
            .to_str()
            .expect("location")
            .to_string();
        let location = if location.starts_with('/') {
            self.url(&location)
        } else {
            location
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let resp = self
            .req(reqwest::Method::PUT, &format!("{location}{sep}digest={d}"))
            .header("Content-Type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .expect("finish upload");
        assert_eq!(resp.status(), 201, "finish upload: {}", resp.status());
        d
    }

    /// PUTs a manifest under `reference`; returns its digest.
    pub fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &Value,
    ) -> String {
        let bytes = serde_json::to_vec(body).expect("json");
        let resp = self
            .req(
                reqwest::Method::PUT,
                &self.url(&format!("/v2/{repo}/manifests/{reference}")),
            )
            .header("Content-Type", media_type)
            .body(bytes.clone())
            .send()
            .expect("put manifest");
        assert_eq!(
            resp.status(),
            201,
            "put manifest: {}",
            resp.text().unwrap_or_default()
        );
        digest(&bytes)
    }

    /// Pushes a one-layer image for `os/arch` built at `created`; tags it `tag` when given.
    /// Returns (manifest digest, manifest size).
    pub fn push_image(
        &self,
        repo: &str,
        tag: Option<&str>,
        os: &str,
        arch: &str,
        created: &str,
    ) -> (String, usize) {
        let layer = format!("layer of {repo} {os}/{arch} {created} {tag:?}").into_bytes();
        let layer_digest = self.push_blob(repo, &layer);
        let config = serde_json::to_vec(&json!({
            "created": created,
            "architecture": arch,
            "os": os,
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
            "config": {}
        }))
        .expect("json");
        let config_digest = self.push_blob(repo, &config);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer.len()}]
        });
        let size = serde_json::to_vec(&manifest).expect("json").len();
        let reference = match tag {
            Some(t) => t.to_string(),
            None => digest(&serde_json::to_vec(&manifest).expect("json")),
        };
        (
            self.push_manifest(repo, &reference, OCI_MANIFEST, &manifest),
            size,
        )
    }

    /// Pushes an index of one image per platform under `tag`. Returns (index digest, digest
    /// of each platform's manifest in order).
    pub fn push_index(
        &self,
        repo: &str,
        tag: &str,
        platforms: &[(&str, &str)],
    ) -> (String, Vec<String>) {
        let mut entries = Vec::new();
        let mut digests = Vec::new();
        for (os, arch) in platforms {
            let (d, size) = self.push_image(repo, None, os, arch, "2024-05-01T00:00:00Z");
            entries.push(json!({
                "mediaType": OCI_MANIFEST, "digest": d, "size": size,
                "platform": {"os": os, "architecture": arch}
            }));
            digests.push(d);
        }
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries});
        (self.push_manifest(repo, tag, OCI_INDEX, &index), digests)
    }

    /// Pushes a Helm chart as an OCI artifact (Helm's media types), tagged with `version`.
    pub fn push_chart(&self, repo: &str, version: &str) -> String {
        let config = serde_json::to_vec(
            &json!({"name": repo.rsplit('/').next(), "version": version, "apiVersion": "v2"}),
        )
        .expect("json");
        let config_digest = self.push_blob(repo, &config);
        let content = format!("chart {repo} {version}").into_bytes();
        let content_digest = self.push_blob(repo, &content);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": content_digest, "size": content.len()}]
        });
        self.push_manifest(repo, &version.replace('+', "_"), OCI_MANIFEST, &manifest)
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}
