//! fake-kube: a faithful in-process fake of the Kubernetes API server for tests that cannot run a
//! real one. It serves registered resource types over HTTP or HTTPS on loopback with the real
//! server's semantics where clients can tell the difference — one global resourceVersion, LIST
//! pagination with consistent snapshots, WATCH streams with bookmarks and 410 Expired, merge and
//! JSON patches with no-op detection and status-subresource rules, metav1.Status errors, bearer
//! tokens and RBAC from real Role/Binding YAML — plus what tests need on top: injected faults,
//! dropped watches, history compaction, a request journal and a stand-in Kargo controller.
//!
//! See README.md for what it deliberately does not implement.

mod body;
pub mod fault;
pub mod journal;
pub mod kargo;
pub mod rbac;
pub mod resource;
pub mod selector;
mod server;
pub mod status;
pub mod store;
mod tls;
mod watch;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use hyper_util::rt::TokioIo;
use serde::Deserialize as _;
use serde_json::{json, Value};
use tokio::net::TcpListener;

pub use fault::{Fault, FaultKind, Verb};
pub use journal::JournalEntry;
pub use kargo::KargoController;
pub use rbac::{Identity, Rbac};
pub use resource::{kargo_types, ResourceType};
pub use status::ApiError;
use store::{PatchKind, Store};

#[derive(Debug, thiserror::Error)]
pub enum FakeKubeError {
    #[error("binding or serving: {0}")]
    Io(#[from] std::io::Error),
    #[error("generating the test certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("configuring TLS: {0}")]
    Tls(#[from] tokio_rustls::rustls::Error),
    #[error(transparent)]
    Rbac(#[from] rbac::RbacError),
    #[error("YAML document {index}: {source}")]
    Yaml {
        index: usize,
        source: serde_yaml_ng::Error,
    },
    #[error("no registered resource type for {0}")]
    UnknownType(String),
    #[error("two registered resource types share the plural {0}")]
    DuplicatePlural(String),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("kubectl kustomize {dir}: {message}")]
    Kustomize { dir: String, message: String },
}

/// Renders a kustomize directory with `kubectl kustomize` (kubectl from `KUBECTL` or `PATH`), for
/// loading the shipped RBAC with [`Builder::rbac_yaml`] or [`FakeKube::apply_yaml`].
pub fn kustomize(dir: &Path) -> Result<String, FakeKubeError> {
    let kubectl = std::env::var_os("KUBECTL").unwrap_or_else(|| "kubectl".into());
    let failed = |message: String| FakeKubeError::Kustomize {
        dir: dir.display().to_string(),
        message,
    };
    let out = std::process::Command::new(&kubectl)
        .arg("kustomize")
        .arg(dir)
        .output()
        .map_err(|e| failed(format!("could not run kubectl ({e}); install it (Debian/Ubuntu: apt-get install kubernetes-client) or set KUBECTL")))?;
    if !out.status.success() {
        return Err(failed(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| failed(e.to_string()))
}

/// Locks a mutex; a panic while holding it (only possible in a test) does not poison the fake.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub bookmark_interval: Duration,
    pub default_watch_timeout: Duration,
}

/// State shared by the server's connections, the admin API and the Kargo controller.
pub(crate) struct Shared {
    pub store: Mutex<Store>,
    pub revision_tx: tokio::sync::watch::Sender<u64>,
    pub drop_tx: tokio::sync::watch::Sender<u64>,
    pub shutdown_tx: tokio::sync::watch::Sender<bool>,
    pub tokens: Mutex<HashMap<String, Identity>>,
    pub rbac: Mutex<Rbac>,
    pub faults: Mutex<Vec<Fault>>,
    pub journal: Mutex<Vec<JournalEntry>>,
    pub open_watches: AtomicUsize,
    pub config: Config,
    pub addr: SocketAddr,
}

impl Shared {
    pub fn read<T>(&self, f: impl FnOnce(&Store) -> Result<T, ApiError>) -> Result<T, ApiError> {
        f(&lock(&self.store))
    }

    /// Runs a write and wakes the watches if it advanced the revision.
    pub fn write<T>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let (result, revision) = {
            let mut store = lock(&self.store);
            let r = f(&mut store);
            (r, store.revision())
        };
        self.revision_tx.send_if_modified(|current| {
            let changed = *current != revision;
            *current = revision;
            changed
        });
        result
    }

    pub fn take_fault(&self, verb: Verb, resource: &str) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        let i = faults.iter().position(|f| f.matches(verb, resource))?;
        faults[i].count -= 1;
        let fault = faults[i].clone();
        if faults[i].count == 0 {
            faults.remove(i);
        }
        Some(fault)
    }

    pub fn api_groups(&self) -> Value {
        let store = lock(&self.store);
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for t in store.types.iter().filter(|t| !t.group.is_empty()) {
            match groups.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, versions)) if !versions.contains(&t.version) => {
                    versions.push(t.version.clone())
                }
                Some(_) => {}
                None => groups.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        let groups: Vec<Value> = groups
            .into_iter()
            .map(|(g, versions)| {
                let vs: Vec<Value> = versions
                    .iter()
                    .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
                    .collect();
                json!({"name": g, "versions": vs, "preferredVersion": vs[0]})
            })
            .collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    pub fn api_resources(&self, group: &str, version: &str) -> Result<Value, ApiError> {
        let store = lock(&self.store);
        let mut resources = Vec::new();
        for t in store
            .types
            .iter()
            .filter(|t| t.group == group && t.version == version)
        {
            resources.push(json!({
                "name": t.plural, "singularName": t.singular, "namespaced": t.namespaced, "kind": t.kind,
                "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
            }));
            if t.status_subresource {
                resources.push(json!({
                    "name": format!("{}/status", t.plural), "singularName": "", "namespaced": t.namespaced,
                    "kind": t.kind, "verbs": ["get", "patch", "update"],
                }));
            }
        }
        if resources.is_empty() {
            return Err(ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ));
        }
        let group_version = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        Ok(
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}),
        )
    }
}

