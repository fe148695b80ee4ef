//! The subscription index: normalized repository key -> the subscriptions that name it, per
//! project. Built once per configuration (and rebuilt whole on reload); a lookup is one hash probe
//! per target, so its cost does not grow with the number of Warehouses.
//!
//! Flat, for memory and cache misses at 100,000 Warehouses: every key lives in one string and
//! every subscriber list in one vector, and the table holds 16-byte slots pointing into both (no
//! allocation per key). A lookup composes its key in a reused buffer and touches the table, the
//! key's bytes and its subscribers.
//!
//! `evaluate` is the refresh decision for one delivery: which Warehouses to refresh and, for every
//! candidate turned down, why. It is pure; the service records its result on the delivery.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use serde::{Deserialize, Serialize};

use crate::config::{Config, Subscription};
use crate::event::Target;
use crate::matching;
use crate::repo_url;
use crate::warehouse_ref::WarehouseRef;

/// Which key space a subscription lives in. OCI images and OCI charts share one: a push to an
/// OCI repository can be either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Space {
    Oci,
    Helm,
    Git,
}

impl Space {
    fn tag(self) -> char {
        match self {
            Space::Oci => 'o',
            Space::Helm => 'h',
            Space::Git => 'g',
        }
    }
}

/// A subscription's position in `Config::warehouses`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SubRef {
    warehouse: u32,
    subscription: u32,
}

/// Normalized key -> subscribers, for one configuration.
#[derive(Debug, Default)]
pub struct Index {
    /// Every key, end to end. A key is `{space}\0{project}\0{normalized repository key}`.
    keys: String,
    /// Every key's subscribers, each key's together.
    subscribers: Vec<SubRef>,
    /// The key's hash -> its slot.
    table: HashTable<Slot>,
    hasher: DefaultHashBuilder,
    /// Registry host rewrites (`--registry-alias FROM=TO`), applied to OCI keys of payloads.
    aliases: Vec<(String, String)>,
    /// Subscriptions left out for want of a key (counted here so that no one normalizes every
    /// repository URL again to count them).
    unusable: usize,
}

/// One key of the index: where its text is in `Index::keys` and its subscribers in
/// `Index::subscribers`.
#[derive(Debug, Clone, Copy)]
struct Slot {
    key: u32,
    key_len: u32,
    subscribers: u32,
    subscribers_len: u32,
}

/// What happened to one candidate subscription of one target, as read back from a stored
/// delivery (owned).
pub type Candidate = CandidateMatch<'static>;

/// The result for one target of a delivery, as read back from a stored delivery (owned).
pub type TargetResult = TargetMatch<'static>;

/// What happened to one candidate subscription of one target.
///
/// The names borrow from the configuration when `evaluate` made it (a webhook's path copies no
/// string per candidate; serializing the delivery record does) and are owned ([`Candidate`])
/// when read back from a stored delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CandidateMatch<'a> {
    pub project: Cow<'a, str>,
    pub warehouse: Cow<'a, str>,
    /// Index in the Warehouse's `spec.subscriptions`.
    pub subscription: u32,
    pub repo_url: Cow<'a, str>,
    pub matched: bool,
    /// Why not, when not matched: one line per rejected tag or ref.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The result for one target of a delivery; [`TargetResult`] is its owned form, read back from a
/// stored delivery to explain it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetMatch<'a> {
    /// The repository URL as the payload spelt it.
    pub repo_url: String,
    /// The key it normalized to (what subscriptions were looked up by), or the error.
    pub normalized: Result<String, String>,
    pub candidates: Vec<CandidateMatch<'a>>,
}

/// One Warehouse a delivery refreshes, and which of its subscriptions the delivery concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WarehouseRefresh {
    pub warehouse: WarehouseRef,
    /// Indices in the Warehouse's `spec.subscriptions`, ascending: discovery needs to look at
    /// only those again.
    pub subscriptions: Vec<u32>,
}

/// The refresh decision for one delivery; its candidates borrow from the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation<'a> {
    /// Warehouses to refresh, de-duplicated, in configuration order.
    pub refresh: Vec<WarehouseRefresh>,
    pub targets: Vec<TargetMatch<'a>>,
}

impl Evaluation<'_> {
    /// One line per target that matched nothing, for the delivery's message.
    pub fn explain_misses(&self) -> Vec<String> {
        explain_misses(&self.targets)
    }
}

