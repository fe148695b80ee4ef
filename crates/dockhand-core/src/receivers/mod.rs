//! Receivers: one file per provider, each turning the bytes and headers of one request into an
//! `Event` (or a `Rejection`). Pure: no I/O, no clock. Authentication happens here too, because
//! what to check (and before which parsing) differs per provider.
//! (Stub: being written.)

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
    let _ = req;
    match receiver.kind {
        ReceiverKind::Azure | ReceiverKind::Harbor => Err(Rejection::bad_request(
            crate::event::Source::Unknown,
            "not implemented",
        )),
    }
}
