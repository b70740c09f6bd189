//! Leader election on a `coordination.k8s.io/v1` Lease, built on `kube-lease-manager`.
//!
//! [`spawn`] starts a task that keeps trying to acquire the Lease, keeps it renewed while
//! held, and publishes on a `watch::Receiver<bool>` whether this process may act as the
//! leader right now. [`always_leader`] is the `--leader-elect=false` mode: same return
//! shape, flag fixed at `true` until shutdown. The controller must only write to the cluster
//! while the flag is `true`, and must stop doing so as soon as it turns `false`.
//!
//! What this module must not do: decide *what* the leader does, touch any object other
//! than its one Lease, or report `true` for a lease it cannot prove it still holds.
//!
//! # Timing
//!
//! With the defaults (`lease_duration` 15 s, `renew_grace` 5 s, `retry_period` 2 s):
//! - The holder renews `renew_grace` before expiry, i.e. 10 s after the last `renewTime`.
//!   A failed renewal is retried every `retry_period` until the lease expires.
//! - The flag is `true` only while a read of the Lease (our own `GET`, see below) showed
//!   `holderIdentity == identity` and `renewTime + leaseDurationSeconds` is still in the
//!   future. When that moment passes without a newer confirmed renewal, the flag flips to
//!   `false` at once, even if the renew request is still hanging (kube 5 clients have no
//!   read timeout by default). A flag that turned `false` this way turns `true` again if a
//!   later read shows the renewal went through after all.
//! - A follower takes over at the earliest at the holder's `renewTime + leaseDurationSeconds`
//!   *by the follower's clock*, plus a force-release round trip and a random 100-1000 ms pause
//!   (see below). So the old leader steps down first as long as node clocks agree to within
//!   ~100 ms; larger skew can make the two overlap by the skew.
//! - Becoming leader: after kube-lease-manager reports the acquisition, one extra `GET`
//!   confirms it before the flag turns `true` (milliseconds).
//! - On shutdown (the token is cancelled, or every receiver was dropped) the flag turns
//!   `false` first, then the Lease is released (bounded by [`RELEASE_TIMEOUT`]) so a
//!   follower can take over immediately instead of waiting for expiry.
//!
//! # API calls (kube-lease-manager 0.13.1, read from its source, plus ours)
//!
//! All on `/apis/coordination.k8s.io/v1/namespaces/{lease_namespace}/leases[/{lease_name}]`.
//! The field manager on every PATCH is `kube-lease-manager-{identity}` (unique per
//! identity, which is what makes the server-side-apply conflict below work). No `PUT`
//! (replace), no `DELETE`, no `WATCH`, no `resourceVersion` preconditions. Times are
//! `MicroTime`s written from the local wall clock.
//! 1. Start-up (`LeaseManager::new`, `AutoCreate`): `GET`; on 404 `POST` `{metadata:{name},
//!    spec:{}}` (no query parameters); if that returns 409 `AlreadyExists`, `GET` again.
//!    Retried here every `retry_period` until it succeeds.
//! 2. Re-read (`GET`) only when the cached copy has expired (`now > renewTime +
//!    leaseDurationSeconds`) and after each of its own writes. A fetched Lease with
//!    `renewTime`/`acquireTime` but no `holderIdentity` is treated as held by an unknown,
//!    already expired holder.
//! 3. Acquire a free Lease (no `holderIdentity`): server-side apply, `PATCH` with
//!    `Content-Type: application/apply-patch+yaml`, `?fieldManager=…`, *without* `force`,
//!    body `{apiVersion, kind, spec:{acquireTime, renewTime, holderIdentity,
//!    leaseDurationSeconds}}`. If another manager already applied a different
//!    `holderIdentity`, the server answers 409 with Status `reason: Conflict` (the library
//!    checks both code and reason; same for `AlreadyExists` in step 1); it treats that as
//!    a lost race and retries after a random 0.1-5 s backoff. On success it sends a
//!    strategic-merge `PATCH` (`application/strategic-merge-patch+json`, same field manager)
//!    `{spec:{leaseTransitions: n+1}}`, then `GET`.
//! 4. Renew (we hold it), `renew_grace` before expiry: strategic-merge `PATCH`
//!    `{spec:{renewTime, leaseDurationSeconds}}`, then `GET`. Without a precondition this
//!    never conflicts; if someone else took the Lease meanwhile it merely bumps their
//!    `renewTime`, and the `GET` then shows the loss.
//! 5. Held by someone else and unexpired: sleep until its expiry, no calls.
//! 6. Held by someone else and expired: strategic-merge `PATCH` setting `acquireTime`,
//!    `renewTime`, `holderIdentity`, `leaseDurationSeconds` to `null` (force release),
//!    `GET`, sleep a random 100-1000 ms, then try step 3.
//! 7. Release on shutdown: `GET` if the cache expired; if we hold it (or the cache says it
//!    expired), the same nulling strategic-merge `PATCH` as step 6; then `GET`. The holder
//!    check uses the unexpired cache, so with clock skew a stale ex-leader could clear a
//!    successor's fresh lock; the successor then simply re-acquires it.
//! 8. Ours, not the library's: while the library says we hold the Lease, a plain `GET`
//!    shortly after each scheduled renewal (and every `retry_period` while a renewal is
//!    overdue) to learn the current `renewTime`; this drives the flag (see Timing).
//!
//! Errors from the library (API unreachable, RBAC) are logged and retried every
//! `retry_period`; the task itself only ends on shutdown. RBAC needed: `get`, `create`,
//! `patch` on `leases` in `lease_namespace`.
//!
//! # Testing failover
//!
//! Everything that matters for a failover test is in [`LeaderConfig`]: identity, durations
//! and retry period are plain fields, so two elector tasks with different identities and a
//! short lease (e.g. 2 s / 1 s / 200 ms) can run against one fake API server in one test.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube_lease_manager::{LeaseCreateMode, LeaseManager, LeaseManagerError, LeaseParams};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::metrics::Metrics;
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
/// kube-lease-manager's field manager is this prefix plus the identity; the API server
/// limits field managers to 128 characters.
const FIELD_MANAGER_PREFIX: &str = "kube-lease-manager-";
const MAX_FIELD_MANAGER_LEN: usize = 128;

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
        source: LeaseManagerError,
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
    /// rounded to what the Lease API and kube-lease-manager accept: `renew_grace` in whole
    /// seconds. Every whole-second duration from [`MIN_LEASE_DURATION`] to [`MAX_LEASE_DURATION`]
    /// gives a valid config.
    pub fn with_lease_duration(mut self, lease_duration: Duration) -> Self {
        let secs = lease_duration.as_secs();
        self.lease_duration = lease_duration;
        self.renew_grace = Duration::from_secs((secs / 3).max(1));
        self.retry_period = (self.renew_grace * 2 / 5).max(Duration::from_millis(200));
        self
    }

    /// Checks everything [`spawn`] relies on; kube-lease-manager panics on some of these.
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
        if self.field_manager().len() > MAX_FIELD_MANAGER_LEN {
            return bad(format!(
                "identity is {} bytes; at most {} fit in a field manager name",
                self.identity.len(),
                MAX_FIELD_MANAGER_LEN - FIELD_MANAGER_PREFIX.len()
            ));
        }
        // The Lease API and kube-lease-manager count in whole seconds.
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

    /// The field manager kube-lease-manager uses for this identity's PATCH requests.
    pub fn field_manager(&self) -> String {
        format!("{FIELD_MANAGER_PREFIX}{}", self.identity)
    }

    fn lease_params(&self) -> Result<LeaseParams, LeaderError> {
        self.validate()?;
        // `LeaseParams::new` panics on zero or inverted durations; validate() ruled them out.
        Ok(LeaseParams::new(
            self.identity.clone(),
            self.lease_duration.as_secs(),
            self.renew_grace.as_secs(),
        ))
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

/// Starts leader election. Returns the "may lead" flag (starts `false`) and the task,
/// which ends after `shutdown` is cancelled (or all receivers are dropped) and the Lease
/// was released; its error only reports a failed release.
///
/// Fails without starting anything if `cfg` is invalid. Must be called inside a Tokio
/// runtime.
pub fn spawn(
    client: kube::Client,
    cfg: LeaderConfig,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<(watch::Receiver<bool>, LeaderTask), LeaderError> {
    let params = cfg.lease_params()?;
    let (tx, rx) = watch::channel(false);
    let flag = Flag::new(tx, metrics);
    flag.set(false);
    let task = tokio::spawn(run(client, cfg, params, flag, shutdown));
    Ok((rx, task))
}

/// `--leader-elect=false`: the flag is `true` until `shutdown` is cancelled (or every
/// receiver is dropped), then `false`. The channel stays open until then, so callers can
/// treat both modes alike.
pub fn always_leader(
    metrics: Metrics,
    shutdown: CancellationToken,
) -> (watch::Receiver<bool>, LeaderTask) {
    let (tx, rx) = watch::channel(true);
    let flag = Flag::new(tx, metrics);
    flag.set(true);
    let task = tokio::spawn(async move {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = flag.tx.closed() => {}
        }
        flag.set(false);
        Ok(())
    });
    (rx, task)
}

/// The published flag and its gauge, always updated together.
struct Flag {
    tx: watch::Sender<bool>,
    metrics: Metrics,
}

impl Flag {
    fn new(tx: watch::Sender<bool>, metrics: Metrics) -> Self {
        Self { tx, metrics }
    }

    fn set(&self, leading: bool) {
        // send_if_modified wakes receivers only on a real change (and works with none left).
        let changed = self
            .tx
            .send_if_modified(|v| std::mem::replace(v, leading) != leading);
        self.metrics.set_leader(leading);
        if changed {
            info!(leading, "leadership changed");
        }
    }
}

/// What the election loop knows; pure so its rules are testable without an API server.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Election {
    /// kube-lease-manager's last word from `changed()`: it believes it holds the Lease.
    holder: bool,
    /// Until when our own read of the Lease proved it ours.
    valid_until: Option<Instant>,
}

