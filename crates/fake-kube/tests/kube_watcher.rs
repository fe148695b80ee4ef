//! The fake against kube-rs: a client built from the generated kubeconfig (HTTPS with the fake's
//! CA), `kube::runtime::watcher` listing in pages and watching, a merge patch through kube's Api,
//! resuming after a dropped watch without re-listing, and re-listing after a 410 ERROR event.

use std::time::Duration;

use fake_kube::{FakeKube, Fault, FaultKind, Verb, ADMIN_TOKEN};
use futures_util::StreamExt as _;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{watcher, WatchStreamExt as _};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::mpsc;

/// A watcher event reduced to what the assertions compare.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Init,
    InitApply(String),
    InitDone,
    Apply(String),
    Delete(String),
    Error(String),
}

fn name(o: &DynamicObject) -> String {
    o.metadata.name.clone().unwrap_or_default()
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("no watcher event within 20 s")
        .expect("watcher ended")
}

/// Reads events until `want` arrives, returning everything seen before it (errors included).
async fn until(rx: &mut mpsc::UnboundedReceiver<Seen>, want: Seen) -> Vec<Seen> {
    let mut before = Vec::new();
    loop {
        let e = next(rx).await;
        if e == want {
            return before;
        }
        before.push(e);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_runtime_watcher_lists_watches_resumes_and_relists() {
    let fake = FakeKube::builder()
        .tls(true)
        .bookmark_interval(Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    for n in ["w1", "w2", "w3"] {
        fake.create(
            "warehouses",
            Some("p1"),
            json!({"metadata": {"name": n}, "spec": {}}),
        )
        .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    fake.write_kubeconfig(&path, ADMIN_TOKEN, "p1").unwrap();
    let config = kube::Config::from_custom_kubeconfig(
        Kubeconfig::read_from(&path).unwrap(),
        &KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    let client = Client::try_from(config).unwrap();
    let gvk = GroupVersionKind::gvk("kargo.akuity.io", "v1alpha1", "Warehouse");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "warehouses");
    let all: Api<DynamicObject> = Api::all_with(client.clone(), &ar);

    let (mut rx, task) = forward(all, watcher::Config::default().page_size(2).timeout(30));

    // Initial list, in two pages.
    let mut initial = Vec::new();
    for _ in 0..5 {
        initial.push(next(&mut rx).await);
    }
    assert_eq!(
        initial,
        [
            Seen::Init,
            Seen::InitApply("w1".into()),
            Seen::InitApply("w2".into()),
            Seen::InitApply("w3".into()),
            Seen::InitDone
        ]
    );
    let lists: Vec<_> = fake
        .journal()
        .into_iter()
        .filter(|e| e.method == "GET" && e.query_param("watch").is_none())
        .collect();
    assert_eq!(lists.len(), 2, "two pages of two: {lists:#?}");
    assert!(lists[1].query_param("continue").is_some());

    // A merge patch through kube's Api arrives as an Apply.
    let ns: Api<DynamicObject> = Api::namespaced_with(client.clone(), "p1", &ar);
    let patch = json!({"metadata": {"annotations": {"kargo.akuity.io/refresh": "t1"}}});
    let patched = ns
        .patch(
            "w1",
            &PatchParams {
                field_manager: Some("dockhand".into()),
                ..Default::default()
            },
            &Patch::Merge(&patch),
        )
        .await
        .unwrap();
    assert_eq!(
        patched.metadata.annotations.unwrap()["kargo.akuity.io/refresh"],
        "t1"
    );
    assert_eq!(next(&mut rx).await, Seen::Apply("w1".into()));

    // A dropped watch: the watcher re-watches from its last version, without a new list.
    let lists_before = fake
        .journal()
        .iter()
        .filter(|e| e.query_param("watch").is_none() && e.method == "GET")
        .count();
    fake.drop_watches();
    fake.create(
        "warehouses",
        Some("p1"),
        json!({"metadata": {"name": "w4"}, "spec": {}}),
    )
    .unwrap();
    let before = until(&mut rx, Seen::Apply("w4".into())).await;
    assert!(
        !before.contains(&Seen::Init),
        "resumed without re-listing: {before:?}"
    );
    let lists_after = fake
        .journal()
        .iter()
        .filter(|e| e.query_param("watch").is_none() && e.method == "GET")
        .count();
    assert_eq!(lists_after, lists_before);

    // Wait for the resumed watch, then make its version too old: the watcher gets the 410 ERROR
    // event and re-lists (a new Init with every object).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while fake.open_watches() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the watcher did not re-watch"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The next re-watch attempt fails once, so the write and compaction below surely happen
    // while the watcher is disconnected and behind.
    fake.inject(Fault::new(
        Some(Verb::Watch),
        Some("warehouses"),
        1,
        FaultKind::ServiceUnavailable,
    ));
    fake.drop_watches();
    fake.create(
        "warehouses",
        Some("p1"),
        json!({"metadata": {"name": "w5"}, "spec": {}}),
    )
    .unwrap();
    fake.compact();
    let compacted_at = fake.revision();
    let journal_at = fake.journal().len();
    let before = until(&mut rx, Seen::Init).await;
    assert!(
        !before.contains(&Seen::Apply("w5".into())),
        "w5 must come from the re-list: {before:?}"
    );
    let mut relist = Vec::new();
    loop {
        let e = next(&mut rx).await;
        if e == Seen::InitDone {
            break;
        }
        relist.push(e);
    }
    assert_eq!(
        relist,
        ["w1", "w2", "w3", "w4", "w5"].map(|n| Seen::InitApply(n.into()))
    );
    let after: Vec<_> = fake.journal().into_iter().skip(journal_at).collect();
    let first_ok_watch = after
        .iter()
        .find(|e| e.query_param("watch").is_some() && e.status == 200)
        .unwrap();
    let asked: u64 = first_ok_watch
        .query_param("resourceVersion")
        .unwrap()
        .parse()
        .unwrap();
    assert!(asked < compacted_at, "the watcher resumed from before the compaction ({asked} < {compacted_at}) and was told 410");
    let relisted = after
        .iter()
        .position(|e| e.query_param("watch").is_none() && e.method == "GET");
    let watched = after.iter().position(|e| std::ptr::eq(e, first_ok_watch));
    assert!(
        relisted > watched,
        "the LIST came after the expired watch: {after:#?}"
    );

    // Deletion after the re-list.
    fake.delete("warehouses", Some("p1"), "w2").unwrap();
    let before = until(&mut rx, Seen::Delete("w2".into())).await;
    assert!(
        before.iter().all(|e| matches!(e, Seen::Error(_))),
        "{before:?}"
    );
    task.abort();
}

/// Runs a watcher with `config` and forwards its events, reduced to [`Seen`].
fn forward(
    api: Api<DynamicObject>,
    config: watcher::Config,
) -> (mpsc::UnboundedReceiver<Seen>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let stream = watcher(api, config).default_backoff();
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            let seen = match item {
                Ok(watcher::Event::Init) => Seen::Init,
                Ok(watcher::Event::InitApply(o)) => Seen::InitApply(name(&o)),
                Ok(watcher::Event::InitDone) => Seen::InitDone,
                Ok(watcher::Event::Apply(o)) => Seen::Apply(name(&o)),
                Ok(watcher::Event::Delete(o)) => Seen::Delete(name(&o)),
                Err(e) => Seen::Error(e.to_string()),
            };
            if tx.send(seen).is_err() {
                return;
            }
        }
    });
    (rx, task)
}

/// A watcher over all Warehouses through a client configured by hand (plain HTTP, bearer token).
fn watch_all(
    fake: &FakeKube,
    config: watcher::Config,
) -> (mpsc::UnboundedReceiver<Seen>, tokio::task::JoinHandle<()>) {
    let url: http::Uri = fake.url().parse().unwrap();
    let mut kc = kube::Config::new(url);
    kc.auth_info.token = Some(ADMIN_TOKEN.to_string().into());
    let client = Client::try_from(kc).unwrap();
    let gvk = GroupVersionKind::gvk("kargo.akuity.io", "v1alpha1", "Warehouse");
    forward(
        Api::all_with(
            client,
            &ApiResource::from_gvk_with_plural(&gvk, "warehouses"),
        ),
        config,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_semantic_and_streaming_lists_sync_then_follow_changes() {
    // Plain HTTP with a bearer token: kube-rs sends it without TLS.
    let fake = FakeKube::builder().start().await.unwrap();
    for n in ["w1", "w2"] {
        fake.create(
            "warehouses",
            Some("p1"),
            json!({"metadata": {"name": n}, "spec": {}}),
        )
        .unwrap();
    }
    for (label, config) in [
        ("any_semantic", watcher::Config::default().any_semantic()),
        (
            "streaming_lists",
            watcher::Config::default().streaming_lists(),
        ),
    ] {
        let (mut rx, task) = watch_all(&fake, config);
        let mut initial = Vec::new();
        for _ in 0..4 {
            initial.push(next(&mut rx).await);
        }
        assert_eq!(
            initial,
            [
                Seen::Init,
                Seen::InitApply("w1".into()),
                Seen::InitApply("w2".into()),
                Seen::InitDone
            ],
            "{label}"
        );
        let created = format!("{label}-w");
        fake.create(
            "warehouses",
            Some("p2"),
            json!({"metadata": {"name": created}, "spec": {}}),
        )
        .unwrap();
        assert_eq!(next(&mut rx).await, Seen::Apply(created.clone()), "{label}");
        fake.delete("warehouses", Some("p2"), &created).unwrap();
        assert_eq!(next(&mut rx).await, Seen::Delete(created), "{label}");
        task.abort();
    }
    let streaming = fake
        .journal()
        .into_iter()
        .find(|e| e.query_param("sendInitialEvents").is_some())
        .unwrap();
    assert_eq!(
        streaming.status, 200,
        "the streaming list was served: {streaming:?}"
    );
}
