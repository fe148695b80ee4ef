//! The embedded SQLite backend: one file `dockhand.db` in the data directory, WAL mode,
//! `synchronous=FULL`, schema-versioned migrations, one writer thread that batches writes.
//!
//! Group commit: every write is a job on a bounded queue; the writer thread takes all the jobs
//! waiting (up to 512), runs them in one transaction, commits once and answers each job on its
//! own typed reply channel. Callers serialize their records before queueing, so the one writer
//! does only SQL. Reads use a second connection (WAL lets them run beside the writer) on the
//! blocking pool.
//!
//! Byte budget: after a batch that stored deliveries, the pages in use are compared with
//! `--max-store-bytes`; over it, the oldest deliveries are deleted in the same transaction until
//! about a tenth of the budget is free again (so pruning is not paid on every batch). The WAL is
//! kept to `WAL_LIMIT` after each checkpoint.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{mpsc, Arc};

use async_trait::async_trait;
use dockhand_core::warehouse_ref::WarehouseRef;
use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;

use super::sqlite_outbox as outbox;
use super::{
    delivery_record, Attempt, Delivery, DeliveryFilter, FreightFilter, FreightRecorded, NewFreight,
    NewNotification, NotificationFilter, NotificationRecord, ProviderClaim, Recorded, RefreshSeq,
    Store, StoreError, WarehouseState,
};

/// Migrations, applied in order; `user_version` records how many ran. Never edit one that has
/// shipped: add another.
const MIGRATIONS: &[&str] = &[
    // 1: deliveries, warehouse state, pending refreshes, freight.
    "CREATE TABLE deliveries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        received_at TEXT NOT NULL,
        project TEXT NOT NULL,
        receiver TEXT NOT NULL,
        body TEXT NOT NULL
     );
     CREATE INDEX deliveries_by_receiver ON deliveries (project, receiver, seq);
     CREATE TABLE warehouses (
        project TEXT NOT NULL,
        name TEXT NOT NULL,
        last_refresh_requested TEXT,
        last_reconcile_started TEXT,
        last_reconciled TEXT,
        reconcile_count INTEGER NOT NULL DEFAULT 0,
        refresh_count INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        PRIMARY KEY (project, name)
     );
     CREATE TABLE pending_refreshes (
        project TEXT NOT NULL,
        name TEXT NOT NULL,
        seq INTEGER NOT NULL,
        requested_at TEXT NOT NULL,
        PRIMARY KEY (project, name)
     );
     CREATE TABLE freight (
        id TEXT PRIMARY KEY,
        project TEXT NOT NULL,
        warehouse TEXT NOT NULL,
        created_at TEXT NOT NULL,
        body TEXT NOT NULL
     );
     CREATE INDEX freight_by_warehouse ON freight (project, warehouse, created_at);",
    // 2: the artifacts last discovered for each Warehouse, per subscription.
    "CREATE TABLE discoveries (
        project TEXT NOT NULL,
        warehouse TEXT NOT NULL,
        discovered_at TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (project, warehouse)
     );",
    // 3: the last pending-refresh sequence handed out, so sequences keep growing across restarts
    // even when nothing is pending (a restarted counter would let an old reconcile clear a new
    // request).
    "CREATE TABLE refresh_sequence (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        last INTEGER NOT NULL
     );
     INSERT INTO refresh_sequence (id, last)
        SELECT 1, COALESCE(MAX(seq), 0) FROM pending_refreshes;",
    // 4: Kargo mode: which refresh of which Warehouse each delivery asked for, and its fate
    // (the annotation token patched, when, when Kargo handled it, or why it was dropped).
    "CREATE TABLE refresh_links (
        delivery_id TEXT NOT NULL,
        project TEXT NOT NULL,
        name TEXT NOT NULL,
        seq INTEGER NOT NULL,
        token TEXT,
        patched_at TEXT,
        handled_at TEXT,
        error TEXT,
        PRIMARY KEY (delivery_id, project, name)
     );
     CREATE INDEX refresh_links_by_warehouse ON refresh_links (project, name, seq);",
    // 5: provider delivery ids claimed for de-duplication (a 16-byte digest each), so the
    // window survives a restart. Times are Unix seconds.
    "CREATE TABLE dedup_claims (
        key BLOB PRIMARY KEY,
        expires_at INTEGER NOT NULL
     );
     CREATE INDEX dedup_claims_by_expiry ON dedup_claims (expires_at);",
    // 6: the request each delivery kept (`--keep-payloads`) and the images it reported (the
    // replication view's index), both deleted with their delivery; `payload_bytes` lets the
    // byte budget count the payload without reading it.
    "ALTER TABLE deliveries ADD COLUMN payload_bytes INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE delivery_payloads (
        delivery_id TEXT PRIMARY KEY REFERENCES deliveries (id) ON DELETE CASCADE,
        headers TEXT NOT NULL,
        body BLOB NOT NULL,
        trimmed TEXT
     );
     CREATE TABLE artifact_reports (
        delivery_id TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
        repository TEXT NOT NULL,
        tag TEXT NOT NULL,
        digest TEXT
     );
     CREATE INDEX artifact_reports_by_artifact ON artifact_reports (repository, tag);
     CREATE INDEX artifact_reports_by_delivery ON artifact_reports (delivery_id);",
    // 7: the notification outbox (`sqlite_outbox.rs`).
    outbox::MIGRATION,
    // 8: the kept request moves into its delivery's row: one insert into one B-tree instead of
    // a second table and its primary-key index (and no cascade lookup when deliveries are
    // deleted). `payload_headers` is NULL when nothing was kept. The columns come after
    // `body`, so a record that spills to overflow pages still has its body in front.
    "ALTER TABLE deliveries ADD COLUMN payload_headers TEXT;
     ALTER TABLE deliveries ADD COLUMN payload_body BLOB;
     ALTER TABLE deliveries ADD COLUMN payload_trimmed TEXT;
     UPDATE deliveries SET (payload_headers, payload_body, payload_trimmed) =
        (SELECT headers, body, trimmed FROM delivery_payloads p WHERE p.delivery_id = deliveries.id)
        WHERE id IN (SELECT delivery_id FROM delivery_payloads);
     DROP TABLE delivery_payloads;",
    // 9: no index by (repository, tag): each delivery inserted one entry at a random place in
    // it (repositories are not in time order), a 4 KiB WAL frame and often a page read per
    // request, and ingest went 1.55x faster without it (BENCHMARKS.md). The replication view
    // walks the reports newest first instead and stops at its limit.
    "DROP INDEX artifact_reports_by_artifact;",
];

