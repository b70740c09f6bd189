//! The main container of a workload onto a StatelessService: image, command, arguments,
//! environment, ports, resources, probes, and the user and group ids; every other container
//! field is carried over or named in a change. Part of the pure conversion; no I/O.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Container, EnvVar, PodSecurityContext, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Map, Value};

use super::ChangeKind;
use super::ImportError;
use super::convert::{Ctx, is_empty, short};
use crate::crd::{self, ConfigSpec, ContainerPort, PodSecurity, Protocol, SecretSpec};
use crate::validate;

/// The image pull policy the API server gives a container that sets none.
fn default_pull_policy(image: &str) -> &'static str {
    let last = image.rsplit('/').next().unwrap_or("");
    if (!last.contains(':') && !image.contains('@')) || image.ends_with(":latest") {
        "Always"
    } else {
        "IfNotPresent"
    }
}

pub(super) fn container_fields(
    ctx: &mut Ctx<'_>,
    raw: &Value,
    c: &Container,
    path: &str,
) -> Result<(), ImportError> {
    let Some(fields) = raw.as_object() else {
        return Ok(());
    };
    let mut renamed = BTreeMap::new();
    for (key, value) in fields {
        let at = format!("{path}.{key}");
        match key.as_str() {
            "name" => {
                if c.name != crate::children::deployment::CONTAINER_NAME {
                    ctx.change(
                        ChangeKind::Changed,
                        at,
                        format!("the container `{}` is named `{}`", c.name, crate::children::deployment::CONTAINER_NAME),
                    );
                }
            }
            "image" => ctx.spec.image = c.image.clone().unwrap_or_default(),
            "command" => ctx.spec.command = c.command.clone().filter(|v| !v.is_empty()),
            "args" => ctx.spec.args = c.args.clone().filter(|v| !v.is_empty()),
            "env" => env(ctx, c, path),
            "envFrom" => env_from(ctx, c, path),
            "ports" => renamed = ports(ctx, c, path),
            "resources" => ctx.spec.resources = c.resources.clone().filter(|r| r != &Default::default()),
            "readinessProbe" => ctx.spec.readiness_probe = c.readiness_probe.clone(),
            "livenessProbe" => ctx.spec.liveness_probe = c.liveness_probe.clone(),
            // Handled with the volumes and the security settings.
            "volumeMounts" | "securityContext" => {}
            "imagePullPolicy" => {
                let image = c.image.as_deref().unwrap_or("");
                if value.as_str() != Some(default_pull_policy(image)) {
                    ctx.change(
                        ChangeKind::Dropped,
                        at,
                        format!(
                            "imagePullPolicy {} dropped: the API server's default for this image applies ({})",
                            short(value),
                            default_pull_policy(image)
                        ),
                    );
                }
            }
            "terminationMessagePath" if value.as_str() == Some("/dev/termination-log") => {}
            "terminationMessagePolicy" if value.as_str() == Some("File") => {}
            "startupProbe" if !is_empty(value) => ctx.change(
                ChangeKind::Inexpressible,
                at,
                "the startup probe cannot be expressed: give the liveness probe an initialDelaySeconds (or failureThreshold) that covers the start-up time",
            ),
            "workingDir" if !is_empty(value) => ctx.change(
                ChangeKind::Inexpressible,
                at,
                format!("workingDir {} cannot be expressed: the image's WORKDIR applies; set it in the image or use absolute paths in command and args", short(value)),
            ),
            "lifecycle" if !is_empty(value) => ctx.change(
                ChangeKind::Inexpressible,
                at,
                "lifecycle hooks (postStart/preStop) cannot be expressed: handle SIGTERM in the process for a graceful stop",
            ),
            _ if is_empty(value) => {}
            _ => ctx.change(
                ChangeKind::Inexpressible,
                at,
                format!("{key} {} cannot be expressed in a StatelessService", short(value)),
            ),
        }
    }
    // Probes that name a renamed port follow it.
    for probe in [
        ctx.spec.readiness_probe.as_mut(),
        ctx.spec.liveness_probe.as_mut(),
    ]
    .into_iter()
    .flatten()
    {
        rename_probe_port(probe, &renamed);
    }
    Ok(())
}

