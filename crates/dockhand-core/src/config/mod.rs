//! The configuration: Kargo's own manifests (Secret, Project, ProjectConfig, Warehouse), and
//! dockhand's `Notification`, read into
//! a typed, validated model. `load` reads files and reports every problem with its file,
//! document and field; the types here are what the rest of dockhand works with.

mod credentials;
mod diagnostics;
mod direct;
mod duration;
mod limits;
mod load;
mod manifest;
mod notification;
mod project_config;
mod receiver_url;
mod secrets;
mod warehouse;

pub use credentials::{find as find_credential, CRED_TYPE_LABEL};
pub use diagnostics::{ConfigError, ConfigErrors};
pub use duration::parse_duration;
pub use limits::{MAX_FILE_BYTES, MAX_FLOW_DEPTH};
pub use load::{
    config_files, load, load_documents_lenient, load_lenient, load_str, DEFAULT_SYSTEM_NAMESPACE,
};
pub use notification::{
    check_address, Notification, NotificationEvent, NotificationType, SigningKey,
    DOCKHAND_API_VERSION,
};
pub use receiver_url::{collision_message, path_collisions, receiver_path};
pub use warehouse::{DEFAULT_DISCOVERY_LIMIT, DEFAULT_INTERVAL, MAX_DISCOVERY_LIMIT};

use std::time::Duration;

use regex::Regex;
use serde::Serialize;

use crate::matching::paths::PathSelector;
use crate::matching::semver::Constraint;
use crate::receivers::ReceiverType;
use crate::secret::Secret;

/// Everything loaded from the `--config` paths, validated.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Project names (namespaces) seen in any manifest, sorted.
    pub projects: Vec<String>,
    pub receivers: Vec<Receiver>,
    pub warehouses: Vec<Warehouse>,
    /// Manifests of kinds dockhand does not use (Stage, PromotionTask, ConfigMap, ...), as
    /// (where, kind, metadata.name), so the caller can say it skipped them.
    pub skipped: Vec<(Origin, String, String)>,
    /// Entries passed over that are not errors (a FIFO in a config folder), for the caller to
    /// show as warnings.
    pub warnings: Vec<ConfigError>,
    /// Credential Secrets (`kargo.akuity.io/cred-type` label) for discovery.
    pub credentials: Vec<Credential>,
    /// dockhand's own `Notification`s (files mode), their Secrets resolved.
    pub notifications: Vec<Notification>,
}

/// Where a manifest came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    /// Shared by every object of one file (a file can hold thousands of Warehouses).
    pub file: std::sync::Arc<str>,
    /// Zero-based index of the YAML document in the file.
    pub document: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (document {})", self.file, self.document)
    }
}

/// A webhook receiver from `ProjectConfig.spec.webhookReceivers[]` (or the ClusterConfig's),
/// with its Secret resolved.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// The project, or `""` for a ClusterConfig receiver (which refreshes every project).
    pub project: String,
    pub name: String,
    /// Its type, from [`RECEIVER_TYPES`](crate::receivers::RECEIVER_TYPES).
    pub kind: &'static ReceiverType,
    /// The values of the Secret keys its type reads: always the URL key, and each optional key
    /// group the Secret has whole.
    pub secrets: ReceiverSecrets,
    /// The string fields of its type's section besides `secretRef` (Artifactory's
    /// `virtualRepoName`), as written. A handler reads the ones it knows; the others are ignored,
    /// as Kubernetes prunes fields a CRD does not declare.
    pub fields: Vec<(String, String)>,
    /// `/{type}/{sha256hex(project + name + secret)}` (before any base path).
    pub path: String,
    pub origin: Origin,
    /// What the type reads from its own section beyond `secretRef` (the generic receiver's
    /// `actions`), as its [`ReceiverType::settings`] reader built it; empty for other types.
    pub settings: ReceiverSettings,
}

/// A receiver type's own configuration, read once at load by the type's reader and read back
/// by its handler with [`ReceiverSettings::get`]. Opaque here so that the configuration model
/// names no receiver type.
#[derive(Clone, Default)]
pub struct ReceiverSettings(Option<std::sync::Arc<dyn std::any::Any + Send + Sync>>);

impl ReceiverSettings {
    pub fn new(value: std::sync::Arc<dyn std::any::Any + Send + Sync>) -> Self {
        ReceiverSettings(Some(value))
    }

    /// The settings, when they are a `T` (the type that the receiver's reader stores).
    pub fn get<T: 'static>(&self) -> Option<&T> {
        self.0.as_deref().and_then(|v| v.downcast_ref::<T>())
    }
}

impl std::fmt::Debug for ReceiverSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "ReceiverSettings(..)"
        } else {
            "ReceiverSettings(none)"
        })
    }
}

