//! `render`: manifests in, the objects the operator would create out, with no cluster.
//!
//! Reads one file (or stdin) of YAML documents. Each `stateless.dev/v1alpha1` StatelessService
//! is checked as the API server checks it (its structural schema: every unknown field, wrong type
//! and missing field at once, at kubectl-style paths such as `spec.ports[0].hostPort`; `status`
//! is ignored), then validated as the controller validates it, and replaced by its children in a
//! fixed order. Every other Kubernetes object is passed on exactly as written, in place, so that
//! `render` can sit in a kustomize or Argo CD plugin pipeline. Two documents for the same object
//! are refused. The output is byte-for-byte the same for the same input, starts with a comment
//! saying how it differs from what the operator applies, and never holds a secret value
//! (generated keys are listed in the Secret's `stateless.dev/generated-keys` annotation).
//! It must not talk to a cluster; `diff` does that on top of [`parse_manifests`].

mod depth;
mod schema;
mod split;

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde::de::Deserialize as _;

use crate::build::{self, Observed, SecretGenerator};
use crate::crd::{API_VERSION, GROUP, KIND, StatelessService};
use crate::validate::{self, FieldError};

pub use depth::MAX_FLOW_DEPTH;

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
    /// The input nests collections deeper than [`MAX_FLOW_DEPTH`]; refused before parsing.
    #[error(
        "{source_name}: line {line} column {column}: YAML nested more than {MAX_FLOW_DEPTH} levels deep ([...] and {{...}} inside each other); render refuses such input before parsing it"
    )]
    TooDeep {
        /// File name or `<stdin>`.
        source_name: String,
        /// Line of the bracket that crossed the limit.
        line: usize,
        /// Column of that bracket.
        column: usize,
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
    /// A document is not a Kubernetes object at all.
    #[error("{doc}: {message}")]
    NotAnObject {
        /// Which document.
        doc: String,
        /// What it is instead.
        message: String,
    },
    /// A document is of the stateless.dev API but not a StatelessService of the supported version.
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
    /// A document defines an object that another document (or a rendered child) defines too.
    #[error("{doc}: {message}")]
    Duplicate {
        /// Which document.
        doc: String,
        /// Which object, and where else it is defined.
        message: String,
    },
    /// The schemas to check against could not be built (a bug, reported rather than hidden).
    #[error("cannot build the StatelessService schema: {0}")]
    Schema(String),
    /// The children could not be serialized (a bug, reported rather than hidden).
    #[error("cannot serialize the rendered objects: {0}")]
    Serialize(String),
}

impl RenderError {
    /// A bounded label for metrics and exit codes.
    pub fn category(&self) -> &'static str {
        match self {
            RenderError::Read { .. } => "read",
            RenderError::TooDeep { .. } => "too_deep",
            RenderError::Yaml { .. } => "yaml",
            RenderError::Empty { .. } => "empty",
            RenderError::NotAnObject { .. } => "not_an_object",
            RenderError::NotAStatelessService { .. } => "not_a_statelessservice",
            RenderError::Invalid { .. } => "invalid",
            RenderError::Duplicate { .. } => "duplicate",
            RenderError::Schema(_) => "schema",
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

/// The comment `render` output starts with (when it renders a StatelessService): what differs
/// from what the operator applies. Fixed text, so the output stays deterministic.
pub const NOTE: &str = "\
# Rendered by `stateless-operator render`: the objects the operator creates for each
# StatelessService, for review, diffs and policy checks. Apply the StatelessService itself:
# what the operator applies differs from this output in
# - the Secret's data: the operator generates the values of the generated keys (left out
#   here; the keys are listed in its stateless.dev/generated-keys annotation);
# - the pod template's stateless.dev/config-hash: the operator computes it from the live
#   ConfigMap and Secret data and that of the objects config.from and secret.from name
#   (the value here comes from placeholders and leaves those out: never compare it);
# - ownerReferences: they need the live StatelessService's uid (left out here unless the
#   file sets metadata.uid);
# - the stateless.dev/desired-hash annotation the operator adds to every child it applies.
# Other documents of the input are passed on unchanged.
";

/// Where a document came from, for messages: `file.yaml` or `file.yaml (document 2, web)`.
struct DocName<'a> {
    source: &'a str,
    index: usize,
    count: usize,
    name: Option<&'a str>,
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

/// Which object a document defines: two documents with the same identity are one object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Identity {
    /// API group (`""` for the core group); the version does not matter.
    group: String,
    kind: String,
    namespace: Option<String>,
    name: String,
}

impl Identity {
    fn of(api_version: &str, kind: &str, meta: Option<&serde_yaml_ng::Value>) -> Option<Self> {
        let field = |key: &str| meta.and_then(|m| m.get(key)).and_then(|v| v.as_str());
        Some(Identity {
            group: api_version
                .split_once('/')
                .map_or("", |(group, _)| group)
                .to_string(),
            kind: kind.to_string(),
            namespace: field("namespace")
                .filter(|ns| !ns.is_empty())
                .map(str::to_string),
            name: field("name")?.to_string(),
        })
    }

