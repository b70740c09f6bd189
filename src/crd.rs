//! The `StatelessService` custom resource (`stateless.dev/v1alpha1`): types only.
//!
//! This module declares the API a platform team writes: the spec, the status the controller
//! reports, the printer columns and the admission-time CEL rules that the API server enforces.
//! It must not contain behaviour: turning a spec into objects lives in `build`, checking it in
//! `validate` (which mirrors every CEL rule declared here, and adds what CEL cannot express).
//!
//! Every list and map in the schema is bounded (`maxItems`, `maxProperties`) and every string a CEL
//! rule reads carries a `maxLength`: the API server estimates a rule's worst-case cost from these
//! bounds (an unbounded list counts as the most items a 3 MiB request can hold) and refuses the
//! whole CRD when the estimate is over budget. The bounds are the `MAX_*` constants below;
//! `validate` enforces each of them with the same number. Embedded Kubernetes types (`Probe`,
//! `ResourceRequirements`) get theirs from the `bound_*` schema transforms at the end of the file.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Probe, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use kube::KubeSchema;
use kube::core::Rule;
use serde::{Deserialize, Serialize};

/// API group of the custom resource.
pub const GROUP: &str = "stateless.dev";
/// API version of the custom resource.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` string as written in manifests.
pub const API_VERSION: &str = "stateless.dev/v1alpha1";
/// Kind of the custom resource.
pub const KIND: &str = "StatelessService";

/// Longest path accepted for a mount path (Linux `PATH_MAX`); bounds CEL cost too.
pub const MAX_PATH_LENGTH: usize = 4096;
/// Longest image reference (the same `PATH_MAX`-sized bound; real references are far shorter).
pub const MAX_IMAGE_LENGTH: usize = 4096;
/// Most keys `secret.generate` may list; bounds CEL cost and the Secret's size.
pub const MAX_GENERATED_KEYS: usize = 64;
/// Longest Secret key, ConfigMap key and storage class name (a DNS subdomain's 253).
pub const MAX_KEY_LENGTH: usize = 253;
/// Most entries in `env`. Kubernetes sets no limit, Linux does: a process gets at most
/// `ARG_MAX` (2 MiB by default) for its arguments and environment together.
pub const MAX_ENV_VARS: usize = 256;
/// Longest environment variable name: the longest key `config.env` / `secret.env` can turn into
/// a variable name, so explicit names get the same bound.
pub const MAX_ENV_NAME_LENGTH: usize = MAX_KEY_LENGTH;
/// Most entries in `ports`; a container that listens on more ports is not one service.
pub const MAX_PORTS: usize = 64;
/// Longest port name (an IANA service name has at most 15 characters).
pub const MAX_PORT_NAME_LENGTH: usize = 15;
/// Most entries in `command`, `args` and a probe's `exec.command` (each an argv; see
/// [`MAX_ENV_VARS`] for the kernel's limit on the whole).
pub const MAX_ARGS: usize = 1024;
/// Most keys in `config.data` (each becomes a file under `config.mountPath`).
pub const MAX_CONFIG_KEYS: usize = 1024;
/// Most headers an `httpGet` probe sends.
pub const MAX_PROBE_HEADERS: usize = 32;
/// Most entries in `resources.claims` (dynamic resource allocation claims of the container).
pub const MAX_RESOURCE_CLAIMS: usize = 16;
/// Most resource names in `resources.limits` and `resources.requests` (cpu, memory,
/// ephemeral-storage, hugepages-* and extended resources).
pub const MAX_RESOURCE_NAMES: usize = 32;
/// Longest quantity string read by a CEL rule (`storage.size`, `scratch.sizeLimit`); `1Ei` is 3.
pub const MAX_QUANTITY_LENGTH: usize = 64;
/// Most conditions in `status.conditions` (the controller writes three).
pub const MAX_CONDITIONS: usize = 8;
/// Shortest generated secret value: shorter random strings are too easy to guess.
pub const MIN_SECRET_LENGTH: i32 = 16;
/// Longest generated secret value.
pub const MAX_SECRET_LENGTH: i32 = 4096;

