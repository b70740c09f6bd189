//! Extra containers of the pod: sidecars (Kubernetes native sidecars, which keep running) and
//! init containers (which run to completion first).
//!
//! Both keep the main container's contract: a read-only root filesystem, the restricted security
//! context, and the main container's mounts (the shared `/tmp`, the config and secret mounts and
//! their `from` entries read-only, the data volume at `storage.mountPath`) and no volumes of
//! their own. They get their own `env` only: `config.env` and `secret.env` apply to the main
//! container.

use k8s_openapi::api::core::v1::{Probe, ResourceRequirements};
use kube::KubeSchema;
use kube::core::Rule;
use serde::{Deserialize, Serialize};

use super::rules;
use super::{
    EnvVar, MAX_ARGS, MAX_EXTRA_ENV_VARS, MAX_EXTRA_PORTS, MAX_IMAGE_LENGTH, MAX_LABEL_LENGTH,
    MAX_PORT_NAME_LENGTH, Protocol,
};

/// A container name is a DNS label.
fn container_name_rule() -> Rule {
    rules::matches(
        rules::DNS_LABEL,
        "a container name is a DNS label (lowercase letters, digits and '-')",
    )
}

/// A container name is not the main container's (`crate::build::CONTAINER_NAME`; the CEL twin
/// test holds the two to the same value).
fn not_main_container_rule() -> Rule {
    Rule::new("self != 'app'").message("'app' is the name of the main container")
}

/// A container that runs next to the main one for the pod's whole life.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Sidecar {
    /// Container name (a DNS label, not `app`); the key of the list.
    #[schemars(length(min = 1, max = MAX_LABEL_LENGTH))]
    #[x_kube(validation = container_name_rule(), validation = not_main_container_rule())]
    pub name: String,
    /// Container image. Required.
    #[schemars(length(min = 1, max = MAX_IMAGE_LENGTH))]
    #[x_kube(validation = rules::image_rule())]
    pub image: String,
    /// Entrypoint override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_ARGS))]
    pub command: Option<Vec<String>>,
    /// Arguments to the entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_ARGS))]
    pub args: Option<Vec<String>>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_EXTRA_ENV_VARS))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub env: Option<Vec<EnvVar>>,
    /// Ports the sidecar listens on: admitted by the NetworkPolicy like `ports`, not part of
    /// the Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_EXTRA_PORTS))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub ports: Option<Vec<SidecarPort>>,
    /// CPU and memory requests and limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = rules::bound_resources)]
    pub resources: Option<ResourceRequirements>,
    /// Probe that gates the pod's readiness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = rules::bound_probe)]
    pub readiness_probe: Option<Probe>,
    /// Probe that restarts a stuck sidecar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = rules::bound_probe)]
    pub liveness_probe: Option<Probe>,
    /// Probe that holds back the next containers until the sidecar has started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = rules::bound_probe)]
    pub startup_probe: Option<Probe>,
}

/// One port a sidecar listens on.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SidecarPort {
    /// Port name (an IANA service name, unique in the pod); the key of the list.
    #[schemars(length(min = 1, max = MAX_PORT_NAME_LENGTH))]
    #[x_kube(validation = rules::port_name_rule())]
    pub name: String,
    /// Port number, 1 to 65535 (unique in the pod: its containers share one network).
    #[schemars(range(min = 1, max = 65535))]
    pub container_port: i32,
    /// Protocol: TCP (default), UDP or SCTP.
    #[serde(default)]
    pub protocol: Protocol,
}

/// A container that runs to completion before the main container starts.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InitContainer {
    /// Container name (a DNS label, not `app`); the key of the list.
    #[schemars(length(min = 1, max = MAX_LABEL_LENGTH))]
    #[x_kube(validation = container_name_rule(), validation = not_main_container_rule())]
    pub name: String,
    /// Container image. Required.
    #[schemars(length(min = 1, max = MAX_IMAGE_LENGTH))]
    #[x_kube(validation = rules::image_rule())]
    pub image: String,
    /// Entrypoint override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_ARGS))]
    pub command: Option<Vec<String>>,
    /// Arguments to the entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_ARGS))]
    pub args: Option<Vec<String>>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_EXTRA_ENV_VARS))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub env: Option<Vec<EnvVar>>,
    /// CPU and memory requests and limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = rules::bound_resources)]
    pub resources: Option<ResourceRequirements>,
}
