//! The input check the API server makes before anything else: a document against the CRD's
//! structural schema (and `metadata` against ObjectMeta's), reporting every unknown field,
//! wrong type, value outside an enum and missing required field at once, with its path.
//!
//! It works on the JSON the document becomes (as `kubectl` turns YAML into JSON) and applies
//! what the API server applies before validation: null values of non-nullable fields are
//! dropped (so defaults apply), and whole numbers written as `2.0` count as integers. It must not
//! check what `validate` checks (ranges, patterns, CEL rules): it only makes sure the typed
//! deserialization that follows cannot fail.

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::CustomResourceExt;
use serde_json::{Map, Number, Value};

use crate::crd::StatelessService;
use crate::validate::FieldError;

/// The schemas a StatelessService document is checked against.
pub struct Schemas {
    spec: JSONSchemaProps,
    metadata: JSONSchemaProps,
}

impl Schemas {
    /// The CRD's `spec` schema and ObjectMeta's, generated the way kube generates the CRD.
    pub fn new() -> Result<Self, String> {
        let spec = StatelessService::crd()
            .spec
            .versions
            .into_iter()
            .next()
            .and_then(|v| v.schema)
            .and_then(|s| s.open_api_v3_schema)
            .and_then(|s| s.properties)
            .and_then(|mut p| p.remove("spec"))
            .ok_or("the CRD has no spec schema")?;
        let generator = schemars::generate::SchemaSettings::openapi3()
            .with(|s| {
                s.inline_subschemas = true;
                s.meta_schema = None;
            })
            .with_transform(schemars::transform::AddNullable::default())
            .with_transform(kube::core::schema::StructuralSchemaRewriter)
            .into_generator();
        let metadata = serde_json::to_value(generator.into_root_schema_for::<ObjectMeta>())
            .and_then(serde_json::from_value)
            .map_err(|e| format!("no ObjectMeta schema: {e}"))?;
        Ok(Schemas { spec, metadata })
    }

    /// Checks a StatelessService document (its `status` already removed), fixing it up as the
    /// API server would. Every problem is returned.
    pub fn check(&self, root: &mut Map<String, Value>) -> Vec<FieldError> {
        let mut errors = Vec::new();
        prune_nulls(root, |key| match key {
            "metadata" => Some(&self.metadata),
            "spec" => Some(&self.spec),
            _ => None,
        });
        for (key, value) in root.iter_mut() {
            match key.as_str() {
                // Checked before: they decide whether this is a StatelessService at all.
                "apiVersion" | "kind" => {}
                "metadata" => walk(&self.metadata, value, "metadata", &mut errors),
                "spec" => walk(&self.spec, value, "spec", &mut errors),
                other => {
                    let hint = if properties(&self.spec).is_some_and(|p| p.contains_key(other)) {
                        format!("; did you mean spec.{other}? (indent it under spec)")
                    } else if properties(&self.metadata).is_some_and(|p| p.contains_key(other)) {
                        format!("; did you mean metadata.{other}? (indent it under metadata)")
                    } else {
                        suggestion(other, ["apiVersion", "kind", "metadata", "spec"])
                    };
                    errors.push(unknown(other, hint));
                }
            }
        }
        if !root.contains_key("spec") {
            errors.push(FieldError {
                path: "spec".to_string(),
                message: "required field is missing".to_string(),
            });
        }
        errors
    }
}

fn properties(schema: &JSONSchemaProps) -> Option<&BTreeMap<String, JSONSchemaProps>> {
    schema.properties.as_ref().filter(|p| !p.is_empty())
}

fn unknown(path: &str, hint: String) -> FieldError {
    FieldError {
        path: path.to_string(),
        message: format!("unknown field (check its spelling and indentation){hint}"),
    }
}

fn child(path: &str, field: &str) -> String {
    format!("{path}.{field}")
}

/// Drops `key: null` where the field is not nullable, as the API server does before defaulting.
fn prune_nulls<'s>(
    map: &mut Map<String, Value>,
    schema_of: impl Fn(&str) -> Option<&'s JSONSchemaProps>,
) {
    map.retain(|key, value| {
        !value.is_null() || schema_of(key).is_some_and(|s| s.nullable == Some(true))
    });
}

