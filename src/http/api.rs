//! The admin API's wire format: the JSON bodies of `/api/v1/...`, built here from the
//! configuration and the store's records, and read back by the CLI clients (`client.rs`).
//!
//! Core, store and discovery types are never serialized to the API directly (rust-analyzer's
//! rule: a serializable counterpart, not a serializable core type), so renaming a field or
//! changing a Rust type elsewhere cannot change the API by accident; `tests/e2e/admin_api.rs` pins
//! the shape of every endpoint. Conventions:
//! - field names are camelCase, repository URLs are `repoURL` (as Kargo's API spells them);
//! - every field is always present (`null` when there is no value, `[]` when a list is empty),
//!   except in artifacts, which follow Kargo's Freight: empty lists and absent optional fields
//!   (`createdAt`, `name`, `branch`, `tag`) are left out;
//! - enumerations are Kargo's spellings (`SemVer`, `NewestFromBranch`, `Automatic`).

use dockhand_core::config::{
    CommitSelectionStrategy, FreightCreationPolicy, ImageSelectionStrategy,
    Subscription as ConfigSubscription, Warehouse as ConfigWarehouse,
};
use serde::{Deserialize, Serialize};

use crate::discovery::freight;
use crate::discovery::SubscriptionResult;
use crate::receiver_urls::ReceiverRow;
use crate::store;

/// `GET /api/v1/receivers`: one receiver and the URL to register with the sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receiver {
    pub project: String,
    pub name: String,
    /// The receiver type (`azure`, `harbor`).
    #[serde(rename = "type")]
    pub kind: String,
    pub path: String,
    pub url: String,
}

impl From<ReceiverRow> for Receiver {
    fn from(r: ReceiverRow) -> Self {
        Receiver {
            project: r.project,
            name: r.name,
            kind: r.kind,
            path: r.path,
            url: r.url,
        }
    }
}

/// `GET /api/v1/deliveries`: one webhook delivery as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub id: String,
    /// RFC 3339 UTC.
    pub received_at: String,
    pub project: String,
    pub receiver: String,
    pub receiver_type: String,
    /// `acr`, `azure-devops`, `event-grid`, `harbor`, `unknown`.
    pub source: String,
    pub event_type: Option<String>,
    pub provider_id: Option<String>,
    /// The query string of the receiver URL, without the `?`.
    pub query: Option<String>,
    /// HTTP status returned.
    pub status: u16,
    /// `refreshed`, `unmatched`, `ignored`, `ping`, `handshake`, `rejected`, ...
    pub outcome: String,
    /// The message returned (`msg` or `error`).
    pub message: String,
    /// Repository URLs named by the event, as the payload spelt them.
    pub repositories: Vec<String>,
    /// Tags, versions or refs the event carried.
    pub qualifiers: Vec<String>,
    /// Warehouses refreshed, as `project/name`.
    pub refreshed: Vec<String>,
    /// Why candidates did not match, one line each.
    pub explanation: Vec<String>,
    /// The matching result per repository of the event; `null` when the delivery was not
    /// matched at all (rejected, duplicate, ping, an event that refreshes nothing).
    pub detail: Option<Vec<TargetDetail>>,
    pub duration_micros: u64,
    /// Kargo mode: for each Warehouse (or Promotion) refreshed, the annotation token patched,
    /// when it landed, when Kargo handled it, or why it was dropped. Empty in files mode.
    #[serde(default)]
    pub refreshes: Vec<Refresh>,
    /// The delivery this one replays (`dockhand replay`); null for a delivery that arrived.
    #[serde(default)]
    pub replay_of: Option<String>,
}

