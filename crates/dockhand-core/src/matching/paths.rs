//! Path selectors of git subscriptions (`includePaths`/`excludePaths`): an exact path or a
//! directory prefix, `glob:` patterns and `regex:`/`regexp:` patterns, as Kargo documents them.
//! (Stub: being written.)

/// One selector.
#[derive(Debug, Clone)]
pub struct PathSelector {
    text: String,
}

impl PathSelector {
    /// Parses a selector; the error says what is wrong with the pattern.
    pub fn parse(text: &str) -> Result<PathSelector, String> {
        Ok(PathSelector {
            text: text.to_string(),
        })
    }

    pub fn matches(&self, path: &str) -> bool {
        path == self.text
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}
