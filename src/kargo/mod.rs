//! Kargo mode (`dockhand serve --source kargo`): dockhand as the external webhook server of a
//! real Kargo installation. Kargo's own controllers discover artifacts and record Freight;
//! dockhand only nudges them, with the refresh Kargo itself uses.
//!
//! - `source.rs`: the configuration from the cluster (watched Warehouses, ProjectConfigs and the
//!   ClusterConfig; receiver Secrets read with GET in their own namespace).
//! - this file: the handle the rest of the service shares (`Kargo`): the API client, the refresh
//!   patch, the refresh tokens and their proof of handling, readiness and the report the admin
//!   API shows.
//!
//! Invariants: dockhand writes nothing to the cluster but `metadata.annotations
//! ["kargo.akuity.io/refresh"]` of Warehouses, with a JSON merge patch, never status, never
//! another object; every token is distinct (RFC 3339 UTC with microseconds, strictly increasing
//! within a process), so two refreshes in one second are two refreshes.

pub mod source;

use parking_lot::Mutex;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde::Serialize;
use serde_json::json;

use crate::store::Store;

/// The annotation Kargo's refresh sets and its Warehouse controller reacts to.
pub const REFRESH_ANNOTATION: &str = "kargo.akuity.io/refresh";

/// Refresh-engine keys of Promotions: `(namespace, "promotions/NAME")`. Kubernetes names
/// cannot contain `/`, so such a key never names a Warehouse; the engine's durability,
/// coalescing and delivery records then serve Promotions unchanged.
pub const PROMOTION_KEY: &str = "promotions/";

/// Kargo's API group and the version dockhand reads.
const GROUP: &str = "kargo.akuity.io";
const VERSION: &str = "v1alpha1";

/// Upper bounds (seconds) of `dockhand_kargo_refresh_handled_seconds`.
const HANDLED_BUCKETS: &[f64] = &[0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0];

/// How often an unknown receiver path may make dockhand read the receiver Secrets again.
const RESYNC_EVERY: Duration = Duration::from_secs(1);
/// How long a request for an unknown path waits for that re-read.
const RESYNC_WAIT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum KargoError {
    #[error("cannot read kubeconfig {path}: {source}")]
    Kubeconfig {
        path: String,
        source: kube::config::KubeconfigError,
    },
    #[error("cannot configure the Kubernetes client (flag --kubeconfig, KUBECONFIG, or the in-cluster service account): {0}")]
    Infer(#[from] kube::config::InferConfigError),
    #[error("cannot create the Kubernetes client: {0}")]
    Client(#[from] kube::Error),
}

/// A Kubernetes client from `--kubeconfig`, else `KUBECONFIG`, else the in-cluster service
/// account (whose token file kube reloads as it rotates).
pub async fn client(kubeconfig: Option<&Path>) -> Result<kube::Client, KargoError> {
    let config = match kubeconfig {
        Some(path) => {
            let err = |source| KargoError::Kubeconfig {
                path: path.display().to_string(),
                source,
            };
            let kc = kube::config::Kubeconfig::read_from(path).map_err(err)?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(err)?
        }
        None => kube::Config::infer().await?,
    };
    Ok(kube::Client::try_from(config)?)
}

/// A Kargo resource type by plural, with no discovery call.
pub(crate) fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, VERSION, kind), plural)
}

/// Why a refresh patch did not land.
#[derive(Debug)]
pub enum PatchError {
    /// The Warehouse does not exist (any more): the refresh is dropped.
    Gone,
    /// Worth trying again: 429, 5xx, a conflict, an admission webhook that could not be called,
    /// a connection that failed.
    Retry(String),
    /// The API server refused it for good (403, 422, ...).
    Refused(String),
}

/// One receiver as Kargo's status shows it and as dockhand computes it from the current Secret.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverPaths {
    /// `""` for a ClusterConfig receiver.
    pub project: String,
    pub name: String,
    /// `status.webhookReceivers[].path`, as Kargo wrote it (its base path included).
    pub status_path: Option<String>,
    /// The path from the Secret dockhand read, after dockhand's base path; null when dockhand
    /// could not build the receiver (see the problems).
    pub computed_path: Option<String>,
    /// The two disagree: Kargo's `EXTERNAL_WEBHOOK_SERVER_BASE_URL` differs from `--base-url`,
    /// or a rotated Secret that Kargo's status has not caught up with (it does within minutes).
    pub mismatch: bool,
}