    fn of_json(object: &serde_json::Value) -> Option<Self> {
        let meta = &object["metadata"];
        Some(Identity {
            group: object["apiVersion"]
                .as_str()?
                .split_once('/')
                .map_or("", |(group, _)| group)
                .to_string(),
            kind: object["kind"].as_str()?.to_string(),
            namespace: meta["namespace"].as_str().map(str::to_string),
            name: meta["name"].as_str()?.to_string(),
        })
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {} (no namespace set)", self.kind, self.name),
        }
    }
}

/// One document of a manifest, checked.
enum Document {
    /// A valid StatelessService.
    Service {
        doc: String,
        service: Box<StatelessService>,
    },
    /// Any other Kubernetes object: its text as written, ready for the output.
    Other {
        doc: String,
        text: String,
        identity: Option<Identity>,
    },
}

/// Parses every document of a manifest into StatelessServices, reporting all problems of all
/// documents (schema errors, unknown fields, validation errors, duplicates) at once. Other
/// Kubernetes objects are checked for a kind and apiVersion and left out.
pub fn parse_manifests(
    source_name: &str,
    text: &str,
) -> Result<Vec<StatelessService>, Vec<RenderError>> {
    Ok(parse_documents(source_name, text)?
        .into_iter()
        .filter_map(|d| match d {
            Document::Service { service, .. } => Some(*service),
            Document::Other { .. } => None,
        })
        .collect())
}

fn parse_documents(source_name: &str, text: &str) -> Result<Vec<Document>, Vec<RenderError>> {
    // Before the parser, which is slow on deep nesting long before its own limit answers.
    depth::check(text).map_err(|d| {
        vec![RenderError::TooDeep {
            source_name: source_name.to_string(),
            line: d.line,
            column: d.column,
        }]
    })?;
    let mut values = Vec::new();
    let mut parsed = 0;
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        match serde_yaml_ng::Value::deserialize(document) {
            Ok(serde_yaml_ng::Value::Null) => {} // an empty document between `---` lines
            Ok(value) => values.push((parsed, value)),
            Err(e) => {
                return Err(vec![RenderError::Yaml {
                    source_name: source_name.to_string(),
                    message: e.to_string(),
                }]);
            }
        }
        parsed += 1;
    }
    if values.is_empty() {
        return Err(vec![RenderError::Empty {
            source_name: source_name.to_string(),
        }]);
    }
    // The text of each document, when the cut agrees with the parser.
    let pieces = split::documents(text).filter(|p| p.len() == parsed);
    let mut schemas = None;
    let count = values.len();
    let mut documents = Vec::new();
    let mut errors = Vec::new();
    let mut seen: BTreeMap<Identity, String> = BTreeMap::new();
    for (index, (position, value)) in values.into_iter().enumerate() {
        let name = value
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(|n| n.as_str());
        let doc = DocName {
            source: source_name,
            index,
            count,
            name,
        }
        .to_string();
        let identity = match classify(&value) {
            Err(Rejected::NotAnObject(message)) => {
                errors.push(RenderError::NotAnObject { doc, message });
                continue;
            }
            Err(Rejected::NotOurs(message)) => {
                errors.push(RenderError::NotAStatelessService { doc, message });
                continue;
            }
            Ok(Class::Other(identity)) => {
                let text = match &pieces {
                    Some(pieces) => split::as_output(pieces[position]),
                    None => format!(
                        "---\n{}",
                        to_yaml(&value).map_err(|e| vec![RenderError::Serialize(e)])?
                    ),
                };
                documents.push(Document::Other {
                    doc: doc.clone(),
                    text,
                    identity: identity.clone(),
                });
                identity
            }
            Ok(Class::Service) => {
                if schemas.is_none() {
                    schemas =
                        Some(schema::Schemas::new().map_err(|e| vec![RenderError::Schema(e)])?);
                }
                let Some(schemas) = &schemas else { continue };
                match parse_service(&doc, value, schemas) {
                    Ok(service) => {
                        let identity = Identity {
                            group: GROUP.to_string(),
                            kind: KIND.to_string(),
                            namespace: service.metadata.namespace.clone(),
                            name: service.metadata.name.clone().unwrap_or_default(),
                        };
                        documents.push(Document::Service {
                            doc: doc.clone(),
                            service: Box::new(service),
                        });
                        Some(identity)
                    }
                    Err(e) => {
                        errors.push(e);
                        continue;
                    }
                }
            }
        };
        if let Some(identity) = identity {
            if let Some(first) = seen.get(&identity) {
                errors.push(RenderError::Duplicate {
                    message: format!(
                        "{identity} is already defined by {first}: the API server would refuse to create it twice; keep one of them"
                    ),
                    doc,
                });
            } else {
                seen.insert(identity, doc);
            }
        }
    }
    if errors.is_empty() {
        Ok(documents)
    } else {
        Err(errors)
    }
}

