//! The `stateless-operator` binary as a user runs it, with no cluster reachable: no kubeconfig
//! and no in-cluster service account, so a command that needs a cluster fails at once.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// The binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_stateless-operator");

/// Runs the binary with `args` in the crate's folder, `stdin` on its standard input.
pub fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        // A command that fails before it reads its input closes the pipe early.
        let _ = child.stdin.take().unwrap().write_all(text.as_bytes());
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}