impl Receiver {
    /// The value of Secret key `key`, when the Secret has it and the type reads it.
    pub fn secret(&self, key: &str) -> Option<&Secret> {
        self.secrets.get(key)
    }

    /// The value of setting `key` in its type's section (`virtualRepoName`), when it is a
    /// non-empty string.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
}

/// Secret values by key: the generic form of a receiver's credentials, read by its handler.
#[derive(Debug, Clone, Default)]
pub struct ReceiverSecrets(Vec<(&'static str, Secret)>);

impl ReceiverSecrets {
    pub fn get(&self, key: &str) -> Option<&Secret> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Sets `key` (replacing an earlier value).
    pub fn insert(&mut self, key: &'static str, value: Secret) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }
}

impl Extend<(&'static str, Secret)> for ReceiverSecrets {
    fn extend<I: IntoIterator<Item = (&'static str, Secret)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl FromIterator<(&'static str, Secret)> for ReceiverSecrets {
    fn from_iter<I: IntoIterator<Item = (&'static str, Secret)>>(iter: I) -> Self {
        let mut out = ReceiverSecrets::default();
        out.extend(iter);
        out
    }
}

/// What a credential Secret is for (its `kargo.akuity.io/cred-type` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CredentialKind {
    Image,
    Helm,
    Git,
}

/// A Kargo credential Secret: who to be when discovering from matching repositories.
#[derive(Debug, Clone)]
pub struct Credential {
    pub project: String,
    /// The Secret's name.
    pub name: String,
    pub kind: CredentialKind,
    /// `repoURL` as written.
    pub repo_url: String,
    /// `repoURL` compiled, when `repoURLIsRegex` is `"true"`.
    pub pattern: Option<Regex>,
    /// The normalized repository key of an exact `repoURL`, when it has one.
    pub key: Option<String>,
    pub username: String,
    pub password: Secret,
    pub origin: Origin,
}

/// A Warehouse and its subscriptions.
#[derive(Debug, Clone)]
pub struct Warehouse {
    pub project: String,
    pub name: String,
    /// `metadata.labels` (the generic receiver's `labelSelector` reads them).
    pub labels: std::collections::BTreeMap<String, String>,
    /// `spec.interval`, default 5m.
    pub interval: Duration,
    pub freight_creation_policy: FreightCreationPolicy,
    pub subscriptions: Vec<Subscription>,
    pub origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FreightCreationPolicy {
    Automatic,
    Manual,
}

/// One entry of `spec.subscriptions[]`.
#[derive(Debug, Clone)]
pub enum Subscription {
    Image(ImageSubscription),
    Git(GitSubscription),
    Chart(ChartSubscription),
}

impl Subscription {
    pub fn repo_url(&self) -> &str {
        match self {
            Subscription::Image(s) => &s.repo_url,
            Subscription::Git(s) => &s.repo_url,
            Subscription::Chart(s) => &s.repo_url,
        }
    }

    /// The normalized key webhooks find this subscription by (what the index holds), or why
    /// there is none: a URL Kargo accepts that names no usable repository, or a local
    /// (`file://`) git repository. Such a subscription is refreshed only on its interval.
    pub fn webhook_key(&self) -> Result<String, crate::repo_url::RepoUrlError> {
        match self {
            Subscription::Image(i) => crate::repo_url::image_key(&i.repo_url),
            Subscription::Chart(c) => crate::repo_url::chart_key(&c.repo_url, c.name.as_deref()),
            Subscription::Git(g) => crate::repo_url::git_key(&g.repo_url),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Subscription::Image(_) => "image",
            Subscription::Git(_) => "git",
            Subscription::Chart(_) => "chart",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ImageSelectionStrategy {
    SemVer,
    Lexical,
    NewestBuild,
    Digest,
}

/// `spec.subscriptions[].image`, as Kargo's CRD.
#[derive(Debug, Clone)]
pub struct ImageSubscription {
    pub repo_url: String,
    pub strategy: ImageSelectionStrategy,
    /// `constraint` (or the deprecated `semverConstraint`) as written.
    pub constraint: Option<String>,
    /// The parsed constraint, for the SemVer strategy.
    pub semver: Option<Constraint>,
    /// Default true.
    pub strict_semvers: bool,
    /// `allowTags`, `ignoreTags` and their regex forms.
    pub tags: TagFilters,
    /// `os/arch[/variant]`.
    pub platform: Option<String>,
    /// Default 20, at most 100.
    pub discovery_limit: u32,
    pub insecure_skip_tls_verify: bool,
}

impl ImageSubscription {
    /// A subscription to `repo_url` with Kargo's defaults (SemVer, strict, no constraint,
    /// discoveryLimit 20).
    pub fn new(repo_url: impl Into<String>, strategy: ImageSelectionStrategy) -> Self {
        ImageSubscription {
            repo_url: repo_url.into(),
            strategy,
            constraint: None,
            semver: None,
            strict_semvers: true,
            tags: TagFilters::default(),
            platform: None,
            discovery_limit: 20,
            insecure_skip_tls_verify: false,
        }
    }
}

/// The tag filters of an image or git subscription. Few subscriptions set any, and a
/// configuration can hold hundreds of thousands of subscriptions, so the lists sit behind one
/// pointer that is null when all are empty (8 bytes instead of 72 inline).
#[derive(Debug, Clone, Default)]
pub struct TagFilters(Option<Box<TagFilterLists>>);

#[derive(Debug, Clone)]
struct TagFilterLists {
    allow: Vec<Regex>,
    ignore: Vec<String>,
    ignore_regex: Vec<Regex>,
}

impl TagFilters {
    pub fn new(allow: Vec<Regex>, ignore: Vec<String>, ignore_regex: Vec<Regex>) -> TagFilters {
        if allow.is_empty() && ignore.is_empty() && ignore_regex.is_empty() {
            return TagFilters(None);
        }
        TagFilters(Some(Box::new(TagFilterLists {
            allow,
            ignore,
            ignore_regex,
        })))
    }

    /// `allowTags` (one regex) plus `allowTagsRegex`/`allowTagsRegexes`: a tag must match one
    /// of them (Kargo appends the deprecated single regex to the list).
    pub fn allow(&self) -> &[Regex] {
        self.0.as_deref().map_or(&[], |l| &l.allow)
    }

    /// `ignoreTags`: exact tags never selected.
    pub fn ignore(&self) -> &[String] {
        self.0.as_deref().map_or(&[], |l| &l.ignore)
    }

    /// `ignoreTagsRegex`/`ignoreTagsRegexes`: tags matching any are never selected.
    pub fn ignore_regex(&self) -> &[Regex] {
        self.0.as_deref().map_or(&[], |l| &l.ignore_regex)
    }
}

/// A git subscription's `includePaths` and `excludePaths`, behind one pointer that is null when
/// both are empty (rarely set, as [`TagFilters`]).
#[derive(Debug, Clone, Default)]
pub struct PathFilters(Option<Box<(Vec<PathSelector>, Vec<PathSelector>)>>);

impl PathFilters {
    pub fn new(include: Vec<PathSelector>, exclude: Vec<PathSelector>) -> PathFilters {
        if include.is_empty() && exclude.is_empty() {
            return PathFilters(None);
        }
        PathFilters(Some(Box::new((include, exclude))))
    }

    pub fn include(&self) -> &[PathSelector] {
        self.0.as_deref().map_or(&[], |(include, _)| include)
    }

    pub fn exclude(&self) -> &[PathSelector] {
        self.0.as_deref().map_or(&[], |(_, exclude)| exclude)
    }

    /// Neither list has an entry: every path is selected.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CommitSelectionStrategy {
    NewestFromBranch,
    SemVer,
    Lexical,
    NewestTag,
}

/// `spec.subscriptions[].git`, as Kargo's CRD.
#[derive(Debug, Clone)]
pub struct GitSubscription {
    pub repo_url: String,
    pub strategy: CommitSelectionStrategy,
    /// The branch for NewestFromBranch; `None` means the repository's default branch.
    pub branch: Option<String>,
    pub strict_semvers: bool,
    pub semver_constraint: Option<String>,
    pub semver: Option<Constraint>,
    /// `allowTags`, `ignoreTags` and their regex forms.
    pub tags: TagFilters,
    /// `includePaths` and `excludePaths`.
    pub paths: PathFilters,
    pub discovery_limit: u32,
    pub insecure_skip_tls_verify: bool,
}

impl GitSubscription {
    /// A subscription to `repo_url` with Kargo's defaults (strict, no constraint, no path
    /// filters, discoveryLimit 20).
    pub fn new(repo_url: impl Into<String>, strategy: CommitSelectionStrategy) -> Self {
        GitSubscription {
            repo_url: repo_url.into(),
            strategy,
            branch: None,
            strict_semvers: true,
            semver_constraint: None,
            semver: None,
            tags: TagFilters::default(),
            paths: PathFilters::default(),
            discovery_limit: 20,
            insecure_skip_tls_verify: false,
        }
    }
}

/// `spec.subscriptions[].chart`, as Kargo's CRD.
#[derive(Debug, Clone)]
pub struct ChartSubscription {
    /// `oci://host/path` or an `http(s)://` classic repository.
    pub repo_url: String,
    /// Chart name; required for classic repositories, absent for OCI.
    pub name: Option<String>,
    pub semver_constraint: Option<String>,
    pub semver: Option<Constraint>,
    pub discovery_limit: u32,
}
