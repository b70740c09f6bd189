//! One reconcile of one StatelessService: the pipeline validate -> read observed -> build ->
//! plan and apply -> status, the write step, the status write with its events, and the
//! backoff after an error. It calls the pure steps and the one writer; it builds and diffs
//! nothing itself, and knows nothing of watches or caches (the parent module wires those).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::core::error_boundary::InvalidObject;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use rand::RngExt;
use serde_json::Value;

use crate::apply;
use crate::build::{self, LABEL_SERVICE, OsRandom};
use crate::children::{ChildKind, autoscaler, claim};
use crate::crd::conditions::{READY, STALLED};
use crate::crd::{StatelessService, StatelessServiceStatus};
use crate::error::Error;
use crate::observe::Observed;
use crate::planning;
use crate::served;
use crate::status::{self, Outcome};
use crate::validate;

use super::{Cache, Context, Guarded};

/// The pipeline for one StatelessService: validate -> read observed -> build -> plan and
/// apply -> status.
pub async fn reconcile(guarded: Arc<Guarded>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_started();
    let service = match &guarded.0 {
        Ok(service) => service,
        Err(invalid) => return report_malformed(invalid, &ctx).await,
    };
    if service.metadata.deletion_timestamp.is_some() {
        // Children go with it through ownerReferences; a retained claim stays.
        return Ok(Action::await_change());
    }
    let namespace = service
        .namespace()
        .ok_or(Error::MissingField("namespace"))?;
    let name = service.name_any();
    let uid = service.uid().ok_or(Error::MissingField("uid"))?;
    // Caches first: deciding from a half-filled cache would cost a read per child.
    ctx.synced
        .clone()
        .wait_for(|m| *m == Cache::ALL)
        .await
        .map_err(|_| Error::ShuttingDown)?;
    let mut observed = Observed::from_stores(&ctx.stores, &namespace, &name);
    if service.spec.paused {
        return finish(&ctx, service, &observed, None, Outcome::Paused).await;
    }

    let valid = match validate::validate(service) {
        Ok(valid) => valid,
        Err(errors) => {
            let outcome = Outcome::Invalid(validate::summarize(&errors));
            return finish(&ctx, service, &observed, None, outcome).await;
        }
    };
    // Kinds whose API is not served are left out (no read, no write) and reported; discovery
    // is asked again (at most once per TTL) while a service wants one.
    let mut missing = ctx.served.missing(&service.spec);
    if !missing.is_empty() {
        ctx.served.recheck(&ctx.client, &missing).await;
        missing = ctx.served.missing(&service.spec);
    }
    observed
        .confirm(&ctx.client, &namespace, &name, &service.spec, &missing)
        .await?;
    let resolved = ctx
        .references
        .resolve(&ctx.client, &namespace, &service.spec)
        .await?;
    let mut inputs = observed.build_inputs();
    inputs.external = &resolved.digests;
    let children = build::build(valid, &inputs, &mut OsRandom);
    let (mut plan, _) = plan_writes(&children, &observed, &name, &uid, &missing)?;
    if !resolved.missing.is_empty() {
        // Pods that cannot start are worse than pods with an old template.
        planning::hold(&mut plan, ChildKind::Deployment);
    }
    if !plan.conflicts.is_empty() {
        let outcome = Outcome::NameConflict(format!(
            "children's names are taken by objects stateless-operator does not own, which it leaves untouched: {}",
            plan.conflicts.join("; ")
        ));
        return finish(&ctx, service, &observed, None, outcome).await;
    }
    let executed = match execute(&ctx, service, &namespace, &plan).await? {
        Ok(executed) => executed,
        Err(rejected) => return finish(&ctx, service, &observed, None, rejected).await,
    };
    observed.refresh(&executed);
    if !resolved.missing.is_empty() {
        let outcome = Outcome::ReferenceMissing(resolved.missing.join("; "));
        return finish(&ctx, service, &observed, None, outcome).await;
    }
    let outcome = if missing.is_empty() {
        Outcome::Applied {
            wrote: executed.writes > 0,
        }
    } else {
        Outcome::ApiNotServed(served::not_served_message(&missing))
    };
    finish(&ctx, service, &observed, children.config_hash(), outcome).await
}

