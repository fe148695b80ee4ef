//! The fake's API semantics over HTTP: resourceVersion ordering, no-op patches, status rules,
//! error bodies, watch resume and 410, pagination, RBAC, faults, the journal and the Kargo
//! controller stand-in.

use std::time::Duration;

use fake_kube::{FakeKube, Fault, FaultKind, Identity, Verb, ADMIN_TOKEN};
use serde_json::{json, Value};

const WH: &str = "/apis/kargo.akuity.io/v1alpha1/namespaces/p1/warehouses";

struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    fn new(fake: &FakeKube, token: &str) -> Self {
        Api {
            base: fake.url().to_string(),
            token: token.to_string(),
            http: reqwest::Client::new(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None, None).await
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(
            reqwest::Method::POST,
            path,
            Some("application/json"),
            Some(body),
        )
        .await
    }

    async fn patch(&self, path: &str, content_type: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::PATCH, path, Some(content_type), Some(body))
            .await
    }

    async fn merge(&self, path: &str, body: &Value) -> (u16, Value) {
        self.patch(path, "application/merge-patch+json", body).await
    }

    async fn watch(&self, path_and_query: &str) -> Watch {
        let resp = self
            .http
            .get(format!("{}{path_and_query}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        Watch {
            resp,
            buf: Vec::new(),
        }
    }
}

struct Watch {
    resp: reqwest::Response,
    buf: Vec<u8>,
}

enum Next {
    Event(Value),
    Timeout,
    Closed,
}

impl Watch {
    async fn next(&mut self, wait: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Next::Event(serde_json::from_slice(&line).unwrap());
            }
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Err(_) => return Next::Timeout,
                Ok(Ok(Some(chunk))) => self.buf.extend_from_slice(&chunk),
                Ok(_) => return Next::Closed,
            }
        }
    }

    async fn event(&mut self) -> Value {
        match self.next(Duration::from_secs(5)).await {
            Next::Event(e) => e,
            Next::Timeout => panic!("no watch event within 5 s"),
            Next::Closed => panic!("watch closed"),
        }
    }

    async fn expect_silence(&mut self, wait: Duration) {
        if let Next::Event(e) = self.next(wait).await {
            panic!("unexpected watch event {e}");
        }
    }
}

fn warehouse(name: &str) -> Value {
    json!({
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": "Warehouse",
        "metadata": {"name": name, "namespace": "p1", "labels": {"team": if name.ends_with('1') { "a" } else { "b" }}},
        "spec": {"subscriptions": [{"image": {"repoURL": format!("example.com/{name}")}}]},
    })
}

fn rv(o: &Value) -> u64 {
    o["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn started() -> (FakeKube, Api) {
    let fake = FakeKube::builder().start().await.unwrap();
    let api = Api::new(&fake, ADMIN_TOKEN);
    (fake, api)
}

#[tokio::test]
async fn resource_versions_increase_globally_and_lists_carry_the_current_one() {
    let (fake, api) = started().await;
    let mut last = 0;
    for name in ["w1", "w2", "w3"] {
        let (code, o) = api.post(WH, &warehouse(name)).await;
        assert_eq!(code, 201, "{o}");
        assert!(rv(&o) > last, "{o}");
        assert_eq!(o["metadata"]["generation"], 1);
        assert!(o["metadata"]["uid"].is_string());
        last = rv(&o);
    }
    // A write to another type shares the same counter.
    let (_, ns) = api
        .post("/api/v1/namespaces", &json!({"metadata": {"name": "p1"}}))
        .await;
    assert_eq!(rv(&ns), last + 1);
    let (code, list) = api.get(WH).await;
    assert_eq!(code, 200);
    assert_eq!(list["kind"], "WarehouseList");
    assert_eq!(list["apiVersion"], "kargo.akuity.io/v1alpha1");
    assert_eq!(
        list["metadata"]["resourceVersion"],
        json!((last + 1).to_string())
    );
    assert_eq!(fake.revision(), last + 1);
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["w1", "w2", "w3"]);
    let (code, one) = api.get(&format!("{WH}/w2")).await;
    assert_eq!(code, 200);
    assert_eq!(one, list["items"][1]);
    // Cluster-wide list and a label selector.
    let (_, all) = api
        .get("/apis/kargo.akuity.io/v1alpha1/warehouses?labelSelector=team%3Db")
        .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let (code, err) = api.post(WH, &warehouse("w1")).await;
    assert_eq!(code, 409);
    assert_eq!(err["reason"], "AlreadyExists");
}

