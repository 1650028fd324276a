//! The values, tables and writes of the reference schemas, and their SQL in each dialect.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

use super::db::{Dialect, quote_ident};

/// One cell. Decimals are exact (hundredths), timestamps are microseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Value {
    Null,
    Int(i64),
    /// A `numeric(12,2)` in hundredths (`12.30` is `1230`).
    Decimal(i64),
    Text(String),
    /// A `timestamp(6)` (UTC) in microseconds since the Unix epoch.
    Timestamp(i64),
}

impl Value {
    pub(super) fn ts(t: SystemTime) -> Value {
        let micros = t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0);
        Value::Timestamp(micros)
    }

    /// The value as text the way the databases print it (`12.30`, `2026-11-26 05:40:00.000000`).
    pub fn to_text(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Int(v) => Some(v.to_string()),
            Value::Decimal(c) => Some(format_cents(*c)),
            Value::Text(s) => Some(s.clone()),
            Value::Timestamp(us) => Some(format_micros(*us)),
        }
    }

    fn sql(&self, dialect: Dialect) -> String {
        match self {
            Value::Null => "NULL".into(),
            Value::Int(v) => v.to_string(),
            Value::Decimal(c) => format_cents(*c),
            Value::Text(s) => {
                let mut q = s.replace('\'', "''");
                if dialect == Dialect::Mysql {
                    q = q.replace('\\', "\\\\");
                }
                format!("'{q}'")
            }
            Value::Timestamp(us) => format!("'{}'", format_micros(*us)),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.to_text().as_deref().unwrap_or("NULL"))
    }
}

impl Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_none(),
            Value::Int(v) => s.serialize_i64(*v),
            other => s.serialize_str(&other.to_text().unwrap_or_default()),
        }
    }
}

fn format_cents(c: i64) -> String {
    let sign = if c < 0 { "-" } else { "" };
    let a = c.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

/// A `timestamp(6)` as the databases print it: `2026-11-26 05:40:00.000000`.
const TIMESTAMP_OUT: &[time::format_description::BorrowedFormatItem<'_>] =
    time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:6]");

/// A timestamp as a database may hand it back: fewer fraction digits or none (PostgreSQL),
/// a `T` and a UTC offset.
const TIMESTAMP_IN: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
    "[year]-[month]-[day][first [ ] [T]][hour]:[minute]:[second][optional [.[subsecond digits:1+]]][optional [[first [Z] [+00]]]]"
);

fn format_micros(us: i64) -> String {
    let dt = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    dt.format(TIMESTAMP_OUT).unwrap_or_default()
}

fn parse_cents(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.chars().all(|c| c.is_ascii_digit()) && frac.chars().all(|c| c.is_ascii_digit()) && frac.len() <= 2 {
        let w: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
        let f: i64 = format!("{frac:0<2}").parse().ok()?;
        let c = w * 100 + f;
        return Some(if neg { -c } else { c });
    }
    // SQLite may hand back a float (NUMERIC affinity).
    s.parse::<f64>().ok().map(|f| (f * 100.0).round() as i64)
}

fn parse_micros(s: &str) -> Option<i64> {
    let t = time::PrimitiveDateTime::parse(s.trim(), TIMESTAMP_IN).ok()?;
    Some((t.assume_utc().unix_timestamp_nanos() / 1000) as i64)
}

/// A column type of a simulated table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ColType {
    BigInt,
    Int,
    Decimal,
    Text,
    Timestamp,
}

impl ColType {
    fn ddl(self, dialect: Dialect) -> &'static str {
        match (self, dialect) {
            (ColType::BigInt, _) => "bigint",
            (ColType::Int, _) => "integer",
            (ColType::Decimal, Dialect::Mysql) => "decimal(12,2)",
            (ColType::Decimal, _) => "numeric(12,2)",
            (ColType::Text, Dialect::Mysql) => "varchar(64)",
            (ColType::Text, _) => "text",
            (ColType::Timestamp, Dialect::Mysql) => "datetime(6)",
            (ColType::Timestamp, _) => "timestamp(6)",
        }
    }

    pub(super) fn parse(self, cell: Option<&str>) -> Value {
        let Some(s) = cell else { return Value::Null };
        let parsed = match self {
            ColType::BigInt | ColType::Int => s.trim().parse().ok().map(Value::Int),
            ColType::Decimal => parse_cents(s).map(Value::Decimal),
            ColType::Text => Some(Value::Text(s.to_string())),
            ColType::Timestamp => parse_micros(s).map(Value::Timestamp),
        };
        parsed.unwrap_or_else(|| Value::Text(s.to_string()))
    }
}

