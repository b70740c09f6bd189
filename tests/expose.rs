//! Exposing and scaling, end to end against the in-process fake API server: the Service
//! (created with an allocated clusterIP, drift reverted, removed with the ports, never taken
//! over), the autoscaling hand-over without a replica dip in any stored Deployment version and
//! back, the scale subresource of a StatelessService, and the route as an Ingress or a Gateway
//! API HTTPRoute, with and without the Gateway API served. Every wait polls with a deadline;
//! absence of writes is asserted after a known number of reconciles.

mod support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use stateless_operator::children::autoscaler::HANDOVER_MANAGER;
use stateless_operator::children::http_route::HttpRoute;
use stateless_operator::crd::StatelessService;
use support::fake_api::{FakeApi, RequestFilter, ResourceRef};
use support::operator::*;

fn writes_to_children(fake: &FakeApi) -> usize {
    fake.count(&RequestFilter::writes().exclude_resource("events"))
}

async fn reconciled(fake: &FakeApi, op: &Operator, n: f64) {
    let before = reconciles(&op.metrics);
    let metrics = op.metrics.clone();
    eventually(fake, &format!("{n} more reconciles"), 30, move |_| {
        reconciles(&metrics) >= before + n
    })
    .await;
}

fn quick_resync() -> stateless_operator::controller::Settings {
    let mut s = settings();
    s.resync = Duration::from_secs(1);
    s
}

fn web(ports: Value) -> Value {
    json!({"image": "registry.example/web:1", "replicas": 2, "ports": ports})
}

fn http() -> Value {
    json!([{"name": "http", "containerPort": 8080, "servicePort": 80}])
}

fn spec_of(fake: &FakeApi, name: &str) -> Value {
    fake.get(&ssvc(), Some(NS), name).expect("service")["spec"].clone()
}

fn patch_spec(fake: &FakeApi, name: &str, patch: Value) {
    fake.merge_patch(
        &ssvc(),
        Some(NS),
        name,
        "kubectl",
        json!({ "spec": patch }),
        false,
    )
    .expect("patch the StatelessService");
}