/// Writes waiting for the writer thread before callers are told the store is busy.
const WRITE_QUEUE: usize = 16_384;

/// Jobs the writer commits in one transaction at most.
const MAX_BATCH: usize = 512;

/// Size the WAL file is cut back to after a checkpoint (`journal_size_limit`): without it the
/// file keeps the size of the largest burst it ever held.
pub const WAL_LIMIT: u64 = 4 * 1024 * 1024;

/// The SQLite store; cheap to clone (clones share the writer thread and the reader).
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// `dockhand.lock`, locked exclusively while the store is open: a second server on the same
    /// data directory would keep its own de-duplication and rate-limit state and race this one.
    lock: Mutex<Option<std::fs::File>>,
    /// Kargo mode: record which refresh each delivery asked for (`refresh_links`).
    link_refreshes: std::sync::atomic::AtomicBool,
    writer: Mutex<Option<mpsc::SyncSender<Job>>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    reader: Mutex<Connection>,
}

/// Where the writer answers one job: each operation has its own result type.
type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// One write for the writer thread. The result of the operations that answer something is
/// filled in by `apply` (inside the transaction) and sent only after the commit.
enum Job {
    /// Insert a delivery (already serialized, by the caller's task rather than the one
    /// writer) and mark its Warehouses pending, atomically.
    Delivery {
        id: String,
        received_at: String,
        project: String,
        receiver: String,
        body: String,
        /// The kept request and the reported images, stored beside the record.
        payload: Option<delivery_record::EncodedPayload>,
        artifacts: Vec<super::ReportedArtifact>,
        refresh: Vec<WarehouseRef>,
        /// Also record each refresh against the delivery (Kargo mode).
        link: bool,
        /// The de-duplication claim (key, expiry in Unix seconds) that must be new for the
        /// delivery to be written; `recorded` says whether it was.
        claim: Option<([u8; 16], i64)>,
        recorded: Recorded,
        reply: Reply<Recorded>,
    },
    /// Kargo mode: the patch covering a Warehouse's requests up to `covered` landed or ended.
    KargoPatched {
        warehouse: WarehouseRef,
        covered: RefreshSeq,
        token: Option<String>,
        at: String,
        error: Option<String>,
        reply: Reply<()>,
    },
    /// Kargo mode: Kargo handled a Warehouse up to a token.
    KargoHandled {
        warehouse: WarehouseRef,
        last_handled: String,
        at: String,
        reply: Reply<()>,
    },
    /// Mark Warehouses pending (admin or interval refresh).
    Request {
        refresh: Vec<WarehouseRef>,
        at: String,
        reply: Reply<()>,
    },
    /// A reconcile started: answers the pending sequence it covers.
    Started {
        warehouse: WarehouseRef,
        at: String,
        covers: RefreshSeq,
        reply: Reply<RefreshSeq>,
    },
    /// A reconcile finished: clear pending up to `covered`, record the result.
    Finished {
        warehouse: WarehouseRef,
        covered: RefreshSeq,
        at: String,
        error: Option<String>,
        /// Outbox rows written when this is a new failure.
        notify: Vec<NewNotification>,
        reply: Reply<()>,
    },
    /// What a reconcile discovered, and the Freight it formed (kept once per id).
    Discovered {
        warehouse: WarehouseRef,
        at: String,
        body: String,
        freight: Option<NewFreight>,
        /// Outbox rows written when the Freight is new.
        notify: Vec<NewNotification>,
        recorded: FreightRecorded,
        reply: Reply<FreightRecorded>,
    },
    /// An outbox operation (`sqlite_outbox.rs`).
    Outbox {
        op: outbox::Op,
        answer: outbox::Answer,
        reply: Reply<outbox::Answer>,
    },
}

impl Job {
    /// Sends the job's result after its transaction committed.
    fn answer(self) {
        // A caller that stopped waiting (a dropped request) is no error of the store's.
        match self {
            Job::Delivery {
                recorded, reply, ..
            } => {
                let _ = reply.send(Ok(recorded));
            }
            Job::Request { reply, .. }
            | Job::KargoPatched { reply, .. }
            | Job::KargoHandled { reply, .. }
            | Job::Finished { reply, .. } => {
                let _ = reply.send(Ok(()));
            }
            Job::Started { covers, reply, .. } => {
                let _ = reply.send(Ok(covers));
            }
            Job::Discovered {
                recorded, reply, ..
            } => {
                let _ = reply.send(Ok(recorded));
            }
            Job::Outbox { answer, reply, .. } => {
                let _ = reply.send(Ok(answer));
            }
        }
    }

