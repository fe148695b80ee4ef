use std::time::Duration;

use super::*;
use crate::config::{
    CommitSelectionStrategy, FreightCreationPolicy, ImageSelectionStrategy, Subscription,
};
use crate::index::Index;
use crate::receivers::{azure, harbor};

/// The error lines for `text` loaded as `f.yaml`; empty when it loads.
fn errors(text: &str) -> Vec<String> {
    match load_str("f.yaml", text) {
        Ok(_) => Vec::new(),
        Err(ConfigErrors(errors)) => errors.iter().map(ToString::to_string).collect(),
    }
}

fn ok(text: &str) -> Config {
    match load_str("f.yaml", text) {
        Ok(config) => config,
        Err(e) => panic!("expected to load, got:\n{e}"),
    }
}

/// A Warehouse in project `p` named `w` with `subscriptions` (YAML list items indented by two).
fn warehouse(spec_extra: &str, subscriptions: &str) -> String {
    format!(
        "apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata:
  name: w
  namespace: p
spec:
{spec_extra}  subscriptions:
{subscriptions}"
    )
}

const AZURE_SECRET: &str = "apiVersion: v1
kind: Secret
metadata:
  name: s
  namespace: p
stringData:
  secret: mysecret
";

fn azure_receiver(secret_ref: &str) -> String {
    format!(
        "apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata:
  name: p
  namespace: p
spec:
  webhookReceivers:
  - name: r
    azure:
      secretRef:
        name: {secret_ref}
"
    )
}

/// The Kargo documentation's example, verbatim but for the secret's base64 ("mysecret").
const KARGO_AZURE_EXAMPLE: &str = "apiVersion: v1
kind: Secret
metadata:
  name: azure-wh-secret
  namespace: kargo-demo
  labels:
    kargo.akuity.io/cred-type: generic
data:
  secret: bXlzZWNyZXQ=
---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata:
  name: kargo-demo
  namespace: kargo-demo
spec:
  webhookReceivers: 
  - name: azure-wh-receiver
    azure:
      secretRef:
        name: azure-wh-secret
";

#[test]
fn kargo_docs_azure_example() {
    let config = ok(KARGO_AZURE_EXAMPLE);
    assert_eq!(config.projects, ["kargo-demo"]);
    assert_eq!(config.receivers.len(), 1);
    let r = &config.receivers[0];
    assert_eq!(
        (r.project.as_str(), r.name.as_str(), r.kind),
        ("kargo-demo", "azure-wh-receiver", &azure::TYPE)
    );
    assert_eq!(
        r.path,
        "/azure/745146127fcc648612afc12a906adf7d5414fac3a2fee947b931243f7d8368cd"
    );
    assert_eq!(r.secret("secret").map(|s| s.expose()), Some("mysecret"));
    assert!(r.secret("auth-header").is_none());
    assert!(r.secret("username").is_none() && r.secret("password").is_none());
    assert_eq!(
        r.origin,
        Origin {
            file: "f.yaml".into(),
            document: 1
        }
    );
}

