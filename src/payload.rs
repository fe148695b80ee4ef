//! What of a request dockhand keeps (`--keep-payloads`, `dockhand deliveries show`, `dockhand
//! replay`) and what it never keeps:
//!
//! - the body, as read (already bounded by `--max-body-bytes`);
//! - the headers, except credentials and transport: `Authorization`, cookies, and every header
//!   whose name says it carries a secret (`*signature*`, `*token*`, `*secret*`, `*auth*`,
//!   `*password*`, `*api-key*`, ...: GitHub's and Gitea's `X-Hub-Signature-256`, GitLab's
//!   `X-Gitlab-Token`, Artifactory's `X-JFrog-Event-Auth`), `Host`, lengths, hop-by-hop and
//!   forwarding headers (the client's address is no business of a replay);
//! - the receiver URL's query, with the value of every secret-looking parameter (`token`, `sig`,
//!   `code`, `key`, ...) replaced by `[redacted]`, in the delivery record for everyone.
//!
//! Headers are capped as record fields are (`MAX_FIELD_BYTES` each, `MAX_LIST_ENTRIES` in all);
//! a header left out for its size marks the payload `trimmed`, and a trimmed payload is shown
//! but never replayed: it is not the request that arrived.
//!
//! Also here, because it reads the same body: the image digest a registry payload reports, for
//! the replication view (`Delivery::artifacts`).

use axum::http::HeaderMap;
use serde_json::Value;

use crate::store::delivery_record::{MAX_FIELD_BYTES, MAX_LIST_ENTRIES};
use crate::store::Payload;

/// Header names never kept, whole.
const DROPPED: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "expect",
    "via",
    "forwarded",
    "x-real-ip",
];

/// Parts of a header or query parameter name that say its value is a credential.
const SECRET_WORDS: &[&str] = &[
    "signature",
    "token",
    "secret",
    "auth",
    "password",
    "passwd",
    "credential",
    "api-key",
    "apikey",
    "api_key",
    "session",
    "cookie",
];

/// Query parameters whose value is a credential beyond `SECRET_WORDS` (Azure SAS `sig`,
/// Azure Functions `code`, a bare `key`).
const SECRET_PARAMS: &[&str] = &["sig", "code", "key", "pass", "pwd"];

/// Whether a header named `name` (any case) is kept.
pub fn header_kept(name: &str) -> bool {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        lower_header_kept(&name.to_ascii_lowercase())
    } else {
        lower_header_kept(name)
    }
}

/// `header_kept` of a name already in lower case, as every `HeaderName` is: no copy per header
/// of every delivery.
fn lower_header_kept(name: &str) -> bool {
    !DROPPED.contains(&name)
        && !name.starts_with("x-forwarded-")
        && !SECRET_WORDS.iter().any(|w| contains(name, w))
}

/// `name.contains(word)` for a short name: compared window by window, which for names of a few
/// bytes costs a fraction of `str::contains`'s searcher set up once per word and header.
fn contains(name: &str, word: &str) -> bool {
    // `windows(0)` would panic; the empty word is in every name.
    word.is_empty()
        || name
            .as_bytes()
            .windows(word.len())
            .any(|w| w == word.as_bytes())
}

/// The request to keep with a delivery: its body and the headers `header_kept` allows.
pub fn keep(headers: &HeaderMap, body: &[u8]) -> Payload {
    let mut kept: Vec<(String, String)> = Vec::new();
    let mut left_out: Vec<String> = Vec::new();
    for (name, value) in headers {
        if !lower_header_kept(name.as_str()) {
            continue;
        }
        match value.to_str() {
            Ok(v) if v.len() <= MAX_FIELD_BYTES && kept.len() < MAX_LIST_ENTRIES => {
                kept.push((name.as_str().to_string(), v.to_string()))
            }
            Ok(v) if v.len() > MAX_FIELD_BYTES => left_out.push(format!(
                "{name} ({} bytes, over {MAX_FIELD_BYTES})",
                v.len()
            )),
            Ok(_) => left_out.push(format!("{name} (over {MAX_LIST_ENTRIES} headers)")),
            Err(_) => left_out.push(format!("{name} (not visible ASCII)")),
        }
    }
    let trimmed = (!left_out.is_empty()).then(|| {
        let mut why = format!("headers left out when kept: {}", left_out.join(", "));
        crate::store::delivery_record::cap_string(&mut why);
        why
    });
    Payload {
        headers: kept,
        body: body.to_vec(),
        trimmed,
    }
}

