//! Reading Kargo manifests from files and directories into a [`Config`]: which files, which
//! documents, which kinds, and the checks that span documents (duplicate names, receivers'
//! Secrets). Every problem is collected, located by file, document and field, so that
//! `dockhand check` can print them all at once.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml_ng::Value;

use super::diagnostics::{type_name, typed, ConfigError, ConfigErrors, Problems};
use super::direct;
use super::notification::{self, PendingNotification, DOCKHAND_API_VERSION};
use super::project_config::{self, PendingReceiver};
use super::secrets::{self, StoredSecret};
use super::{credentials, Credential};
use super::{manifest, warehouse, Config, Origin, Warehouse};

/// The API group of the Kargo kinds read here, and the one version dockhand understands.
const KARGO_GROUP: &str = "kargo.akuity.io";
pub(super) const KARGO_API_VERSION: &str = "kargo.akuity.io/v1alpha1";

/// Loads every `*.yaml`/`*.yml` under `paths` (files or directories, recursively).
///
/// Directories are read in name order, so the result does not depend on the file system.
/// Entries whose name starts with `.` are passed over: they are `.git`, editor files, and the
/// `..data` links of a Kubernetes ConfigMap volume, which would load every file twice. A file
/// named directly is read whatever its extension, and a file reached twice is read once.
pub fn load(paths: &[PathBuf]) -> Result<Config, ConfigErrors> {
    read(paths).finish()
}

/// Loads like [`load`] but object by object: a Warehouse, a receiver or a Secret with a problem
/// is reported and left out, and the others are returned with the problems. A live source (a
/// cluster, where one broken object must not stop the rest) uses this; `check` and files-mode
/// start-up use the strict [`load`], which accepts nothing when anything is wrong.
///
/// What a problem leaves out is the object it belongs to: a broken Warehouse, a receiver entry
/// (or a receiver whose Secret is missing or broken), a document that is not a manifest. A YAML
/// syntax error leaves out the rest of its file, since the parser cannot resume after it.
pub fn load_lenient(paths: &[PathBuf]) -> (Config, Vec<ConfigError>) {
    read(paths).finish_lenient()
}

/// The Secrets of ClusterConfig receivers live here unless told otherwise (Kargo's
/// `SYSTEM_RESOURCES_NAMESPACE` default).
pub const DEFAULT_SYSTEM_NAMESPACE: &str = "kargo-system-resources";

/// Loads manifests already parsed (objects read from a cluster), object by object like
/// [`load_lenient`]: each `(origin, document)` is one manifest. ClusterConfig receivers find
/// their Secrets in `system_namespace`.
pub fn load_documents_lenient(
    documents: impl IntoIterator<Item = (Origin, Value)>,
    system_namespace: &str,
) -> (Config, Vec<ConfigError>) {
    let mut loader = Loader {
        system_namespace: system_namespace.to_string(),
        ..Loader::default()
    };
    for (origin, doc) in documents {
        loader.add_document(&origin, &doc, None);
    }
    loader.finish_lenient()
}

/// The files [`load`] reads for `paths`, in the order it reads them, and the problems met
/// finding them (a path that cannot be read). The same walk serves the reload watcher, so what
/// it watches is exactly what a load reads: dot-entries passed over, symlink loops ended.
pub fn config_files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<ConfigError>) {
    let mut problems = Problems::default();
    let files = find_files(paths, &mut problems, &mut Vec::new());
    (files, problems.0)
}

/// The files under `paths`. A path named directly must be a directory or a regular file; below a
/// directory, anything else (a FIFO, a socket, a device) is passed over with a warning, since
/// reading it could block forever.
fn find_files(
    paths: &[PathBuf],
    problems: &mut Problems,
    warnings: &mut Vec<ConfigError>,
) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut seen = HashSet::new();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk(path, &mut files, &mut seen, problems, warnings),
            Ok(meta) if !meta.is_file() => problems.file(
                &path.display().to_string(),
                "is not a regular file or a directory (a FIFO, socket or device is never read)",
            ),
            Ok(_) => {
                if seen.insert(canonical(path)) {
                    files.push(path.clone());
                }
            }
            Err(e) => problems.file(&path.display().to_string(), format!("cannot read: {e}")),
        }
    }
    files
}