fn walk(schema: &JSONSchemaProps, value: &mut Value, path: &str, errors: &mut Vec<FieldError>) {
    if value.is_null() && schema.nullable == Some(true) {
        return;
    }
    if schema.x_kubernetes_int_or_string == Some(true) {
        whole_number(value);
        if !(value.is_i64() || value.is_u64() || value.is_string()) {
            errors.push(mismatch(path, "a whole number or a string", value));
        }
        return;
    }
    if schema.x_kubernetes_preserve_unknown_fields == Some(true) && schema.type_.is_none() {
        return;
    }
    match schema.type_.as_deref() {
        Some("object") => object(schema, value, path, errors),
        Some("array") => {
            let Value::Array(items) = value else {
                errors.push(mismatch(path, "a list", value));
                return;
            };
            if let Some(JSONSchemaPropsOrArray::Schema(item)) = &schema.items {
                for (i, v) in items.iter_mut().enumerate() {
                    walk(item, v, &format!("{path}[{i}]"), errors);
                }
            }
        }
        Some("string") => {
            let Some(text) = value.as_str() else {
                errors.push(mismatch(path, "a string", value));
                return;
            };
            if let Some(allowed) = &schema.enum_
                && !allowed.iter().any(|a| a.0.as_str() == Some(text))
            {
                errors.push(FieldError {
                    path: path.to_string(),
                    message: format!(
                        "expected one of {}, found {}",
                        choices(allowed.iter().map(|a| &a.0)),
                        describe(value)
                    ),
                });
            }
        }
        Some("integer") => {
            whole_number(value);
            let fits = match schema.format.as_deref() {
                Some("int32") => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
                _ => value.is_i64(),
            };
            if !fits {
                let expected = match (schema.format.as_deref(), value.is_number()) {
                    (Some("int32"), true) => {
                        "a whole number from -2147483648 to 2147483647".to_string()
                    }
                    (_, true) if value.is_u64() => {
                        format!("a whole number of at most {}", i64::MAX)
                    }
                    _ => "a whole number".to_string(),
                };
                errors.push(mismatch(path, &expected, value));
            }
        }
        Some("number") if !value.is_number() => errors.push(mismatch(path, "a number", value)),
        Some("boolean") if !value.is_boolean() => {
            errors.push(mismatch(path, "true or false", value));
        }
        _ => {}
    }
}

fn object(schema: &JSONSchemaProps, value: &mut Value, path: &str, errors: &mut Vec<FieldError>) {
    let Value::Object(map) = value else {
        errors.push(mismatch(path, "a mapping (key: value lines)", value));
        return;
    };
    if let Some(props) = properties(schema) {
        prune_nulls(map, |key| props.get(key));
        for (key, v) in map.iter_mut() {
            match props.get(key) {
                Some(s) => walk(s, v, &child(path, key), errors),
                None if schema.x_kubernetes_preserve_unknown_fields == Some(true) => {}
                None => errors.push(unknown(&child(path, key), suggestion(key, props.keys()))),
            }
        }
        for key in schema.required.iter().flatten() {
            if !map.contains_key(key) {
                errors.push(FieldError {
                    path: child(path, key),
                    message: "required field is missing".to_string(),
                });
            }
        }
    } else if let Some(JSONSchemaPropsOrBool::Schema(values)) = &schema.additional_properties {
        prune_nulls(map, |_| Some(values));
        for (key, v) in map.iter_mut() {
            walk(values, v, &format!("{path}[{key}]"), errors);
        }
    }
    // An object schema with neither (ObjectMeta's free-form fieldsV1) takes anything.
}

/// `2.0` is the whole number 2 to the API server (JSON has one number type).
fn whole_number(value: &mut Value) {
    if let Some(f) = value.as_f64()
        && !value.is_i64()
        && !value.is_u64()
        && f.fract() == 0.0
        && f.abs() < 9.0e15
    {
        *value = Value::Number(Number::from(f as i64));
    }
}

fn mismatch(path: &str, expected: &str, found: &Value) -> FieldError {
    let number_expected = expected.starts_with("a whole number") || expected == "a number";
    let hint = match (expected, found) {
        ("a string", Value::Number(_) | Value::Bool(_)) => {
            format!(" (put it in quotes to mean the text \"{found}\")")
        }
        (_, Value::String(s))
            if (number_expected && s.trim().parse::<f64>().is_ok())
                || (expected == "true or false" && (s == "true" || s == "false")) =>
        {
            format!(" (remove the quotes to mean {s})")
        }
        _ => String::new(),
    };
    FieldError {
        path: path.to_string(),
        message: format!("expected {expected}, found {}{hint}", describe(found)),
    }
}

