//! Leader election on a `coordination.k8s.io/v1` Lease: client-go's algorithm, written small.
//!
//! [`spawn`] starts a task that keeps trying to acquire the Lease, keeps it renewed while held,
//! and publishes on a `watch::Receiver<bool>` whether this process may act as the leader right
//! now. [`always_leader`] is the `--leader-elect=false` mode: same return shape, flag fixed at
//! `true` until shutdown. The controller must only write to the cluster while the flag is
//! `true`, and must stop doing so as soon as it turns `false`.
//!
//! What this module must not do: decide *what* the leader does, touch any object other than its
//! one Lease, or report `true` for a lease it cannot prove it still holds.
//!
//! # The algorithm (client-go's `leaderelection`, on one Lease)
//!
//! Every write is a create or a full `PUT` carrying the `resourceVersion` this process last read
//! or wrote, so a lost race is a 409 Conflict from the API server, never a silent overwrite of
//! another holder's record. No patch, no force.
//! - **No Lease**: `POST` one naming us (409 AlreadyExists: someone was faster; read again).
//! - **Free** (no `holderIdentity`, e.g. released): take it at once with `PUT`.
//! - **Held by another**: the record is *observed*, by our monotonic clock, whenever its
//!   `resourceVersion` changes. It is taken over (`PUT`, `leaseTransitions + 1`) only once
//!   `leaseDurationSeconds` have passed since the last observed change. Wall clocks are never
//!   compared across processes, so clock skew between nodes cannot cause an early take-over.
//! - **Held by us**: renewed (`PUT` with a new `renewTime`) `renew_grace` before it would expire,
//!   then every `retry_period` while a renewal fails.
//! - Followers read (`GET`) every `retry_period`; the leader only writes.
//! - **Release** on shutdown (the token is cancelled, or nobody listens to the flag): the flag
//!   turns `false` first, then a `PUT` clears `holderIdentity`, `acquireTime` and `renewTime`
//!   (bounded by [`RELEASE_TIMEOUT`]), so a follower takes over without waiting for expiry.
//!
//! # Why two leaders never act at once
//!
//! Let `t` be the moment this process *sent* its last successful write (acquire or renew). Any
//! other candidate observed that write at or after `t`, and takes over no earlier than
//! `lease_duration` after its observation, so not before `t + lease_duration`. This process stops
//! leading (the flag turns `false`) at `t + lease_duration - renew_grace / 2`, even while a
//! renewal request hangs: a margin of at least half a second at the shortest lease. Only the rate
//! of the clocks matters, not their setting. Every request is bounded by `renew_grace`.
//!
//! RBAC needed: `get`, `create`, `update` on `leases` in `lease_namespace`.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::build::MANAGER;
use crate::metrics::Metrics;

mod config;

pub use config::{
    DEFAULT_LEASE_DURATION, DEFAULT_RENEW_GRACE, DEFAULT_RETRY_PERIOD, LeaderConfig, LeaderError,
    LeaderTask, MAX_LEASE_DURATION, MIN_LEASE_DURATION, RELEASE_TIMEOUT, unique_identity,
};

/// Starts leader election. Returns the "may lead" flag (starts `false`) and the task, which
/// ends after `shutdown` is cancelled (or all receivers are dropped) and the Lease was
/// released; its error only reports a failed release.
///
/// Fails without starting anything if `cfg` is invalid. Must be called inside a Tokio runtime.
pub fn spawn(
    client: kube::Client,
    cfg: LeaderConfig,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<(watch::Receiver<bool>, LeaderTask), LeaderError> {
    cfg.validate()?;
    let (tx, rx) = watch::channel(false);
    let flag = Flag::new(tx, metrics);
    flag.set(false);
    let api: Api<Lease> = Api::namespaced(client, &cfg.lease_namespace);
    let task = tokio::spawn(run(api, cfg, flag, shutdown));
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
        stopping(&shutdown, &flag).await;
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

/// Resolves when the task should stop: shutdown, or nobody listens to the flag anymore
/// (holding a lease nobody acts on would only block the other replicas).
async fn stopping(shutdown: &CancellationToken, flag: &Flag) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = flag.tx.closed() => {}
    }
}

