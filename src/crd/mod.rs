//! The `StatelessService` custom resource (`stateless.dev/v1alpha1`): types only.
//!
//! This module declares the API a platform team writes: the spec, the status the controller
//! reports, the printer columns, the scale subresource and the admission-time CEL rules that the
//! API server enforces. It must not contain behaviour: turning a spec into objects lives in
//! `build`, checking it in `validate` (which mirrors every CEL rule declared here, and adds what
//! CEL cannot express).
//!
//! Every list and map in the schema is bounded (`maxItems`, `maxProperties`) and every string a CEL
//! rule reads carries a `maxLength`: the API server estimates a rule's worst-case cost from these
//! bounds (an unbounded list counts as the most items a 3 MiB request can hold) and refuses the
//! whole CRD when the estimate is over budget. The bounds are the `MAX_*` constants below;
//! `validate` enforces each of them with the same number. Embedded Kubernetes types (`Probe`,
//! `ResourceRequirements`) get theirs from the `bound_*` schema transforms in `rules`.
//!
//! The spec's parts live in one file each: `workload` (the main container), `state` (config,
//! secret, storage), `expose` (Service and route), `scale` (autoscaling and rollout), `identity`
//! (service account), `network` (NetworkPolicy) and `containers` (sidecars and init containers).

mod containers;
mod expose;
mod identity;
mod network;
mod rules;
mod scale;
mod state;
mod workload;

