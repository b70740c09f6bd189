//! Where a service's state lives: its configuration, its secrets (its own and those other tools
//! own) and its durable data volume.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::rules;
use super::{
    MAX_CONFIG_KEYS, MAX_EXTERNAL_REFS, MAX_GENERATED_KEYS, MAX_KEY_LENGTH, MAX_OBJECT_NAME_LENGTH,
    MAX_PATH_LENGTH, MAX_QUANTITY_LENGTH, MAX_SECRET_LENGTH, MIN_SECRET_LENGTH,
};

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
    #[x_kube(validation = rules::mount_path_rule())]
    pub mount_path: Option<String>,
    /// Also expose every key as an environment variable (`envFrom`).
    #[serde(default)]
    pub env: bool,
    /// ConfigMaps in the same namespace that other tools own (External Secrets Operator,
    /// sealed-secrets, a CSI sync, a person): mounted read-only or exposed like this one, and
    /// counted in the config hash, so a change of their data rolls the pods. The operator never
    /// writes to them; one that does not exist keeps the service from becoming Ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_EXTERNAL_REFS))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub from: Vec<ExternalRef>,
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
    #[x_kube(validation = rules::mount_path_rule())]
    pub mount_path: Option<String>,
    /// Also expose every key as an environment variable (`envFrom`).
    #[serde(default)]
    pub env: bool,
    /// Secrets in the same namespace that other tools own (External Secrets Operator,
    /// sealed-secrets, a CSI sync, a person): mounted read-only or exposed like this one, and
    /// counted in the config hash, so a change of their data rolls the pods. The operator never
    /// writes to them; one that does not exist keeps the service from becoming Ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_EXTERNAL_REFS))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub from: Vec<ExternalRef>,
}

/// A ConfigMap or Secret in the same namespace that another tool owns, used by name.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.mountPath) || self.env")
        .message("a reference needs mountPath or env: true, or nothing would use it")
        .reason(kube::core::Reason::FieldValueRequired),
)]
pub struct ExternalRef {
    /// Name of the object (a DNS subdomain); the key of the list.
    #[schemars(length(min = 1, max = MAX_OBJECT_NAME_LENGTH))]
    #[x_kube(validation = rules::matches(rules::DNS_SUBDOMAIN, "a ConfigMap or Secret name is a DNS subdomain (lowercase letters, digits, '-' and '.')"))]
    pub name: String,
    /// Directory where every key is mounted read-only as a file (its own directory: it must
    /// not overlap any other mount). Not mounted when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_PATH_LENGTH))]
    #[x_kube(validation = rules::mount_path_rule())]
    pub mount_path: Option<String>,
    /// Also expose every key as an environment variable (`envFrom`); where two sources define
    /// a variable, the later one wins (this operator's own ConfigMap and Secret come first).
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
    #[x_kube(validation = rules::matches(rules::DNS_SUBDOMAIN, "a storage class name is a DNS subdomain (lowercase letters, digits, '-' and '.')"))]
    pub storage_class_name: Option<String>,
    /// Access mode of the claim. Immutable. ReadWriteMany is required for more than one replica.
    #[serde(default)]
    pub access_mode: AccessMode,
    /// Directory where the volume is mounted read-write. Required.
    #[schemars(length(max = MAX_PATH_LENGTH))]
    #[x_kube(validation = rules::mount_path_rule())]
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
