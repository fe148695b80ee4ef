//! What the git-host receivers (`github`, `gitlab`, `bitbucket`, `gitea`) share: the targets of
//! one push.
//!
//! A payload names its repository several ways (GitHub: `clone_url` and `ssh_url`; Bitbucket
//! Server: one clone link per protocol). dockhand keys a repository the same whatever the
//! scheme or SSH user, so most of those are one key and one target is enough. They are not when
//! the SSH and HTTP services differ in port or path (Bitbucket Server's `:7999` and `/scm/`, a
//! self-hosted GitLab or Gitea with SSH on its own port): then each distinct repository key gets
//! its own target, so a Warehouse subscribed by either URL is refreshed, as Kargo does by
//! sending every URL.

use super::payload::{quote, Obj, PayloadError};
use crate::event::{Action, RefUpdate, Target};
use crate::repo_url::git_key;

/// One `Target::Git` per distinct repository key among `urls` (empty ones skipped), first
/// spelling kept, each with the same refs, default branch and changed paths. A URL that does not
/// normalize is kept as written, so the delivery says why it matched nothing.
pub(super) fn targets(
    urls: &[&str],
    refs: Vec<RefUpdate>,
    default_branch: Option<String>,
    changed_paths: Option<Vec<String>>,
) -> Vec<Target> {
    let mut keys: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for url in urls.iter().filter(|u| !u.is_empty()) {
        let key = git_key(url).unwrap_or_else(|_| (*url).to_owned());
        if keys.contains(&key) {
            continue;
        }
        keys.push(key);
        out.push(Target::Git {
            repo_url: (*url).to_owned(),
            refs: refs.clone(),
            default_branch: default_branch.clone(),
            changed_paths: changed_paths.clone(),
        });
    }
    out
}

/// A GitHub-shaped `repository` object's clone and SSH URLs (its web URL when both are
/// missing), as GitHub and Gitea send them: one target each when they are different repository
/// keys (SSH on its own port: GitHub Enterprise, Gitea's default 2222).
pub(super) fn repo_urls<'a>(repository: &Obj<'a>) -> Result<Vec<&'a str>, PayloadError> {
    let mut urls = Vec::new();
    for key in ["clone_url", "ssh_url"] {
        urls.extend(repository.str(key)?.filter(|u| !u.is_empty()));
    }
    if urls.is_empty() {
        urls.extend(repository.str("html_url")?.filter(|u| !u.is_empty()));
    }
    if urls.is_empty() {
        return Err(PayloadError::missing(
            repository.field("clone_url"),
            "a push names its repository's URL",
        ));
    }
    Ok(urls)
}

/// A GitHub-shaped `pull_request` event (GitHub's and Gitea's): a closed pull request refreshes
/// the Promotions waiting on it, known by its web URL; any other action is ignored.
pub(super) fn pull_request(body: &Obj<'_>) -> Result<Action, PayloadError> {
    let action = body.required_str("action", "a pull_request event names its action")?;
    if action != "closed" {
        return Ok(Action::Ignore {
            reason: format!(
                "pull request {}: only a closed pull request concerns Kargo",
                quote(action)
            ),
        });
    }
    let pr = body.obj("pull_request")?.ok_or_else(|| {
        PayloadError::missing(
            "pull_request",
            "a pull_request event carries the pull request",
        )
    })?;
    let pr_url = pr.required_str("html_url", "Kargo knows a pull request by its web URL")?;
    Ok(Action::RefreshPromotions {
        pr_url: pr_url.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(targets: &[Target]) -> Vec<&str> {
        targets.iter().map(Target::repo_url).collect()
    }

    #[test]
    fn one_target_per_repository_key() {
        let t = targets(
            &[
                "https://github.com/o/r.git",
                "git@github.com:o/r.git",
                "",
                "ssh://git@github.com/O/R",
            ],
            vec![],
            None,
            None,
        );
        assert_eq!(urls(&t), ["https://github.com/o/r.git"]);
        let t = targets(
            &[
                "https://bb.corp/scm/p/r.git",
                "ssh://git@bb.corp:7999/p/r.git",
                "not a url",
            ],
            vec![],
            None,
            None,
        );
        assert_eq!(
            urls(&t),
            [
                "https://bb.corp/scm/p/r.git",
                "ssh://git@bb.corp:7999/p/r.git",
                "not a url"
            ]
        );
    }
}
