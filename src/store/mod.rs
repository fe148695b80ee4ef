//! Durable state: deliveries, Warehouse state, pending refreshes, discoveries and Freight. This
//! module is the storage interface — the `Store` trait, its records and its errors — that the
//! rest of the service uses through `Arc<dyn Store>`, so the backend is chosen at run time.
//! `sqlite` is the embedded backend, `postgres` the shared one (several replicas on one
//! database); `contract` is the test suite every backend passes.
//!
//! Invariants every backend keeps (the contract suite checks them):
//! - A write the caller awaited is committed durably: it survives a crash of the process or the
//!   machine. A delivery and the refreshes it asks for commit together or not at all.
//! - Pending-refresh sequence numbers only grow, over the whole life of the storage (reopened,
//!   or shared by several replicas), so `reconcile_finished` clears exactly the requests its
//!   reconcile covered and a request that arrived meanwhile stays pending.
//! - A Freight is kept once per id.
//! - Deliveries are stored in `delivery_record`'s form (every field capped, each decision once),
//!   and the store keeps within its byte budget by deleting the oldest deliveries; pending
//!   refreshes, Warehouse state, discoveries and Freight are never deleted for it.
//! - A provider delivery id claimed with `record_delivery_once` is remembered by the storage for
//!   its window: across a restart, and across every replica sharing the storage.
//! - A delivery's kept request (`Delivery::payload`) and the artifacts it reported
//!   (`Delivery::artifacts`) are written in the delivery's transaction and deleted with it; the
//!   payload counts in the byte budget.
//! - Errors carry no backend types: callers see `StoreError` only.
//! - The notification outbox: a FreightCreated notification commits with its Freight (only when
//!   the Freight is new), a DiscoveryFailed one with the failed reconcile that reports it (only
//!   when the previous reconcile did not fail), so a crash can lose neither without the other. A
//!   notification is handed to one claimant at a time (a lease), and stays pending across
//!   restarts until marked sent or failed.

pub mod delivery_record;
mod postgres;
mod postgres_outbox;
mod sqlite;
mod sqlite_outbox;

#[cfg(test)]
pub(crate) mod contract;

pub use postgres::{PostgresOptions, PostgresStore};
pub use sqlite::SqliteStore;

use std::time::Duration;

use async_trait::async_trait;
use dockhand_core::warehouse_ref::WarehouseRef;
use serde::Serialize;

/// The storage interface. Writes are async because a backend may have to wait for a disk or a
/// database server; reads are async for the same reason.
#[async_trait]
pub trait Store: Send + Sync {
    /// Records a delivery and marks `refresh` pending, in one committed transaction.
    async fn record_delivery(
        &self,
        delivery: Delivery,
        refresh: Vec<WarehouseRef>,
    ) -> Result<(), StoreError>;

    /// `record_delivery` for a delivery that carries a provider id: in the same transaction,
    /// claims `claim.key` for `claim.window`. When the key was already claimed within its window
    /// nothing is written and the answer is `Recorded::Duplicate` (the caller records the
    /// delivery again as a duplicate, without refreshes). A claim exists only if its delivery
    /// committed, so a sender's retry after a 503 is never mistaken for a duplicate.
    async fn record_delivery_once(
        &self,
        delivery: Delivery,
        refresh: Vec<WarehouseRef>,
        claim: ProviderClaim,
    ) -> Result<Recorded, StoreError>;

    /// Marks Warehouses pending (an admin or interval refresh).
    async fn request_refresh(
        &self,
        refresh: Vec<WarehouseRef>,
        at: String,
    ) -> Result<(), StoreError>;

    /// Records the start of a reconcile; returns the pending sequence it covers
    /// (`RefreshSeq::NONE` when nothing was pending).
    async fn reconcile_started(
        &self,
        warehouse: &WarehouseRef,
        at: String,
    ) -> Result<RefreshSeq, StoreError>;

    /// Records the end of a reconcile; clears the pending refresh only if no request newer than
    /// `covered` arrived meanwhile.
    async fn reconcile_finished(
        &self,
        warehouse: &WarehouseRef,
        covered: RefreshSeq,
        at: String,
        error: Option<String>,
    ) -> Result<(), StoreError> {
        self.reconcile_finished_notifying(warehouse, covered, at, error, Vec::new())
            .await
    }

