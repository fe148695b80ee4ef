//! Issue 17 items 14 and 15, fidelity with Kargo: git `repoURL`s Kargo's admission accepts load
//! (with a warning when they name no usable repository) and never keep other Warehouses from
//! loading; invisible characters in a `repoURL` are removed before normalizing, as Kargo does.

use crate::common::*;
use serde_json::json;

/// Git URLs Kargo's CRD pattern admits that name no repository dockhand can match webhooks to.
const KARGO_ADMITTED: &[&str] = &[
    "http://github.com/example/repo?foo=bar",
    "https://github.com/",
    "https://foo:bar@github.com/",
    "ssh://git.example.com/",
    "https://example.com/ myrepo",
];

fn git_warehouse(name: &str, url: &str) -> String {
    format!(
        "---\napiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata:\n  name: {name}\n  namespace: kargo-demo\nspec:\n  subscriptions:\n  - git:\n      repoURL: '{url}'\n"
    )
}

/// The base configuration, a Warehouse webhooks can refresh, and one Warehouse per URL of
/// `KARGO_ADMITTED` (`odd-0` ...).
fn folder() -> tempfile::TempDir {
    let mut files = vec![
        ("c.yaml".to_string(), BASE_CONFIG.to_string()),
        (
            "good.yaml".to_string(),
            image_warehouse("kargo-demo", "good", "myregistry.azurecr.io/app", "^1.0.0"),
        ),
    ];
    for (i, url) in KARGO_ADMITTED.iter().enumerate() {
        files.push((
            format!("odd-{i}.yaml"),
            git_warehouse(&format!("odd-{i}"), url),
        ));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    config_dir(&refs)
}

#[test]
fn check_accepts_git_urls_kargo_admits_and_warns_about_each() {
    let dir = folder();
    let out = dockhand(&["check", "--config", dir.path().to_str().unwrap()]);
    let (out_text, err_text) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "{out_text}\n{err_text}");
    assert!(
        out_text.contains("6 warehouse(s)"),
        "every Warehouse loads: {out_text}"
    );
    let warnings: Vec<&str> = err_text
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert_eq!(warnings.len(), KARGO_ADMITTED.len(), "{err_text}");
    for i in 0..KARGO_ADMITTED.len() {
        assert!(
            warnings.iter().any(|w| w.contains(&format!("odd-{i}.yaml"))
                && w.contains("spec.subscriptions[0].git.repoURL")
                && w.contains("no webhook will refresh this subscription")),
            "no warning for odd-{i}: {err_text}"
        );
    }
    assert!(
        !err_text.contains("foo:bar"),
        "a password is shown: {err_text}"
    );

    // A URL Kargo's admission refuses is still an error.
    let bad = config_dir(&[
        ("c.yaml", BASE_CONFIG),
        ("w.yaml", &git_warehouse("bad", "https://github.com")),
    ]);
    let out = dockhand(&["check", "--config", bad.path().to_str().unwrap()]);
    assert!(!out.status.success(), "{}", stdout(&out));
}

#[test]
fn one_warehouse_with_an_unusable_url_never_blocks_the_others() {
    let dir = folder();
    let s = Server::start(&[dir.path()], &[]);
    let path = s.receiver_path("azure-wh-receiver");
    let (status, body) = s.post(
        &path,
        &[ACR_UA],
        &acr_push("f-1", "myregistry.azurecr.io", "app", "1.0.0"),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)", "{body}");
    let d = s.deliveries();
    assert_eq!(d[0]["refreshed"], json!(["kargo-demo/good"]));

    // The admin API says why no webhook refreshes the odd subscriptions.
    for (i, url) in KARGO_ADMITTED.iter().enumerate() {
        let w = s.warehouse("kargo-demo", &format!("odd-{i}"));
        let sub = &w["subscriptions"][0];
        let warning = sub["warning"].as_str().unwrap_or_default();
        assert!(
            warning.contains("is not a valid git repository URL"),
            "{url}: {w}"
        );
        assert!(!warning.contains("foo:bar"), "{warning}");
    }
    assert!(s.warehouse("kargo-demo", "good")["subscriptions"][0]["warning"].is_null());
    // The metric counts them; the log warned at start.
    let metrics = s
        .http
        .get(s.admin_url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == format!("dockhand_unusable_subscriptions {}", KARGO_ADMITTED.len())),
        "{metrics}"
    );
    assert!(
        s.logs()
            .contains("no webhook will refresh this subscription"),
        "{}",
        s.logs()
    );
}

#[test]
fn invisible_characters_in_a_repo_url_are_removed_as_kargo_does() {
    // A zero-width space and a byte order mark, as pasted from a web page (YAML escapes).
    let image = "---\napiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata:\n  name: zwsp-image\n  namespace: kargo-demo\nspec:\n  subscriptions:\n  - image:\n      repoURL: \"\\ufeffmyregistry.azurecr.io/\\u200bapp\"\n";
    let git = "---\napiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata:\n  name: zwsp-git\n  namespace: kargo-demo\nspec:\n  subscriptions:\n  - git:\n      repoURL: \"https://dev.azure.com/alexander0053/alex-test/_git/\\u200balex-test\"\n      branch: master\n";
    let dir = config_dir(&[("c.yaml", BASE_CONFIG), ("i.yaml", image), ("g.yaml", git)]);
    let s = Server::start(&[dir.path()], &[]);
    let path = s.receiver_path("azure-wh-receiver");

    let (status, body) = s.post(
        &path,
        &[ACR_UA],
        &acr_push("z-1", "myregistry.azurecr.io", "app", "1.0.0"),
    );
    assert_eq!(
        (status, &body["msg"]),
        (200, &json!("refreshed 1 warehouse(s)")),
        "{body}"
    );
    assert_eq!(
        s.deliveries()[0]["refreshed"],
        json!(["kargo-demo/zwsp-image"])
    );

    let (status, body) = s.post(
        &path,
        &[("User-Agent", "VSServices/16.255.0")],
        &fixture("azure-devops-git-push.json"),
    );
    assert_eq!(
        (status, &body["msg"]),
        (200, &json!("refreshed 1 warehouse(s)")),
        "{body}"
    );
    assert_eq!(
        s.deliveries()[0]["refreshed"],
        json!(["kargo-demo/zwsp-git"])
    );
    for name in ["zwsp-image", "zwsp-git"] {
        let w = s.warehouse("kargo-demo", name);
        assert!(w["subscriptions"][0]["warning"].is_null(), "{w}");
    }
}
