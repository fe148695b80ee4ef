//! Generated Kargo manifests: `per_project` Warehouses per project, one azure receiver per
//! project, 3 subscriptions per Warehouse (its own image with a SemVer constraint, the project's
//! shared base image — `per_project` subscribers on one key, what the storm pushes to — and its
//! own Azure Repos git repository). `targets.tsv` lists one matching push per Warehouse.

use std::fmt::Write as _;
use std::path::Path;

use dockhand_core::config::receiver_path;
use dockhand_core::receivers::azure;
use serde_json::json;

use crate::registry;

pub fn run(warehouses: usize, per_project: usize, out: &Path) -> anyhow::Result<serde_json::Value> {
    anyhow::ensure!(per_project > 0, "--per-project must be positive");
    let dir = out.join("manifests");
    std::fs::create_dir_all(&dir)?;
    let projects = warehouses.div_ceil(per_project);
    let mut targets = String::new();
    let mut bytes = 0usize;
    for p in 0..projects {
        let project = format!("p{p:04}");
        let secret = format!("bench-secret-{project}");
        let mut y = String::new();
        let _ = write!(
            y,
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: acr-secret\n  namespace: {project}\n  labels:\n    kargo.akuity.io/cred-type: generic\nstringData:\n  secret: {secret}\n---\n\
             apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata:\n  name: {project}\n---\n\
             apiVersion: kargo.akuity.io/v1alpha1\nkind: ProjectConfig\nmetadata:\n  name: {project}\n  namespace: {project}\nspec:\n  webhookReceivers:\n  - name: acr\n    azure:\n      secretRef:\n        name: acr-secret\n"
        );
        let path = receiver_path(&azure::TYPE, &project, "acr", &secret);
        let reg = registry();
        let first = p * per_project;
        for w in first..(first + per_project).min(warehouses) {
            let name = format!("w{w:06}");
            let _ = write!(
                y,
                "---\napiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata:\n  name: {name}\n  namespace: {project}\nspec:\n  subscriptions:\n  - image:\n      repoURL: {reg}/{project}/app-{w:06}\n      constraint: ^1.0.0\n  - image:\n      repoURL: {reg}/{project}/base\n      constraint: \">=1.0.0 <3.0.0\"\n  - git:\n      repoURL: http://{reg}/git/{project}/svc-{w:06}.git\n      branch: main\n"
            );
            let _ = writeln!(
                targets,
                "{path}\t{project}/app-{w:06}\t1.{}.0\t{project}\t{name}",
                w % 10
            );
        }
        bytes += y.len();
        std::fs::write(dir.join(format!("{project}.yaml")), y)?;
    }
    std::fs::write(out.join("targets.tsv"), targets)?;
    Ok(json!({
        "warehouses": warehouses,
        "projects": projects,
        "subscriptions": warehouses * 3,
        "manifestBytes": bytes,
    }))
}
