//! Reading the observed state of one StatelessService's children.
//!
//! Observed state comes from the controller's caches (reflector stores of the children, which
//! hold only objects labelled `app.kubernetes.io/managed-by: stateless-operator`, stripped of
//! `managedFields`). The API server is read directly only where a cache cannot be trusted:
//! a child the cache does not hold (it may exist without our label — a foreign object whose name
//! we must not take over — or be newer than the cache), and where a kind says so (a Secret
//! about to receive newly generated values: a stale cache must never make us generate a value
//! twice). Every kind of the registry is read the same way, in registry order.
//! This module never writes.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::api::Api;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::build::{self, ANNOTATION_GENERATED_KEYS};
use crate::children::{ChildKind, REGISTRY, secret};
pub use crate::children::{Observed, Stores};
use crate::crd::StatelessServiceSpec;
use crate::error::{Error, request};

/// The object the cache holds under `namespace/name`.
pub(crate) fn cached<K>(store: &Store<K>, namespace: &str, name: &str) -> Option<Arc<K>>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    store.get(&ObjectRef::new(name).within(namespace))
}

/// GETs an object; `None` when it does not exist.
pub(crate) async fn fetch<K>(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<Arc<K>>, Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let found = request(
        || format!("read {} {namespace}/{name}", K::kind(&())),
        api.get_opt(name),
    )
    .await?;
    Ok(found.map(Arc::new))
}

impl Observed {
    /// The children as the caches hold them.
    pub fn from_stores(stores: &Stores, namespace: &str, service: &str) -> Self {
        let mut observed = Observed::default();
        for entry in REGISTRY {
            entry.take_cached(stores, namespace, service, &mut observed);
        }
        observed
    }

    /// Reads from the API server every child the spec wants that the cache lacks, and those
    /// their kind says must be read anyway (the Secret when values would be generated), except
    /// kinds in `skip` (whose API is not served).
    /// Returns how many reads were made (0 at steady state).
    pub async fn confirm(
        &mut self,
        client: &Client,
        namespace: &str,
        service: &str,
        spec: &StatelessServiceSpec,
        skip: &[ChildKind],
    ) -> Result<usize, Error> {
        let mut reads = 0;
        for entry in REGISTRY.iter().filter(|e| !skip.contains(&e.kind())) {
            if entry.must_read(self, spec) {
                entry.read(client, namespace, service, self).await?;
                reads += 1;
            }
        }
        Ok(reads)
    }

    /// True when `build` would generate a value (see [`secret::would_generate`]).
    pub fn would_generate(&self, spec: &StatelessServiceSpec) -> bool {
        secret::would_generate(self.secret.as_deref(), spec)
    }

    /// What `build` must carry over from the live state.
    pub fn build_inputs(&self) -> build::Observed<'_> {
        build::Observed {
            config_data: self.config_map.as_ref().and_then(|c| c.data.as_ref()),
            secret_data: self.secret.as_ref().and_then(|s| s.data.as_ref()),
            generated_keys: self
                .secret
                .as_ref()
                .and_then(|s| s.metadata.annotations.as_ref())
                .and_then(|a| a.get(ANNOTATION_GENERATED_KEYS))
                .map(String::as_str),
            // Referenced objects are not children: `crate::references` resolves them.
            external: &[],
        }
    }

    /// The live children as JSON, by kind, for planning.
    pub fn as_json(&self) -> Result<BTreeMap<ChildKind, Value>, serde_json::Error> {
        let mut out = BTreeMap::new();
        for entry in REGISTRY {
            if let Some(live) = entry.live(self)? {
                out.insert(entry.kind(), live);
            }
        }
        Ok(out)
    }

    /// Takes the objects the API server returned from this pass's applies: they are fresher
    /// than the caches (status must not report a rollout as done from a stale Deployment).
    pub fn refresh(&mut self, executed: &crate::apply::Executed) {
        for (kind, applied) in &executed.applied {
            kind.entry().refresh(self, applied);
        }
    }

    /// Reads every child from the API server, bypassing caches (for `diff`, which has none).
    pub async fn read_all(client: &Client, namespace: &str, service: &str) -> Result<Self, Error> {
        let mut observed = Observed::default();
        for entry in REGISTRY {
            entry
                .read(client, namespace, service, &mut observed)
                .await?;
        }
        Ok(observed)
    }
}