fn env(ctx: &mut Ctx<'_>, c: &Container, path: &str) {
    let mut out: Vec<crd::EnvVar> = Vec::new();
    let mut secret_env = false;
    for (i, var) in c.env.iter().flatten().enumerate() {
        let at = format!("{path}.env[{i}]");
        let EnvVar {
            name,
            value,
            value_from,
        } = var;
        let value = match value_from {
            // A literal that looks like a secret is not copied into the spec (which lands in
            // Git and is readable by anyone who may read StatelessServices): it belongs in the
            // service's own Secret, like a secretKeyRef.
            None if value.as_deref().is_some_and(|v| {
                crate::audit::check::looks_like_secret(name)
                    && !crate::audit::check::harmless_value(v)
            }) =>
            {
                ctx.change(
                    ChangeKind::Dropped,
                    at.clone(),
                    format!("env `{name}` holds a literal secret value (not shown), left out of spec.env: put it in the Secret `{}` under the key `{name}` (secret.env is set, so it becomes ${name})", crate::children::secret::name(&ctx.service)),
                );
                secret_env = true;
                continue;
            }
            None => value.clone(),
            Some(from) => {
                if let Some(r) = &from.config_map_key_ref {
                    match ctx
                        .refs
                        .config_maps
                        .get(&r.name)
                        .and_then(|(d, _)| d.get(&r.key))
                    {
                        Some(v) => {
                            ctx.change(
                                ChangeKind::Changed,
                                at,
                                format!("env `{name}` (ConfigMap `{}` key `{}`) now holds that value inline: StatelessService env values are literals, so it no longer follows changes to the ConfigMap", r.name, r.key),
                            );
                            Some(v.clone())
                        }
                        None => {
                            ctx.change(
                                ChangeKind::Dropped,
                                at,
                                format!("env `{name}` (ConfigMap `{}` key `{}`) dropped: the ConfigMap is not in the input; set its value in spec.env", r.name, r.key),
                            );
                            continue;
                        }
                    }
                } else if let Some(r) = &from.secret_key_ref {
                    secret_env = true;
                    ctx.change(
                        ChangeKind::Dropped,
                        at,
                        format!("env `{name}` (Secret `{}` key `{}`) dropped: a StatelessService reads secrets from its own Secret `{}` only; copy the value there under the key `{name}` (secret.env is set, so it becomes ${name})", r.name, r.key, crate::children::secret::name(&ctx.service)),
                    );
                    continue;
                } else {
                    let source = from
                        .field_ref
                        .as_ref()
                        .map(|f| format!("fieldRef {}", f.field_path))
                        .or_else(|| {
                            from.resource_field_ref
                                .as_ref()
                                .map(|r| format!("resourceFieldRef {}", r.resource))
                        })
                        .unwrap_or_else(|| "valueFrom".to_string());
                    ctx.change(
                        ChangeKind::Inexpressible,
                        at,
                        format!("env `{name}` ({source}) cannot be expressed: StatelessService env values are literals"),
                    );
                    continue;
                }
            }
        };
        // A later entry of the same name wins in a pod; a StatelessService lists each once.
        if let Some(pos) = out.iter().position(|v| &v.name == name) {
            out.remove(pos);
            ctx.change(
                ChangeKind::Changed,
                format!("{path}.env[{i}]"),
                format!("env `{name}` was listed twice: the last value is kept"),
            );
        }
        out.push(crd::EnvVar {
            name: name.clone(),
            value,
        });
    }
    if secret_env {
        ctx.spec.secret.get_or_insert_with(SecretSpec::default).env = true;
    }
    ctx.spec.env = (!out.is_empty()).then_some(out);
}

