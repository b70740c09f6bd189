//! The pure build step: every point of the statelessness contract, the children's names,
//! labels and owners, secret handling and the config hash.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Container, PodSpec, Volume};
use serde_json::{Value, json};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use stateless_operator::build::{
    self, ANNOTATION_CONFIG_HASH, ANNOTATION_GENERATED_KEYS, CONFIG_HASH_KEY,
    CONFIG_HASH_KEY_LENGTH, Children, Observed, SecretGenerator,
};
use stateless_operator::crd::StatelessService;
use stateless_operator::observe;
use stateless_operator::validate::validate;

/// Deterministic "random" values: `<counter>` repeated to the length, so each is unique.
struct Counter(u32);

impl SecretGenerator for Counter {
    fn generate(&mut self, length: usize) -> String {
        self.0 += 1;
        let digit = char::from_digit(self.0 % 10, 10).unwrap();
        std::iter::repeat_n(digit, length).collect()
    }
}

fn service(spec: Value) -> StatelessService {
    serde_json::from_value(json!({
        "apiVersion": "stateless.dev/v1alpha1",
        "kind": "StatelessService",
        "metadata": {"name": "web", "namespace": "team-a", "uid": "uid-123",
                     "labels": {"team": "a", "argocd.argoproj.io/instance": "web"}},
        "spec": spec,
    }))
    .unwrap()
}

fn full_spec() -> Value {
    json!({
        "image": "registry.example/web:1",
        "replicas": 3,
        "command": ["/bin/web"],
        "args": ["--port", "8080"],
        "env": [{"name": "MODE", "value": "prod"}],
        "ports": [{"name": "http", "containerPort": 8080}],
        "resources": {"limits": {"memory": "128Mi"}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
        "livenessProbe": {"tcpSocket": {"port": 8080}},
        "config": {"data": {"a": "1"}, "mountPath": "/etc/web", "env": true},
        "secret": {"generate": [{"key": "token", "length": 20}], "mountPath": "/var/run/web", "env": true},
        "storage": {"size": "1Gi", "accessMode": "ReadWriteMany", "mountPath": "/data", "reclaimPolicy": "Delete"},
        "scratch": {"sizeLimit": "32Mi", "medium": "Memory"},
        "podSecurity": {"runAsUser": 1000, "runAsGroup": 2000, "fsGroup": 3000}
    })
}

fn build_with(svc: &StatelessService, observed: &Observed<'_>) -> Children {
    let valid = validate(svc).expect("valid");
    build::build(valid, observed, &mut Counter(0))
}

fn children(spec: Value) -> Children {
    build_with(&service(spec), &Observed::default())
}

fn pod(c: &Children) -> &PodSpec {
    c.deployment.spec.template.spec.as_ref().unwrap()
}

fn app(c: &Children) -> &Container {
    &pod(c).containers[0]
}

fn volume<'a>(c: &'a Children, name: &str) -> Option<&'a Volume> {
    pod(c).volumes.iter().flatten().find(|v| v.name == name)
}

#[test]
fn root_filesystem_is_read_only_and_container_is_restricted() {
    for spec in [json!({"image": "x"}), full_spec()] {
        let c = children(spec);
        assert_eq!(pod(&c).containers.len(), 1, "exactly one container");
        assert!(pod(&c).init_containers.is_none());
        let sc = app(&c).security_context.as_ref().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.privileged, Some(false));
        assert_eq!(sc.run_as_non_root, Some(true));
        let caps = sc.capabilities.as_ref().unwrap();
        assert_eq!(caps.drop, Some(vec!["ALL".to_string()]));
        assert!(caps.add.is_none());
    }
}

#[test]
fn pod_security_defaults_are_restricted() {
    let c = children(json!({"image": "x"}));
    let p = pod(&c);
    let sc = p.security_context.as_ref().unwrap();
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_eq!(sc.seccomp_profile.as_ref().unwrap().type_, "RuntimeDefault");
    assert_eq!(p.automount_service_account_token, Some(false));
    assert_eq!(p.host_network, Some(false));
    assert_eq!(p.host_pid, Some(false));
    assert_eq!(p.host_ipc, Some(false));
    assert_eq!(sc.run_as_user, None);

    let c = children(full_spec());
    let sc = pod(&c).security_context.as_ref().unwrap();
    assert_eq!(
        (sc.run_as_user, sc.run_as_group, sc.fs_group),
        (Some(1000), Some(2000), Some(3000))
    );
}

