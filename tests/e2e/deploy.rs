//! The Kubernetes deployment (issue 12): renders `deploy/kubernetes` and both overlays with
//! `kubectl kustomize`, exactly as a user applies them, and checks what each renders — the RBAC
//! is Kargo's external webhook server's and nothing more, the Pod is hardened and probed, the
//! names Kargo keys on are kept, the Services, Ingresses and PodDisruptionBudget line up — plus
//! the runtime image's Dockerfile against the Deployment.
//!
//! kubectl is required, never skipped: a missing kubectl fails every test with the package to
//! install (scripts/test installs it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{json, Value};

const KARGO_NAMESPACE: &str = "kargo";
const SYSTEM_RESOURCES_NAMESPACE: &str = "kargo-system-resources";
/// Kargo's management controller binds the project Secrets to this name, and its Promotion
/// admission webhook exempts it.
const KARGO_SERVICE_ACCOUNT: &str = "kargo-external-webhooks-server";
const UID: i64 = 65532;

/// The three ways to render the manifests: (label, directory under the repository).
const LAYOUTS: [(&str, &str); 3] = [
    ("base", "deploy/kubernetes"),
    ("replace-kargo", "deploy/kubernetes/overlays/replace-kargo"),
    ("side-by-side", "deploy/kubernetes/overlays/side-by-side"),
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `kubectl kustomize DIR`, parsed into one JSON value per YAML document.
pub(crate) fn kustomize(dir: &str) -> Vec<Value> {
    let path: PathBuf = repo().join(dir);
    let output = match Command::new("kubectl").arg("kustomize").arg(&path).output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "kubectl is not installed; these tests render deploy/kubernetes with \
             `kubectl kustomize`. Install Debian's `kubernetes-client` package \
             (sudo apt-get install kubernetes-client) or any kubectl >= 1.14; scripts/test \
             installs it when missing"
        ),
        Err(e) => panic!("running kubectl kustomize {}: {e}", path.display()),
    };
    assert!(
        output.status.success(),
        "kubectl kustomize {} failed ({}):\n{}",
        path.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("kustomize output is UTF-8");
    let mut docs = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let value = Value::deserialize(doc)
            .unwrap_or_else(|e| panic!("{dir}: rendered YAML does not parse: {e}\n{text}"));
        // kustomize 2.0.3 (Debian's kubectl 1.20) leaves `{}` where a patch deleted an object.
        let empty = value.is_null() || value.as_object().is_some_and(|o| o.is_empty());
        if !empty {
            docs.push(value);
        }
    }
    docs
}

/// Every layout rendered once per test binary.
fn renders() -> &'static Vec<(&'static str, Vec<Value>)> {
    static RENDERS: OnceLock<Vec<(&'static str, Vec<Value>)>> = OnceLock::new();
    RENDERS.get_or_init(|| {
        LAYOUTS
            .iter()
            .map(|(label, dir)| (*label, kustomize(dir)))
            .collect()
    })
}

fn render(label: &str) -> &'static [Value] {
    renders()
        .iter()
        .find(|(l, _)| *l == label)
        .map(|(_, docs)| docs.as_slice())
        .unwrap_or_else(|| panic!("no layout {label}"))
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// The one object of that kind and name; fails when there is none or more than one.
fn one<'a>(label: &str, docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<&Value> = of_kind(docs, kind)
        .into_iter()
        .filter(|d| d["metadata"]["name"] == name)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{label}: expected exactly one {kind} {name}, found {}",
        found.len()
    );
    found[0]
}

