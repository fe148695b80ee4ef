//! The cluster as a configuration source: Warehouses, ProjectConfigs and the ClusterConfig
//! watched (kube-runtime's watcher: list, then watch from the last resourceVersion, bookmarks,
//! a new list after 410 Expired, backoff on errors), receiver Secrets read with GET in the
//! project's namespace (the ClusterConfig's in the system-resources namespace) — never a
//! cluster-wide list or watch of Secrets, which the shipped RBAC does not grant.
//!
//! Each change rebuilds the whole configuration through the core's object-by-object loader
//! (`load_documents_lenient`), so an object Kargo admitted but dockhand cannot read is reported
//! and left out while the others keep working. Changes arriving together are built once
//! (`SETTLE`).
//!
//! Routing: each receiver is reachable at the path dockhand computes from the current Secret
//! (a rotated Secret works at once) and at the path Kargo's status shows (what users copied from
//! Kargo's UI). Secrets are cached for `secret_ttl`; a request to an unknown path reads them
//! again early (`Kargo::resync_for_unknown_path`).
//!
//! Readiness: the service is not ready until every watch has finished its first list and that
//! configuration is published.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dockhand_core::config::{Config, Origin};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{resource, Kargo, ReceiverPaths, Report, REFRESH_ANNOTATION};
use crate::source::{ConfigSource, ReloadRequests, Sink, SourceError, SourceFuture, Update};

/// Changes that arrive within this long of each other are built into one configuration.
const SETTLE: Duration = Duration::from_millis(50);

/// The watched kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Warehouse,
    ProjectConfig,
    ClusterConfig,
    /// Only for the index of running Promotions waiting on pull requests.
    Promotion,
}

impl Kind {
    const ALL: [Kind; 4] = [
        Kind::Warehouse,
        Kind::ProjectConfig,
        Kind::ClusterConfig,
        Kind::Promotion,
    ];

    fn kind(self) -> &'static str {
        match self {
            Kind::Warehouse => "Warehouse",
            Kind::ProjectConfig => "ProjectConfig",
            Kind::ClusterConfig => "ClusterConfig",
            Kind::Promotion => "Promotion",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Kind::Warehouse => "warehouses",
            Kind::ProjectConfig => "projectconfigs",
            Kind::ClusterConfig => "clusterconfigs",
            Kind::Promotion => "promotions",
        }
    }
}

/// Objects by (namespace, name); namespace `""` for the cluster-scoped ClusterConfig.
type Objects = BTreeMap<(String, String), Value>;

/// Watched objects of one kind.
#[derive(Default)]
struct Watched {
    objects: Objects,
    /// Objects of a list in progress (between `Init` and `InitDone`), swapped in whole.
    listing: Option<Objects>,
    synced: bool,
}

/// A Secret as last read: its JSON (None when absent) and when.
struct CachedSecret {
    object: Option<Value>,
    read_at: Instant,
}

/// The configuration from a Kargo cluster.
pub struct KargoSource {
    kargo: Arc<Kargo>,
    /// Path prefix of `--base-url`, stripped from status paths as the listener strips it from
    /// requests.
    base_path: String,
    secret_ttl: Duration,
}

impl KargoSource {
    pub fn new(kargo: Arc<Kargo>, base_path: String, secret_ttl: Duration) -> KargoSource {
        KargoSource {
            kargo,
            base_path,
            secret_ttl,
        }
    }
}

impl ConfigSource for KargoSource {
    fn initial(&mut self) -> SourceFuture<'_, Result<Update, SourceError>> {
        // Listening starts at once (so /healthz answers and /readyz says 503); the first
        // complete configuration follows from `run`.
        Box::pin(async { Ok(Config::default().into()) })
    }

    fn ready_at_start(&self) -> bool {
        false
    }

    fn run(
        self: Box<Self>,
        sink: Sink,
        reload: ReloadRequests,
        cancel: CancellationToken,
    ) -> SourceFuture<'static, ()> {
        Box::pin(State::new(*self).run(sink, reload, cancel))
    }
}

