//! Receivers: one file per provider, each turning the bytes and headers of one request into an
//! `Event` (or a `Rejection`). Pure: no I/O, no clock. Authentication happens here too, because
//! what to check (and before which parsing) differs per provider.
//!
//! - `azure`: Azure Container Registry webhooks, Azure DevOps service hooks and Azure Event Grid
//!   deliveries of registry events, all on one `azure` receiver.
//! - `harbor`: Harbor webhooks, default and CloudEvents payload formats.
//!
//! Both are total functions: any bytes give `Ok` or `Err`, never a panic (the fuzzers rely on it).

mod auth;
mod azure;
mod harbor;
mod payload;

use http::{HeaderMap, Method};

use crate::config::{Receiver, ReceiverKind};
use crate::event::{Event, Rejection};

/// One HTTP request as a receiver sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Authenticates and parses one request for `receiver`, by the receiver's type.
pub fn handle(receiver: &Receiver, req: &Request<'_>) -> Result<Event, Rejection> {
    match receiver.kind {
        ReceiverKind::Azure => azure::handle(receiver, req),
        ReceiverKind::Harbor => harbor::handle(receiver, req),
    }
}

/// A header's value as text, when it is present and visible ASCII.
fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod test_support;
