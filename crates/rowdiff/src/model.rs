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
    /// The row's last-write time: set on every insert and every update. A value later than
    /// the failover point ([`DiffOptions::failover_point`]) on the new side marks a write made
    /// after the failover; on the old side, a write the new primary never received. Without
    /// it nothing after the failover can be told apart: every difference counts as lost.
    #[serde(default)]
    pub time_column: Option<String>,
    /// The row's creation time (set on insert only). With it, a key inserted after the
    /// failover point is told apart from one that existed before it: a lost insert from a
    /// lost update deleted since on the new side, a new row from a lost delete updated since,
    /// a reused id from a conflict. Without it, a row only on one side written after the
    /// failover point counts as inserted.
    #[serde(default)]
    pub created_column: Option<String>,
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
    pub fn created_column(mut self, col: impl Into<String>) -> Self {
        self.created_column = Some(col.into());
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
    /// When the failover began (RFC 3339). Needed when a table has a time column: the
    /// failover point is looked for before it.
    pub after: Option<String>,
    /// The failover point (RFC 3339): the last instant whose writes the new primary received
    /// from the old one. A write later than it is lost on the old side, or made after the
    /// failover on the new side. `None`: estimated ([`estimate_failover_point`]) as the
    /// latest time column value not after `after` on the new side, over the compared tables.
    ///
    /// [`estimate_failover_point`]: crate::estimate_failover_point
    #[serde(default)]
    pub failover_point: Option<String>,
    /// Target number of rows per leaf bucket: leaves are fetched row by row.
    pub leaf_rows: u64,
    /// Rows kept per table; beyond it rows are counted
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
            failover_point: None,
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

/// What happened to a key, as far as both sides and their time columns tell
/// (ARCHITECTURE.md, "The missing-transaction report", has the table with what an operator
/// does about each). "The failover point" is [`DiffOptions::failover_point`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// Only on the old side, written after the failover point: an insert never replicated.
    LostInsert,
    /// On both sides, the new one not changed after the failover point: an update never
    /// replicated (the new side still holds the version from before it).
    LostUpdate,
    /// Only on the new side, not changed after the failover point: a delete never replicated.
    LostDelete,
    /// Changed on both sides after the failover point: lost on the old side and changed
    /// since on the new one (updated again, or deleted), or deleted on the old side and
    /// updated since on the new one.
    Conflict,
    /// A lost insert whose key now holds another row, inserted after the failover on the
    /// new side (an auto-increment id handed out again).
    IdReused,
    /// Only on the new side, inserted after the failover. Not lost.
    InsertedAfter,
    /// On both sides, changed only on the new side, after the failover. Not lost.
    UpdatedAfter,
    /// Only on the old side, deleted on the new side after the failover. Not lost.
    DeletedAfter,
}

impl Class {
    pub const ALL: [Class; 8] = [
        Class::LostInsert,
        Class::LostUpdate,
        Class::LostDelete,
        Class::Conflict,
        Class::IdReused,
        Class::InsertedAfter,
        Class::UpdatedAfter,
        Class::DeletedAfter,
    ];

