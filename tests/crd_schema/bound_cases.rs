//! The size bounds of issues 11 and 12, each with a value that is valid in every other respect.

use serde_json::{Value, json};

use super::{Case, claims, limits, list, map, requests, subdomain};
use crate::base;

/// A probe with `n` arguments.
fn exec_probe(n: usize) -> Value {
    json!({"exec": {"command": vec!["true"; n]}})
}

/// A probe with `n` headers.
fn http_probe(n: usize) -> Value {
    json!({"httpGet": {"port": 80,
        "httpHeaders": list(n, |i| json!({"name": format!("X-H{i}"), "value": "v"}))}})
}

/// `n` environment variables.
fn env(n: usize) -> Value {
    list(n, |i| json!({"name": format!("V{i}")}))
}

/// `n` label or annotation entries.
fn labels(n: usize) -> Value {
    map(n, |i| (format!("example.com/k{i}"), json!("v")))
}

/// A network peer whose `field` selector has `n` label matches.
fn match_labels(field: &str, n: usize) -> Value {
    json!({field: {"matchLabels": map(n, |i| (format!("k{i}"), json!("v")))}})
}

/// A network peer whose `field` selector has `n` expressions.
fn match_expressions(field: &str, n: usize) -> Value {
    json!({field: {"matchExpressions":
        list(n, |i| json!({"key": format!("k{i}"), "operator": "Exists"}))}})
}

/// A network peer whose `field` selector has one expression with `n` values.
fn selector_values(field: &str, n: usize) -> Value {
    json!({field: {"matchExpressions": [
        {"key": "k", "operator": "In", "values": list(n, |i| json!(format!("v{i}")))}]}})
}

/// A network peer that is an IP block with `n` exceptions.
fn ip_block(n: usize) -> Value {
    json!({"ipBlock": {"cidr": "10.0.0.0/8",
        "except": list(n, |i| json!(format!("10.{}.0.0/16", i + 1)))}})
}

/// `base()`'s spec with the route on a port named by `n` characters (the port's own name stays
/// within its bound, so that only `route.port` is over it).
fn route_port(n: usize) -> Value {
    let mut spec = base()["spec"].clone();
    let name = "a".repeat(n);
    spec["ports"][1]["name"] = json!(name.chars().take(15).collect::<String>());
    spec["route"]["port"] = json!(name);
    spec
}

