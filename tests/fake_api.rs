//! Self-tests of the fake Kubernetes API server, driven through a real `kube::Client`,
//! `kube::Api<K>` and `kube::runtime::watcher`, as the operator's tests will use it.
mod support;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolumeClaim};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, ObjectList, Patch, PatchParams,
    PostParams, WatchEvent, WatchParams,
};
use kube::core::Status;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use std::time::Duration;
use support::fake_api::*;

const DEADLINE: Duration = Duration::from_secs(10);

fn cms(c: &Client) -> Api<ConfigMap> {
    Api::namespaced(c.clone(), "default")
}

fn deploys(c: &Client) -> Api<Deployment> {
    Api::namespaced(c.clone(), "default")
}

fn cm(name: &str, labels: Value) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels},
        "data": {"k": "v"},
    }))
    .unwrap()
}

fn deployment(name: &str, replicas: i32, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "app", "image": image,
                    "ports": [{"containerPort": 8080}],
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                }]},
            },
        },
    })
}

fn api_err(r: Result<impl std::fmt::Debug, kube::Error>) -> Box<Status> {
    match r {
        Err(kube::Error::Api(s)) => s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn is_transport_err<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> bool {
    matches!(r, Err(e) if !matches!(e, kube::Error::Api(_)))
}

fn names(list: &ObjectList<ConfigMap>) -> Vec<String> {
    let mut n: Vec<String> = list.items.iter().map(|c| c.name_any()).collect();
    n.sort();
    n
}

fn apply_params(manager: &str) -> PatchParams {
    PatchParams::apply(manager)
}

fn crd_kind() -> KindInfo {
    KindInfo::new(
        "stateless.dev",
        "v1alpha1",
        "StatelessService",
        "statelessservices",
    )
    .with_status()
}

fn crd_api(c: &Client) -> Api<DynamicObject> {
    let ar = ApiResource {
        group: "stateless.dev".into(),
        version: "v1alpha1".into(),
        api_version: "stateless.dev/v1alpha1".into(),
        kind: "StatelessService".into(),
        plural: "statelessservices".into(),
    };
    Api::namespaced_with(c.clone(), "default", &ar)
}

/// Next watch event within the deadline (panics if the stream stalls).
async fn next_event<S, K>(s: &mut S) -> WatchEvent<K>
where
    S: futures::Stream<Item = kube::Result<WatchEvent<K>>> + Unpin,
{
    tokio::time::timeout(DEADLINE, s.next())
        .await
        .expect("watch event before the deadline")
        .expect("stream still open")
        .expect("event ok")
}

/// Next non-bookmark event.
async fn next_change<S, K>(s: &mut S) -> WatchEvent<K>
where
    S: futures::Stream<Item = kube::Result<WatchEvent<K>>> + Unpin,
{
    loop {
        match next_event(s).await {
            WatchEvent::Bookmark(_) => continue,
            e => return e,
        }
    }
}

fn ev_desc<K: ResourceExt>(e: &WatchEvent<K>) -> String {
    match e {
        WatchEvent::Added(o) => format!("ADDED {}", o.name_any()),
        WatchEvent::Modified(o) => format!("MODIFIED {}", o.name_any()),
        WatchEvent::Deleted(o) => format!("DELETED {}", o.name_any()),
        WatchEvent::Bookmark(_) => "BOOKMARK".into(),
        WatchEvent::Error(s) => format!("ERROR {}", s.code),
    }
}

// ------------------------------------------------------------------ 1. routing, discovery

#[tokio::test]
async fn discovery_and_routing() {
    let api = FakeApi::new();
    api.register(crd_kind());
    let c = api.client();

    let core = c.list_core_api_versions().await.unwrap();
    assert_eq!(core.versions, vec!["v1".to_string()]);
    let groups = c.list_api_groups().await.unwrap();
    let gnames: Vec<_> = groups.groups.iter().map(|g| g.name.clone()).collect();
    for g in [
        "apps",
        "policy",
        "coordination.k8s.io",
        "events.k8s.io",
        "stateless.dev",
    ] {
        assert!(gnames.contains(&g.to_string()), "{g} in {gnames:?}");
    }
    let apps = c.list_api_group_resources("apps/v1").await.unwrap();
    let rs: Vec<_> = apps.resources.iter().map(|r| r.name.clone()).collect();
    assert!(rs.contains(&"deployments".into()) && rs.contains(&"deployments/status".into()));
    let v1 = c.list_core_api_resources("v1").await.unwrap();
    assert!(
        v1.resources
            .iter()
            .any(|r| r.name == "configmaps" && r.namespaced)
    );
    assert!(
        v1.resources
            .iter()
            .any(|r| r.name == "namespaces" && !r.namespaced)
    );
    let d = kube::Discovery::new(c.clone())
        .run_aggregated()
        .await
        .unwrap();
    assert!(d.has_group("apps") && d.has_group("stateless.dev"));
    let d = kube::Discovery::new(c.clone()).run().await.unwrap();
    assert!(d.has_group("policy"));

    // Unknown kind and missing object: 404 with a Status body.
    let unknown = ApiResource {
        group: "nope.dev".into(),
        version: "v1".into(),
        api_version: "nope.dev/v1".into(),
        kind: "Nope".into(),
        plural: "nopes".into(),
    };
    let e = api_err(
        Api::<DynamicObject>::namespaced_with(c.clone(), "default", &unknown)
            .list(&ListParams::default())
            .await,
    );
    assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));
    let e = api_err(cms(&c).get("missing").await);
    assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));
    assert_eq!(e.message, "configmaps \"missing\" not found");
    assert!(cms(&c).get_opt("missing").await.unwrap().is_none());

    // Namespaced, all-namespaces and cluster-scoped paths.
    for ns in ["a", "b"] {
        Api::<ConfigMap>::namespaced(c.clone(), ns)
            .create(&PostParams::default(), &cm("x", json!({})))
            .await
            .unwrap();
    }
    assert_eq!(
        Api::<ConfigMap>::all(c.clone())
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    assert_eq!(
        Api::<ConfigMap>::namespaced(c.clone(), "a")
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let nss: Api<Namespace> = Api::all(c.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "team"}})).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(nss.get("team").await.unwrap().name_any(), "team");

    // Status subresource.
    deploys(&c)
        .create(
            &PostParams::default(),
            &serde_json::from_value(deployment("web", 1, "nginx:1")).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        deploys(&c).get_status("web").await.unwrap().name_any(),
        "web"
    );
    let e = api_err(cms(&c).get_status("x").await);
    assert_eq!(e.code, 404, "configmaps have no status subresource");
    assert!(c.apiserver_version().await.is_ok());
}

// ------------------------------------------------------------------ 2. CRUD

