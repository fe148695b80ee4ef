//! End-to-end tests of Kargo mode: the real binary (`dockhand serve --source kargo`) against
//! fake-kube, a faithful fake API server run in this test process over TLS, reached through a
//! kubeconfig, with RBAC from the rendered `deploy/kubernetes` (plus the RoleBinding Kargo's
//! controller creates in each project namespace), so the tests also prove the shipped RBAC is
//! enough. fake-kube's stand-in Kargo controller writes receiver status and handles refreshes.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{acr_push, dockhand, fixture, stdout, Server, ACR_UA};
use base64::Engine as _;
use fake_kube::{FakeKube, Fault, FaultKind, Identity, JournalEntry, Verb};
use serde_json::{json, Value};

const TOKEN: &str = "dockhand-sa-token";
const SA_NAME: &str = "system:serviceaccount:kargo:kargo-external-webhooks-server";
pub(crate) const AZURE_SECRET: &str = "test-azure-secret-value";
const HARBOR_AUTH: &str = "Bearer test-harbor-token-value";
pub(crate) const PROJECT: &str = "kargo-demo";
const OTHER: &str = "other-project";

/// What Kargo's chart and management controller add: the ClusterRole bound in every project
/// namespace to the external webhook server's ServiceAccount (projects.go
/// `ensureSystemPermissions`).
fn project_secrets_rbac(namespaces: &[&str]) -> String {
    let mut y = String::from(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: kargo-project-secrets-reader}\nrules:\n- apiGroups: [\"\"]\n  resources: [secrets]\n  verbs: [get, list, watch]\n",
    );
    for ns in namespaces {
        y.push_str(&format!(
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: kargo-project-secrets-reader, namespace: {ns}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kargo-project-secrets-reader}}\nsubjects:\n- {{kind: ServiceAccount, name: kargo-external-webhooks-server, namespace: kargo}}\n"
        ));
    }
    y
}

/// `kubectl kustomize deploy/kubernetes`: the RBAC that ships.
fn rendered_rbac() -> String {
    fake_kube::kustomize(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes"),
    )
    .expect("kubectl (Debian: kubernetes-client) renders deploy/kubernetes")
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The fake cluster, its runtime and a kubeconfig for dockhand's ServiceAccount.
/// A fake Kargo cluster (also used by `replay.rs`).
pub(crate) struct Cluster {
    pub(crate) kube: FakeKube,
    rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Cluster {
    pub(crate) fn start() -> Cluster {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let kube = rt
            .block_on(
                FakeKube::builder()
                    .tls(true)
                    .token(
                        TOKEN,
                        Identity::service_account("kargo", "kargo-external-webhooks-server"),
                    )
                    .rbac_yaml(&rendered_rbac())
                    .rbac_yaml(&project_secrets_rbac(&[PROJECT, OTHER]))
                    .bookmark_interval(Duration::from_secs(1))
                    .start(),
            )
            .expect("fake-kube");
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        kube.write_kubeconfig(&kubeconfig, TOKEN, "kargo")
            .expect("kubeconfig");
        Cluster {
            kube,
            rt,
            _dir: dir,
            kubeconfig,
        }
    }

    fn create(&self, plural: &str, ns: Option<&str>, o: Value) {
        self.kube.create(plural, ns, o).expect("create");
    }

    fn secret(&self, ns: &str, name: &str, key: &str, value: &str) {
        self.create(
            "secrets",
            Some(ns),
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": name, "namespace": ns},
                   "data": {key: b64(value)}}),
        );
    }

    fn warehouse(&self, ns: &str, name: &str, subscription: Value) {
        self.create(
            "warehouses",
            Some(ns),
            json!({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Warehouse",
                   "metadata": {"name": name, "namespace": ns},
                   "spec": {"subscriptions": [subscription]}}),
        );
    }

    /// Project kargo-demo with an azure and a harbor receiver (status written by the Kargo
    /// controller for `kargo_base_url`), and Warehouses for ACR, Azure DevOps and Harbor pushes;
    /// project other-project subscribes to the same image.
    pub(crate) fn demo(&self, kargo_base_url: &str) {
        self.secret(PROJECT, "azure-wh-secret", "secret", AZURE_SECRET);
        self.secret(PROJECT, "harbor-wh-secret", "auth-header", HARBOR_AUTH);
        self.create(
            "projectconfigs",
            Some(PROJECT),
            json!({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "ProjectConfig",
                   "metadata": {"name": PROJECT, "namespace": PROJECT},
                   "spec": {"webhookReceivers": [
                       {"name": "azure-wh-receiver", "azure": {"secretRef": {"name": "azure-wh-secret"}}},
                       {"name": "harbor-wh-receiver", "harbor": {"secretRef": {"name": "harbor-wh-secret"}}}
                   ]}}),
        );
        self.kube
            .kargo_controller()
            .write_project_receivers(PROJECT, kargo_base_url)
            .expect("status");
        self.warehouse(
            PROJECT,
            "app",
            json!({"image": {"repoURL": "myregistry.azurecr.io/app", "constraint": "^1.0.0"}}),
        );
        self.warehouse(
            PROJECT,
            "unrelated",
            json!({"image": {"repoURL": "myregistry.azurecr.io/other"}}),
        );
        self.warehouse(
            PROJECT,
            "repo",
            json!({"git": {"repoURL": "https://dev.azure.com/alexander0053/alex-test/_git/alex-test", "branch": "master"}}),
        );
        self.warehouse(
            PROJECT,
            "debian",
            json!({"image": {"repoURL": "hub.harbor.com/test-webhook/debian", "imageSelectionStrategy": "Lexical"}}),
        );
        self.warehouse(
            OTHER,
            "app",
            json!({"image": {"repoURL": "myregistry.azurecr.io/app"}}),
        );
    }

    pub(crate) fn serve(&self, extra: &[&str]) -> Server {
        let kubeconfig = self.kubeconfig.to_string_lossy().to_string();
        let mut args = vec!["--source", "kargo", "--kubeconfig", kubeconfig.as_str()];
        args.extend_from_slice(extra);
        Server::start(&[], &args)
    }

    /// Requests dockhand sent (its identity only).
    fn dockhand_requests(&self) -> Vec<JournalEntry> {
        self.kube
            .journal()
            .into_iter()
            .filter(|e| e.identity.as_deref() == Some(SA_NAME))
            .collect()
    }

    /// Successful refresh patches, as (namespace/name, token).
    fn patches(&self) -> Vec<(String, String)> {
        self.dockhand_requests()
            .into_iter()
            .filter(|e| e.method == "PATCH" && e.status == 200)
            .map(|e| {
                let parts: Vec<&str> = e.path.rsplitn(4, '/').collect();
                let body: Value = serde_json::from_str(&e.body).expect("patch body");
                let token = body["metadata"]["annotations"]["kargo.akuity.io/refresh"]
                    .as_str()
                    .expect("token")
                    .to_string();
                (format!("{}/{}", parts[2], parts[0]), token)
            })
            .collect()
    }

    pub(crate) fn annotation(&self, ns: &str, name: &str) -> Option<String> {
        self.kube
            .get("warehouses", Some(ns), name)
            .ok()?
            .pointer("/metadata/annotations/kargo.akuity.io~1refresh")?
            .as_str()
            .map(str::to_string)
    }
}

