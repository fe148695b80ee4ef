//! The frame every dashboard page shares: head, skip link, navigation, security headers.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::html::{html, Html};

/// Which navigation entry is the current page.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Receivers,
    Deliveries,
    Warehouses,
    Notifications,
    Artifacts,
    None,
}

/// Only this origin's script and style; nothing may frame the dashboard.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// A whole page around `body`. `signed_in` shows the sign-out button (a token is configured).
pub fn page(status: StatusCode, title: &str, nav: Nav, signed_in: bool, body: Html) -> Response {
    let mut h = Html::new();
    html!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "<title>",
        { title },
        " · dockhand</title>",
        "<link rel=\"stylesheet\" href=\"/ui/assets/ui.css\">",
        "<script src=\"/ui/assets/ui.js\" defer></script>",
        "</head><body>",
        "<a class=\"skip\" href=\"#main\">Skip to content</a>",
        "<header><nav aria-label=\"Dashboard\"><span class=\"brand\">dockhand</span><ul>"
    );
    for (entry, href, label) in [
        (Nav::Receivers, "/ui/", "Receivers"),
        (Nav::Deliveries, "/ui/deliveries", "Deliveries"),
        (Nav::Warehouses, "/ui/warehouses", "Warehouses"),
        (Nav::Notifications, "/ui/notifications", "Notifications"),
        (Nav::Artifacts, "/ui/artifacts", "Artifacts"),
    ] {
        html!(h, "<li><a href=\"", { href }, "\"");
        if entry == nav {
            html!(h, " aria-current=\"page\"");
        }
        html!(h, ">", { label }, "</a></li>");
    }
    html!(h, "</ul>");
    if signed_in {
        html!(
            h,
            "<form method=\"post\" action=\"/ui/logout\" class=\"logout\">",
            "<button type=\"submit\">Sign out</button></form>"
        );
    }
    html!(h, "</nav></header><main id=\"main\" tabindex=\"-1\">");
    h.append(body);
    html!(h, "</main></body></html>\n");
    respond(status, h)
}

/// An HTML response with the dashboard's headers.
pub fn respond(status: StatusCode, h: Html) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        h.into_string(),
    )
        .into_response()
}

/// An error page (not found, the store failing).
pub fn error(status: StatusCode, message: &str) -> Response {
    let mut h = Html::new();
    html!(
        h,
        "<h1>",
        { status.canonical_reason().unwrap_or("Error") },
        "</h1><p class=\"problem\" role=\"alert\">",
        { message },
        "</p><p><a href=\"/ui/\">Back to the dashboard</a></p>"
    );
    page(status, "Error", Nav::None, false, h)
}

/// `None` as an em dash, so an empty cell reads as "nothing" rather than as missing.
pub fn or_dash(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("—")
}
