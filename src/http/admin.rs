//! The admin listener (loopback by default): the JSON API under `/api/v1/` that the CLI clients
//! use, and `/metrics`. Optional bearer token (`--admin-token-file`), compared in constant time.
//! Bodies are the wire types of `api.rs`, built from the configuration and the store.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use dockhand_core::secret::Secret;
use dockhand_core::warehouse_ref::WarehouseRef;
use serde::Deserialize;

use super::api;
use crate::app::App;
use crate::delivery::error_response;
use crate::discovery::freight::Freight;
use crate::receiver_urls;
use crate::store::{DeliveryFilter, FreightFilter, NotificationFilter, WarehouseState};

pub fn router(app: Arc<App>, token: Option<Secret>) -> Router {
    let token = Arc::new(token);
    let dashboard = super::ui::router(app.clone(), token.clone());
    Router::new()
        .route("/api/v1/receivers", get(receivers))
        .route("/api/v1/deliveries", get(deliveries))
        .route("/api/v1/deliveries/{id}", get(delivery))
        .route("/api/v1/deliveries/{id}/payload", get(payload))
        .route("/api/v1/deliveries/{id}/replay", post(replay))
        .route("/api/v1/artifacts", get(artifacts))
        .route("/api/v1/warehouses", get(warehouses))
        .route("/api/v1/warehouses/{project}/{name}", get(warehouse))
        .route("/api/v1/warehouses/{project}/{name}/refresh", post(refresh))
        .route("/api/v1/freight", get(freight))
        .route("/api/v1/notifications", get(notifications))
        .route(
            "/api/v1/notifications/{project}/{name}/test",
            post(notification_test),
        )
        .route("/api/v1/explain", post(explain))
        .route("/api/v1/version", get(version))
        .route("/api/v1/kargo", get(kargo))
        .route("/metrics", get(metrics))
        .fallback(|| async { error_response(StatusCode::NOT_FOUND, "not found") })
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let token = token.clone();
            async move {
                if let Some(t) = token.as_ref() {
                    let given = req
                        .headers()
                        .get(header::AUTHORIZATION)
                        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
                        .unwrap_or(b"");
                    if !t.matches(given) {
                        return error_response(StatusCode::UNAUTHORIZED, "unauthorized");
                    }
                }
                next.run(req).await
            }
        }))
        // After the bearer-token layer: the dashboard also accepts its login cookie.
        .nest_service("/ui", dashboard)
        .with_state(app)
}

/// `--metrics-listen`: `/metrics` alone, without the admin token, so Prometheus can scrape
/// without holding a credential that also triggers refreshes.
pub fn metrics_router(app: Arc<App>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .fallback(|| async { error_response(StatusCode::NOT_FOUND, "not found") })
        .with_state(app)
}

