//! The events dockhand notifies about, as the JSON the outbox stores and the generic type sends:
//! `type`, `id` (the `webhook-id`), `time`, `project`, `warehouse`, then `freight` (its id,
//! alias and artifacts) or `error`. Slack and Teams bodies are made from this same document
//! (`body.rs`), so what a row says does not depend on when it is sent.

use dockhand_core::config::{Notification, NotificationEvent};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::discovery::freight::Freight;
use crate::store::NewNotification;

/// A `webhook-id` for an event that happens once per subject (a Freight): derived from what it
/// reports, so writing it twice keeps one row and one id.
fn stable_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("msg_{hex}")
}

/// A fresh `webhook-id` for an event that may happen again (a failure, a test).
fn fresh_id() -> String {
    format!("msg_{}", uuid::Uuid::now_v7().simple())
}

fn row(
    n: &Notification,
    event: NotificationEvent,
    id: String,
    at: &str,
    warehouse: Option<&str>,
    extra: Value,
) -> NewNotification {
    let mut doc = json!({
        "type": event.name(),
        "id": id,
        "time": at,
        "project": n.project,
        "warehouse": warehouse,
    });
    if let (Value::Object(doc), Value::Object(extra)) = (&mut doc, extra) {
        doc.extend(extra);
    }
    NewNotification {
        id,
        project: n.project.clone(),
        notification: n.name.clone(),
        kind: n.kind.name().to_string(),
        event: event.name().to_string(),
        warehouse: warehouse.map(str::to_string),
        created_at: at.to_string(),
        payload: doc.to_string(),
    }
}

/// FreightCreated rows for every Notification of the Freight's project that wants it.
pub fn freight_created(notifications: &[Notification], f: &Freight) -> Vec<NewNotification> {
    notifications
        .iter()
        .filter(|n| n.project == f.project)
        .filter(|n| n.wants(NotificationEvent::FreightCreated, Some(&f.warehouse)))
        .map(|n| {
            let id = stable_id(&[&n.project, &n.name, "FreightCreated", &f.id]);
            let freight = json!({
                "id": f.id,
                "alias": f.alias,
                "createdAt": f.created_at,
                "artifacts": f.artifacts,
            });
            row(
                n,
                NotificationEvent::FreightCreated,
                id,
                &f.created_at,
                Some(&f.warehouse),
                json!({ "freight": freight }),
            )
        })
        .collect()
}

/// DiscoveryFailed rows for a Warehouse whose reconcile failed with `error`.
pub fn discovery_failed(
    notifications: &[Notification],
    project: &str,
    warehouse: &str,
    error: &str,
    at: &str,
) -> Vec<NewNotification> {
    notifications
        .iter()
        .filter(|n| n.project == project)
        .filter(|n| n.wants(NotificationEvent::DiscoveryFailed, Some(warehouse)))
        .map(|n| {
            row(
                n,
                NotificationEvent::DiscoveryFailed,
                fresh_id(),
                at,
                Some(warehouse),
                json!({ "error": error }),
            )
        })
        .collect()
}

/// DeliveryRejected rows: receiver `receiver` of `project` answered `status` with `message`.
pub fn delivery_rejected(
    notifications: &[Notification],
    project: &str,
    receiver: &str,
    status: u16,
    message: &str,
    at: &str,
) -> Vec<NewNotification> {
    notifications
        .iter()
        .filter(|n| n.project == project)
        .filter(|n| n.wants(NotificationEvent::DeliveryRejected, None))
        .map(|n| {
            row(
                n,
                NotificationEvent::DeliveryRejected,
                fresh_id(),
                at,
                None,
                json!({
                    "error": message,
                    "receiver": receiver,
                    "status": status,
                }),
            )
        })
        .collect()
}

/// A Test row for one Notification, whatever its `events`.
pub fn test(n: &Notification, at: &str) -> NewNotification {
    row(
        n,
        NotificationEvent::Test,
        fresh_id(),
        at,
        None,
        json!({ "message": format!("test notification from dockhand for {}/{}", n.project, n.name) }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::freight::{Artifacts, Image};
    use dockhand_core::config::{NotificationType, Origin};
    use dockhand_core::secret::Secret;

    fn notification(
        name: &str,
        events: Vec<NotificationEvent>,
        warehouses: &[&str],
    ) -> Notification {
        Notification {
            project: "p".into(),
            name: name.into(),
            kind: NotificationType::Generic,
            address: Secret::new("http://127.0.0.1/"),
            signing_key: None,
            events,
            warehouses: warehouses.iter().map(|s| s.to_string()).collect(),
            origin: Origin {
                file: "f.yaml".into(),
                document: 0,
            },
        }
    }

    #[test]
    fn freight_created_goes_to_those_that_want_it_with_a_stable_id() {
        let all = vec![
            notification("every", vec![NotificationEvent::FreightCreated], &[]),
            notification("other-wh", vec![NotificationEvent::FreightCreated], &["x"]),
            notification("failures", vec![NotificationEvent::DiscoveryFailed], &[]),
        ];
        let artifacts = Artifacts {
            images: vec![Image {
                repo_url: "nginx".into(),
                tag: "1.2.3".into(),
                digest: "sha256:abc".into(),
                created_at: None,
            }],
            ..Artifacts::default()
        };
        let f = Freight::new("p", "w", artifacts, "2026-11-26T10:00:00.000Z".into());
        let rows = freight_created(&all, &f);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].notification, "every");
        assert_eq!(rows, freight_created(&all, &f), "same Freight, same id");
        let doc: Value = serde_json::from_str(&rows[0].payload).unwrap();
        assert_eq!(doc["type"], "FreightCreated");
        assert_eq!(doc["id"], rows[0].id.as_str());
        assert_eq!(doc["warehouse"], "w");
        assert_eq!(doc["freight"]["id"], f.id.as_str());
        assert_eq!(doc["freight"]["artifacts"]["images"][0]["tag"], "1.2.3");
        assert!(rows[0].id.starts_with("msg_"));
    }
}
