//! Holding back one kind's applies: when a referenced ConfigMap or Secret is missing the
//! Deployment must not be changed to a template whose pods cannot start, while every other
//! child may still converge. Pure.

use super::{Plan, Step};
use crate::children::ChildKind;

/// Removes the applies of `kind` from the plan, and the replicas hand-over that only prepares
/// one (contract removals and deletions stay: they never make a template worse); returns
/// whether any was removed.
pub fn hold(plan: &mut Plan, kind: ChildKind) -> bool {
    let before = plan.steps.len();
    plan.steps.retain(|step| match step {
        Step::Apply(d) => d.kind != kind,
        Step::HandOverReplicas { .. } => step.kind() != kind,
        _ => true,
    });
    plan.steps.len() != before
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::planning::{Desired, Violation};

    #[test]
    fn only_the_applies_of_the_held_kind_go() {
        let apply = |kind| {
            Step::Apply(Desired {
                kind,
                name: "web".into(),
                object: json!({}),
            })
        };
        let mut plan = Plan {
            steps: vec![
                apply(ChildKind::ConfigMap),
                Step::HandOverReplicas {
                    name: "web".into(),
                    replicas: 3,
                },
                apply(ChildKind::Deployment),
                Step::RemoveViolations {
                    kind: ChildKind::Deployment,
                    name: "web".into(),
                    violations: vec![Violation {
                        what: "volume \"x\"".into(),
                        pointer: "/spec/template/spec/volumes/1".into(),
                        test: ("name".into(), json!("x")),
                        managed_path: vec![],
                    }],
                },
                apply(ChildKind::DisruptionBudget),
            ],
            conflicts: vec![],
        };
        assert!(hold(&mut plan, ChildKind::Deployment));
        let kinds: Vec<(ChildKind, bool)> = plan
            .steps
            .iter()
            .map(|s| (s.kind(), matches!(s, Step::Apply(_))))
            .collect();
        assert_eq!(
            kinds,
            [
                (ChildKind::ConfigMap, true),
                (ChildKind::Deployment, false),
                (ChildKind::DisruptionBudget, true)
            ]
        );
        assert!(
            !hold(&mut plan, ChildKind::Deployment),
            "nothing left to hold"
        );
    }
}
