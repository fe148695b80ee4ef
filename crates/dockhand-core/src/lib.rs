//! dockhand's I/O-free core: everything between "bytes arrived on a receiver URL" and "these
//! Warehouses must be refreshed", with no sockets, no clocks and no disk (config loading reads
//! files, nothing else does). The service crate wraps it in HTTP, a store and workers; fuzzers
//! and benchmarks link it alone.

pub mod config;
pub mod event;
pub mod index;
pub mod matching;
pub mod receivers;
pub mod repo_url;
pub mod secret;
pub mod warehouse_ref;
