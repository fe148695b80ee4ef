//! `/ui/deliveries` (the live list with its filters, `/ui/deliveries/rows` the part the page
//! polls) and `/ui/deliveries/{id}` (one delivery: what arrived as far as the record has it,
//! each target with its normalized key, each candidate Warehouse matched or why not, the
//! refreshes and, in Kargo mode, when Kargo handled them).
//!
//! Project, receiver and query filter in the store; outcome and time filter the newest
//! `SCAN` deliveries the store returns, so they look back that far at most.

use std::collections::BTreeSet;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dockhand_core::event::Outcome;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::html::{html, segment, Html};
use super::layout::{self, or_dash, Nav};
use super::Ui;
use crate::http::api;
use crate::store::DeliveryFilter;

/// How many deliveries the outcome and time filters look through.
const SCAN: usize = 10_000;
/// Rows shown when no `limit` is given, and the most shown.
const DEFAULT_ROWS: usize = 100;
const MAX_ROWS: usize = 1_000;

/// The `since` choices: value, label, seconds.
const SINCE: &[(&str, &str, i64)] = &[
    ("15m", "last 15 minutes", 15 * 60),
    ("1h", "last hour", 3600),
    ("24h", "last 24 hours", 24 * 3600),
    ("7d", "last 7 days", 7 * 24 * 3600),
];

/// The filters, as the form sends them (an empty field means "any").
#[derive(Deserialize, Default, Clone)]
pub struct Filter {
    project: Option<String>,
    receiver: Option<String>,
    outcome: Option<String>,
    query: Option<String>,
    since: Option<String>,
    limit: Option<usize>,
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl Filter {
    /// The filter as a query string (for the rows URL the page polls).
    fn query_string(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("project", &self.project),
            ("receiver", &self.receiver),
            ("outcome", &self.outcome),
            ("query", &self.query),
            ("since", &self.since),
        ] {
            if let Some(v) = given(v) {
                parts.push(format!("{k}={}", segment(&v)));
            }
        }
        if let Some(l) = self.limit {
            parts.push(format!("limit={l}"));
        }
        parts.join("&")
    }
}

