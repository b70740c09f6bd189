//! ConfigMaps and Secrets other tools own (`config.from`, `secret.from`): whether each exists,
//! and a digest of its data for the config hash, at a cost that follows the number of services
//! and their references, not the number of objects in the cluster.
//!
//! The design, and why:
//! - **A metadata-only watch without a store** per kind (kube-runtime's `metadata_watcher`,
//!   `PartialObjectMetadata`): the child caches are label-filtered and cannot see foreign
//!   objects, and a full cache of every Secret would hold every Secret's data in memory (what
//!   Reloader pays, ~560 MiB for ~9,100 objects). Metadata is all the watch needs, and each event
//!   is dropped at once unless the object is referenced.
//! - **An index of references** ([`Index`]: referenced `(kind, namespace, name)` -> the
//!   services referencing it), kept from the StatelessServices' watch ([`References::track`]):
//!   an event on a referenced object triggers exactly its referencing services; any other event
//!   costs one hash-map lookup and no request.
//! - **A small record per referenced object** ([`Known`]): the resourceVersion the watch last
//!   reported, and the resourceVersion and digest of the data last read. The data is read (one
//!   GET) only when the two versions differ, so a re-sync of converged services costs no request,
//!   and a change of the data (a new resourceVersion) costs one GET and rolls the pods. After the
//!   operator restarts, each referenced object is read once.
//! - A watch re-list (after a 410) delivers no deletions: the referenced objects the watch had
//!   reported present and the re-list did not list are marked absent at its end, and their
//!   services triggered.
//! - The digest is a SHA-256 over the data (length-prefixed keys and values), the same in every
//!   process, so a restarted or newly elected operator computes the same config hash and rolls
//!   no pod. It is only ever kept in memory and fed into the config hash, an HMAC keyed by the
//!   service's own key (see [`crate::build::config_hash`]): the annotation says nothing about
//!   a referenced Secret's values.
//!
//! This module never writes: its only requests are the two watches (list/watch, already granted
//! for the operator's own ConfigMaps and Secrets) and GETs of referenced objects.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Client;
use sha2::{Digest, Sha256};

use crate::build::ExternalDigest;
use crate::crd::StatelessServiceSpec;
use crate::error::Error;
use crate::observe;

mod watch;
pub use watch::{track, watch};

/// The kind of a referenced object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefKind {
    /// `config.from`.
    ConfigMap,
    /// `secret.from`.
    Secret,
}

impl RefKind {
    /// The Kubernetes kind.
    pub fn as_str(self) -> &'static str {
        match self {
            RefKind::ConfigMap => "ConfigMap",
            RefKind::Secret => "Secret",
        }
    }

    /// The spec field that references objects of this kind.
    pub fn field(self) -> &'static str {
        match self {
            RefKind::ConfigMap => "config.from",
            RefKind::Secret => "secret.from",
        }
    }
}

/// A referenced object.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RefKey {
    /// Its kind.
    pub kind: RefKind,
    /// Its namespace (the referencing service's).
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// Every object `spec` references, in spec order (ConfigMaps first).
pub fn references(namespace: &str, spec: &StatelessServiceSpec) -> Vec<RefKey> {
    let key = |kind, name: &String| RefKey {
        kind,
        namespace: namespace.to_string(),
        name: name.clone(),
    };
    let config = spec
        .config
        .iter()
        .flat_map(|c| &c.from)
        .map(|r| key(RefKind::ConfigMap, &r.name));
    let secret = spec
        .secret
        .iter()
        .flat_map(|s| &s.from)
        .map(|r| key(RefKind::Secret, &r.name));
    config.chain(secret).collect()
}

/// Referenced objects -> the services (`namespace`, `name`) that reference them, and back.
#[derive(Debug, Default)]
pub struct Index {
    by_object: HashMap<RefKey, BTreeSet<String>>,
    by_service: HashMap<(String, String), Vec<RefKey>>,
}

