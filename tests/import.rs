//! `import` over the corpus of chart-rendered workloads in `tests/fixtures/workloads/`:
//! - round trip: for Deployments that already meet the contract (`contract/`), import then
//!   `render` gives back a Deployment equal to the original in image, command, args, env,
//!   ports, probes, resources, mounts, replicas and user ids (and the config data and claim);
//! - nothing is dropped silently: every volume, init container, sidecar and claim template of
//!   every workload is either carried over or named in a change;
//! - the changes the issue asks for (emptyDirs, sidecars, host paths, per-pod claims, secrets);
//! - the live path against the in-process fake API server (GETs only), and the binary.

mod support;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret};
use serde::Deserialize;
use serde_json::{Value, json};
use stateless_operator::import::{self, ChangeKind, Imported, Options, WorkloadKind};
use stateless_operator::render;
use support::binary::run;
use support::fake_api::{FakeApi, ResourceRef};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/workloads");

fn read(file: &str) -> (String, String) {
    let path = format!("{DIR}/{file}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    (file.to_string(), text)
}

fn docs(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn import_file(file: &str) -> Vec<Imported> {
    import::import_files(&[read(file)], &Options::default())
        .unwrap_or_else(|e| panic!("import {file}: {e}"))
}

fn import_one(file: &str) -> Imported {
    let mut all = import_file(file);
    assert_eq!(all.len(), 1, "{file}: one workload");
    all.remove(0)
}

/// Renders an imported StatelessService with the operator's own `render`; returns its objects.
fn render_imported(imported: &Imported) -> Vec<Value> {
    let yaml = import::to_yaml(imported, true).unwrap();
    let out = render::render("imported.yaml", &yaml)
        .unwrap_or_else(|e| panic!("render of the import failed: {e:?}\n{yaml}"));
    docs(&out)
}

fn find<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

fn change_text(imported: &Imported) -> String {
    imported
        .changes
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A probe with the API server's defaults filled in, so that a probe read from a file and one
/// read back from a server compare equal.
fn probe(p: &Value) -> Value {
    let mut p = p.clone();
    if let Some(m) = p.as_object_mut() {
        for (field, default) in [
            ("timeoutSeconds", 1),
            ("periodSeconds", 10),
            ("successThreshold", 1),
            ("failureThreshold", 3),
        ] {
            m.entry(field).or_insert(json!(default));
        }
        if m.get("initialDelaySeconds") == Some(&json!(0)) {
            m.remove("initialDelaySeconds");
        }
    }
    p
}

/// What the contract and the workload depend on, from a Deployment (original or rendered).
fn essentials(deployment: &Value) -> Value {
    let pod = &deployment["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let volumes: BTreeMap<&str, &Value> = pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| (v["name"].as_str().unwrap(), v))
        .collect();
    let mut mounts: Vec<Value> = c["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let v = volumes[m["name"].as_str().unwrap()];
            let kind = ["emptyDir", "configMap", "secret", "persistentVolumeClaim"]
                .into_iter()
                .find(|k| v.get(*k).is_some())
                .unwrap_or("other");
            // ConfigMap and Secret volumes are read-only whatever the mount says.
            let read_only =
                matches!(kind, "configMap" | "secret") || m["readOnly"].as_bool().unwrap_or(false);
            json!({
                "path": m["mountPath"].as_str().unwrap().trim_end_matches('/'),
                "readOnly": read_only,
                "kind": kind,
                "sizeLimit": v.pointer("/emptyDir/sizeLimit"),
                "medium": v.pointer("/emptyDir/medium").filter(|m| m != &&json!("")),
            })
        })
        .collect();
    mounts.sort_by_key(|m| m["path"].as_str().unwrap().to_string());
    let ports: Vec<Value> = c["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            json!({
                "name": p["name"],
                "containerPort": p["containerPort"],
                "protocol": p.get("protocol").cloned().unwrap_or(json!("TCP")),
            })
        })
        .collect();
    let id = |field: &str| {
        c.pointer(&format!("/securityContext/{field}"))
            .or_else(|| pod.pointer(&format!("/securityContext/{field}")))
            .cloned()
            .unwrap_or(Value::Null)
    };
    json!({
        "replicas": deployment["spec"].get("replicas").cloned().unwrap_or(json!(1)),
        "image": c["image"],
        "command": c["command"],
        "args": c["args"],
        "env": c.get("env").cloned().unwrap_or(json!([])),
        "ports": ports,
        "readinessProbe": c.get("readinessProbe").map(probe),
        "livenessProbe": c.get("livenessProbe").map(probe),
        "resources": c.get("resources").cloned().unwrap_or(json!({})),
        "mounts": mounts,
        "runAsUser": id("runAsUser"),
        "runAsGroup": id("runAsGroup"),
        "fsGroup": pod.pointer("/securityContext/fsGroup"),
    })
}

