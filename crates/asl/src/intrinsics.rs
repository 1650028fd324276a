//! Intrinsic functions (`States.Format(...)` and friends), parsed once with the definition.

use base64::Engine as _;
use serde_json::{Map, Number, Value};

use crate::error::Failure;
use crate::path::JsonPath;

/// A source of random numbers (seeded by the runner, so executions are reproducible).
pub(crate) trait Entropy {
    fn next_u64(&self) -> u64;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    Base64Encode,
    Base64Decode,
    Hash,
    JsonMerge,
    MathRandom,
    MathAdd,
    StringSplit,
    Uuid,
}

const FUNCS: &[(&str, Func, usize, usize)] = &[
    ("States.Format", Func::Format, 1, usize::MAX),
    ("States.StringToJson", Func::StringToJson, 1, 1),
    ("States.JsonToString", Func::JsonToString, 1, 1),
    ("States.Array", Func::Array, 0, usize::MAX),
    ("States.ArrayPartition", Func::ArrayPartition, 2, 2),
    ("States.ArrayContains", Func::ArrayContains, 2, 2),
    ("States.ArrayRange", Func::ArrayRange, 3, 3),
    ("States.ArrayGetItem", Func::ArrayGetItem, 2, 2),
    ("States.ArrayLength", Func::ArrayLength, 1, 1),
    ("States.ArrayUnique", Func::ArrayUnique, 1, 1),
    ("States.Base64Encode", Func::Base64Encode, 1, 1),
    ("States.Base64Decode", Func::Base64Decode, 1, 1),
    ("States.Hash", Func::Hash, 2, 2),
    ("States.JsonMerge", Func::JsonMerge, 3, 3),
    ("States.MathRandom", Func::MathRandom, 2, 3),
    ("States.MathAdd", Func::MathAdd, 2, 2),
    ("States.StringSplit", Func::StringSplit, 2, 2),
    ("States.UUID", Func::Uuid, 0, 0),
];

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    /// A quoted literal: its value, and the raw text between the quotes (for `{}` in Format).
    Str(String, String),
    Lit(Value),
    Path(JsonPath),
    Call(Box<Call>),
}

/// A parsed intrinsic function call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    name: &'static str,
    func: Func,
    args: Vec<Arg>,
}

/// Whether a `.$` value is an intrinsic call rather than a path.
pub(crate) fn looks_like_call(s: &str) -> bool {
    s.trim_start().starts_with("States.")
}

impl Call {
    pub fn parse(text: &str) -> Result<Call, String> {
        let chars: Vec<char> = text.chars().collect();
        let mut p = Parser { c: &chars, i: 0, text };
        p.ws();
        let call = p.call()?;
        p.ws();
        if p.i != chars.len() {
            return Err(format!("`{text}`: unexpected text after the closing parenthesis"));
        }
        Ok(call)
    }

