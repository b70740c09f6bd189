//! Scale benchmark: the real operator (`runner::run_with`, production defaults: concurrency 16,
//! resync 600 s, leader election with a 15 s lease) against the in-process fake API server with
//! N StatelessServices of a realistic mix of specs.
//!
//! For each N it measures, in one process (so CPU and memory include the fake API server):
//! - convergence: time from operator start until every service reports Ready for its
//!   generation, API requests by verb until then, reconciles, CPU per reconcile;
//! - re-sync: the converged operator is stopped and a fresh one started; it lists everything
//!   and reconciles every service again (waited for through its reconcile metrics); the writes
//!   it sends should be 0;
//! - memory: peak RSS (VmHWM, reset per run through `/proc/self/clear_refs`), the RSS growth
//!   from before the operator started to after convergence divided by N (fake children +
//!   operator caches), and the operator's own share: RSS with the re-synced second operator
//!   minus RSS with no operator running, divided by N (`malloc_trim` runs before each RSS
//!   reading so that memory glibc keeps for reuse counts less), and the same difference in
//!   live heap bytes from a counting global allocator, which is exact.
//!
//! Every tenth service references one of 17 ConfigMaps other tools own (`config.from`, created
//! before the operator starts): they are read once per referenced object after a restart and
//! then followed through the metadata-only watch.
//!
//! The full run ends with one more run at N = 1000 with unrelated (unlabelled) Secrets and
//! ConfigMaps in the fake, which shows that the operator keeps nothing of them (the child
//! watches are label-filtered; the watches of referenced objects are metadata-only and drop
//! every event on an unreferenced object) and that they do not change its memory. When sizes are given, only those runs happen, plus the unrelated
//! run when it is asked for (at N = 1000 if that is among the sizes, else the first size).
//!
//! ```text
//! cargo bench --bench scale                          # N = 100, 1000, 5000, then 1000 + 5000 unrelated of each
//! cargo bench --bench scale -- 1000                  # only N = 1000
//! cargo bench --bench scale -- 1000 --unrelated=5000 # N = 1000, then 1000 + 5000 unrelated of each
//! SCALE_N=100,500 SCALE_UNRELATED=2000 cargo bench --bench scale
//! ```
//!
//! It prints figures and asserts nothing about time.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use serde_json::{Value, json};
use stateless_operator::controller::Settings;
use stateless_operator::leader::LeaderConfig;
use support::fake_api::{FakeApi, RequestFilter, RequestRecord, ResourceRef};
use support::operator::{self, NS, Operator, cluster, metric, reconciles, ssvc};

/// Counts live heap bytes, so the operator's share of memory can be read exactly (RSS also
/// holds freed memory the allocator keeps and the fake's own growth).
struct Counting;

