//! The azure receiver's common case read in one pass: an ACR `push` webhook (the `User-Agent`
//! said ACR) read straight from the body into the few fields it needs, without building a JSON
//! tree of the whole body first.
//!
//! It only ever answers the plain case, and answers it exactly as the full reader
//! (`acr_delivery` over `payload::parse_json`) would: whenever it returns an event, the full
//! reader returns the same event. Anything else — another action, a missing or empty field, a
//! field of another type (a numeric `id` too), a body that is not JSON — is `None`, and the
//! full reader answers it with its own errors and wording. To accept exactly the bodies the
//! full reader accepts, every value not read is still parsed as the tree parse would
//! (`Checked`: strings unescaped and their surrogates checked, numbers range-checked, the same
//! nesting limit), the body must be UTF-8 first, and a key given twice counts as its last
//! value, as in a JSON tree.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::super::media_type::oci_kinds;
use super::ACR;
use crate::event::{Action, Event};

/// The event the full reader gives `body` when it is a plain ACR push; `None` otherwise.
pub(super) fn read(body: &[u8]) -> Option<Event> {
    let text = std::str::from_utf8(body).ok()?;
    let push: Push<'_> = serde_json::from_str(text).ok()?;
    if push.action.as_deref() != Some("push") {
        return None;
    }
    let target = push.target?;
    let repository = target.repository.filter(|r| !r.is_empty())?;
    let host = push.request?.host.filter(|h| !h.is_empty())?;
    let tag = target.tag.unwrap_or_default();
    let (image, chart) = oci_kinds(target.media_type.as_deref());
    Some(Event {
        source: ACR,
        event_type: "push".to_owned(),
        provider_id: push.id.filter(|i| !i.is_empty()).map(Cow::into_owned),
        action: Action::Refresh(vec![super::push_target(
            &host,
            &repository,
            &tag,
            image,
            chart,
        )]),
    })
}

/// The body's fields an ACR push reads; `None` is absent or `null`, as for the full reader.
#[derive(Default)]
struct Push<'a> {
    action: Option<Cow<'a, str>>,
    id: Option<Cow<'a, str>>,
    target: Option<PushTarget<'a>>,
    request: Option<PushRequest<'a>>,
}

#[derive(Default)]
struct PushTarget<'a> {
    repository: Option<Cow<'a, str>>,
    tag: Option<Cow<'a, str>>,
    media_type: Option<Cow<'a, str>>,
}

#[derive(Default)]
struct PushRequest<'a> {
    host: Option<Cow<'a, str>>,
}

/// A JSON string, borrowed from the body when it has no escapes. Any other type is an error
/// (the full reader then names the field).
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// Any JSON value, parsed exactly as the tree parse would parse it and then dropped.
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_none<E: de::Error>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Checked, D::Error> {
        Checked::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        // Keys are parsed as strings, as a tree's keys are.
        while map.next_key::<Text<'de>>()?.is_some() {
            map.next_value::<Checked>()?;
        }
        Ok(Checked)
    }
}

/// Implements `Deserialize` for one of the structs above: a JSON object (anything else is an
/// error), each known key read as its field's type (the last of a repeated key wins), every
/// other value `Checked`.
macro_rules! object {
    ($ty:ident, $expecting:literal, { $($key:literal => $field:ident : $read:ty),+ $(,)? }) => {
        impl<'de> Deserialize<'de> for $ty<'de> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty<'de>;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$ty<'de>, A::Error> {
                        let mut out = $ty::default();
                        while let Some(key) = map.next_key::<Text<'de>>()? {
                            match &*key.0 {
                                $($key => out.$field = map.next_value::<Option<$read>>()?.map(Into::into),)+
                                _ => {
                                    map.next_value::<Checked>()?;
                                }
                            }
                        }
                        Ok(out)
                    }
                }
                d.deserialize_map(V)
            }
        }
    };
}

impl<'a> From<Text<'a>> for Cow<'a, str> {
    fn from(t: Text<'a>) -> Self {
        t.0
    }
}

object!(Push, "an ACR webhook body", {
    "action" => action: Text<'de>,
    "id" => id: Text<'de>,
    "target" => target: PushTarget<'de>,
    "request" => request: PushRequest<'de>,
});

object!(PushTarget, "an ACR push target", {
    "repository" => repository: Text<'de>,
    "tag" => tag: Text<'de>,
    "mediaType" => media_type: Text<'de>,
});

object!(PushRequest, "an ACR push request", {
    "host" => host: Text<'de>,
});

