//! Reading one workload from the cluster for `import`: a GET of the Deployment or StatefulSet,
//! then one GET per ConfigMap and PersistentVolumeClaim its pod template names (their data and
//! sizes go into the StatelessService).
//!
//! Read-only, and Secrets are never read: their values must not pass through this tool, so a
//! change tells the user which keys to copy.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim};
use kube::Client;
use kube::api::Api;
use serde_json::Value;

use super::{ImportError, Referenced, WorkloadKind};
use crate::error::request;

/// Names of the ConfigMaps and claims a pod template refers to.
pub fn references(workload: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut config_maps = BTreeSet::new();
    let mut claims = BTreeSet::new();
    let pod = workload.pointer("/spec/template/spec");
    for v in pod
        .and_then(|p| p.get("volumes"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = v.pointer("/configMap/name").and_then(Value::as_str) {
            config_maps.insert(name.to_string());
        }
        if let Some(name) = v
            .pointer("/persistentVolumeClaim/claimName")
            .and_then(Value::as_str)
        {
            claims.insert(name.to_string());
        }
    }
    for c in pod
        .and_then(|p| p.get("containers"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for e in c.get("env").and_then(Value::as_array).into_iter().flatten() {
            if let Some(name) = e
                .pointer("/valueFrom/configMapKeyRef/name")
                .and_then(Value::as_str)
            {
                config_maps.insert(name.to_string());
            }
        }
        for e in c
            .get("envFrom")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(name) = e.pointer("/configMapRef/name").and_then(Value::as_str) {
                config_maps.insert(name.to_string());
            }
        }
    }
    (config_maps, claims)
}

/// Reads `kind/name` in `namespace` and what it references.
pub async fn read(
    client: &Client,
    kind: WorkloadKind,
    namespace: &str,
    name: &str,
) -> Result<(Value, Referenced), ImportError> {
    let action = || format!("read {} {namespace}/{name}", kind.as_str());
    let found = match kind {
        WorkloadKind::Deployment => {
            let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
            request(action, api.get_opt(name))
                .await?
                .map(serde_json::to_value)
        }
        WorkloadKind::StatefulSet => {
            let api: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
            request(action, api.get_opt(name))
                .await?
                .map(serde_json::to_value)
        }
    };
    // k8s-openapi serializes apiVersion and kind, which the conversion reads.
    let workload = found
        .ok_or_else(|| ImportError::NotFound {
            kind: kind.as_str(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        })?
        .map_err(|e| ImportError::Serialize(e.to_string()))?;
    let (config_maps, claims) = references(&workload);
    let mut refs = Referenced::default();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    for cm_name in config_maps {
        let got = request(
            || format!("read ConfigMap {namespace}/{cm_name}"),
            cms.get_opt(&cm_name),
        )
        .await?;
        if let Some(cm) = got {
            let binary = cm.binary_data.unwrap_or_default().into_keys().collect();
            refs.config_maps
                .insert(cm_name, (cm.data.unwrap_or_default(), binary));
        }
    }
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    for claim in claims {
        let got = request(
            || format!("read PersistentVolumeClaim {namespace}/{claim}"),
            pvcs.get_opt(&claim),
        )
        .await?;
        if let Some(pvc) = got {
            refs.claims.insert(claim, pvc);
        }
    }
    Ok((workload, refs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_are_the_config_maps_and_claims_a_template_names() {
        let w = json!({"spec": {"template": {"spec": {
            "volumes": [
                {"name": "a", "configMap": {"name": "cm-a"}},
                {"name": "b", "persistentVolumeClaim": {"claimName": "data"}},
                {"name": "c", "secret": {"secretName": "s"}},
            ],
            "containers": [{
                "name": "app",
                "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm-b", "key": "x"}}}],
                "envFrom": [{"configMapRef": {"name": "cm-c"}}, {"secretRef": {"name": "s2"}}],
            }],
        }}}});
        let (cms, claims) = references(&w);
        assert_eq!(
            cms.into_iter().collect::<Vec<_>>(),
            vec!["cm-a", "cm-b", "cm-c"]
        );
        assert_eq!(claims.into_iter().collect::<Vec<_>>(), vec!["data"]);
    }
}
