//! `<name>`: a `networking.k8s.io/v1` Ingress, wanted when `route.ingressClassName` is set.
//!
//! One rule for `route.host` with one `Prefix` path (`route.path`) to the Service's port by
//! name (`route.port`, default the first declared port), and with `route.tls` a TLS entry for
//! the host with its Secret. `pathType` is always set: the API server has no default for it.
//! Deleted when the route is removed or becomes an HTTPRoute. Pure: no I/O.

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};

use super::{APPLIED_AND_DELETED, Child, service};
use crate::build::{Inputs, meta};
use crate::crd::{ContainerPort, RouteSpec, StatelessServiceSpec};

/// The Ingress child.
pub struct Rules;

/// Its name: the service's own.
pub fn name(service: &str) -> String {
    service.to_string()
}

/// The declared port a route sends traffic to: `route.port`, else the first port.
pub fn route_port<'a>(spec: &'a StatelessServiceSpec, route: &RouteSpec) -> Option<&'a ContainerPort> {
    let mut ports = spec.ports.iter().flatten();
    match &route.port {
        Some(name) => ports.find(|p| &p.name == name),
        None => ports.next(),
    }
}

impl Child for Rules {
    type Object = Ingress;
    type Built = Option<Ingress>;
    const VERBS: &'static [&'static str] = APPLIED_AND_DELETED;
    const COMPARED: &'static [&'static str] = &["metadata", "spec"];
    const DELETE_WHEN_UNWANTED: bool = true;

    fn name(service: &str) -> String {
        name(service)
    }
    fn wanted(spec: &StatelessServiceSpec) -> bool {
        spec.route
            .as_ref()
            .is_some_and(|r| r.ingress_class_name.is_some())
    }
    fn build(inputs: &Inputs<'_>) -> Option<Ingress> {
        let valid = inputs.valid;
        let spec = valid.spec();
        let route = spec.route.as_ref()?;
        let class = route.ingress_class_name.clone()?;
        let port = route_port(spec, route)?;
        let backend = IngressBackend {
            service: Some(IngressServiceBackend {
                name: service::name(valid.name()),
                port: Some(ServiceBackendPort {
                    name: Some(port.name.clone()),
                    number: None,
                }),
            }),
            resource: None,
        };
        let tls = route.tls.as_ref().map(|t| {
            vec![IngressTLS {
                hosts: Some(vec![route.host.clone()]),
                secret_name: Some(t.secret_name.clone()),
            }]
        });
        Some(Ingress {
            metadata: meta::<Self>(valid),
            spec: Some(IngressSpec {
                ingress_class_name: Some(class),
                rules: Some(vec![IngressRule {
                    host: Some(route.host.clone()),
                    http: Some(HTTPIngressRuleValue {
                        paths: vec![HTTPIngressPath {
                            path: Some(route.path.clone()),
                            path_type: "Prefix".to_string(),
                            backend,
                        }],
                    }),
                }]),
                tls,
                default_backend: None,
            }),
            ..Ingress::default()
        })
    }
    fn object(built: &Option<Ingress>) -> Option<&Ingress> {
        built.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::build;

    fn built(spec: Value) -> build::Children {
        crate::children::test_support::children(spec)
    }

    #[test]
    fn one_prefix_rule_to_the_service_port_by_name_with_tls() {
        let children = built(json!({"image": "x",
            "ports": [{"name": "metrics", "containerPort": 9090}, {"name": "http", "containerPort": 8080}],
            "route": {"host": "web.example.com", "path": "/api", "port": "http",
                      "ingressClassName": "nginx", "tls": {"secretName": "web-tls"}}}));
        assert!(children.http_route.is_none());
        let ingress = serde_json::to_value(children.ingress.unwrap()).unwrap();
        assert_eq!(
            ingress["spec"],
            json!({
                "ingressClassName": "nginx",
                "rules": [{"host": "web.example.com", "http": {"paths": [{
                    "path": "/api", "pathType": "Prefix",
                    "backend": {"service": {"name": "web", "port": {"name": "http"}}},
                }]}}],
                "tls": [{"hosts": ["web.example.com"], "secretName": "web-tls"}],
            })
        );
        assert_eq!(ingress["metadata"]["ownerReferences"][0]["uid"], "u1");
    }

    #[test]
    fn defaults_to_the_first_port_and_every_path() {
        let children = built(json!({"image": "x",
            "ports": [{"name": "http", "containerPort": 8080}],
            "route": {"host": "web.example.com", "ingressClassName": "nginx"}}));
        let ingress = serde_json::to_value(children.ingress.unwrap()).unwrap();
        let path = &ingress["spec"]["rules"][0]["http"]["paths"][0];
        assert_eq!(path["path"], "/");
        assert_eq!(path["backend"]["service"]["port"]["name"], "http");
        assert!(ingress["spec"].get("tls").is_none());
    }
}