#[test]
fn harbor_receiver_requires_its_auth_header() {
    let config = ok("apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata:
  name: kargo-demo
spec:
  webhookReceivers:
  - name: harbor-wh-receiver
    harbor:
      secretRef:
        name: harbor-wh-secret
---
apiVersion: v1
kind: Secret
metadata:
  name: harbor-wh-secret
  namespace: kargo-demo
data:
  auth-header: QmVhcmVyIHRva2Vu
");
    let r = &config.receivers[0];
    assert_eq!(r.kind, &harbor::TYPE);
    assert_eq!(r.project, "kargo-demo", "metadata.name names the project");
    assert_eq!(
        r.secret(r.kind.url_secret_key).map(|s| s.expose()),
        Some("Bearer token")
    );
    assert_eq!(
        r.secret("auth-header").map(|s| s.expose()),
        Some("Bearer token")
    );
    assert_eq!(
        r.path,
        crate::config::receiver_path(
            &harbor::TYPE,
            "kargo-demo",
            "harbor-wh-receiver",
            "Bearer token"
        )
    );
}

/// Kargo's Artifactory docs example with `virtualRepoName`: the URL is hashed from
/// `secret-token` alone (Kargo's), the setting is kept, and dockhand's optional
/// `registry-host` is read from the Secret without changing the URL.
#[test]
fn artifactory_receiver_settings_and_registry_host() {
    let text = |extra: &str| {
        format!(
            "apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata:
  name: kargo-demo
spec:
  webhookReceivers:
  - name: proj-virtual-wh-receiver
    artifactory:
      secretRef:
        name: artifactory-wh-secret
      virtualRepoName: proj-virtual
---
apiVersion: v1
kind: Secret
metadata:
  name: artifactory-wh-secret
  namespace: kargo-demo
stringData:
  secret-token: tok
{extra}"
        )
    };
    let plain = ok(&text(""));
    let with_host = ok(&text("  registry-host: docker.example.com\n"));
    let (a, b) = (&plain.receivers[0], &with_host.receivers[0]);
    assert_eq!(a.kind, &crate::receivers::artifactory::TYPE);
    assert_eq!(a.setting("virtualRepoName"), Some("proj-virtual"));
    assert_eq!(a.setting("secretRef"), None);
    assert!(a.secret("registry-host").is_none());
    assert_eq!(
        b.secret("registry-host").map(|s| s.expose()),
        Some("docker.example.com")
    );
    assert_eq!(a.path, b.path, "registry-host is not hashed into the URL");
    assert_eq!(
        a.path,
        crate::config::receiver_path(a.kind, "kargo-demo", "proj-virtual-wh-receiver", "tok")
    );
}

#[test]
fn azure_receiver_optional_credentials_and_string_data_wins() {
    let config = ok(&format!(
        "{}---
apiVersion: v1
kind: Secret
metadata:
  name: s
  namespace: p
data:
  secret: b2xk
  username: dXNlcg==
stringData:
  secret: new
  auth-header: Basic xyz
  password: pw
",
        azure_receiver("s")
    ));
    let r = &config.receivers[0];
    assert_eq!(
        r.secret("secret").map(|s| s.expose()),
        Some("new"),
        "stringData wins over data"
    );
    assert_eq!(
        r.secret("auth-header").map(|s| s.expose()),
        Some("Basic xyz")
    );
    let username = r.secret("username").expect("username and password given");
    let password = r.secret("password").expect("username and password given");
    assert_eq!((username.expose(), password.expose()), ("user", "pw"));
    assert_eq!(
        r.path,
        crate::config::receiver_path(&azure::TYPE, "p", "r", "new")
    );
}

#[test]
fn warehouse_defaults() {
    let config = ok(&warehouse(
        "",
        "  - image:
      repoURL: ghcr.io/acme/app
  - git:
      repoURL: https://github.com/acme/app.git
  - chart:
      repoURL: oci://ghcr.io/acme/charts/app
",
    ));
    assert_eq!(config.projects, ["p"]);
    let w = &config.warehouses[0];
    assert_eq!((w.project.as_str(), w.name.as_str()), ("p", "w"));
    assert_eq!(w.interval, Duration::from_secs(300));
    assert_eq!(w.freight_creation_policy, FreightCreationPolicy::Automatic);
    let [Subscription::Image(i), Subscription::Git(g), Subscription::Chart(c)] =
        w.subscriptions.as_slice()
    else {
        panic!("{:?}", w.subscriptions)
    };
    assert_eq!(i.repo_url, "ghcr.io/acme/app");
    assert_eq!(i.strategy, ImageSelectionStrategy::SemVer);
    assert!(i.constraint.is_none() && i.semver.is_none());
    assert!(i.strict_semvers);
    assert!(
        i.tags.allow().is_empty() && i.tags.ignore().is_empty() && i.tags.ignore_regex().is_empty()
    );
    assert_eq!(i.platform, None);
    assert_eq!(i.discovery_limit, 20);
    assert!(!i.insecure_skip_tls_verify);
    assert_eq!(g.strategy, CommitSelectionStrategy::NewestFromBranch);
    assert_eq!(g.branch, None);
    assert!(g.strict_semvers);
    assert_eq!(g.discovery_limit, 20);
    assert_eq!(c.name, None);
    assert_eq!(c.discovery_limit, 20);
}

#[test]
fn warehouse_every_field() {
    let config = ok(&warehouse(
        "  interval: 1h30m
  freightCreationPolicy: Manual
  shard: ignored
",
        "  - image:
      repoURL: ghcr.io/acme/app
      imageSelectionStrategy: SemVer
      semverConstraint: ^1.2.0
      strictSemvers: false
      allowTags: ^v
      allowTagsRegex: ['-rc']
      allowTagsRegexes: ['\\d$']
      ignoreTags: [v1.2.3, latest]
      ignoreTagsRegex: [alpha]
      ignoreTagsRegexes: [beta]
      platform: linux/arm64/v8
      insecureSkipTLSVerify: true
      discoveryLimit: 100
      cacheByTag: true
  - image:
      repoURL: ghcr.io/acme/app
      imageSelectionStrategy: Digest
      constraint: latest
  - git:
      repoURL: https://github.com/acme/app.git
      commitSelectionStrategy: SemVer
      branch: release
      strictSemvers: false
      semverConstraint: '>=1.0'
      allowTags: ^v
      ignoreTags: [v0.0.1]
      includePaths: [apps/app, 'glob:*.yaml']
      excludePaths: [docs]
      insecureSkipTLSVerify: true
      discoveryLimit: 1
      expressionFilter: commit.Author != 'bot'
  - chart:
      repoURL: https://charts.example.com
      name: app
      semverConstraint: ^2
      discoveryLimit: 5
status:
  lastFreight: whatever
",
    ));
    let w = &config.warehouses[0];
    assert_eq!(w.interval, Duration::from_secs(5400));
    assert_eq!(w.freight_creation_policy, FreightCreationPolicy::Manual);
    let [Subscription::Image(i), Subscription::Image(d), Subscription::Git(g), Subscription::Chart(c)] =
        w.subscriptions.as_slice()
    else {
        panic!("{:?}", w.subscriptions)
    };
    assert_eq!(
        i.constraint.as_deref(),
        Some("^1.2.0"),
        "semverConstraint alias"
    );
    assert_eq!(i.semver.as_ref().map(|c| c.as_str()), Some("^1.2.0"));
    assert!(!i.strict_semvers);
    let allow: Vec<&str> = i.tags.allow().iter().map(|r| r.as_str()).collect();
    assert_eq!(allow, ["^v", "-rc", "\\d$"]);
    assert_eq!(i.tags.ignore(), ["v1.2.3", "latest"]);
    let ignore: Vec<&str> = i.tags.ignore_regex().iter().map(|r| r.as_str()).collect();
    assert_eq!(ignore, ["alpha", "beta"]);
    assert_eq!(i.platform.as_deref(), Some("linux/arm64/v8"));
    assert!(i.insecure_skip_tls_verify);
    assert_eq!(i.discovery_limit, 100);

    assert_eq!(d.strategy, ImageSelectionStrategy::Digest);
    assert_eq!(d.constraint.as_deref(), Some("latest"));
    assert!(
        d.semver.is_none(),
        "a Digest constraint is a tag, not a range"
    );

    assert_eq!(g.strategy, CommitSelectionStrategy::SemVer);
    assert_eq!(g.branch.as_deref(), Some("release"));
    assert!(!g.strict_semvers);
    assert_eq!(g.semver_constraint.as_deref(), Some(">=1.0"));
    assert!(g.semver.is_some());
    assert_eq!(g.tags.allow().len(), 1);
    assert_eq!(g.tags.ignore(), ["v0.0.1"]);
    let include: Vec<&str> = g.paths.include().iter().map(|p| p.as_str()).collect();
    assert_eq!(include, ["apps/app", "glob:*.yaml"]);
    assert_eq!(g.paths.exclude().len(), 1);
    assert!(g.insecure_skip_tls_verify);
    assert_eq!(g.discovery_limit, 1);

    assert_eq!(c.repo_url, "https://charts.example.com");
    assert_eq!(c.name.as_deref(), Some("app"));
    assert_eq!(c.semver_constraint.as_deref(), Some("^2"));
    assert_eq!(c.discovery_limit, 5);
}

#[test]
fn other_kinds_are_skipped_and_empty_documents_counted() {
    let config = ok("---
# only a comment
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata:
  name: test
  namespace: p
---
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Project
metadata:
  name: zeta
---
apiVersion: v1
kind: Namespace
metadata:
  name: alpha
");
    let skipped: Vec<(usize, &str, &str)> = config
        .skipped
        .iter()
        .map(|(o, k, n)| (o.document, k.as_str(), n.as_str()))
        .collect();
    assert_eq!(
        skipped,
        [
            (1, "Stage", "test"),
            (3, "ConfigMap", "cm"),
            (5, "Namespace", "alpha")
        ]
    );
    assert_eq!(config.projects, ["zeta"]);
}

#[test]
fn projects_are_sorted_and_deduplicated() {
    let config = ok(&format!(
        "{AZURE_SECRET}---
apiVersion: v1
kind: Secret
metadata:
  name: other
  namespace: b
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Project
metadata:
  name: a
---
{}",
        warehouse(
            "",
            "  - image:
      repoURL: ghcr.io/acme/app
"
        )
    ));
    assert_eq!(config.projects, ["a", "b", "p"]);
}

/// Each invalid manifest and the exact lines `dockhand check` prints for it.
#[test]
fn invalid_manifests() {
    // The supported types, in table order, as the messages list them.
    let supported = crate::receivers::RECEIVER_TYPES
        .iter()
        .map(|t| t.name)
        .collect::<Vec<_>>()
        .join(", ");
    let no_type = format!("f.yaml (document 0) spec.webhookReceivers[0]: no receiver type: set exactly one of {supported} (unrecognized: azur)");
    let image = |extra: &str| {
        warehouse(
            "",
            &format!(
                "  - image:
      repoURL: ghcr.io/acme/app
{extra}"
            ),
        )
    };
    let git = |extra: &str| {
        warehouse(
            "",
            &format!(
                "  - git:
      repoURL: https://github.com/acme/app.git
{extra}"
            ),
        )
    };
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "no apiVersion or kind",
            "metadata:\n  name: x\n".into(),
            vec![
                "f.yaml (document 0) apiVersion: missing: every manifest needs apiVersion and kind",
                "f.yaml (document 0) kind: missing: every manifest needs apiVersion and kind",
            ],
        ),
        (
            "not a mapping",
            "---\n- a\n- b\n".into(),
            vec!["f.yaml (document 0): expected a Kubernetes manifest (a mapping with apiVersion and kind), found a list"],
        ),
        (
            "kind not a string",
            "apiVersion: v1\nkind: [Secret]\n".into(),
            vec!["f.yaml (document 0) kind: expected a string, found a list"],
        ),
        (
            "unsupported Kargo version",
            "apiVersion: kargo.akuity.io/v1beta1\nkind: Warehouse\nmetadata: {name: w, namespace: p}\n".into(),
            vec!["f.yaml (document 0) apiVersion: unsupported version \"kargo.akuity.io/v1beta1\" of Warehouse (dockhand reads kargo.akuity.io/v1alpha1)"],
        ),
        (
            "receiver naming a missing Secret",
            azure_receiver("nope"),
            vec!["f.yaml (document 0) spec.webhookReceivers[0].azure.secretRef.name: Secret \"nope\" not found in namespace \"p\" (a receiver's Secret must be in its project's namespace)"],
        ),
        (
            "receiver's Secret in another namespace",
            format!("{}---\n{}", AZURE_SECRET.replace("namespace: p", "namespace: q"), azure_receiver("s")),
            vec!["f.yaml (document 1) spec.webhookReceivers[0].azure.secretRef.name: Secret \"s\" not found in namespace \"p\" (a receiver's Secret must be in its project's namespace)"],
        ),
        (
            "azure Secret lacking `secret`",
            format!("{}---\n{}", AZURE_SECRET.replace("  secret:", "  other:"), azure_receiver("s")),
            vec!["f.yaml (document 1) spec.webhookReceivers[0].azure.secretRef.name: Secret p/s has no key \"secret\", which azure receivers need (f.yaml (document 0))"],
        ),
        (
            "harbor Secret lacking `auth-header`",
            format!("{}---\n{}", AZURE_SECRET, azure_receiver("s").replace("azure:", "harbor:")),
            vec!["f.yaml (document 1) spec.webhookReceivers[0].harbor.secretRef.name: Secret p/s has no key \"auth-header\", which harbor receivers need (f.yaml (document 0))"],
        ),
        (
            "empty secret value",
            format!("{}---\n{}", AZURE_SECRET.replace("mysecret", "''"), azure_receiver("s")),
            vec!["f.yaml (document 1) spec.webhookReceivers[0].azure.secretRef.name: Secret p/s key \"secret\" is empty (f.yaml (document 0))"],
        ),
        (
            "binary secret value",
            format!("{}---\n{}", AZURE_SECRET.replace("stringData:\n  secret: mysecret", "data:\n  secret: //79"), azure_receiver("s")),
            vec!["f.yaml (document 1) spec.webhookReceivers[0].azure.secretRef.name: Secret p/s key \"secret\" is not valid UTF-8 (f.yaml (document 0))"],
        ),
        (
            "username without password",
            format!("{}  username: u\n---\n{}", AZURE_SECRET, azure_receiver("s")),
            vec!["f.yaml (document 1) spec.webhookReceivers[0].azure.secretRef.name: Secret p/s has only one of username and password; basic auth needs both (f.yaml (document 0))"],
        ),
        (
            "bad base64",
            AZURE_SECRET.replace("stringData:\n  secret: mysecret", "data:\n  secret: bX!zZWNyZXQ="),
            vec!["f.yaml (document 0) data.secret: is not valid base64 (invalid character at offset 2)"],
        ),
        (
            "Secret without namespace",
            AZURE_SECRET.replace("  namespace: p\n", ""),
            vec!["f.yaml (document 0) metadata.namespace: required: a Secret's namespace is the Kargo project it belongs to"],
        ),
        (
            "two Secrets with one name",
            format!("{AZURE_SECRET}---\n{AZURE_SECRET}"),
            vec!["f.yaml (document 1) metadata.name: Secret p/s is already defined at f.yaml (document 0)"],
        ),
        (
            "two receivers with one name",
            format!(
                "{AZURE_SECRET}---\n{}  - name: r\n    harbor:\n      secretRef:\n        name: s\n",
                azure_receiver("s")
            ),
            vec!["f.yaml (document 1) spec.webhookReceivers[1].name: receiver \"r\" is already defined in project p at f.yaml (document 1)"],
        ),
        (
            "two ProjectConfigs for one project",
            format!("{AZURE_SECRET}---\n{}---\n{}", azure_receiver("s"), azure_receiver("s")),
            vec!["f.yaml (document 2): a ProjectConfig for project p is already defined at f.yaml (document 1)"],
        ),
        (
            "receiver with no type",
            "apiVersion: kargo.akuity.io/v1alpha1\nkind: ProjectConfig\nmetadata: {name: p}\nspec:\n  webhookReceivers:\n  - name: r\n    azur: {secretRef: {name: s}}\n".into(),
            vec![no_type.as_str()],
        ),
        (
            "receiver with two types",
            format!("{AZURE_SECRET}---\n{}    harbor:\n      secretRef:\n        name: s\n", azure_receiver("s")),
            vec!["f.yaml (document 1) spec.webhookReceivers[0]: more than one receiver type (azure, harbor): set exactly one"],
        ),
        (
            "receiver without name or secretRef",
            "apiVersion: kargo.akuity.io/v1alpha1\nkind: ProjectConfig\nmetadata: {name: p}\nspec:\n  webhookReceivers:\n  - harbor: {}\n".into(),
            vec![
                "f.yaml (document 0) spec.webhookReceivers[0].name: required",
                "f.yaml (document 0) spec.webhookReceivers[0].harbor.secretRef.name: required: the Secret holding the receiver's secret",
            ],
        ),
        (
            "invalid allowTags",
            image("      allowTags: '('\n"),
            vec!["f.yaml (document 0) spec.subscriptions[0].image.allowTags: invalid regular expression \"(\": unclosed group"],
        ),
        (
            "invalid allowTagsRegex and allowTagsRegexes",
            image("      allowTagsRegex: [ok, '[a']\n      allowTagsRegexes: ['*']\n"),
            vec![
                "f.yaml (document 0) spec.subscriptions[0].image.allowTagsRegex[1]: invalid regular expression \"[a\": unclosed character class",
                "f.yaml (document 0) spec.subscriptions[0].image.allowTagsRegexes[0]: invalid regular expression \"*\": repetition operator missing expression",
            ],
        ),
        (
            "invalid ignoreTagsRegex on git",
            git("      ignoreTagsRegex: ['a{2']\n      ignoreTagsRegexes: ['(?<']\n"),
            vec![
                "f.yaml (document 0) spec.subscriptions[0].git.ignoreTagsRegex[0]: invalid regular expression \"a{2\": unclosed counted repetition",
                "f.yaml (document 0) spec.subscriptions[0].git.ignoreTagsRegexes[0]: invalid regular expression \"(?<\": unclosed capture group name",
            ],
        ),
        (
            "Warehouse without subscriptions",
            warehouse("", "    []\n"),
            vec!["f.yaml (document 0) spec.subscriptions: a Warehouse needs at least one subscription"],
        ),
        (
            "Warehouse without spec",
            "apiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata: {name: w, namespace: p}\n".into(),
            vec!["f.yaml (document 0) spec.subscriptions: a Warehouse needs at least one subscription"],
        ),
        (
            "Warehouse without name or namespace",
            "apiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nspec:\n  subscriptions: [{}]\n".into(),
            vec![
                "f.yaml (document 0) metadata.name: required",
                "f.yaml (document 0) metadata.namespace: required: a Warehouse's namespace is the Kargo project it belongs to",
                "f.yaml (document 0) spec.subscriptions[0]: set exactly one of image, git, chart (found none)",
            ],
        ),
        (
            "subscription with two kinds",
            warehouse("", "  - image: {repoURL: ghcr.io/a/b}\n    chart: {repoURL: oci://ghcr.io/a/b}\n"),
            vec!["f.yaml (document 0) spec.subscriptions[0]: set exactly one of image, git, chart (found image, chart)"],
        ),
        (
            "subscription without repoURL",
            warehouse("", "  - git: {branch: main}\n"),
            vec!["f.yaml (document 0) spec.subscriptions[0].git.repoURL: required"],
        ),
        (
            "unknown imageSelectionStrategy",
            image("      imageSelectionStrategy: Newest\n"),
            vec!["f.yaml (document 0) spec.subscriptions[0].image.imageSelectionStrategy: unknown imageSelectionStrategy \"Newest\" (expected SemVer, Lexical, NewestBuild or Digest)"],
        ),
        (
            "unknown commitSelectionStrategy",
            git("      commitSelectionStrategy: Latest\n"),
            vec!["f.yaml (document 0) spec.subscriptions[0].git.commitSelectionStrategy: unknown commitSelectionStrategy \"Latest\" (expected NewestFromBranch, SemVer, Lexical or NewestTag)"],
        ),
        (
            "unknown freightCreationPolicy",
            warehouse("  freightCreationPolicy: Sometimes\n", "  - image: {repoURL: ghcr.io/a/b}\n"),
            vec!["f.yaml (document 0) spec.freightCreationPolicy: unknown freightCreationPolicy \"Sometimes\" (expected Automatic or Manual)"],
        ),
        (
            "Digest without constraint",
            image("      imageSelectionStrategy: Digest\n"),
            vec!["f.yaml (document 0) spec.subscriptions[0].image.constraint: required with imageSelectionStrategy Digest: it names the tag to follow"],
        ),
        (
            "constraint and semverConstraint",
            image("      constraint: ^1\n      semverConstraint: ^2\n"),
            vec!["f.yaml (document 0) spec.subscriptions[0].image.semverConstraint: set together with constraint: semverConstraint is the deprecated spelling of constraint, keep one"],
        ),
        (
            "classic chart repository without name",
            warehouse("", "  - chart: {repoURL: 'https://charts.example.com'}\n"),
            vec!["f.yaml (document 0) spec.subscriptions[0].chart.name: required for an http(s):// chart repository: it names the chart in the repository's index"],
        ),
        (
            "OCI chart with name",
            warehouse("", "  - chart: {repoURL: 'oci://ghcr.io/acme/app', name: app}\n"),
            vec!["f.yaml (document 0) spec.subscriptions[0].chart.name: must not be set for an oci:// repository: the chart is the last element of repoURL"],
        ),
        (
            "chart repository of another scheme",
            warehouse("", "  - chart: {repoURL: 'ftp://charts.example.com', name: app}\n"),
            vec!["f.yaml (document 0) spec.subscriptions[0].chart.repoURL: \"ftp://charts.example.com\" is not a chart repository URL (expected oci://, https:// or http://)"],
        ),
        (
            "discoveryLimit out of range",
            warehouse(
                "",
                "  - image: {repoURL: ghcr.io/a/b, discoveryLimit: 0}\n  - git: {repoURL: 'https://g/a', discoveryLimit: 101}\n  - chart: {repoURL: 'oci://g/a', discoveryLimit: -1}\n",
            ),
            vec![
                "f.yaml (document 0) spec.subscriptions[0].image.discoveryLimit: must be between 1 and 100, got 0",
                "f.yaml (document 0) spec.subscriptions[1].git.discoveryLimit: must be between 1 and 100, got 101",
                "f.yaml (document 0) spec.subscriptions[2].chart.discoveryLimit: must be between 1 and 100, got -1",
            ],
        ),
        (
            "discoveryLimit of the wrong type",
            image("      discoveryLimit: many\n"),
            vec!["f.yaml (document 0) spec.subscriptions[0].image.discoveryLimit: invalid type: string \"many\", expected i64"],
        ),
        (
            "invalid interval",
            warehouse("  interval: 5 minutes\n", "  - image: {repoURL: ghcr.io/a/b}\n"),
            vec!["f.yaml (document 0) spec.interval: invalid duration \"5 minutes\": unknown unit (use h, m, s, ms, us or ns) (write it like 5m0s, 1h30m or 30s)"],
        ),
        (
            "invalid platform",
            image("      platform: amd64\n"),
            vec!["f.yaml (document 0) spec.subscriptions[0].image.platform: invalid platform \"amd64\" (expected os/arch or os/arch/variant, like linux/amd64)"],
        ),
        (
            "two Warehouses with one name",
            format!("{}---\n{}", image(""), image("")),
            vec!["f.yaml (document 1) metadata.name: Warehouse p/w is already defined at f.yaml (document 0)"],
        ),
    ];
    for (name, text, want) in cases {
        assert_eq!(errors(&text), want, "case: {name}\n{text}");
    }
}

