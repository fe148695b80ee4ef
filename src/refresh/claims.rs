//! Refreshes on a store that several replicas share (PostgreSQL): instead of reconciling what
//! this process queued, each replica claims pending refreshes from the store under a lease
//! (`Store::claim_refreshes`), so that every refresh is reconciled once, by one replica.
//!
//! - A claim is taken only when the Warehouse's last reconcile started at least `cooldown` ago
//!   (the database's clock), so coalescing and cooldown hold across replicas: a storm spread
//!   over two replicas costs one reconcile plus one follow-up.
//! - The lease is renewed every third of its length while the reconcile runs. A replica that
//!   dies keeps nothing: its lease runs out and another replica claims the refresh, whose
//!   pending row was never cleared.
//! - Every claimed reconcile looks at every subscription: which ones a webhook named is known
//!   only to the replica that received it.
//! - The interval asks the store (`Store::request_refresh_if_due`), which marks a Warehouse
//!   pending only if no reconcile started within its interval, so replicas do not double it.

use std::sync::Arc;
use std::time::Duration;

use dockhand_core::warehouse_ref::WarehouseRef;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{reconcile, Dirty, Refresher};
use crate::clock::now_rfc3339;

/// How often a replica looks for refreshes it was not told about (another replica's webhook, a
/// lease that ran out, a cooldown that ended). Its own requests wake it at once.
const POLL: Duration = Duration::from_millis(500);

/// Claims pending refreshes and reconciles them, at most `workers` at a time, until `cancel`.
pub(super) async fn run(
    refresher: Refresher,
    workers: usize,
    tasks: TaskTracker,
    cancel: CancellationToken,
) {
    let s = refresher.shared.clone();
    let slots = Arc::new(Semaphore::new(workers.max(1)));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = s.wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
        let free = slots.available_permits();
        if free == 0 {
            continue;
        }
        let claimed = match s
            .store
            .claim_refreshes(&s.owner, s.lease, s.cooldown, free)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "cannot claim pending refreshes");
                continue;
            }
        };
        for key in claimed {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let refresher = refresher.clone();
            let cancel = cancel.clone();
            tasks.spawn(async move {
                reconcile_claimed(&refresher, &key, &cancel).await;
                drop(permit);
                // A follow-up may be due (requests that arrived meanwhile).
                refresher.shared.wake.notify_one();
            });
        }
    }
}

/// Reconciles one claimed Warehouse, renewing the lease while it runs. Cancelled mid-way, the
/// pending row stays and the lease is given back, so another replica takes it over at once.
async fn reconcile_claimed(refresher: &Refresher, key: &WarehouseRef, cancel: &CancellationToken) {
    let s = &refresher.shared;
    let renew = async {
        loop {
            tokio::time::sleep(s.lease / 3).await;
            if let Err(e) = s.store.renew_lease(key, &s.owner, s.lease).await {
                tracing::warn!(project = %key.project, warehouse = %key.name, error = %e, "cannot renew the refresh lease");
            }
        }
    };
    tokio::select! {
        _ = cancel.cancelled() => {
            // Shutting down (a rolling upgrade): give the claim back now rather than making the
            // other replicas wait out the lease. Best effort; the lease expires anyway.
            let release = s.store.renew_lease(key, &s.owner, Duration::ZERO);
            let _ = tokio::time::timeout(Duration::from_millis(200), release).await;
        }
        _ = renew => {}
        // The same strategy choice as the local workers: Kargo's patch or discovery.
        _ = async {
            match &s.kargo {
                Some(kargo) => super::patch::run(s, kargo, key).await,
                None => reconcile::run(s, key, Dirty::All, false).await.0,
            }
        } => {}
    }
}

/// The interval refresh of `key` on a shared store; wakes the claim loop when it was due.
pub(super) async fn interval_request(
    refresher: &Refresher,
    key: &WarehouseRef,
    interval: Duration,
) {
    let s = &refresher.shared;
    match s
        .store
        .request_refresh_if_due(key, interval, now_rfc3339())
        .await
    {
        Ok(true) => s.wake.notify_one(),
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(project = %key.project, warehouse = %key.name, error = %e, "cannot record interval refresh")
        }
    }
}
