//! The files source: Kargo manifests from `--config` files and directories. It reloads when an
//! operator asks (SIGHUP) and when a YAML file changes (a fingerprint of names, sizes and
//! modification times, polled every `--watch-interval`). Loading is strict: a reload with any
//! problem changes nothing.
//!
//! The fingerprint walks exactly the files a load reads (`dockhand_core::config::config_files`:
//! dot-entries passed over, symlink loops ended), and every walk and load runs on the blocking
//! pool, never inside a tokio task: a slow or strange file system delays a reload, not the
//! service or its shutdown.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use dockhand_core::config::{Config, ConfigError, ConfigErrors};
use tokio_util::sync::CancellationToken;

use super::{ConfigSource, ReloadRequests, Sink, SourceError, SourceFuture, Update};

/// `--config` paths, watched every `every`.
pub struct FileSource {
    paths: Vec<PathBuf>,
    every: Duration,
    /// The running configuration came from at least one manifest. A reload that then finds none
    /// at all is refused: a ConfigMap volume swapping its links, or a folder replaced by a
    /// deploy, is briefly empty, and serving an empty configuration would answer every
    /// receiver URL 404 until it returns.
    had_manifests: bool,
    /// The fingerprint taken just before the first load, so a change made between that load
    /// and the watcher's first look is still seen.
    baseline: Option<Fingerprint>,
}

impl FileSource {
    pub fn new(paths: Vec<PathBuf>, every: Duration) -> FileSource {
        FileSource {
            paths,
            every,
            had_manifests: false,
            baseline: None,
        }
    }
}

/// No manifest of any kind was loaded.
fn is_empty(config: &Config) -> bool {
    config.projects.is_empty()
        && config.receivers.is_empty()
        && config.warehouses.is_empty()
        && config.skipped.is_empty()
        && config.credentials.is_empty()
}

/// Logs what the load passed over without failing (a FIFO in a config folder).
fn warn(config: &Config) {
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
}

/// What the files under the paths look like: names, sizes and modification times, and the
/// paths that cannot be read (so that one appearing counts as a change).
type Fingerprint = (Vec<(PathBuf, u64, Option<SystemTime>)>, Vec<ConfigError>);

fn fingerprint(paths: &[PathBuf]) -> Fingerprint {
    let (files, problems) = dockhand_core::config::config_files(paths);
    let files = files
        .into_iter()
        .map(|f| match std::fs::metadata(&f) {
            Ok(m) => (f, m.len(), m.modified().ok()),
            Err(_) => (f, u64::MAX, None),
        })
        .collect();
    (files, problems)
}

/// Runs `f(paths)` on the blocking pool.
async fn blocking<T: Send + 'static>(
    paths: &[PathBuf],
    f: fn(&[PathBuf]) -> T,
) -> Result<T, SourceError> {
    let paths = paths.to_vec();
    tokio::task::spawn_blocking(move || f(&paths))
        .await
        .map_err(|e| SourceError::Unavailable(format!("configuration load failed: {e}")))
}

fn load(paths: &[PathBuf]) -> Result<Config, ConfigErrors> {
    dockhand_core::config::load(paths)
}

impl FileSource {
    async fn reload(&self, sink: &Sink) {
        match blocking(&self.paths, load).await {
            Ok(Ok(config)) if self.had_manifests && is_empty(&config) => {
                sink.reject(&[ConfigError {
                    location: self
                        .paths
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    message: "no manifests found (the folder is empty or gone); the running configuration stays until some are back (restart to run with none)".into(),
                }])
            }
            Ok(Ok(config)) => {
                warn(&config);
                sink.publish(config.into())
            }
            Ok(Err(errors)) => sink.reject(&errors.0),
            Err(e) => tracing::error!("{e}"),
        }
    }

    async fn watch(mut self, sink: Sink, reload: ReloadRequests, cancel: CancellationToken) {
        let mut last = match self.baseline.take() {
            Some(b) => Some(b),
            None => blocking(&self.paths, fingerprint).await.ok(),
        };
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = reload.requested() => {
                    tracing::info!("reload requested; reloading configuration");
                    last = blocking(&self.paths, fingerprint).await.ok();
                    self.reload(&sink).await;
                }
                _ = tick.tick() => {
                    let Ok(now) = blocking(&self.paths, fingerprint).await else {
                        continue;
                    };
                    if last.as_ref() != Some(&now) {
                        last = Some(now);
                        tracing::info!("configuration files changed; reloading");
                        self.reload(&sink).await;
                    }
                }
            }
        }
    }
}

impl ConfigSource for FileSource {
    fn initial(&mut self) -> SourceFuture<'_, Result<Update, SourceError>> {
        Box::pin(async move {
            self.baseline = blocking(&self.paths, fingerprint).await.ok();
            let config = blocking(&self.paths, load).await?;
            if let Ok(config) = &config {
                warn(config);
                self.had_manifests = !is_empty(config);
            }
            config.map(Update::from).map_err(SourceError::Invalid)
        })
    }

    fn run(
        self: Box<Self>,
        sink: Sink,
        reload: ReloadRequests,
        cancel: CancellationToken,
    ) -> SourceFuture<'static, ()> {
        Box::pin((*self).watch(sink, reload, cancel))
    }
}
