//! Manifest files as audit input: multi-document YAML (or JSON), mixed kinds, `kind: List`
//! (what `kubectl get -o yaml` prints), each object remembered with the line its document
//! starts on.
//!
//! Workloads become [`Workload`]s; PodDisruptionBudgets, PersistentVolumeClaims,
//! PersistentVolumes and ServiceAccounts in the same files become the [`Context`]; every other
//! kind is counted and skipped. Pure: the caller reads the files.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::AuditError;
use super::selector::Selector;
use super::workload::{Context, Source, Workload, controller_kind, has_controller};

/// What the files hold, ready to check.
#[derive(Debug, Default)]
pub struct Inventory {
    /// The workloads to check.
    pub workloads: Vec<Workload>,
    /// Budgets, claims, volumes and service accounts found alongside.
    pub context: Context,
    /// Things the reader of the report should know (skipped objects, unreadable selectors).
    pub notes: Vec<String>,
}

/// Which objects of the files to audit.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Namespace of objects that name none (`default` when `None`, as `kubectl apply` does).
    pub default_namespace: Option<String>,
    /// Audit only this namespace.
    pub namespace: Option<String>,
    /// Audit only workloads whose labels match.
    pub selector: Option<Selector>,
}

/// Splits YAML text into documents at `---` lines, with the 1-based line of each document's
/// first line. (A line starting with `---` at column 0 always starts a document in YAML.)
pub fn documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        let marker =
            line.starts_with("---") && line[3..].chars().next().is_none_or(char::is_whitespace);
        let end = line == "..." || line.starts_with("... ");
        if marker || end {
            docs.push((start, std::mem::take(&mut current)));
            start = i + 1;
            if marker {
                // `--- {a: 1}`: content may follow the marker on the same line.
                current.push_str(&line[3..]);
                current.push('\n');
            } else {
                start = i + 2;
            }
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    docs.push((start, current));
    docs.into_iter()
        .filter_map(|(start, doc)| {
            // The document starts at its first line with content.
            let offset = doc
                .lines()
                .position(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))?;
            Some((start + offset, doc))
        })
        .collect()
}

/// Reads every file into one inventory.
pub fn read(sources: &[(String, String)], filter: &Filter) -> Result<Inventory, AuditError> {
    let mut inventory = Inventory::default();
    let mut skipped: std::collections::BTreeMap<String, usize> = Default::default();
    let default_ns = filter.default_namespace.as_deref().unwrap_or("default");
    for (file, text) in sources {
        for (line, doc) in documents(text) {
            let value: Value = serde_yaml_ng::from_str(&doc).map_err(|e| AuditError::Yaml {
                source_name: file.clone(),
                line,
                message: e.to_string(),
            })?;
            if value.is_null() {
                continue;
            }
            let source = Source {
                file: file.clone(),
                line,
            };
            let items = match value.get("items").and_then(Value::as_array) {
                Some(items)
                    if value
                        .get("kind")
                        .and_then(Value::as_str)
                        .is_some_and(|k| k.ends_with("List")) =>
                {
                    items.clone()
                }
                _ => vec![value],
            };
            for item in items {
                add(
                    &mut inventory,
                    &mut skipped,
                    item,
                    &source,
                    default_ns,
                    filter,
                )?;
            }
        }
    }
    if !skipped.is_empty() {
        let list: Vec<String> = skipped.iter().map(|(k, n)| format!("{n} {k}")).collect();
        inventory
            .notes
            .push(format!("not workloads, skipped: {}", list.join(", ")));
    }
    Ok(inventory)
}

fn typed<T: DeserializeOwned>(value: Value, source: &Source, what: &str) -> Result<T, AuditError> {
    serde_path_to_error::deserialize(value).map_err(|e| AuditError::Object {
        source_name: source.file.clone(),
        line: source.line,
        object: what.to_string(),
        path: e.path().to_string(),
        message: e.into_inner().to_string(),
    })
}

