//! The running service's shared state: the current configuration snapshot (swapped whole on
//! reload), the store, the refresh engine, metrics and settings.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use arc_swap::ArcSwap;
use dockhand_core::config::{Config, Receiver, Warehouse};
use dockhand_core::index::Index;
use dockhand_core::secret::constant_time_eq;
use sha2::{Digest, Sha256};

use crate::dedup::Dedup;
use crate::discovery::Discovery;
use crate::metrics::Metrics;
use crate::ratelimit::Limiter;
use crate::refresh::Refresher;
use crate::store::Store;

/// One configuration with everything derived from it. Immutable; a reload builds a new one and
/// swaps it in atomically, so a request sees one consistent configuration from start to end.
pub struct Snapshot {
    pub config: Config,
    pub index: Index,
    /// sha256(receiver path) -> receiver. Keyed by a hash of the path so that the map's own
    /// comparisons reveal nothing about stored paths through timing.
    by_path: HashMap<[u8; 32], usize>,
    warehouses: HashMap<(String, String), usize>,
}

impl Snapshot {
    pub fn build(config: Config, aliases: &[(String, String)]) -> Snapshot {
        let index = Index::build(&config, aliases);
        let by_path = config
            .receivers
            .iter()
            .enumerate()
            .map(|(i, r)| (path_digest(&r.path), i))
            .collect();
        let warehouses = config
            .warehouses
            .iter()
            .enumerate()
            .map(|(i, w)| ((w.project.clone(), w.name.clone()), i))
            .collect();
        Snapshot {
            config,
            index,
            by_path,
            warehouses,
        }
    }

    /// The receiver whose path (after the base path) is `path`.
    pub fn receiver(&self, path: &str) -> Option<&Receiver> {
        let r = &self.config.receivers[*self.by_path.get(&path_digest(path))?];
        constant_time_eq(r.path.as_bytes(), path.as_bytes()).then_some(r)
    }

    pub fn warehouse(&self, project: &str, name: &str) -> Option<&Warehouse> {
        self.warehouses
            .get(&(project.to_string(), name.to_string()))
            .map(|&i| &self.config.warehouses[i])
    }
}

fn path_digest(path: &str) -> [u8; 32] {
    Sha256::digest(path.as_bytes()).into()
}

/// Settings of `serve` that request handling needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--base-url`, for showing receiver URLs.
    pub base_url: String,
    /// Path prefix of receiver URLs, from `--base-url` (`""` or `/webhooks`).
    pub base_path: String,
    pub max_body_bytes: usize,
    /// Time allowed to receive a whole request body.
    pub request_timeout: std::time::Duration,
    pub registry_aliases: Vec<(String, String)>,
}

pub struct App {
    pub snapshot: ArcSwap<Snapshot>,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub refresher: Refresher,
    pub discovery: Arc<Discovery>,
    pub settings: Settings,
    pub ready: AtomicBool,
    /// Per receiver path.
    pub receiver_limiter: Limiter<String>,
    /// Per client IP address.
    pub client_limiter: Limiter<std::net::IpAddr>,
    pub dedup: Dedup,
    /// Kargo mode (`--source kargo`): refreshes are annotation patches on the cluster's
    /// Warehouses instead of discovery.
    pub kargo: Option<Arc<crate::kargo::Kargo>>,
}

/// Now, RFC 3339 UTC with millisecond precision.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let ms = now.millisecond();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        ms
    )
}
