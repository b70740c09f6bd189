//! `diff` against the fake API: a preview that agrees with what `run` then does.

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use serde_json::json;
use stateless_operator::crd::StatelessService;
use stateless_operator::diff::{diff, format};
use stateless_operator::render::parse_manifests;
use support::fake_api::ResourceRef;
use support::operator::*;

fn file_service(spec: serde_json::Value) -> StatelessService {
    serde_json::from_value(service("web", spec)).unwrap()
}

#[tokio::test]
async fn previews_creation_then_nothing_once_converged_then_drift() {
    let fake = cluster();
    let spec = json!({"image": "x", "replicas": 2, "secret": {"generate": [{"key": "token", "length": 16}]}});
    let client = fake.client();

    let before = diff(&client, &[file_service(spec.clone())]).await.unwrap();
    let text = format(&before);
    assert!(
        text.contains("+ create StatelessService apps/web"),
        "{text}"
    );
    for kind in [
        "ConfigMap apps/web-config",
        "Secret apps/web-secret",
        "Deployment apps/web",
        "PodDisruptionBudget apps/web",
    ] {
        assert!(text.contains(&format!("+ create {kind}")), "{kind}: {text}");
    }
    assert_eq!(fake.writes(), 0, "diff never writes");

    let op = start(&fake, settings());
    create(&fake, "web", spec.clone());
    eventually(&fake, "web Ready", 20, |f| is_ready(f, "web")).await;
    op.stop().await.unwrap();

    let same = diff(&client, &[file_service(spec.clone())]).await.unwrap();
    assert_eq!(format(&same), "StatelessService apps/web: no changes\n");

    // Someone scales by hand; the file also asks for a new image.
    fake.merge_patch(
        &ResourceRef::of::<Deployment>(),
        Some(NS),
        "web",
        "kubectl",
        json!({"spec": {"replicas": 5}}),
        false,
    )
    .unwrap();
    let mut changed = spec.clone();
    changed["image"] = json!("y");
    let drift = diff(&client, &[file_service(changed)]).await.unwrap();
    let text = format(&drift);
    assert!(text.contains("~ update Deployment apps/web"), "{text}");
    assert!(text.contains("spec.replicas: 5 -> 2"), "{text}");
    assert!(
        text.contains("spec.template.spec.containers[name=app].image: \"x\" -> \"y\""),
        "{text}"
    );
    assert!(!text.contains("Secret"), "the secret is unchanged: {text}");

    // A paused service would get no writes.
    let mut paused = spec;
    paused["paused"] = json!(true);
    let none = diff(&client, &[file_service(paused)]).await.unwrap();
    assert!(none[0].changes.is_empty());
}

#[tokio::test]
async fn conflicts_and_secret_values_are_reported_without_values() {
    let fake = cluster();
    fake.create(
        &ResourceRef::of::<k8s_openapi::api::core::v1::Secret>(),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "web-secret", "namespace": NS},
               "data": {"token": "c2VjcmV0LXZhbHVlLTE2Y2g="}}),
    )
    .unwrap();
    let d = diff(
        &fake.client(),
        &[file_service(
            json!({"image": "x", "secret": {"generate": [{"key": "token", "length": 16}]}}),
        )],
    )
    .await
    .unwrap();
    let text = format(&d);
    assert!(text.contains("! conflict: Secret web-secret"), "{text}");
    assert!(!text.contains("c2VjcmV0"), "{text}");
}

