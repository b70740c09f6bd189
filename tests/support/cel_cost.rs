//! The Kubernetes API server's static cost check of a CRD's `x-kubernetes-validations`, redone in
//! Rust so that a test can refuse a schema before a real server does.
//!
//! A CRD is refused when one rule's estimated cost exceeds `StaticEstimatedCostLimit` (10^7) or
//! the sum over all rules exceeds `StaticEstimatedCRDCostLimit` (10^8). A rule's estimated cost
//! is the worst-case cost of one evaluation (cel-go's estimator, see `cel_cost_expr.rs`) times
//! the most times the rule can run in one object: the product of the `maxItems` /
//! `maxProperties` of the lists and maps above it, or, when one of them is unbounded, the most
//! copies of the node a 3 MiB request can hold. This module follows, and cites by name:
//!
//! - k8s.io/apiserver `pkg/cel/common/schemas.go` `SchemaDeclType`: a schema node's CEL type, its
//!   `MaxElements` (string: 4 × maxLength, else the longest enum value, else its format's size,
//!   else 3 MiB − 2; int-or-string: 4 × maxLength (Kubernetes ≥ 1.34, PR 132837), else 3 MiB − 2;
//!   list: maxItems, else `estimateMaxArrayItemsFromMinSize`; map: maxProperties, else
//!   `estimateMaxAdditionalPropertiesFromMinSize`) and its `MinSerializedSize`;
//! - apiextensions-apiserver `pkg/apiserver/schema/cel/compilation.go`: `maxCardinality`
//!   (3 MiB / (min size + 1)) for rules under an unbounded list or map;
//! - apiextensions-apiserver `pkg/apis/apiextensions/validation` (`cel_validation.go`
//!   `childContext` / `extractMaxElements`, `validation.go` `getExpressionCost`,
//!   `getCostErrorMessage`, `TotalCost.ObserveExpressionCost`): the cardinality product, the
//!   limits and the messages, "exceeds budget by factor of 8.4x" included;
//! - k8s.io/apiserver `pkg/apis/cel/config.go`: `PerCallLimit`, `RuntimeCELCostBudget`,
//!   `MaxRequestSizeBytes`.
//!
//! It never guesses low: a construct it does not model panics, naming itself.

use std::collections::BTreeMap;

use serde_json::Value;

#[path = "cel_cost_expr.rs"]
mod expr;

pub use expr::{reads, rule_cost};

/// Largest request the API server accepts (k8s.io/apiserver `pkg/apis/cel/config.go`).
pub const MAX_REQUEST_SIZE_BYTES: u64 = 3 * 1024 * 1024;
/// Most cost one evaluation of a rule may use at run time (`PerCallLimit`).
pub const PER_CALL_LIMIT: u64 = 1_000_000;
/// Most run-time cost all rules may use for one object (`RuntimeCELCostBudget`).
pub const RUNTIME_CEL_COST_BUDGET: u64 = 10_000_000;
/// Largest estimated cost of one rule (apiextensions `StaticEstimatedCostLimit`).
pub const STATIC_ESTIMATED_COST_LIMIT: u64 = 10_000_000;
/// Largest estimated cost of all rules of a CRD (`StaticEstimatedCRDCostLimit`, 100 ×
/// `PerCallLimit`).
pub const STATIC_ESTIMATED_CRD_COST_LIMIT: u64 = 100_000_000;

/// Which API server to model.
#[derive(Clone, Copy, Debug, Default)]
pub struct Server {
    /// Kubernetes before 1.34 ignores `maxLength` on `x-kubernetes-int-or-string` nodes.
    pub ignores_int_or_string_max_length: bool,
}

/// A CEL type as the API server derives it from a schema node (`apiservercel.DeclType`).
#[derive(Clone, Debug)]
pub struct Decl {
    pub kind: Kind,
    /// `MaxElements`: most characters, bytes, items or entries (0 for objects and scalars).
    pub max_elements: u64,
    /// `MinSerializedSize`: fewest bytes the value takes in a JSON request.
    pub min_size: u64,
}