fn wait(what: &str, s: &Server, mut f: impl FnMut() -> bool) {
    s.wait_for(what, |_| f());
}

pub(crate) fn azure_path(project: &str, name: &str, secret: &str) -> String {
    fake_kube::kargo::receiver_path("http://x", "azure", project, name, secret)
}

/// Every request dockhand made was allowed by RBAC and is one the issue allows: get, list and
/// watch, patch of Warehouses only (a merge patch of the refresh annotation alone, never
/// status), Secrets read one by one in their own namespace.
fn assert_least_privilege(c: &Cluster) {
    let requests = c.dockhand_requests();
    assert!(!requests.is_empty());
    for e in &requests {
        assert_ne!(e.status, 403, "forbidden: {e:?}");
        assert_ne!(e.status, 401, "unauthenticated: {e:?}");
        assert!(
            e.method == "GET" || e.method == "PATCH",
            "verb other than get/list/watch/patch: {e:?}"
        );
        assert!(!e.path.ends_with("/status"), "status written: {e:?}");
        if e.path.contains("/secrets") {
            assert_eq!(e.method, "GET", "{e:?}");
            let segments: Vec<&str> = e.path.split('/').collect();
            // /api/v1/namespaces/NS/secrets/NAME: one Secret, never a list or a watch.
            assert_eq!(segments.len(), 7, "Secrets listed or watched: {e:?}");
            assert!(e.query_param("watch").is_none(), "{e:?}");
        }
        if e.method == "PATCH" {
            assert!(
                e.path
                    .starts_with("/apis/kargo.akuity.io/v1alpha1/namespaces/")
                    && e.path.contains("/warehouses/"),
                "{e:?}"
            );
            assert_eq!(
                e.content_type.as_deref(),
                Some("application/merge-patch+json"),
                "{e:?}"
            );
            assert_eq!(e.query_param("fieldManager").as_deref(), Some("dockhand"));
            let body: Value = serde_json::from_str(&e.body).expect("json");
            let annotations = body["metadata"]["annotations"].as_object().expect("{body}");
            assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");
            assert_eq!(
                body["metadata"].as_object().map(|o| o.len()),
                Some(1),
                "{body}"
            );
            assert_eq!(annotations.len(), 1, "{body}");
            let token = annotations["kargo.akuity.io/refresh"]
                .as_str()
                .expect("token");
            assert!(
                time::OffsetDateTime::parse(token, &time::format_description::well_known::Rfc3339)
                    .is_ok()
                    && token.ends_with('Z')
                    && token.contains('.'),
                "token {token} is RFC 3339 UTC with fractional seconds"
            );
        }
    }
}

