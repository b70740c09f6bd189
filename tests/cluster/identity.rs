//! Identity, network isolation, extra containers and references to objects other tools own,
//! against a real API server (the real-server versions of `tests/identity.rs`): the server's
//! defaults for ServiceAccounts and NetworkPolicies must not look like drift, foreign metadata
//! must cost no write, native sidecars must be admitted, and referenced objects are never
//! written (their managedFields name no stateless-operator).

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::{MANAGER, pause};
use crate::support::cluster::*;

fn managers(o: &Value) -> Vec<String> {
    o["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["manager"].as_str().map(str::to_string))
        .collect()
}

async fn merge<K>(env: &Env, name: &str, manager: &str, patch: Value)
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(env.client.clone(), &env.ns);
    let params = PatchParams {
        field_manager: Some(manager.to_string()),
        ..PatchParams::default()
    };
    api.patch(name, &params, &Patch::Merge(&patch))
        .await
        .unwrap_or_else(|e| panic!("patch {name} as {manager}: {e}"));
}

/// ServiceAccount and NetworkPolicy: created as the server defaults them, foreign metadata kept
/// at zero writes, drift reverted, deleted when unwanted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster: set KUBECONFIG"]
async fn cluster_identity_and_isolation_children() {
    let env = Env::setup("identity").await;
    let op = env.start("identity");
    let mut spec = pause(1);
    spec["ports"] = json!([{"name": "http", "containerPort": 8080}]);
    spec["serviceAccount"] = json!({"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/web"},
        "automountToken": true, "audience": "vault", "expirationSeconds": 900});
    spec["network"] = json!({"isolation": "Ingress", "allowFrom": [{"podSelector": {"matchLabels": {"app": "front"}}}],
        "egress": [{"ports": [{"port": 443}]}]});
    env.create("web", spec).await;
    env.wait_ready("web", 180).await;
    let sa = env
        .get::<ServiceAccount>("web")
        .await
        .expect("ServiceAccount");
    assert_eq!(sa["automountServiceAccountToken"], false);
    let np = env
        .get::<NetworkPolicy>("web")
        .await
        .expect("NetworkPolicy");
    assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    let d = env.get::<Deployment>("web").await.expect("Deployment");
    assert_eq!(d["spec"]["template"]["spec"]["serviceAccountName"], "web");

    // Cloud tooling annotates the account; the server's defaults are in place: no write.
    merge::<ServiceAccount>(&env, "web", "cloud-tool", json!({"metadata": {"annotations": {"cloud.example/bound": "yes"}, "labels": {"team": "pay"}}})).await;
    env.settle(&[&op], Duration::from_secs(10), Duration::from_secs(120))
        .await;
    let before = op.writes();
    env.settle(&[&op], Duration::from_secs(15), Duration::from_secs(120))
        .await;
    assert_eq!(
        op.writes(),
        before,
        "steady state wrote: {:?}",
        op.write_lines()
    );
    let sa = env.get::<ServiceAccount>("web").await.unwrap();
    assert_eq!(sa["metadata"]["annotations"]["cloud.example/bound"], "yes");

    // Drift reverted.
    merge::<NetworkPolicy>(
        &env,
        "web",
        "kubectl-edit",
        json!({"spec": {"ingress": [{}]}}),
    )
    .await;
    env.eventually("policy drift reverted", 60, async || {
        env.get::<NetworkPolicy>("web")
            .await
            .is_some_and(|np| np["spec"]["ingress"][0]["ports"][0]["port"] == 8080)
    })
    .await;

    // Removed from the spec: deleted.
    env.patch(
        "web",
        json!({"spec": {"serviceAccount": null, "network": null}}),
    )
    .await;
    env.eventually("account and policy deleted", 60, async || {
        env.absent::<ServiceAccount>("web").await && env.absent::<NetworkPolicy>("web").await
    })
    .await;
    env.wait_ready("web", 180).await;
    op.stop().await;
}

