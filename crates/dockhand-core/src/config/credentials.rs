//! Kargo credential Secrets: a `Secret` labelled `kargo.akuity.io/cred-type: image|helm|git`
//! holds `repoURL` (exact, or a regular expression when `repoURLIsRegex` is `"true"`),
//! `username` and `password`. Discovery uses them to authenticate to registries, chart
//! repositories and git servers of the same project. Values other than `repoURL` and `username`
//! are never quoted in a message.

use regex::Regex;
use serde_yaml_ng::Value;

use super::diagnostics::Problems;
use super::secrets::{SecretValue, StoredSecret};
use super::{Credential, CredentialKind, Origin};
use crate::repo_url;
use crate::secret::Secret;

/// The label Kargo puts on credential Secrets.
pub const CRED_TYPE_LABEL: &str = "kargo.akuity.io/cred-type";

/// The `cred-type` label of a Secret document, if it has one.
pub(super) fn cred_type(doc: &Value) -> Option<&str> {
    doc.get("metadata")?
        .get("labels")?
        .get(CRED_TYPE_LABEL)?
        .as_str()
}

/// Builds the credential of a labelled Secret, or reports why it cannot be used.
pub(super) fn build(
    origin: &Origin,
    project: &str,
    name: &str,
    cred_type: &str,
    secret: &StoredSecret,
    problems: &mut Problems,
) -> Option<Credential> {
    let kind = match cred_type {
        "image" => CredentialKind::Image,
        "helm" => CredentialKind::Helm,
        "git" => CredentialKind::Git,
        // Kargo's `generic` Secrets are for promotion steps, not discovery.
        "generic" => return None,
        other => {
            problems.field(
                origin,
                &format!("metadata.labels[{CRED_TYPE_LABEL}]"),
                format!("unknown credential type {other:?} (expected image, helm, git or generic)"),
            );
            return None;
        }
    };
    let text = |key: &str, problems: &mut Problems| -> Option<Secret> {
        match secret.values.get(key) {
            Some(SecretValue::Text(s)) => Some(s.clone()),
            Some(SecretValue::Binary) => {
                problems.field(origin, key, "must be text, not binary data");
                None
            }
            None => None,
        }
    };
    let before = problems.len();
    let repo_url = text("repoURL", problems).map(|s| s.expose().trim().to_string());
    let is_regex = text("repoURLIsRegex", problems)
        .is_some_and(|s| s.expose().trim().eq_ignore_ascii_case("true"));
    let username = text("username", problems).map(|s| s.expose().to_string());
    let password = text("password", problems);
    let Some(repo_url) = repo_url.filter(|u| !u.is_empty()) else {
        problems.document(
            origin,
            format!("credential Secret {project}/{name} ({CRED_TYPE_LABEL}: {cred_type}) needs a repoURL key"),
        );
        return None;
    };
    let (Some(username), Some(password)) = (username, password) else {
        problems.document(
            origin,
            format!("credential Secret {project}/{name} needs both username and password keys"),
        );
        return None;
    };
    let pattern = if is_regex {
        match Regex::new(&repo_url) {
            Ok(re) => Some(re),
            Err(e) => {
                let why = e.to_string();
                let why = why
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim_start_matches("error: ");
                problems.field(
                    origin,
                    "repoURL",
                    format!("invalid regular expression {repo_url:?}: {why}"),
                );
                None
            }
        }
    } else {
        None
    };
    if problems.len() > before {
        return None;
    }
    let key = if is_regex {
        None
    } else {
        normalized(kind, &repo_url)
    };
    Some(Credential {
        project: project.to_string(),
        name: name.to_string(),
        kind,
        repo_url,
        pattern,
        key,
        username,
        password,
        origin: origin.clone(),
    })
}

/// The repository key of an exact `repoURL`, so that `https://host/repo.git` and `host/repo`
/// spellings find the same credential, as Kargo normalizes them.
fn normalized(kind: CredentialKind, url: &str) -> Option<String> {
    match kind {
        CredentialKind::Image => repo_url::image_key(url.trim_start_matches("oci://")).ok(),
        CredentialKind::Helm if url.starts_with("oci://") => {
            repo_url::image_key(url.trim_start_matches("oci://")).ok()
        }
        CredentialKind::Helm => None,
        CredentialKind::Git => repo_url::git_key(url).ok(),
    }
}

impl Credential {
    /// Does this credential apply to `url` (a subscription's `repoURL`) of kind `kind`?
    pub fn applies_to(&self, kind: CredentialKind, url: &str) -> bool {
        if self.kind != kind {
            return false;
        }
        if let Some(re) = &self.pattern {
            return re.is_match(url);
        }
        if self.repo_url == url {
            return true;
        }
        match (&self.key, normalized(kind, url)) {
            (Some(a), Some(b)) => *a == b,
            _ => {
                // Classic chart repositories: compare without a trailing slash.
                self.repo_url.trim_end_matches('/') == url.trim_end_matches('/')
            }
        }
    }
}

/// The first credential of `project` that applies to `url`: exact ones before patterns, as
/// Kargo looks them up.
pub fn find<'a>(
    credentials: &'a [Credential],
    project: &str,
    kind: CredentialKind,
    url: &str,
) -> Option<&'a Credential> {
    let mine = || credentials.iter().filter(|c| c.project == project);
    mine()
        .filter(|c| c.pattern.is_none())
        .find(|c| c.applies_to(kind, url))
        .or_else(|| {
            mine()
                .filter(|c| c.pattern.is_some())
                .find(|c| c.applies_to(kind, url))
        })
}
