//! The controller: keeps every StatelessService's children exactly as declared.
//!
//! This module wires the pipeline to kube-runtime: the watches and caches of services, of
//! every registered child kind and of referenced objects, cache readiness (`/readyz`), the
//! triggers after every list, and the drain on shutdown. `reconcile.rs` is one reconcile (the
//! pipeline validate -> read observed -> build -> plan/apply -> status) and the backoff.
//! Neither contains object-building or diffing logic.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use kube::api::{Api, ListParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::{Notify, watch};

use crate::apply::Writer;
use crate::build::{LABEL_MANAGED_BY, LABEL_SERVICE, MANAGER};
use crate::cache::{self, Compact};
use crate::children::{ChildKind, Slot, StartCache};
use crate::crd::StatelessService;
use crate::error::{Error, request};
use crate::metrics::Metrics;
use crate::observe::Stores;
use crate::references::{self, RefKind, References};
use crate::served::{self, Served};

mod reconcile;

use reconcile::jittered;
pub use reconcile::{backoff, error_policy, plan_writes, reconcile};

/// The object the controller watches: a StatelessService, or the error that stopped it from
/// deserializing (reported on that object without stopping the others).
pub type Guarded = DeserializeGuard<StatelessService>;

/// Tunables of the controller.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Watch only this namespace (`None`: all namespaces).
    pub namespace: Option<String>,
    /// Most reconciles running at once.
    pub concurrency: u16,
    /// How often a converged service is checked again without any event.
    pub resync: Duration,
    /// Name of this instance in events (the pod name).
    pub instance: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            namespace: None,
            concurrency: 16,
            resync: Duration::from_secs(600),
            instance: None,
        }
    }
}

/// Shared state of all reconciles.
pub struct Context {
    client: Client,
    writer: Writer,
    stores: Stores,
    /// Referenced objects other tools own (see [`crate::references`]).
    references: Arc<References>,
    /// Which caches completed their first list (bits of [`Cache`]).
    synced: watch::Receiver<u32>,
    metrics: Metrics,
    settings: Settings,
    /// Consecutive failures per object, for exponential backoff.
    failures: Mutex<HashMap<(String, String), u32>>,
    /// Woken when a reconcile could not reach the API server (see [`retry_after_outages`]).
    unreachable: Notify,
    /// Which optional child APIs the cluster serves (see [`crate::served`]).
    served: Arc<Served>,
}

impl Context {
    fn forget_failures(&self, namespace: &str, name: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&(namespace.to_string(), name.to_string()));
        }
    }
}

/// The child watches' label selector: only what this operator manages is cached.
pub fn managed_selector() -> String {
    format!("{LABEL_MANAGED_BY}={MANAGER}")
}

/// Checks that the CRD is installed and readable; the error says what to do when it is not.
pub async fn check_crd(client: &Client, namespace: Option<&str>) -> Result<(), Error> {
    let api: Api<StatelessService> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let params = ListParams::default().limit(1);
    match request(
        || "list StatelessServices (checking that the CRD is installed)".to_string(),
        api.list_metadata(&params),
    )
    .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.status_code() == Some(404) => Err(Error::CrdMissing),
        Err(e) => Err(e),
    }
}

/// How long in-flight reconciles may go on after `stop` resolves before they are abandoned
/// (aborted at their next await point). Part of the operator's shutdown bound
/// ([`crate::runner::SHUTDOWN_BOUND`]): a reconcile stuck on a hanging request must not keep the
/// process alive until Kubernetes kills it.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(8);