#[tokio::test]
async fn create_get_update_delete() {
    let api = FakeApi::new();
    let c = api.client();
    let cm_api = cms(&c);

    let created = cm_api
        .create(&PostParams::default(), &cm("one", json!({"a": "1"})))
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    assert!(created.metadata.resource_version.is_some());
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(created.metadata.namespace.as_deref(), Some("default"));
    let e = api_err(
        cm_api
            .create(&PostParams::default(), &cm("one", json!({})))
            .await,
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "AlreadyExists"));

    let mut gen_cm = cm("", json!({}));
    gen_cm.metadata.name = None;
    gen_cm.metadata.generate_name = Some("gen-".into());
    let g = cm_api
        .create(&PostParams::default(), &gen_cm)
        .await
        .unwrap();
    assert!(
        g.name_any().starts_with("gen-") && g.name_any().len() == 9,
        "{}",
        g.name_any()
    );

    // Status in a create body is dropped for kinds with a status subresource.
    let mut d = deployment("web", 2, "nginx:1.27");
    d["status"] = json!({"replicas": 9});
    let d: Deployment = deploys(&c)
        .create(&PostParams::default(), &serde_json::from_value(d).unwrap())
        .await
        .unwrap();
    assert!(d.status.is_none() || d.status.as_ref().unwrap().replicas.is_none());
    // Defaulting, as the real server does.
    let spec = &d.spec;
    assert_eq!(spec.revision_history_limit, Some(10));
    assert_eq!(
        spec.template.spec.as_ref().unwrap().containers[0]
            .image_pull_policy
            .as_deref(),
        Some("IfNotPresent")
    );

    // PUT with a stale resourceVersion conflicts; with the current one it succeeds.
    let mut stale = created.clone();
    cm_api
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "w"}})),
        )
        .await
        .unwrap();
    stale.data = Some([("k".to_string(), "z".to_string())].into());
    let e = api_err(cm_api.replace("one", &PostParams::default(), &stale).await);
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    let mut fresh = cm_api.get("one").await.unwrap();
    fresh.data = Some([("k".to_string(), "z".to_string())].into());
    let replaced = cm_api
        .replace("one", &PostParams::default(), &fresh)
        .await
        .unwrap();
    assert_eq!(replaced.data.unwrap()["k"], "z");
    assert_eq!(replaced.metadata.uid, created.metadata.uid);

    // Delete without finalizers removes the object and returns a Success Status.
    let r = cm_api
        .delete(&g.name_any(), &DeleteParams::default())
        .await
        .unwrap();
    assert!(r.is_right());
    assert!(cm_api.get_opt(&g.name_any()).await.unwrap().is_none());

    // With finalizers: deletionTimestamp set, object kept until the last finalizer goes.
    cm_api
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["a/x", "a/y"]}})),
        )
        .await
        .unwrap();
    let r = cm_api
        .delete("one", &DeleteParams::background())
        .await
        .unwrap();
    let obj = r.left().expect("object returned while finalizers remain");
    assert!(obj.metadata.deletion_timestamp.is_some());
    assert!(
        cm_api
            .get("one")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );
    // Deleting again is a no-op.
    let rv = api.resource_version();
    assert!(
        cm_api
            .delete("one", &DeleteParams::default())
            .await
            .unwrap()
            .is_left()
    );
    assert_eq!(api.resource_version(), rv);
    // No new finalizers while terminating.
    let e = api_err(
        cm_api
            .patch(
                "one",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"finalizers": ["a/x", "a/y", "a/z"]}})),
            )
            .await,
    );
    assert_eq!(e.code, 422);
    cm_api
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["a/y"]}})),
        )
        .await
        .unwrap();
    assert!(cm_api.get_opt("one").await.unwrap().is_some());
    cm_api
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    assert!(cm_api.get_opt("one").await.unwrap().is_none());

    // Delete preconditions.
    cm_api
        .create(&PostParams::default(), &cm("two", json!({})))
        .await
        .unwrap();
    let e = api_err(
        cm_api
            .delete(
                "two",
                &DeleteParams::default().preconditions(kube::api::Preconditions {
                    resource_version: Some("1".into()),
                    uid: None,
                }),
            )
            .await,
    );
    assert_eq!(e.code, 409);
}

#[tokio::test]
async fn list_selectors_and_pagination() {
    let api = FakeApi::new();
    let c = api.client();
    let a = cms(&c);
    for (n, l) in [
        ("a", json!({"app": "web", "tier": "fe"})),
        ("b", json!({"app": "web", "tier": "be"})),
        ("c", json!({"app": "db"})),
        ("d", json!({})),
    ] {
        a.create(&PostParams::default(), &cm(n, l)).await.unwrap();
    }
    let q = |s: &str| {
        let a = a.clone();
        let s = s.to_string();
        async move { names(&a.list(&ListParams::default().labels(&s)).await.unwrap()) }
    };
    assert_eq!(q("app=web").await, ["a", "b"]);
    assert_eq!(q("app==web").await, ["a", "b"]);
    assert_eq!(q("app!=web").await, ["c", "d"]);
    assert_eq!(q("tier in (fe, be)").await, ["a", "b"]);
    assert_eq!(q("tier notin (fe)").await, ["b", "c", "d"]);
    assert_eq!(q("tier").await, ["a", "b"]);
    assert_eq!(q("!tier").await, ["c", "d"]);
    assert_eq!(q("app=web,tier=fe").await, ["a"]);
    assert_eq!(q("app in (web,db),!tier").await, ["c"]);

    // `+` for spaces and percent-encoding, as other clients send them.
    let req = http::Request::get(
        "/api/v1/namespaces/default/configmaps?labelSelector=tier+in+%28fe%2Cbe%29",
    )
    .body(vec![])
    .unwrap();
    let l: ObjectList<ConfigMap> = c.request(req).await.unwrap();
    assert_eq!(names(&l), ["a", "b"]);

    let f = |s: &str| {
        let a = a.clone();
        let s = s.to_string();
        async move { names(&a.list(&ListParams::default().fields(&s)).await.unwrap()) }
    };
    assert_eq!(f("metadata.name=c").await, ["c"]);
    assert_eq!(f("metadata.name!=c").await, ["a", "b", "d"]);
    assert_eq!(
        f("metadata.namespace=default,metadata.name==a").await,
        ["a"]
    );
    let other: Api<ConfigMap> = Api::namespaced(c.clone(), "other");
    other
        .create(&PostParams::default(), &cm("e", json!({})))
        .await
        .unwrap();
    let all: Api<ConfigMap> = Api::all(c.clone());
    assert_eq!(
        names(
            &all.list(&ListParams::default().fields("metadata.namespace=other"))
                .await
                .unwrap()
        ),
        ["e"]
    );

    // Pagination: limit + continue, the list resourceVersion of the first page throughout.
    let p1 = a.list(&ListParams::default().limit(3)).await.unwrap();
    assert_eq!(names(&p1), ["a", "b", "c"]);
    let token = p1.metadata.continue_.clone().unwrap();
    assert_eq!(p1.metadata.remaining_item_count, Some(1));
    let rv = p1.metadata.resource_version.clone().unwrap();
    assert_eq!(rv, api.resource_version().to_string());
    let p2 = a
        .list(&ListParams::default().limit(3).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(names(&p2), ["d"]);
    assert!(p2.metadata.continue_.is_none());
    assert_eq!(p2.metadata.resource_version.unwrap(), rv);
    // A continue token older than the event history is 410 Gone.
    a.create(&PostParams::default(), &cm("f", json!({})))
        .await
        .unwrap();
    api.compact_history();
    let e = api_err(
        a.list(&ListParams::default().limit(3).continue_token(&token))
            .await,
    );
    assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
    // Bad selectors are 400.
    let e = api_err(a.list(&ListParams::default().labels("tier in fe")).await);
    assert_eq!(e.code, 400);
}

// ------------------------------------------------------------------ 3, 4. versions, no-ops, generation

#[tokio::test]
async fn resource_version_counter_and_noop_writes() {
    let api = FakeApi::new();
    let c = api.client();
    let a = cms(&c);
    let start = api.resource_version();
    let mut w = a
        .watch(
            &WatchParams::default().disable_bookmarks(),
            &start.to_string(),
        )
        .await
        .unwrap()
        .boxed();

    a.create(&PostParams::default(), &cm("x", json!({"a": "1"})))
        .await
        .unwrap();
    assert_eq!(api.resource_version(), start + 1);
    let cur = a.get("x").await.unwrap();
    assert_eq!(cur.resource_version().unwrap(), (start + 1).to_string());

    // No-op writes: PUT of the identical object, merge patch to the same value, re-apply.
    let same = a.replace("x", &PostParams::default(), &cur).await.unwrap();
    assert_eq!(same.resource_version(), cur.resource_version());
    a.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "v"}})),
    )
    .await
    .unwrap();
    assert_eq!(api.resource_version(), start + 1);

    let cfg = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"applied": "yes"}});
    a.patch("x", &apply_params("op"), &Patch::Apply(&cfg))
        .await
        .unwrap();
    assert_eq!(api.resource_version(), start + 2);
    let again = a
        .patch("x", &apply_params("op"), &Patch::Apply(&cfg))
        .await
        .unwrap();
    assert_eq!(
        api.resource_version(),
        start + 2,
        "re-apply of the same config is a no-op"
    );
    assert_eq!(again.resource_version().unwrap(), (start + 2).to_string());

    a.delete("x", &DeleteParams::default()).await.unwrap();
    assert_eq!(api.resource_version(), start + 3);

    // Exactly one event per change, no events for no-ops.
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(ev_desc(&next_change(&mut w).await));
    }
    assert_eq!(seen, ["ADDED x", "MODIFIED x", "DELETED x"]);
    assert!(
        tokio::time::timeout(Duration::from_millis(200), w.next())
            .await
            .is_err(),
        "no further events"
    );
}

