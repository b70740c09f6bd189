//! Rule-by-rule tests: for every rule, manifests that must raise it (with the expected
//! severity and field path) and near misses that must not.

use super::rules::{self, Severity};
use super::*;

/// Audits YAML text; returns `(rule, severity, path)` of every finding of workload `name`.
fn findings(yaml: &str, name: &str) -> Vec<(&'static str, Severity, String)> {
    let report = audit_files(
        &[("test.yaml".to_string(), yaml.to_string())],
        &Filter::default(),
    )
    .unwrap_or_else(|e| panic!("audit: {e}"));
    let w = report
        .workloads
        .iter()
        .find(|w| w.name == name)
        .unwrap_or_else(|| panic!("no workload {name} in {report:?}"));
    w.findings
        .iter()
        .map(|f| (f.rule.id, f.severity, f.path.clone()))
        .collect()
}

fn has(
    found: &[(&'static str, Severity, String)],
    rule: &rules::Rule,
) -> Option<(Severity, String)> {
    found
        .iter()
        .find(|(id, _, _)| *id == rule.id)
        .map(|(_, s, p)| (*s, p.clone()))
}

/// A Deployment that meets the statelessness contract: no finding at all.
const CLEAN: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, runAsUser: 1000}
      containers:
      - name: app
        image: web:1
        env: [{name: DB_HOST, value: db}, {name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}]
        securityContext:
          readOnlyRootFilesystem: true
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
        volumeMounts: [{name: tmp, mountPath: /tmp}, {name: config, mountPath: /etc/web}]
      volumes:
      - {name: tmp, emptyDir: {sizeLimit: 64Mi}}
      - {name: config, configMap: {name: web}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: shop}
spec: {maxUnavailable: 1, selector: {matchLabels: {app: web}}}
"#;

/// `CLEAN` with `from` replaced by `to` (each must occur).
fn clean_with(edits: &[(&str, &str)]) -> String {
    let mut text = CLEAN.to_string();
    for (from, to) in edits {
        assert!(text.contains(from), "{from:?} not in the clean manifest");
        text = text.replacen(from, to, 1);
    }
    text
}

#[test]
fn a_workload_that_meets_the_contract_has_no_finding() {
    assert_eq!(findings(CLEAN, "web"), vec![]);
}

#[test]
fn writable_root_filesystem_is_high_for_containers_and_medium_for_init_containers() {
    let text = clean_with(&[(
        "readOnlyRootFilesystem: true",
        "readOnlyRootFilesystem: false",
    )]);
    let found = findings(&text, "web");
    assert_eq!(
        has(&found, &rules::WRITABLE_ROOT_FILESYSTEM),
        Some((
            Severity::High,
            "spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem".to_string()
        ))
    );
    let text = clean_with(&[(
        "      containers:\n",
        "      initContainers:\n      - {name: init, image: busybox, securityContext: {allowPrivilegeEscalation: false}}\n      - {name: sidecar, image: proxy, restartPolicy: Always, securityContext: {allowPrivilegeEscalation: false}}\n      containers:\n",
    )]);
    let found = findings(&text, "web");
    let roots: Vec<_> = found
        .iter()
        .filter(|f| f.0 == rules::WRITABLE_ROOT_FILESYSTEM.id)
        .map(|f| (f.1, f.2.as_str()))
        .collect();
    assert_eq!(
        roots,
        vec![
            (
                Severity::Medium,
                "spec.template.spec.initContainers[0].securityContext.readOnlyRootFilesystem"
            ),
            // A native sidecar runs as long as the pod: it counts as a container.
            (
                Severity::High,
                "spec.template.spec.initContainers[1].securityContext.readOnlyRootFilesystem"
            ),
        ]
    );
}

#[test]
fn host_paths_are_high_when_writable_and_medium_when_read_only() {
    let text = clean_with(&[
        (
            "{name: config, mountPath: /etc/web}",
            "{name: config, mountPath: /etc/web}, {name: logs, mountPath: /var/log/web}",
        ),
        (
            "      - {name: config, configMap: {name: web}}",
            "      - {name: config, configMap: {name: web}}\n      - {name: logs, hostPath: {path: /var/log}}",
        ),
    ]);
    let found = findings(&text, "web");
    assert_eq!(
        has(&found, &rules::HOST_PATH_VOLUME),
        Some((
            Severity::High,
            "spec.template.spec.volumes[2].hostPath".to_string()
        ))
    );
    let read_only = text.replace(
        "{name: logs, mountPath: /var/log/web}",
        "{name: logs, mountPath: /var/log/web, readOnly: true}",
    );
    assert_eq!(
        has(&findings(&read_only, "web"), &rules::HOST_PATH_VOLUME).map(|f| f.0),
        Some(Severity::Medium)
    );
    // An unmounted volume is not used by any container.
    let unmounted = clean_with(&[(
        "      - {name: config, configMap: {name: web}}",
        "      - {name: config, configMap: {name: web}}\n      - {name: logs, hostPath: {path: /var/log}}",
    )]);
    assert_eq!(
        has(&findings(&unmounted, "web"), &rules::HOST_PATH_VOLUME),
        None
    );
}

#[test]
fn empty_dirs_need_a_size_limit() {
    let text = clean_with(&[("emptyDir: {sizeLimit: 64Mi}", "emptyDir: {medium: Memory}")]);
    let found = findings(&text, "web");
    assert_eq!(
        has(&found, &rules::UNBOUNDED_EMPTY_DIR),
        Some((
            Severity::Medium,
            "spec.template.spec.volumes[0].emptyDir.sizeLimit".to_string()
        ))
    );
}

const CLAIM: &str = r#"
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: shop}
spec: {accessModes: [MODE], resources: {requests: {storage: 1Gi}}, volumeName: pv-data}
"#;

