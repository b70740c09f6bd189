//! Audit benchmark: N generated workloads (default 10,000) of a realistic mix — Deployments
//! with sidecars, config, secrets, claims and probes, StatefulSets with claim templates,
//! DaemonSets with host paths, Jobs and CronJobs — with their disruption budgets, claims and
//! service accounts, in 20 namespaces.
//!
//! It measures, in one process:
//! - the pure audit of the typed workloads (what `audit` does per object);
//! - the file path: parsing one multi-document YAML text of every object, then auditing;
//! - formatting the report as table, JSON and SARIF;
//! - the live path: the same objects in the in-process fake API server, audited through paged
//!   lists (500 per page), with the number of list requests;
//!
//! and for each, the peak live heap above what was allocated before it started (a counting
//! global allocator, exact). It prints figures and asserts nothing.
//!
//! ```text
//! cargo bench --bench audit                 # N = 10000
//! cargo bench --bench audit -- 2000 --no-live
//! ```

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use serde_json::{Value, json};
use stateless_operator::audit::{self, Context, Filter, Format, Inventory, Workload, live};
use support::fake_api::{FakeApi, KindInfo, RequestFilter, ResourceRef};

/// Counts live heap bytes and their peak.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let p = unsafe { std::alloc::System.alloc(layout) };
        if !p.is_null() {
            let now =
                LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed) + layout.size() as isize;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        unsafe { std::alloc::System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Measures `f`: wall time and peak heap above the heap at the start.
fn measure<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let start = Instant::now();
    let out = f();
    let secs = start.elapsed().as_secs_f64();
    let peak = (PEAK.load(Ordering::Relaxed) - base) as f64 / (1024.0 * 1024.0);
    (out, secs, peak)
}

fn container(i: usize, hardened: bool, mounts: Value) -> Value {
    let mut c = json!({
        "name": "app",
        "image": format!("registry.example.com/team-{}/svc-{i}:1.{}.0", i % 37, i % 9),
        "args": ["serve", "--port=8080", format!("--shard={}", i % 16)],
        "env": [
            {"name": "LOG_LEVEL", "value": "info"},
            {"name": "REGION", "value": "eu-west-1"},
            {"name": "DB_HOST", "value": format!("db-{}.data.svc", i % 50)},
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": format!("svc-{i}"), "key": "password"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        ],
        "ports": [{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9090}],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 10},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "volumeMounts": mounts,
    });
    if i % 10 == 3 {
        c["env"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "API_TOKEN", "value": "literal-token-value"}));
    }
    if hardened {
        c["securityContext"] = json!({
            "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
            "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]},
        });
    }
    c
}