const CONTRACT: [&str; 4] = [
    "contract/podinfo.yaml",
    "contract/orders.yaml",
    "contract/media.yaml",
    "contract/indexer.yaml",
];

#[test]
fn contract_workloads_survive_import_then_render() {
    for file in CONTRACT {
        let original = docs(&read(file).1);
        let deployment = find(&original, "Deployment");
        let imported = import_one(file);
        let rendered = render_imported(&imported);
        let expected = essentials(deployment);
        // The comparison is not vacuous: each workload has an image, mounts and a probe.
        assert!(expected["image"].is_string(), "{file}");
        assert!(
            !expected["mounts"].as_array().unwrap().is_empty(),
            "{file}: {expected}"
        );
        assert!(
            expected["livenessProbe"].is_object() || expected["readinessProbe"].is_object(),
            "{file}"
        );
        assert_eq!(
            essentials(find(&rendered, "Deployment")),
            expected,
            "{file}: the rendered Deployment differs from the original\nchanges:\n{}",
            change_text(&imported)
        );
        // Nothing the contract already met is reported as lost.
        for c in &imported.changes {
            let allowed = c.kind == ChangeKind::Changed
                || c.field == "metadata"
                || c.field == "spec.template.metadata.annotations";
            assert!(allowed, "{file}: {c}");
        }
        // The claim keeps its size, class and access mode.
        if let Some(original_claim) = original
            .iter()
            .find(|o| o["kind"] == "PersistentVolumeClaim")
        {
            let claim = find(&rendered, "PersistentVolumeClaim");
            for field in ["accessModes", "storageClassName"] {
                assert_eq!(
                    claim["spec"][field], original_claim["spec"][field],
                    "{file}: claim {field}"
                );
            }
            assert_eq!(
                claim.pointer("/spec/resources/requests/storage"),
                original_claim.pointer("/spec/resources/requests/storage"),
                "{file}: claim size"
            );
        }
        // The config data is the mounted ConfigMap's.
        if let Some(original_config) = original.iter().find(|o| o["kind"] == "ConfigMap") {
            assert_eq!(
                find(&rendered, "ConfigMap")["data"],
                original_config["data"],
                "{file}: config data"
            );
        }
    }
}

#[test]
fn contract_workloads_change_only_names_labels_and_rollout_settings() {
    let orders = import_one("contract/orders.yaml");
    let kinds: Vec<(ChangeKind, &str)> = orders
        .changes
        .iter()
        .map(|c| (c.kind, c.field.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (ChangeKind::Dropped, "metadata"),
            (ChangeKind::Changed, "metadata.name"),
            (ChangeKind::Changed, "spec.template.metadata.labels"),
            (ChangeKind::Changed, "spec.template.spec.containers[0].name"),
            (ChangeKind::Changed, "spec.template.spec.volumes[1]"),
            (
                ChangeKind::Changed,
                "spec.template.spec.volumes[1].configMap"
            ),
            (ChangeKind::Changed, "spec.template.spec.volumes[2].secret"),
        ],
        "{}",
        change_text(&orders)
    );
    let text = change_text(&orders);
    // The existing ConfigMap has the name the operator's own ConfigMap takes.
    assert!(
        text.contains(
            "the existing ConfigMap `orders-config` has the name of the operator's own ConfigMap"
        ),
        "{text}"
    );
    // The Secret's key names (never values) say what to copy.
    assert!(
        text.contains(
            "copy the keys of `orders-credentials` (database-password, stripe-api-key) into it"
        ),
        "{text}"
    );
    assert!(
        !text.contains("not-a-real-password") && !text.contains("sk_test"),
        "{text}"
    );
}

/// Every workload file of the corpus (not only the contract ones).
fn corpus() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".yaml"))
        .collect();
    files.extend(CONTRACT.iter().map(|f| f.to_string()));
    files.sort();
    files
}

