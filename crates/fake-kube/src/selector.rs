//! Label and field selectors as list and watch requests carry them. Labels: equality-based terms
//! (`k=v`, `k==v`, `k!=v`, `k`, `!k`) and set-based ones (`k in (a,b)`, `k notin (a,b)`); fields: `metadata.name` and `metadata.namespace` only, which
//! is all the real server supports on custom resources — any other field is a 400.

use serde_json::Value;

use crate::status::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    Absent(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// Splits on the commas that are not inside a `(...)` value set.
fn split_terms(selector: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&selector[start..]);
    terms
        .into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

/// `k in (a, b)` / `k notin (a, b)`.
fn set_term(term: &str) -> Option<Result<Term, ApiError>> {
    let (key, negated, values) = if let Some((k, v)) = term.split_once(" notin ") {
        (k, true, v)
    } else {
        let (k, v) = term.split_once(" in ")?;
        (k, false, v)
    };
    let Some(inner) = values
        .trim()
        .strip_prefix('(')
        .and_then(|v| v.strip_suffix(')'))
    else {
        return Some(Err(ApiError::bad_request(format!(
            "unable to parse requirement: {term}"
        ))));
    };
    let values = inner.split(',').map(|v| v.trim().to_string()).collect();
    let key = key.trim().to_string();
    Some(Ok(if negated {
        Term::NotIn(key, values)
    } else {
        Term::In(key, values)
    }))
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
        for term in split_terms(label_selector.unwrap_or("")) {
            if let Some(set) = set_term(term) {
                s.labels.push(set?);
                continue;
            }
            if term.contains(['(', ')', ' ']) {
                return Err(ApiError::bad_request(format!(
                    "unable to parse requirement: {term}"
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
            Term::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Term::NotIn(k, vs) => label(k).is_none_or(|l| vs.iter().all(|v| v != l)),
        }) && self.fields.iter().all(|t| match t {
            Term::Equals(k, v) => field(k) == v,
            Term::NotEquals(k, v) => field(k) != v,
            _ => true,
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
            ("a in (1,2)", "", true),
            ("a in (2, 3)", "", false),
            ("a notin (2,3),b notin (1)", "", true),
            ("a notin (1)", "", false),
            ("a in (1),a", "", true),
        ] {
            let s = Selector::parse(Some(labels), Some(fields)).unwrap();
            assert_eq!(s.matches(&o), want, "{labels} {fields}");
        }
        assert_eq!(
            Selector::parse(None, Some("spec.x=1")).unwrap_err().code,
            400
        );
        assert_eq!(
            Selector::parse(Some("a in 1,2"), None).unwrap_err().code,
            400
        );
    }
}
