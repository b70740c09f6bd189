//! `<name>`: a Gateway API `gateway.networking.k8s.io/v1` HTTPRoute, wanted when
//! `route.gatewayRef` is set; and the minimal typed HTTPRoute it is (k8s-openapi has none).
//!
//! One parent (the Gateway of `gatewayRef`), the host as its one hostname, one rule matching
//! `PathPrefix` `route.path` with one backend: the Service at the route port's number (an
//! HTTPRoute names Service ports by number). Every field the Gateway API CRD defaults
//! (`group`, `kind`, `weight`) is set explicitly, so the defaults are never drift.
//!
//! Its API is optional ([`Child::OPTIONAL_API`]): a cluster without the Gateway API CRDs does
//! not serve it. The controller then starts without its watch and a service that wants one is
//! `Stalled` with reason `ApiNotServed` (see `crate::served`). Pure: no I/O here.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use super::{APPLIED_AND_DELETED, Child, ingress, service};
use crate::build::{Inputs, meta};
use crate::crd::StatelessServiceSpec;

/// The API group of the Gateway API.
pub const GROUP: &str = "gateway.networking.k8s.io";

/// An HTTPRoute: only the fields the operator writes, and `status` as JSON. Other fields of a
/// live route are dropped when it is read, which drift never needs (it looks for desired
/// fields only) and the writer never sends back (it applies the desired object).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRoute {
    /// `gateway.networking.k8s.io/v1`.
    pub api_version: String,
    /// `HTTPRoute`.
    pub kind: String,
    /// Standard metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What the route matches and where it sends traffic.
    #[serde(default)]
    pub spec: HttpRouteSpec,
    /// Set by the Gateway's controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<serde_json::Value>,
}

impl Default for HttpRoute {
    fn default() -> Self {
        HttpRoute {
            api_version: <Self as k8s_openapi::Resource>::API_VERSION.to_string(),
            kind: <Self as k8s_openapi::Resource>::KIND.to_string(),
            metadata: ObjectMeta::default(),
            spec: HttpRouteSpec::default(),
            status: None,
        }
    }
}

impl k8s_openapi::Resource for HttpRoute {
    const API_VERSION: &'static str = "gateway.networking.k8s.io/v1";
    const GROUP: &'static str = GROUP;
    const KIND: &'static str = "HTTPRoute";
    const VERSION: &'static str = "v1";
    const URL_PATH_SEGMENT: &'static str = "httproutes";
    type Scope = k8s_openapi::NamespaceResourceScope;
}

impl k8s_openapi::Metadata for HttpRoute {
    type Ty = ObjectMeta;
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// `spec` of an HTTPRoute.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteSpec {
    /// The Gateways it attaches to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parent_refs: Vec<ParentRef>,
    /// Host names it answers for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hostnames: Vec<String>,
    /// Matches and backends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RouteRule>,
}

/// A Gateway the route attaches to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParentRef {
    /// `gateway.networking.k8s.io`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// `Gateway`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Its name.
    pub name: String,
    /// Its namespace (the route's own when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// One rule: what it matches and where it sends it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteRule {
    /// Request matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<RouteMatch>,
    /// Backends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backend_refs: Vec<BackendRef>,
}

/// A request match.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteMatch {
    /// The path match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathMatch>,
}

/// A path match.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PathMatch {
    /// `PathPrefix`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The path.
    pub value: String,
}

/// A backend: a Service port.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendRef {
    /// `""` (the core group).
    #[serde(default)]
    pub group: String,
    /// `Service`.
    pub kind: String,
    /// The Service.
    pub name: String,
    /// The Service port number.
    pub port: i32,
    /// Share of the traffic.
    pub weight: i32,
}

/// The HTTPRoute child.
pub struct Rules;

/// Its name: the service's own.
pub fn name(service: &str) -> String {
    service.to_string()
}

/// The missing-API message a service wanting an HTTPRoute gets when it is not served.
pub fn not_served() -> String {
    format!("{GROUP}/v1 HTTPRoute is not served by this cluster")
}