/// A column of a table definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: String,
    pub ty: ColType,
    pub nullable: bool,
}

/// A table: its columns and its primary key (indices into `columns`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableDef {
    pub name: String,
    pub columns: Vec<Column>,
    pub key: Vec<usize>,
}

impl TableDef {
    pub(super) fn key_of(&self, row: &[Value]) -> Key {
        self.key.iter().map(|&i| row[i].clone()).collect()
    }

    /// The names of the key columns.
    pub fn key_columns(&self) -> Vec<&str> {
        self.key.iter().map(|&i| self.columns[i].name.as_str()).collect()
    }

    pub(super) fn create_sql(&self, dialect: Dialect) -> String {
        let cols: Vec<String> = self
            .columns
            .iter()
            .map(|c| {
                let null = if c.nullable { "NULL" } else { "NOT NULL" };
                format!("{} {} {null}", quote_ident(dialect, &c.name), c.ty.ddl(dialect))
            })
            .collect();
        let key: Vec<String> = self.key_columns().iter().map(|c| quote_ident(dialect, c)).collect();
        format!(
            "CREATE TABLE {} ({}, PRIMARY KEY ({}))",
            quote_ident(dialect, &self.name),
            cols.join(", "),
            key.join(", ")
        )
    }

    pub(super) fn select_sql(&self, dialect: Dialect) -> String {
        let cols: Vec<String> = self.columns.iter().map(|c| quote_ident(dialect, &c.name)).collect();
        format!("SELECT {} FROM {}", cols.join(", "), quote_ident(dialect, &self.name))
    }

    fn key_predicate(&self, dialect: Dialect, key: &[Value]) -> String {
        self.key
            .iter()
            .zip(key)
            .map(|(&i, v)| format!("{} = {}", quote_ident(dialect, &self.columns[i].name), v.sql(dialect)))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    pub(super) fn insert_sql(&self, dialect: Dialect, rows: &[&Row]) -> String {
        let cols: Vec<String> = self.columns.iter().map(|c| quote_ident(dialect, &c.name)).collect();
        let values: Vec<String> = rows
            .iter()
            .map(|r| format!("({})", r.iter().map(|v| v.sql(dialect)).collect::<Vec<_>>().join(", ")))
            .collect();
        format!("INSERT INTO {} ({}) VALUES {}", quote_ident(dialect, &self.name), cols.join(", "), values.join(", "))
    }

    pub(super) fn op_sql(&self, dialect: Dialect, op: &Op) -> String {
        let t = quote_ident(dialect, &self.name);
        match op {
            Op::Insert { row, .. } => self.insert_sql(dialect, &[row]),
            Op::Update { row, .. } => {
                let sets: Vec<String> = (0..self.columns.len())
                    .filter(|i| !self.key.contains(i))
                    .map(|i| format!("{} = {}", quote_ident(dialect, &self.columns[i].name), row[i].sql(dialect)))
                    .collect();
                format!("UPDATE {t} SET {} WHERE {}", sets.join(", "), self.key_predicate(dialect, &self.key_of(row)))
            }
            Op::Delete { key, .. } => format!("DELETE FROM {t} WHERE {}", self.key_predicate(dialect, key)),
        }
    }
}

/// Which tables (and which workload) a global cluster carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schema {
    /// The reference `orders` and `order_items`.
    Orders,
    /// The reference `products` and `tags` (the catalog).
    Catalog,
    /// The tables of a plan (and of the user's DDL, when given), written by the generic
    /// workload.
    Plan(Arc<Vec<TableDef>>),
}

impl Serialize for Schema {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Schema::Orders => s.serialize_str("orders"),
            Schema::Catalog => s.serialize_str("catalog"),
            Schema::Plan(tables) => tables.serialize(s),
        }
    }
}

