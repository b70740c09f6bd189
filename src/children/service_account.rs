//! `<name>`: the ServiceAccount the pods run as, when `spec.serviceAccount` is set.
//!
//! It carries the annotations and labels workload identity reads (IRSA and GKE an annotation,
//! Azure a label) and `automountServiceAccountToken: false`: a token reaches a pod only as the
//! projected, audience-bound, expiring volume the Deployment declares (see
//! `deployment::identity`). Annotations and labels other managers add to it are theirs: a
//! server-side apply owns only the fields we send, and drift compares only those, so they are
//! kept and cost no write. Deleted when `spec.serviceAccount` goes away.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ServiceAccount;

use super::{APPLIED_AND_DELETED, Child};
use crate::build::{Inputs, labels, meta};
use crate::crd::StatelessServiceSpec;

/// The ServiceAccount child.
pub struct Rules;

/// Its name: the service's own.
pub fn name(service: &str) -> String {
    service.to_string()
}

impl Child for Rules {
    type Object = ServiceAccount;
    type Built = Option<ServiceAccount>;
    const VERBS: &'static [&'static str] = APPLIED_AND_DELETED;
    const COMPARED: &'static [&'static str] = &["metadata", "automountServiceAccountToken"];
    const DELETE_WHEN_UNWANTED: bool = true;

    fn name(service: &str) -> String {
        name(service)
    }
    fn wanted(spec: &StatelessServiceSpec) -> bool {
        spec.service_account.is_some()
    }
    fn build(inputs: &Inputs<'_>) -> Option<ServiceAccount> {
        let valid = inputs.valid;
        let account = valid.spec().service_account.as_ref()?;
        let mut metadata = meta::<Self>(valid);
        // The user's labels first, ours over them: the selector and watch labels must hold.
        let mut all_labels: BTreeMap<String, String> = account.labels.clone();
        all_labels.extend(labels(valid.name()));
        metadata.labels = Some(all_labels);
        metadata.annotations = (!account.annotations.is_empty()).then(|| account.annotations.clone());
        Some(ServiceAccount {
            metadata,
            automount_service_account_token: Some(false),
            ..ServiceAccount::default()
        })
    }
    fn object(built: &Option<ServiceAccount>) -> Option<&ServiceAccount> {
        built.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::children::ChildKind;

    fn built(spec: Value) -> Option<Value> {
        let children = crate::children::test_support::children(spec);
        ChildKind::ServiceAccount.entry().desired(&children).unwrap()
    }

    #[test]
    fn built_only_when_asked_for_with_the_metadata_identity_reads() {
        assert_eq!(built(json!({"image": "x"})), None);
        let sa = built(json!({"image": "x", "serviceAccount": {
            "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/web"},
            "labels": {"azure.workload.identity/use": "true", "stateless.dev/service": "other"},
        }}))
        .unwrap();
        assert_eq!(sa["metadata"]["name"], "web");
        assert_eq!(
            sa["metadata"]["annotations"],
            json!({"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/web"})
        );
        assert_eq!(sa["metadata"]["labels"]["azure.workload.identity/use"], "true");
        assert_eq!(
            sa["metadata"]["labels"]["stateless.dev/service"], "web",
            "our labels win over the user's"
        );
        assert_eq!(sa["automountServiceAccountToken"], false);
        assert_eq!(sa["metadata"]["ownerReferences"][0]["uid"], "u1");
    }

    #[test]
    fn what_other_managers_add_is_not_drift() {
        let desired = built(json!({"image": "x", "serviceAccount": {"annotations": {"a": "1"}}}))
            .unwrap();
        let mut live = desired.clone();
        live["metadata"]["annotations"]["cloud.example/added"] = json!("yes");
        live["metadata"]["labels"]["team"] = json!("payments");
        live["secrets"] = json!([{"name": "legacy-token"}]);
        let entry = ChildKind::ServiceAccount.entry();
        assert!(entry.differences(&desired, &live).is_empty());
        live["metadata"]["annotations"]["a"] = json!("changed");
        let paths: Vec<String> = entry
            .differences(&desired, &live)
            .into_iter()
            .map(|d| d.path)
            .collect();
        assert_eq!(paths, ["metadata.annotations.a"]);
    }
}
