//! The fake API server's model of the kinds that expose and scale a workload: Service defaults
//! and allocation (kept across updates), HorizontalPodAutoscaler defaults, the Gateway API
//! served per fake instance with its CRD defaults, the scale subresource (ownership of
//! `spec.replicas` moves to its writer; CRDs from `subresources.scale`), server-side apply
//! removing a replicas field no manager owns any more, and the stored versions of an object.

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Service;
use kube::CustomResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use stateless_operator::crd::StatelessService;
use support::fake_api::{FakeApi, ResourceRef};

const NS: &str = "default";

fn apply(fake: &FakeApi, res: &ResourceRef, manager: &str, obj: Value) -> Value {
    let name = obj["metadata"]["name"].as_str().unwrap().to_string();
    fake.apply(res, Some(NS), &name, manager, obj, true, false)
        .expect("apply")
}

fn service(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": spec})
}

fn replicas_managers(obj: &Value) -> Vec<(String, String)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m.pointer("/fieldsV1/f:spec/f:replicas").is_some())
        .map(|m| {
            let s = |k: &str| m[k].as_str().unwrap_or_default().to_string();
            (s("manager"), s("subresource"))
        })
        .collect()
}

#[test]
fn services_are_defaulted_and_keep_what_was_allocated() {
    let fake = FakeApi::new();
    let res = ResourceRef::of::<Service>();
    let ports = json!([{"name": "http", "port": 80}]);
    let svc = apply(&fake, &res, "a", service(json!({"ports": ports})));
    let spec = &svc["spec"];
    assert_eq!(spec["type"], "ClusterIP");
    assert_eq!(spec["sessionAffinity"], "None");
    assert_eq!(spec["internalTrafficPolicy"], "Cluster");
    assert_eq!(spec["ipFamilies"], json!(["IPv4"]));
    assert_eq!(spec["ipFamilyPolicy"], "SingleStack");
    assert_eq!(spec["ports"][0]["protocol"], "TCP");
    assert_eq!(
        spec["ports"][0]["targetPort"], 80,
        "targetPort defaults to port"
    );
    let ip = spec["clusterIP"].clone();
    assert!(ip.as_str().is_some_and(|i| i.starts_with("10.96.")));
    assert_eq!(spec["clusterIPs"], json!([ip]));
    assert!(spec.get("externalTrafficPolicy").is_none());

    // Another apply without the allocated fields: they stay.
    let svc = apply(
        &fake,
        &res,
        "a",
        service(json!({"ports": ports, "type": "LoadBalancer"})),
    );
    assert_eq!(svc["spec"]["clusterIP"], ip);
    let node_port = svc["spec"]["ports"][0]["nodePort"].clone();
    assert!(
        node_port
            .as_i64()
            .is_some_and(|p| (30000..32768).contains(&p))
    );
    assert_eq!(svc["spec"]["externalTrafficPolicy"], "Cluster");
    assert_eq!(svc["spec"]["allocateLoadBalancerNodePorts"], true);
    let svc = apply(
        &fake,
        &res,
        "a",
        service(json!({"ports": ports, "type": "LoadBalancer"})),
    );
    assert_eq!(svc["spec"]["ports"][0]["nodePort"], node_port, "kept");
    let svc = apply(
        &fake,
        &res,
        "a",
        service(json!({"ports": ports, "type": "ClusterIP"})),
    );
    assert!(svc["spec"]["ports"][0].get("nodePort").is_none());
    assert!(svc["spec"].get("externalTrafficPolicy").is_none());
    assert_eq!(svc["spec"]["clusterIP"], ip);
}

