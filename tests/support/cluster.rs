//! Helpers for the tests against a real Kubernetes API server (`tests/cluster.rs`).
//!
//! Each test gets an [`Env`]: a client from `KUBECONFIG`, the CRD installed (server-side apply,
//! forced, waited for until Established and its CEL rules answer), and a fresh namespace
//! `ssvc-test-<random>` that is deleted when the `Env` is dropped — also when the test panics
//! (then the namespace's objects and events are printed first). Operators run in-process with
//! `runner::run_with`, scoped to that namespace ([`Op`]); dropping one stops it.
//!
//! Every wait polls with a deadline ([`Env::wait_for`]); nothing synchronises on a bare sleep.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, Pod, Secret};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use kube::{Client, Resource};
use serde_json::{Value, json};
use stateless_operator::controller::Settings;
use stateless_operator::crd::StatelessService;
use stateless_operator::leader::LeaderConfig;
use stateless_operator::metrics::Metrics;
use stateless_operator::runner::{self, RunError, RunOptions};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Field manager of everything the tests themselves write.
pub const FIELD_MANAGER: &str = "stateless-operator-tests";
/// Field manager of "user" edits of StatelessServices in tests.
pub const USER: &str = "kubectl-test";
/// A tiny public image that runs as any non-root user with a read-only root filesystem.
pub const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10";
/// The uid the pause image runs as in tests.
pub const PAUSE_UID: i64 = 65535;
/// The CRD's name.
pub const CRD_NAME: &str = "statelessservices.stateless.dev";
/// The operator's default Lease name: a fresh Lease of that name means another operator runs.
const DEFAULT_LEASE: &str = "stateless-operator-leader";
/// Longest a single request of the test itself may take (the client has no read timeout).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The CRD as committed.
fn crd_manifest() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/statelessservice.yaml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"))
}

/// Logs of the operator go to the test's output (shown for failing tests); `RUST_LOG` overrides.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,stateless_operator=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// A client for the cluster in `KUBECONFIG` (or `~/.kube/config`, or the in-cluster config);
/// panics with a message that says a cluster is needed when there is none.
pub async fn connect() -> Client {
    let where_ = std::env::var("KUBECONFIG")
        .map(|k| format!("KUBECONFIG={k}"))
        .unwrap_or_else(|_| "KUBECONFIG is not set".to_string());
    let client = match Client::try_default().await {
        Ok(client) => client,
        Err(e) => panic!(
            "tests/cluster.rs needs a Kubernetes cluster: set KUBECONFIG to the kubeconfig of a \
             cluster where you may create namespaces and CRDs ({where_}; loading it failed: {e})"
        ),
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, client.apiserver_version()).await {
        Ok(Ok(_)) => client,
        Ok(Err(e)) => panic!(
            "tests/cluster.rs needs a Kubernetes cluster, but the API server from {where_} \
             cannot be reached: {e}"
        ),
        Err(_) => panic!(
            "tests/cluster.rs needs a Kubernetes cluster, but the API server from {where_} did \
             not answer within {REQUEST_TIMEOUT:?}"
        ),
    }
}

/// The API resource of a typed kind.
pub fn ar<K: Resource<DynamicType = ()>>() -> ApiResource {
    ApiResource::erase::<K>(&())
}

/// The StatelessService resource.
pub fn ssvc_ar() -> ApiResource {
    ar::<StatelessService>()
}

