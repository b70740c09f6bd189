//! The three report formats: a table for people (grouped by namespace, worst first, a legend
//! of fixes and a summary line), JSON for scripts, and SARIF 2.1.0 for code-scanning UIs.
//!
//! Pure formatting of a [`Report`]; the order is deterministic for the same report.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use super::check::Finding;
use super::rules::{self, Rule, Severity};
use super::{Report, WorkloadReport};

/// `$schema` of the SARIF output.
pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Workloads in report order: namespaces and workloads worst first, then by name; findings
/// worst first, in pod-spec order within a severity.
pub fn ordered(report: &Report) -> Vec<(&str, Vec<&WorkloadReport>)> {
    let mut by_ns: BTreeMap<&str, Vec<&WorkloadReport>> = BTreeMap::new();
    for w in &report.workloads {
        by_ns.entry(&w.namespace).or_default().push(w);
    }
    let mut groups: Vec<(&str, Vec<&WorkloadReport>)> = by_ns.into_iter().collect();
    for (_, ws) in &mut groups {
        ws.sort_by(|a, b| {
            b.worst()
                .cmp(&a.worst())
                .then_with(|| a.kind.cmp(&b.kind))
                .then_with(|| a.name.cmp(&b.name))
        });
    }
    let worst = |ws: &[&WorkloadReport]| ws.iter().filter_map(|w| w.worst()).max();
    groups.sort_by(|(a_ns, a), (b_ns, b)| worst(b).cmp(&worst(a)).then_with(|| a_ns.cmp(b_ns)));
    groups
}

fn sorted_findings(w: &WorkloadReport) -> Vec<&Finding> {
    let mut f: Vec<&Finding> = w.findings.iter().collect();
    f.sort_by_key(|f| std::cmp::Reverse(f.severity));
    f
}

/// `2 critical, 1 high` (severities with findings only), or `no findings`.
fn counts(report: &Report) -> String {
    let parts: Vec<String> = Severity::ALL
        .iter()
        .map(|s| (s, report.count(*s)))
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    if parts.is_empty() {
        "no findings".to_string()
    } else {
        parts.join(", ")
    }
}

fn verdict(report: &Report, fail_on: Option<Severity>) -> String {
    match fail_on {
        None => "--fail-on none".to_string(),
        Some(level) if report.fails(fail_on) => format!("FAIL: findings at or above {level}"),
        Some(level) => format!("pass: nothing at or above {level}"),
    }
}

/// The summary line.
pub fn summary(report: &Report, fail_on: Option<Severity>) -> String {
    let namespaces = ordered(report).len();
    let with = report
        .workloads
        .iter()
        .filter(|w| !w.findings.is_empty())
        .count();
    format!(
        "{} workload{} in {namespaces} namespace{}, {with} with findings: {} ({})",
        report.workloads.len(),
        if report.workloads.len() == 1 { "" } else { "s" },
        if namespaces == 1 { "" } else { "s" },
        counts(report),
        verdict(report, fail_on)
    )
}

/// The human-readable table.
pub fn table(report: &Report, fail_on: Option<Severity>) -> String {
    let mut out = String::new();
    let mut seen: Vec<&'static Rule> = Vec::new();
    for (ns, workloads) in ordered(report) {
        let flagged: Vec<&&WorkloadReport> = workloads
            .iter()
            .filter(|w| !w.findings.is_empty())
            .collect();
        let _ = writeln!(
            out,
            "NAMESPACE {ns}: {} workload{}, {} with findings",
            workloads.len(),
            if workloads.len() == 1 { "" } else { "s" },
            flagged.len()
        );
        if flagged.is_empty() {
            out.push('\n');
            continue;
        }
        let rows: Vec<(String, &Finding)> = flagged
            .iter()
            .flat_map(|w| {
                let name = format!("{}/{}", w.kind.as_str(), w.name);
                sorted_findings(w)
                    .into_iter()
                    .map(move |f| (name.clone(), f))
            })
            .collect();
        let width = |f: &dyn Fn(&(String, &Finding)) -> usize, header: &str| {
            rows.iter().map(f).max().unwrap_or(0).max(header.len())
        };
        let w_sev = width(&|r| r.1.severity.as_str().len(), "SEVERITY");
        let w_name = width(&|r| r.0.len(), "WORKLOAD");
        let w_rule = width(&|r| r.1.rule.id.len(), "RULE");
        let _ = writeln!(
            out,
            "  {:w_sev$}  {:w_name$}  {:w_rule$}  FIELD / FINDING",
            "SEVERITY", "WORKLOAD", "RULE"
        );
        let indent = 2 + w_sev + 2 + w_name + 2 + w_rule + 2;
        for (name, f) in &rows {
            let _ = writeln!(
                out,
                "  {:w_sev$}  {:w_name$}  {:w_rule$}  {}",
                f.severity.as_str(),
                name,
                f.rule.id,
                f.path
            );
            let _ = writeln!(out, "{:indent$}{}", "", f.message);
            if !seen.iter().any(|r| r.id == f.rule.id) {
                seen.push(f.rule);
            }
        }
        out.push('\n');
    }
    if !seen.is_empty() {
        seen.sort_by_key(|r| rules::index(r));
        let w = seen.iter().map(|r| r.id.len()).max().unwrap_or(0);
        out.push_str("FIXES\n");
        for rule in &seen {
            let _ = writeln!(out, "  {:w$}  {}", rule.id, rule.fix);
        }
        out.push('\n');
    }
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    let _ = writeln!(out, "{}", summary(report, fail_on));
    out
}

