//! The configuration `Snapshot`: one loaded configuration with everything derived from it (the
//! subscription index, receiver and Warehouse lookups). Request handling, the refresh engine and
//! the admin API read it; a reload replaces it whole.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use dockhand_core::config::{Config, Receiver, Warehouse};
use dockhand_core::index::Index;
use dockhand_core::secret::constant_time_eq;
use dockhand_core::warehouse_ref::WarehouseRef;

/// One configuration with everything derived from it. Immutable; a reload builds a new one and
/// swaps it in atomically, so a request sees one consistent configuration from start to end.
pub struct Snapshot {
    pub config: Config,
    pub index: Index,
    /// keyed hash(receiver path) -> receiver. Keyed by a hash of the path under a key drawn at
    /// random for this snapshot, so that the map's own comparisons reveal nothing about stored
    /// paths through timing (see `PathKey`).
    by_path: HashMap<[u8; 16], usize>,
    path_key: PathKey,
    warehouses: HashMap<WarehouseRef, usize>,
    /// Subscriptions no webhook can refresh (no key: see `Subscription::webhook_key`).
    pub unusable_subscriptions: usize,
}

impl Snapshot {
    pub fn build(config: Config, aliases: &[(String, String)]) -> Snapshot {
        let index = Index::build(&config, aliases);
        let path_key = PathKey::random();
        let by_path = config
            .receivers
            .iter()
            .enumerate()
            .map(|(i, r)| (path_key.digest(&r.path), i))
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
            path_key,
            warehouses,
            unusable_subscriptions,
        }
    }

    /// The receiver whose path (after the base path) is `path`.
    pub fn receiver(&self, path: &str) -> Option<&Receiver> {
        let r = &self.config.receivers[*self.by_path.get(&self.path_key.digest(path))?];
        constant_time_eq(r.path.as_bytes(), path.as_bytes()).then_some(r)
    }

    pub fn warehouse(&self, warehouse: &WarehouseRef) -> Option<&Warehouse> {
        self.warehouses
            .get(warehouse)
            .map(|&i| &self.config.warehouses[i])
    }
}

/// A secret-keyed 128-bit hash of receiver paths: two SipHash-1-3 instances under different
/// secret keys (std's `RandomState`: random per thread, stepped per instance; new per snapshot). Without the keys a sender cannot
/// predict any path's hash, so how long the map's comparisons of hashes take says nothing
/// about the stored paths, which is what a SHA-256 of the path gave at many times the cost per
/// request (BENCHMARKS.md "Round two: the request path"). The receiver found is still compared
/// with the request's path in constant time.
struct PathKey(RandomState, RandomState);

impl PathKey {
    fn random() -> PathKey {
        PathKey(RandomState::new(), RandomState::new())
    }

    fn digest(&self, path: &str) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.0.hash_one(path).to_le_bytes());
        out[8..].copy_from_slice(&self.1.hash_one(path).to_le_bytes());
        out
    }
}