/// Cases whose messages come from `matching` and `repo_url`.
#[test]
fn invalid_manifests_needing_matching_and_repo_url() {
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "invalid semver constraint (image)",
            warehouse("", "  - image: {repoURL: ghcr.io/a/b, constraint: '^^1'}\n"),
            "f.yaml (document 0) spec.subscriptions[0].image.constraint: invalid semver constraint \"^^1\": ",
        ),
        (
            "invalid semver constraint (chart)",
            warehouse("", "  - chart: {repoURL: 'oci://ghcr.io/a/b', semverConstraint: '^^1'}\n"),
            "f.yaml (document 0) spec.subscriptions[0].chart.semverConstraint: invalid semver constraint \"^^1\": ",
        ),
        (
            "invalid path selector",
            warehouse("", "  - git: {repoURL: 'https://github.com/a/b', includePaths: ['regex:(']}\n"),
            "f.yaml (document 0) spec.subscriptions[0].git.includePaths[0]: path selector \"regex:(\" is not a valid regular expression: unclosed group",
        ),
        (
            "image repoURL that does not normalize",
            warehouse("", "  - image: {repoURL: 'ghcr.io/acme/my app'}\n"),
            "f.yaml (document 0) spec.subscriptions[0].image.repoURL: \"ghcr.io/acme/my app\" is not a valid image repository URL: ",
        ),
        (
            "git repoURL that does not normalize",
            warehouse("", "  - git: {repoURL: 'not a url'}\n"),
            "f.yaml (document 0) spec.subscriptions[0].git.repoURL: \"not a url\" is not a valid git repository URL: ",
        ),
    ];
    for (name, text, want_prefix) in cases {
        let got = errors(&text);
        assert!(
            got.len() == 1 && got[0].starts_with(want_prefix),
            "case: {name}\nwant one error starting {want_prefix:?}\ngot {got:?}"
        );
    }
}

