//! Identity, network isolation, extra containers and references to objects other tools own,
//! with the real controller against the in-process fake API server: create, drift and removal
//! of the ServiceAccount and the NetworkPolicy, foreign metadata kept at no write, declared
//! sidecars kept and injected ones stripped, and referenced ConfigMaps/Secrets missing,
//! appearing and changing, unrelated ones costing nothing, and none of them ever written.
//! Absence of requests is asserted after a known number of reconciles, never after a sleep.

mod support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde_json::{Value, json};
use support::fake_api::{FakeApi, FaultRule, RequestFilter, ResourceRef};
use support::operator::*;

fn fast_resync() -> stateless_operator::controller::Settings {
    let mut s = settings();
    s.resync = Duration::from_secs(1);
    s
}

/// Waits until the operator has finished `n` more reconciles than now.
async fn more_reconciles(fake: &FakeApi, op: &Operator, n: f64) {
    let before = reconciles(&op.metrics);
    let metrics = op.metrics.clone();
    eventually(fake, &format!("{n} more reconciles"), 30, move |_| {
        reconciles(&metrics) >= before + n
    })
    .await;
}

fn patch_spec(fake: &FakeApi, name: &str, spec: Value) {
    fake.merge_patch(
        &ssvc(),
        Some(NS),
        name,
        "kubectl",
        json!({"spec": spec}),
        false,
    )
    .expect("patch the StatelessService");
}

fn pod(fake: &FakeApi, name: &str) -> Value {
    get::<Deployment>(fake, name).expect("Deployment")["spec"]["template"]["spec"].clone()
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect()
}

fn config_map(fake: &FakeApi, name: &str, data: Value) {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NS}, "data": data});
    fake.create(&ResourceRef::of::<ConfigMap>(), cm)
        .expect("create ConfigMap");
}

fn secret(fake: &FakeApi, name: &str, value: &str) {
    let s = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": NS}, "stringData": {"password": value}});
    fake.create(&ResourceRef::of::<Secret>(), s)
        .expect("create Secret");
}

fn ready_reason(fake: &FakeApi, name: &str) -> Option<(String, String, String)> {
    condition(fake, name, "Ready")
}

