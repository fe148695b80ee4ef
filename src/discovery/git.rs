//! Git subscriptions, through the `git` command: `git ls-remote --symref` learns every branch
//! head and tag without cloning. NewestTag (tag dates) and includePaths/excludePaths (which files
//! a commit changed) need objects: those fetch with `--filter=blob:none` (commits and trees, no
//! file contents) into a cache repository under the data directory.
//!
//! Credentials reach git through `GIT_ASKPASS` (a small script that prints two environment
//! variables of the child), never through the command line or the URL, so they appear in no
//! process listing and no message.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use dockhand_core::config::{CommitSelectionStrategy, Credential, GitSubscription};
use dockhand_core::event::RefUpdate;
use dockhand_core::matching::{self, paths::paths_selected, semver::parse_version};
use dockhand_core::repo_url;
use tokio::io::AsyncReadExt;

use super::error::DiscoveryError;
use super::freight::Commit;
use super::Discovery;

/// Commits of a branch examined for includePaths/excludePaths.
const PATH_HISTORY: usize = 200;
/// Largest output of one git command read (a `ls-remote` of 100,000 refs is ~7 MB).
const MAX_STDERR: usize = 64 * 1024;

/// The askpass script; written once into the data directory.
pub const ASKPASS: &str = "#!/bin/sh\n\
case \"$1\" in\n\
  Username*|username*) printf '%s\\n' \"$DOCKHAND_GIT_USERNAME\" ;;\n\
  *) printf '%s\\n' \"$DOCKHAND_GIT_PASSWORD\" ;;\n\
esac\n";

/// The refs of a remote.
#[derive(Debug, Default)]
pub struct Remote {
    /// The branch HEAD points to (`main`), when the server says.
    pub head: Option<String>,
    /// (ref name, object id); for annotated tags, `refs/tags/x^{}` carries the commit.
    pub refs: Vec<(String, String)>,
}

/// Parses `git ls-remote --symref` output.
pub fn parse_ls_remote(text: &str) -> Remote {
    let mut remote = Remote::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("ref: ") {
            if let Some((target, "HEAD")) = rest.split_once('\t') {
                remote.head = target.strip_prefix("refs/heads/").map(str::to_string);
            }
            continue;
        }
        if let Some((oid, name)) = line.split_once('\t') {
            remote.refs.push((name.to_string(), oid.to_string()));
        }
    }
    remote
}

/// Tags with the commit each points to (peeled for annotated tags), filtered by the
/// subscription's tag rules. Order: the remote's.
pub fn tags<'r>(sub: &GitSubscription, remote: &'r Remote) -> Vec<(&'r str, &'r str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for (name, oid) in &remote.refs {
        let Some(tag) = name.strip_prefix("refs/tags/") else {
            continue;
        };
        if let Some(peeled) = tag.strip_suffix("^{}") {
            if let Some(entry) = out.iter_mut().find(|(t, _)| *t == peeled) {
                entry.1 = oid;
            }
            continue;
        }
        let update = RefUpdate {
            name: name.clone(),
            new_object_id: oid.clone(),
        };
        if matching::git_ref(sub, &update, None, None).is_ok() {
            out.push((tag, oid));
        }
    }
    out
}

pub async fn discover(
    d: &Discovery,
    sub: &GitSubscription,
    cred: Option<&Credential>,
) -> Result<Vec<Commit>, DiscoveryError> {
    let git = Git { d, sub, cred };
    let remote = parse_ls_remote(
        &git.run(None, &["ls-remote", "--symref", &sub.repo_url], 1)
            .await?,
    );
    let limit = sub.discovery_limit as usize;
    let commit = |id: &str, branch: Option<&str>, tag: Option<&str>| Commit {
        repo_url: sub.repo_url.clone(),
        id: id.to_string(),
        branch: branch.map(str::to_string),
        tag: tag.map(str::to_string),
    };
    match sub.strategy {
        CommitSelectionStrategy::NewestFromBranch => {
            let Some(branch) = sub.branch.clone().or(remote.head.clone()) else {
                return Err(DiscoveryError::Git(format!(
                    "{}: the remote names no default branch; set branch",
                    repo_url::redacted(&sub.repo_url)
                )));
            };
            let full = format!("refs/heads/{branch}");
            let Some((_, head)) = remote.refs.iter().find(|(n, _)| *n == full) else {
                return Err(DiscoveryError::Git(format!(
                    "{}: no branch {branch:?}",
                    repo_url::redacted(&sub.repo_url)
                )));
            };
            if sub.paths.is_empty() {
                return Ok(vec![commit(head, Some(&branch), None)]);
            }
            let ids = git.commits_touching(&branch).await?;
            Ok(ids
                .into_iter()
                .take(limit)
                .map(|id| commit(&id, Some(&branch), None))
                .collect())
        }
        CommitSelectionStrategy::SemVer => {
            let mut list: Vec<_> = tags(sub, &remote)
                .into_iter()
                .filter_map(|(t, oid)| parse_version(t, sub.strict_semvers).map(|v| (v, t, oid)))
                .collect();
            list.sort_by(|(a, ta, _), (b, tb, _)| b.cmp_precedence(a).then(tb.cmp(ta)));
            Ok(list
                .into_iter()
                .take(limit)
                .map(|(_, t, oid)| commit(oid, None, Some(t)))
                .collect())
        }
        CommitSelectionStrategy::Lexical => {
            let mut list = tags(sub, &remote);
            list.sort_by(|a, b| b.0.cmp(a.0));
            Ok(list
                .into_iter()
                .take(limit)
                .map(|(t, oid)| commit(oid, None, Some(t)))
                .collect())
        }
        CommitSelectionStrategy::NewestTag => {
            let allowed = tags(sub, &remote);
            if allowed.is_empty() {
                return Ok(Vec::new());
            }
            let order = git.tags_newest_first().await?;
            let mut out = Vec::new();
            for t in order {
                if let Some((tag, oid)) = allowed.iter().find(|(a, _)| *a == t) {
                    out.push(commit(oid, None, Some(tag)));
                    if out.len() == limit {
                        break;
                    }
                }
            }
            Ok(out)
        }
    }
}

