//! Volumes and mounts of the main container onto what a StatelessService has: `/tmp` scratch
//! (an emptyDir at /tmp), one config directory (ConfigMap data), one secret directory, one data
//! claim. Everything else is named in a change: emptyDirs elsewhere, extra ConfigMaps and
//! claims, files mounted by subPath, host paths, per-pod claims.
//!
//! Part of the pure conversion; no I/O.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{
    Container, PersistentVolumeClaim, PersistentVolumeClaimSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::{Map, Value};

use super::ChangeKind;
use super::ImportError;
use super::convert::Ctx;
use crate::crd::{
    AccessMode, ConfigSpec, ReclaimPolicy, ScratchMedium, ScratchSpec, SecretSpec, StorageSpec,
    default_scratch_size,
};

/// The volume type: the one field of a Volume besides its name.
fn kind(v: &Volume) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|j| {
            j.as_object()
                .and_then(|o| o.keys().find(|k| k.as_str() != "name").cloned())
        })
        .unwrap_or_else(|| "emptyDir".to_string())
}

/// `/a/b/` -> `/a/b`: the same directory.
fn normalise(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else {
        trimmed.to_string()
    }
}

fn overlaps(a: &str, b: &str) -> bool {
    a == b || a.starts_with(&format!("{b}/")) || b.starts_with(&format!("{a}/"))
}

/// Why `path` cannot be a config, secret or data mount path, if it cannot.
fn unusable(ctx: &Ctx<'_>, path: &str) -> Option<String> {
    let normal = path.starts_with('/')
        && path[1..]
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..");
    if !normal || path == "/" {
        return Some(format!("{path} is not an absolute, normalised directory"));
    }
    if path == crate::children::deployment::SCRATCH_PATH || path.starts_with("/tmp/") {
        return Some(format!("{path} is inside /tmp, the scratch directory"));
    }
    let taken = [
        (
            "config",
            ctx.spec.config.as_ref().and_then(|c| c.mount_path.clone()),
        ),
        (
            "secret",
            ctx.spec.secret.as_ref().and_then(|s| s.mount_path.clone()),
        ),
        (
            "storage",
            ctx.spec.storage.as_ref().map(|s| s.mount_path.clone()),
        ),
    ];
    taken
        .into_iter()
        .find_map(|(what, p)| p.filter(|p| overlaps(p, path)).map(|p| (what, p)))
        .map(|(what, p)| format!("{path} overlaps {what}.mountPath {p}"))
}

