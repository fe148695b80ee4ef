//! The refresh engine: a coalescing queue of Warehouses to reconcile, a pool of workers, and the
//! interval schedule. It holds what a reconcile needs (the store, the configuration snapshot,
//! discovery, metrics) and nothing of the HTTP side.
//!
//! Invariants:
//! - A refresh is durable before anyone is told it was accepted: `Refresher::record_delivery`
//!   and `Refresher::request` mark it pending in the store, and queue it only once that has
//!   committed; pending refreshes are re-queued at start-up.
//! - A Warehouse is queued at most once and reconciled by at most one worker at a time. Requests
//!   that arrive while it is queued are absorbed; requests that arrive while it runs collapse into
//!   exactly one follow-up run.
//! - Two reconciles of one Warehouse start at least `cooldown` apart, so a storm of pushes (a
//!   multi-arch push fires one webhook per manifest) costs the registry two discoveries, not fifty.
//! - On a store several replicas share (`Store::shares_work`), the store hands out the work
//!   instead (`claims.rs`): the same guarantees, across replicas.

mod claims;
mod patch;
mod reconcile;

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use dockhand_core::index::WarehouseRefresh;
use dockhand_core::warehouse_ref::WarehouseRef;
use parking_lot::Mutex;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::now_rfc3339;
use crate::discovery::Discovery;
use crate::kargo::Kargo;
use crate::metrics::Metrics;
use crate::snapshot::Snapshot;
use crate::store::{Delivery, ProviderClaim, Recorded, Store, StoreError};

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
    fn merge(&mut self, other: Dirty) {
        match other {
            Dirty::Nothing => {}
            Dirty::All => self.add(None),
            Dirty::Some(set) => {
                let subs: Vec<u32> = set.into_iter().collect();
                self.add(Some(&subs));
            }
        }
    }

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
    /// Webhook reconciles that failed in a row and were tried again (see `RETRY_DELAYS`).
    retries: usize,
    last_start: Option<Instant>,
    next_interval_due: Option<Instant>,
}

struct Shared {
    slots: Mutex<HashMap<WarehouseRef, Slot>>,
    tx: mpsc::UnboundedSender<WarehouseRef>,
    metrics: Arc<Metrics>,
    cooldown: Duration,
    store: Arc<dyn Store>,
    snapshot: Arc<ArcSwap<Snapshot>>,
    discovery: Arc<Discovery>,
    kargo: Option<Arc<Kargo>>,
    /// Shared store only: how long a claim lasts, who claims, and the claim loop's wake-up.
    lease: Duration,
    owner: String,
    wake: tokio::sync::Notify,
    catch_up: bool,
    notifier: Arc<crate::notify::Notifier>,
}

/// Handle on the refresh engine; cheap to clone.
#[derive(Clone)]
pub struct Refresher {
    shared: Arc<Shared>,
}

/// The receiving end of the queue, handed to the workers when the service starts.
pub struct Queue(mpsc::UnboundedReceiver<WarehouseRef>);

/// What the refresh engine works with.
pub struct Parts {
    pub store: Arc<dyn Store>,
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    pub discovery: Arc<Discovery>,
    pub metrics: Arc<Metrics>,
    /// Least time between two reconciles of one Warehouse (`--refresh-cooldown`).
    pub cooldown: Duration,
    /// Kargo mode: a refresh is Kargo's annotation patch instead of discovery.
    pub kargo: Option<Arc<Kargo>>,
    /// How long a claim on a pending refresh lasts on a shared store (`--refresh-lease`).
    pub lease: Duration,
    /// The interval schedule catches up at start: Warehouses never reconciled or overdue are
    /// due now, not one interval later (`--reconcile-on-start`).
    pub catch_up: bool,
    /// Notifications: rows written with the Freight or the failure they report.
    pub notifier: Arc<crate::notify::Notifier>,
}

