//! The `generic` receiver: Kargo's generic webhook receiver. Any POST; the ProjectConfig's
//! `generic.actions[]` say what to do with it: each action's `whenExpression` (expr-lang, over
//! `request.header(name)`, `request.headers(name)`, `request.body`, `request.params(name)`,
//! `normalizeGit/normalizeImage/normalizeChart` and `params`) decides whether it runs, and its
//! `targetSelectionCriteria` choose the Warehouses to refresh by `name`, `labelSelector` and/or
//! `indexSelector` (`subscribedURLs`, `receiverPaths`; `Equals`/`NotEquals`), every value a
//! literal or a `${{ ... }}` template.
//!
//! # Authentication
//! None but the URL: the Secret's `secret` is hashed into it, and the URL is the credential (as
//! in Kargo).
//!
//! # Cases
//! | request | result |
//! |---|---|
//! | body not JSON (a non-empty body) | 400 `invalid request body: ...` |
//! | `whenExpression` does not compile | `Error` for that action, per request (the configuration loads, as in Kargo) |
//! | empty body | `request.body` is nil; actions run |
//! | action whose `whenExpression` is false | `NotApplicable`, "Request did not match whenExpression" |
//! | `whenExpression` fails or is not a bool | `Error`, "Error evaluating whenExpression" |
//! | a template fails or is not a string, `receiverPaths` on Warehouses, a `Promotion` target | `Error`, "Error evaluating targetSelectionCriteria" |
//! | otherwise | `Success`, "Refreshed N of N selected resources" |
//!
//! The handler is pure and knows no Warehouses: it returns [`Action::Generic`] with each action
//! evaluated down to plain criteria ([`Criteria`]); the service picks the Warehouses with
//! [`select`], makes the refreshes durable like any other delivery's, and answers with Kargo's
//! body ([`response_body`]): 200, or 500 when an action's result is `Error`.
//!
//! The expressions: `expression.rs` (and its bounds); Kargo's normalizers: `normalize.rs`.

mod expression;
mod normalize;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{ReceiverType, Request};
use crate::config::{Receiver, ReceiverSettings, Subscription, Warehouse};
use crate::event::{Action, Event, Rejection, Source};
use crate::repo_url;
use crate::warehouse_ref::WarehouseRef;

/// A request to a generic receiver (any sender).
pub const GENERIC: Source = Source::new("generic");

pub static TYPE: ReceiverType = ReceiverType {
    name: "generic",
    url_secret_key: "secret",
    optional_keys: &[],
    handle,
    sources: &[GENERIC],
    settings: Some(read_settings),
};

/// `generic:` of a `webhookReceivers[]` entry (Kargo's `GenericWebhookReceiverConfig`, less
/// `secretRef`, which the loader reads).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    #[serde(default)]
    pub actions: Vec<ActionConfig>,
}

/// One `actions[]` entry, serialized back as Kargo echoes it in its response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionConfig {
    pub action: ActionType,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub when_expression: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_selection_criteria: Vec<CriteriaConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionType {
    Refresh,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetKind {
    Warehouse,
    Promotion,
}

/// One `targetSelectionCriteria[]` entry. `labelSelector` and `indexSelector` are always
/// written back (`{}` when empty), as Go's encoding/json writes struct fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CriteriaConfig {
    pub kind: TargetKind,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default)]
    pub label_selector: LabelSelector,
    #[serde(default)]
    pub index_selector: IndexSelector,
}

/// A Kubernetes label selector; every value may be a template (evaluated per request).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelRequirement>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelRequirement {
    pub key: String,
    pub operator: LabelOperator,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LabelOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexSelector {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_indices: Vec<IndexRequirement>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexRequirement {
    pub key: IndexKey,
    pub operator: IndexOperator,
    pub value: String,
}

/// Kargo's field indices the generic receiver may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IndexKey {
    #[serde(rename = "subscribedURLs")]
    SubscribedUrls,
    /// An index of ProjectConfigs in Kargo; selecting Warehouses by it is an error there too.
    #[serde(rename = "receiverPaths")]
    ReceiverPaths,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IndexOperator {
    Equals,
    NotEquals,
}

/// Reads `generic:` at load: the actions' shape only. A `whenExpression` that does not compile
/// is reported per request (`Error`, "Error evaluating whenExpression"), as Kargo does, so a
/// ProjectConfig Kargo accepts loads here too.
fn read_settings(section: &serde_json::Value) -> Result<ReceiverSettings, String> {
    let settings: Settings = serde_path_to_error::deserialize(section)
        .map_err(|e| format!("{}: {}", e.path(), e.inner()))?;
    Ok(ReceiverSettings::new(Arc::new(settings)))
}

/// What one action came to for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluated {
    /// The action as configured (echoed in the response).
    pub config: ActionConfig,
    pub state: State,
}

