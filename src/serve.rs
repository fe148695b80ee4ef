//! `dockhand serve` as a library: `Server::bind` loads the first configuration, opens the store
//! and binds both listeners (so a caller learns the addresses, port 0 included); `Server::run`
//! serves until the `shutdown` future completes. No signal handling here: the binary wires
//! SIGTERM/SIGINT to `shutdown` and SIGHUP to `Server::reload_requests`, and a test can run a
//! server in-process.
//!
//! Lifecycle. Every background task (refresh workers, interval schedule, configuration source,
//! reload on request) runs under one `TaskTracker` and stops on one `CancellationToken`.
//! Shutdown runs in this order, each step bounded so that the whole takes at most
//! `--shutdown-timeout` plus one second:
//! 1. not ready, stop accepting;
//! 2. let requests in flight finish (up to `--shutdown-timeout`);
//! 3. cancel the background tasks and wait for them (up to `TASK_STOP_TIMEOUT`);
//! 4. close the store, and only if every task has stopped, since a worker may still write.
//!    Skipping it loses nothing: every write a caller awaited is already committed. Closing is
//!    bounded too (`STORE_CLOSE_TIMEOUT`).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use arc_swap::ArcSwap;
use dockhand_core::secret::Secret;

use crate::app::{App, Settings, Snapshot};
use crate::dedup::Dedup;
use crate::discovery::{self, Discovery};
use crate::http::listener::{self, Limits};
use crate::http::tls::TlsConfig;
use crate::metrics::Metrics;
use crate::ratelimit::{Limiter, Rate};
use crate::refresh::{self, Refresher};
use crate::source::{ConfigSource, FileSource, ReloadRequests, Sink, SourceError};
use crate::store::{PostgresOptions, PostgresStore, SqliteStore, Store};
use crate::{http, receiver_urls};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long background tasks get to stop once cancelled. They stop at their next await, so
/// this is only reached by a task stuck in blocking work.
const TASK_STOP_TIMEOUT: Duration = Duration::from_millis(400);

/// How long closing the store (committing what was submitted) may take. With the two bounds
/// above and the binary's 200 ms for blocking tasks, shutdown stays within
/// `--shutdown-timeout` plus one second.
const STORE_CLOSE_TIMEOUT: Duration = Duration::from_millis(300);

/// Where the configuration comes from (`--source`).
#[derive(Debug, Clone, Default)]
pub enum SourceOptions {
    /// `--config` files and directories.
    #[default]
    Files,
    /// A Kargo cluster: its Warehouses are refreshed with Kargo's annotation.
    Kargo {
        /// `--kubeconfig`; else `KUBECONFIG`, else the in-cluster service account.
        kubeconfig: Option<PathBuf>,
        /// `--system-namespace`: where the ClusterConfig receivers' Secrets are.
        system_namespace: String,
        /// How long a receiver Secret read is reused.
        secret_ttl: Duration,
    },
}

/// Everything `serve` needs, from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub source: SourceOptions,
    pub config: Vec<PathBuf>,
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `--database-url`: PostgreSQL instead of SQLite in `data_dir` (several replicas).
    pub database: Option<PostgresOptions>,
    /// `--refresh-lease`: how long a claim on a pending refresh lasts (PostgreSQL).
    pub refresh_lease: Duration,
    pub base_url: String,
    pub keep_deliveries: usize,
    /// Byte budget of the store's records; the oldest deliveries go first.
    pub max_store_bytes: u64,
    pub refresh_workers: usize,
    pub refresh_cooldown: Duration,
    pub admin_token_file: Option<PathBuf>,
    pub registry_aliases: Vec<(String, String)>,
    pub max_body_bytes: usize,
    /// `--keep-payloads`: store each delivery's body and non-secret headers.
    pub keep_payloads: bool,
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
    /// Reconcile soon after start (or after a reload adds them) the Warehouses never
    /// reconciled or overdue, instead of one interval later (`--reconcile-on-start`).
    pub reconcile_on_start: bool,
    /// A listener serving `/metrics` only, without the admin token (`--metrics-listen`).
    pub metrics_listen: Option<SocketAddr>,
    /// How long a notification is retried before it is marked failed
    /// (`--notification-deadline`).
    pub notification_deadline: Duration,
}

