//! Choice rules: parsing and evaluation.

use std::cmp::Ordering;
use std::time::SystemTime;

use serde_json::Value;

use crate::error::Failure;
use crate::path::JsonPath;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Numeric,
    Boolean,
    Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    Literal(Value),
    Path(JsonPath),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypeTest {
    Present,
    Null,
    Numeric,
    String,
    Boolean,
    Timestamp,
}

/// A Boolean expression of a Choice state.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Rule {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    Compare { variable: JsonPath, kind: Kind, op: Op, operand: Operand },
    Matches { variable: JsonPath, pattern: String },
    Test { variable: JsonPath, test: TypeTest, expected: bool },
}

const COMPARATORS: &[(&str, Kind, Op)] = &[
    ("StringEquals", Kind::String, Op::Eq),
    ("StringLessThan", Kind::String, Op::Lt),
    ("StringGreaterThan", Kind::String, Op::Gt),
    ("StringLessThanEquals", Kind::String, Op::Le),
    ("StringGreaterThanEquals", Kind::String, Op::Ge),
    ("NumericEquals", Kind::Numeric, Op::Eq),
    ("NumericLessThan", Kind::Numeric, Op::Lt),
    ("NumericGreaterThan", Kind::Numeric, Op::Gt),
    ("NumericLessThanEquals", Kind::Numeric, Op::Le),
    ("NumericGreaterThanEquals", Kind::Numeric, Op::Ge),
    ("BooleanEquals", Kind::Boolean, Op::Eq),
    ("TimestampEquals", Kind::Timestamp, Op::Eq),
    ("TimestampLessThan", Kind::Timestamp, Op::Lt),
    ("TimestampGreaterThan", Kind::Timestamp, Op::Gt),
    ("TimestampLessThanEquals", Kind::Timestamp, Op::Le),
    ("TimestampGreaterThanEquals", Kind::Timestamp, Op::Ge),
];

const TESTS: &[(&str, TypeTest)] = &[
    ("IsPresent", TypeTest::Present),
    ("IsNull", TypeTest::Null),
    ("IsNumeric", TypeTest::Numeric),
    ("IsString", TypeTest::String),
    ("IsBoolean", TypeTest::Boolean),
    ("IsTimestamp", TypeTest::Timestamp),
];

impl Rule {
    /// Parses one rule object. `top` rules carry `Next` (read by the caller); nested ones must
    /// not. Problems are (field, message) relative to the rule.
    pub fn parse(v: &Value, top: bool, problems: &mut Vec<(String, String)>) -> Option<Rule> {
        let Some(m) = v.as_object() else {
            problems.push((String::new(), "a choice rule must be an object".into()));
            return None;
        };
        let mut ops: Vec<&str> = Vec::new();
        let mut variable = None;
        for (k, val) in m {
            match k.as_str() {
                "Next" if top => {}
                "Next" => problems.push((".Next".into(), "only top-level choice rules may have `Next`".into())),
                "Comment" => {}
                "Variable" => match val.as_str().map(JsonPath::parse) {
                    Some(Ok(p)) if p.is_definite() => variable = Some(p),
                    Some(Ok(p)) => problems.push((".Variable".into(), format!("`{p}` must be a reference path"))),
                    Some(Err(e)) => problems.push((".Variable".into(), e)),
                    None => problems.push((".Variable".into(), "must be a string".into())),
                },
                "And" | "Or" | "Not" => ops.push(k),
                other if is_operator(other) => ops.push(k),
                "Assign" | "Condition" | "Output" => problems
                    .push((format!(".{k}"), "JSONata and variables are not supported by the local runner".into())),
                other => problems.push((format!(".{other}"), "unsupported field in a choice rule".into())),
            }
        }
        if top && !m.contains_key("Next") {
            problems.push((".Next".into(), "a top-level choice rule needs `Next`".into()));
        }
        if ops.len() != 1 {
            problems.push((String::new(), format!("a choice rule needs exactly one operator, found {}", ops.len())));
            return None;
        }
        let op = ops[0];
        let val = &m[op];
        let sub = |val: &Value, problems: &mut Vec<(String, String)>, at: String| {
            let mut p = Vec::new();
            let r = Rule::parse(val, false, &mut p);
            problems.extend(p.into_iter().map(|(f, msg)| (format!("{at}{f}"), msg)));
            r
        };
        match op {
            "And" | "Or" => {
                let Some(list) = val.as_array().filter(|l| !l.is_empty()) else {
                    problems.push((format!(".{op}"), "must be a non-empty array of rules".into()));
                    return None;
                };
                let rules: Vec<Rule> =
                    list.iter().enumerate().filter_map(|(i, r)| sub(r, problems, format!(".{op}[{i}]"))).collect();
                if variable.is_some() {
                    problems.push((".Variable".into(), format!("`{op}` takes no `Variable`")));
                }
                Some(if op == "And" { Rule::And(rules) } else { Rule::Or(rules) })
            }
            "Not" => {
                if variable.is_some() {
                    problems.push((".Variable".into(), "`Not` takes no `Variable`".into()));
                }
                sub(val, problems, ".Not".into()).map(|r| Rule::Not(Box::new(r)))
            }
            _ => {
                let Some(variable) = variable else {
                    problems.push((".Variable".into(), format!("`{op}` needs a `Variable`")));
                    return None;
                };
                parse_comparison(op, val, variable, problems)
            }
        }
    }

