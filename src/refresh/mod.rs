//! The refresh engine: a coalescing queue of Warehouses to reconcile, a pool of workers, and the
//! interval schedule.
//!
//! Invariants:
//! - A refresh is durable before anyone is told it was accepted: the caller marks it pending in
//!   the store first; pending refreshes are re-queued at start-up.
//! - A Warehouse is queued at most once and reconciled by at most one worker at a time. Requests
//!   that arrive while it is queued are absorbed; requests that arrive while it runs collapse into
//!   exactly one follow-up run.
//! - Two reconciles of one Warehouse start at least `cooldown` apart, so a storm of pushes (a
//!   multi-arch push fires one webhook per manifest) costs the registry two discoveries, not fifty.

mod patch;
mod reconcile;

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::{now_rfc3339, App};
use crate::metrics::Metrics;

type Key = (String, String);

/// What the next reconcile of a Warehouse must discover again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Dirty {
    #[default]
    Nothing,
    /// These subscriptions (a webhook named their repositories); the others may reuse what was
    /// discovered within the Warehouse's interval.
    Some(BTreeSet<u32>),
    /// Every subscription (admin refresh, interval, resumed after a restart).
    All,
}

impl Dirty {
    fn add(&mut self, only: Option<&[u32]>) {
        match (only, &mut *self) {
            (_, Dirty::All) => {}
            (None, _) => *self = Dirty::All,
            (Some(subs), Dirty::Some(set)) => set.extend(subs.iter().copied()),
            (Some(subs), Dirty::Nothing) => *self = Dirty::Some(subs.iter().copied().collect()),
        }
    }
}

#[derive(Default)]
struct Slot {
    dirty: Dirty,
    queued: bool,
    running: bool,
    follow_up: bool,
    last_start: Option<Instant>,
    next_interval_due: Option<Instant>,
}

struct Shared {
    slots: Mutex<HashMap<Key, Slot>>,
    tx: mpsc::UnboundedSender<Key>,
    metrics: Arc<Metrics>,
    cooldown: Duration,
}

/// Handle on the refresh engine; cheap to clone.
#[derive(Clone)]
pub struct Refresher {
    shared: Arc<Shared>,
}

/// The receiving end of the queue, handed to the workers when the service starts.
pub struct Queue(mpsc::UnboundedReceiver<Key>);

impl Refresher {
    pub fn new(metrics: Arc<Metrics>, cooldown: Duration) -> (Refresher, Queue) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Refresher {
                shared: Arc::new(Shared {
                    slots: Mutex::new(HashMap::new()),
                    tx,
                    metrics,
                    cooldown,
                }),
            },
            Queue(rx),
        )
    }

    /// Asks for a reconcile of (project, name) — of the subscriptions `only` names, or of all
    /// when None. The caller has already made the request durable (as a whole-Warehouse pending
    /// refresh: after a crash everything is discovered again, a superset).
    pub fn request(&self, project: &str, name: &str, only: Option<&[u32]>) {
        let s = &self.shared;
        s.metrics
            .refreshes_requested
            .fetch_add(1, Ordering::Relaxed);
        let key = (project.to_string(), name.to_string());
        let delay = {
            let Ok(mut slots) = s.slots.lock() else {
                return;
            };
            let slot = slots.entry(key.clone()).or_default();
            slot.dirty.add(only);
            if slot.queued {
                s.metrics
                    .refreshes_coalesced
                    .fetch_add(1, Ordering::Relaxed);
                return;
            }
            if slot.running {
                if slot.follow_up {
                    s.metrics
                        .refreshes_coalesced
                        .fetch_add(1, Ordering::Relaxed);
                }
                slot.follow_up = true;
                return;
            }
            slot.queued = true;
            remaining_cooldown(slot, s.cooldown)
        };
        self.enqueue(key, delay);
    }

    fn enqueue(&self, key: Key, delay: Duration) {
        let s = self.shared.clone();
        s.metrics.queue_depth.fetch_add(1, Ordering::Relaxed);
        if delay.is_zero() {
            let _ = s.tx.send(key);
        } else {
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = s.tx.send(key);
            });
        }
    }

    /// Marks `key` running and takes what it must discover; None when it is already running
    /// (cannot happen with one queue entry per Warehouse, but cheap to guard).
    fn begin(&self, key: &Key) -> Option<Dirty> {
        let Ok(mut slots) = self.shared.slots.lock() else {
            return None;
        };
        let slot = slots.entry(key.clone()).or_default();
        slot.queued = false;
        if slot.running {
            return None;
        }
        slot.running = true;
        slot.last_start = Some(Instant::now());
        Some(std::mem::take(&mut slot.dirty))
    }

    /// Marks `key` done; re-queues it once if requests arrived while it ran.
    fn end(&self, key: &Key, interval: Option<Duration>) {
        let delay = {
            let Ok(mut slots) = self.shared.slots.lock() else {
                return;
            };
            let slot = slots.entry(key.clone()).or_default();
            slot.running = false;
            slot.next_interval_due = interval.map(|i| Instant::now() + i);
            if !slot.follow_up {
                return;
            }
            slot.follow_up = false;
            slot.queued = true;
            remaining_cooldown(slot, self.shared.cooldown)
        };
        self.enqueue(key.clone(), delay);
    }

    /// Is the interval reconcile of (project, name) due at `now`? If not, when to look again:
    /// a reconcile for any other reason (a webhook) restarts the interval.
    fn interval_due(&self, key: &Key, now: Instant, interval: Duration) -> Result<(), Instant> {
        let Ok(mut slots) = self.shared.slots.lock() else {
            return Err(now + interval);
        };
        let slot = slots.entry(key.clone()).or_default();
        if slot.queued || slot.running {
            return Err(now + interval);
        }
        match slot.next_interval_due {
            Some(due) if due > now => Err(due),
            _ => {
                slot.next_interval_due = Some(now + interval);
                Ok(())
            }
        }
    }
}