fn str_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().expect("a string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// An RBAC rule list flattened into (apiGroup, resource, verb) triples. Fails on anything
/// a flattening would hide: wildcards, resourceNames, nonResourceURLs.
fn grants(label: &str, what: &str, rules: &Value) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for rule in rules.as_array().expect("rules is a list") {
        for key in rule.as_object().expect("a rule is a mapping").keys() {
            assert!(
                ["apiGroups", "resources", "verbs"].contains(&key.as_str()),
                "{label}: {what} has a rule with {key}: {rule}"
            );
        }
        for group in str_list(&rule["apiGroups"]) {
            for resource in str_list(&rule["resources"]) {
                for verb in str_list(&rule["verbs"]) {
                    for part in [&group, &resource, &verb] {
                        assert!(
                            !part.contains('*'),
                            "{label}: {what} has a wildcard: {rule}"
                        );
                    }
                    out.insert((group.clone(), resource.clone(), verb.clone()));
                }
            }
        }
    }
    out
}

fn triples(list: &[(&str, &str, &[&str])]) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for (group, resource, verbs) in list {
        for verb in *verbs {
            out.insert((group.to_string(), resource.to_string(), verb.to_string()));
        }
    }
    out
}

fn deployment(label: &str) -> &'static Value {
    one(label, render(label), "Deployment", "dockhand")
}

fn container(label: &str) -> &'static Value {
    let containers = deployment(label)["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    assert_eq!(containers.len(), 1, "{label}: one container");
    &containers[0]
}

/// The container port a Service's or probe's port refers to (by name or number).
fn container_port(label: &str, port: &Value) -> i64 {
    if let Some(n) = port.as_i64() {
        return n;
    }
    let name = port.as_str().expect("port is a number or a name");
    container(label)["ports"]
        .as_array()
        .expect("container ports")
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["containerPort"].as_i64())
        .unwrap_or_else(|| panic!("{label}: no container port named {name}"))
}

fn pod_labels(label: &str) -> &'static Value {
    &deployment(label)["spec"]["template"]["metadata"]["labels"]
}

/// Every key of a selector is a label of the Pod with the same value.
fn selects_pods(label: &str, what: &str, selector: &Value) {
    let selector = selector.as_object().expect("selector is a mapping");
    assert!(
        !selector.is_empty(),
        "{label}: {what} has an empty selector"
    );
    for (key, value) in selector {
        assert_eq!(
            &pod_labels(label)[key],
            value,
            "{label}: {what} selects {key}={value}, which the dockhand Pods do not carry"
        );
    }
}

/// The webhook Service's name in each layout: Kargo's own name when dockhand replaces it.
fn webhook_service_name(label: &str) -> &'static str {
    match label {
        "replace-kargo" => "kargo-external-webhooks-server",
        _ => "dockhand-webhooks",
    }
}

#[test]
fn cluster_role_grants_exactly_kargos_webhook_server_verbs_and_no_secrets() {
    let expected = triples(&[
        (
            "kargo.akuity.io",
            "projectconfigs",
            &["get", "list", "watch"],
        ),
        (
            "kargo.akuity.io",
            "clusterconfigs",
            &["get", "list", "watch"],
        ),
        (
            "kargo.akuity.io",
            "warehouses",
            &["get", "list", "watch", "patch"],
        ),
        (
            "kargo.akuity.io",
            "promotions",
            &["get", "list", "watch", "patch"],
        ),
    ]);
    for (label, _) in LAYOUTS {
        let docs = render(label);
        let cluster_roles = of_kind(docs, "ClusterRole");
        assert_eq!(cluster_roles.len(), 1, "{label}: one ClusterRole");
        let role = one(label, docs, "ClusterRole", "dockhand");
        assert_eq!(
            grants(label, "ClusterRole dockhand", &role["rules"]),
            expected,
            "{label}: the ClusterRole's grants"
        );
        assert!(
            role.get("aggregationRule").is_none(),
            "{label}: an aggregated ClusterRole can grow beyond its rules"
        );

        let binding = one(label, docs, "ClusterRoleBinding", "dockhand");
        assert_eq!(
            binding["roleRef"],
            json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "dockhand"}),
            "{label}: ClusterRoleBinding roleRef"
        );
        assert_eq!(
            binding["subjects"],
            json!([{"kind": "ServiceAccount", "name": KARGO_SERVICE_ACCOUNT, "namespace": KARGO_NAMESPACE}]),
            "{label}: ClusterRoleBinding subjects"
        );
        assert_eq!(of_kind(docs, "ClusterRoleBinding").len(), 1, "{label}");
    }
}

