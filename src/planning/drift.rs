//! Drift: which desired fields a live child lacks or holds with another value.
//!
//! Extra live fields (set by the API server or other tools) are never drift. Quantities compare
//! by value (`0.5` equals `500m`), items of associative lists by their key, and zero values the
//! API server does not store equal absent ones. Pure; it must not decide what to write (that is
//! [`super::plan`]).

use serde_json::Value;

use super::ANNOTATION_DESIRED_HASH;
use crate::children::ChildKind;
use crate::quantity;

/// True when the live child of `kind` differs from `desired` in anything the operator owns:
/// our intent changed (another desired hash), or a field the kind compares drifted.
pub fn needs_apply(kind: ChildKind, desired: &Value, live: &Value) -> bool {
    let hash = |v: &Value| {
        v.pointer("/metadata/annotations")
            .and_then(|a| a.get(ANNOTATION_DESIRED_HASH))
            .cloned()
    };
    hash(desired) != hash(live) || !kind.entry().differences(desired, live).is_empty()
}

/// Keys that identify items of the associative lists the operator writes, in the order they
/// are tried (`mountPath` before `name`: volume mounts are keyed by path).
const LIST_KEYS: [&str; 5] = ["mountPath", "containerPort", "uid", "topologyKey", "name"];

/// Keys whose string values are quantities.
fn is_quantity_context(key: Option<&str>, parent: Option<&str>) -> bool {
    matches!(key, Some("sizeLimit" | "storage")) || matches!(parent, Some("limits" | "requests"))
}

/// A desired field the live object lacks or holds with another value.
#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    /// Where, e.g. `spec.template.spec.containers[name=app].image`.
    pub path: String,
    /// The value the operator wants.
    pub desired: Value,
    /// The value the live object has (`None`: absent).
    pub live: Option<Value>,
}

/// Every desired field that the live object lacks or holds with another value (extra live
/// fields, set by the API server or other tools, are not differences). The desired-hash
/// annotation is bookkeeping and not compared here.
pub fn differences(desired: &Value, live: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut desired = desired.clone();
    if let Some(a) = desired
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.remove(ANNOTATION_DESIRED_HASH);
    }
    collect(&desired, Some(live), None, None, String::new(), &mut out);
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn collect(
    desired: &Value,
    live: Option<&Value>,
    key: Option<&str>,
    parent: Option<&str>,
    path: String,
    out: &mut Vec<Difference>,
) {
    let differ = |out: &mut Vec<Difference>| {
        out.push(Difference {
            path: path.clone(),
            desired: desired.clone(),
            live: live.cloned(),
        })
    };
    match (desired, live) {
        // An empty desired map or list equals an absent one (the server drops them), and so
        // does a zero value the server's Go types omit.
        (d, None | Some(Value::Null)) => {
            if !is_empty(d) && !dropped_by_server(key, d) {
                differ(out);
            }
        }
        // Zero means "the default" for these probe fields; the server stores the default.
        (Value::Number(n), Some(_))
            if n.as_i64() == Some(0) && key.is_some_and(|k| PROBE_DEFAULTED.contains(&k)) => {}
        (Value::Object(d), Some(Value::Object(l))) => {
            for (k, dv) in d {
                collect(dv, l.get(k), Some(k), key, join(&path, k), out);
            }
        }
        (Value::Array(d), Some(Value::Array(l))) => {
            let keyed = d
                .first()
                .and_then(|item| LIST_KEYS.iter().find(|k| item.get(**k).is_some()));
            match keyed {
                // Associative list: each desired item must be present; items others added
                // are theirs (the contract check handles the ones that matter).
                Some(list_key) => {
                    for item in d {
                        let id = item.get(*list_key).cloned().unwrap_or(Value::Null);
                        let found = l.iter().find(|li| li.get(*list_key) == Some(&id));
                        let id_text = id
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| id.to_string());
                        let item_path = format!("{path}[{list_key}={id_text}]");
                        collect(item, found, key, parent, item_path, out);
                    }
                }
                // Atomic list: same length, same items in order.
                None => {
                    let mut inner = Vec::new();
                    if d.len() == l.len() {
                        for (i, (dv, lv)) in d.iter().zip(l).enumerate() {
                            collect(
                                dv,
                                Some(lv),
                                key,
                                parent,
                                format!("{path}[{i}]"),
                                &mut inner,
                            );
                        }
                    }
                    if d.len() != l.len() || !inner.is_empty() {
                        differ(out);
                    }
                }
            }
        }
        (Value::String(d), Some(Value::String(l))) if d != l => {
            if !(is_quantity_context(key, parent) && quantity::same_value(d, l)) {
                differ(out);
            }
        }
        (Value::Null, _) => {}
        (d, Some(l)) => {
            if d != l {
                differ(out);
            }
        }
    }
}

/// Boolean fields of the core types that Go serializes with `omitempty` (they are not
/// pointers): the API server never returns them as `false`.
const OMITEMPTY_BOOLS: [&str; 7] = [
    "readOnly",
    "hostNetwork",
    "hostPID",
    "hostIPC",
    "stdin",
    "stdinOnce",
    "tty",
];

