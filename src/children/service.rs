//! `<name>`: the Service in front of the pods, wanted whenever `ports` is non-empty.
//!
//! One Service port per declared port: the same name, `port` = `servicePort` (default the
//! container port), `targetPort` by name (so a container port number can change without
//! touching the Service), the declared protocol. The selector is the pods' own
//! `stateless.dev/service` label. `service.type` and `service.annotations` come from the spec;
//! annotations other tools add are kept (server-side apply merges the map and drift ignores
//! extra keys).
//!
//! What the API server or a cloud controller sets (`clusterIP`, `clusterIPs`, `ipFamilies`,
//! `ipFamilyPolicy`, `internalTrafficPolicy`, `sessionAffinity`, allocated `nodePort`s,
//! `externalTrafficPolicy`, `allocateLoadBalancerNodePorts`, `status.loadBalancer`) is never
//! built here, so it is never compared and never drift: a converged Service costs no write.
//! It is deleted when `ports` becomes empty. Pure: nothing here reads or writes the cluster.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{APPLIED_AND_DELETED, Child};
use crate::build::{Inputs, LABEL_SERVICE, meta};
use crate::crd::{ContainerPort, StatelessServiceSpec};

/// The Service child.
pub struct Rules;

/// Its name: the service's own (so `http://<name>` reaches it inside the namespace).
pub fn name(service: &str) -> String {
    service.to_string()
}

/// The Service port number of a declared port: `servicePort`, else the container port.
pub fn service_port(port: &ContainerPort) -> i32 {
    port.service_port.unwrap_or(port.container_port)
}

impl Child for Rules {
    type Object = Service;
    type Built = Option<Service>;
    const VERBS: &'static [&'static str] = APPLIED_AND_DELETED;
    const COMPARED: &'static [&'static str] = &["metadata", "spec"];
    const DELETE_WHEN_UNWANTED: bool = true;

    fn name(service: &str) -> String {
        name(service)
    }
    fn wanted(spec: &StatelessServiceSpec) -> bool {
        spec.ports.as_ref().is_some_and(|p| !p.is_empty())
    }
    fn build(inputs: &Inputs<'_>) -> Option<Service> {
        let valid = inputs.valid;
        let spec = valid.spec();
        if !Self::wanted(spec) {
            return None;
        }
        let ports = spec
            .ports
            .iter()
            .flatten()
            .map(|p| ServicePort {
                name: Some(p.name.clone()),
                port: service_port(p),
                target_port: Some(IntOrString::String(p.name.clone())),
                protocol: Some(p.protocol.as_str().to_string()),
                ..ServicePort::default()
            })
            .collect();
        let settings = spec.service.clone().unwrap_or_default();
        let mut metadata = meta::<Self>(valid);
        if !settings.annotations.is_empty() {
            metadata.annotations = Some(settings.annotations.clone());
        }
        Some(Service {
            metadata,
            spec: Some(ServiceSpec {
                type_: Some(settings.type_.as_str().to_string()),
                selector: Some(BTreeMap::from([(
                    LABEL_SERVICE.to_string(),
                    valid.name().to_string(),
                )])),
                ports: Some(ports),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        })
    }
    fn object(built: &Option<Service>) -> Option<&Service> {
        built.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};


    fn built(spec: Value) -> Option<Value> {
        let children = crate::children::test_support::children(spec);
        children.service.map(|s| serde_json::to_value(s).unwrap())
    }

    #[test]
    fn one_port_per_declared_port_targeting_it_by_name() {
        let s = built(json!({"image": "x", "ports": [
            {"name": "http", "containerPort": 8080, "servicePort": 80},
            {"name": "dns", "containerPort": 5353, "protocol": "UDP"},
        ]}))
        .unwrap();
        assert_eq!(
            s["spec"],
            json!({
                "type": "ClusterIP",
                "selector": {"stateless.dev/service": "web"},
                "ports": [
                    {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                    {"name": "dns", "port": 5353, "targetPort": "dns", "protocol": "UDP"},
                ],
            })
        );
        assert_eq!(s["metadata"]["name"], "web");
        assert_eq!(s["metadata"]["labels"]["stateless.dev/service"], "web");
        assert_eq!(s["metadata"]["ownerReferences"][0]["uid"], "u1");
        assert!(s["metadata"].get("annotations").is_none());
    }

    #[test]
    fn type_and_annotations_come_from_the_spec() {
        let s = built(json!({"image": "x",
            "ports": [{"name": "http", "containerPort": 8080}],
            "service": {"type": "LoadBalancer", "annotations": {"lb.example/internal": "true"}}}))
        .unwrap();
        assert_eq!(s["spec"]["type"], "LoadBalancer");
        assert_eq!(s["spec"]["ports"][0]["port"], 8080, "container port by default");
        assert_eq!(
            s["metadata"]["annotations"],
            json!({"lb.example/internal": "true"})
        );
    }

    #[test]
    fn server_set_fields_are_never_built() {
        let s = built(json!({"image": "x", "ports": [{"name": "http", "containerPort": 8080}],
            "service": {"type": "NodePort"}}))
        .unwrap();
        for field in [
            "clusterIP",
            "clusterIPs",
            "ipFamilies",
            "ipFamilyPolicy",
            "internalTrafficPolicy",
            "sessionAffinity",
            "externalTrafficPolicy",
            "allocateLoadBalancerNodePorts",
        ] {
            assert!(s["spec"].get(field).is_none(), "{field}");
        }
        assert!(s["spec"]["ports"][0].get("nodePort").is_none());
        assert!(s.get("status").is_none());
    }

    #[test]
    fn no_ports_no_service() {
        assert!(built(json!({"image": "x"})).is_none());
        assert!(built(json!({"image": "x", "ports": []})).is_none());
    }
}
