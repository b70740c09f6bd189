//! The CRD against the API server's CEL cost budget, estimated as the server does
//! (`support/cel_cost.rs`), and the schema bounds that estimate depends on.
//!
//! The estimator is held to the verdicts a real Kubernetes v1.36.2 API server gave on the CRD it
//! refused (issue 8, `tests/fixtures/crd-refused-2026-12-01.yaml`): if it ever computes those
//! differently it is wrong, and so is anything it says about today's CRD.

use serde_json::Value;

use super::cel_cost::{
    Decl, Kind, PER_CALL_LIMIT, RUNTIME_CEL_COST_BUDGET, Report, STATIC_ESTIMATED_COST_LIMIT,
    STATIC_ESTIMATED_CRD_COST_LIMIT, Server, decl_of, estimate, factor, reads, rule_cost,
};
use super::schema;

const REFUSED_CRD: &str = include_str!("../fixtures/crd-refused-2026-12-01.yaml");

const ROOT: &str = "spec.validation.openAPIV3Schema";

fn refused_schema() -> Value {
    let crd: Value = serde_yaml_ng::from_str(REFUSED_CRD).expect("the fixture is YAML");
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

/// Every rule's figures, for the test log (`--nocapture`) and for failure messages.
fn describe(report: &Report) -> String {
    let mut out = String::new();
    for r in &report.rules {
        out += &format!(
            "{:>13} = {:>8} x {:>7}  ({} of the rule limit)  {}\n",
            r.cost,
            r.max_cost,
            r.cardinality,
            factor(r.cost, STATIC_ESTIMATED_COST_LIMIT),
            r.path.trim_start_matches(ROOT),
        );
    }
    out += &format!(
        "{:>13} total ({} of the CRD limit)\n",
        report.total,
        factor(report.total, STATIC_ESTIMATED_CRD_COST_LIMIT)
    );
    out
}

/// What `kubectl apply --server-side` printed for the refused CRD (issue 8), up to the hint.
const SERVER_SAID: &[&str] = &[
    "spec.validation.openAPIV3Schema.properties[spec].properties[env].items.properties[name].x-kubernetes-validations[0].rule: Forbidden: estimated rule cost exceeds budget by factor of more than 100x (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)",
    "spec.validation.openAPIV3Schema.properties[spec].properties[env].items.properties[name].x-kubernetes-validations[1].rule: Forbidden: estimated rule cost exceeds budget by factor of more than 100x (",
    "spec.validation.openAPIV3Schema.properties[spec].properties[ports].items.properties[name].x-kubernetes-validations[0].rule: Forbidden: estimated rule cost exceeds budget by factor of 8.4x (",
    "spec.validation.openAPIV3Schema.properties[spec].properties[storage].properties[size].x-kubernetes-validations[1].rule: Forbidden: contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema",
    "spec.validation.openAPIV3Schema: Forbidden: x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema exceeds budget by factor of 52.5x (",
];

#[test]
fn the_refused_crd_is_refused_with_the_api_servers_figures() {
    let report = estimate(&refused_schema(), Server::default());
    eprintln!("{}", describe(&report));
    let refusals = report.refusals();
    for line in SERVER_SAID {
        assert!(
            refusals.iter().any(|r| r.starts_with(line)),
            "the API server said\n  {line}\nthe estimator says\n  {}\n{}",
            refusals.join("\n  "),
            describe(&report)
        );
    }
    // The same three rules over the per-rule limit, no more.
    let over: Vec<&str> = report
        .rules
        .iter()
        .filter(|r| r.cost > STATIC_ESTIMATED_COST_LIMIT)
        .map(|r| r.path.trim_start_matches(ROOT))
        .collect();
    assert_eq!(
        over,
        [
            ".properties[spec].properties[env].items.properties[name].x-kubernetes-validations[0].rule",
            ".properties[spec].properties[env].items.properties[name].x-kubernetes-validations[1].rule",
            ".properties[spec].properties[ports].items.properties[name].x-kubernetes-validations[0].rule",
        ],
        "{}",
        describe(&report)
    );
    // The server names the four rules that cost most. The fourth place is a tie: the root's
    // `metadata.name` rule and `storage.size`'s second rule both cost 2,516,592, and the server,
    // which sees children before parents and keeps the first of equals, named storage.size.
    let top: Vec<&str> = report
        .most_expensive()
        .iter()
        .map(|r| r.path.trim_start_matches(ROOT))
        .collect();
    assert_eq!(
        top,
        [
            ".properties[spec].properties[env].items.properties[name].x-kubernetes-validations[1].rule",
            ".properties[spec].properties[env].items.properties[name].x-kubernetes-validations[0].rule",
            ".properties[spec].properties[ports].items.properties[name].x-kubernetes-validations[0].rule",
            ".properties[spec].properties[storage].properties[size].x-kubernetes-validations[1].rule",
        ],
        "{}",
        describe(&report)
    );
}

#[test]
fn the_generated_crd_fits_the_budget_with_room_to_spare() {
    // The current server, and one before Kubernetes 1.34 (where maxLength does not bound an
    // int-or-string such as `storage.size`).
    for server in [
        Server::default(),
        Server {
            ignores_int_or_string_max_length: true,
        },
    ] {
        let report = estimate(&schema(), server);
        eprintln!("{server:?}\n{}", describe(&report));
        assert!(
            report.refusals().is_empty(),
            "{server:?}: the API server would refuse the CRD:\n{}\n{}",
            report.refusals().join("\n"),
            describe(&report)
        );
        // Room for the next rules: no rule above half its limit, all of them under a tenth.
        for r in &report.rules {
            assert!(
                r.cost <= STATIC_ESTIMATED_COST_LIMIT / 2,
                "{server:?}: {} ({}) costs {}: more than half the per-rule budget",
                r.path,
                r.rule,
                r.cost
            );
            // One evaluation is never cut off by the run-time per-call limit either. (Not
            // provable for a rule on `metadata.name`, which the estimate takes as 3 MiB long
            // and the server keeps to 253 characters, nor where an old server ignores a bound.)
            let reads_name = reads(&r.rule).contains(&vec!["metadata".into(), "name".into()]);
            if !reads_name && !server.ignores_int_or_string_max_length {
                assert!(r.max_cost <= PER_CALL_LIMIT, "{server:?}: {}", r.rule);
            }
        }
        assert!(
            report.total <= STATIC_ESTIMATED_CRD_COST_LIMIT / 10,
            "{server:?}: total {} is more than a tenth of the CRD budget\n{}",
            report.total,
            describe(&report)
        );
        // Even the worst-case object is validated within the run-time budget of one object.
        assert!(
            report.total <= RUNTIME_CEL_COST_BUDGET,
            "{server:?}: {}",
            report.total
        );
        assert!(report.rules.len() >= 20, "{} rules", report.rules.len());
    }
}

/// Figures the API server computes, published with kubernetes/kubernetes PR 139523
/// ("Measured on master": `self.contains('x')` on a string with `maxLength: 10` costs 5; on an
/// unbounded one 314574), and cel-go's arithmetic on our own rules.
#[test]
fn single_rules_cost_what_cel_go_estimates() {
    let string = |max_length: Option<u64>| {
        let mut s = serde_json::json!({"type": "string"});
        if let Some(m) = max_length {
            s["maxLength"] = m.into();
        }
        decl_of(&s, false, Server::default()).expect("a string")
    };
    assert_eq!(rule_cost("self.contains('x')", &string(Some(10))), 5);
    assert_eq!(rule_cost("self.contains('x')", &string(None)), 314574);
    // ceil(0.1 × (60 + 1)) × ceil(0.25 × 31) + 1 for the identifier.
    assert_eq!(
        rule_cost(
            "self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",
            &string(Some(15))
        ),
        7 * 8 + 1
    );
    // An enum bounds a string by its longest value (16), without the factor 4 of maxLength.
    let enumerated = decl_of(
        &serde_json::json!({"type": "string", "enum": ["ReadWriteOnce", "ReadWriteOncePod"]}),
        false,
        Server::default(),
    )
    .expect("a string");
    assert_eq!(enumerated.max_elements, 16);
    // has() is free (PresenceTestHasCost(false)); comparing two bools traverses one "character".
    let object = Decl::new(
        Kind::Object([("a".to_string(), string(Some(1)))].into_iter().collect()),
        0,
        2,
    );
    assert_eq!(rule_cost("has(self.a) == has(oldSelf.a)", &object), 3);
}

/// A string node's `maxLength` or the equivalent bound CEL's estimator uses.
fn string_bound(node: &Value) -> Option<String> {
    let format = node.get("format").and_then(Value::as_str);
    if let Some(m) = node.get("maxLength") {
        Some(format!("maxLength {m}"))
    } else if node.get("enum").is_some() {
        Some("enum".to_string())
    } else if matches!(format, Some("date" | "date-time" | "duration")) {
        Some(format!("format {}", format.unwrap_or_default()))
    } else {
        None
    }
}

/// Walks a schema; records lists without `maxItems`, maps without `maxProperties`, and strings
/// (or int-or-strings) that a CEL rule reads without a bound.
fn unbounded(node: &Value, path: &str, problems: &mut Vec<String>) {
    if node.get("type") == Some(&Value::from("array")) && node.get("maxItems").is_none() {
        problems.push(format!("{path}: a list without maxItems"));
    }
    if node
        .get("additionalProperties")
        .is_some_and(Value::is_object)
        && node.get("maxProperties").is_none()
    {
        problems.push(format!("{path}: a map without maxProperties"));
    }
    for rule in node
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let text = rule["rule"].as_str().unwrap_or_default();
        for read in reads(text) {
            let mut target = Some(node);
            for field in &read {
                target = target
                    .and_then(|t| t.get("properties"))
                    .and_then(|p| p.get(field));
            }
            let Some(target) = target else {
                // Only the API server's own `metadata.name` (a DNS subdomain of at most 253
                // characters) is readable without being declared: kube's derive cannot declare
                // `metadata`, so the estimator charges it as a 3 MiB string (2.5 of the 10
                // million the rule may cost, see the cost tests).
                let api_server_owned = path.is_empty()
                    && read.len() <= 2
                    && read.iter().zip(["metadata", "name"]).all(|(r, m)| r == m);
                if !api_server_owned {
                    problems.push(format!("{path}: {text}: reads undeclared {read:?}"));
                }
                continue;
            };
            let stringy = target.get("type") == Some(&Value::from("string"))
                || target.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
            if stringy && string_bound(target).is_none() {
                let shown: Vec<&str> = std::iter::once("self")
                    .chain(read.iter().map(String::as_str))
                    .collect();
                problems.push(format!(
                    "{path}: {text}: reads {} without maxLength",
                    shown.join(".")
                ));
            }
        }
    }
    for (k, v) in node
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        unbounded(v, &format!("{path}.{k}"), problems);
    }
    if let Some(items) = node.get("items") {
        unbounded(items, &format!("{path}[]"), problems);
    }
    if let Some(extra) = node.get("additionalProperties").filter(|v| v.is_object()) {
        unbounded(extra, &format!("{path}{{}}"), problems);
    }
}

#[test]
fn every_list_map_and_string_a_rule_reads_is_bounded() {
    let mut problems = Vec::new();
    unbounded(&schema(), "", &mut problems);
    assert!(problems.is_empty(), "unbounded:\n{}", problems.join("\n"));

    // The same walk finds what the refused CRD lacked.
    let mut problems = Vec::new();
    unbounded(&refused_schema(), "", &mut problems);
    for expected in [
        ".spec.env: a list without maxItems",
        ".spec.ports: a list without maxItems",
        ".spec.config.data: a map without maxProperties",
        ".status.conditions: a list without maxItems",
        ".spec.storage.size: isQuantity(string(self)) && quantity(string(self)).isGreaterThan(quantity('0')): reads self without maxLength",
    ] {
        assert!(
            problems.iter().any(|p| p == expected),
            "{expected} not among {problems:#?}"
        );
    }
}