/// Applies the CRD (server-side apply, forced: concurrent tests applying the same content is
/// fine) and waits until it is Established.
pub async fn install_crd(client: &Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let manifest = crd_manifest();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match timeout(api.patch(CRD_NAME, &params, &Patch::Apply(&manifest))).await {
            Ok(_) => break,
            // Another test's apply can race ours on a freshly created CRD: retry briefly.
            Err(e) if Instant::now() < deadline && is_retryable(&e) => {
                eprintln!("applying the CRD failed, retrying: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("cannot apply the CRD {CRD_NAME} (are you cluster-admin?): {e}"),
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let crd = timeout(api.get(CRD_NAME)).await;
        let established = crd.as_ref().ok().is_some_and(|crd| {
            crd.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                })
        });
        if established {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "the CRD {CRD_NAME} did not become Established within 60 s: {}",
                crd.map(|c| yaml(&serde_json::to_value(c.status).unwrap_or_default()))
                    .unwrap_or_else(|e| e.to_string())
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn is_retryable(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => matches!(s.code, 409 | 429 | 500 | 503 | 504),
        _ => true,
    }
}

/// A request with the tests' per-request timeout, as a `kube::Error` on expiry.
async fn timeout<T>(fut: impl Future<Output = kube::Result<T>>) -> kube::Result<T> {
    match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
        Ok(result) => result,
        Err(_) => Err(kube::Error::Service(
            format!("request timed out after {REQUEST_TIMEOUT:?}").into(),
        )),
    }
}

/// Other stateless-operators running in the cluster (a fresh default Lease, or the Helm
/// chart's Deployment with available pods): they would reconcile the test namespaces too.
async fn other_operators(client: &Client) -> Vec<String> {
    let mut found = Vec::new();
    let leases: Api<Lease> = Api::all(client.clone());
    let lp = ListParams::default().fields(&format!("metadata.name={DEFAULT_LEASE}"));
    if let Ok(list) = timeout(leases.list(&lp)).await {
        let now = k8s_openapi::jiff::Timestamp::now();
        for lease in list {
            let spec = lease.spec.clone().unwrap_or_default();
            let fresh = spec.renew_time.as_ref().is_some_and(|t| {
                let age = now.duration_since(t.0).as_secs();
                age < 2 * i64::from(spec.lease_duration_seconds.unwrap_or(15)) + 10
            });
            if let (Some(holder), true) = (spec.holder_identity, fresh) {
                found.push(format!(
                    "Lease {}/{DEFAULT_LEASE} held by {holder}",
                    lease.metadata.namespace.unwrap_or_default()
                ));
            }
        }
    }
    let deployments: Api<Deployment> = Api::all(client.clone());
    let lp = ListParams::default().labels("app.kubernetes.io/part-of=stateless-operator");
    if let Ok(list) = timeout(deployments.list(&lp)).await {
        for d in list {
            let available = d
                .status
                .as_ref()
                .and_then(|s| s.available_replicas)
                .unwrap_or(0);
            if available > 0 {
                found.push(format!(
                    "Deployment {}/{} with {available} available pod(s)",
                    d.metadata.namespace.unwrap_or_default(),
                    d.metadata.name.unwrap_or_default()
                ));
            }
        }
    }
    found
}

fn random_suffix() -> String {
    use rand::RngExt;
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(8)
        .map(|b| char::from(b).to_ascii_lowercase())
        .collect()
}

/// One test's cluster environment; dropping it deletes the namespace.
pub struct Env {
    /// The client of the test (operators get clones).
    pub client: Client,
    /// The test namespace.
    pub ns: String,
    /// The test's name, for messages.
    pub test: String,
    /// Other stateless-operators found running in the cluster at setup.
    pub other_operators: Vec<String>,
}

impl Env {
    /// Connects, installs the CRD, creates the namespace and waits until the API server
    /// enforces the CRD's rules in it.
    pub async fn setup(test: &str) -> Env {
        init_tracing();
        let client = connect().await;
        install_crd(&client).await;
        let other_operators = other_operators(&client).await;
        for other in &other_operators {
            eprintln!(
                "WARNING: another stateless-operator runs in this cluster ({other}); it also \
                 reconciles the test namespaces unless it watches only its own namespace"
            );
        }
        let ns = format!("ssvc-test-{}", random_suffix());
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let object: Namespace = serde_json::from_value(json!({
            "metadata": {"name": ns, "labels": {"stateless.dev/test": test}}
        }))
        .expect("namespace object");
        let pp = PostParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PostParams::default()
        };
        if let Err(e) = timeout(namespaces.create(&pp, &object)).await {
            panic!("cannot create the test namespace {ns}: {e}");
        }
        eprintln!("[{test}] namespace {ns}");
        // From here on the guard deletes the namespace, whatever happens.
        let env = Env {
            client,
            ns,
            test: test.to_string(),
            other_operators,
        };
        env.wait_crd_enforced().await;
        env
    }

    /// Polls a server-side dry-run create of an object that breaks a CEL rule until the API
    /// server rejects it with that rule's message: then the resource is served in this namespace
    /// and its validation rules are active (they lag the CRD update by a moment).
    async fn wait_crd_enforced(&self) {
        let api = self.ssvc();
        let pp = PostParams {
            dry_run: true,
            field_manager: Some(FIELD_MANAGER.to_string()),
        };
        let probe = self.object(
            "crd-probe",
            json!({"image": PAUSE_IMAGE, "replicas": 3, "storage": {"size": "1Gi", "mountPath": "/data"}}),
        );
        let mut last = String::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            match timeout(api.create(&pp, &probe)).await {
                Err(kube::Error::Api(s))
                    if s.code == 422 && s.message.contains("replicas > 1 with storage") =>
                {
                    return;
                }
                Err(e) => last = e.to_string(),
                Ok(_) => last = "the dry-run create was accepted".to_string(),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!(
            "the API server did not enforce the CRD's CEL rules within 60 s (last answer: {last})"
        );
    }

    /// Fails the test when another operator runs in the cluster (for tests whose figures it
    /// would falsify).
    pub fn require_sole_operator(&self) {
        assert!(
            self.other_operators.is_empty(),
            "this test measures one operator, but another stateless-operator runs in the cluster \
             and reconciles the test namespace too: {:?}. Scale it to 0 (or make it watch only \
             its own namespace) while running tests/cluster.rs",
            self.other_operators
        );
    }

    /// Settings scoped to the test namespace.
    pub fn settings(&self, instance: &str) -> Settings {
        Settings {
            namespace: Some(self.ns.clone()),
            concurrency: 8,
            resync: Duration::from_secs(600),
            instance: Some(instance.to_string()),
        }
    }

    /// Starts an operator without leader election.
    pub fn start(&self, name: &str) -> Op {
        self.start_with(name, self.settings(name), None)
    }

    /// Starts an operator with the given settings and leader election.
    pub fn start_with(&self, name: &str, settings: Settings, leader: Option<LeaderConfig>) -> Op {
        let shutdown = CancellationToken::new();
        let metrics = Metrics::new();
        // Bound here so that the test knows where `/readyz` is before the operator starts.
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        std_listener.set_nonblocking(true).expect("non-blocking");
        let addr = std_listener.local_addr().expect("local address");
        let listener = tokio::net::TcpListener::from_std(std_listener).expect("tokio listener");
        let options = RunOptions {
            settings,
            leader,
            metrics_addr: addr.to_string(),
        };
        let run = runner::run_on(
            self.client.clone(),
            options,
            metrics.clone(),
            shutdown.clone(),
            listener,
        );
        let label = format!("{}/{name}", self.test);
        let task = tokio::spawn(async move {
            let result = run.await;
            if let Err(e) = &result {
                eprintln!("[{label}] operator stopped with an error: {e}");
            }
            result
        });
        Op {
            name: name.to_string(),
            addr,
            shutdown,
            task: Some(task),
            metrics,
        }
    }

    /// The StatelessServices of the namespace.
    pub fn ssvc(&self) -> Api<DynamicObject> {
        self.api(&ssvc_ar())
    }

    /// Any namespaced resource of the namespace.
    pub fn api(&self, ar: &ApiResource) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.ns, ar)
    }

    /// A StatelessService manifest in the namespace.
    pub fn object(&self, name: &str, spec: Value) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "stateless.dev/v1alpha1",
            "kind": "StatelessService",
            "metadata": {"name": name, "namespace": self.ns},
            "spec": spec,
        }))
        .expect("StatelessService object")
    }

    /// Creates a StatelessService; the server's answer (defaults applied) or its error.
    pub async fn try_create(&self, name: &str, spec: Value) -> Result<Value, kube::Error> {
        let pp = PostParams {
            field_manager: Some(USER.to_string()),
            ..PostParams::default()
        };
        let created = timeout(self.ssvc().create(&pp, &self.object(name, spec))).await?;
        Ok(serde_json::to_value(created).expect("json"))
    }

    /// Creates a StatelessService that must be accepted.
    pub async fn create(&self, name: &str, spec: Value) -> Value {
        self.try_create(name, spec)
            .await
            .unwrap_or_else(|e| panic!("create StatelessService {name}: {e}"))
    }

    /// A JSON merge patch of a StatelessService by a user.
    pub async fn try_patch(&self, name: &str, patch: Value) -> Result<Value, kube::Error> {
        let params = PatchParams {
            field_manager: Some(USER.to_string()),
            ..PatchParams::default()
        };
        let patched = timeout(self.ssvc().patch(name, &params, &Patch::Merge(&patch))).await?;
        Ok(serde_json::to_value(patched).expect("json"))
    }

    /// A merge patch of a StatelessService that must be accepted.
    pub async fn patch(&self, name: &str, patch: Value) -> Value {
        self.try_patch(name, patch.clone())
            .await
            .unwrap_or_else(|e| panic!("patch StatelessService {name} with {patch}: {e}"))
    }

    /// Deletes a StatelessService (background propagation, the default for custom resources).
    pub async fn delete(&self, name: &str) {
        timeout(self.ssvc().delete(name, &DeleteParams::default()))
            .await
            .unwrap_or_else(|e| panic!("delete StatelessService {name}: {e}"));
    }

    /// Reads an object; `Ok(None)` when it does not exist.
    pub async fn try_get(
        &self,
        ar: &ApiResource,
        name: &str,
    ) -> Result<Option<Value>, kube::Error> {
        let found = timeout(self.api(ar).get_opt(name)).await?;
        Ok(found.map(|o| serde_json::to_value(o).expect("json")))
    }

    /// Reads an object of a typed kind (errors other than 404 are logged and read as absent:
    /// use [`Env::absent`] to assert absence).
    pub async fn get<K: Resource<DynamicType = ()>>(&self, name: &str) -> Option<Value> {
        self.get_as(&ar::<K>(), name).await
    }

    /// Reads an object (see [`Env::get`]).
    pub async fn get_as(&self, ar: &ApiResource, name: &str) -> Option<Value> {
        match self.try_get(ar, name).await {
            Ok(found) => found,
            Err(e) => {
                eprintln!("read {} {}/{name}: {e}", ar.kind, self.ns);
                None
            }
        }
    }

    /// A StatelessService.
    pub async fn svc(&self, name: &str) -> Option<Value> {
        self.get_as(&ssvc_ar(), name).await
    }

    /// True when the object certainly does not exist (any error fails the test).
    pub async fn absent<K: Resource<DynamicType = ()>>(&self, name: &str) -> bool {
        match self.try_get(&ar::<K>(), name).await {
            Ok(found) => found.is_none(),
            Err(e) => panic!("read {} {}/{name}: {e}", K::kind(&()), self.ns),
        }
    }

    /// True when a read shows the object does not exist (false on any error: for polling).
    pub async fn gone<K: Resource<DynamicType = ()>>(&self, name: &str) -> bool {
        matches!(self.try_get(&ar::<K>(), name).await, Ok(None))
    }

    /// Lists the objects of a kind in the namespace.
    pub async fn list_as(&self, ar: &ApiResource) -> Vec<Value> {
        match timeout(self.api(ar).list(&ListParams::default())).await {
            Ok(list) => list
                .items
                .into_iter()
                .map(|o| serde_json::to_value(o).expect("json"))
                .collect(),
            Err(e) => {
                eprintln!("list {} in {}: {e}", ar.plural, self.ns);
                Vec::new()
            }
        }
    }

    /// Lists the objects of a typed kind in the namespace.
    pub async fn list<K: Resource<DynamicType = ()>>(&self) -> Vec<Value> {
        self.list_as(&ar::<K>()).await
    }

    /// `events.k8s.io/v1` Events of the namespace.
    pub async fn events(&self) -> Vec<Value> {
        self.list::<Event>().await
    }

    /// True when an event of `type_` and `reason` about StatelessService `name` has a note
    /// containing every fragment.
    pub async fn has_event(
        &self,
        name: &str,
        type_: &str,
        reason: &str,
        fragments: &[&str],
    ) -> bool {
        self.events().await.iter().any(|e| {
            e["type"] == type_
                && e["reason"] == reason
                && e["regarding"]["kind"] == "StatelessService"
                && e["regarding"]["name"] == name
                && e["note"]
                    .as_str()
                    .is_some_and(|n| fragments.iter().all(|f| n.contains(f)))
        })
    }

    /// Polls `check` (every 500 ms, each poll bounded) until it yields a value; after `secs`
    /// seconds fails the test with `what` (the namespace is then dumped by the guard).
    pub async fn wait_for<T>(
        &self,
        what: &str,
        secs: u64,
        mut check: impl AsyncFnMut() -> Option<T>,
    ) -> T {
        let start = Instant::now();
        let deadline = start + Duration::from_secs(secs);
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if let Ok(Some(value)) =
                tokio::time::timeout(remaining.max(Duration::from_secs(1)), check()).await
            {
                eprintln!(
                    "[{}] {what}: after {:.1} s",
                    self.test,
                    start.elapsed().as_secs_f64()
                );
                return value;
            }
            if Instant::now() >= deadline {
                panic!(
                    "[{}] timed out after {secs} s waiting for: {what}",
                    self.test
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// [`Env::wait_for`] with a boolean check.
    pub async fn eventually(&self, what: &str, secs: u64, mut check: impl AsyncFnMut() -> bool) {
        self.wait_for(what, secs, async || check().await.then_some(()))
            .await
    }

    /// Waits until the operator has applied the service's children and written a status for
    /// its current generation (not stalled, not paused) and returns the service.
    pub async fn wait_applied(&self, name: &str, secs: u64) -> Value {
        self.wait_for(
            &format!("{name}: children applied and status written"),
            secs,
            async || {
                let svc = self.svc(name).await?;
                let stalled = condition(&svc, "Stalled")?;
                let reconciling = condition(&svc, "Reconciling")?;
                let ok = is_current(&svc)
                    && stalled.status == "False"
                    && reconciling.reason != "Paused"
                    && self.get::<Deployment>(name).await.is_some();
                ok.then_some(svc)
            },
        )
        .await
    }

    /// Waits until the service reports Ready=True for its current generation (`kubectl wait
    /// --for=condition=Ready`, but also checking the condition's observedGeneration).
    pub async fn wait_ready(&self, name: &str, secs: u64) -> Value {
        self.wait_for(
            &format!("{name}: Ready for its current generation"),
            secs,
            async || self.svc(name).await.filter(is_ready),
        )
        .await
    }

    /// Resource versions of every object the operator reads or writes in the namespace.
    pub async fn versions(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for ar in [
            ssvc_ar(),
            ar::<Deployment>(),
            ar::<ConfigMap>(),
            ar::<Secret>(),
            ar::<PersistentVolumeClaim>(),
            ar::<PodDisruptionBudget>(),
        ] {
            for o in self.list_as(&ar).await {
                let name = o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let rv = o["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                out.insert(format!("{}/{name}", ar.kind), rv);
            }
        }
        out
    }

    /// Waits until nothing changes for `quiet`: no write by the operators and no new resource
    /// version of any StatelessService or child (the Deployment controller and the volume
    /// binder are done too). Fails after `max`.
    pub async fn settle(&self, ops: &[&Op], quiet: Duration, max: Duration) {
        let start = Instant::now();
        let snapshot = async || {
            let writes: f64 = ops.iter().map(|o| o.writes()).sum();
            (writes.to_string(), self.versions().await)
        };
        let mut last = snapshot().await;
        let mut since = Instant::now();
        loop {
            if since.elapsed() >= quiet {
                eprintln!(
                    "[{}] settled: nothing changed for {quiet:?} (after {:.1} s)",
                    self.test,
                    start.elapsed().as_secs_f64()
                );
                return;
            }
            if start.elapsed() > max {
                panic!(
                    "[{}] the namespace did not settle within {max:?} (still changing: {:?})",
                    self.test, last
                );
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = snapshot().await;
            if now != last {
                last = now;
                since = Instant::now();
            }
        }
    }

    /// Everything in the namespace, for failure reports: objects (managedFields summarised,
    /// Secret values redacted), pods, events.
    pub async fn dump(&self) -> String {
        dump(&self.client, &self.ns).await
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let ns = self.ns.clone();
        let test = self.test.clone();
        let failed = std::thread::panicking();
        if failed && std::env::var_os("SSVC_TEST_KEEP_NAMESPACE").is_some() {
            eprintln!("[{test}] test failed: namespace {ns} kept (SSVC_TEST_KEEP_NAMESPACE)");
            return;
        }
        // The test's runtime may be shutting down or blocked in this very drop: use a thread
        // with its own runtime and its own client.
        let cleanup = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("[{test}] cannot delete namespace {ns}: no runtime: {e}");
                    return;
                }
            };
            runtime.block_on(async {
                let client = match Client::try_default().await {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("[{test}] cannot delete namespace {ns}: {e}");
                        return;
                    }
                };
                if failed {
                    let text = tokio::time::timeout(Duration::from_secs(60), dump(&client, &ns))
                        .await
                        .unwrap_or_else(|_| "(dump timed out)".to_string());
                    eprintln!("[{test}] FAILED; namespace {ns} contains:\n{text}");
                }
                let namespaces: Api<Namespace> = Api::all(client);
                match timeout(namespaces.delete(&ns, &DeleteParams::background())).await {
                    Ok(_) => eprintln!("[{test}] namespace {ns} deleted"),
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => eprintln!("[{test}] cannot delete namespace {ns}: {e}"),
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// One operator process, in-process. Dropping it stops it (token cancelled, task aborted).
pub struct Op {
    /// Name used in its Settings.instance.
    pub name: String,
    /// Where it serves `/healthz`, `/readyz` and `/metrics` (loopback).
    pub addr: std::net::SocketAddr,
    shutdown: CancellationToken,
    task: Option<JoinHandle<Result<(), RunError>>>,
    /// Its metrics.
    pub metrics: Metrics,
}

impl Op {
    /// Stops it like SIGTERM and waits for it to finish; panics when it fails to within the
    /// documented shutdown bound (plus a little for a loaded test machine).
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let Some(task) = self.task.take() else { return };
        let bound = runner::SHUTDOWN_BOUND + Duration::from_secs(3);
        match tokio::time::timeout(bound, task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => panic!("operator {} stopped with an error: {e}", self.name),
            Ok(Err(e)) => panic!("operator {} panicked: {e}", self.name),
            Err(_) => panic!("operator {} did not stop within {bound:?}", self.name),
        }
    }

    /// The HTTP status of `GET path` on its endpoint (0 when it does not answer).
    pub async fn http_status(&self, path: &str) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let request = async {
            let mut stream = tokio::net::TcpStream::connect(self.addr).await.ok()?;
            let head = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
            stream.write_all(head.as_bytes()).await.ok()?;
            let mut response = Vec::new();
            stream.read_to_end(&mut response).await.ok()?;
            let text = String::from_utf8_lossy(&response);
            text.split(' ').nth(1)?.parse().ok()
        };
        tokio::time::timeout(Duration::from_secs(5), request)
            .await
            .ok()
            .flatten()
            .unwrap_or(0)
    }

    /// Aborts its task as a crash would. Note: leader election runs in a task of its own,
    /// which notices that the operator is gone and releases the Lease.
    pub fn kill(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// True when it stopped on its own (it should run until stopped).
    pub fn has_stopped(&self) -> bool {
        self.task.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Writes it made (all kinds and verbs, events included).
    pub fn writes(&self) -> f64 {
        self.write_lines()
            .iter()
            .filter_map(|l| l.rsplit_once(' '))
            .filter_map(|(_, v)| v.trim().parse::<f64>().ok())
            .sum()
    }

    /// The `stateless_operator_writes_total` samples, for messages.
    pub fn write_lines(&self) -> Vec<String> {
        self.metrics
            .encode()
            .lines()
            .filter(|l| l.starts_with("stateless_operator_writes_total{"))
            .map(str::to_string)
            .collect()
    }

    /// Reconciles it finished.
    pub fn reconciles(&self) -> f64 {
        self.sample("stateless_operator_reconcile_duration_seconds_count")
    }

    /// True while it leads.
    pub fn leading(&self) -> bool {
        self.sample("stateless_operator_leader") == 1.0
    }

    /// An unlabelled sample.
    pub fn sample(&self, name: &str) -> f64 {
        self.metrics
            .encode()
            .lines()
            .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .find_map(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    }

    /// Reconcile errors by category, for messages.
    pub fn error_lines(&self) -> Vec<String> {
        self.metrics
            .encode()
            .lines()
            .filter(|l| l.starts_with("stateless_operator_reconcile_errors_total{"))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A status condition.
#[derive(Clone, Debug, PartialEq)]
pub struct Cond {
    /// True, False or Unknown.
    pub status: String,
    /// Reason.
    pub reason: String,
    /// Message.
    pub message: String,
    /// Its observedGeneration.
    pub observed_generation: Option<i64>,
}

/// The condition `type_` of a StatelessService (JSON).
pub fn condition(svc: &Value, type_: &str) -> Option<Cond> {
    let c = svc
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)?;
    let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
    Some(Cond {
        status: s("status"),
        reason: s("reason"),
        message: s("message"),
        observed_generation: c["observedGeneration"].as_i64(),
    })
}

/// metadata.generation.
pub fn generation(o: &Value) -> Option<i64> {
    o.pointer("/metadata/generation").and_then(Value::as_i64)
}

/// True when the status describes the current generation.
pub fn is_current(svc: &Value) -> bool {
    generation(svc).is_some()
        && generation(svc)
            == svc
                .pointer("/status/observedGeneration")
                .and_then(Value::as_i64)
}

/// Ready=True for the current generation (status and condition).
pub fn is_ready(svc: &Value) -> bool {
    is_current(svc)
        && condition(svc, "Ready")
            .is_some_and(|c| c.status == "True" && c.observed_generation == generation(svc))
}

/// A value as YAML, for messages.
pub fn yaml(v: &Value) -> String {
    serde_yaml_ng::to_string(v).unwrap_or_else(|_| v.to_string())
}

/// An object for printing: managedFields reduced to who did what, Secret values redacted.
pub fn printable(o: &Value) -> Value {
    let mut o = o.clone();
    if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut)
        && let Some(mf) = meta.remove("managedFields")
    {
        let summary: Vec<String> = mf
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                format!(
                    "{} {}{}",
                    e["manager"].as_str().unwrap_or("?"),
                    e["operation"].as_str().unwrap_or("?"),
                    e["subresource"]
                        .as_str()
                        .map(|s| format!(" ({s})"))
                        .unwrap_or_default()
                )
            })
            .collect();
        meta.insert("managedFields(summary)".to_string(), json!(summary));
    }
    if o["kind"] == "Secret"
        && let Some(data) = o.get_mut("data").and_then(Value::as_object_mut)
    {
        for v in data.values_mut() {
            *v = json!("<redacted>");
        }
    }
    o
}

async fn dump(client: &Client, ns: &str) -> String {
    let mut out = String::new();
    for ar in [
        ssvc_ar(),
        ar::<Deployment>(),
        ar::<ConfigMap>(),
        ar::<Secret>(),
        ar::<PersistentVolumeClaim>(),
        ar::<PodDisruptionBudget>(),
        ar::<ReplicaSet>(),
    ] {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
        match timeout(api.list(&ListParams::default())).await {
            Ok(list) => {
                for o in list.items {
                    let mut v = serde_json::to_value(o).expect("json");
                    v["kind"] = json!(ar.kind);
                    out.push_str(&format!("---\n{}", yaml(&printable(&v))));
                }
            }
            Err(e) => out.push_str(&format!("--- (list {}: {e})\n", ar.plural)),
        }
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    if let Ok(list) = timeout(pods.list(&ListParams::default())).await {
        out.push_str("--- pods:\n");
        for p in list {
            let status = p.status.unwrap_or_default();
            let waiting: Vec<String> = status
                .container_statuses
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    let w = c.state?.waiting?;
                    Some(format!(
                        "{}: {} {}",
                        c.name,
                        w.reason.unwrap_or_default(),
                        w.message.unwrap_or_default()
                    ))
                })
                .collect();
            out.push_str(&format!(
                "  {} phase={} {:?}\n",
                p.metadata.name.unwrap_or_default(),
                status.phase.unwrap_or_default(),
                waiting
            ));
        }
    }
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    if let Ok(list) = timeout(events.list(&ListParams::default())).await {
        out.push_str("--- events (events.k8s.io/v1):\n");
        for e in list {
            let regarding = e.regarding.unwrap_or_default();
            out.push_str(&format!(
                "  {} {} {}/{} by {}: {}\n",
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                regarding.kind.unwrap_or_default(),
                regarding.name.unwrap_or_default(),
                e.reporting_controller.unwrap_or_default(),
                e.note.unwrap_or_default()
            ));
        }
    }
    out
}
