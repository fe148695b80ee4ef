//! Discovery: what a reconcile of a Warehouse does when dockhand runs on its own. Each
//! subscription's repository is asked for its artifacts (`image.rs` and `chart.rs` through the
//! OCI registry client `registry.rs` or a chart index; `git.rs` through `git`); the results and
//! any Freight they form are recorded by `refresh/reconcile.rs`.
//!
//! Invariants:
//! - Every remote call has a connect and a total timeout, and every body a size ceiling.
//! - Requests to one registry host are bounded (`per_host` at a time), whatever the number of
//!   Warehouses reconciling.
//! - A failing subscription fails alone; it is retried with exponential backoff (1 s doubling to
//!   5 min; a configuration reload retries at once), and its previous error is reported meanwhile.
//! - A host that cannot be reached is not contacted again until its own backoff ends, whatever
//!   the number of subscriptions on it (`outage.rs`): an outage costs one attempt per step.
//! - Credentials go only into `Authorization` headers or git's askpass environment; no message
//!   and no stored record carries one.

pub mod chart;
mod error;
mod fetch;
pub mod freight;
pub mod git;
pub mod image;
mod outage;
pub mod registry;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use dockhand_core::config::{find_credential, Credential, CredentialKind, Subscription};
use dockhand_core::secret::Secret;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use error::DiscoveryError;
use freight::Artifacts;

/// Settings of discovery, from `serve`'s flags.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Registry hosts (`host` or `host:port`) reached over plain HTTP (`--insecure-registry`).
    pub insecure_registries: Vec<String>,
    /// Total time of one request (or one git command; fetches get four times as long).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Ceiling of one response body (a whole tag list across its pages).
    pub max_response_bytes: usize,
    /// Requests in flight to one registry host.
    pub per_host: usize,
    /// Where git caches and the askpass script live.
    pub data_dir: PathBuf,
}

impl Settings {
    pub fn new(data_dir: PathBuf) -> Settings {
        Settings {
            insecure_registries: Vec::new(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_response_bytes: 32 * 1024 * 1024,
            per_host: 4,
            data_dir,
        }
    }
}

/// What one subscription yielded in one reconcile.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionResult {
    pub kind: String,
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// When these artifacts were discovered (RFC 3339 UTC).
    pub discovered_at: Option<String>,
    /// Newest first, at most `discoveryLimit`.
    pub artifacts: Artifacts,
    pub error: Option<String>,
    /// Failures in a row; 0 after a success.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failures: u32,
    /// This discovery failed because the registry answered 404 for a manifest it had listed:
    /// right after a webhook that means it notified the push before it could serve it (CNCF
    /// Distribution notifies before it links the tag). Not stored.
    #[serde(skip)]
    pub not_found: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Per-subscription memory between reconciles: the last result and when to try again.
#[derive(Debug, Clone)]
struct Memory {
    last: SubscriptionResult,
    retry_at: Option<Instant>,
    /// When `last` was discovered (or failed).
    at: Instant,
}

/// Which subscriptions of a Warehouse may reuse their last discovery (its artifacts, or its error
/// until the next whole refresh or interval retries it): every one not in `only`, if that
/// discovery is younger than `max_age`.
#[derive(Debug, Clone, Copy)]
pub struct Reuse<'a> {
    pub only: &'a std::collections::BTreeSet<u32>,
    pub max_age: Duration,
}

/// The discovery engine: HTTP clients, per-host limits, token cache, backoff. One per process.
pub struct Discovery {
    pub settings: Settings,
    verifying: reqwest::Client,
    trusting: reqwest::Client,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
    tokens: Mutex<HashMap<String, (Secret, Instant)>>,
    memory: Mutex<HashMap<String, Memory>>,
    outages: outage::Outages,
    paths: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
    askpass: PathBuf,
}