/// The kinds of [`Decl`] (and of values the estimator computes).
#[derive(Clone, Debug)]
pub enum Kind {
    Bool,
    Int,
    UInt,
    Double,
    String,
    Bytes,
    Timestamp,
    Duration,
    /// `x-kubernetes-int-or-string`, or anything whose type is only known at run time.
    Dyn,
    Null,
    /// The result of `quantity()`.
    Quantity,
    List(Box<Decl>),
    Map(Box<Decl>),
    Object(BTreeMap<String, Decl>),
}

impl Decl {
    pub fn new(kind: Kind, max_elements: u64, min_size: u64) -> Decl {
        Decl {
            kind,
            max_elements,
            min_size,
        }
    }

    /// A value computed by an expression (no schema bound applies to it).
    pub fn value(kind: Kind) -> Decl {
        Decl::new(kind, 0, 0)
    }
}

fn max_length(s: &Value) -> Option<u64> {
    s.get("maxLength").and_then(Value::as_u64)
}

/// `SchemaDeclType`: the CEL type of a schema node, or `None` when CEL cannot see the node.
pub fn decl_of(s: &Value, is_resource_root: bool, server: Server) -> Option<Decl> {
    const UNBOUNDED_STRING: u64 = MAX_REQUEST_SIZE_BYTES - 2;
    if s.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        let max = match max_length(s) {
            Some(max) if !server.ignores_int_or_string_max_length => max * 4,
            _ => UNBOUNDED_STRING,
        };
        // The smallest serialized int-or-string is `0`.
        return Some(Decl::new(Kind::Dyn, max, 1));
    }
    let with_meta;
    let s = if is_resource_root {
        with_meta = with_type_and_object_meta(s);
        &with_meta
    } else {
        s
    };
    let embedded = |s: &Value| s.get("x-kubernetes-embedded-resource") == Some(&Value::Bool(true));
    match s.get("type").and_then(Value::as_str)? {
        "array" => {
            let items = s.get("items")?;
            let item = decl_of(items, embedded(items), server)?;
            let max = s
                .get("maxItems")
                .and_then(Value::as_u64)
                // estimateMaxArrayItemsFromMinSize: `[`, `]` and one comma per item.
                .unwrap_or((MAX_REQUEST_SIZE_BYTES - 2) / (item.min_size + 1));
            Some(Decl::new(Kind::List(Box::new(item)), max, 2))
        }
        "object" => {
            if let Some(extra) = s.get("additionalProperties").filter(|v| v.is_object()) {
                let value = decl_of(extra, embedded(extra), server)?;
                let max = s
                    .get("maxProperties")
                    .and_then(Value::as_u64)
                    // estimateMaxAdditionalPropertiesFromMinSize: `"":` + `,` + the value.
                    .unwrap_or((MAX_REQUEST_SIZE_BYTES - 2) / (value.min_size + 6));
                return Some(Decl::new(Kind::Map(Box::new(value)), max, 2));
            }
            let required: Vec<&str> = s
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut fields = BTreeMap::new();
            let mut min_size = 2; // {}
            for (name, prop) in s
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let Some(field) = decl_of(prop, embedded(prop), server) else {
                    continue;
                };
                // Required fields without a default are in every request: `"name":` + value + `,`.
                if required.contains(&name.as_str()) && prop.get("default").is_none() {
                    min_size += name.len() as u64 + field.min_size + 4;
                }
                fields.insert(name.clone(), field);
            }
            Some(Decl::new(Kind::Object(fields), 0, min_size))
        }
        "string" => Some(match s.get("format").and_then(Value::as_str) {
            Some("byte") => Decl::new(Kind::Bytes, max_length(s).unwrap_or(UNBOUNDED_STRING), 2),
            Some("duration") => Decl::new(Kind::Duration, 32, 3),
            Some("date") => Decl::new(Kind::Timestamp, 12, 12),
            Some("date-time") => Decl::new(Kind::Timestamp, 32, 21),
            _ => {
                let longest_enum = s.get("enum").and_then(Value::as_array).map(|values| {
                    values
                        .iter()
                        .filter_map(Value::as_str)
                        .map(|v| v.len() as u64)
                        .max()
                        .unwrap_or(0)
                });
                // maxLength counts code points, the estimator bytes: up to 4 per code point.
                let max = max_length(s)
                    .map(|m| m * 4)
                    .or(longest_enum)
                    .unwrap_or(UNBOUNDED_STRING);
                Decl::new(Kind::String, max, 2)
            }
        }),
        "boolean" => Some(Decl::new(Kind::Bool, 0, 4)),
        "number" => Some(Decl::new(Kind::Double, 0, 1)),
        "integer" => Some(Decl::new(Kind::Int, 0, 1)),
        _ => None,
    }
}