/// Asks a shared store every second whether it answers, and keeps `reachable` (`/readyz`) up
/// to date: 503 within about a second of the database going away, ready again within a second
/// of its return (the pool reconnects by itself).
async fn watch_store(store: Arc<dyn Store>, reachable: Arc<AtomicBool>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let ok = match tokio::time::timeout(Duration::from_secs(2), store.check()).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                if reachable.load(Ordering::Relaxed) {
                    tracing::warn!(error = %e, "the database does not answer: not ready");
                }
                false
            }
            Err(_) => {
                if reachable.load(Ordering::Relaxed) {
                    tracing::warn!("the database did not answer within 2s: not ready");
                }
                false
            }
        };
        if ok && !reachable.load(Ordering::Relaxed) {
            tracing::info!("the database answers again: ready");
        }
        reachable.store(ok, Ordering::Relaxed);
    }
}

/// Runs the server until `shutdown` completes. Errors are user errors (exit 1).
pub async fn run(opts: Options, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    Server::bind(opts).await?.run(shutdown).await
}

/// A server ready to run: configuration loaded, store open, listeners bound.
pub struct Server {
    app: Arc<App>,
    public: TcpListener,
    admin: TcpListener,
    metrics: Option<TcpListener>,
    token: Option<Secret>,
    tls: Option<Arc<TlsConfig>>,
    queue: refresh::Queue,
    source: Box<dyn ConfigSource>,
    reload: ReloadRequests,
    opts: Options,
}

impl Server {
    /// Loads the configuration from the `--config` files (or connects to the Kargo cluster),
    /// opens the store and binds both listeners.
    pub async fn bind(opts: Options) -> anyhow::Result<Server> {
        match &opts.source {
            SourceOptions::Files => {
                let source = FileSource::new(opts.config.clone(), opts.watch_interval);
                Server::bind_with(opts, Box::new(source)).await
            }
            SourceOptions::Kargo {
                kubeconfig,
                system_namespace,
                secret_ttl,
            } => {
                if !opts.config.is_empty() {
                    return Err(anyhow!(
                        "--config cannot be used with --source kargo: in Kargo mode the Warehouses, ProjectConfigs and ClusterConfig come from the cluster; drop --config, or use --source files"
                    ));
                }
                let client = crate::kargo::client(kubeconfig.as_deref()).await?;
                let kargo = Arc::new(crate::kargo::Kargo::new(client, system_namespace.clone()));
                let source = crate::source::KargoSource::new(
                    kargo.clone(),
                    receiver_urls::base_path(&opts.base_url),
                    *secret_ttl,
                );
                let (o, k) = (opts.clone(), Some(kargo));
                Server::bind_inner(o, Box::new(source), k).await
            }
        }
    }

    /// As `bind`, with the configuration from `source`.
    pub async fn bind_with(opts: Options, source: Box<dyn ConfigSource>) -> anyhow::Result<Server> {
        Server::bind_inner(opts, source, None).await
    }

