//! The real operator (`runner::run_with`, in-process) against a **real** Kubernetes API server:
//! the scenarios of `tests/controller.rs`, where the API server, not a fake, decides admission
//! (structural schema, defaults, CEL), server-side apply, the status subresource, garbage
//! collection and events.
//!
//! Every test is ignored by default; run them against a cluster you may create CRDs and
//! namespaces in (kind works):
//!
//! ```sh
//! KUBECONFIG=~/.kube/config cargo test --test cluster -- --ignored
//! ```
//!
//! Each test installs the CRD (server-side apply), works in its own namespace
//! `ssvc-test-<random>` (deleted at the end, also on failure; set `SSVC_TEST_KEEP_NAMESPACE=1`
//! to keep it after a failure) and runs its own operator scoped to that namespace. No other
//! stateless-operator should watch the test namespaces (the tests warn when one runs, and the
//! scale test refuses to run). Pods need not start except in the Ready tests, which use
//! `registry.k8s.io/pause:3.10` as uid 65535. `cluster_scale` creates `SSVC_SCALE_COUNT`
//! services (default 50).

mod support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use stateless_operator::leader::LeaderConfig;
use support::cluster::*;
use tokio::time::Instant;

const MANAGER: &str = "stateless-operator";

/// A pause-image service of `replicas` pods that can actually run.
fn pause(replicas: i32) -> Value {
    json!({"image": PAUSE_IMAGE, "replicas": replicas, "podSecurity": {"runAsUser": PAUSE_UID}})
}

/// Asserts that `result` is the API server's 422 Invalid with a message containing `fragment`.
fn expect_invalid(what: &str, result: Result<Value, kube::Error>, fragment: &str) {
    match result {
        Err(kube::Error::Api(status)) => {
            assert!(
                status.code == 422 && status.message.contains(fragment),
                "{what}: expected 422 Invalid mentioning {fragment:?}, got {} {}: {}",
                status.code,
                status.reason,
                status.message
            );
            eprintln!("{what}: rejected: {}", status.message);
        }
        Err(e) => panic!("{what}: expected 422 Invalid mentioning {fragment:?}, got {e}"),
        Ok(obj) => panic!(
            "{what}: expected the API server to reject it ({fragment:?}), but it was accepted:\n{}",
            yaml(&printable(&obj))
        ),
    }
}

fn labels_ok(o: &Value, service: &str) -> Result<(), String> {
    let labels = &o["metadata"]["labels"];
    for (k, v) in [
        ("app.kubernetes.io/name", service),
        ("app.kubernetes.io/managed-by", MANAGER),
        ("stateless.dev/service", service),
    ] {
        if labels[k] != v {
            return Err(format!("label {k} is {} (want {v})", labels[k]));
        }
    }
    Ok(())
}

