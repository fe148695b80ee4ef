//! Push-to-reconcile latency: one push to each of `count` distinct Warehouses at a moderate
//! rate (distinct, so `--refresh-cooldown` never delays one), then the admin API's
//! `lastReconcileStarted` of each, minus the wall-clock time the push left this process. Server
//! and client share the machine's clock; the server's timestamps have millisecond resolution.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::{mpsc, Mutex};

use crate::client::{get_json, Conn};
use crate::{acr_push_body, percentile, read_targets};

#[derive(clap::Args)]
pub struct Args {
    /// host:port of the webhook listener.
    #[arg(long)]
    pub addr: String,
    /// host:port of the admin listener.
    #[arg(long)]
    pub admin: String,
    #[arg(long)]
    pub targets: PathBuf,
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    /// Pushes per second.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
}

fn unix_ms(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1e3
}

pub async fn run(a: Args) -> anyhow::Result<serde_json::Value> {
    let targets = read_targets(&a.targets)?;
    anyhow::ensure!(targets.len() >= a.count, "fewer targets than --count");
    let (tx, rx) = mpsc::unbounded_channel::<usize>();
    let rx = Arc::new(Mutex::new(rx));
    let targets = Arc::new(targets);
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (rx, targets, addr) = (rx.clone(), targets.clone(), a.addr.clone());
        workers.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            let mut conn = Conn::connect(&addr).await?;
            loop {
                let next = rx.lock().await.recv().await;
                let Some(i) = next else { break };
                let t = &targets[i];
                let body = Bytes::from(acr_push_body(&t.repository, &t.tag, i as u64));
                let at = SystemTime::now();
                let (status, resp) = conn.post_acr(&t.path, body).await?;
                anyhow::ensure!(
                    status == 200 && resp.windows(10).any(|w| w == b"refreshed "),
                    "push {i} answered {status}"
                );
                sent.push(((t.project.clone(), t.warehouse.clone()), unix_ms(at)));
            }
            anyhow::Ok(sent)
        }));
    }
    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / a.rate);
    for i in 0..a.count {
        tokio::time::sleep_until((start + interval * i as u32).into()).await;
        let _ = tx.send(i);
    }
    drop(tx);
    let mut sent: HashMap<(String, String), f64> = HashMap::new();
    for w in workers {
        sent.extend(w.await??);
    }

    // Wait until every Warehouse pushed to has started a reconcile (or give up after 20 s).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut lat = Vec::new();
    loop {
        let list = get_json(&a.admin, "/api/v1/warehouses").await?;
        lat.clear();
        for w in list.as_array().into_iter().flatten() {
            let key = (
                w["project"].as_str().unwrap_or_default().to_string(),
                w["name"].as_str().unwrap_or_default().to_string(),
            );
            let (Some(at), Some(started)) = (sent.get(&key), w["lastReconcileStarted"].as_str())
            else {
                continue;
            };
            if let Ok(s) = OffsetDateTime::parse(started, &Rfc3339) {
                lat.push(s.unix_timestamp_nanos() as f64 / 1e6 - at);
            }
        }
        if lat.len() >= sent.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    lat.sort_by(f64::total_cmp);
    Ok(json!({
        "pushes": a.count,
        "rate": a.rate,
        "reconciled": lat.len(),
        "p50Ms": percentile(&lat, 50.0),
        "p99Ms": percentile(&lat, 99.0),
        "maxMs": lat.last().copied().unwrap_or(f64::NAN),
    }))
}
