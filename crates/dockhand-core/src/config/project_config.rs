//! `ProjectConfig.spec.webhookReceivers[]`: read each entry, then, once every Secret is loaded,
//! resolve its `secretRef` into a [`Receiver`] with its URL path and credentials.

use std::collections::HashMap;

use serde_yaml_ng::Value;

use super::diagnostics::{type_name, Problems};
use super::secrets::{SecretValue, StoredSecret};
use super::{receiver_path, Origin, Receiver, ReceiverSecrets, ReceiverSettings};
use crate::receivers::{ReceiverType, RECEIVER_TYPES};
use crate::secret::Secret;

/// Kargo's receiver types. Those dockhand does not implement (yet) are named so that a manifest
/// using one gets a clear "not supported" instead of "no receiver type"; which ones those are is
/// computed against [`RECEIVER_TYPES`].
const KARGO_TYPES: &[&str] = &[
    "azure",
    "harbor",
    "github",
    "gitlab",
    "bitbucket",
    "gitea",
    "dockerhub",
    "quay",
    "artifactory",
    "generic",
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
    pub kind: &'static ReceiverType,
    pub secret_name: String,
    /// The type section's string fields besides `secretRef`.
    pub fields: Vec<(String, String)>,
    pub origin: Origin,
    /// The entry's field path, `spec.webhookReceivers[i]`.
    pub field: String,
    /// The type's own fields, read by its `settings` reader.
    pub settings: ReceiverSettings,
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
        if ReceiverType::named(key).is_some() || KARGO_TYPES.contains(&key) {
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
    let Some(kind) = ReceiverType::named(type_key) else {
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
    let settings = match kind.settings {
        None => Some(ReceiverSettings::default()),
        Some(read) => {
            let section = map.get(type_key).map(serde_json::to_value);
            let read = match section {
                Some(Ok(mut section)) => {
                    if let Some(fields) = section.as_object_mut() {
                        fields.remove("secretRef");
                    }
                    read(&section)
                }
                Some(Err(e)) => Err(e.to_string()),
                None => read(&serde_json::Value::Null),
            };
            match read {
                Ok(settings) => Some(settings),
                Err(why) => {
                    problems.field(origin, &format!("{field}.{type_key}"), why);
                    None
                }
            }
        }
    };
    let fields = match map.get(type_key) {
        Some(Value::Mapping(section)) => section
            .iter()
            .filter_map(|(k, v)| Some((k.as_str()?, v.as_str()?)))
            .filter(|(k, _)| *k != "secretRef")
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        _ => Vec::new(),
    };
    Some(PendingReceiver {
        settings: settings?,
        project: project.to_string(),
        secret_namespace: project.to_string(),
        name: name?,
        kind,
        secret_name: secret_name?,
        fields,
        origin: origin.clone(),
        field,
    })
}

fn supported_list() -> String {
    RECEIVER_TYPES
        .iter()
        .map(|t| t.name)
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
    let field = format!("{}.{}.secretRef.name", pending.field, kind.name);
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

    let url_secret = value(kind.url_secret_key);
    // Every value is read (and its problems reported) before any group is judged.
    let groups: Vec<Vec<(&'static str, Secret)>> = kind
        .optional_keys
        .iter()
        .map(|group| {
            group
                .keys
                .iter()
                .filter_map(|&key| value(key).map(|v| (key, v)))
                .collect()
        })
        .collect();
    let mut secrets = ReceiverSecrets::default();
    for (group, found) in kind.optional_keys.iter().zip(groups) {
        if found.len() == group.keys.len() {
            secrets.extend(found);
        } else if !found.is_empty() {
            let (some, need) = match group.keys {
                [a, b] => (format!("only one of {a} and {b}"), "both"),
                keys => (format!("only some of {}", keys.join(", ")), "all of them"),
            };
            problems.field(
                &pending.origin,
                &field,
                format!(
                    "Secret {}/{} has {some}; {} needs {need} ({})",
                    ns, pending.secret_name, group.purpose, stored.origin
                ),
            );
        }
    }
    if !stored.values.contains_key(kind.url_secret_key) {
        problems.field(
            &pending.origin,
            &field,
            format!(
                "Secret {}/{} has no key {:?}, which {} receivers need ({})",
                ns, pending.secret_name, kind.url_secret_key, kind.name, stored.origin
            ),
        );
    }
    let url_secret = match url_secret {
        Some(s) if problems.len() == before => s,
        _ => return None,
    };
    let path = receiver_path(kind, &pending.project, &pending.name, url_secret.expose());
    secrets.insert(kind.url_secret_key, url_secret);
    Some(Receiver {
        path,
        project: pending.project,
        name: pending.name,
        kind,
        secrets,
        fields: pending.fields,
        origin: pending.origin,
        settings: pending.settings,
    })
}
