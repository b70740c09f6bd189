//! The pure validation step: is this StatelessService one the operator can build?
//!
//! `validate` enforces every rule the CRD's CEL expressions enforce at admission (so a file
//! rendered offline, or an object stored before a rule existed, gets the same answer) plus what
//! CEL cannot express cheaply (ConfigMap key syntax and size, probe handlers, port uniqueness,
//! label and annotation syntax, CIDRs, overlaps of the `from` mounts).
//! `validate_update` mirrors the CEL transition rules (rules on `oldSelf`); `bounds` mirrors the
//! schema's size bounds (`maxItems`, `maxProperties`, `maxLength`).
//! Every problem is reported with its field path; nothing here does I/O or builds objects.
//!
//! One file per part of the spec, as in `crd`: `container` (the main container, sidecars and
//! init containers), `state` (config, secret, storage, mounts), `expose` (Service, route),
//! `scale` (autoscaling, rollout), `identity` (service account), `network`, and `meta` (label
//! and annotation syntax).

mod bounds;
mod container;
mod expose;
mod identity;
mod meta;
mod network;
mod scale;
mod state;

use std::fmt;

use crate::crd::{StatelessService, StatelessServiceSpec};
use crate::quantity;

pub use bounds::status_errors;
pub use meta::{MAX_ANNOTATION_BYTES, is_label_value, is_qualified_name};
pub use state::{MAX_CONFIG_BYTES, MAX_ID, is_data_key};

/// Longest StatelessService name: it is the `stateless.dev/service` label value (63 at most).
pub const MAX_NAME_LENGTH: usize = 63;

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
    check_spec(&service.spec, name, &mut errors);
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

fn check_spec(spec: &StatelessServiceSpec, name: &str, errors: &mut Vec<FieldError>) {
    container::check_image("spec.image", &spec.image, errors);
    if spec.replicas < 0 {
        errors.push(FieldError::new(
            "spec.replicas",
            format!("must be 0 or more, not {}", spec.replicas),
        ));
    }
    container::check_main(spec, errors);
    state::check_config(spec, name, errors);
    state::check_secret(spec, name, errors);
    state::check_storage(spec, errors);
    state::check_scratch(spec, errors);
    state::check_pod_security(spec, errors);
    state::check_mount_overlaps(spec, errors);
    expose::check_service(spec, errors);
    expose::check_route(spec, errors);
    scale::check_autoscaling(spec, errors);
    scale::check_rollout(spec, errors);
    identity::check_service_account(spec, errors);
    network::check_network(spec, errors);
    container::check_extra(spec, errors);
    bounds::check_spec(spec, errors);
}

/// Helpers for the unit tests of every part.
#[cfg(test)]
mod testing {
    use super::*;
    use serde_json::json;

    /// `validate`'s errors for a service named `web` with this spec, as `path: message`.
    pub(super) fn errors(spec: serde_json::Value) -> Vec<String> {
        errors_named("web", spec)
    }

    pub(super) fn errors_named(name: &str, spec: serde_json::Value) -> Vec<String> {
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

    /// Some error starts with `prefix`.
    pub(super) fn has(errors: &[String], prefix: &str) -> bool {
        errors.iter().any(|e| e.starts_with(prefix))
    }
}

#[cfg(test)]
mod tests {
    //! Rules CEL does not express; the CEL twins are tested against the CRD in
    //! `tests/crd_schema.rs`.
    use super::testing::{errors, errors_named, has};
    use super::*;
    use crate::crd::MAX_PATH_LENGTH;
    use serde_json::json;

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