#[test]
fn every_workload_imports_to_a_valid_service_and_nothing_is_dropped_silently() {
    let mut imported_count = 0;
    for file in corpus() {
        let text = read(&file).1;
        let originals: Vec<Value> = docs(&text)
            .into_iter()
            .filter(|d| matches!(d["kind"].as_str(), Some("Deployment" | "StatefulSet")))
            .collect();
        if originals.is_empty() {
            let e = import::import_files(&[read(&file)], &Options::default()).unwrap_err();
            assert!(
                e.to_string()
                    .contains("no apps/v1 Deployment or StatefulSet found"),
                "{file}: {e}"
            );
            continue;
        }
        let imported = import_file(&file);
        assert_eq!(imported.len(), originals.len(), "{file}");
        for (original, imported) in originals.iter().zip(&imported) {
            imported_count += 1;
            render_imported(imported);
            let fields: Vec<&str> = imported.changes.iter().map(|c| c.field.as_str()).collect();
            let named = |prefix: &str| fields.iter().any(|f| f.starts_with(prefix));
            let pod = &original["spec"]["template"]["spec"];
            let containers = pod["containers"].as_array().unwrap();
            let main = containers
                .iter()
                .position(|c| {
                    Some(c["image"].as_str().unwrap()) == Some(imported.service.spec.image.as_str())
                })
                .unwrap();
            for (i, _) in containers.iter().enumerate().filter(|(i, _)| *i != main) {
                assert!(
                    named(&format!("spec.template.spec.containers[{i}]")),
                    "{file}: container {i} dropped silently\n{}",
                    change_text(imported)
                );
            }
            for (i, _) in pod["initContainers"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                assert!(
                    named(&format!("spec.template.spec.initContainers[{i}]")),
                    "{file}: init container {i}"
                );
            }
            for (i, _) in original["spec"]["volumeClaimTemplates"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                assert!(
                    named(&format!("spec.volumeClaimTemplates[{i}]")),
                    "{file}: claim template {i}"
                );
            }
            let main_mounts: Vec<&Value> = containers[main]["volumeMounts"]
                .as_array()
                .into_iter()
                .flatten()
                .collect();
            for (i, v) in pod["volumes"].as_array().into_iter().flatten().enumerate() {
                // The one emptyDir at /tmp (without a subPath) is the scratch directory as it was.
                let is_scratch = v.get("emptyDir").is_some()
                    && main_mounts.iter().any(|m| {
                        m["name"] == v["name"]
                            && m["mountPath"] == "/tmp"
                            && m.get("subPath").is_none()
                    })
                    && v.pointer("/emptyDir/sizeLimit").is_some();
                assert!(
                    is_scratch || named(&format!("spec.template.spec.volumes[{i}]")),
                    "{file}: volume {} dropped silently\n{}",
                    v["name"],
                    change_text(imported)
                );
            }
        }
    }
    assert!(
        imported_count >= 10,
        "the corpus holds {imported_count} workloads"
    );
}

#[test]
fn emptydirs_sidecars_and_init_containers_are_named_with_what_to_do() {
    let nginx = change_text(&import_one("nginx.yaml"));
    assert!(nginx.contains("volume `empty-dir` (emptyDir at /opt/bitnami/nginx/conf) dropped: only /tmp and the data claim are writable; point it at /tmp"), "{nginx}");
    assert!(
        nginx.contains("init container `preserve-logs-symlinks` dropped"),
        "{nginx}"
    );
    assert!(
        nginx.contains("emptyDir `empty-dir` at /tmp had no sizeLimit: scratch is limited to 64Mi"),
        "{nginx}"
    );

    let grafana = import_one("grafana.yaml");
    let text = change_text(&grafana);
    // The default-container annotation picks the application, not the sidecar listed first.
    assert_eq!(
        grafana.service.spec.image,
        "docker.io/grafana/grafana:11.4.0"
    );
    assert!(text.contains("cannot be expressed: spec.template.spec.containers[0]: container `grafana-sc-dashboard` dropped: import carries over the main container only; if it must run beside it, declare it in spec.sidecars"), "{text}");
    assert!(text.contains("the file `grafana.ini` of ConfigMap `grafana` mounted alone (subPath) at /etc/grafana/grafana.ini cannot be expressed"), "{text}");
    assert!(
        text.contains(
            "env `GF_SECURITY_ADMIN_PASSWORD` (Secret `grafana` key `admin-password`) dropped"
        ),
        "{text}"
    );
    assert!(
        text.contains("env `POD_IP` (fieldRef status.podIP) cannot be expressed"),
        "{text}"
    );
    assert!(
        text.contains("the service-account token is no longer mounted"),
        "{text}"
    );
    assert!(!text.contains("c3Ryb25n"), "a secret value leaked: {text}");
    let spec = &grafana.service.spec;
    assert_eq!(
        spec.config
            .as_ref()
            .unwrap()
            .data
            .keys()
            .collect::<Vec<_>>(),
        vec!["grafana.ini"]
    );
    assert_eq!(spec.config.as_ref().unwrap().mount_path, None);
    let storage = spec.storage.as_ref().unwrap();
    assert_eq!(
        (storage.size.0.as_str(), storage.mount_path.as_str()),
        ("10Gi", "/var/lib/grafana")
    );
    assert!(spec.secret.as_ref().unwrap().env);
    // A single-writer claim: the operator recreates instead of rolling, and says so.
    assert!(
        text.contains("spec.strategy: pods are updated with Recreate"),
        "{text}"
    );
}

