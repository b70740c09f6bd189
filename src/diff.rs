//! `diff`: what `run` would change, for the StatelessServices in a file, against the live
//! cluster — the preview a GitOps pipeline wants before it syncs.
//!
//! It runs the controller's own steps (validate, read observed, build, plan) without the
//! writer, so the preview cannot disagree with what the controller does. It only reads, and
//! never prints a secret value.

use std::fmt::Write as _;

use kube::api::Api;
use kube::{Client, ResourceExt};
use serde_json::Value;

use crate::build::{self, OsRandom};
use crate::children::ChildKind;
use crate::controller;
use crate::crd::StatelessService;
use crate::error::{Error, request};
use crate::observe::Observed;
use crate::planning::{self, Step};
use crate::references::References;
use crate::validate;

/// The preview for one StatelessService.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceDiff {
    /// `namespace/name`.
    pub service: String,
    /// Lines describing each change (empty: nothing would change).
    pub changes: Vec<String>,
}

/// Computes what `run` would write for each service.
pub async fn diff(
    client: &Client,
    services: &[StatelessService],
) -> Result<Vec<ServiceDiff>, Error> {
    let mut out = Vec::new();
    for service in services {
        out.push(diff_one(client, service).await?);
    }
    Ok(out)
}

async fn diff_one(client: &Client, file: &StatelessService) -> Result<ServiceDiff, Error> {
    let namespace = file
        .namespace()
        .unwrap_or_else(|| client.default_namespace().to_string());
    let name = file.name_any();
    let mut result = ServiceDiff {
        service: format!("{namespace}/{name}"),
        changes: Vec::new(),
    };
    let api: Api<StatelessService> = Api::namespaced(client.clone(), &namespace);
    let live = request(
        || format!("read StatelessService {namespace}/{name}"),
        api.get_opt(&name),
    )
    .await?;
    if file.spec.paused {
        return Ok(result);
    }
    // The children's ownerReferences need the uid of the live object, when there is one.
    let mut service = file.clone();
    service.metadata.namespace = Some(namespace.clone());
    service.metadata.uid = live.as_ref().and_then(|l| l.uid());
    let valid = match validate::validate(&service) {
        Ok(valid) => valid,
        Err(errors) => {
            result
                .changes
                .push(format!("! invalid: {}", validate::summarize(&errors)));
            return Ok(result);
        }
    };
    if live.is_none() {
        result.changes.push(format!(
            "+ create StatelessService {namespace}/{name} (its children follow once it exists)"
        ));
    }
    let observed = Observed::read_all(client, &namespace, &name).await?;
    // No watch here: every referenced object is read once, as a restarted controller would.
    let resolved = References::new()
        .resolve(client, &namespace, &service.spec)
        .await?;
    let mut inputs = observed.build_inputs();
    inputs.external = &resolved.digests;
    let children = build::build(valid, &inputs, &mut OsRandom);
    for missing in &resolved.missing {
        result.changes.push(format!(
            "! missing: {missing}; run holds the Deployment and reports ReferenceMissing"
        ));
    }
    let uid = service.metadata.uid.clone().unwrap_or_default();
    let (mut plan, live_children) =
        controller::plan_writes(&children, &observed, &name, &uid, &[])?;
    if !resolved.missing.is_empty() {
        planning::hold(&mut plan, ChildKind::Deployment);
    }
    for conflict in &plan.conflicts {
        result.changes.push(format!(
            "! conflict: {conflict}; run leaves it untouched and reports NameConflict"
        ));
    }
    for step in &plan.steps {
        result
            .changes
            .push(describe(step, &namespace, live_children.get(&step.kind())));
    }
    Ok(result)
}