/// What a document is.
enum Class {
    /// A `stateless.dev/v1alpha1` StatelessService.
    Service,
    /// Another Kubernetes object (with its identity, when it has a name).
    Other(Option<Identity>),
}

enum Rejected {
    NotAnObject(String),
    NotOurs(String),
}

fn classify(value: &serde_yaml_ng::Value) -> Result<Class, Rejected> {
    let Some(mapping) = value.as_mapping() else {
        let found = match value {
            serde_yaml_ng::Value::Sequence(_) => "a list".to_string(),
            serde_yaml_ng::Value::String(s) if s.chars().count() > 40 => {
                format!("the text \"{}...\"", s.chars().take(37).collect::<String>())
            }
            serde_yaml_ng::Value::String(s) => format!("the text {s:?}"),
            other => to_yaml(other).unwrap_or_default().trim().to_string(),
        };
        return Err(Rejected::NotAnObject(format!(
            "expected a Kubernetes object (a mapping with apiVersion and kind), found {found}"
        )));
    };
    let field = |key: &str| mapping.get(key).and_then(|v| v.as_str());
    let (kind, api_version) = (field("kind"), field("apiVersion"));
    let group = api_version.and_then(|v| v.split_once('/')).map(|(g, _)| g);
    if kind == Some(KIND) || group == Some(GROUP) {
        return match (kind, api_version) {
            (Some(KIND), Some(API_VERSION)) => Ok(Class::Service),
            (Some(KIND), Some(other)) => Err(Rejected::NotOurs(format!(
                "apiVersion {other} is not supported: this version of stateless-operator reads {API_VERSION}"
            ))),
            (Some(KIND), None) => Err(Rejected::NotOurs(format!(
                "no apiVersion: expected {API_VERSION}"
            ))),
            (Some(other), _) => Err(Rejected::NotOurs(format!(
                "kind {other} is not part of {GROUP}: expected {KIND}"
            ))),
            (None, _) => Err(Rejected::NotOurs(format!("no kind: expected kind {KIND}"))),
        };
    }
    let (Some(kind), Some(api_version)) = (kind, api_version) else {
        return Err(Rejected::NotAnObject(format!(
            "not a Kubernetes object: it has no {} (render passes objects other than StatelessServices on unchanged, but each needs apiVersion and kind)",
            if kind.is_none() { "kind" } else { "apiVersion" }
        )));
    };
    // A List's items would be passed on unrendered: refuse rather than hide a service.
    if kind.ends_with("List")
        && let Some(items) = mapping.get("items").and_then(|i| i.as_sequence())
        && items.iter().any(|item| {
            item.get("kind").and_then(|k| k.as_str()) == Some(KIND)
                || item
                    .get("apiVersion")
                    .and_then(|v| v.as_str())
                    .and_then(|v| v.split_once('/'))
                    .is_some_and(|(g, _)| g == GROUP)
        })
    {
        return Err(Rejected::NotOurs(format!(
            "a {kind} holding StatelessServices: render reads a StatelessService only as a document of its own (write each item as a separate document after a --- line)"
        )));
    }
    Ok(Class::Other(Identity::of(
        api_version,
        kind,
        mapping.get("metadata"),
    )))
}

