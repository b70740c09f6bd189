//! `<name>`: an `autoscaling/v2` HorizontalPodAutoscaler on the Deployment, wanted while
//! `autoscaling` is set, deleted when it is removed; and the rule for who owns the
//! Deployment's `spec.replicas`, with the server-side apply hand-over between them.
//!
//! **Ownership.** Without `autoscaling`, the operator's field manager (`stateless-operator`)
//! applies `spec.replicas` from `spec.replicas`. With it, the Deployment is applied without
//! `replicas` and the autoscaler is its one writer (through the Deployment's scale
//! subresource); the operator never resets it, so `replicas` is not compared either.
//!
//! **Hand-over (autoscaling switched on).** If the operator simply stopped applying
//! `replicas`, server-side apply would remove the field (no manager owns it any more) and the
//! API server would default it to 1: a running 3-pod service would drop to one pod until the
//! autoscaler acts. Kubernetes' documented way ("Transferring ownership" in the server-side
//! apply docs) is used instead: first a second field manager, [`HANDOVER_MANAGER`], applies
//! `{spec: {replicas: <live value>}}` (the same value, so nothing changes and it becomes a
//! co-owner), then the main apply drops the field, which stays because the hand-over manager
//! still owns it. The autoscaler's first scale write takes it over from there.
//!
//! The hand-over must happen once per switch, not on every reconcile (zero writes at steady
//! state). The caches strip `managedFields`, so ownership cannot be read from them; instead the
//! Deployment applied under autoscaling carries [`ANNOTATION_REPLICAS_OWNER`]` = autoscaler`.
//! A hand-over is planned exactly when the desired Deployment carries it and the live one does
//! not (see [`crate::planning`]): before the main apply of an existing Deployment, with its
//! live count; for a Deployment being created, right after the create, with `minReplicas`
//! (nothing runs yet, so there is nothing to keep). Once the main apply has stored the
//! annotation no further hand-over is planned.
//!
//! **Switched off.** The HPA is deleted first (so it cannot scale in between), then the
//! Deployment is applied with `replicas` from `spec.replicas`, forced: the operator's manager
//! takes the field back from the autoscaler and the hand-over manager.
//!
//! Pure: nothing here reads or writes the cluster.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec,
    MetricSpec, MetricTarget, ResourceMetricSource,
};

use super::{APPLIED_AND_DELETED, Child, deployment};
use crate::build::{Inputs, meta};
use crate::crd::StatelessServiceSpec;

/// The field manager that keeps `spec.replicas` owned while the operator's own manager lets
/// go of it (see the module documentation).
pub const HANDOVER_MANAGER: &str = "stateless-operator-handover";
/// Annotation of a Deployment applied without `replicas` because the autoscaler owns them.
pub const ANNOTATION_REPLICAS_OWNER: &str = "stateless.dev/replicas-owner";
/// Value of [`ANNOTATION_REPLICAS_OWNER`].
pub const AUTOSCALER: &str = "autoscaler";

/// The annotations of a Deployment applied without `replicas`.
pub fn owner_annotation() -> std::collections::BTreeMap<String, String> {
    std::collections::BTreeMap::from([(
        ANNOTATION_REPLICAS_OWNER.to_string(),
        AUTOSCALER.to_string(),
    )])
}

/// The HorizontalPodAutoscaler child.
pub struct Rules;

/// Its name: the service's own (the Deployment's).
pub fn name(service: &str) -> String {
    service.to_string()
}

/// The smallest number of pods the service can have: `minReplicas` with autoscaling, else
/// `replicas` (the disruption budget follows it).
pub fn fewest_replicas(spec: &StatelessServiceSpec) -> i32 {
    spec.autoscaling
        .as_ref()
        .map_or(spec.replicas, |a| a.min_replicas)
}

/// The replicas wanted now: `spec.replicas`, or with autoscaling the autoscaler's
/// `status.desiredReplicas`, else the Deployment's own count, else `minReplicas`.
pub fn desired_replicas(
    spec: &StatelessServiceSpec,
    hpa: Option<&HorizontalPodAutoscaler>,
    deployment: Option<&Deployment>,
) -> i32 {
    let Some(autoscaling) = &spec.autoscaling else {
        return spec.replicas;
    };
    hpa.and_then(|h| h.status.as_ref())
        .map(|s| s.desired_replicas)
        .filter(|n| *n > 0)
        .or_else(|| deployment.and_then(|d| d.spec.replicas))
        .unwrap_or(autoscaling.min_replicas)
}

fn resource_metric(resource: &str, utilization: i32) -> MetricSpec {
    MetricSpec {
        type_: "Resource".to_string(),
        resource: Some(ResourceMetricSource {
            name: resource.to_string(),
            target: MetricTarget {
                type_: "Utilization".to_string(),
                average_utilization: Some(utilization),
                ..MetricTarget::default()
            },
        }),
        ..MetricSpec::default()
    }
}

