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
use dockhand::store::{PostgresOptions, PostgresStore};

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
    /// Tables without their header line.
    #[arg(long, global = true)]
    no_headers: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Run the webhook listener, the admin API and the refresh engine.
    Serve(Box<ServeArgs>),
    /// Apply the PostgreSQL schema migrations and exit (`serve` applies them too).
    Migrate(MigrateArgs),
    /// Validate the configuration and print every problem (exit 1 if any).
    Check(ConfigArgs),
    /// Print each webhook receiver's URL, to register with the registry or git host.
    Receivers(ReceiversArgs),
    /// List recent webhook deliveries, newest first, or show one with its payload (from a
    /// running server).
    Deliveries(DeliveriesArgs),
    /// Re-evaluate a recorded delivery against the current configuration and refresh what
    /// matches now; recorded as a new delivery with replayOf.
    Replay(ReplayArgs),
    /// Which registry replicas (the receiver URL's query, e.g. region=westus) reported an
    /// image, when, and with which digest.
    Artifacts(ArtifactsArgs),
    /// List Warehouses and their refresh state, or show one (from a running server).
    Warehouses(WarehousesArgs),
    /// Ask a running server to refresh one Warehouse now.
    Refresh(RefreshArgs),
    /// List the Freight of one Warehouse, newest first (from a running server).
    Freight(FreightArgs),
    /// List notifications (Slack, Teams, generic webhooks) and whether each was sent, newest
    /// first (from a running server).
    Notifications(NotificationsArgs),
    /// Notification actions on a running server: `notify test PROJECT/NAME`.
    Notify(NotifyArgs),
    /// Dry-run one webhook against a configuration: the answer, the targets and their
    /// normalized keys, what would be refreshed and why each other candidate would not.
    /// Nothing is recorded or refreshed.
    Explain(ExplainArgs),
    /// Print the client's version and the running server's.
    Version(VersionArgs),
    /// Print a shell completion script: `source <(dockhand completion bash)`.
    Completion(CompletionArgs),
}

#[derive(Args)]
struct MigrateArgs {
    /// PostgreSQL connection URL: postgres://USER:PASSWORD@HOST:PORT/DATABASE (sslmode=disable,
    /// prefer or require honoured).
    #[arg(
        long,
        env = "DOCKHAND_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    database_url: String,
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
    Yaml,
}