use k8s_openapi::api::core::v1::{Probe, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

pub use containers::{InitContainer, Sidecar, SidecarPort};
pub use expose::{
    GatewayRef, RouteSpec, RouteTls, ServiceSettings, ServiceType, default_route_path,
};
pub use identity::{ServiceAccountSpec, default_token_expiration};
pub use network::{
    EgressRule, IpBlock, Isolation, NetworkPeer, NetworkPort, NetworkSpec, PeerSelector,
    SelectorOperator, SelectorRequirement,
};
pub use scale::{AutoscalingSpec, RolloutSpec, default_max_surge, default_min_replicas};
pub use state::{
    AccessMode, ConfigSpec, ExternalRef, GeneratedKey, ReclaimPolicy, SecretSpec, StorageSpec,
};
pub use workload::{
    ContainerPort, EnvVar, PodSecurity, Protocol, ScratchMedium, ScratchSpec, default_scratch_size,
};

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

/// Longest DNS label: a namespace, a container name.
pub const MAX_LABEL_LENGTH: usize = 63;
/// Longest name of an object referenced by name (ConfigMap, Secret, IngressClass, Gateway: all
/// DNS subdomains).
pub const MAX_OBJECT_NAME_LENGTH: usize = 253;
/// Most entries in `service.annotations`, `serviceAccount.annotations` and
/// `serviceAccount.labels` (cloud load balancers and workload identity need a handful).
pub const MAX_METADATA_ENTRIES: usize = 64;
/// Longest `route.host`: a DNS subdomain, `*.` included.
pub const MAX_HOST_LENGTH: usize = 253;
/// Longest `route.path` (the Gateway API's limit on a path match).
pub const MAX_ROUTE_PATH_LENGTH: usize = 1024;
/// Longest `rollout.maxSurge` string (`25%` is 3).
pub const MAX_SURGE_LENGTH: usize = 16;
/// Longest `serviceAccount.audience` (an identifier or a URL).
pub const MAX_AUDIENCE_LENGTH: usize = 1024;
/// Shortest lifetime of a mounted service-account token (the API server's own minimum).
pub const MIN_TOKEN_EXPIRATION_SECONDS: i64 = 600;
/// Longest lifetime of a mounted service-account token: a day. Kubernetes allows 2^32 seconds;
/// a token that leaks should stop working soon, and the kubelet renews it anyway.
pub const MAX_TOKEN_EXPIRATION_SECONDS: i64 = 86_400;
/// Where the projected service-account token is mounted with `serviceAccount.automountToken`
/// (where Kubernetes client libraries look for it); no other mount may overlap it.
pub const SERVICE_ACCOUNT_TOKEN_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// Most peers in `network.allowFrom` and in each egress rule's `to`.
pub const MAX_NETWORK_PEERS: usize = 16;
/// Most rules in `network.egress`.
pub const MAX_EGRESS_RULES: usize = 16;
/// Most ports in one egress rule.
pub const MAX_NETWORK_PORTS: usize = 16;
/// Most entries in a peer selector's `matchLabels`.
pub const MAX_SELECTOR_LABELS: usize = 16;
/// Most entries in a peer selector's `matchExpressions`.
pub const MAX_SELECTOR_EXPRESSIONS: usize = 16;
/// Most values of one selector expression.
pub const MAX_SELECTOR_VALUES: usize = 64;
/// Most `except` ranges of one `ipBlock`.
pub const MAX_CIDR_EXCEPTIONS: usize = 16;
/// Most entries in `config.from` and in `secret.from`.
pub const MAX_EXTERNAL_REFS: usize = 8;
/// Most sidecars.
pub const MAX_SIDECARS: usize = 8;
/// Most init containers.
pub const MAX_INIT_CONTAINERS: usize = 8;
/// Most `env` entries of a sidecar or init container (helpers need fewer than the main
/// container; the bound keeps the CEL cost of their name rules small).
pub const MAX_EXTRA_ENV_VARS: usize = 64;
/// Most ports of one sidecar.
pub const MAX_EXTRA_PORTS: usize = 16;

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
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.labelSelector"
    ),
    printcolumn = r#"{"name":"Ready","type":"string","description":"Whether the service is available with its current spec","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Replicas","type":"string","description":"Ready replicas / desired replicas","jsonPath":".status.replicaSummary"}"#,
    printcolumn = r#"{"name":"Current","type":"integer","description":"Pods of the Deployment","jsonPath":".status.replicas"}"#,
    printcolumn = r#"{"name":"Desired","type":"integer","description":"Replicas wanted now: spec.replicas, or the autoscaler's choice","jsonPath":".status.desiredReplicas"}"#,
    printcolumn = r#"{"name":"Storage","type":"string","description":"Phase of the data volume claim","jsonPath":".status.storage.phase"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 63")
        .message("metadata.name must be a DNS label of at most 63 characters (lowercase letters, digits and '-'): it is the value of the stateless.dev/service label on every child")
        .reason(kube::core::Reason::FieldValueInvalid),
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.autoscaling) || !has(self.storage) || (has(self.replicas) ? self.replicas : 2) <= 1 || (has(self.storage.accessMode) && self.storage.accessMode == 'ReadWriteMany')")
        .message("replicas > 1 with storage requires storage.accessMode ReadWriteMany: several disposable pods cannot share a single-writer volume")
        .field_path(".storage.accessMode")
        .reason(kube::core::Reason::FieldValueForbidden),
    validation = Rule::new("!has(oldSelf.storage) || has(self.storage)")
        .message("storage cannot be removed once set: the claim holds the service's data (delete the StatelessService instead; reclaimPolicy decides what happens to the data)")
        .field_path(".storage")
        .reason(kube::core::Reason::FieldValueForbidden),
    validation = rules::overlap_rule("config", "secret"),
    validation = rules::overlap_rule("config", "storage"),
    validation = rules::overlap_rule("secret", "storage"),
    validation = Rule::new("!has(self.autoscaling) || !has(self.storage) || self.autoscaling.maxReplicas <= 1 || (has(self.storage.accessMode) && self.storage.accessMode == 'ReadWriteMany')")
        .message("autoscaling.maxReplicas > 1 with storage requires storage.accessMode ReadWriteMany: several disposable pods cannot share a single-writer volume")
        .field_path(".storage.accessMode")
        .reason(kube::core::Reason::FieldValueForbidden),
    validation = rules::utilization_rule("cpu"),
    validation = rules::utilization_rule("memory"),
    validation = Rule::new("!has(self.route) || (has(self.ports) && size(self.ports) > 0)")
        .message("route needs ports: it sends traffic to a port of the Service, and the Service exists only with ports")
        .field_path(".route")
        .reason(kube::core::Reason::FieldValueRequired),
    validation = Rule::new("!has(self.route) || !has(self.route.port) || (has(self.ports) && self.ports.exists(p, p.name == self.route.port))")
        .message("route.port must name a port declared in ports")
        .field_path(".route.port")
        .reason(kube::core::Reason::FieldValueInvalid),
    validation = Rule::new("!has(self.route) || !has(self.ports) || size(self.ports) == 0 || (has(self.route.port) ? self.ports.all(p, p.name != self.route.port || p.protocol == 'TCP') : self.ports[0].protocol == 'TCP')")
        .message("the route's port (route.port, or the first port) must use protocol TCP: an Ingress or HTTPRoute carries HTTP")
        .field_path(".route.port")
        .reason(kube::core::Reason::FieldValueInvalid),
    validation = Rule::new("!has(self.sidecars) || !has(self.initContainers) || !self.sidecars.exists(s, self.initContainers.exists(i, i.name == s.name))")
        .message("sidecars and initContainers run in one pod: container names must be unique across both")
        .field_path(".initContainers")
        .reason(kube::core::Reason::FieldValueDuplicate),
)]
pub struct StatelessServiceSpec {
    /// Container image to run, e.g. `ghcr.io/acme/web:1.4.2`. Required.
    #[schemars(length(min = 1, max = MAX_IMAGE_LENGTH))]
    #[x_kube(validation = rules::image_rule())]
    pub image: String,