struct State {
    source: KargoSource,
    watched: HashMap<Kind, Watched>,
    secrets: HashMap<(String, String), CachedSecret>,
    /// The Secrets' resourceVersions when the configuration was last built, to publish only
    /// when one changed.
    secret_versions: BTreeMap<(String, String), Option<String>>,
    published: bool,
}

type Message = (Kind, Result<Event<DynamicObject>, String>);

impl State {
    fn new(source: KargoSource) -> State {
        State {
            source,
            watched: Kind::ALL.iter().map(|k| (*k, Watched::default())).collect(),
            secrets: HashMap::new(),
            secret_versions: BTreeMap::new(),
            published: false,
        }
    }

    async fn run(mut self, sink: Sink, reload: ReloadRequests, cancel: CancellationToken) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
        let kargo = self.source.kargo.clone();
        for kind in Kind::ALL {
            tokio::spawn(watch(kargo.client(), kind, tx.clone(), cancel.clone()));
        }
        drop(tx);
        let mut dirty_since: Option<tokio::time::Instant> = None;
        let mut secret_tick = tokio::time::interval(self.source.secret_ttl);
        secret_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let settle = async {
                match dirty_since {
                    Some(t) => tokio::time::sleep_until(t + SETTLE).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => return,
                msg = rx.recv() => {
                    let Some((kind, event)) = msg else { return };
                    if self.apply(kind, event).await {
                        dirty_since.get_or_insert_with(tokio::time::Instant::now);
                    }
                }
                _ = settle => {
                    dirty_since = None;
                    self.build(&sink, true).await;
                }
                _ = secret_tick.tick() => self.build(&sink, false).await,
                _ = kargo.resync_requested() => {
                    self.secrets.clear();
                    self.build(&sink, false).await;
                    kargo.resynced();
                }
                _ = reload.requested() => {
                    tracing::info!("reload requested; reading the receiver Secrets again");
                    self.secrets.clear();
                    self.build(&sink, true).await;
                }
            }
        }
    }

    /// Applies one watch event; true when the configuration may have changed.
    async fn apply(&mut self, kind: Kind, event: Result<Event<DynamicObject>, String>) -> bool {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                // The watcher backs off and lists or watches again by itself.
                tracing::warn!(kind = kind.kind(), error = %e, "watch failed; retrying");
                return false;
            }
        };
        if kind == Kind::Promotion {
            return self.apply_promotion(event);
        }
        let watched = self.watched.entry(kind).or_default();
        let handled = match event {
            Event::Init => {
                watched.listing = Some(Objects::new());
                return false;
            }
            Event::InitApply(o) => {
                let (key, value) = keyed(kind, o);
                let handled = handled_token(&value);
                watched
                    .listing
                    .get_or_insert_with(Objects::new)
                    .insert(key.clone(), value);
                handled.map(|t| (key, t))
            }
            Event::InitDone => {
                if let Some(objects) = watched.listing.take() {
                    watched.objects = objects;
                }
                if !watched.synced {
                    tracing::info!(
                        kind = kind.kind(),
                        objects = watched.objects.len(),
                        "initial list synced"
                    );
                }
                watched.synced = true;
                return true;
            }
            Event::Apply(o) => {
                let (key, value) = keyed(kind, o);
                let handled = handled_token(&value);
                let changed = watched.objects.get(&key).is_none_or(|old| {
                    // A refresh token or a status change alone changes nothing dockhand uses.
                    spec_of(old) != spec_of(&value)
                });
                watched.objects.insert(key.clone(), value);
                if let Some(token) = handled {
                    self.source
                        .kargo
                        .observe_handled(&key.0, &key.1, &token)
                        .await;
                }
                return changed || kind != Kind::Warehouse;
            }
            Event::Delete(o) => {
                let (key, _) = keyed(kind, o);
                watched.objects.remove(&key);
                return true;
            }
        };
        if let Some((key, token)) = handled {
            self.source
                .kargo
                .observe_handled(&key.0, &key.1, &token)
                .await;
        }
        false
    }

    /// Keeps Kargo's `pullRequestURL` index of running Promotions; Promotions are not part of
    /// the configuration. True when the first list completes (readiness).
    fn apply_promotion(&mut self, event: Event<DynamicObject>) -> bool {
        let kargo = self.source.kargo.clone();
        let watched = self.watched.entry(Kind::Promotion).or_default();
        match event {
            Event::Init => watched.listing = Some(Objects::new()),
            Event::InitApply(o) => {
                let (key, value) = keyed(Kind::Promotion, o);
                watched
                    .listing
                    .get_or_insert_with(Objects::new)
                    .insert(key, value);
            }
            Event::InitDone => {
                let listed = watched.listing.take().unwrap_or_default();
                kargo.reset_waiting_on_prs(
                    listed
                        .iter()
                        .map(|(k, v)| (k.clone(), pull_request_urls(v)))
                        .filter(|(_, urls)| !urls.is_empty())
                        .collect(),
                );
                let first = !watched.synced;
                watched.synced = true;
                return first;
            }
            Event::Apply(o) => {
                let (key, value) = keyed(Kind::Promotion, o);
                kargo.set_waiting_on_prs(&key.0, &key.1, pull_request_urls(&value));
            }
            Event::Delete(o) => {
                let (key, _) = keyed(Kind::Promotion, o);
                kargo.set_waiting_on_prs(&key.0, &key.1, Vec::new());
            }
        }
        false
    }

    fn synced(&self) -> bool {
        self.watched.values().all(|w| w.synced)
    }

    /// Builds the configuration from the watched objects and the receiver Secrets and publishes
    /// it. Without `objects_changed`, publishes only when a Secret changed.
    async fn build(&mut self, sink: &Sink, objects_changed: bool) {
        if !self.synced() {
            return;
        }
        let Some((config, problems, report)) = self.assemble(objects_changed).await else {
            return;
        };
        self.source.kargo.set_report(report);
        sink.publish(Update {
            config,
            left_out: problems,
        });
        if !self.published {
            self.published = true;
            tracing::info!("every initial list synced; ready");
            sink.ready();
        }
    }

    /// The configuration, the objects left out and the report; None when nothing changed
    /// (`objects_changed` false and no Secret changed since the last one).
    async fn assemble(
        &mut self,
        objects_changed: bool,
    ) -> Option<(Config, Vec<dockhand_core::config::ConfigError>, Report)> {
        let kargo = self.source.kargo.clone();
        let system_ns = kargo.system_namespace.clone();
        let empty = Objects::new();
        let objects = |k: Kind| self.watched.get(&k).map_or(&empty, |w| &w.objects);

        // The Secrets receivers name, each in the namespace it must be in.
        let mut wanted: Vec<(String, String)> = Vec::new();
        for ((ns, _), pc) in objects(Kind::ProjectConfig) {
            wanted.extend(secret_refs(pc).into_iter().map(|s| (ns.clone(), s)));
        }
        if let Some(cc) = objects(Kind::ClusterConfig).get(&(String::new(), "cluster".into())) {
            wanted.extend(secret_refs(cc).into_iter().map(|s| (system_ns.clone(), s)));
        }
        wanted.sort();
        wanted.dedup();
        let mut versions = BTreeMap::new();
        let mut secret_docs = Vec::new();
        for key in wanted {
            let fresh = self
                .secrets
                .get(&key)
                .is_some_and(|c| c.read_at.elapsed() < self.source.secret_ttl);
            if !fresh {
                // A Secret that cannot be read now keeps its last value: a blip of the API
                // server must not take a receiver away.
                if let Ok(object) = read_secret(&kargo, &key.0, &key.1).await {
                    self.secrets.insert(
                        key.clone(),
                        CachedSecret {
                            object,
                            read_at: Instant::now(),
                        },
                    );
                }
            }
            let object = self.secrets.get(&key).and_then(|c| c.object.clone());
            versions.insert(
                key.clone(),
                object
                    .as_ref()
                    .and_then(|o| o["metadata"]["resourceVersion"].as_str())
                    .map(str::to_string),
            );
            if let Some(o) = object {
                secret_docs.push((origin("secrets", &key), o));
            }
        }
        if !objects_changed && self.published && versions == self.secret_versions {
            return None;
        }
        self.secret_versions = versions;

        let mut docs = secret_docs;
        let mut status_paths: HashMap<(String, String), String> = HashMap::new();
        for kind in [Kind::ProjectConfig, Kind::ClusterConfig, Kind::Warehouse] {
            for (key, o) in objects(kind) {
                if kind != Kind::Warehouse {
                    let project = if kind == Kind::ClusterConfig {
                        String::new()
                    } else {
                        key.0.clone()
                    };
                    for r in o["status"]["webhookReceivers"]
                        .as_array()
                        .into_iter()
                        .flatten()
                    {
                        if let (Some(name), Some(path)) = (r["name"].as_str(), r["path"].as_str()) {
                            status_paths.insert((project.clone(), name.to_string()), path.into());
                        }
                    }
                }
                docs.push((origin(kind.plural(), key), o.clone()));
            }
        }
        let docs =
            docs.into_iter()
                .filter_map(|(origin, json)| match serde_yaml_ng::to_value(&json) {
                    Ok(v) => Some((origin, v)),
                    Err(e) => {
                        tracing::warn!(object = %origin.file, error = %e, "cannot read object");
                        None
                    }
                });
        let (mut config, problems) =
            dockhand_core::config::load_documents_lenient(docs, &system_ns);

        // Both paths route: the computed one and the one in Kargo's status.
        let mut report_receivers = Vec::new();
        let mut aliases = Vec::new();
        for r in &config.receivers {
            let key = (r.project.clone(), r.name.clone());
            let status_path = status_paths.remove(&key);
            let routed = status_path
                .as_deref()
                .map(|p| p.strip_prefix(&self.source.base_path).unwrap_or(p));
            let mismatch = routed.is_some_and(|p| p != r.path);
            if let (Some(p), true) = (routed, mismatch) {
                let mut alias = r.clone();
                alias.path = p.to_string();
                alias.origin.file = format!("{} (status path)", alias.origin.file).into();
                aliases.push(alias);
            }
            report_receivers.push(ReceiverPaths {
                project: r.project.clone(),
                name: r.name.clone(),
                status_path,
                computed_path: Some(r.path.clone()),
                mismatch,
            });
        }
        // Receivers in status that dockhand could not build (Secret missing, ...).
        for ((project, name), path) in status_paths {
            report_receivers.push(ReceiverPaths {
                project,
                name,
                status_path: Some(path),
                computed_path: None,
                mismatch: true,
            });
        }
        report_receivers.sort_by(|a, b| (&a.project, &a.name).cmp(&(&b.project, &b.name)));
        config.receivers.extend(aliases);
        let report = Report {
            synced: true,
            warehouses: config.warehouses.len(),
            problems: problems.iter().map(ToString::to_string).collect(),
            receivers: report_receivers,
        };
        Some((config, problems, report))
    }
}