    /// Records what a reconcile discovered (`body`, JSON, replacing the previous one) and the
    /// Freight it formed, kept once per id.
    async fn record_discovery(
        &self,
        warehouse: &WarehouseRef,
        at: String,
        body: String,
        freight: Option<NewFreight>,
    ) -> Result<FreightRecorded, StoreError> {
        self.record_discovery_notifying(warehouse, at, body, freight, Vec::new())
            .await
    }

    /// What the last reconcile of a Warehouse discovered, as stored.
    async fn discovery(
        &self,
        warehouse: &WarehouseRef,
    ) -> Result<Option<serde_json::Value>, StoreError>;

    /// Deliveries matching `filter`, newest first.
    async fn deliveries(&self, filter: DeliveryFilter) -> Result<Vec<Delivery>, StoreError>;

    /// The delivery recorded with `id` (with its refreshes, as `deliveries` lists it), or
    /// `None` when there is none (never recorded, or no longer kept).
    async fn delivery(&self, id: &str) -> Result<Option<Delivery>, StoreError>;

    /// The request kept with delivery `id` (`--keep-payloads`), or `None` when none was kept
    /// (or the delivery is no longer kept).
    async fn payload(&self, id: &str) -> Result<Option<Payload>, StoreError>;

    /// What deliveries reported about one repository (a normalized key), and one tag when
    /// `filter.tag` is given, newest first; read through an index, never a scan of deliveries.
    async fn artifact_reports(
        &self,
        filter: ArtifactFilter,
    ) -> Result<Vec<ArtifactReport>, StoreError>;

    /// Every Warehouse with a pending refresh, oldest request first.
    async fn pending(&self) -> Result<Vec<WarehouseRef>, StoreError>;

    /// Recorded state of every Warehouse that has any.
    async fn warehouse_states(&self) -> Result<Vec<WarehouseState>, StoreError>;

    /// Freight matching `filter`, newest first, as stored JSON documents.
    async fn freight(&self, filter: FreightFilter) -> Result<Vec<serde_json::Value>, StoreError>;

    /// Kargo mode: from now on, record with each delivery which refresh it asked for, so the
    /// delivery can show the patch that carried it and when Kargo handled it.
    fn link_refreshes(&self);

    /// Kargo mode: the patch covering `warehouse`'s requests up to `covered` landed with
    /// `token` at `at`, or ended with `error` (the Warehouse is gone).
    async fn kargo_patched(
        &self,
        warehouse: &WarehouseRef,
        covered: RefreshSeq,
        token: Option<String>,
        at: String,
        error: Option<String>,
    ) -> Result<(), StoreError>;

    /// Kargo mode: Kargo's controller handled `warehouse` up to the token `last_handled`
    /// (tokens are fixed-width RFC 3339 UTC, so every token not after it was handled too).
    async fn kargo_handled(
        &self,
        warehouse: &WarehouseRef,
        last_handled: String,
        at: String,
    ) -> Result<(), StoreError>;

    /// Kargo mode: tokens patched and not yet seen handled, as (Warehouse, token): what the
    /// Warehouse watch must look for after a restart.
    async fn kargo_outstanding(&self) -> Result<Vec<(WarehouseRef, String)>, StoreError>;

    /// Bytes the stored records take (what `--max-store-bytes` bounds).
    async fn stored_bytes(&self) -> Result<u64, StoreError>;

    /// Commits every write already submitted, then refuses new ones (`StoreError::Closed`).
    async fn close(&self);

    // The shared-work seam. A store that several processes share hands out pending refreshes
    // as claims under a lease instead of letting each process reconcile what it queued; the
    // defaults are those of a store one process owns (today's in-memory queue decides).

    /// True when other processes may share this storage (the refresh engine then takes its
    /// work from `claim_refreshes`).
    fn shares_work(&self) -> bool {
        false
    }

