//! The pure validation step: is this StatelessService one the operator can build?
//!
//! `validate` enforces every rule the CRD's CEL expressions enforce at admission (so a file
//! rendered offline, or an object stored before a rule existed, gets the same answer) plus what
//! CEL cannot express cheaply (ConfigMap key syntax and size, probe handlers, port uniqueness).
//! `validate_update` mirrors the CEL transition rules (rules on `oldSelf`); `bounds` mirrors the
//! schema's size bounds (`maxItems`, `maxProperties`, `maxLength`).
//! Every problem is reported with its field path; nothing here does I/O or builds objects.

mod bounds;

use std::collections::BTreeSet;
use std::fmt;

use k8s_openapi::api::core::v1::Probe;

use crate::crd::{
    AccessMode, MAX_KEY_LENGTH, MAX_PATH_LENGTH, MAX_PORT_NAME_LENGTH, MAX_SECRET_LENGTH,
    MIN_SECRET_LENGTH, StatelessService, StatelessServiceSpec,
};
use crate::quantity;

pub use bounds::status_errors;

/// Largest total size of `config.data` (a ConfigMap holds at most 1 MiB, metadata included).
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024 - 16 * 1024;
/// Longest StatelessService name: it is the `stateless.dev/service` label value (63 at most).
pub const MAX_NAME_LENGTH: usize = 63;
/// Largest user or group id the API server accepts in a pod's securityContext (2^31 - 1).
pub const MAX_ID: i64 = i32::MAX as i64;

/// One problem with a StatelessService, at a field path such as `spec.storage.accessMode`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Where the problem is, as a dotted path with list indexes (`spec.ports[1].name`).
    pub path: String,
    /// What is wrong, and what would be right.
    pub message: String,
}

impl FieldError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Joins field errors into one line, for conditions and events.
pub fn summarize(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A StatelessService that passed `validate`: the only input `build` accepts.
#[derive(Clone, Copy, Debug)]
pub struct Valid<'a> {
    service: &'a StatelessService,
    name: &'a str,
}

impl<'a> Valid<'a> {
    /// The validated object.
    pub fn service(&self) -> &'a StatelessService {
        self.service
    }

    /// Its spec.
    pub fn spec(&self) -> &'a StatelessServiceSpec {
        &self.service.spec
    }

    /// Its name (present and a DNS label of at most 63 characters).
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// Its namespace, when known (a file rendered offline may have none).
    pub fn namespace(&self) -> Option<&'a str> {
        self.service.metadata.namespace.as_deref()
    }
}

/// Checks a StatelessService; returns every problem found, not just the first.
pub fn validate(service: &StatelessService) -> Result<Valid<'_>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = service.metadata.name.as_deref().unwrap_or("");
    check_name(name, &mut errors);
    check_spec(&service.spec, &mut errors);
    if errors.is_empty() {
        Ok(Valid { service, name })
    } else {
        Err(errors)
    }
}

/// Checks a change from `old` to `new` (the CEL transition rules): the data volume's class and
/// access mode never change, its size never shrinks, and it is never removed.
pub fn validate_update(old: &StatelessServiceSpec, new: &StatelessServiceSpec) -> Vec<FieldError> {
    let mut errors = Vec::new();
    match (&old.storage, &new.storage) {
        (Some(_), None) => errors.push(FieldError::new(
            "spec.storage",
            "storage cannot be removed once set: the claim holds the service's data (delete the StatelessService instead; reclaimPolicy decides what happens to the data)",
        )),
        (Some(old), Some(new)) => {
            if old.storage_class_name != new.storage_class_name {
                errors.push(FieldError::new(
                    "spec.storage.storageClassName",
                    "storage.storageClassName is immutable: a claim cannot move to another storage class",
                ));
            }
            if old.access_mode != new.access_mode {
                errors.push(FieldError::new(
                    "spec.storage.accessMode",
                    "storage.accessMode is immutable: a claim's access mode cannot change",
                ));
            }
            if let (Some(o), Some(n)) = (quantity::parse(&old.size.0), quantity::parse(&new.size.0))
                && n < o
            {
                errors.push(FieldError::new(
                    "spec.storage.size",
                    format!(
                        "storage.size can only grow: a claim cannot shrink from {} to {}",
                        old.size.0, new.size.0
                    ),
                ));
            }
        }
        _ => {}
    }
    errors
}

