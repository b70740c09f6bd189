//! The generated CustomResourceDefinition: committed copy up to date, structural, and its CEL
//! rules in agreement with `validate` (every admission rule has a twin in the pure validator).
//!
//! CEL rules are evaluated client-side with kube's CEL engine (`kube/cel`), with schema defaults
//! applied first, as the API server does. `cost` holds the schema to the API server's CEL cost
//! budget and `bounds` holds every size bound of the schema to its twin in `validate`.

use kube::CustomResourceExt;
use kube::core::cel::{ScopeContext, Validator, check_rule_scope, compile_schema};
use serde_json::{Value, json};
use stateless_operator::crd::StatelessService;
use stateless_operator::validate::{validate, validate_update};

#[path = "support/cel_cost.rs"]
mod cel_cost;

#[path = "crd_schema/bounds.rs"]
mod bounds;
#[path = "crd_schema/cost.rs"]
mod cost;

fn crd_json() -> Value {
    serde_json::to_value(StatelessService::crd()).expect("CRD serializes")
}

fn schema() -> Value {
    crd_json()["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

#[test]
fn committed_crd_matches_the_rust_types() {
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crds/statelessservice.yaml"
    ))
    .expect("crds/statelessservice.yaml exists");
    let generated = stateless_operator::crd_yaml().expect("CRD renders");
    assert!(
        committed == generated,
        "crds/statelessservice.yaml is out of date: run `cargo run -- crd > crds/statelessservice.yaml`"
    );
}

#[test]
fn chart_ships_the_same_crd() {
    let root = env!("CARGO_MANIFEST_DIR");
    let chart = format!("{root}/charts/stateless-operator/crds/statelessservice.yaml");
    let Ok(in_chart) = std::fs::read_to_string(&chart) else {
        panic!("{chart} is missing: copy crds/statelessservice.yaml there");
    };
    let committed = std::fs::read_to_string(format!("{root}/crds/statelessservice.yaml"))
        .expect("crds/statelessservice.yaml exists");
    assert!(
        in_chart == committed,
        "{chart} differs from crds/statelessservice.yaml: copy it again"
    );
}

#[test]
fn crd_names_and_subresources() {
    let crd = crd_json();
    assert_eq!(crd["metadata"]["name"], "statelessservices.stateless.dev");
    assert_eq!(crd["spec"]["group"], "stateless.dev");
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    assert_eq!(crd["spec"]["names"]["kind"], "StatelessService");
    assert_eq!(crd["spec"]["names"]["plural"], "statelessservices");
    assert_eq!(crd["spec"]["names"]["shortNames"], json!(["ssvc"]));
    let version = &crd["spec"]["versions"][0];
    assert_eq!(version["name"], "v1alpha1");
    assert_eq!(version["subresources"]["status"], json!({}));
    let columns: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .expect("printer columns")
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(columns, ["Ready", "Replicas", "Storage", "Age"]);
}