impl Discovery {
    pub fn new(settings: Settings) -> Result<Discovery, DiscoveryError> {
        let build = |trust_all: bool| {
            reqwest::Client::builder()
                .connect_timeout(settings.connect_timeout)
                .timeout(settings.timeout)
                .user_agent(concat!("dockhand/", env!("CARGO_PKG_VERSION")))
                .danger_accept_invalid_certs(trust_all)
                .build()
                .map_err(|e| DiscoveryError::Invalid(format!("cannot build the HTTP client: {e}")))
        };
        let askpass = settings.data_dir.join("git-askpass.sh");
        write_askpass(&askpass)?;
        Ok(Discovery {
            verifying: build(false)?,
            trusting: build(true)?,
            hosts: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            memory: Mutex::new(HashMap::new()),
            outages: outage::Outages::new(settings.timeout),
            paths: Mutex::new(HashMap::new()),
            askpass,
            settings,
        })
    }

    fn client(&self, insecure_tls: bool) -> &reqwest::Client {
        if insecure_tls {
            &self.trusting
        } else {
            &self.verifying
        }
    }

    fn timeout_secs(&self) -> u64 {
        self.settings.timeout.as_secs()
    }

    fn transport_error(&self, url: &str, e: &reqwest::Error) -> DiscoveryError {
        DiscoveryError::from_reqwest(url, e, self.timeout_secs())
    }

    /// Waits for a free request slot of `host`.
    async fn host_permit(&self, host: &str) -> Option<OwnedSemaphorePermit> {
        let sem = {
            let mut hosts = self.hosts.lock();
            hosts
                .entry(host.to_ascii_lowercase())
                .or_insert_with(|| Arc::new(Semaphore::new(self.settings.per_host.max(1))))
                .clone()
        };
        sem.acquire_owned().await.ok()
    }

