//! DynamoDB attribute values (the wire format's `AttributeValue` union) and numbers.
//!
//! Numbers are kept as decimals, never as floats: DynamoDB stores up to 38 significant
//! digits, compares numerically (`"10" > "9"`, `"1.0" = "1"`) and answers them in a
//! canonical form (`"1.50"` comes back as `"1.5"`, `"1e2"` as `"100"`). Sets are kept
//! sorted and without duplicates, so that two equal sets compare equal whatever order
//! they were written in.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use serde_json::{Map, Value, json};

/// An item: attribute name to value.
pub type Item = BTreeMap<String, AttrValue>;

/// The most significant digits a number may have.
const MAX_DIGITS: usize = 38;
/// The largest magnitude is 9.99…E+125: its most significant digit is at 10^125.
const MAX_MSD: i64 = 126;
/// The smallest positive magnitude is 1E-130.
const MIN_MSD: i64 = -129;

/// A DynamoDB number: `digits × 10^exp`, canonical (no leading or trailing zeros in
/// `digits`; zero is empty digits, positive, exponent 0), so derived equality is numeric
/// equality.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Number {
    neg: bool,
    digits: Vec<u8>,
    exp: i64,
}

impl Number {
    /// Parses the wire form (`-12.5`, `1e3`, `0.0001`), with DynamoDB's limits.
    pub fn parse(s: &str) -> Result<Number, String> {
        let bad = || format!("The parameter cannot be converted to a numeric value: {s}");
        let bytes = s.as_bytes();
        let mut i = 0;
        let mut neg = false;
        if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
            neg = bytes[i] == b'-';
            i += 1;
        }
        let mut digits = Vec::new();
        let mut frac = 0i64;
        let mut seen_dot = false;
        let mut seen_digit = false;
        while i < bytes.len() {
            match bytes[i] {
                b @ b'0'..=b'9' => {
                    digits.push(b - b'0');
                    seen_digit = true;
                    if seen_dot {
                        frac += 1;
                    }
                }
                b'.' if !seen_dot => seen_dot = true,
                _ => break,
            }
            i += 1;
        }
        if !seen_digit {
            return Err(bad());
        }
        let mut exp = 0i64;
        if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
            i += 1;
            let mut eneg = false;
            if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
                eneg = bytes[i] == b'-';
                i += 1;
            }
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                exp = exp.saturating_mul(10).saturating_add(i64::from(bytes[i] - b'0'));
                i += 1;
            }
            if i == start {
                return Err(bad());
            }
            if eneg {
                exp = -exp;
            }
        }
        if i != bytes.len() {
            return Err(bad());
        }
        Number::from_parts(neg, digits, exp.saturating_sub(frac))
    }

    /// Normalises and checks the limits.
    fn from_parts(neg: bool, mut digits: Vec<u8>, mut exp: i64) -> Result<Number, String> {
        let lead = digits.iter().take_while(|d| **d == 0).count();
        digits.drain(..lead);
        while digits.last() == Some(&0) {
            digits.pop();
            exp = exp.saturating_add(1);
        }
        if digits.is_empty() {
            return Ok(Number::zero());
        }
        if digits.len() > MAX_DIGITS {
            return Err("Attempting to store more than 38 significant digits in a Number".into());
        }
        let msd = digits.len() as i64 + exp;
        if msd > MAX_MSD {
            return Err(
                "Number overflow. Attempting to store a number with magnitude larger than supported range".into()
            );
        }
        if msd < MIN_MSD {
            return Err(
                "Number underflow. Attempting to store a number with magnitude smaller than supported range".into()
            );
        }
        Ok(Number { neg, digits, exp })
    }

    pub fn zero() -> Number {
        Number { neg: false, digits: Vec::new(), exp: 0 }
    }

    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// An integer.
    pub fn from_i64(n: i64) -> Number {
        Number::parse(&n.to_string()).unwrap_or_else(|_| Number::zero())
    }

    /// The nearest float (for TTL timestamps).
    pub fn to_f64(&self) -> f64 {
        self.to_string().parse().unwrap_or(f64::NAN)
    }

    pub fn negated(&self) -> Number {
        if self.is_zero() { self.clone() } else { Number { neg: !self.neg, ..self.clone() } }
    }

    /// `self + other`, exactly (an error when the sum needs more than 38 digits).
    pub fn add(&self, other: &Number) -> Result<Number, String> {
        if self.is_zero() {
            return Ok(other.clone());
        }
        if other.is_zero() {
            return Ok(self.clone());
        }
        let exp = self.exp.min(other.exp);
        let a = self.aligned(exp);
        let b = other.aligned(exp);
        if self.neg == other.neg {
            return Number::from_parts(self.neg, add_mag(&a, &b), exp);
        }
        match cmp_mag_digits(&a, &b) {
            Ordering::Equal => Ok(Number::zero()),
            Ordering::Greater => Number::from_parts(self.neg, sub_mag(&a, &b), exp),
            Ordering::Less => Number::from_parts(other.neg, sub_mag(&b, &a), exp),
        }
    }

    /// The digits of the magnitude as an integer scaled to `10^exp` (`exp <= self.exp`).
    fn aligned(&self, exp: i64) -> Vec<u8> {
        let mut d = self.digits.clone();
        d.extend(std::iter::repeat_n(0, (self.exp - exp) as usize));
        d
    }

    fn cmp_magnitude(&self, other: &Number) -> Ordering {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        let ma = self.digits.len() as i64 + self.exp;
        let mb = other.digits.len() as i64 + other.exp;
        if ma != mb {
            return ma.cmp(&mb);
        }
        let n = self.digits.len().max(other.digits.len());
        for i in 0..n {
            let x = self.digits.get(i).copied().unwrap_or(0);
            let y = other.digits.get(i).copied().unwrap_or(0);
            if x != y {
                return x.cmp(&y);
            }
        }
        Ordering::Equal
    }
}