/// What the cluster source found, for the admin API.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Every watch has finished its first list.
    pub synced: bool,
    pub warehouses: usize,
    /// Objects left out, one line each (an invalid Warehouse, a receiver whose Secret is
    /// missing, ...).
    pub problems: Vec<String>,
    pub receivers: Vec<ReceiverPaths>,
}

/// A token patched and not yet seen handled, and when it landed (None: by a previous run).
type Outstanding = (String, Option<Instant>);

/// Kargo mode's shared handle.
pub struct Kargo {
    client: kube::Client,
    pub system_namespace: String,
    /// Set once the service has opened it (`attach_store`).
    store: std::sync::OnceLock<Arc<dyn Store>>,
    last_token_micros: AtomicI64,
    /// (namespace, name) -> tokens patched and not yet seen handled, with when they landed
    /// (None for those left by a previous run).
    outstanding: Mutex<HashMap<(String, String), Vec<Outstanding>>>,
    report: Mutex<Report>,
    /// Running Promotions waiting on pull requests (Kargo's `pullRequestURL` index):
    /// (namespace, name) -> the pull-request URLs of their `git-wait-for-pr` steps so far.
    waiting_on_prs: Mutex<HashMap<(String, String), Vec<String>>>,
    resync: tokio::sync::Notify,
    resync_done: tokio::sync::watch::Sender<u64>,
    last_resync: Mutex<Option<Instant>>,
    handled_buckets: [AtomicU64; 9],
    handled_count: AtomicU64,
    handled_sum_micros: AtomicU64,
    patches_landed: AtomicU64,
    patches_retried: AtomicU64,
    patches_dropped: AtomicU64,
    patches_refused: AtomicU64,
}

impl Kargo {
    /// A handle for `client`; `attach_store` completes it.
    pub fn new(client: kube::Client, system_namespace: String) -> Kargo {
        Kargo {
            client,
            system_namespace,
            store: std::sync::OnceLock::new(),
            last_token_micros: AtomicI64::new(0),
            outstanding: Mutex::new(HashMap::new()),
            report: Mutex::new(Report::default()),
            waiting_on_prs: Mutex::new(HashMap::new()),
            resync: tokio::sync::Notify::new(),
            resync_done: tokio::sync::watch::Sender::new(0),
            last_resync: Mutex::new(None),
            handled_buckets: Default::default(),
            handled_count: AtomicU64::new(0),
            handled_sum_micros: AtomicU64::new(0),
            patches_landed: AtomicU64::new(0),
            patches_retried: AtomicU64::new(0),
            patches_dropped: AtomicU64::new(0),
            patches_refused: AtomicU64::new(0),
        }
    }