/// Configures a [`FakeKube`] before it starts.
#[derive(Debug, Clone)]
pub struct Builder {
    types: Vec<ResourceType>,
    tokens: Vec<(String, Identity)>,
    rbac_yaml: Vec<String>,
    tls: bool,
    history_limit: usize,
    bookmark_interval: Duration,
    default_watch_timeout: Duration,
}

/// The token of the identity that [`Builder`] always registers and RBAC never checks.
pub const ADMIN_TOKEN: &str = "fake-kube-admin";

impl Default for Builder {
    fn default() -> Self {
        Builder {
            types: kargo_types(),
            tokens: vec![(ADMIN_TOKEN.to_string(), Identity::admin("fake-kube-admin"))],
            rbac_yaml: Vec::new(),
            tls: false,
            history_limit: 10_000,
            bookmark_interval: Duration::from_secs(5),
            default_watch_timeout: Duration::from_secs(1800),
        }
    }
}

impl Builder {
    /// Serve these types instead of [`kargo_types`].
    pub fn types(mut self, types: Vec<ResourceType>) -> Self {
        self.types = types;
        self
    }

    pub fn add_type(mut self, t: ResourceType) -> Self {
        self.types.push(t);
        self
    }

    pub fn token(mut self, token: &str, identity: Identity) -> Self {
        self.tokens.push((token.to_string(), identity));
        self
    }

