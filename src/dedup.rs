//! De-duplication of redelivered events: registries retry and Event Grid delivers at least once.
//! A provider delivery id already handled by the same receiver within the window is answered 200
//! and recorded as a duplicate, and refreshes nothing.
//!
//! Memory is bounded whatever the sender puts in an id: each claim is kept as a 128-bit digest of
//! (project, receiver, id) and a time in seconds — 20 bytes of payload, however long the id — and
//! at most `max_entries` claims are kept. At the bound the oldest claims are forgotten first: a
//! redelivery of one of those would refresh again, which is the safe side (one more refresh, never
//! a lost one).
//!
//! This table is a cache in front of the store: the store keeps the same digest as a claim
//! written with the delivery (`Store::record_delivery_once`), which is what makes the window
//! survive a restart and hold across replicas sharing a database.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sha2::{Digest, Sha256};

/// A claim's identity: the first 128 bits of SHA-256 over project, receiver and id. Fixed size,
/// so a 1 MiB id costs what a 36-byte one does; a collision needs 2^64 distinct ids.
pub type Key = [u8; 16];

pub struct Dedup {
    window: Duration,
    max_entries: usize,
    /// Seconds since `epoch` are enough resolution for a window of minutes, and half the size of an
    /// `Instant`.
    epoch: Instant,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    seen: HashMap<Key, u32>,
    /// Claims in the order they were made (so oldest first); an entry whose time no longer
    /// equals the map's was released or claimed again and is skipped when it reaches the front.
    order: VecDeque<(Key, u32)>,
}

impl Dedup {
    pub fn new(window: Duration, max_entries: usize) -> Dedup {
        Dedup {
            window,
            max_entries: max_entries.max(1),
            epoch: Instant::now(),
            state: Mutex::new(State::default()),
        }
    }

    /// The window claims hold for.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The digest a claim is kept as, here and in the store.
    pub fn key(project: &str, receiver: &str, id: &str) -> Key {
        let mut h = Sha256::new();
        for part in [project, receiver, id] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        let digest = h.finalize();
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        key
    }

    fn now(&self) -> u32 {
        u32::try_from(self.epoch.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    /// Claims `id` for the receiver `project/receiver`: true if it is new (and now remembered),
    /// false if it was handled within the window. Atomic, so two copies arriving together cannot
    /// both pass.
    pub fn claim(&self, project: &str, receiver: &str, id: &str) -> bool {
        if self.window.is_zero() {
            return true;
        }
        let key = Self::key(project, receiver, id);
        let now = self.now();
        let window = u32::try_from(self.window.as_secs().max(1)).unwrap_or(u32::MAX);
        let mut state = self.state.lock();
        if let Some(&at) = state.seen.get(&key) {
            if now.saturating_sub(at) < window {
                return false;
            }
        }
        // Forget what is expired, and the oldest beyond the bound.
        while let Some(&(front, at)) = state.order.front() {
            let expired = now.saturating_sub(at) >= window;
            if !expired && state.seen.len() < self.max_entries {
                break;
            }
            state.order.pop_front();
            if state.seen.get(&front) == Some(&at) {
                state.seen.remove(&front);
            }
        }
        state.seen.insert(key, now);
        state.order.push_back((key, now));
        true
    }

    /// Forgets a claim whose delivery could not be recorded, so the sender's retry is handled.
    pub fn release(&self, project: &str, receiver: &str, id: &str) {
        let key = Self::key(project, receiver, id);
        self.state.lock().seen.remove(&key);
    }

    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        let state = self.state.lock();
        (state.seen.len(), state.order.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_claim_within_window_is_a_duplicate() {
        let d = Dedup::new(Duration::from_secs(600), 100);
        assert!(d.claim("p", "r", "id-1"));
        assert!(!d.claim("p", "r", "id-1"));
        assert!(d.claim("p", "other", "id-1"));
        // No ambiguity from concatenation: ("p", "r1", "d") is not ("p", "r", "1d").
        assert!(d.claim("p", "r1", "d"));
        assert!(d.claim("p", "r", "1d"));
        d.release("p", "r", "id-1");
        assert!(d.claim("p", "r", "id-1"));
    }

    #[test]
    fn the_oldest_claims_go_first_at_the_bound() {
        let d = Dedup::new(Duration::from_secs(600), 3);
        for id in ["a", "b", "c", "d"] {
            assert!(d.claim("p", "r", id));
        }
        assert_eq!(d.len().0, 3);
        // "a" was forgotten to make room; the three newest are still known.
        assert!(!d.claim("p", "r", "b"));
        assert!(!d.claim("p", "r", "c"));
        assert!(!d.claim("p", "r", "d"));
        assert!(d.claim("p", "r", "a"));
    }

    #[test]
    fn long_ids_cost_no_more_than_short_ones() {
        let d = Dedup::new(Duration::from_secs(600), 1000);
        let long = "x".repeat(1 << 20);
        assert!(d.claim("p", "r", &long));
        assert!(!d.claim("p", "r", &long));
        assert_eq!(std::mem::size_of::<Key>(), 16);
    }

    #[test]
    fn window_expires() {
        let d = Dedup::new(Duration::from_secs(1), 3);
        assert!(d.claim("p", "r", "a"));
        assert!(!d.claim("p", "r", "a"));
        std::thread::sleep(Duration::from_millis(2100));
        assert!(d.claim("p", "r", "a"));
        // The expired entry was dropped from the order queue too: no growth per re-claim.
        assert!(d.len().1 <= 2);
    }
}
