//! Containers: the main one and the sidecars and init containers next to it (image, names,
//! environment, ports, resources, probes), and what must be unique across the pod.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Probe, ResourceRequirements};

use super::{FieldError, is_dns_label};
use crate::crd::{EnvVar, MAX_LABEL_LENGTH, MAX_PORT_NAME_LENGTH, Protocol, StatelessServiceSpec};
use crate::quantity;

/// Environment, ports, resources and probes of the main container (its image is checked
/// first, on its own).
pub(super) fn check_main(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    check_env("spec.env", spec.env.as_deref(), errors);
    check_ports(spec, errors);
    check_resources("spec.resources", spec.resources.as_ref(), errors);
    check_probe("spec.readinessProbe", spec.readiness_probe.as_ref(), errors);
    check_probe("spec.livenessProbe", spec.liveness_probe.as_ref(), errors);
}

pub(super) fn check_image(path: &str, image: &str, errors: &mut Vec<FieldError>) {
    if image.is_empty() {
        errors.push(FieldError::new(path, "an image is required"));
    } else if image.contains(char::is_whitespace) {
        errors.push(FieldError::new(path, "image must not contain spaces"));
    }
}

fn check_env(path: &str, env: Option<&[EnvVar]>, errors: &mut Vec<FieldError>) {
    let mut seen = BTreeSet::new();
    for (i, var) in env.into_iter().flatten().enumerate() {
        let path = format!("{path}[{i}].name");
        if var.name.is_empty() {
            errors.push(FieldError::new(
                path,
                "an environment variable needs a name",
            ));
        } else if var.name.contains('=') {
            errors.push(FieldError::new(
                path,
                "environment variable names must not contain '='",
            ));
        } else if !var.name.bytes().all(|c| (b' '..=b'~').contains(&c)) {
            // The API server rejects the Deployment otherwise (relaxed env var name rule).
            errors.push(FieldError::new(
                path,
                format!(
                    "{:?}: environment variable names must consist of printable ASCII characters",
                    var.name
                ),
            ));
        } else if !seen.insert(var.name.as_str()) {
            errors.push(FieldError::new(
                path,
                format!("duplicate environment variable {:?}", var.name),
            ));
        }
    }
}

/// An IANA service name: at most 15 lowercase letters, digits and single '-', one letter at least.
pub(super) fn is_port_name(s: &str) -> bool {
    s.len() <= MAX_PORT_NAME_LENGTH
        && is_dns_label(s)
        && s.bytes().any(|c| c.is_ascii_lowercase())
        && !s.contains("--")
}

/// The message of the port name rule (CEL's, with the value and the length limit).
pub(super) fn port_name_problem(name: &str) -> String {
    format!(
        "{name:?}: port name must be an IANA service name: lowercase letters, digits and single '-', at least one letter, at most 15 characters"
    )
}

/// One port of a container, as both kinds of port list have them.
struct Port<'a> {
    name: &'a str,
    number: i32,
    protocol: Protocol,
}

/// Names and numbers of one container's ports: valid, and unique within the list.
fn check_port_list<'a>(
    path: &str,
    ports: impl Iterator<Item = Port<'a>>,
    errors: &mut Vec<FieldError>,
) {
    let mut names = BTreeSet::new();
    let mut numbers = BTreeSet::new();
    for (i, port) in ports.enumerate() {
        if !is_port_name(port.name) {
            errors.push(FieldError::new(
                format!("{path}[{i}].name"),
                port_name_problem(port.name),
            ));
        } else if !names.insert(port.name) {
            errors.push(FieldError::new(
                format!("{path}[{i}].name"),
                format!("duplicate port name {:?}", port.name),
            ));
        }
        if !(1..=65535).contains(&port.number) {
            errors.push(FieldError::new(
                format!("{path}[{i}].containerPort"),
                format!("must be between 1 and 65535, not {}", port.number),
            ));
        } else if !numbers.insert((port.number, port.protocol)) {
            errors.push(FieldError::new(
                format!("{path}[{i}].containerPort"),
                format!(
                    "port {}/{} is listed twice",
                    port.number,
                    port.protocol.as_str()
                ),
            ));
        }
    }
}

fn check_ports(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    let ports = spec.ports.iter().flatten();
    check_port_list(
        "spec.ports",
        ports.clone().map(|p| Port {
            name: &p.name,
            number: p.container_port,
            protocol: p.protocol,
        }),
        errors,
    );
    // The Service refuses two ports with the same number and protocol.
    let mut service_ports = BTreeSet::new();
    for (i, port) in ports.enumerate() {
        let path = format!("spec.ports[{i}].servicePort");
        match port.service_port {
            Some(n) if !(1..=65535).contains(&n) => errors.push(FieldError::new(
                path,
                format!("must be between 1 and 65535, not {n}"),
            )),
            _ => {
                let number = port.service_port.unwrap_or(port.container_port);
                if (1..=65535).contains(&number) && !service_ports.insert((number, port.protocol)) {
                    errors.push(FieldError::new(
                        path,
                        format!(
                            "the Service would have port {number}/{} twice (servicePort defaults to containerPort)",
                            port.protocol.as_str()
                        ),
                    ));
                }
            }
        }
    }
}

