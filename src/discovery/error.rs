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

/// A URL without its query: token requests carry `scope` and `service`, which are harmless, but
/// a registry's pagination link may carry opaque state; neither helps a reader.
pub fn strip_query(url: &str) -> String {
    let cut = url.find('?').unwrap_or(url.len());
    url[..cut].to_string()
}
