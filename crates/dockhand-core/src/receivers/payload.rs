//! Reading provider payloads leniently: unknown fields are ignored, `null` counts as absent, and a
//! field of the wrong type is an error that names the field by its path (`target.tag`,
//! `[0].data.request.host`), so the sender's delivery log says exactly what was wrong.
//!
//! The receivers read into their own small structs through these accessors rather than through
//! `#[derive(Deserialize)]`, because serde's type errors name a line and column, not a field.

use serde_json::{Map, Value};

use crate::event::{Rejection, Source};

/// Why a payload could not be read. The message goes back to the sender, so it names fields and
/// never echoes header values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum PayloadError {
    #[error("request body is empty")]
    Empty,
    #[error("request body is not valid JSON: {0}")]
    NotJson(String),
    #[error("{what} must be a JSON object, not {found}")]
    NotObject { what: String, found: &'static str },
    #[error("{field} must be {expected}, not {found}")]
    WrongType {
        field: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("{field} is missing: {why}")]
    Missing { field: String, why: String },
    #[error("{0}")]
    Invalid(String),
}

impl PayloadError {
    pub(super) fn missing(field: impl Into<String>, why: impl Into<String>) -> Self {
        PayloadError::Missing {
            field: field.into(),
            why: why.into(),
        }
    }

    /// The 400 answer for this error, with what was learnt before it.
    pub(super) fn reject(self, source: Source, event_type: Option<&str>) -> Rejection {
        let mut r = invalid_body(source, self);
        r.event_type = event_type.map(str::to_owned);
        r
    }
}

/// Kargo's words for a body it cannot read, which senders and scripts may already look for.
pub(super) const INVALID_BODY: &str = "invalid request body";

/// The 400 answer for a body that cannot be read: Kargo's `invalid request body`, then what
/// exactly was wrong (Kargo stops at its words; the detail is what tells a user what to fix).
/// Every receiver type answers a malformed body through here.
pub(super) fn invalid_body(source: Source, detail: impl std::fmt::Display) -> Rejection {
    Rejection::bad_request(source, format!("{INVALID_BODY}: {detail}"))
}

/// Parses a request body as JSON. Non-UTF-8 input, trailing garbage and nesting deeper than
/// serde_json's recursion limit are all `NotJson`.
pub(super) fn parse_json(body: &[u8]) -> Result<Value, PayloadError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(PayloadError::Empty);
    }
    serde_json::from_slice(body).map_err(|e| PayloadError::NotJson(e.to_string()))
}

/// The JSON type name used in messages.
pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON object together with its path from the root of the payload.
#[derive(Debug, Clone)]
pub(super) struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    /// `value` as an object; `what` names it in the error ("an ACR webhook body").
    pub(super) fn new(value: &'a Value, path: &str, what: &str) -> Result<Self, PayloadError> {
        match value {
            Value::Object(map) => Ok(Obj {
                map,
                path: path.to_owned(),
            }),
            other => Err(PayloadError::NotObject {
                what: what.to_owned(),
                found: type_name(other),
            }),
        }
    }

    /// The path of one of its fields, for messages.
    pub(super) fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// A field's value; `null` counts as absent.
    pub(super) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(super) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn wrong(&self, key: &str, expected: &'static str, found: &Value) -> PayloadError {
        PayloadError::WrongType {
            field: self.field(key),
            expected,
            found: type_name(found),
        }
    }

    pub(super) fn str(&self, key: &str) -> Result<Option<&'a str>, PayloadError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    /// A string field that must be present and non-empty; `why` explains why it is needed.
    pub(super) fn required_str(&self, key: &str, why: &str) -> Result<&'a str, PayloadError> {
        match self.str(key)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(PayloadError::missing(self.field(key), why)),
        }
    }

    /// An identifier that some senders write as a string and others as a number.
    pub(super) fn id(&self, key: &str) -> Result<Option<String>, PayloadError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(self.wrong(key, "a string or a number", other)),
        }
    }

    pub(super) fn obj(&self, key: &str) -> Result<Option<Obj<'a>>, PayloadError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj {
                map,
                path: self.field(key),
            })),
            Some(other) => Err(self.wrong(key, "an object", other)),
        }
    }

    /// A bool field; absent is `false`.
    pub(super) fn flag(&self, key: &str) -> Result<bool, PayloadError> {
        match self.get(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(self.wrong(key, "a boolean", other)),
        }
    }

    /// An array of strings; an absent array is empty.
    pub(super) fn strings(&self, key: &str) -> Result<Vec<&'a str>, PayloadError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Ok(s.as_str()),
                    other => Err(PayloadError::WrongType {
                        field: format!("{}[{i}]", self.field(key)),
                        expected: "a string",
                        found: type_name(other),
                    }),
                })
                .collect(),
            Some(other) => Err(self.wrong(key, "an array", other)),
        }
    }

    /// An array of objects; an absent array is empty.
    pub(super) fn objects(&self, key: &str) -> Result<Vec<Obj<'a>>, PayloadError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let path = format!("{}[{i}]", self.field(key));
                    match item {
                        Value::Object(map) => Ok(Obj { map, path }),
                        other => Err(PayloadError::WrongType {
                            field: path,
                            expected: "an object",
                            found: type_name(other),
                        }),
                    }
                })
                .collect(),
            Some(other) => Err(self.wrong(key, "an array", other)),
        }
    }
}

