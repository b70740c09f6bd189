//! How many pods a service runs and how it moves to a new template: autoscaling and rollout.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::MAX_SURGE_LENGTH;

/// A HorizontalPodAutoscaler (`autoscaling/v2`) `<name>` on the Deployment. While it is set the
/// autoscaler is the only writer of the Deployment's replicas: `replicas` (and `kubectl scale`)
/// no longer change them; removing it hands the count back to `replicas`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.minReplicas <= self.maxReplicas")
        .message("autoscaling.minReplicas must not be greater than autoscaling.maxReplicas")
        .field_path(".minReplicas")
        .reason(kube::core::Reason::FieldValueInvalid),
    validation = Rule::new("has(self.cpuUtilization) || has(self.memoryUtilization)")
        .message("autoscaling needs a target: cpuUtilization or memoryUtilization (without one the autoscaler would silently default to 80% CPU)")
        .reason(kube::core::Reason::FieldValueRequired),
)]
pub struct AutoscalingSpec {
    /// Fewest pods, at least 1; default 1. The PodDisruptionBudget follows this count.
    #[serde(default = "default_min_replicas")]
    #[schemars(range(min = 1))]
    pub min_replicas: i32,
    /// Most pods, at least `minReplicas`. Required.
    #[schemars(range(min = 1))]
    pub max_replicas: i32,
    /// Target average CPU use, as a percentage of `resources.requests.cpu` (which it needs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub cpu_utilization: Option<i32>,
    /// Target average memory use, as a percentage of `resources.requests.memory` (which it
    /// needs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub memory_utilization: Option<i32>,
}

/// The default `autoscaling.minReplicas`.
pub fn default_min_replicas() -> i32 {
    1
}

/// How the Deployment replaces its pods. `maxUnavailable` is always 0 (never below the desired
/// count); a single-writer data volume rolls with `Recreate`, where `maxSurge` does not apply.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    /// Pods created above the desired count during a rollout: a number (at least 1) or a
    /// percentage of the desired count (at least 1%, rounded up); default `25%`.
    #[serde(default = "default_max_surge")]
    #[schemars(extend("maxLength" = MAX_SURGE_LENGTH))]
    // `string(self) == self` holds for a string only (CEL's equality across types is false):
    // the same dispatch as `type(self) == string`, which kube's client-side CEL engine lacks.
    #[x_kube(validation = Rule::new("string(self) == self ? self.matches('^0*[1-9][0-9]*%$') : self > 0 && self <= 2147483647")
        .message("rollout.maxSurge must be a number of pods of at least 1 or a percentage such as 25% (not 0 or 0%: maxUnavailable is always 0, and a rollout needs one of them above 0)"))]
    pub max_surge: IntOrString,
}

/// The default `rollout.maxSurge`.
pub fn default_max_surge() -> IntOrString {
    IntOrString::String("25%".to_string())
}

impl Default for RolloutSpec {
    fn default() -> Self {
        RolloutSpec {
            max_surge: default_max_surge(),
        }
    }
}