/// Runs the controller until `stop` resolves. `ready` turns true once every cache is synced.
/// After `stop`, running reconciles get [`DRAIN_TIMEOUT`] to finish; then they are aborted.
pub async fn run_controller(
    client: Client,
    metrics: Metrics,
    settings: Settings,
    ready: watch::Sender<bool>,
    stop: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let stop = stop.shared();
    let (synced_tx, synced) = watch::channel(0u32);
    let sync = Arc::new(synced_tx);

    let main_api: Api<Guarded> = match &settings.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    // Built by hand rather than with `Controller::new`: the cache of services is stripped like
    // the child caches, and triggers come from [`main_triggers`] (see there why).
    let (main_reader, main_writer) = reflector::store();
    let references = Arc::new(References::new());
    let services = references::track(
        reflector::reflector(
            main_writer,
            watcher(main_api, watcher::Config::default())
                .default_backoff()
                .modify(strip_unread),
        ),
        references.clone(),
    );
    let main_triggers = main_triggers(services, main_reader.clone(), sync.clone());

    // Optional APIs the cluster does not serve have no list to wait for: readiness counts
    // their caches as synced, and their watches mark them served once a list succeeds.
    let served = Arc::new(Served::discover(&client).await);
    for kind in ChildKind::ALL {
        if !served.is_served(*kind) {
            mark_synced(&sync, Cache::of(*kind));
        }
    }
    let selector = managed_selector();
    let child_config = watcher::Config::default().labels(&selector);
    let watch = ChildWatch {
        client: &client,
        settings: &settings,
        config: &child_config,
        services: &main_reader,
        sync: &sync,
        served: &served,
    };
    let (stores, child_triggers) = Stores::start(&watch);

    let (retry_tx, retry_rx) = futures::channel::mpsc::unbounded();
    // Every trigger is an `ObjectRef` fed through `reconcile_on`; the controller's own trigger
    // stream stays empty, so a watch error never reaches the controller's shared trigger backoff
    // (which would pause every trigger), and each watcher backs off on its own.
    let mut controller = Controller::for_stream(
        futures::stream::pending::<Result<Guarded, watcher::Error>>(),
        main_reader,
    )
    .with_config(ControllerConfig::default().concurrency(settings.concurrency))
    .reconcile_on(main_triggers);
    for triggers in child_triggers {
        controller = controller.reconcile_on(triggers);
    }
    let namespace = settings.namespace.as_deref();
    let listed = |cache: Cache| {
        let sync = sync.clone();
        move || {
            mark_synced(&sync, cache);
        }
    };
    let controller = controller
        .reconcile_on(references::watch::<k8s_openapi::api::core::v1::ConfigMap>(
            &client,
            namespace,
            RefKind::ConfigMap,
            references.clone(),
            listed(Cache::REFERENCED_CONFIG_MAPS),
        ))
        .reconcile_on(references::watch::<k8s_openapi::api::core::v1::Secret>(
            &client,
            namespace,
            RefKind::Secret,
            references.clone(),
            listed(Cache::REFERENCED_SECRETS),
        ))
        .reconcile_on(retry_rx)
        .graceful_shutdown_on(stop.clone());

    let readiness = {
        let mut synced = synced.clone();
        tokio::spawn(async move {
            if synced.wait_for(|m| *m == Cache::ALL).await.is_ok() {
                tracing::info!("caches synced: ready");
                let _ = ready.send(true);
            }
        })
    };

    let reporter = Reporter {
        controller: MANAGER.to_string(),
        instance: settings.instance.clone(),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let context = Arc::new(Context {
        writer: Writer::new(client.clone(), metrics.clone(), recorder),
        client,
        stores,
        references,
        synced,
        metrics,
        settings,
        failures: Mutex::new(HashMap::new()),
        unreachable: Notify::new(),
        served,
    });
    let prober = tokio::spawn(retry_after_outages(context.clone(), retry_tx));
    let run = controller
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "controller event");
            }
        });
    let drain_expired = async move {
        stop.await;
        tokio::time::sleep(DRAIN_TIMEOUT).await;
    };
    tokio::select! {
        () = run => {}
        () = drain_expired => {
            // Dropping the controller's stream aborts the reconciles still running.
            tracing::warn!(after = ?DRAIN_TIMEOUT, "reconciles still running at shutdown: abandoning them");
        }
    }
    readiness.abort();
    prober.abort();
}