impl Schema {
    pub fn tables(&self) -> Vec<TableDef> {
        let c = |name: &str, ty, nullable| Column { name: name.into(), ty, nullable };
        match self {
            Schema::Plan(tables) => tables.as_ref().clone(),
            Schema::Orders => vec![
                TableDef {
                    name: "orders".into(),
                    columns: vec![
                        c("id", ColType::BigInt, false),
                        c("customer_id", ColType::BigInt, false),
                        c("amount", ColType::Decimal, true),
                        c("status", ColType::Text, false),
                        c("created_at", ColType::Timestamp, false),
                        c("updated_at", ColType::Timestamp, false),
                    ],
                    key: vec![0],
                },
                TableDef {
                    name: "order_items".into(),
                    columns: vec![
                        c("order_id", ColType::BigInt, false),
                        c("product_id", ColType::BigInt, false),
                        c("qty", ColType::Int, false),
                        c("price", ColType::Decimal, false),
                        c("created_at", ColType::Timestamp, false),
                        // Set by every write, as `orders.updated_at`: what tells a lost write
                        // from one made after the failover.
                        c("updated_at", ColType::Timestamp, false),
                    ],
                    key: vec![0, 1],
                },
            ],
            Schema::Catalog => vec![
                TableDef {
                    name: "products".into(),
                    columns: vec![
                        c("id", ColType::BigInt, false),
                        c("name", ColType::Text, false),
                        c("price", ColType::Decimal, true),
                        c("updated_at", ColType::Timestamp, false),
                    ],
                    key: vec![0],
                },
                TableDef {
                    name: "tags".into(),
                    columns: vec![
                        c("product_id", ColType::BigInt, false),
                        c("tag_name", ColType::Text, false),
                        c("created_at", ColType::Timestamp, false),
                    ],
                    key: vec![0, 1],
                },
            ],
        }
    }
}

/// A row, in column order.
pub type Row = Vec<Value>;
/// A primary key, in key-column order.
pub type Key = Vec<Value>;
/// Every table of a database: table name -> key -> row.
pub type Tables = BTreeMap<String, BTreeMap<Key, Row>>;

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Insert { table: usize, row: Row },
    Update { table: usize, row: Row },
    Delete { table: usize, key: Key },
}

impl Op {
    pub(super) fn table(&self) -> usize {
        match self {
            Op::Insert { table, .. } | Op::Update { table, .. } | Op::Delete { table, .. } => *table,
        }
    }
}

/// A committed transaction: its commit time on the simulated clock and its writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    pub seq: u64,
    pub at: SystemTime,
    pub ops: Vec<Op>,
}

pub(super) fn apply_to_mirror(defs: &[TableDef], mirror: &mut Tables, op: &Op) {
    let def = &defs[op.table()];
    let table = mirror.entry(def.name.clone()).or_default();
    match op {
        Op::Insert { row, .. } | Op::Update { row, .. } => {
            table.insert(def.key_of(row), row.clone());
        }
        Op::Delete { key, .. } => {
            table.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_and_timestamps_round_trip_through_text() {
        for c in [0, 5, 1230, -1230, 99_999_999, -7] {
            assert_eq!(parse_cents(&format_cents(c)), Some(c), "{c}");
        }
        assert_eq!(parse_cents("12.3"), Some(1230));
        assert_eq!(parse_cents("12"), Some(1200));
        assert_eq!(parse_cents("12.34999999"), Some(1235), "a float from SQLite rounds");
        let us = 1_795_000_000_123_456;
        assert_eq!(parse_micros(&format_micros(us)), Some(us));
        assert_eq!(parse_micros("2026-11-26 05:40:00.5"), parse_micros("2026-11-26 05:40:00.500000"));
        assert_eq!(parse_micros("2026-11-26T05:40:00Z"), parse_micros("2026-11-26 05:40:00"));
    }

    #[test]
    fn text_literals_are_escaped_per_dialect() {
        let v = Value::Text("o'brien \\".into());
        assert_eq!(v.sql(Dialect::Postgres), "'o''brien \\'");
        assert_eq!(v.sql(Dialect::Mysql), "'o''brien \\\\'");
    }
}
