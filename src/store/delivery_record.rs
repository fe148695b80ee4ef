//! The stored form of a delivery, the same for every backend: what bounds the size of one
//! record, and what is stored once.
//!
//! - Every string is capped at `MAX_FIELD_BYTES` and every list at `MAX_LIST_ENTRIES`; what is
//!   cut is replaced by a visible marker (`…[truncated 2097152 bytes]`, `…[truncated 3 more
//!   entries]`). A delivery is never refused for its size: its sender would only retry it.
//! - The explanation and the repositories are derived from the matching result (`detail`), so
//!   when they say nothing more they are left out of the stored body and derived again on read.
//! - A body still over `MAX_RECORD_BYTES` (a configuration where one repository has very many
//!   subscribers) keeps its explanation and leaves the matching result out, saying so.
//!
//! So one stored delivery is at most about `MAX_RECORD_BYTES`, whatever its payload was.
//!
//! The kept request (`Delivery::payload`) is stored beside the record, not in it: its body is
//! bounded by `--max-body-bytes` when read, its headers by `MAX_FIELD_BYTES` and
//! `MAX_LIST_ENTRIES` when kept (`delivery.rs`). The reported artifacts are capped here.

use dockhand_core::index::{explain_misses, TargetResult};
use serde_json::Value;

use super::{Delivery, Payload, ReportedArtifact, StoreError};

/// Largest stored string (a tag, a repository URL, a message line, a provider id, a query).
/// Tags are at most 128 bytes and repository names a few hundred; 2 KiB leaves room for git refs
/// and messages while a payload of 2 MiB strings costs kilobytes.
pub const MAX_FIELD_BYTES: usize = 2048;

/// Most entries kept in one list (repositories, tags, explanation lines, matching targets and
/// their candidates).
pub const MAX_LIST_ENTRIES: usize = 32;

/// Largest stored delivery body; over it, the matching result is left out.
pub const MAX_RECORD_BYTES: usize = 256 * 1024;

/// Cuts `s` to `MAX_FIELD_BYTES` (on a character boundary) and says how much was cut.
pub fn cap_string(s: &mut String) {
    if s.len() <= MAX_FIELD_BYTES {
        return;
    }
    let mut keep = MAX_FIELD_BYTES;
    while !s.is_char_boundary(keep) {
        keep -= 1;
    }
    let removed = s.len() - keep;
    s.truncate(keep);
    s.push_str(&format!("…[truncated {removed} bytes]"));
}

/// Caps every entry of `list` and the number of entries, the last one saying how many were cut.
fn cap_list(list: &mut Vec<String>) {
    if list.len() > MAX_LIST_ENTRIES {
        let removed = list.len() - (MAX_LIST_ENTRIES - 1);
        list.truncate(MAX_LIST_ENTRIES - 1);
        list.push(format!("…[truncated {removed} more entries]"));
    }
    list.iter_mut().for_each(cap_string);
}

/// Caps every string and array inside a JSON value (arrays lose their tail: a typed list has no
/// room for a marker, and the capped repositories list says how many there were).
fn cap_value(v: &mut Value) {
    match v {
        Value::String(s) => cap_string(s),
        Value::Array(items) => {
            items.truncate(MAX_LIST_ENTRIES);
            items.iter_mut().for_each(cap_value);
        }
        Value::Object(map) => map.values_mut().for_each(cap_value),
        _ => {}
    }
}

/// The matching result read from the detail in place (a `&Value` is a deserializer: no copy of
/// the tree is made first).
fn targets_of(detail: &Value) -> Option<Vec<TargetResult>> {
    use serde::Deserialize;
    Vec::<TargetResult>::deserialize(detail).ok()
}

/// The repositories a matching result names, once each, in order (as `delivery.rs` lists them).
fn repositories_of(targets: &[TargetResult]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in targets {
        if !out.contains(&t.repo_url) {
            out.push(t.repo_url.clone());
        }
    }
    out
}

/// The body a backend stores for `delivery`: capped, derived fields left out.
pub fn encode(delivery: &Delivery) -> Result<String, StoreError> {
    encode_owned(delivery.clone())
}

