//! The `harbor` receiver: Harbor webhooks in the default payload format (2.x, and 1.9/1.10's
//! camelCase types) and the CloudEvents format (structured mode as Harbor sends it, binary mode
//! for proxies that convert).
//!
//! # Authentication first
//! `Authorization` must equal the Secret's `auth-header` byte for byte (Harbor sends the "Auth
//! Header" field verbatim, scheme word and all), compared in constant time, before the body is
//! read at all: missing → 401 `missing authorization`, different → 401 `unauthorized`.
//!
//! # Cases
//! | format | event | result |
//! |---|---|---|
//! | default | `PUSH_ARTIFACT`, 1.x `pushImage` | Refresh: one `Oci` target per repository in `event_data.resources[].resource_url` (order kept, de-duplicated), image and chart both; tags as below |
//! | default | push with empty or absent `resources` | Refresh with no targets ("refreshed 0") |
//! | default | any other `type` (`PULL_ARTIFACT`, `DELETE_ARTIFACT`, `SCANNING_*`, `QUOTA_*`, `REPLICATION`, `TAG_RETENTION`, …) | Ignore, reason names the type |
//! | CloudEvents (body with `specversion`, or `data` and no `event_data`) | `harbor.artifact.pushed` | as `PUSH_ARTIFACT` on `data` |
//! | CloudEvents binary (`ce-specversion`/`ce-type` headers, body = data) | `harbor.artifact.pushed` | as `PUSH_ARTIFACT` on the body |
//! | CloudEvents | any other type | Ignore |
//! | 1.10 docs-only shape `{"event_type", "events"}` | any | Ignore: it names no registry host, so nothing can be matched |
//! | any | not JSON, wrong field types, `resources` not an array, `resource_url` not a reference | 400 naming the field (and resource index) |
//!
//! Tags of one repository: every non-empty `tag` that is not a digest (`sha256:…`; a tag cannot
//! contain `:`), else the tag in `resource_url`. A resource pushed by digest only means "a new
//! manifest, tag unknown": its repository's tag list is emptied, which refreshes every
//! subscriber (the contract of `Target::Oci::tags`), even if other resources named tags.
//!
//! `provider_id`: CloudEvents `id`; default format `{type}:{occur_at}:{first digest}` (also the
//! first tag when there is one). Harbor has no delivery id; `occur_at` alone would make two
//! pushes in the same second (two tags of one image, a push and the scanner's pull) look like
//! one redelivery.

use super::auth;
use super::payload::{self, quote, Obj, PayloadError};
use super::{header_str, ReceiverType, Request};
use crate::config::Receiver;
use crate::event::{Action, Event, Rejection, Source, Target};

/// Harbor webhook (default or CloudEvents payload format).
pub const HARBOR: Source = Source::new("harbor");

/// The Secret key hashed into the URL and, verbatim, the `Authorization` Harbor sends (Kargo's).
const AUTH_HEADER: &str = "auth-header";

pub static TYPE: ReceiverType = ReceiverType {
    name: "harbor",
    url_secret_key: AUTH_HEADER,
    optional_keys: &[],
    handle,
    sources: &[HARBOR],
    settings: None,
};

const SRC: Source = HARBOR;
const PUSH_TYPES: [&str; 2] = ["PUSH_ARTIFACT", "pushImage"];
const CE_PUSH_TYPE: &str = "harbor.artifact.pushed";

fn handle(receiver: &Receiver, req: &Request<'_>) -> Result<Event, Rejection> {
    let Some(expected) = receiver.secret(AUTH_HEADER) else {
        // The loader always sets it for harbor; refuse rather than run unauthenticated.
        return Err(Rejection::unauthorized(
            SRC,
            "this harbor receiver has no auth-header configured, so no request can be authenticated",
        ));
    };
    if !req.replay {
        auth::check_header(expected, req.headers, SRC)?;
    }

    if req.headers.contains_key("ce-specversion") || req.headers.contains_key("ce-type") {
        return binary_cloud_event(req);
    }
    let value = payload::parse_json(req.body).map_err(|e| e.reject(SRC, None))?;
    let body = Obj::new(&value, "", "a Harbor webhook body").map_err(|e| e.reject(SRC, None))?;
    if body.has("specversion") || (body.has("data") && !body.has("event_data")) {
        structured_cloud_event(&body)
    } else if body.has("type") {
        default_format(&body)
    } else if body.has("event_type") {
        legacy_doc_shape(&body)
    } else {
        Err(payload::invalid_body(
            SRC,
            "not a Harbor webhook: expected the default payload format (type, occur_at, \
             event_data) or a CloudEvent (specversion, type, data)",
        ))
    }
}