/// Checks labels, the controller ownerReference and the operator's apply entry in managedFields.
fn assert_child(kind: &str, o: &Value, svc: &Value, owned: bool) {
    let service = svc["metadata"]["name"].as_str().unwrap();
    let what = format!("{kind} {}", o["metadata"]["name"]);
    if let Err(e) = labels_ok(o, service) {
        panic!("{what}: {e}:\n{}", yaml(&printable(o)));
    }
    let refs = o["metadata"]["ownerReferences"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if owned {
        assert_eq!(
            refs.len(),
            1,
            "{what}: one ownerReference:\n{}",
            yaml(&printable(o))
        );
        let r = &refs[0];
        assert_eq!(r["apiVersion"], "stateless.dev/v1alpha1", "{what}");
        assert_eq!(r["kind"], "StatelessService", "{what}");
        assert_eq!(r["name"], service, "{what}");
        assert_eq!(r["uid"], svc["metadata"]["uid"], "{what}: owner uid");
        assert_eq!(r["controller"], true, "{what}: controller");
        assert_eq!(r["blockOwnerDeletion"], true, "{what}: blockOwnerDeletion");
    } else {
        assert!(
            refs.is_empty(),
            "{what}: no ownerReference:\n{}",
            yaml(&printable(o))
        );
    }
    let applied = o["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| e["manager"] == MANAGER && e["operation"] == "Apply");
    assert!(
        applied,
        "{what}: managedFields has an Apply entry of {MANAGER}:\n{}",
        yaml(&o["metadata"]["managedFields"])
    );
    assert!(
        o.pointer("/metadata/annotations/stateless.dev~1desired-hash")
            .is_some(),
        "{what}: desired-hash annotation"
    );
}

fn container(deployment: &Value) -> &Value {
    &deployment["spec"]["template"]["spec"]["containers"][0]
}

fn volume_names(deployment: &Value) -> Vec<String> {
    deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect()
}

fn mount_paths(deployment: &Value) -> Vec<String> {
    container(deployment)["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["mountPath"].as_str().map(str::to_string))
        .collect()
}

/// Applies, as another field manager, a strategic merge patch to a Deployment.
async fn intrude(env: &Env, name: &str, manager: &str, patch: Value) {
    let params = PatchParams {
        field_manager: Some(manager.to_string()),
        ..PatchParams::default()
    };
    env.api(&ar::<Deployment>())
        .patch(name, &params, &Patch::Strategic(&patch))
        .await
        .unwrap_or_else(|e| panic!("patch Deployment {name} as {manager} with {patch}: {e}"));
}

/// 1. Admission: the API server rejects what the CEL rules forbid, with their messages, and
/// applies the schema's defaults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster: set KUBECONFIG"]
async fn cluster_admission_rejects_invalid_objects_and_applies_defaults() {
    let env = Env::setup("admission").await;
    let op = env.start("admission");

    let storage = json!({"size": "1Gi", "mountPath": "/data"});
    let cases = [
        (
            "replicas 3 with ReadWriteOnce storage",
            "rwo-three",
            json!({"image": PAUSE_IMAGE, "replicas": 3, "storage": storage}),
            "replicas > 1 with storage requires storage.accessMode ReadWriteMany",
        ),
        (
            // Defaulting (replicas: 2) runs before validation.
            "default replicas with ReadWriteOnce storage",
            "rwo-default",
            json!({"image": PAUSE_IMAGE, "storage": storage}),
            "replicas > 1 with storage requires storage.accessMode ReadWriteMany",
        ),
        (
            "config mounted below /tmp",
            "tmp-mount",
            json!({"image": PAUSE_IMAGE, "config": {"mountPath": "/tmp/app"}}),
            "mount path must be an absolute, normalised path",
        ),
        (
            "storage mounted at /tmp",
            "tmp-storage",
            json!({"image": PAUSE_IMAGE, "replicas": 1, "storage": {"size": "1Gi", "mountPath": "/tmp"}}),
            "not /tmp or below",
        ),
        (
            "a relative mount path",
            "relative-mount",
            json!({"image": PAUSE_IMAGE, "secret": {"mountPath": "etc/app"}}),
            "mount path must be an absolute, normalised path",
        ),
        (
            "config and secret mounts overlapping",
            "overlap",
            json!({"image": PAUSE_IMAGE, "config": {"mountPath": "/etc/app"}, "secret": {"mountPath": "/etc/app/secret"}}),
            "config.mountPath and secret.mountPath overlap",
        ),
        (
            "config and storage mounts overlapping",
            "overlap-storage",
            json!({"image": PAUSE_IMAGE, "replicas": 1, "config": {"mountPath": "/data/config"}, "storage": storage}),
            "config.mountPath and storage.mountPath overlap",
        ),
        (
            "a secret key with a space",
            "bad-key",
            json!({"image": PAUSE_IMAGE, "secret": {"generate": [{"key": "db password", "length": 16}]}}),
            "secret key must consist of letters, digits, '-', '_' or '.'",
        ),
        (
            "a generated secret shorter than 16",
            "short-secret",
            json!({"image": PAUSE_IMAGE, "secret": {"generate": [{"key": "token", "length": 8}]}}),
            "spec.secret.generate[0].length",
        ),
        (
            "an image with a space",
            "space-image",
            json!({"image": "nginx latest"}),
            "image must not contain spaces",
        ),
    ];
    for (what, name, spec, fragment) in cases {
        expect_invalid(what, env.try_create(name, spec).await, fragment);
    }
    // Names: the API server itself accepts DNS subdomains (253 characters, dots); the CRD's
    // rule narrows them to DNS labels.
    let long = "a".repeat(64);
    for (what, name) in [
        ("a 64-character name", long.as_str()),
        ("a name with a dot", "web.v1"),
    ] {
        expect_invalid(
            what,
            env.try_create(name, json!({"image": PAUSE_IMAGE})).await,
            "metadata.name must be a DNS label of at most 63 characters",
        );
    }
    let longest = "b".repeat(63);
    env.create(&longest, json!({"image": PAUSE_IMAGE, "replicas": 0}))
        .await;

    // Defaults, as the create response and a later read show them.
    let created = env
        .create(
            "defaults",
            json!({"image": PAUSE_IMAGE, "scratch": {}, "config": {}, "ports": [{"name": "http", "containerPort": 8080}]}),
        )
        .await;
    let read = env.svc("defaults").await.expect("defaults");
    for svc in [&created, &read] {
        let spec = &svc["spec"];
        assert_eq!(spec["replicas"], 2, "replicas default:\n{}", yaml(spec));
        assert_eq!(spec["paused"], false, "paused default");
        assert_eq!(
            spec["scratch"]["sizeLimit"], "64Mi",
            "scratch.sizeLimit default"
        );
        assert_eq!(spec["scratch"]["medium"], "", "scratch.medium default");
        assert_eq!(spec["config"]["env"], false, "config.env default");
        assert_eq!(spec["ports"][0]["protocol"], "TCP", "port protocol default");
    }
    let vol = env
        .create(
            "vol",
            json!({"image": PAUSE_IMAGE, "replicas": 1, "storage": {"size": "2Gi", "mountPath": "/data"}}),
        )
        .await;
    assert_eq!(
        vol["spec"]["storage"]["accessMode"], "ReadWriteOnce",
        "accessMode default"
    );
    assert_eq!(
        vol["spec"]["storage"]["reclaimPolicy"], "Retain",
        "reclaimPolicy default"
    );

    // Updates: transition rules (oldSelf).
    let updates = [
        (
            "adding a storageClassName",
            json!({"spec": {"storage": {"storageClassName": "other-class"}}}),
            "storage.storageClassName is immutable",
        ),
        (
            "changing the accessMode",
            json!({"spec": {"storage": {"accessMode": "ReadWriteOncePod"}}}),
            "storage.accessMode is immutable",
        ),
        (
            "shrinking the size",
            json!({"spec": {"storage": {"size": "1Gi"}}}),
            "storage.size can only grow",
        ),
        (
            "removing storage",
            json!({"spec": {"storage": null}}),
            "storage cannot be removed once set",
        ),
        (
            "scaling ReadWriteOnce storage to 2 replicas",
            json!({"spec": {"replicas": 2}}),
            "replicas > 1 with storage requires storage.accessMode ReadWriteMany",
        ),
    ];
    for (what, patch, fragment) in updates {
        expect_invalid(what, env.try_patch("vol", patch).await, fragment);
    }
    // The same quantity in another unit is no shrink.
    let same = env
        .patch("vol", json!({"spec": {"storage": {"size": "2048Mi"}}}))
        .await;
    assert_eq!(same["spec"]["storage"]["size"], "2048Mi");
    assert!(!op.has_stopped(), "the operator keeps running");
    op.stop().await;
}

/// 2. Create: every child exists with our labels, a controller ownerReference and our field
/// manager; the status is written through the status subresource.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster: set KUBECONFIG"]
async fn cluster_create_builds_every_child_and_writes_status() {
    let env = Env::setup("create").await;
    let op = env.start("create");
    let mut web = pause(2);
    web["config"] = json!({"data": {"greeting": "hello"}, "mountPath": "/etc/web"});
    web["secret"] =
        json!({"generate": [{"key": "token", "length": 24}], "mountPath": "/var/run/web"});
    web["ports"] = json!([{"name": "http", "containerPort": 8080}]);
    env.create("web", web).await;
    let mut db = pause(1);
    db["storage"] = json!({"size": "64Mi", "mountPath": "/data", "reclaimPolicy": "Delete"});
    env.create("db", db).await;

    let web = env.wait_applied("web", 60).await;
    let db = env.wait_applied("db", 60).await;

    // web: Deployment, ConfigMap, Secret, PodDisruptionBudget; no claim.
    let d = env.get::<Deployment>("web").await.expect("Deployment web");
    assert_child("Deployment", &d, &web, true);
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(container(&d)["name"], "app");
    assert_eq!(container(&d)["image"], PAUSE_IMAGE);
    assert_eq!(
        container(&d)["securityContext"]["readOnlyRootFilesystem"],
        true
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["automountServiceAccountToken"],
        false
    );
    assert_eq!(volume_names(&d), ["scratch", "config", "secret"]);
    assert_eq!(
        d.pointer("/spec/template/metadata/annotations/stateless.dev~1config-hash"),
        web.pointer("/status/configHash"),
        "the status reports the pods' config hash"
    );
    let cm = env
        .get::<ConfigMap>("web-config")
        .await
        .expect("ConfigMap web-config");
    assert_child("ConfigMap", &cm, &web, true);
    assert_eq!(cm["data"], json!({"greeting": "hello"}));
    let secret = env
        .get::<Secret>("web-secret")
        .await
        .expect("Secret web-secret");
    assert_child("Secret", &secret, &web, true);
    let raw: k8s_openapi::ByteString =
        serde_json::from_value(secret["data"]["token"].clone()).expect("token");
    assert_eq!(raw.0.len(), 24, "generated value of 24 characters");
    assert!(raw.0.iter().all(u8::is_ascii_alphanumeric));
    assert_eq!(
        secret.pointer("/metadata/annotations/stateless.dev~1generated-keys"),
        Some(&json!("token"))
    );
    let pdb = env
        .get::<PodDisruptionBudget>("web")
        .await
        .expect("PDB web");
    assert_child("PodDisruptionBudget", &pdb, &web, true);
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert!(env.absent::<PersistentVolumeClaim>("web-data").await);

    // db: a claim owned under reclaimPolicy Delete; Recreate for a single-writer volume; no PDB.
    let d = env.get::<Deployment>("db").await.expect("Deployment db");
    assert_child("Deployment", &d, &db, true);
    assert_eq!(d["spec"]["strategy"]["type"], "Recreate");
    let claim = env
        .get::<PersistentVolumeClaim>("db-data")
        .await
        .expect("claim db-data");
    assert_child("PersistentVolumeClaim", &claim, &db, true);
    assert_eq!(claim["spec"]["accessModes"], json!(["ReadWriteOnce"]));
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "64Mi");
    for (kind, o) in [
        ("ConfigMap", env.get::<ConfigMap>("db-config").await),
        ("Secret", env.get::<Secret>("db-secret").await),
    ] {
        assert_child(
            kind,
            &o.unwrap_or_else(|| panic!("{kind} of db")),
            &db,
            true,
        );
    }
    assert!(
        env.absent::<PodDisruptionBudget>("db").await,
        "one replica: no PDB"
    );

    // Status: through the status subresource, for the current generation, three conditions.
    for (svc, replicas) in [(&web, 2), (&db, 1)] {
        let name = svc["metadata"]["name"].as_str().unwrap();
        let status = &svc["status"];
        assert_eq!(
            status["observedGeneration"], svc["metadata"]["generation"],
            "{name}"
        );
        let types: Vec<&str> = status["conditions"]
            .as_array()
            .expect("conditions")
            .iter()
            .filter_map(|c| c["type"].as_str())
            .collect();
        assert_eq!(types, ["Ready", "Reconciling", "Stalled"], "{name}");
        for t in types {
            let c = condition(svc, t).unwrap();
            assert_eq!(c.observed_generation, generation(svc), "{name} {t}");
            assert!(
                !c.reason.is_empty() && !c.message.is_empty(),
                "{name} {t}: {c:?}"
            );
        }
        assert_eq!(condition(svc, "Stalled").unwrap().status, "False", "{name}");
        assert!(
            status["replicaSummary"]
                .as_str()
                .is_some_and(|s| s.ends_with(&format!("/{replicas}"))),
            "{name}: {status}"
        );
        assert!(
            status["configHash"]
                .as_str()
                .is_some_and(|h| h.starts_with("hmac-sha256-")),
            "{name}: {status}"
        );
        let entries = svc["metadata"]["managedFields"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            entries
                .iter()
                .any(|e| e["manager"] == MANAGER && e["subresource"] == "status"),
            "{name}: the operator writes the status subresource:\n{}",
            yaml(&json!(entries))
        );
        assert!(
            !entries
                .iter()
                .any(|e| e["manager"] == MANAGER && e.get("subresource").is_none()),
            "{name}: the operator never writes the main resource:\n{}",
            yaml(&json!(entries))
        );
    }
    assert_eq!(
        db["status"]["storage"]["claimName"],
        "db-data",
        "{}",
        yaml(&db["status"])
    );
    assert!(!op.has_stopped());
    op.stop().await;
}

/// 3. Ready: with pods that run (pause image as uid 65535), the service reports Ready=True for
/// its current generation, with and without a data volume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster: set KUBECONFIG"]
async fn cluster_ready_with_running_pods() {
    let env = Env::setup("ready").await;
    let op = env.start("ready");
    env.create("web", pause(2)).await;
    let mut data = pause(1);
    data["storage"] = json!({"size": "64Mi", "mountPath": "/data"});
    env.create("data", data).await;

    let web = env.wait_ready("web", 180).await;
    assert_eq!(web["status"]["replicaSummary"], "2/2");
    assert_eq!(condition(&web, "Reconciling").unwrap().status, "False");
    assert_eq!(condition(&web, "Stalled").unwrap().status, "False");
    let data = env.wait_ready("data", 180).await;
    assert_eq!(data["status"]["replicaSummary"], "1/1");
    assert_eq!(data["status"]["storage"]["phase"], "Bound");
    env.eventually("a Normal Ready event for web", 30, async || {
        env.has_event("web", "Normal", "Ready", &["replicas available"])
            .await
    })
    .await;
    op.stop().await;
}

/// 4. Steady state: once converged, restarted operators (a full re-sync of every service) write
/// nothing at all: no apply, no status, no event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster: set KUBECONFIG"]
async fn cluster_steady_state_makes_zero_writes() {
    let env = Env::setup("steady").await;
    let op = env.start("steady-1");
    // Exercise what the API server normalises: quantities (0.05 -> 50m, 0.5Gi -> 512Mi),
    // defaulted fields (protocol, probe timings, terminationMessagePath, ...), false booleans.
    let mut web = pause(2);
    web["config"] = json!({"data": {"greeting": "hello"}, "mountPath": "/etc/web", "env": true});
    web["secret"] =
        json!({"generate": [{"key": "token", "length": 32}], "mountPath": "/var/run/web"});
    web["ports"] = json!([{"name": "http", "containerPort": 8080}, {"name": "dns", "containerPort": 5353, "protocol": "UDP"}]);
    web["env"] = json!([{"name": "MODE", "value": "test"}, {"name": "UNSET"}, {"name": "EMPTY", "value": ""}]);
    web["resources"] =
        json!({"requests": {"cpu": "0.05", "memory": "16Mi"}, "limits": {"memory": "0.0625Gi"}});
    web["scratch"] = json!({"sizeLimit": "0.5Gi"});
    web["args"] = json!(["--verbose"]);
    env.create("web", web).await;
    let mut db = pause(1);
    db["storage"] = json!({"size": "64Mi", "mountPath": "/data"});
    db["scratch"] = json!({"medium": "Memory", "sizeLimit": "16Mi"});
    // Never passes (pause listens nowhere): a service that stays not Ready must be quiet too.
    db["readinessProbe"] = json!({"tcpSocket": {"port": 8080}, "periodSeconds": 5});
    db["podSecurity"]["fsGroup"] = json!(PAUSE_UID);
    env.create("db", db).await;
    env.wait_applied("web", 60).await;
    env.wait_applied("db", 60).await;
    env.settle(&[&op], Duration::from_secs(15), Duration::from_secs(240))
        .await;
    eprintln!("converged after writes: {:?}", op.write_lines());
    op.stop().await;

    for round in 1..=2 {
        let before = env.versions().await;
        let op = env.start(&format!("steady-restart-{round}"));
        env.wait_for(
            "every service re-synced by the restarted operator",
            60,
            async || (op.reconciles() >= 2.0).then_some(()),
        )
        .await;
        env.settle(&[&op], Duration::from_secs(10), Duration::from_secs(120))
            .await;
        let after = env.versions().await;
        assert_eq!(
            op.writes(),
            0.0,
            "restart {round}: a converged re-sync wrote ({} reconciles): {:?}",
            op.reconciles(),
            op.write_lines()
        );
        assert_eq!(before, after, "restart {round}: objects changed");
        eprintln!(
            "restart {round}: {} reconciles, 0 writes, errors {:?}",
            op.reconciles(),
            op.error_lines()
        );
        op.stop().await;
    }
}

/// 5. Drift: a deleted child is re-created, another manager's changes to owned fields are
/// reverted, and what breaks the contract (a hostPath volume) is removed with a Warning event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster: set KUBECONFIG"]
async fn cluster_drift_is_reverted() {
    let env = Env::setup("drift").await;
    let op = env.start("drift");
    let mut spec = pause(2);
    spec["config"] = json!({"data": {"k": "v"}});
    env.create("web", spec).await;
    env.wait_applied("web", 60).await;

    // A deleted ConfigMap comes back (a new object).
    let old = env.get::<ConfigMap>("web-config").await.expect("ConfigMap");
    env.api(&ar::<ConfigMap>())
        .delete("web-config", &Default::default())
        .await
        .expect("delete ConfigMap");
    env.eventually("web-config re-created", 60, async || {
        env.get::<ConfigMap>("web-config").await.is_some_and(|cm| {
            cm["metadata"]["uid"] != old["metadata"]["uid"] && cm["data"]["k"] == "v"
        })
    })
    .await;

    // Someone scales and swaps the image with their own field manager.
    intrude(
        &env,
        "web",
        "intruder",
        json!({"spec": {"replicas": 5, "template": {"spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.9"}]}}}}),
    )
    .await;
    env.eventually("replicas and image reverted", 60, async || {
        env.get::<Deployment>("web")
            .await
            .is_some_and(|d| d["spec"]["replicas"] == 2 && container(&d)["image"] == PAUSE_IMAGE)
    })
    .await;

    // Someone adds a hostPath volume and mounts it.
    intrude(
        &env,
        "web",
        "intruder",
        json!({"spec": {"template": {"spec": {
            "volumes": [{"name": "host", "hostPath": {"path": "/var/lib"}}],
            "containers": [{"name": "app", "volumeMounts": [{"name": "host", "mountPath": "/host"}]}],
        }}}}),
    )
    .await;
    env.eventually("hostPath volume and its mount removed", 60, async || {
        env.get::<Deployment>("web").await.is_some_and(|d| {
            !volume_names(&d).iter().any(|v| v == "host")
                && !mount_paths(&d).iter().any(|m| m == "/host")
                && volume_names(&d).iter().any(|v| v == "scratch")
        })
    })
    .await;
    env.eventually(
        "a Warning ContractEnforced event naming the volume and the manager",
        30,
        async || {
            env.has_event(
                "web",
                "Warning",
                "ContractEnforced",
                &["volume \"host\" (hostPath)", "intruder"],
            )
            .await
        },
    )
    .await;
    let d = env.get::<Deployment>("web").await.unwrap();
    assert_eq!(
        container(&d)["securityContext"]["readOnlyRootFilesystem"],
        true
    );
    op.stop().await;
}

