//! Authentication of a request: by its `Authorization` header (a shared secret compared whole, or
//! HTTP Basic credentials), by a token header (GitLab's `X-Gitlab-Token`), or by an HMAC
//! signature of the raw body (GitHub's and Gitea's `X-Hub-Signature-256`, Bitbucket's
//! `X-Hub-Signature`). Every comparison is constant-time, and no message ever contains what the
//! client sent.

use hmac::{Hmac, Mac};
use http::header::AUTHORIZATION;
use http::HeaderMap;

use crate::event::{Rejection, Source};
use crate::secret::Secret;

pub(super) const MISSING: &str = "missing authorization";
pub(super) const UNAUTHORIZED: &str = "unauthorized";
/// Kargo's words when a signed receiver type gets a request without its signature header.
pub(super) const MISSING_SIGNATURE: &str = "missing signature";

/// HTTP Basic credentials a receiver expects, borrowed from its Secret values.
pub(super) struct BasicAuth<'a> {
    pub username: &'a Secret,
    pub password: &'a Secret,
}

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
    expected: &BasicAuth<'_>,
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
    let user_ok = expected.username.matches(user);
    let pass_ok = expected.password.matches(pass);
    if user_ok & pass_ok {
        Ok(())
    } else {
        Err(unauthorized())
    }
}

/// The hash of an HMAC signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hash {
    Sha256,
    /// Bitbucket still offers it; accepted only where the sender may send it.
    Sha1,
}

/// One way a sender may sign: the header, the text before the hex digits (`sha256=`, or empty
/// for Gitea's bare `X-Gitea-Signature`), and the hash.
pub(super) struct SignatureScheme {
    pub header: &'static str,
    pub prefix: &'static str,
    pub hash: Hash,
}

/// The body must be signed with `secret` under one of `schemes`. The first scheme whose header
/// is present decides (a sender that sends several headers signs the same body in each); none
/// present → 401 `missing signature`, anything else wrong → 401 `unauthorized`. The MAC is
/// computed over the raw bytes received and compared in constant time (`Mac::verify_slice`).
pub(super) fn check_signature(
    secret: &Secret,
    schemes: &[SignatureScheme],
    headers: &HeaderMap,
    body: &[u8],
    source: Source,
) -> Result<(), Rejection> {
    let unauthorized = || Rejection::unauthorized(source, UNAUTHORIZED);
    let Some((scheme, value)) = schemes
        .iter()
        .find_map(|s| {
            let mut values = headers.get_all(s.header).iter();
            values
                .next()
                .map(|first| (s, first, values.next().is_some()))
        })
        .map(|(s, v, several)| (s, (!several).then_some(v)))
    else {
        return Err(Rejection::unauthorized(source, MISSING_SIGNATURE));
    };
    // Several copies of one signature header: which one a proxy looked at is anyone's guess.
    let value = value.ok_or_else(unauthorized)?.as_bytes();
    if value.is_empty() {
        return Err(Rejection::unauthorized(source, MISSING_SIGNATURE));
    }
    let hex = value
        .strip_prefix(scheme.prefix.as_bytes())
        .ok_or_else(unauthorized)?;
    let given = decode_hex(hex).ok_or_else(unauthorized)?;
    let key = secret.expose().as_bytes();
    let ok = match scheme.hash {
        Hash::Sha256 => Hmac::<sha2::Sha256>::new_from_slice(key)
            .map(|mut m| {
                m.update(body);
                m.verify_slice(&given).is_ok()
            })
            .unwrap_or(false),
        Hash::Sha1 => Hmac::<sha1::Sha1>::new_from_slice(key)
            .map(|mut m| {
                m.update(body);
                m.verify_slice(&given).is_ok()
            })
            .unwrap_or(false),
    };
    if ok {
        Ok(())
    } else {
        Err(unauthorized())
    }
}