/// Every object of the generated cluster: workloads, budgets, claims, service accounts.
fn generate(n: usize) -> Vec<Value> {
    let mut objects = Vec::with_capacity(n * 2);
    for ns in 0..20 {
        objects.push(json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": format!("team-{ns}")},
            "automountServiceAccountToken": ns % 2 == 0,
        }));
    }
    for i in 0..n {
        let ns = format!("team-{}", i % 20);
        let name = format!("svc-{i}");
        let labels = json!({"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": format!("product-{}", i % 40)});
        let hardened = i % 5 < 2;
        let claim = i % 10 < 3;
        let mut mounts = vec![
            json!({"name": "tmp", "mountPath": "/tmp"}),
            json!({"name": "config", "mountPath": "/etc/app", "readOnly": true}),
        ];
        let mut volumes = vec![
            json!({"name": "tmp", "emptyDir": if i % 2 == 0 { json!({"sizeLimit": "64Mi"}) } else { json!({}) }}),
            json!({"name": "config", "configMap": {"name": name}}),
        ];
        if claim {
            mounts.push(json!({"name": "data", "mountPath": "/var/lib/app"}));
            volumes.push(json!({"name": "data", "persistentVolumeClaim": {"claimName": name}}));
            objects.push(json!({
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"accessModes": [if i % 3 == 0 { "ReadWriteMany" } else { "ReadWriteOnce" }], "resources": {"requests": {"storage": "10Gi"}}},
            }));
        }
        let mut containers = vec![container(i, hardened, Value::from(mounts))];
        if i % 5 == 4 {
            containers.push(json!({
                "name": "proxy", "image": "envoyproxy/envoy:v1.32.1",
                "args": ["-c", "/etc/envoy/envoy.yaml"],
                "ports": [{"name": "proxy", "containerPort": 15001}],
            }));
        }
        let pod = json!({
            "metadata": {"labels": labels},
            "spec": {
                "automountServiceAccountToken": if hardened { json!(false) } else { Value::Null },
                "securityContext": if hardened { json!({"runAsUser": 10001, "fsGroup": 10001}) } else { json!({}) },
                "initContainers": if i % 7 == 0 { json!([{"name": "migrate", "image": "migrate:1", "args": ["up"]}]) } else { json!([]) },
                "containers": containers,
                "volumes": volumes,
            },
        });
        let metadata = json!({"name": name, "namespace": ns, "labels": labels});
        let selector = json!({"matchLabels": {"app.kubernetes.io/name": name}});
        let workload = match i % 20 {
            0 | 1 => json!({
                "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": metadata,
                "spec": {"replicas": 3, "serviceName": name, "selector": selector, "template": pod,
                         "volumeClaimTemplates": [{"metadata": {"name": "state"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}}]},
            }),
            2 | 3 => {
                let mut pod = pod;
                pod["spec"]["volumes"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "logs", "hostPath": {"path": "/var/log"}}));
                pod["spec"]["containers"][0]["volumeMounts"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "logs", "mountPath": "/host/logs", "readOnly": true}));
                json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": metadata, "spec": {"selector": selector, "template": pod}})
            }
            4 => json!({
                "apiVersion": "batch/v1", "kind": "CronJob", "metadata": metadata,
                "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": pod}}},
            }),
            5 => {
                json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": {"template": pod}})
            }
            _ => json!({
                "apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata,
                "spec": {"replicas": 1 + i % 4, "selector": selector, "template": pod,
                         "strategy": if i % 3 == 0 { json!({"type": "Recreate"}) } else { json!({}) }},
            }),
        };
        objects.push(workload);
        if i % 2 == 0 {
            objects.push(json!({
                "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"maxUnavailable": 1, "selector": selector},
            }));
        }
    }
    objects
}

/// The typed inventory (what both input paths produce).
fn inventory(objects: &[Value]) -> Inventory {
    let mut inv = Inventory::default();
    let mut ctx = Context::default();
    for o in objects {
        let ns = o["metadata"]["namespace"].as_str().unwrap_or("default");
        let v = o.clone();
        match o["kind"].as_str().unwrap() {
            "Deployment" => inv.workloads.push(Workload::from_deployment(
                serde_json::from_value(v).unwrap(),
                ns,
            )),
            "StatefulSet" => inv.workloads.push(Workload::from_stateful_set(
                serde_json::from_value(v).unwrap(),
                ns,
            )),
            "DaemonSet" => inv.workloads.push(Workload::from_daemon_set(
                serde_json::from_value(v).unwrap(),
                ns,
            )),
            "Job" => inv
                .workloads
                .push(Workload::from_job(serde_json::from_value(v).unwrap(), ns)),
            "CronJob" => inv.workloads.push(Workload::from_cron_job(
                serde_json::from_value(v).unwrap(),
                ns,
            )),
            "PodDisruptionBudget" => ctx
                .add_budget(&serde_json::from_value(v).unwrap(), ns)
                .unwrap(),
            "PersistentVolumeClaim" => ctx.add_claim(&serde_json::from_value(v).unwrap(), ns),
            "ServiceAccount" => ctx.add_service_account(&serde_json::from_value(v).unwrap(), ns),
            other => panic!("unexpected kind {other}"),
        }
    }
    inv.context = ctx;
    inv
}

