//! Secret values: never printed, compared only in constant time.

use subtle::ConstantTimeEq;

/// A secret string from a Kubernetes `Secret`. Its `Debug` and `Display` never show the value,
/// so a secret that ends up in a log line or an error message by mistake shows as `<redacted>`.
///
/// Deliberately not `PartialEq`: an `==` would compare with an early exit, so its time would tell
/// an attacker how much of a guess was right. Compare with [`Secret::matches`].
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the few places that must use it (hashing the receiver URL).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time equality with bytes received on the wire. The time taken depends only on
    /// the lengths, never on where the first difference is.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        constant_time_eq(self.0.as_bytes(), candidate)
    }
}

/// Constant-time comparison of two byte strings (length is not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
    }

    #[test]
    fn compares_whole_value() {
        let s = Secret::new("Bearer abc");
        assert!(s.matches(b"Bearer abc"));
        assert!(!s.matches(b"Bearer ab"));
        assert!(!s.matches(b"bearer abc"));
        assert!(!s.matches(b""));
    }
}
