//! A storm: `count` pushes of one tag to one repository within `seconds` (a multi-arch push, a
//! CI job retrying), where the repository has many subscribed Warehouses. Afterwards: how often
//! each Warehouse was reconciled (coalescing and `--refresh-cooldown` should keep it at most 2)
//! and how many deliveries were recorded (every one).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;
use tokio::sync::{mpsc, Mutex};

use crate::client::{get_json, Conn};
use crate::{acr_push_body, read_targets};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub addr: String,
    #[arg(long)]
    pub admin: String,
    #[arg(long)]
    pub targets: PathBuf,
    /// The project whose shared `{project}/base` repository is pushed to.
    #[arg(long, default_value = "p0000")]
    pub project: String,
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    #[arg(long, default_value_t = 1.0)]
    pub seconds: f64,
    /// Time to let follow-up reconciles (after the cooldown) finish before counting.
    #[arg(long, default_value_t = 5.0)]
    pub settle: f64,
}

pub async fn run(a: Args) -> anyhow::Result<serde_json::Value> {
    let targets = read_targets(&a.targets)?;
    let path = targets
        .iter()
        .find(|t| t.project == a.project)
        .map(|t| t.path.clone())
        .ok_or_else(|| anyhow::anyhow!("no receiver for project {}", a.project))?;
    let subscribed = targets.iter().filter(|t| t.project == a.project).count();
    let repository = format!("{}/base", a.project);

    let (tx, rx) = mpsc::unbounded_channel::<usize>();
    let rx = Arc::new(Mutex::new(rx));
    let mut workers = Vec::new();
    for _ in 0..16 {
        let (rx, addr, path, repository) =
            (rx.clone(), a.addr.clone(), path.clone(), repository.clone());
        workers.push(tokio::spawn(async move {
            let mut ok = 0usize;
            let mut conn = Conn::connect(&addr).await?;
            loop {
                let next = rx.lock().await.recv().await;
                let Some(i) = next else { break };
                let body = Bytes::from(acr_push_body(&repository, "1.5.0", i as u64));
                if let Ok((200, _)) = conn.post_acr(&path, body).await {
                    ok += 1;
                }
            }
            anyhow::Ok(ok)
        }));
    }
    let start = Instant::now();
    let interval = Duration::from_secs_f64(a.seconds / a.count as f64);
    for i in 0..a.count {
        tokio::time::sleep_until((start + interval * i as u32).into()).await;
        let _ = tx.send(i);
    }
    drop(tx);
    let mut ok = 0;
    for w in workers {
        ok += w.await??;
    }
    let sent_in = start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs_f64(a.settle)).await;

    let list = get_json(&a.admin, "/api/v1/warehouses").await?;
    let counts: Vec<u64> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter(|w| w["project"] == a.project.as_str())
        .map(|w| w["reconcileCount"].as_u64().unwrap_or(0))
        .collect();
    let deliveries = get_json(
        &a.admin,
        &format!("/api/v1/deliveries?project={}&limit=10000", a.project),
    )
    .await?;
    let recorded = deliveries.as_array().map_or(0, Vec::len);
    let refreshed = deliveries
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["outcome"] == "refreshed")
        .count();
    Ok(json!({
        "pushes": a.count,
        "sentInSeconds": sent_in,
        "answered200": ok,
        "subscribedWarehouses": subscribed,
        "reconcilesMin": counts.iter().min(),
        "reconcilesMax": counts.iter().max(),
        "reconcilesTotal": counts.iter().sum::<u64>(),
        "deliveriesRecorded": recorded,
        "deliveriesRefreshed": refreshed,
    }))
}