/// `encode` for a delivery the caller is done with: no copy of it is made (the ingest path
/// calls this once per delivery, after taking the payload out).
pub fn encode_owned(mut d: Delivery) -> Result<String, StoreError> {
    // Compared before capping: a field is left out only when deriving it gives it back.
    let targets = targets_of(&d.detail).filter(|t| t.len() <= MAX_LIST_ENTRIES);
    let derive_explanation = targets
        .as_ref()
        .is_some_and(|t| explain_misses(t) == d.explanation);
    let derive_repositories = targets
        .as_ref()
        .is_some_and(|t| repositories_of(t) == d.repositories);

    // What the fallback below starts from, as it was before capping (usually empty).
    let uncapped_explanation = d.explanation.clone();
    for s in [&mut d.message, &mut d.receiver_type].into_iter() {
        cap_string(s);
    }
    for s in [&mut d.event_type, &mut d.provider_id, &mut d.query]
        .into_iter()
        .flatten()
    {
        cap_string(s);
    }
    for list in [
        &mut d.repositories,
        &mut d.qualifiers,
        &mut d.refreshed,
        &mut d.explanation,
    ] {
        cap_list(list);
    }
    cap_value(&mut d.detail);

    // Written straight to text, without a JSON tree of the record: a derivable list is emptied
    // and its key, which then reads exactly `,"name":[]`, cut out. Nothing else can match first:
    // every field before these two is a string, a number or a list of strings (quotes in them
    // escaped), and the detail comes after them.
    let repositories = derive_repositories.then(|| std::mem::take(&mut d.repositories));
    if derive_explanation {
        d.explanation.clear();
    }
    let mut text = serde_json::to_string(&d)?;
    for (derived, key) in [
        (derive_repositories, ",\"repositories\":[]"),
        (derive_explanation, ",\"explanation\":[]"),
    ] {
        if let Some(at) = text.find(key).filter(|_| derived) {
            text.replace_range(at..at + key.len(), "");
        }
    }
    if text.len() <= MAX_RECORD_BYTES {
        return Ok(text);
    }
    // Too many candidates to keep: the explanation (capped) stands in for the result.
    let mut explanation = uncapped_explanation;
    explanation.push(format!(
        "…[matching detail left out: the record was {} bytes, over {MAX_RECORD_BYTES}]",
        text.len()
    ));
    cap_list(&mut explanation);
    d.explanation = explanation;
    if let Some(r) = repositories {
        d.repositories = r;
    }
    d.detail = Value::Null;
    Ok(serde_json::to_string(&d)?)
}

/// A kept request as a backend stores it: headers as a JSON list of `[name, value]`, the body
/// as bytes, and what it costs in the byte budget.
pub struct EncodedPayload {
    pub headers: String,
    pub body: Vec<u8>,
    pub trimmed: Option<String>,
    pub bytes: i64,
}

/// Takes the kept request out of its delivery, in its stored form. Taken out first, the
/// record's encoding then copies the delivery without the request; the body is moved, not
/// copied, so it is copied once on the way in (from the request) and bound once as a BLOB.
pub fn take_payload(delivery: &mut Delivery) -> Result<Option<EncodedPayload>, StoreError> {
    delivery.payload.take().map(encode_payload).transpose()
}

fn encode_payload(p: Payload) -> Result<EncodedPayload, StoreError> {
    let bytes = i64::try_from(p.stored_bytes()).unwrap_or(i64::MAX);
    Ok(EncodedPayload {
        headers: serde_json::to_string(&p.headers)?,
        body: p.body,
        trimmed: p.trimmed,
        bytes,
    })
}

/// A kept request read back (headers that cannot be read give an empty list).
pub fn decode_payload(headers: &str, body: Vec<u8>, trimmed: Option<String>) -> Payload {
    Payload {
        headers: serde_json::from_str(headers).unwrap_or_default(),
        body,
        trimmed,
    }
}

/// The artifacts of `delivery` as stored: at most `MAX_LIST_ENTRIES`, every string capped.
pub fn capped_artifacts(delivery: &Delivery) -> Vec<ReportedArtifact> {
    let mut list: Vec<ReportedArtifact> = delivery
        .artifacts
        .iter()
        .take(MAX_LIST_ENTRIES)
        .cloned()
        .collect();
    for a in &mut list {
        cap_string(&mut a.repository);
        for s in [&mut a.tag, &mut a.digest].into_iter().flatten() {
            cap_string(s);
        }
    }
    list
}

