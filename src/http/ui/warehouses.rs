//! `/ui/warehouses` (every configured Warehouse and its refresh state) and
//! `/ui/warehouses/{project}/{name}` (state, last error, what each subscription discovered, the
//! Freight timeline).

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use dockhand_core::warehouse_ref::WarehouseRef;

use super::html::{html, segment, Html};
use super::layout::{self, or_dash, Nav};
use super::Ui;
use crate::discovery::freight::Freight;
use crate::http::admin::KARGO_MODE_NO_FREIGHT;
use crate::http::api;
use crate::store::{FreightFilter, WarehouseState};

async fn states(ui: &Ui) -> Result<HashMap<WarehouseRef, WarehouseState>, Response> {
    match ui.app.store.warehouse_states().await {
        Ok(list) => Ok(list.into_iter().map(|s| (s.warehouse.clone(), s)).collect()),
        Err(e) => Err(layout::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &e.to_string(),
        )),
    }
}

pub async fn list(State(ui): State<Ui>) -> Response {
    let mut states = match states(&ui).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let snap = ui.app.snapshot.load();
    let mut h = Html::new();
    html!(h, "<h1>Warehouses</h1>");
    if snap.config.warehouses.is_empty() {
        html!(h, "<p class=\"empty\">No Warehouse is configured.</p>");
        return layout::page(
            StatusCode::OK,
            "Warehouses",
            Nav::Warehouses,
            ui.token.is_some(),
            h,
        );
    }
    html!(
        h,
        "<div class=\"table-wrap\"><table class=\"cards\"><caption class=\"sr-only\">Warehouses</caption>",
        "<thead><tr><th scope=\"col\">Warehouse</th><th scope=\"col\">State</th>",
        "<th scope=\"col\">Last refresh requested</th><th scope=\"col\">Last reconciled</th>",
        "<th scope=\"col\">Refreshes / reconciles</th><th scope=\"col\">Last error</th></tr></thead><tbody>"
    );
    for w in &snap.config.warehouses {
        let st = states.remove(&WarehouseRef::from(w)).unwrap_or_default();
        let w = api::Warehouse::new(w, st);
        html!(h, "<tr><td data-label=\"Warehouse\">");
        link(&mut h, &w.project, &w.name);
        html!(
            h,
            "<br><small class=\"muted\">every ",
            { &w.interval },
            ", ",
            { &w.freight_creation_policy },
            "</small></td><td data-label=\"State\">"
        );
        state_badge(&mut h, &w);
        html!(
            h,
            "</td><td data-label=\"Last refresh requested\">",
            { or_dash(&w.last_refresh_requested) },
            "</td><td data-label=\"Last reconciled\">",
            { or_dash(&w.last_reconciled) },
            "</td><td data-label=\"Refreshes / reconciles\">",
            { w.refresh_count },
            " / ",
            { w.reconcile_count },
            "</td><td data-label=\"Last error\">"
        );
        match &w.last_error {
            Some(e) => html!(h, "<span class=\"problem\">", { e }, "</span>"),
            None => html!(h, "—"),
        }
        html!(h, "</td></tr>");
    }
    html!(h, "</tbody></table></div>");
    layout::page(
        StatusCode::OK,
        "Warehouses",
        Nav::Warehouses,
        ui.token.is_some(),
        h,
    )
}

fn link(h: &mut Html, project: &str, name: &str) {
    html!(
        h,
        "<a href=\"/ui/warehouses/",
        { segment(project) },
        "/",
        { segment(name) },
        "\">",
        { project },
        "/<strong>",
        { name },
        "</strong></a>"
    );
}

fn state_badge(h: &mut Html, w: &api::Warehouse) {
    let (class, text) = if w.pending {
        ("pending", "refresh pending")
    } else if w.last_error.is_some() {
        ("rejected", "failed")
    } else if w.last_reconciled.is_some() {
        ("refreshed", "reconciled")
    } else {
        ("ignored", "never reconciled")
    };
    html!(
        h,
        "<span class=\"badge outcome-",
        { class },
        "\">",
        { text },
        "</span>"
    );
}

