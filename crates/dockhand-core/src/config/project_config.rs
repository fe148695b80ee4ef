//! `ProjectConfig.spec.webhookReceivers[]`: read each entry, then, once every Secret is loaded,
//! resolve its `secretRef` into a [`Receiver`] with its URL path and credentials.

use std::collections::HashMap;

use serde_yaml_ng::Value;

use super::load::{type_name, Problems};
use super::secrets::{SecretValue, StoredSecret};
use super::{receiver_path, BasicAuth, Origin, Receiver, ReceiverKind};
use crate::secret::Secret;

const SUPPORTED: &[(&str, ReceiverKind)] = &[
    ("azure", ReceiverKind::Azure),
    ("harbor", ReceiverKind::Harbor),
];

/// Receiver types Kargo has that dockhand does not implement (yet): named so that a manifest
/// using one gets a clear "not supported" instead of "no receiver type".
const KARGO_ONLY: &[&str] = &[
    "artifactory",
    "bitbucket",
    "dockerhub",
    "generic",
    "gitea",
    "github",
    "gitlab",
    "quay",
];

/// A receiver whose Secret is not resolved yet (it may be defined in a later file).
#[derive(Debug)]
pub(super) struct PendingReceiver {
    /// `""` for a ClusterConfig receiver.
    pub project: String,
    /// Where its Secret is: the project's namespace, or the system-resources namespace for a
    /// ClusterConfig receiver.
    pub secret_namespace: String,
    pub name: String,
    pub kind: ReceiverKind,
    pub secret_name: String,
    pub origin: Origin,
    /// The entry's field path, `spec.webhookReceivers[i]`.
    pub field: String,
}

/// The entries of `spec.webhookReceivers`, each checked on its own. Entries with a problem are
/// reported and left out.
pub(super) fn receivers(
    origin: &Origin,
    project: &str,
    doc: &Value,
    problems: &mut Problems,
) -> Vec<PendingReceiver> {
    let spec = match doc.get("spec") {
        // A ProjectConfig may hold only promotion policies.
        None | Some(Value::Null) => return Vec::new(),
        Some(spec @ Value::Mapping(_)) => spec,
        Some(other) => {
            problems.field(
                origin,
                "spec",
                format!("expected a mapping, found a {}", type_name(other)),
            );
            return Vec::new();
        }
    };
    let entries = match spec.get("webhookReceivers") {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Sequence(entries)) => entries,
        Some(other) => {
            problems.field(
                origin,
                "spec.webhookReceivers",
                format!("expected a list, found a {}", type_name(other)),
            );
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let field = format!("spec.webhookReceivers[{i}]");
        if let Some(pending) = receiver(origin, project, field, entry, problems) {
            out.push(pending);
        }
    }
    out
}

fn receiver(
    origin: &Origin,
    project: &str,
    field: String,
    entry: &Value,
    problems: &mut Problems,
) -> Option<PendingReceiver> {
    let Value::Mapping(map) = entry else {
        problems.field(
            origin,
            &field,
            format!("expected a mapping, found a {}", type_name(entry)),
        );
        return None;
    };
    let name = match map.get("name") {
        Some(Value::String(name)) if !name.is_empty() => Some(name.clone()),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            problems.field(origin, &format!("{field}.name"), "required");
            None
        }
        Some(other) => {
            problems.field(
                origin,
                &format!("{field}.name"),
                format!("expected a string, found a {}", type_name(other)),
            );
            None
        }
    };

    // Every key naming a receiver type, supported or not; `null` counts as absent, as in
    // Kubernetes.
    let mut types = Vec::new();
    let mut unrecognized = Vec::new();
    for (key, value) in map {
        let Some(key) = key.as_str() else { continue };
        if value.is_null() || key == "name" {
            continue;
        }
        if SUPPORTED.iter().any(|(t, _)| *t == key) || KARGO_ONLY.contains(&key) {
            types.push(key);
        } else {
            unrecognized.push(key);
        }
    }
    let type_key = match types.as_slice() {
        [] => {
            let mut message = format!("no receiver type: set exactly one of {}", supported_list());
            if !unrecognized.is_empty() {
                message.push_str(&format!(" (unrecognized: {})", unrecognized.join(", ")));
            }
            problems.field(origin, &field, message);
            return None;
        }
        [one] => *one,
        several => {
            problems.field(
                origin,
                &field,
                format!(
                    "more than one receiver type ({}): set exactly one",
                    several.join(", ")
                ),
            );
            return None;
        }
    };
    let Some(kind) = SUPPORTED
        .iter()
        .find(|(t, _)| *t == type_key)
        .map(|(_, k)| *k)
    else {
        problems.field(
            origin,
            &format!("{field}.{type_key}"),
            format!(
                "receiver type {type_key} is not supported by dockhand yet (supported: {})",
                supported_list()
            ),
        );
        return None;
    };

    let ref_field = format!("{field}.{type_key}.secretRef.name");
    let secret_name = match map
        .get(type_key)
        .and_then(|t| t.get("secretRef"))
        .and_then(|r| r.get("name"))
    {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            problems.field(
                origin,
                &ref_field,
                "required: the Secret holding the receiver's secret",
            );
            None
        }
        Some(other) => {
            problems.field(
                origin,
                &ref_field,
                format!("expected a string, found a {}", type_name(other)),
            );
            None
        }
    };
    Some(PendingReceiver {
        project: project.to_string(),
        secret_namespace: project.to_string(),
        name: name?,
        kind,
        secret_name: secret_name?,
        origin: origin.clone(),
        field,
    })
}