    /// Tells the caller its write was rolled back with the rest of the batch.
    fn fail(self, message: &str) {
        let err = || StoreError::Backend(message.to_string());
        match self {
            Job::Delivery { reply, .. } => {
                let _ = reply.send(Err(err()));
            }
            Job::Request { reply, .. }
            | Job::KargoPatched { reply, .. }
            | Job::KargoHandled { reply, .. }
            | Job::Finished { reply, .. } => {
                let _ = reply.send(Err(err()));
            }
            Job::Started { reply, .. } => {
                let _ = reply.send(Err(err()));
            }
            Job::Discovered { reply, .. } => {
                let _ = reply.send(Err(err()));
            }
            Job::Outbox { reply, .. } => {
                let _ = reply.send(Err(err()));
            }
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Backend(e.to_string())
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `dir`, keeping the newest `keep_deliveries`
    /// deliveries of each receiver and the database's records within `max_bytes`.
    pub fn open(
        dir: &Path,
        keep_deliveries: usize,
        max_bytes: u64,
    ) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with_queue(dir, keep_deliveries, max_bytes, WRITE_QUEUE)
    }

    fn open_with_queue(
        dir: &Path,
        keep_deliveries: usize,
        max_bytes: u64,
        write_queue: usize,
    ) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.display().to_string(),
            source,
        })?;
        // Say "not writable" plainly instead of letting SQLite report a cryptic open failure.
        let probe = dir.join(".dockhand-write-test");
        std::fs::write(&probe, b"")
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|source| StoreError::NotWritable {
                path: dir.display().to_string(),
                source,
            })?;
        let lock = lock_data_dir(dir)?;
        let path = dir.join("dockhand.db");
        let open_err = |e: rusqlite::Error| StoreError::Open {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        let mut writer = Connection::open(&path).map_err(open_err)?;
        writer
            .execute_batch(&format!(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;
                 PRAGMA busy_timeout=5000; PRAGMA journal_size_limit={WAL_LIMIT};"
            ))
            .map_err(open_err)?;
        migrate(&mut writer, &path)?;
        outbox::release_leases(&writer).map_err(open_err)?;
        let last_seq: i64 = writer
            .query_row("SELECT last FROM refresh_sequence WHERE id = 1", [], |r| {
                r.get(0)
            })
            .map_err(open_err)?;
        let reader = Connection::open(&path).map_err(open_err)?;
        reader
            .execute_batch("PRAGMA busy_timeout=5000;")
            .map_err(open_err)?;

        // Bounded: when the disk cannot keep up, callers get `Busy` (503, the sender retries)
        // instead of an ever-growing queue.
        let (tx, rx) = mpsc::sync_channel::<Job>(write_queue);
        let writer_state = Writer {
            conn: writer,
            last_seq: last_seq as u64,
            keep: keep_deliveries,
            max_bytes,
            unpruned: HashMap::new(),
        };
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer_state.run(rx))
            .map_err(|source| StoreError::NotWritable {
                path: dir.display().to_string(),
                source,
            })?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                lock: Mutex::new(Some(lock)),
                link_refreshes: std::sync::atomic::AtomicBool::new(false),
                writer: Mutex::new(Some(tx)),
                writer_thread: Mutex::new(Some(handle)),
                reader: Mutex::new(reader),
            }),
        })
    }

    /// Queues a job and waits for its answer. `Busy` when the queue is full, `Closed` after
    /// `close`.
    async fn submit<T>(
        &self,
        job: Job,
        answer: oneshot::Receiver<Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        {
            let guard = self.inner.writer.lock();
            let tx = guard.as_ref().ok_or(StoreError::Closed)?;
            tx.try_send(job).map_err(|e| match e {
                mpsc::TrySendError::Full(_) => StoreError::Busy,
                mpsc::TrySendError::Disconnected(_) => StoreError::Closed,
            })?;
        }
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn submit_delivery(
        &self,
        delivery: Delivery,
        refresh: Vec<WarehouseRef>,
        claim: Option<([u8; 16], i64)>,
    ) -> Result<Recorded, StoreError> {
        let mut delivery = delivery;
        // The record's encoding copies neither the request nor the delivery: only the four
        // keys below are copied.
        let payload = delivery_record::take_payload(&mut delivery)?;
        let artifacts = delivery_record::capped_artifacts(&delivery);
        let (id, received_at, project, receiver) = (
            delivery.id.clone(),
            delivery.received_at.clone(),
            delivery.project.clone(),
            delivery.receiver.clone(),
        );
        let body = delivery_record::encode_owned(delivery)?;
        let (reply, answer) = oneshot::channel();
        let job = Job::Delivery {
            id,
            received_at,
            project,
            receiver,
            body,
            payload,
            artifacts,
            refresh,
            link: self
                .inner
                .link_refreshes
                .load(std::sync::atomic::Ordering::Relaxed),
            claim,
            recorded: Recorded::Stored,
            reply,
        };
        self.submit(job, answer).await
    }

    /// Runs one outbox operation on the writer.
    async fn outbox(&self, op: outbox::Op) -> Result<outbox::Answer, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Outbox {
            op,
            answer: outbox::Answer::Done,
            reply,
        };
        self.submit(job, answer).await
    }

    /// Runs `f` on the reader connection, on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner.reader.lock();
            f(&conn).map_err(StoreError::from)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("read task failed: {e}")))?
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn record_delivery(
        &self,
        delivery: Delivery,
        refresh: Vec<WarehouseRef>,
    ) -> Result<(), StoreError> {
        self.submit_delivery(delivery, refresh, None).await?;
        Ok(())
    }

    async fn record_delivery_once(
        &self,
        delivery: Delivery,
        refresh: Vec<WarehouseRef>,
        claim: ProviderClaim,
    ) -> Result<Recorded, StoreError> {
        // Wall-clock seconds, not a monotonic clock: the window must outlive the process.
        let expires = unix_now() + claim.window.as_secs().max(1) as i64;
        self.submit_delivery(delivery, refresh, Some((claim.key, expires)))
            .await
    }

    async fn request_refresh(
        &self,
        refresh: Vec<WarehouseRef>,
        at: String,
    ) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Request { refresh, at, reply }, answer)
            .await
    }

    async fn reconcile_started(
        &self,
        warehouse: &WarehouseRef,
        at: String,
    ) -> Result<RefreshSeq, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Started {
            warehouse: warehouse.clone(),
            at,
            covers: RefreshSeq::NONE,
            reply,
        };
        self.submit(job, answer).await
    }

    async fn discovery(
        &self,
        warehouse: &WarehouseRef,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let w = warehouse.clone();
        self.read(move |c| {
            let body: Option<String> = c
                .query_row(
                    "SELECT body FROM discoveries WHERE project = ?1 AND warehouse = ?2",
                    params![w.project, w.name],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(body.and_then(|b| serde_json::from_str(&b).ok()))
        })
        .await
    }

    async fn deliveries(&self, filter: DeliveryFilter) -> Result<Vec<Delivery>, StoreError> {
        let limit = if filter.limit == 0 { 100 } else { filter.limit };
        self.read(move |c| {
            let mut sql = String::from("SELECT body FROM deliveries WHERE 1=1");
            let mut args: Vec<String> = Vec::new();
            if let Some(p) = &filter.project {
                args.push(p.clone());
                sql.push_str(&format!(" AND project = ?{}", args.len()));
            }
            if let Some(r) = &filter.receiver {
                args.push(r.clone());
                sql.push_str(&format!(" AND receiver = ?{}", args.len()));
            }
            if let Some(q) = &filter.query {
                // A substring, not a pattern: escape LIKE's wildcards and the escape itself.
                let escaped = q
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                args.push(format!("%{escaped}%"));
                sql.push_str(&format!(
                    " AND json_extract(body, '$.query') LIKE ?{} ESCAPE '\\'",
                    args.len()
                ));
            }
            sql.push_str(&format!(" ORDER BY seq DESC LIMIT {limit}"));
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), |r| {
                r.get::<_, String>(0)
            })?;
            let mut out = Vec::new();
            for row in rows {
                if let Ok(d) = delivery_record::decode(&row?) {
                    out.push(d);
                }
            }
            attach_refreshes(c, &mut out)?;
            Ok(out)
        })
        .await
    }

    async fn delivery(&self, id: &str) -> Result<Option<Delivery>, StoreError> {
        let id = id.to_string();
        self.read(move |c| {
            let body: Option<String> = c
                .prepare_cached("SELECT body FROM deliveries WHERE id = ?1")?
                .query_row([&id], |r| r.get(0))
                .optional()?;
            // A body this version cannot read is left out, as `deliveries` leaves it out.
            let mut found: Vec<Delivery> = body
                .and_then(|b| delivery_record::decode(&b).ok())
                .into_iter()
                .collect();
            attach_refreshes(c, &mut found)?;
            Ok(found.pop())
        })
        .await
    }

    async fn payload(&self, id: &str) -> Result<Option<super::Payload>, StoreError> {
        let id = id.to_string();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT payload_headers, payload_body, payload_trimmed FROM deliveries
                 WHERE id = ?1 AND payload_headers IS NOT NULL",
            )?
            .query_row([&id], |r| {
                Ok(delivery_record::decode_payload(
                    &r.get::<_, String>(0)?,
                    r.get(1)?,
                    r.get(2)?,
                ))
            })
            .optional()
        })
        .await
    }

    async fn artifact_reports(
        &self,
        filter: super::ArtifactFilter,
    ) -> Result<Vec<super::ArtifactReport>, StoreError> {
        let limit = if filter.limit == 0 { 100 } else { filter.limit } as i64;
        self.read(move |c| {
            // No index by repository (migration 9): the reports are walked newest first, by
            // rowid, which follows the deliveries' order (written with their delivery in one
            // transaction; only the oldest are ever deleted), so the walk stops at the limit.
            let mut stmt = c.prepare_cached(
                "SELECT d.id, d.received_at, d.project, d.receiver, json_extract(d.body, '$.query'),
                        a.repository, a.tag, a.digest
                 FROM artifact_reports a JOIN deliveries d ON d.id = a.delivery_id
                 WHERE a.repository = ?1 AND (?2 IS NULL OR a.tag = ?2)
                 ORDER BY a.rowid DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![filter.repository, filter.tag, limit], |r| {
                Ok(super::ArtifactReport {
                    delivery_id: r.get(0)?,
                    received_at: r.get(1)?,
                    project: r.get(2)?,
                    receiver: r.get(3)?,
                    query: r.get(4)?,
                    artifact: super::ReportedArtifact {
                        repository: r.get(5)?,
                        tag: Some(r.get::<_, String>(6)?).filter(|t| !t.is_empty()),
                        digest: r.get(7)?,
                    },
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn pending(&self) -> Result<Vec<WarehouseRef>, StoreError> {
        self.read(|c| {
            let mut stmt =
                c.prepare("SELECT project, name FROM pending_refreshes ORDER BY requested_at")?;
            let rows = stmt.query_map([], |r| {
                Ok(WarehouseRef {
                    project: r.get(0)?,
                    name: r.get(1)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn warehouse_states(&self) -> Result<Vec<WarehouseState>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT w.project, w.name, w.last_refresh_requested, w.last_reconcile_started,
                        w.last_reconciled, p.seq IS NOT NULL, w.reconcile_count, w.refresh_count,
                        w.last_error
                 FROM warehouses w LEFT JOIN pending_refreshes p
                   ON p.project = w.project AND p.name = w.name",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(WarehouseState {
                    warehouse: WarehouseRef {
                        project: r.get(0)?,
                        name: r.get(1)?,
                    },
                    last_refresh_requested: r.get(2)?,
                    last_reconcile_started: r.get(3)?,
                    last_reconciled: r.get(4)?,
                    pending: r.get(5)?,
                    reconcile_count: r.get::<_, i64>(6)? as u64,
                    refresh_count: r.get::<_, i64>(7)? as u64,
                    last_error: r.get(8)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn freight(&self, filter: FreightFilter) -> Result<Vec<serde_json::Value>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT body FROM freight
                 WHERE (?1 IS NULL OR project = ?1) AND (?2 IS NULL OR warehouse = ?2)
                 ORDER BY created_at DESC, id",
            )?;
            let rows = stmt.query_map(params![filter.project, filter.warehouse], |r| {
                r.get::<_, String>(0)
            })?;
            let mut out = Vec::new();
            for row in rows {
                if let Ok(v) = serde_json::from_str(&row?) {
                    out.push(v);
                }
            }
            Ok(out)
        })
        .await
    }

    fn link_refreshes(&self) {
        self.inner
            .link_refreshes
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    async fn kargo_patched(
        &self,
        warehouse: &WarehouseRef,
        covered: RefreshSeq,
        token: Option<String>,
        at: String,
        error: Option<String>,
    ) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job::KargoPatched {
            warehouse: warehouse.clone(),
            covered,
            token,
            at,
            error,
            reply,
        };
        self.submit(job, answer).await
    }

    async fn kargo_handled(
        &self,
        warehouse: &WarehouseRef,
        last_handled: String,
        at: String,
    ) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job::KargoHandled {
            warehouse: warehouse.clone(),
            last_handled,
            at,
            reply,
        };
        self.submit(job, answer).await
    }

    async fn kargo_outstanding(&self) -> Result<Vec<(WarehouseRef, String)>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT DISTINCT project, name, token FROM refresh_links
                 WHERE token IS NOT NULL AND handled_at IS NULL",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    WarehouseRef::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                    r.get(2)?,
                ))
            })?;
            rows.collect()
        })
        .await
    }

    async fn record_discovery_notifying(
        &self,
        warehouse: &WarehouseRef,
        at: String,
        body: String,
        freight: Option<NewFreight>,
        notify: Vec<NewNotification>,
    ) -> Result<FreightRecorded, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Discovered {
            warehouse: warehouse.clone(),
            at,
            body,
            freight,
            notify,
            recorded: FreightRecorded::NoFreight,
            reply,
        };
        self.submit(job, answer).await
    }

    async fn reconcile_finished_notifying(
        &self,
        warehouse: &WarehouseRef,
        covered: RefreshSeq,
        at: String,
        error: Option<String>,
        notify: Vec<NewNotification>,
    ) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Finished {
            warehouse: warehouse.clone(),
            covered,
            at,
            error,
            notify,
            reply,
        };
        self.submit(job, answer).await
    }

    async fn enqueue_notifications(&self, notify: Vec<NewNotification>) -> Result<(), StoreError> {
        self.outbox(outbox::Op::Enqueue(notify)).await?;
        Ok(())
    }

    async fn claim_notifications(
        &self,
        owner: &str,
        lease: std::time::Duration,
        limit: usize,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        // The sender asks twice a second: when nothing is due, answer from the reader rather
        // than take a turn of the one writer that deliveries wait for.
        if !self.read(outbox::any_due).await? {
            return Ok(Vec::new());
        }
        let op = outbox::Op::Claim {
            owner: owner.to_string(),
            lease_ms: lease.as_millis() as i64,
            limit,
        };
        match self.outbox(op).await? {
            outbox::Answer::Claimed(rows) => Ok(rows),
            outbox::Answer::Done => Ok(Vec::new()),
        }
    }

    async fn notification_attempted(
        &self,
        id: &str,
        owner: &str,
        attempt: Attempt,
    ) -> Result<(), StoreError> {
        let op = outbox::Op::Attempted {
            id: id.to_string(),
            owner: owner.to_string(),
            attempt,
        };
        self.outbox(op).await?;
        Ok(())
    }

    async fn notifications(
        &self,
        filter: NotificationFilter,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        self.read(move |c| outbox::list(c, &filter)).await
    }

    async fn stored_bytes(&self) -> Result<u64, StoreError> {
        self.read(|c| used_bytes(c).map(|b| b.max(0) as u64)).await
    }

    async fn close(&self) {
        // Dropping the sender ends the writer's loop once it has drained the queue.
        self.inner.writer.lock().take();
        let handle = self.inner.writer_thread.lock().take();
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
        // Everything is written: another process may have the directory now.
        self.inner.lock.lock().take();
    }
}

