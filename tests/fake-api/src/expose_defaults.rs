//! Defaulting and allocation for the kinds that expose and scale a workload, modelled on a
//! v1.36 API server: Service (`SetDefaults_Service` in `pkg/apis/core/v1/defaults.go`, plus
//! what the Service registry allocates: `clusterIP`/`clusterIPs`, `ipFamilies`,
//! `ipFamilyPolicy`, node ports), HorizontalPodAutoscaler (`pkg/apis/autoscaling/v2/
//! defaults.go`: `minReplicas` 1, 80 % CPU when no metric is given, `behavior` defaulted only
//! when set) and the Gateway API HTTPRoute (the defaults its CRD schema declares). Ingress has
//! no defaults (`pathType` is required). Allocation is deterministic (a hash of the object's
//! key) and kept across updates that omit it, as the real registry keeps allocated values.

use super::store::KindInfo;
use serde_json::{Value, json};

fn set_default(o: &mut Value, field: &str, v: Value) {
    if let Some(m) = o.as_object_mut() {
        m.entry(field).or_insert(v);
    }
}

/// FNV-1a, for deterministic allocation.
fn hash(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Defaults of `k` (the expose kinds only), before allocation.
pub(crate) fn apply(k: &KindInfo, obj: &mut Value) {
    match (k.group.as_str(), k.plural.as_str()) {
        ("", "services") => service(obj),
        ("autoscaling", "horizontalpodautoscalers") => autoscaler(obj),
        ("gateway.networking.k8s.io", "httproutes") => http_route(obj),
        _ => {}
    }
}

fn service(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    set_default(spec, "type", json!("ClusterIP"));
    set_default(spec, "sessionAffinity", json!("None"));
    let type_ = spec["type"].as_str().unwrap_or("ClusterIP").to_string();
    if type_ != "ExternalName" {
        set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if matches!(type_.as_str(), "NodePort" | "LoadBalancer") {
        set_default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if type_ == "LoadBalancer" {
        set_default(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    if spec["sessionAffinity"] == "ClientIP" {
        set_default(
            spec,
            "sessionAffinityConfig",
            json!({"clientIP": {"timeoutSeconds": 10800}}),
        );
    }
    if let Some(Value::Array(ports)) = spec.get_mut("ports") {
        for p in ports.iter_mut() {
            set_default(p, "protocol", json!("TCP"));
            if p.get("targetPort")
                .is_none_or(|t| t == &json!(0) || t == &json!(""))
            {
                let port = p.get("port").cloned().unwrap_or(Value::Null);
                if let Some(m) = p.as_object_mut() {
                    m.insert("targetPort".into(), port);
                }
            }
        }
    }
}

/// What the Service registry allocates on create and keeps on update: the cluster IP (with
/// its single-stack IPv4 family) and, for NodePort and LoadBalancer, a node port per port.
/// Changing the type to ClusterIP drops the node ports and the external traffic fields.
pub(crate) fn allocate(k: &KindInfo, key: (&str, &str), old: Option<&Value>, obj: &mut Value) {
    if !k.group.is_empty() || k.plural != "services" {
        return;
    }
    let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    let old_spec = old.and_then(|o| o.get("spec"));
    let type_ = spec["type"].as_str().unwrap_or("ClusterIP").to_string();
    if type_ == "ExternalName" {
        return;
    }
    let h = hash(&[key.0, key.1]);
    let ip = old_spec
        .and_then(|s| s.get("clusterIP"))
        .cloned()
        .unwrap_or_else(|| json!(format!("10.96.{}.{}", (h >> 8) & 0xff, 1 + (h & 0xfd))));
    set_default(spec, "clusterIP", ip.clone());
    set_default(spec, "clusterIPs", json!([ip]));
    set_default(spec, "ipFamilies", json!(["IPv4"]));
    set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
    let node_ports = matches!(type_.as_str(), "NodePort" | "LoadBalancer");
    if !node_ports && let Some(m) = spec.as_object_mut() {
        m.remove("externalTrafficPolicy");
        m.remove("allocateLoadBalancerNodePorts");
    }
    let old_ports: Vec<Value> = old_spec
        .and_then(|s| s.get("ports"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(Value::Array(ports)) = spec.get_mut("ports") {
        for p in ports.iter_mut() {
            let Some(m) = p.as_object_mut() else { continue };
            if !node_ports {
                m.remove("nodePort");
                continue;
            }
            if m.contains_key("nodePort") {
                continue;
            }
            let same = |o: &&Value| {
                o.get("port") == m.get("port") && o.get("protocol") == m.get("protocol")
            };
            let node_port = old_ports
                .iter()
                .find(same)
                .and_then(|o| o.get("nodePort").cloned())
                .unwrap_or_else(|| {
                    let name = m.get("name").and_then(Value::as_str).unwrap_or("");
                    let port = m.get("port").map(Value::to_string).unwrap_or_default();
                    json!(30000 + hash(&[key.0, key.1, name, &port]) % 2768)
                });
            m.insert("nodePort".into(), node_port);
        }
    }
}

fn autoscaler(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    set_default(spec, "minReplicas", json!(1));
    if spec
        .get("metrics")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        spec["metrics"] = json!([{"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": 80}}}]);
    }
    if let Some(behavior) = spec.get_mut("behavior").filter(|b| b.is_object()) {
        set_default(behavior, "scaleUp", json!({}));
        set_default(behavior, "scaleDown", json!({}));
        let up = &mut behavior["scaleUp"];
        set_default(up, "stabilizationWindowSeconds", json!(0));
        set_default(up, "selectPolicy", json!("Max"));
        set_default(
            up,
            "policies",
            json!([{"type": "Pods", "value": 4, "periodSeconds": 15},
                   {"type": "Percent", "value": 100, "periodSeconds": 15}]),
        );
        let down = &mut behavior["scaleDown"];
        set_default(down, "selectPolicy", json!("Max"));
        set_default(
            down,
            "policies",
            json!([{"type": "Percent", "value": 100, "periodSeconds": 15}]),
        );
    }
}

fn http_route(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    if let Some(Value::Array(parents)) = spec.get_mut("parentRefs") {
        for p in parents.iter_mut() {
            set_default(p, "group", json!("gateway.networking.k8s.io"));
            set_default(p, "kind", json!("Gateway"));
        }
    }
    set_default(
        spec,
        "rules",
        json!([{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}]),
    );
    if let Some(Value::Array(rules)) = spec.get_mut("rules") {
        for r in rules.iter_mut() {
            set_default(
                r,
                "matches",
                json!([{"path": {"type": "PathPrefix", "value": "/"}}]),
            );
            if let Some(Value::Array(backends)) = r.get_mut("backendRefs") {
                for b in backends.iter_mut() {
                    set_default(b, "group", json!(""));
                    set_default(b, "kind", json!("Service"));
                    set_default(b, "weight", json!(1));
                }
            }
        }
    }
}
