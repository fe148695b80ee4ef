//! Kubernetes durations (`metav1.Duration`, Go's `time.ParseDuration` syntax) as Kargo writes
//! them in `spec.interval`: `5m0s`, `1h30m`, `30s`, `1.5h`.

use std::time::Duration;

/// Go's limit: a duration is an `int64` of nanoseconds.
const MAX_NANOS: u128 = i64::MAX as u128;

/// Fractional digits beyond this cannot change the result by a whole nanosecond for any unit up
/// to hours, and keeping them bounded keeps the arithmetic from overflowing.
const MAX_FRACTION_DIGITS: usize = 18;

/// Parses a positive duration. The error says what is wrong, without repeating the input.
pub(super) fn parse(text: &str) -> Result<Duration, &'static str> {
    if text.is_empty() {
        return Err("empty");
    }
    if text.starts_with('-') {
        return Err("must not be negative");
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    // Go accepts a bare "0"; it is still not a usable interval, which the zero check below says.
    if rest == "0" {
        return Err("must be greater than zero");
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let whole_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (whole, after) = rest.split_at(whole_len);
        let (fraction, after) = match after.strip_prefix('.') {
            Some(f) => {
                let n = f.bytes().take_while(u8::is_ascii_digit).count();
                f.split_at(n)
            }
            None => ("", after),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err("expected a number");
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after.len(), |(i, _)| i);
        let (unit, after) = after.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err("missing unit (use h, m, s, ms, us or ns)"),
            _ => return Err("unknown unit (use h, m, s, ms, us or ns)"),
        };
        let mut value: u128 = 0;
        for d in whole.bytes() {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u128::from(d - b'0')))
                .filter(|v| *v <= MAX_NANOS)
                .ok_or("out of range")?;
        }
        let mut nanos = value.checked_mul(unit_nanos).ok_or("out of range")?;
        let fraction = &fraction[..fraction.len().min(MAX_FRACTION_DIGITS)];
        if !fraction.is_empty() {
            let mut f: u128 = 0;
            for d in fraction.bytes() {
                f = f * 10 + u128::from(d - b'0');
            }
            // At most 10^18 * 3.6e12: far inside u128.
            nanos += f * unit_nanos / 10u128.pow(fraction.len() as u32);
        }
        total = total.checked_add(nanos).ok_or("out of range")?;
        if total > MAX_NANOS {
            return Err("out of range");
        }
        rest = after;
    }
    if total == 0 {
        return Err("must be greater than zero");
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| "out of range")?;
    let sub = u32::try_from(total % 1_000_000_000).map_err(|_| "out of range")?;
    Ok(Duration::new(secs, sub))
}

/// A duration flag of dockhand itself (`--refresh-cooldown 2s`): the same syntax, and zero
/// (`0`, `0s`) allowed. The error names the input, which is never a secret here.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    match parse(text.trim()) {
        Ok(d) => Ok(d),
        Err("must be greater than zero") => Ok(Duration::ZERO),
        Err(why) => Err(format!("invalid duration {text:?}: {why}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubernetes_durations() {
        let cases: &[(&str, Duration)] = &[
            ("5m0s", Duration::from_secs(300)),
            ("5m", Duration::from_secs(300)),
            ("1h30m", Duration::from_secs(5400)),
            ("30s", Duration::from_secs(30)),
            ("1.5h", Duration::from_secs(5400)),
            ("+2m", Duration::from_secs(120)),
            (".5s", Duration::from_millis(500)),
            ("1.s", Duration::from_secs(1)),
            ("250ms", Duration::from_millis(250)),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            ("7ns", Duration::from_nanos(7)),
            ("1h0m0.000000001s", Duration::new(3600, 1)),
            (
                "2562047h47m16.854775807s",
                Duration::new(9_223_372_036, 854_775_807),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), Ok(*want), "{text}");
        }
    }

    #[test]
    fn rejects_the_rest() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("5", "missing unit (use h, m, s, ms, us or ns)"),
            ("5 m", "unknown unit (use h, m, s, ms, us or ns)"),
            ("5min", "unknown unit (use h, m, s, ms, us or ns)"),
            ("1d", "unknown unit (use h, m, s, ms, us or ns)"),
            ("m", "expected a number"),
            (".m", "expected a number"),
            ("-5m", "must not be negative"),
            ("0", "must be greater than zero"),
            ("0s", "must be greater than zero"),
            ("0h0m", "must be greater than zero"),
            ("2562047h47m16.854775808s", "out of range"),
            ("99999999999999999999999999999999999999999h", "out of range"),
            ("9223372036854775807h", "out of range"),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), Err(*want), "{text}");
        }
    }
}