/// Maps the volumes the main container mounts; names every other volume.
pub(super) fn map(
    ctx: &mut Ctx<'_>,
    pod: &Map<String, Value>,
    spec: &Map<String, Value>,
    c: &Container,
    main_path: &str,
    stateful: bool,
) -> Result<(), ImportError> {
    let volumes: Vec<Volume> = ctx
        .typed::<Option<Vec<Volume>>>(
            pod.get("volumes").unwrap_or(&Value::Null),
            "spec.template.spec.volumes",
        )?
        .unwrap_or_default();
    let templates: Vec<PersistentVolumeClaim> = if stateful {
        ctx.typed::<Option<Vec<PersistentVolumeClaim>>>(
            spec.get("volumeClaimTemplates").unwrap_or(&Value::Null),
            "spec.volumeClaimTemplates",
        )?
        .unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut used = BTreeSet::new();
    let mut had_tmp = false;
    for (i, m) in c.volume_mounts.iter().flatten().enumerate() {
        let at = format!("{main_path}.volumeMounts[{i}]");
        let path = normalise(&m.mount_path);
        had_tmp |= path == crate::children::deployment::SCRATCH_PATH;
        used.insert(m.name.clone());
        for (field, set) in [
            (
                "subPathExpr",
                m.sub_path_expr.as_deref().is_some_and(|s| !s.is_empty()),
            ),
            (
                "mountPropagation",
                m.mount_propagation.as_deref().is_some_and(|p| p != "None"),
            ),
        ] {
            if set {
                ctx.change(
                    ChangeKind::Inexpressible,
                    format!("{at}.{field}"),
                    format!("{field} of the mount at {path} cannot be expressed"),
                );
            }
        }
        if let Some((vi, v)) = volumes.iter().enumerate().find(|(_, v)| v.name == m.name) {
            volume(
                ctx,
                v,
                &format!("spec.template.spec.volumes[{vi}]"),
                m,
                &path,
            );
        } else if let Some((ti, t)) = templates
            .iter()
            .enumerate()
            .find(|(_, t)| t.metadata.name.as_deref() == Some(m.name.as_str()))
        {
            claim_template(ctx, t, &format!("spec.volumeClaimTemplates[{ti}]"), &path);
        } else {
            ctx.change(
                ChangeKind::Dropped,
                at,
                format!("the mount at {path} names no volume `{}`", m.name),
            );
        }
    }
    for (vi, v) in volumes
        .iter()
        .enumerate()
        .filter(|(_, v)| !used.contains(&v.name))
    {
        ctx.change(
            ChangeKind::Dropped,
            format!("spec.template.spec.volumes[{vi}]"),
            format!("volume `{}` ({}) dropped: the application container does not mount it (only containers that were dropped do, or none)", v.name, kind(v)),
        );
    }
    for (ti, t) in templates.iter().enumerate() {
        let name = t.metadata.name.clone().unwrap_or_default();
        if !used.contains(&name) {
            ctx.change(ChangeKind::Inexpressible, format!("spec.volumeClaimTemplates[{ti}]"), format!("volumeClaimTemplate `{name}` dropped: the application container does not mount it"));
        }
    }
    if !had_tmp {
        ctx.change(
            ChangeKind::Changed,
            "spec.template.spec.volumes",
            format!(
                "/tmp is a {} emptyDir (scratch, lost with the pod)",
                default_scratch_size().0
            ),
        );
    }
    Ok(())
}

fn volume(ctx: &mut Ctx<'_>, v: &Volume, vpath: &str, m: &VolumeMount, path: &str) {
    let name = &v.name;
    let sub_path = m.sub_path.as_deref().filter(|s| !s.is_empty());
    if let Some(dir) = &v.empty_dir {
        empty_dir(ctx, name, vpath, dir, m, path, sub_path);
    } else if let Some(cm) = &v.config_map {
        let data = ctx.refs.config_maps.get(&cm.name).cloned();
        let clashes = match &data {
            Some((data, binary)) => {
                if !binary.is_empty() {
                    ctx.change(ChangeKind::Inexpressible, format!("{vpath}.configMap"), format!("binaryData keys {} of ConfigMap `{}` cannot be expressed: config.data holds text", binary.join(", "), cm.name));
                }
                merge(ctx, data)
            }
            None => Vec::new(),
        };
        let known = if data.is_some() {
            format!("its keys are in spec.config.data{}", clash_note(&clashes))
        } else {
            format!(
                "ConfigMap `{}` is not in the input: copy its data into spec.config.data",
                cm.name
            )
        };
        let child = crate::children::config_map::name(&ctx.service);
        same_name(ctx, "ConfigMap", &cm.name, &child, vpath);
        if let Some(file) = sub_path {
            ctx.change(ChangeKind::Inexpressible, format!("{vpath}.configMap"), format!("the file `{file}` of ConfigMap `{}` mounted alone (subPath) at {path} cannot be expressed: the config is mounted as one directory, so set config.mountPath to a directory the application reads; {known}", cm.name));
            return;
        }
        let taken = ctx
            .spec
            .config
            .as_ref()
            .is_some_and(|c| c.mount_path.is_some());
        match unusable(ctx, path) {
            None if !taken => {
                ctx.spec.config.get_or_insert_with(ConfigSpec::default).mount_path = Some(path.to_string());
                ctx.change(ChangeKind::Changed, format!("{vpath}.configMap"), format!("ConfigMap `{}` at {path} becomes the ConfigMap `{}` at config.mountPath: {known}", cm.name, crate::children::config_map::name(&ctx.service)));
                if cm.items.as_ref().is_some_and(|items| !items.is_empty()) {
                    ctx.change(ChangeKind::Changed, format!("{vpath}.configMap.items"), "items dropped: every config key is a file named after the key");
                }
                if cm.default_mode.is_some_and(|m| m != 0o644) {
                    ctx.change(ChangeKind::Changed, format!("{vpath}.configMap.defaultMode"), "defaultMode dropped: config files are mode 0644");
                }
            }
            reason => ctx.change(ChangeKind::Dropped, format!("{vpath}.configMap"), format!("the mount of ConfigMap `{}` at {path} dropped: {}; {known}, mounted at config.mountPath", cm.name, reason.unwrap_or_else(|| "a StatelessService mounts one config directory".to_string()))),
        }
    } else if let Some(secret) = &v.secret {
        let source = secret.secret_name.clone().unwrap_or_default();
        let keys = ctx
            .refs
            .secret_keys
            .get(&source)
            .map(|k| format!(" ({})", k.join(", ")))
            .unwrap_or_default();
        let target = crate::children::secret::name(&ctx.service);
        same_name(ctx, "Secret", &source, &target, vpath);
        if let Some(file) = sub_path {
            ctx.change(ChangeKind::Inexpressible, format!("{vpath}.secret"), format!("the file `{file}` of Secret `{source}` mounted alone (subPath) at {path} cannot be expressed: copy the keys of `{source}`{keys} into the Secret `{target}` and set secret.mountPath to a directory the application reads"));
            return;
        }
        let taken = ctx
            .spec
            .secret
            .as_ref()
            .is_some_and(|s| s.mount_path.is_some());
        match unusable(ctx, path) {
            None if !taken => {
                ctx.spec.secret.get_or_insert_with(SecretSpec::default).mount_path = Some(path.to_string());
                ctx.change(ChangeKind::Changed, format!("{vpath}.secret"), format!("Secret `{source}` at {path} becomes the Secret `{target}` at secret.mountPath: copy the keys of `{source}`{keys} into it (or list random ones under secret.generate); the operator never copies secret values"));
                if secret.default_mode.is_some_and(|m| m != 0o444) || secret.items.as_ref().is_some_and(|i| !i.is_empty()) {
                    ctx.change(ChangeKind::Changed, format!("{vpath}.secret"), "items and defaultMode dropped: every secret key is a file named after the key, mode 0444");
                }
            }
            reason => ctx.change(ChangeKind::Dropped, format!("{vpath}.secret"), format!("the mount of Secret `{source}` at {path} dropped: {}; copy the keys you need into the Secret `{target}`", reason.unwrap_or_else(|| "a StatelessService mounts one secret directory".to_string()))),
        }
    } else if let Some(pvc) = &v.persistent_volume_claim {
        let known = ctx.refs.claims.get(&pvc.claim_name).cloned();
        let what = format!("claim `{}`", pvc.claim_name);
        same_name(
            ctx,
            "PersistentVolumeClaim",
            &pvc.claim_name,
            &crate::children::claim::name(&ctx.service),
            vpath,
        );
        match known {
            Some(claim) => storage(ctx, &claim, &format!("{vpath}.persistentVolumeClaim"), &what, m, path, sub_path),
            None => ctx.change(ChangeKind::Dropped, format!("{vpath}.persistentVolumeClaim"), format!("{what} at {path} is not in the input, so its size and class are unknown: add spec.storage with size and mountPath {path}")),
        }
    } else if let Some(host) = &v.host_path {
        ctx.change(ChangeKind::Inexpressible, format!("{vpath}.hostPath"), format!("volume `{name}` (the node's directory {} at {path}) cannot be expressed: pods never use node directories; keep data on the claim", host.path));
    } else {
        ctx.change(ChangeKind::Inexpressible, vpath.to_string(), format!("volume `{name}` ({} at {path}) cannot be expressed: a StatelessService mounts only /tmp, its config, its secret and its data claim", kind(v)));
    }
}

fn empty_dir(
    ctx: &mut Ctx<'_>,
    name: &str,
    vpath: &str,
    dir: &k8s_openapi::api::core::v1::EmptyDirVolumeSource,
    m: &VolumeMount,
    path: &str,
    sub_path: Option<&str>,
) {
    if path == crate::children::deployment::SCRATCH_PATH && ctx.spec.scratch.is_none() {
        let medium = if dir.medium.as_deref() == Some("Memory") {
            ScratchMedium::Memory
        } else {
            ScratchMedium::Default
        };
        ctx.spec.scratch = Some(ScratchSpec {
            size_limit: dir.size_limit.clone().unwrap_or_else(default_scratch_size),
            medium,
        });
        if dir.size_limit.is_none() {
            ctx.change(ChangeKind::Changed, format!("{vpath}.emptyDir.sizeLimit"), format!("emptyDir `{name}` at /tmp had no sizeLimit: scratch is limited to {} (raise scratch.sizeLimit if it needs more)", default_scratch_size().0));
        }
        if let Some(sub) = sub_path {
            ctx.change(
                ChangeKind::Changed,
                format!("{vpath}.emptyDir"),
                format!("subPath `{sub}` dropped: /tmp is an emptyDir of its own"),
            );
        }
        if m.read_only == Some(true) {
            ctx.change(
                ChangeKind::Changed,
                format!("{vpath}.emptyDir"),
                "/tmp is mounted read-write",
            );
        }
    } else if path.starts_with("/tmp/") {
        ctx.change(ChangeKind::Dropped, format!("{vpath}.emptyDir"), format!("volume `{name}` (emptyDir at {path}) dropped: /tmp is the scratch emptyDir, so {path} stays writable (within scratch.sizeLimit)"));
    } else {
        ctx.change(ChangeKind::Dropped, format!("{vpath}.emptyDir"), format!("volume `{name}` (emptyDir at {path}) dropped: only /tmp and the data claim are writable; point it at /tmp (or add storage for data that must survive the pod)"));
    }
}

/// An existing object named like one of the operator's children: the operator never takes
/// over a foreign object, so it must go (or the StatelessService be named differently).
fn same_name(ctx: &mut Ctx<'_>, kind: &str, existing: &str, child: &str, at: &str) {
    if existing == child {
        ctx.change(
            ChangeKind::Changed,
            at.to_string(),
            format!("the existing {kind} `{existing}` has the name of the operator's own {kind}, which never takes over a foreign object (NameConflict): remove it once its content is carried over, or import with --name"),
        );
    }
}

/// Merges ConfigMap data into config.data; returns the keys that clash with different values.
fn merge(ctx: &mut Ctx<'_>, data: &std::collections::BTreeMap<String, String>) -> Vec<String> {
    let config = ctx.spec.config.get_or_insert_with(ConfigSpec::default);
    let mut clashes = Vec::new();
    for (k, v) in data {
        match config.data.get(k) {
            Some(old) if old != v => clashes.push(k.clone()),
            _ => {
                config.data.insert(k.clone(), v.clone());
            }
        }
    }
    clashes
}

fn clash_note(clashes: &[String]) -> String {
    if clashes.is_empty() {
        String::new()
    } else {
        format!(
            " (except {}, which another ConfigMap already sets differently)",
            clashes.join(", ")
        )
    }
}

/// The storage a claim (or claim template) requests, if it says.
fn requested_size(spec: &PersistentVolumeClaimSpec) -> Option<Quantity> {
    spec.resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .cloned()
}

fn access_mode(modes: &[String]) -> AccessMode {
    if modes.iter().any(|m| m == "ReadWriteMany") {
        AccessMode::ReadWriteMany
    } else if modes.iter().any(|m| m == "ReadWriteOncePod") {
        AccessMode::ReadWriteOncePod
    } else {
        AccessMode::ReadWriteOnce
    }
}

fn storage(
    ctx: &mut Ctx<'_>,
    claim: &PersistentVolumeClaim,
    at: &str,
    what: &str,
    m: &VolumeMount,
    path: &str,
    sub_path: Option<&str>,
) {
    if ctx.spec.storage.is_some() {
        ctx.change(ChangeKind::Dropped, at, format!("{what} at {path} dropped: a StatelessService has one data claim; move this data under {}", ctx.spec.storage.as_ref().map(|s| s.mount_path.clone()).unwrap_or_default()));
        return;
    }
    if let Some(reason) = unusable(ctx, path) {
        ctx.change(ChangeKind::Dropped, at, format!("{what} dropped: {reason}"));
        return;
    }
    let spec = claim.spec.clone().unwrap_or_default();
    let Some(size) = requested_size(&spec) else {
        ctx.change(ChangeKind::Dropped, at, format!("{what} at {path} requests no storage size: add spec.storage with size and mountPath {path}"));
        return;
    };
    let modes = spec.access_modes.clone().unwrap_or_default();
    let mut mode = access_mode(&modes);
    if ctx.replicas > 1 && mode != AccessMode::ReadWriteMany {
        ctx.change(ChangeKind::Changed, format!("{at}.accessModes"), format!("{} replicas share the claim, so storage.accessMode is ReadWriteMany (the storage class must provide it; or set replicas: 1)", ctx.replicas));
        mode = AccessMode::ReadWriteMany;
    }
    set_storage(ctx, size, spec.storage_class_name.clone(), mode, path);
    ctx.change(ChangeKind::Changed, at.to_string(), format!("{what} at {path} becomes the claim `{}`, a new and empty claim (reclaimPolicy Retain): copy the data of {what} into it before you switch", crate::children::claim::name(&ctx.service)));
    if m.read_only == Some(true) {
        ctx.change(
            ChangeKind::Changed,
            at.to_string(),
            format!("the claim is mounted read-write at {path}"),
        );
    }
    if let Some(sub) = sub_path {
        ctx.change(
            ChangeKind::Changed,
            at.to_string(),
            format!("subPath `{sub}` dropped: the whole claim is mounted at {path}"),
        );
    }
}

fn set_storage(
    ctx: &mut Ctx<'_>,
    size: Quantity,
    class: Option<String>,
    mode: AccessMode,
    path: &str,
) {
    ctx.spec.storage = Some(StorageSpec {
        size,
        storage_class_name: class.filter(|c| !c.is_empty()),
        access_mode: mode,
        mount_path: path.to_string(),
        reclaim_policy: ReclaimPolicy::Retain,
    });
}

fn claim_template(ctx: &mut Ctx<'_>, t: &PersistentVolumeClaim, at: &str, path: &str) {
    let name = t.metadata.name.clone().unwrap_or_default();
    if ctx.replicas > 1 {
        ctx.change(ChangeKind::Inexpressible, at, format!("volumeClaimTemplate `{name}` at {path} cannot be expressed: each of the {} pods owns its own claim, and a StatelessService has one claim all pods share (audit rule per-pod-claims)", ctx.replicas));
        return;
    }
    if ctx.spec.storage.is_some() {
        ctx.change(ChangeKind::Dropped, at, format!("volumeClaimTemplate `{name}` at {path} dropped: a StatelessService has one data claim"));
        return;
    }
    if let Some(reason) = unusable(ctx, path) {
        ctx.change(
            ChangeKind::Dropped,
            at,
            format!("volumeClaimTemplate `{name}` dropped: {reason}"),
        );
        return;
    }
    let spec = t.spec.clone().unwrap_or_default();
    let Some(size) = requested_size(&spec) else {
        ctx.change(ChangeKind::Dropped, at, format!("volumeClaimTemplate `{name}` requests no storage size: add spec.storage with size and mountPath {path}"));
        return;
    };
    let mode = access_mode(&spec.access_modes.clone().unwrap_or_default());
    set_storage(ctx, size, spec.storage_class_name.clone(), mode, path);
    ctx.change(ChangeKind::Changed, at, format!("the one pod's claim from volumeClaimTemplate `{name}` becomes the claim `{}`, a new and empty claim: copy the data of the pod's claim into it before you switch", crate::children::claim::name(&ctx.service)));
}