#[test]
fn only_writable_mounts_are_scratch_and_data() {
    let c = children(full_spec());
    let mounts = app(&c).volume_mounts.clone().unwrap();
    let writable: Vec<(&str, &str)> = mounts
        .iter()
        .filter(|m| m.read_only != Some(true))
        .map(|m| (m.name.as_str(), m.mount_path.as_str()))
        .collect();
    assert_eq!(writable, [("scratch", "/tmp"), ("data", "/data")]);
    let read_only: Vec<(&str, &str)> = mounts
        .iter()
        .filter(|m| m.read_only == Some(true))
        .map(|m| (m.name.as_str(), m.mount_path.as_str()))
        .collect();
    assert_eq!(
        read_only,
        [("config", "/etc/web"), ("secret", "/var/run/web")]
    );
    let names: Vec<&str> = pod(&c)
        .volumes
        .iter()
        .flatten()
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["scratch", "config", "secret", "data"],
        "no other volumes"
    );
    // Every volume is one of the four kinds the contract allows.
    for v in pod(&c).volumes.iter().flatten() {
        let kinds = [
            v.empty_dir.is_some(),
            v.config_map.is_some(),
            v.secret.is_some(),
            v.persistent_volume_claim.is_some(),
        ];
        assert_eq!(kinds.iter().filter(|k| **k).count(), 1, "{}", v.name);
        assert!(v.host_path.is_none());
    }
}

#[test]
fn minimal_service_has_only_the_scratch_volume() {
    let c = children(json!({"image": "x"}));
    let names: Vec<&str> = pod(&c)
        .volumes
        .iter()
        .flatten()
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(names, ["scratch"]);
    let mounts = app(&c).volume_mounts.clone().unwrap();
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0].mount_path, "/tmp");
}

#[test]
fn scratch_is_a_size_limited_empty_dir() {
    let c = children(json!({"image": "x"}));
    let dir = volume(&c, "scratch").unwrap().empty_dir.as_ref().unwrap();
    assert_eq!(
        dir.size_limit.as_ref().unwrap().0,
        "64Mi",
        "default size limit"
    );
    assert_eq!(dir.medium, None);
    let c = children(full_spec());
    let dir = volume(&c, "scratch").unwrap().empty_dir.as_ref().unwrap();
    assert_eq!(dir.size_limit.as_ref().unwrap().0, "32Mi");
    assert_eq!(dir.medium.as_deref(), Some("Memory"));
}

#[test]
fn config_and_secret_are_mounted_read_only_and_optionally_as_env() {
    let c = children(full_spec());
    let cm = volume(&c, "config").unwrap().config_map.as_ref().unwrap();
    assert_eq!(cm.name, "web-config");
    let secret = volume(&c, "secret").unwrap().secret.as_ref().unwrap();
    assert_eq!(secret.secret_name.as_deref(), Some("web-secret"));
    assert_eq!(secret.default_mode, Some(0o444));
    let env_from = app(&c).env_from.clone().unwrap();
    assert_eq!(
        env_from[0].config_map_ref.as_ref().unwrap().name,
        "web-config"
    );
    assert_eq!(env_from[1].secret_ref.as_ref().unwrap().name, "web-secret");

    let c = children(
        json!({"image": "x", "config": {"data": {"a": "b"}}, "secret": {"generate": [{"key": "k", "length": 16}]}}),
    );
    assert!(volume(&c, "config").is_none(), "no mountPath, no volume");
    assert!(volume(&c, "secret").is_none());
    assert!(app(&c).env_from.is_none());
}