/// The receivers of the cluster once, without watching (`dockhand receivers --source kargo`):
/// ProjectConfigs and the ClusterConfig listed, their Secrets read, each receiver's status path
/// next to the path computed from its Secret.
pub async fn receivers_once(kargo: Arc<Kargo>, base_path: String) -> Result<Report, kube::Error> {
    let mut state = State::new(KargoSource::new(kargo.clone(), base_path, Duration::ZERO));
    for kind in [Kind::ProjectConfig, Kind::ClusterConfig] {
        let api: Api<DynamicObject> =
            Api::all_with(kargo.client(), &resource(kind.kind(), kind.plural()));
        let list = api.list(&Default::default()).await?;
        let watched = state.watched.entry(kind).or_default();
        watched.objects = list.items.into_iter().map(|o| keyed(kind, o)).collect();
    }
    for w in state.watched.values_mut() {
        w.synced = true;
    }
    Ok(state
        .assemble(true)
        .await
        .map(|(_, _, report)| report)
        .unwrap_or_default())
}

/// Where an object came from, for messages: `warehouses/NAMESPACE/NAME`.
fn origin(plural: &str, (ns, name): &(String, String)) -> Origin {
    let file = if ns.is_empty() {
        format!("{plural}/{name}")
    } else {
        format!("{plural}/{ns}/{name}")
    };
    Origin {
        file: file.into(),
        document: 0,
    }
}

