//! Authentication of a request by its `Authorization` header: a shared secret compared whole, or
//! HTTP Basic credentials. Every comparison is constant-time, and no message ever contains what
//! the client sent.

use http::header::AUTHORIZATION;
use http::HeaderMap;

use crate::config::BasicAuth;
use crate::event::{Rejection, Source};
use crate::secret::{constant_time_eq, Secret};

pub(super) const MISSING: &str = "missing authorization";
pub(super) const UNAUTHORIZED: &str = "unauthorized";

/// The single `Authorization` value. Several `Authorization` headers are refused outright: which
/// one a proxy in front of us would have looked at is anyone's guess.
fn authorization(headers: &HeaderMap, source: Source) -> Result<&[u8], Rejection> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    match (values.next(), values.next()) {
        (None, _) => Err(Rejection::unauthorized(source, MISSING)),
        (Some(v), None) if v.is_empty() => Err(Rejection::unauthorized(source, MISSING)),
        (Some(v), None) => Ok(v.as_bytes()),
        (Some(_), Some(_)) => Err(Rejection::unauthorized(source, UNAUTHORIZED)),
    }
}

/// `Authorization` must equal `expected` byte for byte: scheme word, letter case and all, as
/// the user typed it into the sender's "custom header" / "Auth Header" field.
pub(super) fn check_header(
    expected: &Secret,
    headers: &HeaderMap,
    source: Source,
) -> Result<(), Rejection> {
    let got = authorization(headers, source)?;
    if expected.matches(got) {
        Ok(())
    } else {
        Err(Rejection::unauthorized(source, UNAUTHORIZED))
    }
}

/// `Authorization: Basic base64(username:password)` must carry exactly these credentials. The
/// scheme word is case-insensitive (RFC 7617); the credentials are not.
pub(super) fn check_basic(
    expected: &BasicAuth,
    headers: &HeaderMap,
    source: Source,
) -> Result<(), Rejection> {
    let got = authorization(headers, source)?;
    let unauthorized = || Rejection::unauthorized(source, UNAUTHORIZED);
    let (scheme, rest) = match got.iter().position(|&b| b == b' ') {
        Some(i) => (&got[..i], &got[i + 1..]),
        None => return Err(unauthorized()),
    };
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return Err(unauthorized());
    }
    let decoded = decode_base64(rest.trim_ascii()).ok_or_else(unauthorized)?;
    // RFC 7617: the user-id cannot contain a colon, so the first one separates the password.
    let colon = decoded
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(unauthorized)?;
    let (user, pass) = (&decoded[..colon], &decoded[colon + 1..]);
    // Both comparisons always run (`&`, not `&&`), so the time taken does not tell a caller
    // whether the username alone was right.
    let user_ok = constant_time_eq(expected.username.as_bytes(), user);
    let pass_ok = expected.password.matches(pass);
    if user_ok & pass_ok {
        Ok(())
    } else {
        Err(unauthorized())
    }
}

/// Standard base64 (RFC 4648 §4), padding optional. `None` on any other byte or an impossible
/// length. Written here rather than pulled in as a crate: it is twenty lines and only ever
/// decodes one header.
fn decode_base64(input: &[u8]) -> Option<Vec<u8>> {
    fn sextet(b: u8) -> Option<u32> {
        match b {
            b'A'..=b'Z' => Some(u32::from(b - b'A')),
            b'a'..=b'z' => Some(u32::from(b - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(b - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let unpadded = match input {
        [rest @ .., b'=', b'='] => rest,
        [rest @ .., b'='] => rest,
        all => all,
    };
    if input.len() != unpadded.len() && !input.len().is_multiple_of(4) {
        return None;
    }
    if unpadded.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(unpadded.len() / 4 * 3 + 2);
    for chunk in unpadded.chunks(4) {
        let mut acc = 0u32;
        for &b in chunk {
            acc = (acc << 6) | sextet(b)?;
        }
        let bytes = acc.to_be_bytes();
        match chunk.len() {
            4 => out.extend_from_slice(&bytes[1..4]),
            // 3 sextets = 18 bits: two bytes and two zero bits.
            3 => {
                let v = acc >> 2;
                out.extend_from_slice(&[(v >> 8) as u8, v as u8]);
            }
            // 2 sextets = 12 bits: one byte and four zero bits.
            2 => out.push((acc >> 4) as u8),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(auth: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for a in auth {
            h.append(AUTHORIZATION, HeaderValue::from_bytes(a).unwrap());
        }
        h
    }

    #[test]
    fn base64_vectors() {
        // RFC 4648 §10 test vectors, padded and unpadded.
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(decode_base64(enc.as_bytes()).unwrap(), plain.as_bytes());
            let bare = enc.trim_end_matches('=');
            assert_eq!(decode_base64(bare.as_bytes()).unwrap(), plain.as_bytes());
        }
        assert_eq!(
            decode_base64(b"dXNlcjpwYXNz").unwrap(),
            b"user:pass".to_vec()
        );
        for bad in ["Z", "Zm9v!", "Zg=", "=", "Zm 9v", "Zm9vY===", "\u{e9}"] {
            assert_eq!(decode_base64(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn header_secret() {
        let s = Secret::new("Bearer s3cr3t");
        let src = Source::Acr;
        assert!(check_header(&s, &headers(&[b"Bearer s3cr3t"]), src).is_ok());
        let cases: [(&[&[u8]], &str); 5] = [
            (&[], MISSING),
            (&[b""], MISSING),
            (&[b"bearer s3cr3t"], UNAUTHORIZED),
            (&[b"Bearer s3cr3"], UNAUTHORIZED),
            (&[b"Bearer s3cr3t", b"Bearer s3cr3t"], UNAUTHORIZED),
        ];
        for (h, msg) in cases {
            let r = check_header(&s, &headers(h), src).unwrap_err();
            assert_eq!((r.status, r.message.as_str(), r.source), (401, msg, src));
        }
    }

    #[test]
    fn basic_credentials() {
        let b = BasicAuth {
            username: "ado".into(),
            password: Secret::new("pa:ss"),
        };
        let src = Source::AzureDevops;
        // base64("ado:pa:ss") — the password may contain a colon.
        assert!(check_basic(&b, &headers(&[b"Basic YWRvOnBhOnNz"]), src).is_ok());
        assert!(check_basic(&b, &headers(&[b"basic YWRvOnBhOnNz"]), src).is_ok());
        let cases: [(&[&[u8]], &str); 7] = [
            (&[], MISSING),
            (&[b"Basic YWRtOnBhOnNz"], UNAUTHORIZED), // adm:pa:ss
            (&[b"Basic YWRvOnBhOnN6"], UNAUTHORIZED), // ado:pa:sz
            (&[b"Basic YWRv"], UNAUTHORIZED),         // ado (no colon)
            (&[b"Basic !!!"], UNAUTHORIZED),
            (&[b"Bearer YWRvOnBhOnNz"], UNAUTHORIZED),
            (&[b"BasicYWRvOnBhOnNz"], UNAUTHORIZED),
        ];
        for (h, msg) in cases {
            let r = check_basic(&b, &headers(h), src).unwrap_err();
            assert_eq!((r.status, r.message.as_str()), (401, msg));
        }
    }
}
