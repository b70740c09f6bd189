//! Every size bound of the schema (`maxItems`, `maxProperties`, `maxLength`) has a twin in
//! `validate` with the same number: an object at the bound passes the API server's checks (the
//! bounds, emulated below, and the CEL rules, with kube's engine) and `validate`; one element or
//! character more fails both, at the same field path.

use serde_json::{Value, json};
use stateless_operator::crd::StatelessService;
use stateless_operator::validate::{status_errors, validate};

use super::{base, cel_errors, schema, set};

const KEYWORDS: [&str; 3] = ["maxItems", "maxProperties", "maxLength"];

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Every bound in a schema: (data path with `[]` for list items, keyword, limit).
fn schema_bounds(node: &Value, path: &str, out: &mut Vec<(String, String, usize)>) {
    for keyword in KEYWORDS {
        if let Some(limit) = node.get(keyword).and_then(Value::as_u64) {
            out.push((path.to_string(), keyword.to_string(), limit as usize));
        }
    }
    for (k, v) in node
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        schema_bounds(v, &join(path, k), out);
    }
    if let Some(items) = node.get("items") {
        schema_bounds(items, &format!("{path}[]"), out);
    }
    if let Some(extra) = node.get("additionalProperties").filter(|v| v.is_object()) {
        schema_bounds(extra, &format!("{path}{{}}"), out);
    }
}

/// The API server's OpenAPI validation of the three bounds: the path of every value over one.
fn violations(node: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
    let limit = |keyword: &str| node.get(keyword).and_then(Value::as_u64);
    match value {
        Value::Array(items) => {
            if limit("maxItems").is_some_and(|m| items.len() as u64 > m) {
                out.push(path.to_string());
            }
            for (i, item) in items.iter().enumerate() {
                if let Some(schema) = node.get("items") {
                    violations(schema, item, &format!("{path}[{i}]"), out);
                }
            }
        }
        Value::Object(map) => {
            if let Some(extra) = node.get("additionalProperties").filter(|v| v.is_object()) {
                if limit("maxProperties").is_some_and(|m| map.len() as u64 > m) {
                    out.push(path.to_string());
                }
                for (k, v) in map {
                    violations(extra, v, &join(path, k), out);
                }
            } else {
                for (k, v) in map {
                    if let Some(schema) = node.get("properties").and_then(|p| p.get(k)) {
                        violations(schema, v, &join(path, k), out);
                    }
                }
            }
        }
        // maxLength counts code points.
        Value::String(s) if limit("maxLength").is_some_and(|m| s.chars().count() as u64 > m) => {
            out.push(path.to_string());
        }
        _ => {}
    }
}

/// One bound: where it is, where its value goes in `base()`, and how to make a value that is
/// valid in every other respect with `n` elements or characters.
struct Case {
    bound: &'static str,
    pointer: &'static str,
    make: fn(usize) -> Value,
}

fn list(n: usize, item: impl Fn(usize) -> Value) -> Value {
    Value::Array((0..n).map(item).collect())
}

fn map(n: usize, entry: impl Fn(usize) -> (String, Value)) -> Value {
    Value::Object((0..n).map(entry).collect())
}

/// A DNS subdomain of exactly `n` characters: labels of 63 joined by dots.
fn subdomain(n: usize) -> String {
    (0..n)
        .map(|i| if i % 64 == 63 { '.' } else { 'a' })
        .collect()
}

