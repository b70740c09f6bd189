//! What RBAC the operator needs, derived from the requests it really sends: the real operator runs against the
//! in-process fake API server (tests/support) through every kind of request it makes, and each request is mapped
//! to the RBAC verbs the API server would authorize it as.

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use serde_json::json;
use stateless_operator::leader::LeaderConfig;

use crate::chart::{LEASE_NAME, RELEASE_NS};
use crate::support::fake_api::{RequestFilter, RequestRecord, ResourceRef};
use crate::support::operator::{self as op, NS};

pub type Grant = (String, String, String, String);

/// The grants the operator's requests need: (apiGroup, resource or resource/subresource, verb, resourceName or "").
pub struct Used {
    /// For the operator's Role/ClusterRole, whose rules are not limited to names (children are named after
    /// each service).
    pub operator: BTreeSet<Grant>,
    /// For the Lease Role: named, except `create` (a POST has no name RBAC could check).
    pub lease: BTreeSet<Grant>,
}

/// Derived once per test process from what the real operator sent to the fake API server.
pub fn used() -> &'static Used {
    static USED: OnceLock<Used> = OnceLock::new();
    USED.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let records = runtime.block_on(requests_the_operator_sends());
        needed_grants(&records)
    })
}

/// Runs the real operator (leader election on) against the fake API server through every kind of request it
/// makes: children created by server-side apply (after a GET of each the cache lacks), status patches, events
/// (a repeated one is a patch of its series), a contract violation read and patched away, a disruption budget
/// deleted, a Service, autoscaler, Ingress and HTTPRoute applied and deleted, and the Lease created, renewed and
/// released. A new kind of request belongs in here: the RBAC tests then fail until the chart grants it.
pub async fn requests_the_operator_sends() -> Vec<RequestRecord> {
    let fake = op::cluster();
    let mut lease = LeaderConfig::new(LEASE_NAME, RELEASE_NS, "rbac-probe");
    lease.lease_duration = Duration::from_secs(2);
    lease.renew_grace = Duration::from_secs(1);
    lease.retry_period = Duration::from_millis(200);
    let operator = op::start_with(fake.client(), op::settings(), Some(lease));
    op::create(
        &fake,
        "web",
        json!({
            "image": "registry.example/web:1",
            "replicas": 2,
            "config": {"data": {"greeting": "hello"}},
            "secret": {"generate": [{"key": "token", "length": 24}]},
            "storage": {"size": "1Gi", "mountPath": "/data", "accessMode": "ReadWriteMany"},
            "serviceAccount": {"automountToken": true},
            "network": {"isolation": "Ingress"},
        }),
    );
    op::eventually(&fake, "web Ready", 30, |f| op::is_ready(f, "web")).await;

    // Another manager adds two contract violations: two events of one reason, the second a patch.
    let deployments = ResourceRef::of::<Deployment>();
    let live = fake
        .get(&deployments, Some(NS), "web")
        .expect("Deployment web");
    let mut pod = live["spec"]["template"]["spec"].clone();
    pod["volumes"]
        .as_array_mut()
        .expect("volumes")
        .push(json!({"name": "host", "hostPath": {"path": "/var/lib"}}));
    pod["containers"]
        .as_array_mut()
        .expect("containers")
        .push(json!({"name": "miner", "image": "miner:1"}));
    fake.merge_patch(
        &deployments,
        Some(NS),
        "web",
        "intruder",
        json!({"spec": {"template": {"spec": pod}}}),
        false,
    )
    .expect("add violations");
    op::eventually(&fake, "a repeated event sent as a patch", 30, |f| {
        f.count(&RequestFilter::default().resource("events").verb("patch")) > 0
    })
    .await;

    // Below two replicas the disruption budget goes; without serviceAccount and network their
    // ServiceAccount and NetworkPolicy go.
    fake.merge_patch(
        &op::ssvc(),
        Some(NS),
        "web",
        "kubectl",
        json!({"spec": {"replicas": 1, "serviceAccount": null, "network": null}}),
        false,
    )
    .expect("scale down");
    op::eventually(&fake, "the budget, account and policy deleted", 30, |f| {
        ["poddisruptionbudgets", "serviceaccounts", "networkpolicies"]
            .iter()
            .all(|r| f.count(&RequestFilter::writes().resource(r).verb("delete")) > 0)
    })
    .await;
    // A service with a Service, an autoscaler and a route, as an Ingress and then as an HTTPRoute (the fake
    // serves the Gateway API from here on), each then removed: every verb of the new kinds.
    fake.serve_gateway_api();
    op::create(
        &fake,
        "front",
        json!({
            "image": "registry.example/front:1",
            "replicas": 2,
            "ports": [{"name": "http", "containerPort": 8080}],
            "resources": {"requests": {"cpu": "100m"}},
            "autoscaling": {"minReplicas": 2, "maxReplicas": 4, "cpuUtilization": 60},
            "route": {"host": "front.example.com", "ingressClassName": "nginx"},
        }),
    );
    op::eventually(&fake, "front Ready", 30, |f| op::is_ready(f, "front")).await;
    fake.merge_patch(
        &op::ssvc(),
        Some(NS),
        "front",
        "kubectl",
        json!({"spec": {"route": {"ingressClassName": null, "gatewayRef": {"name": "public"}}}}),
        false,
    )
    .expect("route through a Gateway");
    op::eventually(&fake, "the Ingress replaced by an HTTPRoute", 30, |f| {
        f.count(&RequestFilter::writes().resource("ingresses").verb("delete")) > 0
            && f.count(&RequestFilter::writes().resource("httproutes").verb("apply")) > 0
    })
    .await;
    fake.merge_patch(
        &op::ssvc(),
        Some(NS),
        "front",
        "kubectl",
        json!({"spec": {"ports": null, "route": null, "autoscaling": null}}),
        false,
    )
    .expect("unexpose");
    op::eventually(
        &fake,
        "Service, autoscaler and HTTPRoute deleted",
        30,
        |f| {
            ["services", "horizontalpodautoscalers", "httproutes"]
                .iter()
                .all(|r| f.count(&RequestFilter::writes().resource(r).verb("delete")) > 0)
        },
    )
    .await;
    // A graceful stop releases the Lease.
    operator.stop().await.expect("the operator stops cleanly");
    fake.requests()
}