#[test]
fn container_carries_the_spec() {
    let c = children(full_spec());
    let a = app(&c);
    assert_eq!(a.name, "app");
    assert_eq!(a.image.as_deref(), Some("registry.example/web:1"));
    assert_eq!(a.command, Some(vec!["/bin/web".to_string()]));
    assert_eq!(a.args, Some(vec!["--port".to_string(), "8080".to_string()]));
    assert_eq!(a.env.as_ref().unwrap()[0].name, "MODE");
    let port = &a.ports.as_ref().unwrap()[0];
    assert_eq!(
        (
            port.name.as_deref(),
            port.container_port,
            port.protocol.as_deref()
        ),
        (Some("http"), 8080, Some("TCP"))
    );
    assert_eq!(
        a.resources.as_ref().unwrap().limits.as_ref().unwrap()["memory"].0,
        "128Mi"
    );
    assert!(a.readiness_probe.as_ref().unwrap().http_get.is_some());
    assert!(a.liveness_probe.as_ref().unwrap().tcp_socket.is_some());
}

#[test]
fn topology_spread_across_nodes() {
    let c = children(json!({"image": "x"}));
    let spread = &pod(&c).topology_spread_constraints.as_ref().unwrap()[0];
    assert_eq!(spread.topology_key, "kubernetes.io/hostname");
    assert_eq!(spread.max_skew, 1);
    assert_eq!(spread.when_unsatisfiable, "ScheduleAnyway");
    assert_eq!(
        spread
            .label_selector
            .as_ref()
            .unwrap()
            .match_labels
            .as_ref()
            .unwrap()["stateless.dev/service"],
        "web"
    );
}

#[test]
fn rolling_update_never_drops_below_desired() {
    for spec in [json!({"image": "x"}), full_spec()] {
        let c = children(spec);
        let strategy = c.deployment.spec.strategy.clone().unwrap();
        assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
        let ru = strategy.rolling_update.unwrap();
        assert_eq!(serde_json::to_value(ru.max_unavailable).unwrap(), json!(0));
        assert_eq!(
            serde_json::to_value(ru.max_surge).unwrap(),
            json!("25%"),
            "rollout.maxSurge defaults to 25%"
        );
    }
    for surge in [json!(3), json!("50%")] {
        let c = children(json!({"image": "x", "rollout": {"maxSurge": surge}}));
        let ru = c
            .deployment
            .spec
            .strategy
            .clone()
            .unwrap()
            .rolling_update
            .unwrap();
        assert_eq!(serde_json::to_value(ru.max_unavailable).unwrap(), json!(0));
        assert_eq!(serde_json::to_value(ru.max_surge).unwrap(), surge);
    }
}

#[test]
fn single_writer_volumes_are_recreated_not_rolled() {
    for mode in ["ReadWriteOnce", "ReadWriteOncePod"] {
        let c = children(json!({"image": "x", "replicas": 1,
            "storage": {"size": "1Gi", "accessMode": mode, "mountPath": "/data"}}));
        let strategy = c.deployment.spec.strategy.clone().unwrap();
        assert_eq!(strategy.type_.as_deref(), Some("Recreate"), "{mode}");
        assert!(strategy.rolling_update.is_none(), "{mode}");
    }
}