#[test]
fn secrets_are_readable_only_in_the_system_resources_namespace() {
    for (label, _) in LAYOUTS {
        let docs = render(label);
        let roles = of_kind(docs, "Role");
        assert_eq!(roles.len(), 1, "{label}: one Role");
        let role = one(label, docs, "Role", "dockhand-secrets-reader");
        assert_eq!(
            role["metadata"]["namespace"], SYSTEM_RESOURCES_NAMESPACE,
            "{label}: the Secret reader Role's namespace"
        );
        assert_eq!(
            grants(label, "Role dockhand-secrets-reader", &role["rules"]),
            triples(&[("", "secrets", &["get", "list", "watch"])]),
            "{label}: the Secret reader Role's grants"
        );

        let bindings = of_kind(docs, "RoleBinding");
        assert_eq!(bindings.len(), 1, "{label}: one RoleBinding");
        let binding = one(label, docs, "RoleBinding", "dockhand-secrets-reader");
        assert_eq!(binding["metadata"]["namespace"], SYSTEM_RESOURCES_NAMESPACE);
        assert_eq!(
            binding["roleRef"],
            json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "dockhand-secrets-reader"}),
            "{label}: RoleBinding roleRef"
        );
        assert_eq!(
            binding["subjects"],
            json!([{"kind": "ServiceAccount", "name": KARGO_SERVICE_ACCOUNT, "namespace": KARGO_NAMESPACE}]),
            "{label}: RoleBinding subjects"
        );
    }
}

#[test]
fn runs_as_kargos_webhook_server_service_account_in_kargos_namespace() {
    for (label, _) in LAYOUTS {
        let docs = render(label);
        let pod = &deployment(label)["spec"]["template"]["spec"];
        assert_eq!(pod["serviceAccountName"], KARGO_SERVICE_ACCOUNT, "{label}");
        assert_ne!(
            pod["automountServiceAccountToken"], false,
            "{label}: the in-cluster client needs the token"
        );
        let accounts = of_kind(docs, "ServiceAccount");
        if label == "side-by-side" {
            // Kargo's chart owns it there: applying it would take it over, deleting would break Kargo.
            assert!(
                accounts.is_empty(),
                "{label}: must not ship Kargo's ServiceAccount"
            );
        } else {
            assert_eq!(accounts.len(), 1, "{label}: one ServiceAccount");
            let account = one(label, docs, "ServiceAccount", KARGO_SERVICE_ACCOUNT);
            assert_eq!(account["metadata"]["namespace"], KARGO_NAMESPACE, "{label}");
        }
        for doc in docs {
            let namespace = &doc["metadata"]["namespace"];
            match doc["kind"].as_str() {
                Some("ClusterRole" | "ClusterRoleBinding") => {
                    assert!(namespace.is_null(), "{label}: cluster-scoped {doc}")
                }
                Some("Role" | "RoleBinding") => {
                    assert_eq!(namespace, SYSTEM_RESOURCES_NAMESPACE, "{label}: {doc}")
                }
                _ => assert_eq!(namespace, KARGO_NAMESPACE, "{label}: {doc}"),
            }
        }
    }
}

