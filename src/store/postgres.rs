//! The PostgreSQL backend: one database shared by every replica of a deployment, through
//! tokio-postgres and a deadpool connection pool. What the replicas share lives here, so they
//! behave as one server: deliveries, Warehouse state, pending refreshes (handed out as claims
//! under a lease, `FOR UPDATE SKIP LOCKED`), de-duplication claims, discoveries and Freight.
//!
//! - Every write is one transaction, committed before the call returns (PostgreSQL's
//!   `synchronous_commit`, on by default, makes a commit durable). Deliveries share theirs:
//!   writer tasks take whatever concurrent `record_delivery` calls queued and commit them
//!   together (group commit, one WAL flush for the batch), answering each after the COMMIT.
//! - Migrations are versioned (`dockhand_schema`) and applied at open under a session advisory
//!   lock, so replicas starting together apply each once; a schema newer than this binary knows
//!   is refused.
//! - Times that replicas compare (leases, cooldowns, intervals, de-duplication windows) are the
//!   database server's `now()`, never a replica's clock.
//! - Every call is bounded (`OP_TIMEOUT`): a database that does not answer is `Unavailable`
//!   (503 to a webhook sender, who retries), never a hung request.
//! - The connection URL's password is never shown: messages name the host and database only.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use dockhand_core::warehouse_ref::WarehouseRef;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;

use super::postgres_outbox as outbox;
use super::{
    delivery_record, Attempt, Delivery, DeliveryFilter, FreightFilter, FreightRecorded, NewFreight,
    NewNotification, NotificationFilter, NotificationRecord, ProviderClaim, Recorded,
    RefreshRecord, RefreshSeq, Store, StoreError, WarehouseState,
};

/// Migrations, applied in order; `dockhand_schema.version` records how many ran. Never edit one
/// that has shipped: add another.
const MIGRATIONS: &[&str] = &[
    // 1: everything the SQLite schema holds, plus the shared-work columns: the lease on a
    // pending refresh, the server time a reconcile last started (cooldown and interval), the
    // de-duplication claims.
    "CREATE SEQUENCE refresh_seq;
     CREATE TABLE deliveries (
        seq BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        received_at TEXT NOT NULL,
        project TEXT NOT NULL,
        receiver TEXT NOT NULL,
        query TEXT,
        body TEXT NOT NULL
     );
     CREATE INDEX deliveries_by_receiver ON deliveries (project, receiver, seq);
     CREATE TABLE warehouses (
        project TEXT NOT NULL,
        name TEXT NOT NULL,
        last_refresh_requested TEXT,
        last_reconcile_started TEXT,
        last_reconciled TEXT,
        reconcile_count BIGINT NOT NULL DEFAULT 0,
        refresh_count BIGINT NOT NULL DEFAULT 0,
        last_error TEXT,
        started_at TIMESTAMPTZ,
        PRIMARY KEY (project, name)
     );
     CREATE TABLE pending_refreshes (
        project TEXT NOT NULL,
        name TEXT NOT NULL,
        seq BIGINT NOT NULL,
        requested_at TEXT NOT NULL,
        lease_owner TEXT,
        lease_until TIMESTAMPTZ,
        PRIMARY KEY (project, name)
     );
     CREATE TABLE freight (
        id TEXT PRIMARY KEY,
        project TEXT NOT NULL,
        warehouse TEXT NOT NULL,
        created_at TEXT NOT NULL,
        body TEXT NOT NULL
     );
     CREATE INDEX freight_by_warehouse ON freight (project, warehouse, created_at);
     CREATE TABLE discoveries (
        project TEXT NOT NULL,
        warehouse TEXT NOT NULL,
        discovered_at TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (project, warehouse)
     );
     CREATE TABLE dedup_claims (
        key BYTEA PRIMARY KEY,
        expires_at TIMESTAMPTZ NOT NULL
     );
     CREATE INDEX dedup_claims_by_expiry ON dedup_claims (expires_at);",
    // 2: Kargo mode: which refresh of which Warehouse each delivery asked for, and its fate.
    "CREATE TABLE refresh_links (
        delivery_id TEXT NOT NULL,
        project TEXT NOT NULL,
        name TEXT NOT NULL,
        seq BIGINT NOT NULL,
        token TEXT,
        patched_at TEXT,
        handled_at TEXT,
        error TEXT,
        PRIMARY KEY (delivery_id, project, name)
     );
     CREATE INDEX refresh_links_by_warehouse ON refresh_links (project, name, seq);",
    // 3: the request each delivery kept (`--keep-payloads`) and the images it reported (the
    // replication view's index), both deleted with their delivery; `payload_bytes` lets the
    // byte budget count the payload without reading it.
    "ALTER TABLE deliveries ADD COLUMN payload_bytes BIGINT NOT NULL DEFAULT 0;
     CREATE TABLE delivery_payloads (
        delivery_id TEXT PRIMARY KEY REFERENCES deliveries (id) ON DELETE CASCADE,
        headers TEXT NOT NULL,
        body BYTEA NOT NULL,
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
    // 4: the notification outbox (`postgres_outbox.rs`).
    outbox::MIGRATION,
];

/// What a stored delivery costs beyond its body (keys, index entries, row header), as counted
/// against `--max-store-bytes`.
const ROW_OVERHEAD: i64 = 200;

/// The advisory lock key migrations run under ("dockhand" in ASCII, as a number).
const MIGRATION_LOCK: i64 = 0x646f_636b_6861_6e64;

/// Longest any one store call may take before it is `Unavailable`.
const OP_TIMEOUT: Duration = Duration::from_secs(5);

/// How to reach the database.
#[derive(Clone)]
pub struct PostgresOptions {
    /// `postgres://USER:PASS@HOST:PORT/DB?sslmode=...` (or the key=value form).
    pub url: String,
    /// Newest deliveries kept per receiver.
    pub keep_deliveries: usize,
    /// Bytes the stored deliveries may take (`--max-store-bytes`); the oldest go first.
    pub max_store_bytes: u64,
    /// Connections in the pool.
    pub max_connections: usize,
}

impl std::fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("url", &redact(&self.url))
            .field("keep_deliveries", &self.keep_deliveries)
            .finish()
    }
}

/// The PostgreSQL store; cheap to clone.
#[derive(Clone)]
pub struct PostgresStore {
    inner: std::sync::Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// Host and database, for messages (never the password).
    name: String,
    keep: usize,
    /// Kargo mode: record which refresh each delivery asked for (`refresh_links`).
    link: AtomicBool,
    /// Deliveries waiting for a writer task (see [`Writer`]).
    ingest: mpsc::Sender<Job>,
    closed: AtomicBool,
    /// Deliveries this replica recorded per receiver since it last pruned that receiver: each
    /// replica prunes after its own deliveries, so retention work is split, not repeated.
    unpruned: Mutex<HashMap<(String, String), usize>>,
}

/// The URL with any password replaced, for messages: `postgres://user:***@host/db`.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, tail) = match rest.find(['/', '?']) {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => {
                    let user = userinfo.split(':').next().unwrap_or("");
                    let tail = tail.split('?').next().unwrap_or("");
                    format!("{scheme}://{user}:***@{host}{tail}")
                }
                None => format!(
                    "{scheme}://{authority}{}",
                    tail.split('?').next().unwrap_or("")
                ),
            }
        }
        // The key=value form: keep only host, port and dbname.
        None => url
            .split_whitespace()
            .filter(|kv| {
                kv.starts_with("host=") || kv.starts_with("port=") || kv.starts_with("dbname=")
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// An error with its causes, one clause each ("error connecting to server: Connection
/// refused"): the driver's own message leaves the cause out.
fn chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = c.source();
    }
    message
}

