//! Network isolation: who may reach the pods and where they may connect, as one NetworkPolicy
//! `<name>`. A small own shape rather than the NetworkPolicy API: selectors are bounded, every
//! rule admits traffic only to the ports the service declares, and egress, once restricted,
//! always keeps DNS.

use std::collections::BTreeMap;

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::Protocol;
use super::{
    MAX_CIDR_EXCEPTIONS, MAX_EGRESS_RULES, MAX_NETWORK_PEERS, MAX_NETWORK_PORTS,
    MAX_SELECTOR_EXPRESSIONS, MAX_SELECTOR_LABELS, MAX_SELECTOR_VALUES,
};

/// The NetworkPolicy `<name>`; none when `isolation` is None and `egress` is empty.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.isolation == 'Ingress' || !has(self.allowFrom) || size(self.allowFrom) == 0")
        .message("network.allowFrom needs isolation: Ingress (with None every source is admitted)")
        .field_path(".allowFrom")
        .reason(kube::core::Reason::FieldValueForbidden),
)]
pub struct NetworkSpec {
    /// None (default): any traffic reaches the pods. Ingress: only traffic to the declared
    /// ports (`ports` and the sidecars' ports) from the `allowFrom` peers; everything else is
    /// dropped, an undeclared metrics or debug port included.
    #[serde(default)]
    pub isolation: Isolation,
    /// With isolation Ingress, the peers that may connect; empty: any source (still only to
    /// the declared ports).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_NETWORK_PEERS))]
    pub allow_from: Vec<NetworkPeer>,
    /// Connections the pods may open; empty (default): any. When set, only these, plus DNS
    /// (port 53 over UDP and TCP, to any destination), without which nothing else works.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_EGRESS_RULES))]
    pub egress: Vec<EgressRule>,
}

/// Which incoming traffic the NetworkPolicy limits.
#[derive(
    Serialize, Deserialize, schemars::JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum Isolation {
    /// No limit on incoming traffic.
    #[default]
    None,
    /// Incoming traffic only to the declared ports, from `allowFrom`.
    Ingress,
}

/// Where traffic comes from or goes to: pods (`podSelector`, in this namespace unless
/// `namespaceSelector` picks namespaces), all pods of some namespaces (`namespaceSelector`
/// alone), or an IP range (`ipBlock`, alone). An empty selector `{}` selects everything.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.podSelector) || has(self.namespaceSelector) || has(self.ipBlock)")
        .message("a network peer needs podSelector, namespaceSelector or ipBlock")
        .reason(kube::core::Reason::FieldValueRequired),
    validation = Rule::new("!has(self.ipBlock) || !(has(self.podSelector) || has(self.namespaceSelector))")
        .message("a network peer's ipBlock cannot be combined with podSelector or namespaceSelector")
        .field_path(".ipBlock")
        .reason(kube::core::Reason::FieldValueForbidden),
)]
pub struct NetworkPeer {
    /// Pods with these labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<PeerSelector>,
    /// Namespaces with these labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<PeerSelector>,
    /// An IP range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_block: Option<IpBlock>,
}

/// A label selector (the Kubernetes one, with bounded lists): every label and every expression
/// must match.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PeerSelector {
    /// Labels that must have these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = MAX_SELECTOR_LABELS))]
    pub match_labels: BTreeMap<String, String>,
    /// Expressions over labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_SELECTOR_EXPRESSIONS))]
    pub match_expressions: Vec<SelectorRequirement>,
}

/// One expression of a label selector.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("(self.operator == 'In' || self.operator == 'NotIn') == (has(self.values) && size(self.values) > 0)")
        .message("a selector expression with operator In or NotIn needs values; Exists and DoesNotExist take none")
        .field_path(".values")
        .reason(kube::core::Reason::FieldValueInvalid),
)]
pub struct SelectorRequirement {
    /// The label key.
    pub key: String,
    /// In, NotIn, Exists or DoesNotExist.
    pub operator: SelectorOperator,
    /// The values for In and NotIn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_SELECTOR_VALUES))]
    pub values: Vec<String>,
}

/// Operator of a selector expression.
#[derive(Serialize, Deserialize, schemars::JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectorOperator {
    /// The label has one of the values.
    In,
    /// The label is absent or has none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

impl SelectorOperator {
    /// The operator as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SelectorOperator::In => "In",
            SelectorOperator::NotIn => "NotIn",
            SelectorOperator::Exists => "Exists",
            SelectorOperator::DoesNotExist => "DoesNotExist",
        }
    }
}

/// An IP range, minus some sub-ranges.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct IpBlock {
    /// The range, e.g. `10.0.0.0/8` or `2001:db8::/32`.
    pub cidr: String,
    /// Ranges inside `cidr` that are not part of the peer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_CIDR_EXCEPTIONS))]
    pub except: Vec<String>,
}

/// Connections the pods may open: to any of `to` (empty: anywhere) on any of `ports` (empty:
/// every port).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EgressRule {
    /// Destinations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_NETWORK_PEERS))]
    pub to: Vec<NetworkPeer>,
    /// Destination ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_NETWORK_PORTS))]
    pub ports: Vec<NetworkPort>,
}

/// A destination port, or a range of them.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.endPort) || self.endPort >= self.port")
        .message("endPort must not be below port")
        .field_path(".endPort")
        .reason(kube::core::Reason::FieldValueInvalid),
)]
pub struct NetworkPort {
    /// Port number, 1 to 65535.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// Last port of a range starting at `port`, 1 to 65535.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub end_port: Option<i32>,
    /// Protocol: TCP (default), UDP or SCTP.
    #[serde(default)]
    pub protocol: Protocol,
}