#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// `whenExpression` was false.
    NotMatched,
    /// `whenExpression` failed or was not a bool.
    WhenError(String),
    /// A selection template failed, or the criteria cannot select Warehouses.
    SelectionError(String),
    /// Matched; the Warehouses are those any of these criteria select.
    Selected(Vec<Criteria>),
}

/// One selection criterion with its templates evaluated: a Warehouse of the receiver's project
/// is selected when it satisfies every part given (an empty part selects all, as in Kargo).
#[derive(Debug, Clone, PartialEq)]
pub struct Criteria {
    pub name: Option<String>,
    pub labels: LabelSelector,
    pub indices: Vec<IndexRequirement>,
}

fn handle(receiver: &Receiver, req: &Request<'_>) -> Result<Event, Rejection> {
    let body = if req.body.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(req.body).map_err(|e| {
            let mut r = Rejection::bad_request(GENERIC, format!("invalid request body: {e}"));
            r.event_type = Some("generic".into());
            r
        })?
    };
    let settings = receiver
        .settings
        .get::<Settings>()
        .cloned()
        .unwrap_or_default();
    let env = expression::RequestEnv::new(req.headers, req.query, &body);
    let evaluated = settings
        .actions
        .iter()
        .map(|a| Evaluated {
            config: a.clone(),
            state: evaluate(&env, a),
        })
        .collect();
    Ok(Event {
        source: GENERIC,
        event_type: "generic".into(),
        provider_id: None,
        action: Action::Generic(evaluated),
    })
}

fn evaluate(env: &expression::RequestEnv<'_>, action: &ActionConfig) -> State {
    let ctx = env.with_params(&action.parameters);
    match env.when(&action.when_expression, &ctx) {
        Err(e) => return State::WhenError(e),
        Ok(false) => return State::NotMatched,
        Ok(true) => {}
    }
    let mut out = Vec::with_capacity(action.target_selection_criteria.len());
    for (i, c) in action.target_selection_criteria.iter().enumerate() {
        let criteria = (|| -> Result<Criteria, String> {
            if c.kind != TargetKind::Warehouse {
                return Err(
                    "Promotion targets are not supported by dockhand: it refreshes Warehouses"
                        .into(),
                );
            }
            let name = match c.name.as_str() {
                "" => None,
                n => Some(env.template(n, &ctx)?),
            };
            let mut labels = c.label_selector.clone();
            for v in labels.match_labels.values_mut() {
                *v = env.template(v, &ctx)?;
            }
            for r in &mut labels.match_expressions {
                for v in &mut r.values {
                    *v = env.template(v, &ctx)?;
                }
            }
            let mut indices = c.index_selector.match_indices.clone();
            for r in &mut indices {
                if r.key == IndexKey::ReceiverPaths {
                    return Err("Warehouses have no receiverPaths index".into());
                }
                r.value = env.template(&r.value, &ctx)?;
            }
            Ok(Criteria {
                name,
                labels,
                indices,
            })
        })();
        match criteria {
            Ok(c) => out.push(c),
            Err(e) => {
                return State::SelectionError(format!(
                    "failed to list objects for targetSelectionCriteria at index {i}: {e}"
                ))
            }
        }
    }
    State::Selected(out)
}