/// One line per target that matched nothing: the explanation of a delivery, derived from its
/// matching result (so a stored delivery keeps only the result).
pub fn explain_misses(targets: &[TargetMatch<'_>]) -> Vec<String> {
    let mut out = Vec::new();
    for t in targets {
        match &t.normalized {
            Err(e) => out.push(format!("{}: {e}", t.repo_url)),
            Ok(key) if t.candidates.is_empty() => out.push(format!(
                "no Warehouse in this project subscribes to {key} (from {})",
                t.repo_url
            )),
            Ok(_) => {
                for c in t.candidates.iter().filter(|c| !c.matched) {
                    out.push(format!(
                        "{}/{} subscription {}: {}",
                        c.project,
                        c.warehouse,
                        c.subscription,
                        c.reason.as_deref().unwrap_or("not matched")
                    ));
                }
            }
        }
    }
    out
}

impl Index {
    /// Indexes every subscription of `config` whose repository URL normalizes (configuration
    /// loading has already rejected those that do not).
    ///
    /// When a ClusterConfig receiver exists (project `""`), every subscription is indexed a
    /// second time under project `""`, so that its lookups span every project in one probe.
    pub fn build(config: &Config, aliases: &[(String, String)]) -> Index {
        let cluster_wide = config.receivers.iter().any(|r| r.project.is_empty());
        let mut map: HashMap<Box<str>, Vec<SubRef>> = HashMap::new();
        let mut unusable = 0;
        for (wi, w) in config.warehouses.iter().enumerate() {
            for (si, s) in w.subscriptions.iter().enumerate() {
                let space = match s {
                    Subscription::Image(_) => Space::Oci,
                    Subscription::Chart(c) if c.name.is_some() => Space::Helm,
                    Subscription::Chart(_) => Space::Oci,
                    Subscription::Git(_) => Space::Git,
                };
                // No key: a URL Kargo accepts that names no usable repository (loading warned).
                let Ok(key) = s.webhook_key() else {
                    unusable += 1;
                    continue;
                };
                let r = SubRef {
                    warehouse: wi as u32,
                    subscription: si as u32,
                };
                let projects: &[&str] = if cluster_wide {
                    &[w.project.as_str(), ""]
                } else {
                    &[w.project.as_str()]
                };
                for project in projects {
                    let k = compose(space, project, &key);
                    let list = map.entry(k.into_boxed_str()).or_default();
                    if !list.contains(&r) {
                        list.push(r);
                    }
                }
            }
        }
        let mut index = Index::flatten(map, aliases);
        index.unusable = unusable;
        index
    }

    /// Lays the built map out flat (see the module doc). Sizes are 32-bit: a configuration
    /// beyond 4 GiB of keys or 4 billion subscriptions does not load in the first place.
    fn flatten(map: HashMap<Box<str>, Vec<SubRef>>, aliases: &[(String, String)]) -> Index {
        let hasher = DefaultHashBuilder::default();
        let mut index = Index {
            keys: String::with_capacity(map.keys().map(|k| k.len()).sum()),
            subscribers: Vec::with_capacity(map.values().map(Vec::len).sum()),
            table: HashTable::with_capacity(map.len()),
            hasher,
            aliases: aliases.to_vec(),
            unusable: 0,
        };
        for (key, list) in map {
            let slot = Slot {
                key: index.keys.len() as u32,
                key_len: key.len() as u32,
                subscribers: index.subscribers.len() as u32,
                subscribers_len: list.len() as u32,
            };
            index.keys.push_str(&key);
            index.subscribers.extend_from_slice(&list);
            let hash = index.hasher.hash_one(&*key);
            let hasher = &index.hasher;
            let keys = &index.keys;
            index
                .table
                .insert_unique(hash, slot, |s| hasher.hash_one(key_of(keys, s)));
        }
        index
    }

    /// Number of subscriptions not indexed because their repository URL has no key (a URL
    /// Kargo accepts that names no usable repository).
    pub fn unusable(&self) -> usize {
        self.unusable
    }

    /// Number of distinct (project, repository) keys.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The key an image repository URL is looked up by (`image_key`, then the registry
    /// aliases), as a delivery's OCI target is: what a user types (`myregistry.azurecr.io/app`,
    /// with a tag or not) becomes the key deliveries recorded.
    pub fn image_key(&self, url: &str) -> Result<String, String> {
        repo_url::image_key(url)
            .map(|k| self.rewrite_alias(k))
            .map_err(|e| e.to_string())
    }

    fn rewrite_alias(&self, key: String) -> String {
        let host = repo_url::registry_host(&key);
        match self.aliases.iter().find(|(from, _)| from == host) {
            Some((_, to)) => repo_url::with_registry_host(&key, to),
            None => key,
        }
    }

    fn subscribers(&self, space: Space, project: &str, key: &str) -> &[SubRef] {
        // The composed key is built in a reused buffer: this is the per-event path.
        thread_local! {
            static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        KEY.with(|buf| {
            let mut buf = buf.borrow_mut();
            compose_into(&mut buf, space, project, key);
            let wanted = buf.as_str();
            let hash = self.hasher.hash_one(wanted);
            match self.table.find(hash, |s| key_of(&self.keys, s) == wanted) {
                Some(s) => {
                    let start = s.subscribers as usize;
                    self.subscribers
                        .get(start..start + s.subscribers_len as usize)
                        .unwrap_or(&[])
                }
                None => &[],
            }
        })
    }

    /// Decides which Warehouses of `project` (of every project when `project` is `""`, a
    /// ClusterConfig receiver) the `targets` of one delivery refresh.
    pub fn evaluate<'a>(
        &self,
        config: &'a Config,
        project: &str,
        targets: &[Target],
    ) -> Evaluation<'a> {
        let mut eval = Evaluation::default();
        let mut chosen: Vec<SubRef> = Vec::new();
        for target in targets {
            let result = self.evaluate_target(config, project, target, &mut chosen);
            eval.targets.push(result);
        }
        chosen.sort_unstable_by_key(|r| (r.warehouse, r.subscription));
        chosen.dedup();
        let mut last: Option<u32> = None;
        for r in chosen {
            if last == Some(r.warehouse) {
                if let Some(entry) = eval.refresh.last_mut() {
                    entry.subscriptions.push(r.subscription);
                }
                continue;
            }
            last = Some(r.warehouse);
            let w = &config.warehouses[r.warehouse as usize];
            eval.refresh.push(WarehouseRefresh {
                warehouse: WarehouseRef::from(w),
                subscriptions: vec![r.subscription],
            });
        }
        eval
    }

    fn evaluate_target<'a>(
        &self,
        config: &'a Config,
        project: &str,
        target: &Target,
        chosen: &mut Vec<SubRef>,
    ) -> TargetMatch<'a> {
        let normalized = match target {
            Target::Oci { repo_url, .. } => {
                repo_url::image_key(repo_url).map(|k| self.rewrite_alias(k))
            }
            Target::HelmRepo {
                repo_url, chart, ..
            } => repo_url::chart_key(repo_url, Some(chart)),
            Target::Git { repo_url, .. } => repo_url::git_key(repo_url),
        };
        let key = match normalized {
            Ok(k) => k,
            Err(e) => {
                return TargetMatch {
                    repo_url: target.repo_url().to_string(),
                    normalized: Err(e.to_string()),
                    candidates: Vec::new(),
                }
            }
        };
        let space = match target {
            Target::Oci { .. } => Space::Oci,
            Target::HelmRepo { .. } => Space::Helm,
            Target::Git { .. } => Space::Git,
        };
        let mut candidates = Vec::new();
        for r in self.subscribers(space, project, &key) {
            let w = &config.warehouses[r.warehouse as usize];
            let sub = &w.subscriptions[r.subscription as usize];
            let verdict = judge(sub, target);
            let matched = verdict.is_ok();
            if matched {
                chosen.push(*r);
            }
            candidates.push(CandidateMatch {
                project: Cow::Borrowed(&w.project),
                warehouse: Cow::Borrowed(&w.name),
                subscription: r.subscription,
                repo_url: Cow::Borrowed(sub.repo_url()),
                matched,
                reason: verdict.err(),
            });
        }
        TargetMatch {
            repo_url: target.repo_url().to_string(),
            normalized: Ok(key),
            candidates,
        }
    }
}

