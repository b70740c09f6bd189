//! The live cluster as audit input: every object is read with paged `list` requests (`limit`
//! and `continue`), never one GET per object, and each page is checked and dropped before the
//! next one is read, so memory follows the page size and the findings, not the cluster.
//!
//! Read-only by construction: the only handle on the API this module holds is [`Lister`],
//! which can do nothing but list. It needs `list` on the kinds below (see the README's
//! ClusterRole) and nothing else.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

use super::check::check;
use super::workload::{Context, Workload, controller_kind, has_controller};
use super::{AuditError, Report, WorkloadReport};

/// Objects per list request: large enough that 10,000 workloads take 20 requests per kind,
/// small enough that one page of Pods stays a few megabytes.
pub const PAGE_SIZE: u32 = 500;

/// What to list.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// One namespace, or every namespace when `None`.
    pub namespace: Option<String>,
    /// A label selector for the workloads (passed to the API server as is).
    pub selector: Option<String>,
    /// Objects per list request ([`PAGE_SIZE`] when 0).
    pub page_size: u32,
}

/// Lists one kind, page by page. The only operation on the API this module has.
struct Lister<K> {
    api: Api<K>,
    what: &'static str,
    page_size: u32,
}

impl<K> Lister<K>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    fn new(client: &Client, scope: &Scope, what: &'static str) -> Self {
        let api = match &scope.namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        Lister {
            api,
            what,
            page_size: if scope.page_size == 0 {
                PAGE_SIZE
            } else {
                scope.page_size
            },
        }
    }
}

impl<K> Lister<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    fn cluster(client: &Client, what: &'static str, page_size: u32) -> Self {
        Lister {
            api: Api::all(client.clone()),
            what,
            page_size: if page_size == 0 { PAGE_SIZE } else { page_size },
        }
    }

    /// Calls `each` with every page; returns the number of objects.
    async fn pages(
        &self,
        selector: Option<&str>,
        mut each: impl FnMut(Vec<K>),
    ) -> Result<usize, AuditError> {
        let mut params = ListParams::default().limit(self.page_size);
        if let Some(s) = selector {
            params = params.labels(s);
        }
        let mut count = 0;
        loop {
            let page =
                crate::error::request(|| format!("list {}", self.what), self.api.list(&params))
                    .await
                    .map_err(|error| AuditError::List {
                        what: self.what,
                        error,
                    })?;
            count += page.items.len();
            each(page.items);
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => return Ok(count),
            }
        }
    }
}

/// Lists PersistentVolumes, or explains why the node-local rule cannot run (they are
/// cluster-scoped: a namespaced audit may not be allowed to list them).
async fn volumes(client: &Client, scope: &Scope, ctx: &mut Context, notes: &mut Vec<String>) {
    let lister: Lister<PersistentVolume> =
        Lister::cluster(client, "persistentvolumes", scope.page_size);
    let result = lister
        .pages(None, |page| page.iter().for_each(|pv| ctx.add_volume(pv)))
        .await;
    if let Err(e) = result {
        notes.push(format!(
            "the local-persistent-volume rule was skipped: cannot list PersistentVolumes ({e})"
        ));
    }
}

/// Audits the workloads of `scope`. Nothing is written.
pub async fn audit_cluster(client: &Client, scope: &Scope) -> Result<Report, AuditError> {
    let mut ctx = Context::default();
    let mut notes = Vec::new();
    let default_ns = scope
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_string());
    let ns = default_ns.as_str();

    // The context first: it is small (selectors, access modes, flags), and every workload
    // check needs it.
    let mut bad_budgets = Vec::new();
    Lister::<PodDisruptionBudget>::new(client, scope, "poddisruptionbudgets")
        .pages(None, |page| {
            for pdb in &page {
                if let Err(e) = ctx.add_budget(pdb, ns) {
                    bad_budgets.push(format!(
                        "PodDisruptionBudget {}/{} ignored: {e}",
                        pdb.metadata.namespace.as_deref().unwrap_or(ns),
                        pdb.metadata.name.as_deref().unwrap_or("")
                    ));
                }
            }
        })
        .await?;
    notes.extend(bad_budgets);
    Lister::<PersistentVolumeClaim>::new(client, scope, "persistentvolumeclaims")
        .pages(None, |page| page.iter().for_each(|c| ctx.add_claim(c, ns)))
        .await?;
    Lister::<ServiceAccount>::new(client, scope, "serviceaccounts")
        .pages(None, |page| {
            page.iter().for_each(|sa| ctx.add_service_account(sa, ns))
        })
        .await?;
    volumes(client, scope, &mut ctx, &mut notes).await;

    let mut reports = Vec::new();
    let selector = scope.selector.as_deref();
    let mut audit = |w: Workload| {
        let findings = check(&w, &ctx);
        reports.push(WorkloadReport::new(&w, findings));
    };
    Lister::<Deployment>::new(client, scope, "deployments")
        .pages(selector, |page| {
            page.into_iter()
                .for_each(|d| audit(Workload::from_deployment(d, ns)))
        })
        .await?;
    Lister::<StatefulSet>::new(client, scope, "statefulsets")
        .pages(selector, |page| {
            page.into_iter()
                .for_each(|s| audit(Workload::from_stateful_set(s, ns)))
        })
        .await?;
    Lister::<DaemonSet>::new(client, scope, "daemonsets")
        .pages(selector, |page| {
            page.into_iter()
                .for_each(|d| audit(Workload::from_daemon_set(d, ns)))
        })
        .await?;
    Lister::<ReplicaSet>::new(client, scope, "replicasets")
        .pages(selector, |page| {
            page.into_iter()
                // A Deployment's ReplicaSets are audited through the Deployment.
                .filter(|r| controller_kind(&r.metadata) != Some("Deployment"))
                .for_each(|r| audit(Workload::from_replica_set(r, ns)))
        })
        .await?;
    Lister::<CronJob>::new(client, scope, "cronjobs")
        .pages(selector, |page| {
            page.into_iter()
                .for_each(|c| audit(Workload::from_cron_job(c, ns)))
        })
        .await?;
    Lister::<Job>::new(client, scope, "jobs")
        .pages(selector, |page| {
            page.into_iter()
                .filter(|j| controller_kind(&j.metadata) != Some("CronJob"))
                .for_each(|j| audit(Workload::from_job(j, ns)))
        })
        .await?;
    Lister::<Pod>::new(client, scope, "pods")
        .pages(selector, |page| {
            page.into_iter()
                // Pods of a controller are audited through the controller.
                .filter(|p| !has_controller(&p.metadata))
                .for_each(|p| audit(Workload::from_pod(p, ns)))
        })
        .await?;
    Ok(Report {
        workloads: reports,
        notes,
    })
}
