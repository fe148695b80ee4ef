//! The web dashboard under `/ui/` on the admin listener: receivers, deliveries (with their kept
//! payloads and a replay button), Warehouses, artifacts by registry replica, notifications,
//! rendered on the server from the same sources as the admin API (the snapshot, the store, the
//! wire types of `http/api.rs`).
//!
//! Access: the admin token (`--admin-token-file`), either as `Authorization: Bearer` or through
//! the login form, which sets an HttpOnly, SameSite=Strict cookie holding a SHA-256 digest of the
//! token (so the cookie needs no encoding and the token itself is not in the browser's storage).
//! Both are compared in constant time; the token is never echoed, logged or put in a page.
//! Without a token configured the dashboard is open, as the API is.
//!
//! Every page is complete HTML with no external resource (CSS and JS are served from the
//! binary, `assets/`), works without JavaScript except the live list and the copy buttons, and
//! is sent with a Content-Security-Policy that allows only this origin's script and style: a
//! value that escaped `html::escape` still could not run.

mod artifacts;
mod deliveries;
pub mod html;
mod layout;
mod notifications;
mod receivers;
mod warehouses;

use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use dockhand_core::secret::{constant_time_eq, Secret};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::app::App;
use html::{html, Html};

/// The cookie the login form sets.
const COOKIE: &str = "dockhand_ui";

/// State of the dashboard's handlers.
#[derive(Clone)]
pub struct Ui {
    app: Arc<App>,
    token: Arc<Option<Secret>>,
}

/// The dashboard's routes, relative to where the admin router nests them (`/ui`).
pub fn router(app: Arc<App>, token: Arc<Option<Secret>>) -> Router {
    let ui = Ui { app, token };
    let pages = Router::new()
        .route("/", get(receivers::page))
        .route("/deliveries", get(deliveries::list))
        .route("/deliveries/rows", get(deliveries::rows))
        .route("/deliveries/{id}", get(deliveries::detail))
        .route("/deliveries/{id}/replay", post(deliveries::replay))
        .route("/artifacts", get(artifacts::page))
        .route("/warehouses", get(warehouses::list))
        .route("/warehouses/{project}/{name}", get(warehouses::detail))
        .route("/notifications", get(notifications::page))
        .route("/logout", post(logout))
        .route_layer(middleware::from_fn_with_state(ui.clone(), require_login));
    Router::new()
        .merge(pages)
        .route("/login", get(login_page).post(login))
        .route("/assets/ui.css", get(css))
        .route("/assets/ui.js", get(js))
        .fallback(|| async { layout::error(StatusCode::NOT_FOUND, "No such page.") })
        .with_state(ui)
}