    pub(crate) fn eval(&self, input: &Value, ctx: &Value, rng: &dyn Entropy) -> Result<Value, Failure> {
        let mut vals = Vec::with_capacity(self.args.len());
        for a in &self.args {
            vals.push(match a {
                Arg::Str(v, _) => Value::String(v.clone()),
                Arg::Lit(v) => v.clone(),
                Arg::Path(p) => {
                    let root = if p.is_context() { ctx } else { input };
                    p.select(root).ok_or_else(|| {
                        Failure::runtime(format!("{}: the path `{p}` could not be found in the input", self.name))
                    })?
                }
                Arg::Call(c) => c.eval(input, ctx, rng)?,
            });
        }
        let name = self.name;
        let fail = |m: String| Failure::intrinsic(format!("{name}: {m}"));
        let s = |v: &Value| v.as_str().map(str::to_string).ok_or_else(|| fail(format!("expected a string, got {v}")));
        let arr = |v: &Value| v.as_array().cloned().ok_or_else(|| fail(format!("expected an array, got {v}")));
        let int = |v: &Value| {
            v.as_i64()
                .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                .ok_or_else(|| fail(format!("expected an integer, got {v}")))
        };
        Ok(match self.func {
            Func::Format => {
                let template = match &self.args[0] {
                    Arg::Str(_, raw) => raw.clone(),
                    _ => s(&vals[0])?,
                };
                format(&template, &vals[1..]).map_err(fail)?.into()
            }
            Func::StringToJson => {
                let text = s(&vals[0])?;
                serde_json::from_str(&text).map_err(|e| fail(format!("not JSON: {e}")))?
            }
            Func::JsonToString => Value::String(vals[0].to_string()),
            Func::Array => Value::Array(vals),
            Func::ArrayPartition => {
                let a = arr(&vals[0])?;
                let n = int(&vals[1])?;
                if n <= 0 {
                    return Err(fail("the chunk size must be positive".into()));
                }
                Value::Array(a.chunks(n as usize).map(|c| Value::Array(c.to_vec())).collect())
            }
            Func::ArrayContains => Value::Bool(arr(&vals[0])?.contains(&vals[1])),
            Func::ArrayRange => {
                let (from, to, step) = (int(&vals[0])?, int(&vals[1])?, int(&vals[2])?);
                if step == 0 {
                    return Err(fail("the step must not be 0".into()));
                }
                let mut out = Vec::new();
                let mut x = from;
                while (step > 0 && x <= to) || (step < 0 && x >= to) {
                    out.push(Value::from(x));
                    if out.len() > 1000 {
                        return Err(fail("more than 1000 elements".into()));
                    }
                    x += step;
                }
                Value::Array(out)
            }
            Func::ArrayGetItem => {
                let a = arr(&vals[0])?;
                let i = int(&vals[1])?;
                usize::try_from(i)
                    .ok()
                    .and_then(|i| a.get(i).cloned())
                    .ok_or_else(|| fail(format!("index {i} is out of bounds")))?
            }
            Func::ArrayLength => Value::from(arr(&vals[0])?.len()),
            Func::ArrayUnique => {
                let mut out: Vec<Value> = Vec::new();
                for v in arr(&vals[0])? {
                    if !out.contains(&v) {
                        out.push(v);
                    }
                }
                Value::Array(out)
            }
            Func::Base64Encode => base64::engine::general_purpose::STANDARD.encode(s(&vals[0])?).into(),
            Func::Base64Decode => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(s(&vals[0])?)
                    .map_err(|e| fail(format!("not base64: {e}")))?;
                String::from_utf8(bytes).map_err(|_| fail("decoded data is not UTF-8".into()))?.into()
            }
            Func::Hash => {
                let data = match &vals[0] {
                    Value::String(x) => x.clone(),
                    other => other.to_string(),
                };
                hash(&data, &s(&vals[1])?).map_err(fail)?.into()
            }
            Func::JsonMerge => {
                if vals[2] != Value::Bool(false) {
                    return Err(fail("only shallow merges (third argument false) are supported".into()));
                }
                let (Value::Object(a), Value::Object(b)) = (&vals[0], &vals[1]) else {
                    return Err(fail("both arguments must be objects".into()));
                };
                let mut m: Map<String, Value> = a.clone();
                for (k, v) in b {
                    m.insert(k.clone(), v.clone());
                }
                Value::Object(m)
            }
            Func::MathRandom => {
                let (lo, hi) = (int(&vals[0])?, int(&vals[1])?);
                if hi <= lo {
                    return Err(fail("the end must be greater than the start".into()));
                }
                let r = match vals.get(2) {
                    Some(seed) => splitmix(int(seed)? as u64),
                    None => rng.next_u64(),
                };
                Value::from(lo + (r % (hi - lo) as u64) as i64)
            }
            Func::MathAdd => {
                let (a, b) = (int(&vals[0])?, int(&vals[1])?);
                Value::from(a.checked_add(b).ok_or_else(|| fail("overflow".into()))?)
            }
            Func::StringSplit => {
                let text = s(&vals[0])?;
                let delims: Vec<char> = s(&vals[1])?.chars().collect();
                Value::Array(text.split(|c| delims.contains(&c)).filter(|p| !p.is_empty()).map(|p| p.into()).collect())
            }
            Func::Uuid => uuid_v4(rng.next_u64(), rng.next_u64()).into(),
        })
    }
}

