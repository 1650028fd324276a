//! The JSONPath subset of the States Language.
//!
//! Supported: `$`, `$$` (the context object), `.field`, `['field']`, `[n]` (negative counts from
//! the end), and in non-reference paths `[*]`, `.*`, slices `[a:b]` and simple filters
//! `[?(@.field)]`, `[?(@.field OP literal)]`. Other filters, unions and recursive descent are
//! refused when the definition is parsed, never ignored.

use std::fmt;

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Field(String),
    Index(i64),
    Wildcard,
    Slice(Option<i64>, Option<i64>),
    /// `[?(@.a.b)]` or `[?(@.a.b OP literal)]` over the elements of an array.
    Filter(Vec<String>, Option<(FilterOp, Value)>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum FilterOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

fn parse_filter(text: &str, inner: &str) -> Result<Seg, String> {
    let bad = || format!("`{text}`: unsupported filter `{inner}` (only `?(@.field)` and `?(@.field OP literal)`)");
    let body = inner.strip_prefix("?(").and_then(|b| b.strip_suffix(')')).ok_or_else(bad)?.trim();
    let ops = [
        ("==", FilterOp::Eq),
        ("!=", FilterOp::Ne),
        ("<=", FilterOp::Le),
        (">=", FilterOp::Ge),
        ("<", FilterOp::Lt),
        (">", FilterOp::Gt),
    ];
    let (lhs, cond) = match ops.iter().find_map(|(t, op)| body.find(t).map(|i| (i, *t, *op))) {
        Some((i, t, op)) => {
            let lit = body[i + t.len()..].trim();
            let lit = if let Some(s) = lit.strip_prefix('\'').and_then(|l| l.strip_suffix('\'')) {
                Value::String(s.to_string())
            } else {
                serde_json::from_str(lit).map_err(|_| bad())?
            };
            (body[..i].trim(), Some((op, lit)))
        }
        None => (body, None),
    };
    let rest = lhs.strip_prefix('@').ok_or_else(bad)?;
    let mut fields = Vec::new();
    for part in rest.split('.').skip(1) {
        if part.is_empty() || part.contains(['[', ']', '*', ' ']) {
            return Err(bad());
        }
        fields.push(part.to_string());
    }
    if !rest.is_empty() && !rest.starts_with('.') {
        return Err(bad());
    }
    Ok(Seg::Filter(fields, cond))
}

fn filter_keeps(v: &Value, fields: &[String], cond: &Option<(FilterOp, Value)>) -> bool {
    let mut cur = v;
    for f in fields {
        match cur.get(f) {
            Some(x) => cur = x,
            None => return false,
        }
    }
    let Some((op, lit)) = cond else { return true };
    let ord = match (cur, lit) {
        (Value::Number(a), Value::Number(b)) => a.as_f64().zip(b.as_f64()).and_then(|(a, b)| a.partial_cmp(&b)),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (a, b) => return matches!(op, FilterOp::Eq) == (a == b) && matches!(op, FilterOp::Eq | FilterOp::Ne),
    };
    let Some(o) = ord else { return false };
    use std::cmp::Ordering::*;
    match op {
        FilterOp::Eq => o == Equal,
        FilterOp::Ne => o != Equal,
        FilterOp::Lt => o == Less,
        FilterOp::Le => o != Greater,
        FilterOp::Gt => o == Greater,
        FilterOp::Ge => o != Less,
    }
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    context: bool,
    segs: Vec<Seg>,
    text: String,
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl JsonPath {
    /// `$`.
    pub fn root() -> Self {
        Self { context: false, segs: Vec::new(), text: "$".into() }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let (context, rest) = if let Some(r) = text.strip_prefix("$$") {
            (true, r)
        } else if let Some(r) = text.strip_prefix('$') {
            (false, r)
        } else {
            return Err(format!("`{text}` is not a path: it must start with `$`"));
        };
        let chars: Vec<char> = rest.chars().collect();
        let mut segs = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '.' => {
                    i += 1;
                    if i < chars.len() && chars[i] == '.' {
                        return Err(format!("`{text}`: recursive descent (`..`) is not supported"));
                    }
                    if i < chars.len() && chars[i] == '*' {
                        segs.push(Seg::Wildcard);
                        i += 1;
                        continue;
                    }
                    let start = i;
                    while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                        i += 1;
                    }
                    if start == i {
                        return Err(format!("`{text}`: empty field name"));
                    }
                    segs.push(Seg::Field(chars[start..i].iter().collect()));
                }
                '[' => {
                    i += 1;
                    if i < chars.len() && (chars[i] == '\'' || chars[i] == '"') {
                        let quote = chars[i];
                        i += 1;
                        let mut name = String::new();
                        while i < chars.len() && chars[i] != quote {
                            if chars[i] == '\\' && i + 1 < chars.len() {
                                i += 1;
                            }
                            name.push(chars[i]);
                            i += 1;
                        }
                        if i + 1 >= chars.len() || chars[i + 1] != ']' {
                            return Err(format!("`{text}`: unterminated bracket"));
                        }
                        i += 2;
                        segs.push(Seg::Field(name));
                        continue;
                    }
                    let start = i;
                    while i < chars.len() && chars[i] != ']' {
                        i += 1;
                    }
                    if i >= chars.len() {
                        return Err(format!("`{text}`: unterminated bracket"));
                    }
                    let inner: String = chars[start..i].iter().collect();
                    i += 1;
                    let inner = inner.trim();
                    if inner == "*" {
                        segs.push(Seg::Wildcard);
                    } else if inner.starts_with('?') {
                        segs.push(parse_filter(text, inner)?);
                    } else if inner.contains(',') {
                        return Err(format!("`{text}`: unions are not supported"));
                    } else if let Some((a, b)) = inner.split_once(':') {
                        if b.contains(':') {
                            return Err(format!("`{text}`: slices with a step are not supported"));
                        }
                        let num = |s: &str| -> Result<Option<i64>, String> {
                            let s = s.trim();
                            if s.is_empty() {
                                Ok(None)
                            } else {
                                s.parse().map(Some).map_err(|_| format!("`{text}`: bad slice bound `{s}`"))
                            }
                        };
                        segs.push(Seg::Slice(num(a)?, num(b)?));
                    } else {
                        let n: i64 = inner.parse().map_err(|_| format!("`{text}`: bad index `{inner}`"))?;
                        segs.push(Seg::Index(n));
                    }
                }
                c => return Err(format!("`{text}`: unexpected `{c}`")),
            }
        }
        Ok(Self { context, segs, text: text.to_string() })
    }

    /// Whether this path addresses the context object (`$$`).
    pub fn is_context(&self) -> bool {
        self.context
    }

    /// Whether this path selects at most one node (a reference path).
    pub fn is_definite(&self) -> bool {
        self.segs.iter().all(|s| matches!(s, Seg::Field(_) | Seg::Index(_)))
    }

    pub fn is_root(&self) -> bool {
        self.segs.is_empty()
    }

    /// The single node a definite path points at.
    pub fn get<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        let mut cur = root;
        for s in &self.segs {
            cur = match (s, cur) {
                (Seg::Field(f), Value::Object(m)) => m.get(f)?,
                (Seg::Index(n), Value::Array(a)) => a.get(resolve_index(*n, a.len())?)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// What the path selects: the node of a definite path (None when missing), or the array of
    /// every match of an indefinite one.
    pub fn select(&self, root: &Value) -> Option<Value> {
        if self.is_definite() {
            return self.get(root).cloned();
        }
        let mut cur: Vec<&Value> = vec![root];
        for s in &self.segs {
            let mut next = Vec::new();
            for v in cur {
                match (s, v) {
                    (Seg::Field(f), Value::Object(m)) => next.extend(m.get(f)),
                    (Seg::Index(n), Value::Array(a)) => {
                        next.extend(resolve_index(*n, a.len()).and_then(|i| a.get(i)));
                    }
                    (Seg::Wildcard, Value::Array(a)) => next.extend(a.iter()),
                    (Seg::Wildcard, Value::Object(m)) => next.extend(m.values()),
                    (Seg::Filter(fields, cond), Value::Array(a)) => {
                        next.extend(a.iter().filter(|x| filter_keeps(x, fields, cond)));
                    }
                    (Seg::Slice(from, to), Value::Array(a)) => {
                        let len = a.len() as i64;
                        let clamp = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
                        let lo = clamp(from.unwrap_or(0));
                        let hi = clamp(to.unwrap_or(len));
                        if lo < hi {
                            next.extend(a[lo as usize..hi as usize].iter());
                        }
                    }
                    _ => {}
                }
            }
            cur = next;
        }
        Some(Value::Array(cur.into_iter().cloned().collect()))
    }

    /// Puts `value` where this reference path points inside `root`, creating missing objects
    /// on the way (ResultPath semantics).
    pub fn set(&self, root: &mut Value, value: Value) -> Result<(), String> {
        if self.segs.is_empty() {
            *root = value;
            return Ok(());
        }
        let mut cur = root;
        let last = self.segs.len() - 1;
        for (i, s) in self.segs.iter().enumerate() {
            match s {
                Seg::Field(f) => {
                    let Value::Object(m) = cur else {
                        return Err(format!(
                            "cannot set `{}`: the value at `{f}`'s parent is not an object",
                            self.text
                        ));
                    };
                    if i == last {
                        m.insert(f.clone(), value);
                        return Ok(());
                    }
                    let entry = m.entry(f.clone()).or_insert_with(|| Value::Object(Map::new()));
                    if entry.is_null() {
                        *entry = Value::Object(Map::new());
                    }
                    cur = entry;
                }
                Seg::Index(n) => {
                    let Value::Array(a) = cur else {
                        return Err(format!("cannot set `{}`: the value indexed by [{n}] is not an array", self.text));
                    };
                    let len = a.len();
                    let Some(idx) = resolve_index(*n, len).filter(|&x| x < len) else {
                        return Err(format!("cannot set `{}`: index {n} is out of bounds", self.text));
                    };
                    if i == last {
                        a[idx] = value;
                        return Ok(());
                    }
                    cur = &mut a[idx];
                }
                _ => return Err(format!("`{}` is not a reference path", self.text)),
            }
        }
        Ok(())
    }
}

fn resolve_index(n: i64, len: usize) -> Option<usize> {
    if n >= 0 {
        Some(n as usize)
    } else {
        let i = len as i64 + n;
        (i >= 0).then_some(i as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selects_definite_and_indefinite() {
        let v = json!({"a": {"b": [1, 2, 3]}, "x y": 5});
        assert_eq!(JsonPath::parse("$.a.b[1]").unwrap().select(&v), Some(json!(2)));
        assert_eq!(JsonPath::parse("$.a.b[-1]").unwrap().select(&v), Some(json!(3)));
        assert_eq!(JsonPath::parse("$['x y']").unwrap().select(&v), Some(json!(5)));
        assert_eq!(JsonPath::parse("$.a.b[*]").unwrap().select(&v), Some(json!([1, 2, 3])));
        assert_eq!(JsonPath::parse("$.a.b[1:]").unwrap().select(&v), Some(json!([2, 3])));
        assert_eq!(JsonPath::parse("$.nope").unwrap().select(&v), None);
        assert!(JsonPath::parse("$..a").is_err());
        assert!(JsonPath::parse("$.a[?(@.b =~ /x/)]").is_err());
        assert!(JsonPath::parse("a.b").is_err());
    }

    #[test]
    fn simple_filters() {
        let v = json!({"items": [{"s": "up", "n": 1}, {"s": "down", "n": 5}, {"n": 9}]});
        let sel = |p: &str| JsonPath::parse(p).unwrap().select(&v).unwrap();
        assert_eq!(sel("$.items[?(@.s)].n"), json!([1, 5]));
        assert_eq!(sel("$.items[?(@.s == 'down')].n"), json!([5]));
        assert_eq!(sel("$.items[?(@.s != 'down')].n"), json!([1]), "a missing field never matches");
        assert_eq!(sel("$.items[?(@.n >= 5)]"), json!([{"s": "down", "n": 5}, {"n": 9}]));
        assert_eq!(sel("$.items[?(@.n < 5)].s"), json!(["up"]));
        assert!(!JsonPath::parse("$.items[?(@.n < 5)]").unwrap().is_definite());
    }

    #[test]
    fn sets_nested_creating_objects() {
        let mut v = json!({"a": 1});
        JsonPath::parse("$.b.c").unwrap().set(&mut v, json!(true)).unwrap();
        assert_eq!(v, json!({"a": 1, "b": {"c": true}}));
        assert!(JsonPath::parse("$.a.c").unwrap().set(&mut v, json!(1)).is_err());
    }
}
