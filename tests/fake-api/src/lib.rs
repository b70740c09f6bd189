//! An in-process, stateful fake of the Kubernetes API server for kube 5 clients.
//!
//! `FakeApi::client()` returns a `kube::Client` whose HTTP requests go straight into this
//! fake (a `tower::Service`, no sockets). It keeps objects, a global resourceVersion and a
//! bounded watch event log, and models what a controller relies on: CRUD with conflicts and
//! preconditions, the status subresource split, generation, finalizers and garbage
//! collection, watches with bookmarks and 410 relists, server-side apply with field
//! ownership and conflicts, merge/JSON/strategic patches, and defaulting of built-in types.
//! Tests can act on the state directly as "another actor", inject faults, count requests and
//! switch on simulated cluster controllers.
//!
//! ```ignore
//! let fake = FakeApi::new();
//! fake.register(KindInfo::new("stateless.dev", "v1alpha1", "StatelessService", "statelessservices").with_status());
//! fake.simulate_deployment_controller(true);
//! let client = fake.client();            // hand to the controller under test
//! // ... run, then wait by polling with a deadline:
//! assert!(fake.wait_until(Duration::from_secs(5), |f| f.get(&ResourceRef::of::<Deployment>(), Some("default"), "web").is_some()).await);
//! fake.reset_requests();
//! // ... let it reach steady state, then:
//! assert_eq!(fake.writes_except_events(), 0);
//! ```
//!
//! Not modelled (see each file for details): namespace existence and namespace deletion
//! cascading; schema validation and pruning of unknown fields (built-in or CRD); admission;
//! `resourceVersion`/`resourceVersionMatch` on GET/LIST (always the latest state); list
//! snapshots across pages (later pages are read from the current state); graceful pod
//! deletion; per-kind field-selector support lists (any dotted path is accepted);
//! authentication/authorization (no 401/403 unless injected); protobuf and CBOR.
//!
//! Files: `store` (state and the write pipeline), `ssa` + `fields` (apply and ownership),
//! `patch` (non-apply patches), `defaults` (built-in defaulting), `validate` (names,
//! labels, immutable fields), `selector` (label/field
//! selectors), `watch` (watch streams), `faults` (fault rules, seeded RNG), `http`
//! (routing, the service, responses).

mod defaults;
mod expose_defaults;
mod faults;
mod fields;
mod http;
mod patch;
mod scale;
mod selector;
mod ssa;
mod store;
mod validate;
mod watch;

// Re-exports form the public API; not every test crate uses all of them.
#[allow(unused_imports)]
pub use faults::{FaultAction, FaultRule, VerbMatch};
#[allow(unused_imports)]
pub use http::FakeService;
#[allow(unused_imports)]
pub use selector::{FieldSelector, LabelSelector};
#[allow(unused_imports)]
pub use store::{ApiError, KindInfo};

use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use store::{DeleteOpts, PatchType, State, WriteCtx};

/// The field manager used by the direct-write helpers unless one is given.
pub const TEST_ACTOR: &str = "test-actor";

pub(crate) struct Inner {
    pub(crate) state: Mutex<State>,
    pub(crate) shutdown: tokio::sync::watch::Sender<bool>,
}

impl Inner {
    fn shut_down(&self) {
        let mut st = self.state.lock().expect("state lock");
        st.shut_down = true;
        // Dropping the senders ends every watch stream.
        st.watchers.clear();
        drop(st);
        self.shutdown.send_replace(true);
    }
}

/// Shuts the fake down when the last `FakeApi` handle goes away, even while clients (which
/// hold only the service) are still alive: their watch streams end and requests fail.
struct Guard(Arc<Inner>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.shut_down();
    }
}

/// The fake API server. Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct FakeApi {
    inner: Arc<Inner>,
    _guard: Arc<Guard>,
}

/// A resource: API group, version and plural name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceRef {
    pub group: String,
    pub version: String,
    pub plural: String,
}

impl ResourceRef {
    pub fn new(group: &str, version: &str, plural: &str) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            plural: plural.into(),
        }
    }
    pub fn of<K: kube::Resource<DynamicType = ()>>() -> Self {
        Self::new(&K::group(&()), &K::version(&()), &K::plural(&()))
    }
}

/// One request as the fake saw it. `status` is the HTTP status, 0 for a transport failure.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    /// get, list, watch, create, update, patch, apply, delete, deletecollection ("get" for
    /// discovery).
    pub verb: String,
    pub group: String,
    pub version: String,
    /// Resource plural; empty for discovery and unknown paths.
    pub resource: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub status: u16,
    pub field_manager: Option<String>,
    pub content_type: Option<String>,
    pub method: String,
    pub path: String,
    pub query: String,
    /// Asked for metadata only (`Accept: ...;as=PartialObjectMetadata[List]...`).
    pub metadata_only: bool,
}