    /// Multi-document YAML with RBAC objects; may be given several times.
    pub fn rbac_yaml(mut self, yaml: &str) -> Self {
        self.rbac_yaml.push(yaml.to_string());
        self
    }

    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }

    /// How many events are retained for watches and continue tokens (default 10,000).
    pub fn history_limit(mut self, events: usize) -> Self {
        self.history_limit = events;
        self
    }

    /// How often watches that allow bookmarks get one (default 5 s).
    pub fn bookmark_interval(mut self, every: Duration) -> Self {
        self.bookmark_interval = every;
        self
    }

    /// How long a watch without `timeoutSeconds` lasts (default 30 min).
    pub fn default_watch_timeout(mut self, after: Duration) -> Self {
        self.default_watch_timeout = after;
        self
    }

    /// Binds 127.0.0.1:0 and starts serving on the current tokio runtime.
    pub async fn start(self) -> Result<FakeKube, FakeKubeError> {
        for (i, t) in self.types.iter().enumerate() {
            if self.types[..i].iter().any(|o| o.plural == t.plural) {
                return Err(FakeKubeError::DuplicatePlural(t.plural.clone()));
            }
        }
        let mut rbac = Rbac::default();
        for yaml in &self.rbac_yaml {
            rbac.load_yaml(yaml)?;
        }
        let tls = if self.tls {
            Some(tls::generate()?)
        } else {
            None
        };
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let store = Store::new(self.types, self.history_limit);
        let revision = store.revision();
        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            revision_tx: tokio::sync::watch::Sender::new(revision),
            drop_tx: tokio::sync::watch::Sender::new(0),
            shutdown_tx: tokio::sync::watch::Sender::new(false),
            tokens: Mutex::new(self.tokens.into_iter().collect()),
            rbac: Mutex::new(rbac),
            faults: Mutex::new(Vec::new()),
            journal: Mutex::new(Vec::new()),
            open_watches: AtomicUsize::new(0),
            config: Config {
                bookmark_interval: self.bookmark_interval,
                default_watch_timeout: self.default_watch_timeout,
            },
            addr,
        });
        let scheme = if tls.is_some() { "https" } else { "http" };
        let ca_pem = tls.as_ref().map(|t| t.ca_pem.clone());
        tokio::spawn(accept_loop(
            listener,
            shared.clone(),
            tls.map(|t| t.acceptor),
        ));
        Ok(FakeKube {
            url: format!("{scheme}://{addr}"),
            ca_pem,
            shared,
        })
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let mut shutdown = shared.shutdown_tx.subscribe();
    loop {
        let stream = tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let shared = shared.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req| server::handle(shared.clone(), req));
            let http = hyper::server::conn::http1::Builder::new();
            // A failed connection concerns only its client; the server keeps accepting.
            let _ = match tls {
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(s) => http.serve_connection(TokioIo::new(s), service).await,
                    Err(_) => return,
                },
                None => http.serve_connection(TokioIo::new(stream), service).await,
            };
        });
    }
}

/// A running fake API server; stops serving when dropped.
pub struct FakeKube {
    url: String,
    ca_pem: Option<String>,
    shared: Arc<Shared>,
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        self.shared.shutdown_tx.send_replace(true);
    }
}

