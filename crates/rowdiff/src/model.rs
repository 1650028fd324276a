//! The types a caller hands in (tables, ranges, options) and gets back (differences, errors).
//!
//! Everything here is owned and serialisable so that a Lambda can pass it across a Step
//! Functions Map state and a report can be written from it without a database.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One table to compare.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSpec {
    /// `table` or `schema.table`.
    pub name: String,
    /// Key columns; empty means "the primary key from the catalog".
    #[serde(default)]
    pub key: Vec<String>,
    /// Columns left out of the comparison (never key columns).
    #[serde(default)]
    pub ignore_columns: Vec<String>,
    /// Rows whose value in this column is later than [`DiffOptions::after`] are reported
    /// apart, as written after the failover.
    #[serde(default)]
    pub time_column: Option<String>,
    /// Restrict the comparison to a slice of the key space (see [`crate::plan_ranges`]).
    #[serde(default)]
    pub range: Option<KeyRange>,
}

impl TableSpec {
    pub fn new(name: impl Into<String>) -> Self {
        TableSpec { name: name.into(), ..Default::default() }
    }
    pub fn key<I: IntoIterator<Item = S>, S: Into<String>>(mut self, cols: I) -> Self {
        self.key = cols.into_iter().map(Into::into).collect();
        self
    }
    pub fn ignore<I: IntoIterator<Item = S>, S: Into<String>>(mut self, cols: I) -> Self {
        self.ignore_columns = cols.into_iter().map(Into::into).collect();
        self
    }
    pub fn time_column(mut self, col: impl Into<String>) -> Self {
        self.time_column = Some(col.into());
        self
    }
    pub fn range(mut self, r: KeyRange) -> Self {
        self.range = Some(r);
        self
    }
}

/// A half-open slice of the key space, `lower <= key < upper`, compared the way the
/// database compares keys (its collation). Bounds hold one text value per key column, in
/// the key's column order, as the database prints them; `None` is unbounded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRange {
    #[serde(default)]
    pub lower: Option<Vec<String>>,
    #[serde(default)]
    pub upper: Option<Vec<String>>,
}

/// Tuning and the failover time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffOptions {
    /// The failover time (RFC 3339). Needed when a table has a time column.
    pub after: Option<String>,
    /// Target number of rows per leaf bucket: leaves are fetched row by row.
    pub leaf_rows: u64,
    /// Rows kept per kind (lost, new, changed, after) and table; beyond it rows are counted
    /// but not kept, so memory stays bounded even when every row differs.
    pub max_rows_kept: usize,
    /// Descend one more level while the differing buckets hold more rows than this (and
    /// the differences are sparse); below it, their rows are fetched.
    pub descend_above_rows: u64,
    /// Bucket bits of the first level; `None` derives them from the table's size.
    pub first_level_bits: Option<u32>,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            after: None,
            leaf_rows: 128,
            max_rows_kept: 100_000,
            descend_above_rows: 50_000,
            first_level_bits: None,
        }
    }
}

/// One cell as compared: the canonical text the database produced (PostgreSQL, MySQL),
/// or the stored value (SQLite, whose values carry their own type).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    /// Binary values, rendered as lowercase hex.
    Bytes(#[serde(with = "hex_bytes")] Vec<u8>),
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Int(a), Value::Int(b)) => a == b,
            // Bit equality, as the row hash sees it: NaN equals NaN, -0 differs from 0.
            (Value::Real(a), Value::Real(b)) => a.to_bits() == b.to_bits(),
            (Value::Text(a), Value::Text(b)) => a == b,
            (Value::Bytes(a), Value::Bytes(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Real(r) => write!(f, "{r:?}"),
            Value::Text(s) => f.write_str(s),
            Value::Bytes(b) => {
                f.write_str("\\x")?;
                for x in b {
                    write!(f, "{x:02x}")?;
                }
                Ok(())
            }
        }
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::with_capacity(2 + b.len() * 2);
        out.push_str("\\x");
        for x in b {
            out.push_str(&format!("{x:02x}"));
        }
        s.serialize_str(&out)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        let s = s.strip_prefix("\\x").ok_or_else(|| serde::de::Error::custom("expected \\x hex"))?;
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(s.get(i..i + 2).unwrap_or("zz"), 16).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// A row present on one side only: its values in [`TableDiff::columns`] order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub values: Vec<Value>,
}

/// A row whose key is on both sides and whose values differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangedRow {
    pub old: Vec<Value>,
    pub new: Vec<Value>,
    /// Names of the columns that differ.
    pub columns: Vec<String>,
}

