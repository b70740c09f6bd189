//! The shared part of the pure build step: one valid StatelessService (plus what must be
//! carried over from the live cluster) becomes the desired [`Children`].
//!
//! Each kind's own builder is in `src/children/`; here are the pieces they share: labels,
//! selector and ownerReference, the keyed config hash over all config and secret data (which
//! the Deployment's pod template carries) and the [`SecretGenerator`] through which randomness
//! comes in, so that tests are deterministic. The module takes no client and does no I/O. It
//! must not decide *whether* to write anything (that is `planning`'s job).

use std::collections::BTreeMap;

use hmac::digest::{Key, KeyInit};
use hmac::{Hmac, Mac};
use k8s_openapi::ByteString;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use rand::RngExt;
use sha2::{Digest, Sha256};

use crate::children::{Child, REGISTRY, config_map, secret};
pub use crate::children::{ChildKind, Children};
use crate::crd::{API_VERSION, KIND};
use crate::validate::Valid;

/// `app.kubernetes.io/name`: the service name, for dashboards and `kubectl get -l`.
pub const LABEL_NAME: &str = "app.kubernetes.io/name";
/// `app.kubernetes.io/managed-by`: marks objects this operator writes (and watches).
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Value of [`LABEL_MANAGED_BY`].
pub const MANAGER: &str = "stateless-operator";
/// `stateless.dev/service`: the service a child belongs to; the pods' selector.
pub const LABEL_SERVICE: &str = "stateless.dev/service";
/// Pod template annotation: keyed hash of all config and secret data, so pods roll when it
/// changes (see [`config_hash`]).
pub const ANNOTATION_CONFIG_HASH: &str = "stateless.dev/config-hash";
/// Secret data key of the random key the config hash is keyed with. Generated once, like the
/// values of `secret.generate`, and kept; `validate` refuses it as a `secret.generate` key. The
/// leading dot hides it in the mounted secret directory (the API server reserves only `..`).
pub const CONFIG_HASH_KEY: &str = ".stateless.dev-config-hash-key";
/// Length of the [`CONFIG_HASH_KEY`] value: 44 alphanumeric characters, about 262 bits.
pub const CONFIG_HASH_KEY_LENGTH: usize = 44;
/// Secret annotation: the keys whose values the operator generated (never the values).
pub const ANNOTATION_GENERATED_KEYS: &str = "stateless.dev/generated-keys";

/// Source of random secret values.
pub trait SecretGenerator {
    /// A new random value of `length` characters.
    fn generate(&mut self, length: usize) -> String;
}

/// Characters of generated values: alphanumeric, so values are safe in env vars, URLs and files.
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Values from the operating system's CSPRNG (through `rand`'s thread-local generator, which is
/// seeded from it and reseeds periodically).
#[derive(Debug, Default)]
pub struct OsRandom;

impl SecretGenerator for OsRandom {
    fn generate(&mut self, length: usize) -> String {
        let mut rng = rand::rng();
        (0..length)
            .map(|_| char::from(SECRET_ALPHABET[rng.random_range(0..SECRET_ALPHABET.len())]))
            .collect()
    }
}

/// What the build must carry over from the live cluster.
#[derive(Clone, Debug, Default)]
pub struct Observed<'a> {
    /// Data of the live ConfigMap (keys added by other tools count in the config hash).
    pub config_data: Option<&'a BTreeMap<String, String>>,
    /// Data of the live Secret: generated values are read back from here, never regenerated.
    pub secret_data: Option<&'a BTreeMap<String, ByteString>>,
    /// The live Secret's [`ANNOTATION_GENERATED_KEYS`].
    pub generated_keys: Option<&'a str>,
    /// Digests of the referenced objects other tools own (`config.from`, `secret.from`), which
    /// count in the config hash; see `crate::references`.
    pub external: &'a [ExternalDigest],
}

/// The data of one referenced object, as a digest (the data itself is never kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalDigest {
    /// Where it comes from, e.g. `secret.from/db-credentials`.
    pub source: String,
    /// A keyed digest of its data.
    pub digest: [u8; 32],
}

