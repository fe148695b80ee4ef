//! Discovery end to end: the real binary against a real registry (CNCF Distribution), real git
//! served by `git http-backend`, chart indexes and misbehaving registries served by the harness.

use std::time::{Duration, Instant};

use crate::common::*;
use crate::support::git::{GitServer, Repo};
use crate::support::registry::Registry;
use crate::support::web::{self, Reply, Web};
use serde_json::{json, Value};

const PROJECT: &str = "kargo-demo";

/// BASE_CONFIG plus `manifests`, in a temporary directory.
fn config(manifests: &str) -> tempfile::TempDir {
    config_dir(&[("base.yaml", BASE_CONFIG), ("warehouses.yaml", manifests)])
}

fn start(dir: &tempfile::TempDir) -> Server {
    Server::start(
        &[dir.path()],
        &["--refresh-cooldown", "0s", "--discovery-timeout", "2s"],
    )
}

/// A Warehouse with the given subscriptions (YAML list items, indented by four) and spec lines.
fn warehouse(name: &str, spec_extra: &str, subscriptions: &str) -> String {
    format!(
        "---\napiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata:\n  name: {name}\n  namespace: {PROJECT}\nspec:\n{spec_extra}  subscriptions:\n{subscriptions}"
    )
}

fn image_sub(repo: &str, extra: &str) -> String {
    format!("  - image:\n      repoURL: {repo}\n{extra}")
}

fn reconciles(s: &Server, name: &str) -> u64 {
    s.warehouse(PROJECT, name)["reconcileCount"]
        .as_u64()
        .unwrap_or(0)
}

/// Requests a refresh and waits for the reconcile it causes; returns the Warehouse detail.
fn refresh(s: &Server, name: &str) -> Value {
    let before = reconciles(s, name);
    let resp = s
        .http
        .post(s.admin_url(&format!("/api/v1/warehouses/{PROJECT}/{name}/refresh")))
        .send()
        .expect("refresh");
    assert_eq!(resp.status(), 202);
    s.wait_for("a reconcile", |s| reconciles(s, name) > before);
    s.warehouse(PROJECT, name)
}

