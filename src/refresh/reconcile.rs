//! Reconciling one Warehouse: discover the artifacts of every subscription (concurrently, see
//! `discovery`), record them, and — when the policy is Automatic and every subscription has an
//! artifact — record the Freight formed by the newest artifact of each. A Freight already
//! recorded (same content, same id) is not recorded again. The notifications a reconcile causes
//! (FreightCreated, DiscoveryFailed) are handed to the store with what they report, so they
//! commit together.

use std::time::{Duration, Instant};

use dockhand_core::config::FreightCreationPolicy;
use dockhand_core::warehouse_ref::WarehouseRef;
use serde_json::json;

use super::{Dirty, Shared};
use crate::clock::now_rfc3339;
use crate::discovery::freight::{Artifacts, Freight};
use crate::discovery::{Reuse, SubscriptionResult};
use crate::store::{FreightRecorded, NewFreight};

/// Reconciles `warehouse` and records the result. Returns the Warehouse's interval, or None
/// when it is no longer configured, and — when a listed manifest answered 404 and `may_retry` —
/// what to discover when it is tried again.
pub(super) async fn run(
    engine: &Shared,
    warehouse: &WarehouseRef,
    dirty: Dirty,
    may_retry: bool,
) -> (Option<Duration>, Option<Dirty>) {
    let again = dirty.clone();
    let started = Instant::now();
    let (project, name) = (warehouse.project.as_str(), warehouse.name.as_str());
    let seq = match engine
        .store
        .reconcile_started(warehouse, now_rfc3339())
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(project, warehouse = name, error = %e, "cannot record reconcile start");
            return (None, None);
        }
    };
    let snap = engine.snapshot.load_full();
    let mut not_found = false;
    let (interval, error) = match snap.warehouse(warehouse) {
        Some(w) => {
            let key = warehouse.to_string();
            // A webhook names the subscriptions it concerns; the others reuse what was
            // discovered within the interval instead of calling their registries again.
            let reuse = match &dirty {
                Dirty::Some(only) => Some(Reuse {
                    only,
                    max_age: w.interval,
                }),
                Dirty::All | Dirty::Nothing => None,
            };
            let results = engine
                .discovery
                .warehouse(
                    &key,
                    project,
                    &w.subscriptions,
                    &snap.config.credentials,
                    reuse,
                    now_rfc3339,
                )
                .await;
            let automatic = w.freight_creation_policy == FreightCreationPolicy::Automatic;
            not_found = results.iter().any(|r| r.not_found);
            (
                Some(w.interval),
                record(engine, warehouse, &results, automatic).await,
            )
        }
        None => (
            None,
            Some("the Warehouse is no longer in the configuration".to_string()),
        ),
    };
    if error.is_some() {
        engine
            .metrics
            .reconcile_errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    // Only a listed manifest answering 404 is worth a second look so soon: an unreachable or
    // refusing registry, or a repository that does not exist, is not fixed in a second, and
    // retrying it would multiply reconciles in a storm.
    let retry = (may_retry && not_found && error.is_some() && interval.is_some()).then_some(again);
    let at = now_rfc3339();
    // Written with the failure, only if the previous reconcile succeeded (the store decides).
    let notify = match &error {
        Some(e) => engine.notifier.discovery_failed(project, name, e, &at),
        None => Vec::new(),
    };
    let rows = notify.len();
    match engine
        .store
        .reconcile_finished_notifying(warehouse, seq, at, error, notify)
        .await
    {
        Ok(()) => engine.notifier.committed(rows),
        Err(e) => {
            tracing::error!(project, warehouse = name, error = %e, "cannot record reconcile end");
        }
    }
    let took = started.elapsed();
    engine.metrics.reconcile_duration(took.as_secs_f64());
    tracing::debug!(
        project,
        warehouse = name,
        micros = took.as_micros() as u64,
        "reconciled"
    );
    (interval, retry)
}

/// Stores the results and any new Freight; returns the Warehouse's error (the failing
/// subscriptions, one clause each), None when every subscription succeeded.
async fn record(
    engine: &Shared,
    warehouse: &WarehouseRef,
    results: &[SubscriptionResult],
    automatic: bool,
) -> Option<String> {
    let (project, name) = (warehouse.project.as_str(), warehouse.name.as_str());
    let errors: Vec<String> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            r.error
                .as_ref()
                .map(|e| format!("subscriptions[{i}] ({} {}): {e}", r.kind, r.repo_url))
        })
        .collect();
    let at = now_rfc3339();
    let complete = errors.is_empty() && results.iter().all(|r| !r.artifacts.is_empty());
    let freight = (automatic && complete).then(|| {
        let mut artifacts = Artifacts::default();
        for r in results {
            artifacts.extend(r.artifacts.newest());
        }
        Freight::new(project, name, artifacts, at.clone())
    });
    let body = json!({ "discoveredAt": at, "subscriptions": results }).to_string();
    let new_freight = freight.as_ref().and_then(|f| {
        serde_json::to_string(f).ok().map(|body| NewFreight {
            id: f.id.clone(),
            created_at: f.created_at.clone(),
            body,
        })
    });
    // Written with the Freight, only if it is new (the store decides).
    let notify = freight
        .as_ref()
        .map(|f| engine.notifier.freight_created(f))
        .unwrap_or_default();
    let rows = notify.len();
    match engine
        .store
        .record_discovery_notifying(warehouse, at, body, new_freight, notify)
        .await
    {
        Ok(FreightRecorded::New) => {
            engine.notifier.committed(rows);
            if let Some(f) = &freight {
                tracing::info!(project, warehouse = name, id = %f.id, alias = %f.alias, "new Freight");
            }
        }
        Ok(FreightRecorded::AlreadyRecorded | FreightRecorded::NoFreight) => {}
        Err(e) => {
            tracing::error!(project, warehouse = name, error = %e, "cannot record discovery");
            return Some(format!("cannot record discovery: {e}"));
        }
    }
    if errors.is_empty() {
        None
    } else {
        for e in &errors {
            tracing::warn!(project, warehouse = name, "discovery failed: {e}");
        }
        Some(errors.join("; "))
    }
}