/// A StatelessService: one disposable workload whose durable state lives outside its pods.
///
/// The operator turns it into a Deployment `<name>`, a ConfigMap `<name>-config`, a Secret
/// `<name>-secret`, an optional PersistentVolumeClaim `<name>-data` and, with two or more
/// replicas, a PodDisruptionBudget `<name>`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "stateless.dev",
    version = "v1alpha1",
    kind = "StatelessService",
    plural = "statelessservices",
    shortname = "ssvc",
    namespaced,
    status = "StatelessServiceStatus",
    printcolumn = r#"{"name":"Ready","type":"string","description":"Whether the service is available with its current spec","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Replicas","type":"string","description":"Ready replicas / desired replicas","jsonPath":".status.replicaSummary"}"#,
    printcolumn = r#"{"name":"Storage","type":"string","description":"Phase of the data volume claim","jsonPath":".status.storage.phase"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 63")
        .message("metadata.name must be a DNS label of at most 63 characters (lowercase letters, digits and '-'): it is the value of the stateless.dev/service label on every child")
        .reason(kube::core::Reason::FieldValueInvalid),
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.storage) || (has(self.replicas) ? self.replicas : 2) <= 1 || (has(self.storage.accessMode) && self.storage.accessMode == 'ReadWriteMany')")
        .message("replicas > 1 with storage requires storage.accessMode ReadWriteMany: several disposable pods cannot share a single-writer volume")
        .field_path(".storage.accessMode")
        .reason(kube::core::Reason::FieldValueForbidden),
    validation = Rule::new("!has(oldSelf.storage) || has(self.storage)")
        .message("storage cannot be removed once set: the claim holds the service's data (delete the StatelessService instead; reclaimPolicy decides what happens to the data)")
        .field_path(".storage")
        .reason(kube::core::Reason::FieldValueForbidden),
    validation = overlap_rule("config", "secret"),
    validation = overlap_rule("config", "storage"),
    validation = overlap_rule("secret", "storage"),
)]
pub struct StatelessServiceSpec {
    /// Container image to run, e.g. `ghcr.io/acme/web:1.4.2`. Required.
    #[schemars(length(min = 1, max = MAX_IMAGE_LENGTH))]
    #[x_kube(validation = Rule::new("!self.contains(' ')").message("image must not contain spaces"))]
    pub image: String,

    /// Number of pods. 0 stops the service and keeps its data. Default 2.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0))]
    pub replicas: i32,

    /// Entrypoint override (the image's ENTRYPOINT is used when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_ARGS))]
    pub command: Option<Vec<String>>,

    /// Arguments to the entrypoint (the image's CMD is used when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_ARGS))]
    pub args: Option<Vec<String>>,

    /// Environment variables of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_ENV_VARS))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub env: Option<Vec<EnvVar>>,

    /// Ports the container listens on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_PORTS))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub ports: Option<Vec<ContainerPort>>,

    /// CPU and memory requests and limits of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = bound_resources)]
    pub resources: Option<ResourceRequirements>,

    /// Probe that gates traffic and rollouts: a pod counts as ready only when it passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = bound_probe)]
    pub readiness_probe: Option<Probe>,

    /// Probe that restarts a stuck container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = bound_probe)]
    pub liveness_probe: Option<Probe>,

    /// Configuration stored in the ConfigMap `<name>-config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ConfigSpec>,

    /// Secret values stored in the Secret `<name>-secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretSpec>,

    /// Durable data volume: the PersistentVolumeClaim `<name>-data`, the only writable place
    /// that outlives a pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageSpec>,

    /// Scratch space: an emptyDir at `/tmp`, lost with the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scratch: Option<ScratchSpec>,

    /// User and group ids the pod runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_security: Option<PodSecurity>,

    /// When true the operator makes no changes to the children (condition Reconciling=False,
    /// reason Paused) until it is set back to false.
    #[serde(default)]
    pub paused: bool,
}

fn default_replicas() -> i32 {
    2
}

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

/// One port the container listens on.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    /// Port name (IANA service name: at most 15 lowercase letters, digits and '-'); the key of
    /// the list.
    #[schemars(length(min = 1, max = MAX_PORT_NAME_LENGTH))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && self.matches('[a-z]') && !self.contains('--')").message("port name must be an IANA service name: lowercase letters, digits and single '-', at least one letter"))]
    pub name: String,
    /// Port number, 1 to 65535.
    #[schemars(range(min = 1, max = 65535))]
    pub container_port: i32,
    /// Protocol: TCP (default), UDP or SCTP.
    #[serde(default)]
    pub protocol: Protocol,
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

