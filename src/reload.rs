//! Configuration reload: on SIGHUP and when a YAML file under a `--config` path changes. A
//! reload that fails validation keeps the running configuration and logs every problem.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::app::{App, Snapshot};

/// Loads the configuration again and swaps it in if it is valid.
pub fn reload(app: &App, paths: &[PathBuf]) -> bool {
    match dockhand_core::config::load(paths) {
        Ok(config) => {
            let (w, r) = (config.warehouses.len(), config.receivers.len());
            let snap = Snapshot::build(config, &app.settings.registry_aliases);
            app.snapshot.store(Arc::new(snap));
            // A new configuration may fix what failed (a credential added): retry at once.
            app.discovery.reset_backoff();
            app.metrics.config_reloads.fetch_add(1, Ordering::Relaxed);
            tracing::info!(warehouses = w, receivers = r, "configuration reloaded");
            true
        }
        Err(errors) => {
            app.metrics
                .config_reload_failures
                .fetch_add(1, Ordering::Relaxed);
            for e in &errors.0 {
                tracing::error!("{e}");
            }
            tracing::error!(
                problems = errors.0.len(),
                "configuration reload rejected; the previous configuration stays in force"
            );
            false
        }
    }
}

/// What the YAML files under `paths` look like now: names, sizes and modification times.
pub fn fingerprint(paths: &[PathBuf]) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut out = Vec::new();
    for p in paths {
        walk(p, &mut out);
    }
    out.sort();
    out
}

fn walk(p: &Path, out: &mut Vec<(PathBuf, u64, Option<SystemTime>)>) {
    let Ok(meta) = std::fs::metadata(p) else {
        out.push((p.to_path_buf(), u64::MAX, None));
        return;
    };
    if meta.is_dir() {
        if let Ok(entries) = std::fs::read_dir(p) {
            for e in entries.flatten() {
                let path = e.path();
                let is_yaml = path.extension().is_some_and(|x| x == "yaml" || x == "yml");
                if is_yaml || path.is_dir() {
                    walk(&path, out);
                }
            }
        }
    } else {
        out.push((p.to_path_buf(), meta.len(), meta.modified().ok()));
    }
}

/// Reloads on SIGHUP and whenever the fingerprint changes (checked every `every`).
pub fn spawn(app: Arc<App>, paths: Vec<PathBuf>, every: Duration) {
    let watch_app = app.clone();
    let watch_paths = paths.clone();
    tokio::spawn(async move {
        let mut last = fingerprint(&watch_paths);
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let p = watch_paths.clone();
            let Ok(now) = tokio::task::spawn_blocking(move || fingerprint(&p)).await else {
                continue;
            };
            if now != last {
                last = now;
                tracing::info!("configuration files changed; reloading");
                let (a, p) = (watch_app.clone(), watch_paths.clone());
                let _ = tokio::task::spawn_blocking(move || reload(&a, &p)).await;
            }
        }
    });
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; reload on file change only");
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP received; reloading configuration");
            let (a, p) = (app.clone(), paths.clone());
            let _ = tokio::task::spawn_blocking(move || reload(&a, &p)).await;
        }
    });
}
