//! `dockhand serve`: load the configuration, open the store, start the refresh engine and the two
//! listeners, reload on change, and shut down gracefully on SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use arc_swap::ArcSwap;
use dockhand_core::secret::Secret;

use crate::app::{App, Settings, Snapshot};
use crate::dedup::Dedup;
use crate::discovery::{self, Discovery};
use crate::http::listener::{self, Limits};
use crate::http::ratelimit::{Limiter, Rate};
use crate::http::tls::TlsConfig;
use crate::metrics::Metrics;
use crate::refresh::{self, Refresher};
use crate::store::{SqliteStore, Store};
use crate::{http, receiver_urls, reload};

/// Everything `serve` needs, from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub config: Vec<PathBuf>,
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub data_dir: PathBuf,
    pub base_url: String,
    pub keep_deliveries: usize,
    pub refresh_workers: usize,
    pub refresh_cooldown: Duration,
    pub admin_token_file: Option<PathBuf>,
    pub registry_aliases: Vec<(String, String)>,
    pub max_body_bytes: usize,
    pub watch_interval: Duration,
    pub shutdown_timeout: Duration,
    pub limits: Limits,
    pub request_timeout: Duration,
    pub receiver_rate: Rate,
    pub client_rate: Rate,
    pub dedup_window: Duration,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Registry hosts reached over plain HTTP (`--insecure-registry`).
    pub insecure_registries: Vec<String>,
    /// Timeout of one discovery request (`--discovery-timeout`).
    pub discovery_timeout: Duration,
}

/// Runs the server until a termination signal. Errors are user errors (exit 1).
pub async fn run(opts: Options) -> anyhow::Result<()> {
    let config = dockhand_core::config::load(&opts.config).map_err(|errors| {
        for e in &errors.0 {
            eprintln!("error: {e}");
        }
        anyhow!(
            "the configuration has {} problem(s); fix them (dockhand check --config ... lists them) and start again",
            errors.0.len()
        )
    })?;
    for (origin, kind, name) in &config.skipped {
        tracing::info!("{origin}: skipping {kind} {name} (not used by dockhand)");
    }
    let token = match &opts.admin_token_file {
        Some(p) => {
            let t = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read --admin-token-file {}", p.display()))?;
            let t = t.trim();
            if t.is_empty() {
                return Err(anyhow!("--admin-token-file {} is empty", p.display()));
            }
            Some(Secret::new(t))
        }
        None => None,
    };
    // The backend is chosen here; everything else holds an `Arc<dyn Store>`.
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&opts.data_dir, opts.keep_deliveries)?);
    let mut discovery = discovery::Settings::new(opts.data_dir.clone());
    discovery.insecure_registries = opts.insecure_registries.clone();
    discovery.timeout = opts.discovery_timeout;
    discovery.connect_timeout = discovery.connect_timeout.min(opts.discovery_timeout);
    let discovery = Arc::new(Discovery::new(discovery)?);
    let metrics = Arc::new(Metrics::default());
    let settings = Settings {
        base_path: receiver_urls::base_path(&opts.base_url),
        base_url: opts.base_url.trim_end_matches('/').to_string(),
        max_body_bytes: opts.max_body_bytes,
        request_timeout: opts.request_timeout,
        registry_aliases: opts.registry_aliases.clone(),
    };
    let tls = match (&opts.tls_cert, &opts.tls_key) {
        (Some(c), Some(k)) => Some(Arc::new(TlsConfig::load(c.clone(), k.clone())?)),
        (None, None) => None,
        _ => return Err(anyhow!("--tls-cert and --tls-key go together")),
    };
    let receivers = config.receivers.len();
    let warehouses = config.warehouses.len();
    let snapshot = Arc::new(ArcSwap::from_pointee(Snapshot::build(
        config,
        &opts.registry_aliases,
    )));
    let (refresher, queue) = Refresher::new(refresh::Parts {
        store: store.clone(),
        snapshot: snapshot.clone(),
        discovery: discovery.clone(),
        metrics: metrics.clone(),
        cooldown: opts.refresh_cooldown,
    });
    let app = Arc::new(App {
        snapshot,
        store: store.clone(),
        metrics,
        refresher,
        discovery,
        settings,
        ready: AtomicBool::new(false),
        receiver_limiter: Limiter::new(opts.receiver_rate, 100_000),
        client_limiter: Limiter::new(opts.client_rate, 100_000),
        dedup: Dedup::new(opts.dedup_window, 1_000_000),
    });

    let public = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {} (--listen)", opts.listen))?;
    let admin = tokio::net::TcpListener::bind(opts.admin_listen)
        .await
        .with_context(|| format!("cannot listen on {} (--admin-listen)", opts.admin_listen))?;

    app.refresher.start(queue, opts.refresh_workers).await?;
    reload::spawn(app.clone(), opts.config.clone(), opts.watch_interval);

    tracing::info!(
        listen = %public.local_addr()?,
        admin = %admin.local_addr()?,
        data_dir = %opts.data_dir.display(),
        receivers,
        warehouses,
        "dockhand serving"
    );
    app.ready.store(true, Ordering::Relaxed);

    if let Some(tls) = tls.clone() {
        spawn_tls_reload(tls);
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let public_task = tokio::spawn(listener::serve(
        public,
        http::webhook::router(app.clone()),
        opts.limits.clone(),
        tls,
        stopped.clone(),
    ));
    let admin_task = tokio::spawn(listener::serve(
        admin,
        http::admin::router(app.clone(), token),
        opts.limits.clone(),
        None,
        stopped,
    ));

    wait_for_termination().await;
    tracing::info!("shutting down: no new connections; finishing requests in flight");
    app.ready.store(false, Ordering::Relaxed);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(opts.shutdown_timeout, async {
        let _ = public_task.await;
        let _ = admin_task.await;
    })
    .await;
    if drained.is_err() {
        tracing::warn!("shutdown timeout reached with requests still in flight");
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Reads the TLS certificate and key again on SIGHUP.
fn spawn_tls_reload(tls: Arc<TlsConfig>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            let t = tls.clone();
            let _ = tokio::task::spawn_blocking(move || t.reload()).await;
        }
    });
}

async fn wait_for_termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
