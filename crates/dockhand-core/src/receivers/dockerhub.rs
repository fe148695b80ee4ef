//! The `dockerhub` receiver: Docker Hub repository webhooks, as Kargo's receiver of that name.
//!
//! # Authentication
//! None in the request: Docker Hub signs nothing and sends no custom header. The Secret's
//! `secret` is hashed into the URL, which is the credential (Kargo's design, same key, same URL).
//!
//! # Cases
//! Docker Hub sends one kind of webhook, a push, with no event name or delivery id.
//!
//! | body | result |
//! |---|---|
//! | `repository.repo_name` + `push_data.tag` | Refresh `Oci{docker.io/{repo_name}, tags [tag]}`; image/chart by `push_data.media_type` when present (Kargo reads it), else both |
//! | `repo_name` without a namespace (`nginx`) | the official image `docker.io/library/nginx` |
//! | `push_data.tag` empty or absent (a push by digest) | Refresh with no tags: every subscriber |
//! | `push_data.tag` a digest (`sha256:…`) | as a push by digest |
//! | empty body, not JSON, `repository.repo_name` missing, wrong field types | 400 `invalid request body: …` naming the field |
//!
//! `event_type` is `push`. `provider_id` is `{repo_name}:{tag}:{pushed_at}` when `pushed_at` is
//! there: Docker Hub retries a failed delivery with the same body, and two pushes of one tag in
//! the same second are one for discovery anyway.

use super::media_type::oci_kinds;
use super::payload::{self, malformed_body, Obj, PayloadError};
use super::{ReceiverType, Request};
use crate::config::Receiver;
use crate::event::{Action, Event, Rejection, Source, Target};

/// Docker Hub repository webhook.
pub const DOCKERHUB: Source = Source::new("dockerhub");

/// The Secret key hashed into the URL (Kargo's).
const SECRET: &str = "secret";

pub static TYPE: ReceiverType = ReceiverType {
    name: "dockerhub",
    url_secret_key: SECRET,
    optional_keys: &[],
    handle,
    sources: &[DOCKERHUB],
    settings: None,
};

const SRC: Source = DOCKERHUB;
const EVENT_TYPE: &str = "push";

fn handle(_receiver: &Receiver, req: &Request<'_>) -> Result<Event, Rejection> {
    let reject = |e: PayloadError| malformed_body(e, SRC, Some(EVENT_TYPE));
    let value = payload::parse_json(req.body).map_err(reject)?;
    let body = Obj::new(&value, "", "a Docker Hub webhook body").map_err(reject)?;
    push(&body).map_err(reject)
}

fn push(body: &Obj<'_>) -> Result<Event, PayloadError> {
    let repository = body.obj("repository")?.ok_or_else(|| {
        PayloadError::missing(
            "repository",
            "a Docker Hub push names its repository in repository.repo_name",
        )
    })?;
    let repo_name = repository.required_str(
        "repo_name",
        "a Docker Hub push names its repository (namespace/name)",
    )?;
    let push_data = body.obj("push_data")?;
    let (tag, media_type, pushed_at) = match &push_data {
        Some(p) => (p.str("tag")?, p.str("media_type")?, p.id("pushed_at")?),
        None => (None, None, None),
    };
    let tag = tag.filter(|t| !t.is_empty() && !t.contains(':'));
    let repo_url = if repo_name.contains('/') {
        format!("docker.io/{repo_name}")
    } else {
        // Official images are `library/<name>` on Docker Hub.
        format!("docker.io/library/{repo_name}")
    };
    let (image, chart) = oci_kinds(media_type);
    let provider_id = pushed_at.map(|at| format!("{repo_name}:{}:{at}", tag.unwrap_or_default()));
    Ok(Event {
        source: SRC,
        event_type: EVENT_TYPE.to_owned(),
        provider_id,
        action: Action::Refresh(vec![Target::Oci {
            repo_url,
            image,
            chart,
            tags: tag.map(str::to_owned).into_iter().collect(),
        }]),
    })
}

#[cfg(test)]
mod tests;
