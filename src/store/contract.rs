//! The store contract: what every backend of the `Store` trait must do, written once against the
//! trait and run for each backend by one line, `store_contract!(HarnessExpr);`, which expands to
//! one `#[tokio::test]` per check with fresh storage each.
//!
//! A backend's test module provides a `Harness`: it opens a store on storage that starts empty
//! (and opens the same storage again after `close`, to check what survives), can make that
//! storage look written by a newer dockhand, and can hold writes back so the write queue fills.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dockhand_core::warehouse_ref::WarehouseRef;

use super::delivery_record::MAX_FIELD_BYTES;
use super::{
    ArtifactFilter, Attempt, Delivery, DeliveryFilter, FreightFilter, FreightRecorded, NewFreight,
    NewNotification, NotificationFilter, NotificationStatus, Payload, ProviderClaim, Recorded,
    RefreshRecord, RefreshSeq, ReportedArtifact, Store, StoreError,
};

/// What the suite needs from a backend under test. One harness is one storage.
#[async_trait]
pub trait Harness: Send + Sync {
    /// Opens a store on this harness's storage, keeping `keep_deliveries` per receiver. The
    /// first call sees empty storage; a later call (after `close`) sees what was committed.
    async fn open(&self, keep_deliveries: usize) -> Result<Arc<dyn Store>, StoreError> {
        self.open_with_budget(keep_deliveries, 1024 * 1024 * 1024)
            .await
    }

    /// As `open`, with a byte budget of `max_bytes` (`--max-store-bytes`).
    async fn open_with_budget(
        &self,
        keep_deliveries: usize,
        max_bytes: u64,
    ) -> Result<Arc<dyn Store>, StoreError>;

    /// Marks the storage as written by a dockhand whose schema version is `version`.
    async fn write_schema_version(&self, version: i64);

    /// Holds back the backend's writes until the returned guard is dropped, so that writes
    /// queue up behind them. None when the backend has no bounded queue to fill.
    async fn hold_writes(&self) -> Option<Box<dyn Send>>;
}

/// Runs the whole contract suite for the backend whose harness `$harness` builds (evaluated
/// once per test, so each test has fresh storage).
macro_rules! store_contract {
    ($harness:expr) => {
        $crate::store::contract::store_contract!(@tests $harness;
            deliveries_listed_newest_first_with_filters,
            deliveries_kept_per_receiver,
            delivery_found_by_id,
            query_filter_is_a_plain_substring,
            kargo_refreshes_follow_patch_and_handling,
            delivery_and_its_refreshes_survive_reopen,
            finished_reconcile_clears_only_what_it_covered,
            sequences_grow_across_reopen,
            warehouse_state_follows_refreshes_and_reconciles,
            discovery_replaced_and_freight_kept_once,
            newer_schema_refused,
            closed_store_refuses_writes,
            full_write_queue_is_busy,
            oversized_fields_stored_truncated_with_a_marker,
            byte_budget_deletes_the_oldest_deliveries_only,
            provider_claims_survive_reopen,
            provider_claims_shared_by_handles,
            refreshes_claimed_once_under_a_lease,
            interval_requested_once_per_interval,
            outbox_rows_commit_with_new_freight_and_new_failures,
            outbox_claim_retry_send_and_fail,
            outbox_survives_reopen,
            outbox_rows_claimed_once_across_handles,
            payload_kept_beside_its_delivery,
            artifact_reports_found_by_repository_and_tag,
            payloads_count_in_the_byte_budget_and_go_with_their_delivery,
        );
    };
    (@tests $harness:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let harness = $harness;
                $crate::store::contract::$check(&harness).await;
            }
        )*
    };
}
pub(crate) use store_contract;

const AT: &str = "2026-11-26T10:00:00.000Z";

pub(super) fn wh(project: &str, name: &str) -> WarehouseRef {
    WarehouseRef::new(project, name)
}

pub(super) fn delivery(n: u32, project: &str, receiver: &str, query: Option<&str>) -> Delivery {
    Delivery {
        id: format!("d-{project}-{receiver}-{n}"),
        received_at: format!("2026-11-26T10:00:{:02}.000Z", n % 60),
        project: project.into(),
        receiver: receiver.into(),
        receiver_type: "acr".into(),
        source: dockhand_core::receivers::azure::ACR,
        event_type: Some("push".into()),
        provider_id: Some(format!("p{n}")),
        query: query.map(str::to_string),
        status: 200,
        outcome: dockhand_core::event::Outcome::Refreshed,
        message: "refreshed 1 warehouse(s)".into(),
        repositories: vec!["example.azurecr.io/app".into()],
        qualifiers: vec![format!("1.0.{n}")],
        refreshed: vec![format!("{project}/app")],
        explanation: Vec::new(),
        detail: serde_json::json!({ "n": n }),
        duration_micros: 42,
        refreshes: Vec::new(),
        replay_of: None,
        payload: None,
        artifacts: Vec::new(),
    }
}

async fn open(h: &dyn Harness, keep: usize) -> Arc<dyn Store> {
    match h.open(keep).await {
        Ok(s) => s,
        Err(e) => panic!("cannot open the store: {e}"),
    }
}

fn ids(list: &[Delivery]) -> Vec<&str> {
    list.iter().map(|d| d.id.as_str()).collect()
}