/// The writes that bring the observed children to the desired ones (leaving out the kinds in
/// `skip`, whose API is not served), with the observed children as JSON (what the plan was
/// made against; `diff` shows it).
pub fn plan_writes(
    children: &build::Children,
    observed: &Observed,
    name: &str,
    uid: &str,
    skip: &[ChildKind],
) -> Result<(planning::Plan, BTreeMap<ChildKind, Value>), Error> {
    let serialization = |what: &str| {
        let action = format!("serialize the {what} children");
        move |source| Error::Serialization { action, source }
    };
    let mut desired = planning::desired_objects(children).map_err(serialization("desired"))?;
    desired.retain(|d| !skip.contains(&d.kind));
    let live = observed.as_json().map_err(serialization("observed"))?;
    Ok((planning::plan(desired, &live, name, uid), live))
}

/// Sends the plan's writes and reports what they did. `Ok(Err(outcome))`: the API server
/// rejected a write (a human must act); `Err`: a transient failure, retried with backoff.
async fn execute(
    ctx: &Context,
    service: &StatelessService,
    namespace: &str,
    plan: &planning::Plan,
) -> Result<Result<apply::Executed, Outcome>, Error> {
    let name = service.name_any();
    let mut executed = apply::Executed::default();
    if let Err(e) = ctx.writer.execute(namespace, plan, &mut executed).await {
        if e.needs_human() {
            return Ok(Err(Outcome::Rejected(e.to_string())));
        }
        if executed.writes > 0 {
            // Some writes went through: backoff is for making no progress, so start it afresh.
            ctx.forget_failures(namespace, &name);
        }
        return Err(e);
    }
    for (kind, violation, managers) in &executed.removed {
        let by = if managers.is_empty() {
            "an unknown field manager".to_string()
        } else {
            format!("field manager {}", managers.join(", "))
        };
        tracing::warn!(service = %name, %namespace, what = %violation.what, by = %by, "removed a contract violation");
        let note = format!(
            "removed {} from {} {name}, added by {by}: it breaks the statelessness contract",
            violation.what,
            kind.as_str()
        );
        ctx.writer
            .event(
                service,
                EventType::Warning,
                "ContractEnforced",
                "RemoveViolation",
                note,
            )
            .await;
    }
    if executed.writes > 0 {
        let kinds: Vec<&str> = plan.steps.iter().map(|s| s.kind().as_str()).collect();
        tracing::info!(service = %name, %namespace, writes = executed.writes, kinds = ?kinds, "applied children");
    }
    Ok(Ok(executed))
}

/// Computes and writes the status (only when it changed), publishes events on transitions,
/// and decides when to look again.
async fn finish(
    ctx: &Context,
    service: &StatelessService,
    observed: &Observed,
    config_hash: Option<String>,
    outcome: Outcome,
) -> Result<Action, Error> {
    let previous = service.status.as_ref();
    let has_storage = service.spec.storage.is_some();
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let deployment = observed.deployment.as_deref();
    let reported_desired =
        autoscaler::desired_replicas(&service.spec, observed.autoscaler.as_deref(), deployment);
    // Under autoscaling the Deployment is ready at whatever count the autoscaler last set.
    let ready_at = match &service.spec.autoscaling {
        Some(_) => deployment
            .and_then(|d| d.spec.replicas)
            .unwrap_or(reported_desired),
        None => service.spec.replicas,
    };
    let inputs = status::Inputs {
        generation: service.metadata.generation,
        previous,
        now: now.clone(),
        desired_replicas: ready_at,
        reported_desired,
        label_selector: format!("{LABEL_SERVICE}={}", service.name_any()),
        deployment,
        claim_name: has_storage.then(|| claim::name(&service.name_any())),
        claim: observed.claim.as_deref(),
        config_hash: config_hash.or_else(|| previous.and_then(|p| p.config_hash.clone())),
        outcome: outcome.clone(),
    };
    let new = status::compute(&inputs);
    if status::worth_writing(previous, &new, &now) {
        let namespace = service
            .namespace()
            .ok_or(Error::MissingField("namespace"))?;
        ctx.writer
            .patch_status(&namespace, &service.name_any(), &new)
            .await?;
        announce_transitions(ctx, service, previous, &new).await;
    }
    ctx.forget_failures(
        &service.namespace().unwrap_or_default(),
        &service.name_any(),
    );
    let ready = new
        .conditions
        .iter()
        .any(|c| c.type_ == READY && c.status == "True");
    Ok(match outcome {
        // Only a new spec can fix these; the watch delivers it.
        Outcome::Invalid(_) => Action::await_change(),
        // Foreign objects are not watched (they lack our label): look again later.
        Outcome::NameConflict(_) => Action::requeue(Duration::from_secs(60)),
        Outcome::Rejected(_) => Action::requeue(Duration::from_secs(300)),
        // Discovery is asked again when the answer is older than its TTL.
        Outcome::ApiNotServed(_) => {
            Action::requeue(served::RECHECK_TTL + jittered(Duration::from_secs(1)))
        }
        // The watch of referenced objects delivers their creation; this is a fallback.
        Outcome::ReferenceMissing(_) => Action::requeue(Duration::from_secs(60)),
        Outcome::Paused => Action::requeue(jittered(ctx.settings.resync)),
        Outcome::Applied { .. } if ready => Action::requeue(jittered(ctx.settings.resync)),
        // Deployment and claim status changes arrive through the watches; this is a fallback.
        Outcome::Applied { .. } => Action::requeue(Duration::from_secs(60)),
    })
}

