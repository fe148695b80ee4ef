//! A dry run of one webhook (`dockhand explain`, `POST /api/v1/explain`): what dockhand would
//! answer and refresh if this payload reached this receiver. It runs the very decision a real
//! delivery runs (`delivery::decide`) with nothing written: no store, no refresh queued, no
//! de-duplication claim, no metrics.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use dockhand_core::config::Receiver;
use serde::Deserialize;

use crate::delivery::{self, Context, Decision, Incoming};
use crate::kargo::Kargo;
use crate::snapshot::Snapshot;

/// Why a dry run could not run.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("expected the receiver as PROJECT/NAME, got {0:?}")]
    ReceiverSpelling(String),
    #[error("no receiver {0} in the configuration (see `dockhand receivers`)")]
    NoReceiver(String),
    #[error("header {0:?}: expected 'Name: value'")]
    Header(String),
}

/// One webhook to explain, as a sender would deliver it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Request {
    /// `PROJECT/NAME`; a ClusterConfig receiver is `/NAME`.
    pub receiver: String,
    /// Headers as `Name: value` lines (signatures, event types, Basic credentials).
    #[serde(default)]
    pub headers: Vec<String>,
    /// The receiver URL's query string, without `?` (e.g. `region=westus`).
    #[serde(default)]
    pub query: Option<String>,
    /// The body, as sent.
    #[serde(default)]
    pub payload: String,
}

/// The receiver named `PROJECT/NAME` (`/NAME` for a ClusterConfig receiver).
pub fn find_receiver<'a>(snap: &'a Snapshot, spelt: &str) -> Result<&'a Receiver, ExplainError> {
    let (project, name) = spelt
        .split_once('/')
        .filter(|(_, n)| !n.is_empty() && !n.contains('/'))
        .ok_or_else(|| ExplainError::ReceiverSpelling(spelt.to_string()))?;
    snap.config
        .receivers
        .iter()
        .find(|r| r.project == project && r.name == name)
        .ok_or_else(|| ExplainError::NoReceiver(spelt.to_string()))
}

/// Parses `Name: value` header lines (curl's `-H` spelling).
pub fn headers(lines: &[String]) -> Result<HeaderMap, ExplainError> {
    let mut map = HeaderMap::new();
    for line in lines {
        let bad = || ExplainError::Header(line.clone());
        let (name, value) = line.split_once(':').ok_or_else(bad)?;
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?;
        let value = HeaderValue::from_str(value.trim()).map_err(|_| bad())?;
        map.append(name, value);
    }
    Ok(map)
}

/// What `request` would get from `snap`: the same decision as a real delivery's, with
/// `duration_micros` 0 and nothing recorded.
pub fn explain(
    snap: &Snapshot,
    kargo: Option<&Kargo>,
    request: &Request,
) -> Result<Decision, ExplainError> {
    let receiver = find_receiver(snap, &request.receiver)?;
    let headers = headers(&request.headers)?;
    let incoming = Incoming {
        method: &Method::POST,
        headers: &headers,
        query: request.query.as_deref(),
        body: request.payload.as_bytes(),
    };
    Ok(delivery::decide(
        snap,
        receiver,
        &incoming,
        Context { dedup: None, kargo },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines_are_split_at_the_first_colon() {
        let map = headers(&["X-A: b: c".to_string(), "Y:z".to_string()]).expect("headers");
        assert_eq!(map.get("x-a").and_then(|v| v.to_str().ok()), Some("b: c"));
        assert_eq!(map.get("y").and_then(|v| v.to_str().ok()), Some("z"));
        assert!(matches!(
            headers(&["no colon".to_string()]),
            Err(ExplainError::Header(_))
        ));
    }

    #[test]
    fn a_receiver_is_named_project_slash_name() {
        let snap = Snapshot::build(dockhand_core::config::Config::default(), &[]);
        assert!(matches!(
            find_receiver(&snap, "nameonly"),
            Err(ExplainError::ReceiverSpelling(_))
        ));
        assert!(matches!(
            find_receiver(&snap, "p/n"),
            Err(ExplainError::NoReceiver(_))
        ));
    }
}
