//! The `artifactory` receiver: JFrog Artifactory webhooks of the "Docker and OCI" domain, as
//! Kargo's receiver of that name (same Secret key, same signature check, same repository URL).
//!
//! # Authentication first
//! Artifactory signs the raw body with the webhook's secret token ("Use secret for payload
//! signing"): `X-Jfrog-Event-Auth` is the hex HMAC-SHA256 of the body keyed by the Secret's
//! `secret-token`. It is checked in constant time before the body is parsed: missing → 401
//! `missing signature`, wrong (or not hex, or sent twice) → 401 `unauthorized` (Kargo's words).
//!
//! # Where the registry host comes from
//! The payload names the Artifactory instance (`jpd_origin`, its Custom Base URL), the
//! repository key and the artifact's path, but not the Docker registry host a Warehouse pulls
//! from (akuity/kargo#4899). The repository URL is `{host}/{repository}/{image path}`:
//! - `{host}` is the Secret's optional `registry-host` when set (dockhand's; not hashed into the
//!   URL, so the receiver URL stays Kargo's), else the host of `jpd_origin` (Kargo's rule).
//!   A `registry-host` containing `{repo}` is a template for Artifactory's subdomain access
//!   method: `{repo}.artifactory.example.com` becomes `docker-local.artifactory.example.com`,
//!   and the repository key is then not repeated in the path.
//! - `{repository}` is the receiver's `virtualRepoName` when set (Kargo's field: the virtual
//!   repository Warehouses pull through), else `data.repo_key`.
//! - `{image path}` is `data.path` without its last two segments (the tag folder and the
//!   manifest file), as Kargo does.
//!
//! `--registry-alias` applies afterwards, as to every receiver.
//!
//! # Cases
//! | event | result |
//! |---|---|
//! | `domain: docker`, `event_type: pushed`, `data.image_type` `docker` | Refresh `Oci{url as above, tags [data.tag]}`, image only |
//! | the same with `image_type` `oci` | Refresh, image and chart (Artifactory's OCI repositories hold both; Kargo treats it as a chart) |
//! | the same with `image_type` absent (JFrog's documented sample has none) | Refresh, image and chart |
//! | the same with `data.tag` empty or a digest | Refresh with no tags: every subscriber |
//! | the same with another `image_type` | Ignore, reason names it (Kargo: 501) |
//! | any other `domain`/`event_type` (`docker` `deleted`, `promoted`; `artifact` `deployed`, …) | Ignore, reason names them (Kargo: 501) |
//! | a push when neither `registry-host` nor `jpd_origin` gives a host | Ignore, reason says what to set |
//! | empty body, not JSON, `data.path` with fewer than two segments, no repository key, wrong field types | 400 `invalid request body: …` |
//!
//! `event_type` is `{domain}:{event_type}` (`docker:pushed`); `provider_id` is
//! `{domain}:{event_type}:{repo_key}/{path}@{sha256}` when the payload has them: Artifactory
//! sends no delivery id, and this makes a retried delivery a duplicate.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::payload::{self, malformed_body, quote, Obj, PayloadError};
use super::{KeyGroup, ReceiverType, Request};
use crate::config::Receiver;
use crate::event::{Action, Event, Rejection, Source, Target};

/// JFrog Artifactory webhook.
pub const ARTIFACTORY: Source = Source::new("artifactory");

/// The Secret key hashed into the URL and used as the HMAC key (Kargo's).
const SECRET_TOKEN: &str = "secret-token";
/// dockhand's: the registry host (or `{repo}` template) repository URLs are built with.
const REGISTRY_HOST: &str = "registry-host";
/// Kargo's receiver setting: the virtual repository name that replaces `repo_key`.
const VIRTUAL_REPO_NAME: &str = "virtualRepoName";
const SIGNATURE_HEADER: &str = "x-jfrog-event-auth";

pub static TYPE: ReceiverType = ReceiverType {
    name: "artifactory",
    url_secret_key: SECRET_TOKEN,
    optional_keys: &[KeyGroup {
        keys: &[REGISTRY_HOST],
        purpose: "the registry host",
    }],
    handle,
    sources: &[ARTIFACTORY],
    settings: None,
};

const SRC: Source = ARTIFACTORY;
const IMAGE_TYPES: [&str; 2] = ["docker", "oci"];

fn handle(receiver: &Receiver, req: &Request<'_>) -> Result<Event, Rejection> {
    let Some(token) = receiver.secret(SECRET_TOKEN) else {
        // The loader always sets it; refuse rather than run unauthenticated.
        return Err(Rejection::unauthorized(
            SRC,
            "this artifactory receiver has no secret-token configured, so no request can be \
             authenticated",
        ));
    };
    if !req.replay {
        verify_signature(token.expose().as_bytes(), req)?;
    }

    let value = payload::parse_json(req.body).map_err(|e| malformed_body(e, SRC, None))?;
    let body = Obj::new(&value, "", "an Artifactory webhook body")
        .map_err(|e| malformed_body(e, SRC, None))?;
    let domain = body
        .str("domain")
        .map_err(|e| malformed_body(e, SRC, None))?;
    let kind = body
        .str("event_type")
        .map_err(|e| malformed_body(e, SRC, None))?;
    let event_type = format!("{}:{}", domain.unwrap_or(""), kind.unwrap_or(""));
    event(receiver, &body, domain, kind, &event_type)
        .map_err(|e| malformed_body(e, SRC, Some(&event_type)))
}

