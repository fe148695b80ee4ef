//! The notification outbox of the SQLite backend: the SQL behind the outbox methods of `Store`,
//! run by `sqlite.rs`'s writer thread (inside its batch transaction) and reader connection.
//! Kept apart from the writer so that the outbox and the writer's batching change separately.
//!
//! Times are Unix milliseconds of this machine's clock: one process owns a SQLite store, so
//! there is no other clock to agree with. Leases still matter within the process (a row being
//! sent is not claimed again) and are all released when the store opens, since the process that
//! held them is gone.

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::{
    Attempt, NewNotification, NotificationFilter, NotificationRecord, NotificationStatus,
    KEEP_NOTIFICATIONS,
};

/// The schema of the outbox (one entry of `sqlite.rs`'s migrations).
pub(super) const MIGRATION: &str = "CREATE TABLE notifications (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        project TEXT NOT NULL,
        notification TEXT NOT NULL,
        type TEXT NOT NULL,
        event TEXT NOT NULL,
        warehouse TEXT,
        created_at TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL,
        last_error TEXT,
        response_code INTEGER,
        finished_at TEXT,
        lease_owner TEXT,
        lease_until_ms INTEGER
     );
     CREATE INDEX notifications_due ON notifications (status, next_attempt_ms);
     CREATE INDEX notifications_by_project ON notifications (project, seq);";

/// An outbox operation for the writer thread.
#[derive(Debug)]
pub(super) enum Op {
    Enqueue(Vec<NewNotification>),
    Claim {
        owner: String,
        lease_ms: i64,
        limit: usize,
    },
    Attempted {
        id: String,
        owner: String,
        attempt: Attempt,
    },
}

/// What an operation answers.
#[derive(Debug, Default)]
pub(super) enum Answer {
    #[default]
    Done,
    Claimed(Vec<NotificationRecord>),
}

pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs `op` inside the writer's transaction.
pub(super) fn apply(tx: &Transaction<'_>, op: &Op) -> rusqlite::Result<Answer> {
    match op {
        Op::Enqueue(rows) => {
            insert(tx, rows)?;
            Ok(Answer::Done)
        }
        Op::Claim {
            owner,
            lease_ms,
            limit,
        } => {
            let now = now_ms();
            let mut claimed = Vec::new();
            {
                let mut select = tx.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM notifications
                     WHERE status = 'pending' AND next_attempt_ms <= ?1
                       AND (lease_until_ms IS NULL OR lease_until_ms < ?1)
                     ORDER BY next_attempt_ms, seq LIMIT ?2"
                ))?;
                let rows = select.query_map(params![now, *limit as i64], record)?;
                for r in rows {
                    claimed.push(r?);
                }
            }
            let mut lease = tx.prepare_cached(
                "UPDATE notifications SET lease_owner = ?2, lease_until_ms = ?3 WHERE id = ?1",
            )?;
            for r in &claimed {
                lease.execute(params![r.new.id, owner, now + lease_ms])?;
            }
            Ok(Answer::Claimed(claimed))
        }
        Op::Attempted { id, owner, attempt } => {
            let (status, code, error, next, finished) = match attempt {
                Attempt::Sent { code, at } => ("sent", Some(*code), None, 0, Some(at.as_str())),
                Attempt::Retry { code, error, after } => (
                    "pending",
                    *code,
                    Some(error.as_str()),
                    now_ms() + after.as_millis() as i64,
                    None,
                ),
                Attempt::Failed { code, error, at } => {
                    ("failed", *code, Some(error.as_str()), 0, Some(at.as_str()))
                }
            };
            // Only the holder of the lease records: a claimant whose lease ran out (and whose
            // row another took) must not overwrite the newer attempt.
            tx.prepare_cached(
                "UPDATE notifications SET status = ?3, attempts = attempts + 1,
                    response_code = ?4, last_error = COALESCE(?5, last_error),
                    next_attempt_ms = CASE WHEN ?3 = 'pending' THEN ?6 ELSE next_attempt_ms END,
                    finished_at = ?7, lease_owner = NULL, lease_until_ms = NULL
                 WHERE id = ?1 AND lease_owner = ?2 AND status = 'pending'",
            )?
            .execute(params![
                id,
                owner,
                status,
                code.map(i64::from),
                error,
                next,
                finished
            ])?;
            Ok(Answer::Done)
        }
    }
}