/// Refreshes until `ok` holds for the Warehouse detail (a failing subscription backs off, so
/// the first refreshes after a fix may still report the old error).
fn refresh_until(s: &Server, name: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let w = refresh(s, name);
        if ok(&w) {
            return w;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {w}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// `dockhand freight PROJECT/NAME -o json`, through the CLI.
fn freight(s: &Server, name: &str) -> Vec<Value> {
    let out = dockhand(&[
        "freight",
        &format!("{PROJECT}/{name}"),
        "--server",
        &s.admin_server(),
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str::<Value>(&stdout(&out))
        .expect("json")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn healthy(s: &Server) {
    let r = s.http.get(s.url("/healthz")).send().expect("healthz");
    assert_eq!(r.status(), 200);
    let r = s.http.get(s.url("/readyz")).send().expect("readyz");
    assert_eq!(r.status(), 200);
}

fn last_error(w: &Value) -> String {
    w["lastError"].as_str().unwrap_or_default().to_string()
}

#[test]
fn acr_push_yields_freight_with_tag_and_digest() {
    let reg = Registry::start();
    let repo = format!("{}/team/app", reg.host());
    let dir = config(&warehouse(
        "app",
        "",
        &image_sub(&repo, "      constraint: ^1.0.0\n"),
    ));
    let s = start(&dir);
    let path = s.receiver_path("azure-wh-receiver");

    let (digest, _) = reg.push_image(
        "team/app",
        Some("v1.2.0"),
        "linux",
        "amd64",
        "2024-01-02T00:00:00Z",
    );
    let started = Instant::now();
    let (status, body) = s.post(
        &path,
        &[ACR_UA],
        &acr_push("d1", &reg.host(), "team/app", "v1.2.0"),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
    s.wait_for("Freight after the push", |s| !freight(s, "app").is_empty());
    eprintln!("push webhook to Freight: {:?}", started.elapsed());
    let list = freight(&s, "app");
    assert_eq!(list.len(), 1, "{list:?}");
    let f = &list[0];
    assert_eq!(f["warehouse"], "app");
    assert_eq!(f["id"].as_str().unwrap().len(), 40);
    assert!(f["alias"].as_str().is_some_and(|a| !a.is_empty()));
    assert_eq!(
        f["artifacts"]["images"],
        json!([{"repoURL": repo, "tag": "v1.2.0", "digest": digest}])
    );

    // A lower version is discovered but the newest is still v1.2.0: no new Freight.
    reg.push_image(
        "team/app",
        Some("v1.1.9"),
        "linux",
        "amd64",
        "2024-01-03T00:00:00Z",
    );
    let before = reconciles(&s, "app");
    let (status, _) = s.post(
        &path,
        &[ACR_UA],
        &acr_push("d2", &reg.host(), "team/app", "v1.1.9"),
    );
    assert_eq!(status, 200);
    s.wait_for("the reconcile of the second push", |s| {
        reconciles(s, "app") > before
    });
    let again = freight(&s, "app");
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0]["id"], f["id"]);

    // The Warehouse shows what was discovered, newest first.
    let w = s.warehouse(PROJECT, "app");
    let tags: Vec<&str> = w["subscriptions"][0]["discovered"]["images"]
        .as_array()
        .expect("discovered images")
        .iter()
        .filter_map(|i| i["tag"].as_str())
        .collect();
    assert_eq!(tags, ["v1.2.0", "v1.1.9"]);
    assert!(w["lastError"].is_null(), "{w}");

    // The table output names the image.
    let out = dockhand(&[
        "freight",
        &format!("{PROJECT}/app"),
        "--server",
        &s.admin_server(),
    ]);
    assert!(
        stdout(&out).contains(&format!("image {repo}:v1.2.0@sha256:")),
        "{}",
        stdout(&out)
    );

    // A higher version makes a second Freight, listed first.
    reg.push_image(
        "team/app",
        Some("v1.3.0"),
        "linux",
        "amd64",
        "2024-01-04T00:00:00Z",
    );
    s.post(
        &path,
        &[ACR_UA],
        &acr_push("d3", &reg.host(), "team/app", "v1.3.0"),
    );
    s.wait_for("a second Freight", |s| freight(s, "app").len() == 2);
    assert_eq!(
        freight(&s, "app")[0]["artifacts"]["images"][0]["tag"],
        "v1.3.0"
    );
}

#[test]
fn platform_picks_its_digest_from_an_index() {
    let reg = Registry::start();
    let repo = format!("{}/team/multi", reg.host());
    let manifests = [
        warehouse(
            "arm",
            "",
            &image_sub(&repo, "      platform: linux/arm64\n"),
        ),
        warehouse(
            "amd",
            "",
            &image_sub(&repo, "      platform: linux/amd64\n"),
        ),
        warehouse("any", "", &image_sub(&repo, "")),
        warehouse(
            "s390x",
            "",
            &image_sub(&repo, "      platform: linux/s390x\n"),
        ),
        warehouse(
            "newest-build",
            "",
            &image_sub(&repo, "      imageSelectionStrategy: NewestBuild\n"),
        ),
        warehouse(
            "digest",
            "",
            &image_sub(
                &repo,
                "      imageSelectionStrategy: Digest\n      constraint: latest\n",
            ),
        ),
    ]
    .concat();
    let dir = config(&manifests);
    let s = start(&dir);
    let (index, digests) = reg.push_index(
        "team/multi",
        "v2.0.0",
        &[("linux", "amd64"), ("linux", "arm64")],
    );
    let (old, _) = reg.push_image(
        "team/multi",
        Some("v1.0.0"),
        "linux",
        "arm64",
        "2023-01-01T00:00:00Z",
    );
    let (latest, _) = reg.push_image(
        "team/multi",
        Some("latest"),
        "linux",
        "amd64",
        "2025-01-01T00:00:00Z",
    );

    let digest_of = |name: &str| {
        let w = refresh(&s, name);
        assert!(w["lastError"].is_null(), "{w}");
        w["subscriptions"][0]["discovered"]["images"][0].clone()
    };
    let arm = digest_of("arm");
    assert_eq!(arm["tag"], "v2.0.0");
    assert_eq!(
        arm["digest"], digests[1],
        "the arm64 manifest, not the index"
    );
    assert_eq!(digest_of("amd")["digest"], digests[0]);
    assert_eq!(digest_of("any")["digest"], index);
    // No s390x anywhere: nothing discovered, no Freight.
    let w = refresh(&s, "s390x");
    assert_eq!(w["subscriptions"][0]["discovered"], json!({}), "{w}");
    assert!(freight(&s, "s390x").is_empty());
    let _ = old;
    // NewestBuild: the image built last (`latest`, 2025) comes first.
    let nb = digest_of("newest-build");
    assert_eq!(nb["tag"], "latest");
    assert_eq!(nb["createdAt"], "2025-01-01T00:00:00Z");
    // Digest: the mutable tag's current digest.
    assert_eq!(digest_of("digest")["digest"], latest);
    let (moved, _) = reg.push_image(
        "team/multi",
        Some("latest"),
        "linux",
        "amd64",
        "2025-02-01T00:00:00Z",
    );
    assert_eq!(digest_of("digest")["digest"], moved);
    assert_eq!(freight(&s, "digest").len(), 2);
}

#[test]
fn charts_from_an_oci_registry_and_a_classic_index() {
    let reg = Registry::start();
    for v in ["1.0.0", "1.1.0", "2.0.0", "1.2.0+build.5"] {
        reg.push_chart("charts/app", v);
    }
    let web = Web::start();
    web.route(
        "/charts/index.yaml",
        Reply::Send(
            200,
            vec![],
            b"apiVersion: v1\nentries:\n  app:\n  - version: 1.0.0\n  - version: 1.3.0\n  - version: 2.0.0\n  other:\n  - version: 9.0.0\n".to_vec(),
        ),
    );
    let manifests = [
        warehouse(
            "oci-chart",
            "",
            &format!(
                "  - chart:\n      repoURL: oci://{}/charts/app\n      semverConstraint: ^1.0.0\n",
                reg.host()
            ),
        ),
        warehouse(
            "classic-chart",
            "",
            &format!(
                "  - chart:\n      repoURL: {}\n      name: app\n      semverConstraint: ^1.0.0\n",
                web.url("/charts")
            ),
        ),
        warehouse(
            "missing-chart",
            "",
            &format!(
                "  - chart:\n      repoURL: {}\n      name: nope\n",
                web.url("/charts")
            ),
        ),
    ]
    .concat();
    let dir = config(&manifests);
    let s = start(&dir);
    let w = refresh(&s, "oci-chart");
    assert!(w["lastError"].is_null(), "{w}");
    let versions: Vec<&str> = w["subscriptions"][0]["discovered"]["charts"]
        .as_array()
        .expect("charts")
        .iter()
        .filter_map(|c| c["version"].as_str())
        .collect();
    assert_eq!(versions, ["1.2.0+build.5", "1.1.0", "1.0.0"]);
    assert_eq!(
        freight(&s, "oci-chart")[0]["artifacts"]["charts"][0]["version"],
        "1.2.0+build.5"
    );

    let w = refresh(&s, "classic-chart");
    assert!(w["lastError"].is_null(), "{w}");
    let f = freight(&s, "classic-chart");
    assert_eq!(
        f[0]["artifacts"]["charts"],
        json!([{"repoURL": web.url("/charts"), "name": "app", "version": "1.3.0"}])
    );
    let w = refresh(&s, "missing-chart");
    assert!(last_error(&w).contains("no chart named \"nope\""), "{w}");
}

#[test]
fn azure_devops_git_push_yields_freight_with_the_commit() {
    let repo = Repo::new("app");
    let server = GitServer::start(repo.root.path(), None);
    let url = server.url("app");
    let dir = config(&warehouse(
        "gitops",
        "",
        &format!("  - git:\n      repoURL: {url}\n      branch: main\n"),
    ));
    let s = start(&dir);
    let path = s.receiver_path("azure-wh-receiver");
    let push = |commit: &str| {
        let mut payload: Value =
            serde_json::from_str(&fixture("azure-devops-git-push.json")).expect("fixture");
        let r = &mut payload["resource"];
        r["repository"]["remoteUrl"] = json!(url);
        r["repository"]["defaultBranch"] = json!("refs/heads/main");
        r["refUpdates"] = json!([{"name": "refs/heads/main", "oldObjectId": "0".repeat(40), "newObjectId": commit}]);
        // Each push is a new delivery (a reused id would be a redelivery).
        payload["id"] = json!(format!("push-{commit}"));
        let (status, body) = s.post(
            &path,
            &[("User-Agent", "VSServices/16.255.0")],
            &payload.to_string(),
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["msg"], "refreshed 1 warehouse(s)", "{body}");
    };

    let first = repo.commit("app/deploy.yaml", "replicas: 1\n");
    push(&first);
    s.wait_for("Freight with the commit", |s| {
        !freight(s, "gitops").is_empty()
    });
    let f = freight(&s, "gitops");
    assert_eq!(
        f[0]["artifacts"]["commits"],
        json!([{"repoURL": url, "id": first, "branch": "main"}])
    );

    let second = repo.commit("app/deploy.yaml", "replicas: 2\n");
    push(&second);
    s.wait_for("a second Freight", |s| freight(s, "gitops").len() == 2);
    assert_eq!(
        freight(&s, "gitops")[0]["artifacts"]["commits"][0]["id"],
        second
    );
}

#[test]
fn git_strategies_paths_and_credentials() {
    let repo = Repo::new("lib");
    let v100 = repo.commit("src/a.rs", "1");
    repo.tag("v1.0.0", "2024-01-01T00:00:00Z");
    let v110 = repo.commit("src/a.rs", "2");
    repo.tag("v1.1.0", "2024-02-01T00:00:00Z");
    let v200 = repo.commit("src/a.rs", "3");
    repo.tag("v2.0.0", "2024-03-01T00:00:00Z");
    repo.tag("zzz-not-semver", "2024-04-01T00:00:00Z");
    let src_change = repo.commit("src/b.rs", "4");
    let docs_change = repo.commit("docs/readme.md", "5");
    let _ = (v100, v200);
    let server = GitServer::start(repo.root.path(), Some(("bot", "git-test-password")));
    let http_url = server.url("lib");
    let file_url = repo.file_url();
    let sub = |url: &str, extra: &str| format!("  - git:\n      repoURL: {url}\n{extra}");
    let manifests = [
        warehouse(
            "semver",
            "",
            &sub(&file_url, "      commitSelectionStrategy: SemVer\n      semverConstraint: ^1.0.0\n"),
        ),
        warehouse("lexical", "", &sub(&file_url, "      commitSelectionStrategy: Lexical\n")),
        warehouse("newest-tag", "", &sub(&file_url, "      commitSelectionStrategy: NewestTag\n      allowTags: ^v\n")),
        warehouse(
            "paths",
            "",
            &sub(&file_url, "      includePaths:\n      - src\n"),
        ),
        warehouse(
            "manual",
            "  freightCreationPolicy: Manual\n",
            &sub(&file_url, ""),
        ),
        warehouse("private", "", &sub(&http_url, "")),
        "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: git-creds\n  namespace: kargo-demo\n  labels:\n    kargo.akuity.io/cred-type: git\nstringData:\n  repoURL: ^http://127\\.0\\.0\\.1:[0-9]+/lib\\.git$\n  repoURLIsRegex: \"true\"\n  username: bot\n  password: git-test-password\n".to_string(),
        warehouse("no-creds", "", &sub(&http_url.replace("lib.git", "lib.git/"), "")),
    ]
    .concat();
    let dir = config(&manifests);
    let s = start(&dir);
    let commit_of = |name: &str| {
        let w = refresh(&s, name);
        assert!(w["lastError"].is_null(), "{name}: {w}");
        w["subscriptions"][0]["discovered"]["commits"][0].clone()
    };
    let c = commit_of("semver");
    assert_eq!(
        (c["tag"].as_str(), c["id"].as_str()),
        (Some("v1.1.0"), Some(v110.as_str()))
    );
    assert_eq!(commit_of("lexical")["tag"], "zzz-not-semver");
    assert_eq!(commit_of("newest-tag")["tag"], "v2.0.0");
    let c = commit_of("paths");
    assert_eq!(
        c["id"], src_change,
        "the newest commit under src/, not the docs change"
    );
    assert_eq!(c["branch"], "main");
    let c = commit_of("manual");
    assert_eq!(c["id"], docs_change);
    assert!(
        freight(&s, "manual").is_empty(),
        "Manual policy: discovery only"
    );
    assert_eq!(commit_of("private")["id"], docs_change);
    // The regex credential does not cover the other spelling: git is refused.
    let w = refresh(&s, "no-creds");
    assert!(!last_error(&w).is_empty(), "{w}");
    let all = format!("{}{}", s.logs(), s.admin_get("/api/v1/warehouses"));
    assert!(!all.contains("git-test-password"), "a password leaked");
}

#[test]
fn registry_down_then_up() {
    let port = free_port();
    let repo = format!("127.0.0.1:{port}/team/app");
    let local = Repo::new("x");
    let dir = config(
        &[
            warehouse("down", "", &image_sub(&repo, "")),
            warehouse(
                "fine",
                "",
                &format!("  - git:\n      repoURL: {}\n", local.file_url()),
            ),
        ]
        .concat(),
    );
    let s = start(&dir);
    let w = refresh(&s, "down");
    assert!(last_error(&w).contains("cannot connect"), "{w}");
    assert!(w["subscriptions"][0]["error"]
        .as_str()
        .is_some_and(|e| e.contains("cannot connect")));
    healthy(&s);
    // Another Warehouse is not held up.
    assert!(refresh(&s, "fine")["lastError"].is_null());

    let _reg = registry_comes_up(&s, port, "team/app", "down");
}

#[test]
fn unauthorized_until_a_credential_secret_is_added() {
    let reg = Registry::start_with_auth("robot", "reg-test-password");
    let repo = format!("{}/team/app", reg.host());
    reg.push_image(
        "team/app",
        Some("1.0.0"),
        "linux",
        "amd64",
        "2024-01-01T00:00:00Z",
    );
    let dir = config(&warehouse("private", "", &image_sub(&repo, "")));
    let s = start(&dir);
    let w = refresh(&s, "private");
    assert!(last_error(&w).contains("HTTP 401"), "{w}");
    assert!(last_error(&w).contains("needs credentials"), "{w}");
    healthy(&s);

    // A wrong password is refused and named as such; the right one works.
    let secret = |password: &str| {
        format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: reg-creds\n  namespace: kargo-demo\n  labels:\n    kargo.akuity.io/cred-type: image\nstringData:\n  repoURL: {repo}\n  username: robot\n  password: {password}\n")
    };
    std::fs::write(dir.path().join("creds.yaml"), secret("wrong-test-password")).expect("write");
    let w = refresh_until(&s, "private", "the refusal of the wrong password", |w| {
        last_error(w).contains("refused the credentials of Secret kargo-demo/reg-creds")
    });
    assert!(!w.to_string().contains("wrong-test-password"));
    std::fs::write(dir.path().join("creds.yaml"), secret("reg-test-password")).expect("write");
    refresh_until(&s, "private", "the error to clear", |w| {
        w["lastError"].is_null()
    });
    assert_eq!(freight(&s, "private").len(), 1);
    let all = format!("{}{}", s.logs(), s.admin_get("/api/v1/warehouses"));
    assert!(!all.contains("reg-test-password") && !all.contains("wrong-test-password"));
}

#[test]
fn unknown_repository_then_pushed() {
    let reg = Registry::start();
    let repo = format!("{}/team/later", reg.host());
    let dir = config(&warehouse("later", "", &image_sub(&repo, "")));
    let s = start(&dir);
    let w = refresh(&s, "later");
    assert!(last_error(&w).contains("HTTP 404"), "{w}");
    healthy(&s);
    reg.push_image(
        "team/later",
        Some("0.1.0"),
        "linux",
        "amd64",
        "2024-01-01T00:00:00Z",
    );
    refresh_until(&s, "later", "the error to clear", |w| {
        w["lastError"].is_null()
    });
    assert_eq!(
        freight(&s, "later")[0]["artifacts"]["images"][0]["tag"],
        "0.1.0"
    );
}

/// A push notified before the registry can serve it (CNCF Distribution sends the manifest event
/// before it links the tag, so the tag can be listed while its manifest answers 404): the
/// webhook's reconcile fails, is tried again a moment later on its own, and records the Freight —
/// no second webhook, no interval.
#[test]
fn webhook_reconcile_that_fails_is_tried_again_shortly() {
    let web = Web::start();
    let repo = format!("{}/team/app", web.host());
    let dir = config(&warehouse("early", "", &image_sub(&repo, "")));
    let s = start(&dir);
    web.route(
        "/v2/team/app/tags/list",
        web::json(200, r#"{"name":"team/app","tags":["0.1.0"]}"#),
    );
    let manifest_path = "/v2/team/app/manifests/0.1.0";
    web.route(
        manifest_path,
        web::json(404, r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#),
    );
    let path = s.receiver_path("azure-wh-receiver");
    let (status, body) = s.post(
        &path,
        &[ACR_UA],
        &acr_push("early-1", &web.host(), "team/app", "0.1.0"),
    );
    assert_eq!(status, 200, "{body}");
    s.wait_for("the first reconcile to fail", |s| {
        last_error(&s.warehouse(PROJECT, "early")).contains("HTTP 404")
    });
    let manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"sha256:00","size":1},"layers":[]}"#;
    let digest = crate::support::registry::digest(manifest.as_bytes());
    web.route(
        manifest_path,
        Reply::Send(
            200,
            vec![(
                "Content-Type".into(),
                "application/vnd.oci.image.manifest.v1+json".into(),
            )],
            manifest.as_bytes().to_vec(),
        ),
    );
    s.wait_for("Freight from the retried reconcile", |s| {
        !freight(s, "early").is_empty()
    });
    assert_eq!(
        freight(&s, "early")[0]["artifacts"]["images"],
        json!([{"repoURL": repo, "tag": "0.1.0", "digest": digest}])
    );
    let w = s.warehouse(PROJECT, "early");
    assert!(w["lastError"].is_null(), "{w}");
    assert!(reconciles(&s, "early") >= 2, "{w}");
    let metrics = s
        .http
        .get(s.admin_url("/metrics"))
        .send()
        .and_then(|r| r.text())
        .expect("metrics");
    let retries: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("dockhand_reconcile_retries_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no retry counter in\n{metrics}"));
    assert!(retries >= 1.0, "{metrics}");
}

/// A repository the registry does not know (404 on its tag list) is not retried shortly: the
/// failure is discovery's to back off, and a webhook reconciles once.
#[test]
fn an_unknown_repository_is_not_retried_shortly() {
    let reg = Registry::start();
    let dir = config(&warehouse(
        "nowhere",
        "",
        &image_sub(&format!("{}/team/nowhere", reg.host()), ""),
    ));
    let s = start(&dir);
    let path = s.receiver_path("azure-wh-receiver");
    let (status, body) = s.post(
        &path,
        &[ACR_UA],
        &acr_push("nowhere-1", &reg.host(), "team/nowhere", "0.1.0"),
    );
    assert_eq!(status, 200, "{body}");
    s.wait_for("the reconcile to fail", |s| {
        last_error(&s.warehouse(PROJECT, "nowhere")).contains("HTTP 404")
    });
    // Longer than the first retry delay (1 s) and the discovery backoff after one failure.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(reconciles(&s, "nowhere"), 1);
}

/// A registry that answers garbage, too much, or nothing, then pages properly.
#[test]
fn malformed_oversized_and_silent_registries() {
    let web = Web::start();
    let repo = format!("{}/team/app", web.host());
    let dir = config(&warehouse("odd", "", &image_sub(&repo, "")));
    let s = start(&dir);
    let tags = "/v2/team/app/tags/list";

    web.route(tags, web::json(200, "<html>not a tag list</html>"));
    let w = refresh(&s, "odd");
    assert!(last_error(&w).contains("malformed tag list"), "{w}");
    healthy(&s);

    web.route(tags, Reply::Declare(200, 100 * 1024 * 1024));
    let w = refresh_until(&s, "odd", "the size error", |w| {
        last_error(w).contains("larger than")
    });
    assert!(last_error(&w).contains("refusing to read it"), "{w}");
    healthy(&s);

    web.route(tags, Reply::Hang(Duration::from_secs(8)));
    let w = refresh_until(&s, "odd", "the timeout", |w| {
        last_error(w).contains("timeout")
    });
    assert!(last_error(&w).contains("2s"), "{w}");
    healthy(&s);

    // Two pages joined by a Link header; the manifest of the best tag.
    web.route(
        tags,
        Reply::Send(
            200,
            vec![
                ("Content-Type".into(), "application/json".into()),
                (
                    "Link".into(),
                    "</v2/team/app/tags/page2?n=1&last=1.0.0>; rel=\"next\"".into(),
                ),
            ],
            br#"{"name":"team/app","tags":["1.0.0"]}"#.to_vec(),
        ),
    );
    web.route(
        "/v2/team/app/tags/page2",
        web::json(200, r#"{"name":"team/app","tags":["1.1.0","junk"]}"#),
    );
    let manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"sha256:00","size":1},"layers":[]}"#;
    let digest = crate::support::registry::digest(manifest.as_bytes());
    web.route(
        "/v2/team/app/manifests/1.1.0",
        Reply::Send(
            200,
            vec![(
                "Content-Type".into(),
                "application/vnd.oci.image.manifest.v1+json".into(),
            )],
            manifest.as_bytes().to_vec(),
        ),
    );
    web.route(
        "/v2/team/app/manifests/1.0.0",
        Reply::Send(200, vec![], manifest.as_bytes().to_vec()),
    );
    refresh_until(&s, "odd", "the error to clear", |w| {
        w["lastError"].is_null()
    });
    let f = freight(&s, "odd");
    assert_eq!(
        f[0]["artifacts"]["images"],
        json!([{"repoURL": repo, "tag": "1.1.0", "digest": digest}])
    );
}

/// The token dance of Docker Hub, GHCR, ACR and Harbor: 401 with a Bearer challenge, a token
/// from the realm (fetched with the credential's Basic auth), then the request with the token.
#[test]
fn bearer_token_challenge_with_credentials() {
    let web = Web::start();
    let repo = format!("{}/team/app", web.host());
    let token = "test-bearer-token-value";
    let challenge = format!(
        "Bearer realm=\"{}\",service=\"test-registry\",scope=\"repository:team/app:pull\"",
        web.url("/token")
    );
    let basic = format!(
        "Basic {}",
        crate::support::base64(b"robot:bearer-test-password")
    );
    web.route(
        "/token",
        Reply::Auth {
            authorization: basic,
            challenge: "Basic realm=\"token\"".into(),
            then: Box::new(web::json(
                200,
                &format!(r#"{{"token":"{token}","expires_in":300}}"#),
            )),
        },
    );
    let guarded = |reply: Reply| Reply::Auth {
        authorization: format!("Bearer {token}"),
        challenge: challenge.clone(),
        then: Box::new(reply),
    };
    web.route(
        "/v2/team/app/tags/list",
        guarded(web::json(200, r#"{"name":"team/app","tags":["2.0.0"]}"#)),
    );
    let manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"sha256:00","size":1},"layers":[]}"#;
    web.route(
        "/v2/team/app/manifests/2.0.0",
        guarded(Reply::Send(
            200,
            vec![("Docker-Content-Digest".into(), "sha256:feedbeef".into())],
            manifest.as_bytes().to_vec(),
        )),
    );
    let creds = format!("---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: hub\n  namespace: kargo-demo\n  labels:\n    kargo.akuity.io/cred-type: image\nstringData:\n  repoURL: {repo}\n  username: robot\n  password: bearer-test-password\n");
    let dir = config(&format!(
        "{}{creds}",
        warehouse("hub", "", &image_sub(&repo, ""))
    ));
    let s = start(&dir);
    let w = refresh(&s, "hub");
    assert!(w["lastError"].is_null(), "{w}");
    assert_eq!(
        w["subscriptions"][0]["discovered"]["images"][0]["digest"], "sha256:feedbeef",
        "the registry's Docker-Content-Digest"
    );
    // The token is cached: a second reconcile does not fetch another.
    let hits = web.hits();
    refresh(&s, "hub");
    assert_eq!(
        web.hits() - hits,
        2,
        "tags and manifest only, with the cached token"
    );
    let all = format!("{}{}", s.logs(), s.admin_get("/api/v1/warehouses"));
    assert!(!all.contains(token) && !all.contains("bearer-test-password"));
}

#[test]
fn a_webhook_rediscovers_only_the_subscriptions_it_names() {
    // Two subscriptions; a push to one must not call the other's registry again while its last
    // discovery is younger than the interval. A whole-Warehouse refresh looks at both.
    let reg = Registry::start();
    let (a, b) = (
        format!("{}/team/a", reg.host()),
        format!("{}/team/b", reg.host()),
    );
    let dir = config(&warehouse(
        "two",
        "",
        &format!("{}{}", image_sub(&a, ""), image_sub(&b, "")),
    ));
    let s = start(&dir);
    let path = s.receiver_path("azure-wh-receiver");
    let images = |s: &Server| -> Vec<(String, String)> {
        freight(s, "two")
            .first()
            .map(|f| {
                f["artifacts"]["images"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| {
                        (
                            i["repoURL"].as_str().unwrap().to_string(),
                            i["tag"].as_str().unwrap().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    reg.push_image(
        "team/a",
        Some("1.0.0"),
        "linux",
        "amd64",
        "2024-01-01T00:00:00Z",
    );
    reg.push_image(
        "team/b",
        Some("1.0.0"),
        "linux",
        "amd64",
        "2024-01-01T00:00:00Z",
    );
    refresh(&s, "two");
    assert_eq!(
        images(&s),
        [(a.clone(), "1.0.0".into()), (b.clone(), "1.0.0".into())]
    );

    // b gets 2.0.0 (no webhook for it); a gets 1.1.0 and its webhook.
    reg.push_image(
        "team/b",
        Some("2.0.0"),
        "linux",
        "amd64",
        "2024-01-02T00:00:00Z",
    );
    reg.push_image(
        "team/a",
        Some("1.1.0"),
        "linux",
        "amd64",
        "2024-01-02T00:00:00Z",
    );
    let before = reconciles(&s, "two");
    let (_, body) = s.post(
        &path,
        &[ACR_UA],
        &acr_push("only-a", &reg.host(), "team/a", "1.1.0"),
    );
    assert_eq!(body["msg"], "refreshed 1 warehouse(s)");
    s.wait_for("the webhook's reconcile", |s| reconciles(s, "two") > before);
    s.wait_for("Freight with a 1.1.0", |s| {
        images(s).first().is_some_and(|i| i.1 == "1.1.0")
    });
    // b was not listed again: its 1.0.0 from the last discovery stands.
    assert_eq!(
        images(&s),
        [(a.clone(), "1.1.0".into()), (b.clone(), "1.0.0".into())]
    );

    // A whole refresh discovers b again.
    refresh(&s, "two");
    assert_eq!(images(&s), [(a, "1.1.0".into()), (b, "2.0.0".into())]);
}

#[test]
fn an_unreachable_host_is_not_contacted_by_every_subscription() {
    // Two Warehouses on one dead registry host, two on one dead git host. Once one of them has
    // failed to connect, the other fails at once with that reason instead of connecting (or
    // starting git) itself; when the host comes back, both recover.
    let port = free_port();
    let git_port = free_port();
    let git_sub =
        |name: &str| format!("  - git:\n      repoURL: http://127.0.0.1:{git_port}/{name}.git\n");
    let dir = config(
        &[
            warehouse("a", "", &image_sub(&format!("127.0.0.1:{port}/team/a"), "")),
            warehouse("b", "", &image_sub(&format!("127.0.0.1:{port}/team/b"), "")),
            warehouse("g1", "", &git_sub("one")),
            warehouse("g2", "", &git_sub("two")),
        ]
        .concat(),
    );
    let s = start(&dir);
    // The first failure marks the host out for 1 s, doubling while probes fail; alternate until
    // the second Warehouse's reconcile falls inside the window (at once on a quiet machine).
    let held_back = |first: &str, second: &str, host: &str| {
        let w = refresh(&s, first);
        assert!(
            !last_error(&w).is_empty(),
            "{first} cannot reach {host}: {w}"
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let w = refresh(&s, second);
            let e = last_error(&w);
            if e.contains(&format!("{host} is unreachable")) {
                assert!(e.contains("not contacted again for"), "{e}");
                return e;
            }
            assert!(Instant::now() < deadline, "{second} never held back: {w}");
            refresh(&s, first);
        }
    };
    let e = held_back("a", "b", &format!("http://127.0.0.1:{port}"));
    assert!(e.contains("cannot connect"), "the reason is kept: {e}");
    let e = held_back("g1", "g2", &format!("http://127.0.0.1:{git_port}"));
    assert!(e.contains("git: ls-remote"), "the reason is kept: {e}");
    healthy(&s);

    let _reg = registry_comes_up(&s, port, "team/b", "b");
}

/// Starts a registry on `port`, pushes `repo:1.0.0`, and waits for Warehouse `name` (which
/// subscribes to it and failed while nothing listened there) to clear its error and record
/// one Freight.
fn registry_comes_up(s: &Server, port: u16, repo: &str, name: &str) -> Registry {
    let reg = Registry::start_on(port, None);
    reg.push_image(
        repo,
        Some("1.0.0"),
        "linux",
        "amd64",
        "2024-01-01T00:00:00Z",
    );
    let w = refresh_until(s, name, "the error to clear", |w| w["lastError"].is_null());
    assert!(w["subscriptions"][0]["error"].is_null(), "{w}");
    assert_eq!(freight(s, name).len(), 1);
    reg
}
