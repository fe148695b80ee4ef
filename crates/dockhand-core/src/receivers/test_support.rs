//! What the receiver tests share: receivers built in place, requests, fixtures, and the
//! never-panics sweep.

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::ReceiverType;
use super::Request;
use crate::config::{Origin, Receiver};
use crate::event::Event;
use crate::event::Rejection;
use crate::secret::Secret;

/// A fixture from `tests/fixtures/`, compiled in.
macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/",
            $name
        ))
    };
}
pub(crate) use fixture;

/// A receiver of type `kind` whose Secret has `auth-header` and `username`/`password` as given
/// (and `url-secret` under the type's URL key unless that key is `auth-header`).
pub(crate) fn receiver(
    kind: &'static ReceiverType,
    auth_header: Option<&str>,
    basic: Option<(&str, &str)>,
) -> Receiver {
    let mut secrets = crate::config::ReceiverSecrets::default();
    if kind.url_secret_key != "auth-header" {
        secrets.insert(kind.url_secret_key, Secret::new("url-secret"));
    }
    if let Some(h) = auth_header {
        secrets.insert("auth-header", Secret::new(h));
    }
    if let Some((u, p)) = basic {
        secrets.insert("username", Secret::new(u));
        secrets.insert("password", Secret::new(p));
    }
    Receiver {
        project: "p".into(),
        name: "r".into(),
        kind,
        secrets,
        fields: Vec::new(),
        path: "/dummy".into(),
        origin: Origin {
            file: "test".into(),
            document: 0,
        },
        settings: Default::default(),
    }
}

/// An owned request; `send` runs it through `super::handle`.
#[derive(Clone)]
pub(crate) struct Req {
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Option<String>,
    pub body: Vec<u8>,
    pub replay: bool,
}

impl Req {
    pub fn post(body: impl AsRef<[u8]>) -> Self {
        Req {
            method: Method::POST,
            headers: HeaderMap::new(),
            query: None,
            body: body.as_ref().to_vec(),
            replay: false,
        }
    }

    /// As a replay of a recorded delivery (`Request::replay`).
    pub fn replayed(mut self) -> Self {
        self.replay = true;
        self
    }

    pub fn query(mut self, query: &str) -> Self {
        self.query = Some(query.to_string());
        self
    }

    pub fn method(mut self, m: Method) -> Self {
        self.method = m;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
        self
    }

    pub fn send(&self, r: &Receiver) -> Result<Event, Rejection> {
        super::handle(
            r,
            &Request {
                method: &self.method,
                headers: &self.headers,
                query: self.query.as_deref(),
                body: &self.body,
                replay: self.replay,
            },
        )
    }
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`, as GitHub, Gitea and Bitbucket sign.
pub(crate) fn sign_sha256(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// Feeds every prefix of every body, and pseudo-random bytes, through `send`. The assertion is
/// that this returns at all: a panic fails the test.
pub(crate) fn never_panics(send: impl Fn(&[u8]) -> Result<Event, Rejection>, bodies: &[&str]) {
    for body in bodies {
        let bytes = body.as_bytes();
        // Every prefix of small bodies; about 300 evenly spread ones of big bodies (the cut
        // points that matter most, mid-string and mid-number, are everywhere).
        let step = (bytes.len() / 300).max(1);
        for end in (0..=bytes.len()).step_by(step) {
            let _ = send(&bytes[..end]);
        }
        // Overwrite bytes with something structural or invalid.
        for i in (0..bytes.len()).step_by(step) {
            for b in [b'"', b'{', b'[', b'0', b'\\', 0xff] {
                let mut m = bytes.to_vec();
                m[i] = b;
                let _ = send(&m);
            }
        }
    }
    // xorshift64: deterministic noise, no dependency.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for len in 0..2000usize {
        let mut buf = Vec::with_capacity(len % 300);
        for _ in 0..len % 300 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            buf.push((state >> 24) as u8);
        }
        let _ = send(&buf);
    }
}
