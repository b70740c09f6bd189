//! The checks: one workload and its context in, every finding out, each with its rule, a
//! severity, the field path and a message that names the container, volume or claim.
//!
//! Pure and deterministic (findings come out in the order of the pod spec). Messages never
//! include an environment variable's value: the secret heuristic would print the secret.

use k8s_openapi::api::core::v1::{Container, PodSecurityContext, Volume};

use super::rules::{self, Rule, Severity};
use super::workload::{Context, Pods, Update, Workload, WorkloadKind};

/// One problem found in a workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The rule it breaks.
    pub rule: &'static Rule,
    /// How bad it is here (the rule's default unless the check says otherwise).
    pub severity: Severity,
    /// Field path inside the object, e.g. `spec.template.spec.containers[0].securityContext`.
    pub path: String,
    /// What exactly is wrong, naming the container, volume or claim.
    pub message: String,
}

struct Findings(Vec<Finding>);

impl Findings {
    fn add(&mut self, rule: &'static Rule, path: String, message: String) {
        self.add_at(rule, rule.severity, path, message);
    }

    fn add_at(&mut self, rule: &'static Rule, severity: Severity, path: String, message: String) {
        self.0.push(Finding {
            rule,
            severity,
            path,
            message,
        });
    }
}

/// Every finding for one workload.
pub fn check(w: &Workload, ctx: &Context) -> Vec<Finding> {
    let mut out = Findings(Vec::new());
    containers(w, &mut out);
    volumes(w, ctx, &mut out);
    controller(w, ctx, &mut out);
    pod_level(w, ctx, &mut out);
    out.0
}

/// A container with its field path and role.
struct Each<'a> {
    c: &'a Container,
    path: String,
    /// An init container that runs to completion (not a native sidecar).
    init: bool,
}

fn each_container(w: &Workload) -> Vec<Each<'_>> {
    let init = w
        .pod
        .init_containers
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| Each {
            c,
            path: format!("{}.initContainers[{i}]", w.pod_path),
            // `restartPolicy: Always` makes an init container a sidecar that runs with the pod.
            init: c.restart_policy.as_deref() != Some("Always"),
        });
    let main = w.pod.containers.iter().enumerate().map(|(i, c)| Each {
        c,
        path: format!("{}.containers[{i}]", w.pod_path),
        init: false,
    });
    init.chain(main).collect()
}

fn role(e: &Each<'_>) -> String {
    if e.init {
        format!("init container `{}`", e.c.name)
    } else {
        format!("container `{}`", e.c.name)
    }
}

fn containers(w: &Workload, out: &mut Findings) {
    let pod_security = w.pod.security_context.clone().unwrap_or_default();
    for e in each_container(w) {
        let sc = e.c.security_context.clone().unwrap_or_default();
        let sc_path = format!("{}.securityContext", e.path);
        if sc.read_only_root_filesystem != Some(true) {
            // An init container's writes end with it; still, whatever it leaves is lost.
            let severity = if e.init {
                Severity::Medium
            } else {
                rules::WRITABLE_ROOT_FILESYSTEM.severity
            };
            out.add_at(
                &rules::WRITABLE_ROOT_FILESYSTEM,
                severity,
                format!("{sc_path}.readOnlyRootFilesystem"),
                format!("{} can write to its root filesystem", role(&e)),
            );
        }
        let privileged = sc.privileged == Some(true);
        if privileged {
            out.add(
                &rules::PRIVILEGED_CONTAINER,
                format!("{sc_path}.privileged"),
                format!("{} runs privileged", role(&e)),
            );
        }
        root(
            &e,
            &sc_path,
            w.pod_path,
            sc.run_as_user,
            sc.run_as_non_root,
            &pod_security,
            out,
        );
        let added: Vec<&String> = sc
            .capabilities
            .as_ref()
            .and_then(|c| c.add.as_ref())
            .into_iter()
            .flatten()
            .collect();
        if !added.is_empty() {
            let dangerous = added.iter().any(|c| {
                let c = c.trim_start_matches("CAP_");
                matches!(c, "ALL" | "SYS_ADMIN" | "NET_ADMIN")
            });
            let list: Vec<&str> = added.iter().map(|s| s.as_str()).collect();
            out.add_at(
                &rules::ADDED_CAPABILITIES,
                if dangerous {
                    Severity::High
                } else {
                    rules::ADDED_CAPABILITIES.severity
                },
                format!("{sc_path}.capabilities.add"),
                format!("{} adds {}", role(&e), list.join(", ")),
            );
        }
        if !privileged && sc.allow_privilege_escalation != Some(false) {
            out.add(
                &rules::PRIVILEGE_ESCALATION,
                format!("{sc_path}.allowPrivilegeEscalation"),
                format!("{} does not set allowPrivilegeEscalation: false", role(&e)),
            );
        }
        for (i, var) in e.c.env.iter().flatten().enumerate() {
            if let Some(value) = &var.value
                && looks_like_secret(&var.name)
                && !harmless_value(value)
            {
                out.add(
                    &rules::SECRET_IN_ENV,
                    format!("{}.env[{i}].value", e.path),
                    format!(
                        "env `{}` of {} holds a literal value (not shown)",
                        var.name,
                        role(&e)
                    ),
                );
            }
        }
    }
}