pub async fn deliveries_listed_newest_first_with_filters(h: &dyn Harness) {
    let store = open(h, 100).await;
    store
        .record_delivery(delivery(1, "a", "r1", Some("region=westus")), vec![])
        .await
        .unwrap();
    store
        .record_delivery(delivery(2, "a", "r2", None), vec![])
        .await
        .unwrap();
    store
        .record_delivery(delivery(3, "b", "r1", Some("region=eastus")), vec![])
        .await
        .unwrap();

    let all = store.deliveries(DeliveryFilter::default()).await.unwrap();
    assert_eq!(ids(&all), ["d-b-r1-3", "d-a-r2-2", "d-a-r1-1"]);
    assert_eq!(all[2], delivery(1, "a", "r1", Some("region=westus")));

    let by = |project: Option<&str>, receiver: Option<&str>, query: Option<&str>, limit| {
        DeliveryFilter {
            project: project.map(str::to_string),
            receiver: receiver.map(str::to_string),
            query: query.map(str::to_string),
            limit,
        }
    };
    let list = store
        .deliveries(by(Some("a"), None, None, 0))
        .await
        .unwrap();
    assert_eq!(ids(&list), ["d-a-r2-2", "d-a-r1-1"]);
    let list = store
        .deliveries(by(None, Some("r1"), None, 0))
        .await
        .unwrap();
    assert_eq!(ids(&list), ["d-b-r1-3", "d-a-r1-1"]);
    let list = store
        .deliveries(by(Some("a"), Some("r1"), None, 0))
        .await
        .unwrap();
    assert_eq!(ids(&list), ["d-a-r1-1"]);
    let list = store
        .deliveries(by(None, None, Some("westus"), 0))
        .await
        .unwrap();
    assert_eq!(ids(&list), ["d-a-r1-1"]);
    let list = store.deliveries(by(None, None, None, 2)).await.unwrap();
    assert_eq!(ids(&list), ["d-b-r1-3", "d-a-r2-2"]);
    store.close().await;
}

/// One delivery by id: the same record the list shows, refreshes included; an unknown id and
/// one no longer kept are `None`.
pub async fn delivery_found_by_id(h: &dyn Harness) {
    let store = open(h, 2).await;
    store.link_refreshes();
    for n in 1..=3 {
        store
            .record_delivery(delivery(n, "a", "r", None), vec![wh("a", "app")])
            .await
            .unwrap();
    }
    let listed = store.deliveries(DeliveryFilter::default()).await.unwrap();
    let found = store.delivery("d-a-r-2").await.unwrap();
    assert_eq!(found.as_ref(), listed.iter().find(|d| d.id == "d-a-r-2"));
    let found = found.expect("d-a-r-2 is kept");
    assert_eq!(found.qualifiers, ["1.0.2"]);
    assert_eq!(found.refreshes.len(), 1, "{found:?}");
    assert_eq!(found.refreshes[0].warehouse, "a/app");
    assert_eq!(store.delivery("d-a-r-9").await.unwrap(), None);
    assert_eq!(
        store.delivery("%").await.unwrap(),
        None,
        "an id, not a pattern"
    );
    // Two kept per receiver: the oldest is gone from the lookup as from the list.
    assert_eq!(store.delivery("d-a-r-1").await.unwrap(), None);
    store.close().await;
}

/// `query` is a substring, never a pattern: `%`, `_` and `\\` match themselves (issue 17 item
/// 11: `query=_` listed every delivery that had a query string).
pub async fn query_filter_is_a_plain_substring(h: &dyn Harness) {
    let store = open(h, 100).await;
    for (n, q) in [
        (1, "region=westus"),
        (2, "tag=a_b"),
        (3, "pct=100%25"),
        (4, "odd=50%"),
        (5, "path=c:\\x"),
    ] {
        store
            .record_delivery(delivery(n, "a", "r", Some(q)), vec![])
            .await
            .unwrap();
    }
    let matching = |q: &str| {
        let filter = DeliveryFilter {
            query: Some(q.to_string()),
            ..DeliveryFilter::default()
        };
        let store = store.clone();
        async move { store.deliveries(filter).await.unwrap() }
    };
    assert_eq!(ids(&matching("_").await), ["d-a-r-2"]);
    assert_eq!(ids(&matching("%").await), ["d-a-r-4", "d-a-r-3"]);
    assert_eq!(ids(&matching("%25").await), ["d-a-r-3"]);
    assert_eq!(ids(&matching("\\").await), ["d-a-r-5"]);
    assert_eq!(ids(&matching("region").await), ["d-a-r-1"]);
    assert!(matching("a%b").await.is_empty());
    store.close().await;
}

pub async fn deliveries_kept_per_receiver(h: &dyn Harness) {
    let store = open(h, 3).await;
    for n in 1..=6 {
        store
            .record_delivery(delivery(n, "a", "busy", None), vec![])
            .await
            .unwrap();
    }
    store
        .record_delivery(delivery(7, "a", "quiet", None), vec![])
        .await
        .unwrap();
    let list = store
        .deliveries(DeliveryFilter {
            receiver: Some("busy".into()),
            ..DeliveryFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&list), ["d-a-busy-6", "d-a-busy-5", "d-a-busy-4"]);
    let list = store
        .deliveries(DeliveryFilter {
            receiver: Some("quiet".into()),
            ..DeliveryFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&list), ["d-a-quiet-7"]);
    store.close().await;
}

/// Kargo mode: each refresh a delivery asked for is linked to it; the patch that covered it
/// gives it a token and a time, Kargo's handling a second time; a request that arrived after the
/// patch started is not covered by it.
pub async fn kargo_refreshes_follow_patch_and_handling(h: &dyn Harness) {
    let store = open(h, 100).await;
    // Without linking (files mode) a delivery has no refresh records.
    store
        .record_delivery(delivery(1, "a", "r", None), vec![wh("a", "app")])
        .await
        .unwrap();
    store.link_refreshes();
    store
        .record_delivery(delivery(2, "a", "r", None), vec![wh("a", "app")])
        .await
        .unwrap();
    let w = wh("a", "app");
    let covered = store.reconcile_started(&w, AT.into()).await.unwrap();
    // Arrives while the patch is in flight: the next patch carries it.
    store
        .record_delivery(delivery(3, "a", "r", None), vec![wh("a", "app")])
        .await
        .unwrap();
    let token = "2026-11-26T10:00:01.000001Z".to_string();
    store
        .kargo_patched(&w, covered, Some(token.clone()), AT.into(), None)
        .await
        .unwrap();
    let list = store.deliveries(DeliveryFilter::default()).await.unwrap();
    let refreshes = |id: &str| {
        list.iter()
            .find(|d| d.id == id)
            .map(|d| d.refreshes.clone())
            .unwrap()
    };
    assert!(refreshes("d-a-r-1").is_empty());
    assert_eq!(
        refreshes("d-a-r-2"),
        [RefreshRecord {
            warehouse: "a/app".into(),
            token: Some(token.clone()),
            patched_at: Some(AT.into()),
            handled_at: None,
            error: None,
        }]
    );
    assert_eq!(
        refreshes("d-a-r-3")[0].token,
        None,
        "not covered by that patch"
    );
    assert_eq!(
        store.kargo_outstanding().await.unwrap(),
        [(w.clone(), token.clone())]
    );

    let handled_at = "2026-11-26T10:00:02.000Z";
    store
        .kargo_handled(&w, token.clone(), handled_at.into())
        .await
        .unwrap();
    let list = store.deliveries(DeliveryFilter::default()).await.unwrap();
    let d2 = list.iter().find(|d| d.id == "d-a-r-2").unwrap();
    assert_eq!(d2.refreshes[0].handled_at.as_deref(), Some(handled_at));
    assert!(store.kargo_outstanding().await.unwrap().is_empty());

    // A refresh that could not be patched records why.
    let covered = store.reconcile_started(&w, AT.into()).await.unwrap();
    store
        .kargo_patched(&w, covered, None, AT.into(), Some("dropped: gone".into()))
        .await
        .unwrap();
    let list = store.deliveries(DeliveryFilter::default()).await.unwrap();
    let d3 = list.iter().find(|d| d.id == "d-a-r-3").unwrap();
    assert_eq!(d3.refreshes[0].error.as_deref(), Some("dropped: gone"));
    assert_eq!(d3.refreshes[0].patched_at, None);
    store.close().await;
}