impl FakeKube {
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The CA certificate (PEM) that signed the server certificate, in TLS mode.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Writes a kubeconfig with this server, its CA and `token`, as current context `fake-kube`
    /// with default namespace `namespace`.
    pub fn write_kubeconfig(
        &self,
        path: &Path,
        token: &str,
        namespace: &str,
    ) -> std::io::Result<()> {
        let ca = match &self.ca_pem {
            Some(pem) => format!(
                "\n    certificate-authority-data: {}",
                base64::engine::general_purpose::STANDARD.encode(pem)
            ),
            None => String::new(),
        };
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake-kube\n  cluster:\n    server: {url}{ca}\nusers:\n- name: fake-kube\n  user:\n    token: {token}\ncontexts:\n- name: fake-kube\n  context:\n    cluster: fake-kube\n    user: fake-kube\n    namespace: {namespace}\ncurrent-context: fake-kube\n",
            url = self.url,
        );
        std::fs::write(path, text)
    }

    pub fn add_token(&self, token: &str, identity: Identity) {
        lock(&self.shared.tokens).insert(token.to_string(), identity);
    }

    pub fn load_rbac_yaml(&self, yaml: &str) -> Result<(), FakeKubeError> {
        Ok(lock(&self.shared.rbac).load_yaml(yaml)?)
    }

    /// Replaces all RBAC objects.
    pub fn set_rbac(&self, rbac: Rbac) {
        *lock(&self.shared.rbac) = rbac;
    }

    /// The current global revision.
    pub fn revision(&self) -> u64 {
        lock(&self.shared.store).revision()
    }

    pub fn inject(&self, fault: Fault) {
        lock(&self.shared.faults).push(fault);
    }

    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Cuts every open watch stream off mid-stream, as a lost connection would.
    pub fn drop_watches(&self) {
        self.shared.drop_tx.send_modify(|epoch| *epoch += 1);
    }

    /// Watch streams currently open.
    pub fn open_watches(&self) -> usize {
        self.shared
            .open_watches
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Forgets the event history: watches and continue tokens from before now answer 410.
    pub fn compact(&self) {
        lock(&self.shared.store).compact();
        // Watches behind the compaction must notice it and send their ERROR event.
        self.shared.revision_tx.send_modify(|_| {});
    }

    pub fn set_history_limit(&self, events: usize) {
        lock(&self.shared.store).set_history_limit(events);
    }

    pub fn journal(&self) -> Vec<JournalEntry> {
        lock(&self.shared.journal).clone()
    }

    pub fn clear_journal(&self) {
        lock(&self.shared.journal).clear();
    }

    /// A stand-in for Kargo's controllers that works on this server's objects.
    pub fn kargo_controller(&self) -> KargoController {
        KargoController::new(self.shared.clone())
    }

    // Admin access to objects without HTTP, RBAC or faults, for test setup and assertions.
    // Types are named by plural; writes wake watches like any other write.

    pub fn create(
        &self,
        plural: &str,
        namespace: Option<&str>,
        object: Value,
    ) -> Result<Value, FakeKubeError> {
        let t = self.type_id(plural)?;
        Ok(self.shared.write(|s| s.create(t, namespace, object))?)
    }

    pub fn get(
        &self,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, FakeKubeError> {
        let t = self.type_id(plural)?;
        Ok(self.shared.read(|s| s.get(t, namespace, name))?)
    }

    pub fn list(&self, plural: &str, namespace: Option<&str>) -> Result<Vec<Value>, FakeKubeError> {
        let t = self.type_id(plural)?;
        Ok(self.shared.read(|s| Ok(s.current(t, namespace)))?)
    }

    /// An RFC 7386 merge patch of the main resource (status changes dropped on status-subresource types).
    pub fn merge_patch(
        &self,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Result<Value, FakeKubeError> {
        let t = self.type_id(plural)?;
        Ok(self
            .shared
            .write(|s| s.patch(t, namespace, name, PatchKind::Merge, patch, false))?)
    }

    /// An RFC 7386 merge patch through the status subresource.
    pub fn merge_patch_status(
        &self,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Result<Value, FakeKubeError> {
        let t = self.type_id(plural)?;
        Ok(self
            .shared
            .write(|s| s.patch(t, namespace, name, PatchKind::Merge, patch, true))?)
    }

    pub fn delete(
        &self,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, FakeKubeError> {
        let t = self.type_id(plural)?;
        Ok(self.shared.write(|s| s.delete(t, namespace, name))?)
    }

    /// Creates every object of a multi-document YAML whose `apiVersion`/`kind` is served
    /// (RBAC objects are loaded into the authorizer instead); returns how many were created.
    pub fn apply_yaml(&self, yaml: &str) -> Result<usize, FakeKubeError> {
        let mut created = 0;
        for (index, doc) in serde_yaml_ng::Deserializer::from_str(yaml).enumerate() {
            let o =
                Value::deserialize(doc).map_err(|source| FakeKubeError::Yaml { index, source })?;
            if o.is_null() {
                continue;
            }
            let api_version = o["apiVersion"].as_str().unwrap_or("");
            let kind = o["kind"].as_str().unwrap_or("");
            if api_version.starts_with("rbac.authorization.k8s.io/") {
                self.load_rbac_yaml(&o.to_string())?;
                continue;
            }
            let t = {
                let store = lock(&self.shared.store);
                store
                    .types
                    .iter()
                    .position(|t| t.api_version() == api_version && t.kind == kind)
            };
            let t = t.ok_or_else(|| FakeKubeError::UnknownType(format!("{api_version} {kind}")))?;
            let namespace = o["metadata"]["namespace"].as_str().map(str::to_string);
            self.shared
                .write(|s| s.create(t, namespace.as_deref(), o.clone()))?;
            created += 1;
        }
        Ok(created)
    }

    fn type_id(&self, plural: &str) -> Result<store::TypeId, FakeKubeError> {
        lock(&self.shared.store)
            .type_by_plural(plural)
            .ok_or_else(|| FakeKubeError::UnknownType(plural.to_string()))
    }
}
