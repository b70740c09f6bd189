//! The size bounds of the CRD schema (`maxItems`, `maxProperties`, `maxLength`), checked with the
//! same numbers (`crd::MAX_*`), so that `render` and the controller refuse what the API server
//! would refuse at admission, and say which field is too big and what the limit is.
//!
//! Only sizes are checked here; what a value must look like is the rest of `validate`'s job.
//! Lengths count characters (Unicode code points), as OpenAPI's `maxLength` does.

use k8s_openapi::api::core::v1::{Probe, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::FieldError;
use crate::crd::{
    EnvVar, ExternalRef, MAX_ARGS, MAX_AUDIENCE_LENGTH, MAX_CIDR_EXCEPTIONS, MAX_CONDITIONS,
    MAX_CONFIG_KEYS, MAX_EGRESS_RULES, MAX_ENV_NAME_LENGTH, MAX_ENV_VARS, MAX_EXTERNAL_REFS,
    MAX_EXTRA_ENV_VARS, MAX_EXTRA_PORTS, MAX_GENERATED_KEYS, MAX_HOST_LENGTH, MAX_IMAGE_LENGTH,
    MAX_INIT_CONTAINERS, MAX_LABEL_LENGTH, MAX_METADATA_ENTRIES, MAX_NETWORK_PEERS,
    MAX_NETWORK_PORTS, MAX_OBJECT_NAME_LENGTH, MAX_PORT_NAME_LENGTH, MAX_PORTS, MAX_PROBE_HEADERS,
    MAX_QUANTITY_LENGTH, MAX_RESOURCE_CLAIMS, MAX_RESOURCE_NAMES, MAX_ROUTE_PATH_LENGTH,
    MAX_SELECTOR_EXPRESSIONS, MAX_SELECTOR_LABELS, MAX_SELECTOR_VALUES, MAX_SIDECARS,
    MAX_SURGE_LENGTH, NetworkPeer, StatelessServiceSpec, StatelessServiceStatus,
};

/// `path: lists N <what>; at most MAX are allowed` when a list or map holds more than `max`.
fn count(errors: &mut Vec<FieldError>, path: &str, len: usize, max: usize, what: &str) {
    if len > max {
        errors.push(FieldError::new(
            path,
            format!("lists {len} {what}; at most {max} are allowed"),
        ));
    }
}

/// `path: is N characters long; at most MAX are allowed` (the value itself is not repeated: it
/// is too long to be useful in a message).
pub(super) fn length(errors: &mut Vec<FieldError>, path: &str, value: &str, max: usize) {
    let len = value.chars().count();
    if len > max {
        errors.push(FieldError::new(
            path,
            format!("is {len} characters long; at most {max} are allowed"),
        ));
    }
}

/// Every size bound of the spec (mount paths, secret keys, port names and the storage class are
/// bounded where their syntax is checked).
pub(super) fn check_spec(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    length(errors, "spec.image", &spec.image, MAX_IMAGE_LENGTH);
    check_args("spec", &spec.command, &spec.args, errors);
    check_env("spec.env", spec.env.as_deref(), MAX_ENV_VARS, errors);
    if let Some(ports) = &spec.ports {
        count(errors, "spec.ports", ports.len(), MAX_PORTS, "ports");
    }
    check_resources("spec.resources", spec.resources.as_ref(), errors);
    check_probe("spec.readinessProbe", spec.readiness_probe.as_ref(), errors);
    check_probe("spec.livenessProbe", spec.liveness_probe.as_ref(), errors);
    if let Some(config) = &spec.config {
        count(
            errors,
            "spec.config.data",
            config.data.len(),
            MAX_CONFIG_KEYS,
            "keys",
        );
    }
    if let Some(secret) = &spec.secret {
        count(
            errors,
            "spec.secret.generate",
            secret.generate.len(),
            MAX_GENERATED_KEYS,
            "keys",
        );
    }
    if let Some(storage) = &spec.storage {
        length(
            errors,
            "spec.storage.size",
            &storage.size.0,
            MAX_QUANTITY_LENGTH,
        );
    }
    if let Some(scratch) = &spec.scratch {
        length(
            errors,
            "spec.scratch.sizeLimit",
            &scratch.size_limit.0,
            MAX_QUANTITY_LENGTH,
        );
    }
    check_external_refs(spec, errors);
    check_expose(spec, errors);
    check_identity(spec, errors);
    check_network(spec, errors);
    check_extra_containers(spec, errors);
}

fn check_args(
    path: &str,
    command: &Option<Vec<String>>,
    args: &Option<Vec<String>>,
    errors: &mut Vec<FieldError>,
) {
    for (field, list) in [("command", command), ("args", args)] {
        if let Some(list) = list {
            count(
                errors,
                &format!("{path}.{field}"),
                list.len(),
                MAX_ARGS,
                "arguments",
            );
        }
    }
}

fn check_env(path: &str, env: Option<&[EnvVar]>, max: usize, errors: &mut Vec<FieldError>) {
    let Some(env) = env else { return };
    count(errors, path, env.len(), max, "environment variables");
    for (i, var) in env.iter().enumerate() {
        length(
            errors,
            &format!("{path}[{i}].name"),
            &var.name,
            MAX_ENV_NAME_LENGTH,
        );
    }
}

fn check_resources(
    path: &str,
    resources: Option<&ResourceRequirements>,
    errors: &mut Vec<FieldError>,
) {
    let Some(resources) = resources else { return };
    if let Some(claims) = &resources.claims {
        count(
            errors,
            &format!("{path}.claims"),
            claims.len(),
            MAX_RESOURCE_CLAIMS,
            "claims",
        );
    }
    for (field, map) in [
        ("limits", &resources.limits),
        ("requests", &resources.requests),
    ] {
        if let Some(map) = map {
            count(
                errors,
                &format!("{path}.{field}"),
                map.len(),
                MAX_RESOURCE_NAMES,
                "resources",
            );
        }
    }
}

/// `config.from` and `secret.from` (their mount paths are bounded where their syntax is
/// checked).
fn check_external_refs(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    let lists: [(&str, Option<&[ExternalRef]>); 2] = [
        (
            "spec.config.from",
            spec.config.as_ref().map(|c| c.from.as_slice()),
        ),
        (
            "spec.secret.from",
            spec.secret.as_ref().map(|s| s.from.as_slice()),
        ),
    ];
    for (path, refs) in lists {
        let Some(refs) = refs else { continue };
        count(errors, path, refs.len(), MAX_EXTERNAL_REFS, "references");
        for (i, r) in refs.iter().enumerate() {
            length(
                errors,
                &format!("{path}[{i}].name"),
                &r.name,
                MAX_OBJECT_NAME_LENGTH,
            );
        }
    }
}

/// The Service, the route and the rollout.
fn check_expose(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    if let Some(service) = &spec.service {
        count(
            errors,
            "spec.service.annotations",
            service.annotations.len(),
            MAX_METADATA_ENTRIES,
            "annotations",
        );
    }
    if let Some(route) = &spec.route {
        length(errors, "spec.route.host", &route.host, MAX_HOST_LENGTH);
        length(
            errors,
            "spec.route.path",
            &route.path,
            MAX_ROUTE_PATH_LENGTH,
        );
        if let Some(port) = &route.port {
            length(errors, "spec.route.port", port, MAX_PORT_NAME_LENGTH);
        }
        if let Some(class) = &route.ingress_class_name {
            length(
                errors,
                "spec.route.ingressClassName",
                class,
                MAX_OBJECT_NAME_LENGTH,
            );
        }
        if let Some(tls) = &route.tls {
            length(
                errors,
                "spec.route.tls.secretName",
                &tls.secret_name,
                MAX_OBJECT_NAME_LENGTH,
            );
        }
        if let Some(gateway) = &route.gateway_ref {
            length(
                errors,
                "spec.route.gatewayRef.name",
                &gateway.name,
                MAX_OBJECT_NAME_LENGTH,
            );
            if let Some(namespace) = &gateway.namespace {
                length(
                    errors,
                    "spec.route.gatewayRef.namespace",
                    namespace,
                    MAX_LABEL_LENGTH,
                );
            }
        }
    }
    if let Some(rollout) = &spec.rollout
        && let IntOrString::String(surge) = &rollout.max_surge
    {
        length(errors, "spec.rollout.maxSurge", surge, MAX_SURGE_LENGTH);
    }
}

fn check_identity(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    let Some(account) = &spec.service_account else {
        return;
    };
    count(
        errors,
        "spec.serviceAccount.annotations",
        account.annotations.len(),
        MAX_METADATA_ENTRIES,
        "annotations",
    );
    count(
        errors,
        "spec.serviceAccount.labels",
        account.labels.len(),
        MAX_METADATA_ENTRIES,
        "labels",
    );
    if let Some(audience) = &account.audience {
        length(
            errors,
            "spec.serviceAccount.audience",
            audience,
            MAX_AUDIENCE_LENGTH,
        );
    }
}

fn check_network(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    let Some(network) = &spec.network else {
        return;
    };
    count(
        errors,
        "spec.network.allowFrom",
        network.allow_from.len(),
        MAX_NETWORK_PEERS,
        "peers",
    );
    for (i, peer) in network.allow_from.iter().enumerate() {
        check_peer(&format!("spec.network.allowFrom[{i}]"), peer, errors);
    }
    count(
        errors,
        "spec.network.egress",
        network.egress.len(),
        MAX_EGRESS_RULES,
        "rules",
    );
    for (i, rule) in network.egress.iter().enumerate() {
        let path = format!("spec.network.egress[{i}]");
        count(
            errors,
            &format!("{path}.to"),
            rule.to.len(),
            MAX_NETWORK_PEERS,
            "peers",
        );
        count(
            errors,
            &format!("{path}.ports"),
            rule.ports.len(),
            MAX_NETWORK_PORTS,
            "ports",
        );
        for (j, peer) in rule.to.iter().enumerate() {
            check_peer(&format!("{path}.to[{j}]"), peer, errors);
        }
    }
}

fn check_peer(path: &str, peer: &NetworkPeer, errors: &mut Vec<FieldError>) {
    for (field, selector) in [
        ("podSelector", &peer.pod_selector),
        ("namespaceSelector", &peer.namespace_selector),
    ] {
        let Some(selector) = selector else { continue };
        let at = format!("{path}.{field}");
        count(
            errors,
            &format!("{at}.matchLabels"),
            selector.match_labels.len(),
            MAX_SELECTOR_LABELS,
            "labels",
        );
        count(
            errors,
            &format!("{at}.matchExpressions"),
            selector.match_expressions.len(),
            MAX_SELECTOR_EXPRESSIONS,
            "expressions",
        );
        for (k, requirement) in selector.match_expressions.iter().enumerate() {
            count(
                errors,
                &format!("{at}.matchExpressions[{k}].values"),
                requirement.values.len(),
                MAX_SELECTOR_VALUES,
                "values",
            );
        }
    }
    if let Some(block) = &peer.ip_block {
        count(
            errors,
            &format!("{path}.ipBlock.except"),
            block.except.len(),
            MAX_CIDR_EXCEPTIONS,
            "ranges",
        );
    }
}

/// Sidecars and init containers: the lists, and each container as the main one.
fn check_extra_containers(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    if let Some(sidecars) = &spec.sidecars {
        count(
            errors,
            "spec.sidecars",
            sidecars.len(),
            MAX_SIDECARS,
            "sidecars",
        );
        for (i, sidecar) in sidecars.iter().enumerate() {
            let path = format!("spec.sidecars[{i}]");
            length(
                errors,
                &format!("{path}.name"),
                &sidecar.name,
                MAX_LABEL_LENGTH,
            );
            length(
                errors,
                &format!("{path}.image"),
                &sidecar.image,
                MAX_IMAGE_LENGTH,
            );
            check_args(&path, &sidecar.command, &sidecar.args, errors);
            check_env(
                &format!("{path}.env"),
                sidecar.env.as_deref(),
                MAX_EXTRA_ENV_VARS,
                errors,
            );
            if let Some(ports) = &sidecar.ports {
                count(
                    errors,
                    &format!("{path}.ports"),
                    ports.len(),
                    MAX_EXTRA_PORTS,
                    "ports",
                );
                for (j, port) in ports.iter().enumerate() {
                    length(
                        errors,
                        &format!("{path}.ports[{j}].name"),
                        &port.name,
                        MAX_PORT_NAME_LENGTH,
                    );
                }
            }
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
    }
    if let Some(inits) = &spec.init_containers {
        count(
            errors,
            "spec.initContainers",
            inits.len(),
            MAX_INIT_CONTAINERS,
            "init containers",
        );
        for (i, init) in inits.iter().enumerate() {
            let path = format!("spec.initContainers[{i}]");
            length(
                errors,
                &format!("{path}.name"),
                &init.name,
                MAX_LABEL_LENGTH,
            );
            length(
                errors,
                &format!("{path}.image"),
                &init.image,
                MAX_IMAGE_LENGTH,
            );
            check_args(&path, &init.command, &init.args, errors);
            check_env(
                &format!("{path}.env"),
                init.env.as_deref(),
                MAX_EXTRA_ENV_VARS,
                errors,
            );
            check_resources(
                &format!("{path}.resources"),
                init.resources.as_ref(),
                errors,
            );
        }
    }
}

fn check_probe(path: &str, probe: Option<&Probe>, errors: &mut Vec<FieldError>) {
    let Some(probe) = probe else { return };
    if let Some(command) = probe.exec.as_ref().and_then(|e| e.command.as_ref()) {
        count(
            errors,
            &format!("{path}.exec.command"),
            command.len(),
            MAX_ARGS,
            "arguments",
        );
    }
    if let Some(headers) = probe
        .http_get
        .as_ref()
        .and_then(|h| h.http_headers.as_ref())
    {
        count(
            errors,
            &format!("{path}.httpGet.httpHeaders"),
            headers.len(),
            MAX_PROBE_HEADERS,
            "headers",
        );
    }
}

/// The bounds of the status: the API server refuses a status write beyond them, so the
/// status the controller computes must stay within (tested against `status`'s output).
pub fn status_errors(status: &StatelessServiceStatus) -> Vec<FieldError> {
    let mut errors = Vec::new();
    count(
        &mut errors,
        "status.conditions",
        status.conditions.len(),
        MAX_CONDITIONS,
        "conditions",
    );
    errors
}

#[cfg(test)]
mod tests {
    //! One case a bound at the limit and above it; `tests/crd_schema.rs` checks that every bound
    //! in the generated schema has one of these twins with the same number.
    use super::*;
    use crate::crd::StatelessService;
    use serde_json::{Value, json};

    fn errors(spec: Value) -> Vec<String> {
        let svc: StatelessService = serde_json::from_value(json!({
            "apiVersion": "stateless.dev/v1alpha1", "kind": "StatelessService",
            "metadata": {"name": "web"}, "spec": spec,
        }))
        .expect("deserializes");
        let mut errors = Vec::new();
        check_spec(&svc.spec, &mut errors);
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn lists_at_the_limit_pass_and_above_it_fail() {
        let args = |n: usize| vec!["a"; n];
        assert!(errors(json!({"image": "x", "args": args(MAX_ARGS)})).is_empty());
        assert_eq!(
            errors(
                json!({"image": "x", "args": args(MAX_ARGS + 1), "command": args(MAX_ARGS + 1)})
            ),
            [
                format!("spec.command: lists 1025 arguments; at most {MAX_ARGS} are allowed"),
                format!("spec.args: lists 1025 arguments; at most {MAX_ARGS} are allowed"),
            ]
        );
        let env: Vec<Value> = (0..=MAX_ENV_VARS)
            .map(|i| json!({"name": format!("V{i}")}))
            .collect();
        assert_eq!(
            errors(json!({"image": "x", "env": env})),
            ["spec.env: lists 257 environment variables; at most 256 are allowed"]
        );
    }

    #[test]
    fn strings_count_characters_not_bytes() {
        let name = "é".repeat(MAX_ENV_NAME_LENGTH);
        assert!(errors(json!({"image": "x", "env": [{"name": name}]})).is_empty());
        let name = "é".repeat(MAX_ENV_NAME_LENGTH + 1);
        assert_eq!(
            errors(json!({"image": "x", "env": [{"name": name}]})),
            ["spec.env[0].name: is 254 characters long; at most 253 are allowed"]
        );
    }

    #[test]
    fn probe_lists_are_bounded() {
        let headers: Vec<Value> = (0..=MAX_PROBE_HEADERS)
            .map(|i| json!({"name": format!("X-{i}"), "value": "v"}))
            .collect();
        let e = errors(json!({"image": "x",
            "readinessProbe": {"httpGet": {"port": 80, "httpHeaders": headers}},
            "livenessProbe": {"exec": {"command": vec!["true"; MAX_ARGS + 1]}}}));
        assert_eq!(
            e,
            [
                "spec.readinessProbe.httpGet.httpHeaders: lists 33 headers; at most 32 are allowed",
                "spec.livenessProbe.exec.command: lists 1025 arguments; at most 1024 are allowed",
            ]
        );
    }

    #[test]
    fn status_conditions_are_bounded() {
        let mut status = StatelessServiceStatus::default();
        assert!(status_errors(&status).is_empty());
        let condition: k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition =
            serde_json::from_value(json!({"type": "Ready", "status": "True", "reason": "R",
                "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}))
            .expect("a condition");
        status.conditions = vec![condition; MAX_CONDITIONS + 1];
        assert_eq!(
            status_errors(&status)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["status.conditions: lists 9 conditions; at most 8 are allowed"]
        );
    }
}