/// Reads every file under `paths` into a loader, recording problems as it goes.
///
/// Reading and parsing a file (libyaml, most of a load) needs nothing from the others, so it
/// runs on several threads ([`parse_files`]); adding what a file holds to the loader (names,
/// duplicates, "first wins") stays on this thread, in file order, so the result and every
/// diagnostic, in their order, are those of a load one file after another.
fn read(paths: &[PathBuf]) -> Loader {
    let mut loader = Loader::default();
    let files = find_files(paths, &mut loader.problems, &mut loader.warnings);
    parse_files(&files, |file, parsed| {
        loader.add_parsed(&file.display().to_string(), parsed)
    });
    loader
}

/// A file read and parsed, not yet added to a loader.
enum Parsed {
    /// A problem with the whole file (cannot be read, not UTF-8, over a limit).
    File(String),
    /// Its documents, in order: the `i`th is document `i`.
    Documents(Vec<ParsedDocument>),
}

/// One document of a parsed file.
enum ParsedDocument {
    /// A Warehouse read directly: the document without `spec`, and the spec.
    Warehouse {
        rest: Value,
        spec: manifest::Warehouse,
    },
    /// Any other document, through the `Value` path.
    Value(Value),
    /// A YAML syntax error: the parser cannot resume, so it is the file's last entry.
    Invalid(String),
}

/// How far the parse threads may run ahead of the thread adding files: parsed files waiting to
/// be added hold their documents, so this bounds the memory the parallel parse adds.
const AHEAD_FILES: usize = 32;
/// ... and the bytes of text those waiting files had.
const AHEAD_BYTES: usize = 4 << 20;
/// More parse threads than this gains little: adding, on one thread, is about a third of a load.
const MAX_PARSE_THREADS: usize = 4;

/// Reads and parses `files`, handing each to `add` in file order on the calling thread. With
/// more than one core, other threads parse the files ahead of the one `add` is on (at most
/// [`AHEAD_FILES`] files or [`AHEAD_BYTES`] of text waiting), and the calling thread parses a
/// file itself when no other thread has taken it yet.
fn parse_files(files: &[PathBuf], mut add: impl FnMut(&Path, Parsed)) {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_PARSE_THREADS)
        .min(files.len());
    if threads <= 1 {
        for file in files {
            add(file, parse_file(file).0);
        }
        return;
    }
    let window = Window {
        state: std::sync::Mutex::new(Ahead::default()),
        changed: std::sync::Condvar::new(),
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(|| window.work(files));
        }
        for (i, file) in files.iter().enumerate() {
            add(file, window.take(i, files));
        }
        window.close();
    });
}

/// The files parsed ahead of the adding thread, shared by the parse threads.
struct Window {
    state: std::sync::Mutex<Ahead>,
    changed: std::sync::Condvar,
}

#[derive(Default)]
struct Ahead {
    /// The next file no thread has taken.
    next: usize,
    /// The file the adding thread is on (every file before it is added).
    adding: usize,
    /// Files parsed and not yet added, by index, with their size in bytes.
    parsed: HashMap<usize, (Parsed, usize)>,
    /// The bytes of `parsed`.
    bytes: usize,
    /// Every file is added: the parse threads stop.
    closed: bool,
    /// A parse thread panicked, and a file it had taken will never come: the adding thread
    /// parses what it does not find itself (a panic there ends the load as it would have).
    lost: bool,
}

/// Marks the window `lost` when a parse thread unwinds, so the adding thread never waits for
/// its file.
struct LostOnPanic<'a>(&'a Window);

impl Drop for LostOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock().lost = true;
            self.0.changed.notify_all();
        }
    }
}

