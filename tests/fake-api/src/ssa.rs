//! Server-side apply and field ownership, modelled on structured-merge-diff's `Updater`:
//!
//! * `apply_merge` merges an apply configuration into the live object by schema (maps by
//!   key, associative lists by their keys, sets by value, everything else atomic);
//! * `apply` prunes what the manager applied last time and no longer applies (unless another
//!   manager owns it), detects conflicts with other managers (fields they own that the apply
//!   adds or changes), and with `force` moves ownership;
//! * `update_ownership` records non-apply writes as `operation: Update` entries, taking the
//!   changed fields away from every other manager, as the real server does.
//!
//! Managers are keyed by (manager, operation, subresource): an `Update` entry and an `Apply`
//! entry with the same manager name are different owners, as on a real server.

use super::fields::{self, FieldSet, ListType, Path, item_key, list_type};
use super::store::ApiError;
use serde_json::{Map, Value, json};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Manager {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: Option<String>,
    pub subresource: String,
    pub set: FieldSet,
}

impl Manager {
    fn same_owner(&self, manager: &str, operation: &str, sub: &str) -> bool {
        self.manager == manager && self.operation == operation && self.subresource == sub
    }

    /// How the real server names a manager in conflict messages.
    fn describe(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == "Update" {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }
}

pub(crate) fn read_managers(obj: &Value) -> Vec<Manager> {
    let Some(entries) = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    entries
        .iter()
        .map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            Manager {
                manager: s("manager"),
                operation: s("operation"),
                api_version: s("apiVersion"),
                time: e.get("time").and_then(Value::as_str).map(String::from),
                subresource: s("subresource"),
                set: fields::from_fields_v1(e.get("fieldsV1").unwrap_or(&Value::Null)),
            }
        })
        .collect()
}

/// Store managers into `metadata.managedFields`, sorted as the real server sorts them.
pub(crate) fn write_managers(obj: &mut Value, mut ms: Vec<Manager>) {
    ms.retain(|m| !m.set.is_empty());
    ms.sort_by(|a, b| {
        (&a.operation, &a.time, &a.manager, &a.subresource).cmp(&(
            &b.operation,
            &b.time,
            &b.manager,
            &b.subresource,
        ))
    });
    let entries: Vec<Value> = ms
        .iter()
        .map(|m| {
            let mut e = json!({
                "manager": m.manager,
                "operation": m.operation,
                "apiVersion": m.api_version,
                "fieldsType": "FieldsV1",
                "fieldsV1": fields::to_fields_v1(&m.set),
            });
            if let Some(t) = &m.time {
                e["time"] = json!(t);
            }
            if !m.subresource.is_empty() {
                e["subresource"] = json!(m.subresource);
            }
            e
        })
        .collect();
    let meta = obj
        .as_object_mut()
        .expect("object")
        .entry("metadata")
        .or_insert_with(|| json!({}));
    if entries.is_empty() {
        meta.as_object_mut()
            .expect("metadata")
            .remove("managedFields");
    } else {
        meta["managedFields"] = Value::Array(entries);
    }
}

/// Merge an apply configuration into `live` by schema. `null`s in the configuration are
/// skipped (typed clients never send them for fields they mean to own).
pub(crate) fn apply_merge(live: &Value, config: &Value) -> Value {
    merge_val(live, config, "")
}

