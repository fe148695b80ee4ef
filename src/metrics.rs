//! Prometheus metrics, served in the text exposition format (0.0.4) at `GET /metrics` on the
//! admin listener, through `prometheus-client`.
//!
//! Every label is a typed value from a closed set — a [`ReceiverType`] of the table, a
//! [`Source`], an [`Outcome`], an [`UnmatchedReason`], a [`Limit`] — never a URL, a tag or
//! anything a sender writes, so the series count cannot be inflated from outside.
//!
//! The label-less counters stay plain atomics (the refresh engine and reload bump them where
//! they happen) and are read at scrape time; `dockhand_build_info` and the `process_*` metrics
//! (Linux, from `/proc/self`) are added then too.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use dockhand_core::config::NotificationType;
use dockhand_core::event::{Outcome, Source};
use dockhand_core::receivers::ReceiverType;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelValueEncoder,
};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Upper bounds (seconds) of the reconcile duration histogram.
const BUCKETS: [f64; 9] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0];

/// Why a repository named by a delivery refreshed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnmatchedReason {
    /// The URL could not be normalized.
    InvalidUrl,
    /// No subscription in the receiver's project names the repository.
    NoSubscriber,
    /// Subscriptions name it, but none accepted what was pushed.
    RejectedByRules,
}

impl UnmatchedReason {
    pub fn as_str(self) -> &'static str {
        match self {
            UnmatchedReason::InvalidUrl => "invalid_url",
            UnmatchedReason::NoSubscriber => "no_subscriber",
            UnmatchedReason::RejectedByRules => "rejected_by_rules",
        }
    }
}

/// Which rate limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Per client address.
    Client,
    /// Per receiver.
    Receiver,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Client => "client",
            Limit::Receiver => "receiver",
        }
    }
}

/// A label value: one of the closed vocabularies above, written as its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Label<T>(T);

macro_rules! label_value {
    ($t:ty, $name:expr) => {
        impl EncodeLabelValue for Label<$t> {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
                let name: fn(&$t) -> &'static str = $name;
                EncodeLabelValue::encode(&name(&self.0), encoder)
            }
        }
    };
}
label_value!(&'static ReceiverType, |t| t.name);
label_value!(Source, |s| s.as_str());
label_value!(Outcome, |o| o.as_str());
label_value!(UnmatchedReason, |r| r.as_str());
label_value!(Limit, |l| l.as_str());
label_value!(NotificationType, |t| t.name());
label_value!(NotificationOutcome, |o| o.as_str());

/// What one attempt to send a notification came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationOutcome {
    /// The endpoint answered 2xx.
    Sent,
    /// It failed and will be tried again.
    Retry,
    /// It failed for good (a 4xx other than 408/429, or the deadline passed).
    Failed,
}

