//! `<name>`: the NetworkPolicy of `spec.network`, when `isolation` is Ingress or `egress` lists
//! something.
//!
//! It selects this service's pods only. With isolation Ingress one ingress rule admits traffic
//! to the declared ports (`ports` and the sidecars' ports) from the `allowFrom` peers (no peers:
//! any source); with no port declared at all, the rule list is empty and nothing is admitted (a
//! rule without ports would admit every port). With `egress`, the pods may open only the listed
//! connections plus DNS. `policyTypes` is always written (the API server would default it from
//! the rules, and an Egress type must never appear without `egress`). Deleted when no longer
//! wanted. Pure.

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule,
    NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{APPLIED_AND_DELETED, Child};
use crate::build::{Inputs, meta, selector};
use crate::crd::{Isolation, NetworkPeer, NetworkSpec, PeerSelector, StatelessServiceSpec};

/// The NetworkPolicy child.
pub struct Rules;

/// Its name: the service's own.
pub fn name(service: &str) -> String {
    service.to_string()
}

fn network(spec: &StatelessServiceSpec) -> Option<&NetworkSpec> {
    spec.network
        .as_ref()
        .filter(|n| n.isolation == Isolation::Ingress || !n.egress.is_empty())
}

fn label_selector(s: &PeerSelector) -> LabelSelector {
    LabelSelector {
        match_labels: (!s.match_labels.is_empty()).then(|| s.match_labels.clone()),
        match_expressions: (!s.match_expressions.is_empty()).then(|| {
            s.match_expressions
                .iter()
                .map(|e| LabelSelectorRequirement {
                    key: e.key.clone(),
                    operator: e.operator.as_str().to_string(),
                    values: (!e.values.is_empty()).then(|| e.values.clone()),
                })
                .collect()
        }),
    }
}

fn peer(p: &NetworkPeer) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: p.pod_selector.as_ref().map(label_selector),
        namespace_selector: p.namespace_selector.as_ref().map(label_selector),
        ip_block: p.ip_block.as_ref().map(|b| IPBlock {
            cidr: b.cidr.clone(),
            except: (!b.except.is_empty()).then(|| b.except.clone()),
        }),
    }
}

fn port(number: i32, end: Option<i32>, protocol: &str) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(number)),
        end_port: end,
        protocol: Some(protocol.to_string()),
    }
}

/// Every port the pod declares: the main container's, then the sidecars'.
fn declared_ports(spec: &StatelessServiceSpec) -> Vec<NetworkPolicyPort> {
    let main = spec
        .ports
        .iter()
        .flatten()
        .map(|p| port(p.container_port, None, p.protocol.as_str()));
    let sidecars = spec
        .sidecars
        .iter()
        .flatten()
        .flat_map(|s| s.ports.iter().flatten())
        .map(|p| port(p.container_port, None, p.protocol.as_str()));
    main.chain(sidecars).collect()
}

fn ingress(spec: &StatelessServiceSpec, net: &NetworkSpec) -> Vec<NetworkPolicyIngressRule> {
    let ports = declared_ports(spec);
    if ports.is_empty() {
        return Vec::new();
    }
    let from: Vec<NetworkPolicyPeer> = net.allow_from.iter().map(peer).collect();
    vec![NetworkPolicyIngressRule {
        from: (!from.is_empty()).then_some(from),
        ports: Some(ports),
    }]
}

fn egress(net: &NetworkSpec) -> Vec<NetworkPolicyEgressRule> {
    let mut rules: Vec<NetworkPolicyEgressRule> = net
        .egress
        .iter()
        .map(|rule| {
            let to: Vec<NetworkPolicyPeer> = rule.to.iter().map(peer).collect();
            let ports: Vec<NetworkPolicyPort> = rule
                .ports
                .iter()
                .map(|p| port(p.port, p.end_port, p.protocol.as_str()))
                .collect();
            NetworkPolicyEgressRule {
                to: (!to.is_empty()).then_some(to),
                ports: (!ports.is_empty()).then_some(ports),
            }
        })
        .collect();
    // Without DNS no name resolves, and nothing else works.
    rules.push(NetworkPolicyEgressRule {
        to: None,
        ports: Some(vec![port(53, None, "UDP"), port(53, None, "TCP")]),
    });
    rules
}