fn root(
    e: &Each<'_>,
    sc_path: &str,
    pod_path: &str,
    user: Option<i64>,
    non_root: Option<bool>,
    pod: &PodSecurityContext,
    out: &mut Findings,
) {
    // The container's settings win over the pod's.
    let (user, user_path, from) = match (user, pod.run_as_user) {
        (Some(u), _) => (Some(u), format!("{sc_path}.runAsUser"), ""),
        (None, Some(u)) => (
            Some(u),
            format!("{pod_path}.securityContext.runAsUser"),
            " in the pod's securityContext",
        ),
        (None, None) => (None, String::new(), ""),
    };
    let non_root = non_root.or(pod.run_as_non_root);
    match user {
        Some(0) => out.add(
            &rules::RUNS_AS_ROOT,
            user_path,
            format!("{} runs as root (runAsUser: 0{from})", role(e)),
        ),
        None if non_root != Some(true) => out.add_at(
            &rules::RUNS_AS_ROOT,
            Severity::Medium,
            format!("{sc_path}.runAsNonRoot"),
            format!(
                "{} runs as whichever user its image names: neither runAsNonRoot: true nor a runAsUser is set",
                role(e)
            ),
        ),
        _ => {}
    }
}

/// Environment variable names that usually hold credentials: PASSWORD, SECRET, TOKEN,
/// CREDENTIAL(S) anywhere in the name, or KEY, PASS, PWD as one of its words — unless the last
/// word says the value is about the secret, not the secret (`TOKEN_TTL`, `API_KEY_FILE`,
/// `AWS_ACCESS_KEY_ID`).
pub fn looks_like_secret(name: &str) -> bool {
    const NOT_THE_SECRET: &[&str] = &[
        "FILE",
        "PATH",
        "DIR",
        "URL",
        "URI",
        "HOST",
        "PORT",
        "NAME",
        "USER",
        "USERNAME",
        "ID",
        "TTL",
        "TIMEOUT",
        "EXPIRY",
        "EXPIRATION",
        "LENGTH",
        "ENABLED",
        "ENABLE",
        "DISABLED",
        "REF",
        "HEADER",
        "PREFIX",
        "SUFFIX",
        "TYPE",
        "FORMAT",
        "ALGORITHM",
        "SIZE",
        "MODE",
        "FIELD",
        "LOCATION",
        "ENDPOINT",
        "REGION",
        "VERSION",
        "COUNT",
        "SECONDS",
        "ISSUER",
        "AUDIENCE",
        "POLICY",
        "NAMESPACE",
    ];
    let upper = name.to_ascii_uppercase();
    let words: Vec<&str> = upper
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    if words.last().is_some_and(|w| NOT_THE_SECRET.contains(w)) {
        return false;
    }
    [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "CREDENTIAL",
        "APIKEY",
        "PRIVATEKEY",
    ]
    .iter()
    .any(|s| upper.contains(s))
        || words
            .iter()
            .any(|w| matches!(*w, "KEY" | "PASS" | "PWD" | "PASSPHRASE"))
}

/// Values that cannot be a credential: empty, a reference to another variable (`$(VAR)`), a
/// boolean, or an absolute file path.
pub(crate) fn harmless_value(value: &str) -> bool {
    let v = value.trim();
    v.is_empty()
        || (v.starts_with("$(") && v.ends_with(')') && !v[2..].contains("$("))
        || v.eq_ignore_ascii_case("true")
        || v.eq_ignore_ascii_case("false")
        || (v.starts_with('/') && !v.contains(char::is_whitespace))
}

/// Where a volume is mounted: `(container, path, read-only)`.
fn mounts<'a>(w: &'a Workload, volume: &str) -> Vec<(&'a str, &'a str, bool)> {
    w.pod
        .init_containers
        .iter()
        .flatten()
        .chain(&w.pod.containers)
        .flat_map(|c| {
            c.volume_mounts
                .iter()
                .flatten()
                .filter(move |m| m.name == volume)
                .map(move |m| {
                    (
                        c.name.as_str(),
                        m.mount_path.as_str(),
                        m.read_only == Some(true),
                    )
                })
        })
        .collect()
}

fn describe_mounts(mounts: &[(&str, &str, bool)]) -> String {
    let list: Vec<String> = mounts
        .iter()
        .map(|(c, p, ro)| format!("{p} in `{c}`{}", if *ro { " (read-only)" } else { "" }))
        .collect();
    list.join(", ")
}