/// `X-Jfrog-Event-Auth` must be the hex HMAC-SHA256 of the raw body under `key`.
fn verify_signature(key: &[u8], req: &Request<'_>) -> Result<(), Rejection> {
    let mut values = req.headers.get_all(SIGNATURE_HEADER).iter();
    let sent = match (values.next(), values.next()) {
        (None, _) => return Err(Rejection::unauthorized(SRC, "missing signature")),
        (Some(v), None) if v.is_empty() => {
            return Err(Rejection::unauthorized(SRC, "missing signature"))
        }
        (Some(v), None) => v.as_bytes(),
        (Some(_), Some(_)) => return Err(Rejection::unauthorized(SRC, "unauthorized")),
    };
    let unauthorized = || Rejection::unauthorized(SRC, "unauthorized");
    let sent = decode_hex(sent.trim_ascii()).ok_or_else(unauthorized)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| unauthorized())?;
    mac.update(req.body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&sent).map_err(|_| unauthorized())
}

fn decode_hex(hex: &[u8]) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |b: u8| (b as char).to_digit(16);
    hex.chunks_exact(2)
        .map(|pair| Some((nibble(pair[0])? * 16 + nibble(pair[1])?) as u8))
        .collect()
}

fn event(
    receiver: &Receiver,
    body: &Obj<'_>,
    domain: Option<&str>,
    kind: Option<&str>,
    event_type: &str,
) -> Result<Event, PayloadError> {
    let data = body.obj("data")?;
    let provider_id = match &data {
        Some(d) => match (d.str("repo_key")?, d.str("path")?, d.str("sha256")?) {
            (Some(r), Some(p), Some(s)) => Some(format!("{event_type}:{r}/{p}@{s}")),
            _ => None,
        },
        None => None,
    };
    let ignore = |reason: String| Event {
        source: SRC,
        event_type: event_type.to_owned(),
        provider_id: provider_id.clone(),
        action: Action::Ignore { reason },
    };
    if domain != Some("docker") || kind != Some("pushed") {
        return Ok(ignore(format!(
            "Artifactory event {} in domain {} is not a Docker or OCI tag push (domain docker, \
             event pushed); no refresh",
            quote(kind.unwrap_or("")),
            quote(domain.unwrap_or("")),
        )));
    }
    let data = data.ok_or_else(|| {
        PayloadError::missing("data", "a Docker tag push describes the tag in data")
    })?;
    let (image, chart) = match data.str("image_type")? {
        None | Some("") | Some("oci") => (true, true),
        Some("docker") => (true, false),
        Some(other) => {
            return Ok(ignore(format!(
                "Artifactory image type {} is not one of {}; no refresh",
                quote(other),
                IMAGE_TYPES.join(", ")
            )))
        }
    };
    let path = data.required_str("path", "a Docker tag push names the manifest's path")?;
    let segments: Vec<&str> = path.split('/').collect();
    if segments.len() < 2 {
        return Err(PayloadError::Invalid(format!(
            "invalid value {} in payload's data.path field: expected \
             <image path>/<tag>/<manifest file>",
            quote(path)
        )));
    }
    let image_path = &segments[..segments.len() - 2];
    let repository = match receiver.setting(VIRTUAL_REPO_NAME) {
        Some(v) => v,
        None => data.required_str(
            "repo_key",
            "a Docker tag push names its repository (or set virtualRepoName on the receiver)",
        )?,
    };
    let origin = body.str("jpd_origin")?;
    let prefix = match receiver.secret(REGISTRY_HOST) {
        Some(template) if template.expose().contains("{repo}") => {
            template.expose().replace("{repo}", repository)
        }
        Some(host) => format!("{}/{repository}", host.expose().trim_end_matches('/')),
        None => match origin.and_then(origin_host) {
            Some(host) => format!("{host}/{repository}"),
            None => {
                return Ok(ignore(format!(
                    "Artifactory push to {} names no registry host (jpd_origin is {}): set the \
                     Custom Base URL of the Artifactory instance, or the receiver Secret's \
                     registry-host; no refresh",
                    quote(path),
                    origin.map_or_else(|| "absent".to_owned(), quote),
                )))
            }
        },
    };
    let repo_url = std::iter::once(prefix.as_str())
        .chain(image_path.iter().copied())
        .collect::<Vec<_>>()
        .join("/");
    let tag = data
        .str("tag")?
        .filter(|t| !t.is_empty() && !t.contains(':') && !t.starts_with("sha256__"));
    Ok(Event {
        source: SRC,
        event_type: event_type.to_owned(),
        provider_id,
        action: Action::Refresh(vec![Target::Oci {
            repo_url,
            image,
            chart,
            tags: tag.map(str::to_owned).into_iter().collect(),
        }]),
    })
}

/// The `host[:port]` of a base URL (`https://example.jfrog.io/artifactory` →
/// `example.jfrog.io`); none when there is no host.
fn origin_host(origin: &str) -> Option<&str> {
    let rest = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .split(['/', '?', '#'])
        .next()?;
    // Credentials in a base URL are not part of the registry host.
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests;