#[tokio::test]
async fn generation_and_status_split() {
    let api = FakeApi::new();
    let c = api.client();
    let d = deploys(&c);
    d.create(
        &PostParams::default(),
        &serde_json::from_value(deployment("web", 1, "nginx:1")).unwrap(),
    )
    .await
    .unwrap();
    let gen_of = |x: &Deployment| x.metadata.generation.unwrap();

    let x = d
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"l": "1"}, "annotations": {"a": "b"}}})),
        )
        .await
        .unwrap();
    assert_eq!(gen_of(&x), 1, "metadata changes do not bump generation");
    let x = d
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .unwrap();
    assert_eq!(gen_of(&x), 2);

    // Status through the main resource is ignored; through /status only status changes.
    let x = d
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 7}})),
        )
        .await
        .unwrap();
    assert!(x.status.is_none());
    let x = d
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 9}, "status": {"replicas": 7}})),
        )
        .await
        .unwrap();
    assert_eq!(x.status.unwrap().replicas, Some(7));
    assert_eq!(x.spec.replicas, Some(4));
    assert_eq!(gen_of(&d.get("web").await.unwrap()), 2);

    // replace_status takes only status from the body.
    let mut cur = d.get("web").await.unwrap();
    cur.spec.replicas = Some(1);
    cur.status.as_mut().unwrap().ready_replicas = Some(3);
    let x = d
        .replace_status("web", &PostParams::default(), &cur)
        .await
        .unwrap();
    assert_eq!(x.spec.replicas, Some(4));
    assert_eq!(x.status.unwrap().ready_replicas, Some(3));

    // Every kind: data outside metadata/status bumps generation.
    let a = cms(&c);
    a.create(&PostParams::default(), &cm("c", json!({})))
        .await
        .unwrap();
    let x = a
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "changed"}})),
        )
        .await
        .unwrap();
    assert_eq!(x.metadata.generation, Some(2));
}

// ------------------------------------------------------------------ 5. watch

