//! The CEL rules of issues 11 and 12, each broken by one change to `base()`.

use super::Case;

/// The Service, the route, autoscaling and rollout.
pub(super) const EXPOSE_AND_SCALE: &[Case] = &[
    Case {
        rule: "route needs a kind (neither)",
        changes: &[
            ("/spec/route/ingressClassName", "null"),
            ("/spec/route/tls", "null"),
        ],
        old_changes: None,
        expect: ("spec.route", "exactly one of ingressClassName"),
    },
    Case {
        rule: "route needs one kind (both)",
        changes: &[("/spec/route/gatewayRef", r#"{"name": "public"}"#)],
        old_changes: None,
        expect: ("spec.route", "exactly one of ingressClassName"),
    },
    Case {
        rule: "route tls only for an Ingress",
        changes: &[
            ("/spec/route/ingressClassName", "null"),
            ("/spec/route/gatewayRef", r#"{"name": "public"}"#),
        ],
        old_changes: None,
        expect: ("spec.route.tls", "route.tls is for an Ingress only"),
    },
    Case {
        rule: "route host is a DNS name",
        changes: &[("/spec/route/host", r#""Shop.example.com""#)],
        old_changes: None,
        expect: ("spec.route.host", "must be a DNS name (lowercase"),
    },
    Case {
        rule: "route host wildcard only as the first label",
        changes: &[("/spec/route/host", r#""shop.*.example.com""#)],
        old_changes: None,
        expect: ("spec.route.host", "must be a DNS name (lowercase"),
    },
    Case {
        rule: "route host not an IP address",
        changes: &[("/spec/route/host", r#""10.0.0.1""#)],
        old_changes: None,
        expect: ("spec.route.host", "not an IP address"),
    },
    Case {
        rule: "route path absolute",
        changes: &[("/spec/route/path", r#""api""#)],
        old_changes: None,
        expect: ("spec.route.path", "absolute URL path"),
    },
    Case {
        rule: "route path without dot segments",
        changes: &[("/spec/route/path", r#""/api/../admin""#)],
        old_changes: None,
        expect: ("spec.route.path", "absolute URL path"),
    },
    Case {
        rule: "route path without //",
        changes: &[("/spec/route/path", r#""/api//v1""#)],
        old_changes: None,
        expect: ("spec.route.path", "absolute URL path"),
    },
    Case {
        rule: "route path not ending in /.",
        changes: &[("/spec/route/path", r#""/api/.""#)],
        old_changes: None,
        expect: ("spec.route.path", "absolute URL path"),
    },
    Case {
        rule: "route path without %2f",
        changes: &[("/spec/route/path", r#""/a%2fb""#)],
        old_changes: None,
        expect: ("spec.route.path", "absolute URL path"),
    },
    Case {
        rule: "route path characters",
        changes: &[("/spec/route/path", r#""/a b""#)],
        old_changes: None,
        expect: ("spec.route.path", "absolute URL path"),
    },
    Case {
        rule: "route port is a port name",
        changes: &[("/spec/route/port", r#""HTTP""#)],
        old_changes: None,
        expect: ("spec.route.port", "IANA service name"),
    },
    Case {
        rule: "route port names a declared port",
        changes: &[("/spec/route/port", r#""admin""#)],
        old_changes: None,
        expect: ("spec.route.port", "must name a port declared in ports"),
    },
    Case {
        rule: "the named route port is TCP",
        changes: &[
            ("/spec/ports/1/protocol", r#""UDP""#),
            ("/spec/route/port", r#""metrics""#),
        ],
        old_changes: None,
        expect: ("spec.route.port", "must use protocol TCP"),
    },
    Case {
        rule: "the default route port (the first) is TCP",
        changes: &[("/spec/ports/0/protocol", r#""SCTP""#)],
        old_changes: None,
        expect: ("spec.route.port", "must use protocol TCP"),
    },
    Case {
        rule: "route needs ports",
        changes: &[("/spec/ports", "null")],
        old_changes: None,
        expect: ("spec.route", "route needs ports"),
    },
    Case {
        rule: "route needs ports (empty list)",
        changes: &[("/spec/ports", "[]")],
        old_changes: None,
        expect: ("spec.route", "route needs ports"),
    },
    Case {
        rule: "ingress class is a DNS subdomain",
        changes: &[("/spec/route/ingressClassName", r#""Nginx_Public""#)],
        old_changes: None,
        expect: (
            "spec.route.ingressClassName",
            "ingress class name is a DNS subdomain",
        ),
    },
    Case {
        rule: "TLS secret is a DNS subdomain",
        changes: &[("/spec/route/tls/secretName", r#""Shop_TLS""#)],
        old_changes: None,
        expect: (
            "spec.route.tls.secretName",
            "Secret name is a DNS subdomain",
        ),
    },
    Case {
        rule: "gateway name is a DNS subdomain",
        changes: &[
            ("/spec/route/ingressClassName", "null"),
            ("/spec/route/tls", "null"),
            ("/spec/route/gatewayRef", r#"{"name": "Public"}"#),
        ],
        old_changes: None,
        expect: (
            "spec.route.gatewayRef.name",
            "Gateway name is a DNS subdomain",
        ),
    },
    Case {
        rule: "gateway namespace is a DNS label",
        changes: &[
            ("/spec/route/ingressClassName", "null"),
            ("/spec/route/tls", "null"),
            (
                "/spec/route/gatewayRef",
                r#"{"name": "public", "namespace": "infra.system"}"#,
            ),
        ],
        old_changes: None,
        expect: (
            "spec.route.gatewayRef.namespace",
            "namespace is a DNS label",
        ),
    },
    Case {
        rule: "minReplicas <= maxReplicas",
        changes: &[("/spec/autoscaling/minReplicas", "11")],
        old_changes: None,
        expect: (
            "spec.autoscaling.minReplicas",
            "must not be greater than autoscaling.maxReplicas",
        ),
    },
    Case {
        rule: "autoscaling needs a target",
        changes: &[("/spec/autoscaling/cpuUtilization", "null")],
        old_changes: None,
        expect: ("spec.autoscaling", "autoscaling needs a target"),
    },
    Case {
        rule: "a CPU target needs a CPU request",
        changes: &[("/spec/resources", "null")],
        old_changes: None,
        expect: (
            "spec.autoscaling.cpuUtilization",
            "needs resources.requests.cpu (or limits.cpu, which Kubernetes copies into an unset request): utilisation is a percentage of the request, and without one the autoscaler can never compute it",
        ),
    },
    Case {
        rule: "a CPU target needs a CPU request (other requests do not count)",
        changes: &[(
            "/spec/resources",
            r#"{"requests": {"memory": "1Gi"}, "limits": {"memory": "1Gi"}}"#,
        )],
        old_changes: None,
        expect: (
            "spec.autoscaling.cpuUtilization",
            "needs resources.requests.cpu",
        ),
    },
    Case {
        rule: "a memory target needs a memory request",
        changes: &[
            ("/spec/autoscaling/memoryUtilization", "80"),
            ("/spec/resources", r#"{"requests": {"cpu": "100m"}}"#),
        ],
        old_changes: None,
        expect: (
            "spec.autoscaling.memoryUtilization",
            "needs resources.requests.memory",
        ),
    },
    Case {
        rule: "maxReplicas > 1 with storage needs RWX",
        changes: &[
            ("/spec/replicas", "1"),
            ("/spec/storage/accessMode", r#""ReadWriteOnce""#),
        ],
        old_changes: None,
        expect: (
            "spec.storage.accessMode",
            "autoscaling.maxReplicas > 1 with storage requires storage.accessMode ReadWriteMany",
        ),
    },
    Case {
        rule: "maxSurge is not 0",
        changes: &[("/spec/rollout/maxSurge", "0")],
        old_changes: None,
        expect: (
            "spec.rollout.maxSurge",
            "must be a number of pods of at least 1",
        ),
    },
    Case {
        rule: "maxSurge is not negative",
        changes: &[("/spec/rollout/maxSurge", "-1")],
        old_changes: None,
        expect: (
            "spec.rollout.maxSurge",
            "must be a number of pods of at least 1",
        ),
    },
    Case {
        rule: "maxSurge is not 0%",
        changes: &[("/spec/rollout/maxSurge", r#""0%""#)],
        old_changes: None,
        expect: (
            "spec.rollout.maxSurge",
            "must be a number of pods of at least 1",
        ),
    },
    Case {
        rule: "maxSurge is not 00%",
        changes: &[("/spec/rollout/maxSurge", r#""00%""#)],
        old_changes: None,
        expect: (
            "spec.rollout.maxSurge",
            "must be a number of pods of at least 1",
        ),
    },
    Case {
        rule: "maxSurge as a string is a percentage",
        changes: &[("/spec/rollout/maxSurge", r#""25""#)],
        old_changes: None,
        expect: (
            "spec.rollout.maxSurge",
            "must be a number of pods of at least 1",
        ),
    },
    Case {
        rule: "maxSurge percentage is a whole number",
        changes: &[("/spec/rollout/maxSurge", r#""2.5%""#)],
        old_changes: None,
        expect: (
            "spec.rollout.maxSurge",
            "must be a number of pods of at least 1",
        ),
    },
];

/// The pod's identity, network, foreign references and extra containers.
pub(super) const POD: &[Case] = &[
    Case {
        rule: "audience needs a mounted token",
        changes: &[("/spec/serviceAccount/automountToken", "false")],
        old_changes: None,
        expect: (
            "spec.serviceAccount.audience",
            "audience of the mounted token: it needs automountToken: true",
        ),
    },
    Case {
        rule: "allowFrom needs isolation Ingress",
        changes: &[("/spec/network/isolation", r#""None""#)],
        old_changes: None,
        expect: ("spec.network.allowFrom", "needs isolation: Ingress"),
    },
    Case {
        rule: "a peer needs a selector or an ipBlock",
        changes: &[("/spec/network/allowFrom/0", "{}")],
        old_changes: None,
        expect: (
            "spec.network.allowFrom[0]",
            "needs podSelector, namespaceSelector or ipBlock",
        ),
    },
    Case {
        rule: "ipBlock stands alone",
        changes: &[(
            "/spec/network/egress/0/to/0",
            r#"{"ipBlock": {"cidr": "10.0.0.0/8"}, "namespaceSelector": {}}"#,
        )],
        old_changes: None,
        expect: (
            "spec.network.egress[0].to[0].ipBlock",
            "ipBlock cannot be combined",
        ),
    },
    Case {
        rule: "In needs values",
        changes: &[(
            "/spec/network/allowFrom/1/namespaceSelector/matchExpressions/0/values",
            "null",
        )],
        old_changes: None,
        expect: (
            "spec.network.allowFrom[1].namespaceSelector.matchExpressions[0].values",
            "In or NotIn needs values",
        ),
    },
    Case {
        rule: "Exists takes no values",
        changes: &[(
            "/spec/network/allowFrom/1/namespaceSelector/matchExpressions/0/operator",
            r#""Exists""#,
        )],
        old_changes: None,
        expect: (
            "spec.network.allowFrom[1].namespaceSelector.matchExpressions[0].values",
            "Exists and DoesNotExist take none",
        ),
    },
    Case {
        rule: "endPort not below port",
        changes: &[(
            "/spec/network/egress/0/ports/0",
            r#"{"port": 5432, "endPort": 5000}"#,
        )],
        old_changes: None,
        expect: (
            "spec.network.egress[0].ports[0].endPort",
            "endPort must not be below port",
        ),
    },
    Case {
        rule: "a foreign ConfigMap name is a DNS subdomain",
        changes: &[("/spec/config/from/0/name", r#""Flags_1""#)],
        old_changes: None,
        expect: (
            "spec.config.from[0].name",
            "ConfigMap or Secret name is a DNS subdomain",
        ),
    },
    Case {
        rule: "a foreign mount path is a mount path",
        changes: &[("/spec/config/from/0/mountPath", r#""/tmp/flags""#)],
        old_changes: None,
        expect: ("spec.config.from[0].mountPath", "/tmp"),
    },
    Case {
        rule: "a foreign mount path is normalised",
        changes: &[("/spec/secret/from/0/mountPath", r#""/etc/db/""#)],
        old_changes: None,
        expect: ("spec.secret.from[0].mountPath", "absolute, normalised path"),
    },
    Case {
        rule: "a foreign reference is used",
        changes: &[("/spec/secret/from/0/env", "false")],
        old_changes: None,
        expect: ("spec.secret.from[0]", "needs mountPath or env: true"),
    },
    Case {
        rule: "a sidecar name is a DNS label",
        changes: &[("/spec/sidecars/0/name", r#""Proxy""#)],
        old_changes: None,
        expect: ("spec.sidecars[0].name", "container name is a DNS label"),
    },
    Case {
        rule: "a sidecar is not called app",
        changes: &[("/spec/sidecars/0/name", r#""app""#)],
        old_changes: None,
        expect: (
            "spec.sidecars[0].name",
            "'app' is the name of the main container",
        ),
    },
    Case {
        rule: "an init container name is a DNS label",
        changes: &[("/spec/initContainers/0/name", r#""db.migrate""#)],
        old_changes: None,
        expect: (
            "spec.initContainers[0].name",
            "container name is a DNS label",
        ),
    },
    Case {
        rule: "an init container is not called app",
        changes: &[("/spec/initContainers/0/name", r#""app""#)],
        old_changes: None,
        expect: (
            "spec.initContainers[0].name",
            "'app' is the name of the main container",
        ),
    },
    Case {
        rule: "container names unique across sidecars and init containers",
        changes: &[("/spec/initContainers/0/name", r#""proxy""#)],
        old_changes: None,
        expect: (
            "spec.initContainers",
            "container names must be unique across both",
        ),
    },
    Case {
        rule: "a sidecar image has no spaces",
        changes: &[("/spec/sidecars/0/image", r#""envoy 1.31""#)],
        old_changes: None,
        expect: ("spec.sidecars[0].image", "must not contain spaces"),
    },
    Case {
        rule: "an init container image has no spaces",
        changes: &[("/spec/initContainers/0/image", r#""shop 1""#)],
        old_changes: None,
        expect: ("spec.initContainers[0].image", "must not contain spaces"),
    },
    Case {
        rule: "a sidecar port name is an IANA name",
        changes: &[("/spec/sidecars/0/ports/0/name", r#""9901""#)],
        old_changes: None,
        expect: ("spec.sidecars[0].ports[0].name", "IANA service name"),
    },
    Case {
        rule: "a sidecar env name has no =",
        changes: &[("/spec/sidecars/0/env/0/name", r#""A=B""#)],
        old_changes: None,
        expect: ("spec.sidecars[0].env[0].name", "must not contain '='"),
    },
];