#[test]
fn bad_yaml_is_located_and_earlier_documents_still_read() {
    let got = errors(&format!(
        "{}---\nkind: Warehouse\nspec: [unclosed\n",
        azure_receiver("missing")
    ));
    assert_eq!(got.len(), 2, "{got:?}");
    // Lines count from the top of the file, not of the document.
    assert_eq!(
        got[0],
        "f.yaml (document 1): invalid YAML: did not find expected ',' or ']' at line 15 column 1, \
         while parsing a flow sequence at line 14 column 7"
    );
    // Document 0 was read: its receiver's missing Secret is still reported.
    assert!(got[1].contains("Secret \"missing\" not found"), "{got:?}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let got = errors(&format!(
        "{}---\n{}",
        warehouse(
            "  interval: soon\n",
            "  - image: {repoURL: ghcr.io/a/b, allowTags: '('}\n"
        ),
        azure_receiver("nope")
    ));
    assert_eq!(got.len(), 3, "{got:?}");
}

#[test]
fn secret_values_never_appear_in_messages_or_debug() {
    let text = "apiVersion: v1
kind: Secret
metadata: {name: s, namespace: p}
data:
  a: hunter2%%
  b: [hunter3]
stringData:
  c: 424242
  d: {x: hunter4}
";
    let all = errors(text).join("\n");
    assert_eq!(all.lines().count(), 4, "{all}");
    for leak in ["hunter", "424242", "%%"] {
        assert!(!all.contains(leak), "{leak} leaked into: {all}");
    }
    let config = ok(&format!("{AZURE_SECRET}---\n{}", azure_receiver("s")));
    let debug = format!("{config:?}");
    assert!(!debug.contains("mysecret"), "{debug}");
}

