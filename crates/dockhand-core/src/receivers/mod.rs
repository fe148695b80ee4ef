//! Receivers: one file per provider, each turning the bytes and headers of one request into an
//! `Event` (or a `Rejection`). Pure: no I/O, no clock. Authentication happens here too, because
//! what to check (and before which parsing) differs per provider.
//!
//! - `azure`: Azure Container Registry webhooks, Azure DevOps service hooks and Azure Event Grid
//!   deliveries of registry events, all on one `azure` receiver.
//! - `harbor`: Harbor webhooks, default and CloudEvents payload formats.
//! - `generic`: Kargo's generic receiver: the ProjectConfig's actions, expr-lang expressions.
//! - `github`: GitHub webhooks: pushes, pull requests, GHCR packages (HMAC-signed).
//! - `gitlab`: GitLab webhooks: pushes, tag pushes, merge requests (`X-Gitlab-Token`).
//! - `bitbucket`: Bitbucket Cloud and Server/Data Center webhooks (HMAC-signed).
//! - `gitea`: Gitea and Forgejo webhooks (HMAC-signed).
//! - `dockerhub`, `quay`, `artifactory`: Docker Hub, Quay and JFrog Artifactory webhooks, as
//!   Kargo's receivers of those names.
//! - `distribution`, `ecr`, `gar`: dockhand's own (not in Kargo): CNCF Distribution registry
//!   notifications, Amazon ECR events through an EventBridge API destination, Google Artifact
//!   Registry notifications through a Pub/Sub push subscription.
//!
//! Each provider file declares one [`ReceiverType`] (its name, the Secret keys it reads, its
//! handler, the sources it reports); [`RECEIVER_TYPES`] lists them, and everything else derives
//! from that list: which `spec.webhookReceivers[]` keys the configuration accepts, how a
//! receiver's Secret is read, dispatch, the metric labels, the README check and the fuzz target.
//!
//! Every handler is a total function: any bytes give `Ok` or `Err`, never a panic (the fuzzer
//! relies on it).

pub mod artifactory;
mod auth;
pub mod azure;
pub mod bitbucket;
pub mod distribution;
pub mod dockerhub;
pub mod ecr;
pub mod gar;
pub mod generic;
mod git_push;
pub mod gitea;
pub mod github;
pub mod gitlab;
pub mod harbor;
mod media_type;
mod payload;
pub mod quay;

use http::{HeaderMap, Method};

use crate::config::Receiver;
use crate::event::{Event, Rejection, Source};

/// Every receiver type dockhand implements, in the order messages list them. Adding a type is a
/// new file in this folder plus one line here (see ARCHITECTURE.md, "How to add a receiver
/// type").
pub static RECEIVER_TYPES: &[&ReceiverType] = &[
    &azure::TYPE,
    &harbor::TYPE,
    &github::TYPE,
    &gitlab::TYPE,
    &bitbucket::TYPE,
    &gitea::TYPE,
    &generic::TYPE,
    &dockerhub::TYPE,
    &quay::TYPE,
    &artifactory::TYPE,
    &distribution::TYPE,
    &ecr::TYPE,
    &gar::TYPE,
];

/// Authenticates and parses one request for its receiver.
pub type Handler = fn(&Receiver, &Request<'_>) -> Result<Event, Rejection>;

/// What dockhand knows about one receiver type. Declared as a `static` in the provider's file.
#[derive(Debug)]
pub struct ReceiverType {
    /// The type's name: the key in `spec.webhookReceivers[]` (`azure: {secretRef: ...}`) and the
    /// first segment of the receiver's URL path. Kargo's name when Kargo has the type.
    pub name: &'static str,
    /// The Secret key whose value is hashed into the receiver URL (Kargo's: `secret` for azure,
    /// `auth-header` for harbor). Required.
    pub url_secret_key: &'static str,
    /// Further Secret keys the handler may use, in groups that are all present or all absent
    /// (a group of one key is simply optional).
    pub optional_keys: &'static [KeyGroup],
    pub handle: Handler,
    /// Every source the handler can report (besides [`Source::UNKNOWN`]).
    pub sources: &'static [Source],
    /// Reads the type's own fields of its `spec.webhookReceivers[].<type>` section (everything
    /// but `secretRef`, given as JSON) at load, for the handler to find in
    /// [`Receiver::settings`]; an `Err` is reported at that section and leaves the receiver out.
    /// `None`: the type has no fields of its own.
    pub settings: Option<SettingsReader>,
}

/// See [`ReceiverType::settings`].
pub type SettingsReader = fn(&serde_json::Value) -> Result<crate::config::ReceiverSettings, String>;

impl PartialEq for ReceiverType {
    /// Names are unique across [`RECEIVER_TYPES`] (a test checks it).
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for ReceiverType {}

impl std::hash::Hash for ReceiverType {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ReceiverType {
    /// The type named `name`, if dockhand implements it.
    pub fn named(name: &str) -> Option<&'static ReceiverType> {
        RECEIVER_TYPES.iter().copied().find(|t| t.name == name)
    }

    /// Every Secret key the type reads: the URL key, then the optional ones.
    pub fn secret_keys(&self) -> impl Iterator<Item = &'static str> {
        std::iter::once(self.url_secret_key).chain(
            self.optional_keys
                .iter()
                .flat_map(|g| g.keys.iter().copied()),
        )
    }
}

/// Secret keys that only make sense together (`username` and `password`).
#[derive(Debug)]
pub struct KeyGroup {
    pub keys: &'static [&'static str],
    /// What the keys are for, for the message when only some are present (`basic auth`).
    pub purpose: &'static str,
}

