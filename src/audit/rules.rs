//! The rule catalogue of `audit`: stable ids, default severities, why each rule matters for
//! statelessness, the fix in one sentence, and the ids of overlapping rules in well-known tools.
//!
//! Data only. The checks that raise findings live in `check`; output formats read this table
//! for SARIF `rules[]` and the table's legend. Ids are part of the interface (SARIF, JSON, CI
//! suppressions): never rename one, add a new rule instead.

use std::fmt;
use std::str::FromStr;

/// How bad a finding is, from `info` to `critical`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing; nothing breaks.
    Info,
    /// A weaker guarantee than the contract gives.
    Low,
    /// Data or availability is at risk in some situations (a drain, a node loss).
    Medium,
    /// Data is lost, or the pod can change its node or cluster, in normal operation.
    High,
    /// Broken now: pods cannot all run, or the workload controls its node.
    Critical,
}

impl Severity {
    /// Every severity, worst first.
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    /// The lowercase name used in output and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The SARIF `level` (code-scanning UIs sort by it).
    pub fn sarif_level(self) -> &'static str {
        match self {
            Severity::Critical | Severity::High => "error",
            Severity::Medium => "warning",
            Severity::Low | Severity::Info => "note",
        }
    }

    /// GitHub's `security-severity` score (a string from 0.0 to 10.0) for this severity.
    pub fn security_score(self) -> &'static str {
        match self {
            Severity::Critical => "9.5",
            Severity::High => "8.0",
            Severity::Medium => "5.5",
            Severity::Low => "3.0",
            Severity::Info => "0.5",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|sev| sev.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("{s:?} is not a severity: use critical, high, medium, low, info or none")
            })
    }
}

/// A rule: what it finds, why it matters, how to fix it.
#[derive(Debug, PartialEq, Eq)]
pub struct Rule {
    /// Stable id, e.g. `writable-root-filesystem`.
    pub id: &'static str,
    /// One line: what is wrong.
    pub title: &'static str,
    /// Severity of a finding unless the check says otherwise (e.g. lower for init containers).
    pub severity: Severity,
    /// Why it breaks "any pod may die at any moment and nothing is lost".
    pub why: &'static str,
    /// The fix, in one sentence.
    pub fix: &'static str,
    /// Overlapping rules of other tools, as `tool:id`.
    pub related: &'static [&'static str],
}

/// The root filesystem of a container is writable.
pub const WRITABLE_ROOT_FILESYSTEM: Rule = Rule {
    id: "writable-root-filesystem",
    title: "container root filesystem is writable",
    severity: Severity::High,
    why: "whatever the process writes outside its volumes lands in the container's writable layer and is lost with the pod, silently",
    fix: "Set securityContext.readOnlyRootFilesystem: true and give the process a size-limited emptyDir (such as /tmp) for scratch and a claim for data.",
    related: &[
        "polaris:notReadOnlyRootFilesystem",
        "kube-score:container-security-context-readonlyrootfilesystem",
        "kube-linter:no-read-only-root-fs",
        "kyverno:require-ro-rootfs",
    ],
};

/// A hostPath volume.
pub const HOST_PATH_VOLUME: Rule = Rule {
    id: "host-path-volume",
    title: "hostPath volume",
    severity: Severity::High,
    why: "data written to a node's directory stays on that node: a pod rescheduled elsewhere does not find it, and the pod reaches into the host",
    fix: "Replace the hostPath with a PersistentVolumeClaim for data or a size-limited emptyDir for scratch.",
    related: &[
        "kyverno:disallow-host-path",
        "kube-linter:writable-host-mount",
    ],
};

/// An emptyDir without sizeLimit.
pub const UNBOUNDED_EMPTY_DIR: Rule = Rule {
    id: "unbounded-empty-dir",
    title: "emptyDir without sizeLimit",
    severity: Severity::Medium,
    why: "an emptyDir is lost with the pod (so it must be scratch, never data) and without a sizeLimit it can fill the node's disk or memory and get other pods evicted",
    fix: "Set emptyDir.sizeLimit (such as 64Mi), and keep anything that must survive the pod on a claim.",
    related: &["kyverno:require-emptydir-requests-and-limits"],
};