/// Configuration kept in the ConfigMap `<name>-config`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ConfigSpec {
    /// Key/value pairs of the ConfigMap. Keys other tools add to the ConfigMap are kept.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = MAX_CONFIG_KEYS))]
    pub data: BTreeMap<String, String>,
    /// Directory where every key is mounted read-only as a file. Not mounted when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_PATH_LENGTH))]
    #[x_kube(validation = mount_path_rule())]
    pub mount_path: Option<String>,
    /// Also expose every key as an environment variable (`envFrom`).
    #[serde(default)]
    pub env: bool,
}

/// Secret values kept in the Secret `<name>-secret`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SecretSpec {
    /// Keys whose random values the operator generates once and then keeps for ever.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_GENERATED_KEYS))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["key".into()]))]
    pub generate: Vec<GeneratedKey>,
    /// Directory where every key is mounted read-only as a file. Not mounted when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_PATH_LENGTH))]
    #[x_kube(validation = mount_path_rule())]
    pub mount_path: Option<String>,
    /// Also expose every key as an environment variable (`envFrom`).
    #[serde(default)]
    pub env: bool,
}

/// A Secret key with a generated random value.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GeneratedKey {
    /// Secret key: letters, digits, '-', '_' and '.'; the key of the list.
    #[schemars(length(min = 1, max = MAX_KEY_LENGTH))]
    #[x_kube(validation = Rule::new("self.matches('^[-._a-zA-Z0-9]+$') && self != '.' && self != '..'").message("secret key must consist of letters, digits, '-', '_' or '.' and must not be '.' or '..'"))]
    pub key: String,
    /// Length of the generated value in characters, 16 to 4096.
    #[schemars(range(min = MIN_SECRET_LENGTH, max = MAX_SECRET_LENGTH))]
    pub length: i32,
}

/// The durable data volume.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)")
        .message("storage.storageClassName is immutable: a claim cannot move to another storage class")
        .field_path(".storageClassName")
        .reason(kube::core::Reason::FieldValueForbidden),
    validation = Rule::new("(has(self.accessMode) ? self.accessMode : 'ReadWriteOnce') == (has(oldSelf.accessMode) ? oldSelf.accessMode : 'ReadWriteOnce')")
        .message("storage.accessMode is immutable: a claim's access mode cannot change")
        .field_path(".accessMode")
        .reason(kube::core::Reason::FieldValueForbidden),
)]
pub struct StorageSpec {
    /// Requested capacity, e.g. `10Gi`. Can only grow (when the storage class allows expansion).
    #[schemars(extend("maxLength" = MAX_QUANTITY_LENGTH))]
    #[x_kube(
        validation = Rule::new("isQuantity(string(self)) && quantity(string(self)).isGreaterThan(quantity('0'))").message("storage.size must be a positive quantity such as 10Gi"),
        validation = Rule::new("!isQuantity(string(self)) || !isQuantity(string(oldSelf)) || quantity(string(self)).compareTo(quantity(string(oldSelf))) >= 0").message("storage.size can only grow: a claim cannot shrink"),
    )]
    pub size: Quantity,
    /// Storage class of the claim (the cluster default when omitted). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_KEY_LENGTH))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')").message("a storage class name is a DNS subdomain (lowercase letters, digits, '-' and '.')"))]
    pub storage_class_name: Option<String>,
    /// Access mode of the claim. Immutable. ReadWriteMany is required for more than one replica.
    #[serde(default)]
    pub access_mode: AccessMode,
    /// Directory where the volume is mounted read-write. Required.
    #[schemars(length(max = MAX_PATH_LENGTH))]
    #[x_kube(validation = mount_path_rule())]
    pub mount_path: String,
    /// What happens to the claim when the StatelessService is deleted: Retain (default) keeps it
    /// and its data, Delete removes it.
    #[serde(default)]
    pub reclaim_policy: ReclaimPolicy,
}

/// Access mode of the data volume.
#[derive(
    Serialize, Deserialize, schemars::JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum AccessMode {
    /// Mounted read-write by one node.
    #[default]
    ReadWriteOnce,
    /// Mounted read-write by many nodes.
    ReadWriteMany,
    /// Mounted read-write by one pod.
    ReadWriteOncePod,
}

impl AccessMode {
    /// The access mode as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessMode::ReadWriteOnce => "ReadWriteOnce",
            AccessMode::ReadWriteMany => "ReadWriteMany",
            AccessMode::ReadWriteOncePod => "ReadWriteOncePod",
        }
    }
}

