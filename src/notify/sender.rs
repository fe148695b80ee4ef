//! The sender: claims due rows from the outbox and sends them, each on its own task.
//!
//! - **Isolation.** Every row is sent by its own task, bounded per endpoint (a Notification:
//!   `PER_ENDPOINT` at once) and in total (`MAX_IN_FLIGHT`), each attempt bounded by
//!   `ATTEMPT_TIMEOUT`. A slow or dead endpoint holds only its own permits, and the webhook path
//!   never waits for any of this: it only writes rows.
//! - **Retries.** 2xx is sent. 408, 429, 5xx, timeouts and connection errors are tried again
//!   after 1 s, 2 s, 4 s, 8 s, 16 s, ... (the first five within a minute; at most
//!   `MAX_BACKOFF` apart), or after `Retry-After` when the endpoint gives one (429, 503), until
//!   the deadline (`--notification-deadline`, from when the row was written), then failed.
//!   Any other 4xx fails at once (retrying cannot fix it); so does a 3xx (redirects are not
//!   followed: a webhook endpoint that moved must be reconfigured). Every attempt carries the
//!   row's id as `webhook-id`, so receivers de-duplicate.
//! - **Claims.** A row is claimed under a lease (`LEASE`) before it is sent, so with several
//!   replicas on PostgreSQL one sends it; a replica that dies mid-send leaves it to another
//!   when the lease runs out. Rows already in flight here are not started twice.
//! - **Secrets.** The address and the signing key come from the running configuration and are
//!   never logged or recorded; errors are recorded without the URL.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dockhand_core::config::{NotificationType, SigningKey};
use parking_lot::Mutex;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{body, find, sign, Notifier};
use crate::clock::now_rfc3339;
use crate::metrics::NotificationOutcome;
use crate::store::{Attempt, NotificationRecord};