impl Index {
    /// Records what a service references now; returns the objects no service references any
    /// more (their records can go).
    pub fn set(&mut self, namespace: &str, service: &str, refs: Vec<RefKey>) -> Vec<RefKey> {
        let mut dropped = self.remove(namespace, service);
        for key in &refs {
            self.by_object
                .entry(key.clone())
                .or_default()
                .insert(service.to_string());
        }
        dropped.retain(|k| !self.by_object.contains_key(k));
        if !refs.is_empty() {
            self.by_service
                .insert((namespace.to_string(), service.to_string()), refs);
        }
        dropped
    }

    /// Forgets a service; returns the objects no service references any more.
    pub fn remove(&mut self, namespace: &str, service: &str) -> Vec<RefKey> {
        let mut dropped = Vec::new();
        let id = (namespace.to_string(), service.to_string());
        for key in self.by_service.remove(&id).unwrap_or_default() {
            if let Some(services) = self.by_object.get_mut(&key) {
                services.remove(service);
                if services.is_empty() {
                    self.by_object.remove(&key);
                    dropped.push(key);
                }
            }
        }
        dropped
    }

    /// The services referencing `key`, as (namespace, name).
    pub fn services(&self, key: &RefKey) -> Vec<(String, String)> {
        self.by_object
            .get(key)
            .into_iter()
            .flatten()
            .map(|s| (key.namespace.clone(), s.clone()))
            .collect()
    }

    /// Whether any service references `key`.
    pub fn contains(&self, key: &RefKey) -> bool {
        self.by_object.contains_key(key)
    }

    /// Every service with references.
    pub fn tracked_services(&self) -> impl Iterator<Item = &(String, String)> {
        self.by_service.keys()
    }
}

/// What the watch last reported about an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// It exists with this resourceVersion.
    Present(String),
    /// It does not exist.
    Absent,
}

/// What the last read found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read {
    /// It existed with this resourceVersion and data digest.
    Found {
        /// Its resourceVersion.
        resource_version: String,
        /// The digest of its data.
        digest: [u8; 32],
    },
    /// It did not exist.
    Missing,
}

/// The record of one referenced object (see the module doc).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Known {
    /// The watch's latest word (`None`: it said nothing yet).
    pub seen: Option<Seen>,
    /// The last read (`None`: never read).
    pub read: Option<Read>,
}

impl Known {
    /// The remembered read when it still describes the object the watch reports, so no request
    /// is needed; `None` when the object must be read.
    pub fn current(&self) -> Option<&Read> {
        match (&self.seen, &self.read) {
            (
                Some(Seen::Present(seen)),
                Some(
                    read @ Read::Found {
                        resource_version, ..
                    },
                ),
            ) if seen == resource_version => Some(read),
            (Some(Seen::Absent), Some(read @ Read::Missing)) => Some(read),
            _ => None,
        }
    }

    /// Takes a read. When the watch has said nothing yet the read also stands for what it would
    /// say; otherwise the watch keeps its word (a read may be older than the latest event, and
    /// then the next reconcile reads again).
    pub fn record(&mut self, read: Read) {
        if self.seen.is_none() {
            self.seen = Some(match &read {
                Read::Found {
                    resource_version, ..
                } => Seen::Present(resource_version.clone()),
                Read::Missing => Seen::Absent,
            });
        }
        self.read = Some(read);
    }
}

/// One event of a metadata watch, reduced to what matters here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchEvent {
    /// A (re-)list starts.
    Init,
    /// An object seen by a list or the watch, with its resourceVersion.
    Apply {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// resourceVersion.
        resource_version: String,
        /// Whether it came from a list (then its absence at the end means deletion).
        listed: bool,
    },
    /// An object deleted.
    Delete {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// A (re-)list ended.
    InitDone,
}

/// The index, the records, and the lists in progress.
#[derive(Debug, Default)]
struct State {
    index: Index,
    known: HashMap<RefKey, Known>,
    /// Per kind, while a list runs: the referenced objects the watch had reported present
    /// when it started and the list has not reported yet (what is left at its end is gone).
    /// Only those: an object first seen during the list (or first read then) is not judged by
    /// a list that may have passed it before anyone referenced it.
    listing: HashMap<RefKind, HashSet<RefKey>>,
    /// The services a running re-list of StatelessServices has reported so far.
    services_listing: Option<HashSet<(String, String)>>,
}