/// What this process knows of the Lease. Pure, so that its rules are tested without a server.
#[derive(Clone, Debug, Default)]
struct Knowledge {
    /// The Lease as our last successful write returned it, and when that write was sent.
    ours: Option<(Lease, Instant)>,
    /// Another holder's record: its resourceVersion, and when we first saw that version.
    theirs: Option<(String, Instant)>,
    /// A write of ours met a newer version (409): read before writing again. What we held stays
    /// valid until its step-down time meanwhile, which no rival can precede.
    stale: bool,
}

/// What to do after reading the Lease.
#[derive(Debug, PartialEq)]
enum Step {
    /// There is none: create it, naming us.
    Create(Lease),
    /// Replace it (acquire, take over or renew) with this object, which carries the read
    /// resourceVersion as the precondition.
    Write(Lease),
    /// Someone else holds it and it has not expired by our observation: read again later.
    Wait,
}

impl Knowledge {
    fn leading(&self, now: Instant, cfg: &LeaderConfig) -> bool {
        self.step_down_at(cfg).is_some_and(|at| now < at)
    }

    /// When leadership ends unless a renewal succeeds first (see the module doc).
    fn step_down_at(&self, cfg: &LeaderConfig) -> Option<Instant> {
        self.ours
            .as_ref()
            .map(|(_, sent)| *sent + cfg.lease_duration - cfg.renew_grace / 2)
    }

    /// How long to wait before the next attempt.
    fn next_attempt_in(&self, now: Instant, cfg: &LeaderConfig, failed: bool) -> Duration {
        match &self.ours {
            Some((_, sent)) if !failed => {
                (*sent + cfg.lease_duration - cfg.renew_grace).saturating_duration_since(now)
            }
            _ => cfg.retry_period,
        }
    }