fn resource(kind: &str) -> ResourceRef {
    match kind {
        "Deployment" => ResourceRef::new("apps", "v1", "deployments"),
        "StatefulSet" => ResourceRef::new("apps", "v1", "statefulsets"),
        "DaemonSet" => ResourceRef::new("apps", "v1", "daemonsets"),
        "Job" => ResourceRef::new("batch", "v1", "jobs"),
        "CronJob" => ResourceRef::new("batch", "v1", "cronjobs"),
        "PodDisruptionBudget" => ResourceRef::new("policy", "v1", "poddisruptionbudgets"),
        "PersistentVolumeClaim" => ResourceRef::new("", "v1", "persistentvolumeclaims"),
        "ServiceAccount" => ResourceRef::new("", "v1", "serviceaccounts"),
        other => panic!("unexpected kind {other}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let n: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(10_000);
    let with_live = !args.iter().any(|a| a == "--no-live");
    let objects = generate(n);
    let profile = if cfg!(debug_assertions) {
        "unoptimised (debug assertions on)"
    } else {
        "optimised"
    };
    println!(
        "audit benchmark: {n} workloads, {} objects in all, {profile} build",
        objects.len()
    );

    let inv = inventory(&objects);
    let (report, secs, peak) = measure(|| audit::audit(&inv));
    let findings: usize = report.workloads.iter().map(|w| w.findings.len()).sum();
    println!(
        "pure audit:           {:>8.3} s  {:>7.1} µs/workload  {findings} findings  peak heap {peak:.1} MiB (the report)",
        secs,
        secs * 1e6 / n as f64
    );
    drop(inv);

    let text: String = objects
        .iter()
        .map(|o| format!("---\n{}", serde_yaml_ng::to_string(o).unwrap()))
        .collect();
    let sources = vec![("generated.yaml".to_string(), text)];
    let (from_files, secs, peak) =
        measure(|| audit::audit_files(&sources, &Filter::default()).unwrap());
    println!(
        "files (parse+audit):  {:>8.3} s  {:>7.1} µs/workload  {} MiB of YAML  peak heap {peak:.1} MiB",
        secs,
        secs * 1e6 / n as f64,
        sources[0].1.len() / (1024 * 1024)
    );
    if from_files.workloads.len() != report.workloads.len() {
        println!(
            "  (the file path saw {} workloads)",
            from_files.workloads.len()
        );
    }
    drop(sources);

    for format in [Format::Table, Format::Json, Format::Sarif] {
        let (out, secs, peak) = measure(|| audit::format(&report, format, None).unwrap());
        println!(
            "format {:<6}         {:>8.3} s  {:>7} KiB output  peak heap {peak:.1} MiB",
            format!("{format:?}").to_lowercase(),
            secs,
            out.len() / 1024
        );
    }

    if with_live {
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
            KindInfo::new("", "v1", "PersistentVolume", "persistentvolumes").cluster_scoped(),
        );
        let start = Instant::now();
        for o in &objects {
            fake.create(&resource(o["kind"].as_str().unwrap()), o.clone())
                .unwrap();
        }
        println!(
            "(loading the fake API server took {:.1} s)",
            start.elapsed().as_secs_f64()
        );
        drop(objects);
        fake.reset_requests();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _inside = runtime.enter();
        let client = fake.client();
        let (live_report, secs, peak) = measure(|| {
            runtime
                .block_on(live::audit_cluster(&client, &live::Scope::default()))
                .unwrap()
        });
        let lists = fake.count(&RequestFilter::default().verb("list"));
        let others = fake.requests().len() - lists;
        println!(
            "live (fake API):      {:>8.3} s  {:>7.1} µs/workload  {lists} list requests, {others} others  peak heap {peak:.1} MiB (includes the fake's responses)",
            secs,
            secs * 1e6 / n as f64
        );
        if live_report.workloads.len() != report.workloads.len() {
            println!(
                "  (the live path saw {} workloads)",
                live_report.workloads.len()
            );
        }
    }
}
