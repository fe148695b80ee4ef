//! Would this subscription accept this tag, chart version or ref? The rules of Kargo's
//! selection strategies, applied to one qualifier from a webhook before a refresh is spent.
//!
//! Each function answers `Ok(())` or a [`Rejection`] that names the rule and quotes the values,
//! for the delivery record. Decisions taken from Kargo's source (pkg/image, warehouses/git.go):
//!
//! - Tag filters, in Kargo's order: `ignoreTags` (exact), then `ignoreTagsRegex` (any match
//!   rejects), then the allow list: a tag is allowed when it matches ANY of the allow regexes
//!   (Kargo appends the deprecated single `allowTags` to `allowTagsRegex` and accepts on the
//!   first match). An empty allow list allows everything.
//! - Image `Digest` strategy: Kargo's digest selector tracks the one mutable tag named in
//!   `constraint` and ignores the tag filters, so only equality with `constraint` counts.
//! - Git `NewestFromBranch`: only pushes to that branch; tag strategies: only tag refs.
//! - Deleted refs never select anything new, so they are always turned down.
//! - Changed paths: checked only when the payload lists some; otherwise Kargo's discovery
//!   decides (it diffs the commits itself).

pub mod paths;
pub mod semver;

use regex::Regex;

use crate::config::{
    ChartSubscription, CommitSelectionStrategy, GitSubscription, ImageSelectionStrategy,
    ImageSubscription,
};
use crate::event::RefUpdate;

use self::semver::{parse_version, Constraint};

/// Why a subscription turned a qualifier down, in words for the delivery record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Rejection(pub String);

/// Would `sub` consider `tag` (pushed to its repository)?
pub fn image_tag(sub: &ImageSubscription, tag: &str) -> Result<(), Rejection> {
    match sub.strategy {
        ImageSelectionStrategy::Digest => match sub.constraint.as_deref() {
            Some(tracked) if tracked == tag => Ok(()),
            Some(tracked) => Err(Rejection(format!(
                "tag {tag:?} is not {tracked:?}, the tag the Digest strategy tracks (constraint)"
            ))),
            None => Err(Rejection(format!(
                "tag {tag:?} not considered: the Digest strategy tracks no tag (constraint is not set)"
            ))),
        },
        ImageSelectionStrategy::SemVer => {
            tag_filters(
                tag,
                &TagRules {
                    ignore: sub.tags.ignore(),
                    ignore_regex: sub.tags.ignore_regex(),
                    allow: sub.tags.allow(),
                    allow_field: "allowTagsRegex",
                },
            )?;
            semver_rule(
                "tag",
                tag,
                sub.strict_semvers,
                sub.semver.as_ref(),
                "constraint",
            )
        }
        ImageSelectionStrategy::Lexical | ImageSelectionStrategy::NewestBuild => tag_filters(
            tag,
            &TagRules {
                ignore: sub.tags.ignore(),
                ignore_regex: sub.tags.ignore_regex(),
                allow: sub.tags.allow(),
                allow_field: "allowTagsRegex",
            },
        ),
    }
}

/// Would `sub` consider chart `version`? A `.tgz` suffix (a package file name) and a leading
/// `v` are tolerated; versions are read leniently (`1.2` is 1.2.0), as Kargo's Helm discovery.
/// The version must be one even without a `semverConstraint`: Kargo's chart selector refreshes
/// only for a pushed tag that parses as a version, so `latest` on an OCI chart refreshes nothing.
pub fn chart_version(sub: &ChartSubscription, version: &str) -> Result<(), Rejection> {
    let bare = version.strip_suffix(".tgz").unwrap_or(version);
    semver_rule(
        "chart version",
        bare,
        false,
        sub.semver.as_ref(),
        "semverConstraint",
    )
}