#[test]
fn children_names_labels_and_selector() {
    let c = children(full_spec());
    let claim = c.claim.as_ref().unwrap();
    let pdb = c.disruption_budget.as_ref().unwrap();
    let metas = [
        (&c.deployment.metadata, "web"),
        (&c.config_map.metadata, "web-config"),
        (&c.secret.metadata, "web-secret"),
        (&claim.metadata, "web-data"),
        (&pdb.metadata, "web"),
    ];
    let expected: BTreeMap<String, String> = [
        ("app.kubernetes.io/name", "web"),
        ("app.kubernetes.io/managed-by", "stateless-operator"),
        ("stateless.dev/service", "web"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (meta, name) in metas {
        assert_eq!(meta.name.as_deref(), Some(name));
        assert_eq!(meta.namespace.as_deref(), Some("team-a"));
        assert_eq!(
            meta.labels.as_ref(),
            Some(&expected),
            "{name}: the service's own labels are not copied"
        );
    }
    let selector = c.deployment.spec.selector.match_labels.clone().unwrap();
    assert_eq!(
        selector,
        BTreeMap::from([("stateless.dev/service".to_string(), "web".to_string())])
    );
    let template_labels = c
        .deployment
        .spec
        .template
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .clone()
        .unwrap();
    assert_eq!(template_labels, expected);
}

#[test]
fn every_child_is_owned_except_a_retained_claim() {
    let c = children(full_spec()); // reclaimPolicy Delete
    let owners = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        meta.owner_references.clone().unwrap_or_default()
    };
    for meta in [
        &c.deployment.metadata,
        &c.config_map.metadata,
        &c.secret.metadata,
        &c.claim.as_ref().unwrap().metadata,
        &c.disruption_budget.as_ref().unwrap().metadata,
    ] {
        let refs = owners(meta);
        assert_eq!(refs.len(), 1);
        let r = &refs[0];
        assert_eq!(
            (
                r.api_version.as_str(),
                r.kind.as_str(),
                r.name.as_str(),
                r.uid.as_str()
            ),
            (
                "stateless.dev/v1alpha1",
                "StatelessService",
                "web",
                "uid-123"
            )
        );
        assert_eq!(
            (r.controller, r.block_owner_deletion),
            (Some(true), Some(true))
        );
    }
    let mut spec = full_spec();
    spec["storage"]["reclaimPolicy"] = json!("Retain");
    let c = children(spec);
    assert!(
        c.claim.unwrap().metadata.owner_references.is_none(),
        "a retained claim outlives its service"
    );
    assert_eq!(owners(&c.deployment.metadata).len(), 1);
}

#[test]
fn offline_objects_without_uid_get_no_owner_reference() {
    let mut svc = service(json!({"image": "x"}));
    svc.metadata.uid = None;
    let c = build_with(&svc, &Observed::default());
    assert!(c.deployment.metadata.owner_references.is_none());
}

#[test]
fn claim_matches_storage() {
    let c = children(json!({"image": "x", "replicas": 1,
        "storage": {"size": "3Gi", "storageClassName": "fast", "mountPath": "/data"}}));
    let claim = c.claim.unwrap();
    let spec = claim.spec.unwrap();
    assert_eq!(spec.access_modes, Some(vec!["ReadWriteOnce".to_string()]));
    assert_eq!(spec.storage_class_name.as_deref(), Some("fast"));
    assert_eq!(
        spec.resources.unwrap().requests.unwrap()["storage"].0,
        "3Gi"
    );
    assert!(children(json!({"image": "x"})).claim.is_none());
}

#[test]
fn disruption_budget_only_with_two_or_more_replicas() {
    for (replicas, expected) in [(0, false), (1, false), (2, true), (5, true)] {
        let c = children(json!({"image": "x", "replicas": replicas}));
        assert_eq!(
            c.disruption_budget.is_some(),
            expected,
            "replicas {replicas}"
        );
        assert_eq!(c.deployment.spec.replicas, Some(replicas));
    }
    let c = children(json!({"image": "x"}));
    let pdb = c.disruption_budget.unwrap().spec.unwrap();
    assert_eq!(serde_json::to_value(pdb.max_unavailable).unwrap(), json!(1));
    assert_eq!(
        pdb.unhealthy_pod_eviction_policy.as_deref(),
        Some("AlwaysAllow")
    );
}

#[test]
fn config_map_and_secret_always_exist() {
    let c = children(json!({"image": "x"}));
    assert_eq!(c.config_map.metadata.name.as_deref(), Some("web-config"));
    assert!(c.config_map.data.is_none());
    assert_eq!(c.secret.metadata.name.as_deref(), Some("web-secret"));
    let keys: Vec<&String> = c.secret.data.iter().flatten().map(|(k, _)| k).collect();
    assert_eq!(keys, [CONFIG_HASH_KEY], "only the config hash key");
    assert!(
        c.secret.metadata.annotations.is_none(),
        "no generated-keys annotation without secret.generate"
    );
    assert_eq!(c.secret.type_.as_deref(), Some("Opaque"));
}

fn secret_value(c: &Children, key: &str) -> Option<String> {
    c.secret
        .data
        .as_ref()?
        .get(key)
        .map(|v| String::from_utf8(v.0.clone()).unwrap())
}

#[test]
fn secret_values_are_generated_once_then_read_back() {
    let svc = service(full_spec());
    let first = build_with(&svc, &Observed::default());
    let token = secret_value(&first, "token").unwrap();
    assert_eq!(token.len(), 20);
    assert_eq!(
        first.secret.metadata.annotations.as_ref().unwrap()[ANNOTATION_GENERATED_KEYS],
        "token"
    );
    // The live Secret holds the value: the next build reuses it, whatever the generator says.
    let live = first.secret.data.clone().unwrap();
    let observed = Observed {
        secret_data: Some(&live),
        generated_keys: Some("token"),
        ..Observed::default()
    };
    let valid = validate(&svc).unwrap();
    let second = build::build(valid, &observed, &mut Counter(7));
    assert_eq!(secret_value(&second, "token").unwrap(), token);
    assert_eq!(
        first, second,
        "rebuilding from the live state changes nothing"
    );
}

#[test]
fn generated_values_are_kept_after_their_key_leaves_the_spec() {
    let live: BTreeMap<String, ByteString> = BTreeMap::from([
        ("old".to_string(), ByteString(b"kept-value-xxxxxx".to_vec())),
        (
            "foreign".to_string(),
            ByteString(b"added-by-someone".to_vec()),
        ),
    ]);
    let observed = Observed {
        secret_data: Some(&live),
        generated_keys: Some("old"),
        ..Observed::default()
    };
    let c = build_with(&service(json!({"image": "x"})), &observed);
    assert_eq!(secret_value(&c, "old").unwrap(), "kept-value-xxxxxx");
    assert_eq!(
        secret_value(&c, "foreign"),
        None,
        "keys of other tools are not claimed"
    );
}

#[test]
fn generator_produces_unique_alphanumeric_values() {
    let mut generator = build::OsRandom;
    let a = generator.generate(64);
    let b = generator.generate(64);
    assert_eq!(a.len(), 64);
    assert_ne!(a, b);
    assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
}

fn hash(c: &Children) -> String {
    c.deployment
        .spec
        .template
        .metadata
        .as_ref()
        .unwrap()
        .annotations
        .as_ref()
        .unwrap()[ANNOTATION_CONFIG_HASH]
        .clone()
}

#[test]
fn config_hash_follows_all_config_and_secret_data() {
    let base = children(full_spec());
    assert_eq!(hash(&base), hash(&children(full_spec())), "deterministic");

    let mut changed = full_spec();
    changed["config"]["data"]["a"] = json!("2");
    assert_ne!(
        hash(&base),
        hash(&children(changed)),
        "a config value change rolls the pods"
    );

    // A key another tool added to the live ConfigMap changes the hash too.
    let live_config = BTreeMap::from([("extra".to_string(), "x".to_string())]);
    let svc = service(full_spec());
    let with_extra = build_with(
        &svc,
        &Observed {
            config_data: Some(&live_config),
            ..Observed::default()
        },
    );
    assert_ne!(hash(&base), hash(&with_extra));
    assert!(
        with_extra
            .config_map
            .data
            .as_ref()
            .unwrap()
            .get("extra")
            .is_none(),
        "foreign keys are not applied by us"
    );

    // So does a foreign Secret key.
    let live_secret = BTreeMap::from([("extra".to_string(), ByteString(b"x".to_vec()))]);
    let with_secret = build_with(
        &svc,
        &Observed {
            secret_data: Some(&live_secret),
            ..Observed::default()
        },
    );
    assert_ne!(hash(&base), hash(&with_secret));

    // Moving a value between key and value does not collide.
    let h1 = build::config_hash(
        b"k",
        &BTreeMap::from([("ab".into(), "c".into())]),
        &BTreeMap::new(),
    );
    let h2 = build::config_hash(
        b"k",
        &BTreeMap::from([("a".into(), "bc".into())]),
        &BTreeMap::new(),
    );
    assert_ne!(h1, h2);
}

fn bytes(v: &str) -> ByteString {
    ByteString(v.as_bytes().to_vec())
}

fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn secrets(pairs: &[(&str, &str)]) -> BTreeMap<String, ByteString> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), bytes(v)))
        .collect()
}