/// Compares two big-endian digit strings of integers (no sign).
fn cmp_mag_digits(a: &[u8], b: &[u8]) -> Ordering {
    let a = &a[a.iter().take_while(|d| **d == 0).count()..];
    let b = &b[b.iter().take_while(|d| **d == 0).count()..];
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn add_mag(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len().max(b.len()) + 1);
    let (mut i, mut j, mut carry) = (a.len(), b.len(), 0u8);
    while i > 0 || j > 0 || carry > 0 {
        let x = if i > 0 { a[i - 1] } else { 0 };
        let y = if j > 0 { b[j - 1] } else { 0 };
        let s = x + y + carry;
        out.push(s % 10);
        carry = s / 10;
        i = i.saturating_sub(1);
        j = j.saturating_sub(1);
    }
    out.reverse();
    out
}

/// `a - b` for `a >= b`.
fn sub_mag(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len());
    let (mut i, mut j, mut borrow) = (a.len(), b.len(), 0i8);
    while i > 0 {
        let x = a[i - 1] as i8;
        let y = if j > 0 { b[j - 1] as i8 } else { 0 };
        let mut d = x - y - borrow;
        borrow = 0;
        if d < 0 {
            d += 10;
            borrow = 1;
        }
        out.push(d as u8);
        i -= 1;
        j = j.saturating_sub(1);
    }
    out.reverse();
    out
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        let a_neg = self.neg && !self.is_zero();
        let b_neg = other.neg && !other.is_zero();
        match (a_neg, b_neg) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The canonical form DynamoDB answers: plain decimal notation, no exponent.
impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        let mut s = String::new();
        if self.neg {
            s.push('-');
        }
        let digits: String = self.digits.iter().map(|d| char::from(b'0' + d)).collect();
        if self.exp >= 0 {
            s.push_str(&digits);
            s.extend(std::iter::repeat_n('0', self.exp as usize));
        } else {
            let point = digits.len() as i64 + self.exp;
            if point <= 0 {
                s.push_str("0.");
                s.extend(std::iter::repeat_n('0', (-point) as usize));
                s.push_str(&digits);
            } else {
                s.push_str(&digits[..point as usize]);
                s.push('.');
                s.push_str(&digits[point as usize..]);
            }
        }
        f.write_str(&s)
    }
}

