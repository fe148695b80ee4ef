//! The running service's shared state: the current configuration snapshot (swapped whole on
//! reload), the store, the refresh engine, metrics and settings.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use arc_swap::ArcSwap;
use dockhand_core::config::{Config, Receiver, Warehouse};
use dockhand_core::index::Index;

use crate::discovery::Discovery;
use crate::metrics::Metrics;
use crate::refresh::Refresher;
use crate::store::Store;

/// One configuration with everything derived from it. Immutable; a reload builds a new one and
/// swaps it in atomically, so a request sees one consistent configuration from start to end.
pub struct Snapshot {
    pub config: Config,
    pub index: Index,
    by_path: HashMap<String, usize>,
    warehouses: HashMap<(String, String), usize>,
}

impl Snapshot {
    pub fn build(config: Config, aliases: &[(String, String)]) -> Snapshot {
        let index = Index::build(&config, aliases);
        let by_path = config
            .receivers
            .iter()
            .enumerate()
            .map(|(i, r)| (r.path.clone(), i))
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
        self.by_path.get(path).map(|&i| &self.config.receivers[i])
    }

    pub fn warehouse(&self, project: &str, name: &str) -> Option<&Warehouse> {
        self.warehouses
            .get(&(project.to_string(), name.to_string()))
            .map(|&i| &self.config.warehouses[i])
    }
}

/// Settings of `serve` that request handling needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--base-url`, for showing receiver URLs.
    pub base_url: String,
    /// Path prefix of receiver URLs, from `--base-url` (`""` or `/webhooks`).
    pub base_path: String,
    pub max_body_bytes: usize,
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