/// A cache whose first list readiness waits for, as its bit: the services' cache, one per
/// registered child kind (bit `1 + kind as usize`), and the two metadata watches of referenced
/// objects (the bits after those).
#[derive(Clone, Copy, Debug)]
struct Cache(u32);

// One bit for the services, one per kind and two for references must fit the `u32`.
const _: () = assert!(ChildKind::ALL.len() + 3 <= 32);

impl Cache {
    /// The StatelessServices' cache.
    const SERVICES: Cache = Cache(1);
    /// The metadata watch of ConfigMaps (for `config.from`).
    const REFERENCED_CONFIG_MAPS: Cache = Cache(1 << (1 + ChildKind::ALL.len()));
    /// The metadata watch of Secrets (for `secret.from`).
    const REFERENCED_SECRETS: Cache = Cache(1 << (2 + ChildKind::ALL.len()));
    /// Every cache synced.
    const ALL: u32 = (1 << (3 + ChildKind::ALL.len())) - 1;

    /// The cache of a child kind.
    fn of(kind: ChildKind) -> Cache {
        Cache(1 << (1 + kind as usize))
    }

    fn bit(self) -> u32 {
        self.0
    }
}

/// Records in `sync` that `cache` completed a list; returns whether it had done so before
/// (then this was a re-list).
///
/// Readiness is published on a `tokio::sync::watch` channel instead of waiting on
/// `Store::wait_until_ready`: kube-runtime's store readiness keeps a single waker, so of several
/// tasks waiting on one store (reconciles started before the caches synced, the readiness task)
/// only the last one is ever woken. Against a real API server, whose lists take seconds, that left
/// reconciles waiting for ever, `/readyz` at 503 and shutdown waiting for those reconciles.
fn mark_synced(sync: &watch::Sender<u32>, cache: Cache) -> bool {
    let mut before = 0;
    sync.send_modify(|m| {
        before = *m;
        *m |= cache.bit();
    });
    before & cache.bit() != 0
}

/// Every service in the cache, as triggers.
fn every_service(services: &Store<Guarded>) -> Vec<ObjectRef<Guarded>> {
    services
        .state()
        .iter()
        .map(|s| ObjectRef::from_obj(s.as_ref()))
        .collect()
}

/// Reconcile triggers from the services' watch: each applied service, and at the end of every
/// list (the first and each re-list after a 410) every service in the cache.
///
/// Objects seen during a list are not triggered one by one: until the list completes they are
/// in the reflector's buffer, not in the store, and a trigger the controller cannot find in the
/// store is dropped for good. On a re-list the store is already marked ready, so a service created
/// while the watch was down would be lost that way; triggering from the store once the list has
/// been swapped in cannot lose one.
fn main_triggers(
    events: impl futures::Stream<Item = Result<watcher::Event<Guarded>, watcher::Error>>
    + Send
    + 'static,
    services: Store<Guarded>,
    sync: Arc<watch::Sender<u32>>,
) -> impl futures::Stream<Item = ObjectRef<Guarded>> + Send + 'static {
    events.flat_map(move |event| {
        let refs = match event {
            Ok(watcher::Event::Apply(service)) => vec![ObjectRef::from_obj(&service)],
            Ok(watcher::Event::InitDone) => {
                mark_synced(&sync, Cache::SERVICES);
                every_service(&services)
            }
            Ok(_) => Vec::new(),
            Err(e) => {
                tracing::warn!(error = %e, "watch of StatelessServices failed; retrying with backoff");
                Vec::new()
            }
        };
        futures::stream::iter(refs)
    })
}

/// What every child watch shares.
struct ChildWatch<'a> {
    client: &'a Client,
    settings: &'a Settings,
    config: &'a watcher::Config,
    services: &'a Store<Guarded>,
    sync: &'a Arc<watch::Sender<u32>>,
    served: &'a Arc<Served>,
}

