//! Start-up, re-list and shutdown of the real operator against the in-process fake API server,
//! with lists that take time while writes go on, as on a real API server (`HoldResponse`: the
//! list's snapshot and resourceVersion are taken at once, the answer arrives later).
//!
//! These are the scenarios a real v1.36 server exposed and the instant fake hid: services created
//! while the operator starts were never reconciled, `/readyz` never turned 200, and SIGTERM did
//! not stop a process whose reconciles were stuck. Every wait polls with a deadline.

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::{Value, json};
use stateless_operator::controller::DRAIN_TIMEOUT;
use stateless_operator::leader::{LeaderConfig, RELEASE_TIMEOUT};
use stateless_operator::runner::SHUTDOWN_BOUND;
use support::fake_api::{FakeApi, FaultRule, RequestFilter, ResourceRef};
use support::operator::*;

fn spec(greeting: &str) -> Value {
    json!({
        "image": "registry.example/web:1",
        "replicas": 1,
        "config": {"data": {"greeting": greeting}, "mountPath": "/etc/web"},
    })
}

/// Children applied and a status written for the current generation.
fn converged(fake: &FakeApi, name: &str) -> bool {
    let Some(svc) = fake.get(&ssvc(), Some(NS), name) else {
        return false;
    };
    get::<Deployment>(fake, name).is_some()
        && get::<ConfigMap>(fake, &format!("{name}-config")).is_some()
        && svc.pointer("/status/observedGeneration") == svc.pointer("/metadata/generation")
}

fn greeting(fake: &FakeApi, name: &str) -> Option<String> {
    get::<ConfigMap>(fake, &format!("{name}-config"))?
        .pointer("/data/greeting")?
        .as_str()
        .map(str::to_string)
}

/// Lists of StatelessServices answer after `services`, lists of every child kind after
/// `children` (their snapshots are taken at once).
fn hold_lists(fake: &FakeApi, services: Duration, children: Duration) {
    fake.inject(
        FaultRule::hold_response(services)
            .verb("list")
            .resource("statelessservices"),
    );
    for plural in [
        "deployments",
        "configmaps",
        "secrets",
        "persistentvolumeclaims",
        "poddisruptionbudgets",
    ] {
        fake.inject(
            FaultRule::hold_response(children)
                .verb("list")
                .resource(plural),
        );
    }
}

/// Cancels the operator as SIGTERM does and returns how long it took to stop (panics past
/// twice the bound: a process that does not stop would otherwise hang the test).
async fn stop_timed(op: Operator) -> Duration {
    let started = Instant::now();
    op.shutdown.cancel();
    match tokio::time::timeout(SHUTDOWN_BOUND * 2, op.task).await {
        Ok(Ok(result)) => result.expect("operator stops without error"),
        Ok(Err(e)) => panic!("operator task panicked: {e}"),
        Err(_) => panic!("operator did not stop within {:?}", SHUTDOWN_BOUND * 2),
    }
    started.elapsed()
}

/// Allowance for scheduling on a loaded 2-core CI machine on top of the documented bound.
const SLACK: Duration = Duration::from_secs(3);

#[tokio::test]
async fn services_created_while_the_caches_fill_all_converge() {
    let fake = cluster();
    // The services' list completes first, so reconciles start and wait for the child caches:
    // the state in which a real server left most of them waiting for ever.
    hold_lists(&fake, Duration::from_millis(500), Duration::from_secs(2));
    let op = start(&fake, settings());
    let names: Vec<String> = (0..12).map(|i| format!("svc-{i:02}")).collect();
    for name in &names[..6] {
        create(&fake, name, spec("first"));
    }
    // While the services' list is held (snapshot taken): these arrive through the watch.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for name in &names[6..] {
        create(&fake, name, spec("first"));
    }
    assert_ne!(
        http_status(&op, "/readyz").await,
        200,
        "ready before any cache synced"
    );
    // While the child lists are held: an update to a service created before the operator saw it.
    tokio::time::sleep(Duration::from_millis(700)).await;
    fake.merge_patch(
        &ssvc(),
        Some(NS),
        "svc-00",
        "test-actor",
        json!({"spec": {"config": {"data": {"greeting": "second"}}}}),
        false,
    )
    .expect("update svc-00");

    readyz_becomes(&op, 200, 30).await;
    for name in &names {
        eventually(&fake, &format!("{name} converged"), 30, |f| {
            converged(f, name)
        })
        .await;
    }
    eventually(&fake, "svc-00 has the updated config", 30, |f| {
        greeting(f, "svc-00").as_deref() == Some("second")
    })
    .await;
    let took = stop_timed(op).await;
    assert!(took < SHUTDOWN_BOUND, "stopped after {took:?}");
}

