//! The pure conversion of one Deployment or StatefulSet (as JSON) into a StatelessService.
//!
//! It walks every field of the workload, its pod template and its main container: each one is
//! either carried over, expressed differently (a [`Change`] says how), or left out (a
//! [`Change`] says why and what to do instead). Fields that only restate the API server's
//! defaults are passed over silently. The main container is handled in `container`, volumes
//! and mounts in `volumes`.
//! The result is validated before it is returned. No I/O.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSecurityContext};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::container::{container_fields, security};
use super::volumes;
use super::{Change, ChangeKind, ImportError, Imported, Options, Referenced};
use crate::build;
use crate::crd::{self, StatelessService, StatelessServiceSpec};
use crate::validate;

/// The conversion's working state.
pub(super) struct Ctx<'a> {
    pub refs: &'a Referenced,
    pub object: String,
    pub service: String,
    pub replicas: i32,
    pub changes: Vec<Change>,
    pub spec: StatelessServiceSpec,
}

impl Ctx<'_> {
    pub fn change(
        &mut self,
        kind: ChangeKind,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.changes.push(Change {
            kind,
            field: field.into(),
            message: message.into(),
        });
    }

    pub fn typed<T: DeserializeOwned>(&self, value: &Value, path: &str) -> Result<T, ImportError> {
        serde_path_to_error::deserialize(value).map_err(|e| ImportError::Object {
            object: self.object.clone(),
            path: join(path, &e.path().to_string()),
            message: e.into_inner().to_string(),
        })
    }
}

fn join(base: &str, rest: &str) -> String {
    if rest == "." || rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}.{rest}")
    }
}

/// `null`, `""`, `[]`, `{}` and `false`: what chart templates leave behind when a value is off.
pub(super) fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(_) | Value::Bool(true) => false,
    }
}

pub(super) fn short(v: &Value) -> String {
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > 60 {
        format!("{}...", text.chars().take(57).collect::<String>())
    } else {
        text
    }
}

/// A StatelessService name from a workload name: lowercase DNS label of at most 63.
fn service_name(name: &str) -> String {
    let mut out: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    out.truncate(63);
    out.trim_matches('-').to_string()
}

