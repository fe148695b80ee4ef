//! Timestamps as the store and the admin API spell them.

use time::OffsetDateTime;

/// Now, RFC 3339 UTC with millisecond precision.
pub fn now_rfc3339() -> String {
    rfc3339_millis(OffsetDateTime::now_utc())
}

/// `at` as `YYYY-MM-DDTHH:MM:SS.mmmZ`. Every delivery record takes one, so the digits are
/// written straight into a string of the final size instead of through `format!`'s padding
/// machinery (a third of the cost); a year outside 0–9999 keeps `format!`'s spelling.
fn rfc3339_millis(at: OffsetDateTime) -> String {
    let year = at.year();
    if !(0..=9999).contains(&year) {
        return by_format(at);
    }
    let mut out = String::with_capacity(24);
    let mut digits = |n: u32, width: u32, after: char| {
        for place in (0..width).rev() {
            let d = (n / 10u32.pow(place)) % 10;
            out.push(char::from(b'0' + d as u8));
        }
        out.push(after);
    };
    digits(year.unsigned_abs(), 4, '-');
    digits(u8::from(at.month()).into(), 2, '-');
    digits(at.day().into(), 2, 'T');
    digits(at.hour().into(), 2, ':');
    digits(at.minute().into(), 2, ':');
    digits(at.second().into(), 2, '.');
    digits(at.millisecond().into(), 3, 'Z');
    out
}

/// The spelling through `format!`: the reference the fast path must equal.
fn by_format(at: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::{by_format, rfc3339_millis};
    use time::OffsetDateTime;

    #[test]
    fn timestamps_are_spelled_as_format_would_spell_them() {
        for nanos in [
            0i128,
            1_764_186_400_123_000_000,
            1_764_186_400_999_999_999,
            951_782_400_007_000_000,     // 2000-02-29
            -62_135_596_800_000_000_000, // 0001-01-01
            253_402_300_799_999_000_000, // 9999-12-31T23:59:59.999
        ] {
            let at = OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap();
            assert_eq!(rfc3339_millis(at), by_format(at));
        }
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_764_186_400_123_000_000).unwrap();
        assert_eq!(rfc3339_millis(at), "2025-11-26T19:46:40.123Z");
    }
}
