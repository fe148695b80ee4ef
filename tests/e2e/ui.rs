//! The dashboard (`/ui/`) end to end: a server with real deliveries (webhooks posted, one
//! Warehouse discovered from a real registry), each page loaded by Debian's `chromium` headless
//! and its rendered DOM asserted on (delivery ids, the why-not text, the copy button, XSS
//! attempts in a tag and a repository name shown as inert text); screenshots go to
//! `target/ui/` for review. The login flow (cookie) is checked over plain HTTP.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::support::registry::Registry;
use serde_json::Value;

const PROJECT: &str = "kargo-demo";
/// If either of these ran, the body element would carry a `data-pwned` attribute.
const XSS_TAG: &str = "<img src=x onerror=\"document.body.setAttribute('data-pwned','tag')\">";
const XSS_REPO: &str = "team/<script>document.body.setAttribute('data-pwned','repo')</script>";

/// `chromium` on PATH, or a failure that says how to get it (never a skip).
fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "chromium is not installed, and the dashboard tests drive it headless: install it \
         with `apt-get install chromium` (Debian; scripts/test installs it when run as root)"
    );
}

/// One headless chromium per call, on a fresh profile (also used by `replay.rs`).
pub(crate) struct Browser {
    bin: PathBuf,
    profile: tempfile::TempDir,
    shots: PathBuf,
}

impl Browser {
    pub(crate) fn new() -> Browser {
        // CARGO_TARGET_TMPDIR is `<target>/tmp`; screenshots go beside it, in `<target>/ui`.
        let shots = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("target dir")
            .join("ui");
        std::fs::create_dir_all(&shots).expect("mkdir target/ui");
        Browser {
            bin: chromium(),
            profile: tempfile::tempdir().expect("tempdir"),
            shots,
        }
    }

    fn run(&self, args: &[String], url: &str) -> String {
        let mut child = Command::new(&self.bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", self.profile.path().display()))
            .args(args)
            .arg(url)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().expect("wait chromium").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("chromium did not finish with {url} within 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().expect("chromium output");
        assert!(
            out.status.success(),
            "chromium {args:?} {url}: {}",
            out.status
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The DOM after load, serialized.
    pub(crate) fn dom(&self, url: &str) -> String {
        self.dom_after(url, None)
    }

    /// The DOM once the page's timers have had `virtual_ms` of (virtual) time, if given.
    fn dom_after(&self, url: &str, virtual_ms: Option<u32>) -> String {
        let mut args = vec!["--dump-dom".to_string()];
        if let Some(ms) = virtual_ms {
            args.push(format!("--virtual-time-budget={ms}"));
        }
        let dom = self.run(&args, url);
        assert!(dom.contains("</html>"), "no page from {url}: {dom}");
        dom
    }

    /// `target/ui/NAME.png` at `width`x`height`.
    pub(crate) fn screenshot(&self, url: &str, name: &str, (width, height): (u32, u32)) {
        let file = self.shots.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&file);
        self.run(
            &[
                format!("--screenshot={}", file.display()),
                format!("--window-size={width},{height}"),
            ],
            url,
        );
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1000, "no screenshot {}", file.display());
    }
}

pub(crate) const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (390, 844);

/// The text as the page's HTML spells it (what `--dump-dom` serializes a text node as).
pub(crate) fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The attempts are in the page as text, and neither ran: the body has no attribute.
fn assert_not_run(dom: &str) {
    assert!(
        dom.contains("data-pwned"),
        "the attempt is not on the page:\n{dom}"
    );
    assert!(
        dom.contains("<body><a class=\"skip\""),
        "an XSS attempt ran (the body changed):\n{dom}"
    );
    assert!(
        !dom.contains("<body data-pwned"),
        "an XSS attempt ran:\n{dom}"
    );
}

fn delivery_with<'a>(list: &'a [Value], provider_id: &str) -> &'a Value {
    list.iter()
        .find(|d| d["providerId"] == provider_id)
        .unwrap_or_else(|| panic!("no delivery {provider_id} in {list:?}"))
}