struct Git<'a> {
    d: &'a Discovery,
    sub: &'a GitSubscription,
    cred: Option<&'a Credential>,
}

impl Git<'_> {
    /// Runs git with `args` (in `dir` when given); `slow` multiplies the timeout for fetches.
    async fn run(
        &self,
        dir: Option<&Path>,
        args: &[&str],
        slow: u32,
    ) -> Result<String, DiscoveryError> {
        let mut cmd = tokio::process::Command::new("git");
        if let Some(dir) = dir {
            cmd.arg("-C").arg(dir);
        }
        // No credential helper of the machine's configuration: only the Secret's credential.
        cmd.args(["-c", "credential.helper=", "-c", "core.askPass="]);
        if self.sub.insecure_skip_tls_verify {
            cmd.args(["-c", "http.sslVerify=false"]);
        }
        cmd.args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", &self.d.askpass)
            .env_remove("DOCKHAND_GIT_USERNAME")
            .env_remove("DOCKHAND_GIT_PASSWORD")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(c) = self.cred {
            cmd.env("DOCKHAND_GIT_USERNAME", &c.username)
                .env("DOCKHAND_GIT_PASSWORD", c.password.expose());
        }
        let what = args.first().copied().unwrap_or("git");
        let url = repo_url::redacted(&self.sub.repo_url);
        let mut child = cmd
            .spawn()
            .map_err(|e| DiscoveryError::Git(format!("cannot run git: {e}")))?;
        let max = self.d.settings.max_response_bytes;
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let timeout = self.d.settings.timeout * slow;
        let work = async {
            let mut out = Vec::new();
            let mut err = Vec::new();
            let read_out = async {
                if let Some(s) = stdout.as_mut() {
                    let _ = s.take(max as u64 + 1).read_to_end(&mut out).await;
                }
            };
            let read_err = async {
                if let Some(s) = stderr.as_mut() {
                    let _ = s.take(MAX_STDERR as u64).read_to_end(&mut err).await;
                }
            };
            tokio::join!(read_out, read_err);
            if out.len() > max {
                return Err(DiscoveryError::Git(format!(
                    "{what} {url}: output larger than {max} bytes"
                )));
            }
            let status = child
                .wait()
                .await
                .map_err(|e| DiscoveryError::Git(format!("{what} {url}: {e}")))?;
            Ok((status, out, err))
        };
        let (status, out, err) = match tokio::time::timeout(timeout, work).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(DiscoveryError::Git(format!(
                    "{what} {url}: no answer within {}s (timeout)",
                    timeout.as_secs()
                )))
            }
        };
        if !status.success() {
            let text = String::from_utf8_lossy(&err);
            let detail = text
                .lines()
                .map(str::trim)
                .rfind(|l| !l.is_empty())
                .unwrap_or("failed");
            let message = format!("{what} {url}: {}", scrub(detail, self.cred));
            return Err(if super::error::git_unreachable(&text) {
                DiscoveryError::GitUnreachable(message)
            } else {
                DiscoveryError::Git(message)
            });
        }
        String::from_utf8(out)
            .map_err(|_| DiscoveryError::Git(format!("{what} {url}: output is not UTF-8")))
    }

    /// The cache repository of this URL, created on first use, locked for the caller.
    async fn cache(&self) -> Result<(PathBuf, tokio::sync::OwnedMutexGuard<()>), DiscoveryError> {
        let dir = self.d.git_cache_dir(&self.sub.repo_url);
        let guard = self.d.path_lock(&dir).await;
        if !dir.join("HEAD").exists() {
            std::fs::create_dir_all(&dir).map_err(|e| {
                DiscoveryError::Git(format!("cannot create {}: {e}", dir.display()))
            })?;
            let path = dir.to_string_lossy().to_string();
            self.run(None, &["init", "--bare", "-q", &path], 1).await?;
        }
        Ok((dir, guard))
    }

    /// Commits of `branch`, newest first, that change a path the subscription selects.
    async fn commits_touching(&self, branch: &str) -> Result<Vec<String>, DiscoveryError> {
        let (dir, _guard) = self.cache().await?;
        let local = format!("refs/dockhand/{branch}");
        let spec = format!("+refs/heads/{branch}:{local}");
        let depth = format!("--depth={PATH_HISTORY}");
        self.run(
            Some(&dir),
            &[
                "fetch",
                "-q",
                "--filter=blob:none",
                "--no-tags",
                &depth,
                &self.sub.repo_url,
                &spec,
            ],
            4,
        )
        .await?;
        let n = PATH_HISTORY.to_string();
        let log = self
            .run(
                Some(&dir),
                &["log", "--format=%x01%H", "--name-only", "-n", &n, &local],
                1,
            )
            .await?;
        Ok(log
            .split('\u{1}')
            .filter_map(|entry| {
                let mut lines = entry.lines().map(str::trim).filter(|l| !l.is_empty());
                let id = lines.next()?;
                let files: Vec<String> = lines.map(str::to_string).collect();
                paths_selected(self.sub.paths.include(), self.sub.paths.exclude(), &files)
                    .then(|| id.to_string())
            })
            .collect())
    }

    /// Every tag of the remote, newest (creator date) first.
    async fn tags_newest_first(&self) -> Result<Vec<String>, DiscoveryError> {
        let (dir, _guard) = self.cache().await?;
        self.run(
            Some(&dir),
            &[
                "fetch",
                "-q",
                "--filter=blob:none",
                "--depth=1",
                "--no-tags",
                "--prune",
                &self.sub.repo_url,
                "+refs/tags/*:refs/tags/*",
            ],
            4,
        )
        .await?;
        let list = self
            .run(
                Some(&dir),
                &[
                    "for-each-ref",
                    "--sort=-creatordate",
                    "--format=%(refname:strip=2)",
                    "refs/tags",
                ],
                1,
            )
            .await?;
        Ok(list.lines().map(str::to_string).collect())
    }
}