impl NotificationOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationOutcome::Sent => "sent",
            NotificationOutcome::Retry => "retry",
            NotificationOutcome::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct NotificationLabels {
    /// Encoded as `type` (the derive strips the raw-identifier prefix).
    r#type: Label<NotificationType>,
    outcome: Label<NotificationOutcome>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DeliveryLabels {
    receiver_type: Label<&'static ReceiverType>,
    source: Label<Source>,
    outcome: Label<Outcome>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct UnmatchedLabels {
    reason: Label<UnmatchedReason>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RateLimitLabels {
    limit: Label<Limit>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

pub struct Metrics {
    deliveries: Family<DeliveryLabels, Counter>,
    rate_limited: Family<RateLimitLabels, Counter>,
    unmatched: Family<UnmatchedLabels, Counter>,
    reconcile_duration: Histogram,
    notifications: Family<NotificationLabels, Counter>,
    pub warehouses_matched: AtomicU64,
    pub refreshes_requested: AtomicU64,
    pub refreshes_coalesced: AtomicU64,
    pub queue_depth: AtomicI64,
    /// Subscriptions of the running configuration no webhook can refresh (set at each scrape
    /// from the current configuration).
    pub unusable_subscriptions: AtomicI64,
    pub reconcile_errors: AtomicU64,
    pub reconcile_retries: AtomicU64,
    pub config_reloads: AtomicU64,
    pub config_reload_failures: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            deliveries: Family::default(),
            rate_limited: Family::default(),
            unmatched: Family::default(),
            reconcile_duration: Histogram::new(BUCKETS),
            notifications: Family::default(),
            warehouses_matched: AtomicU64::new(0),
            refreshes_requested: AtomicU64::new(0),
            refreshes_coalesced: AtomicU64::new(0),
            queue_depth: AtomicI64::new(0),
            unusable_subscriptions: AtomicI64::new(0),
            reconcile_errors: AtomicU64::new(0),
            reconcile_retries: AtomicU64::new(0),
            config_reloads: AtomicU64::new(0),
            config_reload_failures: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    pub fn delivery(&self, receiver_type: &'static ReceiverType, source: Source, outcome: Outcome) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                receiver_type: Label(receiver_type),
                source: Label(source),
                outcome: Label(outcome),
            })
            .inc();
    }

    pub fn unmatched(&self, reason: UnmatchedReason) {
        self.unmatched
            .get_or_create(&UnmatchedLabels {
                reason: Label(reason),
            })
            .inc();
    }

    pub fn rate_limited(&self, limit: Limit) {
        self.rate_limited
            .get_or_create(&RateLimitLabels {
                limit: Label(limit),
            })
            .inc();
    }

    /// One attempt to send a notification of type `kind`.
    pub fn notification(&self, kind: NotificationType, outcome: NotificationOutcome) {
        self.notifications
            .get_or_create(&NotificationLabels {
                r#type: Label(kind),
                outcome: Label(outcome),
            })
            .inc();
    }

    pub fn reconcile_duration(&self, seconds: f64) {
        self.reconcile_duration.observe(seconds);
    }

    /// The text exposition format (0.0.4), see [`CONTENT_TYPE`].
    pub fn render(&self) -> String {
        // A registry per scrape: it holds clones of the metric handles (they share their
        // values) and the atomics read now. Scrapes are rare; updates stay lock-light.
        let mut registry = Registry::default();
        registry.register(
            "dockhand_deliveries",
            "Webhook deliveries by receiver type, source and outcome",
            self.deliveries.clone(),
        );
        registry.register(
            "dockhand_unmatched_targets",
            "Repositories named by a delivery that refreshed nothing, by reason",
            self.unmatched.clone(),
        );
        registry.register(
            "dockhand_rate_limited",
            "Requests refused with 429, by limit",
            self.rate_limited.clone(),
        );
        registry.register(
            "dockhand_notifications",
            "Attempts to send a notification, by type and outcome",
            self.notifications.clone(),
        );
        let load = |a: &AtomicU64| ConstCounter::new(a.load(Ordering::Relaxed));
        let counters = [
            (
                "dockhand_warehouses_matched",
                "Warehouses selected for refresh by deliveries",
                &self.warehouses_matched,
            ),
            (
                "dockhand_refreshes_requested",
                "Refresh requests (webhook, admin API, interval)",
                &self.refreshes_requested,
            ),
            (
                "dockhand_refreshes_coalesced",
                "Refresh requests absorbed by one already queued or running",
                &self.refreshes_coalesced,
            ),
            (
                "dockhand_reconcile_errors",
                "Reconciles that ended in an error",
                &self.reconcile_errors,
            ),
            (
                "dockhand_reconcile_retries",
                "Failed webhook reconciles tried again shortly after",
                &self.reconcile_retries,
            ),
            (
                "dockhand_config_reloads",
                "Successful configuration reloads",
                &self.config_reloads,
            ),
            (
                "dockhand_config_reload_failures",
                "Configuration reloads rejected by validation",
                &self.config_reload_failures,
            ),
        ];
        for (name, help, value) in counters {
            registry.register(name, help, load(value));
        }
        registry.register(
            "dockhand_refresh_queue_depth",
            "Warehouses waiting for a reconcile worker",
            ConstGauge::new(self.queue_depth.load(Ordering::Relaxed).max(0)),
        );
        registry.register(
            "dockhand_unusable_subscriptions",
            "Subscriptions whose repoURL names no repository a webhook can match (refreshed on their interval only)",
            ConstGauge::new(self.unusable_subscriptions.load(Ordering::Relaxed).max(0)),
        );
        registry.register(
            "dockhand_reconcile_duration_seconds",
            "Time spent reconciling one Warehouse",
            self.reconcile_duration.clone(),
        );
        registry.register(
            "dockhand_build",
            "The running dockhand's version; always 1",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        registry.register_collector(Box::new(ProcessCollector));
        let mut out = String::new();
        // Writing to a String cannot fail, and every label value is a name from a closed set.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
        out
    }
}

/// The standard `process_*` metrics of the running process, read from `/proc/self` at scrape
/// time. Elsewhere (or when `/proc` cannot be read) they are left out rather than made up.
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(p) = process::read() else {
            return Ok(());
        };
        let counter = ConstCounter::new(p.cpu_seconds);
        counter.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            None,
            counter.metric_type(),
        )?)?;
        let gauges: [(&str, &str, f64); 5] = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                p.resident_memory_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                p.virtual_memory_bytes,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                p.open_fds,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors.",
                p.max_fds,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                p.start_time_seconds,
            ),
        ];
        for (name, help, value) in gauges {
            // NaN marks a value that could not be read: leave that one out.
            if value.is_nan() {
                continue;
            }
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

#[cfg(target_os = "linux")]
mod process {
    //! `/proc/self` parsing, as Prometheus' Go client (procfs) does it.

    /// Clock ticks per second of `/proc/*/stat` times. The kernel reports in USER_HZ, which is
    /// 100 on every architecture Linux supports today (procfs hard-codes it too).
    const USER_HZ: f64 = 100.0;

    pub(super) struct Process {
        pub cpu_seconds: f64,
        pub resident_memory_bytes: f64,
        pub virtual_memory_bytes: f64,
        pub open_fds: f64,
        pub max_fds: f64,
        pub start_time_seconds: f64,
    }

    pub(super) fn read() -> Option<Process> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name, which is in parentheses and may contain anything.
        let after = stat.get(stat.rfind(')')? + 2..)?;
        let fields: Vec<&str> = after.split_ascii_whitespace().collect();
        // `man 5 proc`: field n (1-based) is fields[n - 3] here.
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
        let (utime, stime, starttime) = (field(14)?, field(15)?, field(22)?);
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .map_or(f64::NAN, |v| v * 1024.0)
        };
        let open_fds = std::fs::read_dir("/proc/self/fd").map_or(f64::NAN, |d| d.count() as f64);
        let max_fds = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|limits| {
                limits
                    .lines()
                    .find(|l| l.starts_with("Max open files"))
                    .and_then(|l| l.split_ascii_whitespace().nth(3))
                    .and_then(|v| v.parse::<f64>().ok())
            })
            .unwrap_or(f64::NAN);
        let boot_time = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|v| v.trim().parse::<f64>().ok())
        });
        Some(Process {
            cpu_seconds: (utime + stime) / USER_HZ,
            resident_memory_bytes: kib("VmRSS:"),
            virtual_memory_bytes: kib("VmSize:"),
            open_fds,
            max_fds,
            start_time_seconds: boot_time.map_or(f64::NAN, |b| b + starttime / USER_HZ),
        })
    }
}

