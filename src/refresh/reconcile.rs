//! Reconciling one Warehouse. Discovery (registries, Helm repositories, git) plugs in here; until
//! it does, a reconcile is a recorded no-op that still moves the Warehouse's state.

use std::time::{Duration, Instant};

use crate::app::{now_rfc3339, App};

/// Reconciles (project, name) and records the result. Returns the Warehouse's interval, or None
/// when it is no longer configured.
pub async fn run(app: &App, project: &str, name: &str) -> Option<Duration> {
    let started = Instant::now();
    let seq = match app
        .store
        .reconcile_started(project, name, now_rfc3339())
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(project, warehouse = name, error = %e, "cannot record reconcile start");
            return None;
        }
    };
    let snap = app.snapshot.load();
    let (interval, error) = match snap.warehouse(project, name) {
        Some(w) => (Some(w.interval), None),
        None => (
            None,
            Some("the Warehouse is no longer in the configuration".to_string()),
        ),
    };
    if error.is_some() {
        app.metrics
            .reconcile_errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    if let Err(e) = app
        .store
        .reconcile_finished(project, name, seq, now_rfc3339(), error)
        .await
    {
        tracing::error!(project, warehouse = name, error = %e, "cannot record reconcile end");
    }
    let took = started.elapsed();
    app.metrics.reconcile_duration(took.as_secs_f64());
    tracing::debug!(
        project,
        warehouse = name,
        micros = took.as_micros() as u64,
        "reconciled"
    );
    interval
}
