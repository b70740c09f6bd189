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
fn full_example_shows_all_five_kinds_in_a_fixed_order() {
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
            "PodDisruptionBudget"
        ]
    );
    assert_eq!(docs[3]["apiVersion"], "apps/v1");
    assert_eq!(docs[4]["apiVersion"], "policy/v1");
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
fn another_kind_gets_its_own_message() {
    let out = render_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("kind is Deployment, expected StatelessService"),
        "{}",
        stderr(&out)
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
        stderr(&out).contains("expected a YAML mapping"),
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
    assert!(err.contains("- spec.replicas: invalid type"), "{err}");

    let text = "apiVersion: stateless.dev/v1alpha1\nkind: StatelessService\nmetadata: {name: x}\nspec:\n  replicas: 1\n";
    let err = stderr(&render_text(text));
    assert!(
        err.contains("spec") && err.contains("missing field `image`"),
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
    let text = "apiVersion: stateless.dev/v1alpha1\nkind: StatelessService\nmetadata: {name: Bad_Name}\nspec: {image: x}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";
    let err = stderr(&render_text(text));
    assert!(
        err.contains("(document 1, Bad_Name)") && err.contains("metadata.name"),
        "{err}"
    );
    assert!(
        err.contains("(document 2, c)") && err.contains("kind is ConfigMap"),
        "{err}"
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
