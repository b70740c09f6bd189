//! Chart tests: `helm lint --strict` and assertions on the objects `helm template` renders for
//! charts/stateless-operator, on its NOTES.txt, and on its RBAC compared with the requests the operator really sends
//! (`requests`).

#[path = "../support/mod.rs"]
mod support;

mod chart;
mod requests;

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use chart::*;
use requests::{admission_only_grants, assert_grants_match, used};

fn rbac_objects(docs: &[Value]) -> Vec<&Value> {
    docs.iter()
        .filter(|d| {
            matches!(
                kind_of(d),
                "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding"
            )
        })
        .collect()
}

fn contains_star(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('*'),
        Value::Array(items) => items.iter().any(contains_star),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('*') || contains_star(v)),
        _ => false,
    }
}

/// Renders covering every template branch: defaults, one namespace, and all optional objects on.
fn all_renders() -> Vec<(&'static str, Vec<Value>)> {
    vec![
        ("defaults", render(&[])),
        (
            "watchNamespace",
            render(&[&format!("watchNamespace={WATCH_NS}")]),
        ),
        (
            "everything enabled",
            render(&[
                &format!("watchNamespace={WATCH_NS}"),
                "metrics.serviceMonitor.enabled=true",
                "networkPolicy.enabled=true",
                "networkPolicy.apiServer.cidrs={10.96.0.1/32}",
            ]),
        ),
    ]
}

#[test]
fn helm_lint_strict_passes() {
    let chart = chart_dir();
    let chart = chart.to_str().unwrap();
    for extra in [
        vec![],
        vec!["--set", "watchNamespace=apps"],
        vec![
            "--set",
            "metrics.serviceMonitor.enabled=true",
            "--set",
            "networkPolicy.enabled=true",
        ],
    ] {
        let mut a = vec!["lint", "--strict", chart];
        a.extend(extra.iter().copied());
        let out = run_helm(&a);
        assert!(
            out.status.success(),
            "helm {a:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn default_render_is_cluster_scoped() {
    let docs = render(&[]);
    let role = one(&docs, "ClusterRole", FULLNAME);
    assert!(role["metadata"].get("namespace").is_none());
    let binding = one(&docs, "ClusterRoleBinding", FULLNAME);
    assert_eq!(
        binding["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": FULLNAME})
    );
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": FULLNAME, "namespace": RELEASE_NS}])
    );
    // The only Role is the Lease one.
    let roles: Vec<_> = of_kind(&docs, "Role").into_iter().map(name_of).collect();
    assert_eq!(roles, [format!("{FULLNAME}-leader-election")]);
    assert!(
        !args(&docs).iter().any(|a| a.starts_with("--namespace")),
        "cluster-wide install must not restrict the watch: {:?}",
        args(&docs)
    );
    let sa = one(&docs, "ServiceAccount", FULLNAME);
    assert_eq!(sa["metadata"]["namespace"], RELEASE_NS);
    assert_eq!(pod_spec(&docs)["serviceAccountName"], FULLNAME);
}

#[test]
fn watch_namespace_renders_namespaced_rbac_and_flag() {
    let docs = render(&[&format!("watchNamespace={WATCH_NS}")]);
    assert!(
        of_kind(&docs, "ClusterRole").is_empty(),
        "no ClusterRole when watchNamespace is set"
    );
    assert!(
        of_kind(&docs, "ClusterRoleBinding").is_empty(),
        "no ClusterRoleBinding when watchNamespace is set"
    );
    let role = one(&docs, "Role", FULLNAME);
    assert_eq!(role["metadata"]["namespace"], WATCH_NS);
    let binding = one(&docs, "RoleBinding", FULLNAME);
    assert_eq!(binding["metadata"]["namespace"], WATCH_NS);
    assert_eq!(
        binding["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": FULLNAME})
    );
    // The ServiceAccount stays in the release namespace; the binding reaches across to it.
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": FULLNAME, "namespace": RELEASE_NS}])
    );
    let a = args(&docs);
    assert_eq!(
        a.iter()
            .filter(|x| x.starts_with("--namespace"))
            .collect::<Vec<_>>(),
        [&format!("--namespace={WATCH_NS}")]
    );
}