impl From<Output> for client::Format {
    fn from(o: Output) -> Self {
        match o {
            Output::Table => client::Format::Table,
            Output::Json => client::Format::Json,
            Output::Yaml => client::Format::Yaml,
        }
    }
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
    #[arg(long, value_enum, default_value = "files", env = "DOCKHAND_SOURCE")]
    source: SourceKind,
    /// Kargo manifests: a YAML file, or a directory read recursively (*.yaml, *.yml).
    /// Repeatable; required with --source files, refused with --source kargo.
    #[arg(
        long = "config",
        short = 'c',
        value_name = "PATH",
        env = "DOCKHAND_CONFIG"
    )]
    config: Vec<PathBuf>,
    /// Kargo mode: the kubeconfig to use; else KUBECONFIG, else the in-cluster service
    /// account.
    #[arg(long, value_name = "FILE", env = "DOCKHAND_KUBECONFIG")]
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
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION", env = "DOCKHAND_SECRET_CACHE_TTL")]
    secret_cache_ttl: Duration,
    /// Address of the public webhook listener.
    #[arg(
        long,
        default_value = "0.0.0.0:8080",
        value_name = "ADDR",
        env = "DOCKHAND_LISTEN"
    )]
    listen: SocketAddr,
    /// Address of the admin API and /metrics; keep it private.
    #[arg(
        long,
        default_value = "127.0.0.1:8081",
        value_name = "ADDR",
        env = "DOCKHAND_ADMIN_LISTEN"
    )]
    admin_listen: SocketAddr,
    /// Also serve /metrics, alone and without the admin token, on this address (for a
    /// Prometheus that should not hold the admin token). /metrics stays on --admin-listen.
    #[arg(long, value_name = "ADDR", env = "DOCKHAND_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Directory of the embedded store (created on first start).
    #[arg(
        long,
        default_value = "./dockhand-data",
        value_name = "DIR",
        env = "DOCKHAND_DATA_DIR"
    )]
    data_dir: PathBuf,
    /// Public URL of the webhook listener; its path, if any, prefixes every receiver path.
    #[arg(
        long,
        env = "DOCKHAND_BASE_URL",
        default_value = "http://localhost:8080",
        value_name = "URL"
    )]
    base_url: String,
    /// Store everything in this PostgreSQL database instead of SQLite in --data-dir, so that
    /// several replicas share deliveries, de-duplication, refreshes and Freight:
    /// postgres://USER:PASSWORD@HOST:PORT/DATABASE (sslmode=disable, prefer or require
    /// honoured; the password is never logged).
    #[arg(
        long,
        env = "DOCKHAND_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// With --database-url: how long a replica's claim on a pending refresh lasts unless it
    /// renews it; a replica that died mid-reconcile is taken over after this.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION", env = "DOCKHAND_REFRESH_LEASE")]
    refresh_lease: Duration,
    /// Deliveries kept per receiver; older ones are deleted.
    #[arg(
        long,
        default_value_t = 10_000,
        value_name = "N",
        env = "DOCKHAND_KEEP_DELIVERIES"
    )]
    keep_deliveries: usize,
    /// Byte budget of the store (at least 1 MiB): over it, the oldest deliveries are deleted
    /// (never pending refreshes or Freight). The WAL adds at most 4 MiB after a checkpoint.
    #[arg(long, default_value = "1GiB", value_name = "SIZE", value_parser = parse_store_bytes, env = "DOCKHAND_MAX_STORE_BYTES")]
    max_store_bytes: u64,
    /// Warehouses reconciled at the same time.
    #[arg(
        long,
        default_value_t = 4,
        value_name = "N",
        env = "DOCKHAND_REFRESH_WORKERS"
    )]
    refresh_workers: usize,
    /// Minimum time between two reconciles of one Warehouse; refreshes requested sooner are
    /// coalesced into one follow-up run (e.g. 2s, 500ms).
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "DURATION", env = "DOCKHAND_REFRESH_COOLDOWN")]
    refresh_cooldown: Duration,
    /// File holding a bearer token the admin API requires.
    #[arg(long, value_name = "FILE", env = "DOCKHAND_ADMIN_TOKEN_FILE")]
    admin_token_file: Option<PathBuf>,
    /// Rewrite registry host FROM to TO before matching (e.g. Harbor's external name to the
    /// name Warehouses use). Repeatable.
    #[arg(long = "registry-alias", value_parser = parse_alias, value_name = "FROM=TO", env = "DOCKHAND_REGISTRY_ALIAS", value_delimiter = ',')]
    registry_aliases: Vec<(String, String)>,
    /// Largest accepted webhook body: bytes, or with a unit (512KiB, 2MiB, 1MB).
    #[arg(long, default_value = "2MiB", value_parser = parse_bytes, value_name = "SIZE", env = "DOCKHAND_MAX_BODY_BYTES")]
    max_body_bytes: usize,
    /// Keep each delivery's body and its non-secret headers (never Authorization, cookies,
    /// signatures or tokens) for `dockhand deliveries show` and `dockhand replay`, counted in
    /// the store's byte budget; false keeps none.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", env = "DOCKHAND_KEEP_PAYLOADS")]
    keep_payloads: bool,
    /// How often configuration directories are checked for changes.
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "DURATION", env = "DOCKHAND_WATCH_INTERVAL")]
    watch_interval: Duration,
    /// How long shutdown waits for requests in flight.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION", env = "DOCKHAND_SHUTDOWN_TIMEOUT")]
    shutdown_timeout: Duration,
    /// Time allowed from the first byte of a request head to its end.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION", env = "DOCKHAND_HEADER_READ_TIMEOUT")]
    header_read_timeout: Duration,
    /// Time allowed to receive a whole request body (408 after it).
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION", env = "DOCKHAND_REQUEST_TIMEOUT")]
    request_timeout: Duration,
    /// A connection with no traffic this long, and no request head arriving, is closed (a
    /// keep-alive connection between requests, a new one that sends nothing).
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION", env = "DOCKHAND_IDLE_TIMEOUT")]
    idle_timeout: Duration,
    /// Largest request head (request line and headers), counted on the bytes received; at
    /// least 8KiB.
    #[arg(long, default_value = "64KiB", value_parser = parse_bytes, value_name = "SIZE", env = "DOCKHAND_MAX_HEADER_BYTES")]
    max_header_bytes: usize,
    /// Open connections per listener. When full, the connection idle longest is closed for a
    /// new one (none idle: the new one is closed); the last eighth is kept for clients holding
    /// no connection.
    #[arg(
        long,
        default_value_t = 1024,
        value_name = "N",
        env = "DOCKHAND_MAX_CONNECTIONS"
    )]
    max_connections: usize,
    /// Open connections per client (IPv4 address, IPv6 /64). Over it, the client's own oldest
    /// idle connection (else its slowest request head) is closed for the new one. Behind a
    /// proxy every connection comes from the proxy: raise it to --max-connections.
    #[arg(
        long,
        default_value_t = 128,
        value_name = "N",
        env = "DOCKHAND_MAX_CONNECTIONS_PER_CLIENT"
    )]
    max_connections_per_client: usize,
    /// Requests per receiver: RATE/s[:BURST]; 0 disables. Over it: 429 with Retry-After.
    #[arg(long, default_value = "50/s:200", value_parser = parse_rate, value_name = "RATE", env = "DOCKHAND_RATE_LIMIT_RECEIVER")]
    rate_limit_receiver: Rate,
    /// Requests per client IP address: RATE/s[:BURST]; 0 disables.
    #[arg(long, default_value = "100/s:400", value_parser = parse_rate, value_name = "RATE", env = "DOCKHAND_RATE_LIMIT_CLIENT")]
    rate_limit_client: Rate,
    /// A provider delivery id seen again by the same receiver within this window is answered
    /// as a duplicate and refreshes nothing (0s disables).
    #[arg(long, default_value = "10m", value_parser = parse_duration, value_name = "DURATION", env = "DOCKHAND_DEDUP_WINDOW")]
    dedup_window: Duration,
    /// PEM certificate chain: serve the webhook listener over TLS (reloaded on SIGHUP).
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        env = "DOCKHAND_TLS_CERT"
    )]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_cert",
        env = "DOCKHAND_TLS_KEY"
    )]
    tls_key: Option<PathBuf>,
    /// Reach this registry host (`host` or `host:port`) over plain HTTP. Loopback registries
    /// always are. Repeatable.
    #[arg(
        long = "insecure-registry",
        value_name = "HOST",
        env = "DOCKHAND_INSECURE_REGISTRY",
        value_delimiter = ','
    )]
    insecure_registries: Vec<String>,
    /// Total time allowed to one discovery request to a registry, chart repository or git
    /// server (git fetches get four times as long).
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION", env = "DOCKHAND_DISCOVERY_TIMEOUT")]
    discovery_timeout: Duration,
    /// Reconcile soon after start (spread over the workers) every Warehouse never reconciled
    /// or last reconciled longer ago than its interval, and each one a reload adds; false:
    /// each waits one interval.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL", env = "DOCKHAND_RECONCILE_ON_START")]
    reconcile_on_start: bool,
    /// How long a notification is retried (1s, 2s, 4s, ... apart) before it is marked failed.
    #[arg(long, default_value = "24h", value_parser = parse_duration, value_name = "DURATION", env = "DOCKHAND_NOTIFICATION_DEADLINE")]
    notification_deadline: Duration,
    /// Log format: one human line per delivery, or JSON objects. Filter with RUST_LOG.
    #[arg(long, value_enum, default_value = "text", env = "DOCKHAND_LOG_FORMAT")]
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
    /// Only this project's receivers.
    #[arg(short = 'p', long)]
    project: Option<String>,
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
#[command(args_conflicts_with_subcommands = true)]
struct DeliveriesArgs {
    #[command(subcommand)]
    show: Option<DeliveriesCommand>,
    #[command(flatten)]
    server: ServerArgs,
    /// Only this project.
    #[arg(short = 'p', long)]
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
    /// After the list, keep printing new deliveries as they arrive (oldest first) until
    /// interrupted.
    #[arg(short = 'w', long)]
    watch: bool,
    /// With --watch: how often to ask the server.
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "DURATION")]
    watch_interval: Duration,
}