#[test]
fn config_hash_changes_with_every_value_and_only_with_values() {
    let key = b"0123456789abcdef0123456789abcdef01234567890a";
    let c = config(&[("a", "1"), ("b", "2")]);
    let s = secrets(&[("token", "hunter2"), ("pin", "1234")]);
    let base = build::config_hash(key, &c, &s);
    assert!(base.starts_with("hmac-sha256-"), "{base}");
    assert_eq!(base.len(), "hmac-sha256-".len() + 20, "80 bits in hex");

    // Any config or secret value, key, addition or removal changes it.
    let variants = [
        build::config_hash(key, &config(&[("a", "1"), ("b", "3")]), &s),
        build::config_hash(key, &config(&[("a", "1")]), &s),
        build::config_hash(key, &config(&[("a", "1"), ("b", "2"), ("c", "")]), &s),
        build::config_hash(key, &config(&[("a", "1"), ("c", "2")]), &s),
        build::config_hash(key, &c, &secrets(&[("token", "hunter3"), ("pin", "1234")])),
        build::config_hash(key, &c, &secrets(&[("token", "hunter2"), ("pin", "1235")])),
        build::config_hash(key, &c, &secrets(&[("token", "hunter2")])),
        build::config_hash(
            key,
            &c,
            &secrets(&[("token", "hunter2"), ("pin", "1234"), ("x", "")]),
        ),
        // The same pair moved from the ConfigMap to the Secret.
        build::config_hash(
            key,
            &config(&[("a", "1")]),
            &secrets(&[("b", "2"), ("token", "hunter2"), ("pin", "1234")]),
        ),
    ];
    for (i, v) in variants.iter().enumerate() {
        assert_ne!(&base, v, "variant {i}");
    }

    // The key's own entry in the Secret data is not hashed: its presence changes nothing, and
    // the maps are ordered, so the order in which entries arrived changes nothing either.
    let mut with_key = s.clone();
    with_key.insert(CONFIG_HASH_KEY.to_string(), ByteString(key.to_vec()));
    assert_eq!(build::config_hash(key, &c, &with_key), base);
    let mut reversed = BTreeMap::new();
    for (k, v) in with_key.iter().rev() {
        reversed.insert(k.clone(), v.clone());
    }
    assert_eq!(build::config_hash(key, &c, &reversed), base);
}

