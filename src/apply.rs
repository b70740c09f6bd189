//! The only module that writes to the cluster.
//!
//! It decides *whether* a child needs a write (pure: [`plan`]) and then sends exactly those
//! writes ([`Writer`]): server-side apply with one field manager for every child, a guarded
//! JSON patch to strip what breaks the statelessness contract, deletes of a disposable budget,
//! status patches and events.
//!
//! A write is sent only when the observed object differs from the desired one:
//! - every applied object carries [`ANNOTATION_DESIRED_HASH`], a hash of what we last applied;
//!   a different hash means our intent changed (and server-side apply will also remove the
//!   fields we no longer want);
//! - every desired field must be present with the same value in the observed object (extra
//!   fields set by the API server or other tools are fine); a difference is drift, reverted
//!   by a forced apply. Quantities compare by value (`0.5` equals `500m`), list items by key.
//!
//! It must not build desired objects (that is `build`) nor read caches (that is `observe`).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Client, Resource, ResourceExt};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::build::{CONTAINER_NAME, Children, LABEL_MANAGED_BY, LABEL_SERVICE, MANAGER};
use crate::crd::{StatelessService, StatelessServiceStatus};
use crate::error::{Error, request};
use crate::metrics::Metrics;
use crate::quantity;

/// The one field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "stateless-operator";
/// Hash of the object as the operator last applied it.
pub const ANNOTATION_DESIRED_HASH: &str = "stateless.dev/desired-hash";

pub use crate::build::ChildKind;

impl ChildKind {
    fn api_resource(self) -> ApiResource {
        match self {
            ChildKind::ConfigMap => ApiResource::erase::<ConfigMap>(&()),
            ChildKind::Secret => ApiResource::erase::<Secret>(&()),
            ChildKind::Claim => ApiResource::erase::<PersistentVolumeClaim>(&()),
            ChildKind::Deployment => ApiResource::erase::<Deployment>(&()),
            ChildKind::DisruptionBudget => ApiResource::erase::<PodDisruptionBudget>(&()),
        }
    }
}

/// One desired child, ready to apply: its JSON carries the desired-hash annotation.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    /// Its kind.
    pub kind: ChildKind,
    /// Its name.
    pub name: String,
    /// The object to apply.
    pub object: Value,
}

/// The children as objects to apply, in apply order, each stamped with its hash.
pub fn desired_objects(children: &Children) -> Result<Vec<Desired>, serde_json::Error> {
    Ok(children
        .objects()?
        .into_iter()
        .map(|(kind, object)| stamp(kind, object))
        .collect())
}

/// Adds the desired-hash annotation, computed over the object without it.
pub fn stamp(kind: ChildKind, mut object: Value) -> Desired {
    let hash = object_hash(&object);
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(map) = annotations.as_object_mut() {
            map.insert(ANNOTATION_DESIRED_HASH.to_string(), Value::String(hash));
        }
    }
    Desired { kind, name, object }
}

fn object_hash(object: &Value) -> String {
    // serde_json's maps are ordered by key, so the text is canonical.
    let digest = Sha256::digest(object.to_string().as_bytes());
    digest.iter().take(10).map(|b| format!("{b:02x}")).collect()
}

/// True when `live` differs from `desired` in anything the operator owns.
pub fn needs_apply(desired: &Value, live: &Value) -> bool {
    let hash = |v: &Value| {
        v.pointer("/metadata/annotations")
            .and_then(|a| a.get(ANNOTATION_DESIRED_HASH))
            .cloned()
    };
    hash(desired) != hash(live) || !differences(desired, live).is_empty()
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

/// Whose object is this?
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// Ours: controlled by this StatelessService, or labelled for it and controlled by nobody
    /// (a retained claim, or a child orphaned by `--cascade=orphan`), which is re-adopted.
    Ours,
    /// Someone else's; the reason says whose.
    Foreign(String),
}

