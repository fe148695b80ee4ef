//! The `bitbucket` receiver: Bitbucket Cloud and Bitbucket Server / Data Center repository
//! webhooks — pushes and pull requests — on one URL.
//!
//! # Which Bitbucket sent it
//! By `X-Event-Key`: `repo:push` and `pullrequest:*` are Cloud's names, `repo:refs_changed`,
//! `pr:*` and `diagnostics:ping` Server's. For any other key, Cloud's own headers
//! (`X-Hook-UUID`, `X-Request-UUID`) say Cloud; otherwise Server.
//!
//! # Authentication first
//! The Secret's `secret` (Kargo's key, also hashed into the URL) is the webhook's "Secret" in
//! Bitbucket. Every request must carry `X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, raw
//! body)>` (or `sha1=`, which Bitbucket Server offers), checked in constant time before the body
//! is read: no header → 401 `missing signature`, anything else wrong → 401 `unauthorized`
//! (Kargo's words; Kargo checks the event key first).
//!
//! # Cases
//! | `X-Event-Key` | payload | result |
//! |---|---|---|
//! | `repo:push` (Cloud) | `push.changes[].new` | Refresh `Git{repository.links.html.href, refs}`: `new.type` `tag` → `refs/tags/{name}`, else `refs/heads/{name}` (akuity/kargo#6109), `new.target.hash` |
//! | `repo:push` (Cloud) | a change with `new: null` (deleted) | that ref (from `old`) as deleted: nothing matches, each candidate says why |
//! | `repo:refs_changed` (Server) | `changes[].ref.id` | Refresh `Git{the http clone link (else the first), refs}`; a ref without `refs/` is qualified by `ref.type` (`BRANCH`/`TAG`); `toHash`; `type: DELETE` → deleted |
//! | `repo:refs_changed` (Server) | no `repository.links.clone` (the docs' example) | 400: the repository cannot be named |
//! | `pullrequest:fulfilled` / `pullrequest:rejected` (Cloud) | | RefreshPromotions `pullrequest.links.html.href` (Kargo mode; ignored in files mode) |
//! | `pr:merged` / `pr:declined` (Server) | | RefreshPromotions `pullRequest.links.self[0].href` |
//! | `diagnostics:ping` (Server's "Test connection") | any body | Ping (Kargo: 400) |
//! | any other key (`repo:fork`, `pr:opened`, `issue:created`, …) | | Ignore, 200 (Kargo: 400) |
//! | no `X-Event-Key` | | 400 |
//! | any | not JSON, wrong field types, missing repository URL or ref | 400 `invalid request body: <field>` |
//!
//! The diagnostics ping must be signed like any other request: it is what tells a user that the
//! secret is right. (No published sample of it was found; its body is treated as opaque.)
//!
//! Bitbucket lists no changed files, so path filters are not applied (as Kargo).
//!
//! `provider_id`: `X-Request-UUID` (Cloud) or `X-Request-Id` (Server).

use http::HeaderMap;

use super::auth::{self, Hash, SignatureScheme};
use super::git_push;
use super::payload::{self, quote, Obj, PayloadError};
use super::{header_str, ReceiverType, Request};
use crate::config::Receiver;
use crate::event::{Action, Event, RefUpdate, Rejection, Source, Target};

/// Bitbucket Cloud (bitbucket.org) webhook.
pub const BITBUCKET_CLOUD: Source = Source::new("bitbucket-cloud");
/// Bitbucket Server / Data Center webhook.
pub const BITBUCKET_SERVER: Source = Source::new("bitbucket-server");

/// The Secret key hashed into the URL and the HMAC key (Kargo's).
const SECRET: &str = "secret";

pub static TYPE: ReceiverType = ReceiverType {
    name: "bitbucket",
    url_secret_key: SECRET,
    optional_keys: &[],
    handle,
    sources: &[BITBUCKET_CLOUD, BITBUCKET_SERVER],
    settings: None,
};

const SIGNATURE: [SignatureScheme; 2] = [
    SignatureScheme {
        header: "x-hub-signature",
        prefix: "sha256=",
        hash: Hash::Sha256,
    },
    SignatureScheme {
        header: "x-hub-signature",
        prefix: "sha1=",
        hash: Hash::Sha1,
    },
];

