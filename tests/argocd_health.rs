//! Runs the Argo CD health check (examples/gitops/argocd/health.lua) against the fixtures in testdata/ with Lua 5.4.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use mlua::{Lua, LuaOptions, StdLib, Table, Value as LuaValue};
use serde::Deserialize;
use serde_json::Value;

fn argocd_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/gitops/argocd")
}

fn health_script() -> String {
    fs::read_to_string(argocd_dir().join("health.lua")).expect("read health.lua")
}

/// How JSON numbers reach Lua: Argo CD's gopher-lua (Lua 5.1) only has floats, Lua 5.4 has integers.
#[derive(Clone, Copy, Debug)]
enum Numbers {
    Integers,
    Floats,
}

/// JSON -> Lua the way Argo CD hands objects to the script: objects and arrays become tables
/// (arrays 1-based), null becomes nil (the key is absent).
fn to_lua(lua: &Lua, v: &Value, numbers: Numbers) -> mlua::Result<LuaValue> {
    Ok(match v {
        Value::Null => LuaValue::Nil,
        Value::Bool(b) => LuaValue::Boolean(*b),
        Value::Number(n) => match (numbers, n.as_i64()) {
            (Numbers::Integers, Some(i)) => LuaValue::Integer(i),
            _ => LuaValue::Number(n.as_f64().expect("finite number")),
        },
        Value::String(s) => LuaValue::String(lua.create_string(s)?),
        Value::Array(items) => {
            let t = lua.create_table()?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, item, numbers)?)?;
            }
            LuaValue::Table(t)
        }
        Value::Object(map) => {
            let t = lua.create_table()?;
            for (k, item) in map {
                t.raw_set(k.as_str(), to_lua(lua, item, numbers)?)?;
            }
            LuaValue::Table(t)
        }
    })
}

/// Evaluates the script with `obj` set, as Argo CD does; returns (status, message).
fn health(script: &str, obj: &Value, numbers: Numbers) -> (String, String) {
    // Only the libraries Argo CD's sandbox offers too, so the script cannot come to rely on io/os.
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH,
        LuaOptions::default(),
    )
    .expect("create Lua state");
    lua.globals()
        .set("obj", to_lua(&lua, obj, numbers).expect("convert fixture"))
        .expect("set obj");
    let hs: Table = lua
        .load(script)
        .set_name("health.lua")
        .eval()
        .unwrap_or_else(|e| panic!("health.lua failed: {e}"));
    (
        hs.get("status").expect("hs.status is a string"),
        hs.get("message").expect("hs.message is a string"),
    )
}

fn fixture(name: &str) -> Value {
    let path = argocd_dir().join("testdata").join(name);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    Value::deserialize(serde_yaml_ng::Deserializer::from_str(&text)).expect("fixture is YAML")
}

/// Every fixture with the health Argo CD must show for it.
const CASES: &[(&str, &str, &str)] = &[
    (
        "no-status.yaml",
        "Progressing",
        "Waiting for the operator to observe generation 1",
    ),
    (
        "observed-generation-missing.yaml",
        "Progressing",
        "Waiting for the operator to observe generation 1",
    ),
    (
        "observed-generation-stale.yaml",
        "Progressing",
        "Waiting for the operator to observe generation 3 (last observed 2)",
    ),
    (
        "paused-spec.yaml",
        "Suspended",
        "Reconciliation paused by spec.paused",
    ),
    (
        "paused-spec-no-condition.yaml",
        "Suspended",
        "Reconciliation is paused (spec.paused: true)",
    ),
    (
        "paused-condition.yaml",
        "Suspended",
        "Paused by the operator",
    ),
    (
        "stalled.yaml",
        "Degraded",
        "ConfigMap web-config is owned by another controller",
    ),
    (
        "stalled-no-message.yaml",
        "Degraded",
        "Stalled: InvalidSpec",
    ),
    (
        "ready.yaml",
        "Healthy",
        "Deployment web is available (2/2 replicas)",
    ),
    (
        "reconciling.yaml",
        "Progressing",
        "Waiting for Deployment web to roll out",
    ),
    ("not-ready.yaml", "Progressing", "0/2 replicas available"),
    (
        "stale-ready-condition.yaml",
        "Progressing",
        "Ready condition is from generation 5; waiting for an update",
    ),
    (
        "no-conditions.yaml",
        "Progressing",
        "Waiting for the Ready condition",
    ),
];

#[test]
fn every_fixture_gets_the_expected_health() {
    let script = health_script();
    for numbers in [Numbers::Integers, Numbers::Floats] {
        for (file, status, message) in CASES {
            let got = health(&script, &fixture(file), numbers);
            assert_eq!(
                (got.0.as_str(), got.1.as_str()),
                (*status, *message),
                "{file} with {numbers:?}"
            );
        }
    }
}

#[test]
fn every_fixture_is_covered_and_every_status_is_reached() {
    let on_disk: BTreeSet<String> = fs::read_dir(argocd_dir().join("testdata"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let listed: BTreeSet<String> = CASES.iter().map(|c| c.0.to_owned()).collect();
    assert_eq!(on_disk, listed, "fixtures on disk and CASES differ");
    let statuses: BTreeSet<&str> = CASES.iter().map(|c| c.1).collect();
    assert_eq!(
        statuses,
        BTreeSet::from(["Degraded", "Healthy", "Progressing", "Suspended"])
    );
}

#[test]
fn object_without_generation_still_gets_a_message() {
    let obj = serde_json::json!({"apiVersion": "stateless.dev/v1alpha1", "kind": "StatelessService", "metadata": {"name": "x"}});
    assert_eq!(
        health(&health_script(), &obj, Numbers::Integers),
        (
            "Progressing".into(),
            "Waiting for the operator to report status".into()
        )
    );
}

#[test]
fn argocd_cm_snippet_embeds_the_same_script() {
    let text = fs::read_to_string(argocd_dir().join("argocd-cm.yaml")).unwrap();
    let cm = Value::deserialize(serde_yaml_ng::Deserializer::from_str(&text)).unwrap();
    assert_eq!(cm["kind"], "ConfigMap");
    assert_eq!(cm["metadata"]["name"], "argocd-cm");
    let embedded = cm["data"]["resource.customizations.health.stateless.dev_StatelessService"]
        .as_str()
        .expect("health customization key for group stateless.dev, kind StatelessService");
    assert_eq!(
        embedded,
        health_script(),
        "argocd-cm.yaml and health.lua have drifted apart"
    );
}
