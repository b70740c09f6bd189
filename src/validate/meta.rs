//! Kubernetes names that end up in children's metadata or selectors: label keys and values,
//! annotation keys. CEL does not check them (the rules would cost too much for what they
//! catch); the API server would refuse the child, so `validate` does.

use std::collections::BTreeMap;

use super::{FieldError, is_dns_subdomain};

/// Most bytes of all annotations of one object (the API server's `TotalAnnotationSizeLimitB`).
pub const MAX_ANNOTATION_BYTES: usize = 256 * 1024;

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, at most 63: a label value (when not empty) and
/// the name part of a qualified name.
fn is_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// A label or annotation key: `name` or `prefix/name`, the prefix a DNS subdomain.
pub fn is_qualified_name(s: &str) -> bool {
    match s.split_once('/') {
        Some((prefix, name)) => {
            !prefix.is_empty() && is_dns_subdomain(prefix) && is_name_part(name)
        }
        None => is_name_part(s),
    }
}

/// A label value: empty, or a name part.
pub fn is_label_value(s: &str) -> bool {
    s.is_empty() || is_name_part(s)
}

const KEY_PROBLEM: &str = "is not a valid key: an optional DNS-subdomain prefix and '/', then at most 63 letters, digits, '-', '_' or '.' that start and end with a letter or digit";

/// Label keys and values.
pub(super) fn check_labels(
    path: &str,
    labels: &BTreeMap<String, String>,
    errors: &mut Vec<FieldError>,
) {
    for (key, value) in labels {
        if !is_qualified_name(key) {
            errors.push(FieldError::new(
                format!("{path}[{key}]"),
                format!("{key:?} {KEY_PROBLEM}"),
            ));
        } else if !is_label_value(value) {
            errors.push(FieldError::new(
                format!("{path}[{key}]"),
                format!(
                    "{value:?} is not a valid label value: empty, or at most 63 letters, digits, '-', '_' or '.' that start and end with a letter or digit"
                ),
            ));
        }
    }
}

/// Annotation keys, and the size of all annotations together.
pub(super) fn check_annotations(
    path: &str,
    annotations: &BTreeMap<String, String>,
    errors: &mut Vec<FieldError>,
) {
    let mut total = 0;
    for (key, value) in annotations {
        if !is_qualified_name(key) {
            errors.push(FieldError::new(
                format!("{path}[{key}]"),
                format!("{key:?} {KEY_PROBLEM}"),
            ));
        }
        total += key.len() + value.len();
    }
    if total > MAX_ANNOTATION_BYTES {
        errors.push(FieldError::new(
            path,
            format!(
                "hold {total} bytes; an object's annotations hold at most {MAX_ANNOTATION_BYTES}"
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_and_label_values() {
        for good in [
            "a",
            "app.kubernetes.io/name",
            "eks.amazonaws.com/role-arn",
            "A_b.c-1",
        ] {
            assert!(is_qualified_name(good), "{good}");
        }
        for bad in [
            "",
            "/a",
            "a/",
            "-a",
            "a-",
            "Example.com/a",
            "a/b/c",
            &"a".repeat(64),
        ] {
            assert!(!is_qualified_name(bad), "{bad}");
        }
        assert!(is_label_value("") && is_label_value("v1.2_x"));
        assert!(!is_label_value("_x") && !is_label_value(&"a".repeat(64)));
    }

    #[test]
    fn annotations_are_bounded_in_total() {
        let mut errors = Vec::new();
        let big = BTreeMap::from([("a".to_string(), "x".repeat(MAX_ANNOTATION_BYTES))]);
        check_annotations("spec.service.annotations", &big, &mut errors);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].message.contains("at most 262144"), "{errors:?}");
    }
}
