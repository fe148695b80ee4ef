//! The admin listener (loopback by default): the JSON API under `/api/v1/` that the CLI clients
//! use, and `/metrics`. Optional bearer token (`--admin-token-file`), compared in constant time.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use dockhand_core::config::{Subscription, Warehouse};
use dockhand_core::secret::Secret;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::{now_rfc3339, App};
use crate::delivery::error_response;
use crate::receiver_urls;
use crate::store::{DeliveryFilter, WarehouseState};

pub fn router(app: Arc<App>, token: Option<Secret>) -> Router {
    let token = Arc::new(token);
    Router::new()
        .route("/api/v1/receivers", get(receivers))
        .route("/api/v1/deliveries", get(deliveries))
        .route("/api/v1/warehouses", get(warehouses))
        .route("/api/v1/warehouses/{project}/{name}", get(warehouse))
        .route("/api/v1/warehouses/{project}/{name}/refresh", post(refresh))
        .route("/api/v1/freight", get(freight))
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
        .with_state(app)
}

fn internal(e: impl std::fmt::Display) -> Response {
    error_response(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
}

async fn receivers(State(app): State<Arc<App>>) -> Response {
    let snap = app.snapshot.load();
    Json(receiver_urls::rows(&snap.config, &app.settings.base_url)).into_response()
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
    let store = app.store.clone();
    let listed = move || {
        let mut list = store.deliveries(&filter)?;
        store.attach_refreshes(&mut list)?;
        Ok::<_, crate::store::StoreError>(list)
    };
    match tokio::task::spawn_blocking(listed).await {
        Ok(Ok(list)) => Json(list).into_response(),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}

async fn states(app: &App) -> Result<HashMap<(String, String), WarehouseState>, Response> {
    let store = app.store.clone();
    match tokio::task::spawn_blocking(move || store.warehouse_states()).await {
        Ok(Ok(list)) => Ok(list
            .into_iter()
            .map(|s| ((s.project.clone(), s.name.clone()), s))
            .collect()),
        Ok(Err(e)) => Err(internal(e)),
        Err(e) => Err(internal(e)),
    }
}

async fn warehouses(State(app): State<Arc<App>>) -> Response {
    let mut states = match states(&app).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let snap = app.snapshot.load();
    let list: Vec<Value> = snap
        .config
        .warehouses
        .iter()
        .map(|w| {
            let st = states
                .remove(&(w.project.clone(), w.name.clone()))
                .unwrap_or_default();
            warehouse_json(w, &st, false)
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
    let store = app.store.clone();
    let (p, n) = (project.clone(), name.clone());
    let discovered = match tokio::task::spawn_blocking(move || store.discovery(&p, &n)).await {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => return internal(e),
        Err(e) => return internal(e),
    };
    let snap = app.snapshot.load();
    match snap.warehouse(&project, &name) {
        Some(w) => {
            let st = states.remove(&(project, name)).unwrap_or_default();
            let mut v = warehouse_json(w, &st, true);
            if let Some(d) = discovered {
                attach_discovered(&mut v, &d);
            }
            Json(v).into_response()
        }
        None => error_response(
            StatusCode::NOT_FOUND,
            &format!("no Warehouse {project}/{name} in the configuration"),
        ),
    }
}

async fn refresh(
    State(app): State<Arc<App>>,
    Path((project, name)): Path<(String, String)>,
) -> Response {
    if app.snapshot.load().warehouse(&project, &name).is_none() {
        return error_response(
            StatusCode::NOT_FOUND,
            &format!("no Warehouse {project}/{name} in the configuration"),
        );
    }
    if let Err(e) = app
        .store
        .request_refresh(vec![(project.clone(), name.clone())], now_rfc3339())
        .await
    {
        return internal(e);
    }
    app.refresher.request(&project, &name, None);
    (
        StatusCode::ACCEPTED,
        Json(json!({"msg": format!("refresh of {project}/{name} requested")})),
    )
        .into_response()
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
    let store = app.store.clone();
    match tokio::task::spawn_blocking(move || {
        store.freight(q.project.as_deref(), q.warehouse.as_deref())
    })
    .await
    {
        Ok(Ok(list)) => Json(list).into_response(),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let mut text = app.metrics.render();
    if let Some(k) = &app.kargo {
        text.push_str(&k.render_metrics());
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
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

fn warehouse_json(w: &Warehouse, st: &WarehouseState, detail: bool) -> Value {
    let mut v = json!({
        "project": w.project,
        "name": w.name,
        "interval": format!("{}s", w.interval.as_secs()),
        "freightCreationPolicy": w.freight_creation_policy,
        "lastRefreshRequested": st.last_refresh_requested,
        "lastReconcileStarted": st.last_reconcile_started,
        "lastReconciled": st.last_reconciled,
        "pending": st.pending,
        "refreshCount": st.refresh_count,
        "reconcileCount": st.reconcile_count,
        "lastError": st.last_error,
    });
    if detail {
        v["subscriptions"] = w.subscriptions.iter().map(subscription_json).collect();
        v["origin"] = json!(w.origin);
    }
    v
}

/// Puts what the last reconcile discovered beside each subscription (matched by position and
/// repository URL, so a reloaded configuration never shows another repository's artifacts).
fn attach_discovered(v: &mut Value, discovered: &Value) {
    v["lastDiscovered"] = discovered["discoveredAt"].clone();
    let Some(results) = discovered["subscriptions"].as_array() else {
        return;
    };
    let Some(subs) = v["subscriptions"].as_array_mut() else {
        return;
    };
    for (sub, result) in subs.iter_mut().zip(results) {
        if sub["repoURL"] != result["repoURL"] {
            continue;
        }
        sub["discovered"] = result["artifacts"].clone();
        sub["discoveredAt"] = result["discoveredAt"].clone();
        sub["error"] = result["error"].clone();
    }
}

fn subscription_json(s: &Subscription) -> Value {
    match s {
        Subscription::Image(i) => json!({
            "kind": "image",
            "repoURL": i.repo_url,
            "imageSelectionStrategy": i.strategy,
            "constraint": i.constraint,
            "strictSemvers": i.strict_semvers,
            "platform": i.platform,
            "discoveryLimit": i.discovery_limit,
        }),
        Subscription::Git(g) => json!({
            "kind": "git",
            "repoURL": g.repo_url,
            "commitSelectionStrategy": g.strategy,
            "branch": g.branch,
            "semverConstraint": g.semver_constraint,
            "discoveryLimit": g.discovery_limit,
        }),
        Subscription::Chart(c) => json!({
            "kind": "chart",
            "repoURL": c.repo_url,
            "name": c.name,
            "semverConstraint": c.semver_constraint,
            "discoveryLimit": c.discovery_limit,
        }),
    }
}