/// What every kind's builder gets.
#[derive(Clone, Debug)]
pub struct Inputs<'a> {
    /// The service.
    pub valid: Valid<'a>,
    /// The Secret's desired data (see [`secret::data`]): shared because the config hash is
    /// computed over it.
    pub secret_data: BTreeMap<String, ByteString>,
    /// The pod template's [`ANNOTATION_CONFIG_HASH`].
    pub config_hash: String,
}

impl Children {
    /// Every child as JSON with its kind, in registry order (what pods need comes first): the
    /// one order `render` prints and the controller applies.
    pub fn objects(&self) -> Result<Vec<(ChildKind, serde_json::Value)>, serde_json::Error> {
        let mut out = Vec::new();
        for entry in REGISTRY {
            if let Some(object) = entry.desired(self)? {
                out.push((entry.kind(), object));
            }
        }
        Ok(out)
    }

    /// The pod template's [`ANNOTATION_CONFIG_HASH`].
    pub fn config_hash(&self) -> Option<String> {
        self.deployment
            .spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get(ANNOTATION_CONFIG_HASH))
            .cloned()
    }
}

/// Builds the children of a valid StatelessService.
pub fn build(
    valid: Valid<'_>,
    observed: &Observed<'_>,
    generator: &mut dyn SecretGenerator,
) -> Children {
    let secret_data = secret::data(valid, observed, generator);
    // secret::data always puts the key into the desired data, so it is always found here.
    let key = secret_data
        .get(CONFIG_HASH_KEY)
        .map(|k| k.0.as_slice())
        .unwrap_or_default();
    let config_hash = config_hash_with(
        key,
        &merged(observed.config_data, config_map::data(valid).as_ref()),
        &merged(observed.secret_data, Some(&secret_data)),
        observed.external,
    );
    Children::build_each(&Inputs {
        valid,
        secret_data,
        config_hash,
    })
}

/// Labels every child carries. The StatelessService's own labels are not copied: GitOps tools
/// track their objects by label, and children must not look like objects they applied.
pub fn labels(service: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_NAME.to_string(), service.to_string()),
        (LABEL_MANAGED_BY.to_string(), MANAGER.to_string()),
        (LABEL_SERVICE.to_string(), service.to_string()),
    ])
}

/// The selector of the pods (and of the disruption budget).
pub fn selector(service: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some(BTreeMap::from([(
            LABEL_SERVICE.to_string(),
            service.to_string(),
        )])),
        ..LabelSelector::default()
    }
}