#[derive(Subcommand)]
enum DeliveriesCommand {
    /// Show one delivery: its decision and the payload kept with it, pretty-printed.
    Show(DeliveryShowArgs),
}

#[derive(Args)]
struct DeliveryShowArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The delivery id (`dockhand deliveries` lists them).
    id: String,
}

#[derive(Args)]
struct ReplayArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The delivery id (`dockhand deliveries` lists them).
    id: String,
}

#[derive(Args)]
struct ArtifactsArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The image repository, as you would pull it (myregistry.azurecr.io/app).
    #[arg(long, short = 'r')]
    repository: String,
    /// Only this tag.
    #[arg(long, short = 't')]
    tag: Option<String>,
}

#[derive(Args)]
struct WarehousesArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Only this project (or the project of WAREHOUSE).
    #[arg(short = 'p', long)]
    project: Option<String>,
    /// Show one Warehouse in detail: PROJECT/WAREHOUSE, or WAREHOUSE with -p.
    #[arg(value_name = "PROJECT/WAREHOUSE")]
    warehouse: Option<String>,
}

#[derive(Args)]
struct RefreshArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The project of WAREHOUSE, when WAREHOUSE does not name it.
    #[arg(short = 'p', long)]
    project: Option<String>,
    /// PROJECT/WAREHOUSE, or WAREHOUSE with -p.
    #[arg(value_name = "PROJECT/WAREHOUSE")]
    warehouse: String,
    /// Wait until the reconcile finishes and print its result; exit 1 if it failed.
    #[arg(long)]
    wait: bool,
    /// With --wait: give up (exit 1) after this long.
    #[arg(long, default_value = "5m", value_parser = parse_duration, value_name = "DURATION")]
    timeout: Duration,
}