fn format(template: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut it = template.chars().peekable();
    let mut n = 0;
    while let Some(c) = it.next() {
        match c {
            '\\' => out.extend(it.next()),
            '{' if it.peek() == Some(&'}') => {
                it.next();
                let v = args.get(n).ok_or_else(|| format!("more placeholders than the {} argument(s)", args.len()))?;
                match v {
                    Value::String(s) => out.push_str(s),
                    Value::Array(_) | Value::Object(_) => return Err("arguments must be scalars".into()),
                    other => out.push_str(&other.to_string()),
                }
                n += 1;
            }
            c => out.push(c),
        }
    }
    if n != args.len() {
        return Err(format!("{} placeholder(s) for {} argument(s)", n, args.len()));
    }
    Ok(out)
}

fn hash(data: &str, alg: &str) -> Result<String, String> {
    use sha2::Digest;
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    Ok(match alg {
        "MD5" => hex(&md5::Md5::digest(data.as_bytes())),
        "SHA-1" => hex(&sha1::Sha1::digest(data.as_bytes())),
        "SHA-256" => hex(&sha2::Sha256::digest(data.as_bytes())),
        "SHA-384" => hex(&sha2::Sha384::digest(data.as_bytes())),
        "SHA-512" => hex(&sha2::Sha512::digest(data.as_bytes())),
        other => return Err(format!("unknown hash algorithm `{other}`")),
    })
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A version 4 UUID from 128 random bits.
pub(crate) fn uuid_v4(a: u64, b: u64) -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_be_bytes());
    bytes[8..].copy_from_slice(&b.to_be_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h: String = bytes.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

struct Parser<'a> {
    c: &'a [char],
    i: usize,
    text: &'a str,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.c.len() && self.c[self.i].is_whitespace() {
            self.i += 1;
        }
    }

    fn err(&self, m: &str) -> String {
        format!("`{}`: {m} at offset {}", self.text, self.i)
    }

    fn call(&mut self) -> Result<Call, String> {
        let start = self.i;
        while self.i < self.c.len() && (self.c[self.i].is_alphanumeric() || self.c[self.i] == '.') {
            self.i += 1;
        }
        let name: String = self.c[start..self.i].iter().collect();
        let Some(&(fname, func, min, max)) = FUNCS.iter().find(|f| f.0 == name) else {
            return Err(format!("unsupported intrinsic function `{name}`"));
        };
        self.ws();
        if self.c.get(self.i) != Some(&'(') {
            return Err(self.err("expected `(`"));
        }
        self.i += 1;
        let mut args = Vec::new();
        self.ws();
        if self.c.get(self.i) == Some(&')') {
            self.i += 1;
        } else {
            loop {
                self.ws();
                args.push(self.arg()?);
                self.ws();
                match self.c.get(self.i) {
                    Some(',') => self.i += 1,
                    Some(')') => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(self.err("expected `,` or `)`")),
                }
            }
        }
        if args.len() < min || args.len() > max {
            return Err(format!("{fname} takes {} argument(s), got {}", arity(min, max), args.len()));
        }
        if func == Func::JsonToString && !matches!(args[0], Arg::Path(_)) {
            return Err(format!("{fname}: the argument must be a path"));
        }
        Ok(Call { name: fname, func, args })
    }

    fn arg(&mut self) -> Result<Arg, String> {
        match self.c.get(self.i) {
            Some('\'') => {
                self.i += 1;
                let (mut value, mut raw) = (String::new(), String::new());
                loop {
                    match self.c.get(self.i) {
                        None => return Err(self.err("unterminated string")),
                        Some('\'') => {
                            self.i += 1;
                            break;
                        }
                        Some('\\') => {
                            let next = *self.c.get(self.i + 1).ok_or_else(|| self.err("dangling `\\`"))?;
                            value.push(next);
                            raw.push('\\');
                            raw.push(next);
                            self.i += 2;
                        }
                        Some(&ch) => {
                            value.push(ch);
                            raw.push(ch);
                            self.i += 1;
                        }
                    }
                }
                Ok(Arg::Str(value, raw))
            }
            Some('$') => {
                let start = self.i;
                let mut quote: Option<char> = None;
                let mut depth = 0usize;
                while let Some(&ch) = self.c.get(self.i) {
                    match quote {
                        Some(q) if ch == q => quote = None,
                        Some(_) => {}
                        None if ch == '\'' || ch == '"' => quote = Some(ch),
                        None if ch == '[' => depth += 1,
                        None if ch == ']' => depth = depth.saturating_sub(1),
                        None if depth == 0 && (ch == ',' || ch == ')' || ch.is_whitespace()) => break,
                        None => {}
                    }
                    self.i += 1;
                }
                let text: String = self.c[start..self.i].iter().collect();
                Ok(Arg::Path(JsonPath::parse(&text)?))
            }
            Some('S') => Ok(Arg::Call(Box::new(self.call()?))),
            Some(_) => {
                let start = self.i;
                while self.i < self.c.len() && !matches!(self.c[self.i], ',' | ')') && !self.c[self.i].is_whitespace() {
                    self.i += 1;
                }
                let tok: String = self.c[start..self.i].iter().collect();
                let v = match tok.as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    "null" => Value::Null,
                    t => {
                        let n: Number =
                            serde_json::from_str(t).map_err(|_| self.err(&format!("unexpected argument `{t}`")))?;
                        Value::Number(n)
                    }
                };
                Ok(Arg::Lit(v))
            }
            None => Err(self.err("missing argument")),
        }
    }
}