/// Longest one attempt may take (connect, send, answer).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a claim holds a row: long enough for the rows of one endpoint waiting for its
/// permits (`PER_ENDPOINT` at a time, each at most `ATTEMPT_TIMEOUT`).
const LEASE: Duration = Duration::from_secs(300);
/// Rows sent at once to one Notification's endpoint.
const PER_ENDPOINT: usize = 4;
/// Rows in flight in this process.
const MAX_IN_FLIGHT: usize = 256;
/// Rows claimed per look.
const CLAIM_BATCH: usize = 64;
/// How often the store is asked when nothing woke the sender (rows due for a retry, rows
/// another replica wrote).
const POLL: Duration = Duration::from_millis(500);
/// First retry delay; doubles each time.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Claims and sends until `cancel`; sends in flight are dropped on cancel (their rows stay
/// pending and are sent again after the restart: receivers de-duplicate by `webhook-id`).
pub async fn run(notifier: Arc<Notifier>, tasks: TaskTracker, cancel: CancellationToken) {
    let client = match reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(ATTEMPT_TIMEOUT / 2)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("dockhand/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the notification HTTP client; notifications are not sent");
            return;
        }
    };
    let owner = format!("{}-{}", std::process::id(), uuid::Uuid::now_v7());
    let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut endpoints: HashMap<(String, String), Arc<Semaphore>> = HashMap::new();
    loop {
        let room = MAX_IN_FLIGHT.saturating_sub(in_flight.lock().len());
        if room > 0 {
            match notifier
                .store
                .claim_notifications(&owner, LEASE, room.min(CLAIM_BATCH))
                .await
            {
                Ok(rows) => {
                    for row in rows {
                        if !in_flight.lock().insert(row.new.id.clone()) {
                            continue;
                        }
                        let key = (row.new.project.clone(), row.new.notification.clone());
                        let permits = endpoints
                            .entry(key)
                            .or_insert_with(|| Arc::new(Semaphore::new(PER_ENDPOINT)))
                            .clone();
                        let (n, c, o, f, cancel) = (
                            notifier.clone(),
                            client.clone(),
                            owner.clone(),
                            in_flight.clone(),
                            cancel.clone(),
                        );
                        tasks.spawn(async move {
                            let id = row.new.id.clone();
                            tokio::select! {
                                _ = cancel.cancelled() => {}
                                _ = async {
                                    let Ok(_permit) = permits.acquire().await else { return };
                                    deliver(&n, &c, &o, row).await;
                                } => {}
                            }
                            f.lock().remove(&id);
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot claim notifications"),
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = notifier.wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// One attempt at one row, recorded.
async fn deliver(
    notifier: &Notifier,
    client: &reqwest::Client,
    owner: &str,
    row: NotificationRecord,
) {
    let snap = notifier.snapshot.load_full();
    let configured = find(
        &snap.config.notifications,
        &row.new.project,
        &row.new.notification,
    );
    let kind = configured
        .map(|n| n.kind)
        .or_else(|| NotificationType::parse(&row.new.kind))
        .unwrap_or(NotificationType::Generic);
    let attempt = match configured {
        None => Attempt::Failed {
            code: None,
            error: format!(
                "Notification {}/{} is no longer configured",
                row.new.project, row.new.notification
            ),
            at: now_rfc3339(),
        },
        Some(n) => {
            let body = body::render(n.kind, &row.new.payload, &notifier.base_url);
            let sent = send(
                client,
                n.address.expose(),
                n.signing_key.as_ref(),
                &row.new.id,
                body,
            )
            .await;
            judge(sent, &row, notifier.deadline, unix_ms())
        }
    };
    let outcome = match &attempt {
        Attempt::Sent { .. } => NotificationOutcome::Sent,
        Attempt::Retry { .. } => NotificationOutcome::Retry,
        Attempt::Failed { .. } => NotificationOutcome::Failed,
    };
    notifier.metrics.notification(kind, outcome);
    let (project, name, id) = (&row.new.project, &row.new.notification, &row.new.id);
    match &attempt {
        Attempt::Sent { code, .. } => {
            tracing::info!(project, notification = %name, id, code, event = %row.new.event, "notification sent")
        }
        Attempt::Retry { error, after, .. } => {
            tracing::info!(project, notification = %name, id, error, retry_in_ms = after.as_millis() as u64, "notification not sent; will retry")
        }
        Attempt::Failed { error, .. } => {
            tracing::warn!(project, notification = %name, id, error, "notification failed")
        }
    }
    if let Err(e) = notifier
        .store
        .notification_attempted(id, owner, attempt)
        .await
    {
        // The lease runs out and the row is tried again: at worst a duplicate, with one id.
        tracing::error!(id, error = %e, "cannot record a notification attempt");
    }
}

/// What one HTTP attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Sent {
    /// The endpoint answered `code`; `retry_after` from its header; `detail` the start of its
    /// body, one line.
    Answered {
        code: u16,
        retry_after: Option<Duration>,
        detail: String,
    },
    /// No answer: connection refused, timed out, TLS... (the message names no URL).
    NoAnswer(String),
}

async fn send(
    client: &reqwest::Client,
    address: &str,
    key: Option<&SigningKey>,
    id: &str,
    body: Vec<u8>,
) -> Sent {
    let mut req = client
        .post(address)
        .header("content-type", "application/json");
    if let Some(key) = key {
        // Standard Webhooks headers; the timestamp is this attempt's, the id the row's.
        let ts = unix_ms() / 1000;
        req = req
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sign::signature(key, id, ts, &body));
    }
    match req.body(body).send().await {
        Ok(resp) => {
            let code = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(retry_after);
            let detail = match resp.bytes().await {
                Ok(b) => one_line(&b),
                Err(_) => String::new(),
            };
            Sent::Answered {
                code,
                retry_after,
                detail,
            }
        }
        Err(e) => {
            let e = e.without_url();
            let what = if e.is_timeout() {
                format!("timed out after {}s", ATTEMPT_TIMEOUT.as_secs())
            } else if e.is_connect() {
                format!("cannot connect: {}", chain(&e))
            } else {
                chain(&e)
            };
            Sent::NoAnswer(what)
        }
    }
}

/// An error and its causes, one line (reqwest's own message says only "error sending request").
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// `Retry-After` in seconds (the HTTP-date form is rare from webhook endpoints and ignored:
/// the backoff applies).
fn retry_after(v: &str) -> Option<Duration> {
    v.trim()
        .parse::<u64>()
        .ok()
        .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER))
}

/// The first 200 characters of a response body, on one line.
fn one_line(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(1024)]);
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    s.trim().to_string()
}

/// The delay before retry number `failures` (1 after the first failure): 1 s doubling, at
/// most `MAX_BACKOFF`.
pub fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(20);
    FIRST_BACKOFF.saturating_mul(1u32 << exp).min(MAX_BACKOFF)
}

