//! Handling one webhook delivery that reached a receiver: authenticate and parse (the receiver),
//! decide what to refresh (the index), make it durable (the store), then answer and wake the
//! refresh engine. The delivery record explains every step.

use std::time::Instant;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use dockhand_core::config::Receiver;
use dockhand_core::event::{Action, Outcome, Source, Target};
use dockhand_core::index::WarehouseRefresh;
use dockhand_core::receivers::{self, generic};
use dockhand_core::warehouse_ref::WarehouseRef;
use serde_json::{json, Value};

use crate::app::{now_rfc3339, App, Snapshot};
use crate::dedup::Dedup;
use crate::kargo::Kargo;
use crate::metrics::UnmatchedReason;
use crate::store::{Delivery, ProviderClaim, Recorded};

/// Kargo's wording for a ping, kept so tooling that checks it keeps working.
pub const PING_MESSAGE: &str = "ping event received, webhook is configured correctly";

/// What the request looked like, for the record.
pub struct Incoming<'a> {
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    pub query: Option<&'a str>,
    pub body: &'a [u8],
    /// A replay of a recorded delivery (`receivers::Request::replay`): its credentials were
    /// checked when it arrived and never stored.
    pub replay: bool,
}

/// A fresh delivery record for `receiver` with nothing decided yet.
pub fn new_record(receiver: &Receiver, query: Option<&str>) -> Delivery {
    Delivery {
        id: uuid::Uuid::now_v7().to_string(),
        received_at: now_rfc3339(),
        project: receiver.project.clone(),
        receiver: receiver.name.clone(),
        receiver_type: receiver.kind.name.to_string(),
        source: Source::UNKNOWN,
        event_type: None,
        provider_id: None,
        // Never a secret in a record: a sender may put one in the URL it was given.
        query: query
            .filter(|q| !q.is_empty())
            .map(crate::payload::redact_query),
        status: 0,
        // Until something is decided, a refusal.
        outcome: Outcome::Rejected,
        message: String::new(),
        repositories: Vec::new(),
        qualifiers: Vec::new(),
        refreshed: Vec::new(),
        explanation: Vec::new(),
        detail: Value::Null,
        duration_micros: 0,
        refreshes: Vec::new(),
        replay_of: None,
        payload: None,
        artifacts: Vec::new(),
    }
}

/// What dockhand decides for one request, before anything is written: the delivery record, the
/// answer (status in the record, body and extra headers here), the refreshes and the unmatched
/// reasons for metrics. `decide` makes it with no I/O; `handle` (a real delivery) and `explain`
/// (a dry run) share it, so a dry run says exactly what a delivery would do.
pub struct Decision {
    pub record: Delivery,
    /// The JSON body of the answer; None for an empty body.
    pub body: Option<Value>,
    /// Headers a handshake adds to the answer.
    pub headers: Vec<(String, String)>,
    pub refresh: Vec<WarehouseRefresh>,
    /// The provider delivery id claimed in `dedup` (released if the record cannot be stored).
    pub claimed: Option<String>,
    /// Why each target matched nothing, for the metrics.
    pub unmatched: Vec<UnmatchedReason>,
}

/// What a decision may consult besides the configuration. A dry run passes no `dedup` (it never
/// claims an id, so a later real delivery is not taken for a duplicate).
#[derive(Clone, Copy, Default)]
pub struct Context<'a> {
    pub dedup: Option<&'a Dedup>,
    /// Kargo mode: the index of Promotions waiting on pull requests.
    pub kargo: Option<&'a Kargo>,
}

