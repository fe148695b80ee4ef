//! Why discovery from one subscription failed, in words for the Warehouse's `lastError`.
//! Messages name the URL (never with credentials in it) and what to do; they never carry a
//! password, a token or an `Authorization` value.

/// One subscription's discovery failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DiscoveryError {
    #[error("{url}: cannot connect: {reason}")]
    Connect { url: String, reason: String },
    #[error("{url}: no answer within {secs}s (timeout)")]
    Timeout { url: String, secs: u64 },
    #[error("{url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("{url}: HTTP {status}{hint}")]
    Status {
        url: String,
        status: u16,
        hint: String,
    },
    #[error("{url}: the response is larger than {max} bytes; refusing to read it")]
    TooLarge { url: String, max: usize },
    #[error("{url}: malformed {what}: {reason}")]
    Malformed {
        url: String,
        what: &'static str,
        reason: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("git: {0}")]
    Git(String),
    /// git could not reach the host (refused, unresolvable, no route): the host is down, not
    /// the repository wrong. Worded as any git failure.
    #[error("git: {0}")]
    GitUnreachable(String),
    /// Not attempted: the subscription's host could not be reached moments ago (see
    /// `discovery::Outages`).
    #[error("{host} is unreachable ({reason}); not contacted again for {secs}s")]
    HostUnreachable {
        host: String,
        reason: String,
        secs: u64,
    },
}

impl DiscoveryError {
    /// Classifies a transport error of reqwest. Its `Display` names the URL; ours does, so only
    /// the innermost cause is kept (e.g. "Connection refused (os error 111)").
    pub fn from_reqwest(url: &str, e: &reqwest::Error, timeout_secs: u64) -> DiscoveryError {
        let url = strip_query(url);
        if e.is_timeout() {
            return DiscoveryError::Timeout {
                url,
                secs: timeout_secs,
            };
        }
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            reason = s.to_string();
            source = s.source();
        }
        if e.is_connect() {
            DiscoveryError::Connect { url, reason }
        } else {
            DiscoveryError::Transport { url, reason }
        }
    }
}

impl DiscoveryError {
    /// The error says `origin` (`scheme://host[:port]`) could not be reached at all: a refused
    /// or unresolvable connection to that host itself (a token server elsewhere does not count),
    /// or git failing to connect to the subscription's own URL.
    pub fn unreachable(&self, origin: &str) -> bool {
        match self {
            DiscoveryError::Connect { url, .. } => {
                reqwest::Url::parse(url).is_ok_and(|u| u.origin().ascii_serialization() == origin)
            }
            DiscoveryError::GitUnreachable(_) => true,
            _ => false,
        }
    }
}

/// git's own words (curl's and ssh's) for a host it could not reach.
const GIT_UNREACHABLE: [&str; 8] = [
    "failed to connect to",
    "couldn't connect to server",
    "could not resolve host",
    "could not resolve hostname",
    "connection refused",
    "unable to connect to",
    "network is unreachable",
    "no route to host",
];

/// Whether git's standard error says the host could not be reached.
pub fn git_unreachable(stderr: &str) -> bool {
    let lower = stderr.to_ascii_lowercase();
    GIT_UNREACHABLE.iter().any(|p| lower.contains(p))
}

/// A URL without its query: token requests carry `scope` and `service`, which are harmless, but
/// a registry's pagination link may carry opaque state; neither helps a reader.
pub fn strip_query(url: &str) -> String {
    let cut = url.find('?').unwrap_or(url.len());
    url[..cut].to_string()
}