impl StartCache for ChildWatch<'_> {
    type Triggers = BoxStream<'static, ObjectRef<Guarded>>;

    fn start<C: Slot>(&self) -> (Store<Compact<C::Object>>, Self::Triggers) {
        let (store, triggers) = self.watch::<C::Object>(C::KIND, C::OPTIONAL_API);
        (store, triggers.boxed())
    }
}

impl ChildWatch<'_> {
    /// A label-filtered watch of one child kind feeding a cache of compact entries (stripped
    /// of `managedFields`, see [`crate::cache`]), and the reconcile triggers it produces: the service of every applied or deleted child,
    /// and after a re-list every service (children changed or deleted while the watch was down
    /// are then in the store, and nothing else would trigger their services). The first list
    /// triggers nothing: no reconcile acts before every cache has synced.
    fn watch<K>(
        &self,
        kind: ChildKind,
        optional: bool,
    ) -> (
        Store<Compact<K>>,
        impl futures::Stream<Item = ObjectRef<Guarded>> + Send + 'static,
    )
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + DeserializeOwned
            + Send
            + Sync
            + 'static,
    {
        let api: Api<Compact<K>> = match &self.settings.namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        let (reader, writer) = reflector::store();
        // A kind whose optional API is not served waits, sending nothing, until it is.
        let wait = {
            let served = self.served.clone();
            async move {
                if optional {
                    served.wait_served(kind).await;
                }
            }
        };
        let config = self.config.clone();
        let mut start = Some((writer, api));
        let events = futures::stream::once(wait).flat_map(move |()| match start.take() {
            Some((writer, api)) => {
                reflector::reflector(writer, watcher(api, config.clone()).default_backoff())
                    .left_stream()
            }
            None => futures::stream::empty().right_stream(),
        });
        let services = self.services.clone();
        let sync = self.sync.clone();
        let served = self.served.clone();
        let cache = Cache::of(kind);
        let triggers = events.flat_map(move |event| {
            let refs = match event {
                Ok(watcher::Event::Apply(child) | watcher::Event::Delete(child)) => {
                    service_of(child).into_iter().collect()
                }
                Ok(watcher::Event::InitDone) => {
                    // A list succeeded, so the API is served (an optional one may have just
                    // appeared: services stalled on it are looked at again).
                    let appeared = served.set(kind, true);
                    if appeared {
                        tracing::info!(kind = kind.as_str(), "optional API now served");
                    }
                    if mark_synced(&sync, cache) || appeared {
                        every_service(&services)
                    } else {
                        Vec::new()
                    }
                }
                Ok(_) => Vec::new(),
                Err(e) if optional && served::not_served_error(&e) => {
                    if served.set(kind, false) {
                        tracing::info!(kind = kind.as_str(), "optional API no longer served");
                    }
                    tracing::debug!(error = %e, kind = kind.as_str(), "optional API not served; retrying with backoff");
                    Vec::new()
                }
                Err(e) => {
                    tracing::warn!(error = %e, kind = K::kind(&()).as_ref(), "watch failed; retrying with backoff");
                    Vec::new()
                }
            };
            futures::stream::iter(refs)
        });
        (reader, triggers)
    }
}