#[tokio::test]
async fn a_patch_that_changes_nothing_keeps_the_version_and_emits_no_event() {
    let (fake, api) = started().await;
    let (_, created) = api.post(WH, &warehouse("w1")).await;
    let start = rv(&created);
    let mut watch = api
        .watch(&format!("{WH}?watch=true&resourceVersion={start}"))
        .await;
    let patch =
        json!({"metadata": {"annotations": {"kargo.akuity.io/refresh": "2026-01-01T00:00:00Z"}}});
    let (code, first) = api
        .merge(&format!("{WH}/w1?fieldManager=dockhand"), &patch)
        .await;
    assert_eq!(code, 200, "{first}");
    assert_eq!(rv(&first), start + 1);
    // Metadata-only change: no generation bump.
    assert_eq!(first["metadata"]["generation"], 1);
    let e = watch.event().await;
    assert_eq!(e["type"], "MODIFIED");
    assert_eq!(e["object"], first);
    let (code, again) = api.merge(&format!("{WH}/w1"), &patch).await;
    assert_eq!(code, 200);
    assert_eq!(again, first);
    assert_eq!(fake.revision(), start + 1);
    watch.expect_silence(Duration::from_millis(300)).await;
    let (code, third) = api
        .merge(
            &format!("{WH}/w1"),
            &json!({"metadata": {"annotations": {"kargo.akuity.io/refresh": "2"}}}),
        )
        .await;
    assert_eq!(code, 200);
    let e = watch.event().await;
    assert_eq!(e["type"], "MODIFIED");
    assert_eq!(rv(&e["object"]), rv(&third));
    assert_eq!(rv(&third), start + 2);
}