#[test]
fn lease_role_is_always_in_the_release_namespace() {
    for (label, docs) in all_renders() {
        let name = format!("{FULLNAME}-leader-election");
        let role = one(&docs, "Role", &name);
        assert_eq!(role["metadata"]["namespace"], RELEASE_NS, "{label}");
        assert_grants_match(
            &grants(role),
            &used().lease,
            &format!("{label}: lease role"),
        );
        let binding = one(&docs, "RoleBinding", &name);
        assert_eq!(binding["metadata"]["namespace"], RELEASE_NS, "{label}");
        assert_eq!(binding["roleRef"]["name"], name.as_str(), "{label}");
        assert_eq!(binding["subjects"][0]["namespace"], RELEASE_NS, "{label}");
        let a = args(&docs);
        assert!(
            a.contains(&format!("--lease-namespace={RELEASE_NS}")),
            "{label}: {a:?}"
        );
        assert!(
            a.contains(&format!("--lease-name={LEASE_NAME}")),
            "{label}: {a:?}"
        );
    }
}

#[test]
fn rbac_has_no_wildcards_and_only_expected_grants() {
    for (label, docs) in all_renders() {
        for obj in rbac_objects(&docs) {
            assert!(
                !contains_star(obj),
                "{label}: `*` in {} {}",
                kind_of(obj),
                name_of(obj)
            );
        }
        let main = of_kind(&docs, "ClusterRole")
            .into_iter()
            .chain(of_kind(&docs, "Role"))
            .find(|r| name_of(r) == FULLNAME)
            .expect("operator role");
        for rule in main["rules"].as_array().unwrap() {
            let keys: BTreeSet<&str> = rule
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(
                keys,
                BTreeSet::from(["apiGroups", "resources", "verbs"]),
                "{label}: operator rules use no resourceNames or nonResourceURLs: {rule}"
            );
        }
        let mut needed = used().operator.clone();
        needed.extend(admission_only_grants());
        assert_grants_match(&grants(main), &needed, &format!("{label}: operator role"));
        // Nothing else grants anything: exactly the operator role and the Lease role.
        let roles: BTreeSet<&str> = rbac_objects(&docs)
            .into_iter()
            .filter(|o| kind_of(o).ends_with("Role"))
            .map(name_of)
            .collect();
        assert_eq!(
            roles,
            BTreeSet::from([FULLNAME, "so-stateless-operator-leader-election"]),
            "{label}"
        );
    }
}

#[test]
fn every_rbac_rule_has_a_why_comment() {
    // Comments do not survive YAML parsing, so this one check reads the rendered text.
    let out = template(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut rules = 0;
    for (i, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("- apiGroups:") {
            rules += 1;
            let comment = lines[..i]
                .iter()
                .rev()
                .take_while(|l| l.trim_start().starts_with('#'))
                .any(|l| l.contains("WHY:"));
            assert!(
                comment,
                "RBAC rule without a `# WHY:` comment above it: {line}"
            );
        }
    }
    assert_eq!(rules, 17, "15 operator rules + 2 lease rules");
}

#[test]
fn operator_pod_meets_restricted_pod_security() {
    for (label, docs) in all_renders() {
        let pod = pod_spec(&docs);
        for host in ["hostNetwork", "hostPID", "hostIPC"] {
            assert_ne!(pod[host], true, "{label}: {host}");
        }
        let psc = &pod["securityContext"];
        assert_eq!(psc["runAsNonRoot"], true, "{label}");
        assert_eq!(psc["seccompProfile"]["type"], "RuntimeDefault", "{label}");
        assert_ne!(psc["runAsUser"], 0, "{label}");
        for vol in pod["volumes"].as_array().into_iter().flatten() {
            assert!(
                vol.get("hostPath").is_none(),
                "{label}: hostPath volume {vol}"
            );
        }
        let containers = pod["containers"]
            .as_array()
            .unwrap()
            .iter()
            .chain(pod["initContainers"].as_array().into_iter().flatten());
        for c in containers {
            let sc = &c["securityContext"];
            assert_eq!(sc["allowPrivilegeEscalation"], false, "{label}");
            assert_eq!(sc["readOnlyRootFilesystem"], true, "{label}");
            assert_eq!(sc["runAsNonRoot"], true, "{label}");
            assert_ne!(sc["runAsUser"], 0, "{label}");
            assert_ne!(sc["privileged"], true, "{label}");
            assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{label}");
            assert!(
                sc["capabilities"].get("add").is_none(),
                "{label}: no added capabilities"
            );
            assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault", "{label}");
            for port in c["ports"].as_array().into_iter().flatten() {
                assert!(port.get("hostPort").is_none(), "{label}: hostPort {port}");
            }
        }
    }
}

#[test]
fn operator_has_probes_resources_and_downward_env() {
    let docs = render(&[]);
    let c = operator_container(&docs);
    let metrics_port = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "metrics")
        .expect("named metrics port");
    assert_eq!(metrics_port["containerPort"], 8080);
    assert!(args(&docs).contains(&"--metrics-addr=0.0.0.0:8080".to_owned()));
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = &c[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert!(
            get["port"] == "metrics" || get["port"] == 8080,
            "{probe} targets the metrics server: {get}"
        );
    }
    for kind in ["requests", "limits"] {
        for res in ["cpu", "memory"] {
            let q = &c["resources"][kind][res];
            assert!(
                q.is_string() || q.is_number(),
                "resources.{kind}.{res} is set"
            );
        }
    }
    let env = c["env"].as_array().unwrap();
    for (name, field) in [
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
    ] {
        let var = env
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name} env"));
        assert_eq!(
            var.pointer("/valueFrom/fieldRef/fieldPath").unwrap(),
            field,
            "{name}"
        );
    }
    assert_eq!(args(&docs)[0], "run");
}