    pub fn eval(&self, input: &Value, ctx: &Value) -> Result<bool, Failure> {
        let lookup = |p: &JsonPath| -> Option<&Value> { if p.is_context() { p.get(ctx) } else { p.get(input) } };
        let required = |p: &JsonPath| {
            lookup(p).ok_or_else(|| {
                Failure::runtime(format!(
                    "Invalid path '{p}': The choice state's condition path references an invalid value."
                ))
            })
        };
        Ok(match self {
            Rule::And(rules) => {
                for r in rules {
                    if !r.eval(input, ctx)? {
                        return Ok(false);
                    }
                }
                true
            }
            Rule::Or(rules) => {
                for r in rules {
                    if r.eval(input, ctx)? {
                        return Ok(true);
                    }
                }
                false
            }
            Rule::Not(r) => !r.eval(input, ctx)?,
            Rule::Test { variable, test, expected } => {
                let v = lookup(variable);
                if *test != TypeTest::Present && v.is_none() {
                    return Err(required(variable).unwrap_err());
                }
                let got = match (test, v) {
                    (TypeTest::Present, v) => v.is_some(),
                    (TypeTest::Null, Some(v)) => v.is_null(),
                    (TypeTest::Numeric, Some(v)) => v.is_number(),
                    (TypeTest::String, Some(v)) => v.is_string(),
                    (TypeTest::Boolean, Some(v)) => v.is_boolean(),
                    (TypeTest::Timestamp, Some(v)) => v.as_str().and_then(timestamp).is_some(),
                    (_, None) => false,
                };
                got == *expected
            }
            Rule::Matches { variable, pattern } => {
                required(variable)?.as_str().is_some_and(|s| string_matches(s, pattern))
            }
            Rule::Compare { variable, kind, op, operand } => {
                let left = required(variable)?;
                let right = match operand {
                    Operand::Literal(v) => v,
                    Operand::Path(p) => required(p)?,
                };
                let ord = match kind {
                    Kind::String => match (left.as_str(), right.as_str()) {
                        (Some(a), Some(b)) => Some(a.cmp(b)),
                        _ => None,
                    },
                    Kind::Numeric => match (left.as_f64(), right.as_f64()) {
                        (Some(a), Some(b)) if left.is_number() && right.is_number() => a.partial_cmp(&b),
                        _ => None,
                    },
                    Kind::Boolean => match (left.as_bool(), right.as_bool()) {
                        (Some(a), Some(b)) => Some(a.cmp(&b)),
                        _ => None,
                    },
                    Kind::Timestamp => match (left.as_str().and_then(timestamp), right.as_str().and_then(timestamp)) {
                        (Some(a), Some(b)) => Some(a.cmp(&b)),
                        _ => None,
                    },
                };
                match (ord, op) {
                    (None, _) => false,
                    (Some(o), Op::Eq) => o == Ordering::Equal,
                    (Some(o), Op::Lt) => o == Ordering::Less,
                    (Some(o), Op::Gt) => o == Ordering::Greater,
                    (Some(o), Op::Le) => o != Ordering::Greater,
                    (Some(o), Op::Ge) => o != Ordering::Less,
                }
            }
        })
    }
}