    /// Decides from a fresh read (`None`: the Lease does not exist) what to write, if anything.
    fn decide(
        &mut self,
        read: Option<Lease>,
        now: Instant,
        wall: MicroTime,
        cfg: &LeaderConfig,
    ) -> Step {
        let Some(lease) = read else {
            self.theirs = None;
            return Step::Create(self.claim(None, wall, cfg));
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
        match holder {
            Some(h) if h == cfg.identity => {
                self.theirs = None;
                Step::Write(renewed(lease, wall))
            }
            None => {
                self.theirs = None;
                Step::Write(self.claim(Some(lease), wall, cfg))
            }
            Some(_) => {
                // Whatever we held, it is someone else's now.
                self.ours = None;
                self.stale = false;
                let version = lease.metadata.resource_version.clone().unwrap_or_default();
                let seen = match &self.theirs {
                    Some((v, at)) if *v == version => *at,
                    _ => now,
                };
                self.theirs = Some((version, seen));
                let secs = spec
                    .lease_duration_seconds
                    .and_then(|s| u64::try_from(s).ok())
                    .unwrap_or(cfg.lease_duration.as_secs());
                if now >= seen + Duration::from_secs(secs) {
                    Step::Write(self.claim(Some(lease), wall, cfg))
                } else {
                    Step::Wait
                }
            }
        }
    }

    /// The Lease naming us as a new holder (`existing`: the one read, kept for its metadata).
    fn claim(&self, existing: Option<Lease>, wall: MicroTime, cfg: &LeaderConfig) -> Lease {
        // Taking over an existing record is a transition (as in client-go); a new one starts at 0.
        let transitions = existing.as_ref().map_or(0, |l| {
            let before = l
                .spec
                .as_ref()
                .and_then(|s| s.lease_transitions)
                .unwrap_or(0);
            before.saturating_add(1)
        });
        let mut lease = existing.unwrap_or_else(|| Lease {
            metadata: ObjectMeta {
                name: Some(cfg.lease_name.clone()),
                namespace: Some(cfg.lease_namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: None,
        });
        let before = lease.spec.take().unwrap_or_default();
        lease.spec = Some(LeaseSpec {
            holder_identity: Some(cfg.identity.clone()),
            lease_duration_seconds: i32::try_from(cfg.lease_duration.as_secs()).ok(),
            acquire_time: Some(wall.clone()),
            renew_time: Some(wall),
            lease_transitions: Some(transitions),
            ..before
        });
        lease
    }

    /// A write went through: the API server's answer is ours, as of when it was sent.
    fn wrote(&mut self, lease: Lease, sent: Instant) {
        self.ours = Some((lease, sent));
        self.theirs = None;
        self.stale = false;
    }
}

/// Our lease with a new `renewTime`.
fn renewed(mut lease: Lease, wall: MicroTime) -> Lease {
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    spec.renew_time = Some(wall);
    lease
}

/// Our lease given up: no holder, so a follower may take it at once.
fn released(mut lease: Lease) -> Lease {
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    spec.holder_identity = None;
    spec.acquire_time = None;
    spec.renew_time = None;
    lease
}

fn now_micro() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

fn post_params() -> PostParams {
    PostParams {
        field_manager: Some(MANAGER.to_string()),
        ..PostParams::default()
    }
}

/// One read-decide-write round. Returns whether it failed (then the next one comes after
/// `retry_period`). Every request is bounded: kube clients have no read timeout by default.
async fn attempt(api: &Api<Lease>, cfg: &LeaderConfig, knowledge: &mut Knowledge) -> bool {
    let limit = cfg.renew_grace;
    let name = cfg.lease_name.as_str();
    // Renewing what we wrote last needs no read: its resourceVersion is the precondition.
    let step = match knowledge.ours.clone().filter(|_| !knowledge.stale) {
        Some((lease, _)) => Step::Write(renewed(lease, now_micro())),
        None => match timeout(limit, api.get_opt(name)).await {
            Ok(Ok(read)) => knowledge.decide(read, Instant::now(), now_micro(), cfg),
            Ok(Err(e)) => {
                warn!(error = %e, lease = %name, "reading the lease failed; retrying");
                return true;
            }
            Err(_) => {
                warn!(lease = %name, "reading the lease timed out; retrying");
                return true;
            }
        },
    };
    let sent = Instant::now();
    let written = match &step {
        Step::Wait => return false,
        Step::Create(lease) => timeout(limit, api.create(&post_params(), lease)).await,
        Step::Write(lease) => timeout(limit, api.replace(name, &post_params(), lease)).await,
    };
    match written {
        Ok(Ok(lease)) => {
            knowledge.wrote(lease, sent);
            false
        }
        Ok(Err(kube::Error::Api(status))) if status.code == 409 => {
            // Someone else wrote first (or edited it): read before the next write.
            info!(lease = %name, reason = %status.reason, "the lease changed meanwhile; reading it again");
            knowledge.stale = true;
            true
        }
        Ok(Err(e)) => {
            warn!(error = %e, lease = %name, "writing the lease failed; retrying");
            true
        }
        Err(_) => {
            warn!(lease = %name, "writing the lease timed out; retrying");
            true
        }
    }
}

async fn run(
    api: Api<Lease>,
    cfg: LeaderConfig,
    flag: Flag,
    shutdown: CancellationToken,
) -> Result<(), LeaderError> {
    info!(lease = %cfg.lease_name, namespace = %cfg.lease_namespace, identity = %cfg.identity, "leader election started");
    let mut knowledge = Knowledge::default();
    let mut delay = Duration::ZERO;
    loop {
        let leading = knowledge.leading(Instant::now(), &cfg);
        flag.set(leading);
        let step_down = knowledge.step_down_at(&cfg).filter(|_| leading);
        let round = async {
            sleep(delay).await;
            let failed = attempt(&api, &cfg, &mut knowledge).await;
            knowledge.next_attempt_in(Instant::now(), &cfg, failed)
        };
        tokio::select! {
            biased;
            _ = stopping(&shutdown, &flag) => break,
            _ = sleep_until(step_down.unwrap_or_else(Instant::now)), if step_down.is_some() => {
                // The round in flight (a hanging renewal, say) is dropped: its write may still
                // land, which is harmless, since a new round reads before it writes again.
                warn!(lease = %cfg.lease_name, "renewal not confirmed in time: stepping down");
                knowledge.ours = None;
                delay = Duration::ZERO;
            }
            next = round => delay = next,
        }
    }
    // Stop leading before giving the Lease away, so a successor never overlaps with us.
    flag.set(false);
    release(&api, &cfg, &knowledge).await
}

async fn release(
    api: &Api<Lease>,
    cfg: &LeaderConfig,
    knowledge: &Knowledge,
) -> Result<(), LeaderError> {
    let Some((lease, _)) = knowledge
        .ours
        .clone()
        .filter(|_| knowledge.leading(Instant::now(), cfg))
    else {
        return Ok(());
    };
    let (namespace, name) = (cfg.lease_namespace.clone(), cfg.lease_name.clone());
    match timeout(
        RELEASE_TIMEOUT,
        api.replace(&name, &post_params(), &released(lease)),
    )
    .await
    {
        Ok(Ok(_)) => {
            info!(lease = %name, "lease released");
            Ok(())
        }
        // Someone else wrote it since: it is not ours to clear.
        Ok(Err(kube::Error::Api(status))) if status.code == 409 => Ok(()),
        Ok(Err(source)) => Err(LeaderError::Release {
            namespace,
            name,
            source: Box::new(source),
        }),
        Err(_) => Err(LeaderError::ReleaseTimeout { namespace, name }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg2() -> LeaderConfig {
        LeaderConfig::new("lease", "ns", "me")
    }

    fn lease(holder: Option<&str>, version: &str, transitions: i32) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some("lease".into()),
                namespace: Some("ns".into()),
                resource_version: Some(version.into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_string),
                lease_duration_seconds: Some(15),
                lease_transitions: Some(transitions),
                renew_time: Some(now_micro()),
                ..LeaseSpec::default()
            }),
        }
    }

    fn written(step: Step) -> Lease {
        match step {
            Step::Write(l) | Step::Create(l) => l,
            Step::Wait => panic!("expected a write"),
        }
    }

    #[test]
    fn a_missing_lease_is_created_naming_us() {
        let mut k = Knowledge::default();
        let l = match k.decide(None, Instant::now(), now_micro(), &cfg2()) {
            Step::Create(l) => l,
            other => panic!("expected a create, got {other:?}"),
        };
        let spec = l.spec.unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("me"));
        assert_eq!(spec.lease_duration_seconds, Some(15));
        assert_eq!(spec.lease_transitions, Some(0));
        assert!(spec.acquire_time.is_some() && spec.renew_time.is_some());
        assert_eq!(l.metadata.name.as_deref(), Some("lease"));
    }