/// 5b. Adding single-writer storage switches the Deployment from RollingUpdate to Recreate: the
/// server must accept the apply (server-side apply removes the `rollingUpdate` fields the
/// operator owned; a leftover `rollingUpdate` would be rejected for a Recreate Deployment), and
/// switching back to no storage is refused by CEL, so only this direction exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster: set KUBECONFIG"]
async fn cluster_adding_storage_switches_to_recreate() {
    let env = Env::setup("strategy").await;
    let op = env.start("strategy");
    env.create("web", pause(1)).await;
    env.wait_applied("web", 60).await;
    let d = env.get::<Deployment>("web").await.expect("Deployment");
    assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");

    env.patch(
        "web",
        json!({"spec": {"storage": {"size": "1Gi", "mountPath": "/data"}}}),
    )
    .await;
    env.eventually(
        "Deployment switched to Recreate with the claim mounted",
        90,
        async || {
            env.get::<Deployment>("web").await.is_some_and(|d| {
                d["spec"]["strategy"]["type"] == "Recreate"
                    && d["spec"]["strategy"].get("rollingUpdate").is_none()
                    && volume_names(&d).iter().any(|v| v == "data")
            })
        },
    )
    .await;
    let svc = env.wait_applied("web", 60).await;
    let stalled = svc["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Stalled").cloned())
        .unwrap_or_default();
    assert_eq!(stalled["status"], "False", "not ApplyRejected: {stalled}");
    op.stop().await;
}