/// `GET /api/v1/deliveries/{id}/payload`: the request kept with a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    pub delivery_id: String,
    /// False when none was kept (`--keep-payloads=false`, or refused before its body was read).
    pub kept: bool,
    /// The headers kept, in the order received; credentials are never kept.
    pub headers: Vec<Header>,
    /// The body as text (bytes that are not UTF-8 shown as U+FFFD); null when not kept.
    pub body: Option<String>,
    /// The body parsed as JSON; null when it is not JSON.
    pub json: Option<serde_json::Value>,
    /// Size of the body kept, in bytes.
    pub bytes: u64,
    /// Why the kept request is not the whole request; null when it is.
    pub trimmed: Option<String>,
    /// Why `dockhand replay` would refuse this delivery; null when it can be replayed.
    pub not_replayable: Option<String>,
}

/// One header of a kept request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub name: String,
    pub value: String,
}

impl Payload {
    /// The wire form of `payload` kept with `delivery` (None: nothing kept).
    pub fn new(delivery: &store::Delivery, payload: Option<store::Payload>) -> Payload {
        let not_replayable = crate::replay::not_replayable(delivery, payload.as_ref());
        match payload {
            None => Payload {
                delivery_id: delivery.id.clone(),
                kept: false,
                headers: Vec::new(),
                body: None,
                json: None,
                bytes: 0,
                trimmed: None,
                not_replayable,
            },
            Some(p) => Payload {
                delivery_id: delivery.id.clone(),
                kept: true,
                headers: p
                    .headers
                    .into_iter()
                    .map(|(name, value)| Header { name, value })
                    .collect(),
                json: serde_json::from_slice(&p.body).ok(),
                body: Some(String::from_utf8_lossy(&p.body).into_owned()),
                bytes: p.body.len() as u64,
                trimmed: p.trimmed,
                not_replayable,
            },
        }
    }
}

/// `GET /api/v1/artifacts?repository=...&tag=...`: which registry replicas (the receiver URL's
/// query values, `region=westus`) reported an image, when, and with which digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Replication {
    /// The normalized repository key the request's `repository` became.
    pub repository: String,
    pub tag: Option<String>,
    /// One per replica (distinct receiver URL query), the one reporting most recently first.
    pub replicas: Vec<Replica>,
    /// Every report, newest first.
    pub reports: Vec<ArtifactReport>,
}

/// What one replica (one receiver URL query) reported about an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Replica {
    /// The query's values (`westus`), joined with `,`; null for a receiver URL without one.
    pub replica: Option<String>,
    /// The receiver URL's query as stored (secret values redacted).
    pub query: Option<String>,
    pub first_reported_at: String,
    pub last_reported_at: String,
    /// Digests reported, newest first, once each.
    pub digests: Vec<String>,
    /// Tags reported, newest first, once each.
    pub tags: Vec<String>,
    pub deliveries: u64,
}

/// One delivery's report of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactReport {
    pub delivery_id: String,
    pub received_at: String,
    pub project: String,
    pub receiver: String,
    pub query: Option<String>,
    pub replica: Option<String>,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