    /// Claims up to `limit` pending refreshes for `owner` until `lease` from now: those not
    /// leased by anyone (or whose lease expired) and whose Warehouse's last reconcile started at
    /// least `cooldown` ago. Each is handed to one claimant only.
    async fn claim_refreshes(
        &self,
        _owner: &str,
        _lease: Duration,
        _cooldown: Duration,
        _limit: usize,
    ) -> Result<Vec<WarehouseRef>, StoreError> {
        Ok(Vec::new())
    }

    /// Extends `owner`'s lease on `warehouse` to `lease` from now (a long reconcile).
    async fn renew_lease(
        &self,
        _warehouse: &WarehouseRef,
        _owner: &str,
        _lease: Duration,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// The interval refresh of a shared store: marks `warehouse` pending unless it is pending
    /// already or a reconcile of it started less than `interval` ago, so several replicas
    /// asking together still reconcile it once per interval. True when it was marked.
    async fn request_refresh_if_due(
        &self,
        warehouse: &WarehouseRef,
        _interval: Duration,
        at: String,
    ) -> Result<bool, StoreError> {
        self.request_refresh(vec![warehouse.clone()], at).await?;
        Ok(true)
    }

    /// Can the storage take writes now? (`/readyz` of a server on a shared database.)
    async fn check(&self) -> Result<(), StoreError> {
        Ok(())
    }

    // The notification outbox (see the module doc). Rows carry the event, never the address
    // nor the signing key: those are read from the configuration when sending.

    /// `record_discovery`, and in the same transaction the outbox rows `notify`, written only
    /// when the Freight is new (`FreightRecorded::New`).
    async fn record_discovery_notifying(
        &self,
        warehouse: &WarehouseRef,
        at: String,
        body: String,
        freight: Option<NewFreight>,
        notify: Vec<NewNotification>,
    ) -> Result<FreightRecorded, StoreError>;

    /// `reconcile_finished`, and in the same transaction the outbox rows `notify`, written only
    /// when `error` is set and the Warehouse's previous reconcile had none (a failure is
    /// reported when it starts, not at every interval while it lasts).
    async fn reconcile_finished_notifying(
        &self,
        warehouse: &WarehouseRef,
        covered: RefreshSeq,
        at: String,
        error: Option<String>,
        notify: Vec<NewNotification>,
    ) -> Result<(), StoreError>;

    /// Adds outbox rows on their own (a rejected delivery, a test); an id already present is
    /// kept as it was.
    async fn enqueue_notifications(&self, notify: Vec<NewNotification>) -> Result<(), StoreError>;

    /// Claims up to `limit` pending notifications that are due and not leased (or whose lease
    /// ran out), for `owner` until `lease` from now; oldest first. Each goes to one claimant.
    async fn claim_notifications(
        &self,
        owner: &str,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<NotificationRecord>, StoreError>;

    /// Records one attempt to send notification `id` by `owner` and frees its lease.
    async fn notification_attempted(
        &self,
        id: &str,
        owner: &str,
        attempt: Attempt,
    ) -> Result<(), StoreError>;

    /// Notifications matching `filter`, newest first.
    async fn notifications(
        &self,
        filter: NotificationFilter,
    ) -> Result<Vec<NotificationRecord>, StoreError>;
}

/// Finished notifications (sent or failed) kept; older ones are deleted when new rows are added.
/// Pending ones are never deleted.
pub const KEEP_NOTIFICATIONS: usize = 10_000;

/// One outbox row to add.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    /// The Standard Webhooks `webhook-id` (`msg_...`): the same on every attempt.
    pub id: String,
    pub project: String,
    /// The Notification's name.
    pub notification: String,
    /// `slack`, `teams`, `generic` (as configured when the row was written).
    pub kind: String,
    /// `FreightCreated`, `DiscoveryFailed`, `DeliveryRejected`, `Test`.
    pub event: String,
    pub warehouse: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// The event as JSON (the generic body; Slack and Teams bodies are made from it).
    pub payload: String,
}

/// Where a notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationStatus {
    Pending,
    Sent,
    Failed,
}