fn env_from(ctx: &mut Ctx<'_>, c: &Container, path: &str) {
    for (i, from) in c.env_from.iter().flatten().enumerate() {
        let at = format!("{path}.envFrom[{i}]");
        if from.prefix.as_deref().is_some_and(|p| !p.is_empty()) {
            ctx.change(
                ChangeKind::Inexpressible,
                at.clone(),
                format!("the prefix {:?} cannot be expressed: keys become variables under their own names", from.prefix.as_deref().unwrap_or("")),
            );
        }
        if let Some(r) = &from.config_map_ref {
            match ctx.refs.config_maps.get(&r.name).cloned() {
                Some((data, _)) => {
                    let config = ctx.spec.config.get_or_insert_with(ConfigSpec::default);
                    config.env = true;
                    let mut clashes = Vec::new();
                    for (k, v) in data {
                        if config.data.get(&k).is_some_and(|old| old != &v) {
                            clashes.push(k);
                        } else {
                            config.data.insert(k, v);
                        }
                    }
                    ctx.change(
                        ChangeKind::Changed,
                        at,
                        format!("the keys of ConfigMap `{}` are in config.data (the ConfigMap `{}`), exposed as variables by config.env{}", r.name, crate::children::config_map::name(&ctx.service), if clashes.is_empty() { String::new() } else { format!("; keys {} clash with other config and were left out", clashes.join(", ")) }),
                    );
                }
                None => ctx.change(
                    ChangeKind::Dropped,
                    at,
                    format!("ConfigMap `{}` is not in the input: copy its keys into spec.config.data and set config.env: true", r.name),
                ),
            }
        } else if let Some(r) = &from.secret_ref {
            ctx.spec.secret.get_or_insert_with(SecretSpec::default).env = true;
            ctx.change(
                ChangeKind::Dropped,
                at,
                format!("variables from Secret `{}` dropped: copy its keys into the Secret `{}` (secret.env is set, so they become variables)", r.name, crate::children::secret::name(&ctx.service)),
            );
        }
    }
}

/// An IANA service name (what a StatelessService port name must be).
fn is_port_name(s: &str) -> bool {
    s.len() <= 15
        && validate::is_dns_label(s)
        && s.bytes().any(|c| c.is_ascii_lowercase())
        && !s.contains("--")
}

/// Maps the ports; returns the ports whose names had to change (old -> new).
fn ports(ctx: &mut Ctx<'_>, c: &Container, path: &str) -> BTreeMap<String, String> {
    let mut out: Vec<ContainerPort> = Vec::new();
    let mut renamed: BTreeMap<String, String> = BTreeMap::new();
    let mut seen: BTreeSet<(i32, Protocol)> = BTreeSet::new();
    for (i, p) in c.ports.iter().flatten().enumerate() {
        let at = format!("{path}.ports[{i}]");
        let protocol = match p.protocol.as_deref() {
            None | Some("TCP") => Protocol::Tcp,
            Some("UDP") => Protocol::Udp,
            Some("SCTP") => Protocol::Sctp,
            Some(other) => {
                ctx.change(
                    ChangeKind::Dropped,
                    at,
                    format!(
                        "port {} dropped: protocol {other:?} is not TCP, UDP or SCTP",
                        p.container_port
                    ),
                );
                continue;
            }
        };
        if !seen.insert((p.container_port, protocol)) {
            ctx.change(
                ChangeKind::Dropped,
                at,
                format!(
                    "port {}/{} was listed twice",
                    p.container_port,
                    protocol.as_str()
                ),
            );
            continue;
        }
        let given = p.name.clone().unwrap_or_default();
        let mut name = if is_port_name(&given) {
            given.clone()
        } else {
            format!("port-{}", p.container_port)
        };
        if protocol != Protocol::Tcp && !is_port_name(&given) {
            name = format!("{}-{}", name, protocol.as_str().to_ascii_lowercase());
        }
        while out.iter().any(|o| o.name == name) {
            name = format!("p{}-{}", out.len(), p.container_port);
        }
        if name != given {
            if !given.is_empty() {
                renamed.insert(given.clone(), name.clone());
            }
            ctx.change(
                ChangeKind::Changed,
                format!("{at}.name"),
                if given.is_empty() {
                    format!("port {} is named `{name}` (a StatelessService port needs an IANA service name)", p.container_port)
                } else {
                    format!("port `{given}` is named `{name}` (a StatelessService port name is an IANA service name, unique)")
                },
            );
        }
        for (field, set) in [
            ("hostPort", p.host_port.is_some()),
            (
                "hostIP",
                p.host_ip.as_deref().is_some_and(|h| !h.is_empty()),
            ),
        ] {
            if set {
                ctx.change(ChangeKind::Inexpressible, format!("{at}.{field}"), format!("{field} of port {} cannot be expressed: pods do not bind node ports; expose the port through a Service", p.container_port));
            }
        }
        out.push(ContainerPort {
            name,
            container_port: p.container_port,
            service_port: None,
            protocol,
        });
    }
    ctx.spec.ports = (!out.is_empty()).then_some(out);
    renamed
}