/// Takes the data directory's lock, or says who holds it. The kernel releases it when the
/// process ends however it ends, so a crash never leaves a stale lock behind.
fn lock_data_dir(dir: &Path) -> Result<std::fs::File, StoreError> {
    let path = dir.join("dockhand.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| StoreError::NotWritable {
            path: dir.display().to_string(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse {
            path: dir.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(StoreError::NotWritable {
            path: dir.display().to_string(),
            source,
        }),
    }
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let open_err = |e: rusqlite::Error| StoreError::Open {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(open_err)?;
    let supported = MIGRATIONS.len() as i64;
    if version > supported {
        return Err(StoreError::TooNew {
            path: path.display().to_string(),
            found: version,
            supported,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction().map_err(open_err)?;
        tx.execute_batch(sql).map_err(open_err)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
            .map_err(open_err)?;
        tx.commit().map_err(open_err)?;
    }
    Ok(())
}

/// The writer thread's state: its connection, the last pending-refresh sequence handed out
/// (mirrored in `refresh_sequence`, written once per batch that used it), and the deliveries
/// recorded per receiver since its last pruning.
struct Writer {
    conn: Connection,
    last_seq: u64,
    keep: usize,
    max_bytes: u64,
    unpruned: HashMap<(String, String), usize>,
}

impl Writer {
    /// Takes every job waiting, runs them in one transaction, commits, answers each.
    fn run(mut self, rx: mpsc::Receiver<Job>) {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            match self.run_batch(&mut batch) {
                Ok(()) => batch.into_iter().for_each(Job::answer),
                Err(e) => {
                    let message = e.to_string();
                    for job in batch {
                        job.fail(&message);
                    }
                }
            }
        }
    }

    fn run_batch(&mut self, batch: &mut [Job]) -> rusqlite::Result<()> {
        let seq_before = self.last_seq;
        let tx = self.conn.transaction()?;
        let stores_deliveries = batch.iter().any(|j| matches!(j, Job::Delivery { .. }));
        for job in batch.iter_mut() {
            apply(&tx, job, &mut self.last_seq, &mut self.unpruned)?;
        }
        if batch
            .iter()
            .any(|j| matches!(j, Job::Delivery { claim: Some(_), .. }))
        {
            // Expired claims, found by the expiry index: the cost is the rows removed.
            tx.prepare_cached("DELETE FROM dedup_claims WHERE expires_at <= ?1")?
                .execute(params![unix_now()])?;
        }
        if self.last_seq != seq_before {
            tx.prepare_cached("UPDATE refresh_sequence SET last = ?1 WHERE id = 1")?
                .execute(params![self.last_seq as i64])?;
        }
        // Retention: keep the newest `keep` deliveries of each receiver. Finding the cut-off
        // walks `keep` index entries, so it runs once per 1% of `keep` new deliveries of a
        // receiver rather than in every batch (profiled: at 10,000 kept it dominated the writer
        // under load); a receiver holds at most `keep + keep / 100` deliveries in between.
        let step = (self.keep / 100).max(1);
        for ((project, receiver), n) in self.unpruned.iter_mut() {
            if *n < step {
                continue;
            }
            tx.prepare_cached(
                "DELETE FROM deliveries WHERE project = ?1 AND receiver = ?2 AND seq <= (
                    SELECT seq FROM deliveries WHERE project = ?1 AND receiver = ?2
                    ORDER BY seq DESC LIMIT 1 OFFSET ?3)",
            )?
            .execute(params![project, receiver, self.keep as i64])?;
            tx.prepare_cached(
                "DELETE FROM refresh_links WHERE delivery_id NOT IN (SELECT id FROM deliveries)",
            )?
            .execute([])?;
            *n = 0;
        }
        if stores_deliveries {
            keep_within_budget(&tx, self.max_bytes)?;
        }
        tx.commit()
    }
}

/// Runs one job's SQL inside the batch's transaction, filling in its result.
fn apply(
    tx: &rusqlite::Transaction<'_>,
    job: &mut Job,
    last_seq: &mut u64,
    unpruned: &mut HashMap<(String, String), usize>,
) -> rusqlite::Result<()> {
    match *job {
        Job::Delivery {
            ref id,
            ref received_at,
            ref project,
            ref receiver,
            ref body,
            ref payload,
            ref artifacts,
            ref refresh,
            link,
            ref claim,
            ref mut recorded,
            ..
        } => {
            if let Some((key, expires)) = claim {
                tx.prepare_cached("DELETE FROM dedup_claims WHERE key = ?1 AND expires_at <= ?2")?
                    .execute(params![&key[..], unix_now()])?;
                let claimed = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO dedup_claims (key, expires_at) VALUES (?1, ?2)",
                    )?
                    .execute(params![&key[..], expires])?;
                if claimed == 0 {
                    *recorded = Recorded::Duplicate;
                    return Ok(());
                }
            }
            let payload_bytes = payload.as_ref().map_or(0, |p| p.bytes);
            tx.prepare_cached(
                "INSERT INTO deliveries (id, received_at, project, receiver, body, payload_bytes,
                    payload_headers, payload_body, payload_trimmed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                id,
                received_at,
                project,
                receiver,
                body,
                payload_bytes,
                payload.as_ref().map(|p| &p.headers),
                payload.as_ref().map(|p| &p.body),
                payload.as_ref().and_then(|p| p.trimmed.as_ref()),
            ])?;
            for a in artifacts {
                tx.prepare_cached(
                    "INSERT INTO artifact_reports (delivery_id, repository, tag, digest)
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![
                    id,
                    a.repository,
                    a.tag.as_deref().unwrap_or(""),
                    a.digest
                ])?;
            }
            *unpruned
                .entry((project.clone(), receiver.clone()))
                .or_default() += 1;
            let first = *last_seq + 1;
            mark_pending(tx, refresh, received_at, last_seq)?;
            if link {
                // mark_pending hands out one sequence per Warehouse, in order.
                for (w, seq) in refresh.iter().zip(first..) {
                    tx.prepare_cached(
                        "INSERT OR IGNORE INTO refresh_links (delivery_id, project, name, seq)
                         VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![id, w.project, w.name, seq as i64])?;
                }
            }
        }
        Job::KargoPatched {
            ref warehouse,
            covered,
            ref token,
            ref at,
            ref error,
            ..
        } => {
            tx.prepare_cached(
                "UPDATE refresh_links SET token = ?4, patched_at = ?5, error = ?6
                 WHERE project = ?1 AND name = ?2 AND seq <= ?3
                   AND token IS NULL AND error IS NULL",
            )?
            .execute(params![
                warehouse.project,
                warehouse.name,
                covered.0 as i64,
                token,
                token.as_ref().map(|_| at),
                error
            ])?;
        }
        Job::KargoHandled {
            ref warehouse,
            ref last_handled,
            ref at,
            ..
        } => {
            tx.prepare_cached(
                "UPDATE refresh_links SET handled_at = ?4
                 WHERE project = ?1 AND name = ?2 AND token IS NOT NULL AND token <= ?3
                   AND handled_at IS NULL",
            )?
            .execute(params![warehouse.project, warehouse.name, last_handled, at])?;
        }
        Job::Request {
            ref refresh,
            ref at,
            ..
        } => mark_pending(tx, refresh, at, last_seq)?,
        Job::Started {
            ref warehouse,
            ref at,
            ref mut covers,
            ..
        } => {
            upsert_warehouse(tx, warehouse)?;
            tx.prepare_cached(
                "UPDATE warehouses SET last_reconcile_started = ?3
                 WHERE project = ?1 AND name = ?2",
            )?
            .execute(params![warehouse.project, warehouse.name, at])?;
            let seq: Option<i64> = tx
                .prepare_cached(
                    "SELECT seq FROM pending_refreshes WHERE project = ?1 AND name = ?2",
                )?
                .query_row(params![warehouse.project, warehouse.name], |r| r.get(0))
                .optional()?;
            *covers = RefreshSeq(seq.unwrap_or(0) as u64);
        }
        Job::Finished {
            ref warehouse,
            ref covered,
            ref at,
            ref error,
            ref notify,
            ..
        } => {
            if error.is_some()
                && !notify.is_empty()
                && outbox::last_reconcile_succeeded(tx, &warehouse.project, &warehouse.name)?
            {
                outbox::insert(tx, notify)?;
            }
            upsert_warehouse(tx, warehouse)?;
            tx.prepare_cached(
                "UPDATE warehouses SET last_reconciled = ?3, last_error = ?4,
                    reconcile_count = reconcile_count + 1
                 WHERE project = ?1 AND name = ?2",
            )?
            .execute(params![warehouse.project, warehouse.name, at, error])?;
            tx.prepare_cached(
                "DELETE FROM pending_refreshes WHERE project = ?1 AND name = ?2 AND seq <= ?3",
            )?
            .execute(params![warehouse.project, warehouse.name, covered.0 as i64])?;
        }
        Job::Discovered {
            ref warehouse,
            ref at,
            ref body,
            ref freight,
            ref notify,
            ref mut recorded,
            ..
        } => {
            tx.prepare_cached(
                "INSERT INTO discoveries (project, warehouse, discovered_at, body)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (project, warehouse) DO UPDATE
                 SET discovered_at = excluded.discovered_at, body = excluded.body",
            )?
            .execute(params![warehouse.project, warehouse.name, at, body])?;
            *recorded = match freight {
                Some(f) => {
                    let inserted = tx
                        .prepare_cached(
                            "INSERT OR IGNORE INTO freight (id, project, warehouse, created_at, body)
                             VALUES (?1, ?2, ?3, ?4, ?5)",
                        )?
                        .execute(params![
                            f.id,
                            warehouse.project,
                            warehouse.name,
                            f.created_at,
                            f.body
                        ])?;
                    if inserted > 0 {
                        FreightRecorded::New
                    } else {
                        FreightRecorded::AlreadyRecorded
                    }
                }
                None => FreightRecorded::NoFreight,
            };
            if *recorded == FreightRecorded::New {
                outbox::insert(tx, notify)?;
            }
        }
        Job::Outbox {
            ref op,
            ref mut answer,
            ..
        } => *answer = outbox::apply(tx, op)?,
    }
    Ok(())
}

/// Fills in `refreshes` of each delivery from `refresh_links` (Kargo mode; empty otherwise).
fn attach_refreshes(c: &Connection, deliveries: &mut [Delivery]) -> rusqlite::Result<()> {
    let mut stmt = c.prepare_cached(
        "SELECT project, name, token, patched_at, handled_at, error
         FROM refresh_links WHERE delivery_id = ?1 ORDER BY project, name",
    )?;
    for d in deliveries {
        let rows = stmt.query_map([&d.id], |r| {
            Ok(super::RefreshRecord {
                warehouse: format!("{}/{}", r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                token: r.get(2)?,
                patched_at: r.get(3)?,
                handled_at: r.get(4)?,
                error: r.get(5)?,
            })
        })?;
        d.refreshes = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    }
    Ok(())
}

/// Bytes of the database's pages in use (free pages are reused before the file grows).
fn used_bytes(c: &Connection) -> rusqlite::Result<i64> {
    let pragma = |name: &str| c.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0));
    Ok((pragma("page_count")? - pragma("freelist_count")?) * pragma("page_size")?)
}