/// Counts, always exact even when rows were not all kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Rows only in the old side (the lost transactions).
    pub lost: u64,
    /// Rows only in the new side, not marked as written after the failover.
    pub new: u64,
    /// Rows on both sides that differ, not marked as written after the failover.
    pub changed: u64,
    /// Rows only in the new side or changed whose time column is after the failover.
    pub written_after: u64,
    /// Rows compared on each side.
    pub old_rows: u64,
    pub new_rows: u64,
}

impl Counts {
    /// Differences that are not explained by writes after the failover.
    pub fn differences(&self) -> u64 {
        self.lost + self.new + self.changed
    }
}

/// The result for one table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableDiff {
    pub table: String,
    pub key: Vec<String>,
    /// The compared columns, key columns first; rows list values in this order.
    pub columns: Vec<String>,
    pub range: Option<KeyRange>,
    pub counts: Counts,
    pub lost: Vec<Row>,
    pub new: Vec<Row>,
    pub changed: Vec<ChangedRow>,
    /// Rows only in the new side written after the failover.
    pub new_after: Vec<Row>,
    /// Changed rows whose new version was written after the failover.
    pub changed_after: Vec<ChangedRow>,
    /// True when some rows were counted but not kept ([`DiffOptions::max_rows_kept`]).
    pub truncated: bool,
    /// Queries issued per side, and rows fetched row by row per side (the leaves).
    pub stats: Stats,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub levels: u32,
    pub buckets_compared: u64,
    pub rows_fetched: u64,
}

impl TableDiff {
    /// Keys of the lost rows, each as the key columns' display text.
    pub fn key_of<'a>(&self, values: &'a [Value]) -> Vec<&'a Value> {
        let n = self.key.len();
        values[..n].iter().collect()
    }
}

/// What can go wrong. Every variant names the table, and the column when there is one.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("bad source: {0}")]
    BadSource(String),
    #[error("cannot connect to the database{}: {message}", side_note(side))]
    Connect { side: &'static str, message: String },
    #[error("the two sides are different engines ({old} and {new}): both sides must be the same engine")]
    EngineMismatch { old: &'static str, new: &'static str },
    #[error("table {table}: missing on the {side} side")]
    TableMissing { table: String, side: &'static str },
    #[error("table {table}: no primary key; name the key columns (--table {table}:COL,...)")]
    NoPrimaryKey { table: String },
    #[error("table {table}, column {column}: missing on the {side} side")]
    ColumnMissing { table: String, column: String, side: &'static str },
    #[error("table {table}, column {column}: types differ: {old} (old) and {new} (new)")]
    ColumnTypeMismatch { table: String, column: String, old: String, new: String },
    #[error("table {table}, column {column}: {message}")]
    Unsupported { table: String, column: String, message: String },
    #[error("table {table}: {message}")]
    BadSpec { table: String, message: String },
    #[error("table {table}: query failed on the {side} side: {message}")]
    Query { table: String, side: &'static str, message: String },
    #[error("{0}")]
    Io(String),
}

fn side_note(side: &str) -> String {
    if side.is_empty() { String::new() } else { format!(" of the {side} side") }
}

/// An error with its causes, which drivers often keep out of their own message.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

impl DiffError {
    /// Names the side (`old`, `new`) of an error raised on one source: a connection or query
    /// error, or a table or column missing on "this" side.
    pub fn on(self, which: &'static str) -> Self {
        match self {
            DiffError::Connect { message, .. } => DiffError::Connect { side: which, message },
            DiffError::Query { table, message, .. } => DiffError::Query { table, side: which, message },
            DiffError::TableMissing { table, side: "this" } => DiffError::TableMissing { table, side: which },
            DiffError::ColumnMissing { table, column, side: "this" } => {
                DiffError::ColumnMissing { table, column, side: which }
            }
            e => e,
        }
    }
    pub(crate) fn in_table(self, name: &str) -> Self {
        match self {
            DiffError::Query { table, side, message } if table.is_empty() => {
                DiffError::Query { table: name.into(), side, message }
            }
            e => e,
        }
    }
    /// The table the error is about, when there is one.
    pub fn table(&self) -> Option<&str> {
        match self {
            DiffError::TableMissing { table, .. }
            | DiffError::NoPrimaryKey { table }
            | DiffError::ColumnMissing { table, .. }
            | DiffError::ColumnTypeMismatch { table, .. }
            | DiffError::Unsupported { table, .. }
            | DiffError::BadSpec { table, .. }
            | DiffError::Query { table, .. } => Some(table),
            _ => None,
        }
    }
}
