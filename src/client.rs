//! The CLI's clients of the admin API (`deliveries`, `warehouses`, `refresh`, `freight`) and
//! their table output. Bodies are read as the admin API's wire types (`http::api`).

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

use crate::http::api::{Artifacts, Delivery, Freight, Payload, Replication, Warehouse};
use crate::receiver_urls::ReceiverRow;

/// A client of one dockhand admin listener.
pub struct Client {
    server: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    pub fn new(server: &str, token: Option<String>) -> Client {
        Client {
            server: server.trim_end_matches('/').to_string(),
            token,
            http: reqwest::Client::new(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req.send().await.map_err(|e| {
            if e.is_connect() {
                anyhow!(
                    "dockhand is not running at {} (connection refused); start it with `dockhand serve` or pass --server",
                    self.server
                )
            } else {
                anyhow!("request to {} failed: {e}", self.server)
            }
        })?;
        let status = resp.status();
        let body: Value = resp
            .json()
            .await
            .with_context(|| format!("{} answered something that is not JSON", self.server))?;
        if !status.is_success() {
            let msg = body
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("request failed");
            bail!("{msg} (HTTP {})", status.as_u16());
        }
        Ok(body)
    }

    pub async fn get(&self, path_and_query: &str) -> anyhow::Result<Value> {
        self.send(self.http.get(format!("{}{path_and_query}", self.server)))
            .await
    }

    pub async fn post(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.http.post(format!("{}{path}", self.server)))
            .await
    }
}

/// Percent-encodes a query parameter value.
pub fn encode(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Splits `PROJECT/WAREHOUSE`.
pub fn split_warehouse(s: &str) -> anyhow::Result<(&str, &str)> {
    match s.split_once('/') {
        Some((p, w)) if !p.is_empty() && !w.is_empty() && !w.contains('/') => Ok((p, w)),
        _ => bail!("expected PROJECT/WAREHOUSE, got {s:?}"),
    }
}

/// Writes one line to standard output. A reader that went away (`dockhand deliveries | head -1`)
/// ends the command quietly with success, as other command-line tools do, instead of a panic.
pub fn print_line(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

/// Whether tables start with their header line; `--no-headers` turns it off for the whole
/// command (set once, before anything is printed).
static HEADERS: AtomicBool = AtomicBool::new(true);

/// `--no-headers`: tables print their rows only (for `awk`, `cut`, `while read`).
pub fn set_headers(on: bool) {
    HEADERS.store(on, Ordering::Relaxed);
}

/// Prints `v` as YAML (`-o yaml`).
pub fn print_yaml(v: &impl serde::Serialize) -> anyhow::Result<()> {
    let text = serde_yaml_ng::to_string(v)?;
    print_line(text.trim_end());
    Ok(())
}

/// Prints rows as an aligned table with a header (unless `--no-headers`).
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        print_line(s.trim_end());
    };
    if HEADERS.load(Ordering::Relaxed) {
        line(header.to_vec());
    }
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

pub fn print_receivers(rows: &[ReceiverRow]) {
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.project.clone(),
                r.name.clone(),
                r.kind.clone(),
                r.url.clone(),
            ]
        })
        .collect();
    print_table(&["PROJECT", "NAME", "TYPE", "URL"], &table);
}

/// Kargo mode's receivers: the path in Kargo's status, the path computed from the current
/// Secret (as a URL on `base_url`), and whether they differ.
pub fn print_kargo_receivers(list: &[crate::kargo::ReceiverPaths], base_url: &str) {
    let base = base_url.trim_end_matches('/');
    let table: Vec<Vec<String>> = list
        .iter()
        .map(|r| {
            vec![
                if r.project.is_empty() {
                    "(cluster)".into()
                } else {
                    r.project.clone()
                },
                r.name.clone(),
                r.status_path.clone().unwrap_or_else(|| "-".into()),
                r.computed_path
                    .as_ref()
                    .map(|p| format!("{base}{p}"))
                    .unwrap_or_else(|| "- (see warnings)".into()),
                if r.mismatch { "MISMATCH" } else { "ok" }.into(),
            ]
        })
        .collect();
    print_table(
        &["PROJECT", "NAME", "STATUS PATH", "URL (COMPUTED)", "CHECK"],
        &table,
    );
}

