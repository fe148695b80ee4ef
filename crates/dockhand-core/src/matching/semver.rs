//! Semantic versions and constraints in the syntax Kargo uses (Masterminds/semver v3), so a
//! webhook is filtered by exactly the rule the Warehouse's own discovery will apply.
//!
//! Constraints: `||` separates alternatives; inside one, terms are AND-ed and separated by commas
//! and/or spaces. A term is an operator (`=`, `!=`, `>`, `<`, `>=`, `=>`, `<=`, `=<`, `~`, `~>`,
//! `^`, or none) and a version that may be partial (`1.2`), use wildcards (`1.x`, `1.2.*`, `*`)
//! and a `v` prefix; `A - B` is the range `>= A, <= B`. A missing segment counts as a wildcard,
//! as in Masterminds, which is why `>1.2` means "minor above 2" and `<=1` means "major at most 1".
//!
//! Prereleases: a version with a prerelease satisfies an alternative only when some term of that
//! alternative names a prerelease itself (`>=1.2.0-0`); this is Masterminds v3's group rule.
//!
//! Where Masterminds misbehaves on malformed input (it rewrites `A - B` with a regex before
//! splitting, and a few garbage strings get through to "constraint parser error"), this parser
//! reads terms one by one and names the first thing it cannot read.

use std::cmp::Ordering;

use semver::{BuildMetadata, Prerelease, Version};

/// A parsed constraint such as `^1.2`, `>=1.0 <2.0 || 3.x`.
///
/// Shared: a clone is a reference count, so that the configuration loader can keep one parse
/// per distinct text (thousands of Warehouses repeat `^1.0.0`), which keeps the configuration
/// small and the rules a webhook reads hot in the cache.
#[derive(Clone)]
pub struct Constraint(std::sync::Arc<Parsed>);

struct Parsed {
    text: String,
    /// Alternatives (`||`); the constraint holds when any of them does.
    groups: Vec<Group>,
}

impl std::fmt::Debug for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Constraint")
            .field("text", &self.0.text)
            .field("groups", &self.0.groups)
            .finish()
    }
}

/// Why a constraint did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid semver constraint {text:?}: {reason}")]
pub struct ConstraintError {
    pub text: String,
    pub reason: String,
}

/// One `||` alternative: every term must hold.
#[derive(Debug, Clone)]
struct Group {
    terms: Vec<Term>,
    /// Some term names a prerelease, so prerelease versions are considered at all.
    includes_prerelease: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// No operator or `=`: equality, or a tilde range when the version has wildcards.
    Equal,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    Tilde,
    Caret,
}

/// One comparison. `dirty` when any segment was a wildcard or missing; `minor_dirty` when the
/// minor was (`1`, `1.x`); `patch_dirty` when only the patch was (`1.2`, `1.2.x`). The
/// wildcard segments are zero in `con`, as Masterminds substitutes them.
#[derive(Debug, Clone)]
struct Term {
    op: Op,
    con: Version,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

impl Constraint {
    pub fn parse(text: &str) -> Result<Constraint, ConstraintError> {
        let fail = |reason: String| ConstraintError {
            text: text.to_string(),
            reason,
        };
        if text.trim_matches(is_space).is_empty() {
            return Err(fail("the constraint is empty".to_string()));
        }
        let mut groups = Vec::new();
        for alternative in text.split("||") {
            let terms = parse_group(alternative).map_err(fail)?;
            let includes_prerelease = terms.iter().any(|t| !t.con.pre.is_empty());
            groups.push(Group {
                terms,
                includes_prerelease,
            });
        }
        Ok(Constraint(std::sync::Arc::new(Parsed {
            text: text.to_string(),
            groups,
        })))
    }

    /// Does `version` satisfy the constraint? Build metadata is ignored, as in Masterminds.
    pub fn matches(&self, version: &Version) -> bool {
        self.0.groups.iter().any(|group| {
            if !version.pre.is_empty() && !group.includes_prerelease {
                return false;
            }
            group.terms.iter().all(|term| term.check(version))
        })
    }

    /// Whether any alternative names a prerelease, i.e. whether prerelease versions can match at
    /// all. Used to explain why `1.3.0-rc.1` fails `^1.2`.
    pub fn mentions_prerelease(&self) -> bool {
        self.0.groups.iter().any(|g| g.includes_prerelease)
    }

    pub fn as_str(&self) -> &str {
        &self.0.text
    }
}

impl std::fmt::Display for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.text)
    }
}