#[test]
fn host_paths_and_per_pod_claims_cannot_be_expressed() {
    let (name, text) = read("postgresql.yaml");
    // One replica: the one pod's claim can become the service's claim.
    let single =
        import::import_files(&[(name.clone(), text.clone())], &Options::default()).unwrap();
    assert_eq!(
        single[0].service.spec.storage.as_ref().unwrap().size.0,
        "8Gi"
    );
    assert!(change_text(&single[0]).contains("the StatefulSet becomes a Deployment"));
    // Three replicas: each pod's own state has no equivalent.
    let three = text.replacen("  replicas: 1\n", "  replicas: 3\n", 1);
    let three = import::import_files(&[(name, three)], &Options::default()).unwrap();
    assert!(three[0].service.spec.storage.is_none());
    let changes = change_text(&three[0]);
    assert!(changes.contains("cannot be expressed: spec.volumeClaimTemplates[0]: volumeClaimTemplate `data` at /bitnami/postgresql cannot be expressed: each of the 3 pods owns its own claim"), "{changes}");

    let host = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: logs, namespace: ops}
spec:
  selector: {matchLabels: {app: logs}}
  template:
    metadata: {labels: {app: logs}}
    spec:
      containers:
      - name: app
        image: shipper:1
        volumeMounts: [{name: varlog, mountPath: /var/log/host, readOnly: true}]
      volumes: [{name: varlog, hostPath: {path: /var/log}}]
"#;
    let imported = import::import_files(
        &[("h.yaml".to_string(), host.to_string())],
        &Options::default(),
    )
    .unwrap();
    assert!(change_text(&imported[0]).contains("cannot be expressed: spec.template.spec.volumes[0].hostPath: volume `varlog` (the node's directory /var/log at /var/log/host) cannot be expressed"));
}

#[test]
fn shared_single_writer_claims_become_read_write_many_and_say_so() {
    let imported = import_file("wordpress.yaml");
    let web = &imported[0];
    assert_eq!(web.service.spec.replicas, 3);
    assert_eq!(
        web.service.spec.storage.as_ref().unwrap().access_mode,
        stateless_operator::crd::AccessMode::ReadWriteMany
    );
    assert!(
        change_text(web)
            .contains("3 replicas share the claim, so storage.accessMode is ReadWriteMany")
    );
    // Without strategy and with one replica, the database's claim makes the operator recreate.
    assert!(change_text(&imported[1]).contains("pods are updated with Recreate"));
}

