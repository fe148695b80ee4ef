//! The object store: every object keyed by (type, namespace, name) in etcd's key order, one
//! global revision that each write increments (an object's resourceVersion is the revision of its
//! last write), and a bounded history of events from which watches resume and paginated lists read
//! consistent snapshots. A write that changes nothing is not a write: no revision, no event.

use std::collections::{BTreeMap, VecDeque};

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::resource::ResourceType;
use crate::selector::Selector;
use crate::status::ApiError;

/// Index of a registered type in [`Store::types`].
pub type TypeId = usize;
type Key = (TypeId, String, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One write, kept so watches can replay it and snapshots can undo it.
#[derive(Debug, Clone)]
pub struct Event {
    pub rv: u64,
    pub kind: EventType,
    pub type_id: TypeId,
    pub namespace: String,
    /// The object after the write (for DELETED: the final object at the deletion's revision).
    pub object: Value,
    /// The object before the write; `None` for a create.
    pub prev: Option<Value>,
}

/// How a patch body is to be read, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Json,
    StrategicMerge,
}

impl PatchKind {
    pub fn from_content_type(content_type: &str) -> Result<Self, ApiError> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        match media {
            "application/merge-patch+json" => Ok(PatchKind::Merge),
            "application/json-patch+json" => Ok(PatchKind::Json),
            "application/strategic-merge-patch+json" => Ok(PatchKind::StrategicMerge),
            _ => Err(ApiError::unsupported_media_type(content_type)),
        }
    }
}

/// What a LIST asks for beyond type and namespace.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub selector: Selector,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
}

/// One page of a LIST.
#[derive(Debug, Clone)]
pub struct ListPage {
    pub items: Vec<Value>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<usize>,
}

#[derive(Debug)]
pub struct Store {
    pub types: Vec<ResourceType>,
    objects: BTreeMap<Key, Value>,
    revision: u64,
    history: VecDeque<Event>,
    history_limit: usize,
    /// Events at or below this revision are no longer retained.
    compacted: u64,
    next_uid: u64,
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object["metadata"][field].as_str()
}

/// The object without the parts a spec change is not measured by.
fn spec_part(object: &Value) -> Value {
    let mut o = object.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    o
}

fn set_meta(object: &mut Value, field: &str, value: Value) {
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    object["metadata"][field] = value;
}

/// Secrets are stored with `data` only: the API server folds `stringData` in on every write.
fn fold_string_data(object: &mut Value) {
    let Some(m) = object.as_object_mut() else {
        return;
    };
    let Some(Value::Object(string_data)) = m.remove("stringData") else {
        return;
    };
    let data = m.entry("data").or_insert_with(|| Value::Object(Map::new()));
    if let Some(data) = data.as_object_mut() {
        for (k, v) in string_data {
            let s = v.as_str().unwrap_or_default();
            data.insert(
                k,
                json!(base64::engine::general_purpose::STANDARD.encode(s)),
            );
        }
    }
}

impl Store {
    pub fn new(types: Vec<ResourceType>, history_limit: usize) -> Self {
        Store {
            types,
            objects: BTreeMap::new(),
            revision: 1,
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            compacted: 1,
            next_uid: 1,
        }
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn compacted(&self) -> u64 {
        self.compacted
    }

    pub fn type_id(&self, group: &str, version: &str, plural: &str) -> Option<TypeId> {
        self.types
            .iter()
            .position(|t| t.group == group && t.version == version && t.plural == plural)
    }

    pub fn type_by_plural(&self, plural: &str) -> Option<TypeId> {
        self.types.iter().position(|t| t.plural == plural)
    }

    pub fn set_history_limit(&mut self, limit: usize) {
        self.history_limit = limit.max(1);
        self.trim();
    }

    /// Forget every event so far: watches and continue tokens from before now get 410.
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.revision;
    }

    fn trim(&mut self) {
        while self.history.len() > self.history_limit {
            if let Some(e) = self.history.pop_front() {
                self.compacted = e.rv;
            }
        }
    }

    fn record(
        &mut self,
        kind: EventType,
        type_id: TypeId,
        namespace: &str,
        object: Value,
        prev: Option<Value>,
    ) {
        self.history.push_back(Event {
            rv: self.revision,
            kind,
            type_id,
            namespace: namespace.to_string(),
            object,
            prev,
        });
        self.trim();
    }

    fn key(&self, t: TypeId, namespace: Option<&str>, name: &str) -> Key {
        let ns = if self.types[t].namespaced {
            namespace.unwrap_or("")
        } else {
            ""
        };
        (t, ns.to_string(), name.to_string())
    }