/// The files a git push touched: `added`, `modified` and `removed` of each commit (GitHub's,
/// GitLab's and Gitea's commit shape), each path once, in order of first mention.
pub(super) fn commit_paths(commits: &[Obj<'_>]) -> Result<Vec<String>, PayloadError> {
    let mut paths: Vec<String> = Vec::new();
    for commit in commits {
        for key in ["added", "modified", "removed"] {
            for p in commit.strings(key)? {
                if !paths.iter().any(|q| q == p) {
                    paths.push(p.to_owned());
                }
            }
        }
    }
    Ok(paths)
}

/// The 400 answer for a body that cannot be read, in Kargo's wording with the detail after it:
/// `invalid request body: <what was wrong>`. The receivers added with the registry types use it.
pub(super) fn malformed_body(
    e: PayloadError,
    source: Source,
    event_type: Option<&str>,
) -> Rejection {
    const PREFIX: &str = "invalid request body";
    let mut r = e.reject(source, event_type);
    // When `reject` already says it (the wording may move into it), it is not said twice.
    if !r.message.starts_with(PREFIX) {
        r.message = format!("{PREFIX}: {}", r.message);
    }
    r
}

/// Quotes a payload value for a message, cut short so a huge field cannot bloat the record.
pub(super) fn quote(s: &str) -> String {
    const MAX: usize = 120;
    match s.char_indices().nth(MAX) {
        None => format!("{s:?}"),
        Some((cut, _)) => format!("{:?}…", &s[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_errors_name_the_path() {
        let v = json!({"target": {"tag": 5, "list": [1], "repository": "", "n": 7}});
        let root = Obj::new(&v, "", "body").unwrap();
        let target = root.obj("target").unwrap().unwrap();
        assert_eq!(
            target.str("tag").unwrap_err().to_string(),
            "target.tag must be a string, not a number"
        );
        assert_eq!(
            target.objects("list").unwrap_err().to_string(),
            "target.list[0] must be an object, not a number"
        );
        assert_eq!(
            target
                .required_str("repository", "needed")
                .unwrap_err()
                .to_string(),
            "target.repository is missing: needed"
        );
        assert_eq!(target.id("n").unwrap(), Some("7".to_owned()));
        assert_eq!(
            root.str("target").unwrap_err().to_string(),
            "target must be a string, not an object"
        );
    }

    #[test]
    fn null_is_absent() {
        let v = json!({"a": null});
        let root = Obj::new(&v, "[0]", "event").unwrap();
        assert_eq!(root.str("a").unwrap(), None);
        assert!(root.objects("a").unwrap().is_empty());
        assert_eq!(root.field("a"), "[0].a");
    }

    #[test]
    fn body_errors() {
        assert_eq!(parse_json(b"  \n").unwrap_err(), PayloadError::Empty);
        assert!(matches!(parse_json(b"{"), Err(PayloadError::NotJson(_))));
        assert!(matches!(parse_json(b"\xff"), Err(PayloadError::NotJson(_))));
        let deep = "[".repeat(10_000);
        assert!(matches!(
            parse_json(deep.as_bytes()),
            Err(PayloadError::NotJson(_))
        ));
        assert_eq!(
            Obj::new(&json!([1]), "", "an ACR webhook body")
                .unwrap_err()
                .to_string(),
            "an ACR webhook body must be a JSON object, not an array"
        );
    }

    #[test]
    fn quote_cuts_long_values() {
        assert_eq!(quote("a b"), "\"a b\"");
        let long = "é".repeat(500);
        assert!(quote(&long).chars().count() < 130);
    }

    #[test]
    fn rejections_start_with_kargos_words() {
        let r = PayloadError::Empty.reject(Source::UNKNOWN, Some("push"));
        assert_eq!(
            (r.status, r.message.as_str(), r.event_type.as_deref()),
            (
                400,
                "invalid request body: request body is empty",
                Some("push")
            )
        );
    }
}