/// Converts one workload. `object` is a Deployment or StatefulSet as JSON.
pub fn convert(
    object: &Value,
    refs: &Referenced,
    options: &Options,
) -> Result<Imported, ImportError> {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let stateful = kind == "StatefulSet";
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let namespace = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| options.namespace.clone());
    let object_name = match &namespace {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    };
    let missing = |path: &str, message: &str| ImportError::Object {
        object: object_name.clone(),
        path: path.to_string(),
        message: message.to_string(),
    };
    if name.is_empty() {
        return Err(missing("metadata.name", "a name is required"));
    }
    let service = match &options.name {
        Some(given) if validate::is_dns_label(given) => given.clone(),
        Some(given) => {
            return Err(ImportError::Name {
                name: given.clone(),
                message: "a StatelessService name is a DNS label: at most 63 lowercase letters, digits and '-'".to_string(),
            });
        }
        None => service_name(name),
    };
    let spec = object
        .get("spec")
        .and_then(Value::as_object)
        .ok_or_else(|| missing("spec", "a workload spec is required"))?;
    let template = spec
        .get("template")
        .and_then(Value::as_object)
        .ok_or_else(|| missing("spec.template", "a pod template is required"))?;
    let pod = template
        .get("spec")
        .and_then(Value::as_object)
        .ok_or_else(|| missing("spec.template.spec", "a pod spec is required"))?;
    let replicas = match spec.get("replicas") {
        None | Some(Value::Null) => 1,
        Some(v) => v
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .filter(|n| *n >= 0)
            .ok_or_else(|| missing("spec.replicas", "must be a whole number, 0 or more"))?,
    };
    let mut ctx = Ctx {
        refs,
        object: object_name.clone(),
        service: service.clone(),
        replicas,
        changes: Vec::new(),
        spec: StatelessServiceSpec {
            image: String::new(),
            replicas,
            command: None,
            args: None,
            env: None,
            ports: None,
            resources: None,
            readiness_probe: None,
            liveness_probe: None,
            config: None,
            secret: None,
            storage: None,
            scratch: None,
            pod_security: None,
            service: None,
            route: None,
            autoscaling: None,
            rollout: None,
            service_account: None,
            network: None,
            sidecars: None,
            init_containers: None,
            paused: false,
        },
    };
    identity(&mut ctx, kind, name, &service, object);
    let main = main_container(pod, template, &service);
    let containers = pod
        .get("containers")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            missing(
                "spec.template.spec.containers",
                "at least one container is required",
            )
        })?;
    let main_path = format!("spec.template.spec.containers[{main}]");
    let container: Container = ctx.typed(&containers[main], &main_path)?;
    container_fields(&mut ctx, &containers[main], &container, &main_path)?;
    let pod_security: PodSecurityContext = ctx
        .typed::<Option<PodSecurityContext>>(
            pod.get("securityContext").unwrap_or(&Value::Null),
            "spec.template.spec.securityContext",
        )?
        .unwrap_or_default();
    security(&mut ctx, &pod_security, &container, &main_path, pod);
    volumes::map(&mut ctx, pod, spec, &container, &main_path, stateful)?;
    for (i, c) in containers.iter().enumerate().filter(|(i, _)| *i != main) {
        let cname = c.get("name").and_then(Value::as_str).unwrap_or("");
        ctx.change(
            ChangeKind::Inexpressible,
            format!("spec.template.spec.containers[{i}]"),
            format!("container `{cname}` dropped: import carries over the main container only; if it must run beside it, declare it in spec.sidecars (image, command, args, env, ports, resources, probes; it gets the main container's mounts and the restricted security context), else run it as its own workload"),
        );
    }
    pod_fields(&mut ctx, pod);
    workload_fields(&mut ctx, spec, template, stateful);
    strategy(&mut ctx, spec, stateful);
    let service_object = StatelessService {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(service),
            namespace,
            ..Default::default()
        },
        spec: ctx.spec,
        status: None,
    };
    if let Err(errors) = validate::validate(&service_object) {
        return Err(ImportError::Invalid {
            object: object_name,
            errors,
        });
    }
    // In the order of the fields they are about (stable within a field).
    let mut changes = ctx.changes;
    changes.sort_by(|a, b| a.field.cmp(&b.field));
    Ok(Imported {
        source: object_name,
        service: service_object,
        changes,
    })
}