/// A delivery read back from `body`, with the fields `encode` left out derived again.
pub fn decode(body: &str) -> Result<Delivery, serde_json::Error> {
    let mut value: Value = serde_json::from_str(body)?;
    if let Value::Object(map) = &mut value {
        let no_explanation = !map.contains_key("explanation");
        let no_repositories = !map.contains_key("repositories");
        if no_explanation || no_repositories {
            let targets = map.get("detail").and_then(targets_of).unwrap_or_default();
            if no_explanation {
                let mut lines = explain_misses(&targets);
                cap_list(&mut lines);
                map.insert("explanation".into(), lines.into());
            }
            if no_repositories {
                map.insert("repositories".into(), repositories_of(&targets).into());
            }
        }
    }
    serde_json::from_value(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_cut_on_a_character_boundary_with_the_count() {
        let mut s = "é".repeat(MAX_FIELD_BYTES); // two bytes each
        cap_string(&mut s);
        let removed = 2 * MAX_FIELD_BYTES - MAX_FIELD_BYTES;
        assert!(s.ends_with(&format!("…[truncated {removed} bytes]")), "{s}");
        // One byte then two-byte characters: the cut moves back one byte to a boundary.
        let mut odd = format!("x{}", "é".repeat(MAX_FIELD_BYTES));
        cap_string(&mut odd);
        assert!(odd.starts_with('x'));
        assert!(odd.ends_with(&format!("é…[truncated {} bytes]", MAX_FIELD_BYTES + 2)));
        let mut short = "1.0.0".to_string();
        cap_string(&mut short);
        assert_eq!(short, "1.0.0");
    }

    #[test]
    fn lists_keep_a_marker_entry() {
        let mut l: Vec<String> = (0..100).map(|n| n.to_string()).collect();
        cap_list(&mut l);
        assert_eq!(l.len(), MAX_LIST_ENTRIES);
        assert_eq!(l[MAX_LIST_ENTRIES - 2], (MAX_LIST_ENTRIES - 2).to_string());
        assert_eq!(
            l[MAX_LIST_ENTRIES - 1],
            format!("…[truncated {} more entries]", 100 - MAX_LIST_ENTRIES + 1)
        );
    }

    #[test]
    fn explanation_and_repositories_are_stored_once_in_the_matching_result() {
        use dockhand_core::index::Candidate;
        let targets = vec![TargetResult {
            repo_url: "example.azurecr.io/app".into(),
            normalized: Ok("example.azurecr.io/app".into()),
            candidates: vec![Candidate {
                project: "p".into(),
                warehouse: "w".into(),
                subscription: 0,
                repo_url: "example.azurecr.io/app".into(),
                matched: false,
                reason: Some("tag 9.9.9 does not satisfy ^1.0.0".into()),
            }],
        }];
        let d = Delivery {
            id: "d1".into(),
            received_at: "2026-11-26T10:00:00.000Z".into(),
            project: "p".into(),
            receiver: "r".into(),
            receiver_type: "azure".into(),
            source: dockhand_core::receivers::azure::ACR,
            event_type: Some("push".into()),
            provider_id: None,
            query: None,
            status: 200,
            outcome: dockhand_core::event::Outcome::Unmatched,
            message: "refreshed 0 warehouse(s)".into(),
            repositories: repositories_of(&targets),
            qualifiers: vec!["9.9.9".into()],
            refreshed: vec![],
            explanation: explain_misses(&targets),
            detail: serde_json::to_value(&targets).unwrap(),
            duration_micros: 1,
            refreshes: Vec::new(),
            replay_of: None,
            payload: None,
            artifacts: Vec::new(),
        };
        let body = encode(&d).unwrap();
        assert_eq!(body.matches("does not satisfy").count(), 1, "{body}");
        assert!(!body.contains("\"explanation\""), "{body}");
        assert!(!body.contains("\"repositories\""), "{body}");
        assert_eq!(decode(&body).unwrap(), d);
        // An explanation that says something else is kept as it is.
        let mut other = d.clone();
        other.explanation = vec!["something else".into()];
        assert_eq!(decode(&encode(&other).unwrap()).unwrap(), other);

        // Over MAX_RECORD_BYTES: the detail goes, the explanation (counted before capping, the
        // left-out marker included) stands in for it.
        let mut big = d.clone();
        big.explanation = (0..40).map(|n| format!("line {n}")).collect();
        big.detail = Value::Object(
            (0..200)
                .map(|n| (format!("k{n}"), Value::String("x".repeat(MAX_FIELD_BYTES))))
                .collect(),
        );
        let stored = decode(&encode(&big).unwrap()).unwrap();
        assert_eq!(stored.detail, Value::Null);
        assert_eq!(stored.explanation.len(), MAX_LIST_ENTRIES);
        assert_eq!(stored.explanation[MAX_LIST_ENTRIES - 2], "line 30");
        assert_eq!(
            stored.explanation[MAX_LIST_ENTRIES - 1],
            format!("…[truncated {} more entries]", 41 - (MAX_LIST_ENTRIES - 1))
        );
    }
}
