//! Field paths and field sets, in the shape server-side apply uses for `managedFields`.
//!
//! A path is a list of `fieldsV1` keys (`f:spec`, `k:{"name":"app"}`, `v:"x"`). A set is a
//! flat `BTreeSet` of paths; it is converted to and from the nested `fieldsV1` JSON (where
//! `".": {}` marks a node that is itself a member and has children) only at the edges.
//!
//! Which lists are associative (and by which keys), which are sets and which are atomic is
//! decided by `list_type`, a table taken from the Kubernetes OpenAPI schema markers
//! (`x-kubernetes-list-type`/`-map-keys`, `patchMergeKey`) of the built-in types an operator
//! writes. Lists not in the table are atomic, as in the real schema default.

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

pub(crate) type Path = Vec<String>;
pub(crate) type FieldSet = BTreeSet<Path>;

/// How a list merges, by the schema of the field holding it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ListType {
    Atomic,
    Set,
    Map(Vec<&'static str>),
}

/// The list type for a field name, looking at the items to tell apart the few fields whose
/// name is shared by differently shaped types (container `ports` vs Service `ports`).
pub(crate) fn list_type(field: &str, items: &[Value]) -> ListType {
    let keys: Vec<&'static str> = match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims"
        | "claims" => vec!["name"],
        "volumeMounts" => vec!["mountPath"],
        "volumeDevices" => vec!["devicePath"],
        "conditions" => vec!["type"],
        "ownerReferences" => vec!["uid"],
        "topologySpreadConstraints" => vec!["topologyKey", "whenUnsatisfiable"],
        "hostAliases" => vec!["ip"],
        "readinessGates" => vec!["conditionType"],
        "ports" => {
            let first = items.first().and_then(Value::as_object);
            match first {
                Some(o) if o.contains_key("containerPort") => vec!["containerPort", "protocol"],
                Some(o) if o.contains_key("port") => vec!["port", "protocol"],
                _ => return ListType::Atomic,
            }
        }
        "finalizers" => return ListType::Set,
        _ => return ListType::Atomic,
    };
    // Every item must carry the keys (protocol is defaulted), or the list cannot be keyed.
    let keyed = items.iter().all(|i| {
        i.as_object()
            .is_some_and(|o| keys.iter().all(|k| *k == "protocol" || o.contains_key(*k)))
    });
    if keyed {
        ListType::Map(keys)
    } else {
        ListType::Atomic
    }
}

/// The key values of an associative-list item (missing `protocol` defaults to TCP).
pub(crate) fn item_key(item: &Value, keys: &[&str]) -> BTreeMap<String, Value> {
    keys.iter()
        .map(|k| {
            let v = item.get(*k).cloned().unwrap_or_else(|| {
                if *k == "protocol" {
                    Value::String("TCP".into())
                } else {
                    Value::Null
                }
            });
            (k.to_string(), v)
        })
        .collect()
}

/// `k:{...}` path element: a JSON object of the key fields, keys sorted.
pub(crate) fn key_element(item: &Value, keys: &[&str]) -> String {
    let m: Map<String, Value> = item_key(item, keys).into_iter().collect();
    format!("k:{}", Value::Object(m))
}

pub(crate) fn set_element(v: &Value) -> String {
    format!("v:{v}")
}

/// What a node of an object is, for comparisons and for apply field sets.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    /// A scalar, null, empty map or atomic list; carries the value for `Modified` checks.
    Leaf(Value),
    /// A non-empty map or a non-atomic list: only its children are compared.
    Inner,
    /// An associative-list item or a set value: a member in its own right.
    Item,
}

/// Every node of an object, keyed by path.
pub(crate) fn nodes(v: &Value) -> BTreeMap<Path, Node> {
    let mut out = BTreeMap::new();
    if let Some(o) = v.as_object() {
        walk_obj(o, &mut Vec::new(), &mut out);
    }
    out
}

fn walk_obj(o: &Map<String, Value>, path: &mut Path, out: &mut BTreeMap<Path, Node>) {
    for (k, v) in o {
        path.push(format!("f:{k}"));
        walk_val(v, k, path, out);
        path.pop();
    }
}

fn walk_val(v: &Value, field: &str, path: &mut Path, out: &mut BTreeMap<Path, Node>) {
    match v {
        Value::Object(o) if !o.is_empty() => {
            out.insert(path.clone(), Node::Inner);
            walk_obj(o, path, out);
        }
        Value::Array(items) if !items.is_empty() => match list_type(field, items) {
            ListType::Atomic => {
                out.insert(path.clone(), Node::Leaf(v.clone()));
            }
            ListType::Set => {
                out.insert(path.clone(), Node::Inner);
                for i in items {
                    path.push(set_element(i));
                    out.insert(path.clone(), Node::Item);
                    path.pop();
                }
            }
            ListType::Map(keys) => {
                out.insert(path.clone(), Node::Inner);
                for i in items {
                    path.push(key_element(i, &keys));
                    out.insert(path.clone(), Node::Item);
                    if let Some(o) = i.as_object() {
                        walk_obj(o, path, out);
                    }
                    path.pop();
                }
            }
        },
        _ => {
            out.insert(path.clone(), Node::Leaf(v.clone()));
        }
    }
}

/// The set an apply configuration claims: leaves and list items (SMD's `ToFieldSet`).
pub(crate) fn apply_set(config: &Value) -> FieldSet {
    nodes(config)
        .into_iter()
        .filter(|(_, n)| !matches!(n, Node::Inner))
        .map(|(p, _)| p)
        .collect()
}

/// Old-vs-new comparison, as SMD's `Compare`: added and removed paths, and paths present in
/// both whose leaf value changed.
pub(crate) struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

