//! Planning, pure: which writes bring the observed children to the desired ones.
//!
//! A write is planned only when the observed object differs from the desired one:
//! - every applied object carries [`ANNOTATION_DESIRED_HASH`], a hash of what we last applied;
//!   a different hash means our intent changed (and server-side apply will also remove the
//!   fields we no longer want);
//! - every desired field must be present with the same value in the observed object ([`drift`]);
//!   a difference is drift, reverted by a forced apply.
//!
//! It also finds contract violations to strip ([`contract`]), children no longer wanted to
//! delete, and names held by objects that are not ours (then nothing is written). It does no
//! I/O: [`crate::apply`] sends the writes, and must not build desired objects (that is `build`)
//! nor read caches (that is `observe`).

mod contract;
mod drift;
mod handover;
mod hold;

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

pub use contract::{Violation, contract_violations, managers_of, removal_patch};
pub use drift::{Difference, differences, needs_apply};
pub use handover::{HandOver, hand_over};
pub use hold::hold;

use crate::build::{Children, LABEL_MANAGED_BY, LABEL_SERVICE, MANAGER};
use crate::children::{ChildKind, REGISTRY};

/// Hash of the object as the operator last applied it.
pub const ANNOTATION_DESIRED_HASH: &str = "stateless.dev/desired-hash";

/// One desired child, ready to apply: its JSON carries the desired-hash annotation.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    /// Its kind.
    pub kind: ChildKind,
    /// Its name.
    pub name: String,
    /// The object to apply.
    pub object: Value,
}

/// The children as objects to apply, in apply order, each stamped with its hash.
pub fn desired_objects(children: &Children) -> Result<Vec<Desired>, serde_json::Error> {
    Ok(children
        .objects()?
        .into_iter()
        .map(|(kind, object)| stamp(kind, object))
        .collect())
}

/// Adds the desired-hash annotation, computed over the object without it.
pub fn stamp(kind: ChildKind, mut object: Value) -> Desired {
    let hash = object_hash(&object);
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(map) = annotations.as_object_mut() {
            map.insert(ANNOTATION_DESIRED_HASH.to_string(), Value::String(hash));
        }
    }
    Desired { kind, name, object }
}

fn object_hash(object: &Value) -> String {
    // serde_json's maps are ordered by key, so the text is canonical.
    let digest = Sha256::digest(object.to_string().as_bytes());
    digest.iter().take(10).map(|b| format!("{b:02x}")).collect()
}

/// Whose object is this?
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// Ours: controlled by this StatelessService, or labelled for it and controlled by nobody
    /// (a retained claim, or a child orphaned by `--cascade=orphan`), which is re-adopted.
    Ours,
    /// Someone else's; the reason says whose.
    Foreign(String),
}

/// Decides whether the object `meta` (the live object's metadata) belongs to the service.
pub fn ownership(meta: &Value, service: &str, uid: &str) -> Ownership {
    let controller = meta
        .get("ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|r| r.get("controller") == Some(&Value::Bool(true)));
    if let Some(owner) = controller {
        let field = |k: &str| owner.get(k).and_then(Value::as_str).unwrap_or("?");
        return if field("uid") == uid {
            Ownership::Ours
        } else {
            Ownership::Foreign(format!(
                "it is controlled by {} {} (uid {})",
                field("kind"),
                field("name"),
                field("uid")
            ))
        };
    }
    let label = |k: &str| {
        meta.pointer(&format!("/labels/{}", k.replace('/', "~1")))
            .and_then(Value::as_str)
    };
    if label(LABEL_MANAGED_BY) == Some(MANAGER) && label(LABEL_SERVICE) == Some(service) {
        Ownership::Ours
    } else {
        Ownership::Foreign(
            "it was not created by stateless-operator for this StatelessService".to_string(),
        )
    }
}

/// One write to make.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Server-side apply (creates or updates).
    Apply(Desired),
    /// Strip contract violations (from the Deployment, the one kind that has them).
    RemoveViolations {
        /// The child's kind.
        kind: ChildKind,
        /// Its name.
        name: String,
        /// What to remove.
        violations: Vec<Violation>,
    },
    /// Apply only the Deployment's `spec.replicas` with the hand-over field manager, so that it
    /// stays owned when the main apply stops sending it (see [`crate::children::autoscaler`]).
    HandOverReplicas {
        /// The Deployment's name.
        name: String,
        /// The count to keep.
        replicas: i32,
    },
    /// Delete a child that is no longer wanted (of a kind deleted when unwanted: the
    /// PodDisruptionBudget).
    Delete {
        /// Its kind.
        kind: ChildKind,
        /// Its name.
        name: String,
    },
}

