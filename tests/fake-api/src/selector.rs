//! Label and field selectors, parsed from the (already URL-decoded) query values with the
//! grammar of `k8s.io/apimachinery/pkg/labels` and `.../fields`.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    NotExists,
    Gt(i64),
    Lt(i64),
}

#[derive(Debug, Clone, PartialEq)]
struct Requirement {
    key: String,
    op: Op,
}

/// A parsed `labelSelector`; all requirements must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<Requirement>);

/// Split on commas that are not inside `( ... )`.
fn split_top(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth) = (Vec::new(), String::new(), 0i32);
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn parse_set(rest: &str) -> Result<Vec<String>, String> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("expected '(values)', found '{rest}'"))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for part in split_top(s) {
            reqs.push(Self::parse_req(&part)?);
        }
        Ok(Self(reqs))
    }

    fn parse_req(p: &str) -> Result<Requirement, String> {
        if let Some(k) = p.strip_prefix('!') {
            return Ok(Requirement {
                key: k.trim().to_string(),
                op: Op::NotExists,
            });
        }
        for (tok, ctor) in [("!=", 0), ("==", 1), ("=", 1), (">", 2), ("<", 3)] {
            if let Some((k, v)) = p.split_once(tok) {
                let (k, v) = (k.trim().to_string(), v.trim().to_string());
                let op = match ctor {
                    0 => Op::NotEq(v),
                    1 => Op::Eq(v),
                    2 => Op::Gt(v.parse().map_err(|_| format!("invalid number '{v}'"))?),
                    _ => Op::Lt(v.parse().map_err(|_| format!("invalid number '{v}'"))?),
                };
                return Ok(Requirement { key: k, op });
            }
        }
        let mut words = p.splitn(2, char::is_whitespace);
        let key = words.next().unwrap_or("").trim().to_string();
        let rest = words.next().unwrap_or("").trim();
        if rest.is_empty() {
            return Ok(Requirement {
                key,
                op: Op::Exists,
            });
        }
        if let Some(r) = rest.strip_prefix("notin") {
            return Ok(Requirement {
                key,
                op: Op::NotIn(parse_set(r)?),
            });
        }
        if let Some(r) = rest.strip_prefix("in") {
            return Ok(Requirement {
                key,
                op: Op::In(parse_set(r)?),
            });
        }
        Err(format!("unable to parse requirement: '{p}'"))
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels");
        self.0.iter().all(|r| {
            let v = labels.and_then(|l| l.get(&r.key)).and_then(Value::as_str);
            match &r.op {
                Op::Eq(x) => v == Some(x.as_str()),
                Op::NotEq(x) => v != Some(x.as_str()),
                Op::In(xs) => v.is_some_and(|v| xs.iter().any(|x| x == v)),
                Op::NotIn(xs) => !v.is_some_and(|v| xs.iter().any(|x| x == v)),
                Op::Exists => v.is_some(),
                Op::NotExists => v.is_none(),
                Op::Gt(n) => v
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v > *n),
                Op::Lt(n) => v
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v < *n),
            }
        })
    }
}

/// A parsed `fieldSelector`: `=`, `==` and `!=` on dotted paths. The real server only
/// accepts a per-kind list of fields (always `metadata.name` and `metadata.namespace`); this
/// one accepts any path, which only makes it more lenient.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for part in split_top(s) {
            let (k, eq, v) = if let Some((k, v)) = part.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, true, v)
            } else {
                return Err(format!("invalid field selector: '{part}'"));
            };
            out.push((k.trim().to_string(), eq, v.trim().to_string()));
        }
        Ok(Self(out))
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(k, eq, want)| {
            let ptr = format!("/{}", k.replace('.', "/"));
            let got = match obj.pointer(&ptr) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (got == *want) == *eq
        })
    }
}
