//! Conditions: `all` / `any` / `not` over comparisons of one fact with a value or another fact.
//!
//! Evaluation is total: a missing fact (absent or `null`), a fact of another type than the value
//! it is compared with, or facts that are not an object make the comparison false, never a panic
//! or an error. `not` inverts that false like any other, so `{"not": {"fact": "person.age", "op":
//! "gte", "value": 80}}` is true for a person whose age is unknown: write `exists` next to it when
//! that matters.

use std::cmp::Ordering;

use serde_json::Value;

use crate::error::{ErrorCode, RuleSetError};
use crate::is_known_fact;

/// A condition of a rule's `when`.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// True when every one is (and for an empty list).
    All(Vec<Condition>),
    /// True when at least one is (false for an empty list).
    Any(Vec<Condition>),
    Not(Box<Condition>),
    Compare(Comparison),
}

/// `{"fact": …, "op": …, "value": …}` or `{"fact": …, "op": …, "fact_value": …}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub fact: String,
    pub op: Op,
    pub operand: Operand,
}

/// What a fact is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// `exists` compares with nothing.
    Nothing,
    /// A literal (`value`).
    Value(Value),
    /// Another fact (`fact_value`), e.g. `house.registered_size`.
    Fact(String),
}

/// The comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Same type and equal (numbers numerically: `80` equals `80.0`).
    Eq,
    /// Same type and different: a string is not "not equal" to a number, it is not comparable.
    Ne,
    /// Numbers only.
    Gt,
    Gte,
    Lt,
    Lte,
    /// The value is an array and the fact equals (as `eq`) one of its elements.
    In,
    /// The fact is present and not `null`.
    Exists,
}

impl Op {
    /// Every operator's name as written in a rule set.
    pub const NAMES: [&'static str; 8] = ["eq", "ne", "gt", "gte", "lt", "lte", "in", "exists"];

    pub fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            "in" => Op::In,
            "exists" => Op::Exists,
            _ => return None,
        })
    }

    fn is_ordering(self) -> bool {
        matches!(self, Op::Gt | Op::Gte | Op::Lt | Op::Lte)
    }
}

/// A fact by name: `None` when absent, `null`, or when `facts` is not an object.
fn fact<'a>(facts: &'a Value, name: &str) -> Option<&'a Value> {
    facts.get(name).filter(|v| !v.is_null())
}

/// Equality of two values of the same JSON type; `None` when the types differ (or are not
/// scalars), which every operator treats as "false".
fn same_type_eq(l: &Value, r: &Value) -> Option<bool> {
    match (l, r) {
        (Value::Number(_), Value::Number(_)) => number_cmp(l, r).map(|o| o == Ordering::Equal),
        (Value::String(a), Value::String(b)) => Some(a == b),
        (Value::Bool(a), Value::Bool(b)) => Some(a == b),
        _ => None,
    }
}

/// Order of two numbers (exact for integers); `None` unless both are numbers.
fn number_cmp(l: &Value, r: &Value) -> Option<Ordering> {
    if let (Some(a), Some(b)) = (l.as_i64(), r.as_i64()) {
        return Some(a.cmp(&b));
    }
    if let (Some(a), Some(b)) = (l.as_u64(), r.as_u64()) {
        return Some(a.cmp(&b));
    }
    l.as_f64()?.partial_cmp(&r.as_f64()?)
}

impl Comparison {
    pub fn matches(&self, facts: &Value) -> bool {
        let Some(left) = fact(facts, &self.fact) else {
            return false;
        };
        let right = match &self.operand {
            Operand::Nothing => return self.op == Op::Exists,
            Operand::Value(v) => v,
            Operand::Fact(name) => match fact(facts, name) {
                Some(v) => v,
                None => return false,
            },
        };
        match self.op {
            Op::Exists => true,
            Op::Eq => same_type_eq(left, right) == Some(true),
            Op::Ne => same_type_eq(left, right) == Some(false),
            Op::Gt => number_cmp(left, right) == Some(Ordering::Greater),
            Op::Gte => matches!(
                number_cmp(left, right),
                Some(Ordering::Greater | Ordering::Equal)
            ),
            Op::Lt => number_cmp(left, right) == Some(Ordering::Less),
            Op::Lte => matches!(
                number_cmp(left, right),
                Some(Ordering::Less | Ordering::Equal)
            ),
            Op::In => right
                .as_array()
                .is_some_and(|xs| xs.iter().any(|x| same_type_eq(left, x) == Some(true))),
        }
    }
}

