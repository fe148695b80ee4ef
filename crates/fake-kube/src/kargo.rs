//! A stand-in for the parts of Kargo's controllers that dockhand's Kargo mode depends on: the
//! management controller writing `status.webhookReceivers` of ProjectConfigs and the ClusterConfig
//! (path `/{basePath}/{type}/{hex(sha256(project + name + secret))}`, as Kargo's `receiver.go`
//! computes it), and the Warehouse controller copying the `kargo.akuity.io/refresh` annotation into
//! `status.lastHandledRefresh` through the status subresource after a delay.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use tokio::task::JoinHandle;

use crate::status::ApiError;
use crate::store::PatchKind;
use crate::Shared;

/// The annotation Kargo's refresh writes and its Warehouse controller reads.
pub const REFRESH_ANNOTATION: &str = "kargo.akuity.io/refresh";

/// Receiver type (the spec field and path segment) and the Secret key holding its secret.
pub const RECEIVER_SECRET_KEYS: &[(&str, &str)] = &[
    ("artifactory", "secret-token"),
    ("azure", "secret"),
    ("bitbucket", "secret"),
    ("dockerhub", "secret"),
    ("generic", "secret"),
    ("gitea", "secret"),
    ("github", "secret"),
    ("gitlab", "secret-token"),
    ("harbor", "auth-header"),
    ("quay", "secret"),
];

/// `(scheme://authority, path without trailing slash)` of a base URL.
fn split_base_url(base_url: &str) -> (String, String) {
    let (scheme, rest) = base_url.split_once("://").unwrap_or(("http", base_url));
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    (format!("{scheme}://{authority}"), path.to_string())
}