/// The object as the core reads manifests: apiVersion and kind set (list items may lack them).
fn keyed(kind: Kind, o: DynamicObject) -> ((String, String), Value) {
    let key = (
        o.metadata.namespace.clone().unwrap_or_default(),
        o.metadata.name.clone().unwrap_or_default(),
    );
    let mut value = serde_json::to_value(&o).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("apiVersion".into(), json!("kargo.akuity.io/v1alpha1"));
        map.insert("kind".into(), json!(kind.kind()));
    }
    (key, value)
}

/// What of an object the configuration depends on: everything but status, the refresh
/// annotation and the bookkeeping metadata that changes with each write.
fn spec_of(o: &Value) -> (&Value, Option<&Value>, Option<&Value>) {
    (
        &o["spec"],
        o["metadata"].get("name"),
        o["metadata"].get("namespace"),
    )
}

/// Kargo's `RunningPromotionsByPullRequestURL` (pkg/indexer): for a Running Promotion, the
/// `pr.url` output of each `git-wait-for-pr` step (with an alias) up to its current step.
fn pull_request_urls(promotion: &Value) -> Vec<String> {
    let status = &promotion["status"];
    if status["phase"] != "Running" {
        return Vec::new();
    }
    let current = status["currentStep"].as_i64().unwrap_or(0);
    let mut urls = Vec::new();
    for (i, step) in promotion["spec"]["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if i as i64 > current {
            break;
        }
        let alias = step["as"].as_str().unwrap_or("");
        if step["uses"] != "git-wait-for-pr" || alias.is_empty() {
            continue;
        }
        if let Some(url) = status["state"][alias]["pr"]["url"].as_str() {
            if !url.is_empty() {
                urls.push(url.to_string());
            }
        }
    }
    urls
}