/// The deliveries the filter selects, newest first.
async fn select(ui: &Ui, f: &Filter) -> Result<Vec<api::Delivery>, String> {
    let rows = f.limit.unwrap_or(DEFAULT_ROWS).clamp(1, MAX_ROWS);
    let outcome = given(&f.outcome);
    let cutoff = given(&f.since)
        .and_then(|s| SINCE.iter().find(|(v, _, _)| *v == s))
        .map(|(_, _, secs)| OffsetDateTime::now_utc() - time::Duration::seconds(*secs));
    let scanning = outcome.is_some() || cutoff.is_some();
    let list = ui
        .app
        .store
        .deliveries(DeliveryFilter {
            project: given(&f.project),
            receiver: given(&f.receiver),
            query: given(&f.query),
            limit: if scanning { SCAN } else { rows },
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(list
        .into_iter()
        .map(api::Delivery::from)
        .filter(|d| outcome.as_deref().is_none_or(|o| d.outcome == o))
        .filter(|d| {
            cutoff.is_none_or(|c| {
                OffsetDateTime::parse(&d.received_at, &Rfc3339).is_ok_and(|t| t >= c)
            })
        })
        .take(rows)
        .collect())
}

pub async fn list(State(ui): State<Ui>, Query(f): Query<Filter>) -> Response {
    let selected = select(&ui, &f).await;
    let snap = ui.app.snapshot.load();
    let projects: BTreeSet<&str> = snap.config.projects.iter().map(String::as_str).collect();
    let receivers: BTreeSet<&str> = snap
        .config
        .receivers
        .iter()
        .map(|r| r.name.as_str())
        .collect();

    let mut h = Html::new();
    html!(
        h,
        "<h1>Deliveries</h1>",
        "<form method=\"get\" action=\"/ui/deliveries\" class=\"filters\" role=\"search\" aria-label=\"Filter deliveries\">"
    );
    select_field(
        &mut h,
        "project",
        "Project",
        &given(&f.project),
        projects.iter().map(|p| (*p, *p)),
    );
    select_field(
        &mut h,
        "receiver",
        "Receiver",
        &given(&f.receiver),
        receivers.iter().map(|r| (*r, *r)),
    );
    select_field(
        &mut h,
        "outcome",
        "Outcome",
        &given(&f.outcome),
        Outcome::ALL
            .iter()
            .filter(|o| **o != Outcome::StoreError)
            .map(|o| (o.as_str(), o.as_str())),
    );
    html!(
        h,
        "<div class=\"field\"><label for=\"f-query\">Receiver URL query</label>",
        "<input id=\"f-query\" name=\"query\" type=\"search\" placeholder=\"region=westus\" value=\"",
        { given(&f.query).unwrap_or_default() },
        "\"></div>"
    );
    select_field(
        &mut h,
        "since",
        "Time",
        &given(&f.since),
        SINCE.iter().map(|(v, l, _)| (*v, *l)),
    );
    html!(
        h,
        "<div class=\"field buttons\"><button type=\"submit\">Filter</button> ",
        "<a href=\"/ui/deliveries\">Clear</a></div></form>",
        "<p class=\"live\"><input type=\"checkbox\" id=\"live\" checked> ",
        "<label for=\"live\">Update live</label> <span id=\"live-status\" role=\"status\" aria-live=\"polite\"></span></p>"
    );
    match selected {
        Ok(rows) => {
            html!(
                h,
                "<div class=\"table-wrap\"><table class=\"cards deliveries\"><caption class=\"sr-only\">Deliveries, newest first</caption>",
                "<thead><tr><th scope=\"col\">Received</th><th scope=\"col\">Receiver</th>",
                "<th scope=\"col\">Event</th><th scope=\"col\">What arrived</th>",
                "<th scope=\"col\">Result</th></tr></thead>",
                "<tbody id=\"delivery-rows\" data-src=\"/ui/deliveries/rows?",
                { f.query_string() },
                "\">"
            );
            h.append(rows_html(&rows));
            html!(h, "</tbody></table></div>");
        }
        Err(e) => html!(
            h,
            "<p class=\"problem\" role=\"alert\">Cannot read deliveries: ",
            { e },
            "</p>"
        ),
    }
    layout::page(
        StatusCode::OK,
        "Deliveries",
        Nav::Deliveries,
        ui.token.is_some(),
        h,
    )
}

fn select_field<'a>(
    h: &mut Html,
    name: &'static str,
    label: &'static str,
    current: &Option<String>,
    options: impl Iterator<Item = (&'a str, &'a str)>,
) {
    html!(
        h,
        "<div class=\"field\"><label for=\"f-",
        { name },
        "\">",
        { label },
        "</label>"
    );
    html!(
        h,
        "<select id=\"f-",
        { name },
        "\" name=\"",
        { name },
        "\"><option value=\"\">any</option>"
    );
    let mut found = current.is_none();
    for (value, text) in options {
        html!(h, "<option value=\"", { value }, "\"");
        if current.as_deref() == Some(value) {
            found = true;
            html!(h, " selected");
        }
        html!(h, ">", { text }, "</option>");
    }
    // A value typed into the URL that the configuration does not list stays selected.
    if let (false, Some(c)) = (found, current) {
        html!(
            h,
            "<option value=\"",
            { c },
            "\" selected>",
            { c },
            "</option>"
        );
    }
    html!(h, "</select></div>");
}

/// `/ui/deliveries/rows`: the table body alone, which the list page polls.
pub async fn rows(State(ui): State<Ui>, Query(f): Query<Filter>) -> Response {
    match select(&ui, &f).await {
        Ok(rows) => layout::respond(StatusCode::OK, rows_html(&rows)),
        Err(e) => {
            let mut h = Html::new();
            html!(
                h,
                "<tr><td colspan=\"5\" class=\"problem\">Cannot read deliveries: ",
                { e },
                "</td></tr>"
            );
            layout::respond(StatusCode::INTERNAL_SERVER_ERROR, h)
        }
    }
}

fn rows_html(rows: &[api::Delivery]) -> Html {
    let mut h = Html::new();
    if rows.is_empty() {
        html!(
            h,
            "<tr><td colspan=\"5\" class=\"empty\">No delivery matches.</td></tr>"
        );
    }
    for d in rows {
        html!(
            h,
            "<tr class=\"outcome-",
            { &d.outcome },
            "\"><td data-label=\"Received\"><a href=\"/ui/deliveries/",
            { segment(&d.id) },
            "\" class=\"delivery-id\" title=\"Delivery ",
            { &d.id },
            "\"><time datetime=\"",
            { &d.received_at },
            "\">",
            { short_time(&d.received_at) },
            "</time></a><br><small class=\"muted\">",
            { &d.id },
            "</small></td><td data-label=\"Receiver\">",
            { &d.project },
            "/",
            { &d.receiver },
            "</td><td data-label=\"Event\">",
            { &d.source },
            " ",
            { or_dash(&d.event_type) },
            "</td><td data-label=\"What arrived\">"
        );
        arrived(&mut h, d);
        html!(h, "</td><td data-label=\"Result\">");
        outcome_badge(&mut h, &d.outcome);
        html!(h, " <span class=\"status\">", { d.status }, "</span>");
        if !d.refreshed.is_empty() {
            html!(h, "<ul class=\"refreshed\">");
            for w in &d.refreshed {
                html!(h, "<li>refreshed ");
                warehouse_link(&mut h, w);
                html!(h, "</li>");
            }
            html!(h, "</ul>");
        }
        if d.explanation.is_empty() {
            if d.refreshed.is_empty() {
                html!(h, "<div class=\"message\">", { &d.message }, "</div>");
            }
        } else {
            html!(h, "<ul class=\"why\" aria-label=\"Why not\">");
            for line in &d.explanation {
                html!(h, "<li>", { line }, "</li>");
            }
            html!(h, "</ul>");
        }
        html!(h, "</td></tr>");
    }
    h
}

/// Repositories with the tags or versions the event carried.
fn arrived(h: &mut Html, d: &api::Delivery) {
    if d.repositories.is_empty() && d.qualifiers.is_empty() {
        html!(h, "<span class=\"muted\">—</span>");
        return;
    }
    for r in &d.repositories {
        html!(h, "<code class=\"repo\">", { r }, "</code> ");
    }
    for q in &d.qualifiers {
        html!(h, "<code class=\"tag\">", { q }, "</code> ");
    }
}

/// `2026-11-26T15:31:36.123Z` → `2026-11-26 15:31:36`.
fn short_time(t: &str) -> String {
    let t = t.replacen('T', " ", 1);
    match t.find('.') {
        Some(i) => t[..i].to_string(),
        None => t.trim_end_matches('Z').to_string(),
    }
}

pub fn outcome_badge(h: &mut Html, outcome: &str) {
    html!(
        h,
        "<span class=\"badge outcome-",
        { outcome },
        "\">",
        { outcome },
        "</span>"
    );
}

/// `project/name` linked to the Warehouse's page.
fn warehouse_link(h: &mut Html, warehouse: &str) {
    match warehouse.split_once('/') {
        Some((p, n)) => html!(
            h,
            "<a href=\"/ui/warehouses/",
            { segment(p) },
            "/",
            { segment(n) },
            "\">",
            { warehouse },
            "</a>"
        ),
        None => h.text(warehouse),
    }
}

pub async fn detail(State(ui): State<Ui>, Path(id): Path<String>) -> Response {
    let d = match ui.app.store.delivery(&id).await {
        Ok(Some(d)) => api::Delivery::from(d),
        Ok(None) => {
            return layout::error(
                StatusCode::NOT_FOUND,
                &format!("No delivery {id} is recorded (or it is no longer kept)."),
            )
        }
        Err(e) => return layout::error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let payload = match crate::http::admin::payload_of(&ui.app, &id).await {
        Ok(p) => p,
        Err(e) => return layout::error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let mut h = Html::new();
    html!(
        h,
        "<h1>Delivery <code class=\"delivery-id\">",
        { &d.id },
        "</code></h1>"
    );
    html!(h, "<p class=\"summary\">");
    outcome_badge(&mut h, &d.outcome);
    html!(
        h,
        " <span class=\"status\">HTTP ",
        { d.status },
        "</span> ",
        { &d.message },
        "</p>"
    );

    html!(h, "<section aria-labelledby=\"arrived\"><h2 id=\"arrived\">What arrived</h2><dl class=\"facts\">");
    fact(&mut h, "Received", &d.received_at);
    if let Some(original) = &d.replay_of {
        html!(
            h,
            "<dt>Replay of</dt><dd><a class=\"replay-of\" href=\"/ui/deliveries/",
            { segment(original) },
            "\"><code>",
            { original },
            "</code></a></dd>"
        );
    }
    fact(
        &mut h,
        "Receiver",
        &format!("{}/{} ({})", d.project, d.receiver, d.receiver_type),
    );
    fact(&mut h, "Source", &d.source);
    fact(&mut h, "Event type", or_dash(&d.event_type));
    fact(&mut h, "Provider id", or_dash(&d.provider_id));
    fact(&mut h, "URL query", or_dash(&d.query));
    fact(&mut h, "Handled in", &format!("{} µs", d.duration_micros));
    html!(h, "<dt>Repositories</dt><dd>");
    list_or_dash(&mut h, &d.repositories);
    html!(h, "</dd><dt>Tags, versions, refs</dt><dd>");
    list_or_dash(&mut h, &d.qualifiers);
    html!(h, "</dd></dl>");
    payload_section(&mut h, &d, payload.as_ref());
    html!(h, "</section>");

    html!(h, "<section aria-labelledby=\"targets\"><h2 id=\"targets\">Targets and candidate Warehouses</h2>");
    match &d.detail {
        None => html!(
            h,
            "<p class=\"muted\">Not matched: this delivery refreshes nothing by its kind (",
            { &d.outcome },
            ").</p>"
        ),
        Some(targets) if targets.is_empty() => {
            html!(h, "<p class=\"muted\">The event named no repository.</p>")
        }
        Some(targets) => {
            for t in targets {
                html!(
                    h,
                    "<div class=\"target\"><h3><code class=\"repo\">",
                    { &t.repo_url },
                    "</code></h3><p>Normalized key: "
                );
                match (&t.key, &t.error) {
                    (Some(k), _) => html!(h, "<code class=\"key\">", { k }, "</code>"),
                    (None, e) => html!(
                        h,
                        "<span class=\"problem\">does not normalize: ",
                        { or_dash(e) },
                        "</span>"
                    ),
                }
                html!(h, "</p>");
                if t.candidates.is_empty() {
                    html!(
                        h,
                        "<p class=\"why\">No Warehouse subscribes to this repository.</p></div>"
                    );
                    continue;
                }
                html!(
                    h,
                    "<div class=\"table-wrap\"><table class=\"cards\"><caption class=\"sr-only\">Candidates for ",
                    { &t.repo_url },
                    "</caption><thead><tr><th scope=\"col\">Warehouse</th><th scope=\"col\">Subscription</th>",
                    "<th scope=\"col\">Matched</th></tr></thead><tbody>"
                );
                for c in &t.candidates {
                    html!(h, "<tr><td data-label=\"Warehouse\">");
                    warehouse_link(&mut h, &format!("{}/{}", c.project, c.warehouse));
                    html!(
                        h,
                        "</td><td data-label=\"Subscription\">#",
                        { c.subscription },
                        " <code>",
                        { &c.repo_url },
                        "</code></td><td data-label=\"Matched\">"
                    );
                    if c.matched {
                        html!(h, "<span class=\"badge outcome-refreshed\">matched</span>");
                    } else {
                        html!(h, "<span class=\"badge outcome-unmatched\">not matched</span> <span class=\"why\">", { or_dash(&c.reason) }, "</span>");
                    }
                    html!(h, "</td></tr>");
                }
                html!(h, "</tbody></table></div></div>");
            }
        }
    }
    if !d.explanation.is_empty() {
        html!(h, "<h3>Why not, in short</h3><ul class=\"why\">");
        for line in &d.explanation {
            html!(h, "<li>", { line }, "</li>");
        }
        html!(h, "</ul>");
    }
    html!(h, "</section>");

    html!(
        h,
        "<section aria-labelledby=\"refreshes\"><h2 id=\"refreshes\">Refreshes</h2>"
    );
    if d.refreshed.is_empty() {
        html!(h, "<p class=\"muted\">No Warehouse was refreshed.</p>");
    } else {
        html!(h, "<ul class=\"refreshed\">");
        for w in &d.refreshed {
            html!(h, "<li>");
            warehouse_link(&mut h, w);
            html!(h, "</li>");
        }
        html!(h, "</ul>");
    }
    if !d.refreshes.is_empty() || ui.app.kargo.is_some() {
        html!(h, "<h3>In Kargo</h3>");
        if d.refreshes.is_empty() {
            html!(
                h,
                "<p class=\"muted\">No refresh annotation was patched for this delivery.</p>"
            );
        } else {
            html!(
                h,
                "<div class=\"table-wrap\"><table class=\"cards\"><caption class=\"sr-only\">Kargo refreshes</caption>",
                "<thead><tr><th scope=\"col\">Warehouse</th><th scope=\"col\">Token</th><th scope=\"col\">Patched</th>",
                "<th scope=\"col\">Handled by Kargo</th><th scope=\"col\">Error</th></tr></thead><tbody>"
            );
            for r in &d.refreshes {
                html!(h, "<tr><td data-label=\"Warehouse\">");
                warehouse_link(&mut h, &r.warehouse);
                html!(
                    h,
                    "</td><td data-label=\"Token\"><code>",
                    { or_dash(&r.token) },
                    "</code></td><td data-label=\"Patched\">",
                    { or_dash(&r.patched_at) },
                    "</td><td data-label=\"Handled by Kargo\">",
                    { r.handled_at.as_deref().unwrap_or("not yet") },
                    "</td><td data-label=\"Error\">",
                    { or_dash(&r.error) },
                    "</td></tr>"
                );
            }
            html!(h, "</tbody></table></div>");
        }
    }
    html!(h, "</section>");

    html!(
        h,
        "<details><summary>The record as the admin API serves it</summary><pre>"
    );
    match serde_json::to_string_pretty(&d) {
        Ok(json) => h.text(json),
        Err(e) => h.text(e),
    }
    html!(h, "</pre></details>");
    layout::page(
        StatusCode::OK,
        "Delivery",
        Nav::Deliveries,
        ui.token.is_some(),
        h,
    )
}

/// The request kept with the delivery: headers (never a credential), the body pretty-printed
/// when it is JSON, and the replay button or why there is none.
fn payload_section(h: &mut Html, d: &api::Delivery, payload: Option<&api::Payload>) {
    html!(h, "<h3 id=\"payload\">Payload</h3>");
    let Some(p) = payload.filter(|p| p.kept) else {
        html!(
            h,
            "<p class=\"muted payload-missing\">No payload was kept for this delivery ",
            "(the server ran with --keep-payloads=false, or the request was refused before its ",
            "body was read).</p>"
        );
        return;
    };
    html!(
        h,
        "<p class=\"muted\">",
        { p.bytes },
        " bytes as received. Authorization, cookies, signatures and tokens are never kept.</p>"
    );
    if let Some(t) = &p.trimmed {
        html!(h, "<p class=\"problem\">Trimmed: ", { t }, "</p>");
    }
    if !p.headers.is_empty() {
        html!(
            h,
            "<div class=\"table-wrap\"><table class=\"headers\"><caption class=\"sr-only\">Headers kept</caption>",
            "<thead><tr><th scope=\"col\">Header</th><th scope=\"col\">Value</th></tr></thead><tbody>"
        );
        for x in &p.headers {
            html!(
                h,
                "<tr><td><code>",
                { &x.name },
                "</code></td><td><code>",
                { &x.value },
                "</code></td></tr>"
            );
        }
        html!(h, "</tbody></table></div>");
    }
    html!(
        h,
        "<pre class=\"payload\" tabindex=\"0\" aria-labelledby=\"payload\">"
    );
    match p.json.as_ref().map(serde_json::to_string_pretty) {
        Some(Ok(text)) => h.text(text),
        _ => h.text(p.body.as_deref().unwrap_or_default()),
    }
    html!(h, "</pre>");
    match &p.not_replayable {
        None => html!(
            h,
            "<form method=\"post\" action=\"/ui/deliveries/",
            { segment(&d.id) },
            "/replay\" class=\"replay\"><button type=\"submit\">Replay against the current configuration</button></form>"
        ),
        Some(why) => html!(h, "<p class=\"muted not-replayable\">Cannot be replayed: ", { why }, "</p>"),
    }
}

/// The dashboard's replay button: replays, then shows the new delivery (303), or the reason.
pub async fn replay(State(ui): State<Ui>, Path(id): Path<String>) -> Response {
    match crate::replay::replay(&ui.app, &id).await {
        Ok(d) => axum::response::Redirect::to(&format!("/ui/deliveries/{}", segment(&d.id)))
            .into_response(),
        Err(e) => layout::error(
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &e.to_string(),
        ),
    }
}

fn fact(h: &mut Html, term: &'static str, value: &str) {
    html!(h, "<dt>", { term }, "</dt><dd>", { value }, "</dd>");
}

fn list_or_dash(h: &mut Html, items: &[String]) {
    if items.is_empty() {
        html!(h, "—");
    }
    for i in items {
        html!(h, "<code>", { i }, "</code> ");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_time_drops_fraction_and_zone() {
        assert_eq!(
            short_time("2026-11-26T15:31:36.123Z"),
            "2026-11-26 15:31:36"
        );
        assert_eq!(short_time("2026-11-26T15:31:36Z"), "2026-11-26 15:31:36");
    }

    #[test]
    fn the_rows_url_keeps_the_filter_encoded() {
        let f = Filter {
            project: Some("kargo-demo".into()),
            receiver: Some(String::new()),
            query: Some("region=west us&x".into()),
            limit: Some(5),
            ..Filter::default()
        };
        assert_eq!(
            f.query_string(),
            "project=kargo-demo&query=region%3Dwest%20us%26x&limit=5"
        );
    }
}