    /// The name the report files use (`lost-insert`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Class::LostInsert => "lost-insert",
            Class::LostUpdate => "lost-update",
            Class::LostDelete => "lost-delete",
            Class::Conflict => "conflict",
            Class::IdReused => "id-reused",
            Class::InsertedAfter => "inserted-after",
            Class::UpdatedAfter => "updated-after",
            Class::DeletedAfter => "deleted-after",
        }
    }

    pub fn parse(s: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// A write of the old primary the new one does not have: what the report is for.
    pub fn is_lost(self) -> bool {
        matches!(self, Class::LostInsert | Class::LostUpdate | Class::LostDelete | Class::Conflict | Class::IdReused)
    }

    /// What the report says about it, in a sentence.
    pub fn describe(self) -> &'static str {
        match self {
            Class::LostInsert => "inserted on the old primary, never replicated",
            Class::LostUpdate => "updated on the old primary, never replicated: the new primary has the version before",
            Class::LostDelete => "deleted on the old primary, never replicated: the new primary still has the row",
            Class::Conflict => {
                "changed on the old primary (lost) and changed again on the new primary after the failover"
            }
            Class::IdReused => "inserted on the old primary (lost); the new primary gave its key to another row since",
            Class::InsertedAfter => "inserted on the new primary after the failover (not lost)",
            Class::UpdatedAfter => "updated on the new primary after the failover (not lost)",
            Class::DeletedAfter => "deleted on the new primary after the failover (not lost)",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One differing key: its class, and its row on each side that has it (values in
/// [`TableDiff::columns`] order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyDiff {
    pub class: Class,
    pub old: Option<Vec<Value>>,
    pub new: Option<Vec<Value>>,
    /// With both rows: the names of the columns that differ.
    #[serde(default)]
    pub columns: Vec<String>,
}

impl KeyDiff {
    /// The row of either side (the key columns come first in both).
    pub fn values(&self) -> &[Value] {
        self.old.as_deref().or(self.new.as_deref()).unwrap_or(&[])
    }
}

/// Counts per class, always exact even when rows were not all kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub lost_insert: u64,
    pub lost_update: u64,
    pub lost_delete: u64,
    pub conflict: u64,
    pub id_reused: u64,
    pub inserted_after: u64,
    pub updated_after: u64,
    pub deleted_after: u64,
    /// Rows compared on each side.
    pub old_rows: u64,
    pub new_rows: u64,
}

impl Counts {
    pub fn get(&self, c: Class) -> u64 {
        match c {
            Class::LostInsert => self.lost_insert,
            Class::LostUpdate => self.lost_update,
            Class::LostDelete => self.lost_delete,
            Class::Conflict => self.conflict,
            Class::IdReused => self.id_reused,
            Class::InsertedAfter => self.inserted_after,
            Class::UpdatedAfter => self.updated_after,
            Class::DeletedAfter => self.deleted_after,
        }
    }

    pub fn add(&mut self, c: Class, n: u64) {
        let f = match c {
            Class::LostInsert => &mut self.lost_insert,
            Class::LostUpdate => &mut self.lost_update,
            Class::LostDelete => &mut self.lost_delete,
            Class::Conflict => &mut self.conflict,
            Class::IdReused => &mut self.id_reused,
            Class::InsertedAfter => &mut self.inserted_after,
            Class::UpdatedAfter => &mut self.updated_after,
            Class::DeletedAfter => &mut self.deleted_after,
        };
        *f += n;
    }

    /// Keys whose old-side write the new side lacks (every lost class).
    pub fn lost(&self) -> u64 {
        Class::ALL.into_iter().filter(|c| c.is_lost()).map(|c| self.get(c)).sum()
    }

    /// Keys changed on the new side after the failover, nothing lost.
    pub fn after(&self) -> u64 {
        Class::ALL.into_iter().filter(|c| !c.is_lost()).map(|c| self.get(c)).sum()
    }

    /// Differences that are not explained by writes after the failover.
    pub fn differences(&self) -> u64 {
        self.lost()
    }

    /// Adds another part's counts.
    pub fn absorb(&mut self, o: &Counts) {
        for c in Class::ALL {
            self.add(c, o.get(c));
        }
        self.old_rows += o.old_rows;
        self.new_rows += o.new_rows;
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
    /// The failover point the classes were decided against (UTC, `YYYY-MM-DD
    /// HH:MM:SS.ffffff`), when the table has a time column.
    #[serde(default)]
    pub failover_point: Option<String>,
    pub counts: Counts,
    /// Every differing key, in key order, with its class.
    pub rows: Vec<KeyDiff>,
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
    /// The key columns' values of a row.
    pub fn key_of<'a>(&self, values: &'a [Value]) -> Vec<&'a Value> {
        let n = self.key.len().min(values.len());
        values[..n].iter().collect()
    }

    /// The kept keys of one class.
    pub fn of_class(&self, class: Class) -> impl Iterator<Item = &KeyDiff> {
        self.rows.iter().filter(move |r| r.class == class)
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