fn with_claim(mode: &str, replicas: u32, strategy: &str) -> String {
    let text = clean_with(&[
        (
            "replicas: 2",
            &format!("replicas: {replicas}\n  {strategy}"),
        ),
        (
            "{name: config, mountPath: /etc/web}",
            "{name: config, mountPath: /etc/web}, {name: data, mountPath: /data}",
        ),
        (
            "      - {name: config, configMap: {name: web}}",
            "      - {name: config, configMap: {name: web}}\n      - {name: data, persistentVolumeClaim: {claimName: data}}",
        ),
    ]);
    format!("{text}{}", CLAIM.replace("MODE", mode))
}

#[test]
fn single_writer_claims_with_several_replicas_are_critical() {
    let found = findings(&with_claim("ReadWriteOnce", 3, ""), "web");
    assert_eq!(
        has(&found, &rules::SINGLE_WRITER_CLAIM_REPLICAS),
        Some((
            Severity::Critical,
            "spec.template.spec.volumes[2].persistentVolumeClaim.claimName".to_string()
        ))
    );
    let found = findings(&with_claim("ReadWriteOncePod", 2, ""), "web");
    assert!(has(&found, &rules::SINGLE_WRITER_CLAIM_REPLICAS).is_some());
    let found = findings(&with_claim("ReadWriteMany", 3, ""), "web");
    assert_eq!(has(&found, &rules::SINGLE_WRITER_CLAIM_REPLICAS), None);
    assert_eq!(
        has(&found, &rules::SINGLE_WRITER_CLAIM_ROLLING_UPDATE),
        None
    );
}

#[test]
fn single_writer_claims_deadlock_rolling_updates_that_surge() {
    let found = findings(&with_claim("ReadWriteOnce", 1, ""), "web");
    assert_eq!(
        has(&found, &rules::SINGLE_WRITER_CLAIM_ROLLING_UPDATE).map(|f| f.0),
        Some(Severity::High)
    );
    assert_eq!(has(&found, &rules::SINGLE_WRITER_CLAIM_REPLICAS), None);
    for safe in [
        "strategy: {type: Recreate}",
        "strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 0, maxUnavailable: 1}}",
    ] {
        let found = findings(&with_claim("ReadWriteOnce", 1, safe), "web");
        assert_eq!(
            has(&found, &rules::SINGLE_WRITER_CLAIM_ROLLING_UPDATE),
            None,
            "{safe}"
        );
    }
}