/// What an attempt means for the row: sent, retry when, or failed for good (no I/O; the
/// clock only stamps `at`).
pub fn judge(sent: Sent, row: &NotificationRecord, deadline: Duration, now_ms: i64) -> Attempt {
    let at = now_rfc3339();
    let (code, error, wait) = match sent {
        Sent::Answered { code, .. } if (200..300).contains(&code) => {
            return Attempt::Sent { code, at };
        }
        Sent::Answered { code, detail, .. } if (300..400).contains(&code) => {
            return Attempt::Failed {
                code: Some(code),
                error: format!(
                    "HTTP {code}: redirects are not followed; configure the final URL{}",
                    with(&detail)
                ),
                at,
            };
        }
        Sent::Answered { code, detail, .. }
            if (400..500).contains(&code) && code != 408 && code != 429 =>
        {
            return Attempt::Failed {
                code: Some(code),
                error: format!("HTTP {code}{}", with(&detail)),
                at,
            };
        }
        Sent::Answered {
            code,
            retry_after,
            detail,
        } => (
            Some(code),
            format!("HTTP {code}{}", with(&detail)),
            retry_after,
        ),
        Sent::NoAnswer(e) => (None, e, None),
    };
    let failures = row.attempts + 1;
    let after = wait.unwrap_or_else(|| backoff(failures));
    let give_up_at = row.created_ms.saturating_add(deadline.as_millis() as i64);
    if now_ms.saturating_add(after.as_millis() as i64) > give_up_at {
        return Attempt::Failed {
            code,
            error: format!(
                "gave up after {failures} attempt(s) (deadline {}s): {error}",
                deadline.as_secs()
            ),
            at,
        };
    }
    Attempt::Retry { code, error, after }
}

fn with(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewNotification, NotificationStatus};

    fn row(attempts: u32, created_ms: i64) -> NotificationRecord {
        NotificationRecord {
            new: NewNotification {
                id: "msg_1".into(),
                project: "p".into(),
                notification: "n".into(),
                kind: "generic".into(),
                event: "Test".into(),
                warehouse: None,
                created_at: "t".into(),
                payload: "{}".into(),
            },
            status: NotificationStatus::Pending,
            attempts,
            created_ms,
            last_error: None,
            response_code: None,
            finished_at: None,
        }
    }

    fn answered(code: u16, retry_after: Option<u64>) -> Sent {
        Sent::Answered {
            code,
            retry_after: retry_after.map(Duration::from_secs),
            detail: "nope".into(),
        }
    }

    #[test]
    fn first_retries_fit_in_a_minute() {
        let total: Duration = (1..=5).map(backoff).sum();
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert!(total < Duration::from_secs(60), "{total:?}");
        assert_eq!(backoff(30), MAX_BACKOFF);
    }

    #[test]
    fn judged_by_status() {
        let day = Duration::from_secs(86_400);
        let r = row(0, 0);
        let kind = |a: Attempt| match a {
            Attempt::Sent { .. } => "sent".to_string(),
            Attempt::Retry { after, .. } => format!("retry {}s", after.as_secs()),
            Attempt::Failed { error, .. } => format!("failed {error}"),
        };
        let cases = [
            (answered(200, None), "sent"),
            (answered(204, None), "sent"),
            (answered(500, None), "retry 1s"),
            (answered(503, Some(7)), "retry 7s"),
            (answered(429, Some(30)), "retry 30s"),
            (answered(408, None), "retry 1s"),
            (answered(400, None), "failed HTTP 400: nope"),
            (answered(401, None), "failed HTTP 401: nope"),
            (answered(404, None), "failed HTTP 404: nope"),
            (
                answered(301, None),
                "failed HTTP 301: redirects are not followed; configure the final URL: nope",
            ),
            (Sent::NoAnswer("cannot connect".into()), "retry 1s"),
        ];
        for (sent, want) in cases {
            assert_eq!(kind(judge(sent.clone(), &r, day, 0)), want, "{sent:?}");
        }
        // The fourth failure waits 8 s.
        assert_eq!(
            kind(judge(answered(500, None), &row(3, 0), day, 0)),
            "retry 8s"
        );
    }

    #[test]
    fn deadline_turns_a_retry_into_a_failure() {
        let hour = Duration::from_secs(3600);
        let r = row(4, 0);
        match judge(answered(502, None), &r, hour, 3_599_000) {
            Attempt::Failed { code, error, .. } => {
                assert_eq!(code, Some(502));
                assert_eq!(
                    error,
                    "gave up after 5 attempt(s) (deadline 3600s): HTTP 502: nope"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retry_after_seconds_only() {
        assert_eq!(retry_after("12"), Some(Duration::from_secs(12)));
        assert_eq!(retry_after("999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