impl Election {
    fn leading(&self, now: Instant) -> bool {
        self.holder && self.valid_until.is_some_and(|until| now < until)
    }

    /// kube-lease-manager reported a change; whatever we knew about validity is stale.
    fn library_says(&mut self, holder: bool) {
        self.holder = holder;
        self.valid_until = None;
    }

    /// The deadline the watchdog must enforce, if we currently lead.
    fn deadline(&self, now: Instant) -> Option<Instant> {
        self.valid_until.filter(|_| self.leading(now))
    }

    /// When to read the Lease next: just after the library's next scheduled renewal
    /// (`renew_grace` before expiry), or after `retry` while no renewal is confirmed.
    fn next_read_in(&self, now: Instant, renew_grace: Duration, retry: Duration) -> Duration {
        let Some(until) = self.deadline(now) else {
            return retry;
        };
        let after_renewal = until
            .checked_sub(renew_grace)
            .map_or(now, |renew_at| renew_at + retry / 2);
        after_renewal.saturating_duration_since(now).max(retry)
    }
}

/// Until when `lease` is provably held by `identity`, mapping its wall-clock expiry onto
/// the monotonic clock. `None` if someone else (or nobody) holds it, or it has expired.
fn lease_valid_until(
    lease: &Lease,
    identity: &str,
    now_wall: SystemTime,
    now: Instant,
) -> Option<Instant> {
    let spec = lease.spec.as_ref()?;
    if spec.holder_identity.as_deref() != Some(identity) {
        return None;
    }
    let renewed: SystemTime = spec.renew_time.as_ref()?.0.into();
    let secs = u64::try_from(spec.lease_duration_seconds?).ok()?;
    let expiry = renewed.checked_add(Duration::from_secs(secs))?;
    // renewTime was written by this process's clock, so comparing with it is consistent.
    let left = expiry.duration_since(now_wall).ok()?;
    Some(now + left)
}