/// Deletes the oldest deliveries while the database is over `max_bytes`, down to nine tenths
/// of it. Only deliveries: pending refreshes, Warehouse state, discoveries and Freight are what
/// the service runs on. The newest delivery is always kept.
fn keep_within_budget(tx: &rusqlite::Transaction<'_>, max_bytes: u64) -> rusqlite::Result<()> {
    let used = used_bytes(tx)?.max(0) as u64;
    if used <= max_bytes {
        return Ok(());
    }
    let to_free = used - max_bytes / 10 * 9;
    let mut cutoff: Option<i64> = None;
    {
        // A row costs its body plus its keys and index entries (about 200 bytes).
        let mut stmt = tx.prepare_cached(
            "SELECT seq, length(CAST(body AS BLOB)) + payload_bytes + length(id) * 2 + 200
             FROM deliveries
             WHERE seq < (SELECT MAX(seq) FROM deliveries) ORDER BY seq",
        )?;
        let mut rows = stmt.query([])?;
        let mut freed: u64 = 0;
        while let Some(row) = rows.next()? {
            cutoff = Some(row.get(0)?);
            freed += row.get::<_, i64>(1)?.max(0) as u64;
            if freed >= to_free {
                break;
            }
        }
    }
    if let Some(seq) = cutoff {
        let deleted = tx
            .prepare_cached("DELETE FROM deliveries WHERE seq <= ?1")?
            .execute(params![seq])?;
        tx.prepare_cached(
            "DELETE FROM refresh_links WHERE delivery_id NOT IN (SELECT id FROM deliveries)",
        )?
        .execute([])?;
        tracing::info!(
            deleted,
            used,
            max_bytes,
            "store over --max-store-bytes: deleted the oldest deliveries"
        );
    }
    Ok(())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn upsert_warehouse(tx: &rusqlite::Transaction<'_>, w: &WarehouseRef) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT OR IGNORE INTO warehouses (project, name) VALUES (?1, ?2)")?
        .execute(params![w.project, w.name])?;
    Ok(())
}

fn mark_pending(
    tx: &rusqlite::Transaction<'_>,
    refresh: &[WarehouseRef],
    at: &str,
    last_seq: &mut u64,
) -> rusqlite::Result<()> {
    for w in refresh {
        *last_seq += 1;
        tx.prepare_cached(
            "INSERT INTO warehouses (project, name, last_refresh_requested, refresh_count)
             VALUES (?1, ?2, ?3, 1)
             ON CONFLICT (project, name) DO UPDATE
             SET last_refresh_requested = excluded.last_refresh_requested,
                 refresh_count = refresh_count + 1",
        )?
        .execute(params![w.project, w.name, at])?;
        tx.prepare_cached(
            "INSERT INTO pending_refreshes (project, name, seq, requested_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (project, name) DO UPDATE SET seq = excluded.seq",
        )?
        .execute(params![w.project, w.name, *last_seq as i64, at])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract::{store_contract, Harness};

    /// SQLite storage in a temporary directory.
    struct SqliteHarness {
        dir: tempfile::TempDir,
    }

    impl SqliteHarness {
        fn new() -> SqliteHarness {
            SqliteHarness {
                dir: tempfile::tempdir().expect("temporary directory"),
            }
        }

        fn connect(&self) -> Connection {
            Connection::open(self.dir.path().join("dockhand.db")).expect("open the database")
        }
    }

    #[async_trait]
    impl Harness for SqliteHarness {
        async fn open_with_budget(
            &self,
            keep_deliveries: usize,
            max_bytes: u64,
        ) -> Result<Arc<dyn Store>, StoreError> {
            // A short queue, so that the busy check fills it in a few writes.
            let store =
                SqliteStore::open_with_queue(self.dir.path(), keep_deliveries, max_bytes, 4)?;
            Ok(Arc::new(store))
        }

        async fn write_schema_version(&self, version: i64) {
            self.connect()
                .execute_batch(&format!("PRAGMA user_version = {version}"))
                .expect("set user_version");
        }

        async fn hold_writes(&self) -> Option<Box<dyn Send>> {
            // Another connection holding the write lock stalls the writer thread (it waits in
            // SQLite's busy handler), so submitted writes stay queued.
            let conn = self.connect();
            conn.execute_batch("BEGIN IMMEDIATE")
                .expect("take the write lock");
            Some(Box::new(conn))
        }
    }

    store_contract!(SqliteHarness::new());

    #[tokio::test]
    async fn pending_sequences_of_a_version_2_database_carry_over() {
        let h = SqliteHarness::new();
        {
            let conn = h.connect();
            for sql in &MIGRATIONS[..2] {
                conn.execute_batch(sql).expect("old migration");
            }
            conn.execute_batch(
                "PRAGMA user_version = 2;
                 INSERT INTO pending_refreshes (project, name, seq, requested_at)
                 VALUES ('a', 'old', 7, '2026-11-26T10:00:00.000Z');",
            )
            .expect("old pending refresh");
        }
        let store = h.open(100).await.expect("open and migrate");
        let new = WarehouseRef::new("a", "new");
        store
            .request_refresh(vec![new.clone()], "2026-11-26T10:00:01.000Z".into())
            .await
            .expect("request");
        let seq = store
            .reconcile_started(&new, "2026-11-26T10:00:02.000Z".into())
            .await
            .expect("started");
        assert_eq!(seq, RefreshSeq(8));
        store.close().await;
    }

    #[tokio::test]
    async fn a_version_7_database_keeps_its_payloads_and_artifact_reports() {
        let h = SqliteHarness::new();
        {
            let conn = h.connect();
            for sql in &MIGRATIONS[..7] {
                conn.execute_batch(sql).expect("old migration");
            }
            conn.execute_batch(
                "PRAGMA user_version = 7;
                 INSERT INTO deliveries (id, received_at, project, receiver, body, payload_bytes)
                 VALUES ('kept', '2026-11-26T10:00:00.000Z', 'a', 'r', '{}', 12),
                        ('bare', '2026-11-26T10:00:01.000Z', 'a', 'r', '{}', 0);
                 INSERT INTO delivery_payloads (delivery_id, headers, body, trimmed)
                 VALUES ('kept', '[[\"content-type\",\"application/json\"]]',
                         CAST('{\"a\":1}' AS BLOB), 'text');
                 INSERT INTO artifact_reports (delivery_id, repository, tag, digest)
                 VALUES ('kept', 'example.com/app', '1.0.0', NULL),
                        ('bare', 'example.com/app', '1.0.1', NULL);",
            )
            .expect("old deliveries");
        }
        let store = h.open(100).await.expect("open and migrate");
        let kept = store
            .payload("kept")
            .await
            .expect("read")
            .expect("the kept payload carried over");
        assert_eq!(kept.body, b"{\"a\":1}".to_vec());
        assert_eq!(kept.trimmed.as_deref(), Some("text"));
        assert_eq!(
            kept.headers,
            vec![("content-type".to_string(), "application/json".to_string())]
        );
        assert!(store.payload("bare").await.expect("read").is_none());
        // Migration 9 drops the reports' index; the view still finds them, newest first.
        let reports = store
            .artifact_reports(crate::store::ArtifactFilter {
                repository: "example.com/app".to_string(),
                tag: None,
                limit: 0,
            })
            .await
            .expect("reports");
        let ids: Vec<&str> = reports.iter().map(|r| r.delivery_id.as_str()).collect();
        assert_eq!(ids, ["bare", "kept"]);
        store.close().await;
        let tables: i64 = h
            .connect()
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'delivery_payloads'",
                [],
                |r| r.get(0),
            )
            .expect("schema");
        assert_eq!(tables, 0, "the old table is gone");
    }
}