#[tokio::test]
async fn watch_events_selectors_bookmarks_and_timeout() {
    let api = FakeApi::new();
    api.set_bookmark_interval(Duration::from_millis(100));
    let c = api.client();
    let a = cms(&c);
    a.create(&PostParams::default(), &cm("pre", json!({"app": "web"})))
        .await
        .unwrap();

    // "0": synthetic ADDED for what exists, then a bookmark right away.
    let mut all = a.watch(&WatchParams::default(), "0").await.unwrap().boxed();
    assert_eq!(ev_desc(&next_event(&mut all).await), "ADDED pre");
    assert_eq!(ev_desc(&next_event(&mut all).await), "BOOKMARK");
    let from = api.resource_version();
    let mut sel = a
        .watch(&WatchParams::default().labels("app=web"), &from.to_string())
        .await
        .unwrap()
        .boxed();

    a.create(&PostParams::default(), &cm("x", json!({"app": "web"})))
        .await
        .unwrap();
    a.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "2"}})),
    )
    .await
    .unwrap();
    a.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "db"}}})),
    )
    .await
    .unwrap();
    a.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "web"}}})),
    )
    .await
    .unwrap();
    a.delete("x", &DeleteParams::default()).await.unwrap();

    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(ev_desc(&next_change(&mut all).await));
    }
    assert_eq!(
        got,
        [
            "ADDED x",
            "MODIFIED x",
            "MODIFIED x",
            "MODIFIED x",
            "DELETED x"
        ]
    );
    let mut got = Vec::new();
    let mut deleted_rv = None;
    for _ in 0..5 {
        let e = next_change(&mut sel).await;
        if let WatchEvent::Deleted(o) = &e {
            deleted_rv.get_or_insert(o.resource_version().unwrap());
            // Leaving the selector is DELETED with the previous state (label still web).
            assert_eq!(o.labels()["app"], "web");
        }
        got.push(ev_desc(&e));
    }
    assert_eq!(
        got,
        ["ADDED x", "MODIFIED x", "DELETED x", "ADDED x", "DELETED x"]
    );
    assert_eq!(deleted_rv.unwrap(), (from + 3).to_string());

    // Replay from an older resourceVersion out of the history.
    let mut replay = a
        .watch(
            &WatchParams::default().disable_bookmarks(),
            &from.to_string(),
        )
        .await
        .unwrap()
        .boxed();
    assert_eq!(ev_desc(&next_event(&mut replay).await), "ADDED x");

    // Periodic bookmarks carry the current resourceVersion.
    let rv_now = api.resource_version().to_string();
    loop {
        if let WatchEvent::Bookmark(b) = next_event(&mut all).await {
            assert_eq!(b.metadata.resource_version, rv_now);
            break;
        }
    }

    // timeoutSeconds ends the stream.
    let mut short = a
        .watch(&WatchParams::default().timeout(1), &rv_now)
        .await
        .unwrap()
        .boxed();
    let ended = tokio::time::timeout(DEADLINE, async {
        while let Some(e) = short.next().await {
            e.unwrap();
        }
    })
    .await;
    assert!(ended.is_ok(), "watch ended after timeoutSeconds");

    // Too old: 410 as an ERROR event, then the stream ends.
    api.compact_history();
    let mut old = a
        .watch(&WatchParams::default(), &from.to_string())
        .await
        .unwrap()
        .boxed();
    match next_event(&mut old).await {
        WatchEvent::Error(s) => assert_eq!((s.code, s.reason.as_str()), (410, "Expired")),
        e => panic!("expected 410, got {}", ev_desc(&e)),
    }
    assert!(
        tokio::time::timeout(DEADLINE, old.next())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn runtime_watcher_lists_watches_and_relists_after_gone() {
    use kube::runtime::watcher::{self, Event};
    let api = FakeApi::new();
    let c = api.client();
    let a = cms(&c);
    for i in 0..5 {
        a.create(&PostParams::default(), &cm(&format!("c{i}"), json!({})))
            .await
            .unwrap();
    }
    // Small pages and a short watch timeout, so the watcher re-watches from its version.
    let cfg = watcher::Config::default().page_size(2).timeout(1);
    let mut s = watcher::watcher(a.clone(), cfg).boxed();
    let mut init = Vec::new();
    loop {
        match tokio::time::timeout(DEADLINE, s.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            Event::InitApply(o) => init.push(o.name_any()),
            Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(init.len(), 5);
    a.create(&PostParams::default(), &cm("live", json!({})))
        .await
        .unwrap();
    loop {
        if let Event::Apply(o) = tokio::time::timeout(DEADLINE, s.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            assert_eq!(o.name_any(), "live");
            break;
        }
    }
    // A write elsewhere, then compaction: the watcher's version is now older than the
    // history, so its re-watch gets 410 and it relists.
    api.create(
        &ResourceRef::new("", "v1", "secrets"),
        json!({"metadata": {"name": "s", "namespace": "default"}}),
    )
    .unwrap();
    api.compact_history();
    let mut saw_gone = false;
    loop {
        match tokio::time::timeout(DEADLINE, s.next())
            .await
            .unwrap()
            .unwrap()
        {
            Err(watcher::Error::WatchError(st)) if st.code == 410 => saw_gone = true,
            Ok(Event::InitDone) if saw_gone => break,
            _ => {}
        }
    }
    let lists = api.count(&RequestFilter::default().verb("list").resource("configmaps"));
    assert!(lists >= 6, "3 pages, then relisted: {lists}");

    // The StreamingList strategy (sendInitialEvents) works too.
    let mut s = watcher::watcher(a.clone(), watcher::Config::default().streaming_lists()).boxed();
    let mut n = 0;
    loop {
        match tokio::time::timeout(DEADLINE, s.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            Event::InitApply(_) => n += 1,
            Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(n, 6);
}

#[tokio::test]
async fn watch_streams_end_when_the_fake_goes_away() {
    let api = FakeApi::new();
    let c = api.client();
    let mut w = cms(&c)
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    let mut w2 = cms(&c)
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    api.shutdown();
    assert!(
        tokio::time::timeout(DEADLINE, async { while w.next().await.is_some() {} })
            .await
            .is_ok()
    );
    assert!(is_transport_err(cms(&c).get("x").await));

    let api = FakeApi::new();
    let c = api.client();
    let mut w = cms(&c)
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    drop(api);
    assert!(
        tokio::time::timeout(DEADLINE, async { while w.next().await.is_some() {} })
            .await
            .is_ok()
    );
    assert!(
        tokio::time::timeout(DEADLINE, async { while w2.next().await.is_some() {} })
            .await
            .is_ok()
    );
}

// ------------------------------------------------------------------ 6. server-side apply

fn managed(obj: &Value) -> Vec<Value> {
    obj["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn entry<'a>(ms: &'a [Value], manager: &str, op: &str) -> Option<&'a Value> {
    ms.iter()
        .find(|m| m["manager"] == manager && m["operation"] == op)
}

#[tokio::test]
async fn ssa_creates_and_tracks_fields_in_fields_v1_format() {
    let api = FakeApi::new();
    let c = api.client();
    let d = deploys(&c);
    let mut cfg = deployment("web", 2, "nginx:1.27");
    cfg["metadata"]["finalizers"] = json!(["stateless.dev/cleanup"]);
    let out = d
        .patch("web", &apply_params("op"), &Patch::Apply(&cfg))
        .await
        .unwrap();
    assert_eq!(out.metadata.generation, Some(1));
    let rec = api
        .requests()
        .into_iter()
        .find(|r| r.verb == "apply")
        .unwrap();
    assert_eq!(rec.status, 201, "apply that creates answers 201");

    let v = api
        .get(&ResourceRef::of::<Deployment>(), Some("default"), "web")
        .unwrap();
    let ms = managed(&v);
    assert_eq!(ms.len(), 1);
    let e = entry(&ms, "op", "Apply").unwrap();
    assert_eq!(e["fieldsType"], "FieldsV1");
    assert_eq!(e["apiVersion"], "apps/v1");
    assert!(e["time"].is_string());
    let f = &e["fieldsV1"];
    assert_eq!(f["f:metadata"]["f:labels"]["f:app"], json!({}));
    assert_eq!(
        f["f:metadata"]["f:finalizers"]["v:\"stateless.dev/cleanup\""],
        json!({})
    );
    assert_eq!(f["f:spec"]["f:replicas"], json!({}));
    let ctr = &f["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"];
    assert_eq!(ctr["."], json!({}));
    assert_eq!(ctr["f:image"], json!({}));
    assert_eq!(ctr["f:env"]["k:{\"name\":\"A\"}"]["f:value"], json!({}));
    assert_eq!(
        ctr["f:ports"]["k:{\"containerPort\":8080,\"protocol\":\"TCP\"}"]["f:containerPort"],
        json!({})
    );
    assert!(
        f["f:metadata"].get("f:name").is_none(),
        "name is never tracked"
    );
    // Defaults are not owned by the applier.
    assert!(f["f:spec"].get("f:revisionHistoryLimit").is_none());
    assert_eq!(v["spec"]["revisionHistoryLimit"], 10);
}

#[tokio::test]
async fn ssa_removes_fields_no_longer_applied_unless_co_owned() {
    let api = FakeApi::new();
    let c = api.client();
    let a = cms(&c);
    let cfg = |labels: Value, data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": labels}, "data": data});
    a.patch(
        "x",
        &apply_params("op"),
        &Patch::Apply(cfg(
            json!({"a": "1", "b": "2", "c": "3"}),
            json!({"k1": "v", "k2": "v"}),
        )),
    )
    .await
    .unwrap();
    // Another manager applies label b with the same value: shared ownership, no conflict.
    a.patch(
        "x",
        &apply_params("other"),
        &Patch::Apply(cfg(json!({"b": "2"}), json!({}))),
    )
    .await
    .unwrap();
    let x = a
        .patch(
            "x",
            &apply_params("op"),
            &Patch::Apply(cfg(json!({"a": "1"}), json!({"k1": "v"}))),
        )
        .await
        .unwrap();
    let labels = x.labels();
    assert_eq!(labels.get("a").map(String::as_str), Some("1"));
    assert_eq!(
        labels.get("b").map(String::as_str),
        Some("2"),
        "co-owned by other: kept"
    );
    assert!(
        !labels.contains_key("c"),
        "no longer applied and not co-owned: removed"
    );
    assert!(!x.data.unwrap().contains_key("k2"));

    // Associative lists: env item dropped from the config disappears.
    let d = deploys(&c);
    let mut cfg = deployment("web", 1, "nginx:1");
    d.patch("web", &apply_params("op"), &Patch::Apply(&cfg))
        .await
        .unwrap();
    cfg["spec"]["template"]["spec"]["containers"][0]["env"] = json!([{"name": "A", "value": "1"}]);
    let x = d
        .patch("web", &apply_params("op"), &Patch::Apply(&cfg))
        .await
        .unwrap();
    let env = x.spec.template.spec.unwrap().containers[0]
        .env
        .clone()
        .unwrap();
    assert_eq!(env.len(), 1);
    // Dropping spec.replicas from the config: removed, then defaulted again to 1.
    let mut cfg2 = cfg.clone();
    d.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await
    .ok();
    cfg2["spec"]["replicas"] = json!(5);
    d.patch("web", &apply_params("op").force(), &Patch::Apply(&cfg2))
        .await
        .unwrap();
    cfg2["spec"].as_object_mut().unwrap().remove("replicas");
    let x = d
        .patch("web", &apply_params("op"), &Patch::Apply(&cfg2))
        .await
        .unwrap();
    assert_eq!(x.spec.replicas, Some(1));
}

#[tokio::test]
async fn ssa_conflicts_with_other_managers_and_force_moves_ownership() {
    let api = FakeApi::new();
    api.simulate_deployment_controller(true);
    let c = api.client();
    let d = deploys(&c);
    let cfg = deployment("web", 2, "nginx:1");
    d.patch("web", &apply_params("op"), &Patch::Apply(&cfg))
        .await
        .unwrap();

    // A non-apply write by someone else records Update ownership...
    d.patch(
        "web",
        &PatchParams {
            field_manager: Some("kubectl-edit".into()),
            ..Default::default()
        },
        &Patch::Merge(json!({"spec": {"replicas": 5}})),
    )
    .await
    .unwrap();
    let v = api
        .get(&ResourceRef::of::<Deployment>(), Some("default"), "web")
        .unwrap();
    let ms = managed(&v);
    assert!(
        entry(&ms, "kubectl-edit", "Update").unwrap()["fieldsV1"]["f:spec"]["f:replicas"]
            .is_object()
    );
    assert!(
        entry(&ms, "op", "Apply").unwrap()["fieldsV1"]["f:spec"]
            .get("f:replicas")
            .is_none(),
        "the update took replicas from op"
    );
    let kcm = ms
        .iter()
        .find(|m| m["manager"] == "kube-controller-manager")
        .unwrap();
    assert_eq!(kcm["subresource"], "status");

    // ...so re-applying a different value conflicts, naming the manager and the field.
    let e = api_err(
        d.patch("web", &apply_params("op"), &Patch::Apply(&cfg))
            .await,
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        e.message,
        "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas"
    );
    // Applying the value the other manager set is not a conflict (shared ownership).
    let mut same = cfg.clone();
    same["spec"]["replicas"] = json!(5);
    d.patch("web", &apply_params("op"), &Patch::Apply(&same))
        .await
        .unwrap();

    // Two conflicting fields from two managers.
    d.patch(
        "web",
        &PatchParams {
            field_manager: Some("m2".into()),
            ..Default::default()
        },
        &Patch::Merge(json!({"metadata": {"labels": {"app": "x"}}})),
    )
    .await
    .unwrap();
    let e = api_err(
        d.patch("web", &apply_params("op"), &Patch::Apply(&cfg))
            .await,
    );
    assert!(
        e.message.starts_with("Apply failed with 2 conflicts: "),
        "{}",
        e.message
    );
    assert!(
        e.message
            .contains("conflicts with \"m2\" using apps/v1:\n- .metadata.labels.app"),
        "{}",
        e.message
    );

    // force: op wins and owns the fields; the others lose them.
    let x = d
        .patch("web", &apply_params("op").force(), &Patch::Apply(&cfg))
        .await
        .unwrap();
    assert_eq!(x.spec.replicas, Some(2));
    let v = api
        .get(&ResourceRef::of::<Deployment>(), Some("default"), "web")
        .unwrap();
    let ms = managed(&v);
    assert!(
        entry(&ms, "kubectl-edit", "Update")
            .is_none_or(|e| e["fieldsV1"]["f:spec"].get("f:replicas").is_none())
    );
    assert!(entry(&ms, "op", "Apply").unwrap()["fieldsV1"]["f:spec"]["f:replicas"].is_object());
    // Now steady: re-apply is a no-op; the controller's status writes never conflict.
    let rv = api.resource_version();
    d.patch("web", &apply_params("op"), &Patch::Apply(&cfg))
        .await
        .unwrap();
    assert_eq!(api.resource_version(), rv);
}

#[tokio::test]
async fn ssa_on_status_subresource_and_custom_resources() {
    let api = FakeApi::new();
    api.register(crd_kind());
    let c = api.client();
    let s = crd_api(&c);
    let cfg = json!({
        "apiVersion": "stateless.dev/v1alpha1", "kind": "StatelessService",
        "metadata": {"name": "svc"},
        "spec": {"image": "x:1", "replicas": 2},
        "status": {"phase": "ignored-on-main"},
    });
    let o = s
        .patch("svc", &apply_params("op"), &Patch::Apply(&cfg))
        .await
        .unwrap();
    assert!(o.data.get("status").is_none());
    let st = json!({
        "apiVersion": "stateless.dev/v1alpha1", "kind": "StatelessService", "metadata": {"name": "svc"},
        "status": {"phase": "Ready", "conditions": [{"type": "Ready", "status": "True"}]},
    });
    let o = s
        .patch_status("svc", &apply_params("op"), &Patch::Apply(&st))
        .await
        .unwrap();
    assert_eq!(o.data["status"]["phase"], "Ready");
    assert_eq!(o.data["spec"]["replicas"], 2);
    assert_eq!(o.metadata.generation, Some(1));
    let v = api
        .get(
            &ResourceRef::new("stateless.dev", "v1alpha1", "statelessservices"),
            Some("default"),
            "svc",
        )
        .unwrap();
    let ms = managed(&v);
    let e = ms.iter().find(|m| m["subresource"] == "status").unwrap();
    assert_eq!(e["operation"], "Apply");
    assert!(e["fieldsV1"]["f:status"]["f:conditions"]["k:{\"type\":\"Ready\"}"].is_object());
    // Dropping a status field from the status apply removes it.
    let st2 = json!({
        "apiVersion": "stateless.dev/v1alpha1", "kind": "StatelessService", "metadata": {"name": "svc"},
        "status": {"phase": "Ready"},
    });
    let o = s
        .patch_status("svc", &apply_params("op"), &Patch::Apply(&st2))
        .await
        .unwrap();
    assert!(o.data["status"].get("conditions").is_none());
    // Status apply to a missing object is 404 (the status path cannot create).
    let mut st3 = st2.clone();
    st3["metadata"]["name"] = json!("nope");
    let e = api_err(
        s.patch_status("nope", &apply_params("op"), &Patch::Apply(&st3))
            .await,
    );
    assert_eq!(e.code, 404);
    // Apply without fieldManager is rejected as by the real server.
    let req = http::Request::patch(
        "/apis/stateless.dev/v1alpha1/namespaces/default/statelessservices/svc",
    )
    .header("content-type", "application/apply-patch+yaml")
    .body(serde_json::to_vec(&cfg).unwrap())
    .unwrap();
    let e = api_err(c.request::<Value>(req).await);
    assert_eq!(e.code, 422);

    // A CRD created through the API starts serving its kind.
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
                 "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}}}]},
    });
    api.create(
        &ResourceRef::new("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
        crd,
    )
    .unwrap();
    let ar = ApiResource {
        group: "example.com".into(),
        version: "v1".into(),
        api_version: "example.com/v1".into(),
        kind: "Widget".into(),
        plural: "widgets".into(),
    };
    let w: Api<DynamicObject> = Api::namespaced_with(c.clone(), "default", &ar);
    assert!(
        w.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

/// Our elector (src/leader.rs) on the fake: two candidates race for a missing Lease, exactly one
/// leads at every sample, a stale write is refused with 409 (never a silent overwrite), and a
/// release hands over at once.
#[tokio::test]
async fn leader_election_elects_one_and_hands_over() {
    use stateless_operator::leader::{self, LeaderConfig};
    use stateless_operator::metrics::Metrics;
    use tokio_util::sync::CancellationToken;
    let api = FakeApi::new();
    let leases = ResourceRef::new("coordination.k8s.io", "v1", "leases");
    let candidate = |id: &str| {
        let mut cfg = LeaderConfig::new("leader", "default", id);
        cfg.lease_duration = Duration::from_secs(2);
        cfg.renew_grace = Duration::from_secs(1);
        cfg.retry_period = Duration::from_millis(100);
        let stop = CancellationToken::new();
        let (flag, task) = leader::spawn(api.client(), cfg, Metrics::new(), stop.clone()).unwrap();
        (flag, task, stop)
    };
    let (a, a_task, a_stop) = candidate("a");
    let (b, b_task, b_stop) = candidate("b");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut led = [false, false];
    while tokio::time::Instant::now() < deadline {
        let (x, y) = (*a.borrow(), *b.borrow());
        assert!(!(x && y), "two leaders at once");
        led[0] |= x;
        led[1] |= y;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(led[0] ^ led[1], "exactly one candidate led: {led:?}");
    let (winner, loser, winner_stop, winner_task, loser_stop, loser_task) = if led[0] {
        (a, b, a_stop, a_task, b_stop, b_task)
    } else {
        (b, a, b_stop, b_task, a_stop, a_task)
    };
    let holder = api.get(&leases, Some("default"), "leader").unwrap()["spec"]["holderIdentity"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(*winner.borrow());

    // A write with a stale resourceVersion is a conflict.
    let mut stale = api.get(&leases, Some("default"), "leader").unwrap();
    stale["metadata"]["resourceVersion"] = json!("1");
    stale["spec"]["holderIdentity"] = json!("intruder");
    let err = api.update(&leases, stale, false).unwrap_err();
    assert_eq!(err.code, 409);

    winner_stop.cancel();
    winner_task.await.unwrap().unwrap();
    assert!(!*winner.borrow());
    let mut took_over = false;
    for _ in 0..100 {
        if *loser.borrow() {
            took_over = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        took_over,
        "the other candidate takes over after the release"
    );
    let lease = api.get(&leases, Some("default"), "leader").unwrap();
    assert_ne!(lease["spec"]["holderIdentity"], json!(holder));
    assert_eq!(lease["spec"]["leaseTransitions"], json!(1));
    loser_stop.cancel();
    loser_task.await.unwrap().unwrap();
    assert!(
        api.get(&leases, Some("default"), "leader").unwrap()["spec"]
            .get("holderIdentity")
            .is_none(),
        "released"
    );
}

// ------------------------------------------------------------------ 7. patches

#[tokio::test]
async fn merge_json_and_strategic_patches() {
    use json_patch::{
        AddOperation, PatchOperation, RemoveOperation, TestOperation, jsonptr::PointerBuf,
    };
    let api = FakeApi::new();
    let c = api.client();
    let a = cms(&c);
    a.create(&PostParams::default(), &cm("x", json!({})))
        .await
        .unwrap();

    // kube-runtime's finalizer helper: test-null on a missing path, then add.
    let add = json_patch::Patch(vec![
        PatchOperation::Test(TestOperation {
            path: PointerBuf::parse("/metadata/finalizers").unwrap(),
            value: Value::Null,
        }),
        PatchOperation::Add(AddOperation {
            path: PointerBuf::parse("/metadata/finalizers").unwrap(),
            value: json!(["f/one"]),
        }),
    ]);
    let x = a
        .patch(
            "x",
            &PatchParams::default(),
            &Patch::Json::<()>(add.clone()),
        )
        .await
        .unwrap();
    assert_eq!(x.finalizers(), ["f/one"]);
    let e = api_err(
        a.patch("x", &PatchParams::default(), &Patch::Json::<()>(add))
            .await,
    );
    assert_eq!(e.code, 422, "test-null fails once finalizers exist");
    a.delete("x", &DeleteParams::default()).await.unwrap();
    let remove = json_patch::Patch(vec![
        PatchOperation::Test(TestOperation {
            path: PointerBuf::parse("/metadata/finalizers/0").unwrap(),
            value: json!("f/one"),
        }),
        PatchOperation::Remove(RemoveOperation {
            path: PointerBuf::parse("/metadata/finalizers/0").unwrap(),
        }),
    ]);
    a.patch("x", &PatchParams::default(), &Patch::Json::<()>(remove))
        .await
        .unwrap();
    assert!(
        a.get_opt("x").await.unwrap().is_none(),
        "last finalizer removed: deleted"
    );

    // Merge patch: RFC 7386, lists replaced, null removes; resourceVersion precondition.
    let d = deploys(&c);
    let mut dep = deployment("web", 1, "nginx:1");
    dep["spec"]["template"]["spec"]["containers"] =
        json!([{"name": "app", "image": "a:1"}, {"name": "side", "image": "s:1"}]);
    d.create(
        &PostParams::default(),
        &serde_json::from_value(dep).unwrap(),
    )
    .await
    .unwrap();
    let e = api_err(
        d.patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 2}})),
        )
        .await,
    );
    assert_eq!(e.code, 409);
    let cur = d.get("web").await.unwrap().resource_version().unwrap();
    d.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"resourceVersion": cur}, "spec": {"replicas": 2}})),
    )
    .await
    .unwrap();

    // Strategic merge: containers merge by name; `$patch: delete` removes one.
    let x = d
        .patch("web", &PatchParams::default(), &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "a:2"}]}}}})))
        .await
        .unwrap();
    let cs = x.spec.template.spec.unwrap().containers;
    assert_eq!(
        cs.iter()
            .map(|c| (c.name.clone(), c.image.clone().unwrap()))
            .collect::<Vec<_>>(),
        [
            ("app".to_string(), "a:2".to_string()),
            ("side".into(), "s:1".into())
        ]
    );
    let x = d
        .patch("web", &PatchParams::default(), &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}}})))
        .await
        .unwrap();
    assert_eq!(x.spec.template.spec.unwrap().containers.len(), 1);
    let x = d
        .patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "o:1"}]}}}})))
        .await
        .unwrap();
    assert_eq!(
        x.spec.template.spec.unwrap().containers[0].name,
        "only",
        "merge patch replaces lists"
    );
    let e = api_err(
        a.patch("missing", &PatchParams::default(), &Patch::Merge(json!({})))
            .await,
    );
    assert_eq!(e.code, 404);
}

