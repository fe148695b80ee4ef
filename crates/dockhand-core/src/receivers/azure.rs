//! The `azure` receiver: Azure Container Registry (ACR) webhooks, Azure DevOps service hooks and
//! Azure Event Grid deliveries of ACR events, all arriving at one URL.
//!
//! # Which source sent it
//! 1. `User-Agent` starting `AzureContainerRegistry` → ACR; `VSServices` → Azure DevOps; an
//!    `aeg-event-type` header → Event Grid. (Undocumented but stable; Kargo relies on the first two.)
//! 2. Otherwise the body's shape: a JSON array of events with `eventType` (or CloudEvents
//!    attributes), or a CloudEvents object whose `type` starts `Microsoft.` → Event Grid; an object
//!    with `eventType` + `resource`, or `publisherId: "tfs"` → Azure DevOps; an object with
//!    `action` and `target` or `request`, or `action: "ping"` → ACR.
//! 3. Anything else is a 400 that lists what this receiver accepts.
//!
//! # Authentication, and in which order
//! `OPTIONS` (the CloudEvents validation handshake) and a POST with `aeg-event-type:
//! SubscriptionValidation` (the Event Grid schema handshake) need none: Event Grid documents its
//! custom delivery headers for event deliveries, not for these, and neither can refresh anything
//! (the validation answer is an echo of the code it carries). Otherwise:
//! - Azure DevOps requests need the Basic credentials when the Secret has `username`/`password`;
//!   they replace the `auth-header` check for Azure DevOps, which can send only one
//!   `Authorization` header. Without Basic credentials they need `auth-header` like the others.
//! - ACR and Event Grid requests need `Authorization` equal to `auth-header` when it is set.
//!
//! When the rule to apply is known from the headers alone (no Basic credentials configured, or the
//! source given by `User-Agent` / `aeg-event-type`), it is checked before the body is touched. Only
//! when Basic credentials are configured and the headers do not say the source is the body parsed
//! as JSON to classify it, and then checked before any field is read. A body that cannot be
//! classified still needs `auth-header` (when set) before it gets its 400.
//!
//! # Cases
//! | source | event | result |
//! |---|---|---|
//! | any | `OPTIONS` + `WebHook-Request-Origin` | Handshake 200, `WebHook-Allowed-Origin` echoed, `WebHook-Allowed-Rate: *` if a rate was requested, `Allow: POST` |
//! | any | `OPTIONS` without it | 400 |
//! | ACR | `ping` | Ping |
//! | ACR | `push` | Refresh `Oci{request.host/target.repository, tags [tag] or [] by digest}`; image/chart by `mediaType` (see [`oci_kinds`]) |
//! | ACR | `push` without `request.host` | 400 |
//! | ACR | `chart_push` | Refresh `HelmRepo{https://{host}/helm/v1/repo, target.name, [version without .tgz]}` |
//! | ACR | `chart_push` without a host (the native payload has no `request`) | Ignore: registry host unknown |
//! | ACR | `delete`, `chart_delete`, `quarantine`, unknown action | Ignore, reason names the action |
//! | Azure DevOps | `git.push` | Refresh `Git{remoteUrl, every refUpdate (deletions kept: the matcher explains them), defaultBranch}` |
//! | Azure DevOps | `git.push` without `remoteUrl` ("Resource details: Minimal") | 400: send all resource details |
//! | Azure DevOps | `git.pullrequest.merged` | RefreshPromotions `resource._links.web.href` (Kargo's `pullRequestURL` index) |
//! | Azure DevOps | `git.pullrequest.updated` with `resource.status` `abandoned` | RefreshPromotions, as merged |
//! | Azure DevOps | `git.pullrequest.updated`, any other status | Ignore |
//! | Azure DevOps | any other `eventType` | Ignore |
//! | Event Grid | `aeg-event-type: SubscriptionValidation` / `SubscriptionValidationEvent` | Handshake 200 `{"validationResponse": code}` |
//! | Event Grid | `SubscriptionDeletion` | Ignore |
//! | Event Grid | `ImagePushed` / `ChartPushed` (Event Grid schema array, CloudEvents object or array) | as ACR `push` / `chart_push` on `data`; host falls back to the registry named by `topic`/`source` |
//! | Event Grid | `ImageDeleted`, `ChartDeleted`, other types | Ignore |
//! | Event Grid | several events | one Refresh with every target; Ignore listing the reasons when none refreshes |
//! | none | empty body, not JSON, unrecognized shape, wrong field types | 400 naming the field |
//!
//! `event_type` is the ACR `action`, the Azure DevOps `eventType`, or the Event Grid types
//! (distinct, comma-joined). `provider_id` is `id` (Azure DevOps: else `notificationId`; Event
//! Grid: the event ids comma-joined).

