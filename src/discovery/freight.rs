//! Artifacts and Freight. A Freight is one artifact per subscription of a Warehouse; its id is
//! derived from its content alone (same artifacts, same id, whatever their order), so recording
//! the same combination twice is a no-op, as in Kargo.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// A discovered container image (or the artifact of a Digest subscription).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    pub tag: String,
    pub digest: String,
    /// The image config's `created`, when it was read (NewestBuild).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// A discovered Helm chart version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Chart {
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub version: String,
}

/// A discovered git commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Commit {
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// Artifacts grouped by kind, as Kargo's Freight lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifacts {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub charts: Vec<Chart>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<Commit>,
}

impl Artifacts {
    pub fn len(&self) -> usize {
        self.images.len() + self.charts.len() + self.commits.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The newest artifact only (discovery lists newest first).
    pub fn newest(&self) -> Artifacts {
        Artifacts {
            images: self.images.iter().take(1).cloned().collect(),
            charts: self.charts.iter().take(1).cloned().collect(),
            commits: self.commits.iter().take(1).cloned().collect(),
        }
    }

    pub fn extend(&mut self, other: Artifacts) {
        self.images.extend(other.images);
        self.charts.extend(other.charts);
        self.commits.extend(other.commits);
    }
}

/// A piece of Freight as stored and served (`GET /api/v1/freight`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Freight {
    pub id: String,
    pub alias: String,
    pub project: String,
    pub warehouse: String,
    pub created_at: String,
    pub artifacts: Artifacts,
}

impl Freight {
    pub fn new(
        project: &str,
        warehouse: &str,
        artifacts: Artifacts,
        created_at: String,
    ) -> Freight {
        let id = id(project, warehouse, &artifacts);
        Freight {
            alias: alias(&id),
            id,
            project: project.to_string(),
            warehouse: warehouse.to_string(),
            created_at,
            artifacts,
        }
    }
}

/// 40 hex digits of SHA-256 over the Warehouse and the sorted canonical lines of the artifacts
/// (the length of Kargo's ids; the origin is part of it as in Kargo, so two Warehouses that find
/// the same artifacts record two Freight). The created time of an image is not identity.
pub fn id(project: &str, warehouse: &str, artifacts: &Artifacts) -> String {
    let mut lines: Vec<String> = Vec::with_capacity(artifacts.len());
    for i in &artifacts.images {
        lines.push(format!("image\0{}\0{}\0{}", i.repo_url, i.tag, i.digest));
    }
    for c in &artifacts.charts {
        lines.push(format!(
            "chart\0{}\0{}\0{}",
            c.repo_url,
            c.name.as_deref().unwrap_or(""),
            c.version
        ));
    }
    for c in &artifacts.commits {
        lines.push(format!("commit\0{}\0{}", c.repo_url, c.id));
    }
    lines.sort();
    let mut hash = Sha256::new();
    hash.update(format!("{project}\0{warehouse}\n").as_bytes());
    for l in &lines {
        hash.update(l.as_bytes());
        hash.update(b"\n");
    }
    hash.finalize()
        .iter()
        .take(20)
        .map(|b| format!("{b:02x}"))
        .collect()
}

const ADJECTIVES: [&str; 32] = [
    "amber", "brave", "calm", "dapper", "eager", "fancy", "gentle", "happy", "icy", "jolly",
    "keen", "lucky", "mellow", "nimble", "olive", "proud", "quick", "rosy", "sunny", "tidy",
    "upbeat", "vivid", "witty", "young", "zesty", "bold", "clever", "dusty", "frosty", "golden",
    "humble", "lively",
];
const ANIMALS: [&str; 32] = [
    "alpaca", "badger", "beaver", "bison", "camel", "cobra", "coyote", "dingo", "dolphin", "eagle",
    "falcon", "ferret", "gecko", "heron", "ibis", "jackal", "koala", "lemur", "lynx", "marten",
    "narwhal", "otter", "panda", "puffin", "quail", "raven", "salmon", "tapir", "walrus", "wombat",
    "yak", "zebra",
];

/// A name a person can say, derived from the id (so the same Freight always has the same
/// alias): adjective, animal and two hex digits of the id.
pub fn alias(id: &str) -> String {
    let byte = |i: usize| {
        id.get(i * 2..i * 2 + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0) as usize
    };
    format!(
        "{}-{}-{}",
        ADJECTIVES[byte(0) % ADJECTIVES.len()],
        ANIMALS[byte(1) % ANIMALS.len()],
        id.get(4..6).unwrap_or("00")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(tag: &str) -> Image {
        Image {
            repo_url: "localhost:5000/app".into(),
            tag: tag.into(),
            digest: format!("sha256:{tag}"),
            created_at: None,
        }
    }

    fn commit(id: &str) -> Commit {
        Commit {
            repo_url: "https://git.example.com/app.git".into(),
            id: id.into(),
            branch: Some("main".into()),
            tag: None,
        }
    }

    #[test]
    fn id_depends_on_content_not_order() {
        let a = Artifacts {
            images: vec![image("v1"), image("v2")],
            commits: vec![commit("abc")],
            charts: vec![],
        };
        let b = Artifacts {
            images: vec![image("v2"), image("v1")],
            commits: vec![commit("abc")],
            charts: vec![],
        };
        assert_eq!(id("p", "w", &a), id("p", "w", &b));
        assert_eq!(id("p", "w", &a).len(), 40);
        assert_ne!(id("p", "w", &a), id("p", "w2", &a));
        let c = Artifacts {
            commits: vec![commit("abd")],
            ..a.clone()
        };
        assert_ne!(id("p", "w", &a), id("p", "w", &c));
        let mut created = a.clone();
        created.images[0].created_at = Some("2024-01-01T00:00:00Z".into());
        assert_eq!(id("p", "w", &a), id("p", "w", &created));
    }

    #[test]
    fn alias_is_stable_and_readable() {
        let f = Freight::new("p", "w", Artifacts::default(), "t".into());
        assert_eq!(f.alias, alias(&f.id));
        assert_eq!(f.alias.split('-').count(), 3);
        assert_eq!(alias("zz"), "amber-alpaca-00");
    }
}