pub async fn detail(
    State(ui): State<Ui>,
    Path((project, name)): Path<(String, String)>,
) -> Response {
    let mut states = match states(&ui).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let key = WarehouseRef::new(project, name);
    let discovered = match ui.app.store.discovery(&key).await {
        Ok(d) => d,
        Err(e) => return layout::error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let snap = ui.app.snapshot.load();
    let Some(w) = snap.warehouse(&key) else {
        return layout::error(
            StatusCode::NOT_FOUND,
            &format!("No Warehouse {key} in the configuration."),
        );
    };
    let d = api::WarehouseDetail::new(w, states.remove(&key).unwrap_or_default(), discovered);
    let w = &d.warehouse;

    let mut h = Html::new();
    html!(
        h,
        "<h1>Warehouse ",
        { &w.project },
        "/<strong>",
        { &w.name },
        "</strong></h1><p class=\"summary\">"
    );
    state_badge(&mut h, w);
    html!(h, "</p><section aria-labelledby=\"state\"><h2 id=\"state\">Refresh state</h2><dl class=\"facts\">");
    for (term, value) in [
        ("Interval", Some(w.interval.as_str())),
        ("Freight creation", Some(w.freight_creation_policy.as_str())),
        (
            "Last refresh requested",
            w.last_refresh_requested.as_deref(),
        ),
        (
            "Last reconcile started",
            w.last_reconcile_started.as_deref(),
        ),
        ("Last reconciled", w.last_reconciled.as_deref()),
        ("Last discovered", d.last_discovered.as_deref()),
    ] {
        html!(
            h,
            "<dt>",
            { term },
            "</dt><dd>",
            { value.unwrap_or("—") },
            "</dd>"
        );
    }
    html!(
        h,
        "<dt>Refreshes / reconciles</dt><dd>",
        { w.refresh_count },
        " / ",
        { w.reconcile_count },
        "</dd><dt>Configured in</dt><dd><code>",
        { &d.origin.file },
        "</code> (document ",
        { d.origin.document },
        ")</dd><dt>Last error</dt><dd>"
    );
    match &w.last_error {
        Some(e) => html!(h, "<span class=\"problem\">", { e }, "</span>"),
        None => html!(h, "—"),
    }
    html!(
        h,
        "</dd></dl><p><a href=\"/ui/deliveries?project=",
        { segment(&w.project) },
        "\">Deliveries of this project</a></p></section>"
    );

    html!(
        h,
        "<section aria-labelledby=\"subs\"><h2 id=\"subs\">Subscriptions</h2>"
    );
    for (i, s) in d.subscriptions.iter().enumerate() {
        html!(h, "<div class=\"subscription\"><h3>#", { i }, " ");
        subscription_spec(&mut h, &s.spec);
        html!(h, "</h3>");
        if let Some(e) = &s.error {
            html!(h, "<p class=\"problem\">Discovery failed: ", { e }, "</p>");
        }
        match &s.discovered {
            None => html!(h, "<p class=\"muted\">Not discovered yet.</p>"),
            Some(a) => {
                html!(
                    h,
                    "<p class=\"muted\">Discovered at ",
                    { or_dash(&s.discovered_at) },
                    "</p>"
                );
                artifacts(&mut h, a);
            }
        }
        html!(h, "</div>");
    }
    html!(
        h,
        "</section><section aria-labelledby=\"freight\"><h2 id=\"freight\">Freight timeline</h2>"
    );
    if ui.app.kargo.is_some() {
        html!(h, "<p class=\"muted\">", { KARGO_MODE_NO_FREIGHT }, "</p>");
    } else {
        let filter = FreightFilter {
            project: Some(w.project.clone()),
            warehouse: Some(w.name.clone()),
        };
        match ui.app.store.freight(filter).await {
            Err(e) => html!(
                h,
                "<p class=\"problem\">Cannot read Freight: ",
                { e },
                "</p>"
            ),
            Ok(list) if list.is_empty() => {
                html!(h, "<p class=\"muted\">No Freight recorded yet.</p>")
            }
            Ok(list) => {
                html!(h, "<ol class=\"timeline\">");
                for f in list
                    .into_iter()
                    .filter_map(|v| serde_json::from_value::<Freight>(v).ok())
                    .map(api::Freight::from)
                {
                    html!(
                        h,
                        "<li><time datetime=\"",
                        { &f.created_at },
                        "\">",
                        { &f.created_at },
                        "</time> <strong>",
                        { &f.alias },
                        "</strong> <small class=\"muted\"><code>",
                        { &f.id },
                        "</code></small>"
                    );
                    artifacts(&mut h, &f.artifacts);
                    html!(h, "</li>");
                }
                html!(h, "</ol>");
            }
        }
    }
    html!(h, "</section>");
    layout::page(
        StatusCode::OK,
        "Warehouse",
        Nav::Warehouses,
        ui.token.is_some(),
        h,
    )
}

fn subscription_spec(h: &mut Html, s: &api::SubscriptionSpec) {
    match s {
        api::SubscriptionSpec::Image {
            repo_url,
            image_selection_strategy,
            constraint,
            platform,
            ..
        } => {
            html!(h, "image <code>", { repo_url }, "</code> <small>", {
                image_selection_strategy
            });
            if let Some(c) = constraint {
                html!(h, " <code>", { c }, "</code>");
            }
            if let Some(p) = platform {
                html!(h, " ", { p });
            }
            html!(h, "</small>");
        }
        api::SubscriptionSpec::Git {
            repo_url,
            commit_selection_strategy,
            branch,
            semver_constraint,
            ..
        } => {
            html!(h, "git <code>", { repo_url }, "</code> <small>", {
                commit_selection_strategy
            });
            if let Some(b) = branch {
                html!(h, " branch <code>", { b }, "</code>");
            }
            if let Some(c) = semver_constraint {
                html!(h, " <code>", { c }, "</code>");
            }
            html!(h, "</small>");
        }
        api::SubscriptionSpec::Chart {
            repo_url,
            name,
            semver_constraint,
            ..
        } => {
            html!(h, "chart <code>", { repo_url }, "</code>");
            if let Some(n) = name {
                html!(h, " <code>", { n }, "</code>");
            }
            if let Some(c) = semver_constraint {
                html!(h, " <small><code>", { c }, "</code></small>");
            }
        }
    }
}

fn artifacts(h: &mut Html, a: &api::Artifacts) {
    if a.images.is_empty() && a.charts.is_empty() && a.commits.is_empty() {
        html!(h, "<p class=\"muted\">No artifact.</p>");
        return;
    }
    html!(h, "<ul class=\"artifacts\">");
    for i in &a.images {
        html!(
            h,
            "<li><code>",
            { &i.repo_url },
            ":",
            { &i.tag },
            "</code> <small class=\"digest\">",
            { &i.digest },
            "</small>"
        );
        if let Some(c) = &i.created_at {
            html!(h, " <small class=\"muted\">built ", { c }, "</small>");
        }
        html!(h, "</li>");
    }
    for c in &a.charts {
        html!(h, "<li><code>", { &c.repo_url });
        if let Some(n) = &c.name {
            html!(h, " ", { n });
        }
        html!(h, "</code> ", { &c.version }, "</li>");
    }
    for c in &a.commits {
        html!(
            h,
            "<li><code>",
            { &c.repo_url },
            "</code> <code>",
            { &c.id },
            "</code>"
        );
        if let Some(b) = &c.branch {
            html!(h, " branch ", { b });
        }
        if let Some(t) = &c.tag {
            html!(h, " tag ", { t });
        }
        html!(h, "</li>");
    }
    html!(h, "</ul>");
}