/// Parses a tag as a version. `strict`: all of major, minor and patch must be present (Kargo's
/// `strictSemvers`); otherwise `1` and `1.2` are accepted as `1.0.0` and `1.2.0`. A leading `v`
/// is allowed either way.
///
/// As Masterminds: the non-strict form (`NewVersion`) also tolerates leading zeros in the
/// numeric segments (`01.2.3` is 1.2.3); the strict form (`StrictNewVersion`, which Kargo calls
/// after trimming one `v`) does not. Prerelease identifiers never allow leading zeros on numbers
/// (`1.2.3-rc.01` is not a version); build metadata may have them. Only a lowercase `v` is a
/// prefix.
pub fn parse_version(text: &str, strict: bool) -> Option<Version> {
    let body = text.strip_prefix('v').unwrap_or(text);
    let (core, pre, build) = split_version(body);
    let mut numbers = [0u64; 3];
    let mut count = 0;
    for segment in core.split('.') {
        if count == 3 || segment.is_empty() || !segment.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if strict && segment.len() > 1 && segment.starts_with('0') {
            return None;
        }
        numbers[count] = segment.parse().ok()?;
        count += 1;
    }
    if strict && count != 3 {
        return None;
    }
    let mut version = Version::new(numbers[0], numbers[1], numbers[2]);
    version.pre = parse_prerelease(pre)?;
    version.build = parse_build(build)?;
    Some(version)
}

/// Splits `1.2.3-rc.1+build.5` into `1.2.3`, `rc.1`, `build.5`. The prerelease starts at the
/// first `-` and ends at the first `+`.
fn split_version(body: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, build) = match body.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (body, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    (core, pre, build)
}

fn parse_prerelease(pre: Option<&str>) -> Option<Prerelease> {
    match pre {
        None => Some(Prerelease::EMPTY),
        // `Prerelease::new` checks the identifiers: non-empty, [0-9A-Za-z-], and no leading
        // zero on a numeric one, which is also Masterminds' rule.
        Some(text) if !text.is_empty() => Prerelease::new(text).ok(),
        Some(_) => None,
    }
}

fn parse_build(build: Option<&str>) -> Option<BuildMetadata> {
    match build {
        None => Some(BuildMetadata::EMPTY),
        Some(text) if !text.is_empty() => BuildMetadata::new(text).ok(),
        Some(_) => None,
    }
}

/// Go's `\s`, which is what Masterminds' regular expressions allow between tokens.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c')
}

fn is_operator_char(c: char) -> bool {
    matches!(c, '<' | '>' | '=' | '!' | '~' | '^')
}

/// Parses one `||` alternative into its AND-ed terms.
fn parse_group(text: &str) -> Result<Vec<Term>, String> {
    let mut terms = Vec::new();
    let mut rest = text.trim_start_matches(is_space);
    if rest.is_empty() {
        return Err("an alternative between \"||\" is empty".to_string());
    }
    loop {
        let (op_text, op) = read_operator(rest);
        rest = rest[op_text.len()..].trim_start_matches(is_space);
        let (version_text, after) = read_version_token(rest);
        if version_text.is_empty() {
            return Err(match op_text {
                "" => format!("expected a version, found {:?}", snippet(rest)),
                _ => format!(
                    "expected a version after {op_text:?}, found {:?}",
                    snippet(rest)
                ),
            });
        }
        let version = parse_constraint_version(version_text)?;
        rest = after;

        // `A - B`: spaces on both sides of the hyphen, as Masterminds requires; A and B bare.
        if op_text.is_empty() {
            if let Some(upper) = hyphen_range_upper(rest) {
                let (upper_text, after_upper) = upper?;
                let upper_version = parse_constraint_version(upper_text)?;
                terms.push(version.into_term(Op::GreaterEqual));
                terms.push(upper_version.into_term(Op::LessEqual));
                rest = after_upper;
                match next_separator(rest)? {
                    Some(next) => rest = next,
                    None => return Ok(terms),
                }
                continue;
            }
        }
        terms.push(version.into_term(op.unwrap_or(Op::Equal)));
        match next_separator(rest)? {
            Some(next) => rest = next,
            None => return Ok(terms),
        }
    }
}

