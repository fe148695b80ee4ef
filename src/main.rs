//! The `dockhand` command line: parse arguments, call the library, map errors to exit codes
//! (0 success, 1 a user error such as a bad configuration or an unreachable server, 2 bad usage).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use dockhand::client::{self, Client};
use dockhand::http::api;
use dockhand::http::listener::Limits;
use dockhand::ratelimit::Rate;
use dockhand::receiver_urls;
use dockhand::serve;

/// mimalloc instead of glibc malloc: a large configuration leaves millions of small blocks whose
/// bins made glibc's allocator the top of the per-event profile (BENCHMARKS.md, lookup).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Webhook receiver for Kargo Warehouses: registries and git hosts call it when something is
/// pushed; it refreshes exactly the Warehouses that subscribe to that repository and would accept
/// that tag or ref.
#[derive(Parser)]
#[command(name = "dockhand", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the webhook listener, the admin API and the refresh engine.
    Serve(Box<ServeArgs>),
    /// Validate the configuration and print every problem (exit 1 if any).
    Check(ConfigArgs),
    /// Print each webhook receiver's URL, to register with the registry or git host.
    Receivers(ReceiversArgs),
    /// List recent webhook deliveries, newest first (from a running server).
    Deliveries(DeliveriesArgs),
    /// List Warehouses and their refresh state, or show one (from a running server).
    Warehouses(WarehousesArgs),
    /// Ask a running server to refresh one Warehouse now.
    Refresh(RefreshArgs),
    /// List the Freight of one Warehouse, newest first (from a running server).
    Freight(FreightArgs),
}

