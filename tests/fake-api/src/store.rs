//! The object store and every state change. One `State` sits behind one mutex in
//! `FakeApi`; each write runs entirely under it, so the resourceVersion counter, the stored
//! objects and the watch event log can never interleave. Watchers get events through
//! unbounded channels filled under that lock, so a slow watcher never blocks a writer.
//!
//! Every write (HTTP or direct) ends in `write_existing`/`create`/`delete`, which share one
//! pipeline: preconditions, the status/main split, server-owned metadata, defaulting,
//! generation, field ownership, the no-op check, and finally `commit` (one resourceVersion,
//! one event). Garbage collection and the simulated controllers run after a commit as
//! separate writes, each with its own resourceVersion and event.

use super::RequestRecord;
use super::defaults;
use super::expose_defaults;
use super::faults::{FaultRule, Rng};
use super::patch;
use super::scale::ScalePaths;
use super::selector::{FieldSelector, LabelSelector};
use super::ssa::{self, Actor};
use super::validate;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// An error response, rendered as a `Status` body with this code.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: String,
    pub message: String,
    pub details: Option<Value>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }
    pub fn with_details(mut self, d: Value) -> Self {
        self.details = Some(d);
        self
    }
    pub fn not_found(k: &KindInfo, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} {name:?} not found", k.qualified()),
        )
        .with_details(json!({"name": name, "group": k.group, "kind": k.plural}))
    }
    pub fn already_exists(k: &KindInfo, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} {name:?} already exists", k.qualified()),
        )
        .with_details(json!({"name": name, "group": k.group, "kind": k.plural}))
    }
    pub fn conflict(k: &KindInfo, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} {name:?}: the object has been modified; \
                 please apply your changes to the latest version and try again",
                k.qualified()
            ),
        )
        .with_details(json!({"name": name, "group": k.group, "kind": k.plural}))
    }
    pub fn invalid(k: &KindInfo, name: &str, why: &str) -> Self {
        Self::new(
            422,
            "Invalid",
            format!("{}.{} {name:?} is invalid: {why}", k.kind, k.group).replace(". \"", " \""),
        )
        .with_details(json!({"name": name, "group": k.group, "kind": k.kind}))
    }
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", msg)
    }
    pub fn expired(msg: impl Into<String>) -> Self {
        Self::new(410, "Expired", msg)
    }
    pub fn status_json(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        if let Some(r) = self.retry_after {
            s["details"]["retryAfterSeconds"] = json!(r);
        }
        s
    }
}

/// A kind the fake serves.
#[derive(Debug, Clone, PartialEq)]
pub struct KindInfo {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
    pub status_subresource: bool,
    /// The scale subresource, when the kind has one.
    pub scale: Option<Box<ScalePaths>>,
}

