//! Property tests over arbitrary StatelessServices.
//!
//! Specs are generated as `serde_json::Value`s (so that hostile input can also break the
//! types) and deserialized like the API server's objects would be; values that do not
//! deserialize are skipped, but deserialization itself must never panic. One generator, three
//! doses of hostility per field: *plausible* (4%: mostly accepted, to exercise `build`), *mixed*
//! (12%: odd specs that are still accepted) and *hostile* (60%: random and unicode strings,
//! extreme numbers, huge lists and values, `..`, `//`, trailing `/`, `/tmp`, overlapping mount
//! paths, names up to 300 characters, quantities near the i128 limits), plus arbitrary JSON.
//!
//! Properties:
//! 1. `validate` (and deserialization) never panics, on anything.
//! 2. Every accepted spec builds a Deployment that keeps the statelessness contract.
//! 3. Every child name and label value is valid for its kind (plus explicit name-length tests).
//! 4. `build` is deterministic, and the config hash follows every config value.
//! 5. Generated secret values already in the live Secret are never replaced.
//! 6. `validate` agrees, field by field, with small oracles written independently here.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::PodSpec;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};
use stateless_operator::build::{
    self, ANNOTATION_CONFIG_HASH, Children, Observed, SecretGenerator,
};
use stateless_operator::crd::StatelessService;
use stateless_operator::validate::validate;

/// Cases per property: enough to hit the rarer branches, small enough for ~20 s in debug.
const CASES: u32 = 256;
/// Percentage of fields drawn from the hostile side in each mode.
const PLAUSIBLE: u32 = 4;
const HOSTILE: u32 = 60;
/// Few enough hostile fields that some odd specs (unicode paths, extreme ids) are accepted.
const MIXED: u32 = 12;

fn config(cases: u32) -> Config {
    Config {
        cases,
        // Failures are turned into explicit regression tests below instead of stray files.
        failure_persistence: None,
        ..Config::default()
    }
}

/// Deterministic stand-in for the CSPRNG: distinct, alphanumeric, reproducible values.
struct Fixed(usize);

impl SecretGenerator for Fixed {
    fn generate(&mut self, length: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        self.0 += 1;
        (0..length)
            .map(|i| char::from(ALPHABET[(self.0 * 7 + i * 13) % ALPHABET.len()]))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Oracles: written from the Kubernetes and README rules, not from `src/validate.rs`.
// ---------------------------------------------------------------------------------------------

fn label_chars_ok(label: &str) -> bool {
    let chars: Vec<char> = label.chars().collect();
    !chars.is_empty()
        && chars
            .iter()
            .all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-'))
        && chars[0] != '-'
        && chars[chars.len() - 1] != '-'
}

/// RFC 1123 label: Deployment and PodDisruptionBudget names, StatelessService names.
fn is_dns_label(s: &str) -> bool {
    s.len() <= 63 && label_chars_ok(s)
}

/// RFC 1123 subdomain: ConfigMap, Secret, PVC and StorageClass names.
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(label_chars_ok)
}

/// `(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?`, at most 63.
fn is_label_value(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() <= 63
        && (b.is_empty()
            || (b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))))
}

/// ConfigMap/Secret key: `[-._a-zA-Z0-9]+`, at most 253, not `.` or `..`.
fn is_data_key(s: &str) -> bool {
    (1..=253).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        && s != "."
        && s != ".."
}

/// The path split into segments, when it is absolute and normalised (no empty, `.` or `..`
/// segment, so no `//` and no trailing `/`), not `/`, and at most 4096 bytes (`PATH_MAX`).
fn path_segments(p: &str) -> Option<Vec<&str>> {
    let rest = p.strip_prefix('/')?;
    let segments: Vec<&str> = rest.split('/').collect();
    let normal = segments.iter().all(|s| !matches!(*s, "" | "." | ".."));
    (normal && p.len() <= 4096).then_some(segments)
}

/// A mount path the contract allows for config, secret or storage: normalised and not the
/// scratch directory or anything below it.
fn is_mount_path(p: &str) -> bool {
    path_segments(p).is_some_and(|s| s[0] != "tmp")
}

/// One path is the other or lies below it (compared segment by segment, not as strings).
fn paths_overlap(a: &str, b: &str) -> bool {
    let seg = |p: &str| -> Vec<String> {
        p.split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (a, b) = (seg(a), seg(b));
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// IANA service name (Kubernetes `IsValidPortName`).
fn is_port_name(s: &str) -> bool {
    s.len() <= 15
        && label_chars_ok(s)
        && s.chars().any(|c| c.is_ascii_lowercase())
        && !s.contains("--")
}

/// Kubernetes (relaxed, GA in 1.34) environment variable name: printable ASCII except `=`.
fn is_env_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| (b' '..=b'~').contains(&c) && c != b'=')
}

/// Kubernetes user and group ids: 0 to 2^31 - 1.
fn is_id(v: i64) -> bool {
    (0..=i64::from(i32::MAX)).contains(&v)
}

#[test]
fn oracles_agree_with_known_answers() {
    assert!(is_dns_label("a") && is_dns_label(&"a".repeat(63)));
    assert!(!is_dns_label(&"a".repeat(64)) && !is_dns_label("a.b") && !is_dns_label("-a"));
    assert!(is_dns_subdomain("a.b-c") && !is_dns_subdomain("a..b") && !is_dns_subdomain("A"));
    assert!(is_label_value("") && is_label_value("A_b.c") && !is_label_value("_a"));
    assert!(is_mount_path("/etc/app") && is_mount_path("/tmpx") && is_mount_path("/a b/é"));
    for bad in [
        "", "/", "//", "/a/", "a", "/a//b", "/a/./b", "/a/..", "/tmp", "/tmp/x",
    ] {
        assert!(!is_mount_path(bad), "{bad:?}");
    }
    assert!(
        paths_overlap("/a", "/a/b") && paths_overlap("/a/b", "/a") && paths_overlap("/a", "/a")
    );
    assert!(!paths_overlap("/etc/app", "/etc/application") && !paths_overlap("/a/b", "/a/c"));
    assert!(is_port_name("http") && !is_port_name("80") && !is_port_name("a--b"));
    assert!(is_env_name("A b.c") && !is_env_name("A=B") && !is_env_name("é"));
}

// ---------------------------------------------------------------------------------------------
// Generators.
// ---------------------------------------------------------------------------------------------

/// `hostile`% of values from `bad`, the rest from `good`.
fn mix<T: std::fmt::Debug + 'static>(
    hostile: u32,
    good: impl Strategy<Value = T> + 'static,
    bad: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<T> {
    prop_oneof![100 - hostile => good.boxed(), hostile => bad.boxed()].boxed()
}