use http::{HeaderMap, Method};
use serde_json::{json, Value};

use super::auth::{self, BasicAuth};
use super::media_type::oci_kinds;
use super::payload::{self, quote, Obj, PayloadError};
use super::{header_str, KeyGroup, ReceiverType, Request};
use crate::config::Receiver;
use crate::event::{Action, Event, RefUpdate, Rejection, Source, Target};

/// Azure Container Registry native webhook.
pub const ACR: Source = Source::new("acr");
/// Azure DevOps service hook.
pub const AZURE_DEVOPS: Source = Source::new("azure-devops");
/// Azure Event Grid delivering Azure Container Registry events.
pub const EVENT_GRID: Source = Source::new("event-grid");

/// The Secret key hashed into the URL (Kargo's).
const SECRET: &str = "secret";
/// When set, ACR and Event Grid requests (and Azure DevOps ones without Basic credentials) must
/// carry exactly this `Authorization` header.
const AUTH_HEADER: &str = "auth-header";
const USERNAME: &str = "username";
const PASSWORD: &str = "password";

pub static TYPE: ReceiverType = ReceiverType {
    name: "azure",
    url_secret_key: SECRET,
    optional_keys: &[
        KeyGroup {
            keys: &[AUTH_HEADER],
            purpose: "the Authorization check",
        },
        KeyGroup {
            keys: &[USERNAME, PASSWORD],
            purpose: "basic auth",
        },
    ],
    handle,
    sources: &[ACR, AZURE_DEVOPS, EVENT_GRID],
    settings: None,
};

const UNRECOGNIZED: &str = "unrecognized request: this azure receiver accepts Azure Container \
Registry webhooks (a JSON object with action and target), Azure DevOps service hooks (a JSON \
object with eventType and resource) and Azure Event Grid deliveries of Azure Container Registry \
events (Event Grid schema or CloudEvents 1.0)";

const ALL_DETAILS: &str = "the Azure DevOps service hook must send all resource details \
(\"Resource details to send: All\"); with Minimal or None it leaves out the repository's \
remoteUrl and the ref updates";

const VALIDATION_EVENT: &str = "Microsoft.EventGrid.SubscriptionValidationEvent";
const DELETION_EVENT: &str = "Microsoft.EventGrid.SubscriptionDeletedEvent";
/// `event_type` recorded for the CloudEvents `OPTIONS` validation handshake, which has no type.
const OPTIONS_EVENT: &str = "OPTIONS";

