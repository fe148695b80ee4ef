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

    /// One pass of the management controller: the receivers of every ProjectConfig (Secrets in its
    /// namespace) and of ClusterConfig `cluster`, if any (Secrets in `system_namespace`).
    /// Returns how many objects were written.
    pub fn write_all_receivers(
        &self,
        system_namespace: &str,
        base_url: &str,
    ) -> Result<usize, ApiError> {
        let t = self.type_id("projectconfigs")?;
        let projects: Vec<String> = self
            .shared
            .read(|s| Ok(s.current(t, None)))?
            .iter()
            .filter_map(|pc| pc["metadata"]["namespace"].as_str().map(str::to_string))
            .collect();
        for project in &projects {
            self.write_project_receivers(project, base_url)?;
        }
        let cluster = match self.write_cluster_receivers(system_namespace, base_url) {
            Ok(_) => 1,
            Err(e) if e.code == 404 => 0,
            Err(e) => return Err(e),
        };
        Ok(projects.len() + cluster)
    }

    /// Starts copying the refresh annotation of each Warehouse (and Promotion) into its
    /// `status.lastHandledRefresh`, `delay` after the token was first written, as Kargo's
    /// controllers do once they have reconciled. It reacts to writes, not polling, so it stays
    /// cheap with thousands of Warehouses.
    pub fn handle_refreshes(&self, delay: Duration) -> RefreshHandler {
        let shared = self.shared.clone();
        let types: Vec<usize> = ["warehouses", "promotions"]
            .into_iter()
            .filter_map(|p| self.type_id(p).ok())
            .collect();
        let task = tokio::spawn(async move {
            let mut revisions = shared.revision_tx.subscribe();
            // (type, namespace, name) -> (token, when it is due)
            let mut pending: HashMap<(usize, String, String), (String, tokio::time::Instant)> =
                HashMap::new();
            // 0 = read every object (at the start, and when the history no longer reaches back).
            let mut cursor = 0;
            loop {
                let changed: Vec<(usize, Option<Value>, String, String)> = {
                    let store = crate::lock(&shared.store);
                    let mut out = Vec::new();
                    for &t in &types {
                        let events = if cursor == 0 {
                            None
                        } else {
                            store.events_after(t, None, cursor).ok()
                        };
                        match events {
                            Some(events) => out.extend(events.into_iter().map(|e| {
                                let ns = e.namespace.clone();
                                let name = e.object["metadata"]["name"]
                                    .as_str()
                                    .unwrap_or("")
                                    .to_string();
                                let live = (e.kind != crate::store::EventType::Deleted)
                                    .then_some(e.object);
                                (t, live, ns, name)
                            })),
                            None => out.extend(store.current(t, None).into_iter().map(|o| {
                                let ns = o["metadata"]["namespace"]
                                    .as_str()
                                    .unwrap_or("")
                                    .to_string();
                                let name = o["metadata"]["name"].as_str().unwrap_or("").to_string();
                                (t, Some(o), ns, name)
                            })),
                        }
                    }
                    cursor = store.revision();
                    out
                };
                let now = tokio::time::Instant::now();
                for (t, object, ns, name) in changed {
                    let key = (t, ns, name);
                    let token = object.as_ref().and_then(|o| {
                        let token = o["metadata"]["annotations"][REFRESH_ANNOTATION].as_str()?;
                        (o["status"]["lastHandledRefresh"].as_str() != Some(token))
                            .then(|| token.to_string())
                    });
                    match token {
                        None => {
                            pending.remove(&key);
                        }
                        Some(token) => {
                            if pending.get(&key).is_none_or(|(t, _)| *t != token) {
                                pending.insert(key, (token, now + delay));
                            }
                        }
                    }
                }
                let due: Vec<_> = pending
                    .iter()
                    .filter(|(_, (_, at))| *at <= now)
                    .map(|(k, (tok, _))| (k.clone(), tok.clone()))
                    .collect();
                for ((t, ns, name), token) in due {
                    pending.remove(&(t, ns.clone(), name.clone()));
                    let patch = json!({"status": {"lastHandledRefresh": token}});
                    // An object deleted meanwhile needs no handling.
                    let _ = shared
                        .write(|s| s.patch(t, Some(&ns), &name, PatchKind::Merge, &patch, true));
                }
                let next_due = pending.values().map(|(_, at)| *at).min();
                tokio::select! {
                    changed = revisions.changed() => {
                        if changed.is_err() {
                            return;
                        }
                    }
                    _ = async {
                        match next_due {
                            Some(at) => tokio::time::sleep_until(at).await,
                            None => std::future::pending().await,
                        }
                    } => {}
                }
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
