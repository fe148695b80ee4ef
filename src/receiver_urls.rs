//! Receiver URLs as users register them: `--base-url` plus the Kargo-compatible path. The
//! equivalent of reading a ProjectConfig's `status.webhookReceivers`.

use dockhand_core::config::Config;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ReceiverRow {
    pub project: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub path: String,
    pub url: String,
}

/// The path component of a base URL (`https://h/hooks/` -> `/hooks`; none -> ``).
pub fn base_path(base_url: &str) -> String {
    let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
    match rest.find('/') {
        Some(i) => rest[i..].trim_end_matches('/').to_string(),
        None => String::new(),
    }
}

pub fn rows(config: &Config, base_url: &str) -> Vec<ReceiverRow> {
    let base_url = base_url.trim_end_matches('/');
    let base = base_path(base_url);
    config
        .receivers
        .iter()
        .map(|r| ReceiverRow {
            project: r.project.clone(),
            name: r.name.clone(),
            kind: r.kind.name.to_string(),
            path: format!("{base}{}", r.path),
            url: format!("{base_url}{}", r.path),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths() {
        for (url, want) in [
            ("http://localhost:8080", ""),
            ("https://hooks.example.com/", ""),
            ("https://example.com/dockhand", "/dockhand"),
            ("https://example.com/a/b/", "/a/b"),
        ] {
            assert_eq!(base_path(url), want, "{url}");
        }
    }
}
