//! The fake against a real client: kubectl over HTTPS with a generated kubeconfig — discovery,
//! `get`, `patch --type merge`, `get -w`, and RBAC refusals as kubectl prints them. kubectl must
//! be installed (Debian/Ubuntu: `apt-get install kubernetes-client`); the test fails, not skips,
//! without it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fake_kube::{FakeKube, Identity, ADMIN_TOKEN};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

fn kubectl_path() -> PathBuf {
    if let Some(p) = std::env::var_os("KUBECTL") {
        return PathBuf::from(p);
    }
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("kubectl"))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!("kubectl is required by this test and was not found on PATH (set KUBECTL=/path/to/kubectl, or install it: apt-get install kubernetes-client)")
    })
}

struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Kubectl {
    fn new(fake: &FakeKube, dir: &Path, token: &str) -> Self {
        let kubeconfig = dir.join(format!("kubeconfig-{token}"));
        fake.write_kubeconfig(&kubeconfig, token, "p1").unwrap();
        Kubectl {
            bin: kubectl_path(),
            kubeconfig,
            cache: dir.join("cache"),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args);
        c.env_remove("KUBECONFIG").kill_on_drop(true);
        c
    }

    async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = tokio::time::timeout(Duration::from_secs(60), self.command(args).output())
            .await
            .expect("kubectl did not finish within 60 s")
            .expect("kubectl could not be started");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

const RBAC: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: viewer}
rules:
- {apiGroups: [kargo.akuity.io], resources: [warehouses], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: viewer}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: viewer}
subjects: [{kind: User, name: viewer}]
"#;

