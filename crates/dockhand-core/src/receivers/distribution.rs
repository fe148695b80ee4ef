//! The `distribution` receiver (dockhand's own; Kargo has no such type): notifications of the
//! CNCF Distribution registry (`registry:2`/`registry:3`, Debian's `docker-registry`, and the
//! registries built on it), configured under `notifications.endpoints` in its `config.yml`.
//!
//! # Authentication
//! Distribution signs nothing; an endpoint sends the static `headers` it is configured with.
//! The Secret's `secret` is hashed into the URL. When the Secret also has `auth-header`, the
//! request's `Authorization` must equal it byte for byte (constant time), checked before the
//! body is read: missing → 401 `missing authorization`, different → 401 `unauthorized`.
//!
//! # Cases
//! A request is an envelope `{"events": [...]}` (media type
//! `application/vnd.docker.distribution.events.v1+json`, `v2+json` from Distribution 3) holding
//! one or more events; each is judged alone and the results are merged.
//!
//! | event | result |
//! |---|---|
//! | `push` of a manifest (`target.url` has `/manifests/`, or a `tag`, or a manifest media type) with `target.tag` | Refresh `Oci{request.host/target.repository, tags [tag]}`; image/chart by `target.mediaType` |
//! | `push` of a manifest without `tag` (a push by digest: a multi-arch image's children, `crane`/`oras` by digest) | Refresh with no tags: every subscriber of the repository |
//! | `push` of a blob (`target.url` has `/blobs/`, or no manifest sign) | skipped: the manifest push that follows names the tag |
//! | `pull`, `delete`, `mount`, any other action | skipped |
//! | an event with no host (`request.host`, else the host of `target.url`) or no `target.repository` | skipped, reason says which |
//! | several events | one Refresh with a target per repository (tags merged, order kept; a push by digest empties that repository's tags); Ignore listing the reasons when none refreshes |
//! | empty `events` | Ignore |
//! | empty body, not JSON, no `events` array, an event that is not an object, wrong field types | 400 `invalid request body: …` naming the field |
//!
//! The host is `request.host`: the `Host` the pushing client used, which is how a Warehouse
//! names the registry. Behind a proxy that rewrites it, use `--registry-alias`.
//!
//! `event_type` is the distinct actions, comma-joined (`push`, `pull,push`); `provider_id` is
//! the event ids, comma-joined: Distribution retries an envelope unchanged until it is
//! answered 2xx, so a retry is a duplicate.

use super::auth;
use super::media_type::oci_kinds;
use super::payload::{self, malformed_body, quote, Obj, PayloadError};
use super::{KeyGroup, ReceiverType, Request};
use crate::config::Receiver;
use crate::event::{Action, Event, Rejection, Source, Target};

/// CNCF Distribution registry notification.
pub const DISTRIBUTION: Source = Source::new("distribution");

/// The Secret key hashed into the URL.
const SECRET: &str = "secret";
/// When set, the exact `Authorization` the endpoint's `headers` must send.
const AUTH_HEADER: &str = "auth-header";

pub static TYPE: ReceiverType = ReceiverType {
    name: "distribution",
    url_secret_key: SECRET,
    optional_keys: &[KeyGroup {
        keys: &[AUTH_HEADER],
        purpose: "the Authorization check",
    }],
    handle,
    sources: &[DISTRIBUTION],
    settings: None,
};

const SRC: Source = DISTRIBUTION;

fn handle(receiver: &Receiver, req: &Request<'_>) -> Result<Event, Rejection> {
    if let Some(expected) = receiver.secret(AUTH_HEADER).filter(|_| !req.replay) {
        auth::check_header(expected, req.headers, SRC)?;
    }
    let value = payload::parse_json(req.body).map_err(|e| malformed_body(e, SRC, None))?;
    let body = Obj::new(&value, "", "a Distribution notification envelope")
        .map_err(|e| malformed_body(e, SRC, None))?;
    envelope(&body).map_err(|e| malformed_body(e, SRC, None))
}