fn delivery<'a>(list: &'a [Value], id: &str) -> &'a Value {
    list.iter()
        .find(|d| d["deliveryId"] == id || d["id"] == id)
        .unwrap_or_else(|| panic!("no delivery {id} in {list:?}"))
}

#[test]
fn webhooks_patch_exactly_the_right_warehouses_and_kargo_handles_them() {
    let c = Cluster::start();
    c.demo("http://kargo.example.com");
    let _handler = c.rt.block_on(async {
        c.kube
            .kargo_controller()
            .handle_refreshes(Duration::from_millis(300))
    });
    let s = c.serve(&["--refresh-cooldown", "0s"]);
    let azure = azure_path(PROJECT, "azure-wh-receiver", AZURE_SECRET);
    c.kube.clear_journal();

    // ACR: the matching tag refreshes kargo-demo/app only (not other-project/app, not a
    // Warehouse of another repository).
    let (status, body) = s.post(
        &azure,
        &[ACR_UA],
        &acr_push("acr-1", "myregistry.azurecr.io", "app", "1.2.0"),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
    let acr_id = body["deliveryId"].as_str().expect("id").to_string();
    wait("ACR patch", &s, || c.annotation(PROJECT, "app").is_some());

    // A tag outside the constraint refreshes nothing.
    let (status, body) = s.post(
        &azure,
        &[ACR_UA],
        &acr_push("acr-2", "myregistry.azurecr.io", "app", "0.1.0"),
    );
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 0 warehouse(s)"))
    );

    // Azure DevOps git push to master.
    let (status, body) = s.post(
        &azure,
        &[("User-Agent", "VSServices/16.255.0")],
        &fixture("azure-devops-git-push.json"),
    );
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 1 warehouse(s)"))
    );
    wait("DevOps patch", &s, || {
        c.annotation(PROJECT, "repo").is_some()
    });

    // Harbor, authenticated by the Secret's Authorization value.
    let harbor = fake_kube::kargo::receiver_path(
        "http://x",
        "harbor",
        PROJECT,
        "harbor-wh-receiver",
        HARBOR_AUTH,
    );
    let (status, _) = s.post(
        &harbor,
        &[("Authorization", "Bearer wrong")],
        &fixture("harbor-push-artifact.json"),
    );
    assert_eq!(status, 401);
    let (status, body) = s.post(
        &harbor,
        &[("Authorization", HARBOR_AUTH)],
        &fixture("harbor-push-artifact.json"),
    );
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 1 warehouse(s)"))
    );
    wait("Harbor patch", &s, || {
        c.annotation(PROJECT, "debian").is_some()
    });

    // Exactly these three Warehouses, once each; nothing else was written.
    let mut patched: Vec<String> = c.patches().into_iter().map(|(w, _)| w).collect();
    patched.sort();
    assert_eq!(
        patched,
        ["kargo-demo/app", "kargo-demo/debian", "kargo-demo/repo"]
    );
    assert!(c.annotation(OTHER, "app").is_none());
    assert!(c.annotation(PROJECT, "unrelated").is_none());

    // Two refreshes of one Warehouse within a second are two distinct tokens.
    for id in ["acr-3", "acr-4"] {
        let (status, _) = s.post(
            &azure,
            &[ACR_UA],
            &acr_push(id, "myregistry.azurecr.io", "app", "1.3.0"),
        );
        assert_eq!(status, 200);
        let before = c.patches().len();
        wait("patch", &s, || c.patches().len() > before);
    }
    let tokens: Vec<String> = c
        .patches()
        .into_iter()
        .filter(|(w, _)| w == "kargo-demo/app")
        .map(|(_, t)| t)
        .collect();
    assert_eq!(tokens.len(), 3, "{tokens:?}");
    assert!(tokens.windows(2).all(|w| w[0] < w[1]), "{tokens:?}");

    // Proof: the delivery shows the token, when it was patched and when Kargo handled it.
    wait("handledAt", &s, || {
        let list = s.deliveries();
        delivery(&list, &acr_id)["refreshes"][0]["handledAt"].is_string()
    });
    let list = s.deliveries();
    let r = &delivery(&list, &acr_id)["refreshes"][0];
    assert_eq!(r["warehouse"], "kargo-demo/app");
    assert_eq!(r["token"].as_str(), tokens.first().map(String::as_str));
    assert!(r["patchedAt"].is_string() && r["error"].is_null(), "{r}");
    let handled = c.kube.get("warehouses", Some(PROJECT), "app").expect("app");
    assert!(handled["status"]["lastHandledRefresh"].as_str() >= r["token"].as_str());

    let out = dockhand(&["deliveries", "--server", &s.admin_server()]);
    assert!(
        stdout(&out).contains("kargo-demo/app (handled by Kargo"),
        "{}",
        stdout(&out)
    );
    // The dashboard's page of the delivery shows the same refresh, handled by Kargo.
    let page = s
        .http
        .get(s.admin_url(&format!("/ui/deliveries/{acr_id}")))
        .send()
        .expect("dashboard")
        .text()
        .expect("text");
    for shown in [
        "Handled by Kargo",
        r["token"].as_str().expect("token"),
        r["handledAt"].as_str().expect("handledAt"),
        "/ui/warehouses/kargo-demo/app",
    ] {
        assert!(page.contains(shown), "{shown} not on the page:\n{page}");
    }
    let page = s
        .http
        .get(s.admin_url("/ui/warehouses/kargo-demo/app"))
        .send()
        .expect("dashboard")
        .text()
        .expect("text");
    assert!(
        page.contains("discovery and Freight are Kargo&#39;s"),
        "the Warehouse page says Freight is Kargo's:\n{page}"
    );
    let metrics = s
        .http
        .get(s.admin_url("/metrics"))
        .send()
        .expect("metrics")
        .text()
        .expect("text");
    let count = metrics
        .lines()
        .find_map(|l| l.strip_prefix("dockhand_kargo_refresh_handled_seconds_count "))
        .and_then(|v| v.parse::<u64>().ok())
        .expect("histogram");
    assert!(count >= 1, "{metrics}");

    // Freight is Kargo's in this mode, and the CLI says so.
    let out = dockhand(&["freight", "--server", &s.admin_server()]);
    assert!(!out.status.success());
    assert!(
        crate::common::stderr(&out).contains("Kargo mode"),
        "{}",
        crate::common::stderr(&out)
    );

    assert_least_privilege(&c);
}

