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
}

impl FileSource {
    pub fn new(paths: Vec<PathBuf>, every: Duration) -> FileSource {
        FileSource { paths, every }
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
            Ok(Ok(config)) => sink.publish(config.into()),
            Ok(Err(errors)) => sink.reject(&errors.0),
            Err(e) => tracing::error!("{e}"),
        }
    }

    async fn watch(self, sink: Sink, reload: ReloadRequests, cancel: CancellationToken) {
        let mut last = blocking(&self.paths, fingerprint).await.ok();
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
            let config = blocking(&self.paths, load).await?;
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