fn managers_of_replicas(deployment: &Value) -> Vec<String> {
    deployment["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m.pointer("/fieldsV1/f:spec/f:replicas").is_some())
        .map(|m| m["manager"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn service_gets_a_cluster_ip_and_costs_no_writes_at_steady_state() {
    let fake = cluster();
    let op = start(&fake, quick_resync());
    create(&fake, "web", web(http()));
    eventually(&fake, "web Ready", 20, |f| is_ready(f, "web")).await;

    let svc = get::<Service>(&fake, "web").expect("Service web");
    assert!(
        svc["spec"]["clusterIP"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("10.96."))
    );
    assert_eq!(svc["spec"]["sessionAffinity"], "None");
    assert_eq!(svc["spec"]["ipFamilyPolicy"], "SingleStack");
    assert_eq!(
        svc["spec"]["selector"],
        json!({"stateless.dev/service": "web"})
    );
    assert_eq!(
        svc["spec"]["ports"],
        json!([{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}])
    );
    assert_eq!(
        svc["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "stateless-operator"
    );
    assert!(svc["metadata"]["ownerReferences"][0]["controller"] == true);

    fake.reset_requests();
    reconciled(&fake, &op, 3.0).await;
    assert_eq!(
        writes_to_children(&fake),
        0,
        "server-set Service fields are not drift: {:?}",
        fake.requests()
            .iter()
            .filter(|r| r.is_write())
            .collect::<Vec<_>>()
    );
    op.stop().await.expect("clean stop");
}

#[tokio::test]
async fn node_ports_allocated_by_the_server_are_not_drift() {
    let fake = cluster();
    let op = start(&fake, quick_resync());
    let mut spec = web(http());
    spec["service"] =
        json!({"type": "LoadBalancer", "annotations": {"lb.example/scheme": "internal"}});
    create(&fake, "web", spec);
    eventually(&fake, "web Ready", 20, |f| is_ready(f, "web")).await;
    let svc = get::<Service>(&fake, "web").expect("Service web");
    assert!(
        svc["spec"]["ports"][0]["nodePort"]
            .as_i64()
            .is_some_and(|p| (30000..32768).contains(&p))
    );
    assert_eq!(svc["spec"]["externalTrafficPolicy"], "Cluster");
    assert_eq!(svc["spec"]["allocateLoadBalancerNodePorts"], true);
    assert_eq!(
        svc["metadata"]["annotations"]["lb.example/scheme"],
        "internal"
    );

    fake.reset_requests();
    reconciled(&fake, &op, 3.0).await;
    assert_eq!(writes_to_children(&fake), 0);
    op.stop().await.expect("clean stop");
}

#[tokio::test]
async fn service_drift_is_reverted_other_annotations_kept_and_it_goes_with_the_ports() {
    let fake = cluster();
    let op = start(&fake, settings());
    create(&fake, "web", web(http()));
    eventually(&fake, "web Ready", 20, |f| is_ready(f, "web")).await;
    let services = ResourceRef::of::<Service>();
    let ip = get::<Service>(&fake, "web").unwrap()["spec"]["clusterIP"].clone();

    fake.merge_patch(
        &services,
        Some(NS),
        "web",
        "intruder",
        json!({"metadata": {"annotations": {"other.example/tool": "kept"}},
               "spec": {"selector": {"stateless.dev/service": "other"}}}),
        false,
    )
    .expect("drift");
    eventually(&fake, "the selector set back", 20, |f| {
        get::<Service>(f, "web")
            .is_some_and(|s| s["spec"]["selector"]["stateless.dev/service"] == "web")
    })
    .await;
    let svc = get::<Service>(&fake, "web").unwrap();
    assert_eq!(svc["metadata"]["annotations"]["other.example/tool"], "kept");
    assert_eq!(svc["spec"]["clusterIP"], ip, "the allocated IP stays");

    patch_spec(&fake, "web", json!({"ports": null}));
    eventually(&fake, "the Service deleted", 20, |f| {
        get::<Service>(f, "web").is_none()
    })
    .await;
    eventually(&fake, "web Ready without ports", 20, |f| is_ready(f, "web")).await;
    op.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_foreign_service_is_a_name_conflict_and_never_written() {
    let fake = cluster();
    let services = ResourceRef::of::<Service>();
    fake.create(
        &services,
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "web", "namespace": NS},
               "spec": {"selector": {"app": "legacy"}, "ports": [{"port": 80}]}}),
    )
    .expect("foreign Service");
    let op = start(&fake, settings());
    create(&fake, "web", web(http()));
    eventually(&fake, "Stalled NameConflict", 20, |f| {
        condition(f, "web", "Stalled")
            .is_some_and(|c| c.0 == "True" && c.1 == "NameConflict" && c.2.contains("Service web"))
    })
    .await;
    let writes = fake.count(&RequestFilter::writes().resource("services"));
    assert_eq!(writes, 0, "the foreign Service is never written");
    let svc = get::<Service>(&fake, "web").unwrap();
    assert_eq!(svc["spec"]["selector"], json!({"app": "legacy"}));
    op.stop().await.expect("clean stop");
}

#[tokio::test]
async fn autoscaling_on_keeps_every_pod_and_hands_replicas_over_then_off_returns_to_spec() {
    let fake = cluster();
    fake.simulate_autoscalers(true);
    let op = start(&fake, quick_resync());
    create(
        &fake,
        "web",
        json!({"image": "registry.example/web:1", "replicas": 3, "ports": http(),
               "resources": {"requests": {"cpu": "100m"}}}),
    );
    eventually(&fake, "web Ready at 3", 20, |f| is_ready(f, "web")).await;
    let deployments = ResourceRef::of::<Deployment>();
    let stored_before = fake.versions(&deployments, Some(NS), "web").len();

    patch_spec(
        &fake,
        "web",
        json!({"autoscaling": {"minReplicas": 2, "maxReplicas": 6, "cpuUtilization": 50}}),
    );
    eventually(&fake, "the autoscaler created and web Ready", 20, |f| {
        get::<HorizontalPodAutoscaler>(f, "web").is_some() && is_ready(f, "web")
    })
    .await;
    let versions = fake.versions(&deployments, Some(NS), "web");
    assert!(
        versions.len() > stored_before,
        "the Deployment was applied again"
    );
    for v in &versions {
        assert_eq!(
            v["spec"]["replicas"], 3,
            "no stored version dips: {}",
            v["metadata"]["resourceVersion"]
        );
    }
    let deployment = get::<Deployment>(&fake, "web").unwrap();
    assert_eq!(
        managers_of_replicas(&deployment),
        [HANDOVER_MANAGER],
        "the operator let go of replicas; the hand-over manager keeps them"
    );
    let hpa = get::<HorizontalPodAutoscaler>(&fake, "web").unwrap();
    assert_eq!(
        hpa["spec"]["scaleTargetRef"],
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"})
    );
    // The PodDisruptionBudget follows minReplicas (2): still wanted.
    assert!(get::<PodDisruptionBudget>(&fake, "web").is_some());

    // The autoscaler scales; the operator never resets it, and reports its choice.
    fake.autoscale(NS, "web", 5);
    eventually(&fake, "status desiredReplicas 5", 20, |f| {
        let s = f.get(&ssvc(), Some(NS), "web").unwrap();
        s["status"]["desiredReplicas"] == 5 && s["status"]["replicas"] == 5 && is_ready(f, "web")
    })
    .await;
    let deployment = get::<Deployment>(&fake, "web").unwrap();
    assert_eq!(deployment["spec"]["replicas"], 5);
    assert_eq!(
        managers_of_replicas(&deployment),
        ["kube-controller-manager"]
    );
    let handovers = fake
        .requests()
        .iter()
        .filter(|r| r.field_manager.as_deref() == Some(HANDOVER_MANAGER))
        .count();
    assert_eq!(handovers, 1, "one hand-over for the switch");
    fake.reset_requests();
    reconciled(&fake, &op, 3.0).await;
    assert_eq!(
        writes_to_children(&fake),
        0,
        "zero writes at steady state under autoscaling"
    );

    // Off: the autoscaler goes first, then spec.replicas (3) is applied again.
    fake.reset_requests();
    patch_spec(&fake, "web", json!({"autoscaling": null}));
    eventually(&fake, "back to 3 replicas", 20, |f| {
        get::<HorizontalPodAutoscaler>(f, "web").is_none()
            && get::<Deployment>(f, "web").is_some_and(|d| d["spec"]["replicas"] == 3)
            && is_ready(f, "web")
    })
    .await;
    let writes: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| {
            r.is_write()
                && matches!(
                    r.resource.as_str(),
                    "deployments" | "horizontalpodautoscalers"
                )
        })
        .map(|r| format!("{} {}", r.verb, r.resource))
        .collect();
    assert_eq!(
        writes.first().map(String::as_str),
        Some("delete horizontalpodautoscalers"),
        "{writes:?}"
    );
    let deployment = get::<Deployment>(&fake, "web").unwrap();
    assert!(managers_of_replicas(&deployment).contains(&"stateless-operator".to_string()));
    assert_eq!(
        fake.get(&ssvc(), Some(NS), "web").unwrap()["status"]["desiredReplicas"],
        3
    );
    op.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_new_autoscaled_service_starts_at_min_replicas() {
    let fake = cluster();
    let op = start(&fake, settings());
    create(
        &fake,
        "web",
        json!({"image": "registry.example/web:1", "ports": http(),
               "resources": {"requests": {"memory": "64Mi"}},
               "autoscaling": {"minReplicas": 2, "maxReplicas": 4, "memoryUtilization": 70}}),
    );
    eventually(&fake, "web Ready", 20, |f| is_ready(f, "web")).await;
    let deployment = get::<Deployment>(&fake, "web").unwrap();
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(managers_of_replicas(&deployment), [HANDOVER_MANAGER]);
    let status = &fake.get(&ssvc(), Some(NS), "web").unwrap()["status"];
    assert_eq!(status["desiredReplicas"], 2);
    assert_eq!(status["labelSelector"], "stateless.dev/service=web");
    op.stop().await.expect("clean stop");
}

#[tokio::test]
async fn the_scale_subresource_changes_spec_replicas_and_the_deployment_follows() {
    let fake = cluster();
    let op = start(&fake, settings());
    create(
        &fake,
        "web",
        json!({"image": "registry.example/web:1", "replicas": 1}),
    );
    eventually(&fake, "web Ready", 20, |f| is_ready(f, "web")).await;
    let scale = fake.get_scale(&ssvc(), Some(NS), "web").expect("scale");
    assert_eq!(scale["spec"]["replicas"], 1);
    assert_eq!(scale["status"]["selector"], "stateless.dev/service=web");

    // What `kubectl scale ssvc/web --replicas=3` sends: a merge patch of /scale.
    let api: Api<StatelessService> = Api::namespaced(fake.client(), NS);
    let scaled = api
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .expect("patch /scale");
    assert_eq!(scaled.spec.and_then(|s| s.replicas), Some(3));
    assert_eq!(spec_of(&fake, "web")["replicas"], 3);
    eventually(&fake, "the Deployment at 3 and Ready", 20, |f| {
        get::<Deployment>(f, "web").is_some_and(|d| d["spec"]["replicas"] == 3)
            && is_ready(f, "web")
    })
    .await;
    assert!(
        get::<PodDisruptionBudget>(&fake, "web").is_some(),
        "3 replicas: a budget"
    );
    let scale = api.get_scale("web").await.expect("get /scale");
    assert_eq!(scale.status.map(|s| s.replicas), Some(3));
    op.stop().await.expect("clean stop");
}

fn routed(route: Value) -> Value {
    let mut spec = web(http());
    spec["route"] = route;
    spec
}

#[tokio::test]
async fn route_as_an_ingress() {
    let fake = cluster();
    let op = start(&fake, quick_resync());
    create(
        &fake,
        "web",
        routed(
            json!({"host": "web.example.com", "path": "/shop", "ingressClassName": "nginx",
                      "tls": {"secretName": "web-tls"}}),
        ),
    );
    eventually(&fake, "web Ready", 20, |f| is_ready(f, "web")).await;
    let ingress = get::<Ingress>(&fake, "web").expect("Ingress web");
    let path = &ingress["spec"]["rules"][0]["http"]["paths"][0];
    assert_eq!(path["pathType"], "Prefix");
    assert_eq!(
        path["backend"]["service"],
        json!({"name": "web", "port": {"name": "http"}})
    );
    assert_eq!(ingress["spec"]["tls"][0]["secretName"], "web-tls");
    fake.reset_requests();
    reconciled(&fake, &op, 3.0).await;
    assert_eq!(writes_to_children(&fake), 0);

    patch_spec(&fake, "web", json!({"route": null}));
    eventually(&fake, "the Ingress deleted", 20, |f| {
        get::<Ingress>(f, "web").is_none()
    })
    .await;
    op.stop().await.expect("clean stop");
}

fn gateway_route() -> Value {
    routed(
        json!({"host": "web.example.com", "gatewayRef": {"name": "public", "namespace": "gateways"}}),
    )
}

#[tokio::test]
async fn route_as_an_http_route_when_the_gateway_api_is_served() {
    let fake = cluster();
    fake.serve_gateway_api();
    let op = start(&fake, quick_resync());
    create(&fake, "web", gateway_route());
    eventually(&fake, "web Ready", 20, |f| is_ready(f, "web")).await;
    let route = get::<HttpRoute>(&fake, "web").expect("HTTPRoute web");
    assert_eq!(route["spec"]["parentRefs"][0]["name"], "public");
    assert_eq!(route["spec"]["rules"][0]["backendRefs"][0]["port"], 80);
    assert_eq!(
        route["spec"]["rules"][0]["matches"][0]["path"],
        json!({"type": "PathPrefix", "value": "/"})
    );
    fake.reset_requests();
    reconciled(&fake, &op, 3.0).await;
    assert_eq!(
        writes_to_children(&fake),
        0,
        "CRD defaults of the route are not drift"
    );
    op.stop().await.expect("clean stop");
}

#[tokio::test]
async fn without_the_gateway_api_the_operator_starts_stalls_the_route_and_recovers() {
    let fake = cluster();
    let op = start(&fake, settings());
    readyz_becomes(&op, 200, 20).await;
    create(&fake, "web", gateway_route());
    eventually(&fake, "Stalled ApiNotServed", 20, |f| {
        condition(f, "web", "Stalled").is_some_and(|c| {
            c.0 == "True"
                && c.1 == "ApiNotServed"
                && c.2 == "gateway.networking.k8s.io/v1 HTTPRoute is not served by this cluster"
        })
    })
    .await;
    assert!(
        get::<Service>(&fake, "web").is_some(),
        "the rest is still applied"
    );
    assert!(get::<Deployment>(&fake, "web").is_some());
    assert_eq!(
        condition(&fake, "web", "Ready").map(|c| c.1),
        Some("ApiNotServed".to_string())
    );

    // The Gateway API CRDs are installed: the route follows, without a restart.
    fake.serve_gateway_api();
    eventually(&fake, "the HTTPRoute created and web Ready", 60, |f| {
        get::<HttpRoute>(f, "web").is_some() && is_ready(f, "web")
    })
    .await;
    op.stop().await.expect("clean stop");
}
