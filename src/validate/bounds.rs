//! The size bounds of the CRD schema (`maxItems`, `maxProperties`, `maxLength`), checked with the
//! same numbers (`crd::MAX_*`), so that `render` and the controller refuse what the API server
//! would refuse at admission, and say which field is too big and what the limit is.
//!
//! Only sizes are checked here; what a value must look like is the rest of `validate`'s job.
//! Lengths count characters (Unicode code points), as OpenAPI's `maxLength` does.

use k8s_openapi::api::core::v1::Probe;

use super::FieldError;
use crate::crd::{
    MAX_ARGS, MAX_CONDITIONS, MAX_CONFIG_KEYS, MAX_ENV_NAME_LENGTH, MAX_ENV_VARS,
    MAX_GENERATED_KEYS, MAX_IMAGE_LENGTH, MAX_PORTS, MAX_PROBE_HEADERS, MAX_QUANTITY_LENGTH,
    MAX_RESOURCE_CLAIMS, MAX_RESOURCE_NAMES, StatelessServiceSpec, StatelessServiceStatus,
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
    for (path, list) in [("spec.command", &spec.command), ("spec.args", &spec.args)] {
        if let Some(list) = list {
            count(errors, path, list.len(), MAX_ARGS, "arguments");
        }
    }
    if let Some(env) = &spec.env {
        count(
            errors,
            "spec.env",
            env.len(),
            MAX_ENV_VARS,
            "environment variables",
        );
        for (i, var) in env.iter().enumerate() {
            length(
                errors,
                &format!("spec.env[{i}].name"),
                &var.name,
                MAX_ENV_NAME_LENGTH,
            );
        }
    }
    if let Some(ports) = &spec.ports {
        count(errors, "spec.ports", ports.len(), MAX_PORTS, "ports");
    }
    if let Some(resources) = &spec.resources {
        if let Some(claims) = &resources.claims {
            count(
                errors,
                "spec.resources.claims",
                claims.len(),
                MAX_RESOURCE_CLAIMS,
                "claims",
            );
        }
        for (path, map) in [
            ("spec.resources.limits", &resources.limits),
            ("spec.resources.requests", &resources.requests),
        ] {
            if let Some(map) = map {
                count(errors, path, map.len(), MAX_RESOURCE_NAMES, "resources");
            }
        }
    }
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