fn finding_json(f: &Finding) -> Value {
    json!({
        "rule": f.rule.id,
        "severity": f.severity.as_str(),
        "path": f.path,
        "message": f.message,
        "fix": f.rule.fix,
        "related": f.rule.related,
    })
}

/// The JSON report.
pub fn json(report: &Report, fail_on: Option<Severity>) -> Value {
    let mut by_severity = serde_json::Map::new();
    for s in Severity::ALL {
        by_severity.insert(s.as_str().to_string(), json!(report.count(s)));
    }
    let workloads: Vec<Value> = ordered(report)
        .into_iter()
        .flat_map(|(_, ws)| ws)
        .map(|w| {
            let mut v = json!({
                "namespace": w.namespace,
                "kind": w.kind.as_str(),
                "name": w.name,
                "worst": w.worst().map(Severity::as_str),
                "findings": sorted_findings(w).into_iter().map(finding_json).collect::<Vec<_>>(),
            });
            if let Some(source) = &w.source {
                v["source"] = json!({"file": source.file, "line": source.line});
            }
            v
        })
        .collect();
    json!({
        "summary": {
            "workloads": report.workloads.len(),
            "withFindings": report.workloads.iter().filter(|w| !w.findings.is_empty()).count(),
            "findings": report.workloads.iter().map(|w| w.findings.len()).sum::<usize>(),
            "bySeverity": by_severity,
            "failOn": fail_on.map_or("none", Severity::as_str),
            "failed": report.fails(fail_on),
        },
        "workloads": workloads,
        "notes": report.notes,
    })
}

/// `writable-root-filesystem` -> `WritableRootFilesystem` (SARIF `name`).
fn camel(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn sarif_rule(rule: &Rule) -> Value {
    let related = if rule.related.is_empty() {
        "no overlapping rule in Polaris, kube-score, kube-linter or Kyverno".to_string()
    } else {
        format!("overlaps {}", rule.related.join(", "))
    };
    json!({
        "id": rule.id,
        "name": camel(rule.id),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": format!("{}: {}.", rule.title, rule.why)},
        "help": {
            "text": format!("{} Why: {}. Related: {related}.", rule.fix, rule.why),
            "markdown": format!("**Fix:** {}\n\n**Why:** {}.\n\n**Related rules:** {related}.", rule.fix, rule.why),
        },
        "defaultConfiguration": {"level": rule.severity.sarif_level()},
        "properties": {
            "tags": ["kubernetes", "statelessness"],
            "precision": "high",
            "security-severity": rule.severity.security_score(),
            "related": rule.related,
        },
    })
}

/// A file name as a SARIF URI reference: relative paths stay relative (to the directory the
/// audit ran in), absolute ones become `file://` URIs; unsafe characters are escaped.
pub fn file_uri(file: &str) -> String {
    let mut escaped = String::new();
    for c in file.replace('\\', "/").chars() {
        match c {
            'A'..='Z'
            | 'a'..='z'
            | '0'..='9'
            | '-'
            | '.'
            | '_'
            | '~'
            | '/'
            | ':'
            | '@'
            | '+'
            | '='
            | ',' => escaped.push(c),
            other => {
                let mut buf = [0u8; 4];
                for b in other.encode_utf8(&mut buf).bytes() {
                    let _ = write!(escaped, "%{b:02X}");
                }
            }
        }
    }
    if escaped.starts_with('/') {
        format!("file://{escaped}")
    } else {
        escaped
    }
}

/// The SARIF 2.1.0 log.
pub fn sarif(report: &Report) -> Value {
    let mut results = Vec::new();
    for (_, workloads) in ordered(report) {
        for w in workloads {
            for f in sorted_findings(w) {
                let qualified = format!("{}/{}/{}", w.namespace, w.kind.as_str(), w.name);
                let mut location = json!({
                    "logicalLocations": [{
                        "fullyQualifiedName": format!("{qualified}:{}", f.path),
                        "name": w.name,
                        "kind": "object",
                    }],
                });
                if let Some(source) = &w.source
                    && source.file != "<stdin>"
                {
                    location["physicalLocation"] = json!({
                        "artifactLocation": {"uri": file_uri(&source.file)},
                        "region": {"startLine": source.line},
                    });
                }
                results.push(json!({
                    "ruleId": f.rule.id,
                    "ruleIndex": rules::index(f.rule),
                    "level": f.severity.sarif_level(),
                    "message": {"text": format!("{} {}/{}: {}. Fix: {}", w.namespace, w.kind.as_str(), w.name, f.message, f.rule.fix)},
                    "locations": [location],
                    "partialFingerprints": {
                        "statelessWorkload/v1": format!("{qualified}:{}:{}", f.rule.id, f.path),
                    },
                    "properties": {
                        "severity": f.severity.as_str(),
                        "path": f.path,
                        "namespace": w.namespace,
                        "workload": format!("{}/{}", w.kind.as_str(), w.name),
                    },
                }));
            }
        }
    }
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "stateless-operator",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rules::ALL.iter().map(|r| sarif_rule(r)).collect::<Vec<_>>(),
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_escaped_and_absolute_paths_are_file_uris() {
        assert_eq!(file_uri("deploy/web.yaml"), "deploy/web.yaml");
        assert_eq!(file_uri("my dir/a#b.yaml"), "my%20dir/a%23b.yaml");
        assert_eq!(file_uri("/repo/apps/x.yaml"), "file:///repo/apps/x.yaml");
        assert_eq!(file_uri("apps\\x.yaml"), "apps/x.yaml");
        assert_eq!(
            camel("single-writer-claim-replicas"),
            "SingleWriterClaimReplicas"
        );
    }
}