#[tokio::test]
async fn a_gitops_file_with_other_objects_and_a_status_previews_its_services() {
    let fake = cluster();
    let text = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: apps}\nspec: {ports: [{port: 80}]}\n---\napiVersion: stateless.dev/v1alpha1\nkind: StatelessService\nmetadata: {name: web, namespace: apps}\nspec: {image: x}\nstatus:\n  conditions: [{type: Ready, status: \"True\"}]\n";
    let services = parse_manifests("gitops.yaml", text).unwrap();
    assert_eq!(services.len(), 1, "only the StatelessService is previewed");
    assert!(services[0].status.is_none(), "status is ignored on input");
    let text = format(&diff(&fake.client(), &services).await.unwrap());
    assert!(text.starts_with("StatelessService apps/web:\n"), "{text}");
    assert!(text.contains("+ create Deployment apps/web"), "{text}");

    let errors = parse_manifests("gitops.yaml", "apiVersion: stateless.dev/v1alpha1\nkind: StatelessService\nmetadata: {name: web}\nspec: {image: x, replicas: two}\n").unwrap_err();
    assert!(
        errors[0]
            .to_string()
            .contains("spec.replicas: expected a whole number"),
        "{errors:?}"
    );
}

#[tokio::test]
async fn previews_the_service_autoscaler_route_and_the_replicas_hand_over() {
    let fake = cluster();
    fake.serve_gateway_api();
    let client = fake.client();
    let exposed = json!({"image": "x", "replicas": 3,
        "ports": [{"name": "http", "containerPort": 8080}],
        "route": {"host": "web.example.com", "gatewayRef": {"name": "public"}}});
    let text = format(
        &diff(&client, &[file_service(exposed.clone())])
            .await
            .unwrap(),
    );
    for kind in ["Service apps/web", "HTTPRoute apps/web"] {
        assert!(text.contains(&format!("+ create {kind}")), "{kind}: {text}");
    }

    let op = start(&fake, settings());
    create(&fake, "web", exposed.clone());
    eventually(&fake, "web Ready", 20, |f| is_ready(f, "web")).await;
    op.stop().await.unwrap();
    fake.reset_requests();
    let same = diff(&client, &[file_service(exposed.clone())])
        .await
        .unwrap();
    assert_eq!(format(&same), "StatelessService apps/web: no changes\n");

    // Switching autoscaling on: the autoscaler is created and the live 3 replicas handed over
    // before the Deployment stops applying them; the route becomes an Ingress.
    let mut autoscaled = exposed;
    autoscaled["resources"] = json!({"requests": {"cpu": "100m"}});
    autoscaled["autoscaling"] = json!({"minReplicas": 2, "maxReplicas": 5, "cpuUtilization": 60});
    autoscaled["route"] = json!({"host": "web.example.com", "ingressClassName": "nginx"});
    let text = format(&diff(&client, &[file_service(autoscaled)]).await.unwrap());
    assert!(
        text.contains("~ hand over Deployment apps/web spec.replicas (3) to the autoscaler"),
        "{text}"
    );
    assert!(
        text.contains("+ create HorizontalPodAutoscaler apps/web"),
        "{text}"
    );
    assert!(text.contains("+ create Ingress apps/web"), "{text}");
    assert!(text.contains("- delete HTTPRoute apps/web"), "{text}");
    let hand_over = text.find("~ hand over").unwrap();
    let update = text.find("~ update Deployment apps/web").unwrap();
    assert!(hand_over < update, "the hand-over comes first: {text}");
    assert_eq!(fake.writes(), 0, "diff never writes");
}

#[tokio::test]
async fn references_count_as_run_counts_them_and_a_missing_one_holds_the_deployment() {
    let fake = cluster();
    let spec = json!({"image": "x", "replicas": 1, "serviceAccount": {}, "network": {"isolation": "Ingress"},
        "config": {"from": [{"name": "shared", "mountPath": "/etc/shared"}]}});
    let client = fake.client();
    let missing = format(&diff(&client, &[file_service(spec.clone())]).await.unwrap());
    assert!(
        missing
            .contains("! missing: ConfigMap apps/shared referenced by config.from does not exist"),
        "{missing}"
    );
    assert!(
        missing.contains("+ create ServiceAccount apps/web"),
        "{missing}"
    );
    assert!(
        missing.contains("+ create NetworkPolicy apps/web"),
        "{missing}"
    );
    assert!(!missing.contains("Deployment apps/web"), "held: {missing}");

    fake.create(
        &ResourceRef::of::<k8s_openapi::api::core::v1::ConfigMap>(),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared", "namespace": NS}, "data": {"a": "1"}}),
    )
    .unwrap();
    let op = start(&fake, settings());
    create(&fake, "web", spec.clone());
    eventually(&fake, "web Ready", 20, |f| is_ready(f, "web")).await;
    op.stop().await.unwrap();
    // diff reads the referenced object as the controller does: the same config hash.
    let same = diff(&client, &[file_service(spec)]).await.unwrap();
    assert_eq!(format(&same), "StatelessService apps/web: no changes\n");
    assert_eq!(
        fake.count(&support::fake_api::RequestFilter::writes().name("shared")),
        0
    );
}