/// The RBAC verbs a request is authorized as. A server-side apply is a `patch`, and an apply that creates the
/// object is authorized as `create` too.
pub fn rbac_verbs(r: &RequestRecord) -> Vec<&'static str> {
    match r.verb.as_str() {
        "apply" if r.status == 201 => vec!["patch", "create"],
        "apply" => vec!["patch"],
        "get" => vec!["get"],
        "list" => vec!["list"],
        "watch" => vec!["watch"],
        "create" => vec!["create"],
        "update" => vec!["update"],
        "patch" => vec!["patch"],
        "delete" => vec!["delete"],
        "deletecollection" => vec!["deletecollection"],
        other => panic!(
            "a request with a verb this test does not map to RBAC: {other} {}",
            r.path
        ),
    }
}

pub fn needed_grants(records: &[RequestRecord]) -> Used {
    let mut used = Used {
        operator: BTreeSet::new(),
        lease: BTreeSet::new(),
    };
    // Discovery has no resource; the client's typed APIs need none, and it is open to every authenticated user.
    for r in records.iter().filter(|r| !r.resource.is_empty()) {
        let resource = match &r.subresource {
            Some(sub) => format!("{}/{sub}", r.resource),
            None => r.resource.clone(),
        };
        for verb in rbac_verbs(r) {
            if r.resource == "leases" {
                assert_eq!(
                    r.namespace.as_deref(),
                    Some(RELEASE_NS),
                    "the Lease lives in the release namespace"
                );
                let name = r.name.clone().unwrap_or_default();
                used.lease
                    .insert((r.group.clone(), resource.clone(), verb.into(), name));
            } else {
                used.operator.insert((
                    r.group.clone(),
                    resource.clone(),
                    verb.into(),
                    String::new(),
                ));
            }
        }
    }
    used
}

/// Needed without any request of that verb: children carry ownerReferences with `blockOwnerDeletion: true`,
/// which the OwnerReferencesPermissionEnforcement admission plugin allows only to whoever may update the
/// owner's finalizers.
pub fn admission_only_grants() -> BTreeSet<Grant> {
    BTreeSet::from([(
        "stateless.dev".to_string(),
        "statelessservices/finalizers".to_string(),
        "update".to_string(),
        String::new(),
    )])
}

pub fn assert_grants_match(granted: &BTreeSet<Grant>, needed: &BTreeSet<Grant>, label: &str) {
    let missing: Vec<_> = needed.difference(granted).collect();
    let unused: Vec<_> = granted.difference(needed).collect();
    assert!(
        missing.is_empty() && unused.is_empty(),
        "{label}: the chart's RBAC and the operator's requests disagree.\n\
         needed but not granted: {missing:?}\n\
         granted but never used: {unused:?}"
    );
}
