//! Compact cache entries: a cached child is its metadata plus the rest of it as compact JSON.
//!
//! A k8s-openapi `Deployment` takes about 24 KiB of heap for 2.8 kB of JSON (every optional field
//! of a pod spec and its containers is laid out inline), and the child caches hold one per
//! StatelessService: that was two thirds of the operator's memory per service. [`Compact`] keeps
//! what the watch delivered as a compact JSON string (without `managedFields` and the
//! last-applied copy, which reconcile never reads) and its `ObjectMeta` parsed, because the
//! reflector and the triggers read labels, names and owners. Reconcile parses an entry into the
//! full type when it needs it ([`Compact::parse`]): a few tens of microseconds per child, only
//! for the service being reconciled.
//!
//! What this module must not do: decide anything about the objects it holds.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Annotation `kubectl apply` (client-side) and tools built on it leave on what they apply: a
/// full copy of the object as last applied.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops from an object what reconcile never reads: `managedFields` (half of a typical object)
/// and the last-applied copy, which doubles an object applied with `kubectl apply`.
pub fn strip_unread(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

/// One cached object of kind `K`: its metadata, and everything else as compact JSON.
pub struct Compact<K> {
    metadata: ObjectMeta,
    /// The object without `metadata`, as a JSON object.
    rest: Box<str>,
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Compact<K> {
    fn clone(&self) -> Self {
        Compact {
            metadata: self.metadata.clone(),
            rest: self.rest.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> fmt::Debug for Compact<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compact")
            .field("metadata", &self.metadata)
            .field("rest", &self.rest)
            .finish()
    }
}

impl<K: DeserializeOwned> Compact<K> {
    /// Holds `object` (any JSON form of a `K`) compactly.
    pub fn from_value(mut object: Value) -> Result<Self, serde_json::Error> {
        let Some(fields) = object.as_object_mut() else {
            return Err(serde_json::Error::custom("an object was expected"));
        };
        let mut metadata: ObjectMeta = match fields.remove("metadata") {
            Some(meta) => serde_json::from_value(meta)?,
            None => ObjectMeta::default(),
        };
        strip_unread(&mut metadata);
        Ok(Compact {
            metadata,
            rest: serde_json::to_string(&object)?.into_boxed_str(),
            kind: PhantomData,
        })
    }

    /// The full object.
    pub fn parse(&self) -> Result<K, serde_json::Error> {
        let mut object: Value = serde_json::from_str(&self.rest)?;
        if let Some(fields) = object.as_object_mut() {
            fields.insert(
                "metadata".to_string(),
                serde_json::to_value(&self.metadata)?,
            );
        }
        serde_json::from_value(object)
    }

    /// Bytes of JSON held besides the metadata (for the benchmark's accounting).
    pub fn json_len(&self) -> usize {
        self.rest.len()
    }
}

impl<'de, K: DeserializeOwned> Deserialize<'de> for Compact<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let object = Value::deserialize(deserializer)?;
        Compact::from_value(object).map_err(D::Error::custom)
    }
}

impl<K> Resource for Compact<K>
where
    K: Resource<DynamicType = ()>,
{
    type DynamicType = ();
    type Scope = K::Scope;

    fn kind(dt: &()) -> Cow<'_, str> {
        K::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        K::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        K::version(dt)
    }
    fn api_version(dt: &()) -> Cow<'_, str> {
        K::api_version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        K::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::ConfigMap;
    use serde_json::json;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web", "namespace": "apps", "resourceVersion": "7",
                "labels": {"stateless.dev/service": "web"},
                "annotations": {LAST_APPLIED: "{\"huge\": true}", "stateless.dev/desired-hash": "abc"},
                "managedFields": [{"manager": "stateless-operator", "operation": "Apply"}],
            },
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"stateless.dev/service": "web"}},
                "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1"}]}},
            },
            "status": {"readyReplicas": 2},
        })
    }

    #[test]
    fn keeps_everything_reconcile_reads_and_drops_the_rest() {
        let compact: Compact<Deployment> = serde_json::from_value(deployment()).unwrap();
        assert_eq!(compact.meta().name.as_deref(), Some("web"));
        assert_eq!(
            compact.meta().labels.as_ref().unwrap()["stateless.dev/service"],
            "web"
        );
        let parsed = compact.parse().unwrap();
        let mut expected: Deployment = serde_json::from_value(deployment()).unwrap();
        strip_unread(&mut expected.metadata);
        assert_eq!(parsed, expected);
        assert!(parsed.metadata.managed_fields.is_none());
        assert_eq!(
            parsed
                .metadata
                .annotations
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["stateless.dev/desired-hash"]
        );
        assert!(!compact.rest.contains("managedFields") && !compact.rest.contains("huge"));
    }

    #[test]
    fn describes_itself_as_the_kind_it_holds() {
        assert_eq!(Compact::<Deployment>::kind(&()), "Deployment");
        assert_eq!(Compact::<Deployment>::group(&()), "apps");
        assert_eq!(Compact::<Deployment>::plural(&()), "deployments");
        assert_eq!(Compact::<ConfigMap>::api_version(&()), "v1");
    }

    #[test]
    fn refuses_what_is_not_an_object_of_the_kind() {
        assert!(serde_json::from_value::<Compact<ConfigMap>>(json!([1, 2])).is_err());
        let bad = json!({"metadata": {"name": 5}});
        assert!(serde_json::from_value::<Compact<ConfigMap>>(bad).is_err());
        // The rest is checked when parsed.
        let odd = json!({"metadata": {"name": "x"}, "data": 5});
        let compact: Compact<ConfigMap> = serde_json::from_value(odd).unwrap();
        assert!(compact.parse().is_err());
    }
}
