//! `render`: StatelessService manifests in, child manifests out, with no cluster.
//!
//! Reads one file (or stdin) holding one or more YAML documents, checks that each is a
//! `stateless.dev/v1alpha1` StatelessService with no unknown or mistyped fields, validates it,
//! builds its children and prints them as multi-document YAML in a fixed order, byte-for-byte
//! the same for the same input. It never prints a secret value: generated keys are listed in the
//! Secret's `stateless.dev/generated-keys` annotation and their values are left out.
//! It must not talk to a cluster; `diff` does that on top of [`parse_manifests`].

use std::fmt;

use serde::Serialize;
use serde::de::Deserialize as _;

use crate::build::{self, Observed, SecretGenerator};
use crate::crd::{API_VERSION, KIND, StatelessService};
use crate::validate::{self, FieldError};

/// Why a manifest could not be rendered. Each variant names the document it is about.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The input could not be read.
    #[error("{source_name}: cannot read: {error}")]
    Read {
        /// File name or `<stdin>`.
        source_name: String,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The input is not YAML.
    #[error("{source_name}: not valid YAML: {message}")]
    Yaml {
        /// File name or `<stdin>`.
        source_name: String,
        /// Parser message with line and column.
        message: String,
    },
    /// The input holds no document.
    #[error("{source_name}: no StatelessService found (the input is empty)")]
    Empty {
        /// File name or `<stdin>`.
        source_name: String,
    },
    /// A document is not a StatelessService of the supported version.
    #[error("{doc}: {message}")]
    NotAStatelessService {
        /// Which document.
        doc: String,
        /// What it is instead.
        message: String,
    },
    /// A document is a StatelessService with problems, each at a field path.
    #[error("{doc}: invalid StatelessService:\n{}", list(.errors))]
    Invalid {
        /// Which document.
        doc: String,
        /// Every problem found.
        errors: Vec<FieldError>,
    },
    /// The children could not be serialized (a bug, reported rather than hidden).
    #[error("cannot serialize the rendered objects: {0}")]
    Serialize(String),
}

impl RenderError {
    /// A bounded label for metrics and exit codes.
    pub fn category(&self) -> &'static str {
        match self {
            RenderError::Read { .. } => "read",
            RenderError::Yaml { .. } => "yaml",
            RenderError::Empty { .. } => "empty",
            RenderError::NotAStatelessService { .. } => "not_a_statelessservice",
            RenderError::Invalid { .. } => "invalid",
            RenderError::Serialize(_) => "serialize",
        }
    }
}

fn list(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("  - {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where a document came from, for messages: `file.yaml` or `file.yaml (document 2, name web)`.
struct DocName<'a> {
    source: &'a str,
    index: usize,
    count: usize,
    name: Option<String>,
}

impl fmt::Display for DocName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)?;
        match (&self.name, self.count > 1) {
            (Some(name), true) => write!(f, " (document {}, {name})", self.index + 1),
            (None, true) => write!(f, " (document {})", self.index + 1),
            (Some(name), false) => write!(f, " ({name})"),
            (None, false) => Ok(()),
        }
    }
}

/// Parses every document of a manifest into StatelessServices, reporting all problems of all
/// documents (schema errors, unknown fields and validation errors) at once.
pub fn parse_manifests(
    source_name: &str,
    text: &str,
) -> Result<Vec<StatelessService>, Vec<RenderError>> {
    let mut values = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        match serde_yaml_ng::Value::deserialize(document) {
            Ok(serde_yaml_ng::Value::Null) => {} // an empty document between `---` lines
            Ok(value) => values.push(value),
            Err(e) => {
                return Err(vec![RenderError::Yaml {
                    source_name: source_name.to_string(),
                    message: e.to_string(),
                }]);
            }
        }
    }
    if values.is_empty() {
        return Err(vec![RenderError::Empty {
            source_name: source_name.to_string(),
        }]);
    }
    let count = values.len();
    let mut services = Vec::new();
    let mut errors = Vec::new();
    for (index, value) in values.into_iter().enumerate() {
        let name = value
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(|n| n.as_str())
            .map(str::to_string);
        let doc = DocName {
            source: source_name,
            index,
            count,
            name,
        }
        .to_string();
        match parse_one(&doc, value) {
            Ok(service) => services.push(service),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(services)
    } else {
        Err(errors)
    }
}

