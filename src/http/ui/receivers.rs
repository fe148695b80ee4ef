//! `/ui/`: every receiver with the URL to register (and a copy button), its type, and its last
//! delivery.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::deliveries::outcome_badge;
use super::html::{html, segment, Html};
use super::layout::{self, Nav};
use super::Ui;
use crate::http::api;
use crate::receiver_urls;
use crate::store::DeliveryFilter;

pub async fn page(State(ui): State<Ui>) -> Response {
    let snap = ui.app.snapshot.load();
    let rows: Vec<api::Receiver> = receiver_urls::rows(&snap.config, &ui.app.settings.base_url)
        .into_iter()
        .map(api::Receiver::from)
        .collect();
    let mut h = Html::new();
    html!(
        h,
        "<h1>Receivers</h1>",
        "<p>Register each URL with the registry or git host that sends the webhook. ",
        "Anyone who knows a URL can post to it: treat it as a secret.</p>"
    );
    if rows.is_empty() {
        html!(h, "<p class=\"empty\">No receiver is configured (<code>spec.webhookReceivers</code> of a ProjectConfig).</p>");
        return layout::page(
            StatusCode::OK,
            "Receivers",
            Nav::Receivers,
            ui.token.is_some(),
            h,
        );
    }
    html!(
        h,
        "<div class=\"table-wrap\"><table class=\"cards\"><caption class=\"sr-only\">Receivers</caption>",
        "<thead><tr><th scope=\"col\">Receiver</th><th scope=\"col\">Type</th>",
        "<th scope=\"col\">URL</th><th scope=\"col\">Last delivery</th></tr></thead><tbody>"
    );
    for (i, r) in rows.iter().enumerate() {
        // One indexed lookup per receiver: the newest delivery it recorded.
        let last = ui
            .app
            .store
            .deliveries(DeliveryFilter {
                project: Some(r.project.clone()),
                receiver: Some(r.name.clone()),
                query: None,
                limit: 1,
            })
            .await;
        html!(
            h,
            "<tr><td data-label=\"Receiver\">",
            { &r.project },
            "/<strong>",
            { &r.name },
            "</strong></td><td data-label=\"Type\">",
            { &r.kind },
            "</td><td data-label=\"URL\"><code class=\"url\" id=\"url-",
            { i },
            "\">",
            { &r.url },
            "</code> <button type=\"button\" class=\"copy\" data-copy=\"url-",
            { i },
            "\" aria-label=\"Copy the URL of ",
            { &r.project },
            "/",
            { &r.name },
            "\">Copy</button></td><td data-label=\"Last delivery\">"
        );
        match last {
            Ok(list) => match list.into_iter().next().map(api::Delivery::from) {
                Some(d) => {
                    html!(h, "<a href=\"/ui/deliveries/", { segment(&d.id) }, "\">");
                    html!(
                        h,
                        "<time datetime=\"",
                        { &d.received_at },
                        "\">",
                        { &d.received_at },
                        "</time></a> "
                    );
                    outcome_badge(&mut h, &d.outcome);
                }
                None => html!(h, "<span class=\"muted\">none yet</span>"),
            },
            Err(e) => html!(h, "<span class=\"problem\">", { e }, "</span>"),
        }
        html!(
            h,
            " <a class=\"more\" href=\"/ui/deliveries?project=",
            { segment(&r.project) },
            "&amp;receiver=",
            { segment(&r.name) },
            "\">all</a></td></tr>"
        );
    }
    html!(h, "</tbody></table></div><p class=\"sr-only\" role=\"status\" aria-live=\"polite\" id=\"copy-status\"></p>");
    layout::page(
        StatusCode::OK,
        "Receivers",
        Nav::Receivers,
        ui.token.is_some(),
        h,
    )
}