fn internal(e: impl std::fmt::Display) -> Response {
    error_response(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
}

async fn receivers(State(app): State<Arc<App>>) -> Response {
    let snap = app.snapshot.load();
    let rows = receiver_urls::rows(&snap.config, &app.settings.base_url);
    Json(
        rows.into_iter()
            .map(api::Receiver::from)
            .collect::<Vec<_>>(),
    )
    .into_response()
}

#[derive(Deserialize)]
struct DeliveryQuery {
    project: Option<String>,
    receiver: Option<String>,
    query: Option<String>,
    limit: Option<usize>,
}

async fn deliveries(State(app): State<Arc<App>>, Query(q): Query<DeliveryQuery>) -> Response {
    let filter = DeliveryFilter {
        project: q.project,
        receiver: q.receiver,
        query: q.query,
        limit: q.limit.unwrap_or(100).min(10_000),
    };
    match app.store.deliveries(filter).await {
        Ok(list) => Json(
            list.into_iter()
                .map(api::Delivery::from)
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => internal(e),
    }
}

async fn delivery(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    match app.store.delivery(&id).await {
        Ok(Some(d)) => Json(api::Delivery::from(d)).into_response(),
        Ok(None) => error_response(StatusCode::NOT_FOUND, "no such delivery"),
        Err(e) => internal(e),
    }
}

async fn payload(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    match payload_of(&app, &id).await {
        Ok(Some(p)) => Json(p).into_response(),
        Ok(None) => error_response(StatusCode::NOT_FOUND, "no such delivery"),
        Err(e) => internal(e),
    }
}

/// The request kept with delivery `id`, as the API and the dashboard show it; None when there
/// is no such delivery.
pub async fn payload_of(
    app: &App,
    id: &str,
) -> Result<Option<api::Payload>, crate::store::StoreError> {
    let Some(d) = app.store.delivery(id).await? else {
        return Ok(None);
    };
    let kept = app.store.payload(id).await?;
    Ok(Some(api::Payload::new(&d, kept)))
}

/// Re-evaluates a recorded delivery against the current configuration (`replay.rs`): 200 with
/// the new delivery, 404 (no such delivery, receiver gone), 409 (cannot be replayed).
async fn replay(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    match crate::replay::replay(&app, &id).await {
        Ok(d) => Json(api::Delivery::from(d)).into_response(),
        Err(e) => error_response(
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &e.to_string(),
        ),
    }
}

#[derive(Deserialize)]
struct ArtifactQuery {
    repository: Option<String>,
    tag: Option<String>,
    limit: Option<usize>,
}

async fn artifacts(State(app): State<Arc<App>>, Query(q): Query<ArtifactQuery>) -> Response {
    match artifacts_of(&app, q.repository.as_deref(), q.tag, q.limit).await {
        Ok(a) => Json(a).into_response(),
        Err(r) => r,
    }
}

/// The replication view of `repository` (as a user types it) and `tag`, as the API and the
/// dashboard show it; an error response for a missing or unreadable repository.
pub async fn artifacts_of(
    app: &App,
    repository: Option<&str>,
    tag: Option<String>,
    limit: Option<usize>,
) -> Result<api::Replication, Response> {
    let Some(given) = repository.map(str::trim).filter(|r| !r.is_empty()) else {
        return Err(error_response(
            StatusCode::BAD_REQUEST,
            "give the image repository: ?repository=myregistry.azurecr.io/app[&tag=1.0.0]",
        ));
    };
    let key = match app.snapshot.load().index.image_key(given) {
        Ok(k) => k,
        Err(e) => {
            return Err(error_response(
                StatusCode::BAD_REQUEST,
                &format!("repository {given:?} is not an image repository: {e}"),
            ))
        }
    };
    let tag = tag.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    let filter = crate::store::ArtifactFilter {
        repository: key.clone(),
        tag: tag.clone(),
        limit: limit.unwrap_or(500).min(10_000),
    };
    match app.store.artifact_reports(filter).await {
        Ok(list) => Ok(api::Replication::new(key, tag, list)),
        Err(e) => Err(internal(e)),
    }
}

async fn states(app: &App) -> Result<HashMap<WarehouseRef, WarehouseState>, Response> {
    match app.store.warehouse_states().await {
        Ok(list) => Ok(list.into_iter().map(|s| (s.warehouse.clone(), s)).collect()),
        Err(e) => Err(internal(e)),
    }
}

async fn warehouses(State(app): State<Arc<App>>) -> Response {
    let mut states = match states(&app).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let snap = app.snapshot.load();
    let list: Vec<api::Warehouse> = snap
        .config
        .warehouses
        .iter()
        .map(|w| {
            let st = states.remove(&WarehouseRef::from(w)).unwrap_or_default();
            api::Warehouse::new(w, st)
        })
        .collect();
    Json(list).into_response()
}

async fn warehouse(
    State(app): State<Arc<App>>,
    Path((project, name)): Path<(String, String)>,
) -> Response {
    let mut states = match states(&app).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let key = WarehouseRef::new(project, name);
    let discovered = match app.store.discovery(&key).await {
        Ok(d) => d,
        Err(e) => return internal(e),
    };
    let snap = app.snapshot.load();
    match snap.warehouse(&key) {
        Some(w) => {
            let st = states.remove(&key).unwrap_or_default();
            Json(api::WarehouseDetail::new(w, st, discovered)).into_response()
        }
        None => error_response(
            StatusCode::NOT_FOUND,
            &format!("no Warehouse {key} in the configuration"),
        ),
    }
}

async fn refresh(
    State(app): State<Arc<App>>,
    Path((project, name)): Path<(String, String)>,
) -> Response {
    let key = WarehouseRef::new(project, name);
    if app.snapshot.load().warehouse(&key).is_none() {
        return error_response(
            StatusCode::NOT_FOUND,
            &format!("no Warehouse {key} in the configuration"),
        );
    }
    if let Err(e) = app.refresher.request(vec![key.clone()]).await {
        return internal(e);
    }
    (
        StatusCode::ACCEPTED,
        Json(api::RefreshRequested {
            msg: format!("refresh of {key} requested"),
        }),
    )
        .into_response()
}

#[derive(Deserialize)]
struct NotificationsQuery {
    project: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/v1/notifications`: the outbox, newest first.
async fn notifications(
    State(app): State<Arc<App>>,
    Query(q): Query<NotificationsQuery>,
) -> Response {
    let filter = NotificationFilter {
        project: q.project,
        limit: q.limit.unwrap_or(100).clamp(1, 1000),
    };
    match app.store.notifications(filter).await {
        Ok(list) => Json(
            list.into_iter()
                .map(api::Notification::from)
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => internal(e),
    }
}

/// `POST /api/v1/notifications/{project}/{name}/test`: queues a Test event for one
/// Notification; the sender sends and records it like any other.
async fn notification_test(
    State(app): State<Arc<App>>,
    Path((project, name)): Path<(String, String)>,
) -> Response {
    match app.notifier.test(&project, &name).await {
        Ok(Some(id)) => (
            StatusCode::ACCEPTED,
            Json(api::NotificationQueued {
                msg: format!("test notification {id} queued for {project}/{name}"),
                id,
            }),
        )
            .into_response(),
        Ok(None) => error_response(
            StatusCode::NOT_FOUND,
            &format!("no Notification {project}/{name} in the configuration"),
        ),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
struct FreightQuery {
    project: Option<String>,
    warehouse: Option<String>,
}

/// Kargo's controller, not dockhand, discovers artifacts and records Freight in Kargo mode.
pub const KARGO_MODE_NO_FREIGHT: &str = "dockhand runs in Kargo mode (--source kargo): discovery and Freight are Kargo's, not dockhand's; see `kubectl get freight -n PROJECT` or Kargo's UI";

async fn freight(State(app): State<Arc<App>>, Query(q): Query<FreightQuery>) -> Response {
    if app.kargo.is_some() {
        return error_response(StatusCode::CONFLICT, KARGO_MODE_NO_FREIGHT);
    }
    let filter = FreightFilter {
        project: q.project,
        warehouse: q.warehouse,
    };
    match app.store.freight(filter).await {
        Ok(list) => Json(
            list.into_iter()
                .filter_map(served_freight)
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => internal(e),
    }
}

/// A stored Freight body as served; one this version cannot read is left out (and logged)
/// rather than failing the whole list.
fn served_freight(body: serde_json::Value) -> Option<api::Freight> {
    match serde_json::from_value::<Freight>(body) {
        Ok(f) => Some(api::Freight::from(f)),
        Err(e) => {
            tracing::warn!(error = %e, "stored Freight not readable; left out of the list");
            None
        }
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let unusable = app.snapshot.load().unusable_subscriptions;
    app.metrics.unusable_subscriptions.store(
        i64::try_from(unusable).unwrap_or(i64::MAX),
        std::sync::atomic::Ordering::Relaxed,
    );
    let mut text = app.metrics.render();
    if let Some(k) = &app.kargo {
        text.push_str(&k.render_metrics());
    }
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response()
}

/// Kargo mode: sync state, objects left out and why, and each receiver's status path next to
/// the path dockhand computed (a mismatch flagged).
async fn kargo(State(app): State<Arc<App>>) -> Response {
    match &app.kargo {
        Some(k) => Json(k.report()).into_response(),
        None => error_response(
            StatusCode::NOT_FOUND,
            "not in Kargo mode (dockhand serve --source kargo)",
        ),
    }
}

/// A dry run of one webhook against the running configuration: the delivery it would make,
/// with nothing recorded or refreshed (`explain.rs`).
async fn explain(State(app): State<Arc<App>>, body: axum::body::Bytes) -> Response {
    let request: crate::explain::Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                &format!("expected {{\"receiver\": \"PROJECT/NAME\", \"payload\": \"...\", \"headers\": [\"Name: value\"], \"query\": \"...\"}}: {e}"),
            )
        }
    };
    let snap = app.snapshot.load();
    match crate::explain::explain(&snap, app.kargo.as_deref(), &request) {
        Ok(decision) => Json(api::Delivery::from(decision.record)).into_response(),
        Err(e @ crate::explain::ExplainError::NoReceiver(_)) => {
            error_response(StatusCode::NOT_FOUND, &e.to_string())
        }
        Err(e) => error_response(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

async fn version() -> Response {
    Json(api::Version {
        version: env!("CARGO_PKG_VERSION").to_string(),
    })
    .into_response()
}
