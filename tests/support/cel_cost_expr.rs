//! cel-go's static cost estimate of one CEL expression (`checker/cost.go`), with the
//! Kubernetes cost estimator in front of it (k8s.io/apiserver `pkg/cel/library/cost.go`) and the
//! schema sizes of `super::Decl` behind it, for the constructs our rules use.
//!
//! Every node yields its worst-case cost and, where cel-go knows one, its worst-case size (the
//! result of `size()`: characters of a string, items of a list); an unknown size is `u64::MAX`,
//! as cel-go's `UnknownSizeEstimate`. The numbers that matter:
//! - an identifier or a field selection on an object or map costs 1, a constant 0, `has()` 0
//!   (Kubernetes sets `PresenceTestHasCost(false)`), `&&` / `||` only their operands, any other
//!   call 1 plus its arguments unless listed below;
//! - a string traversal costs `ceil(0.1 × size)` (`StringTraversalCostFactor`): `==`, `!=`, `<`…
//!   on strings traverse the shorter operand, `startsWith` / `endsWith` the argument, `+` the
//!   result; `contains` costs `ceil(0.1 × |s|) × ceil(0.1 × |sub|)`;
//! - `s.matches(re)` costs `ceil(0.1 × (|s| + 1)) × ceil(0.25 × |re|)`
//!   (`RegexStringLengthCostFactor`);
//! - `string(x)` of an int-or-string (CEL `dyn`) takes the most expensive `string` overload,
//!   `bytes_to_string`: a traversal of `x`, and a result as long as `x`;
//! - `quantity(s)` and `isQuantity(s)` traverse `s`; quantity comparisons cost 1.
//!
//! Anything else panics with the construct's name: the estimator must be taught, not trusted.

use kube::core::cel::cel::common::ast::{CallExpr, Expr, IdedExpr, LiteralValue, SelectExpr};
use kube::core::cel::cel::parser::Parser;

use super::{Decl, Kind};

const STRING_TRAVERSAL_COST_FACTOR: f64 = 0.1;
const REGEX_STRING_LENGTH_COST_FACTOR: f64 = 0.25;
const LIST_CREATE_BASE_COST: u64 = 10;
const UNKNOWN: u64 = u64::MAX;

/// The worst-case cost of one evaluation of `rule` on a node of type `this`
/// (`CompilationResult.MaxCost`).
pub fn rule_cost(rule: &str, this: &Decl) -> u64 {
    let ast = parse(rule);
    Coster { this }.cost(&ast).cost
}

