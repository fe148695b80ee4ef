//! dockhand's own kind `Notification` (`dockhand.dev/v1alpha1`): who to tell about new Freight
//! and failures, read from the same manifest folder as Kargo's kinds (files mode). The shape
//! follows Flux's notification Provider/Alert where it fits: the Secret key `address` holds the
//! URL, so it is never in the manifest itself.
//!
//! Validation (located like every other problem):
//! - `spec.type` must be `slack`, `teams` or `generic`; `spec.events` names only known events
//!   (default `[FreightCreated]`); `spec.secretRef.name` must name a Secret of the project with
//!   a non-empty `address` that is an absolute `http(s)` URL; a `generic` Notification also
//!   needs `secret`, its Standard Webhooks signing key.
//! - `spec.warehouses` naming a Warehouse the configuration does not define is a **warning**,
//!   not an error: the list is a filter, a typo only makes it quieter, and refusing the whole
//!   configuration (strict files mode refuses everything on one error) for a Warehouse that is
//!   being renamed or removed would stop the webhooks too.
//!
//! Signing key: `whsec_` followed by base64 is the Standard Webhooks form and is decoded to its
//! bytes (the spec's libraries do the same). Any other value is used as its own UTF-8 bytes, so a
//! plain shared string works with a hand-written verifier; with the spec's libraries, give them
//! `whsec_` + base64 of that string (or their "raw bytes" constructor).

use std::collections::HashMap;

use base64::Engine as _;
use serde::Deserialize;
use serde_yaml_ng::Value;

use super::diagnostics::{typed, Problems};
use super::secrets::{SecretValue, StoredSecret};
use super::Origin;
use crate::secret::Secret;

/// The API version of dockhand's own kinds.
pub const DOCKHAND_API_VERSION: &str = "dockhand.dev/v1alpha1";

/// Where a Notification sends, and the shape of what it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationType {
    /// A Slack incoming webhook: `text` plus Block Kit `blocks`.
    Slack,
    /// A Microsoft Teams Workflows webhook: an Adaptive Card in a `message` envelope.
    Teams,
    /// Any HTTP endpoint: a JSON event signed per Standard Webhooks.
    Generic,
}

impl NotificationType {
    pub const ALL: [NotificationType; 3] = [
        NotificationType::Slack,
        NotificationType::Teams,
        NotificationType::Generic,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NotificationType::Slack => "slack",
            NotificationType::Teams => "teams",
            NotificationType::Generic => "generic",
        }
    }

    pub fn parse(s: &str) -> Option<NotificationType> {
        Self::ALL.into_iter().find(|t| t.name() == s)
    }
}

impl std::fmt::Display for NotificationType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a Notification can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationEvent {
    /// A reconcile formed Freight not recorded before.
    FreightCreated,
    /// A reconcile failed after the previous one succeeded (a transition, not every failure).
    DiscoveryFailed,
    /// A receiver rejected a delivery (authentication, body); at most one per receiver and
    /// interval, so a scanner hammering a URL cannot flood the channel.
    DeliveryRejected,
    /// `dockhand notify test`: sent to one Notification on request, whatever its `events`.
    Test,
}

impl NotificationEvent {
    /// The events a manifest may name.
    pub const CONFIGURABLE: [NotificationEvent; 3] = [
        NotificationEvent::FreightCreated,
        NotificationEvent::DiscoveryFailed,
        NotificationEvent::DeliveryRejected,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NotificationEvent::FreightCreated => "FreightCreated",
            NotificationEvent::DiscoveryFailed => "DiscoveryFailed",
            NotificationEvent::DeliveryRejected => "DeliveryRejected",
            NotificationEvent::Test => "Test",
        }
    }

    pub fn parse(s: &str) -> Option<NotificationEvent> {
        Self::CONFIGURABLE
            .into_iter()
            .chain([NotificationEvent::Test])
            .find(|e| e.name() == s)
    }
}

