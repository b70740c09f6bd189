//! What one StatelessService costs the API server (issue 14), against the fake with a Deployment
//! controller that rolls out one pod at a time, as a real one does: status writes per new
//! service, events on repeated reconciles, and kstatus truth on the way (a reader never sees
//! `Ready=True` for a generation that is not rolled out, nor a stale `observedGeneration` once
//! the service is Ready). Every wait polls with a deadline.

mod support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::events::v1::Event;
use serde_json::{Value, json};
use support::fake_api::{FakeApi, RequestFilter, ResourceRef};
use support::operator::*;

fn spec(replicas: i32) -> Value {
    json!({
        "image": "registry.example/web:1",
        "replicas": replicas,
        "config": {"data": {"greeting": "hello"}},
    })
}

fn status_patches(fake: &FakeApi, name: &str) -> usize {
    fake.count(
        &RequestFilter::writes()
            .resource("statelessservices")
            .subresource(Some("status"))
            .name(name),
    )
}

/// Fails when the service says Ready=True while its Deployment has not rolled out the
/// service's current generation.
fn check_truth(fake: &FakeApi, name: &str) {
    let Some(svc) = fake.get(&ssvc(), Some(NS), name) else {
        return;
    };
    let ready = svc
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True");
    if !ready {
        return;
    }
    assert_eq!(
        svc.pointer("/status/observedGeneration"),
        svc.pointer("/metadata/generation"),
        "Ready=True with a stale observedGeneration: {svc}"
    );
    let deployment = get::<Deployment>(fake, name).expect("a Ready service has its Deployment");
    let want = deployment.pointer("/spec/replicas").and_then(Value::as_i64);
    let available = deployment
        .pointer("/status/availableReplicas")
        .and_then(Value::as_i64);
    assert_eq!(
        available, want,
        "Ready=True before the rollout finished: {deployment}"
    );
}

#[tokio::test]
async fn a_new_service_costs_at_most_two_status_writes_and_stays_truthful() {
    let fake = cluster();
    fake.simulate_staged_rollouts(Duration::from_millis(150));
    let op = start(&fake, settings());
    let names = ["one", "three", "five"];
    for (name, replicas) in names.iter().zip([1, 3, 5]) {
        create(&fake, name, spec(replicas));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !names.iter().all(|n| is_ready(&fake, n)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all Ready after 30 s"
        );
        for name in names {
            check_truth(&fake, name);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for name in names {
        check_truth(&fake, name);
        let writes = status_patches(&fake, name);
        assert!(
            writes <= 2,
            "{name}: {writes} status writes (first report of the generation, then Ready)"
        );
    }
    // The counts are right once Ready.
    let five = fake.get(&ssvc(), Some(NS), "five").unwrap();
    assert_eq!(five.pointer("/status/readyReplicas"), Some(&json!(5)));
    assert_eq!(five.pointer("/status/replicaSummary"), Some(&json!("5/5")));
    op.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_spec_change_reports_the_new_generation_then_ready() {
    let fake = cluster();
    fake.simulate_staged_rollouts(Duration::from_millis(150));
    let op = start(&fake, settings());
    create(&fake, "web", spec(3));
    eventually(&fake, "web Ready", 30, |f| is_ready(f, "web")).await;
    let before = status_patches(&fake, "web");
    fake.merge_patch(
        &ssvc(),
        Some(NS),
        "web",
        "test-actor",
        json!({"spec": {"image": "registry.example/web:2"}}),
        false,
    )
    .expect("update web");
    // The new generation is reported (not Ready) before its rollout completes.
    eventually(&fake, "generation 2 observed", 30, |f| {
        f.get(&ssvc(), Some(NS), "web")
            .and_then(|s| s.pointer("/status/observedGeneration").cloned())
            == Some(json!(2))
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !is_ready(&fake, "web") {
        assert!(tokio::time::Instant::now() < deadline, "not Ready again");
        check_truth(&fake, "web");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let writes = status_patches(&fake, "web") - before;
    assert!(writes <= 2, "{writes} status writes for one spec change");
    op.stop().await.expect("clean stop");
}

#[tokio::test]
async fn repeated_reconciles_add_no_events() {
    let fake = cluster();
    let mut s = settings();
    s.resync = Duration::from_millis(300);
    let op = start(&fake, s);
    create(&fake, "web", spec(2));
    eventually(&fake, "web Ready", 30, |f| is_ready(f, "web")).await;
    let events = || fake.list(&ResourceRef::of::<Event>(), Some(NS)).len();
    let after_ready = events();
    let before = reconciles(&op.metrics);
    eventually(&fake, "ten more reconciles", 30, |_| {
        reconciles(&op.metrics) >= before + 10.0
    })
    .await;
    assert_eq!(events(), after_ready, "re-syncs published events");
    assert_eq!(
        fake.count(&RequestFilter::writes().resource("events")),
        after_ready,
        "one write per event, none repeated"
    );
    op.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_claim_binding_during_the_rollout_costs_no_extra_status_write() {
    let fake = cluster();
    // The claim stays Pending until the first status is written, then binds, as a real
    // provisioner does seconds after the claim is created.
    fake.simulate_pvc_binding(false);
    fake.simulate_staged_rollouts(Duration::from_millis(150));
    let op = start(&fake, settings());
    let mut s = spec(1);
    s["storage"] = json!({"size": "1Gi", "mountPath": "/data", "accessMode": "ReadWriteOnce"});
    create(&fake, "db", s);
    eventually(&fake, "the first status of db", 30, |f| {
        status_patches(f, "db") >= 1
    })
    .await;
    fake.simulate_pvc_binding(true);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !is_ready(&fake, "db") {
        assert!(tokio::time::Instant::now() < deadline, "db not Ready");
        check_truth(&fake, "db");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let db = fake.get(&ssvc(), Some(NS), "db").unwrap();
    assert_eq!(db.pointer("/status/storage/phase"), Some(&json!("Bound")));
    let writes = status_patches(&fake, "db");
    assert!(
        writes <= 2,
        "{writes} status writes (first report, then Ready)"
    );
    op.stop().await.expect("clean stop");
}
