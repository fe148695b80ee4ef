//! dockhand the service: HTTP listeners, the store, the refresh engine and the CLI's admin
//! clients, around the pure `dockhand-core`. ARCHITECTURE.md has the map.

pub mod app;
pub mod bytesize;
pub mod client;
pub mod clock;
pub mod dedup;
pub mod delivery;
pub mod discovery;
pub mod explain;
pub mod http;
pub mod kargo;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod payload;
pub mod ratelimit;
pub mod receiver_urls;
pub mod refresh;
pub mod replay;
pub mod serve;
pub mod snapshot;
pub mod source;
pub mod store;
