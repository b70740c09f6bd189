//! The pure status step: what was applied and observed becomes the StatelessService's status.
//!
//! Conditions follow kstatus, so `kubectl wait --for=condition=Ready`, Flux and Argo CD can read
//! them: `Ready` (the Deployment has rolled out the current template with every replica
//! available, and the claim is Bound), `Reconciling` (working towards the spec) and `Stalled`
//! (stuck on something that needs a human). Each carries `observedGeneration`; a condition keeps
//! its `lastTransitionTime` while its status does not change, so an unchanged world yields an
//! identical status and no write. This module does no I/O.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::crd::conditions::{READY, RECONCILING, STALLED};
use crate::crd::{StatelessServiceStatus, StorageStatus};

/// How the reconcile went, as far as status is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The children match the spec (possibly after writes made in this pass).
    Applied {
        /// True when this pass wrote something: the observed state is then already stale.
        wrote: bool,
    },
    /// `spec.paused`: nothing was written.
    Paused,
    /// The spec is invalid; the message lists every problem.
    Invalid(String),
    /// A child's name is held by an object that is not ours.
    NameConflict(String),
    /// The API server rejected a write; retrying will not help.
    Rejected(String),
    /// Everything else was applied, but a kind the spec wants is not served by the cluster;
    /// the message names the API.
    ApiNotServed(String),
    /// A referenced ConfigMap or Secret (`config.from`, `secret.from`) does not exist: the
    /// Deployment was not changed; the message names every missing object.
    ReferenceMissing(String),
}

/// Everything status is computed from.
#[derive(Clone, Debug)]
pub struct Inputs<'a> {
    /// `metadata.generation` of the StatelessService.
    pub generation: Option<i64>,
    /// The status as it is now (for transition times).
    pub previous: Option<&'a StatelessServiceStatus>,
    /// The time to stamp on conditions that change.
    pub now: Time,
    /// The replicas the Deployment must run for Ready: `spec.replicas`, or with autoscaling
    /// the Deployment's own count.
    pub desired_replicas: i32,
    /// `status.desiredReplicas`: `spec.replicas` or the autoscaler's choice.
    pub reported_desired: i32,
    /// `status.labelSelector`: the pods' selector, for the scale subresource.
    pub label_selector: String,
    /// The freshest Deployment known (the apply response, else the cache).
    pub deployment: Option<&'a Deployment>,
    /// The claim's name when the spec has storage.
    pub claim_name: Option<String>,
    /// The freshest claim known.
    pub claim: Option<&'a PersistentVolumeClaim>,
    /// The config hash of the pod template.
    pub config_hash: Option<String>,
    /// How the reconcile went.
    pub outcome: Outcome,
}

/// Why the rollout is not complete yet, or `None` when it is.
fn rollout_pending(deployment: Option<&Deployment>, desired: i32) -> Option<String> {
    let Some(d) = deployment else {
        return Some("the Deployment does not exist yet".to_string());
    };
    let status = d.status.clone().unwrap_or_default();
    let generation = d.metadata.generation.unwrap_or(0);
    if status.observed_generation.unwrap_or(0) < generation {
        return Some("the Deployment controller has not seen the current template yet".to_string());
    }
    if d.spec.replicas.unwrap_or(1) != desired {
        return Some(format!(
            "the Deployment does not ask for {desired} replicas yet"
        ));
    }
    let updated = status.updated_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    if updated < desired {
        return Some(format!(
            "{updated} of {desired} pods run the current template"
        ));
    }
    if total > updated {
        return Some(format!(
            "{} old pods are still terminating",
            total - updated
        ));
    }
    if available < desired {
        return Some(format!("{available} of {desired} pods are available"));
    }
    None
}

/// The Deployment's own verdict that its rollout is stuck, if it gave one.
fn rollout_stuck(deployment: Option<&Deployment>) -> Option<String> {
    let conditions = deployment?.status.as_ref()?.conditions.as_ref()?;
    conditions
        .iter()
        .find(|c| {
            c.type_.as_deref() == Some("Progressing")
                && c.status.as_deref() == Some("False")
                && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        })
        .map(|c| {
            format!(
                "the rollout exceeded its progress deadline: {}",
                c.message.clone().unwrap_or_default()
            )
        })
}

