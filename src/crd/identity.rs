//! The pods' identity: a ServiceAccount `<name>` for workload identity, and whether they get a
//! token at all.

use std::collections::BTreeMap;

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{
    MAX_AUDIENCE_LENGTH, MAX_METADATA_ENTRIES, MAX_TOKEN_EXPIRATION_SECONDS,
    MIN_TOKEN_EXPIRATION_SECONDS,
};

/// The ServiceAccount `<name>` the pods run as. Annotations and labels that other tools add to
/// it (cloud tooling does) are kept.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.audience) || self.automountToken")
        .message("serviceAccount.audience is the audience of the mounted token: it needs automountToken: true")
        .field_path(".audience")
        .reason(kube::core::Reason::FieldValueForbidden),
)]
pub struct ServiceAccountSpec {
    /// Annotations of the ServiceAccount (IRSA and GKE workload identity read one).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = MAX_METADATA_ENTRIES))]
    pub annotations: BTreeMap<String, String>,
    /// Labels of the ServiceAccount (Azure workload identity reads one).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = MAX_METADATA_ENTRIES))]
    pub labels: BTreeMap<String, String>,
    /// Mount a token (default false: no token). The token is projected, bound to `audience`
    /// and expires after `expirationSeconds`, at /var/run/secrets/kubernetes.io/serviceaccount
    /// (where client libraries look), which no other mount may overlap.
    #[serde(default)]
    pub automount_token: bool,
    /// Audience of the mounted token; the API server's own when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_AUDIENCE_LENGTH))]
    pub audience: Option<String>,
    /// Lifetime of the mounted token in seconds, 600 to 86400; default 3600 (the kubelet
    /// renews it before it expires).
    #[serde(default = "default_token_expiration")]
    #[schemars(range(min = MIN_TOKEN_EXPIRATION_SECONDS, max = MAX_TOKEN_EXPIRATION_SECONDS))]
    pub expiration_seconds: i64,
}

/// The default `serviceAccount.expirationSeconds`: an hour.
pub fn default_token_expiration() -> i64 {
    3600
}

impl Default for ServiceAccountSpec {
    fn default() -> Self {
        ServiceAccountSpec {
            annotations: BTreeMap::new(),
            labels: BTreeMap::new(),
            automount_token: false,
            audience: None,
            expiration_seconds: default_token_expiration(),
        }
    }
}
