//! What the fuzz targets share: turning libFuzzer's bytes into a receiver request (headers
//! included, so header-driven paths are reached too) or into several strings, and the secret
//! values whose absence from every error the targets check.
//!
//! # Receiver input layout
//! | byte | meaning |
//! |---|---|
//! | 0 | receiver type: index into `RECEIVER_TYPES` (modulo its length: 0 azure, 1 harbor) |
//! | 1 | receiver's Secret: bit i set = the type's optional key group i is present (azure: bit 0 `auth-header`, bit 1 `username`+`password`); the URL key always is (harbor's is `auth-header`) |
//! | 2 | bits 0-1 `User-Agent` (none, ACR, Azure DevOps, other); bits 2-3 `aeg-event-type` (none, `Notification`, `SubscriptionValidation`, `SubscriptionDeletion`); bits 4-6 `Authorization` (see [`AUTH_VARIANTS`]); bit 7 `OPTIONS` instead of `POST` |
//! | 3 | bit 0 `Content-Type: application/json`; bit 1 CloudEvents binary-mode headers (`ce-specversion`, `ce-type`, `ce-id`); bit 2 `WebHook-Request-Origin`; bit 3 `WebHook-Request-Rate`; bit 4 a header block follows |
//! | … | if byte 3 bit 4: `name: value` lines up to an empty line (invalid lines are skipped) |
//! | rest | the body |
//!
//! Missing leading bytes count as zero, so any input is valid. `seed.sh` writes seeds in this
//! layout.

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use dockhand_core::config::{Origin, Receiver, ReceiverSecrets};
use dockhand_core::event::{Event, Rejection};
use dockhand_core::receivers::{self, ReceiverType, Request, RECEIVER_TYPES};
use dockhand_core::secret::Secret;

/// The receiver's `auth-header` value.
pub const AUTH_HEADER: &str = "Bearer fuzz-auth-header-5Jd";
pub const BASIC_USER: &str = "fuzz-user";
pub const BASIC_PASSWORD: &str = "fuzz-pass-7Qx";
/// base64("fuzz-user:fuzz-pass-7Qx")
const BASIC_RIGHT: &str = "Basic ZnV6ei11c2VyOmZ1enotcGFzcy03UXg=";
/// base64("fuzz-user:wrong")
const BASIC_WRONG: &str = "Basic ZnV6ei11c2VyOndyb25n";
/// The secret hashed into the receiver URL.
pub const URL_SECRET: &str = "fuzz-url-secret-Lk2";
/// The value of any other Secret key a receiver type reads.
pub const OTHER_SECRET: &str = "fuzz-other-secret-W4m";

/// The receiver's Secret value for `key`: the well-known keys get the values the `Authorization`
/// variants are built from, so the fuzzer can get past authentication.
fn secret_value(key: &str) -> &'static str {
    match key {
        "auth-header" => AUTH_HEADER,
        "username" => BASIC_USER,
        "password" => BASIC_PASSWORD,
        "secret" => URL_SECRET,
        _ => OTHER_SECRET,
    }
}

/// The receiver type byte 0 picks.
/// Type-specific fields for the fuzzed receiver (see `ReceiverType::settings`): the generic
/// receiver's actions, with expressions over every part of the request.
fn settings_sample() -> serde_json::Value {
    serde_json::json!({"actions": [{
        "action": "Refresh",
        "whenExpression": "request.header('X-Event-Type') == 'push' || request.body.a.b > 1 || len(request.headers('x')) > 0",
        "parameters": {"p": "v"},
        "targetSelectionCriteria": [{
            "kind": "Warehouse",
            "name": "${{ request.body.name }}",
            "labelSelector": {"matchLabels": {"l": "${{ params.p }}"}},
            "indexSelector": {"matchIndices": [{"key": "subscribedURLs", "operator": "Equals", "value": "${{ normalizeGit(request.body.url) }}"}]}
        }]
    }]})
}

pub fn receiver_type(selector: u8) -> &'static ReceiverType {
    RECEIVER_TYPES[usize::from(selector) % RECEIVER_TYPES.len()]
}

