//! The child kinds: one file per kind, holding everything particular to it, and the registry,
//! the one ordered list of kinds that drives everything that repeats per kind.
//!
//! A kind's file implements [`Child`]: its name rule, when it is wanted, how it is built from a
//! valid spec (pure), which fields of the live object are ours to compare, whether it is owned,
//! whether it is deleted when no longer wanted, and the API verbs it needs.
//!
//! The `registry!` list at the end of this file is the order children are applied in (what
//! pods need comes first). From it come [`ChildKind`], [`Children`] (built), [`Observed`] (live)
//! and [`Stores`] (the controller's caches and watches), one field per kind, and [`REGISTRY`],
//! through which `planning`, the writer, `observe`, `render` and `diff` treat every kind alike.
//! tests/helm/ checks the chart's RBAC against it.
//!
//! Adding a kind: a new file here implementing [`Child`] for a unit struct `Rules`, one line in
//! the registry, and the chart's RBAC rule granting its [`Child::VERBS`].
//!
//! Nothing here writes; the only reads are the ones `observe` asks for through [`Entry`].

mod registry;

use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::build::Inputs;
use crate::crd::StatelessServiceSpec;
use crate::planning::Violation;

pub use registry::{Entry, Slot, StartCache};

/// The verbs of a kind that is applied and never deleted: `list` and `watch` feed its cache,
/// `get` reads what the cache cannot answer, `create` and `patch` are server-side apply.
pub const APPLIED: &[&str] = &["get", "list", "watch", "create", "patch"];
/// [`APPLIED`] and `delete`, for a kind deleted when no longer wanted.
pub const APPLIED_AND_DELETED: &[&str] = &["get", "list", "watch", "create", "patch", "delete"];

/// Everything particular to one kind of child. Implemented by a unit struct `Rules` in the
/// kind's file; the functions are pure.
pub trait Child: 'static {
    /// The Kubernetes type.
    type Object: kube::Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + k8s_openapi::Resource
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned
        + Send
        + Sync
        + 'static;
    /// What [`Child::build`] returns: the object for a kind that is always wanted, an
    /// `Option` of it for one that is wanted only for some specs.
    type Built: Clone + Debug + PartialEq;

    /// The API verbs the operator needs on this kind ([`APPLIED`] or [`APPLIED_AND_DELETED`]);
    /// the chart's RBAC grants exactly these.
    const VERBS: &'static [&'static str];
    /// The top-level fields of the live object that are ours to compare with the desired one
    /// (drift is looked for in these only; `apiVersion` and `kind` never differ).
    const COMPARED: &'static [&'static str];
    /// Whether a live child of ours is deleted when the spec no longer wants it (otherwise it
    /// is left alone, like data).
    const DELETE_WHEN_UNWANTED: bool = false;
    /// Whether its values must never be shown (`diff` prints `(hidden)` instead).
    const HIDE_VALUES: bool = false;
    /// Whether a live child no longer wanted is deleted before anything is applied (the
    /// autoscaler: it must stop scaling before the Deployment takes its replicas back).
    const DELETE_BEFORE_APPLY: bool = false;
    /// Whether its API may be absent from a cluster (a CRD-defined kind such as the Gateway
    /// API's HTTPRoute): the controller then runs without its watch, and a service wanting it
    /// is stalled until it is served (see `crate::served`).
    const OPTIONAL_API: bool = false;

    /// Its name, from the StatelessService's name.
    fn name(service: &str) -> String;
    /// Whether the spec wants it.
    fn wanted(spec: &StatelessServiceSpec) -> bool;
    /// Whether it carries the controller ownerReference (so it goes with the service).
    fn owned(_spec: &StatelessServiceSpec) -> bool {
        true
    }
    /// Builds it; `None` (for an optional kind) exactly when [`Child::wanted`] is false.
    fn build(inputs: &Inputs<'_>) -> Self::Built;
    /// The built object, if any.
    fn object(built: &Self::Built) -> Option<&Self::Object>;
    /// What the live object holds that breaks the statelessness contract and must be stripped.
    fn violations(_desired: &Value, _live: &Value) -> Vec<Violation> {
        Vec::new()
    }
    /// Whether the API server must be read even though the cache holds the object (the cache
    /// may be stale where staleness would do harm).
    fn read_despite_cache(_cached: Option<&Self::Object>, _spec: &StatelessServiceSpec) -> bool {
        false
    }
}

impl ChildKind {
    /// The kind's rules.
    pub fn entry(self) -> &'static dyn Entry {
        REGISTRY[self as usize]
    }

    /// The Kubernetes kind (a bounded metrics label).
    pub fn as_str(self) -> &'static str {
        self.entry().as_str()
    }
}

// The registry: every kind of child, in the order they are applied (what pods need first).
// `module: Variant`, the module being the kind's file in this folder.
registry::registry! {
    config_map: ConfigMap,
    secret: Secret,
    claim: Claim,
    service_account: ServiceAccount,
    network_policy: NetworkPolicy,
    deployment: Deployment,
    disruption_budget: DisruptionBudget,
    service: Service,
    autoscaler: Autoscaler,
    ingress: Ingress,
    http_route: HttpRoute,
}

/// What the unit tests of every kind's file build from: a valid service `ns/web` of `spec` and
/// its children.
#[cfg(test)]
pub(crate) mod test_support {
    use serde_json::{Value, json};

