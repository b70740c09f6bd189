//! The validation a controller most often trips over in production, enforced so that it
//! fails in tests too: object names, label keys and values, and the immutable fields of the
//! built-in kinds an operator writes (Deployment selector, PVC spec, immutable ConfigMaps and
//! Secrets). Full schema validation is out of scope.

use super::store::{ApiError, KindInfo};
use serde_json::Value;

fn is_alnum_lower(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// RFC 1123 label: lowercase alphanumerics and '-', alphanumeric at both ends, <= 63.
fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| is_alnum_lower(c) || c == '-')
        && s.starts_with(is_alnum_lower)
        && s.ends_with(is_alnum_lower)
}

/// RFC 1123 subdomain: dot-separated labels, <= 253.
fn dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(dns_label)
}

/// A label value or the name part of a key: <= 63, [A-Za-z0-9_.-], alphanumeric ends.
fn qualified_name_part(s: &str, allow_empty: bool) -> bool {
    if s.is_empty() {
        return allow_empty;
    }
    s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn label_key(k: &str) -> bool {
    match k.split_once('/') {
        Some((prefix, name)) => dns_subdomain(prefix) && qualified_name_part(name, false),
        None => qualified_name_part(k, false),
    }
}

/// Name and labels, on every write.
pub(crate) fn object(k: &KindInfo, obj: &Value) -> Result<(), ApiError> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let ok = match (k.group.as_str(), k.plural.as_str()) {
        ("", "namespaces") => dns_label(name),
        ("", "services") => dns_label(name) && name.starts_with(|c: char| c.is_ascii_lowercase()),
        _ => dns_subdomain(name),
    };
    if !ok {
        return Err(ApiError::invalid(
            k,
            name,
            &format!(
                "metadata.name: Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist \
                 of lower case alphanumeric characters, '-' or '.', and must start and end with an \
                 alphanumeric character"
            ),
        ));
    }
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (lk, lv) in labels {
            if !label_key(lk) {
                return Err(ApiError::invalid(
                    k,
                    name,
                    &format!(
                        "metadata.labels: Invalid value: {lk:?}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
                    ),
                ));
            }
            let v = lv.as_str().unwrap_or("");
            if !qualified_name_part(v, true) {
                return Err(ApiError::invalid(
                    k,
                    name,
                    &format!(
                        "metadata.labels: Invalid value: {v:?}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63 characters)"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Immutable fields, on updates.
pub(crate) fn update(k: &KindInfo, old: &Value, new: &Value) -> Result<(), ApiError> {
    let name = new
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let differs = |p: &str| old.pointer(p) != new.pointer(p);
    match (k.group.as_str(), k.plural.as_str()) {
        ("apps", "deployments") if differs("/spec/selector") => Err(ApiError::invalid(
            k,
            name,
            "spec.selector: Invalid value: field is immutable",
        )),
        ("", "persistentvolumeclaims") => {
            let strip = |v: &Value| {
                let mut s = v.get("spec").cloned().unwrap_or(Value::Null);
                if let Some(r) = s.get_mut("resources").and_then(Value::as_object_mut) {
                    r.remove("requests");
                }
                if let Some(o) = s.as_object_mut() {
                    o.remove("volumeAttributesClassName");
                    // The PV controller fills volumeName when binding.
                    o.remove("volumeName");
                }
                s
            };
            if strip(old) != strip(new) {
                return Err(ApiError::invalid(
                    k,
                    name,
                    "spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
                ));
            }
            Ok(())
        }
        ("", "configmaps" | "secrets") if old.get("immutable") == Some(&Value::Bool(true)) => {
            if differs("/data") || differs("/binaryData") || differs("/immutable") {
                return Err(ApiError::invalid(
                    k,
                    name,
                    "data: Forbidden: field is immutable when `immutable` is set",
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Secrets: `stringData` is write-only; the server merges it into base64 `data`.
pub(crate) fn normalize_secret(k: &KindInfo, obj: &mut Value) {
    if !(k.group.is_empty() && k.plural == "secrets") {
        return;
    }
    let Some(o) = obj.as_object_mut() else {
        return;
    };
    let Some(Value::Object(sd)) = o.remove("stringData") else {
        return;
    };
    let data = o
        .entry("data")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Some(d) = data.as_object_mut() {
        for (key, v) in sd {
            let s = v.as_str().unwrap_or("");
            d.insert(key, Value::String(base64(s.as_bytes())));
        }
    }
}

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
