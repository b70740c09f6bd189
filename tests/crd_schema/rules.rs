//! Every CEL rule of the schema next to its twin in `validate`: one change to the valid `base()`
//! breaks one rule, and both validators must say so with the same words (and `validate` at the
//! rule's field path); variants that must stay valid pass both.

use serde_json::{Value, json};

use super::{base, cel_errors, rust_errors, schema, set};

#[path = "rule_cases.rs"]
mod rule_cases;

/// One CEL rule, the change that breaks it, and the words both validators must use.
struct Case {
    rule: &'static str,
    changes: &'static [(&'static str, &'static str)],
    old_changes: Option<&'static [(&'static str, &'static str)]>,
    /// (field path in validate's errors, fragment both messages contain)
    expect: (&'static str, &'static str),
}

/// The rules of the workload's core: name, image, replicas, mounts, keys, storage.
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
        changes: &[
            ("/spec/autoscaling", "null"),
            ("/spec/storage/accessMode", r#""ReadWriteOnce""#),
        ],
        old_changes: None,
        expect: (
            "spec.storage.accessMode",
            "requires storage.accessMode ReadWriteMany",
        ),
    },
    Case {
        rule: "replicas > 1 needs RWX (defaulted RWO)",
        changes: &[
            ("/spec/autoscaling", "null"),
            ("/spec/storage/accessMode", "null"),
        ],
        old_changes: None,
        expect: (
            "spec.storage.accessMode",
            "requires storage.accessMode ReadWriteMany",
        ),
    },
    Case {
        rule: "replicas > 1 needs RWX (RWOP)",
        changes: &[
            ("/spec/autoscaling", "null"),
            ("/spec/storage/accessMode", r#""ReadWriteOncePod""#),
        ],
        old_changes: None,
        expect: (
            "spec.storage.accessMode",
            "requires storage.accessMode ReadWriteMany",
        ),
    },
    Case {
        rule: "defaulted replicas (2) need RWX",
        changes: &[
            ("/spec/autoscaling", "null"),
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
            ("/spec/autoscaling", "null"),
            ("/spec/replicas", "1"),
            ("/spec/storage/accessMode", r#""ReadWriteOnce""#),
        ],
        old_changes: Some(&[("/spec/autoscaling", "null"), ("/spec/replicas", "1")]),
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
    let all = [CASES, rule_cases::EXPOSE_AND_SCALE, rule_cases::POD];
    for case in all.into_iter().flatten() {
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
    set(&mut without, "/spec/autoscaling", Value::Null);
    let mut with = base();
    set(&mut with, "/spec/autoscaling", Value::Null);
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

/// Variants of `base()` that both validators must accept: the edges of the new rules.
#[test]
fn allowed_variants_pass_both() {
    let variants: &[(&str, &[(&str, Value)])] = &[
        (
            "an HTTPRoute on a Gateway in another namespace",
            &[
                ("/spec/route/ingressClassName", Value::Null),
                ("/spec/route/tls", Value::Null),
                (
                    "/spec/route/gatewayRef",
                    json!({"name": "public", "namespace": "infra"}),
                ),
            ],
        ),
        (
            "a wildcard host, a deep path and an explicit port",
            &[
                ("/spec/route/host", json!("*.shop.example.com")),
                ("/spec/route/path", json!("/api/v1.2/~x/%20y")),
                ("/spec/route/port", json!("metrics")),
            ],
        ),
        (
            "a UDP port that is not the route's",
            &[("/spec/ports/1/protocol", json!("UDP"))],
        ),
        (
            "a CPU limit stands in for the request",
            &[("/spec/resources", json!({"limits": {"cpu": "1"}}))],
        ),
        (
            "memory target only",
            &[
                ("/spec/autoscaling/cpuUtilization", Value::Null),
                ("/spec/autoscaling/memoryUtilization", json!(75)),
            ],
        ),
        (
            "replicas are ignored under autoscaling, even with single-writer storage",
            &[
                (
                    "/spec/autoscaling",
                    json!({"maxReplicas": 1, "cpuUtilization": 80}),
                ),
                ("/spec/replicas", json!(3)),
                ("/spec/storage/accessMode", json!("ReadWriteOnce")),
            ],
        ),
        (
            "maxSurge as a number",
            &[("/spec/rollout/maxSurge", json!(1))],
        ),
        (
            "maxSurge above 100%",
            &[("/spec/rollout/maxSurge", json!("150%"))],
        ),
        (
            "maxSurge with leading zeros",
            &[("/spec/rollout/maxSurge", json!("007%"))],
        ),
        ("the default maxSurge", &[("/spec/rollout", json!({}))]),
        (
            "no token, no audience",
            &[
                ("/spec/serviceAccount/automountToken", json!(false)),
                ("/spec/serviceAccount/audience", Value::Null),
            ],
        ),
        (
            "egress limits without ingress isolation",
            &[
                ("/spec/network/isolation", json!("None")),
                ("/spec/network/allowFrom", Value::Null),
            ],
        ),
        (
            "a port range and pods in selected namespaces",
            &[
                (
                    "/spec/network/egress/0/ports/0",
                    json!({"port": 8000, "endPort": 8100, "protocol": "UDP"}),
                ),
                (
                    "/spec/network/egress/0/to/0",
                    json!({"podSelector": {}, "namespaceSelector": {"matchExpressions": [
                        {"key": "kubernetes.io/metadata.name", "operator": "Exists"}]}}),
                ),
            ],
        ),
        (
            "a foreign Secret mounted rather than in env",
            &[(
                "/spec/secret/from/0",
                json!({"name": "shop-db", "mountPath": "/etc/db"}),
            )],
        ),
        (
            "no Service settings (ClusterIP)",
            &[("/spec/service", Value::Null)],
        ),
    ];
    let mut failures = Vec::new();
    for (what, changes) in variants {
        let mut obj = base();
        for (pointer, value) in *changes {
            set(&mut obj, pointer, value.clone());
        }
        let (cel, rust) = (cel_errors(&obj, None), rust_errors(&obj, None));
        if !cel.is_empty() || !rust.is_empty() {
            failures.push(format!("{what}: CEL {cel:?}, validate {rust:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The CEL rule that keeps sidecars and init containers off the main container's name spells
/// that name out; it must be the one `build` gives the main container.
#[test]
fn the_main_container_name_in_cel_is_builds() {
    let spec = &schema()["properties"]["spec"]["properties"];
    let expected = format!(
        "self != '{}'",
        stateless_operator::children::deployment::CONTAINER_NAME
    );
    for list in ["sidecars", "initContainers"] {
        let rules = &spec[list]["items"]["properties"]["name"]["x-kubernetes-validations"];
        assert!(
            rules
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| r["rule"] == expected.as_str()),
            "{list}[].name lacks {expected:?}: {rules}"
        );
    }
}
