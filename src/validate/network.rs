//! Network isolation: peers, selectors, IP blocks and egress ports.

use std::net::IpAddr;

use super::{FieldError, meta};
use crate::crd::{
    Isolation, NetworkPeer, NetworkSpec, PeerSelector, SelectorOperator, StatelessServiceSpec,
};

pub(super) fn check_network(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    let Some(network) = &spec.network else {
        return;
    };
    check_allow_from(network, errors);
    for (i, peer) in network.allow_from.iter().enumerate() {
        check_peer(&format!("spec.network.allowFrom[{i}]"), peer, errors);
    }
    for (i, rule) in network.egress.iter().enumerate() {
        for (j, peer) in rule.to.iter().enumerate() {
            check_peer(&format!("spec.network.egress[{i}].to[{j}]"), peer, errors);
        }
        for (j, port) in rule.ports.iter().enumerate() {
            let path = format!("spec.network.egress[{i}].ports[{j}]");
            for (field, value) in [("port", Some(port.port)), ("endPort", port.end_port)] {
                if let Some(v) = value
                    && !(1..=65535).contains(&v)
                {
                    errors.push(FieldError::new(
                        format!("{path}.{field}"),
                        format!("must be between 1 and 65535, not {v}"),
                    ));
                }
            }
            if let Some(end) = port.end_port
                && end < port.port
            {
                errors.push(FieldError::new(
                    format!("{path}.endPort"),
                    format!("endPort must not be below port ({end} < {})", port.port),
                ));
            }
        }
    }
}

fn check_allow_from(network: &NetworkSpec, errors: &mut Vec<FieldError>) {
    if network.isolation != Isolation::Ingress && !network.allow_from.is_empty() {
        errors.push(FieldError::new(
            "spec.network.allowFrom",
            "network.allowFrom needs isolation: Ingress (with None every source is admitted)",
        ));
    }
}

fn check_peer(path: &str, peer: &NetworkPeer, errors: &mut Vec<FieldError>) {
    let selects = peer.pod_selector.is_some() || peer.namespace_selector.is_some();
    if !selects && peer.ip_block.is_none() {
        errors.push(FieldError::new(
            path,
            "a network peer needs podSelector, namespaceSelector or ipBlock",
        ));
    }
    if selects && peer.ip_block.is_some() {
        errors.push(FieldError::new(
            format!("{path}.ipBlock"),
            "a network peer's ipBlock cannot be combined with podSelector or namespaceSelector",
        ));
    }
    for (field, selector) in [
        ("podSelector", &peer.pod_selector),
        ("namespaceSelector", &peer.namespace_selector),
    ] {
        if let Some(selector) = selector {
            check_selector(&format!("{path}.{field}"), selector, errors);
        }
    }
    if let Some(block) = &peer.ip_block {
        let cidr = parse_cidr(&block.cidr);
        if cidr.is_none() {
            errors.push(FieldError::new(
                format!("{path}.ipBlock.cidr"),
                format!(
                    "{:?} is not a CIDR such as 10.0.0.0/8 or 2001:db8::/32",
                    block.cidr
                ),
            ));
        }
        for (i, except) in block.except.iter().enumerate() {
            let at = format!("{path}.ipBlock.except[{i}]");
            match (parse_cidr(except), cidr) {
                (None, _) => errors.push(FieldError::new(
                    at,
                    format!("{except:?} is not a CIDR such as 10.1.0.0/16"),
                )),
                (Some(inner), Some(outer)) if !strictly_inside(inner, outer) => {
                    errors.push(FieldError::new(
                        at,
                        format!(
                            "{except:?} must be a range strictly inside cidr {:?}",
                            block.cidr
                        ),
                    ))
                }
                _ => {}
            }
        }
    }
}

fn check_selector(path: &str, selector: &PeerSelector, errors: &mut Vec<FieldError>) {
    meta::check_labels(
        &format!("{path}.matchLabels"),
        &selector.match_labels,
        errors,
    );
    for (i, requirement) in selector.match_expressions.iter().enumerate() {
        let at = format!("{path}.matchExpressions[{i}]");
        if !meta::is_qualified_name(&requirement.key) {
            errors.push(FieldError::new(
                format!("{at}.key"),
                format!(
                    "{:?} is not a valid label key: an optional DNS-subdomain prefix and '/', then at most 63 letters, digits, '-', '_' or '.' that start and end with a letter or digit",
                    requirement.key
                ),
            ));
        }
        let takes_values = matches!(
            requirement.operator,
            SelectorOperator::In | SelectorOperator::NotIn
        );
        if takes_values == requirement.values.is_empty() {
            errors.push(FieldError::new(
                format!("{at}.values"),
                format!(
                    "a selector expression with operator In or NotIn needs values; Exists and DoesNotExist take none (operator {}, {} values)",
                    requirement.operator.as_str(),
                    requirement.values.len()
                ),
            ));
        }
        for (j, value) in requirement.values.iter().enumerate() {
            if !meta::is_label_value(value) {
                errors.push(FieldError::new(
                    format!("{at}.values[{j}]"),
                    format!(
                        "{value:?} is not a valid label value: empty, or at most 63 letters, digits, '-', '_' or '.' that start and end with a letter or digit"
                    ),
                ));
            }
        }
    }
}