/// After a term: the end of the alternative (`None`), or the start of the next term after a
/// comma and/or whitespace.
fn next_separator(rest: &str) -> Result<Option<&str>, String> {
    let trimmed = rest.trim_start_matches(is_space);
    if trimmed.is_empty() {
        return Ok(None);
    }
    if let Some(after_comma) = trimmed.strip_prefix(',') {
        let next = after_comma.trim_start_matches(is_space);
        if next.is_empty() {
            return Err("the constraint ends with a comma".to_string());
        }
        return Ok(Some(next));
    }
    if trimmed.len() == rest.len() {
        return Err(format!(
            "terms must be separated by a comma or a space, found {:?}",
            snippet(rest)
        ));
    }
    Ok(Some(trimmed))
}

/// When `rest` continues with ` - B`, the text of `B` and what follows it.
#[allow(clippy::type_complexity)]
fn hyphen_range_upper(rest: &str) -> Option<Result<(&str, &str), String>> {
    let after_space = rest.trim_start_matches(is_space);
    if after_space.len() == rest.len() {
        return None;
    }
    let after_hyphen = after_space.strip_prefix('-')?;
    let upper = after_hyphen.trim_start_matches(is_space);
    if upper.len() == after_hyphen.len() {
        return None;
    }
    let (text, after) = read_version_token(upper);
    if text.is_empty() {
        return Some(Err(format!(
            "expected a version after \"-\" in a hyphen range, found {:?}",
            snippet(upper)
        )));
    }
    Some(Ok((text, after)))
}

/// The operator at the start of `rest` (possibly none). Two-character operators win, which is
/// what Masterminds' regular expression ends up choosing too: no version starts with `=` or `>`.
fn read_operator(rest: &str) -> (&str, Option<Op>) {
    const OPERATORS: [(&str, Op); 11] = [
        ("!=", Op::NotEqual),
        (">=", Op::GreaterEqual),
        ("=>", Op::GreaterEqual),
        ("<=", Op::LessEqual),
        ("=<", Op::LessEqual),
        ("~>", Op::Tilde),
        ("=", Op::Equal),
        (">", Op::Greater),
        ("<", Op::Less),
        ("~", Op::Tilde),
        ("^", Op::Caret),
    ];
    for (text, op) in OPERATORS {
        if rest.starts_with(text) {
            return (text, Some(op));
        }
    }
    ("", None)
}

/// The version text at the start of `rest`: everything up to whitespace, a comma, a `|` or an
/// operator character.
fn read_version_token(rest: &str) -> (&str, &str) {
    let end = rest
        .find(|c: char| is_space(c) || c == ',' || c == '|' || is_operator_char(c))
        .unwrap_or(rest.len());
    rest.split_at(end)
}

fn snippet(text: &str) -> &str {
    if text.is_empty() {
        return "end of text";
    }
    match text.char_indices().nth(20) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}

/// A constraint's version before the operator is attached.
struct ConstraintVersion {
    con: Version,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

impl ConstraintVersion {
    fn into_term(self, op: Op) -> Term {
        Term {
            op,
            con: self.con,
            dirty: self.dirty,
            minor_dirty: self.minor_dirty,
            patch_dirty: self.patch_dirty,
        }
    }
}

/// Reads `v1.2.3-pre+build`, `1.2`, `1.x`, `*`, ... as Masterminds' `parseConstraint` does.
fn parse_constraint_version(text: &str) -> Result<ConstraintVersion, String> {
    let not_a_version = |why: &str| format!("{text:?} is not a version ({why})");
    let body = text.strip_prefix('v').unwrap_or(text);
    let (core, pre, build) = split_version(body);
    // A segment is a number or a single wildcard; `None` marks a wildcard or a missing segment.
    let mut segments: [Option<u64>; 3] = [None; 3];
    for (count, segment) in core.split('.').enumerate() {
        if count == 3 {
            return Err(not_a_version("more than three numbers"));
        }
        segments[count] = match segment {
            "x" | "X" | "*" => None,
            _ if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) => Some(
                segment
                    .parse()
                    .map_err(|_| not_a_version("a number is too large"))?,
            ),
            _ => {
                return Err(not_a_version(
                    "each part must be a number or one of x, X, *",
                ))
            }
        };
    }
    let pre = parse_prerelease(pre).ok_or_else(|| not_a_version("invalid prerelease"))?;
    // Build metadata is checked for syntax but, as in Masterminds, never compared.
    parse_build(build).ok_or_else(|| not_a_version("invalid build metadata"))?;

