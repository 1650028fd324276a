//! Payload templates: `Parameters`, `ResultSelector`, `ItemSelector`, with `.$` fields that take
//! a path or an intrinsic function.

use serde_json::{Map, Value};

use crate::error::Failure;
use crate::intrinsics::{Call, Entropy, looks_like_call};
use crate::path::JsonPath;

/// A value computed from a path (`$.x`, `$$.Execution.Id`) or an intrinsic function call.
#[derive(Debug, Clone, PartialEq)]
pub enum Dynamic {
    Path(JsonPath),
    Call(Call),
}

impl Dynamic {
    pub fn parse(text: &str) -> Result<Dynamic, String> {
        if looks_like_call(text) {
            Call::parse(text).map(Dynamic::Call)
        } else {
            JsonPath::parse(text).map(Dynamic::Path)
        }
    }

    /// `field` names the `.$` field for error messages.
    pub(crate) fn eval(&self, input: &Value, ctx: &Value, rng: &dyn Entropy, field: &str) -> Result<Value, Failure> {
        match self {
            Dynamic::Path(p) => {
                let root = if p.is_context() { ctx } else { input };
                p.select(root).ok_or_else(|| {
                    Failure::runtime(format!(
                        "The JSONPath '{p}' specified for the field '{field}' could not be found in the input"
                    ))
                })
            }
            Dynamic::Call(c) => c.eval(input, ctx, rng),
        }
    }
}

/// A compiled payload template.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    Literal(Value),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
    Dynamic(String, Dynamic),
}

impl Template {
    /// Compiles `v`; problems are reported as (field path inside the template, message).
    pub fn compile(v: &Value, problems: &mut Vec<(String, String)>) -> Template {
        Self::compile_at(v, "", problems)
    }

    fn compile_at(v: &Value, at: &str, problems: &mut Vec<(String, String)>) -> Template {
        match v {
            Value::Object(m) => {
                let mut fields = Vec::with_capacity(m.len());
                let mut literal = true;
                for (k, v) in m {
                    let here = format!("{at}.{k}");
                    if let Some(name) = k.strip_suffix(".$") {
                        literal = false;
                        let Some(text) = v.as_str() else {
                            problems
                                .push((here, "a `.$` field must be a string holding a path or an intrinsic".into()));
                            continue;
                        };
                        match Dynamic::parse(text) {
                            Ok(d) => fields.push((name.to_string(), Template::Dynamic(k.clone(), d))),
                            Err(e) => problems.push((here, e)),
                        }
                    } else {
                        let t = Self::compile_at(v, &here, problems);
                        literal &= matches!(t, Template::Literal(_));
                        fields.push((k.clone(), t));
                    }
                }
                if literal { Template::Literal(v.clone()) } else { Template::Object(fields) }
            }
            Value::Array(a) => {
                let items: Vec<Template> =
                    a.iter().enumerate().map(|(i, x)| Self::compile_at(x, &format!("{at}[{i}]"), problems)).collect();
                if items.iter().all(|t| matches!(t, Template::Literal(_))) {
                    Template::Literal(v.clone())
                } else {
                    Template::Array(items)
                }
            }
            other => Template::Literal(other.clone()),
        }
    }

    pub(crate) fn eval(&self, input: &Value, ctx: &Value, rng: &dyn Entropy) -> Result<Value, Failure> {
        Ok(match self {
            Template::Literal(v) => v.clone(),
            Template::Object(fields) => {
                let mut m = Map::new();
                for (k, t) in fields {
                    m.insert(k.clone(), t.eval(input, ctx, rng)?);
                }
                Value::Object(m)
            }
            Template::Array(items) => {
                Value::Array(items.iter().map(|t| t.eval(input, ctx, rng)).collect::<Result<_, _>>()?)
            }
            Template::Dynamic(field, d) => d.eval(input, ctx, rng, field)?,
        })
    }

    /// The literal or dynamic value of a top-level field (e.g. `FunctionName`), if present.
    pub(crate) fn field(&self, name: &str) -> Option<&Template> {
        match self {
            Template::Object(fields) => fields.iter().find(|(k, _)| k == name).map(|(_, t)| t),
            _ => None,
        }
    }

    /// The names of the top-level fields (without `.$`).
    pub(crate) fn field_names(&self) -> Vec<String> {
        match self {
            Template::Object(fields) => fields.iter().map(|(k, _)| k.clone()).collect(),
            Template::Literal(Value::Object(m)) => m.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    pub(crate) fn has_field(&self, name: &str) -> bool {
        self.field_names().iter().any(|k| k == name)
    }

    pub(crate) fn literal_field(&self, name: &str) -> Option<&Value> {
        match self {
            Template::Literal(Value::Object(m)) => m.get(name),
            Template::Object(_) => match self.field(name) {
                Some(Template::Literal(v)) => Some(v),
                _ => None,
            },
            _ => None,
        }
    }
}