fn key_of<'k>(keys: &'k str, slot: &Slot) -> &'k str {
    let start = slot.key as usize;
    keys.get(start..start + slot.key_len as usize)
        .unwrap_or_default()
}

fn compose(space: Space, project: &str, key: &str) -> String {
    let mut s = String::with_capacity(project.len() + key.len() + 4);
    compose_into(&mut s, space, project, key);
    s
}

fn compose_into(s: &mut String, space: Space, project: &str, key: &str) {
    s.clear();
    s.push(space.tag());
    s.push('\0');
    s.push_str(project);
    s.push('\0');
    s.push_str(key);
}

/// Does `sub` want to hear about `target`? A target with no qualifiers (a push by digest, a ref
/// list the payload did not give) concerns every subscriber of the right kind; otherwise at least
/// one qualifier must pass the subscription's rules.
fn judge(sub: &Subscription, target: &Target) -> Result<(), String> {
    match (sub, target) {
        (Subscription::Image(s), Target::Oci { image, tags, .. }) => {
            if !image {
                return Err("the pushed artifact is a Helm chart, not an image".into());
            }
            any_accepted(tags, |t| matching::image_tag(s, t))
        }
        (Subscription::Chart(s), Target::Oci { chart, tags, .. }) => {
            if !chart {
                return Err("the pushed artifact is an image, not a Helm chart".into());
            }
            any_accepted(tags, |t| matching::chart_version(s, t))
        }
        (Subscription::Chart(s), Target::HelmRepo { versions, .. }) => {
            any_accepted(versions, |v| matching::chart_version(s, v))
        }
        (
            Subscription::Git(s),
            Target::Git {
                refs,
                default_branch,
                changed_paths,
                ..
            },
        ) => any_accepted(refs, |r| {
            matching::git_ref(s, r, default_branch.as_deref(), changed_paths.as_deref())
        }),
        _ => Err("subscription kind does not fit the event".into()),
    }
}

