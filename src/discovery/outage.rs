//! Hosts that could not be reached. When a registry or git host refuses connections or cannot
//! be resolved, every subscription on it would fail the same way; without this, each one's
//! reconcile would still connect (or, for git, start a `git` process) to learn it. So one failed
//! connection marks the host out for a backoff (1 s doubling to 5 min, like a subscription's);
//! meanwhile its subscriptions fail at once with the last reason, without contacting it. When the
//! backoff ends, one subscription probes the host (the others keep failing at once for up to the
//! probe window); any answer from the host ends the outage. A configuration reload ends every
//! outage, as it ends every subscription's backoff.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dockhand_core::config::Subscription;
use parking_lot::Mutex;

use super::error::DiscoveryError;
use super::{backoff, registry};

#[derive(Debug, Clone)]
struct Outage {
    failures: u32,
    /// Until then the host is not contacted; after it, the next caller probes it.
    retry_at: Instant,
    /// The failure that marked it (no credentials: discovery errors carry none).
    reason: String,
}

/// The hosts currently out, by origin (`scheme://host[:port]`).
#[derive(Debug)]
pub(super) struct Outages {
    hosts: Mutex<HashMap<String, Outage>>,
    /// How long the other subscriptions wait for a probe's verdict (discovery's timeout).
    probe_window: Duration,
}

impl Outages {
    pub(super) fn new(probe_window: Duration) -> Outages {
        Outages {
            hosts: Mutex::new(HashMap::new()),
            probe_window,
        }
    }

    /// None: contact the host (it is not out, or this caller probes it). Some: do not; the
    /// error says why and for how long.
    pub(super) fn gate(&self, origin: &str) -> Option<DiscoveryError> {
        self.gate_at(origin, Instant::now())
    }

    fn gate_at(&self, origin: &str, now: Instant) -> Option<DiscoveryError> {
        let mut hosts = self.hosts.lock();
        let outage = hosts.get_mut(origin)?;
        if outage.retry_at <= now {
            // This caller probes; the others wait for its verdict.
            outage.retry_at = now + self.probe_window;
            return None;
        }
        let left = outage.retry_at - now;
        Some(DiscoveryError::HostUnreachable {
            host: origin.to_string(),
            reason: outage.reason.clone(),
            secs: left.as_secs() + u64::from(left.subsec_nanos() > 0),
        })
    }

    /// What contacting the host yielded: an unreachable host starts or extends an outage; any
    /// other outcome (an answer, even an error status) ends it.
    pub(super) fn record<T>(&self, origin: &str, outcome: &Result<T, DiscoveryError>) {
        self.record_at(origin, outcome.as_ref().err(), Instant::now());
    }

    fn record_at(&self, origin: &str, error: Option<&DiscoveryError>, now: Instant) {
        let mut hosts = self.hosts.lock();
        match error.filter(|e| e.unreachable(origin)) {
            Some(e) => {
                let failures = hosts.get(origin).map_or(0, |o| o.failures) + 1;
                if failures == 1 {
                    tracing::warn!(host = origin, error = %e, "host unreachable; its subscriptions wait for it");
                }
                hosts.insert(
                    origin.to_string(),
                    Outage {
                        failures,
                        retry_at: now + backoff(failures),
                        reason: e.to_string(),
                    },
                );
            }
            None => {
                if hosts.remove(origin).is_some() {
                    tracing::info!(host = origin, "host reachable again");
                }
            }
        }
    }

    /// Ends every outage (the configuration changed).
    pub(super) fn clear(&self) {
        self.hosts.lock().clear();
    }
}

/// The origin (`scheme://host[:port]`, lower case, default port left out) a subscription's
/// discovery connects to; None when there is none to guard (a local path, an unparsable URL:
/// discovery reports those itself).
pub(super) fn origin(sub: &Subscription, insecure_registries: &[String]) -> Option<String> {
    match sub {
        Subscription::Image(s) => registry_origin(&s.repo_url, insecure_registries),
        Subscription::Chart(s) if s.repo_url.starts_with("oci://") => {
            registry_origin(&s.repo_url, insecure_registries)
        }
        Subscription::Chart(s) => url_origin(&s.repo_url),
        Subscription::Git(s) => url_origin(&s.repo_url).or_else(|| scp_origin(&s.repo_url)),
    }
}

fn registry_origin(repo_url: &str, insecure_registries: &[String]) -> Option<String> {
    registry::endpoint(repo_url, false, insecure_registries)
        .ok()
        .map(|e| e.base.origin().ascii_serialization())
}

