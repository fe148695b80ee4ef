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
        replay: false,
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
    use crate::dedup::Dedup;

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

    const CONFIG: &str = "
apiVersion: v1
kind: Secret
metadata: {name: s, namespace: demo}
stringData: {secret: explain-test-secret}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {name: demo, namespace: demo}
spec:
  webhookReceivers:
  - name: acr
    azure: {secretRef: {name: s}}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: app, namespace: demo}
spec:
  subscriptions:
  - image: {repoURL: reg.example.com/team/app, constraint: ^1.0.0}
";

    fn push(id: &str) -> Request {
        Request {
            receiver: "demo/acr".into(),
            headers: vec!["User-Agent: AzureContainerRegistry/1.0".into()],
            query: None,
            payload: serde_json::json!({
                "id": id, "action": "push",
                "target": {"repository": "team/app", "tag": "1.2.0"},
                "request": {"host": "reg.example.com"}
            })
            .to_string(),
        }
    }

    #[test]
    fn a_dry_run_claims_no_delivery_id_where_a_real_delivery_does() {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(dir.path().join("c.yaml"), CONFIG).expect("write");
        let config = dockhand_core::config::load(&[dir.path().to_path_buf()]).expect("config");
        let snap = Snapshot::build(config, &[]);
        for _ in 0..2 {
            let d = explain(&snap, None, &push("same-id")).expect("explain");
            assert_eq!(d.record.outcome, dockhand_core::event::Outcome::Refreshed);
            assert_eq!(d.record.refreshed, ["demo/app"]);
            assert_eq!(d.claimed, None);
        }
        // The same decision with a dedup table: the first claims the id, the second is a
        // duplicate that refreshes nothing.
        let dedup = Dedup::new(std::time::Duration::from_secs(60), 10);
        let receiver = find_receiver(&snap, "demo/acr").expect("receiver");
        let request = push("same-id");
        let headers = headers(&request.headers).expect("headers");
        let incoming = Incoming {
            method: &Method::POST,
            headers: &headers,
            query: None,
            body: request.payload.as_bytes(),
            replay: false,
        };
        let ctx = Context {
            dedup: Some(&dedup),
            kargo: None,
        };
        let first = delivery::decide(&snap, receiver, &incoming, ctx);
        assert_eq!(first.claimed.as_deref(), Some("same-id"));
        let second = delivery::decide(&snap, receiver, &incoming, ctx);
        assert_eq!(
            second.record.outcome,
            dockhand_core::event::Outcome::Duplicate
        );
        assert!(second.refresh.is_empty());
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