fn handle(receiver: &Receiver, req: &Request<'_>) -> Result<Event, Rejection> {
    if *req.method == Method::OPTIONS {
        return options_handshake(req.headers);
    }
    if header_str(req.headers, "aeg-event-type")
        .is_some_and(|v| v.eq_ignore_ascii_case("SubscriptionValidation"))
    {
        // Always a handshake or a 400 (see `event_grid_delivery`), never a refresh.
        let value = payload::parse_json(req.body).map_err(|e| e.reject(EVENT_GRID, None))?;
        return event_grid_delivery(&value, req.headers);
    }
    let hint = source_from_headers(req.headers);
    // A replay was authenticated when it arrived (see `Request::replay`).
    let mut authenticated = req.replay;
    if !authenticated && (hint.is_some() || basic_auth(receiver).is_none()) {
        authenticate(receiver, hint.unwrap_or(Source::UNKNOWN), req.headers)?;
        authenticated = true;
    }
    // The common case without a JSON tree of the body (see `push`); any other body, or a push
    // that is not plain, is read below as before.
    if authenticated && hint == Some(ACR) {
        if let Some(event) = push::read(req.body) {
            return Ok(event);
        }
    }
    let parsed = payload::parse_json(req.body);
    let source = match (&parsed, hint) {
        (_, Some(s)) => Some(s),
        (Ok(v), None) => classify(v),
        (Err(_), None) => None,
    };
    if !authenticated {
        authenticate(receiver, source.unwrap_or(Source::UNKNOWN), req.headers)?;
    }
    let value = parsed.map_err(|e| e.reject(source.unwrap_or(Source::UNKNOWN), None))?;
    match source {
        Some(ACR) => acr_delivery(&value),
        Some(AZURE_DEVOPS) => devops_delivery(&value),
        Some(EVENT_GRID) => event_grid_delivery(&value, req.headers),
        Some(_) | None => Err(payload::invalid_body(Source::UNKNOWN, UNRECOGNIZED)),
    }
}

/// The rule for `source` (see the module doc).
fn authenticate(receiver: &Receiver, source: Source, headers: &HeaderMap) -> Result<(), Rejection> {
    match (basic_auth(receiver), receiver.secret(AUTH_HEADER)) {
        (Some(basic), _) if source == AZURE_DEVOPS => auth::check_basic(&basic, headers, source),
        (_, Some(secret)) => auth::check_header(secret, headers, source),
        _ => Ok(()),
    }
}

/// Azure DevOps Basic credentials, when the Secret has both keys.
fn basic_auth(receiver: &Receiver) -> Option<BasicAuth<'_>> {
    Some(BasicAuth {
        username: receiver.secret(USERNAME)?,
        password: receiver.secret(PASSWORD)?,
    })
}

fn source_from_headers(headers: &HeaderMap) -> Option<Source> {
    let ua = header_str(headers, "user-agent").unwrap_or("");
    if ua.starts_with("AzureContainerRegistry") {
        Some(ACR)
    } else if ua.starts_with("VSServices") {
        Some(AZURE_DEVOPS)
    } else if headers.contains_key("aeg-event-type") {
        Some(EVENT_GRID)
    } else {
        None
    }
}