#[test]
fn edits_apply_without_restart_and_an_invalid_warehouse_is_skipped() {
    let c = Cluster::start();
    c.demo("http://kargo.example.com");
    // Kargo admitted it; dockhand cannot parse the constraint.
    c.warehouse(
        PROJECT,
        "broken",
        json!({"image": {"repoURL": "myregistry.azurecr.io/app", "constraint": "not a [constraint"}}),
    );
    let s = c.serve(&["--refresh-cooldown", "0s"]);
    let azure = azure_path(PROJECT, "azure-wh-receiver", AZURE_SECRET);

    let report = s.admin_get("/api/v1/kargo");
    assert_eq!(report["synced"], true);
    let problems = report["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 1, "{report}");
    assert!(problems[0]
        .as_str()
        .unwrap_or("")
        .contains("warehouses/kargo-demo/broken"));
    let metrics = s
        .http
        .get(s.admin_url("/metrics"))
        .send()
        .expect("m")
        .text()
        .expect("t");
    assert!(
        metrics.contains("dockhand_kargo_objects_invalid 1"),
        "{metrics}"
    );

    // The others work; 2.0.0 is outside ^1.0.0.
    let (_, body) = s.post(
        &azure,
        &[ACR_UA],
        &acr_push("e-1", "myregistry.azurecr.io", "app", "2.0.0"),
    );
    assert_eq!(body["msg"], "refreshed 0 warehouse(s)");

    // Edit the constraint in the cluster: the next push matches, no restart.
    c.kube
        .merge_patch(
            "warehouses",
            Some(PROJECT),
            "app",
            &json!({"spec": {"subscriptions": [{"image": {"repoURL": "myregistry.azurecr.io/app", "constraint": "^2.0.0"}}]}}),
        )
        .expect("edit");
    wait("edited constraint", &s, || {
        let (_, body) = s.post(
            &azure,
            &[ACR_UA],
            &acr_push("", "myregistry.azurecr.io", "app", "2.0.0"),
        );
        body["msg"] == "refreshed 1 warehouse(s)"
    });

    // Fixing the broken Warehouse clears the problem; deleting one stops its refreshes.
    c.kube
        .merge_patch(
            "warehouses",
            Some(PROJECT),
            "broken",
            &json!({"spec": {"subscriptions": [{"image": {"repoURL": "myregistry.azurecr.io/app", "constraint": "^2.0.0"}}]}}),
        )
        .expect("fix");
    wait("problem cleared", &s, || {
        s.admin_get("/api/v1/kargo")["problems"]
            .as_array()
            .is_some_and(Vec::is_empty)
    });
    c.kube
        .delete("warehouses", Some(PROJECT), "app")
        .expect("delete");
    wait("deleted Warehouse gone", &s, || {
        let (_, body) = s.post(
            &azure,
            &[ACR_UA],
            &acr_push("", "myregistry.azurecr.io", "app", "2.0.1"),
        );
        body["msg"] == "refreshed 1 warehouse(s)" // only `broken` now
            && s.admin_get("/api/v1/kargo")["warehouses"] == 5
    });
    assert_least_privilege(&c);
}

#[test]
fn watches_recover_from_410_expired_and_dropped_streams() {
    let c = Cluster::start();
    c.demo("http://kargo.example.com");
    let s = c.serve(&["--refresh-cooldown", "0s"]);
    let azure = azure_path(PROJECT, "azure-wh-receiver", AZURE_SECRET);
    let push = |tag: &str| {
        let (_, body) = s.post(
            &azure,
            &[ACR_UA],
            &acr_push("", "myregistry.azurecr.io", "late", tag),
        );
        body["msg"] == "refreshed 1 warehouse(s)"
    };

    // Streams cut and kept from reconnecting while a Warehouse is created and the history is
    // compacted: the Warehouse watch comes back with a resourceVersion too old (410 Expired)
    // and must list again.
    c.kube.inject(Fault::new(
        Some(Verb::Watch),
        Some("warehouses"),
        usize::MAX,
        FaultKind::InternalError,
    ));
    c.kube.drop_watches();
    wait("a refused watch", &s, || {
        c.dockhand_requests()
            .iter()
            .any(|e| e.path.ends_with("/warehouses") && e.status == 500)
    });
    c.warehouse(
        PROJECT,
        "late",
        json!({"image": {"repoURL": "myregistry.azurecr.io/late"}}),
    );
    c.kube.compact();
    c.kube.clear_faults();
    wait("Warehouse created after the 410", &s, || push("1.0.0"));
    let relists = c
        .dockhand_requests()
        .iter()
        .filter(|e| e.path.ends_with("/warehouses") && e.query_param("watch").is_none())
        .count();
    assert!(
        relists >= 2,
        "the Warehouse list ran again after 410 ({relists})"
    );

    c.kube.drop_watches();
    c.kube
        .delete("warehouses", Some(PROJECT), "late")
        .expect("delete");
    wait("deletion seen after a dropped watch", &s, || !push("1.0.1"));
    assert!(c.kube.open_watches() >= 3, "watches re-opened");
}

#[test]
fn failed_patches_are_retried_and_land_once_and_a_gone_warehouse_is_dropped() {
    let c = Cluster::start();
    c.demo("http://kargo.example.com");
    let s = c.serve(&["--refresh-cooldown", "0s"]);
    let azure = azure_path(PROJECT, "azure-wh-receiver", AZURE_SECRET);
    for kind in [
        FaultKind::TooManyRequests {
            retry_after_seconds: 0,
        },
        FaultKind::InternalError,
        FaultKind::AdmissionWebhook,
    ] {
        c.kube
            .inject(Fault::new(Some(Verb::Patch), Some("warehouses"), 1, kind));
    }
    c.kube.clear_journal();
    let (status, body) = s.post(
        &azure,
        &[ACR_UA],
        &acr_push("r-1", "myregistry.azurecr.io", "app", "1.0.0"),
    );
    assert_eq!(
        status, 200,
        "the webhook is answered before the patch lands: {body}"
    );
    let id = body["deliveryId"].as_str().expect("id").to_string();
    wait("patch landed", &s, || {
        c.annotation(PROJECT, "app").is_some()
    });
    let attempts: Vec<u16> = c
        .dockhand_requests()
        .iter()
        .filter(|e| e.method == "PATCH")
        .map(|e| e.status)
        .collect();
    assert_eq!(
        attempts.iter().filter(|s| **s == 200).count(),
        1,
        "{attempts:?}"
    );
    assert!(
        attempts.contains(&429) && attempts.contains(&500),
        "{attempts:?}"
    );
    wait("recorded", &s, || {
        delivery(&s.deliveries(), &id)["refreshes"][0]["patchedAt"].is_string()
    });

    // Deleted before its patch: the refresh is recorded as dropped.
    c.kube.inject(Fault::new(
        Some(Verb::Patch),
        Some("warehouses"),
        2,
        FaultKind::InternalError,
    ));
    let (_, body) = s.post(
        &azure,
        &[ACR_UA],
        &acr_push("r-2", "myregistry.azurecr.io", "app", "1.0.1"),
    );
    let id = body["deliveryId"].as_str().expect("id").to_string();
    c.kube
        .delete("warehouses", Some(PROJECT), "app")
        .expect("delete");
    wait("dropped", &s, || {
        delivery(&s.deliveries(), &id)["refreshes"][0]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("dropped"))
    });
    assert_least_privilege(&c);
}