#[test]
fn pod_is_non_root_read_only_and_without_capabilities() {
    for (label, _) in LAYOUTS {
        let pod = &deployment(label)["spec"]["template"]["spec"];
        let pod_security = &pod["securityContext"];
        assert_eq!(pod_security["runAsNonRoot"], true, "{label}");
        assert_eq!(pod_security["runAsUser"], UID, "{label}");
        assert_eq!(
            pod_security["seccompProfile"]["type"], "RuntimeDefault",
            "{label}"
        );
        assert_eq!(
            pod["enableServiceLinks"], false,
            "{label}: Service links would add DOCKHAND_* variables beside the flags' own"
        );
        for key in ["hostNetwork", "hostPID", "hostIPC"] {
            assert_ne!(pod[key], true, "{label}: {key}");
        }

        let security = &container(label)["securityContext"];
        assert_eq!(security["runAsNonRoot"], true, "{label}");
        assert_eq!(security["runAsUser"], UID, "{label}");
        assert_eq!(security["readOnlyRootFilesystem"], true, "{label}");
        assert_eq!(security["allowPrivilegeEscalation"], false, "{label}");
        assert_ne!(security["privileged"], true, "{label}");
        assert_eq!(
            security["capabilities"],
            json!({"drop": ["ALL"]}),
            "{label}: every capability dropped, none added"
        );
        assert_eq!(
            security["seccompProfile"]["type"], "RuntimeDefault",
            "{label}"
        );

        let resources = &container(label)["resources"];
        for side in ["requests", "limits"] {
            for what in ["cpu", "memory"] {
                assert!(
                    resources[side][what].is_string(),
                    "{label}: resources.{side}.{what} missing: {resources}"
                );
            }
        }
    }
}

#[test]
fn data_and_tmp_are_writable_volumes() {
    for (label, _) in LAYOUTS {
        let pod = &deployment(label)["spec"]["template"]["spec"];
        let volumes: BTreeMap<&str, &Value> = pod["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .map(|v| (v["name"].as_str().expect("volume name"), v))
            .collect();
        let mounts: BTreeMap<&str, &str> = container(label)["volumeMounts"]
            .as_array()
            .expect("volumeMounts")
            .iter()
            .map(|m| {
                (
                    m["mountPath"].as_str().expect("mountPath"),
                    m["name"].as_str().expect("mount name"),
                )
            })
            .collect();
        for path in ["/data", "/tmp"] {
            let name = mounts
                .get(path)
                .unwrap_or_else(|| panic!("{label}: nothing mounted at {path}"));
            let volume = volumes
                .get(name)
                .unwrap_or_else(|| panic!("{label}: volume {name} for {path} not declared"));
            assert!(
                volume["emptyDir"].is_object(),
                "{label}: {path} is an emptyDir by default: {volume}"
            );
            let mount = container(label)["volumeMounts"]
                .as_array()
                .expect("volumeMounts")
                .iter()
                .find(|m| m["mountPath"] == path)
                .expect("mount");
            assert_ne!(mount["readOnly"], true, "{label}: {path} must be writable");
        }
    }
}

#[test]
fn serves_kargo_mode_with_the_base_url_from_the_config_map() {
    for (label, _) in LAYOUTS {
        let docs = render(label);
        let c = container(label);
        assert_eq!(
            str_list(&c["args"]),
            [
                "serve",
                "--source",
                "kargo",
                "--listen",
                "0.0.0.0:8080",
                "--admin-listen",
                "0.0.0.0:8081",
                "--data-dir",
                "/data",
                "--base-url",
                "$(DOCKHAND_BASE_URL)",
            ],
            "{label}: container args"
        );
        assert!(
            c["command"].is_null(),
            "{label}: the image's entrypoint runs"
        );
        // Kubernetes expands $(VAR) only for variables declared in `env`.
        let env = c["env"]
            .as_array()
            .expect("env")
            .iter()
            .find(|e| e["name"] == "DOCKHAND_BASE_URL")
            .unwrap_or_else(|| panic!("{label}: DOCKHAND_BASE_URL not in env"));
        let key_ref = &env["valueFrom"]["configMapKeyRef"];
        assert_eq!(key_ref["key"], "DOCKHAND_BASE_URL", "{label}");
        let map_name = key_ref["name"].as_str().expect("configMapKeyRef.name");
        let map = one(label, docs, "ConfigMap", map_name);
        let url = map["data"]["DOCKHAND_BASE_URL"]
            .as_str()
            .unwrap_or_else(|| panic!("{label}: ConfigMap {map_name} has no DOCKHAND_BASE_URL"));
        // Kargo's default EXTERNAL_WEBHOOK_SERVER_BASE_URL: <api URL><api.basePath>/webhooks.
        assert!(
            url.starts_with("https://") && url.ends_with("/webhooks"),
            "{label}: base URL {url}"
        );
    }
}

#[test]
fn probes_check_healthz_and_readyz_on_the_webhook_port() {
    for (label, _) in LAYOUTS {
        let c = container(label);
        for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
            let get = &c[probe]["httpGet"];
            assert_eq!(get["path"], path, "{label}: {probe}");
            assert_eq!(
                container_port(label, &get["port"]),
                8080,
                "{label}: {probe}"
            );
            assert_ne!(get["scheme"], "HTTPS", "{label}: {probe} is plain HTTP");
        }
    }
}

