//! Path selectors of git subscriptions (`includePaths`/`excludePaths`): an exact path or a
//! directory prefix, `glob:` patterns and `regex:`/`regexp:` patterns, as Kargo evaluates them.
//!
//! - A plain selector names a path and everything under it: `charts/foo` selects
//!   `charts/foo` and `charts/foo/values.yaml`, not `charts/foobar` (Kargo: `filepath.Rel`
//!   without `..`). Leading `./` and `/`, repeated and trailing slashes are ignored; `.` selects
//!   everything.
//! - `glob:` is Go's `filepath.Match` over the whole path: `*` is any run of characters other
//!   than `/`, `?` one character other than `/`, `[abc]`, `[a-z]`, `[^a-z]` one character
//!   (which may be `/`), `\` escapes the next character. So `glob:charts/*.yaml` does not select
//!   `charts/foo/values.yaml`, and there is no `**`.
//! - `regex:` and `regexp:` are unanchored searches (Go's `MatchString`): `regex:values` selects
//!   any path containing `values`.
//!
//! Globs are compiled to anchored regular expressions, so matching is linear in the path
//! whatever the pattern.

use regex::Regex;

/// One selector.
#[derive(Debug, Clone)]
pub struct PathSelector {
    text: String,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// Normalized path; empty means the repository root (everything).
    Prefix(String),
    /// Compiled from a `glob:` pattern.
    Glob(Regex),
    Regex(Regex),
}

impl PathSelector {
    /// Parses a selector; the error says what is wrong with the pattern.
    pub fn parse(text: &str) -> Result<PathSelector, String> {
        let kind = if let Some(pattern) = text
            .strip_prefix("regexp:")
            .or_else(|| text.strip_prefix("regex:"))
        {
            if pattern.is_empty() {
                return Err(format!(
                    "path selector {text:?} has an empty regular expression"
                ));
            }
            Kind::Regex(Regex::new(pattern).map_err(|e| {
                format!("path selector {text:?} is not a valid regular expression: {e}")
            })?)
        } else if let Some(pattern) = text.strip_prefix("glob:") {
            if pattern.is_empty() {
                return Err(format!("path selector {text:?} has an empty glob pattern"));
            }
            Kind::Glob(compile_glob(pattern).map_err(|why| {
                format!("path selector {text:?} is not a valid glob pattern: {why}")
            })?)
        } else {
            if text.trim().is_empty() {
                return Err("path selector is empty".to_string());
            }
            Kind::Prefix(normalize(text))
        };
        Ok(PathSelector {
            text: text.to_string(),
            kind,
        })
    }