/// The replica a query names: its values (`region=westus&zone=1` → `westus,1`), leaving out
/// redacted ones.
pub fn replica_of(query: Option<&str>) -> Option<String> {
    let values: Vec<&str> = query?
        .split('&')
        .filter_map(|p| p.split_once('=').map(|(_, v)| v).or(Some(p)))
        .filter(|v| !v.is_empty() && *v != "[redacted]")
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

impl Replication {
    /// Groups `reports` (newest first) by replica.
    pub fn new(repository: String, tag: Option<String>, list: Vec<store::ArtifactReport>) -> Self {
        let reports: Vec<ArtifactReport> = list
            .into_iter()
            .map(|r| ArtifactReport {
                replica: replica_of(r.query.as_deref()),
                delivery_id: r.delivery_id,
                received_at: r.received_at,
                project: r.project,
                receiver: r.receiver,
                query: r.query,
                tag: r.artifact.tag,
                digest: r.artifact.digest,
            })
            .collect();
        let mut replicas: Vec<Replica> = Vec::new();
        for r in &reports {
            let i = match replicas.iter().position(|x| x.query == r.query) {
                Some(i) => i,
                None => {
                    replicas.push(Replica {
                        replica: r.replica.clone(),
                        query: r.query.clone(),
                        first_reported_at: r.received_at.clone(),
                        last_reported_at: r.received_at.clone(),
                        digests: Vec::new(),
                        tags: Vec::new(),
                        deliveries: 0,
                    });
                    replicas.len() - 1
                }
            };
            let x = &mut replicas[i];
            x.deliveries += 1;
            // Newest first: each older report moves the first time back.
            x.first_reported_at = r.received_at.clone();
            if let Some(d) = r.digest.as_ref().filter(|d| !x.digests.contains(d)) {
                x.digests.push(d.clone());
            }
            if let Some(t) = r.tag.as_ref().filter(|t| !x.tags.contains(t)) {
                x.tags.push(t.clone());
            }
        }
        Replication {
            repository,
            tag,
            replicas,
            reports,
        }
    }
}

/// One refresh of a delivery in Kargo mode. Times are RFC 3339 UTC or null.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Refresh {
    /// `project/name`.
    pub warehouse: String,
    pub token: Option<String>,
    pub patched_at: Option<String>,
    pub handled_at: Option<String>,
    pub error: Option<String>,
}

/// How one repository URL of a delivery was looked up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetDetail {
    /// As the payload spelt it.
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// The normalized key subscriptions were looked up by; `null` when the URL did not
    /// normalize, and then `error` says why.
    pub key: Option<String>,
    pub error: Option<String>,
    pub candidates: Vec<Candidate>,
}

/// One subscription that names the repository, and whether it accepted the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    pub project: String,
    pub warehouse: String,
    /// Index in the Warehouse's `spec.subscriptions`.
    pub subscription: u32,
    /// As the subscription spells it.
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    pub matched: bool,
    /// Why not, when not matched.
    pub reason: Option<String>,
}

/// The matching result as the service records it on a delivery (the core's `TargetResult`
/// serialized: `repoUrl`, and `normalized` as serde's `{"Ok": key}` / `{"Err": why}`). Read
/// here, never served: records written by earlier versions have the same form.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredTarget {
    repo_url: String,
    normalized: Result<String, String>,
    #[serde(default)]
    candidates: Vec<StoredCandidate>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredCandidate {
    project: String,
    warehouse: String,
    subscription: u32,
    repo_url: String,
    matched: bool,
    #[serde(default)]
    reason: Option<String>,
}

impl From<StoredTarget> for TargetDetail {
    fn from(t: StoredTarget) -> Self {
        let (key, error) = match t.normalized {
            Ok(key) => (Some(key), None),
            Err(why) => (None, Some(why)),
        };
        TargetDetail {
            repo_url: t.repo_url,
            key,
            error,
            candidates: t
                .candidates
                .into_iter()
                .map(|c| Candidate {
                    project: c.project,
                    warehouse: c.warehouse,
                    subscription: c.subscription,
                    repo_url: c.repo_url,
                    matched: c.matched,
                    reason: c.reason,
                })
                .collect(),
        }
    }
}

impl From<store::Delivery> for Delivery {
    fn from(d: store::Delivery) -> Self {
        // A record whose detail is not a matching result (none was made) shows `null`.
        let detail = serde_json::from_value::<Vec<StoredTarget>>(d.detail)
            .ok()
            .map(|targets| targets.into_iter().map(TargetDetail::from).collect());
        Delivery {
            id: d.id,
            received_at: d.received_at,
            project: d.project,
            receiver: d.receiver,
            receiver_type: d.receiver_type,
            source: d.source.to_string(),
            event_type: d.event_type,
            provider_id: d.provider_id,
            query: d.query,
            status: d.status,
            outcome: d.outcome.to_string(),
            message: d.message,
            repositories: d.repositories,
            qualifiers: d.qualifiers,
            refreshed: d.refreshed,
            explanation: d.explanation,
            detail,
            duration_micros: d.duration_micros,
            refreshes: d
                .refreshes
                .into_iter()
                .map(|r| Refresh {
                    warehouse: r.warehouse,
                    token: r.token,
                    patched_at: r.patched_at,
                    handled_at: r.handled_at,
                    error: r.error,
                })
                .collect(),
            replay_of: d.replay_of,
        }
    }
}