#[test]
fn load_reads_a_directory_tree_in_name_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let write = |rel: &str, text: &str| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    let image_warehouse = |name: &str| {
        warehouse("", "  - image: {repoURL: ghcr.io/a/b}\n")
            .replace("name: w", &format!("name: {name}"))
    };
    write("b/warehouses/two.yml", &image_warehouse("two"));
    write("b/warehouses/one.yaml", &image_warehouse("one"));
    write("a-project.yaml", &azure_receiver("s"));
    // The Secret comes after the ProjectConfig that needs it, in another directory.
    write("c/deep/er/secret.YAML", AZURE_SECRET);
    write("README.md", "not: [yaml");
    write("b/notes.txt", "not: [yaml");
    write(".git/config.yaml", "not: [yaml");
    write("c/..data/copy.yaml", &image_warehouse("one"));

    let config = load(&[root.to_path_buf()]).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = config.warehouses.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["one", "two"]);
    assert_eq!(config.receivers.len(), 1);
    assert_eq!(
        &*config.warehouses[0].origin.file,
        root.join("b/warehouses/one.yaml").display().to_string()
    );

    // A file named directly and again through its directory is read once.
    let again = load(&[root.join("b/warehouses/one.yaml"), root.join("b")])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.warehouses.len(), 2);

    let missing = root.join("nope");
    let ConfigErrors(errs) = load(std::slice::from_ref(&missing)).expect_err("missing path");
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].location, missing.display().to_string());
    assert!(errs[0].message.starts_with("cannot read: "), "{}", errs[0]);
}

#[test]
fn many_warehouses_load_and_duplicates_are_found() {
    let n = 5_000;
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
            "---\napiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata: {{name: w{i}, namespace: p{}}}\nspec:\n  subscriptions:\n  - image: {{repoURL: ghcr.io/acme/app{i}, allowTags: '^v'}}\n",
            i % 10
        ));
    }
    let config = ok(&text);
    assert_eq!(config.warehouses.len(), n);
    assert_eq!(config.projects.len(), 10);
    text.push_str("---\napiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata: {name: w7, namespace: p7}\nspec:\n  subscriptions:\n  - image: {repoURL: ghcr.io/acme/app}\n");
    assert_eq!(
        errors(&text),
        [format!(
            "f.yaml (document {n}) metadata.name: Warehouse p7/w7 is already defined at f.yaml (document 7)"
        )]
    );
}

#[test]
fn odd_input_is_an_error_not_a_panic() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let cases: Vec<(&str, String)> = vec![
        ("undefined alias", "*a\n".into()),
        ("deep nesting", deep),
        ("tagged document", "!Warehouse {apiVersion: v1}\n".into()),
        (
            "duplicate key",
            "apiVersion: v1\napiVersion: v2\nkind: Secret\n".into(),
        ),
        (
            "non-string key",
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: p}\nstringData: {1: x}\n"
                .into(),
        ),
        (
            "interval overflow",
            warehouse(
                "  interval: 99999999999999999999h\n",
                "  - image: {repoURL: a/b}\n",
            ),
        ),
        ("subscriptions not a list", warehouse("", "    7\n")),
        (
            "metadata not a mapping",
            "apiVersion: v1\nkind: Stage\nmetadata: 3\n".into(),
        ),
    ];
    for (name, text) in cases {
        assert!(!errors(&text).is_empty(), "case: {name} loaded");
    }
}

