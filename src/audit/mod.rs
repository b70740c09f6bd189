//! `audit`: what in a cluster (or in manifest files) breaks statelessness — can any pod of
//! this workload die at any moment without losing data?
//!
//! Input is either manifest files ([`input`], multi-document, mixed kinds: it runs in CI with
//! no cluster) or the live cluster ([`live`], paged lists only). Both become [`Workload`]s and
//! a [`Context`] (disruption budgets, claims, node-local volumes, service accounts); [`check`]
//! turns each workload into findings by the rules of the [`rules`] catalogue; [`output`]
//! prints them as a table, JSON or SARIF.
//!
//! The module never writes to a cluster: the live reader can only list. Everything but
//! `live` is pure.

pub mod check;
pub mod input;
pub mod live;
pub mod output;
pub mod rules;
pub mod selector;
pub mod workload;

#[cfg(test)]
mod tests;

use std::io::Read;
use std::path::PathBuf;

pub use check::Finding;
pub use input::{Filter, Inventory};
pub use rules::{Rule, Severity};
pub use workload::{Context, Source, Workload, WorkloadKind};

/// Why an audit could not run. Every variant says where.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A file could not be read.
    #[error("{source_name}: cannot read: {error}")]
    Read {
        /// File name or `<stdin>`.
        source_name: String,
        /// The I/O error.
        error: std::io::Error,
    },
    /// A document is not YAML.
    #[error("{source_name}:{line}: not valid YAML: {message}")]
    Yaml {
        /// File name or `<stdin>`.
        source_name: String,
        /// Line where the document starts.
        line: usize,
        /// Parser message (its line and column count from the document's start).
        message: String,
    },
    /// An object does not have the shape of its kind.
    #[error("{source_name}:{line}: {object}: {path}: {message}")]
    Object {
        /// File name or `<stdin>`.
        source_name: String,
        /// Line where the object's document starts.
        line: usize,
        /// `Kind name` of the object.
        object: String,
        /// Field path of the problem.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The `-l` selector is not a label selector.
    #[error("{0}")]
    Selector(String),
    /// No cluster to talk to.
    #[error("cannot connect to a cluster: {0} (set KUBECONFIG or ~/.kube/config)")]
    Connect(String),
    /// A list request failed.
    #[error("{error}{}", list_hint(.what, .error))]
    List {
        /// The resource being listed.
        what: &'static str,
        /// The request error.
        error: crate::error::Error,
    },
    /// The report could not be serialized (a bug, reported rather than hidden).
    #[error("cannot write the report: {0}")]
    Output(String),
}

fn list_hint(what: &str, error: &crate::error::Error) -> String {
    match error.status_code() {
        Some(403) => format!(
            " (the audit needs `list` on {what}; see the ClusterRole in the README section `Auditing a cluster and importing workloads`)"
        ),
        Some(410) => {
            " (the list changed too much while it was read page by page; run the audit again)"
                .to_string()
        }
        _ => String::new(),
    }
}

impl AuditError {
    /// A bounded label.
    pub fn category(&self) -> &'static str {
        match self {
            AuditError::Read { .. } => "read",
            AuditError::Yaml { .. } => "yaml",
            AuditError::Object { .. } => "object",
            AuditError::Selector(_) => "selector",
            AuditError::Connect(_) => "connect",
            AuditError::List { error, .. } => error.category(),
            AuditError::Output(_) => "output",
        }
    }
}

/// The findings of one workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadReport {
    /// Its kind.
    pub kind: WorkloadKind,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Where it was read from (file input).
    pub source: Option<Source>,
    /// What is wrong with it (empty: nothing).
    pub findings: Vec<Finding>,
}

impl WorkloadReport {
    /// The report of `w`.
    pub fn new(w: &Workload, findings: Vec<Finding>) -> Self {
        WorkloadReport {
            kind: w.kind,
            namespace: w.namespace.clone(),
            name: w.name.clone(),
            source: w.source.clone(),
            findings,
        }
    }

    /// Its worst finding's severity.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

/// Everything an audit found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Every audited workload, with or without findings.
    pub workloads: Vec<WorkloadReport>,
    /// What the reader should know about the input (skipped objects, skipped rules).
    pub notes: Vec<String>,
}

impl Report {
    /// Findings of exactly this severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.workloads
            .iter()
            .flat_map(|w| &w.findings)
            .filter(|f| f.severity == severity)
            .count()
    }

    /// Whether something at or above `fail_on` was found (`None`: never).
    pub fn fails(&self, fail_on: Option<Severity>) -> bool {
        fail_on.is_some_and(|level| {
            self.workloads
                .iter()
                .flat_map(|w| &w.findings)
                .any(|f| f.severity >= level)
        })
    }
}

/// Checks every workload of an inventory.
pub fn audit(inventory: &Inventory) -> Report {
    Report {
        workloads: inventory
            .workloads
            .iter()
            .map(|w| WorkloadReport::new(w, check::check(w, &inventory.context)))
            .collect(),
        notes: inventory.notes.clone(),
    }
}

/// Audits manifest texts (`(name, text)` pairs).
pub fn audit_files(sources: &[(String, String)], filter: &Filter) -> Result<Report, AuditError> {
    Ok(audit(&input::read(sources, filter)?))
}

/// Reads files (`-` is standard input) as `(name, text)` pairs.
pub fn read_sources(files: &[PathBuf]) -> Result<Vec<(String, String)>, AuditError> {
    files
        .iter()
        .map(|file| {
            if file.as_os_str() == "-" {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .map_err(|error| AuditError::Read {
                        source_name: "<stdin>".to_string(),
                        error,
                    })?;
                Ok(("<stdin>".to_string(), text))
            } else {
                let name = file.display().to_string();
                std::fs::read_to_string(file)
                    .map(|text| (name.clone(), text))
                    .map_err(|error| AuditError::Read {
                        source_name: name,
                        error,
                    })
            }
        })
        .collect()
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The table.
    Table,
    /// JSON.
    Json,
    /// SARIF 2.1.0.
    Sarif,
}

/// The report in `format`.
pub fn format(
    report: &Report,
    format: Format,
    fail_on: Option<Severity>,
) -> Result<String, AuditError> {
    let pretty = |v: serde_json::Value| {
        serde_json::to_string_pretty(&v)
            .map(|s| s + "\n")
            .map_err(|e| AuditError::Output(e.to_string()))
    };
    match format {
        Format::Table => Ok(output::table(report, fail_on)),
        Format::Json => pretty(output::json(report, fail_on)),
        Format::Sarif => pretty(output::sarif(report)),
    }
}

/// Parses `--fail-on`: a severity, or `none` to never fail.
pub fn parse_fail_on(text: &str) -> Result<Option<Severity>, String> {
    if text.eq_ignore_ascii_case("none") {
        Ok(None)
    } else {
        text.parse().map(Some)
    }
}
