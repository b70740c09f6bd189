//! The pod's extra containers: declared init containers and sidecars (Kubernetes native
//! sidecars: init containers with `restartPolicy: Always`, started before the main container
//! and kept running beside it).
//!
//! Each gets the main container's contract: the same security context (read-only root, no
//! privilege escalation, not privileged, every capability dropped, non-root) and the same
//! mounts (the shared `/tmp` and the declared ones, nothing else writable), and no volume of its
//! own. Sidecars come first in `initContainers`, so that they already run when the declared init
//! containers do (a database proxy a migration needs), then the init containers in their order.
//! Pure; the contract check on live Deployments is `planning::contract`.

use k8s_openapi::api::core::v1::{Container, ContainerPort, EnvVar, VolumeMount};

use super::container_security_context;
use crate::crd::{self, StatelessServiceSpec};

/// `restartPolicy` that makes an init container a native sidecar.
pub const SIDECAR_RESTART_POLICY: &str = "Always";

fn env(vars: Option<&Vec<crd::EnvVar>>) -> Option<Vec<EnvVar>> {
    let env: Vec<EnvVar> = vars
        .into_iter()
        .flatten()
        .map(|v| EnvVar {
            name: v.name.clone(),
            value: v.value.clone(),
            value_from: None,
        })
        .collect();
    (!env.is_empty()).then_some(env)
}

/// The pod's `initContainers`: every sidecar, then every init container, each with `mounts`
/// (the main container's) and the contract's security context. `None` when there are none.
pub fn init_containers(spec: &StatelessServiceSpec, mounts: &[VolumeMount]) -> Option<Vec<Container>> {
    let mut out = Vec::new();
    for sidecar in spec.sidecars.iter().flatten() {
        let ports: Vec<ContainerPort> = sidecar
            .ports
            .iter()
            .flatten()
            .map(|p| ContainerPort {
                name: Some(p.name.clone()),
                container_port: p.container_port,
                protocol: Some(p.protocol.as_str().to_string()),
                ..ContainerPort::default()
            })
            .collect();
        out.push(Container {
            name: sidecar.name.clone(),
            image: Some(sidecar.image.clone()),
            command: sidecar.command.clone(),
            args: sidecar.args.clone(),
            env: env(sidecar.env.as_ref()),
            ports: (!ports.is_empty()).then_some(ports),
            resources: sidecar.resources.clone(),
            readiness_probe: sidecar.readiness_probe.clone(),
            liveness_probe: sidecar.liveness_probe.clone(),
            startup_probe: sidecar.startup_probe.clone(),
            restart_policy: Some(SIDECAR_RESTART_POLICY.to_string()),
            security_context: Some(container_security_context()),
            volume_mounts: Some(mounts.to_vec()),
            ..Container::default()
        });
    }
    for init in spec.init_containers.iter().flatten() {
        out.push(Container {
            name: init.name.clone(),
            image: Some(init.image.clone()),
            command: init.command.clone(),
            args: init.args.clone(),
            env: env(init.env.as_ref()),
            resources: init.resources.clone(),
            security_context: Some(container_security_context()),
            volume_mounts: Some(mounts.to_vec()),
            ..Container::default()
        });
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn spec(v: Value) -> StatelessServiceSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn none_without_extra_containers() {
        assert!(init_containers(&spec(json!({"image": "x"})), &[]).is_none());
    }

    #[test]
    fn sidecars_first_then_init_containers_each_under_the_contract() {
        let s = spec(json!({"image": "x",
            "sidecars": [{"name": "proxy", "image": "p:1", "ports": [{"name": "admin", "containerPort": 9901}],
                          "env": [{"name": "A", "value": "1"}], "startupProbe": {"tcpSocket": {"port": 9901}}}],
            "initContainers": [{"name": "migrate", "image": "m:1", "args": ["up"]}]}));
        let mounts = [VolumeMount {
            name: "scratch".into(),
            mount_path: "/tmp".into(),
            read_only: Some(false),
            ..VolumeMount::default()
        }];
        let built = serde_json::to_value(init_containers(&s, &mounts).unwrap()).unwrap();
        assert_eq!(built[0]["name"], "proxy");
        assert_eq!(built[0]["restartPolicy"], "Always");
        assert_eq!(built[0]["ports"], json!([{"name": "admin", "containerPort": 9901, "protocol": "TCP"}]));
        assert_eq!(built[0]["env"], json!([{"name": "A", "value": "1"}]));
        assert_eq!(built[0]["startupProbe"]["tcpSocket"]["port"], 9901);
        assert_eq!(built[1]["name"], "migrate");
        assert!(built[1].get("restartPolicy").is_none(), "an init container runs to completion");
        assert_eq!(built[1]["args"], json!(["up"]));
        for c in built.as_array().unwrap() {
            assert_eq!(
                c["securityContext"],
                json!({"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
                       "privileged": false, "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}})
            );
            assert_eq!(c["volumeMounts"], json!([{"name": "scratch", "mountPath": "/tmp", "readOnly": false}]));
        }
    }
}