#[test]
fn sigkill_after_the_answer_and_before_the_patch_is_patched_after_restart() {
    let c = Cluster::start();
    c.demo("http://kargo.example.com");
    let mut s = c.serve(&[]);
    let azure = azure_path(PROJECT, "azure-wh-receiver", AZURE_SECRET);
    // The API server refuses every patch until the restart.
    c.kube.inject(Fault::new(
        Some(Verb::Patch),
        Some("warehouses"),
        usize::MAX,
        FaultKind::ServiceUnavailable,
    ));
    let (status, body) = s.post(
        &azure,
        &[ACR_UA],
        &acr_push("k-1", "myregistry.azurecr.io", "app", "1.0.0"),
    );
    assert_eq!(status, 200);
    let id = body["deliveryId"].as_str().expect("id").to_string();
    wait("a failed attempt", &s, || {
        c.dockhand_requests()
            .iter()
            .any(|e| e.method == "PATCH" && e.status == 503)
    });
    s.kill9();
    assert!(c.annotation(PROJECT, "app").is_none());
    c.kube.clear_faults();
    s.restart();
    wait("patched after restart", &s, || {
        c.annotation(PROJECT, "app").is_some()
    });
    wait("recorded on the delivery", &s, || {
        delivery(&s.deliveries(), &id)["refreshes"][0]["token"].as_str()
            == c.annotation(PROJECT, "app").as_deref()
    });
}

