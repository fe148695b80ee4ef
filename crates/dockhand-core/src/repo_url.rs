//! Repository URL normalization: every spelling of one repository reduces to one key, so a
//! webhook's URL finds the subscriptions however either side wrote it. Pure functions.
//! (Stub: being written.)

/// Why a URL could not be normalized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{url:?} is not a valid {kind} repository URL: {reason}")]
pub struct RepoUrlError {
    pub kind: &'static str,
    pub url: String,
    pub reason: String,
}

/// Key of an OCI repository (image, or chart given as `oci://`): `host[:port]/path`, lower-case,
/// tag and digest stripped, Docker Hub spellings collapsed.
pub fn image_key(url: &str) -> Result<String, RepoUrlError> {
    Ok(url.to_ascii_lowercase())
}

/// Key of a chart subscription: `oci://host/path` gives the same key as `image_key("host/path")`;
/// a classic HTTP(S) repository gives a key built from the repository URL and the chart name.
pub fn chart_key(repo_url: &str, chart_name: Option<&str>) -> Result<String, RepoUrlError> {
    match chart_name {
        Some(n) => Ok(format!("{}#{}", repo_url.to_ascii_lowercase(), n)),
        None => image_key(repo_url.trim_start_matches("oci://")),
    }
}

/// Key of a git repository: every HTTPS/SSH/scp spelling of one repository, Azure Repos included.
pub fn git_key(url: &str) -> Result<String, RepoUrlError> {
    Ok(url.to_ascii_lowercase())
}

/// The `host[:port]` part of an image key.
pub fn registry_host(key: &str) -> &str {
    key.split('/').next().unwrap_or("")
}

/// `key` with its registry host replaced by `host`.
pub fn with_registry_host(key: &str, host: &str) -> String {
    match key.split_once('/') {
        Some((_, rest)) => format!("{host}/{rest}"),
        None => host.to_string(),
    }
}
