//! The `stateless-operator` command line: `crd` and `render` work with no cluster; `run` is the
//! controller.

use std::io::{IsTerminal, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgAction, Parser, Subcommand, ValueEnum};
use stateless_operator::controller::Settings;
use stateless_operator::leader::{self, LeaderConfig};
use stateless_operator::runner::{self, RunOptions};
use stateless_operator::{DEFAULT_LOG_FILTER, crd_yaml, render};

/// A Kubernetes operator that makes stateless workloads the enforced default.
#[derive(Parser, Debug)]
#[command(name = "stateless-operator", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the StatelessService CustomResourceDefinition as YAML.
    Crd,
    /// Validate StatelessService manifests and print the objects the operator would create.
    Render {
        /// A YAML file with one or more StatelessServices, or `-` for standard input.
        file: PathBuf,
    },
    /// Run the controller: reconcile StatelessServices on the cluster until SIGTERM.
    Run(RunArgs),
    /// Show what `run` would change on the cluster for the StatelessServices in a file.
    /// Exit status: 0 no changes, 1 changes, 2 error.
    Diff {
        /// A YAML file with one or more StatelessServices, or `-` for standard input.
        file: PathBuf,
    },
    /// Find what breaks statelessness in the live cluster or in manifest files: every
    /// workload's findings with rule id, severity, field path and fix. Read-only.
    /// Exit status: 0 nothing at or above --fail-on, 1 something, 2 error.
    Audit(AuditArgs),
    /// Print a StatelessService that reproduces a Deployment or StatefulSet as closely as the
    /// contract allows, and (on stderr, or as comments with --annotate) everything that had to
    /// change. Reads only. Exit status: 0 imported, 2 error.
    Import(ImportArgs),
}

#[derive(clap::Args, Debug)]
struct ImportArgs {
    /// `deploy/NAME` or `sts/NAME` to read from the cluster, or a manifest file (`-` for
    /// standard input) whose Deployments and StatefulSets are imported; ConfigMaps, claims and
    /// Secrets (key names only) in the same file are used too.
    target: String,
    /// Namespace of the workload (cluster: default the kubeconfig context's; file: only this
    /// namespace, and the namespace of objects that name none).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Name of the StatelessService (default: the workload's name).
    #[arg(long)]
    name: Option<String>,
    /// Print the changes as YAML comments above each StatelessService instead of on stderr.
    #[arg(long)]
    annotate: bool,
}

#[derive(clap::Args, Debug)]
struct AuditArgs {
    /// Manifest files (multi-document YAML or JSON, any kinds; `-` for standard input).
    /// Without files the live cluster is audited.
    files: Vec<PathBuf>,
    /// Cluster: audit this namespace (default: the kubeconfig context's). Files: audit only
    /// this namespace; objects that name none count as in it.
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Cluster: audit every namespace.
    #[arg(short = 'A', long, conflicts_with = "namespace")]
    all_namespaces: bool,
    /// Only workloads whose labels match, e.g. `app.kubernetes.io/part-of=shop,tier!=db`.
    #[arg(short = 'l', long)]
    selector: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = AuditOutput::Table)]
    output: AuditOutput,
    /// Exit with status 1 when a finding is at or above this severity: critical, high,
    /// medium, low, info, or none (never).
    #[arg(long, default_value = "high", value_parser = parse_fail_on)]
    fail_on: FailOn,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum AuditOutput {
    /// Grouped by namespace, worst first, with a legend of fixes and a summary line.
    Table,
    /// One JSON document.
    Json,
    /// SARIF 2.1.0, for code-scanning UIs.
    Sarif,
}

/// `--fail-on`: a severity, or `None` for never.
#[derive(Clone, Copy, Debug)]
struct FailOn(Option<stateless_operator::audit::Severity>);

fn parse_fail_on(text: &str) -> Result<FailOn, String> {
    stateless_operator::audit::parse_fail_on(text).map(FailOn)
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Watch only this namespace (then no cluster-wide permission is needed).
    #[arg(long, env = "WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// Take part in leader election: only the leader reconciles.
    #[arg(long, default_value_t = true, action = ArgAction::Set)]
    leader_elect: bool,
    /// Name of the coordination.k8s.io Lease used for leader election.
    #[arg(long, default_value = "stateless-operator-leader")]
    lease_name: String,
    /// Namespace of the Lease (the operator's own namespace in a pod).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// How long a leader's Lease lasts without renewal (whole seconds, 2 to 3600); the leader
    /// renews a third of it before expiry.
    #[arg(long, default_value = "15", value_parser = parse_lease_duration)]
    lease_duration: Duration,
    /// Address (IP:PORT) of the HTTP endpoint serving /healthz, /readyz and /metrics.
    #[arg(long, default_value = "0.0.0.0:8080", value_parser = parse_socket_addr)]
    metrics_addr: SocketAddr,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Most StatelessServices reconciled at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// How often a converged StatelessService is checked again without any event (seconds).
    #[arg(long, default_value = "600", value_parser = parse_seconds)]
    resync: Duration,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(s) if s > 0 => Ok(Duration::from_secs(s)),
        _ => Err(format!("{text:?} is not a whole number of seconds above 0")),
    }
}