fn remaining_cooldown(slot: &Slot, cooldown: Duration) -> Duration {
    match slot.last_start {
        Some(t) => cooldown.saturating_sub(t.elapsed()),
        None => Duration::ZERO,
    }
}

/// Starts `workers` reconcile workers and the interval scheduler on `tasks`, and re-queues the
/// refreshes left pending by a previous run. All stop when `cancel` fires; a reconcile cut short
/// keeps its pending row, so the next start resumes it.
pub fn start(
    app: Arc<App>,
    queue: Queue,
    workers: usize,
    tasks: &TaskTracker,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    for (project, name) in app.store.pending()? {
        tracing::info!(project, warehouse = name, "resuming pending refresh");
        app.refresher.request(&project, &name, None);
    }
    let rx = Arc::new(tokio::sync::Mutex::new(queue.0));
    for _ in 0..workers.max(1) {
        let app = app.clone();
        let rx = rx.clone();
        let cancel = cancel.clone();
        tasks.spawn(async move {
            loop {
                let next = tokio::select! {
                    _ = cancel.cancelled() => break,
                    next = async { rx.lock().await.recv().await } => next,
                };
                let Some(key) = next else { break };
                app.metrics.queue_depth.fetch_sub(1, Ordering::Relaxed);
                if let Some(dirty) = app.refresher.begin(&key) {
                    // The strategy: Kargo's annotation patch in Kargo mode, discovery otherwise.
                    let work = async {
                        match &app.kargo {
                            Some(kargo) => patch::run(&app, kargo, &key.0, &key.1).await,
                            None => reconcile::run(&app, &key.0, &key.1, dirty).await,
                        }
                    };
                    let interval = tokio::select! {
                        _ = cancel.cancelled() => break,
                        interval = work => interval,
                    };
                    app.refresher.end(&key, interval);
                }
            }
        });
    }
    // In Kargo mode Kargo's controller keeps each Warehouse's interval.
    if app.kargo.is_none() {
        tasks.spawn(interval_schedule(app, cancel.clone()));
    }
    Ok(())
}

/// Requests the interval reconcile of every Warehouse. Due times live in a heap rebuilt when the
/// configuration changes, so a tick costs the due Warehouses only, not all of them.
async fn interval_schedule(app: Arc<App>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut heap: BinaryHeap<Reverse<(Instant, usize)>> = BinaryHeap::new();
    let mut current: Option<Arc<crate::app::Snapshot>> = None;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let snap = app.snapshot.load_full();
        let now = Instant::now();
        if !current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &snap)) {
            heap = snap
                .config
                .warehouses
                .iter()
                .enumerate()
                .map(|(i, w)| Reverse((now + w.interval, i)))
                .collect();
            current = Some(snap.clone());
        }
        while let Some(&Reverse((due, i))) = heap.peek() {
            if due > now {
                break;
            }
            heap.pop();
            let w = &snap.config.warehouses[i];
            let key = (w.project.clone(), w.name.clone());
            match app.refresher.interval_due(&key, now, w.interval) {
                Err(later) => heap.push(Reverse((later, i))),
                Ok(()) => {
                    heap.push(Reverse((now + w.interval, i)));
                    let (project, name) = key;
                    if let Err(e) = app
                        .store
                        .request_refresh(vec![(project.clone(), name.clone())], now_rfc3339())
                        .await
                    {
                        tracing::warn!(project, warehouse = name, error = %e, "cannot record interval refresh");
                        continue;
                    }
                    app.refresher.request(&project, &name, None);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirty_sets_merge_and_all_wins() {
        let mut d = Dirty::default();
        d.add(Some(&[2]));
        d.add(Some(&[0, 2]));
        assert_eq!(d, Dirty::Some([0, 2].into_iter().collect()));
        d.add(None);
        assert_eq!(d, Dirty::All);
        d.add(Some(&[1]));
        assert_eq!(d, Dirty::All);
    }
}