/// The outcome of resolving a service's references.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolved {
    /// The digest of every referenced object that exists, in spec order.
    pub digests: Vec<ExternalDigest>,
    /// What is missing, one message per object (`ConfigMap ns/x referenced by config.from does
    /// not exist`).
    pub missing: Vec<String>,
}

/// The shared state: the index and the records, behind one lock held only for map operations
/// (never across a request).
#[derive(Default)]
pub struct References {
    state: Mutex<State>,
}

impl References {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters (at worst one extra GET), so a poisoned lock is used as it is.
        let mut state = match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut state)
    }

    /// Keeps the index from the StatelessServices' watch: a service seen with its spec
    /// (`Some`), or deleted or malformed (`None`).
    pub fn track_service(&self, namespace: &str, name: &str, spec: Option<&StatelessServiceSpec>) {
        self.with(|state| {
            if let Some(seen) = state.services_listing.as_mut() {
                seen.insert((namespace.to_string(), name.to_string()));
            }
            let dropped = match spec {
                Some(spec) => state
                    .index
                    .set(namespace, name, references(namespace, spec)),
                None => state.index.remove(namespace, name),
            };
            for key in dropped {
                state.known.remove(&key);
            }
        });
    }

    /// A list of StatelessServices starts (`true`) or ends (`false`).
    pub fn services_listing(&self, starts: bool) {
        self.with(|state| {
            if starts {
                state.services_listing = Some(HashSet::new());
                return;
            }
            let Some(seen) = state.services_listing.take() else {
                return;
            };
            let gone: Vec<(String, String)> = state
                .index
                .tracked_services()
                .filter(|s| !seen.contains(*s))
                .cloned()
                .collect();
            for (namespace, name) in gone {
                for key in state.index.remove(&namespace, &name) {
                    state.known.remove(&key);
                }
            }
        });
    }

    /// Takes one event of the `kind` watch; returns the services to reconcile: those that
    /// reference an object whose state changed.
    pub fn on_event(&self, kind: RefKind, event: WatchEvent) -> Vec<(String, String)> {
        self.with(|state| {
            let mut changed: Vec<RefKey> = Vec::new();
            let mut update = |state: &mut State, key: RefKey, seen: Seen| {
                if !state.index.contains(&key) {
                    return;
                }
                let known = state.known.entry(key.clone()).or_default();
                if known.seen.as_ref() != Some(&seen) {
                    known.seen = Some(seen);
                    changed.push(key);
                }
            };
            match event {
                WatchEvent::Init => {
                    let expected: HashSet<RefKey> = state
                        .known
                        .iter()
                        .filter(|(k, known)| {
                            k.kind == kind && matches!(known.seen, Some(Seen::Present(_)))
                        })
                        .map(|(k, _)| k.clone())
                        .collect();
                    state.listing.insert(kind, expected);
                }
                WatchEvent::Apply {
                    namespace,
                    name,
                    resource_version,
                    listed,
                } => {
                    let key = RefKey {
                        kind,
                        namespace,
                        name,
                    };
                    if listed && let Some(expected) = state.listing.get_mut(&kind) {
                        expected.remove(&key);
                    }
                    update(state, key, Seen::Present(resource_version));
                }
                WatchEvent::Delete { namespace, name } => {
                    let key = RefKey {
                        kind,
                        namespace,
                        name,
                    };
                    update(state, key, Seen::Absent);
                }
                WatchEvent::InitDone => {
                    for key in state.listing.remove(&kind).unwrap_or_default() {
                        update(state, key, Seen::Absent);
                    }
                }
            }
            let mut services: Vec<(String, String)> = changed
                .iter()
                .flat_map(|k| state.index.services(k))
                .collect();
            services.sort();
            services.dedup();
            services
        })
    }

    /// The records of referenced objects (for tests and the benchmark's accounting).
    pub fn known_count(&self) -> usize {
        self.with(|state| state.known.len())
    }

    /// Resolves the references of one service: each object's digest from its record when the
    /// record is current, else from a GET (remembered when the object is still referenced).
    pub async fn resolve(
        &self,
        client: &Client,
        namespace: &str,
        spec: &StatelessServiceSpec,
    ) -> Result<Resolved, Error> {
        let mut resolved = Resolved::default();
        for key in references(namespace, spec) {
            let remembered =
                self.with(|state| state.known.get(&key).and_then(Known::current).cloned());
            let read = match remembered {
                Some(read) => read,
                None => {
                    let read = self.read(client, &key).await?;
                    self.with(|state| {
                        if state.index.contains(&key) {
                            state
                                .known
                                .entry(key.clone())
                                .or_default()
                                .record(read.clone());
                        }
                    });
                    read
                }
            };
            match read {
                Read::Found { digest, .. } => resolved.digests.push(ExternalDigest {
                    source: format!("{}/{}", key.kind.field(), key.name),
                    digest,
                }),
                Read::Missing => resolved.missing.push(format!(
                    "{} {}/{} referenced by {} does not exist",
                    key.kind.as_str(),
                    key.namespace,
                    key.name,
                    key.kind.field()
                )),
            }
        }
        Ok(resolved)
    }

    /// GETs a referenced object and digests its data (the object itself is dropped).
    async fn read(&self, client: &Client, key: &RefKey) -> Result<Read, Error> {
        let (resource_version, digest) = match key.kind {
            RefKind::ConfigMap => {
                let Some(cm) =
                    observe::fetch::<ConfigMap>(client, &key.namespace, &key.name).await?
                else {
                    return Ok(Read::Missing);
                };
                (
                    cm.metadata.resource_version.clone(),
                    self.config_map_digest(&cm),
                )
            }
            RefKind::Secret => {
                let Some(s) = observe::fetch::<Secret>(client, &key.namespace, &key.name).await?
                else {
                    return Ok(Read::Missing);
                };
                (s.metadata.resource_version.clone(), self.secret_digest(&s))
            }
        };
        Ok(Read::Found {
            resource_version: resource_version.unwrap_or_default(),
            digest,
        })
    }

    /// The digest of a ConfigMap's `data` and `binaryData`.
    pub fn config_map_digest(&self, cm: &ConfigMap) -> [u8; 32] {
        let empty = BTreeMap::new();
        let text = cm.data.as_ref().unwrap_or(&empty);
        let empty_bin = BTreeMap::new();
        let binary = cm.binary_data.as_ref().unwrap_or(&empty_bin);
        self.digest(
            text.iter()
                .map(|(k, v)| (b"t".as_slice(), k.as_str(), v.as_bytes()))
                .chain(
                    binary
                        .iter()
                        .map(|(k, v)| (b"b".as_slice(), k.as_str(), v.0.as_slice())),
                ),
        )
    }

    /// The digest of a Secret's `data` (and `type`, which changes what consumers make of it).
    pub fn secret_digest(&self, secret: &Secret) -> [u8; 32] {
        let empty: BTreeMap<String, ByteString> = BTreeMap::new();
        let data = secret.data.as_ref().unwrap_or(&empty);
        let type_ = secret.type_.clone().unwrap_or_default();
        self.digest(
            std::iter::once((b"y".as_slice(), "type", type_.as_bytes())).chain(
                data.iter()
                    .map(|(k, v)| (b"d".as_slice(), k.as_str(), v.0.as_slice())),
            ),
        )
    }

    fn digest<'a>(&self, fields: impl Iterator<Item = (&'a [u8], &'a str, &'a [u8])>) -> [u8; 32] {
        let mut hash = Sha256::new();
        for (tag, key, value) in fields {
            hash.update(tag);
            hash.update((key.len() as u64).to_be_bytes());
            hash.update(key.as_bytes());
            hash.update((value.len() as u64).to_be_bytes());
            hash.update(value);
        }
        hash.finalize().into()
    }
}

#[cfg(test)]
#[path = "references/tests.rs"]
mod tests;