/// The cookie value for `token`: a digest, so it is cookie-safe whatever the token holds.
fn cookie_value(token: &Secret) -> String {
    let digest = Sha256::new()
        .chain_update(b"dockhand-ui\0")
        .chain_update(token.expose().as_bytes())
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the request carries the admin token (header) or the login cookie.
fn authorized(token: &Secret, headers: &HeaderMap) -> bool {
    if let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
    {
        return token.matches(given);
    }
    let want = cookie_value(token);
    let mut ok = false;
    for value in headers.get_all(header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for pair in value.split(';') {
            if let Some(v) = pair
                .trim()
                .strip_prefix(COOKIE)
                .and_then(|r| r.strip_prefix('='))
            {
                // Every cookie of that name is compared, so timing does not depend on which.
                ok |= constant_time_eq(v.as_bytes(), want.as_bytes());
            }
        }
    }
    ok
}

async fn require_login(State(ui): State<Ui>, req: Request, next: Next) -> Response {
    let Some(token) = ui.token.as_ref() else {
        return next.run(req).await;
    };
    if authorized(token, req.headers()) {
        return next.run(req).await;
    }
    // The admin router nests the dashboard at `/ui` and strips that prefix.
    let here = match req.uri().path_and_query() {
        Some(pq) => format!("/ui{pq}"),
        None => "/ui/".to_string(),
    };
    login_form(StatusCode::UNAUTHORIZED, &here, None)
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

async fn login_page(Query(q): Query<LoginQuery>) -> Response {
    login_form(StatusCode::OK, q.next.as_deref().unwrap_or("/ui/"), None)
}

fn login_form(status: StatusCode, next: &str, problem: Option<&'static str>) -> Response {
    let mut h = Html::new();
    html!(h, "<h1>Sign in</h1>");
    if let Some(p) = problem {
        html!(h, "<p class=\"problem\" role=\"alert\">", { p }, "</p>");
    }
    html!(
        h,
        "<p>Enter the admin token of this dockhand (the contents of <code>--admin-token-file</code>).</p>",
        "<form method=\"post\" action=\"/ui/login\" class=\"login\">",
        "<input type=\"hidden\" name=\"next\" value=\"",
        { safe_next(next) },
        "\">",
        "<label for=\"token\">Admin token</label>",
        "<input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required autofocus>",
        "<button type=\"submit\">Sign in</button>",
        "</form>"
    );
    layout::page(status, "Sign in", layout::Nav::None, false, h)
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

async fn login(State(ui): State<Ui>, Form(form): Form<LoginForm>) -> Response {
    let next = safe_next(form.next.as_deref().unwrap_or("/ui/"));
    let Some(token) = ui.token.as_ref() else {
        return redirect(next, None);
    };
    if !token.matches(form.token.trim().as_bytes()) {
        return login_form(
            StatusCode::UNAUTHORIZED,
            next,
            Some("That is not the admin token."),
        );
    }
    let cookie = format!(
        "{COOKIE}={}; Path=/ui; HttpOnly; SameSite=Strict",
        cookie_value(token)
    );
    redirect(next, Some(cookie))
}

async fn logout() -> Response {
    redirect(
        "/ui/login",
        Some(format!(
            "{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0"
        )),
    )
}

/// Where a login may send the browser: a dashboard path, nothing else (no open redirect).
fn safe_next(next: &str) -> &str {
    let ok = (next == "/ui" || next.starts_with("/ui/"))
        && !next.contains("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control());
    if ok {
        next
    } else {
        "/ui/"
    }
}

fn redirect(to: &str, cookie: Option<String>) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    resp
}

const CSS: &str = include_str!("assets/ui.css");
const JS: &str = include_str!("assets/ui.js");

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "max-age=300"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_the_dashboard() {
        let cases = [
            ("/ui/", "/ui/"),
            (
                "/ui/deliveries?outcome=unmatched",
                "/ui/deliveries?outcome=unmatched",
            ),
            ("/ui", "/ui"),
            ("https://evil.example/ui/", "/ui/"),
            ("//evil.example/ui/", "/ui/"),
            ("/ui//evil.example", "/ui/"),
            ("/ui/\\evil", "/ui/"),
            ("/uix", "/ui/"),
            ("/api/v1/deliveries", "/ui/"),
            ("/ui/\r\nSet-Cookie: x", "/ui/"),
        ];
        for (input, want) in cases {
            assert_eq!(safe_next(input), want, "{input:?}");
        }
    }

    #[test]
    fn header_or_cookie_authorizes() {
        let token = Secret::new("s3cret");
        let mut h = HeaderMap::new();
        assert!(!authorized(&token, &h));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cret"),
        );
        assert!(authorized(&token, &h));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer wrong"),
        );
        assert!(!authorized(&token, &h));

        let mut h = HeaderMap::new();
        let good = format!("other=1; {COOKIE}={}", cookie_value(&token));
        h.insert(header::COOKIE, HeaderValue::from_str(&good).unwrap());
        assert!(authorized(&token, &h));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("dockhand_ui=s3cret"),
        );
        assert!(!authorized(&token, &h), "the raw token is not the cookie");
        assert!(!cookie_value(&token).contains("s3cret"));
    }
}