/// Handles a request addressed to `receiver`.
pub async fn handle(
    app: &App,
    snap: &Snapshot,
    receiver: &Receiver,
    req: Incoming<'_>,
) -> Response {
    let started = Instant::now();
    let ctx = Context {
        dedup: Some(&app.dedup),
        kargo: app.kargo.as_deref(),
    };
    let Decision {
        record: mut d,
        body,
        headers: mut extra_headers,
        refresh,
        claimed,
        unmatched,
    } = decide(snap, receiver, &req, ctx);
    if app.settings.keep_payloads {
        d.payload = Some(crate::payload::keep(req.headers, req.body));
    }
    for r in unmatched {
        app.metrics.unmatched(r);
    }
    d.duration_micros = started.elapsed().as_micros() as u64;

    let id = d.id.clone();
    let mut log = LogLine::of(&d);
    // The in-memory table above answers duplicates this process saw; the store's claim, written
    // with the delivery, answers those seen before a restart or by another replica.
    // `--dedup-window 0s` turns de-duplication off, in the store too.
    let window_on = !app.dedup.window().is_zero();
    let claim = claimed
        .as_ref()
        .filter(|_| window_on)
        .map(|pid| ProviderClaim {
            key: Dedup::key(&receiver.project, &receiver.name, pid),
            window: app.dedup.window(),
        });
    let mut body = body;
    // Kept to be recorded again as a duplicate if the store says so (only then needed).
    let copy = claim.is_some().then(|| d.clone());
    let mut recorded = app.refresher.record_delivery(d, &refresh, claim).await;
    if let (Ok(Recorded::Duplicate), Some(mut d)) = (&recorded, copy) {
        mark_duplicate(&mut d);
        extra_headers.clear();
        body = Some(json!({ "msg": d.message }));
        log = LogLine::of(&d);
        recorded = app
            .refresher
            .record_delivery(d, &[], None)
            .await
            .map(|_| Recorded::Stored);
    }
    // Durable first, then queued (the refresher does both): a 2xx means committed.
    if let Err(e) = recorded {
        // Never answer 2xx for something that is not durable: the sender will retry.
        tracing::error!(error = %e, "cannot record delivery");
        if let Some(id) = &claimed {
            app.dedup.release(&receiver.project, &receiver.name, id);
        }
        // The source is not recorded anywhere for a delivery that was not stored.
        app.metrics
            .delivery(receiver.kind, Source::UNKNOWN, Outcome::StoreError);
        return error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "cannot record the delivery; try again later",
        );
    }
    app.metrics.delivery(receiver.kind, log.source, log.outcome);
    if log.outcome == Outcome::Rejected {
        // Off the request path: the answer does not wait for the outbox write.
        let (notifier, project, name) = (
            app.notifier.clone(),
            receiver.project.clone(),
            receiver.name.clone(),
        );
        let (status, message) = (log.status, log.message.clone());
        tokio::spawn(async move {
            let at = crate::clock::now_rfc3339();
            if let Err(e) = notifier
                .delivery_rejected(&project, &name, status, &message, &at)
                .await
            {
                tracing::warn!(error = %e, "cannot record a DeliveryRejected notification");
            }
        });
    }
    app.metrics
        .warehouses_matched
        .fetch_add(refresh.len() as u64, std::sync::atomic::Ordering::Relaxed);
    log.emit();

    let status = StatusCode::from_u16(log.status).unwrap_or(StatusCode::OK);
    let mut resp = match body {
        Some(Value::Object(mut map)) => {
            map.insert("deliveryId".into(), Value::String(id));
            (status, axum::Json(Value::Object(map))).into_response()
        }
        Some(other) => (status, axum::Json(other)).into_response(),
        None => status.into_response(),
    };
    for (k, v) in extra_headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

/// Records a replay (`dockhand replay`) of the delivery `original`, whose kept request is
/// `req`: decided exactly as a live delivery against the current configuration, stored as a
/// new delivery with `replay_of` and the same payload, and its refreshes queued. No
/// de-duplication claim: a replay is never refused as a duplicate of its original. Two replays
/// of one delivery at once each record a delivery; their refreshes coalesce in the refresh
/// queue (one pending row per Warehouse, `--refresh-cooldown`) as any two deliveries' do.
pub async fn record_replay(
    app: &App,
    snap: &Snapshot,
    receiver: &Receiver,
    req: Incoming<'_>,
    original: &str,
    payload: crate::store::Payload,
) -> Result<Delivery, crate::store::StoreError> {
    let started = Instant::now();
    let ctx = Context {
        dedup: None,
        kargo: app.kargo.as_deref(),
    };
    let Decision {
        record: mut d,
        refresh,
        unmatched,
        ..
    } = decide(snap, receiver, &req, ctx);
    for r in unmatched {
        app.metrics.unmatched(r);
    }
    d.duration_micros = started.elapsed().as_micros() as u64;
    d.replay_of = Some(original.to_string());
    d.payload = Some(payload);
    let log = LogLine::of(&d);
    let shown = Delivery {
        payload: None,
        ..d.clone()
    };
    app.refresher.record_delivery(d, &refresh, None).await?;
    app.metrics.delivery(receiver.kind, log.source, log.outcome);
    app.metrics
        .warehouses_matched
        .fetch_add(refresh.len() as u64, std::sync::atomic::Ordering::Relaxed);
    log.emit();
    Ok(shown)
}

