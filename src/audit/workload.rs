//! What the checks look at: one workload reduced to its pod spec and the few controller facts
//! the rules need ([`Workload`]), and the cluster facts around it ([`Context`]: disruption
//! budgets, claims, node-local volumes, service accounts), in compact indexes.
//!
//! Pure conversions from typed k8s-openapi objects; no I/O. Input readers (`input` for files,
//! `live` for a cluster) fill these; `check` reads them.

use std::collections::{BTreeMap, HashMap, HashSet};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    PersistentVolume, PersistentVolumeClaim, Pod, PodSpec, PodTemplateSpec, ServiceAccount,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::selector::Selector;

/// The kinds of workloads the audit looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WorkloadKind {
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 StatefulSet.
    StatefulSet,
    /// apps/v1 DaemonSet.
    DaemonSet,
    /// apps/v1 ReplicaSet (one no Deployment owns).
    ReplicaSet,
    /// batch/v1 Job (one no CronJob owns).
    Job,
    /// batch/v1 CronJob.
    CronJob,
    /// v1 Pod (a bare one: no controller owns it).
    Pod,
}

impl WorkloadKind {
    /// The Kubernetes kind.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::ReplicaSet => "ReplicaSet",
            WorkloadKind::Job => "Job",
            WorkloadKind::CronJob => "CronJob",
            WorkloadKind::Pod => "Pod",
        }
    }
}

/// Where a workload was read from, for messages and SARIF locations.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Source {
    /// The file name as given (`<stdin>` for standard input).
    pub file: String,
    /// 1-based line where the object's document starts.
    pub line: usize,
}

/// How the controller replaces pods on an update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Update {
    /// New pods start before old ones stop (`maxSurge` above 0).
    SurgeFirst,
    /// Old pods stop before new ones start (Recreate, maxSurge 0, StatefulSet rolling updates).
    StopFirst,
    /// Pods are not replaced on update (OnDelete, Jobs, bare Pods).
    Never,
}

/// How many pods run at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pods {
    /// A fixed count (replicas, parallelism; 1 for a bare Pod).
    Count(i32),
    /// One per node (DaemonSet).
    PerNode,
}

/// One workload as the checks see it.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Its kind.
    pub kind: WorkloadKind,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The file and line it came from (file input only).
    pub source: Option<Source>,
    /// Pods at once.
    pub pods: Pods,
    /// Whether `replicas` is the knob (Deployments, StatefulSets, ReplicaSets): only those get
    /// disruption-budget findings.
    pub replicated: bool,
    /// Update behaviour.
    pub update: Update,
    /// Labels of its pods (what disruption budgets select).
    pub pod_labels: BTreeMap<String, String>,
    /// The pod spec.
    pub pod: PodSpec,
    /// Field path of the pod spec inside the object, e.g. `spec.template.spec`.
    pub pod_path: &'static str,
    /// Names of a StatefulSet's volumeClaimTemplates.
    pub claim_templates: Vec<String>,
    /// A Pod without a controlling owner.
    pub bare: bool,
}

/// Whether an object has a controlling owner (then its controller is audited instead).
pub fn has_controller(meta: &ObjectMeta) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true))
}

/// The controlling owner's kind, if any.
pub fn controller_kind(meta: &ObjectMeta) -> Option<&str> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| o.kind.as_str())
}

fn base(
    kind: WorkloadKind,
    meta: ObjectMeta,
    namespace: &str,
    template: Option<PodTemplateSpec>,
    pod_path: &'static str,
) -> Workload {
    let template = template.unwrap_or_default();
    Workload {
        kind,
        namespace: meta.namespace.unwrap_or_else(|| namespace.to_string()),
        name: meta.name.unwrap_or_default(),
        source: None,
        pods: Pods::Count(1),
        replicated: false,
        update: Update::Never,
        pod_labels: template.metadata.and_then(|m| m.labels).unwrap_or_default(),
        pod: template.spec.unwrap_or_default(),
        pod_path,
        claim_templates: Vec::new(),
        bare: false,
    }
}

/// Whether a surge setting starts new pods first: absent means the default 25%, which rounds
/// up to at least one pod.
fn surges(max_surge: Option<&IntOrString>, default_surges: bool) -> bool {
    match max_surge {
        None => default_surges,
        Some(IntOrString::Int(n)) => *n > 0,
        Some(IntOrString::String(s)) => s
            .trim_end_matches('%')
            .trim()
            .parse::<f64>()
            .map_or(true, |v| v > 0.0),
    }
}