pub(super) fn backend(e: tokio_postgres::Error) -> StoreError {
    // A closed connection or an unreachable server is unavailability; anything else the
    // database said is the database's error. tokio-postgres never puts the password in either.
    if e.is_closed() || e.as_db_error().is_none() {
        StoreError::Unavailable(chain(&e))
    } else {
        StoreError::Backend(chain(&e))
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Unavailable(match &e {
        // "Error occurred while creating a new object" says nothing to an operator.
        deadpool_postgres::PoolError::Backend(inner) => chain(inner),
        _ => chain(&e),
    })
}

impl PostgresStore {
    /// Connects, applies the migrations this binary knows (under the advisory lock) and
    /// returns the store. Refuses a database whose schema is newer.
    pub async fn open(options: &PostgresOptions) -> Result<PostgresStore, StoreError> {
        let name = redact(&options.url);
        let open_err = |message: String| StoreError::Open {
            path: name.clone(),
            message,
        };
        // TLS here always verifies the certificate and the host name, so libpq's stricter modes
        // mean what `require` does; tokio-postgres knows only disable, prefer and require.
        let url = options
            .url
            .replace("sslmode=verify-full", "sslmode=require")
            .replace("sslmode=verify-ca", "sslmode=require");
        let mut config: tokio_postgres::Config = url.parse().map_err(|_| {
            // The parser's message may quote the URL, password included: say what to check.
            open_err("invalid connection URL (expected postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=disable|prefer|require)".into())
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(3));
        }
        config.application_name("dockhand");
        let tls = tls().map_err(|e| open_err(format!("TLS setup: {e}")))?;
        let manager = Manager::from_config(
            config,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_connections.max(2))
            .wait_timeout(Some(OP_TIMEOUT))
            .create_timeout(Some(Duration::from_secs(3)))
            .recycle_timeout(Some(Duration::from_secs(3)))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| open_err(e.to_string()))?;
        let (ingest, queue) = mpsc::channel(INGEST_QUEUE);
        let queue = std::sync::Arc::new(tokio::sync::Mutex::new(queue));
        let budget = std::sync::Arc::new(Mutex::new(Budget::default()));
        for _ in 0..WRITERS {
            let writer = Writer {
                pool: pool.clone(),
                name: name.clone(),
                keep: options.keep_deliveries as i64,
                max_bytes: i64::try_from(options.max_store_bytes).unwrap_or(i64::MAX),
                budget: budget.clone(),
            };
            tokio::spawn(writer.run(queue.clone()));
        }
        let store = PostgresStore {
            inner: std::sync::Arc::new(Inner {
                pool,
                name: name.clone(),
                keep: options.keep_deliveries,
                link: AtomicBool::new(false),
                ingest,
                closed: AtomicBool::new(false),
                unpruned: Mutex::new(HashMap::new()),
            }),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the missing migrations, one transaction each, holding the advisory lock.
    async fn migrate(&self) -> Result<(), StoreError> {
        let open_err = |message: String| StoreError::Open {
            path: self.inner.name.clone(),
            message,
        };
        let mut client = self.inner.pool.get().await.map_err(|e| {
            open_err(match pool_error(e) {
                StoreError::Unavailable(m) => m,
                other => other.to_string(),
            })
        })?;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(|e| open_err(chain(&e)))?;
        let result = async {
            client
                .batch_execute(
                    "CREATE TABLE IF NOT EXISTS dockhand_schema (
                        id INT PRIMARY KEY CHECK (id = 1),
                        version BIGINT NOT NULL
                     );
                     INSERT INTO dockhand_schema (id, version) VALUES (1, 0)
                     ON CONFLICT (id) DO NOTHING;",
                )
                .await?;
            let version: i64 = client
                .query_one("SELECT version FROM dockhand_schema WHERE id = 1", &[])
                .await?
                .get(0);
            let supported = MIGRATIONS.len() as i64;
            if version > supported {
                return Ok(Err(StoreError::TooNew {
                    path: self.inner.name.clone(),
                    found: version,
                    supported,
                }));
            }
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                let tx = client.transaction().await?;
                tx.batch_execute(sql).await?;
                tx.execute(
                    "UPDATE dockhand_schema SET version = $1 WHERE id = 1",
                    &[&(i as i64 + 1)],
                )
                .await?;
                tx.commit().await?;
                tracing::info!(database = %self.inner.name, version = i + 1, "schema migrated");
            }
            Ok::<_, tokio_postgres::Error>(Ok(()))
        }
        .await;
        // The lock is the session's: released here, or by the server if the connection died.
        let _ = client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await;
        result.map_err(|e| open_err(chain(&e)))?
    }

    /// Runs `f` with a pooled connection inside one transaction, committed before returning;
    /// bounded by `OP_TIMEOUT`.
    async fn tx<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: for<'a> FnOnce(
                &'a deadpool_postgres::Transaction<'a>,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<T, StoreError>> + Send + 'a>,
            > + Send,
        T: Send,
    {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let work = async {
            let mut client = self.inner.pool.get().await.map_err(pool_error)?;
            let tx = client.transaction().await.map_err(backend)?;
            let out = f(&tx).await?;
            tx.commit().await.map_err(backend)?;
            Ok(out)
        };
        match tokio::time::timeout(OP_TIMEOUT, work).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::Unavailable(format!(
                "{} did not answer within {OP_TIMEOUT:?}",
                self.inner.name
            ))),
        }
    }

    /// Whether this replica should prune `project/receiver` after recording one more delivery.
    fn prune_due(&self, project: &str, receiver: &str) -> bool {
        let step = (self.inner.keep / 100).max(1);
        let mut unpruned = self.inner.unpruned.lock();
        let n = unpruned
            .entry((project.to_string(), receiver.to_string()))
            .or_default();
        *n += 1;
        if *n >= step {
            *n = 0;
            true
        } else {
            false
        }
    }

    /// Hands the delivery to the writer tasks and waits for its transaction's COMMIT (or its
    /// failure): the answer, and so the webhook's 2xx, comes only after the commit.
    async fn write_delivery(
        &self,
        delivery: Delivery,
        refresh: Vec<WarehouseRef>,
        claim: Option<ProviderClaim>,
    ) -> Result<Recorded, StoreError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let mut delivery = delivery;
        let payload = delivery_record::take_payload(&mut delivery)?;
        let body = delivery_record::encode(&delivery)?;
        let artifacts = delivery_record::capped_artifacts(&delivery);
        let prune = self.prune_due(&delivery.project, &delivery.receiver);
        let link = self.inner.link.load(Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        let job = Job {
            delivery,
            body,
            payload,
            artifacts,
            refresh,
            claim,
            prune,
            link,
            reply,
        };
        let stopped =
            || StoreError::Unavailable(format!("{}: the writer stopped", self.inner.name));
        let work = async {
            self.inner.ingest.send(job).await.map_err(|_| stopped())?;
            answer.await.map_err(|_| stopped())?
        };
        match tokio::time::timeout(OP_TIMEOUT, work).await {
            Ok(r) => r,
            // The writer leaves out a delivery whose caller stopped waiting, unless its batch
            // had begun; either way no 2xx went out for it.
            Err(_) => Err(StoreError::Unavailable(format!(
                "{} did not answer within {OP_TIMEOUT:?}",
                self.inner.name
            ))),
        }
    }
}

/// Writer tasks per replica. Two, so one collects the next batch while the other waits for its
/// COMMIT's WAL flush. (Not tuned: one against two against more is still to be measured.)
const WRITERS: usize = 2;

