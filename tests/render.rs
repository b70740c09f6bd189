//! `render` and `crd` as a user runs them: the examples, determinism, secret redaction, exit
//! codes and the error messages for every kind of bad input.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde::Deserialize;

const BIN: &str = env!("CARGO_BIN_EXE_stateless-operator");

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().expect("binary finishes")
}

fn render_text(text: &str) -> Output {
    run(&["render", "-"], Some(text))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn documents(yaml: &[u8]) -> Vec<serde_json::Value> {
    let text = std::str::from_utf8(yaml).unwrap();
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| serde_json::Value::deserialize(d).unwrap())
        .collect()
}

fn kinds(docs: &[serde_json::Value]) -> Vec<String> {
    docs.iter()
        .map(|d| d["kind"].as_str().unwrap().to_string())
        .collect()
}

fn examples() -> Vec<std::path::PathBuf> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_valid_example_renders_and_the_invalid_one_is_rejected() {
    let files = examples();
    assert!(files.len() >= 4, "examples: {files:?}");
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let out = run(&["render", file.to_str().unwrap()], None);
        if name.starts_with("invalid") {
            assert!(!out.status.success(), "{name} must be rejected");
            assert!(out.stdout.is_empty(), "{name}: nothing printed on stdout");
        } else {
            assert!(out.status.success(), "{name}: {}", stderr(&out));
            let docs = documents(&out.stdout);
            assert!(kinds(&docs).contains(&"Deployment".to_string()), "{name}");
        }
    }
}

#[test]
fn full_example_shows_all_its_kinds_in_a_fixed_order() {
    let out = run(&["render", "examples/full.yaml"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let docs = documents(&out.stdout);
    assert_eq!(
        kinds(&docs),
        [
            "ConfigMap",
            "Secret",
            "PersistentVolumeClaim",
            "Deployment",
            "PodDisruptionBudget",
            "Service"
        ]
    );
    assert_eq!(docs[3]["apiVersion"], "apps/v1");
    assert_eq!(docs[4]["apiVersion"], "policy/v1");
    assert_eq!(docs[5]["apiVersion"], "v1");
}

#[test]
fn exposed_example_shows_its_service_autoscaler_and_route() {
    let out = run(&["render", "examples/exposed.yaml"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let docs = documents(&out.stdout);
    assert_eq!(
        kinds(&docs),
        [
            "ConfigMap",
            "Secret",
            "Deployment",
            "PodDisruptionBudget",
            "Service",
            "HorizontalPodAutoscaler",
            "Ingress"
        ]
    );
    assert!(
        docs[2]["spec"].get("replicas").is_none(),
        "the autoscaler owns the replicas"
    );
    assert_eq!(
        docs[2]["spec"]["strategy"]["rollingUpdate"]["maxSurge"],
        "50%"
    );
    assert_eq!(docs[4]["spec"]["ports"][0]["port"], 80);
    assert_eq!(docs[5]["apiVersion"], "autoscaling/v2");
    assert_eq!(docs[5]["spec"]["scaleTargetRef"]["name"], "storefront");
    assert_eq!(docs[6]["apiVersion"], "networking.k8s.io/v1");
    assert_eq!(docs[6]["spec"]["rules"][0]["host"], "shop.example.com");
    // The same service routed through a Gateway renders an HTTPRoute instead of the Ingress.
    let file = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/exposed.yaml"
    ))
    .unwrap();
    let gateway = file
        .replace(
            "ingressClassName: nginx",
            "gatewayRef: {name: public, namespace: gateways}",
        )
        .replace("    tls:\n      secretName: storefront-tls\n", "");
    let out = render_text(&gateway);
    assert!(out.status.success(), "{}", stderr(&out));
    let docs = documents(&out.stdout);
    assert_eq!(kinds(&docs).last().map(String::as_str), Some("HTTPRoute"));
    assert_eq!(
        docs.last().unwrap()["apiVersion"],
        "gateway.networking.k8s.io/v1"
    );
}

#[test]
fn invalid_example_lists_every_problem_by_field_path() {
    let out = run(&["render", "examples/invalid.yaml"], None);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for path in [
        "spec.config.mountPath",
        "spec.secret.generate[0].key",
        "spec.secret.generate[0].length",
        "spec.secret.mountPath",
        "spec.storage.accessMode",
    ] {
        assert!(
            err.contains(&format!("- {path}: ")),
            "missing {path} in:\n{err}"
        );
    }
    assert!(err.contains("examples/invalid.yaml (broken)"), "{err}");
}

#[test]
fn output_is_byte_for_byte_deterministic() {
    let a = run(&["render", "examples/full.yaml"], None);
    let b = run(&["render", "examples/full.yaml"], None);
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout);
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/full.yaml"))
        .unwrap();
    let c = render_text(&text);
    assert_eq!(a.stdout, c.stdout, "stdin and file give the same output");
}

#[test]
fn secret_values_are_never_printed() {
    let out = run(&["render", "examples/full.yaml"], None);
    let docs = documents(&out.stdout);
    let secret = docs.iter().find(|d| d["kind"] == "Secret").unwrap();
    assert!(secret.get("data").is_none(), "no data: {secret}");
    assert!(secret.get("stringData").is_none());
    assert_eq!(
        secret["metadata"]["annotations"]["stateless.dev/generated-keys"],
        "API_TOKEN,session-key"
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains("xxxxxxxxxxxxxxxx"),
        "placeholder values must not leak"
    );
}

#[test]
fn multiple_documents_render_in_order() {
    let text = "apiVersion: stateless.dev/v1alpha1\nkind: StatelessService\nmetadata: {name: a}\nspec: {image: x, replicas: 1}\n---\n---\napiVersion: stateless.dev/v1alpha1\nkind: StatelessService\nmetadata: {name: b}\nspec: {image: y, replicas: 1}\n";
    let out = render_text(text);
    assert!(out.status.success(), "{}", stderr(&out));
    let names: Vec<String> = documents(&out.stdout)
        .iter()
        .filter(|d| d["kind"] == "Deployment")
        .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn not_yaml_gets_its_own_message() {
    let out = render_text("spec: [unclosed\n  image: x");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("<stdin>: not valid YAML"), "{err}");
    assert!(err.contains("line"), "the location is given: {err}");
}

#[test]
fn other_objects_pass_through_unchanged_and_in_order() {
    let service = "apiVersion: stateless.dev/v1alpha1\nkind: StatelessService\nmetadata: {name: a}\nspec: {image: x, replicas: 1}\n";
    let config = "# the team's own config\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: team}\ndata: {enabled: \"on\", n: '010'}  # quoted on purpose\n";
    let job = "--- # a job\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n";
    let text = format!("{config}---\n{service}---\n{job}");
    let out = render_text(&text);
    assert!(out.status.success(), "{}", stderr(&out));
    let yaml = String::from_utf8(out.stdout.clone()).unwrap();
    let body = yaml
        .strip_prefix(stateless_operator::render::NOTE)
        .expect("the note comes first");
    assert!(
        body.starts_with(&format!("---\n{config}---\n")),
        "the ConfigMap first, as written:\n{yaml}"
    );
    assert!(yaml.ends_with(job), "the Job last, as written:\n{yaml}");
    assert_eq!(
        kinds(&documents(&out.stdout)),
        ["ConfigMap", "ConfigMap", "Secret", "Deployment", "Job"]
    );
    // Only other objects: passed on, and no note about rendered services.
    let out = render_text(config);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("---\n{config}")
    );
}