fn source_of(event_key: Option<&str>, headers: &HeaderMap) -> Source {
    match event_key {
        Some("repo:push") => BITBUCKET_CLOUD,
        Some(k) if k.starts_with("pullrequest:") => BITBUCKET_CLOUD,
        Some("repo:refs_changed" | "diagnostics:ping") => BITBUCKET_SERVER,
        Some(k) if k.starts_with("pr:") => BITBUCKET_SERVER,
        _ if headers.contains_key("x-hook-uuid") || headers.contains_key("x-request-uuid") => {
            BITBUCKET_CLOUD
        }
        _ => BITBUCKET_SERVER,
    }
}

fn handle(receiver: &Receiver, req: &Request<'_>) -> Result<Event, Rejection> {
    let event_key = header_str(req.headers, "x-event-key").filter(|e| !e.is_empty());
    let src = source_of(event_key, req.headers);
    let Some(secret) = receiver.secret(SECRET) else {
        return Err(Rejection::unauthorized(
            src,
            "this bitbucket receiver has no secret configured, so no request can be \
             authenticated",
        ));
    };
    if !req.replay {
        check_signature(secret, req, src)?;
    }
    let Some(event_key) = event_key else {
        return Err(Rejection::bad_request(
            src,
            "missing X-Event-Key header: Bitbucket names the event of every delivery in it",
        ));
    };
    let provider_id = ["x-request-uuid", "x-request-id"]
        .into_iter()
        .find_map(|h| header_str(req.headers, h).filter(|v| !v.is_empty()))
        .map(str::to_owned);
    let reject = |e: PayloadError| e.reject(src, Some(event_key));
    let body = || payload::parse_json(req.body).map_err(reject);
    let action = match event_key {
        "diagnostics:ping" => Action::Ping,
        "repo:push" => {
            let v = body()?;
            let o = Obj::new(&v, "", "a Bitbucket Cloud webhook body").map_err(reject)?;
            Action::Refresh(vec![cloud_push(&o).map_err(reject)?])
        }
        "repo:refs_changed" => {
            let v = body()?;
            let o = Obj::new(&v, "", "a Bitbucket Server webhook body").map_err(reject)?;
            Action::Refresh(server_refs_changed(&o).map_err(reject)?)
        }
        "pullrequest:fulfilled" | "pullrequest:rejected" => {
            let v = body()?;
            let o = Obj::new(&v, "", "a Bitbucket Cloud webhook body").map_err(reject)?;
            cloud_pull_request(&o).map_err(reject)?
        }
        "pr:merged" | "pr:declined" => {
            let v = body()?;
            let o = Obj::new(&v, "", "a Bitbucket Server webhook body").map_err(reject)?;
            server_pull_request(&o).map_err(reject)?
        }
        other => Action::Ignore {
            reason: format!(
                "Bitbucket event {} is not handled: repo:push, repo:refs_changed, \
                 pullrequest:fulfilled/rejected, pr:merged/declined and diagnostics:ping are",
                quote(other)
            ),
        },
    };
    Ok(Event {
        source: src,
        event_type: event_key.to_owned(),
        provider_id,
        action,
    })
}

/// `sha256=` or `sha1=` in the one `X-Hub-Signature` header, by its prefix.
fn check_signature(
    secret: &crate::secret::Secret,
    req: &Request<'_>,
    src: Source,
) -> Result<(), Rejection> {
    let sha1 = header_str(req.headers, "x-hub-signature").is_some_and(|v| v.starts_with("sha1="));
    let scheme = if sha1 {
        &SIGNATURE[1..]
    } else {
        &SIGNATURE[..1]
    };
    auth::check_signature(secret, scheme, req.headers, req.body, src)
}

fn cloud_push(body: &Obj<'_>) -> Result<Target, PayloadError> {
    let repository = body
        .obj("repository")?
        .ok_or_else(|| PayloadError::missing("repository", "a push names its repository"))?;
    let html = repository
        .obj("links")?
        .map(|l| l.obj("html"))
        .transpose()?
        .flatten();
    let repo_url = match html {
        Some(h) => h.required_str("href", "it names the repository")?,
        None => {
            return Err(PayloadError::missing(
                repository.field("links.html.href"),
                "it names the repository",
            ))
        }
    };
    let push = body
        .obj("push")?
        .ok_or_else(|| PayloadError::missing("push", "a push lists its changes in push"))?;
    let mut refs = Vec::new();
    for change in push.objects("changes")? {
        let (side, deleted) = match change.obj("new")? {
            Some(new) => (new, false),
            None => match change.obj("old")? {
                Some(old) => (old, true),
                None => continue,
            },
        };
        let name = side.required_str("name", "a change names the branch or tag")?;
        let full = if side.str("type")? == Some("tag") {
            format!("refs/tags/{name}")
        } else {
            format!("refs/heads/{name}")
        };
        let hash = match side.obj("target")? {
            Some(t) if !deleted => t.str("hash")?.unwrap_or("").to_owned(),
            _ => String::new(),
        };
        refs.push(RefUpdate {
            name: full,
            new_object_id: if deleted { "0".repeat(40) } else { hash },
        });
    }
    let default_branch = match repository.obj("mainbranch")? {
        Some(m) => m.str("name")?.map(|b| format!("refs/heads/{b}")),
        None => None,
    };
    Ok(Target::Git {
        repo_url: repo_url.to_owned(),
        refs,
        default_branch,
        changed_paths: None,
    })
}