fn rename_probe_port(probe: &mut Probe, renamed: &BTreeMap<String, String>) {
    let port = probe
        .http_get
        .as_mut()
        .map(|h| &mut h.port)
        .or(probe.tcp_socket.as_mut().map(|t| &mut t.port));
    if let Some(IntOrString::String(name)) = port
        && let Some(new) = renamed.get(name.as_str())
    {
        *name = new.clone();
    }
}

/// User and group ids, and what the restricted profile changes.
pub(super) fn security(
    ctx: &mut Ctx<'_>,
    pod: &PodSecurityContext,
    c: &Container,
    path: &str,
    raw_pod: &Map<String, Value>,
) {
    let sc = c.security_context.clone().unwrap_or_default();
    let sc_path = format!("{path}.securityContext");
    let user = sc.run_as_user.or(pod.run_as_user);
    let security = PodSecurity {
        run_as_user: user.filter(|u| *u > 0),
        run_as_group: sc.run_as_group.or(pod.run_as_group),
        fs_group: pod.fs_group,
    };
    if user == Some(0) {
        ctx.change(
            ChangeKind::Inexpressible,
            format!("{sc_path}.runAsUser"),
            "runAsUser 0 cannot be expressed: pods never run as root; the image must run as a non-root numeric user (then set podSecurity.runAsUser)",
        );
    } else if user.is_none() && sc.run_as_non_root.or(pod.run_as_non_root) != Some(true) {
        ctx.change(
            ChangeKind::Changed,
            format!("{sc_path}.runAsNonRoot"),
            "pods run with runAsNonRoot: true: the image must name a numeric non-root USER, or set podSecurity.runAsUser",
        );
    }
    if sc.read_only_root_filesystem != Some(true) {
        ctx.change(
            ChangeKind::Changed,
            format!("{sc_path}.readOnlyRootFilesystem"),
            "the root filesystem is read-only: the process may write only to /tmp (scratch) and the data claim",
        );
    }
    if sc.privileged == Some(true) {
        ctx.change(
            ChangeKind::Inexpressible,
            format!("{sc_path}.privileged"),
            "privileged cannot be expressed: pods run under the restricted Pod Security profile",
        );
    }
    if let Some(add) = sc
        .capabilities
        .as_ref()
        .and_then(|c| c.add.as_ref())
        .filter(|a| !a.is_empty())
    {
        ctx.change(ChangeKind::Dropped, format!("{sc_path}.capabilities.add"), format!("added capabilities {} dropped: all capabilities are dropped (bind ports above 1024)", add.join(", ")));
    }
    if sc.allow_privilege_escalation == Some(true) {
        ctx.change(
            ChangeKind::Changed,
            format!("{sc_path}.allowPrivilegeEscalation"),
            "privilege escalation is disabled",
        );
    }
    for (field, set) in [
        (
            "seLinuxOptions",
            sc.se_linux_options
                .as_ref()
                .is_some_and(|o| o != &Default::default()),
        ),
        (
            "procMount",
            sc.proc_mount.as_deref().is_some_and(|p| p != "Default"),
        ),
        ("appArmorProfile", sc.app_armor_profile.is_some()),
        ("windowsOptions", sc.windows_options.is_some()),
        (
            "seccompProfile",
            sc.seccomp_profile
                .as_ref()
                .is_some_and(|p| p.type_ != "RuntimeDefault"),
        ),
    ] {
        if set {
            ctx.change(
                ChangeKind::Inexpressible,
                format!("{sc_path}.{field}"),
                format!("{field} cannot be expressed"),
            );
        }
    }
    let pod_path = "spec.template.spec.securityContext";
    if let Some(raw) = raw_pod.get("securityContext").and_then(Value::as_object) {
        for (key, value) in raw {
            match key.as_str() {
                "runAsUser" | "runAsGroup" | "fsGroup" | "runAsNonRoot" => {}
                "seccompProfile" if value.get("type").and_then(Value::as_str) == Some("RuntimeDefault") => {}
                _ if is_empty(value) => {}
                _ => ctx.change(ChangeKind::Inexpressible, format!("{pod_path}.{key}"), format!("{key} {} cannot be expressed: the pod's securityContext holds only the user and group ids and the restricted profile (runAsNonRoot, seccomp RuntimeDefault)", short(value))),
            }
        }
    }
    if security != PodSecurity::default() {
        ctx.spec.pod_security = Some(security);
    }
}