fn merge_val(live: &Value, config: &Value, field: &str) -> Value {
    match (live, config) {
        (Value::Object(l), Value::Object(c)) => {
            let mut out = l.clone();
            for (k, cv) in c {
                if cv.is_null() {
                    continue;
                }
                let merged = match l.get(k) {
                    Some(lv) => merge_val(lv, cv, k),
                    None => merge_val(&Value::Null, cv, k),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(c)) => {
            let all: Vec<Value> = l.iter().chain(c).cloned().collect();
            match list_type(field, &all) {
                ListType::Atomic => config.clone(),
                ListType::Set => {
                    let mut out = l.clone();
                    for v in c {
                        if !out.contains(v) {
                            out.push(v.clone());
                        }
                    }
                    Value::Array(out)
                }
                ListType::Map(keys) => {
                    let mut out = l.clone();
                    for ci in c {
                        let key = item_key(ci, &keys);
                        match out.iter().position(|i| item_key(i, &keys) == key) {
                            Some(i) => out[i] = merge_val(&out[i], ci, ""),
                            None => out.push(merge_val(&Value::Null, ci, "")),
                        }
                    }
                    Value::Array(out)
                }
            }
        }
        (_, Value::Object(c)) => {
            merge_val(&Value::Object(Map::new()), &Value::Object(c.clone()), field)
        }
        (_, c) => c.clone(),
    }
}

/// Who is writing and how.
pub(crate) struct Actor {
    pub manager: String,
    pub subresource: Option<String>,
    pub api_version: String,
    pub status_split: bool,
    pub now: String,
}

impl Actor {
    fn sub(&self) -> &str {
        self.subresource.as_deref().unwrap_or("")
    }
}

/// Paths of `old` vs `new`, ignoring what the server never tracks.
fn comparison(old: &Value, new: &Value, a: &Actor) -> (FieldSet, FieldSet) {
    let c = fields::compare(old, new);
    let changed: FieldSet = c.added.union(&c.modified).cloned().collect();
    (
        fields::strip_ignored(changed, a.status_split, a.subresource.as_deref()),
        c.removed,
    )
}

/// Ownership after a non-apply write (create, update, merge/JSON/strategic patch).
pub(crate) fn update_ownership(old: &Value, new: &Value, a: &Actor) -> Vec<Manager> {
    let mut ms = read_managers(old);
    let (changed, removed) = comparison(old, new, a);
    let mut mine: FieldSet = FieldSet::new();
    let mut found = false;
    for m in ms.iter_mut() {
        if m.same_owner(&a.manager, "Update", a.sub()) {
            mine = m.set.clone();
            found = true;
            continue;
        }
        m.set = m
            .set
            .difference(&changed)
            .filter(|p| !removed.contains(*p))
            .cloned()
            .collect();
    }
    let mut set: FieldSet = mine.union(&changed).cloned().collect();
    set.retain(|p| !removed.contains(p));
    // The entry's time moves only when the write changes something (no-ops keep it).
    let changes = !changed.is_empty() || !removed.is_empty();
    if found {
        for m in ms.iter_mut() {
            if m.same_owner(&a.manager, "Update", a.sub()) {
                if changes {
                    m.time = Some(a.now.clone());
                }
                m.set = set.clone();
            }
        }
    } else if !set.is_empty() {
        ms.push(Manager {
            manager: a.manager.clone(),
            operation: "Update".into(),
            api_version: a.api_version.clone(),
            time: Some(a.now.clone()),
            subresource: a.sub().to_string(),
            set,
        });
    }
    ms
}

/// Server-side apply of `config` onto `live` (an empty skeleton when creating). `finish`
/// turns the merged object into the object that would be stored (status split, server
/// metadata, defaults) so that conflicts are computed on what really changes.
pub(crate) fn apply(
    live: &Value,
    config: &Value,
    a: &Actor,
    force: bool,
    finish: &dyn Fn(Value) -> Value,
) -> Result<(Value, Vec<Manager>), ApiError> {
    let mut ms = read_managers(live);
    let applied = fields::strip_ignored(
        fields::apply_set(config),
        a.status_split,
        a.subresource.as_deref(),
    );
    let last = ms
        .iter()
        .find(|m| m.same_owner(&a.manager, "Apply", a.sub()))
        .map(|m| m.set.clone())
        .unwrap_or_default();
    let others: FieldSet = ms
        .iter()
        .filter(|m| !m.same_owner(&a.manager, "Apply", a.sub()))
        .flat_map(|m| m.set.iter().cloned())
        .collect();

    let mut merged = apply_merge(live, config);
    // Fields this manager applied before and no longer applies are removed, unless someone
    // else owns them. Shallow paths first, so a removed item takes its children with it.
    let mut gone: Vec<&Path> = last
        .iter()
        .filter(|p| !applied.contains(*p) && !others.contains(*p))
        .collect();
    gone.sort_by_key(|p| p.len());
    for p in gone {
        fields::remove_path(&mut merged, p);
    }
    let new = finish(merged);

    let (changed, removed) = comparison(live, &new, a);
    let mut conflicts: Vec<(String, Path)> = Vec::new();
    for m in ms.iter() {
        if m.same_owner(&a.manager, "Apply", a.sub()) {
            continue;
        }
        for p in m.set.intersection(&changed) {
            conflicts.push((m.describe(), p.clone()));
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflict_error(&conflicts));
    }
    for m in ms.iter_mut() {
        if m.same_owner(&a.manager, "Apply", a.sub()) {
            continue;
        }
        m.set
            .retain(|p| !changed.contains(p) && !removed.contains(p));
    }
    let changes = !changed.is_empty() || !removed.is_empty();
    match ms
        .iter_mut()
        .find(|m| m.same_owner(&a.manager, "Apply", a.sub()))
    {
        Some(m) => {
            if m.set != applied || changes {
                m.time = Some(a.now.clone());
            }
            m.set = applied;
        }
        None => ms.push(Manager {
            manager: a.manager.clone(),
            operation: "Apply".into(),
            api_version: a.api_version.clone(),
            time: Some(a.now.clone()),
            subresource: a.sub().to_string(),
            set: applied,
        }),
    }
    Ok((new, ms))
}

/// The 409 the real server returns (message format of apiserver's `NewConflictError`).
fn conflict_error(conflicts: &[(String, Path)]) -> ApiError {
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(m, p)| {
            json!({
                "reason": "FieldManagerConflict",
                "message": format!("conflict with {m}"),
                "field": fields::path_string(p),
            })
        })
        .collect();
    let message = if conflicts.len() == 1 {
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            conflicts[0].0,
            fields::path_string(&conflicts[0].1)
        )
    } else {
        let mut by_manager: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
        for (m, p) in conflicts {
            by_manager
                .entry(m.as_str())
                .or_default()
                .push(fields::path_string(p));
        }
        let mut lines = Vec::new();
        for (m, ps) in by_manager {
            lines.push(format!("conflicts with {m}:"));
            lines.extend(ps.into_iter().map(|p| format!("- {p}")));
        }
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            lines.join("\n")
        )
    };
    ApiError::new(409, "Conflict", message).with_details(json!({ "causes": causes }))
}
