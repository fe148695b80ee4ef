//! Image keys (and OCI chart keys): Docker's reference grammar, Docker Hub's aliases and
//! `library/` namespace, the registry-host helpers `--registry-alias` and discovery use.

use std::borrow::Cow;

use super::host::split_host_port;
use super::path::describe_char;
use super::sanitize::sanitize;
use super::{RepoUrlError, IMAGE};

/// Docker Hub's registry in image keys; its other spellings collapse to it.
const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_ALIASES: [&str; 4] = [
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];
const IMAGE_SCHEMES: [&str; 4] = ["oci://", "https://", "http://", "docker://"];

/// `url` without one leading `oci://`, `https://`, `http://` or `docker://` (any case): the
/// schemes an image reference may carry and that say nothing about the repository.
pub fn strip_image_scheme(url: &str) -> &str {
    for scheme in IMAGE_SCHEMES {
        if let Some(head) = url.get(..scheme.len()) {
            if head.eq_ignore_ascii_case(scheme) {
                return &url[scheme.len()..];
            }
        }
    }
    url
}

/// Key of an OCI repository (image, or chart given as `oci://`): `host[:port]/path`, lower-case,
/// tag and digest stripped, Docker Hub spellings collapsed.
pub fn image_key(url: &str) -> Result<String, RepoUrlError> {
    let url = &*sanitize(url);
    let err = |reason: String| RepoUrlError::new(IMAGE, url, reason);
    if url.is_empty() {
        return Err(err("it is empty".into()));
    }
    if let Some(c) = url.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(err(format!(
            "it contains {}, which an image reference cannot",
            describe_char(c)
        )));
    }
    if !url.is_ascii() {
        return Err(err("it contains a non-ASCII character".into()));
    }
    let lower = url.to_ascii_lowercase();
    let rest = strip_image_scheme(&lower);
    if rest.contains("://") {
        return Err(err(
            "only the schemes oci://, https://, http:// and docker:// are accepted".into(),
        ));
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if let Some(slash) = rest.find('/') {
        if rest[..slash].contains('@') {
            return Err(err(
                "an image reference carries no user or password (`user@` before the host)".into(),
            ));
        }
    }

    let name_and_tag = match rest.split_once('@') {
        Some((name, digest)) => {
            check_digest(digest).map_err(err)?;
            name
        }
        None => rest,
    };
    if name_and_tag.is_empty() {
        return Err(err("it names no repository".into()));
    }
    let last_start = name_and_tag.rfind('/').map_or(0, |i| i + 1);
    if last_start == 0 && looks_like_registry(name_and_tag.split(':').next().unwrap_or("")) {
        return Err(err(format!(
            "{name_and_tag:?} is a registry host with no repository after it"
        )));
    }
    let name = match name_and_tag[last_start..].find(':') {
        Some(colon) => {
            let tag = &name_and_tag[last_start + colon + 1..];
            check_tag(tag).map_err(err)?;
            &name_and_tag[..last_start + colon]
        }
        None => name_and_tag,
    };

    let (host, path) = match name.split_once('/') {
        Some((first, path)) if looks_like_registry(first) => {
            (canonical_registry(first).map_err(err)?, path)
        }
        _ => (Cow::Borrowed(DOCKER_HUB), name),
    };
    let mut components = 0;
    for component in path.split('/') {
        check_path_component(component).map_err(err)?;
        components += 1;
    }
    let library = host == DOCKER_HUB && components == 1;

    let mut key = String::with_capacity(host.len() + path.len() + 9);
    key.push_str(&host);
    key.push('/');
    if library {
        key.push_str("library/");
    }
    key.push_str(path);
    Ok(key)
}

/// Docker's rule: the first path segment names a registry if it has a `.` or a `:` or is
/// `localhost` (an IPv6 literal always has a `:`).
fn looks_like_registry(segment: &str) -> bool {
    segment.contains(['.', ':']) || segment == "localhost" || segment.starts_with('[')
}

