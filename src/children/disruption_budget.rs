//! `<name>`: a PodDisruptionBudget allowing one pod down at a time, when the service always
//! has at least two pods (`replicas >= 2`, or with autoscaling `minReplicas >= 2`).
//!
//! It is disposable: with fewer than two replicas it would block every node drain, so it is
//! deleted when no longer wanted.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{APPLIED_AND_DELETED, Child, autoscaler};
use crate::build::{Inputs, meta, selector};
use crate::crd::StatelessServiceSpec;

/// The PodDisruptionBudget child.
pub struct Rules;

/// Its name.
pub fn name(service: &str) -> String {
    service.to_string()
}

impl Child for Rules {
    type Object = PodDisruptionBudget;
    type Built = Option<PodDisruptionBudget>;
    const VERBS: &'static [&'static str] = APPLIED_AND_DELETED;
    const COMPARED: &'static [&'static str] = &["metadata", "spec"];
    const DELETE_WHEN_UNWANTED: bool = true;

    fn name(service: &str) -> String {
        name(service)
    }
    fn wanted(spec: &StatelessServiceSpec) -> bool {
        // The smallest count the service can have: an autoscaler may go down to minReplicas.
        autoscaler::fewest_replicas(spec) >= 2
    }
    fn build(inputs: &Inputs<'_>) -> Option<PodDisruptionBudget> {
        let valid = inputs.valid;
        if !Self::wanted(valid.spec()) {
            return None;
        }
        Some(PodDisruptionBudget {
            metadata: meta::<Self>(valid),
            spec: Some(PodDisruptionBudgetSpec {
                max_unavailable: Some(IntOrString::Int(1)),
                selector: Some(selector(valid.name())),
                // A crash-looping pod must still be evictable, or it blocks node drains for ever.
                unhealthy_pod_eviction_policy: Some("AlwaysAllow".to_string()),
                ..PodDisruptionBudgetSpec::default()
            }),
            ..PodDisruptionBudget::default()
        })
    }
    fn object(built: &Option<PodDisruptionBudget>) -> Option<&PodDisruptionBudget> {
        built.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn wants(spec: Value) -> bool {
        let spec: StatelessServiceSpec = serde_json::from_value(spec).unwrap();
        Rules::wanted(&spec)
    }

    #[test]
    fn follows_the_fewest_pods_the_service_can_have() {
        assert!(wants(json!({"image": "x", "replicas": 2})));
        assert!(!wants(json!({"image": "x", "replicas": 1})));
        // An autoscaler may go down to minReplicas, whatever `replicas` says.
        let scaled = |min: i32| {
            json!({"image": "x", "replicas": 5,
                   "autoscaling": {"minReplicas": min, "maxReplicas": 9, "cpuUtilization": 50}})
        };
        assert!(!wants(scaled(1)));
        assert!(wants(scaled(2)));
        assert!(wants(json!({"image": "x", "replicas": 1,
            "autoscaling": {"minReplicas": 3, "maxReplicas": 9, "cpuUtilization": 50}})));
    }
}