/// Decides whether the object `meta` (the live object's metadata) belongs to the service.
pub fn ownership(meta: &Value, service: &str, uid: &str) -> Ownership {
    let controller = meta
        .get("ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|r| r.get("controller") == Some(&Value::Bool(true)));
    if let Some(owner) = controller {
        let field = |k: &str| owner.get(k).and_then(Value::as_str).unwrap_or("?");
        return if field("uid") == uid {
            Ownership::Ours
        } else {
            Ownership::Foreign(format!(
                "it is controlled by {} {} (uid {})",
                field("kind"),
                field("name"),
                field("uid")
            ))
        };
    }
    let label = |k: &str| {
        meta.pointer(&format!("/labels/{}", k.replace('/', "~1")))
            .and_then(Value::as_str)
    };
    if label(LABEL_MANAGED_BY) == Some(MANAGER) && label(LABEL_SERVICE) == Some(service) {
        Ownership::Ours
    } else {
        Ownership::Foreign(
            "it was not created by stateless-operator for this StatelessService".to_string(),
        )
    }
}

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
/// containers or volume mounts the operator did not declare, and added capabilities.
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
    // Inside the application container: extra mounts and added capabilities.
    let app = |v: &Value| -> Option<(usize, Value)> {
        v.pointer(&format!("{pod}/containers"))?
            .as_array()?
            .iter()
            .enumerate()
            .find(|(_, c)| c.get("name").and_then(Value::as_str) == Some(CONTAINER_NAME))
            .map(|(i, c)| (i, c.clone()))
    };
    if let (Some((_, want)), Some((index, have))) = (app(desired), app(live)) {
        let wanted: Vec<&Value> = want
            .get("volumeMounts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("mountPath"))
            .collect();
        let container_path = {
            let mut p = base.clone();
            p.push("f:containers".to_string());
            p.push(key_json("name", &json!(CONTAINER_NAME)));
            p
        };
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
                what: format!("volume mount {path} in container {CONTAINER_NAME}"),
                pointer: format!("{pod}/containers/{index}/volumeMounts/{i}"),
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
                    "added capabilities {} in container {CONTAINER_NAME}",
                    Value::Array(added.clone())
                ),
                pointer: format!("{pod}/containers/{index}/securityContext/capabilities/add"),
                test: (String::new(), Value::Array(added.clone())),
                managed_path,
            });
        }
    }
    out
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

/// One write to make.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Server-side apply (creates or updates).
    Apply(Desired),
    /// Strip contract violations from the Deployment.
    RemoveViolations {
        /// The Deployment's name.
        name: String,
        /// What to remove.
        violations: Vec<Violation>,
    },
    /// Delete a child that is no longer wanted (only ever a PodDisruptionBudget).
    Delete {
        /// Its kind.
        kind: ChildKind,
        /// Its name.
        name: String,
    },
}

impl Step {
    /// The kind of child the step writes.
    pub fn kind(&self) -> ChildKind {
        match self {
            Step::Apply(d) => d.kind,
            Step::RemoveViolations { .. } => ChildKind::Deployment,
            Step::Delete { kind, .. } => *kind,
        }
    }
}

/// The writes one reconcile needs, or why none may be made.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Writes, in order.
    pub steps: Vec<Step>,
    /// Children whose names are held by objects that are not ours; when any, `steps` is empty.
    pub conflicts: Vec<String>,
}

