//! The running service's shared state: the current configuration snapshot (swapped whole on
//! reload), the store, the refresh engine, metrics and settings.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::dedup::Dedup;
use crate::discovery::Discovery;
use crate::metrics::Metrics;
use crate::ratelimit::Limiter;
use crate::refresh::Refresher;
use crate::store::Store;

// Re-exported where request handling has always found them.
pub use crate::clock::now_rfc3339;
pub use crate::snapshot::Snapshot;

/// Settings of `serve` that request handling needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--base-url`, for showing receiver URLs.
    pub base_url: String,
    /// Path prefix of receiver URLs, from `--base-url` (`""` or `/webhooks`).
    pub base_path: String,
    pub max_body_bytes: usize,
    /// `--keep-payloads`: store each delivery's body and non-secret headers.
    pub keep_payloads: bool,
    /// Time allowed to receive a whole request body.
    pub request_timeout: std::time::Duration,
    pub registry_aliases: Vec<(String, String)>,
}

pub struct App {
    /// Shared with the refresh engine, which reads the Warehouses it reconciles from it.
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    pub refresher: Refresher,
    pub discovery: Arc<Discovery>,
    pub settings: Settings,
    pub ready: AtomicBool,
    /// False while a shared store (PostgreSQL) does not answer: `/readyz` then says 503 so a
    /// load balancer sends webhooks to a replica that can store them.
    pub store_reachable: Arc<AtomicBool>,
    /// Per receiver path.
    pub receiver_limiter: Limiter<String>,
    /// Per client IP address.
    pub client_limiter: Limiter<std::net::IpAddr>,
    pub dedup: Dedup,
    /// Kargo mode (`--source kargo`): refreshes are annotation patches on the cluster's
    /// Warehouses instead of discovery.
    pub kargo: Option<Arc<crate::kargo::Kargo>>,
    /// Notifications: DeliveryRejected rows and `notify test`.
    pub notifier: Arc<crate::notify::Notifier>,
}