const CASES: &[Case] = &[
    Case {
        bound: "spec.image",
        pointer: "/spec/image",
        make: |n| json!("a".repeat(n)),
    },
    Case {
        bound: "spec.command",
        pointer: "/spec/command",
        make: |n| json!(vec!["a"; n]),
    },
    Case {
        bound: "spec.args",
        pointer: "/spec/args",
        make: |n| json!(vec!["a"; n]),
    },
    Case {
        bound: "spec.env",
        pointer: "/spec/env",
        make: |n| list(n, |i| json!({"name": format!("V{i}")})),
    },
    Case {
        bound: "spec.env[].name",
        pointer: "/spec/env/0/name",
        make: |n| json!("A".repeat(n)),
    },
    Case {
        bound: "spec.ports",
        pointer: "/spec/ports",
        make: |n| {
            list(
                n,
                |i| json!({"name": format!("p{i}"), "containerPort": 1000 + i}),
            )
        },
    },
    Case {
        bound: "spec.ports[].name",
        pointer: "/spec/ports/0/name",
        make: |n| json!("a".repeat(n)),
    },
    Case {
        bound: "spec.resources.claims",
        pointer: "/spec/resources",
        make: |n| json!({"claims": list(n, |i| json!({"name": format!("c{i}")}))}),
    },
    Case {
        bound: "spec.resources.limits",
        pointer: "/spec/resources",
        make: |n| json!({"limits": map(n, |i| (format!("example.com/r{i}"), json!("1")))}),
    },
    Case {
        bound: "spec.resources.requests",
        pointer: "/spec/resources",
        make: |n| json!({"requests": map(n, |i| (format!("example.com/r{i}"), json!("1")))}),
    },
    Case {
        bound: "spec.readinessProbe.exec.command",
        pointer: "/spec/readinessProbe",
        make: |n| json!({"exec": {"command": vec!["true"; n]}}),
    },
    Case {
        bound: "spec.readinessProbe.httpGet.httpHeaders",
        pointer: "/spec/readinessProbe",
        make: |n| {
            json!({"httpGet": {"port": 80,
                "httpHeaders": list(n, |i| json!({"name": format!("X-H{i}"), "value": "v"}))}})
        },
    },
    Case {
        bound: "spec.livenessProbe.exec.command",
        pointer: "/spec/livenessProbe",
        make: |n| json!({"exec": {"command": vec!["true"; n]}}),
    },
    Case {
        bound: "spec.livenessProbe.httpGet.httpHeaders",
        pointer: "/spec/livenessProbe",
        make: |n| {
            json!({"httpGet": {"port": 80,
                "httpHeaders": list(n, |i| json!({"name": format!("X-H{i}"), "value": "v"}))}})
        },
    },
    Case {
        bound: "spec.config.data",
        pointer: "/spec/config/data",
        make: |n| map(n, |i| (format!("k{i}"), json!("v"))),
    },
    Case {
        bound: "spec.config.mountPath",
        pointer: "/spec/config/mountPath",
        make: |n| json!(format!("/{}", "c".repeat(n - 1))),
    },
    Case {
        bound: "spec.secret.generate",
        pointer: "/spec/secret/generate",
        make: |n| list(n, |i| json!({"key": format!("k{i}"), "length": 16})),
    },
    Case {
        bound: "spec.secret.generate[].key",
        pointer: "/spec/secret/generate/0/key",
        make: |n| json!("k".repeat(n)),
    },
    Case {
        bound: "spec.secret.mountPath",
        pointer: "/spec/secret/mountPath",
        make: |n| json!(format!("/{}", "s".repeat(n - 1))),
    },
    Case {
        bound: "spec.storage.mountPath",
        pointer: "/spec/storage/mountPath",
        make: |n| json!(format!("/{}", "d".repeat(n - 1))),
    },
    Case {
        bound: "spec.storage.size",
        pointer: "/spec/storage/size",
        make: |n| json!(format!("{}1G", "0".repeat(n - 2))),
    },
    Case {
        bound: "spec.storage.storageClassName",
        pointer: "/spec/storage/storageClassName",
        make: |n| json!(subdomain(n)),
    },
    Case {
        bound: "spec.scratch.sizeLimit",
        pointer: "/spec/scratch/sizeLimit",
        make: |n| json!(format!("{}1M", "0".repeat(n - 2))),
    },
    Case {
        bound: "status.conditions",
        pointer: "/status",
        make: |n| {
            json!({"conditions": list(n, |i| json!({"type": format!("T{i}"), "status": "True",
                "reason": "R", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}))})
        },
    },
];

/// `validate`'s errors, and for status the status bounds.
fn rust_errors(obj: &Value) -> Vec<String> {
    let svc: StatelessService = serde_json::from_value(obj.clone()).expect("object deserializes");
    let mut errors: Vec<String> = match validate(&svc) {
        Ok(_) => Vec::new(),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    };
    if let Some(status) = &svc.status {
        errors.extend(status_errors(status).iter().map(ToString::to_string));
    }
    errors
}

#[test]
fn every_schema_bound_has_a_validate_twin_with_the_same_number() {
    let schema = schema();
    let mut bounds = Vec::new();
    schema_bounds(&schema, "", &mut bounds);
    let mut failures = Vec::new();
    for (path, keyword, _) in &bounds {
        if !CASES.iter().any(|c| c.bound == path) {
            failures.push(format!(
                "{path} ({keyword}) has no case here, so no proven twin"
            ));
        }
    }
    for case in CASES {
        let Some((_, keyword, limit)) = bounds.iter().find(|(p, _, _)| p == case.bound) else {
            failures.push(format!("{}: no such bound in the schema", case.bound));
            continue;
        };
        let at = case.bound.replace("[]", "[0]");
        for n in [*limit, limit + 1] {
            let mut obj = base();
            set(&mut obj, case.pointer, (case.make)(n));
            let mut server = Vec::new();
            violations(&schema, &obj, "", &mut server);
            let rust = rust_errors(&obj);
            if n == *limit {
                // At the bound: valid for the API server (bounds and CEL) and for validate.
                let cel = cel_errors(&obj, None);
                if !(server.is_empty() && cel.is_empty() && rust.is_empty()) {
                    failures.push(format!(
                        "{} at its {keyword} {n}: server {server:?}, CEL {cel:?}, validate {rust:?}",
                        case.bound
                    ));
                }
            } else {
                let limit_named = rust
                    .iter()
                    .any(|e| e.starts_with(&format!("{at}: ")) && e.contains(&limit.to_string()));
                if server != [at.clone()] || !limit_named {
                    failures.push(format!(
                        "{} over its {keyword} ({n}): server {server:?}, validate {rust:?}",
                        case.bound
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
