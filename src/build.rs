//! The pure build step: one valid StatelessService (plus what must be carried over from the live
//! cluster) becomes the desired children.
//!
//! This is where the statelessness contract is written down: a read-only root filesystem, `/tmp`
//! as a size-limited emptyDir, the data claim as the only other writable mount, config and secret
//! mounted read-only, restricted Pod Security settings, no service-account token. The module
//! takes no client and does no I/O; randomness comes in through [`SecretGenerator`] so that tests
//! are deterministic. It must not decide *whether* to write anything (that is `apply`'s job).

use std::collections::BTreeMap;

use hmac::digest::{Key, KeyInit};
use hmac::{Hmac, Mac};
use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapEnvSource, ConfigMapVolumeSource, Container,
    EmptyDirVolumeSource, EnvFromSource, EnvVar, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec, PodTemplateSpec,
    SeccompProfile, Secret, SecretEnvSource, SecretVolumeSource, SecurityContext,
    TopologySpreadConstraint, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rand::RngExt;
use sha2::{Digest, Sha256};

use crate::crd::{API_VERSION, AccessMode, KIND, ReclaimPolicy, ScratchSpec};
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
/// Name of the one application container.
pub const CONTAINER_NAME: &str = "app";
/// Where the scratch emptyDir is mounted.
pub const SCRATCH_PATH: &str = "/tmp";

/// Volume names: the only volumes a pod of a StatelessService may have.
pub mod volumes {
    /// The `/tmp` scratch emptyDir.
    pub const SCRATCH: &str = "scratch";
    /// The ConfigMap, read-only.
    pub const CONFIG: &str = "config";
    /// The Secret, read-only.
    pub const SECRET: &str = "secret";
    /// The data claim, read-write.
    pub const DATA: &str = "data";
}

/// Child object names, derived from the StatelessService name.
///
/// The rule: a StatelessService name is a DNS label of at most 63 characters (enforced by CEL
/// and `validate`), so `<name>` is a valid Deployment/PDB name and label value, and the longest
/// suffixed name (`<name>-secret`, 70 characters) is far below the 253 allowed for ConfigMaps,
/// Secrets and claims.
pub mod names {
    /// The Deployment.
    pub fn deployment(service: &str) -> String {
        service.to_string()
    }
    /// The ConfigMap.
    pub fn config_map(service: &str) -> String {
        format!("{service}-config")
    }
    /// The Secret.
    pub fn secret(service: &str) -> String {
        format!("{service}-secret")
    }
    /// The PersistentVolumeClaim.
    pub fn claim(service: &str) -> String {
        format!("{service}-data")
    }
    /// The PodDisruptionBudget.
    pub fn disruption_budget(service: &str) -> String {
        service.to_string()
    }
}

/// The kinds of children, in the order they are applied (what pods need comes first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChildKind {
    /// `<name>-config`.
    ConfigMap,
    /// `<name>-secret`.
    Secret,
    /// `<name>-data`.
    Claim,
    /// `<name>`.
    Deployment,
    /// `<name>`.
    DisruptionBudget,
}

impl ChildKind {
    /// The Kubernetes kind (a bounded metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            ChildKind::ConfigMap => "ConfigMap",
            ChildKind::Secret => "Secret",
            ChildKind::Claim => "PersistentVolumeClaim",
            ChildKind::Deployment => "Deployment",
            ChildKind::DisruptionBudget => "PodDisruptionBudget",
        }
    }
}

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
}

/// The desired children of one StatelessService.
#[derive(Clone, Debug, PartialEq)]
pub struct Children {
    /// `<name>-config`, always present so that other tools may add keys.
    pub config_map: ConfigMap,
    /// `<name>-secret`, always present so that other tools may add keys.
    pub secret: Secret,
    /// `<name>-data`, when `storage` is set.
    pub claim: Option<PersistentVolumeClaim>,
    /// `<name>`.
    pub deployment: Deployment,
    /// `<name>`, when replicas >= 2.
    pub disruption_budget: Option<PodDisruptionBudget>,
}