static LIVE: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter is added.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let p = unsafe { std::alloc::System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, std::sync::atomic::Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        unsafe { std::alloc::System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, std::sync::atomic::Ordering::Relaxed);
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        let p = unsafe { std::alloc::System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, std::sync::atomic::Ordering::Relaxed);
        }
        p
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        let p = unsafe { std::alloc::System.realloc(ptr, layout, new) };
        if !p.is_null() {
            LIVE.fetch_add(
                new as isize - layout.size() as isize,
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_heap() -> f64 {
    LIVE.load(std::sync::atomic::Ordering::Relaxed) as f64
}

/// How long one phase may take before the run is reported as not converged.
const PHASE_LIMIT: Duration = Duration::from_secs(900);

fn main() {
    let (sizes, unrelated) = arguments();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!(
        "scale benchmark: {} worker threads on {} cores, operator concurrency {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        Settings::default().concurrency
    );
    let mut rows = Vec::new();
    for n in sizes {
        let row = runtime.block_on(run(n, 0));
        row.print_details();
        rows.push(row);
    }
    // Compared with a run already made, so that no size runs that was not asked for.
    let baseline = rows.iter().find(|r| r.n == 1000).or(rows.first()).cloned();
    if let Some(baseline) = baseline.filter(|_| unrelated > 0) {
        let row = runtime.block_on(run(baseline.n, unrelated));
        row.print_details();
        print_unrelated(&baseline, &row);
        rows.push(row);
    }
    print_tables(&rows);
    print_per_service(&rows);
}

/// N values from the command line (numbers) or `SCALE_N` (default 100, 1000 and 5000), and the
/// number of unrelated Secrets and ConfigMaps (each) from `--unrelated=K` or `SCALE_UNRELATED`:
/// 0 (no unrelated run) when sizes are given without it, 5000 in the full default run.
fn arguments() -> (Vec<usize>, usize) {
    let mut sizes = Vec::new();
    let mut unrelated = std::env::var("SCALE_UNRELATED")
        .ok()
        .map(|v| v.parse().expect("SCALE_UNRELATED takes a number"));
    for arg in std::env::args().skip(1) {
        if let Some(k) = arg.strip_prefix("--unrelated=") {
            unrelated = Some(k.parse().expect("--unrelated=K takes a number"));
        } else if let Ok(n) = arg.parse::<usize>() {
            sizes.push(n);
        }
        // Anything else (cargo passes `--bench`) is ignored.
    }
    if sizes.is_empty()
        && let Ok(list) = std::env::var("SCALE_N")
    {
        sizes = list
            .split(',')
            .map(|s| s.trim().parse().expect("SCALE_N takes numbers"))
            .collect();
    }
    // One size asked for is one run: the unrelated run only when asked for too.
    let unrelated = unrelated.unwrap_or(if sizes.is_empty() { 5000 } else { 0 });
    if sizes.is_empty() {
        sizes = vec![100, 1000, 5000];
    }
    (sizes, unrelated)
}

/// The spec of service `i`: eight shapes in turn, from a bare image to config, generated
/// secrets, storage (single- and multi-writer) and several replicas; five of them have ports
/// (so a Service), one an Ingress route and one an autoscaler.
fn spec(i: usize) -> Value {
    let image = format!("registry.example/team-{}/app:{}", i % 17, 1 + i % 5);
    let config = |keys: usize| {
        let data: BTreeMap<String, String> = (0..keys)
            .map(|k| {
                (
                    format!("key-{k}.conf"),
                    format!("setting_{k} = value {i}-{k}\n"),
                )
            })
            .collect();
        data
    };
    let resources = json!({"requests": {"cpu": "100m", "memory": "128Mi"},
                           "limits": {"cpu": "500m", "memory": "256Mi"}});
    let probe = json!({"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10});
    let ports = json!([{"name": "http", "containerPort": 8080}]);
    let route = json!({"host": format!("app-{i}.example.com"), "ingressClassName": "nginx"});
    match i % 8 {
        0 => json!({"image": image, "replicas": 1, "ports": ports}),
        1 => json!({"image": image, "replicas": 2, "ports": ports, "resources": resources,
            "readinessProbe": probe, "livenessProbe": probe, "route": route,
            "config": {"data": config(3), "mountPath": "/etc/app"}}),
        2 => json!({"image": image, "replicas": 3, "resources": resources,
            "env": [{"name": "MODE", "value": "production"}, {"name": "REGION", "value": "eu"}],
            "config": {"data": config(2), "env": true},
            "secret": {"generate": [{"key": "db-password", "length": 32}, {"key": "api-token", "length": 48}], "env": true}}),
        3 => json!({"image": image, "replicas": 1, "ports": ports,
            "config": {"data": config(1), "mountPath": "/etc/app"},
            "secret": {"generate": [{"key": "token", "length": 24}], "mountPath": "/var/run/secrets/app"},
            "storage": {"size": "1Gi", "mountPath": "/data"}}),
        4 => json!({"image": image, "replicas": 2, "resources": resources, "readinessProbe": probe,
            "config": {"data": config(4), "mountPath": "/etc/app"},
            "secret": {"generate": [{"key": "session-key", "length": 64}], "mountPath": "/var/run/secrets/app"}}),
        5 => json!({"image": image, "replicas": 2, "ports": ports,
            "config": {"data": config(2), "mountPath": "/etc/app"},
            "storage": {"size": "5Gi", "mountPath": "/shared", "accessMode": "ReadWriteMany",
                        "reclaimPolicy": "Delete"}}),
        6 => json!({"image": image, "replicas": 1, "command": ["/bin/worker"],
            "args": ["--queue", format!("jobs-{}", i % 3)], "scratch": {"sizeLimit": "256Mi"}}),
        _ => json!({"image": image, "replicas": 4, "resources": resources,
            "ports": [{"name": "http", "containerPort": 8080, "servicePort": 80}],
            "autoscaling": {"minReplicas": 2, "maxReplicas": 8, "cpuUtilization": 70},
            "readinessProbe": probe, "podSecurity": {"runAsUser": 1000, "fsGroup": 2000},
            "config": {"data": config(10), "mountPath": "/etc/app", "env": true},
            "secret": {"generate": [{"key": "a", "length": 16}, {"key": "b", "length": 32},
                                    {"key": "c", "length": 64}], "mountPath": "/var/run/secrets/app"}}),
    }
}

/// ConfigMaps other tools own that every tenth service references (`config.from`), created
/// before the operator starts.
const SHARED_CONFIG_MAPS: usize = 17;

fn shared_config_map(i: usize) -> String {
    format!("team-config-{}", i % SHARED_CONFIG_MAPS)
}

/// [`spec`] with a reference for every tenth service.
fn spec_with_references(i: usize) -> Value {
    let mut spec = spec(i);
    if i % 10 == 9 {
        spec["config"]["from"] = json!([{"name": shared_config_map(i), "mountPath": "/etc/team"}]);
    }
    spec
}

fn create_shared(fake: &FakeApi) {
    for k in 0..SHARED_CONFIG_MAPS {
        fake.create(
            &ResourceRef::of::<ConfigMap>(),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": shared_config_map(k), "namespace": NS},
                   "data": {"team.yaml": format!("team: {k}\n")}}),
        )
        .expect("create a referenced ConfigMap");
    }
}

fn service_name(i: usize) -> String {
    format!("svc-{i:05}")
}

/// Operator as deployed: default settings, leader election with the default lease.
fn start(fake: &FakeApi, identity: &str) -> Operator {
    let settings = Settings {
        instance: Some(identity.to_string()),
        ..Settings::default()
    };
    let lease = LeaderConfig::new("stateless-operator-leader", "default", identity);
    operator::start_with(fake.client(), settings, Some(lease))
}

#[derive(Clone, Debug, Default)]
struct Row {
    n: usize,
    unrelated: usize,
    converged: bool,
    ready_secs: f64,
    reconciles: f64,
    /// Requests until all were Ready, by verb (lease requests left out).
    by_verb: BTreeMap<String, usize>,
    /// The same by verb and resource, for the details.
    by_verb_resource: BTreeMap<(String, String), usize>,
    lease_requests: usize,
    cpu_secs: f64,
    resync_converged: bool,
    resync_secs: f64,
    resync_reconciles: f64,
    /// Writes during the re-sync, lease renewals left out (events count).
    resync_writes: usize,
    resync_gets: usize,
    resync_lists: usize,
    resync_cpu_secs: f64,
    peak_rss_kib: u64,
    total_kib_per_service: f64,
    operator_kib_per_service: f64,
    operator_mib: f64,
    /// Live heap bytes held by the re-synced operator, per service and in total.
    heap_kib_per_service: f64,
    heap_mib: f64,
    /// Live heap growth from before the operator started to after convergence, per service.
    total_heap_kib_per_service: f64,
    /// Per kind: (objects, mean JSON bytes, mean JSON bytes of their managedFields, mean
    /// heap bytes of the stripped typed object).
    object_sizes: Vec<(&'static str, usize, f64, f64, f64)>,
    /// Every list/watch of Secrets and ConfigMaps carried the managed-by label selector.
    labelled_watches: bool,
}

async fn run(n: usize, unrelated: usize) -> Row {
    eprintln!("== N = {n}, unrelated = {unrelated}: creating objects");
    let fake = cluster();
    // The Deployment controller reports a rollout step by step, one more pod ready per tick,
    // as a real one does: each step is a status event the operator sees.
    fake.simulate_staged_rollouts(Duration::from_millis(100));
    // The history only serves watches resuming from an old resourceVersion; the default is
    // enough for a controller that keeps up (kept as is, like a real API server's window).
    create_unrelated(&fake, unrelated);
    create_shared(&fake);
    for i in 0..n {
        let mut manifest = operator::service(&service_name(i), spec_with_references(i));
        if i % 2 == 0 {
            // Half the services were applied with `kubectl apply`, which keeps a copy.
            let copy = manifest.to_string();
            manifest["metadata"]["annotations"] =
                json!({"kubectl.kubernetes.io/last-applied-configuration": copy});
        }
        fake.create(&ssvc(), manifest)
            .expect("create StatelessService");
    }
    let mut row = Row {
        n,
        unrelated,
        ..Row::default()
    };
    fake.reset_requests();
    trim();
    reset_peak();
    let rss_before = rss_kib("VmRSS");
    let heap_before = live_heap();
    let cpu_before = cpu_secs();

    // Phase 1: convergence from nothing.
    eprintln!("   starting the operator");
    let started = Instant::now();
    let op = start(&fake, "bench-1");
    row.converged = all_ready(&fake, n, started + PHASE_LIMIT).await;
    row.ready_secs = started.elapsed().as_secs_f64();
    row.cpu_secs = cpu_secs() - cpu_before;
    row.reconciles = reconciles(&op.metrics);
    let requests = fake.requests();
    count_requests(&requests, &mut row);
    row.labelled_watches = labelled(&requests);
    eprintln!(
        "   converged={} in {:.1} s, {} reconciles",
        row.converged, row.ready_secs, row.reconciles
    );
    settle(&op).await;
    // The request log is the fake's bookkeeping, not state: leave it out of memory figures.
    fake.reset_requests();
    trim();
    row.total_kib_per_service = (rss_kib("VmRSS") as f64 - rss_before as f64) / n as f64;
    row.total_heap_kib_per_service = (live_heap() - heap_before) / 1024.0 / n as f64;
    row.object_sizes = object_sizes(&fake);

    // Phase 2: a full re-sync by a restarted operator.
    op.stop().await.expect("operator stops cleanly");
    fake.reset_requests();
    // The stopped operator's caches are freed by its tasks shortly after it returns.
    quiet_heap().await;
    trim();
    let rss_without = rss_kib("VmRSS");
    let heap_without = live_heap();
    let cpu_before = cpu_secs();
    let started = Instant::now();
    let op = start(&fake, "bench-2");
    let metrics = op.metrics.clone();
    row.resync_converged = fake
        .wait_until(PHASE_LIMIT, move |_| reconciles(&metrics) >= n as f64)
        .await;
    settle(&op).await;
    row.resync_secs = started.elapsed().as_secs_f64();
    row.resync_cpu_secs = cpu_secs() - cpu_before;
    row.resync_reconciles = reconciles(&op.metrics);
    let requests = fake.requests();
    row.resync_writes = requests
        .iter()
        .filter(|r| r.is_write() && r.resource != "leases")
        .count();
    row.resync_gets = requests
        .iter()
        .filter(|r| r.verb == "get" && !r.resource.is_empty() && r.resource != "leases")
        .count();
    row.resync_lists = requests.iter().filter(|r| r.verb == "list").count();
    row.labelled_watches &= labelled(&requests);
    fake.reset_requests();
    trim();
    let heap = live_heap() - heap_without;
    row.heap_kib_per_service = heap / 1024.0 / n as f64;
    row.heap_mib = heap / 1024.0 / 1024.0;
    let operator_kib = rss_kib("VmRSS") as f64 - rss_without as f64;
    row.operator_kib_per_service = operator_kib / n as f64;
    row.operator_mib = operator_kib / 1024.0;
    row.peak_rss_kib = rss_kib("VmHWM");
    op.stop().await.expect("operator stops cleanly");
    fake.shutdown();
    row
}

/// Unlabelled Secrets and ConfigMaps of 2 KiB each, as other workloads in the namespace have.
fn create_unrelated(fake: &FakeApi, count: usize) {
    let blob = "x".repeat(2048);
    let encoded = serde_json::to_value(k8s_openapi::ByteString(blob.clone().into_bytes()))
        .expect("bytes serialize");
    for i in 0..count {
        let labels = json!({"app.kubernetes.io/name": format!("other-{i}")});
        fake.create(
            &ResourceRef::of::<Secret>(),
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": format!("other-{i}"), "namespace": NS, "labels": labels},
                   "data": {"tls.crt": encoded}}),
        )
        .expect("create unrelated Secret");
        fake.create(
            &ResourceRef::of::<ConfigMap>(),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": format!("other-{i}"), "namespace": NS, "labels": labels},
                   "data": {"settings.yaml": blob}}),
        )
        .expect("create unrelated ConfigMap");
    }
}

