//! The kube-runtime side of [`super::References`]: the metadata-only watches of ConfigMaps and
//! Secrets (`Api<PartialObjectMeta<K>>`, whose requests ask for `PartialObjectMetadataList`
//! and which feed no store), and keeping the index from the StatelessServices' watch. What to do
//! with each event is decided in [`super::References`]; nothing here writes.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::NamespaceResourceScope;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::{RefKind, References, WatchEvent};
use crate::controller::Guarded;

fn reduce<K: Resource>(event: watcher::Event<K>) -> WatchEvent {
    let apply = |o: &K, listed| WatchEvent::Apply {
        namespace: o.namespace().unwrap_or_default(),
        name: o.name_any(),
        resource_version: o.resource_version().unwrap_or_default(),
        listed,
    };
    match event {
        watcher::Event::Init => WatchEvent::Init,
        watcher::Event::InitApply(o) => apply(&o, true),
        watcher::Event::Apply(o) => apply(&o, false),
        watcher::Event::Delete(o) => WatchEvent::Delete {
            namespace: o.namespace().unwrap_or_default(),
            name: o.name_any(),
        },
        watcher::Event::InitDone => WatchEvent::InitDone,
    }
}

/// The metadata watch of kind `K` (all namespaces, or `namespace`), as reconcile triggers for
/// the services whose referenced objects changed. `listed` is called at the end of every list
/// (readiness waits for the first).
pub fn watch<K>(
    client: &Client,
    namespace: Option<&str>,
    kind: RefKind,
    references: Arc<References>,
    listed: impl Fn() + Send + 'static,
) -> impl Stream<Item = ObjectRef<Guarded>> + Send + 'static
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let api: Api<PartialObjectMeta<K>> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    watcher(api, watcher::Config::default())
        .default_backoff()
        .flat_map(move |event| {
            let services = match event {
                Ok(event) => {
                    let event = reduce(event);
                    let done = event == WatchEvent::InitDone;
                    let services = references.on_event(kind, event);
                    if done {
                        listed();
                    }
                    services
                }
                Err(e) => {
                    tracing::warn!(error = %e, kind = kind.as_str(), "watch of referenced objects failed; retrying with backoff");
                    Vec::new()
                }
            };
            futures::stream::iter(
                services
                    .into_iter()
                    .map(|(ns, name)| ObjectRef::new(&name).within(&ns)),
            )
        })
}

/// Keeps the index of references from the StatelessServices' watch events (passed on as they
/// are).
pub fn track<S>(events: S, references: Arc<References>) -> impl Stream<Item = S::Item> + Send
where
    S: Stream<Item = Result<watcher::Event<Guarded>, watcher::Error>> + Send,
{
    events.inspect(move |event| match event {
        Ok(watcher::Event::Init) => references.services_listing(true),
        Ok(watcher::Event::InitDone) => references.services_listing(false),
        Ok(watcher::Event::Apply(g) | watcher::Event::InitApply(g)) => {
            references.track_service(
                &g.namespace().unwrap_or_default(),
                &g.name_any(),
                g.0.as_ref().ok().map(|s| &s.spec),
            );
        }
        Ok(watcher::Event::Delete(g)) => {
            references.track_service(&g.namespace().unwrap_or_default(), &g.name_any(), None);
        }
        Err(_) => {}
    })
}
