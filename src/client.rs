//! The CLI's clients of the admin API (`deliveries`, `warehouses`, `refresh`, `freight`) and
//! their table output. Bodies are read as the admin API's wire types (`http::api`).

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

use crate::http::api::{Artifacts, Delivery, Freight, Warehouse};
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

/// Prints rows as an aligned table with a header.
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
    line(header.to_vec());
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
