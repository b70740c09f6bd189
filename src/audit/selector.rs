//! Label selectors: the `-l` text syntax (as `kubectl` parses it) and the structured
//! `LabelSelector` of PodDisruptionBudgets, both matched against a label map.
//!
//! Pure; used to filter file input the way the API server filters a list, and to decide which
//! disruption budget covers which pods. It must not talk to a cluster.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// One requirement of a selector.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    Equals(String),
    NotEquals(String),
    In(BTreeSet<String>),
    NotIn(BTreeSet<String>),
    Exists,
    DoesNotExist,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match &self.op {
            Op::Equals(v) => value == Some(v),
            // As in Kubernetes: `a!=b` also matches objects without the label.
            Op::NotEquals(v) => value != Some(v),
            Op::In(set) => value.is_some_and(|v| set.contains(v)),
            Op::NotIn(set) => value.is_none_or(|v| !set.contains(v)),
            Op::Exists => value.is_some(),
            Op::DoesNotExist => value.is_none(),
        }
    }
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// Parses the `-l` syntax: `a=b,c!=d,e in (x,y),f notin (z),g,!h` (`==` is `=`).
    pub fn parse(text: &str) -> Result<Selector, String> {
        let mut requirements = Vec::new();
        for part in split_top_level(text)? {
            let part = part.trim();
            if part.is_empty() {
                return Err(format!(
                    "label selector {text:?}: empty requirement (two commas in a row, or a trailing comma)"
                ));
            }
            requirements.push(
                parse_requirement(part).map_err(|e| format!("label selector {text:?}: {e}"))?,
            );
        }
        Ok(Selector { requirements })
    }

    /// The selector of a PodDisruptionBudget (or any `LabelSelector`): `matchLabels` and
    /// `matchExpressions` together. An empty `LabelSelector` selects everything (policy/v1).
    pub fn from_label_selector(selector: &LabelSelector) -> Result<Selector, String> {
        let mut requirements = Vec::new();
        for (key, value) in selector.match_labels.iter().flatten() {
            requirements.push(Requirement {
                key: key.clone(),
                op: Op::Equals(value.clone()),
            });
        }
        for (i, expr) in selector.match_expressions.iter().flatten().enumerate() {
            let values: BTreeSet<String> = expr.values.iter().flatten().cloned().collect();
            let op = match expr.operator.as_str() {
                "In" => Op::In(values),
                "NotIn" => Op::NotIn(values),
                "Exists" => Op::Exists,
                "DoesNotExist" => Op::DoesNotExist,
                other => {
                    return Err(format!(
                        "matchExpressions[{i}].operator: {other:?} is not In, NotIn, Exists or DoesNotExist"
                    ));
                }
            };
            requirements.push(Requirement {
                key: expr.key.clone(),
                op,
            });
        }
        Ok(Selector { requirements })
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

/// Splits at commas that are not inside `( )`.
fn split_top_level(text: &str) -> Result<Vec<&str>, String> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("label selector {text:?}: ')' without '('"))?;
            }
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("label selector {text:?}: '(' without ')'"));
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn parse_requirement(part: &str) -> Result<Requirement, String> {
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        check_key(key)?;
        return Ok(Requirement {
            key: key.to_string(),
            op: Op::DoesNotExist,
        });
    }
    for (token, make) in [
        ("!=", Op::NotEquals as fn(String) -> Op),
        ("==", Op::Equals),
        ("=", Op::Equals),
    ] {
        if let Some((key, value)) = part.split_once(token) {
            let (key, value) = (key.trim(), value.trim());
            check_key(key)?;
            check_value(value)?;
            return Ok(Requirement {
                key: key.to_string(),
                op: make(value.to_string()),
            });
        }
    }
    if let Some((key, rest)) = part.split_once(char::is_whitespace) {
        let rest = rest.trim();
        let (negated, list) = if let Some(list) = rest.strip_prefix("notin") {
            (true, list)
        } else if let Some(list) = rest.strip_prefix("in") {
            (false, list)
        } else {
            return Err(format!(
                "{part:?}: expected `key=value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`, `key` or `!key`"
            ));
        };
        let list = list.trim();
        let inner = list
            .strip_prefix('(')
            .and_then(|l| l.strip_suffix(')'))
            .ok_or_else(|| format!("{part:?}: the values of in/notin go in parentheses"))?;
        let mut values = BTreeSet::new();
        for value in inner.split(',') {
            let value = value.trim();
            check_value(value)?;
            values.insert(value.to_string());
        }
        check_key(key)?;
        return Ok(Requirement {
            key: key.to_string(),
            op: if negated {
                Op::NotIn(values)
            } else {
                Op::In(values)
            },
        });
    }
    check_key(part)?;
    Ok(Requirement {
        key: part.to_string(),
        op: Op::Exists,
    })
}

/// A label name part: at most 63 of `[A-Za-z0-9_.-]`, starting and ending alphanumeric.
fn is_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

fn check_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(crate::validate::is_dns_subdomain);
    if prefix_ok && is_name(name) {
        Ok(())
    } else {
        Err(format!(
            "{key:?} is not a label key (an optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' or '.')"
        ))
    }
}

fn check_value(value: &str) -> Result<(), String> {
    if value.is_empty() || is_name(value) {
        Ok(())
    } else {
        Err(format!(
            "{value:?} is not a label value (at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn text_selectors_match_like_kubectl() {
        let l = labels(&[("app", "web"), ("tier", "front"), ("team", "a")]);
        for (selector, expected) in [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app=db", false),
            ("app!=db", true),
            ("missing!=x", true),
            ("app in (web, db)", true),
            ("app notin (web)", false),
            ("missing notin (web)", true),
            ("tier", true),
            ("!tier", false),
            ("!missing", true),
            ("app=web,tier=front", true),
            ("app=web,tier in (back)", false),
            ("app.kubernetes.io/name", false),
        ] {
            let parsed = Selector::parse(selector).unwrap();
            assert_eq!(parsed.matches(&l), expected, "{selector}");
        }
    }

    #[test]
    fn bad_text_selectors_say_what_is_wrong() {
        for (selector, fragment) in [
            ("app=web,", "empty requirement"),
            ("app in (a", "'(' without ')'"),
            ("app in a)", "')' without '('"),
            ("app in a", "parentheses"),
            ("-app=x", "not a label key"),
            ("app=-x", "not a label value"),
            ("app like x", "expected `key=value`"),
            ("bad_prefix_/x=y", "not a label key"),
        ] {
            let e = Selector::parse(selector).unwrap_err();
            assert!(e.contains(fragment), "{selector}: {e}");
        }
    }

    #[test]
    fn structured_selectors_combine_labels_and_expressions() {
        let selector = LabelSelector {
            match_labels: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".to_string(),
                operator: "NotIn".to_string(),
                values: Some(vec!["db".to_string()]),
            }]),
        };
        let s = Selector::from_label_selector(&selector).unwrap();
        assert!(s.matches(&labels(&[("app", "web")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "db")])));
        assert!(!s.matches(&labels(&[("app", "db")])));
        // An empty selector selects every pod (policy/v1 semantics).
        assert!(
            Selector::from_label_selector(&LabelSelector::default())
                .unwrap()
                .matches(&labels(&[]))
        );
        let bad = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "a".to_string(),
                operator: "Gt".to_string(),
                values: None,
            }]),
            ..LabelSelector::default()
        };
        assert!(
            Selector::from_label_selector(&bad)
                .unwrap_err()
                .contains("matchExpressions[0].operator")
        );
    }
}