    /// Number of pods. 0 stops the service and keeps its data. Default 2. Ignored while
    /// `autoscaling` is set: the autoscaler then owns the Deployment's replicas. This is the
    /// field `kubectl scale` and the scale subresource change.
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

    /// Ports the container listens on. With ports, the operator creates the Service `<name>`
    /// with one port per entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_PORTS))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub ports: Option<Vec<ContainerPort>>,

    /// CPU and memory requests and limits of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = rules::bound_resources)]
    pub resources: Option<ResourceRequirements>,

    /// Probe that gates traffic and rollouts: a pod counts as ready only when it passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = rules::bound_probe)]
    pub readiness_probe: Option<Probe>,

    /// Probe that restarts a stuck container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = rules::bound_probe)]
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

    /// The Service `<name>` (created whenever `ports` is set): its type and annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceSettings>,

    /// An HTTP route to the Service from outside the cluster: an Ingress `<name>`
    /// (`ingressClassName`) or a Gateway API HTTPRoute `<name>` (`gatewayRef`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<RouteSpec>,

    /// A HorizontalPodAutoscaler `<name>` on the Deployment. While set, the autoscaler alone
    /// sets the Deployment's replicas and `replicas` is ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<AutoscalingSpec>,

    /// How the Deployment rolls out a new template (`maxUnavailable` is always 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutSpec>,

    /// A ServiceAccount `<name>` for the pods (workload identity); without it the pods run as
    /// the namespace's default account, with no token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<ServiceAccountSpec>,

    /// A NetworkPolicy `<name>` that limits who may reach the pods and where they may connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkSpec>,

    /// Helper containers that run next to the main one for the pod's whole life (Kubernetes
    /// native sidecars: started first, in this order, before the init containers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_SIDECARS))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub sidecars: Option<Vec<Sidecar>>,

    /// Containers that run to completion, in this order, before the main container starts
    /// (after the sidecars have started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_INIT_CONTAINERS))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub init_containers: Option<Vec<InitContainer>>,

    /// When true the operator makes no changes to the children (condition Reconciling=False,
    /// reason Paused) until it is set back to false.
    #[serde(default)]
    pub paused: bool,
}

fn default_replicas() -> i32 {
    2
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
    /// Pods of the Deployment (the scale subresource's current replicas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Replicas wanted now: `spec.replicas`, or with `autoscaling` the autoscaler's
    /// desiredReplicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_replicas: Option<i32>,
    /// Pods passing their readiness probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Pods available for at least minReadySeconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i32>,
    /// Ready replicas / desired replicas, e.g. `2/3`, for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_summary: Option<String>,
    /// Label selector of the pods in string form (`stateless.dev/service=<name>`), read by
    /// autoscalers through the scale subresource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
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
