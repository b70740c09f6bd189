//! The only module that writes to the cluster.
//!
//! It sends exactly the writes of a [`Plan`] (made, purely, by [`crate::planning`]):
//! server-side apply with one field manager for every child (and, once per switch to
//! autoscaling, the Deployment's replicas with the hand-over manager), a guarded JSON patch to strip what
//! breaks the statelessness contract, deletes of children no longer wanted; and status patches
//! and events. It must not decide *whether* to write (that is `planning`), build desired
//! objects (that is `build`) nor read caches (that is `observe`).

use std::collections::BTreeMap;

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Client, Resource, ResourceExt};
use serde_json::{Value, json};

use crate::children::ChildKind;
use crate::children::autoscaler::HANDOVER_MANAGER;
use crate::crd::{StatelessService, StatelessServiceStatus};
use crate::error::{Error, request};
use crate::metrics::Metrics;
use crate::planning::{Plan, Step, Violation, managers_of, removal_patch};

/// The one field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "stateless-operator";

/// What executing a plan did.
#[derive(Clone, Debug, Default)]
pub struct Executed {
    /// Objects as the API server returned them after each apply, by kind.
    pub applied: BTreeMap<ChildKind, Value>,
    /// Contract violations removed, with the kind of child they were removed from and the
    /// managers that had added them.
    pub removed: Vec<(ChildKind, Violation, Vec<String>)>,
    /// Number of write requests sent.
    pub writes: usize,
}

/// Sends writes; the only holder of a client that writes.
#[derive(Clone)]
pub struct Writer {
    client: Client,
    metrics: Metrics,
    recorder: Recorder,
}

impl Writer {
    /// A writer; `recorder` publishes the events.
    pub fn new(client: Client, metrics: Metrics, recorder: Recorder) -> Self {
        Writer {
            client,
            metrics,
            recorder,
        }
    }

    fn api(&self, kind: ChildKind, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), namespace, &kind.entry().api_resource())
    }

    /// Sends the plan's writes in order, recording each in `done`; stops at the first failure
    /// (what was done before it stays recorded, so the caller can tell progress from none).
    pub async fn execute(
        &self,
        namespace: &str,
        plan: &Plan,
        done: &mut Executed,
    ) -> Result<(), Error> {
        for step in &plan.steps {
            match step {
                Step::Apply(d) => {
                    let params = PatchParams::apply(FIELD_MANAGER).force();
                    let api = self.api(d.kind, namespace);
                    let applied = request(
                        || format!("apply {} {namespace}/{}", d.kind.as_str(), d.name),
                        api.patch(&d.name, &params, &Patch::Apply(&d.object)),
                    )
                    .await?;
                    done.writes += 1;
                    self.metrics.write(d.kind.as_str(), "apply");
                    let value =
                        serde_json::to_value(&applied).map_err(|source| Error::Serialization {
                            action: format!("read applied {}", d.kind.as_str()),
                            source,
                        })?;
                    done.applied.insert(d.kind, value);
                }
                Step::RemoveViolations {
                    kind,
                    name,
                    violations,
                } => {
                    let api = self.api(*kind, namespace);
                    let action = || {
                        format!(
                            "remove contract violations from {} {namespace}/{name}",
                            kind.as_str()
                        )
                    };
                    // Read with managedFields (the cache strips them) to name who added what.
                    let live = request(action, api.get(name)).await?;
                    let managed =
                        serde_json::to_value(live.managed_fields()).unwrap_or(Value::Null);
                    let ops = removal_patch(violations);
                    let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops))
                        .map_err(|source| Error::Serialization {
                            action: action(),
                            source,
                        })?;
                    request(
                        action,
                        api.patch(name, &update_params(), &Patch::<()>::Json(patch)),
                    )
                    .await?;
                    done.writes += 1;
                    self.metrics.write(kind.as_str(), "patch");
                    for v in violations {
                        let managers = managers_of(&managed, &v.managed_path);
                        done.removed.push((*kind, v.clone(), managers));
                    }
                }
                Step::HandOverReplicas { name, replicas } => {
                    // Only `spec.replicas`, with the hand-over manager: it becomes a co-owner
                    // of the field at the same value, so nothing changes and the field stays
                    // when the main apply stops sending it (see `children::autoscaler`).
                    let kind = ChildKind::Deployment;
                    let api = self.api(kind, namespace);
                    let resource = kind.entry().api_resource();
                    let body = json!({
                        "apiVersion": resource.api_version,
                        "kind": resource.kind,
                        "metadata": {"name": name},
                        "spec": {"replicas": replicas},
                    });
                    let params = PatchParams::apply(HANDOVER_MANAGER).force();
                    request(
                        || format!("hand over the replicas of Deployment {namespace}/{name}"),
                        api.patch(name, &params, &Patch::Apply(&body)),
                    )
                    .await?;
                    done.writes += 1;
                    self.metrics.write(kind.as_str(), "apply");
                }
                Step::Delete { kind, name } => {
                    let api = self.api(*kind, namespace);
                    let deleted = request(
                        || format!("delete {} {namespace}/{name}", kind.as_str()),
                        api.delete(name, &DeleteParams::default()),
                    )
                    .await;
                    match deleted {
                        Ok(_) => {}
                        // Already gone: the goal is reached.
                        Err(e) if e.status_code() == Some(404) => {}
                        Err(e) => return Err(e),
                    }
                    done.writes += 1;
                    self.metrics.write(kind.as_str(), "delete");
                }
            }
        }
        Ok(())
    }

    /// Writes the status through the status subresource (a merge patch of the whole status,
    /// so conditions are replaced as one list).
    pub async fn patch_status(
        &self,
        namespace: &str,
        name: &str,
        status: &StatelessServiceStatus,
    ) -> Result<(), Error> {
        let api: Api<StatelessService> = Api::namespaced(self.client.clone(), namespace);
        let patch = json!({ "status": status });
        request(
            || format!("write status of StatelessService {namespace}/{name}"),
            api.patch_status(name, &update_params(), &Patch::Merge(&patch)),
        )
        .await?;
        self.metrics.write("StatelessService-status", "patch");
        Ok(())
    }

    /// Publishes an event about the service. Events are best effort: a failure is logged and
    /// never fails the reconcile. Notes must never contain secret values.
    pub async fn event(
        &self,
        service: &StatelessService,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let event = Event {
            type_,
            reason: reason.to_string(),
            note: Some(truncate(note, 1000)),
            action: action.to_string(),
            secondary: None,
        };
        let reference = service.object_ref(&());
        match self.recorder.publish(&event, &reference).await {
            Ok(()) => self.metrics.write("Event", "create"),
            Err(e) => tracing::warn!(error = %e, reason, "could not publish event"),
        }
    }
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max.saturating_sub(3);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

/// Parameters of non-apply patches: the same field manager as apply.
fn update_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    }
}