fn is_operator(k: &str) -> bool {
    let base = k.strip_suffix("Path").unwrap_or(k);
    k == "StringMatches" || COMPARATORS.iter().any(|c| c.0 == base) || TESTS.iter().any(|t| t.0 == k)
}

fn parse_comparison(op: &str, val: &Value, variable: JsonPath, problems: &mut Vec<(String, String)>) -> Option<Rule> {
    let at = format!(".{op}");
    if op == "StringMatches" {
        return match val.as_str() {
            Some(p) => Some(Rule::Matches { variable, pattern: p.to_string() }),
            None => {
                problems.push((at, "must be a string".into()));
                None
            }
        };
    }
    if let Some(&(_, test)) = TESTS.iter().find(|t| t.0 == op) {
        return match val.as_bool() {
            Some(expected) => Some(Rule::Test { variable, test, expected }),
            None => {
                problems.push((at, "must be true or false".into()));
                None
            }
        };
    }
    let (base, is_path) = match op.strip_suffix("Path") {
        Some(b) => (b, true),
        None => (op, false),
    };
    let &(_, kind, cop) = COMPARATORS.iter().find(|c| c.0 == base)?;
    let operand = if is_path {
        match val.as_str().map(JsonPath::parse) {
            Some(Ok(p)) if p.is_definite() => Operand::Path(p),
            Some(Ok(p)) => {
                problems.push((at, format!("`{p}` must be a reference path")));
                return None;
            }
            Some(Err(e)) => {
                problems.push((at, e));
                return None;
            }
            None => {
                problems.push((at, "must be a path string".into()));
                return None;
            }
        }
    } else {
        let ok = match kind {
            Kind::String => val.is_string(),
            Kind::Numeric => val.is_number(),
            Kind::Boolean => val.is_boolean(),
            Kind::Timestamp => val.as_str().and_then(timestamp).is_some(),
        };
        if !ok {
            problems.push((at, format!("`{val}` is not a valid operand for {op}")));
            return None;
        }
        Operand::Literal(val.clone())
    };
    Some(Rule::Compare { variable, kind, op: cop, operand })
}

pub(crate) fn timestamp(s: &str) -> Option<SystemTime> {
    // The States Language requires an uppercase T and Z (or an offset) per RFC 3339.
    if !s.contains('T') {
        return None;
    }
    failover_core::time_fmt::parse_rfc3339(s).ok()
}

/// `*` matches any run of characters; `\*` is a literal asterisk and `\\` a backslash.
fn string_matches(s: &str, pattern: &str) -> bool {
    enum Tok {
        Star,
        Ch(char),
    }
    let mut toks = Vec::new();
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => toks.extend(it.next().map(Tok::Ch)),
            '*' => toks.push(Tok::Star),
            c => toks.push(Tok::Ch(c)),
        }
    }
    let s: Vec<char> = s.chars().collect();
    // Classic wildcard matching with backtracking to the last star.
    let (mut i, mut j) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        match toks.get(j) {
            Some(Tok::Ch(c)) if *c == s[i] => {
                i += 1;
                j += 1;
            }
            Some(Tok::Star) => {
                star = Some((j, i));
                j += 1;
            }
            _ => match star {
                Some((sj, si)) => {
                    j = sj + 1;
                    i = si + 1;
                    star = Some((sj, si + 1));
                }
                None => return false,
            },
        }
    }
    toks[j..].iter().all(|t| matches!(t, Tok::Star))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_matching() {
        assert!(string_matches("log-2024.txt", "log-*.txt"));
        assert!(string_matches("abc", "*"));
        assert!(string_matches("a*b", "a\\*b"));
        assert!(!string_matches("axb", "a\\*b"));
        assert!(!string_matches("log.csv", "log*.txt"));
        assert!(string_matches("aXbYb", "a*b"));
    }
}
