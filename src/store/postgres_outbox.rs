//! The notification outbox of the PostgreSQL backend: the SQL behind the outbox methods of
//! `Store`, run inside `postgres.rs`'s transactions. Several replicas share the table: a row is
//! claimed under a lease (`FOR UPDATE SKIP LOCKED`, as pending refreshes are), so exactly one
//! replica sends it at a time, and a replica killed mid-send leaves it to another once the lease
//! runs out. Times are the database server's (Unix milliseconds of `clock_timestamp()`), never
//! a replica's clock.

use deadpool_postgres::Transaction;
use tokio_postgres::Row;

use super::postgres::backend;
use super::{
    Attempt, NewNotification, NotificationFilter, NotificationRecord, NotificationStatus,
    StoreError, KEEP_NOTIFICATIONS,
};

/// The schema of the outbox (one entry of `postgres.rs`'s migrations).
pub(super) const MIGRATION: &str = "CREATE TABLE notifications (
        seq BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        project TEXT NOT NULL,
        notification TEXT NOT NULL,
        type TEXT NOT NULL,
        event TEXT NOT NULL,
        warehouse TEXT,
        created_at TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms BIGINT NOT NULL,
        last_error TEXT,
        response_code INTEGER,
        finished_at TEXT,
        lease_owner TEXT,
        lease_until_ms BIGINT
     );
     CREATE INDEX notifications_due ON notifications (status, next_attempt_ms);
     CREATE INDEX notifications_by_project ON notifications (project, seq);";

/// The server's clock in Unix milliseconds, as SQL.
const NOW_MS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

const COLUMNS: &str = "id, project, notification, type, event, warehouse, created_at, payload,
    status, attempts, created_ms, last_error, response_code, finished_at";

/// Adds rows (an id already there is kept) and trims finished rows beyond the newest
/// `KEEP_NOTIFICATIONS`.
pub(super) async fn insert(
    tx: &Transaction<'_>,
    rows: &[NewNotification],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO notifications
            (id, project, notification, type, event, warehouse, created_at, created_ms, payload,
             next_attempt_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, {NOW_MS}, $8, {NOW_MS})
         ON CONFLICT (id) DO NOTHING"
    );
    for n in rows {
        tx.execute(
            &sql,
            &[
                &n.id,
                &n.project,
                &n.notification,
                &n.kind,
                &n.event,
                &n.warehouse,
                &n.created_at,
                &n.payload,
            ],
        )
        .await
        .map_err(backend)?;
    }
    tx.execute(
        "DELETE FROM notifications WHERE status != 'pending' AND seq <= (
            SELECT seq FROM notifications ORDER BY seq DESC LIMIT 1 OFFSET $1)",
        &[&(KEEP_NOTIFICATIONS as i64)],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

/// True when the Warehouse's last recorded reconcile did not fail (or there was none). Locks
/// its row, so two replicas finishing together see each other's result.
pub(super) async fn last_reconcile_succeeded(
    tx: &Transaction<'_>,
    project: &str,
    name: &str,
) -> Result<bool, StoreError> {
    let row = tx
        .query_opt(
            "SELECT last_error FROM warehouses WHERE project = $1 AND name = $2 FOR UPDATE",
            &[&project, &name],
        )
        .await
        .map_err(backend)?;
    Ok(row.is_none_or(|r| r.get::<_, Option<String>>(0).is_none()))
}

pub(super) async fn claim(
    tx: &Transaction<'_>,
    owner: &str,
    lease_ms: i64,
    limit: usize,
) -> Result<Vec<NotificationRecord>, StoreError> {
    // SKIP LOCKED: replicas claiming together take different rows.
    let sql = format!(
        "UPDATE notifications n SET lease_owner = $1, lease_until_ms = {NOW_MS} + $2
         WHERE n.seq IN (
            SELECT seq FROM notifications
            WHERE status = 'pending' AND next_attempt_ms <= {NOW_MS}
              AND (lease_until_ms IS NULL OR lease_until_ms < {NOW_MS})
            ORDER BY next_attempt_ms, seq
            LIMIT $3
            FOR UPDATE SKIP LOCKED)
         RETURNING {COLUMNS}"
    );
    let rows = tx
        .query(&sql, &[&owner, &lease_ms, &(limit as i64)])
        .await
        .map_err(backend)?;
    Ok(rows.iter().map(record).collect())
}

pub(super) async fn attempted(
    tx: &Transaction<'_>,
    id: &str,
    owner: &str,
    attempt: &Attempt,
) -> Result<(), StoreError> {
    let (status, code, error, after_ms, finished) = match attempt {
        Attempt::Sent { code, at } => ("sent", Some(*code), None, 0i64, Some(at.as_str())),
        Attempt::Retry { code, error, after } => (
            "pending",
            *code,
            Some(error.as_str()),
            after.as_millis() as i64,
            None,
        ),
        Attempt::Failed { code, error, at } => {
            ("failed", *code, Some(error.as_str()), 0, Some(at.as_str()))
        }
    };
    let code = code.map(i32::from);
    // Only the holder of the lease records (see `sqlite_outbox.rs`).
    let sql = format!(
        "UPDATE notifications SET status = $3, attempts = attempts + 1,
            response_code = $4, last_error = COALESCE($5, last_error),
            next_attempt_ms = CASE WHEN $3 = 'pending' THEN {NOW_MS} + $6 ELSE next_attempt_ms END,
            finished_at = $7, lease_owner = NULL, lease_until_ms = NULL
         WHERE id = $1 AND lease_owner = $2 AND status = 'pending'"
    );
    tx.execute(
        &sql,
        &[&id, &owner, &status, &code, &error, &after_ms, &finished],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

pub(super) async fn list(
    tx: &Transaction<'_>,
    filter: &NotificationFilter,
) -> Result<Vec<NotificationRecord>, StoreError> {
    let limit = if filter.limit == 0 { 100 } else { filter.limit } as i64;
    let sql = format!(
        "SELECT {COLUMNS} FROM notifications
         WHERE ($1::TEXT IS NULL OR project = $1) ORDER BY seq DESC LIMIT $2"
    );
    let rows = tx
        .query(&sql, &[&filter.project, &limit])
        .await
        .map_err(backend)?;
    Ok(rows.iter().map(record).collect())
}

fn record(r: &Row) -> NotificationRecord {
    let status: String = r.get(8);
    let code: Option<i32> = r.get(12);
    NotificationRecord {
        new: NewNotification {
            id: r.get(0),
            project: r.get(1),
            notification: r.get(2),
            kind: r.get(3),
            event: r.get(4),
            warehouse: r.get(5),
            created_at: r.get(6),
            payload: r.get(7),
        },
        status: NotificationStatus::parse(&status),
        attempts: r.get::<_, i32>(9).max(0) as u32,
        created_ms: r.get(10),
        last_error: r.get(11),
        response_code: code.and_then(|c| u16::try_from(c).ok()),
        finished_at: r.get(13),
    }
}
