//! The real controller (`stateless-operator run` in-process) against the in-process fake API
//! server: creation to Ready, zero writes at steady state, drift and contract enforcement,
//! foreign objects, invalid specs, deletion policies, pause, faults and leader election.
//! Every wait polls with a deadline; absence of writes is asserted after a known number of
//! reconciles has happened, never after a bare sleep.

mod support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::{Value, json};
use stateless_operator::leader::LeaderConfig;
use stateless_operator::runner::RunError;
use support::fake_api::{FakeApi, FaultRule, RequestFilter, ResourceRef};
use support::operator::*;

fn full_spec() -> Value {
    json!({
        "image": "registry.example/web:1",
        "replicas": 1,
        "config": {"data": {"greeting": "hello"}, "mountPath": "/etc/web"},
        "secret": {"generate": [{"key": "token", "length": 24}], "mountPath": "/var/run/web"},
        "storage": {"size": "1Gi", "mountPath": "/data", "reclaimPolicy": "Retain"},
    })
}

fn writes_to_children(fake: &FakeApi) -> usize {
    fake.count(&RequestFilter::writes().exclude_resource("events"))
}

fn events(fake: &FakeApi) -> Vec<Value> {
    fake.list(&ResourceRef::of::<Event>(), Some(NS))
}

fn has_event(fake: &FakeApi, reason: &str, fragment: &str) -> bool {
    events(fake)
        .iter()
        .any(|e| e["reason"] == reason && e["note"].as_str().is_some_and(|n| n.contains(fragment)))
}

fn secret_value(fake: &FakeApi, name: &str, key: &str) -> Option<String> {
    get::<Secret>(fake, &format!("{name}-secret"))?
        .pointer(&format!("/data/{key}"))?
        .as_str()
        .map(str::to_string)
}

/// Waits until the operator has finished `n` more reconciles than `before`.
async fn reconciled(fake: &FakeApi, op: &Operator, before: f64, n: f64) {
    let metrics = op.metrics.clone();
    eventually(fake, &format!("{n} more reconciles"), 30, move |_| {
        reconciles(&metrics) >= before + n
    })
    .await;
}

#[tokio::test]
async fn create_builds_every_child_and_reports_ready() {
    let fake = cluster();
    let op = start(&fake, settings());
    create(&fake, "web", full_spec());
    eventually(&fake, "web Ready", 20, |f| is_ready(f, "web")).await;

    let deployment = get::<Deployment>(&fake, "web").expect("Deployment");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
        true
    );
    assert_eq!(
        deployment["metadata"]["managedFields"][0]["manager"],
        "stateless-operator"
    );
    assert!(get::<ConfigMap>(&fake, "web-config").is_some());
    assert_eq!(
        secret_value(&fake, "web", "token").map(|v| v.len()),
        Some(32),
        "24 bytes, base64"
    );
    let claim = get::<PersistentVolumeClaim>(&fake, "web-data").expect("claim");
    assert!(
        claim["metadata"].get("ownerReferences").is_none(),
        "retained claim has no owner"
    );
    assert!(
        get::<PodDisruptionBudget>(&fake, "web").is_none(),
        "one replica: no budget"
    );
    let svc = fake.get(&ssvc(), Some(NS), "web").unwrap();
    assert_eq!(
        svc["status"]["storage"],
        json!({"claimName": "web-data", "phase": "Bound"})
    );
    assert_eq!(svc["status"]["replicaSummary"], "1/1");
    assert!(
        svc["status"]["configHash"]
            .as_str()
            .is_some_and(|h| h.starts_with("hmac-sha256-"))
    );
    assert!(has_event(&fake, "Ready", "replicas available"));
    op.stop().await.expect("clean stop");
}

