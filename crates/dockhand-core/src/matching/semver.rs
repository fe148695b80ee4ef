//! Semantic versions and constraints in the syntax Kargo uses (Masterminds/semver).
//! (Stub: being written.)

/// A parsed constraint such as `^1.2`, `>=1.0 <2.0 || 3.x`.
#[derive(Debug, Clone)]
pub struct Constraint {
    text: String,
}

/// Why a constraint did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid semver constraint {text:?}: {reason}")]
pub struct ConstraintError {
    pub text: String,
    pub reason: String,
}

impl Constraint {
    pub fn parse(text: &str) -> Result<Constraint, ConstraintError> {
        Ok(Constraint {
            text: text.to_string(),
        })
    }

    pub fn matches(&self, version: &semver::Version) -> bool {
        let _ = version;
        true
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Parses a tag as a version. `strict`: all of major, minor and patch must be present (Kargo's
/// `strictSemvers`); otherwise `1` and `1.2` are accepted as `1.0.0` and `1.2.0`. A leading `v`
/// is allowed either way.
pub fn parse_version(text: &str, strict: bool) -> Option<semver::Version> {
    let _ = strict;
    semver::Version::parse(text.trim_start_matches('v')).ok()
}
