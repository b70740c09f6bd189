//! Defaulting the real API server applies on every write for the built-in types an operator
//! creates (from `pkg/apis/apps/v1/defaults.go` and `pkg/apis/core/v1/defaults.go`). It
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
            }
        }
        _ => {}
    }
}

fn pod_spec(pod: &mut Value) {
    if !pod.is_object() {
        return;
    }
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

fn container(c: &mut Value) {
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
