//! Problems in the configuration and how they are located: `ConfigError` (one problem, with its
//! file, document and field), `Problems` (the list a load collects), and the small helpers every
//! kind's reader uses to report one (`typed`, `type_name`).
//!
//! This module sits below `load` and the per-kind readers (`warehouse`, `secrets`, ...): they all
//! report here, and none of them imports another to do so.

use serde::de::DeserializeOwned;
use serde_yaml_ng::Value;

use super::Origin;

/// One problem in the configuration, located.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ConfigError {
    /// `file`, `file (document N)` or `file (document N) field.path`.
    pub location: String,
    pub message: String,
}

/// Every problem found; loading goes on after the first so `check` can print them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The problems found so far.
#[derive(Debug, Default)]
pub(super) struct Problems(pub(super) Vec<ConfigError>);

impl Problems {
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// A problem with a whole file.
    pub(super) fn file(&mut self, file: &str, message: impl Into<String>) {
        self.0.push(ConfigError {
            location: file.to_string(),
            message: message.into(),
        });
    }

    /// A problem with a whole document.
    pub(super) fn document(&mut self, origin: &Origin, message: impl Into<String>) {
        self.0.push(ConfigError {
            location: origin.to_string(),
            message: message.into(),
        });
    }

    /// A problem with one field, `field` a path like `spec.subscriptions[0].image.repoURL`.
    pub(super) fn field(&mut self, origin: &Origin, field: &str, message: impl Into<String>) {
        self.0.push(ConfigError {
            location: format!("{origin} {field}"),
            message: message.into(),
        });
    }
}

/// Deserializes `doc` as `T`; a type error is reported at the field serde was reading.
pub(super) fn typed<T: DeserializeOwned>(
    origin: &Origin,
    doc: &Value,
    problems: &mut Problems,
) -> Option<T> {
    // Tracking the path costs as much as the deserializing; it is only needed for a message.
    if let Ok(t) = T::deserialize(doc) {
        return Some(t);
    }
    match serde_path_to_error::deserialize::<_, T>(doc) {
        Ok(t) => Some(t),
        Err(e) => {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            if path == "." {
                problems.document(origin, message);
            } else {
                problems.field(origin, &path, message);
            }
            None
        }
    }
}

/// A YAML value's type, in words, for "expected X, found Y" messages (never the value itself:
/// it might be a secret).
pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Sequence(_) => "list",
        Value::Mapping(_) => "mapping",
        Value::Tagged(_) => "tagged value",
    }
}
