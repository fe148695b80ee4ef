//! Label and field selectors as list and watch requests carry them. Labels: equality-based terms
//! (`k=v`, `k==v`, `k!=v`, `k`, `!k`); fields: `metadata.name` and `metadata.namespace` only, which
//! is all the real server supports on custom resources — any other field is a 400.

use serde_json::Value;

use crate::status::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    Absent(String),
}

/// A parsed `labelSelector` and `fieldSelector`; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    labels: Vec<Term>,
    fields: Vec<Term>,
}

fn split_term(term: &str) -> Option<(&str, &str, bool)> {
    if let Some((k, v)) = term.split_once("!=") {
        return Some((k, v, false));
    }
    if let Some((k, v)) = term.split_once("==") {
        return Some((k, v, true));
    }
    term.split_once('=').map(|(k, v)| (k, v, true))
}

impl Selector {
    pub fn parse(
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<Self, ApiError> {
        let mut s = Selector::default();
        for term in label_selector
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            if term.contains('(') || term.contains(' ') {
                return Err(ApiError::bad_request(format!(
                    "unable to parse requirement: set-based label selectors are not supported by fake-kube: {term}"
                )));
            }
            s.labels.push(match split_term(term) {
                Some((k, v, true)) => Term::Equals(k.trim().to_string(), v.trim().to_string()),
                Some((k, v, false)) => Term::NotEquals(k.trim().to_string(), v.trim().to_string()),
                None => match term.strip_prefix('!') {
                    Some(k) => Term::Absent(k.to_string()),
                    None => Term::Exists(term.to_string()),
                },
            });
        }
        for term in field_selector
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let Some((k, v, eq)) = split_term(term) else {
                return Err(ApiError::bad_request(format!(
                    "invalid field selector: {term}"
                )));
            };
            let k = k.trim();
            if k != "metadata.name" && k != "metadata.namespace" {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {k}"
                )));
            }
            s.fields.push(if eq {
                Term::Equals(k.to_string(), v.trim().to_string())
            } else {
                Term::NotEquals(k.to_string(), v.trim().to_string())
            });
        }
        Ok(s)
    }

    /// The name a `metadata.name=` field selector pins, which RBAC uses for `resourceNames`.
    pub fn pinned_name(&self) -> Option<&str> {
        self.fields.iter().find_map(|t| match t {
            Term::Equals(k, v) if k == "metadata.name" => Some(v.as_str()),
            _ => None,
        })
    }

    pub fn matches(&self, object: &Value) -> bool {
        let meta = &object["metadata"];
        let label = |k: &str| meta["labels"][k].as_str();
        let field = |k: &str| match k {
            "metadata.name" => meta["name"].as_str().unwrap_or(""),
            _ => meta["namespace"].as_str().unwrap_or(""),
        };
        self.labels.iter().all(|t| match t {
            Term::Equals(k, v) => label(k) == Some(v.as_str()),
            Term::NotEquals(k, v) => label(k) != Some(v.as_str()),
            Term::Exists(k) => label(k).is_some(),
            Term::Absent(k) => label(k).is_none(),
        }) && self.fields.iter().all(|t| match t {
            Term::Equals(k, v) => field(k) == v,
            Term::NotEquals(k, v) => field(k) != v,
            Term::Exists(_) | Term::Absent(_) => true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_and_fields() {
        let o = json!({"metadata": {"name": "w", "namespace": "p", "labels": {"a": "1"}}});
        for (labels, fields, want) in [
            ("a=1", "", true),
            ("a==1", "", true),
            ("a!=1", "", false),
            ("a", "", true),
            ("!a", "", false),
            ("b", "", false),
            ("!b,a=1", "metadata.name=w", true),
            ("", "metadata.namespace!=p", false),
        ] {
            let s = Selector::parse(Some(labels), Some(fields)).unwrap();
            assert_eq!(s.matches(&o), want, "{labels} {fields}");
        }
        assert_eq!(
            Selector::parse(None, Some("spec.x=1")).unwrap_err().code,
            400
        );
        assert_eq!(
            Selector::parse(Some("a in (1,2)"), None).unwrap_err().code,
            400
        );
    }
}
