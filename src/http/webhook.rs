//! The public webhook listener: `POST {base path}/{type}/{hash}`, `GET /healthz`, `GET /readyz`.
//! Anything else is 404 `{"error":"not found"}`, with no hint whether a receiver exists.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::json;

use crate::app::App;
use crate::delivery::{self, error_response, Incoming};
use crate::metrics::Limit;

pub fn router(app: Arc<App>) -> Router {
    Router::new().fallback(dispatch).with_state(app)
}

async fn dispatch(State(app): State<Arc<App>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    match (req.method(), path.as_str()) {
        (&Method::GET, "/healthz") => {
            return (StatusCode::OK, axum::Json(json!({"status": "ok"}))).into_response()
        }
        (&Method::GET, "/readyz") => {
            return if app.ready.load(Ordering::Relaxed)
                && app.store_reachable.load(Ordering::Relaxed)
            {
                (StatusCode::OK, axum::Json(json!({"status": "ready"}))).into_response()
            } else {
                error_response(StatusCode::SERVICE_UNAVAILABLE, "not ready")
            };
        }
        _ => {}
    }
    // Per client address first, so guessing receiver URLs is slowed down too.
    if let Some(ip) = peer {
        if let Err(wait) = app.client_limiter.check(&ip) {
            app.metrics.rate_limited(Limit::Client);
            return too_many(wait);
        }
    }
    let mut snap = app.snapshot.load_full();
    let local = path.strip_prefix(app.settings.base_path.as_str());
    // Kargo mode: an unknown path shaped like a receiver's may come from a rotated Secret.
    if let (Some(p), Some(kargo)) = (local, &app.kargo) {
        if snap.receiver(p).is_none()
            && looks_like_receiver_path(p)
            && kargo.resync_for_unknown_path().await
        {
            snap = app.snapshot.load_full();
        }
    }
    let receiver = local.and_then(|p| snap.receiver(p));
    let Some(receiver) = receiver else {
        return error_response(StatusCode::NOT_FOUND, "not found");
    };
    if let Err(wait) = app.receiver_limiter.check(&receiver.path) {
        app.metrics.rate_limited(Limit::Receiver);
        return too_many(wait);
    }
    let query = req.uri().query().map(str::to_string);
    let method = req.method().clone();
    if method != Method::POST && method != Method::OPTIONS {
        return delivery::refuse(
            &app,
            receiver,
            query.as_deref(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed; webhooks are delivered with POST",
        )
        .await;
    }
    let (parts, body) = req.into_parts();
    let limit = app.settings.max_body_bytes;
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large(&app, receiver, query.as_deref(), limit).await;
    }
    // Sized once from the declared length (already checked against the limit), so a body
    // that arrives in several frames is not copied again as the buffer grows.
    let capacity = declared.map_or(0, |n| n as usize);
    let read = tokio::time::timeout(
        app.settings.request_timeout,
        read_limited(body, limit, capacity),
    )
    .await;
    let bytes = match read {
        Ok(Ok(b)) => b,
        Err(_) => {
            return delivery::refuse(
                &app,
                receiver,
                query.as_deref(),
                StatusCode::REQUEST_TIMEOUT,
                &format!(
                    "the request body was not received within {} s",
                    app.settings.request_timeout.as_secs()
                ),
            )
            .await
        }
        Ok(Err(ReadError::TooLarge)) => {
            return too_large(&app, receiver, query.as_deref(), limit).await
        }
        Ok(Err(ReadError::Io(e))) => {
            return delivery::refuse(
                &app,
                receiver,
                query.as_deref(),
                StatusCode::BAD_REQUEST,
                &format!("could not read the request body: {e}"),
            )
            .await
        }
    };
    delivery::handle(
        &app,
        &snap,
        receiver,
        Incoming {
            method: &method,
            headers: &parts.headers,
            query: query.as_deref(),
            body: &bytes,
            replay: false,
        },
    )
    .await
}

/// `/{type}/{64 hex digits}`.
fn looks_like_receiver_path(p: &str) -> bool {
    p.rsplit_once('/').is_some_and(|(head, hash)| {
        head.len() > 1 && hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// 429 with `Retry-After` (whole seconds, at least 1). Not recorded as a delivery: recording
/// would spend the very resources the limit protects; the metric counts them.
fn too_many(wait: std::time::Duration) -> Response {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    let mut resp = error_response(
        StatusCode::TOO_MANY_REQUESTS,
        &format!("rate limit exceeded; retry in {secs} s"),
    );
    if let Ok(v) = http::HeaderValue::from_str(&secs.to_string()) {
        resp.headers_mut().insert(http::header::RETRY_AFTER, v);
    }
    resp
}

async fn too_large(
    app: &App,
    receiver: &dockhand_core::config::Receiver,
    query: Option<&str>,
    limit: usize,
) -> Response {
    delivery::refuse(
        app,
        receiver,
        query,
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("request body is larger than the limit of {limit} bytes"),
    )
    .await
}

enum ReadError {
    TooLarge,
    Io(String),
}

/// Reads the body, stopping as soon as it exceeds `limit` (chunked bodies have no declared
/// length to check up front).
async fn read_limited(body: Body, limit: usize, capacity: usize) -> Result<Vec<u8>, ReadError> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut out = Vec::with_capacity(capacity);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ReadError::Io(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(ReadError::TooLarge);
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}