#[test]
fn claims_missing_from_the_input_are_reported_a_step_lower() {
    let text = with_claim("ReadWriteOnce", 3, "");
    let without_claim = text
        .split("\n---\napiVersion: v1\nkind: PersistentVolumeClaim")
        .next()
        .unwrap();
    let found = findings(without_claim, "web");
    assert_eq!(
        has(&found, &rules::SINGLE_WRITER_CLAIM_REPLICAS).map(|f| f.0),
        Some(Severity::Medium)
    );
}

#[test]
fn claims_on_node_local_volumes_are_found() {
    let text = format!(
        "{}---\napiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: pv-data}}\nspec: {{local: {{path: /mnt/ssd}}, capacity: {{storage: 1Gi}}}}\n",
        with_claim("ReadWriteMany", 2, "")
    );
    let found = findings(&text, "web");
    assert_eq!(
        has(&found, &rules::LOCAL_PERSISTENT_VOLUME).map(|f| f.0),
        Some(Severity::Medium)
    );
    assert_eq!(
        has(
            &findings(&with_claim("ReadWriteMany", 2, ""), "web"),
            &rules::LOCAL_PERSISTENT_VOLUME
        ),
        None
    );
}

#[test]
fn writable_inline_volumes_are_found() {
    let text = clean_with(&[
        (
            "{name: config, mountPath: /etc/web}",
            "{name: config, mountPath: /etc/web}, {name: share, mountPath: /share}",
        ),
        (
            "      - {name: config, configMap: {name: web}}",
            "      - {name: config, configMap: {name: web}}\n      - {name: share, nfs: {server: nas, path: /export}}",
        ),
    ]);
    assert_eq!(
        has(&findings(&text, "web"), &rules::INLINE_VOLUME),
        Some((
            Severity::Medium,
            "spec.template.spec.volumes[2].nfs".to_string()
        ))
    );
    let read_only = text.replace("mountPath: /share}", "mountPath: /share, readOnly: true}");
    assert_eq!(
        has(&findings(&read_only, "web"), &rules::INLINE_VOLUME),
        None
    );
}

const STATEFUL: &str = r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: postgres:16}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 8Gi}}}
"#;

#[test]
fn stateful_sets_keep_state_with_the_pod() {
    let found = findings(STATEFUL, "db");
    assert_eq!(
        has(&found, &rules::PER_POD_CLAIMS),
        Some((Severity::High, "spec.volumeClaimTemplates".to_string()))
    );
    assert_eq!(has(&found, &rules::STATEFULSET_IDENTITY), None);
    assert_eq!(
        has(&found, &rules::NO_DISRUPTION_BUDGET).map(|f| f.0),
        Some(Severity::Low)
    );
    let no_claims = STATEFUL.split("  volumeClaimTemplates:").next().unwrap();
    let found = findings(no_claims, "db");
    assert_eq!(has(&found, &rules::PER_POD_CLAIMS), None);
    assert_eq!(
        has(&found, &rules::STATEFULSET_IDENTITY).map(|f| f.0),
        Some(Severity::Low)
    );
}

