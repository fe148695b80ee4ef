//! A `Warehouse` manifest checked field by field into a [`Warehouse`]: defaults as Kargo's CRD
//! sets them, every subscription's repository URL normalized, every regex, semver constraint
//! and path selector compiled, so that a webhook never meets an invalid rule.
//!
//! A git `repoURL` that Kargo's CRD admits but that names no repository dockhand can match
//! webhooks to (`https://github.com/`, a query, a space) does not fail the Warehouse: it is a
//! warning, the subscription is loaded, left out of the index (no webhook refreshes it) and
//! reported by the admin API and `dockhand_unusable_subscriptions`. One such Warehouse never
//! keeps the others from loading.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;
use serde_yaml_ng::Value;

use super::diagnostics::{typed, ConfigError, Problems};
use super::{
    duration, manifest, ChartSubscription, CommitSelectionStrategy, FreightCreationPolicy,
    GitSubscription, ImageSelectionStrategy, ImageSubscription, Origin, PathFilters, Subscription,
    TagFilters, Warehouse,
};
use crate::matching::paths::PathSelector;
use crate::matching::semver::Constraint;
use crate::repo_url;

/// Kargo's default `spec.interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
/// Kargo's default `discoveryLimit`.
pub const DEFAULT_DISCOVERY_LIMIT: u32 = 20;
/// Kargo's upper bound for `discoveryLimit`.
pub const MAX_DISCOVERY_LIMIT: u32 = 100;

/// Regexes and semver constraints compiled so far in one load (the name predates the
/// constraints). Many Warehouses repeat the same tag filters (`^v`, `-rc`) and constraints
/// (`^1.0.0`), and compiling dominates the loading of large configurations; a `Regex` or a
/// `Constraint` clone is cheap and shares the compiled form, so the configuration also holds
/// each distinct rule once.
#[derive(Debug, Default)]
pub(super) struct RegexCache {
    regexes: HashMap<String, Regex>,
    constraints: HashMap<String, Constraint>,
}

/// Builds the Warehouse, or reports every problem in the document and returns `None`. `read`
/// is the manifest when already read from the text (`direct`); otherwise it is read from `doc`.
#[allow(clippy::too_many_arguments)]
pub(super) fn build(
    origin: &Origin,
    project: &str,
    name: &str,
    doc: &Value,
    read: Option<manifest::Warehouse>,
    cache: &mut RegexCache,
    problems: &mut Problems,
    warnings: &mut Vec<ConfigError>,
) -> Option<Warehouse> {
    let before = problems.len();
    let read = match read {
        Some(read) => read,
        None => typed::<manifest::Warehouse>(origin, doc, problems)?,
    };
    let spec = read.spec.unwrap_or_default();
    let mut at = Fields {
        origin,
        base: Base::Spec,
        cache,
        problems,
        warnings,
    };

    let interval = match non_empty(spec.interval) {
        None => DEFAULT_INTERVAL,
        Some(text) => duration::parse(&text).unwrap_or_else(|why| {
            at.error(
                "interval",
                format!("invalid duration {text:?}: {why} (write it like 5m0s, 1h30m or 30s)"),
            );
            DEFAULT_INTERVAL
        }),
    };
    let freight_creation_policy = match non_empty(spec.freight_creation_policy).as_deref() {
        None | Some("Automatic") => FreightCreationPolicy::Automatic,
        Some("Manual") => FreightCreationPolicy::Manual,
        Some(other) => {
            at.error(
                "freightCreationPolicy",
                format!("unknown freightCreationPolicy {other:?} (expected Automatic or Manual)"),
            );
            FreightCreationPolicy::Automatic
        }
    };

    let entries = spec.subscriptions.unwrap_or_default();
    if entries.is_empty() {
        at.error(
            "subscriptions",
            "a Warehouse needs at least one subscription",
        );
    }
    let mut subscriptions = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        let present = [
            (entry.image.is_some(), "image"),
            (entry.git.is_some(), "git"),
            (entry.chart.is_some(), "chart"),
        ];
        match (entry.image, entry.git, entry.chart) {
            (Some(s), None, None) => {
                let mut at = at.nested(Base::Subscription(i, "image"));
                subscriptions.push(Subscription::Image(image(&mut at, s)));
            }
            (None, Some(s), None) => {
                let mut at = at.nested(Base::Subscription(i, "git"));
                subscriptions.push(Subscription::Git(git(&mut at, s)));
            }
            (None, None, Some(s)) => {
                let mut at = at.nested(Base::Subscription(i, "chart"));
                subscriptions.push(Subscription::Chart(chart(&mut at, s)));
            }
            _ => {
                let found: Vec<&str> = present
                    .iter()
                    .filter(|(set, _)| *set)
                    .map(|(_, kind)| *kind)
                    .collect();
                let found = if found.is_empty() {
                    "none".to_string()
                } else {
                    found.join(", ")
                };
                at.problems.field(
                    origin,
                    &format!("spec.subscriptions[{i}]"),
                    format!("set exactly one of image, git, chart (found {found})"),
                );
            }
        }
    }

    if problems.len() > before {
        return None;
    }
    // `metadata.labels` (string values; anything else is not a Kubernetes label and is skipped):
    // the generic receiver selects Warehouses by label.
    let labels = doc
        .get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_mapping)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    Some(Warehouse {
        project: project.to_string(),
        name: name.to_string(),
        labels,
        interval,
        freight_creation_policy,
        subscriptions,
        origin: origin.clone(),
    })
}

