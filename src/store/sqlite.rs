//! The embedded SQLite backend: one file `dockhand.db` in the data directory, WAL mode,
//! `synchronous=FULL`, schema-versioned migrations, one writer thread that batches writes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;

use super::{Delivery, DeliveryFilter, StoreError, WarehouseState};

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
    // 3: Kargo mode: which refresh of which Warehouse each delivery asked for, and its fate
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
];

/// Writes waiting for the writer thread before callers are told the store is busy.
const WRITE_QUEUE: usize = 16_384;

/// A handle on the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    /// Kargo mode: record which refresh each delivery asked for (`refresh_links`).
    link_refreshes: std::sync::atomic::AtomicBool,
    writer: Mutex<Option<mpsc::SyncSender<Job>>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    reader: Mutex<Connection>,
}

type Reply = oneshot::Sender<Result<Vec<u64>, String>>;

struct Job {
    op: Op,
    reply: Reply,
}

enum Op {
    /// Insert a delivery (already serialized, by the caller's thread rather than the one
    /// writer) and mark its Warehouses pending, atomically.
    Delivery {
        id: String,
        received_at: String,
        project: String,
        receiver: String,
        body: String,
        refresh: Vec<(String, String)>,
        /// Also record each refresh against the delivery (Kargo mode).
        link: bool,
    },
    /// Mark Warehouses pending (admin refresh). Replies with each one's pending sequence.
    Request {
        refresh: Vec<(String, String)>,
        at: String,
    },
    /// A reconcile started: replies with the pending sequence it covers (0 when none).
    Started {
        project: String,
        name: String,
        at: String,
    },
    /// A reconcile finished: clear pending up to `seq`, record the result.
    Finished {
        project: String,
        name: String,
        seq: u64,
        at: String,
        error: Option<String>,
    },
    /// What a reconcile discovered, and the Freight it formed (kept once per id). Replies with
    /// 1 when the Freight is new.
    Discovered {
        project: String,
        name: String,
        at: String,
        body: String,
        freight: Option<NewFreight>,
    },
    /// Statements owned by another module of the store (`kargo.rs`), run in the batch's
    /// transaction like any other write.
    Exec(Exec),
}

