//! The replication view (`/ui/artifacts`): for an image repository and tag, which registry
//! replicas (the receiver URL's query, `region=westus`) reported it, when and with which digest,
//! from the same source as `GET /api/v1/artifacts` (`admin::artifacts_of`).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::html::{html, segment, Html};
use super::layout::{self, or_dash, Nav};
use super::Ui;
use crate::http::api;

#[derive(Deserialize, Default)]
pub struct Form {
    repository: Option<String>,
    tag: Option<String>,
}

pub async fn page(State(ui): State<Ui>, Query(f): Query<Form>) -> Response {
    let repository = f.repository.unwrap_or_default();
    let tag = f.tag.unwrap_or_default();
    let mut h = Html::new();
    html!(
        h,
        "<h1>Artifacts by replica</h1>",
        "<p class=\"muted\">Which registry replicas reported an image: each replica's webhook ",
        "URL carries its own query (<code>?region=westus</code>), recorded with every delivery.</p>",
        "<form method=\"get\" action=\"/ui/artifacts\" class=\"filters\" role=\"search\" aria-label=\"Find an image\">",
        "<div class=\"field\"><label for=\"a-repository\">Repository</label>",
        "<input id=\"a-repository\" name=\"repository\" type=\"search\" required ",
        "placeholder=\"myregistry.azurecr.io/app\" value=\"",
        { &repository },
        "\"></div><div class=\"field\"><label for=\"a-tag\">Tag</label>",
        "<input id=\"a-tag\" name=\"tag\" type=\"search\" placeholder=\"any\" value=\"",
        { &tag },
        "\"></div><div class=\"field buttons\"><button type=\"submit\">Show</button></div></form>"
    );
    if repository.trim().is_empty() {
        return layout::page(
            StatusCode::OK,
            "Artifacts",
            Nav::Artifacts,
            ui.token.is_some(),
            h,
        );
    }
    let tag = Some(tag).filter(|t| !t.trim().is_empty());
    let status = match crate::http::admin::artifacts_of(&ui.app, Some(&repository), tag, None).await
    {
        Ok(r) => {
            replication(&mut h, &r);
            StatusCode::OK
        }
        Err(resp) => {
            // The API's answer carries the reason as `{"error": ...}`.
            let status = resp.status();
            let body = axum::body::to_bytes(resp.into_body(), 64 * 1024)
                .await
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
            let message = body
                .as_ref()
                .and_then(|v| v.get("error"))
                .and_then(|v| v.as_str())
                .unwrap_or("cannot read the reports");
            html!(
                h,
                "<p class=\"problem\" role=\"alert\">",
                { message },
                "</p>"
            );
            status
        }
    };
    layout::page(status, "Artifacts", Nav::Artifacts, ui.token.is_some(), h)
}

fn replication(h: &mut Html, r: &api::Replication) {
    html!(h, "<h2>Replicas of <code class=\"key\">", { &r.repository });
    if let Some(t) = &r.tag {
        html!(h, ":", { t });
    }
    html!(h, "</code></h2>");
    if r.reports.is_empty() {
        html!(
            h,
            "<p class=\"muted no-reports\">No kept delivery reported this image.</p>"
        );
        return;
    }
    html!(
        h,
        "<div class=\"table-wrap\"><table class=\"cards replicas\"><caption class=\"sr-only\">Replicas</caption>",
        "<thead><tr><th scope=\"col\">Replica</th><th scope=\"col\">Last reported</th>",
        "<th scope=\"col\">First reported</th><th scope=\"col\">Digests</th><th scope=\"col\">Tags</th>",
        "<th scope=\"col\">Deliveries</th></tr></thead><tbody>"
    );
    for x in &r.replicas {
        html!(
            h,
            "<tr><td data-label=\"Replica\" class=\"replica\">",
            { or_dash(&x.replica) },
            "</td><td data-label=\"Last reported\">",
            { &x.last_reported_at },
            "</td><td data-label=\"First reported\">",
            { &x.first_reported_at },
            "</td><td data-label=\"Digests\">"
        );
        for d in &x.digests {
            html!(h, "<code class=\"digest\">", { d }, "</code> ");
        }
        html!(h, "</td><td data-label=\"Tags\">");
        for t in &x.tags {
            html!(h, "<code>", { t }, "</code> ");
        }
        html!(
            h,
            "</td><td data-label=\"Deliveries\">",
            { x.deliveries },
            "</td></tr>"
        );
    }
    html!(
        h,
        "</tbody></table></div><h2>Every report</h2>",
        "<div class=\"table-wrap\"><table class=\"cards reports\"><caption class=\"sr-only\">Reports, newest first</caption>",
        "<thead><tr><th scope=\"col\">Received</th><th scope=\"col\">Replica</th><th scope=\"col\">Tag</th>",
        "<th scope=\"col\">Digest</th><th scope=\"col\">Receiver</th></tr></thead><tbody>"
    );
    for x in &r.reports {
        html!(
            h,
            "<tr><td data-label=\"Received\"><a href=\"/ui/deliveries/",
            { segment(&x.delivery_id) },
            "\">",
            { &x.received_at },
            "</a></td><td data-label=\"Replica\">",
            { or_dash(&x.replica) },
            "</td><td data-label=\"Tag\">",
            { or_dash(&x.tag) },
            "</td><td data-label=\"Digest\"><code>",
            { or_dash(&x.digest) },
            "</code></td><td data-label=\"Receiver\">",
            { &x.project },
            "/",
            { &x.receiver },
            "</td></tr>"
        );
    }
    html!(h, "</tbody></table></div>");
}