/// The source a body's shape says, when the headers did not.
fn classify(value: &Value) -> Option<Source> {
    match value {
        Value::Array(items) => match items.first() {
            Some(Value::Object(m)) if m.contains_key("eventType") || is_cloud_event(m) => {
                Some(EVENT_GRID)
            }
            _ => None,
        },
        Value::Object(m) => {
            let text = |k: &str| m.get(k).and_then(Value::as_str);
            let microsoft = |k: &str| text(k).is_some_and(|t| t.starts_with("Microsoft."));
            if (is_cloud_event(m) && microsoft("type"))
                || (microsoft("eventType") && m.contains_key("data"))
            {
                Some(EVENT_GRID)
            } else if (m.contains_key("eventType") && m.contains_key("resource"))
                || text("publisherId") == Some("tfs")
            {
                Some(AZURE_DEVOPS)
            } else if m.contains_key("action")
                && (m.contains_key("target")
                    || m.contains_key("request")
                    || text("action") == Some("ping"))
            {
                Some(ACR)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// CloudEvents attributes are lower-case by the spec, but Microsoft's own ACR example writes
/// `specVersion`.
fn is_cloud_event(m: &serde_json::Map<String, Value>) -> bool {
    m.contains_key("specversion") || m.contains_key("specVersion")
}

/// The CloudEvents "HTTP 1.1 Web Hooks" abuse-protection handshake, used by Event Grid for
/// subscriptions with the CloudEvents schema. Unauthenticated by design: the sender has not
/// been allowed to send anything yet.
fn options_handshake(headers: &HeaderMap) -> Result<Event, Rejection> {
    let Some(origin) = headers.get("webhook-request-origin") else {
        return Err(Rejection::bad_request(
            Source::UNKNOWN,
            "OPTIONS is answered only as the CloudEvents webhook validation handshake, which \
             sends a WebHook-Request-Origin header; this request has none",
        ));
    };
    let Ok(origin) = origin.to_str() else {
        return Err(Rejection::bad_request(
            EVENT_GRID,
            "WebHook-Request-Origin must be visible ASCII",
        ));
    };
    let mut reply = vec![("WebHook-Allowed-Origin".to_owned(), origin.to_owned())];
    if headers.contains_key("webhook-request-rate") {
        reply.push(("WebHook-Allowed-Rate".to_owned(), "*".to_owned()));
    }
    reply.push(("Allow".to_owned(), "POST".to_owned()));
    Ok(Event {
        source: EVENT_GRID,
        event_type: OPTIONS_EVENT.to_owned(),
        provider_id: None,
        action: Action::Handshake {
            status: 200,
            body: None,
            headers: reply,
        },
    })
}

fn ignore(reason: impl Into<String>) -> Action {
    Action::Ignore {
        reason: reason.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Azure Container Registry

fn acr_delivery(value: &Value) -> Result<Event, Rejection> {
    let src = ACR;
    let body = Obj::new(value, "", "an Azure Container Registry webhook body")
        .map_err(|e| e.reject(src, None))?;
    let action = body
        .required_str(
            "action",
            "every ACR webhook names its action (push, delete, ping …)",
        )
        .map_err(|e| e.reject(src, None))?;
    let reject = |e: PayloadError| e.reject(src, Some(action));
    let provider_id = body.id("id").map_err(reject)?;
    let action_taken = acr_action(&body, action, None).map_err(reject)?;
    Ok(Event {
        source: src,
        event_type: action.to_owned(),
        provider_id,
        action: action_taken,
    })
}

/// What to do with one ACR event body (native, or Event Grid's `data`). `fallback_host` is the
/// registry host learnt from elsewhere (Event Grid's `topic`) for bodies without `request.host`.
fn acr_action(
    body: &Obj<'_>,
    action: &str,
    fallback_host: Option<&str>,
) -> Result<Action, PayloadError> {
    match action {
        "ping" => Ok(Action::Ping),
        "push" => acr_push(body, fallback_host).map(|t| Action::Refresh(vec![t])),
        "chart_push" => acr_chart_push(body, fallback_host),
        "delete" => Ok(ignore(
            "ACR delete: a manifest or repository was deleted; nothing new to discover, no refresh",
        )),
        "chart_delete" => Ok(ignore(
            "ACR chart_delete: a chart was deleted; nothing new to discover, no refresh",
        )),
        "quarantine" => Ok(ignore(
            "ACR quarantine: the image is held for scanning and must not be promoted before it is \
             released; no refresh (the push sent on release refreshes)",
        )),
        other => Ok(ignore(format!(
            "ACR action {} is not handled; no refresh",
            quote(other)
        ))),
    }
}

fn acr_target<'a>(body: &Obj<'a>, why: &str) -> Result<Obj<'a>, PayloadError> {
    body.obj("target")?
        .ok_or_else(|| PayloadError::missing(body.field("target"), why))
}

/// `request.host`, else `fallback`.
fn acr_host(body: &Obj<'_>, fallback: Option<&str>) -> Result<Option<String>, PayloadError> {
    let from_request = match body.obj("request")? {
        Some(request) => request.str("host")?.filter(|h| !h.is_empty()),
        None => None,
    };
    Ok(from_request.or(fallback).map(str::to_owned))
}

fn acr_push(body: &Obj<'_>, fallback_host: Option<&str>) -> Result<Target, PayloadError> {
    let target = acr_target(body, "an ACR push names the pushed repository in target")?;
    let repository =
        target.required_str("repository", "an ACR push names the pushed repository")?;
    let tag = target.str("tag")?.unwrap_or("");
    let (image, chart) = oci_kinds(target.str("mediaType")?);
    let host = acr_host(body, fallback_host)?.ok_or_else(|| {
        PayloadError::missing(
            format!("{}.host", body.field("request")),
            "ACR always sends the registry host on a push; without it the repository cannot be named",
        )
    })?;
    Ok(push_target(&host, repository, tag, image, chart))
}

/// The target of an ACR push of `host/repository` (`tag` empty for a push by digest); the
/// one-pass reader (`push.rs`) builds its event with it too, so both readers agree.
fn push_target(host: &str, repository: &str, tag: &str, image: bool, chart: bool) -> Target {
    Target::Oci {
        repo_url: format!("{host}/{repository}"),
        image,
        chart,
        tags: if tag.is_empty() {
            Vec::new()
        } else {
            vec![tag.to_owned()]
        },
    }
}

/// A push to a classic (Helm 2 era) ACR Helm repository, served at `https://{host}/helm/v1/repo`.
fn acr_chart_push(body: &Obj<'_>, fallback_host: Option<&str>) -> Result<Action, PayloadError> {
    let target = acr_target(body, "an ACR chart_push names the chart in target")?;
    let version = target
        .str("version")?
        .map(|v| v.strip_suffix(".tgz").unwrap_or(v))
        .filter(|v| !v.is_empty());
    let name = match target.str("name")?.filter(|n| !n.is_empty()) {
        Some(n) => n.to_owned(),
        // `tag` is `{name}-{version}.tgz`.
        None => target
            .str("tag")?
            .and_then(|t| t.strip_suffix(".tgz"))
            .zip(version)
            .and_then(|(t, v)| t.strip_suffix(v)?.strip_suffix('-'))
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                PayloadError::missing(target.field("name"), "an ACR chart_push names the chart")
            })?,
    };
    let Some(host) = acr_host(body, fallback_host)? else {
        return Ok(ignore(format!(
            "ACR chart_push of chart {} {}: the payload names no registry host (ACR's chart_push \
             webhook has no request object), so the Helm repository cannot be identified; no \
             refresh. Deliver chart events through Event Grid, or push charts as OCI artifacts",
            quote(&name),
            version.map_or_else(|| "(no version)".to_owned(), quote),
        )));
    };
    Ok(Action::Refresh(vec![Target::HelmRepo {
        repo_url: format!("https://{host}/helm/v1/repo"),
        chart: name,
        versions: version.map(str::to_owned).into_iter().collect(),
    }]))
}

// ---------------------------------------------------------------------------------------------
// Azure DevOps

fn devops_delivery(value: &Value) -> Result<Event, Rejection> {
    let src = AZURE_DEVOPS;
    let body = Obj::new(value, "", "an Azure DevOps service hook body")
        .map_err(|e| e.reject(src, None))?;
    let event_type = body
        .required_str(
            "eventType",
            "every Azure DevOps service hook names its event type",
        )
        .map_err(|e| e.reject(src, None))?;
    let reject = |e: PayloadError| e.reject(src, Some(event_type));
    let provider_id = match body.id("id").map_err(reject)? {
        Some(id) => Some(id),
        None => body.id("notificationId").map_err(reject)?,
    };
    let action = if event_type == "git.push" {
        Action::Refresh(vec![devops_push(&body).map_err(reject)?])
    } else if event_type == "git.pullrequest.merged" || event_type == "git.pullrequest.updated" {
        devops_pull_request(&body, event_type).map_err(reject)?
    } else {
        ignore(format!(
            "Azure DevOps event {} is not handled: only git.push (Code pushed) refreshes",
            quote(event_type)
        ))
    };
    Ok(Event {
        source: src,
        event_type: event_type.to_owned(),
        provider_id,
        action,
    })
}

/// Kargo refreshes the Promotions waiting on a pull request when it is merged, or updated to
/// abandoned; the pull request is named by its web URL, as `git-wait-for-pr` records it.
fn devops_pull_request(body: &Obj<'_>, event_type: &str) -> Result<Action, PayloadError> {
    const WHY: &str = "the pull request's web URL names the Promotions waiting on it";
    let resource = body
        .obj("resource")?
        .ok_or_else(|| PayloadError::missing(body.field("resource"), ALL_DETAILS))?;
    if event_type == "git.pullrequest.updated" {
        let status = resource.str("status")?.unwrap_or("");
        if status != "abandoned" {
            return Ok(ignore(format!(
                "pull request updated (status {}): only merged or abandoned pull requests refresh Promotions",
                quote(status)
            )));
        }
    }
    let web = resource
        .obj("_links")?
        .ok_or_else(|| PayloadError::missing(resource.field("_links"), WHY))?
        .obj("web")?
        .ok_or_else(|| PayloadError::missing(resource.field("_links.web"), WHY))?;
    Ok(Action::RefreshPromotions {
        pr_url: web.required_str("href", WHY)?.to_owned(),
    })
}

fn devops_push(body: &Obj<'_>) -> Result<Target, PayloadError> {
    let resource = body
        .obj("resource")?
        .ok_or_else(|| PayloadError::missing(body.field("resource"), ALL_DETAILS))?;
    let repository = resource
        .obj("repository")?
        .ok_or_else(|| PayloadError::missing(resource.field("repository"), ALL_DETAILS))?;
    let remote_url = repository.required_str("remoteUrl", ALL_DETAILS)?;
    let default_branch = repository
        .str("defaultBranch")?
        .filter(|b| !b.is_empty())
        .map(str::to_owned);
    let refs = resource
        .objects("refUpdates")?
        .iter()
        .map(|r| {
            Ok(RefUpdate {
                name: r
                    .required_str("name", "a ref update names the ref it moved")?
                    .to_owned(),
                new_object_id: r.str("newObjectId")?.unwrap_or("").to_owned(),
            })
        })
        .collect::<Result<Vec<_>, PayloadError>>()?;
    Ok(Target::Git {
        repo_url: remote_url.to_owned(),
        refs,
        default_branch,
        changed_paths: None,
    })
}

// ---------------------------------------------------------------------------------------------
// Event Grid

/// One event of a delivery, in either schema.
struct GridEvent<'a> {
    obj: Obj<'a>,
    event_type: &'a str,
    id: Option<String>,
    /// `topic` (Event Grid schema) or `source` (CloudEvents): the registry's ARM id.
    arm_id: Option<&'a str>,
}

impl<'a> GridEvent<'a> {
    fn read(obj: Obj<'a>) -> Result<Self, PayloadError> {
        let cloud = obj.has("specversion") || obj.has("specVersion");
        let (type_key, arm_key) = if cloud {
            ("type", "source")
        } else {
            ("eventType", "topic")
        };
        Ok(GridEvent {
            event_type: obj.required_str(type_key, "every Event Grid event names its type")?,
            id: obj.id("id")?,
            arm_id: obj.str(arm_key)?,
            obj,
        })
    }

    fn data(&self, why: &str) -> Result<Obj<'a>, PayloadError> {
        self.obj
            .obj("data")?
            .ok_or_else(|| PayloadError::missing(self.obj.field("data"), why))
    }
}

