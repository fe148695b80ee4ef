//! Token-bucket rate limiting per receiver and per client address. Over the limit a request gets
//! 429 with `Retry-After`; the buckets themselves are bounded (idle full buckets are dropped), so
//! a flood of distinct addresses cannot grow memory without bound.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Rate and burst of one kind of bucket; a rate of 0 disables limiting.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

impl Rate {
    pub fn unlimited(&self) -> bool {
        self.per_second <= 0.0
    }
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Buckets keyed by `K`.
pub struct Limiter<K> {
    rate: Rate,
    buckets: Mutex<HashMap<K, Bucket>>,
    max_keys: usize,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub fn new(rate: Rate, max_keys: usize) -> Self {
        Limiter {
            rate,
            buckets: Mutex::new(HashMap::new()),
            max_keys,
        }
    }

    /// Takes one token for `key`; `Err(wait)` when there is none, with the time until there is.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        if self.rate.unlimited() {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock();
        if buckets.len() >= self.max_keys && !buckets.contains_key(key) {
            let (rate, burst) = (self.rate.per_second, self.rate.burst);
            buckets
                .retain(|_, b| b.tokens + now.duration_since(b.last).as_secs_f64() * rate < burst);
            // Still full of active keys: start over rather than grow (briefly lenient, never
            // unbounded).
            if buckets.len() >= self.max_keys {
                buckets.clear();
            }
        }
        let b = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: self.rate.burst,
            last: now,
        });
        let elapsed = now.duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate.per_second).min(self.rate.burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - b.tokens) / self.rate.per_second,
            ))
        }
    }
}

/// Parses `RATE[/s][:BURST]`, e.g. `50/s:200`, `100`, `0` (unlimited).
pub fn parse_rate(text: &str) -> Result<Rate, String> {
    let (rate, burst) = match text.split_once(':') {
        Some((r, b)) => (r, Some(b)),
        None => (text, None),
    };
    let rate = rate.trim().trim_end_matches("/s");
    let per_second: f64 = rate
        .parse()
        .map_err(|_| format!("invalid rate {text:?}: expected RATE/s[:BURST], e.g. 50/s:200"))?;
    if !(per_second.is_finite() && per_second >= 0.0) {
        return Err(format!(
            "invalid rate {text:?}: must be zero (unlimited) or positive"
        ));
    }
    let burst: f64 = match burst {
        Some(b) => b
            .trim()
            .parse()
            .map_err(|_| format!("invalid burst in {text:?}"))?,
        None => (per_second * 4.0).max(1.0),
    };
    if !(burst.is_finite() && burst >= 1.0) {
        return Err(format!("invalid burst in {text:?}: must be at least 1"));
    }
    Ok(Rate { per_second, burst })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refuse() {
        let l = Limiter::new(parse_rate("1/s:3").unwrap(), 10);
        for _ in 0..3 {
            assert!(l.check(&"a").is_ok());
        }
        let wait = l.check(&"a").unwrap_err();
        assert!(
            wait > Duration::from_millis(500) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        // Another key has its own bucket.
        assert!(l.check(&"b").is_ok());
    }

    #[test]
    fn unlimited_and_parsing() {
        let l = Limiter::new(parse_rate("0").unwrap(), 1);
        for _ in 0..1000 {
            assert!(l.check(&1).is_ok());
        }
        assert_eq!(parse_rate("50/s:200").unwrap().burst, 200.0);
        assert_eq!(parse_rate("10").unwrap().burst, 40.0);
        assert!(parse_rate("-1").is_err());
        assert!(parse_rate("x/s").is_err());
        assert!(parse_rate("5:0").is_err());
    }

    #[test]
    fn key_table_stays_bounded() {
        let l = Limiter::new(parse_rate("1000/s:2").unwrap(), 4);
        for k in 0..100 {
            let _ = l.check(&k);
        }
        assert!(l.buckets.lock().len() <= 5);
    }
}
