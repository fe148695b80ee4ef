//! HTML building for the dashboard: every value is escaped on the way in, markup comes only
//! from string literals.
//!
//! Payload text (tags, repository names, provider ids) is attacker-controlled, so the one way
//! to put a value into a page is `Html::text` (or `{expr}` in `html!`), which escapes it;
//! `Html::raw` takes only `&'static str`, so a runtime string cannot become markup by mistake.
//! URLs the pages link to are built from path segments percent-encoded by `segment`.

use std::fmt::{self, Write};

/// A fragment of HTML under construction.
#[derive(Default)]
pub struct Html(String);

impl Html {
    pub fn new() -> Self {
        Html(String::with_capacity(4096))
    }

    /// Markup: only literals reach here.
    pub fn raw(&mut self, markup: &'static str) {
        self.0.push_str(markup);
    }

    /// A value as text (or inside a double-quoted attribute), escaped.
    pub fn text(&mut self, value: impl fmt::Display) {
        // Writing to a String cannot fail; the escaping writer forwards every piece.
        let _ = write!(Escaper(&mut self.0), "{value}");
    }

    /// A fragment built by another `Html` (already escaped).
    pub fn append(&mut self, other: Html) {
        self.0.push_str(&other.0);
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// `html!(h, "<td>", {value}, "</td>")`: literals are markup, `{expr}` is escaped text.
macro_rules! html {
    ($h:expr, $($part:tt),* $(,)?) => {{
        $( html!(@part $h, $part); )*
    }};
    (@part $h:expr, {$e:expr}) => { $h.text($e) };
    (@part $h:expr, $lit:literal) => { $h.raw($lit) };
}
pub(crate) use html;

/// Escapes `s` for HTML text and double- or single-quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_escaped(&mut out, s);
    out
}

fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

struct Escaper<'a>(&'a mut String);

impl fmt::Write for Escaper<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        push_escaped(self.0, s);
        Ok(())
    }
}

/// `s` as one URL path segment or query value: everything but unreserved characters
/// percent-encoded, so a name can neither leave its segment nor start a scheme.
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_cases() {
        let cases = [
            ("", ""),
            ("plain v1.2.3", "plain v1.2.3"),
            (
                "<script>alert(1)</script>",
                "&lt;script&gt;alert(1)&lt;/script&gt;",
            ),
            ("a&b", "a&amp;b"),
            ("&amp;", "&amp;amp;"),
            ("\" onmouseover=\"x", "&quot; onmouseover=&quot;x"),
            ("' autofocus onfocus='x", "&#39; autofocus onfocus=&#39;x"),
            (
                "<img src=x onerror=alert(1)>",
                "&lt;img src=x onerror=alert(1)&gt;",
            ),
            ("ünïcode ✓", "ünïcode ✓"),
        ];
        for (input, want) in cases {
            assert_eq!(escape(input), want, "{input:?}");
        }
    }

    #[test]
    fn text_escapes_and_raw_does_not() {
        let mut h = Html::new();
        let name = "<b>x</b>";
        html!(h, "<td title=\"", { name }, "\">", { 42 }, "</td>");
        assert_eq!(
            h.into_string(),
            "<td title=\"&lt;b&gt;x&lt;/b&gt;\">42</td>"
        );
    }

    #[test]
    fn segment_cases() {
        let cases = [
            ("kargo-demo", "kargo-demo"),
            ("a/b", "a%2Fb"),
            ("../x", "..%2Fx"),
            ("javascript:alert(1)", "javascript%3Aalert%281%29"),
            ("a b?c#d&e=f", "a%20b%3Fc%23d%26e%3Df"),
            ("\"<>", "%22%3C%3E"),
            ("é", "%C3%A9"),
        ];
        for (input, want) in cases {
            assert_eq!(segment(input), want, "{input:?}");
        }
    }
}