impl Child for Rules {
    type Object = HorizontalPodAutoscaler;
    type Built = Option<HorizontalPodAutoscaler>;
    const VERBS: &'static [&'static str] = APPLIED_AND_DELETED;
    const COMPARED: &'static [&'static str] = &["metadata", "spec"];
    const DELETE_WHEN_UNWANTED: bool = true;
    const DELETE_BEFORE_APPLY: bool = true;

    fn name(service: &str) -> String {
        name(service)
    }
    fn wanted(spec: &StatelessServiceSpec) -> bool {
        spec.autoscaling.is_some()
    }
    fn build(inputs: &Inputs<'_>) -> Option<HorizontalPodAutoscaler> {
        let valid = inputs.valid;
        let autoscaling = valid.spec().autoscaling.as_ref()?;
        let metrics: Vec<MetricSpec> = [
            ("cpu", autoscaling.cpu_utilization),
            ("memory", autoscaling.memory_utilization),
        ]
        .into_iter()
        .filter_map(|(resource, target)| target.map(|t| resource_metric(resource, t)))
        .collect();
        Some(HorizontalPodAutoscaler {
            metadata: meta::<Self>(valid),
            spec: HorizontalPodAutoscalerSpec {
                scale_target_ref: CrossVersionObjectReference {
                    api_version: Some("apps/v1".to_string()),
                    kind: "Deployment".to_string(),
                    name: deployment::name(valid.name()),
                },
                min_replicas: Some(autoscaling.min_replicas),
                max_replicas: autoscaling.max_replicas,
                metrics: Some(metrics),
                behavior: None,
            },
            ..HorizontalPodAutoscaler::default()
        })
    }
    fn object(built: &Option<HorizontalPodAutoscaler>) -> Option<&HorizontalPodAutoscaler> {
        built.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscalerStatus;
    use serde_json::{Value, json};

    use super::*;
    use crate::build::{self, OsRandom};
    use crate::crd::StatelessService;
    use crate::validate::validate;

    fn service(spec: Value) -> StatelessService {
        serde_json::from_value(json!({
            "apiVersion": "stateless.dev/v1alpha1", "kind": "StatelessService",
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
            "spec": spec,
        }))
        .unwrap()
    }

    fn built(spec: Value) -> build::Children {
        let svc = service(spec);
        let valid = validate(&svc).unwrap();
        build::build(valid, &build::Observed::default(), &mut OsRandom)
    }

    fn autoscaled() -> Value {
        json!({"image": "x", "replicas": 3,
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
            "autoscaling": {"minReplicas": 2, "maxReplicas": 9, "cpuUtilization": 70, "memoryUtilization": 80}})
    }

    #[test]
    fn targets_the_deployment_with_resource_utilization_metrics() {
        let hpa = serde_json::to_value(built(autoscaled()).autoscaler.unwrap()).unwrap();
        assert_eq!(hpa["apiVersion"], "autoscaling/v2");
        assert_eq!(
            hpa["spec"],
            json!({
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2, "maxReplicas": 9,
                "metrics": [
                    {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}},
                    {"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 80}}},
                ],
            })
        );
        assert_eq!(hpa["metadata"]["ownerReferences"][0]["uid"], "u1");
    }

    #[test]
    fn only_the_targets_given_are_metrics() {
        let mut spec = autoscaled();
        spec["autoscaling"] = json!({"maxReplicas": 4, "memoryUtilization": 60});
        let hpa = serde_json::to_value(built(spec).autoscaler.unwrap()).unwrap();
        assert_eq!(hpa["spec"]["minReplicas"], 1, "the default");
        let metrics = hpa["spec"]["metrics"].as_array().unwrap();
        assert_eq!(metrics.len(), 1);
        assert_eq!(metrics[0]["resource"]["name"], "memory");
    }

    #[test]
    fn the_deployment_leaves_replicas_to_the_autoscaler_and_says_so() {
        let on = built(autoscaled()).deployment;
        assert_eq!(on.spec.replicas, None);
        let annotations = on.metadata.annotations.unwrap();
        assert_eq!(annotations[ANNOTATION_REPLICAS_OWNER], AUTOSCALER);
        let mut spec = autoscaled();
        spec.as_object_mut().unwrap().remove("autoscaling");
        let off = built(spec).deployment;
        assert_eq!(off.spec.replicas, Some(3));
        assert!(off.metadata.annotations.is_none());
        assert!(built(json!({"image": "x"})).autoscaler.is_none());
    }

    #[test]
    fn desired_replicas_follow_the_owner() {
        let manual = service(json!({"image": "x", "replicas": 3}));
        assert_eq!(desired_replicas(&manual.spec, None, None), 3);
        let auto = service(autoscaled());
        assert_eq!(desired_replicas(&auto.spec, None, None), 2, "minReplicas");
        let mut d = Deployment::default();
        d.spec.replicas = Some(5);
        assert_eq!(desired_replicas(&auto.spec, None, Some(&d)), 5);
        let hpa = HorizontalPodAutoscaler {
            status: Some(HorizontalPodAutoscalerStatus {
                desired_replicas: 7,
                ..HorizontalPodAutoscalerStatus::default()
            }),
            ..HorizontalPodAutoscaler::default()
        };
        assert_eq!(desired_replicas(&auto.spec, Some(&hpa), Some(&d)), 7);
        assert_eq!(fewest_replicas(&auto.spec), 2);
        assert_eq!(fewest_replicas(&manual.spec), 3);
    }
}