    fn cached_token(&self, key: &str) -> Option<Secret> {
        let tokens = self.tokens.lock();
        tokens
            .get(key)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(t, _)| t.clone())
    }

    fn cache_token(&self, key: String, token: Secret, until: Instant) {
        let mut tokens = self.tokens.lock();
        tokens.retain(|_, (_, u)| *u > Instant::now());
        tokens.insert(key, (token, until));
    }

    fn git_cache_dir(&self, url: &str) -> PathBuf {
        let hash = Sha256::digest(url.as_bytes());
        let name: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
        self.settings.data_dir.join("git-cache").join(name)
    }

    async fn path_lock(&self, path: &Path) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self
            .paths
            .lock()
            .entry(path.to_path_buf())
            .or_default()
            .clone();
        lock.lock_owned().await
    }

    /// Lets every failing subscription be retried at its next reconcile (the configuration
    /// changed; what failed may work now). Errors stay reported until then.
    pub fn reset_backoff(&self) {
        for entry in self.memory.lock().values_mut() {
            entry.retry_at = None;
        }
        self.outages.clear();
    }

    /// Discovers every subscription of a Warehouse concurrently; results in subscription order.
    /// `key` names the Warehouse (`project/name`) for the backoff memory.
    pub async fn warehouse(
        self: &Arc<Self>,
        key: &str,
        project: &str,
        subscriptions: &[Subscription],
        credentials: &[Credential],
        reuse: Option<Reuse<'_>>,
        now: impl Fn() -> String,
    ) -> Vec<SubscriptionResult> {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, sub) in subscriptions.iter().enumerate() {
            let me = self.clone();
            let sub = sub.clone();
            let kind = match &sub {
                Subscription::Image(_) => CredentialKind::Image,
                Subscription::Chart(_) => CredentialKind::Helm,
                Subscription::Git(_) => CredentialKind::Git,
            };
            let cred = find_credential(credentials, project, kind, sub.repo_url()).cloned();
            let mem_key = format!("{key}#{i}#{}", sub.repo_url());
            let max_age = reuse
                .filter(|r| !r.only.contains(&(i as u32)))
                .map(|r| r.max_age);
            tasks.spawn(async move {
                let result = me
                    .subscription(&mem_key, &sub, cred.as_ref(), max_age)
                    .await;
                (i, result)
            });
        }
        let mut results = vec![SubscriptionResult::default(); subscriptions.len()];
        while let Some(joined) = tasks.join_next().await {
            if let Ok((i, r)) = joined {
                results[i] = r;
            }
        }
        for (i, sub) in subscriptions.iter().enumerate() {
            let r = &mut results[i];
            if r.kind.is_empty() {
                // The task panicked: report it rather than lose the subscription.
                r.kind = sub.kind().to_string();
                r.repo_url = sub.repo_url().to_string();
                r.error = Some("discovery failed unexpectedly".to_string());
            }
            if r.discovered_at.is_none() && r.error.is_none() {
                r.discovered_at = Some(now());
            }
        }
        results
    }

    /// One subscription, or its remembered failure while it backs off, or (with `max_age`) its
    /// last result when that is younger.
    async fn subscription(
        &self,
        mem_key: &str,
        sub: &Subscription,
        cred: Option<&Credential>,
        max_age: Option<Duration>,
    ) -> SubscriptionResult {
        let remembered = self.memory.lock().get(mem_key).cloned();
        if let Some(Memory {
            last,
            retry_at: Some(at),
            ..
        }) = &remembered
        {
            if *at > Instant::now() {
                return last.clone();
            }
        }
        if let (Some(max_age), Some(m)) = (max_age, &remembered) {
            if m.at.elapsed() < max_age {
                return m.last.clone();
            }
        }
        let origin = outage::origin(sub, &self.settings.insecure_registries);
        if let Some(held) = origin.as_deref().and_then(|o| self.outages.gate(o)) {
            // Not contacted, so not a failure of its own: its backoff and memory stay.
            return SubscriptionResult {
                kind: sub.kind().to_string(),
                repo_url: sub.repo_url().to_string(),
                error: Some(held.to_string()),
                not_found: false,
                ..remembered.map(|m| m.last).unwrap_or_default()
            };
        }
        let outcome = match sub {
            Subscription::Image(s) => {
                image::discover(self, s, cred)
                    .await
                    .map(|images| Artifacts {
                        images,
                        ..Artifacts::default()
                    })
            }
            Subscription::Chart(s) => {
                chart::discover(self, s, cred)
                    .await
                    .map(|charts| Artifacts {
                        charts,
                        ..Artifacts::default()
                    })
            }
            Subscription::Git(s) => git::discover(self, s, cred).await.map(|commits| Artifacts {
                commits,
                ..Artifacts::default()
            }),
        };
        if let Some(origin) = &origin {
            self.outages.record(origin, &outcome);
        }
        let mut result = SubscriptionResult {
            kind: sub.kind().to_string(),
            repo_url: sub.repo_url().to_string(),
            ..SubscriptionResult::default()
        };
        let retry_at = match outcome {
            Ok(artifacts) => {
                result.artifacts = artifacts;
                None
            }
            Err(e) => {
                let failures = remembered.as_ref().map_or(0, |m| m.last.failures) + 1;
                // Keep what was discovered last time: a registry outage does not erase it.
                if let Some(m) = &remembered {
                    result.artifacts = m.last.artifacts.clone();
                    result.discovered_at = m.last.discovered_at.clone();
                }
                result.not_found = matches!(
                    &e,
                    error::DiscoveryError::Status { status: 404, url, .. } if url.contains("/manifests/")
                );
                result.error = Some(e.to_string());
                result.failures = failures;
                Some(Instant::now() + backoff(failures))
            }
        };
        tracing::debug!(subscription = mem_key, error = ?result.error, "discovered");
        self.memory.lock().insert(
            mem_key.to_string(),
            Memory {
                last: result.clone(),
                retry_at,
                at: Instant::now(),
            },
        );
        result
    }
}

/// 1 s after the first failure, doubling, at most 5 minutes.
fn backoff(failures: u32) -> Duration {
    let secs = 1u64 << failures.saturating_sub(1).min(9);
    Duration::from_secs(secs.min(300))
}

fn write_askpass(path: &Path) -> Result<(), DiscoveryError> {
    let fail = |e: std::io::Error| {
        DiscoveryError::Invalid(format!("cannot write {}: {e}", path.display()))
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    std::fs::write(path, git::ASKPASS).map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(4), Duration::from_secs(8));
        assert_eq!(backoff(30), Duration::from_secs(300));
    }
}
