//! Where the configuration comes from: the `ConfigSource` seam. A source produces whole
//! configurations; the service turns each into an immutable `Snapshot` (config + index +
//! receivers) and swaps it in atomically, so the webhook path, the index and the admin API never
//! know which source is in use.
//!
//! `files` is the source today: `--config` files and directories, polled for changes and
//! reloaded on request (SIGHUP). A Kubernetes source (watched objects) plugs in the same way:
//!
//! - **Readiness**: `initial` returns the first complete configuration; until it does, the
//!   service does not listen and is not ready. A cluster source returns once its first list of
//!   objects is in.
//! - **Pushing**: `run` publishes each new configuration through its `Sink`, whenever the source
//!   learns of a change, until it is cancelled; a reload request (SIGHUP) is a hint it may use.
//! - **Per-object problems**: `Sink::publish` takes the problems of objects the source left out
//!   (one broken Warehouse must not stop the others in a live cluster; see
//!   `dockhand_core::config::load_lenient`); `Sink::reject` keeps the current configuration when
//!   a source refuses a whole new one (files mode: any problem refuses the reload).

pub mod files;

pub use crate::kargo::source::KargoSource;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use dockhand_core::config::{Config, ConfigError, ConfigErrors};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::app::{App, Snapshot};

pub use files::FileSource;

/// A boxed future, so that `ConfigSource` can be used as a trait object.
pub type SourceFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a source has no first configuration.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The configuration has problems; each is listed.
    #[error("{0}")]
    Invalid(ConfigErrors),
    /// The source could not be read at all (a cluster out of reach, a task that died).
    #[error("{0}")]
    Unavailable(String),
}

/// One configuration from a source, with the objects it left out.
#[derive(Debug)]
pub struct Update {
    pub config: Config,
    /// Objects left out of `config`, each with its problem (always empty for a strict source).
    pub left_out: Vec<ConfigError>,
}

impl From<Config> for Update {
    fn from(config: Config) -> Update {
        Update {
            config,
            left_out: Vec::new(),
        }
    }
}

/// A producer of configurations.
pub trait ConfigSource: Send + 'static {
    /// The first configuration. The service starts serving only once this returns.
    fn initial(&mut self) -> SourceFuture<'_, Result<Update, SourceError>>;

    /// Whether the service is ready as soon as it serves `initial`'s configuration. A source
    /// that answers false calls `Sink::ready` itself once its first complete configuration is
    /// published (the Kargo source, after every watch's first list); until then /readyz
    /// answers 503.
    fn ready_at_start(&self) -> bool {
        true
    }

    /// Publishes every later configuration through `sink` until `cancel` fires. `reload` fires
    /// when an operator asks for a reload (SIGHUP).
    fn run(
        self: Box<Self>,
        sink: Sink,
        reload: ReloadRequests,
        cancel: CancellationToken,
    ) -> SourceFuture<'static, ()>;
}

/// Requests to read the configuration again. Requests made while one is pending collapse
/// into one.
#[derive(Clone, Default)]
pub struct ReloadRequests(Arc<Notify>);

impl ReloadRequests {
    pub fn request(&self) {
        self.0.notify_one();
    }

    /// Waits for the next request.
    pub async fn requested(&self) {
        self.0.notified().await;
    }
}

/// The service's side of a source: where new configurations go.
#[derive(Clone)]
pub struct Sink {
    app: Arc<App>,
}

impl Sink {
    pub fn new(app: Arc<App>) -> Sink {
        Sink { app }
    }

    /// Swaps `update.config` in. The objects the source left out are logged, and the rest of
    /// the configuration serves.
    pub fn publish(&self, update: Update) {
        let Update { config, left_out } = update;
        let app = &self.app;
        let (w, r) = (config.warehouses.len(), config.receivers.len());
        let snap = Snapshot::build(config, &app.settings.registry_aliases);
        app.snapshot.store(Arc::new(snap));
        // A new configuration may fix what failed (a credential added): retry at once.
        app.discovery.reset_backoff();
        app.metrics.config_reloads.fetch_add(1, Ordering::Relaxed);
        report_left_out(&left_out);
        tracing::info!(warehouses = w, receivers = r, "configuration reloaded");
    }

    /// The service is ready (see `ConfigSource::ready_at_start`).
    pub fn ready(&self) {
        self.app.ready.store(true, Ordering::Relaxed);
    }

    /// A new configuration the source refused as a whole: the current one stays in force.
    pub fn reject(&self, problems: &[ConfigError]) {
        self.app
            .metrics
            .config_reload_failures
            .fetch_add(1, Ordering::Relaxed);
        for e in problems {
            tracing::error!("{e}");
        }
        tracing::error!(
            problems = problems.len(),
            "configuration reload rejected; the previous configuration stays in force"
        );
    }
}

/// Logs the objects a source left out of a configuration.
pub fn report_left_out(left_out: &[ConfigError]) {
    for e in left_out {
        tracing::warn!("left out of the configuration: {e}");
    }
}