#[tokio::test]
async fn status_is_ignored_on_the_main_resource_and_alone_on_the_subresource() {
    let (_fake, api) = started().await;
    let mut body = warehouse("w1");
    body["status"] = json!({"lastHandledRefresh": "created"});
    let (_, created) = api.post(WH, &body).await;
    assert!(
        created.get("status").is_none(),
        "status is reset on create: {created}"
    );
    let (code, same) = api
        .merge(
            &format!("{WH}/w1"),
            &json!({"status": {"lastHandledRefresh": "x"}}),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        same, created,
        "a status-only change on the main resource is a no-op"
    );
    let (code, st) = api
        .merge(&format!("{WH}/w1/status"), &json!({"status": {"lastHandledRefresh": "x"}, "spec": {"interval": "1m"}, "metadata": {"labels": {"z": "1"}}}))
        .await;
    assert_eq!(code, 200, "{st}");
    assert_eq!(st["status"]["lastHandledRefresh"], "x");
    assert_eq!(
        st["spec"], created["spec"],
        "spec untouched through /status"
    );
    assert!(st["metadata"]["labels"].get("z").is_none());
    assert_eq!(st["metadata"]["generation"], 1);
    let (_, spec) = api
        .merge(&format!("{WH}/w1"), &json!({"spec": {"interval": "1m"}}))
        .await;
    assert_eq!(
        spec["metadata"]["generation"], 2,
        "a spec change bumps generation"
    );
    assert_eq!(
        spec["status"]["lastHandledRefresh"], "x",
        "status survives a main-resource write"
    );
    // JSON patch works too, and PUT without resourceVersion on a custom resource is refused.
    let (code, jp) = api
        .patch(
            &format!("{WH}/w1"),
            "application/json-patch+json",
            &json!([{"op": "add", "path": "/metadata/labels/k", "value": "v"}]),
        )
        .await;
    assert_eq!(code, 200, "{jp}");
    assert_eq!(jp["metadata"]["labels"]["k"], "v");
    let mut put = jp.clone();
    put["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    let (code, err) = api
        .send(
            reqwest::Method::PUT,
            &format!("{WH}/w1"),
            Some("application/json"),
            Some(&put),
        )
        .await;
    assert_eq!(code, 422, "{err}");
}

#[tokio::test]
async fn errors_are_status_objects() {
    let (_fake, api) = started().await;
    api.post(WH, &warehouse("w1")).await;
    let (code, err) = api
        .patch(
            &format!("{WH}/w1"),
            "application/strategic-merge-patch+json",
            &json!({"metadata": {"labels": {"a": "b"}}}),
        )
        .await;
    assert_eq!(code, 415);
    assert_eq!(err["kind"], "Status");
    assert_eq!(err["apiVersion"], "v1");
    assert_eq!(err["status"], "Failure");
    assert_eq!(err["reason"], "UnsupportedMediaType");
    assert_eq!(err["code"], 415);
    let (code, _) = api
        .patch(&format!("{WH}/w1"), "application/json", &json!({}))
        .await;
    assert_eq!(code, 415);
    let (code, err) = api
        .merge(
            &format!("{WH}/nope"),
            &json!({"metadata": {"annotations": {"a": "b"}}}),
        )
        .await;
    assert_eq!(code, 404, "merge patch never creates");
    assert_eq!(err["reason"], "NotFound");
    assert_eq!(
        err["details"],
        json!({"name": "nope", "group": "kargo.akuity.io", "kind": "warehouses"})
    );
    assert_eq!(
        err["message"],
        "warehouses.kargo.akuity.io \"nope\" not found"
    );
    let (code, err) = api
        .merge(
            &format!("{WH}/w1"),
            &json!({"metadata": {"resourceVersion": "1", "labels": {"a": "b"}}}),
        )
        .await;
    assert_eq!(code, 409);
    assert_eq!(err["reason"], "Conflict");
    let (code, err) = api
        .get(&format!("{WH}?fieldSelector=spec.interval%3D1m"))
        .await;
    assert_eq!(code, 400, "{err}");
    let (code, _) = api
        .get(&format!("{WH}?fieldSelector=metadata.name%3Dw1"))
        .await;
    assert_eq!(code, 200);
    let (code, _) = api
        .get("/apis/kargo.akuity.io/v1alpha1/namespaces/p1/gizmos")
        .await;
    assert_eq!(code, 404);
    let (code, _) = api
        .merge(
            &format!("{WH}/w1?dryRun=All"),
            &json!({"metadata": {"labels": {"dry": "run"}}}),
        )
        .await;
    assert_eq!(
        code, 400,
        "dry runs are refused rather than silently written"
    );
    assert!(api.get(&format!("{WH}/w1")).await.1["metadata"]["labels"]
        .get("dry")
        .is_none());
}

#[tokio::test]
async fn watch_resumes_replays_in_order_and_answers_too_old_with_an_error_event() {
    let fake = FakeKube::builder().history_limit(3).start().await.unwrap();
    let api = Api::new(&fake, ADMIN_TOKEN);
    let (_, w1) = api.post(WH, &warehouse("w1")).await;
    let first = rv(&w1);
    for i in 0..2 {
        api.merge(
            &format!("{WH}/w1"),
            &json!({"metadata": {"labels": {"i": i.to_string()}}}),
        )
        .await;
    }
    // Three events retained: a watch from the first version replays the two after it.
    let mut watch = api
        .watch(&format!("{WH}?watch=1&resourceVersion={first}"))
        .await;
    let a = watch.event().await;
    let b = watch.event().await;
    assert_eq!(
        (a["type"].as_str(), b["type"].as_str()),
        (Some("MODIFIED"), Some("MODIFIED"))
    );
    assert!(rv(&a["object"]) < rv(&b["object"]));
    let stale = json!({"preconditions": {"resourceVersion": first.to_string()}});
    let (code, err) = api
        .send(
            reqwest::Method::DELETE,
            &format!("{WH}/w1"),
            Some("application/json"),
            Some(&stale),
        )
        .await;
    assert_eq!(code, 409, "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("Precondition failed"),
        "{err}"
    );
    let (_, del) = api
        .send(reqwest::Method::DELETE, &format!("{WH}/w1"), None, None)
        .await;
    let d = watch.event().await;
    assert_eq!(d["type"], "DELETED");
    assert_eq!(rv(&d["object"]), rv(&del));
    assert_eq!(
        rv(&del),
        fake.revision(),
        "a deletion is a write at a new version"
    );
    // The first write has now fallen out of the history.
    let mut old = api
        .watch(&format!("{WH}?watch=true&resourceVersion={}", first - 1))
        .await;
    let e = old.event().await;
    assert_eq!(e["type"], "ERROR");
    assert_eq!(e["object"]["kind"], "Status");
    assert_eq!(e["object"]["code"], 410);
    assert_eq!(e["object"]["reason"], "Expired");
    assert!(
        e["object"]["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("too old resource version: {}", first - 1)),
        "{e}"
    );
    assert!(matches!(
        old.next(Duration::from_secs(2)).await,
        Next::Closed
    ));
    // Compaction does not disturb a watch that has already seen every event.
    fake.compact();
    api.post(WH, &warehouse("w2")).await;
    let e = watch.event().await;
    assert_eq!(
        e["type"], "ADDED",
        "a caught-up watch is not behind the compaction"
    );
}

#[tokio::test]
async fn watch_without_version_starts_with_synthetic_adds_and_ends_at_timeout() {
    let fake = FakeKube::builder()
        .bookmark_interval(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let api = Api::new(&fake, ADMIN_TOKEN);
    api.post(WH, &warehouse("w1")).await;
    api.post(WH, &warehouse("w2")).await;
    let mut watch = api
        .watch(&format!(
            "{WH}?watch=true&allowWatchBookmarks=true&timeoutSeconds=1&labelSelector=team%3Db"
        ))
        .await;
    let e = watch.event().await;
    assert_eq!(
        (e["type"].as_str(), e["object"]["metadata"]["name"].as_str()),
        (Some("ADDED"), Some("w2"))
    );
    let b = watch.event().await;
    assert_eq!(b["type"], "BOOKMARK");
    assert_eq!(b["object"]["kind"], "Warehouse");
    assert_eq!(rv(&b["object"]), fake.revision());
    // An object moving into the selection appears as ADDED, out of it as DELETED.
    api.merge(
        &format!("{WH}/w1"),
        &json!({"metadata": {"labels": {"team": "b"}}}),
    )
    .await;
    let mut seen = Vec::new();
    while let Next::Event(e) = watch.next(Duration::from_secs(3)).await {
        if e["type"] != "BOOKMARK" {
            seen.push(format!(
                "{} {}",
                e["type"].as_str().unwrap(),
                e["object"]["metadata"]["name"].as_str().unwrap()
            ));
            api.merge(
                &format!("{WH}/w2"),
                &json!({"metadata": {"labels": {"team": "c"}}}),
            )
            .await;
        }
    }
    assert_eq!(seen, ["ADDED w1", "DELETED w2"]);
    assert_eq!(fake.open_watches(), 0, "closed at timeoutSeconds");
}

#[tokio::test]
async fn lists_paginate_over_a_consistent_snapshot_and_old_tokens_expire() {
    let (fake, api) = started().await;
    for i in 0..5 {
        api.post(WH, &warehouse(&format!("w{i}"))).await;
    }
    let (_, page1) = api.get(&format!("{WH}?limit=2")).await;
    assert_eq!(page1["items"].as_array().unwrap().len(), 2);
    assert_eq!(page1["metadata"]["remainingItemCount"], 3);
    let token = page1["metadata"]["continue"].as_str().unwrap().to_string();
    // Writes after the first page do not show in the rest of the list.
    api.send(reqwest::Method::DELETE, &format!("{WH}/w3"), None, None)
        .await;
    api.merge(
        &format!("{WH}/w2"),
        &json!({"metadata": {"labels": {"late": "yes"}}}),
    )
    .await;
    let (_, page2) = api.get(&format!("{WH}?limit=2&continue={token}")).await;
    assert_eq!(
        page2["metadata"]["resourceVersion"],
        page1["metadata"]["resourceVersion"]
    );
    let names: Vec<&str> = page2["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["w2", "w3"]);
    assert!(page2["items"][0]["metadata"]["labels"]
        .get("late")
        .is_none());
    let token2 = page2["metadata"]["continue"].as_str().unwrap().to_string();
    fake.compact();
    let (code, err) = api.get(&format!("{WH}?limit=2&continue={token2}")).await;
    assert_eq!(code, 410);
    assert_eq!(err["reason"], "Expired");
    let (code, any) = api
        .get(&format!(
            "{WH}?resourceVersion=0&resourceVersionMatch=NotOlderThan"
        ))
        .await;
    assert_eq!(code, 200);
    assert_eq!(any["items"].as_array().unwrap().len(), 4);
}

const RBAC: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: hooks}
rules:
- {apiGroups: [kargo.akuity.io], resources: [warehouses, promotions], verbs: [get, list, watch, patch]}
- {apiGroups: [kargo.akuity.io], resources: [projectconfigs, clusterconfigs], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: hooks}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: hooks}
subjects: [{kind: ServiceAccount, name: kargo-external-webhooks-server, namespace: kargo}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: kargo-project-secrets-reader}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: secrets, namespace: p1}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kargo-project-secrets-reader}
subjects: [{kind: ServiceAccount, name: kargo-external-webhooks-server, namespace: kargo}]
"#;

