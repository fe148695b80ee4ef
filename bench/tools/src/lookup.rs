//! Lookup+match cost against `dockhand-core` alone: load the generated manifests (timed), build
//! the index (timed), count the heap bytes each holds, then evaluate ACR pushes the way a
//! delivery does (`Index::evaluate`, which normalizes the URL, probes the index and runs the
//! SemVer rules of every candidate).

use std::path::Path;
use std::time::{Duration, Instant};

use dockhand_core::config::{self, Config, Subscription};
use dockhand_core::event::Target;
use dockhand_core::index::Index;
use serde_json::json;

use crate::alloc;

pub fn run(
    dir: &Path,
    millis: u64,
    passes: Option<u64>,
    case: Option<&str>,
) -> anyhow::Result<serde_json::Value> {
    anyhow::ensure!(
        matches!(case, None | Some("own" | "miss" | "fanout")),
        "--case is own, miss or fanout"
    );
    let before = alloc::live();
    let t = Instant::now();
    let config = config::load(&[dir.join("manifests")])
        .map_err(|e| anyhow::anyhow!("cannot load {}: {e}", dir.display()))?;
    let load = t.elapsed();
    let after_config = alloc::live();
    let t = Instant::now();
    let index = Index::build(&config, &[]);
    let build = t.elapsed();
    let after_index = alloc::live();
    let subscriptions: usize = config
        .warehouses
        .iter()
        .map(|w| w.subscriptions.len())
        .sum();

    let own = events(&config, 0, "1.4.0");
    let fanout = events(&config, 1, "1.4.0");
    let miss: Vec<(String, Target)> = own
        .iter()
        .map(|(p, t)| (p.clone(), oci(&format!("{}-gone", t.repo_url()), "1.4.0")))
        .collect();
    let limit = Duration::from_millis(millis);
    let wanted = |name: &str| case.is_none_or(|c| c == name);
    let run_case = |name: &str, events: &[(String, Target)], limit: Duration| {
        if wanted(name) {
            measure(&index, &config, events, limit, passes)
        } else {
            (0.0, 0)
        }
    };
    let (own_ns, own_matched) = run_case("own", &own, limit);
    let (miss_ns, _) = run_case("miss", &miss, limit);
    let (fanout_ns, fanout_matched) = run_case("fanout", &fanout, limit / 4);
    anyhow::ensure!(
        own_matched == 1 || !wanted("own"),
        "a push to a Warehouse's own image should refresh it"
    );

    let config_bytes = after_config.saturating_sub(before);
    let index_bytes = after_index.saturating_sub(after_config);
    Ok(json!({
        "warehouses": config.warehouses.len(),
        "subscriptions": subscriptions,
        "loadMs": load.as_secs_f64() * 1e3,
        "indexBuildMs": build.as_secs_f64() * 1e3,
        "configBytes": config_bytes,
        "indexBytes": index_bytes,
        "bytesPerSubscription": (config_bytes + index_bytes) as f64 / subscriptions.max(1) as f64,
        "indexBytesPerSubscription": index_bytes as f64 / subscriptions.max(1) as f64,
        "rssBytes": alloc::rss(),
        "nsPerEvent": own_ns,
        "nsPerEventMiss": miss_ns,
        "nsPerEventFanout": fanout_ns,
        "fanoutRefreshed": fanout_matched,
    }))
}

fn oci(repo_url: &str, tag: &str) -> Target {
    Target::Oci {
        repo_url: repo_url.to_string(),
        image: true,
        chart: false,
        tags: vec![tag.to_string()],
    }
}

/// Pushes of `tag` to subscription `sub` of 10,000 Warehouses picked at random (fixed seed), so
/// the probes touch the whole index as real traffic would, not one hot cache line.
fn events(config: &Config, sub: usize, tag: &str) -> Vec<(String, Target)> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let n = config.warehouses.len();
    (0..10_000)
        .filter_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let w = &config.warehouses[(x % n as u64) as usize];
            match w.subscriptions.get(sub) {
                Some(Subscription::Image(s)) => Some((w.project.clone(), oci(&s.repo_url, tag))),
                _ => None,
            }
        })
        .collect()
}

/// Mean ns per evaluated event over at least `limit` (or over exactly `passes` passes), and how
/// many Warehouses the last event refreshed (a check that the case measures what it says).
/// Never inlined, so that callgrind can count this function alone (`--toggle-collect`).
#[inline(never)]
fn measure(
    index: &Index,
    config: &Config,
    events: &[(String, Target)],
    limit: Duration,
    passes: Option<u64>,
) -> (f64, usize) {
    let mut done = 0u64;
    let mut refreshed = 0;
    let t = Instant::now();
    let more = |done: u64| match passes {
        Some(n) => done < n * events.len() as u64,
        None => t.elapsed() < limit,
    };
    while more(done) {
        for (project, target) in events {
            let eval = index.evaluate(config, project, std::slice::from_ref(target));
            refreshed = eval.refresh.len();
            std::hint::black_box(eval);
        }
        done += events.len() as u64;
    }
    (
        t.elapsed().as_nanos() as f64 / done.max(1) as f64,
        refreshed,
    )
}
