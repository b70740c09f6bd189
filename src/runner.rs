//! `stateless-operator run`: the long-running process around the controller.
//!
//! Connects to the cluster, refuses to start without the CRD, serves `/healthz`, `/readyz` and
//! `/metrics`, takes part in leader election and runs the controller only while it leads, and
//! shuts down gracefully on SIGTERM/SIGINT within [`SHUTDOWN_BOUND`] (in-flight reconciles
//! finish or are abandoned, then the Lease is released). It holds no reconcile logic.

use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::controller::{self, Settings};
use crate::error::Error;
use crate::leader::{self, LeaderConfig, LeaderError};
use crate::metrics::Metrics;
use crate::server::{self, ServerError, ServerState};

/// Everything `run` needs to know.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Controller tunables.
    pub settings: Settings,
    /// Leader election, or `None` to always lead (`--leader-elect=false`).
    pub leader: Option<LeaderConfig>,
    /// Address of the HTTP endpoint.
    pub metrics_addr: String,
}

/// Why `run` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No cluster configuration could be found or used.
    #[error(
        "cannot connect to a cluster: {0} (in a pod the service account is used; elsewhere set KUBECONFIG or ~/.kube/config)"
    )]
    Config(String),
    /// The controller could not start (the CRD is missing, or the API server refused).
    #[error("{0}")]
    Controller(#[from] Error),
    /// The HTTP endpoint failed.
    #[error("{0}")]
    Server(#[from] ServerError),
    /// Leader election failed.
    #[error("leader election: {0}")]
    Leader(#[from] LeaderError),
}

impl RunError {
    /// A bounded label.
    pub fn category(&self) -> &'static str {
        match self {
            RunError::Config(_) => "config",
            RunError::Controller(e) => e.category(),
            RunError::Server(e) => e.category(),
            RunError::Leader(e) => e.category(),
        }
    }
}

/// Aborts a task when dropped, unless it was taken out first.
struct AbortOnDrop<T>(Option<tokio::task::JoinHandle<T>>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Connects with the usual resolution (in-cluster, then `KUBECONFIG` / `~/.kube/config`) and
/// runs until SIGTERM.
pub async fn run(options: RunOptions) -> Result<(), RunError> {
    let client = kube::Client::try_default()
        .await
        .map_err(|e| RunError::Config(e.to_string()))?;
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        termination().await;
        tracing::info!("termination signal received: shutting down");
        signal.cancel();
    });
    run_with(client, options, Metrics::new(), shutdown).await
}

/// How long the process takes at most from SIGTERM to exit, whatever the controller is doing:
/// in-flight reconciles get [`controller::DRAIN_TIMEOUT`] (8 s) and are then aborted, the Lease
/// release gets [`leader::RELEASE_TIMEOUT`] (5 s) after that, and the HTTP server stops taking
/// requests at once (its in-flight requests get [`SERVER_STOP_TIMEOUT`], meanwhile). Well under
/// Kubernetes' default 30 s grace period, so a pod is never killed mid-release.
pub const SHUTDOWN_BOUND: Duration = Duration::from_secs(15);

/// How long the HTTP endpoint's in-flight requests may take after shutdown began.
pub const SERVER_STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs with a given client until `shutdown` is cancelled (tests drive it with a fake API).
pub async fn run_with(
    client: kube::Client,
    options: RunOptions,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    // The CRD first: without it nothing can work, and the error says how to fix it.
    controller::check_crd(&client, options.settings.namespace.as_deref()).await?;
    let listener = server::bind(&options.metrics_addr).await?;
    serve_and_lead(client, options, metrics, shutdown, listener).await
}

/// [`run_with`] on an already bound listener for `/healthz`, `/readyz` and `/metrics`
/// (`options.metrics_addr` is not used).
pub async fn run_on(
    client: kube::Client,
    options: RunOptions,
    metrics: Metrics,
    shutdown: CancellationToken,
    listener: tokio::net::TcpListener,
) -> Result<(), RunError> {
    controller::check_crd(&client, options.settings.namespace.as_deref()).await?;
    serve_and_lead(client, options, metrics, shutdown, listener).await
}

/// Serves the HTTP endpoint and runs the controller while this process leads, until shutdown.
async fn serve_and_lead(
    client: kube::Client,
    options: RunOptions,
    metrics: Metrics,
    shutdown: CancellationToken,
    listener: tokio::net::TcpListener,
) -> Result<(), RunError> {
    let (ready_tx, ready_rx) = watch::channel(false);
    let mut server = AbortOnDrop(Some(tokio::spawn(server::serve(
        listener,
        ServerState::new(metrics.clone(), ready_rx),
        shutdown.clone().cancelled_owned(),
    ))));
    // The Lease is released only once the controller has stopped writing: releasing it at
    // SIGTERM would let a follower start while this process still drains its reconciles.
    let release = CancellationToken::new();
    let (mut leading, leader_task) = match options.leader.clone() {
        Some(cfg) => {
            tracing::info!(lease = %cfg.lease_name, namespace = %cfg.lease_namespace, identity = %cfg.identity, "leader election on");
            leader::spawn(client.clone(), cfg, metrics.clone(), release.clone())?
        }
        None => leader::always_leader(metrics.clone(), release.clone()),
    };

    // If this future is dropped (the task aborted) the election stops with it, without
    // releasing the Lease: from the cluster's point of view that is a crash, and followers take
    // over when the Lease expires. Only the graceful path below releases it.
    let mut leader_task = AbortOnDrop(Some(leader_task));
    while !shutdown.is_cancelled() {
        // A follower stands by, ready to take over: that is its healthy state.
        let _ = ready_tx.send(true);
        tokio::select! {
            _ = shutdown.cancelled() => break,
            became = leading.wait_for(|l| *l) => if became.is_err() { break },
        }
        tracing::info!("leading: starting the controller");
        let _ = ready_tx.send(false);
        let mut lost = leading.clone();
        let stop_token = shutdown.clone();
        let stop = async move {
            tokio::select! {
                _ = stop_token.cancelled() => {}
                _ = lost.wait_for(|l| !*l) => {}
            }
        };
        controller::run_controller(
            client.clone(),
            metrics.clone(),
            options.settings.clone(),
            ready_tx.clone(),
            stop,
        )
        .await;
        if !shutdown.is_cancelled() {
            tracing::warn!("lost leadership: controller stopped, standing by");
        }
    }
    let _ = ready_tx.send(false);
    shutdown.cancel();
    release.cancel();
    if let Some(task) = leader_task.0.take() {
        // The task bounds its own release by RELEASE_TIMEOUT; the margin covers the flag update.
        let bound = leader::RELEASE_TIMEOUT + Duration::from_secs(1);
        let abort = task.abort_handle();
        match tokio::time::timeout(bound, task).await {
            Ok(Ok(Err(e))) => {
                tracing::warn!(error = %e, "leader election did not shut down cleanly")
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "leader election task failed"),
            Err(_) => {
                abort.abort();
                tracing::warn!(after = ?bound, "leader election did not stop in time: the Lease will expire");
            }
            Ok(Ok(Ok(()))) => {}
        }
    }
    if let Some(task) = server.0.take() {
        let abort = task.abort_handle();
        match tokio::time::timeout(SERVER_STOP_TIMEOUT, task).await {
            Ok(Ok(result)) => result?,
            Ok(Err(e)) => tracing::warn!(error = %e, "HTTP server task failed"),
            Err(_) => {
                abort.abort();
                tracing::warn!("HTTP server requests still open at shutdown: closed");
            }
        }
    }
    tracing::info!("stopped");
    Ok(())
}
