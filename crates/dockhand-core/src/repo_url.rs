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

use std::borrow::Cow;

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

// ---------------------------------------------------------------------------------------------
// Images (and OCI charts)
// ---------------------------------------------------------------------------------------------

/// Docker Hub's registry in image keys; its other spellings collapse to it.
const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_ALIASES: [&str; 4] = [
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];
const IMAGE_SCHEMES: [&str; 4] = ["oci://", "https://", "http://", "docker://"];

/// Key of an OCI repository (image, or chart given as `oci://`): `host[:port]/path`, lower-case,
/// tag and digest stripped, Docker Hub spellings collapsed.
pub fn image_key(url: &str) -> Result<String, RepoUrlError> {
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
    let mut rest = lower.as_str();
    for scheme in IMAGE_SCHEMES {
        if let Some(r) = rest.strip_prefix(scheme) {
            rest = r;
            break;
        }
    }
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
    let mut rest = lower.as_str();
    for scheme in IMAGE_SCHEMES {
        if let Some(r) = rest.strip_prefix(scheme) {
            rest = r;
            break;
        }
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    canonical_registry(rest).map(Cow::into_owned).map_err(err)
}

// ---------------------------------------------------------------------------------------------
// Hosts, ports, paths (shared)
// ---------------------------------------------------------------------------------------------

/// Splits an ASCII-lower-case `host[:port]` and checks both. `allow_underscore` admits `_` in
/// host labels (some internal git and chart servers have them; Docker's grammar does not).
fn split_host_port(host_port: &str, allow_underscore: bool) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if host_port.starts_with('[') {
        let close = host_port
            .find(']')
            .ok_or_else(|| format!("host {host_port:?} opens `[` without closing it"))?;
        let inner = &host_port[1..close];
        if !inner.contains(':')
            || !inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(format!(
                "host {host_port:?} is not an IPv6 address in brackets"
            ));
        }
        let after = &host_port[close + 1..];
        match after.strip_prefix(':') {
            Some(port) => (&host_port[..=close], Some(port)),
            None if after.is_empty() => (host_port, None),
            None => return Err(format!("host {host_port:?} has text after `]`")),
        }
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if !host.starts_with('[') {
        check_host_name(host, allow_underscore)?;
    }
    let port =
        match port {
            None => None,
            // The port is not echoed: in `https://user:pa/ss@host` it is a piece of a password.
            Some(p) => Some(parse_port(p).ok_or_else(|| {
                format!("the port of host {host:?} is not a number from 1 to 65535")
            })?),
        };
    Ok((host, port))
}

fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse::<u16>().ok().filter(|&n| n != 0)
}

/// DNS-style labels: `[a-z0-9]([a-z0-9-]*[a-z0-9])?` joined by `.`.
fn check_host_name(host: &str, allow_underscore: bool) -> Result<(), String> {
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    let label_ok = |label: &str| {
        let b = label.as_bytes();
        let inner =
            |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || (allow_underscore && c == b'_');
        !b.is_empty()
            && b.iter().all(|&c| inner(c) || c == b'-')
            && b.first().is_some_and(|&c| inner(c))
            && b.last().is_some_and(|&c| inner(c))
    };
    if host.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(format!(
            "host {host:?} is not a valid host name (letters, digits, `-` and `.`)"
        ))
    }
}

fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        '\t' => "a tab".into(),
        '\n' | '\r' => "a line break".into(),
        c => format!("the character U+{:04X}", c as u32),
    }
}