/// The Warehouses of `project` (every project for a ClusterConfig receiver, `""`) that any of
/// `criteria` selects, sorted and without repeats (Kargo's `listUniqueObjects`).
pub fn select(criteria: &[Criteria], project: &str, warehouses: &[Warehouse]) -> Vec<WarehouseRef> {
    let mut out: Vec<WarehouseRef> = warehouses
        .iter()
        .filter(|w| project.is_empty() || w.project == project)
        .filter(|w| criteria.iter().any(|c| c.selects(w)))
        .map(|w| WarehouseRef::new(w.project.clone(), w.name.clone()))
        .collect();
    out.sort();
    out.dedup();
    out
}

impl Criteria {
    fn selects(&self, w: &Warehouse) -> bool {
        self.name.as_ref().is_none_or(|n| *n == w.name)
            && self.labels.matches(&w.labels)
            && self.indices.iter().all(|r| {
                let subscribed = w.subscriptions.iter().any(|s| subscribed_to(s, &r.value));
                match r.operator {
                    IndexOperator::Equals => subscribed,
                    IndexOperator::NotEquals => !subscribed,
                }
            })
    }
}

impl LabelSelector {
    /// Kubernetes' semantics: every `matchLabels` pair and every requirement holds.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| {
                let value = labels.get(&r.key);
                match r.operator {
                    LabelOperator::In => value.is_some_and(|v| r.values.contains(v)),
                    LabelOperator::NotIn => value.is_none_or(|v| !r.values.contains(v)),
                    LabelOperator::Exists => value.is_some(),
                    LabelOperator::DoesNotExist => value.is_none(),
                }
            })
    }
}

/// Is `s` subscribed to `url`? Compared by dockhand's repository keys (so any spelling of the
/// repository matches, as the index does for every other receiver).
fn subscribed_to(s: &Subscription, url: &str) -> bool {
    let keys = match s {
        Subscription::Image(i) => (repo_url::image_key(&i.repo_url), repo_url::image_key(url)),
        Subscription::Git(g) => (repo_url::git_key(&g.repo_url), repo_url::git_key(url)),
        Subscription::Chart(c) => (
            repo_url::chart_key(&c.repo_url, c.name.as_deref()),
            repo_url::chart_key(url, c.name.as_deref()).or_else(|_| {
                repo_url::chart_key(
                    &format!("oci://{}", repo_url::strip_image_scheme(url)),
                    None,
                )
            }),
        ),
    };
    matches!(keys, (Ok(a), Ok(b)) if a == b)
}

/// One action's line in Kargo's response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionResult {
    #[serde(flatten)]
    pub action: ActionConfig,
    pub matched_when_expression: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub selected_targets: Vec<SelectedTarget>,
    pub result: &'static str,
    pub summary: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SelectedTarget {
    pub namespace: String,
    pub name: String,
    pub success: bool,
}

/// Kargo's result of one action, once its Warehouses are known (`selected`, for a
/// [`State::Selected`] action) and made durable.
pub fn action_result(e: &Evaluated, selected: &[WarehouseRef]) -> ActionResult {
    let (matched, result, summary) = match &e.state {
        State::NotMatched => (
            false,
            "NotApplicable",
            "Request did not match whenExpression".into(),
        ),
        State::WhenError(_) => (false, "Error", "Error evaluating whenExpression".into()),
        State::SelectionError(_) => (
            true,
            "Error",
            "Error evaluating targetSelectionCriteria".into(),
        ),
        State::Selected(_) => (
            true,
            "Success",
            format!(
                "Refreshed {} of {} selected resources",
                selected.len(),
                selected.len()
            ),
        ),
    };
    ActionResult {
        action: e.config.clone(),
        matched_when_expression: matched,
        selected_targets: selected
            .iter()
            .map(|w| SelectedTarget {
                namespace: w.project.clone(),
                name: w.name.clone(),
                success: true,
            })
            .collect(),
        result,
        summary,
    }
}

/// Kargo's HTTP status for these results: 500 when any is `Error`, `Failure` or
/// `PartialSuccess`.
pub fn status(results: &[ActionResult]) -> u16 {
    if results
        .iter()
        .any(|r| matches!(r.result, "Error" | "Failure" | "PartialSuccess"))
    {
        500
    } else {
        200
    }
}

/// Kargo's body: `{"results": [...]}`.
pub fn response_body(results: &[ActionResult]) -> serde_json::Value {
    serde_json::json!({ "results": results })
}

#[cfg(test)]
mod tests;