/// Waits until the live heap has not changed by more than 64 KiB for a second (at most 10 s).
async fn quiet_heap() {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = live_heap();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = live_heap();
        if (now - last).abs() < 65536.0 {
            return;
        }
        last = now;
    }
}

/// Waits until every service is Ready for its generation. Services already seen Ready are
/// not read again (nothing changes their spec), which keeps polling cheap at large N.
async fn all_ready(fake: &FakeApi, n: usize, deadline: Instant) -> bool {
    let mut pending: Vec<String> = (0..n).map(service_name).collect();
    // Each service gets one `Ready` event when it first becomes Ready: until there are N
    // events, counting them (a scan of the request log) is far cheaper than reading N objects.
    let events = RequestFilter::default().resource("events").verb("create");
    while fake.count(&events) < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    loop {
        pending.retain(|name| !ready(fake, name));
        if pending.is_empty() {
            return true;
        }
        if Instant::now() >= deadline {
            eprintln!(
                "   {} services not Ready, e.g. {}",
                pending.len(),
                pending[0]
            );
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ready(fake: &FakeApi, name: &str) -> bool {
    let Some(svc) = fake.get(&ssvc(), Some(NS), name) else {
        return false;
    };
    let generation = svc.pointer("/metadata/generation");
    generation.is_some()
        && generation == svc.pointer("/status/observedGeneration")
        && svc
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
}

/// Waits until no reconcile is running and none has started for half a second, so that the
/// reconciles our own writes triggered are done before anything is measured.
async fn settle(op: &Operator) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = (-1.0, Instant::now());
    while Instant::now() < deadline {
        let started = metric(&op.metrics, "stateless_operator_reconciles_total");
        let finished = reconciles(&op.metrics);
        if started != last.0 {
            last = (started, Instant::now());
        } else if started == finished && last.1.elapsed() >= Duration::from_millis(500) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Mean JSON size of each kind the operator caches, as stored in the fake.
fn object_sizes(fake: &FakeApi) -> Vec<(&'static str, usize, f64, f64, f64)> {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::PersistentVolumeClaim;
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    [
        ("StatelessService", ssvc()),
        ("Deployment", ResourceRef::of::<Deployment>()),
        ("ConfigMap", ResourceRef::of::<ConfigMap>()),
        ("Secret", ResourceRef::of::<Secret>()),
        (
            "PersistentVolumeClaim",
            ResourceRef::of::<PersistentVolumeClaim>(),
        ),
        (
            "PodDisruptionBudget",
            ResourceRef::of::<PodDisruptionBudget>(),
        ),
    ]
    .into_iter()
    .map(|(kind, res)| {
        let objects: Vec<Value> = fake
            .list(&res, Some(NS))
            .into_iter()
            .filter(|o| {
                // Only what the operator watches: its own children (and every service).
                kind == "StatelessService"
                    || o.pointer("/metadata/labels/app.kubernetes.io~1managed-by")
                        == Some(&json!("stateless-operator"))
            })
            .collect();
        let count = objects.len().max(1) as f64;
        // Heap bytes of the objects as a cache holds them (services typed, children compact),
        // stripped as the operator strips them (managedFields, last-applied annotation).
        let before = live_heap();
        let typed: Vec<Box<dyn std::any::Any>> = objects
            .iter()
            .map(|o| {
                let mut o = o.clone();
                if let Some(m) = o["metadata"].as_object_mut() {
                    m.remove("managedFields");
                    if let Some(a) = m.get_mut("annotations").and_then(Value::as_object_mut) {
                        a.remove("kubectl.kubernetes.io/last-applied-configuration");
                    }
                }
                typed_object(kind, o)
            })
            .collect();
        let stripped_heap = (live_heap() - before) / count;
        drop(typed);
        let size: usize = objects.iter().map(|o| o.to_string().len()).sum();
        let managed: usize = objects
            .iter()
            .map(|o| {
                o.pointer("/metadata/managedFields")
                    .map_or(0, |m| m.to_string().len())
            })
            .sum();
        (
            kind,
            objects.len(),
            size as f64 / count,
            managed as f64 / count,
            stripped_heap,
        )
    })
    .collect()
}

/// Deserializes `o` into the type the operator caches for `kind`.
fn typed_object(kind: &str, o: Value) -> Box<dyn std::any::Any> {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::PersistentVolumeClaim;
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    use stateless_operator::crd::StatelessService;
    fn de<T: serde::de::DeserializeOwned + 'static>(o: Value) -> Box<dyn std::any::Any> {
        Box::new(serde_json::from_value::<T>(o).expect("stored object deserializes"))
    }
    use stateless_operator::cache::Compact;
    // Children are cached as compact entries (metadata + compact JSON), services typed.
    match kind {
        "StatelessService" => de::<StatelessService>(o),
        "Deployment" => de::<Compact<Deployment>>(o),
        "ConfigMap" => de::<Compact<ConfigMap>>(o),
        "Secret" => de::<Compact<Secret>>(o),
        "PersistentVolumeClaim" => de::<Compact<PersistentVolumeClaim>>(o),
        _ => de::<Compact<PodDisruptionBudget>>(o),
    }
}

fn count_requests(requests: &[RequestRecord], row: &mut Row) {
    for r in requests {
        if r.resource == "leases" {
            row.lease_requests += 1;
            continue;
        }
        let verb = if r.verb.is_empty() {
            "other".to_string()
        } else {
            r.verb.clone()
        };
        let resource = match (&r.subresource, r.resource.is_empty()) {
            (_, true) => "(discovery)".to_string(),
            (Some(sub), _) => format!("{}/{sub}", r.resource),
            (None, _) => r.resource.clone(),
        };
        *row.by_verb.entry(verb.clone()).or_default() += 1;
        *row.by_verb_resource.entry((verb, resource)).or_default() += 1;
    }
}

/// True when every list and watch of Secrets and ConfigMaps asked only for managed objects,
/// or only for metadata (the watches of referenced objects, which keep nothing of the others).
fn labelled(requests: &[RequestRecord]) -> bool {
    let selector = stateless_operator::controller::managed_selector();
    requests
        .iter()
        .filter(|r| matches!(r.verb.as_str(), "list" | "watch"))
        .filter(|r| matches!(r.resource.as_str(), "secrets" | "configmaps"))
        .all(|r| {
            r.metadata_only
                || form_urlencoded::parse(r.query.as_bytes())
                    .any(|(k, v)| k == "labelSelector" && v == selector)
        })
}

impl Row {
    fn print_details(&self) {
        println!(
            "\nN = {}{}: requests until all Ready, by verb and resource (lease requests: {}):",
            self.n,
            if self.unrelated > 0 {
                format!(
                    " with {0} unrelated Secrets + {0} ConfigMaps",
                    self.unrelated
                )
            } else {
                String::new()
            },
            self.lease_requests
        );
        for ((verb, resource), count) in &self.by_verb_resource {
            println!("  {verb:>8} {resource:<36} {count:>8}");
        }
        println!(
            "  objects watched by the operator: mean JSON size (of which managedFields), heap of the stripped typed object:"
        );
        let mut cache = 0.0;
        for (kind, count, size, managed, heap) in &self.object_sizes {
            println!("  {kind:>22} {count:>6} x {size:>6.0} B ({managed:>4.0} B) {heap:>6.0} B");
            cache += *count as f64 * heap;
        }
        println!(
            "  expected cache heap: {:.1} KiB per service",
            cache / 1024.0 / self.n.max(1) as f64
        );
    }
}

fn print_tables(rows: &[Row]) {
    let verbs = ["get", "list", "watch", "apply", "patch", "create", "delete"];
    println!("\n### Convergence (operator started with N StatelessServices and nothing else)\n");
    print!("| N | unrelated | all Ready (s) | reconciles | requests |");
    for v in verbs {
        print!(" {v} |");
    }
    println!(" CPU ms / reconcile |");
    println!("|{}", "---|".repeat(6 + verbs.len()));
    for r in rows {
        let total: usize = r.by_verb.values().sum();
        print!(
            "| {} | {} | {}{:.1} | {} | {} |",
            r.n,
            r.unrelated,
            if r.converged { "" } else { "NOT CONVERGED " },
            r.ready_secs,
            r.reconciles,
            total
        );
        for v in verbs {
            print!(" {} |", r.by_verb.get(v).copied().unwrap_or(0));
        }
        println!(" {:.2} |", 1000.0 * r.cpu_secs / r.reconciles.max(1.0));
    }
    println!("\n### Re-sync after convergence (operator restarted) and memory\n");
    println!(
        "| N | unrelated | re-sync (s) | reconciles | writes | GETs | lists | CPU ms / reconcile | peak RSS (MiB) | RSS growth / service (KiB) | heap growth / service (KiB) | operator RSS (MiB) | operator RSS / service (KiB) | operator heap (MiB) | operator heap / service (KiB) |"
    );
    println!("|{}", "---|".repeat(15));
    for r in rows {
        println!(
            "| {} | {} | {}{:.1} | {} | {} | {} | {} | {:.2} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            r.n,
            r.unrelated,
            if r.resync_converged { "" } else { "NOT DONE " },
            r.resync_secs,
            r.resync_reconciles,
            r.resync_writes,
            r.resync_gets,
            r.resync_lists,
            1000.0 * r.resync_cpu_secs / r.resync_reconciles.max(1.0),
            r.peak_rss_kib as f64 / 1024.0,
            r.total_kib_per_service,
            r.total_heap_kib_per_service,
            r.operator_mib,
            r.operator_kib_per_service,
            r.heap_mib,
            r.heap_kib_per_service,
        );
    }
    println!(
        "\nCPU and memory are the whole process: operator, fake API server and this harness.\n\
         RSS growth / service: RSS after convergence minus before the operator started (the fake\n\
         already held the N StatelessServices), over N: children and statuses in the fake, its\n\
         watch history, and the operator's caches. Operator RSS: RSS with the re-synced second\n\
         operator running minus RSS with none, over N; every RSS is read after malloc_trim(0).\n\
         Operator heap: the same difference in live heap bytes (counting allocator), which is\n\
         not blurred by memory the allocator keeps after the re-sync's transient peaks.\n\
         Writes exclude the Lease renewals of leader election (events count as writes)."
    );
}

/// What one service costs, beside what a real v1.36 API server measured before (issue 14:
/// 6.50 writes per service at N = 1,000 and 6.81 at 5,000, of which 3.81 status patches; 36 % of
/// convergence requests were GETs before creates; 46 KiB of resident memory per service).
fn print_per_service(rows: &[Row]) {
    println!("\n### Per service (to converge; events apart)\n");
    println!(
        "| N | unrelated | writes / service | of which status patches | reads (GET) / service | events / service | operator heap / service (KiB) | operator RSS / service (KiB) |"
    );
    println!("|{}", "---|".repeat(8));
    for r in rows {
        let n = r.n.max(1) as f64;
        let count = |pred: &dyn Fn(&str, &str) -> bool| -> usize {
            r.by_verb_resource
                .iter()
                .filter(|((verb, resource), _)| pred(verb, resource))
                .map(|(_, c)| *c)
                .sum()
        };
        let is_write = |v: &str| matches!(v, "create" | "update" | "patch" | "apply" | "delete");
        let events = count(&|v, res| is_write(v) && res.starts_with("events"));
        let writes = count(&|v, res| is_write(v) && !res.starts_with("events"));
        let status = count(&|v, res| is_write(v) && res == "statelessservices/status");
        let gets = count(&|v, _| v == "get");
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1} |",
            r.n,
            r.unrelated,
            writes as f64 / n,
            status as f64 / n,
            gets as f64 / n,
            events as f64 / n,
            r.heap_kib_per_service,
            r.operator_kib_per_service,
        );
    }
}

fn print_unrelated(baseline: &Row, with: &Row) {
    println!(
        "\nUnrelated objects: N = {} with {} unlabelled Secrets and {} ConfigMaps (2 KiB each, \
         about {:.0} MiB as JSON): operator heap {:.1} MiB vs {:.1} MiB without them; every \
         list/watch of Secrets and ConfigMaps carried labelSelector={} or asked for metadata \
         only: {}",
        with.n,
        with.unrelated,
        with.unrelated,
        with.unrelated as f64 * 2.0 * 2.6 / 1024.0,
        with.heap_mib,
        baseline.heap_mib,
        stateless_operator::controller::managed_selector(),
        if with.labelled_watches && baseline.labelled_watches {
            "yes"
        } else {
            "NO"
        }
    );
}

/// A field of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`).
fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Resets VmHWM to the current RSS (Linux >= 4.0), so each run reports its own peak.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// User + system CPU seconds of the whole process (all threads), from `/proc/self/stat`
/// (clock ticks of 1/100 s, the value of `_SC_CLK_TCK` on Linux).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name may contain spaces; fields after it are fixed.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After ")" come field 3 (state) onwards: utime is field 14, stime field 15.
    (ticks(11) + ticks(12)) / 100.0
}

/// Returns freed heap memory to the system so that RSS reflects live data.
fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            // glibc; thread-safe, takes the arena locks itself.
            safe fn malloc_trim(pad: usize) -> i32;
        }
        malloc_trim(0);
    }
}
