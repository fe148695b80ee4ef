//! The two HTTP listeners: the public webhook listener and the loopback admin API, with the
//! accept loop, limits and TLS they share (rate limiting is `crate::ratelimit`, held by `App`).

pub mod admin;
pub mod api;
pub mod connections;
pub mod listener;
pub mod tls;
pub mod ui;
pub mod webhook;