/// `WithTypeAndObjectMeta`: the root of a resource always exposes `apiVersion`, `kind`,
/// `metadata.name` and `metadata.generateName`, as unbounded strings unless declared.
fn with_type_and_object_meta(s: &Value) -> Value {
    let is = |v: Option<&Value>, t: &str| v.and_then(|v| v.get("type")) == Some(&Value::from(t));
    let props = s.get("properties");
    let meta = props.and_then(|p| p.get("metadata"));
    let meta_props = meta.and_then(|m| m.get("properties"));
    if is(props.and_then(|p| p.get("kind")), "string")
        && is(props.and_then(|p| p.get("apiVersion")), "string")
        && is(meta, "object")
        && is(meta_props.and_then(|m| m.get("name")), "string")
        && is(meta_props.and_then(|m| m.get("generateName")), "string")
    {
        return s.clone();
    }
    let mut out = s.clone();
    let string = serde_json::json!({"type": "string"});
    let props = out["properties"]
        .as_object_mut()
        .expect("a resource root has properties");
    props.insert("kind".into(), string.clone());
    props.insert("apiVersion".into(), string.clone());
    props.insert(
        "metadata".into(),
        serde_json::json!({"type": "object", "properties": {"name": string, "generateName": string}}),
    );
    out
}

/// One rule and what the API server would make of it.
#[derive(Clone, Debug)]
pub struct RuleCost {
    /// The rule's field path as the API server reports it.
    pub path: String,
    pub rule: String,
    /// Worst-case cost of one evaluation (`CompilationResult.MaxCost`).
    pub max_cost: u64,
    /// Most evaluations per object.
    pub cardinality: u64,
    /// `getExpressionCost`: `max_cost × cardinality`, saturating.
    pub cost: u64,
}

/// The estimate for a whole CRD schema.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Every rule, in schema order (properties by name, children before their parent).
    pub rules: Vec<RuleCost>,
    /// Sum of all rule costs, saturating.
    pub total: u64,
}

/// The factor as `getCostErrorMessage` prints it.
pub fn factor(cost: u64, limit: u64) -> String {
    let f = cost as f64 / limit as f64;
    if f > 100.0 {
        "more than 100x".to_string()
    } else if f < 1.5 {
        format!("{f:.6}x")
    } else {
        format!("{f:.1}x")
    }
}

const HINT: &str = "(try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)";

impl Report {
    /// The rules that cost at least 1% of the CRD budget, most expensive first, at most four
    /// (`TotalCost.MostExpensive`: a stable sort, so on a tie the rule seen first stays).
    pub fn most_expensive(&self) -> Vec<&RuleCost> {
        let mut top: Vec<&RuleCost> = Vec::new();
        for rule in &self.rules {
            if rule.cost < STATIC_ESTIMATED_CRD_COST_LIMIT / 100 {
                continue;
            }
            top.push(rule);
            top.sort_by_key(|r| std::cmp::Reverse(r.cost));
            top.truncate(4);
        }
        top
    }