/// Decides what a request to `receiver` gets — answer, record, refreshes — without writing,
/// queueing or measuring anything (the dedup claim in `ctx`, if given, is the one exception).
pub fn decide(
    snap: &Snapshot,
    receiver: &Receiver,
    req: &Incoming<'_>,
    ctx: Context<'_>,
) -> Decision {
    let mut d = new_record(receiver, req.query);
    let parsed = receivers::handle(
        receiver,
        &receivers::Request {
            method: req.method,
            headers: req.headers,
            query: req.query,
            body: req.body,
            replay: req.replay,
        },
    );
    let mut refresh: Vec<WarehouseRefresh> = Vec::new();
    let mut extra_headers: Vec<(String, String)> = Vec::new();
    let mut claimed: Option<String> = None;
    let mut unmatched: Vec<UnmatchedReason> = Vec::new();
    let body: Option<Value> = match parsed {
        Err(rej) => {
            d.source = rej.source;
            d.event_type = rej.event_type;
            d.status = rej.status;
            d.outcome = Outcome::Rejected;
            d.message = rej.message;
            Some(json!({ "error": d.message }))
        }
        Ok(event) => {
            d.source = event.source;
            d.event_type = Some(event.event_type.clone());
            d.provider_id = event.provider_id.clone();
            // Reported even by a duplicate: each replica of a geo-replicated registry may send
            // the same event, and the replication view is about who reported it.
            if let Action::Refresh(targets) = &event.action {
                d.artifacts = reported_artifacts(&snap.index, targets, req.body);
            }
            let dedupable = matches!(
                event.action,
                Action::Refresh(_) | Action::RefreshPromotions { .. } | Action::Ignore { .. }
            );
            let duplicate = match (&event.provider_id, dedupable) {
                (Some(id), true) => match ctx.dedup {
                    Some(dedup) => {
                        let first = dedup.claim(&receiver.project, &receiver.name, id);
                        if first {
                            claimed = Some(id.clone());
                        }
                        !first
                    }
                    // A dry run claims nothing and is never a duplicate.
                    None => false,
                },
                _ => false,
            };
            if duplicate {
                mark_duplicate(&mut d);
                Some(json!({ "msg": d.message }))
            } else {
                match event.action {
                    Action::Ping => {
                        d.status = 200;
                        d.outcome = Outcome::Ping;
                        d.message = PING_MESSAGE.into();
                        Some(json!({ "msg": PING_MESSAGE }))
                    }
                    Action::Handshake {
                        status,
                        body,
                        headers,
                    } => {
                        d.status = status;
                        d.outcome = Outcome::Handshake;
                        d.message = format!("{} handshake answered", event.event_type);
                        extra_headers = headers;
                        body
                    }
                    Action::RefreshPromotions { pr_url } => {
                        d.status = 200;
                        d.repositories.push(pr_url.clone());
                        match ctx.kargo {
                            // Kargo's index of running Promotions waiting on this pull request.
                            Some(kargo) => {
                                // A Promotion has no subscriptions: its refresh is whole.
                                refresh = kargo
                                    .promotions_waiting_on(&pr_url, &receiver.project)
                                    .into_iter()
                                    .map(|(p, w)| WarehouseRefresh {
                                        warehouse: WarehouseRef::new(p, w),
                                        subscriptions: Vec::new(),
                                    })
                                    .collect();
                                d.refreshed =
                                    refresh.iter().map(|r| r.warehouse.to_string()).collect();
                                d.outcome = if refresh.is_empty() {
                                    Outcome::Unmatched
                                } else {
                                    Outcome::Refreshed
                                };
                                if refresh.is_empty() {
                                    d.explanation.push(format!(
                                        "no running Promotion waits on pull request {pr_url}"
                                    ));
                                }
                                // Kargo's wording.
                                d.message = format!("refreshed {} promotion(s)", refresh.len());
                            }
                            None => {
                                d.outcome = Outcome::Ignored;
                                d.message = format!(
                                    "{} event ignored: pull requests refresh Kargo Promotions, which only Kargo mode (--source kargo) sees",
                                    event.event_type
                                );
                            }
                        }
                        Some(json!({ "msg": d.message }))
                    }
                    Action::Ignore { reason } => {
                        d.status = 200;
                        d.outcome = Outcome::Ignored;
                        d.message = format!("{} event ignored: {reason}", event.event_type);
                        Some(json!({ "msg": d.message }))
                    }
                    Action::Generic(actions) => {
                        let (status, body, chosen) =
                            generic_actions(&mut d, snap, receiver, &actions);
                        refresh = chosen;
                        d.status = status;
                        Some(body)
                    }
                    Action::Refresh(targets) => {
                        describe_targets(&mut d, &targets);
                        let eval = snap
                            .index
                            .evaluate(&snap.config, &receiver.project, &targets);
                        for t in &eval.targets {
                            let reason = match (&t.normalized, t.candidates.is_empty()) {
                                (Err(_), _) => Some(UnmatchedReason::InvalidUrl),
                                (Ok(_), true) => Some(UnmatchedReason::NoSubscriber),
                                (Ok(_), false) if t.candidates.iter().all(|c| !c.matched) => {
                                    Some(UnmatchedReason::RejectedByRules)
                                }
                                _ => None,
                            };
                            unmatched.extend(reason);
                        }
                        d.explanation = eval.explain_misses();
                        d.detail = serde_json::to_value(&eval.targets).unwrap_or(Value::Null);
                        d.refreshed = eval
                            .refresh
                            .iter()
                            .map(|r| r.warehouse.to_string())
                            .collect();
                        refresh = eval.refresh;
                        d.status = 200;
                        d.outcome = if refresh.is_empty() {
                            Outcome::Unmatched
                        } else {
                            Outcome::Refreshed
                        };
                        // Kargo's wording.
                        d.message = format!("refreshed {} warehouse(s)", refresh.len());
                        Some(json!({ "msg": d.message }))
                    }
                }
            }
        }
    };
    Decision {
        record: d,
        body,
        headers: extra_headers,
        refresh,
        claimed,
        unmatched,
    }
}