/// The query string with the value of every secret-looking parameter replaced by
/// `[redacted]`; the rest (`region=westus`) as sent.
pub fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| {
            let (name, value) = match pair.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (pair, None),
            };
            let lower = name.to_ascii_lowercase();
            let secret = SECRET_WORDS.iter().any(|w| lower.contains(w))
                || SECRET_PARAMS.contains(&lower.as_str());
            match value {
                Some(v) if secret && !v.is_empty() => format!("{name}=[redacted]"),
                _ => pair.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The first image digest (`sha256:...`) a registry payload reports under a field named
/// `digest` (`target.digest` of ACR and Distribution, Event Grid's `data.target.digest`,
/// Harbor's `resources[].digest`, ECR's `image-digest`): one per delivery, which is what a
/// push of one manifest carries.
pub fn digest_in(body: &Value) -> Option<String> {
    fn walk(v: &Value, depth: usize) -> Option<String> {
        if depth > 8 {
            return None;
        }
        match v {
            Value::Object(map) => {
                for (k, x) in map {
                    let k = k.to_ascii_lowercase();
                    if k == "digest" || k == "image-digest" || k == "imagedigest" {
                        if let Some(s) = x.as_str().filter(|s| s.starts_with("sha256:")) {
                            return Some(s.to_string());
                        }
                    }
                }
                map.values().find_map(|x| walk(x, depth + 1))
            }
            Value::Array(items) => items.iter().take(32).find_map(|x| walk(x, depth + 1)),
            _ => None,
        }
    }
    walk(body, 0)
}

/// `digest_in` of a body as received, read in one pass without building its JSON tree (the
/// ingest path asks this of every registry delivery; the tree cost as much as the receiver's own
/// parse). `None` when the body is not JSON. Same answer as `digest_in` on the parsed body,
/// except for an object with a key twice, where this sees both values.
pub fn digest_in_json(body: &[u8]) -> Option<String> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_slice(body);
    let found = digest_scan::Walk { depth: 0 }.deserialize(&mut de).ok()?;
    de.end().ok()?;
    found.found
}

/// The one-pass reader behind `digest_in_json`: a serde visitor that walks as `digest_in` does
/// and skips everything else with `IgnoredAny`.
mod digest_scan {
    use std::fmt;

    use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

    /// Walks one value at `depth` (`digest_in`'s depth).
    pub struct Walk {
        pub depth: usize,
    }

    /// What one value gave: itself when it is a `sha256:` string, and `digest_in`'s answer for it.
    #[derive(Default)]
    pub struct Found {
        pub sha: Option<String>,
        pub found: Option<String>,
    }

    impl<'de> DeserializeSeed<'de> for Walk {
        type Value = Found;
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Found, D::Error> {
            d.deserialize_any(self)
        }
    }

    /// Whether an object key names a digest (any case).
    struct DigestKey;

