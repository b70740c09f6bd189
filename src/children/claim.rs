//! `<name>-data`: the one writable volume that outlives a pod, when `storage` is set.
//!
//! Under `reclaimPolicy: Retain` it must outlive the StatelessService too, so it gets no
//! ownerReference and the garbage collector never touches it; the operator never deletes it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, VolumeResourceRequirements,
};

use super::{APPLIED, Child};
use crate::build::{Inputs, meta};
use crate::crd::{ReclaimPolicy, StatelessServiceSpec};

/// The PersistentVolumeClaim child.
pub struct Rules;

/// Its name.
pub fn name(service: &str) -> String {
    format!("{service}-data")
}

impl Child for Rules {
    type Object = PersistentVolumeClaim;
    type Built = Option<PersistentVolumeClaim>;
    const VERBS: &'static [&'static str] = APPLIED;
    const COMPARED: &'static [&'static str] = &["metadata", "spec"];

    fn name(service: &str) -> String {
        name(service)
    }
    fn wanted(spec: &StatelessServiceSpec) -> bool {
        spec.storage.is_some()
    }
    fn owned(spec: &StatelessServiceSpec) -> bool {
        spec.storage
            .as_ref()
            .is_some_and(|s| s.reclaim_policy == ReclaimPolicy::Delete)
    }
    fn build(inputs: &Inputs<'_>) -> Option<PersistentVolumeClaim> {
        let storage = inputs.valid.spec().storage.as_ref()?;
        Some(PersistentVolumeClaim {
            metadata: meta::<Self>(inputs.valid),
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec![storage.access_mode.as_str().to_string()]),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([(
                        "storage".to_string(),
                        storage.size.clone(),
                    )])),
                    ..VolumeResourceRequirements::default()
                }),
                storage_class_name: storage.storage_class_name.clone(),
                ..PersistentVolumeClaimSpec::default()
            }),
            ..PersistentVolumeClaim::default()
        })
    }
    fn object(built: &Option<PersistentVolumeClaim>) -> Option<&PersistentVolumeClaim> {
        built.as_ref()
    }
}
