//! De-duplication of redelivered events: registries retry and Event Grid delivers at least once.
//! A provider delivery id already handled by the same receiver within the window is answered 200
//! and recorded as a duplicate, and refreshes nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Dedup {
    window: Duration,
    max_entries: usize,
    seen: Mutex<HashMap<(String, String), Instant>>,
}

impl Dedup {
    pub fn new(window: Duration, max_entries: usize) -> Dedup {
        Dedup {
            window,
            max_entries,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Claims (`receiver`, `id`): true if it is new (and now remembered), false if it was
    /// handled within the window. Atomic, so two copies arriving together cannot both pass.
    pub fn claim(&self, receiver: &str, id: &str) -> bool {
        if self.window.is_zero() {
            return true;
        }
        let now = Instant::now();
        let Ok(mut seen) = self.seen.lock() else {
            return true;
        };
        let key = (receiver.to_string(), id.to_string());
        if let Some(at) = seen.get(&key) {
            if now.duration_since(*at) < self.window {
                return false;
            }
        }
        if seen.len() >= self.max_entries {
            let window = self.window;
            seen.retain(|_, at| now.duration_since(*at) < window);
            if seen.len() >= self.max_entries {
                // Bounded memory beats perfect recall under a flood of distinct ids.
                seen.clear();
            }
        }
        seen.insert(key, now);
        true
    }

    /// Forgets a claim whose delivery could not be recorded, so the sender's retry is handled.
    pub fn release(&self, receiver: &str, id: &str) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.remove(&(receiver.to_string(), id.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_claim_within_window_is_a_duplicate() {
        let d = Dedup::new(Duration::from_secs(600), 100);
        assert!(d.claim("p/r", "id-1"));
        assert!(!d.claim("p/r", "id-1"));
        assert!(d.claim("p/other", "id-1"));
        d.release("p/r", "id-1");
        assert!(d.claim("p/r", "id-1"));
    }

    #[test]
    fn window_expires_and_memory_is_bounded() {
        let d = Dedup::new(Duration::from_millis(1), 3);
        assert!(d.claim("r", "a"));
        std::thread::sleep(Duration::from_millis(5));
        assert!(d.claim("r", "a"));
        for i in 0..10 {
            d.claim("r", &i.to_string());
        }
        assert!(d.seen.lock().unwrap().len() <= 3);
    }
}