fn claim_pending(
    claim_name: Option<&str>,
    claim: Option<&PersistentVolumeClaim>,
) -> Option<String> {
    let name = claim_name?;
    let phase = claim
        .and_then(|c| c.status.as_ref())
        .and_then(|s| s.phase.clone());
    match phase.as_deref() {
        Some("Bound") => None,
        Some(p) => Some(format!("claim {name} is {p}")),
        None => Some(format!("claim {name} is not bound yet")),
    }
}

/// One condition, keeping its transition time when its status is unchanged.
fn condition(
    inputs: &Inputs<'_>,
    type_: &str,
    value: bool,
    reason: &str,
    message: String,
) -> Condition {
    let status = if value { "True" } else { "False" };
    let previous = inputs
        .previous
        .and_then(|p| p.conditions.iter().find(|c| c.type_ == type_));
    let last_transition_time = match previous {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => inputs.now.clone(),
    };
    Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message,
        observed_generation: inputs.generation,
        last_transition_time,
    }
}

/// Computes the status.
pub fn compute(inputs: &Inputs<'_>) -> StatelessServiceStatus {
    let desired = inputs.desired_replicas;
    let pending = rollout_pending(inputs.deployment, desired)
        .or_else(|| claim_pending(inputs.claim_name.as_deref(), inputs.claim));
    let stuck = rollout_stuck(inputs.deployment).or_else(|| {
        let phase = inputs
            .claim
            .and_then(|c| c.status.as_ref())
            .and_then(|s| s.phase.as_deref());
        (phase == Some("Lost")).then(|| {
            format!(
                "claim {} lost its volume: its data is gone and a human must restore it",
                inputs.claim_name.clone().unwrap_or_default()
            )
        })
    });

    // (ready, reconciling, stalled) as (status, reason, message).
    let (ready, reconciling, stalled) = match &inputs.outcome {
        Outcome::Invalid(msg) => (
            (false, "InvalidSpec", format!("the spec is invalid: {msg}")),
            (
                false,
                "InvalidSpec",
                "waiting for the spec to be fixed".to_string(),
            ),
            (true, "InvalidSpec", msg.clone()),
        ),
        Outcome::NameConflict(msg) => (
            (false, "NameConflict", msg.clone()),
            (
                false,
                "NameConflict",
                "waiting for the conflicting object to go away".to_string(),
            ),
            (true, "NameConflict", msg.clone()),
        ),
        Outcome::ApiNotServed(msg) => (
            (false, "ApiNotServed", msg.clone()),
            (
                false,
                "ApiNotServed",
                "waiting for the API to be served".to_string(),
            ),
            (true, "ApiNotServed", msg.clone()),
        ),
        Outcome::Rejected(msg) => (
            (false, "ApplyRejected", msg.clone()),
            (
                false,
                "ApplyRejected",
                "waiting for a change to the spec".to_string(),
            ),
            (true, "ApplyRejected", msg.clone()),
        ),
        Outcome::ReferenceMissing(msg) => (
            (false, "ReferenceMissing", msg.clone()),
            (
                true,
                "ReferenceMissing",
                format!("waiting for the referenced objects to exist: {msg}"),
            ),
            (
                false,
                "ReferenceMissing",
                "no error: converges once they exist".to_string(),
            ),
        ),
        Outcome::Paused => {
            let (ok, why) = match &pending {
                None => (
                    true,
                    "all replicas are available (paused: no changes are made)".to_string(),
                ),
                Some(p) => (false, format!("{p} (paused: no changes are made)")),
            };
            (
                (ok, if ok { "Available" } else { "Paused" }, why),
                (
                    false,
                    "Paused",
                    "spec.paused is true: the operator makes no changes".to_string(),
                ),
                (false, "Paused", "paused".to_string()),
            )
        }
        Outcome::Applied { wrote } => match (&stuck, &pending, wrote) {
            (Some(msg), _, _) => (
                (false, "RolloutStuck", msg.clone()),
                (false, "RolloutStuck", "waiting for a fix".to_string()),
                (true, "RolloutStuck", msg.clone()),
            ),
            (None, None, false) => (
                (
                    true,
                    "Available",
                    format!("{desired} of {desired} replicas available with the current spec"),
                ),
                (
                    false,
                    "Converged",
                    "the children match the spec".to_string(),
                ),
                (false, "Converged", "no error".to_string()),
            ),
            (None, pending, wrote) => {
                let why = match (pending, wrote) {
                    (_, true) => "applied the current spec; waiting for the rollout".to_string(),
                    (Some(p), false) => p.clone(),
                    (None, false) => String::new(),
                };
                (
                    (false, "RollingOut", why.clone()),
                    (true, "RollingOut", why),
                    (false, "Progressing", "no error".to_string()),
                )
            }
        },
    };

    let live_status = inputs
        .deployment
        .and_then(|d| d.status.clone())
        .unwrap_or_default();
    let ready_replicas = live_status.ready_replicas.unwrap_or(0);
    StatelessServiceStatus {
        observed_generation: inputs.generation,
        conditions: vec![
            condition(inputs, READY, ready.0, ready.1, ready.2),
            condition(
                inputs,
                RECONCILING,
                reconciling.0,
                reconciling.1,
                reconciling.2,
            ),
            condition(inputs, STALLED, stalled.0, stalled.1, stalled.2),
        ],
        replicas: Some(live_status.replicas.unwrap_or(0)),
        desired_replicas: Some(inputs.reported_desired),
        label_selector: Some(inputs.label_selector.clone()),
        ready_replicas: Some(ready_replicas),
        available_replicas: Some(live_status.available_replicas.unwrap_or(0)),
        replica_summary: Some(format!("{ready_replicas}/{desired}")),
        storage: inputs.claim_name.clone().map(|claim_name| StorageStatus {
            claim_name,
            phase: inputs
                .claim
                .and_then(|c| c.status.as_ref())
                .and_then(|s| s.phase.clone()),
        }),
        config_hash: inputs.config_hash.clone(),
    }
}