/// The field path prefix problems are reported under, written out only for a problem (a path
/// formatted for every subscription was a measurable part of loading 300,000 of them).
#[derive(Clone, Copy)]
enum Base {
    Spec,
    /// `spec.subscriptions[i].kind`.
    Subscription(usize, &'static str),
}

impl std::fmt::Display for Base {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Base::Spec => f.write_str("spec"),
            Base::Subscription(i, kind) => write!(f, "spec.subscriptions[{i}].{kind}"),
        }
    }
}

/// Reports problems under one field path prefix.
struct Fields<'a> {
    origin: &'a Origin,
    base: Base,
    cache: &'a mut RegexCache,
    problems: &'a mut Problems,
    warnings: &'a mut Vec<ConfigError>,
}

impl Fields<'_> {
    fn error(&mut self, field: &str, message: impl Into<String>) {
        let path = format!("{}.{field}", self.base);
        self.problems.field(self.origin, &path, message);
    }

    fn nested(&mut self, base: Base) -> Fields<'_> {
        Fields {
            origin: self.origin,
            base,
            cache: self.cache,
            problems: self.problems,
            warnings: self.warnings,
        }
    }

    fn warning(&mut self, field: &str, message: impl Into<String>) {
        self.warnings.push(ConfigError {
            location: format!("{} {}.{field}", self.origin, self.base),
            message: message.into(),
        });
    }

    /// `repoURL`, which every subscription needs, normalized by `key` to prove it usable. A URL
    /// that does not normalize is an error, unless `admitted` says Kargo accepts it: then a
    /// warning, and the subscription loads without a key.
    fn repo_url(
        &mut self,
        url: Option<String>,
        key: impl FnOnce(&str) -> Result<String, repo_url::RepoUrlError>,
        admitted: impl FnOnce(&str) -> bool,
    ) -> String {
        let Some(url) = non_empty(url) else {
            self.error("repoURL", "required");
            return String::new();
        };
        if let Err(e) = key(&url) {
            if admitted(&url) {
                self.warning(
                    "repoURL",
                    format!(
                        "{e}; Kargo accepts it, so the Warehouse is loaded, but no webhook will refresh this subscription (only its interval)"
                    ),
                );
            } else {
                self.error("repoURL", e.to_string());
            }
        }
        url
    }

    fn constraint(&mut self, field: &str, text: &str) -> Option<Constraint> {
        if let Some(c) = self.cache.constraints.get(text) {
            return Some(c.clone());
        }
        match Constraint::parse(text) {
            Ok(c) => {
                self.cache.constraints.insert(text.to_string(), c.clone());
                Some(c)
            }
            Err(e) => {
                self.error(field, e.to_string());
                None
            }
        }
    }

    /// Compiles each regex of the list at `field`.
    fn regexes(&mut self, field: &str, list: Option<Vec<String>>, out: &mut Vec<Regex>) {
        for (j, text) in list.unwrap_or_default().iter().enumerate() {
            if let Some(re) = self.regex(&format!("{field}[{j}]"), text) {
                out.push(re);
            }
        }
    }

    fn regex(&mut self, field: &str, text: &str) -> Option<Regex> {
        if let Some(re) = self.cache.regexes.get(text) {
            return Some(re.clone());
        }
        match Regex::new(text) {
            Ok(re) => {
                self.cache.regexes.insert(text.to_string(), re.clone());
                Some(re)
            }
            Err(e) => {
                self.error(
                    field,
                    format!("invalid regular expression {text:?}: {}", regex_reason(&e)),
                );
                None
            }
        }
    }

    fn discovery_limit(&mut self, limit: Option<i64>) -> u32 {
        match limit {
            None => DEFAULT_DISCOVERY_LIMIT,
            Some(n) => match u32::try_from(n) {
                Ok(n) if (1..=MAX_DISCOVERY_LIMIT).contains(&n) => n,
                _ => {
                    self.error(
                        "discoveryLimit",
                        format!("must be between 1 and {MAX_DISCOVERY_LIMIT}, got {n}"),
                    );
                    DEFAULT_DISCOVERY_LIMIT
                }
            },
        }
    }
}

