//! Exposing and scaling against a real API server (the scenarios of `tests/expose.rs`): the
//! Service's allocated clusterIP and node ports cause no writes over an idle window, the scale
//! subresource (what `kubectl scale` sends) changes `spec.replicas` and the Deployment follows,
//! the HorizontalPodAutoscaler is accepted with the right target and the replicas are handed
//! over without any Deployment version below the running count, and back; the route as an
//! Ingress is accepted; the route as an HTTPRoute works whether or not the Gateway API CRDs are
//! installed (Stalled with reason ApiNotServed when they are not).
//!
//! Same conventions as `tests/cluster.rs`: each test has its own namespace (deleted also on
//! failure), its own operator, condition waits with deadlines, and is ignored by default.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, WatchEvent, WatchParams};
use stateless_operator::children::autoscaler::HANDOVER_MANAGER;
use stateless_operator::children::http_route::HttpRoute;
use stateless_operator::crd::StatelessService;

use super::*;

fn http() -> Value {
    json!([{"name": "http", "containerPort": 8080, "servicePort": 80}])
}

/// Resource versions of the Service, autoscaler and Ingress of the namespace.
async fn expose_versions(env: &Env) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for ar in [
        ar::<Service>(),
        ar::<HorizontalPodAutoscaler>(),
        ar::<Ingress>(),
    ] {
        for o in env.list_as(&ar).await {
            out.push((
                format!(
                    "{}/{}",
                    ar.kind,
                    o["metadata"]["name"].as_str().unwrap_or_default()
                ),
                o["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            ));
        }
    }
    out.sort();
    out
}

fn replicas_managers(deployment: &Value) -> Vec<String> {
    deployment["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m.pointer("/fieldsV1/f:spec/f:replicas").is_some())
        .map(|m| m["manager"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The Service's allocated clusterIP and node ports, and the route's Ingress, are not drift:
/// a restarted operator re-syncing them writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster: set KUBECONFIG"]
async fn cluster_service_and_ingress_cause_no_writes_when_idle() {
    let env = Env::setup("expose-idle").await;
    let op = env.start("expose-idle-1");
    let mut web = pause(2);
    web["ports"] = http();
    web["service"] = json!({"type": "NodePort", "annotations": {"example.com/team": "shop"}});
    web["route"] = json!({"host": "web.example.com", "path": "/shop", "ingressClassName": "nginx",
                          "tls": {"secretName": "web-tls"}});
    env.create("web", web).await;
    env.wait_applied("web", 60).await;
    let svc = env
        .wait_for("the Service with its clusterIP", 30, async || {
            env.get::<Service>("web")
                .await
                .filter(|s| s["spec"]["clusterIP"].as_str().is_some())
        })
        .await;
    assert!(
        svc["spec"]["ports"][0]["nodePort"].as_i64().is_some(),
        "{}",
        yaml(&svc)
    );
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "http");
    assert_eq!(
        svc["spec"]["selector"],
        json!({"stateless.dev/service": "web"})
    );
    let ingress = env
        .get::<Ingress>("web")
        .await
        .expect("the Ingress accepted");
    assert_eq!(
        ingress["spec"]["rules"][0]["http"]["paths"][0]["pathType"],
        "Prefix"
    );
    assert_eq!(
        ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"],
        json!({"name": "web", "port": {"name": "http"}})
    );
    env.settle(&[&op], Duration::from_secs(15), Duration::from_secs(240))
        .await;
    op.stop().await;

    let before = (env.versions().await, expose_versions(&env).await);
    let op = env.start("expose-idle-2");
    env.wait_for("the service re-synced", 60, async || {
        (op.reconciles() >= 1.0).then_some(())
    })
    .await;
    // The idle window.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let after = (env.versions().await, expose_versions(&env).await);
    assert_eq!(op.writes(), 0.0, "idle writes: {:?}", op.write_lines());
    assert_eq!(before, after, "objects changed while idle");
    op.stop().await;
}

/// `kubectl scale ssvc/web --replicas=3`: a merge patch of `/scale` changes spec.replicas, the
/// Deployment follows, and `/scale` reports the pods and the selector from status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster: set KUBECONFIG"]
async fn cluster_scale_subresource_scales_the_service() {
    let env = Env::setup("expose-scale").await;
    let op = env.start("expose-scale");
    env.create("web", pause(1)).await;
    env.wait_applied("web", 60).await;
    let api: Api<StatelessService> = Api::namespaced(env.client.clone(), &env.ns);
    let params = PatchParams {
        field_manager: Some(USER.to_string()),
        ..PatchParams::default()
    };
    let scaled = api
        .patch_scale(
            "web",
            &params,
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .expect("patch /scale");
    assert_eq!(scaled.spec.and_then(|s| s.replicas), Some(3));
    assert_eq!(env.svc("web").await.unwrap()["spec"]["replicas"], 3);
    env.eventually("the Deployment asks for 3", 60, async || {
        env.get::<Deployment>("web")
            .await
            .is_some_and(|d| d["spec"]["replicas"] == 3)
    })
    .await;
    env.wait_ready("web", 180).await;
    let scale = api.get_scale("web").await.expect("get /scale");
    let status = scale.status.expect("scale status");
    assert_eq!(status.replicas, 3);
    assert_eq!(
        status.selector.as_deref(),
        Some("stateless.dev/service=web")
    );
    op.stop().await;
}

/// Autoscaling switched on for a running 3-pod service: the HPA is accepted with the right
/// target, no Deployment version seen by a watch asks for fewer than 3 pods, and the operator's
/// manager no longer owns replicas; switched off, the autoscaler goes and spec.replicas is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster: set KUBECONFIG"]
async fn cluster_autoscaling_hand_over_without_a_dip_and_back() {
    let env = Env::setup("expose-hpa").await;
    let op = env.start("expose-hpa");
    let mut web = pause(3);
    web["resources"] = json!({"requests": {"cpu": "10m", "memory": "8Mi"}});
    env.create("web", web).await;
    env.wait_ready("web", 180).await;

    let deployments: Api<Deployment> = Api::namespaced(env.client.clone(), &env.ns);
    let current = deployments.get("web").await.expect("Deployment");
    let rv = current
        .metadata
        .resource_version
        .clone()
        .unwrap_or_default();
    let mut stream = deployments
        .watch(&WatchParams::default().fields("metadata.name=web"), &rv)
        .await
        .expect("watch the Deployment")
        .boxed();
    env.patch(
        "web",
        json!({"spec": {"autoscaling": {"minReplicas": 2, "maxReplicas": 5, "cpuUtilization": 80}}}),
    )
    .await;
    let hpa = env
        .wait_for("the autoscaler accepted", 60, async || {
            env.get::<HorizontalPodAutoscaler>("web").await
        })
        .await;
    assert_eq!(
        hpa["spec"]["scaleTargetRef"],
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"})
    );
    assert_eq!(hpa["spec"]["minReplicas"], 2);
    assert_eq!(hpa["spec"]["maxReplicas"], 5);
    let handed = env
        .wait_for("the operator no longer owns replicas", 60, async || {
            env.get::<Deployment>("web")
                .await
                .filter(|d| !replicas_managers(d).contains(&MANAGER.to_string()))
        })
        .await;
    assert!(
        replicas_managers(&handed)
            .iter()
            .any(|m| m == HANDOVER_MANAGER || m == "kube-controller-manager"),
        "someone still owns replicas: {:?}",
        replicas_managers(&handed)
    );
    env.wait_ready("web", 120).await;
    // Every version the watch delivered meanwhile.
    let mut seen = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(2), stream.try_next()).await {
            Ok(Ok(Some(WatchEvent::Added(d) | WatchEvent::Modified(d)))) => {
                seen += 1;
                let replicas = d.spec.replicas.unwrap_or(1);
                assert!(
                    replicas >= 3,
                    "a Deployment version asked for {replicas} pods"
                );
            }
            Ok(Ok(Some(_))) => {}
            _ => break,
        }
    }
    assert!(seen > 0, "the watch saw the Deployment being applied");
    drop(stream);

    env.patch("web", json!({"spec": {"autoscaling": null}}))
        .await;
    env.eventually(
        "the autoscaler deleted and 3 replicas again",
        60,
        async || {
            env.gone::<HorizontalPodAutoscaler>("web").await
                && env.get::<Deployment>("web").await.is_some_and(|d| {
                    d["spec"]["replicas"] == 3
                        && replicas_managers(&d).contains(&MANAGER.to_string())
                })
        },
    )
    .await;
    env.wait_ready("web", 120).await;
    op.stop().await;
}

/// A route through a Gateway: an HTTPRoute when the cluster serves the Gateway API, otherwise
/// Stalled with reason ApiNotServed naming the API, while the Service is still applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster: set KUBECONFIG"]
async fn cluster_http_route_with_or_without_the_gateway_api() {
    let env = Env::setup("expose-gateway").await;
    let served = env
        .client
        .list_api_group_resources("gateway.networking.k8s.io/v1")
        .await
        .is_ok_and(|l| l.resources.iter().any(|r| r.name == "httproutes"));
    eprintln!("gateway.networking.k8s.io/v1 HTTPRoute served: {served}");
    let op = env.start("expose-gateway");
    let mut web = pause(1);
    web["ports"] = http();
    web["route"] = json!({"host": "web.example.com", "gatewayRef": {"name": "public"}});
    env.create("web", web).await;
    if served {
        let route = env
            .wait_for("the HTTPRoute accepted", 60, async || {
                env.get::<HttpRoute>("web").await
            })
            .await;
        assert_eq!(route["spec"]["parentRefs"][0]["name"], "public");
        assert_eq!(route["spec"]["rules"][0]["backendRefs"][0]["port"], 80);
        env.wait_applied("web", 60).await;
    } else {
        env.eventually("Stalled with reason ApiNotServed", 60, async || {
            env.svc("web").await.is_some_and(|svc| {
                condition(&svc, "Stalled").is_some_and(|c| {
                    c.status == "True"
                        && c.reason == "ApiNotServed"
                        && c.message
                            == "gateway.networking.k8s.io/v1 HTTPRoute is not served by this cluster"
                })
            })
        })
        .await;
        assert!(
            env.get::<Service>("web").await.is_some(),
            "the Service is still applied"
        );
    }
    op.stop().await;
}