    /// The errors the API server returns for this schema, as `kubectl` prints them (without the
    /// leading `* `); empty when the CRD is accepted.
    pub fn refusals(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .rules
            .iter()
            .filter(|r| r.cost > STATIC_ESTIMATED_COST_LIMIT)
            .map(|r| {
                format!(
                    "{}: Forbidden: estimated rule cost exceeds budget by factor of {} {HINT}",
                    r.path,
                    factor(r.cost, STATIC_ESTIMATED_COST_LIMIT)
                )
            })
            .collect();
        if self.total > STATIC_ESTIMATED_CRD_COST_LIMIT {
            for r in self.most_expensive() {
                out.push(format!("{}: Forbidden: contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema", r.path));
            }
            out.push(format!(
                "spec.validation.openAPIV3Schema: Forbidden: x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema exceeds budget by factor of {} {HINT}",
                factor(self.total, STATIC_ESTIMATED_CRD_COST_LIMIT)
            ));
        }
        out
    }
}

/// `extractMaxElements`: by how much a node multiplies the cardinality of its children
/// (`None`: unbounded).
fn max_elements(s: &Value) -> Option<u64> {
    match s.get("type").and_then(Value::as_str) {
        Some("object") if s.get("additionalProperties").is_some() => {
            s.get("maxProperties").and_then(Value::as_u64)
        }
        Some("array") => s.get("maxItems").and_then(Value::as_u64),
        _ => Some(1),
    }
}

/// Estimates every rule of the `openAPIV3Schema` of a CRD version.
pub fn estimate(schema: &Value, server: Server) -> Report {
    let mut report = Report::default();
    walk(
        schema,
        "spec.validation.openAPIV3Schema",
        true,
        Some(1),
        server,
        &mut report,
    );
    report
}

fn walk(
    s: &Value,
    path: &str,
    is_root: bool,
    cardinality: Option<u64>,
    server: Server,
    report: &mut Report,
) {
    // multiplyWithOverflowGuard, as childContext applies it.
    let child = cardinality.and_then(|c| max_elements(s).map(|m| c.saturating_mul(m)));
    for (name, prop) in s
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let p = format!("{path}.properties[{name}]");
        walk(prop, &p, false, child, server, report);
    }
    if let Some(items) = s.get("items") {
        walk(
            items,
            &format!("{path}.items"),
            false,
            child,
            server,
            report,
        );
    }
    if let Some(extra) = s.get("additionalProperties").filter(|v| v.is_object()) {
        let p = format!("{path}.additionalProperties");
        walk(extra, &p, false, child, server, report);
    }
    let Some(rules) = s.get("x-kubernetes-validations").and_then(Value::as_array) else {
        return;
    };
    let embedded = s.get("x-kubernetes-embedded-resource") == Some(&Value::Bool(true));
    let decl = decl_of(s, is_root || embedded, server)
        .unwrap_or_else(|| panic!("{path}: rules on a node CEL cannot see"));
    for (i, rule) in rules.iter().enumerate() {
        assert!(
            rule.get("messageExpression").is_none(),
            "{path}: messageExpression costs are not modelled"
        );
        let text = rule["rule"].as_str().expect("a rule is a string");
        let max_cost = rule_cost(text, &decl);
        // Under an unbounded list or map: as many copies as a request can hold.
        let cardinality = cardinality.unwrap_or(MAX_REQUEST_SIZE_BYTES / (decl.min_size + 1));
        let cost = if max_cost == 0 {
            0
        } else {
            max_cost.saturating_mul(cardinality)
        };
        report.rules.push(RuleCost {
            path: format!("{path}.x-kubernetes-validations[{i}].rule"),
            rule: text.to_string(),
            max_cost,
            cardinality,
            cost,
        });
        report.total = report.total.saturating_add(cost);
    }
}
