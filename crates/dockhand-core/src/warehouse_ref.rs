//! `WarehouseRef`: the name of one Warehouse (its project and its name), the key by which the
//! index, the store, the refresh engine and the configuration snapshot refer to it. Shown as
//! `project/name`, the spelling of the CLI and of delivery records.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::Warehouse;

/// Which Warehouse: a Kargo Warehouse is named within its project (namespace).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WarehouseRef {
    pub project: String,
    pub name: String,
}

impl WarehouseRef {
    pub fn new(project: impl Into<String>, name: impl Into<String>) -> WarehouseRef {
        WarehouseRef {
            project: project.into(),
            name: name.into(),
        }
    }
}

impl From<&Warehouse> for WarehouseRef {
    fn from(w: &Warehouse) -> WarehouseRef {
        WarehouseRef::new(w.project.as_str(), w.name.as_str())
    }
}

impl fmt::Display for WarehouseRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.project, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_as_project_slash_name() {
        assert_eq!(WarehouseRef::new("team", "app").to_string(), "team/app");
    }
}