/// A write run by the writer thread inside its transaction.
pub(super) type Exec = Box<dyn Fn(&rusqlite::Transaction<'_>) -> rusqlite::Result<Vec<u64>> + Send>;

/// A Freight to record: its id, creation time and JSON document.
#[derive(Debug, Clone)]
pub struct NewFreight {
    pub id: String,
    pub created_at: String,
    pub body: String,
}

impl Store {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path, keep_deliveries: usize) -> Result<Store, StoreError> {
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
        let path = dir.join("dockhand.db");
        let open_err = |source| StoreError::Open {
            path: path.display().to_string(),
            source,
        };
        let mut writer = Connection::open(&path).map_err(open_err)?;
        writer
            .execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;
                 PRAGMA busy_timeout=5000;",
            )
            .map_err(open_err)?;
        migrate(&mut writer, &path)?;
        let reader = Connection::open(&path).map_err(open_err)?;
        reader
            .execute_batch("PRAGMA busy_timeout=5000;")
            .map_err(open_err)?;

        // Bounded: when the disk cannot keep up, callers get `Busy` (503, the sender retries)
        // instead of an ever-growing queue.
        let (tx, rx) = mpsc::sync_channel::<Job>(WRITE_QUEUE);
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || write_loop(writer, rx, keep_deliveries))
            .map_err(|source| StoreError::NotWritable {
                path: dir.display().to_string(),
                source,
            })?;
        Ok(Store {
            inner: Arc::new(Inner {
                link_refreshes: std::sync::atomic::AtomicBool::new(false),
                writer: Mutex::new(Some(tx)),
                writer_thread: Mutex::new(Some(handle)),
                reader: Mutex::new(reader),
            }),
        })
    }

    async fn submit(&self, op: Op) -> Result<Vec<u64>, StoreError> {
        let (reply, rx) = oneshot::channel();
        {
            let guard = self.inner.writer.lock().map_err(|_| StoreError::Closed)?;
            let tx = guard.as_ref().ok_or(StoreError::Closed)?;
            tx.try_send(Job { op, reply }).map_err(|e| match e {
                mpsc::TrySendError::Full(_) => StoreError::Busy,
                mpsc::TrySendError::Disconnected(_) => StoreError::Closed,
            })?;
        }
        match rx.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(msg)) => Err(StoreError::Sql(rusqlite::Error::ToSqlConversionFailure(
                msg.into(),
            ))),
            Err(_) => Err(StoreError::Closed),
        }
    }

    /// Records a delivery and marks `refresh` pending, in one committed transaction.
    pub async fn record_delivery(
        &self,
        delivery: Delivery,
        refresh: Vec<(String, String)>,
    ) -> Result<(), StoreError> {
        let body = serde_json::to_string(&delivery)
            .map_err(|e| StoreError::Sql(rusqlite::Error::ToSqlConversionFailure(e.into())))?;
        self.submit(Op::Delivery {
            id: delivery.id,
            received_at: delivery.received_at,
            project: delivery.project,
            receiver: delivery.receiver,
            body,
            refresh,
            link: self
                .inner
                .link_refreshes
                .load(std::sync::atomic::Ordering::Relaxed),
        })
        .await
        .map(|_| ())
    }

    /// From now on, record which refresh each delivery asked for (Kargo mode), so that the
    /// delivery can show the patch that carried it and when Kargo handled it.
    pub fn link_refreshes(&self) {
        self.inner
            .link_refreshes
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub(super) async fn exec(&self, exec: Exec) -> Result<Vec<u64>, StoreError> {
        self.submit(Op::Exec(exec)).await
    }

    /// Marks Warehouses pending (a refresh requested through the admin API).
    pub async fn request_refresh(
        &self,
        refresh: Vec<(String, String)>,
        at: String,
    ) -> Result<(), StoreError> {
        self.submit(Op::Request { refresh, at }).await.map(|_| ())
    }

    /// Records the start of a reconcile; returns the pending sequence it covers.
    pub async fn reconcile_started(
        &self,
        project: &str,
        name: &str,
        at: String,
    ) -> Result<u64, StoreError> {
        let v = self
            .submit(Op::Started {
                project: project.into(),
                name: name.into(),
                at,
            })
            .await?;
        Ok(v.first().copied().unwrap_or(0))
    }

    /// Records the end of a reconcile; clears the pending refresh if nothing newer arrived.
    pub async fn reconcile_finished(
        &self,
        project: &str,
        name: &str,
        seq: u64,
        at: String,
        error: Option<String>,
    ) -> Result<(), StoreError> {
        self.submit(Op::Finished {
            project: project.into(),
            name: name.into(),
            seq,
            at,
            error,
        })
        .await
        .map(|_| ())
    }

    /// Records what a reconcile discovered (`body`, JSON) and the Freight it formed; true when
    /// that Freight was not recorded before.
    pub async fn record_discovery(
        &self,
        project: &str,
        name: &str,
        at: String,
        body: String,
        freight: Option<NewFreight>,
    ) -> Result<bool, StoreError> {
        let v = self
            .submit(Op::Discovered {
                project: project.into(),
                name: name.into(),
                at,
                body,
                freight,
            })
            .await?;
        Ok(v.first().copied() == Some(1))
    }

    /// What the last reconcile of a Warehouse discovered, as stored.
    pub fn discovery(
        &self,
        project: &str,
        name: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        self.read(|c| {
            let body: Option<String> = c
                .query_row(
                    "SELECT body FROM discoveries WHERE project = ?1 AND warehouse = ?2",
                    params![project, name],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(body.and_then(|b| serde_json::from_str(&b).ok()))
        })
    }

    /// Stops the writer after it has committed everything already submitted, and waits for it.
    pub fn close(&self) {
        if let Ok(mut g) = self.inner.writer.lock() {
            g.take();
        }
        let handle = self
            .inner
            .writer_thread
            .lock()
            .ok()
            .and_then(|mut h| h.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
    }

    pub(super) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let conn = self.inner.reader.lock().map_err(|_| StoreError::Closed)?;
        Ok(f(&conn)?)
    }

    /// Deliveries, newest first.
    pub fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>, StoreError> {
        let limit = if filter.limit == 0 { 100 } else { filter.limit };
        self.read(|c| {
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
                args.push(format!("%{}%", q.replace('%', "")));
                sql.push_str(&format!(
                    " AND json_extract(body, '$.query') LIKE ?{}",
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
                if let Ok(d) = serde_json::from_str::<Delivery>(&row?) {
                    out.push(d);
                }
            }
            Ok(out)
        })
    }

    /// Every Warehouse with a pending refresh, oldest request first.
    pub fn pending(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.read(|c| {
            let mut stmt =
                c.prepare("SELECT project, name FROM pending_refreshes ORDER BY requested_at")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    /// Recorded state of every Warehouse that has any.
    pub fn warehouse_states(&self) -> Result<Vec<WarehouseState>, StoreError> {
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
                    project: r.get(0)?,
                    name: r.get(1)?,
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
    }

    /// Freight of one Warehouse (or all), newest first, as stored JSON documents.
    pub fn freight(
        &self,
        project: Option<&str>,
        warehouse: Option<&str>,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT body FROM freight
                 WHERE (?1 IS NULL OR project = ?1) AND (?2 IS NULL OR warehouse = ?2)
                 ORDER BY created_at DESC, id",
            )?;
            let rows = stmt.query_map(params![project, warehouse], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for row in rows {
                if let Ok(v) = serde_json::from_str(&row?) {
                    out.push(v);
                }
            }
            Ok(out)
        })
    }
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
    let supported = MIGRATIONS.len() as i64;
    if version > supported {
        return Err(StoreError::TooNew {
            path: path.display().to_string(),
            found: version,
            supported,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        tx.commit()?;
    }
    Ok(())
}

/// The writer thread: takes every job waiting, runs them in one transaction, commits, replies.
fn write_loop(mut conn: Connection, rx: mpsc::Receiver<Job>, keep: usize) {
    let mut next_seq: u64 = conn
        .query_row(
            "SELECT COALESCE(MAX(seq), 0) FROM pending_refreshes",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map(|v| v as u64)
        .unwrap_or(0);
    let mut unpruned: HashMap<(String, String), usize> = HashMap::new();
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < 512 {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let result = run_batch(&mut conn, &batch, &mut next_seq, keep, &mut unpruned);
        match result {
            Ok(replies) => {
                for (job, r) in batch.into_iter().zip(replies) {
                    let _ = job.reply.send(Ok(r));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for job in batch {
                    let _ = job.reply.send(Err(msg.clone()));
                }
            }
        }
    }
}

fn run_batch(
    conn: &mut Connection,
    batch: &[Job],
    next_seq: &mut u64,
    keep: usize,
    unpruned: &mut HashMap<(String, String), usize>,
) -> rusqlite::Result<Vec<Vec<u64>>> {
    let tx = conn.transaction()?;
    let mut replies = Vec::with_capacity(batch.len());
    for job in batch {
        let reply = match &job.op {
            Op::Delivery {
                id,
                received_at,
                project,
                receiver,
                body,
                refresh,
                link,
            } => {
                tx.prepare_cached(
                    "INSERT INTO deliveries (id, received_at, project, receiver, body)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![id, received_at, project, receiver, body])?;
                *unpruned
                    .entry((project.clone(), receiver.clone()))
                    .or_default() += 1;
                let seqs = mark_pending(&tx, refresh, received_at, next_seq)?;
                if *link {
                    for ((project, name), seq) in refresh.iter().zip(&seqs) {
                        tx.prepare_cached(
                            "INSERT OR IGNORE INTO refresh_links (delivery_id, project, name, seq)
                             VALUES (?1, ?2, ?3, ?4)",
                        )?
                        .execute(params![
                            id,
                            project,
                            name,
                            *seq as i64
                        ])?;
                    }
                }
                seqs
            }
            Op::Exec(exec) => exec(&tx)?,
            Op::Request { refresh, at } => mark_pending(&tx, refresh, at, next_seq)?,
            Op::Started { project, name, at } => {
                upsert_warehouse(&tx, project, name)?;
                tx.prepare_cached(
                    "UPDATE warehouses SET last_reconcile_started = ?3
                     WHERE project = ?1 AND name = ?2",
                )?
                .execute(params![project, name, at])?;
                let seq: Option<i64> = tx
                    .prepare_cached(
                        "SELECT seq FROM pending_refreshes WHERE project = ?1 AND name = ?2",
                    )?
                    .query_row(params![project, name], |r| r.get(0))
                    .optional()?;
                vec![seq.unwrap_or(0) as u64]
            }
            Op::Finished {
                project,
                name,
                seq,
                at,
                error,
            } => {
                upsert_warehouse(&tx, project, name)?;
                tx.prepare_cached(
                    "UPDATE warehouses SET last_reconciled = ?3, last_error = ?4,
                        reconcile_count = reconcile_count + 1
                     WHERE project = ?1 AND name = ?2",
                )?
                .execute(params![project, name, at, error])?;
                tx.prepare_cached(
                    "DELETE FROM pending_refreshes WHERE project = ?1 AND name = ?2 AND seq <= ?3",
                )?
                .execute(params![project, name, *seq as i64])?;
                Vec::new()
            }
            Op::Discovered {
                project,
                name,
                at,
                body,
                freight,
            } => {
                tx.execute(
                    "INSERT INTO discoveries (project, warehouse, discovered_at, body)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (project, warehouse) DO UPDATE
                     SET discovered_at = excluded.discovered_at, body = excluded.body",
                    params![project, name, at, body],
                )?;
                let inserted = match freight {
                    Some(f) => tx.execute(
                        "INSERT OR IGNORE INTO freight (id, project, warehouse, created_at, body)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![f.id, project, name, f.created_at, f.body],
                    )?,
                    None => 0,
                };
                vec![inserted as u64]
            }
        };
        replies.push(reply);
    }
    // Retention: keep the newest `keep` deliveries of each receiver. Finding the cut-off walks
    // `keep` index entries, so it runs once per 1% of `keep` new deliveries of a receiver rather
    // than in every batch (profiled: at 10,000 kept it dominated the writer under load); a
    // receiver holds at most `keep + keep / 100` deliveries in between.
    let step = (keep / 100).max(1);
    for ((project, receiver), n) in unpruned.iter_mut() {
        if *n < step {
            continue;
        }
        tx.prepare_cached(
            "DELETE FROM deliveries WHERE project = ?1 AND receiver = ?2 AND seq <= (
                SELECT seq FROM deliveries WHERE project = ?1 AND receiver = ?2
                ORDER BY seq DESC LIMIT 1 OFFSET ?3)",
        )?
        .execute(params![project, receiver, keep as i64])?;
        tx.prepare_cached(
            "DELETE FROM refresh_links WHERE delivery_id NOT IN (SELECT id FROM deliveries)",
        )?
        .execute([])?;
        *n = 0;
    }
    tx.commit()?;
    Ok(replies)
}

fn upsert_warehouse(
    tx: &rusqlite::Transaction<'_>,
    project: &str,
    name: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT OR IGNORE INTO warehouses (project, name) VALUES (?1, ?2)")?
        .execute(params![project, name])?;
    Ok(())
}

fn mark_pending(
    tx: &rusqlite::Transaction<'_>,
    refresh: &[(String, String)],
    at: &str,
    next_seq: &mut u64,
) -> rusqlite::Result<Vec<u64>> {
    let mut seqs = Vec::with_capacity(refresh.len());
    for (project, name) in refresh {
        *next_seq += 1;
        tx.prepare_cached(
            "INSERT INTO warehouses (project, name, last_refresh_requested, refresh_count)
             VALUES (?1, ?2, ?3, 1)
             ON CONFLICT (project, name) DO UPDATE
             SET last_refresh_requested = excluded.last_refresh_requested,
                 refresh_count = refresh_count + 1",
        )?
        .execute(params![project, name, at])?;
        tx.prepare_cached(
            "INSERT INTO pending_refreshes (project, name, seq, requested_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (project, name) DO UPDATE SET seq = excluded.seq",
        )?
        .execute(params![project, name, *next_seq as i64, at])?;
        seqs.push(*next_seq);
    }
    Ok(seqs)
}
