//! Fault tolerance of the real operator (`runner::run_with`) against the in-process fake API
//! server: abrupt kills during convergence, a 30 s API outage, random write failures and a
//! leader failover. After each, everything converges and nothing is lost or duplicated:
//! every child has exactly one controller ownerReference to its live StatelessService (a
//! retained claim has none and carries the service label instead), no generated secret value
//! ever changes, and no claim is ever deleted (a watch records every version the API holds).
//! Randomness is seeded; waits poll with deadlines.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::watcher;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};
use stateless_operator::controller::{Settings, managed_selector};
use stateless_operator::leader::LeaderConfig;
use support::fake_api::{FakeApi, FakeService, FaultRule, RequestFilter, ResourceRef};
use support::operator::*;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Production concurrency; a resync far beyond any test.
fn settings16() -> Settings {
    Settings {
        concurrency: 16,
        ..settings()
    }
}

/// Service `i` of a mix: bare, config, generated secrets, retained and deleted storage,
/// several replicas (and so a PodDisruptionBudget).
fn spec(i: usize) -> Value {
    let config = json!({"data": {"app.conf": format!("id = {i}\n")}, "mountPath": "/etc/app"});
    match i % 5 {
        0 => json!({"image": "app:1", "replicas": 1}),
        1 => json!({"image": "app:1", "replicas": 2, "config": config,
            "secret": {"generate": [{"key": "password", "length": 24}, {"key": "token", "length": 40}],
                       "mountPath": "/var/run/secrets/app"}}),
        2 => json!({"image": "app:1", "replicas": 1, "config": config,
            "secret": {"generate": [{"key": "key", "length": 16}], "env": true},
            "storage": {"size": "1Gi", "mountPath": "/data"}}),
        3 => json!({"image": "app:1", "replicas": 3,
            "storage": {"size": "2Gi", "mountPath": "/shared", "accessMode": "ReadWriteMany",
                        "reclaimPolicy": "Delete"}}),
        _ => json!({"image": "app:1", "replicas": 2, "config": config}),
    }
}

fn name(i: usize) -> String {
    format!("svc-{i:03}")
}

fn create_services(fake: &FakeApi, n: usize) -> BTreeMap<String, Value> {
    (0..n)
        .map(|i| {
            create(fake, &name(i), spec(i));
            (name(i), spec(i))
        })
        .collect()
}

/// Children a spec asks for: (resource plural, name).
fn expected_children(service: &str, spec: &Value) -> BTreeSet<(&'static str, String)> {
    let mut out = BTreeSet::from([
        ("deployments", service.to_string()),
        ("configmaps", format!("{service}-config")),
        ("secrets", format!("{service}-secret")),
    ]);
    if spec.get("storage").is_some() {
        out.insert(("persistentvolumeclaims", format!("{service}-data")));
    }
    if spec["replicas"].as_i64().unwrap_or(2) >= 2 {
        out.insert(("poddisruptionbudgets", service.to_string()));
    }
    out
}