pub(super) const CASES: &[Case] = &[
    Case {
        bound: "spec.config.from",
        pointer: "/spec/config/from",
        make: |n| list(n, |i| json!({"name": format!("flags-{i}"), "env": true})),
    },
    Case {
        bound: "spec.config.from[].name",
        pointer: "/spec/config/from/0/name",
        make: |n| json!(subdomain(n)),
    },
    Case {
        bound: "spec.config.from[].mountPath",
        pointer: "/spec/config/from/0/mountPath",
        make: |n| json!(format!("/{}", "f".repeat(n - 1))),
    },
    Case {
        bound: "spec.secret.from",
        pointer: "/spec/secret/from",
        make: |n| list(n, |i| json!({"name": format!("db-{i}"), "env": true})),
    },
    Case {
        bound: "spec.secret.from[].name",
        pointer: "/spec/secret/from/0/name",
        make: |n| json!(subdomain(n)),
    },
    Case {
        bound: "spec.secret.from[].mountPath",
        pointer: "/spec/secret/from/0/mountPath",
        make: |n| json!(format!("/{}", "e".repeat(n - 1))),
    },
    Case {
        bound: "spec.service.annotations",
        pointer: "/spec/service/annotations",
        make: labels,
    },
    Case {
        bound: "spec.route.host",
        pointer: "/spec/route/host",
        make: |n| json!(subdomain(n)),
    },
    Case {
        bound: "spec.route.path",
        pointer: "/spec/route/path",
        make: |n| json!(format!("/{}", "p".repeat(n - 1))),
    },
    Case {
        bound: "spec.route.port",
        pointer: "/spec",
        make: route_port,
    },
    Case {
        bound: "spec.route.ingressClassName",
        pointer: "/spec/route/ingressClassName",
        make: |n| json!(subdomain(n)),
    },
    Case {
        bound: "spec.route.tls.secretName",
        pointer: "/spec/route/tls/secretName",
        make: |n| json!(subdomain(n)),
    },
    Case {
        bound: "spec.route.gatewayRef.name",
        pointer: "/spec/route",
        make: |n| json!({"host": "shop.example.com", "gatewayRef": {"name": subdomain(n)}}),
    },
    Case {
        bound: "spec.route.gatewayRef.namespace",
        pointer: "/spec/route",
        make: |n| {
            json!({"host": "shop.example.com",
                "gatewayRef": {"name": "public", "namespace": "a".repeat(n)}})
        },
    },
    Case {
        bound: "spec.rollout.maxSurge",
        pointer: "/spec/rollout/maxSurge",
        make: |n| json!(format!("{}1%", "0".repeat(n - 2))),
    },
    Case {
        bound: "spec.serviceAccount.annotations",
        pointer: "/spec/serviceAccount/annotations",
        make: labels,
    },
    Case {
        bound: "spec.serviceAccount.labels",
        pointer: "/spec/serviceAccount/labels",
        make: labels,
    },
    Case {
        bound: "spec.serviceAccount.audience",
        pointer: "/spec/serviceAccount/audience",
        make: |n| json!("a".repeat(n)),
    },
    Case {
        bound: "spec.network.allowFrom",
        pointer: "/spec/network/allowFrom",
        make: |n| list(n, |_| json!({"podSelector": {}})),
    },
    Case {
        bound: "spec.network.allowFrom[].podSelector.matchLabels",
        pointer: "/spec/network/allowFrom/0",
        make: |n| match_labels("podSelector", n),
    },
    Case {
        bound: "spec.network.allowFrom[].podSelector.matchExpressions",
        pointer: "/spec/network/allowFrom/0",
        make: |n| match_expressions("podSelector", n),
    },
    Case {
        bound: "spec.network.allowFrom[].podSelector.matchExpressions[].values",
        pointer: "/spec/network/allowFrom/0",
        make: |n| selector_values("podSelector", n),
    },
    Case {
        bound: "spec.network.allowFrom[].namespaceSelector.matchLabels",
        pointer: "/spec/network/allowFrom/0",
        make: |n| match_labels("namespaceSelector", n),
    },
    Case {
        bound: "spec.network.allowFrom[].namespaceSelector.matchExpressions",
        pointer: "/spec/network/allowFrom/0",
        make: |n| match_expressions("namespaceSelector", n),
    },
    Case {
        bound: "spec.network.allowFrom[].namespaceSelector.matchExpressions[].values",
        pointer: "/spec/network/allowFrom/0",
        make: |n| selector_values("namespaceSelector", n),
    },
    Case {
        bound: "spec.network.allowFrom[].ipBlock.except",
        pointer: "/spec/network/allowFrom/0",
        make: ip_block,
    },
    Case {
        bound: "spec.network.egress",
        pointer: "/spec/network/egress",
        make: |n| list(n, |_| json!({"ports": [{"port": 443}]})),
    },
    Case {
        bound: "spec.network.egress[].ports",
        pointer: "/spec/network/egress/0/ports",
        make: |n| list(n, |i| json!({"port": 1000 + i})),
    },
    Case {
        bound: "spec.network.egress[].to",
        pointer: "/spec/network/egress/0/to",
        make: |n| list(n, |_| json!({"podSelector": {}})),
    },
    Case {
        bound: "spec.network.egress[].to[].podSelector.matchLabels",
        pointer: "/spec/network/egress/0/to/0",
        make: |n| match_labels("podSelector", n),
    },
    Case {
        bound: "spec.network.egress[].to[].podSelector.matchExpressions",
        pointer: "/spec/network/egress/0/to/0",
        make: |n| match_expressions("podSelector", n),
    },
    Case {
        bound: "spec.network.egress[].to[].podSelector.matchExpressions[].values",
        pointer: "/spec/network/egress/0/to/0",
        make: |n| selector_values("podSelector", n),
    },
    Case {
        bound: "spec.network.egress[].to[].namespaceSelector.matchLabels",
        pointer: "/spec/network/egress/0/to/0",
        make: |n| match_labels("namespaceSelector", n),
    },
    Case {
        bound: "spec.network.egress[].to[].namespaceSelector.matchExpressions",
        pointer: "/spec/network/egress/0/to/0",
        make: |n| match_expressions("namespaceSelector", n),
    },
    Case {
        bound: "spec.network.egress[].to[].namespaceSelector.matchExpressions[].values",
        pointer: "/spec/network/egress/0/to/0",
        make: |n| selector_values("namespaceSelector", n),
    },
    Case {
        bound: "spec.network.egress[].to[].ipBlock.except",
        pointer: "/spec/network/egress/0/to/0",
        make: ip_block,
    },
    Case {
        bound: "spec.sidecars",
        pointer: "/spec/sidecars",
        make: |n| list(n, |i| json!({"name": format!("side-{i}"), "image": "x"})),
    },
    Case {
        bound: "spec.sidecars[].name",
        pointer: "/spec/sidecars/0/name",
        make: |n| json!("s".repeat(n)),
    },
    Case {
        bound: "spec.sidecars[].image",
        pointer: "/spec/sidecars/0/image",
        make: |n| json!("i".repeat(n)),
    },
    Case {
        bound: "spec.sidecars[].command",
        pointer: "/spec/sidecars/0/command",
        make: |n| json!(vec!["a"; n]),
    },
    Case {
        bound: "spec.sidecars[].args",
        pointer: "/spec/sidecars/0/args",
        make: |n| json!(vec!["a"; n]),
    },
    Case {
        bound: "spec.sidecars[].env",
        pointer: "/spec/sidecars/0/env",
        make: env,
    },
    Case {
        bound: "spec.sidecars[].env[].name",
        pointer: "/spec/sidecars/0/env/0/name",
        make: |n| json!("A".repeat(n)),
    },
    Case {
        bound: "spec.sidecars[].ports",
        pointer: "/spec/sidecars/0/ports",
        make: |n| {
            list(
                n,
                |i| json!({"name": format!("s{i}"), "containerPort": 20000 + i}),
            )
        },
    },
    Case {
        bound: "spec.sidecars[].ports[].name",
        pointer: "/spec/sidecars/0/ports/0/name",
        make: |n| json!("s".repeat(n)),
    },
    Case {
        bound: "spec.sidecars[].resources.claims",
        pointer: "/spec/sidecars/0/resources",
        make: claims,
    },
    Case {
        bound: "spec.sidecars[].resources.limits",
        pointer: "/spec/sidecars/0/resources",
        make: limits,
    },
    Case {
        bound: "spec.sidecars[].resources.requests",
        pointer: "/spec/sidecars/0/resources",
        make: requests,
    },
    Case {
        bound: "spec.sidecars[].readinessProbe.exec.command",
        pointer: "/spec/sidecars/0/readinessProbe",
        make: exec_probe,
    },
    Case {
        bound: "spec.sidecars[].readinessProbe.httpGet.httpHeaders",
        pointer: "/spec/sidecars/0/readinessProbe",
        make: http_probe,
    },
    Case {
        bound: "spec.sidecars[].livenessProbe.exec.command",
        pointer: "/spec/sidecars/0/livenessProbe",
        make: exec_probe,
    },
    Case {
        bound: "spec.sidecars[].livenessProbe.httpGet.httpHeaders",
        pointer: "/spec/sidecars/0/livenessProbe",
        make: http_probe,
    },
    Case {
        bound: "spec.sidecars[].startupProbe.exec.command",
        pointer: "/spec/sidecars/0/startupProbe",
        make: exec_probe,
    },
    Case {
        bound: "spec.sidecars[].startupProbe.httpGet.httpHeaders",
        pointer: "/spec/sidecars/0/startupProbe",
        make: http_probe,
    },
    Case {
        bound: "spec.initContainers",
        pointer: "/spec/initContainers",
        make: |n| list(n, |i| json!({"name": format!("init-{i}"), "image": "x"})),
    },
    Case {
        bound: "spec.initContainers[].name",
        pointer: "/spec/initContainers/0/name",
        make: |n| json!("m".repeat(n)),
    },
    Case {
        bound: "spec.initContainers[].image",
        pointer: "/spec/initContainers/0/image",
        make: |n| json!("i".repeat(n)),
    },
    Case {
        bound: "spec.initContainers[].command",
        pointer: "/spec/initContainers/0/command",
        make: |n| json!(vec!["a"; n]),
    },
    Case {
        bound: "spec.initContainers[].args",
        pointer: "/spec/initContainers/0/args",
        make: |n| json!(vec!["a"; n]),
    },
    Case {
        bound: "spec.initContainers[].env",
        pointer: "/spec/initContainers/0/env",
        make: env,
    },
    Case {
        bound: "spec.initContainers[].env[].name",
        pointer: "/spec/initContainers/0/env",
        make: |n| json!([{"name": "A".repeat(n)}]),
    },
    Case {
        bound: "spec.initContainers[].resources.claims",
        pointer: "/spec/initContainers/0/resources",
        make: claims,
    },
    Case {
        bound: "spec.initContainers[].resources.limits",
        pointer: "/spec/initContainers/0/resources",
        make: limits,
    },
    Case {
        bound: "spec.initContainers[].resources.requests",
        pointer: "/spec/initContainers/0/resources",
        make: requests,
    },
];
