//! Which optional child APIs ([`crate::children::Child::OPTIONAL_API`], the Gateway API's
//! HTTPRoute) the cluster serves.
//!
//! Found by discovery (`GET /apis/<group>/<version>`, open to every authenticated user, so no
//! RBAC rule) once at start: the controller then starts without a cache it could never fill,
//! readiness does not wait for it, and its watch waits (sending nothing) until the API is
//! served. Discovery is asked again only while a service wants a kind that is not served, at
//! most once per [`RECHECK_TTL`] for the whole controller: such a service is `Stalled` with
//! reason `ApiNotServed` naming the API (its other children are still applied) and is looked
//! at again after [`RECHECK_TTL`]. When the API appears, the watch starts, its first list marks
//! the cache synced and every service is reconciled again. A cluster where nobody wants the
//! kind sends no request for it at all. A 404 from a running watch marks the API gone again.
//! This module only reads; it decides nothing about writes.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use kube::Client;
use tokio::sync::watch;

use crate::children::{ChildKind, REGISTRY};
use crate::crd::StatelessServiceSpec;

/// How long a "not served" answer of discovery is trusted while a service wants the kind.
pub const RECHECK_TTL: Duration = Duration::from_secs(10);

/// Whether each kind's API is served (always true for a kind that is not optional).
#[derive(Debug)]
pub struct Served {
    flags: Vec<watch::Sender<bool>>,
    /// When discovery last answered, per kind.
    checked: Mutex<Vec<Option<Instant>>>,
}

impl Served {
    /// Every API served (for code that has not discovered, such as `diff`, and tests).
    pub fn all() -> Self {
        Served {
            flags: REGISTRY.iter().map(|_| watch::Sender::new(true)).collect(),
            checked: Mutex::new(vec![None; REGISTRY.len()]),
        }
    }

    /// Asks the API server which optional APIs it serves.
    pub async fn discover(client: &Client) -> Self {
        let served = Served::all();
        let optional: Vec<ChildKind> = REGISTRY
            .iter()
            .filter(|e| e.optional_api())
            .map(|e| e.kind())
            .collect();
        served.recheck(client, &optional).await;
        served
    }

    /// Asks discovery again about those of `kinds` not asked within [`RECHECK_TTL`]. A failed
    /// discovery counts as not served (it is asked again after the TTL).
    pub async fn recheck(&self, client: &Client, kinds: &[ChildKind]) {
        for kind in kinds {
            let due = match self.checked.lock() {
                Ok(mut checked) => {
                    let slot = &mut checked[*kind as usize];
                    let due = slot.is_none_or(|t| t.elapsed() >= RECHECK_TTL);
                    if due {
                        *slot = Some(Instant::now());
                    }
                    due
                }
                Err(_) => false,
            };
            if !due {
                continue;
            }
            let resource = kind.entry().api_resource();
            let found = match client.list_api_group_resources(&resource.api_version).await {
                Ok(list) => list.resources.iter().any(|r| r.name == resource.plural),
                Err(e) => {
                    tracing::debug!(error = %e, api = %resource.api_version, "discovery of an optional API failed");
                    false
                }
            };
            if self.set(*kind, found) {
                tracing::info!(api = %resource.api_version, kind = kind.as_str(), served = found, "optional API discovered");
            } else if !found {
                tracing::debug!(api = %resource.api_version, kind = kind.as_str(), "optional API still not served");
            }
        }
    }

    /// Whether the kind's API is served.
    pub fn is_served(&self, kind: ChildKind) -> bool {
        *self.flags[kind as usize].borrow()
    }

    /// Records whether the kind's API is served; returns whether that changed.
    pub fn set(&self, kind: ChildKind, served: bool) -> bool {
        self.flags[kind as usize].send_replace(served) != served
    }

    /// Resolves once the kind's API is served.
    pub async fn wait_served(&self, kind: ChildKind) {
        let mut rx = self.flags[kind as usize].subscribe();
        // The sender lives as long as `self`, so this only ends when it is served.
        let _ = rx.wait_for(|served| *served).await;
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

/// Whether a watch failed because the API server does not serve the resource (404).
pub fn not_served_error(e: &kube::runtime::watcher::Error) -> bool {
    use kube::runtime::watcher;
    match e {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => {
            matches!(e, kube::Error::Api(status) if status.code == 404)
        }
        watcher::Error::WatchError(status) => status.code == 404,
        watcher::Error::NoResourceVersion => false,
    }
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

    #[tokio::test]
    async fn a_watch_waiting_for_its_api_starts_when_it_is_served() {
        let served = std::sync::Arc::new(Served::all());
        served.set(ChildKind::HttpRoute, false);
        let waiter = {
            let served = served.clone();
            tokio::spawn(async move { served.wait_served(ChildKind::HttpRoute).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        served.set(ChildKind::HttpRoute, true);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("no panic");
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