#[derive(Args)]
struct ConfigArgs {
    /// Kargo manifests: a YAML file, or a directory read recursively (*.yaml, *.yml).
    /// Repeatable.
    #[arg(long = "config", short = 'c', value_name = "PATH", required = true)]
    config: Vec<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Table,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SourceKind {
    /// Kargo manifests from --config files and directories; dockhand discovers and records
    /// Freight itself.
    Files,
    /// A Kargo cluster: Warehouses, ProjectConfigs and the ClusterConfig are watched, and a
    /// refresh is Kargo's own annotation patch on the Warehouse.
    Kargo,
}

#[derive(Args)]
struct ServeArgs {
    /// Where Warehouses and receivers come from.
    #[arg(long, value_enum, default_value = "files")]
    source: SourceKind,
    /// Kargo manifests: a YAML file, or a directory read recursively (*.yaml, *.yml).
    /// Repeatable; required with --source files, refused with --source kargo.
    #[arg(long = "config", short = 'c', value_name = "PATH")]
    config: Vec<PathBuf>,
    /// Kargo mode: the kubeconfig to use; else KUBECONFIG, else the in-cluster service
    /// account.
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// Kargo mode: the namespace holding the Secrets of ClusterConfig receivers (Kargo's
    /// SYSTEM_RESOURCES_NAMESPACE).
    #[arg(
        long,
        env = "DOCKHAND_SYSTEM_NAMESPACE",
        default_value = dockhand_core::config::DEFAULT_SYSTEM_NAMESPACE,
        value_name = "NAMESPACE"
    )]
    system_namespace: String,
    /// Kargo mode: how long a receiver Secret read from the cluster is reused. A request to an
    /// unknown receiver path reads them again at once (at most once a second).
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    secret_cache_ttl: Duration,
    /// Address of the public webhook listener.
    #[arg(long, default_value = "0.0.0.0:8080", value_name = "ADDR")]
    listen: SocketAddr,
    /// Address of the admin API and /metrics; keep it private.
    #[arg(long, default_value = "127.0.0.1:8081", value_name = "ADDR")]
    admin_listen: SocketAddr,
    /// Directory of the embedded store (created on first start).
    #[arg(long, default_value = "./dockhand-data", value_name = "DIR")]
    data_dir: PathBuf,
    /// Public URL of the webhook listener; its path, if any, prefixes every receiver path.
    #[arg(
        long,
        env = "DOCKHAND_BASE_URL",
        default_value = "http://localhost:8080",
        value_name = "URL"
    )]
    base_url: String,
    /// Deliveries kept per receiver; older ones are deleted.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    keep_deliveries: usize,
    /// Byte budget of the store (at least 1 MiB): over it, the oldest deliveries are deleted
    /// (never pending refreshes or Freight). The WAL adds at most 4 MiB after a checkpoint.
    #[arg(long, default_value_t = 1024 * 1024 * 1024, value_name = "BYTES",
          value_parser = clap::value_parser!(u64).range(1024 * 1024..))]
    max_store_bytes: u64,
    /// Warehouses reconciled at the same time.
    #[arg(long, default_value_t = 4, value_name = "N")]
    refresh_workers: usize,
    /// Minimum time between two reconciles of one Warehouse; refreshes requested sooner are
    /// coalesced into one follow-up run (e.g. 2s, 500ms).
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "DURATION")]
    refresh_cooldown: Duration,
    /// File holding a bearer token the admin API requires.
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
    /// Rewrite registry host FROM to TO before matching (e.g. Harbor's external name to the
    /// name Warehouses use). Repeatable.
    #[arg(long = "registry-alias", value_parser = parse_alias, value_name = "FROM=TO")]
    registry_aliases: Vec<(String, String)>,
    /// Largest accepted webhook body.
    #[arg(long, default_value_t = 2 * 1024 * 1024, value_name = "BYTES")]
    max_body_bytes: usize,
    /// How often configuration directories are checked for changes.
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "DURATION")]
    watch_interval: Duration,
    /// How long shutdown waits for requests in flight.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    shutdown_timeout: Duration,
    /// Time allowed from the first byte of a request head to its end.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    header_read_timeout: Duration,
    /// Time allowed to receive a whole request body (408 after it).
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    request_timeout: Duration,
    /// A connection with no traffic this long, and no request head arriving, is closed (a
    /// keep-alive connection between requests, a new one that sends nothing).
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    idle_timeout: Duration,
    /// Largest request head (request line and headers), counted on the bytes received.
    #[arg(long, default_value_t = 64 * 1024, value_name = "BYTES")]
    max_header_bytes: usize,
    /// Open connections per listener. When full, the connection idle longest is closed for a
    /// new one (none idle: the new one is closed); the last eighth is kept for clients holding
    /// no connection.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    max_connections: usize,
    /// Open connections per client (IPv4 address, IPv6 /64). Over it, the client's own oldest
    /// idle connection (else its slowest request head) is closed for the new one. Behind a
    /// proxy every connection comes from the proxy: raise it to --max-connections.
    #[arg(long, default_value_t = 128, value_name = "N")]
    max_connections_per_client: usize,
    /// Requests per receiver: RATE/s[:BURST]; 0 disables. Over it: 429 with Retry-After.
    #[arg(long, default_value = "50/s:200", value_parser = parse_rate, value_name = "RATE")]
    rate_limit_receiver: Rate,
    /// Requests per client IP address: RATE/s[:BURST]; 0 disables.
    #[arg(long, default_value = "100/s:400", value_parser = parse_rate, value_name = "RATE")]
    rate_limit_client: Rate,
    /// A provider delivery id seen again by the same receiver within this window is answered
    /// as a duplicate and refreshes nothing (0s disables).
    #[arg(long, default_value = "10m", value_parser = parse_duration, value_name = "DURATION")]
    dedup_window: Duration,
    /// PEM certificate chain: serve the webhook listener over TLS (reloaded on SIGHUP).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Reach this registry host (`host` or `host:port`) over plain HTTP. Loopback registries
    /// always are. Repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST")]
    insecure_registries: Vec<String>,
    /// Total time allowed to one discovery request to a registry, chart repository or git
    /// server (git fetches get four times as long).
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    discovery_timeout: Duration,
    /// Log format: one human line per delivery, or JSON objects. Filter with RUST_LOG.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Args)]