fn child_resources() -> [(&'static str, ResourceRef); 5] {
    [
        ("deployments", ResourceRef::of::<Deployment>()),
        ("configmaps", ResourceRef::of::<ConfigMap>()),
        ("secrets", ResourceRef::of::<Secret>()),
        (
            "persistentvolumeclaims",
            ResourceRef::of::<PersistentVolumeClaim>(),
        ),
        (
            "poddisruptionbudgets",
            ResourceRef::of::<PodDisruptionBudget>(),
        ),
    ]
}

/// Every child is exactly what its live service asks for, with exactly one controller
/// ownerReference to it (none for a retained claim, which carries the service label), and
/// every service has all its children. Returns every problem found.
fn ownership_problems(fake: &FakeApi, specs: &BTreeMap<String, Value>) -> Vec<String> {
    let services: HashMap<String, String> = fake
        .list(&ssvc(), Some(NS))
        .iter()
        .map(|s| {
            let uid = s["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            (s["metadata"]["name"].as_str().unwrap().to_string(), uid)
        })
        .collect();
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for (plural, res) in child_resources() {
        for child in fake.list(&res, Some(NS)) {
            let meta = &child["metadata"];
            let child_name = meta["name"].as_str().unwrap_or_default().to_string();
            let what = format!("{plural} {child_name}");
            let Some(service) = meta["labels"]["stateless.dev/service"].as_str() else {
                problems.push(format!("{what}: no stateless.dev/service label"));
                continue;
            };
            let (Some(uid), Some(spec)) = (services.get(service), specs.get(service)) else {
                problems.push(format!("{what}: its service {service} does not exist"));
                continue;
            };
            if !expected_children(service, spec).contains(&(plural, child_name.clone())) {
                problems.push(format!("{what}: not a child {service} asks for"));
            }
            if !seen.insert((plural, child_name.clone())) {
                problems.push(format!("{what}: listed twice"));
            }
            let refs = meta["ownerReferences"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let retained = plural == "persistentvolumeclaims"
                && spec["storage"]["reclaimPolicy"]
                    .as_str()
                    .unwrap_or("Retain")
                    == "Retain";
            if retained {
                if !refs.is_empty() {
                    problems.push(format!("{what}: a retained claim has owners {refs:?}"));
                }
                continue;
            }
            let controllers: Vec<&Value> =
                refs.iter().filter(|r| r["controller"] == true).collect();
            let ok = refs.len() == 1
                && controllers.len() == 1
                && controllers[0]["uid"] == uid.as_str()
                && controllers[0]["kind"] == "StatelessService"
                && controllers[0]["name"] == service;
            if !ok {
                problems.push(format!(
                    "{what}: ownerReferences {refs:?}, expected one controller reference to {service} ({uid})"
                ));
            }
        }
    }
    for (service, spec) in specs {
        for (plural, child) in expected_children(service, spec) {
            if !seen.contains(&(plural, child.clone())) {
                problems.push(format!("{service}: missing {plural} {child}"));
            }
        }
    }
    problems
}

/// Secret values by (Secret name, key), as first seen.
type SeenValues = HashMap<(String, String), Vec<u8>>;

/// Watches Secrets and claims through the API for the whole test and records every version:
/// a generated value that changes, a Secret or claim that is deleted, or a claim whose uid
/// changes (deleted and re-created between two events) is a violation.
struct Tracker {
    violations: Arc<Mutex<Vec<String>>>,
    values: Arc<Mutex<SeenValues>>,
    claims: Arc<Mutex<HashMap<String, String>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Tracker {
    fn start(fake: &FakeApi) -> Self {
        let violations = Arc::new(Mutex::new(Vec::new()));
        let values = Arc::new(Mutex::new(HashMap::new()));
        let claims = Arc::new(Mutex::new(HashMap::new()));
        let config = watcher::Config::default().labels(&managed_selector());
        let secrets: Api<Secret> = Api::namespaced(fake.client(), NS);
        let (v, vals) = (violations.clone(), values.clone());
        let secret_task = tokio::spawn(watcher(secrets, config.clone()).for_each(move |event| {
            let (v, vals) = (v.clone(), vals.clone());
            async move {
                match event {
                    Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) => {
                        let mut vals = vals.lock().unwrap();
                        for (key, value) in s.data.clone().unwrap_or_default() {
                            let id = (s.name_any(), key.clone());
                            match vals.get(&id) {
                                Some(first) if *first != value.0 => v.lock().unwrap().push(
                                    format!("Secret {} key {key}: value changed", s.name_any()),
                                ),
                                Some(_) => {}
                                None => {
                                    vals.insert(id, value.0);
                                }
                            }
                        }
                    }
                    Ok(watcher::Event::Delete(s)) => v
                        .lock()
                        .unwrap()
                        .push(format!("Secret {} deleted", s.name_any())),
                    _ => {}
                }
            }
        }));
        let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(fake.client(), NS);
        let (v, uids) = (violations.clone(), claims.clone());
        let claim_task = tokio::spawn(watcher(pvcs, config).for_each(move |event| {
            let (v, uids) = (v.clone(), uids.clone());
            async move {
                match event {
                    Ok(watcher::Event::Apply(c) | watcher::Event::InitApply(c)) => {
                        let uid = c.uid().unwrap_or_default();
                        let mut uids = uids.lock().unwrap();
                        let first = uids.entry(c.name_any()).or_insert_with(|| uid.clone());
                        if *first != uid {
                            v.lock().unwrap().push(format!(
                                "claim {} re-created: uid {first} became {uid}",
                                c.name_any()
                            ));
                        }
                    }
                    Ok(watcher::Event::Delete(c)) => v
                        .lock()
                        .unwrap()
                        .push(format!("claim {} deleted", c.name_any())),
                    _ => {}
                }
            }
        }));
        Tracker {
            violations,
            values,
            claims,
            tasks: vec![secret_task, claim_task],
        }
    }

    /// Waits until the tracker has seen every generated value and claim the fake now holds
    /// (the watch lags behind the writes), then checks the final state against what it saw
    /// first, stops its watches and returns all violations.
    async fn finish(self, fake: &FakeApi) -> Vec<String> {
        let expected = |f: &FakeApi| {
            let values: usize = f
                .list(&ResourceRef::of::<Secret>(), Some(NS))
                .iter()
                .map(|s| s["data"].as_object().map_or(0, |d| d.len()))
                .sum();
            let claims = f
                .list(&ResourceRef::of::<PersistentVolumeClaim>(), Some(NS))
                .len();
            (values, claims)
        };
        let (values, claims) = (self.values.clone(), self.claims.clone());
        let caught_up = fake
            .wait_until(Duration::from_secs(20), |f| {
                expected(f) == (values.lock().unwrap().len(), claims.lock().unwrap().len())
            })
            .await;
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
        let mut out = self.violations.lock().unwrap().clone();
        if !caught_up {
            out.push("the tracking watch did not catch up with the fake".to_string());
        }
        for s in fake.list(&ResourceRef::of::<Secret>(), Some(NS)) {
            let secret = s["metadata"]["name"].as_str().unwrap().to_string();
            for (key, value) in s["data"].as_object().cloned().unwrap_or_default() {
                let bytes: k8s_openapi::ByteString = serde_json::from_value(value).unwrap();
                if values.lock().unwrap().get(&(secret.clone(), key.clone())) != Some(&bytes.0) {
                    out.push(format!(
                        "Secret {secret} key {key}: final value was never seen first"
                    ));
                }
            }
        }
        out
    }
}

/// Stops an operator as a killed process stops: its task is aborted mid-flight (no graceful
/// shutdown). The helper tasks `run_with` spawned (HTTP endpoint, leader flag) are then
/// cancelled too, as they would die with the process; by then the controller is gone.
async fn kill(op: Operator) {
    op.task.abort();
    let _ = op.task.await;
    op.shutdown.cancel();
}

/// Waits until every service is Ready for its generation.
async fn all_ready(fake: &FakeApi, specs: &BTreeMap<String, Value>, secs: u64) {
    let mut pending: Vec<String> = specs.keys().cloned().collect();
    let ok = fake
        .wait_until(Duration::from_secs(secs), |f| {
            pending.retain(|n| !is_ready(f, n));
            pending.is_empty()
        })
        .await;
    assert!(ok, "not Ready after {secs} s: {pending:?}");
}

fn ready_count(fake: &FakeApi, specs: &BTreeMap<String, Value>) -> usize {
    specs.keys().filter(|n| is_ready(fake, n)).count()
}

/// Waits until the operator has finished every reconcile it started and started none for
/// half a second: the reconciles its own last writes triggered are done.
async fn settled(fake: &FakeApi, op: &Operator) {
    let metrics = op.metrics.clone();
    let mut last = (-1.0, Instant::now());
    let ok = fake
        .wait_until(Duration::from_secs(30), move |_| {
            let started = metric(&metrics, "stateless_operator_reconciles_total");
            if started != last.0 {
                last = (started, Instant::now());
                return false;
            }
            started == reconciles(&metrics) && last.1.elapsed() >= Duration::from_millis(500)
        })
        .await;
    assert!(ok, "the operator did not settle");
}

fn assert_clean(problems: Vec<String>, what: &str) {
    assert!(
        problems.is_empty(),
        "{what}: {} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abrupt_kills_during_convergence_lose_and_duplicate_nothing() {
    let fake = cluster();
    let tracker = Tracker::start(&fake);
    let specs = create_services(&fake, 200);
    let mut rng = StdRng::seed_from_u64(0x5ca1e);
    let mut kills = Vec::new();
    for _ in 0..20 {
        let op = start(&fake, settings16());
        // Die after a random number of writes, or after a random time if fewer come.
        let target = fake.writes() + rng.random_range(1..=120);
        let limit = Duration::from_millis(rng.random_range(20..=1500));
        fake.wait_until(limit, |f| f.writes() >= target).await;
        kill(op).await;
        kills.push((fake.writes(), ready_count(&fake, &specs)));
    }
    eprintln!("kills at (writes so far, services Ready): {kills:?}");
    assert!(
        kills
            .iter()
            .filter(|(_, ready)| *ready < specs.len())
            .count()
            >= 10,
        "most kills should land mid-convergence: {kills:?}"
    );
    let op = start(&fake, settings16());
    all_ready(&fake, &specs, 120).await;
    settled(&fake, &op).await;
    assert_clean(ownership_problems(&fake, &specs), "after 20 kills");
    let claims = fake
        .list(&ResourceRef::of::<PersistentVolumeClaim>(), Some(NS))
        .len();
    assert_eq!(claims, 80, "one claim per service with storage");
    assert_clean(tracker.finish(&fake).await, "secrets and claims");
    op.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thirty_second_outage_is_survived_without_a_request_storm() {
    const N: usize = 60;
    const OUTAGE: Duration = Duration::from_secs(30);
    let fake = cluster();
    let specs = create_services(&fake, N);
    let op = start(&fake, settings16());
    eventually(&fake, "a third of the services Ready", 30, |f| {
        ready_count(f, &specs) >= N / 3
    })
    .await;
    // The API becomes unreachable: new requests fail, open watches drop.
    fake.set_down(true);
    fake.disconnect_watches();
    fake.reset_requests();
    let ready_at_outage = ready_count(&fake, &specs);
    let started = Instant::now();
    // The outage itself is the scenario (nothing is awaited through it): wait it out.
    tokio::time::sleep(OUTAGE).await;
    let during = fake.requests().len();
    fake.set_down(false);
    assert!(
        !op.task.is_finished(),
        "the operator stopped during the outage"
    );
    // Bound from the policies: a failing reconcile costs one request and waits 0.5, 1, 2,
    // 4, 8, 16 s (-20 % jitter), so each unconverged service fails at most 7 times in 30 s;
    // each of the 6 watches re-connects with backoff from 0.8 s, at most 8 times; one probe
    // of the API server every 2 s (+20 % jitter), at most 19.
    let pending = N - ready_at_outage;
    let bound = pending * 7 + 6 * 8 + 19;
    eprintln!(
        "outage: {during} requests in {:?} ({pending} services unconverged, bound {bound})",
        started.elapsed()
    );
    assert!(
        during <= bound,
        "{during} requests during a 30 s outage with {pending} unconverged services: a busy loop"
    );
    let back = Instant::now();
    all_ready(&fake, &specs, 60).await;
    let recovery = back.elapsed();
    eprintln!("all Ready {recovery:?} after the API came back");
    // The probe notices within 2.4 s and ends every backoff (measured 6-10 s in all; ~44 s
    // without it). Ready also needs the Deployment status from a child watch, whose
    // re-connection backoff is capped at 30 s: that cap, the probe and a margin bound it.
    assert!(
        recovery < Duration::from_secs(35),
        "recovered {recovery:?} after the outage"
    );
    settled(&fake, &op).await;
    assert_clean(ownership_problems(&fake, &specs), "after the outage");
    op.stop().await.expect("clean stop");
}

/// Runs `n` services to Ready and returns the requests the operator made.
async fn converge_counting(fake: &FakeApi, n: usize) -> usize {
    let specs = create_services(fake, n);
    let op = start(fake, settings16());
    all_ready(fake, &specs, 120).await;
    settled(fake, &op).await;
    let total = fake.requests().len();
    assert_clean(ownership_problems(fake, &specs), "converged");
    op.stop().await.expect("clean stop");
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_percent_failed_writes_converge_with_backoff() {
    const N: usize = 60;
    let clean = converge_counting(&cluster(), N).await;

    let fake = cluster();
    fake.set_seed(0xfa17);
    // Three rules each firing on 3.45 % of writes: 10 % of writes fail, a third each way.
    let p = 1.0 - 0.9f64.powf(1.0 / 3.0);
    fake.inject(FaultRule::status(500).writes().probability(p));
    fake.inject(FaultRule::too_many_requests(1).writes().probability(p));
    fake.inject(FaultRule::status(409).writes().probability(p));
    let faulty = converge_counting(&fake, N).await;
    let requests = fake.requests();
    let writes = requests.iter().filter(|r| r.is_write()).count();
    let failed = requests
        .iter()
        .filter(|r| r.is_write() && matches!(r.status, 500 | 429 | 409))
        .count();
    eprintln!(
        "fault-free: {clean} requests; with faults: {faulty} requests, {writes} writes, {failed} failed"
    );
    let rate = failed as f64 / writes as f64;
    assert!(
        (0.05..0.15).contains(&rate),
        "{failed} of {writes} writes failed"
    );
    // Each failure costs one failed reconcile and one retry of what was left to do (a few
    // requests), never a storm.
    assert!(
        faulty <= clean + 4 * failed,
        "{faulty} requests with {failed} failures vs {clean} without"
    );
}

type FakeResponse = <FakeService as tower::Service<http::Request<kube::client::Body>>>::Response;

/// A client whose process can die: once `dead`, every request fails at once, as the network
/// of a killed pod does (so a killed leader cannot release its Lease).
#[derive(Clone)]
struct Killable {
    inner: FakeService,
    dead: Arc<AtomicBool>,
}

impl tower::Service<http::Request<kube::client::Body>> for Killable {
    type Response = FakeResponse;
    type Error = tower::BoxError;
    type Future = BoxFuture<'static, Result<FakeResponse, tower::BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<kube::client::Body>) -> Self::Future {
        if self.dead.load(Ordering::SeqCst) {
            return Box::pin(async { Err("connection refused (process killed)".into()) });
        }
        self.inner.call(req)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_within_the_lease() {
    const LEASE: Duration = Duration::from_secs(2);
    let fake = cluster();
    let tracker = Tracker::start(&fake);
    let lease = |id: &str| {
        let mut cfg = LeaderConfig::new("stateless-operator-leader", "default", id);
        cfg.lease_duration = LEASE;
        cfg.renew_grace = Duration::from_secs(1);
        cfg.retry_period = Duration::from_millis(200);
        cfg
    };
    let dead = Arc::new(AtomicBool::new(false));
    let one_client = kube::Client::new(
        Killable {
            inner: fake.service(),
            dead: dead.clone(),
        },
        "default",
    );
    let one = start_with(one_client, settings16(), Some(lease("one")));
    let leases = ResourceRef::new("coordination.k8s.io", "v1", "leases");
    eventually(&fake, "one holds the lease", 10, |f| {
        f.get(&leases, Some("default"), "stateless-operator-leader")
            .is_some_and(|l| l["spec"]["holderIdentity"] == "one")
    })
    .await;
    let two = start_with(fake.client(), settings16(), Some(lease("two")));
    let specs = create_services(&fake, 100);
    let child_writes = || RequestFilter::writes().exclude_resource("leases");
    eventually(&fake, "the leader is half-way", 30, |f| {
        f.count(&child_writes()) >= 300
    })
    .await;
    assert!(
        ready_count(&fake, &specs) < specs.len(),
        "killed mid-convergence"
    );

    // The leader dies: its network first, so it cannot release the Lease.
    dead.store(true, Ordering::SeqCst);
    kill(one).await;
    let killed = Instant::now();
    let before = fake.count(&child_writes());
    // A write the dying leader had in flight may still land: what counts is the follower
    // leading, and then writing.
    let metrics = two.metrics.clone();
    eventually(&fake, "the follower leads", 10, |_| {
        metric(&metrics, "stateless_operator_leader") == 1.0
    })
    .await;
    let took = killed.elapsed();
    eventually(&fake, "the follower writes", 10, |f| {
        f.count(&child_writes()) > before
    })
    .await;
    eprintln!("follower led {took:?} after the leader was killed (lease {LEASE:?})");
    assert!(
        took <= LEASE + Duration::from_millis(1500),
        "the follower took {took:?} to lead"
    );
    all_ready(&fake, &specs, 60).await;
    settled(&fake, &two).await;
    assert_clean(ownership_problems(&fake, &specs), "after failover");
    assert_clean(tracker.finish(&fake).await, "secrets and claims");
    two.stop().await.expect("clean stop");
}
