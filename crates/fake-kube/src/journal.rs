//! The request journal: every request the server answered, in order, for test assertions.

use std::time::SystemTime;

/// One answered request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub at: SystemTime,
    /// The authenticated identity's name; `None` when authentication failed.
    pub identity: Option<String>,
    pub method: String,
    pub path: String,
    /// The raw query string (percent-encoded), empty when absent.
    pub query: String,
    pub content_type: Option<String>,
    pub body: String,
    /// HTTP status; 200 for a watch that started streaming.
    pub status: u16,
}

impl JournalEntry {
    /// The decoded value of one query parameter.
    pub fn query_param(&self, key: &str) -> Option<String> {
        crate::server::query_pairs(&self.query)
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}