/// Most deliveries one transaction takes.
const BATCH_MAX: usize = 256;

/// Deliveries waiting for a writer before callers wait to enqueue (bounded by `OP_TIMEOUT`).
const INGEST_QUEUE: usize = 4096;

/// One `record_delivery` call, waiting in the ingest queue.
struct Job {
    delivery: Delivery,
    /// The encoded delivery record (`deliveries.body`).
    body: String,
    /// The kept request (`delivery_payloads`), if any.
    payload: Option<delivery_record::EncodedPayload>,
    /// The images it reported (`artifact_reports`, the replication view).
    artifacts: Vec<super::ReportedArtifact>,
    refresh: Vec<WarehouseRef>,
    claim: Option<ProviderClaim>,
    /// Prune the delivery's receiver down to `keep` after it (see `prune_due`).
    prune: bool,
    /// Kargo mode: record which refresh the delivery asked for.
    link: bool,
    reply: oneshot::Sender<Result<Recorded, StoreError>>,
}

/// When a replica next sums the stored bytes. Summing reads every delivery row, so it runs once
/// this replica has written a sixteenth of the headroom the last sum left (at least once per
/// batch near the budget, rarely far below it): amortized O(1) per delivery instead of a sum
/// every 16 deliveries. Each replica allows itself that much, so N replicas overshoot by at most
/// N/16 of the headroom before one of them deletes.
#[derive(Default)]
struct Budget {
    /// Bytes (as counted against the budget) written since the last sum.
    unchecked: i64,
    /// Bytes that may be written before the next sum; 0 at start: the first batch sums.
    allowance: i64,
}

/// One writer task: takes whatever deliveries are queued (up to `BATCH_MAX`), writes them in one
/// transaction on one connection, and answers each after the COMMIT. A delivery the batch cannot
/// take (a database error) sends the batch's deliveries through again one transaction each, so
/// one bad delivery fails alone.
struct Writer {
    pool: Pool,
    name: String,
    keep: i64,
    max_bytes: i64,
    budget: std::sync::Arc<Mutex<Budget>>,
}

impl Writer {
    async fn run(self, queue: std::sync::Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>) {
        loop {
            let jobs = {
                // One writer collects at a time; the other may be committing meanwhile.
                let mut queue = queue.lock().await;
                let Some(first) = queue.recv().await else {
                    return;
                };
                let mut jobs = vec![first];
                while jobs.len() < BATCH_MAX {
                    match queue.try_recv() {
                        Ok(job) => jobs.push(job),
                        Err(_) => break,
                    }
                }
                jobs
            };
            let jobs: Vec<Job> = jobs.into_iter().filter(|j| !j.reply.is_closed()).collect();
            if !jobs.is_empty() {
                self.commit(jobs).await;
            }
        }
    }

    async fn commit(&self, jobs: Vec<Job>) {
        match self.write_bounded(&jobs).await {
            Ok(outcomes) => {
                for (job, outcome) in jobs.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(StoreError::Backend(message)) if jobs.len() > 1 => {
                tracing::debug!(
                    database = %self.name,
                    batch = jobs.len(),
                    error = %message,
                    "delivery batch failed; writing its deliveries one by one"
                );
                for job in jobs {
                    let outcome = self
                        .write_bounded(std::slice::from_ref(&job))
                        .await
                        .and_then(|mut o| {
                            o.pop().ok_or_else(|| {
                                StoreError::Backend("a batch of one returned no outcome".into())
                            })
                        });
                    let _ = job.reply.send(outcome);
                }
            }
            Err(e) => {
                for job in jobs {
                    let _ = job.reply.send(Err(copy_error(&e)));
                }
            }
        }
    }

    async fn write_bounded(&self, jobs: &[Job]) -> Result<Vec<Recorded>, StoreError> {
        match tokio::time::timeout(OP_TIMEOUT, self.write(jobs)).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::Unavailable(format!(
                "{} did not answer within {OP_TIMEOUT:?}",
                self.name
            ))),
        }
    }

    /// Writes `jobs` in one transaction: a statement per table for the whole batch (arrays
    /// through `unnest`), not per delivery. Returns each delivery's outcome, in order.
    async fn write(&self, jobs: &[Job]) -> Result<Vec<Recorded>, StoreError> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let tx = client.transaction().await.map_err(backend)?;
        let mut outcomes = vec![Recorded::Stored; jobs.len()];
        claim_keys(&tx, jobs, &mut outcomes).await?;
        let stored: Vec<&Job> = jobs
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| **o == Recorded::Stored)
            .map(|(j, _)| j)
            .collect();
        if stored.is_empty() {
            tx.commit().await.map_err(backend)?;
            return Ok(outcomes);
        }
        // In arrival order, so `seq` (and "newest first") follows it.
        let column = |f: fn(&Delivery) -> &str| -> Vec<&str> {
            stored.iter().map(|j| f(&j.delivery)).collect()
        };
        let ids = column(|d| &d.id);
        let received = column(|d| &d.received_at);
        let projects = column(|d| &d.project);
        let receivers = column(|d| &d.receiver);
        let queries: Vec<Option<&str>> =
            stored.iter().map(|j| j.delivery.query.as_deref()).collect();
        let bodies: Vec<&str> = stored.iter().map(|j| j.body.as_str()).collect();
        let payload_bytes: Vec<i64> = stored
            .iter()
            .map(|j| j.payload.as_ref().map_or(0, |p| p.bytes))
            .collect();
        let insert = tx
            .prepare_cached(
                "INSERT INTO deliveries (id, received_at, project, receiver, query, body,
                                         payload_bytes)
                 SELECT * FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[],
                                      $6::TEXT[], $7::BIGINT[])",
            )
            .await
            .map_err(backend)?;
        tx.execute(
            &insert,
            &[
                &ids,
                &received,
                &projects,
                &receivers,
                &queries,
                &bodies,
                &payload_bytes,
            ],
        )
        .await
        .map_err(backend)?;
        write_payloads(&tx, &stored).await?;
        let requests: Vec<(&WarehouseRef, &str)> = stored
            .iter()
            .flat_map(|j| {
                j.refresh
                    .iter()
                    .map(|w| (w, j.delivery.received_at.as_str()))
            })
            .collect();
        mark_pending_all(&tx, &requests).await?;
        let links: Vec<(&str, &WarehouseRef)> = stored
            .iter()
            .filter(|j| j.link)
            .flat_map(|j| j.refresh.iter().map(|w| (j.delivery.id.as_str(), w)))
            .collect();
        if !links.is_empty() {
            let (d, (p, n)): (Vec<&str>, (Vec<&str>, Vec<&str>)) = links
                .iter()
                .map(|(id, w)| (*id, (w.project.as_str(), w.name.as_str())))
                .unzip();
            // The sequence mark_pending_all just gave each Warehouse's pending row.
            let link = tx
                .prepare_cached(
                    "INSERT INTO refresh_links (delivery_id, project, name, seq)
                     SELECT u.d, u.p, u.n, pr.seq
                     FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[]) AS u(d, p, n)
                     JOIN pending_refreshes pr ON pr.project = u.p AND pr.name = u.n
                     ON CONFLICT DO NOTHING",
                )
                .await
                .map_err(backend)?;
            tx.execute(&link, &[&d, &p, &n]).await.map_err(backend)?;
        }
        let written: i64 = stored
            .iter()
            .map(|j| j.body.len() as i64 + j.payload.as_ref().map_or(0, |p| p.bytes) + ROW_OVERHEAD)
            .sum();
        let check_budget = {
            let mut budget = self.budget.lock();
            budget.unchecked += written;
            budget.unchecked >= budget.allowance
        };
        let mut left = None;
        if check_budget {
            left = Some(keep_within_budget(&tx, self.max_bytes).await?);
        }
        self.prune(&tx, &stored).await?;
        tx.commit().await.map_err(backend)?;
        if let Some(used) = left {
            let mut budget = self.budget.lock();
            budget.unchecked = 0;
            budget.allowance = (self.max_bytes - used).max(0) / 16;
        }
        Ok(outcomes)
    }

    /// Retention: each receiver due (see `prune_due`) down to its newest `keep` deliveries, once
    /// per batch however many of its deliveries the batch holds.
    async fn prune(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        stored: &[&Job],
    ) -> Result<(), StoreError> {
        let mut due: Vec<(&str, &str)> = stored
            .iter()
            .filter(|j| j.prune)
            .map(|j| (j.delivery.project.as_str(), j.delivery.receiver.as_str()))
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        due.sort_unstable();
        due.dedup();
        let delete = tx
            .prepare_cached(
                "DELETE FROM deliveries WHERE project = $1 AND receiver = $2 AND seq <= (
                    SELECT seq FROM deliveries WHERE project = $1 AND receiver = $2
                    ORDER BY seq DESC LIMIT 1 OFFSET $3)",
            )
            .await
            .map_err(backend)?;
        for (project, receiver) in due {
            tx.execute(&delete, &[&project, &receiver, &self.keep])
                .await
                .map_err(backend)?;
        }
        tx.execute(
            "DELETE FROM refresh_links l WHERE NOT EXISTS (
                SELECT 1 FROM deliveries d WHERE d.id = l.delivery_id)",
            &[],
        )
        .await
        .map_err(backend)?;
        tx.execute(
            "DELETE FROM dedup_claims WHERE key IN (
                SELECT key FROM dedup_claims WHERE expires_at <= now() LIMIT 1000)",
            &[],
        )
        .await
        .map_err(backend)?;
        Ok(())
    }
}