// ------------------------------------------------------------------ 8. garbage collection

#[tokio::test]
async fn garbage_collection_follows_owner_references() {
    let api = FakeApi::new();
    let c = api.client();
    let a = cms(&c);
    let mk = |name: &str, owners: Vec<&ConfigMap>| {
        let refs: Vec<Value> = owners
            .iter()
            .map(|o| json!({"apiVersion": "v1", "kind": "ConfigMap", "name": o.name_any(), "uid": o.uid().unwrap()}))
            .collect();
        serde_json::from_value::<ConfigMap>(
            json!({"metadata": {"name": name, "ownerReferences": refs}}),
        )
        .unwrap()
    };
    let pp = PostParams::default();
    let owner = a.create(&pp, &cm("owner", json!({}))).await.unwrap();
    let other = a.create(&pp, &cm("other", json!({}))).await.unwrap();
    let d1 = a.create(&pp, &mk("d1", vec![&owner])).await.unwrap();
    a.create(&pp, &mk("d2", vec![&d1])).await.unwrap();
    a.create(&pp, &mk("d3", vec![&owner, &other]))
        .await
        .unwrap();
    a.create(&pp, &cm("lonely", json!({}))).await.unwrap();
    // A dependent with a finalizer is marked, not removed.
    let mut fin = mk("d4", vec![&owner]);
    fin.metadata.finalizers = Some(vec!["keep/me".into()]);
    a.create(&pp, &fin).await.unwrap();

    a.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    let left = names(&a.list(&ListParams::default()).await.unwrap());
    assert_eq!(left, ["d3", "d4", "lonely", "other"]);
    assert!(
        a.get("d4")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );

    // Orphan: the dependent stays, without the owner reference.
    let o2 = a.create(&pp, &cm("o2", json!({}))).await.unwrap();
    a.create(&pp, &mk("kept", vec![&o2])).await.unwrap();
    a.delete("o2", &DeleteParams::orphan()).await.unwrap();
    assert!(
        a.get("kept")
            .await
            .unwrap()
            .metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
    );

    // Foreground: dependents go first, then the owner.
    let o3 = a.create(&pp, &cm("o3", json!({}))).await.unwrap();
    a.create(&pp, &mk("fg", vec![&o3])).await.unwrap();
    a.delete("o3", &DeleteParams::foreground()).await.unwrap();
    assert!(
        api.wait_until(DEADLINE, |f| f
            .get(&ResourceRef::of::<ConfigMap>(), Some("default"), "o3")
            .is_none())
            .await
    );
    assert!(a.get_opt("fg").await.unwrap().is_none());
}