impl Refresher {
    pub fn new(parts: Parts) -> (Refresher, Queue) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Refresher {
                shared: Arc::new(Shared {
                    slots: Mutex::new(HashMap::new()),
                    tx,
                    metrics: parts.metrics,
                    cooldown: parts.cooldown,
                    store: parts.store,
                    snapshot: parts.snapshot,
                    discovery: parts.discovery,
                    kargo: parts.kargo,
                    lease: parts.lease,
                    // Unique per process, and readable in the database when debugging.
                    owner: format!("{}-{}", std::process::id(), uuid::Uuid::now_v7()),
                    wake: tokio::sync::Notify::new(),
                    catch_up: parts.catch_up,
                    notifier: parts.notifier,
                }),
            },
            Queue(rx),
        )
    }

    /// Records a delivery and the refreshes it decided in one committed transaction, then
    /// queues each Warehouse for the subscriptions the delivery named. Nothing is queued when
    /// the store refuses: the caller answers 503 and the sender retries.
    /// With a `claim`, nothing is written or queued when the store finds the provider id
    /// already claimed (`Recorded::Duplicate`).
    pub async fn record_delivery(
        &self,
        delivery: Delivery,
        refresh: &[WarehouseRefresh],
        claim: Option<ProviderClaim>,
    ) -> Result<Recorded, StoreError> {
        let warehouses = refresh.iter().map(|r| r.warehouse.clone()).collect();
        let store = &self.shared.store;
        let recorded = match claim {
            Some(claim) => {
                store
                    .record_delivery_once(delivery, warehouses, claim)
                    .await?
            }
            None => {
                store.record_delivery(delivery, warehouses).await?;
                Recorded::Stored
            }
        };
        if recorded == Recorded::Stored {
            for r in refresh {
                self.queue(&r.warehouse, Some(&r.subscriptions));
            }
        }
        Ok(recorded)
    }

    /// Makes a refresh of every subscription of `warehouses` durable, then queues them (an
    /// admin refresh, the interval).
    pub async fn request(&self, warehouses: Vec<WarehouseRef>) -> Result<(), StoreError> {
        self.shared
            .store
            .request_refresh(warehouses.clone(), now_rfc3339())
            .await?;
        for w in &warehouses {
            self.queue(w, None);
        }
        Ok(())
    }

    /// Queues a reconcile of `warehouse` — of the subscriptions `only` names, or of all when
    /// None. The request is already durable (as a whole-Warehouse pending refresh: after a
    /// crash everything is discovered again, a superset).
    fn queue(&self, warehouse: &WarehouseRef, only: Option<&[u32]>) {
        let s = &self.shared;
        s.metrics
            .refreshes_requested
            .fetch_add(1, Ordering::Relaxed);
        if s.store.shares_work() {
            // The store holds the request; whichever replica claims it reconciles it.
            s.wake.notify_one();
            return;
        }
        let delay = {
            let mut slots = s.slots.lock();
            let slot = slots.entry(warehouse.clone()).or_default();
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
        self.enqueue(warehouse.clone(), delay);
    }

    fn enqueue(&self, key: WarehouseRef, delay: Duration) {
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

    /// Marks `key` running and takes what it must discover, and whether a failure may be tried
    /// again; None when it is already running (cannot happen with one queue entry per
    /// Warehouse, but cheap to guard).
    fn begin(&self, key: &WarehouseRef) -> Option<(Dirty, bool)> {
        let mut slots = self.shared.slots.lock();
        let slot = slots.entry(key.clone()).or_default();
        slot.queued = false;
        if slot.running {
            return None;
        }
        slot.running = true;
        slot.last_start = Some(Instant::now());
        let dirty = std::mem::take(&mut slot.dirty);
        let may_retry = matches!(dirty, Dirty::Some(_)) && slot.retries < RETRY_DELAYS.len();
        Some((dirty, may_retry))
    }

    /// Marks `key` done; re-queues it once if requests arrived while it ran, or, when a webhook
    /// reconcile failed and may be tried again (`retry`: what it was to discover), after the
    /// next of `RETRY_DELAYS`.
    fn end(&self, key: &WarehouseRef, interval: Option<Duration>, retry: Option<Dirty>) {
        let retried = retry.is_some();
        let delay = {
            let mut slots = self.shared.slots.lock();
            let slot = slots.entry(key.clone()).or_default();
            slot.running = false;
            slot.next_interval_due = interval.map(|i| Instant::now() + i);
            let cooldown = remaining_cooldown(slot, self.shared.cooldown);
            let delay = match retry {
                // A webhook arrived meanwhile: it runs after the cooldown and covers the retry.
                Some(dirty) if slot.follow_up => {
                    slot.retries += 1;
                    slot.dirty.merge(dirty);
                    cooldown
                }
                Some(dirty) => {
                    let wait = RETRY_DELAYS[slot.retries.min(RETRY_DELAYS.len() - 1)];
                    slot.retries += 1;
                    slot.dirty.merge(dirty);
                    cooldown.max(wait)
                }
                None if slot.follow_up => {
                    slot.retries = 0;
                    cooldown
                }
                None => {
                    slot.retries = 0;
                    return;
                }
            };
            slot.follow_up = false;
            slot.queued = true;
            delay
        };
        if retried {
            self.shared
                .metrics
                .reconcile_retries
                .fetch_add(1, Ordering::Relaxed);
        }
        self.enqueue(key.clone(), delay);
    }

    /// Is the interval reconcile of `key` due at `now`? If not, when to look again: a
    /// reconcile for any other reason (a webhook) restarts the interval.
    fn interval_due(
        &self,
        key: &WarehouseRef,
        now: Instant,
        interval: Duration,
    ) -> Result<(), Instant> {
        let mut slots = self.shared.slots.lock();
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

/// How long a webhook reconcile waits before it is tried again, attempt by attempt, when a
/// manifest its registry listed answered 404. A registry may notify a push before the pushed
/// tag can be read (CNCF Distribution sends the manifest event before it links the tag): such a
/// reconcile usually succeeds a moment later, while the interval would wait minutes. Other
/// failures (unreachable, refused, 5xx, an unknown repository) are not retried here: discovery
/// backs them off. After the last attempt the failure stands until the next webhook or interval.
/// A webhook arriving while a retry waits joins it (it runs at the retry's time).
const RETRY_DELAYS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(3),
    Duration::from_secs(9),
];

fn remaining_cooldown(slot: &Slot, cooldown: Duration) -> Duration {
    match slot.last_start {
        Some(t) => cooldown.saturating_sub(t.elapsed()),
        None => Duration::ZERO,
    }
}

impl Refresher {
    /// Re-queues the refreshes left pending by a previous run, then starts `workers` reconcile
    /// workers and the interval scheduler on `tasks`. All stop when `cancel` fires; a reconcile
    /// cut short keeps its pending row, so the next start resumes it.
    pub async fn start(
        &self,
        queue: Queue,
        workers: usize,
        tasks: &TaskTracker,
        cancel: &CancellationToken,
    ) -> Result<(), StoreError> {
        if self.shared.store.shares_work() {
            // Pending refreshes are claimed from the store, left-overs of a dead replica too.
            tasks.spawn(claims::run(
                self.clone(),
                workers,
                tasks.clone(),
                cancel.clone(),
            ));
            tasks.spawn(interval_schedule(self.clone(), cancel.clone(), workers));
            return Ok(());
        }
        for w in self.shared.store.pending().await? {
            tracing::info!(project = %w.project, warehouse = %w.name, "resuming pending refresh");
            self.queue(&w, None);
        }
        let rx = Arc::new(tokio::sync::Mutex::new(queue.0));
        for _ in 0..workers.max(1) {
            let refresher = self.clone();
            let rx = rx.clone();
            let cancel = cancel.clone();
            tasks.spawn(async move {
                loop {
                    let next = tokio::select! {
                        _ = cancel.cancelled() => break,
                        next = async { rx.lock().await.recv().await } => next,
                    };
                    let Some(key) = next else { break };
                    let s = &refresher.shared;
                    s.metrics.queue_depth.fetch_sub(1, Ordering::Relaxed);
                    if let Some((dirty, may_retry)) = refresher.begin(&key) {
                        // The strategy: Kargo's annotation patch in Kargo mode (which retries
                        // on its own), discovery otherwise.
                        let work = async {
                            match &s.kargo {
                                Some(kargo) => (patch::run(s, kargo, &key).await, None),
                                None => reconcile::run(s, &key, dirty, may_retry).await,
                            }
                        };
                        let (interval, retry) = tokio::select! {
                            _ = cancel.cancelled() => break,
                            done = work => done,
                        };
                        refresher.end(&key, interval, retry);
                    }
                }
            });
        }
        // In Kargo mode Kargo's controller keeps each Warehouse's interval.
        if self.shared.kargo.is_none() {
            tasks.spawn(interval_schedule(self.clone(), cancel.clone(), workers));
        }
        Ok(())
    }
}

/// Interval refreshes released per second and worker while the schedule catches up (at start,
/// or when a reload adds Warehouses): enough to keep every worker busy, never the whole
/// configuration at once.
const CATCH_UP_PER_WORKER_PER_SECOND: u32 = 2;

/// Requests the interval reconcile of every Warehouse. Due times live in a heap rebuilt when the
/// configuration changes, so a tick costs the due Warehouses only, not all of them.
///
/// A Warehouse's first due time comes from the store's `last_reconciled` (which survives a
/// restart): one interval after it, or — never reconciled, or last reconciled longer ago than its
/// interval — now, in a catch-up order spread at `workers × CATCH_UP_PER_WORKER_PER_SECOND` per
/// second (never reconciled first, then oldest first), so a new Warehouse does not wait an
/// interval and 100,000 of them do not arrive at once.
async fn interval_schedule(refresher: Refresher, cancel: CancellationToken, workers: usize) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut heap: BinaryHeap<Reverse<(Instant, usize)>> = BinaryHeap::new();
    let mut current: Option<Arc<Snapshot>> = None;
    let per_second = u32::try_from(workers.max(1))
        .unwrap_or(u32::MAX)
        .saturating_mul(CATCH_UP_PER_WORKER_PER_SECOND);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let snap = refresher.shared.snapshot.load_full();
        let now = Instant::now();
        if !current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &snap)) {
            let last = if refresher.shared.catch_up {
                last_reconciled(&refresher).await
            } else {
                None
            };
            let plan: Vec<(Duration, Option<OffsetDateTime>)> = snap
                .config
                .warehouses
                .iter()
                .map(|w| {
                    let last = match &last {
                        Some(map) => map.get(&WarehouseRef::from(w)).copied().flatten(),
                        // No catch-up, or the store could not say: the interval from now, as if
                        // just reconciled.
                        None => Some(OffsetDateTime::now_utc()),
                    };
                    (w.interval, last)
                })
                .collect();
            heap = first_due(&plan, now, OffsetDateTime::now_utc(), per_second)
                .into_iter()
                .enumerate()
                .map(|(i, due)| Reverse((due, i)))
                .collect();
            current = Some(snap.clone());
        }
        while let Some(&Reverse((due, i))) = heap.peek() {
            if due > now {
                break;
            }
            heap.pop();
            let w = &snap.config.warehouses[i];
            let key = WarehouseRef::from(w);
            if refresher.shared.store.shares_work() {
                // Asked more often than the interval: the store says no until one interval has
                // passed since whichever replica last started a reconcile.
                heap.push(Reverse((
                    now + (w.interval / 4).max(Duration::from_secs(1)),
                    i,
                )));
                claims::interval_request(&refresher, &key, w.interval).await;
                continue;
            }
            match refresher.interval_due(&key, now, w.interval) {
                Err(later) => heap.push(Reverse((later, i))),
                Ok(()) => {
                    heap.push(Reverse((now + w.interval, i)));
                    if let Err(e) = refresher.request(vec![key.clone()]).await {
                        tracing::warn!(project = %key.project, warehouse = %key.name, error = %e, "cannot record interval refresh");
                    }
                }
            }
        }
    }
}