/// 6. Foreign object: a ConfigMap of the child's name that is not ours stalls the service with
/// NameConflict and is left untouched; nothing else is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster: set KUBECONFIG"]
async fn cluster_foreign_object_is_never_taken_over() {
    let env = Env::setup("foreign").await;
    let foreign: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "web-config", "labels": {"team": "other"}},
        "data": {"theirs": "1"},
    }))
    .unwrap();
    let created = env
        .api(&ar::<ConfigMap>())
        .create(&PostParams::default(), &foreign)
        .await
        .expect("create the foreign ConfigMap");
    let op = env.start("foreign");
    env.create("web", json!({"image": PAUSE_IMAGE})).await;
    let svc = env
        .wait_for("Stalled=True NameConflict", 60, async || {
            let svc = env.svc("web").await?;
            let stalled = condition(&svc, "Stalled")?;
            (is_current(&svc) && stalled.status == "True" && stalled.reason == "NameConflict")
                .then_some(svc)
        })
        .await;
    let message = condition(&svc, "Stalled").unwrap().message;
    assert!(message.contains("ConfigMap web-config"), "{message}");
    assert_eq!(condition(&svc, "Ready").unwrap().status, "False");
    env.eventually("a NameConflict event", 30, async || {
        env.has_event("web", "Warning", "NameConflict", &["web-config"])
            .await
    })
    .await;
    let now = env.get::<ConfigMap>("web-config").await.expect("ConfigMap");
    assert_eq!(
        now["metadata"]["resourceVersion"],
        created.metadata.resource_version.clone().unwrap(),
        "the foreign ConfigMap was written to:\n{}",
        yaml(&printable(&now))
    );
    assert_eq!(now["data"], json!({"theirs": "1"}));
    assert_eq!(now["metadata"]["labels"], json!({"team": "other"}));
    assert!(now["metadata"].get("ownerReferences").is_none());
    assert!(
        env.absent::<Deployment>("web").await,
        "nothing applied in conflict"
    );
    assert!(
        env.absent::<Secret>("web-secret").await,
        "nothing applied in conflict"
    );
    op.stop().await;
}