impl NotificationStatus {
    pub fn name(self) -> &'static str {
        match self {
            NotificationStatus::Pending => "pending",
            NotificationStatus::Sent => "sent",
            NotificationStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> NotificationStatus {
        match s {
            "sent" => NotificationStatus::Sent,
            "failed" => NotificationStatus::Failed,
            _ => NotificationStatus::Pending,
        }
    }
}

/// One outbox row as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationRecord {
    pub new: NewNotification,
    pub status: NotificationStatus,
    pub attempts: u32,
    /// When the row was added, Unix milliseconds of the store's clock (the deadline counts
    /// from it).
    pub created_ms: i64,
    /// The last attempt's error (`HTTP 500: ...`, `timed out`), if any.
    pub last_error: Option<String>,
    /// The last HTTP status answered, if any.
    pub response_code: Option<u16>,
    /// When it was sent or failed for good (RFC 3339).
    pub finished_at: Option<String>,
}

/// The result of one attempt to send.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    Sent {
        code: u16,
        at: String,
    },
    /// Try again `after` from now.
    Retry {
        code: Option<u16>,
        error: String,
        after: Duration,
    },
    Failed {
        code: Option<u16>,
        error: String,
        at: String,
    },
}

/// Filters for listing notifications.
#[derive(Debug, Clone, Default)]
pub struct NotificationFilter {
    pub project: Option<String>,
    pub limit: usize,
}

/// A provider delivery id claimed for de-duplication: a fixed-size digest of (project,
/// receiver, id) — never the id itself, whose size the sender chooses — and how long it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderClaim {
    pub key: [u8; 16],
    pub window: Duration,
}

/// What `record_delivery_once` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Committed, with its refreshes and its claim.
    Stored,
    /// The id was claimed within the window: nothing was written.
    Duplicate,
}

/// A pending-refresh sequence number: which requests of a Warehouse a reconcile covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RefreshSeq(pub u64);

impl RefreshSeq {
    /// Nothing was pending when the reconcile started.
    pub const NONE: RefreshSeq = RefreshSeq(0);
}

/// What `record_discovery` did with the Freight it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreightRecorded {
    /// Not recorded before: this reconcile formed it.
    New,
    /// A Freight with this id was already recorded; kept as it was.
    AlreadyRecorded,
    /// No Freight was given.
    NoFreight,
}

/// A Freight to record: its id, creation time and JSON document.
#[derive(Debug, Clone)]
pub struct NewFreight {
    pub id: String,
    pub created_at: String,
    pub body: String,
}

/// Filters for listing Freight.
#[derive(Debug, Clone, Default)]
pub struct FreightFilter {
    pub project: Option<String>,
    pub warehouse: Option<String>,
}

/// One webhook delivery, as shown by `dockhand deliveries` and `GET /api/v1/deliveries`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub id: String,
    /// RFC 3339 UTC.
    pub received_at: String,
    pub project: String,
    pub receiver: String,
    pub receiver_type: String,
    /// `acr`, `azure-devops`, `event-grid`, `harbor`, `unknown`.
    pub source: dockhand_core::event::Source,
    pub event_type: Option<String>,
    pub provider_id: Option<String>,
    /// The query string of the receiver URL (`region=westus`), without the `?`.
    pub query: Option<String>,
    /// HTTP status returned.
    pub status: u16,
    /// `refreshed`, `unmatched`, `ignored`, `ping`, `handshake`, `rejected`, `duplicate`.
    pub outcome: dockhand_core::event::Outcome,
    /// The message returned (`msg` or `error`).
    pub message: String,
    /// Repository URLs named by the event, as the payload spelt them.
    pub repositories: Vec<String>,
    /// Tags, versions or refs the event carried.
    pub qualifiers: Vec<String>,
    /// Warehouses refreshed, as `project/name`.
    pub refreshed: Vec<String>,
    /// Why candidates did not match (one line each); empty when all matched.
    pub explanation: Vec<String>,
    /// The full matching result (normalized keys, every candidate), as JSON.
    pub detail: serde_json::Value,
    pub duration_micros: u64,
    /// Kargo mode: the annotation patch that carried each refresh this delivery asked for, and
    /// when Kargo handled it. Filled in when listed, never stored in the body.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refreshes: Vec<RefreshRecord>,
    /// The delivery this one replays (`dockhand replay`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
    /// The request as received (`--keep-payloads`), written beside the record and read back
    /// with `Store::payload`, never in the body or a listing.
    #[serde(skip)]
    pub payload: Option<Payload>,
    /// The images this delivery reported, written to the replication index
    /// (`Store::artifact_reports`), never in the body.
    #[serde(skip)]
    pub artifacts: Vec<ReportedArtifact>,
}

