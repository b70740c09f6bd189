//! Which optional child APIs ([`crate::children::Child::OPTIONAL_API`], the Gateway API's
//! HTTPRoute) the cluster serves.
//!
//! Found by discovery once at start (`GET /apis/<group>/<version>`, open to every authenticated
//! user, so no RBAC rule): the controller then starts without a cache it could never fill and
//! readiness does not wait for it. After that the kind's watch keeps the answer current: it is
//! started anyway and retries its list with kube-runtime's bounded backoff (at most 30 s
//! apart), so when the API appears its first successful list marks it served and every service
//! is reconciled again; a 404 from it marks the API gone. A service wanting a kind that is not
//! served gets `Stalled` with reason `ApiNotServed` naming the API, and its other children are
//! still applied. This module only reads; it decides nothing about writes.

use std::sync::atomic::{AtomicBool, Ordering};

use kube::Client;

use crate::children::{ChildKind, REGISTRY};
use crate::crd::StatelessServiceSpec;

/// Whether each kind's API is served (always true for a kind that is not optional).
#[derive(Debug)]
pub struct Served {
    flags: Vec<AtomicBool>,
}

impl Served {
    /// Every API served (for code that has not discovered, such as `diff`, and tests).
    pub fn all() -> Self {
        Served {
            flags: REGISTRY.iter().map(|_| AtomicBool::new(true)).collect(),
        }
    }

    /// Asks the API server which optional APIs it serves. A failed discovery counts as not
    /// served: the kind's watch corrects it as soon as its list succeeds.
    pub async fn discover(client: &Client) -> Self {
        let served = Served::all();
        for entry in REGISTRY.iter().filter(|e| e.optional_api()) {
            let resource = entry.api_resource();
            let found = match client.list_api_group_resources(&resource.api_version).await {
                Ok(list) => list.resources.iter().any(|r| r.name == resource.plural),
                Err(e) => {
                    tracing::debug!(error = %e, api = %resource.api_version, "discovery of an optional API failed");
                    false
                }
            };
            if !found {
                tracing::info!(
                    api = %resource.api_version,
                    kind = entry.as_str(),
                    "optional API not served: services that need it will report Stalled until it is"
                );
            }
            served.set(entry.kind(), found);
        }
        served
    }

    /// Whether the kind's API is served.
    pub fn is_served(&self, kind: ChildKind) -> bool {
        self.flags[kind as usize].load(Ordering::Relaxed)
    }

    /// Records whether the kind's API is served; returns whether that changed.
    pub fn set(&self, kind: ChildKind, served: bool) -> bool {
        self.flags[kind as usize].swap(served, Ordering::Relaxed) != served
    }

    /// The kinds the spec wants whose API is not served, in registry order.
    pub fn missing(&self, spec: &StatelessServiceSpec) -> Vec<ChildKind> {
        REGISTRY
            .iter()
            .filter(|e| e.wanted(spec) && !self.is_served(e.kind()))
            .map(|e| e.kind())
            .collect()
    }
}

/// What a service is told when kinds it wants are not served: `<group>/<version> <Kind> is
/// not served by this cluster`, for each.
pub fn not_served_message(kinds: &[ChildKind]) -> String {
    kinds
        .iter()
        .map(|k| {
            let r = k.entry().api_resource();
            format!("{} {} is not served by this cluster", r.api_version, r.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::children::http_route;

    #[test]
    fn a_missing_optional_api_is_named_for_the_services_that_want_it() {
        let served = Served::all();
        let spec: StatelessServiceSpec = serde_json::from_value(json!({"image": "x",
            "ports": [{"name": "http", "containerPort": 8080}],
            "route": {"host": "a.example", "gatewayRef": {"name": "gw"}}}))
        .unwrap();
        assert!(served.missing(&spec).is_empty());
        assert!(served.set(ChildKind::HttpRoute, false), "a change");
        assert!(!served.set(ChildKind::HttpRoute, false), "no change");
        assert_eq!(served.missing(&spec), [ChildKind::HttpRoute]);
        let plain: StatelessServiceSpec = serde_json::from_value(json!({"image": "x"})).unwrap();
        assert!(served.missing(&plain).is_empty(), "not wanted, not missing");
        assert_eq!(
            not_served_message(&served.missing(&spec)),
            http_route::not_served()
        );
    }

    #[test]
    fn only_optional_kinds_are_discovered() {
        let optional: Vec<&str> = REGISTRY
            .iter()
            .filter(|e| e.optional_api())
            .map(|e| e.as_str())
            .collect();
        assert_eq!(optional, ["HTTPRoute"]);
    }
}