/// One HTTP request as a receiver sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    /// The URL's query string, without `?` (the generic receiver's `request.params`).
    pub query: Option<&'a str>,
    pub body: &'a [u8],
    /// A replay of a recorded delivery (`dockhand replay`) that passed authentication when it
    /// arrived. Its credentials (Authorization, signatures, tokens) were never stored, so the
    /// handler skips checking them; everything else runs as for a live request.
    pub replay: bool,
}

/// Authenticates and parses one request for `receiver`, by the receiver's type.
pub fn handle(receiver: &Receiver, req: &Request<'_>) -> Result<Event, Rejection> {
    (receiver.kind.handle)(receiver, req)
}

/// A header's value as text, when it is present and visible ASCII.
fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod test_support;

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn names_and_sources_are_unique() {
        let names: BTreeSet<&str> = RECEIVER_TYPES.iter().map(|t| t.name).collect();
        assert_eq!(names.len(), RECEIVER_TYPES.len(), "duplicate type name");
        let sources: Vec<Source> = Source::all().collect();
        let unique: BTreeSet<Source> = sources.iter().copied().collect();
        assert_eq!(unique.len(), sources.len(), "a source declared twice");
        for t in RECEIVER_TYPES {
            assert!(!t.sources.is_empty(), "{} reports no source", t.name);
            assert!(!t.sources.contains(&Source::UNKNOWN), "{}", t.name);
            let keys: Vec<&str> = t.secret_keys().collect();
            let unique: BTreeSet<&str> = keys.iter().copied().collect();
            assert_eq!(unique.len(), keys.len(), "{} names a key twice", t.name);
            // The name is a URL path segment and a YAML key.
            assert!(
                !t.name.is_empty()
                    && t.name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
                "{}",
                t.name
            );
        }
    }

    /// A replay skips the credential check (its credentials were never stored) and nothing
    /// else: the same request live is refused, and the replay still parses the payload.
    #[test]
    fn a_replay_skips_only_the_credential_check() {
        use super::test_support::{fixture, receiver, Req};
        let cases: [(&'static ReceiverType, Option<&str>, &str, &str, &str); 6] = [
            (
                &azure::TYPE,
                Some("Bearer x"),
                "user-agent",
                "AzureContainerRegistry/1.0",
                fixture!("acr-push.json"),
            ),
            (
                &harbor::TYPE,
                Some("Bearer x"),
                "x-ignored",
                "-",
                fixture!("harbor-push-artifact.json"),
            ),
            (
                &github::TYPE,
                None,
                "x-github-event",
                "push",
                fixture!("github-push.json"),
            ),
            (
                &gitlab::TYPE,
                None,
                "x-gitlab-event",
                "Push Hook",
                fixture!("gitlab-push.json"),
            ),
            (
                &gitea::TYPE,
                None,
                "x-gitea-event",
                "push",
                fixture!("gitea-push-docs.json"),
            ),
            (
                &distribution::TYPE,
                Some("Bearer x"),
                "x-ignored",
                "-",
                fixture!("distribution-push-captured.json"),
            ),
        ];
        for (kind, auth, header, value, body) in cases {
            let r = receiver(kind, auth, None);
            let live = Req::post(body).header(header, value).send(&r);
            assert_eq!(
                live.map(|_| ()).map_err(|e| e.status),
                Err(401),
                "{}",
                kind.name
            );
            let replay = Req::post(body).header(header, value).replayed().send(&r);
            assert!(replay.is_ok(), "{}: {:?}", kind.name, replay.err());
            // Not a way around reading the payload.
            let broken = Req::post("{").header(header, value).replayed().send(&r);
            assert_eq!(
                broken.map(|_| ()).map_err(|e| e.status),
                Err(400),
                "{}",
                kind.name
            );
        }
    }

    /// The README documents exactly the receiver types in the table: a `## ` section that
    /// opens with "Receiver type `name`", the ProjectConfig row, and the list of sources.
    #[test]
    fn readme_documents_every_receiver_type() {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"));
        let table: BTreeSet<&str> = RECEIVER_TYPES.iter().map(|t| t.name).collect();

        let documented: BTreeSet<&str> = readme
            .lines()
            .filter_map(|l| l.strip_prefix("Receiver type `"))
            .filter_map(|l| l.split('`').next())
            .collect();
        assert_eq!(
            documented, table,
            "README sections \"Receiver type `name`\""
        );

        let row = readme
            .lines()
            .find(|l| l.starts_with("| `ProjectConfig` |"))
            .expect("README has the ProjectConfig row");
        let listed = row
            .split_once("exactly one of ")
            .and_then(|(_, rest)| rest.split_once(", each"))
            .map(|(list, _)| backticked(list))
            .expect("the ProjectConfig row lists the types");
        assert_eq!(listed, table, "README ProjectConfig row");

        let sources_line = readme
            .split("source (")
            .nth(1)
            .and_then(|rest| rest.split_once(')'))
            .map(|(list, _)| backticked(list))
            .expect("README lists the delivery sources");
        let sources: BTreeSet<&str> = RECEIVER_TYPES
            .iter()
            .flat_map(|t| t.sources.iter().map(|s| s.as_str()))
            .collect();
        assert_eq!(sources_line, sources, "README delivery sources");
    }

    fn backticked(text: &str) -> BTreeSet<&str> {
        text.split('`').skip(1).step_by(2).collect()
    }
}