/// Events for the transitions people care about; never on an unchanged status (so a re-sync
/// of a converged service publishes nothing).
async fn announce_transitions(
    ctx: &Context,
    service: &StatelessService,
    previous: Option<&StatelessServiceStatus>,
    new: &StatelessServiceStatus,
) {
    let find = |s: Option<&StatelessServiceStatus>, t: &str| {
        s.and_then(|s| s.conditions.iter().find(|c| c.type_ == t).cloned())
    };
    if let Some(stalled) = find(Some(new), STALLED).filter(|c| c.status == "True") {
        let before = find(previous, STALLED);
        let same = before.is_some_and(|b| {
            b.status == "True" && b.reason == stalled.reason && b.message == stalled.message
        });
        if !same {
            ctx.writer
                .event(
                    service,
                    EventType::Warning,
                    &stalled.reason,
                    "Reconcile",
                    stalled.message.clone(),
                )
                .await;
        }
    }
    let was_ready = find(previous, READY).is_some_and(|c| c.status == "True");
    if let Some(ready) = find(Some(new), READY).filter(|c| c.status == "True")
        && !was_ready
    {
        ctx.writer
            .event(
                service,
                EventType::Normal,
                "Ready",
                "Reconcile",
                ready.message.clone(),
            )
            .await;
    }
}

/// A StatelessService that could not be deserialized: said on the object itself (status and a
/// Warning event), while the controller goes on with every other object.
async fn report_malformed(invalid: &InvalidObject, ctx: &Context) -> Result<Action, Error> {
    let meta = &invalid.metadata;
    let (Some(namespace), Some(name)) = (meta.namespace.clone(), meta.name.clone()) else {
        return Ok(Action::await_change());
    };
    tracing::warn!(service = %name, namespace = %namespace, error = %invalid.error, "StatelessService cannot be read");
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let status = status::malformed(meta.generation, &invalid.error, now);
    ctx.writer.patch_status(&namespace, &name, &status).await?;
    Ok(Action::await_change())
}

/// Retry policy: capped exponential backoff with jitter per object; throttling waits longer.
pub fn error_policy(guarded: Arc<Guarded>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_failed(error.category());
    if matches!(error.category(), "transport" | "timeout") {
        ctx.unreachable.notify_one();
    }
    let key = (guarded.namespace().unwrap_or_default(), guarded.name_any());
    let attempt = match ctx.failures.lock() {
        Ok(mut failures) => {
            let n = failures.entry(key).or_insert(0);
            *n = n.saturating_add(1);
            *n
        }
        Err(_) => 1,
    };
    let delay = backoff(error.minimum_backoff(), attempt);
    tracing::warn!(error = %error, category = error.category(), attempt, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// `base * 2^(attempt-1)`, capped at five minutes, with ±20 % jitter so that many objects
/// failing together do not retry together.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    jittered(exp.min(Duration::from_secs(300)))
}

pub(super) fn jittered(d: Duration) -> Duration {
    let factor = rand::rng().random_range(0.8..1.2);
    d.mul_f64(factor)
}
