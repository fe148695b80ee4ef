//! Image subscriptions: list the repository's tags, choose by the subscription's strategy
//! (SemVer, Lexical, NewestBuild, Digest) with the core's tag rules, and resolve each chosen tag
//! to a digest, the one of `platform` when the tag is an index.

use std::cmp::Ordering;

use dockhand_core::config::{Credential, ImageSelectionStrategy, ImageSubscription};
use dockhand_core::matching::{self, semver::parse_version};

use super::error::DiscoveryError;
use super::freight::Image;
use super::registry::{endpoint, Session};
use super::Discovery;

/// NewestBuild reads one config per candidate tag; past this many it asks for a narrower
/// allow list instead of sending a registry thousands of requests.
pub const MAX_NEWEST_BUILD_CANDIDATES: usize = 500;

/// The tags `sub` would consider, best first (for NewestBuild: in no particular order, the
/// build time decides). Pure: no I/O, what the benchmark measures.
pub fn candidates<'t>(sub: &ImageSubscription, tags: &'t [String]) -> Vec<&'t str> {
    match sub.strategy {
        ImageSelectionStrategy::Digest => sub
            .constraint
            .as_deref()
            .and_then(|want| tags.iter().find(|t| *t == want))
            .map(String::as_str)
            .into_iter()
            .collect(),
        ImageSelectionStrategy::SemVer => {
            let mut versions: Vec<_> = tags
                .iter()
                .filter(|t| matching::image_tag(sub, t).is_ok())
                .filter_map(|t| parse_version(t, sub.strict_semvers).map(|v| (v, t.as_str())))
                .collect();
            // Highest version first; equal versions (`1.0.0`, `v1.0.0`) by tag, for a stable order.
            versions.sort_unstable_by(|(va, ta), (vb, tb)| match vb.cmp_precedence(va) {
                Ordering::Equal => tb.cmp(ta),
                o => o,
            });
            versions.into_iter().map(|(_, t)| t).collect()
        }
        ImageSelectionStrategy::Lexical | ImageSelectionStrategy::NewestBuild => {
            let mut list: Vec<&str> = tags
                .iter()
                .filter(|t| matching::image_tag(sub, t).is_ok())
                .map(String::as_str)
                .collect();
            list.sort_unstable_by(|a, b| b.cmp(a));
            list
        }
    }
}

/// Discovers up to `discoveryLimit` images, newest first.
pub async fn discover(
    d: &Discovery,
    sub: &ImageSubscription,
    cred: Option<&Credential>,
) -> Result<Vec<Image>, DiscoveryError> {
    let ep = endpoint(
        &sub.repo_url,
        sub.insecure_skip_tls_verify,
        &d.settings.insecure_registries,
    )?;
    let mut session = Session::new(d, ep, cred);
    let limit = sub.discovery_limit as usize;
    let want_created = sub.strategy == ImageSelectionStrategy::NewestBuild;

    if sub.strategy == ImageSelectionStrategy::Digest {
        // The tracked tag is mutable: ask for it directly rather than listing every tag.
        let Some(tag) = sub.constraint.as_deref() else {
            return Ok(Vec::new());
        };
        return Ok(resolve(&mut session, sub, tag, false)
            .await?
            .into_iter()
            .collect());
    }

    let tags = session.tags().await?;
    let chosen = candidates(sub, &tags);
    if want_created && chosen.len() > MAX_NEWEST_BUILD_CANDIDATES {
        return Err(DiscoveryError::Invalid(format!(
            "NewestBuild would read the build time of {} tags (more than {MAX_NEWEST_BUILD_CANDIDATES}); narrow allowTagsRegexes",
            chosen.len()
        )));
    }
    let mut out = Vec::new();
    for tag in chosen {
        if !want_created && out.len() >= limit {
            break;
        }
        if let Some(image) = resolve(&mut session, sub, tag, want_created).await? {
            out.push(image);
        }
    }
    if want_created {
        // Newest build first; tags without a (parseable) build time last.
        out.sort_by_key(|image| std::cmp::Reverse(build_time(image.created_at.as_deref())));
        out.truncate(limit);
    }
    Ok(out)
}