fn add(
    inv: &mut Inventory,
    skipped: &mut std::collections::BTreeMap<String, usize>,
    value: Value,
    source: &Source,
    default_ns: &str,
    filter: &Filter,
) -> Result<(), AuditError> {
    let Some(object) = value.as_object() else {
        return Err(AuditError::Object {
            source_name: source.file.clone(),
            line: source.line,
            object: "document".to_string(),
            path: "(root)".to_string(),
            message: "expected a Kubernetes object (a mapping with apiVersion and kind)"
                .to_string(),
        });
    };
    let text = |k: &str| object.get(k).and_then(Value::as_str).unwrap_or("");
    let (api_version, kind) = (text("apiVersion").to_string(), text("kind").to_string());
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let what = format!("{kind} {name}");
    let namespace = value
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or(default_ns)
        .to_string();
    let in_scope = filter.namespace.as_deref().is_none_or(|n| n == namespace);
    let selected = || {
        let labels = value
            .pointer("/metadata/labels")
            .cloned()
            .and_then(|l| serde_json::from_value(l).ok())
            .unwrap_or_default();
        filter.selector.as_ref().is_none_or(|s| s.matches(&labels))
    };
    let workload = |w: Workload| Workload {
        source: Some(source.clone()),
        ..w
    };
    match (api_version.as_str(), kind.as_str()) {
        ("apps/v1", "Deployment") if in_scope && selected() => inv.workloads.push(workload(
            Workload::from_deployment(typed(value, source, &what)?, default_ns),
        )),
        ("apps/v1", "StatefulSet") if in_scope && selected() => inv.workloads.push(workload(
            Workload::from_stateful_set(typed(value, source, &what)?, default_ns),
        )),
        ("apps/v1", "DaemonSet") if in_scope && selected() => inv.workloads.push(workload(
            Workload::from_daemon_set(typed(value, source, &what)?, default_ns),
        )),
        ("apps/v1", "ReplicaSet") if in_scope && selected() => {
            let rs: k8s_openapi::api::apps::v1::ReplicaSet = typed(value, source, &what)?;
            // A Deployment's ReplicaSet is audited through the Deployment.
            if controller_kind(&rs.metadata) != Some("Deployment") {
                inv.workloads
                    .push(workload(Workload::from_replica_set(rs, default_ns)));
            }
        }
        ("batch/v1", "Job") if in_scope && selected() => {
            let job: k8s_openapi::api::batch::v1::Job = typed(value, source, &what)?;
            if controller_kind(&job.metadata) != Some("CronJob") {
                inv.workloads.push(workload(Workload::from_job(job, default_ns)));
            }
        }
        ("batch/v1", "CronJob") if in_scope && selected() => inv.workloads.push(workload(
            Workload::from_cron_job(typed(value, source, &what)?, default_ns),
        )),
        ("v1", "Pod") if in_scope && selected() => {
            let pod: k8s_openapi::api::core::v1::Pod = typed(value, source, &what)?;
            if !has_controller(&pod.metadata) {
                inv.workloads.push(workload(Workload::from_pod(pod, default_ns)));
            }
        }
        (
            "apps/v1",
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet",
        )
        | ("batch/v1", "Job" | "CronJob")
        | ("v1", "Pod") => {} // filtered out
        ("policy/v1", "PodDisruptionBudget") => {
            let pdb = typed(value, source, &what)?;
            if let Err(e) = inv.context.add_budget(&pdb, default_ns) {
                inv.notes.push(format!(
                    "{}:{}: PodDisruptionBudget {name} ignored: {e}",
                    source.file, source.line
                ));
            }
        }
        ("v1", "PersistentVolumeClaim") => {
            inv.context
                .add_claim(&typed(value, source, &what)?, default_ns);
        }
        ("v1", "PersistentVolume") => inv.context.add_volume(&typed(value, source, &what)?),
        ("v1", "ServiceAccount") => inv
            .context
            .add_service_account(&typed(value, source, &what)?, default_ns),
        (
            version,
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" | "CronJob"
            | "PodDisruptionBudget",
        ) => inv.notes.push(format!(
            "{}:{}: {kind} {name} skipped: apiVersion {version:?} is not served by current Kubernetes (use {})",
            source.file,
            source.line,
            match kind.as_str() {
                "Job" | "CronJob" => "batch/v1",
                "PodDisruptionBudget" => "policy/v1",
                _ => "apps/v1",
            }
        )),
        ("", _) | (_, "") => {
            return Err(AuditError::Object {
                source_name: source.file.clone(),
                line: source.line,
                object: if name.is_empty() { "document".to_string() } else { name },
                path: if kind.is_empty() { "kind" } else { "apiVersion" }.to_string(),
                message: "every Kubernetes object needs apiVersion and kind".to_string(),
            });
        }
        _ => *skipped.entry(kind).or_default() += 1,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_at_markers_and_know_their_lines() {
        let text = "# leading comment\napiVersion: v1\nkind: A\n---\n\n# c\nkind: B\n--- {kind: C}\n---\n...\nkind: D\n";
        let docs = documents(text);
        let lines: Vec<usize> = docs.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![2, 7, 8, 11]);
        assert!(docs[2].1.contains("{kind: C}"));
        // A `---` inside a value is not a marker unless it starts the line.
        let docs = documents("a: |\n  ---\n  x\nb: c\n");
        assert_eq!(docs.len(), 1);
        assert!(documents("").is_empty());
        assert!(documents("---\n# only a comment\n---\n").is_empty());
    }
}
