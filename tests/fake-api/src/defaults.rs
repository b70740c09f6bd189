//! Defaulting the real API server applies on every write for the built-in types an operator
//! creates (from `pkg/apis/apps/v1/defaults.go`, `pkg/apis/core/v1/defaults.go` and
//! `pkg/apis/networking/v1/defaults.go`). It
//! matters for fidelity: a client that compares what it wants with what it reads back sees
//! these fields, and a re-apply that omits them must still be a no-op.

use super::store::KindInfo;
use serde_json::{Value, json};

fn set_default(o: &mut Value, field: &str, v: Value) {
    if let Some(m) = o.as_object_mut() {
        m.entry(field).or_insert(v);
    }
}

pub(crate) fn apply(k: &KindInfo, obj: &mut Value) {
    match (k.group.as_str(), k.plural.as_str()) {
        ("apps", "deployments") => {
            let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) else {
                return;
            };
            set_default(spec, "replicas", json!(1));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "progressDeadlineSeconds", json!(600));
            set_default(spec, "strategy", json!({"type": "RollingUpdate"}));
            if spec.pointer("/strategy/type") == Some(&json!("RollingUpdate")) {
                set_default(
                    &mut spec["strategy"],
                    "rollingUpdate",
                    json!({"maxUnavailable": "25%", "maxSurge": "25%"}),
                );
            }
            if let Some(pod) = spec.pointer_mut("/template/spec") {
                pod_spec(pod);
            }
        }
        ("", "pods") => {
            if let Some(pod) = obj.get_mut("spec") {
                pod_spec(pod);
            }
        }
        ("", "persistentvolumeclaims") => {
            if let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) {
                set_default(spec, "volumeMode", json!("Filesystem"));
                resources(spec);
            }
        }
        ("networking.k8s.io", "networkpolicies") => {
            if let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) {
                network_policy(spec);
            }
        }
        _ => {}
    }
}

/// `pkg/apis/networking/v1/defaults.go`: `policyTypes` from the rules when omitted (Ingress
/// always, Egress too when there are egress rules), `protocol: TCP` on every port.
fn network_policy(spec: &mut Value) {
    let has_egress = spec
        .get("egress")
        .and_then(Value::as_array)
        .is_some_and(|e| !e.is_empty());
    let omitted = spec
        .get("policyTypes")
        .and_then(Value::as_array)
        .is_none_or(|t| t.is_empty());
    if omitted {
        let types = if has_egress {
            json!(["Ingress", "Egress"])
        } else {
            json!(["Ingress"])
        };
        spec["policyTypes"] = types;
    }
    for list in ["ingress", "egress"] {
        if let Some(Value::Array(rules)) = spec.get_mut(list) {
            for rule in rules.iter_mut() {
                if let Some(Value::Array(ports)) = rule.get_mut("ports") {
                    for p in ports.iter_mut() {
                        set_default(p, "protocol", json!("TCP"));
                    }
                }
            }
        }
    }
}

fn pod_spec(pod: &mut Value) {
    if !pod.is_object() {
        return;
    }
    go_omitempty(pod);
    set_default(pod, "restartPolicy", json!("Always"));
    set_default(pod, "terminationGracePeriodSeconds", json!(30));
    set_default(pod, "dnsPolicy", json!("ClusterFirst"));
    set_default(pod, "securityContext", json!({}));
    set_default(pod, "schedulerName", json!("default-scheduler"));
    for list in ["containers", "initContainers"] {
        if let Some(Value::Array(cs)) = pod.get_mut(list) {
            for c in cs.iter_mut() {
                container(c);
            }
        }
    }
}

/// Boolean fields of the core types that Go serializes with `omitempty` (not pointers): the
/// real server never returns them as `false`.
const OMITEMPTY_BOOLS: [&str; 7] = [
    "readOnly",
    "hostNetwork",
    "hostPID",
    "hostIPC",
    "stdin",
    "stdinOnce",
    "tty",
];

/// What a write through the real server's Go types loses: `false` in `omitempty` booleans and
/// empty strings in `omitempty` string fields (map values, e.g. ConfigMap data, are kept).
fn go_omitempty(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, x| {
                !(x == &Value::Bool(false) && OMITEMPTY_BOOLS.contains(&k.as_str())
                    || x == &Value::String(String::new()) && k != "data")
            });
            for x in m.values_mut() {
                go_omitempty(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(go_omitempty),
        _ => {}
    }
}

/// Probe defaults (`SetDefaults_Probe`): zero means "use the default".
fn probe(p: &mut Value) {
    let Some(m) = p.as_object_mut() else { return };
    for (field, default) in [
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ] {
        if m.get(field).is_none_or(|v| v == &json!(0)) {
            m.insert(field.to_string(), json!(default));
        }
    }
    if m.get("initialDelaySeconds") == Some(&json!(0)) {
        m.remove("initialDelaySeconds");
    }
}

/// A small part of the server's canonical quantity form, enough to exercise clients that must
/// compare quantities by value: a plain decimal fraction becomes millis (`0.5` -> `500m`) and a
/// binary suffix moves up while it divides evenly (`1024Mi` -> `1Gi`).
fn canonical_quantity(q: &str) -> String {
    if let Some((int, frac)) = q.split_once('.')
        && !frac.is_empty()
        && frac.len() <= 3
        && (int.chars().chain(frac.chars())).all(|c| c.is_ascii_digit())
    {
        let millis: u64 = format!("{int}{frac:0<3}").parse().unwrap_or(0);
        return if millis.is_multiple_of(1000) {
            format!("{}", millis / 1000)
        } else {
            format!("{millis}m")
        };
    }
    const SUFFIXES: [&str; 6] = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    for (i, suffix) in SUFFIXES.iter().enumerate() {
        if let Some(n) = q.strip_suffix(suffix).and_then(|n| n.parse::<u64>().ok()) {
            let (mut n, mut i) = (n, i);
            while n >= 1024 && n.is_multiple_of(1024) && i + 1 < SUFFIXES.len() {
                n /= 1024;
                i += 1;
            }
            return format!("{n}{}", SUFFIXES[i]);
        }
    }
    q.to_string()
}

fn resources(c: &mut Value) {
    for list in ["limits", "requests"] {
        if let Some(Value::Object(m)) = c.pointer_mut(&format!("/resources/{list}")) {
            for v in m.values_mut() {
                if let Some(q) = v.as_str() {
                    *v = Value::String(canonical_quantity(q));
                }
            }
        }
    }
}

fn container(c: &mut Value) {
    resources(c);
    for name in ["readinessProbe", "livenessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(name) {
            probe(p);
        }
    }
    set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "terminationMessagePolicy", json!("File"));
    let image = c.get("image").and_then(Value::as_str).unwrap_or("");
    let last = image.rsplit('/').next().unwrap_or("");
    let policy = if !last.contains(':') && !image.contains('@') || image.ends_with(":latest") {
        "Always"
    } else {
        "IfNotPresent"
    };
    set_default(c, "imagePullPolicy", json!(policy));
    if let Some(Value::Array(ports)) = c.get_mut("ports") {
        for p in ports.iter_mut() {
            set_default(p, "protocol", json!("TCP"));
        }
    }
}