/// Kargo's CRD pattern for `spec.subscriptions[].git.repoURL` (api/v1alpha1/warehouse_types.go),
/// with Go's ASCII `\w` spelled out: what Kargo's admission accepts.
static KARGO_GIT_REPO_URL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let pattern = r"(?:^(ssh|https?)://(?:([W-]+)(:(.+))?@)?([W-]+(?:\.[W-]+)*)(?::([0-9]{1,5}))?(/.*)$)|(?:^([W-]+)@([W+]+(?:\.[W-]+)*):(/?.*))"
        .replace('W', "0-9A-Za-z_");
    Regex::new(&pattern).ok()
});

/// Whether Kargo's admission accepts `url` as a git subscription's `repoURL`.
pub(crate) fn kargo_admits_git_url(url: &str) -> bool {
    KARGO_GIT_REPO_URL
        .as_ref()
        .is_some_and(|re| re.is_match(url))
}

/// The regex crate's syntax errors draw the pattern with a caret over several lines; the last
/// line alone says what is wrong and keeps the message on one line.
fn regex_reason(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(text) => text
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("error: "))
            .map_or_else(|| text.replace('\n', " "), str::to_string),
        regex::Error::CompiledTooBig(limit) => {
            format!("compiles to more than the limit of {limit} bytes")
        }
        other => other.to_string().replace('\n', " "),
    }
}