#[test]
fn two_replicas_with_leader_election_pdb_and_spread() {
    let docs = render(&[]);
    let deploy = operator_deployment(&docs);
    assert_eq!(deploy["spec"]["replicas"], 2);
    assert!(
        args(&docs).contains(&"--leader-elect=true".to_owned()),
        "{:?}",
        args(&docs)
    );

    let selector = &deploy["spec"]["selector"]["matchLabels"];
    let pod_labels = deploy["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .unwrap();
    for (k, v) in selector.as_object().unwrap() {
        assert_eq!(
            pod_labels.get(k),
            Some(v),
            "pod template carries selector label {k}"
        );
    }
    let pdb = one(&docs, "PodDisruptionBudget", FULLNAME);
    assert_eq!(pdb["spec"]["selector"]["matchLabels"], *selector);
    assert_eq!(
        pdb["spec"]["maxUnavailable"], 1,
        "one of the two replicas stays up"
    );

    let pod = pod_spec(&docs);
    let spread = pod["topologySpreadConstraints"]
        .as_array()
        .expect("topology spread");
    assert!(
        spread
            .iter()
            .any(|t| t["topologyKey"] == "kubernetes.io/hostname"
                && t["labelSelector"]["matchLabels"] == *selector)
    );
    let anti = pod
        .pointer("/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/0/podAffinityTerm")
        .expect("pod anti-affinity");
    assert_eq!(anti["topologyKey"], "kubernetes.io/hostname");
    assert_eq!(anti["labelSelector"]["matchLabels"], *selector);

    // Metrics Service selects the operator pods on the named port.
    let svc = one(&docs, "Service", &format!("{FULLNAME}-metrics"));
    assert_eq!(svc["spec"]["selector"], *selector);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "metrics");
}

#[test]
fn leader_election_off_drops_lease_role_and_flags() {
    let docs = render(&["leaderElection.enabled=false", "replicaCount=1"]);
    assert!(args(&docs).contains(&"--leader-elect=false".to_owned()));
    assert!(!args(&docs).iter().any(|a| a.starts_with("--lease-")));
    assert!(
        of_kind(&docs, "Role").is_empty(),
        "no Lease role without leader election"
    );
    assert!(
        of_kind(&docs, "PodDisruptionBudget").is_empty(),
        "a PDB on one replica would block drains"
    );
}

