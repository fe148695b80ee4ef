//! The `gar` receiver (dockhand's own; Kargo has no such type): Google Artifact Registry
//! notifications, which Artifact Registry publishes to the Pub/Sub topic `gcr` of its project
//! and a push subscription delivers to the receiver URL.
//!
//! # Authentication
//! None in the request that dockhand can check without calling Google: the Secret's `secret` is
//! hashed into the URL, which is the credential (as for Quay and Docker Hub). A push
//! subscription's OIDC token, if one is configured, is not verified.
//!
//! # Cases
//! A push request is `{"message": {"data": base64, "messageId", "publishTime", ...},
//! "subscription"}`; `data` decodes to `{"action", "digest", "tag"}`, where `digest` is
//! `host/project/repository/image@sha256:…` and `tag` is `host/project/repository/image:tag`.
//! With "payload unwrapping" on the subscription the body is `data` itself, decoded.
//!
//! | data | result |
//! |---|---|
//! | `action: INSERT` with `tag` | Refresh `Oci{tag without :tag, tags [tag]}`, image and chart (no media type is sent) |
//! | `action: INSERT` without `tag` (a push by digest) | Refresh `Oci{digest without @digest}` with no tags: every subscriber |
//! | `action: DELETE`, any other action | Ignore, reason names it |
//! | empty body, not JSON, `message.data` missing or not base64 or not a JSON object, an INSERT with neither `tag` nor `digest`, a reference without a repository path, wrong field types | 400 `invalid request body: …` |
//!
//! `event_type` is the action; `provider_id` is `message.messageId` (or `message_id`), which
//! Pub/Sub keeps on redeliveries.

use base64::Engine as _;
use serde_json::Value;

use super::payload::{self, malformed_body, quote, Obj, PayloadError};
use super::{ReceiverType, Request};
use crate::config::Receiver;
use crate::event::{Action, Event, Rejection, Source, Target};

/// Google Artifact Registry notification through a Pub/Sub push subscription.
pub const GAR: Source = Source::new("gar");

/// The Secret key hashed into the URL.
const SECRET: &str = "secret";

pub static TYPE: ReceiverType = ReceiverType {
    name: "gar",
    url_secret_key: SECRET,
    optional_keys: &[],
    handle,
    sources: &[GAR],
    settings: None,
};

const SRC: Source = GAR;

fn handle(_receiver: &Receiver, req: &Request<'_>) -> Result<Event, Rejection> {
    let reject = |e: PayloadError| malformed_body(e, SRC, None);
    let value = payload::parse_json(req.body).map_err(reject)?;
    let body = Obj::new(&value, "", "a Pub/Sub push request").map_err(reject)?;
    let (data, path, provider_id) = match body.obj("message").map_err(reject)? {
        Some(message) => (
            decode_data(&message).map_err(reject)?,
            "message.data",
            message_id(&message).map_err(reject)?,
        ),
        // Payload unwrapping: the body is the notification itself.
        None => (value.clone(), "", None),
    };
    let data = Obj::new(&data, path, "an Artifact Registry notification").map_err(reject)?;
    let action = data
        .required_str(
            "action",
            "an Artifact Registry notification names its action (INSERT, DELETE)",
        )
        .map_err(reject)?;
    notification(&data, action, provider_id).map_err(|e| malformed_body(e, SRC, Some(action)))
}

fn message_id(message: &Obj<'_>) -> Result<Option<String>, PayloadError> {
    match message.id("messageId")? {
        Some(id) => Ok(Some(id)),
        None => message.id("message_id"),
    }
}

fn decode_data(message: &Obj<'_>) -> Result<Value, PayloadError> {
    let data = message.required_str(
        "data",
        "a Pub/Sub message carries the Artifact Registry notification, base64-encoded, in data",
    )?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| {
            PayloadError::Invalid(format!("{} is not base64: {e}", message.field("data")))
        })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        PayloadError::Invalid(format!(
            "{} does not decode to JSON: {e}",
            message.field("data")
        ))
    })
}

fn notification(
    data: &Obj<'_>,
    action: &str,
    provider_id: Option<String>,
) -> Result<Event, PayloadError> {
    let event = |action_taken: Action| Event {
        source: SRC,
        event_type: action.to_owned(),
        provider_id: provider_id.clone(),
        action: action_taken,
    };
    if action != "INSERT" {
        return Ok(event(Action::Ignore {
            reason: format!(
                "Artifact Registry action {} is not a push (INSERT); no refresh",
                quote(action)
            ),
        }));
    }
    let tag = data.str("tag")?.filter(|t| !t.is_empty());
    let digest = data.str("digest")?.filter(|d| !d.is_empty());
    let (repo_url, tags) = match (tag, digest) {
        (Some(reference), _) => {
            let (repo, tag) = split_tag(reference)
                .ok_or_else(|| invalid_reference(data, "tag", reference, "host/path/image:tag"))?;
            (repo, vec![tag.to_owned()])
        }
        (None, Some(reference)) => {
            let repo = reference
                .split_once('@')
                .map(|(repo, _)| repo)
                .filter(|repo| has_path(repo))
                .ok_or_else(|| {
                    invalid_reference(data, "digest", reference, "host/path/image@sha256:…")
                })?;
            (repo, Vec::new())
        }
        (None, None) => {
            return Err(PayloadError::missing(
                data.field("tag"),
                "an INSERT names the pushed image by tag or digest",
            ))
        }
    };
    Ok(event(Action::Refresh(vec![Target::Oci {
        repo_url: repo_url.to_owned(),
        image: true,
        chart: true,
        tags,
    }])))
}

/// `host/path:tag` → (`host/path`, `tag`); the `:` must come after the last `/` (a port is not
/// a tag).
fn split_tag(reference: &str) -> Option<(&str, &str)> {
    let reference = reference.split_once('@').map_or(reference, |(r, _)| r);
    let slash = reference.rfind('/')?;
    let colon = slash + reference[slash..].find(':')?;
    let (repo, tag) = (&reference[..colon], &reference[colon + 1..]);
    (has_path(repo) && !tag.is_empty()).then_some((repo, tag))
}

fn has_path(repo: &str) -> bool {
    repo.split_once('/')
        .is_some_and(|(host, path)| !host.is_empty() && !path.is_empty())
}

fn invalid_reference(data: &Obj<'_>, key: &str, value: &str, shape: &str) -> PayloadError {
    PayloadError::Invalid(format!(
        "{} {} is not an image reference ({shape})",
        data.field(key),
        quote(value)
    ))
}

#[cfg(test)]
mod tests;