/// 7. A spec that passes CEL but not the operator's validation (duplicate port numbers, a probe
/// with two handlers) stalls with InvalidSpec and creates no child; fixing it recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster: set KUBECONFIG"]
async fn cluster_invalid_spec_stalls_without_children() {
    let env = Env::setup("invalid").await;
    let op = env.start("invalid");
    let mut spec = pause(1);
    spec["ports"] =
        json!([{"name": "http", "containerPort": 8080}, {"name": "alt", "containerPort": 8080}]);
    spec["readinessProbe"] = json!({"exec": {"command": ["true"]}, "tcpSocket": {"port": 8080}});
    // Accepted by the API server: the list is keyed by name, probes are not checked by CEL.
    env.create("web", spec).await;
    let svc = env
        .wait_for("Stalled=True InvalidSpec", 60, async || {
            let svc = env.svc("web").await?;
            let stalled = condition(&svc, "Stalled")?;
            (is_current(&svc) && stalled.status == "True" && stalled.reason == "InvalidSpec")
                .then_some(svc)
        })
        .await;
    let message = condition(&svc, "Stalled").unwrap().message;
    assert!(message.contains("spec.ports[1].containerPort"), "{message}");
    assert!(message.contains("spec.readinessProbe"), "{message}");
    assert_eq!(condition(&svc, "Ready").unwrap().status, "False");
    env.eventually("an InvalidSpec event", 30, async || {
        env.has_event(
            "web",
            "Warning",
            "InvalidSpec",
            &["spec.ports[1].containerPort"],
        )
        .await
    })
    .await;
    for (kind, absent) in [
        ("Deployment", env.absent::<Deployment>("web").await),
        ("ConfigMap", env.absent::<ConfigMap>("web-config").await),
        ("Secret", env.absent::<Secret>("web-secret").await),
        (
            "PersistentVolumeClaim",
            env.absent::<PersistentVolumeClaim>("web-data").await,
        ),
        (
            "PodDisruptionBudget",
            env.absent::<PodDisruptionBudget>("web").await,
        ),
    ] {
        assert!(absent, "{kind} written for an invalid spec");
    }
    // A merge patch replaces the ports list and removes the probe.
    env.patch(
        "web",
        json!({"spec": {"ports": [{"name": "http", "containerPort": 8080}], "readinessProbe": null}}),
    )
    .await;
    env.wait_applied("web", 60).await;
    op.stop().await;
}

/// 8. reclaimPolicy: Retain keeps the claim (without an owner) after the service is deleted and
/// a new service of the same name adopts it; Delete lets the garbage collector remove it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster: set KUBECONFIG"]
async fn cluster_reclaim_policy_decides_what_deletion_keeps() {
    let env = Env::setup("reclaim").await;
    let op = env.start("reclaim");
    let spec = |policy: &str| {
        let mut s = pause(1);
        s["storage"] = json!({"size": "64Mi", "mountPath": "/data", "reclaimPolicy": policy});
        s
    };
    env.create("keep", spec("Retain")).await;
    env.create("drop", spec("Delete")).await;
    env.wait_applied("keep", 60).await;
    env.wait_applied("drop", 60).await;
    let kept = env
        .get::<PersistentVolumeClaim>("keep-data")
        .await
        .expect("keep-data");
    assert!(
        kept["metadata"].get("ownerReferences").is_none(),
        "Retain: no owner"
    );
    let dropped = env
        .get::<PersistentVolumeClaim>("drop-data")
        .await
        .expect("drop-data");
    assert_eq!(
        dropped["metadata"]["ownerReferences"][0]["kind"],
        "StatelessService"
    );

    env.delete("keep").await;
    env.delete("drop").await;
    // The garbage collector works asynchronously.
    env.eventually("owned children garbage-collected", 120, async || {
        env.gone::<Deployment>("keep").await
            && env.gone::<Deployment>("drop").await
            && env.gone::<ConfigMap>("keep-config").await
            && env.gone::<Secret>("drop-secret").await
    })
    .await;
    // A claim in use is only removed once its pods are gone (kubernetes.io/pvc-protection).
    env.eventually("drop-data deleted", 240, async || {
        env.gone::<PersistentVolumeClaim>("drop-data").await
    })
    .await;
    let still = env
        .get::<PersistentVolumeClaim>("keep-data")
        .await
        .expect("Retain keeps the claim");
    assert_eq!(still["metadata"]["uid"], kept["metadata"]["uid"]);
    assert!(still["metadata"].get("ownerReferences").is_none());
    assert!(still["metadata"].get("deletionTimestamp").is_none());

    // A new service of the same name adopts the retained claim.
    env.create("keep", spec("Retain")).await;
    let svc = env.wait_applied("keep", 60).await;
    let adopted = env.get::<PersistentVolumeClaim>("keep-data").await.unwrap();
    assert_eq!(
        adopted["metadata"]["uid"], kept["metadata"]["uid"],
        "same claim"
    );
    assert_eq!(svc["status"]["storage"]["claimName"], "keep-data");
    op.stop().await;
}

