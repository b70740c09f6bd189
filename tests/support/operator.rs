//! Runs the real operator (`runner::run_with`: CRD check, leader election, controller) in-process
//! against a [`FakeApi`], and helpers to create StatelessServices and read their children.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::CustomResourceExt;
use serde_json::{Value, json};
use stateless_operator::controller::Settings;
use stateless_operator::crd::StatelessService;
use stateless_operator::leader::LeaderConfig;
use stateless_operator::metrics::Metrics;
use stateless_operator::runner::{self, RunError, RunOptions};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::fake_api::{FakeApi, ResourceRef};

/// The namespace tests use.
pub const NS: &str = "apps";

/// A fake API with the CRD registered and the cluster's controllers simulated.
pub fn cluster() -> FakeApi {
    let fake = FakeApi::new();
    fake.register_crd(&StatelessService::crd());
    fake.simulate_deployment_controller(true);
    fake.simulate_pvc_binding(true);
    fake
}

/// The StatelessService resource.
pub fn ssvc() -> ResourceRef {
    ResourceRef::of::<StatelessService>()
}

/// One running operator process.
pub struct Operator {
    /// Where it serves `/healthz`, `/readyz` and `/metrics` (loopback).
    pub addr: std::net::SocketAddr,
    /// Cancel to stop it (like SIGTERM).
    pub shutdown: CancellationToken,
    /// Its task; ends after shutdown.
    pub task: JoinHandle<Result<(), RunError>>,
    /// Its metrics.
    pub metrics: Metrics,
}

impl Operator {
    /// Stops it as SIGTERM would and waits for it to finish.
    pub async fn stop(self) -> Result<(), RunError> {
        self.shutdown.cancel();
        match tokio::time::timeout(Duration::from_secs(20), self.task).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => panic!("operator task panicked: {e}"),
            Err(_) => panic!("operator did not stop within 20 s of shutdown"),
        }
    }

    /// Stops it abruptly, as a killed process (no graceful shutdown, lease not released).
    pub fn kill(self) {
        self.task.abort();
    }
}

/// Settings for tests: short resync so re-syncs happen within a test.
pub fn settings() -> Settings {
    Settings {
        namespace: None,
        concurrency: 8,
        resync: Duration::from_secs(600),
        instance: Some("test".to_string()),
    }
}

/// Starts an operator without leader election.
pub fn start(fake: &FakeApi, settings: Settings) -> Operator {
    start_with(fake.client(), settings, None)
}

/// Starts an operator with a client and optional leader election.
pub fn start_with(
    client: kube::Client,
    settings: Settings,
    leader: Option<LeaderConfig>,
) -> Operator {
    let shutdown = CancellationToken::new();
    let metrics = Metrics::new();
    // Bound here so that the test knows the port before the operator starts.
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    std_listener.set_nonblocking(true).expect("non-blocking");
    let addr = std_listener.local_addr().expect("local address");
    let listener = tokio::net::TcpListener::from_std(std_listener).expect("tokio listener");
    let options = RunOptions {
        settings,
        leader,
        metrics_addr: addr.to_string(),
    };
    let task = tokio::spawn(runner::run_on(
        client,
        options,
        metrics.clone(),
        shutdown.clone(),
        listener,
    ));
    Operator {
        addr,
        shutdown,
        task,
        metrics,
    }
}

/// A StatelessService manifest.
pub fn service(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "stateless.dev/v1alpha1",
        "kind": "StatelessService",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    })
}

/// Creates a StatelessService as a user would.
pub fn create(fake: &FakeApi, name: &str, spec: Value) -> Value {
    fake.create(&ssvc(), service(name, spec))
        .expect("create StatelessService")
}

/// Reads a child or the service.
pub fn get<K: kube::Resource<DynamicType = ()>>(fake: &FakeApi, name: &str) -> Option<Value> {
    fake.get(&ResourceRef::of::<K>(), Some(NS), name)
}

/// The status condition `type_` of a service: (status, reason, message).
pub fn condition(fake: &FakeApi, name: &str, type_: &str) -> Option<(String, String, String)> {
    let svc = fake.get(&ssvc(), Some(NS), name)?;
    let conditions = svc.pointer("/status/conditions")?.as_array()?.clone();
    let c = conditions.iter().find(|c| c["type"] == type_)?;
    let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
    Some((s("status"), s("reason"), s("message")))
}

/// True when the service reports Ready=True for its current generation.
pub fn is_ready(fake: &FakeApi, name: &str) -> bool {
    let Some(svc) = fake.get(&ssvc(), Some(NS), name) else {
        return false;
    };
    let generation = svc.pointer("/metadata/generation").cloned();
    let observed = svc.pointer("/status/observedGeneration").cloned();
    generation.is_some()
        && generation == observed
        && condition(fake, name, "Ready").is_some_and(|c| c.0 == "True")
}

/// Waits (polling, with a deadline) until `cond` holds; panics with `what` otherwise.
pub async fn eventually(fake: &FakeApi, what: &str, secs: u64, cond: impl FnMut(&FakeApi) -> bool) {
    assert!(
        fake.wait_until(Duration::from_secs(secs), cond).await,
        "timed out after {secs} s waiting for: {what}"
    );
}

/// The pod template's config hash.
pub fn config_hash(fake: &FakeApi, name: &str) -> Option<String> {
    get::<Deployment>(fake, name)?
        .pointer("/spec/template/metadata/annotations/stateless.dev~1config-hash")?
        .as_str()
        .map(str::to_string)
}

/// Value of an unlabelled counter or gauge in the operator's metrics.
pub fn metric(metrics: &Metrics, name: &str) -> f64 {
    metrics
        .encode()
        .lines()
        .filter_map(|l| l.strip_prefix(name))
        .filter_map(|rest| rest.strip_prefix(' '))
        .filter_map(|v| v.trim().parse::<f64>().ok())
        .next()
        .unwrap_or(0.0)
}

/// The HTTP status of `GET path` on the operator's endpoint (0 when it does not answer).
pub async fn http_status(op: &Operator, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = async {
        let mut stream = tokio::net::TcpStream::connect(op.addr).await.ok()?;
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

/// Waits (polling, with a deadline) until `/readyz` answers `status`.
pub async fn readyz_becomes(op: &Operator, status: u16, secs: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let got = http_status(op, "/readyz").await;
        if got == status {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz answered {got}, not {status}, for {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reconciles finished so far.
pub fn reconciles(metrics: &Metrics) -> f64 {
    metric(
        metrics,
        "stateless_operator_reconcile_duration_seconds_count",
    )
}