/// A native sidecar and an init container under the contract run, and the pod gets Ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster: set KUBECONFIG"]
async fn cluster_sidecars_and_init_containers_run_under_the_contract() {
    let env = Env::setup("sidecars").await;
    let op = env.start("sidecars");
    let mut spec = pause(1);
    spec["sidecars"] = json!([{"name": "helper", "image": PAUSE_IMAGE}]);
    // pause prints its version and exits 0 with -v: an init container that completes.
    spec["initContainers"] =
        json!([{"name": "init", "image": PAUSE_IMAGE, "command": ["/pause", "-v"]}]);
    env.create("web", spec).await;
    env.wait_ready("web", 240).await;
    let d = env.get::<Deployment>("web").await.unwrap();
    let init = &d["spec"]["template"]["spec"]["initContainers"];
    assert_eq!(init[0]["restartPolicy"], "Always");
    assert_eq!(init[0]["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        init[1]["securityContext"]["capabilities"]["drop"],
        json!(["ALL"])
    );
    env.settle(&[&op], Duration::from_secs(10), Duration::from_secs(120))
        .await;
    let before = op.writes();
    env.settle(&[&op], Duration::from_secs(15), Duration::from_secs(120))
        .await;
    assert_eq!(
        op.writes(),
        before,
        "declared sidecars are no violation: {:?}",
        op.write_lines()
    );
    op.stop().await;
}

/// A referenced ConfigMap: missing (Ready=False naming it, no Deployment change), appearing
/// (converges), changing (the pods roll), never written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster: set KUBECONFIG"]
async fn cluster_references_missing_appearing_changing() {
    let env = Env::setup("references").await;
    let op = env.start("references");
    env.create("web", pause(1)).await;
    env.wait_ready("web", 180).await;
    let before = env
        .get::<Deployment>("web")
        .await
        .and_then(|d| generation(&d));

    env.patch(
        "web",
        json!({"spec": {"config": {"from": [{"name": "shared", "mountPath": "/etc/shared"}]},
        "secret": {"from": [{"name": "db", "env": true}]}}}),
    )
    .await;
    env.eventually("ReferenceMissing naming the ConfigMap", 60, async || {
        env.svc("web")
            .await
            .and_then(|s| condition(&s, "Ready"))
            .is_some_and(|c| {
                c.reason == "ReferenceMissing"
                    && c.message.contains(&format!(
                        "ConfigMap {}/shared referenced by config.from does not exist",
                        env.ns
                    ))
            })
    })
    .await;
    assert_eq!(
        env.get::<Deployment>("web")
            .await
            .and_then(|d| generation(&d)),
        before,
        "the Deployment is not changed to a template that cannot start"
    );

    let pp = PostParams {
        field_manager: Some("external-secrets".to_string()),
        ..PostParams::default()
    };
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &env.ns);
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "shared"}, "data": {"a": "1"}}))
            .unwrap();
    cms.create(&pp, &cm).await.expect("create ConfigMap");
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &env.ns);
    let s: Secret = serde_json::from_value(
        json!({"metadata": {"name": "db"}, "stringData": {"PASSWORD": "first-value-1"}}),
    )
    .unwrap();
    secrets.create(&pp, &s).await.expect("create Secret");
    let ready = env.wait_ready("web", 180).await;
    let first = ready["status"]["configHash"].clone();

    merge::<ConfigMap>(
        &env,
        "shared",
        "external-secrets",
        json!({"data": {"a": "2"}}),
    )
    .await;
    env.eventually("pods rolled for the new data", 120, async || {
        env.svc("web")
            .await
            .is_some_and(|s| is_ready(&s) && s["status"]["configHash"] != first)
    })
    .await;
    let cm = env.get::<ConfigMap>("shared").await.unwrap();
    let s = env.get::<Secret>("db").await.unwrap();
    assert!(
        !managers(&cm).contains(&MANAGER.to_string()),
        "{:?}",
        managers(&cm)
    );
    assert!(
        !managers(&s).contains(&MANAGER.to_string()),
        "{:?}",
        managers(&s)
    );
    op.stop().await;
}
