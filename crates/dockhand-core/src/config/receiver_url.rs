//! The receiver URL path, byte-compatible with Kargo's so a webhook already registered with a
//! registry keeps working after a move to dockhand.

use sha2::{Digest, Sha256};

use crate::receivers::ReceiverType;

/// `/{type}/{hex(sha256(project + name + secret))}`: plain concatenation, no separators,
/// lower-case hex.
pub fn receiver_path(kind: &ReceiverType, project: &str, name: &str, secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(project.as_bytes());
    h.update(name.as_bytes());
    h.update(secret.as_bytes());
    let digest = h.finalize();
    let mut out = String::with_capacity(2 + kind.name.len() + 64);
    out.push('/');
    out.push_str(kind.name);
    out.push('/');
    for b in digest {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kargo_vector() {
        // sha256("kargo-demoazure-wh-receivermysecret"), computed independently with sha256sum.
        assert_eq!(
            receiver_path(
                &crate::receivers::azure::TYPE,
                "kargo-demo",
                "azure-wh-receiver",
                "mysecret"
            ),
            format!("/azure/{}", KARGO_DEMO_HASH)
        );
    }

    const KARGO_DEMO_HASH: &str =
        "745146127fcc648612afc12a906adf7d5414fac3a2fee947b931243f7d8368cd";
}
