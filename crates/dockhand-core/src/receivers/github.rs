//! The `github` receiver: GitHub repository, organization and App webhooks — git pushes, pull
//! requests, and container images and OCI Helm charts published to GitHub Packages (GHCR).
//!
//! # Authentication first
//! The Secret's `secret` (Kargo's key, also hashed into the URL) is the webhook's "Secret" in
//! GitHub. Every request must carry `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw
//! body)>`, checked in constant time over the bytes received, before the body or the event type
//! is looked at: no header → 401 `missing signature`, anything else wrong → 401 `unauthorized`
//! (Kargo's words). Kargo checks the event type first and answers an unsupported one 400; here
//! nothing is answered, not even "not supported", to a request that is not signed.
//!
//! # Cases
//! | `X-GitHub-Event` | payload | result |
//! |---|---|---|
//! | `ping` | any | Ping: 200 with Kargo's ping message |
//! | `push` | a branch or tag moved or was created | Refresh `Git{repository.clone_url, [ref@after], default branch, changed paths}` |
//! | `push` | `deleted: true` (`after` is forty zeros) | Refresh with the deleted ref: nothing matches, each candidate says "ref … was deleted" |
//! | `package`, `registry_package` | `published`/`updated`, `package_type` `CONTAINER` or `docker` | Refresh `Oci{package_url without tag, [tag] or [] when untagged}`; image or chart by media type (see [`oci_kinds`]) |
//! | `package`, `registry_package` | any other action or package type (npm, maven, …) | Ignore, naming it |
//! | `pull_request` | `closed` (merged or not, as Kargo) | RefreshPromotions `pull_request.html_url`: the Promotions waiting on it in Kargo mode, recorded as ignored in files mode |
//! | `pull_request` | any other action | Ignore |
//! | any other event (`issues`, `workflow_run`, …) | | Ignore: answered 200 so GitHub does not mark the hook failing (Kargo: 400) |
//! | no `X-GitHub-Event` | | 400 |
//! | form-encoded body (hook content type `application/x-www-form-urlencoded`) | | 400 `invalid request body: …` saying to choose `application/json` |
//! | any | not JSON, wrong field types, a push without `ref` or a repository URL | 400 `invalid request body: <field>` |
//!
//! Changed paths: `added`/`modified`/`removed` of every commit and `head_commit`, as Kargo; left
//! unknown (no path filtering) when the payload lists 2048 commits or more, GitHub's cap.
//!
//! `provider_id`: the `X-GitHub-Delivery` GUID (the same on a redelivery).

use super::auth::{self, Hash, SignatureScheme};
use super::git_push;
use super::payload::{self, quote, Obj, PayloadError};
use super::{header_str, ReceiverType, Request};
use crate::config::Receiver;
use crate::event::{Action, Event, RefUpdate, Rejection, Source, Target};

/// A GitHub webhook (repository, organization or GitHub App), GHCR package events included.
pub const GITHUB: Source = Source::new("github");

/// The Secret key hashed into the URL and the HMAC key (Kargo's).
const SECRET: &str = "secret";

pub static TYPE: ReceiverType = ReceiverType {
    name: "github",
    url_secret_key: SECRET,
    optional_keys: &[],
    handle,
    sources: &[GITHUB],
    settings: None,
};

const SRC: Source = GITHUB;

const SIGNATURE: [SignatureScheme; 1] = [SignatureScheme {
    header: "x-hub-signature-256",
    prefix: "sha256=",
    hash: Hash::Sha256,
}];

/// GitHub lists at most this many commits in a push; with as many, the list may be cut short.
const MAX_COMMITS: usize = 2048;

fn handle(receiver: &Receiver, req: &Request<'_>) -> Result<Event, Rejection> {
    let Some(secret) = receiver.secret(SECRET) else {
        return Err(Rejection::unauthorized(
            SRC,
            "this github receiver has no secret configured, so no request can be authenticated",
        ));
    };
    if !req.replay {
        auth::check_signature(secret, &SIGNATURE, req.headers, req.body, SRC)?;
    }

    let Some(event_type) = header_str(req.headers, "x-github-event").filter(|e| !e.is_empty())
    else {
        return Err(Rejection::bad_request(
            SRC,
            "missing X-GitHub-Event header: GitHub names the event of every delivery in it",
        ));
    };
    let provider_id = header_str(req.headers, "x-github-delivery")
        .filter(|id| !id.is_empty())
        .map(str::to_owned);
    let event = |action| {
        Ok(Event {
            source: SRC,
            event_type: event_type.to_owned(),
            provider_id: provider_id.clone(),
            action,
        })
    };
    if event_type == "ping" {
        return event(Action::Ping);
    }
    if !matches!(
        event_type,
        "push" | "package" | "registry_package" | "pull_request"
    ) {
        return event(Action::Ignore {
            reason: format!(
                "GitHub event {} is not handled: push, package, registry_package and \
                 pull_request are",
                quote(event_type)
            ),
        });
    }
    let reject = |e: PayloadError| e.reject(SRC, Some(event_type));
    if header_str(req.headers, "content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"))
    {
        return Err(payload::invalid_body(
            SRC,
            "the webhook sends application/x-www-form-urlencoded; set its Content type to \
             application/json in GitHub",
        )
        .with_event_type(event_type));
    }
    let value = payload::parse_json(req.body).map_err(reject)?;
    let body = Obj::new(&value, "", "a GitHub webhook body").map_err(reject)?;
    let action = match event_type {
        "push" => Action::Refresh(push_targets(&body).map_err(reject)?),
        "pull_request" => git_push::pull_request(&body).map_err(reject)?,
        _ => package(&body, event_type).map_err(reject)?,
    };
    event(action)
}

