//! The HTTP side: authentication, path routing (`/api/v1/...`, `/apis/{g}/{v}/...`, namespaced
//! and cluster-wide), RBAC, injected faults, the verbs, discovery documents, and the journal entry
//! every answered request leaves.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use serde_json::{json, Value};

use crate::body::Body;
use crate::fault::Verb;
use crate::journal::JournalEntry;
use crate::rbac::{Attributes, Identity};
use crate::selector::Selector;
use crate::status::ApiError;
use crate::store::{ListOptions, PatchKind, TypeId};
use crate::{lock, watch, Shared};

/// Larger request bodies get 413, like the real server's 3 MiB limit.
const MAX_BODY: usize = 3 * 1024 * 1024;

/// Decoded `key=value` pairs of a query string.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn json_response(status: u16, value: &Value) -> Response<Body> {
    let mut resp = Response::new(Body::Full(Some(Bytes::from(value.to_string()))));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp
}

fn error_response(e: &ApiError) -> Response<Body> {
    let mut resp = json_response(e.code, &e.to_status());
    if let Some(secs) = e.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    }
    resp
}

struct ApiRequest {
    method: Method,
    path: String,
    query: String,
    params: Vec<(String, String)>,
    content_type: Option<String>,
    body: Bytes,
}

impl ApiRequest {
    fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn json_body(&self) -> Result<Value, ApiError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body of the request could not be decoded as JSON: {e}"
            ))
        })
    }
}

/// Answers one request and journals it.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let (parts, body) = req.into_parts();
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let query = parts.uri.query().unwrap_or("").to_string();
    let (body, too_large) = match http_body_util::Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => (b.to_bytes(), false),
        Err(_) => (Bytes::new(), true),
    };
    let request = ApiRequest {
        method: parts.method.clone(),
        path: parts.uri.path().to_string(),
        params: query_pairs(&query),
        query,
        content_type,
        body,
    };
    let identity = bearer.and_then(|t| lock(&shared.tokens).get(&t).cloned());
    let response = match &identity {
        None => error_response(&ApiError::unauthorized()),
        Some(_) if too_large => error_response(&ApiError::new(
            413,
            "RequestEntityTooLarge",
            "the request body is too large",
        )),
        Some(_) if request.param("dryRun").is_some() => error_response(&ApiError::bad_request(
            "dryRun is not supported by fake-kube",
        )),
        Some(id) => route(&shared, id, &request).unwrap_or_else(|e| error_response(&e)),
    };
    lock(&shared.journal).push(JournalEntry {
        at: SystemTime::now(),
        identity: identity.map(|i| i.name),
        method: request.method.to_string(),
        path: request.path,
        query: request.query,
        content_type: request.content_type,
        body: String::from_utf8_lossy(&request.body).into_owned(),
        status: response.status().as_u16(),
    });
    Ok(response)
}

/// A request for objects of one type.
struct Target {
    type_id: TypeId,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

fn not_found_path() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

/// One authenticated request: discovery, or resolve the path, authorize, inject faults, execute.
fn route(
    shared: &Arc<Shared>,
    id: &Identity,
    req: &ApiRequest,
) -> Result<Response<Body>, ApiError> {
    let segments: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    if req.method == Method::GET {
        if let Some(answer) = discovery(shared, &segments) {
            return answer;
        }
    }
    let target = resolve(shared, &segments)?;
    let watching = matches!(req.param("watch"), Some("true" | "1"));
    let verb = match (&req.method, target.name.is_some()) {
        (&Method::GET, true) => Verb::Get,
        (&Method::GET, false) if watching => Verb::Watch,
        (&Method::GET, false) => Verb::List,
        (&Method::POST, false) => Verb::Create,
        (&Method::PUT, true) => Verb::Update,
        (&Method::PATCH, true) => Verb::Patch,
        (&Method::DELETE, true) => Verb::Delete,
        _ => return Err(ApiError::method_not_allowed()),
    };
    let selector = Selector::parse(req.param("labelSelector"), req.param("fieldSelector"))?;
    let ty = lock(&shared.store).types[target.type_id].clone();
    let resource = match &target.subresource {
        Some(sub) => format!("{}/{sub}", ty.plural),
        None => ty.plural.clone(),
    };
    let rbac_name = match verb {
        Verb::List | Verb::Watch => selector.pinned_name().map(str::to_string),
        _ => target.name.clone(),
    };
    let attributes = Attributes {
        verb: verb.as_str().to_string(),
        group: ty.group.clone(),
        resource: ty.plural.clone(),
        subresource: target.subresource.clone(),
        namespace: target.namespace.clone(),
        name: rbac_name,
    };
    if !lock(&shared.rbac).allows(id, &attributes) {
        return Err(ApiError::forbidden(
            Some(&ty),
            target.name.as_deref().unwrap_or(""),
            &id.name,
            verb.as_str(),
            &resource,
            target.namespace.as_deref(),
        ));
    }
    if let Some(fault) = shared.take_fault(verb, &resource) {
        return Err(fault.error(&resource, target.name.as_deref().unwrap_or("")));
    }
    execute(shared, req, verb, &target, selector)
}

/// Discovery documents and health endpoints, which need authentication but no RBAC.
fn discovery(shared: &Shared, segments: &[&str]) -> Option<Result<Response<Body>, ApiError>> {
    let ok = |v: Value| Ok(json_response(200, &v));
    Some(match segments {
        ["version"] => ok(version()),
        ["healthz" | "livez" | "readyz"] => ok(json!("ok")),
        ["api"] => ok(json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": shared.addr.to_string()}],
        })),
        ["apis"] => ok(shared.api_groups()),
        ["api", "v1"] => shared.api_resources("", "v1").and_then(ok),
        ["apis", g, v] => shared.api_resources(g, v).and_then(ok),
        _ => return None,
    })
}

