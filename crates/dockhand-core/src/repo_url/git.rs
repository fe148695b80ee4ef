//! Git keys: the HTTPS, SSH, `git://` and scp-style spellings of one repository, the big hosts'
//! SSH-over-443 aliases and case-insensitive paths. Azure's spellings are in `azure.rs`.

use super::azure::{ado_server_key, azure_host, azure_key, is_ado_server_path};
use super::host::{host_key, split_host_port};
use super::path::{check_url_chars, decode_path, fold_case, path_segments};
use super::sanitize::sanitize;
use super::{RepoUrlError, GIT};

const GIT_SCHEMES: [&str; 6] = ["https", "http", "ssh", "git", "git+ssh", "ssh+git"];

/// Hosts that serve one repository under any capitalization of its path.
const CASE_INSENSITIVE_GIT_HOSTS: [&str; 3] = ["github.com", "gitlab.com", "bitbucket.org"];

/// SSH-over-443 endpoints of the big hosts (`ssh://git@ssh.github.com:443/org/repo`).
const GIT_HOST_ALIASES: [(&str, &str); 3] = [
    ("ssh.github.com", "github.com"),
    ("altssh.gitlab.com", "gitlab.com"),
    ("altssh.bitbucket.org", "bitbucket.org"),
];

/// Key of a git repository: every HTTPS/SSH/scp spelling of one repository, Azure Repos included.
pub fn git_key(url: &str) -> Result<String, RepoUrlError> {
    let url = &*sanitize(url);
    let err = |reason: String| RepoUrlError::new(GIT, url, reason);
    if url.is_empty() {
        return Err(err("it is empty".into()));
    }
    check_url_chars(url).map_err(err)?;
    let parts = split_git_url(url).map_err(err)?;
    if parts.path.contains(['?', '#']) {
        return Err(err("a git repository URL has no query or fragment".into()));
    }
    let host_port = parts.host_port.to_ascii_lowercase();
    if !host_port.is_ascii() || host_port.contains(' ') {
        return Err(err("the host must be ASCII with no spaces".into()));
    }
    let (host, port) = split_host_port(&host_port, true).map_err(err)?;
    let host = GIT_HOST_ALIASES
        .iter()
        .find(|(alias, _)| *alias == host)
        .map_or(host, |(_, canonical)| *canonical);
    let defaults: &[u16] = if parts.scheme == Some("git") {
        &[443, 80, 22, 9418]
    } else {
        &[443, 80, 22]
    };

    let raw_path = parts.path.strip_prefix('/').unwrap_or(parts.path);
    let decoded = decode_path(raw_path).map_err(err)?;
    let azure = azure_host(host);
    let ado_server = azure.is_none() && is_ado_server_path(strip_git_suffixes(&decoded));
    let decoded = if azure.is_some() || ado_server || CASE_INSENSITIVE_GIT_HOSTS.contains(&host) {
        fold_case(&decoded)
    } else {
        decoded
    };
    let path = strip_git_suffixes(&decoded);
    if path.is_empty() {
        return Err(err("it names no repository path after the host".into()));
    }
    let segments = path_segments(path).map_err(err)?;

    if let Some(azure) = azure {
        return azure_key(azure, &segments).map_err(err);
    }
    if ado_server {
        return ado_server_key(host, &segments).map_err(err);
    }
    let host = host_key(host, port, defaults);
    let mut key = String::with_capacity(host.len() + path.len() + 1);
    key.push_str(&host);
    key.push('/');
    key.push_str(path);
    Ok(key)
}

struct GitUrlParts<'a> {
    scheme: Option<&'a str>,
    host_port: &'a str,
    /// Everything after the host: `/path` for URLs, `path` or `/path` for scp-style.
    path: &'a str,
}

/// Splits the URL forms git accepts: `scheme://[user@]host[:port]/path`, scp-style
/// `[user@]host:path`, and the scheme-less key form `host[:port]/path`.
fn split_git_url(url: &str) -> Result<GitUrlParts<'_>, String> {
    if let Some(i) = url.find("://") {
        let scheme = &url[..i];
        if !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            let lowered = scheme.to_ascii_lowercase();
            let scheme: &'static str = GIT_SCHEMES
                .iter()
                .find(|s| **s == lowered)
                .ok_or_else(|| format!("scheme {scheme:?} is not one of https, http, ssh, git"))?;
            let rest = &url[i + 3..];
            let auth_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(auth_end);
            let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            return Ok(GitUrlParts {
                scheme: Some(scheme),
                host_port,
                path,
            });
        }
    }
    if url.starts_with('/') || url.starts_with('.') {
        return Err("local paths are not repository URLs".into());
    }
    // The last `@` before the first `/` ends the user: a mistyped password may hold `:`.
    let head_end = url.find('/').unwrap_or(url.len());
    let (has_user, rest) = match url[..head_end].rfind('@') {
        Some(at) => (true, &url[at + 1..]),
        None => (false, url),
    };
    let host_end = if rest.starts_with('[') {
        rest.find(']').map_or(rest.len(), |i| i + 1)
    } else {
        rest.find([':', '/']).unwrap_or(rest.len())
    };
    let (host, after) = rest.split_at(host_end);
    if let Some(after_colon) = after.strip_prefix(':') {
        let digits = after_colon.bytes().take_while(u8::is_ascii_digit).count();
        let port_form = !has_user
            && digits > 0
            && (digits == after_colon.len() || after_colon.as_bytes()[digits] == b'/');
        if port_form {
            return Ok(GitUrlParts {
                scheme: None,
                host_port: &rest[..host_end + 1 + digits],
                path: &after_colon[digits..],
            });
        }
        return Ok(GitUrlParts {
            scheme: None,
            host_port: host,
            path: after_colon,
        });
    }
    Ok(GitUrlParts {
        scheme: None,
        host_port: host,
        path: after,
    })
}

/// Drops trailing `/` and `.git`, repeatedly, so the result is stable when fed back.
fn strip_git_suffixes(path: &str) -> &str {
    let mut path = path;
    loop {
        let before = path.len();
        path = path.trim_end_matches('/');
        path = path.strip_suffix(".git").unwrap_or(path);
        if path.len() == before {
            return path;
        }
    }
}
