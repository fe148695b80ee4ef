//! A Warehouse's `spec` read straight from the YAML text into the typed manifest, without the
//! `Value` tree every other document goes through: at 100,000 Warehouses that tree (a map per
//! subscription, every string allocated twice) was a large part of start-up.
//!
//! This is a fast path, never a second reader. It accepts a document only where the `Value`
//! path would accept it and read the same thing; anything else (an unknown field, a string
//! where a number goes, a duplicate key, a syntax error) is an error here, and the caller reads
//! the document again through the `Value` path, whose diagnostics are the ones reported. So:
//! - every leaf is read with `deserialize_any` and takes only the type the `Value` path's typed
//!   read takes (YAML's lenient "a plain `5` is also a string" is refused);
//! - every struct is either optional (a null is `None` in both paths) or must be a mapping (the
//!   text deserializer would read an empty scalar as an empty struct, the `Value` path refuses);
//! - unknown fields are refused, since the `Value` path would still have built them and refused
//!   a duplicate key inside;
//! - a file holding a tag (`!`) is never read here (the caller checks), since tags are read
//!   differently by the two paths.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};

use super::manifest;

/// One document as read here.
pub(super) enum Document {
    /// A Kargo Warehouse whose `apiVersion` and `kind` came before its `spec`, the spec read
    /// typed; `rest` is the document without `spec`, as the `Value` path would have built it.
    Warehouse {
        rest: Value,
        spec: manifest::Warehouse,
    },
    /// Any other mapping, built as the `Value` path builds it.
    Other(Value),
}

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DocumentVisitor)
    }
}

struct DocumentVisitor;

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = Document;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Document, A::Error> {
        let mut rest = Mapping::new();
        let mut spec: Option<Option<Spec>> = None;
        while let Some(key) = map.next_key::<Value>()? {
            let is_spec = key.as_str() == Some("spec");
            if is_spec && (spec.is_some() || rest.contains_key("spec")) {
                return Err(de::Error::custom("duplicate spec"));
            }
            if is_spec && is_kargo_warehouse(&rest) {
                spec = Some(map.next_value::<Option<Spec>>()?);
                continue;
            }
            let value = map.next_value::<Value>()?;
            if rest.contains_key(&key) {
                return Err(de::Error::custom("duplicate key"));
            }
            rest.insert(key, value);
        }
        Ok(match spec {
            Some(spec) => Document::Warehouse {
                rest: Value::Mapping(rest),
                spec: manifest::Warehouse {
                    spec: spec.map(Into::into),
                },
            },
            None => Document::Other(Value::Mapping(rest)),
        })
    }
}

fn is_kargo_warehouse(rest: &Mapping) -> bool {
    rest.get("apiVersion").and_then(Value::as_str) == Some(super::load::KARGO_API_VERSION)
        && rest.get("kind").and_then(Value::as_str) == Some("Warehouse")
}

/// A string, and only a string (a plain `5` or `true` is refused, as the `Value` path does).
struct Str(String);

