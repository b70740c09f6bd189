//! Non-apply patches: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge
//! patch. Each turns the stored object into a candidate; the store then treats the
//! candidate exactly like a PUT body (preconditions, status split, ownership, no-op check).

use super::fields::{ListType, item_key, list_type};
use serde_json::{Map, Value};

pub(crate) fn merge_patch(doc: &mut Value, patch: &Value) {
    json_patch::merge(doc, patch);
}

/// RFC 6902, with the one leniency of the Go implementation the apiserver uses that
/// kube-runtime's finalizer helper depends on: `test` of a missing path against `null`
/// passes (it sends `test /metadata/finalizers == null` before adding the first finalizer).
pub(crate) fn json_patch(doc: &mut Value, patch: &Value) -> Result<(), String> {
    let ops: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| format!("invalid JSON patch: {e}"))?;
    for op in &ops.0 {
        if let json_patch::PatchOperation::Test(t) = op
            && t.value.is_null()
            && doc.pointer(t.path.as_str()).is_none()
        {
            continue;
        }
        json_patch::patch(doc, std::slice::from_ref(op)).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Strategic merge patch: a merge patch in which lists with a merge key (the same table SSA
/// uses) merge item by item, `finalizers` merge as a set, and the `$patch: delete|replace`
/// directives are honoured. Other `$` directives (`$setElementOrder`, `$retainKeys`, ...)
/// only tune ordering/pruning and are dropped.
pub(crate) fn strategic_merge(doc: &mut Value, patch: &Value) {
    smp(doc, patch);
}

fn smp(doc: &mut Value, patch: &Value) {
    let Some(p) = patch.as_object() else {
        *doc = patch.clone();
        return;
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            *doc = strip_directives(patch);
            return;
        }
        Some("delete") => {
            *doc = Value::Object(Map::new());
            return;
        }
        _ => {}
    }
    if !doc.is_object() {
        *doc = Value::Object(Map::new());
    }
    let d = doc.as_object_mut().expect("object");
    for (k, pv) in p {
        if k.starts_with('$') {
            continue;
        }
        if pv.is_null() {
            d.remove(k);
            continue;
        }
        match (d.get_mut(k), pv) {
            (Some(dv @ Value::Object(_)), Value::Object(_)) => smp(dv, pv),
            (Some(Value::Array(items)), Value::Array(pitems)) => merge_list(k, items, pitems),
            _ => {
                d.insert(k.clone(), strip_directives(pv));
            }
        }
    }
}

fn merge_list(field: &str, items: &mut Vec<Value>, patch_items: &[Value]) {
    let all: Vec<Value> = items.iter().chain(patch_items).cloned().collect();
    match list_type(field, &all) {
        ListType::Atomic => *items = patch_items.iter().map(strip_directives).collect(),
        ListType::Set => {
            for v in patch_items {
                if !items.contains(v) {
                    items.push(v.clone());
                }
            }
        }
        ListType::Map(keys) => {
            for pi in patch_items {
                let key = item_key(pi, &keys);
                let pos = items.iter().position(|i| item_key(i, &keys) == key);
                let delete = pi.get("$patch").and_then(Value::as_str) == Some("delete");
                match (pos, delete) {
                    (Some(i), true) => {
                        items.remove(i);
                    }
                    (None, true) => {}
                    (Some(i), false) => smp(&mut items[i], pi),
                    (None, false) => items.push(strip_directives(pi)),
                }
            }
        }
    }
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, v)| !k.starts_with('$') && !v.is_null())
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}
