//! `stateless-operator run` as a user starts it, against API servers that cannot answer: flags
//! are checked before any network call, a fatal error is said once and names the server and the
//! operating system's reason, and logs carry no colour codes when stderr is not a terminal.
//! Every server address is on loopback; nothing listens on port 1.

use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_stateless-operator");

/// A kubeconfig naming `server`, in a file of its own for this test.
fn kubeconfig(test: &str, server: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stateless-operator-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{test}.kubeconfig"));
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n\
         contexts:\n- name: c\n  context: {{cluster: c, user: u, namespace: default}}\n\
         current-context: c\nusers:\n- name: u\n  user: {{token: not-a-real-token}}\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs the binary with only `kubeconfig` to find a cluster and the default log filter.
fn run(kubeconfig: &PathBuf, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .env_remove("WATCH_NAMESPACE")
        .env_remove("POD_NAMESPACE")
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Whether anything connected to `listener` (non-blocking; waits a little for a slow start).
fn connected(listener: &TcpListener, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        match listener.accept() {
            Ok(_) => return true,
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(e) => panic!("accept on the test listener: {e}"),
        }
    }
}

#[test]
fn bad_flags_are_refused_before_any_network_call() {
    // A server that records whether anyone connects.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let server = format!("https://{}", listener.local_addr().unwrap());
    let config = kubeconfig("bad-flags", &server);

    let out = run(&config, &["run", "--metrics-addr", "notanaddr"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "a usage error: {err}");
    assert!(
        err.contains("--metrics-addr")
            && err.contains("\"notanaddr\" is not an IP address and port"),
        "names the flag and what is wrong: {err}"
    );
    let out = run(&config, &["run", "--concurrency", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--concurrency"), "{}", stderr(&out));
    assert!(
        !connected(&listener, Duration::from_millis(200)),
        "a bad flag must be refused before the API server is contacted"
    );

    // The same configuration with good flags does reach the server (so the check above could
    // have seen a connection); the connection is dropped at once and the operator gives up.
    let run_good = std::thread::spawn({
        let config = config.clone();
        move || run(&config, &["run", "--metrics-addr", "127.0.0.1:0"])
    });
    assert!(
        connected(&listener, Duration::from_secs(20)),
        "the operator connects"
    );
    let out = run_good.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn a_fatal_error_is_said_once_with_the_server_and_the_cause() {
    let config = kubeconfig("refused-text", "https://127.0.0.1:1");
    let out = run(
        &config,
        &[
            "run",
            "--log-format",
            "text",
            "--metrics-addr",
            "127.0.0.1:0",
        ],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let mentions: Vec<&str> = err
        .lines()
        .filter(|l| l.to_lowercase().contains("connection refused") || l.contains("(Connect)"))
        .collect();
    assert_eq!(mentions.len(), 1, "the error is printed once:\n{err}");
    let line = mentions[0];
    assert!(line.starts_with("error: "), "{line}");
    assert!(
        line.contains("checking that the CRD is installed"),
        "says what was being done: {line}"
    );
    assert!(
        line.contains("https://127.0.0.1:1"),
        "names the API server: {line}"
    );
    assert!(
        line.to_lowercase().contains("connection refused"),
        "names the operating system's reason: {line}"
    );
    assert!(
        !err.contains('\u{1b}'),
        "no colour codes when stderr is not a terminal:\n{err:?}"
    );
}

#[test]
fn a_fatal_error_in_json_is_one_record() {
    let config = kubeconfig("refused-json", "https://127.0.0.1:1");
    let out = run(
        &config,
        &[
            "run",
            "--log-format",
            "json",
            "--metrics-addr",
            "127.0.0.1:0",
        ],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let records: Vec<Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let errors: Vec<&Value> = records.iter().filter(|r| r["level"] == "ERROR").collect();
    assert_eq!(errors.len(), 1, "one error record:\n{err}");
    let message = errors[0]["error"].as_str().unwrap_or_default();
    assert!(message.contains("https://127.0.0.1:1"), "{message}");
    assert!(
        message.to_lowercase().contains("connection refused"),
        "{message}"
    );
    assert_eq!(errors[0]["category"], "transport");
    assert!(!err.contains('\u{1b}'), "{err:?}");
}
