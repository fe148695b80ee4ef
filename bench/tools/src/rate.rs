//! Open-loop load at a fixed rate. Request i is due at `start + i / rate`; a ticket carrying that
//! due time is handed to whichever connection is free, and latency is measured from the due time,
//! not from when a connection got round to it. A server that stalls therefore shows the stall in
//! every request that queued behind it (what wrk2 calls correcting coordinated omission).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;
use tokio::sync::{mpsc, Mutex};

use crate::client::Conn;
use crate::{acr_push_body, percentile, read_targets};

#[derive(clap::Args)]
pub struct Args {
    /// host:port of the webhook listener.
    #[arg(long)]
    pub addr: String,
    /// targets.tsv written by `gen`.
    #[arg(long)]
    pub targets: PathBuf,
    /// Requests per second.
    #[arg(long)]
    pub rate: f64,
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    #[arg(long, default_value_t = 32)]
    pub conns: usize,
    /// Send every request to this path instead of the receiver's (bare server, Flask).
    #[arg(long)]
    pub path: Option<String>,
}

pub async fn run(a: Args) -> anyhow::Result<serde_json::Value> {
    let targets = read_targets(&a.targets)?;
    anyhow::ensure!(!targets.is_empty(), "no targets");
    let requests: Arc<Vec<(String, Bytes)>> = Arc::new(
        targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let path = a.path.clone().unwrap_or_else(|| t.path.clone());
                (
                    path,
                    Bytes::from(acr_push_body(&t.repository, &t.tag, i as u64)),
                )
            })
            .collect(),
    );
    let total = (a.rate * a.seconds).round() as usize;
    let (tx, rx) = mpsc::unbounded_channel::<(usize, Instant)>();
    let rx = Arc::new(Mutex::new(rx));
    let mut workers = Vec::new();
    for _ in 0..a.conns.max(1) {
        let rx = rx.clone();
        let requests = requests.clone();
        let addr = a.addr.clone();
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut conn = Conn::connect(&addr).await.ok();
            loop {
                let next = rx.lock().await.recv().await;
                let Some((i, due)) = next else { break };
                let (path, body) = &requests[i % requests.len()];
                let ok = match conn.as_mut() {
                    Some(c) => matches!(c.post_acr(path, body.clone()).await, Ok((200, _))),
                    None => false,
                };
                if ok {
                    lat.push(due.elapsed().as_secs_f64() * 1e6);
                } else {
                    errors += 1;
                    conn = Conn::connect(&addr).await.ok();
                }
            }
            (lat, errors)
        }));
    }
    // Let every connection finish its handshake before the clock starts.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / a.rate);
    for i in 0..total {
        let due = start + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let _ = tx.send((i, due));
    }
    drop(tx);
    let mut lat = Vec::with_capacity(total);
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await?;
        lat.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    Ok(json!({
        "targetRate": a.rate,
        "sent": total,
        "ok": lat.len(),
        "errors": errors,
        "achievedRps": lat.len() as f64 / elapsed,
        "p50Us": percentile(&lat, 50.0),
        "p99Us": percentile(&lat, 99.0),
        "p999Us": percentile(&lat, 99.9),
        "maxUs": lat.last().copied().unwrap_or(f64::NAN),
    }))
}
