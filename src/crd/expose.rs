//! How a service is reached: the Service `<name>` in front of its ports, and an optional HTTP
//! route to it from outside the cluster (an Ingress or a Gateway API HTTPRoute).

use std::collections::BTreeMap;

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::rules;
use super::{
    MAX_HOST_LENGTH, MAX_LABEL_LENGTH, MAX_METADATA_ENTRIES, MAX_OBJECT_NAME_LENGTH,
    MAX_PORT_NAME_LENGTH, MAX_ROUTE_PATH_LENGTH,
};

/// The Service `<name>`, which exists whenever `ports` is set.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSettings {
    /// ClusterIP (default: reachable inside the cluster), NodePort or LoadBalancer.
    #[serde(default, rename = "type")]
    pub type_: ServiceType,
    /// Annotations of the Service (cloud load-balancer settings live here). Annotations other
    /// tools add to the Service are kept.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = MAX_METADATA_ENTRIES))]
    pub annotations: BTreeMap<String, String>,
}

/// Type of the Service.
#[derive(
    Serialize, Deserialize, schemars::JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum ServiceType {
    /// A virtual IP inside the cluster.
    #[default]
    ClusterIP,
    /// ClusterIP, and a port on every node.
    NodePort,
    /// NodePort, and an external load balancer of the cloud provider.
    LoadBalancer,
}

impl ServiceType {
    /// The type as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::ClusterIP => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
        }
    }
}

/// An HTTP route to the Service: exactly one of `ingressClassName` (an Ingress `<name>`) or
/// `gatewayRef` (an HTTPRoute `<name>`, `gateway.networking.k8s.io/v1`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.ingressClassName) != has(self.gatewayRef)")
        .message("route needs exactly one of ingressClassName (an Ingress) or gatewayRef (an HTTPRoute)")
        .reason(kube::core::Reason::FieldValueInvalid),
    validation = Rule::new("!has(self.tls) || has(self.ingressClassName)")
        .message("route.tls is for an Ingress only: with gatewayRef the Gateway's listener terminates TLS (its certificate is configured there)")
        .field_path(".tls")
        .reason(kube::core::Reason::FieldValueForbidden),
)]
pub struct RouteSpec {
    /// Host name the route answers for: a DNS name (not an IP address), optionally a wildcard
    /// `*.example.com`. Required.
    #[schemars(length(min = 1, max = MAX_HOST_LENGTH))]
    #[x_kube(
        validation = Rule::new("self.matches('^([*][.])?[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')")
            .message("route.host must be a DNS name (lowercase letters, digits, '-' and '.'), optionally starting with '*.'"),
        validation = Rule::new("!self.matches('^[0-9]+([.][0-9]+){3}$')")
            .message("route.host must be a DNS name, not an IP address"),
    )]
    pub host: String,
    /// Path prefix the route matches; default `/` (everything).
    #[serde(default = "default_route_path")]
    #[schemars(length(min = 1, max = MAX_ROUTE_PATH_LENGTH))]
    #[x_kube(validation = Rule::new(r#"self.matches("^/([-A-Za-z0-9/._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})*$") && !self.contains('//') && !self.contains('/./') && !self.contains('/../') && !self.contains('%2f') && !self.contains('%2F') && !self.endsWith('/.') && !self.endsWith('/..')"#)
        .message("route.path must be an absolute URL path: '/' followed by path characters or %-escapes, without '//', '/./', '/../' or '%2f' and not ending in '/.' or '/..'"))]
    pub path: String,
    /// Name of the port in `ports` the route sends traffic to (its Service port); the first
    /// port when omitted. It must be a TCP port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_PORT_NAME_LENGTH))]
    #[x_kube(validation = rules::port_name_rule())]
    pub port: Option<String>,
    /// TLS for an Ingress: the certificate is the Secret `secretName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<RouteTls>,
    /// Ingress class: the route is an Ingress `<name>` of this class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_OBJECT_NAME_LENGTH))]
    #[x_kube(validation = rules::matches(rules::DNS_SUBDOMAIN, "an ingress class name is a DNS subdomain (lowercase letters, digits, '-' and '.')"))]
    pub ingress_class_name: Option<String>,
    /// Gateway: the route is an HTTPRoute `<name>` attached to this Gateway (which must allow
    /// routes from this namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_ref: Option<GatewayRef>,
}

/// The default `route.path`: every path.
pub fn default_route_path() -> String {
    "/".to_string()
}

/// TLS of an Ingress route.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RouteTls {
    /// The `kubernetes.io/tls` Secret in this namespace holding the certificate for `host`
    /// (cert-manager can write it). Required.
    #[schemars(length(min = 1, max = MAX_OBJECT_NAME_LENGTH))]
    #[x_kube(validation = rules::matches(rules::DNS_SUBDOMAIN, "a Secret name is a DNS subdomain (lowercase letters, digits, '-' and '.')"))]
    pub secret_name: String,
}

/// The Gateway an HTTPRoute attaches to.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayRef {
    /// Name of the Gateway. Required.
    #[schemars(length(min = 1, max = MAX_OBJECT_NAME_LENGTH))]
    #[x_kube(validation = rules::matches(rules::DNS_SUBDOMAIN, "a Gateway name is a DNS subdomain (lowercase letters, digits, '-' and '.')"))]
    pub name: String,
    /// Namespace of the Gateway; the StatelessService's own when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_LABEL_LENGTH))]
    #[x_kube(validation = rules::matches(rules::DNS_LABEL, "a namespace is a DNS label (lowercase letters, digits and '-')"))]
    pub namespace: Option<String>,
}