#[tokio::test]
async fn rbac_from_yaml_decides_and_tokens_authenticate() {
    let fake = FakeKube::builder()
        .rbac_yaml(RBAC)
        .token(
            "hook-token",
            Identity::service_account("kargo", "kargo-external-webhooks-server"),
        )
        .token("nobody", Identity::user("nobody"))
        .start()
        .await
        .unwrap();
    let admin = Api::new(&fake, ADMIN_TOKEN);
    admin.post(WH, &warehouse("w1")).await;
    let hook = Api::new(&fake, "hook-token");
    let patch = json!({"metadata": {"annotations": {"kargo.akuity.io/refresh": "t"}}});
    assert_eq!(hook.merge(&format!("{WH}/w1"), &patch).await.0, 200);
    let (code, err) = hook
        .merge(
            &format!("{WH}/w1/status"),
            &json!({"status": {"lastHandledRefresh": "t"}}),
        )
        .await;
    assert_eq!(code, 403, "{err}");
    assert_eq!(err["reason"], "Forbidden");
    assert_eq!(
        err["message"],
        "warehouses.kargo.akuity.io \"w1\" is forbidden: User \"system:serviceaccount:kargo:kargo-external-webhooks-server\" cannot patch resource \"warehouses/status\" in API group \"kargo.akuity.io\" in the namespace \"p1\""
    );
    assert_eq!(
        hook.send(reqwest::Method::DELETE, &format!("{WH}/w1"), None, None)
            .await
            .0,
        403
    );
    assert_eq!(hook.get("/api/v1/namespaces/p1/secrets").await.0, 200);
    assert_eq!(
        hook.get("/api/v1/namespaces/p2/secrets/s").await.0,
        403,
        "RoleBinding grants only in p1"
    );
    assert_eq!(
        hook.get("/api/v1/secrets").await.0,
        403,
        "no cluster-wide Secret list"
    );
    assert_eq!(
        hook.get("/apis/kargo.akuity.io/v1alpha1/clusterconfigs")
            .await
            .0,
        200
    );
    assert_eq!(Api::new(&fake, "nobody").get(WH).await.0, 403);
    let (code, err) = Api::new(&fake, "wrong").get(WH).await;
    assert_eq!(code, 401);
    assert_eq!(err["reason"], "Unauthorized");
    // Discovery needs authentication only.
    assert_eq!(Api::new(&fake, "nobody").get("/apis").await.0, 200);
}

