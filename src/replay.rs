//! Replaying a recorded delivery (`dockhand replay ID`, `POST /api/v1/deliveries/{id}/replay`):
//! its kept request re-evaluated against the current configuration, through the very decision
//! a live webhook takes (`delivery::decide`), recorded as a new delivery with `replayOf`.
//!
//! What can be replayed, and why the rest cannot:
//! - the delivery must still be kept (else 404) and its receiver still configured under the
//!   same project, name and type (else 404 naming it);
//! - its request must have been kept whole (`--keep-payloads`, not trimmed; else 409);
//! - it must not have been rejected when it arrived (else 409): a replay skips the credential
//!   check, because credentials are never stored, so only a delivery that passed it may be
//!   replayed — and a payload the receiver could not read then cannot be read now either.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use dockhand_core::event::Outcome;

use crate::app::App;
use crate::delivery::{self, Incoming};
use crate::store::{Delivery, Payload, StoreError};

/// Why a delivery was not replayed; each maps to one HTTP status (`status`).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no delivery {0} (never recorded, or no longer kept: see --keep-deliveries and --max-store-bytes)")]
    NotFound(String),
    #[error("receiver {receiver} of delivery {id} is not in the current configuration (removed or renamed); replay it by sending its payload to the new receiver instead")]
    ReceiverGone { id: String, receiver: String },
    #[error("delivery {id} cannot be replayed: {why}")]
    NotReplayable { id: String, why: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ReplayError {
    /// The HTTP status the admin API answers with.
    pub fn status(&self) -> u16 {
        match self {
            ReplayError::NotFound(_) | ReplayError::ReceiverGone { .. } => 404,
            ReplayError::NotReplayable { .. } => 409,
            ReplayError::Store(_) => 503,
        }
    }
}

/// Why `original` with its kept request `payload` cannot be replayed, or None when it can.
/// Shown beside the payload (`deliveries show`) as well as answered by a refused replay.
pub fn not_replayable(original: &Delivery, payload: Option<&Payload>) -> Option<String> {
    if original.outcome == Outcome::Rejected {
        return Some(format!(
            "it was rejected when it arrived ({} {}); a replay skips the credential check, so only a delivery that passed it is replayed",
            original.status, original.message
        ));
    }
    match payload {
        None => Some(
            "its payload was not kept (the server ran with --keep-payloads=false when it arrived)"
                .to_string(),
        ),
        Some(p) => p.trimmed.as_ref().map(|t| {
            format!("its payload was trimmed when kept ({t}), so a replay would not be the request that arrived")
        }),
    }
}

/// Replays delivery `id`; the new delivery as recorded.
pub async fn replay(app: &App, id: &str) -> Result<Delivery, ReplayError> {
    let original = app
        .store
        .delivery(id)
        .await?
        .ok_or_else(|| ReplayError::NotFound(id.to_string()))?;
    let payload = app.store.payload(id).await?;
    if let Some(why) = not_replayable(&original, payload.as_ref()) {
        return Err(ReplayError::NotReplayable {
            id: id.to_string(),
            why,
        });
    }
    let Some(payload) = payload else {
        return Err(ReplayError::NotReplayable {
            id: id.to_string(),
            why: "its payload was not kept".into(),
        });
    };
    let snap = app.snapshot.load_full();
    let receiver = snap
        .config
        .receivers
        .iter()
        .find(|r| {
            r.project == original.project
                && r.name == original.receiver
                && r.kind.name == original.receiver_type
        })
        .ok_or_else(|| ReplayError::ReceiverGone {
            id: id.to_string(),
            receiver: format!(
                "{}/{} ({})",
                original.project, original.receiver, original.receiver_type
            ),
        })?;
    let mut headers = HeaderMap::new();
    for (name, value) in &payload.headers {
        // Kept headers were valid when they arrived; one that is not now is left out.
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(n, v);
        }
    }
    let body = payload.body.clone();
    let recorded = delivery::record_replay(
        app,
        &snap,
        receiver,
        Incoming {
            method: &Method::POST,
            headers: &headers,
            query: original.query.as_deref(),
            body: &body,
            replay: true,
        },
        id,
        payload,
    )
    .await?;
    // As listed (Kargo mode adds the refreshes' patches once they land).
    Ok(app
        .store
        .delivery(&recorded.id)
        .await
        .ok()
        .flatten()
        .unwrap_or(recorded))
}