impl Workload {
    /// A Deployment.
    pub fn from_deployment(d: Deployment, namespace: &str) -> Workload {
        let spec = d.spec;
        let mut w = base(
            WorkloadKind::Deployment,
            d.metadata,
            namespace,
            Some(spec.template),
            "spec.template.spec",
        );
        w.pods = Pods::Count(spec.replicas.unwrap_or(1));
        w.replicated = true;
        let strategy = spec.strategy.unwrap_or_default();
        w.update = match strategy.type_.as_deref() {
            Some("Recreate") => Update::StopFirst,
            _ => {
                let surge = strategy
                    .rolling_update
                    .as_ref()
                    .and_then(|r| r.max_surge.as_ref());
                if surges(surge, true) {
                    Update::SurgeFirst
                } else {
                    Update::StopFirst
                }
            }
        };
        w
    }

    /// A StatefulSet.
    pub fn from_stateful_set(s: StatefulSet, namespace: &str) -> Workload {
        let spec = s.spec;
        let mut w = base(
            WorkloadKind::StatefulSet,
            s.metadata,
            namespace,
            Some(spec.template),
            "spec.template.spec",
        );
        w.pods = Pods::Count(spec.replicas.unwrap_or(1));
        w.replicated = true;
        // A StatefulSet's rolling update deletes a pod before it creates its replacement.
        w.update = match spec.update_strategy.and_then(|u| u.type_).as_deref() {
            Some("OnDelete") => Update::Never,
            _ => Update::StopFirst,
        };
        w.claim_templates = spec
            .volume_claim_templates
            .into_iter()
            .flatten()
            .map(|t| t.metadata.name.unwrap_or_default())
            .collect();
        w
    }

    /// A DaemonSet.
    pub fn from_daemon_set(d: DaemonSet, namespace: &str) -> Workload {
        let spec = d.spec;
        let mut w = base(
            WorkloadKind::DaemonSet,
            d.metadata,
            namespace,
            Some(spec.template),
            "spec.template.spec",
        );
        w.pods = Pods::PerNode;
        let strategy = spec.update_strategy.unwrap_or_default();
        w.update = match strategy.type_.as_deref() {
            Some("OnDelete") => Update::Never,
            // A DaemonSet's maxSurge defaults to 0: the old pod goes first.
            _ => {
                let surge = strategy
                    .rolling_update
                    .as_ref()
                    .and_then(|r| r.max_surge.as_ref());
                if surges(surge, false) {
                    Update::SurgeFirst
                } else {
                    Update::StopFirst
                }
            }
        };
        w
    }

    /// A ReplicaSet.
    pub fn from_replica_set(r: ReplicaSet, namespace: &str) -> Workload {
        let spec = r.spec;
        let mut w = base(
            WorkloadKind::ReplicaSet,
            r.metadata,
            namespace,
            spec.template,
            "spec.template.spec",
        );
        w.pods = Pods::Count(spec.replicas.unwrap_or(1));
        w.replicated = true;
        w
    }

    /// A Job.
    pub fn from_job(j: Job, namespace: &str) -> Workload {
        let spec = j.spec.unwrap_or_default();
        let mut w = base(
            WorkloadKind::Job,
            j.metadata,
            namespace,
            Some(spec.template),
            "spec.template.spec",
        );
        w.pods = Pods::Count(spec.parallelism.unwrap_or(1));
        w
    }

    /// A CronJob.
    pub fn from_cron_job(c: CronJob, namespace: &str) -> Workload {
        let spec = c.spec;
        let job = spec.job_template.spec.unwrap_or_default();
        let mut w = base(
            WorkloadKind::CronJob,
            c.metadata,
            namespace,
            Some(job.template),
            "spec.jobTemplate.spec.template.spec",
        );
        w.pods = Pods::Count(job.parallelism.unwrap_or(1));
        w
    }

    /// A Pod.
    pub fn from_pod(p: Pod, namespace: &str) -> Workload {
        let bare = !has_controller(&p.metadata);
        let labels = p.metadata.labels.clone();
        let mut w = base(
            WorkloadKind::Pod,
            p.metadata,
            namespace,
            Some(PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels,
                    ..ObjectMeta::default()
                }),
                spec: p.spec,
            }),
            "spec",
        );
        w.bare = bare;
        w
    }

    /// `Kind/name`, for messages.
    pub fn display_name(&self) -> String {
        format!("{}/{}", self.kind.as_str(), self.name)
    }
}