#[cfg(not(target_os = "linux"))]
mod process {
    pub(super) struct Process {
        pub cpu_seconds: f64,
        pub resident_memory_bytes: f64,
        pub virtual_memory_bytes: f64,
        pub open_fds: f64,
        pub max_fds: f64,
        pub start_time_seconds: f64,
    }

    pub(super) fn read() -> Option<Process> {
        None
    }
}

#[cfg(test)]
mod tests {
    use dockhand_core::receivers::{azure, harbor};

    use super::*;

    #[test]
    fn renders_typed_labels_and_todays_names() {
        let m = Metrics::default();
        m.delivery(&azure::TYPE, azure::ACR, Outcome::Refreshed);
        m.delivery(&azure::TYPE, azure::ACR, Outcome::Refreshed);
        m.delivery(&harbor::TYPE, Source::UNKNOWN, Outcome::StoreError);
        m.unmatched(UnmatchedReason::NoSubscriber);
        m.rate_limited(Limit::Receiver);
        m.refreshes_requested.fetch_add(3, Ordering::Relaxed);
        m.queue_depth.fetch_sub(1, Ordering::Relaxed);
        m.reconcile_duration(0.02);
        let text = m.render();
        for line in [
            "dockhand_deliveries_total{receiver_type=\"azure\",source=\"acr\",outcome=\"refreshed\"} 2",
            "dockhand_deliveries_total{receiver_type=\"harbor\",source=\"unknown\",outcome=\"store_error\"} 1",
            "dockhand_unmatched_targets_total{reason=\"no_subscriber\"} 1",
            "dockhand_rate_limited_total{limit=\"receiver\"} 1",
            "dockhand_refreshes_requested_total 3",
            "dockhand_warehouses_matched_total 0",
            "dockhand_config_reload_failures_total 0",
            // A negative depth (a decrement racing its increment) shows as 0.
            "dockhand_refresh_queue_depth 0",
            "dockhand_reconcile_duration_seconds_count 1",
            "dockhand_reconcile_duration_seconds_bucket{le=\"0.05\"} 1",
            "dockhand_reconcile_duration_seconds_bucket{le=\"0.01\"} 0",
            "# TYPE dockhand_deliveries_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        let build = format!(
            "dockhand_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        assert!(text.lines().any(|l| l == build), "{text}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn process_metrics_on_linux() {
        let text = Metrics::default().render();
        let value = |name: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        };
        assert!(value("process_resident_memory_bytes") > 1e5);
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_cpu_seconds_total") >= 0.0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = value("process_start_time_seconds");
        // Started in the last day, and not in the future (btime has one-second resolution).
        assert!(
            start <= now + 2.0 && start > now - 86_400.0,
            "{start} vs {now}"
        );
    }
}