/// `GET /api/v1/warehouses`: a configured Warehouse and its refresh state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Warehouse {
    pub project: String,
    pub name: String,
    /// `spec.interval` in seconds, `300s`.
    pub interval: String,
    /// `Automatic` or `Manual`.
    pub freight_creation_policy: String,
    pub last_refresh_requested: Option<String>,
    pub last_reconcile_started: Option<String>,
    pub last_reconciled: Option<String>,
    pub pending: bool,
    pub refresh_count: u64,
    pub reconcile_count: u64,
    pub last_error: Option<String>,
}

impl Warehouse {
    /// `state` is the default (never refreshed) for a Warehouse the store has not seen.
    pub fn new(w: &ConfigWarehouse, state: store::WarehouseState) -> Self {
        Warehouse {
            project: w.project.clone(),
            name: w.name.clone(),
            interval: format!("{}s", w.interval.as_secs()),
            freight_creation_policy: match w.freight_creation_policy {
                FreightCreationPolicy::Automatic => "Automatic",
                FreightCreationPolicy::Manual => "Manual",
            }
            .to_string(),
            last_refresh_requested: state.last_refresh_requested,
            last_reconcile_started: state.last_reconcile_started,
            last_reconciled: state.last_reconciled,
            pending: state.pending,
            refresh_count: state.refresh_count,
            reconcile_count: state.reconcile_count,
            last_error: state.last_error,
        }
    }
}

/// `GET /api/v1/warehouses/{project}/{name}`: the list entry plus where it was configured, its
/// subscriptions and what the last reconcile discovered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WarehouseDetail {
    #[serde(flatten)]
    pub warehouse: Warehouse,
    pub origin: Origin,
    /// When the last reconcile recorded its discovery; `null` before the first.
    pub last_discovered: Option<String>,
    pub subscriptions: Vec<Subscription>,
}

/// The manifest a Warehouse came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub file: String,
    /// Zero-based index of the YAML document in the file.
    pub document: usize,
}

/// One subscription of a Warehouse: its specification (by `kind`) and its last discovery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    #[serde(flatten)]
    pub spec: SubscriptionSpec,
    /// Newest first; `null` until discovered (or when the configuration changed since).
    pub discovered: Option<Artifacts>,
    pub discovered_at: Option<String>,
    /// The last discovery's error, `null` when it succeeded.
    pub error: Option<String>,
    /// Why no webhook refreshes this subscription (its `repoURL` names no repository dockhand
    /// can match: Kargo accepts it, dockhand loads it and refreshes it on its interval only);
    /// `null` when webhooks do.
    pub warning: Option<String>,
}

/// The fields of `spec.subscriptions[]` the API shows, per kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SubscriptionSpec {
    #[serde(rename_all = "camelCase")]
    Image {
        #[serde(rename = "repoURL")]
        repo_url: String,
        image_selection_strategy: String,
        constraint: Option<String>,
        strict_semvers: bool,
        platform: Option<String>,
        discovery_limit: u32,
    },
    #[serde(rename_all = "camelCase")]
    Git {
        #[serde(rename = "repoURL")]
        repo_url: String,
        commit_selection_strategy: String,
        branch: Option<String>,
        semver_constraint: Option<String>,
        discovery_limit: u32,
    },
    #[serde(rename_all = "camelCase")]
    Chart {
        #[serde(rename = "repoURL")]
        repo_url: String,
        name: Option<String>,
        semver_constraint: Option<String>,
        discovery_limit: u32,
    },
}