    impl<'de> DeserializeSeed<'de> for DigestKey {
        type Value = bool;
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_str(self)
        }
    }

    impl Visitor<'_> for DigestKey {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object key")
        }
        fn visit_str<E: de::Error>(self, k: &str) -> Result<bool, E> {
            Ok(["digest", "image-digest", "imagedigest"]
                .iter()
                .any(|d| k.eq_ignore_ascii_case(d)))
        }
    }

    impl<'de> Visitor<'de> for Walk {
        type Value = Found;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("JSON")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Found, E> {
            Ok(Found {
                sha: s.starts_with("sha256:").then(|| s.to_string()),
                found: None,
            })
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Found, E> {
            Ok(Found::default())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Found, E> {
            Ok(Found::default())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Found, E> {
            Ok(Found::default())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Found, E> {
            Ok(Found::default())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Found, E> {
            Ok(Found::default())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
            if self.depth > 8 {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                return Ok(Found::default());
            }
            // `digest_in` looks at this object's own digest keys before any nested value.
            let (mut own, mut nested) = (None, None);
            while let Some(digest_key) = map.next_key_seed(DigestKey)? {
                let v = map.next_value_seed(Walk {
                    depth: self.depth + 1,
                })?;
                if own.is_none() && digest_key {
                    own = v.sha;
                }
                if nested.is_none() {
                    nested = v.found;
                }
            }
            Ok(Found {
                sha: None,
                found: own.or(nested),
            })
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Found, A::Error> {
            let mut found = None;
            let mut n = 0;
            while n < 32 && self.depth <= 8 {
                let Some(v) = seq.next_element_seed(Walk {
                    depth: self.depth + 1,
                })?
                else {
                    return Ok(Found { sha: None, found });
                };
                found = found.or(v.found);
                n += 1;
            }
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Found { sha: None, found })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderName, HeaderValue};

    #[test]
    fn credentials_and_transport_headers_are_never_kept() {
        let never = [
            "Authorization",
            "Proxy-Authorization",
            "Cookie",
            "X-Hub-Signature",
            "X-Hub-Signature-256",
            "X-Gitea-Signature",
            "X-Gogs-Signature",
            "X-Gitlab-Token",
            "X-JFrog-Event-Auth",
            "X-Api-Key",
            "Host",
            "Content-Length",
            "X-Forwarded-For",
        ];
        let read = [
            "User-Agent",
            "Content-Type",
            "X-GitHub-Event",
            "X-GitHub-Delivery",
            "X-Gitlab-Event",
            "X-Event-Key",
            "X-Request-Id",
            "aeg-event-type",
            "webhook-request-origin",
            "ce-type",
        ];
        let mut headers = HeaderMap::new();
        for n in never.iter().chain(read.iter()) {
            headers.insert(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_static("value-s3cret"),
            );
        }
        let p = keep(&headers, b"{}");
        let names: Vec<&str> = p.headers.iter().map(|(n, _)| n.as_str()).collect();
        for n in never {
            assert!(
                !names.contains(&n.to_ascii_lowercase().as_str()),
                "{n} kept"
            );
        }
        for n in read {
            assert!(names.contains(&n.to_ascii_lowercase().as_str()), "{n} lost");
        }
        assert_eq!(p.trimmed, None);
    }

    #[test]
    fn an_oversized_header_trims_the_payload() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-big",
            HeaderValue::from_str(&"a".repeat(MAX_FIELD_BYTES + 1)).unwrap(),
        );
        let p = keep(&headers, b"body");
        assert!(p.headers.is_empty());
        assert!(p.trimmed.as_deref().is_some_and(|t| t.contains("x-big")));
        assert_eq!(p.body, b"body");
    }

    #[test]
    fn secret_query_values_are_redacted() {
        let cases = [
            ("region=westus", "region=westus"),
            (
                "region=westus&token=abc&code=xyz",
                "region=westus&token=[redacted]&code=[redacted]",
            ),
            ("sv=2020&sig=AbC%2F&x", "sv=2020&sig=[redacted]&x"),
            (
                "api_key=1&Secret=2&flag",
                "api_key=[redacted]&Secret=[redacted]&flag",
            ),
            ("key=", "key="),
        ];
        for (q, want) in cases {
            assert_eq!(redact_query(q), want, "{q}");
        }
    }

    #[test]
    fn the_digest_of_each_registry_shape_is_found() {
        let d = "sha256:".to_string() + &"a".repeat(64);
        let cases = [
            serde_json::json!({"target": {"digest": d, "tag": "1"}}),
            serde_json::json!({"data": {"target": {"digest": d}}}),
            serde_json::json!({"event_data": {"resources": [{"digest": d}]}}),
            serde_json::json!({"detail": {"image-digest": d}}),
        ];
        for c in cases {
            assert_eq!(digest_in(&c).as_deref(), Some(d.as_str()), "{c}");
        }
        assert_eq!(digest_in(&serde_json::json!({"digest": "md5:x"})), None);
    }

    #[test]
    fn the_one_pass_digest_reader_answers_as_the_tree_walk_does() {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let deep = (0..12).fold(
            serde_json::json!({"digest": d('d')}),
            |v, _| serde_json::json!({ "x": v }),
        );
        let long = serde_json::json!({
            "items": (0..40).map(|i| if i == 35 { serde_json::json!({"digest": d('l')}) }
                else { serde_json::json!(i) }).collect::<Vec<_>>()
        });
        let cases = [
            serde_json::json!({"target": {"digest": d('a'), "tag": "1"}}),
            serde_json::json!({"data": {"target": {"digest": d('b')}}}),
            serde_json::json!({"event_data": {"resources": [{"digest": d('c')}]}}),
            serde_json::json!({"detail": {"Image-Digest": d('e')}}),
            // The object's own key wins over a nested one that comes first.
            serde_json::json!({"nested": {"digest": d('n')}, "digest": d('o')}),
            serde_json::json!({"digest": "md5:x", "inner": {"imageDigest": d('i')}}),
            serde_json::json!({"digest": {"digest": d('q')}}),
            serde_json::json!({"digest": "md5:x"}),
            serde_json::json!([1, "sha256:abc", {"digest": d('r')}]),
            serde_json::json!("sha256:abc"),
            deep,
            long,
        ];
        for c in cases {
            let bytes = serde_json::to_vec(&c).unwrap();
            assert_eq!(digest_in_json(&bytes), digest_in(&c), "{c}");
        }
        assert_eq!(digest_in_json(b"{\"digest\": \"sha256:a\""), None);
        assert_eq!(digest_in_json(b"{} trailing"), None);
        assert_eq!(digest_in_json(b"not json"), None);
    }
}