fn describe(step: &Step, namespace: &str, live: Option<&Value>) -> String {
    match step {
        Step::Apply(d) => {
            let Some(live) = live else {
                return format!("+ create {} {namespace}/{}", d.kind.as_str(), d.name);
            };
            let mut text = format!("~ update {} {namespace}/{}", d.kind.as_str(), d.name);
            let rules = d.kind.entry();
            let differences = rules.differences(&d.object, live);
            if differences.is_empty() {
                text.push_str(
                    "\n    (the spec changed: fields the operator no longer sets are removed)",
                );
            }
            for diff in differences {
                let shown = |v: Option<&Value>| match v {
                    // Secret values are never printed, whichever side they are on.
                    _ if rules.hides_values() => "(hidden)".to_string(),
                    None => "(absent)".to_string(),
                    Some(v) => short(v),
                };
                let _ = write!(
                    text,
                    "\n    {}: {} -> {}",
                    diff.path,
                    shown(diff.live.as_ref()),
                    shown(Some(&diff.desired))
                );
            }
            text
        }
        Step::RemoveViolations {
            kind,
            name,
            violations,
        } => violations
            .iter()
            .map(|v| {
                format!(
                    "! remove {} from {} {namespace}/{name} (breaks the statelessness contract)",
                    v.what,
                    kind.as_str()
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Step::Delete { kind, name } => format!("- delete {} {namespace}/{name}", kind.as_str()),
        Step::HandOverReplicas { name, replicas } => format!(
            "~ hand over Deployment {namespace}/{name} spec.replicas ({replicas}) to the autoscaler (field manager {})",
            crate::children::autoscaler::HANDOVER_MANAGER
        ),
    }
}

/// A value on one line, cut at 80 characters.
fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 80 {
        format!("{}...", text.chars().take(77).collect::<String>())
    } else {
        text
    }
}

/// The preview as text.
pub fn format(diffs: &[ServiceDiff]) -> String {
    let mut out = String::new();
    for d in diffs {
        if d.changes.is_empty() {
            let _ = writeln!(out, "StatelessService {}: no changes", d.service);
        } else {
            let _ = writeln!(out, "StatelessService {}:", d.service);
            for change in &d.changes {
                let _ = writeln!(out, "  {change}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::children::ChildKind;
    use crate::planning;
    use serde_json::json;

    #[test]
    fn secret_values_are_hidden_and_others_shown() {
        let desired = planning::stamp(
            ChildKind::Secret,
            json!({"metadata": {"name": "s"}, "data": {"k": "c2VjcmV0"}}),
        );
        let live = json!({"metadata": {"name": "s"}, "data": {"k": "b3RoZXI="}});
        let text = describe(&Step::Apply(desired), "ns", Some(&live));
        assert!(text.contains("data.k: (hidden) -> (hidden)"), "{text}");
        assert!(
            !text.contains("c2VjcmV0") && !text.contains("b3RoZXI="),
            "{text}"
        );

        let desired = planning::stamp(
            ChildKind::ConfigMap,
            json!({"metadata": {"name": "c"}, "data": {"k": "new"}}),
        );
        let live = json!({"metadata": {"name": "c"}, "data": {"k": "old"}});
        let text = describe(&Step::Apply(desired), "ns", Some(&live));
        assert!(text.starts_with("~ update ConfigMap ns/c"), "{text}");
        assert!(text.contains("data.k: \"old\" -> \"new\""), "{text}");
    }

    #[test]
    fn creates_deletes_and_long_values() {
        let desired = planning::stamp(ChildKind::Deployment, json!({"metadata": {"name": "web"}}));
        assert_eq!(
            describe(&Step::Apply(desired), "ns", None),
            "+ create Deployment ns/web"
        );
        let delete = Step::Delete {
            kind: ChildKind::DisruptionBudget,
            name: "web".into(),
        };
        assert_eq!(
            describe(&delete, "ns", None),
            "- delete PodDisruptionBudget ns/web"
        );
        assert_eq!(short(&json!("x".repeat(200))).chars().count(), 80);
    }

    #[test]
    fn format_says_no_changes() {
        let text = format(&[ServiceDiff {
            service: "a/b".into(),
            changes: vec![],
        }]);
        assert_eq!(text, "StatelessService a/b: no changes\n");
    }
}