#[tokio::test]
async fn steady_state_and_resync_issue_zero_writes() {
    let fake = cluster();
    let mut s = settings();
    s.resync = Duration::from_secs(1);
    let op = start(&fake, s);
    for name in ["a", "b", "c"] {
        // Quantities the server re-spells (0.5 -> 500m, 1024Mi -> 1Gi), zero values it drops
        // (readOnly: false, empty env values) and probe zeros it defaults must not look like
        // drift.
        create(
            &fake,
            name,
            json!({"image": "x", "replicas": 2, "config": {"data": {"k": "v"}},
                   "env": [{"name": "EMPTY", "value": ""}],
                   "resources": {"requests": {"cpu": "0.5", "memory": "1024Mi"}},
                   "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 0},
                   "storage": {"size": "2048Mi", "accessMode": "ReadWriteMany", "mountPath": "/data"}}),
        );
    }
    eventually(&fake, "all Ready", 20, |f| {
        ["a", "b", "c"].iter().all(|n| is_ready(f, n))
    })
    .await;
    // The fake re-spelled what the server re-spells: the comparisons below are exercised.
    let live = get::<Deployment>(&fake, "a").unwrap();
    let app = &live["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        app["resources"]["requests"],
        json!({"cpu": "500m", "memory": "1Gi"})
    );
    assert!(app["env"][0].get("value").is_none());
    assert!(app["volumeMounts"][0].get("readOnly").is_none());
    assert_eq!(app["readinessProbe"]["periodSeconds"], 10);
    let claim = get::<PersistentVolumeClaim>(&fake, "a-data").unwrap();
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "2Gi");
    // Let in-flight reconciles (triggered by our own writes) settle, then count from zero.
    let before = reconciles(&op.metrics);
    reconciled(&fake, &op, before, 3.0).await;
    fake.reset_requests();
    let before = reconciles(&op.metrics);
    // Each service is re-synced at least twice (resync 1 s).
    reconciled(&fake, &op, before, 6.0).await;
    assert_eq!(
        fake.writes(),
        0,
        "re-sync wrote: {:?}",
        fake.requests()
            .iter()
            .filter(|r| r.is_write())
            .collect::<Vec<_>>()
    );
    let reads = fake.count(&RequestFilter::default().verb("get"));
    assert_eq!(reads, 0, "a converged re-sync reads only from the caches");
    op.stop().await.unwrap();

    // A restarted operator lists everything and reconciles it all again: still no writes.
    fake.reset_requests();
    let op = start(&fake, settings());
    reconciled(&fake, &op, 0.0, 3.0).await;
    assert_eq!(
        fake.writes(),
        0,
        "restart wrote: {:?}",
        fake.requests()
            .iter()
            .filter(|r| r.is_write())
            .collect::<Vec<_>>()
    );
    op.stop().await.unwrap();
}

