//! `import`: turn an existing Deployment or StatefulSet into the StatelessService that
//! reproduces it as closely as the statelessness contract allows, with the list of everything
//! that had to change and why.
//!
//! [`convert`] is the pure conversion (workload JSON + the ConfigMaps, claims and Secret key
//! names it references -> StatelessService + [`Change`]s); it walks every field of the pod
//! template, so nothing is dropped without a change naming it. [`live`] reads one workload
//! and what it references from a cluster (GETs only, never a Secret's values). This module
//! reads files and formats the result. Nothing here writes to a cluster.

mod container;
pub mod convert;
pub mod live;
mod volumes;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde_json::Value;

use crate::audit::{self, AuditError};
use crate::crd::StatelessService;
use crate::validate::FieldError;

/// What kind of change an import had to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// Expressed differently (a value moved, a default applied, a name changed).
    Changed,
    /// Left out, because the contract forbids it; the message says what to do instead.
    Dropped,
    /// Has no equivalent in a StatelessService at all (a host path, a sidecar, per-pod claims).
    Inexpressible,
}

impl ChangeKind {
    /// The label in output.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Changed => "changed",
            ChangeKind::Dropped => "dropped",
            ChangeKind::Inexpressible => "cannot be expressed",
        }
    }
}

/// One difference between the workload and the imported StatelessService.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// What kind of change.
    pub kind: ChangeKind,
    /// Field path in the original object, e.g. `spec.template.spec.volumes[1]`.
    pub field: String,
    /// What changed and why, and what to do about it.
    pub message: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.kind.as_str(),
            self.field,
            self.message
        )
    }
}

/// The result of importing one workload.
#[derive(Clone, Debug)]
pub struct Imported {
    /// `Deployment shop/web`.
    pub source: String,
    /// The StatelessService (valid: it passed `validate`).
    pub service: StatelessService,
    /// Everything that had to change.
    pub changes: Vec<Change>,
}

/// Objects a workload references, as far as an import may use them.
#[derive(Clone, Debug, Default)]
pub struct Referenced {
    /// ConfigMaps by name: `data`, and the keys of `binaryData` (which cannot be imported).
    pub config_maps: HashMap<String, (BTreeMap<String, String>, Vec<String>)>,
    /// PersistentVolumeClaims by name.
    pub claims: HashMap<String, k8s_openapi::api::core::v1::PersistentVolumeClaim>,
    /// Secret key names by Secret name (never values).
    pub secret_keys: HashMap<String, Vec<String>>,
}

/// How to import.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Name of the StatelessService (default: from the workload's name).
    pub name: Option<String>,
    /// Namespace for objects that name none; with file input, only this namespace is read.
    pub namespace: Option<String>,
}

/// Why an import failed. Each variant says where.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Reading or parsing the input failed.
    #[error(transparent)]
    Input(#[from] AuditError),
    /// The input holds no workload to import.
    #[error(
        "{0}: no apps/v1 Deployment or StatefulSet found (import reads those; use `audit` for other kinds)"
    )]
    NoWorkload(String),
    /// The target is neither `deploy/NAME`, `sts/NAME` nor a file.
    #[error(
        "{0:?} is not a target: give deploy/NAME or sts/NAME (read from the cluster) or a manifest file"
    )]
    Target(String),
    /// `--name` is not a valid StatelessService name, or names several workloads.
    #[error("--name {name:?}: {message}")]
    Name {
        /// The name given.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The workload lacks what every workload has.
    #[error("{object}: {path}: {message}")]
    Object {
        /// `Deployment ns/name`.
        object: String,
        /// Field path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The workload does not exist.
    #[error("{kind} {namespace}/{name} not found")]
    NotFound {
        /// Its kind.
        kind: &'static str,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// A request to the cluster failed.
    #[error(transparent)]
    Kube(#[from] crate::error::Error),
    /// No cluster to talk to.
    #[error("cannot connect to a cluster: {0} (set KUBECONFIG or ~/.kube/config)")]
    Connect(String),
    /// The converted StatelessService did not validate (unusual input the conversion does not
    /// handle yet); the problems are listed so that the output can be fixed by hand.
    #[error("{object}: the imported StatelessService is invalid:\n{}", list(.errors))]
    Invalid {
        /// `Deployment ns/name`.
        object: String,
        /// The validation errors.
        errors: Vec<FieldError>,
    },
    /// The result could not be serialized (a bug, reported rather than hidden).
    #[error("cannot serialize the StatelessService: {0}")]
    Serialize(String),
}

fn list(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("  - {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl ImportError {
    /// A bounded label.
    pub fn category(&self) -> &'static str {
        match self {
            ImportError::Input(e) => e.category(),
            ImportError::NoWorkload(_) => "no_workload",
            ImportError::Target(_) => "target",
            ImportError::Name { .. } => "name",
            ImportError::Object { .. } => "object",
            ImportError::NotFound { .. } => "not_found",
            ImportError::Kube(e) => e.category(),
            ImportError::Connect(_) => "connect",
            ImportError::Invalid { .. } => "invalid",
            ImportError::Serialize(_) => "serialize",
        }
    }
}

/// The kinds `import` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkloadKind {
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 StatefulSet.
    StatefulSet,
}

impl WorkloadKind {
    /// The Kubernetes kind.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
        }
    }
}