/// The kept requests and reported images of a batch's stored deliveries, a statement per table.
async fn write_payloads(
    tx: &deadpool_postgres::Transaction<'_>,
    stored: &[&Job],
) -> Result<(), StoreError> {
    let kept: Vec<(&str, &delivery_record::EncodedPayload)> = stored
        .iter()
        .filter_map(|j| j.payload.as_ref().map(|p| (j.delivery.id.as_str(), p)))
        .collect();
    if !kept.is_empty() {
        let ids: Vec<&str> = kept.iter().map(|(id, _)| *id).collect();
        let headers: Vec<&str> = kept.iter().map(|(_, p)| p.headers.as_str()).collect();
        let bodies: Vec<&[u8]> = kept.iter().map(|(_, p)| p.body.as_slice()).collect();
        let trimmed: Vec<Option<&str>> = kept.iter().map(|(_, p)| p.trimmed.as_deref()).collect();
        let insert = tx
            .prepare_cached(
                "INSERT INTO delivery_payloads (delivery_id, headers, body, trimmed)
                 SELECT * FROM unnest($1::TEXT[], $2::TEXT[], $3::BYTEA[], $4::TEXT[])",
            )
            .await
            .map_err(backend)?;
        tx.execute(&insert, &[&ids, &headers, &bodies, &trimmed])
            .await
            .map_err(backend)?;
    }
    let reports: Vec<(&str, &super::ReportedArtifact)> = stored
        .iter()
        .flat_map(|j| j.artifacts.iter().map(|a| (j.delivery.id.as_str(), a)))
        .collect();
    if !reports.is_empty() {
        let ids: Vec<&str> = reports.iter().map(|(id, _)| *id).collect();
        let repos: Vec<&str> = reports.iter().map(|(_, a)| a.repository.as_str()).collect();
        let tags: Vec<&str> = reports
            .iter()
            .map(|(_, a)| a.tag.as_deref().unwrap_or(""))
            .collect();
        let digests: Vec<Option<&str>> = reports.iter().map(|(_, a)| a.digest.as_deref()).collect();
        let insert = tx
            .prepare_cached(
                "INSERT INTO artifact_reports (delivery_id, repository, tag, digest)
                 SELECT * FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[])",
            )
            .await
            .map_err(backend)?;
        tx.execute(&insert, &[&ids, &repos, &tags, &digests])
            .await
            .map_err(backend)?;
    }
    Ok(())
}

/// Takes the de-duplication claims of a batch in one statement, marking in `outcomes` each
/// delivery whose key was claimed already. A key twice in one batch: the first takes part, the
/// later ones are duplicates of it (claimed or not, the first one arrived within the window).
/// Keys go in sorted, so replicas claiming overlapping batches lock rows in one order.
async fn claim_keys(
    tx: &deadpool_postgres::Transaction<'_>,
    jobs: &[Job],
    outcomes: &mut [Recorded],
) -> Result<(), StoreError> {
    let mut first: HashMap<[u8; 16], f64> = HashMap::new();
    for (job, outcome) in jobs.iter().zip(outcomes.iter_mut()) {
        if let Some(claim) = &job.claim {
            match first.entry(claim.key) {
                std::collections::hash_map::Entry::Occupied(_) => {
                    *outcome = Recorded::Duplicate;
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(claim.window.as_secs_f64().max(1.0));
                }
            }
        }
    }
    if first.is_empty() {
        return Ok(());
    }
    let mut keys: Vec<([u8; 16], f64)> = first.into_iter().collect();
    keys.sort_unstable_by_key(|(key, _)| *key);
    let (key_list, windows): (Vec<&[u8]>, Vec<f64>) =
        keys.iter().map(|(k, w)| (&k[..], *w)).unzip();
    // One row per key: taken when absent or expired, else a duplicate. The row lock makes two
    // replicas inserting together wait for each other.
    let claim = tx
        .prepare_cached(
            "INSERT INTO dedup_claims (key, expires_at)
             SELECT k, now() + make_interval(secs => w)
             FROM unnest($1::BYTEA[], $2::FLOAT8[]) AS u(k, w)
             ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at
             WHERE dedup_claims.expires_at <= now()
             RETURNING key",
        )
        .await
        .map_err(backend)?;
    let rows = tx
        .query(&claim, &[&key_list, &windows])
        .await
        .map_err(backend)?;
    let claimed: std::collections::HashSet<Vec<u8>> =
        rows.iter().map(|r| r.get::<_, Vec<u8>>(0)).collect();
    let mut seen: std::collections::HashSet<[u8; 16]> = std::collections::HashSet::new();
    for (job, outcome) in jobs.iter().zip(outcomes.iter_mut()) {
        if let Some(c) = &job.claim {
            // Only a key's first delivery in the batch is still `Stored` here.
            if seen.insert(c.key) && !claimed.contains(&c.key[..]) {
                *outcome = Recorded::Duplicate;
            }
        }
    }
    Ok(())
}

/// The same error again, for every delivery of a batch that failed as a whole.
fn copy_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Closed => StoreError::Closed,
        StoreError::Busy => StoreError::Busy,
        other => StoreError::Backend(other.to_string()),
    }
}