/// How long into a rollout progress detail alone is not written (see [`worth_writing`]).
pub const PROGRESS_QUIET: std::time::Duration = std::time::Duration::from_secs(30);

/// Whether `new` must be written over `previous` (the status on the server).
///
/// Everything a kstatus reader decides on is written at once: `observedGeneration`, each
/// condition's status, reason and `observedGeneration`, the claim's name, a lost claim and the
/// config hash. Progress detail alone (replica counts, the summary, the claim binding, and the
/// message of a condition whose status and reason stay the same) is not, during the first [`PROGRESS_QUIET`] of a rollout: a new
/// service or a spec change then costs two status writes (the new generation observed, then
/// Ready) however many steps the Deployment controller reports, and the counts are exact again
/// with the write that says Ready. A longer rollout reports its progress as it goes.
pub fn worth_writing(
    previous: Option<&StatelessServiceStatus>,
    new: &StatelessServiceStatus,
    now: &Time,
) -> bool {
    let Some(previous) = previous else {
        return true;
    };
    if previous == new {
        return false;
    }
    if decisive(previous) != decisive(new) {
        return true;
    }
    let rolling_since = new
        .conditions
        .iter()
        .find(|c| c.type_ == RECONCILING && c.status == "True")
        .map(|c| c.last_transition_time.0);
    match rolling_since {
        Some(since) => now.0.duration_since(since).unsigned_abs() >= PROGRESS_QUIET,
        // Not rolling out: counts that change mean something changed under a converged service.
        None => true,
    }
}

/// `status` without its progress detail.
fn decisive(status: &StatelessServiceStatus) -> StatelessServiceStatus {
    let mut s = status.clone();
    s.replicas = None;
    s.desired_replicas = None;
    s.ready_replicas = None;
    s.available_replicas = None;
    s.replica_summary = None;
    for c in &mut s.conditions {
        // Which referenced objects are missing is what a reader acts on, not progress detail.
        if c.reason != "ReferenceMissing" {
            c.message.clear();
        }
    }
    // A claim going from Pending to Bound is a step of the rollout like a pod becoming ready; a
    // lost claim is a decision (it also sets Stalled).
    if let Some(storage) = &mut s.storage
        && storage.phase.as_deref() != Some("Lost")
    {
        storage.phase = None;
    }
    s
}