fn event_grid_delivery(value: &Value, headers: &HeaderMap) -> Result<Event, Rejection> {
    let src = EVENT_GRID;
    let what = "an Event Grid event";
    let objs = match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| Obj::new(item, &format!("[{i}]"), &format!("{what} ([{i}])")))
            .collect::<Result<Vec<_>, _>>(),
        Value::Object(_) => Obj::new(value, "", what).map(|o| vec![o]),
        other => Err(PayloadError::NotObject {
            what: "an Event Grid delivery (an array of events or one CloudEvent)".to_owned(),
            found: payload::type_name(other),
        }),
    }
    .map_err(|e| e.reject(src, None))?;
    if objs.is_empty() {
        return Err(payload::invalid_body(
            src,
            "the Event Grid delivery is an empty array; it carries at least one event",
        ));
    }
    let events = objs
        .into_iter()
        .map(GridEvent::read)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.reject(src, None))?;

    let mut types: Vec<&str> = Vec::new();
    for e in &events {
        if !types.contains(&e.event_type) {
            types.push(e.event_type);
        }
    }
    let event_type = types.join(",");
    let ids: Vec<&str> = events.iter().filter_map(|e| e.id.as_deref()).collect();
    let provider_id = (!ids.is_empty()).then(|| ids.join(","));
    let reject = |e: PayloadError| e.reject(src, Some(&event_type));

    let aeg = header_str(headers, "aeg-event-type").unwrap_or("");
    if aeg.eq_ignore_ascii_case("SubscriptionValidation") || types.contains(&VALIDATION_EVENT) {
        let Some(ev) = events.iter().find(|e| e.event_type == VALIDATION_EVENT) else {
            return Err(reject(PayloadError::Invalid(format!(
                "aeg-event-type is SubscriptionValidation but no event is a {VALIDATION_EVENT}"
            ))));
        };
        let code = ev
            .data("the validation event carries the code in data")
            .and_then(|d| {
                d.required_str("validationCode", "Event Grid's handshake echoes this code")
            })
            .map_err(reject)?;
        return Ok(Event {
            source: src,
            event_type: VALIDATION_EVENT.to_owned(),
            provider_id: ev.id.clone(),
            action: Action::Handshake {
                status: 200,
                body: Some(json!({ "validationResponse": code })),
                headers: Vec::new(),
            },
        });
    }
    if aeg.eq_ignore_ascii_case("SubscriptionDeletion") || types == [DELETION_EVENT] {
        return Ok(Event {
            source: src,
            event_type,
            provider_id,
            action: ignore("Event Grid subscription deleted: no further deliveries will arrive"),
        });
    }

    let mut targets = Vec::new();
    let mut reasons = Vec::new();
    for ev in &events {
        match grid_event_action(ev).map_err(reject)? {
            Action::Refresh(t) => targets.extend(t),
            Action::Ignore { reason } => reasons.push(reason),
            // Not produced for Event Grid events; kept total rather than unreachable.
            Action::Ping
            | Action::Handshake { .. }
            | Action::RefreshPromotions { .. }
            | Action::Generic(_) => {}
        }
    }
    let action = if targets.is_empty() {
        ignore(reasons.join("; "))
    } else {
        Action::Refresh(targets)
    };
    Ok(Event {
        source: src,
        event_type,
        provider_id,
        action,
    })
}