/// Some(value) with probability `present`/4.
fn maybe<T: std::fmt::Debug + Clone + 'static>(
    present: u32,
    s: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Option<T>> {
    prop_oneof![4 - present => Just(None), present => s.prop_map(Some)].boxed()
}

/// Any string, newlines and unicode included, up to `max` characters.
fn any_text(max: usize) -> BoxedStrategy<String> {
    proptest::string::string_regex(&format!("(?s).{{0,{max}}}"))
        .expect("regex")
        .boxed()
}

fn name(h: u32) -> BoxedStrategy<Option<String>> {
    let good = prop_oneof![
        4 => "[a-z]([-a-z0-9]{0,10}[a-z0-9])?",
        1 => "[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?",
        1 => "[a-z0-9]{63}",
    ]
    .prop_map(Some);
    let bad = prop_oneof![
        Just(None),
        Just(Some(String::new())),
        "[a-z0-9]{62,66}".prop_map(Some),
        "[a-z0-9]{64,300}".prop_map(Some),
        "[-a-zA-Z0-9._]{1,70}".prop_map(Some),
        "-[a-z]{1,5}|[a-z]{1,5}-|[a-z]{1,5}[.][a-z]{1,5}".prop_map(Some),
        any_text(300).prop_map(Some),
    ];
    mix(h, good, bad)
}

/// Mount paths: plausible ones share segments so that overlaps are common.
fn path(h: u32) -> BoxedStrategy<String> {
    let good = prop_oneof![
        vec(
            select(&["etc", "app", "data", "var", "run", "conf", "srv"][..]),
            1..=3
        )
        .prop_map(|s| format!("/{}", s.join("/"))),
        "(/[a-z]{1,6}){1,3}",
    ];
    let segment = select(
        &[
            "etc", "app", "tmp", "TMP", "tmpx", ".", "..", "", "...", " ", "é", "a:b", "\0",
        ][..],
    );
    let bad = prop_oneof![
        vec(segment, 0..5).prop_map(|s| format!("/{}", s.join("/"))),
        (
            "(/[a-z]{1,4}){0,3}",
            select(&["/", "//", "/.", "/..", "/tmp"][..])
        )
            .prop_map(|(p, end)| format!("{p}{end}")),
        "(/[a-z]{1,4}){1,3}".prop_map(|p| p.replacen('/', "//", 1)),
        "[a-z]{1,4}(/[a-z]{1,4}){0,2}",
        Just("/".to_string()),
        Just(String::new()),
        Just("/tmp".to_string()),
        "/tmp/[a-z]{1,5}",
        any_text(40),
        // Around PATH_MAX, in bytes and in (multi-byte) characters.
        (4090usize..4100).prop_map(|n| format!("/{}", "a".repeat(n))),
        (1360usize..1370).prop_map(|n| format!("/{}", "€".repeat(n))),
    ];
    mix(h, good, bad)
}

fn key(h: u32) -> BoxedStrategy<String> {
    let good = prop_oneof![
        select(&["token", "password", "api-key", "db.url", "k1", "K_2"][..]).prop_map(String::from),
        "[a-zA-Z0-9][-._a-zA-Z0-9]{0,15}",
    ];
    let bad = prop_oneof![
        Just(".".to_string()),
        Just("..".to_string()),
        Just(String::new()),
        "[-._]{1,3}",
        "[a-z]{1,5} [a-z]{1,5}",
        "[a-z]{250,256}",
        any_text(20),
    ];
    mix(h, good, bad)
}

/// Quantities at the edges of what `quantity::parse` handles: long fractions, mantissas up
/// to 2^128, every suffix and large exponents.
fn extreme_quantity() -> BoxedStrategy<String> {
    let mantissa = prop_oneof![
        0u128..1000,
        any::<u64>().prop_map(u128::from),
        1u128..(1u128 << 70),
        any::<u128>(),
    ];
    let suffix = select(
        &[
            "", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "e3", "e-3",
            "E+18", "e38", "e-38", "e-40", "e999", "e-999",
        ][..],
    );
    let broad = (select(&["", "+", "-"][..]), mantissa, 0usize..=50, suffix);
    // Values whose scaled mantissa lands within a few bits of 2^127 and whose fraction needs a
    // divisor near 10^38: where i128 arithmetic in the parser can overflow.
    let edge = (
        select(&[("Gi", 30u32), ("Ti", 40), ("Pi", 50), ("Ei", 60)][..]),
        0u32..4,
        36usize..=43,
    )
        .prop_flat_map(|((suffix, exp), slack, frac)| {
            let bits = 128 - exp - slack;
            ((1u128 << (bits - 1))..(1u128 << bits)).prop_map(move |m| ("", m, frac, suffix))
        });
    prop_oneof![broad, edge]
        .prop_map(|(sign, m, frac, suffix)| {
            let mut digits = format!("{m:0>width$}", width = frac + 1);
            if frac > 0 {
                digits.insert(digits.len() - frac, '.');
            }
            format!("{sign}{digits}{suffix}")
        })
        .boxed()
}

fn quantity(h: u32) -> BoxedStrategy<String> {
    let good = "[1-9][0-9]{0,3}(Ki|Mi|Gi|m|k|M|G)?";
    let bad = prop_oneof![
        4 => extreme_quantity(),
        1 => Just("0".to_string()),
        1 => "-[1-9](Gi|m)",
        1 => "[0-9.eE+-]{1,12}(Ki|Mi|Ei|m)?",
        1 => "[0-9]{18,70}",
        1 => any_text(12),
    ];
    mix(h, good, bad)
}

/// Builds a JSON object from optional fields (absent ones are left out).
fn object(fields: Vec<(&str, Option<Value>)>) -> Value {
    Value::Object(
        fields
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_string(), v?)))
            .collect::<Map<_, _>>(),
    )
}

fn env(h: u32) -> BoxedStrategy<Value> {
    let names = ["MODE", "LOG_LEVEL", "PORT", "A", "b.c"];
    let good = subsequence(names.to_vec(), 0..=4)
        .prop_map(|ns| ns.into_iter().map(String::from).collect::<Vec<_>>());
    let bad = vec(
        prop_oneof![
            select(names.to_vec()).prop_map(String::from),
            any_text(10),
            "[A-Z]=[a-z]"
        ],
        0..6,
    );
    (mix(h, good, bad), vec(maybe(3, any_text(20)), 6))
        .prop_map(|(names, values)| {
            let vars = names
                .into_iter()
                .zip(values)
                .map(|(n, v)| {
                    object(vec![
                        ("name", Some(json!(n))),
                        ("value", v.map(Value::from)),
                    ])
                })
                .collect();
            Value::Array(vars)
        })
        .boxed()
}