#[tokio::test]
async fn service_account_is_created_keeps_foreign_metadata_and_goes_when_unwanted() {
    let fake = cluster();
    let op = start(&fake, fast_resync());
    create(
        &fake,
        "web",
        json!({"image": "x", "replicas": 1, "serviceAccount": {
            "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/web"},
            "labels": {"azure.workload.identity/use": "true"}}}),
    );
    eventually(&fake, "web Ready", 20, |f| is_ready(f, "web")).await;
    let sa = get::<ServiceAccount>(&fake, "web").expect("ServiceAccount");
    assert_eq!(sa["automountServiceAccountToken"], false);
    assert_eq!(
        sa["metadata"]["labels"]["azure.workload.identity/use"],
        "true"
    );
    let p = pod(&fake, "web");
    assert_eq!(p["serviceAccountName"], "web");
    assert_eq!(p["automountServiceAccountToken"], false);
    assert_eq!(
        names(&p["volumes"]),
        ["scratch"],
        "no token unless asked for"
    );

    // Cloud tooling annotates and labels the account: kept, and no write follows.
    fake.merge_patch(
        &ResourceRef::of::<ServiceAccount>(),
        Some(NS),
        "web",
        "cloud-tool",
        json!({"metadata": {"annotations": {"cloud.example/bound": "yes"}, "labels": {"team": "pay"}}}),
        false,
    )
    .unwrap();
    more_reconciles(&fake, &op, 2.0).await;
    fake.reset_requests();
    more_reconciles(&fake, &op, 3.0).await;
    assert_eq!(fake.writes_except_events(), 0, "{:?}", fake.requests());
    let sa = get::<ServiceAccount>(&fake, "web").unwrap();
    assert_eq!(sa["metadata"]["annotations"]["cloud.example/bound"], "yes");
    assert_eq!(sa["metadata"]["labels"]["team"], "pay");

    // Drift in what we own is set back; the foreign annotation stays.
    fake.merge_patch(
        &ResourceRef::of::<ServiceAccount>(),
        Some(NS),
        "web",
        "kubectl-edit",
        json!({"metadata": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::2:role/evil"}}, "automountServiceAccountToken": true}),
        false,
    )
    .unwrap();
    eventually(&fake, "account drift reverted", 20, |f| {
        get::<ServiceAccount>(f, "web").is_some_and(|sa| {
            sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == "arn:aws:iam::1:role/web"
                && sa["automountServiceAccountToken"] == false
                && sa["metadata"]["annotations"]["cloud.example/bound"] == "yes"
        })
    })
    .await;

    // A token, when asked for, is the projected, bound, expiring one.
    patch_spec(
        &fake,
        "web",
        json!({"serviceAccount": {"automountToken": true, "audience": "vault", "expirationSeconds": 900}}),
    );
    eventually(&fake, "token volume", 20, |f| {
        names(&pod(f, "web")["volumes"]).contains(&"token".to_string()) && is_ready(f, "web")
    })
    .await;
    let p = pod(&fake, "web");
    let token = p["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "token")
        .unwrap();
    assert_eq!(
        token["projected"]["sources"][0]["serviceAccountToken"],
        json!({"audience": "vault", "expirationSeconds": 900, "path": "token"})
    );
    assert_eq!(p["automountServiceAccountToken"], false);
    let mount = p["containers"][0]["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "token")
        .unwrap()
        .clone();
    assert_eq!(
        mount["mountPath"],
        "/var/run/secrets/kubernetes.io/serviceaccount"
    );
    assert_eq!(mount["readOnly"], true);

    // Without serviceAccount: the account goes, the pods use the namespace's default again.
    patch_spec(&fake, "web", json!({"serviceAccount": null}));
    eventually(&fake, "account deleted", 20, |f| {
        get::<ServiceAccount>(f, "web").is_none()
            && pod(f, "web").get("serviceAccountName").is_none()
            && is_ready(f, "web")
    })
    .await;
    op.stop().await.unwrap();
}

#[tokio::test]
async fn network_policy_is_created_reverted_and_deleted() {
    let fake = cluster();
    let op = start(&fake, fast_resync());
    create(
        &fake,
        "web",
        json!({"image": "x", "replicas": 1, "ports": [{"name": "http", "containerPort": 8080}],
               "network": {"isolation": "Ingress", "allowFrom": [{"podSelector": {"matchLabels": {"app": "front"}}}]}}),
    );
    eventually(&fake, "web Ready", 20, |f| is_ready(f, "web")).await;
    let np = get::<NetworkPolicy>(&fake, "web").expect("NetworkPolicy");
    assert_eq!(
        np["spec"]["podSelector"],
        json!({"matchLabels": {"stateless.dev/service": "web"}})
    );
    assert_eq!(np["spec"]["policyTypes"], json!(["Ingress"]));
    assert_eq!(
        np["spec"]["ingress"],
        json!([{"from": [{"podSelector": {"matchLabels": {"app": "front"}}}], "ports": [{"port": 8080, "protocol": "TCP"}]}])
    );

    // Steady state: nothing written.
    more_reconciles(&fake, &op, 2.0).await;
    fake.reset_requests();
    more_reconciles(&fake, &op, 3.0).await;
    assert_eq!(fake.writes_except_events(), 0, "{:?}", fake.requests());

    // Someone opens the policy to every port: set back.
    fake.merge_patch(
        &ResourceRef::of::<NetworkPolicy>(),
        Some(NS),
        "web",
        "kubectl-edit",
        json!({"spec": {"ingress": [{}]}}),
        false,
    )
    .unwrap();
    eventually(&fake, "policy drift reverted", 20, |f| {
        get::<NetworkPolicy>(f, "web")
            .is_some_and(|np| np["spec"]["ingress"][0]["ports"][0]["port"] == 8080)
    })
    .await;

    // Egress restricted: its type and DNS appear.
    patch_spec(
        &fake,
        "web",
        json!({"network": {"egress": [{"ports": [{"port": 5432}]}]}}),
    );
    eventually(&fake, "egress rules", 20, |f| {
        get::<NetworkPolicy>(f, "web").is_some_and(|np| {
            np["spec"]["policyTypes"] == json!(["Ingress", "Egress"])
                && np["spec"]["egress"][1]["ports"][0]["port"] == 53
        })
    })
    .await;

    // Back to None: deleted.
    patch_spec(&fake, "web", json!({"network": null}));
    eventually(&fake, "policy deleted", 20, |f| {
        get::<NetworkPolicy>(f, "web").is_none()
    })
    .await;
    op.stop().await.unwrap();
}

#[tokio::test]
async fn declared_sidecars_stay_and_injected_containers_are_removed() {
    let fake = cluster();
    let op = start(&fake, fast_resync());
    create(
        &fake,
        "web",
        json!({"image": "x", "replicas": 1,
               "sidecars": [{"name": "proxy", "image": "proxy:1", "ports": [{"name": "admin", "containerPort": 9901}]}],
               "initContainers": [{"name": "migrate", "image": "migrate:1"}]}),
    );
    eventually(&fake, "web Ready", 20, |f| is_ready(f, "web")).await;
    let p = pod(&fake, "web");
    assert_eq!(names(&p["initContainers"]), ["proxy", "migrate"]);
    assert_eq!(p["initContainers"][0]["restartPolicy"], "Always");
    for c in p["initContainers"].as_array().unwrap() {
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
        assert_eq!(c["volumeMounts"][0]["mountPath"], "/tmp");
    }
    // Declared containers are no violation: a converged service writes nothing.
    more_reconciles(&fake, &op, 2.0).await;
    fake.reset_requests();
    more_reconciles(&fake, &op, 3.0).await;
    assert_eq!(fake.writes_except_events(), 0, "{:?}", fake.requests());

    // A mesh-like manager injects a native sidecar, a volume and a mount into our sidecar.
    let mut spec = pod(&fake, "web");
    spec["initContainers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "istio-proxy", "image": "istio:1", "restartPolicy": "Always"}));
    spec["initContainers"][0]["volumeMounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "istio-data", "mountPath": "/var/lib/istio"}));
    spec["volumes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "istio-data", "emptyDir": {}}));
    fake.merge_patch(
        &ResourceRef::of::<Deployment>(),
        Some(NS),
        "web",
        "mesh-injector",
        json!({"spec": {"template": {"spec": spec}}}),
        false,
    )
    .unwrap();
    eventually(
        &fake,
        "injected container, volume and mount removed",
        20,
        |f| {
            let p = pod(f, "web");
            names(&p["initContainers"]) == ["proxy", "migrate"]
                && names(&p["volumes"]) == ["scratch"]
                && p["initContainers"][0]["volumeMounts"]
                    .as_array()
                    .map(Vec::len)
                    == Some(1)
        },
    )
    .await;
    op.stop().await.unwrap();
}

#[tokio::test]
async fn a_missing_reference_holds_the_deployment_and_converges_once_it_exists() {
    let fake = cluster();
    let op = start(&fake, fast_resync());
    create(&fake, "web", json!({"image": "x", "replicas": 1}));
    eventually(&fake, "web Ready", 20, |f| is_ready(f, "web")).await;
    let before = get::<Deployment>(&fake, "web").unwrap();

    patch_spec(
        &fake,
        "web",
        json!({"config": {"from": [{"name": "shared", "mountPath": "/etc/shared"}]},
               "secret": {"from": [{"name": "db", "env": true}]}}),
    );
    eventually(&fake, "Ready=False naming both objects", 20, |f| {
        ready_reason(f, "web").is_some_and(|(s, reason, message)| {
            s == "False"
                && reason == "ReferenceMissing"
                && message
                    .contains("ConfigMap apps/shared referenced by config.from does not exist")
                && message.contains("Secret apps/db referenced by secret.from does not exist")
        })
    })
    .await;
    // The status is written after the pass's writes: the Deployment is as the pass left it.
    let held = get::<Deployment>(&fake, "web").unwrap();
    assert_eq!(
        held["metadata"]["generation"], before["metadata"]["generation"],
        "the Deployment is not changed to a template that cannot start"
    );
    assert_eq!(
        config_hash(&fake, "web").as_deref(),
        before
            .pointer("/spec/template/metadata/annotations/stateless.dev~1config-hash")
            .and_then(Value::as_str)
    );

    // One appears: still missing the other.
    config_map(&fake, "shared", json!({"a": "1"}));

    eventually(&fake, "only the Secret missing", 20, |f| {
        ready_reason(f, "web")
            .is_some_and(|(_, r, m)| r == "ReferenceMissing" && !m.contains("ConfigMap"))
    })
    .await;
    secret(&fake, "db", "hunter2-hunter2");
    eventually(&fake, "converged by itself", 20, |f| is_ready(f, "web")).await;
    let p = pod(&fake, "web");
    assert!(names(&p["volumes"]).contains(&"config-from-0".to_string()));
    assert_eq!(
        p["containers"][0]["envFrom"],
        json!([{"secretRef": {"name": "db", "optional": false}}])
    );
    let svc = fake.get(&ssvc(), Some(NS), "web").unwrap();
    assert_eq!(
        svc["status"]["configHash"].as_str(),
        config_hash(&fake, "web").as_deref()
    );
    assert_eq!(
        fake.count(&RequestFilter::writes().name("shared"))
            + fake.count(&RequestFilter::writes().name("db")),
        0,
        "a referenced object is never written"
    );
    op.stop().await.unwrap();
}

#[tokio::test]
async fn referenced_data_rolls_the_pods_and_unrelated_objects_cost_nothing() {
    let fake = cluster();
    config_map(&fake, "shared", json!({"a": "1"}));
    secret(&fake, "db", "first-password-1");
    let op = start(&fake, fast_resync());
    create(
        &fake,
        "web",
        json!({"image": "x", "replicas": 1,
               "config": {"from": [{"name": "shared", "mountPath": "/etc/shared"}]},
               "secret": {"from": [{"name": "db", "mountPath": "/var/run/db"}]}}),
    );
    eventually(&fake, "web Ready", 20, |f| is_ready(f, "web")).await;
    let first = config_hash(&fake, "web").expect("hash");

    // Converged: re-syncs neither write nor read.
    more_reconciles(&fake, &op, 2.0).await;
    fake.reset_requests();
    more_reconciles(&fake, &op, 3.0).await;
    assert_eq!(fake.writes_except_events(), 0, "{:?}", fake.requests());
    assert_eq!(fake.count(&RequestFilter::default().verb("get")), 0);

    // Unrelated objects come and change: then the referenced ConfigMap changes, as a marker
    // (the watch delivers events in order, so once its effect shows the others were seen).
    for i in 0..20 {
        config_map(&fake, &format!("unrelated-{i}"), json!({"x": "1"}));
        secret(&fake, &format!("unrelated-{i}"), "some-other-value");
        fake.merge_patch(
            &ResourceRef::of::<Secret>(),
            Some(NS),
            &format!("unrelated-{i}"),
            "someone",
            json!({"stringData": {"password": "changed-value"}}),
            false,
        )
        .unwrap();
    }
    fake.merge_patch(
        &ResourceRef::of::<ConfigMap>(),
        Some(NS),
        "shared",
        "external-secrets",
        json!({"data": {"a": "2"}}),
        false,
    )
    .unwrap();
    eventually(&fake, "pods rolled for the new data", 20, |f| {
        config_hash(f, "web").is_some_and(|h| h != first) && is_ready(f, "web")
    })
    .await;
    let gets: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.verb == "get" && !r.resource.is_empty())
        .map(|r| (r.resource, r.name))
        .collect();
    assert_eq!(
        gets,
        [("configmaps".to_string(), Some("shared".to_string()))],
        "one GET, of the changed referenced object; none for unrelated objects"
    );

    // A label on the referenced Secret changes its resourceVersion, not its data: one read, no
    // roll.
    let second = config_hash(&fake, "web").unwrap();
    fake.merge_patch(
        &ResourceRef::of::<Secret>(),
        Some(NS),
        "db",
        "someone",
        json!({"metadata": {"labels": {"touched": "yes"}}}),
        false,
    )
    .unwrap();
    eventually(&fake, "the Secret re-read", 20, |f| {
        f.count(
            &RequestFilter::default()
                .verb("get")
                .resource("secrets")
                .name("db"),
        ) == 1
    })
    .await;
    more_reconciles(&fake, &op, 2.0).await;
    assert_eq!(config_hash(&fake, "web").as_deref(), Some(second.as_str()));
    // Its data changes: the pods roll again.
    fake.merge_patch(
        &ResourceRef::of::<Secret>(),
        Some(NS),
        "db",
        "someone",
        json!({"stringData": {"password": "second-password-2"}}),
        false,
    )
    .unwrap();
    eventually(&fake, "pods rolled for the new secret", 20, |f| {
        config_hash(f, "web").is_some_and(|h| h != second) && is_ready(f, "web")
    })
    .await;
    // The only unfiltered lists and watches of ConfigMaps and Secrets are metadata-only: the
    // operator never receives the data of objects nobody references.
    let selector = stateless_operator::controller::managed_selector();
    let unfiltered: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| matches!(r.verb.as_str(), "list" | "watch"))
        .filter(|r| matches!(r.resource.as_str(), "configmaps" | "secrets"))
        .filter(|r| {
            !r.query
                .contains(&selector.replace('/', "%2F").replace('=', "%3D"))
        })
        .collect();
    assert!(unfiltered.iter().all(|r| r.metadata_only), "{unfiltered:?}");
    more_reconciles(&fake, &op, 2.0).await;
    op.stop().await.unwrap();

    // A restarted operator reads each referenced object once and computes the same hash: it
    // rolls no pod and writes nothing.
    let third = config_hash(&fake, "web").unwrap();
    fake.reset_requests();
    let op = start(&fake, fast_resync());
    more_reconciles(&fake, &op, 3.0).await;
    assert_eq!(fake.writes_except_events(), 0, "{:?}", fake.requests());
    assert_eq!(config_hash(&fake, "web").as_deref(), Some(third.as_str()));
    let reads = |name: &str| fake.count(&RequestFilter::default().verb("get").name(name));
    assert_eq!((reads("shared"), reads("db")), (1, 1));
    assert_eq!(
        fake.count(&RequestFilter::writes().name("shared"))
            + fake.count(&RequestFilter::writes().name("db")),
        0,
        "a referenced object is never written"
    );
    op.stop().await.unwrap();
}

#[tokio::test]
async fn readiness_waits_for_the_watches_of_referenced_objects() {
    let fake = cluster();
    fake.inject(
        FaultRule::hold_response(Duration::from_secs(2))
            .verb("list")
            .resource("secrets")
            .metadata_only(),
    );
    let op = start(&fake, settings());
    eventually(&fake, "the metadata-only list of Secrets", 10, |f| {
        f.requests()
            .iter()
            .any(|r| r.verb == "list" && r.resource == "secrets" && r.metadata_only)
    })
    .await;
    assert_eq!(
        http_status(&op, "/readyz").await,
        503,
        "the watch of referenced Secrets is still listing"
    );
    readyz_becomes(&op, 200, 30).await;
    op.stop().await.expect("clean stop");
}

/// The defaults `pkg/apis/networking/v1/defaults.go` applies, which the tests above rely on
/// not to look like drift: `policyTypes` from the rules when omitted, `protocol: TCP`.
#[test]
fn the_fake_defaults_network_policies_as_the_api_server_does() {
    let fake = cluster();
    let np = |name: &str, spec: Value| {
        fake.create(
            &ResourceRef::of::<NetworkPolicy>(),
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                   "metadata": {"name": name, "namespace": NS}, "spec": spec}),
        )
        .expect("create NetworkPolicy")
    };
    let ingress = np(
        "a",
        json!({"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]}),
    );
    assert_eq!(ingress["spec"]["policyTypes"], json!(["Ingress"]));
    assert_eq!(ingress["spec"]["ingress"][0]["ports"][0]["protocol"], "TCP");
    let egress = np(
        "b",
        json!({"podSelector": {}, "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]}),
    );
    assert_eq!(egress["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(egress["spec"]["egress"][0]["ports"][0]["protocol"], "UDP");
    let explicit = np("c", json!({"podSelector": {}, "policyTypes": ["Egress"]}));
    assert_eq!(
        explicit["spec"]["policyTypes"],
        json!(["Egress"]),
        "kept when given"
    );
}