impl Children {
    /// Every child as JSON with its kind, in apply order (what pods need comes first): the one
    /// order `render` prints and the controller applies.
    pub fn objects(&self) -> Result<Vec<(ChildKind, serde_json::Value)>, serde_json::Error> {
        let mut out = vec![
            (
                ChildKind::ConfigMap,
                serde_json::to_value(&self.config_map)?,
            ),
            (ChildKind::Secret, serde_json::to_value(&self.secret)?),
        ];
        if let Some(claim) = &self.claim {
            out.push((ChildKind::Claim, serde_json::to_value(claim)?));
        }
        out.push((
            ChildKind::Deployment,
            serde_json::to_value(&self.deployment)?,
        ));
        if let Some(pdb) = &self.disruption_budget {
            out.push((ChildKind::DisruptionBudget, serde_json::to_value(pdb)?));
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
    let secret = build_secret(valid, observed, generator);
    let config_map = build_config_map(valid);
    let secret_data = merged(observed.secret_data, secret.data.as_ref());
    // build_secret always puts the key into the desired data, so it is always found here.
    let key = secret_data
        .get(CONFIG_HASH_KEY)
        .map(|k| k.0.as_slice())
        .unwrap_or_default();
    let hash = config_hash(
        key,
        &merged(observed.config_data, config_map.data.as_ref()),
        &secret_data,
    );
    Children {
        claim: build_claim(valid),
        deployment: build_deployment(valid, &hash),
        disruption_budget: build_disruption_budget(valid),
        config_map,
        secret,
    }
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

fn meta(valid: Valid<'_>, name: String, owned: bool) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: valid.namespace().map(str::to_string),
        labels: Some(labels(valid.name())),
        owner_references: if owned {
            owner_reference(valid).map(|o| vec![o])
        } else {
            None
        },
        ..ObjectMeta::default()
    }
}

fn build_config_map(valid: Valid<'_>) -> ConfigMap {
    let data = valid
        .spec()
        .config
        .as_ref()
        .map(|c| c.data.clone())
        .filter(|d| !d.is_empty());
    ConfigMap {
        metadata: meta(valid, names::config_map(valid.name()), true),
        data,
        ..ConfigMap::default()
    }
}

fn build_secret(
    valid: Valid<'_>,
    observed: &Observed<'_>,
    generator: &mut dyn SecretGenerator,
) -> Secret {
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
    let mut metadata = meta(valid, names::secret(valid.name()), true);
    if !data.is_empty() {
        let keys: Vec<&str> = data.keys().map(String::as_str).collect();
        metadata.annotations = Some(BTreeMap::from([(
            ANNOTATION_GENERATED_KEYS.to_string(),
            keys.join(","),
        )]));
    }
    // The hash key is not listed in the annotation (it is not one of the user's values) but is
    // kept the same way: read back from the live Secret, generated only when it holds none.
    // It is generated last so that the user's values do not depend on its existence.
    let hash_key = live(CONFIG_HASH_KEY).unwrap_or_else(|| generate(CONFIG_HASH_KEY_LENGTH));
    data.insert(CONFIG_HASH_KEY.to_string(), hash_key);
    Secret {
        metadata,
        type_: Some("Opaque".to_string()),
        data: Some(data),
        ..Secret::default()
    }
}

fn build_claim(valid: Valid<'_>) -> Option<PersistentVolumeClaim> {
    let storage = valid.spec().storage.as_ref()?;
    // Under Retain the claim must outlive the StatelessService, so it gets no ownerReference
    // and the garbage collector never touches it.
    let owned = storage.reclaim_policy == ReclaimPolicy::Delete;
    Some(PersistentVolumeClaim {
        metadata: meta(valid, names::claim(valid.name()), owned),
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

fn build_disruption_budget(valid: Valid<'_>) -> Option<PodDisruptionBudget> {
    if valid.spec().replicas < 2 {
        return None;
    }
    Some(PodDisruptionBudget {
        metadata: meta(valid, names::disruption_budget(valid.name()), true),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(selector(valid.name())),
            // A crash-looping pod must still be evictable, or it blocks node drains for ever.
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".to_string()),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    })
}

fn build_deployment(valid: Valid<'_>, config_hash: &str) -> Deployment {
    let spec = valid.spec();
    let single_writer_volume = spec
        .storage
        .as_ref()
        .is_some_and(|s| s.access_mode != AccessMode::ReadWriteMany);
    // A rolling update starts the new pod before the old one stops; with a single-writer volume
    // the new pod would wait for the volume for ever, so such services are recreated instead.
    let strategy = if single_writer_volume {
        DeploymentStrategy {
            type_: Some("Recreate".to_string()),
            rolling_update: None,
        }
    } else {
        DeploymentStrategy {
            type_: Some("RollingUpdate".to_string()),
            rolling_update: Some(RollingUpdateDeployment {
                max_unavailable: Some(IntOrString::Int(0)),
                max_surge: Some(IntOrString::Int(1)),
            }),
        }
    };
    let pod_labels = labels(valid.name());
    let template = PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(pod_labels),
            annotations: Some(BTreeMap::from([(
                ANNOTATION_CONFIG_HASH.to_string(),
                config_hash.to_string(),
            )])),
            ..ObjectMeta::default()
        }),
        spec: Some(pod_spec(valid)),
    };
    Deployment {
        metadata: meta(valid, names::deployment(valid.name()), true),
        spec: DeploymentSpec {
            replicas: Some(spec.replicas),
            selector: selector(valid.name()),
            strategy: Some(strategy),
            template,
            ..DeploymentSpec::default()
        },
        ..Deployment::default()
    }
}

fn pod_spec(valid: Valid<'_>) -> PodSpec {
    let spec = valid.spec();
    let security = spec.pod_security.clone().unwrap_or_default();
    PodSpec {
        containers: vec![container(valid)],
        volumes: Some(volumes(valid)),
        automount_service_account_token: Some(false),
        // Set explicitly (not left to defaults) so that the operator owns these fields and a
        // forced apply takes them back from anyone who flips them.
        host_network: Some(false),
        host_pid: Some(false),
        host_ipc: Some(false),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: security.run_as_user,
            run_as_group: security.run_as_group,
            fs_group: security.fs_group,
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_string(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        }),
        topology_spread_constraints: Some(vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: "kubernetes.io/hostname".to_string(),
            // ScheduleAnyway: spreading is a preference; a one-node cluster must still run.
            when_unsatisfiable: "ScheduleAnyway".to_string(),
            label_selector: Some(selector(valid.name())),
            ..TopologySpreadConstraint::default()
        }]),
        ..PodSpec::default()
    }
}

/// The container's security context: the restricted Pod Security profile plus a read-only root.
pub fn container_security_context() -> SecurityContext {
    SecurityContext {
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_string()]),
            add: None,
        }),
        ..SecurityContext::default()
    }
}