/// A token header (GitLab's `X-Gitlab-Token`) must equal `expected`: absent or empty → 401
/// `missing token`, different or sent twice → 401 `unauthorized`.
pub(super) fn check_token(
    expected: &Secret,
    header: &str,
    headers: &HeaderMap,
    source: Source,
) -> Result<(), Rejection> {
    let mut values = headers.get_all(header).iter();
    match (values.next(), values.next()) {
        (None, _) => Err(Rejection::unauthorized(source, MISSING_TOKEN)),
        (Some(v), None) if v.is_empty() => Err(Rejection::unauthorized(source, MISSING_TOKEN)),
        (Some(v), None) if expected.matches(v.as_bytes()) => Ok(()),
        _ => Err(Rejection::unauthorized(source, UNAUTHORIZED)),
    }
}

pub(super) const MISSING_TOKEN: &str = "missing token";

/// Hex digits, either case, to bytes; `None` on an odd length or any other byte.
fn decode_hex(hex: &[u8]) -> Option<Vec<u8>> {
    fn nibble(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    hex.chunks(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
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

    /// GitHub's published test vector ("Validating webhook deliveries"), and what must fail.
    #[test]
    fn hmac_signatures() {
        let secret = Secret::new("It's a Secret to Everybody");
        let body = b"Hello, World!";
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let schemes = [SignatureScheme {
            header: "x-hub-signature-256",
            prefix: "sha256=",
            hash: Hash::Sha256,
        }];
        let src = crate::receivers::azure::ACR;
        let with = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append("x-hub-signature-256", HeaderValue::from_str(v).unwrap());
            }
            h
        };
        assert!(check_signature(&secret, &schemes, &with(&[good]), body, src).is_ok());
        let upper = good.to_uppercase().replace("SHA256=", "sha256=");
        assert!(check_signature(&secret, &schemes, &with(&[&upper]), body, src).is_ok());
        let cases: [(&[&str], &[u8], &str); 8] = [
            (&[], body, MISSING_SIGNATURE),
            (&[""], body, MISSING_SIGNATURE),
            (&[good], b"Hello, World?", UNAUTHORIZED),
            (&[&good[7..]], body, UNAUTHORIZED),
            (&[&good.replace("sha256=", "sha1=")], body, UNAUTHORIZED),
            (&[&good[..good.len() - 1]], body, UNAUTHORIZED),
            (&["sha256=zz"], body, UNAUTHORIZED),
            (&[good, good], body, UNAUTHORIZED),
        ];
        for (values, body, msg) in cases {
            let r = check_signature(&secret, &schemes, &with(values), body, src).unwrap_err();
            assert_eq!((r.status, r.message.as_str()), (401, msg), "{values:?}");
        }
        // HMAC-SHA1 (Bitbucket's sha1=): RFC 2202 test case 2.
        let sha1 = [SignatureScheme {
            header: "x-hub-signature",
            prefix: "sha1=",
            hash: Hash::Sha1,
        }];
        let mut h = HeaderMap::new();
        h.insert(
            "x-hub-signature",
            HeaderValue::from_static("sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
        );
        let jefe = Secret::new("Jefe");
        assert!(check_signature(&jefe, &sha1, &h, b"what do ya want for nothing?", src).is_ok());
        assert!(check_signature(&jefe, &sha1, &h, b"what do ya want for nothing!", src).is_err());
    }

    #[test]
    fn token_header() {
        let s = Secret::new("glpat");
        let src = crate::receivers::azure::ACR;
        let with = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append("x-gitlab-token", HeaderValue::from_str(v).unwrap());
            }
            h
        };
        assert!(check_token(&s, "x-gitlab-token", &with(&["glpat"]), src).is_ok());
        for (values, msg) in [
            (&[][..], MISSING_TOKEN),
            (&[""][..], MISSING_TOKEN),
            (&["glpa"][..], UNAUTHORIZED),
            (&["GLPAT"][..], UNAUTHORIZED),
            (&["glpat", "glpat"][..], UNAUTHORIZED),
        ] {
            let r = check_token(&s, "x-gitlab-token", &with(values), src).unwrap_err();
            assert_eq!((r.status, r.message.as_str()), (401, msg), "{values:?}");
        }
    }

    #[test]
    fn header_secret() {
        let s = Secret::new("Bearer s3cr3t");
        let src = crate::receivers::azure::ACR;
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
        let (username, password) = (Secret::new("ado"), Secret::new("pa:ss"));
        let b = BasicAuth {
            username: &username,
            password: &password,
        };
        let src = crate::receivers::azure::AZURE_DEVOPS;
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