/// 9. paused: nothing is applied while paused (a new image stays unapplied, a deleted child
/// stays deleted) and Reconciling=False reason Paused; unpausing applies everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster: set KUBECONFIG"]
async fn cluster_paused_changes_nothing() {
    let env = Env::setup("paused").await;
    let op = env.start("paused");
    env.create("web", pause(1)).await;
    env.wait_applied("web", 60).await;

    env.patch(
        "web",
        json!({"spec": {"paused": true, "image": "registry.k8s.io/pause:3.9"}}),
    )
    .await;
    env.wait_for("Reconciling=False Paused", 60, async || {
        let svc = env.svc("web").await?;
        let c = condition(&svc, "Reconciling")?;
        (is_current(&svc) && c.status == "False" && c.reason == "Paused").then_some(())
    })
    .await;
    env.settle(&[&op], Duration::from_secs(5), Duration::from_secs(120))
        .await;
    let writes = op.writes();
    let reconciles = op.reconciles();
    // Events that each trigger a reconcile: a deleted child, a touched service.
    env.api(&ar::<ConfigMap>())
        .delete("web-config", &Default::default())
        .await
        .expect("delete ConfigMap");
    env.wait_for("a reconcile after the ConfigMap deletion", 60, async || {
        (op.reconciles() > reconciles).then_some(())
    })
    .await;
    let reconciles = op.reconciles();
    env.patch(
        "web",
        json!({"metadata": {"annotations": {"touched": "1"}}}),
    )
    .await;
    env.wait_for("a reconcile after the annotation", 60, async || {
        (op.reconciles() > reconciles).then_some(())
    })
    .await;
    assert_eq!(
        op.writes(),
        writes,
        "paused: no writes: {:?}",
        op.write_lines()
    );
    let d = env.get::<Deployment>("web").await.unwrap();
    assert_eq!(container(&d)["image"], PAUSE_IMAGE, "the old image stays");
    assert!(
        env.absent::<ConfigMap>("web-config").await,
        "paused: not re-created"
    );

    env.patch("web", json!({"spec": {"paused": false}})).await;
    env.eventually("everything applied after unpausing", 60, async || {
        env.get::<Deployment>("web")
            .await
            .is_some_and(|d| container(&d)["image"] == "registry.k8s.io/pause:3.9")
            && env.get::<ConfigMap>("web-config").await.is_some()
    })
    .await;
    env.wait_applied("web", 60).await;
    op.stop().await;
}

/// 10. Leader election: of two operators only the Lease holder reconciles and writes; when it
/// dies the other takes over within the lease duration (plus a margin) and applies changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster: set KUBECONFIG"]
async fn cluster_leader_election_fails_over() {
    let env = Env::setup("leader").await;
    const LEASE: &str = "ssvc-test-leader";
    let lease_duration = Duration::from_secs(4);
    let lease = |id: &str| {
        let mut cfg = LeaderConfig::new(LEASE, env.ns.clone(), id);
        cfg.lease_duration = lease_duration;
        cfg.renew_grace = Duration::from_secs(2);
        cfg.retry_period = Duration::from_millis(500);
        cfg
    };
    let holder = async || {
        env.get::<Lease>(LEASE)
            .await
            .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_string))
    };
    let one = env.start_with("one", env.settings("one"), Some(lease("one")));
    env.eventually("one leads", 60, async || {
        one.leading() && holder().await.as_deref() == Some("one")
    })
    .await;
    let two = env.start_with("two", env.settings("two"), Some(lease("two")));
    env.create("web", pause(1)).await;
    env.wait_applied("web", 60).await;
    assert!(one.writes() > 0.0, "the leader wrote");
    assert!(!two.leading(), "two follows");
    assert_eq!(
        two.writes(),
        0.0,
        "the follower writes nothing: {:?}",
        two.write_lines()
    );
    assert_eq!(two.reconciles(), 0.0, "the follower does not reconcile");
    assert_eq!(holder().await.as_deref(), Some("one"));

    one.kill();
    let killed = Instant::now();
    env.eventually("two takes over", 60, async || {
        two.leading() && holder().await.as_deref() == Some("two")
    })
    .await;
    let took = killed.elapsed();
    eprintln!("failover took {took:?} (lease duration {lease_duration:?})");
    assert!(
        took <= lease_duration + Duration::from_secs(10),
        "failover took {took:?}"
    );
    env.patch(
        "web",
        json!({"spec": {"image": "registry.k8s.io/pause:3.9"}}),
    )
    .await;
    env.eventually("two applies the change", 60, async || {
        env.get::<Deployment>("web")
            .await
            .is_some_and(|d| container(&d)["image"] == "registry.k8s.io/pause:3.9")
    })
    .await;
    env.wait_applied("web", 60).await;
    assert!(
        two.writes() > 0.0,
        "the new leader wrote: {:?}",
        two.write_lines()
    );
    two.stop().await;
    env.eventually("the Lease released on shutdown", 30, async || {
        holder().await.is_none()
    })
    .await;
}