#[derive(Args)]
struct FreightArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The project of WAREHOUSE, when WAREHOUSE does not name it.
    #[arg(short = 'p', long)]
    project: Option<String>,
    /// PROJECT/WAREHOUSE, or WAREHOUSE with -p.
    #[arg(value_name = "PROJECT/WAREHOUSE")]
    warehouse: Option<String>,
}

#[derive(Args)]
struct NotificationsArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Only this project.
    #[arg(short = 'p', long)]
    project: Option<String>,
    /// At most this many (newest first).
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

#[derive(Args)]
struct NotifyArgs {
    #[command(subcommand)]
    action: NotifyAction,
}

#[derive(Subcommand)]
enum NotifyAction {
    /// Send a test event through the running server's sender (recorded like any other).
    Test(NotifyTestArgs),
}

#[derive(Args)]
struct NotifyTestArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The project of NAME, when NAME does not name it.
    #[arg(short = 'p', long)]
    project: Option<String>,
    /// The Notification: PROJECT/NAME, or NAME with -p.
    #[arg(value_name = "PROJECT/NAME")]
    notification: String,
}

#[derive(Args)]
struct ExplainArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The receiver the webhook is addressed to: PROJECT/NAME (`/NAME` for a ClusterConfig
    /// receiver), or NAME with -p.
    #[arg(long, value_name = "PROJECT/NAME")]
    receiver: String,
    /// The project of --receiver, when it does not name it.
    #[arg(short = 'p', long)]
    project: Option<String>,
    /// The webhook body, as the registry or git host sends it (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    payload: PathBuf,
    /// A request header, as curl spells it. Repeatable.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// The receiver URL's query string, without `?` (e.g. region=westus).
    #[arg(long)]
    query: Option<String>,
    /// As `serve --registry-alias`. Repeatable.
    #[arg(long = "registry-alias", value_parser = parse_alias, value_name = "FROM=TO")]
    registry_aliases: Vec<(String, String)>,
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    output: Output,
}

#[derive(Args)]
struct VersionArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The client's version only; do not ask a server.
    #[arg(long)]
    client: bool,
}

#[derive(Args)]
struct CompletionArgs {
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    dockhand_core::config::parse_duration(s)
}