/// One attribute value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue {
    S(String),
    N(Number),
    B(Vec<u8>),
    Bool(bool),
    Null,
    M(BTreeMap<String, AttrValue>),
    L(Vec<AttrValue>),
    /// Sorted, no duplicates.
    Ss(Vec<String>),
    /// Sorted numerically, no duplicates.
    Ns(Vec<Number>),
    /// Sorted, no duplicates.
    Bs(Vec<Vec<u8>>),
}

impl AttrValue {
    /// A string value.
    pub fn s(v: impl Into<String>) -> AttrValue {
        AttrValue::S(v.into())
    }

    /// A number value from its text (`AttrValue::n("42")`); `None` when it is not a number.
    pub fn n(v: &str) -> Option<AttrValue> {
        Number::parse(v).ok().map(AttrValue::N)
    }

    /// A string set (sorted, duplicates dropped).
    pub fn ss<I: IntoIterator<Item = S>, S: Into<String>>(v: I) -> AttrValue {
        let mut v: Vec<String> = v.into_iter().map(Into::into).collect();
        v.sort();
        v.dedup();
        AttrValue::Ss(v)
    }

    /// The wire name of the type (`S`, `N`, `BOOL`, `SS`, ...), as DynamoDB's messages name it.
    pub fn type_name(&self) -> &'static str {
        match self {
            AttrValue::S(_) => "S",
            AttrValue::N(_) => "N",
            AttrValue::B(_) => "B",
            AttrValue::Bool(_) => "BOOL",
            AttrValue::Null => "NULL",
            AttrValue::M(_) => "M",
            AttrValue::L(_) => "L",
            AttrValue::Ss(_) => "SS",
            AttrValue::Ns(_) => "NS",
            AttrValue::Bs(_) => "BS",
        }
    }

    pub fn as_s(&self) -> Option<&str> {
        match self {
            AttrValue::S(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_n(&self) -> Option<&Number> {
        match self {
            AttrValue::N(n) => Some(n),
            _ => None,
        }
    }

    /// Whether the value is a scalar that `<`, `<=`, `>`, `>=` and BETWEEN order.
    pub fn is_ordered(&self) -> bool {
        matches!(self, AttrValue::S(_) | AttrValue::N(_) | AttrValue::B(_))
    }

    /// The order of two values of the same ordered type (strings and binaries by their
    /// bytes, numbers numerically); `None` for other types or mixed types.
    pub fn compare(&self, other: &AttrValue) -> Option<Ordering> {
        match (self, other) {
            (AttrValue::S(a), AttrValue::S(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
            (AttrValue::N(a), AttrValue::N(b)) => Some(a.cmp(b)),
            (AttrValue::B(a), AttrValue::B(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    /// An estimate of the stored size in bytes, after DynamoDB's sizing rules (strings and
    /// binaries by length, numbers about one byte per two digits, 3 bytes of overhead per
    /// map or list and one per element).
    pub fn size(&self) -> usize {
        match self {
            AttrValue::S(s) => s.len(),
            AttrValue::N(n) => n.digits.len().div_ceil(2) + 1,
            AttrValue::B(b) => b.len(),
            AttrValue::Bool(_) | AttrValue::Null => 1,
            AttrValue::M(m) => 3 + m.iter().map(|(k, v)| k.len() + v.size() + 1).sum::<usize>(),
            AttrValue::L(l) => 3 + l.iter().map(|v| v.size() + 1).sum::<usize>(),
            AttrValue::Ss(v) => v.iter().map(String::len).sum(),
            AttrValue::Ns(v) => v.iter().map(|n| n.digits.len().div_ceil(2) + 1).sum(),
            AttrValue::Bs(v) => v.iter().map(Vec::len).sum(),
        }
    }

    /// Reads one value of the wire format (`{"S": "x"}`, `{"N": "1"}`, `{"M": {...}}`, ...).
    pub fn from_json(v: &Value) -> Result<AttrValue, String> {
        let obj = v.as_object().ok_or_else(empty_value)?;
        let set: Vec<(&String, &Value)> = obj.iter().filter(|(_, v)| !v.is_null()).collect();
        if set.len() > 1 {
            return Err("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes".into());
        }
        let Some((kind, v)) = set.first().copied() else { return Err(empty_value()) };
        let string = |v: &Value| v.as_str().map(str::to_string).ok_or_else(empty_value);
        let strings = |v: &Value| -> Result<Vec<String>, String> {
            v.as_array().ok_or_else(empty_value)?.iter().map(string).collect()
        };
        Ok(match kind.as_str() {
            "S" => AttrValue::S(string(v)?),
            "N" => AttrValue::N(Number::parse(&string(v)?)?),
            "B" => AttrValue::B(decode_b64(&string(v)?)?),
            "BOOL" => AttrValue::Bool(v.as_bool().ok_or_else(empty_value)?),
            "NULL" => {
                if v.as_bool() != Some(true) {
                    return Err(
                        "One or more parameter values were invalid: Null attribute value types must have the value of true"
                            .into(),
                    );
                }
                AttrValue::Null
            }
            "M" => {
                let m = v.as_object().ok_or_else(empty_value)?;
                AttrValue::M(
                    m.iter().map(|(k, v)| Ok((k.clone(), AttrValue::from_json(v)?))).collect::<Result<_, String>>()?,
                )
            }
            "L" => AttrValue::L(
                v.as_array().ok_or_else(empty_value)?.iter().map(AttrValue::from_json).collect::<Result<_, _>>()?,
            ),
            "SS" => {
                let raw = strings(v)?;
                if raw.is_empty() {
                    return Err("One or more parameter values were invalid: An string set  may not be empty".into());
                }
                let mut sorted = raw.clone();
                sorted.sort();
                sorted.dedup();
                if sorted.len() != raw.len() {
                    return Err(duplicates(&raw));
                }
                AttrValue::Ss(sorted)
            }
            "NS" => {
                let raw = strings(v)?;
                if raw.is_empty() {
                    return Err("One or more parameter values were invalid: An number set  may not be empty".into());
                }
                let mut nums = raw.iter().map(|s| Number::parse(s)).collect::<Result<Vec<_>, _>>()?;
                nums.sort();
                nums.dedup();
                if nums.len() != raw.len() {
                    return Err(duplicates(&raw));
                }
                AttrValue::Ns(nums)
            }
            "BS" => {
                let raw = strings(v)?;
                if raw.is_empty() {
                    return Err("One or more parameter values were invalid: Binary sets should not be empty".into());
                }
                let mut bins = raw.iter().map(|s| decode_b64(s)).collect::<Result<Vec<_>, _>>()?;
                bins.sort();
                bins.dedup();
                if bins.len() != raw.len() {
                    return Err(duplicates(&raw));
                }
                AttrValue::Bs(bins)
            }
            _ => return Err(empty_value()),
        })
    }

    /// The wire format of this value.
    pub fn to_json(&self) -> Value {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        match self {
            AttrValue::S(s) => json!({ "S": s }),
            AttrValue::N(n) => json!({ "N": n.to_string() }),
            AttrValue::B(b) => json!({ "B": b64(b) }),
            AttrValue::Bool(b) => json!({ "BOOL": b }),
            AttrValue::Null => json!({ "NULL": true }),
            AttrValue::M(m) => json!({ "M": item_to_json(m) }),
            AttrValue::L(l) => json!({ "L": l.iter().map(AttrValue::to_json).collect::<Vec<_>>() }),
            AttrValue::Ss(v) => json!({ "SS": v }),
            AttrValue::Ns(v) => json!({ "NS": v.iter().map(Number::to_string).collect::<Vec<_>>() }),
            AttrValue::Bs(v) => json!({ "BS": v.iter().map(|b| b64(b)).collect::<Vec<_>>() }),
        }
    }
}

fn empty_value() -> String {
    "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes".into()
}

fn duplicates(raw: &[String]) -> String {
    format!("One or more parameter values were invalid: Input collection [{}] contains duplicates.", raw.join(", "))
}

fn decode_b64(s: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| "One or more parameter values were invalid: the binary value is not valid base64".to_string())
}

/// Reads a map of attribute values (an `Item`, a `Key`, `ExpressionAttributeValues`).
pub fn item_from_json(v: &Value) -> Result<Item, String> {
    let obj = v.as_object().ok_or_else(|| "Expected a map of attribute values".to_string())?;
    obj.iter().map(|(k, v)| Ok((k.clone(), AttrValue::from_json(v)?))).collect()
}

/// The wire format of a map of attribute values.
pub fn item_to_json(item: &Item) -> Value {
    Value::Object(item.iter().map(|(k, v)| (k.clone(), v.to_json())).collect::<Map<_, _>>())
}

/// The size of an item as DynamoDB counts it against the 400 KB limit (names and values).
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + v.size()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Number {
        Number::parse(s).unwrap()
    }

    #[test]
    fn numbers_are_canonical() {
        assert_eq!(n("1.50").to_string(), "1.5");
        assert_eq!(n("1e2").to_string(), "100");
        assert_eq!(n("-0").to_string(), "0");
        assert_eq!(n("007").to_string(), "7");
        assert_eq!(n("0.000120").to_string(), "0.00012");
        assert_eq!(n("-12.34E1").to_string(), "-123.4");
        assert_eq!(n("1.0"), n("1"));
    }

    #[test]
    fn numbers_compare_as_decimals() {
        assert!(n("10") > n("9"));
        assert!(n("-10") < n("-9"));
        assert!(n("0.5") < n("1"));
        assert!(n("-0.5") < n("0"));
        assert!(n("1767225600") > n("1767225599.999"));
        assert_eq!(n("2.0").cmp(&n("2")), Ordering::Equal);
    }

    #[test]
    fn numbers_add_exactly() {
        assert_eq!(n("0.1").add(&n("0.2")).unwrap().to_string(), "0.3");
        assert_eq!(n("5").add(&n("-7")).unwrap().to_string(), "-2");
        assert_eq!(n("-5").add(&n("5")).unwrap().to_string(), "0");
        assert_eq!(n("999").add(&n("1")).unwrap().to_string(), "1000");
        assert_eq!(n("1.25").add(&n("-0.25")).unwrap().to_string(), "1");
    }

    #[test]
    fn numbers_refuse_what_dynamodb_refuses() {
        assert!(Number::parse("abc").unwrap_err().contains("cannot be converted to a numeric value: abc"));
        assert!(Number::parse("").is_err());
        assert!(Number::parse("1e").is_err());
        assert!(Number::parse("1.2.3").is_err());
        assert!(
            Number::parse("123456789012345678901234567890123456789").unwrap_err().contains("38 significant digits")
        );
        assert!(Number::parse("1e126").unwrap_err().contains("overflow"));
        assert!(Number::parse("1e-131").unwrap_err().contains("underflow"));
        assert!(Number::parse("1e-130").is_ok());
    }

    #[test]
    fn values_round_trip_the_wire_format() {
        let v = json!({"M": {"a": {"S": "x"}, "b": {"N": "1.50"}, "c": {"L": [{"BOOL": true}, {"NULL": true}]},
            "d": {"SS": ["b", "a"]}, "e": {"B": "AAE="}}});
        let parsed = AttrValue::from_json(&v).unwrap();
        let back = parsed.to_json();
        assert_eq!(back["M"]["b"], json!({"N": "1.5"}));
        assert_eq!(back["M"]["d"], json!({"SS": ["a", "b"]}));
        assert_eq!(AttrValue::from_json(&back).unwrap(), parsed);
    }

    #[test]
    fn malformed_values_are_refused() {
        assert!(AttrValue::from_json(&json!({})).unwrap_err().contains("is empty"));
        assert!(AttrValue::from_json(&json!({"S": "a", "N": "1"})).unwrap_err().contains("more than one"));
        assert!(AttrValue::from_json(&json!({"SS": []})).unwrap_err().contains("may not be empty"));
        assert!(AttrValue::from_json(&json!({"SS": ["a", "a"]})).unwrap_err().contains("contains duplicates"));
        assert!(AttrValue::from_json(&json!({"NULL": false})).unwrap_err().contains("value of true"));
    }

    #[test]
    fn sets_are_equal_in_any_order() {
        let a = AttrValue::from_json(&json!({"SS": ["x", "y"]})).unwrap();
        let b = AttrValue::from_json(&json!({"SS": ["y", "x"]})).unwrap();
        assert_eq!(a, b);
    }
}