/// Every name in a quantity map is a non-negative quantity, and no request exceeds its limit.
fn check_resources(
    path: &str,
    resources: Option<&ResourceRequirements>,
    errors: &mut Vec<FieldError>,
) {
    let Some(resources) = resources else {
        return;
    };
    for (field, list) in [
        ("limits", &resources.limits),
        ("requests", &resources.requests),
    ] {
        for (name, value) in list.iter().flatten() {
            match quantity::parse(&value.0) {
                Some(q) if q.0 >= 0 => {}
                _ => errors.push(FieldError::new(
                    format!("{path}.{field}.{name}"),
                    format!(
                        "{:?} is not a non-negative quantity such as 500m or 256Mi",
                        value.0
                    ),
                )),
            }
        }
    }
    if let (Some(limits), Some(requests)) = (&resources.limits, &resources.requests) {
        for (name, request) in requests {
            if let Some(limit) = limits.get(name)
                && let (Some(r), Some(l)) = (quantity::parse(&request.0), quantity::parse(&limit.0))
                && r > l
            {
                errors.push(FieldError::new(
                    format!("{path}.requests.{name}"),
                    format!(
                        "request {} is greater than the limit {}",
                        request.0, limit.0
                    ),
                ));
            }
        }
    }
}

fn check_probe(path: &str, probe: Option<&Probe>, errors: &mut Vec<FieldError>) {
    let Some(probe) = probe else { return };
    let handlers = [
        probe.exec.is_some(),
        probe.http_get.is_some(),
        probe.tcp_socket.is_some(),
        probe.grpc.is_some(),
    ]
    .iter()
    .filter(|set| **set)
    .count();
    if handlers != 1 {
        errors.push(FieldError::new(
            path,
            "a probe needs exactly one of exec, httpGet, tcpSocket or grpc",
        ));
    }
}

/// A container name: a DNS label of at most 63, and not the main container's.
fn check_container_name(path: &str, name: &str, errors: &mut Vec<FieldError>) {
    // A name that is too long is reported by the bounds.
    let bounded = name.chars().count() <= MAX_LABEL_LENGTH;
    if bounded && !is_dns_label(name) {
        errors.push(FieldError::new(
            path,
            format!(
                "{name:?}: a container name is a DNS label (lowercase letters, digits and '-')"
            ),
        ));
    } else if bounded && name == crate::children::deployment::CONTAINER_NAME {
        errors.push(FieldError::new(
            path,
            format!("{name:?}: 'app' is the name of the main container"),
        ));
    }
}

/// Sidecars and init containers: each like the main container, names unique across both
/// lists, and ports unique in the pod (its containers share one network namespace, and a
/// Service port targets a port by name).
pub(super) fn check_extra(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    let mut sidecar_names = BTreeSet::new();
    for (i, sidecar) in spec.sidecars.iter().flatten().enumerate() {
        let path = format!("spec.sidecars[{i}]");
        check_container_name(&format!("{path}.name"), &sidecar.name, errors);
        if !sidecar_names.insert(sidecar.name.as_str()) {
            errors.push(FieldError::new(
                format!("{path}.name"),
                format!("duplicate container name {:?}", sidecar.name),
            ));
        }
        check_image(&format!("{path}.image"), &sidecar.image, errors);
        check_env(&format!("{path}.env"), sidecar.env.as_deref(), errors);
        check_port_list(
            &format!("{path}.ports"),
            sidecar.ports.iter().flatten().map(|p| Port {
                name: &p.name,
                number: p.container_port,
                protocol: p.protocol,
            }),
            errors,
        );
        check_resources(
            &format!("{path}.resources"),
            sidecar.resources.as_ref(),
            errors,
        );
        for (field, probe) in [
            ("readinessProbe", &sidecar.readiness_probe),
            ("livenessProbe", &sidecar.liveness_probe),
            ("startupProbe", &sidecar.startup_probe),
        ] {
            check_probe(&format!("{path}.{field}"), probe.as_ref(), errors);
        }
    }
    let mut init_names = BTreeSet::new();
    for (i, init) in spec.init_containers.iter().flatten().enumerate() {
        let path = format!("spec.initContainers[{i}]");
        check_container_name(&format!("{path}.name"), &init.name, errors);
        if !init_names.insert(init.name.as_str()) {
            errors.push(FieldError::new(
                format!("{path}.name"),
                format!("duplicate container name {:?}", init.name),
            ));
        } else if sidecar_names.contains(init.name.as_str()) {
            errors.push(FieldError::new(
                "spec.initContainers",
                format!(
                    "sidecars and initContainers run in one pod: container names must be unique across both ({:?} is both)",
                    init.name
                ),
            ));
        }
        check_image(&format!("{path}.image"), &init.image, errors);
        check_env(&format!("{path}.env"), init.env.as_deref(), errors);
        check_resources(
            &format!("{path}.resources"),
            init.resources.as_ref(),
            errors,
        );
    }
    check_pod_ports(spec, errors);
}