/// When each Warehouse the store knows was last reconciled (None: never); None when the store
/// cannot be read.
async fn last_reconciled(
    refresher: &Refresher,
) -> Option<HashMap<WarehouseRef, Option<OffsetDateTime>>> {
    match refresher.shared.store.warehouse_states().await {
        Ok(states) => Some(
            states
                .into_iter()
                .map(|s| {
                    let at = s
                        .last_reconciled
                        .as_deref()
                        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
                    (s.warehouse, at)
                })
                .collect(),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read when Warehouses were last reconciled; each waits one interval");
            None
        }
    }
}

/// The first interval due time of each Warehouse, given its interval and when it was last
/// reconciled (`wall` is now on the same clock): one interval after that, or — never
/// reconciled, or overdue — in catch-up order from `now`, `per_second` a second, and never later
/// than one interval from now.
fn first_due(
    warehouses: &[(Duration, Option<OffsetDateTime>)],
    now: Instant,
    wall: OffsetDateTime,
    per_second: u32,
) -> Vec<Instant> {
    let mut due = vec![now; warehouses.len()];
    let mut overdue: Vec<(Option<OffsetDateTime>, usize)> = Vec::new();
    for (i, &(interval, last)) in warehouses.iter().enumerate() {
        if let Some(t) = last {
            // A time in the future (a clock set back) counts as just reconciled.
            let age = Duration::try_from(wall - t).unwrap_or(Duration::ZERO);
            if age < interval {
                due[i] = now + (interval - age);
                continue;
            }
        }
        overdue.push((last, i));
    }
    // Never reconciled first (None sorts first), then the longest waiting.
    overdue.sort();
    let step = Duration::from_secs(1) / per_second.max(1);
    for (k, &(_, i)) in overdue.iter().enumerate() {
        let interval = warehouses[i].0;
        let offset = u32::try_from(k)
            .ok()
            .and_then(|k| step.checked_mul(k))
            .unwrap_or(interval)
            .min(interval);
        due[i] = now + offset;
    }
    due
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    fn refresher(dir: &std::path::Path) -> (Refresher, Queue, Arc<dyn Store>) {
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.join("data"), 100, 1 << 30).expect("open store"));
        let snapshot = Arc::new(ArcSwap::from_pointee(Snapshot::build(
            dockhand_core::config::Config::default(),
            &[],
        )));
        let discovery =
            Discovery::new(crate::discovery::Settings::new(dir.join("data"))).expect("discovery");
        let metrics = Arc::new(Metrics::default());
        let notifier = Arc::new(crate::notify::Notifier::new(
            snapshot.clone(),
            store.clone(),
            metrics.clone(),
            String::new(),
            crate::notify::DEFAULT_DEADLINE,
        ));
        let (refresher, queue) = Refresher::new(Parts {
            store: store.clone(),
            snapshot,
            discovery: Arc::new(discovery),
            metrics,
            notifier,
            cooldown: Duration::ZERO,
            kargo: None,
            lease: Duration::from_secs(30),
            catch_up: true,
        });
        (refresher, queue, store)
    }

    #[tokio::test]
    async fn a_request_is_queued_once_durable_and_not_when_the_store_refuses() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (refresher, mut queue, store) = refresher(dir.path());
        let w = WarehouseRef::new("a", "app");

        refresher.request(vec![w.clone()]).await.expect("request");
        assert_eq!(
            store.pending().await.expect("pending"),
            std::slice::from_ref(&w)
        );
        assert_eq!(queue.0.try_recv().ok(), Some(w.clone()));

        store.close().await;
        let other = WarehouseRef::new("a", "other");
        let err = refresher.request(vec![other]).await.err();
        assert!(matches!(err, Some(StoreError::Closed)), "{err:?}");
        assert!(queue.0.try_recv().is_err(), "queued although not durable");
    }

    #[test]
    fn a_warehouse_never_or_long_ago_reconciled_is_due_now_spread_out() {
        let now = Instant::now();
        let wall = OffsetDateTime::now_utc();
        let min = Duration::from_secs(60);
        let ago = |s: i64| Some(wall - time::Duration::seconds(s));
        let due = first_due(
            &[
                (5 * min, ago(60)),    // reconciled a minute ago: due in four
                (5 * min, None),       // never: first in the catch-up order
                (5 * min, ago(600)),   // overdue: after the never-reconciled ones
                (5 * min, None),       // never: second
                (5 * min, ago(-3600)), // in the future (clock set back): one interval
            ],
            now,
            wall,
            2,
        );
        let offset = |i: usize| due[i] - now;
        assert!(offset(0) > Duration::from_secs(239) && offset(0) <= Duration::from_secs(240));
        assert_eq!(offset(1), Duration::ZERO);
        assert_eq!(offset(3), Duration::from_millis(500));
        assert_eq!(offset(2), Duration::from_millis(1000));
        assert_eq!(offset(4), 5 * min);
    }

    #[test]
    fn a_large_catch_up_is_spread_and_never_later_than_an_interval() {
        let now = Instant::now();
        let interval = Duration::from_secs(300);
        let plan = vec![(interval, None); 100_000];
        let due = first_due(&plan, now, OffsetDateTime::now_utc(), 8);
        // Eight a second: the first second releases eight, not 100,000.
        let first_second = due
            .iter()
            .filter(|d| **d - now < Duration::from_secs(1))
            .count();
        assert_eq!(first_second, 8);
        assert!(due.iter().all(|d| *d - now <= interval));
        assert_eq!(due[99_999] - now, interval);
    }

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
