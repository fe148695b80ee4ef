//! The end-to-end suite: the real `dockhand` binary driven over loopback HTTP, with real
//! components (CNCF Distribution, git http-backend, kubectl) started by the harness. One test
//! binary, so the suite links once; each module is one area (`cargo test --test e2e -- azure::`).

#[path = "../common/mod.rs"]
mod common;
#[path = "../support/mod.rs"]
mod support;

mod admin_api;
mod azure;
mod core_service;
mod deploy;
mod discovery;
mod harbor;
mod hardening;
mod kargo;
mod lifecycle;
mod ops;
mod refresh;