/// Would `sub` consider this ref update? `default_branch` is the repository's default branch
/// when the payload says it (`refs/heads/main`); `changed_paths` the files the push touched when
/// the payload lists them.
pub fn git_ref(
    sub: &GitSubscription,
    update: &RefUpdate,
    default_branch: Option<&str>,
    changed_paths: Option<&[String]>,
) -> Result<(), Rejection> {
    let name = update.name.as_str();
    if update.is_deletion() {
        return Err(Rejection(format!("ref {name:?} was deleted")));
    }
    match sub.strategy {
        CommitSelectionStrategy::NewestFromBranch => branch_rule(sub, name, default_branch)?,
        CommitSelectionStrategy::SemVer
        | CommitSelectionStrategy::Lexical
        | CommitSelectionStrategy::NewestTag => {
            let tag = name
                .strip_prefix("refs/tags/")
                .map(|t| t.strip_suffix("^{}").unwrap_or(t))
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    Rejection(format!(
                        "ref {name:?} is not a tag (strategy {:?} selects tags)",
                        sub.strategy
                    ))
                })?;
            tag_filters(
                tag,
                &TagRules {
                    ignore: sub.tags.ignore(),
                    ignore_regex: sub.tags.ignore_regex(),
                    allow: sub.tags.allow(),
                    allow_field: "allowTags",
                },
            )?;
            if sub.strategy == CommitSelectionStrategy::SemVer {
                semver_rule(
                    "tag",
                    tag,
                    sub.strict_semvers,
                    sub.semver.as_ref(),
                    "semverConstraint",
                )?;
            }
        }
    }
    paths_rule(sub, changed_paths)
}

/// The tag filters shared by image and git subscriptions.
struct TagRules<'a> {
    ignore: &'a [String],
    ignore_regex: &'a [Regex],
    allow: &'a [Regex],
    /// The manifest field the allow list came from, for messages.
    allow_field: &'static str,
}