fn parse_lease_duration(text: &str) -> Result<Duration, String> {
    let (min, max) = (leader::MIN_LEASE_DURATION, leader::MAX_LEASE_DURATION);
    match text.parse::<u64>() {
        Ok(s) if (min.as_secs()..=max.as_secs()).contains(&s) => Ok(Duration::from_secs(s)),
        _ => Err(format!(
            "{text:?} is not a whole number of seconds from {} to {}",
            min.as_secs(),
            max.as_secs()
        )),
    }
}

/// Checked by clap, so a bad address is refused before anything connects. Host names are not
/// accepted: resolving one would be a network call, and a bind address is an IP.
fn parse_socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!(
            "{text:?} is not an IP address and port, e.g. 0.0.0.0:8080, 127.0.0.1:9090 or [::]:8080"
        )
    })
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    // Colour only for a person at a terminal (and not when NO_COLOR asks for none): escape codes
    // in a file or a log collector are noise.
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn run_command(args: RunArgs) -> ExitCode {
    let log_format = args.log_format;
    init_logging(log_format);
    let identity = std::env::var("POD_NAME")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| leader::unique_identity("stateless-operator"));
    let leader = args.leader_elect.then(|| {
        LeaderConfig::new(&args.lease_name, &args.lease_namespace, &identity)
            .with_lease_duration(args.lease_duration)
    });
    let options = RunOptions {
        settings: Settings {
            namespace: args.namespace,
            concurrency: args.concurrency,
            resync: args.resync,
            instance: Some(identity),
        },
        leader,
        metrics_addr: args.metrics_addr.to_string(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(runner::run(options));
    let code = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let category = e.category();
            let mut message = e.to_string();
            if reaching_the_server_failed(category) {
                message.push_str(&runtime.block_on(api_server_hint()));
            }
            // Said once: a plain line for a person, or one structured record for a log pipeline
            // (a plain line among JSON records would break its parsing).
            match log_format {
                LogFormat::Text => eprintln!("error: {message}"),
                LogFormat::Json => {
                    tracing::error!(error = %message, category, "stateless-operator stopped");
                }
            }
            ExitCode::FAILURE
        }
    };
    // Tasks still running (a hanging DNS lookup on a blocking thread, say) must not hold the
    // exit past the shutdown bound.
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

/// True for the error categories where the API server did not answer at all.
fn reaching_the_server_failed(category: &str) -> bool {
    matches!(category, "transport" | "timeout")
}

/// ` (API server URL)`, for an error that says the server could not be reached: the client's
/// errors do not name it, and it is the first thing to check. Resolved the way the client
/// resolved it (kubeconfig, then in-cluster).
async fn api_server_hint() -> String {
    match kube::Config::infer().await {
        Ok(config) => format!(" (API server {})", config.cluster_url),
        Err(_) => String::new(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => match crd_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Render { file } => render_command(&file),
        Command::Run(args) => run_command(args),
        Command::Diff { file } => diff_command(&file),
        Command::Audit(args) => audit_command(args),
        Command::Import(args) => import_command(args),
    }
}

fn read_input(file: &PathBuf) -> Result<(String, String), render::RenderError> {
    if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|error| render::RenderError::Read {
                source_name: "<stdin>".to_string(),
                error,
            })?;
        Ok(("<stdin>".to_string(), text))
    } else {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).map_err(|error| render::RenderError::Read {
            source_name: name.clone(),
            error,
        })?;
        Ok((name, text))
    }
}

