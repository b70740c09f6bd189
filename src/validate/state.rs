//! Where the state lives: config and secret data (own and other tools'), the data volume, the
//! scratch directory, the pod's ids, and the mount paths of all of them.

use std::collections::BTreeSet;

use super::{FieldError, bounds, is_dns_subdomain};
use crate::crd::{
    AccessMode, ExternalRef, MAX_KEY_LENGTH, MAX_OBJECT_NAME_LENGTH, MAX_PATH_LENGTH,
    MAX_SECRET_LENGTH, MIN_SECRET_LENGTH, SERVICE_ACCOUNT_TOKEN_PATH, StatelessServiceSpec,
};
use crate::quantity;

/// Largest total size of `config.data` (a ConfigMap holds at most 1 MiB, metadata included).
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024 - 16 * 1024;
/// Largest user or group id the API server accepts in a pod's securityContext (2^31 - 1).
pub const MAX_ID: i64 = i32::MAX as i64;

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

pub(super) fn check_config(spec: &StatelessServiceSpec, name: &str, errors: &mut Vec<FieldError>) {
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
    check_external_refs(
        "spec.config.from",
        &config.from,
        // `children::config_map::name`.
        &format!("{name}-config"),
        errors,
    );
}

pub(super) fn check_secret(spec: &StatelessServiceSpec, name: &str, errors: &mut Vec<FieldError>) {
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
    check_external_refs(
        "spec.secret.from",
        &secret.from,
        // `children::secret::name`.
        &format!("{name}-secret"),
        errors,
    );
}

/// `config.from` / `secret.from`: valid, unique names other than the operator's own object
/// (`own`), each entry mounted or used as environment.
fn check_external_refs(path: &str, refs: &[ExternalRef], own: &str, errors: &mut Vec<FieldError>) {
    let mut seen = BTreeSet::new();
    for (i, r) in refs.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let bounded = r.name.chars().count() <= MAX_OBJECT_NAME_LENGTH;
        if bounded && !is_dns_subdomain(&r.name) {
            errors.push(FieldError::new(
                format!("{at}.name"),
                format!(
                    "{:?}: a ConfigMap or Secret name is a DNS subdomain (lowercase letters, digits, '-' and '.')",
                    r.name
                ),
            ));
        } else if r.name == own {
            errors.push(FieldError::new(
                format!("{at}.name"),
                format!(
                    "{own:?} is this service's own object, which the operator writes and mounts already: list only objects other tools own"
                ),
            ));
        } else if !seen.insert(r.name.as_str()) {
            errors.push(FieldError::new(
                format!("{at}.name"),
                format!("duplicate reference {:?}", r.name),
            ));
        }
        if let Some(mount) = &r.mount_path {
            check_mount_path(&format!("{at}.mountPath"), mount, errors);
        } else if !r.env {
            errors.push(FieldError::new(
                at,
                "a reference needs mountPath or env: true, or nothing would use it",
            ));
        }
    }
}

pub(super) fn check_storage(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
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
    let shared = storage.access_mode == AccessMode::ReadWriteMany;
    match &spec.autoscaling {
        // With autoscaling, `replicas` is not used: the most pods there can be is maxReplicas.
        Some(autoscaling) if autoscaling.max_replicas > 1 && !shared => {
            errors.push(FieldError::new(
                "spec.storage.accessMode",
                format!(
                    "autoscaling.maxReplicas > 1 with storage requires storage.accessMode ReadWriteMany (it is {}, with maxReplicas {}): several disposable pods cannot share a single-writer volume",
                    storage.access_mode.as_str(),
                    autoscaling.max_replicas
                ),
            ));
        }
        None if spec.replicas > 1 && !shared => {
            errors.push(FieldError::new(
                "spec.storage.accessMode",
                format!(
                    "replicas > 1 with storage requires storage.accessMode ReadWriteMany (it is {}, with {} replicas): several disposable pods cannot share a single-writer volume",
                    storage.access_mode.as_str(),
                    spec.replicas
                ),
            ));
        }
        _ => {}
    }
}

pub(super) fn check_scratch(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
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

pub(super) fn check_pod_security(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
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

/// What is wrong with a mount path, if anything: it must be absolute and normalised, and
/// neither `/` nor `/tmp` or below.
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

/// The mount paths of `<kind>.from`, by field.
fn from_mounts<'a>(kind: &str, refs: Option<&'a [ExternalRef]>) -> Vec<(String, &'a str)> {
    refs.into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, r)| {
            r.mount_path
                .as_deref()
                .map(|p| (format!("{kind}.from[{i}].mountPath"), p))
        })
        .collect()
}