fn tag_filters(tag: &str, rules: &TagRules<'_>) -> Result<(), Rejection> {
    if rules.ignore.iter().any(|ignored| ignored == tag) {
        return Err(Rejection(format!("tag {tag:?} is in ignoreTags")));
    }
    if let Some(regex) = rules.ignore_regex.iter().find(|r| r.is_match(tag)) {
        return Err(Rejection(format!(
            "tag {tag:?} matches ignoreTagsRegex {:?}",
            regex.as_str()
        )));
    }
    if rules.allow.is_empty() || rules.allow.iter().any(|r| r.is_match(tag)) {
        return Ok(());
    }
    let field = rules.allow_field;
    Err(Rejection(match rules.allow {
        [only] => format!("tag {tag:?} does not match {field} {:?}", only.as_str()),
        all => format!(
            "tag {tag:?} matches none of {field} {}",
            all.iter()
                .map(|r| format!("{:?}", r.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }))
}

/// `what` ("tag", "chart version") `text` must be a version (strictly so when `strict`) and
/// satisfy `constraint` when there is one; `field` names the constraint in messages.
fn semver_rule(
    what: &str,
    text: &str,
    strict: bool,
    constraint: Option<&Constraint>,
    field: &str,
) -> Result<(), Rejection> {
    let Some(version) = parse_version(text, strict) else {
        let why = if !strict {
            ""
        } else if parse_version(text, false).is_some() {
            " (strictSemvers requires major.minor.patch)"
        } else {
            " (strictSemvers)"
        };
        return Err(Rejection(format!(
            "{what} {text:?} is not a semantic version{why}"
        )));
    };
    match constraint {
        Some(c) if !c.matches(&version) => {
            let hint = if !version.pre.is_empty() && !c.mentions_prerelease() {
                " (a prerelease satisfies only a constraint that names a prerelease, e.g. \"-0\")"
            } else {
                ""
            };
            Err(Rejection(format!(
                "{what} {text:?} does not satisfy {field} {:?}{hint}",
                c.as_str()
            )))
        }
        _ => Ok(()),
    }
}

/// NewestFromBranch: the ref must be the subscribed branch, or the default branch when none is
/// set (`main` or `master` when the payload does not say which is the default).
fn branch_rule(
    sub: &GitSubscription,
    name: &str,
    default_branch: Option<&str>,
) -> Result<(), Rejection> {
    let pushed = name.strip_prefix("refs/heads/");
    let wanted = sub
        .branch
        .as_deref()
        .or(default_branch)
        .map(|b| b.strip_prefix("refs/heads/").unwrap_or(b));
    match wanted {
        Some(branch) if pushed == Some(branch) => Ok(()),
        Some(branch) => Err(Rejection(if sub.branch.is_some() {
            format!("ref {name:?} is not branch {branch:?}")
        } else {
            format!("ref {name:?} is not branch {branch:?} (the default branch; branch is not set)")
        })),
        None if matches!(pushed, Some("main") | Some("master")) => Ok(()),
        None => Err(Rejection(format!(
            "ref {name:?} is not branch \"main\" or \"master\" (branch is not set and the \
             payload does not name the default branch)"
        ))),
    }
}

/// includePaths / excludePaths against the files the push changed, when the payload lists them.
/// A push that lists no files (a tag push, a truncated payload) tells nothing: accepted.
fn paths_rule(sub: &GitSubscription, changed: Option<&[String]>) -> Result<(), Rejection> {
    let Some(changed) = changed.filter(|c| !c.is_empty()) else {
        return Ok(());
    };
    if sub.paths.is_empty() {
        return Ok(());
    }
    let (include, exclude) = (sub.paths.include(), sub.paths.exclude());
    if paths::paths_selected(include, exclude, changed) {
        return Ok(());
    }
    let any_included =
        include.is_empty() || changed.iter().any(|p| include.iter().any(|s| s.matches(p)));
    Err(Rejection(if any_included {
        "every changed path is excluded by excludePaths".to_string()
    } else {
        "no changed path is under includePaths".to_string()
    }))
}

#[cfg(test)]
mod tests {
    use super::paths::PathSelector;
    use super::*;
    use crate::config::{PathFilters, TagFilters};

    fn regexes(patterns: &[&str]) -> Vec<Regex> {
        patterns.iter().map(|p| Regex::new(p).unwrap()).collect()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// An image subscription with Kargo's defaults; tests change what they exercise.
    fn image(strategy: ImageSelectionStrategy) -> ImageSubscription {
        ImageSubscription::new("ghcr.io/acme/app", strategy)
    }

    fn with_constraint(mut sub: ImageSubscription, constraint: &str) -> ImageSubscription {
        sub.constraint = Some(constraint.to_string());
        if sub.strategy != ImageSelectionStrategy::Digest {
            sub.semver = Some(Constraint::parse(constraint).unwrap());
        }
        sub
    }

    fn git(strategy: CommitSelectionStrategy) -> GitSubscription {
        GitSubscription::new("https://github.com/acme/app.git", strategy)
    }

    fn chart(constraint: Option<&str>) -> ChartSubscription {
        ChartSubscription {
            repo_url: "oci://ghcr.io/acme/charts/app".to_string(),
            name: None,
            semver_constraint: constraint.map(str::to_string),
            semver: constraint.map(|c| Constraint::parse(c).unwrap()),
            discovery_limit: 20,
        }
    }

    fn push(name: &str) -> RefUpdate {
        RefUpdate {
            name: name.to_string(),
            new_object_id: "3f786850e387550fdab836ed7e6dc881de23001b".to_string(),
        }
    }

    /// `Ok` as None, a rejection as its message.
    fn outcome(result: Result<(), Rejection>) -> Option<String> {
        result.err().map(|r| r.0)
    }

    #[test]
    fn image_tag_table() {
        use ImageSelectionStrategy::*;
        let semver = image(SemVer);
        let loose = ImageSubscription {
            strict_semvers: false,
            ..image(SemVer)
        };
        let caret = with_constraint(image(SemVer), "^1.2");
        let allow_one = ImageSubscription {
            tags: TagFilters::new(regexes(&["^v"]), vec![], vec![]),
            ..image(Lexical)
        };
        let allow_two = ImageSubscription {
            tags: TagFilters::new(regexes(&["^v", "^release-"]), vec![], vec![]),
            ..image(NewestBuild)
        };
        let ignoring = ImageSubscription {
            tags: TagFilters::new(vec![], strings(&["v1-rc"]), regexes(&["^pr-", "-dirty$"])),
            ..image(Lexical)
        };
        let semver_filtered = ImageSubscription {
            tags: TagFilters::new(regexes(&["^v"]), strings(&["v1.5.0"]), vec![]),
            ..with_constraint(image(SemVer), ">=1.0.0")
        };
        let digest = with_constraint(image(Digest), "latest");
        let digest_ignoring = ImageSubscription {
            tags: TagFilters::new(regexes(&["^v"]), strings(&["latest"]), vec![]),
            ..with_constraint(image(Digest), "latest")
        };

        let rows: &[(&ImageSubscription, &str, Option<&str>)] = &[
            (&semver, "1.2.3", None),
            (&semver, "v1.2.3", None),
            (&semver, "1.2.3-rc.1", None),
            (&semver, "latest", Some("tag \"latest\" is not a semantic version (strictSemvers)")),
            (
                &semver,
                "1.2",
                Some("tag \"1.2\" is not a semantic version (strictSemvers requires major.minor.patch)"),
            ),
            (&semver, "abc123", Some("tag \"abc123\" is not a semantic version (strictSemvers)")),
            (&loose, "1.2", None),
            (&loose, "latest", Some("tag \"latest\" is not a semantic version")),
            (&caret, "1.2.0", None),
            (&caret, "v1.9.3", None),
            (&caret, "0.9.0", Some("tag \"0.9.0\" does not satisfy constraint \"^1.2\"")),
            (&caret, "2.0.0", Some("tag \"2.0.0\" does not satisfy constraint \"^1.2\"")),
            (
                &caret,
                "1.3.0-rc.1",
                Some(
                    "tag \"1.3.0-rc.1\" does not satisfy constraint \"^1.2\" (a prerelease \
                     satisfies only a constraint that names a prerelease, e.g. \"-0\")",
                ),
            ),
            (&allow_one, "v7", None),
            (&allow_one, "x", Some("tag \"x\" does not match allowTagsRegex \"^v\"")),
            (&allow_two, "release-3", None),
            (&allow_two, "v3", None),
            (
                &allow_two,
                "nightly",
                Some("tag \"nightly\" matches none of allowTagsRegex \"^v\", \"^release-\""),
            ),
            (&ignoring, "v1-rc", Some("tag \"v1-rc\" is in ignoreTags")),
            (&ignoring, "pr-17", Some("tag \"pr-17\" matches ignoreTagsRegex \"^pr-\"")),
            (&ignoring, "v2-dirty", Some("tag \"v2-dirty\" matches ignoreTagsRegex \"-dirty$\"")),
            (&ignoring, "v1-rc2", None),
            (&semver_filtered, "v1.4.0", None),
            (&semver_filtered, "1.4.0", Some("tag \"1.4.0\" does not match allowTagsRegex \"^v\"")),
            (&semver_filtered, "v1.5.0", Some("tag \"v1.5.0\" is in ignoreTags")),
            (
                &semver_filtered,
                "v0.5.0",
                Some("tag \"v0.5.0\" does not satisfy constraint \">=1.0.0\""),
            ),
            (&digest, "latest", None),
            (
                &digest,
                "v2",
                Some("tag \"v2\" is not \"latest\", the tag the Digest strategy tracks (constraint)"),
            ),
            (&digest_ignoring, "latest", None),
            (&image(Lexical), "anything-at-all", None),
            (&image(NewestBuild), "", None),
            (
                &image(Digest),
                "latest",
                Some("tag \"latest\" not considered: the Digest strategy tracks no tag (constraint is not set)"),
            ),
        ];
        for (sub, tag, expected) in rows {
            assert_eq!(
                outcome(image_tag(sub, tag)).as_deref(),
                *expected,
                "{:?} tag {tag:?}",
                sub.strategy
            );
        }
    }

    #[test]
    fn chart_version_table() {
        let any = chart(None);
        let caret = chart(Some("^1.2"));
        let rows: &[(&ChartSubscription, &str, Option<&str>)] = &[
            (&any, "1.0.0", None),
            (&any, "0.1.0-rc.1", None),
            (
                &any,
                "whatever",
                Some("chart version \"whatever\" is not a semantic version"),
            ),
            (
                &any,
                "latest",
                Some("chart version \"latest\" is not a semantic version"),
            ),
            (&caret, "1.2.0", None),
            (&caret, "1.4", None),
            (&caret, "v1.4.1", None),
            (&caret, "1.4.1.tgz", None),
            (
                &caret,
                "0.9.0",
                Some("chart version \"0.9.0\" does not satisfy semverConstraint \"^1.2\""),
            ),
            (
                &caret,
                "0.9.0.tgz",
                Some("chart version \"0.9.0\" does not satisfy semverConstraint \"^1.2\""),
            ),
            (
                &caret,
                "abc",
                Some("chart version \"abc\" is not a semantic version"),
            ),
        ];
        for (sub, version, expected) in rows {
            assert_eq!(
                outcome(chart_version(sub, version)).as_deref(),
                *expected,
                "{:?} version {version:?}",
                sub.semver_constraint
            );
        }
    }

    #[test]
    fn git_ref_table() {
        use CommitSelectionStrategy::*;
        let default_branch = git(NewestFromBranch);
        let main = GitSubscription {
            branch: Some("main".to_string()),
            ..git(NewestFromBranch)
        };
        let release = GitSubscription {
            branch: Some("release/1.x".to_string()),
            ..git(NewestFromBranch)
        };
        let semver_tags = GitSubscription {
            semver_constraint: Some("^1.0".to_string()),
            semver: Some(Constraint::parse("^1.0").unwrap()),
            tags: TagFilters::new(vec![], strings(&["v1.0.1"]), vec![]),
            ..git(SemVer)
        };
        let lexical = GitSubscription {
            tags: TagFilters::new(regexes(&["^release-"]), vec![], regexes(&["-wip$"])),
            ..git(Lexical)
        };
        let deleted = RefUpdate {
            name: "refs/tags/v1".to_string(),
            new_object_id: "0".repeat(40),
        };

        // (subscription, ref, default branch, outcome)
        let rows: &[(&GitSubscription, &RefUpdate, Option<&str>, Option<&str>)] = &[
            (&main, &push("refs/heads/main"), None, None),
            (&main, &push("refs/heads/dev"), None, Some("ref \"refs/heads/dev\" is not branch \"main\"")),
            (&main, &push("refs/tags/v1"), None, Some("ref \"refs/tags/v1\" is not branch \"main\"")),
            (&main, &push("refs/heads/main-old"), None, Some("ref \"refs/heads/main-old\" is not branch \"main\"")),
            (&main, &push("refs/heads/dev"), Some("refs/heads/dev"), Some("ref \"refs/heads/dev\" is not branch \"main\"")),
            (&release, &push("refs/heads/release/1.x"), None, None),
            (&default_branch, &push("refs/heads/trunk"), Some("refs/heads/trunk"), None),
            (&default_branch, &push("refs/heads/trunk"), Some("trunk"), None),
            (
                &default_branch,
                &push("refs/heads/main"),
                Some("refs/heads/trunk"),
                Some("ref \"refs/heads/main\" is not branch \"trunk\" (the default branch; branch is not set)"),
            ),
            (&default_branch, &push("refs/heads/main"), None, None),
            (&default_branch, &push("refs/heads/master"), None, None),
            (
                &default_branch,
                &push("refs/heads/dev"),
                None,
                Some("ref \"refs/heads/dev\" is not branch \"main\" or \"master\" (branch is not set and the payload does not name the default branch)"),
            ),
            (&main, &deleted, None, Some("ref \"refs/tags/v1\" was deleted")),
            (&semver_tags, &deleted, None, Some("ref \"refs/tags/v1\" was deleted")),
            (&semver_tags, &push("refs/tags/v1.2.3"), None, None),
            (&semver_tags, &push("refs/tags/v1.2.3^{}"), None, None),
            (&semver_tags, &push("refs/tags/v1.0.1"), None, Some("tag \"v1.0.1\" is in ignoreTags")),
            (&semver_tags, &push("refs/tags/v2.0.0"), None, Some("tag \"v2.0.0\" does not satisfy semverConstraint \"^1.0\"")),
            (&semver_tags, &push("refs/tags/v1.2"), None, Some("tag \"v1.2\" is not a semantic version (strictSemvers requires major.minor.patch)")),
            (&semver_tags, &push("refs/heads/main"), None, Some("ref \"refs/heads/main\" is not a tag (strategy SemVer selects tags)")),
            (&semver_tags, &push("refs/tags/"), None, Some("ref \"refs/tags/\" is not a tag (strategy SemVer selects tags)")),
            (&lexical, &push("refs/tags/release-7"), None, None),
            (&lexical, &push("refs/tags/v7"), None, Some("tag \"v7\" does not match allowTags \"^release-\"")),
            (&lexical, &push("refs/tags/release-8-wip"), None, Some("tag \"release-8-wip\" matches ignoreTagsRegex \"-wip$\"")),
            (&git(NewestTag), &push("refs/tags/anything"), None, None),
            (&git(NewestTag), &push("refs/heads/main"), None, Some("ref \"refs/heads/main\" is not a tag (strategy NewestTag selects tags)")),
        ];
        for (sub, update, default, expected) in rows {
            assert_eq!(
                outcome(git_ref(sub, update, *default, None)).as_deref(),
                *expected,
                "{:?} branch {:?} ref {:?} default {default:?}",
                sub.strategy,
                sub.branch,
                update.name
            );
        }
    }

    #[test]
    fn git_ref_paths() {
        let sub = GitSubscription {
            branch: Some("main".to_string()),
            paths: PathFilters::new(
                vec![PathSelector::parse("charts/app").unwrap()],
                vec![PathSelector::parse("glob:charts/app/*.md").unwrap()],
            ),
            ..git(CommitSelectionStrategy::NewestFromBranch)
        };
        let only_excludes = GitSubscription {
            branch: Some("main".to_string()),
            paths: PathFilters::new(vec![], vec![PathSelector::parse("docs").unwrap()]),
            ..git(CommitSelectionStrategy::NewestFromBranch)
        };
        let unfiltered = git(CommitSelectionStrategy::NewestFromBranch);
        let main = push("refs/heads/main");
        type Row<'a> = (&'a GitSubscription, Option<&'a [&'a str]>, Option<&'a str>);
        let rows: &[Row] = &[
            (&sub, None, None),
            (&sub, Some(&[]), None),
            (&sub, Some(&["charts/app/values.yaml"]), None),
            (&sub, Some(&["src/main.rs", "charts/app/Chart.yaml"]), None),
            (
                &sub,
                Some(&["src/main.rs"]),
                Some("no changed path is under includePaths"),
            ),
            (
                &sub,
                Some(&["charts/application/x"]),
                Some("no changed path is under includePaths"),
            ),
            (
                &sub,
                Some(&["charts/app/README.md"]),
                Some("every changed path is excluded by excludePaths"),
            ),
            (
                &only_excludes,
                Some(&["docs/a.md"]),
                Some("every changed path is excluded by excludePaths"),
            ),
            (&only_excludes, Some(&["docs/a.md", "Makefile"]), None),
            (&unfiltered, Some(&["anything"]), None),
        ];
        for (sub, changed, expected) in rows {
            let changed: Option<Vec<String>> = changed.map(strings);
            assert_eq!(
                outcome(git_ref(sub, &main, None, changed.as_deref())).as_deref(),
                *expected,
                "changed {changed:?}"
            );
        }
        // A branch mismatch is reported before paths.
        assert_eq!(
            outcome(git_ref(
                &sub,
                &push("refs/heads/dev"),
                None,
                Some(&strings(&["src/x"]))
            ))
            .as_deref(),
            Some("ref \"refs/heads/dev\" is not branch \"main\"")
        );
    }

    #[test]
    fn odd_input_never_panics() {
        let subs = [
            image(ImageSelectionStrategy::SemVer),
            with_constraint(image(ImageSelectionStrategy::SemVer), ">=1.0.0-0"),
            image(ImageSelectionStrategy::Digest),
        ];
        let inputs = [
            "",
            "v",
            "\u{0}",
            "ä",
            "1.2.3-+",
            "refs/tags/^{}",
            "^{}",
            "refs/heads/",
            "0",
        ];
        for input in inputs {
            for sub in &subs {
                let _ = image_tag(sub, input);
            }
            let _ = chart_version(&chart(Some("*")), input);
            let update = RefUpdate {
                name: input.to_string(),
                new_object_id: input.to_string(),
            };
            for strategy in [
                CommitSelectionStrategy::NewestFromBranch,
                CommitSelectionStrategy::SemVer,
                CommitSelectionStrategy::Lexical,
                CommitSelectionStrategy::NewestTag,
            ] {
                let _ = git_ref(
                    &git(strategy),
                    &update,
                    Some(input),
                    Some(&strings(&[input])),
                );
            }
        }
    }
}