struct ReceiversArgs {
    /// Where the receivers come from: --config files, or the Kargo cluster (each receiver's
    /// path in Kargo's status next to the path computed from its current Secret).
    #[arg(long, value_enum, default_value = "files")]
    source: SourceKind,
    /// Kargo manifests: a YAML file, or a directory read recursively (*.yaml, *.yml).
    /// Repeatable; required with --source files.
    #[arg(long = "config", short = 'c', value_name = "PATH")]
    config: Vec<PathBuf>,
    /// Kargo mode: the kubeconfig to use; else KUBECONFIG, else the in-cluster service
    /// account.
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// Kargo mode: the namespace holding the Secrets of ClusterConfig receivers.
    #[arg(
        long,
        env = "DOCKHAND_SYSTEM_NAMESPACE",
        default_value = dockhand_core::config::DEFAULT_SYSTEM_NAMESPACE,
        value_name = "NAMESPACE"
    )]
    system_namespace: String,
    /// Public URL of the webhook listener.
    #[arg(
        long,
        env = "DOCKHAND_BASE_URL",
        default_value = "http://localhost:8080",
        value_name = "URL"
    )]
    base_url: String,
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    output: Output,
}

#[derive(Args)]
struct ServerArgs {
    /// Admin API of the running dockhand.
    #[arg(
        long,
        env = "DOCKHAND_SERVER",
        default_value = "http://127.0.0.1:8081",
        value_name = "URL"
    )]
    server: String,
    /// File holding the admin API bearer token, if the server requires one.
    #[arg(long, env = "DOCKHAND_ADMIN_TOKEN_FILE", value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    output: Output,
}

#[derive(Args)]
struct DeliveriesArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Only this project.
    #[arg(long)]
    project: Option<String>,
    /// Only this receiver (name).
    #[arg(long)]
    receiver: Option<String>,
    /// Only deliveries whose URL query string contains this (e.g. region=westus).
    #[arg(long)]
    query: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

#[derive(Args)]
struct WarehousesArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Show one Warehouse in detail.
    #[arg(value_name = "PROJECT/WAREHOUSE")]
    warehouse: Option<String>,
}

#[derive(Args)]
struct RefreshArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[arg(value_name = "PROJECT/WAREHOUSE")]
    warehouse: String,
}

#[derive(Args)]
struct FreightArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[arg(value_name = "PROJECT/WAREHOUSE")]
    warehouse: Option<String>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    dockhand_core::config::parse_duration(s)
}

fn parse_rate(s: &str) -> Result<Rate, String> {
    dockhand::ratelimit::parse_rate(s)
}

fn parse_alias(s: &str) -> Result<(String, String), String> {
    use dockhand_core::repo_url::canonical_registry_host;
    match s.split_once('=') {
        Some((a, b)) if !a.is_empty() && !b.is_empty() => {
            let from = canonical_registry_host(a).map_err(|e| e.to_string())?;
            let to = canonical_registry_host(b).map_err(|e| e.to_string())?;
            Ok((from, to))
        }
        _ => Err(format!(
            "expected FROM=TO (registry hosts, e.g. harbor.example.com=registry.internal:5000), got {s:?}"
        )),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log_format = match &cli.command {
        Command::Serve(a) => a.log_format,
        _ => LogFormat::Text,
    };
    init_logging(log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = match rt.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    };
    // `serve` has stopped everything it started; a blocking task still running (a config walk
    // on a hung file system) must not hold the exit, which SIGTERM's deadline promises.
    rt.shutdown_timeout(Duration::from_millis(200));
    code
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The one SIGHUP handler: each signal asks the server to reload its configuration and its TLS
/// certificate.
fn forward_sighup(reload: dockhand::source::ReloadRequests) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; reload on file change only");
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP received; reloading");
            reload.request();
        }
    });
    #[cfg(not(unix))]
    let _ = reload;
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_target(false).init(),
    }
}