/// Plans the writes: `observed` maps each kind to the live object (JSON), when one exists.
pub fn plan(
    desired: Vec<Desired>,
    observed: &BTreeMap<ChildKind, Value>,
    service: &str,
    uid: &str,
) -> Plan {
    let mut plan = Plan::default();
    for d in &desired {
        let Some(live) = observed.get(&d.kind) else {
            continue;
        };
        if let Ownership::Foreign(reason) = ownership(&live["metadata"], service, uid) {
            plan.conflicts
                .push(format!("{} {}: {reason}", d.kind.as_str(), d.name));
        }
    }
    if !plan.conflicts.is_empty() {
        return plan;
    }
    let wanted: Vec<ChildKind> = desired.iter().map(|d| d.kind).collect();
    for d in desired {
        match observed.get(&d.kind) {
            None => plan.steps.push(Step::Apply(d)),
            Some(live) => {
                let violations = if d.kind == ChildKind::Deployment {
                    contract_violations(&d.object, live)
                } else {
                    Vec::new()
                };
                let name = d.name.clone();
                if needs_apply(&d.object, live) {
                    plan.steps.push(Step::Apply(d));
                }
                if !violations.is_empty() {
                    plan.steps.push(Step::RemoveViolations { name, violations });
                }
            }
        }
    }
    // A budget is disposable: with fewer than two replicas it would block every drain.
    if !wanted.contains(&ChildKind::DisruptionBudget)
        && let Some(live) = observed.get(&ChildKind::DisruptionBudget)
        && ownership(&live["metadata"], service, uid) == Ownership::Ours
    {
        plan.steps.push(Step::Delete {
            kind: ChildKind::DisruptionBudget,
            name: live
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or(service)
                .to_string(),
        });
    }
    plan
}

/// What executing a plan did.
#[derive(Clone, Debug, Default)]
pub struct Executed {
    /// Objects as the API server returned them after each apply, by kind.
    pub applied: BTreeMap<ChildKind, Value>,
    /// Contract violations removed, with the managers that had added them.
    pub removed: Vec<(Violation, Vec<String>)>,
    /// Number of write requests sent.
    pub writes: usize,
}

/// Sends writes; the only holder of a client that writes.
#[derive(Clone)]
pub struct Writer {
    client: Client,
    metrics: Metrics,
    recorder: Recorder,
}

impl Writer {
    /// A writer; `recorder` publishes the events.
    pub fn new(client: Client, metrics: Metrics, recorder: Recorder) -> Self {
        Writer {
            client,
            metrics,
            recorder,
        }
    }

    fn api(&self, kind: ChildKind, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), namespace, &kind.api_resource())
    }

    /// Sends the plan's writes in order, recording each in `done`; stops at the first failure
    /// (what was done before it stays recorded, so the caller can tell progress from none).
    pub async fn execute(
        &self,
        namespace: &str,
        plan: &Plan,
        done: &mut Executed,
    ) -> Result<(), Error> {
        for step in &plan.steps {
            match step {
                Step::Apply(d) => {
                    let params = PatchParams::apply(FIELD_MANAGER).force();
                    let api = self.api(d.kind, namespace);
                    let applied = request(
                        || format!("apply {} {namespace}/{}", d.kind.as_str(), d.name),
                        api.patch(&d.name, &params, &Patch::Apply(&d.object)),
                    )
                    .await?;
                    done.writes += 1;
                    self.metrics.write(d.kind.as_str(), "apply");
                    let value =
                        serde_json::to_value(&applied).map_err(|source| Error::Serialization {
                            action: format!("read applied {}", d.kind.as_str()),
                            source,
                        })?;
                    done.applied.insert(d.kind, value);
                }
                Step::RemoveViolations { name, violations } => {
                    let api = self.api(ChildKind::Deployment, namespace);
                    let action =
                        || format!("remove contract violations from Deployment {namespace}/{name}");
                    // Read with managedFields (the cache strips them) to name who added what.
                    let live = request(action, api.get(name)).await?;
                    let managed =
                        serde_json::to_value(live.managed_fields()).unwrap_or(Value::Null);
                    let ops = removal_patch(violations);
                    let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops))
                        .map_err(|source| Error::Serialization {
                            action: action(),
                            source,
                        })?;
                    request(
                        action,
                        api.patch(name, &update_params(), &Patch::<()>::Json(patch)),
                    )
                    .await?;
                    done.writes += 1;
                    self.metrics.write(ChildKind::Deployment.as_str(), "patch");
                    for v in violations {
                        let managers = managers_of(&managed, &v.managed_path);
                        done.removed.push((v.clone(), managers));
                    }
                }
                Step::Delete { kind, name } => {
                    let api = self.api(*kind, namespace);
                    let deleted = request(
                        || format!("delete {} {namespace}/{name}", kind.as_str()),
                        api.delete(name, &DeleteParams::default()),
                    )
                    .await;
                    match deleted {
                        Ok(_) => {}
                        // Already gone: the goal is reached.
                        Err(e) if e.status_code() == Some(404) => {}
                        Err(e) => return Err(e),
                    }
                    done.writes += 1;
                    self.metrics.write(kind.as_str(), "delete");
                }
            }
        }
        Ok(())
    }

    /// Writes the status through the status subresource (a merge patch of the whole status,
    /// so conditions are replaced as one list).
    pub async fn patch_status(
        &self,
        namespace: &str,
        name: &str,
        status: &StatelessServiceStatus,
    ) -> Result<(), Error> {
        let api: Api<StatelessService> = Api::namespaced(self.client.clone(), namespace);
        let patch = json!({ "status": status });
        request(
            || format!("write status of StatelessService {namespace}/{name}"),
            api.patch_status(name, &update_params(), &Patch::Merge(&patch)),
        )
        .await?;
        self.metrics.write("StatelessService-status", "patch");
        Ok(())
    }

    /// Publishes an event about the service. Events are best effort: a failure is logged and
    /// never fails the reconcile. Notes must never contain secret values.
    pub async fn event(
        &self,
        service: &StatelessService,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let event = Event {
            type_,
            reason: reason.to_string(),
            note: Some(truncate(note, 1000)),
            action: action.to_string(),
            secondary: None,
        };
        let reference = service.object_ref(&());
        match self.recorder.publish(&event, &reference).await {
            Ok(()) => self.metrics.write("Event", "create"),
            Err(e) => tracing::warn!(error = %e, reason, "could not publish event"),
        }
    }
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max.saturating_sub(3);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