/// Fills in `refreshes` of each delivery from `refresh_links` (Kargo mode; empty otherwise).
async fn attach_refreshes(
    tx: &deadpool_postgres::Transaction<'_>,
    deliveries: &mut [Delivery],
) -> Result<(), StoreError> {
    if deliveries.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = deliveries.iter().map(|d| d.id.as_str()).collect();
    let rows = tx
        .query(
            "SELECT delivery_id, project, name, token, patched_at, handled_at, error
             FROM refresh_links WHERE delivery_id = ANY($1) ORDER BY project, name",
            &[&ids],
        )
        .await
        .map_err(backend)?;
    let mut by_delivery: HashMap<String, Vec<RefreshRecord>> = HashMap::new();
    for r in &rows {
        by_delivery
            .entry(r.get::<_, String>(0))
            .or_default()
            .push(RefreshRecord {
                warehouse: format!("{}/{}", r.get::<_, String>(1), r.get::<_, String>(2)),
                token: r.get(3),
                patched_at: r.get(4),
                handled_at: r.get(5),
                error: r.get(6),
            });
    }
    for d in deliveries {
        if let Some(list) = by_delivery.remove(&d.id) {
            d.refreshes = list;
        }
    }
    Ok(())
}

/// Bytes the stored deliveries take, as counted against `--max-store-bytes`.
async fn used_bytes(tx: &deadpool_postgres::Transaction<'_>) -> Result<i64, StoreError> {
    let row = tx
        .query_one(
            "SELECT COALESCE(SUM(octet_length(body)::BIGINT + payload_bytes + $1::BIGINT), 0)::BIGINT
             FROM deliveries",
            &[&ROW_OVERHEAD],
        )
        .await
        .map_err(backend)?;
    Ok(row.get(0))
}

/// Deletes the oldest deliveries while they take more than `max_bytes`, down to nine tenths of
/// it; the newest delivery is always kept, and nothing else is ever deleted for the budget.
/// Returns the bytes used after (at most the nine tenths aimed at, when it deleted).
async fn keep_within_budget(
    tx: &deadpool_postgres::Transaction<'_>,
    max_bytes: i64,
) -> Result<i64, StoreError> {
    let used = used_bytes(tx).await?;
    if used <= max_bytes {
        return Ok(used);
    }
    let to_free = used - max_bytes / 10 * 9;
    let deleted = tx
        .execute(
            "DELETE FROM deliveries WHERE seq <= COALESCE(
                (SELECT seq FROM (
                    SELECT seq, SUM(octet_length(body)::BIGINT + payload_bytes + $2::BIGINT) OVER (ORDER BY seq) AS freed
                    FROM deliveries WHERE seq < (SELECT MAX(seq) FROM deliveries)) t
                 WHERE freed >= $1::BIGINT ORDER BY seq LIMIT 1),
                (SELECT MAX(seq) - 1 FROM deliveries))",
            &[&to_free, &ROW_OVERHEAD],
        )
        .await
        .map_err(backend)?;
    tx.execute(
        "DELETE FROM refresh_links l WHERE NOT EXISTS (
            SELECT 1 FROM deliveries d WHERE d.id = l.delivery_id)",
        &[],
    )
    .await
    .map_err(backend)?;
    tracing::info!(
        deleted,
        used,
        max_bytes,
        "store over --max-store-bytes: deleted the oldest deliveries"
    );
    Ok(max_bytes / 10 * 9)
}