#[test]
fn credential_secrets_are_loaded() {
    let text = "apiVersion: v1
kind: Secret
metadata:
  name: reg
  namespace: p
  labels:
    kargo.akuity.io/cred-type: image
stringData:
  repoURL: localhost:5000/team/app
  username: bot
  password: hunter2
---
apiVersion: v1
kind: Secret
metadata:
  name: gits
  namespace: p
  labels:
    kargo.akuity.io/cred-type: git
stringData:
  repoURL: ^https://git\\.example\\.com/
  repoURLIsRegex: \"true\"
  username: bot
  password: hunter3
";
    let config = ok(text);
    assert_eq!(config.credentials.len(), 2);
    use crate::config::{find_credential, CredentialKind};
    let c = find_credential(
        &config.credentials,
        "p",
        CredentialKind::Image,
        "LOCALHOST:5000/team/app",
    )
    .expect("image credential");
    assert_eq!(c.username, "bot");
    assert_eq!(c.password.expose(), "hunter2");
    assert!(find_credential(
        &config.credentials,
        "q",
        CredentialKind::Image,
        "localhost:5000/team/app"
    )
    .is_none());
    assert!(find_credential(
        &config.credentials,
        "p",
        CredentialKind::Git,
        "https://git.example.com/a/b.git"
    )
    .is_some());
    assert!(find_credential(
        &config.credentials,
        "p",
        CredentialKind::Git,
        "https://other.example.com/a.git"
    )
    .is_none());
}

#[test]
fn credential_secret_problems_never_quote_the_password() {
    let text = "apiVersion: v1
kind: Secret
metadata:
  name: reg
  namespace: p
  labels:
    kargo.akuity.io/cred-type: image
stringData:
  username: bot
  password: hunter2
";
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].contains("needs a repoURL"), "{errs:?}");
    assert!(!errs[0].contains("hunter2"));
    let bad = text.replace("cred-type: image", "cred-type: ssh");
    assert!(errors(&bad)[0].contains("unknown credential type \"ssh\""));
}

/// Kargo's hash input is plain concatenation: `rt` + `az` and `r` + `taz` with one secret give one
/// path. That must be a configuration error naming both receivers, not one URL serving two.
#[test]
fn receivers_sharing_a_url_path_are_refused() {
    let project = |ns: &str, receiver: &str| {
        format!(
            "apiVersion: v1
kind: Secret
metadata:
  name: s
  namespace: {ns}
stringData:
  secret: same
---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata:
  name: {ns}
  namespace: {ns}
spec:
  webhookReceivers:
  - name: {receiver}
    azure:
      secretRef:
        name: s
"
        )
    };
    let text = format!("{}---\n{}", project("rt", "az"), project("r", "taz"));
    assert_eq!(
        errors(&text),
        vec!["f.yaml (document 3) spec.webhookReceivers: receiver r/taz has the same URL path as receiver rt/az (f.yaml (document 1)): Kargo hashes project + name + secret without separators, so both would be served on one URL; rename one of them or give it another secret"]
    );
    // The same names with different secrets, or a different type, are two paths.
    let other_secret = format!(
        "{}---\n{}",
        project("rt", "az"),
        project("r", "taz").replace("secret: same", "secret: other")
    );
    assert_eq!(ok(&other_secret).receivers.len(), 2);
    let other_type = format!(
        "{}---\n{}",
        project("rt", "az"),
        project("r", "taz")
            .replace("secret: same", "secret: same\n  auth-header: same")
            .replace("azure:", "harbor:")
    );
    assert_eq!(ok(&other_type).receivers.len(), 2);
}

#[test]
fn lenient_load_skips_the_broken_objects_and_keeps_the_rest() {
    let named = |name: &str, subscriptions: &str| {
        warehouse("", subscriptions).replace("name: w", &format!("name: {name}"))
    };
    let good = "  - image: {repoURL: ghcr.io/a/b}\n";
    let text = [
        named("first", good),
        named(
            "broken",
            "  - image: {repoURL: ghcr.io/a/b, semverConstraint: '>>1'}\n",
        ),
        named("last", good),
        AZURE_SECRET.to_string(),
        // Two receivers: the second names a Secret that does not exist.
        azure_receiver("s").replace(
            "        name: s\n",
            "        name: s\n  - name: r2\n    azure:\n      secretRef:\n        name: missing\n",
        ),
    ]
    .join("---\n");

    // Strict: the same text is refused whole, with the same problems lenient reports.
    let strict = errors(&text);
    assert_eq!(strict.len(), 2, "{strict:#?}");

    let mut loader = Loader::default();
    loader.add_file("f.yaml", &text);
    let (config, problems) = loader.finish_lenient();
    let names: Vec<&str> = config.warehouses.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["first", "last"]);
    let receivers: Vec<&str> = config.receivers.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(receivers, ["r"]);
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(lines, strict);
    assert!(
        lines[0].starts_with("f.yaml (document 1) spec.subscriptions[0]"),
        "{lines:#?}"
    );
    assert!(lines[1].contains("\"missing\" not found"), "{lines:#?}");
}

#[cfg(unix)]
#[test]
fn config_files_ends_symlink_loops_and_passes_over_dot_entries() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("a/b")).expect("mkdir");
    std::fs::write(root.join("a/b/w.yaml"), "x: 1").expect("write");
    std::fs::write(root.join(".hidden.yaml"), "x: 1").expect("write");
    // Two loops: each directory links back to an ancestor.
    std::os::unix::fs::symlink(root, root.join("a/up")).expect("symlink");
    std::os::unix::fs::symlink(root.join("a"), root.join("a/b/again")).expect("symlink");

    let (files, problems) = config_files(&[root.to_path_buf()]);
    assert_eq!(files, [root.join("a/b/w.yaml")]);
    assert!(problems.is_empty(), "{problems:?}");
}

const CLUSTER_CONFIG: &str = "apiVersion: v1
kind: Secret
metadata:
  name: cs
  namespace: kargo-system-resources
stringData:
  secret: clustersecret
---
apiVersion: kargo.akuity.io/v1alpha1
kind: ClusterConfig
metadata:
  name: cluster
spec:
  webhookReceivers:
  - name: everywhere
    azure:
      secretRef:
        name: cs
";