/// Start-up race (issue 8): services created back to back while a fresh operator makes its
/// first lists (which take time on a real server while writes go on), and an update made
/// meanwhile, all converge; `/readyz` turns 200 once the caches are synced; SIGTERM stops it within
/// the shutdown bound ([`Op::stop`] asserts it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster: set KUBECONFIG"]
async fn cluster_services_created_during_start_up_all_converge() {
    let env = Env::setup("startup").await;
    let op = env.start("startup");
    let names: Vec<String> = (0..12).map(|i| format!("early-{i:02}")).collect();
    for name in &names {
        let mut spec = pause(1);
        spec["config"] = json!({"data": {"greeting": "first"}});
        env.create(name, spec).await;
    }
    env.patch(
        "early-00",
        json!({"spec": {"config": {"data": {"greeting": "second"}}}}),
    )
    .await;
    env.eventually("/readyz answers 200", 60, async || {
        op.http_status("/readyz").await == 200
    })
    .await;
    assert_eq!(op.sample("stateless_operator_ready"), 1.0);
    for name in &names {
        env.wait_applied(name, 120).await;
    }
    env.eventually("early-00 has the updated config", 60, async || {
        env.get::<ConfigMap>("early-00-config")
            .await
            .is_some_and(|c| c["data"]["greeting"] == "second")
    })
    .await;
    op.stop().await;
}

/// A restart while writes go on: what changed while no operator ran (a new service, an update,
/// a deleted child) and what is created while the next one makes its first lists all converge.
/// (A watch expiring with 410 cannot be provoked on a real server from a client; the fake covers
/// the re-list in `tests/startup.rs`, and this is the same path through the caches' first list.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster: set KUBECONFIG"]
async fn cluster_restart_while_writes_go_on_loses_nothing() {
    let env = Env::setup("restart").await;
    let first = env.start("first");
    for name in ["a", "b"] {
        env.create(name, pause(1)).await;
    }
    for name in ["a", "b"] {
        env.wait_applied(name, 120).await;
    }
    first.stop().await;
    env.create("c", pause(1)).await;
    env.patch(
        "a",
        json!({"spec": {"config": {"data": {"greeting": "second"}}}}),
    )
    .await;
    env.api(&ar::<ConfigMap>())
        .delete("b-config", &Default::default())
        .await
        .expect("delete b-config");
    let second = env.start("second");
    env.create("d", pause(1)).await;
    for name in ["a", "b", "c", "d"] {
        env.wait_applied(name, 120).await;
    }
    env.eventually(
        "a has the updated config and b-config is back",
        60,
        async || {
            let a = env.get::<ConfigMap>("a-config").await;
            a.is_some_and(|c| c["data"]["greeting"] == "second")
                && env.get::<ConfigMap>("b-config").await.is_some()
        },
    )
    .await;
    env.eventually("/readyz answers 200", 60, async || {
        second.http_status("/readyz").await == 200
    })
    .await;
    second.stop().await;
}

/// `--lease-duration 5` (not a multiple of 3) starts and leads; the Lease records 5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster: set KUBECONFIG"]
async fn cluster_any_lease_duration_works() {
    let env = Env::setup("lease5").await;
    const LEASE: &str = "ssvc-test-lease5";
    let cfg = LeaderConfig::new(LEASE, env.ns.clone(), "five")
        .with_lease_duration(Duration::from_secs(5));
    let op = env.start_with("five", env.settings("five"), Some(cfg));
    env.eventually("five leads", 60, async || {
        op.leading()
            && env.get::<Lease>(LEASE).await.is_some_and(|l| {
                l["spec"]["holderIdentity"] == "five" && l["spec"]["leaseDurationSeconds"] == 5
            })
    })
    .await;
    env.create("web", pause(1)).await;
    env.wait_applied("web", 60).await;
    op.stop().await;
}

/// 11. Scale ("Scale and fault tolerance"): N services (`SSVC_SCALE_COUNT`, default 50) of one
/// pause pod each: time until every one has its children applied and its status written, time
/// until every one is Ready (when pods can run here), and the writes of an idle minute after
/// convergence (asserted zero).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster: set KUBECONFIG"]
async fn cluster_scale() {
    let count: usize = std::env::var("SSVC_SCALE_COUNT")
        .ok()
        .map(|v| v.parse().expect("SSVC_SCALE_COUNT must be a number"))
        .unwrap_or(50);
    let env = Env::setup("scale").await;
    env.require_sole_operator();
    let mut settings = env.settings("scale");
    settings.concurrency = 16;
    // Re-syncs every ~30 s, so the idle minute includes at least one of every Ready service.
    settings.resync = Duration::from_secs(30);
    let op = env.start_with("scale", settings, None);
    let names: Vec<String> = (0..count).map(|i| format!("svc-{i:04}")).collect();
    let started = Instant::now();
    for name in &names {
        let mut spec = pause(1);
        spec["config"] = json!({"data": {"name": name}});
        env.create(name, spec).await;
    }
    let created_in = started.elapsed();

    let list = async || env.list_as(&ssvc_ar()).await;
    let count_where =
        |svcs: &[Value], f: &dyn Fn(&Value) -> bool| svcs.iter().filter(|s| f(s)).count();
    env.wait_for(
        &format!("{count} services with children applied and status written"),
        600,
        async || {
            let svcs = list().await;
            let deployments = env.list::<Deployment>().await.len();
            let applied = count_where(&svcs, &|s| {
                is_current(s) && condition(s, "Stalled").is_some_and(|c| c.status == "False")
            });
            (applied == count && deployments == count).then_some(())
        },
    )
    .await;
    let applied_in = started.elapsed();
    let writes_to_apply = op.writes();

    let ready_deadline = Duration::from_secs(300.max(3 * count as u64));
    let mut ready_in = None;
    let mut ready = 0;
    let mut not_ready = String::new();
    while started.elapsed() < ready_deadline {
        let svcs = list().await;
        ready = count_where(&svcs, &|s| is_ready(s));
        if ready == count {
            ready_in = Some(started.elapsed());
            break;
        }
        if let Some(s) = svcs.iter().find(|s| !is_ready(s)) {
            not_ready = format!(
                "{}: {:?}",
                s["metadata"]["name"],
                condition(s, "Ready").map(|c| c.message)
            );
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    env.settle(&[&op], Duration::from_secs(15), Duration::from_secs(600))
        .await;
    let idle_writes = op.writes();
    let idle_reconciles = op.reconciles();
    let idle_start = Instant::now();
    // The measurement window itself: one idle minute.
    while idle_start.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!op.has_stopped(), "the operator stopped");
    }
    let idle_written = op.writes() - idle_writes;
    let idle_reconciled = op.reconciles() - idle_reconciles;

    eprintln!("==== cluster_scale: {count} services (pause image, 1 replica each)");
    eprintln!(
        "created (API requests) in        {:>8.1} s",
        created_in.as_secs_f64()
    );
    eprintln!(
        "children applied + status in      {:>8.1} s",
        applied_in.as_secs_f64()
    );
    match ready_in {
        Some(t) => eprintln!(
            "all Ready in                      {:>8.1} s",
            t.as_secs_f64()
        ),
        None => eprintln!(
            "all Ready in                           n/a: {ready}/{count} Ready after {} s \
             (pods cannot run here, or the operator does not report Ready; e.g. {not_ready})",
            ready_deadline.as_secs()
        ),
    }
    eprintln!(
        "writes until applied              {writes_to_apply:>8} ({:.1} per service)",
        writes_to_apply / count as f64
    );
    eprintln!("writes in total                   {:>8}", op.writes());
    eprintln!("idle minute: reconciles           {idle_reconciled:>8}");
    eprintln!("idle minute: writes               {idle_written:>8}");
    eprintln!("reconcile errors                  {:?}", op.error_lines());
    eprintln!("writes by kind                    {:?}", op.write_lines());
    assert_eq!(
        idle_written,
        0.0,
        "writes in an idle minute: {:?}",
        op.write_lines()
    );
    op.stop().await;
}