#[test]
fn services_expose_the_webhook_on_80_and_the_admin_api_inside_the_cluster() {
    for (label, _) in LAYOUTS {
        let docs = render(label);
        assert_eq!(of_kind(docs, "Service").len(), 2, "{label}: two Services");

        let webhook = one(label, docs, "Service", webhook_service_name(label));
        let ports = webhook["spec"]["ports"].as_array().expect("ports");
        assert_eq!(ports.len(), 1, "{label}: webhook Service ports");
        assert_eq!(ports[0]["port"], 80, "{label}: webhook Service port");
        assert_eq!(
            container_port(label, &ports[0]["targetPort"]),
            8080,
            "{label}: webhook Service targetPort"
        );
        selects_pods(label, "webhook Service", &webhook["spec"]["selector"]);

        let admin = one(label, docs, "Service", "dockhand-admin");
        let spec_type = &admin["spec"]["type"];
        assert!(
            spec_type.is_null() || spec_type == "ClusterIP",
            "{label}: admin Service must stay inside the cluster, type {spec_type}"
        );
        let ports = admin["spec"]["ports"].as_array().expect("ports");
        assert_eq!(ports.len(), 1, "{label}: admin Service ports");
        assert_eq!(ports[0]["port"], 8081, "{label}: admin Service port");
        assert_eq!(
            container_port(label, &ports[0]["targetPort"]),
            8081,
            "{label}: admin Service targetPort"
        );
        selects_pods(label, "admin Service", &admin["spec"]["selector"]);
    }
}

#[test]
fn pod_disruption_budget_keeps_one_replica_and_allows_a_drain() {
    for (label, _) in LAYOUTS {
        let docs = render(label);
        assert_eq!(of_kind(docs, "PodDisruptionBudget").len(), 1, "{label}");
        let pdb = one(label, docs, "PodDisruptionBudget", "dockhand");
        assert_eq!(pdb["apiVersion"], "policy/v1", "{label}");
        assert_eq!(pdb["spec"]["minAvailable"], 1, "{label}");
        selects_pods(
            label,
            "PodDisruptionBudget",
            &pdb["spec"]["selector"]["matchLabels"],
        );
        let replicas = deployment(label)["spec"]["replicas"]
            .as_i64()
            .expect("replicas");
        assert!(
            replicas > 1,
            "{label}: with {replicas} replica(s) minAvailable 1 blocks every drain"
        );
        selects_pods(
            label,
            "Deployment selector",
            &deployment(label)["spec"]["selector"]["matchLabels"],
        );
    }
}

#[test]
fn pods_are_not_selected_by_kargos_own_webhook_service() {
    // Kargo's Service `kargo-external-webhooks-server` selects app.kubernetes.io/name=kargo and
    // component=external-webhooks-server; side by side, dockhand's Pods must not join it.
    for (label, _) in LAYOUTS {
        assert_eq!(
            pod_labels(label)["app.kubernetes.io/name"],
            "dockhand",
            "{label}"
        );
    }
}