impl KindInfo {
    pub fn new(group: &str, version: &str, kind: &str, plural: &str) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            namespaced: true,
            status_subresource: false,
            scale: None,
        }
    }
    /// A scale subresource over these paths (`None` selector: from `spec.selector`).
    pub fn with_scale(mut self, spec: &str, status: &str, selector: Option<&str>) -> Self {
        self.scale = Some(Box::new(ScalePaths {
            spec_replicas: spec.into(),
            status_replicas: status.into(),
            label_selector: selector.map(String::from),
        }));
        self
    }
    pub fn cluster_scoped(mut self) -> Self {
        self.namespaced = false;
        self
    }
    pub fn with_status(mut self) -> Self {
        self.status_subresource = true;
        self
    }
    /// The kind a `CustomResourceDefinition` declares (its storage version).
    pub fn from_crd(crd: &Value) -> Option<Self> {
        let spec = crd.get("spec")?;
        let versions = spec.get("versions")?.as_array()?;
        let v = versions
            .iter()
            .find(|v| v.get("storage") == Some(&json!(true)))
            .or_else(|| versions.first())?;
        Some(Self {
            group: spec.get("group")?.as_str()?.into(),
            version: v.get("name")?.as_str()?.into(),
            kind: spec.pointer("/names/kind")?.as_str()?.into(),
            plural: spec.pointer("/names/plural")?.as_str()?.into(),
            namespaced: spec.get("scope").and_then(Value::as_str) != Some("Cluster"),
            status_subresource: v.pointer("/subresources/status").is_some(),
            scale: v
                .pointer("/subresources/scale")
                .and_then(ScalePaths::from_crd)
                .map(Box::new),
        })
    }
    /// Kinds the API server compiles in (as opposed to custom resources, which e.g. do not
    /// support strategic merge patch and need a resourceVersion on PUT).
    pub fn is_builtin(&self) -> bool {
        matches!(
            self.group.as_str(),
            "" | "apps"
                | "autoscaling"
                | "networking.k8s.io"
                | "policy"
                | "coordination.k8s.io"
                | "events.k8s.io"
                | "apiextensions.k8s.io"
        )
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
    /// `deployments.apps`, `configmaps`: how the server names the resource in messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

/// One change, as recorded in the event log and sent to watchers.
#[derive(Debug)]
pub(crate) struct Event {
    pub rv: u64,
    pub group: String,
    pub plural: String,
    pub etype: &'static str,
    pub object: Value,
    /// The previous state, for selector transitions (MODIFIED -> ADDED/DELETED).
    pub old: Option<Value>,
}

pub(crate) struct WatcherSlot {
    pub group: String,
    pub plural: String,
    pub tx: UnboundedSender<Arc<Event>>,
}

/// (group, plural, namespace or "", name)
pub(crate) type Key = (String, String, String, String);

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

/// Who writes and how; `manager` is the field manager.
#[derive(Debug, Clone)]
pub(crate) struct WriteCtx {
    pub manager: String,
    pub subresource: Option<String>,
    pub dry_run: bool,
    pub force: bool,
}

impl WriteCtx {
    pub fn new(manager: &str) -> Self {
        Self {
            manager: manager.into(),
            subresource: None,
            dry_run: false,
            force: false,
        }
    }
    pub fn status(mut self) -> Self {
        self.subresource = Some("status".into());
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Propagation {
    Background,
    Foreground,
    Orphan,
}

#[derive(Debug, Clone)]
pub(crate) struct DeleteOpts {
    pub propagation: Propagation,
    pub precondition_rv: Option<String>,
    pub precondition_uid: Option<String>,
    pub dry_run: bool,
}

impl Default for DeleteOpts {
    fn default() -> Self {
        Self {
            propagation: Propagation::Background,
            precondition_rv: None,
            precondition_uid: None,
            dry_run: false,
        }
    }
}

pub(crate) const CONTROLLER_MANAGER: &str = "kube-controller-manager";

pub(crate) struct State {
    pub kinds: BTreeMap<(String, String), KindInfo>,
    pub objects: BTreeMap<Key, Value>,
    pub rv: u64,
    pub history: VecDeque<Arc<Event>>,
    /// Every event with rv > floor is still in `history`.
    pub history_floor: u64,
    pub history_limit: usize,
    pub watchers: Vec<WatcherSlot>,
    pub rng: Rng,
    pub fault_rng: Rng,
    pub sim_deployments: bool,
    /// With the Deployment controller simulated: roll out one step per tick of the rollout
    /// ticker (see `FakeApi::simulate_staged_rollouts`) instead of all at once.
    pub sim_staged: bool,
    pub sim_pvcs: bool,
    /// The HorizontalPodAutoscaler controller (see `scale`).
    pub sim_autoscalers: bool,
    pub requests: Vec<RequestRecord>,
    pub faults: Vec<FaultRule>,
    pub down: bool,
    pub shut_down: bool,
    pub bookmark_interval: Duration,
}

pub(crate) fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn meta_str<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get("metadata")?.get(field)?.as_str()
}

fn meta_mut(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = json!({});
    }
    let o = v.as_object_mut().expect("object");
    let m = o.entry("metadata").or_insert_with(|| json!({}));
    if !m.is_object() {
        *m = json!({});
    }
    m.as_object_mut().expect("metadata object")
}

fn finalizers(v: &Value) -> Vec<Value> {
    v.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn owner_uids(v: &Value) -> Vec<String> {
    v.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The object without `metadata` and `status`: what `generation` tracks.
fn spec_part(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("metadata");
        o.remove("status");
    }
    v
}

/// Equality that ignores `managedFields[*].time`, for the no-op check.
fn same_ignoring_times(a: &Value, b: &Value) -> bool {
    fn strip(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(Value::Array(es)) = v.pointer_mut("/metadata/managedFields") {
            for e in es.iter_mut() {
                if let Some(o) = e.as_object_mut() {
                    o.remove("time");
                }
            }
        }
        v
    }
    strip(a) == strip(b)
}

impl State {
    pub fn new() -> Self {
        Self {
            kinds: BTreeMap::new(),
            objects: BTreeMap::new(),
            rv: 1,
            history: VecDeque::new(),
            history_floor: 1,
            history_limit: 1000,
            watchers: Vec::new(),
            rng: Rng::new(0x5eed),
            fault_rng: Rng::new(0xfa17),
            sim_deployments: false,
            sim_staged: false,
            sim_pvcs: false,
            sim_autoscalers: false,
            requests: Vec::new(),
            faults: Vec::new(),
            down: false,
            shut_down: false,
            bookmark_interval: Duration::from_secs(5),
        }
    }

    pub fn register(&mut self, k: KindInfo) {
        self.kinds.insert((k.group.clone(), k.plural.clone()), k);
    }

    pub fn kind(&self, group: &str, plural: &str) -> Option<KindInfo> {
        self.kinds.get(&(group.into(), plural.into())).cloned()
    }

    pub fn key(k: &KindInfo, ns: Option<&str>, name: &str) -> Key {
        let ns = if k.namespaced { ns.unwrap_or("") } else { "" };
        (k.group.clone(), k.plural.clone(), ns.into(), name.into())
    }

    fn skeleton(k: &KindInfo, ns: Option<&str>, name: &str) -> Value {
        let mut v =
            json!({"apiVersion": k.api_version(), "kind": k.kind, "metadata": {"name": name}});
        if k.namespaced {
            v["metadata"]["namespace"] = json!(ns.unwrap_or("default"));
        }
        v
    }

    fn uid(&mut self) -> String {
        let (a, b) = (self.rng.next_u64(), self.rng.next_u64());
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    }

    // ---------------------------------------------------------------- reads

    pub fn get(&self, k: &KindInfo, ns: Option<&str>, name: &str) -> Result<Value, ApiError> {
        self.objects
            .get(&Self::key(k, ns, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(k, name))
    }

    pub fn list(
        &self,
        k: &KindInfo,
        ns: Option<&str>,
        labels: Option<&LabelSelector>,
        fields: Option<&FieldSelector>,
    ) -> Vec<(Key, Value)> {
        self.objects
            .iter()
            .filter(|(key, _)| key.0 == k.group && key.1 == k.plural)
            .filter(|(key, _)| !k.namespaced || ns.is_none_or(|n| key.2 == n))
            .filter(|(_, v)| labels.is_none_or(|l| l.matches(v)))
            .filter(|(_, v)| fields.is_none_or(|f| f.matches(v)))
            .map(|(key, v)| (key.clone(), v.clone()))
            .collect()
    }

    /// A list response with `limit`/`continue` paging. The continue token carries the
    /// resourceVersion of the first page and where to resume; pages after the first are
    /// served from the current state (not a snapshot), and a token older than the event
    /// history gets 410 like a compacted etcd revision.
    pub fn list_page(
        &self,
        k: &KindInfo,
        ns: Option<&str>,
        labels: Option<&LabelSelector>,
        fields: Option<&FieldSelector>,
        limit: Option<usize>,
        cont: Option<&str>,
    ) -> Result<Value, ApiError> {
        let mut list_rv = self.rv;
        let mut after = None;
        if let Some(c) = cont.filter(|c| !c.is_empty()) {
            let mut parts = c.splitn(3, '|');
            let (rv, cns, cname) = (parts.next(), parts.next(), parts.next());
            let (Some(rv), Some(cns), Some(cname)) = (rv.and_then(|r| r.parse().ok()), cns, cname)
            else {
                return Err(ApiError::bad_request("invalid continue token"));
            };
            if rv < self.history_floor {
                return Err(ApiError::expired(
                    "The provided continue parameter is too old to display a consistent list \
                     result. You can start a new list without the continue parameter.",
                ));
            }
            list_rv = rv;
            after = Some((cns, cname));
        }
        // Select by reference and clone only the page: a paged list of many objects would
        // otherwise copy every matching object for every page.
        let matching: Vec<(&Key, &Value)> = self
            .objects
            .iter()
            .filter(|(key, _)| key.0 == k.group && key.1 == k.plural)
            .filter(|(key, _)| !k.namespaced || ns.is_none_or(|n| key.2 == n))
            .filter(|(key, _)| after.is_none_or(|a| (key.2.as_str(), key.3.as_str()) > a))
            .filter(|(_, v)| labels.is_none_or(|l| l.matches(v)))
            .filter(|(_, v)| fields.is_none_or(|f| f.matches(v)))
            .collect();
        let mut meta = json!({"resourceVersion": list_rv.to_string()});
        let mut take = matching.len();
        if let Some(limit) = limit.filter(|l| *l > 0 && *l < matching.len()) {
            let last = matching[limit - 1].0;
            meta["continue"] = json!(format!("{list_rv}|{}|{}", last.2, last.3));
            meta["remainingItemCount"] = json!(matching.len() - limit);
            take = limit;
        }
        let items: Vec<Value> = matching[..take].iter().map(|(_, v)| (*v).clone()).collect();
        Ok(json!({
            "kind": format!("{}List", k.kind),
            "apiVersion": k.api_version(),
            "metadata": meta,
            "items": items,
        }))
    }

    // ---------------------------------------------------------------- commit

    /// Bump the resourceVersion once, store (or remove) the object and emit one event.
    fn commit(
        &mut self,
        key: Key,
        mut obj: Value,
        etype: &'static str,
        old: Option<Value>,
    ) -> Value {
        self.rv += 1;
        meta_mut(&mut obj).insert("resourceVersion".into(), json!(self.rv.to_string()));
        if etype == "DELETED" {
            self.objects.remove(&key);
        } else {
            self.objects.insert(key.clone(), obj.clone());
        }
        let ev = Arc::new(Event {
            rv: self.rv,
            group: key.0,
            plural: key.1,
            etype,
            object: obj.clone(),
            old,
        });
        self.history.push_back(ev.clone());
        while self.history.len() > self.history_limit {
            if let Some(e) = self.history.pop_front() {
                self.history_floor = e.rv;
            }
        }
        self.watchers.retain(|w| {
            if w.group != ev.group || w.plural != ev.plural {
                return !w.tx.is_closed();
            }
            w.tx.send(ev.clone()).is_ok()
        });
        obj
    }

    /// Forget the event history, so that any watch or continue token from before now gets
    /// 410 Gone (as after an etcd compaction).
    pub fn compact(&mut self) {
        self.history.clear();
        self.history_floor = self.rv;
    }

    // ---------------------------------------------------------------- writes

    /// The object that would be stored for `cand` replacing `old`: status split, metadata
    /// the server owns, defaults and generation. Ownership is added by the caller.
    fn prepare(
        &self,
        k: &KindInfo,
        key: &Key,
        old: Option<&Value>,
        cand: Value,
        sub: Option<&str>,
    ) -> Value {
        let mut new = match (sub, old) {
            (Some("status"), Some(old)) => {
                let mut n = old.clone();
                let o = n.as_object_mut().expect("object");
                match cand.get("status") {
                    Some(s) if !s.is_null() => o.insert("status".into(), s.clone()),
                    _ => o.remove("status"),
                };
                n
            }
            _ => {
                let mut n = cand;
                if k.status_subresource {
                    let o = n.as_object_mut().expect("object");
                    match old.and_then(|o| o.get("status")) {
                        Some(s) => o.insert("status".into(), s.clone()),
                        None => o.remove("status"),
                    };
                }
                n
            }
        };
        let o = new.as_object_mut().expect("object");
        o.insert("apiVersion".into(), json!(k.api_version()));
        o.insert("kind".into(), json!(k.kind));
        let m = meta_mut(&mut new);
        // ObjectMeta's maps and lists are `omitempty`: an empty one is never stored.
        for f in ["labels", "annotations", "finalizers", "ownerReferences"] {
            if m.get(f).is_some_and(|v| {
                v.is_null()
                    || v.as_object().is_some_and(|o| o.is_empty())
                    || v.as_array().is_some_and(|a| a.is_empty())
            }) {
                m.remove(f);
            }
        }
        m.insert("name".into(), json!(key.3));
        if k.namespaced {
            m.insert("namespace".into(), json!(key.2));
        } else {
            m.remove("namespace");
        }
        for f in [
            "uid",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
            "resourceVersion",
            "selfLink",
        ] {
            match old.and_then(|o| o.get("metadata")).and_then(|m| m.get(f)) {
                Some(v) => m.insert(f.into(), v.clone()),
                None => m.remove(f),
            };
        }
        validate::normalize_secret(k, &mut new);
        defaults::apply(k, &mut new);
        expose_defaults::apply(k, &mut new);
        expose_defaults::allocate(k, (&key.2, &key.3), old, &mut new);
        if let Some(old) = old {
            let g = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let g = if spec_part(old) != spec_part(&new) {
                g + 1
            } else {
                g
            };
            meta_mut(&mut new).insert("generation".into(), json!(g));
        }
        new
    }

    pub fn create(
        &mut self,
        k: &KindInfo,
        ns: Option<&str>,
        mut body: Value,
        ctx: &WriteCtx,
    ) -> Result<Value, ApiError> {
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request was not an object",
            ));
        }
        if let (Some(bns), Some(ns)) = (meta_str(&body, "namespace"), ns)
            && k.namespaced
            && bns != ns
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        if meta_str(&body, "resourceVersion").is_some_and(|r| !r.is_empty()) {
            return Err(ApiError::bad_request(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        let name = match meta_str(&body, "name").filter(|n| !n.is_empty()) {
            Some(n) => n.to_string(),
            None => match meta_str(&body, "generateName").filter(|n| !n.is_empty()) {
                Some(prefix) => {
                    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
                    let prefix = prefix.to_string();
                    let suffix: String = (0..5)
                        .map(|_| CHARS[(self.rng.next_u64() % CHARS.len() as u64) as usize] as char)
                        .collect();
                    format!("{prefix}{suffix}")
                }
                None => {
                    return Err(ApiError::invalid(
                        k,
                        "",
                        "metadata.name: Required value: name or generateName is required",
                    ));
                }
            },
        };
        let ns = if k.namespaced {
            Some(
                ns.or(meta_str(&body, "namespace"))
                    .unwrap_or("default")
                    .to_string(),
            )
        } else {
            None
        };
        let key = Self::key(k, ns.as_deref(), &name);
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(k, &name));
        }
        meta_mut(&mut body).remove("managedFields");
        let mut new = self.prepare(k, &key, None, body, ctx.subresource.as_deref());
        validate::object(k, &new)?;
        let uid = self.uid();
        let m = meta_mut(&mut new);
        m.insert("uid".into(), json!(uid));
        m.insert("creationTimestamp".into(), json!(now()));
        m.insert("generation".into(), json!(1));
        m.remove("deletionTimestamp");
        let empty = Self::skeleton(k, ns.as_deref(), &name);
        let ms = ssa::update_ownership(&empty, &new, &self.actor(k, ctx));
        ssa::write_managers(&mut new, ms);
        if ctx.dry_run {
            return Ok(new);
        }
        let out = self.commit(key, new, "ADDED", None);
        self.after_commit(k, ns.as_deref(), &name, None, ctx);
        Ok(out)
    }

    fn actor(&self, k: &KindInfo, ctx: &WriteCtx) -> Actor {
        Actor {
            manager: ctx.manager.clone(),
            subresource: ctx.subresource.clone(),
            api_version: k.api_version(),
            status_split: k.status_subresource,
            now: now(),
        }
    }

    /// PUT.
    pub fn replace(
        &mut self,
        k: &KindInfo,
        ns: Option<&str>,
        name: &str,
        body: Value,
        ctx: &WriteCtx,
    ) -> Result<Value, ApiError> {
        if meta_str(&body, "name").is_some_and(|n| n != name) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta_str(&body, "name").unwrap_or("")
            )));
        }
        let key = Self::key(k, ns, name);
        let old = self
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(k, name))?;
        if !k.is_builtin() && meta_str(&body, "resourceVersion").is_none_or(str::is_empty) {
            return Err(ApiError::invalid(
                k,
                name,
                "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
            ));
        }
        self.write_existing(k, key, old, body, ctx, None)
    }

    /// PATCH of any type; apply creates the object when it does not exist.
    pub fn patch(
        &mut self,
        k: &KindInfo,
        ns: Option<&str>,
        name: &str,
        ptype: PatchType,
        body: Value,
        ctx: &WriteCtx,
    ) -> Result<(Value, bool), ApiError> {
        let key = Self::key(k, ns, name);
        let old = self.objects.get(&key).cloned();
        if ptype == PatchType::Apply {
            if meta_str(&body, "name").is_some_and(|n| n != name) {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    meta_str(&body, "name").unwrap_or("")
                )));
            }
            return match old {
                Some(old) => self
                    .write_existing(k, key, old.clone(), old, ctx, Some(&body))
                    .map(|v| (v, false)),
                None if ctx.subresource.is_some() => Err(ApiError::not_found(k, name)),
                None => self.apply_create(k, key, &body, ctx).map(|v| (v, true)),
            };
        }
        if ptype == PatchType::Strategic && !k.is_builtin() {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: \
                 application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            ));
        }
        let Some(old) = old else {
            return Err(ApiError::not_found(k, name));
        };
        let mut cand = old.clone();
        match ptype {
            PatchType::Merge => patch::merge_patch(&mut cand, &body),
            PatchType::Strategic => patch::strategic_merge(&mut cand, &body),
            PatchType::Json => {
                patch::json_patch(&mut cand, &body).map_err(|e| ApiError::new(422, "Invalid", e))?
            }
            PatchType::Apply => unreachable!(),
        }
        if meta_str(&cand, "name") != Some(name) {
            return Err(ApiError::bad_request(
                "metadata.name cannot be changed by a patch",
            ));
        }
        self.write_existing(k, key, old, cand, ctx, None)
            .map(|v| (v, false))
    }

    fn apply_create(
        &mut self,
        k: &KindInfo,
        key: Key,
        config: &Value,
        ctx: &WriteCtx,
    ) -> Result<Value, ApiError> {
        let ns = (!key.2.is_empty()).then(|| key.2.clone());
        let live = Self::skeleton(k, ns.as_deref(), &key.3);
        let actor = self.actor(k, ctx);
        let finish = |merged: Value| self.prepare(k, &key, None, merged, None);
        let (mut new, ms) = ssa::apply(&live, &strip_meta(config), &actor, ctx.force, &finish)?;
        ssa::write_managers(&mut new, ms);
        validate::object(k, &new)?;
        let uid = self.uid();
        let m = meta_mut(&mut new);
        m.insert("uid".into(), json!(uid));
        m.insert("creationTimestamp".into(), json!(now()));
        m.insert("generation".into(), json!(1));
        if ctx.dry_run {
            return Ok(new);
        }
        let name = key.3.clone();
        let out = self.commit(key, new, "ADDED", None);
        self.after_commit(k, ns.as_deref(), &name, None, ctx);
        Ok(out)
    }

    /// The shared update pipeline. `apply` carries the apply configuration; otherwise
    /// `cand` is the full desired object (PUT body or patched object).
    pub(crate) fn write_existing(
        &mut self,
        k: &KindInfo,
        key: Key,
        old: Value,
        cand: Value,
        ctx: &WriteCtx,
        apply: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let name = key.3.clone();
        let precondition = apply.unwrap_or(&cand);
        if let Some(rv) = meta_str(precondition, "resourceVersion").filter(|r| !r.is_empty())
            && Some(rv) != meta_str(&old, "resourceVersion")
        {
            return Err(ApiError::conflict(k, &name));
        }
        if let Some(uid) = meta_str(precondition, "uid").filter(|r| !r.is_empty())
            && Some(uid) != meta_str(&old, "uid")
        {
            return Err(ApiError::conflict(k, &name));
        }
        let sub = ctx.subresource.as_deref();
        let actor = self.actor(k, ctx);
        let mut new = match apply {
            Some(config) => {
                let finish = |merged: Value| self.prepare(k, &key, Some(&old), merged, sub);
                let (mut new, ms) =
                    ssa::apply(&old, &strip_meta(config), &actor, ctx.force, &finish)?;
                ssa::write_managers(&mut new, ms);
                new
            }
            None => {
                let mut new = self.prepare(k, &key, Some(&old), cand, sub);
                let ms = ssa::update_ownership(&old, &new, &actor);
                ssa::write_managers(&mut new, ms);
                new
            }
        };
        validate::object(k, &new)?;
        validate::update(k, &old, &new)?;
        let deleting = old.pointer("/metadata/deletionTimestamp").is_some();
        if deleting {
            let before = finalizers(&old);
            if finalizers(&new).iter().any(|f| !before.contains(f)) {
                return Err(ApiError::invalid(
                    k,
                    &name,
                    "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted",
                ));
            }
        }
        if same_ignoring_times(&old, &new) {
            return Ok(old);
        }
        if ctx.dry_run {
            return Ok(new);
        }
        if deleting && finalizers(&new).is_empty() {
            if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("finalizers");
            }
            return Ok(self.remove(key, new, Some(old)));
        }
        let ns = (!key.2.is_empty()).then(|| key.2.clone());
        let out = self.commit(key, new, "MODIFIED", Some(old.clone()));
        self.after_commit(k, ns.as_deref(), &name, Some(&old), ctx);
        Ok(out)
    }

    /// Remove an object (one DELETED event) and collect its dependents.
    fn remove(&mut self, key: Key, obj: Value, old: Option<Value>) -> Value {
        let uid = meta_str(&obj, "uid").unwrap_or("").to_string();
        let out = self.commit(key, obj, "DELETED", old);
        self.collect_garbage(&uid);
        out
    }

    fn uid_exists(&self, uid: &str) -> bool {
        self.objects
            .values()
            .any(|o| meta_str(o, "uid") == Some(uid))
    }

    fn dependents_of(&self, uid: &str) -> Vec<(KindInfo, Key)> {
        self.objects
            .iter()
            .filter(|(_, o)| owner_uids(o).iter().any(|u| u == uid))
            .filter_map(|(key, _)| self.kind(&key.0, &key.1).map(|k| (k, key.clone())))
            .collect()
    }

    /// Background garbage collection after `uid` disappeared: dependents whose owners are
    /// all gone are deleted (and so on, transitively, through `delete`).
    fn collect_garbage(&mut self, uid: &str) {
        if uid.is_empty() {
            return;
        }
        for (k, key) in self.dependents_of(uid) {
            let Some(obj) = self.objects.get(&key) else {
                continue;
            };
            if owner_uids(obj).iter().any(|u| self.uid_exists(u)) {
                continue;
            }
            let ns = (!key.2.is_empty()).then(|| key.2.clone());
            let _ = self.delete(&k, ns.as_deref(), &key.3, &DeleteOpts::default());
        }
    }

    /// Returns the object (or its last state) and whether it is gone.
    pub fn delete(
        &mut self,
        k: &KindInfo,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOpts,
    ) -> Result<(Value, bool), ApiError> {
        let key = Self::key(k, ns, name);
        let obj = self
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(k, name))?;
        if opts
            .precondition_rv
            .as_deref()
            .is_some_and(|rv| Some(rv) != meta_str(&obj, "resourceVersion"))
            || opts
                .precondition_uid
                .as_deref()
                .is_some_and(|u| Some(u) != meta_str(&obj, "uid"))
        {
            return Err(ApiError::conflict(k, name));
        }
        let fins = finalizers(&obj);
        if opts.dry_run {
            return Ok((obj, fins.is_empty()));
        }
        if obj.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok((obj, false));
        }
        let uid = meta_str(&obj, "uid").unwrap_or("").to_string();
        let ctx = WriteCtx::new(CONTROLLER_MANAGER);
        if opts.propagation == Propagation::Orphan {
            for (dk, dkey) in self.dependents_of(&uid) {
                let u = uid.clone();
                self.internal_update(&dk, &dkey, &ctx, move |o| {
                    if let Some(Value::Array(refs)) = o.pointer_mut("/metadata/ownerReferences") {
                        refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(u.as_str()));
                    }
                });
            }
        }
        if opts.propagation == Propagation::Foreground && !self.dependents_of(&uid).is_empty() {
            // The owner waits, with the foregroundDeletion finalizer, for its dependents.
            self.mark_deleting(&key, Some("foregroundDeletion"));
            for (dk, dkey) in self.dependents_of(&uid) {
                let dns = (!dkey.2.is_empty()).then(|| dkey.2.clone());
                let _ = self.delete(&dk, dns.as_deref(), &dkey.3, &DeleteOpts::default());
            }
            self.internal_update(k, &key, &ctx, |o| {
                if let Some(Value::Array(f)) = o.pointer_mut("/metadata/finalizers") {
                    f.retain(|x| x != "foregroundDeletion");
                }
            });
            let gone = !self.objects.contains_key(&key);
            let last = self.objects.get(&key).cloned().unwrap_or(obj);
            return Ok((last, gone));
        }
        if !fins.is_empty() {
            let out = self.mark_deleting(&key, None);
            return Ok((out, false));
        }
        Ok((self.remove(key, obj.clone(), Some(obj)), true))
    }

    /// Set deletionTimestamp (bumping generation, as `rest.BeforeDelete` does).
    fn mark_deleting(&mut self, key: &Key, add_finalizer: Option<&str>) -> Value {
        let old = self.objects.get(key).cloned().expect("exists");
        let mut new = old.clone();
        let generation = new
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let m = meta_mut(&mut new);
        m.insert("deletionTimestamp".into(), json!(now()));
        m.insert("deletionGracePeriodSeconds".into(), json!(0));
        if generation > 0 {
            m.insert("generation".into(), json!(generation + 1));
        }
        if let Some(f) = add_finalizer {
            let fins = m.entry("finalizers").or_insert_with(|| json!([]));
            if let Some(a) = fins.as_array_mut() {
                a.push(json!(f));
            }
        }
        self.commit(key.clone(), new, "MODIFIED", Some(old))
    }

    /// A write by a simulated controller: read, modify, write through the normal pipeline.
    pub fn internal_update(
        &mut self,
        k: &KindInfo,
        key: &Key,
        ctx: &WriteCtx,
        f: impl FnOnce(&mut Value),
    ) {
        let Some(old) = self.objects.get(key).cloned() else {
            return;
        };
        let mut cand = old.clone();
        f(&mut cand);
        let _ = self.write_existing(k, key.clone(), old, cand, ctx, None);
    }

    pub fn delete_collection(
        &mut self,
        k: &KindInfo,
        ns: Option<&str>,
        labels: Option<&LabelSelector>,
        fields: Option<&FieldSelector>,
        opts: &DeleteOpts,
    ) -> Result<Value, ApiError> {
        let mut items = Vec::new();
        for (key, _) in self.list(k, ns, labels, fields) {
            let kns = (!key.2.is_empty()).then(|| key.2.clone());
            if let Ok((v, _)) = self.delete(k, kns.as_deref(), &key.3, opts) {
                items.push(v);
            }
        }
        Ok(json!({
            "kind": format!("{}List", k.kind),
            "apiVersion": k.api_version(),
            "metadata": {"resourceVersion": self.rv.to_string()},
            "items": items,
        }))
    }

    // ---------------------------------------------------------------- reactions

    /// Things the cluster does in reaction to a committed write: CRDs start serving their
    /// kind; the simulated controllers write status.
    fn after_commit(
        &mut self,
        k: &KindInfo,
        ns: Option<&str>,
        name: &str,
        _old: Option<&Value>,
        ctx: &WriteCtx,
    ) {
        let key = Self::key(k, ns, name);
        let Some(obj) = self.objects.get(&key).cloned() else {
            return;
        };
        if k.plural == "customresourcedefinitions"
            && k.group == "apiextensions.k8s.io"
            && let Some(ki) = KindInfo::from_crd(&obj)
        {
            self.register(ki);
        }
        if ctx.subresource.as_deref() == Some("status") {
            return;
        }
        if self.sim_autoscalers
            && k.group == "autoscaling"
            && k.plural == "horizontalpodautoscalers"
        {
            self.sim_autoscaler(&obj);
        }
        if self.sim_deployments && k.group == "apps" && k.plural == "deployments" {
            self.sim_deployment(k, &key);
        }
        if self.sim_pvcs && k.group.is_empty() && k.plural == "persistentvolumeclaims" {
            self.sim_pvc(k, &key);
        }
    }

    pub fn sim_deployment(&mut self, k: &KindInfo, key: &Key) {
        let Some(obj) = self.objects.get(key) else {
            return;
        };
        let generation = obj
            .pointer("/metadata/generation")
            .cloned()
            .unwrap_or(json!(1));
        if obj.pointer("/status/observedGeneration") == Some(&generation) {
            return;
        }
        let replicas = obj
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        // Staged: first the new generation observed with no pod ready yet, as the real
        // controller reports it; `advance_rollouts` makes one more pod ready per tick.
        let ready = if self.sim_staged { 0 } else { replicas };
        self.write_deployment_status(k, key, generation, replicas, ready);
    }

    /// One step of every staged rollout in progress: one more pod ready and available.
    pub fn advance_rollouts(&mut self) {
        let Some(k) = self.kind("apps", "deployments") else {
            return;
        };
        let behind: Vec<(Key, Value, i64, i64)> = self
            .list(&k, None, None, None)
            .into_iter()
            .filter_map(|(key, o)| {
                let generation = o.pointer("/status/observedGeneration")?.clone();
                let replicas = o
                    .pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                let ready = o
                    .pointer("/status/readyReplicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                (ready < replicas).then_some((key, generation, replicas, ready))
            })
            .collect();
        for (key, generation, replicas, ready) in behind {
            self.write_deployment_status(&k, &key, generation, replicas, ready + 1);
        }
    }

    /// Writes a Deployment status as kube-controller-manager does: `ready` of `replicas` pods
    /// ready and available (a finished rollout when they are equal).
    fn write_deployment_status(
        &mut self,
        k: &KindInfo,
        key: &Key,
        generation: Value,
        replicas: i64,
        ready: i64,
    ) {
        let name = key.3.clone();
        let t = now();
        let ctx = WriteCtx::new(CONTROLLER_MANAGER).status();
        let done = ready >= replicas;
        self.internal_update(k, key, &ctx, move |o| {
            let (available, progressing) = if done {
                (
                    json!({"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                        "message": "Deployment has minimum availability.",
                        "lastUpdateTime": t, "lastTransitionTime": t}),
                    json!({"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                        "message": format!("ReplicaSet \"{name}\" has successfully progressed."),
                        "lastUpdateTime": t, "lastTransitionTime": t}),
                )
            } else {
                (
                    json!({"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
                        "message": "Deployment does not have minimum availability.",
                        "lastUpdateTime": t, "lastTransitionTime": t}),
                    json!({"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                        "message": format!("ReplicaSet \"{name}\" is progressing."),
                        "lastUpdateTime": t, "lastTransitionTime": t}),
                )
            };
            let mut st = json!({
                "observedGeneration": generation,
                "conditions": [available, progressing],
            });
            // Zero counts are omitted, as the Go types' omitempty does.
            let counts = [
                ("replicas", replicas),
                ("updatedReplicas", replicas),
                ("readyReplicas", ready),
                ("availableReplicas", ready),
                ("unavailableReplicas", replicas - ready),
            ];
            for (field, n) in counts {
                if n > 0 {
                    st[field] = json!(n);
                }
            }
            o["status"] = st;
        });
    }

    pub fn sim_pvc(&mut self, k: &KindInfo, key: &Key) {
        let Some(obj) = self.objects.get(key) else {
            return;
        };
        if obj.pointer("/status/phase").and_then(Value::as_str) == Some("Bound") {
            return;
        }
        let modes = obj.pointer("/spec/accessModes").cloned();
        let cap = obj.pointer("/spec/resources/requests").cloned();
        let ctx = WriteCtx::new(CONTROLLER_MANAGER).status();
        self.internal_update(k, key, &ctx, move |o| {
            let mut st = json!({"phase": "Bound"});
            if let Some(m) = modes {
                st["accessModes"] = m;
            }
            if let Some(c) = cap {
                st["capacity"] = c;
            }
            o["status"] = st;
        });
    }
}

/// Apply configurations may carry server-set metadata (a typed object read back and
/// re-applied); those fields never enter the merge.
fn strip_meta(config: &Value) -> Value {
    let mut c = config.clone();
    if let Some(m) = c.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in [
            "managedFields",
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            m.remove(f);
        }
    }
    c
}
