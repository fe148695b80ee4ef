//! Authentication and authorization: bearer tokens map to identities, and RBAC decides from real
//! ClusterRole/Role/ClusterRoleBinding/RoleBinding objects loaded from (multi-document) YAML, such
//! as `kubectl kustomize deploy/kubernetes` renders. A RoleBinding grants only inside its own
//! namespace; only ClusterRoleBindings grant cluster-scoped and all-namespace requests.

use serde::Deserialize;
use serde_json::Value;

/// Who a request is from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `alice`, or `system:serviceaccount:NS:NAME`.
    pub name: String,
    pub groups: Vec<String>,
    /// Bypasses RBAC, for test setup.
    pub admin: bool,
}

impl Identity {
    pub fn user(name: &str) -> Self {
        Identity {
            name: name.to_string(),
            groups: vec!["system:authenticated".into()],
            admin: false,
        }
    }

    pub fn service_account(namespace: &str, name: &str) -> Self {
        Identity {
            name: format!("system:serviceaccount:{namespace}:{name}"),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".into(),
            ],
            admin: false,
        }
    }

    pub fn admin(name: &str) -> Self {
        Identity {
            name: name.to_string(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
            admin: true,
        }
    }
}

/// What a request does, in RBAC's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: Option<String>,
    /// `None` for cluster-scoped types and for lists across all namespaces.
    pub namespace: Option<String>,
    /// The object's name; for list/watch the name a `metadata.name` field selector pins.
    pub name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RbacError {
    #[error("RBAC YAML document {index}: {source}")]
    Yaml {
        index: usize,
        source: serde_yaml_ng::Error,
    },
    #[error("RBAC YAML document {index} ({kind} {name}): {source}")]
    Shape {
        index: usize,
        kind: String,
        name: String,
        source: serde_json::Error,
    },
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(default)]
    verbs: Vec<String>,
    #[serde(default)]
    api_groups: Vec<String>,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    resource_names: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Subject {
    kind: String,
    name: String,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct RoleRef {
    kind: String,
    name: String,
}

#[derive(Debug, Clone)]
struct Binding {
    /// `None` for a ClusterRoleBinding.
    namespace: Option<String>,
    role_ref: RoleRef,
    subjects: Vec<Subject>,
}

#[derive(Debug, Clone)]
struct Role {
    /// `None` for a ClusterRole.
    namespace: Option<String>,
    name: String,
    rules: Vec<Rule>,
}

/// The loaded RBAC objects.
#[derive(Debug, Clone, Default)]
pub struct Rbac {
    roles: Vec<Role>,
    bindings: Vec<Binding>,
}

fn contains(list: &[String], want: &str) -> bool {
    list.iter().any(|x| x == "*" || x == want)
}

impl Rule {
    fn allows(&self, a: &Attributes) -> bool {
        let resource_ok = self.resources.iter().any(|r| match &a.subresource {
            None => r == "*" || *r == a.resource,
            Some(sub) => {
                r == "*" || *r == format!("{}/{sub}", a.resource) || *r == format!("*/{sub}")
            }
        });
        let name_ok = self.resource_names.is_empty()
            || a.name
                .as_deref()
                .is_some_and(|n| self.resource_names.iter().any(|x| x == n));
        contains(&self.verbs, &a.verb)
            && contains(&self.api_groups, &a.group)
            && resource_ok
            && name_ok
    }
}

impl Rbac {
    /// Adds every RBAC object in a multi-document YAML; other kinds (and `List` items of other
    /// kinds) are ignored, as they would be by a real server's RBAC authorizer.
    pub fn load_yaml(&mut self, yaml: &str) -> Result<(), RbacError> {
        for (index, doc) in serde_yaml_ng::Deserializer::from_str(yaml).enumerate() {
            let value =
                Value::deserialize(doc).map_err(|source| RbacError::Yaml { index, source })?;
            if value.is_null() {
                continue;
            }
            let items = match value["kind"].as_str() {
                Some("List") => value["items"].as_array().cloned().unwrap_or_default(),
                _ => vec![value],
            };
            for item in items {
                self.load_object(index, &item)?;
            }
        }
        Ok(())
    }

    fn load_object(&mut self, index: usize, o: &Value) -> Result<(), RbacError> {
        let kind = o["kind"].as_str().unwrap_or("").to_string();
        let name = o["metadata"]["name"].as_str().unwrap_or("").to_string();
        let namespace = o["metadata"]["namespace"].as_str().map(str::to_string);
        let shape = |source| RbacError::Shape {
            index,
            kind: kind.clone(),
            name: name.clone(),
            source,
        };
        match kind.as_str() {
            "ClusterRole" | "Role" => {
                let rules: Vec<Rule> =
                    serde_json::from_value(o.get("rules").cloned().unwrap_or(Value::Array(vec![])))
                        .map_err(shape)?;
                let namespace = if kind == "Role" {
                    Some(namespace.unwrap_or_else(|| "default".into()))
                } else {
                    None
                };
                self.roles.push(Role {
                    namespace,
                    name: name.clone(),
                    rules,
                });
            }
            "ClusterRoleBinding" | "RoleBinding" => {
                let role_ref: RoleRef =
                    serde_json::from_value(o["roleRef"].clone()).map_err(shape)?;
                let subjects: Vec<Subject> = serde_json::from_value(
                    o.get("subjects").cloned().unwrap_or(Value::Array(vec![])),
                )
                .map_err(shape)?;
                let namespace = if kind == "RoleBinding" {
                    Some(namespace.unwrap_or_else(|| "default".into()))
                } else {
                    None
                };
                self.bindings.push(Binding {
                    namespace,
                    role_ref,
                    subjects,
                });
            }
            _ => {}
        }
        Ok(())
    }

    fn subject_is(s: &Subject, binding_ns: Option<&str>, id: &Identity) -> bool {
        match s.kind.as_str() {
            "User" => s.name == id.name,
            "Group" => id.groups.contains(&s.name),
            "ServiceAccount" => {
                let ns = s.namespace.as_deref().or(binding_ns).unwrap_or("default");
                id.name == format!("system:serviceaccount:{ns}:{}", s.name)
            }
            _ => false,
        }
    }

    /// Whether any binding of `id` grants the request.
    pub fn allows(&self, id: &Identity, a: &Attributes) -> bool {
        if id.admin {
            return true;
        }
        self.bindings.iter().any(|b| {
            // A RoleBinding grants only namespaced requests inside its namespace.
            if let Some(bns) = &b.namespace {
                if a.namespace.as_deref() != Some(bns.as_str()) {
                    return false;
                }
            }
            if !b
                .subjects
                .iter()
                .any(|s| Self::subject_is(s, b.namespace.as_deref(), id))
            {
                return false;
            }
            let role_ns = match b.role_ref.kind.as_str() {
                "ClusterRole" => None,
                "Role" => b.namespace.clone(),
                _ => return false,
            };
            self.roles
                .iter()
                .filter(|r| r.name == b.role_ref.name && r.namespace == role_ns)
                .any(|r| r.rules.iter().any(|rule| rule.allows(a)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
rules:
- apiGroups: [kargo.akuity.io]
  resources: [warehouses]
  verbs: [get, list, watch, patch]
- apiGroups: [""]
  resources: [secrets]
  resourceNames: [only-this]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}
subjects:
- {kind: ServiceAccount, name: hook, namespace: sys}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: secrets, namespace: p1}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: secrets, namespace: p1}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: secrets}
subjects:
- {kind: ServiceAccount, name: hook, namespace: sys}
"#;

    fn attrs(
        verb: &str,
        group: &str,
        resource: &str,
        sub: Option<&str>,
        ns: Option<&str>,
        name: Option<&str>,
    ) -> Attributes {
        Attributes {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: sub.map(Into::into),
            namespace: ns.map(Into::into),
            name: name.map(Into::into),
        }
    }

    #[test]
    fn rules_bindings_and_scopes() {
        let mut rbac = Rbac::default();
        rbac.load_yaml(YAML).unwrap();
        let sa = Identity::service_account("sys", "hook");
        let other = Identity::service_account("sys", "other");
        let k = "kargo.akuity.io";
        for (a, id, want) in [
            (
                attrs("patch", k, "warehouses", None, Some("p1"), Some("w")),
                &sa,
                true,
            ),
            (attrs("list", k, "warehouses", None, None, None), &sa, true),
            (
                attrs("patch", k, "warehouses", None, Some("p1"), Some("w")),
                &other,
                false,
            ),
            (
                attrs("delete", k, "warehouses", None, Some("p1"), Some("w")),
                &sa,
                false,
            ),
            (
                attrs(
                    "patch",
                    k,
                    "warehouses",
                    Some("status"),
                    Some("p1"),
                    Some("w"),
                ),
                &sa,
                false,
            ),
            (
                attrs("get", "", "secrets", None, Some("p1"), Some("s")),
                &sa,
                true,
            ),
            (
                attrs("get", "", "secrets", None, Some("p2"), Some("s")),
                &sa,
                false,
            ),
            (
                attrs("get", "", "secrets", None, Some("p2"), Some("only-this")),
                &sa,
                true,
            ),
            (attrs("list", "", "secrets", None, None, None), &sa, false),
            (
                attrs("list", "", "secrets", None, Some("p1"), None),
                &sa,
                true,
            ),
        ] {
            assert_eq!(rbac.allows(id, &a), want, "{a:?} as {}", id.name);
        }
        assert!(rbac.allows(
            &Identity::admin("root"),
            &attrs("delete", "", "secrets", None, None, None)
        ));
    }
}