fn container(valid: Valid<'_>) -> Container {
    let spec = valid.spec();
    let env: Vec<EnvVar> = spec
        .env
        .iter()
        .flatten()
        .map(|v| EnvVar {
            name: v.name.clone(),
            value: v.value.clone(),
            value_from: None,
        })
        .collect();
    let mut env_from = Vec::new();
    if spec.config.as_ref().is_some_and(|c| c.env) {
        env_from.push(EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: names::config_map(valid.name()),
                optional: Some(false),
            }),
            ..EnvFromSource::default()
        });
    }
    if spec.secret.as_ref().is_some_and(|s| s.env) {
        env_from.push(EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name: names::secret(valid.name()),
                optional: Some(false),
            }),
            ..EnvFromSource::default()
        });
    }
    let ports: Vec<_> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| k8s_openapi::api::core::v1::ContainerPort {
            name: Some(p.name.clone()),
            container_port: p.container_port,
            protocol: Some(p.protocol.as_str().to_string()),
            ..Default::default()
        })
        .collect();
    Container {
        name: CONTAINER_NAME.to_string(),
        image: Some(spec.image.clone()),
        command: spec.command.clone(),
        args: spec.args.clone(),
        env: (!env.is_empty()).then_some(env),
        env_from: (!env_from.is_empty()).then_some(env_from),
        ports: (!ports.is_empty()).then_some(ports),
        resources: spec.resources.clone(),
        readiness_probe: spec.readiness_probe.clone(),
        liveness_probe: spec.liveness_probe.clone(),
        security_context: Some(container_security_context()),
        volume_mounts: Some(volume_mounts(valid)),
        ..Container::default()
    }
}

fn volume_mounts(valid: Valid<'_>) -> Vec<VolumeMount> {
    let spec = valid.spec();
    let mount = |name: &str, path: &str, read_only: bool| VolumeMount {
        name: name.to_string(),
        mount_path: path.to_string(),
        read_only: Some(read_only),
        ..VolumeMount::default()
    };
    let mut mounts = vec![mount(volumes::SCRATCH, SCRATCH_PATH, false)];
    if let Some(path) = spec.config.as_ref().and_then(|c| c.mount_path.as_deref()) {
        mounts.push(mount(volumes::CONFIG, path, true));
    }
    if let Some(path) = spec.secret.as_ref().and_then(|s| s.mount_path.as_deref()) {
        mounts.push(mount(volumes::SECRET, path, true));
    }
    if let Some(storage) = &spec.storage {
        mounts.push(mount(volumes::DATA, &storage.mount_path, false));
    }
    mounts
}

fn volumes(valid: Valid<'_>) -> Vec<Volume> {
    let spec = valid.spec();
    let scratch = spec.scratch.clone().unwrap_or_default();
    let ScratchSpec { size_limit, medium } = scratch;
    let mut out = vec![Volume {
        name: volumes::SCRATCH.to_string(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: Some(medium.as_str().to_string()).filter(|m| !m.is_empty()),
            size_limit: Some(size_limit),
            ..EmptyDirVolumeSource::default()
        }),
        ..Volume::default()
    }];
    if spec.config.as_ref().is_some_and(|c| c.mount_path.is_some()) {
        out.push(Volume {
            name: volumes::CONFIG.to_string(),
            config_map: Some(ConfigMapVolumeSource {
                name: names::config_map(valid.name()),
                optional: Some(false),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        });
    }
    if spec.secret.as_ref().is_some_and(|s| s.mount_path.is_some()) {
        out.push(Volume {
            name: volumes::SECRET.to_string(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(names::secret(valid.name())),
                optional: Some(false),
                // Read-only for whichever user the image runs as (no fsGroup is required).
                default_mode: Some(0o444),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
    }
    if spec.storage.is_some() {
        out.push(Volume {
            name: volumes::DATA.to_string(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: names::claim(valid.name()),
                read_only: Some(false),
            }),
            ..Volume::default()
        });
    }
    out
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