impl<'de> Deserialize<'de> for Str {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Str;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str, E> {
                Ok(Str(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Str, E> {
                Ok(Str(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// A boolean, and only a boolean.
struct Flag(bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Flag;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a boolean")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// An integer that fits an `i64`, and only that.
struct Int(i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("i64")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                i64::try_from(v)
                    .map(Int)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}

/// A struct that must be written as a mapping (not as an empty scalar).
struct Mapped<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Mapped<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Mapped<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Mapped<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Mapped)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

fn string(s: Option<Str>) -> Option<String> {
    s.map(|s| s.0)
}

fn strings(list: Option<Vec<Str>>) -> Option<Vec<String>> {
    list.map(|l| l.into_iter().map(|s| s.0).collect())
}

// The shapes of `manifest`, field for field, with the leaves above and unknown fields refused.
// `shard` and `freightCreationCriteria` are Kargo fields dockhand does not use: read as values
// (as the `Value` path builds them) so that a real Warehouse stays on this path.

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct Spec {
    interval: Option<Str>,
    freight_creation_policy: Option<Str>,
    subscriptions: Option<Vec<Mapped<Subscription>>>,
    shard: Option<Value>,
    freight_creation_criteria: Option<Value>,
}

impl From<Spec> for manifest::WarehouseSpec {
    fn from(s: Spec) -> Self {
        manifest::WarehouseSpec {
            interval: string(s.interval),
            freight_creation_policy: string(s.freight_creation_policy),
            subscriptions: s
                .subscriptions
                .map(|l| l.into_iter().map(|m| m.0.into()).collect()),
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Subscription {
    image: Option<Image>,
    git: Option<Git>,
    chart: Option<Chart>,
}

impl From<Subscription> for manifest::Subscription {
    fn from(s: Subscription) -> Self {
        manifest::Subscription {
            image: s.image.map(Into::into),
            git: s.git.map(Into::into),
            chart: s.chart.map(Into::into),
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct Image {
    #[serde(rename = "repoURL")]
    repo_url: Option<Str>,
    image_selection_strategy: Option<Str>,
    constraint: Option<Str>,
    semver_constraint: Option<Str>,
    strict_semvers: Option<Flag>,
    allow_tags: Option<Str>,
    allow_tags_regex: Option<Vec<Str>>,
    allow_tags_regexes: Option<Vec<Str>>,
    ignore_tags: Option<Vec<Str>>,
    ignore_tags_regex: Option<Vec<Str>>,
    ignore_tags_regexes: Option<Vec<Str>>,
    platform: Option<Str>,
    #[serde(rename = "insecureSkipTLSVerify")]
    insecure_skip_tls_verify: Option<Flag>,
    discovery_limit: Option<Int>,
}

impl From<Image> for manifest::ImageSubscription {
    fn from(s: Image) -> Self {
        manifest::ImageSubscription {
            repo_url: string(s.repo_url),
            image_selection_strategy: string(s.image_selection_strategy),
            constraint: string(s.constraint),
            semver_constraint: string(s.semver_constraint),
            strict_semvers: s.strict_semvers.map(|f| f.0),
            allow_tags: string(s.allow_tags),
            allow_tags_regex: strings(s.allow_tags_regex),
            allow_tags_regexes: strings(s.allow_tags_regexes),
            ignore_tags: strings(s.ignore_tags),
            ignore_tags_regex: strings(s.ignore_tags_regex),
            ignore_tags_regexes: strings(s.ignore_tags_regexes),
            platform: string(s.platform),
            insecure_skip_tls_verify: s.insecure_skip_tls_verify.map(|f| f.0),
            discovery_limit: s.discovery_limit.map(|i| i.0),
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct Git {
    #[serde(rename = "repoURL")]
    repo_url: Option<Str>,
    commit_selection_strategy: Option<Str>,
    branch: Option<Str>,
    strict_semvers: Option<Flag>,
    semver_constraint: Option<Str>,
    allow_tags: Option<Str>,
    allow_tags_regex: Option<Vec<Str>>,
    allow_tags_regexes: Option<Vec<Str>>,
    ignore_tags: Option<Vec<Str>>,
    ignore_tags_regex: Option<Vec<Str>>,
    ignore_tags_regexes: Option<Vec<Str>>,
    include_paths: Option<Vec<Str>>,
    exclude_paths: Option<Vec<Str>>,
    #[serde(rename = "insecureSkipTLSVerify")]
    insecure_skip_tls_verify: Option<Flag>,
    discovery_limit: Option<Int>,
}

impl From<Git> for manifest::GitSubscription {
    fn from(s: Git) -> Self {
        manifest::GitSubscription {
            repo_url: string(s.repo_url),
            commit_selection_strategy: string(s.commit_selection_strategy),
            branch: string(s.branch),
            strict_semvers: s.strict_semvers.map(|f| f.0),
            semver_constraint: string(s.semver_constraint),
            allow_tags: string(s.allow_tags),
            allow_tags_regex: strings(s.allow_tags_regex),
            allow_tags_regexes: strings(s.allow_tags_regexes),
            ignore_tags: strings(s.ignore_tags),
            ignore_tags_regex: strings(s.ignore_tags_regex),
            ignore_tags_regexes: strings(s.ignore_tags_regexes),
            include_paths: strings(s.include_paths),
            exclude_paths: strings(s.exclude_paths),
            insecure_skip_tls_verify: s.insecure_skip_tls_verify.map(|f| f.0),
            discovery_limit: s.discovery_limit.map(|i| i.0),
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct Chart {
    #[serde(rename = "repoURL")]
    repo_url: Option<Str>,
    name: Option<Str>,
    semver_constraint: Option<Str>,
    discovery_limit: Option<Int>,
}

impl From<Chart> for manifest::ChartSubscription {
    fn from(s: Chart) -> Self {
        manifest::ChartSubscription {
            repo_url: string(s.repo_url),
            name: string(s.name),
            semver_constraint: string(s.semver_constraint),
            discovery_limit: s.discovery_limit.map(|i| i.0),
        }
    }
}