impl Window {
    fn lock(&self) -> std::sync::MutexGuard<'_, Ahead> {
        // A parse thread does not panic while holding the lock (it only moves values), so a
        // poisoned lock still holds consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(
        &self,
        guard: std::sync::MutexGuard<'a, Ahead>,
    ) -> std::sync::MutexGuard<'a, Ahead> {
        self.changed.wait(guard).unwrap_or_else(|e| e.into_inner())
    }

    /// A parse thread: takes the next file while the window has room, parses it, leaves it.
    fn work(&self, files: &[PathBuf]) {
        let _lost = LostOnPanic(self);
        let mut state = self.lock();
        loop {
            if state.closed || state.next >= files.len() {
                return;
            }
            state = match self.claim(state, files.len()) {
                Ok((state, j)) => self.parse_into(state, j, files),
                Err(state) => self.wait(state),
            };
        }
    }

    /// The adding thread, on file `i`: its parse. While a parse thread has it under way, this
    /// thread parses files further ahead instead of waiting, so both cores stay busy.
    fn take(&self, i: usize, files: &[PathBuf]) -> Parsed {
        let mut state = self.lock();
        state.adding = i;
        self.changed.notify_all();
        loop {
            if let Some((parsed, size)) = state.parsed.remove(&i) {
                state.bytes -= size;
                self.changed.notify_all();
                return parsed;
            }
            if state.next <= i || state.lost {
                state.next = state.next.max(i + 1);
                drop(state);
                return parse_file(&files[i]).0;
            }
            state = match self.claim(state, files.len()) {
                Ok((state, j)) => self.parse_into(state, j, files),
                Err(state) => self.wait(state),
            };
        }
    }

    /// The next file, if the window has room for it.
    fn claim<'a>(
        &self,
        mut state: std::sync::MutexGuard<'a, Ahead>,
        files: usize,
    ) -> Result<(std::sync::MutexGuard<'a, Ahead>, usize), std::sync::MutexGuard<'a, Ahead>> {
        let ahead = state.next - state.adding;
        if state.closed
            || state.next >= files
            || ahead >= AHEAD_FILES
            || (ahead > 0 && state.bytes >= AHEAD_BYTES)
        {
            return Err(state);
        }
        let j = state.next;
        state.next += 1;
        Ok((state, j))
    }

    /// Parses file `j` without the lock, and leaves it for the adding thread.
    fn parse_into<'a>(
        &'a self,
        state: std::sync::MutexGuard<'a, Ahead>,
        j: usize,
        files: &[PathBuf],
    ) -> std::sync::MutexGuard<'a, Ahead> {
        drop(state);
        let (parsed, size) = parse_file(&files[j]);
        let mut state = self.lock();
        state.bytes += size;
        state.parsed.insert(j, (parsed, size));
        self.changed.notify_all();
        state
    }

    fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }
}

/// Reads and parses one file; with the bytes it had, a measure of what its parse holds.
fn parse_file(file: &Path) -> (Parsed, usize) {
    match read_regular(file) {
        Ok(bytes) => {
            let size = bytes.len();
            match String::from_utf8(bytes) {
                Ok(text) => (parse(&text), size),
                Err(_) => (Parsed::File("is not valid UTF-8".into()), 0),
            }
        }
        Err(message) => (Parsed::File(message), 0),
    }
}

/// Parses one file's text into its documents.
fn parse(text: &str) -> Parsed {
    if let Err(message) = super::limits::check(text) {
        return Parsed::File(message);
    }
    let mut parsed = Vec::new();
    // Warehouses are read straight into their typed manifest where that reads exactly what the
    // `Value` path reads (see `direct`): never in a file with a tag.
    let mut direct = !text.contains('!');
    let mut documents = serde_yaml_ng::Deserializer::from_str(text).enumerate();
    while let Some((document, de)) = documents.next() {
        let de = if direct {
            match direct::Document::deserialize(de) {
                Ok(direct::Document::Warehouse { rest, spec }) => {
                    parsed.push(ParsedDocument::Warehouse { rest, spec });
                    continue;
                }
                Ok(direct::Document::Other(doc)) => {
                    parsed.push(ParsedDocument::Value(doc));
                    continue;
                }
                Err(_) => {
                    // Something the direct read does not take: this document and the rest of
                    // the file go through the `Value` path, which says what is wrong if
                    // anything is. (Per document, a file of such Warehouses would be parsed
                    // again for each.)
                    direct = false;
                    documents = serde_yaml_ng::Deserializer::from_str(text).enumerate();
                    match documents.nth(document) {
                        Some((_, de)) => de,
                        None => break,
                    }
                }
            }
        } else {
            de
        };
        match Value::deserialize(de) {
            Ok(doc) => parsed.push(ParsedDocument::Value(doc)),
            Err(e) => {
                // The parser cannot find its footing again after a syntax error; the rest of
                // the file is not read.
                parsed.push(ParsedDocument::Invalid(format!("invalid YAML: {e}")));
                break;
            }
        }
    }
    Parsed::Documents(parsed)
}