    #[test]
    fn a_free_lease_is_taken_at_once_with_the_read_version_as_precondition() {
        let mut k = Knowledge::default();
        let free = lease(None, "41", 3);
        let l = written(k.decide(Some(free), Instant::now(), now_micro(), &cfg2()));
        assert_eq!(l.metadata.resource_version.as_deref(), Some("41"));
        let spec = l.spec.unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("me"));
        assert_eq!(
            spec.lease_transitions,
            Some(4),
            "a change of holder is a transition"
        );
    }

    #[test]
    fn another_holder_is_waited_out_by_our_own_clock() {
        let cfg = cfg2();
        let mut k = Knowledge::default();
        let t0 = Instant::now();
        // First sight: however old its renewTime looks, we wait a whole lease from now.
        assert_eq!(
            k.decide(Some(lease(Some("other"), "7", 1)), t0, now_micro(), &cfg),
            Step::Wait
        );
        let t1 = t0 + Duration::from_secs(14);
        assert_eq!(
            k.decide(Some(lease(Some("other"), "7", 1)), t1, now_micro(), &cfg),
            Step::Wait
        );
        // It renewed (a new version): the wait starts again.
        let t2 = t0 + Duration::from_secs(16);
        assert_eq!(
            k.decide(Some(lease(Some("other"), "8", 1)), t2, now_micro(), &cfg),
            Step::Wait
        );
        let t3 = t2 + Duration::from_secs(14);
        assert_eq!(
            k.decide(Some(lease(Some("other"), "8", 1)), t3, now_micro(), &cfg),
            Step::Wait
        );
        // No change for a whole lease duration: taken over, precondition on that version.
        let t4 = t2 + Duration::from_secs(15);
        let l = written(k.decide(Some(lease(Some("other"), "8", 1)), t4, now_micro(), &cfg));
        assert_eq!(l.metadata.resource_version.as_deref(), Some("8"));
        let spec = l.spec.unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("me"));
        assert_eq!(spec.lease_transitions, Some(2));
    }

    #[test]
    fn our_lease_is_renewed_and_lost_when_another_holds_it() {
        let cfg = cfg2();
        let mut k = Knowledge::default();
        let t0 = Instant::now();
        let mine = lease(Some("me"), "5", 0);
        let l = written(k.decide(Some(mine.clone()), t0, now_micro(), &cfg));
        assert_eq!(
            l.spec.as_ref().unwrap().holder_identity.as_deref(),
            Some("me")
        );
        assert_eq!(
            l.spec.as_ref().unwrap().lease_transitions,
            Some(0),
            "a renewal is no transition"
        );
        k.wrote(l, t0);
        assert!(k.leading(t0, &cfg));
        k.stale = true;
        // A read shows someone else: we lead no more, at once.
        assert_eq!(
            k.decide(Some(lease(Some("other"), "9", 1)), t0, now_micro(), &cfg),
            Step::Wait
        );
        assert!(!k.leading(t0, &cfg));
        assert!(!k.stale);
    }

    #[test]
    fn leadership_ends_before_any_rival_may_take_over() {
        let cfg = cfg2();
        let mut k = Knowledge::default();
        let sent = Instant::now();
        k.wrote(lease(Some("me"), "5", 0), sent);
        // Renew `renew_grace` before expiry; after a failure, every retry period.
        assert_eq!(
            k.next_attempt_in(sent, &cfg, false),
            cfg.lease_duration - cfg.renew_grace
        );
        assert_eq!(k.next_attempt_in(sent, &cfg, true), cfg.retry_period);
        // A rival observes our write no earlier than `sent` and waits a whole lease.
        let rival_earliest = sent + cfg.lease_duration;
        let step_down = k.step_down_at(&cfg).unwrap();
        assert!(step_down + Duration::from_millis(500) <= rival_earliest);
        assert!(k.leading(step_down - Duration::from_millis(1), &cfg));
        assert!(!k.leading(step_down, &cfg));
        // A follower polls every retry period.
        assert_eq!(
            Knowledge::default().next_attempt_in(sent, &cfg, false),
            cfg.retry_period
        );
    }

    #[test]
    fn release_clears_the_holder() {
        let l = released(lease(Some("me"), "5", 2));
        let spec = l.spec.unwrap();
        assert_eq!(spec.holder_identity, None);
        assert_eq!((spec.acquire_time, spec.renew_time), (None, None));
        assert_eq!(spec.lease_transitions, Some(2));
        assert_eq!(l.metadata.resource_version.as_deref(), Some("5"));
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
        let mut c = cfg2();
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
        let mut c = cfg2();
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
