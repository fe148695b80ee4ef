//! Kargo's `normalizeGit`, `normalizeImage` and `normalizeChart` as the generic receiver's
//! expressions see them (`pkg/urls`): strings a user may compare with `==` in a
//! `whenExpression`, so they are Kargo's spelling (`https://github.com/o/r`,
//! `ssh://git@github.com/o/r`, `nginx`), not dockhand's repository keys. Selection by
//! `subscribedURLs` does not compare these strings: it compares dockhand's keys, which also
//! join a repository's HTTPS and SSH spellings (README, "Git hosts' URL keys").
//!
//! Anything that cannot be normalized comes back as given, as in Kargo.

/// Kargo's `NormalizeGit`.
pub fn git(url: &str) -> String {
    let url = sanitize(url).to_lowercase();
    for scheme in ["https://", "http://", "ssh://"] {
        if let Some(rest) = url.strip_prefix(scheme) {
            if rest.contains('?') {
                return url;
            }
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let authority = match (scheme, authority.rsplit_once('@')) {
                // HTTP(S) user info is a credential, not part of the repository.
                ("ssh://", _) | (_, None) => authority,
                (_, Some((_, host))) => host,
            };
            let path = trim_git_suffix(path);
            return if path.is_empty() {
                format!("{scheme}{authority}")
            } else {
                format!("{scheme}{authority}/{path}")
            };
        }
    }
    // SCP-style `[user@]host[:path]`.
    let (user_host, path) = url.split_once(':').unwrap_or((&url, ""));
    let (user, host) = match user_host.split_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, user_host),
    };
    let word = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    let host_ok = !host.is_empty() && host.split('.').all(word);
    if !host_ok || !user.is_none_or(word) || path.starts_with('/') {
        return url;
    }
    let user = user.map(|u| format!("{u}@")).unwrap_or_default();
    let path = trim_git_suffix(path);
    if path.is_empty() {
        format!("ssh://{user}{host}")
    } else {
        format!("ssh://{user}{host}/{path}")
    }
}

fn trim_git_suffix(path: &str) -> &str {
    let path = path.strip_suffix('/').unwrap_or(path);
    path.strip_suffix(".git").unwrap_or(path)
}

/// Kargo's `NormalizeImage`: no tag or digest; Docker Hub's hosts and `library/` dropped.
pub fn image(url: &str) -> String {
    let url = sanitize(url).to_lowercase();
    if url.contains("://") || url.is_empty() {
        return url;
    }
    let without_digest = url.split('@').next().unwrap_or(&url);
    let without_tag = match without_digest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => without_digest,
    };
    let (first, rest) = without_tag.split_once('/').unwrap_or(("", without_tag));
    let is_registry = first.contains('.') || first.contains(':') || first == "localhost";
    let (registry, path) = if is_registry {
        (first, rest)
    } else {
        ("index.docker.io", without_tag)
    };
    if path.is_empty() || path.split('/').any(str::is_empty) {
        return url;
    }
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => {
            path.strip_prefix("library/").unwrap_or(path).to_string()
        }
        _ => format!("{registry}/{path}"),
    }
}

/// Kargo's `NormalizeChart`: `oci://` dropped, then as an image; HTTP(S) repositories lower-cased.
pub fn chart(url: &str) -> String {
    let url = sanitize(url).to_lowercase();
    match url.strip_prefix("oci://") {
        Some(rest) => image(rest),
        None if url.contains("://") => url.trim_end_matches('/').to_string(),
        None => image(&url),
    }
}

/// Kargo's `SanitizeURL`: surrounding space and non-printable characters removed.
fn sanitize(url: &str) -> String {
    url.trim()
        .chars()
        .filter(|c| !c.is_control() && *c != '\u{feff}')
        .collect()
}