fn volumes(w: &Workload, ctx: &Context, out: &mut Findings) {
    for (i, v) in w.pod.volumes.iter().flatten().enumerate() {
        let mounted = mounts(w, &v.name);
        if mounted.is_empty() {
            continue;
        }
        let writable = mounted.iter().any(|(_, _, ro)| !ro);
        let at = describe_mounts(&mounted);
        let path = format!("{}.volumes[{i}]", w.pod_path);
        if let Some(host) = &v.host_path {
            out.add_at(
                &rules::HOST_PATH_VOLUME,
                if writable {
                    rules::HOST_PATH_VOLUME.severity
                } else {
                    Severity::Medium
                },
                format!("{path}.hostPath"),
                format!(
                    "volume `{}` is the node's directory {} ({})",
                    v.name, host.path, at
                ),
            );
        } else if let Some(dir) = &v.empty_dir {
            if writable && dir.size_limit.is_none() {
                let medium = if dir.medium.as_deref() == Some("Memory") {
                    " in memory"
                } else {
                    ""
                };
                out.add(
                    &rules::UNBOUNDED_EMPTY_DIR,
                    format!("{path}.emptyDir.sizeLimit"),
                    format!(
                        "volume `{}` (emptyDir{medium} at {at}) has no sizeLimit",
                        v.name
                    ),
                );
            }
        } else if let Some(pvc) = &v.persistent_volume_claim {
            claim(w, ctx, &path, &v.name, &pvc.claim_name, &at, out);
        } else if writable && let Some(kind) = inline_kind(v) {
            out.add(
                &rules::INLINE_VOLUME,
                format!("{path}.{kind}"),
                format!("volume `{}` ({kind}) is mounted read-write at {at}", v.name),
            );
        }
    }
}

/// The volume type of an inline volume that can hold writes, or `None` for the types that
/// are read-only or per pod by construction (configMap, secret, projected, downwardAPI,
/// image, ephemeral) and those checked elsewhere.
fn inline_kind(v: &Volume) -> Option<String> {
    let value = serde_json::to_value(v).ok()?;
    let kind = value
        .as_object()?
        .keys()
        .find(|k| k.as_str() != "name")?
        .clone();
    let read_only_or_per_pod = [
        "configMap",
        "secret",
        "projected",
        "downwardAPI",
        "image",
        "ephemeral",
    ];
    (!read_only_or_per_pod.contains(&kind.as_str())).then_some(kind)
}

fn pod_count(w: &Workload) -> Option<String> {
    match w.pods {
        Pods::Count(n) if n > 1 => Some(
            if w.kind == WorkloadKind::Job || w.kind == WorkloadKind::CronJob {
                format!("{n} parallel pods")
            } else {
                format!("{n} replicas")
            },
        ),
        Pods::PerNode => Some("one pod on every node".to_string()),
        Pods::Count(_) => None,
    }
}

fn claim(
    w: &Workload,
    ctx: &Context,
    path: &str,
    volume: &str,
    claim_name: &str,
    at: &str,
    out: &mut Findings,
) {
    let known = ctx.claim(&w.namespace, claim_name);
    if let Some(pv) = known.and_then(|c| c.volume_name.as_deref())
        && ctx.node_local(pv)
    {
        out.add(
            &rules::LOCAL_PERSISTENT_VOLUME,
            format!("{path}.persistentVolumeClaim.claimName"),
            format!(
                "claim `{claim_name}` (volume `{volume}` at {at}) is bound to the node-local PersistentVolume `{pv}`"
            ),
        );
    }
    // A claim that is not in the input is most likely ReadWriteOnce (the common default), but
    // that is a guess: such findings are reported a step lower.
    let (single, modes, severity_drop) = match known {
        Some(c) if !c.access_modes.is_empty() => (c.single_writer(), c.modes(), false),
        _ => (
            true,
            "not in the input; most claims are ReadWriteOnce".to_string(),
            true,
        ),
    };
    if !single {
        return;
    }
    let lower = |s: Severity| {
        if severity_drop {
            Severity::Medium.min(s)
        } else {
            s
        }
    };
    if let Some(pods) = pod_count(w) {
        out.add_at(
            &rules::SINGLE_WRITER_CLAIM_REPLICAS,
            lower(rules::SINGLE_WRITER_CLAIM_REPLICAS.severity),
            format!("{path}.persistentVolumeClaim.claimName"),
            format!("claim `{claim_name}` ({modes}) at {at} is mounted by {pods}"),
        );
    } else if w.update == Update::SurgeFirst {
        out.add_at(
            &rules::SINGLE_WRITER_CLAIM_ROLLING_UPDATE,
            lower(rules::SINGLE_WRITER_CLAIM_ROLLING_UPDATE.severity),
            format!("{path}.persistentVolumeClaim.claimName"),
            format!(
                "claim `{claim_name}` ({modes}) at {at}: the rolling update starts the new pod while the old one holds the volume"
            ),
        );
    }
}

