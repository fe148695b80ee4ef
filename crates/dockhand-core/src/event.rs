//! What a receiver makes of one request: the provider's event, reduced to the repositories it
//! names and the tags or refs it carries. This is the contract between `receivers` (which parse
//! payloads) and the refresh engine (which matches subscriptions); neither knows the other.
//! Also the two closed vocabularies of a delivery record: its [`Source`] and its [`Outcome`].

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Which system sent a delivery. Recorded on every delivery and used as a metric label.
///
/// A closed set: the values are constants declared by each receiver file (`azure::ACR`,
/// `harbor::HARBOR`, ...) and listed by its [`ReceiverType`](crate::receivers::ReceiverType), plus
/// [`Source::UNKNOWN`]. Only this crate can make one, so a metric label built from a `Source`
/// cannot be inflated by what a sender writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source(&'static str);

impl Source {
    /// The request could not be attributed to any source (rejected before that was known).
    pub const UNKNOWN: Source = Source("unknown");

    /// A provider's source named `name` (lower-case, kebab-case; unique across every receiver
    /// type: a unit test in `receivers` checks it).
    pub(crate) const fn new(name: &'static str) -> Source {
        Source(name)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// Every source a receiver type of this build can report, and `unknown`.
    pub fn all() -> impl Iterator<Item = Source> {
        std::iter::once(Source::UNKNOWN).chain(
            crate::receivers::RECEIVER_TYPES
                .iter()
                .flat_map(|t| t.sources.iter().copied()),
        )
    }

    /// The source named `name`, or `unknown` for a name this build does not know (a record
    /// written by another version of dockhand): shown as `unknown` rather than dropped.
    pub fn from_name(name: &str) -> Source {
        Source::all()
            .find(|s| s.0 == name)
            .unwrap_or(Source::UNKNOWN)
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for Source {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(Source::from_name(&name))
    }
}

/// What dockhand did with one delivery. Recorded on every delivery and used as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// At least one Warehouse was queued for refresh.
    Refreshed,
    /// A push that no subscription accepted: nothing refreshed.
    Unmatched,
    /// Acknowledged and recorded, not acted on (delete, scan result, ...).
    Ignored,
    /// A connectivity test.
    Ping,
    /// A handshake the sender requires (Event Grid validation, CloudEvents `OPTIONS`).
    Handshake,
    /// Refused: authentication, a malformed payload, a wrong method, a body too large.
    Rejected,
    /// A provider delivery id already handled within the de-duplication window.
    Duplicate,
    /// The delivery could not be made durable (answered 503). Never on a stored record, since
    /// storing it is what failed; counted in metrics only.
    StoreError,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::Refreshed,
        Outcome::Unmatched,
        Outcome::Ignored,
        Outcome::Ping,
        Outcome::Handshake,
        Outcome::Rejected,
        Outcome::Duplicate,
        Outcome::StoreError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Refreshed => "refreshed",
            Outcome::Unmatched => "unmatched",
            Outcome::Ignored => "ignored",
            Outcome::Ping => "ping",
            Outcome::Handshake => "handshake",
            Outcome::Rejected => "rejected",
            Outcome::Duplicate => "duplicate",
            Outcome::StoreError => "store_error",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One artifact repository an event says something new happened in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Target {
    /// A repository in an OCI registry, written as in the payload (`host[:port]/path`, maybe
    /// with a tag or digest). `image` and `chart` say which subscription kinds it may concern:
    /// an OCI manifest can be either, so a push often says both.
    #[serde(rename_all = "camelCase")]
    Oci {
        repo_url: String,
        image: bool,
        chart: bool,
        /// Tags pushed. Empty means a push by digest: every subscriber is refreshed.
        tags: Vec<String>,
    },
    /// A chart in a classic (index.yaml) Helm repository.
    #[serde(rename_all = "camelCase")]
    HelmRepo {
        repo_url: String,
        chart: String,
        /// Versions pushed. Empty means unknown: every subscriber of the chart is refreshed.
        versions: Vec<String>,
    },
    /// A git repository.
    #[serde(rename_all = "camelCase")]
    Git {
        repo_url: String,
        /// Ref updates. Empty means unknown: every subscriber is refreshed.
        refs: Vec<RefUpdate>,
        /// The repository's default branch (`refs/heads/main`) when the payload says it.
        default_branch: Option<String>,
        /// Files changed by the push, when the payload lists them (Azure DevOps does not).
        changed_paths: Option<Vec<String>>,
    },
}

impl Target {
    pub fn repo_url(&self) -> &str {
        match self {
            Target::Oci { repo_url, .. }
            | Target::HelmRepo { repo_url, .. }
            | Target::Git { repo_url, .. } => repo_url,
        }
    }
}

/// One ref moved by a git push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefUpdate {
    /// Full ref name: `refs/heads/main`, `refs/tags/v1.2.3`.
    pub name: String,
    /// The commit the ref points to now; forty zeros when the ref was deleted.
    pub new_object_id: String,
}

impl RefUpdate {
    pub fn is_deletion(&self) -> bool {
        !self.new_object_id.is_empty() && self.new_object_id.bytes().all(|b| b == b'0')
    }
}

/// What the service should do with a delivery that a receiver accepted.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Refresh the subscribers of these repositories (after matching).
    Refresh(Vec<Target>),
    /// A connectivity test (ACR ping, Azure DevOps "Test"): answer 200 with Kargo's ping wording.
    Ping,
    /// A handshake the sender requires (Event Grid validation, CloudEvents abuse protection):
    /// answer exactly this.
    Handshake {
        status: u16,
        body: Option<serde_json::Value>,
        headers: Vec<(String, String)>,
    },
    /// A pull request was merged or abandoned (Azure DevOps), closed (GitHub, Gitea; merged or
    /// not), merged or closed (GitLab), fulfilled, rejected, merged or declined (Bitbucket):
    /// refresh the running Promotions waiting on it (a `git-wait-for-pr` step whose output names
    /// this URL), as Kargo does. Only Kargo mode knows Promotions; files mode records the
    /// delivery and ignores it.
    RefreshPromotions { pr_url: String },
    /// An event dockhand acknowledges and records but does not act on (delete, quarantine,
    /// scan results ...). `reason` is shown on the delivery.
    Ignore { reason: String },
    /// Kargo's generic receiver: its actions evaluated against the request. The service
    /// selects the Warehouses (`receivers::generic::select`) and answers with Kargo's results.
    Generic(Vec<crate::receivers::generic::Evaluated>),
}