/// The request of one delivery as kept for `deliveries show` and `replay`: the body as read
/// (bounded by `--max-body-bytes`) and the headers a receiver reads, never a credential.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Payload {
    /// Name (lower case) and value, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Why the kept request is not the whole request (a header left out for its size): such a
    /// payload is shown but not replayed.
    pub trimmed: Option<String>,
}

impl Payload {
    /// Bytes the payload costs in the byte budget.
    pub fn stored_bytes(&self) -> u64 {
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 8)
            .sum();
        (self.body.len() + headers + self.trimmed.as_ref().map_or(0, String::len)) as u64
    }
}

/// One image (repository and tag, or a push by digest) a delivery reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportedArtifact {
    /// The normalized repository key (`myregistry.azurecr.io/app`).
    pub repository: String,
    /// None for a push by digest.
    pub tag: Option<String>,
    pub digest: Option<String>,
}

/// What one delivery said about one image, as the replication view lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactReport {
    pub delivery_id: String,
    pub received_at: String,
    pub project: String,
    pub receiver: String,
    /// The receiver URL's query string as stored (secret-looking values redacted).
    pub query: Option<String>,
    #[serde(flatten)]
    pub artifact: ReportedArtifact,
}

/// Which reports `Store::artifact_reports` lists.
#[derive(Debug, Clone, Default)]
pub struct ArtifactFilter {
    /// A normalized repository key.
    pub repository: String,
    pub tag: Option<String>,
    /// At most this many (100 when 0).
    pub limit: usize,
}

/// One refresh of one delivery in Kargo mode, as `GET /api/v1/deliveries` shows it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RefreshRecord {
    /// `project/name`.
    pub warehouse: String,
    /// The `kargo.akuity.io/refresh` value patched; null until the patch lands.
    pub token: Option<String>,
    pub patched_at: Option<String>,
    /// When the Warehouse watch saw `status.lastHandledRefresh` reach the token.
    pub handled_at: Option<String>,
    /// Why the refresh was dropped (the Warehouse is gone) or failed for good.
    pub error: Option<String>,
}

/// Filters for listing deliveries.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub project: Option<String>,
    pub receiver: Option<String>,
    /// Substring of the query string (`region=westus`).
    pub query: Option<String>,
    pub limit: usize,
}

/// The recorded state of one Warehouse.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WarehouseState {
    #[serde(flatten)]
    pub warehouse: WarehouseRef,
    pub last_refresh_requested: Option<String>,
    pub last_reconcile_started: Option<String>,
    pub last_reconciled: Option<String>,
    pub pending: bool,
    pub reconcile_count: u64,
    pub refresh_count: u64,
    pub last_error: Option<String>,
}

/// Errors of the store, whatever the backend. Messages name the storage and what failed, and
/// say what to do when there is something to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create data directory {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("data directory {path} is not writable: {source}")]
    NotWritable {
        path: String,
        source: std::io::Error,
    },
    /// The storage could not be opened or prepared (`path` names it: a file, a database).
    #[error("database {path}: {message}")]
    Open { path: String, message: String },
    /// Another process has the data directory open.
    #[error("data directory {path} is in use by another dockhand (it holds {path}/dockhand.lock); stop that one or give this one another --data-dir")]
    InUse { path: String },
    #[error("database {path} has schema version {found}, newer than this dockhand ({supported}); upgrade dockhand")]
    TooNew {
        path: String,
        found: i64,
        supported: i64,
    },
    /// A read or a write failed in the backend; the message is the backend's.
    #[error("database error: {0}")]
    Backend(String),
    #[error("cannot encode the record: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("the store is closed")]
    Closed,
    #[error("the store is busy (write queue full); try again")]
    Busy,
    /// The database server could not be reached or did not answer in time.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}