pub async fn delivery_and_its_refreshes_survive_reopen(h: &dyn Harness) {
    let store = open(h, 100).await;
    store
        .record_delivery(delivery(1, "a", "r", None), vec![wh("a", "app")])
        .await
        .unwrap();
    store
        .request_refresh(vec![wh("b", "db")], "2026-11-26T10:00:05.000Z".into())
        .await
        .unwrap();
    store.close().await;

    let store = open(h, 100).await;
    assert_eq!(
        store.pending().await.unwrap(),
        [wh("a", "app"), wh("b", "db")]
    );
    let list = store.deliveries(DeliveryFilter::default()).await.unwrap();
    assert_eq!(ids(&list), ["d-a-r-1"]);
    store.close().await;
}

pub async fn finished_reconcile_clears_only_what_it_covered(h: &dyn Harness) {
    let store = open(h, 100).await;
    let w = wh("a", "app");
    assert_eq!(
        store.reconcile_started(&w, AT.into()).await.unwrap(),
        RefreshSeq::NONE,
        "nothing pending, nothing covered"
    );
    store
        .request_refresh(vec![w.clone()], AT.into())
        .await
        .unwrap();
    let first = store.reconcile_started(&w, AT.into()).await.unwrap();
    assert!(first > RefreshSeq::NONE);

    // A request arriving during the reconcile stays pending after it.
    store
        .record_delivery(delivery(1, "a", "r", None), vec![w.clone()])
        .await
        .unwrap();
    store
        .reconcile_finished(&w, first, AT.into(), None)
        .await
        .unwrap();
    assert_eq!(store.pending().await.unwrap(), std::slice::from_ref(&w));

    let second = store.reconcile_started(&w, AT.into()).await.unwrap();
    assert!(second > first, "{second:?} after {first:?}");
    store
        .reconcile_finished(&w, second, AT.into(), None)
        .await
        .unwrap();
    assert_eq!(store.pending().await.unwrap(), []);
    store.close().await;
}

pub async fn sequences_grow_across_reopen(h: &dyn Harness) {
    let w = wh("a", "app");
    let store = open(h, 100).await;
    store
        .request_refresh(vec![w.clone()], AT.into())
        .await
        .unwrap();
    let first = store.reconcile_started(&w, AT.into()).await.unwrap();
    store
        .reconcile_finished(&w, first, AT.into(), None)
        .await
        .unwrap();
    assert_eq!(store.pending().await.unwrap(), []);
    store.close().await;

    // Nothing is pending any more, yet a new request must not reuse a sequence: a reconcile
    // that covered the old one (on another replica, say) would clear the new request.
    let store = open(h, 100).await;
    store
        .request_refresh(vec![w.clone()], AT.into())
        .await
        .unwrap();
    let second = store.reconcile_started(&w, AT.into()).await.unwrap();
    assert!(second > first, "{second:?} after {first:?}");
    store
        .reconcile_finished(&w, first, AT.into(), None)
        .await
        .unwrap();
    assert_eq!(store.pending().await.unwrap(), [w]);
    store.close().await;
}

pub async fn warehouse_state_follows_refreshes_and_reconciles(h: &dyn Harness) {
    let store = open(h, 100).await;
    let w = wh("a", "app");
    assert!(store.warehouse_states().await.unwrap().is_empty());
    store
        .request_refresh(vec![w.clone()], "2026-11-26T10:00:01.000Z".into())
        .await
        .unwrap();
    store
        .record_delivery(delivery(1, "a", "r", None), vec![w.clone()])
        .await
        .unwrap();
    let states = store.warehouse_states().await.unwrap();
    assert_eq!(states.len(), 1);
    let st = &states[0];
    assert_eq!(st.warehouse, w);
    assert!(st.pending);
    assert_eq!(st.refresh_count, 2);
    assert_eq!(st.reconcile_count, 0);
    assert_eq!(
        st.last_refresh_requested.as_deref(),
        Some(delivery(1, "a", "r", None).received_at.as_str())
    );

    let seq = store
        .reconcile_started(&w, "2026-11-26T10:00:05.000Z".into())
        .await
        .unwrap();
    store
        .reconcile_finished(
            &w,
            seq,
            "2026-11-26T10:00:06.000Z".into(),
            Some("subscriptions[0]: unreachable".into()),
        )
        .await
        .unwrap();
    let states = store.warehouse_states().await.unwrap();
    let st = &states[0];
    assert!(!st.pending);
    assert_eq!(st.reconcile_count, 1);
    assert_eq!(
        st.last_reconcile_started.as_deref(),
        Some("2026-11-26T10:00:05.000Z")
    );
    assert_eq!(
        st.last_reconciled.as_deref(),
        Some("2026-11-26T10:00:06.000Z")
    );
    assert_eq!(
        st.last_error.as_deref(),
        Some("subscriptions[0]: unreachable")
    );

    let seq = store.reconcile_started(&w, AT.into()).await.unwrap();
    store
        .reconcile_finished(&w, seq, AT.into(), None)
        .await
        .unwrap();
    let states = store.warehouse_states().await.unwrap();
    assert_eq!(states[0].last_error, None, "a success clears the error");
    assert_eq!(states[0].reconcile_count, 2);
    store.close().await;
}

