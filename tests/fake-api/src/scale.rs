//! The scale subresource (`autoscaling/v1` `Scale`) of kinds that have one: Deployments
//! (built in) and custom resources whose CRD declares `subresources.scale` (read from its
//! `specReplicasPath`, `statusReplicasPath` and `labelSelectorPath`). A write through `/scale`
//! changes only the replicas field of the main object, as an `Update` of the writing manager
//! with subresource `scale`, so it takes ownership of that field from every other manager, as
//! on a real server. Also the simulated HorizontalPodAutoscaler controller, which scales its
//! target through this subresource, and the `FakeApi` methods of the expose kinds (the Gateway
//! API served per instance, scale writes, stored versions).

use super::store::{ApiError, CONTROLLER_MANAGER, KindInfo, State, WriteCtx};
use super::{FakeApi, ResourceRef};
use serde_json::{Value, json};

/// Where a kind keeps what its scale subresource shows (JSON paths such as `.spec.replicas`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    /// `None`: the selector is computed from `spec.selector.matchLabels` (Deployments).
    pub label_selector: Option<String>,
}

impl ScalePaths {
    /// From a CRD version's `subresources.scale`.
    pub fn from_crd(scale: &Value) -> Option<Self> {
        let s = |k: &str| scale.get(k).and_then(Value::as_str).map(String::from);
        Some(Self {
            spec_replicas: s("specReplicasPath")?,
            status_replicas: s("statusReplicasPath")?,
            label_selector: s("labelSelectorPath"),
        })
    }
}

fn pointer(path: &str) -> String {
    path.replace('.', "/")
}

fn paths(k: &KindInfo) -> Result<&ScalePaths, ApiError> {
    k.scale.as_deref().ok_or_else(|| {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    })
}

impl State {
    /// `GET .../scale`.
    pub fn get_scale(&self, k: &KindInfo, ns: Option<&str>, name: &str) -> Result<Value, ApiError> {
        let p = paths(k)?;
        let obj = self.get(k, ns, name)?;
        let selector = match &p.label_selector {
            Some(path) => obj.pointer(&pointer(path)).cloned(),
            None => obj
                .pointer("/spec/selector/matchLabels")
                .and_then(Value::as_object)
                .map(|m| {
                    let pairs: Vec<String> = m
                        .iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                        .collect();
                    json!(pairs.join(","))
                }),
        };
        let meta = &obj["metadata"];
        let mut scale = json!({
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
                "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"]},
            "spec": {},
            "status": {"replicas": obj.pointer(&pointer(&p.status_replicas)).cloned().unwrap_or(json!(0))},
        });
        if let Some(r) = obj.pointer(&pointer(&p.spec_replicas)) {
            scale["spec"]["replicas"] = r.clone();
        }
        if let Some(s) = selector {
            scale["status"]["selector"] = s;
        }
        Ok(scale)
    }

    /// A write of `replicas` through `.../scale` (PUT, or a patch already applied to the
    /// Scale): the main object's replicas field changes as an Update with subresource
    /// `scale`. `rv` is the resourceVersion precondition the Scale carried, if any.
    pub fn update_scale(
        &mut self,
        k: &KindInfo,
        ns: Option<&str>,
        name: &str,
        replicas: Value,
        rv: Option<&str>,
        ctx: &WriteCtx,
    ) -> Result<Value, ApiError> {
        let p = paths(k)?.clone();
        if !replicas.is_i64() || replicas.as_i64().is_some_and(|n| n < 0) {
            return Err(ApiError::invalid(
                k,
                name,
                "spec.replicas: Invalid value: must be greater than or equal to 0",
            ));
        }
        let old = self.get(k, ns, name)?;
        if let Some(rv) = rv.filter(|r| !r.is_empty())
            && old
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                != Some(rv)
        {
            return Err(ApiError::conflict(k, name));
        }
        let mut cand = old.clone();
        let ptr = pointer(&p.spec_replicas);
        let (parent, field) = ptr.rsplit_once('/').unwrap_or(("", &ptr));
        match cand.pointer_mut(parent).and_then(Value::as_object_mut) {
            Some(m) => {
                m.insert(field.to_string(), replicas);
            }
            None => return Err(ApiError::invalid(k, name, "spec: Required value")),
        }
        let mut ctx = ctx.clone();
        ctx.subresource = Some("scale".into());
        let key = Self::key(k, ns, name);
        self.write_existing(k, key, old, cand, &ctx, None)?;
        self.get_scale(k, ns, name)
    }

    /// The simulated HorizontalPodAutoscaler controller, after a write of an autoscaler: it
    /// keeps its target within `[minReplicas, maxReplicas]` through the target's scale
    /// subresource and reports `currentReplicas`/`desiredReplicas` in its status.
    pub(crate) fn sim_autoscaler(&mut self, hpa: &Value) {
        let (Some(ns), Some(name)) = (
            hpa.pointer("/metadata/namespace").and_then(Value::as_str),
            hpa.pointer("/metadata/name").and_then(Value::as_str),
        ) else {
            return;
        };
        let target = hpa
            .pointer("/spec/scaleTargetRef/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let Some(dk) = self.kind("apps", "deployments") else {
            return;
        };
        let Ok(deployment) = self.get(&dk, Some(ns), target) else {
            return;
        };
        let current = deployment
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let min = hpa
            .pointer("/spec/minReplicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let max = hpa
            .pointer("/spec/maxReplicas")
            .and_then(Value::as_i64)
            .unwrap_or(current);
        let desired = current.clamp(min, max.max(min));
        self.autoscale(ns, name, target, current, desired);
    }

    /// What the autoscaler `name` does when it decides on `desired` pods for its target.
    pub(crate) fn autoscale(
        &mut self,
        ns: &str,
        name: &str,
        target: &str,
        current: i64,
        desired: i64,
    ) {
        let ctx = WriteCtx::new(CONTROLLER_MANAGER);
        if current != desired
            && let Some(dk) = self.kind("apps", "deployments")
        {
            let _ = self.update_scale(&dk, Some(ns), target, json!(desired), None, &ctx);
        }
        let Some(hk) = self.kind("autoscaling", "horizontalpodautoscalers") else {
            return;
        };
        let key = Self::key(&hk, Some(ns), name);
        self.internal_update(&hk, &key, &ctx.status(), move |o| {
            o["status"] = json!({"currentReplicas": desired, "desiredReplicas": desired});
        });
    }
}