/// Walks a schema node; records every structural problem with its path.
fn walk(node: &Value, path: &str, problems: &mut Vec<String>) {
    let Some(obj) = node.as_object() else {
        problems.push(format!("{path}: schema node is not an object"));
        return;
    };
    let int_or_string = obj.get("x-kubernetes-int-or-string") == Some(&json!(true));
    let preserve = obj.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
    if !obj.contains_key("type") && !int_or_string && !preserve {
        problems.push(format!("{path}: no type"));
    }
    let documented =
        obj.get("description").is_some() || path.ends_with("[]") || path.ends_with("{}");
    if (path.contains(".spec") || path.contains(".status")) && !documented {
        problems.push(format!("{path}: no description"));
    }
    for forbidden in ["$ref", "allOf", "oneOf", "anyOf", "not"] {
        // anyOf/allOf are allowed structurally only without types inside; we generate none.
        if obj.contains_key(forbidden) && !int_or_string {
            problems.push(format!("{path}: uses {forbidden}"));
        }
    }
    if obj.get("x-kubernetes-list-type") == Some(&json!("map")) {
        let keys = obj["x-kubernetes-list-map-keys"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let required = obj["items"]["required"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let item_props = &obj["items"]["properties"];
        for key in &keys {
            let name = key.as_str().unwrap_or_default();
            let has_default = item_props[name].get("default").is_some();
            if !required.contains(key) && !has_default {
                problems.push(format!(
                    "{path}: list-map key {name} is neither required nor defaulted"
                ));
            }
        }
        if keys.is_empty() {
            problems.push(format!("{path}: list-map without keys"));
        }
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            walk(v, &format!("{path}.{k}"), problems);
        }
    }
    if let Some(items) = obj.get("items") {
        walk(items, &format!("{path}[]"), problems);
    }
    if let Some(extra) = obj.get("additionalProperties").filter(|v| v.is_object()) {
        walk(extra, &format!("{path}{{}}"), problems);
    }
}

#[test]
fn schema_is_structural_and_documented() {
    let mut problems = Vec::new();
    walk(&schema(), "", &mut problems);
    assert!(
        problems.is_empty(),
        "structural problems:\n{}",
        problems.join("\n")
    );
}

#[test]
fn list_maps_are_declared() {
    let s = schema();
    let spec = &s["properties"]["spec"]["properties"];
    let status = &s["properties"]["status"]["properties"];
    for (node, key) in [
        (&status["conditions"], "type"),
        (&spec["ports"], "name"),
        (&spec["env"], "name"),
        (&spec["secret"]["properties"]["generate"], "key"),
    ] {
        assert_eq!(node["x-kubernetes-list-type"], "map");
        assert_eq!(node["x-kubernetes-list-map-keys"], json!([key]));
    }
}

#[test]
fn defaults_are_declared_for_the_api_server() {
    let s = schema();
    let spec = &s["properties"]["spec"]["properties"];
    assert_eq!(spec["replicas"]["default"], 2);
    assert_eq!(spec["replicas"]["minimum"], 0.0);
    assert_eq!(spec["paused"]["default"], false);
    assert_eq!(
        spec["storage"]["properties"]["accessMode"]["default"],
        "ReadWriteOnce"
    );
    assert_eq!(
        spec["storage"]["properties"]["reclaimPolicy"]["default"],
        "Retain"
    );
    assert_eq!(
        spec["scratch"]["properties"]["sizeLimit"]["default"],
        "64Mi"
    );
    assert_eq!(s["properties"]["spec"]["required"], json!(["image"]));
    assert_eq!(
        spec["storage"]["required"],
        json!(["mountPath", "size"]),
        "storage.size and storage.mountPath are required inside storage"
    );
}

/// Every rule node in the schema, with its path.
fn rule_nodes(node: &Value, path: &str, out: &mut Vec<(String, Value)>) {
    if node.get("x-kubernetes-validations").is_some() {
        out.push((path.to_string(), node.clone()));
    }
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            rule_nodes(v, &format!("{path}.{k}"), out);
        }
    }
    if let Some(items) = node.get("items") {
        rule_nodes(items, &format!("{path}[]"), out);
    }
}

