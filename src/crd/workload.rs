//! The main container's parts of the spec: environment, ports, scratch space and pod security.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::rules;
use super::{MAX_ENV_NAME_LENGTH, MAX_PORT_NAME_LENGTH, MAX_QUANTITY_LENGTH};

/// One environment variable.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    /// Variable name.
    #[schemars(length(min = 1, max = MAX_ENV_NAME_LENGTH))]
    #[x_kube(validation = Rule::new("!self.contains('=')").message("environment variable names must not contain '='"))]
    #[x_kube(validation = Rule::new("self.matches('^[ -~]*$')").message("environment variable names must consist of printable ASCII characters"))]
    pub name: String,
    /// Variable value (empty when omitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// One port the container listens on, and the port of the Service `<name>` that leads to it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    /// Port name (IANA service name: at most 15 lowercase letters, digits and '-'); the key of
    /// the list, and the name of the Service port (whose targetPort it is).
    #[schemars(length(min = 1, max = MAX_PORT_NAME_LENGTH))]
    #[x_kube(validation = rules::port_name_rule())]
    pub name: String,
    /// Port number, 1 to 65535.
    #[schemars(range(min = 1, max = 65535))]
    pub container_port: i32,
    /// Protocol: TCP (default), UDP or SCTP.
    #[serde(default)]
    pub protocol: Protocol,
    /// Port of the Service, 1 to 65535; the container port when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub service_port: Option<i32>,
}

/// Network protocol of a port.
#[derive(
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
)]
pub enum Protocol {
    /// TCP.
    #[default]
    #[serde(rename = "TCP")]
    Tcp,
    /// UDP.
    #[serde(rename = "UDP")]
    Udp,
    /// SCTP.
    #[serde(rename = "SCTP")]
    Sctp,
}

impl Protocol {
    /// The protocol as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

/// Scratch space at `/tmp`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScratchSpec {
    /// Most space the scratch directory may use; default 64Mi.
    #[serde(default = "default_scratch_size")]
    #[schemars(extend("maxLength" = MAX_QUANTITY_LENGTH))]
    #[x_kube(validation = Rule::new("isQuantity(string(self)) && quantity(string(self)).isGreaterThan(quantity('0'))").message("scratch.sizeLimit must be a positive quantity such as 64Mi"))]
    pub size_limit: Quantity,
    /// Storage medium: "" (node disk, default) or "Memory" (tmpfs, counted against the memory
    /// limit).
    #[serde(default)]
    pub medium: ScratchMedium,
}

/// The default size of the `/tmp` scratch directory.
pub fn default_scratch_size() -> Quantity {
    Quantity("64Mi".to_string())
}

impl Default for ScratchSpec {
    fn default() -> Self {
        ScratchSpec {
            size_limit: default_scratch_size(),
            medium: ScratchMedium::Default,
        }
    }
}

/// Storage medium of the scratch directory.
#[derive(
    Serialize, Deserialize, schemars::JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum ScratchMedium {
    /// The node's disk.
    #[default]
    #[serde(rename = "")]
    Default,
    /// A tmpfs in memory.
    Memory,
}

impl ScratchMedium {
    /// The medium as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ScratchMedium::Default => "",
            ScratchMedium::Memory => "Memory",
        }
    }
}

/// User and group ids of the pod.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PodSecurity {
    /// User id of the container processes; must not be 0 (pods never run as root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 2147483647))]
    pub run_as_user: Option<i64>,
    /// Primary group id of the container processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub run_as_group: Option<i64>,
    /// Group that owns mounted volumes (so the data volume is writable by the pod).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub fs_group: Option<i64>,
}