/// A claim bound to a node-local PersistentVolume.
pub const LOCAL_PERSISTENT_VOLUME: Rule = Rule {
    id: "local-persistent-volume",
    title: "claim bound to a node-local PersistentVolume",
    severity: Severity::Medium,
    why: "a local or hostPath PersistentVolume pins the pod to one node: when that node is drained or lost, the pod cannot start anywhere else and the data goes with the node",
    fix: "Use a storage class whose volumes can attach to any node (network or replicated storage) for data that must outlive a node.",
    related: &[],
};

/// A writable inline volume that is neither a claim nor an emptyDir.
pub const INLINE_VOLUME: Rule = Rule {
    id: "inline-volume",
    title: "writable inline volume that is not a claim",
    severity: Severity::Medium,
    why: "a volume declared inline in the pod (nfs, iscsi, csi, a cloud disk...) has no claim: its lifecycle, capacity and access mode are invisible to the cluster and to this audit",
    fix: "Declare the storage as a PersistentVolume and mount it through a PersistentVolumeClaim.",
    related: &["kyverno:restrict-volume-types"],
};

/// A single-writer claim shared by several pods.
pub const SINGLE_WRITER_CLAIM_REPLICAS: Rule = Rule {
    id: "single-writer-claim-replicas",
    title: "single-writer claim shared by several pods",
    severity: Severity::Critical,
    why: "a ReadWriteOnce volume attaches to one node (ReadWriteOncePod to one pod): pods scheduled elsewhere wait for it for ever, and pods on the same node write the same files at once",
    fix: "Use a ReadWriteMany claim for data the pods share, or run one replica with strategy Recreate.",
    related: &[],
};

/// A single-writer claim updated with a rolling update that starts the new pod first.
pub const SINGLE_WRITER_CLAIM_ROLLING_UPDATE: Rule = Rule {
    id: "single-writer-claim-rolling-update",
    title: "single-writer claim with a rolling update",
    severity: Severity::High,
    why: "a rolling update starts the new pod before it stops the old one; the new pod waits for the volume the old pod holds, so every rollout hangs (always with ReadWriteOncePod, across nodes with ReadWriteOnce)",
    fix: "Set strategy.type: Recreate (or rollingUpdate.maxSurge: 0), or use a ReadWriteMany claim.",
    related: &[],
};

/// A StatefulSet with volumeClaimTemplates.
pub const PER_POD_CLAIMS: Rule = Rule {
    id: "per-pod-claims",
    title: "StatefulSet volumeClaimTemplates: state kept with each pod",
    severity: Severity::High,
    why: "every pod owns its own claim, so pods are not interchangeable: a pod's data is reachable only through that pod, and scaling down strands claims",
    fix: "Keep shared state in one ReadWriteMany claim or an external store and run a Deployment; a workload that truly needs per-pod state is not stateless and should be excluded from this audit.",
    related: &[],
};

/// A StatefulSet without claim templates.
pub const STATEFULSET_IDENTITY: Rule = Rule {
    id: "statefulset-identity",
    title: "StatefulSet without per-pod claims",
    severity: Severity::Low,
    why: "a StatefulSet gives pods fixed identities and rolls them one at a time in order, which a workload without per-pod state does not need",
    fix: "Run it as a Deployment, unless clients depend on the stable pod names.",
    related: &[],
};

/// One replica and no disruption budget.
pub const SINGLE_REPLICA_NO_DISRUPTION_BUDGET: Rule = Rule {
    id: "single-replica-no-disruption-budget",
    title: "one replica and no PodDisruptionBudget",
    severity: Severity::Medium,
    why: "with one pod, every node drain or eviction is an outage, and nothing in the cluster says so",
    fix: "Run at least 2 replicas with a PodDisruptionBudget of maxUnavailable: 1.",
    related: &[
        "polaris:missingPodDisruptionBudget",
        "kube-score:deployment-has-poddisruptionbudget",
        "kube-score:statefulset-has-poddisruptionbudget",
        "kyverno:require-pdb",
    ],
};

