//! The two HTTP listeners: the public webhook listener and the loopback admin API, with the
//! accept loop, limits, rate limiting and TLS they share.

pub mod admin;
pub mod api;
pub mod listener;
pub mod ratelimit;
pub mod tls;
pub mod webhook;