/// Adds rows (an id already there is kept) and trims the finished ones beyond the newest
/// `KEEP_NOTIFICATIONS`.
pub(super) fn insert(tx: &Transaction<'_>, rows: &[NewNotification]) -> rusqlite::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO notifications
            (id, project, notification, type, event, warehouse, created_at, created_ms, payload,
             next_attempt_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?8)",
    )?;
    for n in rows {
        stmt.execute(params![
            n.id,
            n.project,
            n.notification,
            n.kind,
            n.event,
            n.warehouse,
            n.created_at,
            now,
            n.payload
        ])?;
    }
    tx.prepare_cached(
        "DELETE FROM notifications WHERE status != 'pending' AND seq <= (
            SELECT seq FROM notifications ORDER BY seq DESC LIMIT 1 OFFSET ?1)",
    )?
    .execute(params![KEEP_NOTIFICATIONS as i64])?;
    Ok(())
}

/// True when the Warehouse's last recorded reconcile did not fail (or there was none): a
/// failure now is a new one, worth a DiscoveryFailed.
pub(super) fn last_reconcile_succeeded(
    tx: &Transaction<'_>,
    project: &str,
    name: &str,
) -> rusqlite::Result<bool> {
    let error: Option<Option<String>> = tx
        .prepare_cached("SELECT last_error FROM warehouses WHERE project = ?1 AND name = ?2")?
        .query_row(params![project, name], |r| r.get(0))
        .optional()?;
    Ok(error.flatten().is_none())
}

/// Frees every lease: called at open, when no sender of this store can be running.
pub(super) fn release_leases(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE notifications SET lease_owner = NULL, lease_until_ms = NULL
         WHERE lease_owner IS NOT NULL",
        [],
    )?;
    Ok(())
}

/// Is any pending row due and free (a read, before asking the writer to claim)?
pub(super) fn any_due(c: &Connection) -> rusqlite::Result<bool> {
    let now = now_ms();
    c.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM notifications
            WHERE status = 'pending' AND next_attempt_ms <= ?1
              AND (lease_until_ms IS NULL OR lease_until_ms < ?1))",
    )?
    .query_row(params![now], |r| r.get(0))
}

/// Lists rows, newest first.
pub(super) fn list(
    c: &Connection,
    filter: &NotificationFilter,
) -> rusqlite::Result<Vec<NotificationRecord>> {
    let limit = if filter.limit == 0 { 100 } else { filter.limit } as i64;
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM notifications
         WHERE (?1 IS NULL OR project = ?1) ORDER BY seq DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![filter.project, limit], record)?;
    rows.collect()
}

const COLUMNS: &str = "id, project, notification, type, event, warehouse, created_at, payload,
    status, attempts, created_ms, last_error, response_code, finished_at";

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<NotificationRecord> {
    let status: String = r.get(8)?;
    let code: Option<i64> = r.get(12)?;
    Ok(NotificationRecord {
        new: NewNotification {
            id: r.get(0)?,
            project: r.get(1)?,
            notification: r.get(2)?,
            kind: r.get(3)?,
            event: r.get(4)?,
            warehouse: r.get(5)?,
            created_at: r.get(6)?,
            payload: r.get(7)?,
        },
        status: NotificationStatus::parse(&status),
        attempts: r.get::<_, i64>(9)? as u32,
        created_ms: r.get(10)?,
        last_error: r.get(11)?,
        response_code: code.and_then(|c| u16::try_from(c).ok()),
        finished_at: r.get(13)?,
    })
}