#[test]
fn one_replica_without_a_budget_is_found_and_a_matching_budget_clears_it() {
    let single = clean_with(&[("replicas: 2", "replicas: 1")]);
    let without_budget = single.split("\n---\n").next().unwrap();
    assert_eq!(
        has(
            &findings(without_budget, "web"),
            &rules::SINGLE_REPLICA_NO_DISRUPTION_BUDGET
        ),
        Some((Severity::Medium, "spec.replicas".to_string()))
    );
    assert_eq!(
        has(
            &findings(&single, "web"),
            &rules::SINGLE_REPLICA_NO_DISRUPTION_BUDGET
        ),
        None
    );
    // A budget in another namespace, or selecting other pods, does not count.
    for budget in [
        "namespace: shop}\nspec: {maxUnavailable: 1, selector: {matchLabels: {app: db}}}",
        "namespace: other}\nspec: {maxUnavailable: 1, selector: {matchLabels: {app: web}}}",
    ] {
        let text = single.replace(
            "namespace: shop}\nspec: {maxUnavailable: 1, selector: {matchLabels: {app: web}}}",
            budget,
        );
        assert!(
            has(
                &findings(&text, "web"),
                &rules::SINGLE_REPLICA_NO_DISRUPTION_BUDGET
            )
            .is_some(),
            "{budget}"
        );
    }
    // Scaled to zero: nothing runs, nothing to disrupt.
    let zero = clean_with(&[("replicas: 2", "replicas: 0")]);
    let zero = zero.split("\n---\n").next().unwrap();
    assert_eq!(
        has(
            &findings(zero, "web"),
            &rules::SINGLE_REPLICA_NO_DISRUPTION_BUDGET
        ),
        None
    );
    assert_eq!(
        has(&findings(zero, "web"), &rules::NO_DISRUPTION_BUDGET),
        None
    );
}

#[test]
fn bare_pods_and_pods_of_controllers() {
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: debug}\nspec:\n  containers: [{name: sh, image: busybox}]\n";
    let found = findings(pod, "debug");
    assert_eq!(
        has(&found, &rules::BARE_POD),
        Some((Severity::Medium, "metadata.ownerReferences".to_string()))
    );
    assert_eq!(
        has(&found, &rules::WRITABLE_ROOT_FILESYSTEM).map(|f| f.1),
        Some("spec.containers[0].securityContext.readOnlyRootFilesystem".to_string())
    );
    let owned = pod.replace(
        "metadata: {name: debug}",
        "metadata: {name: debug, ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: x, uid: u, controller: true}]}",
    );
    let report = audit_files(&[("t".to_string(), owned)], &Filter::default()).unwrap();
    assert!(
        report.workloads.is_empty(),
        "a controller's pod is audited through the controller"
    );
}

#[test]
fn literal_secrets_in_env_are_found_without_their_value() {
    let text = clean_with(&[(
        "{name: DB_HOST, value: db}",
        "{name: DB_HOST, value: db}, {name: API_TOKEN, value: s3cr3t-value}",
    )]);
    let report = audit_files(&[("t".to_string(), text)], &Filter::default()).unwrap();
    let f = &report.workloads[0].findings;
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].rule.id, rules::SECRET_IN_ENV.id);
    assert_eq!(f[0].path, "spec.template.spec.containers[0].env[1].value");
    for format in [Format::Table, Format::Json, Format::Sarif] {
        let out = super::format(&report, format, Some(Severity::High)).unwrap();
        assert!(!out.contains("s3cr3t"), "{format:?} prints the value");
        assert!(out.contains("API_TOKEN"), "{format:?} names the variable");
    }
}

#[test]
fn privilege_root_and_capabilities() {
    let text = clean_with(&[(
        "readOnlyRootFilesystem: true\n          allowPrivilegeEscalation: false\n          capabilities: {drop: [ALL]}",
        "readOnlyRootFilesystem: true\n          privileged: true\n          runAsUser: 0\n          capabilities: {add: [NET_ADMIN, CHOWN]}",
    )]);
    let found = findings(&text, "web");
    let sc = "spec.template.spec.containers[0].securityContext";
    assert_eq!(
        has(&found, &rules::PRIVILEGED_CONTAINER),
        Some((Severity::Critical, format!("{sc}.privileged")))
    );
    assert_eq!(
        has(&found, &rules::RUNS_AS_ROOT),
        Some((Severity::High, format!("{sc}.runAsUser")))
    );
    assert_eq!(
        has(&found, &rules::ADDED_CAPABILITIES),
        Some((Severity::High, format!("{sc}.capabilities.add")))
    );
    // Privileged implies escalation: not reported twice.
    assert_eq!(has(&found, &rules::PRIVILEGE_ESCALATION), None);

    let text = clean_with(&[
        (
            "securityContext: {runAsNonRoot: true, runAsUser: 1000}",
            "securityContext: {}",
        ),
        (
            "capabilities: {drop: [ALL]}",
            "capabilities: {add: [NET_BIND_SERVICE]}",
        ),
        (
            "allowPrivilegeEscalation: false",
            "allowPrivilegeEscalation: true",
        ),
    ]);
    let found = findings(&text, "web");
    assert_eq!(
        has(&found, &rules::RUNS_AS_ROOT),
        Some((Severity::Medium, format!("{sc}.runAsNonRoot")))
    );
    assert_eq!(
        has(&found, &rules::ADDED_CAPABILITIES).map(|f| f.0),
        Some(Severity::Medium)
    );
    assert_eq!(
        has(&found, &rules::PRIVILEGE_ESCALATION),
        Some((Severity::Low, format!("{sc}.allowPrivilegeEscalation")))
    );
    // runAsNonRoot alone is enough (the kubelet refuses a root image).
    let text = clean_with(&[(
        "securityContext: {runAsNonRoot: true, runAsUser: 1000}",
        "securityContext: {runAsNonRoot: true}",
    )]);
    assert_eq!(has(&findings(&text, "web"), &rules::RUNS_AS_ROOT), None);
}

