//! `<name>-config`: the service's configuration, always present so that other tools may add
//! keys (which count in the config hash).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;

use super::{APPLIED, Child};
use crate::build::{Inputs, meta};
use crate::crd::StatelessServiceSpec;
use crate::validate::Valid;

/// The ConfigMap child.
pub struct Rules;

/// Its name.
pub fn name(service: &str) -> String {
    format!("{service}-config")
}

/// The data the spec declares (`None` when it declares none).
pub fn data(valid: Valid<'_>) -> Option<BTreeMap<String, String>> {
    valid
        .spec()
        .config
        .as_ref()
        .map(|c| c.data.clone())
        .filter(|d| !d.is_empty())
}

impl Child for Rules {
    type Object = ConfigMap;
    type Built = ConfigMap;
    const VERBS: &'static [&'static str] = APPLIED;
    const COMPARED: &'static [&'static str] = &["metadata", "data"];

    fn name(service: &str) -> String {
        name(service)
    }
    fn wanted(_spec: &StatelessServiceSpec) -> bool {
        true
    }
    fn build(inputs: &Inputs<'_>) -> ConfigMap {
        ConfigMap {
            metadata: meta::<Self>(inputs.valid),
            data: data(inputs.valid),
            ..ConfigMap::default()
        }
    }
    fn object(built: &ConfigMap) -> Option<&ConfigMap> {
        Some(built)
    }
}
