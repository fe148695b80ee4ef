//! The shapes of the manifests as serde reads them: every field optional and unknown fields
//! ignored (Kargo manifests carry `status`, `shard`, annotations, ...), so that validation, not
//! serde, decides what is missing and can name the field. Field names are Kargo's. The tag
//! filters are repeated in image and git rather than shared with `#[serde(flatten)]`, which
//! would lose the field path of a type error.
//!
//! Secrets and `spec.webhookReceivers` are not here: they are walked by hand, the first so that
//! no serde message can quote a secret value, the second because any key may name a type.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Metadata {
    pub name: Option<String>,
    pub namespace: Option<String>,
}

/// Any manifest, for its metadata.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Object {
    pub metadata: Metadata,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Warehouse {
    pub spec: Option<WarehouseSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct WarehouseSpec {
    pub interval: Option<String>,
    pub freight_creation_policy: Option<String>,
    pub subscriptions: Option<Vec<Subscription>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Subscription {
    pub image: Option<ImageSubscription>,
    pub git: Option<GitSubscription>,
    pub chart: Option<ChartSubscription>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct ImageSubscription {
    #[serde(rename = "repoURL")]
    pub repo_url: Option<String>,
    pub image_selection_strategy: Option<String>,
    pub constraint: Option<String>,
    pub semver_constraint: Option<String>,
    pub strict_semvers: Option<bool>,
    /// Deprecated in Kargo in favour of `allowTagsRegexes`; one regex.
    pub allow_tags: Option<String>,
    pub allow_tags_regex: Option<Vec<String>>,
    pub allow_tags_regexes: Option<Vec<String>>,
    pub ignore_tags: Option<Vec<String>>,
    pub ignore_tags_regex: Option<Vec<String>>,
    pub ignore_tags_regexes: Option<Vec<String>>,
    pub platform: Option<String>,
    #[serde(rename = "insecureSkipTLSVerify")]
    pub insecure_skip_tls_verify: Option<bool>,
    /// Signed so that `-1` gets the range message rather than a type error.
    pub discovery_limit: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct GitSubscription {
    #[serde(rename = "repoURL")]
    pub repo_url: Option<String>,
    pub commit_selection_strategy: Option<String>,
    pub branch: Option<String>,
    pub strict_semvers: Option<bool>,
    pub semver_constraint: Option<String>,
    /// Deprecated in Kargo in favour of `allowTagsRegexes`; one regex.
    pub allow_tags: Option<String>,
    pub allow_tags_regex: Option<Vec<String>>,
    pub allow_tags_regexes: Option<Vec<String>>,
    pub ignore_tags: Option<Vec<String>>,
    pub ignore_tags_regex: Option<Vec<String>>,
    pub ignore_tags_regexes: Option<Vec<String>>,
    pub include_paths: Option<Vec<String>>,
    pub exclude_paths: Option<Vec<String>>,
    #[serde(rename = "insecureSkipTLSVerify")]
    pub insecure_skip_tls_verify: Option<bool>,
    pub discovery_limit: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct ChartSubscription {
    #[serde(rename = "repoURL")]
    pub repo_url: Option<String>,
    pub name: Option<String>,
    pub semver_constraint: Option<String>,
    pub discovery_limit: Option<i64>,
}