impl Condition {
    /// Whether the condition holds for `facts` (a flat object with dotted keys).
    pub fn matches(&self, facts: &Value) -> bool {
        match self {
            Condition::All(cs) => cs.iter().all(|c| c.matches(facts)),
            Condition::Any(cs) => cs.iter().any(|c| c.matches(facts)),
            Condition::Not(c) => !c.matches(facts),
            Condition::Compare(c) => c.matches(facts),
        }
    }

    /// Every fact name the condition reads.
    pub fn facts(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_facts(&mut out);
        out
    }

    fn collect_facts<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Condition::All(cs) | Condition::Any(cs) => {
                cs.iter().for_each(|c| c.collect_facts(out));
            }
            Condition::Not(c) => c.collect_facts(out),
            Condition::Compare(c) => {
                out.push(&c.fact);
                if let Operand::Fact(f) = &c.operand {
                    out.push(f);
                }
            }
        }
    }
}

fn err(errors: &mut Vec<RuleSetError>, code: ErrorCode, at: &str, message: impl Into<String>) {
    errors.push(RuleSetError::new(code, at, message));
}

/// Compile the JSON of a condition at `at` (a JSON pointer into the document), adding every
/// problem found to `errors`; `None` when there was at least one. The recursion is bounded by
/// serde_json's own nesting limit (128) on the parsed document.
pub(crate) fn compile(v: &Value, at: &str, errors: &mut Vec<RuleSetError>) -> Option<Condition> {
    let Some(obj) = v.as_object() else {
        err(
            errors,
            ErrorCode::BadCondition,
            at,
            "a condition is an object: {\"all\": […]}, {\"any\": […]}, {\"not\": …} or {\"fact\": …, \"op\": …}",
        );
        return None;
    };
    for combinator in ["all", "any", "not"] {
        let Some(inner) = obj.get(combinator) else {
            continue;
        };
        if obj.len() != 1 {
            err(
                errors,
                ErrorCode::BadCondition,
                at,
                format!("`{combinator}` stands alone in its object"),
            );
            return None;
        }
        let inner_at = format!("{at}/{combinator}");
        if combinator == "not" {
            return compile(inner, &inner_at, errors).map(|c| Condition::Not(Box::new(c)));
        }
        let Some(items) = inner.as_array() else {
            err(
                errors,
                ErrorCode::BadCondition,
                &inner_at,
                format!("`{combinator}` takes an array of conditions"),
            );
            return None;
        };
        let before = errors.len();
        let compiled: Vec<Condition> = items
            .iter()
            .enumerate()
            .filter_map(|(i, c)| compile(c, &format!("{inner_at}/{i}"), errors))
            .collect();
        if errors.len() > before {
            return None;
        }
        return Some(if combinator == "all" {
            Condition::All(compiled)
        } else {
            Condition::Any(compiled)
        });
    }
    if obj.contains_key("fact") {
        return compile_comparison(obj, at, errors).map(Condition::Compare);
    }
    err(
        errors,
        ErrorCode::BadCondition,
        at,
        "a condition has `all`, `any`, `not` or `fact`",
    );
    None
}