#[test]
fn cluster_config_receivers_use_the_system_namespace_and_an_empty_project() {
    let config = ok(CLUSTER_CONFIG);
    assert_eq!(config.receivers.len(), 1);
    let r = &config.receivers[0];
    assert_eq!((r.project.as_str(), r.name.as_str()), ("", "everywhere"));
    // Kargo hashes "" + name + secret for ClusterConfig receivers.
    assert_eq!(
        r.path,
        crate::config::receiver_path(&azure::TYPE, "", "everywhere", "clustersecret")
    );
    assert!(
        !config.projects.iter().any(String::is_empty),
        "{:?}",
        config.projects
    );

    // The Secret must be in the system-resources namespace, not in a project.
    let moved = CLUSTER_CONFIG.replace("namespace: kargo-system-resources", "namespace: p");
    let e = errors(&moved);
    assert!(
        e.iter()
            .any(|l| l.contains("not found in namespace \"kargo-system-resources\"")),
        "{e:?}"
    );
    let renamed = CLUSTER_CONFIG.replace("name: cluster", "name: other");
    let e = errors(&renamed);
    assert!(
        e.iter().any(|l| l.contains("must be named \"cluster\"")),
        "{e:?}"
    );
}

#[test]
fn documents_load_object_by_object_with_another_system_namespace() {
    let docs: Vec<(Origin, Value)> = CLUSTER_CONFIG
        .replace("kargo-system-resources", "sys")
        .split("---")
        .chain([warehouse("", "  - image: {repoURL: 'x/y', constraint: '['}\n").as_str()])
        .enumerate()
        .map(|(i, d)| {
            let origin = Origin {
                file: format!("object {i}").into(),
                document: 0,
            };
            (origin, serde_yaml_ng::from_str(d).unwrap())
        })
        .collect();
    let (config, problems) = load_documents_lenient(docs, "sys");
    assert_eq!(config.receivers.len(), 1, "{problems:?}");
    assert!(config.warehouses.is_empty());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].to_string().contains("object 2"), "{problems:?}");
}

/// Issue 17 item 14: git URLs Kargo's admission accepts but that name no repository dockhand
/// can match load with a warning (the subscription is not indexed); URLs Kargo refuses stay
/// errors.
#[test]
fn git_urls_kargo_admits_load_with_a_warning() {
    for url in [
        "http://github.com/example/repo?foo=bar",
        "https://github.com/",
        "https://foo:bar@github.com/",
        "ssh://git.example.com/",
        "https://example.com/ myrepo",
    ] {
        let text = warehouse("", &format!("  - git: {{repoURL: '{url}'}}\n"));
        let config = ok(&text);
        assert_eq!(config.warehouses.len(), 1, "{url}");
        assert_eq!(config.warehouses[0].subscriptions[0].repo_url(), url);
        assert_eq!(config.warnings.len(), 1, "{url}: {:?}", config.warnings);
        let w = config.warnings[0].to_string();
        assert!(
            w.starts_with("f.yaml (document 0) spec.subscriptions[0].git.repoURL: ")
                && w.contains("no webhook will refresh this subscription"),
            "{w}"
        );
        assert!(!w.contains("foo:bar"), "the password is redacted: {w}");
        assert!(
            Index::build(&config, &[]).is_empty(),
            "{url} is not indexed"
        );
    }
    // Kargo's pattern refuses these (no path after the host, no scheme and no user): errors.
    for url in ["https://github.com", "not a url", "ftp://github.com/a/b"] {
        let text = warehouse("", &format!("  - git: {{repoURL: '{url}'}}\n"));
        let errs = errors(&text);
        assert_eq!(errs.len(), 1, "{url}: {errs:?}");
        assert!(errs[0].contains("git.repoURL"), "{errs:?}");
    }
}

/// A Notification of type `kind` in project `p` using Secret `hook`, with `extra` spec lines.
fn notification(kind: &str, extra: &str) -> String {
    format!(
        "apiVersion: dockhand.dev/v1alpha1
kind: Notification
metadata:
  name: n
  namespace: p
spec:
  type: {kind}
  secretRef:
    name: hook
{extra}"
    )
}

fn hook_secret(data: &str) -> String {
    format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: hook\n  namespace: p\nstringData:\n{data}")
}