fn default_format(body: &Obj<'_>) -> Result<Event, Rejection> {
    let event_type = body
        .required_str("type", "every Harbor webhook names its event type")
        .map_err(|e| e.reject(SRC, None))?;
    let reject = |e: PayloadError| e.reject(SRC, Some(event_type));
    let action = if PUSH_TYPES.contains(&event_type) {
        let data = body
            .obj("event_data")
            .map_err(reject)?
            .ok_or_else(|| {
                PayloadError::missing(
                    "event_data",
                    "a push lists the pushed artifacts in event_data.resources",
                )
            })
            .map_err(reject)?;
        Action::Refresh(push_targets(&data).map_err(reject)?)
    } else {
        not_a_push(event_type)
    };
    Ok(Event {
        source: SRC,
        event_type: event_type.to_owned(),
        provider_id: default_provider_id(body, event_type).map_err(reject)?,
        action,
    })
}

fn default_provider_id(body: &Obj<'_>, event_type: &str) -> Result<Option<String>, PayloadError> {
    let Some(occur_at) = body.id("occur_at")? else {
        return Ok(None);
    };
    let mut id = format!("{event_type}:{occur_at}");
    // Best effort: a malformed resource list is reported by the push parser, not here.
    let first = body
        .obj("event_data")
        .ok()
        .flatten()
        .and_then(|d| d.objects("resources").ok())
        .and_then(|r| r.into_iter().next());
    if let Some(first) = first {
        let digest = first.str("digest").ok().flatten().filter(|d| !d.is_empty());
        // A digest in `tag` (a push by digest) adds nothing to the digest itself.
        let tag = first
            .str("tag")
            .ok()
            .flatten()
            .filter(|t| !t.is_empty() && !t.contains(':'));
        for part in [digest, tag].into_iter().flatten() {
            id.push(':');
            id.push_str(part);
        }
    }
    Ok(Some(id))
}

fn structured_cloud_event(body: &Obj<'_>) -> Result<Event, Rejection> {
    let event_type = body
        .required_str("type", "every CloudEvent names its type")
        .map_err(|e| e.reject(SRC, None))?;
    let reject = |e: PayloadError| e.reject(SRC, Some(event_type));
    let provider_id = body.id("id").map_err(reject)?;
    let action = if event_type == CE_PUSH_TYPE {
        let data = body
            .obj("data")
            .map_err(reject)?
            .ok_or_else(|| {
                PayloadError::missing(
                    "data",
                    "harbor.artifact.pushed carries the pushed artifacts in data",
                )
            })
            .map_err(reject)?;
        Action::Refresh(push_targets(&data).map_err(reject)?)
    } else {
        not_a_push(event_type)
    };
    Ok(Event {
        source: SRC,
        event_type: event_type.to_owned(),
        provider_id,
        action,
    })
}

/// Binary-mode CloudEvents: attributes in `ce-*` headers, the body is `data`. Harbor itself
/// sends structured mode only; this is for relays that convert.
fn binary_cloud_event(req: &Request<'_>) -> Result<Event, Rejection> {
    let Some(event_type) = header_str(req.headers, "ce-type").filter(|t| !t.is_empty()) else {
        return Err(Rejection::bad_request(
            SRC,
            "a binary-mode CloudEvent needs a ce-type header (visible ASCII)",
        ));
    };
    let provider_id = header_str(req.headers, "ce-id")
        .filter(|id| !id.is_empty())
        .map(str::to_owned);
    let action = if event_type == CE_PUSH_TYPE {
        let reject = |e: PayloadError| e.reject(SRC, Some(event_type));
        let value = payload::parse_json(req.body).map_err(reject)?;
        let data = Obj::new(&value, "", "the data of a binary-mode CloudEvent").map_err(reject)?;
        Action::Refresh(push_targets(&data).map_err(reject)?)
    } else {
        not_a_push(event_type)
    };
    Ok(Event {
        source: SRC,
        event_type: event_type.to_owned(),
        provider_id,
        action,
    })
}