/// The status of an object that cannot be deserialized: Stalled with reason `MalformedObject`.
/// Only observedGeneration and conditions are set; a merge patch leaves the rest as it was.
pub fn malformed(generation: Option<i64>, error: &str, now: Time) -> StatelessServiceStatus {
    let message = format!("the object cannot be read by this operator: {error}");
    let condition = |type_: &str, status: &str| Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: "MalformedObject".to_string(),
        message: message.clone(),
        observed_generation: generation,
        last_transition_time: now.clone(),
    };
    StatelessServiceStatus {
        observed_generation: generation,
        conditions: vec![
            condition(READY, "False"),
            condition(RECONCILING, "False"),
            condition(STALLED, "True"),
        ],
        ..StatelessServiceStatus::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{DeploymentCondition, DeploymentSpec, DeploymentStatus};
    use k8s_openapi::api::core::v1::PersistentVolumeClaimStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use k8s_openapi::jiff::Timestamp;

    fn rolling(ready: i32, message: &str, since: i64) -> StatelessServiceStatus {
        let c = |type_: &str, status: &str, reason: &str| Condition {
            type_: type_.to_string(),
            status: status.to_string(),
            reason: reason.to_string(),
            message: message.to_string(),
            observed_generation: Some(2),
            last_transition_time: time(since),
        };
        StatelessServiceStatus {
            observed_generation: Some(2),
            conditions: vec![
                c(READY, "False", "RollingOut"),
                c(RECONCILING, "True", "RollingOut"),
                c(STALLED, "False", "Progressing"),
            ],
            replicas: Some(3),
            ready_replicas: Some(ready),
            available_replicas: Some(ready),
            replica_summary: Some(format!("{ready}/3")),
            ..StatelessServiceStatus::default()
        }
    }

    #[test]
    fn progress_detail_alone_waits_while_decisions_are_written_at_once() {
        let first = rolling(0, "0 of 3 pods are available", 1000);
        assert!(worth_writing(None, &first, &time(1000)), "the first status");
        assert!(
            !worth_writing(Some(&first), &first.clone(), &time(1001)),
            "no change"
        );
        let step = rolling(1, "1 of 3 pods are available", 1000);
        assert!(
            !worth_writing(Some(&first), &step, &time(1005)),
            "a step of the rollout"
        );
        assert!(
            worth_writing(Some(&first), &step, &time(1030)),
            "a long rollout reports progress"
        );
        // A new generation, a condition that changes, the config hash: at once.
        let mut newer = step.clone();
        newer.observed_generation = Some(3);
        assert!(worth_writing(Some(&first), &newer, &time(1001)));
        let mut ready = step.clone();
        ready.conditions[0].status = "True".into();
        ready.conditions[0].reason = "Available".into();
        assert!(worth_writing(Some(&first), &ready, &time(1001)));
        let mut stalled = step.clone();
        stalled.conditions[2].reason = "RolloutStuck".into();
        assert!(worth_writing(Some(&first), &stalled, &time(1001)));
        let mut hashed = step.clone();
        hashed.config_hash = Some("hmac-sha256-x".into());
        assert!(worth_writing(Some(&first), &hashed, &time(1001)));
        // The claim binding is a step; the claim lost is a decision.
        let claim = |phase: &str| StorageStatus {
            claim_name: "web-data".into(),
            phase: Some(phase.into()),
        };
        let mut pending = first.clone();
        pending.storage = Some(claim("Pending"));
        let mut bound = pending.clone();
        bound.storage = Some(claim("Bound"));
        assert!(!worth_writing(Some(&pending), &bound, &time(1005)));
        let mut lost = pending.clone();
        lost.storage = Some(claim("Lost"));
        assert!(worth_writing(Some(&pending), &lost, &time(1005)));
        // Counts that change under a converged service are written.
        let mut converged = rolling(3, "3 of 3", 1000);
        converged.conditions[1].status = "False".into();
        let mut fewer = converged.clone();
        fewer.ready_replicas = Some(2);
        assert!(worth_writing(Some(&converged), &fewer, &time(1001)));
    }

    fn time(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).unwrap())
    }

    fn deployment(
        generation: i64,
        observed: i64,
        replicas: i32,
        updated: i32,
        available: i32,
        total: i32,
    ) -> Deployment {
        Deployment {
            metadata: ObjectMeta {
                generation: Some(generation),
                ..ObjectMeta::default()
            },
            spec: DeploymentSpec {
                replicas: Some(replicas),
                ..DeploymentSpec::default()
            },
            status: Some(DeploymentStatus {
                observed_generation: Some(observed),
                replicas: Some(total),
                updated_replicas: Some(updated),
                available_replicas: Some(available),
                ready_replicas: Some(available),
                ..DeploymentStatus::default()
            }),
        }
    }

    fn claim(phase: &str) -> PersistentVolumeClaim {
        PersistentVolumeClaim {
            status: Some(PersistentVolumeClaimStatus {
                phase: Some(phase.to_string()),
                ..PersistentVolumeClaimStatus::default()
            }),
            ..PersistentVolumeClaim::default()
        }
    }

    fn inputs<'a>(d: Option<&'a Deployment>, outcome: Outcome) -> Inputs<'a> {
        Inputs {
            generation: Some(4),
            previous: None,
            now: time(1000),
            desired_replicas: 2,
            reported_desired: 2,
            label_selector: "stateless.dev/service=web".to_string(),
            deployment: d,
            claim_name: None,
            claim: None,
            config_hash: Some("sha256-abc".to_string()),
            outcome,
        }
    }

    fn get<'a>(s: &'a StatelessServiceStatus, t: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == t).unwrap()
    }

    fn triple(s: &StatelessServiceStatus) -> (&str, &str, &str) {
        (
            get(s, READY).status.as_str(),
            get(s, RECONCILING).status.as_str(),
            get(s, STALLED).status.as_str(),
        )
    }

    #[test]
    fn ready_once_rolled_out_with_all_replicas_available() {
        let d = deployment(3, 3, 2, 2, 2, 2);
        let s = compute(&inputs(Some(&d), Outcome::Applied { wrote: false }));
        assert_eq!(triple(&s), ("True", "False", "False"));
        assert_eq!(s.observed_generation, Some(4));
        assert!(
            s.conditions
                .iter()
                .all(|c| c.observed_generation == Some(4))
        );
        assert_eq!(s.replica_summary.as_deref(), Some("2/2"));
        assert_eq!(s.config_hash.as_deref(), Some("sha256-abc"));
    }

    #[test]
    fn not_ready_while_rolling_out() {
        for d in [
            deployment(4, 3, 2, 2, 2, 2), // controller has not seen the template
            deployment(3, 3, 2, 1, 2, 3), // one pod still old
            deployment(3, 3, 2, 2, 2, 3), // an old pod terminating
            deployment(3, 3, 2, 2, 1, 2), // one not available
            deployment(3, 3, 3, 3, 3, 3), // asks for another count
        ] {
            let s = compute(&inputs(Some(&d), Outcome::Applied { wrote: false }));
            assert_eq!(triple(&s), ("False", "True", "False"), "{d:?}");
            assert!(!get(&s, READY).message.is_empty());
        }
        let s = compute(&inputs(None, Outcome::Applied { wrote: false }));
        assert_eq!(triple(&s), ("False", "True", "False"));
    }

    #[test]
    fn a_write_in_this_pass_means_reconciling() {
        let d = deployment(3, 3, 2, 2, 2, 2);
        let s = compute(&inputs(Some(&d), Outcome::Applied { wrote: true }));
        assert_eq!(triple(&s), ("False", "True", "False"));
    }

    #[test]
    fn zero_replicas_is_ready_when_scaled_down() {
        let d = deployment(2, 2, 0, 0, 0, 0);
        let mut i = inputs(Some(&d), Outcome::Applied { wrote: false });
        i.desired_replicas = 0;
        assert_eq!(triple(&compute(&i)), ("True", "False", "False"));
    }

    #[test]
    fn claim_must_be_bound() {
        let d = deployment(3, 3, 2, 2, 2, 2);
        for (phase, expected) in [
            ("Pending", ("False", "True", "False")),
            ("Bound", ("True", "False", "False")),
            ("Lost", ("False", "False", "True")),
        ] {
            let c = claim(phase);
            let mut i = inputs(Some(&d), Outcome::Applied { wrote: false });
            i.claim_name = Some("web-data".to_string());
            i.claim = Some(&c);
            let s = compute(&i);
            assert_eq!(triple(&s), expected, "{phase}");
            assert_eq!(s.storage.as_ref().unwrap().phase.as_deref(), Some(phase));
            assert_eq!(s.storage.as_ref().unwrap().claim_name, "web-data");
        }
    }

    #[test]
    fn stalled_outcomes() {
        for (outcome, reason) in [
            (
                Outcome::Invalid("spec.image: an image is required".into()),
                "InvalidSpec",
            ),
            (
                Outcome::NameConflict("ConfigMap web-config: not ours".into()),
                "NameConflict",
            ),
            (
                Outcome::Rejected("apply Deployment: 422".into()),
                "ApplyRejected",
            ),
        ] {
            let s = compute(&inputs(None, outcome));
            assert_eq!(triple(&s), ("False", "False", "True"));
            assert_eq!(get(&s, STALLED).reason, reason);
        }
        let mut d = deployment(3, 3, 2, 1, 1, 2);
        d.status.as_mut().unwrap().conditions = Some(vec![DeploymentCondition {
            type_: Some("Progressing".into()),
            status: Some("False".into()),
            reason: Some("ProgressDeadlineExceeded".into()),
            message: Some("ReplicaSet web-1 has timed out progressing.".into()),
            ..DeploymentCondition::default()
        }]);
        let s = compute(&inputs(Some(&d), Outcome::Applied { wrote: false }));
        assert_eq!(triple(&s), ("False", "False", "True"));
        assert!(get(&s, STALLED).message.contains("timed out progressing"));
    }

    #[test]
    fn malformed_objects_are_stalled() {
        let s = malformed(Some(3), "spec.replicas: invalid type", time(7));
        assert_eq!(triple(&s), ("False", "False", "True"));
        assert_eq!(s.observed_generation, Some(3));
        assert!(s.conditions.iter().all(|c| c.reason == "MalformedObject"
            && c.observed_generation == Some(3)
            && c.message.contains("spec.replicas: invalid type")));
        assert_eq!(
            s.replicas, None,
            "a merge patch leaves the other fields alone"
        );
    }

    #[test]
    fn paused_reports_reconciling_false_with_reason_paused() {
        let d = deployment(3, 3, 2, 2, 2, 2);
        let s = compute(&inputs(Some(&d), Outcome::Paused));
        let r = get(&s, RECONCILING);
        assert_eq!((r.status.as_str(), r.reason.as_str()), ("False", "Paused"));
        assert_eq!(
            get(&s, READY).status,
            "True",
            "paused still reports what it observes"
        );
    }

    #[test]
    fn transition_times_are_kept_while_status_is_unchanged() {
        let d = deployment(3, 3, 2, 2, 2, 2);
        let first = compute(&inputs(Some(&d), Outcome::Applied { wrote: false }));
        let mut again = inputs(Some(&d), Outcome::Applied { wrote: false });
        again.previous = Some(&first);
        again.now = time(5000);
        let second = compute(&again);
        assert_eq!(
            first, second,
            "an unchanged world gives an identical status"
        );

        let pending = deployment(4, 3, 2, 2, 2, 2);
        let mut changed = inputs(Some(&pending), Outcome::Applied { wrote: false });
        changed.previous = Some(&first);
        changed.now = time(5000);
        let third = compute(&changed);
        assert_eq!(get(&third, READY).last_transition_time, time(5000));
        assert_eq!(
            get(&third, STALLED).last_transition_time,
            time(1000),
            "Stalled stayed False"
        );
    }

    #[test]
    fn a_missing_api_stalls_naming_it_and_replica_fields_are_reported() {
        let msg = "gateway.networking.k8s.io/v1 HTTPRoute is not served by this cluster";
        let mut i = inputs(None, Outcome::ApiNotServed(msg.to_string()));
        i.reported_desired = 7;
        let s = compute(&i);
        let stalled = get(&s, STALLED);
        assert_eq!(
            (
                stalled.status.as_str(),
                stalled.reason.as_str(),
                stalled.message.as_str()
            ),
            ("True", "ApiNotServed", msg)
        );
        assert_eq!(get(&s, READY).status, "False");
        assert_eq!(get(&s, READY).reason, "ApiNotServed");
        assert_eq!(get(&s, RECONCILING).status, "False");
        assert_eq!(s.desired_replicas, Some(7));
        assert_eq!(
            s.label_selector.as_deref(),
            Some("stateless.dev/service=web")
        );
    }
}
