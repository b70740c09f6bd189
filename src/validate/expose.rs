//! The Service and the route: annotations, host, path, the port the route uses, and which kind
//! of route it is.

use super::container::{is_port_name, port_name_problem};
use super::{FieldError, is_dns_label, is_dns_subdomain, meta};
use crate::crd::{
    MAX_HOST_LENGTH, MAX_LABEL_LENGTH, MAX_OBJECT_NAME_LENGTH, MAX_ROUTE_PATH_LENGTH, Protocol,
    StatelessServiceSpec,
};

pub(super) fn check_service(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    if let Some(service) = &spec.service {
        meta::check_annotations("spec.service.annotations", &service.annotations, errors);
    }
}

/// `route.host`: a DNS subdomain, optionally `*.` and a subdomain (as Ingress and HTTPRoute
/// accept), and not an IPv4 address.
fn host_problem(host: &str) -> Option<&'static str> {
    let name = host.strip_prefix("*.").unwrap_or(host);
    if !is_dns_subdomain(name) {
        Some(
            "route.host must be a DNS name (lowercase letters, digits, '-' and '.'), optionally starting with '*.'",
        )
    } else if is_ipv4_like(host) {
        Some("route.host must be a DNS name, not an IP address")
    } else {
        None
    }
}

/// Four dot-separated groups of digits (the CEL rule's `^[0-9]+([.][0-9]+){3}$`).
fn is_ipv4_like(s: &str) -> bool {
    let groups: Vec<&str> = s.split('.').collect();
    groups.len() == 4
        && groups
            .iter()
            .all(|g| !g.is_empty() && g.bytes().all(|c| c.is_ascii_digit()))
}

/// `route.path`: what both Ingress (`Prefix`) and HTTPRoute (`PathPrefix`) accept.
fn path_is_valid(path: &str) -> bool {
    const ALLOWED: &[u8] = b"-/._~!$&'()*+,;=:@";
    let b = path.as_bytes();
    let mut i = 1;
    let mut chars_ok = b.first() == Some(&b'/');
    while chars_ok && i < b.len() {
        if b[i] == b'%' {
            chars_ok =
                b.len() > i + 2 && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
            i += 3;
        } else {
            chars_ok = b[i].is_ascii_alphanumeric() || ALLOWED.contains(&b[i]);
            i += 1;
        }
    }
    chars_ok
        && !["//", "/./", "/../", "%2f", "%2F"]
            .iter()
            .any(|s| path.contains(s))
        && !path.ends_with("/.")
        && !path.ends_with("/..")
}

/// A name is checked for syntax only within its length bound (beyond it, `bounds` reports it).
fn check_name(
    path: &str,
    value: &str,
    max: usize,
    valid: fn(&str) -> bool,
    message: &str,
    errors: &mut Vec<FieldError>,
) {
    if value.chars().count() <= max && !valid(value) {
        errors.push(FieldError::new(path, format!("{value:?}: {message}")));
    }
}

pub(super) fn check_route(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    let Some(route) = &spec.route else { return };
    if route.ingress_class_name.is_some() == route.gateway_ref.is_some() {
        errors.push(FieldError::new(
            "spec.route",
            "route needs exactly one of ingressClassName (an Ingress) or gatewayRef (an HTTPRoute)",
        ));
    }
    if route.tls.is_some() && route.ingress_class_name.is_none() {
        errors.push(FieldError::new(
            "spec.route.tls",
            "route.tls is for an Ingress only: with gatewayRef the Gateway's listener terminates TLS (its certificate is configured there)",
        ));
    }
    if route.host.chars().count() <= MAX_HOST_LENGTH
        && let Some(problem) = host_problem(&route.host)
    {
        errors.push(FieldError::new(
            "spec.route.host",
            format!("{:?}: {problem}", route.host),
        ));
    }
    check_name(
        "spec.route.path",
        &route.path,
        MAX_ROUTE_PATH_LENGTH,
        path_is_valid,
        "route.path must be an absolute URL path: '/' followed by path characters or %-escapes, without '//', '/./', '/../' or '%2f' and not ending in '/.' or '/..'",
        errors,
    );
    if let Some(class) = &route.ingress_class_name {
        check_name(
            "spec.route.ingressClassName",
            class,
            MAX_OBJECT_NAME_LENGTH,
            is_dns_subdomain,
            "an ingress class name is a DNS subdomain (lowercase letters, digits, '-' and '.')",
            errors,
        );
    }
    if let Some(tls) = &route.tls {
        check_name(
            "spec.route.tls.secretName",
            &tls.secret_name,
            MAX_OBJECT_NAME_LENGTH,
            is_dns_subdomain,
            "a Secret name is a DNS subdomain (lowercase letters, digits, '-' and '.')",
            errors,
        );
    }
    if let Some(gateway) = &route.gateway_ref {
        check_name(
            "spec.route.gatewayRef.name",
            &gateway.name,
            MAX_OBJECT_NAME_LENGTH,
            is_dns_subdomain,
            "a Gateway name is a DNS subdomain (lowercase letters, digits, '-' and '.')",
            errors,
        );
        if let Some(namespace) = &gateway.namespace {
            check_name(
                "spec.route.gatewayRef.namespace",
                namespace,
                MAX_LABEL_LENGTH,
                is_dns_label,
                "a namespace is a DNS label (lowercase letters, digits and '-')",
                errors,
            );
        }
    }
    check_route_port(spec, errors);
}

/// The route needs ports; `route.port` names one of them; the port it uses is TCP.
fn check_route_port(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    let Some(route) = &spec.route else { return };
    let ports = spec.ports.as_deref().unwrap_or_default();
    if ports.is_empty() {
        errors.push(FieldError::new(
            "spec.route",
            "route needs ports: it sends traffic to a port of the Service, and the Service exists only with ports",
        ));
    }
    let used = match &route.port {
        Some(name) if !is_port_name(name) => {
            errors.push(FieldError::new("spec.route.port", port_name_problem(name)));
            return;
        }
        Some(name) => {
            let found = ports.iter().find(|p| &p.name == name);
            if found.is_none() {
                errors.push(FieldError::new(
                    "spec.route.port",
                    format!("{name:?}: route.port must name a port declared in ports"),
                ));
            }
            found
        }
        None => ports.first(),
    };
    if let Some(port) = used
        && port.protocol != Protocol::Tcp
    {
        errors.push(FieldError::new(
            "spec.route.port",
            format!(
                "the route's port (route.port, or the first port) must use protocol TCP: an Ingress or HTTPRoute carries HTTP ({:?} is {})",
                port.name,
                port.protocol.as_str()
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        for good in [
            "example.com",
            "*.example.com",
            "a",
            "web-1.example.co.uk",
            "1.2.3",
        ] {
            assert_eq!(host_problem(good), None, "{good}");
        }
        for bad in [
            "Example.com",
            "*",
            "*.",
            "a.*.com",
            "-a.com",
            "a..b",
            "**.a",
            "1.2.3.4",
            "10.0.0.1",
        ] {
            assert!(host_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn paths() {
        for good in ["/", "/api", "/api/v1/", "/a%20b", "/~user/x.y", "/a:b@c"] {
            assert!(path_is_valid(good), "{good}");
        }
        for bad in [
            "", "api", "/a//b", "/a/./b", "/a/../b", "/a%2fb", "/a%2Fb", "/a/.", "/a/..", "/a b",
            "/a#b", "/a?b", "/%zz", "/%2",
        ] {
            assert!(!path_is_valid(bad), "{bad}");
        }
    }
}