async fn run(
    client: kube::Client,
    cfg: LeaderConfig,
    params: LeaseParams,
    flag: Flag,
    shutdown: CancellationToken,
) -> Result<(), LeaderError> {
    let Some(manager) = connect(&client, &cfg, params, &flag, &shutdown).await else {
        return Ok(());
    };
    let api: Api<Lease> = Api::namespaced(client, &cfg.lease_namespace);
    elect(&manager, &api, &cfg, &flag, &shutdown).await;
    // Stop leading before giving the Lease away, so a successor never overlaps with us.
    flag.set(false);
    release(&manager, &cfg).await
}

/// Resolves when the task should stop: shutdown, or nobody listens to the flag anymore
/// (holding a lease nobody acts on would only block the other replicas).
async fn stopping(shutdown: &CancellationToken, flag: &Flag) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = flag.tx.closed() => {}
    }
}

/// Creates the LeaseManager (which gets or creates the Lease), retrying until shutdown.
async fn connect(
    client: &kube::Client,
    cfg: &LeaderConfig,
    params: LeaseParams,
    flag: &Flag,
    shutdown: &CancellationToken,
) -> Option<LeaseManager> {
    loop {
        let attempt = LeaseManager::new(
            client.clone(),
            &cfg.lease_name,
            &cfg.lease_namespace,
            params.clone(),
            LeaseCreateMode::AutoCreate,
        );
        tokio::select! {
            biased;
            _ = stopping(shutdown, flag) => return None,
            // Bounded: kube 5 clients have no read timeout, a hung request would stall us.
            res = timeout(cfg.lease_duration, attempt) => match res {
                Ok(Ok(manager)) => {
                    info!(lease = %cfg.lease_name, namespace = %cfg.lease_namespace,
                        identity = %cfg.identity, "leader election started");
                    return Some(manager);
                }
                Ok(Err(err)) => warn!(error = %err, lease = %cfg.lease_name, "cannot get or create the lease; retrying"),
                Err(_) => warn!(lease = %cfg.lease_name, "getting or creating the lease timed out; retrying"),
            },
        }
        tokio::select! {
            biased;
            _ = stopping(shutdown, flag) => return None,
            _ = sleep(cfg.retry_period) => {}
        }
    }
}

