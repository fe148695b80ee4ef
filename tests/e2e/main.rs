//! The end-to-end suite: the real `dockhand` binary driven over loopback HTTP, with real
//! components (CNCF Distribution, git http-backend, kubectl) started by the harness. One test
//! binary, so the suite links once; each module is one area (`cargo test --test e2e -- azure::`).

#[path = "../common/mod.rs"]
mod common;
#[path = "../support/mod.rs"]
mod support;

mod admin_api;
mod artifactory;
mod azure;
mod bitbucket;
mod core_service;
mod deploy;
mod discovery;
mod distribution;
mod dockerhub;
mod ecr;
mod fidelity;
mod gar;
mod generic;
mod gitea;
mod github;
mod gitlab;
mod harbor;
mod hardening;
mod kargo;
mod lifecycle;
mod listener;
mod notify;
mod ops;
mod postgres;
mod quay;
mod refresh;
mod replay;
mod storage;
mod ui;