impl std::fmt::Display for NotificationEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An HMAC key: bytes, never printed.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    /// The key as the spec defines it: `whsec_` + base64 is decoded, anything else is its own
    /// UTF-8 bytes. `None` when a `whsec_` value is not valid base64.
    pub fn parse(value: &str) -> Option<SigningKey> {
        match value.strip_prefix("whsec_") {
            Some(encoded) => base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
                .filter(|k| !k.is_empty())
                .map(SigningKey),
            None => Some(SigningKey(value.as_bytes().to_vec())),
        }
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One `Notification`, validated, its Secret resolved.
#[derive(Debug, Clone)]
pub struct Notification {
    pub project: String,
    pub name: String,
    pub kind: NotificationType,
    /// The endpoint URL (`address` key): often a credential itself (Slack's and Teams' URLs
    /// are), so it is a `Secret` and never shown.
    pub address: Secret,
    /// `generic` only: the Standard Webhooks signing key (`secret` key).
    pub signing_key: Option<SigningKey>,
    pub events: Vec<NotificationEvent>,
    /// Warehouse names of the project it reports on; empty means every Warehouse.
    pub warehouses: Vec<String>,
    pub origin: Origin,
}

impl Notification {
    /// Does this Notification want `event` about `warehouse` (None: not about one Warehouse)?
    pub fn wants(&self, event: NotificationEvent, warehouse: Option<&str>) -> bool {
        self.events.contains(&event)
            && match warehouse {
                Some(w) => self.warehouses.is_empty() || self.warehouses.iter().any(|n| n == w),
                None => true,
            }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Manifest {
    spec: Option<Spec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Spec {
    #[serde(rename = "type")]
    kind: Option<String>,
    secret_ref: Option<SecretRef>,
    events: Option<Vec<String>>,
    warehouses: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SecretRef {
    name: Option<String>,
}

/// A Notification read, waiting for the Secrets (which may come later in the files).
#[derive(Debug)]
pub(super) struct PendingNotification {
    project: String,
    name: String,
    kind: NotificationType,
    secret_name: String,
    events: Vec<NotificationEvent>,
    warehouses: Vec<String>,
    origin: Origin,
}

impl PendingNotification {
    pub(super) fn key(&self) -> (String, String) {
        (self.project.clone(), self.name.clone())
    }
}

/// Reads the spec; every problem is reported, and nothing is returned if there was one.
pub(super) fn read(
    origin: &Origin,
    project: &str,
    name: &str,
    doc: &Value,
    problems: &mut Problems,
) -> Option<PendingNotification> {
    let before = problems.len();
    let manifest = typed::<Manifest>(origin, doc, problems)?;
    let Some(spec) = manifest.spec else {
        problems.field(origin, "spec", "required");
        return None;
    };
    let kind = match spec.kind.as_deref() {
        None | Some("") => {
            problems.field(origin, "spec.type", "required: slack, teams or generic");
            None
        }
        Some(t) => {
            let parsed = NotificationType::parse(t);
            if parsed.is_none() {
                problems.field(
                    origin,
                    "spec.type",
                    format!("unknown type {t:?}: dockhand sends to slack, teams or generic"),
                );
            }
            parsed
        }
    };
    let secret_name = spec
        .secret_ref
        .and_then(|r| r.name)
        .filter(|n| !n.is_empty());
    if secret_name.is_none() {
        problems.field(
            origin,
            "spec.secretRef.name",
            "required: the Secret whose key `address` is the URL to send to",
        );
    }
    let mut events = Vec::new();
    for (i, e) in spec.events.unwrap_or_default().iter().enumerate() {
        match NotificationEvent::parse(e).filter(|e| *e != NotificationEvent::Test) {
            Some(e) if !events.contains(&e) => events.push(e),
            Some(_) => {}
            None => problems.field(
                origin,
                &format!("spec.events[{i}]"),
                format!(
                    "unknown event {e:?}: dockhand reports FreightCreated, DiscoveryFailed and DeliveryRejected"
                ),
            ),
        }
    }
    if events.is_empty() {
        events.push(NotificationEvent::FreightCreated);
    }
    let warehouses: Vec<String> = spec.warehouses.unwrap_or_default();
    for (i, w) in warehouses.iter().enumerate() {
        if w.is_empty() {
            problems.field(origin, &format!("spec.warehouses[{i}]"), "is empty");
        }
    }
    if problems.len() > before {
        return None;
    }
    Some(PendingNotification {
        project: project.to_string(),
        name: name.to_string(),
        kind: kind?,
        secret_name: secret_name?,
        events,
        warehouses,
        origin: origin.clone(),
    })
}

/// Resolves the Secret and checks the Warehouse names (warnings, see the module doc).
pub(super) fn resolve(
    pending: PendingNotification,
    secrets: &HashMap<(String, String), StoredSecret>,
    warehouse_names: &dyn Fn(&str, &str) -> bool,
    problems: &mut Problems,
    warnings: &mut Problems,
) -> Option<Notification> {
    let field = "spec.secretRef.name";
    let origin = &pending.origin;
    let Some(stored) = secrets.get(&(pending.project.clone(), pending.secret_name.clone())) else {
        problems.field(
            origin,
            field,
            format!(
                "Secret {:?} not found in namespace {:?} (a Notification's Secret must be in its project's namespace)",
                pending.secret_name, pending.project
            ),
        );
        return None;
    };
    let mut value = |key: &str, why: &str| -> Option<Secret> {
        let found = match stored.values.get(key) {
            None => "is missing",
            Some(SecretValue::Binary) => "is not valid UTF-8",
            Some(SecretValue::Text(s)) if s.expose().is_empty() => "is empty",
            Some(SecretValue::Text(s)) => return Some(s.clone()),
        };
        problems.field(
            origin,
            field,
            format!(
                "Secret {}/{} key {key:?} {found}: {why} ({})",
                pending.project, pending.secret_name, stored.origin
            ),
        );
        None
    };
    let address = value("address", "it is the URL to send to");
    let secret = match pending.kind {
        NotificationType::Generic => Some(value(
            "secret",
            "a generic Notification signs with it (Standard Webhooks, whsec_ + base64)",
        )),
        _ => None,
    };
    let address = address?;
    if let Err(why) = check_address(address.expose()) {
        problems.field(
            origin,
            field,
            format!(
                "Secret {}/{} key \"address\" {why} ({})",
                pending.project, pending.secret_name, stored.origin
            ),
        );
        return None;
    }
    let signing_key = match secret {
        None => None,
        Some(None) => return None,
        Some(Some(s)) => match SigningKey::parse(s.expose()) {
            Some(k) => Some(k),
            None => {
                problems.field(
                    origin,
                    field,
                    format!(
                        "Secret {}/{} key \"secret\" starts with whsec_ but the rest is not base64 ({})",
                        pending.project, pending.secret_name, stored.origin
                    ),
                );
                return None;
            }
        },
    };
    for (i, w) in pending.warehouses.iter().enumerate() {
        if !warehouse_names(&pending.project, w) {
            warnings.field(
                origin,
                &format!("spec.warehouses[{i}]"),
                format!(
                    "no Warehouse {w:?} in project {:?}: this Notification reports nothing about it",
                    pending.project
                ),
            );
        }
    }
    Some(Notification {
        project: pending.project,
        name: pending.name,
        kind: pending.kind,
        address,
        signing_key,
        events: pending.events,
        warehouses: pending.warehouses,
        origin: pending.origin,
    })
}

/// An absolute `http` or `https` URL with a host. The message never quotes the URL: Slack's
/// and Teams' URLs are credentials. Loopback and private hosts are allowed (see SECURITY.md).
pub fn check_address(address: &str) -> Result<(), &'static str> {
    let rest = if let Some(r) = address.strip_prefix("https://") {
        r
    } else if let Some(r) = address.strip_prefix("http://") {
        r
    } else {
        return Err("is not an http:// or https:// URL");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return Err("has no host");
    }
    if address.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains spaces or control characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_key_forms() {
        // "whsec_" + base64("0123456789abcdef0123") decodes to those bytes.
        let k = SigningKey::parse("whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM=").unwrap();
        assert_eq!(k.expose(), b"0123456789abcdef0123");
        assert_eq!(SigningKey::parse("plain").unwrap().expose(), b"plain");
        assert!(SigningKey::parse("whsec_%%%").is_none());
        assert_eq!(format!("{k:?}"), "<redacted>");
    }

    #[test]
    fn addresses() {
        let cases = [
            ("https://hooks.slack.com/services/T/B/X", Ok(())),
            ("http://127.0.0.1:8080/hook", Ok(())),
            ("ftp://x/", Err("is not an http:// or https:// URL")),
            (
                "hooks.slack.com/x",
                Err("is not an http:// or https:// URL"),
            ),
            ("https:///path", Err("has no host")),
            ("https://:80/", Err("has no host")),
            ("https://a b/", Err("contains spaces or control characters")),
        ];
        for (input, want) in cases {
            assert_eq!(check_address(input), want, "{input}");
        }
    }

    #[test]
    fn event_names() {
        for e in NotificationEvent::CONFIGURABLE {
            assert_eq!(NotificationEvent::parse(e.name()), Some(e));
        }
        assert_eq!(NotificationEvent::parse("freightcreated"), None);
        for t in NotificationType::ALL {
            assert_eq!(NotificationType::parse(t.name()), Some(t));
        }
    }
}