    use super::Children;
    use crate::build::{self, OsRandom};
    use crate::crd::StatelessService;
    use crate::validate::validate;

    /// The service `ns/web` with `spec` (panics on a spec that does not deserialize).
    pub fn service(spec: Value) -> StatelessService {
        serde_json::from_value(json!({
            "apiVersion": "stateless.dev/v1alpha1", "kind": "StatelessService",
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
            "spec": spec,
        }))
        .unwrap()
    }

    /// The children built for [`service`] (panics on an invalid spec).
    pub fn children(spec: Value) -> Children {
        let svc = service(spec);
        let valid = validate(&svc).unwrap();
        build::build(valid, &build::Observed::default(), &mut OsRandom)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::json;

    use super::test_support::service;
    use super::*;
    use crate::build::{self, OsRandom};
    use crate::crd::StatelessService;
    use crate::validate::validate;

    fn specs() -> Vec<StatelessService> {
        vec![
            service(json!({"image": "x"})),
            service(json!({
                "image": "x", "replicas": 3,
                "config": {"data": {"a": "1"}, "mountPath": "/etc/x"},
                "secret": {"generate": [{"key": "token", "length": 16}]},
                "storage": {"size": "1Gi", "mountPath": "/data", "accessMode": "ReadWriteMany", "reclaimPolicy": "Retain"},
            })),
            service(json!({
                "image": "x",
                "ports": [{"name": "http", "containerPort": 8080}],
                "resources": {"requests": {"cpu": "100m"}},
                "autoscaling": {"minReplicas": 2, "maxReplicas": 5, "cpuUtilization": 60},
                "route": {"host": "web.example.com", "ingressClassName": "nginx"},
            })),
            service(json!({
                "image": "x",
                "ports": [{"name": "http", "containerPort": 8080}],
                "route": {"host": "web.example.com", "gatewayRef": {"name": "gw"}},
            })),
            service(json!({
                "image": "x", "ports": [{"name": "http", "containerPort": 8080}],
                "serviceAccount": {"annotations": {"a": "b"}, "automountToken": true},
                "network": {"isolation": "Ingress", "egress": [{"ports": [{"port": 443}]}]},
                "sidecars": [{"name": "proxy", "image": "p"}],
            })),
        ]
    }

    #[test]
    fn the_registry_is_the_apply_order() {
        let kinds: Vec<&str> = REGISTRY.iter().map(|e| e.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "ConfigMap",
                "Secret",
                "PersistentVolumeClaim",
                "ServiceAccount",
                "NetworkPolicy",
                "Deployment",
                "PodDisruptionBudget",
                "Service",
                "HorizontalPodAutoscaler",
                "Ingress",
                "HTTPRoute"
            ]
        );
        for (i, entry) in REGISTRY.iter().enumerate() {
            assert_eq!(entry.kind(), ChildKind::ALL[i]);
            assert_eq!(entry.kind().entry().as_str(), entry.as_str());
        }
        let mut sorted = ChildKind::ALL.to_vec();
        sorted.sort();
        assert_eq!(sorted, ChildKind::ALL, "ChildKind orders as the registry");
    }

    #[test]
    fn verbs_are_what_apply_and_delete_need() {
        for entry in REGISTRY {
            let expected = if entry.delete_when_unwanted() {
                APPLIED_AND_DELETED
            } else {
                APPLIED
            };
            assert_eq!(entry.verbs(), expected, "{}", entry.as_str());
        }
    }

    #[test]
    fn a_kind_is_built_exactly_when_it_is_wanted() {
        for svc in specs() {
            let valid = validate(&svc).unwrap();
            let children = build::build(valid, &build::Observed::default(), &mut OsRandom);
            for entry in REGISTRY {
                let desired = entry.desired(&children).unwrap();
                assert_eq!(
                    desired.is_some(),
                    entry.wanted(&svc.spec),
                    "{}",
                    entry.as_str()
                );
                if let Some(object) = desired {
                    assert_eq!(object["metadata"]["name"], json!(entry.name("web")));
                }
            }
        }
    }

    #[test]
    fn every_built_field_is_compared() {
        for svc in specs() {
            let valid = validate(&svc).unwrap();
            let children = build::build(valid, &build::Observed::default(), &mut OsRandom);
            for entry in REGISTRY {
                let Some(object) = entry.desired(&children).unwrap() else {
                    continue;
                };
                let built: BTreeSet<&str> = object
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(String::as_str)
                    .filter(|k| !matches!(*k, "apiVersion" | "kind"))
                    .collect();
                let compared: BTreeSet<&str> = entry.compared().iter().copied().collect();
                assert!(
                    built.is_subset(&compared),
                    "{} builds {built:?} but compares only {compared:?}: drift in the rest would never be seen",
                    entry.as_str()
                );
            }
        }
    }

    #[test]
    fn comparing_looks_only_at_the_compared_fields() {
        let entry = ChildKind::ConfigMap.entry();
        let desired = json!({"metadata": {"name": "c"}, "data": {"k": "v"}, "other": 1});
        let live = json!({"metadata": {"name": "c"}, "data": {"k": "w"}});
        let paths: Vec<String> = entry
            .differences(&desired, &live)
            .into_iter()
            .map(|d| d.path)
            .collect();
        assert_eq!(paths, ["data.k"]);
    }
}
