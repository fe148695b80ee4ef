//! Issue 3: matching before refreshing, explained misses, coalescing, durability across SIGKILL.

use crate::common::*;
use serde_json::Value;

fn two_projects() -> String {
    let mut c = BASE_CONFIG.to_string();
    c.push_str(
        r#"
---
apiVersion: v1
kind: Secret
metadata:
  name: azure-wh-secret
  namespace: other
stringData:
  secret: test-azure-secret-value
---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata:
  name: other
  namespace: other
spec:
  webhookReceivers:
  - name: azure-wh-receiver
    azure:
      secretRef:
        name: azure-wh-secret
"#,
    );
    for (p, n, repo, c2) in [
        (
            "kargo-demo",
            "v1",
            "myregistry.azurecr.io/team/app",
            "^1.0.0",
        ),
        (
            "kargo-demo",
            "v2",
            "MyRegistry.azurecr.io/team/app",
            "^2.0.0",
        ),
        (
            "kargo-demo",
            "v1-again",
            "myregistry.azurecr.io/team/app:latest",
            ">=1.2 <1.5",
        ),
        (
            "kargo-demo",
            "elsewhere",
            "myregistry.azurecr.io/team/other",
            "^1.0.0",
        ),
        ("other", "v1", "myregistry.azurecr.io/team/app", "^1.0.0"),
    ] {
        c.push_str(&image_warehouse(p, n, repo, c2));
    }
    c
}

fn receiver_for(s: &Server, project: &str) -> String {
    let list = s.admin_get("/api/v1/receivers");
    list.as_array()
        .unwrap()
        .iter()
        .find(|r| r["project"] == project && r["type"] == "azure")
        .and_then(|r| r["path"].as_str())
        .unwrap()
        .to_string()
}