#[tokio::test]
async fn deleted_children_are_recreated_and_drift_is_reverted() {
    let fake = cluster();
    let op = start(&fake, settings());
    create(
        &fake,
        "web",
        json!({"image": "x", "replicas": 2, "config": {"data": {"k": "v"}}}),
    );
    eventually(&fake, "web Ready", 20, |f| is_ready(f, "web")).await;

    fake.delete(&ResourceRef::of::<ConfigMap>(), Some(NS), "web-config")
        .unwrap();
    fake.delete(&ResourceRef::of::<PodDisruptionBudget>(), Some(NS), "web")
        .unwrap();
    eventually(&fake, "children re-created", 20, |f| {
        get::<ConfigMap>(f, "web-config").is_some_and(|c| c["data"]["k"] == "v")
            && get::<PodDisruptionBudget>(f, "web").is_some()
    })
    .await;

    // Someone scales and swaps the image by hand (an Update by another manager).
    let res = ResourceRef::of::<Deployment>();
    fake.merge_patch(&res, Some(NS), "web", "kubectl-edit", json!({"spec": {"replicas": 5, "template": {"spec": {"containers": [{"name": "app", "image": "evil:latest"}]}}}}), false)
        .unwrap();
    // And someone makes the root filesystem writable.
    let d = get::<Deployment>(&fake, "web").unwrap();
    let mut containers = d["spec"]["template"]["spec"]["containers"].clone();
    containers[0]["securityContext"]["readOnlyRootFilesystem"] = json!(false);
    fake.merge_patch(
        &res,
        Some(NS),
        "web",
        "kubectl-edit",
        json!({"spec": {"template": {"spec": {"containers": containers}}}}),
        false,
    )
    .unwrap();
    eventually(&fake, "drift reverted", 20, |f| {
        get::<Deployment>(f, "web").is_some_and(|d| {
            d["spec"]["replicas"] == 2
                && d["spec"]["template"]["spec"]["containers"][0]["image"] == "x"
                && d["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] == true
        })
    })
    .await;
    op.stop().await.unwrap();
}

#[tokio::test]
async fn contract_breaking_additions_are_removed_with_an_event() {
    let fake = cluster();
    let op = start(&fake, settings());
    create(&fake, "web", json!({"image": "x", "replicas": 1}));
    eventually(&fake, "web Ready", 20, |f| is_ready(f, "web")).await;

    // Another manager adds a hostPath volume, its mount, a sidecar and a capability.
    let d = get::<Deployment>(&fake, "web").unwrap();
    let mut pod = d["spec"]["template"]["spec"].clone();
    pod["volumes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "host", "hostPath": {"path": "/var/lib"}}));
    let app = &mut pod["containers"][0];
    app["volumeMounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "host", "mountPath": "/host"}));
    app["securityContext"]["capabilities"]["add"] = json!(["NET_ADMIN"]);
    pod["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "miner", "image": "miner:1"}));
    fake.merge_patch(
        &ResourceRef::of::<Deployment>(),
        Some(NS),
        "web",
        "intruder",
        json!({"spec": {"template": {"spec": pod}}}),
        false,
    )
    .unwrap();

    eventually(&fake, "violations removed", 20, |f| {
        get::<Deployment>(f, "web").is_some_and(|d| {
            let pod = &d["spec"]["template"]["spec"];
            let volumes: Vec<&str> = pod["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["name"].as_str().unwrap())
                .collect();
            let containers = pod["containers"].as_array().unwrap();
            let mounts: Vec<&str> = containers[0]["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["mountPath"].as_str().unwrap())
                .collect();
            volumes == ["scratch"]
                && containers.len() == 1
                && mounts == ["/tmp"]
                && containers[0]["securityContext"]["capabilities"]
                    .get("add")
                    .is_none_or(|a| a.as_array().is_some_and(|a| a.is_empty()))
        })
    })
    .await;
    eventually(&fake, "a Warning event naming the manager", 10, |f| {
        has_event(f, "ContractEnforced", "volume \"host\" (hostPath)")
            && has_event(f, "ContractEnforced", "intruder")
    })
    .await;
    op.stop().await.unwrap();
}

#[tokio::test]
async fn config_changes_roll_the_pods_and_foreign_keys_are_kept() {
    let fake = cluster();
    let op = start(&fake, settings());
    create(&fake, "web", full_spec());
    eventually(&fake, "web Ready", 20, |f| is_ready(f, "web")).await;
    let first = config_hash(&fake, "web").unwrap();
    let token = secret_value(&fake, "web", "token").unwrap();

    // A user changes config.
    let mut spec = full_spec();
    spec["config"]["data"]["greeting"] = json!("bonjour");
    fake.merge_patch(
        &ssvc(),
        Some(NS),
        "web",
        "kubectl",
        json!({"spec": spec}),
        false,
    )
    .unwrap();
    eventually(&fake, "new hash after spec change", 20, |f| {
        config_hash(f, "web").is_some_and(|h| h != first)
    })
    .await;
    let second = config_hash(&fake, "web").unwrap();

    // Another tool adds a key to the ConfigMap: kept, and it rolls the pods too.
    fake.merge_patch(
        &ResourceRef::of::<ConfigMap>(),
        Some(NS),
        "web-config",
        "cert-tool",
        json!({"data": {"extra": "1"}}),
        false,
    )
    .unwrap();
    eventually(&fake, "new hash after foreign key", 20, |f| {
        config_hash(f, "web").is_some_and(|h| h != second)
    })
    .await;
    eventually(&fake, "web Ready again", 20, |f| is_ready(f, "web")).await;
    let cm = get::<ConfigMap>(&fake, "web-config").unwrap();
    assert_eq!(cm["data"]["extra"], "1");
    assert_eq!(cm["data"]["greeting"], "bonjour");
    assert_eq!(
        secret_value(&fake, "web", "token").unwrap(),
        token,
        "generated values never change"
    );
    op.stop().await.unwrap();
}

#[tokio::test]
async fn generated_secrets_survive_restarts_and_are_never_logged_in_events() {
    let fake = cluster();
    let op = start(&fake, settings());
    create(&fake, "web", full_spec());
    eventually(&fake, "web Ready", 20, |f| is_ready(f, "web")).await;
    let token = secret_value(&fake, "web", "token").unwrap();
    op.kill();
    let op = start(&fake, settings());
    reconciled(&fake, &op, 0.0, 1.0).await;
    assert_eq!(secret_value(&fake, "web", "token").unwrap(), token);
    op.stop().await.unwrap();
    let decoded = String::from_utf8(k8s_openapi::ByteString(vec![]).0).unwrap_or_default();
    assert!(decoded.is_empty());
    let raw: k8s_openapi::ByteString = serde_json::from_value(json!(token)).unwrap();
    let value = String::from_utf8(raw.0).unwrap();
    for e in events(&fake) {
        assert!(
            !e.to_string().contains(&value),
            "an event contains the secret value: {e}"
        );
    }
    let svc = fake.get(&ssvc(), Some(NS), "web").unwrap();
    assert!(
        !svc.to_string().contains(&value),
        "status contains the secret value"
    );
}

#[tokio::test]
async fn foreign_objects_are_never_taken_over() {
    let fake = cluster();
    let foreign = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "web-config", "namespace": NS, "labels": {"team": "other"}},
        "data": {"theirs": "1"}});
    fake.create(&ResourceRef::of::<ConfigMap>(), foreign)
        .unwrap();
    let op = start(&fake, settings());
    create(&fake, "web", json!({"image": "x"}));
    eventually(&fake, "NameConflict", 20, |f| {
        condition(f, "web", "Stalled").is_some_and(|c| {
            c.0 == "True" && c.1 == "NameConflict" && c.2.contains("ConfigMap web-config")
        })
    })
    .await;
    let cm = get::<ConfigMap>(&fake, "web-config").unwrap();
    assert_eq!(cm["data"], json!({"theirs": "1"}), "untouched");
    assert_eq!(cm["metadata"]["labels"], json!({"team": "other"}));
    assert!(
        get::<Deployment>(&fake, "web").is_none(),
        "nothing applied while in conflict"
    );
    eventually(&fake, "a NameConflict event", 10, |f| {
        has_event(f, "NameConflict", "web-config")
    })
    .await;
    op.stop().await.unwrap();
}

#[tokio::test]
async fn invalid_spec_stalls_without_writing_any_child() {
    let fake = cluster();
    let op = start(&fake, settings());
    create(
        &fake,
        "web",
        json!({"image": "x", "replicas": 3, "storage": {"size": "1Gi", "mountPath": "/tmp/data"}}),
    );
    eventually(&fake, "Stalled InvalidSpec", 20, |f| {
        condition(f, "web", "Stalled").is_some_and(|c| c.0 == "True" && c.1 == "InvalidSpec")
    })
    .await;
    let (_, _, message) = condition(&fake, "web", "Stalled").unwrap();
    assert!(message.contains("spec.storage.accessMode"), "{message}");
    assert!(message.contains("spec.storage.mountPath"), "{message}");
    assert_eq!(condition(&fake, "web", "Ready").unwrap().0, "False");
    for kind in [
        fake.list(&ResourceRef::of::<Deployment>(), Some(NS)),
        fake.list(&ResourceRef::of::<ConfigMap>(), Some(NS)),
        fake.list(&ResourceRef::of::<Secret>(), Some(NS)),
        fake.list(&ResourceRef::of::<PersistentVolumeClaim>(), Some(NS)),
    ] {
        assert!(kind.is_empty(), "no child written: {kind:?}");
    }
    eventually(&fake, "a Warning event", 10, |f| {
        has_event(f, "InvalidSpec", "spec.storage.accessMode")
    })
    .await;
    // Fixing the spec recovers.
    fake.merge_patch(
        &ssvc(),
        Some(NS),
        "web",
        "kubectl",
        json!({"spec": {"replicas": 1, "storage": {"mountPath": "/data"}}}),
        false,
    )
    .unwrap();
    eventually(&fake, "web Ready after the fix", 20, |f| is_ready(f, "web")).await;
    op.stop().await.unwrap();
}

#[tokio::test]
async fn reclaim_policy_decides_what_deletion_keeps() {
    let fake = cluster();
    let op = start(&fake, settings());
    let mut keep = full_spec();
    keep["storage"]["reclaimPolicy"] = json!("Retain");
    let mut drop = full_spec();
    drop["storage"]["reclaimPolicy"] = json!("Delete");
    create(&fake, "keep", keep);
    create(&fake, "drop", drop);
    eventually(&fake, "both Ready", 20, |f| {
        is_ready(f, "keep") && is_ready(f, "drop")
    })
    .await;
    fake.delete(&ssvc(), Some(NS), "keep").unwrap();
    fake.delete(&ssvc(), Some(NS), "drop").unwrap();
    eventually(&fake, "owned children collected", 20, |f| {
        get::<Deployment>(f, "keep").is_none() && get::<Deployment>(f, "drop").is_none()
    })
    .await;
    assert!(
        get::<PersistentVolumeClaim>(&fake, "keep-data").is_some(),
        "Retain keeps the claim"
    );
    assert!(
        get::<PersistentVolumeClaim>(&fake, "drop-data").is_none(),
        "Delete removes it"
    );

    // Re-creating the service re-adopts the retained claim (same uid, data kept).
    let uid = get::<PersistentVolumeClaim>(&fake, "keep-data").unwrap()["metadata"]["uid"].clone();
    create(&fake, "keep", full_spec());
    eventually(&fake, "keep Ready again", 20, |f| is_ready(f, "keep")).await;
    assert_eq!(
        get::<PersistentVolumeClaim>(&fake, "keep-data").unwrap()["metadata"]["uid"],
        uid
    );

    // Switching the policy to Delete gives the claim an ownerReference.
    fake.merge_patch(
        &ssvc(),
        Some(NS),
        "keep",
        "kubectl",
        json!({"spec": {"storage": {"reclaimPolicy": "Delete"}}}),
        false,
    )
    .unwrap();
    eventually(&fake, "claim owned", 20, |f| {
        get::<PersistentVolumeClaim>(f, "keep-data")
            .is_some_and(|c| c["metadata"]["ownerReferences"][0]["kind"] == "StatelessService")
    })
    .await;
    op.stop().await.unwrap();
}

#[tokio::test]
async fn paused_services_get_no_writes() {
    let fake = cluster();
    let op = start(&fake, settings());
    create(&fake, "web", json!({"image": "x", "replicas": 1}));
    eventually(&fake, "web Ready", 20, |f| is_ready(f, "web")).await;
    fake.merge_patch(
        &ssvc(),
        Some(NS),
        "web",
        "kubectl",
        json!({"spec": {"paused": true, "replicas": 4, "image": "y"}}),
        false,
    )
    .unwrap();
    eventually(&fake, "Reconciling=False Paused", 20, |f| {
        condition(f, "web", "Reconciling").is_some_and(|c| c.0 == "False" && c.1 == "Paused")
    })
    .await;
    fake.reset_requests();
    fake.delete(&ResourceRef::of::<ConfigMap>(), Some(NS), "web-config")
        .unwrap();
    let before = reconciles(&op.metrics);
    reconciled(&fake, &op, before, 1.0).await;
    assert_eq!(writes_to_children(&fake), 0, "paused: no writes at all");
    assert!(get::<ConfigMap>(&fake, "web-config").is_none());
    assert_eq!(
        get::<Deployment>(&fake, "web").unwrap()["spec"]["replicas"],
        1
    );
    // Unpausing applies everything.
    fake.merge_patch(
        &ssvc(),
        Some(NS),
        "web",
        "kubectl",
        json!({"spec": {"paused": false}}),
        false,
    )
    .unwrap();
    eventually(&fake, "applied after unpause", 20, |f| {
        get::<Deployment>(f, "web").is_some_and(|d| d["spec"]["replicas"] == 4)
            && get::<ConfigMap>(f, "web-config").is_some()
    })
    .await;
    op.stop().await.unwrap();
}

#[tokio::test]
async fn injected_errors_back_off_and_converge() {
    let fake = cluster();
    // The first 4 applies of the Deployment fail with 500.
    fake.inject(
        FaultRule::status(500)
            .verb("apply")
            .resource("deployments")
            .times(4),
    );
    let op = start(&fake, settings());
    let started = tokio::time::Instant::now();
    create(&fake, "web", json!({"image": "x", "replicas": 1}));
    eventually(&fake, "web Ready despite errors", 60, |f| {
        is_ready(f, "web")
    })
    .await;
    let elapsed = started.elapsed();
    let deployment_applies = fake.count(
        &RequestFilter::default()
            .verb("apply")
            .resource("deployments"),
    );
    assert_eq!(
        deployment_applies, 5,
        "4 failures, then one success: no extra retries"
    );
    // Backoff between the retries: 0.5 + 1 + 2 + 4 s with at most 20 % less jitter. The first
    // retry may come sooner (the watch reports the ConfigMap and Secret written just before the
    // failure, which triggers a reconcile at once), the last three cannot: 0.8 x 7 s.
    assert!(
        elapsed >= Duration::from_secs_f64(7.0 * 0.8),
        "retried too fast: {elapsed:?}"
    );
    let errors = op.metrics.encode();
    assert!(
        errors.contains("stateless_operator_reconcile_errors_total{category=\"server\"} 4"),
        "{errors}"
    );
    op.stop().await.unwrap();
}

#[tokio::test]
async fn throttling_and_conflicts_do_not_cause_request_storms() {
    let fake = cluster();
    fake.set_seed(7);
    fake.inject(
        FaultRule::too_many_requests(1)
            .writes()
            .probability(0.3)
            .times(10),
    );
    let op = start(&fake, settings());
    for name in ["a", "b"] {
        create(&fake, name, json!({"image": "x", "replicas": 1}));
    }
    eventually(&fake, "both Ready", 90, |f| {
        is_ready(f, "a") && is_ready(f, "b")
    })
    .await;
    let throttled = fake.count(&RequestFilter::default().status(429));
    assert!(throttled >= 1, "the fault was exercised");
    let writes = fake.count(&RequestFilter::writes());
    // Two services need ~2 x 5 writes plus status and events; each 429 costs one retry.
    assert!(
        writes < 60,
        "{writes} writes for two services under throttling: a retry storm"
    );
    op.stop().await.unwrap();
}

#[tokio::test]
async fn refuses_to_start_without_the_crd() {
    let fake = FakeApi::new();
    let op = start(&fake, settings());
    let result = tokio::time::timeout(Duration::from_secs(10), op.task)
        .await
        .expect("stops at once")
        .unwrap();
    match result {
        Err(RunError::Controller(e)) => assert!(e.to_string().contains("CRD"), "{e}"),
        other => panic!("expected a CRD error, got {other:?}"),
    }
}

#[tokio::test]
async fn malformed_objects_are_reported_and_do_not_stop_the_others() {
    let fake = cluster();
    // The fake does no schema validation, so a wrongly typed spec can be stored, as an old
    // object from an earlier CRD version could be.
    fake.create(
        &ssvc(),
        service("bad", json!({"image": 42, "replicas": "many"})),
    )
    .unwrap();
    let op = start(&fake, settings());
    create(&fake, "good", json!({"image": "x", "replicas": 1}));
    eventually(&fake, "good Ready", 20, |f| is_ready(f, "good")).await;
    eventually(&fake, "bad reported", 20, |f| {
        condition(f, "bad", "Stalled").is_some_and(|c| c.0 == "True" && c.1 == "MalformedObject")
    })
    .await;
    op.stop().await.unwrap();
}

#[tokio::test]
async fn watching_one_namespace_ignores_the_others() {
    let fake = cluster();
    let mut s = settings();
    s.namespace = Some(NS.to_string());
    let op = start(&fake, s);
    fake.create(
        &ssvc(),
        json!({"apiVersion": "stateless.dev/v1alpha1", "kind": "StatelessService",
        "metadata": {"name": "elsewhere", "namespace": "other"}, "spec": {"image": "x"}}),
    )
    .unwrap();
    create(&fake, "web", json!({"image": "x", "replicas": 1}));
    eventually(&fake, "web Ready", 20, |f| is_ready(f, "web")).await;
    assert!(
        fake.get(&ResourceRef::of::<Deployment>(), Some("other"), "elsewhere")
            .is_none()
    );
    let cluster_wide = fake
        .requests()
        .iter()
        .filter(|r| r.namespace.is_none() && !r.resource.is_empty() && r.verb != "get")
        .count();
    assert_eq!(cluster_wide, 0, "no cluster-wide list or watch");
    op.stop().await.unwrap();
}

#[tokio::test]
async fn only_the_leader_writes_and_a_follower_takes_over() {
    let fake = cluster();
    let lease = |id: &str| {
        let mut cfg = LeaderConfig::new("stateless-operator-leader", "default", id);
        cfg.lease_duration = Duration::from_secs(2);
        cfg.renew_grace = Duration::from_secs(1);
        cfg.retry_period = Duration::from_millis(200);
        cfg
    };
    let one = start_with(fake.client(), settings(), Some(lease("one")));
    eventually(&fake, "one holds the lease", 10, |f| {
        f.get(
            &ResourceRef::new("coordination.k8s.io", "v1", "leases"),
            Some("default"),
            "stateless-operator-leader",
        )
        .is_some_and(|l| l["spec"]["holderIdentity"] == "one")
    })
    .await;
    let two = start_with(fake.client(), settings(), Some(lease("two")));
    create(&fake, "web", json!({"image": "x", "replicas": 1}));
    eventually(&fake, "web Ready", 20, |f| is_ready(f, "web")).await;
    assert_eq!(metric(&one.metrics, "stateless_operator_leader"), 1.0);
    assert_eq!(metric(&two.metrics, "stateless_operator_leader"), 0.0);
    assert_eq!(
        reconciles(&two.metrics),
        0.0,
        "the follower never reconciles"
    );

    // The leader dies without releasing the Lease (the task is aborted: no graceful path runs);
    // the follower takes over once it expires, within the lease duration plus its retry pause.
    let lease_holder = |f: &FakeApi| {
        f.get(
            &ResourceRef::new("coordination.k8s.io", "v1", "leases"),
            Some("default"),
            "stateless-operator-leader",
        )
        .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_string))
    };
    one.kill();
    let start = tokio::time::Instant::now();
    assert_eq!(
        lease_holder(&fake).as_deref(),
        Some("one"),
        "a crash releases nothing"
    );
    let metrics = two.metrics.clone();
    eventually(&fake, "two leads", 10, move |_| {
        metric(&metrics, "stateless_operator_leader") == 1.0
    })
    .await;
    let took = start.elapsed();
    assert!(took < Duration::from_secs(5), "took over in {took:?}");
    assert_eq!(lease_holder(&fake).as_deref(), Some("two"));
    fake.merge_patch(
        &ssvc(),
        Some(NS),
        "web",
        "kubectl",
        json!({"spec": {"image": "y"}}),
        false,
    )
    .unwrap();
    eventually(&fake, "two applies the change", 20, |f| {
        get::<Deployment>(f, "web")
            .is_some_and(|d| d["spec"]["template"]["spec"]["containers"][0]["image"] == "y")
    })
    .await;
    two.stop().await.unwrap();
}

#[tokio::test]
async fn adding_single_writer_storage_switches_the_strategy_to_recreate() {
    let fake = cluster();
    let op = start(&fake, settings());
    create(&fake, "web", json!({"image": "x", "replicas": 1}));
    eventually(&fake, "web Ready", 20, |f| is_ready(f, "web")).await;
    assert_eq!(
        get::<Deployment>(&fake, "web").unwrap()["spec"]["strategy"]["type"],
        "RollingUpdate"
    );
    fake.merge_patch(
        &ssvc(),
        Some(NS),
        "web",
        "kubectl",
        json!({"spec": {"storage": {"size": "1Gi", "mountPath": "/data"}}}),
        false,
    )
    .unwrap();
    eventually(&fake, "Recreate without rollingUpdate", 20, |f| {
        get::<Deployment>(f, "web").is_some_and(|d| {
            d["spec"]["strategy"]["type"] == "Recreate"
                && d["spec"]["strategy"].get("rollingUpdate").is_none()
        })
    })
    .await;
    eventually(&fake, "web Ready with its claim", 20, |f| {
        is_ready(f, "web")
    })
    .await;
    op.stop().await.unwrap();
}
