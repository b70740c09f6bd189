//! `<name>`: the Deployment, where the statelessness contract is written down.
//!
//! A read-only root filesystem, `/tmp` as a size-limited emptyDir, the data claim as the only
//! other writable mount, config and secret (ours and the referenced ones) mounted read-only,
//! restricted Pod Security settings, no service-account token but the projected one asked for,
//! and declared sidecars and init containers under the same rules (the `deployment/` files).
//! What others add to a live Deployment against the contract (volumes, containers, mounts,
//! capabilities) is found by [`crate::planning::contract_violations`] and stripped. The pod
//! template carries the config hash, so pods roll when config or secret data changes. With
//! `autoscaling` it is built without `replicas` (the autoscaler owns them; see
//! [`super::autoscaler`] for the hand-over), and it rolls with `rollout.maxSurge`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapEnvSource, ConfigMapVolumeSource, Container, EmptyDirVolumeSource,
    EnvFromSource, EnvVar, PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec,
    PodTemplateSpec, SeccompProfile, SecretEnvSource, SecretVolumeSource, SecurityContext,
    TopologySpreadConstraint, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::{APPLIED, Child, autoscaler, claim, config_map, secret};
use crate::build::{ANNOTATION_CONFIG_HASH, Inputs, labels, meta, selector};
use crate::crd::{AccessMode, ScratchSpec, StatelessServiceSpec};
use crate::planning::{Violation, contract_violations};
use crate::validate::Valid;

mod extra;
mod identity;
mod references;

pub use extra::SIDECAR_RESTART_POLICY;
pub use identity::{ROOT_CA_CONFIG_MAP, TOKEN_VOLUME};
pub use references::{config_volume, secret_volume};

/// Name of the one application container.
pub const CONTAINER_NAME: &str = "app";
/// Where the scratch emptyDir is mounted.
pub const SCRATCH_PATH: &str = "/tmp";

/// Volume names: the only volumes a pod of a StatelessService may have.
pub mod volumes {
    /// The `/tmp` scratch emptyDir.
    pub const SCRATCH: &str = "scratch";
    /// The ConfigMap, read-only.
    pub const CONFIG: &str = "config";
    /// The Secret, read-only.
    pub const SECRET: &str = "secret";
    /// The data claim, read-write.
    pub const DATA: &str = "data";
}


/// The Deployment child.
pub struct Rules;

/// Its name: the service's own.
pub fn name(service: &str) -> String {
    service.to_string()
}

impl Child for Rules {
    type Object = Deployment;
    type Built = Deployment;
    const VERBS: &'static [&'static str] = APPLIED;
    const COMPARED: &'static [&'static str] = &["metadata", "spec"];

    fn name(service: &str) -> String {
        name(service)
    }
    fn wanted(_spec: &StatelessServiceSpec) -> bool {
        true
    }
    fn build(inputs: &Inputs<'_>) -> Deployment {
        build_deployment(inputs.valid, &inputs.config_hash)
    }
    fn object(built: &Deployment) -> Option<&Deployment> {
        Some(built)
    }
    fn violations(desired: &Value, live: &Value) -> Vec<Violation> {
        contract_violations(desired, live)
    }
}

fn build_deployment(valid: Valid<'_>, config_hash: &str) -> Deployment {
    let spec = valid.spec();
    let single_writer_volume = spec
        .storage
        .as_ref()
        .is_some_and(|s| s.access_mode != AccessMode::ReadWriteMany);
    // A rolling update starts the new pod before the old one stops; with a single-writer volume
    // the new pod would wait for the volume for ever, so such services are recreated instead.
    let strategy = if single_writer_volume {
        DeploymentStrategy {
            type_: Some("Recreate".to_string()),
            rolling_update: None,
        }
    } else {
        DeploymentStrategy {
            type_: Some("RollingUpdate".to_string()),
            rolling_update: Some(RollingUpdateDeployment {
                max_unavailable: Some(IntOrString::Int(0)),
                max_surge: Some(spec.rollout.clone().unwrap_or_default().max_surge),
            }),
        }
    };
    let pod_labels = labels(valid.name());
    let template = PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(pod_labels),
            annotations: Some(BTreeMap::from([(
                ANNOTATION_CONFIG_HASH.to_string(),
                config_hash.to_string(),
            )])),
            ..ObjectMeta::default()
        }),
        spec: Some(pod_spec(valid)),
    };
    let mut metadata = meta::<Rules>(valid);
    // With autoscaling the autoscaler owns the count (see `autoscaler` for the hand-over).
    let replicas = match spec.autoscaling {
        Some(_) => {
            metadata.annotations = Some(autoscaler::owner_annotation());
            None
        }
        None => Some(spec.replicas),
    };
    Deployment {
        metadata,
        spec: DeploymentSpec {
            replicas,
            selector: selector(valid.name()),
            strategy: Some(strategy),
            template,
            ..DeploymentSpec::default()
        },
        ..Deployment::default()
    }
}