// ------------------------------------------------------------------ 9. faults

#[tokio::test]
async fn injected_status_faults_by_verb_resource_and_count() {
    let api = FakeApi::new();
    let c = api.client();
    let a = cms(&c);
    a.create(&PostParams::default(), &cm("x", json!({})))
        .await
        .unwrap();

    api.inject(
        FaultRule::status(500)
            .reads()
            .resource("configmaps")
            .times(2),
    );
    for _ in 0..2 {
        let e = api_err(a.get("x").await);
        assert_eq!((e.code, e.reason.as_str()), (500, "InternalError"));
    }
    a.get("x").await.unwrap();

    api.inject(FaultRule::status(409).writes().times(1));
    a.get("x").await.unwrap();
    let e = api_err(
        a.patch(
            "x",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"a": "b"}})),
        )
        .await,
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    a.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"a": "b"}})),
    )
    .await
    .unwrap();

    // 429 carries Retry-After, visible at the HTTP level.
    api.inject(FaultRule::too_many_requests(3).verb("get").times(1));
    let svc = api.service();
    let req = http::Request::get("/api/v1/namespaces/default/configmaps/x")
        .body(kube::client::Body::empty())
        .unwrap();
    let resp = tower::ServiceExt::oneshot(svc, req).await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "3");
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    let st: Status = serde_json::from_slice(&body).unwrap();
    assert_eq!(st.reason, "TooManyRequests");

    // Only the named resource is affected.
    api.inject(FaultRule::status(503).resource("secrets"));
    a.get("x").await.unwrap();
    api.clear_faults();
    assert_eq!(api.count(&RequestFilter::default().status(500)), 2);
}

#[tokio::test]
async fn probabilistic_faults_are_reproducible_with_a_seed() {
    async fn pattern(seed: u64) -> Vec<bool> {
        let api = FakeApi::new();
        api.set_seed(seed);
        api.inject(FaultRule::status(500).probability(0.5));
        let a = cms(&api.client());
        let mut out = Vec::new();
        for _ in 0..32 {
            out.push(a.get_opt("x").await.is_err());
        }
        out
    }
    let p1 = pattern(42).await;
    assert_eq!(p1, pattern(42).await);
    let fails = p1.iter().filter(|f| **f).count();
    assert!((6..=26).contains(&fails), "about half fail: {fails}");
    assert_ne!(p1, pattern(7).await);
}

