//! The operator's own HTTP endpoint: liveness, readiness and Prometheus metrics.
//!
//! Routes (HTTP/1.1 only):
//! - `GET /healthz` — `200 ok` as long as the process serves requests (liveness).
//! - `GET /readyz` — `200 ok` once the controller has set the ready flag (caches synced),
//!   otherwise `503` with a one-line reason. Readiness says nothing about leadership:
//!   a follower with synced caches is ready too, so a rollout never waits for a leader change.
//! - `GET /metrics` — [`Metrics::encode`] as `application/openmetrics-text`.
//! - any other path — `404`; a known path with another method — `405` (axum's default,
//!   with an `Allow` header). `HEAD` is answered wherever `GET` is.
//!
//! What this module must not do: talk to the Kubernetes API, block on the controller, or
//! expose anything beyond these three read-only routes (no profiling, no admin actions).

use std::future::Future;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::metrics::Metrics;

/// Content type of `/metrics`: the OpenMetrics text format that `Metrics::encode` produces.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// Errors of the HTTP endpoint.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listen address could not be parsed or bound (in use, no permission, ...).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address as given by the caller, e.g. `0.0.0.0:8080`.
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// The server stopped with an I/O error.
    #[error("HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}

impl ServerError {
    /// A bounded label for metrics and logs.
    pub fn category(&self) -> &'static str {
        match self {
            ServerError::Bind { .. } => "bind",
            ServerError::Serve(_) => "serve",
        }
    }
}

/// What the handlers read. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ServerState {
    metrics: Metrics,
    ready: watch::Receiver<bool>,
}

impl ServerState {
    /// `ready` is the controller's "caches are synced" flag; the controller keeps the
    /// matching `watch::Sender` and sends `true` once its stores are populated.
    pub fn new(metrics: Metrics, ready: watch::Receiver<bool>) -> Self {
        Self { metrics, ready }
    }

    fn is_ready(&self) -> bool {
        // A dropped sender means the controller is gone; `borrow` still returns the last
        // value, but a stopped controller is not ready whatever it said before.
        *self.ready.borrow() && self.ready.has_changed().is_ok()
    }
}

/// Binds `addr` (e.g. `0.0.0.0:8080`, `127.0.0.1:0`), naming the address in the error.
pub async fn bind(addr: &str) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: addr.to_string(),
            source,
        })
}

/// Builds the router; exposed so the controller could mount it elsewhere or test it
/// without a socket.
pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state)
}

/// Serves the endpoint on `listener` until `shutdown` completes, then stops accepting,
/// lets in-flight requests finish and returns.
pub async fn serve(
    listener: TcpListener,
    state: ServerState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving /healthz, /readyz and /metrics");
    }
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServerError::Serve)
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)], body).into_response()
}

async fn healthz() -> Response {
    text(StatusCode::OK, "ok\n")
}

async fn readyz(State(state): State<ServerState>) -> Response {
    if state.is_ready() {
        text(StatusCode::OK, "ok\n")
    } else {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: controller caches are not synced yet\n",
        )
    }
}

async fn metrics(State(state): State<ServerState>) -> Response {
    // Mirror the flag into the gauge at scrape time so the two can never disagree.
    state.metrics.set_ready(state.is_ready());
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        state.metrics.encode(),
    )
        .into_response()
}

async fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "not found\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::SocketAddr;
    use std::net::TcpStream;
    use std::time::Duration;
    use tokio::sync::oneshot;

    struct Reply {
        status: u16,
        headers: String,
        body: String,
    }

    /// One HTTP/1.1 request on a fresh connection; `Connection: close` lets us read to EOF.
    /// Blocking std I/O on a blocking thread: the crate's tokio has no `io-util` feature.
    async fn request(addr: SocketAddr, method: &str, path: &str) -> Reply {
        let req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        let raw = tokio::task::spawn_blocking(move || {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            stream.write_all(req.as_bytes()).unwrap();
            let mut raw = String::new();
            stream.read_to_string(&mut raw).unwrap();
            raw
        })
        .await
        .unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        Reply {
            status,
            headers: head.to_ascii_lowercase(),
            body: body.to_string(),
        }
    }

    struct Running {
        addr: SocketAddr,
        stop: oneshot::Sender<()>,
        task: tokio::task::JoinHandle<Result<(), ServerError>>,
    }

    async fn start(state: ServerState) -> Running {
        let listener = bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, state, async move {
            let _ = stopped.await;
        }));
        Running { addr, stop, task }
    }

    impl Running {
        async fn shut_down(self) {
            self.stop.send(()).unwrap();
            tokio::time::timeout(Duration::from_secs(10), self.task)
                .await
                .expect("server did not stop")
                .unwrap()
                .unwrap();
        }
    }

    #[tokio::test]
    async fn healthz_readyz_and_unknown_paths() {
        let (ready_tx, ready_rx) = watch::channel(false);
        let server = start(ServerState::new(Metrics::new(), ready_rx)).await;

        let r = request(server.addr, "GET", "/healthz").await;
        assert_eq!((r.status, r.body.as_str()), (200, "ok\n"));

        let r = request(server.addr, "GET", "/readyz").await;
        assert_eq!(r.status, 503);
        assert_eq!(r.body.lines().count(), 1, "{}", r.body);
        assert!(r.body.starts_with("not ready: "), "{}", r.body);

        ready_tx.send(true).unwrap();
        let r = request(server.addr, "GET", "/readyz").await;
        assert_eq!((r.status, r.body.as_str()), (200, "ok\n"));

        let r = request(server.addr, "GET", "/nope").await;
        assert_eq!(r.status, 404);
        let r = request(server.addr, "GET", "/").await;
        assert_eq!(r.status, 404);
        let r = request(server.addr, "POST", "/healthz").await;
        assert_eq!(r.status, 405);
        let r = request(server.addr, "HEAD", "/healthz").await;
        assert_eq!((r.status, r.body.as_str()), (200, ""));

        // A controller that went away is no longer ready.
        drop(ready_tx);
        let r = request(server.addr, "GET", "/readyz").await;
        assert_eq!(r.status, 503);

        server.shut_down().await;
    }

    #[tokio::test]
    async fn metrics_are_served_as_openmetrics() {
        let metrics = Metrics::new();
        let (ready_tx, ready_rx) = watch::channel(false);
        let server = start(ServerState::new(metrics.clone(), ready_rx)).await;

        metrics.write("ConfigMap", "apply");
        metrics.set_leader(true);
        drop(metrics.reconcile_started());
        ready_tx.send(true).unwrap();

        let r = request(server.addr, "GET", "/metrics").await;
        assert_eq!(r.status, 200);
        assert!(
            r.headers.contains(
                "content-type: application/openmetrics-text; version=1.0.0; charset=utf-8"
            ),
            "{}",
            r.headers
        );
        assert!(r.body.contains("stateless_operator_reconciles_total 1\n"));
        assert!(
            r.body
                .contains("stateless_operator_writes_total{kind=\"ConfigMap\",verb=\"apply\"} 1\n")
        );
        assert!(r.body.contains("stateless_operator_leader 1\n"));
        assert!(r.body.contains("stateless_operator_ready 1\n"));
        assert!(
            r.body
                .contains("stateless_operator_reconcile_duration_seconds_count 1\n")
        );
        assert!(r.body.ends_with("# EOF\n"), "{}", r.body);

        server.shut_down().await;
    }

    #[tokio::test]
    async fn shutdown_stops_accepting_connections() {
        let (_ready_tx, ready_rx) = watch::channel(true);
        let server = start(ServerState::new(Metrics::new(), ready_rx)).await;
        let addr = server.addr;
        assert_eq!(request(addr, "GET", "/healthz").await.status, 200);
        server.shut_down().await;
        assert!(TcpStream::connect(addr).is_err());
    }

    #[tokio::test]
    async fn bind_error_names_the_address() {
        let taken = bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let err = bind(&addr).await.unwrap_err();
        assert_eq!(err.category(), "bind");
        assert!(err.to_string().contains(&addr), "{err}");

        let err = bind("not-an-address").await.unwrap_err();
        assert!(err.to_string().contains("not-an-address"), "{err}");
    }
}