fn diff_command(file: &PathBuf) -> ExitCode {
    let services = match read_input(file)
        .map_err(|e| vec![e])
        .and_then(|(name, text)| render::parse_manifests(&name, &text))
    {
        Ok(services) => services,
        Err(errors) => {
            for e in errors {
                eprintln!("error: {e}");
            }
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        let cannot_connect = |e: &dyn std::fmt::Display| {
            format!("cannot connect to a cluster: {e} (set KUBECONFIG or ~/.kube/config)")
        };
        let config = kube::Config::infer()
            .await
            .map_err(|e| cannot_connect(&e))?;
        let server = config.cluster_url.to_string();
        let client = kube::Client::try_from(config).map_err(|e| cannot_connect(&e))?;
        stateless_operator::diff::diff(&client, &services)
            .await
            .map_err(|e| {
                if reaching_the_server_failed(e.category()) {
                    format!("{e} (API server {server})")
                } else {
                    e.to_string()
                }
            })
    });
    match result {
        Ok(diffs) => {
            print!("{}", stateless_operator::diff::format(&diffs));
            if diffs.iter().all(|d| d.changes.is_empty()) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn render_command(file: &PathBuf) -> ExitCode {
    let result = read_input(file)
        .map_err(|e| vec![e])
        .and_then(|(name, text)| render::render(&name, &text));
    match result {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in errors {
                eprintln!("error: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

fn audit_command(args: AuditArgs) -> ExitCode {
    use stateless_operator::audit::{self, AuditError, Filter, Format, live};
    let selector = match args
        .selector
        .as_deref()
        .map(audit::selector::Selector::parse)
        .transpose()
    {
        Ok(selector) => selector,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = if args.files.is_empty() {
        audit_cluster(
            live::Scope {
                namespace: args.namespace.clone(),
                selector: args.selector.clone(),
                page_size: 0,
            },
            args.all_namespaces,
        )
    } else {
        let filter = Filter {
            default_namespace: args.namespace.clone(),
            namespace: args.namespace.clone(),
            selector,
        };
        audit::read_sources(&args.files).and_then(|sources| audit::audit_files(&sources, &filter))
    };
    let format = match args.output {
        AuditOutput::Table => Format::Table,
        AuditOutput::Json => Format::Json,
        AuditOutput::Sarif => Format::Sarif,
    };
    match result.and_then(|report| {
        audit::format(&report, format, args.fail_on.0).map(|text| (report, text))
    }) {
        Ok((report, text)) => {
            print!("{text}");
            if report.fails(args.fail_on.0) {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e @ AuditError::List { .. }) if reaching_the_server_failed(e.category()) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let hint = runtime
                .map(|rt| rt.block_on(api_server_hint()))
                .unwrap_or_default();
            eprintln!("error: {e}{hint}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The live audit: the usual kube config resolution, then paged lists of `scope` (every
/// namespace with `all`, else the given one or the context's).
fn audit_cluster(
    mut scope: stateless_operator::audit::live::Scope,
    all: bool,
) -> Result<stateless_operator::audit::Report, stateless_operator::audit::AuditError> {
    use stateless_operator::audit::{AuditError, live};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AuditError::Connect(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let client = kube::Client::try_default()
            .await
            .map_err(|e| AuditError::Connect(e.to_string()))?;
        if all {
            scope.namespace = None;
        } else if scope.namespace.is_none() {
            scope.namespace = Some(client.default_namespace().to_string());
        }
        live::audit_cluster(&client, &scope).await
    })
}

fn import_command(args: ImportArgs) -> ExitCode {
    use stateless_operator::import::{self, ImportError, Options};
    let options = Options {
        name: args.name.clone(),
        namespace: args.namespace.clone(),
    };
    let path = PathBuf::from(&args.target);
    let result = match import::parse_target(&args.target) {
        // An existing file wins over the `kind/name` reading of the same text.
        Some((kind, name)) if !path.is_file() => import_live(kind, &name, &options),
        _ if args.target == "-" || path.is_file() => {
            stateless_operator::audit::read_sources(&[path])
                .map_err(ImportError::from)
                .and_then(|sources| import::import_files(&sources, &options))
        }
        _ => Err(ImportError::Target(args.target.clone())),
    };
    let imported = match result {
        Ok(imported) => imported,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut out = String::new();
    for one in &imported {
        match import::to_yaml(one, args.annotate) {
            Ok(yaml) => {
                out.push_str("---\n");
                out.push_str(&yaml);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    print!("{out}");
    if !args.annotate {
        for one in &imported {
            eprint!("{}", import::changes_text(one));
        }
    }
    ExitCode::SUCCESS
}

/// `import deploy/NAME`: one workload and what it references, read from the cluster.
fn import_live(
    kind: stateless_operator::import::WorkloadKind,
    name: &str,
    options: &stateless_operator::import::Options,
) -> Result<Vec<stateless_operator::import::Imported>, stateless_operator::import::ImportError> {
    use stateless_operator::import::{ImportError, convert, live};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ImportError::Connect(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let client = kube::Client::try_default()
            .await
            .map_err(|e| ImportError::Connect(e.to_string()))?;
        let namespace = options
            .namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_string());
        let (workload, refs) = live::read(&client, kind, &namespace, name).await?;
        Ok(vec![convert::convert(&workload, &refs, options)?])
    })
}