impl SubscriptionSpec {
    fn new(s: &ConfigSubscription) -> Self {
        match s {
            ConfigSubscription::Image(i) => SubscriptionSpec::Image {
                repo_url: i.repo_url.clone(),
                image_selection_strategy: match i.strategy {
                    ImageSelectionStrategy::SemVer => "SemVer",
                    ImageSelectionStrategy::Lexical => "Lexical",
                    ImageSelectionStrategy::NewestBuild => "NewestBuild",
                    ImageSelectionStrategy::Digest => "Digest",
                }
                .to_string(),
                constraint: i.constraint.clone(),
                strict_semvers: i.strict_semvers,
                platform: i.platform.clone(),
                discovery_limit: i.discovery_limit,
            },
            ConfigSubscription::Git(g) => SubscriptionSpec::Git {
                repo_url: g.repo_url.clone(),
                commit_selection_strategy: match g.strategy {
                    CommitSelectionStrategy::NewestFromBranch => "NewestFromBranch",
                    CommitSelectionStrategy::SemVer => "SemVer",
                    CommitSelectionStrategy::Lexical => "Lexical",
                    CommitSelectionStrategy::NewestTag => "NewestTag",
                }
                .to_string(),
                branch: g.branch.clone(),
                semver_constraint: g.semver_constraint.clone(),
                discovery_limit: g.discovery_limit,
            },
            ConfigSubscription::Chart(c) => SubscriptionSpec::Chart {
                repo_url: c.repo_url.clone(),
                name: c.name.clone(),
                semver_constraint: c.semver_constraint.clone(),
                discovery_limit: c.discovery_limit,
            },
        }
    }

    fn repo_url(&self) -> &str {
        match self {
            SubscriptionSpec::Image { repo_url, .. }
            | SubscriptionSpec::Git { repo_url, .. }
            | SubscriptionSpec::Chart { repo_url, .. } => repo_url,
        }
    }
}

/// What the store keeps of the last reconcile (written by `refresh::reconcile`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredDiscovery {
    discovered_at: Option<String>,
    #[serde(default)]
    subscriptions: Vec<SubscriptionResult>,
}

impl WarehouseDetail {
    /// `discovery` is the store's record of the last reconcile, if any. Its results are put
    /// beside the subscriptions by position and repository URL, so a reloaded configuration
    /// never shows another repository's artifacts.
    pub fn new(
        w: &ConfigWarehouse,
        state: store::WarehouseState,
        discovery: Option<serde_json::Value>,
    ) -> Self {
        let discovery = discovery.and_then(|v| serde_json::from_value::<StoredDiscovery>(v).ok());
        let mut results = discovery
            .as_ref()
            .map(|d| d.subscriptions.as_slice())
            .unwrap_or_default()
            .iter();
        let subscriptions = w
            .subscriptions
            .iter()
            .map(|s| {
                let spec = SubscriptionSpec::new(s);
                let warning = s.webhook_key().err().map(|e| e.to_string());
                match results.next().filter(|r| r.repo_url == spec.repo_url()) {
                    Some(r) => Subscription {
                        discovered: Some(Artifacts::from(&r.artifacts)),
                        discovered_at: r.discovered_at.clone(),
                        error: r.error.clone(),
                        warning,
                        spec,
                    },
                    None => Subscription {
                        spec,
                        discovered: None,
                        discovered_at: None,
                        error: None,
                        warning,
                    },
                }
            })
            .collect();
        WarehouseDetail {
            warehouse: Warehouse::new(w, state),
            origin: Origin {
                file: w.origin.file.to_string(),
                document: w.origin.document,
            },
            last_discovered: discovery.and_then(|d| d.discovered_at),
            subscriptions,
        }
    }
}

/// `POST /api/v1/warehouses/{project}/{name}/refresh` (202).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRequested {
    /// `refresh of {project}/{name} requested`.
    pub msg: String,
}