/// A value as a user would name it.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing (null)".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.chars().count() > 40 => {
            format!(
                "the string \"{}...\"",
                s.chars().take(37).collect::<String>()
            )
        }
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "a mapping".to_string(),
    }
}

/// `"a", "b" or "c"`, with the empty string written as `""`.
fn choices<'a>(values: impl Iterator<Item = &'a Value>) -> String {
    let shown: Vec<String> = values.map(|v| v.to_string()).collect();
    match shown.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

/// `; did you mean X?` for a known name at most two edits away (or differing only in case).
fn suggestion<S: AsRef<str>>(key: &str, known: impl IntoIterator<Item = S>) -> String {
    let lower = key.to_ascii_lowercase();
    known
        .into_iter()
        .map(|name| {
            let name = name.as_ref().to_string();
            let distance = if name.to_ascii_lowercase() == lower {
                0
            } else {
                edit_distance(&lower, &name.to_ascii_lowercase())
            };
            (distance, name)
        })
        .filter(|(d, _)| *d <= 2.min(key.chars().count() / 2))
        .min()
        .map(|(_, name)| format!("; did you mean {name}?"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb {
                previous
            } else {
                1 + previous.min(row[j]).min(current)
            };
            previous = current;
        }
    }
    row[b.len()]
}

/// YAML to the JSON the API server receives: keys become strings (as `kubectl` makes them),
/// numbers that JSON cannot hold are errors.
pub fn to_json(value: &serde_yaml_ng::Value, path: &str, errors: &mut Vec<FieldError>) -> Value {
    use serde_yaml_ng::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(f) = n.as_f64().and_then(Number::from_f64) {
                Value::Number(f)
            } else {
                errors.push(FieldError {
                    path: path.to_string(),
                    message: format!("{n} is not a number JSON can hold"),
                });
                Value::Null
            }
        }
        Y::String(s) => Value::String(s.clone()),
        Y::Sequence(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| to_json(v, &format!("{path}[{i}]"), errors))
                .collect(),
        ),
        Y::Mapping(mapping) => {
            let mut out = Map::new();
            for (k, v) in mapping {
                let key = match k {
                    Y::String(s) => s.clone(),
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    Y::Null => "null".to_string(),
                    _ => {
                        errors.push(FieldError {
                            path: path.to_string(),
                            message: "a key must be text or a number, not a list or a mapping"
                                .to_string(),
                        });
                        continue;
                    }
                };
                let field = if path.is_empty() {
                    key.clone()
                } else {
                    child(path, &key)
                };
                let v = to_json(v, &field, errors);
                out.insert(key, v);
            }
            Value::Object(out)
        }
        // kubectl ignores a tag it does not know and keeps the value.
        Y::Tagged(tagged) => to_json(&tagged.value, path, errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(doc: Value) -> Vec<String> {
        let Value::Object(mut root) = doc else {
            panic!("not an object")
        };
        Schemas::new()
            .unwrap()
            .check(&mut root)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn every_type_error_is_reported_in_plain_words() {
        let errors = check(json!({
            "apiVersion": "stateless.dev/v1alpha1", "kind": "StatelessService",
            "metadata": {"name": "web"},
            "spec": {"image": "x", "replicas": "three", "paused": "maybe",
                     "ports": [{"name": "http", "containerPort": "http"}]}
        }));
        assert_eq!(
            errors,
            [
                "spec.paused: expected true or false, found the string \"maybe\"",
                "spec.ports[0].containerPort: expected a whole number, found the string \"http\"",
                "spec.replicas: expected a whole number, found the string \"three\"",
            ]
        );
    }

    #[test]
    fn enums_name_the_empty_choice() {
        let errors = check(json!({"spec": {"image": "x", "scratch": {"medium": "Disk"}}}));
        assert_eq!(
            errors,
            ["spec.scratch.medium: expected one of \"\" or \"Memory\", found the string \"Disk\""]
        );
        let errors = check(json!({"spec": {"image": "x", "storage":
            {"size": "1Gi", "mountPath": "/d", "accessMode": "RWX"}}}));
        assert!(
            errors[0]
                .contains("one of \"ReadWriteOnce\", \"ReadWriteMany\" or \"ReadWriteOncePod\""),
            "{errors:?}"
        );
    }

    #[test]
    fn unknown_fields_are_named_with_a_suggestion() {
        let errors = check(json!({
            "image": "x",
            "metadata": {"name": "a", "lables": {}},
            "spec": {"image": "x", "replica": 3, "ports": [{"name": "h", "containerPort": 1, "hostPort": 2}]}
        }));
        assert!(
            errors.contains(&"image: unknown field (check its spelling and indentation); did you mean spec.image? (indent it under spec)".to_string()),
            "{errors:?}"
        );
        assert!(
            errors.contains(&"metadata.lables: unknown field (check its spelling and indentation); did you mean labels?".to_string()),
            "{errors:?}"
        );
        assert!(
            errors.contains(&"spec.replica: unknown field (check its spelling and indentation); did you mean replicas?".to_string()),
            "{errors:?}"
        );
        assert!(
            errors.contains(
                &"spec.ports[0].hostPort: unknown field (check its spelling and indentation)"
                    .to_string()
            ),
            "{errors:?}"
        );
    }

    #[test]
    fn missing_required_fields_and_wrong_shapes() {
        let errors = check(
            json!({"spec": {"storage": {"size": 1}, "env": {"A": "b"}, "config": {"data": {"k": 1}}}}),
        );
        assert!(
            errors.contains(&"spec.image: required field is missing".to_string()),
            "{errors:?}"
        );
        assert!(
            errors.contains(&"spec.storage.mountPath: required field is missing".to_string()),
            "{errors:?}"
        );
        assert!(
            errors.contains(&"spec.env: expected a list, found a mapping".to_string()),
            "{errors:?}"
        );
        assert!(
            errors.contains(&"spec.config.data[k]: expected a string, found the number 1 (put it in quotes to mean the text \"1\")".to_string()),
            "{errors:?}"
        );
        assert_eq!(
            check(json!({"metadata": {"name": "a"}})),
            ["spec: required field is missing"]
        );
    }

    #[test]
    fn what_the_api_server_accepts_is_accepted_and_normalised() {
        let mut root = json!({
            "metadata": {"name": "a", "labels": {"x": "y"}, "annotations": null},
            "spec": {"image": "x", "replicas": 2.0, "paused": null, "command": null,
                     "storage": {"size": 10, "mountPath": "/d"},
                     "readinessProbe": {"httpGet": {"port": "http"}},
                     "livenessProbe": {"tcpSocket": {"port": 8080}},
                     "resources": {"limits": {"cpu": 1, "memory": "1Gi"}}}
        });
        let Value::Object(map) = &mut root else {
            unreachable!()
        };
        let errors = Schemas::new().unwrap().check(map);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(root["spec"]["replicas"], json!(2));
        assert!(
            root["spec"].get("paused").is_none(),
            "non-nullable null dropped"
        );
        assert_eq!(root["spec"]["command"], Value::Null, "nullable null kept");
        assert!(serde_json::from_value::<StatelessService>(root).is_ok());
    }

    #[test]
    fn integers_out_of_range_are_named() {
        let errors = check(json!({"spec": {"image": "x", "replicas": 3_000_000_000u64}}));
        assert_eq!(
            errors,
            [
                "spec.replicas: expected a whole number from -2147483648 to 2147483647, found the number 3000000000"
            ]
        );
        let errors = check(json!({"spec": {"image": "x", "replicas": "3"}}));
        assert_eq!(
            errors,
            [
                "spec.replicas: expected a whole number, found the string \"3\" (remove the quotes to mean 3)"
            ]
        );
    }

    #[test]
    fn yaml_keys_become_strings() {
        let yaml: serde_yaml_ng::Value =
            serde_yaml_ng::from_str("a: {1: x, true: y, [l]: z}").unwrap();
        let mut errors = Vec::new();
        let json = to_json(&yaml, "", &mut errors);
        assert_eq!(json, json!({"a": {"1": "x", "true": "y"}}));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "a");
    }

    #[test]
    fn suggestions_are_close_names_only() {
        assert_eq!(
            suggestion("replica", ["replicas", "image"]),
            "; did you mean replicas?"
        );
        assert_eq!(
            suggestion("IMAGE", ["replicas", "image"]),
            "; did you mean image?"
        );
        assert_eq!(suggestion("zzz", ["replicas", "image"]), "");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
