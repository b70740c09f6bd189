use k8s_openapi::ByteString;
use serde_json::json;

use super::*;

fn key(kind: RefKind, name: &str) -> RefKey {
    RefKey {
        kind,
        namespace: "ns".to_string(),
        name: name.to_string(),
    }
}

fn spec(v: serde_json::Value) -> StatelessServiceSpec {
    serde_json::from_value(v).unwrap()
}

fn apply(name: &str, rv: &str, listed: bool) -> WatchEvent {
    WatchEvent::Apply {
        namespace: "ns".to_string(),
        name: name.to_string(),
        resource_version: rv.to_string(),
        listed,
    }
}

fn referencing(names: &[&str]) -> StatelessServiceSpec {
    let from: Vec<_> = names
        .iter()
        .map(|n| json!({"name": n, "env": true}))
        .collect();
    spec(json!({"image": "x", "config": {"from": from}}))
}

#[test]
fn references_are_listed_in_spec_order() {
    let s = spec(json!({"image": "x",
        "config": {"from": [{"name": "a", "env": true}]},
        "secret": {"from": [{"name": "b", "env": true}, {"name": "c", "env": true}]}}));
    assert_eq!(
        references("ns", &s),
        [
            key(RefKind::ConfigMap, "a"),
            key(RefKind::Secret, "b"),
            key(RefKind::Secret, "c")
        ]
    );
}

#[test]
fn the_index_follows_services_and_drops_what_nobody_references() {
    let mut index = Index::default();
    assert!(
        index
            .set("ns", "web", vec![key(RefKind::ConfigMap, "a")])
            .is_empty()
    );
    assert!(
        index
            .set("ns", "api", vec![key(RefKind::ConfigMap, "a")])
            .is_empty()
    );
    assert_eq!(
        index.services(&key(RefKind::ConfigMap, "a")),
        [
            ("ns".to_string(), "api".to_string()),
            ("ns".to_string(), "web".to_string())
        ]
    );
    assert!(
        index
            .set("ns", "web", vec![key(RefKind::Secret, "s")])
            .is_empty(),
        "api still uses a"
    );
    assert_eq!(index.remove("ns", "api"), [key(RefKind::ConfigMap, "a")]);
    assert!(!index.contains(&key(RefKind::ConfigMap, "a")));
    assert_eq!(index.set("ns", "web", vec![]), [key(RefKind::Secret, "s")]);
    assert_eq!(index.tracked_services().count(), 0);
}

#[test]
fn a_record_is_current_only_while_the_watch_reports_the_version_read() {
    let found = |rv: &str| Read::Found {
        resource_version: rv.to_string(),
        digest: [1; 32],
    };
    let mut known = Known::default();
    assert!(known.current().is_none(), "never read");
    known.record(found("5"));
    assert_eq!(
        known.current(),
        Some(&found("5")),
        "the read stands for the watch"
    );
    known.seen = Some(Seen::Present("6".into()));
    assert!(known.current().is_none(), "a newer version: read again");
    known.record(found("5"));
    assert!(
        known.current().is_none(),
        "an older read does not override the watch"
    );
    known.record(found("6"));
    assert!(known.current().is_some());
    known.seen = Some(Seen::Absent);
    assert!(known.current().is_none());
    known.record(Read::Missing);
    assert_eq!(known.current(), Some(&Read::Missing));
}

#[test]
fn events_on_unreferenced_objects_are_dropped_without_a_trace() {
    let refs = References::new();
    refs.track_service("ns", "web", Some(&referencing(&["shared"])));
    for i in 0..1000 {
        assert!(
            refs.on_event(RefKind::ConfigMap, apply(&format!("other-{i}"), "1", false))
                .is_empty()
        );
    }
    assert!(
        refs.on_event(RefKind::Secret, apply("shared", "1", false))
            .is_empty(),
        "another kind"
    );
    assert_eq!(refs.known_count(), 0);
    assert_eq!(
        refs.on_event(RefKind::ConfigMap, apply("shared", "1", false)),
        [("ns".to_string(), "web".to_string())]
    );
    assert_eq!(refs.known_count(), 1);
    assert!(
        refs.on_event(RefKind::ConfigMap, apply("shared", "1", false))
            .is_empty(),
        "no change"
    );
    refs.track_service("ns", "web", None);
    assert_eq!(
        refs.known_count(),
        0,
        "the record goes with the last reference"
    );
}

#[test]
fn a_relist_marks_what_it_did_not_list_as_deleted() {
    let refs = References::new();
    refs.track_service("ns", "web", Some(&referencing(&["kept", "gone"])));
    refs.on_event(RefKind::ConfigMap, apply("kept", "1", false));
    refs.on_event(RefKind::ConfigMap, apply("gone", "1", false));
    assert!(
        refs.on_event(RefKind::ConfigMap, WatchEvent::Init)
            .is_empty()
    );
    assert!(
        refs.on_event(RefKind::ConfigMap, apply("kept", "1", true))
            .is_empty()
    );
    assert_eq!(
        refs.on_event(RefKind::ConfigMap, WatchEvent::InitDone),
        [("ns".to_string(), "web".to_string())]
    );
    let state = refs.with(|s| s.known.get(&key(RefKind::ConfigMap, "gone")).cloned());
    assert_eq!(state.and_then(|k| k.seen), Some(Seen::Absent));
    let deleted = WatchEvent::Delete {
        namespace: "ns".into(),
        name: "kept".into(),
    };
    assert_eq!(refs.on_event(RefKind::ConfigMap, deleted).len(), 1);
}

