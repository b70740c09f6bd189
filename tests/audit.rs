//! `audit` over the corpus of chart-rendered workloads in `tests/fixtures/workloads/`:
//! - the findings of every workload of the corpus (rule and severity);
//! - what the operator itself renders, and workloads that meet the contract, pass;
//! - the live path against the in-process fake API server finds exactly what the file path
//!   finds for the same objects, with paged list requests only and no write;
//! - the binary: exit status, `--fail-on`, `-o json`, `-o sarif` (SARIF 2.1.0 shape), errors.

mod support;

use std::collections::BTreeMap;
use std::process::Output;

use serde::Deserialize;
use serde_json::Value;
use stateless_operator::audit::{self, Filter, Format, Report, Severity, live};
use support::binary::run;
use support::fake_api::{FakeApi, FaultRule, KindInfo, RequestFilter, ResourceRef};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/workloads");

/// Every file of the corpus, as `(name relative to the crate, text)`.
fn corpus() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for dir in [DIR.to_string(), format!("{DIR}/contract")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let name = path
                    .strip_prefix(env!("CARGO_MANIFEST_DIR"))
                    .unwrap()
                    .display()
                    .to_string()
                    .trim_start_matches('/')
                    .to_string();
                files.push((name, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// `namespace/Kind/name` -> sorted `rule:severity` of its findings.
fn summary(report: &Report) -> BTreeMap<String, Vec<String>> {
    report
        .workloads
        .iter()
        .map(|w| {
            let mut rules: Vec<String> = w
                .findings
                .iter()
                .map(|f| format!("{}:{}", f.rule.id, f.severity))
                .collect();
            rules.sort();
            (
                format!("{}/{}/{}", w.namespace, w.kind.as_str(), w.name),
                rules,
            )
        })
        .collect()
}

fn expected() -> BTreeMap<String, Vec<String>> {
    let entries: &[(&str, &[&str])] = &[
        (
            "blog/Deployment/wordpress",
            &[
                "no-disruption-budget:low",
                "privilege-escalation:low",
                "runs-as-root:medium",
                "secret-in-env:high",
                "service-account-token:medium",
                "single-writer-claim-replicas:critical",
                "writable-root-filesystem:high",
            ],
        ),
        (
            "blog/Deployment/wordpress-mysql",
            &[
                "privilege-escalation:low",
                "runs-as-root:medium",
                "service-account-token:medium",
                "single-replica-no-disruption-budget:medium",
                "single-writer-claim-rolling-update:high",
                "writable-root-filesystem:high",
            ],
        ),
        (
            "data/StatefulSet/db-postgresql",
            &[
                "per-pod-claims:high",
                "unbounded-empty-dir:medium",
                "unbounded-empty-dir:medium",
            ],
        ),
        (
            "default/Pod/netshoot",
            &[
                "added-capabilities:high",
                "bare-pod:medium",
                "host-namespace:high",
                "privileged-container:critical",
                "runs-as-root:medium",
                "service-account-token:medium",
                "writable-root-filesystem:high",
            ],
        ),
        (
            "monitoring/DaemonSet/node-exporter-prometheus-node-exporter",
            &[
                "host-namespace:high",
                "host-namespace:high",
                "host-path-volume:medium",
                "host-path-volume:medium",
                "host-path-volume:medium",
                "privilege-escalation:low",
            ],
        ),
        (
            "monitoring/Deployment/grafana",
            &[
                "added-capabilities:medium",
                "privilege-escalation:low",
                "runs-as-root:high",
                "service-account-token:medium",
                "single-replica-no-disruption-budget:medium",
                "single-writer-claim-rolling-update:high",
                "unbounded-empty-dir:medium",
                "writable-root-filesystem:high",
                "writable-root-filesystem:high",
                "writable-root-filesystem:medium",
            ],
        ),
        (
            "ops/CronJob/restic-backup",
            &[
                "host-path-volume:high",
                "host-path-volume:medium",
                "privilege-escalation:low",
                "runs-as-root:medium",
                "secret-in-env:high",
                "secret-in-env:high",
                "service-account-token:medium",
                "writable-root-filesystem:high",
            ],
        ),
        ("ops/Job/schema-migrate", &[]),
        (
            "search/Deployment/indexer",
            &["single-replica-no-disruption-budget:medium"],
        ),
        ("shop/Deployment/frontend-podinfo", &[]),
        ("shop/Deployment/media", &[]),
        ("shop/Deployment/orders", &[]),
        (
            "storage/Deployment/minio",
            &[
                "local-persistent-volume:medium",
                "privilege-escalation:low",
                "service-account-token:medium",
                "single-replica-no-disruption-budget:medium",
                "single-writer-claim-rolling-update:high",
                "writable-root-filesystem:high",
            ],
        ),
        ("web/Deployment/web-nginx", &["unbounded-empty-dir:medium"]),
    ];
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
        .collect()
}

#[test]
fn the_corpus_gets_the_findings_each_workload_deserves() {
    let report = audit::audit_files(&corpus(), &Filter::default()).unwrap();
    assert_eq!(summary(&report), expected());
    // Every finding points at the document its workload starts on.
    for w in &report.workloads {
        let source = w.source.as_ref().unwrap();
        let text =
            std::fs::read_to_string(format!("{}/{}", env!("CARGO_MANIFEST_DIR"), source.file))
                .unwrap();
        let rest: Vec<&str> = text.lines().skip(source.line - 1).take(40).collect();
        assert!(
            rest.iter().any(|l| l.trim() == format!("name: {}", w.name)),
            "{}:{} is not where {} starts",
            source.file,
            source.line,
            w.name
        );
    }
}

#[test]
fn what_the_operator_renders_passes_its_own_audit() {
    for example in [
        "examples/minimal.yaml",
        "examples/full.yaml",
        "examples/single-writer.yaml",
    ] {
        let text =
            std::fs::read_to_string(format!("{}/{example}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let rendered = stateless_operator::render::render(example, &text).unwrap();
        let report =
            audit::audit_files(&[(example.to_string(), rendered)], &Filter::default()).unwrap();
        assert_eq!(report.workloads.len(), 1, "{example}");
        let findings: Vec<&str> = report.workloads[0]
            .findings
            .iter()
            .map(|f| f.rule.id)
            .collect();
        // One replica (single-writer.yaml) gets no budget from the operator, by design.
        assert!(
            findings.is_empty() || findings == ["single-replica-no-disruption-budget"],
            "{example}: {findings:?}"
        );
    }
}

fn resource(kind: &str) -> Option<ResourceRef> {
    let (group, plural) = match kind {
        "Deployment" => ("apps", "deployments"),
        "StatefulSet" => ("apps", "statefulsets"),
        "DaemonSet" => ("apps", "daemonsets"),
        "ReplicaSet" => ("apps", "replicasets"),
        "Job" => ("batch", "jobs"),
        "CronJob" => ("batch", "cronjobs"),
        "PodDisruptionBudget" => ("policy", "poddisruptionbudgets"),
        "Pod" => ("", "pods"),
        "PersistentVolumeClaim" => ("", "persistentvolumeclaims"),
        "PersistentVolume" => ("", "persistentvolumes"),
        "ServiceAccount" => ("", "serviceaccounts"),
        "ConfigMap" => ("", "configmaps"),
        "Secret" => ("", "secrets"),
        "Service" => ("", "services"),
        _ => return None,
    };
    Some(ResourceRef::new(group, "v1", plural))
}

/// A fake API server holding every object of the corpus.
fn fake_with_corpus() -> FakeApi {
    let fake = FakeApi::new();
    for (kind, group, plural) in [
        ("StatefulSet", "apps", "statefulsets"),
        ("DaemonSet", "apps", "daemonsets"),
        ("ReplicaSet", "apps", "replicasets"),
        ("Job", "batch", "jobs"),
        ("CronJob", "batch", "cronjobs"),
    ] {
        fake.register(KindInfo::new(group, "v1", kind, plural).with_status());
    }
    fake.register(
        KindInfo::new("", "v1", "PersistentVolume", "persistentvolumes")
            .cluster_scoped()
            .with_status(),
    );
    for (file, text) in corpus() {
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let mut object = Value::deserialize(doc).unwrap();
            if object.is_null() {
                continue;
            }
            let kind = object["kind"].as_str().unwrap().to_string();
            let res = resource(&kind).unwrap_or_else(|| panic!("{file}: kind {kind}"));
            if kind != "PersistentVolume" && object.pointer("/metadata/namespace").is_none() {
                object["metadata"]["namespace"] = Value::from("default");
            }
            fake.create(&res, object)
                .unwrap_or_else(|e| panic!("{file}: create {kind}: {e:?}"));
        }
    }
    fake
}

#[tokio::test]
async fn the_live_audit_finds_what_the_file_audit_finds_with_paged_lists_only() {
    let fake = fake_with_corpus();
    fake.reset_requests();
    let scope = live::Scope {
        namespace: None,
        selector: None,
        page_size: 2,
    };
    let report = live::audit_cluster(&fake.client(), &scope).await.unwrap();
    assert_eq!(summary(&report), expected());
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    let requests = fake.requests();
    assert_eq!(fake.writes(), 0);
    assert!(
        requests.iter().all(|r| r.verb == "list"),
        "only lists: {requests:?}"
    );
    // Paged: every list asks for at most 2 objects; kinds with more objects take more pages.
    assert!(
        requests.iter().all(|r| r.query.contains("limit=2")),
        "{requests:?}"
    );
    let pages = |plural: &str| fake.count(&RequestFilter::default().resource(plural));
    assert_eq!(pages("deployments"), 5, "9 Deployments in pages of 2");
    assert_eq!(pages("poddisruptionbudgets"), 3, "5 budgets in pages of 2");
    assert_eq!(pages("jobs"), 1);
    // One page per 2 objects of each listed kind (at least one), nothing else.
    let listed = [
        (
            "poddisruptionbudgets",
            ResourceRef::new("policy", "v1", "poddisruptionbudgets"),
        ),
        (
            "persistentvolumeclaims",
            ResourceRef::new("", "v1", "persistentvolumeclaims"),
        ),
        (
            "serviceaccounts",
            ResourceRef::new("", "v1", "serviceaccounts"),
        ),
        (
            "persistentvolumes",
            ResourceRef::new("", "v1", "persistentvolumes"),
        ),
        ("deployments", ResourceRef::new("apps", "v1", "deployments")),
        (
            "statefulsets",
            ResourceRef::new("apps", "v1", "statefulsets"),
        ),
        ("daemonsets", ResourceRef::new("apps", "v1", "daemonsets")),
        ("replicasets", ResourceRef::new("apps", "v1", "replicasets")),
        ("cronjobs", ResourceRef::new("batch", "v1", "cronjobs")),
        ("jobs", ResourceRef::new("batch", "v1", "jobs")),
        ("pods", ResourceRef::new("", "v1", "pods")),
    ];
    for (plural, res) in &listed {
        let objects = fake.list(res, None).len();
        assert_eq!(
            pages(plural),
            objects.div_ceil(2).max(1),
            "{plural}: {objects} objects"
        );
    }
    assert_eq!(
        requests.len(),
        listed.iter().map(|(p, _)| pages(p)).sum::<usize>()
    );
}

#[tokio::test]
async fn the_live_audit_keeps_to_its_namespace_and_selector() {
    let fake = fake_with_corpus();
    fake.reset_requests();
    let scope = live::Scope {
        namespace: Some("shop".to_string()),
        selector: Some("app.kubernetes.io/name=orders".to_string()),
        page_size: 0,
    };
    let report = live::audit_cluster(&fake.client(), &scope).await.unwrap();
    let names: Vec<String> = summary(&report).into_keys().collect();
    assert_eq!(names, vec!["shop/Deployment/orders"]);
    for r in fake.requests() {
        if r.resource != "persistentvolumes" {
            assert_eq!(r.namespace.as_deref(), Some("shop"), "{r:?}");
        }
    }
}

#[tokio::test]
async fn forbidden_lists_are_errors_except_the_optional_volumes() {
    let fake = fake_with_corpus();
    fake.inject(FaultRule::status(403).resource("persistentvolumes"));
    let report = live::audit_cluster(&fake.client(), &live::Scope::default())
        .await
        .unwrap();
    assert!(
        report.notes.iter().any(|n| n.starts_with(
            "the local-persistent-volume rule was skipped: cannot list PersistentVolumes"
        )),
        "{:?}",
        report.notes
    );
    // Without the volumes, the node-local finding is the only one missing.
    let minio = &summary(&report)["storage/Deployment/minio"];
    assert!(
        !minio
            .iter()
            .any(|r| r.starts_with("local-persistent-volume"))
    );
    fake.clear_faults();
    fake.inject(FaultRule::status(403).resource("deployments"));
    let e = live::audit_cluster(&fake.client(), &live::Scope::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("list deployments"), "{e}");
    assert!(
        e.to_string()
            .contains("the audit needs `list` on deployments"),
        "{e}"
    );
}

fn corpus_args(extra: &[&'static str]) -> Vec<String> {
    let mut args = vec!["audit".to_string()];
    args.extend(corpus().into_iter().map(|(f, _)| f));
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn run_strings(args: &[String]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args, None)
}

#[test]
fn the_table_groups_by_namespace_worst_first_and_ends_with_a_summary() {
    let out = run_strings(&corpus_args(&[]));
    assert_eq!(out.status.code(), Some(1), "high findings fail by default");
    let text = String::from_utf8(out.stdout).unwrap();
    let namespaces: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("NAMESPACE "))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    // Critical first (alphabetical among equals), clean namespaces last.
    assert_eq!(
        namespaces,
        vec![
            "blog",
            "default",
            "data",
            "monitoring",
            "ops",
            "storage",
            "search",
            "web",
            "shop"
        ]
    );
    assert!(
        text.contains("FIXES\n  writable-root-filesystem  "),
        "{text}"
    );
    let last = text.lines().last().unwrap();
    assert_eq!(
        last,
        "14 workloads in 9 namespaces, 10 with findings: 2 critical, 20 high, 26 medium, 7 low (FAIL: findings at or above high)"
    );
    // The secret values of the corpus never appear.
    for secret in ["Sup3rS3cret", "correct-horse", "wJalrXUtnFEMI"] {
        assert!(!text.contains(secret), "{secret}");
    }
}

#[test]
fn fail_on_sets_the_exit_status() {
    assert_eq!(
        run_strings(&corpus_args(&["--fail-on", "critical"]))
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        run_strings(&corpus_args(&["--fail-on", "none"]))
            .status
            .code(),
        Some(0)
    );
    let clean = [
        "audit",
        "tests/fixtures/workloads/contract/orders.yaml",
        "--fail-on",
        "info",
    ];
    assert_eq!(run(&clean, None).status.code(), Some(0));
    let indexer = ["audit", "tests/fixtures/workloads/contract/indexer.yaml"];
    assert_eq!(
        run(&indexer, None).status.code(),
        Some(0),
        "a medium finding passes --fail-on high"
    );
    let indexer = [
        "audit",
        "tests/fixtures/workloads/contract/indexer.yaml",
        "--fail-on",
        "medium",
    ];
    assert_eq!(run(&indexer, None).status.code(), Some(1));
}

#[test]
fn json_output_carries_every_finding_with_its_fix() {
    let out = run_strings(&corpus_args(&["-o", "json", "-n", "blog"]));
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["workloads"], 2);
    assert_eq!(v["summary"]["failOn"], "high");
    assert_eq!(v["summary"]["failed"], true);
    assert_eq!(v["summary"]["bySeverity"]["critical"], 1);
    let first = &v["workloads"][0];
    assert_eq!(
        (first["kind"].as_str(), first["name"].as_str()),
        (Some("Deployment"), Some("wordpress"))
    );
    assert_eq!(
        first["source"]["file"],
        "tests/fixtures/workloads/wordpress.yaml"
    );
    let f = &first["findings"][0];
    assert_eq!(f["rule"], "single-writer-claim-replicas");
    assert_eq!(f["severity"], "critical");
    assert_eq!(
        f["path"],
        "spec.template.spec.volumes[0].persistentVolumeClaim.claimName"
    );
    assert!(f["fix"].as_str().unwrap().ends_with('.'));
    let root = first["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "writable-root-filesystem")
        .unwrap();
    assert_eq!(root["related"][0], "polaris:notReadOnlyRootFilesystem");
}

#[test]
fn sarif_output_is_a_sarif_2_1_0_log_with_rules_and_file_locations() {
    let out = run_strings(&corpus_args(&["-o", "sarif"]));
    assert_eq!(out.status.code(), Some(1));
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    assert_eq!(
        log["$schema"],
        "https://json.schemastore.org/sarif-2.1.0.json"
    );
    let run = &log["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "stateless-operator");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), audit::rules::ALL.len());
    for rule in rules {
        assert!(rule["id"].is_string() && rule["shortDescription"]["text"].is_string());
        assert!(rule["help"]["text"].as_str().unwrap().len() > 20);
        assert!(
            ["error", "warning", "note"]
                .contains(&rule["defaultConfiguration"]["level"].as_str().unwrap())
        );
    }
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 55);
    for r in results {
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(
            rules[index]["id"], r["ruleId"],
            "ruleIndex points at the rule"
        );
        assert!(r["message"]["text"].as_str().unwrap().contains("Fix: "));
        let physical = &r["locations"][0]["physicalLocation"];
        assert!(
            physical["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .starts_with("tests/fixtures/workloads/")
        );
        assert!(physical["region"]["startLine"].as_u64().unwrap() >= 1);
    }
    let netshoot = results
        .iter()
        .find(|r| r["ruleId"] == "privileged-container")
        .unwrap();
    assert_eq!(netshoot["level"], "error");
    assert_eq!(
        netshoot["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "tests/fixtures/workloads/debug-pod.yaml"
    );
    assert_eq!(
        netshoot["locations"][0]["physicalLocation"]["region"]["startLine"],
        2
    );
}

#[test]
fn standard_input_and_lists_work_and_bad_input_exits_2() {
    let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: a, namespace: x}\n  spec: {selector: {}, template: {spec: {containers: [{name: a, image: a}]}}}\n";
    let out = run(&["audit", "-", "--fail-on", "none"], Some(list));
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("Deployment/a")
    );
    for (args, stdin, fragment) in [
        (
            vec!["audit", "-"],
            Some("a: [\n"),
            "error: <stdin>:1: not valid YAML",
        ),
        (
            vec!["audit", "missing.yaml"],
            None,
            "error: missing.yaml: cannot read",
        ),
        (
            vec!["audit", "-", "-l", "app in (x"],
            Some(list),
            "error: label selector \"app in (x\"",
        ),
        (
            vec!["audit", "--fail-on", "severe", "-"],
            Some(list),
            "\"severe\" is not a severity",
        ),
        (
            vec!["audit", "-n", "shop"],
            None,
            "error: cannot connect to a cluster",
        ),
    ] {
        let out = run(&args, stdin);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(fragment), "{args:?}: {stderr}");
    }
}

#[test]
fn formats_are_deterministic() {
    let sources = corpus();
    let report = audit::audit_files(&sources, &Filter::default()).unwrap();
    for format in [Format::Table, Format::Json, Format::Sarif] {
        let a = audit::format(&report, format, Some(Severity::High)).unwrap();
        let again = audit::audit_files(&sources, &Filter::default()).unwrap();
        assert_eq!(
            a,
            audit::format(&again, format, Some(Severity::High)).unwrap(),
            "{format:?}"
        );
    }
}