#[cfg(test)]
mod tests {
    use super::super::super::payload;
    use super::super::acr_delivery;
    use super::read;
    use crate::event::Event;

    /// The full reader's event for `body`, or `None` when it rejects it.
    fn full(body: &[u8]) -> Option<Event> {
        let value = payload::parse_json(body).ok()?;
        acr_delivery(&value).ok()
    }

    /// The ACR push fixture with `from` replaced by `to`.
    fn push_with(from: &str, to: &str) -> String {
        let body = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/acr-push.json"
        ));
        assert!(body.contains(from), "the fixture has {from}");
        body.replacen(from, to, 1)
    }

    const HOST: &str = r#""host": "myregistry.azurecr.io""#;
    const TAG: &str = r#""tag": "v1""#;
    const ID: &str = r#""id": "cb8c3971-9adc-488b-bdd8-43cbb4974ff5""#;
    const ACTION: &str = r#""action": "push""#;

    #[test]
    fn a_plain_push_is_read_in_one_pass_exactly_as_the_full_reader_reads_it() {
        let mut answered = Vec::new();
        for body in [
            push_with(TAG, TAG),
            push_with(
                TAG,
                r#""tag": "", "size2": [1, 2.5, -3, true, null, {"a": []}]"#,
            ),
            push_with(TAG, r#""tag": null"#),
            push_with(ID, r#""id": """#),
            push_with(ID, r#""id": null"#),
            // Escapes are unescaped, in values and in keys.
            push_with(TAG, r#""t\u0061g": "v\u00e9\n1""#),
            push_with(HOST, r#""host": "my\/registry""#),
            // A repeated key counts as its last value, as in a JSON tree.
            push_with(ACTION, r#""action": "delete", "action": "push""#),
            push_with(TAG, r#""tag": "old", "tag": "new""#),
            push_with(HOST, r#""host": "", "host": "second.example""#),
            // No mediaType: either kind.
            push_with(r#""mediaType""#, r#""otherType""#),
            push_with(
                r#""mediaType": "application/vnd.docker.distribution.manifest.v2+json""#,
                r#""mediaType": "application/vnd.cncf.helm.config.v1+json""#,
            ),
        ] {
            let fast = read(body.as_bytes());
            assert!(fast.is_some(), "read in one pass: {body}");
            assert_eq!(fast, full(body.as_bytes()), "{body}");
            answered.push(fast);
        }
        assert_eq!(
            answered[2], answered[1],
            "a null tag is no tag, as an empty one"
        );
    }

    #[test]
    fn anything_but_a_plain_push_is_left_to_the_full_reader() {
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let mut bodies = vec![
            push_with(ACTION, r#""action": "delete""#),
            push_with(ACTION, r#""action": "ping""#),
            push_with(ACTION, r#""action": "push", "action": "quarantine""#),
            push_with(ACTION, r#""action": 5"#),
            push_with(ID, r#""id": 42"#),
            push_with(ID, r#""id": ["x"]"#),
            push_with(TAG, r#""tag": 1"#),
            push_with(HOST, r#""host": """#),
            push_with(HOST, r#""host": null"#),
            push_with(HOST, r#""host": {"a": 1}"#),
            push_with(r#""repository": "hello-world""#, r#""repository": """#),
            push_with(r#""target": {"#, r#""target": null, "t": {"#),
            push_with(r#""request": {"#, r#""request": [], "r": {"#),
            // Bodies the tree parse refuses, in places the push does not read.
            push_with(TAG, r#""tag": "v1", "lone": "\ud800""#),
            push_with(TAG, r#""tag": "v1", "big": 1e400"#),
            push_with(TAG, &format!(r#""tag": "v1", "deep": {deep}"#)),
            push_with(TAG, r#""tag": "v1", "bad": tru"#),
            format!("{} trailing", push_with(TAG, TAG)),
            "[]".to_owned(),
            "  ".to_owned(),
            String::new(),
        ];
        bodies.push(push_with(TAG, TAG).replace('{', "[").replace('}', "]"));
        for body in &bodies {
            assert_eq!(read(body.as_bytes()), None, "{body}");
        }
        // Not UTF-8 inside a string the push does not read.
        let mut bytes = push_with(TAG, r#""tag": "v1", "x": "AB""#).into_bytes();
        let at = bytes.windows(2).position(|w| w == b"AB").unwrap_or(0);
        bytes[at] = 0xff;
        assert_eq!(read(&bytes), None);
        assert_eq!(full(&bytes), None, "the tree parse refuses it too");
    }
}