/// `GET /api/v1/freight`: one Freight, its artifacts one per subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Freight {
    /// 40 hex digits derived from the content.
    pub id: String,
    pub alias: String,
    pub project: String,
    pub warehouse: String,
    pub created_at: String,
    pub artifacts: Artifacts,
}

impl From<freight::Freight> for Freight {
    fn from(f: freight::Freight) -> Self {
        Freight {
            artifacts: Artifacts::from(&f.artifacts),
            id: f.id,
            alias: f.alias,
            project: f.project,
            warehouse: f.warehouse,
            created_at: f.created_at,
        }
    }
}

/// Artifacts grouped by kind, as Kargo's Freight lists them (a kind without any is left out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifacts {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub charts: Vec<Chart>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<Commit>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    pub tag: String,
    pub digest: String,
    /// The image config's `created`, when it was read (NewestBuild).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Chart {
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// Classic repositories only; an OCI chart URL names the chart itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Commit {
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

impl From<&freight::Artifacts> for Artifacts {
    fn from(a: &freight::Artifacts) -> Self {
        Artifacts {
            images: a
                .images
                .iter()
                .map(|i| Image {
                    repo_url: i.repo_url.clone(),
                    tag: i.tag.clone(),
                    digest: i.digest.clone(),
                    created_at: i.created_at.clone(),
                })
                .collect(),
            charts: a
                .charts
                .iter()
                .map(|c| Chart {
                    repo_url: c.repo_url.clone(),
                    name: c.name.clone(),
                    version: c.version.clone(),
                })
                .collect(),
            commits: a
                .commits
                .iter()
                .map(|c| Commit {
                    repo_url: c.repo_url.clone(),
                    id: c.id.clone(),
                    branch: c.branch.clone(),
                    tag: c.tag.clone(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored_delivery(detail: serde_json::Value) -> store::Delivery {
        store::Delivery {
            id: "d1".into(),
            received_at: "2026-01-01T00:00:00Z".into(),
            project: "p".into(),
            receiver: "r".into(),
            receiver_type: "azure".into(),
            source: dockhand_core::receivers::azure::ACR,
            event_type: Some("push".into()),
            provider_id: None,
            query: None,
            status: 200,
            outcome: dockhand_core::event::Outcome::Refreshed,
            message: "ok".into(),
            repositories: vec![],
            qualifiers: vec![],
            refreshed: vec![],
            explanation: vec![],
            detail,
            duration_micros: 1,
            refreshes: Vec::new(),
            replay_of: None,
            payload: None,
            artifacts: Vec::new(),
        }
    }

    #[test]
    fn a_stored_result_becomes_key_or_error() {
        let stored = stored_delivery(json!([
            {"repoUrl": "Nginx", "normalized": {"Ok": "docker.io/library/nginx"},
             "candidates": [{"project": "p", "warehouse": "w", "subscription": 0,
                             "repoUrl": "nginx", "matched": false, "reason": "tag"}]},
            {"repoUrl": "::", "normalized": {"Err": "not a URL"}, "candidates": []},
        ]));
        let wire = serde_json::to_value(Delivery::from(stored)).unwrap();
        assert_eq!(
            wire["detail"],
            json!([
                {"repoURL": "Nginx", "key": "docker.io/library/nginx", "error": null,
                 "candidates": [{"project": "p", "warehouse": "w", "subscription": 0,
                                 "repoURL": "nginx", "matched": false, "reason": "tag"}]},
                {"repoURL": "::", "key": null, "error": "not a URL", "candidates": []},
            ])
        );
        assert!(!wire.to_string().contains("\"Ok\""), "{wire}");
    }

    #[test]
    fn no_matching_result_is_null() {
        let wire = serde_json::to_value(Delivery::from(stored_delivery(json!(null)))).unwrap();
        assert_eq!(wire["detail"], json!(null));
    }

    /// The CLI reads what the server writes: `dockhand warehouses P/W` parses the detail.
    #[test]
    fn a_warehouse_detail_reads_back() {
        let sub = |spec| Subscription {
            spec,
            discovered: Some(Artifacts {
                commits: vec![Commit {
                    repo_url: "https://git.example.com/app".into(),
                    id: "abc".into(),
                    branch: Some("main".into()),
                    tag: None,
                }],
                ..Artifacts::default()
            }),
            discovered_at: Some("2026-01-01T00:00:00Z".into()),
            error: None,
            warning: None,
        };
        let detail = WarehouseDetail {
            warehouse: Warehouse {
                project: "p".into(),
                name: "w".into(),
                interval: "300s".into(),
                freight_creation_policy: "Automatic".into(),
                last_refresh_requested: None,
                last_reconcile_started: None,
                last_reconciled: Some("2026-01-01T00:00:00Z".into()),
                pending: false,
                refresh_count: 1,
                reconcile_count: 2,
                last_error: None,
            },
            origin: Origin {
                file: "w.yaml".into(),
                document: 0,
            },
            last_discovered: None,
            subscriptions: vec![
                sub(SubscriptionSpec::Image {
                    repo_url: "ghcr.io/acme/app".into(),
                    image_selection_strategy: "SemVer".into(),
                    constraint: None,
                    strict_semvers: true,
                    platform: None,
                    discovery_limit: 20,
                }),
                sub(SubscriptionSpec::Git {
                    repo_url: "https://git.example.com/app".into(),
                    commit_selection_strategy: "NewestFromBranch".into(),
                    branch: None,
                    semver_constraint: None,
                    discovery_limit: 20,
                }),
                sub(SubscriptionSpec::Chart {
                    repo_url: "https://charts.example.com".into(),
                    name: Some("app".into()),
                    semver_constraint: None,
                    discovery_limit: 20,
                }),
            ],
        };
        let json = serde_json::to_value(&detail).unwrap();
        assert_eq!(json["subscriptions"][1]["kind"], "git");
        assert_eq!(
            json["subscriptions"][1]["repoURL"],
            "https://git.example.com/app"
        );
        assert_eq!(json["reconcileCount"], 2);
        let back: WarehouseDetail = serde_json::from_value(json).unwrap();
        assert_eq!(back, detail);
    }
}

/// `GET /api/v1/version`: the server's version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Version {
    pub version: String,
}

/// `dockhand version -o json`: the client's version and the server's (`null` with `--client`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionReport {
    pub client: Version,
    pub server: Option<Version>,
}

/// `GET /api/v1/notifications`: one outbox row. Never the address nor the signing key (they
/// are not stored), never the body sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// The `webhook-id`, the same on every attempt.
    pub id: String,
    pub project: String,
    /// The Notification's name.
    pub notification: String,
    /// `slack`, `teams`, `generic`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `FreightCreated`, `DiscoveryFailed`, `DeliveryRejected`, `Test`.
    pub event: String,
    pub warehouse: Option<String>,
    pub created_at: String,
    /// `pending`, `sent`, `failed`.
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// The last HTTP status the endpoint answered.
    pub response_code: Option<u16>,
    /// When it was sent or failed for good.
    pub finished_at: Option<String>,
}

impl From<store::NotificationRecord> for Notification {
    fn from(r: store::NotificationRecord) -> Self {
        Notification {
            id: r.new.id,
            project: r.new.project,
            notification: r.new.notification,
            kind: r.new.kind,
            event: r.new.event,
            warehouse: r.new.warehouse,
            created_at: r.new.created_at,
            status: r.status.name().to_string(),
            attempts: r.attempts,
            last_error: r.last_error,
            response_code: r.response_code,
            finished_at: r.finished_at,
        }
    }
}

/// `POST /api/v1/notifications/{project}/{name}/test`: the test event queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationQueued {
    pub msg: String,
    /// Its `webhook-id`: find it in `GET /api/v1/notifications`.
    pub id: String,
}