/// `Authorization` variants selected by bits 4-6 of byte 1; `None` sends no header, and the
/// last one sends two headers.
pub const AUTH_VARIANTS: [Option<&str>; 8] = [
    None,
    Some(AUTH_HEADER),
    Some(BASIC_RIGHT),
    Some(BASIC_WRONG),
    Some("Bearer wrong"),
    Some(""),
    Some("basic ZnV6ei11c2VyOmZ1enotcGFzcy03UXg"),
    Some(AUTH_HEADER), // sent twice
];

const USER_AGENTS: [Option<&str>; 4] = [
    None,
    Some("AzureContainerRegistry/1.0"),
    Some("VSServices/16.0.33.0"),
    Some("Harbor"),
];

const AEG_EVENT_TYPES: [Option<&str>; 4] = [
    None,
    Some("Notification"),
    Some("SubscriptionValidation"),
    Some("SubscriptionDeletion"),
];

/// One request decoded from fuzzer bytes, owned.
pub struct FuzzRequest {
    pub receiver: Receiver,
    pub method: Method,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl FuzzRequest {
    pub fn decode(data: &[u8]) -> FuzzRequest {
        let byte = |i: usize| data.get(i).copied().unwrap_or(0);
        let (kind, recv, req, extra) = (receiver_type(byte(0)), byte(1), byte(2), byte(3));
        let mut rest = data.get(4..).unwrap_or(&[]);

        let mut secrets = ReceiverSecrets::default();
        secrets.insert(
            kind.url_secret_key,
            Secret::new(secret_value(kind.url_secret_key)),
        );
        for (i, group) in kind.optional_keys.iter().enumerate().take(8) {
            if recv & (1 << i) != 0 {
                for &key in group.keys {
                    secrets.insert(key, Secret::new(secret_value(key)));
                }
            }
        }
        let receiver = Receiver {
            project: "fuzz".into(),
            name: "r".into(),
            kind,
            secrets,
            // Artifactory's virtualRepoName; other types ignore these fields.
            fields: if recv & 0x80 != 0 {
                vec![("virtualRepoName".into(), "fuzz-virtual".into())]
            } else {
                Vec::new()
            },
            path: "/fuzz".into(),
            origin: Origin {
                file: "fuzz".into(),
                document: 0,
            },
            // A type with its own fields gets a sample that exercises them; a reader that does
            // not understand the sample leaves the receiver without settings.
            settings: kind
                .settings
                .and_then(|read| read(&settings_sample()).ok())
                .unwrap_or_default(),
        };

        let mut headers = HeaderMap::new();
        let add = |headers: &mut HeaderMap, name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.append(HeaderName::from_static(name), v);
            }
        };
        if let Some(ua) = USER_AGENTS[usize::from(req & 3)] {
            add(&mut headers, "user-agent", ua);
        }
        if let Some(t) = AEG_EVENT_TYPES[usize::from((req >> 2) & 3)] {
            add(&mut headers, "aeg-event-type", t);
        }
        let auth = usize::from((req >> 4) & 7);
        if let Some(v) = AUTH_VARIANTS[auth] {
            add(&mut headers, "authorization", v);
            if auth == AUTH_VARIANTS.len() - 1 {
                add(&mut headers, "authorization", v);
            }
        }
        let method = if req & 0x80 != 0 {
            Method::OPTIONS
        } else {
            Method::POST
        };
        if extra & 1 != 0 {
            add(&mut headers, "content-type", "application/json");
        }
        if extra & 2 != 0 {
            add(&mut headers, "ce-specversion", "1.0");
            add(&mut headers, "ce-type", "harbor.artifact.pushed");
            add(&mut headers, "ce-id", "fuzz-ce-id");
        }
        if extra & 4 != 0 {
            add(
                &mut headers,
                "webhook-request-origin",
                "eventgrid.azure.net",
            );
        }
        if extra & 8 != 0 {
            add(&mut headers, "webhook-request-rate", "120");
        }
        if extra & 16 != 0 {
            rest = header_block(rest, &mut headers);
        }
        FuzzRequest {
            receiver,
            method,
            headers,
            body: rest.to_vec(),
        }
    }

    pub fn send(&self) -> Result<Event, Rejection> {
        receivers::handle(
            &self.receiver,
            &Request {
                method: &self.method,
                headers: &self.headers,
                query: None,
                body: &self.body,
                replay: false,
            },
        )
    }

    /// What every answer must satisfy, beyond not panicking: a rejection is a 400 or a 401, and
    /// no rejection repeats a configured secret (unless the body itself contained it, when an
    /// echoed field would be the client's own text).
    pub fn check(&self, result: &Result<Event, Rejection>) {
        if let Err(rejection) = result {
            assert!(
                rejection.status == 400 || rejection.status == 401,
                "unexpected rejection status {}",
                rejection.status
            );
            let shown = format!("{rejection:?}");
            for secret in [
                AUTH_HEADER,
                BASIC_PASSWORD,
                URL_SECRET,
                OTHER_SECRET,
                "ZnV6ei11c2VyOmZ1enotcGFzcy03UXg",
            ] {
                if !contains(&self.body, secret.as_bytes()) {
                    assert!(
                        !shown.contains(secret),
                        "a rejection repeats a secret: {shown}"
                    );
                }
            }
        }
    }
}

