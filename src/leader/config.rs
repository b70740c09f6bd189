//! Leader election settings and their checks, and the identity of a candidate.
//!
//! What this module must not do: talk to the API server (the elector in the parent module does).

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::validate::{is_dns_label, is_dns_subdomain};

/// Default lease duration, as in client-go based controllers.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);
/// Default time before expiry at which the holder renews.
pub const DEFAULT_RENEW_GRACE: Duration = Duration::from_secs(5);
/// Default pause between failed API attempts and between overdue-renewal checks.
pub const DEFAULT_RETRY_PERIOD: Duration = Duration::from_secs(2);
/// Upper bound for releasing the Lease on shutdown; past it the Lease simply expires.
pub const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// Shortest accepted lease: a renewal needs at least one whole second before expiry.
pub const MIN_LEASE_DURATION: Duration = Duration::from_secs(2);
/// Longest accepted lease: guards against a unit mix-up (milliseconds given as seconds)
/// that would block failover after a crash for hours.
pub const MAX_LEASE_DURATION: Duration = Duration::from_secs(3600);
/// Longest identity accepted: a pod name (253) with a random suffix fits; an identity is
/// compared, never parsed, and a runaway one should be refused rather than stored.
const MAX_IDENTITY_LEN: usize = 300;

/// Errors of leader election.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The configuration cannot work; nothing was started.
    #[error("invalid leader election config: {0}")]
    Config(String),
    /// Releasing the Lease on shutdown failed; it will expire on its own.
    #[error("releasing lease {namespace}/{name} failed: {source}")]
    Release {
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
        #[source]
        source: Box<kube::Error>,
    },
    /// Releasing the Lease on shutdown took longer than [`RELEASE_TIMEOUT`].
    #[error("releasing lease {namespace}/{name} timed out")]
    ReleaseTimeout {
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
    },
}

impl LeaderError {
    /// A bounded label for metrics and logs.
    pub fn category(&self) -> &'static str {
        match self {
            LeaderError::Config(_) => "leader-config",
            LeaderError::Release { .. } => "leader-release",
            LeaderError::ReleaseTimeout { .. } => "leader-release-timeout",
        }
    }
}

/// The election task; its error only reports a failed release on shutdown.
pub type LeaderTask = JoinHandle<Result<(), LeaderError>>;

/// Where and how to elect a leader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderConfig {
    /// Name of the Lease object (DNS-1123 subdomain).
    pub lease_name: String,
    /// Namespace of the Lease, usually the operator's own.
    pub lease_namespace: String,
    /// Unique per process; see [`unique_identity`].
    pub identity: String,
    /// How long a renewal keeps the Lease; whole seconds, 2 s to 1 h. Default 15 s.
    pub lease_duration: Duration,
    /// How long before expiry the holder renews; whole seconds, at least 1 s and less than
    /// `lease_duration`. Default 5 s.
    pub renew_grace: Duration,
    /// Pause between failed attempts and between checks of an overdue renewal; more than
    /// zero and less than `renew_grace`, so a failed renewal is retried before expiry.
    /// Default 2 s.
    pub retry_period: Duration,
}

impl LeaderConfig {
    /// A config with the default durations.
    pub fn new(
        lease_name: impl Into<String>,
        lease_namespace: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        Self {
            lease_name: lease_name.into(),
            lease_namespace: lease_namespace.into(),
            identity: identity.into(),
            lease_duration: DEFAULT_LEASE_DURATION,
            renew_grace: DEFAULT_RENEW_GRACE,
            retry_period: DEFAULT_RETRY_PERIOD,
        }
    }

    /// This config with `lease_duration` and the other durations derived from it the way the
    /// defaults are (renew a third of the lease before expiry, retry after two fifths of that),
    /// rounded to what the Lease API accepts: whole seconds. Every whole-second duration from [`MIN_LEASE_DURATION`] to [`MAX_LEASE_DURATION`]
    /// gives a valid config.
    pub fn with_lease_duration(mut self, lease_duration: Duration) -> Self {
        let secs = lease_duration.as_secs();
        self.lease_duration = lease_duration;
        self.renew_grace = Duration::from_secs((secs / 3).max(1));
        self.retry_period = (self.renew_grace * 2 / 5).max(Duration::from_millis(200));
        self
    }

    /// Checks everything [`spawn`] relies on.
    pub fn validate(&self) -> Result<(), LeaderError> {
        let bad = |msg: String| Err(LeaderError::Config(msg));
        if !is_dns_subdomain(&self.lease_name) {
            return bad(format!(
                "lease name {:?} is not a DNS-1123 subdomain",
                self.lease_name
            ));
        }
        if !is_dns_label(&self.lease_namespace) {
            return bad(format!(
                "lease namespace {:?} is not a DNS-1123 label",
                self.lease_namespace
            ));
        }
        if self.identity.is_empty() || self.identity.chars().any(char::is_control) {
            return bad(format!(
                "identity {:?} must be non-empty printable text",
                self.identity
            ));
        }
        if self.identity.len() > MAX_IDENTITY_LEN {
            return bad(format!(
                "identity is {} bytes; at most {MAX_IDENTITY_LEN} are accepted",
                self.identity.len()
            ));
        }
        // The Lease API counts in whole seconds.
        for (name, d) in [
            ("lease_duration", self.lease_duration),
            ("renew_grace", self.renew_grace),
        ] {
            if d.subsec_nanos() != 0 || d.is_zero() {
                return bad(format!(
                    "{name} must be a whole number of seconds, got {d:?}"
                ));
            }
        }
        if self.lease_duration > MAX_LEASE_DURATION {
            return bad(format!(
                "lease_duration {:?} is longer than {MAX_LEASE_DURATION:?}",
                self.lease_duration
            ));
        }
        if self.renew_grace >= self.lease_duration {
            return bad(format!(
                "renew_grace {:?} must be shorter than lease_duration {:?}",
                self.renew_grace, self.lease_duration
            ));
        }
        if self.retry_period.is_zero() || self.retry_period >= self.renew_grace {
            return bad(format!(
                "retry_period {:?} must be more than zero and shorter than renew_grace {:?}",
                self.retry_period, self.renew_grace
            ));
        }
        Ok(())
    }
}