#[test]
fn mixed_example_keeps_its_other_object_after_the_children() {
    let out = run(&["render", "examples/mixed.yaml"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let yaml = String::from_utf8(out.stdout.clone()).unwrap();
    let file = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/mixed.yaml"))
        .unwrap();
    let service = &file[file.find("---\n# Passed on unchanged").unwrap()..];
    assert!(yaml.ends_with(service), "{yaml}");
    assert_eq!(
        kinds(&documents(&out.stdout)),
        [
            "ConfigMap",
            "Secret",
            "Deployment",
            "PodDisruptionBudget",
            "Service",
            "ServiceMonitor"
        ]
    );
}

#[test]
fn documents_that_are_no_kubernetes_object_are_refused() {
    let err = stderr(&render_text("apiVersion: v1\nmetadata: {name: x}\n"));
    assert!(
        err.contains("not a Kubernetes object: it has no kind"),
        "{err}"
    );
    let err = stderr(&render_text("- a\n- b\n"));
    assert!(err.contains("expected a Kubernetes object"), "{err}");
    let err = stderr(&render_text(
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: stateless.dev/v1alpha1\n  kind: StatelessService\n  metadata: {name: a}\n  spec: {image: x}\n",
    ));
    assert!(err.contains("a List holding StatelessServices"), "{err}");
    let err = stderr(&render_text(
        "apiVersion: stateless.dev/v1alpha1\nkind: StatelesService\nmetadata: {name: a}\n",
    ));
    assert!(
        err.contains(
            "kind StatelesService is not part of stateless.dev: expected StatelessService"
        ),
        "{err}"
    );
}

#[test]
fn another_api_version_gets_its_own_message() {
    let out = render_text(
        "apiVersion: stateless.dev/v1\nkind: StatelessService\nmetadata: {name: x}\nspec: {image: x}\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("apiVersion stateless.dev/v1 is not supported"),
        "{err}"
    );
    assert!(err.contains("stateless.dev/v1alpha1"), "{err}");
}

#[test]
fn scalar_and_empty_inputs_are_explained() {
    let out = render_text("just a string\n");
    assert!(
        stderr(&out).contains("expected a Kubernetes object (a mapping with apiVersion and kind), found the text \"just a string\""),
        "{}",
        stderr(&out)
    );
    let out = render_text("");
    assert!(
        stderr(&out).contains("no StatelessService found"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unknown_and_mistyped_fields_are_reported_with_their_paths() {
    let text = "apiVersion: stateless.dev/v1alpha1\nkind: StatelessService\nmetadata: {name: x}\nspec:\n  image: x\n  replica: 3\n  storage: {size: 1Gi, mountPath: /d, accesMode: ReadWriteMany}\n";
    let out = render_text(text);
    let err = stderr(&out);
    assert!(err.contains("- spec.replica: unknown field"), "{err}");
    assert!(
        err.contains("- spec.storage.accesMode: unknown field"),
        "{err}"
    );

    let text = "apiVersion: stateless.dev/v1alpha1\nkind: StatelessService\nmetadata: {name: x}\nspec:\n  image: x\n  replicas: two\n";
    let err = stderr(&render_text(text));
    assert!(
        err.contains("- spec.replicas: expected a whole number, found the string \"two\""),
        "{err}"
    );

    let text = "apiVersion: stateless.dev/v1alpha1\nkind: StatelessService\nmetadata: {name: x}\nspec:\n  replicas: 1\n";
    let err = stderr(&render_text(text));
    assert!(
        err.contains("- spec.image: required field is missing"),
        "{err}"
    );
}

#[test]
fn a_missing_file_is_reported_by_name() {
    let out = run(&["render", "no/such/file.yaml"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no/such/file.yaml: cannot read"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn errors_in_several_documents_are_all_reported() {
    let text = "apiVersion: stateless.dev/v1alpha1\nkind: StatelessService\nmetadata: {name: Bad_Name}\nspec: {image: x}\n---\napiVersion: v1\nmetadata: {name: c}\n---\napiVersion: stateless.dev/v1\nkind: StatelessService\nmetadata: {name: d}\nspec: {image: x}\n";
    let out = render_text(text);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(
        err.contains("(document 1, Bad_Name)") && err.contains("metadata.name"),
        "{err}"
    );
    assert!(
        err.contains("(document 2, c)") && err.contains("it has no kind"),
        "{err}"
    );
    assert!(
        err.contains("(document 3, d): apiVersion stateless.dev/v1 is not supported"),
        "{err}"
    );
}

fn service(name: &str, namespace: Option<&str>, spec: &str) -> String {
    let namespace = namespace.map_or(String::new(), |ns| format!(", namespace: {ns}"));
    format!(
        "apiVersion: stateless.dev/v1alpha1\nkind: StatelessService\nmetadata: {{name: {name}{namespace}}}\nspec: {spec}\n"
    )
}

#[test]
fn every_type_error_of_a_document_is_reported_in_plain_words() {
    let text = service(
        "web",
        None,
        "\n  image: x\n  replicas: \"three\"\n  paused: maybe\n  ports: [{name: http, containerPort: http, hostPort: 80}]\n  scratch: {medium: Disk}",
    );
    let out = render_text(&text);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for line in [
        "  - spec.replicas: expected a whole number, found the string \"three\"\n",
        "  - spec.paused: expected true or false, found the string \"maybe\"\n",
        "  - spec.ports[0].containerPort: expected a whole number, found the string \"http\"\n",
        // One path spelling for unknown fields and type errors alike.
        "  - spec.ports[0].hostPort: unknown field (check its spelling and indentation)\n",
        "  - spec.scratch.medium: expected one of \"\" or \"Memory\", found the string \"Disk\"\n",
    ] {
        assert!(err.contains(line), "missing {line:?} in:\n{err}");
    }
    assert!(
        !err.contains("i32") && !err.contains("invalid type"),
        "{err}"
    );
}

#[test]
fn status_is_ignored_whatever_it_holds() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/gitops/argocd/testdata"
    );
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 13, "{files:?}");
    for file in files {
        let out = run(&["render", file.to_str().unwrap()], None);
        assert!(out.status.success(), "{}: {}", file.display(), stderr(&out));
    }
    let text = format!(
        "{}status: {{conditions: [{{type: Ready}}], replicas: many, bogus: 1}}\n",
        service("a", None, "{image: x}")
    );
    let out = render_text(&text);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn yaml_merge_keys_are_applied_as_kubectl_applies_them() {
    let text = "apiVersion: stateless.dev/v1alpha1\nkind: StatelessService\nmetadata: {name: a}\nspec:\n  <<: {image: x, replicas: 1}\n  paused: false\n";
    let out = render_text(text);
    assert!(out.status.success(), "{}", stderr(&out));
    let docs = documents(&out.stdout);
    assert_eq!(docs[2]["spec"]["replicas"], 1, "{docs:?}");
}

#[test]
fn the_same_object_twice_is_refused() {
    let text = format!(
        "{}---\n{}---\n{}",
        service("a", Some("apps"), "{image: x}"),
        service("a", Some("other"), "{image: x}"),
        service("a", Some("apps"), "{image: y}"),
    );
    let out = render_text(&text);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(
        err.contains(
            "(document 3, a): StatelessService apps/a is already defined by <stdin> (document 1, a)"
        ),
        "{err}"
    );
    assert!(
        !err.contains("document 2"),
        "another namespace is another object: {err}"
    );

    // An object of the file that the operator would create for a service.
    let text = format!(
        "{}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: a-config}}\n",
        service("a", None, "{image: x}")
    );
    let err = stderr(&render_text(&text));
    assert!(
        err.contains("(document 2, a-config): ConfigMap a-config (no namespace set) is also an object the operator creates for the StatelessService of <stdin> (document 1, a)"),
        "{err}"
    );
}

#[test]
fn namespaces_are_checked_as_the_api_server_checks_them() {
    let err = stderr(&render_text(&service("a", Some("Bad_NS"), "{image: x}")));
    assert!(
        err.contains("- metadata.namespace: \"Bad_NS\" is not a valid namespace name"),
        "{err}"
    );
    let err = stderr(&render_text(&service(
        "a",
        Some(&"n".repeat(64)),
        "{image: x}",
    )));
    assert!(err.contains("- metadata.namespace: "), "{err}");
    // An empty namespace means none, as for kubectl.
    let out = render_text(&service("a", Some("''"), "{image: x}"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !String::from_utf8(out.stdout)
            .unwrap()
            .contains("namespace:")
    );
}

#[test]
fn deeply_nested_input_is_refused_before_parsing() {
    // 100,000 levels in 200 KB: the YAML parser alone would take tens of seconds to refuse it.
    let text = format!("spec: {}", "{a: [".repeat(50_000));
    let out = render_text(&text);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("<stdin>: line 1 column 257: YAML nested more than 100 levels deep"),
        "{err}"
    );
    assert!(err.contains("refuses such input before parsing"), "{err}");
}

#[test]
fn output_starts_with_what_differs_from_what_the_operator_applies() {
    let out = run(&["render", "examples/full.yaml"], None);
    let yaml = String::from_utf8(out.stdout).unwrap();
    let note: String = yaml
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    for what in [
        "Apply the StatelessService itself",
        "generated keys",
        "stateless.dev/config-hash",
        "ownerReferences",
        "stateless.dev/desired-hash",
    ] {
        assert!(note.contains(what), "{what} missing from the note:\n{note}");
    }
    assert!(
        yaml[note.len()..].starts_with("---\napiVersion: v1\n"),
        "{yaml}"
    );
}

#[test]
fn crd_command_prints_the_committed_crd() {
    let out = run(&["crd"], None);
    assert!(out.status.success());
    let committed = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crds/statelessservice.yaml"
    ))
    .unwrap();
    assert_eq!(out.stdout, committed);
}

#[test]
fn identity_isolation_sidecars_and_references_render_without_reading_them() {
    let text = "apiVersion: stateless.dev/v1alpha1\nkind: StatelessService\n\
        metadata: {name: web, namespace: apps}\nspec:\n  image: registry.example/web:1\n\
        \x20 ports: [{name: http, containerPort: 8080}]\n\
        \x20 config: {from: [{name: shared, mountPath: /etc/shared}]}\n\
        \x20 secret: {from: [{name: db, env: true}]}\n\
        \x20 serviceAccount: {automountToken: true, audience: vault}\n\
        \x20 network: {isolation: Ingress}\n\
        \x20 sidecars: [{name: proxy, image: 'proxy:1'}]\n";
    let out = render_text(text);
    assert!(out.status.success(), "{}", stderr(&out));
    let docs = documents(&out.stdout);
    assert_eq!(
        kinds(&docs),
        [
            "ConfigMap",
            "Secret",
            "ServiceAccount",
            "NetworkPolicy",
            "Deployment",
            "PodDisruptionBudget",
            // `ports` is set: the Service of issue 11.
            "Service"
        ]
    );
    let pod = &docs[4]["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "web");
    assert_eq!(pod["initContainers"][0]["restartPolicy"], "Always");
    assert_eq!(pod["volumes"][1]["configMap"]["name"], "shared");
    assert_eq!(
        pod["containers"][0]["envFrom"][0]["secretRef"]["name"],
        "db"
    );
    // The referenced objects are not rendered (they are not the operator's), and the note says
    // the hash leaves them out.
    assert!(
        docs.iter()
            .all(|d| d["metadata"]["name"] != "shared" && d["metadata"]["name"] != "db")
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("config.from and secret.from"));
}