#[test]
fn readiness_waits_until_every_initial_list_has_synced() {
    let c = Cluster::start();
    c.demo("http://kargo.example.com");
    c.kube.inject(Fault::new(
        Some(Verb::List),
        Some("warehouses"),
        usize::MAX,
        FaultKind::InternalError,
    ));
    let (port, admin) = (crate::common::free_port(), crate::common::free_port());
    let data = tempfile::tempdir().expect("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dockhand"))
        .args(["serve", "--source", "kargo", "--kubeconfig"])
        .arg(&c.kubeconfig)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--admin-listen", &format!("127.0.0.1:{admin}")])
        .arg("--data-dir")
        .arg(data.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let http = reqwest::blocking::Client::new();
    let get = |path: &str| {
        http.get(format!("http://127.0.0.1:{port}{path}"))
            .send()
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while get("/healthz") != 200 {
        assert!(Instant::now() < deadline, "never healthy");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        get("/readyz"),
        503,
        "ready before the Warehouses were listed"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(get("/readyz"), 503);
    c.kube.clear_faults();
    let deadline = Instant::now() + Duration::from_secs(30);
    while get("/readyz") != 200 {
        assert!(
            Instant::now() < deadline,
            "never ready after the faults cleared"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_rotated_secret_works_at_once_and_kargo_status_paths_route_too() {
    let c = Cluster::start();
    // Kargo's base URL has a path dockhand's --base-url does not: the status path differs.
    c.demo("https://kargo.example.com/webhooks");
    let s = c.serve(&[]);
    let computed = azure_path(PROJECT, "azure-wh-receiver", AZURE_SECRET);
    let status_path = format!("/webhooks{computed}");
    let push = acr_push("", "myregistry.azurecr.io", "app", "1.0.0");
    for path in [&computed, &status_path] {
        let (status, body) = s.post(path, &[ACR_UA], &push);
        assert_eq!(
            (status, body["msg"].as_str()),
            (200, Some("refreshed 1 warehouse(s)")),
            "{path}"
        );
    }
    let report = s.admin_get("/api/v1/kargo");
    let r = report["receivers"]
        .as_array()
        .and_then(|l| l.iter().find(|r| r["name"] == "azure-wh-receiver"))
        .expect("receiver")
        .clone();
    assert_eq!(r["statusPath"], status_path.as_str());
    assert_eq!(r["computedPath"], computed.as_str());
    assert_eq!(r["mismatch"], true);
    let kubeconfig = c.kubeconfig.to_string_lossy().to_string();
    let cli = |base_url: &str| {
        let out = dockhand(&[
            "receivers",
            "--source",
            "kargo",
            "--kubeconfig",
            &kubeconfig,
            "--base-url",
            base_url,
        ]);
        assert!(out.status.success(), "{}", crate::common::stderr(&out));
        stdout(&out)
    };
    let table = cli("http://dockhand.example.com");
    assert!(
        table.contains(&format!("http://dockhand.example.com{computed}"))
            && table.contains("MISMATCH"),
        "{table}"
    );
    // With Kargo's base URL the two agree.
    let table = cli("https://kargo.example.com/webhooks");
    assert!(
        !table.contains("MISMATCH") && table.contains(&status_path),
        "{table}"
    );

    // Rotate the Secret; Kargo's status has not caught up, yet the new URL works at once and
    // the old one stops.
    let rotated = "test-azure-secret-value-2";
    c.kube
        .merge_patch(
            "secrets",
            Some(PROJECT),
            "azure-wh-secret",
            &json!({"data": {"secret": b64(rotated)}}),
        )
        .expect("rotate");
    let new_path = azure_path(PROJECT, "azure-wh-receiver", rotated);
    let (status, body) = s.post(&new_path, &[ACR_UA], &push);
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 1 warehouse(s)"))
    );
    let (status, _) = s.post(&computed, &[ACR_UA], &push);
    assert_eq!(status, 404, "the old Secret's path");
    assert_least_privilege(&c);
}

#[test]
fn cluster_config_receivers_refresh_matching_warehouses_of_every_project() {
    let c = Cluster::start();
    c.demo("http://kargo.example.com");
    c.secret(
        "kargo-system-resources",
        "cluster-wh",
        "secret",
        AZURE_SECRET,
    );
    c.create(
        "clusterconfigs",
        None,
        json!({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "ClusterConfig",
               "metadata": {"name": "cluster"},
               "spec": {"webhookReceivers": [{"name": "all", "azure": {"secretRef": {"name": "cluster-wh"}}}]}}),
    );
    c.kube
        .kargo_controller()
        .write_cluster_receivers("kargo-system-resources", "http://kargo.example.com")
        .expect("status");
    let s = c.serve(&["--refresh-cooldown", "0s"]);
    let path = azure_path("", "all", AZURE_SECRET);
    let (status, body) = s.post(
        &path,
        &[ACR_UA],
        &acr_push("", "myregistry.azurecr.io", "app", "1.0.0"),
    );
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 2 warehouse(s)")),
        "{body}"
    );
    wait("both projects patched", &s, || {
        c.annotation(PROJECT, "app").is_some() && c.annotation(OTHER, "app").is_some()
    });
    assert!(c.annotation(PROJECT, "unrelated").is_none());
    assert_least_privilege(&c);
}

#[test]
fn cluster_config_receivers_in_files_mode() {
    let dir = crate::common::config_dir(&[(
        "c.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: cs, namespace: kargo-system-resources}}\nstringData: {{secret: {AZURE_SECRET}}}\n---\napiVersion: kargo.akuity.io/v1alpha1\nkind: ClusterConfig\nmetadata: {{name: cluster}}\nspec:\n  webhookReceivers:\n  - {{name: all, azure: {{secretRef: {{name: cs}}}}}}\n{}{}",
            crate::common::image_warehouse("a", "w", "myregistry.azurecr.io/app", "*"),
            crate::common::image_warehouse("b", "w", "myregistry.azurecr.io/app", "*"),
        ),
    )]);
    let s = Server::start(&[dir.path()], &[]);
    let (status, body) = s.post(
        &azure_path("", "all", AZURE_SECRET),
        &[ACR_UA],
        &acr_push("", "myregistry.azurecr.io", "app", "1.0.0"),
    );
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 2 warehouse(s)")),
        "{body}"
    );
}

/// A Promotion in `phase`, at step `current` of [git-wait-for-pr as `wait`], waiting on `pr`.
fn promotion(c: &Cluster, name: &str, phase: &str, pr: &str) {
    c.create(
        "promotions",
        Some(PROJECT),
        json!({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Promotion",
               "metadata": {"name": name, "namespace": PROJECT},
               "spec": {"stage": "prod", "freight": "f1",
                        "steps": [{"uses": "git-open-pr", "as": "open"},
                                  {"uses": "git-wait-for-pr", "as": "wait"}]}}),
    );
    c.kube
        .merge_patch_status(
            "promotions",
            Some(PROJECT),
            name,
            &json!({"status": {"phase": phase, "currentStep": 1,
                               "state": {"wait": {"pr": {"url": pr}}}}}),
        )
        .expect("status");
}

#[test]
fn a_merged_or_abandoned_pull_request_refreshes_the_promotions_waiting_on_it() {
    let c = Cluster::start();
    c.demo("http://kargo.example.com");
    let pr = "https://dev.azure.com/org/proj/_git/repo/pullrequest/7";
    promotion(&c, "waiting", "Running", pr);
    promotion(&c, "finished", "Succeeded", pr);
    promotion(&c, "other-pr", "Running", &format!("{pr}1"));
    let s = c.serve(&["--refresh-cooldown", "0s"]);
    let azure = azure_path(PROJECT, "azure-wh-receiver", AZURE_SECRET);
    let ado = ("User-Agent", "VSServices/16.255.0");
    let event = |id: &str, event: &str, status: &str| {
        json!({"id": id, "eventType": event, "publisherId": "tfs",
               "resource": {"status": status, "pullRequestId": 7, "_links": {"web": {"href": pr}}}})
        .to_string()
    };
    let promotion_token = |name: &str| {
        c.kube
            .get("promotions", Some(PROJECT), name)
            .ok()
            .and_then(|p| {
                p.pointer("/metadata/annotations/kargo.akuity.io~1refresh")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
    };

    let (status, body) = s.post(
        &azure,
        &[ado],
        &event("pr-1", "git.pullrequest.updated", "active"),
    );
    assert_eq!(status, 200);
    assert!(
        body["msg"].as_str().unwrap_or("").contains("ignored"),
        "{body}"
    );

    let (status, body) = s.post(
        &azure,
        &[ado],
        &event("pr-2", "git.pullrequest.merged", "completed"),
    );
    assert_eq!(
        (status, body["msg"].as_str()),
        (200, Some("refreshed 1 promotion(s)")),
        "{body}"
    );
    let id = body["deliveryId"].as_str().expect("id").to_string();
    wait("Promotion patched", &s, || {
        promotion_token("waiting").is_some()
    });
    let first = promotion_token("waiting");
    assert!(promotion_token("finished").is_none());
    assert!(promotion_token("other-pr").is_none());
    wait("recorded", &s, || {
        delivery(&s.deliveries(), &id)["refreshes"][0]["token"].as_str() == first.as_deref()
    });

    let (_, body) = s.post(
        &azure,
        &[ado],
        &event("pr-3", "git.pullrequest.updated", "abandoned"),
    );
    assert_eq!(body["msg"], "refreshed 1 promotion(s)");
    wait("second patch", &s, || promotion_token("waiting") != first);
    // Promotions, like Warehouses, get the annotation only, by merge patch.
    assert!(c
        .dockhand_requests()
        .iter()
        .filter(|e| e.method == "PATCH")
        .all(|e| !e.path.contains("/promotions/") || e.path.ends_with("/promotions/waiting")));
    assert_least_privilege_promotions(&c);
}

/// As `assert_least_privilege`, allowing the Promotion patches.
fn assert_least_privilege_promotions(c: &Cluster) {
    for e in c.dockhand_requests() {
        assert!(e.status != 403 && e.status != 401, "{e:?}");
        assert!(e.method == "GET" || e.method == "PATCH", "{e:?}");
        assert!(!e.path.ends_with("/status"), "{e:?}");
        if e.method == "PATCH" {
            assert_eq!(
                e.content_type.as_deref(),
                Some("application/merge-patch+json")
            );
            let body: Value = serde_json::from_str(&e.body).expect("json");
            assert_eq!(
                body["metadata"]["annotations"].as_object().map(|a| a.len()),
                Some(1)
            );
            assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");
        }
    }
}

#[test]
fn config_is_refused_with_source_kargo() {
    let out = dockhand(&["serve", "--source", "kargo", "--config", "x.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        crate::common::stderr(&out).contains("--config cannot be used with --source kargo"),
        "{}",
        crate::common::stderr(&out)
    );
    let out = dockhand(&["serve"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(crate::common::stderr(&out).contains("--config is required"));
}

/// At scale: 10,000 Warehouses served by the fake API server, 1,000 webhooks at 100/s, each for
/// another Warehouse — every webhook answered 200 and every one patched its own Warehouse. It
/// also prints the measurements BENCHMARKS.md records (time to ready, RSS, webhook-to-PATCH
/// latency: `cargo test --test e2e -- kargo::measure --nocapture`); they are not asserted.
#[test]
fn measure_ten_thousand_warehouses_and_webhook_to_patch_latency() {
    const WAREHOUSES: usize = 10_000;
    const RATE: u64 = 100;
    const WEBHOOKS: usize = 1_000;
    let c = Cluster::start();
    c.demo("http://kargo.example.com");
    for i in 0..WAREHOUSES {
        c.warehouse(
            PROJECT,
            &format!("w-{i}"),
            json!({"image": {"repoURL": format!("myregistry.azurecr.io/app-{i}")}}),
        );
    }
    let started = Instant::now();
    let s = c.serve(&["--rate-limit-receiver", "0", "--rate-limit-client", "0"]);
    let ready = started.elapsed();
    let rss_kib = std::fs::read_to_string(format!("/proc/{}/status", s.pid().expect("pid")))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0);

    let azure = azure_path(PROJECT, "azure-wh-receiver", AZURE_SECRET);
    let mut sent = Vec::with_capacity(WEBHOOKS);
    let every = Duration::from_micros(1_000_000 / RATE);
    let t0 = Instant::now();
    for i in 0..WEBHOOKS {
        let due = t0 + every * i as u32;
        if let Some(d) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        let at = std::time::SystemTime::now();
        let resp = s
            .http
            .post(s.url(&azure))
            .header(ACR_UA.0, ACR_UA.1)
            .header("Content-Type", "application/json")
            .body(acr_push(
                "",
                "myregistry.azurecr.io",
                &format!("app-{i}"),
                "1.0.0",
            ))
            .send();
        let status = match resp {
            Ok(r) => r.status().as_u16(),
            Err(e) => panic!("webhook {i}: {e}\n{}", s.logs()),
        };
        assert_eq!(status, 200);
        sent.push((format!("w-{i}"), at));
    }
    let offered = t0.elapsed();
    wait("every patch", &s, || c.patches().len() >= WEBHOOKS);
    let patched: std::collections::HashMap<String, std::time::SystemTime> = c
        .dockhand_requests()
        .into_iter()
        .filter(|e| e.method == "PATCH" && e.status == 200)
        .filter_map(|e| Some((e.path.rsplit('/').next()?.to_string(), e.at)))
        .collect();
    let mut latencies: Vec<Duration> = sent
        .iter()
        .map(|(w, at)| patched[w].duration_since(*at).unwrap_or_default())
        .collect();
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "warehouses={WAREHOUSES} ready={ready:?} rss={} MiB; {WEBHOOKS} webhooks offered at {RATE}/s in {offered:?}: webhook-to-PATCH p50={:?} p99={:?} max={:?}",
        rss_kib / 1024,
        p(0.50),
        p(0.99),
        latencies[latencies.len() - 1]
    );
}