fn ports(h: u32) -> BoxedStrategy<Value> {
    let known = [
        ("http", 8080),
        ("metrics", 9090),
        ("grpc", 9000),
        ("admin", 8081),
    ];
    let protocol = select(&["TCP", "UDP", "SCTP"][..]);
    let good = (
        subsequence(known.to_vec(), 0..=3),
        vec(maybe(2, protocol), 4),
    )
        .prop_map(move |(ports, protocols)| {
            ports
                .into_iter()
                .zip(protocols)
                .map(|((n, p), proto)| (n.to_string(), json!(p), proto.map(Value::from)))
                .collect::<Vec<_>>()
        });
    let bad_name = prop_oneof![
        select(&["http", "metrics", "80", "a--b", "-a"][..]).prop_map(String::from),
        "[a-z0-9-]{1,17}",
        any_text(20),
    ];
    let bad_port = prop_oneof![
        select(&[0i64, 1, 8080, 65535, 65536, -1][..]).prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
    ];
    let bad_protocol = maybe(
        3,
        select(&["TCP", "UDP", "SCTP", "tcp", "", "ICMP"][..]).prop_map(Value::from),
    );
    let bad = vec((bad_name, bad_port, bad_protocol), 0..8);
    mix(h, good, bad)
        .prop_map(|ports| {
            let list = ports
                .into_iter()
                .map(|(n, p, proto)| {
                    object(vec![
                        ("name", Some(json!(n))),
                        ("containerPort", Some(p)),
                        ("protocol", proto),
                    ])
                })
                .collect();
            Value::Array(list)
        })
        .boxed()
}

fn resources(h: u32) -> BoxedStrategy<Value> {
    let list = || {
        btree_map(
            select(&["cpu", "memory", "ephemeral-storage"][..]),
            quantity(h),
            0..3,
        )
    };
    (maybe(3, list()), maybe(3, list()))
        .prop_map(|(limits, requests)| {
            object(vec![
                ("limits", limits.map(|l| json!(l))),
                ("requests", requests.map(|r| json!(r))),
            ])
        })
        .boxed()
}

fn probe(h: u32) -> BoxedStrategy<Value> {
    let handlers = [
        ("exec", json!({"command": ["true"]})),
        ("httpGet", json!({"path": "/ready", "port": 8080})),
        ("tcpSocket", json!({"port": "http"})),
        ("grpc", json!({"port": 9000})),
    ];
    let good = select(handlers.to_vec()).prop_map(|h| vec![h]);
    let bad = subsequence(handlers.to_vec(), 0..=4);
    (mix(h, good, bad), 0i32..10)
        .prop_map(|(hs, period)| {
            let mut m: Map<String, Value> =
                hs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            m.insert("periodSeconds".into(), json!(period));
            Value::Object(m)
        })
        .boxed()
}

/// Config values: mostly short, sometimes around the ConfigMap size limit.
fn config_value(h: u32) -> BoxedStrategy<String> {
    let limit: usize = 1024 * 1024 - 16 * 1024;
    mix(
        h,
        "[ -~]{0,30}",
        prop_oneof![
            4 => any_text(30),
            1 => (limit - 40..limit + 40).prop_map(|n| "v".repeat(n)),
        ],
    )
}

fn config_spec(h: u32) -> BoxedStrategy<Value> {
    (
        btree_map(key(h), config_value(h), 0..5),
        maybe(2, path(h)),
        any::<bool>(),
    )
        .prop_map(|(data, mount, env)| {
            object(vec![
                ("data", Some(json!(data))),
                ("mountPath", mount.map(Value::from)),
                ("env", Some(json!(env))),
            ])
        })
        .boxed()
}

fn secret_spec(h: u32) -> BoxedStrategy<Value> {
    let vocab = ["token", "password", "api-key", "db.url", "k1"];
    let good =
        (subsequence(vocab.to_vec(), 0..=4), vec(16i64..=64, 5)).prop_map(|(keys, lengths)| {
            keys.into_iter()
                .zip(lengths)
                .map(|(k, l)| (k.to_string(), json!(l)))
                .collect::<Vec<_>>()
        });
    let length = prop_oneof![
        16i64..=64,
        select(&[0i64, 15, 16, 4096, 4097, -1][..]),
        any::<i32>().prop_map(i64::from),
        any::<i64>(),
    ]
    .prop_map(Value::from);
    let bad = prop_oneof![
        4 => vec((key(h), length.clone()), 0..8),
        // Around the 64-key limit.
        1 => (60usize..70, length).prop_map(|(n, l)| {
            (0..n).map(|i| (format!("k{i}"), l.clone())).collect::<Vec<_>>()
        }),
    ];
    (mix(h, good, bad), maybe(2, path(h)), any::<bool>())
        .prop_map(|(generate, mount, env)| {
            let generate: Vec<Value> = generate
                .into_iter()
                .map(|(k, l)| json!({"key": k, "length": l}))
                .collect();
            object(vec![
                ("generate", Some(Value::Array(generate))),
                ("mountPath", mount.map(Value::from)),
                ("env", Some(json!(env))),
            ])
        })
        .boxed()
}

fn storage_spec(h: u32) -> BoxedStrategy<Value> {
    let class = mix(
        h,
        "[a-z]([a-z0-9-]{0,9}[a-z0-9])?",
        prop_oneof![
            Just(String::new()),
            "[A-Z _]{1,5}",
            "[a-z]{1,5}[.][a-z]{1,5}",
            any_text(20)
        ],
    );
    let mode = mix(
        h,
        prop_oneof![3 => Just("ReadWriteMany"), 1 => Just("ReadWriteOnce"), 1 => Just("ReadWriteOncePod")],
        select(
            &[
                "ReadWriteOnce",
                "ReadWriteMany",
                "ReadWriteOncePod",
                "rwx",
                "",
            ][..],
        ),
    );
    (
        quantity(h),
        maybe(2, class),
        maybe(3, mode),
        path(h),
        maybe(2, select(&["Retain", "Delete"][..])),
    )
        .prop_map(|(size, class, mode, mount, reclaim)| {
            object(vec![
                ("size", Some(json!(size))),
                ("storageClassName", class.map(Value::from)),
                ("accessMode", mode.map(Value::from)),
                ("mountPath", Some(json!(mount))),
                ("reclaimPolicy", reclaim.map(Value::from)),
            ])
        })
        .boxed()
}

fn scratch_spec(h: u32) -> BoxedStrategy<Value> {
    let medium = mix(
        h,
        select(&["", "Memory"][..]),
        select(&["", "Memory", "HugePages", "memory"][..]),
    );
    (maybe(3, quantity(h)), maybe(2, medium))
        .prop_map(|(size, medium)| {
            object(vec![
                ("sizeLimit", size.map(Value::from)),
                ("medium", medium.map(Value::from)),
            ])
        })
        .boxed()
}