    async fn bind_inner(
        opts: Options,
        mut source: Box<dyn ConfigSource>,
        kargo: Option<Arc<crate::kargo::Kargo>>,
    ) -> anyhow::Result<Server> {
        let config = match source.initial().await {
            Ok(update) => {
                crate::source::report_left_out(&update.left_out);
                update.config
            }
            Err(SourceError::Invalid(errors)) => {
                for e in &errors.0 {
                    eprintln!("error: {e}");
                }
                return Err(anyhow!(
                    "the configuration has {} problem(s); fix them (dockhand check --config ... lists them) and start again",
                    errors.0.len()
                ));
            }
            Err(e) => return Err(e.into()),
        };
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
        let store: Arc<dyn Store> = match &opts.database {
            Some(database) => Arc::new(PostgresStore::open(database).await?),
            None => Arc::new(SqliteStore::open(
                &opts.data_dir,
                opts.keep_deliveries,
                opts.max_store_bytes,
            )?),
        };
        if let Some(k) = &kargo {
            k.attach_store(store.clone()).await;
        }
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
            keep_payloads: opts.keep_payloads,
            request_timeout: opts.request_timeout,
            registry_aliases: opts.registry_aliases.clone(),
        };
        let tls = match (&opts.tls_cert, &opts.tls_key) {
            (Some(c), Some(k)) => Some(Arc::new(TlsConfig::load(c.clone(), k.clone())?)),
            (None, None) => None,
            _ => return Err(anyhow!("--tls-cert and --tls-key go together")),
        };
        let snapshot = Arc::new(ArcSwap::from_pointee(Snapshot::build(
            config,
            &opts.registry_aliases,
        )));
        let notifier = Arc::new(crate::notify::Notifier::new(
            snapshot.clone(),
            store.clone(),
            metrics.clone(),
            opts.base_url.clone(),
            opts.notification_deadline,
        ));
        let (refresher, queue) = Refresher::new(refresh::Parts {
            store: store.clone(),
            snapshot: snapshot.clone(),
            discovery: discovery.clone(),
            metrics: metrics.clone(),
            notifier: notifier.clone(),
            cooldown: opts.refresh_cooldown,
            kargo: kargo.clone(),
            lease: opts.refresh_lease,
            catch_up: opts.reconcile_on_start,
        });
        let app = Arc::new(App {
            snapshot,
            store,
            metrics,
            refresher,
            discovery,
            settings,
            ready: AtomicBool::new(false),
            store_reachable: Arc::new(AtomicBool::new(true)),
            receiver_limiter: Limiter::new(opts.receiver_rate, 100_000),
            client_limiter: Limiter::new(opts.client_rate, 100_000),
            dedup: Dedup::new(opts.dedup_window, 1_000_000),
            kargo,
            notifier,
        });
        let public = TcpListener::bind(opts.listen)
            .await
            .with_context(|| format!("cannot listen on {} (--listen)", opts.listen))?;
        let admin = TcpListener::bind(opts.admin_listen)
            .await
            .with_context(|| format!("cannot listen on {} (--admin-listen)", opts.admin_listen))?;
        let metrics = match opts.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (--metrics-listen)"))?,
            ),
            None => None,
        };
        Ok(Server {
            app,
            public,
            admin,
            metrics,
            token,
            tls,
            queue,
            source,
            reload: ReloadRequests::default(),
            opts,
        })
    }

    /// The webhook listener's address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.public.local_addr()
    }

    /// The admin listener's address.
    pub fn admin_addr(&self) -> std::io::Result<SocketAddr> {
        self.admin.local_addr()
    }

    /// The metrics listener's address, when `--metrics-listen` is given.
    pub fn metrics_addr(&self) -> Option<std::io::Result<SocketAddr>> {
        self.metrics.as_ref().map(TcpListener::local_addr)
    }

    /// Where to ask for a reload of the configuration and the TLS certificate (the binary
    /// sends SIGHUP here). A request made before `run` is served once it starts.
    pub fn reload_requests(&self) -> ReloadRequests {
        self.reload.clone()
    }

    /// Serves until `shutdown` completes, then stops in the order the module doc gives.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Server {
            app,
            public,
            admin,
            metrics,
            token,
            tls,
            queue,
            source,
            reload,
            opts,
        } = self;
        let tasks = TaskTracker::new();
        let cancel = CancellationToken::new();
        let ready_at_start = source.ready_at_start();

        app.refresher
            .start(queue, opts.refresh_workers, &tasks, &cancel)
            .await?;
        // Unsent notifications (from before a restart too) are claimed from the store.
        tasks.spawn(crate::notify::sender::run(
            app.notifier.clone(),
            tasks.clone(),
            cancel.clone(),
        ));
        if app.store.shares_work() {
            tasks.spawn(watch_store(
                app.store.clone(),
                app.store_reachable.clone(),
                cancel.clone(),
            ));
        }
        // One path for a reload request: the certificate and the configuration source both
        // hear it.
        let source_reload = ReloadRequests::default();
        tasks.spawn(source.run(
            Sink::new(app.clone()),
            source_reload.clone(),
            cancel.clone(),
        ));
        tasks.spawn(on_reload(
            reload,
            source_reload,
            tls.clone(),
            cancel.clone(),
        ));
        tasks.close();

        tracing::info!(
            listen = %public.local_addr()?,
            admin = %admin.local_addr()?,
            data_dir = %opts.data_dir.display(),
            receivers = app.snapshot.load().config.receivers.len(),
            warehouses = app.snapshot.load().config.warehouses.len(),
            "dockhand serving"
        );
        if ready_at_start {
            app.ready.store(true, Ordering::Relaxed);
        } else {
            tracing::info!("not ready until the configuration source has synced");
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
            stopped.clone(),
        ));
        let metrics_task = metrics.map(|listener| {
            tokio::spawn(listener::serve(
                listener,
                http::admin::metrics_router(app.clone()),
                opts.limits.clone(),
                None,
                stopped,
            ))
        });

        shutdown.await;
        tracing::info!("shutting down: no new connections; finishing requests in flight");
        app.ready.store(false, Ordering::Relaxed);
        let _ = stop.send(true);
        let drained = tokio::time::timeout(opts.shutdown_timeout, async {
            let _ = public_task.await;
            let _ = admin_task.await;
            if let Some(t) = metrics_task {
                let _ = t.await;
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!("shutdown timeout reached with requests still in flight");
        }

        let asked = Instant::now();
        cancel.cancel();
        if tokio::time::timeout(TASK_STOP_TIMEOUT, tasks.wait())
            .await
            .is_ok()
        {
            tracing::debug!(took = ?asked.elapsed(), "background tasks stopped");
            if tokio::time::timeout(STORE_CLOSE_TIMEOUT, app.store.close())
                .await
                .is_err()
            {
                tracing::warn!("the store did not close within {STORE_CLOSE_TIMEOUT:?}");
            }
        } else {
            tracing::warn!(
                running = tasks.len(),
                "background tasks still running after {TASK_STOP_TIMEOUT:?}; leaving the store open (every accepted write is committed)"
            );
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Serves reload requests until cancelled: the TLS certificate is read again, and the
/// configuration source is asked to reload.
async fn on_reload(
    requests: ReloadRequests,
    source: ReloadRequests,
    tls: Option<Arc<TlsConfig>>,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = requests.requested() => {}
        }
        source.request();
        if let Some(tls) = tls.clone() {
            let _ = tokio::task::spawn_blocking(move || tls.reload()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::parse_rate;

    const CONFIG: &str = "
apiVersion: v1
kind: Secret
metadata: {name: s, namespace: demo}
stringData: {secret: in-process-secret}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {name: demo, namespace: demo}
spec:
  webhookReceivers:
  - name: acr
    azure: {secretRef: {name: s}}
";

    fn options(config: PathBuf, data_dir: PathBuf) -> Options {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Options {
            source: SourceOptions::Files,
            config: vec![config],
            listen: any,
            admin_listen: any,
            data_dir,
            database: None,
            refresh_lease: Duration::from_secs(30),
            base_url: "http://127.0.0.1".to_string(),
            keep_deliveries: 100,
            max_store_bytes: 64 * 1024 * 1024,
            refresh_workers: 1,
            refresh_cooldown: Duration::from_secs(1),
            admin_token_file: None,
            registry_aliases: Vec::new(),
            max_body_bytes: 1 << 20,
            keep_payloads: true,
            watch_interval: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(2),
            limits: Limits {
                max_connections: 16,
                max_connections_per_client: 16,
                header_read_timeout: Duration::from_secs(5),
                idle_timeout: Duration::from_secs(5),
                max_header_bytes: 16 << 10,
                tls_handshake_timeout: Duration::from_secs(5),
            },
            request_timeout: Duration::from_secs(5),
            receiver_rate: parse_rate("0").unwrap(),
            client_rate: parse_rate("0").unwrap(),
            dedup_window: Duration::from_secs(60),
            tls_cert: None,
            tls_key: None,
            insecure_registries: Vec::new(),
            discovery_timeout: Duration::from_secs(5),
            reconcile_on_start: false,
            metrics_listen: None,
            notification_deadline: crate::notify::DEFAULT_DEADLINE,
        }
    }

    /// A server on port 0 in this process: bind, learn the addresses, take a webhook, stop
    /// when the shutdown future completes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_in_process_on_port_zero_and_stops_on_the_shutdown_future() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("c.yaml");
        std::fs::write(&config, CONFIG).unwrap();
        let server = Server::bind(options(config, dir.path().join("data")))
            .await
            .unwrap();
        let public = server.local_addr().unwrap();
        let admin = server.admin_addr().unwrap();
        assert_ne!(public.port(), 0);
        assert_ne!(admin.port(), 0);

        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));

        let http = reqwest::Client::new();
        let receivers: serde_json::Value = http
            .get(format!("http://{admin}/api/v1/receivers"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let path = receivers[0]["path"].as_str().unwrap().to_string();
        let push = serde_json::json!({
            "id": "in-process-1",
            "timestamp": "2026-11-21T12:00:00.0000000Z",
            "action": "push",
            "target": {"repository": "app", "tag": "1.0.0",
                       "mediaType": "application/vnd.oci.image.manifest.v1+json"},
            "request": {"host": "myregistry.azurecr.io"}
        });
        let resp = http
            .post(format!("http://{public}{path}"))
            .header("User-Agent", "AzureContainerRegistry/1.0.0")
            .json(&push)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["msg"], "refreshed 0 warehouse(s)");
        let deliveries: serde_json::Value = http
            .get(format!("http://{admin}/api/v1/deliveries"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(deliveries[0]["providerId"], "in-process-1", "{deliveries}");

        let asked = Instant::now();
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(3), running)
            .await
            .expect("stops within --shutdown-timeout + 1 s")
            .unwrap()
            .unwrap();
        assert!(asked.elapsed() < Duration::from_secs(3));
        // Stopped means stopped: the listener is gone.
        assert!(tokio::net::TcpStream::connect(public).await.is_err());
    }
}