#[test]
fn a_list_does_not_judge_what_it_may_have_passed_before_it_was_referenced() {
    // The first list reports `shared` before the services' watch has put the service in the
    // index; a reconcile then reads it. The end of the list must not mark it absent, or every
    // re-sync would read it again.
    let refs = References::new();
    refs.on_event(RefKind::ConfigMap, WatchEvent::Init);
    refs.on_event(RefKind::ConfigMap, apply("shared", "7", true));
    refs.track_service("ns", "web", Some(&referencing(&["shared"])));
    refs.with(|s| {
        s.known
            .entry(key(RefKind::ConfigMap, "shared"))
            .or_default()
            .record(Read::Found {
                resource_version: "7".into(),
                digest: [0; 32],
            })
    });
    assert!(
        refs.on_event(RefKind::ConfigMap, WatchEvent::InitDone)
            .is_empty()
    );
    let known = refs.with(|s| s.known.get(&key(RefKind::ConfigMap, "shared")).cloned());
    assert!(
        known.is_some_and(|k| k.current().is_some()),
        "no read needed"
    );
}

#[test]
fn services_missing_from_a_relist_are_forgotten() {
    let refs = References::new();
    refs.track_service("ns", "web", Some(&referencing(&["a"])));
    refs.track_service("ns", "api", Some(&referencing(&["b"])));
    refs.on_event(RefKind::ConfigMap, apply("a", "1", false));
    refs.services_listing(true);
    refs.track_service("ns", "api", Some(&referencing(&["b"])));
    refs.services_listing(false);
    assert!(
        refs.on_event(RefKind::ConfigMap, apply("a", "2", false))
            .is_empty(),
        "web is gone"
    );
    assert_eq!(
        refs.on_event(RefKind::ConfigMap, apply("b", "2", false))
            .len(),
        1
    );
}

#[test]
fn digests_follow_the_data_and_nothing_else() {
    let refs = References::new();
    let cm = |data: serde_json::Value, labels: serde_json::Value| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": "x", "labels": labels, "resourceVersion": "9"}, "data": data})).unwrap()
    };
    let a = refs.config_map_digest(&cm(json!({"k": "v"}), json!({})));
    assert_eq!(
        a,
        refs.config_map_digest(&cm(json!({"k": "v"}), json!({"l": "1"})))
    );
    assert_ne!(a, refs.config_map_digest(&cm(json!({"k": "w"}), json!({}))));
    assert_ne!(a, refs.config_map_digest(&cm(json!({"kv": ""}), json!({}))));
    let secret = |v: &[u8]| Secret {
        data: Some(BTreeMap::from([("k".to_string(), ByteString(v.to_vec()))])),
        ..Secret::default()
    };
    assert_ne!(
        refs.secret_digest(&secret(b"1")),
        refs.secret_digest(&secret(b"2"))
    );
    assert_eq!(
        refs.secret_digest(&secret(b"1")),
        References::new().secret_digest(&secret(b"1")),
        "the same in every process: a restarted operator rolls no pod"
    );
}

#[test]
fn a_missing_reference_is_not_ready_and_names_the_object() {
    use crate::crd::conditions::{READY, RECONCILING, STALLED};
    use crate::status::{self, Outcome};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    let message = "ConfigMap ns/x referenced by config.from does not exist";
    let now = Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
    let compute = |previous, message: &str| {
        status::compute(&status::Inputs {
            generation: Some(1),
            previous,
            now: now.clone(),
            desired_replicas: 1,
            reported_desired: 1,
            label_selector: "stateless.dev/service=x".to_string(),
            deployment: None,
            claim_name: None,
            claim: None,
            config_hash: None,
            outcome: Outcome::ReferenceMissing(message.to_string()),
        })
    };
    let both = format!("{message}; Secret ns/y referenced by secret.from does not exist");
    let first = compute(None, &both);
    let new = compute(Some(&first), message);
    // Which objects are missing is written at once, not held back as progress detail.
    assert!(status::worth_writing(Some(&first), &new, &now));
    let get = |t: &str| new.conditions.iter().find(|c| c.type_ == t).unwrap();
    assert_eq!(
        (
            get(READY).status.as_str(),
            get(READY).reason.as_str(),
            get(READY).message.as_str()
        ),
        ("False", "ReferenceMissing", message)
    );
    assert_eq!(get(RECONCILING).status, "True", "it converges by itself");
    assert_eq!(get(STALLED).status, "False");
}