pub async fn discovery_replaced_and_freight_kept_once(h: &dyn Harness) {
    let store = open(h, 100).await;
    let w = wh("a", "app");
    let other = wh("a", "db");
    assert_eq!(store.discovery(&w).await.unwrap(), None);
    let freight = |id: &str, at: &str| NewFreight {
        id: id.into(),
        created_at: at.into(),
        body: serde_json::json!({ "id": id, "createdAt": at }).to_string(),
    };
    let body = |n: u32| serde_json::json!({ "discoveredAt": AT, "n": n }).to_string();

    let r = store
        .record_discovery(&w, AT.into(), body(1), None)
        .await
        .unwrap();
    assert_eq!(r, FreightRecorded::NoFreight);
    let r = store
        .record_discovery(
            &w,
            AT.into(),
            body(2),
            Some(freight("f1", "2026-11-26T10:00:01.000Z")),
        )
        .await
        .unwrap();
    assert_eq!(r, FreightRecorded::New);
    assert_eq!(
        store.discovery(&w).await.unwrap(),
        Some(serde_json::json!({ "discoveredAt": AT, "n": 2 }))
    );
    let r = store
        .record_discovery(
            &w,
            AT.into(),
            body(3),
            Some(freight("f1", "2026-11-26T11:00:00.000Z")),
        )
        .await
        .unwrap();
    assert_eq!(r, FreightRecorded::AlreadyRecorded);
    store
        .record_discovery(
            &w,
            AT.into(),
            body(4),
            Some(freight("f2", "2026-11-26T10:00:02.000Z")),
        )
        .await
        .unwrap();
    store
        .record_discovery(
            &other,
            AT.into(),
            body(5),
            Some(freight("f3", "2026-11-26T10:00:03.000Z")),
        )
        .await
        .unwrap();

    let ids = |list: Vec<serde_json::Value>| -> Vec<String> {
        list.iter()
            .map(|v| v["id"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let all = store.freight(FreightFilter::default()).await.unwrap();
    assert_eq!(ids(all.clone()), ["f3", "f2", "f1"]);
    assert_eq!(
        all[2]["createdAt"], "2026-11-26T10:00:01.000Z",
        "the first record of an id is kept"
    );
    let of_app = store
        .freight(FreightFilter {
            project: Some("a".into()),
            warehouse: Some("app".into()),
        })
        .await
        .unwrap();
    assert_eq!(ids(of_app), ["f2", "f1"]);
    let of_b = store
        .freight(FreightFilter {
            project: Some("b".into()),
            warehouse: None,
        })
        .await
        .unwrap();
    assert!(of_b.is_empty());
    store.close().await;
}

pub async fn newer_schema_refused(h: &dyn Harness) {
    open(h, 100).await.close().await;
    h.write_schema_version(999).await;
    match h.open(100).await {
        Err(e @ StoreError::TooNew { found: 999, .. }) => {
            let message = e.to_string();
            assert!(
                message.contains("has schema version 999, newer than this dockhand")
                    && message.ends_with("; upgrade dockhand"),
                "{message}"
            );
        }
        Err(e) => panic!("expected TooNew, got {e}"),
        Ok(_) => panic!("a store with a newer schema was opened"),
    }
}

pub async fn closed_store_refuses_writes(h: &dyn Harness) {
    let store = open(h, 100).await;
    store.close().await;
    let err = store
        .record_delivery(delivery(1, "a", "r", None), vec![])
        .await
        .err();
    assert!(matches!(err, Some(StoreError::Closed)), "{err:?}");
    let err = store
        .request_refresh(vec![wh("a", "app")], AT.into())
        .await
        .err();
    assert_eq!(
        err.map(|e| e.to_string()).as_deref(),
        Some("the store is closed")
    );
}

pub async fn full_write_queue_is_busy(h: &dyn Harness) {
    let store = open(h, 100).await;
    let Some(guard) = h.hold_writes().await else {
        store.close().await;
        return;
    };
    // Writes pile up behind the held one until the queue is full; each stays pending (the
    // timeout) until then.
    let mut busy = None;
    for n in 0..10_000 {
        let write = store.request_refresh(vec![wh("a", &format!("w{n}"))], AT.into());
        match tokio::time::timeout(Duration::from_millis(20), write).await {
            Err(_pending) => continue,
            Ok(Err(e)) => {
                busy = Some(e);
                break;
            }
            Ok(Ok(())) => panic!("a write committed while writes were held"),
        }
    }
    drop(guard);
    let busy = busy.map(|e| (matches!(e, StoreError::Busy), e.to_string()));
    assert_eq!(
        busy,
        Some((
            true,
            "the store is busy (write queue full); try again".to_string()
        ))
    );
    // Once the backlog drains the store takes writes again.
    let mut tries = 0;
    loop {
        match store
            .request_refresh(vec![wh("a", "after")], AT.into())
            .await
        {
            Ok(()) => break,
            Err(StoreError::Busy) if tries < 100 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the store did not recover from a full queue: {e}"),
        }
    }
    assert!(store.pending().await.unwrap().contains(&wh("a", "after")));
    store.close().await;
}

pub async fn oversized_fields_stored_truncated_with_a_marker(h: &dyn Harness) {
    let store = open(h, 100).await;
    let huge = |c: char| c.to_string().repeat(1024 * 1024);
    let mut d = delivery(1, "a", "r1", Some(&format!("region={}", huge('q'))));
    d.provider_id = Some(huge('p'));
    d.message = huge('m');
    d.repositories = vec![huge('r')];
    d.qualifiers = (0..1000).map(|n| format!("{n}{}", huge('t'))).collect();
    d.explanation = vec![huge('e')];
    d.detail = serde_json::json!({ "why": huge('d') });
    // Never refused for its size: the sender would only send it again.
    store.record_delivery(d, vec![]).await.unwrap();

    let got = store.deliveries(DeliveryFilter::default()).await.unwrap();
    let got = &got[0];
    let capped = |what: &str, s: &str, first: char| {
        assert!(
            s.len() <= MAX_FIELD_BYTES + 64,
            "{what}: {} bytes stored",
            s.len()
        );
        assert!(
            s.contains(first) && s.contains("…[truncated "),
            "{what}: {s:.80}"
        );
    };
    capped("query", got.query.as_deref().unwrap(), 'q');
    capped("provider id", got.provider_id.as_deref().unwrap(), 'p');
    capped("message", &got.message, 'm');
    capped("repository", &got.repositories[0], 'r');
    capped("qualifier", &got.qualifiers[0], 't');
    capped("explanation", &got.explanation[0], 'e');
    capped("detail", got.detail["why"].as_str().unwrap(), 'd');
    let last = got.qualifiers.last().unwrap();
    assert!(
        last.starts_with("…[truncated ") && last.ends_with(" more entries]"),
        "{last}"
    );
    assert!(
        got.qualifiers.len() < 100,
        "{} qualifiers",
        got.qualifiers.len()
    );
    // The query filter still finds it by the start of its query.
    let by_query = DeliveryFilter {
        query: Some("region=qqq".into()),
        ..DeliveryFilter::default()
    };
    assert_eq!(store.deliveries(by_query).await.unwrap().len(), 1);
    store.close().await;
}

pub async fn byte_budget_deletes_the_oldest_deliveries_only(h: &dyn Harness) {
    let budget: u64 = 1024 * 1024;
    let store = match h.open_with_budget(100_000, budget).await {
        Ok(s) => s,
        Err(e) => panic!("cannot open the store: {e}"),
    };
    let pending = wh("a", "pending");
    store
        .request_refresh(vec![pending.clone()], AT.into())
        .await
        .unwrap();
    let freight = NewFreight {
        id: "f1".into(),
        created_at: AT.into(),
        body: serde_json::json!({ "name": "f1" }).to_string(),
    };
    store
        .record_discovery(&wh("a", "app"), AT.into(), "{}".into(), Some(freight))
        .await
        .unwrap();
    // About 64 KiB each: 8 times the budget in all.
    let fat = |n: u32| {
        let mut d = delivery(n, "a", "r1", None);
        d.qualifiers = (0..31)
            .map(|i| format!("{i}{}", "x".repeat(2000)))
            .collect();
        d
    };
    for n in 0..128 {
        store.record_delivery(fat(n), vec![]).await.unwrap();
    }
    let used = store.stored_bytes().await.unwrap();
    assert!(
        used <= budget,
        "{used} bytes stored with a budget of {budget}"
    );
    let list = store
        .deliveries(DeliveryFilter {
            limit: 1000,
            ..DeliveryFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(list.first().map(|d| d.id.as_str()), Some("d-a-r1-127"));
    assert!(list.len() >= 4, "only {} deliveries kept", list.len());
    assert!(
        list.len() < 20,
        "{} deliveries of 64 KiB kept within 1 MiB",
        list.len()
    );
    assert!(!ids(&list).contains(&"d-a-r1-0"));
    // What the service runs on is never deleted for the budget.
    assert_eq!(store.pending().await.unwrap(), vec![pending]);
    assert_eq!(
        store.freight(FreightFilter::default()).await.unwrap().len(),
        1
    );
    store.close().await;
}

fn claim(id: u8) -> ProviderClaim {
    ProviderClaim {
        key: [id; 16],
        window: Duration::from_secs(600),
    }
}

pub async fn provider_claims_survive_reopen(h: &dyn Harness) {
    let store = open(h, 100).await;
    let first = store
        .record_delivery_once(delivery(1, "a", "r", None), vec![wh("a", "app")], claim(1))
        .await
        .unwrap();
    assert_eq!(first, Recorded::Stored);
    let again = store
        .record_delivery_once(delivery(2, "a", "r", None), vec![wh("a", "app")], claim(1))
        .await
        .unwrap();
    assert_eq!(again, Recorded::Duplicate);
    store.close().await;

    // A restart remembers the claim; another id is new.
    let store = open(h, 100).await;
    let after = store
        .record_delivery_once(delivery(3, "a", "r", None), vec![], claim(1))
        .await
        .unwrap();
    assert_eq!(after, Recorded::Duplicate);
    let other = store
        .record_delivery_once(delivery(4, "a", "r", None), vec![], claim(2))
        .await
        .unwrap();
    assert_eq!(other, Recorded::Stored);
    // A duplicate wrote nothing.
    let list = store.deliveries(DeliveryFilter::default()).await.unwrap();
    assert_eq!(ids(&list), ["d-a-r-4", "d-a-r-1"]);
    store.close().await;
}

pub async fn provider_claims_shared_by_handles(h: &dyn Harness) {
    let a = open(h, 100).await;
    if !a.shares_work() {
        a.close().await;
        return;
    }
    let b = open(h, 100).await;
    // The same id arriving at two replicas together: exactly one stores it.
    let (ra, rb) = tokio::join!(
        a.record_delivery_once(delivery(1, "a", "r", None), vec![wh("a", "app")], claim(9)),
        b.record_delivery_once(delivery(2, "a", "r", None), vec![wh("a", "app")], claim(9)),
    );
    let mut got = [ra.unwrap(), rb.unwrap()];
    got.sort_by_key(|r| *r == Recorded::Stored);
    assert_eq!(got, [Recorded::Duplicate, Recorded::Stored]);
    // What one handle wrote, the other shows.
    assert_eq!(b.pending().await.unwrap(), [wh("a", "app")]);
    a.close().await;
    b.close().await;
}

pub async fn refreshes_claimed_once_under_a_lease(h: &dyn Harness) {
    let a = open(h, 100).await;
    if !a.shares_work() {
        // A store one process owns hands out no claims: its in-memory queue decides.
        a.request_refresh(vec![wh("a", "app")], AT.into())
            .await
            .unwrap();
        let none = a
            .claim_refreshes("a", Duration::from_secs(1), Duration::ZERO, 10)
            .await
            .unwrap();
        assert!(none.is_empty());
        a.close().await;
        return;
    }
    let b = open(h, 100).await;
    let w = wh("a", "app");
    let lease = Duration::from_millis(1500);
    a.request_refresh(vec![w.clone()], AT.into()).await.unwrap();
    let (ca, cb) = tokio::join!(
        a.claim_refreshes("a", lease, Duration::ZERO, 10),
        b.claim_refreshes("b", lease, Duration::ZERO, 10),
    );
    let (ca, cb) = (ca.unwrap(), cb.unwrap());
    assert_eq!(ca.len() + cb.len(), 1, "claimed twice: {ca:?} {cb:?}");
    // "a" holds it (or "b"); whoever holds it, the other waits for the lease to run out.
    let (holder, other, other_name) = if ca.is_empty() {
        (&b, &a, "a")
    } else {
        (&a, &b, "b")
    };
    holder.reconcile_started(&w, AT.into()).await.unwrap();
    let nothing = other
        .claim_refreshes(other_name, lease, Duration::ZERO, 10)
        .await
        .unwrap();
    assert!(nothing.is_empty());
    // The holder dies without finishing: after the lease, the other takes it over.
    tokio::time::sleep(lease + Duration::from_millis(300)).await;
    let taken = other
        .claim_refreshes(other_name, lease, Duration::ZERO, 10)
        .await
        .unwrap();
    assert_eq!(taken, std::slice::from_ref(&w));
    let seq = other.reconcile_started(&w, AT.into()).await.unwrap();
    other
        .reconcile_finished(&w, seq, AT.into(), None)
        .await
        .unwrap();
    assert!(other.pending().await.unwrap().is_empty());
    // A new request within the cooldown of the last start is not claimed yet.
    other
        .request_refresh(vec![w.clone()], AT.into())
        .await
        .unwrap();
    let cooling = holder
        .claim_refreshes("c", lease, Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert!(cooling.is_empty());
    let after = holder
        .claim_refreshes("c", lease, Duration::ZERO, 10)
        .await
        .unwrap();
    assert_eq!(after, [w]);
    a.close().await;
    b.close().await;
}

pub async fn interval_requested_once_per_interval(h: &dyn Harness) {
    let a = open(h, 100).await;
    if !a.shares_work() {
        a.close().await;
        return;
    }
    let b = open(h, 100).await;
    let w = wh("a", "app");
    let hour = Duration::from_secs(3600);
    let (ra, rb) = tokio::join!(
        a.request_refresh_if_due(&w, hour, AT.into()),
        b.request_refresh_if_due(&w, hour, AT.into()),
    );
    assert_eq!([ra.unwrap(), rb.unwrap()].iter().filter(|x| **x).count(), 1);
    let seq = a.reconcile_started(&w, AT.into()).await.unwrap();
    a.reconcile_finished(&w, seq, AT.into(), None)
        .await
        .unwrap();
    // Reconciled just now: not due again within the hour, whichever replica asks.
    assert!(!b.request_refresh_if_due(&w, hour, AT.into()).await.unwrap());
    assert!(b
        .request_refresh_if_due(&w, Duration::ZERO, AT.into())
        .await
        .unwrap());
    a.close().await;
    b.close().await;
}

fn note(id: &str, project: &str, event: &str) -> NewNotification {
    NewNotification {
        id: id.into(),
        project: project.into(),
        notification: "chat".into(),
        kind: "generic".into(),
        event: event.into(),
        warehouse: Some("app".into()),
        created_at: AT.into(),
        payload: format!("{{\"id\":\"{id}\"}}"),
    }
}

async fn outbox_ids(store: &dyn Store) -> Vec<String> {
    let mut ids: Vec<String> = store
        .notifications(NotificationFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.new.id)
        .collect();
    ids.sort();
    ids
}

pub async fn outbox_rows_commit_with_new_freight_and_new_failures(h: &dyn Harness) {
    let store = open(h, 100).await;
    let w = wh("a", "app");
    let freight = |id: &str| NewFreight {
        id: id.into(),
        created_at: AT.into(),
        body: "{}".into(),
    };
    let recorded = store
        .record_discovery_notifying(
            &w,
            AT.into(),
            "{}".into(),
            Some(freight("f1")),
            vec![note("msg_f1", "a", "FreightCreated")],
        )
        .await
        .unwrap();
    assert_eq!(recorded, FreightRecorded::New);
    // The same Freight again: not new, so no notification either.
    let again = store
        .record_discovery_notifying(
            &w,
            AT.into(),
            "{}".into(),
            Some(freight("f1")),
            vec![note("msg_f1_again", "a", "FreightCreated")],
        )
        .await
        .unwrap();
    assert_eq!(again, FreightRecorded::AlreadyRecorded);
    assert_eq!(outbox_ids(&*store).await, ["msg_f1"]);

    // A failure after success is reported; the same failure going on is not; a failure after
    // a success again is.
    let fail = |id: &str| vec![note(id, "a", "DiscoveryFailed")];
    for (error, id) in [
        (Some("boom"), "msg_e1"),
        (Some("boom"), "msg_e2"),
        (None, "msg_ok"),
        (Some("boom"), "msg_e3"),
    ] {
        let seq = store.reconcile_started(&w, AT.into()).await.unwrap();
        store
            .reconcile_finished_notifying(&w, seq, AT.into(), error.map(String::from), fail(id))
            .await
            .unwrap();
    }
    assert_eq!(outbox_ids(&*store).await, ["msg_e1", "msg_e3", "msg_f1"]);
    let listed = store
        .notifications(NotificationFilter {
            project: Some("a".into()),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(listed[0].new.id, "msg_e3", "newest first");
    assert_eq!(listed[0].status, NotificationStatus::Pending);
    assert_eq!(listed[0].attempts, 0);
    assert!(store
        .notifications(NotificationFilter {
            project: Some("b".into()),
            limit: 10,
        })
        .await
        .unwrap()
        .is_empty());
    store.close().await;
}

pub async fn outbox_claim_retry_send_and_fail(h: &dyn Harness) {
    let store = open(h, 100).await;
    let lease = Duration::from_secs(60);
    store
        .enqueue_notifications(vec![note("msg_1", "a", "Test"), note("msg_2", "a", "Test")])
        .await
        .unwrap();
    // The same id again is kept once.
    store
        .enqueue_notifications(vec![note("msg_1", "a", "Test")])
        .await
        .unwrap();
    let claimed = store.claim_notifications("me", lease, 10).await.unwrap();
    let mut ids: Vec<_> = claimed.iter().map(|n| n.new.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["msg_1", "msg_2"]);
    assert_eq!(
        claimed[0].new.payload,
        format!("{{\"id\":\"{}\"}}", claimed[0].new.id)
    );
    // Leased: not handed out again.
    assert!(store
        .claim_notifications("me", lease, 10)
        .await
        .unwrap()
        .is_empty());

    // msg_1: a retry due at once, then sent.
    store
        .notification_attempted(
            "msg_1",
            "me",
            Attempt::Retry {
                code: Some(500),
                error: "HTTP 500".into(),
                after: Duration::ZERO,
            },
        )
        .await
        .unwrap();
    // msg_2: fails for good.
    store
        .notification_attempted(
            "msg_2",
            "me",
            Attempt::Failed {
                code: Some(400),
                error: "HTTP 400: bad".into(),
                at: AT.into(),
            },
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let again = store.claim_notifications("me", lease, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].new.id, "msg_1");
    assert_eq!(again[0].attempts, 1);
    assert_eq!(again[0].response_code, Some(500));
    // Someone who does not hold the lease cannot record an attempt.
    store
        .notification_attempted(
            "msg_1",
            "other",
            Attempt::Failed {
                code: None,
                error: "not mine".into(),
                at: AT.into(),
            },
        )
        .await
        .unwrap();
    store
        .notification_attempted(
            "msg_1",
            "me",
            Attempt::Sent {
                code: 204,
                at: AT.into(),
            },
        )
        .await
        .unwrap();
    // A retry far in the future is not due.
    store
        .enqueue_notifications(vec![note("msg_3", "a", "Test")])
        .await
        .unwrap();
    let third = store.claim_notifications("me", lease, 10).await.unwrap();
    assert_eq!(third.len(), 1);
    store
        .notification_attempted(
            "msg_3",
            "me",
            Attempt::Retry {
                code: None,
                error: "connection refused".into(),
                after: Duration::from_secs(3600),
            },
        )
        .await
        .unwrap();
    assert!(store
        .claim_notifications("me", lease, 10)
        .await
        .unwrap()
        .is_empty());

    let all = store
        .notifications(NotificationFilter::default())
        .await
        .unwrap();
    let by_id = |id: &str| all.iter().find(|n| n.new.id == id).unwrap().clone();
    let sent = by_id("msg_1");
    assert_eq!(sent.status, NotificationStatus::Sent);
    assert_eq!((sent.attempts, sent.response_code), (2, Some(204)));
    assert_eq!(
        sent.last_error.as_deref(),
        Some("HTTP 500"),
        "the last error is kept"
    );
    assert_eq!(sent.finished_at.as_deref(), Some(AT));
    let failed = by_id("msg_2");
    assert_eq!(failed.status, NotificationStatus::Failed);
    assert_eq!(failed.last_error.as_deref(), Some("HTTP 400: bad"));
    assert_eq!(failed.response_code, Some(400));
    let waiting = by_id("msg_3");
    assert_eq!(waiting.status, NotificationStatus::Pending);
    assert_eq!(waiting.last_error.as_deref(), Some("connection refused"));
    assert_eq!(waiting.response_code, None);
    store.close().await;
}

pub async fn outbox_survives_reopen(h: &dyn Harness) {
    let store = open(h, 100).await;
    store
        .enqueue_notifications(vec![note("msg_kept", "a", "Test")])
        .await
        .unwrap();
    // Claimed by a process that then dies: the row stays pending.
    let claimed = store
        .claim_notifications("gone", Duration::from_millis(200), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    store.close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let store = open(h, 100).await;
    let again = store
        .claim_notifications("new", Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].new.id, "msg_kept");
    assert_eq!(again[0].status, NotificationStatus::Pending);
    store.close().await;
}

pub async fn outbox_rows_claimed_once_across_handles(h: &dyn Harness) {
    let a = open(h, 100).await;
    if !a.shares_work() {
        a.close().await;
        return;
    }
    let b = open(h, 100).await;
    let rows: Vec<_> = (0..20)
        .map(|i| note(&format!("msg_{i:02}"), "a", "Test"))
        .collect();
    a.enqueue_notifications(rows).await.unwrap();
    let lease = Duration::from_secs(60);
    let (ca, cb) = tokio::join!(
        a.claim_notifications("a", lease, 15),
        b.claim_notifications("b", lease, 15),
    );
    let mut all: Vec<String> = ca
        .unwrap()
        .into_iter()
        .chain(cb.unwrap())
        .map(|n| n.new.id)
        .collect();
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!(before, all.len(), "a row went to both replicas");
    assert_eq!(all.len(), 20);
    a.close().await;
    b.close().await;
}

fn kept(body: &[u8]) -> Payload {
    Payload {
        headers: vec![
            ("user-agent".into(), "AzureContainerRegistry/1.0".into()),
            ("x-request-id".into(), "r-1".into()),
        ],
        body: body.to_vec(),
        trimmed: None,
    }
}

pub async fn payload_kept_beside_its_delivery(h: &dyn Harness) {
    let store = open(h, 100).await;
    // Bytes that are not UTF-8 come back as they were.
    let body: Vec<u8> = [b"{\"a\":1}".as_slice(), &[0xff, 0x00, 0xfe]].concat();
    let mut with = delivery(1, "a", "r1", None);
    with.payload = Some(kept(&body));
    with.replay_of = Some("d-original".into());
    store.record_delivery(with.clone(), vec![]).await.unwrap();
    let mut trimmed = delivery(2, "a", "r1", None);
    trimmed.payload = Some(Payload {
        trimmed: Some("headers left out when kept: x-big".into()),
        ..kept(b"{}")
    });
    store.record_delivery(trimmed, vec![]).await.unwrap();
    let without = delivery(3, "a", "r1", None);
    store
        .record_delivery(without.clone(), vec![])
        .await
        .unwrap();

    assert_eq!(store.payload(&with.id).await.unwrap(), with.payload);
    assert_eq!(store.payload(&without.id).await.unwrap(), None);
    assert_eq!(store.payload("d-never").await.unwrap(), None);
    let t = store
        .payload("d-a-r1-2")
        .await
        .unwrap()
        .expect("trimmed payload");
    assert_eq!(
        t.trimmed.as_deref(),
        Some("headers left out when kept: x-big")
    );
    // The record itself carries neither the payload nor, in a listing, its bytes.
    let read = store.delivery(&with.id).await.unwrap().expect("delivery");
    assert_eq!(read.payload, None);
    assert_eq!(read.replay_of.as_deref(), Some("d-original"));
    assert_eq!(
        read,
        Delivery {
            payload: None,
            ..with.clone()
        }
    );
    store.close().await;
    // Durable like the delivery.
    let store = open(h, 100).await;
    assert_eq!(store.payload(&with.id).await.unwrap(), with.payload);
    store.close().await;
}

fn image(repository: &str, tag: Option<&str>, digest: &str) -> ReportedArtifact {
    ReportedArtifact {
        repository: repository.into(),
        tag: tag.map(str::to_string),
        digest: Some(digest.into()),
    }
}

pub async fn artifact_reports_found_by_repository_and_tag(h: &dyn Harness) {
    let store = open(h, 100).await;
    let app = "myregistry.azurecr.io/app";
    let cases: [(u32, &str, Option<&str>, Option<&str>); 4] = [
        (1, "region=westus", Some("1.0.0"), Some("sha256:aaa")),
        (2, "region=eastus", Some("1.0.0"), Some("sha256:aaa")),
        (3, "region=westus", Some("1.1.0"), Some("sha256:bbb")),
        (4, "region=westus", None, Some("sha256:ccc")),
    ];
    for (n, query, tag, digest) in cases {
        let mut d = delivery(n, "a", "acr", Some(query));
        d.artifacts = vec![
            ReportedArtifact {
                repository: app.into(),
                tag: tag.map(str::to_string),
                digest: digest.map(str::to_string),
            },
            image("myregistry.azurecr.io/other", tag, "sha256:ddd"),
        ];
        store.record_delivery(d, vec![]).await.unwrap();
    }
    let reports = |tag: Option<&str>| {
        let store = store.clone();
        let tag = tag.map(str::to_string);
        async move {
            store
                .artifact_reports(ArtifactFilter {
                    repository: app.into(),
                    tag,
                    limit: 0,
                })
                .await
                .unwrap()
        }
    };
    let tagged = reports(Some("1.0.0")).await;
    let seen: Vec<(&str, Option<&str>, Option<&str>)> = tagged
        .iter()
        .map(|r| {
            (
                r.delivery_id.as_str(),
                r.query.as_deref(),
                r.artifact.digest.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("d-a-acr-2", Some("region=eastus"), Some("sha256:aaa")),
            ("d-a-acr-1", Some("region=westus"), Some("sha256:aaa")),
        ]
    );
    assert_eq!(tagged[0].received_at, "2026-11-26T10:00:02.000Z");
    assert_eq!(
        (tagged[0].project.as_str(), tagged[0].receiver.as_str()),
        ("a", "acr")
    );
    assert_eq!(tagged[0].artifact.repository, app);
    // Every tag of the repository, newest first; a push by digest has no tag.
    let all = reports(None).await;
    let order: Vec<(&str, Option<&str>)> = all
        .iter()
        .map(|r| (r.delivery_id.as_str(), r.artifact.tag.as_deref()))
        .collect();
    assert_eq!(
        order,
        [
            ("d-a-acr-4", None),
            ("d-a-acr-3", Some("1.1.0")),
            ("d-a-acr-2", Some("1.0.0")),
            ("d-a-acr-1", Some("1.0.0")),
        ]
    );
    assert!(reports(Some("9.9.9")).await.is_empty());
    let limited = store
        .artifact_reports(ArtifactFilter {
            repository: app.into(),
            tag: None,
            limit: 2,
        })
        .await
        .unwrap();
    assert_eq!(limited.len(), 2);
    store.close().await;
}

pub async fn payloads_count_in_the_byte_budget_and_go_with_their_delivery(h: &dyn Harness) {
    let budget: u64 = 1024 * 1024;
    let store = match h.open_with_budget(100_000, budget).await {
        Ok(s) => s,
        Err(e) => panic!("cannot open the store: {e}"),
    };
    // Small records with 64 KiB payloads: only the payloads can bring the store over budget.
    for n in 0..128 {
        let mut d = delivery(n, "a", "r1", None);
        d.payload = Some(kept(&vec![b'x'; 64 * 1024]));
        d.artifacts = vec![image("reg.example.com/app", Some("1.0.0"), "sha256:aaa")];
        store.record_delivery(d, vec![]).await.unwrap();
    }
    let used = store.stored_bytes().await.unwrap();
    assert!(
        used <= budget,
        "{used} bytes stored with a budget of {budget}"
    );
    let list = store
        .deliveries(DeliveryFilter {
            limit: 1000,
            ..DeliveryFilter::default()
        })
        .await
        .unwrap();
    assert!(
        list.len() < 20,
        "{} deliveries with 64 KiB payloads kept",
        list.len()
    );
    assert_eq!(list.first().map(|d| d.id.as_str()), Some("d-a-r1-127"));
    // A deleted delivery's payload and reports went with it.
    assert_eq!(store.payload("d-a-r1-0").await.unwrap(), None);
    assert!(store.payload("d-a-r1-127").await.unwrap().is_some());
    let reports = store
        .artifact_reports(ArtifactFilter {
            repository: "reg.example.com/app".into(),
            tag: None,
            limit: 1000,
        })
        .await
        .unwrap();
    assert_eq!(reports.len(), list.len());
    store.close().await;

    // Retention per receiver takes them too.
    let store = open(h, 2).await;
    for n in 200..210 {
        let mut d = delivery(n, "b", "r", None);
        d.payload = Some(kept(b"{}"));
        store.record_delivery(d, vec![]).await.unwrap();
    }
    assert_eq!(store.payload("d-b-r-200").await.unwrap(), None);
    assert!(store.payload("d-b-r-209").await.unwrap().is_some());
    store.close().await;
}