/// Parses `deploy/NAME`, `deployment.apps/NAME`, `sts/NAME`, ... into a kind and a name;
/// `None` when the text is not of that form (then it is a file).
pub fn parse_target(target: &str) -> Option<(WorkloadKind, String)> {
    let (kind, name) = target.split_once('/')?;
    let kind = match kind.strip_suffix(".apps").unwrap_or(kind) {
        "deploy" | "deployment" | "deployments" => WorkloadKind::Deployment,
        "sts" | "statefulset" | "statefulsets" => WorkloadKind::StatefulSet,
        _ => return None,
    };
    (!name.is_empty() && !name.contains('/')).then(|| (kind, name.to_string()))
}

/// Imports every Deployment and StatefulSet of manifest texts; ConfigMaps, claims and Secrets
/// in the same texts are what they reference (Secrets by key name only).
pub fn import_files(
    sources: &[(String, String)],
    options: &Options,
) -> Result<Vec<Imported>, ImportError> {
    let default_ns = options.namespace.as_deref().unwrap_or("default");
    let mut refs: HashMap<String, Referenced> = HashMap::new();
    let mut workloads = Vec::new();
    for (file, text) in sources {
        for (line, doc) in audit::input::documents(text) {
            let value: Value = serde_yaml_ng::from_str(&doc).map_err(|e| AuditError::Yaml {
                source_name: file.clone(),
                line,
                message: e.to_string(),
            })?;
            let items = match value.get("items").and_then(Value::as_array) {
                Some(items) => items.clone(),
                None => vec![value],
            };
            for item in items {
                let ns = item
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or(default_ns)
                    .to_string();
                if options.namespace.as_deref().is_some_and(|n| n != ns) {
                    continue;
                }
                let name = item
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let at = |what: &str| AuditError::Object {
                    source_name: file.clone(),
                    line,
                    object: format!("{what} {name}"),
                    path: "(root)".to_string(),
                    message: format!("not a {what}"),
                };
                let r = refs.entry(ns.clone()).or_default();
                let api = item.get("apiVersion").and_then(Value::as_str).unwrap_or("");
                match (api, item.get("kind").and_then(Value::as_str).unwrap_or("")) {
                    ("v1", "ConfigMap") => {
                        let cm: k8s_openapi::api::core::v1::ConfigMap =
                            serde_json::from_value(item).map_err(|_| at("ConfigMap"))?;
                        let binary = cm.binary_data.unwrap_or_default().into_keys().collect();
                        r.config_maps
                            .insert(name, (cm.data.unwrap_or_default(), binary));
                    }
                    ("v1", "Secret") => {
                        let mut keys: Vec<String> = ["data", "stringData"]
                            .iter()
                            .filter_map(|f| item.get(*f).and_then(Value::as_object))
                            .flat_map(|m| m.keys().cloned())
                            .collect();
                        keys.sort();
                        keys.dedup();
                        r.secret_keys.insert(name, keys);
                    }
                    ("v1", "PersistentVolumeClaim") => {
                        let pvc = serde_json::from_value(item)
                            .map_err(|_| at("PersistentVolumeClaim"))?;
                        r.claims.insert(name, pvc);
                    }
                    ("apps/v1", "Deployment" | "StatefulSet") => {
                        workloads.push((ns, item, file.clone(), line));
                    }
                    _ => {}
                }
            }
        }
    }
    if workloads.is_empty() {
        let names: Vec<&str> = sources.iter().map(|(n, _)| n.as_str()).collect();
        return Err(ImportError::NoWorkload(names.join(", ")));
    }
    if workloads.len() > 1
        && let Some(name) = &options.name
    {
        return Err(ImportError::Name {
            name: name.clone(),
            message: format!(
                "the input holds {} workloads; --name can only name one",
                workloads.len()
            ),
        });
    }
    let empty = Referenced::default();
    workloads
        .into_iter()
        .map(|(ns, object, file, line)| {
            let refs = refs.get(&ns).unwrap_or(&empty);
            let mut imported = convert::convert(&object, refs, options)?;
            imported.source = format!("{} ({file}:{line})", imported.source);
            Ok(imported)
        })
        .collect()
}