/// Reads a manifest file that is still a regular file when opened, up to the size limit. The
/// file is opened without blocking and checked through the open handle, so one swapped for a
/// FIFO after the walk is refused instead of blocking the load (and every later reload).
fn read_regular(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options
        .open(path)
        .map_err(|e| format!("cannot read: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("is not a regular file (a FIFO, socket or device is never read)".into());
    }
    if meta.len() > super::limits::MAX_FILE_BYTES {
        return Err(super::limits::too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(super::limits::MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > super::limits::MAX_FILE_BYTES {
        return Err(super::limits::too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Loads manifests from one string, named `file` in messages.
pub fn load_str(file: &str, text: &str) -> Result<Config, ConfigErrors> {
    let mut loader = Loader::default();
    loader.add_file(file, text);
    loader.finish()
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Appends the YAML files under `dir` to `files`, depth first, in name order. `seen` holds
/// canonical paths, so a symlink loop ends and no file is read twice.
fn walk(
    dir: &Path,
    files: &mut Vec<PathBuf>,
    seen: &mut HashSet<PathBuf>,
    problems: &mut Problems,
    warnings: &mut Vec<ConfigError>,
) {
    if !seen.insert(canonical(dir)) {
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            problems.file(&dir.display().to_string(), format!("cannot read: {e}"));
            return;
        }
    };
    let mut names = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => names.push(entry.file_name()),
            Err(e) => problems.file(&dir.display().to_string(), format!("cannot read: {e}")),
        }
    }
    names.sort();
    for name in names {
        if name.as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let path = dir.join(&name);
        // Follows symlinks: a linked file or directory is read like a real one.
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => walk(&path, files, seen, problems, warnings),
            Ok(meta) if !meta.is_file() => warnings.push(ConfigError {
                location: path.display().to_string(),
                message: "is not a regular file (a FIFO, socket or device); skipped".into(),
            }),
            Ok(_) if is_yaml(&path) => {
                if seen.insert(canonical(&path)) {
                    files.push(path);
                }
            }
            Ok(_) => {}
            Err(e) => problems.file(&path.display().to_string(), format!("cannot read: {e}")),
        }
    }
}

fn is_yaml(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

/// The state of one load: what has been read so far and what is wrong with it.
struct Loader {
    problems: Problems,
    /// What was passed over without being an error (a FIFO in a config folder).
    warnings: Vec<ConfigError>,
    /// Where ClusterConfig receivers' Secrets are.
    system_namespace: String,
    /// Where the ClusterConfig is, once read.
    cluster_config: Option<Origin>,
    projects: BTreeSet<String>,
    /// Project -> where its Project manifest is.
    project_manifests: HashMap<String, Origin>,
    /// Project -> where its ProjectConfig is.
    project_configs: HashMap<String, Origin>,
    /// (namespace, name) -> Secret.
    secrets: HashMap<(String, String), StoredSecret>,
    receivers: Vec<PendingReceiver>,
    /// (project, receiver name) -> where it is defined.
    receiver_names: HashMap<(String, String), Origin>,
    warehouses: Vec<Warehouse>,
    /// (project, name) -> where the Warehouse is defined.
    warehouse_names: HashMap<(String, String), Origin>,
    skipped: Vec<(Origin, String, String)>,
    regexes: warehouse::RegexCache,
    credentials: Vec<Credential>,
    /// dockhand's own `Notification`s, resolved against the Secrets at the end.
    notifications: Vec<PendingNotification>,
    /// (project, name) -> where the Notification is defined.
    notification_names: HashMap<(String, String), Origin>,
}

impl Default for Loader {
    fn default() -> Self {
        Loader {
            problems: Problems::default(),
            warnings: Vec::new(),
            system_namespace: DEFAULT_SYSTEM_NAMESPACE.to_string(),
            cluster_config: None,
            projects: BTreeSet::new(),
            project_manifests: HashMap::new(),
            project_configs: HashMap::new(),
            secrets: HashMap::new(),
            receivers: Vec::new(),
            receiver_names: HashMap::new(),
            warehouses: Vec::new(),
            warehouse_names: HashMap::new(),
            skipped: Vec::new(),
            regexes: warehouse::RegexCache::default(),
            credentials: Vec::new(),
            notifications: Vec::new(),
            notification_names: HashMap::new(),
        }
    }
}

impl Loader {
    fn add_file(&mut self, file: &str, text: &str) {
        self.add_parsed(file, parse(text));
    }

    /// Adds a parsed file's documents, in order.
    fn add_parsed(&mut self, file: &str, parsed: Parsed) {
        let documents = match parsed {
            Parsed::File(message) => return self.problems.file(file, message),
            Parsed::Documents(documents) => documents,
        };
        let file: std::sync::Arc<str> = file.into();
        for (document, parsed) in documents.into_iter().enumerate() {
            let origin = Origin {
                file: file.clone(),
                document,
            };
            match parsed {
                ParsedDocument::Warehouse { rest, spec } => {
                    self.add_document(&origin, &rest, Some(spec))
                }
                ParsedDocument::Value(doc) => self.add_document(&origin, &doc, None),
                ParsedDocument::Invalid(message) => self.problems.document(&origin, message),
            }
        }
    }

    /// Adds one document; `spec` is a Warehouse's spec when `direct` has already read it (then
    /// `doc` is the document without it).
    fn add_document(&mut self, origin: &Origin, doc: &Value, spec: Option<manifest::Warehouse>) {
        match doc {
            // An empty document (`---` twice, or only comments).
            Value::Null => return,
            Value::Mapping(_) => {}
            other => {
                self.problems.document(
                    origin,
                    format!(
                        "expected a Kubernetes manifest (a mapping with apiVersion and kind), found a {}",
                        type_name(other)
                    ),
                );
                return;
            }
        }
        let api_version = self.required_string(origin, doc, "apiVersion");
        let kind = self.required_string(origin, doc, "kind");
        let (Some(api_version), Some(kind)) = (api_version, kind) else {
            return;
        };
        let Some(object) = typed::<manifest::Object>(origin, doc, &mut self.problems) else {
            return;
        };
        let meta = object.metadata;
        match (api_version, kind) {
            ("v1", "Secret") => self.secret(origin, meta, doc),
            (KARGO_API_VERSION, "Project") => self.project(origin, meta),
            (KARGO_API_VERSION, "ProjectConfig") => self.project_config(origin, meta, doc),
            (KARGO_API_VERSION, "Warehouse") => self.warehouse(origin, meta, doc, spec),
            (KARGO_API_VERSION, "ClusterConfig") => self.cluster_config(origin, meta, doc),
            (DOCKHAND_API_VERSION, "Notification") => self.notification(origin, meta, doc),
            (v, "Notification") if v.split('/').next() == Some("dockhand.dev") => {
                self.problems.field(
                    origin,
                    "apiVersion",
                    format!(
                        "unsupported version {v:?} of Notification (dockhand reads {DOCKHAND_API_VERSION})"
                    ),
                );
            }
            (v, "Project" | "ProjectConfig" | "Warehouse" | "ClusterConfig")
                if v.split('/').next() == Some(KARGO_GROUP) =>
            {
                self.problems.field(
                    origin,
                    "apiVersion",
                    format!(
                        "unsupported version {v:?} of {kind} (dockhand reads {KARGO_API_VERSION})"
                    ),
                );
            }
            (_, kind) => self.skipped.push((
                origin.clone(),
                kind.to_string(),
                meta.name.unwrap_or_default(),
            )),
        }
    }

    fn required_string<'a>(
        &mut self,
        origin: &Origin,
        doc: &'a Value,
        field: &str,
    ) -> Option<&'a str> {
        match doc.get(field) {
            Some(Value::String(s)) if !s.is_empty() => Some(s),
            None | Some(Value::Null) | Some(Value::String(_)) => {
                self.problems.field(
                    origin,
                    field,
                    "missing: every manifest needs apiVersion and kind",
                );
                None
            }
            Some(other) => {
                self.problems.field(
                    origin,
                    field,
                    format!("expected a string, found a {}", type_name(other)),
                );
                None
            }
        }
    }

    /// `metadata.name`, reported when missing.
    fn name(&mut self, origin: &Origin, name: Option<String>) -> Option<String> {
        let name = name.filter(|n| !n.is_empty());
        if name.is_none() {
            self.problems.field(origin, "metadata.name", "required");
        }
        name
    }

    /// `metadata.namespace`, the project, reported when missing.
    fn namespace(
        &mut self,
        origin: &Origin,
        namespace: Option<String>,
        kind: &str,
    ) -> Option<String> {
        let namespace = namespace.filter(|n| !n.is_empty());
        if namespace.is_none() {
            self.problems.field(
                origin,
                "metadata.namespace",
                format!("required: a {kind}'s namespace is the Kargo project it belongs to"),
            );
        }
        namespace
    }

    fn secret(&mut self, origin: &Origin, meta: manifest::Metadata, doc: &Value) {
        let name = self.name(origin, meta.name);
        let namespace = self.namespace(origin, meta.namespace, "Secret");
        let values = secrets::values(origin, doc, &mut self.problems);
        let (Some(name), Some(namespace)) = (name, namespace) else {
            return;
        };
        self.projects.insert(namespace.clone());
        let key = (namespace, name);
        if let Some(first) = self.secrets.get(&key) {
            self.problems.field(
                origin,
                "metadata.name",
                format!(
                    "Secret {}/{} is already defined at {}",
                    key.0, key.1, first.origin
                ),
            );
            return;
        }
        let stored = StoredSecret {
            origin: origin.clone(),
            values,
        };
        if let Some(cred_type) = credentials::cred_type(doc) {
            self.credentials.extend(credentials::build(
                origin,
                &key.0,
                &key.1,
                cred_type,
                &stored,
                &mut self.problems,
            ));
        }
        self.secrets.insert(key, stored);
    }

    fn project(&mut self, origin: &Origin, meta: manifest::Metadata) {
        let Some(name) = self.name(origin, meta.name) else {
            return;
        };
        if let Some(first) = self.project_manifests.get(&name) {
            self.problems.field(
                origin,
                "metadata.name",
                format!("Project {name} is already defined at {first}"),
            );
            return;
        }
        self.projects.insert(name.clone());
        self.project_manifests.insert(name, origin.clone());
    }

    fn project_config(&mut self, origin: &Origin, meta: manifest::Metadata, doc: &Value) {
        // Kargo names a ProjectConfig after its project and puts it in the project's namespace;
        // either says which project it is.
        let Some(project) = meta
            .namespace
            .filter(|n| !n.is_empty())
            .or(meta.name.filter(|n| !n.is_empty()))
        else {
            self.problems.field(
                origin,
                "metadata.namespace",
                "required (or metadata.name): it names the project",
            );
            return;
        };
        if let Some(first) = self.project_configs.get(&project) {
            self.problems.document(
                origin,
                format!("a ProjectConfig for project {project} is already defined at {first}"),
            );
            return;
        }
        self.projects.insert(project.clone());
        self.project_configs.insert(project.clone(), origin.clone());
        for pending in project_config::receivers(origin, &project, doc, &mut self.problems) {
            let key = (project.clone(), pending.name.clone());
            if let Some(first) = self.receiver_names.get(&key) {
                self.problems.field(
                    origin,
                    &format!("{}.name", pending.field),
                    format!(
                        "receiver {:?} is already defined in project {project} at {first}",
                        pending.name
                    ),
                );
                continue;
            }
            self.receiver_names.insert(key, origin.clone());
            self.receivers.push(pending);
        }
    }

    /// Kargo's one ClusterConfig, named `cluster`: its receivers refresh matching Warehouses of
    /// every project, and their Secrets are in the system-resources namespace. Their project is
    /// `""`, which is also what Kargo hashes into their paths.
    fn cluster_config(&mut self, origin: &Origin, meta: manifest::Metadata, doc: &Value) {
        if let Some(name) = meta.name.as_deref().filter(|n| *n != "cluster") {
            // Kargo's admission refuses any other name; its controllers read only `cluster`.
            self.problems.field(
                origin,
                "metadata.name",
                format!("a ClusterConfig must be named \"cluster\", not {name:?}"),
            );
            return;
        }
        if let Some(first) = &self.cluster_config {
            self.problems.document(
                origin,
                format!("the ClusterConfig is already defined at {first}"),
            );
            return;
        }
        self.cluster_config = Some(origin.clone());
        for mut pending in project_config::receivers(origin, "", doc, &mut self.problems) {
            let key = (String::new(), pending.name.clone());
            if let Some(first) = self.receiver_names.get(&key) {
                self.problems.field(
                    origin,
                    &format!("{}.name", pending.field),
                    format!(
                        "receiver {:?} is already defined in the ClusterConfig at {first}",
                        pending.name
                    ),
                );
                continue;
            }
            pending.secret_namespace = self.system_namespace.clone();
            self.receiver_names.insert(key, origin.clone());
            self.receivers.push(pending);
        }
    }

    fn warehouse(
        &mut self,
        origin: &Origin,
        meta: manifest::Metadata,
        doc: &Value,
        spec: Option<manifest::Warehouse>,
    ) {
        let name = self.name(origin, meta.name);
        let namespace = self.namespace(origin, meta.namespace, "Warehouse");
        let (Some(name), Some(project)) = (name, namespace) else {
            // Still check the spec, so that one run shows every problem.
            let _ = warehouse::build(
                origin,
                "",
                "",
                doc,
                spec,
                &mut self.regexes,
                &mut self.problems,
                &mut self.warnings,
            );
            return;
        };
        self.projects.insert(project.clone());
        let built = warehouse::build(
            origin,
            &project,
            &name,
            doc,
            spec,
            &mut self.regexes,
            &mut self.problems,
            &mut self.warnings,
        );
        let key = (project, name);
        if let Some(first) = self.warehouse_names.get(&key) {
            self.problems.field(
                origin,
                "metadata.name",
                format!(
                    "Warehouse {}/{} is already defined at {first}",
                    key.0, key.1
                ),
            );
            return;
        }
        self.warehouse_names.insert(key, origin.clone());
        self.warehouses.extend(built);
    }

    /// dockhand's `Notification`: its project is its namespace, like a Warehouse's.
    fn notification(&mut self, origin: &Origin, meta: manifest::Metadata, doc: &Value) {
        let name = self.name(origin, meta.name);
        let namespace = self.namespace(origin, meta.namespace, "Notification");
        let (Some(name), Some(project)) = (name, namespace) else {
            let _ = notification::read(origin, "", "", doc, &mut self.problems);
            return;
        };
        self.projects.insert(project.clone());
        let Some(pending) = notification::read(origin, &project, &name, doc, &mut self.problems)
        else {
            return;
        };
        let key = pending.key();
        if let Some(first) = self.notification_names.get(&key) {
            self.problems.field(
                origin,
                "metadata.name",
                format!(
                    "Notification {}/{} is already defined at {first}",
                    key.0, key.1
                ),
            );
            return;
        }
        self.notification_names.insert(key, origin.clone());
        self.notifications.push(pending);
    }

    /// The configuration, or every problem if there is any.
    fn finish(self) -> Result<Config, ConfigErrors> {
        let (config, problems) = self.finish_lenient();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(problems))
        }
    }

    /// The objects that loaded without a problem, and the problems. Every reader above already
    /// leaves out the object a problem belongs to, so this only stops short of refusing.
    fn finish_lenient(mut self) -> (Config, Vec<ConfigError>) {
        let mut receivers = Vec::with_capacity(self.receivers.len());
        for pending in std::mem::take(&mut self.receivers) {
            if let Some(r) = project_config::resolve(pending, &self.secrets, &mut self.problems) {
                receivers.push(r);
            }
        }
        // One path, one receiver: both receivers of a colliding pair are left out (and a strict
        // load fails), never served on one URL.
        let collisions = super::path_collisions(&receivers);
        let mut colliding = vec![false; receivers.len()];
        for &(earlier, later) in &collisions {
            let (a, b) = (&receivers[earlier], &receivers[later]);
            self.problems.field(
                &b.origin,
                "spec.webhookReceivers",
                super::collision_message(a, b),
            );
            colliding[earlier] = true;
            colliding[later] = true;
        }
        if !collisions.is_empty() {
            let mut i = 0;
            receivers.retain(|_| {
                i += 1;
                !colliding[i - 1]
            });
        }
        let mut notifications = Vec::with_capacity(self.notifications.len());
        let mut notification_warnings = Problems::default();
        let warehouse_names = &self.warehouse_names;
        let known = |project: &str, name: &str| {
            warehouse_names.contains_key(&(project.to_string(), name.to_string()))
        };
        for pending in std::mem::take(&mut self.notifications) {
            if let Some(n) = notification::resolve(
                pending,
                &self.secrets,
                &known,
                &mut self.problems,
                &mut notification_warnings,
            ) {
                notifications.push(n);
            }
        }
        self.warnings.extend(notification_warnings.0);
        let config = Config {
            projects: self.projects.into_iter().collect(),
            notifications,
            receivers,
            warehouses: self.warehouses,
            skipped: self.skipped,
            warnings: self.warnings,
            credentials: self.credentials,
        };
        (config, self.problems.0)
    }
}

#[cfg(test)]
mod tests;