fn compile_comparison(
    obj: &serde_json::Map<String, Value>,
    at: &str,
    errors: &mut Vec<RuleSetError>,
) -> Option<Comparison> {
    let before = errors.len();
    for key in obj.keys() {
        if !matches!(key.as_str(), "fact" | "op" | "value" | "fact_value") {
            err(
                errors,
                ErrorCode::BadCondition,
                at,
                format!("unknown key `{key}` in a comparison (fact, op, value, fact_value)"),
            );
        }
    }
    let fact = match obj.get("fact").and_then(Value::as_str) {
        Some(f) if is_known_fact(f) => Some(f.to_owned()),
        Some(f) => {
            err(
                errors,
                ErrorCode::UnknownFact,
                &format!("{at}/fact"),
                format!("unknown fact `{f}`"),
            );
            None
        }
        None => {
            err(
                errors,
                ErrorCode::BadCondition,
                &format!("{at}/fact"),
                "`fact` is the name of a fact (a string)",
            );
            None
        }
    };
    let op = match obj.get("op") {
        Some(Value::String(s)) => match Op::parse(s) {
            Some(op) => Some(op),
            None => {
                err(
                    errors,
                    ErrorCode::UnknownOp,
                    &format!("{at}/op"),
                    format!("unknown op `{s}` (one of {})", Op::NAMES.join(", ")),
                );
                None
            }
        },
        Some(_) => {
            err(
                errors,
                ErrorCode::UnknownOp,
                &format!("{at}/op"),
                "`op` is a string",
            );
            None
        }
        None => {
            err(
                errors,
                ErrorCode::BadCondition,
                at,
                "a comparison needs `op`",
            );
            None
        }
    };
    let operand = match (obj.get("value"), obj.get("fact_value")) {
        (Some(_), Some(_)) => {
            err(
                errors,
                ErrorCode::BadCondition,
                at,
                "`value` or `fact_value`, not both",
            );
            None
        }
        (None, None) => Some(Operand::Nothing),
        (Some(v), None) => Some(Operand::Value(v.clone())),
        (None, Some(Value::String(f))) if is_known_fact(f) => Some(Operand::Fact(f.clone())),
        (None, Some(Value::String(f))) => {
            err(
                errors,
                ErrorCode::UnknownFact,
                &format!("{at}/fact_value"),
                format!("unknown fact `{f}`"),
            );
            None
        }
        (None, Some(_)) => {
            err(
                errors,
                ErrorCode::BadCondition,
                &format!("{at}/fact_value"),
                "`fact_value` is the name of a fact (a string)",
            );
            None
        }
    };
    if let (Some(op), Some(operand)) = (op, &operand) {
        check_operand(op, operand, at, errors);
    }
    if errors.len() > before {
        return None;
    }
    Some(Comparison {
        fact: fact?,
        op: op?,
        operand: operand?,
    })
}

/// The operand fits the operator (literals are checked here, facts when evaluated).
fn check_operand(op: Op, operand: &Operand, at: &str, errors: &mut Vec<RuleSetError>) {
    let value_at = format!("{at}/value");
    match (op, operand) {
        (Op::Exists, Operand::Nothing) => {}
        (Op::Exists, _) => err(
            errors,
            ErrorCode::BadCondition,
            at,
            "`exists` takes neither `value` nor `fact_value`",
        ),
        (_, Operand::Nothing) => err(
            errors,
            ErrorCode::BadCondition,
            at,
            "this op needs `value` or `fact_value`",
        ),
        (_, Operand::Fact(_)) => {}
        (Op::In, Operand::Value(v)) => {
            if !v.is_array() {
                err(
                    errors,
                    ErrorCode::BadCondition,
                    &value_at,
                    "`in` takes an array",
                );
            }
        }
        (op, Operand::Value(v)) if op.is_ordering() => {
            if !v.is_number() {
                err(
                    errors,
                    ErrorCode::BadCondition,
                    &value_at,
                    "gt, gte, lt and lte compare numbers",
                );
            }
        }
        (_, Operand::Value(v)) => {
            if !(v.is_string() || v.is_number() || v.is_boolean()) {
                err(
                    errors,
                    ErrorCode::BadCondition,
                    &value_at,
                    "eq and ne compare with a string, number or boolean (null: use exists)",
                );
            }
        }
    }
}