/// One repository's accumulated push.
struct Repo {
    url: String,
    image: bool,
    chart: bool,
    tags: Vec<String>,
    by_digest: bool,
}

fn envelope(body: &Obj<'_>) -> Result<Event, PayloadError> {
    if !body.has("events") {
        return Err(PayloadError::missing(
            "events",
            "a Distribution notification is an envelope {\"events\": [...]}",
        ));
    }
    let events = body.objects("events")?;
    let mut actions: Vec<&str> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    let mut repos: Vec<Repo> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    for event in &events {
        let action = event.str("action")?.unwrap_or("");
        if !actions.contains(&action) {
            actions.push(action);
        }
        if let Some(id) = event.id("id")? {
            ids.push(id);
        }
        match push(event, action)? {
            Ok(one) => merge(&mut repos, one),
            Err(reason) => skipped.push(reason),
        }
    }
    actions.sort_unstable();
    let action = if repos.is_empty() {
        Action::Ignore {
            reason: if skipped.is_empty() {
                "Distribution notification with no events; no refresh".to_owned()
            } else {
                format!("{}; no refresh", skipped.join("; "))
            },
        }
    } else {
        Action::Refresh(
            repos
                .into_iter()
                .map(|r| Target::Oci {
                    repo_url: r.url,
                    image: r.image,
                    chart: r.chart,
                    tags: if r.by_digest { Vec::new() } else { r.tags },
                })
                .collect(),
        )
    };
    Ok(Event {
        source: SRC,
        event_type: actions.join(","),
        provider_id: (!ids.is_empty()).then(|| ids.join(",")),
        action,
    })
}

/// A manifest push as one repository's push, or why the event is skipped.
fn push(event: &Obj<'_>, action: &str) -> Result<Result<Repo, String>, PayloadError> {
    let target = event.obj("target")?;
    let (repository, media_type, tag, url) = match &target {
        Some(t) => (
            t.str("repository")?,
            t.str("mediaType")?,
            t.str("tag")?.filter(|t| !t.is_empty()),
            t.str("url")?,
        ),
        None => (None, None, None, None),
    };
    let what = format!(
        "{} {}",
        quote(action),
        repository.map_or_else(|| "(no repository)".to_owned(), quote)
    );
    if action != "push" {
        return Ok(Err(format!("{what} is not a push")));
    }
    let is_manifest = match url {
        Some(u) if u.contains("/manifests/") => true,
        Some(u) if u.contains("/blobs/") => false,
        _ => {
            tag.is_some()
                || media_type.is_some_and(|m| m.contains("manifest") || m.contains("index"))
        }
    };
    if !is_manifest {
        return Ok(Err(format!("{what} is a blob upload, not a manifest")));
    }
    let Some(repository) = repository.filter(|r| !r.is_empty()) else {
        return Ok(Err(format!("{what}: the event names no target.repository")));
    };
    let request_host = match event.obj("request")? {
        Some(r) => r.str("host")?.filter(|h| !h.is_empty()),
        None => None,
    };
    let Some(host) = request_host.or_else(|| url.and_then(url_host)) else {
        return Ok(Err(format!(
            "{what}: the event names no registry host (request.host or target.url)"
        )));
    };
    let (image, chart) = oci_kinds(media_type);
    Ok(Ok(Repo {
        url: format!("{host}/{repository}"),
        image,
        chart,
        tags: tag.map(str::to_owned).into_iter().collect(),
        by_digest: tag.is_none(),
    }))
}

fn merge(repos: &mut Vec<Repo>, one: Repo) {
    match repos.iter_mut().find(|r| r.url == one.url) {
        Some(r) => {
            r.image |= one.image;
            r.chart |= one.chart;
            r.by_digest |= one.by_digest;
            for t in one.tags {
                if !r.tags.contains(&t) {
                    r.tags.push(t);
                }
            }
        }
        None => repos.push(one),
    }
}

/// `host[:port]` of `http(s)://host[:port]/v2/...`.
fn url_host(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty() && !host.contains('@')).then_some(host)
}

#[cfg(test)]
mod tests;