    /// Does the selector select `path` (a path relative to the repository root, as in a diff)?
    pub fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Prefix(base) => {
                let path = trim_path(path);
                if path.contains("//") || path.contains("/./") {
                    is_under(&normalize(path), base)
                } else {
                    is_under(path, base)
                }
            }
            Kind::Glob(regex) | Kind::Regex(regex) => regex.is_match(path),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Display for PathSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Would a commit touching `changed` be selected? True when some changed path is included
/// (every path is, when `include` is empty) and not excluded, as Kargo's `matchesPathsFilters`.
/// An empty `changed` selects nothing.
pub fn paths_selected(
    include: &[PathSelector],
    exclude: &[PathSelector],
    changed: &[String],
) -> bool {
    changed.iter().any(|path| {
        (include.is_empty() || include.iter().any(|s| s.matches(path)))
            && !exclude.iter().any(|s| s.matches(path))
    })
}

/// `path` is `base` or inside it; an empty `base` is the repository root.
fn is_under(path: &str, base: &str) -> bool {
    if base.is_empty() {
        return true;
    }
    match path.strip_prefix(base) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// `./a/b/` and `/a/b` are `a/b`, the cheap way (no allocation).
fn trim_path(path: &str) -> &str {
    let mut path = path;
    loop {
        let before = path.len();
        path = path.trim_start_matches('/');
        if let Some(rest) = path.strip_prefix("./") {
            path = rest;
        }
        if path.len() == before {
            break;
        }
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed == "." {
        ""
    } else {
        trimmed
    }
}

/// Drops empty and `.` components, as `filepath.Clean` would; `..` is kept as written (a diff
/// never contains it, and resolving it would let `a/../b` escape a selector).
fn normalize(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for component in path.split('/') {
        if component.is_empty() || component == "." {
            continue;
        }
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(component);
    }
    out
}

/// Translates a Go `filepath.Match` pattern to an anchored regular expression, refusing the
/// patterns Go answers with `ErrBadPattern`.
fn compile_glob(pattern: &str) -> Result<Regex, String> {
    let mut out = String::with_capacity(pattern.len() * 2 + 8);
    out.push_str("^(?:");
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => {
                // Consecutive stars are one star, as in Go.
                while chars.peek() == Some(&'*') {
                    chars.next();
                }
                out.push_str("[^/]*");
            }
            '?' => out.push_str("[^/]"),
            '\\' => match chars.next() {
                Some(escaped) => push_literal(&mut out, escaped),
                None => return Err("it ends with a lone backslash".to_string()),
            },
            '[' => compile_class(&mut chars, &mut out)?,
            _ => push_literal(&mut out, c),
        }
    }
    out.push_str(")$");
    Regex::new(&out).map_err(|e| format!("it is too complex ({e})"))
}

/// `[` has been read: reads `[^]lo-hi...]` up to and including the closing `]`.
fn compile_class(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    out: &mut String,
) -> Result<(), String> {
    let negated = chars.peek() == Some(&'^');
    if negated {
        chars.next();
    }
    let mut ranges: Vec<(char, char)> = Vec::new();
    loop {
        if chars.peek() == Some(&']') && !ranges.is_empty() {
            chars.next();
            break;
        }
        let lo = class_char(chars)?;
        let hi = if chars.peek() == Some(&'-') {
            chars.next();
            class_char(chars)?
        } else {
            lo
        };
        ranges.push((lo, hi));
    }
    // Go accepts an inverted range and it matches nothing; a regex would refuse it.
    ranges.retain(|(lo, hi)| lo <= hi);
    if ranges.is_empty() {
        // A class of nothing: `[^...]` is then any character, `[...]` none.
        out.push_str(if negated {
            r"[\x{0}-\x{10FFFF}]"
        } else {
            r"[^\x{0}-\x{10FFFF}]"
        });
        return Ok(());
    }
    out.push('[');
    if negated {
        out.push('^');
    }
    for (lo, hi) in ranges {
        push_class_char(out, lo);
        if hi != lo {
            out.push('-');
            push_class_char(out, hi);
        }
    }
    out.push(']');
    Ok(())
}

/// One character of a class, as Go's `getEsc`: `-` and `]` must be escaped, and the class must
/// not end here.
fn class_char(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<char, String> {
    let c = match chars.next() {
        None => return Err("a character class is not closed with ]".to_string()),
        Some('-') => return Err("'-' must be escaped in a character class".to_string()),
        Some(']') => {
            return Err(
                "']' must be escaped where a character class expects a character".to_string(),
            )
        }
        Some('\\') => chars
            .next()
            .ok_or_else(|| "it ends with a lone backslash".to_string())?,
        Some(c) => c,
    };
    if chars.peek().is_none() {
        return Err("a character class is not closed with ]".to_string());
    }
    Ok(c)
}

fn push_literal(out: &mut String, c: char) {
    let mut buf = [0u8; 4];
    out.push_str(&regex::escape(c.encode_utf8(&mut buf)));
}

fn push_class_char(out: &mut String, c: char) {
    // `\x{...}` is valid for every character inside a class and needs no case analysis.
    out.push_str(&format!("\\x{{{:X}}}", c as u32));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_table() {
        // (selector, path, selected)
        let rows: &[(&str, &str, bool)] = &[
            // Exact path or directory.
            ("charts/foo", "charts/foo", true),
            ("charts/foo", "charts/foo/values.yaml", true),
            ("charts/foo", "charts/foo/templates/deploy.yaml", true),
            ("charts/foo", "charts/foobar", false),
            ("charts/foo", "charts/foobar/values.yaml", false),
            ("charts/foo", "charts", false),
            ("charts/foo", "other/charts/foo", false),
            ("charts/foo/", "charts/foo/values.yaml", true),
            ("./charts/foo", "charts/foo/values.yaml", true),
            ("/charts/foo", "charts/foo/values.yaml", true),
            ("charts//foo", "charts/foo/values.yaml", true),
            ("charts/foo", "./charts/foo/values.yaml", true),
            ("charts/foo", "charts//foo/values.yaml", true),
            ("charts/foo", "charts//foobar", false),
            ("README.md", "README.md", true),
            ("README.md", "docs/README.md", false),
            (".", "anything/at/all", true),
            ("./", "x", true),
            // Globs: Go filepath.Match.
            ("glob:charts/*.yaml", "charts/values.yaml", true),
            ("glob:charts/*.yaml", "charts/foo/values.yaml", false),
            ("glob:charts/*", "charts/foo", true),
            ("glob:charts/*", "charts/foo/values.yaml", false),
            ("glob:*/values.yaml", "foo/values.yaml", true),
            ("glob:*/values.yaml", "a/foo/values.yaml", false),
            ("glob:charts/**", "charts/a/b", false),
            ("glob:charts/**", "charts/a", true),
            ("glob:*.md", "README.md", true),
            ("glob:*.md", "docs/README.md", false),
            ("glob:charts/?oo/*", "charts/foo/x", true),
            ("glob:charts/?oo/*", "charts/fooo/x", false),
            ("glob:a?b", "a/b", false),
            ("glob:env/[ps]*", "env/prod", true),
            ("glob:env/[ps]*", "env/staging", true),
            ("glob:env/[ps]*", "env/dev", false),
            ("glob:env/[^ps]*", "env/dev", true),
            ("glob:env/[^ps]*", "env/prod", false),
            ("glob:v[0-9]", "v7", true),
            ("glob:v[0-9]", "vx", false),
            ("glob:a[/]b", "a/b", true),
            ("glob:[!a]", "!", true),
            ("glob:[!a]", "b", false),
            ("glob:[z-a]", "m", false),
            ("glob:[^z-a]", "m", true),
            ("glob:\\*", "*", true),
            ("glob:\\*", "x", false),
            ("glob:[\\]]", "]", true),
            ("glob:a.b", "a.b", true),
            ("glob:a.b", "axb", false),
            ("glob:(x)+", "(x)+", true),
            ("glob:charts/foo", "charts/foo", true),
            ("glob:charts/foo", "charts/foo/values.yaml", false),
            ("glob:ü*", "über", true),
            // Regular expressions: unanchored search.
            ("regex:values", "charts/foo/values.yaml", true),
            ("regex:^charts/", "charts/x", true),
            ("regex:^charts/", "src/charts/x", false),
            ("regexp:\\.ya?ml$", "a/b.yml", true),
            ("regexp:\\.ya?ml$", "a/b.json", false),
            ("regex:.*", "", true),
        ];
        for (selector, path, expected) in rows {
            let parsed = PathSelector::parse(selector)
                .unwrap_or_else(|e| panic!("{selector:?} must parse: {e}"));
            assert_eq!(parsed.as_str(), *selector);
            assert_eq!(
                parsed.matches(path),
                *expected,
                "selector {selector:?} on path {path:?}"
            );
        }
    }

    #[test]
    fn parse_errors() {
        let rows: &[(&str, &str)] = &[
            ("", "empty"),
            ("  ", "empty"),
            ("glob:", "empty glob"),
            ("regex:", "empty regular expression"),
            ("regexp:", "empty regular expression"),
            ("regex:(", "not a valid regular expression"),
            ("regexp:[a", "not a valid regular expression"),
            ("glob:[", "not closed"),
            ("glob:[a", "not closed"),
            ("glob:[]a]", "']' must be escaped"),
            ("glob:[-a]", "'-' must be escaped"),
            ("glob:[a-]", "']' must be escaped"),
            ("glob:a\\", "lone backslash"),
            ("glob:[\\", "lone backslash"),
            ("glob:[^", "not closed"),
        ];
        for (text, words) in rows {
            match PathSelector::parse(text) {
                Ok(s) => panic!("{text:?} parsed as {s:?}, expected an error"),
                Err(e) => assert!(e.contains(words), "{text:?}: {e:?} lacks {words:?}"),
            }
        }
    }

    #[test]
    fn selection_over_changed_paths() {
        let sel = |texts: &[&str]| -> Vec<PathSelector> {
            texts
                .iter()
                .map(|t| PathSelector::parse(t).unwrap())
                .collect()
        };
        let paths =
            |texts: &[&str]| -> Vec<String> { texts.iter().map(|t| t.to_string()).collect() };
        // (include, exclude, changed, selected)
        type Row<'a> = (&'a [&'a str], &'a [&'a str], &'a [&'a str], bool);
        let rows: &[Row] = &[
            (&[], &[], &["a"], true),
            (&[], &[], &[], false),
            (&["charts/foo"], &[], &["charts/foo/values.yaml"], true),
            (
                &["charts/foo"],
                &[],
                &["src/main.rs", "charts/foo/Chart.yaml"],
                true,
            ),
            (&["charts/foo"], &[], &["src/main.rs"], false),
            (&[], &["docs"], &["docs/index.md"], false),
            (&[], &["docs"], &["docs/index.md", "src/lib.rs"], true),
            (
                &["charts"],
                &["glob:charts/*/README.md"],
                &["charts/foo/README.md"],
                false,
            ),
            (
                &["charts"],
                &["glob:charts/*/README.md"],
                &["charts/foo/README.md", "charts/foo/values.yaml"],
                true,
            ),
            (&["charts", "regex:^deploy/"], &[], &["deploy/x.yaml"], true),
        ];
        for (include, exclude, changed, expected) in rows {
            assert_eq!(
                paths_selected(&sel(include), &sel(exclude), &paths(changed)),
                *expected,
                "include {include:?} exclude {exclude:?} changed {changed:?}"
            );
        }
    }
}