/// A sidecar's port may not reuse a name or a number (and protocol) of the main container or
/// of an earlier sidecar.
fn check_pod_ports(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    let mut names: BTreeSet<&str> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| p.name.as_str())
        .collect();
    let mut numbers: BTreeSet<(i32, Protocol)> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| (p.container_port, p.protocol))
        .collect();
    for (i, sidecar) in spec.sidecars.iter().flatten().enumerate() {
        // Duplicates within one sidecar are reported by its own list check.
        let own_names: BTreeSet<&str> = sidecar
            .ports
            .iter()
            .flatten()
            .map(|p| p.name.as_str())
            .collect();
        let own_numbers: BTreeSet<(i32, Protocol)> = sidecar
            .ports
            .iter()
            .flatten()
            .map(|p| (p.container_port, p.protocol))
            .collect();
        for (j, port) in sidecar.ports.iter().flatten().enumerate() {
            let path = format!("spec.sidecars[{i}].ports[{j}]");
            if names.contains(port.name.as_str()) {
                errors.push(FieldError::new(
                    format!("{path}.name"),
                    format!(
                        "port name {:?} is already used by another container of the pod",
                        port.name
                    ),
                ));
            }
            if numbers.contains(&(port.container_port, port.protocol)) {
                errors.push(FieldError::new(
                    format!("{path}.containerPort"),
                    format!(
                        "port {}/{} is already used by another container of the pod (they share one network)",
                        port.container_port,
                        port.protocol.as_str()
                    ),
                ));
            }
        }
        names.extend(own_names);
        numbers.extend(own_numbers);
    }
}

#[cfg(test)]
mod tests {
    //! What CEL leaves to `validate`: uniqueness across the pod, probe handlers and requests of
    //! the extra containers, and Service port clashes.
    use super::super::testing::{errors, has};
    use serde_json::json;

    #[test]
    fn service_ports_are_unique_per_protocol() {
        let e = errors(json!({"image": "x", "ports": [
            {"name": "http", "containerPort": 8080, "servicePort": 80},
            {"name": "alt", "containerPort": 80},
            {"name": "dns", "containerPort": 53, "servicePort": 80, "protocol": "UDP"}]}));
        assert_eq!(
            e,
            [
                "spec.ports[1].servicePort: the Service would have port 80/TCP twice (servicePort defaults to containerPort)"
            ]
        );
    }

    #[test]
    fn sidecar_ports_are_unique_in_the_pod() {
        let e = errors(json!({"image": "x",
            "ports": [{"name": "http", "containerPort": 8080}],
            "sidecars": [
                {"name": "a", "image": "x", "ports": [{"name": "http", "containerPort": 9000}]},
                {"name": "b", "image": "x", "ports": [
                    {"name": "admin", "containerPort": 8080},
                    {"name": "stats", "containerPort": 9000, "protocol": "UDP"}]},
                {"name": "c", "image": "x", "ports": [{"name": "other", "containerPort": 9000}]}]}));
        assert!(
            has(
                &e,
                "spec.sidecars[0].ports[0].name: port name \"http\" is already used"
            ),
            "{e:?}"
        );
        assert!(
            has(
                &e,
                "spec.sidecars[1].ports[0].containerPort: port 8080/TCP is already used"
            ),
            "{e:?}"
        );
        assert!(
            !has(&e, "spec.sidecars[1].ports[1]"),
            "UDP is another port: {e:?}"
        );
        assert!(
            has(&e, "spec.sidecars[2].ports[0].containerPort: port 9000/TCP"),
            "{e:?}"
        );
        assert_eq!(e.len(), 3, "{e:?}");
    }

    #[test]
    fn extra_containers_are_checked_like_the_main_one() {
        let e = errors(json!({"image": "x",
            "sidecars": [
                {"name": "a", "image": "", "readinessProbe": {"periodSeconds": 1},
                 "env": [{"name": "V"}, {"name": "V"}],
                 "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}},
                {"name": "a", "image": "x"}],
            "initContainers": [{"name": "i", "image": "x", "resources": {"limits": {"memory": "lots"}}},
                {"name": "i", "image": "x"}]}));
        for expected in [
            "spec.sidecars[0].image: an image is required",
            "spec.sidecars[0].readinessProbe: a probe needs exactly one",
            "spec.sidecars[0].env[1].name: duplicate environment variable",
            "spec.sidecars[0].resources.requests.cpu: request 2 is greater than the limit 1",
            "spec.sidecars[1].name: duplicate container name",
            "spec.initContainers[0].resources.limits.memory",
            "spec.initContainers[1].name: duplicate container name",
        ] {
            assert!(has(&e, expected), "{expected} not in {e:?}");
        }
    }
}
