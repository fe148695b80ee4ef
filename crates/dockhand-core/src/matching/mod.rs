//! Would this subscription accept this tag, chart version or ref? The rules of Kargo's
//! selection strategies, applied to one qualifier from a webhook before a refresh is spent.
//! (Stub: being written.)

pub mod paths;
pub mod semver;

use crate::config::{ChartSubscription, GitSubscription, ImageSubscription};
use crate::event::RefUpdate;

/// Why a subscription turned a qualifier down, in words for the delivery record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Rejection(pub String);

/// Would `sub` consider `tag` (pushed to its repository)?
pub fn image_tag(sub: &ImageSubscription, tag: &str) -> Result<(), Rejection> {
    let _ = (sub, tag);
    Ok(())
}

/// Would `sub` consider chart `version`?
pub fn chart_version(sub: &ChartSubscription, version: &str) -> Result<(), Rejection> {
    let _ = (sub, version);
    Ok(())
}

/// Would `sub` consider this ref update? `default_branch` is the repository's default branch
/// when the payload says it (`refs/heads/main`); `changed_paths` the files the push touched when
/// the payload lists them.
pub fn git_ref(
    sub: &GitSubscription,
    update: &RefUpdate,
    default_branch: Option<&str>,
    changed_paths: Option<&[String]>,
) -> Result<(), Rejection> {
    let _ = (sub, update, default_branch, changed_paths);
    Ok(())
}
