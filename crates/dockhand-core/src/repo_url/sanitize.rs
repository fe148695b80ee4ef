//! Kargo's `SanitizeURL` (`pkg/urls/common.go`): before any URL is normalized, every character
//! Go's `unicode.IsPrint` rejects is removed wherever it is (a zero-width space or a byte order
//! mark pasted with the URL, a tab, a line break), then surrounding spaces are trimmed. Kargo
//! compares sanitized URLs, so a Warehouse whose `repoURL` carries an invisible character is
//! still refreshed by a webhook naming the repository; dockhand must do the same.
//!
//! `unicode.IsPrint` keeps letters, marks, numbers, punctuation, symbols and the ASCII space.
//! Without Unicode category tables this removes what matters in URLs: controls (Cc), every
//! white space but U+0020 (Zs, Zl, Zp), format characters (Cf: zero-width spaces and joiners,
//! BOM, bidirectional marks, soft hyphen, tags) and private-use characters (Co). Unassigned code
//! points (Cn), which Go also removes, are kept.

use std::borrow::Cow;

/// The format characters (general category Cf) of Unicode 15.1.
const FORMAT: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// Private use areas (general category Co).
const PRIVATE_USE: &[(u32, u32)] = &[(0xE000, 0xF8FF), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD)];

fn in_ranges(c: char, ranges: &[(u32, u32)]) -> bool {
    let c = u32::from(c);
    ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// Whether Kargo's sanitizing keeps `c` (Go's `unicode.IsPrint`, see the module doc).
fn is_print(c: char) -> bool {
    if c.is_ascii() {
        return c == ' ' || c.is_ascii_graphic();
    }
    !(c.is_control() || c.is_whitespace() || in_ranges(c, FORMAT) || in_ranges(c, PRIVATE_USE))
}

/// `url` with non-printable characters removed and surrounding spaces trimmed, as Kargo's
/// `SanitizeURL`. Borrowed when there is nothing to remove (the common case).
pub fn sanitize(url: &str) -> Cow<'_, str> {
    if url.chars().all(is_print) {
        return Cow::Borrowed(url.trim_matches(' '));
    }
    let kept: String = url.chars().filter(|&c| is_print(c)).collect();
    Cow::Owned(kept.trim_matches(' ').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kargo's `TestSanitizeURL` table (pkg/urls/common_test.go), every case.
    #[test]
    fn kargo_sanitize_url_table() {
        let cases = [
            ("  https://example.com/repo  ", "https://example.com/repo"),
            (
                "\n\thttps://example.com/repo\t\n",
                "https://example.com/repo",
            ),
            (
                "\u{FEFF}https://example.com/repo",
                "https://example.com/repo",
            ),
            (
                "https://example.com/\u{200B}repo",
                "https://example.com/repo",
            ),
            (
                "https://example.com/repo\u{FEFF}",
                "https://example.com/repo",
            ),
            (
                "\u{FEFF} https://example.com/\u{200B}repo \u{FEFF}",
                "https://example.com/repo",
            ),
            (
                "\u{FEFF} \n https://example.com/\trepo \u{200B} \n ",
                "https://example.com/repo",
            ),
            ("https://example.com/repo", "https://example.com/repo"),
            ("ftp://example.com/resource", "ftp://example.com/resource"),
            ("   ", ""),
            ("", ""),
            ("https://example.com/ myrepo", "https://example.com/ myrepo"),
            (
                "https://example.com/\u{200B}myrepo",
                "https://example.com/myrepo",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(sanitize(input), want, "input {input:?}");
        }
    }

    #[test]
    fn other_invisible_and_non_printable_characters() {
        for c in [
            '\u{00A0}', '\u{2028}', '\u{200D}', '\u{2060}', '\u{E000}', '\u{7F}', '\u{85}',
        ] {
            let input = format!("ghcr.io/{c}org/app");
            assert_eq!(
                sanitize(&input),
                "ghcr.io/org/app",
                "U+{:04X}",
                u32::from(c)
            );
        }
        // Letters, marks and symbols stay: they are for the normalizer to judge.
        assert_eq!(sanitize("ghcr.io/äpp\u{301}€"), "ghcr.io/äpp\u{301}€");
    }
}
