//! Notifications: telling people (Slack, Microsoft Teams) and pipelines (any HTTP endpoint,
//! signed per Standard Webhooks) about new Freight and failures, through a durable outbox.
//!
//! - `event.rs` builds the outbox rows (the event as JSON) from the configuration's
//!   `Notification`s; `body.rs` turns a row into what each type sends; `sign.rs` signs the
//!   generic body; `sender.rs` claims due rows from the store and sends them.
//! - **Written with what it reports.** The refresh engine hands FreightCreated rows to
//!   `Store::record_discovery_notifying` (committed with the Freight, only if the Freight is
//!   new) and DiscoveryFailed rows to `Store::reconcile_finished_notifying` (committed with the
//!   failed reconcile, only when the previous one succeeded: one message per outage, not one
//!   per interval). A crash between commit and send loses nothing: the row is pending.
//! - **DeliveryRejected** is a receiver's refusal (bad signature or token, unreadable body),
//!   not a request refused before a receiver saw it (wrong method, too large, rate limited).
//!   It is written after the delivery's record, at most once per receiver per
//!   `REJECTION_INTERVAL` in this process, so that a scanner hammering a URL with bad
//!   credentials makes one message, not thousands. That throttle is in memory: a restart may
//!   send one more.
//! - Rows hold the event, never the address or the signing key: those are read from the
//!   running configuration when sending, so a rotated Secret applies to rows already waiting.

pub mod body;
pub mod event;
pub mod sender;
pub mod sign;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use dockhand_core::config::{Notification, NotificationEvent};
use parking_lot::Mutex;

use crate::metrics::Metrics;
use crate::snapshot::Snapshot;
use crate::store::{NewNotification, Store, StoreError};

/// At most one DeliveryRejected per receiver in this interval.
pub const REJECTION_INTERVAL: Duration = Duration::from_secs(600);

/// Default of `--notification-deadline`.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(24 * 3600);

/// The notification side of a running server: what the refresh engine and the webhook path
/// call to add rows, and what the sender reads.
pub struct Notifier {
    pub(crate) snapshot: Arc<ArcSwap<Snapshot>>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) metrics: Arc<Metrics>,
    /// `--base-url`, for dashboard links (`""`: no link).
    pub(crate) base_url: String,
    /// `--notification-deadline`: how long a row is retried before it is failed.
    pub(crate) deadline: Duration,
    /// Wakes the sender when rows were added.
    pub(crate) wake: tokio::sync::Notify,
    /// (project, receiver) -> when its last DeliveryRejected was written.
    rejections: Mutex<HashMap<(String, String), Instant>>,
}

impl Notifier {
    pub fn new(
        snapshot: Arc<ArcSwap<Snapshot>>,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        base_url: String,
        deadline: Duration,
    ) -> Notifier {
        Notifier {
            snapshot,
            store,
            metrics,
            base_url: base_url.trim_end_matches('/').to_string(),
            deadline,
            wake: tokio::sync::Notify::new(),
            rejections: Mutex::new(HashMap::new()),
        }
    }

    /// The Notifications configured now.
    fn configured(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// FreightCreated rows for a Freight about to be recorded.
    pub fn freight_created(&self, f: &crate::discovery::freight::Freight) -> Vec<NewNotification> {
        event::freight_created(&self.configured().config.notifications, f)
    }

    /// DiscoveryFailed rows for a reconcile about to be recorded as failed.
    pub fn discovery_failed(
        &self,
        project: &str,
        warehouse: &str,
        error: &str,
        at: &str,
    ) -> Vec<NewNotification> {
        event::discovery_failed(
            &self.configured().config.notifications,
            project,
            warehouse,
            error,
            at,
        )
    }

    /// The store committed rows: the sender may look now rather than at its next poll.
    pub fn committed(&self, rows: usize) {
        if rows > 0 {
            self.wake.notify_one();
        }
    }

    /// A receiver rejected a delivery: writes DeliveryRejected rows unless one was written for
    /// this receiver within `REJECTION_INTERVAL`.
    pub async fn delivery_rejected(
        &self,
        project: &str,
        receiver: &str,
        status: u16,
        message: &str,
        at: &str,
    ) -> Result<(), StoreError> {
        let snap = self.configured();
        let wanted =
            snap.config.notifications.iter().any(|n| {
                n.project == project && n.wants(NotificationEvent::DeliveryRejected, None)
            });
        if !wanted {
            return Ok(());
        }
        {
            let mut last = self.rejections.lock();
            let key = (project.to_string(), receiver.to_string());
            let now = Instant::now();
            if last
                .get(&key)
                .is_some_and(|t| now.duration_since(*t) < REJECTION_INTERVAL)
            {
                return Ok(());
            }
            // Bounded by the configured receivers; forget the old ones when it grows.
            if last.len() > 10_000 {
                last.retain(|_, t| now.duration_since(*t) < REJECTION_INTERVAL);
            }
            last.insert(key, now);
        }
        let rows = event::delivery_rejected(
            &snap.config.notifications,
            project,
            receiver,
            status,
            message,
            at,
        );
        let n = rows.len();
        self.store.enqueue_notifications(rows).await?;
        self.committed(n);
        Ok(())
    }

    /// `dockhand notify test`: a Test row for `project/name`; its id, or None when no such
    /// Notification is configured.
    pub async fn test(&self, project: &str, name: &str) -> Result<Option<String>, StoreError> {
        let snap = self.configured();
        let Some(n) = find(&snap.config.notifications, project, name) else {
            return Ok(None);
        };
        let row = event::test(n, &crate::clock::now_rfc3339());
        let id = row.id.clone();
        self.store.enqueue_notifications(vec![row]).await?;
        self.committed(1);
        Ok(Some(id))
    }
}

/// The Notification `project/name` of a configuration.
pub fn find<'a>(all: &'a [Notification], project: &str, name: &str) -> Option<&'a Notification> {
    all.iter().find(|n| n.project == project && n.name == name)
}