#[test]
fn autoscalers_are_defaulted_and_behavior_only_when_set() {
    let fake = FakeApi::new();
    let res = ResourceRef::of::<HorizontalPodAutoscaler>();
    let hpa = |spec: Value| {
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
               "metadata": {"name": "web"}, "spec": spec})
    };
    let target = json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"});
    let plain = apply(
        &fake,
        &res,
        "a",
        hpa(json!({"scaleTargetRef": target, "maxReplicas": 3})),
    );
    assert_eq!(plain["spec"]["minReplicas"], 1);
    assert_eq!(
        plain["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
        80
    );
    assert!(plain["spec"].get("behavior").is_none());
    let with = apply(
        &fake,
        &res,
        "a",
        hpa(
            json!({"scaleTargetRef": target, "maxReplicas": 3, "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}),
        ),
    );
    let behavior = &with["spec"]["behavior"];
    assert_eq!(behavior["scaleUp"]["selectPolicy"], "Max");
    assert_eq!(
        behavior["scaleUp"]["policies"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(behavior["scaleDown"]["stabilizationWindowSeconds"], 60);
}

#[tokio::test]
async fn the_gateway_api_is_served_only_when_asked_for_with_its_crd_defaults() {
    let fake = FakeApi::new();
    let res = ResourceRef::new("gateway.networking.k8s.io", "v1", "httproutes");
    let route = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web"},
        "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [{"name": "web", "port": 80}]}]}});
    assert!(
        fake.apply(&res, Some(NS), "web", "a", route.clone(), true, false)
            .is_err_and(|e| e.code == 404)
    );
    let client = fake.client();
    assert!(
        client
            .list_api_group_resources("gateway.networking.k8s.io/v1")
            .await
            .is_err()
    );
    fake.serve_gateway_api();
    let list = client
        .list_api_group_resources("gateway.networking.k8s.io/v1")
        .await
        .expect("discovery");
    assert!(list.resources.iter().any(|r| r.name == "httproutes"));
    let stored = apply(&fake, &res, "a", route);
    assert_eq!(stored["spec"]["parentRefs"][0]["kind"], "Gateway");
    assert_eq!(
        stored["spec"]["rules"][0]["matches"][0]["path"],
        json!({"type": "PathPrefix", "value": "/"})
    );
    let backend = &stored["spec"]["rules"][0]["backendRefs"][0];
    assert_eq!(
        (backend["kind"].clone(), backend["weight"].clone()),
        (json!("Service"), json!(1))
    );
}

fn deployment(replicas: Option<i64>) -> Value {
    let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": "x"}]}}}});
    if let Some(n) = replicas {
        d["spec"]["replicas"] = json!(n);
    }
    d
}

#[tokio::test]
async fn a_scale_write_takes_replicas_and_an_unowned_replicas_field_is_removed_then_defaulted() {
    let fake = FakeApi::new();
    let res = ResourceRef::of::<Deployment>();
    apply(&fake, &res, "operator", deployment(Some(3)));
    // The operator stops applying replicas: nobody owns them, so they go back to the default.
    let dropped = apply(&fake, &res, "operator", deployment(None));
    assert_eq!(dropped["spec"]["replicas"], 1);

    // Co-owned by a hand-over manager first: it stays.
    apply(&fake, &res, "operator", deployment(Some(3)));
    fake.apply(&res, Some(NS), "web", "handover",
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 3}}),
        true, false).expect("hand-over apply");
    let kept = apply(&fake, &res, "operator", deployment(None));
    assert_eq!(kept["spec"]["replicas"], 3);
    assert_eq!(
        replicas_managers(&kept),
        [("handover".to_string(), String::new())]
    );

    // A write through /scale (over HTTP, as an autoscaler sends it) takes the field.
    let api: Api<Deployment> = Api::namespaced(fake.client(), NS);
    let scale = api
        .patch_scale(
            "web",
            &PatchParams {
                field_manager: Some("hpa".into()),
                ..PatchParams::default()
            },
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .expect("patch /scale");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(5));
    assert_eq!(
        scale.status.and_then(|s| s.selector).as_deref(),
        Some("app=web")
    );
    let live = fake.get(&res, Some(NS), "web").unwrap();
    assert_eq!(live["spec"]["replicas"], 5);
    assert_eq!(
        replicas_managers(&live),
        [("hpa".to_string(), "scale".to_string())]
    );
    assert_eq!(
        live["metadata"]["generation"], 4,
        "a new generation for the new count"
    );

    let versions = fake.versions(&res, Some(NS), "web");
    let counts: Vec<Value> = versions
        .iter()
        .map(|v| v["spec"]["replicas"].clone())
        .collect();
    // Create, drop, re-apply, hand-over (ownership only), drop (kept), scale.
    assert_eq!(
        counts,
        [json!(3), json!(1), json!(3), json!(3), json!(3), json!(5)]
    );
}

#[test]
fn a_crd_scale_subresource_follows_its_declared_paths() {
    let fake = FakeApi::new();
    fake.register_crd(&StatelessService::crd());
    let res = ResourceRef::of::<StatelessService>();
    fake.create(
        &res,
        json!({"apiVersion": "stateless.dev/v1alpha1", "kind": "StatelessService",
               "metadata": {"name": "web", "namespace": NS}, "spec": {"image": "x", "replicas": 2}}),
    )
    .unwrap();
    fake.merge_patch(
        &res,
        Some(NS),
        "web",
        "op",
        json!({"status": {"replicas": 2, "labelSelector": "stateless.dev/service=web"}}),
        true,
    )
    .unwrap();
    let scale = fake.get_scale(&res, Some(NS), "web").unwrap();
    assert_eq!(scale["spec"]["replicas"], 2);
    assert_eq!(
        scale["status"],
        json!({"replicas": 2, "selector": "stateless.dev/service=web"})
    );
    fake.scale(&res, Some(NS), "web", 4, "kubectl").unwrap();
    assert_eq!(
        fake.get(&res, Some(NS), "web").unwrap()["spec"]["replicas"],
        4
    );
    assert!(
        fake.scale(&res, Some(NS), "web", -1, "kubectl")
            .is_err_and(|e| e.code == 422)
    );
}