fn id(h: u32, min: i64) -> BoxedStrategy<i64> {
    mix(
        h,
        min.max(1)..65536,
        prop_oneof![
            select(vec![
                -1,
                0,
                1,
                i64::from(i32::MAX),
                i64::from(i32::MAX) + 1,
                i64::MAX,
                i64::MIN
            ]),
            any::<i64>(),
        ],
    )
}

fn pod_security(h: u32) -> BoxedStrategy<Value> {
    (maybe(3, id(h, 1)), maybe(2, id(h, 0)), maybe(2, id(h, 0)))
        .prop_map(|(user, group, fs)| {
            object(vec![
                ("runAsUser", user.map(Value::from)),
                ("runAsGroup", group.map(Value::from)),
                ("fsGroup", fs.map(Value::from)),
            ])
        })
        .boxed()
}

fn image(h: u32) -> BoxedStrategy<String> {
    mix(
        h,
        "[a-z0-9]{1,10}(/[a-z0-9]{1,10}){0,2}(:[a-z0-9.]{1,8})?",
        prop_oneof![
            Just(String::new()),
            "[a-z]{1,5}[ \t\n][a-z]{1,5}",
            any_text(40),
            (4000usize..4200).prop_map(|n| "i".repeat(n)),
        ],
    )
}

fn replicas(h: u32) -> BoxedStrategy<Option<Value>> {
    mix(
        h,
        maybe(3, (0i64..=4).prop_map(Value::from)),
        prop_oneof![
            select(vec![
                -1i64,
                0,
                1,
                2,
                i64::from(i32::MAX),
                i64::from(i32::MIN)
            ])
            .prop_map(|r| Some(json!(r))),
            any::<i64>().prop_map(|r| Some(json!(r))),
            Just(Some(json!("3"))),
            Just(Some(json!(1.5))),
            Just(Some(Value::Null)),
        ],
    )
}

fn strings(h: u32) -> BoxedStrategy<Value> {
    mix(h, vec("[a-z/-]{1,10}", 0..3), vec(any_text(20), 0..200))
        .prop_map(|v| json!(v))
        .boxed()
}

/// A whole StatelessService as JSON; `h` is the percentage of hostile fields.
fn service_json(h: u32) -> BoxedStrategy<Value> {
    let meta = (name(h), maybe(2, Just("team-a")), maybe(2, Just("uid-1")));
    let head = (
        image(h),
        replicas(h),
        maybe(1, strings(h)),
        maybe(1, strings(h)),
        maybe(2, env(h)),
        maybe(2, ports(h)),
    );
    let body = (
        maybe(1, resources(h)),
        maybe(1, probe(h)),
        maybe(1, probe(h)),
        maybe(2, config_spec(h)),
        maybe(2, secret_spec(h)),
        maybe(2, storage_spec(h)),
        maybe(1, scratch_spec(h)),
        maybe(2, pod_security(h)),
        any::<bool>(),
    );
    (meta, head, body)
        .prop_map(|((name, ns, uid), head, body)| {
            let (image, replicas, command, args, env, ports) = head;
            let (resources, ready, live, config, secret, storage, scratch, security, paused) = body;
            let spec = object(vec![
                ("image", Some(json!(image))),
                ("replicas", replicas),
                ("command", command),
                ("args", args),
                ("env", env),
                ("ports", ports),
                ("resources", resources),
                ("readinessProbe", ready),
                ("livenessProbe", live),
                ("config", config),
                ("secret", secret),
                ("storage", storage),
                ("scratch", scratch),
                ("podSecurity", security),
                ("paused", Some(json!(paused))),
            ]);
            json!({
                "apiVersion": "stateless.dev/v1alpha1",
                "kind": "StatelessService",
                "metadata": object(vec![
                    ("name", name.map(Value::from)),
                    ("namespace", ns.map(Value::from)),
                    ("uid", uid.map(Value::from)),
                ]),
                "spec": spec,
            })
        })
        .boxed()
}