/// No two mounts share a directory, and none overlaps the service-account token's.
///
/// The pairs of `config`, `secret` and `storage` mirror CEL rules; the `from` entries and the
/// token path are checked here only (their CEL cost would grow with the square of the lists).
pub(super) fn check_mount_overlaps(spec: &StatelessServiceSpec, errors: &mut Vec<FieldError>) {
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
    // Every mount, by its field (without `spec.`), in the order the pod gets them.
    let mut mounts: Vec<(String, &str)> = [
        ("config.mountPath", config),
        ("secret.mountPath", secret),
        ("storage.mountPath", storage),
    ]
    .into_iter()
    .filter_map(|(field, path)| path.map(|p| (field.to_string(), p)))
    .collect();
    let config_from = from_mounts("config", spec.config.as_ref().map(|c| c.from.as_slice()));
    let secret_from = from_mounts("secret", spec.secret.as_ref().map(|s| s.from.as_slice()));
    for (field, path) in config_from.into_iter().chain(secret_from) {
        if let Some((other, other_path)) = mounts.iter().find(|(_, p)| overlaps(p, path)) {
            errors.push(FieldError::new(
                format!("spec.{field}"),
                format!(
                    "{other} and {field} overlap ({other_path:?} and {path:?}): each mount needs its own directory"
                ),
            ));
        }
        mounts.push((field, path));
    }
    if spec
        .service_account
        .as_ref()
        .is_some_and(|a| a.automount_token)
    {
        for (field, path) in &mounts {
            if overlaps(path, SERVICE_ACCOUNT_TOKEN_PATH) {
                errors.push(FieldError::new(
                    format!("spec.{field}"),
                    format!(
                        "{path:?} overlaps {SERVICE_ACCOUNT_TOKEN_PATH}, where serviceAccount.automountToken mounts the token: each mount needs its own directory"
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The `from` references and mounts, and the token path: rules `validate` holds alone.
    use super::super::testing::{errors, has};
    use serde_json::json;

    #[test]
    fn references_are_foreign_and_unique() {
        let e = errors(json!({"image": "x",
            "config": {"from": [{"name": "web-config", "env": true}, {"name": "flags", "env": true},
                {"name": "flags", "mountPath": "/etc/flags"}]},
            "secret": {"from": [{"name": "web-secret", "env": true}, {"name": "web-config", "env": true}]}}));
        assert!(
            has(
                &e,
                "spec.config.from[0].name: \"web-config\" is this service's own object"
            ),
            "{e:?}"
        );
        assert!(
            has(
                &e,
                "spec.config.from[2].name: duplicate reference \"flags\""
            ),
            "{e:?}"
        );
        assert!(
            has(
                &e,
                "spec.secret.from[0].name: \"web-secret\" is this service's own object"
            ),
            "{e:?}"
        );
        // A Secret may share a name with a ConfigMap.
        assert!(!has(&e, "spec.secret.from[1]"), "{e:?}");
        assert_eq!(e.len(), 3, "{e:?}");
    }

    #[test]
    fn foreign_mounts_overlap_nothing() {
        let e = errors(json!({"image": "x", "replicas": 1,
            "config": {"mountPath": "/etc/app", "from": [
                {"name": "a", "mountPath": "/etc/app/extra"},
                {"name": "b", "mountPath": "/etc/b"}]},
            "secret": {"from": [{"name": "c", "mountPath": "/etc/b"},
                {"name": "d", "mountPath": "/data"}, {"name": "e", "mountPath": "/etc/bee"}]},
            "storage": {"size": "1Gi", "mountPath": "/data/db"}}));
        assert_eq!(
            e,
            [
                "spec.config.from[0].mountPath: config.mountPath and config.from[0].mountPath overlap (\"/etc/app\" and \"/etc/app/extra\"): each mount needs its own directory",
                "spec.secret.from[0].mountPath: config.from[1].mountPath and secret.from[0].mountPath overlap (\"/etc/b\" and \"/etc/b\"): each mount needs its own directory",
                "spec.secret.from[1].mountPath: storage.mountPath and secret.from[1].mountPath overlap (\"/data/db\" and \"/data\"): each mount needs its own directory",
            ]
        );
    }

    #[test]
    fn a_mounted_token_has_its_own_directory() {
        let spec = |automount: bool| {
            json!({"image": "x", "serviceAccount": {"automountToken": automount},
                "secret": {"mountPath": "/var/run/secrets"},
                "config": {"from": [{"name": "a", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount/extra"}]}})
        };
        let e = errors(spec(true));
        assert!(
            has(
                &e,
                "spec.secret.mountPath: \"/var/run/secrets\" overlaps /var/run/secrets/kubernetes.io/serviceaccount"
            ),
            "{e:?}"
        );
        assert!(
            has(
                &e,
                "spec.config.from[0].mountPath: \"/var/run/secrets/kubernetes.io/serviceaccount/extra\" overlaps"
            ),
            "{e:?}"
        );
        // Without a token nothing is mounted there (but the two mounts still overlap).
        let e = errors(spec(false));
        assert!(!e.iter().any(|e| e.contains("automountToken")), "{e:?}");
    }

    #[test]
    fn with_autoscaling_max_replicas_decide_about_single_writer_storage() {
        let spec = |max: i32, replicas: i32| {
            json!({"image": "x", "replicas": replicas, "resources": {"requests": {"cpu": "1"}},
                "autoscaling": {"maxReplicas": max, "cpuUtilization": 50},
                "storage": {"size": "1Gi", "mountPath": "/data"}})
        };
        assert!(errors(spec(1, 5)).is_empty(), "replicas do not count");
        let e = errors(spec(2, 1));
        assert_eq!(
            e,
            [
                "spec.storage.accessMode: autoscaling.maxReplicas > 1 with storage requires storage.accessMode ReadWriteMany (it is ReadWriteOnce, with maxReplicas 2): several disposable pods cannot share a single-writer volume"
            ]
        );
    }
}