/// Lower-case registry `host[:port]` with Docker Hub's aliases collapsed and `:443` dropped.
fn canonical_registry(host_port: &str) -> Result<Cow<'_, str>, String> {
    let (host, port) = split_host_port(host_port, false)?;
    // `host:443/app` without its port would read as the Docker Hub repository `host/app`.
    let port = port.filter(|&p| p != 443 || !looks_like_registry(host));
    if port.is_none() && DOCKER_HUB_ALIASES.contains(&host) {
        return Ok(Cow::Borrowed(DOCKER_HUB));
    }
    Ok(match port {
        Some(p) => Cow::Owned(format!("{host}:{p}")),
        None if host.len() == host_port.len() => Cow::Borrowed(host_port),
        None => Cow::Owned(host.to_string()),
    })
}

/// OCI distribution spec: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn check_path_component(c: &str) -> Result<(), String> {
    if c.is_empty() {
        return Err("it has an empty path segment (`//`, or nothing after the host)".into());
    }
    let b = c.as_bytes();
    let mut i = 0;
    loop {
        let run = i;
        while i < b.len() && (b[i].is_ascii_lowercase() || b[i].is_ascii_digit()) {
            i += 1;
        }
        if i == run {
            break;
        }
        if i == b.len() {
            return Ok(());
        }
        match b[i] {
            b'.' => i += 1,
            b'_' => i += if b.get(i + 1) == Some(&b'_') { 2 } else { 1 },
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => break,
        }
    }
    Err(format!(
        "path segment {c:?} is not a valid OCI repository name component \
         (letters, digits, and single `.`, `_`, `__` or `-` runs between them)"
    ))
}

/// OCI tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}` (already lower-cased here).
fn check_tag(tag: &str) -> Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tag {tag:?} is not a valid OCI tag (1-128 of letters, digits, `_`, `.`, `-`, \
             not starting with `.` or `-`)"
        ))
    }
}

/// OCI digest: `algorithm:encoded`, algorithm `[a-z0-9]+([+._-][a-z0-9]+)*`,
/// encoded `[a-zA-Z0-9=_-]+`. The hex length is not checked: vendor docs redact digests.
fn check_digest(digest: &str) -> Result<(), String> {
    let bad = || format!("digest {digest:?} is not `algorithm:hex` (e.g. `sha256:…`)");
    let (algorithm, encoded) = digest.split_once(':').ok_or_else(bad)?;
    let algorithm_ok = algorithm
        .split(['+', '.', '_', '-'])
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()));
    let encoded_ok = !encoded.is_empty()
        && encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
    if algorithm_ok && encoded_ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// The `host[:port]` part of an image key (everything before the first `/`).
pub fn registry_host(key: &str) -> &str {
    key.split_once('/').map_or(key, |(host, _)| host)
}

/// The image key `key` with its registry replaced by `host` (for `--registry-alias FROM=TO`).
/// `host` is brought to key form (lower-case, Docker Hub aliases collapsed, `:443` dropped); a
/// one-segment Docker Hub path gains its `library/`. Validate `host` once with
/// [`canonical_registry_host`]; this function does not fail.
pub fn with_registry_host(key: &str, host: &str) -> String {
    let path = key.split_once('/').map_or("", |(_, path)| path);
    let host = host.to_ascii_lowercase();
    let host = canonical_registry(&host)
        .map(Cow::into_owned)
        .unwrap_or(host);
    let mut out = String::with_capacity(host.len() + path.len() + 9);
    out.push_str(&host);
    if !path.is_empty() {
        out.push('/');
        if host == DOCKER_HUB && !path.contains('/') {
            out.push_str("library/");
        }
        out.push_str(path);
    }
    out
}

/// A registry `host[:port]` as it appears in image keys (lower-case, Docker Hub aliases
/// collapsed, `:443` dropped), or why it is not one. A scheme and a trailing `/` are tolerated.
pub fn canonical_registry_host(host: &str) -> Result<String, RepoUrlError> {
    let err = |reason: String| RepoUrlError::new(IMAGE, host, reason);
    if host.is_empty() {
        return Err(err("the registry host is empty".into()));
    }
    if !host.is_ascii() {
        return Err(err("it contains a non-ASCII character".into()));
    }
    let lower = host.to_ascii_lowercase();
    let rest = strip_image_scheme(&lower);
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    canonical_registry(rest).map(Cow::into_owned).map_err(err)
}
