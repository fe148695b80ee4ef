//! The `gitea` receiver: Gitea (and Forgejo) repository webhooks of type "Gitea" — pushes and
//! pull requests.
//!
//! # Authentication first
//! The Secret's `secret` (Kargo's key, also hashed into the URL) is the webhook's "Secret" in
//! Gitea. Every request must be signed with it, checked in constant time over the raw body
//! before anything else: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256>` (what Kargo reads), or,
//! when that header is absent, `X-Gitea-Signature: <the same hex>` (what older Gitea sends
//! alone). No signature → 401 `missing signature`, anything else wrong → 401 `unauthorized`
//! (Kargo's words; Kargo checks the event type first).
//!
//! # Cases
//! | `X-Gitea-Event` | payload | result |
//! |---|---|---|
//! | `push` | a branch or tag moved or was created | Refresh `Git{repository.clone_url, [ref@after], default branch, changed paths}` |
//! | `push` | `after` is forty zeros (deleted) | Refresh with the deleted ref: nothing matches, each candidate says why |
//! | `pull_request` | `action: closed` (merged or not) | RefreshPromotions `pull_request.html_url` (Kargo mode; ignored in files mode) |
//! | `pull_request` | any other action | Ignore |
//! | any other event (`create`, `delete`, `issues`, `release`, …) | | Ignore, 200 (Kargo: 501) |
//! | no `X-Gitea-Event` | | 400 |
//! | any | not JSON (a hook set to form-encoded), wrong field types, a push without `ref` or a repository URL | 400 `invalid request body: <field>` |
//!
//! Changed paths: `added`/`modified`/`removed` of every commit, unknown (no path filtering) when
//! `total_commits` says Gitea left commits out.
//!
//! `provider_id`: `X-Gitea-Delivery`.

use super::auth::{self, Hash, SignatureScheme};
use super::git_push;
use super::payload::{self, quote, Obj, PayloadError};
use super::{header_str, ReceiverType, Request};
use crate::config::Receiver;
use crate::event::{Action, Event, RefUpdate, Rejection, Source, Target};

/// A Gitea (or Forgejo) webhook.
pub const GITEA: Source = Source::new("gitea");

/// The Secret key hashed into the URL and the HMAC key (Kargo's).
const SECRET: &str = "secret";

pub static TYPE: ReceiverType = ReceiverType {
    name: "gitea",
    url_secret_key: SECRET,
    optional_keys: &[],
    handle,
    sources: &[GITEA],
    settings: None,
};

const SRC: Source = GITEA;

const SIGNATURE: [SignatureScheme; 2] = [
    SignatureScheme {
        header: "x-hub-signature-256",
        prefix: "sha256=",
        hash: Hash::Sha256,
    },
    SignatureScheme {
        header: "x-gitea-signature",
        prefix: "",
        hash: Hash::Sha256,
    },
];

fn handle(receiver: &Receiver, req: &Request<'_>) -> Result<Event, Rejection> {
    let Some(secret) = receiver.secret(SECRET) else {
        return Err(Rejection::unauthorized(
            SRC,
            "this gitea receiver has no secret configured, so no request can be authenticated",
        ));
    };
    if !req.replay {
        auth::check_signature(secret, &SIGNATURE, req.headers, req.body, SRC)?;
    }

    let Some(event_type) = header_str(req.headers, "x-gitea-event").filter(|e| !e.is_empty())
    else {
        return Err(Rejection::bad_request(
            SRC,
            "missing X-Gitea-Event header: Gitea names the event of every delivery in it",
        ));
    };
    let provider_id = header_str(req.headers, "x-gitea-delivery")
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    let action = match event_type {
        "push" | "pull_request" => {
            let reject = |e: PayloadError| e.reject(SRC, Some(event_type));
            let value = payload::parse_json(req.body).map_err(reject)?;
            let body = Obj::new(&value, "", "a Gitea webhook body").map_err(reject)?;
            if event_type == "push" {
                Action::Refresh(push_targets(&body).map_err(reject)?)
            } else {
                git_push::pull_request(&body).map_err(reject)?
            }
        }
        other => Action::Ignore {
            reason: format!(
                "Gitea event {} is not handled: push and pull_request are",
                quote(other)
            ),
        },
    };
    Ok(Event {
        source: SRC,
        event_type: event_type.to_owned(),
        provider_id,
        action,
    })
}

fn push_targets(body: &Obj<'_>) -> Result<Vec<Target>, PayloadError> {
    let reference = body.required_str("ref", "a push names the ref it moved")?;
    let after = body.str("after")?.unwrap_or("");
    let repository = body
        .obj("repository")?
        .ok_or_else(|| PayloadError::missing("repository", "a push names its repository"))?;
    let default_branch = repository
        .str("default_branch")?
        .filter(|b| !b.is_empty())
        .map(|b| format!("refs/heads/{b}"));
    let commits = body.objects("commits")?;
    let total = body
        .get("total_commits")
        .and_then(serde_json::Value::as_u64);
    let changed_paths = if total.is_some_and(|t| t > commits.len() as u64) {
        None
    } else {
        Some(payload::commit_paths(&commits)?)
    };
    let refs = vec![RefUpdate {
        name: reference.to_owned(),
        new_object_id: after.to_owned(),
    }];
    Ok(git_push::targets(
        &git_push::repo_urls(&repository)?,
        refs,
        default_branch,
        changed_paths,
    ))
}

#[cfg(test)]
mod tests;
