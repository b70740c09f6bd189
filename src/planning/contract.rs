//! The statelessness contract on live Deployments: what others added that breaks it, and the
//! guarded JSON patch that removes it.
//!
//! A forced apply cannot remove such additions (they belong to another field manager, so apply
//! leaves them in place), hence a separate, guarded removal. Pure.

use serde_json::{Value, json};

/// Something in a live Deployment that breaks the statelessness contract and that a forced
/// apply cannot remove (it is owned by another field manager, so apply leaves it in place).
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    /// Human description, e.g. `volume "host" (hostPath)`.
    pub what: String,
    /// JSON pointer of the list item to remove.
    pub pointer: String,
    /// The item's key field and value, tested before removal so a concurrent change is never
    /// removed blindly.
    pub test: (String, Value),
    /// Path of the item in `managedFields` (`fieldsV1`), to name who added it.
    pub managed_path: Vec<String>,
}

fn key_json(key: &str, value: &Value) -> String {
    format!("k:{}", json!({ key: value }))
}

/// What the live Deployment has that the contract forbids: volumes, containers, init
/// containers (sidecars included) or volume mounts the operator did not declare, and added
/// capabilities. Declared sidecars and init containers are told from injected ones by name: a
/// container the desired Deployment lists is ours (any other difference in it is drift, set
/// back by the forced apply), one it does not list is a violation.
pub fn contract_violations(desired: &Value, live: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    let pod = "/spec/template/spec";
    let names = |v: &Value, list: &str, key: &str| -> Vec<Value> {
        v.pointer(&format!("{pod}/{list}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|item| item.get(key).cloned())
            .collect()
    };
    let base = ["f:spec", "f:template", "f:spec"]
        .map(String::from)
        .to_vec();
    for (list, key, noun) in [
        ("volumes", "name", "volume"),
        ("containers", "name", "container"),
        ("initContainers", "name", "init container"),
    ] {
        let wanted = names(desired, list, key);
        for (i, item) in live
            .pointer(&format!("{pod}/{list}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let id = item.get(key).cloned().unwrap_or(Value::Null);
            if wanted.contains(&id) {
                continue;
            }
            let source = item
                .as_object()
                .and_then(|m| m.keys().find(|k| *k != key))
                .map(|k| format!(" ({k})"))
                .filter(|_| list == "volumes")
                .unwrap_or_default();
            let mut managed_path = base.clone();
            managed_path.push(format!("f:{list}"));
            managed_path.push(key_json(key, &id));
            out.push(Violation {
                what: format!("{noun} {id}{source}"),
                pointer: format!("{pod}/{list}/{i}"),
                test: (key.to_string(), id),
                managed_path,
            });
        }
    }
    // Inside every declared container (the application container, the declared sidecars and
    // init containers): extra mounts and added capabilities. Containers that are not declared
    // were reported above as a whole.
    for (list, noun) in [
        ("containers", "container"),
        ("initContainers", "init container"),
    ] {
        let declared = |v: &Value| -> Vec<(usize, Value)> {
            v.pointer(&format!("{pod}/{list}"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .cloned()
                .enumerate()
                .collect()
        };
        let live_containers = declared(live);
        for (_, want) in declared(desired) {
            let Some(name) = want.get("name").and_then(Value::as_str) else {
                continue;
            };
            let Some((index, have)) = live_containers
                .iter()
                .find(|(_, c)| c.get("name").and_then(Value::as_str) == Some(name))
            else {
                continue;
            };
            container_violations(&base, (list, noun), name, &want, (*index, have), &mut out);
        }
    }
    out
}

/// Extra volume mounts and added capabilities in the live container `name` of `list` (at
/// `index`) that the desired one lacks.
fn container_violations(
    base: &[String],
    (list, noun): (&str, &str),
    name: &str,
    want: &Value,
    (index, have): (usize, &Value),
    out: &mut Vec<Violation>,
) {
    let pod = "/spec/template/spec";
    let wanted: Vec<&Value> = want
        .get("volumeMounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("mountPath"))
        .collect();
    let mut container_path = base.to_vec();
    container_path.push(format!("f:{list}"));
    container_path.push(key_json("name", &json!(name)));
    for (i, mount) in have
        .get("volumeMounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let path = mount.get("mountPath").cloned().unwrap_or(Value::Null);
        if wanted.contains(&&path) {
            continue;
        }
        let mut managed_path = container_path.clone();
        managed_path.push("f:volumeMounts".to_string());
        managed_path.push(key_json("mountPath", &path));
        out.push(Violation {
            what: format!("volume mount {path} in {noun} {name}"),
            pointer: format!("{pod}/{list}/{index}/volumeMounts/{i}"),
            test: ("mountPath".to_string(), path),
            managed_path,
        });
    }
    if let Some(added) = have
        .pointer("/securityContext/capabilities/add")
        .and_then(Value::as_array)
        && !added.is_empty()
    {
        let mut managed_path = container_path;
        managed_path.extend(["f:securityContext", "f:capabilities", "f:add"].map(String::from));
        out.push(Violation {
            what: format!(
                "added capabilities {} in {noun} {name}",
                Value::Array(added.clone())
            ),
            pointer: format!("{pod}/{list}/{index}/securityContext/capabilities/add"),
            test: (String::new(), Value::Array(added.clone())),
            managed_path,
        });
    }
}

/// The JSON patch that removes violations, last index first so earlier indexes stay valid,
/// each removal guarded by a `test` of the item's key.
pub fn removal_patch(violations: &[Violation]) -> Vec<Value> {
    let mut sorted: Vec<&Violation> = violations.iter().collect();
    // Pointers of the same list differ only in their last index: compare indexes numerically.
    sorted.sort_by_key(|v| {
        let (prefix, last) = v.pointer.rsplit_once('/').unwrap_or((&v.pointer, ""));
        (prefix.to_string(), last.parse::<usize>().unwrap_or(0))
    });
    sorted.reverse();
    let mut ops = Vec::new();
    for v in sorted {
        let (key, value) = &v.test;
        let test_path = if key.is_empty() {
            v.pointer.clone()
        } else {
            format!("{}/{}", v.pointer, key)
        };
        ops.push(json!({"op": "test", "path": test_path, "value": value}));
        ops.push(json!({"op": "remove", "path": v.pointer}));
    }
    ops
}

/// Managers whose `fieldsV1` contain `path`.
pub fn managers_of(managed_fields: &Value, path: &[String]) -> Vec<String> {
    managed_fields
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| {
            let mut node = entry.get("fieldsV1");
            for segment in path {
                node = node.and_then(|n| n.get(segment));
            }
            node.is_some()
        })
        .filter_map(|entry| {
            entry
                .get("manager")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planning::tests::{deployment, live_of};

    #[test]
    fn contract_violations_find_every_foreign_addition() {
        let desired = deployment();
        let mut live = live_of(&desired);
        let pod = &mut live["spec"]["template"]["spec"];
        pod["volumes"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "host", "hostPath": {"path": "/"}}));
        pod["initContainers"] = json!([{"name": "init", "image": "i"}]);
        pod["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "side", "image": "s"}));
        let app = &mut pod["containers"][0];
        app["volumeMounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "host", "mountPath": "/host"}));
        app["securityContext"]["capabilities"]["add"] = json!(["SYS_ADMIN"]);
        let found = contract_violations(&desired, &live);
        let what: Vec<&str> = found.iter().map(|v| v.what.as_str()).collect();
        assert_eq!(
            what,
            [
                "volume \"host\" (hostPath)",
                "container \"side\"",
                "init container \"init\"",
                "volume mount \"/host\" in container app",
                "added capabilities [\"SYS_ADMIN\"] in container app",
            ]
        );
        assert!(contract_violations(&desired, &live_of(&desired)).is_empty());
    }

    #[test]
    fn declared_sidecars_are_not_violations_injected_ones_are() {
        let mut desired = deployment();
        desired["spec"]["template"]["spec"]["initContainers"] = json!([
            {"name": "proxy", "image": "p", "restartPolicy": "Always",
             "volumeMounts": [{"name": "scratch", "mountPath": "/tmp"}]},
            {"name": "migrate", "image": "m", "volumeMounts": [{"name": "scratch", "mountPath": "/tmp"}]}
        ]);
        let mut live = live_of(&desired);
        assert!(
            contract_violations(&desired, &live).is_empty(),
            "declared: no violation"
        );
        let pod = &mut live["spec"]["template"]["spec"];
        // A mesh-style injection: a native sidecar, its volume and a mount into our sidecar.
        pod["initContainers"].as_array_mut().unwrap().insert(
            0,
            json!({"name": "istio-proxy", "image": "i", "restartPolicy": "Always"}),
        );
        pod["initContainers"][1]["volumeMounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "istio-data", "mountPath": "/var/lib/istio"}));
        pod["initContainers"][2]["securityContext"] =
            json!({"capabilities": {"add": ["NET_ADMIN"]}});
        pod["volumes"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "istio-data", "emptyDir": {}}));
        let found = contract_violations(&desired, &live);
        let what: Vec<&str> = found.iter().map(|v| v.what.as_str()).collect();
        assert_eq!(
            what,
            [
                "volume \"istio-data\" (emptyDir)",
                "init container \"istio-proxy\"",
                "volume mount \"/var/lib/istio\" in init container proxy",
                "added capabilities [\"NET_ADMIN\"] in init container migrate",
            ]
        );
        let pointers: Vec<&str> = found.iter().map(|v| v.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/spec/template/spec/volumes/1",
                "/spec/template/spec/initContainers/0",
                "/spec/template/spec/initContainers/1/volumeMounts/1",
                "/spec/template/spec/initContainers/2/securityContext/capabilities/add",
            ]
        );
        assert_eq!(
            found[2].managed_path[3..],
            [
                "f:initContainers",
                "k:{\"name\":\"proxy\"}",
                "f:volumeMounts",
                "k:{\"mountPath\":\"/var/lib/istio\"}"
            ]
        );
    }

    #[test]
    fn removal_patch_tests_then_removes_from_the_end() {
        let v = |pointer: &str, name: &str| Violation {
            what: name.to_string(),
            pointer: pointer.to_string(),
            test: ("name".to_string(), json!(name)),
            managed_path: vec![],
        };
        let ops = removal_patch(&[
            v("/spec/template/spec/volumes/2", "a"),
            v("/spec/template/spec/volumes/10", "b"),
        ]);
        assert_eq!(
            ops,
            vec![
                json!({"op": "test", "path": "/spec/template/spec/volumes/10/name", "value": "b"}),
                json!({"op": "remove", "path": "/spec/template/spec/volumes/10"}),
                json!({"op": "test", "path": "/spec/template/spec/volumes/2/name", "value": "a"}),
                json!({"op": "remove", "path": "/spec/template/spec/volumes/2"}),
            ]
        );
    }

    #[test]
    fn managers_are_found_by_field_path() {
        let managed = json!([
            {"manager": "stateless-operator", "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:volumes": {"k:{\"name\":\"scratch\"}": {}}}}}}},
            {"manager": "intruder", "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:volumes": {"k:{\"name\":\"host\"}": {".": {}}}}}}}}
        ]);
        let path: Vec<String> = ["f:spec", "f:template", "f:spec", "f:volumes"]
            .iter()
            .map(|s| s.to_string())
            .chain([key_json("name", &json!("host"))])
            .collect();
        assert_eq!(managers_of(&managed, &path), ["intruder"]);
    }
}