/// Exposing and scaling, as another actor or the cluster.
impl FakeApi {
    /// Serve the Gateway API's HTTPRoute (`gateway.networking.k8s.io/v1`), as installing its
    /// CRDs does; a fake serves it only after this, so tests can run with and without it.
    pub fn serve_gateway_api(&self) {
        self.register(
            KindInfo::new("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes")
                .with_status(),
        );
    }

    /// HorizontalPodAutoscaler controller: after every write of an autoscaler it keeps the
    /// target Deployment's replicas within `[minReplicas, maxReplicas]`, writing them through
    /// the Deployment's scale subresource as `kube-controller-manager` (which takes ownership
    /// of `spec.replicas`), and reports them in the autoscaler's status.
    pub fn simulate_autoscalers(&self, on: bool) {
        self.state().sim_autoscalers = on;
    }

    /// The autoscaler `ns/name` decides on `desired` pods for its target, as the simulated
    /// controller does (scale write and status).
    pub fn autoscale(&self, ns: &str, name: &str, desired: i64) {
        let mut st = self.state();
        let Some(hk) = st.kind("autoscaling", "horizontalpodautoscalers") else {
            return;
        };
        let Ok(hpa) = st.get(&hk, Some(ns), name) else {
            return;
        };
        let target = hpa
            .pointer("/spec/scaleTargetRef/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let current = st
            .kind("apps", "deployments")
            .and_then(|dk| st.get(&dk, Some(ns), &target).ok())
            .and_then(|d| d.pointer("/spec/replicas").and_then(Value::as_i64))
            .unwrap_or(1);
        st.autoscale(ns, name, &target, current, desired);
    }

    /// `GET .../scale` of an object.
    pub fn get_scale(
        &self,
        res: &ResourceRef,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        let k = self.kind(res)?;
        self.state().get_scale(&k, ns, name)
    }

    /// A write of `replicas` through `.../scale` as `manager` (what `kubectl scale` does).
    pub fn scale(
        &self,
        res: &ResourceRef,
        ns: Option<&str>,
        name: &str,
        replicas: i64,
        manager: &str,
    ) -> Result<Value, ApiError> {
        let k = self.kind(res)?;
        self.state()
            .update_scale(&k, ns, name, json!(replicas), None, &WriteCtx::new(manager))
    }

    /// Every version of an object the fake stored that is still in the event history (each
    /// create and update, oldest first; deletions left out).
    pub fn versions(&self, res: &ResourceRef, ns: Option<&str>, name: &str) -> Vec<Value> {
        let st = self.state();
        st.history
            .iter()
            .filter(|e| e.group == res.group && e.plural == res.plural && e.etype != "DELETED")
            .filter(|e| {
                e.object.pointer("/metadata/name").and_then(Value::as_str) == Some(name)
                    && e.object
                        .pointer("/metadata/namespace")
                        .and_then(Value::as_str)
                        == ns
            })
            .map(|e| e.object.clone())
            .collect()
    }
}