fn handled_token(o: &Value) -> Option<String> {
    o["status"]["lastHandledRefresh"]
        .as_str()
        .filter(|t| {
            !t.is_empty()
                && o["metadata"]["annotations"]
                    .get(REFRESH_ANNOTATION)
                    .is_some()
        })
        .map(str::to_string)
}

/// The Secret names of a ProjectConfig's or ClusterConfig's receivers.
fn secret_refs(config: &Value) -> Vec<String> {
    config["spec"]["webhookReceivers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_object())
        .flat_map(|r| {
            r.iter()
                .filter(|(k, _)| *k != "name")
                .filter_map(|(_, t)| t["secretRef"]["name"].as_str().map(str::to_string))
        })
        .collect()
}

/// GETs one Secret: None when it is absent, Err when it cannot be read now (logged).
async fn read_secret(kargo: &Kargo, namespace: &str, name: &str) -> Result<Option<Value>, ()> {
    let api: Api<Secret> = Api::namespaced(kargo.client(), namespace);
    match api.get_opt(name).await {
        Ok(Some(s)) => {
            let mut v = serde_json::to_value(&s).map_err(|_| ())?;
            if let Value::Object(map) = &mut v {
                map.insert("apiVersion".into(), json!("v1"));
                map.insert("kind".into(), json!("Secret"));
            }
            Ok(Some(v))
        }
        Ok(None) => Ok(None),
        Err(e) => {
            tracing::warn!(namespace, secret = name, error = %e, "cannot read receiver Secret");
            Err(())
        }
    }
}

/// Runs kube-runtime's watcher for one kind until cancelled, forwarding its events.
async fn watch(
    client: kube::Client,
    kind: Kind,
    tx: mpsc::UnboundedSender<Message>,
    cancel: CancellationToken,
) {
    let api: Api<DynamicObject> = Api::all_with(client, &resource(kind.kind(), kind.plural()));
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
    let mut stream = std::pin::pin!(stream);
    loop {
        let next = tokio::select! {
            _ = cancel.cancelled() => return,
            next = stream.next() => next,
        };
        let Some(event) = next else { return };
        if tx.send((kind, event.map_err(|e| e.to_string()))).is_err() {
            return;
        }
    }
}