fn arity(min: usize, max: usize) -> String {
    match (min, max) {
        (a, b) if a == b => a.to_string(),
        (a, usize::MAX) => format!("at least {a}"),
        (a, b) => format!("{a} to {b}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Zero;
    impl Entropy for Zero {
        fn next_u64(&self) -> u64 {
            42
        }
    }

    fn ev(text: &str, input: Value) -> Result<Value, Failure> {
        Call::parse(text).unwrap().eval(&input, &json!({}), &Zero)
    }

    #[test]
    fn format_and_friends() {
        assert_eq!(ev("States.Format('Hello, {}! \\{x\\}', $.n)", json!({"n": "W"})).unwrap(), json!("Hello, W! {x}"));
        assert_eq!(ev("States.Format('{} is {}', $.a, 3)", json!({"a": true})).unwrap(), json!("true is 3"));
        assert_eq!(ev("States.Array(1, 'a', $.x)", json!({"x": [1]})).unwrap(), json!([1, "a", [1]]));
        assert_eq!(ev("States.ArrayLength(States.Array(1,2))", json!({})).unwrap(), json!(2));
        assert_eq!(
            ev("States.ArrayLength($.a[?(@.n > 1)])", json!({"a": [{"n": 1}, {"n": 2}, {"n": 3}]})).unwrap(),
            json!(2)
        );
        assert_eq!(ev("States.MathAdd($.v, -1)", json!({"v": 10})).unwrap(), json!(9));
        assert_eq!(ev("States.StringToJson($.s)", json!({"s": "{\"a\":1}"})).unwrap(), json!({"a": 1}));
        assert_eq!(ev("States.JsonToString($.o)", json!({"o": {"a": 1}})).unwrap(), json!("{\"a\":1}"));
        assert_eq!(
            ev("States.JsonMerge($.a, $.b, false)", json!({"a": {"x": 1, "y": 1}, "b": {"y": 2}})).unwrap(),
            json!({"x": 1, "y": 2})
        );
        assert_eq!(ev("States.ArrayPartition(States.Array(1,2,3), 2)", json!({})).unwrap(), json!([[1, 2], [3]]));
        assert_eq!(ev("States.ArrayRange(1, 9, 4)", json!({})).unwrap(), json!([1, 5, 9]));
        assert_eq!(ev("States.StringSplit('a,b, c', ', ')", json!({})).unwrap(), json!(["a", "b", "c"]));
        assert_eq!(ev("States.Base64Decode(States.Base64Encode('hi'))", json!({})).unwrap(), json!("hi"));
        assert_eq!(
            ev("States.Hash('a', 'SHA-1')", json!({})).unwrap(),
            json!("86f7e437faa5a7fce15d1ddcb9eaeaea377667b8")
        );
        let uuid = ev("States.UUID()", json!({})).unwrap();
        assert_eq!(uuid.as_str().unwrap().len(), 36);
        assert_eq!(ev("States.Format('{}')", json!({})).unwrap_err().error, "States.IntrinsicFailure");
    }

    #[test]
    fn refuses_unknown_functions_and_arity() {
        assert!(Call::parse("States.Nope(1)").unwrap_err().contains("States.Nope"));
        assert!(Call::parse("States.MathAdd(1)").unwrap_err().contains("2 argument"));
    }
}