#[test]
fn config_hash_differs_between_services_with_the_same_values_and_other_keys() {
    let c = config(&[("a", "1")]);
    let s = secrets(&[("password", "summer2024")]);
    let one = build::config_hash(b"key-of-service-one", &c, &s);
    let two = build::config_hash(b"key-of-service-two", &c, &s);
    assert_ne!(one, two);
    // Through the build: two services with identical specs get their own random keys.
    let svc = service(full_spec());
    let valid = validate(&svc).unwrap();
    let a = build::build(valid, &Observed::default(), &mut build::OsRandom);
    let b = build::build(valid, &Observed::default(), &mut build::OsRandom);
    assert_ne!(
        secret_value(&a, CONFIG_HASH_KEY),
        secret_value(&b, CONFIG_HASH_KEY)
    );
    assert_ne!(hash(&a), hash(&b));
}

#[test]
fn config_hash_key_is_generated_once_and_kept() {
    let svc = service(full_spec());
    let first = build_with(&svc, &Observed::default());
    let key = secret_value(&first, CONFIG_HASH_KEY).expect("a key is generated");
    assert_eq!(key.len(), CONFIG_HASH_KEY_LENGTH);
    assert_ne!(
        key,
        secret_value(&first, "token").unwrap(),
        "its own value, not a user's"
    );
    assert_eq!(
        first.secret.metadata.annotations.as_ref().unwrap()[ANNOTATION_GENERATED_KEYS],
        "token",
        "the hash key is not one of the user's generated keys"
    );
    // The build hashes with the key it put into the Secret.
    let data = first.secret.data.clone().unwrap();
    let expected = build::config_hash(
        key.as_bytes(),
        first.config_map.data.as_ref().unwrap(),
        &data,
    );
    assert_eq!(hash(&first), expected);

    // Rebuilt from the live Secret with a generator that would give other values: nothing
    // changes, so nothing rolls.
    let valid = validate(&svc).unwrap();
    let observed = Observed {
        secret_data: Some(&data),
        generated_keys: Some("token"),
        ..Observed::default()
    };
    for seed in [0, 3, 8] {
        let again = build::build(valid, &observed, &mut Counter(seed));
        assert_eq!(secret_value(&again, CONFIG_HASH_KEY).unwrap(), key);
        assert_eq!(hash(&again), hash(&first));
    }

    // A changed user value rolls; the key stays.
    let mut changed = data.clone();
    changed.insert("token".into(), bytes("another-token-value"));
    let observed = Observed {
        secret_data: Some(&changed),
        generated_keys: Some("token"),
        ..Observed::default()
    };
    let rolled = build::build(valid, &observed, &mut Counter(5));
    assert_eq!(secret_value(&rolled, CONFIG_HASH_KEY).unwrap(), key);
    assert_ne!(hash(&rolled), hash(&first));
}

