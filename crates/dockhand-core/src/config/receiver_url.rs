//! The receiver URL path, byte-compatible with Kargo's so a webhook already registered with a
//! registry keeps working after a move to dockhand.

use sha2::{Digest, Sha256};

use super::Receiver;
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

/// Pairs of receivers (earlier, later: indexes into `receivers`) that have the same path.
///
/// Kargo hashes `project + name + secret` without separators, so project `rt` with receiver `az`
/// and project `r` with receiver `taz` share a path when their secrets are equal. One path must
/// lead to one receiver: otherwise a request could be authenticated by one receiver's rules and
/// refresh another project's Warehouses.
pub fn path_collisions(receivers: &[Receiver]) -> Vec<(usize, usize)> {
    let mut first: std::collections::HashMap<&str, usize> =
        std::collections::HashMap::with_capacity(receivers.len());
    let mut out = Vec::new();
    for (i, r) in receivers.iter().enumerate() {
        match first.entry(r.path.as_str()) {
            std::collections::hash_map::Entry::Occupied(e) => out.push((*e.get(), i)),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(i);
            }
        }
    }
    out
}

/// The message for a receiver whose path another receiver already has: names both.
pub fn collision_message(earlier: &Receiver, later: &Receiver) -> String {
    format!(
        "receiver {}/{} has the same URL path as receiver {}/{} ({}): Kargo hashes project + name + secret without separators, so both would be served on one URL; rename one of them or give it another secret",
        later.project, later.name, earlier.project, earlier.name, earlier.origin
    )
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