/// `scheme://host[:port]` of a URL with a network host; `file://` and the like have none.
fn url_origin(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    if !matches!(
        u.scheme(),
        "http" | "https" | "ssh" | "git" | "git+ssh" | "ssh+git"
    ) {
        return None;
    }
    let host = u.host_str().filter(|h| !h.is_empty())?;
    Some(match u.port() {
        Some(port) => format!("{}://{}:{port}", u.scheme(), host.to_ascii_lowercase()),
        None => format!("{}://{}", u.scheme(), host.to_ascii_lowercase()),
    })
}

/// `[user@]host:path`, git's scp-like SSH form.
fn scp_origin(url: &str) -> Option<String> {
    if url.contains("://") || url.starts_with(['/', '.']) {
        return None;
    }
    let (head, _) = url.split_once(':')?;
    if head.contains('/') {
        return None;
    }
    let host = head.rsplit_once('@').map_or(head, |(_, h)| h);
    (!host.is_empty()).then(|| format!("ssh://{}", host.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str) -> DiscoveryError {
        DiscoveryError::Connect {
            url: url.to_string(),
            reason: "Connection refused (os error 111)".to_string(),
        }
    }

    const HOST: &str = "http://127.0.0.1:5000";

    #[test]
    fn a_refused_connection_holds_the_host_back_then_one_caller_probes() {
        let o = Outages::new(Duration::from_secs(30));
        let t0 = Instant::now();
        assert!(o.gate_at(HOST, t0).is_none(), "no outage yet");
        o.record_at(
            HOST,
            Some(&refused("http://127.0.0.1:5000/v2/a/tags/list")),
            t0,
        );
        let held = o.gate_at(HOST, t0).expect("held back");
        let text = held.to_string();
        assert!(
            text.contains("http://127.0.0.1:5000 is unreachable"),
            "{text}"
        );
        assert!(text.contains("Connection refused"), "{text}");
        assert!(text.contains("for 1s"), "{text}");
        // After the backoff, the first caller probes, the next one waits for it.
        let later = t0 + Duration::from_millis(1001);
        assert!(o.gate_at(HOST, later).is_none(), "the probe goes ahead");
        assert!(
            o.gate_at(HOST, later).is_some(),
            "others wait for the probe"
        );
        // The probe fails: the backoff doubles.
        o.record_at(HOST, Some(&refused("http://127.0.0.1:5000/v2/")), later);
        assert!(o
            .gate_at(HOST, later + Duration::from_millis(1999))
            .is_some());
        assert!(o.gate_at(HOST, later + Duration::from_secs(2)).is_none());
        // Any answer ends the outage.
        let status = DiscoveryError::Status {
            url: "http://127.0.0.1:5000/v2/a/tags/list".to_string(),
            status: 404,
            hint: String::new(),
        };
        o.record_at(HOST, Some(&status), later + Duration::from_secs(2));
        assert!(o.gate_at(HOST, later + Duration::from_secs(2)).is_none());
        assert!(o.gate_at(HOST, later + Duration::from_secs(2)).is_none());
    }

    #[test]
    fn only_the_hosts_own_failure_counts() {
        let o = Outages::new(Duration::from_secs(30));
        let t0 = Instant::now();
        // A token server elsewhere refusing says nothing about the registry.
        o.record_at(HOST, Some(&refused("https://auth.example.com/token")), t0);
        assert!(o.gate_at(HOST, t0).is_none());
        o.record_at(
            HOST,
            Some(&DiscoveryError::Timeout {
                url: HOST.to_string(),
                secs: 30,
            }),
            t0,
        );
        assert!(o.gate_at(HOST, t0).is_none(), "a slow host is not out");
        o.record_at(HOST, Some(&DiscoveryError::GitUnreachable("x".into())), t0);
        assert!(o.gate_at(HOST, t0).is_some());
        assert!(o.gate_at("http://127.0.0.1:5001", t0).is_none());
        o.clear();
        assert!(o.gate_at(HOST, t0).is_none(), "a reload ends it");
    }

    #[test]
    fn origins() {
        assert_eq!(
            url_origin("https://GitHub.com/org/repo.git").as_deref(),
            Some("https://github.com")
        );
        assert_eq!(
            url_origin("http://127.0.0.1:8080/git/x").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(
            url_origin("ssh://git@example.com:2222/x").as_deref(),
            Some("ssh://example.com:2222")
        );
        assert_eq!(url_origin("file:///srv/git/x"), None);
        assert_eq!(
            scp_origin("git@GitHub.com:org/repo.git").as_deref(),
            Some("ssh://github.com")
        );
        assert_eq!(scp_origin("/srv/git/x"), None);
        assert_eq!(
            registry_origin("127.0.0.1:5000/team/app", &[]).as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(
            registry_origin("ghcr.io/org/app", &[]).as_deref(),
            Some("https://ghcr.io")
        );
        // The origin matches what a refused request to it reports.
        assert!(refused("http://127.0.0.1:5000/v2/team/app/tags/list").unreachable(HOST));
    }
}
