//! When the Deployment's `spec.replicas` must be handed over to a second field manager before
//! (or, for a Deployment being created, right after) the main apply stops sending it: the
//! ownership rule and its reasoning are in [`crate::children::autoscaler`].
//!
//! Pure: it reads the desired and live Deployments as JSON and decides; the writer sends.

use serde_json::Value;

use crate::children::autoscaler::{ANNOTATION_REPLICAS_OWNER, AUTOSCALER};

/// A hand-over to plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandOver {
    /// The count the hand-over manager applies.
    pub replicas: i32,
    /// Whether it goes before the main apply (an existing Deployment) or after it (one being
    /// created).
    pub before_apply: bool,
}

fn owned_by_autoscaler(deployment: &Value) -> bool {
    deployment
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(ANNOTATION_REPLICAS_OWNER))
        .and_then(Value::as_str)
        == Some(AUTOSCALER)
}

/// The hand-over the switch to autoscaling needs, if any: when the desired Deployment leaves
/// its replicas to the autoscaler and the live one does not yet (so exactly once per switch).
/// `initial` is the count a Deployment being created starts with (`minReplicas`).
pub fn hand_over(desired: &Value, live: Option<&Value>, initial: i32) -> Option<HandOver> {
    if !owned_by_autoscaler(desired) {
        return None;
    }
    match live {
        Some(live) if owned_by_autoscaler(live) => None,
        Some(live) => live
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .and_then(|n| i32::try_from(n).ok())
            .map(|replicas| HandOver {
                replicas,
                before_apply: true,
            }),
        None => Some(HandOver {
            replicas: initial,
            before_apply: false,
        }),
    }
}

/// The count a new autoscaled Deployment starts with: the desired autoscaler's `minReplicas`
/// (1, the API default, when it has none).
pub fn initial_replicas(autoscaler: Option<&Value>) -> i32 {
    autoscaler
        .and_then(|a| a.pointer("/spec/minReplicas"))
        .and_then(Value::as_i64)
        .and_then(|n| i32::try_from(n).ok())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn autoscaled() -> Value {
        json!({"metadata": {"annotations": {ANNOTATION_REPLICAS_OWNER: AUTOSCALER}}, "spec": {}})
    }

    #[test]
    fn switching_on_hands_the_live_count_over_once() {
        let live = json!({"metadata": {}, "spec": {"replicas": 3}});
        assert_eq!(
            hand_over(&autoscaled(), Some(&live), 1),
            Some(HandOver {
                replicas: 3,
                before_apply: true
            })
        );
        let mut switched = autoscaled();
        switched["spec"]["replicas"] = json!(3);
        assert_eq!(
            hand_over(&autoscaled(), Some(&switched), 1),
            None,
            "already handed over"
        );
    }

    #[test]
    fn a_new_deployment_gets_min_replicas_after_its_create() {
        assert_eq!(
            hand_over(&autoscaled(), None, 2),
            Some(HandOver {
                replicas: 2,
                before_apply: false
            })
        );
        assert_eq!(
            initial_replicas(Some(&json!({"spec": {"minReplicas": 4}}))),
            4
        );
        assert_eq!(initial_replicas(None), 1);
    }

    #[test]
    fn without_autoscaling_there_is_nothing_to_hand_over() {
        let desired = json!({"metadata": {}, "spec": {"replicas": 2}});
        assert_eq!(hand_over(&desired, None, 1), None);
        assert_eq!(hand_over(&desired, Some(&autoscaled()), 1), None);
    }
}