/// Records a request refused before a receiver saw it (wrong method, body too large) and
/// answers it.
pub async fn refuse(
    app: &App,
    receiver: &Receiver,
    query: Option<&str>,
    status: StatusCode,
    message: &str,
) -> Response {
    let mut d = new_record(receiver, query);
    d.status = status.as_u16();
    d.outcome = Outcome::Rejected;
    d.message = message.to_string();
    let log = LogLine::of(&d);
    if let Err(e) = app.store.record_delivery(d, Vec::new()).await {
        tracing::error!(error = %e, "cannot record delivery");
    }
    app.metrics
        .delivery(receiver.kind, Source::UNKNOWN, Outcome::Rejected);
    log.emit();
    error_response(status, message)
}

/// Turns `d` into the record of a duplicate: answered 200, nothing refreshed.
fn mark_duplicate(d: &mut Delivery) {
    d.status = 200;
    d.outcome = Outcome::Duplicate;
    d.message = format!(
        "duplicate delivery {}: already handled within the de-duplication window; nothing refreshed",
        d.provider_id.as_deref().unwrap_or_default()
    );
    d.refreshed.clear();
    d.explanation.clear();
}

pub fn error_response(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// Kargo's generic receiver: the Warehouses each matched action selects, refreshed whole (as a
/// Kargo refresh is), and Kargo's `{"results": [...]}` answer with its status.
fn generic_actions(
    d: &mut Delivery,
    snap: &Snapshot,
    receiver: &Receiver,
    actions: &[generic::Evaluated],
) -> (u16, Value, Vec<WarehouseRefresh>) {
    let warehouses = &snap.config.warehouses;
    let mut results = Vec::with_capacity(actions.len());
    let mut chosen: Vec<WarehouseRef> = Vec::new();
    for (i, action) in actions.iter().enumerate() {
        let selected = match &action.state {
            generic::State::Selected(criteria) => {
                generic::select(criteria, &receiver.project, warehouses)
            }
            generic::State::NotMatched => {
                d.explanation
                    .push(format!("action {i}: request did not match whenExpression"));
                Vec::new()
            }
            generic::State::WhenError(e) => {
                d.explanation
                    .push(format!("action {i}: error evaluating whenExpression: {e}"));
                Vec::new()
            }
            generic::State::SelectionError(e) => {
                d.explanation.push(format!(
                    "action {i}: error evaluating targetSelectionCriteria: {e}"
                ));
                Vec::new()
            }
        };
        chosen.extend(selected.iter().cloned());
        results.push(generic::action_result(action, &selected));
    }
    chosen.sort();
    chosen.dedup();
    let refresh: Vec<WarehouseRefresh> = chosen
        .into_iter()
        .map(|w| {
            let n = warehouses
                .iter()
                .find(|x| x.project == w.project && x.name == w.name)
                .map_or(0, |x| x.subscriptions.len());
            WarehouseRefresh {
                warehouse: w,
                subscriptions: (0..n as u32).collect(),
            }
        })
        .collect();
    d.refreshed = refresh.iter().map(|r| r.warehouse.to_string()).collect();
    d.outcome = if refresh.is_empty() {
        Outcome::Unmatched
    } else {
        Outcome::Refreshed
    };
    d.message = format!(
        "{} action(s): refreshed {} warehouse(s)",
        actions.len(),
        refresh.len()
    );
    // `detail` stays null: the admin API reads it as a matching result, which this is not; the
    // explanation and the refreshed list say what each action did.
    (
        generic::status(&results),
        generic::response_body(&results),
        refresh,
    )
}

/// The images a delivery reports, by normalized key, for the replication view: one per tag
/// pushed (or one for a push by digest), each with the digest the payload names.
fn reported_artifacts(
    index: &dockhand_core::index::Index,
    targets: &[Target],
    body: &[u8],
) -> Vec<crate::store::ReportedArtifact> {
    let mut out = Vec::new();
    let mut digest: Option<Option<String>> = None;
    for target in targets {
        let Target::Oci { repo_url, tags, .. } = target else {
            continue;
        };
        // The key the index looks the repository up by, so the view finds what users type.
        let Ok(key) = index.image_key(repo_url) else {
            continue;
        };
        let key = &key;
        // Parsed once, and only for a delivery that names an image.
        let digest = digest
            .get_or_insert_with(|| crate::payload::digest_in_json(body))
            .clone();
        if tags.is_empty() {
            out.push(crate::store::ReportedArtifact {
                repository: key.clone(),
                tag: None,
                digest,
            });
            continue;
        }
        for tag in tags {
            out.push(crate::store::ReportedArtifact {
                repository: key.clone(),
                tag: Some(tag.clone()),
                digest: digest.clone(),
            });
        }
    }
    out
}

fn describe_targets(d: &mut Delivery, targets: &[Target]) {
    for t in targets {
        if !d.repositories.iter().any(|r| r == t.repo_url()) {
            d.repositories.push(t.repo_url().to_string());
        }
        match t {
            Target::Oci { tags, .. } => d.qualifiers.extend(tags.iter().cloned()),
            Target::HelmRepo {
                chart, versions, ..
            } => d
                .qualifiers
                .extend(versions.iter().map(|v| format!("{chart}:{v}"))),
            Target::Git { refs, .. } => d.qualifiers.extend(refs.iter().map(|r| {
                if r.is_deletion() {
                    format!("{} (deleted)", r.name)
                } else {
                    format!("{}@{}", r.name, r.new_object_id)
                }
            })),
        }
    }
}

/// The one log line per delivery (human by default, JSON fields with `--log-format json`).
struct LogLine {
    id: String,
    project: String,
    receiver: String,
    source: Source,
    outcome: Outcome,
    event_type: String,
    status: u16,
    message: String,
    refreshed: usize,
    micros: u64,
}

impl LogLine {
    fn of(d: &Delivery) -> LogLine {
        LogLine {
            id: d.id.clone(),
            project: d.project.clone(),
            receiver: d.receiver.clone(),
            source: d.source,
            outcome: d.outcome,
            event_type: d.event_type.clone().unwrap_or_else(|| "-".into()),
            status: d.status,
            message: d.message.clone(),
            refreshed: d.refreshed.len(),
            micros: d.duration_micros,
        }
    }

    fn emit(&self) {
        tracing::info!(
            target: "dockhand::delivery",
            delivery = %self.id,
            project = %self.project,
            receiver = %self.receiver,
            source = %self.source,
            event = %self.event_type,
            status = self.status,
            outcome = %self.outcome,
            refreshed = self.refreshed,
            micros = self.micros,
            "{}",
            self.message
        );
    }
}