/// Every field path a rule reads from `self` or `oldSelf` (`["storage", "mountPath"]` for
/// `self.storage.mountPath`; `[]` for `self` itself), prefixes included.
pub fn reads(rule: &str) -> Vec<Vec<String>> {
    fn chain(e: &IdedExpr) -> Option<Vec<String>> {
        match &e.expr {
            Expr::Ident(name) if name == "self" || name == "oldSelf" => Some(Vec::new()),
            Expr::Select(s) => chain(&s.operand).map(|mut c| {
                c.push(s.field.clone());
                c
            }),
            _ => None,
        }
    }
    fn visit(e: &IdedExpr, out: &mut Vec<Vec<String>>) {
        if let Some(c) = chain(e) {
            out.push(c);
        }
        match &e.expr {
            Expr::Select(s) => visit(&s.operand, out),
            Expr::Call(c) => {
                c.target.iter().for_each(|t| visit(t, out));
                c.args.iter().for_each(|a| visit(a, out));
            }
            Expr::List(l) => l.elements.iter().for_each(|a| visit(a, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    visit(&parse(rule), &mut out);
    out.sort();
    out.dedup();
    out
}

fn parse(rule: &str) -> IdedExpr {
    Parser::default()
        .parse(rule)
        .unwrap_or_else(|e| panic!("{rule}: does not parse: {e:?}"))
}

/// cel-go's `multiplyByCostFactor`: `ceil(x × factor)`, saturating.
fn by_factor(x: u64, factor: f64) -> u64 {
    let xf = x as f64;
    if xf > 0.0 && factor > 0.0 && xf > u64::MAX as f64 / factor {
        return u64::MAX;
    }
    let ceil = (xf * factor).ceil();
    if ceil >= u64::MAX as f64 {
        u64::MAX
    } else {
        ceil as u64
    }
}

/// One node: its worst-case cost, its type, and its worst-case size.
struct Est {
    cost: u64,
    decl: Decl,
    size: u64,
}

impl Est {
    /// A value without schema bounds: scalars have size 1 (`computeTypeSize`), the rest unknown.
    fn computed(cost: u64, kind: Kind) -> Est {
        let size = match kind {
            Kind::Bool
            | Kind::Int
            | Kind::UInt
            | Kind::Double
            | Kind::Timestamp
            | Kind::Duration => 1,
            _ => UNKNOWN,
        };
        Est {
            cost,
            decl: Decl::value(kind),
            size,
        }
    }

    /// A value reached through the schema (`self.a.b`, `list[i]`): the estimator's
    /// `EstimateSize` answers with the node's `MaxElements`, also for objects and numbers.
    fn schema(cost: u64, decl: &Decl) -> Est {
        Est {
            cost,
            size: decl.max_elements,
            decl: decl.clone(),
        }
    }

    fn is(&self, f: fn(&Kind) -> bool) -> bool {
        f(&self.decl.kind)
    }
}

fn is_string(k: &Kind) -> bool {
    matches!(k, Kind::String)
}
fn is_bytes(k: &Kind) -> bool {
    matches!(k, Kind::Bytes)
}
fn is_dyn(k: &Kind) -> bool {
    matches!(k, Kind::Dyn)
}
fn is_quantity(k: &Kind) -> bool {
    matches!(k, Kind::Quantity)
}
fn is_number(k: &Kind) -> bool {
    matches!(k, Kind::Int | Kind::UInt | Kind::Double)
}

struct Coster<'a> {
    this: &'a Decl,
}

impl Coster<'_> {
    fn cost(&self, e: &IdedExpr) -> Est {
        match &e.expr {
            Expr::Literal(l) => literal(l),
            Expr::Ident(name) if name == "self" || name == "oldSelf" => Est::schema(1, self.this),
            Expr::Ident(name) => panic!("unknown identifier {name}"),
            Expr::Select(s) => self.select(s),
            Expr::Call(c) => self.call(c),
            Expr::List(l) => {
                let items: Vec<Est> = l.elements.iter().map(|i| self.cost(i)).collect();
                let elem = items
                    .first()
                    .map(|i| i.decl.clone())
                    .unwrap_or(Decl::value(Kind::Dyn));
                Est {
                    cost: items
                        .iter()
                        .fold(LIST_CREATE_BASE_COST, |sum, i| sum.saturating_add(i.cost)),
                    decl: Decl::value(Kind::List(Box::new(elem))),
                    size: items.len() as u64,
                }
            }
            other => panic!("the cost of {other:?} is not modelled"),
        }
    }

    fn select(&self, s: &SelectExpr) -> Est {
        let operand = self.cost(&s.operand);
        if s.test {
            // has(): the presence test itself is free, its operand is not.
            return Est::computed(operand.cost, Kind::Bool);
        }
        match &operand.decl.kind {
            Kind::Object(fields) => {
                let field = fields
                    .get(&s.field)
                    .unwrap_or_else(|| panic!("no field {} in the schema", s.field));
                Est::schema(operand.cost.saturating_add(1), field)
            }
            // A map has no fields for `EstimateSize` to walk: only the element type is known.
            Kind::Map(value) => Est::computed(operand.cost.saturating_add(1), value.kind.clone()),
            Kind::Dyn => Est::computed(operand.cost, Kind::Dyn),
            other => panic!("select .{} on {other:?}", s.field),
        }
    }

    fn call(&self, c: &CallExpr) -> Est {
        let args: Vec<Est> = c.args.iter().map(|a| self.cost(a)).collect();
        let target = c.target.as_ref().map(|t| self.cost(t));
        let arg_sum = args.iter().fold(0u64, |s, a| s.saturating_add(a.cost));
        let target_cost = target.as_ref().map_or(0, |t| t.cost);
        let default = |kind: Kind| Est::computed(arg_sum.saturating_add(1), kind);
        let traversal = |size: u64| by_factor(size, STRING_TRAVERSAL_COST_FACTOR);
        let arg = |i: usize| &args[i];
        let mut est = match (c.func_name.as_str(), &target, args.len()) {
            ("_&&_" | "_||_", None, 2) => Est::computed(arg_sum, Kind::Bool),
            ("!_", None, 1) => default(Kind::Bool),
            ("_?_:_", None, 3) => Est {
                cost: arg(0).cost.saturating_add(arg(1).cost.max(arg(2).cost)),
                decl: if matches!(arg(1).decl.kind, Kind::Null) {
                    arg(2).decl.clone()
                } else {
                    arg(1).decl.clone()
                },
                size: arg(1).size.max(arg(2).size),
            },
            // The Kubernetes estimator prices == on quantities at 1; != it leaves to cel-go.
            ("_==_", None, 2) if arg(0).is(is_quantity) && arg(1).is(is_quantity) => {
                default(Kind::Bool)
            }
            // Equality traverses the shorter operand (for numbers and objects the schema
            // size is 0: `MaxElements` of a non-string node).
            ("_==_" | "_!=_", None, 2) => Est::computed(
                traversal(arg(0).size.min(arg(1).size)).saturating_add(arg_sum),
                Kind::Bool,
            ),
            ("_<_" | "_<=_" | "_>_" | "_>=_", None, 2) => {
                let textual = |e: &Est| e.is(is_string) || e.is(is_bytes) || e.is(is_dyn);
                let shorter = traversal(arg(0).size.min(arg(1).size));
                let cost = if (arg(0).is(is_string) && arg(1).is(is_string))
                    || (arg(0).is(is_bytes) && arg(1).is(is_bytes))
                {
                    shorter
                } else if textual(arg(0)) && textual(arg(1)) {
                    // dyn operands keep the numeric overloads too: the dearest one counts.
                    shorter.max(1)
                } else {
                    1
                };
                Est::computed(cost.saturating_add(arg_sum), Kind::Bool)
            }
            ("_+_", None, 2) if arg(0).is(is_string) && arg(1).is(is_string) => {
                let size = arg(0).size.saturating_add(arg(1).size);
                Est {
                    cost: traversal(size).saturating_add(arg_sum),
                    decl: Decl::value(Kind::String),
                    size,
                }
            }
            ("_+_" | "_-_" | "_*_" | "_/_" | "_%_", None, 2)
                if arg(0).is(is_number) && arg(1).is(is_number) =>
            {
                default(arg(0).decl.kind.clone())
            }
            ("size", None, 1) | ("size", Some(_), 0) => default(Kind::Int),
            ("contains", Some(t), 1) if t.is(is_string) && arg(0).is(is_string) => Est::computed(
                traversal(t.size)
                    .saturating_mul(traversal(arg(0).size))
                    .saturating_add(arg_sum),
                Kind::Bool,
            ),
            ("startsWith" | "endsWith", Some(t), 1) if t.is(is_string) => {
                Est::computed(traversal(arg(0).size).saturating_add(arg_sum), Kind::Bool)
            }
            ("matches", Some(t), 1) if t.is(is_string) => Est::computed(
                traversal(t.size.saturating_add(1))
                    .saturating_mul(by_factor(arg(0).size, REGEX_STRING_LENGTH_COST_FACTOR))
                    .saturating_add(arg_sum),
                Kind::Bool,
            ),
            ("string", None, 1) => match &arg(0).decl.kind {
                // bytes_to_string is the only `string` overload with a traversal and a size.
                Kind::Bytes | Kind::Dyn => Est {
                    cost: traversal(arg(0).size).max(1).saturating_add(arg_sum),
                    decl: Decl::value(Kind::String),
                    size: arg(0).size,
                },
                _ => default(Kind::String),
            },
            ("isQuantity" | "quantity", None, 1) => Est::computed(
                traversal(arg(0).size).saturating_add(arg_sum),
                if c.func_name == "quantity" {
                    Kind::Quantity
                } else {
                    Kind::Bool
                },
            ),
            ("isGreaterThan" | "isLessThan", Some(t), 1) if t.is(is_quantity) => {
                default(Kind::Bool)
            }
            ("compareTo", Some(t), 1) if t.is(is_quantity) => default(Kind::Int),
            ("_[_]", None, 2) => match &arg(0).decl.kind {
                Kind::List(elem) | Kind::Map(elem) => Est::schema(arg_sum.saturating_add(1), elem),
                other => panic!("index into {other:?}"),
            },
            (name, target, n) => panic!(
                "the cost of {name} ({} target, {n} arguments) is not modelled",
                if target.is_some() { "with" } else { "no" }
            ),
        };
        est.cost = est.cost.saturating_add(target_cost);
        est
    }
}

fn literal(l: &LiteralValue) -> Est {
    let (kind, size) = match l {
        LiteralValue::String(s) => (Kind::String, s.inner().chars().count() as u64),
        LiteralValue::Bytes(b) => (Kind::Bytes, b.inner().len() as u64),
        LiteralValue::Boolean(_) => (Kind::Bool, 1),
        LiteralValue::Int(_) => (Kind::Int, 1),
        LiteralValue::UInt(_) => (Kind::UInt, 1),
        LiteralValue::Double(_) => (Kind::Double, 1),
        LiteralValue::Null => (Kind::Null, 1),
    };
    Est {
        cost: 0,
        decl: Decl::value(kind),
        size,
    }
}