impl Step {
    /// The kind of child the step writes.
    pub fn kind(&self) -> ChildKind {
        match self {
            Step::Apply(d) => d.kind,
            Step::HandOverReplicas { .. } => ChildKind::Deployment,
            Step::RemoveViolations { kind, .. } | Step::Delete { kind, .. } => *kind,
        }
    }
}

/// The writes one reconcile needs, or why none may be made.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Writes, in order.
    pub steps: Vec<Step>,
    /// Children whose names are held by objects that are not ours; when any, `steps` is empty.
    pub conflicts: Vec<String>,
}

/// Plans the writes: `observed` maps each kind to the live object (JSON), when one exists.
pub fn plan(
    desired: Vec<Desired>,
    observed: &BTreeMap<ChildKind, Value>,
    service: &str,
    uid: &str,
) -> Plan {
    let mut plan = Plan::default();
    for d in &desired {
        let Some(live) = observed.get(&d.kind) else {
            continue;
        };
        if let Ownership::Foreign(reason) = ownership(&live["metadata"], service, uid) {
            plan.conflicts
                .push(format!("{} {}: {reason}", d.kind.as_str(), d.name));
        }
    }
    if !plan.conflicts.is_empty() {
        return plan;
    }
    let wanted: Vec<ChildKind> = desired.iter().map(|d| d.kind).collect();
    let initial = handover::initial_replicas(
        desired
            .iter()
            .find(|d| d.kind == ChildKind::Autoscaler)
            .map(|d| &d.object),
    );
    for d in desired {
        let hand_over = (d.kind == ChildKind::Deployment)
            .then(|| hand_over(&d.object, observed.get(&d.kind), initial))
            .flatten()
            .map(|h| {
                let step = Step::HandOverReplicas {
                    name: d.name.clone(),
                    replicas: h.replicas,
                };
                (step, h.before_apply)
            });
        match observed.get(&d.kind) {
            None => {
                plan.steps.push(Step::Apply(d));
                plan.steps.extend(hand_over.map(|(step, _)| step));
            }
            Some(live) => {
                let kind = d.kind;
                let violations = kind.entry().violations(&d.object, live);
                let name = d.name.clone();
                if needs_apply(kind, &d.object, live) {
                    plan.steps
                        .extend(hand_over.filter(|(_, before)| *before).map(|(s, _)| s));
                    plan.steps.push(Step::Apply(d));
                }
                if !violations.is_empty() {
                    plan.steps.push(Step::RemoveViolations {
                        kind,
                        name,
                        violations,
                    });
                }
            }
        }
    }
    // Children of ours the spec no longer wants go, where their kind says so (a budget with
    // fewer than two replicas would block every drain); others, like data, stay.
    // A kind that must stop acting first (the autoscaler, before the Deployment takes its
    // replicas back) is deleted before anything is applied.
    let mut first = Vec::new();
    for entry in REGISTRY.iter().filter(|e| e.delete_when_unwanted()) {
        let kind = entry.kind();
        if !wanted.contains(&kind)
            && let Some(live) = observed.get(&kind)
            && ownership(&live["metadata"], service, uid) == Ownership::Ours
        {
            let step = Step::Delete {
                kind,
                name: live
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or(service)
                    .to_string(),
            };
            if entry.delete_before_apply() {
                first.push(step);
            } else {
                plan.steps.push(step);
            }
        }
    }
    if !first.is_empty() {
        first.append(&mut plan.steps);
        plan.steps = first;
    }
    plan
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "labels": {"a": "b"}},
            "spec": {
                "replicas": 2,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "template": {"spec": {
                    "containers": [{
                        "name": "app", "image": "x",
                        "args": ["--a", "--b"],
                        "resources": {"requests": {"cpu": "0.5", "memory": "1Gi"}},
                        "volumeMounts": [{"name": "scratch", "mountPath": "/tmp"}],
                        "securityContext": {"readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}}
                    }],
                    "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "64Mi"}}]
                }}
            }
        })
    }

    /// What a server returns: defaults added, quantities canonicalised, our annotation kept.
    pub(crate) fn live_of(desired: &Value) -> Value {
        let mut live = desired.clone();
        live["metadata"]["uid"] = json!("u1");
        live["metadata"]["resourceVersion"] = json!("7");
        live["spec"]["revisionHistoryLimit"] = json!(10);
        let c = &mut live["spec"]["template"]["spec"]["containers"][0];
        c["terminationMessagePath"] = json!("/dev/termination-log");
        c["resources"]["requests"]["cpu"] = json!("500m");
        c["resources"]["requests"]["memory"] = json!("1024Mi");
        live
    }

    #[test]
    fn ownership_rules() {
        let owned = json!({"ownerReferences": [{"kind": "StatelessService", "name": "web", "uid": "u1", "controller": true}]});
        assert_eq!(ownership(&owned, "web", "u1"), Ownership::Ours);
        assert!(
            matches!(ownership(&owned, "web", "u2"), Ownership::Foreign(r) if r.contains("uid u1"))
        );
        let labelled = json!({"labels": {LABEL_MANAGED_BY: MANAGER, LABEL_SERVICE: "web"}});
        assert_eq!(
            ownership(&labelled, "web", "u1"),
            Ownership::Ours,
            "re-adopted"
        );
        assert!(matches!(
            ownership(&labelled, "other", "u1"),
            Ownership::Foreign(_)
        ));
        assert!(matches!(
            ownership(&json!({}), "web", "u1"),
            Ownership::Foreign(_)
        ));
    }

    fn child(kind: ChildKind, name: &str) -> Desired {
        stamp(
            kind,
            json!({"metadata": {"name": name, "ownerReferences": [{"uid": "u1", "controller": true}]}, "data": {"k": "v"}}),
        )
    }

    #[test]
    fn plan_creates_what_is_missing_and_skips_what_matches() {
        let cm = child(ChildKind::ConfigMap, "web-config");
        let secret = child(ChildKind::Secret, "web-secret");
        let observed = BTreeMap::from([(ChildKind::ConfigMap, cm.object.clone())]);
        let plan = plan(vec![cm, secret.clone()], &observed, "web", "u1");
        assert_eq!(plan.steps, vec![Step::Apply(secret)]);
        assert!(plan.conflicts.is_empty());
    }

    #[test]
    fn plan_writes_nothing_when_a_name_is_taken() {
        let cm = child(ChildKind::ConfigMap, "web-config");
        let secret = child(ChildKind::Secret, "web-secret");
        let observed = BTreeMap::from([(
            ChildKind::Secret,
            json!({"metadata": {"name": "web-secret"}}),
        )]);
        let plan = plan(vec![cm, secret], &observed, "web", "u1");
        assert!(plan.steps.is_empty());
        assert_eq!(plan.conflicts.len(), 1);
        assert!(plan.conflicts[0].starts_with("Secret web-secret: "));
    }

    #[test]
    fn plan_deletes_an_unwanted_budget_of_ours_only() {
        let ours = json!({"metadata": {"name": "web", "ownerReferences": [{"uid": "u1", "controller": true}]}});
        let plan1 = plan(
            vec![],
            &BTreeMap::from([(ChildKind::DisruptionBudget, ours)]),
            "web",
            "u1",
        );
        assert_eq!(
            plan1.steps,
            vec![Step::Delete {
                kind: ChildKind::DisruptionBudget,
                name: "web".into()
            }]
        );
        let theirs = json!({"metadata": {"name": "web"}});
        let plan2 = plan(
            vec![],
            &BTreeMap::from([(ChildKind::DisruptionBudget, theirs)]),
            "web",
            "u1",
        );
        assert!(plan2.steps.is_empty());
    }

    fn owned(kind: ChildKind, object: Value) -> Desired {
        let mut object = object;
        object["metadata"]["ownerReferences"] = json!([{"uid": "u1", "controller": true}]);
        stamp(kind, object)
    }

    #[test]
    fn switching_autoscaling_on_hands_replicas_over_before_the_deployment_apply() {
        use crate::children::autoscaler::{ANNOTATION_REPLICAS_OWNER, AUTOSCALER};
        let live = owned(
            ChildKind::Deployment,
            json!({"metadata": {"name": "web"}, "spec": {"replicas": 3}}),
        );
        let desired = owned(
            ChildKind::Deployment,
            json!({"metadata": {"name": "web", "annotations": {ANNOTATION_REPLICAS_OWNER: AUTOSCALER}}, "spec": {}}),
        );
        let hpa = owned(
            ChildKind::Autoscaler,
            json!({"metadata": {"name": "web"}, "spec": {"minReplicas": 2}}),
        );
        let observed = BTreeMap::from([(ChildKind::Deployment, live.object)]);
        let steps = plan(vec![desired.clone(), hpa.clone()], &observed, "web", "u1").steps;
        assert_eq!(
            steps,
            vec![
                Step::HandOverReplicas {
                    name: "web".into(),
                    replicas: 3
                },
                Step::Apply(desired.clone()),
                Step::Apply(hpa.clone()),
            ]
        );
        // Once the Deployment carries the annotation, nothing more is handed over.
        let observed = BTreeMap::from([
            (ChildKind::Deployment, desired.object.clone()),
            (ChildKind::Autoscaler, hpa.object.clone()),
        ]);
        assert!(
            plan(vec![desired.clone(), hpa.clone()], &observed, "web", "u1")
                .steps
                .is_empty()
        );
        // A Deployment being created gets minReplicas right after its create.
        let steps = plan(
            vec![desired.clone(), hpa.clone()],
            &BTreeMap::new(),
            "web",
            "u1",
        )
        .steps;
        assert_eq!(
            steps[..2],
            [
                Step::Apply(desired),
                Step::HandOverReplicas {
                    name: "web".into(),
                    replicas: 2
                }
            ]
        );
    }

    #[test]
    fn switching_autoscaling_off_deletes_the_autoscaler_before_anything_is_applied() {
        let desired = owned(
            ChildKind::Deployment,
            json!({"metadata": {"name": "web"}, "spec": {"replicas": 3}}),
        );
        let live_hpa = owned(
            ChildKind::Autoscaler,
            json!({"metadata": {"name": "web"}, "spec": {}}),
        );
        let live_pdb = owned(
            ChildKind::DisruptionBudget,
            json!({"metadata": {"name": "web"}, "spec": {}}),
        );
        let observed = BTreeMap::from([
            (ChildKind::Autoscaler, live_hpa.object),
            (ChildKind::DisruptionBudget, live_pdb.object),
        ]);
        let steps = plan(vec![desired.clone()], &observed, "web", "u1").steps;
        assert_eq!(
            steps,
            vec![
                Step::Delete {
                    kind: ChildKind::Autoscaler,
                    name: "web".into()
                },
                Step::Apply(desired),
                Step::Delete {
                    kind: ChildKind::DisruptionBudget,
                    name: "web".into()
                },
            ]
        );
    }

    #[test]
    fn stamping_is_stable_and_ignores_the_previous_stamp() {
        let a = stamp(
            ChildKind::ConfigMap,
            json!({"metadata": {"name": "x"}, "data": {"k": "v"}}),
        );
        let b = stamp(
            ChildKind::ConfigMap,
            json!({"metadata": {"name": "x"}, "data": {"k": "v"}}),
        );
        assert_eq!(a, b);
        let c = stamp(
            ChildKind::ConfigMap,
            json!({"metadata": {"name": "x"}, "data": {"k": "w"}}),
        );
        assert_ne!(
            a.object["metadata"]["annotations"],
            c.object["metadata"]["annotations"]
        );
        assert_eq!(a.name, "x");
    }
}
