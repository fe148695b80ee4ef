//! Kubernetes `Secret`s: `data` (base64) and `stringData` merged as the API server merges them,
//! each value held as a [`Secret`] from the moment it is read. Walked by hand rather than with
//! serde so that no message, however malformed the input, can quote a value.

use std::collections::HashMap;

use base64::Engine as _;
use serde_yaml_ng::Value;

use super::diagnostics::{type_name, Problems};
use super::Origin;
use crate::secret::Secret;

/// One value of a Secret. Binary values are legal in Kubernetes (keystores, ...); they only
/// become an error when something needs them as text.
#[derive(Debug, Clone)]
pub(super) enum SecretValue {
    Text(Secret),
    Binary,
}

/// A Secret as loaded: where it came from and its values by key.
#[derive(Debug)]
pub(super) struct StoredSecret {
    pub origin: Origin,
    pub values: HashMap<String, SecretValue>,
}

/// Reads `data` and `stringData`. `stringData` wins on conflicts, as in Kubernetes.
pub(super) fn values(
    origin: &Origin,
    doc: &Value,
    problems: &mut Problems,
) -> HashMap<String, SecretValue> {
    let mut out = HashMap::new();
    for (key, raw) in entries(origin, doc, "data", problems) {
        let field = format!("data.{key}");
        let value = match raw {
            Value::Null => SecretValue::Text(Secret::new("")),
            Value::String(encoded) => match decode(encoded) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => SecretValue::Text(Secret::new(text)),
                    Err(_) => SecretValue::Binary,
                },
                Err(why) => {
                    problems.field(origin, &field, format!("is not valid base64 ({why})"));
                    continue;
                }
            },
            other => {
                problems.field(
                    origin,
                    &field,
                    format!("expected a base64 string, found a {}", type_name(other)),
                );
                continue;
            }
        };
        out.insert(key.to_string(), value);
    }
    for (key, raw) in entries(origin, doc, "stringData", problems) {
        let field = format!("stringData.{key}");
        let value = match raw {
            Value::Null => String::new(),
            Value::String(text) => text.clone(),
            other => {
                problems.field(
                    origin,
                    &field,
                    format!("expected a string, found a {}", type_name(other)),
                );
                continue;
            }
        };
        out.insert(key.to_string(), SecretValue::Text(Secret::new(value)));
    }
    out
}

/// The string-keyed entries of the mapping at `doc[field]`; anything else is reported.
fn entries<'a>(
    origin: &Origin,
    doc: &'a Value,
    field: &str,
    problems: &mut Problems,
) -> Vec<(&'a str, &'a Value)> {
    let map = match doc.get(field) {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Mapping(map)) => map,
        Some(other) => {
            problems.field(
                origin,
                field,
                format!("expected a mapping, found a {}", type_name(other)),
            );
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(map.len());
    for (key, value) in map {
        match key.as_str() {
            Some(k) => out.push((k, value)),
            None => problems.field(
                origin,
                field,
                format!("keys must be strings, found a {}", type_name(key)),
            ),
        }
    }
    out
}

/// Standard base64 with padding, as Kubernetes encodes `data`. Line breaks and spaces are
/// dropped first: YAML block scalars put them into long values.
fn decode(encoded: &str) -> Result<Vec<u8>, String> {
    let compact: String = encoded
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    // The offending byte is deliberately left out of the message: it is part of the secret.
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| match e {
            base64::DecodeError::InvalidByte(at, _) => {
                format!("invalid character at offset {at}")
            }
            base64::DecodeError::InvalidLength(_) => "invalid length".to_string(),
            base64::DecodeError::InvalidLastSymbol(at, _) => {
                format!("invalid last symbol at offset {at}")
            }
            base64::DecodeError::InvalidPadding => "invalid padding".to_string(),
        })
}