#[tokio::test]
async fn a_relist_while_writes_go_on_loses_nothing() {
    let fake = cluster();
    let op = start(&fake, settings());
    for name in ["a", "b", "c"] {
        create(&fake, name, spec("first"));
    }
    for name in ["a", "b", "c"] {
        eventually(&fake, &format!("{name} converged"), 30, |f| {
            converged(f, name)
        })
        .await;
    }
    readyz_becomes(&op, 200, 30).await;

    // Every watch is cut and its resourceVersion compacted away: each watcher gets 410 Gone and
    // lists again, and those lists take time while other actors write.
    hold_lists(&fake, Duration::from_secs(1), Duration::from_secs(1));
    let unrelated = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "unrelated", "namespace": NS}});
    fake.create(&ResourceRef::of::<ConfigMap>(), unrelated)
        .expect("unrelated write moves the resourceVersion on");
    fake.compact_history();
    fake.disconnect_watches();
    create(&fake, "d", spec("first"));
    fake.merge_patch(
        &ssvc(),
        Some(NS),
        "a",
        "test-actor",
        json!({"spec": {"config": {"data": {"greeting": "second"}}}}),
        false,
    )
    .expect("update a");
    fake.delete(&ResourceRef::of::<ConfigMap>(), Some(NS), "b-config")
        .expect("delete b-config");
    // During the re-lists (their snapshots are taken by now or soon): more of the same.
    tokio::time::sleep(Duration::from_millis(300)).await;
    create(&fake, "e", spec("first"));
    fake.delete(&ResourceRef::of::<Deployment>(), Some(NS), "c")
        .expect("delete Deployment c");

    for name in ["d", "e"] {
        eventually(
            &fake,
            &format!("{name} (created during the re-list) converged"),
            30,
            |f| converged(f, name),
        )
        .await;
    }
    eventually(&fake, "a has the updated config", 30, |f| {
        greeting(f, "a").as_deref() == Some("second")
    })
    .await;
    eventually(&fake, "b-config recreated", 30, |f| {
        get::<ConfigMap>(f, "b-config").is_some()
    })
    .await;
    eventually(&fake, "Deployment c recreated", 30, |f| {
        get::<Deployment>(f, "c").is_some()
    })
    .await;
    assert_eq!(
        http_status(&op, "/readyz").await,
        200,
        "a re-list keeps readiness"
    );
    op.stop().await.expect("clean stop");
}

#[tokio::test]
async fn readyz_waits_for_every_cache() {
    let fake = cluster();
    fake.inject(
        FaultRule::hold_response(Duration::from_secs(2))
            .verb("list")
            .resource("poddisruptionbudgets"),
    );
    let op = start(&fake, settings());
    eventually(&fake, "the operator lists PodDisruptionBudgets", 10, |f| {
        f.count(
            &RequestFilter::default()
                .verb("list")
                .resource("poddisruptionbudgets"),
        ) > 0
    })
    .await;
    assert_eq!(http_status(&op, "/healthz").await, 200);
    assert_eq!(
        http_status(&op, "/readyz").await,
        503,
        "one cache is still listing"
    );
    readyz_becomes(&op, 200, 30).await;
    op.stop().await.expect("clean stop");
}

#[tokio::test]
async fn shutdown_is_bounded_with_a_reconcile_stuck_on_a_hanging_write() {
    let fake = cluster();
    fake.inject(FaultRule::hang().writes().resource("deployments"));
    let op = start(&fake, settings());
    create(&fake, "stuck", spec("first"));
    eventually(&fake, "a write to the Deployment hangs", 30, |f| {
        f.count(&RequestFilter::writes().resource("deployments")) > 0
    })
    .await;
    let took = stop_timed(op).await;
    assert!(
        took >= DRAIN_TIMEOUT - Duration::from_secs(1),
        "the stuck reconcile got its drain time ({took:?})"
    );
    assert!(took < SHUTDOWN_BOUND + SLACK, "stopped after {took:?}");
}

#[tokio::test]
async fn shutdown_is_bounded_while_a_cache_never_syncs() {
    let fake = cluster();
    fake.inject(FaultRule::hang().verb("list").resource("secrets"));
    let op = start(&fake, settings());
    create(&fake, "waiting", spec("first"));
    eventually(&fake, "the Secret list hangs", 10, |f| {
        f.count(&RequestFilter::default().verb("list").resource("secrets")) > 0
    })
    .await;
    assert_eq!(http_status(&op, "/readyz").await, 503);
    let took = stop_timed(op).await;
    assert!(took < SHUTDOWN_BOUND + SLACK, "stopped after {took:?}");
    assert!(
        get::<Deployment>(&fake, "waiting").is_none(),
        "nothing is decided from a half-filled cache"
    );
}

#[tokio::test]
async fn shutdown_is_bounded_when_the_lease_release_hangs() {
    let fake = cluster();
    let mut cfg = LeaderConfig::new("stateless-operator-leader", NS, "only")
        .with_lease_duration(Duration::from_secs(3));
    cfg.retry_period = Duration::from_millis(200);
    let op = start_with(fake.client(), settings(), Some(cfg));
    create(&fake, "web", spec("first"));
    eventually(&fake, "web converged under the leader", 30, |f| {
        converged(f, "web")
    })
    .await;
    fake.inject(FaultRule::hang().writes().resource("leases"));
    let took = stop_timed(op).await;
    assert!(
        took < RELEASE_TIMEOUT + SLACK,
        "a hanging release is bounded ({took:?})"
    );
}