#[tokio::test]
async fn injected_faults_answer_then_clear_and_the_journal_records_everything() {
    let (fake, api) = started().await;
    api.post(WH, &warehouse("w1")).await;
    fake.inject(Fault::new(
        Some(Verb::Patch),
        Some("warehouses"),
        1,
        FaultKind::TooManyRequests {
            retry_after_seconds: 2,
        },
    ));
    fake.inject(Fault::new(
        Some(Verb::Patch),
        Some("warehouses"),
        1,
        FaultKind::AdmissionWebhook,
    ));
    let patch = json!({"metadata": {"annotations": {"a": "1"}}});
    let resp = api
        .http
        .patch(format!("{}{WH}/w1", api.base))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/merge-patch+json")
        .body(patch.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "2");
    let (code, err) = api.merge(&format!("{WH}/w1"), &patch).await;
    assert_eq!(code, 500);
    assert!(
        err["message"].as_str().unwrap().starts_with(
            "Internal error occurred: failed calling webhook \"warehouse.kargo.akuity.io\""
        ),
        "{err}"
    );
    assert_eq!(
        api.get(&format!("{WH}/w1")).await.0,
        200,
        "a patch fault leaves reads alone"
    );
    assert_eq!(
        api.merge(&format!("{WH}/w1?fieldManager=dockhand"), &patch)
            .await
            .0,
        200
    );
    let journal = fake.journal();
    let patches: Vec<_> = journal.iter().filter(|e| e.method == "PATCH").collect();
    assert_eq!(
        patches.iter().map(|e| e.status).collect::<Vec<_>>(),
        [429, 500, 200]
    );
    let last = patches[2];
    assert_eq!(last.identity.as_deref(), Some("fake-kube-admin"));
    assert_eq!(last.path, format!("{WH}/w1"));
    assert_eq!(
        last.query_param("fieldManager").as_deref(),
        Some("dockhand")
    );
    assert_eq!(
        last.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(serde_json::from_str::<Value>(&last.body).unwrap(), patch);
}

#[tokio::test]
async fn dropped_watches_are_cut_off() {
    let (fake, api) = started().await;
    let mut watch = api
        .watch(&format!(
            "{WH}?watch=true&resourceVersion={}",
            fake.revision()
        ))
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(fake.open_watches(), 1);
    fake.drop_watches();
    assert!(matches!(
        watch.next(Duration::from_secs(2)).await,
        Next::Closed
    ));
}

#[tokio::test]
async fn the_kargo_controller_writes_receiver_status_and_handles_refreshes() {
    let (fake, api) = started().await;
    fake.apply_yaml(
        r#"
apiVersion: v1
kind: Secret
metadata: {name: azure-secret, namespace: kargo-demo}
stringData: {secret: mysecret}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {name: kargo-demo, namespace: kargo-demo}
spec:
  webhookReceivers:
  - name: azure-wh-receiver
    azure: {secretRef: {name: azure-secret}}
  - name: missing-secret
    github: {secretRef: {name: nope}}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: w1, namespace: kargo-demo}
spec: {}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Promotion
metadata: {name: p1, namespace: kargo-demo, annotations: {kargo.akuity.io/refresh: before}}
spec: {}
"#,
    )
    .unwrap();
    let kargo = fake.kargo_controller();
    let pc = kargo
        .write_project_receivers("kargo-demo", "https://hooks.example.com/webhooks")
        .unwrap();
    let receivers = pc["status"]["webhookReceivers"].as_array().unwrap();
    assert_eq!(
        receivers.len(),
        1,
        "a receiver without its Secret is left out: {pc}"
    );
    let path = receivers[0]["path"].as_str().unwrap();
    assert!(path.starts_with("/webhooks/azure/745146127fcc"), "{path}");
    assert_eq!(
        receivers[0]["url"],
        format!("https://hooks.example.com{path}")
    );
    fake.apply_yaml(
        r#"
apiVersion: v1
kind: Secret
metadata: {name: hook, namespace: kargo-system-resources}
stringData: {auth-header: "Bearer x"}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: ClusterConfig
metadata: {name: cluster}
spec:
  webhookReceivers:
  - {name: harbor-all, harbor: {secretRef: {name: hook}}}
"#,
    )
    .unwrap();
    assert_eq!(
        kargo
            .write_all_receivers("kargo-system-resources", "https://h.example.com")
            .unwrap(),
        2
    );
    let cc = fake.get("clusterconfigs", None, "cluster").unwrap();
    let want = fake_kube::kargo::receiver_path(
        "https://h.example.com",
        "harbor",
        "",
        "harbor-all",
        "Bearer x",
    );
    assert_eq!(cc["status"]["webhookReceivers"][0]["path"], json!(want));
    let _handler = kargo.handle_refreshes(Duration::from_millis(200));
    let path = "/apis/kargo.akuity.io/v1alpha1/namespaces/kargo-demo/warehouses/w1";
    api.merge(
        path,
        &json!({"metadata": {"annotations": {"kargo.akuity.io/refresh": "t1"}}}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        api.get(path).await.1["status"]["lastHandledRefresh"].is_null(),
        "handled only after the delay"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, w) = api.get(path).await;
        if w["status"]["lastHandledRefresh"] == "t1" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never handled: {w}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let promotion = fake.get("promotions", Some("kargo-demo"), "p1").unwrap();
    assert_eq!(
        promotion["status"]["lastHandledRefresh"], "before",
        "Promotions are handled too, including tokens written before the loop started"
    );
    let secret = fake
        .get("secrets", Some("kargo-demo"), "azure-secret")
        .unwrap();
    assert_eq!(
        secret["data"]["secret"], "bXlzZWNyZXQ=",
        "stringData is folded into data"
    );
}

#[tokio::test]
async fn ten_thousand_warehouses_list_in_pages() {
    let (fake, api) = started().await;
    for i in 0..10_000 {
        fake.create(
            "warehouses",
            Some(&format!("p{}", i % 10)),
            json!({"metadata": {"name": format!("w{i:05}")}, "spec": {}}),
        )
        .unwrap();
    }
    let started = std::time::Instant::now();
    let mut token = String::new();
    let mut seen = 0;
    let mut pages = 0;
    loop {
        let (code, page) = api
            .get(&format!(
                "/apis/kargo.akuity.io/v1alpha1/warehouses?limit=500&continue={token}"
            ))
            .await;
        assert_eq!(code, 200);
        seen += page["items"].as_array().unwrap().len();
        pages += 1;
        match page["metadata"]["continue"].as_str() {
            Some(t) => token = t.to_string(),
            None => break,
        }
    }
    assert_eq!((seen, pages), (10_000, 20));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "paging took {:?}",
        started.elapsed()
    );
}
