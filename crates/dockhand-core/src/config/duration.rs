//! Durations in the Kubernetes/Go syntax Kargo manifests use (`5m0s`, `1h30m`, `1.5h`, `500ms`),
//! also accepted by dockhand's own duration flags.

use std::time::Duration;

/// Parses a Go-style duration: one or more `{number}{unit}` with units `ns`, `us`, `µs`, `ms`,
/// `s`, `m`, `h`. Negative durations are refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!("invalid duration {text:?}: expected a number"));
        }
        let value: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: bad number"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => {
                return Err(format!(
                    "invalid duration {text:?}: missing unit (s, m, h ...)"
                ))
            }
            u => return Err(format!("invalid duration {text:?}: unknown unit {u:?}")),
        };
        rest = &rest[unit_len..];
        total += value * factor;
    }
    if !total.is_finite() || total > 1e10 {
        return Err(format!("invalid duration {text:?}: too large"));
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        for (text, want) in [
            ("5m0s", Some(300.0)),
            ("5m", Some(300.0)),
            ("1h30m", Some(5400.0)),
            ("1.5h", Some(5400.0)),
            ("500ms", Some(0.5)),
            ("30s", Some(30.0)),
            ("0", Some(0.0)),
            ("", None),
            ("5", None),
            ("-5s", None),
            ("5x", None),
            ("m", None),
        ] {
            let got = parse_duration(text).ok().map(|d| d.as_secs_f64());
            assert_eq!(got, want, "{text:?}");
        }
    }
}