    // The first wildcard or missing segment zeroes everything after it.
    let (con, dirty, minor_dirty, patch_dirty) = match segments {
        [None, _, _] => (Version::new(0, 0, 0), true, false, false),
        [Some(major), None, _] => (Version::new(major, 0, 0), true, true, false),
        [Some(major), Some(minor), None] => (Version::new(major, minor, 0), true, false, true),
        [Some(major), Some(minor), Some(patch)] => {
            (Version::new(major, minor, patch), false, false, false)
        }
    };
    let mut con = con;
    con.pre = pre;
    Ok(ConstraintVersion {
        con,
        dirty,
        minor_dirty,
        patch_dirty,
    })
}

/// Precedence as Masterminds' `Compare`: numbers, then prerelease (a release is above its
/// prereleases); build metadata ignored.
fn compare(v: &Version, con: &Version) -> Ordering {
    (v.major, v.minor, v.patch)
        .cmp(&(con.major, con.minor, con.patch))
        .then_with(|| v.pre.cmp(&con.pre))
}

impl Term {
    /// One term, prerelease gating already done at the group level.
    fn check(&self, v: &Version) -> bool {
        let c = &self.con;
        match self.op {
            Op::Equal => {
                if self.dirty {
                    self.tilde(v)
                } else {
                    compare(v, c) == Ordering::Equal
                }
            }
            Op::NotEqual => {
                if self.dirty {
                    if c.major != v.major {
                        return true;
                    }
                    if c.minor != v.minor && !self.minor_dirty {
                        return true;
                    }
                    if self.minor_dirty {
                        return false;
                    }
                    if c.patch != v.patch && !self.patch_dirty {
                        return true;
                    }
                    if self.patch_dirty {
                        return (!v.pre.is_empty() || !c.pre.is_empty()) && v.pre != c.pre;
                    }
                }
                compare(v, c) != Ordering::Equal
            }
            Op::Greater => {
                if !self.dirty {
                    return compare(v, c) == Ordering::Greater;
                }
                if v.major != c.major {
                    return v.major > c.major;
                }
                if self.minor_dirty {
                    // `>1` needs 2 or more.
                    return false;
                }
                if self.patch_dirty {
                    // `>1.2` needs 1.3 or more.
                    return v.minor > c.minor;
                }
                compare(v, c) == Ordering::Greater
            }
            Op::Less => compare(v, c) == Ordering::Less,
            Op::GreaterEqual => compare(v, c) != Ordering::Less,
            Op::LessEqual => {
                if !self.dirty {
                    return compare(v, c) != Ordering::Greater;
                }
                if v.major > c.major {
                    return false;
                }
                !(v.major == c.major && v.minor > c.minor && !self.minor_dirty)
            }
            Op::Tilde => self.tilde(v),
            Op::Caret => self.caret(v),
        }
    }

    /// `~1.2.3` is >=1.2.3 <1.3.0; `~1` and `~1.x` are >=1.0.0 <2.0.0; `~0.0.0` and `~*` are any.
    fn tilde(&self, v: &Version) -> bool {
        let c = &self.con;
        if compare(v, c) == Ordering::Less {
            return false;
        }
        if (c.major, c.minor, c.patch) == (0, 0, 0) && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        if v.major != c.major {
            return false;
        }
        self.minor_dirty || v.minor == c.minor
    }