    pub fn get(&self, t: TypeId, namespace: Option<&str>, name: &str) -> Result<Value, ApiError> {
        self.objects
            .get(&self.key(t, namespace, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&self.types[t], name))
    }

    /// Objects of a type at revision `rv`: the current ones with every later retained event undone.
    fn snapshot(
        &self,
        t: TypeId,
        namespace: Option<&str>,
        rv: u64,
    ) -> Result<BTreeMap<Key, Value>, ApiError> {
        if rv < self.compacted {
            return Err(ApiError::too_old(rv, self.compacted + 1));
        }
        let in_scope = |k: &Key| k.0 == t && namespace.is_none_or(|ns| k.1 == ns);
        let mut objects: BTreeMap<Key, Value> = self
            .objects
            .iter()
            .filter(|(k, _)| in_scope(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for e in self.history.iter().rev().take_while(|e| e.rv > rv) {
            let name = meta_str(&e.object, "name").unwrap_or("").to_string();
            let key = (e.type_id, e.namespace.clone(), name);
            if !in_scope(&key) {
                continue;
            }
            match &e.prev {
                Some(prev) => objects.insert(key, prev.clone()),
                None => objects.remove(&key),
            };
        }
        Ok(objects)
    }

    pub fn list(
        &self,
        t: TypeId,
        namespace: Option<&str>,
        opts: &ListOptions,
    ) -> Result<ListPage, ApiError> {
        let (list_rv, after) = match &opts.continue_token {
            Some(token) => {
                // The token carries the version; the real server refuses a second one.
                if opts
                    .resource_version
                    .as_deref()
                    .is_some_and(|v| !v.is_empty() && v != "0")
                {
                    return Err(ApiError::bad_request(
                        "specifying resource version is not allowed when using continue",
                    ));
                }
                if opts.resource_version_match.is_some() {
                    return Err(ApiError::bad_request(
                        "resourceVersionMatch is forbidden when continue is provided",
                    ));
                }
                let (rv, after) = decode_continue(token)?;
                if rv < self.compacted {
                    return Err(ApiError::expired(
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                    ));
                }
                (rv, Some(after))
            }
            None => {
                let requested = opts
                    .resource_version
                    .as_deref()
                    .filter(|v| !v.is_empty() && *v != "0");
                let requested = match requested {
                    Some(v) => Some(v.parse::<u64>().map_err(|_| {
                        ApiError::bad_request(format!("invalid resource version: {v}"))
                    })?),
                    None => None,
                };
                match (opts.resource_version_match.as_deref(), requested) {
                    (Some("Exact"), Some(rv)) => (rv, None),
                    (Some("Exact"), None) => {
                        return Err(ApiError::bad_request(
                            "resourceVersionMatch: Exact requires a non-zero resourceVersion",
                        ))
                    }
                    (Some("NotOlderThan") | None, Some(rv)) if rv > self.revision => {
                        return Err(ApiError::new(
                            504,
                            "Timeout",
                            format!(
                                "Too large resource version: {rv}, current: {}",
                                self.revision
                            ),
                        ))
                    }
                    (Some("NotOlderThan") | None, _) => (self.revision, None),
                    (Some(other), _) => {
                        return Err(ApiError::bad_request(format!(
                            "unsupported resourceVersionMatch: {other}"
                        )))
                    }
                }
            }
        };
        if list_rv > self.revision {
            return Err(ApiError::new(
                504,
                "Timeout",
                format!(
                    "Too large resource version: {list_rv}, current: {}",
                    self.revision
                ),
            ));
        }
        // Objects are cloned only when they go into the page: a page of a large list stays cheap.
        let snapshot;
        let source: Box<dyn Iterator<Item = (&Key, &Value)>> = if list_rv == self.revision {
            let first = (t, String::new(), String::new());
            Box::new(
                self.objects
                    .range(first..)
                    .take_while(move |(k, _)| k.0 == t),
            )
        } else {
            snapshot = self.snapshot(t, namespace, list_rv)?;
            Box::new(snapshot.iter())
        };
        let mut matching = source
            .filter(|(k, _)| namespace.is_none_or(|ns| k.1 == ns))
            .filter(|(k, _)| after.as_ref().is_none_or(|a| (&k.1, &k.2) > (&a.0, &a.1)))
            .filter(|(_, v)| opts.selector.matches(v));
        let limit = opts.limit.filter(|l| *l > 0);
        let mut items = Vec::new();
        let mut last: Option<Key> = None;
        for (k, v) in matching.by_ref() {
            if limit.is_some_and(|l| items.len() >= l) {
                // One more exists: this page ends at `last`.
                let rest = 1 + matching.count();
                let token = last.map(|k| encode_continue(list_rv, &k.1, &k.2));
                return Ok(ListPage {
                    items,
                    resource_version: list_rv,
                    continue_token: token,
                    remaining: Some(rest),
                });
            }
            items.push(v.clone());
            last = Some(k.clone());
        }
        Ok(ListPage {
            items,
            resource_version: list_rv,
            continue_token: None,
            remaining: None,
        })
    }

    /// Events after `rv` for a type (and namespace), or 410 if some of them are no longer retained.
    pub fn events_after(
        &self,
        t: TypeId,
        namespace: Option<&str>,
        rv: u64,
    ) -> Result<Vec<Event>, ApiError> {
        if rv < self.compacted {
            return Err(ApiError::too_old(rv, self.compacted + 1));
        }
        let start = self.history.partition_point(|e| e.rv <= rv);
        Ok(self
            .history
            .range(start..)
            .filter(|e| e.type_id == t && namespace.is_none_or(|ns| e.namespace == ns))
            .cloned()
            .collect())
    }

    /// Every current object of a type (and namespace), for a watch that starts without a version.
    pub fn current(&self, t: TypeId, namespace: Option<&str>) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|(k, _)| k.0 == t && namespace.is_none_or(|ns| k.1 == ns))
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn create(
        &mut self,
        t: TypeId,
        namespace: Option<&str>,
        mut object: Value,
    ) -> Result<Value, ApiError> {
        let ty = self.types[t].clone();
        if !object.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request is not a JSON object",
            ));
        }
        let name = match (meta_str(&object, "name"), meta_str(&object, "generateName")) {
            (Some(n), _) if !n.is_empty() => n.to_string(),
            (_, Some(prefix)) => format!("{prefix}{:05x}", self.next_uid),
            _ => {
                return Err(ApiError::invalid(
                    &ty,
                    "",
                    "metadata.name: Required value: name or generateName is required",
                ))
            }
        };
        if ty.namespaced {
            let ns = namespace.unwrap_or("");
            if let Some(body_ns) = meta_str(&object, "namespace") {
                if !body_ns.is_empty() && body_ns != ns {
                    return Err(ApiError::bad_request("the namespace of the provided object does not match the namespace sent on the request"));
                }
            }
            if ns.is_empty() {
                return Err(ApiError::bad_request(
                    "a namespace is required to create this object",
                ));
            }
            set_meta(&mut object, "namespace", json!(ns));
        } else if let Some(m) = object["metadata"].as_object_mut() {
            m.remove("namespace");
        }
        let key = self.key(t, namespace, &name);
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(&ty, &name));
        }
        if let Some(o) = object.as_object_mut() {
            o.insert("apiVersion".into(), json!(ty.api_version()));
            o.insert("kind".into(), json!(ty.kind));
            if ty.status_subresource {
                o.remove("status");
            }
        }
        if ty.plural == "secrets" {
            fold_string_data(&mut object);
        }
        self.revision += 1;
        self.next_uid += 1;
        set_meta(&mut object, "name", json!(name));
        set_meta(
            &mut object,
            "uid",
            json!(format!("00000000-0000-4000-8000-{:012x}", self.next_uid)),
        );
        set_meta(&mut object, "creationTimestamp", json!(now_rfc3339()));
        set_meta(
            &mut object,
            "resourceVersion",
            json!(self.revision.to_string()),
        );
        if let Some(m) = object["metadata"].as_object_mut() {
            m.remove("generation");
            m.remove("deletionTimestamp");
        }
        if ty.custom {
            set_meta(&mut object, "generation", json!(1));
        }
        self.objects.insert(key.clone(), object.clone());
        self.record(EventType::Added, t, &key.1, object.clone(), None);
        Ok(object)
    }

    /// Stores `candidate` as the new state of an existing object, keeping what the server owns.
    /// Returns the stored object; when nothing changed it is the old one, at the old revision.
    fn commit(
        &mut self,
        t: TypeId,
        key: &Key,
        old: Value,
        mut candidate: Value,
        status_only: bool,
    ) -> Result<Value, ApiError> {
        let ty = &self.types[t];
        if !candidate.is_object() {
            return Err(ApiError::bad_request("the result is not a JSON object"));
        }
        let mut new = if status_only {
            let mut n = old.clone();
            match candidate.as_object_mut().and_then(|c| c.remove("status")) {
                Some(status) => n["status"] = status,
                None => {
                    if let Some(m) = n.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            n
        } else {
            if ty.status_subresource {
                if let Some(c) = candidate.as_object_mut() {
                    match old.get("status") {
                        Some(s) => c.insert("status".into(), s.clone()),
                        None => c.remove("status"),
                    };
                }
            }
            candidate
        };
        if !status_only && ty.plural == "secrets" {
            fold_string_data(&mut new);
        }
        if !new["metadata"].is_object() {
            new["metadata"] = json!({});
        }
        for field in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "generation",
            "resourceVersion",
        ] {
            match old["metadata"].get(field) {
                Some(v) => new["metadata"][field] = v.clone(),
                None => {
                    if let Some(m) = new["metadata"].as_object_mut() {
                        m.remove(field);
                    }
                }
            }
        }
        new["apiVersion"] = old["apiVersion"].clone();
        new["kind"] = old["kind"].clone();
        if new == old {
            return Ok(old);
        }
        if ty.custom && spec_part(&new) != spec_part(&old) {
            let generation = old["metadata"]["generation"].as_u64().unwrap_or(1);
            new["metadata"]["generation"] = json!(generation + 1);
        }
        self.revision += 1;
        new["metadata"]["resourceVersion"] = json!(self.revision.to_string());
        self.objects.insert(key.clone(), new.clone());
        self.record(EventType::Modified, t, &key.1, new.clone(), Some(old));
        Ok(new)
    }

    fn precondition(
        &self,
        t: TypeId,
        name: &str,
        old: &Value,
        body: &Value,
    ) -> Result<(), ApiError> {
        match meta_str(body, "resourceVersion") {
            Some(rv) if !rv.is_empty() && Some(rv) != meta_str(old, "resourceVersion") => {
                Err(ApiError::conflict(&self.types[t], name))
            }
            _ => Ok(()),
        }
    }

    /// PUT: replace the object (or only its status), with the resourceVersion precondition.
    pub fn replace(
        &mut self,
        t: TypeId,
        namespace: Option<&str>,
        name: &str,
        body: Value,
        status_only: bool,
    ) -> Result<Value, ApiError> {
        let key = self.key(t, namespace, name);
        let old = self.get(t, namespace, name)?;
        let ty = &self.types[t];
        if let Some(body_name) = meta_str(&body, "name") {
            if body_name != name {
                return Err(ApiError::bad_request(
                    "the name of the object does not match the name on the URL",
                ));
            }
        }
        if ty.custom && meta_str(&body, "resourceVersion").is_none_or(str::is_empty) {
            return Err(ApiError::invalid(
                ty,
                name,
                "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
            ));
        }
        self.precondition(t, name, &old, &body)?;
        self.commit(t, &key, old, body, status_only)
    }

    /// PATCH: apply a merge or JSON patch to the stored object; never creates.
    pub fn patch(
        &mut self,
        t: TypeId,
        namespace: Option<&str>,
        name: &str,
        kind: PatchKind,
        body: &Value,
        status_only: bool,
    ) -> Result<Value, ApiError> {
        let ty = &self.types[t];
        if kind == PatchKind::StrategicMerge && ty.custom {
            return Err(ApiError::unsupported_media_type(
                "application/strategic-merge-patch+json",
            ));
        }
        let key = self.key(t, namespace, name);
        let old = self.get(t, namespace, name)?;
        let mut candidate = old.clone();
        match kind {
            // Core types here carry no list-merge keys that a strategic merge would treat
            // differently from a JSON merge patch, so the two coincide.
            PatchKind::Merge | PatchKind::StrategicMerge => {
                if !body.is_object() {
                    return Err(ApiError::bad_request("a merge patch must be a JSON object"));
                }
                self.precondition(t, name, &old, body)?;
                json_patch::merge(&mut candidate, body);
            }
            PatchKind::Json => {
                let ops: json_patch::Patch = serde_json::from_value(body.clone())
                    .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
                json_patch::patch(&mut candidate, &ops).map_err(|e| {
                    ApiError::invalid(
                        ty,
                        name,
                        format!("the JSON patch could not be applied: {e}"),
                    )
                })?;
                self.precondition(t, name, &old, &candidate)?;
            }
        }
        self.commit(t, &key, old, candidate, status_only)
    }

    pub fn delete(
        &mut self,
        t: TypeId,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        self.delete_checked(t, namespace, name, &Value::Null)
    }

    /// DELETE with the `preconditions` (`uid`, `resourceVersion`) of a DeleteOptions body.
    pub fn delete_checked(
        &mut self,
        t: TypeId,
        namespace: Option<&str>,
        name: &str,
        preconditions: &Value,
    ) -> Result<Value, ApiError> {
        let key = self.key(t, namespace, name);
        let Some(current) = self.objects.get(&key) else {
            return Err(ApiError::not_found(&self.types[t], name));
        };
        for field in ["uid", "resourceVersion"] {
            if let Some(want) = preconditions[field].as_str() {
                let have = current["metadata"][field].as_str().unwrap_or("");
                if want != have {
                    let mut e = ApiError::conflict(&self.types[t], name);
                    e.message = format!(
                        "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: {field} in precondition: {want}, {field} in object meta: {have}",
                        self.types[t].qualified()
                    );
                    return Err(e);
                }
            }
        }
        let Some(old) = self.objects.remove(&key) else {
            return Err(ApiError::not_found(&self.types[t], name));
        };
        self.revision += 1;
        let mut last = old.clone();
        last["metadata"]["resourceVersion"] = json!(self.revision.to_string());
        self.record(EventType::Deleted, t, &key.1, last.clone(), Some(old));
        Ok(last)
    }
}