fn parse_bytes(s: &str) -> Result<usize, String> {
    dockhand::bytesize::parse(s)
}

/// `--max-store-bytes`: a size with units (`1GiB`), at least 1 MiB.
fn parse_store_bytes(s: &str) -> Result<u64, String> {
    let n = dockhand::bytesize::parse(s)? as u64;
    if n < 1024 * 1024 {
        return Err(format!("{s} is less than the least store budget, 1MiB"));
    }
    Ok(n)
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
    client::set_headers(!cli.no_headers);
    dockhand::logging::init(match &cli.command {
        Command::Serve(a) if matches!(a.log_format, LogFormat::Json) => {
            dockhand::logging::Format::Json
        }
        _ => dockhand::logging::Format::Text,
    });
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

/// Completes on SIGTERM or SIGINT (Ctrl-C). The handlers are installed when this is called,
/// not when the future is first polled: `serve` calls it before binding, so a SIGTERM that
/// arrives as soon as the server answers is a graceful stop, not the default action (death).
fn termination() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
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

/// Prints a server answer `v` as JSON or YAML as it came, or as a table of it read as `T`.
/// One delivery with its kept request: as text, or as the delivery object with a `payload`
/// field (`-o json|yaml`).
fn show_delivery(
    output: Output,
    delivery: serde_json::Value,
    payload: serde_json::Value,
) -> anyhow::Result<()> {
    match output {
        Output::Table => {
            let d: api::Delivery = serde_json::from_value(delivery)?;
            let p: api::Payload = serde_json::from_value(payload)?;
            client::print_delivery_detail(&d, Some(&p));
            Ok(())
        }
        _ => {
            let mut v = delivery;
            if let Some(map) = v.as_object_mut() {
                map.insert("payload".into(), payload);
            }
            print_as(output, v, |_: serde_json::Value| {})
        }
    }
}

fn print_as<T: serde::de::DeserializeOwned>(
    output: Output,
    v: serde_json::Value,
    table: impl FnOnce(T),
) -> anyhow::Result<()> {
    match output {
        Output::Json => print_json(&v),
        Output::Yaml => client::print_yaml(&v),
        Output::Table => {
            table(serde_json::from_value(v)?);
            Ok(())
        }
    }
}

/// `PROJECT/WAREHOUSE`, or `WAREHOUSE` with `-p PROJECT`.
fn warehouse_arg(project: Option<&str>, spelt: &str) -> anyhow::Result<(String, String)> {
    match (project, spelt.contains('/')) {
        (Some(p), false) => Ok((p.to_string(), spelt.to_string())),
        (None, false) => {
            anyhow::bail!("expected PROJECT/WAREHOUSE, or WAREHOUSE with -p PROJECT; got {spelt:?}")
        }
        (project, true) => {
            let (p, n) = client::split_warehouse(spelt)?;
            if project.is_some_and(|given| given != p) {
                anyhow::bail!(
                    "-p {} and {spelt:?} name different projects",
                    project.unwrap_or_default()
                );
            }
            Ok((p.to_string(), n.to_string()))
        }
    }
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
            let shutdown = termination();
            let server = serve::Server::bind(serve::Options {
                source,
                config: a.config,
                listen: a.listen,
                admin_listen: a.admin_listen,
                data_dir: a.data_dir,
                database: a.database_url.map(|url| PostgresOptions {
                    url,
                    keep_deliveries: a.keep_deliveries.max(1),
                    max_store_bytes: a.max_store_bytes,
                    max_connections: 16,
                }),
                refresh_lease: a.refresh_lease.max(Duration::from_secs(1)),
                base_url: a.base_url,
                keep_deliveries: a.keep_deliveries.max(1),
                max_store_bytes: a.max_store_bytes,
                refresh_workers: a.refresh_workers.max(1),
                refresh_cooldown: a.refresh_cooldown,
                admin_token_file: a.admin_token_file,
                registry_aliases: a.registry_aliases,
                max_body_bytes: a.max_body_bytes,
                keep_payloads: a.keep_payloads,
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
                reconcile_on_start: a.reconcile_on_start,
                metrics_listen: a.metrics_listen,
                notification_deadline: a.notification_deadline,
            })
            .await?;
            forward_sighup(server.reload_requests());
            server.run(shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate(a) => {
            let store = PostgresStore::open(&PostgresOptions {
                url: a.database_url,
                keep_deliveries: 1,
                max_store_bytes: u64::MAX,
                max_connections: 2,
            })
            .await?;
            dockhand::store::Store::close(&store).await;
            eprintln!("the database schema is up to date");
            Ok(ExitCode::SUCCESS)
        }
        Command::Check(a) => match dockhand_core::config::load(&a.config) {
            Ok(c) => {
                for w in &c.warnings {
                    eprintln!("warning: {w}");
                }
                client::print_line(&format!(
                    "configuration OK: {} project(s), {} receiver(s), {} warehouse(s), {} notification(s), {} other document(s) skipped",
                    c.projects.len(),
                    c.receivers.len(),
                    c.warehouses.len(),
                    c.notifications.len(),
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
            let mut report = dockhand::kargo::source::receivers_once(
                kargo,
                receiver_urls::base_path(&a.base_url),
            )
            .await
            .map_err(|e| anyhow::anyhow!("cannot read ProjectConfigs and ClusterConfigs: {e}"))?;
            for p in &report.problems {
                eprintln!("warning: {p}");
            }
            if let Some(p) = &a.project {
                report.receivers.retain(|r| &r.project == p);
            }
            match a.output {
                Output::Json => print_json(&report.receivers)?,
                Output::Yaml => client::print_yaml(&report.receivers)?,
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
            let mut rows = receiver_urls::rows(&config, &a.base_url);
            if let Some(p) = &a.project {
                rows.retain(|r| &r.project == p);
            }
            match a.output {
                Output::Json => print_json(&rows)?,
                Output::Yaml => client::print_yaml(&rows)?,
                Output::Table => client::print_receivers(&rows),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Deliveries(DeliveriesArgs {
            show: Some(DeliveriesCommand::Show(a)),
            ..
        }) => {
            let c = Client::new(&a.server.server, token(&a.server)?);
            let path = format!("/api/v1/deliveries/{}", client::encode(&a.id));
            let d = c.get(&path).await?;
            let p = c.get(&format!("{path}/payload")).await?;
            show_delivery(a.server.output, d, p)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay(a) => {
            let c = Client::new(&a.server.server, token(&a.server)?);
            let path = format!("/api/v1/deliveries/{}/replay", client::encode(&a.id));
            let d: api::Delivery = serde_json::from_value(c.post(&path).await?)?;
            let p = c
                .get(&format!(
                    "/api/v1/deliveries/{}/payload",
                    client::encode(&d.id)
                ))
                .await?;
            show_delivery(a.server.output, serde_json::to_value(&d)?, p)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Artifacts(a) => {
            let c = Client::new(&a.server.server, token(&a.server)?);
            let mut q = format!(
                "/api/v1/artifacts?repository={}",
                client::encode(&a.repository)
            );
            if let Some(t) = &a.tag {
                q.push_str(&format!("&tag={}", client::encode(t)));
            }
            let v = c.get(&q).await?;
            print_as(a.server.output, v, |r: api::Replication| {
                client::print_replication(&r)
            })?;
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
            if !a.watch {
                print_as(a.server.output, v, |list: Vec<api::Delivery>| {
                    client::print_deliveries(&list)
                })?;
                return Ok(ExitCode::SUCCESS);
            }
            // Follow: the list oldest first, then each delivery not seen before as it arrives
            // (ids are time-ordered UUIDv7s); one object per line with -o json/yaml.
            let mut list: Vec<api::Delivery> = serde_json::from_value(v)?;
            list.reverse();
            let mut seen: std::collections::HashSet<String> =
                list.iter().map(|d| d.id.clone()).collect();
            client::print_delivery_stream(a.server.output.into(), &list, true)?;
            // One handler for the whole watch: once installed, the signal's default action
            // (exit) is gone, so a fresh one per poll would miss a Ctrl-C between polls.
            let stop = termination();
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    _ = &mut stop => return Ok(ExitCode::SUCCESS),
                    _ = tokio::time::sleep(a.watch_interval.max(Duration::from_millis(100))) => {}
                }
                let mut fresh: Vec<api::Delivery> = serde_json::from_value(c.get(&q).await?)?;
                fresh.retain(|d| !seen.contains(&d.id));
                fresh.reverse();
                for d in &fresh {
                    seen.insert(d.id.clone());
                }
                client::print_delivery_stream(a.server.output.into(), &fresh, false)?;
            }
        }
        Command::Warehouses(a) => {
            let c = Client::new(&a.server.server, token(&a.server)?);
            match &a.warehouse {
                Some(w) => {
                    let (p, n) = warehouse_arg(a.project.as_deref(), w)?;
                    let v = c
                        .get(&format!(
                            "/api/v1/warehouses/{}/{}",
                            client::encode(&p),
                            client::encode(&n)
                        ))
                        .await?;
                    print_as(a.server.output, v, |w: api::WarehouseDetail| {
                        client::print_warehouses(std::slice::from_ref(&w.warehouse))
                    })?;
                }
                None => {
                    let mut list: Vec<api::Warehouse> =
                        serde_json::from_value(c.get("/api/v1/warehouses").await?)?;
                    if let Some(p) = &a.project {
                        list.retain(|w| &w.project == p);
                    }
                    print_as(
                        a.server.output,
                        serde_json::to_value(&list)?,
                        |list: Vec<api::Warehouse>| client::print_warehouses(&list),
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Refresh(a) => {
            let c = Client::new(&a.server.server, token(&a.server)?);
            let (p, n) = warehouse_arg(a.project.as_deref(), &a.warehouse)?;
            let path = format!(
                "/api/v1/warehouses/{}/{}",
                client::encode(&p),
                client::encode(&n)
            );
            // The reconcile count before asking, so --wait knows which reconcile is ours.
            let before: Option<api::Warehouse> = if a.wait {
                Some(serde_json::from_value(c.get(&path).await?)?)
            } else {
                None
            };
            let v = c.post(&format!("{path}/refresh")).await?;
            let Some(before) = before else {
                print_as(a.server.output, v, |r: api::RefreshRequested| {
                    client::print_line(&r.msg)
                })?;
                return Ok(ExitCode::SUCCESS);
            };
            let deadline = tokio::time::Instant::now() + a.timeout;
            let stop = termination();
            tokio::pin!(stop);
            let after = loop {
                let w: api::Warehouse = serde_json::from_value(c.get(&path).await?)?;
                if w.reconcile_count > before.reconcile_count && !w.pending {
                    break w;
                }
                if tokio::time::Instant::now() >= deadline {
                    anyhow::bail!(
                        "{p}/{n} was not reconciled within {:?} (still pending: {})",
                        a.timeout,
                        w.pending
                    );
                }
                tokio::select! {
                    _ = &mut stop => return Ok(ExitCode::from(1)),
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            };
            let failed = after.last_error.is_some();
            print_as(
                a.server.output,
                serde_json::to_value(&after)?,
                |w: api::Warehouse| match &w.last_error {
                    Some(e) => client::print_line(&format!("{p}/{n} reconcile failed: {e}")),
                    None => client::print_line(&format!(
                        "{p}/{n} reconciled at {}",
                        w.last_reconciled.as_deref().unwrap_or("-")
                    )),
                },
            )?;
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Freight(a) => {
            let c = Client::new(&a.server.server, token(&a.server)?);
            let mut q = String::from("/api/v1/freight");
            match (&a.warehouse, &a.project) {
                (Some(w), project) => {
                    let (p, n) = warehouse_arg(project.as_deref(), w)?;
                    q.push_str(&format!(
                        "?project={}&warehouse={}",
                        client::encode(&p),
                        client::encode(&n)
                    ));
                }
                (None, Some(p)) => q.push_str(&format!("?project={}", client::encode(p))),
                (None, None) => {}
            }
            let v = c.get(&q).await?;
            print_as(a.server.output, v, |list: Vec<api::Freight>| {
                client::print_freight(&list)
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Notifications(a) => {
            let c = Client::new(&a.server.server, token(&a.server)?);
            let mut q = format!("/api/v1/notifications?limit={}", a.limit);
            if let Some(p) = &a.project {
                q.push_str(&format!("&project={}", client::encode(p)));
            }
            let v = c.get(&q).await?;
            print_as(a.server.output, v, |list: Vec<api::Notification>| {
                client::print_notifications(&list)
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Notify(NotifyArgs {
            action: NotifyAction::Test(a),
        }) => {
            let c = Client::new(&a.server.server, token(&a.server)?);
            let (p, n) = match (a.project.as_deref(), a.notification.split_once('/')) {
                (_, Some((p, n))) if !p.is_empty() && !n.is_empty() && !n.contains('/') => {
                    if a.project.as_deref().is_some_and(|given| given != p) {
                        anyhow::bail!("-p and {:?} name different projects", a.notification);
                    }
                    (p.to_string(), n.to_string())
                }
                (Some(p), None) => (p.to_string(), a.notification.clone()),
                _ => anyhow::bail!(
                    "expected PROJECT/NAME, or NAME with -p PROJECT; got {:?}",
                    a.notification
                ),
            };
            let v = c
                .post(&format!(
                    "/api/v1/notifications/{}/{}/test",
                    client::encode(&p),
                    client::encode(&n)
                ))
                .await?;
            print_as(a.server.output, v, |r: api::NotificationQueued| {
                client::print_line(&r.msg)
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain(a) => {
            let config = dockhand_core::config::load(&a.config.config).map_err(|errors| {
                for e in &errors.0 {
                    eprintln!("error: {e}");
                }
                anyhow::anyhow!("the configuration has {} problem(s)", errors.0.len())
            })?;
            let payload = if a.payload.as_os_str() == "-" {
                let mut buf = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).map_err(|e| {
                    anyhow::anyhow!("cannot read the payload from standard input: {e}")
                })?;
                buf
            } else {
                std::fs::read(&a.payload)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", a.payload.display()))?
            };
            let payload = String::from_utf8(payload).map_err(|_| {
                anyhow::anyhow!(
                    "{} is not UTF-8 text; webhook payloads are JSON",
                    a.payload.display()
                )
            })?;
            let receiver = match (&a.project, a.receiver.contains('/')) {
                (Some(p), false) => format!("{p}/{}", a.receiver),
                _ => a.receiver.clone(),
            };
            let snap = dockhand::snapshot::Snapshot::build(config, &a.registry_aliases);
            let request = dockhand::explain::Request {
                receiver,
                headers: a.headers,
                query: a.query,
                payload,
            };
            let decision = dockhand::explain::explain(&snap, None, &request)?;
            let delivery = api::Delivery::from(decision.record);
            match a.output {
                Output::Json => print_json(&delivery)?,
                Output::Yaml => client::print_yaml(&delivery)?,
                Output::Table => client::print_explanation(&delivery, decision.body.as_ref()),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Version(a) => {
            let client_version = env!("CARGO_PKG_VERSION");
            let server = if a.client {
                None
            } else {
                let c = Client::new(&a.server.server, token(&a.server)?);
                Some(
                    c.get("/api/v1/version")
                        .await
                        .and_then(|v| Ok(serde_json::from_value::<api::Version>(v)?)),
                )
            };
            let report = api::VersionReport {
                client: api::Version {
                    version: client_version.to_string(),
                },
                server: match &server {
                    Some(Ok(v)) => Some(v.clone()),
                    _ => None,
                },
            };
            match a.server.output {
                Output::Json => print_json(&report)?,
                Output::Yaml => client::print_yaml(&report)?,
                Output::Table => {
                    client::print_line(&format!("Client Version: {client_version}"));
                    if let Some(v) = &report.server {
                        client::print_line(&format!("Server Version: {}", v.version));
                    }
                }
            }
            match server {
                Some(Err(e)) => Err(e),
                _ => Ok(ExitCode::SUCCESS),
            }
        }
        Command::Completion(a) => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            let mut out = Vec::new();
            clap_complete::generate(a.shell, &mut cmd, "dockhand", &mut out);
            client::print_line(String::from_utf8_lossy(&out).trim_end());
            Ok(ExitCode::SUCCESS)
        }
    }
}