/// Reads `name: value` lines up to an empty line (or the end) into `headers`; returns what
/// follows.
fn header_block<'a>(mut data: &'a [u8], headers: &mut HeaderMap) -> &'a [u8] {
    loop {
        let (line, rest) = match data.iter().position(|&b| b == b'\n') {
            Some(i) => (&data[..i], &data[i + 1..]),
            None => (data, &[][..]),
        };
        data = rest;
        if line.is_empty() {
            return data;
        }
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            let name = HeaderName::from_bytes(line[..colon].trim_ascii());
            let value = HeaderValue::from_bytes(line[colon + 1..].trim_ascii());
            if let (Ok(name), Ok(value)) = (name, value) {
                headers.append(name, value);
            }
        }
        if data.is_empty() {
            return data;
        }
    }
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Splits `data` at the first NUL into two strings (lossily decoded; the second is `None`
/// without a NUL).
pub fn two_strings(data: &[u8]) -> (String, Option<String>) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => (
            String::from_utf8_lossy(&data[..i]).into_owned(),
            Some(String::from_utf8_lossy(&data[i + 1..]).into_owned()),
        ),
        None => (String::from_utf8_lossy(data).into_owned(), None),
    }
}

/// A password no fuzzed URL contains by accident; see [`with_userinfo`].
pub const URL_PASSWORD: &str = "pw-Zr8Kq3Vd";

/// Builds a URL carrying `user:URL_PASSWORD@` as userinfo from fuzzer text: `selector` picks the
/// scheme (none means scp-style for git, a bare reference for images); `user` must not contain
/// `@`, `/` or `:` to stay userinfo. `None` when the shape does not fit (the caller then skips
/// the password check). Without a scheme, a non-git URL needs a `/` after the `@` (before any
/// query): a bare `a:b@c` is an image name, tag and digest (`nginx:1@sha256:…`), not a user and password.
pub fn with_userinfo(selector: u8, user: &str, rest: &str, git: bool) -> Option<String> {
    const SCHEMES: [&str; 8] = [
        "",
        "https://",
        "http://",
        "ssh://",
        "git://",
        "oci://",
        "git+ssh://",
        "docker://",
    ];
    // The rest must not hold the password either, also once sanitized: a host such as
    // "pw-Zr\u{13}8Kq3Vd" becomes the password when its control character goes (Kargo's
    // SanitizeURL), and showing a host is no leak.
    if user.contains(['@', '/', ':', '?', '#'])
        || rest.contains(URL_PASSWORD)
        || dockhand_core::repo_url::sanitize(rest).contains(URL_PASSWORD)
    {
        return None;
    }
    let scheme = SCHEMES[usize::from(selector & 7)];
    let path = rest.split('?').next().unwrap_or("");
    if scheme.is_empty() && !git && !path.contains('/') {
        return None;
    }
    Some(format!("{scheme}{user}:{URL_PASSWORD}@{rest}"))
}
