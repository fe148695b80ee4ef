//! WATCH: a 200 response streaming newline-delimited `{"type", "object"}` events with a
//! resourceVersion above the one asked for, in revision order, one chunk per event. Without a
//! version (or with "0") the stream opens with a synthetic ADDED per existing object, as the real
//! server does. A version older than the retained history is answered with one ERROR event
//! carrying a 410 Expired Status (not an HTTP 410: clients re-list only on the event). The stream
//! ends cleanly at `timeoutSeconds` and is cut off, like a broken connection, on a drop.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Response};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::body::Body;
use crate::selector::Selector;
use crate::status::ApiError;
use crate::store::{Event, EventType, TypeId};
use crate::{lock, Shared};

pub(crate) struct WatchParams {
    pub type_id: TypeId,
    pub namespace: Option<String>,
    pub selector: Selector,
    pub resource_version: Option<String>,
    pub allow_bookmarks: bool,
    pub send_initial_events: bool,
    pub timeout: Duration,
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut v = json!({ "type": kind, "object": object })
        .to_string()
        .into_bytes();
    v.push(b'\n');
    Bytes::from(v)
}

/// The event a watcher with `selector` sees for `e`: objects moving into the selection appear
/// as ADDED and objects moving out as DELETED, as on a real server.
fn visible(e: &Event, selector: &Selector) -> Option<(&'static str, Value)> {
    let now = selector.matches(&e.object);
    let before = e.prev.as_ref().is_some_and(|p| selector.matches(p));
    let kind = match (e.kind, before, now) {
        (EventType::Added, _, true) => EventType::Added,
        (EventType::Modified, true, true) => EventType::Modified,
        (EventType::Modified, false, true) => EventType::Added,
        (EventType::Modified, true, false) => EventType::Deleted,
        (EventType::Deleted, true, _) => EventType::Deleted,
        _ => return None,
    };
    Some((kind.as_str(), e.object.clone()))
}

/// Decrements the open-watch count when the stream task ends, however it ends.
struct OpenWatch(Arc<Shared>);

impl Drop for OpenWatch {
    fn drop(&mut self) {
        self.0.open_watches.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(crate) fn start(shared: Arc<Shared>, p: WatchParams) -> Result<Response<Body>, ApiError> {
    let requested = match p.resource_version.as_deref() {
        None | Some("0") => None,
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {v}")))?,
        ),
    };
    // Subscribe before reading the store so no write between the two goes unnoticed.
    let mut revisions = shared.revision_tx.subscribe();
    let mut drops = shared.drop_tx.subscribe();
    let mut shutdown = shared.shutdown_tx.subscribe();
    let (kind, api_version) = {
        let store = lock(&shared.store);
        let t = &store.types[p.type_id];
        (t.kind.clone(), t.api_version())
    };
    let mut opening = Vec::new();
    let mut expired_at_start = false;
    let mut cursor;
    {
        let store = lock(&shared.store);
        match requested {
            Some(rv) if !p.send_initial_events => {
                cursor = rv;
                if let Err(e) = store.events_after(p.type_id, p.namespace.as_deref(), rv) {
                    opening.push(line("ERROR", &e.to_status()));
                    expired_at_start = true;
                }
            }
            _ => {
                for o in store.current(p.type_id, p.namespace.as_deref()) {
                    if p.selector.matches(&o) {
                        opening.push(line("ADDED", &o));
                    }
                }
                cursor = store.revision();
                if p.send_initial_events {
                    let bookmark = json!({"kind": kind, "apiVersion": api_version, "metadata": {
                        "resourceVersion": cursor.to_string(),
                        "annotations": {"k8s.io/initial-events-end": "true"}}});
                    opening.push(line("BOOKMARK", &bookmark));
                }
            }
        }
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, io::Error>>(64);
    shared.open_watches.fetch_add(1, Ordering::SeqCst);
    let guard = OpenWatch(shared.clone());
    let bookmark_every = shared.config.bookmark_interval;
    tokio::spawn(async move {
        let _guard = guard;
        for l in opening {
            if tx.send(Ok(l)).await.is_err() {
                return;
            }
        }
        if expired_at_start {
            return;
        }
        let deadline = tokio::time::Instant::now() + p.timeout;
        let mut bookmarks =
            tokio::time::interval_at(tokio::time::Instant::now() + bookmark_every, bookmark_every);
        loop {
            let batch = {
                let store = lock(&shared.store);
                store
                    .events_after(p.type_id, p.namespace.as_deref(), cursor)
                    .map(|events| (events, store.revision()))
            };
            match batch {
                Err(e) => {
                    let _ = tx.send(Ok(line("ERROR", &e.to_status()))).await;
                    return;
                }
                Ok((events, revision)) => {
                    for e in &events {
                        if let Some((kind, object)) = visible(e, &p.selector) {
                            if tx.send(Ok(line(kind, &object))).await.is_err() {
                                return;
                            }
                        }
                    }
                    cursor = cursor.max(revision);
                }
            }
            tokio::select! {
                biased;
                _ = drops.changed() => {
                    let _ = tx.send(Err(io::Error::new(io::ErrorKind::ConnectionAborted, "watch dropped by fake-kube"))).await;
                    return;
                }
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tx.closed() => return,
                changed = revisions.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = bookmarks.tick(), if p.allow_bookmarks => {
                    let bookmark = json!({"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": cursor.to_string()}});
                    if tx.send(Ok(line("BOOKMARK", &bookmark))).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    let mut resp = Response::new(Body::Stream(rx));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}