/// TLS for `sslmode=prefer|require`: rustls with the platform's trust store (the certificate
/// and host name are always verified).
fn tls() -> Result<tokio_postgres_rustls::MakeRustlsConnect, rustls::Error> {
    use rustls_platform_verifier::ConfigVerifierExt;
    let config = rustls::ClientConfig::with_platform_verifier()?;
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

async fn upsert_warehouse(
    tx: &deadpool_postgres::Transaction<'_>,
    w: &WarehouseRef,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO warehouses (project, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&w.project, &w.name],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

async fn mark_pending(
    tx: &deadpool_postgres::Transaction<'_>,
    refresh: &[WarehouseRef],
    at: &str,
) -> Result<(), StoreError> {
    let requests: Vec<(&WarehouseRef, &str)> = refresh.iter().map(|w| (w, at)).collect();
    mark_pending_all(tx, &requests).await
}

/// Records refresh requests (Warehouse, when), in the order given: two statements for all of
/// them. A Warehouse asked for several times counts each request, keeps the last time as its
/// last request and, when it was not pending yet, the first as its pending row's time; it gets
/// one new sequence, which covers them all (they commit together, so no reconcile can see
/// between them). Rows go in sorted by Warehouse so concurrent transactions lock them in one
/// order.
async fn mark_pending_all(
    tx: &deadpool_postgres::Transaction<'_>,
    requests: &[(&WarehouseRef, &str)],
) -> Result<(), StoreError> {
    if requests.is_empty() {
        return Ok(());
    }
    // (count, first time, last time) per Warehouse.
    let mut by_warehouse: std::collections::BTreeMap<(&str, &str), (i64, &str, &str)> =
        std::collections::BTreeMap::new();
    for (w, at) in requests {
        by_warehouse
            .entry((w.project.as_str(), w.name.as_str()))
            .and_modify(|(n, _, last)| {
                *n += 1;
                *last = at;
            })
            .or_insert((1, at, at));
    }
    let mut projects = Vec::with_capacity(by_warehouse.len());
    let mut names = Vec::with_capacity(by_warehouse.len());
    let mut counts = Vec::with_capacity(by_warehouse.len());
    let mut firsts = Vec::with_capacity(by_warehouse.len());
    let mut lasts = Vec::with_capacity(by_warehouse.len());
    for ((project, name), (n, first, last)) in by_warehouse {
        projects.push(project);
        names.push(name);
        counts.push(n);
        firsts.push(first);
        lasts.push(last);
    }
    let warehouses = tx
        .prepare_cached(
            "INSERT INTO warehouses (project, name, last_refresh_requested, refresh_count)
             SELECT * FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[])
             ON CONFLICT (project, name) DO UPDATE
             SET last_refresh_requested = excluded.last_refresh_requested,
                 refresh_count = warehouses.refresh_count + excluded.refresh_count",
        )
        .await
        .map_err(backend)?;
    tx.execute(&warehouses, &[&projects, &names, &lasts, &counts])
        .await
        .map_err(backend)?;
    // A newer sequence on an existing row keeps its lease: the replica reconciling it
    // finishes, sees the newer sequence and leaves the row for the next claim.
    let pending = tx
        .prepare_cached(
            "INSERT INTO pending_refreshes (project, name, seq, requested_at)
             SELECT p, n, nextval('refresh_seq'), a
             FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[]) AS u(p, n, a)
             ON CONFLICT (project, name) DO UPDATE SET seq = excluded.seq",
        )
        .await
        .map_err(backend)?;
    tx.execute(&pending, &[&projects, &names, &firsts])
        .await
        .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl Store for PostgresStore {
    async fn record_delivery(
        &self,
        delivery: Delivery,
        refresh: Vec<WarehouseRef>,
    ) -> Result<(), StoreError> {
        self.write_delivery(delivery, refresh, None).await?;
        Ok(())
    }

    async fn record_delivery_once(
        &self,
        delivery: Delivery,
        refresh: Vec<WarehouseRef>,
        claim: ProviderClaim,
    ) -> Result<Recorded, StoreError> {
        self.write_delivery(delivery, refresh, Some(claim)).await
    }

    async fn request_refresh(
        &self,
        refresh: Vec<WarehouseRef>,
        at: String,
    ) -> Result<(), StoreError> {
        self.tx(move |tx| Box::pin(async move { mark_pending(tx, &refresh, &at).await }))
            .await
    }

    async fn reconcile_started(
        &self,
        warehouse: &WarehouseRef,
        at: String,
    ) -> Result<RefreshSeq, StoreError> {
        let w = warehouse.clone();
        self.tx(move |tx| {
            Box::pin(async move {
                upsert_warehouse(tx, &w).await?;
                tx.execute(
                    "UPDATE warehouses SET last_reconcile_started = $3, started_at = now()
                     WHERE project = $1 AND name = $2",
                    &[&w.project, &w.name, &at],
                )
                .await
                .map_err(backend)?;
                let seq: Option<i64> = tx
                    .query_opt(
                        "SELECT seq FROM pending_refreshes WHERE project = $1 AND name = $2",
                        &[&w.project, &w.name],
                    )
                    .await
                    .map_err(backend)?
                    .map(|r| r.get(0));
                Ok(RefreshSeq(seq.unwrap_or(0) as u64))
            })
        })
        .await
    }

    async fn reconcile_finished_notifying(
        &self,
        warehouse: &WarehouseRef,
        covered: RefreshSeq,
        at: String,
        error: Option<String>,
        notify: Vec<NewNotification>,
    ) -> Result<(), StoreError> {
        let w = warehouse.clone();
        self.tx(move |tx| {
            Box::pin(async move {
                if error.is_some()
                    && !notify.is_empty()
                    && outbox::last_reconcile_succeeded(tx, &w.project, &w.name).await?
                {
                    outbox::insert(tx, &notify).await?;
                }
                upsert_warehouse(tx, &w).await?;
                tx.execute(
                    "UPDATE warehouses SET last_reconciled = $3, last_error = $4,
                        reconcile_count = reconcile_count + 1
                     WHERE project = $1 AND name = $2",
                    &[&w.project, &w.name, &at, &error],
                )
                .await
                .map_err(backend)?;
                tx.execute(
                    "DELETE FROM pending_refreshes WHERE project = $1 AND name = $2 AND seq <= $3",
                    &[&w.project, &w.name, &(covered.0 as i64)],
                )
                .await
                .map_err(backend)?;
                // What arrived meanwhile stays pending, free for the next claim.
                tx.execute(
                    "UPDATE pending_refreshes SET lease_owner = NULL, lease_until = NULL
                     WHERE project = $1 AND name = $2",
                    &[&w.project, &w.name],
                )
                .await
                .map_err(backend)?;
                Ok(())
            })
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
        let w = warehouse.clone();
        self.tx(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "INSERT INTO discoveries (project, warehouse, discovered_at, body)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (project, warehouse) DO UPDATE
                     SET discovered_at = excluded.discovered_at, body = excluded.body",
                    &[&w.project, &w.name, &at, &body],
                )
                .await
                .map_err(backend)?;
                Ok(match freight {
                    Some(f) => {
                        let inserted = tx
                            .execute(
                                "INSERT INTO freight (id, project, warehouse, created_at, body)
                                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                                &[&f.id, &w.project, &w.name, &f.created_at, &f.body],
                            )
                            .await
                            .map_err(backend)?;
                        if inserted > 0 {
                            outbox::insert(tx, &notify).await?;
                            FreightRecorded::New
                        } else {
                            FreightRecorded::AlreadyRecorded
                        }
                    }
                    None => FreightRecorded::NoFreight,
                })
            })
        })
        .await
    }

    async fn enqueue_notifications(&self, notify: Vec<NewNotification>) -> Result<(), StoreError> {
        self.tx(move |tx| Box::pin(async move { outbox::insert(tx, &notify).await }))
            .await
    }

    async fn claim_notifications(
        &self,
        owner: &str,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        let owner = owner.to_string();
        let lease_ms = lease.as_millis() as i64;
        self.tx(move |tx| Box::pin(async move { outbox::claim(tx, &owner, lease_ms, limit).await }))
            .await
    }

    async fn notification_attempted(
        &self,
        id: &str,
        owner: &str,
        attempt: Attempt,
    ) -> Result<(), StoreError> {
        let (id, owner) = (id.to_string(), owner.to_string());
        self.tx(move |tx| {
            Box::pin(async move { outbox::attempted(tx, &id, &owner, &attempt).await })
        })
        .await
    }

    async fn notifications(
        &self,
        filter: NotificationFilter,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        self.tx(move |tx| Box::pin(async move { outbox::list(tx, &filter).await }))
            .await
    }

    async fn discovery(
        &self,
        warehouse: &WarehouseRef,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let w = warehouse.clone();
        self.tx(move |tx| {
            Box::pin(async move {
                let body: Option<String> = tx
                    .query_opt(
                        "SELECT body FROM discoveries WHERE project = $1 AND warehouse = $2",
                        &[&w.project, &w.name],
                    )
                    .await
                    .map_err(backend)?
                    .map(|r| r.get(0));
                Ok(body.and_then(|b| serde_json::from_str(&b).ok()))
            })
        })
        .await
    }

    async fn delivery(&self, id: &str) -> Result<Option<Delivery>, StoreError> {
        let id = id.to_string();
        self.tx(move |tx| {
            Box::pin(async move {
                let row = tx
                    .query_opt("SELECT body FROM deliveries WHERE id = $1", &[&id])
                    .await
                    .map_err(backend)?;
                // A body this version cannot read is left out, as `deliveries` leaves it out.
                let mut found: Vec<Delivery> = row
                    .and_then(|r| delivery_record::decode(r.get::<_, &str>(0)).ok())
                    .into_iter()
                    .collect();
                attach_refreshes(tx, &mut found).await?;
                Ok(found.pop())
            })
        })
        .await
    }

    async fn payload(&self, id: &str) -> Result<Option<super::Payload>, StoreError> {
        let id = id.to_string();
        self.tx(move |tx| {
            Box::pin(async move {
                let row = tx
                    .query_opt(
                        "SELECT headers, body, trimmed FROM delivery_payloads
                         WHERE delivery_id = $1",
                        &[&id],
                    )
                    .await
                    .map_err(backend)?;
                Ok(row.map(|r| {
                    delivery_record::decode_payload(r.get::<_, &str>(0), r.get(1), r.get(2))
                }))
            })
        })
        .await
    }

    async fn artifact_reports(
        &self,
        filter: super::ArtifactFilter,
    ) -> Result<Vec<super::ArtifactReport>, StoreError> {
        let limit = if filter.limit == 0 { 100 } else { filter.limit } as i64;
        self.tx(move |tx| {
            Box::pin(async move {
                let rows = tx
                    .query(
                        "SELECT d.id, d.received_at, d.project, d.receiver, d.query,
                                a.repository, a.tag, a.digest
                         FROM artifact_reports a JOIN deliveries d ON d.id = a.delivery_id
                         WHERE a.repository = $1 AND ($2::TEXT IS NULL OR a.tag = $2)
                         ORDER BY d.seq DESC LIMIT $3",
                        &[&filter.repository, &filter.tag, &limit],
                    )
                    .await
                    .map_err(backend)?;
                Ok(rows
                    .iter()
                    .map(|r| super::ArtifactReport {
                        delivery_id: r.get(0),
                        received_at: r.get(1),
                        project: r.get(2),
                        receiver: r.get(3),
                        query: r.get(4),
                        artifact: super::ReportedArtifact {
                            repository: r.get(5),
                            tag: Some(r.get::<_, String>(6)).filter(|t| !t.is_empty()),
                            digest: r.get(7),
                        },
                    })
                    .collect())
            })
        })
        .await
    }

    async fn deliveries(&self, filter: DeliveryFilter) -> Result<Vec<Delivery>, StoreError> {
        let limit = if filter.limit == 0 { 100 } else { filter.limit } as i64;
        self.tx(move |tx| {
            Box::pin(async move {
                // A substring, not a pattern: escape LIKE's wildcards and the escape itself.
                let query = filter.query.as_ref().map(|q| {
                    let escaped = q
                        .replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_");
                    format!("%{escaped}%")
                });
                let args: [&(dyn ToSql + Sync); 4] =
                    [&filter.project, &filter.receiver, &query, &limit];
                let rows = tx
                    .query(
                        "SELECT body FROM deliveries
                         WHERE ($1::TEXT IS NULL OR project = $1)
                           AND ($2::TEXT IS NULL OR receiver = $2)
                           AND ($3::TEXT IS NULL OR query LIKE $3 ESCAPE '\\')
                         ORDER BY seq DESC LIMIT $4",
                        &args,
                    )
                    .await
                    .map_err(backend)?;
                let mut out: Vec<Delivery> = rows
                    .iter()
                    .filter_map(|r| delivery_record::decode(r.get::<_, &str>(0)).ok())
                    .collect();
                attach_refreshes(tx, &mut out).await?;
                Ok(out)
            })
        })
        .await
    }

    async fn pending(&self) -> Result<Vec<WarehouseRef>, StoreError> {
        self.tx(|tx| {
            Box::pin(async move {
                let rows = tx
                    .query(
                        "SELECT project, name FROM pending_refreshes ORDER BY requested_at, seq",
                        &[],
                    )
                    .await
                    .map_err(backend)?;
                Ok(rows
                    .iter()
                    .map(|r| WarehouseRef {
                        project: r.get(0),
                        name: r.get(1),
                    })
                    .collect())
            })
        })
        .await
    }

    async fn warehouse_states(&self) -> Result<Vec<WarehouseState>, StoreError> {
        self.tx(|tx| {
            Box::pin(async move {
                let rows = tx
                    .query(
                        "SELECT w.project, w.name, w.last_refresh_requested,
                                w.last_reconcile_started, w.last_reconciled, p.seq IS NOT NULL,
                                w.reconcile_count, w.refresh_count, w.last_error
                         FROM warehouses w LEFT JOIN pending_refreshes p
                           ON p.project = w.project AND p.name = w.name
                         ORDER BY w.project, w.name",
                        &[],
                    )
                    .await
                    .map_err(backend)?;
                Ok(rows
                    .iter()
                    .map(|r| WarehouseState {
                        warehouse: WarehouseRef {
                            project: r.get(0),
                            name: r.get(1),
                        },
                        last_refresh_requested: r.get(2),
                        last_reconcile_started: r.get(3),
                        last_reconciled: r.get(4),
                        pending: r.get(5),
                        reconcile_count: r.get::<_, i64>(6) as u64,
                        refresh_count: r.get::<_, i64>(7) as u64,
                        last_error: r.get(8),
                    })
                    .collect())
            })
        })
        .await
    }

    async fn freight(&self, filter: FreightFilter) -> Result<Vec<serde_json::Value>, StoreError> {
        self.tx(move |tx| {
            Box::pin(async move {
                let rows = tx
                    .query(
                        "SELECT body FROM freight
                         WHERE ($1::TEXT IS NULL OR project = $1)
                           AND ($2::TEXT IS NULL OR warehouse = $2)
                         ORDER BY created_at DESC, id",
                        &[&filter.project, &filter.warehouse],
                    )
                    .await
                    .map_err(backend)?;
                Ok(rows
                    .iter()
                    .filter_map(|r| serde_json::from_str(r.get::<_, &str>(0)).ok())
                    .collect())
            })
        })
        .await
    }

    fn link_refreshes(&self) {
        self.inner.link.store(true, Ordering::Relaxed);
    }

    async fn kargo_patched(
        &self,
        warehouse: &WarehouseRef,
        covered: RefreshSeq,
        token: Option<String>,
        at: String,
        error: Option<String>,
    ) -> Result<(), StoreError> {
        let w = warehouse.clone();
        let covered = covered.0 as i64;
        self.tx(move |tx| {
            Box::pin(async move {
                let patched_at = token.as_ref().map(|_| at);
                tx.execute(
                    "UPDATE refresh_links SET token = $4, patched_at = $5, error = $6
                     WHERE project = $1 AND name = $2 AND seq <= $3
                       AND token IS NULL AND error IS NULL",
                    &[&w.project, &w.name, &covered, &token, &patched_at, &error],
                )
                .await
                .map_err(backend)?;
                Ok(())
            })
        })
        .await
    }

    async fn kargo_handled(
        &self,
        warehouse: &WarehouseRef,
        last_handled: String,
        at: String,
    ) -> Result<(), StoreError> {
        let w = warehouse.clone();
        self.tx(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "UPDATE refresh_links SET handled_at = $4
                     WHERE project = $1 AND name = $2 AND token IS NOT NULL AND token <= $3
                       AND handled_at IS NULL",
                    &[&w.project, &w.name, &last_handled, &at],
                )
                .await
                .map_err(backend)?;
                Ok(())
            })
        })
        .await
    }

    async fn kargo_outstanding(&self) -> Result<Vec<(WarehouseRef, String)>, StoreError> {
        self.tx(|tx| {
            Box::pin(async move {
                let rows = tx
                    .query(
                        "SELECT DISTINCT project, name, token FROM refresh_links
                         WHERE token IS NOT NULL AND handled_at IS NULL",
                        &[],
                    )
                    .await
                    .map_err(backend)?;
                Ok(rows
                    .iter()
                    .map(|r| {
                        (
                            WarehouseRef::new(r.get::<_, String>(0), r.get::<_, String>(1)),
                            r.get::<_, String>(2),
                        )
                    })
                    .collect())
            })
        })
        .await
    }

    async fn stored_bytes(&self) -> Result<u64, StoreError> {
        self.tx(|tx| Box::pin(async move { Ok(used_bytes(tx).await?.max(0) as u64) }))
            .await
    }

    async fn close(&self) {
        // Every awaited write has committed already; refuse new ones and drop the connections.
        self.inner.closed.store(true, Ordering::Release);
        self.inner.pool.close();
    }

    fn shares_work(&self) -> bool {
        true
    }

    async fn claim_refreshes(
        &self,
        owner: &str,
        lease: Duration,
        cooldown: Duration,
        limit: usize,
    ) -> Result<Vec<WarehouseRef>, StoreError> {
        let owner = owner.to_string();
        let (lease, cooldown, limit) = (lease.as_secs_f64(), cooldown.as_secs_f64(), limit as i64);
        self.tx(move |tx| {
            Box::pin(async move {
                // SKIP LOCKED: replicas claiming together each take different rows instead of
                // queueing behind one another's locks.
                let rows = tx
                    .query(
                        "UPDATE pending_refreshes p
                         SET lease_owner = $1, lease_until = now() + make_interval(secs => $2)
                         WHERE (p.project, p.name) IN (
                            SELECT p2.project, p2.name FROM pending_refreshes p2
                            LEFT JOIN warehouses w ON w.project = p2.project AND w.name = p2.name
                            WHERE (p2.lease_until IS NULL OR p2.lease_until < now())
                              AND (w.started_at IS NULL
                                   OR w.started_at + make_interval(secs => $3) <= now())
                            ORDER BY p2.seq
                            LIMIT $4
                            FOR UPDATE OF p2 SKIP LOCKED)
                         RETURNING p.project, p.name",
                        &[&owner, &lease, &cooldown, &limit],
                    )
                    .await
                    .map_err(backend)?;
                Ok(rows
                    .iter()
                    .map(|r| WarehouseRef {
                        project: r.get(0),
                        name: r.get(1),
                    })
                    .collect())
            })
        })
        .await
    }

    async fn renew_lease(
        &self,
        warehouse: &WarehouseRef,
        owner: &str,
        lease: Duration,
    ) -> Result<(), StoreError> {
        let (w, owner, lease) = (warehouse.clone(), owner.to_string(), lease.as_secs_f64());
        self.tx(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "UPDATE pending_refreshes SET lease_until = now() + make_interval(secs => $4)
                     WHERE project = $1 AND name = $2 AND lease_owner = $3",
                    &[&w.project, &w.name, &owner, &lease],
                )
                .await
                .map_err(backend)?;
                Ok(())
            })
        })
        .await
    }

    async fn request_refresh_if_due(
        &self,
        warehouse: &WarehouseRef,
        interval: Duration,
        at: String,
    ) -> Result<bool, StoreError> {
        let (w, interval) = (warehouse.clone(), interval.as_secs_f64());
        self.tx(move |tx| {
            Box::pin(async move {
                upsert_warehouse(tx, &w).await?;
                // The Warehouse's row lock serializes replicas deciding together.
                let due: bool = tx
                    .query_one(
                        "SELECT (w.started_at IS NULL
                                 OR w.started_at + make_interval(secs => $3) <= now())
                                AND NOT EXISTS (SELECT 1 FROM pending_refreshes p
                                                WHERE p.project = $1 AND p.name = $2)
                         FROM warehouses w WHERE w.project = $1 AND w.name = $2 FOR UPDATE",
                        &[&w.project, &w.name, &interval],
                    )
                    .await
                    .map_err(backend)?
                    .get(0);
                if due {
                    mark_pending(tx, std::slice::from_ref(&w), &at).await?;
                }
                Ok(due)
            })
        })
        .await
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.tx(|tx| {
            Box::pin(async move {
                tx.execute("SELECT 1", &[]).await.map_err(backend)?;
                Ok(())
            })
        })
        .await
    }
}