    /// Records deliveries' refreshes in `store` from now on, and looks again for the tokens a
    /// previous run patched that Kargo had not handled yet.
    pub async fn attach_store(&self, store: Arc<dyn Store>) {
        match store.kargo_outstanding().await {
            Ok(rows) => {
                let mut o = self.outstanding.lock();
                for (w, token) in rows {
                    o.entry((w.project, w.name))
                        .or_default()
                        .push((token, None));
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the refreshes awaiting Kargo"),
        }
        store.link_refreshes();
        let _ = self.store.set(store);
    }

    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// A new refresh token: now, RFC 3339 UTC with microseconds, later than every token this
    /// process made before (two in one microsecond get consecutive values).
    pub fn next_token(&self) -> String {
        let now = time::OffsetDateTime::now_utc();
        let now_micros = (now.unix_timestamp_nanos() / 1_000) as i64;
        let mut prev = self.last_token_micros.load(Ordering::SeqCst);
        let micros = loop {
            let next = now_micros.max(prev + 1);
            match self.last_token_micros.compare_exchange(
                prev,
                next,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => break next,
                Err(p) => prev = p,
            }
        };
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
            .unwrap_or(now);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        )
    }

    /// Sets the refresh annotation of Warehouse `namespace/name` (of Promotion NAME when `name`
    /// is `promotions/NAME`) to `token`: a JSON merge patch of that one key, field manager
    /// `dockhand`.
    pub async fn patch_refresh(
        &self,
        namespace: &str,
        name: &str,
        token: &str,
    ) -> Result<(), PatchError> {
        let (ar, name) = match name.strip_prefix(PROMOTION_KEY) {
            Some(promotion) => (resource("Promotion", "promotions"), promotion),
            None => (resource("Warehouse", "warehouses"), name),
        };
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), namespace, &ar);
        let patch = json!({"metadata": {"annotations": {REFRESH_ANNOTATION: token}}});
        let params = PatchParams {
            field_manager: Some("dockhand".to_string()),
            ..PatchParams::default()
        };
        match api.patch(name, &params, &Patch::Merge(&patch)).await {
            Ok(_) => {
                self.patches_landed.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                let e = classify(e);
                let counter = match &e {
                    PatchError::Gone => &self.patches_dropped,
                    PatchError::Retry(_) => &self.patches_retried,
                    PatchError::Refused(_) => &self.patches_refused,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// `token` landed on `namespace/name`: look for it in the Warehouse's status.
    pub fn patched(&self, namespace: &str, name: &str, token: &str) {
        {
            let mut o = self.outstanding.lock();
            o.entry((namespace.to_string(), name.to_string()))
                .or_default()
                .push((token.to_string(), Some(Instant::now())));
        }
    }

    /// The Warehouse watch saw `status.lastHandledRefresh` = `last` on `namespace/name`: every
    /// outstanding token not after it is handled. Records it (store, histogram); returns how
    /// many tokens that settled.
    pub async fn observe_handled(&self, namespace: &str, name: &str, last: &str) -> usize {
        let settled: Vec<Option<Instant>> = {
            let mut o = self.outstanding.lock();
            let key = (namespace.to_string(), name.to_string());
            let Some(tokens) = o.get_mut(&key) else {
                return 0;
            };
            let mut settled = Vec::new();
            tokens.retain(|(t, at)| {
                let handled = t.as_str() <= last;
                if handled {
                    settled.push(*at);
                }
                !handled
            });
            if tokens.is_empty() {
                o.remove(&key);
            }
            settled
        };
        if settled.is_empty() {
            return 0;
        }
        for at in settled.iter().flatten() {
            self.observe_seconds(at.elapsed().as_secs_f64());
        }
        let Some(store) = self.store.get() else {
            return settled.len();
        };
        if let Err(e) = store
            .kargo_handled(
                &dockhand_core::warehouse_ref::WarehouseRef::new(namespace, name),
                last.to_string(),
                crate::clock::now_rfc3339(),
            )
            .await
        {
            tracing::warn!(project = namespace, warehouse = name, error = %e, "cannot record that Kargo handled a refresh");
        }
        tracing::debug!(
            project = namespace,
            warehouse = name,
            token = last,
            "Kargo handled the refresh"
        );
        settled.len()
    }

    fn observe_seconds(&self, seconds: f64) {
        self.handled_count.fetch_add(1, Ordering::Relaxed);
        self.handled_sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        for (i, b) in HANDLED_BUCKETS.iter().enumerate() {
            if seconds <= *b {
                self.handled_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The running Promotions of `project` (of every project when `project` is `""`) waiting on
    /// pull request `pr_url`, as refresh-engine keys (`PROMOTION_KEY`).
    pub fn promotions_waiting_on(&self, pr_url: &str, project: &str) -> Vec<(String, String)> {
        let index = self.waiting_on_prs.lock();
        let mut out: Vec<(String, String)> = index
            .iter()
            .filter(|((ns, _), urls)| {
                (project.is_empty() || ns == project) && urls.iter().any(|u| u == pr_url)
            })
            .map(|((ns, name), _)| (ns.clone(), format!("{PROMOTION_KEY}{name}")))
            .collect();
        out.sort();
        out
    }

    /// Records what Promotion `namespace/name` waits on (nothing: it is not indexed).
    pub(crate) fn set_waiting_on_prs(&self, namespace: &str, name: &str, urls: Vec<String>) {
        {
            let mut index = self.waiting_on_prs.lock();
            let key = (namespace.to_string(), name.to_string());
            if urls.is_empty() {
                index.remove(&key);
            } else {
                index.insert(key, urls);
            }
        }
    }

    /// Replaces the whole index (after a list).
    pub(crate) fn reset_waiting_on_prs(&self, all: HashMap<(String, String), Vec<String>>) {
        {
            let mut index = self.waiting_on_prs.lock();
            *index = all;
        }
    }

    pub fn report(&self) -> Report {
        self.report.lock().clone()
    }

    pub(crate) fn set_report(&self, report: Report) {
        {
            let mut r = self.report.lock();
            *r = report;
        }
    }

    /// A request reached a path no receiver has: maybe a Secret was rotated. Reads the receiver
    /// Secrets again (at most once per `RESYNC_EVERY`, so unknown paths cannot flood the API
    /// server) and waits for the new configuration; false when no re-read was made.
    pub async fn resync_for_unknown_path(&self) -> bool {
        {
            let mut last = self.last_resync.lock();
            if last.is_some_and(|t| t.elapsed() < RESYNC_EVERY) {
                return false;
            }
            *last = Some(Instant::now());
        }
        let mut done = self.resync_done.subscribe();
        let before = *done.borrow_and_update();
        self.resync.notify_one();
        tokio::time::timeout(RESYNC_WAIT, done.wait_for(|g| *g > before))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    pub(crate) async fn resync_requested(&self) {
        self.resync.notified().await;
    }

    pub(crate) fn resynced(&self) {
        self.resync_done.send_modify(|g| *g += 1);
    }

    /// Kargo mode's metrics, in the text exposition format.
    pub fn render_metrics(&self) -> String {
        let mut out = String::new();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        out.push_str("# HELP dockhand_kargo_refresh_handled_seconds Time from a refresh patch landing to Kargo's status.lastHandledRefresh reaching its token.\n# TYPE dockhand_kargo_refresh_handled_seconds histogram\n");
        for (i, b) in HANDLED_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "dockhand_kargo_refresh_handled_seconds_bucket{{le=\"{b}\"}} {}",
                load(&self.handled_buckets[i])
            );
        }
        let count = load(&self.handled_count);
        let _ = writeln!(
            out,
            "dockhand_kargo_refresh_handled_seconds_bucket{{le=\"+Inf\"}} {count}\ndockhand_kargo_refresh_handled_seconds_sum {}\ndockhand_kargo_refresh_handled_seconds_count {count}",
            load(&self.handled_sum_micros) as f64 / 1e6
        );
        out.push_str("# HELP dockhand_kargo_refresh_patches_total Refresh patch attempts by result.\n# TYPE dockhand_kargo_refresh_patches_total counter\n");
        for (result, v) in [
            ("landed", &self.patches_landed),
            ("retried", &self.patches_retried),
            ("dropped", &self.patches_dropped),
            ("refused", &self.patches_refused),
        ] {
            let _ = writeln!(
                out,
                "dockhand_kargo_refresh_patches_total{{result=\"{result}\"}} {}",
                load(v)
            );
        }
        let report = self.report();
        let _ = writeln!(
            out,
            "# HELP dockhand_kargo_objects_invalid Cluster objects left out of the configuration (invalid Warehouses, receivers without their Secret).\n# TYPE dockhand_kargo_objects_invalid gauge\ndockhand_kargo_objects_invalid {}\n# HELP dockhand_kargo_synced Every watch has finished its first list (1) or not (0).\n# TYPE dockhand_kargo_synced gauge\ndockhand_kargo_synced {}",
            report.problems.len(),
            u8::from(report.synced)
        );
        out
    }
}

fn classify(e: kube::Error) -> PatchError {
    match e {
        kube::Error::Api(status) => {
            let code = status.code;
            let msg = format!("{code} {}: {}", status.reason, status.message);
            let admission = status.message.contains("admission webhook")
                || status.message.contains("failed calling webhook");
            match code {
                404 => PatchError::Gone,
                409 | 429 => PatchError::Retry(msg),
                c if c >= 500 || admission => PatchError::Retry(msg),
                _ => PatchError::Refused(msg),
            }
        }
        other => PatchError::Retry(other.to_string()),
    }
}