/// A claim as far as the rules care.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claim {
    /// Access modes (spec, or status once bound).
    pub access_modes: Vec<String>,
    /// The bound PersistentVolume.
    pub volume_name: Option<String>,
}

impl Claim {
    /// Whether only one node (or pod) may mount it read-write.
    pub fn single_writer(&self) -> bool {
        let has = |m: &str| self.access_modes.iter().any(|a| a == m);
        !has("ReadWriteMany") && (has("ReadWriteOnce") || has("ReadWriteOncePod"))
    }

    /// The access modes joined for messages.
    pub fn modes(&self) -> String {
        self.access_modes.join(", ")
    }
}

#[derive(Clone, Debug, Default)]
struct Budgets {
    selectors: Vec<Selector>,
    /// Budgets by one `matchLabels` pair, so that a workload is matched only against budgets
    /// that can select it (thousands of budgets in a namespace stay cheap).
    by_label: HashMap<(String, String), Vec<usize>>,
    /// Budgets without `matchLabels`: matched against every workload.
    unindexed: Vec<usize>,
}

/// Facts about the cluster (or the files) the workloads live in.
#[derive(Clone, Debug, Default)]
pub struct Context {
    budgets: HashMap<String, Budgets>,
    claims: HashMap<(String, String), Claim>,
    node_local_volumes: HashSet<String>,
    automount_disabled: HashMap<(String, String), bool>,
}