fn check_name(name: &str, errors: &mut Vec<FieldError>) {
    if name.is_empty() {
        errors.push(FieldError::new("metadata.name", "a name is required"));
    } else if name.len() > MAX_NAME_LENGTH || !is_dns_label(name) {
        errors.push(FieldError::new(
            "metadata.name",
            format!(
                "{name:?} must be a DNS label of at most 63 characters (lowercase letters, digits and '-'): it is the value of the stateless.dev/service label on every child"
            ),
        ));
    }
}

/// A DNS-1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// A DNS-1123 subdomain: dot-separated DNS labels, at most 253 characters.
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

fn check_spec(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    if spec.image.is_empty() {
        errors.push(FieldError::new("spec.image", "an image is required"));
    } else if spec.image.contains(char::is_whitespace) {
        errors.push(FieldError::new(
            "spec.image",
            "image must not contain spaces",
        ));
    }
    if spec.replicas < 0 {
        errors.push(FieldError::new(
            "spec.replicas",
            format!("must be 0 or more, not {}", spec.replicas),
        ));
    }
    check_env(spec, errors);
    check_ports(spec, errors);
    check_resources(spec, errors);
    check_probe("spec.readinessProbe", spec.readiness_probe.as_ref(), errors);
    check_probe("spec.livenessProbe", spec.liveness_probe.as_ref(), errors);
    check_config(spec, errors);
    check_secret(spec, errors);
    check_storage(spec, errors);
    check_scratch(spec, errors);
    check_pod_security(spec, errors);
    check_mount_overlaps(spec, errors);
    bounds::check_spec(spec, errors);
}