fn pod_spec(valid: Valid<'_>) -> PodSpec {
    let spec = valid.spec();
    let security = spec.pod_security.clone().unwrap_or_default();
    PodSpec {
        containers: vec![container(valid)],
        init_containers: extra::init_containers(spec, &volume_mounts(valid)),
        volumes: Some(volumes(valid)),
        service_account_name: identity::service_account_name(spec, valid.name()),
        // Never the kubelet's token volume; a projected one when asked for (see `identity`).
        automount_service_account_token: Some(false),
        // Set explicitly (not left to defaults) so that the operator owns these fields and a
        // forced apply takes them back from anyone who flips them.
        host_network: Some(false),
        host_pid: Some(false),
        host_ipc: Some(false),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: security.run_as_user,
            run_as_group: security.run_as_group,
            fs_group: security.fs_group,
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_string(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        }),
        topology_spread_constraints: Some(vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: "kubernetes.io/hostname".to_string(),
            // ScheduleAnyway: spreading is a preference; a one-node cluster must still run.
            when_unsatisfiable: "ScheduleAnyway".to_string(),
            label_selector: Some(selector(valid.name())),
            ..TopologySpreadConstraint::default()
        }]),
        ..PodSpec::default()
    }
}

/// The container's security context: the restricted Pod Security profile plus a read-only root.
pub fn container_security_context() -> SecurityContext {
    SecurityContext {
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_string()]),
            add: None,
        }),
        ..SecurityContext::default()
    }
}

fn container(valid: Valid<'_>) -> Container {
    let spec = valid.spec();
    let env: Vec<EnvVar> = spec
        .env
        .iter()
        .flatten()
        .map(|v| EnvVar {
            name: v.name.clone(),
            value: v.value.clone(),
            value_from: None,
        })
        .collect();
    let mut env_from = Vec::new();
    if spec.config.as_ref().is_some_and(|c| c.env) {
        env_from.push(EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: config_map::name(valid.name()),
                optional: Some(false),
            }),
            ..EnvFromSource::default()
        });
    }
    if spec.secret.as_ref().is_some_and(|s| s.env) {
        env_from.push(EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name: secret::name(valid.name()),
                optional: Some(false),
            }),
            ..EnvFromSource::default()
        });
    }
    env_from.extend(references::env_from(spec));
    let ports: Vec<_> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| k8s_openapi::api::core::v1::ContainerPort {
            name: Some(p.name.clone()),
            container_port: p.container_port,
            protocol: Some(p.protocol.as_str().to_string()),
            ..Default::default()
        })
        .collect();
    Container {
        name: CONTAINER_NAME.to_string(),
        image: Some(spec.image.clone()),
        command: spec.command.clone(),
        args: spec.args.clone(),
        env: (!env.is_empty()).then_some(env),
        env_from: (!env_from.is_empty()).then_some(env_from),
        ports: (!ports.is_empty()).then_some(ports),
        resources: spec.resources.clone(),
        readiness_probe: spec.readiness_probe.clone(),
        liveness_probe: spec.liveness_probe.clone(),
        security_context: Some(container_security_context()),
        volume_mounts: Some(volume_mounts(valid)),
        ..Container::default()
    }
}

fn volume_mounts(valid: Valid<'_>) -> Vec<VolumeMount> {
    let spec = valid.spec();
    let mount = |name: &str, path: &str, read_only: bool| VolumeMount {
        name: name.to_string(),
        mount_path: path.to_string(),
        read_only: Some(read_only),
        ..VolumeMount::default()
    };
    let mut mounts = vec![mount(volumes::SCRATCH, SCRATCH_PATH, false)];
    if let Some(path) = spec.config.as_ref().and_then(|c| c.mount_path.as_deref()) {
        mounts.push(mount(volumes::CONFIG, path, true));
    }
    if let Some(path) = spec.secret.as_ref().and_then(|s| s.mount_path.as_deref()) {
        mounts.push(mount(volumes::SECRET, path, true));
    }
    if let Some(storage) = &spec.storage {
        mounts.push(mount(volumes::DATA, &storage.mount_path, false));
    }
    mounts.extend(references::mounts(spec));
    mounts.extend(identity::token_mount(spec));
    mounts
}

fn volumes(valid: Valid<'_>) -> Vec<Volume> {
    let spec = valid.spec();
    let scratch = spec.scratch.clone().unwrap_or_default();
    let ScratchSpec { size_limit, medium } = scratch;
    let mut out = vec![Volume {
        name: volumes::SCRATCH.to_string(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: Some(medium.as_str().to_string()).filter(|m| !m.is_empty()),
            size_limit: Some(size_limit),
            ..EmptyDirVolumeSource::default()
        }),
        ..Volume::default()
    }];
    if spec.config.as_ref().is_some_and(|c| c.mount_path.is_some()) {
        out.push(Volume {
            name: volumes::CONFIG.to_string(),
            config_map: Some(ConfigMapVolumeSource {
                name: config_map::name(valid.name()),
                optional: Some(false),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        });
    }
    if spec.secret.as_ref().is_some_and(|s| s.mount_path.is_some()) {
        out.push(Volume {
            name: volumes::SECRET.to_string(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret::name(valid.name())),
                optional: Some(false),
                // Read-only for whichever user the image runs as (no fsGroup is required).
                default_mode: Some(0o444),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
    }
    if spec.storage.is_some() {
        out.push(Volume {
            name: volumes::DATA.to_string(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim::name(valid.name()),
                read_only: Some(false),
            }),
            ..Volume::default()
        });
    }
    out.extend(references::volumes(spec));
    out.extend(identity::token_volume(spec));
    out
}
