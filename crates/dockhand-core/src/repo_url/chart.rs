//! Chart keys: `oci://` charts share image keys; classic HTTP(S) repositories key on the
//! repository location and the chart name (`helm:host[:port][/path]#chart`).

use super::host::{host_key, split_host_port};
use super::image::image_key;
use super::path::{check_url_chars, decode_path, path_segments};
use super::sanitize::sanitize;
use super::{RepoUrlError, CHART};

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
    let repo_url = &*sanitize(repo_url);
    let err = |reason: String| RepoUrlError::new(CHART, repo_url, reason);
    // The name is sanitized as the URL is: a key read back (`helm:host#name`) is sanitized
    // whole, so an invisible character kept in the name would make a key disagree with itself.
    let name = chart_name.map(sanitize);
    let name = name.as_deref().filter(|n| !n.is_empty());
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
