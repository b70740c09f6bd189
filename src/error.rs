//! The controller's error type, with a bounded `category()` for metrics and retry decisions.
//!
//! Validation problems are not errors here: they are a normal outcome reported in status.
//! This module only classifies failures; it must not retry, log or write anything itself.

use std::time::Duration;

/// Everything that can make a reconcile fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request to the API server failed. A transport error's own text is vague (`client error
    /// (Connect)`), so the root of its source chain (`Connection refused (os error 111)`, a TLS
    /// or DNS failure) is added.
    #[error("{action}: {source}{}", root_cause(.source))]
    Kube {
        /// What the operator was doing, e.g. `apply Deployment web/shop`.
        action: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// An object could not be (de)serialized (a bug or an incompatible API server).
    #[error("{action}: {source}")]
    Serialization {
        /// What the operator was doing.
        action: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// The object lacks a field every stored object has (name, namespace or uid).
    #[error("the StatelessService has no {0}")]
    MissingField(&'static str),
    /// The API server did not answer in time.
    #[error("{action}: no answer from the API server within {after:?}")]
    Timeout {
        /// What the operator was doing.
        action: String,
        /// How long it waited.
        after: Duration,
    },
    /// The controller's caches are gone: it is shutting down.
    #[error("the controller is shutting down (its caches are gone)")]
    ShuttingDown,
    /// The StatelessService CRD is not installed.
    #[error(
        "the StatelessService CRD (statelessservices.stateless.dev) is not installed: apply it with `kubectl apply --server-side -f crds/statelessservice.yaml` (or install the Helm chart)"
    )]
    CrdMissing,
}

impl Error {
    /// Wraps a client error with what was being done.
    pub fn kube(action: impl Into<String>, source: kube::Error) -> Self {
        Error::Kube {
            action: action.into(),
            source,
        }
    }

    /// The HTTP status the API server answered with, if it answered.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            Error::Kube {
                source: kube::Error::Api(status),
                ..
            } => Some(status.code),
            _ => None,
        }
    }

    /// A bounded label: safe as a metrics label value.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube { source, .. } => match source {
                kube::Error::Api(status) => match status.code {
                    409 => "conflict",
                    429 => "throttled",
                    400..=499 => "rejected",
                    _ => "server",
                },
                _ => "transport",
            },
            Error::Timeout { .. } => "timeout",
            Error::Serialization { .. } => "serialization",
            Error::MissingField(_) => "missing_field",
            Error::ShuttingDown => "shutdown",
            Error::CrdMissing => "crd_missing",
        }
    }

    /// True for errors a retry will not fix (the API server rejected what we sent): they need a
    /// human and are reported as `Stalled`.
    pub fn needs_human(&self) -> bool {
        matches!(
            self.category(),
            "rejected" | "serialization" | "missing_field"
        )
    }

    /// The least time to wait before retrying: throttling waits as long as the API server asks
    /// (`Retry-After`), and at least 2 s.
    pub fn minimum_backoff(&self) -> Duration {
        match self {
            Error::Kube {
                source: kube::Error::Api(status),
                ..
            } if status.code == 429 => {
                let asked = status
                    .details
                    .as_ref()
                    .map(|d| u64::from(d.retry_after_seconds))
                    .unwrap_or(0);
                Duration::from_secs(asked.clamp(2, 60))
            }
            _ => Duration::from_millis(500),
        }
    }
}

/// `: <innermost source>` when `error` has a source chain whose end says something its own
/// text does not; empty otherwise (an API server's answer is already precise).
pub fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = error;
    while let Some(next) = innermost.source() {
        innermost = next;
    }
    let text = innermost.to_string();
    if std::ptr::addr_eq(innermost, error) || text.is_empty() || error.to_string().contains(&text) {
        String::new()
    } else {
        format!(": {text}")
    }
}

/// Longest wait for one non-watch request: kube clients have no read timeout by default, and a
/// request that hangs must not hang a reconcile (and its object) for ever.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs one API request with [`REQUEST_TIMEOUT`], naming `action` in any error.
pub async fn request<T>(
    action: impl Fn() -> String,
    fut: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, Error> {
    match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Error::kube(action(), e)),
        Err(_) => Err(Error::Timeout {
            action: action(),
            after: REQUEST_TIMEOUT,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16) -> Error {
        Error::kube(
            "apply Deployment a/b",
            kube::Error::Api(
                kube::core::Status::failure("boom", "Reason")
                    .with_code(code)
                    .boxed(),
            ),
        )
    }

    #[test]
    fn categories_are_bounded_and_meaningful() {
        assert_eq!(api(409).category(), "conflict");
        assert_eq!(api(429).category(), "throttled");
        assert_eq!(api(422).category(), "rejected");
        assert_eq!(api(500).category(), "server");
        assert_eq!(Error::CrdMissing.category(), "crd_missing");
        assert!(api(422).needs_human());
        assert!(!api(500).needs_human());
        assert!(!api(409).needs_human());
        assert!(api(429).minimum_backoff() > api(500).minimum_backoff());
        assert_eq!(api(500).status_code(), Some(500));
        assert!(api(422).to_string().starts_with("apply Deployment a/b: "));
    }

    /// An error with a source, like hyper's `client error (Connect)` over an io error.
    #[derive(Debug, thiserror::Error)]
    #[error("client error (Connect)")]
    struct Outer(#[source] Middle);
    #[derive(Debug, thiserror::Error)]
    #[error("tcp connect error")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn transport_errors_name_their_root_cause() {
        let refused =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let e = Error::kube(
            "list StatelessServices",
            kube::Error::Service(Box::new(Outer(Middle(refused)))),
        );
        assert_eq!(
            e.to_string(),
            "list StatelessServices: ServiceError: client error (Connect): Connection refused"
        );
        assert_eq!(e.category(), "transport");
        // An answer of the API server has no deeper cause: nothing is added.
        let Error::Kube { source, .. } = api(422) else {
            unreachable!()
        };
        assert_eq!(
            api(422).to_string(),
            format!("apply Deployment a/b: {source}")
        );
    }
}