fn parse_one(doc: &str, value: serde_yaml_ng::Value) -> Result<StatelessService, RenderError> {
    let not = |message: String| RenderError::NotAStatelessService {
        doc: doc.to_string(),
        message,
    };
    let Some(mapping) = value.as_mapping() else {
        return Err(not(
            "expected a YAML mapping (an object), found something else".to_string(),
        ));
    };
    let field = |key: &str| mapping.get(key).and_then(|v| v.as_str());
    let kind = field("kind");
    let api_version = field("apiVersion");
    match kind {
        None => return Err(not(format!("no kind: expected kind {KIND}"))),
        Some(k) if k != KIND => {
            return Err(not(format!(
                "kind is {k}, expected {KIND} (render reads StatelessService manifests)"
            )));
        }
        Some(_) => {}
    }
    match api_version {
        Some(API_VERSION) => {}
        Some(other) => {
            return Err(not(format!(
                "apiVersion {other} is not supported: this version of stateless-operator reads {API_VERSION}"
            )));
        }
        None => return Err(not(format!("no apiVersion: expected {API_VERSION}"))),
    }
    let mut unknown = Vec::new();
    // serde_ignored writes `?` for every Option it passes through; users know no such segment.
    let mut record =
        |path: serde_ignored::Path<'_>| unknown.push(path.to_string().replace(".?", ""));
    let ignored = serde_ignored::Deserializer::new(value, &mut record);
    let parsed: Result<StatelessService, _> = serde_path_to_error::deserialize(ignored);
    let mut errors: Vec<FieldError> = unknown
        .into_iter()
        // `apiVersion` and `kind` were checked above; `status` is written by the controller
        // and ignored on input.
        .filter(|path| {
            !matches!(path.as_str(), "apiVersion" | "kind" | "status")
                && !path.starts_with("status.")
        })
        .map(|path| FieldError {
            message: "unknown field (check its spelling and indentation)".to_string(),
            path,
        })
        .collect();
    let service = match parsed {
        Ok(service) => Some(service),
        Err(e) => {
            let path = e.path().to_string();
            errors.push(FieldError {
                path: if path == "." {
                    "(root)".to_string()
                } else {
                    path
                },
                message: e.into_inner().to_string(),
            });
            None
        }
    };
    if let Some(service) = &service
        && let Err(problems) = validate::validate(service)
    {
        errors.extend(problems);
    }
    match service {
        Some(service) if errors.is_empty() => Ok(service),
        _ => Err(RenderError::Invalid {
            doc: doc.to_string(),
            errors,
        }),
    }
}

/// Stands in for random values when rendering offline: deterministic, never printed.
struct Placeholder;

impl SecretGenerator for Placeholder {
    fn generate(&mut self, length: usize) -> String {
        "x".repeat(length)
    }
}

/// Renders a manifest's text into the children's YAML.
pub fn render(source_name: &str, text: &str) -> Result<String, Vec<RenderError>> {
    let services = parse_manifests(source_name, text)?;
    let mut out = String::new();
    for service in &services {
        // parse_manifests validated every service already.
        let valid = validate::validate(service).map_err(|errors| {
            vec![RenderError::Invalid {
                doc: source_name.to_string(),
                errors,
            }]
        })?;
        let mut children = build::build(valid, &Observed::default(), &mut Placeholder);
        children.secret.data = None;
        let objects = children
            .objects()
            .map_err(|e| vec![RenderError::Serialize(e.to_string())])?;
        for (_, object) in objects {
            out.push_str("---\n");
            out.push_str(&to_yaml(&object).map_err(|e| vec![RenderError::Serialize(e)])?);
        }
    }
    Ok(out)
}

/// YAML of one object.
pub fn to_yaml<T: Serialize>(value: &T) -> Result<String, String> {
    serde_yaml_ng::to_string(value).map_err(|e| e.to_string())
}