pub fn print_deliveries(list: &[Delivery]) {
    let table: Vec<Vec<String>> = list
        .iter()
        .map(|d| {
            let mut msg = d.message.clone();
            if !d.explanation.is_empty() {
                msg.push_str(" — ");
                msg.push_str(&d.explanation.join("; "));
            }
            vec![
                d.received_at.clone(),
                format!("{}/{}", d.project, d.receiver),
                d.source.to_string(),
                d.event_type.clone().unwrap_or_else(|| "-".into()),
                d.status.to_string(),
                d.outcome.to_string(),
                if !d.refreshes.is_empty() {
                    // Kargo mode: where each refresh is, from patch to Kargo's handling.
                    d.refreshes
                        .iter()
                        .map(|r| {
                            let state = match (&r.error, &r.patched_at, &r.handled_at) {
                                (Some(e), _, _) => e.clone(),
                                (None, _, Some(at)) => format!("handled by Kargo {at}"),
                                (None, Some(at), None) => format!("patched {at}, awaiting Kargo"),
                                (None, None, None) => "pending patch".to_string(),
                            };
                            format!("{} ({state})", r.warehouse)
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                } else if d.refreshed.is_empty() {
                    "-".into()
                } else {
                    d.refreshed.join(",")
                },
                msg,
            ]
        })
        .collect();
    print_table(
        &[
            "RECEIVED",
            "RECEIVER",
            "SOURCE",
            "EVENT",
            "STATUS",
            "OUTCOME",
            "REFRESHED",
            "MESSAGE",
        ],
        &table,
    );
}

/// An optional field in a table cell.
fn or_dash(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

pub fn print_warehouses(list: &[Warehouse]) {
    let table: Vec<Vec<String>> = list
        .iter()
        .map(|w| {
            vec![
                w.project.clone(),
                w.name.clone(),
                w.pending.to_string(),
                or_dash(&w.last_refresh_requested),
                or_dash(&w.last_reconciled),
                w.reconcile_count.to_string(),
                or_dash(&w.last_error),
            ]
        })
        .collect();
    print_table(
        &[
            "PROJECT",
            "NAME",
            "PENDING",
            "LAST REFRESH REQUESTED",
            "LAST RECONCILED",
            "RECONCILES",
            "LAST ERROR",
        ],
        &table,
    );
}

pub fn print_notifications(list: &[crate::http::api::Notification]) {
    let table: Vec<Vec<String>> = list
        .iter()
        .map(|n| {
            vec![
                n.created_at.clone(),
                format!("{}/{}", n.project, n.notification),
                n.kind.clone(),
                n.event.clone(),
                n.warehouse.clone().unwrap_or_else(|| "-".into()),
                n.status.clone(),
                n.attempts.to_string(),
                n.response_code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "-".into()),
                n.last_error.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    print_table(
        &[
            "CREATED",
            "NOTIFICATION",
            "TYPE",
            "EVENT",
            "WAREHOUSE",
            "STATUS",
            "ATTEMPTS",
            "CODE",
            "LAST ERROR",
        ],
        &table,
    );
}

pub fn print_freight(list: &[Freight]) {
    let table: Vec<Vec<String>> = list
        .iter()
        .map(|f| {
            vec![
                f.id.clone(),
                f.alias.clone(),
                f.created_at.clone(),
                artifacts_line(&f.artifacts),
            ]
        })
        .collect();
    print_table(&["ID", "ALIAS", "CREATED", "ARTIFACTS"], &table);
}

/// Freight artifacts on one line: `image repo:tag@sha256:0123456789ab`, `chart repo name@1.2.3`,
/// `git repo@abc1234 (main)`.
fn artifacts_line(a: &Artifacts) -> String {
    let short = |d: &str, n: usize| d.chars().take(n).collect::<String>();
    let mut parts = Vec::new();
    for i in &a.images {
        parts.push(format!(
            "image {}:{}@{}",
            i.repo_url,
            i.tag,
            short(&i.digest, 19)
        ));
    }
    for c in &a.charts {
        let name = match &c.name {
            Some(n) => format!(" {n}"),
            None => String::new(),
        };
        parts.push(format!("chart {}{name}@{}", c.repo_url, c.version));
    }
    for c in &a.commits {
        let at = c
            .tag
            .as_ref()
            .or(c.branch.as_ref())
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        parts.push(format!("git {}@{}{at}", c.repo_url, short(&c.id, 12)));
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

/// `dockhand explain` as text: the answer, then each repository with its normalized key and
/// every candidate subscription (matched, or why not), then what would be refreshed.
pub fn print_explanation(d: &Delivery, body: Option<&Value>) {
    print_line(&format!(
        "receiver:   {}/{} ({})",
        d.project, d.receiver, d.receiver_type
    ));
    print_line(&format!(
        "event:      {} {}",
        d.source,
        d.event_type.as_deref().unwrap_or("-")
    ));
    print_line(&format!("answer:     HTTP {} {}", d.status, d.outcome));
    match body {
        Some(b) => print_line(&format!("body:       {b}")),
        None => print_line("body:       (empty)"),
    }
    print_decision(d);
}

/// `dockhand deliveries show` and `dockhand replay` as text: the delivery, its decision (as
/// `explain` prints it), then the kept request with its JSON body pretty-printed.
pub fn print_delivery_detail(d: &Delivery, payload: Option<&Payload>) {
    print_line(&format!("id:         {}", d.id));
    print_line(&format!("received:   {}", d.received_at));
    if let Some(original) = &d.replay_of {
        print_line(&format!("replay of:  {original}"));
    }
    print_line(&format!(
        "receiver:   {}/{} ({})",
        d.project, d.receiver, d.receiver_type
    ));
    if let Some(q) = &d.query {
        print_line(&format!("query:      {q}"));
    }
    print_line(&format!(
        "event:      {} {}",
        d.source,
        d.event_type.as_deref().unwrap_or("-")
    ));
    print_line(&format!("answer:     HTTP {} {}", d.status, d.outcome));
    print_line(&format!("message:    {}", d.message));
    print_decision(d);
    let Some(p) = payload else {
        return;
    };
    if !p.kept {
        print_line("payload:    not kept");
    } else {
        print_line(&format!("payload:    {} bytes", p.bytes));
        if let Some(t) = &p.trimmed {
            print_line(&format!("trimmed:    {t}"));
        }
    }
    if let Some(why) = &p.not_replayable {
        print_line(&format!("replay:     not possible: {why}"));
    }
    for h in &p.headers {
        print_line(&format!("header:     {}: {}", h.name, h.value));
    }
    let pretty = p
        .json
        .as_ref()
        .and_then(|v| serde_json::to_string_pretty(v).ok());
    if let Some(text) = pretty.as_ref().or(p.body.as_ref()) {
        print_line("");
        for line in text.lines() {
            print_line(line);
        }
    }
}

/// `dockhand artifacts`: one row per delivery that reported the image, newest first.
pub fn print_replication(r: &Replication) {
    let rows: Vec<Vec<String>> = r
        .reports
        .iter()
        .map(|x| {
            vec![
                x.replica.clone().unwrap_or_else(|| "-".into()),
                x.received_at.clone(),
                or_dash(&x.tag),
                or_dash(&x.digest),
                format!("{}/{}", x.project, x.receiver),
                x.delivery_id.clone(),
            ]
        })
        .collect();
    print_table(
        &[
            "REPLICA", "RECEIVED", "TAG", "DIGEST", "RECEIVER", "DELIVERY",
        ],
        &rows,
    );
}

/// The matching part of a decision: targets and their candidates, what is refreshed, why not.
fn print_decision(d: &Delivery) {
    if !d.qualifiers.is_empty() {
        print_line(&format!("qualifiers: {}", d.qualifiers.join(", ")));
    }
    for t in d.detail.iter().flatten() {
        match (&t.key, &t.error) {
            (Some(key), _) => print_line(&format!("target:     {} -> {key}", t.repo_url)),
            (None, e) => print_line(&format!(
                "target:     {} (not a repository URL: {})",
                t.repo_url,
                e.as_deref().unwrap_or("unknown")
            )),
        }
        if t.candidates.is_empty() && t.key.is_some() {
            print_line("  no Warehouse subscribes to this repository");
        }
        for c in &t.candidates {
            let verdict = if c.matched {
                "matched".to_string()
            } else {
                format!("not matched: {}", c.reason.as_deref().unwrap_or("-"))
            };
            print_line(&format!(
                "  {}/{} subscription {} ({}): {verdict}",
                c.project, c.warehouse, c.subscription, c.repo_url
            ));
        }
    }
    if d.refreshed.is_empty() {
        print_line("refreshes:  nothing");
    } else {
        print_line(&format!("refreshes:  {}", d.refreshed.join(", ")));
    }
    for e in &d.explanation {
        print_line(&format!("why not:    {e}"));
    }
}

/// How a command prints what it got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Yaml,
}

/// `deliveries --watch`: deliveries as they arrive, oldest first. A table prints its header
/// once (`first`) and one row per delivery; JSON one object per line; YAML one document each.
pub fn print_delivery_stream(format: Format, list: &[Delivery], first: bool) -> anyhow::Result<()> {
    match format {
        Format::Table => {
            if first {
                print_deliveries(list);
            } else if !list.is_empty() {
                let was = HEADERS.swap(false, Ordering::Relaxed);
                print_deliveries(list);
                HEADERS.store(was, Ordering::Relaxed);
            }
        }
        Format::Json => {
            for d in list {
                print_line(&serde_json::to_string(d)?);
            }
        }
        Format::Yaml => {
            for d in list {
                print_line("---");
                print_yaml(d)?;
            }
        }
    }
    Ok(())
}