impl RequestRecord {
    pub fn is_write(&self) -> bool {
        matches!(
            self.verb.as_str(),
            "create" | "update" | "patch" | "apply" | "delete" | "deletecollection"
        )
    }
}

/// Which requests to count. Built up from `RequestFilter::default()` (everything).
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    verbs: Option<Vec<String>>,
    resource: Option<String>,
    exclude: Vec<String>,
    subresource: Option<Option<String>>,
    namespace: Option<String>,
    name: Option<String>,
    status: Option<u16>,
    writes_only: bool,
}

impl RequestFilter {
    pub fn writes() -> Self {
        Self {
            writes_only: true,
            ..Self::default()
        }
    }
    pub fn verb(mut self, v: &str) -> Self {
        self.verbs.get_or_insert_with(Vec::new).push(v.into());
        self
    }
    pub fn resource(mut self, plural: &str) -> Self {
        self.resource = Some(plural.into());
        self
    }
    pub fn exclude_resource(mut self, plural: &str) -> Self {
        self.exclude.push(plural.into());
        self
    }
    /// `None` matches only requests to the main resource.
    pub fn subresource(mut self, sub: Option<&str>) -> Self {
        self.subresource = Some(sub.map(String::from));
        self
    }
    pub fn namespace(mut self, ns: &str) -> Self {
        self.namespace = Some(ns.into());
        self
    }
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.into());
        self
    }
    pub fn status(mut self, code: u16) -> Self {
        self.status = Some(code);
        self
    }
    pub fn matches(&self, r: &RequestRecord) -> bool {
        (!self.writes_only || r.is_write())
            && self.verbs.as_ref().is_none_or(|vs| vs.contains(&r.verb))
            && self.resource.as_ref().is_none_or(|x| *x == r.resource)
            && !self.exclude.contains(&r.resource)
            && self
                .subresource
                .as_ref()
                .is_none_or(|s| *s == r.subresource)
            && self
                .namespace
                .as_ref()
                .is_none_or(|n| Some(n) == r.namespace.as_ref())
            && self
                .name
                .as_ref()
                .is_none_or(|n| Some(n) == r.name.as_ref())
            && self.status.is_none_or(|s| s == r.status)
    }
}

impl Default for FakeApi {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeApi {
    /// A fake with the built-in kinds registered.
    pub fn new() -> Self {
        let (tx, _) = tokio::sync::watch::channel(false);
        let inner = Arc::new(Inner {
            state: Mutex::new(State::new()),
            shutdown: tx,
        });
        let api = Self {
            _guard: Arc::new(Guard(inner.clone())),
            inner,
        };
        for k in builtin_kinds() {
            api.register(k);
        }
        api
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().expect("state lock")
    }

    pub fn register(&self, kind: KindInfo) {
        self.state().register(kind);
    }

    /// Register the kind a CRD declares (as creating the CRD through the API also does).
    pub fn register_crd(&self, crd: &impl serde::Serialize) {
        let v = serde_json::to_value(crd).expect("CRD serializes");
        self.register(KindInfo::from_crd(&v).expect("a CRD with group, names and versions"));
    }

    /// The tower service behind the clients.
    pub fn service(&self) -> FakeService {
        FakeService {
            inner: self.inner.clone(),
            timeout: None,
        }
    }

    /// A client talking to this fake, default namespace "default".
    pub fn client(&self) -> kube::Client {
        kube::Client::new(self.service(), "default")
    }

    /// A client whose requests fail with a transport error after `timeout`, like kube's
    /// real stack with a read timeout (useful with `FaultRule::hang()`).
    pub fn client_with_timeout(&self, timeout: Duration) -> kube::Client {
        let svc = FakeService {
            inner: self.inner.clone(),
            timeout: Some(timeout),
        };
        kube::Client::new(svc, "default")
    }

    /// End every watch stream and fail every later request. Also happens when the last
    /// `FakeApi` handle is dropped.
    pub fn shutdown(&self) {
        self.inner.shut_down();
    }