#[test]
fn notification_loads_with_defaults() {
    let text = format!(
        "{}---\n{}---\n{}",
        warehouse("", "  - image:\n      repoURL: nginx\n"),
        notification("slack", "  warehouses: [w]\n"),
        hook_secret("  address: https://hooks.slack.com/services/T/B/X\n")
    );
    let c = ok(&text);
    assert_eq!(c.notifications.len(), 1);
    let n = &c.notifications[0];
    assert_eq!((n.project.as_str(), n.name.as_str()), ("p", "n"));
    assert_eq!(n.kind, crate::config::NotificationType::Slack);
    assert_eq!(
        n.events,
        vec![crate::config::NotificationEvent::FreightCreated]
    );
    assert!(n.wants(crate::config::NotificationEvent::FreightCreated, Some("w")));
    assert!(!n.wants(
        crate::config::NotificationEvent::FreightCreated,
        Some("other")
    ));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn notification_problems_are_located() {
    let cases: Vec<(String, &str)> = vec![
        (
            notification("email", ""),
            "f.yaml (document 0) spec.type: unknown type \"email\": dockhand sends to slack, teams or generic",
        ),
        (
            notification("slack", "  events: [FreightCreated, Promoted]\n"),
            "f.yaml (document 0) spec.events[1]: unknown event \"Promoted\"",
        ),
        (
            notification("slack", ""),
            "f.yaml (document 0) spec.secretRef.name: Secret \"hook\" not found in namespace \"p\"",
        ),
        (
            format!("{}---\n{}", notification("slack", ""), hook_secret("  other: x\n")),
            "f.yaml (document 0) spec.secretRef.name: Secret p/hook key \"address\" is missing",
        ),
        (
            format!("{}---\n{}", notification("teams", ""), hook_secret("  address: hooks.example/x\n")),
            "f.yaml (document 0) spec.secretRef.name: Secret p/hook key \"address\" is not an http:// or https:// URL",
        ),
        (
            format!("{}---\n{}", notification("generic", ""), hook_secret("  address: http://127.0.0.1/x\n")),
            "f.yaml (document 0) spec.secretRef.name: Secret p/hook key \"secret\" is missing",
        ),
        (
            format!(
                "{}---\n{}",
                notification("generic", ""),
                hook_secret("  address: http://127.0.0.1/x\n  secret: whsec_!!\n")
            ),
            "key \"secret\" starts with whsec_ but the rest is not base64",
        ),
    ];
    for (text, want) in cases {
        let got = errors(&text);
        assert!(
            got.iter().any(|e| e.contains(want)),
            "want {want:?} in {got:#?}"
        );
        // The address is a credential: never quoted.
        assert!(got.iter().all(|e| !e.contains("hooks.example")), "{got:#?}");
    }
}

#[test]
fn notification_unknown_warehouse_is_a_warning() {
    let text = format!(
        "{}---\n{}",
        notification("slack", "  warehouses: [nope]\n"),
        hook_secret("  address: https://hooks.slack.com/services/T/B/X\n")
    );
    let c = ok(&text);
    assert_eq!(c.notifications.len(), 1);
    assert_eq!(c.warnings.len(), 1);
    assert!(
        c.warnings[0]
            .to_string()
            .contains("spec.warehouses[0]: no Warehouse \"nope\" in project \"p\""),
        "{}",
        c.warnings[0]
    );
}

/// The direct read of a Warehouse's spec (`config::direct`) loads exactly what the `Value` path
/// loads and reports exactly its problems: each text is loaded as is (direct) and with a `!` in
/// a trailing comment, which keeps the whole file on the `Value` path.
#[test]
fn direct_read_agrees_with_the_value_path() {
    let head = "apiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata:\n  name: w\n  namespace: p\n";
    let image = "spec:\n  subscriptions:\n  - image:\n      repoURL: ghcr.io/o/app\n";
    let specs = [
        image.to_string(),
        format!("{image}      constraint: ^1.0.0\n      discoveryLimit: 5\n      strictSemvers: false\n"),
        format!("{image}      constraint: 5\n"),
        format!("{image}      discoveryLimit: \"5\"\n"),
        format!("{image}      discoveryLimit: 1.5\n"),
        format!("{image}      discoveryLimit: -1\n"),
        format!("{image}      discoveryLimit: 99999999999999999999\n"),
        format!("{image}      strictSemvers: \"true\"\n"),
        format!("{image}      allowTagsRegexes: foo\n"),
        format!("{image}      allowTagsRegexes: [1, ^v]\n"),
        format!("{image}      allowTagsRegexes: [\"^v\", '-rc']\n"),
        format!("{image}      ignoreTags: [~]\n"),
        format!("{image}      foo: 1\n"),
        format!("{image}      foo: {{a: 1, a: 2}}\n"),
        format!("{image}      constraint: ^1.0.0\n      constraint: ^2.0.0\n"),
        format!("{image}      platform: null\n"),
        format!("{image}  - \n"),
        format!("{image}  - image:\n"),
        format!("{image}  - image: foo\n"),
        format!("{image}  - image: [a]\n"),
        format!("{image}  - git:\n      repoURL: https://github.com/o/r\n      branch: 1\n"),
        format!("{image}  - chart:\n      repoURL: oci://ghcr.io/o/c\n      semverConstraint: ^1\n"),
        format!("{image}  interval: 5\n"),
        format!("{image}  interval: 1m\n  freightCreationPolicy: Manual\n"),
        format!("{image}  shard: {{a: 1, a: 2}}\n"),
        format!("{image}  shard: s1\n"),
        format!("{image}status:\n  a: 1\n  a: 2\n"),
        format!("{image}spec: {{}}\n"),
        "spec:\n".to_string(),
        "spec: 5\n".to_string(),
        "spec:\n  subscriptions: {}\n".to_string(),
        "spec:\n  subscriptions: &s\n  - image:\n      repoURL: ghcr.io/o/a\n".to_string(),
        "spec:\n  subscriptions: [{image: {repoURL: ghcr.io/o/a}}, {git: {repoURL: 'https://github.com/o/r'}}]\n".to_string(),
        "spec:\n  1: x\n".to_string(),
        "spec:\n  subscriptions:\n  - image:\n      repoURL: a: b\n".to_string(),
    ];
    let mut texts = Vec::new();
    for spec in &specs {
        texts.push(format!("{head}{spec}"));
        // Labels, and spec before kind (which the direct read leaves to the `Value` path).
        texts.push(format!("{head}  labels:\n    a: b\n    c: 1\n{spec}"));
        texts.push(format!("metadata:\n  name: w\n  namespace: p\n{spec}apiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\n"));
        // After a good Warehouse and before another, in one file.
        texts.push(format!(
            "{head}{image}---\n{}{spec}---\n\n---\n{}{image}",
            head.replace("name: w", "name: w1"),
            head.replace("name: w", "name: w2")
        ));
    }
    texts.push(format!("{head}kind: Warehouse\n{image}"));
    texts.push(format!("{head}1: x\n{image}"));
    texts.push(format!(
        "{head}{image}---\n- a\n---\n{}",
        head.replace("name: w", "name: w1")
    ));
    for text in &texts {
        let direct = format!("{:?}", load_str("f.yaml", text));
        let value = format!("{:?}", load_str("f.yaml", &format!("{text}# !\n")));
        assert_eq!(direct, value, "for:\n{text}");
    }
    // And the direct read did read: a plain file of Warehouses loads.
    assert_eq!(ok(&format!("{head}{image}")).warehouses.len(), 1);
}

/// The files are parsed on several threads but added in file order: a load of many files (more
/// than the parse threads may run ahead) gives exactly what adding them one after another gives,
/// its diagnostics in the same order, the first of two same-named Warehouses kept.
#[test]
fn a_parallel_load_adds_files_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = Vec::new();
    for i in 0..(AHEAD_FILES * 3) {
        // Ten names over 96 files: every name but the first of each is a duplicate; every
        // seventh file has a syntax error after its Warehouse, every eleventh is empty.
        let mut text = warehouse("", "  - image: {repoURL: ghcr.io/a/b}\n")
            .replace("name: w", &format!("name: w{}", i % 10))
            .replace("repoURL: ghcr.io/a/b", &format!("repoURL: ghcr.io/a/f{i}"));
        if i % 7 == 0 {
            text.push_str("---\nnot: [yaml\n");
        }
        if i % 11 == 0 {
            text.clear();
        }
        let path = dir.path().join(format!("f{i:03}.yaml"));
        std::fs::write(&path, text).expect("write");
        files.push(path);
    }

    let parallel = read(&[dir.path().to_path_buf()]);
    let mut sequential = Loader::default();
    for file in &files {
        sequential.add_parsed(&file.display().to_string(), parse_file(file).0);
    }
    let (parallel, parallel_problems) = parallel.finish_lenient();
    let (sequential, sequential_problems) = sequential.finish_lenient();
    assert!(sequential_problems.len() > 80, "{sequential_problems:?}");
    assert_eq!(parallel_problems, sequential_problems);
    assert_eq!(format!("{parallel:?}"), format!("{sequential:?}"));
    let first: Vec<String> = parallel
        .warehouses
        .iter()
        .map(|w| format!("{} {:?}", w.name, w.subscriptions))
        .collect();
    assert_eq!(first.len(), 10);
    assert!(
        first[0].starts_with("w1 ") && first[0].contains("ghcr.io/a/f1"),
        "{first:?}"
    );
}