/// An image config's `created` time. Compared as instants, not strings: RFC 3339 with and
/// without fractional seconds, or with another offset, does not sort as text.
fn build_time(created: Option<&str>) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(created?, &time::format_description::well_known::Rfc3339).ok()
}

/// The image `tag` names, or None when it has no manifest for the subscription's platform.
async fn resolve(
    session: &mut Session<'_>,
    sub: &ImageSubscription,
    tag: &str,
    want_created: bool,
) -> Result<Option<Image>, DiscoveryError> {
    let manifest = session.manifest(tag).await?;
    let platform = sub.platform.as_deref();
    let (digest, config_of) = if let Some(entries) = &manifest.doc.manifests {
        let entry = match platform {
            Some(p) => entries
                .iter()
                .find(|e| e.platform.as_ref().is_some_and(|pl| pl.matches(p))),
            // Without a platform the index digest is the artifact; a build time comes from
            // linux/amd64, else the first entry.
            None => entries
                .iter()
                .find(|e| {
                    e.platform
                        .as_ref()
                        .is_some_and(|pl| pl.matches("linux/amd64"))
                })
                .or(entries.first()),
        };
        let Some(entry) = entry else {
            return Ok(None);
        };
        let digest = if platform.is_some() {
            entry.digest.clone()
        } else {
            manifest.digest.clone()
        };
        let config_of = if want_created {
            session
                .manifest(&entry.digest)
                .await?
                .doc
                .config
                .map(|c| c.digest)
        } else {
            None
        };
        (digest, config_of)
    } else {
        let config_of = if want_created || platform.is_some() {
            manifest.doc.config.as_ref().map(|c| c.digest.clone())
        } else {
            None
        };
        (manifest.digest.clone(), config_of)
    };
    let mut created_at = None;
    if let Some(config_digest) = config_of {
        let config = session.config(&config_digest).await?;
        if let (Some(p), false) = (platform, manifest.doc.is_index()) {
            let pl = super::registry::Platform {
                os: config.os.clone(),
                architecture: config.architecture.clone(),
                variant: config.variant.clone(),
            };
            if !pl.matches(p) {
                return Ok(None);
            }
        }
        created_at = config.created;
    }
    Ok(Some(Image {
        repo_url: sub.repo_url.clone(),
        tag: tag.to_string(),
        digest,
        created_at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dockhand_core::matching::semver::Constraint;

    fn sub(strategy: ImageSelectionStrategy, constraint: Option<&str>) -> ImageSubscription {
        ImageSubscription {
            constraint: constraint.map(str::to_string),
            semver: match strategy {
                ImageSelectionStrategy::SemVer => constraint.map(|c| Constraint::parse(c).unwrap()),
                _ => None,
            },
            ..ImageSubscription::new("localhost:5000/app", strategy)
        }
    }

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn semver_orders_by_version_and_applies_the_constraint() {
        let t = tags(&[
            "v1.1.9",
            "v1.2.0",
            "latest",
            "v1.10.0",
            "2.0.0",
            "v1.2.0-rc.1",
            "1.2",
        ]);
        let s = sub(ImageSelectionStrategy::SemVer, Some("^1.0.0"));
        assert_eq!(candidates(&s, &t), vec!["v1.10.0", "v1.2.0", "v1.1.9"]);
        let s = sub(ImageSelectionStrategy::SemVer, None);
        assert_eq!(
            candidates(&s, &t),
            vec!["2.0.0", "v1.10.0", "v1.2.0", "v1.2.0-rc.1", "v1.1.9"]
        );
    }

    #[test]
    fn lexical_and_digest() {
        let t = tags(&["b", "a", "c"]);
        assert_eq!(
            candidates(&sub(ImageSelectionStrategy::Lexical, None), &t),
            vec!["c", "b", "a"]
        );
        assert_eq!(
            candidates(&sub(ImageSelectionStrategy::Digest, Some("b")), &t),
            vec!["b"]
        );
        assert!(candidates(&sub(ImageSelectionStrategy::Digest, Some("z")), &t).is_empty());
    }
}
