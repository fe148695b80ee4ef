//! `dockhand-bench`: the measuring tools behind `bench/run.sh`. Each subcommand prints one JSON
//! object on stdout (the script collects them into the table); progress goes to stderr.
//!
//! - `gen`: Kargo manifests for N Warehouses (3 subscriptions each) and the list of push targets.
//! - `lookup`: configuration load time, memory and per-event lookup+match cost, in process,
//!   against `dockhand-core` alone.
//! - `rate`: an open-loop load generator at a fixed request rate (latency counted from when each
//!   request was due, as wrk2 does, so a stalled server cannot hide its queueing).
//! - `latency`: push-to-reconcile latency over distinct Warehouses, from the admin API.
//! - `storm`: many pushes to one repository in one second; reconciles and deliveries recorded.

mod alloc;
mod client;
mod gen;
mod latency;
mod lookup;
mod rate;
mod storm;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

#[derive(Parser)]
#[command(about = "dockhand benchmark tools (see BENCHMARKS.md)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Writes OUT/manifests/*.yaml and OUT/targets.tsv.
    Gen {
        #[arg(long)]
        warehouses: usize,
        #[arg(long, default_value_t = 100)]
        per_project: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// Loads a configuration, builds the index, evaluates pushes.
    Lookup {
        #[arg(long)]
        config: PathBuf,
        /// Minimum measuring time per case, in milliseconds.
        #[arg(long, default_value_t = 1000)]
        millis: u64,
        /// Evaluate each event list exactly this many times instead of for `--millis`, so that
        /// an instruction counter (callgrind) sees the same work in every run.
        #[arg(long)]
        passes: Option<u64>,
        /// Only this case: own, miss or fanout (default: all three).
        #[arg(long)]
        case: Option<String>,
    },
    /// Sends ACR pushes at a fixed rate.
    Rate(rate::Args),
    /// Push-to-reconcile latency.
    Latency(latency::Args),
    /// A storm of pushes to one repository.
    Storm(storm::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let out = match cli.cmd {
        Cmd::Gen {
            warehouses,
            per_project,
            out,
        } => gen::run(warehouses, per_project, &out)?,
        Cmd::Lookup {
            config,
            millis,
            passes,
            case,
        } => lookup::run(&config, millis, passes, case.as_deref())?,
        Cmd::Rate(a) => runtime()?.block_on(rate::run(a))?,
        Cmd::Latency(a) => runtime()?.block_on(latency::run(a))?,
        Cmd::Storm(a) => runtime()?.block_on(storm::run(a))?,
    };
    println!("{out}");
    Ok(())
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    // One thread: the generator shares two cores with the server under test and must not take
    // more than it needs.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// A push target from `targets.tsv`: receiver path, repository (within the registry), tag,
/// project, Warehouse.
#[derive(Clone, Debug)]
pub struct Push {
    pub path: String,
    pub repository: String,
    pub tag: String,
    pub project: String,
    pub warehouse: String,
}

pub fn read_targets(path: &std::path::Path) -> anyhow::Result<Vec<Push>> {
    let text = std::fs::read_to_string(path)?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        anyhow::ensure!(f.len() == 5, "bad line in {}: {line}", path.display());
        out.push(Push {
            path: f[0].into(),
            repository: f[1].into(),
            tag: f[2].into(),
            project: f[3].into(),
            warehouse: f[4].into(),
        });
    }
    Ok(out)
}

/// The registry host every generated subscription and push uses: `BENCH_REGISTRY`, which
/// bench/run.sh points at a local Distribution registry so that reconciles (discovery) talk to a
/// real registry on loopback.
pub fn registry() -> String {
    std::env::var("BENCH_REGISTRY").unwrap_or_else(|_| "localhost:18320".to_string())
}

/// An ACR push webhook body, the shape of `tests/fixtures/acr-push.json`.
pub fn acr_push_body(repository: &str, tag: &str, n: u64) -> String {
    let registry = registry();
    format!(
        r#"{{
  "id": "cb8c3971-9adc-488b-bdd8-{n:012x}",
  "timestamp": "2017-11-17T16:52:01.343145347Z",
  "action": "push",
  "target": {{
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "size": 524,
    "digest": "sha256:80f0d5c8786bb9e621a45ece0db56d11cdc624ad20da9fe62e9d25490f331d7d",
    "length": 524,
    "repository": "{repository}",
    "tag": "{tag}"
  }},
  "request": {{
    "id": "3cbb6949-7549-4fa1-86cd-a6d5451dffc7",
    "host": "{registry}",
    "method": "PUT",
    "useragent": "docker/17.09.0-ce go/go1.8.3 git-commit/afdb6d4 kernel/4.10.0-27-generic os/linux arch/amd64 UpstreamClient(Docker-Client/17.09.0-ce \\(linux\\))"
  }}
}}"#
    )
}

/// Percentile (0..=100) of an ascending slice.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