fn grid_event_action(ev: &GridEvent<'_>) -> Result<Action, PayloadError> {
    // One old documentation page printed the types without their namespace.
    let short = ev
        .event_type
        .strip_prefix("Microsoft.ContainerRegistry.")
        .unwrap_or(ev.event_type);
    let host = ev.arm_id.and_then(registry_host_from_arm_id);
    match short {
        "ImagePushed" => {
            let data = ev.data("an ImagePushed event carries the ACR push in data")?;
            acr_push(&data, host.as_deref()).map(|t| Action::Refresh(vec![t]))
        }
        "ChartPushed" => {
            let data = ev.data("a ChartPushed event carries the ACR chart push in data")?;
            acr_chart_push(&data, host.as_deref())
        }
        "ImageDeleted" | "ChartDeleted" => Ok(ignore(format!(
            "{}: something was deleted; nothing new to discover, no refresh",
            ev.event_type
        ))),
        _ => Ok(ignore(format!(
            "Event Grid event {} is not an Azure Container Registry push; no refresh",
            quote(ev.event_type)
        ))),
    }
}

/// `{name}.azurecr.io` from `/subscriptions/…/providers/Microsoft.ContainerRegistry/registries/{name}`.
/// Registry names are 5–50 letters and digits; anything else (like the docs' `{name}`
/// placeholder) gives `None`. Sovereign clouds use other suffixes, which is why this is only a
/// fallback for payloads without `request.host`.
fn registry_host_from_arm_id(arm_id: &str) -> Option<String> {
    let mut segments = arm_id.split('/');
    segments.find(|s| s.eq_ignore_ascii_case("registries"))?;
    let name = segments.next()?;
    let valid = (5..=50).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric());
    valid.then(|| format!("{}.azurecr.io", name.to_ascii_lowercase()))
}

mod push;
#[cfg(test)]
mod tests;