pub(crate) fn compare(old: &Value, new: &Value) -> Comparison {
    let (o, n) = (nodes(old), nodes(new));
    let mut c = Comparison {
        added: FieldSet::new(),
        modified: FieldSet::new(),
        removed: FieldSet::new(),
    };
    for (p, nn) in &n {
        match o.get(p) {
            None => {
                c.added.insert(p.clone());
            }
            Some(on)
                if on != nn && (matches!(on, Node::Leaf(_)) || matches!(nn, Node::Leaf(_))) =>
            {
                c.modified.insert(p.clone());
            }
            _ => {}
        }
    }
    for p in o.keys() {
        if !n.contains_key(p) {
            c.removed.insert(p.clone());
        }
    }
    c
}

/// Paths the server never tracks ownership for (apiserver's `stripMeta`), plus the half of
/// the object that a write through the main resource or through `/status` resets.
pub(crate) fn is_ignored(p: &Path, status_split: bool, subresource: Option<&str>) -> bool {
    let first = p.first().map(String::as_str).unwrap_or("");
    if matches!(first, "f:apiVersion" | "f:kind") {
        return true;
    }
    if first == "f:metadata" {
        if p.len() == 1 {
            return true;
        }
        let second = p[1].as_str();
        if matches!(
            second,
            "f:name"
                | "f:namespace"
                | "f:creationTimestamp"
                | "f:selfLink"
                | "f:uid"
                | "f:generation"
                | "f:managedFields"
                | "f:resourceVersion"
                | "f:deletionTimestamp"
                | "f:deletionGracePeriodSeconds"
        ) {
            return true;
        }
    }
    match subresource {
        Some("status") => first != "f:status",
        _ => status_split && first == "f:status",
    }
}

pub(crate) fn strip_ignored(s: FieldSet, status_split: bool, sub: Option<&str>) -> FieldSet {
    s.into_iter()
        .filter(|p| !is_ignored(p, status_split, sub))
        .collect()
}

/// Nested `fieldsV1` JSON for a set.
pub(crate) fn to_fields_v1(s: &FieldSet) -> Value {
    let mut root = Map::new();
    for p in s {
        let mut cur = &mut root;
        for el in p {
            let next = cur
                .entry(el.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            cur = next.as_object_mut().expect("fieldsV1 nodes are objects");
        }
    }
    // A member that also has children is marked with ".", one without children is `{}`.
    fn fix(node: &mut Map<String, Value>, members: &FieldSet, path: &mut Path) {
        for (k, v) in node.iter_mut() {
            if k == "." {
                continue;
            }
            path.push(k.clone());
            let child = v.as_object_mut().expect("object");
            if !child.is_empty() && members.contains(path) {
                child.insert(".".into(), Value::Object(Map::new()));
            }
            fix(child, members, path);
            path.pop();
        }
    }
    fix(&mut root, s, &mut Vec::new());
    Value::Object(root)
}

pub(crate) fn from_fields_v1(v: &Value) -> FieldSet {
    fn walk(node: &Map<String, Value>, path: &mut Path, out: &mut FieldSet) {
        for (k, child) in node {
            if k == "." {
                out.insert(path.clone());
                continue;
            }
            path.push(k.clone());
            match child.as_object() {
                Some(c) if !c.is_empty() => walk(c, path, out),
                _ => {
                    out.insert(path.clone());
                }
            }
            path.pop();
        }
    }
    let mut out = FieldSet::new();
    if let Some(o) = v.as_object() {
        walk(o, &mut Vec::new(), &mut out);
    }
    out
}

/// `.spec.template.spec.containers[name="app"].image`, as the real conflict messages print.
pub(crate) fn path_string(p: &Path) -> String {
    let mut s = String::new();
    for el in p {
        if let Some(f) = el.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = el.strip_prefix("k:") {
            let m: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
            let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(v) = el.strip_prefix("v:") {
            s.push_str(&format!("[={v}]"));
        } else if let Some(i) = el.strip_prefix("i:") {
            s.push_str(&format!("[{i}]"));
        }
    }
    s
}

/// Find the array index of the item a `k:`/`v:` element names.
fn find_item(items: &[Value], el: &str, field: &str) -> Option<usize> {
    if let Some(v) = el.strip_prefix("v:") {
        let want: Value = serde_json::from_str(v).ok()?;
        return items.iter().position(|i| *i == want);
    }
    if el.starts_with("k:")
        && let ListType::Map(keys) = list_type(field, items)
    {
        return items.iter().position(|i| key_element(i, &keys) == el);
    }
    None
}

/// Remove the node at `p` from `v`; maps and lists emptied by the removal are removed too
/// (built-in types drop empty maps and lists with `omitempty`), except `metadata` itself.
pub(crate) fn remove_path(v: &mut Value, p: &[String]) -> bool {
    fn rec(v: &mut Value, p: &[String], field: &str, depth: usize) -> bool {
        let Some((el, rest)) = p.split_first() else {
            return false;
        };

        if let Some(f) = el.strip_prefix("f:") {
            let Some(o) = v.as_object_mut() else {
                return false;
            };
            if rest.is_empty() {
                o.remove(f).is_some()
            } else {
                let Some(child) = o.get_mut(f) else {
                    return false;
                };
                let r = rec(child, rest, f, depth + 1);
                if r && is_empty(child) && !(depth == 0 && f == "metadata") {
                    o.remove(f);
                }
                r
            }
        } else {
            let Some(items) = v.as_array_mut() else {
                return false;
            };
            let Some(idx) = find_item(items, el, field) else {
                return false;
            };
            if rest.is_empty() {
                items.remove(idx);
                true
            } else {
                rec(&mut items[idx], rest, field, depth + 1)
            }
        }
    }
    rec(v, p, "", 0)
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}
