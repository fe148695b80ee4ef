//! Reading Kargo manifests from files and directories into a [`Config`]: which files, which
//! documents, which kinds, and the checks that span documents (duplicate names, receivers'
//! Secrets). Every problem is collected, located by file, document and field, so that
//! `dockhand check` can print them all at once.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_yaml_ng::Value;

use super::project_config::{self, PendingReceiver};
use super::secrets::{self, StoredSecret};
use super::{credentials, Credential};
use super::{manifest, warehouse, Config, Origin, Warehouse};

/// The API group of the Kargo kinds read here, and the one version dockhand understands.
const KARGO_GROUP: &str = "kargo.akuity.io";
const KARGO_API_VERSION: &str = "kargo.akuity.io/v1alpha1";

/// One problem in the configuration, located.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ConfigError {
    /// `file`, `file (document N)` or `file (document N) field.path`.
    pub location: String,
    pub message: String,
}

/// Every problem found; loading goes on after the first so `check` can print them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Loads every `*.yaml`/`*.yml` under `paths` (files or directories, recursively).
///
/// Directories are read in name order, so the result does not depend on the file system.
/// Entries whose name starts with `.` are passed over: they are `.git`, editor files, and the
/// `..data` links of a Kubernetes ConfigMap volume, which would load every file twice. A file
/// named directly is read whatever its extension, and a file reached twice is read once.
pub fn load(paths: &[PathBuf]) -> Result<Config, ConfigErrors> {
    let mut loader = Loader::default();
    let mut files = Vec::new();
    let mut seen = HashSet::new();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                walk(path, &mut files, &mut seen, &mut loader.problems);
            }
            Ok(_) => {
                if seen.insert(canonical(path)) {
                    files.push(path.clone());
                }
            }
            Err(e) => loader
                .problems
                .file(&path.display().to_string(), format!("cannot read: {e}")),
        }
    }
    for file in files {
        let name = file.display().to_string();
        if let Ok(meta) = std::fs::metadata(&file) {
            if meta.len() > super::limits::MAX_FILE_BYTES {
                loader
                    .problems
                    .file(&name, super::limits::too_large(meta.len()));
                continue;
            }
        }
        match std::fs::read(&file) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => loader.add_file(&name, &text),
                Err(_) => loader.problems.file(&name, "is not valid UTF-8"),
            },
            Err(e) => loader.problems.file(&name, format!("cannot read: {e}")),
        }
    }
    loader.finish()
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
            Ok(meta) if meta.is_dir() => walk(&path, files, seen, problems),
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

/// The problems found so far.
#[derive(Debug, Default)]
pub(super) struct Problems(Vec<ConfigError>);

impl Problems {
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// A problem with a whole file.
    pub(super) fn file(&mut self, file: &str, message: impl Into<String>) {
        self.0.push(ConfigError {
            location: file.to_string(),
            message: message.into(),
        });
    }

    /// A problem with a whole document.
    pub(super) fn document(&mut self, origin: &Origin, message: impl Into<String>) {
        self.0.push(ConfigError {
            location: origin.to_string(),
            message: message.into(),
        });
    }

    /// A problem with one field, `field` a path like `spec.subscriptions[0].image.repoURL`.
    pub(super) fn field(&mut self, origin: &Origin, field: &str, message: impl Into<String>) {
        self.0.push(ConfigError {
            location: format!("{origin} {field}"),
            message: message.into(),
        });
    }
}

/// Deserializes `doc` as `T`; a type error is reported at the field serde was reading.
pub(super) fn typed<T: DeserializeOwned>(
    origin: &Origin,
    doc: &Value,
    problems: &mut Problems,
) -> Option<T> {
    // Tracking the path costs as much as the deserializing; it is only needed for a message.
    if let Ok(t) = T::deserialize(doc) {
        return Some(t);
    }
    match serde_path_to_error::deserialize::<_, T>(doc) {
        Ok(t) => Some(t),
        Err(e) => {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            if path == "." {
                problems.document(origin, message);
            } else {
                problems.field(origin, &path, message);
            }
            None
        }
    }
}

/// A YAML value's type, in words, for "expected X, found Y" messages (never the value itself:
/// it might be a secret).
pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Sequence(_) => "list",
        Value::Mapping(_) => "mapping",
        Value::Tagged(_) => "tagged value",
    }
}

/// The state of one load: what has been read so far and what is wrong with it.
#[derive(Default)]
struct Loader {
    problems: Problems,
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
}

impl Loader {
    fn add_file(&mut self, file: &str, text: &str) {
        if let Err(message) = super::limits::check(text) {
            self.problems.file(file, message);
            return;
        }
        for (document, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
            let origin = Origin {
                file: file.to_string(),
                document,
            };
            match Value::deserialize(de) {
                Ok(doc) => self.add_document(&origin, &doc),
                Err(e) => {
                    // The parser cannot find its footing again after a syntax error; the rest
                    // of the file is not read.
                    self.problems
                        .document(&origin, format!("invalid YAML: {e}"));
                    break;
                }
            }
        }
    }

    fn add_document(&mut self, origin: &Origin, doc: &Value) {
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
            (KARGO_API_VERSION, "Warehouse") => self.warehouse(origin, meta, doc),
            (v, "Project" | "ProjectConfig" | "Warehouse")
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

    fn warehouse(&mut self, origin: &Origin, meta: manifest::Metadata, doc: &Value) {
        let name = self.name(origin, meta.name);
        let namespace = self.namespace(origin, meta.namespace, "Warehouse");
        let (Some(name), Some(project)) = (name, namespace) else {
            // Still check the spec, so that one run shows every problem.
            let _ = warehouse::build(origin, "", "", doc, &mut self.regexes, &mut self.problems);
            return;
        };
        self.projects.insert(project.clone());
        let built = warehouse::build(
            origin,
            &project,
            &name,
            doc,
            &mut self.regexes,
            &mut self.problems,
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

    fn finish(mut self) -> Result<Config, ConfigErrors> {
        let mut receivers = Vec::with_capacity(self.receivers.len());
        for pending in std::mem::take(&mut self.receivers) {
            if let Some(r) = project_config::resolve(pending, &self.secrets, &mut self.problems) {
                receivers.push(r);
            }
        }
        for (earlier, later) in super::path_collisions(&receivers) {
            let (a, b) = (&receivers[earlier], &receivers[later]);
            self.problems.field(
                &b.origin,
                "spec.webhookReceivers",
                super::collision_message(a, b),
            );
        }
        if !self.problems.0.is_empty() {
            return Err(ConfigErrors(self.problems.0));
        }
        Ok(Config {
            projects: self.projects.into_iter().collect(),
            receivers,
            warehouses: self.warehouses,
            skipped: self.skipped,
            credentials: self.credentials,
        })
    }
}

#[cfg(test)]
mod tests;