/// Harbor 1.10's documentation showed `{"event_type":"pushImage","events":[{repo_name, tag, …}]}`;
/// Harbor itself sent the `type`/`event_data` shape. Without a registry host nothing in it can be
/// matched, so it is acknowledged and explained rather than refused.
fn legacy_doc_shape(body: &Obj<'_>) -> Result<Event, Rejection> {
    let event_type = body
        .required_str("event_type", "names the Harbor 1.x event")
        .map_err(|e| e.reject(SRC, None))?;
    Ok(Event {
        source: SRC,
        event_type: event_type.to_owned(),
        provider_id: None,
        action: Action::Ignore {
            reason: format!(
                "Harbor 1.x event {} in the old documentation shape (event_type, events) names no \
                 registry host, so its repositories cannot be matched; no refresh. Harbor 1.9 and \
                 later send type and event_data, which are supported",
                quote(event_type)
            ),
        },
    })
}

fn not_a_push(event_type: &str) -> Action {
    Action::Ignore {
        reason: format!(
            "Harbor event {} is not an artifact push; no refresh",
            quote(event_type)
        ),
    }
}

/// One target per repository named by `resources[].resource_url`, in order of first mention.
fn push_targets(data: &Obj<'_>) -> Result<Vec<Target>, PayloadError> {
    struct Repo {
        url: String,
        tags: Vec<String>,
        by_digest: bool,
    }
    let mut repos: Vec<Repo> = Vec::new();
    for resource in data.objects("resources")? {
        let url = resource.required_str(
            "resource_url",
            "a pushed artifact's resource_url names its repository",
        )?;
        let reference = parse_reference(url).map_err(|why| {
            PayloadError::Invalid(format!(
                "{} {} is not an image reference (host[:port]/project/repository[:tag|@digest]): {why}",
                resource.field("resource_url"),
                quote(url)
            ))
        })?;
        let tag = match resource.str("tag")? {
            Some(t) if !t.is_empty() => Some(t),
            _ => reference.tag,
        }
        .filter(|t| !t.contains(':'));
        let i = match repos.iter().position(|r| r.url == reference.repo) {
            Some(i) => i,
            None => {
                repos.push(Repo {
                    url: reference.repo.to_owned(),
                    tags: Vec::new(),
                    by_digest: false,
                });
                repos.len() - 1
            }
        };
        let repo = &mut repos[i];
        match tag {
            Some(t) if !repo.tags.iter().any(|x| x == t) => repo.tags.push(t.to_owned()),
            Some(_) => {}
            None => repo.by_digest = true,
        }
    }
    Ok(repos
        .into_iter()
        .map(|r| Target::Oci {
            repo_url: r.url,
            image: true,
            chart: true,
            tags: if r.by_digest { Vec::new() } else { r.tags },
        })
        .collect())
}

/// An image reference as Harbor writes it: `host[:port]/path[:tag]` or `host[:port]/path@digest`,
/// no scheme.
#[derive(Debug, PartialEq, Eq)]
struct Reference<'a> {
    /// `host[:port]/path`, without tag or digest.
    repo: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

fn parse_reference(s: &str) -> Result<Reference<'_>, &'static str> {
    if s.is_empty() {
        return Err("it is empty");
    }
    if !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("it contains spaces, control or non-ASCII characters");
    }
    if s.contains("://") {
        return Err("it has a URL scheme; Harbor sends references without one");
    }
    let (name, digest) = match s.split_once('@') {
        Some((name, digest)) => {
            let valid = digest.split_once(':').is_some_and(|(alg, hex)| {
                !alg.is_empty() && !hex.is_empty() && !hex.contains([':', '@'])
            });
            if !valid {
                return Err("the part after @ is not a digest (algorithm:hex)");
            }
            (name, Some(digest))
        }
        None => (s, None),
    };
    let Some((host, _)) = name.split_once('/') else {
        return Err("it has no repository path after the registry host");
    };
    if host.is_empty() {
        return Err("it has no registry host");
    }
    let last_slash = name.rfind('/').unwrap_or(0);
    let (repo, tag) = match name[last_slash..].find(':') {
        Some(i) => {
            let (repo, tag) = name.split_at(last_slash + i);
            (repo, Some(&tag[1..]))
        }
        None => (name, None),
    };
    match tag {
        Some("") => return Err("the tag after ':' is empty"),
        Some(t) if t.contains(':') => return Err("the tag contains ':'"),
        _ => {}
    }
    if repo.split('/').any(str::is_empty) {
        return Err("it has an empty path segment");
    }
    Ok(Reference { repo, tag, digest })
}

#[cfg(test)]
mod tests;