/// A line of git's stderr fit for a message: URLs lose their userinfo, and the password is
/// masked should git ever echo it.
fn scrub(line: &str, cred: Option<&Credential>) -> String {
    let mut out: Vec<String> = Vec::new();
    for word in line.split(' ') {
        if word.contains("://") && word.contains('@') {
            out.push(repo_url::redacted(
                word.trim_matches(|c| c == '\'' || c == '"'),
            ));
        } else {
            out.push(word.to_string());
        }
    }
    let mut text = out.join(" ");
    if let Some(c) = cred {
        let pw = c.password.expose();
        if !pw.is_empty() {
            text = text.replace(pw, "***");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ls_remote_output() {
        let text = "ref: refs/heads/main\tHEAD\n\
                    1111111111111111111111111111111111111111\tHEAD\n\
                    1111111111111111111111111111111111111111\trefs/heads/main\n\
                    2222222222222222222222222222222222222222\trefs/tags/v1.0.0\n\
                    3333333333333333333333333333333333333333\trefs/tags/v1.0.0^{}\n\
                    4444444444444444444444444444444444444444\trefs/tags/latest\n";
        let remote = parse_ls_remote(text);
        assert_eq!(remote.head.as_deref(), Some("main"));
        assert_eq!(remote.refs.len(), 5);
        let sub = GitSubscription::new(
            "https://git.example.com/app.git",
            CommitSelectionStrategy::SemVer,
        );
        // The annotated tag resolves to its commit; `latest` is no semantic version.
        assert_eq!(
            tags(&sub, &remote),
            vec![("v1.0.0", "3333333333333333333333333333333333333333")]
        );
    }

    #[test]
    fn scrub_hides_userinfo() {
        let line = scrub(
            "fatal: unable to access 'https://bob:pw@git.example.com/a.git/': 401",
            None,
        );
        assert!(!line.contains("pw"), "{line}");
        assert!(line.contains("***@git.example.com/a.git/"), "{line}");
    }
}