/// An address and a prefix length within the address's size.
fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (address, prefix) = text.split_once('/')?;
    let address: IpAddr = address.parse().ok()?;
    // Only plain decimal digits (no sign, no spaces).
    if prefix.is_empty() || !prefix.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let prefix: u8 = prefix.parse().ok()?;
    let bits = if address.is_ipv4() { 32 } else { 128 };
    (prefix <= bits).then_some((address, prefix))
}

/// The first `prefix` bits of an address, as a 128-bit number (IPv4 in the low 32 bits).
fn network(address: IpAddr, prefix: u8) -> u128 {
    let (value, bits) = match address {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32u32),
        IpAddr::V6(a) => (u128::from(a), 128u32),
    };
    let host_bits = bits - u32::from(prefix);
    if host_bits >= 128 {
        0
    } else {
        value >> host_bits << host_bits
    }
}

/// `inner` is a smaller range inside `outer` (the API server requires `except` to be so).
fn strictly_inside(inner: (IpAddr, u8), outer: (IpAddr, u8)) -> bool {
    inner.0.is_ipv4() == outer.0.is_ipv4()
        && inner.1 > outer.1
        && network(inner.0, outer.1) == network(outer.0, outer.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        assert!(parse_cidr("10.0.0.0/8").is_some());
        assert!(parse_cidr("2001:db8::/32").is_some());
        assert!(parse_cidr("0.0.0.0/0").is_some());
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0/8",
            "a/8",
            "10.0.0.0/+8",
            "::/129",
            "10.0.0.0/",
        ] {
            assert!(parse_cidr(bad).is_none(), "{bad}");
        }
        let cidr = |s| parse_cidr(s).expect("a CIDR");
        assert!(strictly_inside(cidr("10.1.0.0/16"), cidr("10.0.0.0/8")));
        assert!(strictly_inside(cidr("1.2.3.4/32"), cidr("0.0.0.0/0")));
        assert!(!strictly_inside(cidr("10.0.0.0/8"), cidr("10.0.0.0/8")));
        assert!(!strictly_inside(cidr("11.0.0.0/16"), cidr("10.0.0.0/8")));
        assert!(!strictly_inside(cidr("::/64"), cidr("0.0.0.0/0")));
        assert!(strictly_inside(
            cidr("2001:db8:1::/48"),
            cidr("2001:db8::/32")
        ));
    }
}

#[cfg(test)]
mod rule_tests {
    //! What CEL leaves to `validate`: label syntax in selectors and IP ranges.
    use super::super::testing::{errors, has};
    use serde_json::json;

    #[test]
    fn selectors_and_ip_blocks() {
        let e = errors(json!({"image": "x", "network": {"isolation": "Ingress",
            "allowFrom": [
                {"podSelector": {"matchLabels": {"app": "ok", "Bad Key": "v"}}},
                {"namespaceSelector": {"matchExpressions": [
                    {"key": "team", "operator": "In", "values": ["a", "not valid"]},
                    {"key": "/x", "operator": "Exists"}]}}],
            "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16", "11.0.0.0/16", "x"]}},
                {"ipBlock": {"cidr": "10.0.0.0"}}]}]}}));
        for expected in [
            "spec.network.allowFrom[0].podSelector.matchLabels[Bad Key]",
            "spec.network.allowFrom[1].namespaceSelector.matchExpressions[0].values[1]: \"not valid\"",
            "spec.network.allowFrom[1].namespaceSelector.matchExpressions[1].key: \"/x\"",
            "spec.network.egress[0].to[0].ipBlock.except[1]: \"11.0.0.0/16\" must be a range strictly inside cidr \"10.0.0.0/8\"",
            "spec.network.egress[0].to[0].ipBlock.except[2]: \"x\" is not a CIDR",
            "spec.network.egress[0].to[1].ipBlock.cidr: \"10.0.0.0\" is not a CIDR",
        ] {
            assert!(has(&e, expected), "{expected} not in {e:?}");
        }
        assert_eq!(e.len(), 6, "{e:?}");
    }
}