fn push_targets(body: &Obj<'_>) -> Result<Vec<Target>, PayloadError> {
    let reference = body.required_str("ref", "a push names the ref it moved")?;
    let after = body.str("after")?.unwrap_or("");
    let repository = body
        .obj("repository")?
        .ok_or_else(|| PayloadError::missing("repository", "a push names its repository"))?;
    let urls = git_push::repo_urls(&repository)?;
    let default_branch = repository
        .str("default_branch")?
        .filter(|b| !b.is_empty())
        .map(|b| format!("refs/heads/{b}"));
    // A deletion's `after` is forty zeros; `deleted` says so too, and wins if they disagree.
    let new_object_id = if body.flag("deleted")? {
        "0".repeat(40)
    } else {
        after.to_owned()
    };
    let commits = body.objects("commits")?;
    let changed_paths = if commits.len() >= MAX_COMMITS {
        None
    } else {
        let mut all = commits;
        all.extend(body.obj("head_commit")?);
        Some(payload::commit_paths(&all)?)
    };
    let refs = vec![RefUpdate {
        name: reference.to_owned(),
        new_object_id,
    }];
    Ok(git_push::targets(
        &urls,
        refs,
        default_branch,
        changed_paths,
    ))
}

/// `package` (a repository or organization hook) and `registry_package` (a GitHub App) carry the
/// same package object under different keys.
fn package(body: &Obj<'_>, event_type: &str) -> Result<Action, PayloadError> {
    let action = body.required_str("action", "a package event names its action")?;
    if !matches!(action, "published" | "updated") {
        return Ok(Action::Ignore {
            reason: format!(
                "package {}: only published and updated packages refresh",
                quote(action)
            ),
        });
    }
    let key = if event_type == "package" {
        "package"
    } else {
        "registry_package"
    };
    let pkg = body
        .obj(key)?
        .ok_or_else(|| PayloadError::missing(key, "a package event carries the package"))?;
    let package_type = pkg.str("package_type")?.unwrap_or("");
    if !matches!(package_type, "CONTAINER" | "docker") {
        return Ok(Action::Ignore {
            reason: format!(
                "package type {} is not a container image or OCI chart; no refresh",
                quote(package_type)
            ),
        });
    }
    let version = pkg.obj("package_version")?.ok_or_else(|| {
        PayloadError::missing(pkg.field("package_version"), "the published version")
    })?;
    let url = version.required_str(
        "package_url",
        "it names the image repository (ghcr.io/owner/name:tag)",
    )?;
    let meta = version.obj("container_metadata")?;
    let tag = match &meta {
        Some(m) => match m.obj("tag")? {
            Some(t) => t.str("name")?.unwrap_or(""),
            None => "",
        },
        None => "",
    };
    let media_type = match &meta {
        Some(m) => match m.obj("manifest")? {
            Some(manifest) => {
                let config = match manifest.obj("config")? {
                    Some(c) => c.str("media_type")?.unwrap_or(""),
                    None => "",
                };
                if config.is_empty() {
                    manifest.str("media_type")?.unwrap_or("")
                } else {
                    config
                }
            }
            None => "",
        },
        None => "",
    };
    let (image, chart) = oci_kinds(media_type);
    Ok(Action::Refresh(vec![Target::Oci {
        repo_url: repository_of(url).to_owned(),
        image,
        chart,
        // Untagged: a push by digest, which refreshes every subscriber.
        tags: if tag.is_empty() {
            Vec::new()
        } else {
            vec![tag.to_owned()]
        },
    }]))
}

/// `ghcr.io/owner/name:tag` (GitHub sometimes sends a bare trailing `:`, Kargo notes) or
/// `…@sha256:…` → `ghcr.io/owner/name`.
fn repository_of(url: &str) -> &str {
    let url = url.split_once('@').map_or(url, |(name, _)| name);
    let last_slash = url.rfind('/').unwrap_or(0);
    match url[last_slash..].find(':') {
        Some(i) => &url[..last_slash + i],
        None => url,
    }
}

/// Which subscription kinds a GHCR package may concern, by the config media type (or the
/// manifest's when GitHub leaves the config's empty, as for an image index), as Kargo's
/// `getNormalizedImageRepoURLs`: Helm's types are charts, Docker and OCI image types images,
/// anything else both.
fn oci_kinds(media_type: &str) -> (bool, bool) {
    match media_type {
        m if m.starts_with("application/vnd.cncf.helm") => (false, true),
        "application/vnd.oci.image.index.v1+json"
        | "application/vnd.docker.distribution.manifest.list.v2+json"
        | "application/vnd.docker.distribution.manifest.v2+json"
        | "application/vnd.oci.image.config.v1+json"
        | "application/vnd.docker.container.image.v1+json" => (true, false),
        _ => (true, true),
    }
}

#[cfg(test)]
mod tests;
