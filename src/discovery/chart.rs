//! Chart subscriptions: OCI charts through the registry client (Helm stores `+` in a version as
//! `_` in the tag), classic repositories through their `index.yaml`. Versions are read leniently
//! (`1.2` is 1.2.0) and filtered by `semverConstraint` with the core's rule.

use std::collections::HashMap;

use dockhand_core::config::{ChartSubscription, Credential};
use dockhand_core::matching::{self, semver::parse_version};
use serde::Deserialize;

use super::error::{strip_query, DiscoveryError};
use super::freight::Chart;
use super::registry::{endpoint, Session};
use super::{fetch, Discovery};

/// Versions `sub` would consider, highest first. Pure.
pub fn select(sub: &ChartSubscription, versions: &[String]) -> Vec<String> {
    let mut list: Vec<_> = versions
        .iter()
        .filter(|v| matching::chart_version(sub, v).is_ok())
        .filter_map(|v| parse_version(v, false).map(|parsed| (parsed, v)))
        .collect();
    list.sort_unstable_by(|(a, _), (b, _)| b.cmp_precedence(a));
    list.dedup_by(|(a, _), (b, _)| a == b);
    list.into_iter()
        .take(sub.discovery_limit as usize)
        .map(|(_, v)| v.clone())
        .collect()
}

pub async fn discover(
    d: &Discovery,
    sub: &ChartSubscription,
    cred: Option<&Credential>,
) -> Result<Vec<Chart>, DiscoveryError> {
    let versions = if sub.repo_url.to_ascii_lowercase().starts_with("oci://") {
        let ep = endpoint(&sub.repo_url, false, &d.settings.insecure_registries)?;
        let tags = Session::new(d, ep, cred).tags().await?;
        tags.into_iter().map(|t| t.replace('_', "+")).collect()
    } else {
        index_versions(d, sub, cred).await?
    };
    Ok(select(sub, &versions)
        .into_iter()
        .map(|version| Chart {
            repo_url: sub.repo_url.clone(),
            name: sub.name.clone(),
            version,
        })
        .collect())
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    entries: HashMap<String, Vec<Entry>>,
}

#[derive(Deserialize)]
struct Entry {
    version: Option<String>,
}

/// The versions of `sub.name` in a classic repository's `index.yaml`.
async fn index_versions(
    d: &Discovery,
    sub: &ChartSubscription,
    cred: Option<&Credential>,
) -> Result<Vec<String>, DiscoveryError> {
    let name = sub.name.as_deref().unwrap_or_default();
    let url = format!("{}/index.yaml", sub.repo_url.trim_end_matches('/'));
    let host = reqwest::Url::parse(&url)
        .map_err(|e| DiscoveryError::Invalid(format!("{}: {e}", strip_query(&url))))?
        .host_str()
        .unwrap_or_default()
        .to_string();
    let mut req = d.client(false).get(&url);
    if let Some(c) = cred {
        req = req.basic_auth(&c.username, Some(c.password.expose()));
    }
    let resp = {
        let _permit = d.host_permit(&host).await;
        req.send().await.map_err(|e| d.transport_error(&url, &e))?
    };
    if !resp.status().is_success() {
        let status = resp.status();
        return Err(DiscoveryError::Status {
            url: strip_query(&url),
            status: status.as_u16(),
            hint: format!(" {}", status.canonical_reason().unwrap_or(""))
                .trim_end()
                .to_string(),
        });
    }
    let body = fetch::body(&url, resp, d.settings.max_response_bytes, d.timeout_secs()).await?;
    let index: Index = serde_yaml_ng::from_slice(&body).map_err(|e| DiscoveryError::Malformed {
        url: strip_query(&url),
        what: "chart index",
        reason: e.to_string(),
    })?;
    let Some(entries) = index.entries.get(name) else {
        return Err(DiscoveryError::Invalid(format!(
            "{}: no chart named {name:?} in the index",
            strip_query(&url)
        )));
    };
    Ok(entries.iter().filter_map(|e| e.version.clone()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dockhand_core::matching::semver::Constraint;

    #[test]
    fn select_orders_filters_and_limits() {
        let sub = ChartSubscription {
            repo_url: "https://charts.example.com".into(),
            name: Some("app".into()),
            semver_constraint: Some("^1.0".into()),
            semver: Some(Constraint::parse("^1.0").unwrap()),
            discovery_limit: 2,
        };
        let versions: Vec<String> = ["1.0.0", "1.2", "1.10.1", "2.0.0", "junk"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(select(&sub, &versions), vec!["1.10.1", "1.2"]);
    }
}