fn id(d: &Value) -> &str {
    d["id"].as_str().expect("delivery id")
}

#[test]
fn every_page_renders_in_a_browser() {
    let browser = Browser::new();
    let reg = Registry::start();
    let repo = format!("{}/team/app", reg.host());
    let dir = config_dir(&[
        ("base.yaml", BASE_CONFIG),
        (
            "warehouses.yaml",
            &format!(
                "{}{}",
                image_warehouse(PROJECT, "app", &repo, "^1.0.0"),
                image_warehouse(PROJECT, "next", &repo, "^2.0.0")
            ),
        ),
    ]);
    let s = Server::start(&[dir.path()], &["--refresh-cooldown", "0s"]);
    let azure = s.receiver_path("azure-wh-receiver");
    let (digest, _) = reg.push_image(
        "team/app",
        Some("v1.2.0"),
        "linux",
        "amd64",
        "2026-01-02T00:00:00Z",
    );

    let post = |provider_id: &str, repository: &str, tag: &str| {
        let (status, body) = s.post(
            &azure,
            &[ACR_UA],
            &acr_push(provider_id, &reg.host(), repository, tag),
        );
        assert_eq!(status, 200, "{body}");
    };
    post("push-1", "team/app", "v1.2.0");
    s.wait_for("Freight of app", |s| {
        s.admin_get("/api/v1/freight?project=kargo-demo&warehouse=app")
            .as_array()
            .is_some_and(|a| !a.is_empty())
    });
    post("push-xss-tag", "team/app", XSS_TAG);
    post("push-xss-repo", XSS_REPO, "v1.0.0");
    let (status, _) = s.post(&azure, &[ACR_UA], "{not json");
    assert_eq!(status, 400);

    let list = s.deliveries();
    assert_eq!(list.len(), 4, "{list:?}");
    let pushed = delivery_with(&list, "push-1");
    assert_eq!(pushed["refreshed"][0], "kargo-demo/app", "{pushed}");
    let why_not = pushed["explanation"][0]
        .as_str()
        .expect("why not")
        .to_string();
    assert!(why_not.contains("kargo-demo/next"), "{why_not}");
    let xss_tag = delivery_with(&list, "push-xss-tag");
    let xss_repo = delivery_with(&list, "push-xss-repo");
    let rejected = list
        .iter()
        .find(|d| d["outcome"] == "rejected")
        .expect("the rejected delivery");

    // Receivers: each URL with its copy button, and the last delivery linked.
    let receivers = s.admin_get("/api/v1/receivers");
    let dom = browser.dom(&s.admin_url("/ui/"));
    for r in receivers.as_array().expect("receivers") {
        let url = r["url"].as_str().expect("url");
        assert!(
            dom.contains(&escaped(url)),
            "receiver URL {url} missing:\n{dom}"
        );
    }
    assert!(dom.contains("data-copy=\"url-0\""), "{dom}");
    assert!(dom.contains(">Copy</button>"), "{dom}");
    assert!(
        dom.contains(&format!("href=\"/ui/deliveries/{}\"", id(rejected))),
        "the azure receiver's last delivery is the rejected one:\n{dom}"
    );
    assert!(
        dom.contains("none yet"),
        "the harbor receiver has none:\n{dom}"
    );
    assert!(
        dom.contains("class=\"skip\" href=\"#main\""),
        "skip link:\n{dom}"
    );
    browser.screenshot(&s.admin_url("/ui/"), "receivers-phone", PHONE);

    // Deliveries: every id, the why-not line in the row, both attempts as inert text; given
    // 4 s, the page has polled its rows once.
    let page = s.admin_url("/ui/deliveries");
    let dom = browser.dom_after(&page, Some(4000));
    assert!(
        dom.contains("aria-live=\"polite\">updated "),
        "the live list did not poll:\n{dom}"
    );
    for d in &list {
        assert!(dom.contains(id(d)), "delivery {} missing:\n{dom}", id(d));
    }
    assert!(
        dom.contains(&escaped(&why_not)),
        "why not {why_not:?} missing:\n{dom}"
    );
    assert!(dom.contains("id=\"delivery-rows\""), "live rows:\n{dom}");
    assert!(
        dom.contains("<label for=\"f-outcome\">"),
        "labelled filters:\n{dom}"
    );
    assert!(dom.contains(&escaped(XSS_TAG)), "the tag as text:\n{dom}");
    assert!(
        dom.contains(&escaped("<script>document.body")),
        "the repository as text:\n{dom}"
    );
    assert_not_run(&dom);
    assert!(
        !dom.contains("<img"),
        "an XSS attempt made an element:\n{dom}"
    );
    assert_eq!(
        dom.matches("<script").count(),
        1,
        "only the dashboard's script:\n{dom}"
    );
    browser.screenshot(&page, "deliveries", DESKTOP);
    browser.screenshot(&page, "deliveries-phone", PHONE);

    // One delivery: each target's normalized key, each candidate matched or why not.
    let detail = &pushed["detail"][0];
    let key = detail["key"].as_str().expect("normalized key");
    let page = s.admin_url(&format!("/ui/deliveries/{}", id(pushed)));
    let dom = browser.dom(&page);
    assert!(dom.contains(id(pushed)), "{dom}");
    assert!(
        dom.contains(&format!("<code class=\"key\">{}</code>", escaped(key))),
        "key {key}:\n{dom}"
    );
    assert!(
        dom.contains("href=\"/ui/warehouses/kargo-demo/app\""),
        "{dom}"
    );
    assert!(dom.contains(">matched</span>"), "{dom}");
    let reason = detail["candidates"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["warehouse"] == "next"))
        .and_then(|c| c["reason"].as_str())
        .expect("the reason next did not match");
    assert!(
        dom.contains(&escaped(reason)),
        "reason {reason:?} missing:\n{dom}"
    );
    browser.screenshot(&page, "delivery", DESKTOP);

    // The repository attempt is a heading and an error message on its own page: still text.
    let dom = browser.dom(&s.admin_url(&format!("/ui/deliveries/{}", id(xss_repo))));
    assert!(dom.contains(&escaped(XSS_REPO)), "{dom}");
    assert_not_run(&dom);
    assert_eq!(dom.matches("<script").count(), 1, "{dom}");
    assert!(
        !dom.contains(id(xss_tag)),
        "another delivery's page:\n{dom}"
    );

    // Warehouses: the state of each; one Warehouse: its discovery and Freight.
    let dom = browser.dom(&s.admin_url("/ui/warehouses"));
    assert!(
        dom.contains("href=\"/ui/warehouses/kargo-demo/app\""),
        "{dom}"
    );
    assert!(
        dom.contains("href=\"/ui/warehouses/kargo-demo/next\""),
        "{dom}"
    );
    assert!(dom.contains(">reconciled</span>"), "{dom}");
    let freight = s.admin_get("/api/v1/freight?project=kargo-demo&warehouse=app");
    let alias = freight[0]["alias"].as_str().expect("alias");
    let page = s.admin_url("/ui/warehouses/kargo-demo/app");
    let dom = browser.dom(&page);
    assert!(dom.contains(&format!("{}:v1.2.0", escaped(&repo))), "{dom}");
    assert!(dom.contains(&digest), "digest {digest}:\n{dom}");
    assert!(dom.contains(alias), "Freight {alias}:\n{dom}");
    assert!(dom.contains("Freight timeline"), "{dom}");
    browser.screenshot(&page, "warehouse", (1280, 1400));

    // Filters and the rows the live list polls, over plain HTTP.
    let rows = |q: &str| {
        let r = s
            .http
            .get(s.admin_url(&format!("/ui/deliveries/rows?{q}")))
            .send()
            .expect("rows");
        assert_eq!(r.status(), 200);
        r.text().expect("rows body")
    };
    let unmatched = rows("outcome=unmatched");
    assert!(
        unmatched.contains(id(xss_tag)) && !unmatched.contains(id(pushed)),
        "{unmatched}"
    );
    let recent = rows("since=15m&receiver=azure-wh-receiver");
    assert!(list.iter().all(|d| recent.contains(id(d))), "{recent}");
    for missing in [
        "/ui/deliveries/no-such-id",
        "/ui/warehouses/kargo-demo/none",
        "/ui/nothing",
    ] {
        let r = s.http.get(s.admin_url(missing)).send().expect("GET");
        assert_eq!(r.status(), 404, "{missing}");
    }
    let other = rows("receiver=harbor-wh-receiver");
    assert!(
        other.contains("No delivery matches.") && !other.contains(id(pushed)),
        "{other}"
    );
}

