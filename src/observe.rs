//! Reading the observed state of one StatelessService's children.
//!
//! Observed state comes from the controller's caches (reflector stores of the children, which
//! hold only objects labelled `app.kubernetes.io/managed-by: stateless-operator`, stripped of
//! `managedFields`). The API server is read directly only where a cache cannot be trusted:
//! a child the cache does not hold (it may exist without our label — a foreign object whose name
//! we must not take over — or be newer than the cache), and a Secret about to receive newly
//! generated values (a stale cache must never make us generate a value twice).
//! This module never writes.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::Api;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::build::{self, ANNOTATION_GENERATED_KEYS, ChildKind, names};
use crate::crd::StatelessServiceSpec;
use crate::error::{Error, request};

/// The caches of every child kind.
#[derive(Clone)]
pub struct Stores {
    /// Deployments.
    pub deployments: Store<Deployment>,
    /// ConfigMaps.
    pub config_maps: Store<ConfigMap>,
    /// Secrets.
    pub secrets: Store<Secret>,
    /// PersistentVolumeClaims.
    pub claims: Store<PersistentVolumeClaim>,
    /// PodDisruptionBudgets.
    pub budgets: Store<PodDisruptionBudget>,
}

/// The live children of one service (absent ones are `None`).
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// `<name>`.
    pub deployment: Option<Arc<Deployment>>,
    /// `<name>-config`.
    pub config_map: Option<Arc<ConfigMap>>,
    /// `<name>-secret`.
    pub secret: Option<Arc<Secret>>,
    /// `<name>-data`.
    pub claim: Option<Arc<PersistentVolumeClaim>>,
    /// `<name>`.
    pub budget: Option<Arc<PodDisruptionBudget>>,
}

fn cached<K>(store: &Store<K>, namespace: &str, name: &str) -> Option<Arc<K>>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    store.get(&ObjectRef::new(name).within(namespace))
}

/// GETs an object; `None` when it does not exist.
async fn fetch<K>(client: &Client, namespace: &str, name: &str) -> Result<Option<Arc<K>>, Error>
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
        Observed {
            deployment: cached(&stores.deployments, namespace, &names::deployment(service)),
            config_map: cached(&stores.config_maps, namespace, &names::config_map(service)),
            secret: cached(&stores.secrets, namespace, &names::secret(service)),
            claim: cached(&stores.claims, namespace, &names::claim(service)),
            budget: cached(
                &stores.budgets,
                namespace,
                &names::disruption_budget(service),
            ),
        }
    }

    /// Reads from the API server every child the spec wants that the cache lacks, and the
    /// Secret when values would be generated. Returns how many reads were made (0 at steady
    /// state).
    pub async fn confirm(
        &mut self,
        client: &Client,
        namespace: &str,
        service: &str,
        spec: &StatelessServiceSpec,
    ) -> Result<usize, Error> {
        let mut reads = 0;
        if self.deployment.is_none() {
            self.deployment = fetch(client, namespace, &names::deployment(service)).await?;
            reads += 1;
        }
        if self.config_map.is_none() {
            self.config_map = fetch(client, namespace, &names::config_map(service)).await?;
            reads += 1;
        }
        if self.secret.is_none() || self.would_generate(spec) {
            self.secret = fetch(client, namespace, &names::secret(service)).await?;
            reads += 1;
        }
        if self.claim.is_none() && spec.storage.is_some() {
            self.claim = fetch(client, namespace, &names::claim(service)).await?;
            reads += 1;
        }
        if self.budget.is_none() && spec.replicas >= 2 {
            self.budget = fetch(client, namespace, &names::disruption_budget(service)).await?;
            reads += 1;
        }
        Ok(reads)
    }

    /// True when `build` would generate a value: the observed Secret lacks the config hash key
    /// (every service has one) or a generated key the spec lists.
    pub fn would_generate(&self, spec: &StatelessServiceSpec) -> bool {
        let data = self.secret.as_ref().and_then(|s| s.data.as_ref());
        let holds = |key: &str| data.is_some_and(|d| d.contains_key(key));
        !holds(build::CONFIG_HASH_KEY)
            || spec
                .secret
                .iter()
                .flat_map(|s| &s.generate)
                .any(|g| !holds(&g.key))
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
        }
    }

    /// The live children as JSON, by kind, for planning.
    pub fn as_json(&self) -> Result<BTreeMap<ChildKind, Value>, serde_json::Error> {
        let mut out = BTreeMap::new();
        insert(&mut out, ChildKind::Deployment, self.deployment.as_deref())?;
        insert(&mut out, ChildKind::ConfigMap, self.config_map.as_deref())?;
        insert(&mut out, ChildKind::Secret, self.secret.as_deref())?;
        insert(&mut out, ChildKind::Claim, self.claim.as_deref())?;
        insert(
            &mut out,
            ChildKind::DisruptionBudget,
            self.budget.as_deref(),
        )?;
        Ok(out)
    }
}

fn insert<T: Serialize>(
    out: &mut BTreeMap<ChildKind, Value>,
    kind: ChildKind,
    object: Option<&T>,
) -> Result<(), serde_json::Error> {
    if let Some(o) = object {
        out.insert(kind, serde_json::to_value(o)?);
    }
    Ok(())
}

impl Observed {
    /// Takes the objects the API server returned from this pass's applies: they are fresher
    /// than the caches (status must not report a rollout as done from a stale Deployment).
    pub fn refresh(&mut self, executed: &crate::apply::Executed) {
        let fresh = |kind| executed.applied.get(&kind).cloned();
        if let Some(d) = fresh(ChildKind::Deployment).and_then(|v| serde_json::from_value(v).ok()) {
            self.deployment = Some(Arc::new(d));
        }
        if let Some(c) = fresh(ChildKind::Claim).and_then(|v| serde_json::from_value(v).ok()) {
            self.claim = Some(Arc::new(c));
        }
    }

    /// Reads every child from the API server, bypassing caches (for `diff`, which has none).
    pub async fn read_all(client: &Client, namespace: &str, service: &str) -> Result<Self, Error> {
        Ok(Observed {
            deployment: fetch(client, namespace, &names::deployment(service)).await?,
            config_map: fetch(client, namespace, &names::config_map(service)).await?,
            secret: fetch(client, namespace, &names::secret(service)).await?,
            claim: fetch(client, namespace, &names::claim(service)).await?,
            budget: fetch(client, namespace, &names::disruption_budget(service)).await?,
        })
    }
}