/// The test run's PostgreSQL cluster (the same harness as the end-to-end tests').
#[cfg(test)]
#[path = "../../tests/support/postgres.rs"]
#[allow(dead_code)]
mod test_cluster;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract::{self, store_contract, Harness};
    use std::sync::Arc;

    use test_cluster as cluster;

    /// A fresh database on the test run's PostgreSQL cluster.
    struct PostgresHarness {
        url: String,
    }

    impl PostgresHarness {
        fn new() -> PostgresHarness {
            PostgresHarness {
                url: cluster::Cluster::shared().database(),
            }
        }
    }

    #[async_trait]
    impl Harness for PostgresHarness {
        async fn open_with_budget(
            &self,
            keep_deliveries: usize,
            max_bytes: u64,
        ) -> Result<Arc<dyn Store>, StoreError> {
            let store = PostgresStore::open(&PostgresOptions {
                url: self.url.clone(),
                keep_deliveries,
                max_store_bytes: max_bytes,
                max_connections: 4,
            })
            .await?;
            Ok(Arc::new(store))
        }

        async fn write_schema_version(&self, version: i64) {
            let (client, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
                .await
                .expect("connect");
            tokio::spawn(conn);
            client
                .execute(
                    "UPDATE dockhand_schema SET version = $1 WHERE id = 1",
                    &[&version],
                )
                .await
                .expect("set the schema version");
        }

        async fn hold_writes(&self) -> Option<Box<dyn Send>> {
            // No write queue: a held lock makes writers wait (then `Unavailable`), not `Busy`.
            None
        }
    }

    store_contract!(PostgresHarness::new());

    async fn open_store(url: &str) -> PostgresStore {
        PostgresStore::open(&PostgresOptions {
            url: url.to_string(),
            keep_deliveries: 1000,
            max_store_bytes: 1 << 30,
            max_connections: 4,
        })
        .await
        .expect("open")
    }

    /// Deliveries recorded concurrently (so the writers batch them): a key claimed twice within
    /// the batches is stored once, and the other deliveries around it are all stored.
    #[tokio::test]
    async fn concurrent_claims_of_one_key_store_one_delivery_and_fail_no_other() {
        let url = cluster::Cluster::shared().database();
        let store = open_store(&url).await;
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..64u32 {
            let store = store.clone();
            tasks.spawn(async move {
                // Even deliveries share one key; odd ones each have their own.
                let key = if n % 2 == 0 {
                    [7u8; 16]
                } else {
                    [100 + n as u8; 16]
                };
                let claim = ProviderClaim {
                    key,
                    window: Duration::from_secs(600),
                };
                let outcome = store
                    .record_delivery_once(
                        contract::delivery(n, "a", "r", None),
                        vec![contract::wh("a", "app")],
                        claim,
                    )
                    .await
                    .expect("recorded");
                (n, outcome)
            });
        }
        let mut stored_even = 0;
        while let Some(joined) = tasks.join_next().await {
            let (n, outcome) = joined.expect("task");
            if n % 2 == 0 {
                stored_even += usize::from(outcome == Recorded::Stored);
            } else {
                assert_eq!(outcome, Recorded::Stored, "delivery {n}");
            }
        }
        assert_eq!(stored_even, 1, "one delivery of the shared key stored");
        let list = store
            .deliveries(DeliveryFilter {
                limit: 1000,
                ..DeliveryFilter::default()
            })
            .await
            .expect("list");
        assert_eq!(list.len(), 33);
        // Every stored delivery asked for a refresh of a/app, each counted.
        let states = store.warehouse_states().await.expect("states");
        let app = states
            .iter()
            .find(|s| s.warehouse == contract::wh("a", "app"))
            .expect("a/app");
        assert_eq!(app.refresh_count, 33);
        assert!(app.pending);
    }

    /// A delivery its batch cannot take (its id is stored already) fails alone: the deliveries
    /// batched with it are stored and answered `Ok`.
    #[tokio::test]
    async fn a_failing_delivery_fails_alone_in_its_batch() {
        let url = cluster::Cluster::shared().database();
        let store = open_store(&url).await;
        store
            .record_delivery(contract::delivery(0, "a", "r", None), vec![])
            .await
            .expect("first");
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..32u32 {
            let store = store.clone();
            tasks.spawn(async move {
                // Delivery 0 again: the same id, refused by the database.
                let r = store
                    .record_delivery(
                        contract::delivery(n, "a", "r", None),
                        vec![contract::wh("a", format!("w{n}").as_str())],
                    )
                    .await;
                (n, r.is_ok())
            });
        }
        while let Some(joined) = tasks.join_next().await {
            let (n, ok) = joined.expect("task");
            assert_eq!(ok, n != 0, "delivery {n}");
        }
        let list = store
            .deliveries(DeliveryFilter {
                limit: 1000,
                ..DeliveryFilter::default()
            })
            .await
            .expect("list");
        assert_eq!(list.len(), 32);
        let pending = store.pending().await.expect("pending");
        assert_eq!(pending.len(), 31, "w1..w31 pending, not w0");
        assert!(!pending.contains(&contract::wh("a", "w0")));
    }

    #[test]
    fn redacted_urls_keep_no_password() {
        let cases = [
            (
                "postgres://dock:s3cret@db.example:5432/dockhand?sslmode=require",
                "postgres://dock:***@db.example:5432/dockhand",
            ),
            ("postgresql://db/x", "postgresql://db/x"),
            (
                "host=db port=5432 user=u password=s3cret dbname=d",
                "host=db port=5432 dbname=d",
            ),
            ("postgres://u:p@ss@h/d", "postgres://u:***@h/d"),
        ];
        for (url, want) in cases {
            assert_eq!(redact(url), want, "{url}");
            assert!(!redact(url).contains("s3cret"));
        }
    }
}