#[tokio::test]
async fn hangs_delays_refusals_and_down_mode() {
    let api = FakeApi::new();
    let a = cms(&api.client_with_timeout(Duration::from_millis(200)));
    api.inject(FaultRule::hang().verb("list").times(1));
    let started = tokio::time::Instant::now();
    assert!(
        is_transport_err(a.list(&ListParams::default()).await),
        "timed out"
    );
    assert!(started.elapsed() >= Duration::from_millis(200));

    api.inject(
        FaultRule::delay(Duration::from_millis(100))
            .verb("get")
            .times(1),
    );
    let started = tokio::time::Instant::now();
    assert!(a.get_opt("x").await.unwrap().is_none());
    assert!(started.elapsed() >= Duration::from_millis(100));

    api.inject(FaultRule::refuse().verb("create").times(1));
    assert!(is_transport_err(
        a.create(&PostParams::default(), &cm("x", json!({}))).await
    ));
    a.create(&PostParams::default(), &cm("x", json!({})))
        .await
        .unwrap();

    api.set_down(true);
    assert!(is_transport_err(a.get("x").await));
    assert!(is_transport_err(
        api.client().list_core_api_versions().await
    ));
    api.set_down(false);
    a.get("x").await.unwrap();
    assert_eq!(api.count(&RequestFilter::default().status(0)), 4);

    // A hung request is released (with an error) when the fake shuts down.
    let plain = cms(&api.client());
    api.inject(FaultRule::hang().verb("get"));
    let h = tokio::spawn(async move { plain.get("x").await });
    assert!(
        api.wait_until(DEADLINE, |f| f
            .count(&RequestFilter::default().verb("get").name("x"))
            >= 3)
            .await
    );
    api.shutdown();
    assert!(is_transport_err(
        tokio::time::timeout(DEADLINE, h).await.unwrap().unwrap()
    ));
}

// ------------------------------------------------------------------ 10. request log, counters

#[tokio::test]
async fn request_log_and_write_counters() {
    use k8s_openapi::api::core::v1::ObjectReference;
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let api = FakeApi::new();
    let c = api.client();
    let a = cms(&c);
    a.create(&PostParams::default(), &cm("x", json!({})))
        .await
        .unwrap();
    a.get("x").await.unwrap();
    a.list(&ListParams::default()).await.unwrap();
    let cur = a.get("x").await.unwrap();
    a.replace("x", &PostParams::default(), &cur).await.unwrap();
    a.patch("x", &PatchParams::default(), &Patch::Merge(json!({})))
        .await
        .unwrap();
    a.patch(
        "x",
        &apply_params("op"),
        &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})),
    )
    .await
    .unwrap();
    let _w = a.watch(&WatchParams::default(), "0").await.unwrap();
    a.delete("x", &DeleteParams::default()).await.unwrap();
    a.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .unwrap();
    let verbs: Vec<String> = api.requests().into_iter().map(|r| r.verb).collect();
    assert_eq!(
        verbs,
        [
            "create",
            "get",
            "list",
            "get",
            "update",
            "patch",
            "apply",
            "watch",
            "delete",
            "deletecollection"
        ]
    );
    let r = &api.requests()[6];
    assert_eq!(
        (
            r.resource.as_str(),
            r.namespace.as_deref(),
            r.name.as_deref(),
            r.status
        ),
        ("configmaps", Some("default"), Some("x"), 200)
    );
    assert_eq!(r.field_manager.as_deref(), Some("op"));
    assert_eq!(api.writes(), 6);
    assert_eq!(api.count(&RequestFilter::default().verb("get")), 2);
    assert_eq!(
        api.count(&RequestFilter::writes().resource("configmaps").verb("apply")),
        1
    );

    // The event recorder creates, then patches a series: writes to events.k8s.io.
    api.reset_requests();
    let rec = Recorder::new(
        c.clone(),
        Reporter {
            controller: "op".into(),
            instance: None,
        },
    );
    let obj = ObjectReference {
        kind: Some("ConfigMap".into()),
        name: Some("x".into()),
        namespace: Some("default".into()),
        api_version: Some("v1".into()),
        ..Default::default()
    };
    let ev = Event {
        type_: EventType::Normal,
        reason: "Synced".into(),
        note: Some("ok".into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    rec.publish(&ev, &obj).await.unwrap();
    rec.publish(&ev, &obj).await.unwrap();
    assert_eq!(
        api.count(&RequestFilter::default().resource("events").verb("create")),
        1
    );
    assert_eq!(
        api.count(&RequestFilter::default().resource("events").verb("patch")),
        1
    );
    assert_eq!(api.writes(), 2);
    assert_eq!(api.writes_except_events(), 0);
    let evs = api.list(
        &ResourceRef::new("events.k8s.io", "v1", "events"),
        Some("default"),
    );
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0]["series"]["count"], 2);
    // Direct state access does not count as requests.
    api.create(
        &ResourceRef::of::<ConfigMap>(),
        json!({"metadata": {"name": "direct", "namespace": "default"}}),
    )
    .unwrap();
    assert_eq!(api.writes(), 2);
}

// ------------------------------------------------------------------ simulated controllers, direct access

