//! The two HTTP listeners: the public webhook listener and the loopback admin API.

pub mod admin;
pub mod webhook;
