//! A client of the OCI Distribution API, for images and OCI charts: list tags (following `Link`
//! pagination), fetch manifests and config blobs. Authentication as the registries do it:
//! an anonymous request first; on `401` with `WWW-Authenticate: Bearer realm=…,service=…,scope=…`
//! a token from the realm (with the credential's Basic auth when there is one), cached until it
//! expires; on `Basic realm=…` the credential itself.
//!
//! Hand-written on reqwest rather than on an OCI client crate: discovery needs a ceiling on every
//! body, a per-call timeout and a per-host concurrency bound, and reads only three endpoints.

use std::time::{Duration, Instant};

use dockhand_core::config::Credential;
use dockhand_core::repo_url;
use dockhand_core::secret::Secret;
use reqwest::header::{ACCEPT, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::error::{strip_query, DiscoveryError};
use super::{fetch, Discovery};

/// Manifests and config blobs are small; anything near this is not one.
const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
/// Pages of a tag list followed at most (a registry looping its `Link` must not keep us).
const MAX_PAGES: usize = 10_000;

pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// Where one repository lives.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `http(s)://host[:port]/`.
    pub base: Url,
    /// `host[:port]` as contacted (Docker Hub's API host for `docker.io`).
    pub host: String,
    /// The repository path, `team/app`.
    pub repo: String,
    /// `insecureSkipTLSVerify`.
    pub insecure_tls: bool,
}

/// The endpoint of an image (or `oci://` chart) repository URL. Loopback registries and those
/// named by `--insecure-registry` are reached over plain HTTP, every other over HTTPS.
pub fn endpoint(
    repo_url: &str,
    insecure_tls: bool,
    insecure_registries: &[String],
) -> Result<Endpoint, DiscoveryError> {
    let bare = repo_url::strip_image_scheme(repo_url);
    let key = repo_url::image_key(bare).map_err(|e| DiscoveryError::Invalid(e.to_string()))?;
    let host = repo_url::registry_host(&key).to_string();
    let repo = key[host.len()..].trim_start_matches('/').to_string();
    let host = if host == "docker.io" {
        "registry-1.docker.io".to_string()
    } else {
        host
    };
    let plain = repo_url::is_loopback(&host)
        || insecure_registries.iter().any(|h| {
            h.eq_ignore_ascii_case(&host)
                || h.eq_ignore_ascii_case(repo_url::host_without_port(&host))
        });
    let scheme = if plain { "http" } else { "https" };
    let base = Url::parse(&format!("{scheme}://{host}/"))
        .map_err(|e| DiscoveryError::Invalid(format!("registry host {host:?}: {e}")))?;
    Ok(Endpoint {
        base,
        host,
        repo,
        insecure_tls,
    })
}

#[derive(Clone)]
enum Auth {
    Anonymous,
    Basic,
    Bearer(Secret),
}

/// A conversation with one repository: its endpoint, the credential to use and the
/// authorization won so far.
pub struct Session<'a> {
    d: &'a Discovery,
    pub ep: Endpoint,
    cred: Option<&'a Credential>,
    auth: Auth,
}

/// One manifest as fetched: its digest and the parts discovery reads.
#[derive(Debug)]
pub struct Manifest {
    pub digest: String,
    pub doc: ManifestDoc,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestDoc {
    pub media_type: Option<String>,
    /// An index's (manifest list's) entries.
    pub manifests: Option<Vec<Descriptor>>,
    /// An image manifest's config.
    pub config: Option<Descriptor>,
}

impl ManifestDoc {
    pub fn is_index(&self) -> bool {
        self.manifests.is_some()
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub digest: String,
    pub platform: Option<Platform>,
}

#[derive(Debug, Deserialize, PartialEq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// `os/arch[/variant]` as a subscription's `platform` writes it. A missing variant on
    /// either side matches any.
    pub fn matches(&self, wanted: &str) -> bool {
        let mut parts = wanted.split('/');
        let (Some(os), Some(arch)) = (parts.next(), parts.next()) else {
            return false;
        };
        let variant = parts.next();
        self.os == os
            && self.architecture == arch
            && match (variant, self.variant.as_deref()) {
                (Some(want), Some(have)) => want == have,
                _ => true,
            }
    }
}

/// The parts of an image config blob discovery reads.
#[derive(Debug, Default, Deserialize)]
pub struct ImageConfig {
    pub created: Option<String>,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    pub variant: Option<String>,
}

#[derive(Deserialize)]
struct TagList {
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

impl<'a> Session<'a> {
    pub fn new(d: &'a Discovery, ep: Endpoint, cred: Option<&'a Credential>) -> Session<'a> {
        let cached = d.cached_token(&token_key(&ep, cred));
        Session {
            d,
            ep,
            cred,
            auth: cached.map_or(Auth::Anonymous, Auth::Bearer),
        }
    }

