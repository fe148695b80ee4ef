//! Repository URL normalization: every spelling of one repository reduces to one key, so a
//! webhook's URL finds the subscriptions however either side wrote it. Pure functions, no regex:
//! they run once per subscription at config load and once per webhook.
//!
//! | Function | Key form | Examples |
//! |---|---|---|
//! | [`image_key`], [`chart_key`] with `oci://` | `host[:port]/path` | `docker.io/library/nginx`, `localhost:5000/app`, `myreg.azurecr.io/team/app/api` |
//! | [`chart_key`], classic repository | `helm:host[:port][/path]#chart` | `helm:charts.example.com/stable#nginx` |
//! | [`git_key`] | `host[:port]/path` | `github.com/org/repo`, `git.corp:8443/Team/Repo` |
//! | [`git_key`], Azure Repos | `dev.azure.com/{org}/{project}/{repo}` | `dev.azure.com/fabrikam/fiber/web` |
//!
//! Every key is itself an accepted input that maps to itself (`image_key(&image_key(x)?)`,
//! `git_key(&git_key(x)?)`, `chart_key(&chart_key(u, n)?, n)`), so keys can be stored, shown
//! and fed back. Image and git keys share a shape, so an index must keep the kinds apart. A classic
//! chart key always starts with `helm:` and contains `#`, which no image key can.
//!
//! Choices worth knowing:
//! - Every input is first sanitized as Kargo does ([`sanitize`]): invisible and non-printable
//!   characters are removed wherever they are, surrounding spaces trimmed.
//! - Image keys drop a `:443` port (always HTTPS, so the same registry) and keep every other;
//!   a dotless host keeps even `:443`, else the key would read as a Docker Hub path.
//! - Git and classic chart keys drop the scheme (a payload never says which one the user
//!   subscribed with) and the ports 443, 80, 22 (and 9418 for `git://`). A repository served on
//!   non-default ports over HTTPS and SSH therefore has two keys; nothing in the URL links them.
//! - Git paths keep their case except on hosts known to ignore it (github.com, gitlab.com,
//!   bitbucket.org, Azure Repos, Azure DevOps Server). Paths are percent-decoded; escapes that
//!   would change the path's meaning (`%2F`, `%25`, `%3F`, `%23`, control and non-space
//!   whitespace) stay encoded, in upper case.
//! - A scheme-less `host:123/path` without a user is read as a port, not as an scp-style path
//!   starting with `123`, because that is the key form; `git@host:123/path` stays scp-style.
//! - Azure DevOps Server (a non-cloud host whose path has `{collection}/{project}/_git/{repo}`):
//!   key `host/{collection}/{project}/{repo}` in lower case, without any port and without the
//!   `tfs` virtual directory, so the HTTPS (`:8080/tfs/…`) and SSH (`:22/…`) forms meet.
//! - Classic chart names keep their case: Helm looks them up in `index.yaml` by exact name.
//!
//! One file per kind, as Kargo's `pkg/urls`: `image.rs` (images and OCI charts, Docker Hub),
//! `chart.rs` (classic Helm repositories), `git.rs` (HTTPS, SSH and scp spellings), `azure.rs`
//! (Azure Repos and Azure DevOps Server spellings), `host.rs` (host and port rules, loopback),
//! `path.rs` (percent-decoding and path segments), `sanitize.rs` (Kargo's `SanitizeURL`). This file holds the public API and the error.

mod azure;
mod chart;
mod git;
mod host;
mod image;
mod path;
mod sanitize;
#[cfg(test)]
mod tests;

pub use chart::chart_key;
pub use git::git_key;
pub use host::{host_without_port, is_loopback};
pub use image::{
    canonical_registry_host, image_key, registry_host, strip_image_scheme, with_registry_host,
};
pub use sanitize::sanitize;

/// Why a URL could not be normalized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{url:?} is not a valid {kind} repository URL: {reason}")]
pub struct RepoUrlError {
    pub kind: &'static str,
    /// The input with any userinfo and query replaced by `***`: it may carry a password.
    pub url: String,
    pub reason: String,
}

const IMAGE: &str = "image";
const CHART: &str = "chart";
const GIT: &str = "git";

/// Longest input echoed back in an error; fuzzers and broken payloads send megabytes.
const MAX_ERROR_URL: usize = 256;

impl RepoUrlError {
    fn new(kind: &'static str, url: &str, reason: impl Into<String>) -> Self {
        RepoUrlError {
            kind,
            url: redact(url, kind == GIT),
            reason: reason.into(),
        }
    }
}

/// A URL fit for a message: any userinfo (`user:password@`) and query replaced by `***`.
pub fn redacted(url: &str) -> String {
    redact(url, false)
}

/// Hides what may be a credential: the userinfo before an `@`, and a query. Git URLs
/// (`scp_style`) treat their last `@` before any query as ending a user; image and chart URLs
/// an `@` with a `/` after it, or in the authority of a `scheme://` URL, because `name@sha256:…`
/// is a digest. Only a real scheme name counts (the fuzzers found `x:pw@…https://…`, where
/// treating everything up to `://` as the scheme showed the password). When in doubt, hide.
fn redact(url: &str, scp_style: bool) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) if is_scheme_name(&url[..i]) => url.split_at(i + 3),
        _ => ("", url),
    };
    let (main, query) = rest.split_at(rest.find('?').unwrap_or(rest.len()));
    let user_end = if scp_style {
        main.rfind('@')
    } else {
        let before_slash = main.rfind('/').and_then(|slash| main[..slash].rfind('@'));
        let in_authority = (!scheme.is_empty())
            .then(|| main[..main.find('/').unwrap_or(main.len())].rfind('@'))
            .flatten();
        before_slash.max(in_authority)
    };
    let mut out = String::with_capacity(url.len().min(MAX_ERROR_URL) + 8);
    out.push_str(scheme);
    match user_end {
        Some(at) => {
            out.push_str("***");
            out.push_str(&main[at..]);
        }
        None => out.push_str(main),
    }
    if !query.is_empty() {
        out.push_str("?***");
    }
    if out.len() > MAX_ERROR_URL {
        let mut cut = MAX_ERROR_URL;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// RFC 3986: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn is_scheme_name(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}