/// `audit` against a real API server: a few workloads in the test namespace, audited through
/// paged lists of that namespace only (two objects per page): every workload, none of the
/// ReplicaSets its Deployments create, and the rules each must raise (a clean Deployment with a
/// disruption budget raises none).
#[tokio::test]
#[ignore = "needs a cluster: set KUBECONFIG"]
async fn cluster_audit_of_a_namespace() {
    use k8s_openapi::api::apps::v1::StatefulSet;
    use k8s_openapi::api::core::v1::Pod;
    use stateless_operator::audit::live;

    let env = Env::setup("cluster_audit_of_a_namespace").await;
    let ns = env.ns.clone();
    let pp = PostParams {
        field_manager: Some(USER.to_string()),
        ..PostParams::default()
    };
    let pod = |name: &str, mounts: Value| {
        json!({
            "metadata": {"labels": {"app": name}},
            "spec": {
                "automountServiceAccountToken": false,
                "securityContext": {"runAsNonRoot": true, "runAsUser": PAUSE_UID, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "app", "image": PAUSE_IMAGE,
                    "securityContext": {"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
                    "volumeMounts": mounts,
                }],
            },
        })
    };
    let mut shared_template = pod(
        "shared-claim",
        json!([{"name": "data", "mountPath": "/data"}]),
    );
    shared_template["spec"]["volumes"] =
        json!([{"name": "data", "persistentVolumeClaim": {"claimName": "shared"}}]);
    let objects = [
        (
            ar::<PersistentVolumeClaim>(),
            json!({
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "shared", "namespace": ns},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            }),
        ),
        (
            ar::<Deployment>(),
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "shared-claim", "namespace": ns},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "shared-claim"}},
                    "template": shared_template,
                },
            }),
        ),
        (
            ar::<Deployment>(),
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "clean", "namespace": ns},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "clean"}}, "template": pod("clean", json!([]))},
            }),
        ),
        (
            ar::<PodDisruptionBudget>(),
            json!({
                "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                "metadata": {"name": "clean", "namespace": ns},
                "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "clean"}}},
            }),
        ),
        (
            ar::<StatefulSet>(),
            json!({
                "apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": "db", "namespace": ns},
                "spec": {
                    "serviceName": "db", "replicas": 1,
                    "selector": {"matchLabels": {"app": "db"}},
                    "template": pod("db", json!([{"name": "state", "mountPath": "/state"}])),
                    "volumeClaimTemplates": [{"metadata": {"name": "state"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}],
                },
            }),
        ),
        (
            ar::<Pod>(),
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "debug", "namespace": ns},
                "spec": {"containers": [{"name": "sh", "image": PAUSE_IMAGE}]},
            }),
        ),
    ];
    for (resource, object) in objects {
        let object: DynamicObject = serde_json::from_value(object).expect("object");
        env.api(&resource)
            .create(&pp, &object)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "create {}: {e}",
                    object.metadata.name.as_deref().unwrap_or("")
                )
            });
    }
    // Wait for the Deployment controller's ReplicaSets: they are listed too, and must not be
    // audited on their own (their controller is).
    let replica_sets: kube::Api<k8s_openapi::api::apps::v1::ReplicaSet> =
        kube::Api::namespaced(env.client.clone(), &ns);
    env.eventually("both Deployments have a ReplicaSet", 60, async || {
        replica_sets
            .list(&Default::default())
            .await
            .is_ok_and(|l| l.items.len() >= 2)
    })
    .await;
    let scope = live::Scope {
        namespace: Some(ns.clone()),
        selector: None,
        page_size: 2,
    };
    let report = live::audit_cluster(&env.client, &scope)
        .await
        .expect("audit of the test namespace");
    let by_name: std::collections::BTreeMap<String, Vec<&str>> = report
        .workloads
        .iter()
        .map(|w| {
            assert_eq!(w.namespace, ns);
            (
                format!("{}/{}", w.kind.as_str(), w.name),
                w.findings.iter().map(|f| f.rule.id).collect(),
            )
        })
        .collect();
    eprintln!(
        "{}",
        stateless_operator::audit::output::table(&report, None)
    );
    assert_eq!(
        by_name.keys().cloned().collect::<Vec<_>>(),
        vec![
            "Deployment/clean",
            "Deployment/shared-claim",
            "Pod/debug",
            "StatefulSet/db"
        ],
        "the workloads of the namespace, not their ReplicaSets and pods"
    );
    assert!(
        by_name["Deployment/clean"].is_empty(),
        "{:?}",
        by_name["Deployment/clean"]
    );
    assert!(by_name["Deployment/shared-claim"].contains(&"single-writer-claim-replicas"));
    assert!(by_name["StatefulSet/db"].contains(&"per-pod-claims"));
    for rule in [
        "bare-pod",
        "writable-root-filesystem",
        "service-account-token",
    ] {
        assert!(
            by_name["Pod/debug"].contains(&rule),
            "{rule}: {:?}",
            by_name["Pod/debug"]
        );
    }
}

#[path = "cluster/expose.rs"]
mod expose;
#[path = "cluster/identity.rs"]
mod identity;
