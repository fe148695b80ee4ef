//! Injected failures: the next N requests matching a verb and resource answer as an overloaded,
//! broken or admission-blocked API server would, after authentication and authorization passed.

use crate::status::ApiError;

/// The RBAC verb of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        }
    }
}

/// How an injected failure answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// 429 TooManyRequests with `Retry-After`, as API priority and fairness rejects.
    TooManyRequests { retry_after_seconds: u64 },
    /// 500 InternalError.
    InternalError,
    /// 503 ServiceUnavailable with `Retry-After: 1`.
    ServiceUnavailable,
    /// 500 from a validating admission webhook with `failurePolicy: Fail` that cannot be called,
    /// as when Kargo's webhooks server is down.
    AdmissionWebhook,
}

/// A failure for the next `count` requests matching `verb` and `resource` (`None` = any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub verb: Option<Verb>,
    /// Plural, optionally with a subresource (`warehouses`, `warehouses/status`).
    pub resource: Option<String>,
    pub count: usize,
    pub kind: FaultKind,
}

impl Fault {
    pub fn new(verb: Option<Verb>, resource: Option<&str>, count: usize, kind: FaultKind) -> Self {
        Fault {
            verb,
            resource: resource.map(str::to_string),
            count,
            kind,
        }
    }

    pub(crate) fn matches(&self, verb: Verb, resource: &str) -> bool {
        self.count > 0
            && self.verb.is_none_or(|v| v == verb)
            && self.resource.as_deref().is_none_or(|r| r == resource)
    }

    pub(crate) fn error(&self, resource: &str, name: &str) -> ApiError {
        match self.kind {
            FaultKind::TooManyRequests { retry_after_seconds } => {
                let mut e = ApiError::new(429, "TooManyRequests", "Too many requests, please try again later.");
                e.retry_after = Some(retry_after_seconds);
                e
            }
            FaultKind::InternalError => ApiError::new(500, "InternalError", "Internal error occurred: injected by fake-kube"),
            FaultKind::ServiceUnavailable => {
                let mut e = ApiError::new(503, "ServiceUnavailable", "the server is currently unable to handle the request");
                e.retry_after = Some(1);
                e
            }
            FaultKind::AdmissionWebhook => ApiError::new(
                500,
                "InternalError",
                format!(
                    "Internal error occurred: failed calling webhook \"warehouse.kargo.akuity.io\": failed to call webhook: Post \"https://kargo-webhooks-server.kargo.svc:443/validate-kargo-akuity-io-v1alpha1-warehouse?timeout=10s\": dial tcp 10.96.0.42:443: connect: connection refused ({resource} {name})"
                ),
            ),
        }
    }
}
