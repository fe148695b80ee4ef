//! Prometheus metrics, rendered in the text exposition format at `GET /metrics` on the admin
//! listener. Labels are bounded (receiver type, source, outcome, reason class): never a URL, a
//! tag or anything a sender controls, so the series count cannot be inflated from outside.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

/// Upper bounds (seconds) of the reconcile duration histogram.
const BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0];

#[derive(Default)]
pub struct Metrics {
    /// (receiver_type, source, outcome) -> count.
    deliveries: Mutex<BTreeMap<(String, &'static str, &'static str), u64>>,
    /// limit kind ("client" | "receiver") -> requests refused with 429.
    rate_limited: Mutex<BTreeMap<&'static str, u64>>,
    /// reason class -> count of targets that matched nothing.
    unmatched: Mutex<BTreeMap<&'static str, u64>>,
    pub warehouses_matched: AtomicU64,
    pub refreshes_requested: AtomicU64,
    pub refreshes_coalesced: AtomicU64,
    pub queue_depth: AtomicI64,
    pub reconciles: AtomicU64,
    pub reconcile_errors: AtomicU64,
    reconcile_buckets: [AtomicU64; 9],
    reconcile_sum_micros: AtomicU64,
    pub config_reloads: AtomicU64,
    pub config_reload_failures: AtomicU64,
}

impl Metrics {
    pub fn delivery(&self, receiver_type: &str, source: &'static str, outcome: &'static str) {
        if let Ok(mut m) = self.deliveries.lock() {
            *m.entry((receiver_type.to_string(), source, outcome))
                .or_default() += 1;
        }
    }

    pub fn unmatched(&self, reason: &'static str) {
        if let Ok(mut m) = self.unmatched.lock() {
            *m.entry(reason).or_default() += 1;
        }
    }

    pub fn rate_limited(&self, limit: &'static str) {
        if let Ok(mut m) = self.rate_limited.lock() {
            *m.entry(limit).or_default() += 1;
        }
    }

    pub fn reconcile_duration(&self, seconds: f64) {
        self.reconciles.fetch_add(1, Ordering::Relaxed);
        self.reconcile_sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                self.reconcile_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        out.push_str("# HELP dockhand_deliveries_total Webhook deliveries by receiver type, source and outcome.\n# TYPE dockhand_deliveries_total counter\n");
        if let Ok(m) = self.deliveries.lock() {
            for ((t, s, o), v) in m.iter() {
                let _ = writeln!(
                    out,
                    "dockhand_deliveries_total{{receiver_type=\"{t}\",source=\"{s}\",outcome=\"{o}\"}} {v}"
                );
            }
        }
        out.push_str("# HELP dockhand_unmatched_targets_total Repositories named by a delivery that refreshed nothing, by reason.\n# TYPE dockhand_unmatched_targets_total counter\n");
        if let Ok(m) = self.unmatched.lock() {
            for (r, v) in m.iter() {
                let _ = writeln!(
                    out,
                    "dockhand_unmatched_targets_total{{reason=\"{r}\"}} {v}"
                );
            }
        }
        out.push_str("# HELP dockhand_rate_limited_total Requests refused with 429, by limit.\n# TYPE dockhand_rate_limited_total counter\n");
        if let Ok(m) = self.rate_limited.lock() {
            for (r, v) in m.iter() {
                let _ = writeln!(out, "dockhand_rate_limited_total{{limit=\"{r}\"}} {v}");
            }
        }
        let counters: [(&str, &str, u64); 6] = [
            (
                "dockhand_warehouses_matched_total",
                "Warehouses selected for refresh by deliveries.",
                load(&self.warehouses_matched),
            ),
            (
                "dockhand_refreshes_requested_total",
                "Refresh requests (webhook, admin API, interval).",
                load(&self.refreshes_requested),
            ),
            (
                "dockhand_refreshes_coalesced_total",
                "Refresh requests absorbed by one already queued or running.",
                load(&self.refreshes_coalesced),
            ),
            (
                "dockhand_reconcile_errors_total",
                "Reconciles that ended in an error.",
                load(&self.reconcile_errors),
            ),
            (
                "dockhand_config_reloads_total",
                "Successful configuration reloads.",
                load(&self.config_reloads),
            ),
            (
                "dockhand_config_reload_failures_total",
                "Configuration reloads rejected by validation.",
                load(&self.config_reload_failures),
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP dockhand_refresh_queue_depth Warehouses waiting for a reconcile worker.\n# TYPE dockhand_refresh_queue_depth gauge\ndockhand_refresh_queue_depth {}",
            self.queue_depth.load(Ordering::Relaxed).max(0)
        );
        out.push_str("# HELP dockhand_reconcile_duration_seconds Time spent reconciling one Warehouse.\n# TYPE dockhand_reconcile_duration_seconds histogram\n");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "dockhand_reconcile_duration_seconds_bucket{{le=\"{b}\"}} {}",
                load(&self.reconcile_buckets[i])
            );
        }
        let count = load(&self.reconciles);
        let _ = writeln!(
            out,
            "dockhand_reconcile_duration_seconds_bucket{{le=\"+Inf\"}} {count}\ndockhand_reconcile_duration_seconds_sum {}\ndockhand_reconcile_duration_seconds_count {count}",
            load(&self.reconcile_sum_micros) as f64 / 1e6
        );
        out
    }
}