    fn kind(&self, res: &ResourceRef) -> Result<KindInfo, ApiError> {
        self.state()
            .kind(&res.group, &res.plural)
            .filter(|k| k.version == res.version)
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    "NotFound",
                    format!("resource {res:?} is not registered"),
                )
            })
    }

    // ------------------------------------------------------------ direct state access

    pub fn get(&self, res: &ResourceRef, ns: Option<&str>, name: &str) -> Option<Value> {
        let k = self.kind(res).ok()?;
        self.state().get(&k, ns, name).ok()
    }

    /// Typed `get`.
    pub fn get_as<K>(&self, ns: Option<&str>, name: &str) -> Option<K>
    where
        K: kube::Resource<DynamicType = ()> + DeserializeOwned,
    {
        let v = self.get(&ResourceRef::of::<K>(), ns, name)?;
        Some(serde_json::from_value(v).expect("stored object deserializes"))
    }

    /// All objects of a resource, in one namespace or (`None`) all.
    pub fn list(&self, res: &ResourceRef, ns: Option<&str>) -> Vec<Value> {
        let Ok(k) = self.kind(res) else {
            return Vec::new();
        };
        self.state()
            .list(&k, ns, None, None)
            .into_iter()
            .map(|(_, v)| v)
            .collect()
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.state().rv
    }

    /// Create as another actor (field manager `TEST_ACTOR`); namespace from the object.
    pub fn create(&self, res: &ResourceRef, obj: Value) -> Result<Value, ApiError> {
        let k = self.kind(res)?;
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(String::from);
        self.state()
            .create(&k, ns.as_deref(), obj, &WriteCtx::new(TEST_ACTOR))
    }

    /// PUT as another actor, to the main resource or (`status`) to `/status`.
    pub fn update(&self, res: &ResourceRef, obj: Value, status: bool) -> Result<Value, ApiError> {
        let k = self.kind(res)?;
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(String::from);
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let mut ctx = WriteCtx::new(TEST_ACTOR);
        if status {
            ctx = ctx.status();
        }
        self.state().replace(&k, ns.as_deref(), &name, obj, &ctx)
    }

    /// JSON merge patch as `manager`, to the main resource or (`status`) to `/status`.
    pub fn merge_patch(
        &self,
        res: &ResourceRef,
        ns: Option<&str>,
        name: &str,
        manager: &str,
        patch: Value,
        status: bool,
    ) -> Result<Value, ApiError> {
        self.patch_with(
            res,
            ns,
            name,
            manager,
            status,
            false,
            PatchType::Merge,
            patch,
        )
    }

    /// Server-side apply as `manager`, to the main resource or (`status`) to `/status`.
    #[allow(clippy::too_many_arguments)]
    pub fn apply(
        &self,
        res: &ResourceRef,
        ns: Option<&str>,
        name: &str,
        manager: &str,
        obj: Value,
        force: bool,
        status: bool,
    ) -> Result<Value, ApiError> {
        self.patch_with(res, ns, name, manager, status, force, PatchType::Apply, obj)
    }

    #[allow(clippy::too_many_arguments)]
    fn patch_with(
        &self,
        res: &ResourceRef,
        ns: Option<&str>,
        name: &str,
        manager: &str,
        status: bool,
        force: bool,
        ptype: PatchType,
        body: Value,
    ) -> Result<Value, ApiError> {
        let k = self.kind(res)?;
        let mut ctx = WriteCtx::new(manager);
        ctx.force = force;
        if status {
            ctx = ctx.status();
        }
        self.state()
            .patch(&k, ns, name, ptype, body, &ctx)
            .map(|(v, _)| v)
    }

    /// Delete (background propagation). Returns whether the object is gone (false while
    /// finalizers hold it).
    pub fn delete(
        &self,
        res: &ResourceRef,
        ns: Option<&str>,
        name: &str,
    ) -> Result<bool, ApiError> {
        let k = self.kind(res)?;
        self.state()
            .delete(&k, ns, name, &DeleteOpts::default())
            .map(|(_, gone)| gone)
    }

    // ------------------------------------------------------------ requests

    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state().requests.clone()
    }

    pub fn reset_requests(&self) {
        self.state().requests.clear();
    }

    pub fn count(&self, filter: &RequestFilter) -> usize {
        self.state()
            .requests
            .iter()
            .filter(|r| filter.matches(r))
            .count()
    }

    /// create/update/patch/apply/delete/deletecollection requests, events included.
    pub fn writes(&self) -> usize {
        self.count(&RequestFilter::writes())
    }

    /// Like `writes`, without writes to `events` (core/v1 and events.k8s.io/v1).
    pub fn writes_except_events(&self) -> usize {
        self.count(&RequestFilter::writes().exclude_resource("events"))
    }

    // ------------------------------------------------------------ faults

    pub fn inject(&self, rule: FaultRule) {
        self.state().faults.push(rule);
    }

    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// Seed for probabilistic faults.
    pub fn set_seed(&self, seed: u64) {
        self.state().fault_rng = faults::Rng::new(seed);
    }

    /// While down, every request fails at the transport level (API unreachable).
    pub fn set_down(&self, down: bool) {
        self.state().down = down;
    }

    // ------------------------------------------------------------ watch tuning

    pub fn set_bookmark_interval(&self, d: Duration) {
        self.state().bookmark_interval = d;
    }

    /// How many events the watch history keeps (resourceVersions older get 410).
    pub fn set_history_limit(&self, n: usize) {
        let mut st = self.state();
        st.history_limit = n.max(1);
        while st.history.len() > st.history_limit {
            if let Some(e) = st.history.pop_front() {
                st.history_floor = e.rv;
            }
        }
    }

    /// Close every open watch stream, as when the API server restarts or a connection
    /// drops; clients re-watch from their last resourceVersion.
    pub fn disconnect_watches(&self) {
        self.state().watchers.clear();
    }

    /// Drop the event history: watches from an older resourceVersion get 410 Gone.
    pub fn compact_history(&self) {
        self.state().compact();
    }

    // ------------------------------------------------------------ simulated controllers

    /// Deployment controller: on every spec change, status (observedGeneration, replica
    /// counts = spec.replicas, Available/Progressing) written via `/status` as
    /// `kube-controller-manager`.
    pub fn simulate_deployment_controller(&self, on: bool) {
        let mut st = self.state();
        st.sim_deployments = on;
        if on {
            let k = st.kind("apps", "deployments").expect("built-in");
            let keys: Vec<_> = st
                .list(&k, None, None, None)
                .into_iter()
                .map(|(k, _)| k)
                .collect();
            for key in keys {
                st.sim_deployment(&k, &key);
            }
        }
    }

    /// The Deployment controller (switched on) rolls out as a real one does, one pod at a time:
    /// on a new generation it first reports no pod ready, then every `step` one more pod ready
    /// and available, until the rollout is complete. Each step is a status write the operator
    /// sees. Must be called inside a Tokio runtime; the ticker stops with the fake.
    pub fn simulate_staged_rollouts(&self, step: Duration) {
        {
            let mut st = self.state();
            st.sim_deployments = true;
            st.sim_staged = true;
        }
        let inner = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(step).await;
                let Some(inner) = inner.upgrade() else { return };
                let Ok(mut st) = inner.state.lock() else {
                    return;
                };
                if st.shut_down {
                    return;
                }
                st.advance_rollouts();
            }
        });
    }

    /// PV controller: new PVCs get `status.phase: Bound`.
    pub fn simulate_pvc_binding(&self, on: bool) {
        let mut st = self.state();
        st.sim_pvcs = on;
        if on {
            let k = st.kind("", "persistentvolumeclaims").expect("built-in");
            let keys: Vec<_> = st
                .list(&k, None, None, None)
                .into_iter()
                .map(|(k, _)| k)
                .collect();
            for key in keys {
                st.sim_pvc(&k, &key);
            }
        }
    }

    // ------------------------------------------------------------ helpers

    /// Poll `cond` every 10ms until it holds or `timeout` passes; returns whether it held.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        mut cond: impl FnMut(&FakeApi) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if cond(self) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn builtin_kinds() -> Vec<KindInfo> {
    vec![
        KindInfo::new("", "v1", "ConfigMap", "configmaps"),
        KindInfo::new("", "v1", "Secret", "secrets"),
        KindInfo::new("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims").with_status(),
        KindInfo::new("", "v1", "Namespace", "namespaces")
            .cluster_scoped()
            .with_status(),
        KindInfo::new("", "v1", "Event", "events"),
        KindInfo::new("", "v1", "Pod", "pods").with_status(),
        KindInfo::new("", "v1", "Service", "services").with_status(),
        KindInfo::new("", "v1", "ServiceAccount", "serviceaccounts"),
        KindInfo::new("apps", "v1", "Deployment", "deployments")
            .with_status()
            .with_scale(".spec.replicas", ".status.replicas", None),
        KindInfo::new(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
        )
        .with_status(),
        KindInfo::new("networking.k8s.io", "v1", "Ingress", "ingresses").with_status(),
        KindInfo::new(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
        )
        .with_status(),
        KindInfo::new(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
        ),
        KindInfo::new("coordination.k8s.io", "v1", "Lease", "leases"),
        KindInfo::new("events.k8s.io", "v1", "Event", "events"),
        KindInfo::new(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
        )
        .cluster_scoped()
        .with_status(),
    ]
}