#[test]
fn host_namespaces_are_found() {
    let text = clean_with(&[(
        "automountServiceAccountToken: false",
        "automountServiceAccountToken: false\n      hostNetwork: true\n      hostPID: true",
    )]);
    let found = findings(&text, "web");
    let hosts: Vec<_> = found
        .iter()
        .filter(|f| f.0 == rules::HOST_NAMESPACE.id)
        .map(|f| f.2.as_str())
        .collect();
    assert_eq!(
        hosts,
        vec![
            "spec.template.spec.hostNetwork",
            "spec.template.spec.hostPID"
        ]
    );
}

#[test]
fn service_account_tokens_follow_the_pod_then_the_service_account() {
    let unset = clean_with(&[(
        "      automountServiceAccountToken: false\n",
        "      serviceAccountName: web\n",
    )]);
    assert_eq!(
        has(&findings(&unset, "web"), &rules::SERVICE_ACCOUNT_TOKEN),
        Some((
            Severity::Medium,
            "spec.template.spec.automountServiceAccountToken".to_string()
        ))
    );
    let sa = "\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: web, namespace: shop}\nautomountServiceAccountToken: false\n";
    assert_eq!(
        has(
            &findings(&format!("{unset}{sa}"), "web"),
            &rules::SERVICE_ACCOUNT_TOKEN
        ),
        None
    );
    let forced = clean_with(&[(
        "automountServiceAccountToken: false",
        "automountServiceAccountToken: true",
    )]);
    assert!(
        has(
            &findings(&format!("{forced}{sa}"), "web"),
            &rules::SERVICE_ACCOUNT_TOKEN
        )
        .is_some()
    );
}

#[test]
fn every_kind_is_audited_at_its_own_pod_path() {
    let text = r#"
apiVersion: batch/v1
kind: CronJob
metadata: {name: backup}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: backup, image: restic}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: agent, volumeMounts: [{name: state, mountPath: /state}]}]
      volumes: [{name: state, persistentVolumeClaim: {claimName: state}}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: app}]
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: legacy}
spec:
  replicas: 2
  selector: {matchLabels: {app: legacy}}
  template:
    metadata: {labels: {app: legacy}}
    spec:
      containers: [{name: app, image: legacy}]
"#;
    let cron = findings(text, "backup");
    assert_eq!(
        has(&cron, &rules::WRITABLE_ROOT_FILESYSTEM).map(|f| f.1),
        Some("spec.jobTemplate.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem".to_string())
    );
    // Jobs and DaemonSets have no replicas knob: no disruption-budget findings.
    assert_eq!(
        has(&cron, &rules::SINGLE_REPLICA_NO_DISRUPTION_BUDGET),
        None
    );
    assert_eq!(
        has(
            &findings(text, "migrate"),
            &rules::SINGLE_REPLICA_NO_DISRUPTION_BUDGET
        ),
        None
    );
    // A DaemonSet runs a pod on every node: a single-writer claim cannot serve them.
    assert!(
        has(
            &findings(text, "agent"),
            &rules::SINGLE_WRITER_CLAIM_REPLICAS
        )
        .is_some()
    );
    assert_eq!(
        has(&findings(text, "legacy"), &rules::NO_DISRUPTION_BUDGET).map(|f| f.0),
        Some(Severity::Low)
    );
}