/// Parameters of non-apply patches: the same field manager as apply.
fn update_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "labels": {"a": "b"}},
            "spec": {
                "replicas": 2,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "template": {"spec": {
                    "containers": [{
                        "name": "app", "image": "x",
                        "args": ["--a", "--b"],
                        "resources": {"requests": {"cpu": "0.5", "memory": "1Gi"}},
                        "volumeMounts": [{"name": "scratch", "mountPath": "/tmp"}],
                        "securityContext": {"readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}}
                    }],
                    "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "64Mi"}}]
                }}
            }
        })
    }

    /// What a server returns: defaults added, quantities canonicalised, our annotation kept.
    fn live_of(desired: &Value) -> Value {
        let mut live = desired.clone();
        live["metadata"]["uid"] = json!("u1");
        live["metadata"]["resourceVersion"] = json!("7");
        live["spec"]["revisionHistoryLimit"] = json!(10);
        let c = &mut live["spec"]["template"]["spec"]["containers"][0];
        c["terminationMessagePath"] = json!("/dev/termination-log");
        c["resources"]["requests"]["cpu"] = json!("500m");
        c["resources"]["requests"]["memory"] = json!("1024Mi");
        live
    }

    #[test]
    fn server_defaults_and_canonical_quantities_are_not_changes() {
        let desired = stamp(ChildKind::Deployment, deployment()).object;
        let live = live_of(&desired);
        assert_eq!(differences(&desired, &live), vec![]);
        assert!(!needs_apply(&desired, &live));
    }

    #[test]
    fn a_new_intent_is_a_change_even_when_fields_match() {
        let old = stamp(ChildKind::Deployment, deployment()).object;
        let mut changed = deployment();
        changed["metadata"]["labels"] = json!({});
        let new = stamp(ChildKind::Deployment, changed).object;
        // The live object still has the old label: SSA must run to remove it.
        assert!(needs_apply(&new, &live_of(&old)));
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
        assert!(needs_apply(&desired, &live));
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
            !needs_apply(&desired, &live),
            "the contract check removes these, not apply"
        );
        live["spec"]["template"]["spec"]["volumes"] = json!([{"name": "extra", "emptyDir": {}}]);
        assert!(
            needs_apply(&desired, &live),
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

    #[test]
    fn ownership_rules() {
        let owned = json!({"ownerReferences": [{"kind": "StatelessService", "name": "web", "uid": "u1", "controller": true}]});
        assert_eq!(ownership(&owned, "web", "u1"), Ownership::Ours);
        assert!(
            matches!(ownership(&owned, "web", "u2"), Ownership::Foreign(r) if r.contains("uid u1"))
        );
        let labelled = json!({"labels": {LABEL_MANAGED_BY: MANAGER, LABEL_SERVICE: "web"}});
        assert_eq!(
            ownership(&labelled, "web", "u1"),
            Ownership::Ours,
            "re-adopted"
        );
        assert!(matches!(
            ownership(&labelled, "other", "u1"),
            Ownership::Foreign(_)
        ));
        assert!(matches!(
            ownership(&json!({}), "web", "u1"),
            Ownership::Foreign(_)
        ));
    }

    fn child(kind: ChildKind, name: &str) -> Desired {
        stamp(
            kind,
            json!({"metadata": {"name": name, "ownerReferences": [{"uid": "u1", "controller": true}]}, "data": {"k": "v"}}),
        )
    }

    #[test]
    fn plan_creates_what_is_missing_and_skips_what_matches() {
        let cm = child(ChildKind::ConfigMap, "web-config");
        let secret = child(ChildKind::Secret, "web-secret");
        let observed = BTreeMap::from([(ChildKind::ConfigMap, cm.object.clone())]);
        let plan = plan(vec![cm, secret.clone()], &observed, "web", "u1");
        assert_eq!(plan.steps, vec![Step::Apply(secret)]);
        assert!(plan.conflicts.is_empty());
    }

    #[test]
    fn plan_writes_nothing_when_a_name_is_taken() {
        let cm = child(ChildKind::ConfigMap, "web-config");
        let secret = child(ChildKind::Secret, "web-secret");
        let observed = BTreeMap::from([(
            ChildKind::Secret,
            json!({"metadata": {"name": "web-secret"}}),
        )]);
        let plan = plan(vec![cm, secret], &observed, "web", "u1");
        assert!(plan.steps.is_empty());
        assert_eq!(plan.conflicts.len(), 1);
        assert!(plan.conflicts[0].starts_with("Secret web-secret: "));
    }

    #[test]
    fn plan_deletes_an_unwanted_budget_of_ours_only() {
        let ours = json!({"metadata": {"name": "web", "ownerReferences": [{"uid": "u1", "controller": true}]}});
        let plan1 = plan(
            vec![],
            &BTreeMap::from([(ChildKind::DisruptionBudget, ours)]),
            "web",
            "u1",
        );
        assert_eq!(
            plan1.steps,
            vec![Step::Delete {
                kind: ChildKind::DisruptionBudget,
                name: "web".into()
            }]
        );
        let theirs = json!({"metadata": {"name": "web"}});
        let plan2 = plan(
            vec![],
            &BTreeMap::from([(ChildKind::DisruptionBudget, theirs)]),
            "web",
            "u1",
        );
        assert!(plan2.steps.is_empty());
    }

    #[test]
    fn stamping_is_stable_and_ignores_the_previous_stamp() {
        let a = stamp(
            ChildKind::ConfigMap,
            json!({"metadata": {"name": "x"}, "data": {"k": "v"}}),
        );
        let b = stamp(
            ChildKind::ConfigMap,
            json!({"metadata": {"name": "x"}, "data": {"k": "v"}}),
        );
        assert_eq!(a, b);
        let c = stamp(
            ChildKind::ConfigMap,
            json!({"metadata": {"name": "x"}, "data": {"k": "w"}}),
        );
        assert_ne!(
            a.object["metadata"]["annotations"],
            c.object["metadata"]["annotations"]
        );
        assert_eq!(a.name, "x");
    }
}