fn parse_service(
    doc: &str,
    mut value: serde_yaml_ng::Value,
    schemas: &schema::Schemas,
) -> Result<StatelessService, RenderError> {
    let invalid = |errors| RenderError::Invalid {
        doc: doc.to_string(),
        errors,
    };
    // `status` is written by the controller through its subresource: on input it is ignored,
    // whatever it holds (the API server ignores it on create too).
    if let Some(mapping) = value.as_mapping_mut() {
        mapping.remove("status");
    }
    // `<<: *anchor` merge keys, which kubectl applies too.
    if let Err(e) = value.apply_merge() {
        return Err(invalid(vec![FieldError {
            path: "(root)".to_string(),
            message: format!("cannot apply a YAML merge key (<<): {e}"),
        }]));
    }
    let mut errors = Vec::new();
    let mut json = schema::to_json(&value, "", &mut errors);
    let Some(root) = json.as_object_mut() else {
        return Err(invalid(errors));
    };
    errors.extend(schemas.check(root));
    // What the API server checks of the namespace the object is created in; kubectl reads an
    // empty namespace as none.
    if let Some(ns) = root
        .get("metadata")
        .and_then(|m| m.get("namespace"))
        .and_then(|n| n.as_str())
        && !ns.is_empty()
        && !validate::is_dns_label(ns)
    {
        errors.push(FieldError {
            path: "metadata.namespace".to_string(),
            message: format!(
                "{ns:?} is not a valid namespace name: a DNS label of at most 63 characters (lowercase letters, digits and '-', starting and ending with a letter or digit)"
            ),
        });
    }
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    root.entry("metadata")
        .or_insert_with(|| serde_json::json!({}));
    let mut service: StatelessService = match serde_path_to_error::deserialize(json) {
        Ok(service) => service,
        // The schema check above makes this unreachable for any input we know of; should the
        // types and the schema ever disagree, the user still learns where.
        Err(e) => {
            let path = e.path().to_string().replace(".?", "");
            return Err(invalid(vec![FieldError {
                path: if path == "." {
                    "(root)".to_string()
                } else {
                    path
                },
                message: e.into_inner().to_string(),
            }]));
        }
    };
    if service.metadata.namespace.as_deref() == Some("") {
        service.metadata.namespace = None;
    }
    if let Err(problems) = validate::validate(&service) {
        errors.extend(problems);
    }
    if errors.is_empty() {
        Ok(service)
    } else {
        Err(invalid(errors))
    }
}

/// Stands in for random values when rendering offline: deterministic, never printed.
struct Placeholder;

impl SecretGenerator for Placeholder {
    fn generate(&mut self, length: usize) -> String {
        "x".repeat(length)
    }
}

/// Renders a manifest's text: each StatelessService becomes its children, every other document
/// is passed on as written; the output starts with [`NOTE`] when it renders a service.
pub fn render(source_name: &str, text: &str) -> Result<String, Vec<RenderError>> {
    let documents = parse_documents(source_name, text)?;
    let others: BTreeMap<&Identity, &str> = documents
        .iter()
        .filter_map(|d| match d {
            Document::Other {
                doc,
                identity: Some(identity),
                ..
            } => Some((identity, doc.as_str())),
            _ => None,
        })
        .collect();
    let mut out = String::new();
    if documents
        .iter()
        .any(|d| matches!(d, Document::Service { .. }))
    {
        out.push_str(NOTE);
    }
    let mut errors = Vec::new();
    for document in &documents {
        let (doc, service) = match document {
            Document::Other { text, .. } => {
                out.push_str(text);
                continue;
            }
            Document::Service { doc, service } => (doc, service),
        };
        // parse_documents validated every service already.
        let valid = validate::validate(service).map_err(|errors| {
            vec![RenderError::Invalid {
                doc: doc.clone(),
                errors,
            }]
        })?;
        let mut children = build::build(valid, &Observed::default(), &mut Placeholder);
        children.secret.data = None;
        children.secret.string_data = None;
        let objects = children
            .objects()
            .map_err(|e| vec![RenderError::Serialize(e.to_string())])?;
        for (_, object) in objects {
            if let Some(identity) = Identity::of_json(&object)
                && let Some(other) = others.get(&identity)
            {
                errors.push(RenderError::Duplicate {
                    doc: other.to_string(),
                    message: format!(
                        "{identity} is also an object the operator creates for the StatelessService of {doc}: the operator would not take it over (NameConflict); remove one of them"
                    ),
                });
            }
            out.push_str("---\n");
            out.push_str(&to_yaml(&object).map_err(|e| vec![RenderError::Serialize(e)])?);
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// YAML of one object.
pub fn to_yaml<T: Serialize>(value: &T) -> Result<String, String> {
    serde_yaml_ng::to_string(value).map_err(|e| e.to_string())
}