fn controller(w: &Workload, ctx: &Context, out: &mut Findings) {
    if w.kind == WorkloadKind::StatefulSet {
        if w.claim_templates.is_empty() {
            out.add(
                &rules::STATEFULSET_IDENTITY,
                "kind".to_string(),
                "a StatefulSet without volumeClaimTemplates".to_string(),
            );
        } else {
            let names: Vec<String> = w.claim_templates.iter().map(|n| format!("`{n}`")).collect();
            out.add(
                &rules::PER_POD_CLAIMS,
                "spec.volumeClaimTemplates".to_string(),
                format!(
                    "each pod keeps its own claim from the template{} {}",
                    if names.len() > 1 { "s" } else { "" },
                    names.join(", ")
                ),
            );
        }
    }
    if w.replicated
        && let Pods::Count(n) = w.pods
        && n > 0
        && !ctx.budget_covers(&w.namespace, &w.pod_labels)
    {
        if n == 1 {
            out.add(
                &rules::SINGLE_REPLICA_NO_DISRUPTION_BUDGET,
                "spec.replicas".to_string(),
                "1 replica and no PodDisruptionBudget selects its pods".to_string(),
            );
        } else {
            out.add(
                &rules::NO_DISRUPTION_BUDGET,
                "spec.replicas".to_string(),
                format!("{n} replicas and no PodDisruptionBudget selects their pods"),
            );
        }
    }
    if w.kind == WorkloadKind::Pod && w.bare {
        out.add(
            &rules::BARE_POD,
            "metadata.ownerReferences".to_string(),
            "no controller owns this Pod".to_string(),
        );
    }
}

fn pod_level(w: &Workload, ctx: &Context, out: &mut Findings) {
    for (field, set) in [
        ("hostNetwork", w.pod.host_network),
        ("hostPID", w.pod.host_pid),
        ("hostIPC", w.pod.host_ipc),
    ] {
        if set == Some(true) {
            out.add(
                &rules::HOST_NAMESPACE,
                format!("{}.{field}", w.pod_path),
                format!("{field}: true"),
            );
        }
    }
    let path = format!("{}.automountServiceAccountToken", w.pod_path);
    let account = w
        .pod
        .service_account_name
        .as_deref()
        .or(w.pod.service_account.as_deref())
        .filter(|s| !s.is_empty())
        .unwrap_or("default");
    match w.pod.automount_service_account_token {
        Some(false) => {}
        Some(true) => out.add(
            &rules::SERVICE_ACCOUNT_TOKEN,
            path,
            format!(
                "automountServiceAccountToken: true mounts the token of service account `{account}`"
            ),
        ),
        None => match ctx.automount_disabled(&w.namespace, account) {
            Some(true) => {}
            known => out.add(
                &rules::SERVICE_ACCOUNT_TOKEN,
                path,
                format!(
                    "the token of service account `{account}` is mounted: neither the pod nor {} sets automountServiceAccountToken: false",
                    if known.is_some() {
                        "the ServiceAccount"
                    } else {
                        "the ServiceAccount (not in the input)"
                    }
                ),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_recognised_and_their_metadata_is_not() {
        for name in [
            "DB_PASSWORD",
            "POSTGRES_PASSWORD",
            "GF_SECURITY_ADMIN_PASSWORD",
            "AWS_SECRET_ACCESS_KEY",
            "JWT_SECRET",
            "SECRET_KEY_BASE",
            "api-key",
            "STRIPE_API_KEY",
            "GITHUB_TOKEN",
            "slack.token",
            "REDIS_PASS",
            "SMTP_PWD",
            "registryCredentials",
            "APIKEY",
        ] {
            assert!(looks_like_secret(name), "{name}");
        }
        for name in [
            "POSTGRES_PASSWORD_FILE",
            "TOKEN_TTL",
            "AWS_ACCESS_KEY_ID",
            "KEYCLOAK_URL",
            "MONKEY_MODE",
            "SECRET_NAME",
            "LOG_LEVEL",
            "PASSWORD_LENGTH",
            "TOKEN_ISSUER",
            "CACHE_KEY_PREFIX",
            "BYPASS_PROXY",
        ] {
            assert!(!looks_like_secret(name), "{name}");
        }
    }

    #[test]
    fn references_booleans_and_paths_are_not_secrets() {
        for v in ["", "$(DB_PASSWORD)", "true", "False", "/run/secrets/db"] {
            assert!(harmless_value(v), "{v}");
        }
        for v in ["hunter2", "$(A)$(B)x", "a b", "/not a path"] {
            assert!(!harmless_value(v), "{v}");
        }
    }
}