/// The clone links of a Bitbucket Server repository, the HTTP one first.
fn server_clone_urls<'a>(repository: &Obj<'a>) -> Result<Vec<&'a str>, PayloadError> {
    let Some(links) = repository.obj("links")? else {
        return Ok(Vec::new());
    };
    let mut urls = Vec::new();
    for link in links.objects("clone")? {
        let Some(href) = link.str("href")?.filter(|h| !h.is_empty()) else {
            continue;
        };
        if link.str("name")? == Some("http") {
            urls.insert(0, href);
        } else {
            urls.push(href);
        }
    }
    Ok(urls)
}

fn server_refs_changed(body: &Obj<'_>) -> Result<Vec<Target>, PayloadError> {
    let repository = body
        .obj("repository")?
        .ok_or_else(|| PayloadError::missing("repository", "refs_changed names its repository"))?;
    // Every clone link: its SSH service (port 7999) and its HTTP one (`/scm/`) are different
    // repository keys, and a Warehouse may subscribe by either.
    let urls = server_clone_urls(&repository)?;
    if urls.is_empty() {
        return Err(PayloadError::missing(
            repository.field("links.clone"),
            "the clone links name the repository (this server sends none, so it cannot be matched)",
        ));
    }
    let mut refs = Vec::new();
    for change in body.objects("changes")? {
        let r = change.obj("ref")?;
        let id = match &r {
            Some(r) => r.str("id")?,
            None => None,
        }
        .or(change.str("refId")?)
        .filter(|i| !i.is_empty())
        .ok_or_else(|| PayloadError::missing(change.field("ref.id"), "a change names its ref"))?;
        let name = if id.starts_with("refs/") {
            id.to_owned()
        } else {
            // A bare name (akuity/kargo#6109): qualify it by the ref's type.
            let tag = match &r {
                Some(r) => r.str("type")? == Some("TAG"),
                None => false,
            };
            format!("refs/{}/{id}", if tag { "tags" } else { "heads" })
        };
        let deleted = change.str("type")? == Some("DELETE");
        let to_hash = change.str("toHash")?.unwrap_or("");
        refs.push(RefUpdate {
            name,
            new_object_id: if deleted {
                "0".repeat(40)
            } else {
                to_hash.to_owned()
            },
        });
    }
    Ok(git_push::targets(&urls, refs, None, None))
}

fn cloud_pull_request(body: &Obj<'_>) -> Result<Action, PayloadError> {
    let pr = body.obj("pullrequest")?.ok_or_else(|| {
        PayloadError::missing(
            "pullrequest",
            "a pull request event carries the pull request",
        )
    })?;
    let html = pr
        .obj("links")?
        .map(|l| l.obj("html"))
        .transpose()?
        .flatten();
    let pr_url = match html {
        Some(h) => h.required_str("href", "Kargo knows a pull request by its web URL")?,
        None => {
            return Err(PayloadError::missing(
                pr.field("links.html.href"),
                "Kargo knows a pull request by its web URL",
            ))
        }
    };
    Ok(Action::RefreshPromotions {
        pr_url: pr_url.to_owned(),
    })
}

fn server_pull_request(body: &Obj<'_>) -> Result<Action, PayloadError> {
    let pr = body.obj("pullRequest")?.ok_or_else(|| {
        PayloadError::missing(
            "pullRequest",
            "a pull request event carries the pull request",
        )
    })?;
    let why = "Kargo knows a pull request by its web URL (links.self[0].href)";
    let links = pr
        .obj("links")?
        .ok_or_else(|| PayloadError::missing(pr.field("links.self"), why))?;
    let pr_url = links
        .objects("self")?
        .into_iter()
        .next()
        .ok_or_else(|| PayloadError::missing(links.field("self"), why))?
        .required_str("href", why)?;
    Ok(Action::RefreshPromotions {
        pr_url: pr_url.to_owned(),
    })
}

#[cfg(test)]
mod tests;