fn supported_list() -> String {
    SUPPORTED
        .iter()
        .map(|(t, _)| *t)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Looks the receiver's Secret up in its own project and builds the receiver. Problems are
/// reported at the receiver's `secretRef.name`, naming the Secret's key but never its value.
pub(super) fn resolve(
    pending: PendingReceiver,
    secrets: &HashMap<(String, String), StoredSecret>,
    problems: &mut Problems,
) -> Option<Receiver> {
    let kind = pending.kind;
    let field = format!("{}.{}.secretRef.name", pending.field, kind.as_str());
    let ns = &pending.secret_namespace;
    let Some(stored) = secrets.get(&(ns.clone(), pending.secret_name.clone())) else {
        let whose = if pending.project.is_empty() {
            "a ClusterConfig receiver's Secret must be in the system-resources namespace"
        } else {
            "a receiver's Secret must be in its project's namespace"
        };
        problems.field(
            &pending.origin,
            &field,
            format!(
                "Secret {:?} not found in namespace {ns:?} ({whose})",
                pending.secret_name
            ),
        );
        return None;
    };
    let before = problems.len();
    let mut value = |key: &str| -> Option<Secret> {
        let found = match stored.values.get(key) {
            None => return None,
            Some(SecretValue::Binary) => "is not valid UTF-8",
            Some(SecretValue::Text(s)) if s.expose().is_empty() => "is empty",
            Some(SecretValue::Text(s)) => return Some(s.clone()),
        };
        problems.field(
            &pending.origin,
            &field,
            format!(
                "Secret {}/{} key {key:?} {found} ({})",
                ns, pending.secret_name, stored.origin
            ),
        );
        None
    };

    let url_secret = value(kind.secret_key());
    let (auth_header, basic_auth) = match kind {
        ReceiverKind::Harbor => (url_secret.clone(), None),
        ReceiverKind::Azure => {
            let auth_header = value("auth-header");
            let username = value("username");
            let password = value("password");
            let basic_auth = match (username, password) {
                (Some(username), Some(password)) => Some(BasicAuth {
                    username: username.expose().to_string(),
                    password,
                }),
                (None, None) => None,
                (Some(_), None) | (None, Some(_)) => {
                    problems.field(
                        &pending.origin,
                        &field,
                        format!(
                            "Secret {}/{} has only one of username and password; basic auth needs both ({})",
                            ns, pending.secret_name, stored.origin
                        ),
                    );
                    None
                }
            };
            (auth_header, basic_auth)
        }
    };
    if !stored.values.contains_key(kind.secret_key()) {
        problems.field(
            &pending.origin,
            &field,
            format!(
                "Secret {}/{} has no key {:?}, which {} receivers need ({})",
                ns,
                pending.secret_name,
                kind.secret_key(),
                kind.as_str(),
                stored.origin
            ),
        );
    }
    let url_secret = match url_secret {
        Some(s) if problems.len() == before => s,
        _ => return None,
    };
    Some(Receiver {
        path: receiver_path(kind, &pending.project, &pending.name, url_secret.expose()),
        project: pending.project,
        name: pending.name,
        kind,
        url_secret,
        auth_header,
        basic_auth,
        origin: pending.origin,
    })
}
