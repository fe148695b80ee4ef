//! `/ui/notifications`: the configured Notifications (type, events, Warehouses; never the
//! address) and the outbox, newest first: status, attempts, last answer and error.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::html::{html, segment, Html};
use super::layout::{self, or_dash, Nav};
use super::Ui;
use crate::http::api;
use crate::store::NotificationFilter;

pub async fn page(State(ui): State<Ui>) -> Response {
    let rows = match ui
        .app
        .store
        .notifications(NotificationFilter {
            project: None,
            limit: 200,
        })
        .await
    {
        Ok(list) => list
            .into_iter()
            .map(api::Notification::from)
            .collect::<Vec<_>>(),
        Err(e) => return layout::error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let snap = ui.app.snapshot.load();
    let mut h = Html::new();
    html!(h, "<h1>Notifications</h1>");
    if snap.config.notifications.is_empty() {
        html!(
            h,
            "<p class=\"empty\">No Notification is configured (kind Notification, apiVersion dockhand.dev/v1alpha1).</p>"
        );
    } else {
        html!(
            h,
            "<div class=\"table-wrap\"><table class=\"cards\"><caption>Configured</caption>",
            "<thead><tr><th scope=\"col\">Notification</th><th scope=\"col\">Type</th>",
            "<th scope=\"col\">Events</th><th scope=\"col\">Warehouses</th></tr></thead><tbody>"
        );
        for n in &snap.config.notifications {
            let events: Vec<&str> = n.events.iter().map(|e| e.name()).collect();
            html!(
                h,
                "<tr><td data-label=\"Notification\">",
                { &n.project },
                "/<strong>",
                { &n.name },
                "</strong></td><td data-label=\"Type\">",
                { n.kind.name() },
                "</td><td data-label=\"Events\">",
                { events.join(", ") },
                "</td><td data-label=\"Warehouses\">"
            );
            if n.warehouses.is_empty() {
                html!(h, "every Warehouse");
            } else {
                for (i, w) in n.warehouses.iter().enumerate() {
                    if i > 0 {
                        html!(h, ", ");
                    }
                    html!(
                        h,
                        "<a href=\"/ui/warehouses/",
                        { segment(&n.project) },
                        "/",
                        { segment(w) },
                        "\">",
                        { w },
                        "</a>"
                    );
                }
            }
            html!(h, "</td></tr>");
        }
        html!(h, "</tbody></table></div>");
    }
    html!(h, "<h2>Sent and waiting</h2>");
    if rows.is_empty() {
        html!(h, "<p class=\"empty\">Nothing notified yet.</p>");
    } else {
        html!(
            h,
            "<div class=\"table-wrap\"><table class=\"cards\"><caption class=\"sr-only\">Outbox</caption>",
            "<thead><tr><th scope=\"col\">Created</th><th scope=\"col\">Notification</th>",
            "<th scope=\"col\">Event</th><th scope=\"col\">Status</th>",
            "<th scope=\"col\">Attempts</th><th scope=\"col\">Answer</th>",
            "<th scope=\"col\">Last error</th></tr></thead><tbody>"
        );
        for n in &rows {
            let class = match n.status.as_str() {
                "sent" => "refreshed",
                "failed" => "rejected",
                _ => "pending",
            };
            html!(
                h,
                "<tr><td data-label=\"Created\">",
                { &n.created_at },
                "<br><small class=\"muted\">",
                { &n.id },
                "</small></td><td data-label=\"Notification\">",
                { &n.project },
                "/",
                { &n.notification },
                " <small class=\"muted\">",
                { &n.kind },
                "</small></td><td data-label=\"Event\">",
                { &n.event }
            );
            if let Some(w) = &n.warehouse {
                html!(h, " <small class=\"muted\">", { w }, "</small>");
            }
            html!(
                h,
                "</td><td data-label=\"Status\"><span class=\"badge outcome-",
                { class },
                "\">",
                { &n.status },
                "</span></td><td data-label=\"Attempts\">",
                { n.attempts },
                "</td><td data-label=\"Answer\">",
                { or_dash(&n.response_code.map(|c| c.to_string())).to_string() },
                "</td><td data-label=\"Last error\">"
            );
            match &n.last_error {
                Some(e) => html!(h, "<span class=\"problem\">", { e }, "</span>"),
                None => html!(h, "—"),
            }
            html!(h, "</td></tr>");
        }
        html!(h, "</tbody></table></div>");
    }
    layout::page(
        StatusCode::OK,
        "Notifications",
        Nav::Notifications,
        ui.token.is_some(),
        h,
    )
}