/// Several replicas and no disruption budget.
pub const NO_DISRUPTION_BUDGET: Rule = Rule {
    id: "no-disruption-budget",
    title: "several replicas and no PodDisruptionBudget",
    severity: Severity::Low,
    why: "a drain may evict all pods at once: disposable pods are only safe to lose one at a time",
    fix: "Add a PodDisruptionBudget with maxUnavailable: 1 selecting the pods.",
    related: &[
        "polaris:missingPodDisruptionBudget",
        "kube-score:deployment-has-poddisruptionbudget",
        "kube-score:statefulset-has-poddisruptionbudget",
        "kyverno:require-pdb",
    ],
};

/// A Pod no controller re-creates.
pub const BARE_POD: Rule = Rule {
    id: "bare-pod",
    title: "bare Pod without a controller",
    severity: Severity::Medium,
    why: "nothing re-creates a bare pod when it dies or its node goes away",
    fix: "Run it from a Deployment (or a Job for work that finishes).",
    related: &["kyverno:prevent-naked-pods"],
};

/// A secret-looking literal environment value.
pub const SECRET_IN_ENV: Rule = Rule {
    id: "secret-in-env",
    title: "secret as a literal environment value",
    severity: Severity::High,
    why: "a credential written into the workload spec is readable by anyone who can read the workload, ends up in Git, and cannot be rotated without a rollout",
    fix: "Move the value into a Secret and reference it with valueFrom.secretKeyRef (or mount the Secret as files).",
    related: &[
        "polaris:sensitiveContainerEnvVar",
        "kube-linter:env-var-secret",
    ],
};

/// A privileged container.
pub const PRIVILEGED_CONTAINER: Rule = Rule {
    id: "privileged-container",
    title: "privileged container",
    severity: Severity::Critical,
    why: "a privileged container is root on the node: it can write anywhere on the host, so nothing about the pod is disposable any more",
    fix: "Remove securityContext.privileged, and grant the one capability the process needs if any.",
    related: &[
        "polaris:runAsPrivileged",
        "kube-score:container-security-context-privileged",
        "kube-linter:privileged-container",
        "kyverno:disallow-privileged-containers",
    ],
};

/// A container that runs, or may run, as root.
pub const RUNS_AS_ROOT: Rule = Rule {
    id: "runs-as-root",
    title: "container may run as root",
    severity: Severity::High,
    why: "root in the container owns every file of its volumes and is one escape away from the node",
    fix: "Set runAsNonRoot: true and a non-zero runAsUser (pod or container securityContext), with an image that runs as that user.",
    related: &[
        "polaris:runAsRootAllowed",
        "kube-score:container-security-context-user-group-id",
        "kube-linter:run-as-non-root",
        "kyverno:require-run-as-nonroot",
    ],
};

/// Added Linux capabilities.
pub const ADDED_CAPABILITIES: Rule = Rule {
    id: "added-capabilities",
    title: "container adds Linux capabilities",
    severity: Severity::Medium,
    why: "added capabilities let the process change its node (network, mounts, ownership) beyond what a disposable pod may touch",
    fix: "Drop ALL capabilities and add none; bind ports above 1024 instead of NET_BIND_SERVICE.",
    related: &[
        "polaris:insecureCapabilities",
        "polaris:dangerousCapabilities",
        "kyverno:disallow-capabilities",
        "kyverno:disallow-capabilities-strict",
    ],
};

/// Privilege escalation not disabled.
pub const PRIVILEGE_ESCALATION: Rule = Rule {
    id: "privilege-escalation",
    title: "privilege escalation not disabled",
    severity: Severity::Low,
    why: "a setuid binary in the image can make the process root again",
    fix: "Set securityContext.allowPrivilegeEscalation: false.",
    related: &[
        "polaris:privilegeEscalationAllowed",
        "kube-linter:privilege-escalation-container",
        "kyverno:disallow-privilege-escalation",
    ],
};