/// How often the API server is probed after a reconcile could not reach it.
const PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// Ends the backoff of every failed object once the API server is reachable again after an
/// outage. Per-object backoff keeps a down API server from being flooded, but it grows with
/// every failure during the outage: after a 30 s outage objects would wait up to ~40 s more,
/// after a longer one up to the 5 minute cap. Instead one request every [`PROBE_INTERVAL`]
/// (not one per object) checks for the API server, and when it answers after having failed,
/// every object in backoff is reconciled at once. A failure of one request while the API
/// server answers the probe is not an outage: that object keeps its backoff.
async fn retry_after_outages(
    ctx: Arc<Context>,
    retry: futures::channel::mpsc::UnboundedSender<ObjectRef<Guarded>>,
) {
    loop {
        ctx.unreachable.notified().await;
        let mut was_down = false;
        loop {
            tokio::time::sleep(jittered(PROBE_INTERVAL)).await;
            let probe = request(
                || "probe the API server".to_string(),
                ctx.client.apiserver_version(),
            )
            .await;
            if probe.is_ok() {
                break;
            }
            was_down = true;
        }
        if !was_down {
            continue;
        }
        let waiting: Vec<(String, String)> = match ctx.failures.lock() {
            Ok(failures) => failures.keys().cloned().collect(),
            Err(_) => Vec::new(),
        };
        tracing::info!(
            objects = waiting.len(),
            "API server reachable again: retrying objects in backoff"
        );
        for (namespace, name) in waiting {
            if retry
                .unbounded_send(ObjectRef::new(&name).within(&namespace))
                .is_err()
            {
                return;
            }
        }
    }
}

/// Drops from a cached service what reconcile never reads (see [`cache::strip_unread`]).
fn strip_unread<K: Resource>(object: &mut K) {
    cache::strip_unread(object.meta_mut());
}

/// Maps a child to its StatelessService by the `stateless.dev/service` label (the retained
/// claim has no ownerReference, so labels are the one link every child has).
fn service_of<K: Resource>(child: K) -> Option<ObjectRef<Guarded>> {
    let name = child.labels().get(LABEL_SERVICE)?.clone();
    let namespace = child.namespace()?;
    Some(ObjectRef::new(&name).within(&namespace))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;

    use crate::cache::LAST_APPLIED;

    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(500);
        let first = backoff(base, 1);
        assert!(first >= Duration::from_millis(400) && first <= Duration::from_millis(600));
        let fourth = backoff(base, 4);
        assert!(fourth >= Duration::from_millis(3200) && fourth <= Duration::from_millis(4800));
        for attempt in [20, 100, u32::MAX] {
            assert!(backoff(base, attempt) <= Duration::from_secs(360));
        }
        let throttled = backoff(Duration::from_secs(10), 1);
        assert!(throttled >= Duration::from_secs(8));
    }

    #[test]
    fn readiness_waits_for_the_services_and_every_registered_kind() {
        let bits: Vec<u32> = std::iter::once(Cache::SERVICES)
            .chain(ChildKind::ALL.iter().map(|k| Cache::of(*k)))
            .chain([Cache::REFERENCED_CONFIG_MAPS, Cache::REFERENCED_SECRETS])
            .map(Cache::bit)
            .collect();
        let all = bits.iter().fold(0, |m, b| m | b);
        assert_eq!(all, Cache::ALL);
        assert_eq!(all.count_ones() as usize, bits.len(), "one bit each");
    }

    #[test]
    fn caches_drop_what_reconcile_never_reads() {
        let mut cm = ConfigMap::default();
        cm.metadata.managed_fields = Some(vec![Default::default()]);
        cm.metadata.annotations = Some(
            [
                (LAST_APPLIED.to_string(), "{}".to_string()),
                ("stateless.dev/desired-hash".to_string(), "abc".to_string()),
            ]
            .into(),
        );
        strip_unread(&mut cm);
        assert!(cm.metadata.managed_fields.unwrap_or_default().is_empty());
        let annotations = cm.metadata.annotations.unwrap();
        assert_eq!(
            annotations.keys().collect::<Vec<_>>(),
            ["stateless.dev/desired-hash"]
        );
    }

    #[test]
    fn children_map_to_their_service_by_label() {
        let mut cm = ConfigMap::default();
        cm.metadata.namespace = Some("ns".into());
        assert!(service_of(cm.clone()).is_none(), "no label, no service");
        cm.metadata.labels = Some([(LABEL_SERVICE.to_string(), "web".to_string())].into());
        let r = service_of(cm).unwrap();
        assert_eq!(
            (r.name.as_str(), r.namespace.as_deref()),
            ("web", Some("ns"))
        );
    }
}