/// A delivery a receiver accepted: authenticated and parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub source: Source,
    /// The provider's own name for the event: `push`, `git.push`, `PUSH_ARTIFACT`,
    /// `harbor.artifact.pushed`, `Microsoft.ContainerRegistry.ImagePushed` (comma-joined when one
    /// delivery carries several types).
    pub event_type: String,
    /// The provider's delivery id, for de-duplication of redeliveries, when it has one.
    pub provider_id: Option<String>,
    pub action: Action,
}

/// A delivery a receiver refused. `status` is 400 (malformed) or 401 (authentication); `message`
/// goes to the client as `{"error": message}` and onto the delivery record, so it must never
/// contain a secret or a header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub message: String,
    /// What was learnt before refusing (the source, when detection got that far).
    pub source: Source,
    pub event_type: Option<String>,
}

impl Rejection {
    pub fn bad_request(source: Source, message: impl Into<String>) -> Self {
        Rejection {
            status: 400,
            message: message.into(),
            source,
            event_type: None,
        }
    }

    /// The same refusal, saying which event it was.
    pub fn with_event_type(mut self, event_type: &str) -> Self {
        self.event_type = Some(event_type.to_owned());
        self
    }

    pub fn unauthorized(source: Source, message: impl Into<String>) -> Self {
        Rejection {
            status: 401,
            message: message.into(),
            source,
            event_type: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_serializes_as_its_name() {
        for o in Outcome::ALL {
            let json = serde_json::to_string(&o).unwrap();
            assert_eq!(json, format!("\"{}\"", o.as_str()));
            assert_eq!(serde_json::from_str::<Outcome>(&json).unwrap(), o);
        }
    }

    #[test]
    fn source_round_trips_and_unknown_names_read_as_unknown() {
        for s in Source::all() {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<Source>(&json).unwrap(), s);
        }
        assert_eq!(
            serde_json::from_str::<Source>("\"sourcehut\"").unwrap(),
            Source::UNKNOWN
        );
        assert_eq!(Source::from_name("acr").as_str(), "acr");
    }
}
