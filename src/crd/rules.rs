//! CEL rules and schema transforms shared by several types of the spec.
//!
//! Each rule here has its twin in `validate` with the same message; the regular expressions are
//! the ones Kubernetes uses for the same names, so that what admission accepts the API server
//! also accepts in a child.

use kube::core::Rule;

/// A DNS-1123 label (a namespace, a container name, the StatelessService's own name).
pub(super) const DNS_LABEL: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// A DNS-1123 subdomain (names of ConfigMaps, Secrets, storage and ingress classes, Gateways).
pub(super) const DNS_SUBDOMAIN: &str =
    "^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// `self` matches the regular expression `pattern` (which holds no `'`).
pub(super) fn matches(pattern: &str, message: &str) -> Rule {
    Rule::new(format!("self.matches('{pattern}')")).message(message)
}

/// The container image: no spaces (an image reference never has any).
pub(super) fn image_rule() -> Rule {
    Rule::new("!self.contains(' ')").message("image must not contain spaces")
}

/// A port name: an IANA service name, as Kubernetes requires of a container port's name.
pub(super) fn port_name_rule() -> Rule {
    Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && self.matches('[a-z]') && !self.contains('--')")
        .message("port name must be an IANA service name: lowercase letters, digits and single '-', at least one letter")
}

/// The rule that `<first>.mountPath` and `<second>.mountPath` do not overlap (one equal to or
/// below the other). `storage.mountPath` is required inside `storage`, the others are optional.
pub(super) fn overlap_rule(first: &str, second: &str) -> Rule {
    let present = |f: &str| {
        if f == "storage" {
            format!("has(self.{f})")
        } else {
            format!("has(self.{f}) && has(self.{f}.mountPath)")
        }
    };
    let (a, b) = (
        format!("self.{first}.mountPath"),
        format!("self.{second}.mountPath"),
    );
    Rule::new(format!(
        "!({} && {}) || !({a} == {b} || {a}.startsWith({b} + '/') || {b}.startsWith({a} + '/'))",
        present(first),
        present(second)
    ))
    .message(
        format!(
            "{first}.mountPath and {second}.mountPath overlap: each mount needs its own directory"
        )
        .as_str(),
    )
    .field_path(format!(".{second}.mountPath"))
    .reason(kube::core::Reason::FieldValueInvalid)
}

/// A mount path: absolute, normalised, not `/` and not the scratch directory or below it.
pub(super) fn mount_path_rule() -> Rule {
    Rule::new(
        "self.matches('^(/[^/]+)+$') && !self.matches('(^|/)[.][.]?(/|$)') && self != '/tmp' && !self.startsWith('/tmp/')",
    )
    .message("mount path must be an absolute, normalised path (no trailing '/', '.' or '..'), not '/' and not /tmp or below (/tmp is the scratch directory)")
}

/// The rule that a `<resource>Utilization` target of `autoscaling` comes with a request for
/// that resource (or a limit, which Kubernetes copies into an unset request).
pub(super) fn utilization_rule(resource: &str) -> Rule {
    let has = |list: &str| {
        format!("(has(self.resources.{list}) && '{resource}' in self.resources.{list})")
    };
    Rule::new(format!(
        "!has(self.autoscaling) || !has(self.autoscaling.{resource}Utilization) || (has(self.resources) && ({} || {}))",
        has("requests"),
        has("limits")
    ))
    .message(format!(
        "autoscaling.{resource}Utilization needs resources.requests.{resource} (or limits.{resource}, which Kubernetes copies into an unset request): utilisation is a percentage of the request, and without one the autoscaler can never compute it"
    ).as_str())
    .field_path(format!(".autoscaling.{resource}Utilization"))
    .reason(kube::core::Reason::FieldValueRequired)
}

/// Bounds the lists and maps of an embedded `ResourceRequirements` (a schemars transform: the
/// k8s-openapi schema declares none).
pub(super) fn bound_resources(schema: &mut schemars::Schema) {
    use super::{MAX_RESOURCE_CLAIMS, MAX_RESOURCE_NAMES};
    set_bound(
        schema,
        "/properties/claims",
        "maxItems",
        MAX_RESOURCE_CLAIMS,
    );
    set_bound(
        schema,
        "/properties/limits",
        "maxProperties",
        MAX_RESOURCE_NAMES,
    );
    set_bound(
        schema,
        "/properties/requests",
        "maxProperties",
        MAX_RESOURCE_NAMES,
    );
}

/// Bounds the lists of an embedded `Probe` (a schemars transform, as for resources).
pub(super) fn bound_probe(schema: &mut schemars::Schema) {
    use super::{MAX_ARGS, MAX_PROBE_HEADERS};
    set_bound(
        schema,
        "/properties/exec/properties/command",
        "maxItems",
        MAX_ARGS,
    );
    set_bound(
        schema,
        "/properties/httpGet/properties/httpHeaders",
        "maxItems",
        MAX_PROBE_HEADERS,
    );
}

/// Sets `key: value` on the schema node at `pointer`. A node that is not there is left alone:
/// `tests/crd_schema.rs` fails on any list or map without a bound, so a k8s-openapi change that
/// moves a field cannot silently unbound it.
fn set_bound(schema: &mut schemars::Schema, pointer: &str, key: &str, value: usize) {
    if let Some(serde_json::Value::Object(node)) = schema.pointer_mut(pointer) {
        node.insert(key.to_string(), value.into());
    }
}