/// Probe fields where 0 is replaced by a default (or omitted) by the API server.
const PROBE_DEFAULTED: [&str; 5] = [
    "initialDelaySeconds",
    "timeoutSeconds",
    "periodSeconds",
    "successThreshold",
    "failureThreshold",
];

/// True for a desired zero value the API server does not store: `false` in an `omitempty`
/// boolean, an empty string in an `omitempty` string field, a defaulted probe zero. Without this
/// rule such a field would look like drift for ever and be re-applied on every pass.
fn dropped_by_server(key: Option<&str>, desired: &Value) -> bool {
    match desired {
        Value::Bool(false) => key.is_some_and(|k| OMITEMPTY_BOOLS.contains(&k)),
        Value::String(s) => s.is_empty(),
        Value::Number(n) => {
            n.as_i64() == Some(0) && key.is_some_and(|k| PROBE_DEFAULTED.contains(&k))
        }
        _ => false,
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planning::stamp;
    use crate::planning::tests::{deployment, live_of};
    use serde_json::json;

    #[test]
    fn server_defaults_and_canonical_quantities_are_not_changes() {
        let desired = stamp(ChildKind::Deployment, deployment()).object;
        let live = live_of(&desired);
        assert_eq!(differences(&desired, &live), vec![]);
        assert!(!needs_apply(ChildKind::Deployment, &desired, &live));
    }

    #[test]
    fn a_new_intent_is_a_change_even_when_fields_match() {
        let old = stamp(ChildKind::Deployment, deployment()).object;
        let mut changed = deployment();
        changed["metadata"]["labels"] = json!({});
        let new = stamp(ChildKind::Deployment, changed).object;
        // The live object still has the old label: SSA must run to remove it.
        assert!(needs_apply(ChildKind::Deployment, &new, &live_of(&old)));
    }

    #[test]
    fn drift_is_found_with_its_path() {
        let desired = stamp(ChildKind::Deployment, deployment()).object;
        let mut live = live_of(&desired);
        live["spec"]["replicas"] = json!(5);
        live["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] =
            json!(false);
        live["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["--a"]);
        let paths: Vec<String> = differences(&desired, &live)
            .into_iter()
            .map(|d| d.path)
            .collect();
        assert_eq!(
            paths,
            [
                "spec.replicas",
                "spec.template.spec.containers[name=app].args",
                "spec.template.spec.containers[name=app].securityContext.readOnlyRootFilesystem",
            ]
        );
        assert!(needs_apply(ChildKind::Deployment, &desired, &live));
    }

    #[test]
    fn items_others_add_to_keyed_lists_are_not_drift() {
        let desired = stamp(ChildKind::Deployment, deployment()).object;
        let mut live = live_of(&desired);
        live["spec"]["template"]["spec"]["volumes"]
            .as_array_mut()
            .unwrap()
            .insert(0, json!({"name": "extra", "emptyDir": {}}));
        assert!(
            !needs_apply(ChildKind::Deployment, &desired, &live),
            "the contract check removes these, not apply"
        );
        live["spec"]["template"]["spec"]["volumes"] = json!([{"name": "extra", "emptyDir": {}}]);
        assert!(
            needs_apply(ChildKind::Deployment, &desired, &live),
            "our own volume missing is drift"
        );
    }

    #[test]
    fn missing_and_empty_values() {
        let desired = json!({"a": {}, "b": [], "c": null, "d": {"e": 1}});
        assert!(differences(&desired, &json!({"d": {"e": 1}})).is_empty());
        let diffs = differences(&desired, &json!({}));
        assert_eq!(diffs.len(), 1);
        assert_eq!(diffs[0].path, "d");
        assert_eq!(diffs[0].live, None);
    }

    #[test]
    fn zero_values_the_server_drops_are_not_drift() {
        let desired = json!({"spec": {"hostNetwork": false, "containers": [{"name": "app",
            "env": [{"name": "E", "value": ""}],
            "volumeMounts": [{"name": "v", "mountPath": "/tmp", "readOnly": false}],
            "readinessProbe": {"periodSeconds": 0, "initialDelaySeconds": 0, "tcpSocket": {"port": 1}}}]}});
        let live = json!({"spec": {"containers": [{"name": "app",
            "env": [{"name": "E"}],
            "volumeMounts": [{"name": "v", "mountPath": "/tmp"}],
            "readinessProbe": {"periodSeconds": 10, "timeoutSeconds": 1, "tcpSocket": {"port": 1}}}]}});
        assert_eq!(differences(&desired, &live), vec![]);
        // A pointer boolean (no omitempty) that is missing is still drift.
        let d = json!({"securityContext": {"readOnlyRootFilesystem": false}});
        assert_eq!(differences(&d, &json!({"securityContext": {}})).len(), 1);
        // And a true that became false is drift.
        let d = json!({"readOnly": true});
        assert_eq!(differences(&d, &json!({})).len(), 1);
    }

    #[test]
    fn quantities_compare_by_value_only_where_they_are_quantities() {
        let d = json!({"data": {"size": "1k"}, "resources": {"limits": {"memory": "1Gi"}}});
        let l = json!({"data": {"size": "1000"}, "resources": {"limits": {"memory": "1024Mi"}}});
        let paths: Vec<String> = differences(&d, &l).into_iter().map(|x| x.path).collect();
        assert_eq!(paths, ["data.size"]);
    }
}
