//! The `quay` receiver: Quay (quay.io and Red Hat Quay) repository notifications sent by the
//! "Webhook POST" method, as Kargo's receiver of that name.
//!
//! # Authentication
//! None in the request: Quay signs nothing (a client certificate is its only option). The
//! Secret's `secret` is hashed into the URL, which is the credential (Kargo's key and URL).
//!
//! # Cases
//! A Quay notification names no event; the body's shape says which one it is (quay/quay
//! `notifications/notificationevent.py`: every event's data is the repository's `repository`,
//! `namespace`, `name`, `docker_url`, `homepage`, plus its own fields).
//!
//! | body | result |
//! |---|---|
//! | `docker_url` + `updated_tags` ("Push to Repository", and its "Test Notification") | Refresh `Oci{docker_url, tags updated_tags}`, image and chart (Quay says nothing about media types) |
//! | `updated_tags` empty (a push by digest) | Refresh with no tags: every subscriber |
//! | `build_id` (build queued/started/succeeded/failed/cancelled) | Ignore: the push the build makes is notified by itself |
//! | `vulnerability` (package vulnerability found) | Ignore |
//! | anything else with `docker_url` (mirror sync, …) | Ignore |
//! | empty body, not JSON, not an object, `docker_url` missing, wrong field types | 400 `invalid request body: …` |
//!
//! `event_type` is `repo_push`, `build`, `vulnerability_found` or `unknown`; Quay sends no
//! delivery id, so `provider_id` is empty.
//!
//! Kargo refreshes on any body with a `docker_url`, build events included; dockhand acts on
//! pushes only, so a build notification does not refresh every subscriber of the repository.

use super::payload::{self, malformed_body, quote, Obj, PayloadError};
use super::{ReceiverType, Request};
use crate::config::Receiver;
use crate::event::{Action, Event, Rejection, Source, Target};

/// Quay repository notification.
pub const QUAY: Source = Source::new("quay");

/// The Secret key hashed into the URL (Kargo's).
const SECRET: &str = "secret";

pub static TYPE: ReceiverType = ReceiverType {
    name: "quay",
    url_secret_key: SECRET,
    optional_keys: &[],
    handle,
    sources: &[QUAY],
    settings: None,
};

const SRC: Source = QUAY;

fn handle(_receiver: &Receiver, req: &Request<'_>) -> Result<Event, Rejection> {
    let value = payload::parse_json(req.body).map_err(|e| malformed_body(e, SRC, None))?;
    let body = Obj::new(&value, "", "a Quay notification body")
        .map_err(|e| malformed_body(e, SRC, None))?;
    let event_type = if body.has("updated_tags") {
        "repo_push"
    } else if body.has("build_id") {
        "build"
    } else if body.has("vulnerability") {
        "vulnerability_found"
    } else {
        "unknown"
    };
    notification(&body, event_type).map_err(|e| malformed_body(e, SRC, Some(event_type)))
}

fn notification(body: &Obj<'_>, event_type: &str) -> Result<Event, PayloadError> {
    let docker_url = body.required_str(
        "docker_url",
        "every Quay notification names its repository (quay.io/namespace/name)",
    )?;
    let action = match event_type {
        "repo_push" => Action::Refresh(vec![Target::Oci {
            repo_url: docker_url.to_owned(),
            image: true,
            chart: true,
            tags: strings(body, "updated_tags")?
                .into_iter()
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
        }]),
        "build" => Action::Ignore {
            reason: format!(
                "Quay build notification for {}: the push a build makes is notified as \"Push to \
                 Repository\"; no refresh",
                quote(docker_url)
            ),
        },
        "vulnerability_found" => Action::Ignore {
            reason: format!(
                "Quay vulnerability notification for {}; no refresh",
                quote(docker_url)
            ),
        },
        _ => Action::Ignore {
            reason: format!(
                "Quay notification for {} is not a \"Push to Repository\" (no updated_tags); no \
                 refresh",
                quote(docker_url)
            ),
        },
    };
    Ok(Event {
        source: SRC,
        event_type: event_type.to_owned(),
        provider_id: None,
        action,
    })
}

/// An array of strings; absent is empty.
fn strings<'a>(body: &Obj<'a>, key: &str) -> Result<Vec<&'a str>, PayloadError> {
    let Some(value) = body.get(key) else {
        return Ok(Vec::new());
    };
    let wrong = |found| PayloadError::WrongType {
        field: body.field(key),
        expected: "an array of strings",
        found,
    };
    let items = value
        .as_array()
        .ok_or_else(|| wrong(payload::type_name(value)))?;
    items
        .iter()
        .map(|v| v.as_str().ok_or_else(|| wrong(payload::type_name(v))))
        .collect()
}

#[cfg(test)]
mod tests;
