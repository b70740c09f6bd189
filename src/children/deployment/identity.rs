//! The pods' identity: which ServiceAccount they run as and, only with
//! `serviceAccount.automountToken: true`, the token volume.
//!
//! The kubelet's own token volume is never used (`automountServiceAccountToken: false` stays on
//! the pod): it would mount a token bound to the API server's audience that lives an hour and
//! more. Instead a projected volume with the same three files the kubelet's has (`token`,
//! `ca.crt` from the `kube-root-ca.crt` ConfigMap, `namespace` from the downward API), with the
//! audience and lifetime from the spec, read-only at the path client libraries look at. Pure.

use k8s_openapi::api::core::v1::{
    ConfigMapProjection, DownwardAPIProjection, DownwardAPIVolumeFile, KeyToPath,
    ObjectFieldSelector, ProjectedVolumeSource, ServiceAccountTokenProjection, Volume,
    VolumeMount, VolumeProjection,
};

use crate::children::service_account;
use crate::crd::{SERVICE_ACCOUNT_TOKEN_PATH, StatelessServiceSpec};

/// Name of the projected token volume.
pub const TOKEN_VOLUME: &str = "token";
/// The ConfigMap every namespace holds with the cluster's CA (published by the API server's
/// root-CA publisher), which the kubelet's own token volume mounts too.
pub const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";

/// `serviceAccountName` of the pods: the service's ServiceAccount when it has one (else the
/// namespace's `default`, as before).
pub fn service_account_name(spec: &StatelessServiceSpec, service: &str) -> Option<String> {
    spec.service_account
        .as_ref()
        .map(|_| service_account::name(service))
}

fn wants_token(spec: &StatelessServiceSpec) -> bool {
    spec.service_account
        .as_ref()
        .is_some_and(|a| a.automount_token)
}

/// The token volume, when a token is asked for.
pub fn token_volume(spec: &StatelessServiceSpec) -> Option<Volume> {
    let account = spec.service_account.as_ref().filter(|a| a.automount_token)?;
    let sources = vec![
        VolumeProjection {
            service_account_token: Some(ServiceAccountTokenProjection {
                audience: account.audience.clone(),
                expiration_seconds: Some(account.expiration_seconds),
                path: "token".to_string(),
                ..ServiceAccountTokenProjection::default()
            }),
            ..VolumeProjection::default()
        },
        VolumeProjection {
            config_map: Some(ConfigMapProjection {
                name: ROOT_CA_CONFIG_MAP.to_string(),
                items: Some(vec![KeyToPath {
                    key: "ca.crt".to_string(),
                    path: "ca.crt".to_string(),
                    ..KeyToPath::default()
                }]),
                optional: None,
            }),
            ..VolumeProjection::default()
        },
        VolumeProjection {
            downward_api: Some(DownwardAPIProjection {
                items: Some(vec![DownwardAPIVolumeFile {
                    path: "namespace".to_string(),
                    field_ref: Some(ObjectFieldSelector {
                        api_version: Some("v1".to_string()),
                        field_path: "metadata.namespace".to_string(),
                    }),
                    ..DownwardAPIVolumeFile::default()
                }]),
            }),
            ..VolumeProjection::default()
        },
    ];
    Some(Volume {
        name: TOKEN_VOLUME.to_string(),
        projected: Some(ProjectedVolumeSource {
            // Readable by whichever user the image runs as, as the secret volume.
            default_mode: Some(0o444),
            sources: Some(sources),
            ..ProjectedVolumeSource::default()
        }),
        ..Volume::default()
    })
}

/// Its read-only mount, when a token is asked for.
pub fn token_mount(spec: &StatelessServiceSpec) -> Option<VolumeMount> {
    wants_token(spec).then(|| VolumeMount {
        name: TOKEN_VOLUME.to_string(),
        mount_path: SERVICE_ACCOUNT_TOKEN_PATH.to_string(),
        read_only: Some(true),
        ..VolumeMount::default()
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn spec(v: Value) -> StatelessServiceSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn no_token_unless_asked_for() {
        let none = spec(json!({"image": "x"}));
        assert_eq!(service_account_name(&none, "web"), None);
        assert!(token_volume(&none).is_none() && token_mount(&none).is_none());
        let unmounted = spec(json!({"image": "x", "serviceAccount": {}}));
        assert_eq!(service_account_name(&unmounted, "web").as_deref(), Some("web"));
        assert!(token_volume(&unmounted).is_none() && token_mount(&unmounted).is_none());
    }

    #[test]
    fn the_token_is_projected_bound_and_expiring_like_the_kubelets() {
        let s = spec(json!({"image": "x", "serviceAccount": {
            "automountToken": true, "audience": "vault", "expirationSeconds": 900}}));
        let volume = serde_json::to_value(token_volume(&s).unwrap()).unwrap();
        assert_eq!(
            volume,
            json!({"name": "token", "projected": {"defaultMode": 0o444, "sources": [
                {"serviceAccountToken": {"audience": "vault", "expirationSeconds": 900, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ]}})
        );
        let mount = token_mount(&s).unwrap();
        assert_eq!(mount.mount_path, "/var/run/secrets/kubernetes.io/serviceaccount");
        assert_eq!(mount.read_only, Some(true));
    }
}