/// Host network, PID or IPC namespace.
pub const HOST_NAMESPACE: Rule = Rule {
    id: "host-namespace",
    title: "pod shares a host namespace",
    severity: Severity::High,
    why: "a pod in the node's network, PID or IPC namespace depends on and reaches into its node",
    fix: "Remove hostNetwork, hostPID and hostIPC (expose ports through a Service instead).",
    related: &[
        "polaris:hostNetworkSet",
        "polaris:hostPIDSet",
        "polaris:hostIPCSet",
        "kube-linter:host-network",
        "kube-linter:host-pid",
        "kube-linter:host-ipc",
        "kyverno:disallow-host-namespaces",
    ],
};

/// The service-account token is mounted.
pub const SERVICE_ACCOUNT_TOKEN: Rule = Rule {
    id: "service-account-token",
    title: "service-account token mounted",
    severity: Severity::Medium,
    why: "a pod that holds an API token can change the cluster, so losing or replacing it is no longer free of side effects",
    fix: "Set automountServiceAccountToken: false on the pod (or its ServiceAccount) unless the process calls the Kubernetes API.",
    related: &[
        "polaris:automountServiceAccountToken",
        "kyverno:restrict-automount-sa-token",
    ],
};

/// Every rule, in the order of the catalogue (SARIF `rules[]` indexes follow it).
pub const ALL: [&Rule; 19] = [
    &WRITABLE_ROOT_FILESYSTEM,
    &HOST_PATH_VOLUME,
    &UNBOUNDED_EMPTY_DIR,
    &LOCAL_PERSISTENT_VOLUME,
    &INLINE_VOLUME,
    &SINGLE_WRITER_CLAIM_REPLICAS,
    &SINGLE_WRITER_CLAIM_ROLLING_UPDATE,
    &PER_POD_CLAIMS,
    &STATEFULSET_IDENTITY,
    &SINGLE_REPLICA_NO_DISRUPTION_BUDGET,
    &NO_DISRUPTION_BUDGET,
    &BARE_POD,
    &SECRET_IN_ENV,
    &PRIVILEGED_CONTAINER,
    &RUNS_AS_ROOT,
    &ADDED_CAPABILITIES,
    &PRIVILEGE_ESCALATION,
    &HOST_NAMESPACE,
    &SERVICE_ACCOUNT_TOKEN,
];

/// The index of a rule in [`ALL`].
pub fn index(rule: &Rule) -> usize {
    ALL.iter().position(|r| r.id == rule.id).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_and_fixes_are_one_sentence() {
        let mut ids: Vec<&str> = ALL.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), ALL.len(), "duplicate rule id");
        for rule in ALL {
            assert!(
                rule.id.bytes().all(|c| c.is_ascii_lowercase() || c == b'-'),
                "{}",
                rule.id
            );
            assert!(rule.fix.ends_with('.'), "{}: fix ends a sentence", rule.id);
            assert_eq!(
                rule.fix.matches(". ").count(),
                0,
                "{}: the fix is one sentence",
                rule.id
            );
            assert!(!rule.why.is_empty() && !rule.title.is_empty());
            for related in rule.related {
                let (tool, id) = related.split_once(':').unwrap();
                assert!(
                    ["polaris", "kube-score", "kube-linter", "kyverno"].contains(&tool),
                    "{related}"
                );
                assert!(!id.is_empty());
            }
            assert_eq!(ALL[index(rule)].id, rule.id);
        }
    }

    #[test]
    fn severities_order_parse_and_map_to_sarif_levels() {
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Info);
        for sev in Severity::ALL {
            assert_eq!(sev.as_str().parse::<Severity>(), Ok(sev));
            assert_eq!(sev.as_str().to_uppercase().parse::<Severity>(), Ok(sev));
        }
        assert!(
            "severe"
                .parse::<Severity>()
                .unwrap_err()
                .contains("critical, high")
        );
        assert_eq!(Severity::High.sarif_level(), "error");
        assert_eq!(Severity::Medium.sarif_level(), "warning");
        assert_eq!(Severity::Info.sarif_level(), "note");
    }
}
