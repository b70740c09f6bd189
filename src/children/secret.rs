//! `<name>-secret`: generated values and the config hash key, always present so that other
//! tools may add keys.
//!
//! A generated value is generated once and then read back from the live Secret for ever, even
//! after its key leaves the spec; so the Secret is read from the API server, not the cache,
//! whenever a value would be generated (a stale cache must never make one be generated twice).
//! Its values are never shown.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;

use super::{APPLIED, Child};
use crate::build::{
    ANNOTATION_GENERATED_KEYS, CONFIG_HASH_KEY, CONFIG_HASH_KEY_LENGTH, Inputs, Observed,
    SecretGenerator, meta,
};
use crate::crd::StatelessServiceSpec;
use crate::validate::Valid;

/// The Secret child.
pub struct Rules;

/// Its name.
pub fn name(service: &str) -> String {
    format!("{service}-secret")
}

/// The desired data: values generated earlier (read back from the live Secret), values the
/// spec asks for (generated when the live Secret lacks them), and the config hash key.
pub fn data(
    valid: Valid<'_>,
    observed: &Observed<'_>,
    generator: &mut dyn SecretGenerator,
) -> BTreeMap<String, ByteString> {
    let live = |key: &str| observed.secret_data.and_then(|d| d.get(key)).cloned();
    let mut generate = |length: usize| ByteString(generator.generate(length).into_bytes());
    let mut data = BTreeMap::new();
    // Values generated earlier stay for ever, even when their key left the spec: they may be
    // the only copy of a password another system now holds.
    for key in observed
        .generated_keys
        .into_iter()
        .flat_map(|keys| keys.split(','))
        .filter(|k| !k.is_empty() && *k != CONFIG_HASH_KEY)
    {
        if let Some(value) = live(key) {
            data.insert(key.to_string(), value);
        }
    }
    for generated in valid.spec().secret.iter().flat_map(|s| &s.generate) {
        let value = live(&generated.key)
            .unwrap_or_else(|| generate(usize::try_from(generated.length).unwrap_or(0)));
        data.insert(generated.key.clone(), value);
    }
    // The hash key is not one of the user's values but is kept the same way: read back from
    // the live Secret, generated only when it holds none. It is generated last so that the
    // user's values do not depend on its existence.
    let hash_key = live(CONFIG_HASH_KEY).unwrap_or_else(|| generate(CONFIG_HASH_KEY_LENGTH));
    data.insert(CONFIG_HASH_KEY.to_string(), hash_key);
    data
}

/// True when `build` would generate a value: the Secret lacks the config hash key (every
/// service has one) or a generated key the spec lists.
pub fn would_generate(secret: Option<&Secret>, spec: &StatelessServiceSpec) -> bool {
    let data = secret.and_then(|s| s.data.as_ref());
    let holds = |key: &str| data.is_some_and(|d| d.contains_key(key));
    !holds(CONFIG_HASH_KEY)
        || spec
            .secret
            .iter()
            .flat_map(|s| &s.generate)
            .any(|g| !holds(&g.key))
}

impl Child for Rules {
    type Object = Secret;
    type Built = Secret;
    const VERBS: &'static [&'static str] = APPLIED;
    const COMPARED: &'static [&'static str] = &["metadata", "type", "data"];
    const HIDE_VALUES: bool = true;

    fn name(service: &str) -> String {
        name(service)
    }
    fn wanted(_spec: &StatelessServiceSpec) -> bool {
        true
    }
    fn build(inputs: &Inputs<'_>) -> Secret {
        let mut metadata = meta::<Self>(inputs.valid);
        // The user's values, never the hash key, are listed (the keys, never the values).
        let keys: Vec<&str> = inputs
            .secret_data
            .keys()
            .map(String::as_str)
            .filter(|k| *k != CONFIG_HASH_KEY)
            .collect();
        if !keys.is_empty() {
            metadata.annotations = Some(BTreeMap::from([(
                ANNOTATION_GENERATED_KEYS.to_string(),
                keys.join(","),
            )]));
        }
        Secret {
            metadata,
            type_: Some("Opaque".to_string()),
            data: Some(inputs.secret_data.clone()),
            ..Secret::default()
        }
    }
    fn object(built: &Secret) -> Option<&Secret> {
        Some(built)
    }
    fn read_despite_cache(cached: Option<&Secret>, spec: &StatelessServiceSpec) -> bool {
        would_generate(cached, spec)
    }
}