/// What happens to the data volume when its StatelessService is deleted.
#[derive(
    Serialize, Deserialize, schemars::JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum ReclaimPolicy {
    /// The claim and its data outlive the StatelessService (no ownerReference).
    #[default]
    Retain,
    /// The claim is garbage-collected with the StatelessService.
    Delete,
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

/// The rule that `<first>.mountPath` and `<second>.mountPath` do not overlap (one equal to or
/// below the other). `storage.mountPath` is required inside `storage`, the others are optional.
fn overlap_rule(first: &str, second: &str) -> Rule {
    let present = |f: &str| {
        if f == "storage" {
            format!("has(self.{f})")
        } else {
            format!("has(self.{f}) && has(self.{f}.mountPath)")
        }
    };
    let (a, b) = (
        format!("self.{first}.mountPath"),
        format!("self.{second}.mountPath"),
    );
    Rule::new(format!(
        "!({} && {}) || !({a} == {b} || {a}.startsWith({b} + '/') || {b}.startsWith({a} + '/'))",
        present(first),
        present(second)
    ))
    .message(
        format!(
            "{first}.mountPath and {second}.mountPath overlap: each mount needs its own directory"
        )
        .as_str(),
    )
    .field_path(format!(".{second}.mountPath"))
    .reason(kube::core::Reason::FieldValueInvalid)
}

fn mount_path_rule() -> Rule {
    Rule::new(
        "self.matches('^(/[^/]+)+$') && !self.matches('(^|/)[.][.]?(/|$)') && self != '/tmp' && !self.startsWith('/tmp/')",
    )
    .message("mount path must be an absolute, normalised path (no trailing '/', '.' or '..'), not '/' and not /tmp or below (/tmp is the scratch directory)")
}

/// Bounds the lists and maps of an embedded `ResourceRequirements` (a schemars transform: the
/// k8s-openapi schema declares none).
fn bound_resources(schema: &mut schemars::Schema) {
    set_bound(
        schema,
        "/properties/claims",
        "maxItems",
        MAX_RESOURCE_CLAIMS,
    );
    set_bound(
        schema,
        "/properties/limits",
        "maxProperties",
        MAX_RESOURCE_NAMES,
    );
    set_bound(
        schema,
        "/properties/requests",
        "maxProperties",
        MAX_RESOURCE_NAMES,
    );
}

/// Bounds the lists of an embedded `Probe` (a schemars transform, as for resources).
fn bound_probe(schema: &mut schemars::Schema) {
    set_bound(
        schema,
        "/properties/exec/properties/command",
        "maxItems",
        MAX_ARGS,
    );
    set_bound(
        schema,
        "/properties/httpGet/properties/httpHeaders",
        "maxItems",
        MAX_PROBE_HEADERS,
    );
}

/// Sets `key: value` on the schema node at `pointer`. A node that is not there is left alone:
/// `tests/crd_schema.rs` fails on any list or map without a bound, so a k8s-openapi change that
/// moves a field cannot silently unbound it.
fn set_bound(schema: &mut schemars::Schema, pointer: &str, key: &str, value: usize) {
    if let Some(serde_json::Value::Object(node)) = schema.pointer_mut(pointer) {
        node.insert(key.to_string(), value.into());
    }
}

/// What the controller observed and did, written through the status subresource only.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StatelessServiceStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// kstatus conditions: Ready, Reconciling and Stalled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_CONDITIONS))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// Pods of the Deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Pods passing their readiness probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Pods available for at least minReadySeconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i32>,
    /// Ready replicas / desired replicas, e.g. `2/3`, for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_summary: Option<String>,
    /// The data volume claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageStatus>,
    /// Hash of the configuration and secret data the pods were started with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
}

/// Observed state of the data volume claim.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StorageStatus {
    /// Name of the PersistentVolumeClaim.
    pub claim_name: String,
    /// Phase of the claim: Pending, Bound or Lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
}

/// Condition types, reasons and helpers shared by `status` and its readers.
pub mod conditions {
    /// The service is available with its current spec.
    pub const READY: &str = "Ready";
    /// The controller is working towards the current spec.
    pub const RECONCILING: &str = "Reconciling";
    /// Progress stopped on an error that needs a human.
    pub const STALLED: &str = "Stalled";
}