/// Rejects characters no URL form accepts anywhere: controls and whitespace other than the
/// space, which Azure DevOps really sends unencoded inside paths. Surrounding whitespace too.
fn check_url_chars(url: &str) -> Result<(), String> {
    if url.starts_with(char::is_whitespace) || url.ends_with(char::is_whitespace) {
        return Err("it starts or ends with whitespace".into());
    }
    match url
        .chars()
        .find(|&c| c.is_control() || (c.is_whitespace() && c != ' '))
    {
        Some(c) => Err(format!("it contains {}", describe_char(c))),
        None => Ok(()),
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn push_escaped(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push(b'%');
    out.push(HEX[usize::from(b >> 4)]);
    out.push(HEX[usize::from(b & 0xf)]);
}

/// Percent-decodes a URL path into its canonical form (see the module doc): bytes whose
/// decoding would change how the path splits or reads stay escaped in upper case, so decoding a
/// key again changes nothing. The path itself is not echoed in errors (see `split_host_port`).
fn decode_path(path: &str) -> Result<String, String> {
    let b = path.as_bytes();
    if !b.contains(&b'%') {
        // Controls and odd whitespace were rejected with the whole URL.
        return Ok(path.to_string());
    }
    let mut bytes = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            bytes.push(b[i]);
            i += 1;
            continue;
        }
        let hi = b.get(i + 1).copied().and_then(hex_value);
        let lo = b.get(i + 2).copied().and_then(hex_value);
        let (Some(hi), Some(lo)) = (hi, lo) else {
            return Err("its path has a `%` not followed by two hex digits".into());
        };
        let decoded = (hi << 4) | lo;
        if matches!(decoded, b'%' | b'/' | b'?' | b'#') || decoded < 0x20 || decoded == 0x7f {
            push_escaped(&mut bytes, decoded);
        } else {
            bytes.push(decoded);
        }
        i += 3;
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| "its path percent-decodes to something that is not UTF-8".to_string())?;
    if !text
        .chars()
        .any(|c| c.is_control() || (c.is_whitespace() && c != ' '))
    {
        return Ok(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() || (c.is_whitespace() && c != ' ') {
            let mut buf = [0u8; 4];
            let mut escaped = Vec::with_capacity(12);
            for &byte in c.encode_utf8(&mut buf).as_bytes() {
                push_escaped(&mut escaped, byte);
            }
            out.extend(escaped.iter().map(|&e| char::from(e)));
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Lower-cases a decoded path, leaving its `%XX` escapes (all upper-case) alone.
fn fold_case(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            // Only `decode_path`'s own escapes remain, so two hex digits follow.
            out.push(c);
            out.extend(chars.by_ref().take(2));
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
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

/// Splits a decoded path (no leading `/`) into segments, rejecting empty, `.` and `..` ones,
/// and ones with a space at either end (no server names a repository so, and the key would then
/// end in whitespace).
fn path_segments(path: &str) -> Result<Vec<&str>, String> {
    let segments: Vec<&str> = path.split('/').collect();
    for s in &segments {
        if s.is_empty() {
            return Err("its path has an empty segment (`//`)".into());
        }
        if s.starts_with(' ') || s.ends_with(' ') {
            return Err("a segment of its path starts or ends with a space".into());
        }
        if *s == "." || *s == ".." {
            return Err(format!("its path has a {s:?} segment"));
        }
    }
    Ok(segments)
}

/// `host[:port]` with the given default ports dropped; IPv6 hosts keep their brackets.
fn host_key(host: &str, port: Option<u16>, defaults: &[u16]) -> String {
    match port {
        Some(p) if !defaults.contains(&p) => format!("{host}:{p}"),
        _ => host.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Charts
// ---------------------------------------------------------------------------------------------

/// Prefix of classic chart keys; the chart name follows a `#`.
const HELM_PREFIX: &str = "helm:";

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Key of a chart subscription: `oci://host/path` gives the same key as `image_key("host/path")`;
/// a classic HTTP(S) repository gives a key built from the repository URL and the chart name.
///
/// - `oci://…` or a scheme-less reference (an image key): the chart name must be `None` or
///   empty, as Kargo requires: the URL already names the chart.
/// - `http(s)://…`: the chart name is required; the key is `helm:host[:port][/path]#chart`.
/// - `helm:host[/path][#chart]` (a key read back): the name may be embedded, given, or both if
///   they agree.
pub fn chart_key(repo_url: &str, chart_name: Option<&str>) -> Result<String, RepoUrlError> {
    let err = |reason: String| RepoUrlError::new(CHART, repo_url, reason);
    let name = chart_name.filter(|n| !n.is_empty());
    if let Some(rest) =
        strip_prefix_ci(repo_url, "https://").or_else(|| strip_prefix_ci(repo_url, "http://"))
    {
        let name =
            name.ok_or_else(|| err("a classic (HTTP) chart repository needs a chart name".into()))?;
        // A query or fragment does not name the repository and may carry a token.
        let rest = rest.split(['?', '#']).next().unwrap_or("");
        return classic_chart_key(rest, name).map_err(err);
    }
    if let Some(rest) = strip_prefix_ci(repo_url, HELM_PREFIX) {
        let (location, embedded) = match rest.split_once('#') {
            Some((location, n)) => (location, Some(n)),
            None => (rest, None),
        };
        let name = match (embedded, name) {
            (Some(a), Some(b)) if a != b => {
                return Err(err(format!(
                    "the key names chart {a:?} but chart name {b:?} was given"
                )))
            }
            (Some(a), _) => a,
            (None, Some(b)) => b,
            (None, None) => return Err(err("it has no chart name after `#`".into())),
        };
        if location.contains('?') {
            return Err(err("a chart key has no query".into()));
        }
        return classic_chart_key(location, name).map_err(err);
    }
    let is_oci = strip_prefix_ci(repo_url, "oci://").is_some();
    if !is_oci && repo_url.contains("://") {
        return Err(err(
            "a chart repository URL starts with oci://, https:// or http://".into(),
        ));
    }
    if let Some(n) = name {
        return Err(err(if is_oci {
            format!(
                "an oci:// chart URL already names the chart; leave the chart name ({n:?}) \
                 empty, as Kargo requires"
            )
        } else {
            format!(
                "chart {n:?} needs a classic repository URL starting with https:// or http:// \
                 (an OCI chart URL, oci://…, names the chart itself)"
            )
        }));
    }
    image_key(repo_url).map_err(|e| RepoUrlError { kind: CHART, ..e })
}

/// `location` is `[userinfo@]host[:port][/path]`, scheme, query and fragment already removed.
fn classic_chart_key(location: &str, name: &str) -> Result<String, String> {
    check_url_chars(location)?;
    check_chart_name(name)?;
    let auth_end = location.find('/').unwrap_or(location.len());
    let (authority, path) = location.split_at(auth_end);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if !host_port.is_ascii() || host_port.contains(' ') {
        return Err("the host must be ASCII with no spaces".into());
    }
    let host_port = host_port.to_ascii_lowercase();
    let (host, port) = split_host_port(&host_port, true)?;
    let path = decode_path(path.strip_prefix('/').unwrap_or(path))?;
    let mut path = path.as_str();
    loop {
        let before = path.len();
        path = path.trim_end_matches('/');
        if path == "index.yaml" {
            path = "";
        } else if let Some(p) = path.strip_suffix("/index.yaml") {
            path = p;
        }
        if path.len() == before {
            break;
        }
    }
    if !path.is_empty() {
        path_segments(path)?;
    }

    let host = host_key(host, port, &[80, 443]);
    let mut key =
        String::with_capacity(HELM_PREFIX.len() + host.len() + path.len() + name.len() + 2);
    key.push_str(HELM_PREFIX);
    key.push_str(&host);
    if !path.is_empty() {
        key.push('/');
        key.push_str(path);
    }
    key.push('#');
    key.push_str(name);
    Ok(key)
}

fn check_chart_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the chart name is empty".into());
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '#' | '?' | '%'))
    {
        return Err(format!(
            "chart name {name:?} has whitespace or one of `/ # ? %`"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Git
// ---------------------------------------------------------------------------------------------

const GIT_SCHEMES: [&str; 6] = ["https", "http", "ssh", "git", "git+ssh", "ssh+git"];

/// Hosts that serve one repository under any capitalization of its path.
const CASE_INSENSITIVE_GIT_HOSTS: [&str; 3] = ["github.com", "gitlab.com", "bitbucket.org"];

/// SSH-over-443 endpoints of the big hosts (`ssh://git@ssh.github.com:443/org/repo`).
const GIT_HOST_ALIASES: [(&str, &str); 3] = [
    ("ssh.github.com", "github.com"),
    ("altssh.gitlab.com", "gitlab.com"),
    ("altssh.bitbucket.org", "bitbucket.org"),
];

const AZURE: &str = "dev.azure.com";

/// Key of a git repository: every HTTPS/SSH/scp spelling of one repository, Azure Repos included.
pub fn git_key(url: &str) -> Result<String, RepoUrlError> {
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
        let (org, project, repo) = azure_repo(azure, &segments).map_err(err)?;
        for s in [org, project, repo] {
            if s == "_git" {
                return Err(err(
                    "`_git` cannot be an Azure organization, project or repository name".into(),
                ));
            }
        }
        return Ok(format!("{AZURE}/{org}/{project}/{repo}"));
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

enum AzureHost<'a> {
    /// `dev.azure.com`: `{org}/{project}/_git/{repo}` (or the key form without `_git`).
    DevAzure,
    /// `ssh.dev.azure.com`, `vs-ssh.visualstudio.com`: `v3/{org}/{project}/{repo}`.
    SshV3,
    /// `{org}.visualstudio.com`: `[DefaultCollection/]{project}/_git/{repo}`.
    Legacy(&'a str),
    /// `ssh.{org}.visualstudio.com`: `v3/[DefaultCollection/]{project}/{repo}`.
    LegacySsh(&'a str),
}

fn azure_host(host: &str) -> Option<AzureHost<'_>> {
    match host {
        "dev.azure.com" => return Some(AzureHost::DevAzure),
        "ssh.dev.azure.com" | "vs-ssh.visualstudio.com" => return Some(AzureHost::SshV3),
        _ => {}
    }
    let org = host.strip_suffix(".visualstudio.com")?;
    match org.split_once('.') {
        None => Some(AzureHost::Legacy(org)),
        Some(("ssh", org)) if !org.contains('.') => Some(AzureHost::LegacySsh(org)),
        Some(_) => None,
    }
}

/// `(org, project, repo)` of an Azure Repos path (already lower-case). A missing project means
/// the repository is named like its project, as Azure DevOps itself does in such URLs.
fn azure_repo<'a>(
    host: AzureHost<'a>,
    s: &[&'a str],
) -> Result<(&'a str, &'a str, &'a str), String> {
    let shape = |expected: &str| format!("its path is not an Azure Repos path ({expected})");
    match host {
        AzureHost::DevAzure => match *s {
            [org, project, "_git", repo] => Ok((org, project, repo)),
            [org, "_git", repo] => Ok((org, repo, repo)),
            [org, project, repo] => Ok((org, project, repo)),
            _ => Err(shape("{org}/{project}/_git/{repo}")),
        },
        AzureHost::SshV3 => match *s {
            ["v3", org, project, repo] => Ok((org, project, repo)),
            _ => Err(shape("v3/{org}/{project}/{repo}")),
        },
        AzureHost::Legacy(org) => {
            let s = s.strip_prefix(&["defaultcollection"]).unwrap_or(s);
            match *s {
                [project, "_git", repo] => Ok((org, project, repo)),
                ["_git", repo] => Ok((org, repo, repo)),
                _ => Err(shape("[DefaultCollection/]{project}/_git/{repo}")),
            }
        }
        AzureHost::LegacySsh(org) => {
            let rest = s
                .strip_prefix(&["v3"])
                .ok_or_else(|| shape("v3/[DefaultCollection/]{project}/{repo}"))?;
            let rest = rest
                .strip_prefix(&["defaultcollection"])
                .or_else(|| rest.strip_prefix(&[org]))
                .unwrap_or(rest);
            match *rest {
                [project, repo] => Ok((org, project, repo)),
                [repo] => Ok((org, repo, repo)),
                _ => Err(shape("v3/[DefaultCollection/]{project}/{repo}")),
            }
        }
    }
}

/// Azure DevOps Server / TFS: `…/_git/{repo}` as the last two segments of the path.
fn is_ado_server_path(path: &str) -> bool {
    let mut rev = path.rsplit('/');
    rev.next().is_some_and(|repo| !repo.is_empty())
        && rev.next().is_some_and(|s| s.eq_ignore_ascii_case("_git"))
}

/// `host/{collection}/{project}/{repo}`: no port (HTTPS and SSH use different ones), no `tfs`
/// virtual directory (only HTTPS has it), a missing project filled with the repository name.
fn ado_server_key(host: &str, segments: &[&str]) -> Result<String, String> {
    let Some((repo, before)) = segments.split_last() else {
        return Err("it names no repository".into());
    };
    let before = before.strip_suffix(&["_git"]).unwrap_or(before);
    if before.contains(&"_git") {
        return Err("its path has more than one `_git` segment".into());
    }
    let before = match before {
        ["tfs", collection, project] => vec![*collection, *project],
        [collection] => vec![*collection, *repo],
        other => other.to_vec(),
    };
    let mut key = String::from(host);
    for s in before.iter().chain([repo]) {
        key.push('/');
        key.push_str(s);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_key_table() {
        let digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let cases: &[(&str, &str)] = &[
            ("nginx", "docker.io/library/nginx"),
            ("library/nginx", "docker.io/library/nginx"),
            ("docker.io/nginx", "docker.io/library/nginx"),
            ("docker.io/library/nginx", "docker.io/library/nginx"),
            (
                "index.docker.io/library/nginx:1.25",
                "docker.io/library/nginx",
            ),
            ("registry.hub.docker.com/nginx", "docker.io/library/nginx"),
            ("NGINX:Latest", "docker.io/library/nginx"),
            ("nginx:1.25@DIGEST", "docker.io/library/nginx"),
            (
                "registry-1.docker.io/library/nginx@DIGEST",
                "docker.io/library/nginx",
            ),
            ("docker://nginx", "docker.io/library/nginx"),
            (
                "nginxinc/nginx-unprivileged",
                "docker.io/nginxinc/nginx-unprivileged",
            ),
            ("index.docker.io/Org/App:v1", "docker.io/org/app"),
            ("localhost:5000/app", "localhost:5000/app"),
            ("localhost:5000/app:dev", "localhost:5000/app"),
            ("localhost/app", "localhost/app"),
            ("192.168.1.5:5000/a/b", "192.168.1.5:5000/a/b"),
            ("192.168.1.5:05000/a/b:1", "192.168.1.5:5000/a/b"),
            ("[::1]:5000/app", "[::1]:5000/app"),
            ("[::1]:5000/app:1.0", "[::1]:5000/app"),
            ("[::1]/app", "[::1]/app"),
            (
                "myreg.azurecr.io/team/app/api",
                "myreg.azurecr.io/team/app/api",
            ),
            ("MyReg.AzureCR.io/Team/App:1.0", "myreg.azurecr.io/team/app"),
            ("myreg.azurecr.io:443/team/app", "myreg.azurecr.io/team/app"),
            ("gitreg:443/team/app", "gitreg:443/team/app"),
            (
                "oci://myreg.azurecr.io/helm/mychart",
                "myreg.azurecr.io/helm/mychart",
            ),
            ("https://myreg.azurecr.io/app/", "myreg.azurecr.io/app"),
            ("http://localhost:5000/app", "localhost:5000/app"),
            (
                "harbor.example.com:8443/lib/app:1.0",
                "harbor.example.com:8443/lib/app",
            ),
            ("localhost/harbor/alpine@DIGEST", "localhost/harbor/alpine"),
            ("ghcr.io/Owner/Name:tag", "ghcr.io/owner/name"),
            ("quay.io/a__b/c-d.e--f", "quay.io/a__b/c-d.e--f"),
        ];
        for (input, want) in cases {
            let input = input.replace("DIGEST", digest);
            assert_eq!(image_key(&input).as_deref(), Ok(*want), "input {input:?}");
        }
    }

    #[test]
    fn image_key_rejects() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("myreg.io//app", "empty path segment"),
            ("myreg.io/app//", "empty path segment"),
            ("myreg.io/", "registry host with no repository"),
            ("myreg.io", "registry host with no repository"),
            ("localhost:5000", "registry host with no repository"),
            ("[::1]:5000", "registry host with no repository"),
            ("docker.io", "registry host with no repository"),
            ("myreg.io/my app", "a space"),
            (" nginx", "a space"),
            ("myreg.io/app\n", "a line break"),
            ("myreg.io/äpp", "non-ASCII"),
            ("myreg.io/app!", "not a valid OCI repository name component"),
            ("myreg.io/-app", "not a valid OCI repository name component"),
            (
                "myreg.io/app./x",
                "not a valid OCI repository name component",
            ),
            (
                "myreg.io/a___b",
                "not a valid OCI repository name component",
            ),
            ("myreg.io/app:", "not a valid OCI tag"),
            ("myreg.io/app:.x", "not a valid OCI tag"),
            ("myreg.io/app@sha256", "digest"),
            ("myreg.io/app@sha256:", "digest"),
            ("myreg.io/app@sha256:ab/cd", "digest"),
            ("ftp://myreg.io/app", "scheme"),
            ("my_reg.io/app", "not a valid host name"),
            ("myreg.io:0/app", "port"),
            ("myreg.io:99999/app", "port"),
            ("myreg.io:/app", "port"),
            ("[zz]:5000/app", "IPv6"),
            ("[::1/app", "without closing"),
            ("@sha256:abcd", "no repository"),
        ];
        for (input, why) in cases {
            let e = image_key(input).expect_err(input);
            assert_eq!(e.kind, IMAGE);
            assert!(
                e.reason.contains(why),
                "input {input:?}: reason {:?}",
                e.reason
            );
        }
    }

    #[test]
    fn image_keys_of_different_repositories_differ() {
        let pairs = [
            ("docker.io/library/nginx", "docker.io/nginxinc/nginx"),
            ("myreg.io/a", "myreg.io/a/b"),
            ("myreg.io:5000/a", "myreg.io:5001/a"),
            ("myreg.io:5000/a", "myreg.io/a"),
            ("localhost/app", "app"),
            ("ghcr.io/org/app", "docker.io/org/app"),
        ];
        for (a, b) in pairs {
            assert_ne!(image_key(a).unwrap(), image_key(b).unwrap(), "{a} vs {b}");
        }
    }

    #[test]
    fn errors_never_show_userinfo_or_query() {
        let secret = "s3cr";
        let inputs = [
            (GIT, "https://user:s3cr3t@github.com"),
            (GIT, "https://user:s3cr3t@github.com/org//repo"),
            (GIT, "user:s3cr3t@host"),
            (GIT, "ftp://user:s3cr3t@host/x"),
            (GIT, "https://user:s3cr/3t@host/x"),
            (GIT, "https://user:s3cr3t@host/x%zz"),
            (IMAGE, "https://user:s3cr3t@myreg.io/app@sha256:abc"),
            (GIT, "https://github.com/org/repo?token=s3cr3t"),
            (IMAGE, "https://user:s3cr3t@myreg.io/app"),
            (IMAGE, "user:s3cr3t@myreg.io/app"),
            (CHART, "https://user:s3cr3t@charts.example.com//stable"),
            (CHART, "https://user:s3cr3t@charts.example.com/stable"),
            // Found by fuzz/ (git_key, image_key, chart_key targets): no path after the
            // userinfo, and a `://` that does not follow a scheme name.
            (IMAGE, "https://user:s3cr3t@myreg.io"),
            (IMAGE, "git+ssh://user:s3cr3t@myreg.io"),
            (CHART, "git+ssh://user:s3cr3t@"),
            (GIT, "\u{1}:s3cr3t@\0ttps://user:pa\u{17}a/b"),
            (IMAGE, "x:s3cr3t@y https://h/a"),
        ];
        for (kind, input) in inputs {
            let e = match kind {
                GIT => git_key(input),
                IMAGE => image_key(input),
                _ => chart_key(input, input.contains("//s").then_some("x")),
            }
            .expect_err(input);
            let shown = e.to_string();
            assert!(!shown.contains(secret), "{input:?} leaked in {shown:?}");
            assert!(shown.contains("***"), "{input:?}: {shown:?}");
        }
        // A digest is not userinfo: keep it visible, it helps.
        let e = image_key("nginx@sha256:zz!").unwrap_err();
        assert!(e.url.contains("nginx@sha256"), "{:?}", e.url);
    }

    #[test]
    fn long_inputs_are_cut_in_errors() {
        let long = format!("myreg.io/{}", "ä".repeat(1000));
        let e = image_key(&long).unwrap_err();
        assert!(e.url.len() <= MAX_ERROR_URL + 3, "{}", e.url.len());
    }

    #[test]
    fn registry_host_and_alias() {
        assert_eq!(registry_host("docker.io/library/nginx"), "docker.io");
        assert_eq!(registry_host("localhost:5000/app"), "localhost:5000");
        assert_eq!(registry_host("[::1]:5000/a/b"), "[::1]:5000");
        assert_eq!(registry_host("nohost"), "nohost");
        let cases = [
            (
                "docker.io/library/nginx",
                "mirror.gcr.io",
                "mirror.gcr.io/library/nginx",
            ),
            (
                "docker.io/org/app",
                "Mirror.Local:5000",
                "mirror.local:5000/org/app",
            ),
            ("myreg.io/app", "index.docker.io", "docker.io/library/app"),
            ("myreg.io/team/app", "docker.io", "docker.io/team/app"),
            ("myreg.io:5000/app", "myreg.io:443", "myreg.io/app"),
            ("localhost:5000/a/b", "[::1]:5000", "[::1]:5000/a/b"),
        ];
        for (key, host, want) in cases {
            let got = with_registry_host(key, host);
            assert_eq!(got, want);
            assert_eq!(image_key(&got).as_deref(), Ok(want), "result must be a key");
        }
        assert_eq!(
            canonical_registry_host("https://Registry-1.Docker.io/").as_deref(),
            Ok("docker.io")
        );
        assert_eq!(
            canonical_registry_host("Reg.io:443").as_deref(),
            Ok("reg.io")
        );
        assert_eq!(
            canonical_registry_host("reg.io:5000").as_deref(),
            Ok("reg.io:5000")
        );
        for bad in ["", "reg io", "reg.io:x", "reg_io", "reg.io/app"] {
            assert!(canonical_registry_host(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn chart_key_table() {
        let n = Some("nginx");
        let cases: &[(&str, Option<&str>, &str)] = &[
            (
                "oci://myreg.azurecr.io/helm/mychart",
                None,
                "myreg.azurecr.io/helm/mychart",
            ),
            ("OCI://MyReg.io/Charts/App:1.0", None, "myreg.io/charts/app"),
            ("oci://ghcr.io/org/chart", Some(""), "ghcr.io/org/chart"),
            ("oci://localhost:5000/chart", None, "localhost:5000/chart"),
            (
                "myreg.azurecr.io/helm/mychart",
                None,
                "myreg.azurecr.io/helm/mychart",
            ),
            (
                "https://charts.example.com/stable/",
                n,
                "helm:charts.example.com/stable#nginx",
            ),
            (
                "https://charts.example.com/stable",
                n,
                "helm:charts.example.com/stable#nginx",
            ),
            (
                "http://charts.example.com/stable",
                n,
                "helm:charts.example.com/stable#nginx",
            ),
            (
                "HTTPS://Charts.Example.COM:443/stable/index.yaml",
                n,
                "helm:charts.example.com/stable#nginx",
            ),
            (
                "http://charts.example.com:80/stable/",
                n,
                "helm:charts.example.com/stable#nginx",
            ),
            (
                "https://user:pw@charts.example.com/stable",
                n,
                "helm:charts.example.com/stable#nginx",
            ),
            (
                "https://charts.example.com/stable?token=x",
                n,
                "helm:charts.example.com/stable#nginx",
            ),
            (
                "https://charts.example.com",
                n,
                "helm:charts.example.com#nginx",
            ),
            (
                "https://charts.example.com/",
                n,
                "helm:charts.example.com#nginx",
            ),
            (
                "https://charts.example.com/index.yaml",
                n,
                "helm:charts.example.com#nginx",
            ),
            (
                "https://charts.example.com:8443/Stable",
                n,
                "helm:charts.example.com:8443/Stable#nginx",
            ),
            (
                "https://charts.example.com/my%20charts",
                n,
                "helm:charts.example.com/my charts#nginx",
            ),
            (
                "https://charts.example.com/a%2Fb",
                n,
                "helm:charts.example.com/a%2Fb#nginx",
            ),
            (
                "https://charts.example.com/stable",
                Some("MyChart"),
                "helm:charts.example.com/stable#MyChart",
            ),
            (
                "helm:charts.example.com/stable#nginx",
                None,
                "helm:charts.example.com/stable#nginx",
            ),
            (
                "helm:charts.example.com/stable#nginx",
                n,
                "helm:charts.example.com/stable#nginx",
            ),
            (
                "helm:charts.example.com/stable",
                n,
                "helm:charts.example.com/stable#nginx",
            ),
            (
                "https://[::1]:8080/charts",
                n,
                "helm:[::1]:8080/charts#nginx",
            ),
        ];
        for (url, name, want) in cases {
            assert_eq!(
                chart_key(url, *name).as_deref(),
                Ok(*want),
                "{url:?} {name:?}"
            );
        }
        // An OCI chart subscription and an image push of the same repository share a key.
        assert_eq!(
            chart_key("oci://myreg.azurecr.io/helm/mychart", None),
            image_key("myreg.azurecr.io/helm/mychart:1.0.0")
        );
    }

    #[test]
    fn chart_key_rejects() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            (
                "https://charts.example.com/stable",
                None,
                "needs a chart name",
            ),
            (
                "https://charts.example.com/stable",
                Some(""),
                "needs a chart name",
            ),
            (
                "oci://ghcr.io/org/chart",
                Some("chart"),
                "leave the chart name",
            ),
            ("charts.example.com/stable", Some("nginx"), "https://"),
            (
                "ftp://charts.example.com/stable",
                Some("nginx"),
                "oci://, https://",
            ),
            ("helm:charts.example.com/stable#a", Some("b"), "names chart"),
            ("helm:charts.example.com/stable", None, "no chart name"),
            (
                "helm:charts.example.com/stable#",
                None,
                "chart name is empty",
            ),
            (
                "https://charts.example.com/stable",
                Some("a/b"),
                "chart name",
            ),
            (
                "https://charts.example.com/stable",
                Some("a b"),
                "chart name",
            ),
            (
                "https://charts.example.com//stable",
                Some("x"),
                "empty segment",
            ),
            ("https://", Some("x"), "host is empty"),
            (
                "https://charts.example.com/%zz",
                Some("x"),
                "two hex digits",
            ),
            ("oci://", None, "no repository"),
        ];
        for (url, name, why) in cases {
            let e = chart_key(url, *name).expect_err(url);
            assert_eq!(e.kind, CHART);
            assert!(e.reason.contains(why), "{url:?} {name:?}: {:?}", e.reason);
        }
        assert_ne!(
            chart_key("https://charts.example.com/stable", Some("nginx")).unwrap(),
            chart_key("https://charts.example.com/stable", Some("redis")).unwrap()
        );
        assert_ne!(
            chart_key("https://charts.example.com/stable", Some("nginx")).unwrap(),
            chart_key("https://charts.example.com/incubator", Some("nginx")).unwrap()
        );
    }

    #[test]
    fn git_key_table() {
        let cases: &[(&str, &str)] = &[
            // GitHub spellings (case-insensitive host).
            ("https://github.com/Org/Repo", "github.com/org/repo"),
            ("https://github.com/Org/Repo.git", "github.com/org/repo"),
            ("https://github.com/org/repo/", "github.com/org/repo"),
            ("https://github.com/org/repo.git/", "github.com/org/repo"),
            ("http://GitHub.com/org/repo", "github.com/org/repo"),
            ("https://user@github.com/org/repo", "github.com/org/repo"),
            (
                "https://user:p%40ss@github.com/org/repo",
                "github.com/org/repo",
            ),
            ("https://github.com:443/org/repo", "github.com/org/repo"),
            ("git://github.com/org/repo.git", "github.com/org/repo"),
            ("ssh://git@github.com/org/repo.git", "github.com/org/repo"),
            (
                "ssh://git@github.com:22/org/repo.git",
                "github.com/org/repo",
            ),
            (
                "ssh://git@ssh.github.com:443/Org/Repo.git",
                "github.com/org/repo",
            ),
            ("git+ssh://git@github.com/org/repo", "github.com/org/repo"),
            ("git@github.com:Org/Repo.git", "github.com/org/repo"),
            ("github.com:org/repo", "github.com/org/repo"),
            ("github.com/org/repo", "github.com/org/repo"),
            (
                "git@gitlab.com:Group/Sub/Proj.git",
                "gitlab.com/group/sub/proj",
            ),
            ("https://bitbucket.org/Team/Repo", "bitbucket.org/team/repo"),
            // Generic hosts keep path case.
            ("https://git.corp/Team/Repo.git", "git.corp/Team/Repo"),
            ("git@git.corp:Team/Repo.git", "git.corp/Team/Repo"),
            (
                "ssh://git@git.corp:2222/Team/Repo",
                "git.corp:2222/Team/Repo",
            ),
            ("https://git.corp:8443/Team/Repo", "git.corp:8443/Team/Repo"),
            ("git.corp:8443/Team/Repo", "git.corp:8443/Team/Repo"),
            ("git://git.corp:9418/r", "git.corp/r"),
            ("https://git.corp:9418/r", "git.corp:9418/r"),
            ("git@git.corp:123/r", "git.corp/123/r"),
            ("git@git.corp:/srv/r.git", "git.corp/srv/r"),
            ("https://[::1]:3000/a/b", "[::1]:3000/a/b"),
            ("git@[::1]:a/b", "[::1]/a/b"),
            ("https://my_git.corp/a", "my_git.corp/a"),
            ("https://git.corp/a%20b/c", "git.corp/a b/c"),
            ("https://git.corp/a b/c", "git.corp/a b/c"),
            ("https://git.corp/a%2fb", "git.corp/a%2Fb"),
            ("https://git.corp/a%25b", "git.corp/a%25b"),
            ("https://git.corp/r.git.git", "git.corp/r"),
            ("https://git.corp/%C3%A9", "git.corp/é"),
            ("https://github.com/%C3%89", "github.com/é"),
            // Azure Repos: one repository, every spelling.
            (
                "https://dev.azure.com/Org/Proj/_git/Repo",
                "dev.azure.com/org/proj/repo",
            ),
            (
                "https://Org@dev.azure.com/Org/Proj/_git/Repo",
                "dev.azure.com/org/proj/repo",
            ),
            (
                "https://org.visualstudio.com/Proj/_git/Repo",
                "dev.azure.com/org/proj/repo",
            ),
            (
                "https://org.visualstudio.com/DefaultCollection/Proj/_git/Repo",
                "dev.azure.com/org/proj/repo",
            ),
            (
                "git@ssh.dev.azure.com:v3/Org/Proj/Repo",
                "dev.azure.com/org/proj/repo",
            ),
            (
                "ssh://git@ssh.dev.azure.com/v3/Org/Proj/Repo",
                "dev.azure.com/org/proj/repo",
            ),
            (
                "org@vs-ssh.visualstudio.com:v3/Org/Proj/Repo",
                "dev.azure.com/org/proj/repo",
            ),
            (
                "ssh://org@vs-ssh.visualstudio.com:22/v3/Org/Proj/Repo",
                "dev.azure.com/org/proj/repo",
            ),
            (
                "ssh://git@ssh.org.visualstudio.com/v3/DefaultCollection/Proj/Repo",
                "dev.azure.com/org/proj/repo",
            ),
            ("dev.azure.com/org/proj/repo", "dev.azure.com/org/proj/repo"),
            (
                "https://dev.azure.com/org/Proj/_git/Repo.git",
                "dev.azure.com/org/proj/repo",
            ),
            // Project omitted: the repository is named like its project.
            (
                "https://dev.azure.com/Org/_git/Repo",
                "dev.azure.com/org/repo/repo",
            ),
            (
                "https://org.visualstudio.com/DefaultCollection/_git/Repo",
                "dev.azure.com/org/repo/repo",
            ),
            (
                "https://org.visualstudio.com/_git/Repo",
                "dev.azure.com/org/repo/repo",
            ),
            (
                "ssh://git@ssh.org.visualstudio.com/v3/DefaultCollection/Repo",
                "dev.azure.com/org/repo/repo",
            ),
            (
                "https://dev.azure.com/Org/Repo/_git/Repo",
                "dev.azure.com/org/repo/repo",
            ),
            // Spaces, encoded or not (the 2015 capture and the REST API).
            (
                "https://v1platformtest.visualstudio.com/DefaultCollection/_git/V1 Integration",
                "dev.azure.com/v1platformtest/v1 integration/v1 integration",
            ),
            (
                "https://dev.azure.com/v1platformtest/_git/V1%20Integration",
                "dev.azure.com/v1platformtest/v1 integration/v1 integration",
            ),
            (
                "https://dev.azure.com/fabrikam/Fabrikam%20Fiber/_git/Fabrikam%20Fiber",
                "dev.azure.com/fabrikam/fabrikam fiber/fabrikam fiber",
            ),
            // Azure DevOps Server / TFS: HTTPS and SSH forms meet.
            (
                "https://tfs.corp:8080/tfs/Coll/Proj/_git/Repo",
                "tfs.corp/coll/proj/repo",
            ),
            (
                "ssh://tfs.corp:22/Coll/Proj/_git/Repo",
                "tfs.corp/coll/proj/repo",
            ),
            (
                "https://ados.corp/Coll/Proj/_git/Repo",
                "ados.corp/coll/proj/repo",
            ),
            (
                "https://ados.corp/Coll/_git/Repo",
                "ados.corp/coll/repo/repo",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(git_key(input).as_deref(), Ok(*want), "input {input:?}");
        }
    }

    #[test]
    fn git_key_rejects() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("https://github.com", "no repository path"),
            ("https://github.com/", "no repository path"),
            ("git@github.com:", "no repository path"),
            ("git@github.com:.git", "no repository path"),
            ("https://github.com/org//repo", "empty segment"),
            ("https://github.com/org/../repo", "\"..\" segment"),
            (
                "https://github.com/org/repo%20",
                "starts or ends with a space",
            ),
            ("https://github.com/org/repo?x=1", "query"),
            ("https://github.com/org/repo#main", "query"),
            ("https://github.com/a%zz", "two hex digits"),
            ("https://github.com/a%ff", "not UTF-8"),
            ("ftp://github.com/org/repo", "scheme"),
            ("https:///org/repo", "host is empty"),
            ("https://git hub.com/org/repo", "no spaces"),
            ("https://github.com:99999/org/repo", "port"),
            ("/srv/git/repo", "local paths"),
            ("./repo", "local paths"),
            (" https://github.com/org/repo", "whitespace"),
            ("https://github.com/org/re\tpo", "a tab"),
            ("https://dev.azure.com/org/proj", "Azure Repos path"),
            (
                "https://dev.azure.com/org/proj/_git/repo/extra",
                "Azure Repos path",
            ),
            ("git@ssh.dev.azure.com:org/proj/repo", "Azure Repos path"),
            ("https://org.visualstudio.com/proj/repo", "Azure Repos path"),
            ("https://dev.azure.com/org/proj/_git", "`_git` cannot"),
            ("https://tfs.corp/a/_git/b/_git/c", "more than one `_git`"),
        ];
        for (input, why) in cases {
            let e = git_key(input).expect_err(input);
            assert_eq!(e.kind, GIT);
            assert!(
                e.reason.contains(why),
                "input {input:?}: reason {:?}",
                e.reason
            );
        }
    }

    #[test]
    fn git_keys_of_different_repositories_differ() {
        let pairs = [
            ("https://github.com/Org/Repo", "https://gitlab.com/Org/Repo"),
            ("https://git.corp/Org/Repo", "https://git.corp/org/repo"),
            ("https://git.corp/a", "https://git.corp/a/b"),
            ("https://git.corp:8443/a", "https://git.corp:9443/a"),
            ("https://git.corp:8443/a", "https://git.corp/a"),
            (
                "https://dev.azure.com/o/p/_git/r",
                "https://dev.azure.com/o/p/_git/r2",
            ),
            (
                "https://dev.azure.com/o/p/_git/r",
                "https://dev.azure.com/o2/p/_git/r",
            ),
            (
                "https://dev.azure.com/o/_git/r",
                "https://dev.azure.com/o/p/_git/r",
            ),
            ("https://git.corp/a%2Fb", "https://git.corp/a/b"),
        ];
        for (a, b) in pairs {
            assert_ne!(git_key(a).unwrap(), git_key(b).unwrap(), "{a} vs {b}");
        }
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;
        use proptest::sample::select;

        /// A first segment with a `.` would read as a registry host, so only later ones get one.
        fn segments() -> impl Strategy<Value = Vec<String>> {
            (
                "[a-zA-Z0-9]{1,4}((__|[_-])[a-z0-9]{1,3})?",
                prop::collection::vec("[a-zA-Z0-9]{1,4}((__|-+|[._])[a-z0-9]{1,3})?", 0..3),
            )
                .prop_map(|(first, mut rest)| {
                    rest.insert(0, first);
                    rest
                })
        }

        fn image_input() -> impl Strategy<Value = String> {
            (
                select(vec!["", "oci://", "https://", "HTTP://", "docker://"]),
                select(vec![
                    "",
                    "docker.io/",
                    "Index.Docker.io/",
                    "registry-1.docker.io/",
                    "registry.hub.docker.com/",
                    "localhost/",
                    "localhost:5000/",
                    "[::1]:5000/",
                    "192.168.1.5:05000/",
                    "MyReg.azurecr.io/",
                    "host:443/",
                ]),
                segments(),
                prop::option::of("[A-Za-z0-9_][A-Za-z0-9._-]{0,5}"),
                prop::option::of("sha256:[0-9a-f]{8}"),
                any::<bool>(),
            )
                .prop_map(|(scheme, host, segs, tag, digest, slash)| {
                    let mut s = format!("{scheme}{host}{}", segs.join("/"));
                    if let Some(t) = tag {
                        s.push(':');
                        s.push_str(&t);
                    }
                    if let Some(d) = digest {
                        s.push('@');
                        s.push_str(&d);
                    }
                    if slash {
                        s.push('/');
                    }
                    s
                })
        }

        fn git_input() -> impl Strategy<Value = String> {
            let path = prop::collection::vec("[a-zA-Z0-9 ._-]{0,5}|%[0-9a-fA-F]{2}|_git|v3", 0..5)
                .prop_map(|v| v.join("/"));
            (
                select(vec![
                    "https://", "http://", "ssh://", "git://", "SSH://", "scp", "bare",
                ]),
                select(vec!["", "git@", "user:p%40ss@", "org@"]),
                select(vec![
                    "github.com",
                    "GitHub.com",
                    "gitlab.com",
                    "git.example.com",
                    "ssh.github.com",
                    "dev.azure.com",
                    "ssh.dev.azure.com",
                    "vs-ssh.visualstudio.com",
                    "org.visualstudio.com",
                    "ssh.org.visualstudio.com",
                    "tfs.corp",
                    "[::1]",
                    "my_host",
                ]),
                select(vec!["", ":22", ":443", ":80", ":8080", ":9418", ":0"]),
                path,
                select(vec!["", ".git", "/", ".git/", "/.git"]),
            )
                .prop_map(|(scheme, user, host, port, path, suffix)| match scheme {
                    "scp" => format!("{user}{host}:{path}{suffix}"),
                    "bare" => format!("{host}{port}/{path}{suffix}"),
                    s => format!("{s}{user}{host}{port}/{path}{suffix}"),
                })
        }

        fn chart_input() -> impl Strategy<Value = (String, String)> {
            (
                select(vec!["https://", "http://", "HTTPS://"]),
                select(vec!["", "u:p@"]),
                select(vec![
                    "charts.example.com",
                    "Charts.Example.com",
                    "[::1]",
                    "h_x",
                ]),
                select(vec!["", ":80", ":443", ":8080"]),
                prop::collection::vec("[a-zA-Z0-9 ._-]{1,5}|%[0-9a-fA-F]{2}|index.yaml", 0..3),
                select(vec!["", "/", "/index.yaml", "?t=1"]),
                "[a-zA-Z0-9._-]{1,8}",
            )
                .prop_map(|(scheme, user, host, port, segs, suffix, name)| {
                    let path: String = segs.iter().map(|s| format!("/{s}")).collect();
                    (format!("{scheme}{user}{host}{port}{path}{suffix}"), name)
                })
        }

        /// Characters that steer the parsers, to reach their odd corners.
        fn url_soup() -> impl Strategy<Value = String> {
            "[a-zA-Z0-9:/@.\\[\\]%#?_~ +-]{0,30}"
        }

        proptest! {
            // Regression files would land outside this module's file; failures print the input.
            #![proptest_config(ProptestConfig {
                failure_persistence: None,
                ..ProptestConfig::default()
            })]

            #[test]
            fn image_keys_are_fixed_points(input in image_input()) {
                let key = image_key(&input);
                prop_assert!(key.is_ok(), "{input:?}: {key:?}");
                let key = key.unwrap();
                prop_assert_eq!(image_key(&key), Ok(key.clone()));
                prop_assert_eq!(chart_key(&format!("oci://{key}"), None), Ok(key.clone()));
                prop_assert_eq!(image_key(&with_registry_host(&key, registry_host(&key))), Ok(key));
            }

            #[test]
            fn git_keys_are_fixed_points(input in git_input()) {
                if let Ok(key) = git_key(&input) {
                    prop_assert_eq!(git_key(&key), Ok(key.clone()), "input {:?}", input);
                    prop_assert!(!key.contains("p@ss") && !key.contains("p%40ss"));
                }
            }

            #[test]
            fn chart_keys_are_fixed_points((url, name) in chart_input()) {
                let key = chart_key(&url, Some(&name));
                if let Ok(key) = key {
                    prop_assert!(key.starts_with("helm:"));
                    prop_assert_eq!(chart_key(&key, Some(&name)), Ok(key.clone()));
                    prop_assert_eq!(chart_key(&key, None), Ok(key.clone()));
                    prop_assert!(image_key(&key).is_err());
                }
            }

            #[test]
            fn soup_never_panics_and_keys_are_fixed_points(s in url_soup(), n in url_soup()) {
                if let Ok(k) = image_key(&s) {
                    prop_assert_eq!(image_key(&k), Ok(k.clone()), "input {:?}", s);
                }
                if let Ok(k) = git_key(&s) {
                    prop_assert_eq!(git_key(&k), Ok(k.clone()), "input {:?}", s);
                }
                if let Ok(k) = chart_key(&s, Some(&n)) {
                    prop_assert_eq!(chart_key(&k, Some(&n)), Ok(k.clone()), "input {:?} {:?}", s, n);
                }
                if let Ok(k) = chart_key(&s, None) {
                    prop_assert_eq!(chart_key(&k, None), Ok(k.clone()), "input {:?}", s);
                }
                let _ = canonical_registry_host(&s);
                let _ = with_registry_host(&s, &n);
                let _ = registry_host(&s);
            }

            #[test]
            fn arbitrary_strings_never_panic(s in any::<String>(), n in any::<String>()) {
                let _ = image_key(&s);
                let _ = git_key(&s);
                let _ = chart_key(&s, Some(&n));
                let _ = chart_key(&s, None);
                let _ = canonical_registry_host(&s);
                let _ = with_registry_host(&s, &n);
            }
        }
    }
}