impl Context {
    /// Records a PodDisruptionBudget; a selector that cannot be read is an error naming why.
    pub fn add_budget(&mut self, pdb: &PodDisruptionBudget, namespace: &str) -> Result<(), String> {
        let namespace = pdb.metadata.namespace.as_deref().unwrap_or(namespace);
        // A budget without a selector selects no pods.
        let Some(selector) = pdb.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
            return Ok(());
        };
        let parsed = Selector::from_label_selector(selector)?;
        let budgets = self.budgets.entry(namespace.to_string()).or_default();
        let index = budgets.selectors.len();
        budgets.selectors.push(parsed);
        match selector.match_labels.iter().flatten().next() {
            Some((k, v)) => budgets
                .by_label
                .entry((k.clone(), v.clone()))
                .or_default()
                .push(index),
            None => budgets.unindexed.push(index),
        }
        Ok(())
    }

    /// Whether some budget in `namespace` selects pods with `labels`.
    pub fn budget_covers(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        let Some(budgets) = self.budgets.get(namespace) else {
            return false;
        };
        let candidates = labels
            .iter()
            .filter_map(|(k, v)| budgets.by_label.get(&(k.clone(), v.clone())))
            .flatten()
            .chain(&budgets.unindexed);
        candidates
            .into_iter()
            .any(|&i| budgets.selectors[i].matches(labels))
    }

    /// Records a PersistentVolumeClaim.
    pub fn add_claim(&mut self, pvc: &PersistentVolumeClaim, namespace: &str) {
        let namespace = pvc.metadata.namespace.as_deref().unwrap_or(namespace);
        let spec = pvc.spec.clone().unwrap_or_default();
        let status_modes = pvc.status.as_ref().and_then(|s| s.access_modes.clone());
        let claim = Claim {
            access_modes: spec
                .access_modes
                .filter(|m| !m.is_empty())
                .or(status_modes)
                .unwrap_or_default(),
            volume_name: spec.volume_name,
        };
        self.claims.insert(
            (
                namespace.to_string(),
                pvc.metadata.name.clone().unwrap_or_default(),
            ),
            claim,
        );
    }

    /// The claim `name` in `namespace`, if known.
    pub fn claim(&self, namespace: &str, name: &str) -> Option<&Claim> {
        self.claims.get(&(namespace.to_string(), name.to_string()))
    }

    /// Records a PersistentVolume: `local` and `hostPath` volumes live on one node.
    pub fn add_volume(&mut self, pv: &PersistentVolume) {
        let spec = pv.spec.as_ref();
        if spec.is_some_and(|s| s.local.is_some() || s.host_path.is_some()) {
            self.node_local_volumes
                .insert(pv.metadata.name.clone().unwrap_or_default());
        }
    }

    /// Whether the PersistentVolume `name` lives on one node.
    pub fn node_local(&self, name: &str) -> bool {
        self.node_local_volumes.contains(name)
    }

    /// Records a ServiceAccount's `automountServiceAccountToken`.
    pub fn add_service_account(&mut self, sa: &ServiceAccount, namespace: &str) {
        let namespace = sa.metadata.namespace.as_deref().unwrap_or(namespace);
        self.automount_disabled.insert(
            (
                namespace.to_string(),
                sa.metadata.name.clone().unwrap_or_default(),
            ),
            sa.automount_service_account_token == Some(false),
        );
    }

    /// `Some(true)` when the ServiceAccount disables token automounting, `None` when unknown.
    pub fn automount_disabled(&self, namespace: &str, service_account: &str) -> Option<bool> {
        self.automount_disabled
            .get(&(namespace.to_string(), service_account.to_string()))
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pdb(namespace: &str, selector: serde_json::Value) -> PodDisruptionBudget {
        serde_json::from_value(json!({
            "metadata": {"name": "b", "namespace": namespace},
            "spec": {"maxUnavailable": 1, "selector": selector},
        }))
        .unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn budgets_cover_pods_they_select_in_their_namespace_only() {
        let mut ctx = Context::default();
        ctx.add_budget(&pdb("a", json!({"matchLabels": {"app": "web"}})), "default")
            .unwrap();
        ctx.add_budget(
            &pdb(
                "b",
                json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}),
            ),
            "default",
        )
        .unwrap();
        assert!(ctx.budget_covers("a", &labels(&[("app", "web"), ("x", "y")])));
        assert!(!ctx.budget_covers("a", &labels(&[("app", "db")])));
        assert!(!ctx.budget_covers("c", &labels(&[("app", "web")])));
        assert!(ctx.budget_covers("b", &labels(&[("tier", "x")])));
        assert!(!ctx.budget_covers("b", &labels(&[])));
        // No selector: selects nothing. An empty selector: everything in the namespace.
        let mut none = pdb("d", json!({}));
        none.spec.as_mut().unwrap().selector = None;
        ctx.add_budget(&none, "default").unwrap();
        assert!(!ctx.budget_covers("d", &labels(&[("app", "web")])));
        ctx.add_budget(&pdb("e", json!({})), "default").unwrap();
        assert!(ctx.budget_covers("e", &labels(&[])));
        let bad = pdb(
            "a",
            json!({"matchExpressions": [{"key": "k", "operator": "Maybe"}]}),
        );
        assert!(ctx.add_budget(&bad, "default").is_err());
    }

    #[test]
    fn update_behaviour_follows_strategy_and_surge() {
        let deploy = |strategy: serde_json::Value| {
            let d: Deployment = serde_json::from_value(json!({
                "metadata": {"name": "d"},
                "spec": {"selector": {}, "template": {}, "strategy": strategy},
            }))
            .unwrap();
            Workload::from_deployment(d, "default").update
        };
        assert_eq!(deploy(json!({})), Update::SurgeFirst);
        assert_eq!(deploy(json!({"type": "Recreate"})), Update::StopFirst);
        assert_eq!(
            deploy(json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0}})),
            Update::StopFirst
        );
        assert_eq!(
            deploy(json!({"rollingUpdate": {"maxSurge": "0%"}})),
            Update::StopFirst
        );
        assert_eq!(
            deploy(json!({"rollingUpdate": {"maxSurge": "10%"}})),
            Update::SurgeFirst
        );
        let ds: DaemonSet = serde_json::from_value(json!({
            "metadata": {"name": "d"},
            "spec": {"selector": {}, "template": {}},
        }))
        .unwrap();
        assert_eq!(Workload::from_daemon_set(ds, "x").update, Update::StopFirst);
    }

    #[test]
    fn claims_know_their_writers_and_volumes_their_nodes() {
        let claim = |modes: serde_json::Value| Claim {
            access_modes: serde_json::from_value(modes).unwrap(),
            volume_name: None,
        };
        assert!(claim(json!(["ReadWriteOnce"])).single_writer());
        assert!(claim(json!(["ReadWriteOncePod"])).single_writer());
        assert!(!claim(json!(["ReadWriteMany", "ReadWriteOnce"])).single_writer());
        assert!(!claim(json!(["ReadOnlyMany"])).single_writer());
        let mut ctx = Context::default();
        let pv: PersistentVolume = serde_json::from_value(json!({
            "metadata": {"name": "pv-1"},
            "spec": {"local": {"path": "/mnt/disk"}},
        }))
        .unwrap();
        ctx.add_volume(&pv);
        assert!(ctx.node_local("pv-1") && !ctx.node_local("pv-2"));
    }
}