/// The type, namespace, name and subresource a resource path names.
fn resolve(shared: &Shared, segments: &[&str]) -> Result<Target, ApiError> {
    let (group, version, rest) = match segments {
        ["api", "v1", rest @ ..] if !rest.is_empty() => ("", "v1", rest),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest),
        _ => return Err(not_found_path()),
    };
    let store = lock(&shared.store);
    let namespaced_plural = |p: &str| {
        store
            .type_id(group, version, p)
            .filter(|t| store.types[*t].namespaced)
    };
    let (namespace, tail) = match rest {
        ["namespaces", ns, plural, ..] if namespaced_plural(plural).is_some() => {
            (Some(ns.to_string()), &rest[2..])
        }
        _ => (None, rest),
    };
    let (plural, name, sub) = match tail {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(name.to_string()), None),
        [plural, name, sub] => (*plural, Some(name.to_string()), Some(sub.to_string())),
        _ => return Err(not_found_path()),
    };
    let type_id = store
        .type_id(group, version, plural)
        .ok_or_else(not_found_path)?;
    let ty = &store.types[type_id];
    if let Some(sub) = &sub {
        if sub != "status" || !ty.status_subresource {
            return Err(not_found_path());
        }
    }
    if ty.namespaced && namespace.is_none() && name.is_some() {
        return Err(not_found_path());
    }
    Ok(Target {
        type_id,
        namespace,
        name,
        subresource: sub,
    })
}

/// Carries out an authorized request.
fn execute(
    shared: &Arc<Shared>,
    req: &ApiRequest,
    verb: Verb,
    target: &Target,
    selector: Selector,
) -> Result<Response<Body>, ApiError> {
    let ty = lock(&shared.store).types[target.type_id].clone();
    let ns = target.namespace.as_deref();
    let name = target.name.as_deref().unwrap_or("");
    let status_only = target.subresource.is_some();
    let t = target.type_id;
    match verb {
        Verb::Get => shared
            .read(|s| s.get(t, ns, name))
            .map(|o| json_response(200, &o)),
        Verb::List => {
            let opts = ListOptions {
                selector,
                limit: req
                    .param("limit")
                    .map(|l| {
                        l.parse()
                            .map_err(|_| ApiError::bad_request(format!("invalid limit: {l}")))
                    })
                    .transpose()?,
                continue_token: req
                    .param("continue")
                    .filter(|c| !c.is_empty())
                    .map(str::to_string),
                resource_version: req.param("resourceVersion").map(str::to_string),
                resource_version_match: req
                    .param("resourceVersionMatch")
                    .filter(|m| !m.is_empty())
                    .map(str::to_string),
            };
            let page = shared.read(|s| s.list(t, ns, &opts))?;
            let mut metadata = json!({ "resourceVersion": page.resource_version.to_string() });
            if let Some(c) = page.continue_token {
                metadata["continue"] = json!(c);
            }
            if let Some(r) = page.remaining {
                metadata["remainingItemCount"] = json!(r);
            }
            Ok(json_response(
                200,
                &json!({
                    "kind": format!("{}List", ty.kind),
                    "apiVersion": ty.api_version(),
                    "metadata": metadata,
                    "items": page.items,
                }),
            ))
        }
        Verb::Watch => {
            let timeout =
                match req.param("timeoutSeconds") {
                    Some(s) => Duration::from_secs(s.parse().map_err(|_| {
                        ApiError::bad_request(format!("invalid timeoutSeconds: {s}"))
                    })?),
                    None => shared.config.default_watch_timeout,
                };
            let params = watch::WatchParams {
                type_id: t,
                namespace: target.namespace.clone(),
                selector,
                resource_version: req
                    .param("resourceVersion")
                    .filter(|v| !v.is_empty())
                    .map(str::to_string),
                allow_bookmarks: matches!(req.param("allowWatchBookmarks"), Some("true" | "1")),
                send_initial_events: matches!(req.param("sendInitialEvents"), Some("true" | "1")),
                timeout,
            };
            watch::start(shared.clone(), params)
        }
        Verb::Create => {
            let body = req.json_body()?;
            shared
                .write(|s| s.create(t, ns, body))
                .map(|o| json_response(201, &o))
        }
        Verb::Update => {
            let body = req.json_body()?;
            shared
                .write(|s| s.replace(t, ns, name, body, status_only))
                .map(|o| json_response(200, &o))
        }
        Verb::Patch => {
            let kind = PatchKind::from_content_type(req.content_type.as_deref().unwrap_or(""))?;
            let body = req.json_body()?;
            shared
                .write(|s| s.patch(t, ns, name, kind, &body, status_only))
                .map(|o| json_response(200, &o))
        }
        Verb::Delete => {
            // A DeleteOptions body is optional; only its preconditions matter here.
            let options = if req.body.is_empty() {
                Value::Null
            } else {
                req.json_body()?
            };
            let preconditions = options["preconditions"].clone();
            shared
                .write(|s| s.delete_checked(t, ns, name, &preconditions))
                .map(|o| json_response(200, &o))
        }
    }
}

fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-fake-kube",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}