/// The StatelessService as YAML; with `annotate`, the changes as comments above it.
pub fn to_yaml(imported: &Imported, annotate: bool) -> Result<String, ImportError> {
    let mut value = serde_json::to_value(&imported.service)
        .map_err(|e| ImportError::Serialize(e.to_string()))?;
    prune_defaults(&mut value);
    let yaml =
        serde_yaml_ng::to_string(&value).map_err(|e| ImportError::Serialize(e.to_string()))?;
    if !annotate {
        return Ok(yaml);
    }
    let mut out = format!(
        "# Imported from {} by `stateless-operator import`.\n",
        imported.source
    );
    if imported.changes.is_empty() {
        out.push_str("# Nothing had to change.\n");
    } else {
        out.push_str(&format!("# {} changes:\n", imported.changes.len()));
        for change in &imported.changes {
            out.push_str(&format!("# - {change}\n"));
        }
    }
    out.push_str(&yaml);
    Ok(out)
}

/// The change list for standard error.
pub fn changes_text(imported: &Imported) -> String {
    let name = imported.service.metadata.name.as_deref().unwrap_or("");
    let mut out = format!(
        "{} -> StatelessService {name}: {} change{}\n",
        imported.source,
        imported.changes.len(),
        if imported.changes.len() == 1 { "" } else { "s" }
    );
    for change in &imported.changes {
        out.push_str(&format!("  - {change}\n"));
    }
    out
}

/// Removes fields that only restate a default (`paused: false`, `env: false`, `medium: ""`)
/// and the empty
/// status, so that the output reads like a hand-written manifest.
fn prune_defaults(value: &mut Value) {
    if let Some(map) = value.as_object_mut() {
        map.remove("status");
    }
    if let Some(spec) = value.get_mut("spec").and_then(Value::as_object_mut) {
        if spec.get("paused") == Some(&Value::Bool(false)) {
            spec.remove("paused");
        }
        if let Some(scratch) = spec.get_mut("scratch").and_then(Value::as_object_mut)
            && scratch.get("medium") == Some(&Value::from(""))
        {
            scratch.remove("medium");
        }
        for section in ["config", "secret"] {
            if let Some(s) = spec.get_mut(section).and_then(Value::as_object_mut)
                && s.get("env") == Some(&Value::Bool(false))
            {
                s.remove("env");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_a_kind_and_a_workload() {
        assert_eq!(
            parse_target("deploy/web"),
            Some((WorkloadKind::Deployment, "web".to_string()))
        );
        assert_eq!(
            parse_target("deployment.apps/web"),
            Some((WorkloadKind::Deployment, "web".to_string()))
        );
        assert_eq!(
            parse_target("sts/db"),
            Some((WorkloadKind::StatefulSet, "db".to_string()))
        );
        for file in ["web.yaml", "apps/web.yaml", "deploy/", "deploy/a/b", "-"] {
            assert_eq!(parse_target(file), None, "{file}");
        }
    }
}