    fn client(&self) -> &reqwest::Client {
        self.d.client(self.ep.insecure_tls)
    }

    fn url(&self, path: &str) -> Result<Url, DiscoveryError> {
        self.ep
            .base
            .join(path)
            .map_err(|e| DiscoveryError::Invalid(format!("{}{path}: {e}", self.ep.base)))
    }

    /// GET `url`, authenticating on a challenge; answers whatever status the registry gives.
    async fn get(&mut self, url: &Url, accept: &str) -> Result<reqwest::Response, DiscoveryError> {
        let mut challenged = false;
        loop {
            let mut req = self.client().get(url.clone()).header(ACCEPT, accept);
            req = match (&self.auth, self.cred) {
                (Auth::Bearer(t), _) => req.bearer_auth(t.expose()),
                (Auth::Basic, Some(c)) => req.basic_auth(&c.username, Some(c.password.expose())),
                _ => req,
            };
            let resp = {
                let _permit = self.d.host_permit(&self.ep.host).await;
                req.send()
                    .await
                    .map_err(|e| self.d.transport_error(url.as_str(), &e))?
            };
            if resp.status() != StatusCode::UNAUTHORIZED || challenged {
                return Ok(resp);
            }
            challenged = true;
            let challenge = resp
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let (scheme, params) = parse_challenge(&challenge);
            if scheme.eq_ignore_ascii_case("bearer") {
                let token = self.token(&params).await?;
                self.auth = Auth::Bearer(token);
            } else if scheme.eq_ignore_ascii_case("basic") && self.cred.is_some() {
                self.auth = Auth::Basic;
            } else {
                return Ok(resp);
            }
        }
    }