fn encode_continue(rv: u64, namespace: &str, name: &str) -> String {
    let raw = json!({ "rv": rv, "start": [namespace, name] }).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(token: &str) -> Result<(u64, (String, String)), ApiError> {
    let bad = || ApiError::bad_request("continue key is not valid");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rv = v["rv"].as_u64().ok_or_else(bad)?;
    let ns = v["start"][0].as_str().ok_or_else(bad)?.to_string();
    let name = v["start"][1].as_str().ok_or_else(bad)?.to_string();
    Ok((rv, (ns, name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::kargo_types;

    fn rv(o: &Value) -> u64 {
        o["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    #[test]
    fn snapshots_undo_later_writes_and_compaction_expires_history() {
        let mut s = Store::new(kargo_types(), 100);
        let t = s.type_by_plural("warehouses").unwrap();
        let ns = Some("p");
        let w = |name: &str| json!({"metadata": {"name": name}, "spec": {"v": 1}});
        s.create(t, ns, w("a")).unwrap();
        let b = s.create(t, ns, w("b")).unwrap();
        let at = s.revision();
        s.patch(
            t,
            ns,
            "a",
            PatchKind::Merge,
            &json!({"spec": {"v": 2}}),
            false,
        )
        .unwrap();
        s.delete(t, ns, "b").unwrap();
        s.create(t, ns, w("c")).unwrap();
        let opts = ListOptions {
            resource_version: Some(at.to_string()),
            resource_version_match: Some("Exact".into()),
            ..Default::default()
        };
        let then = s.list(t, ns, &opts).unwrap();
        let names: Vec<&str> = then
            .items
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(then.items[0]["spec"]["v"], 1);
        assert_eq!(then.items[1], b);
        let events = s.events_after(t, None, at).unwrap();
        let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [EventType::Modified, EventType::Deleted, EventType::Added]
        );
        assert!(events.windows(2).all(|w| w[0].rv + 1 == w[1].rv));
        s.compact();
        assert_eq!(s.events_after(t, None, at).unwrap_err().code, 410);
        assert!(s.events_after(t, None, s.revision()).unwrap().is_empty());
        assert_eq!(s.list(t, ns, &opts).unwrap_err().code, 410);
    }

    #[test]
    fn only_real_changes_are_writes() {
        let mut s = Store::new(kargo_types(), 2);
        let t = s.type_by_plural("warehouses").unwrap();
        let ns = Some("p");
        let created = s
            .create(t, ns, json!({"metadata": {"name": "a"}, "spec": {}}))
            .unwrap();
        let annotate = json!({"metadata": {"annotations": {"k": "v"}}});
        let first = s
            .patch(t, ns, "a", PatchKind::Merge, &annotate, false)
            .unwrap();
        assert_eq!(rv(&first), rv(&created) + 1);
        assert_eq!(first["metadata"]["generation"], 1);
        let again = s
            .patch(t, ns, "a", PatchKind::Merge, &annotate, false)
            .unwrap();
        assert_eq!(again, first);
        assert_eq!(s.revision(), rv(&first));
        // Server-owned metadata cannot be patched.
        let owned = json!({"metadata": {"uid": "x", "generation": 9, "creationTimestamp": "y"}});
        assert_eq!(
            s.patch(t, ns, "a", PatchKind::Merge, &owned, false)
                .unwrap(),
            first
        );
        let spec = s
            .patch(
                t,
                ns,
                "a",
                PatchKind::Merge,
                &json!({"spec": {"x": 1}}),
                false,
            )
            .unwrap();
        assert_eq!(spec["metadata"]["generation"], 2);
        // History of two: the create has been trimmed away.
        assert_eq!(
            s.events_after(t, None, rv(&created) - 1).unwrap_err().code,
            410
        );
        assert_eq!(s.events_after(t, None, rv(&created)).unwrap().len(), 2);
    }
}