/// The controller ownerReference that ties a child to its StatelessService, when the object has
/// a uid (an offline file has none, and then no ownerReference can be written).
pub fn owner_reference(valid: Valid<'_>) -> Option<OwnerReference> {
    let uid = valid.service().metadata.uid.clone()?;
    Some(OwnerReference {
        api_version: API_VERSION.to_string(),
        kind: KIND.to_string(),
        name: valid.name().to_string(),
        uid,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

/// The metadata of kind `C`'s child: its name, namespace, labels, and the ownerReference when
/// the kind is owned for this spec.
pub fn meta<C: Child>(valid: Valid<'_>) -> ObjectMeta {
    ObjectMeta {
        name: Some(C::name(valid.name())),
        namespace: valid.namespace().map(str::to_string),
        labels: Some(labels(valid.name())),
        owner_references: if C::owned(valid.spec()) {
            owner_reference(valid).map(|o| vec![o])
        } else {
            None
        },
        ..ObjectMeta::default()
    }
}

/// The live data overlaid with the desired data (desired wins: it is what will be applied).
fn merged<V: Clone>(
    live: Option<&BTreeMap<String, V>>,
    desired: Option<&BTreeMap<String, V>>,
) -> BTreeMap<String, V> {
    let mut out = live.cloned().unwrap_or_default();
    out.extend(
        desired
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    out
}

/// Keyed hash over every config and secret key and value (including keys other tools added),
/// so that any change to the pods' external state rolls them, and nothing else does: the
/// [`CONFIG_HASH_KEY`] entry itself is left out of the data.
///
/// An HMAC-SHA256 keyed by the service's own random key: whoever may read the Deployment but
/// not the Secret learns nothing about the secret values from it (an unkeyed hash would let
/// them test guesses of a low-entropy value offline). Keys and values are length-prefixed so
/// that no two different maps hash the same. 80 bits of the tag are kept: enough that two
/// states never collide by chance, and the annotation stays short.
pub fn config_hash(
    key: &[u8],
    config: &BTreeMap<String, String>,
    secret: &BTreeMap<String, ByteString>,
) -> String {
    config_hash_with(key, config, secret, &[])
}

/// [`config_hash`] over the service's own data and the digests of the objects it references
/// (in spec order). Without references it is exactly [`config_hash`], so adding the feature
/// rolls no pod.
pub fn config_hash_with(
    key: &[u8],
    config: &BTreeMap<String, String>,
    secret: &BTreeMap<String, ByteString>,
    external: &[ExternalDigest],
) -> String {
    let mut mac = keyed_mac(key);
    let mut field = |tag: &[u8], bytes: &[u8]| {
        mac.update(tag);
        mac.update(&(bytes.len() as u64).to_be_bytes());
        mac.update(bytes);
    };
    for (k, v) in config {
        field(b"ck", k.as_bytes());
        field(b"cv", v.as_bytes());
    }
    for (k, v) in secret.iter().filter(|(k, _)| k.as_str() != CONFIG_HASH_KEY) {
        field(b"sk", k.as_bytes());
        field(b"sv", &v.0);
    }
    for e in external {
        field(b"xs", e.source.as_bytes());
        field(b"xd", &e.digest);
    }
    let tag = mac.finalize().into_bytes();
    let hex: String = tag.iter().take(10).map(|b| format!("{b:02x}")).collect();
    format!("hmac-sha256-{hex}")
}

/// HMAC-SHA256 keyed with a key of any length. RFC 2104 hashes a key longer than the block and
/// zero-pads a shorter one; doing that here lets the infallible fixed-size constructor be used
/// (the slice constructor returns a `Result` that is never an error for HMAC).
fn keyed_mac(key: &[u8]) -> Hmac<Sha256> {
    let mut block = Key::<Hmac<Sha256>>::default();
    if key.len() > block.len() {
        let digest = Sha256::digest(key);
        block[..digest.len()].copy_from_slice(&digest);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    <Hmac<Sha256> as KeyInit>::new(&block)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn hmac(key: &[u8], data: &[u8]) -> String {
        let mut mac = keyed_mac(key);
        mac.update(data);
        hex(&mac.finalize().into_bytes())
    }

    #[test]
    fn references_count_in_the_config_hash_and_nothing_changes_without_them() {
        let config = BTreeMap::from([("a".to_string(), "1".to_string())]);
        let secret = BTreeMap::new();
        let plain = config_hash(b"k", &config, &secret);
        assert_eq!(config_hash_with(b"k", &config, &secret, &[]), plain);
        let digest = |d: u8| ExternalDigest {
            source: "config.from/shared".to_string(),
            digest: [d; 32],
        };
        let one = config_hash_with(b"k", &config, &secret, &[digest(1)]);
        assert_ne!(one, plain);
        assert_ne!(one, config_hash_with(b"k", &config, &secret, &[digest(2)]));
        assert_eq!(one, config_hash_with(b"k", &config, &secret, &[digest(1)]));
    }

    #[test]
    fn keyed_mac_is_rfc_4231_hmac_sha256() {
        // Test case 1: a short key.
        assert_eq!(
            hmac(&[0x0b; 20], b"Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // Test case 2: a key shorter than the data.
        assert_eq!(
            hmac(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block is hashed first.
        assert_eq!(
            hmac(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        // A key of exactly one block is used as it is.
        let mut reference = <Hmac<Sha256> as Mac>::new_from_slice(&[7; 64]).unwrap();
        reference.update(b"x");
        assert_eq!(
            hmac(&[7; 64], b"x"),
            hex(&reference.finalize().into_bytes())
        );
    }
}