#[tokio::test]
async fn simulated_deployment_controller_and_pvc_binding() {
    let api = FakeApi::new();
    let c = api.client();
    let d = deploys(&c);
    d.patch(
        "web",
        &apply_params("op"),
        &Patch::Apply(deployment("web", 3, "nginx:1")),
    )
    .await
    .unwrap();
    assert!(
        d.get("web").await.unwrap().status.is_none(),
        "off by default"
    );
    api.simulate_deployment_controller(true);
    let st = d.get("web").await.unwrap().status.unwrap();
    assert_eq!(
        (
            st.observed_generation,
            st.ready_replicas,
            st.available_replicas
        ),
        (Some(1), Some(3), Some(3))
    );
    let conds: Vec<_> = st
        .conditions
        .unwrap()
        .into_iter()
        .map(|c| (c.type_, c.status))
        .collect();
    assert_eq!(
        conds,
        [
            (Some("Available".to_string()), Some("True".to_string())),
            (Some("Progressing".into()), Some("True".into()))
        ]
    );

    d.patch(
        "web",
        &apply_params("op"),
        &Patch::Apply(deployment("web", 2, "nginx:1")),
    )
    .await
    .unwrap();
    let st = d.get("web").await.unwrap().status.unwrap();
    assert_eq!((st.observed_generation, st.replicas), (Some(2), Some(2)));
    // A label-only change does not make the controller write.
    let rv = api.resource_version();
    d.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
    )
    .await
    .unwrap();
    assert_eq!(api.resource_version(), rv + 1);

    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(c.clone(), "default");
    let pvc = json!({"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
    pvcs.create(
        &PostParams::default(),
        &serde_json::from_value(pvc.clone()).unwrap(),
    )
    .await
    .unwrap();
    assert!(pvcs.get("data").await.unwrap().status.is_none());
    api.simulate_pvc_binding(true);
    assert_eq!(
        pvcs.get("data")
            .await
            .unwrap()
            .status
            .unwrap()
            .phase
            .as_deref(),
        Some("Bound")
    );
    let mut p2 = pvc;
    p2["metadata"]["name"] = json!("data2");
    pvcs.create(&PostParams::default(), &serde_json::from_value(p2).unwrap())
        .await
        .unwrap();
    assert_eq!(
        pvcs.get("data2")
            .await
            .unwrap()
            .status
            .unwrap()
            .phase
            .as_deref(),
        Some("Bound")
    );
}

#[tokio::test]
async fn direct_state_access_acts_like_another_client() {
    let api = FakeApi::new();
    let c = api.client();
    let a = cms(&c);
    let res = ResourceRef::of::<ConfigMap>();
    let mut w = a
        .watch(
            &WatchParams::default().disable_bookmarks(),
            &api.resource_version().to_string(),
        )
        .await
        .unwrap()
        .boxed();
    api.create(
        &res,
        json!({"metadata": {"name": "d", "namespace": "default"}, "data": {"a": "1"}}),
    )
    .unwrap();
    api.merge_patch(
        &res,
        Some("default"),
        "d",
        "someone",
        json!({"data": {"a": "2"}}),
        false,
    )
    .unwrap();
    api.apply(&res, Some("default"), "d", "applier", json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"}, "data": {"b": "1"}}), false, false).unwrap();
    let e = api.apply(&res, Some("default"), "d", "applier", json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"}, "data": {"a": "3"}}), false, false).unwrap_err();
    assert_eq!(e.code, 409);
    let mut cur = api.get(&res, Some("default"), "d").unwrap();
    cur["data"]["c"] = json!("1");
    api.update(&res, cur, false).unwrap();
    assert!(api.delete(&res, Some("default"), "d").unwrap());
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(ev_desc(&next_change(&mut w).await));
    }
    assert_eq!(
        got,
        [
            "ADDED d",
            "MODIFIED d",
            "MODIFIED d",
            "MODIFIED d",
            "DELETED d"
        ]
    );
    assert_eq!(api.get_as::<ConfigMap>(Some("default"), "d"), None);
    assert_eq!(api.writes(), 0);
    assert_eq!(api.list(&res, None).len(), 0);
}

// ------------------------------------------------------------------ validation, normalization

#[tokio::test]
async fn validation_immutable_fields_and_secret_string_data() {
    use k8s_openapi::api::core::v1::Secret;
    let api = FakeApi::new();
    api.register(crd_kind());
    let c = api.client();
    let a = cms(&c);

    let e = api_err(
        a.create(&PostParams::default(), &cm("Bad_Name", json!({})))
            .await,
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert!(
        e.message
            .starts_with("ConfigMap \"Bad_Name\" is invalid: metadata.name"),
        "{}",
        e.message
    );
    let long = "x".repeat(64);
    let e = api_err(
        a.create(&PostParams::default(), &cm("ok", json!({ "app": long })))
            .await,
    );
    assert_eq!(e.code, 422, "label values are at most 63 characters");
    a.create(
        &PostParams::default(),
        &cm("ok", json!({"stateless.dev/app": "web-1.2_3"})),
    )
    .await
    .unwrap();

    // Deployment selectors are immutable.
    let d = deploys(&c);
    d.patch(
        "web",
        &apply_params("op"),
        &Patch::Apply(deployment("web", 1, "nginx:1")),
    )
    .await
    .unwrap();
    let e = api_err(
        d.patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"selector": {"matchLabels": {"app": "other"}}}})),
        )
        .await,
    );
    assert!(e.message.contains("spec.selector"), "{}", e.message);

    // PVC spec is immutable except storage requests.
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(c.clone(), "default");
    let pvc = json!({"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
    pvcs.create(
        &PostParams::default(),
        &serde_json::from_value(pvc).unwrap(),
    )
    .await
    .unwrap();
    pvcs.patch(
        "data",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"resources": {"requests": {"storage": "2Gi"}}}})),
    )
    .await
    .unwrap();
    let e = api_err(
        pvcs.patch(
            "data",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"accessModes": ["ReadWriteMany"]}})),
        )
        .await,
    );
    assert_eq!(e.code, 422);
    assert_eq!(
        pvcs.get("data")
            .await
            .unwrap()
            .spec
            .unwrap()
            .volume_mode
            .as_deref(),
        Some("Filesystem")
    );

    // Immutable ConfigMaps.
    a.patch(
        "ok",
        &PatchParams::default(),
        &Patch::Merge(json!({"immutable": true})),
    )
    .await
    .unwrap();
    let e = api_err(
        a.patch(
            "ok",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "new"}})),
        )
        .await,
    );
    assert_eq!(e.code, 422);

    // Secret stringData becomes base64 data; re-applying it is a no-op.
    let secrets: Api<Secret> = Api::namespaced(c.clone(), "default");
    let cfg = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"password": "hunter2"}});
    let s = secrets
        .patch("s", &apply_params("op"), &Patch::Apply(&cfg))
        .await
        .unwrap();
    assert_eq!(s.data.unwrap()["password"].0, b"hunter2");
    let v = api
        .get(&ResourceRef::of::<Secret>(), Some("default"), "s")
        .unwrap();
    assert_eq!(v["data"]["password"], "aHVudGVyMg==");
    assert!(v.get("stringData").is_none());
    let rv = api.resource_version();
    secrets
        .patch("s", &apply_params("op"), &Patch::Apply(&cfg))
        .await
        .unwrap();
    assert_eq!(api.resource_version(), rv);

    // Custom resources: no strategic merge patch, PUT needs a resourceVersion.
    let crs = crd_api(&c);
    let obj = json!({"apiVersion": "stateless.dev/v1alpha1", "kind": "StatelessService", "metadata": {"name": "svc"}, "spec": {"image": "x"}});
    crs.patch("svc", &apply_params("op"), &Patch::Apply(&obj))
        .await
        .unwrap();
    let e = api_err(
        crs.patch(
            "svc",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"image": "y"}})),
        )
        .await,
    );
    assert_eq!(e.code, 415);
    let e = api_err(
        crs.replace(
            "svc",
            &PostParams::default(),
            &serde_json::from_value(obj).unwrap(),
        )
        .await,
    );
    assert_eq!(e.code, 422);
}

#[tokio::test]
async fn watcher_resumes_after_disconnect_without_relisting() {
    use kube::runtime::watcher::{self, Event};
    let api = FakeApi::new();
    let a = cms(&api.client());
    a.create(&PostParams::default(), &cm("one", json!({})))
        .await
        .unwrap();
    // Drive the watcher in a task so it keeps its watch open while the test acts.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut s = watcher::watcher(a.clone(), watcher::Config::default()).boxed();
    let task = tokio::spawn(async move {
        while let Some(e) = s.next().await {
            let d = match e {
                Ok(Event::Init) => "init".to_string(),
                Ok(Event::InitDone) => "init-done".into(),
                Ok(Event::Apply(o) | Event::InitApply(o)) => format!("apply {}", o.name_any()),
                Ok(Event::Delete(o)) => format!("delete {}", o.name_any()),
                Err(e) => format!("error {e}"),
            };
            if tx.send(d).is_err() {
                break;
            }
        }
    });
    let mut next = async || {
        tokio::time::timeout(DEADLINE, rx.recv())
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(
        [next().await, next().await, next().await],
        ["init", "apply one", "init-done"]
    );
    // Wait until the watch is open, then cut it; a write made meanwhile is not lost.
    assert!(
        api.wait_until(DEADLINE, |f| f
            .count(&RequestFilter::default().verb("watch"))
            == 1)
            .await
    );
    api.disconnect_watches();
    a.create(&PostParams::default(), &cm("two", json!({})))
        .await
        .unwrap();
    assert_eq!(
        next().await,
        "apply two",
        "resumed from its resourceVersion, no relist"
    );
    assert_eq!(api.count(&RequestFilter::default().verb("list")), 1);
    assert_eq!(api.count(&RequestFilter::default().verb("watch")), 2);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_and_an_idle_watcher() {
    let api = FakeApi::new();
    let c = api.client();
    let start = api.resource_version();
    // A watcher nobody reads while writers run: writers must not wait for it.
    let mut idle = cms(&c)
        .watch(
            &WatchParams::default().disable_bookmarks(),
            &start.to_string(),
        )
        .await
        .unwrap()
        .boxed();
    let mut tasks = Vec::new();
    for t in 0..4 {
        let a = cms(&c);
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                a.create(&PostParams::default(), &cm(&format!("t{t}-{i}"), json!({})))
                    .await
                    .unwrap();
            }
        }));
    }
    tokio::time::timeout(DEADLINE, futures::future::join_all(tasks))
        .await
        .expect("writers finish without waiting for the watcher");
    assert_eq!(api.resource_version(), start + 200);
    // Every version exactly once, in order.
    let mut last = start;
    for _ in 0..200 {
        let WatchEvent::Added(o) = next_event(&mut idle).await else {
            panic!("only ADDED expected");
        };
        let rv: u64 = o.resource_version().unwrap().parse().unwrap();
        assert_eq!(rv, last + 1);
        last = rv;
    }
}