async fn next_change(manager: &LeaseManager, delay: Duration) -> Result<bool, LeaseManagerError> {
    sleep(delay).await;
    manager.changed().await
}

async fn read_lease(
    api: &Api<Lease>,
    name: &str,
    delay: Duration,
    limit: Duration,
) -> Option<Lease> {
    sleep(delay).await;
    match timeout(limit, api.get(name)).await {
        Ok(Ok(lease)) => Some(lease),
        Ok(Err(err)) => {
            warn!(error = %err, lease = %name, "reading the lease failed");
            None
        }
        Err(_) => {
            warn!(lease = %name, "reading the lease timed out");
            None
        }
    }
}

/// Runs until shutdown. The library's `changed()` drives acquisition and renewal; our own
/// reads and a deadline timer decide what is published.
async fn elect(
    manager: &LeaseManager,
    api: &Api<Lease>,
    cfg: &LeaderConfig,
    flag: &Flag,
    shutdown: &CancellationToken,
) {
    let mut state = Election::default();
    // Both futures live across iterations so a renewal in flight is never cancelled just
    // because another branch fired. They are dropped when this function returns, before
    // `release` needs the manager's state lock they may hold.
    let mut changed = std::pin::pin!(next_change(manager, Duration::ZERO));
    let mut read = std::pin::pin!(read_lease(
        api,
        &cfg.lease_name,
        Duration::ZERO,
        cfg.lease_duration
    ));

    loop {
        let now = Instant::now();
        flag.set(state.leading(now));
        let deadline = state.deadline(now);

        tokio::select! {
            biased;
            _ = stopping(shutdown, flag) => return,
            _ = sleep_until(deadline.unwrap_or(now)), if deadline.is_some() => {
                warn!(lease = %cfg.lease_name, "lease expired without a confirmed renewal; stepping down");
                state.valid_until = None;
                // The renewal may hang forever (no client read timeout); start over. The
                // next changed() re-reads the now expired Lease before acting.
                changed.set(next_change(manager, Duration::ZERO));
            }
            res = &mut changed => match res {
                Ok(holder) => {
                    debug!(holder, "kube-lease-manager reported a change");
                    state.library_says(holder);
                    // Confirm right away; the read is only polled while we are holder.
                    read.set(read_lease(api, &cfg.lease_name, Duration::ZERO, cfg.lease_duration));
                    changed.set(next_change(manager, Duration::ZERO));
                }
                Err(err) => {
                    warn!(error = %err, lease = %cfg.lease_name, holder = state.holder, "leader election step failed; retrying");
                    changed.set(next_change(manager, cfg.retry_period));
                }
            },
            lease = &mut read, if state.holder => {
                if let Some(lease) = lease {
                    state.valid_until =
                        lease_valid_until(&lease, &cfg.identity, SystemTime::now(), Instant::now());
                }
                let delay = state.next_read_in(Instant::now(), cfg.renew_grace, cfg.retry_period);
                read.set(read_lease(api, &cfg.lease_name, delay, cfg.lease_duration));
            }
        }
    }
}