#[test]
fn the_operator_deployment_never_runs_two_operators_without_the_lease() {
    // With the Lease a surge pod is a standby: it waits for the Lease before it writes.
    let docs = render(&[]);
    assert_eq!(
        operator_deployment(&docs)["spec"]["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})
    );
    // Without it, nothing would stop a new pod from writing next to the old one.
    let docs = render(&["leaderElection.enabled=false", "replicaCount=1"]);
    assert_eq!(
        operator_deployment(&docs)["spec"]["strategy"],
        json!({"type": "Recreate"})
    );
    // And more than one replica without it is refused outright.
    assert_rejected(
        &["leaderElection.enabled=false"],
        &[&["replicaCount > 1 needs leaderElection.enabled=true"]],
    );
    assert_rejected(
        &["leaderElection.enabled=false", "replicaCount=3"],
        &[&["replicaCount > 1 needs leaderElection.enabled=true"]],
    );
}

#[test]
fn default_log_filter_is_the_binary_default() {
    let docs = render(&[]);
    let env = operator_container(&docs)["env"].as_array().unwrap().clone();
    let rust_log = env
        .iter()
        .find(|e| e["name"] == "RUST_LOG")
        .expect("RUST_LOG env");
    assert_eq!(rust_log["value"], stateless_operator::DEFAULT_LOG_FILTER);
    let docs = render(&["logLevel=debug"]);
    let env = operator_container(&docs)["env"].as_array().unwrap().clone();
    assert!(
        env.iter()
            .any(|e| e["name"] == "RUST_LOG" && e["value"] == "debug")
    );
}

#[test]
fn optional_objects_are_off_by_default_and_render_when_enabled() {
    let docs = render(&[]);
    assert!(of_kind(&docs, "ServiceMonitor").is_empty());
    assert!(of_kind(&docs, "NetworkPolicy").is_empty());

    let docs = render(&[
        "metrics.serviceMonitor.enabled=true",
        "networkPolicy.enabled=true",
        "networkPolicy.apiServer.cidrs={10.96.0.1/32}",
    ]);
    let sm = one(&docs, "ServiceMonitor", FULLNAME);
    assert_eq!(sm["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(sm["spec"]["endpoints"][0]["port"], "metrics");
    assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
    let selector = &operator_deployment(&docs)["spec"]["selector"]["matchLabels"];
    assert_eq!(sm["spec"]["selector"]["matchLabels"], *selector);

    let np = one(&docs, "NetworkPolicy", FULLNAME);
    assert_eq!(np["spec"]["podSelector"]["matchLabels"], *selector);
    assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(np["spec"]["ingress"][0]["ports"][0]["port"], "metrics");
    assert_eq!(
        np["spec"]["egress"][0]["to"][0]["ipBlock"]["cidr"],
        "10.96.0.1/32"
    );
}

/// Deserialises into the typed API object and back: a field the type does not know (a typo, or a
/// field in the wrong place) is dropped on the way and the comparison fails, much as strict
/// server-side field validation would reject it.
fn assert_round_trips<T: DeserializeOwned + serde::Serialize>(obj: &Value) {
    let typed: T = serde_json::from_value(obj.clone()).unwrap_or_else(|e| {
        panic!(
            "{} {} does not match the API type: {e}",
            kind_of(obj),
            name_of(obj)
        )
    });
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(
        &back,
        obj,
        "{} {} has unknown or misplaced fields",
        kind_of(obj),
        name_of(obj)
    );
}

#[test]
fn rendered_objects_use_current_api_versions_and_known_fields() {
    let mut seen = BTreeSet::new();
    for (label, docs) in all_renders() {
        for obj in &docs {
            let api = obj["apiVersion"].as_str().unwrap();
            let kind = kind_of(obj);
            seen.insert(kind.to_owned());
            match (api, kind) {
                ("apps/v1", "Deployment") => assert_round_trips::<Deployment>(obj),
                ("v1", "ServiceAccount") => assert_round_trips::<ServiceAccount>(obj),
                ("v1", "Service") => assert_round_trips::<Service>(obj),
                ("policy/v1", "PodDisruptionBudget") => {
                    assert_round_trips::<PodDisruptionBudget>(obj)
                }
                ("networking.k8s.io/v1", "NetworkPolicy") => {
                    assert_round_trips::<NetworkPolicy>(obj)
                }
                ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
                    assert_round_trips::<ClusterRole>(obj)
                }
                ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
                    assert_round_trips::<ClusterRoleBinding>(obj)
                }
                ("rbac.authorization.k8s.io/v1", "Role") => assert_round_trips::<Role>(obj),
                ("rbac.authorization.k8s.io/v1", "RoleBinding") => {
                    assert_round_trips::<RoleBinding>(obj)
                }
                // Not a built-in type, so only its version is checked here.
                ("monitoring.coreos.com/v1", "ServiceMonitor") => {}
                other => panic!("{label}: unexpected apiVersion/kind {other:?}"),
            }
        }
    }
    assert_eq!(seen.len(), 10, "every template was covered: {seen:?}");
}

#[test]
fn wrong_values_fail_with_a_message_naming_the_value() {
    assert_rejected(&["replicaCount=two"], &[&["replicaCount"], &["integer"]]);
    assert_rejected(
        &["replicas=3"],
        &[&["replicas"], &["additional propert"], &["not allowed"]],
    );
    assert_rejected(
        &["image.registry=x"],
        &[
            &["image"],
            &["registry"],
            &["additional propert"],
            &["not allowed"],
        ],
    );
    assert_rejected(&["logFormat=xml"], &[&["logFormat"]]);
    assert_rejected(&["watchNamespace=Not_A_Namespace"], &[&["watchNamespace"]]);
    assert_rejected(
        &["leaderElection.enabled=yes please"],
        &[&["leaderElection.enabled"]],
    );
    assert_rejected(&["metrics.port=80"], &[&["metrics.port"]]);
    assert_rejected(
        &["resources.requests=null"],
        &[&["resources"], &["requests"], &["required", "missing"]],
    );
    assert_rejected(
        &["resources.limits.memory=null"],
        &[&["resources.limits"], &["memory"], &["required", "missing"]],
    );
}

#[test]
fn notes_explain_first_service_and_wait() {
    let text = notes(&[]);
    assert!(text.contains("kind: StatelessService"), "{text}");
    assert!(
        text.contains("kubectl -n default wait --for=condition=Ready ssvc/hello"),
        "{text}"
    );
    assert!(
        text.contains(&format!("rollout status deployment/{FULLNAME}")),
        "{text}"
    );
    assert!(text.contains(&format!("get lease {LEASE_NAME}")), "{text}");
    let scoped = notes(&[&format!("watchNamespace={WATCH_NS}")]);
    assert!(
        scoped.contains(&format!("watching only namespace {WATCH_NS}")),
        "{scoped}"
    );
    assert!(
        scoped.contains(&format!("kubectl apply -n {WATCH_NS} -f -")),
        "{scoped}"
    );
}

#[test]
fn notes_say_how_to_build_and_load_the_unpublished_default_image() {
    let image = "ghcr.io/stateless-dev/stateless-operator:0.1.0";
    let text = notes(&[]);
    for line in [
        "ImagePullBackOff".to_string(),
        format!("The image {image} is not published yet"),
        format!("docker build -t {image} ."),
        format!("kind load docker-image {image} --name"),
        "--set image.repository=".to_string(),
    ] {
        assert!(text.contains(&line), "NOTES should say {line:?}:\n{text}");
    }
    let tagged = notes(&["image.tag=dev"]);
    assert!(
        tagged.contains("docker build -t ghcr.io/stateless-dev/stateless-operator:dev ."),
        "{tagged}"
    );
    // Someone who names their own image (or pins a digest) built it already.
    for sets in [
        &["image.repository=registry.example/so"][..],
        &["image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"][..],
    ] {
        let own = notes(sets);
        assert!(!own.contains("docker build"), "{sets:?}:\n{own}");
        assert!(own.contains("kind: StatelessService"), "{sets:?}:\n{own}");
    }
}

#[test]
fn chart_ships_a_crds_directory() {
    // The lead generates crds/statelessservice.yaml into it (and tests it equals the repository copy).
    assert!(chart_dir().join("crds").is_dir());
}

// ---------------------------------------------------------------------------------------------
// The chart's RBAC against the registry of child kinds (src/children/): each registered kind
// gets exactly the verbs it declares, so a new kind fails here until its rule is in the chart.

/// (apiGroup, plural, verb, "") for every verb every registered child kind declares.
fn registered_child_grants() -> BTreeSet<(String, String, String, String)> {
    let mut out = BTreeSet::new();
    for entry in stateless_operator::children::REGISTRY {
        let resource = entry.api_resource();
        for verb in entry.verbs() {
            out.insert((
                resource.group.clone(),
                resource.plural.clone(),
                (*verb).to_owned(),
                String::new(),
            ));
        }
    }
    out
}

#[test]
fn rbac_grants_each_registered_child_kind_exactly_its_verbs() {
    let registered = registered_child_grants();
    let kinds: BTreeSet<(String, String)> = registered
        .iter()
        .map(|(g, r, _, _)| (g.clone(), r.clone()))
        .collect();
    for (label, docs) in all_renders() {
        let main = of_kind(&docs, "ClusterRole")
            .into_iter()
            .chain(of_kind(&docs, "Role"))
            .find(|r| name_of(r) == FULLNAME)
            .expect("operator role");
        let granted: BTreeSet<_> = grants(main)
            .into_iter()
            .filter(|(g, r, _, _)| kinds.contains(&(g.clone(), r.clone())))
            .collect();
        let missing: Vec<_> = registered.difference(&granted).collect();
        let extra: Vec<_> = granted.difference(&registered).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{label}: the operator role must grant each registered child kind exactly the verbs it \
             declares (Child::VERBS in src/children/); missing (apiGroup, resource, verb): {missing:?}; \
             granted but not declared: {extra:?}"
        );
    }
}