fn any_accepted<T>(
    items: &[T],
    accept: impl Fn(&T) -> Result<(), matching::Rejection>,
) -> Result<(), String> {
    if items.is_empty() {
        return Ok(());
    }
    let mut reasons = Vec::new();
    for item in items {
        match accept(item) {
            Ok(()) => return Ok(()),
            Err(r) => reasons.push(r.0),
        }
    }
    Err(reasons.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;
    use crate::event::RefUpdate;

    const CONFIG: &str = r#"
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: img, namespace: a}
spec:
  subscriptions:
  - image: {repoURL: "Reg.example.com:5000/team/app", constraint: "^1.0.0"}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: chart, namespace: a}
spec:
  subscriptions:
  - chart: {repoURL: "oci://reg.example.com:5000/team/app"}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: img, namespace: b}
spec:
  subscriptions:
  - image: {repoURL: "reg.example.com:5000/team/app", imageSelectionStrategy: Lexical}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: git, namespace: a}
spec:
  subscriptions:
  - git: {repoURL: "git@ssh.dev.azure.com:v3/org/proj/repo", branch: main}
  - image: {repoURL: "nginx", imageSelectionStrategy: Lexical}
"#;

    fn oci(url: &str, image: bool, chart: bool, tags: &[&str]) -> Target {
        Target::Oci {
            repo_url: url.into(),
            image,
            chart,
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn names(e: &Evaluation) -> Vec<String> {
        e.refresh.iter().map(|r| r.warehouse.to_string()).collect()
    }

    #[test]
    fn a_cluster_receiver_looks_in_every_project() {
        let mut config = load_str("c.yaml", CONFIG).expect("config");
        let without = Index::build(&config, &[]);
        let push = [oci(
            "reg.example.com:5000/team/app",
            true,
            false,
            &["1.2.0"],
        )];
        assert!(names(&without.evaluate(&config, "", &push)).is_empty());

        let cluster = crate::config::load_str(
            "cluster.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: kargo-system-resources}\nstringData: {secret: x}\n---\napiVersion: kargo.akuity.io/v1alpha1\nkind: ClusterConfig\nmetadata: {name: cluster}\nspec:\n  webhookReceivers:\n  - {name: all, azure: {secretRef: {name: s}}}\n",
        )
        .expect("cluster config");
        config.receivers.extend(cluster.receivers);
        let index = Index::build(&config, &[]);
        assert_eq!(
            names(&index.evaluate(&config, "", &push)),
            ["a/img", "b/img"]
        );
        // Project receivers still see only their own project.
        assert_eq!(names(&index.evaluate(&config, "b", &push)), ["b/img"]);
    }

    #[test]
    fn evaluate_table() {
        let config = load_str("c.yaml", CONFIG).expect("config");
        let index = Index::build(&config, &[]);
        let git = |name: &str, id: &str| Target::Git {
            repo_url: "https://dev.azure.com/org/proj/_git/repo".into(),
            refs: vec![RefUpdate {
                name: name.into(),
                new_object_id: id.into(),
            }],
            default_branch: None,
            changed_paths: None,
        };
        let cases: Vec<(&str, &str, Target, Vec<&str>)> = vec![
            (
                "tag passes",
                "a",
                oci("reg.example.com:5000/team/app:x", true, true, &["1.2.0"]),
                vec!["a/img", "a/chart"],
            ),
            (
                "tag fails the constraint, chart has none",
                "a",
                oci("reg.example.com:5000/team/app", true, true, &["0.1.0"]),
                vec!["a/chart"],
            ),
            (
                "push by digest: every subscriber",
                "a",
                oci("REG.example.com:5000/team/app", true, true, &[]),
                vec!["a/img", "a/chart"],
            ),
            (
                "image only",
                "a",
                oci("reg.example.com:5000/team/app", true, false, &[]),
                vec!["a/img"],
            ),
            (
                "other project sees its own",
                "b",
                oci("reg.example.com:5000/team/app", true, true, &["0.1.0"]),
                vec!["b/img"],
            ),
            (
                "unknown repository",
                "a",
                oci("reg.example.com:5000/team/other", true, true, &[]),
                vec![],
            ),
            (
                "Docker Hub spelling",
                "a",
                oci("docker.io/library/nginx", true, false, &["latest"]),
                vec!["a/git"],
            ),
            (
                "git branch",
                "a",
                git("refs/heads/main", "abc1"),
                vec!["a/git"],
            ),
            (
                "git other branch",
                "a",
                git("refs/heads/dev", "abc1"),
                vec![],
            ),
            (
                "git deleted",
                "a",
                git("refs/heads/main", &"0".repeat(40)),
                vec![],
            ),
        ];
        for (what, project, target, want) in cases {
            let e = index.evaluate(&config, project, std::slice::from_ref(&target));
            let mut got = names(&e);
            got.sort();
            let mut want: Vec<String> = want.into_iter().map(String::from).collect();
            want.sort();
            assert_eq!(got, want, "{what}: {:?}", e.explain_misses());
        }
    }

    #[test]
    fn matched_subscriptions_are_listed_per_warehouse() {
        let config = load_str("c.yaml", CONFIG).expect("config");
        let index = Index::build(&config, &[]);
        let git = Target::Git {
            repo_url: "https://dev.azure.com/org/proj/_git/repo".into(),
            refs: vec![],
            default_branch: None,
            changed_paths: None,
        };
        // a/git's subscription 0 (git) and 1 (nginx) both named by one delivery.
        let e = index.evaluate(&config, "a", &[oci("nginx", true, false, &[]), git]);
        assert_eq!(names(&e), ["a/git"]);
        let subscriptions: Vec<&[u32]> = e
            .refresh
            .iter()
            .map(|r| r.subscriptions.as_slice())
            .collect();
        assert_eq!(subscriptions, [[0, 1]]);
    }

    #[test]
    fn misses_are_explained() {
        let config = load_str("c.yaml", CONFIG).expect("config");
        let index = Index::build(&config, &[]);
        let e = index.evaluate(
            &config,
            "a",
            &[
                oci("reg.example.com:5000/team/app", true, false, &["0.1.0"]),
                oci("reg.example.com:5000/nothing", true, false, &["1.0.0"]),
                oci("bad url with spaces", true, false, &[]),
            ],
        );
        let why = e.explain_misses();
        assert_eq!(why.len(), 4, "{why:?}");
        assert!(
            why[0].contains("a/img subscription 0") && why[0].contains("^1.0.0"),
            "{why:?}"
        );
        assert!(
            why[1].contains("a/chart") && why[1].contains("image, not a Helm chart"),
            "{why:?}"
        );
        assert!(
            why[2].contains(
                "no Warehouse in this project subscribes to reg.example.com:5000/nothing"
            ),
            "{why:?}"
        );
        assert!(why[3].starts_with("bad url with spaces:"), "{why:?}");
    }

    #[test]
    fn registry_aliases_rewrite_payload_hosts() {
        let config = load_str("c.yaml", CONFIG).expect("config");
        let aliases = vec![(
            "harbor.example.com".to_string(),
            "reg.example.com:5000".to_string(),
        )];
        let index = Index::build(&config, &aliases);
        let e = index.evaluate(
            &config,
            "a",
            &[oci("Harbor.example.com/team/app", true, false, &["1.0.0"])],
        );
        assert_eq!(names(&e), ["a/img"]);
        // Without the alias the same push matches nothing.
        let plain = Index::build(&config, &[]);
        let e = plain.evaluate(
            &config,
            "a",
            &[oci("harbor.example.com/team/app", true, false, &["1.0.0"])],
        );
        assert!(e.refresh.is_empty());
    }
}
