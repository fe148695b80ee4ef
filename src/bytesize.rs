//! Byte sizes as people write them on a command line: `1048576`, `512KiB`, `2MiB`, `1MB`.
//! Binary units (KiB, MiB, GiB) are powers of 1024, decimal ones (kB/KB, MB, GB) powers of 1000,
//! as in Kubernetes quantities; a bare number is bytes.

/// Parses a size; the error says what is accepted.
pub fn parse(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let bad = || format!("expected a size such as 1048576, 512KiB, 2MiB or 1MB, got {s:?}");
    let n: usize = digits.parse().map_err(|_| bad())?;
    let factor: usize = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "Ki" => 1 << 10,
        "MiB" | "Mi" => 1 << 20,
        "GiB" | "Gi" => 1 << 30,
        "kB" | "KB" | "k" | "K" => 1_000,
        "MB" | "M" => 1_000_000,
        "GB" | "G" => 1_000_000_000,
        _ => return Err(bad()),
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn sizes_with_and_without_units() {
        for (input, want) in [
            ("0", Some(0)),
            ("1048576", Some(1_048_576)),
            ("2MiB", Some(2 * 1024 * 1024)),
            ("64KiB", Some(64 * 1024)),
            ("1GiB", Some(1 << 30)),
            ("1MB", Some(1_000_000)),
            ("10kB", Some(10_000)),
            ("3 MiB", Some(3 << 20)),
            ("512B", Some(512)),
            ("", None),
            ("MiB", None),
            ("2XB", None),
            ("-1", None),
            ("1.5MiB", None),
            ("99999999999999999999GiB", None),
        ] {
            assert_eq!(parse(input).ok(), want, "{input:?}");
        }
    }
}