#[test]
fn filters_select_namespaces_and_labels() {
    let text = format!(
        "{CLEAN}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: other, labels: {{team: b}}}}\nspec: {{selector: {{}}, template: {{spec: {{containers: [{{name: a, image: a}}]}}}}}}\n"
    );
    let sources = [("t".to_string(), text)];
    let names = |filter: &Filter| -> Vec<String> {
        audit_files(&sources, filter)
            .unwrap()
            .workloads
            .into_iter()
            .map(|w| format!("{}/{}", w.namespace, w.name))
            .collect()
    };
    assert_eq!(names(&Filter::default()), vec!["shop/web", "default/other"]);
    assert_eq!(
        names(&Filter {
            namespace: Some("shop".into()),
            ..Filter::default()
        }),
        vec!["shop/web"]
    );
    assert_eq!(
        names(&Filter {
            default_namespace: Some("apps".into()),
            ..Filter::default()
        }),
        vec!["shop/web", "apps/other"]
    );
    let selector = selector::Selector::parse("team=b").unwrap();
    assert_eq!(
        names(&Filter {
            selector: Some(selector),
            ..Filter::default()
        }),
        vec!["default/other"]
    );
}

#[test]
fn bad_input_is_an_error_that_names_the_file_line_and_field() {
    let err = |text: &str| {
        audit_files(
            &[("apps.yaml".to_string(), text.to_string())],
            &Filter::default(),
        )
        .unwrap_err()
        .to_string()
    };
    let e = err(
        "apiVersion: v1\nkind: ConfigMap\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: three}\n",
    );
    assert!(
        e.starts_with("apps.yaml:4: Deployment web: spec.replicas: invalid type"),
        "{e}"
    );
    let e = err("a: [\n");
    assert!(e.starts_with("apps.yaml:1: not valid YAML"), "{e}");
    let e = err("metadata: {name: x}\n");
    assert!(
        e.contains("apps.yaml:1: x: kind: every Kubernetes object needs apiVersion and kind"),
        "{e}"
    );
    let e = err("- a\n- b\n");
    assert!(e.contains("expected a Kubernetes object"), "{e}");
}

#[test]
fn lists_are_expanded_and_other_kinds_and_old_versions_are_noted() {
    let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: a}\n  spec: {selector: {}, template: {spec: {containers: [{name: a, image: a}]}}}\n- apiVersion: v1\n  kind: Service\n  metadata: {name: a}\n---\napiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: old}\n";
    let report = audit_files(
        &[("l.yaml".to_string(), text.to_string())],
        &Filter::default(),
    )
    .unwrap();
    assert_eq!(report.workloads.len(), 1);
    assert_eq!(
        report.workloads[0].source,
        Some(Source {
            file: "l.yaml".into(),
            line: 1
        })
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n == "not workloads, skipped: 1 Service"),
        "{:?}",
        report.notes
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n
                .contains("l.yaml:12: Deployment old skipped: apiVersion \"extensions/v1beta1\"")),
        "{:?}",
        report.notes
    );
}

#[test]
fn fail_on_compares_severities_and_none_never_fails() {
    let text = clean_with(&[(
        "allowPrivilegeEscalation: false",
        "allowPrivilegeEscalation: true",
    )]);
    let report = audit_files(&[("t".to_string(), text)], &Filter::default()).unwrap();
    assert!(report.fails(Some(Severity::Low)));
    assert!(!report.fails(Some(Severity::Medium)));
    assert!(!report.fails(None));
    assert_eq!(parse_fail_on("none"), Ok(None));
    assert_eq!(parse_fail_on("HIGH"), Ok(Some(Severity::High)));
    assert!(parse_fail_on("x").is_err());
}
