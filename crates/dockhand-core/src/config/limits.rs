//! Limits on a manifest file, checked on its text before the YAML parser sees it. The parser's
//! own recursion limit stops deep nesting only after it has scanned it, and scanning nested flow
//! collections (`[[[[…` or `{a: {a: …`) costs time quadratic in the depth: 100,000 brackets took
//! half a minute and held every later reload back. Real Kargo manifests nest a dozen levels.

/// Largest manifest file read, in bytes. Kubernetes keeps an object under 1.5 MiB; a file of ten
/// thousand Warehouses is about 6 MiB.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Deepest nesting of flow collections (`[…]`, `{…}`) allowed.
pub const MAX_FLOW_DEPTH: usize = 64;

/// Checks `text` against the limits; the error says which and where.
pub fn check(text: &str) -> Result<(), String> {
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(text.len() as u64));
    }
    // Nesting deeper than the limit needs more opening brackets than the limit; counting them
    // is a fraction of the cost of the scan below, which most files (block style) then skip.
    let openings = text
        .as_bytes()
        .iter()
        .filter(|&&c| c == b'[' || c == b'{')
        .count();
    if openings <= MAX_FLOW_DEPTH {
        return Ok(());
    }
    match flow_depth_exceeded(text.as_bytes(), MAX_FLOW_DEPTH) {
        Some((line, column)) => Err(format!(
            "flow collections ([...] or {{...}}) nested deeper than {MAX_FLOW_DEPTH} levels at line {line} column {column}; not parsed"
        )),
        None => Ok(()),
    }
}

/// The message for a file of `len` bytes over [`MAX_FILE_BYTES`].
pub fn too_large(len: u64) -> String {
    format!(
        "is {len} bytes, more than the {MAX_FILE_BYTES} bytes a manifest file may have; not read"
    )
}

/// Where (1-based line and column) flow nesting first exceeds `max`, if it does. Brackets inside
/// quoted scalars and comments do not count; a quote opens a scalar only where YAML lets one
/// begin (after a space, an indicator or at the start of a line), so an apostrophe inside a
/// plain word (`don't`) is text, as it is to the parser.
fn flow_depth_exceeded(text: &[u8], max: usize) -> Option<(usize, usize)> {
    #[derive(PartialEq)]
    enum State {
        Plain,
        Single,
        Double,
        Comment,
    }
    let mut state = State::Plain;
    let mut depth = 0usize;
    let (mut line, mut line_start) = (1usize, 0usize);
    let mut prev = b'\n';
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        match state {
            State::Plain => match c {
                b'[' | b'{' => {
                    depth += 1;
                    if depth > max {
                        return Some((line, i - line_start + 1));
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                b'#' if prev.is_ascii_whitespace() => state = State::Comment,
                b'\'' if scalar_may_start(prev) => state = State::Single,
                b'"' if scalar_may_start(prev) => state = State::Double,
                _ => {}
            },
            State::Single => {
                if c == b'\'' {
                    state = State::Plain;
                }
            }
            State::Double => match c {
                b'\\' => i += 1,
                b'"' => state = State::Plain,
                _ => {}
            },
            State::Comment => {
                if c == b'\n' {
                    state = State::Plain;
                }
            }
        }
        if text.get(i) == Some(&b'\n') {
            line += 1;
            line_start = i + 1;
        }
        prev = text.get(i).copied().unwrap_or(b' ');
        i += 1;
    }
    None
}

fn scalar_may_start(prev: u8) -> bool {
    prev.is_ascii_whitespace() || matches!(prev, b'[' | b'{' | b',' | b':' | b'-' | b'?')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_flow_nesting_is_refused_before_parsing() {
        let deep = format!("a: {}", "[".repeat(100_000));
        let started = std::time::Instant::now();
        assert_eq!(
            check(&deep),
            Err("flow collections ([...] or {...}) nested deeper than 64 levels at line 1 column 68; not parsed".into())
        );
        // Linear: a 100,000-bracket document is refused at once.
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let mappings = format!("x: 1\na: {}", "{a: ".repeat(1000));
        assert_eq!(
            check(&mappings).unwrap_err(),
            "flow collections ([...] or {...}) nested deeper than 64 levels at line 2 column 260; not parsed"
        );
    }

    #[test]
    fn brackets_that_are_text_do_not_count() {
        let ok = [
            // Regular expressions in tag rules are balanced.
            "allowTagsRegexes: ['^v[0-9]+\\.[0-9]+$', \"[[:digit:]]\"]".to_string(),
            // Inside quotes and comments brackets are text.
            format!("a: '{}'", "[".repeat(500)),
            format!("a: \"{}\\\"{}\"", "[".repeat(200), "{".repeat(200)),
            format!("a: 1 # {}", "[".repeat(500)),
            // An apostrophe in a plain word opens no quote; the brackets after it are balanced.
            format!("a: don't {}{}", "[".repeat(64), "]".repeat(64)),
            format!("a: {}{}", "[".repeat(64), "]".repeat(64)),
        ];
        for text in &ok {
            assert_eq!(check(text), Ok(()), "{text}");
        }
    }

    #[test]
    fn an_apostrophe_does_not_hide_nesting_from_the_check() {
        // `b'` is a plain scalar; YAML reads the brackets after a space as flow indicators.
        let text = format!("a: [b', {}", "[".repeat(100));
        assert!(check(&text).is_err());
    }
}
