//! How the pods use ConfigMaps and Secrets other tools own (`config.from`, `secret.from`):
//! read-only volumes and `envFrom` entries, exactly like the operator's own two.
//!
//! Volume names are by position (`config-from-0`, `secret-from-0`, ...): a referenced name is a
//! DNS subdomain of up to 253 characters and a volume name a DNS label of at most 63. The
//! objects themselves are never written; whether they exist, and their data for the config hash,
//! is `crate::references`' business. Pure.

use k8s_openapi::api::core::v1::{
    ConfigMapEnvSource, ConfigMapVolumeSource, EnvFromSource, SecretEnvSource,
    SecretVolumeSource, Volume, VolumeMount,
};

use crate::crd::{ExternalRef, StatelessServiceSpec};

fn config_refs(spec: &StatelessServiceSpec) -> &[ExternalRef] {
    spec.config.as_ref().map(|c| c.from.as_slice()).unwrap_or_default()
}

fn secret_refs(spec: &StatelessServiceSpec) -> &[ExternalRef] {
    spec.secret.as_ref().map(|s| s.from.as_slice()).unwrap_or_default()
}

/// Name of the volume of `config.from[index]`.
pub fn config_volume(index: usize) -> String {
    format!("config-from-{index}")
}

/// Name of the volume of `secret.from[index]`.
pub fn secret_volume(index: usize) -> String {
    format!("secret-from-{index}")
}

/// Volumes of the mounted references.
pub fn volumes(spec: &StatelessServiceSpec) -> Vec<Volume> {
    let mut out = Vec::new();
    for (i, r) in config_refs(spec).iter().enumerate() {
        if r.mount_path.is_some() {
            out.push(Volume {
                name: config_volume(i),
                config_map: Some(ConfigMapVolumeSource {
                    name: r.name.clone(),
                    optional: Some(false),
                    ..ConfigMapVolumeSource::default()
                }),
                ..Volume::default()
            });
        }
    }
    for (i, r) in secret_refs(spec).iter().enumerate() {
        if r.mount_path.is_some() {
            out.push(Volume {
                name: secret_volume(i),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(r.name.clone()),
                    optional: Some(false),
                    default_mode: Some(0o444),
                    ..SecretVolumeSource::default()
                }),
                ..Volume::default()
            });
        }
    }
    out
}

/// Their read-only mounts.
pub fn mounts(spec: &StatelessServiceSpec) -> Vec<VolumeMount> {
    let mount = |name: String, path: &str| VolumeMount {
        name,
        mount_path: path.to_string(),
        read_only: Some(true),
        ..VolumeMount::default()
    };
    let config = config_refs(spec)
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Some(mount(config_volume(i), r.mount_path.as_deref()?)));
    let secret = secret_refs(spec)
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Some(mount(secret_volume(i), r.mount_path.as_deref()?)));
    config.chain(secret).collect()
}

/// `envFrom` entries of the references with `env: true`, after the operator's own (a later
/// source wins where two define a variable).
pub fn env_from(spec: &StatelessServiceSpec) -> Vec<EnvFromSource> {
    let config = config_refs(spec).iter().filter(|r| r.env).map(|r| EnvFromSource {
        config_map_ref: Some(ConfigMapEnvSource {
            name: r.name.clone(),
            optional: Some(false),
        }),
        ..EnvFromSource::default()
    });
    let secret = secret_refs(spec).iter().filter(|r| r.env).map(|r| EnvFromSource {
        secret_ref: Some(SecretEnvSource {
            name: r.name.clone(),
            optional: Some(false),
        }),
        ..EnvFromSource::default()
    });
    config.chain(secret).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn references_are_mounted_read_only_and_exposed_like_our_own() {
        let spec: StatelessServiceSpec = serde_json::from_value(json!({"image": "x",
            "config": {"from": [{"name": "shared", "mountPath": "/etc/shared"}, {"name": "flags", "env": true}]},
            "secret": {"from": [{"name": "db.credentials", "mountPath": "/var/run/db", "env": true}]}}))
        .unwrap();
        let v = serde_json::to_value(volumes(&spec)).unwrap();
        assert_eq!(
            v,
            json!([
                {"name": "config-from-0", "configMap": {"name": "shared", "optional": false}},
                {"name": "secret-from-0", "secret": {"secretName": "db.credentials", "optional": false, "defaultMode": 0o444}},
            ])
        );
        let m = serde_json::to_value(mounts(&spec)).unwrap();
        assert_eq!(
            m,
            json!([
                {"name": "config-from-0", "mountPath": "/etc/shared", "readOnly": true},
                {"name": "secret-from-0", "mountPath": "/var/run/db", "readOnly": true},
            ])
        );
        let e = serde_json::to_value(env_from(&spec)).unwrap();
        assert_eq!(
            e,
            json!([
                {"configMapRef": {"name": "flags", "optional": false}},
                {"secretRef": {"name": "db.credentials", "optional": false}},
            ])
        );
    }
}