async fn started() -> (FakeKube, tempfile::TempDir) {
    let fake = FakeKube::builder()
        .tls(true)
        .rbac_yaml(RBAC)
        .token("viewer-token", Identity::user("viewer"))
        .start()
        .await
        .unwrap();
    assert!(fake.url().starts_with("https://127.0.0.1:"));
    fake.create("namespaces", None, json!({"metadata": {"name": "p1"}}))
        .unwrap();
    fake.create(
        "warehouses",
        Some("p1"),
        json!({"metadata": {"name": "w1"}, "spec": {"subscriptions": [{"image": {"repoURL": "example.com/app"}}]}}),
    )
    .unwrap();
    (fake, tempfile::tempdir().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_gets_and_merge_patches_over_https() {
    let (fake, dir) = started().await;
    let kubectl = Kubectl::new(&fake, dir.path(), ADMIN_TOKEN);
    let (ok, out, err) = kubectl
        .run(&["get", "warehouses.kargo.akuity.io", "w1", "-o", "json"])
        .await;
    assert!(
        ok,
        "kubectl get failed: {err}\njournal: {:#?}",
        fake.journal()
    );
    let w: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(w["metadata"]["name"], "w1");
    assert_eq!(w["metadata"]["namespace"], "p1");

    let (ok, out, err) = kubectl.run(&["get", "warehouses", "-o", "name"]).await;
    assert!(ok, "kubectl get (list) failed: {err}");
    assert_eq!(out.trim(), "warehouse.kargo.akuity.io/w1");

    // Default output: the fake answers JSON, not a Table, and kubectl prints from the objects.
    let (ok, out, err) = kubectl.run(&["get", "warehouses"]).await;
    assert!(ok, "kubectl get (table) failed: {err}");
    assert!(
        out.lines().next().unwrap_or("").starts_with("NAME"),
        "{out}"
    );
    assert!(out.lines().nth(1).unwrap_or("").starts_with("w1 "), "{out}");

    let (ok, out, err) = kubectl
        .run(&[
            "patch",
            "warehouse",
            "w1",
            "--type",
            "merge",
            "-p",
            r#"{"metadata":{"annotations":{"kargo.akuity.io/refresh":"now"}}}"#,
        ])
        .await;
    assert!(ok, "kubectl patch failed: {err}");
    assert!(
        out.contains("warehouse.kargo.akuity.io/w1 patched"),
        "{out}"
    );
    let stored = fake.get("warehouses", Some("p1"), "w1").unwrap();
    assert_eq!(
        stored["metadata"]["annotations"]["kargo.akuity.io/refresh"],
        "now"
    );
    let patch = fake
        .journal()
        .into_iter()
        .rev()
        .find(|e| e.method == "PATCH")
        .unwrap();
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(
        patch.path,
        "/apis/kargo.akuity.io/v1alpha1/namespaces/p1/warehouses/w1"
    );

    // The same patch again changes nothing; kubectl reports it as such.
    let revision = fake.revision();
    let (ok, out, _) = kubectl
        .run(&[
            "patch",
            "warehouse",
            "w1",
            "--type",
            "merge",
            "-p",
            r#"{"metadata":{"annotations":{"kargo.akuity.io/refresh":"now"}}}"#,
        ])
        .await;
    assert!(ok);
    assert!(out.contains("patched (no change)"), "{out}");
    assert_eq!(fake.revision(), revision);

    // RBAC refusals and a missing object come out as kubectl's usual messages.
    let viewer = Kubectl::new(&fake, dir.path(), "viewer-token");
    let (ok, _, err) = viewer
        .run(&[
            "patch",
            "warehouse",
            "w1",
            "--type",
            "merge",
            "-p",
            r#"{"metadata":{"labels":{"a":"b"}}}"#,
        ])
        .await;
    assert!(!ok);
    assert!(
        err.contains("is forbidden: User \"viewer\" cannot patch resource \"warehouses\""),
        "{err}"
    );
    let (ok, _, err) = viewer.run(&["get", "warehouse", "nope"]).await;
    assert!(!ok);
    assert!(
        err.contains("warehouses.kargo.akuity.io \"nope\" not found"),
        "{err}"
    );
    assert!(
        fake.journal().iter().all(|e| e.identity.is_some()),
        "kubectl sent its token on every request"
    );
}

async fn next_line(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("no line from kubectl get -w within 30 s")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_watch_streams_changes() {
    let (fake, dir) = started().await;
    let kubectl = Kubectl::new(&fake, dir.path(), "viewer-token");
    let mut child = kubectl
        .command(&["get", "warehouses", "-w", "-o", "name"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl could not be started");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(
        next_line(&mut lines).await.as_deref(),
        Some("warehouse.kargo.akuity.io/w1")
    );
    // Wait until kubectl's watch is open, then change something.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while fake.open_watches() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "kubectl never opened a watch: {:#?}",
            fake.journal()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    fake.create(
        "warehouses",
        Some("p1"),
        json!({"metadata": {"name": "w2"}, "spec": {}}),
    )
    .unwrap();
    assert_eq!(
        next_line(&mut lines).await.as_deref(),
        Some("warehouse.kargo.akuity.io/w2")
    );
    child.kill().await.unwrap();
    let watch = fake
        .journal()
        .into_iter()
        .find(|e| e.query_param("watch").is_some())
        .unwrap();
    assert_eq!(watch.status, 200);
    assert_eq!(
        watch.path,
        "/apis/kargo.akuity.io/v1alpha1/namespaces/p1/warehouses"
    );
    assert!(
        watch.query_param("resourceVersion").is_some(),
        "kubectl watches from its list's version: {watch:?}"
    );
}

#[tokio::test]
async fn rbac_rendered_by_kubectl_kustomize_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rbac.yaml"), RBAC).unwrap();
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamePrefix: dockhand-\nresources: [rbac.yaml]\n",
    )
    .unwrap();
    let rendered = fake_kube::kustomize(dir.path()).unwrap();
    assert!(rendered.contains("name: dockhand-viewer"), "{rendered}");
    let fake = FakeKube::builder()
        .rbac_yaml(&rendered)
        .token("viewer-token", Identity::user("viewer"))
        .start()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let get = |path: &str| {
        http.get(format!("{}{path}", fake.url()))
            .bearer_auth("viewer-token")
            .send()
    };
    let list = get("/apis/kargo.akuity.io/v1alpha1/warehouses")
        .await
        .unwrap();
    assert_eq!(
        list.status(),
        200,
        "the prefixed ClusterRoleBinding still binds the prefixed ClusterRole"
    );
    let secrets = get("/api/v1/namespaces/p1/secrets").await.unwrap();
    assert_eq!(secrets.status(), 403);
}
