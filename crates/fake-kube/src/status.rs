//! Errors as the API server reports them: `metav1.Status` bodies with a reason, an HTTP code and
//! details naming the object, so clients that switch on `reason` behave as against a real cluster.

use serde_json::{json, Value};

use crate::resource::ResourceType;

/// A failed request, rendered as a `kind: Status` body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: String,
    pub message: String,
    /// `details.name`, `details.group`, `details.kind` (the plural, as the real server writes).
    pub details: Option<Box<(String, String, String)>>,
    /// Seconds for a `Retry-After` header (429 and injected 503s).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason: reason.to_string(),
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    fn about(mut self, t: &ResourceType, name: &str) -> Self {
        self.details = Some(Box::new((
            name.to_string(),
            t.group.clone(),
            t.plural.clone(),
        )));
        self
    }

    pub fn not_found(t: &ResourceType, name: &str) -> Self {
        ApiError::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", t.qualified()),
        )
        .about(t, name)
    }

    pub fn already_exists(t: &ResourceType, name: &str) -> Self {
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", t.qualified()),
        )
        .about(t, name)
    }

    pub fn conflict(t: &ResourceType, name: &str) -> Self {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                t.qualified()
            ),
        )
        .about(t, name)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "BadRequest", message)
    }

    pub fn invalid(t: &ResourceType, name: &str, message: impl Into<String>) -> Self {
        let message = format!("{} \"{name}\" is invalid: {}", t.kind, message.into());
        ApiError::new(422, "Invalid", message).about(t, name)
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml; got {content_type}"),
        )
    }

    pub fn expired(message: impl Into<String>) -> Self {
        ApiError::new(410, "Expired", message)
    }

    pub fn too_old(requested: u64, oldest: u64) -> Self {
        ApiError::expired(format!("too old resource version: {requested} ({oldest})"))
    }

    pub fn unauthorized() -> Self {
        ApiError::new(401, "Unauthorized", "Unauthorized")
    }

    pub fn forbidden(
        t: Option<&ResourceType>,
        name: &str,
        user: &str,
        verb: &str,
        resource: &str,
        namespace: Option<&str>,
    ) -> Self {
        let (qualified, group) = match t {
            Some(t) => (t.qualified(), t.group.clone()),
            None => (resource.to_string(), String::new()),
        };
        let object = if name.is_empty() {
            qualified
        } else {
            format!("{qualified} \"{name}\"")
        };
        let scope = match namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_string(),
        };
        let mut e = ApiError::new(
            403,
            "Forbidden",
            format!(
                "{object} is forbidden: User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{group}\" {scope}"
            ),
        );
        if let Some(t) = t {
            e = e.about(t, name);
        }
        e
    }

    pub fn method_not_allowed() -> Self {
        ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    /// The `metav1.Status` body.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some((name, group, kind)) = self.details.as_deref() {
            let mut d = json!({ "name": name, "kind": kind });
            if !group.is_empty() {
                d["group"] = json!(group);
            }
            if let Some(secs) = self.retry_after {
                d["retryAfterSeconds"] = json!(secs);
            }
            status["details"] = d;
        } else if let Some(secs) = self.retry_after {
            status["details"] = json!({ "retryAfterSeconds": secs });
        }
        status
    }
}