/// The path Kargo gives a receiver: `{basePath}/{type}/{hex(sha256(project + name + secret))}`;
/// `project` is empty for ClusterConfig receivers.
pub fn receiver_path(
    base_url: &str,
    kind: &str,
    project: &str,
    name: &str,
    secret: &str,
) -> String {
    let hash = Sha256::digest(format!("{project}{name}{secret}").as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    let (_, base_path) = split_base_url(base_url);
    format!("{base_path}/{kind}/{hex}")
}

/// The full URL Kargo shows for a receiver: the base URL with its path replaced.
pub fn receiver_url(base_url: &str, path: &str) -> String {
    format!("{}{path}", split_base_url(base_url).0)
}

/// Drives Kargo's side of the contract against a fake server's objects.
#[derive(Clone)]
pub struct KargoController {
    shared: Arc<Shared>,
}

/// The running refresh loop; stops when dropped.
pub struct RefreshHandler {
    task: JoinHandle<()>,
}

impl Drop for RefreshHandler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl KargoController {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        KargoController { shared }
    }

    fn type_id(&self, plural: &str) -> Result<usize, ApiError> {
        self.shared.read(|s| {
            s.type_by_plural(plural)
                .ok_or_else(|| ApiError::new(404, "NotFound", format!("{plural} is not served")))
        })
    }

    /// The receivers of a ProjectConfig/ClusterConfig spec with Secrets from `secrets_ns`.
    /// A receiver whose Secret or key is missing is left out, as Kargo leaves it out of status.
    fn details(
        &self,
        config: &Value,
        project: &str,
        secrets_ns: &str,
        base_url: &str,
    ) -> Result<Vec<Value>, ApiError> {
        let secrets = self.type_id("secrets")?;
        let mut out = Vec::new();
        for receiver in config["spec"]["webhookReceivers"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let name = receiver["name"].as_str().unwrap_or("");
            let Some((kind, key)) = RECEIVER_SECRET_KEYS
                .iter()
                .find(|(kind, _)| receiver.get(*kind).is_some())
            else {
                continue;
            };
            let secret_name = receiver[*kind]["secretRef"]["name"].as_str().unwrap_or("");
            let Ok(secret) = self
                .shared
                .read(|s| s.get(secrets, Some(secrets_ns), secret_name))
            else {
                continue;
            };
            let Some(encoded) = secret["data"][*key].as_str() else {
                continue;
            };
            let Ok(value) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
                continue;
            };
            let value = String::from_utf8_lossy(&value);
            let path = receiver_path(base_url, kind, project, name, &value);
            out.push(json!({"name": name, "path": path, "url": receiver_url(base_url, &path)}));
        }
        Ok(out)
    }

    fn write_status(
        &self,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
        receivers: Vec<Value>,
    ) -> Result<Value, ApiError> {
        let t = self.type_id(plural)?;
        let patch = json!({"status": {"webhookReceivers": receivers}});
        self.shared
            .write(|s| s.patch(t, namespace, name, PatchKind::Merge, &patch, true))
    }

    /// Writes `status.webhookReceivers` of ProjectConfig `project` in namespace `project`.
    pub fn write_project_receivers(
        &self,
        project: &str,
        base_url: &str,
    ) -> Result<Value, ApiError> {
        let t = self.type_id("projectconfigs")?;
        let config = self.shared.read(|s| s.get(t, Some(project), project))?;
        let receivers = self.details(&config, project, project, base_url)?;
        self.write_status("projectconfigs", Some(project), project, receivers)
    }

    /// Writes `status.webhookReceivers` of ClusterConfig `cluster`, Secrets in `system_namespace`.
    pub fn write_cluster_receivers(
        &self,
        system_namespace: &str,
        base_url: &str,
    ) -> Result<Value, ApiError> {
        let t = self.type_id("clusterconfigs")?;
        let config = self.shared.read(|s| s.get(t, None, "cluster"))?;
        let receivers = self.details(&config, "", system_namespace, base_url)?;
        self.write_status("clusterconfigs", None, "cluster", receivers)
    }

    /// Starts copying each Warehouse's refresh annotation into `status.lastHandledRefresh`,
    /// `delay` after the loop first sees a new token (polled every 10 ms).
    pub fn handle_refreshes(&self, delay: Duration) -> RefreshHandler {
        let me = self.clone();
        let task = tokio::spawn(async move {
            let Ok(t) = me.type_id("warehouses") else {
                return;
            };
            // (namespace, name) -> (token, first seen)
            let mut seen: HashMap<(String, String), (String, tokio::time::Instant)> =
                HashMap::new();
            loop {
                let warehouses = me
                    .shared
                    .read(|s| Ok(s.current(t, None)))
                    .unwrap_or_default();
                let now = tokio::time::Instant::now();
                for w in warehouses {
                    let Some(token) = w["metadata"]["annotations"][REFRESH_ANNOTATION].as_str()
                    else {
                        continue;
                    };
                    if w["status"]["lastHandledRefresh"].as_str() == Some(token) {
                        continue;
                    }
                    let ns = w["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or("")
                        .to_string();
                    let name = w["metadata"]["name"].as_str().unwrap_or("").to_string();
                    let entry = seen
                        .entry((ns.clone(), name.clone()))
                        .or_insert_with(|| (token.to_string(), now));
                    if entry.0 != token {
                        *entry = (token.to_string(), now);
                    }
                    if now.duration_since(entry.1) >= delay {
                        let patch = json!({"status": {"lastHandledRefresh": token}});
                        // A Warehouse deleted meanwhile needs no handling.
                        let _ = me.shared.write(|s| {
                            s.patch(t, Some(&ns), &name, PatchKind::Merge, &patch, true)
                        });
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        RefreshHandler { task }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_like_kargo() {
        // Kargo's documented example: sha256("kargo-demo" + "azure-wh-receiver" + "mysecret").
        let p = receiver_path(
            "https://kargo.example.com",
            "azure",
            "kargo-demo",
            "azure-wh-receiver",
            "mysecret",
        );
        assert!(p.starts_with("/azure/745146127fcc"), "{p}");
        assert!(p.ends_with("68cd"), "{p}");
        assert_eq!(p.len(), "/azure/".len() + 64);
        let p = receiver_path(
            "https://kargo.example.com/webhooks/",
            "github",
            "",
            "gh",
            "s",
        );
        assert!(p.starts_with("/webhooks/github/"), "{p}");
        assert_eq!(
            receiver_url("https://kargo.example.com/webhooks/", &p),
            format!("https://kargo.example.com{p}")
        );
    }
}
