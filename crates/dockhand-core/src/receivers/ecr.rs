//! The `ecr` receiver (dockhand's own; Kargo has no such type): Amazon ECR "ECR Image Action"
//! events, delivered by an Amazon EventBridge rule whose target is an API destination pointing
//! at the receiver URL. ECR has no webhooks of its own; EventBridge is how it notifies.
//!
//! # Authentication
//! EventBridge signs nothing; an API destination's connection sends a credential, and the one
//! that fits is an API key header named `Authorization`. The Secret's `secret` is hashed into
//! the URL; when the Secret has `auth-header`, the request's `Authorization` must equal it byte
//! for byte (constant time), checked before the body is read: missing → 401
//! `missing authorization`, different → 401 `unauthorized`.
//!
//! # Cases
//! The body is the EventBridge event unchanged (no input transformer on the target).
//!
//! | event | result |
//! |---|---|
//! | `detail-type: ECR Image Action`, `detail.action-type: PUSH`, `detail.result: SUCCESS`, with `image-tag` | Refresh `Oci{{account}.dkr.ecr.{region}.amazonaws.com/{repository-name}, tags [image-tag]}`; image/chart by `detail.artifact-media-type`, else `manifest-media-type`, else both |
//! | the same without `image-tag` (a push by digest) | Refresh with no tags: every subscriber |
//! | region `cn-…` | host ends `.amazonaws.com.cn` |
//! | `action-type: DELETE`, `result: FAILURE`, other detail types (scan, replication, pull-through cache, …) | Ignore, reason names them |
//! | empty body, not JSON, not an object, no `detail-type`, a push without `account`, `region` or `repository-name`, wrong field types | 400 `invalid request body: …` |
//!
//! `event_type` is `detail-type` (`ECR Image Action`); `provider_id` is the event `id`, which
//! EventBridge keeps on its retries.

use super::auth;
use super::media_type::oci_kinds;
use super::payload::{self, malformed_body, quote, Obj, PayloadError};
use super::{KeyGroup, ReceiverType, Request};
use crate::config::Receiver;
use crate::event::{Action, Event, Rejection, Source, Target};

/// Amazon ECR event delivered by an EventBridge API destination.
pub const ECR: Source = Source::new("ecr");

/// The Secret key hashed into the URL.
const SECRET: &str = "secret";
/// When set, the exact `Authorization` the EventBridge connection sends.
const AUTH_HEADER: &str = "auth-header";

pub static TYPE: ReceiverType = ReceiverType {
    name: "ecr",
    url_secret_key: SECRET,
    optional_keys: &[KeyGroup {
        keys: &[AUTH_HEADER],
        purpose: "the Authorization check",
    }],
    handle,
    sources: &[ECR],
    settings: None,
};

const SRC: Source = ECR;
const IMAGE_ACTION: &str = "ECR Image Action";

fn handle(receiver: &Receiver, req: &Request<'_>) -> Result<Event, Rejection> {
    if let Some(expected) = receiver.secret(AUTH_HEADER).filter(|_| !req.replay) {
        auth::check_header(expected, req.headers, SRC)?;
    }
    let value = payload::parse_json(req.body).map_err(|e| malformed_body(e, SRC, None))?;
    let body =
        Obj::new(&value, "", "an EventBridge event").map_err(|e| malformed_body(e, SRC, None))?;
    let detail_type = body
        .required_str(
            "detail-type",
            "an EventBridge event names its type (ECR Image Action); send the event unchanged, \
             without an input transformer",
        )
        .map_err(|e| malformed_body(e, SRC, None))?;
    event(&body, detail_type).map_err(|e| malformed_body(e, SRC, Some(detail_type)))
}

fn event(body: &Obj<'_>, detail_type: &str) -> Result<Event, PayloadError> {
    let provider_id = body.id("id")?;
    let detail = body.obj("detail")?;
    let ignore = |reason: String| Event {
        source: SRC,
        event_type: detail_type.to_owned(),
        provider_id: provider_id.clone(),
        action: Action::Ignore { reason },
    };
    if detail_type != IMAGE_ACTION {
        return Ok(ignore(format!(
            "EventBridge event {} is not an {IMAGE_ACTION}; no refresh",
            quote(detail_type)
        )));
    }
    let detail = detail.ok_or_else(|| {
        PayloadError::missing(
            "detail",
            "an ECR Image Action describes the image in detail",
        )
    })?;
    let action_type = detail.str("action-type")?.unwrap_or("");
    let result = detail.str("result")?.unwrap_or("");
    if action_type != "PUSH" || result != "SUCCESS" {
        return Ok(ignore(format!(
            "ECR Image Action {} with result {} is not a successful push; no refresh",
            quote(action_type),
            quote(result)
        )));
    }
    let account = body.required_str("account", "the registry is the account's")?;
    let region = body.required_str("region", "the registry is the region's")?;
    let repository = detail.required_str("repository-name", "a push names its repository")?;
    let tag = detail.str("image-tag")?.filter(|t| !t.is_empty());
    let media_type = match detail.str("artifact-media-type")? {
        Some(m) if !m.is_empty() => Some(m),
        _ => detail.str("manifest-media-type")?,
    };
    let (image, chart) = oci_kinds(media_type);
    // China regions live under their own domain.
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    Ok(Event {
        source: SRC,
        event_type: detail_type.to_owned(),
        provider_id,
        action: Action::Refresh(vec![Target::Oci {
            repo_url: format!("{account}.dkr.ecr.{region}.{domain}/{repository}"),
            image,
            chart,
            tags: tag.map(str::to_owned).into_iter().collect(),
        }]),
    })
}

#[cfg(test)]
mod tests;