/// Name, labels and ownership: what changes about how the pods are found.
fn identity(ctx: &mut Ctx<'_>, kind: &str, name: &str, service: &str, object: &Value) {
    if service != name {
        ctx.change(
            ChangeKind::Changed,
            "metadata.name",
            format!("the StatelessService is named `{service}` (a name is a DNS label of at most 63 characters)"),
        );
    }
    if kind == "Deployment" && service == name {
        ctx.change(
            ChangeKind::Changed,
            "metadata.name",
            format!("the operator creates its own Deployment `{service}` and never takes over a foreign one: delete this Deployment when you apply the StatelessService (or import with --name)"),
        );
    }
    let pod_labels: BTreeMap<String, String> = object
        .pointer("/spec/template/metadata/labels")
        .cloned()
        .and_then(|l| serde_json::from_value(l).ok())
        .unwrap_or_default();
    let new = build::labels(service);
    let lost: Vec<String> = pod_labels
        .iter()
        .filter(|(k, v)| new.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !lost.is_empty() {
        ctx.change(
            ChangeKind::Changed,
            "spec.template.metadata.labels",
            format!(
                "pods are labelled {}={service} instead of {}: point Services, NetworkPolicies and monitors that select them at {}={service}",
                build::LABEL_SERVICE,
                lost.join(","),
                build::LABEL_SERVICE
            ),
        );
    }
    let labels = object.pointer("/metadata/labels").filter(|l| !is_empty(l));
    let annotations = object
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .map(|a| {
            a.keys()
                .filter(|k| {
                    // What the API server and kubectl write about the object itself.
                    !k.starts_with("deployment.kubernetes.io/")
                        && k.as_str() != "kubectl.kubernetes.io/last-applied-configuration"
                })
                .count()
        })
        .unwrap_or(0);
    if labels.is_some() || annotations > 0 {
        ctx.change(
            ChangeKind::Dropped,
            "metadata",
            "labels and annotations of the workload are not carried over: add those the StatelessService itself should carry (the operator labels its children)",
        );
    }
}

/// Which container is the application: the one `kubectl.kubernetes.io/default-container`
/// names, else the one named after the workload or `app`, else the first.
fn main_container(pod: &Map<String, Value>, template: &Map<String, Value>, service: &str) -> usize {
    let containers = pod
        .get("containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let named = |name: &str| {
        containers
            .iter()
            .position(|c| c.get("name").and_then(Value::as_str) == Some(name))
    };
    let default = template
        .get("metadata")
        .and_then(|m| m.pointer("/annotations/kubectl.kubernetes.io~1default-container"))
        .and_then(Value::as_str);
    let app_label = template
        .get("metadata")
        .and_then(|m| m.pointer("/labels/app.kubernetes.io~1name"))
        .and_then(Value::as_str);
    default
        .and_then(named)
        .or_else(|| named(service))
        .or_else(|| app_label.and_then(named))
        .or_else(|| named(crate::children::deployment::CONTAINER_NAME))
        .unwrap_or(0)
}

/// Pod fields other than containers, volumes and the security context.
fn pod_fields(ctx: &mut Ctx<'_>, pod: &Map<String, Value>) {
    use ChangeKind::{Changed, Dropped, Inexpressible};
    for (key, value) in pod {
        let at = format!("spec.template.spec.{key}");
        let (kind, message) = match key.as_str() {
            "containers" | "volumes" | "securityContext" | "initContainers" => continue,
            "automountServiceAccountToken" if value == &Value::Bool(false) => continue,
            "automountServiceAccountToken" => (Changed, "the service-account token is no longer mounted: a process that calls the Kubernetes API cannot do so any more".to_string()),
            "serviceAccountName" | "serviceAccount" if matches!(value.as_str(), None | Some("") | Some("default")) => continue,
            "serviceAccountName" | "serviceAccount" => (Dropped, format!("service account {} dropped: pods run as the namespace's `default` account, without a token", short(value))),
            "imagePullSecrets" if !is_empty(value) => (Inexpressible, "imagePullSecrets cannot be expressed: add them to the namespace's `default` ServiceAccount so that its pods can pull the image".to_string()),
            "topologySpreadConstraints" | "affinity" if value.as_object().is_none_or(|o| o.values().any(|v| !is_empty(v))) && !is_empty(value) => (Changed, format!("{key} replaced: pods are spread across nodes by kubernetes.io/hostname (best effort)")),
            "terminationGracePeriodSeconds" if value.as_i64() == Some(30) => continue,
            "restartPolicy" if value.as_str() == Some("Always") => continue,
            "dnsPolicy" if value.as_str() == Some("ClusterFirst") => continue,
            "schedulerName" if value.as_str() == Some("default-scheduler") => continue,
            "enableServiceLinks" if value == &Value::Bool(true) => continue,
            "hostNetwork" | "hostPID" | "hostIPC" if value == &Value::Bool(true) => (Inexpressible, format!("{key} cannot be expressed: pods do not share the node's namespaces")),
            _ if is_empty(value) => continue,
            _ => (Inexpressible, format!("{key} {} cannot be expressed in a StatelessService", short(value))),
        };
        ctx.change(kind, at, message);
    }
    for (i, c) in pod
        .get("initContainers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let name = c.get("name").and_then(Value::as_str).unwrap_or("");
        ctx.change(
            Inexpressible,
            format!("spec.template.spec.initContainers[{i}]"),
            format!("init container `{name}` dropped: import carries over the main container only; declare it in spec.initContainers (image, command, args, env, resources; the main container's mounts, restricted security context) if it is still needed, or do its work in the image's entrypoint or a Job"),
        );
    }
}

/// Workload-level fields other than the template.
fn workload_fields(
    ctx: &mut Ctx<'_>,
    spec: &Map<String, Value>,
    template: &Map<String, Value>,
    stateful: bool,
) {
    if stateful {
        ctx.change(
            ChangeKind::Changed,
            "kind",
            "the StatefulSet becomes a Deployment: pods get random names and no stable DNS names, and start and stop in parallel",
        );
    }
    for (key, value) in spec {
        let at = format!("spec.{key}");
        match key.as_str() {
            "replicas"
            | "template"
            | "selector"
            | "strategy"
            | "updateStrategy"
            | "volumeClaimTemplates" => {}
            "revisionHistoryLimit" if value.as_i64() == Some(10) => {}
            "progressDeadlineSeconds" if value.as_i64() == Some(600) => {}
            "podManagementPolicy" if value.as_str() == Some("OrderedReady") => {}
            "serviceName"
            | "podManagementPolicy"
            | "persistentVolumeClaimRetentionPolicy"
            | "ordinals"
                if stateful => {}
            _ if is_empty(value) => {}
            _ => ctx.change(
                ChangeKind::Dropped,
                at,
                format!(
                    "{key} {} dropped: the operator manages the Deployment's rollout settings",
                    short(value)
                ),
            ),
        }
    }
    if let Some(annotations) = template
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(Value::as_object)
    {
        let keys: Vec<&str> = annotations
            .keys()
            .map(String::as_str)
            .filter(|k| *k != "kubectl.kubernetes.io/default-container")
            .collect();
        let (checksums, others): (Vec<&str>, Vec<&str>) =
            keys.into_iter().partition(|k| k.starts_with("checksum/"));
        if !checksums.is_empty() {
            ctx.change(
                ChangeKind::Changed,
                "spec.template.metadata.annotations",
                format!(
                    "{} replaced by {}: pods roll when config or secret data change",
                    checksums.join(", "),
                    build::ANNOTATION_CONFIG_HASH
                ),
            );
        }
        if !others.is_empty() {
            ctx.change(ChangeKind::Inexpressible, "spec.template.metadata.annotations", format!("pod annotations {} cannot be expressed (scrape or mesh settings must move to a ServiceMonitor or namespace defaults)", others.join(", ")));
        }
    }
}

/// How the operator will roll the pods, when that differs from what the workload did.
fn strategy(ctx: &mut Ctx<'_>, spec: &Map<String, Value>, stateful: bool) {
    let recreate = ctx
        .spec
        .storage
        .as_ref()
        .is_some_and(|s| s.access_mode != crd::AccessMode::ReadWriteMany);
    let field = if stateful {
        "updateStrategy"
    } else {
        "strategy"
    };
    let given = spec.get(field).filter(|v| !is_empty(v));
    let given_type = given
        .and_then(|s| s.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("RollingUpdate");
    let operator = if recreate {
        "Recreate (the single-writer claim must be released before the new pod starts)"
    } else {
        "RollingUpdate with maxSurge 1 and maxUnavailable 0 (never below the desired count)"
    };
    let same = if recreate {
        given_type == "Recreate"
    } else {
        given_type == "RollingUpdate"
            && given.and_then(|s| s.get("rollingUpdate")).is_some_and(|r| {
                r.get("maxSurge") == Some(&Value::from(1))
                    && r.get("maxUnavailable") == Some(&Value::from(0))
            })
    };
    if !same {
        ctx.change(
            ChangeKind::Changed,
            format!("spec.{field}"),
            format!(
                "pods are updated with {operator}, not {}",
                given.map_or(
                    "the default rolling update (25% surge, 25% unavailable)".to_string(),
                    short
                )
            ),
        );
    }
}