/// Arbitrary JSON, for breaking the types themselves.
fn arbitrary_json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any_text(20).prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map("[a-zA-Z]{0,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// The service, or None when the JSON does not deserialize (never a panic).
fn parse(value: &Value) -> Option<StatelessService> {
    serde_json::from_value(value.clone()).ok()
}

fn pretty(value: &Value) -> String {
    let text = serde_json::to_string_pretty(value).expect("JSON prints");
    // Huge config values would drown the report.
    if text.len() > 20_000 {
        let head: String = text.chars().take(20_000).collect();
        format!("{head}... ({} bytes)", text.len())
    } else {
        text
    }
}

// ---------------------------------------------------------------------------------------------
// The contract, checked on built children.
// ---------------------------------------------------------------------------------------------

fn pod(c: &Children) -> &PodSpec {
    c.deployment
        .spec
        .template
        .spec
        .as_ref()
        .expect("pod template has a spec")
}

/// Every key anywhere in a JSON tree.
fn keys(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(m) => {
            for (k, v) in m {
                out.insert(k.clone());
                keys(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

fn children_json(c: &Children) -> Vec<Value> {
    let mut out = vec![
        serde_json::to_value(&c.config_map).unwrap(),
        serde_json::to_value(&c.secret).unwrap(),
        serde_json::to_value(&c.deployment).unwrap(),
    ];
    out.extend(c.claim.iter().map(|x| serde_json::to_value(x).unwrap()));
    out.extend(
        c.disruption_budget
            .iter()
            .map(|x| serde_json::to_value(x).unwrap()),
    );
    out
}

/// Properties 2 and 3 on one build: the statelessness contract, names and label values.
fn check_contract(svc: &StatelessService, c: &Children) -> Result<(), String> {
    let spec = &svc.spec;
    let name = svc.metadata.name.as_deref().unwrap_or_default();
    let p = pod(c);
    let fail = |what: &str| Err(what.to_string());

    if p.containers.len() != 1 || p.init_containers.is_some() || p.ephemeral_containers.is_some() {
        return fail("exactly one container, no init or ephemeral containers");
    }
    let container = &p.containers[0];
    let sc = container
        .security_context
        .as_ref()
        .ok_or("container securityContext")?;
    if sc.read_only_root_filesystem != Some(true)
        || sc.allow_privilege_escalation != Some(false)
        || sc.privileged != Some(false)
        || sc.run_as_non_root != Some(true)
    {
        return fail("container securityContext is not restricted with a read-only root");
    }
    let caps = sc.capabilities.as_ref().ok_or("capabilities")?;
    if caps.drop != Some(vec!["ALL".to_string()])
        || caps.add.as_ref().is_some_and(|a| !a.is_empty())
    {
        return fail("capabilities must drop ALL and add none");
    }
    let psc = p.security_context.as_ref().ok_or("pod securityContext")?;
    if psc.run_as_non_root != Some(true)
        || psc.seccomp_profile.as_ref().map(|s| s.type_.as_str()) != Some("RuntimeDefault")
    {
        return fail("pod securityContext: runAsNonRoot and seccomp RuntimeDefault");
    }
    if p.automount_service_account_token != Some(false) {
        return fail("automountServiceAccountToken must be false");
    }
    if [p.host_network, p.host_pid, p.host_ipc]
        .iter()
        .any(|h| *h != Some(false))
    {
        return fail("hostNetwork/hostPID/hostIPC must be false");
    }

    // Volumes: only the four kinds, only those the spec asks for.
    let config_path = spec.config.as_ref().and_then(|c| c.mount_path.clone());
    let secret_path = spec.secret.as_ref().and_then(|s| s.mount_path.clone());
    let storage_path = spec.storage.as_ref().map(|s| s.mount_path.clone());
    let mut expected = BTreeSet::from(["emptyDir"]);
    if config_path.is_some() {
        expected.insert("configMap");
    }
    if secret_path.is_some() {
        expected.insert("secret");
    }
    if storage_path.is_some() {
        expected.insert("persistentVolumeClaim");
    }
    let volumes = p.volumes.clone().unwrap_or_default();
    let mut kinds = BTreeSet::new();
    let mut kind_of = BTreeMap::new();
    for v in &volumes {
        let json = serde_json::to_value(v).unwrap();
        let fields: Vec<&String> = json
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != "name")
            .collect();
        let [kind] = fields[..] else {
            return Err(format!(
                "volume {} must have exactly one source: {fields:?}",
                v.name
            ));
        };
        if !kinds.insert(kind.as_str().to_string()) {
            return Err(format!("two volumes of kind {kind}"));
        }
        kind_of.insert(v.name.clone(), kind.clone());
    }
    if kinds.iter().map(String::as_str).collect::<BTreeSet<_>>() != expected {
        return Err(format!("volume kinds {kinds:?}, expected {expected:?}"));
    }
    for v in &volumes {
        if let Some(dir) = &v.empty_dir
            && dir.size_limit.is_none()
        {
            return fail("the scratch emptyDir needs a sizeLimit");
        }
        if let Some(cm) = &v.config_map
            && cm.name != format!("{name}-config")
        {
            return fail("configMap volume names another ConfigMap");
        }
        if let Some(s) = &v.secret
            && s.secret_name.as_deref() != Some(format!("{name}-secret").as_str())
        {
            return fail("secret volume names another Secret");
        }
        if let Some(claim) = &v.persistent_volume_claim
            && (claim.claim_name != format!("{name}-data") || claim.read_only == Some(true))
        {
            return fail("claim volume must be <name>-data, writable");
        }
    }

    // Mounts: writable only at /tmp and the data path; config/secret read-only; no overlap.
    let mounts = container.volume_mounts.clone().unwrap_or_default();
    for m in &mounts {
        let kind = kind_of
            .get(&m.name)
            .ok_or(format!("mount of unknown volume {}", m.name))?;
        if m.sub_path.is_some() || m.sub_path_expr.is_some() {
            return fail("no subPath mounts");
        }
        let read_only = m.read_only == Some(true);
        let expected_path = match kind.as_str() {
            "emptyDir" => Some("/tmp".to_string()),
            "configMap" => config_path.clone(),
            "secret" => secret_path.clone(),
            _ => storage_path.clone(),
        };
        if Some(&m.mount_path) != expected_path.as_ref() {
            return Err(format!("{kind} mounted at {:?}", m.mount_path));
        }
        if !read_only && m.mount_path != "/tmp" && Some(&m.mount_path) != storage_path.as_ref() {
            return Err(format!("writable mount at {:?}", m.mount_path));
        }
        if matches!(kind.as_str(), "configMap" | "secret") && !read_only {
            return Err(format!("{kind} must be mounted read-only"));
        }
    }
    if mounts.len() != volumes.len() {
        return fail("every volume is mounted exactly once");
    }
    for (i, a) in mounts.iter().enumerate() {
        for b in &mounts[i + 1..] {
            if paths_overlap(&a.mount_path, &b.mount_path) {
                return Err(format!(
                    "mounts overlap: {:?} and {:?}",
                    a.mount_path, b.mount_path
                ));
            }
        }
    }

    // No hostPath (nor any other way to reach the node) anywhere in any child.
    let mut all_keys = BTreeSet::new();
    for child in children_json(c) {
        keys(&child, &mut all_keys);
    }
    if all_keys.contains("hostPath") {
        return fail("hostPath appears in a child");
    }

    // Names and label values.
    let label_named = [
        (&c.deployment.metadata, true),
        (&c.config_map.metadata, false),
        (&c.secret.metadata, false),
    ];
    let mut metas: Vec<_> = label_named.to_vec();
    metas.extend(c.claim.iter().map(|x| (&x.metadata, false)));
    metas.extend(c.disruption_budget.iter().map(|x| (&x.metadata, true)));
    metas.extend(
        c.deployment
            .spec
            .template
            .metadata
            .iter()
            .map(|m| (m, false)),
    );
    for (meta, is_label_named) in metas {
        if let Some(n) = &meta.name {
            let ok = if is_label_named {
                is_dns_label(n) && is_dns_subdomain(n)
            } else {
                is_dns_subdomain(n)
            };
            if !ok {
                return Err(format!("invalid child name {n:?}"));
            }
        }
        for (k, v) in meta.labels.iter().flatten() {
            if !is_label_value(v) {
                return Err(format!("invalid value {v:?} of label {k}"));
            }
        }
    }
    let selectors = [
        Some(&c.deployment.spec.selector),
        c.disruption_budget
            .as_ref()
            .and_then(|b| b.spec.as_ref()?.selector.as_ref()),
    ];
    for selector in selectors.into_iter().flatten() {
        if !selector
            .match_labels
            .iter()
            .flatten()
            .all(|(_, v)| is_label_value(v))
        {
            return fail("invalid selector label value");
        }
    }
    if c.deployment.spec.replicas != Some(spec.replicas) {
        return fail("replicas differ");
    }
    Ok(())
}

/// Builds an accepted service with a fresh deterministic generator.
fn build_fixed(svc: &StatelessService, observed: &Observed<'_>) -> Option<Children> {
    let valid = validate(svc).ok()?;
    Some(build::build(valid, observed, &mut Fixed(0)))
}

/// Runs properties 1-3 on one generated value.
fn validate_and_check(value: &Value) -> Result<(), TestCaseError> {
    let Some(svc) = parse(value) else {
        return Ok(());
    };
    let Some(children) = build_fixed(&svc, &Observed::default()) else {
        return Ok(());
    };
    check_contract(&svc, &children)
        .map_err(|e| TestCaseError::fail(format!("{e}\nspec: {}", pretty(value))))
}

// ---------------------------------------------------------------------------------------------
// Properties 1-3.
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(CASES))]

    /// 1 + 2 + 3 on hostile specs: no panic; whatever is accepted keeps the contract.
    #[test]
    fn hostile_specs_never_panic_and_accepted_ones_keep_the_contract(
        value in prop_oneof![service_json(HOSTILE), service_json(MIXED)]
    ) {
        validate_and_check(&value)?;
    }

    /// 2 + 3 on plausible specs, where most are accepted and `build` does the work.
    #[test]
    fn plausible_specs_keep_the_contract(value in service_json(PLAUSIBLE)) {
        validate_and_check(&value)?;
    }

    /// 1: arbitrary JSON anywhere in the object breaks deserialization at worst, never a panic.
    #[test]
    fn arbitrary_json_never_panics(
        value in service_json(HOSTILE),
        field in select(&["image", "replicas", "env", "ports", "resources", "readinessProbe",
            "config", "secret", "storage", "scratch", "podSecurity", "paused", "command"][..]),
        junk in arbitrary_json(),
        whole in arbitrary_json(),
    ) {
        let mut value = value;
        value["spec"][field] = junk;
        validate_and_check(&value)?;
        let _ = parse(&whole).map(|svc| validate(&svc).is_ok());
        let _ = parse(&json!({"apiVersion": "stateless.dev/v1alpha1", "kind": "StatelessService",
            "metadata": {"name": "x"}, "spec": whole}));
    }
}

proptest! {
    // Quantity parsing is microseconds per case, and its overflow edges are narrow.
    #![proptest_config(config(8 * CASES))]

    /// 1: extreme quantities in every quantity field never panic the validator.
    #[test]
    fn extreme_quantities_never_panic(q in extreme_quantity()) {
        let value = json!({"apiVersion": "stateless.dev/v1alpha1", "kind": "StatelessService",
            "metadata": {"name": "q"}, "spec": {"image": "x", "replicas": 1,
            "resources": {"limits": {"memory": q}, "requests": {"cpu": q}},
            "storage": {"size": q, "mountPath": "/data"}, "scratch": {"sizeLimit": q}}});
        validate_and_check(&value)?;
    }

    /// 3: names. validate accepts exactly the DNS labels of at most 63 characters, and then
    /// every child name and label value is valid.
    #[test]
    fn names_accepted_exactly_when_dns_labels(name in name(50)) {
        let value = json!({"apiVersion": "stateless.dev/v1alpha1", "kind": "StatelessService",
            "metadata": {"name": name}, "spec": {"image": "x",
            "storage": {"size": "1Gi", "mountPath": "/d", "accessMode": "ReadWriteMany"}}});
        let svc = parse(&value).expect("a string name deserializes");
        let expected = name.as_deref().is_some_and(is_dns_label);
        prop_assert_eq!(validate(&svc).is_ok(), expected, "name {:?}", name);
        validate_and_check(&value)?;
    }
}

/// Property 1 regression: a fraction near the i128 limit overflowed `quantity::parse` (a panic
/// in debug builds, a wrapped and wrong value in release).
#[test]
fn quantity_with_long_fraction_and_binary_suffix_does_not_overflow() {
    let q = "0.00000000000000000000100000000000000000000Ei";
    let value = json!({"apiVersion": "stateless.dev/v1alpha1", "kind": "StatelessService",
        "metadata": {"name": "q"}, "spec": {"image": "x", "scratch": {"sizeLimit": q}}});
    let svc = parse(&value).expect("deserializes");
    // 10^20 * 2^60 / 10^41 is about 0.00115, rounded up to 2m: a valid, positive size.
    assert!(validate(&svc).is_ok());
    assert_eq!(
        stateless_operator::quantity::parse(q),
        stateless_operator::quantity::parse("2m")
    );
}

fn named(name: &str) -> StatelessService {
    parse(
        &json!({"apiVersion": "stateless.dev/v1alpha1", "kind": "StatelessService",
        "metadata": {"name": name}, "spec": {"image": "x", "replicas": 2,
        "storage": {"size": "1Gi", "mountPath": "/d", "accessMode": "ReadWriteMany"}}}),
    )
    .expect("deserializes")
}

#[test]
fn a_63_character_name_is_accepted_and_every_child_name_is_valid() {
    let name = "a".repeat(63);
    let svc = named(&name);
    let c = build_fixed(&svc, &Observed::default()).expect("63 characters is valid");
    check_contract(&svc, &c).unwrap();
    assert_eq!(c.deployment.metadata.name.as_deref(), Some(name.as_str()));
    assert_eq!(c.secret.metadata.name.as_ref().unwrap().len(), 70);
}

#[test]
fn a_64_character_name_is_rejected() {
    let errors = validate(&named(&"a".repeat(64))).unwrap_err();
    assert!(
        errors.iter().any(|e| e.path == "metadata.name"),
        "{errors:?}"
    );
}

#[test]
fn a_253_character_name_is_rejected() {
    // Valid as a ConfigMap name, but not as a label value or Deployment name.
    let name = "a".repeat(253);
    assert!(is_dns_subdomain(&name) && !is_dns_label(&name));
    let errors = validate(&named(&name)).unwrap_err();
    assert!(
        errors.iter().any(|e| e.path == "metadata.name"),
        "{errors:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Properties 4 and 5.
// ---------------------------------------------------------------------------------------------

fn config_hash(c: &Children) -> String {
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

/// Secret data as another tool (or an earlier build) may have left it.
fn live_secret() -> BoxedStrategy<BTreeMap<String, ByteString>> {
    btree_map(
        select(&["token", "password", "api-key", "db.url", "k1", "foreign"][..])
            .prop_map(String::from),
        vec(any::<u8>(), 0..40).prop_map(ByteString),
        0..5,
    )
    .boxed()
}

proptest! {
    #![proptest_config(config(CASES))]

    /// 4: the same input and generator give byte-identical children.
    #[test]
    fn build_is_deterministic(value in service_json(PLAUSIBLE), live in live_secret()) {
        let Some(svc) = parse(&value) else { return Ok(()) };
        let keys = live.keys().cloned().collect::<Vec<_>>().join(",");
        let observed = Observed { secret_data: Some(&live), generated_keys: Some(&keys), ..Observed::default() };
        let (Some(a), Some(b)) = (build_fixed(&svc, &observed), build_fixed(&svc, &observed)) else {
            return Ok(());
        };
        prop_assert_eq!(children_json(&a), children_json(&b), "spec: {}", pretty(&value));
    }

    /// 4: changing any config value, desired or live (a key another tool added), changes the
    /// config hash.
    #[test]
    fn config_hash_follows_every_config_value(
        value in service_json(PLAUSIBLE),
        pick in any::<prop::sample::Index>(),
        new_value in "[ -~]{0,20}",
        live_config in btree_map("[a-z]{1,3}", "[a-z]{0,3}", 1..4),
        live_pick in any::<prop::sample::Index>(),
    ) {
        let Some(svc) = parse(&value) else { return Ok(()) };
        let Some(base) = build_fixed(&svc, &Observed::default()) else { return Ok(()) };
        let data = svc.spec.config.as_ref().map(|c| c.data.clone()).unwrap_or_default();
        if !data.is_empty() {
            let (k, old) = data.iter().nth(pick.index(data.len())).unwrap();
            let new = if *old == new_value { format!("{new_value}!") } else { new_value.clone() };
            let mut changed = svc.clone();
            changed.spec.config.as_mut().unwrap().data.insert(k.clone(), new.clone());
            if let Some(c) = build_fixed(&changed, &Observed::default()) {
                prop_assert_ne!(config_hash(&base), config_hash(&c),
                    "{}: {:?} -> {:?}; spec: {}", k, old, new, pretty(&value));
            }
        }
        // A live-only key: changing its value changes the hash too.
        let live_only: BTreeMap<String, String> =
            live_config.into_iter().filter(|(k, _)| !data.contains_key(k)).collect();
        if !live_only.is_empty() {
            let with_live = build_fixed(&svc, &Observed { config_data: Some(&live_only), ..Observed::default() }).unwrap();
            let mut changed = live_only.clone();
            let (k, v) = live_only.iter().nth(live_pick.index(live_only.len())).unwrap();
            changed.insert(k.clone(), format!("{v}x"));
            let with_changed = build_fixed(&svc, &Observed { config_data: Some(&changed), ..Observed::default() }).unwrap();
            prop_assert_ne!(config_hash(&with_live), config_hash(&with_changed), "live key {}", k);
        }
    }

    /// 5: a generated key whose value the live Secret already holds keeps that value, byte for
    /// byte, whatever the generator would say; new keys get fresh values of their length.
    #[test]
    fn live_secret_values_are_never_replaced(
        value in service_json(PLAUSIBLE),
        live in live_secret(),
        annotated in subsequence(&["token", "password", "api-key", "db.url", "k1", "foreign"][..], 0..=6),
        seed in any::<usize>(),
    ) {
        let Some(svc) = parse(&value) else { return Ok(()) };
        let Ok(valid) = validate(&svc) else { return Ok(()) };
        let keys = annotated.join(",");
        let observed = Observed { secret_data: Some(&live), generated_keys: Some(&keys), ..Observed::default() };
        let c = build::build(valid, &observed, &mut Fixed(seed % 1000));
        let data = c.secret.data.clone().unwrap_or_default();
        for generated in svc.spec.secret.iter().flat_map(|s| &s.generate) {
            let got = data.get(&generated.key);
            match live.get(&generated.key) {
                Some(old) => prop_assert_eq!(got, Some(old), "key {} replaced; spec: {}", generated.key, pretty(&value)),
                None => prop_assert_eq!(got.map(|v| v.0.len()), Some(generated.length as usize), "key {}", generated.key),
            }
        }
        // Values generated earlier (annotated) are kept even when their key left the spec.
        for key in &annotated {
            if let Some(old) = live.get(*key) {
                prop_assert_eq!(data.get(*key), Some(old), "annotated key {} lost", key);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Property 6: field-by-field agreement with the oracles.
// ---------------------------------------------------------------------------------------------

/// The error paths the oracles predict for a service. Fields without an oracle (quantities,
/// resources) are left to `unchecked`.
fn predicted_errors(svc: &StatelessService) -> BTreeSet<String> {
    let spec = &svc.spec;
    let mut out = BTreeSet::new();
    let mut expect = |cond: bool, path: String| {
        if cond {
            out.insert(path);
        }
    };
    let name = svc.metadata.name.as_deref().unwrap_or_default();
    expect(!is_dns_label(name), "metadata.name".into());
    expect(
        spec.image.is_empty()
            || spec.image.chars().any(char::is_whitespace)
            || spec.image.chars().count() > 4096,
        "spec.image".into(),
    );
    // The schema's list bounds.
    for (path, len, max) in [
        ("spec.command", spec.command.as_ref().map(Vec::len), 1024),
        ("spec.args", spec.args.as_ref().map(Vec::len), 1024),
        ("spec.env", spec.env.as_ref().map(Vec::len), 256),
        ("spec.ports", spec.ports.as_ref().map(Vec::len), 64),
    ] {
        expect(len.is_some_and(|n| n > max), path.into());
    }
    expect(spec.replicas < 0, "spec.replicas".into());

    let env: Vec<&str> = spec.env.iter().flatten().map(|v| v.name.as_str()).collect();
    for (i, n) in env.iter().enumerate() {
        expect(
            !is_env_name(n) || env[..i].contains(n) || n.chars().count() > 253,
            format!("spec.env[{i}].name"),
        );
    }
    let ports: Vec<_> = spec.ports.iter().flatten().collect();
    for (i, p) in ports.iter().enumerate() {
        let earlier = &ports[..i];
        expect(
            !is_port_name(&p.name) || earlier.iter().any(|e| e.name == p.name),
            format!("spec.ports[{i}].name"),
        );
        expect(
            !(1..=65535).contains(&p.container_port)
                || earlier
                    .iter()
                    .any(|e| (e.container_port, e.protocol) == (p.container_port, p.protocol)),
            format!("spec.ports[{i}].containerPort"),
        );
    }
    for (path, probe) in [
        ("spec.readinessProbe", &spec.readiness_probe),
        ("spec.livenessProbe", &spec.liveness_probe),
    ] {
        if let Some(p) = probe {
            let n = usize::from(p.exec.is_some())
                + usize::from(p.http_get.is_some())
                + usize::from(p.tcp_socket.is_some())
                + usize::from(p.grpc.is_some());
            expect(n != 1, path.into());
            let command = p.exec.as_ref().and_then(|e| e.command.as_ref());
            expect(
                command.is_some_and(|c| c.len() > 1024),
                format!("{path}.exec.command"),
            );
            let headers = p.http_get.as_ref().and_then(|h| h.http_headers.as_ref());
            expect(
                headers.is_some_and(|h| h.len() > 32),
                format!("{path}.httpGet.httpHeaders"),
            );
        }
    }

    let config_path = spec.config.as_ref().and_then(|c| c.mount_path.as_deref());
    let secret_path = spec.secret.as_ref().and_then(|s| s.mount_path.as_deref());
    let storage_path = spec.storage.as_ref().map(|s| s.mount_path.as_str());
    // An overlap is predicted between valid paths only: an invalid one (`/`, `/a/`) is already
    // reported on its own, and validate's string comparison need not see through it.
    let overlap = |a: Option<&str>, b: Option<&str>| matches!((a, b), (Some(a), Some(b)) if is_mount_path(a) && is_mount_path(b) && paths_overlap(a, b));
    if let Some(config) = &spec.config {
        let mut bytes = 0;
        for (k, v) in &config.data {
            expect(!is_data_key(k), format!("spec.config.data[{k}]"));
            bytes += k.len() + v.len();
        }
        expect(
            bytes > 1024 * 1024 - 16 * 1024 || config.data.len() > 1024,
            "spec.config.data".into(),
        );
        expect(
            config_path.is_some_and(|p| !is_mount_path(p)),
            "spec.config.mountPath".into(),
        );
    }
    if let Some(secret) = &spec.secret {
        expect(secret.generate.len() > 64, "spec.secret.generate".into());
        let keys: Vec<&str> = secret.generate.iter().map(|g| g.key.as_str()).collect();
        for (i, g) in secret.generate.iter().enumerate() {
            expect(
                !is_data_key(&g.key) || keys[..i].contains(&g.key.as_str()),
                format!("spec.secret.generate[{i}].key"),
            );
            expect(
                !(16..=4096).contains(&g.length),
                format!("spec.secret.generate[{i}].length"),
            );
        }
        expect(
            secret_path.is_some_and(|p| !is_mount_path(p)) || overlap(config_path, secret_path),
            "spec.secret.mountPath".into(),
        );
    }
    if let Some(storage) = &spec.storage {
        expect(
            storage
                .storage_class_name
                .as_deref()
                .is_some_and(|c| !is_dns_subdomain(c)),
            "spec.storage.storageClassName".into(),
        );
        expect(
            !is_mount_path(&storage.mount_path)
                || overlap(config_path, storage_path)
                || overlap(secret_path, storage_path),
            "spec.storage.mountPath".into(),
        );
        expect(
            spec.replicas > 1 && storage.access_mode.as_str() != "ReadWriteMany",
            "spec.storage.accessMode".into(),
        );
    }
    if let Some(security) = &spec.pod_security {
        expect(
            security.run_as_user.is_some_and(|u| u == 0 || !is_id(u)),
            "spec.podSecurity.runAsUser".into(),
        );
        expect(
            security.run_as_group.is_some_and(|g| !is_id(g)),
            "spec.podSecurity.runAsGroup".into(),
        );
        expect(
            security.fs_group.is_some_and(|g| !is_id(g)),
            "spec.podSecurity.fsGroup".into(),
        );
    }
    out
}

/// Overlap errors blamed on a valid path because its partner is not a path at all: validate
/// (like the CRD's CEL rules, which it mirrors) compares strings, so `""` "overlaps" everything.
/// The spec is rejected either way (the invalid path has its own error), so either answer is
/// fine there.
fn overlap_dont_care(spec: &stateless_operator::crd::StatelessServiceSpec) -> Vec<&'static str> {
    let invalid = |p: Option<&str>| p.is_some_and(|p| !is_mount_path(p));
    let config = invalid(spec.config.as_ref().and_then(|c| c.mount_path.as_deref()));
    let secret = invalid(spec.secret.as_ref().and_then(|s| s.mount_path.as_deref()));
    let mut out = Vec::new();
    if config {
        out.push("spec.secret.mountPath");
    }
    if config || secret {
        out.push("spec.storage.mountPath");
    }
    out
}

/// Error paths no oracle covers: quantities and resources.
fn unchecked(path: &str) -> bool {
    path == "spec.storage.size"
        || path == "spec.scratch.sizeLimit"
        || path.starts_with("spec.resources.")
}

fn check_oracles(value: &Value) -> Result<(), TestCaseError> {
    let Some(svc) = parse(value) else {
        return Ok(());
    };
    let actual: BTreeSet<String> = match validate(&svc) {
        Ok(_) => BTreeSet::new(),
        Err(errors) => errors
            .into_iter()
            .map(|e| e.path)
            .filter(|p| !unchecked(p))
            .collect(),
    };
    let mut predicted = predicted_errors(&svc);
    let mut actual = actual;
    for path in overlap_dont_care(&svc.spec) {
        predicted.remove(path);
        actual.remove(path);
    }
    prop_assert_eq!(
        &actual,
        &predicted,
        "validate reported {:?}, the oracles predict {:?}\nspec: {}",
        actual.difference(&predicted).collect::<Vec<_>>(),
        predicted.difference(&actual).collect::<Vec<_>>(),
        pretty(value)
    );
    Ok(())
}

proptest! {
    #![proptest_config(config(CASES))]

    /// 6 on hostile specs: every field with an oracle is rejected exactly when the oracle says.
    #[test]
    fn validate_agrees_with_the_oracles_on_hostile_specs(
        value in prop_oneof![service_json(HOSTILE), service_json(MIXED)]
    ) {
        check_oracles(&value)?;
    }

    /// 6 on plausible specs, where the accept side of each oracle is exercised.
    #[test]
    fn validate_agrees_with_the_oracles_on_plausible_specs(value in service_json(PLAUSIBLE)) {
        check_oracles(&value)?;
    }
}

/// Guards against vacuous properties: the plausible generator must mostly produce accepted
/// specs (or `build` is barely exercised), the hostile one mostly rejected ones.
#[test]
fn generators_cover_both_sides() {
    let mut runner = TestRunner::deterministic();
    let mut share = |h: u32| {
        let strategy = service_json(h);
        let accepted = (0..200)
            .filter(|_| {
                let value = strategy.new_tree(&mut runner).unwrap().current();
                parse(&value).is_some_and(|s| validate(&s).is_ok())
            })
            .count();
        accepted as f64 / 200.0
    };
    let (plausible, mixed, hostile) = (share(PLAUSIBLE), share(MIXED), share(HOSTILE));
    assert!(plausible > 0.3, "plausible specs accepted: {plausible}");
    assert!(mixed > 0.05, "mixed specs accepted: {mixed}");
    assert!(hostile < 0.2, "hostile specs accepted: {hostile}");
}
