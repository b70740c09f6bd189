//! The Dockerfile builds for the platform Docker asks for. No Docker here: the builder's set-up script
//! (the `RUN <<'EOF'` heredoc) is run with `sh` for every builder/target pair, with apt-get, dpkg, rustup
//! and rm replaced by stubs that only record their arguments, and what it leaves for the build step is
//! checked.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

fn dockerfile() -> String {
    fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap()
}

/// The body of the builder's set-up heredoc.
fn setup_script() -> String {
    let text = dockerfile();
    let start = text.find("RUN <<'EOF'\n").expect("the set-up heredoc") + "RUN <<'EOF'\n".len();
    let len = text[start..].find("\nEOF\n").expect("the heredoc's end");
    text[start..start + len].to_string()
}

/// A scratch directory with stub commands; `log` collects their arguments.
struct Sandbox {
    dir: PathBuf,
}

impl Sandbox {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "stateless-operator-dockerfile-{}-{name}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("bin")).unwrap();
        for stub in ["apt-get", "dpkg", "rustup", "rm"] {
            let path = dir.join("bin").join(stub);
            fs::write(
                &path,
                format!(
                    "#!/bin/sh\necho \"{stub} $*\" >> \"{}\"\n",
                    dir.join("log").display()
                ),
            )
            .unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
        Sandbox { dir }
    }

    /// Runs the set-up script as the builder would, for `buildarch` building `targetarch`.
    fn run(&self, buildarch: &str, targetarch: &str) -> Output {
        let env_file = self.dir.join("build-env");
        let script = setup_script().replace("/build-env", env_file.to_str().unwrap());
        let path = format!(
            "{}:{}",
            self.dir.join("bin").display(),
            std::env::var("PATH").unwrap()
        );
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("PATH", path)
            .env("BUILDARCH", buildarch)
            .env("TARGETARCH", targetarch)
            .output()
            .expect("sh runs")
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// The variables the build step gets by sourcing the env file.
    fn build_env(&self) -> BTreeMap<String, String> {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(". {} && env", self.dir.join("build-env").display()))
            .env_clear()
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .filter(|(k, _)| *k != "PWD" && *k != "SHLVL" && *k != "_")
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn setup(buildarch: &str, targetarch: &str) -> (BTreeMap<String, String>, String) {
    let sandbox = Sandbox::new(&format!("{buildarch}-{targetarch}"));
    let out = sandbox.run(buildarch, targetarch);
    assert!(
        out.status.success(),
        "{buildarch} -> {targetarch}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (sandbox.build_env(), sandbox.log())
}

#[test]
fn native_builds_use_musl_gcc() {
    for (arch, target) in [
        ("amd64", "x86_64-unknown-linux-musl"),
        ("arm64", "aarch64-unknown-linux-musl"),
    ] {
        let (env, log) = setup(arch, arch);
        let cc = format!("CC_{}", target.replace('-', "_"));
        assert_eq!(
            env,
            vars(&[("RUST_TARGET", target), (&cc, "musl-gcc")]),
            "{arch}"
        );
        assert!(
            log.contains("apt-get install -y --no-install-recommends musl-tools"),
            "{log}"
        );
        assert!(
            log.contains(&format!("rustup target add {target}")),
            "{log}"
        );
        assert!(!log.contains("dpkg"), "{log}");
    }
}

#[test]
fn arm64_from_amd64_cross_compiles_with_clang_and_rust_lld() {
    let (env, log) = setup("amd64", "arm64");
    assert_eq!(
        env,
        vars(&[
            ("RUST_TARGET", "aarch64-unknown-linux-musl"),
            ("CC_aarch64_unknown_linux_musl", "clang"),
            ("AR_aarch64_unknown_linux_musl", "llvm-ar"),
            (
                "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUSTFLAGS",
                "-Clink-self-contained=yes -Clinker=rust-lld"
            ),
        ])
    );
    assert!(
        log.contains("apt-get install -y --no-install-recommends clang llvm"),
        "{log}"
    );
    assert!(
        log.contains("rustup target add aarch64-unknown-linux-musl"),
        "{log}"
    );
    assert!(
        !log.contains("musl-dev"),
        "no headers needed for aarch64: {log}"
    );
}

#[test]
fn amd64_from_arm64_cross_compiles_with_the_amd64_musl_headers() {
    let (env, log) = setup("arm64", "amd64");
    assert_eq!(
        env,
        vars(&[
            ("RUST_TARGET", "x86_64-unknown-linux-musl"),
            ("CC_x86_64_unknown_linux_musl", "clang"),
            ("AR_x86_64_unknown_linux_musl", "llvm-ar"),
            (
                "CFLAGS_x86_64_unknown_linux_musl",
                "-nostdlibinc -isystem /usr/include/x86_64-linux-musl"
            ),
            (
                "CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS",
                "-Clink-self-contained=yes -Clinker=rust-lld"
            ),
        ])
    );
    let add_arch = log
        .find("dpkg --add-architecture amd64")
        .expect("foreign architecture");
    let update = log.find("apt-get update").expect("apt-get update");
    assert!(
        add_arch < update,
        "the architecture is added before the package lists are read: {log}"
    );
    assert!(
        log.contains("apt-get install -y --no-install-recommends musl-dev:amd64"),
        "{log}"
    );
    assert!(
        log.contains("rustup target add x86_64-unknown-linux-musl"),
        "{log}"
    );
}

#[test]
fn other_architectures_are_refused_with_a_clear_message() {
    for arch in ["riscv64", "386", ""] {
        let sandbox = Sandbox::new(&format!("refuse-{arch}"));
        let out = sandbox.run("amd64", arch);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{arch:?} was accepted");
        assert!(
            err.contains(&format!("cannot build for TARGETARCH='{arch}'"))
                && err.contains("linux/amd64 or linux/arm64"),
            "{err}"
        );
        assert_eq!(sandbox.log(), "", "nothing is installed for {arch:?}");
    }
}

#[test]
fn the_build_step_uses_the_chosen_target_and_the_builder_runs_natively() {
    let text = dockerfile();
    assert!(
        text.contains("FROM --platform=$BUILDPLATFORM docker.io/library/rust:"),
        "the builder runs on the build machine's platform"
    );
    let build_stage = &text[text.find("AS build").unwrap()..];
    for arg in ["ARG BUILDARCH", "ARG TARGETARCH"] {
        assert!(build_stage.contains(arg), "{arg} in the build stage");
    }
    assert!(
        text.contains(". /build-env"),
        "the build step reads the set-up's choice"
    );
    assert!(text.contains("cargo build --release --locked --target \"$RUST_TARGET\""));
    assert!(text.contains("\"target/$RUST_TARGET/release/stateless-operator\""));
    // The only place a target is named is the architecture mapping.
    for target in ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"] {
        assert_eq!(text.matches(target).count(), 1, "{target} named once");
    }
    // Both are targets this Rust knows.
    let known = Command::new("rustc")
        .args(["--print", "target-list"])
        .output()
        .expect("rustc runs");
    let known = String::from_utf8(known.stdout).unwrap();
    for target in ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"] {
        assert!(known.lines().any(|l| l == target), "{target}");
    }
}