#[test]
fn semver_rejection_is_explained_and_refreshes_nothing() {
    let dir = config_dir(&[("c.yaml", &two_projects())]);
    let s = Server::start(&[dir.path()], &[]);
    let path = receiver_for(&s, "kargo-demo");
    let (status, body) = s.post(
        &path,
        &[ACR_UA],
        &acr_push("a", "myregistry.azurecr.io", "team/app", "0.9.0"),
    );
    assert_eq!(status, 200);
    assert_eq!(body["msg"], "refreshed 0 warehouse(s)");
    let d = &s.deliveries()[0];
    assert_eq!(d["outcome"], "unmatched");
    let why: Vec<String> = d["explanation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(why.len(), 3, "{why:?}");
    assert!(
        why.iter()
            .any(|w| w.contains("kargo-demo/v1 ") && w.contains("^1.0.0")),
        "{why:?}"
    );
    assert!(
        why.iter()
            .any(|w| w.contains("kargo-demo/v2 ") && w.contains("^2.0.0")),
        "{why:?}"
    );

    // An unknown repository says which normalized URL it looked for.
    let (_, body) = s.post(
        &path,
        &[ACR_UA],
        &acr_push("b", "MyRegistry.azurecr.io", "team/nothing", "1.0.0"),
    );
    assert_eq!(body["msg"], "refreshed 0 warehouse(s)");
    let d = &s.deliveries()[0];
    let why = d["explanation"][0].as_str().unwrap();
    assert!(
        why.contains(
            "no Warehouse in this project subscribes to myregistry.azurecr.io/team/nothing"
        ),
        "{why}"
    );

    // The CLI shows the reason.
    let out = dockhand(&["deliveries", "--server", &s.admin_server()]);
    assert!(
        stdout(&out).contains("no Warehouse in this project subscribes"),
        "{}",
        stdout(&out)
    );
    let metrics = s
        .http
        .get(s.admin_url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("dockhand_unmatched_targets_total{reason=\"rejected_by_rules\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("dockhand_unmatched_targets_total{reason=\"no_subscriber\"} 1"),
        "{metrics}"
    );
}

#[test]
fn matching_tag_refreshes_exactly_the_right_warehouses_per_project() {
    let dir = config_dir(&[("c.yaml", &two_projects())]);
    let s = Server::start(&[dir.path()], &[]);
    let (status, body) = s.post(
        &receiver_for(&s, "kargo-demo"),
        &[ACR_UA],
        &acr_push("a", "myregistry.azurecr.io", "team/app", "1.3.0"),
    );
    assert_eq!(status, 200);
    assert_eq!(body["msg"], "refreshed 2 warehouse(s)");
    let d = &s.deliveries()[0];
    assert_eq!(
        d["refreshed"],
        serde_json::json!(["kargo-demo/v1", "kargo-demo/v1-again"])
    );

    let (_, body) = s.post(
        &receiver_for(&s, "other"),
        &[ACR_UA],
        &acr_push("b", "myregistry.azurecr.io", "team/app", "2.0.0"),
    );
    assert_eq!(body["msg"], "refreshed 0 warehouse(s)");
    let (_, body) = s.post(
        &receiver_for(&s, "other"),
        &[ACR_UA],
        &acr_push("c", "myregistry.azurecr.io", "team/app", "1.0.1"),
    );
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
    assert_eq!(
        s.deliveries()[0]["refreshed"],
        serde_json::json!(["other/v1"])
    );
    s.wait_for("reconciles", |s| {
        s.warehouse("kargo-demo", "v1")["reconcileCount"] == 1
            && s.warehouse("other", "v1")["reconcileCount"] == 1
    });
    assert_eq!(s.warehouse("kargo-demo", "v2")["reconcileCount"], 0);

    // A push by digest (no tag) refreshes every subscriber of the repository.
    let (_, body) = s.post(
        &receiver_for(&s, "kargo-demo"),
        &[ACR_UA],
        &acr_push("d", "myregistry.azurecr.io", "team/app", ""),
    );
    assert_eq!(body["msg"], "refreshed 3 warehouse(s)");
}

#[test]
fn a_storm_of_webhooks_reconciles_each_warehouse_at_most_twice() {
    let dir = config_dir(&[("c.yaml", &two_projects())]);
    let s = Server::start(&[dir.path()], &[]);
    let path = receiver_for(&s, "kargo-demo");
    let start = std::time::Instant::now();
    for i in 0..50 {
        let (status, _) = s.post(
            &path,
            &[ACR_UA],
            &acr_push(
                &format!("storm-{i}"),
                "myregistry.azurecr.io",
                "team/app",
                "1.4.0",
            ),
        );
        assert_eq!(status, 200);
    }
    assert!(
        start.elapsed().as_secs_f64() < 2.0,
        "the storm took too long to send"
    );
    assert_eq!(s.deliveries().len(), 50);
    // Let the follow-up run happen (cooldown 2s), then count.
    s.wait_for("follow-up reconcile", |s| {
        let w = s.warehouse("kargo-demo", "v1");
        w["reconcileCount"] == 2 && w["pending"] == false
    });
    std::thread::sleep(std::time::Duration::from_secs(3));
    for name in ["v1", "v1-again"] {
        let w = s.warehouse("kargo-demo", name);
        assert_eq!(w["reconcileCount"], 2, "{w}");
        assert_eq!(w["refreshCount"], 50, "{w}");
    }
    let metrics = s
        .http
        .get(s.admin_url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let coalesced: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("dockhand_refreshes_coalesced_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(coalesced >= 90, "{metrics}");
}

#[test]
fn a_pending_refresh_survives_sigkill() {
    let dir = config_dir(&[("c.yaml", &two_projects())]);
    // A long cooldown keeps the second refresh pending (not yet reconciled) when we kill.
    let mut s = Server::start(&[dir.path()], &["--refresh-cooldown", "1h"]);
    let path = receiver_for(&s, "kargo-demo");
    let (_, body) = s.post(
        &path,
        &[ACR_UA],
        &acr_push("k1", "myregistry.azurecr.io", "team/app", "1.4.0"),
    );
    assert_eq!(body["msg"], "refreshed 2 warehouse(s)");
    s.wait_for("first reconcile", |s| {
        s.warehouse("kargo-demo", "v1")["reconcileCount"] == 1
    });
    let (status, _) = s.post(
        &path,
        &[ACR_UA],
        &acr_push("k2", "myregistry.azurecr.io", "team/app", "1.4.1"),
    );
    assert_eq!(status, 200);
    let w: Value = s.warehouse("kargo-demo", "v1");
    assert_eq!(w["pending"], true, "{w}");
    s.kill9();
    s.restart();
    s.wait_for("resumed reconcile", |s| {
        let w = s.warehouse("kargo-demo", "v1");
        w["reconcileCount"] == 2 && w["pending"] == false
    });
    assert_eq!(s.deliveries().len(), 2);
}

#[test]
fn every_warehouse_is_reconciled_each_interval() {
    let mut cfg = BASE_CONFIG.to_string();
    cfg.push_str("---\napiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata: {name: fast, namespace: kargo-demo}\nspec:\n  interval: 1s\n  subscriptions:\n  - image: {repoURL: myregistry.azurecr.io/fast}\n");
    cfg.push_str(&image_warehouse(
        "kargo-demo",
        "slow",
        "myregistry.azurecr.io/slow",
        "^1.0.0",
    ));
    let dir = config_dir(&[("c.yaml", &cfg)]);
    let s = Server::start(&[dir.path()], &["--refresh-cooldown", "0s"]);
    s.wait_for("two interval reconciles", |s| {
        s.warehouse("kargo-demo", "fast")["reconcileCount"]
            .as_u64()
            .unwrap_or(0)
            >= 2
    });
    // The default interval (5m) has not elapsed for the other one.
    assert_eq!(s.warehouse("kargo-demo", "slow")["reconcileCount"], 0);
}