/// `prefix` plus a random suffix. Use the pod name as prefix: a restarted container then
/// still gets a fresh identity, so it never mistakes its predecessor's lease for its own.
pub fn unique_identity(prefix: &str) -> String {
    use rand::RngExt;
    let suffix: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(8)
        .map(|b| char::from(b).to_ascii_lowercase())
        .collect();
    if prefix.is_empty() {
        suffix
    } else {
        format!("{prefix}-{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_accepted_lease_duration_gives_a_valid_config() {
        for secs in MIN_LEASE_DURATION.as_secs()..=MAX_LEASE_DURATION.as_secs() {
            let cfg = LeaderConfig::new("lease", "ns", "me")
                .with_lease_duration(Duration::from_secs(secs));
            if let Err(e) = cfg.validate() {
                panic!("--lease-duration {secs}: {e}");
            }
            assert!(cfg.renew_grace.as_secs() >= secs / 3 && cfg.renew_grace < cfg.lease_duration);
        }
        let five =
            LeaderConfig::new("lease", "ns", "me").with_lease_duration(Duration::from_secs(5));
        assert_eq!(
            (five.renew_grace, five.retry_period),
            (Duration::from_secs(1), Duration::from_millis(400))
        );
        let default =
            LeaderConfig::new("lease", "ns", "me").with_lease_duration(DEFAULT_LEASE_DURATION);
        assert_eq!(
            default,
            LeaderConfig::new("lease", "ns", "me"),
            "the defaults follow the same rule"
        );
    }

    fn cfg() -> LeaderConfig {
        LeaderConfig::new("stateless-operator", "stateless-system", "pod-a-1x2y3z")
    }

    fn config_error(mutate: impl FnOnce(&mut LeaderConfig)) -> String {
        let mut c = cfg();
        mutate(&mut c);
        match c.validate() {
            Err(err @ LeaderError::Config(_)) => {
                assert_eq!(err.category(), "leader-config");
                err.to_string()
            }
            other => panic!("expected a config error for {c:?}, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_valid_and_match_the_docs() {
        let c = cfg();
        assert_eq!(c.lease_duration, Duration::from_secs(15));
        assert_eq!(c.renew_grace, Duration::from_secs(5));
        assert_eq!(c.retry_period, Duration::from_secs(2));
        c.validate().unwrap();
    }

    #[test]
    fn short_test_timings_are_valid() {
        let mut c = cfg();
        c.lease_duration = Duration::from_secs(2);
        c.renew_grace = Duration::from_secs(1);
        c.retry_period = Duration::from_millis(200);
        c.validate().unwrap();
    }

    #[test]
    fn invalid_configs_are_rejected_with_a_reason() {
        assert!(config_error(|c| c.lease_name = "Upper".into()).contains("lease name"));
        assert!(config_error(|c| c.lease_name = String::new()).contains("lease name"));
        assert!(config_error(|c| c.lease_name = "a..b".into()).contains("lease name"));
        assert!(config_error(|c| c.lease_namespace = "a.b".into()).contains("namespace"));
        assert!(config_error(|c| c.lease_namespace = "-a".into()).contains("namespace"));
        assert!(config_error(|c| c.identity = String::new()).contains("identity"));
        assert!(config_error(|c| c.identity = "a\nb".into()).contains("identity"));
        assert!(config_error(|c| c.identity = "x".repeat(301)).contains("identity"));
        assert!(
            config_error(|c| c.lease_duration = Duration::from_millis(15_500))
                .contains("whole number of seconds")
        );
        assert!(config_error(|c| c.renew_grace = Duration::ZERO).contains("renew_grace"));
        assert!(
            config_error(|c| c.lease_duration = Duration::from_secs(7200)).contains("longer than")
        );
        assert!(config_error(|c| c.renew_grace = Duration::from_secs(15)).contains("shorter than"));
        assert!(config_error(|c| c.retry_period = Duration::ZERO).contains("retry_period"));
        assert!(config_error(|c| c.retry_period = Duration::from_secs(5)).contains("retry_period"));
        let mut c = cfg();
        c.identity = "x".repeat(300);
        c.validate().unwrap();
    }

    #[test]
    fn unique_identities_differ_and_keep_the_prefix() {
        let a = unique_identity("pod-a");
        let b = unique_identity("pod-a");
        assert_ne!(a, b);
        assert!(
            a.starts_with("pod-a-") && a.len() == "pod-a-".len() + 8,
            "{a}"
        );
        assert_eq!(unique_identity("").len(), 8);
        let mut c = cfg();
        c.identity = a;
        c.validate().unwrap();
    }
}