    /// A Bearer token from the challenge's realm.
    async fn token(&self, params: &[(String, String)]) -> Result<Secret, DiscoveryError> {
        let param = |k: &str| {
            params
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.as_str())
        };
        let Some(realm) = param("realm") else {
            return Err(DiscoveryError::Invalid(format!(
                "{}: the registry asked for a Bearer token but named no realm",
                self.ep.base
            )));
        };
        let mut url = Url::parse(realm).map_err(|e| {
            DiscoveryError::Invalid(format!("token realm {:?}: {e}", strip_query(realm)))
        })?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(service) = param("service") {
                q.append_pair("service", service);
            }
            let default_scope = format!("repository:{}:pull", self.ep.repo);
            q.append_pair("scope", param("scope").unwrap_or(&default_scope));
        }
        let mut req = self.client().get(url.clone());
        if let Some(c) = self.cred {
            req = req.basic_auth(&c.username, Some(c.password.expose()));
        }
        let resp = req
            .send()
            .await
            .map_err(|e| self.d.transport_error(url.as_str(), &e))?;
        if !resp.status().is_success() {
            return Err(self.status_error(url.as_str(), resp.status()));
        }
        let body = fetch::body(url.as_str(), resp, 1024 * 1024, self.d.timeout_secs()).await?;
        let parsed: TokenResponse =
            serde_json::from_slice(&body).map_err(|e| DiscoveryError::Malformed {
                url: strip_query(url.as_str()),
                what: "token response",
                reason: e.to_string(),
            })?;
        let Some(token) = parsed.token.or(parsed.access_token) else {
            return Err(DiscoveryError::Malformed {
                url: strip_query(url.as_str()),
                what: "token response",
                reason: "no token in it".to_string(),
            });
        };
        let token = Secret::new(token);
        // Registries default to 60 s; renew a little early.
        let ttl = Duration::from_secs(parsed.expires_in.unwrap_or(60).max(10) - 5);
        self.d.cache_token(
            token_key(&self.ep, self.cred),
            token.clone(),
            Instant::now() + ttl,
        );
        Ok(token)
    }

    fn status_error(&self, url: &str, status: StatusCode) -> DiscoveryError {
        let hint = match status {
            StatusCode::UNAUTHORIZED => match self.cred {
                Some(c) => format!(
                    " Unauthorized: the registry refused the credentials of Secret {}/{}",
                    c.project, c.name
                ),
                None => " Unauthorized: the registry needs credentials; add a Secret labelled \
                          kargo.akuity.io/cred-type for this repoURL"
                    .to_string(),
            },
            StatusCode::FORBIDDEN => {
                " Forbidden: the credentials may not read this repository".to_string()
            }
            StatusCode::NOT_FOUND => " Not Found: no such repository (or tag)".to_string(),
            StatusCode::TOO_MANY_REQUESTS => " Too Many Requests: rate limited".to_string(),
            s => format!(" {}", s.canonical_reason().unwrap_or("")),
        };
        DiscoveryError::Status {
            url: strip_query(url),
            status: status.as_u16(),
            hint: hint.trim_end().to_string(),
        }
    }

    async fn get_ok(
        &mut self,
        url: &Url,
        accept: &str,
    ) -> Result<reqwest::Response, DiscoveryError> {
        let resp = self.get(url, accept).await?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(self.status_error(url.as_str(), resp.status()))
        }
    }

    /// Every tag of the repository, following `Link` pages.
    pub async fn tags(&mut self) -> Result<Vec<String>, DiscoveryError> {
        let mut url = self.url(&format!("v2/{}/tags/list?n=1000", self.ep.repo))?;
        let max = self.d.settings.max_response_bytes;
        let mut read = 0usize;
        let mut tags = Vec::new();
        for _ in 0..MAX_PAGES {
            let resp = self.get_ok(&url, "application/json").await?;
            let next = fetch::next_link(&resp, &url);
            let body = fetch::body(url.as_str(), resp, max - read, self.d.timeout_secs())
                .await
                .map_err(|e| match e {
                    DiscoveryError::TooLarge { url, .. } => DiscoveryError::TooLarge { url, max },
                    other => other,
                })?;
            read += body.len();
            let page: TagList =
                serde_json::from_slice(&body).map_err(|e| DiscoveryError::Malformed {
                    url: strip_query(url.as_str()),
                    what: "tag list",
                    reason: e.to_string(),
                })?;
            tags.extend(page.tags.unwrap_or_default());
            match next {
                Some(n) if n != url => url = n,
                _ => return Ok(tags),
            }
        }
        Err(DiscoveryError::Malformed {
            url: strip_query(url.as_str()),
            what: "tag list",
            reason: format!("more than {MAX_PAGES} pages"),
        })
    }

    /// The manifest `reference` (a tag or a digest) points to.
    pub async fn manifest(&mut self, reference: &str) -> Result<Manifest, DiscoveryError> {
        let url = self.url(&format!("v2/{}/manifests/{reference}", self.ep.repo))?;
        let resp = self.get_ok(&url, MANIFEST_ACCEPT).await?;
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .filter(|d| d.starts_with("sha256:"))
            .map(str::to_string);
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = fetch::body(
            url.as_str(),
            resp,
            MAX_MANIFEST_BYTES,
            self.d.timeout_secs(),
        )
        .await?;
        let mut doc: ManifestDoc =
            serde_json::from_slice(&body).map_err(|e| DiscoveryError::Malformed {
                url: url.to_string(),
                what: "manifest",
                reason: e.to_string(),
            })?;
        if doc.media_type.is_none() {
            doc.media_type = content_type;
        }
        // The digest is of the bytes as served; compute it when the registry does not say.
        let digest = header_digest.unwrap_or_else(|| sha256_digest(&body));
        Ok(Manifest { digest, doc })
    }

    /// An image's config blob.
    pub async fn config(&mut self, digest: &str) -> Result<ImageConfig, DiscoveryError> {
        let url = self.url(&format!("v2/{}/blobs/{digest}", self.ep.repo))?;
        let resp = self.get_ok(&url, "application/json, */*").await?;
        let body = fetch::body(
            url.as_str(),
            resp,
            MAX_MANIFEST_BYTES,
            self.d.timeout_secs(),
        )
        .await?;
        serde_json::from_slice(&body).map_err(|e| DiscoveryError::Malformed {
            url: url.to_string(),
            what: "image config",
            reason: e.to_string(),
        })
    }
}