#[test]
fn every_cel_rule_compiles_with_a_message_and_in_scope() {
    let mut nodes = Vec::new();
    rule_nodes(&schema(), "", &mut nodes);
    assert!(
        nodes.len() >= 8,
        "expected the CEL rules, found {}",
        nodes.len()
    );
    let mut problems = Vec::new();
    for (path, node) in nodes {
        let compiled = compile_schema(&node);
        for e in compiled.compilation_errors() {
            problems.push(format!("{path}: {e}"));
        }
        for rule in node["x-kubernetes-validations"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let text = rule["rule"].as_str().unwrap_or_default();
            assert!(
                rule["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{path}: rule without message: {text}"
            );
            // kube-cel's cost warnings are not the API server's (they passed a CRD it refused
            // by 52.5x): costs are checked by `cel_cost` below, scope here.
            for w in check_rule_scope(text, ScopeContext::CrdValidation) {
                problems.push(format!("{path}: {text}: {}", w.message));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "CEL problems:\n{}",
        problems.join("\n")
    );
}

/// A valid object using every feature; cases below change one thing at a time.
fn base() -> Value {
    json!({
        "apiVersion": "stateless.dev/v1alpha1",
        "kind": "StatelessService",
        "metadata": {"name": "shop", "namespace": "default"},
        "spec": {
            "image": "registry.example/shop:1.0",
            "replicas": 3,
            "env": [{"name": "A", "value": "1"}],
            "ports": [{"name": "http", "containerPort": 8080}],
            "config": {"data": {"k": "v"}, "mountPath": "/etc/shop", "env": true},
            "secret": {"generate": [{"key": "token", "length": 32}], "mountPath": "/var/run/shop"},
            "storage": {"size": "1Gi", "accessMode": "ReadWriteMany", "mountPath": "/var/lib/shop"},
            "scratch": {"sizeLimit": "64Mi"},
            "podSecurity": {"runAsUser": 1000}
        }
    })
}

fn set(v: &mut Value, pointer: &str, new: Value) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
    let target = v.pointer_mut(parent).expect("parent exists");
    match target {
        Value::Object(map) => {
            if new.is_null() {
                map.remove(key);
            } else {
                map.insert(key.to_string(), new);
            }
        }
        Value::Array(list) => {
            let i: usize = key.parse().expect("index");
            list[i] = new;
        }
        _ => panic!("cannot set {pointer}"),
    }
}

fn cel_errors(obj: &Value, old: Option<&Value>) -> Vec<String> {
    match Validator::new().validate(&schema(), obj, old) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(|e| e.to_string()).collect(),
    }
}

fn rust_errors(obj: &Value, old: Option<&Value>) -> Vec<String> {
    let svc: StatelessService = serde_json::from_value(obj.clone()).expect("object deserializes");
    let mut errors: Vec<String> = match validate(&svc) {
        Ok(_) => Vec::new(),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    };
    if let Some(old) = old {
        let old: StatelessService = serde_json::from_value(old.clone()).expect("old deserializes");
        errors.extend(
            validate_update(&old.spec, &svc.spec)
                .iter()
                .map(ToString::to_string),
        );
    }
    errors
}

#[test]
fn base_object_passes_both() {
    assert_eq!(cel_errors(&base(), None), Vec::<String>::new());
    assert_eq!(rust_errors(&base(), None), Vec::<String>::new());
    assert_eq!(cel_errors(&base(), Some(&base())), Vec::<String>::new());
    assert_eq!(rust_errors(&base(), Some(&base())), Vec::<String>::new());
}

/// One CEL rule, the change that breaks it, and the words both validators must use.
struct Case {
    rule: &'static str,
    changes: &'static [(&'static str, &'static str)],
    old_changes: Option<&'static [(&'static str, &'static str)]>,
    /// (field path in validate's errors, fragment both messages contain)
    expect: (&'static str, &'static str),
}

const CASES: &[Case] = &[
    Case {
        rule: "name is a DNS label",
        changes: &[("/metadata/name", r#""Shop_1""#)],
        old_changes: None,
        expect: ("metadata.name", "DNS label of at most 63"),
    },
    Case {
        rule: "name fits a label value",
        changes: &[(
            "/metadata/name",
            r#""a234567890123456789012345678901234567890123456789012345678901234""#,
        )],
        old_changes: None,
        expect: ("metadata.name", "DNS label of at most 63"),
    },
    Case {
        rule: "image has no spaces",
        changes: &[("/spec/image", r#""nginx latest""#)],
        old_changes: None,
        expect: ("spec.image", "must not contain spaces"),
    },
    Case {
        rule: "replicas > 1 needs RWX (explicit RWO)",
        changes: &[("/spec/storage/accessMode", r#""ReadWriteOnce""#)],
        old_changes: None,
        expect: (
            "spec.storage.accessMode",
            "requires storage.accessMode ReadWriteMany",
        ),
    },
    Case {
        rule: "replicas > 1 needs RWX (defaulted RWO)",
        changes: &[("/spec/storage/accessMode", "null")],
        old_changes: None,
        expect: (
            "spec.storage.accessMode",
            "requires storage.accessMode ReadWriteMany",
        ),
    },
    Case {
        rule: "replicas > 1 needs RWX (RWOP)",
        changes: &[("/spec/storage/accessMode", r#""ReadWriteOncePod""#)],
        old_changes: None,
        expect: (
            "spec.storage.accessMode",
            "requires storage.accessMode ReadWriteMany",
        ),
    },
    Case {
        rule: "defaulted replicas (2) need RWX",
        changes: &[
            ("/spec/replicas", "null"),
            ("/spec/storage/accessMode", r#""ReadWriteOnce""#),
        ],
        old_changes: None,
        expect: (
            "spec.storage.accessMode",
            "requires storage.accessMode ReadWriteMany",
        ),
    },
    Case {
        rule: "mount path absolute",
        changes: &[("/spec/config/mountPath", r#""etc/shop""#)],
        old_changes: None,
        expect: ("spec.config.mountPath", "absolute, normalised path"),
    },
    Case {
        rule: "mount path not /",
        changes: &[("/spec/secret/mountPath", r#""/""#)],
        old_changes: None,
        expect: ("spec.secret.mountPath", "absolute, normalised path"),
    },
    Case {
        rule: "mount path normalised (..)",
        changes: &[("/spec/storage/mountPath", r#""/var/../etc""#)],
        old_changes: None,
        expect: ("spec.storage.mountPath", "absolute, normalised path"),
    },
    Case {
        rule: "mount path normalised (trailing /)",
        changes: &[("/spec/storage/mountPath", r#""/var/lib/shop/""#)],
        old_changes: None,
        expect: ("spec.storage.mountPath", "absolute, normalised path"),
    },
    Case {
        rule: "mount path not /tmp",
        changes: &[("/spec/config/mountPath", r#""/tmp""#)],
        old_changes: None,
        expect: ("spec.config.mountPath", "/tmp"),
    },
    Case {
        rule: "mount path not below /tmp",
        changes: &[("/spec/storage/mountPath", r#""/tmp/data""#)],
        old_changes: None,
        expect: ("spec.storage.mountPath", "/tmp"),
    },
    Case {
        rule: "config and secret do not overlap",
        changes: &[("/spec/secret/mountPath", r#""/etc/shop/secrets""#)],
        old_changes: None,
        expect: (
            "spec.secret.mountPath",
            "config.mountPath and secret.mountPath overlap",
        ),
    },
    Case {
        rule: "config and storage do not overlap",
        changes: &[("/spec/storage/mountPath", r#""/etc""#)],
        old_changes: None,
        expect: (
            "spec.storage.mountPath",
            "config.mountPath and storage.mountPath overlap",
        ),
    },
    Case {
        rule: "secret and storage do not overlap",
        changes: &[("/spec/storage/mountPath", r#""/var/run/shop""#)],
        old_changes: None,
        expect: (
            "spec.storage.mountPath",
            "secret.mountPath and storage.mountPath overlap",
        ),
    },
    Case {
        rule: "secret key syntax",
        changes: &[("/spec/secret/generate/0/key", r#""db password""#)],
        old_changes: None,
        expect: (
            "spec.secret.generate[0].key",
            "secret key must consist of letters",
        ),
    },
    Case {
        rule: "secret key not ..",
        changes: &[("/spec/secret/generate/0/key", r#""..""#)],
        old_changes: None,
        expect: ("spec.secret.generate[0].key", "must not be '.' or '..'"),
    },
    Case {
        rule: "port name is an IANA name",
        changes: &[("/spec/ports/0/name", r#""8080""#)],
        old_changes: None,
        expect: ("spec.ports[0].name", "IANA service name"),
    },
    Case {
        rule: "env name has no =",
        changes: &[("/spec/env/0/name", r#""A=B""#)],
        old_changes: None,
        expect: ("spec.env[0].name", "must not contain '='"),
    },
    Case {
        rule: "env name printable ASCII",
        changes: &[("/spec/env/0/name", r#""A\u0007B""#)],
        old_changes: None,
        expect: ("spec.env[0].name", "printable ASCII"),
    },
    Case {
        rule: "storage class is a DNS subdomain",
        changes: &[("/spec/storage/storageClassName", r#""Fast_SSD""#)],
        old_changes: None,
        expect: ("spec.storage.storageClassName", "DNS subdomain"),
    },
    Case {
        rule: "storage size positive",
        changes: &[("/spec/storage/size", r#""0""#)],
        old_changes: None,
        expect: ("spec.storage.size", "positive quantity"),
    },
    Case {
        rule: "storage size is a quantity",
        changes: &[("/spec/storage/size", r#""lots""#)],
        old_changes: None,
        expect: ("spec.storage.size", "positive quantity"),
    },
    Case {
        rule: "scratch size positive",
        changes: &[("/spec/scratch/sizeLimit", r#""0Mi""#)],
        old_changes: None,
        expect: ("spec.scratch.sizeLimit", "positive quantity"),
    },
    Case {
        rule: "storageClassName immutable",
        changes: &[("/spec/storage/storageClassName", r#""fast""#)],
        old_changes: Some(&[("/spec/storage/storageClassName", r#""slow""#)]),
        expect: (
            "spec.storage.storageClassName",
            "storageClassName is immutable",
        ),
    },
    Case {
        rule: "storageClassName cannot be added",
        changes: &[("/spec/storage/storageClassName", r#""fast""#)],
        old_changes: Some(&[]),
        expect: (
            "spec.storage.storageClassName",
            "storageClassName is immutable",
        ),
    },
    Case {
        rule: "accessMode immutable",
        changes: &[
            ("/spec/replicas", "1"),
            ("/spec/storage/accessMode", r#""ReadWriteOnce""#),
        ],
        old_changes: Some(&[("/spec/replicas", "1")]),
        expect: ("spec.storage.accessMode", "accessMode is immutable"),
    },
    Case {
        rule: "size only grows",
        changes: &[("/spec/storage/size", r#""512Mi""#)],
        old_changes: Some(&[]),
        expect: ("spec.storage.size", "can only grow"),
    },
    Case {
        rule: "storage cannot be removed",
        changes: &[("/spec/storage", "null")],
        old_changes: Some(&[]),
        expect: ("spec.storage", "storage cannot be removed"),
    },
];

#[test]
fn every_cel_rule_has_a_matching_validate_rule() {
    let mut failures = Vec::new();
    for case in CASES {
        let mut obj = base();
        for (pointer, value) in case.changes {
            set(
                &mut obj,
                pointer,
                serde_json::from_str(value).expect("case value is JSON"),
            );
        }
        let old = case.old_changes.map(|changes| {
            let mut old = base();
            for (pointer, value) in changes {
                set(
                    &mut old,
                    pointer,
                    serde_json::from_str(value).expect("case value is JSON"),
                );
            }
            old
        });
        let (path, fragment) = case.expect;
        let cel = cel_errors(&obj, old.as_ref());
        if !cel.iter().any(|e| e.contains(fragment)) {
            failures.push(format!(
                "{}: CEL errors {cel:?} lack {fragment:?}",
                case.rule
            ));
        }
        let rust = rust_errors(&obj, old.as_ref());
        let prefix = format!("{path}: ");
        if !rust
            .iter()
            .any(|e| e.starts_with(&prefix) && e.contains(fragment))
        {
            failures.push(format!(
                "{}: validate errors {rust:?} lack {path}: ..{fragment:?}",
                case.rule
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn allowed_changes_pass_both() {
    let mut old = base();
    set(&mut old, "/spec/storage/size", json!("1Gi"));
    let mut new = base();
    set(&mut new, "/spec/storage/size", json!("2Gi"));
    set(&mut new, "/spec/replicas", json!(5));
    assert_eq!(cel_errors(&new, Some(&old)), Vec::<String>::new());
    assert_eq!(rust_errors(&new, Some(&old)), Vec::<String>::new());
    // Same size spelled differently is not a shrink.
    set(&mut new, "/spec/storage/size", json!("1024Mi"));
    assert_eq!(cel_errors(&new, Some(&old)), Vec::<String>::new());
    assert_eq!(rust_errors(&new, Some(&old)), Vec::<String>::new());
    // Adding storage later is allowed; RWO with one replica is fine.
    let mut without = base();
    set(&mut without, "/spec/storage", Value::Null);
    let mut with = base();
    set(&mut with, "/spec/replicas", json!(1));
    set(
        &mut with,
        "/spec/storage/accessMode",
        json!("ReadWriteOnce"),
    );
    set(&mut without, "/spec/replicas", json!(1));
    assert_eq!(cel_errors(&with, Some(&without)), Vec::<String>::new());
    assert_eq!(rust_errors(&with, Some(&without)), Vec::<String>::new());
}