fn check_env(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    let mut seen = BTreeSet::new();
    for (i, var) in spec.env.iter().flatten().enumerate() {
        let path = format!("spec.env[{i}].name");
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
fn is_port_name(s: &str) -> bool {
    s.len() <= MAX_PORT_NAME_LENGTH
        && is_dns_label(s)
        && s.bytes().any(|c| c.is_ascii_lowercase())
        && !s.contains("--")
}

fn check_ports(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    let mut names = BTreeSet::new();
    let mut numbers = BTreeSet::new();
    for (i, port) in spec.ports.iter().flatten().enumerate() {
        if !is_port_name(&port.name) {
            errors.push(FieldError::new(
                format!("spec.ports[{i}].name"),
                format!(
                    "{:?}: port name must be an IANA service name: lowercase letters, digits and single '-', at least one letter, at most 15 characters",
                    port.name
                ),
            ));
        } else if !names.insert(port.name.as_str()) {
            errors.push(FieldError::new(
                format!("spec.ports[{i}].name"),
                format!("duplicate port name {:?}", port.name),
            ));
        }
        if !(1..=65535).contains(&port.container_port) {
            errors.push(FieldError::new(
                format!("spec.ports[{i}].containerPort"),
                format!("must be between 1 and 65535, not {}", port.container_port),
            ));
        } else if !numbers.insert((port.container_port, port.protocol)) {
            errors.push(FieldError::new(
                format!("spec.ports[{i}].containerPort"),
                format!(
                    "port {}/{} is listed twice",
                    port.container_port,
                    port.protocol.as_str()
                ),
            ));
        }
    }
}

fn check_resources(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    let Some(resources) = &spec.resources else {
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
                    format!("spec.resources.{field}.{name}"),
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
                    format!("spec.resources.requests.{name}"),
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

/// Valid ConfigMap and Secret keys: letters, digits, '-', '_', '.', not '.' or '..', ≤ 253.
pub fn is_data_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY_LENGTH
        && key != "."
        && key != ".."
        && key
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn check_config(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    let Some(config) = &spec.config else { return };
    let mut total = 0usize;
    for (key, value) in &config.data {
        if !is_data_key(key) {
            errors.push(FieldError::new(
                format!("spec.config.data[{key}]"),
                "config key must consist of letters, digits, '-', '_' or '.' (at most 253) and must not be '.' or '..'",
            ));
        }
        total += key.len() + value.len();
    }
    if total > MAX_CONFIG_BYTES {
        errors.push(FieldError::new(
            "spec.config.data",
            format!(
                "holds {total} bytes; a ConfigMap holds at most {MAX_CONFIG_BYTES} (keep large files in an image or a volume)"
            ),
        ));
    }
    if let Some(path) = &config.mount_path {
        check_mount_path("spec.config.mountPath", path, errors);
    }
}

fn check_secret(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    let Some(secret) = &spec.secret else { return };
    let mut seen = BTreeSet::new();
    for (i, generated) in secret.generate.iter().enumerate() {
        if !is_data_key(&generated.key) {
            errors.push(FieldError::new(
                format!("spec.secret.generate[{i}].key"),
                format!(
                    "{:?}: secret key must consist of letters, digits, '-', '_' or '.' (at most 253) and must not be '.' or '..'",
                    generated.key
                ),
            ));
        } else if generated.key == crate::build::CONFIG_HASH_KEY {
            errors.push(FieldError::new(
                format!("spec.secret.generate[{i}].key"),
                format!(
                    "{:?} is reserved: the operator keeps the config hash key under this name; choose another key",
                    generated.key
                ),
            ));
        } else if !seen.insert(generated.key.as_str()) {
            errors.push(FieldError::new(
                format!("spec.secret.generate[{i}].key"),
                format!("duplicate key {:?}", generated.key),
            ));
        }
        if !(MIN_SECRET_LENGTH..=MAX_SECRET_LENGTH).contains(&generated.length) {
            errors.push(FieldError::new(
                format!("spec.secret.generate[{i}].length"),
                format!(
                    "must be between {MIN_SECRET_LENGTH} and {MAX_SECRET_LENGTH}, not {}",
                    generated.length
                ),
            ));
        }
    }
    if let Some(path) = &secret.mount_path {
        check_mount_path("spec.secret.mountPath", path, errors);
    }
}

fn check_storage(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    let Some(storage) = &spec.storage else { return };
    if !is_positive_quantity(&storage.size.0) {
        errors.push(FieldError::new(
            "spec.storage.size",
            format!(
                "{:?}: storage.size must be a positive quantity such as 10Gi",
                storage.size.0
            ),
        ));
    }
    if let Some(class) = &storage.storage_class_name {
        if class.chars().count() > MAX_KEY_LENGTH {
            bounds::length(
                errors,
                "spec.storage.storageClassName",
                class,
                MAX_KEY_LENGTH,
            );
        } else if class.is_empty() {
            errors.push(FieldError::new(
                "spec.storage.storageClassName",
                "must not be empty; omit it to use the cluster's default class",
            ));
        } else if !is_dns_subdomain(class) {
            // The API server rejects the claim otherwise.
            errors.push(FieldError::new(
                "spec.storage.storageClassName",
                format!("{class:?}: a storage class name is a DNS subdomain (lowercase letters, digits, '-' and '.')"),
            ));
        }
    }
    check_mount_path("spec.storage.mountPath", &storage.mount_path, errors);
    if spec.replicas > 1 && storage.access_mode != AccessMode::ReadWriteMany {
        errors.push(FieldError::new(
            "spec.storage.accessMode",
            format!(
                "replicas > 1 with storage requires storage.accessMode ReadWriteMany (it is {}, with {} replicas): several disposable pods cannot share a single-writer volume",
                storage.access_mode.as_str(),
                spec.replicas
            ),
        ));
    }
}

fn check_scratch(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    if let Some(scratch) = &spec.scratch
        && !is_positive_quantity(&scratch.size_limit.0)
    {
        errors.push(FieldError::new(
            "spec.scratch.sizeLimit",
            format!(
                "{:?}: scratch.sizeLimit must be a positive quantity such as 64Mi",
                scratch.size_limit.0
            ),
        ));
    }
}

fn check_pod_security(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    let Some(security) = &spec.pod_security else {
        return;
    };
    if let Some(uid) = security.run_as_user {
        if uid < 1 {
            errors.push(FieldError::new(
                "spec.podSecurity.runAsUser",
                format!("must be 1 or more (pods never run as root), not {uid}"),
            ));
        } else if uid > MAX_ID {
            errors.push(FieldError::new(
                "spec.podSecurity.runAsUser",
                format!("must be at most {MAX_ID}, not {uid}"),
            ));
        }
    }
    for (field, value) in [
        ("runAsGroup", security.run_as_group),
        ("fsGroup", security.fs_group),
    ] {
        if let Some(v) = value
            && !(0..=MAX_ID).contains(&v)
        {
            errors.push(FieldError::new(
                format!("spec.podSecurity.{field}"),
                format!("must be between 0 and {MAX_ID}, not {v}"),
            ));
        }
    }
}

fn is_positive_quantity(text: &str) -> bool {
    matches!(quantity::parse(text), Some(q) if q.0 > 0)
}

/// True for an absolute, normalised path that is neither `/` nor `/tmp` or below.
fn mount_path_problem(path: &str) -> Option<&'static str> {
    let normalised = path.len() > 1
        && path.starts_with('/')
        && !path.ends_with('/')
        && path[1..]
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..");
    if !normalised {
        Some(
            "mount path must be an absolute, normalised path (no trailing '/', '.' or '..'), not '/' and not /tmp or below (/tmp is the scratch directory)",
        )
    } else if path == "/tmp" || path.starts_with("/tmp/") {
        Some("mount path must not be /tmp or below: /tmp is the scratch directory")
    } else {
        None
    }
}

fn check_mount_path(field: &str, path: &str, errors: &mut Vec<FieldError>) {
    // PATH_MAX counts bytes, the schema's maxLength characters: bytes is the stricter bound.
    if path.len() > MAX_PATH_LENGTH {
        errors.push(FieldError::new(
            field,
            format!(
                "is {} bytes long; at most {MAX_PATH_LENGTH} are allowed (PATH_MAX)",
                path.len()
            ),
        ));
    } else if let Some(problem) = mount_path_problem(path) {
        errors.push(FieldError::new(field, format!("{path:?}: {problem}")));
    }
}

/// Two paths overlap when one is the other or lies below it.
fn overlaps(a: &str, b: &str) -> bool {
    a == b
        || a.strip_prefix(b).is_some_and(|rest| rest.starts_with('/'))
        || b.strip_prefix(a).is_some_and(|rest| rest.starts_with('/'))
}

fn check_mount_overlaps(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
    let config = spec.config.as_ref().and_then(|c| c.mount_path.as_deref());
    let secret = spec.secret.as_ref().and_then(|s| s.mount_path.as_deref());
    let storage = spec.storage.as_ref().map(|s| s.mount_path.as_str());
    let pairs = [
        ("config", config, "secret", secret),
        ("config", config, "storage", storage),
        ("secret", secret, "storage", storage),
    ];
    for (first, a, second, b) in pairs {
        if let (Some(a), Some(b)) = (a, b)
            && overlaps(a, b)
        {
            errors.push(FieldError::new(
                format!("spec.{second}.mountPath"),
                format!(
                    "{first}.mountPath and {second}.mountPath overlap ({a:?} and {b:?}): each mount needs its own directory"
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    //! Rules CEL does not express; the CEL twins are tested against the CRD in
    //! `tests/crd_schema.rs`.
    use super::*;
    use serde_json::json;

    fn errors(spec: serde_json::Value) -> Vec<String> {
        errors_named("web", spec)
    }

    fn errors_named(name: &str, spec: serde_json::Value) -> Vec<String> {
        let svc: StatelessService = serde_json::from_value(json!({
            "apiVersion": "stateless.dev/v1alpha1", "kind": "StatelessService",
            "metadata": {"name": name}, "spec": spec,
        }))
        .expect("deserializes");
        match validate(&svc) {
            Ok(_) => Vec::new(),
            Err(e) => e.iter().map(ToString::to_string).collect(),
        }
    }

    fn has(errors: &[String], prefix: &str) -> bool {
        errors.iter().any(|e| e.starts_with(prefix))
    }

    #[test]
    fn minimal_spec_is_valid() {
        assert!(errors(json!({"image": "x"})).is_empty());
    }

    #[test]
    fn name_rules() {
        assert!(has(
            &errors_named("", json!({"image": "x"})),
            "metadata.name: a name is required"
        ));
        assert!(errors_named(&"a".repeat(63), json!({"image": "x"})).is_empty());
        assert!(has(
            &errors_named(&"a".repeat(64), json!({"image": "x"})),
            "metadata.name"
        ));
        assert!(has(
            &errors_named(&"a".repeat(253), json!({"image": "x"})),
            "metadata.name"
        ));
        assert!(has(
            &errors_named("-web", json!({"image": "x"})),
            "metadata.name"
        ));
        assert!(has(
            &errors_named("web.v1", json!({"image": "x"})),
            "metadata.name"
        ));
    }

    #[test]
    fn empty_image_and_negative_replicas() {
        let e = errors(json!({"image": "", "replicas": -1}));
        assert!(has(&e, "spec.image: an image is required"), "{e:?}");
        assert!(has(&e, "spec.replicas: must be 0 or more"), "{e:?}");
    }

    #[test]
    fn config_keys_and_size() {
        let e = errors(
            json!({"image": "x", "config": {"data": {"bad key": "v", "..": "v", "ok.key_1-2": "v"}}}),
        );
        assert!(has(&e, "spec.config.data[bad key]: config key"), "{e:?}");
        assert!(has(&e, "spec.config.data[..]: config key"), "{e:?}");
        assert_eq!(e.len(), 2, "{e:?}");
        let big = "x".repeat(MAX_CONFIG_BYTES + 1);
        let e = errors(json!({"image": "x", "config": {"data": {"big": big}}}));
        assert!(has(&e, "spec.config.data: holds"), "{e:?}");
    }

    #[test]
    fn duplicate_ports_env_and_keys() {
        let e = errors(json!({"image": "x",
            "ports": [{"name": "http", "containerPort": 80}, {"name": "http", "containerPort": 81},
                      {"name": "metrics", "containerPort": 80}, {"name": "udp", "containerPort": 80, "protocol": "UDP"}],
            "env": [{"name": "A"}, {"name": "A", "value": "2"}],
            "secret": {"generate": [{"key": "k", "length": 16}, {"key": "k", "length": 20}]}}));
        assert!(has(&e, "spec.ports[1].name: duplicate port name"), "{e:?}");
        assert!(
            has(
                &e,
                "spec.ports[2].containerPort: port 80/TCP is listed twice"
            ),
            "{e:?}"
        );
        assert!(
            !has(&e, "spec.ports[3]"),
            "same number over UDP is fine: {e:?}"
        );
        assert!(
            has(&e, "spec.env[1].name: duplicate environment variable"),
            "{e:?}"
        );
        assert!(
            has(&e, "spec.secret.generate[1].key: duplicate key"),
            "{e:?}"
        );
    }

    #[test]
    fn the_config_hash_key_is_reserved() {
        let e = errors(json!({"image": "x", "secret": {"generate": [
            {"key": crate::build::CONFIG_HASH_KEY, "length": 16}]}}));
        assert!(
            has(
                &e,
                "spec.secret.generate[0].key: \".stateless.dev-config-hash-key\" is reserved"
            ),
            "{e:?}"
        );
    }

    #[test]
    fn port_bounds() {
        let e = errors(
            json!({"image": "x", "ports": [{"name": "a", "containerPort": 0}, {"name": "b", "containerPort": 65536}]}),
        );
        assert!(has(&e, "spec.ports[0].containerPort"), "{e:?}");
        assert!(has(&e, "spec.ports[1].containerPort"), "{e:?}");
        let e = errors(
            json!({"image": "x", "ports": [{"name": "abcdefghijklmnop", "containerPort": 1}]}),
        );
        assert!(
            has(&e, "spec.ports[0].name"),
            "16 characters is too long: {e:?}"
        );
    }

    #[test]
    fn probes_need_exactly_one_handler() {
        let e = errors(json!({"image": "x", "readinessProbe": {"periodSeconds": 3},
            "livenessProbe": {"exec": {"command": ["true"]}, "tcpSocket": {"port": 1}}}));
        assert!(
            has(&e, "spec.readinessProbe: a probe needs exactly one"),
            "{e:?}"
        );
        assert!(
            has(&e, "spec.livenessProbe: a probe needs exactly one"),
            "{e:?}"
        );
    }

    #[test]
    fn resources_are_quantities_and_requests_fit_limits() {
        let e = errors(json!({"image": "x", "resources": {
            "limits": {"memory": "1Gi", "cpu": "lots"}, "requests": {"memory": "2Gi"}}}));
        assert!(has(&e, "spec.resources.limits.cpu"), "{e:?}");
        assert!(
            has(
                &e,
                "spec.resources.requests.memory: request 2Gi is greater than the limit 1Gi"
            ),
            "{e:?}"
        );
    }

    #[test]
    fn secret_lengths_and_count() {
        let e = errors(
            json!({"image": "x", "secret": {"generate": [{"key": "a", "length": 15}, {"key": "b", "length": 4097}]}}),
        );
        assert!(has(&e, "spec.secret.generate[0].length"), "{e:?}");
        assert!(has(&e, "spec.secret.generate[1].length"), "{e:?}");
        let many: Vec<_> = (0..65)
            .map(|i| json!({"key": format!("k{i}"), "length": 16}))
            .collect();
        let e = errors(json!({"image": "x", "secret": {"generate": many}}));
        assert!(has(&e, "spec.secret.generate: lists 65 keys"), "{e:?}");
    }

    #[test]
    fn pod_security_never_root() {
        let e = errors(json!({"image": "x", "podSecurity": {"runAsUser": 0, "fsGroup": -1}}));
        assert!(
            has(&e, "spec.podSecurity.runAsUser: must be 1 or more"),
            "{e:?}"
        );
        assert!(has(&e, "spec.podSecurity.fsGroup"), "{e:?}");
        // The API server accepts ids up to 2^31 - 1 only.
        let e = errors(
            json!({"image": "x", "podSecurity": {"runAsUser": 2147483648_i64, "runAsGroup": 2147483648_i64}}),
        );
        assert!(has(&e, "spec.podSecurity.runAsUser"), "{e:?}");
        assert!(has(&e, "spec.podSecurity.runAsGroup"), "{e:?}");
        let e =
            errors(json!({"image": "x", "podSecurity": {"runAsUser": 2147483647, "fsGroup": 0}}));
        assert!(e.is_empty(), "{e:?}");
    }

    #[test]
    fn env_names_are_printable_ascii() {
        let e = errors(
            json!({"image": "x", "env": [{"name": "A b.c-1"}, {"name": "é"}, {"name": "A\nB"}]}),
        );
        assert!(!has(&e, "spec.env[0]"), "{e:?}");
        assert!(has(&e, "spec.env[1].name"), "{e:?}");
        assert!(has(&e, "spec.env[2].name"), "{e:?}");
    }

    #[test]
    fn storage_class_must_not_be_empty_and_paths_are_bounded() {
        let e = errors(
            json!({"image": "x", "replicas": 1, "storage": {"size": "1Gi", "mountPath": "/d", "storageClassName": ""}}),
        );
        assert!(
            has(&e, "spec.storage.storageClassName: must not be empty"),
            "{e:?}"
        );
        for class in ["Fast", "fast ssd", "fast-", "a..b"] {
            let e = errors(
                json!({"image": "x", "replicas": 1, "storage": {"size": "1Gi", "mountPath": "/d", "storageClassName": class}}),
            );
            assert!(has(&e, "spec.storage.storageClassName"), "{class}: {e:?}");
        }
        let long = format!("/{}", "a".repeat(MAX_PATH_LENGTH));
        let e = errors(
            json!({"image": "x", "replicas": 1, "storage": {"size": "1Gi", "mountPath": long}}),
        );
        assert!(has(&e, "spec.storage.mountPath"), "{e:?}");
    }

    #[test]
    fn zero_replicas_with_single_writer_storage_is_fine() {
        assert!(
            errors(
                json!({"image": "x", "replicas": 0, "storage": {"size": "1Gi", "mountPath": "/d"}})
            )
            .is_empty()
        );
    }

    #[test]
    fn similar_prefixes_do_not_overlap() {
        let e = errors(json!({"image": "x", "replicas": 1,
            "config": {"mountPath": "/etc/app"}, "secret": {"mountPath": "/etc/application"},
            "storage": {"size": "1Gi", "mountPath": "/etc/app-data"}}));
        assert!(e.is_empty(), "{e:?}");
    }

    #[test]
    fn summary_joins_every_error() {
        let errs = vec![FieldError::new("a", "x"), FieldError::new("b", "y")];
        assert_eq!(summarize(&errs), "a: x; b: y");
    }
}