fn form(s: &Server, path: &str, body: &str, cookie: Option<&str>) -> reqwest::blocking::Response {
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut req = client
        .post(s.admin_url(path))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.to_string());
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    req.send().expect("POST")
}

#[test]
fn the_login_form_keeps_the_token_in_a_cookie() {
    let dir = config_dir(&[("base.yaml", BASE_CONFIG)]);
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, "admin-token-123\n").expect("token file");
    let s = Server::start(
        &[&dir.path().join("base.yaml")],
        &["--admin-token-file", token_file.to_str().expect("path")],
    );
    let page = |cookie: Option<&str>, bearer: Option<&str>| {
        let mut req = s.http.get(s.admin_url("/ui/deliveries"));
        if let Some(c) = cookie {
            req = req.header("Cookie", c);
        }
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        let r = req.send().expect("GET");
        (r.status().as_u16(), r.text().unwrap_or_default())
    };

    // Without the token: the login form, which knows where to come back to.
    let (status, body) = page(None, None);
    assert_eq!(status, 401);
    assert!(body.contains("name=\"token\" type=\"password\""), "{body}");
    assert!(
        body.contains("name=\"next\" value=\"/ui/deliveries\""),
        "{body}"
    );
    assert!(!body.contains("admin-token-123"));

    // A wrong token: refused, no cookie, the attempt not echoed.
    let r = form(
        &s,
        "/ui/login",
        "token=guess-456&next=%2Fui%2Fdeliveries",
        None,
    );
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("set-cookie").is_none());
    let body = r.text().expect("body");
    assert!(body.contains("That is not the admin token."), "{body}");
    assert!(!body.contains("guess-456"), "{body}");

    // The right one: a cookie that is HttpOnly, SameSite=Strict, scoped to /ui, not the token.
    let r = form(
        &s,
        "/ui/login",
        "token=admin-token-123&next=%2Fui%2Fdeliveries",
        None,
    );
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/ui/deliveries");
    let set = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(set.contains(attr), "{attr} missing: {set}");
    }
    assert!(!set.contains("admin-token-123"), "{set}");
    let cookie = set.split(';').next().expect("name=value").to_string();

    let (status, body) = page(Some(&cookie), None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<h1>Deliveries</h1>"), "{body}");
    assert!(!body.contains("admin-token-123"));
    let (status, _) = page(None, Some("admin-token-123"));
    assert_eq!(status, 200, "the Authorization header works as for the API");
    let (status, _) = page(Some("dockhand_ui=admin-token-123"), None);
    assert_eq!(status, 401, "the raw token is not a cookie value");

    // The cookie opens the dashboard, not the API.
    let r = s
        .http
        .get(s.admin_url("/api/v1/deliveries"))
        .header("Cookie", &cookie)
        .send()
        .expect("GET");
    assert_eq!(r.status(), 401);

    // A login never sends the browser off the dashboard.
    let r = form(
        &s,
        "/ui/login",
        "token=admin-token-123&next=https%3A%2F%2Fevil.example%2F",
        None,
    );
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/ui/");

    // Styles and script need no login; sign-out clears the cookie.
    let r = s
        .http
        .get(s.admin_url("/ui/assets/ui.css"))
        .send()
        .expect("css");
    assert_eq!(r.status(), 200);
    let r = form(&s, "/ui/logout", "", Some(&cookie));
    assert_eq!(r.status(), 303);
    let set = r.headers()["set-cookie"].to_str().expect("cookie");
    assert!(
        set.starts_with("dockhand_ui=;") && set.contains("Max-Age=0"),
        "{set}"
    );
}
