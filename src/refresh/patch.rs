//! The Kargo-mode reconcile strategy: a refresh of a Warehouse (or of a Promotion waiting on a
//! pull request, key `promotions/NAME`) is Kargo's own annotation patch
//! (`kargo::Kargo::patch_refresh`), retried with backoff until it lands or the Warehouse is
//! gone. Kargo's controller then discovers and records Freight; nothing is discovered here.
//!
//! Durability is the engine's: the pending row written with the delivery is cleared only once
//! the patch has landed (or the refresh is dropped), so a crash before the patch resumes it at
//! the next start. Coalescing and cooldown are the engine's too: one patch carries every request
//! that arrived before it started.

use std::time::Duration;

use dockhand_core::warehouse_ref::WarehouseRef;

use super::Shared;
use crate::clock::now_rfc3339;
use crate::kargo::{Kargo, PatchError};

/// First and longest wait between two attempts of one patch.
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Patches the refresh annotation of Warehouse (project, name) and records the outcome.
/// Returns None: Kargo's controller keeps the Warehouse's interval, not dockhand.
pub(super) async fn run(s: &Shared, kargo: &Kargo, key: &WarehouseRef) -> Option<Duration> {
    let (project, name) = (key.project.as_str(), key.name.as_str());
    let seq = match s.store.reconcile_started(key, now_rfc3339()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(project, warehouse = name, error = %e, "cannot record refresh start");
            return None;
        }
    };
    let what = if name.starts_with(crate::kargo::PROMOTION_KEY) {
        "Promotion"
    } else {
        "Warehouse"
    };
    let mut wait = BACKOFF_FIRST;
    let (token, error) = loop {
        let token = kargo.next_token();
        match kargo.patch_refresh(project, name, &token).await {
            Ok(()) => {
                // Proof of handling is read from Warehouses' status only.
                if what == "Warehouse" {
                    kargo.patched(project, name, &token);
                }
                tracing::info!(
                    project,
                    warehouse = name,
                    token,
                    "refresh annotation patched"
                );
                break (Some(token), None);
            }
            Err(PatchError::Gone) => {
                tracing::warn!(
                    project,
                    warehouse = name,
                    "{what} not found; refresh dropped"
                );
                break (
                    None,
                    Some(format!("dropped: the {what} does not exist (404)")),
                );
            }
            Err(PatchError::Refused(e)) => {
                tracing::error!(project, warehouse = name, error = %e, "refresh patch refused");
                break (None, Some(format!("refused: {e}")));
            }
            Err(PatchError::Retry(e)) => {
                tracing::warn!(project, warehouse = name, error = %e, retry_in = ?wait, "refresh patch failed; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(BACKOFF_MAX);
            }
        }
    };
    if error.is_some() {
        s.metrics
            .reconcile_errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let at = now_rfc3339();
    if let Err(e) = s
        .store
        .kargo_patched(key, seq, token, at.clone(), error.clone())
        .await
    {
        tracing::error!(project, warehouse = name, error = %e, "cannot record refresh patch");
    }
    if let Err(e) = s.store.reconcile_finished(key, seq, at, error).await {
        tracing::error!(project, warehouse = name, error = %e, "cannot record refresh end");
    }
    None
}