#[test]
fn a_secret_from_before_the_keyed_hash_gets_a_key_and_keeps_its_values() {
    // What an upgrade finds: the Secret holds the user's values but no hash key.
    let svc = service(full_spec());
    let live = secrets(&[("token", "0123456789abcdefghij")]);
    let observed = Observed {
        secret_data: Some(&live),
        generated_keys: Some("token"),
        ..Observed::default()
    };
    let c = build_with(&svc, &observed);
    assert_eq!(secret_value(&c, "token").unwrap(), "0123456789abcdefghij");
    let key = secret_value(&c, CONFIG_HASH_KEY).unwrap();
    assert_eq!(key.len(), CONFIG_HASH_KEY_LENGTH);
    // From then on it is read back like any generated value.
    let data = c.secret.data.clone().unwrap();
    let observed = Observed {
        secret_data: Some(&data),
        generated_keys: Some("token"),
        ..Observed::default()
    };
    let next = build::build(validate(&svc).unwrap(), &observed, &mut Counter(9));
    assert_eq!(c, next);
}

fn observed_secret(data: BTreeMap<String, ByteString>) -> observe::Observed {
    observe::Observed {
        secret: Some(Arc::new(Secret {
            data: Some(data),
            ..Secret::default()
        })),
        ..observe::Observed::default()
    }
}

#[test]
fn a_missing_hash_key_makes_the_secret_be_read_before_generating() {
    // `would_generate` decides when the cached Secret is confirmed with a GET before the build
    // generates: a stale cache must never make the key be generated twice.
    let spec = service(full_spec()).spec;
    let minimal = service(json!({"image": "x"})).spec;
    let none = observe::Observed::default();
    assert!(
        none.would_generate(&minimal),
        "no Secret: a key would be generated"
    );
    let old = observed_secret(secrets(&[("token", "t")]));
    assert!(old.would_generate(&spec), "user values but no key");
    assert!(old.would_generate(&minimal));
    let keyed = observed_secret(secrets(&[("token", "t"), (CONFIG_HASH_KEY, "k")]));
    assert!(!keyed.would_generate(&spec), "nothing to generate");
    assert!(!keyed.would_generate(&minimal));
    let key_only = observed_secret(secrets(&[(CONFIG_HASH_KEY, "k")]));
    assert!(key_only.would_generate(&spec), "token is missing");
    assert!(!key_only.would_generate(&minimal));
}

#[test]
fn build_is_deterministic_for_the_same_input() {
    let svc = service(full_spec());
    let a = build_with(&svc, &Observed::default());
    let b = build_with(&svc, &Observed::default());
    assert_eq!(
        serde_json::to_string(&a.deployment).unwrap(),
        serde_json::to_string(&b.deployment).unwrap()
    );
}