/// The Ingress rules of a layout: (path, pathType, service, port).
fn ingress_paths(label: &str) -> Vec<(String, String, String, i64)> {
    let docs = render(label);
    let mut out = Vec::new();
    for ingress in of_kind(docs, "Ingress") {
        for rule in ingress["spec"]["rules"].as_array().expect("rules") {
            for path in rule["http"]["paths"].as_array().expect("paths") {
                let backend = &path["backend"]["service"];
                out.push((
                    path["path"].as_str().expect("path").to_string(),
                    path["pathType"].as_str().expect("pathType").to_string(),
                    backend["name"].as_str().expect("service name").to_string(),
                    backend["port"]["number"].as_i64().expect("port number"),
                ));
            }
        }
    }
    out
}

#[test]
fn replace_kargo_takes_kargos_webhook_route_and_service_name() {
    let label = "replace-kargo";
    // With externalWebhooksServer.enabled=false, Kargo's kargo-api Ingress drops its /webhooks
    // path; this overlay carries it, unrewritten, to the Service of Kargo's name.
    assert_eq!(
        ingress_paths(label),
        [(
            "/webhooks".to_string(),
            "Prefix".to_string(),
            "kargo-external-webhooks-server".to_string(),
            80
        )]
    );
    one(
        label,
        render(label),
        "Service",
        "kargo-external-webhooks-server",
    );
    assert!(
        of_kind(render(label), "Service")
            .iter()
            .all(|s| s["metadata"]["name"] != "dockhand-webhooks"),
        "{label}: the webhook Service is renamed, not duplicated"
    );
    assert!(
        ingress_paths("base").is_empty(),
        "the base ships no Ingress"
    );
}

#[test]
fn side_by_side_routes_only_the_listed_receiver_types_to_dockhand() {
    let label = "side-by-side";
    let paths = ingress_paths(label);
    let expected: Vec<(String, String, String, i64)> = ["/webhooks/azure", "/webhooks/harbor"]
        .iter()
        .map(|p| {
            (
                p.to_string(),
                "Prefix".to_string(),
                "dockhand-webhooks".to_string(),
                80,
            )
        })
        .collect();
    assert_eq!(paths, expected, "{label}: Ingress paths");
    // Kargo's own Service name stays Kargo's.
    assert!(of_kind(render(label), "Service")
        .iter()
        .all(|s| s["metadata"]["name"] != "kargo-external-webhooks-server"));
}

#[test]
fn dockerfile_builds_the_binary_and_runs_it_as_the_deployments_user() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).expect("Dockerfile");
    let instructions: Vec<&str> = dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let froms: Vec<&str> = instructions
        .iter()
        .copied()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(
        froms,
        [
            "FROM rust:1.95-bookworm AS build",
            "FROM debian:bookworm-slim"
        ],
        "a build stage and a slim runtime stage"
    );
    assert!(
        dockerfile.contains("cargo build --release --locked --bin dockhand"),
        "the release binary, built from Cargo.lock"
    );
    assert!(
        dockerfile.contains("ca-certificates") && dockerfile.contains(" git"),
        "the runtime has CA certificates and git"
    );
    let user = instructions
        .iter()
        .rev()
        .find(|l| l.starts_with("USER "))
        .expect("the image sets a USER");
    assert_eq!(
        *user,
        format!("USER {UID}:{UID}"),
        "the image's user is the Deployment's runAsUser"
    );
    let entrypoint = instructions
        .iter()
        .find(|l| l.starts_with("ENTRYPOINT "))
        .expect("ENTRYPOINT");
    assert_eq!(*entrypoint, r#"ENTRYPOINT ["/usr/local/bin/dockhand"]"#);

    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).expect(".dockerignore");
    let ignored: Vec<&str> = ignore.lines().map(str::trim).collect();
    for needed in [".git", "**/target"] {
        assert!(ignored.contains(&needed), ".dockerignore lacks {needed}");
    }
    // The workspace members must reach the build stage, or `cargo build --locked` fails.
    for member in ["crates", "bench", "benches", "src", "Cargo.lock"] {
        assert!(
            !ignored.contains(&member),
            ".dockerignore must not exclude {member}"
        );
    }
}