    /// `^1.2.3` is >=1.2.3 <2.0.0; `^0.2.3` is >=0.2.3 <0.3.0; `^0.0.3` is >=0.0.3 <0.0.4;
    /// `^0.0` is >=0.0.0 <0.1.0; `^0` is >=0.0.0 <1.0.0.
    fn caret(&self, v: &Version) -> bool {
        let c = &self.con;
        if compare(v, c) == Ordering::Less {
            return false;
        }
        if c.major > 0 || self.minor_dirty {
            return v.major == c.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.minor > 0 || self.patch_dirty {
            return v.minor == c.minor;
        }
        if v.minor > 0 {
            return false;
        }
        v.patch == c.patch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(text: &str) -> Version {
        parse_version(text, false).unwrap_or_else(|| panic!("test version {text:?} must parse"))
    }

    #[test]
    fn parse_version_table() {
        // (text, strict, expected as major.minor.patch[-pre][+build], or None)
        let rows: &[(&str, bool, Option<&str>)] = &[
            ("1.2.3", true, Some("1.2.3")),
            ("v1.2.3", true, Some("1.2.3")),
            ("1.2.3", false, Some("1.2.3")),
            ("v1.2.3-rc.1+build.7", true, Some("1.2.3-rc.1+build.7")),
            ("1.2.3-alpha-1", true, Some("1.2.3-alpha-1")),
            ("1.2.3+build-5.007", true, Some("1.2.3+build-5.007")),
            ("1", false, Some("1.0.0")),
            ("1", true, None),
            ("1.2", false, Some("1.2.0")),
            ("v1.2", false, Some("1.2.0")),
            ("1.2", true, None),
            ("1.2-rc1", false, Some("1.2.0-rc1")),
            ("01.02.03", false, Some("1.2.3")),
            ("01.2.3", true, None),
            ("1.02.3", true, None),
            ("0.0.0", true, Some("0.0.0")),
            ("1.2.3-rc.01", false, None),
            ("1.2.3-rc.0", false, Some("1.2.3-rc.0")),
            ("1.2.3-", false, None),
            ("1.2.3+", false, None),
            ("1.2.3-a..b", false, None),
            ("1.2.3-rc_1", false, None),
            ("latest", false, None),
            ("latest", true, None),
            ("abc123", false, None),
            ("1.2.3.4", false, None),
            ("1.2.3.4", true, None),
            ("", false, None),
            ("v", false, None),
            ("V1.2.3", false, None),
            ("vv1.2.3", false, None),
            ("1..3", false, None),
            (".1.2", false, None),
            ("1.2.", false, None),
            ("-1.2.3", false, None),
            (" 1.2.3", false, None),
            ("1.2.3 ", false, None),
            ("99999999999999999999.0.0", false, None),
            (
                "18446744073709551615.0.0",
                true,
                Some("18446744073709551615.0.0"),
            ),
            ("sha-0123abc", false, None),
            ("1.2.3-ä", false, None),
        ];
        for (text, strict, expected) in rows {
            let got = parse_version(text, *strict).map(|v| v.to_string());
            assert_eq!(
                got.as_deref(),
                *expected,
                "parse_version({text:?}, strict={strict})"
            );
        }
    }

    #[test]
    fn constraint_match_table() {
        let rows: &[(&str, &str, bool)] = &[
            // Exact and equality.
            ("1.2.3", "1.2.3", true),
            ("=1.2.3", "1.2.3", true),
            ("=1.2.3", "1.2.4", false),
            ("v1.2.3", "1.2.3", true),
            ("1.2.3", "1.2.3+build.1", true),
            ("1.2.3+meta", "1.2.3", true),
            ("=2.0", "2.0.0", true),
            ("=2.0", "2.0.1", true),
            ("=2.0", "2.1.0", false),
            ("4.1", "4.1.0", true),
            ("=0", "1.0.0", false),
            // Not equal.
            ("!=1.2.3", "1.2.3", false),
            ("!=1.2.3", "1.2.4", true),
            ("!=4.1", "4.1.0", false),
            ("!=4.1", "4.1.1", false),
            ("!=4.1", "5.1.0", true),
            ("!=4.x", "5.1.0", true),
            ("!=4.x", "4.1.0", false),
            ("!=4.1.x", "4.2.0", true),
            ("!=4.2.x", "4.2.3", false),
            ("!=4.1-alpha", "4.1.0", true),
            ("!=4.1-alpha", "4.1.0-alpha", false),
            ("!=4.1-alpha", "4.1.1-alpha", false),
            ("!=4.1", "5.1.0-alpha.1", false),
            // Greater.
            (">1.1", "4.1.0", true),
            (">1.1", "1.1.0", false),
            (">1.1", "1.1.9", false),
            (">1.1", "1.2.0", true),
            (">11", "11.1.0", false),
            (">11", "12.0.0", true),
            (">1.x", "1.9.9", false),
            (">1.x", "2.0.0", true),
            (">0", "0.0.1", false),
            (">0", "1.0.0", true),
            (">1.2.3", "1.2.4", true),
            (">1.2.3", "1.2.3", false),
            (">1.2.3-alpha.1", "1.2.3-alpha.2", true),
            (">1.2.3-alpha.1", "1.3.3-alpha.2", true),
            (">0", "0.0.1-alpha", false),
            (">0.0.0-0", "0.0.0-alpha", true),
            (">0-0", "0.0.0-alpha", false),
            // Less.
            ("<11", "0.1.0", true),
            ("<11", "11.1.0", false),
            ("<1.1", "1.0.9", true),
            ("<1.1", "1.1.0", false),
            ("<1.x", "1.1.1", false),
            ("<1.x", "0.1.1", true),
            ("<1.1.x", "1.0.500", true),
            ("<1.1.x", "1.1.500", false),
            ("<2.0.0", "1.99.99", true),
            ("<0", "0.0.0-alpha", false),
            ("<0-z", "0.0.0-alpha", true),
            // Greater or equal (both spellings).
            (">=1.2", "1.2.0", true),
            (">=1.2", "1.1.9", false),
            ("=>1.2", "1.2.0", true),
            (">= 1.2.3", "1.2.3", true),
            (">=1.1", "4.1.0-beta", false),
            (">=0", "0.0.1-alpha", false),
            (">=0-0", "0.0.1-alpha", true),
            (">=0.0.0-0", "3.4.5-beta.1", true),
            (">=1.2.x", "1.2.0", true),
            // Less or equal (both spellings), with the wildcard rules.
            ("<=1.1", "1.1.9", true),
            ("<=1.1", "1.2.0", false),
            ("=<1.1", "1.1.9", true),
            ("<=11", "11.9.9", true),
            ("<=11", "12.0.0", false),
            ("<=1.x", "1.9.0", true),
            ("<=2.x", "3.0.0", false),
            ("<=1.1.x", "1.2.500", false),
            ("<=1.2.3", "1.2.3", true),
            ("<=1.2.3", "1.2.4", false),
            ("<=1.1", "0.1.0-alpha", false),
            ("<=1.1-a", "0.1.0-alpha", true),
            // Tilde.
            ("~1.2.3", "1.2.3", true),
            ("~1.2.3", "1.2.9", true),
            ("~1.2.3", "1.3.0", false),
            ("~1.2.3", "1.2.2", false),
            ("~>1.2.3", "1.2.9", true),
            ("~>1.2.3", "1.3.0", false),
            ("~1.2", "1.2.4", true),
            ("~1.2", "1.3.0", false),
            ("~1", "1.9.9", true),
            ("~1", "2.0.0", false),
            ("~1", "0.9.0", false),
            ("~1.x", "1.3.5", true),
            ("~1.x", "2.1.1", false),
            ("~*", "2.1.1", true),
            ("~0.0.0", "1.2.3", true),
            ("~0.2.3", "0.2.5", true),
            ("~0.2.3", "0.3.5", false),
            ("~1.2.3-beta.2", "1.2.3-beta.4", true),
            ("~1.2.3-beta.2", "1.2.4-beta.2", true),
            ("~1.2.3-beta.2", "1.3.4-beta.2", false),
            ("~1.1", "1.1.1-alpha", false),
            ("~1.1-alpha", "1.1.1-beta", true),
            ("~1.1.1-beta", "1.1.1-alpha", false),
            ("~1.1.1-beta", "1.1.1", true),
            // Caret.
            ("^1.2.3", "1.2.3", true),
            ("^1.2.3", "1.8.9", true),
            ("^1.2.3", "2.0.0", false),
            ("^1.2.3", "1.2.1", false),
            ("^1.2", "1.2.0", true),
            ("^1.2", "1.9.0", true),
            ("^1.2", "2.0.0", false),
            ("^1.2", "1.1.9", false),
            ("^1", "1.8.9", true),
            ("^1", "2.0.0", false),
            ("^1.x", "1.1.1", true),
            ("^1.x", "2.1.1", false),
            ("^2.x", "1.1.1", false),
            ("^0.2.3", "0.2.3", true),
            ("^0.2.3", "0.2.9", true),
            ("^0.2.3", "0.3.0", false),
            ("^0.2.3", "1.2.3", false),
            ("^0.2", "0.2.5", true),
            ("^0.2", "0.3.0", false),
            ("^0.0.3", "0.0.3", true),
            ("^0.0.3", "0.0.4", false),
            ("^0.0.3", "0.1.3", false),
            ("^0.0", "0.0.9", true),
            ("^0.0", "0.1.0", false),
            ("^0", "0.9.9", true),
            ("^0", "1.0.0", false),
            ("^0.0.0", "1.2.3", false),
            ("^1.2", "0.9.0", false),
            ("^1.2.0", "1.2.1-alpha.1", false),
            ("^1.2.0-alpha.0", "1.2.1-alpha.1", true),
            ("^1.2.0-alpha.2", "1.2.0-alpha.1", false),
            ("^1.1.2-alpha", "1.2.1-beta1", true),
            ("^1.x", "1.1.1-beta1", false),
            ("^0.2.3-beta.2", "0.2.4-beta.2", true),
            ("^0.2.3-beta.2", "0.3.4-beta.2", false),
            // Wildcards and partial versions without an operator.
            ("1.x", "1.0.0", true),
            ("1.x", "1.9.9", true),
            ("1.x", "2.0.0", false),
            ("1.x", "0.9.0", false),
            ("1.X", "1.5.0", true),
            ("1.*", "1.5.0", true),
            ("1", "1.5.0", true),
            ("1", "2.0.0", false),
            ("1.2.*", "1.2.7", true),
            ("1.2.x", "1.3.0", false),
            ("1.x.x", "1.3.0", true),
            ("*", "0.0.0", true),
            ("*", "4.5.6", true),
            ("x", "4.5.6", true),
            ("*", "1.2.3-alpha.1", false),
            ("*-0", "1.2.3-alpha.1", true),
            ("0.x.x", "1.2.3", false),
            ("0.0.x", "1.2.3", false),
            // AND groups, commas and spaces.
            (">1.1, <2", "1.1.1", false),
            (">1.1, <2", "1.2.1", true),
            (">1.1 <3", "4.3.2", false),
            (">=1.1, <2, !=1.2.3", "1.2.3", false),
            (">=1.1 <2 !=1.2.3", "1.2.4", true),
            (">= 1.1 ,  < 2", "1.5.0", true),
            (">=1.0.0,<2.0.0", "1.5.0", true),
            ("> 1.1    <3", "2.3.2", true),
            // OR.
            (">=1.1, <2, !=1.2.3 || > 3", "4.1.2", true),
            (">=1.1, <2, !=1.2.3 || > 3", "3.1.2", false),
            (">=1.1, <2, !=1.2.3 || >= 3", "3.0.0", true),
            (">=1.1, <2, !=1.2.3 || > 3", "1.2.3", false),
            ("^1.2 || ^2.0", "2.5.0", true),
            ("^1.2 || ^2.0", "3.0.0", false),
            ("1.x||2.x", "2.1.0", true),
            // Hyphen ranges.
            ("1.2 - 1.4.5", "1.2.0", true),
            ("1.2 - 1.4.5", "1.4.5", true),
            ("1.2 - 1.4.5", "1.4.6", false),
            ("1.2 - 1.4.5", "1.1.9", false),
            ("1.1 - 2", "1.1.1", true),
            ("1.1 - 2", "2.9.0", true),
            ("1.1 - 2", "3.0.0", false),
            ("1.5.0 - 4.5", "3.7.0", true),
            ("v1.0.0 - v2.0.0", "2.0.0", true),
            ("2 - 3, 4.0.0 - 5.1", "4.5.0", false),
            ("2 - 3 || 4.0.0 - 5.1", "4.5.0", true),
            ("1.0 - 2.0 !=1.5.0", "1.5.0", false),
            ("1.0 - 2.0 !=1.5.0", "1.6.0", true),
            // `1.1-3` is version 1.1 with prerelease 3, not a range.
            ("1.1-3", "4.3.2", false),
            // Prerelease group rule: any term naming a prerelease opens the whole group.
            (">=1.2.0-0 <2.0.0", "1.5.0-beta", true),
            // Masterminds (unlike npm) lets this through: 1.3.0-alpha sorts below 1.3.0.
            (">=1.2.0-alpha <1.3.0", "1.3.0-alpha", true),
            (">=1.2.0-alpha <1.4.0", "1.3.0-alpha", true),
            (">=1.2.0 <2.0.0 || >=3.0.0-0", "1.5.0-beta", false),
            (">=1.2.0 <2.0.0 || >=3.0.0-0", "3.1.0-beta", true),
            ("^1.2", "1.3.0-rc.1", false),
            ("^1.2.0-0", "1.3.0-rc.1", true),
            // Prerelease precedence follows the spec (numeric < alphanumeric, numeric order).
            (">1.0.0-rc.9", "1.0.0-rc.10", true),
            (">1.0.0-9", "1.0.0-alpha", true),
            ("<1.0.0", "1.0.0-rc.1", false),
            ("<1.0.0-0", "0.9.0", true),
        ];
        for (constraint, v, expected) in rows {
            let parsed = Constraint::parse(constraint)
                .unwrap_or_else(|e| panic!("constraint {constraint:?} must parse: {e}"));
            assert_eq!(
                parsed.matches(&version(v)),
                *expected,
                "{constraint:?} against {v:?}"
            );
        }
    }

    #[test]
    fn constraint_parse_errors() {
        // (constraint, words the reason must contain)
        let rows: &[(&str, &str)] = &[
            ("", "empty"),
            ("   ", "empty"),
            ("^^1", "expected a version after \"^\""),
            (">=a.b", "\"a.b\" is not a version"),
            (">= bar", "\"bar\" is not a version"),
            ("BAR >= 1.2.3", "\"BAR\" is not a version"),
            ("1.2.3 -", "\"-\" is not a version"),
            ("1.2.3 - ", "after \"-\" in a hyphen range"),
            ("1.2 -1.4", "\"-1.4\" is not a version"),
            ("1 - 2 - 3", "\"-\" is not a version"),
            (">=1.0 - 2.0", "\"-\" is not a version"),
            ("==1.2.3", "expected a version after \"=\""),
            (">", "expected a version after \">\""),
            ("1.2.3 ||", "alternative between \"||\" is empty"),
            ("|| 1.2.3", "alternative between \"||\" is empty"),
            ("1.2.3 || || 2", "alternative between \"||\" is empty"),
            ("1.2.3,", "ends with a comma"),
            ("1.2.3, ,2", "expected a version"),
            (">=1.2.3<2", "separated by a comma or a space"),
            ("12.3.4.1234", "more than three numbers"),
            ("12.3.34~ 1.2.3", "separated by a comma or a space"),
            ("1.2.3-", "invalid prerelease"),
            ("1.2.3-rc.01", "invalid prerelease"),
            ("1.2.3+", "invalid build metadata"),
            ("1.xx", "number or one of x, X, *"),
            ("1x", "number or one of x, X, *"),
            ("V1.2", "number or one of x, X, *"),
            ("1 | 2", "expected a version"),
            ("> = 1", "expected a version after \">\""),
            ("99999999999999999999", "too large"),
            ("latest", "\"latest\" is not a version"),
        ];
        for (text, reason) in rows {
            match Constraint::parse(text) {
                Ok(c) => panic!("{text:?} parsed as {c:?}, expected an error"),
                Err(e) => {
                    assert_eq!(e.text, *text);
                    assert!(
                        e.reason.contains(reason),
                        "{text:?}: reason {:?} lacks {reason:?}",
                        e.reason
                    );
                }
            }
        }
    }

    #[test]
    fn constraint_keeps_its_text_and_shape() {
        let c = Constraint::parse(">= 1.2.3, < 2.0 || => 3.0 < 4").unwrap();
        assert_eq!(c.as_str(), ">= 1.2.3, < 2.0 || => 3.0 < 4");
        assert_eq!(c.0.groups.len(), 2);
        assert_eq!(c.0.groups[0].terms.len(), 2);
        assert_eq!(c.0.groups[1].terms.len(), 2);
        assert!(!c.mentions_prerelease());
        assert!(Constraint::parse("^1.2.0-0").unwrap().mentions_prerelease());
        let ranges = Constraint::parse("3 - 4 || => 3.0, < 4").unwrap();
        assert_eq!(ranges.0.groups[0].terms.len(), 2);
        assert_eq!(ranges.0.groups[0].terms[0].op, Op::GreaterEqual);
        assert_eq!(ranges.0.groups[0].terms[1].op, Op::LessEqual);
        let error = Constraint::parse("^^1").unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid semver constraint \"^^1\": expected a version after \"^\", found \"^1\""
        );
    }

    #[test]
    fn garbage_never_panics() {
        let inputs = [
            "\u{0}",
            "||",
            "|||",
            ",",
            "-",
            " - ",
            "v",
            "vx",
            "x.x.x.x",
            "1.2.3-+",
            "^",
            "~>",
            "!=",
            "1 - ",
            " - 1",
            "ä",
            "1.2.3-ä",
            "*.*.*-*",
            "1.2.3+a+b",
            "=<=",
            "\t1\t-\t2\t",
        ];
        for input in inputs {
            let _ = Constraint::parse(input).map(|c| c.matches(&Version::new(1, 2, 3)));
            let _ = parse_version(input, true);
            let _ = parse_version(input, false);
        }
        assert!(Constraint::parse("\t1\t-\t2\t")
            .unwrap()
            .matches(&Version::new(1, 5, 0)));
    }
}
