//! Azure spellings of a git repository: Azure Repos (`dev.azure.com`, its SSH v3 hosts, the
//! legacy `{org}.visualstudio.com`) to `dev.azure.com/{org}/{project}/{repo}`, and Azure DevOps
//! Server / TFS (`…/{collection}/{project}/_git/{repo}`) to `host/{collection}/{project}/{repo}`.

const AZURE: &str = "dev.azure.com";

pub(super) enum AzureHost<'a> {
    /// `dev.azure.com`: `{org}/{project}/_git/{repo}` (or the key form without `_git`).
    DevAzure,
    /// `ssh.dev.azure.com`, `vs-ssh.visualstudio.com`: `v3/{org}/{project}/{repo}`.
    SshV3,
    /// `{org}.visualstudio.com`: `[DefaultCollection/]{project}/_git/{repo}`.
    Legacy(&'a str),
    /// `ssh.{org}.visualstudio.com`: `v3/[DefaultCollection/]{project}/{repo}`.
    LegacySsh(&'a str),
}

pub(super) fn azure_host(host: &str) -> Option<AzureHost<'_>> {
    match host {
        "dev.azure.com" => return Some(AzureHost::DevAzure),
        "ssh.dev.azure.com" | "vs-ssh.visualstudio.com" => return Some(AzureHost::SshV3),
        _ => {}
    }
    let org = host.strip_suffix(".visualstudio.com")?;
    match org.split_once('.') {
        None => Some(AzureHost::Legacy(org)),
        Some(("ssh", org)) if !org.contains('.') => Some(AzureHost::LegacySsh(org)),
        Some(_) => None,
    }
}

/// `dev.azure.com/{org}/{project}/{repo}` of an Azure Repos path (already lower-case).
pub(super) fn azure_key(host: AzureHost<'_>, segments: &[&str]) -> Result<String, String> {
    let (org, project, repo) = azure_repo(host, segments)?;
    for s in [org, project, repo] {
        if s == "_git" {
            return Err(
                "`_git` cannot be an Azure organization, project or repository name".into(),
            );
        }
    }
    Ok(format!("{AZURE}/{org}/{project}/{repo}"))
}

/// `(org, project, repo)` of an Azure Repos path (already lower-case). A missing project means
/// the repository is named like its project, as Azure DevOps itself does in such URLs.
fn azure_repo<'a>(
    host: AzureHost<'a>,
    s: &[&'a str],
) -> Result<(&'a str, &'a str, &'a str), String> {
    let shape = |expected: &str| format!("its path is not an Azure Repos path ({expected})");
    match host {
        AzureHost::DevAzure => match *s {
            [org, project, "_git", repo] => Ok((org, project, repo)),
            [org, "_git", repo] => Ok((org, repo, repo)),
            [org, project, repo] => Ok((org, project, repo)),
            _ => Err(shape("{org}/{project}/_git/{repo}")),
        },
        AzureHost::SshV3 => match *s {
            ["v3", org, project, repo] => Ok((org, project, repo)),
            _ => Err(shape("v3/{org}/{project}/{repo}")),
        },
        AzureHost::Legacy(org) => {
            let s = s.strip_prefix(&["defaultcollection"]).unwrap_or(s);
            match *s {
                [project, "_git", repo] => Ok((org, project, repo)),
                ["_git", repo] => Ok((org, repo, repo)),
                _ => Err(shape("[DefaultCollection/]{project}/_git/{repo}")),
            }
        }
        AzureHost::LegacySsh(org) => {
            let rest = s
                .strip_prefix(&["v3"])
                .ok_or_else(|| shape("v3/[DefaultCollection/]{project}/{repo}"))?;
            let rest = rest
                .strip_prefix(&["defaultcollection"])
                .or_else(|| rest.strip_prefix(&[org]))
                .unwrap_or(rest);
            match *rest {
                [project, repo] => Ok((org, project, repo)),
                [repo] => Ok((org, repo, repo)),
                _ => Err(shape("v3/[DefaultCollection/]{project}/{repo}")),
            }
        }
    }
}

/// Azure DevOps Server / TFS: `…/_git/{repo}` as the last two segments of the path.
pub(super) fn is_ado_server_path(path: &str) -> bool {
    let mut rev = path.rsplit('/');
    rev.next().is_some_and(|repo| !repo.is_empty())
        && rev.next().is_some_and(|s| s.eq_ignore_ascii_case("_git"))
}

/// `host/{collection}/{project}/{repo}`: no port (HTTPS and SSH use different ones), no `tfs`
/// virtual directory (only HTTPS has it), a missing project filled with the repository name.
pub(super) fn ado_server_key(host: &str, segments: &[&str]) -> Result<String, String> {
    let Some((repo, before)) = segments.split_last() else {
        return Err("it names no repository".into());
    };
    let before = before.strip_suffix(&["_git"]).unwrap_or(before);
    if before.contains(&"_git") {
        return Err("its path has more than one `_git` segment".into());
    }
    let before = match before {
        ["tfs", collection, project] => vec![*collection, *project],
        [collection] => vec![*collection, *repo],
        other => other.to_vec(),
    };
    let mut key = String::from(host);
    for s in before.iter().chain([repo]) {
        key.push('/');
        key.push_str(s);
    }
    Ok(key)
}
