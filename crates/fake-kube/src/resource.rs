//! The resource types a fake server serves: group, version, plural, kind, scope, and whether the
//! type has a status subresource (every Kargo CRD does; core Secrets and Namespaces do not here).

/// One served resource type, registered when the server starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    /// API group; empty for the core group (`/api/v1`).
    pub group: String,
    pub version: String,
    /// Lower-case plural used in paths and RBAC rules (`warehouses`).
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    /// With a status subresource the main resource ignores `.status` and `/status` changes only it.
    pub status_subresource: bool,
    /// Custom resources refuse strategic merge patches (415) and unconditional PUTs (422).
    pub custom: bool,
}

impl ResourceType {
    /// A custom resource with a status subresource, as Kargo's CRDs declare.
    pub fn custom(group: &str, version: &str, plural: &str, kind: &str, namespaced: bool) -> Self {
        ResourceType {
            group: group.to_string(),
            version: version.to_string(),
            plural: plural.to_string(),
            singular: kind.to_ascii_lowercase(),
            kind: kind.to_string(),
            namespaced,
            status_subresource: true,
            custom: true,
        }
    }

    /// A core (`v1`) type without a status subresource.
    pub fn core(plural: &str, kind: &str, namespaced: bool) -> Self {
        ResourceType {
            group: String::new(),
            version: "v1".to_string(),
            plural: plural.to_string(),
            singular: kind.to_ascii_lowercase(),
            kind: kind.to_string(),
            namespaced,
            status_subresource: false,
            custom: false,
        }
    }

    /// `apiVersion` of objects of this type: `group/version`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `warehouses.kargo.akuity.io` (or `secrets`): how error messages name the type.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

/// Kargo's group.
pub const KARGO_GROUP: &str = "kargo.akuity.io";

/// The types dockhand's Kargo mode touches: Kargo's CRDs plus core Secrets and Namespaces.
pub fn kargo_types() -> Vec<ResourceType> {
    let k = |plural: &str, kind: &str, namespaced: bool| {
        ResourceType::custom(KARGO_GROUP, "v1alpha1", plural, kind, namespaced)
    };
    vec![
        k("warehouses", "Warehouse", true),
        k("projectconfigs", "ProjectConfig", true),
        k("clusterconfigs", "ClusterConfig", false),
        k("promotions", "Promotion", true),
        k("freights", "Freight", true),
        k("stages", "Stage", true),
        k("projects", "Project", false),
        ResourceType::core("secrets", "Secret", true),
        ResourceType::core("namespaces", "Namespace", false),
    ]
}
