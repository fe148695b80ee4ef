//! The `gitlab` receiver: GitLab project and group webhooks — pushes, tag pushes and merge
//! requests.
//!
//! # Authentication first
//! The Secret's `secret-token` (Kargo's key, also hashed into the URL) is the webhook's "Secret
//! token" in GitLab, which GitLab sends verbatim in `X-Gitlab-Token`. It is compared in constant
//! time (Kargo compares with `!=`) before anything else: absent → 401 `missing token`, different
//! → 401 `unauthorized` (Kargo answers both 401 with an empty body).
//!
//! # Cases
//! | `X-Gitlab-Event` | payload | result |
//! |---|---|---|
//! | `Push Hook` | a branch moved or was created | Refresh `Git{project.git_http_url, [ref@after], default branch, changed paths}` |
//! | `Push Hook`, `Tag Push Hook` | `after` is forty zeros (deleted) | Refresh with the deleted ref: nothing matches, each candidate says "ref … was deleted" |
//! | `Tag Push Hook` | a tag was pushed | Refresh `Git{…, [refs/tags/…@after]}`, no path filtering (as Kargo) |
//! | `Merge Request Hook` | `object_attributes.action` `merge` or `close` | RefreshPromotions `object_attributes.url` (Kargo mode; ignored in files mode) |
//! | `Merge Request Hook` | any other action (open, update, approved, …) | Ignore |
//! | any other event (`Note Hook`, `Pipeline Hook`, `System Hook`, …) | | Ignore, 200 (Kargo: 400) |
//! | no `X-Gitlab-Event` | | 400 |
//! | any | not JSON, wrong field types, a push without `ref` or repository URL | 400 `invalid request body: <field>` |
//!
//! GitLab's "Test" button sends a sample event of the chosen kind built from the project's
//! latest commit: a push test refreshes like a push.
//!
//! Changed paths: `added`/`modified`/`removed` of every commit, unknown (no path filtering) when
//! `total_commits_count` says GitLab left commits out (it lists at most 20).
//!
//! `provider_id`: `Idempotency-Key` (the same across GitLab's retries of one event), else
//! `X-Gitlab-Event-UUID`.

use super::auth;
use super::git_push;
use super::payload::{self, quote, Obj, PayloadError};
use super::{header_str, ReceiverType, Request};
use crate::config::Receiver;
use crate::event::{Action, Event, RefUpdate, Rejection, Source, Target};

/// A GitLab project or group webhook.
pub const GITLAB: Source = Source::new("gitlab");

/// The Secret key hashed into the URL and sent back verbatim in `X-Gitlab-Token` (Kargo's).
const SECRET_TOKEN: &str = "secret-token";

pub static TYPE: ReceiverType = ReceiverType {
    name: "gitlab",
    url_secret_key: SECRET_TOKEN,
    optional_keys: &[],
    handle,
    sources: &[GITLAB],
    settings: None,
};

const SRC: Source = GITLAB;

fn handle(receiver: &Receiver, req: &Request<'_>) -> Result<Event, Rejection> {
    let Some(token) = receiver.secret(SECRET_TOKEN) else {
        return Err(Rejection::unauthorized(
            SRC,
            "this gitlab receiver has no secret-token configured, so no request can be \
             authenticated",
        ));
    };
    if !req.replay {
        auth::check_token(token, "x-gitlab-token", req.headers, SRC)?;
    }

    let Some(event_type) = header_str(req.headers, "x-gitlab-event").filter(|e| !e.is_empty())
    else {
        return Err(Rejection::bad_request(
            SRC,
            "missing X-Gitlab-Event header: GitLab names the event of every delivery in it",
        ));
    };
    let provider_id = ["idempotency-key", "x-gitlab-event-uuid"]
        .into_iter()
        .find_map(|h| header_str(req.headers, h).filter(|v| !v.is_empty()))
        .map(str::to_owned);
    let action = match event_type {
        "Push Hook" | "Tag Push Hook" | "Merge Request Hook" => {
            let reject = |e: PayloadError| e.reject(SRC, Some(event_type));
            let value = payload::parse_json(req.body).map_err(reject)?;
            let body = Obj::new(&value, "", "a GitLab webhook body").map_err(reject)?;
            if event_type == "Merge Request Hook" {
                merge_request(&body).map_err(reject)?
            } else {
                let tag = event_type == "Tag Push Hook";
                Action::Refresh(push_targets(&body, tag).map_err(reject)?)
            }
        }
        other => Action::Ignore {
            reason: format!(
                "GitLab event {} is not handled: Push Hook, Tag Push Hook and Merge Request \
                 Hook are",
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

fn push_targets(body: &Obj<'_>, tag: bool) -> Result<Vec<Target>, PayloadError> {
    let reference = body.required_str("ref", "a push names the ref it moved")?;
    let after = body.str("after")?.unwrap_or("");
    // `project` is the current shape; `repository` is deprecated but still sent.
    let project = body.obj("project")?;
    let repository = body.obj("repository")?;
    // The HTTP and SSH URLs: one target each when they are different repository keys (a
    // self-hosted GitLab with SSH on its own port).
    let mut urls = Vec::new();
    for key in ["git_http_url", "git_ssh_url"] {
        let from_project = match &project {
            Some(p) => p.str(key)?.filter(|u| !u.is_empty()),
            None => None,
        };
        let url = match (from_project, &repository) {
            (Some(u), _) => Some(u),
            (None, Some(r)) => r.str(key)?.filter(|u| !u.is_empty()),
            (None, None) => None,
        };
        urls.extend(url);
    }
    if urls.is_empty() {
        return Err(PayloadError::missing(
            "project.git_http_url",
            "a push names its repository's URL",
        ));
    }
    let default_branch = match &project {
        Some(p) => p
            .str("default_branch")?
            .filter(|b| !b.is_empty())
            .map(|b| format!("refs/heads/{b}")),
        None => None,
    };
    let commits = body.objects("commits")?;
    let total = body
        .get("total_commits_count")
        .and_then(serde_json::Value::as_u64);
    let changed_paths = if tag || total.is_some_and(|t| t > commits.len() as u64) {
        None
    } else {
        Some(payload::commit_paths(&commits)?)
    };
    let refs = vec![RefUpdate {
        name: reference.to_owned(),
        new_object_id: after.to_owned(),
    }];
    Ok(git_push::targets(
        &urls,
        refs,
        default_branch,
        changed_paths,
    ))
}

fn merge_request(body: &Obj<'_>) -> Result<Action, PayloadError> {
    let attrs = body.obj("object_attributes")?.ok_or_else(|| {
        PayloadError::missing(
            "object_attributes",
            "a merge request event carries the merge request",
        )
    })?;
    let action = attrs.str("action")?.unwrap_or("");
    if !matches!(action, "merge" | "close") {
        return Ok(Action::Ignore {
            reason: format!(
                "merge request {}: only a merged or closed merge request concerns Kargo",
                quote(action)
            ),
        });
    }
    let pr_url = attrs.required_str("url", "Kargo knows a merge request by its web URL")?;
    Ok(Action::RefreshPromotions {
        pr_url: pr_url.to_owned(),
    })
}

#[cfg(test)]
mod tests;
