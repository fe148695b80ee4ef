//! URL characters and paths shared by git and classic chart keys: rejected characters,
//! percent-decoding to one canonical spelling, case folding that spares escapes, path segments.

pub(super) fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        '\t' => "a tab".into(),
        '\n' | '\r' => "a line break".into(),
        c => format!("the character U+{:04X}", c as u32),
    }
}

/// Rejects characters no URL form accepts anywhere: controls and whitespace other than the
/// space, which Azure DevOps really sends unencoded inside paths. Surrounding whitespace too.
pub(super) fn check_url_chars(url: &str) -> Result<(), String> {
    if url.starts_with(char::is_whitespace) || url.ends_with(char::is_whitespace) {
        return Err("it starts or ends with whitespace".into());
    }
    match url
        .chars()
        .find(|&c| c.is_control() || (c.is_whitespace() && c != ' '))
    {
        Some(c) => Err(format!("it contains {}", describe_char(c))),
        None => Ok(()),
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn push_escaped(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push(b'%');
    out.push(HEX[usize::from(b >> 4)]);
    out.push(HEX[usize::from(b & 0xf)]);
}

/// Percent-decodes a URL path into its canonical form (see the module doc): bytes whose
/// decoding would change how the path splits or reads stay escaped in upper case, so decoding a
/// key again changes nothing. The path itself is not echoed in errors (see `split_host_port`).
pub(super) fn decode_path(path: &str) -> Result<String, String> {
    let b = path.as_bytes();
    if !b.contains(&b'%') {
        // Controls and odd whitespace were rejected with the whole URL.
        return Ok(path.to_string());
    }
    let mut bytes = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            bytes.push(b[i]);
            i += 1;
            continue;
        }
        let hi = b.get(i + 1).copied().and_then(hex_value);
        let lo = b.get(i + 2).copied().and_then(hex_value);
        let (Some(hi), Some(lo)) = (hi, lo) else {
            return Err("its path has a `%` not followed by two hex digits".into());
        };
        let decoded = (hi << 4) | lo;
        if matches!(decoded, b'%' | b'/' | b'?' | b'#') || decoded < 0x20 || decoded == 0x7f {
            push_escaped(&mut bytes, decoded);
        } else {
            bytes.push(decoded);
        }
        i += 3;
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| "its path percent-decodes to something that is not UTF-8".to_string())?;
    if !text
        .chars()
        .any(|c| c.is_control() || (c.is_whitespace() && c != ' '))
    {
        return Ok(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() || (c.is_whitespace() && c != ' ') {
            let mut buf = [0u8; 4];
            let mut escaped = Vec::with_capacity(12);
            for &byte in c.encode_utf8(&mut buf).as_bytes() {
                push_escaped(&mut escaped, byte);
            }
            out.extend(escaped.iter().map(|&e| char::from(e)));
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Lower-cases a decoded path, leaving its `%XX` escapes (all upper-case) alone.
pub(super) fn fold_case(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            // Only `decode_path`'s own escapes remain, so two hex digits follow.
            out.push(c);
            out.extend(chars.by_ref().take(2));
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Splits a decoded path (no leading `/`) into segments, rejecting empty, `.` and `..` ones,
/// and ones with a space at either end (no server names a repository so, and the key would then
/// end in whitespace).
pub(super) fn path_segments(path: &str) -> Result<Vec<&str>, String> {
    let segments: Vec<&str> = path.split('/').collect();
    for s in &segments {
        if s.is_empty() {
            return Err("its path has an empty segment (`//`)".into());
        }
        if s.starts_with(' ') || s.ends_with(' ') {
            return Err("a segment of its path starts or ends with a space".into());
        }
        if *s == "." || *s == ".." {
            return Err(format!("its path has a {s:?} segment"));
        }
    }
    Ok(segments)
}