#[test]
fn names_are_checked_and_sanitised() {
    let text = read("contract/media.yaml").1;
    let named = import::import_files(
        &[("m.yaml".to_string(), text.clone())],
        &Options {
            name: Some("media-v2".into()),
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(named[0].service.metadata.name.as_deref(), Some("media-v2"));
    assert!(change_text(&named[0]).contains("the StatelessService is named `media-v2`"));
    let e = import::import_files(
        &[("m.yaml".to_string(), text.clone())],
        &Options {
            name: Some("Media_V2".into()),
            ..Options::default()
        },
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("--name \"Media_V2\": a StatelessService name is a DNS label"),
        "{e}"
    );
    let dotted = text.replace(
        "name: media\n  namespace: shop\n  labels",
        "name: media.web\n  namespace: shop\n  labels",
    );
    let imported =
        import::import_files(&[("m.yaml".to_string(), dotted)], &Options::default()).unwrap();
    assert_eq!(
        imported[0].service.metadata.name.as_deref(),
        Some("media-web")
    );
    let e = import::import_files(
        &[read("wordpress.yaml")],
        &Options {
            name: Some("x".into()),
            ..Options::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("the input holds 2 workloads"), "{e}");
}

#[tokio::test]
async fn live_import_reads_the_workload_and_its_references_with_gets_only() {
    let fake = FakeApi::new();
    let objects = docs(&read("contract/orders.yaml").1);
    for o in &objects {
        let res = match o["kind"].as_str().unwrap() {
            "ConfigMap" => ResourceRef::of::<ConfigMap>(),
            "Secret" => ResourceRef::of::<Secret>(),
            "Deployment" => ResourceRef::of::<Deployment>(),
            "PersistentVolumeClaim" => ResourceRef::of::<PersistentVolumeClaim>(),
            _ => continue,
        };
        fake.create(&res, o.clone()).unwrap();
    }
    fake.reset_requests();
    let client = fake.client();
    let (workload, refs) = import::live::read(&client, WorkloadKind::Deployment, "shop", "orders")
        .await
        .unwrap();
    let verbs: Vec<(String, String)> = fake
        .requests()
        .into_iter()
        .map(|r| (r.verb, r.resource))
        .collect();
    assert_eq!(
        verbs,
        vec![
            ("get".to_string(), "deployments".to_string()),
            ("get".to_string(), "configmaps".to_string())
        ],
        "one GET for the workload and one per ConfigMap; never a Secret"
    );
    let live = import::convert::convert(&workload, &refs, &Options::default()).unwrap();
    let file = import_one("contract/orders.yaml");
    // The server's defaults (pull policy, grace period, probe timeouts...) change nothing but
    // the probes' explicit defaults; the Secret's key names are only known from files.
    let strip =
        |i: &Imported| -> Vec<String> { i.changes.iter().map(|c| c.field.clone()).collect() };
    assert_eq!(strip(&live), strip(&file), "{}", change_text(&live));
    assert_eq!(
        essentials(find(&render_imported(&live), "Deployment")),
        essentials(find(&render_imported(&file), "Deployment"))
    );
    let missing = import::live::read(&client, WorkloadKind::StatefulSet, "shop", "orders").await;
    assert!(
        matches!(
            missing,
            Err(import::ImportError::NotFound { .. }) | Err(import::ImportError::Kube(_))
        ),
        "{missing:?}"
    );
}

#[test]
fn the_binary_prints_yaml_on_stdout_and_changes_on_stderr_or_as_comments() {
    let file = "tests/fixtures/workloads/nginx.yaml";
    let out = run(&["import", file], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stdout.contains("# "), "no comments without --annotate");
    assert!(stderr.starts_with("Deployment web/web-nginx (tests/fixtures/workloads/nginx.yaml:59) -> StatelessService web-nginx: "), "{stderr}");
    // stdout is a StatelessService the operator accepts.
    render::render("out.yaml", &stdout).unwrap();

    let out = run(&["import", "-", "--annotate"], Some(&read("nginx.yaml").1));
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("# Imported from Deployment web/web-nginx (<stdin>:59)"),
        "{stdout}"
    );
    assert!(stdout.contains("# - dropped: spec.template.spec.volumes[0].emptyDir: volume `empty-dir` (emptyDir at /opt/bitnami/nginx/conf) dropped"), "{stdout}");
    assert!(out.stderr.is_empty());
    render::render("out.yaml", &stdout).unwrap();
}

#[test]
fn the_binary_exits_2_with_a_clear_error() {
    for (args, fragment) in [
        (
            vec!["import", "no-such-file.yaml"],
            "\"no-such-file.yaml\" is not a target: give deploy/NAME or sts/NAME",
        ),
        (
            vec!["import", "deploy/web", "-n", "shop"],
            "cannot connect to a cluster",
        ),
        (
            vec!["import", "tests/fixtures/workloads/node-exporter.yaml"],
            "no apps/v1 Deployment or StatefulSet found",
        ),
        (
            vec![
                "import",
                "tests/fixtures/workloads/contract/media.yaml",
                "--name",
                "Bad",
            ],
            "--name \"Bad\"",
        ),
    ] {
        let out = run(&args, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(fragment),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn a_literal_secret_in_env_is_not_copied_into_the_spec() {
    let all = import_file("wordpress.yaml");
    let wp = all
        .iter()
        .find(|i| i.service.metadata.name.as_deref() == Some("wordpress"))
        .expect("wordpress imported");
    let yaml = import::to_yaml(wp, true).unwrap();
    assert!(
        !yaml.contains("Sup3rS3cret!"),
        "secret value in the output:\n{yaml}"
    );
    let env = wp.service.spec.env.as_deref().unwrap_or_default();
    assert!(
        env.iter().all(|v| v.name != "WORDPRESS_DB_PASSWORD"),
        "{env:?}"
    );
    assert!(
        env.iter().any(|v| v.name == "WORDPRESS_DB_USER"),
        "other env kept: {env:?}"
    );
    assert!(
        wp.service.spec.secret.as_ref().is_some_and(|s| s.env),
        "secret.env set"
    );
    let changes = change_text(wp);
    assert!(
        changes.contains("WORDPRESS_DB_PASSWORD") && changes.contains("literal secret value"),
        "{changes}"
    );
    assert!(!changes.contains("Sup3rS3cret!"), "{changes}");
}