/// Folds a message that embeds a regex crate syntax error (pattern drawn with a caret over
/// several lines) into one line keeping only the reason.
fn one_line(text: &str) -> String {
    const MARK: &str = "regex parse error:";
    if let Some(start) = text.find(MARK) {
        if let Some(reason) = text.rfind("error: ").filter(|r| *r > start + MARK.len()) {
            return format!("{}{}", &text[..start], &text[reason + "error: ".len()..]);
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// Tag filters shared by image and git subscriptions.
fn tag_filters(
    at: &mut Fields<'_>,
    allow_tags: Option<String>,
    allow_tags_regex: Option<Vec<String>>,
    allow_tags_regexes: Option<Vec<String>>,
    ignore_tags: Option<Vec<String>>,
    ignore_tags_regex: Option<Vec<String>>,
    ignore_tags_regexes: Option<Vec<String>>,
) -> TagFilters {
    let mut allow = Vec::new();
    if let Some(text) = non_empty(allow_tags) {
        allow.extend(at.regex("allowTags", &text));
    }
    at.regexes("allowTagsRegex", allow_tags_regex, &mut allow);
    at.regexes("allowTagsRegexes", allow_tags_regexes, &mut allow);
    let mut ignore_regex = Vec::new();
    at.regexes("ignoreTagsRegex", ignore_tags_regex, &mut ignore_regex);
    at.regexes("ignoreTagsRegexes", ignore_tags_regexes, &mut ignore_regex);
    TagFilters::new(allow, ignore_tags.unwrap_or_default(), ignore_regex)
}

fn image(at: &mut Fields<'_>, s: manifest::ImageSubscription) -> ImageSubscription {
    let repo_url = at.repo_url(s.repo_url, repo_url::image_key, |_| false);
    let strategy = match non_empty(s.image_selection_strategy).as_deref() {
        None | Some("SemVer") => ImageSelectionStrategy::SemVer,
        Some("Lexical") => ImageSelectionStrategy::Lexical,
        Some("NewestBuild") => ImageSelectionStrategy::NewestBuild,
        Some("Digest") => ImageSelectionStrategy::Digest,
        Some(other) => {
            at.error(
                "imageSelectionStrategy",
                format!(
                    "unknown imageSelectionStrategy {other:?} (expected SemVer, Lexical, NewestBuild or Digest)"
                ),
            );
            ImageSelectionStrategy::SemVer
        }
    };

    let constraint = non_empty(s.constraint);
    let deprecated = non_empty(s.semver_constraint);
    if constraint.is_some() && deprecated.is_some() {
        at.error(
            "semverConstraint",
            "set together with constraint: semverConstraint is the deprecated spelling of constraint, keep one",
        );
    }
    let (field, constraint) = match (constraint, deprecated) {
        (Some(c), _) => ("constraint", Some(c)),
        (None, Some(c)) => ("semverConstraint", Some(c)),
        (None, None) => ("constraint", None),
    };
    let semver = match (&constraint, strategy) {
        (Some(text), ImageSelectionStrategy::SemVer) => at.constraint(field, text),
        (None, ImageSelectionStrategy::Digest) => {
            at.error(
                "constraint",
                "required with imageSelectionStrategy Digest: it names the tag to follow",
            );
            None
        }
        // Lexical and NewestBuild have no use for a constraint; Digest's is a tag name.
        _ => None,
    };

    let tags = tag_filters(
        at,
        s.allow_tags,
        s.allow_tags_regex,
        s.allow_tags_regexes,
        s.ignore_tags,
        s.ignore_tags_regex,
        s.ignore_tags_regexes,
    );
    let platform = non_empty(s.platform);
    if let Some(p) = &platform {
        let parts: Vec<&str> = p.split('/').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|part| part.is_empty()) {
            at.error(
                "platform",
                format!("invalid platform {p:?} (expected os/arch or os/arch/variant, like linux/amd64)"),
            );
        }
    }
    ImageSubscription {
        repo_url,
        strategy,
        constraint,
        semver,
        strict_semvers: s.strict_semvers.unwrap_or(true),
        tags,
        platform,
        discovery_limit: at.discovery_limit(s.discovery_limit),
        insecure_skip_tls_verify: s.insecure_skip_tls_verify.unwrap_or(false),
    }
}

fn git(at: &mut Fields<'_>, s: manifest::GitSubscription) -> GitSubscription {
    let repo_url = at.repo_url(
        s.repo_url,
        |url| {
            // A local repository: no webhook names it, but discovery reads it like any other.
            match url.get(..7) {
                Some(scheme) if scheme.eq_ignore_ascii_case("file://") && url.len() > 7 => {
                    Ok(url.to_string())
                }
                _ => repo_url::git_key(url),
            }
        },
        kargo_admits_git_url,
    );
    let strategy = match non_empty(s.commit_selection_strategy).as_deref() {
        None | Some("NewestFromBranch") => CommitSelectionStrategy::NewestFromBranch,
        Some("SemVer") => CommitSelectionStrategy::SemVer,
        Some("Lexical") => CommitSelectionStrategy::Lexical,
        Some("NewestTag") => CommitSelectionStrategy::NewestTag,
        Some(other) => {
            at.error(
                "commitSelectionStrategy",
                format!(
                    "unknown commitSelectionStrategy {other:?} (expected NewestFromBranch, SemVer, Lexical or NewestTag)"
                ),
            );
            CommitSelectionStrategy::NewestFromBranch
        }
    };
    let semver_constraint = non_empty(s.semver_constraint);
    let semver = semver_constraint
        .as_deref()
        .and_then(|text| at.constraint("semverConstraint", text));
    let tags = tag_filters(
        at,
        s.allow_tags,
        s.allow_tags_regex,
        s.allow_tags_regexes,
        s.ignore_tags,
        s.ignore_tags_regex,
        s.ignore_tags_regexes,
    );
    let include_paths = path_selectors(at, "includePaths", s.include_paths);
    let exclude_paths = path_selectors(at, "excludePaths", s.exclude_paths);
    GitSubscription {
        repo_url,
        strategy,
        branch: non_empty(s.branch),
        strict_semvers: s.strict_semvers.unwrap_or(true),
        semver_constraint,
        semver,
        tags,
        paths: PathFilters::new(include_paths, exclude_paths),
        discovery_limit: at.discovery_limit(s.discovery_limit),
        insecure_skip_tls_verify: s.insecure_skip_tls_verify.unwrap_or(false),
    }
}

fn path_selectors(
    at: &mut Fields<'_>,
    field: &str,
    list: Option<Vec<String>>,
) -> Vec<PathSelector> {
    let mut out = Vec::new();
    for (j, text) in list.unwrap_or_default().iter().enumerate() {
        match PathSelector::parse(text) {
            Ok(sel) => out.push(sel),
            Err(why) => {
                let why = one_line(&why);
                // The selector's own message usually quotes it already.
                let message = if why.contains(text.as_str()) {
                    why
                } else {
                    format!("invalid path selector {text:?}: {why}")
                };
                at.error(&format!("{field}[{j}]"), message);
            }
        }
    }
    out
}

fn chart(at: &mut Fields<'_>, s: manifest::ChartSubscription) -> ChartSubscription {
    let name = non_empty(s.name);
    let repo_url = match non_empty(s.repo_url) {
        None => {
            at.error("repoURL", "required");
            String::new()
        }
        Some(url) => {
            let lower = url.to_ascii_lowercase();
            let oci = lower.starts_with("oci://");
            let http = lower.starts_with("https://") || lower.starts_with("http://");
            if oci && name.is_some() {
                at.error(
                    "name",
                    "must not be set for an oci:// repository: the chart is the last element of repoURL",
                );
            } else if http && name.is_none() {
                at.error(
                    "name",
                    "required for an http(s):// chart repository: it names the chart in the repository's index",
                );
            } else if !oci && !http {
                at.error(
                    "repoURL",
                    format!("{url:?} is not a chart repository URL (expected oci://, https:// or http://)"),
                );
            } else if let Err(e) = repo_url::chart_key(&url, name.as_deref()) {
                at.error("repoURL", e.to_string());
            }
            url
        }
    };
    let semver_constraint = non_empty(s.semver_constraint);
    let semver = semver_constraint
        .as_deref()
        .and_then(|text| at.constraint("semverConstraint", text));
    ChartSubscription {
        repo_url,
        name,
        semver_constraint,
        semver,
        discovery_limit: at.discovery_limit(s.discovery_limit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_keeps_the_reason() {
        let cases = [
            (
                "path selector \"regex:(\" is not a valid regular expression: regex parse error:\n    (\n    ^\nerror: unclosed group",
                "path selector \"regex:(\" is not a valid regular expression: unclosed group",
            ),
            ("a\n  b", "a b"),
            ("regex parse error: odd", "regex parse error: odd"),
        ];
        for (text, want) in cases {
            assert_eq!(one_line(text), want, "{text}");
        }
    }

    #[test]
    fn regex_reason_is_one_line() {
        // Built at run time: clippy rejects an invalid literal pattern.
        let open = String::from("(");
        let e = Regex::new(&open).expect_err("invalid");
        assert_eq!(regex_reason(&e), "unclosed group");
        let big = Regex::new(r"\w{1000}\w{1000}\w{1000}").expect_err("too big");
        assert!(
            regex_reason(&big).starts_with("compiles to more than the limit of"),
            "{}",
            regex_reason(&big)
        );
    }
}