impl Child for Rules {
    type Object = NetworkPolicy;
    type Built = Option<NetworkPolicy>;
    const VERBS: &'static [&'static str] = APPLIED_AND_DELETED;
    const COMPARED: &'static [&'static str] = &["metadata", "spec"];
    const DELETE_WHEN_UNWANTED: bool = true;

    fn name(service: &str) -> String {
        name(service)
    }
    fn wanted(spec: &StatelessServiceSpec) -> bool {
        network(spec).is_some()
    }
    fn build(inputs: &Inputs<'_>) -> Option<NetworkPolicy> {
        let valid = inputs.valid;
        let spec = valid.spec();
        let net = network(spec)?;
        let isolates_ingress = net.isolation == Isolation::Ingress;
        let isolates_egress = !net.egress.is_empty();
        let mut policy_types = Vec::new();
        if isolates_ingress {
            policy_types.push("Ingress".to_string());
        }
        if isolates_egress {
            policy_types.push("Egress".to_string());
        }
        Some(NetworkPolicy {
            metadata: meta::<Self>(valid),
            spec: Some(NetworkPolicySpec {
                pod_selector: Some(selector(valid.name())),
                policy_types: Some(policy_types),
                // No rule at all (no port declared) admits nothing, as an empty list would.
                ingress: Some(ingress(spec, net)).filter(|r| isolates_ingress && !r.is_empty()),
                egress: isolates_egress.then(|| egress(net)),
            }),
        })
    }
    fn object(built: &Option<NetworkPolicy>) -> Option<&NetworkPolicy> {
        built.as_ref()
    }
}


#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::children::ChildKind;

    fn built(spec: Value) -> Option<Value> {
        let children = crate::children::test_support::children(spec);
        ChildKind::NetworkPolicy.entry().desired(&children).unwrap()
    }

    #[test]
    fn none_without_isolation_or_egress() {
        assert_eq!(built(json!({"image": "x"})), None);
        assert_eq!(built(json!({"image": "x", "network": {"isolation": "None"}})), None);
    }

    #[test]
    fn ingress_admits_only_declared_ports_from_the_listed_peers() {
        let np = built(json!({"image": "x",
            "ports": [{"name": "http", "containerPort": 8080}],
            "sidecars": [{"name": "proxy", "image": "p", "ports": [{"name": "dns", "containerPort": 5353, "protocol": "UDP"}]}],
            "network": {"isolation": "Ingress", "allowFrom": [
                {"podSelector": {"matchLabels": {"app": "front"}}},
                {"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "In", "values": ["a"]}]}},
                {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]}}))
        .unwrap();
        assert_eq!(
            np["spec"],
            json!({
                "podSelector": {"matchLabels": {"stateless.dev/service": "web"}},
                "policyTypes": ["Ingress"],
                "ingress": [{
                    "from": [
                        {"podSelector": {"matchLabels": {"app": "front"}}},
                        {"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "In", "values": ["a"]}]}},
                        {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                    "ports": [{"port": 8080, "protocol": "TCP"}, {"port": 5353, "protocol": "UDP"}]}]
            })
        );
    }

    #[test]
    fn no_peers_is_any_source_and_no_port_admits_nothing() {
        let open = built(json!({"image": "x", "ports": [{"name": "http", "containerPort": 8080}],
            "network": {"isolation": "Ingress"}}))
        .unwrap();
        assert_eq!(open["spec"]["ingress"], json!([{"ports": [{"port": 8080, "protocol": "TCP"}]}]));
        let closed = built(json!({"image": "x", "network": {"isolation": "Ingress"}})).unwrap();
        assert_eq!(closed["spec"]["policyTypes"], json!(["Ingress"]));
        assert!(closed["spec"].get("ingress").is_none(), "no rule: nothing admitted");
    }

    #[test]
    fn egress_adds_its_type_and_dns() {
        let np = built(json!({"image": "x", "network": {"isolation": "Ingress",
            "egress": [{"to": [{"ipBlock": {"cidr": "10.2.0.0/16"}}], "ports": [{"port": 5432}, {"port": 8000, "endPort": 8100}]}]}}))
        .unwrap();
        assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
        assert_eq!(
            np["spec"]["egress"],
            json!([
                {"to": [{"ipBlock": {"cidr": "10.2.0.0/16"}}],
                 "ports": [{"port": 5432, "protocol": "TCP"}, {"port": 8000, "endPort": 8100, "protocol": "TCP"}]},
                {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}
            ])
        );
        let egress_only = built(json!({"image": "x", "network": {"egress": [{"ports": [{"port": 443}]}]}})).unwrap();
        assert_eq!(egress_only["spec"]["policyTypes"], json!(["Egress"]));
        assert!(egress_only["spec"].get("ingress").is_none());
    }
}
