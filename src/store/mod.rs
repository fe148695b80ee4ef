//! Durable state: deliveries, Warehouse state, pending refreshes and Freight. This module is the
//! storage interface the rest of the service uses; `sqlite` is its embedded backend (a PostgreSQL
//! backend for several replicas implements the same methods next).
//!
//! Invariant: a write the caller awaited is committed with `synchronous=FULL` in WAL mode, so it
//! survives a crash of the process or the machine. Writes from many requests are grouped into one
//! transaction by a single writer thread (group commit), so durability does not cost one fsync
//! per webhook.

mod kargo;
mod sqlite;

pub use kargo::RefreshRecord;
pub use sqlite::{NewFreight, Store};

use serde::Serialize;

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
    pub source: String,
    pub event_type: Option<String>,
    pub provider_id: Option<String>,
    /// The query string of the receiver URL (`region=westus`), without the `?`.
    pub query: Option<String>,
    /// HTTP status returned.
    pub status: u16,
    /// `refreshed`, `unmatched`, `ignored`, `ping`, `handshake`, `rejected`.
    pub outcome: String,
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
    pub project: String,
    pub name: String,
    pub last_refresh_requested: Option<String>,
    pub last_reconcile_started: Option<String>,
    pub last_reconciled: Option<String>,
    pub pending: bool,
    pub reconcile_count: u64,
    pub refresh_count: u64,
    pub last_error: Option<String>,
}

/// Errors of the store. Messages name the database file and what failed.
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
    #[error("database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("database {path} has schema version {found}, newer than this dockhand ({supported}); upgrade dockhand")]
    TooNew {
        path: String,
        found: i64,
        supported: i64,
    },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("the store is closed")]
    Closed,
    #[error("the store is busy (write queue full); try again")]
    Busy,
}