/// Tokens are per registry, repository and user: one user's token never serves another.
fn token_key(ep: &Endpoint, cred: Option<&Credential>) -> String {
    format!(
        "{}|{}|{}",
        ep.host,
        ep.repo,
        cred.map_or("", |c| c.username.as_str())
    )
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in hash {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Splits `Bearer realm="https://auth",service="reg",scope="repository:a:pull"` into the scheme
/// and its parameters. Values may be quoted (with `\` escapes) or bare tokens.
pub fn parse_challenge(header: &str) -> (String, Vec<(String, String)>) {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            name.push(c);
            chars.next();
        }
        if name.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next()),
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        params.push((name.trim().to_string(), value.trim().to_string()));
    }
    (scheme.to_string(), params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let (scheme, params) = parse_challenge(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:team/app:pull""#,
        );
        assert_eq!(scheme, "Bearer");
        assert_eq!(
            params,
            vec![
                ("realm".into(), "https://auth.example.com/token".into()),
                ("service".into(), "registry.example.com".into()),
                ("scope".into(), "repository:team/app:pull".into()),
            ]
        );
        let (scheme, params) = parse_challenge(r#"Basic realm="basic-realm""#);
        assert_eq!(scheme, "Basic");
        assert_eq!(params, vec![("realm".into(), "basic-realm".into())]);
        let (scheme, params) = parse_challenge("Bearer realm=x, error=\"a\\\"b\"");
        assert_eq!(scheme, "Bearer");
        assert_eq!(params[1], ("error".into(), "a\"b".into()));
        assert_eq!(parse_challenge("").1, vec![]);
    }

    #[test]
    fn endpoints() {
        let ep = endpoint("localhost:5000/team/app", false, &[]).unwrap();
        assert_eq!(ep.base.as_str(), "http://localhost:5000/");
        assert_eq!(ep.repo, "team/app");
        let ep = endpoint("oci://127.0.0.1:5000/charts/app", false, &[]).unwrap();
        assert_eq!(ep.base.as_str(), "http://127.0.0.1:5000/");
        assert_eq!(ep.repo, "charts/app");
        let ep = endpoint("nginx", false, &[]).unwrap();
        assert_eq!(ep.base.as_str(), "https://registry-1.docker.io/");
        assert_eq!(ep.repo, "library/nginx");
        let ep = endpoint("myregistry.azurecr.io/team/app", false, &[]).unwrap();
        assert_eq!(ep.base.as_str(), "https://myregistry.azurecr.io/");
        let ep = endpoint("reg.lan:5000/app", false, &["reg.lan".into()]).unwrap();
        assert_eq!(ep.base.as_str(), "http://reg.lan:5000/");
        let ep = endpoint("[::1]:5000/app", false, &[]).unwrap();
        assert_eq!(ep.base.as_str(), "http://[::1]:5000/");
    }

    #[test]
    fn platforms() {
        let p = Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: Some("v8".into()),
        };
        assert!(p.matches("linux/arm64"));
        assert!(p.matches("linux/arm64/v8"));
        assert!(!p.matches("linux/arm64/v7"));
        assert!(!p.matches("linux/amd64"));
        assert!(!p.matches("linux"));
    }
}
