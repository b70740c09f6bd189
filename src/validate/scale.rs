//! Autoscaling and rollout: the replica range, the targets and what they need, `maxSurge`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::FieldError;
use crate::crd::StatelessServiceSpec;
use crate::quantity;

pub(super) fn check_autoscaling(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    let Some(autoscaling) = &spec.autoscaling else {
        return;
    };
    for (field, value) in [
        ("minReplicas", Some(autoscaling.min_replicas)),
        ("maxReplicas", Some(autoscaling.max_replicas)),
        ("cpuUtilization", autoscaling.cpu_utilization),
        ("memoryUtilization", autoscaling.memory_utilization),
    ] {
        if let Some(v) = value
            && v < 1
        {
            errors.push(FieldError::new(
                format!("spec.autoscaling.{field}"),
                format!("must be 1 or more, not {v}"),
            ));
        }
    }
    if autoscaling.min_replicas > autoscaling.max_replicas {
        errors.push(FieldError::new(
            "spec.autoscaling.minReplicas",
            format!(
                "autoscaling.minReplicas must not be greater than autoscaling.maxReplicas ({} > {})",
                autoscaling.min_replicas, autoscaling.max_replicas
            ),
        ));
    }
    if autoscaling.cpu_utilization.is_none() && autoscaling.memory_utilization.is_none() {
        errors.push(FieldError::new(
            "spec.autoscaling",
            "autoscaling needs a target: cpuUtilization or memoryUtilization (without one the autoscaler would silently default to 80% CPU)",
        ));
    }
    for (resource, target) in [
        ("cpu", autoscaling.cpu_utilization),
        ("memory", autoscaling.memory_utilization),
    ] {
        if target.is_some() {
            check_request(spec, resource, errors);
        }
    }
}

/// A utilisation target is a percentage of the container's request for the resource: there
/// must be one (a limit alone is copied into the request by Kubernetes), and it must be above 0.
fn check_request(spec: &StatelessServiceSpec, resource: &str, errors: &mut Vec<FieldError>) {
    let path = format!("spec.autoscaling.{resource}Utilization");
    fn get<'a>(
        list: &'a Option<BTreeMap<String, Quantity>>,
        resource: &str,
    ) -> Option<&'a Quantity> {
        list.as_ref().and_then(|l| l.get(resource))
    }
    let request = spec
        .resources
        .as_ref()
        .and_then(|r| get(&r.requests, resource).or_else(|| get(&r.limits, resource)));
    match request {
        None => errors.push(FieldError::new(
            path,
            format!(
                "autoscaling.{resource}Utilization needs resources.requests.{resource} (or limits.{resource}, which Kubernetes copies into an unset request): utilisation is a percentage of the request, and without one the autoscaler can never compute it"
            ),
        )),
        Some(q) if quantity::parse(&q.0).is_some_and(|v| v.0 <= 0) => errors.push(FieldError::new(
            path,
            format!(
                "autoscaling.{resource}Utilization needs a {resource} request above 0, not {:?}: utilisation is a percentage of the request",
                q.0
            ),
        )),
        // An unparsable quantity is reported under resources.
        Some(_) => {}
    }
}

/// `rollout.maxSurge`: an int of at least 1 or a percentage string of at least 1%.
pub(super) fn check_rollout(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    let Some(rollout) = &spec.rollout else { return };
    let valid = match &rollout.max_surge {
        IntOrString::Int(n) => *n > 0,
        IntOrString::String(s) => s.strip_suffix('%').is_some_and(|digits| {
            !digits.is_empty()
                && digits.bytes().all(|c| c.is_ascii_digit())
                && digits.bytes().any(|c| c != b'0')
        }),
    };
    // A string over the length bound is reported by `bounds`.
    let bounded = match &rollout.max_surge {
        IntOrString::String(s) => s.chars().count() <= crate::crd::MAX_SURGE_LENGTH,
        IntOrString::Int(_) => true,
    };
    if bounded && !valid {
        let shown = match &rollout.max_surge {
            IntOrString::Int(n) => n.to_string(),
            IntOrString::String(s) => format!("{s:?}"),
        };
        errors.push(FieldError::new(
            "spec.rollout.maxSurge",
            format!(
                "{shown}: rollout.maxSurge must be a number of pods of at least 1 or a percentage such as 25% (not 0 or 0%: maxUnavailable is always 0, and a rollout needs one of them above 0)"
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    //! What CEL cannot see: a request of 0, and which values `maxSurge` accepts.
    use super::super::testing::{errors, has};
    use serde_json::json;

    fn autoscaled(resources: serde_json::Value) -> Vec<String> {
        errors(json!({"image": "x", "resources": resources,
            "autoscaling": {"maxReplicas": 3, "cpuUtilization": 60, "memoryUtilization": 70}}))
    }

    #[test]
    fn a_target_needs_a_request_above_zero() {
        assert!(autoscaled(json!({"requests": {"cpu": "250m", "memory": "1Gi"}})).is_empty());
        assert!(autoscaled(json!({"limits": {"cpu": "1", "memory": "1Gi"}})).is_empty());
        let e = autoscaled(json!({"requests": {"cpu": "0", "memory": "0Mi"}}));
        assert!(
            has(
                &e,
                "spec.autoscaling.cpuUtilization: autoscaling.cpuUtilization needs a cpu request above 0, not \"0\""
            ),
            "{e:?}"
        );
        assert!(
            has(
                &e,
                "spec.autoscaling.memoryUtilization: autoscaling.memoryUtilization needs a memory request above 0"
            ),
            "{e:?}"
        );
        // The request wins over the limit, as in the pod.
        let e =
            autoscaled(json!({"requests": {"cpu": "0"}, "limits": {"cpu": "1", "memory": "1Gi"}}));
        assert!(has(&e, "spec.autoscaling.cpuUtilization"), "{e:?}");
    }

    #[test]
    fn max_surge() {
        let surge =
            |v: serde_json::Value| errors(json!({"image": "x", "rollout": {"maxSurge": v}}));
        for good in [
            json!(1),
            json!(100),
            json!("1%"),
            json!("25%"),
            json!("250%"),
            json!("010%"),
        ] {
            assert!(surge(good.clone()).is_empty(), "{good}");
        }
        for bad in [
            json!(0),
            json!(-3),
            json!("0%"),
            json!("000%"),
            json!("%"),
            json!("25"),
            json!("2.5%"),
            json!("-5%"),
            json!("25 %"),
            json!(""),
        ] {
            let e = surge(bad.clone());
            assert!(has(&e, "spec.rollout.maxSurge: "), "{bad}: {e:?}");
        }
        assert!(
            errors(json!({"image": "x", "rollout": {}})).is_empty(),
            "default 25%"
        );
    }
}
