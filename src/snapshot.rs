//! The configuration `Snapshot`: one loaded configuration with everything derived from it (the
//! subscription index, receiver and Warehouse lookups). Request handling, the refresh engine and
//! the admin API read it; a reload replaces it whole.

use std::collections::HashMap;

use dockhand_core::config::{Config, Receiver, Warehouse};
use dockhand_core::index::Index;
use dockhand_core::secret::constant_time_eq;
use dockhand_core::warehouse_ref::WarehouseRef;
use sha2::{Digest, Sha256};

/// One configuration with everything derived from it. Immutable; a reload builds a new one and
/// swaps it in atomically, so a request sees one consistent configuration from start to end.
pub struct Snapshot {
    pub config: Config,
    pub index: Index,
    /// sha256(receiver path) -> receiver. Keyed by a hash of the path so that the map's own
    /// comparisons reveal nothing about stored paths through timing.
    by_path: HashMap<[u8; 32], usize>,
    warehouses: HashMap<WarehouseRef, usize>,
    /// Subscriptions no webhook can refresh (no key: see `Subscription::webhook_key`).
    pub unusable_subscriptions: usize,
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
            .map(|(i, w)| (WarehouseRef::from(w), i))
            .collect();
        let unusable_subscriptions = index.unusable();
        Snapshot {
            config,
            index,
            by_path,
            warehouses,
            unusable_subscriptions,
        }
    }

    /// The receiver whose path (after the base path) is `path`.
    pub fn receiver(&self, path: &str) -> Option<&Receiver> {
        let r = &self.config.receivers[*self.by_path.get(&path_digest(path))?];
        constant_time_eq(r.path.as_bytes(), path.as_bytes()).then_some(r)
    }

    pub fn warehouse(&self, warehouse: &WarehouseRef) -> Option<&Warehouse> {
        self.warehouses
            .get(warehouse)
            .map(|&i| &self.config.warehouses[i])
    }
}

fn path_digest(path: &str) -> [u8; 32] {
    Sha256::digest(path.as_bytes()).into()
}