impl Child for Rules {
    type Object = HttpRoute;
    type Built = Option<HttpRoute>;
    const VERBS: &'static [&'static str] = APPLIED_AND_DELETED;
    const COMPARED: &'static [&'static str] = &["metadata", "spec"];
    const DELETE_WHEN_UNWANTED: bool = true;
    const OPTIONAL_API: bool = true;

    fn name(service: &str) -> String {
        name(service)
    }
    fn wanted(spec: &StatelessServiceSpec) -> bool {
        spec.route.as_ref().is_some_and(|r| r.gateway_ref.is_some())
    }
    fn build(inputs: &Inputs<'_>) -> Option<HttpRoute> {
        let valid = inputs.valid;
        let spec = valid.spec();
        let route = spec.route.as_ref()?;
        let gateway = route.gateway_ref.as_ref()?;
        let port = ingress::route_port(spec, route)?;
        Some(HttpRoute {
            metadata: meta::<Self>(valid),
            spec: HttpRouteSpec {
                parent_refs: vec![ParentRef {
                    group: Some(GROUP.to_string()),
                    kind: Some("Gateway".to_string()),
                    name: gateway.name.clone(),
                    namespace: gateway.namespace.clone(),
                }],
                hostnames: vec![route.host.clone()],
                rules: vec![RouteRule {
                    matches: vec![RouteMatch {
                        path: Some(PathMatch {
                            type_: "PathPrefix".to_string(),
                            value: route.path.clone(),
                        }),
                    }],
                    backend_refs: vec![BackendRef {
                        group: String::new(),
                        kind: "Service".to_string(),
                        name: service::name(valid.name()),
                        port: service::service_port(port),
                        weight: 1,
                    }],
                }],
            },
            ..HttpRoute::default()
        })
    }
    fn object(built: &Option<HttpRoute>) -> Option<&HttpRoute> {
        built.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::build::{self, OsRandom};
    use crate::crd::StatelessService;
    use crate::validate::validate;

    #[test]
    fn attaches_to_the_gateway_and_sends_the_prefix_to_the_service_port_number() {
        let svc: StatelessService = serde_json::from_value(json!({
            "apiVersion": "stateless.dev/v1alpha1", "kind": "StatelessService",
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
            "spec": {"image": "x",
                "ports": [{"name": "http", "containerPort": 8080, "servicePort": 80}],
                "route": {"host": "web.example.com", "path": "/app",
                          "gatewayRef": {"name": "public", "namespace": "gateways"}}},
        }))
        .unwrap();
        let valid = validate(&svc).unwrap();
        let children = build::build(valid, &build::Observed::default(), &mut OsRandom);
        assert!(children.ingress.is_none());
        let route = serde_json::to_value(children.http_route.unwrap()).unwrap();
        assert_eq!(route["apiVersion"], "gateway.networking.k8s.io/v1");
        assert_eq!(route["kind"], "HTTPRoute");
        assert_eq!(
            route["spec"],
            json!({
                "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "public", "namespace": "gateways"}],
                "hostnames": ["web.example.com"],
                "rules": [{
                    "matches": [{"path": {"type": "PathPrefix", "value": "/app"}}],
                    "backendRefs": [{"group": "", "kind": "Service", "name": "web", "port": 80, "weight": 1}],
                }],
            })
        );
        assert_eq!(route["metadata"]["ownerReferences"][0]["uid"], "u1");
        assert!(route.get("status").is_none());
    }

    #[test]
    fn a_live_route_with_status_and_extra_fields_reads_back() {
        let live: HttpRoute = serde_json::from_value(json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "web"},
            "spec": {"hostnames": ["a.example"], "parentRefs": [{"name": "g"}]},
            "status": {"parents": []},
        }))
        .unwrap();
        assert_eq!(live.spec.hostnames, ["a.example"]);
        assert_eq!(live.status, Some(json!({"parents": []})));
        assert_eq!(not_served(), "gateway.networking.k8s.io/v1 HTTPRoute is not served by this cluster");
    }
}