async fn release(manager: &LeaseManager, cfg: &LeaderConfig) -> Result<(), LeaderError> {
    match timeout(RELEASE_TIMEOUT, manager.release()).await {
        Ok(Ok(())) => {
            info!(lease = %cfg.lease_name, "lease released");
            Ok(())
        }
        Ok(Err(source)) => Err(LeaderError::Release {
            namespace: cfg.lease_namespace.clone(),
            name: cfg.lease_name.clone(),
            source,
        }),
        Err(_) => Err(LeaderError::ReleaseTimeout {
            namespace: cfg.lease_namespace.clone(),
            name: cfg.lease_name.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

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
        assert_eq!(c.field_manager(), "kube-lease-manager-pod-a-1x2y3z");
        // Must not panic inside kube-lease-manager.
        let _ = c.lease_params().unwrap();
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
        assert!(config_error(|c| c.identity = "x".repeat(110)).contains("field manager"));
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
        // 109 bytes is the longest identity that fits.
        let mut c = cfg();
        c.identity = "x".repeat(109);
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

    fn lease(holder: Option<&str>, renewed: Option<SystemTime>, secs: Option<i32>) -> Lease {
        Lease {
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_string),
                renew_time: renewed.map(|t| MicroTime(t.try_into().unwrap())),
                lease_duration_seconds: secs,
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        }
    }

    #[test]
    fn lease_validity_is_read_from_holder_and_renew_time() {
        let id = "pod-a-1x2y3z";
        let wall = SystemTime::now();
        let now = Instant::now();
        let renewed = wall - Duration::from_secs(4);

        let until = lease_valid_until(&lease(Some(id), Some(renewed), Some(15)), id, wall, now);
        let left = until.unwrap() - now;
        assert!(
            left > Duration::from_millis(10_900) && left <= Duration::from_secs(11),
            "{left:?}"
        );

        // Someone else, nobody, expired, incomplete spec, no spec: not ours.
        assert_eq!(
            lease_valid_until(
                &lease(Some("pod-b"), Some(renewed), Some(15)),
                id,
                wall,
                now
            ),
            None
        );
        assert_eq!(
            lease_valid_until(&lease(None, Some(renewed), Some(15)), id, wall, now),
            None
        );
        assert_eq!(
            lease_valid_until(&lease(Some(id), Some(renewed), Some(3)), id, wall, now),
            None
        );
        assert_eq!(
            lease_valid_until(&lease(Some(id), None, Some(15)), id, wall, now),
            None
        );
        assert_eq!(
            lease_valid_until(&lease(Some(id), Some(renewed), None), id, wall, now),
            None
        );
        assert_eq!(
            lease_valid_until(&lease(Some(id), Some(renewed), Some(-1)), id, wall, now),
            None
        );
        assert_eq!(lease_valid_until(&Lease::default(), id, wall, now), None);
    }

    #[test]
    fn election_leads_only_while_a_confirmed_lease_is_valid() {
        let now = Instant::now();
        let mut e = Election::default();
        assert!(!e.leading(now));

        // The library acquired it, but no read confirmed it yet.
        e.library_says(true);
        assert!(!e.leading(now));
        assert_eq!(e.deadline(now), None);

        e.valid_until = Some(now + Duration::from_secs(15));
        assert!(e.leading(now));
        assert_eq!(e.deadline(now), Some(now + Duration::from_secs(15)));
        assert!(e.leading(now + Duration::from_millis(14_999)));
        // Past renewTime + duration without a newer confirmation: not leading.
        assert!(!e.leading(now + Duration::from_secs(15)));

        // A confirmation by our read does not outlive the library losing the lease.
        e.library_says(false);
        assert!(!e.leading(now));
        e.valid_until = Some(now + Duration::from_secs(15));
        assert!(!e.leading(now));
    }

    #[test]
    fn reads_follow_the_renewal_schedule() {
        let now = Instant::now();
        let grace = Duration::from_secs(5);
        let retry = Duration::from_secs(2);
        let mut e = Election::default();
        // Not confirmed: poll every retry period.
        e.library_says(true);
        assert_eq!(e.next_read_in(now, grace, retry), retry);
        // Freshly renewed (valid 15 s): read 1 s after the renewal due at +10 s.
        e.valid_until = Some(now + Duration::from_secs(15));
        assert_eq!(e.next_read_in(now, grace, retry), Duration::from_secs(11));
        // Renewal overdue (valid 3 s more): poll every retry period until expiry.
        e.valid_until = Some(now + Duration::from_secs(3));
        assert_eq!(e.next_read_in(now, grace, retry), retry);
    }

    #[tokio::test]
    async fn always_leader_is_true_until_shutdown() {
        let metrics = Metrics::new();
        let shutdown = CancellationToken::new();
        let (mut rx, task) = always_leader(metrics.clone(), shutdown.clone());
        assert!(*rx.borrow_and_update());
        assert!(metrics.encode().contains("stateless_operator_leader 1\n"));

        shutdown.cancel();
        rx.changed().await.unwrap();
        assert!(!*rx.borrow_and_update());
        task.await.unwrap().unwrap();
        assert!(metrics.encode().contains("stateless_operator_leader 0\n"));
        // The task is gone, so the channel is closed now.
        assert!(rx.changed().await.is_err());
    }

    #[tokio::test]
    async fn always_leader_stops_when_nobody_listens() {
        let metrics = Metrics::new();
        let (rx, task) = always_leader(metrics.clone(), CancellationToken::new());
        drop(rx);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(metrics.encode().contains("stateless_operator_leader 0\n"));
    }

    /// A client for an address where nothing listens: builds fine, every request fails.
    fn unreachable_client() -> kube::Client {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap()
    }

    #[tokio::test]
    async fn spawn_rejects_an_invalid_config_without_starting() {
        let mut c = cfg();
        c.retry_period = Duration::from_secs(10);
        let err = spawn(
            unreachable_client(),
            c,
            Metrics::new(),
            CancellationToken::new(),
        )
        .unwrap_err();
        assert_eq!(err.category(), "leader-config");
    }

    #[tokio::test]
    async fn spawn_without_api_server_stays_follower_and_stops_on_shutdown() {
        let metrics = Metrics::new();
        metrics.set_leader(true); // spawn must reset a stale gauge
        let shutdown = CancellationToken::new();
        let mut c = cfg();
        c.lease_duration = Duration::from_secs(2);
        c.renew_grace = Duration::from_secs(1);
        c.retry_period = Duration::from_millis(50);
        let (rx, task) = spawn(unreachable_client(), c, metrics.clone(), shutdown.clone()).unwrap();
        assert!(metrics.encode().contains("stateless_operator_leader 0\n"));

        // Several failed attempts later, still not leading and still running.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!*rx.borrow());
        assert!(!task.is_finished());

        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(!*rx.borrow());
    }
}