fn token(a: &ServerArgs) -> anyhow::Result<Option<String>> {
    match &a.admin_token_file {
        Some(p) => Ok(Some(
            std::fs::read_to_string(p)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?
                .trim()
                .to_string(),
        )),
        None => Ok(None),
    }
}

fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    client::print_line(&serde_json::to_string_pretty(v)?);
    Ok(())
}

async fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Serve(a) => {
            let source = match (a.source, a.config.is_empty()) {
                (SourceKind::Files, true) => {
                    eprintln!("error: --config is required with --source files (the default); with --source kargo the configuration comes from the cluster");
                    return Ok(ExitCode::from(2));
                }
                (SourceKind::Kargo, false) => {
                    eprintln!("error: --config cannot be used with --source kargo: the Warehouses, ProjectConfigs and ClusterConfig come from the cluster; drop --config, or use --source files");
                    return Ok(ExitCode::from(2));
                }
                (SourceKind::Files, false) => serve::SourceOptions::Files,
                (SourceKind::Kargo, true) => serve::SourceOptions::Kargo {
                    kubeconfig: a.kubeconfig,
                    system_namespace: a.system_namespace,
                    secret_ttl: a.secret_cache_ttl.max(Duration::from_millis(100)),
                },
            };
            let server = serve::Server::bind(serve::Options {
                source,
                config: a.config,
                listen: a.listen,
                admin_listen: a.admin_listen,
                data_dir: a.data_dir,
                base_url: a.base_url,
                keep_deliveries: a.keep_deliveries.max(1),
                max_store_bytes: a.max_store_bytes,
                refresh_workers: a.refresh_workers.max(1),
                refresh_cooldown: a.refresh_cooldown,
                admin_token_file: a.admin_token_file,
                registry_aliases: a.registry_aliases,
                max_body_bytes: a.max_body_bytes,
                watch_interval: a.watch_interval.max(Duration::from_millis(100)),
                shutdown_timeout: a.shutdown_timeout,
                limits: Limits {
                    max_connections: a.max_connections.max(1),
                    max_connections_per_client: a.max_connections_per_client.max(1),
                    header_read_timeout: a.header_read_timeout.max(Duration::from_millis(100)),
                    idle_timeout: a.idle_timeout.max(Duration::from_millis(100)),
                    max_header_bytes: a.max_header_bytes,
                    tls_handshake_timeout: a.header_read_timeout.max(Duration::from_secs(1)),
                },
                request_timeout: a.request_timeout.max(Duration::from_millis(100)),
                receiver_rate: a.rate_limit_receiver,
                client_rate: a.rate_limit_client,
                dedup_window: a.dedup_window,
                tls_cert: a.tls_cert,
                tls_key: a.tls_key,
                insecure_registries: a.insecure_registries,
                discovery_timeout: a.discovery_timeout,
            })
            .await?;
            forward_sighup(server.reload_requests());
            server.run(termination()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check(a) => match dockhand_core::config::load(&a.config) {
            Ok(c) => {
                for w in &c.warnings {
                    eprintln!("warning: {w}");
                }
                client::print_line(&format!(
                    "configuration OK: {} project(s), {} receiver(s), {} warehouse(s), {} other document(s) skipped",
                    c.projects.len(),
                    c.receivers.len(),
                    c.warehouses.len(),
                    c.skipped.len()
                ));
                Ok(ExitCode::SUCCESS)
            }
            Err(errors) => {
                for e in &errors.0 {
                    client::print_line(&e.to_string());
                }
                eprintln!("error: {} problem(s) found", errors.0.len());
                Ok(ExitCode::from(1))
            }
        },
        Command::Receivers(a) if a.source == SourceKind::Kargo => {
            if !a.config.is_empty() {
                eprintln!("error: --config cannot be used with --source kargo: the receivers come from the cluster");
                return Ok(ExitCode::from(2));
            }
            let client = dockhand::kargo::client(a.kubeconfig.as_deref()).await?;
            let kargo =
                std::sync::Arc::new(dockhand::kargo::Kargo::new(client, a.system_namespace));
            let report = dockhand::kargo::source::receivers_once(
                kargo,
                receiver_urls::base_path(&a.base_url),
            )
            .await
            .map_err(|e| anyhow::anyhow!("cannot read ProjectConfigs and ClusterConfigs: {e}"))?;
            for p in &report.problems {
                eprintln!("warning: {p}");
            }
            match a.output {
                Output::Json => print_json(&report.receivers)?,
                Output::Table => client::print_kargo_receivers(&report.receivers, &a.base_url),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Receivers(a) => {
            if a.config.is_empty() {
                eprintln!("error: --config is required with --source files (the default)");
                return Ok(ExitCode::from(2));
            }
            let config = dockhand_core::config::load(&a.config).map_err(|errors| {
                for e in &errors.0 {
                    eprintln!("error: {e}");
                }
                anyhow::anyhow!("the configuration has {} problem(s)", errors.0.len())
            })?;
            let rows = receiver_urls::rows(&config, &a.base_url);
            match a.output {
                Output::Json => print_json(&rows)?,
                Output::Table => client::print_receivers(&rows),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Deliveries(a) => {
            let c = Client::new(&a.server.server, token(&a.server)?);
            let mut q = format!("/api/v1/deliveries?limit={}", a.limit);
            for (k, v) in [
                ("project", &a.project),
                ("receiver", &a.receiver),
                ("query", &a.query),
            ] {
                if let Some(v) = v {
                    q.push_str(&format!("&{k}={}", client::encode(v)));
                }
            }
            let v = c.get(&q).await?;
            match a.server.output {
                Output::Json => print_json(&v)?,
                Output::Table => {
                    let list: Vec<api::Delivery> = serde_json::from_value(v)?;
                    client::print_deliveries(&list);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Warehouses(a) => {
            let c = Client::new(&a.server.server, token(&a.server)?);
            match &a.warehouse {
                Some(w) => {
                    let (p, n) = client::split_warehouse(w)?;
                    let v = c
                        .get(&format!(
                            "/api/v1/warehouses/{}/{}",
                            client::encode(p),
                            client::encode(n)
                        ))
                        .await?;
                    match a.server.output {
                        Output::Json => print_json(&v)?,
                        Output::Table => {
                            let w: api::WarehouseDetail = serde_json::from_value(v)?;
                            client::print_warehouses(std::slice::from_ref(&w.warehouse))
                        }
                    }
                }
                None => {
                    let v = c.get("/api/v1/warehouses").await?;
                    match a.server.output {
                        Output::Json => print_json(&v)?,
                        Output::Table => {
                            let list: Vec<api::Warehouse> = serde_json::from_value(v)?;
                            client::print_warehouses(&list)
                        }
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Refresh(a) => {
            let c = Client::new(&a.server.server, token(&a.server)?);
            let (p, n) = client::split_warehouse(&a.warehouse)?;
            let v = c
                .post(&format!(
                    "/api/v1/warehouses/{}/{}/refresh",
                    client::encode(p),
                    client::encode(n)
                ))
                .await?;
            match a.server.output {
                Output::Json => print_json(&v)?,
                Output::Table => {
                    let r: api::RefreshRequested = serde_json::from_value(v)?;
                    client::print_line(&r.msg)
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Freight(a) => {
            let c = Client::new(&a.server.server, token(&a.server)?);
            let mut q = String::from("/api/v1/freight");
            if let Some(w) = &a.warehouse {
                let (p, n) = client::split_warehouse(w)?;
                q.push_str(&format!(
                    "?project={}&warehouse={}",
                    client::encode(p),
                    client::encode(n)
                ));
            }
            let v = c.get(&q).await?;
            match a.server.output {
                Output::Json => print_json(&v)?,
                Output::Table => {
                    let list: Vec<api::Freight> = serde_json::from_value(v)?;
                    client::print_freight(&list)
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
