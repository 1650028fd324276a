//! The databases behind the simulated Aurora clusters: workload, replication, ground truth.
//!
//! [`DataStore`] owns one real database per simulated cluster (a SQLite file by default,
//! or a database on a PostgreSQL or MariaDB server, see [`Backend`]) and an exact in-memory
//! mirror of each. For every global cluster it runs a seeded [`WorkloadConfig`] workload
//! against the writer and a replicator towards the secondaries, both *lazily*:
//! [`DataStore::catch_up`] commits every transaction due by `now` (each stamped with its
//! commit time on the simulated clock) and applies on each secondary every transaction
//! committed at least `lag` before `now`. Nothing runs on timers, so a drill on a virtual
//! clock is deterministic for a given seed.
//!
//! When a failover with data loss begins, the transactions still queued for the target are
//! the lost ones. [`DataStore::begin_failover`] records them as a [`GroundTruth`] (per
//! table: keys only in the old primary, keys whose values differ, keys deleted only in the
//! old primary), computed by comparing the two mirrors, which the missing-transaction report
//! must equal. When the old primary's Region returns, [`DataStore::rejoin`] first dumps the
//! old primary's tables into a snapshot (its data as of the failure) and then rebuilds it
//! as a secondary of the new primary.
//!
//! Design rule: after a failover with data loss the workload only updates or deletes rows
//! created after that failover, so a row's fate in the report never depends on how the
//! diff engine classifies rows touched after the failover (ids come from one sequence per
//! global cluster and are never reused, as with application-generated ids).
//!
//! This module never reads the wall clock: every time comes from the caller.

mod db;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde::Serialize;

pub use db::Dialect;
use db::{Database, Server, quote_ident};

/// A failure of the data layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    #[error("database error: {0}")]
    Database(String),
    #[error("bad database URL: {0}")]
    BadUrl(String),
    #[error("unknown {0}")]
    Unknown(String),
}

/// Where the simulated clusters' databases live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file per cluster in this directory (a fresh temporary one when `None`).
    Sqlite(Option<PathBuf>),
    /// A database per cluster on this PostgreSQL server (`postgres://postgres@127.0.0.1:5432/test`).
    Postgres(String),
    /// A database per cluster on this MariaDB/MySQL server (`mysql://root@127.0.0.1:3306/test`).
    Mysql(String),
}

impl Backend {
    /// `sqlite`, `sqlite:DIR`, `postgres://...`, `postgresql://...`, `mysql://...`, `mariadb://...`.
    pub fn from_url(s: &str) -> Result<Backend, DataError> {
        if s == "sqlite" || s == "sqlite:" {
            return Ok(Backend::Sqlite(None));
        }
        if let Some(dir) = s.strip_prefix("sqlite://").or_else(|| s.strip_prefix("sqlite:")) {
            return Ok(Backend::Sqlite(Some(PathBuf::from(dir))));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Backend::Postgres(s.to_string()));
        }
        if let Some(rest) = s.strip_prefix("mariadb://") {
            return Ok(Backend::Mysql(format!("mysql://{rest}")));
        }
        if s.starts_with("mysql://") {
            return Ok(Backend::Mysql(s.to_string()));
        }
        Err(DataError::BadUrl(format!("`{s}`: expected sqlite, sqlite:DIR, postgres://..., or mysql://...")))
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
            Backend::Mysql(_) => Dialect::Mysql,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Values and schemas
// ---------------------------------------------------------------------------------------

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
    fn ts(t: SystemTime) -> Value {
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

/// A column type of the reference schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

    fn parse(self, cell: Option<&str>) -> Value {
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColType,
    pub nullable: bool,
}

/// A table: its columns and its primary key (indices into `columns`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDef {
    pub name: &'static str,
    pub columns: Vec<Column>,
    pub key: Vec<usize>,
}

impl TableDef {
    fn key_of(&self, row: &[Value]) -> Key {
        self.key.iter().map(|&i| row[i].clone()).collect()
    }

    /// The names of the key columns.
    pub fn key_columns(&self) -> Vec<&'static str> {
        self.key.iter().map(|&i| self.columns[i].name).collect()
    }

    fn create_sql(&self, dialect: Dialect) -> String {
        let cols: Vec<String> = self
            .columns
            .iter()
            .map(|c| {
                let null = if c.nullable { "NULL" } else { "NOT NULL" };
                format!("{} {} {null}", quote_ident(dialect, c.name), c.ty.ddl(dialect))
            })
            .collect();
        let key: Vec<String> = self.key_columns().iter().map(|c| quote_ident(dialect, c)).collect();
        format!(
            "CREATE TABLE {} ({}, PRIMARY KEY ({}))",
            quote_ident(dialect, self.name),
            cols.join(", "),
            key.join(", ")
        )
    }

    fn select_sql(&self, dialect: Dialect) -> String {
        let cols: Vec<String> = self.columns.iter().map(|c| quote_ident(dialect, c.name)).collect();
        format!("SELECT {} FROM {}", cols.join(", "), quote_ident(dialect, self.name))
    }

    fn key_predicate(&self, dialect: Dialect, key: &[Value]) -> String {
        self.key
            .iter()
            .zip(key)
            .map(|(&i, v)| format!("{} = {}", quote_ident(dialect, self.columns[i].name), v.sql(dialect)))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    fn insert_sql(&self, dialect: Dialect, rows: &[&Row]) -> String {
        let cols: Vec<String> = self.columns.iter().map(|c| quote_ident(dialect, c.name)).collect();
        let values: Vec<String> = rows
            .iter()
            .map(|r| format!("({})", r.iter().map(|v| v.sql(dialect)).collect::<Vec<_>>().join(", ")))
            .collect();
        format!("INSERT INTO {} ({}) VALUES {}", quote_ident(dialect, self.name), cols.join(", "), values.join(", "))
    }

    fn op_sql(&self, dialect: Dialect, op: &Op) -> String {
        let t = quote_ident(dialect, self.name);
        match op {
            Op::Insert { row, .. } => self.insert_sql(dialect, &[row]),
            Op::Update { row, .. } => {
                let sets: Vec<String> = (0..self.columns.len())
                    .filter(|i| !self.key.contains(i))
                    .map(|i| format!("{} = {}", quote_ident(dialect, self.columns[i].name), row[i].sql(dialect)))
                    .collect();
                format!("UPDATE {t} SET {} WHERE {}", sets.join(", "), self.key_predicate(dialect, &self.key_of(row)))
            }
            Op::Delete { key, .. } => format!("DELETE FROM {t} WHERE {}", self.key_predicate(dialect, key)),
        }
    }
}

/// Which reference schema (and workload) a global cluster carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Schema {
    /// `orders` and `order_items`.
    Orders,
    /// `products` and `tags` (the catalog).
    Catalog,
}

impl Schema {
    pub fn tables(self) -> Vec<TableDef> {
        let c = |name, ty, nullable| Column { name, ty, nullable };
        match self {
            Schema::Orders => vec![
                TableDef {
                    name: "orders",
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
                    name: "order_items",
                    columns: vec![
                        c("order_id", ColType::BigInt, false),
                        c("product_id", ColType::BigInt, false),
                        c("qty", ColType::Int, false),
                        c("price", ColType::Decimal, false),
                        c("created_at", ColType::Timestamp, false),
                    ],
                    key: vec![0, 1],
                },
            ],
            Schema::Catalog => vec![
                TableDef {
                    name: "products",
                    columns: vec![
                        c("id", ColType::BigInt, false),
                        c("name", ColType::Text, false),
                        c("price", ColType::Decimal, true),
                        c("updated_at", ColType::Timestamp, false),
                    ],
                    key: vec![0],
                },
                TableDef {
                    name: "tags",
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
    fn table(&self) -> usize {
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

fn apply_to_mirror(defs: &[TableDef], mirror: &mut Tables, op: &Op) {
    let def = &defs[op.table()];
    let table = mirror.entry(def.name.to_string()).or_default();
    match op {
        Op::Insert { row, .. } | Op::Update { row, .. } => {
            table.insert(def.key_of(row), row.clone());
        }
        Op::Delete { key, .. } => {
            table.remove(key);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The workload
// ---------------------------------------------------------------------------------------

/// How a global cluster's writer is loaded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkloadConfig {
    /// Transactions per simulated second (evenly spaced; 0 disables the workload).
    pub txns_per_second: f64,
    /// Percent of transactions that update an existing row.
    pub update_percent: u32,
    /// Percent of transactions that delete an existing row.
    pub delete_percent: u32,
    /// The workload stops this long after it started (`None`: it never stops). A drill
    /// that waits days for a Region would otherwise replay days of writes.
    pub stop_after: Option<Duration>,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        Self { txns_per_second: 2.0, update_percent: 20, delete_percent: 5, stop_after: None }
    }
}

/// SplitMix64: tiny, seedable, and stable across crate versions (the ground truth of a
/// seeded drill must not change when a dependency does).
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

const STATUSES: [&str; 4] = ["paid", "shipped", "delivered", "cancelled"];
const TAGS: [&str; 5] = ["new", "sale", "eco", "gift", "bulk"];

#[derive(Debug, Clone)]
struct Generator {
    schema: Schema,
    rng: Rng,
    next_id: i64,
    /// Ids the workload may update or delete (see the module's design rule).
    mutable: Vec<i64>,
}

impl Generator {
    /// The writes of one transaction at `at`, given the writer's current `mirror`.
    fn txn(&mut self, cfg: &WorkloadConfig, at: SystemTime, mirror: &Tables) -> Vec<Op> {
        let roll = self.rng.below(100) as u32;
        let pick =
            if self.mutable.is_empty() { None } else { Some(self.rng.below(self.mutable.len() as u64) as usize) };
        let now = Value::ts(at);
        match (pick, roll) {
            (Some(i), r) if r < cfg.delete_percent => {
                let id = self.mutable.swap_remove(i);
                let mut ops: Vec<Op> = children_of(mirror, self.child_table(), id)
                    .into_iter()
                    .map(|key| Op::Delete { table: 1, key })
                    .collect();
                ops.push(Op::Delete { table: 0, key: vec![Value::Int(id)] });
                ops
            }
            (Some(i), r) if r < cfg.delete_percent + cfg.update_percent => {
                let id = self.mutable[i];
                let table = if self.schema == Schema::Orders { "orders" } else { "products" };
                let Some(mut row) = mirror.get(table).and_then(|t| t.get(&vec![Value::Int(id)])).cloned() else {
                    return Vec::new();
                };
                let mut ops = Vec::new();
                match self.schema {
                    // Every update changes a column other than the time stamps, so that a
                    // diff ignoring `updated_at` still sees it.
                    Schema::Orders => {
                        row[2] = self.amount();
                        let others: Vec<&str> =
                            STATUSES.iter().copied().filter(|s| row[3] != Value::Text(s.to_string())).collect();
                        row[3] = Value::Text(others[self.rng.below(others.len() as u64) as usize].into());
                        row[5] = now;
                        ops.push(Op::Update { table: 0, row });
                        let items = children_of(mirror, "order_items", id);
                        if !items.is_empty() && self.rng.below(2) == 0 {
                            let key = &items[self.rng.below(items.len() as u64) as usize];
                            if let Some(mut item) = mirror.get("order_items").and_then(|t| t.get(key)).cloned() {
                                let old = if let Value::Int(q) = item[2] { q } else { 0 };
                                item[2] = Value::Int(1 + (old + self.rng.below(8) as i64) % 9);
                                ops.push(Op::Update { table: 1, row: item });
                            }
                        }
                    }
                    Schema::Catalog => {
                        let old = row[2].clone();
                        row[2] = self.amount();
                        if row[2] == old {
                            row[2] = match old {
                                Value::Decimal(c) => Value::Decimal(c + 1),
                                _ => Value::Decimal(999),
                            };
                        }
                        row[3] = now;
                        ops.push(Op::Update { table: 0, row });
                    }
                }
                ops
            }
            _ => {
                let id = self.next_id;
                self.next_id += 1;
                self.mutable.push(id);
                match self.schema {
                    Schema::Orders => {
                        let customer = 1 + self.rng.below(500) as i64;
                        let mut ops = vec![Op::Insert {
                            table: 0,
                            row: vec![
                                Value::Int(id),
                                Value::Int(customer),
                                self.amount(),
                                Value::Text("pending".into()),
                                now.clone(),
                                now.clone(),
                            ],
                        }];
                        let n = 1 + self.rng.below(3);
                        let mut products = BTreeSet::new();
                        while (products.len() as u64) < n {
                            products.insert(1 + self.rng.below(100) as i64);
                        }
                        for p in products {
                            let price = Value::Decimal(100 + self.rng.below(20_000) as i64);
                            let qty = Value::Int(1 + self.rng.below(5) as i64);
                            ops.push(Op::Insert {
                                table: 1,
                                row: vec![Value::Int(id), Value::Int(p), qty, price, now.clone()],
                            });
                        }
                        ops
                    }
                    Schema::Catalog => {
                        let mut ops = vec![Op::Insert {
                            table: 0,
                            row: vec![Value::Int(id), Value::Text(format!("product-{id}")), self.amount(), now.clone()],
                        }];
                        let n = self.rng.below(3);
                        let mut tags = BTreeSet::new();
                        while (tags.len() as u64) < n {
                            tags.insert(TAGS[self.rng.below(TAGS.len() as u64) as usize]);
                        }
                        for t in tags {
                            ops.push(Op::Insert {
                                table: 1,
                                row: vec![Value::Int(id), Value::Text(t.into()), now.clone()],
                            });
                        }
                        ops
                    }
                }
            }
        }
    }

    /// The table whose rows belong to a row of the first table.
    fn child_table(&self) -> &'static str {
        match self.schema {
            Schema::Orders => "order_items",
            Schema::Catalog => "tags",
        }
    }

    /// An amount, NULL one time in twenty (the column is nullable and the diff must cope).
    fn amount(&mut self) -> Value {
        if self.rng.below(20) == 0 { Value::Null } else { Value::Decimal(100 + self.rng.below(100_000) as i64) }
    }
}

/// The keys of `table` whose first key column is `parent` (an order's items, a product's tags).
fn children_of(mirror: &Tables, table: &str, parent: i64) -> Vec<Key> {
    let Some(t) = mirror.get(table) else { return Vec::new() };
    // Keys compare element by element: `[p, x]` sorts after `[p]` and before `[p + 1]`.
    let lo = vec![Value::Int(parent)];
    let hi = vec![Value::Int(parent + 1)];
    t.range(lo..hi).map(|(k, _)| k.clone()).collect()
}

// ---------------------------------------------------------------------------------------
// Ground truth
// ---------------------------------------------------------------------------------------

/// A simulated cluster: its Region and identifier.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ClusterRef {
    pub region: String,
    pub cluster: String,
}

impl ClusterRef {
    pub fn new(region: impl Into<String>, cluster: impl Into<String>) -> Self {
        Self { region: region.into(), cluster: cluster.into() }
    }
}

impl fmt::Display for ClusterRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.region, self.cluster)
    }
}

/// What one table lost in a failover with data loss.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TableTruth {
    /// The key columns, in key order.
    pub key_columns: Vec<String>,
    /// Rows only in the old primary (inserts that never replicated).
    pub lost: BTreeSet<Key>,
    /// Rows in both whose values differ (updates that never replicated).
    pub changed: BTreeSet<Key>,
    /// Rows the old primary had deleted but the new primary still has.
    pub deleted: BTreeSet<Key>,
}

impl TableTruth {
    pub fn is_empty(&self) -> bool {
        self.lost.is_empty() && self.changed.is_empty() && self.deleted.is_empty()
    }
}

/// Exactly what a failover with data loss left behind in the old primary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroundTruth {
    pub global_cluster: String,
    pub old_primary: ClusterRef,
    pub new_primary: ClusterRef,
    /// When the old primary's Region went down, if it did before the failover.
    #[serde(serialize_with = "failover_core::time_fmt::serialize_opt")]
    pub region_failed_at: Option<SystemTime>,
    #[serde(serialize_with = "failover_core::time_fmt::serialize")]
    pub failover_started_at: SystemTime,
    /// Committed on the old primary, never applied on the new one.
    pub unreplicated_transactions: usize,
    /// The commit time of the oldest and newest unreplicated transaction.
    #[serde(serialize_with = "ser_opt_window")]
    pub unreplicated_window: Option<(SystemTime, SystemTime)>,
    pub tables: BTreeMap<String, TableTruth>,
}

impl GroundTruth {
    /// Rows lost, changed or deleted, over all tables.
    pub fn total_rows(&self) -> usize {
        self.tables.values().map(|t| t.lost.len() + t.changed.len() + t.deleted.len()).sum()
    }
}

fn ser_opt_window<S: serde::Serializer>(w: &Option<(SystemTime, SystemTime)>, s: S) -> Result<S::Ok, S::Error> {
    let w = w.map(|(a, b)| [failover_core::time_fmt::rfc3339(a), failover_core::time_fmt::rfc3339(b)]);
    w.serialize(s)
}

/// The difference between two states of a schema's tables, keyed like a [`GroundTruth`]:
/// `lost` only in `old`, `changed` in both with different values, `deleted` only in `new`.
/// A drill compares a snapshot's data ([`DataStore::snapshot_tables`]) with the new
/// primary's current rows ([`DataStore::mirror`]) this way: the expected report at that
/// moment, rows written after the failover included (they are in `deleted`).
pub fn diff_tables(schema: Schema, old: &Tables, new: &Tables) -> BTreeMap<String, TableTruth> {
    compare(&schema.tables(), old, new)
}

fn compare(defs: &[TableDef], old: &Tables, new: &Tables) -> BTreeMap<String, TableTruth> {
    let empty = BTreeMap::new();
    let mut out = BTreeMap::new();
    for def in defs {
        let o = old.get(def.name).unwrap_or(&empty);
        let n = new.get(def.name).unwrap_or(&empty);
        let mut t =
            TableTruth { key_columns: def.key_columns().iter().map(|s| s.to_string()).collect(), ..Default::default() };
        for (k, row) in o {
            match n.get(k) {
                None => {
                    t.lost.insert(k.clone());
                }
                Some(r) if r != row => {
                    t.changed.insert(k.clone());
                }
                Some(_) => {}
            }
        }
        for k in n.keys() {
            if !o.contains_key(k) {
                t.deleted.insert(k.clone());
            }
        }
        out.insert(def.name.to_string(), t);
    }
    out
}

// ---------------------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------------------

/// Where a simulated cluster's database can be opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DbLocation {
    pub dialect: Dialect,
    /// `sqlite:///abs/file.db`, `postgres://postgres@127.0.0.1:5432/rsim_...`, `mysql://root@127.0.0.1:3306/rsim_...`.
    pub url: String,
    /// The database (schema) name on the server, or the SQLite file's stem.
    pub database: String,
    /// The SQLite file.
    pub path: Option<PathBuf>,
}

/// Counters of one global cluster's workload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WorkloadStats {
    /// Transactions committed on a writer.
    pub committed: u64,
    /// Transactions that found no writer (Region down, writes fenced during a switchover
    /// or failover); the application would have seen an error, so nothing was committed.
    pub rejected: u64,
    /// Transaction applications on secondaries.
    pub replicated: u64,
}

struct ClusterData {
    schema: Schema,
    db: Database,
    mirror: Tables,
}

struct GlobalData {
    id: String,
    schema: Schema,
    defs: Vec<TableDef>,
    cfg: WorkloadConfig,
    generator: Generator,
    start: SystemTime,
    /// The index of the next workload transaction (its time is `start + k / rate`).
    next_k: u64,
    writer: ClusterRef,
    /// False while writes are fenced (a switchover or failover in progress).
    writable: bool,
    /// Replication queues of the attached secondaries.
    queues: BTreeMap<ClusterRef, VecDeque<Arc<Txn>>>,
    lag: Duration,
    stats: WorkloadStats,
    truths: Vec<GroundTruth>,
}

impl GlobalData {
    fn txn_time(&self, k: u64) -> Option<SystemTime> {
        if self.cfg.txns_per_second <= 0.0 || !self.cfg.txns_per_second.is_finite() {
            return None;
        }
        let offset = Duration::from_secs_f64(k as f64 / self.cfg.txns_per_second);
        if self.cfg.stop_after.is_some_and(|stop| offset > stop) {
            return None;
        }
        Some(self.start + offset)
    }
}

/// The specification of one global cluster's data.
#[derive(Debug, Clone)]
pub struct GlobalDataSpec {
    pub global_cluster: String,
    pub schema: Schema,
    pub workload: WorkloadConfig,
    /// Rows committed at `t` become visible on a secondary at `t + lag`.
    pub replication_lag: Duration,
    pub writer: ClusterRef,
    pub secondaries: Vec<ClusterRef>,
    /// When the workload starts.
    pub start: SystemTime,
}

static RUN_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Every simulated cluster's database, the workloads and the replication between them.
pub struct DataStore {
    backend: Backend,
    seed: u64,
    run_id: String,
    server: Option<Server>,
    dir: PathBuf,
    _tempdir: Option<tempfile::TempDir>,
    clusters: BTreeMap<ClusterRef, ClusterData>,
    globals: BTreeMap<String, GlobalData>,
    /// Regions that are down, since when.
    down: BTreeMap<String, SystemTime>,
    snapshots: BTreeMap<String, (Schema, Arc<Tables>)>,
    /// Keep server databases when the store is dropped (for inspection after a drill).
    pub keep_databases: bool,
}

impl fmt::Debug for DataStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataStore")
            .field("backend", &self.backend)
            .field("clusters", &self.clusters.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl DataStore {
    /// A store on `backend`; `seed` makes every workload reproducible.
    pub fn new(backend: Backend, seed: u64) -> Result<DataStore, DataError> {
        let n = RUN_COUNTER.fetch_add(1, Ordering::Relaxed);
        // Unique names per store so parallel tests on one server never collide.
        let run_id = format!("{:x}{:x}{:06x}", std::process::id(), n, rand::random::<u32>() & 0xff_ffff);
        let (server, dir, tempdir) = match &backend {
            Backend::Sqlite(Some(dir)) => {
                let dir = dir.join(format!("regionsim-{run_id}"));
                std::fs::create_dir_all(&dir).map_err(|e| DataError::Database(format!("{}: {e}", dir.display())))?;
                (None, dir, None)
            }
            Backend::Sqlite(None) => {
                let t = tempfile::Builder::new()
                    .prefix("regionsim-")
                    .tempdir()
                    .map_err(|e| DataError::Database(format!("temporary directory: {e}")))?;
                (None, t.path().to_path_buf(), Some(t))
            }
            Backend::Postgres(url) => (Some(Server::connect(Dialect::Postgres, url)?), PathBuf::new(), None),
            Backend::Mysql(url) => (Some(Server::connect(Dialect::Mysql, url)?), PathBuf::new(), None),
        };
        Ok(DataStore {
            backend,
            seed,
            run_id,
            server,
            dir,
            _tempdir: tempdir,
            clusters: BTreeMap::new(),
            globals: BTreeMap::new(),
            down: BTreeMap::new(),
            snapshots: BTreeMap::new(),
            keep_databases: false,
        })
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    fn db_name(&self, c: &ClusterRef) -> String {
        let clean = |s: &str| {
            s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect::<String>()
        };
        let name = format!("rsim_{}_{}_{}", self.run_id, clean(&c.region), clean(&c.cluster));
        if name.len() <= 63 {
            return name;
        }
        // Server identifiers stop at 63 (PostgreSQL) or 64 (MySQL) characters; a hash of
        // the whole keeps two long cluster names apart.
        format!("{}_{:08x}", &name[..54], failover_core::stable_hash(&name) as u32)
    }

    fn create_db(&mut self, c: &ClusterRef, schema: Schema) -> Result<(), DataError> {
        if let Some(old) = self.clusters.remove(c) {
            self.drop_db(old);
        }
        let name = self.db_name(c);
        let db = match &self.server {
            Some(server) => server.create(&name)?,
            None => Database::open_sqlite(self.dir.join(format!("{name}.db")), &name)?,
        };
        let ddl: Vec<String> = schema.tables().iter().map(|t| t.create_sql(db.dialect)).collect();
        db.exec(&ddl.join(";\n"))?;
        self.clusters.insert(c.clone(), ClusterData { schema, db, mirror: Tables::new() });
        Ok(())
    }

    fn drop_db(&self, data: ClusterData) {
        let ClusterData { db, .. } = data;
        let (name, path) = (db.name.clone(), db.path.clone());
        drop(db);
        if self.keep_databases {
            return;
        }
        match (&self.server, path) {
            (Some(server), _) => {
                if let Err(e) = server.drop_database(&name) {
                    tracing::warn!(database = %name, error = %e, "could not drop a simulated cluster's database");
                }
            }
            (None, Some(path)) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            (None, None) => {}
        }
    }

    /// Creates the databases of a global cluster's members and starts its workload.
    pub fn add_global(&mut self, spec: GlobalDataSpec) -> Result<(), DataError> {
        let members: Vec<ClusterRef> = std::iter::once(spec.writer.clone()).chain(spec.secondaries.clone()).collect();
        for m in &members {
            self.create_db(m, spec.schema)?;
        }
        let seed = self.seed ^ failover_core::stable_hash(&spec.global_cluster);
        let generator = Generator { schema: spec.schema, rng: Rng(seed), next_id: 1, mutable: Vec::new() };
        let queues = spec.secondaries.iter().map(|s| (s.clone(), VecDeque::new())).collect();
        self.globals.insert(
            spec.global_cluster.clone(),
            GlobalData {
                id: spec.global_cluster,
                schema: spec.schema,
                defs: spec.schema.tables(),
                cfg: spec.workload,
                generator,
                start: spec.start,
                next_k: 0,
                writer: spec.writer,
                writable: true,
                queues,
                lag: spec.replication_lag,
                stats: WorkloadStats::default(),
                truths: Vec::new(),
            },
        );
        Ok(())
    }

    fn is_up(&self, region: &str) -> bool {
        !self.down.contains_key(region)
    }

    /// Commits every workload transaction due by `now` and replicates every transaction
    /// whose time has come, in every global cluster.
    pub fn catch_up(&mut self, now: SystemTime) -> Result<(), DataError> {
        let ids: Vec<String> = self.globals.keys().cloned().collect();
        for id in ids {
            self.catch_up_global(&id, now)?;
        }
        Ok(())
    }

    fn catch_up_global(&mut self, id: &str, now: SystemTime) -> Result<(), DataError> {
        let Some(mut g) = self.globals.remove(id) else { return Ok(()) };
        let res = self.catch_up_inner(&mut g, now);
        self.globals.insert(id.to_string(), g);
        res
    }

    fn catch_up_inner(&mut self, g: &mut GlobalData, now: SystemTime) -> Result<(), DataError> {
        // Writes on the writer.
        let writer_up = self.is_up(&g.writer.region);
        let mut batch: Vec<Arc<Txn>> = Vec::new();
        while let Some(t) = g.txn_time(g.next_k).filter(|t| *t <= now) {
            g.next_k += 1;
            let Some(w) = self.clusters.get_mut(&g.writer).filter(|_| g.writable && writer_up) else {
                g.stats.rejected += 1;
                continue;
            };
            let ops = g.generator.txn(&g.cfg, t, &w.mirror);
            if ops.is_empty() {
                continue;
            }
            for op in &ops {
                apply_to_mirror(&g.defs, &mut w.mirror, op);
            }
            let txn = Arc::new(Txn { seq: g.next_k - 1, at: t, ops });
            for q in g.queues.values_mut() {
                q.push_back(txn.clone());
            }
            batch.push(txn);
            g.stats.committed += 1;
        }
        if let Some(w) = self.clusters.get(&g.writer) {
            run_batch(&w.db, &statements(&g.defs, w.db.dialect, batch.iter().flat_map(|t| t.ops.iter())))?;
        }
        // Replication to each attached secondary: only while both ends are up.
        let secondaries: Vec<ClusterRef> = g.queues.keys().cloned().collect();
        for s in secondaries {
            if !writer_up || !self.is_up(&s.region) {
                continue;
            }
            let due_by = now.checked_sub(g.lag).unwrap_or(SystemTime::UNIX_EPOCH);
            self.replicate(g, &s, |t| t.at <= due_by)?;
        }
        Ok(())
    }

    /// Applies queued transactions on `s` while `due` holds for the queue's head.
    fn replicate(&mut self, g: &mut GlobalData, s: &ClusterRef, due: impl Fn(&Txn) -> bool) -> Result<(), DataError> {
        let (Some(q), Some(c)) = (g.queues.get_mut(s), self.clusters.get_mut(s)) else { return Ok(()) };
        let mut batch = Vec::new();
        while q.front().is_some_and(|t| due(t)) {
            let Some(t) = q.pop_front() else { break };
            for op in &t.ops {
                apply_to_mirror(&g.defs, &mut c.mirror, op);
            }
            g.stats.replicated += 1;
            batch.push(t);
        }
        run_batch(&c.db, &statements(&g.defs, c.db.dialect, batch.iter().flat_map(|t| t.ops.iter())))
    }

    /// A Region goes down at `at`: its writers stop taking writes, replication from and to
    /// it stops. Call after [`DataStore::catch_up`] to `at`.
    pub fn region_down(&mut self, region: &str, at: SystemTime) -> Result<(), DataError> {
        self.catch_up(at)?;
        self.down.entry(region.to_string()).or_insert(at);
        Ok(())
    }

    /// A Region comes back at `at`: replication resumes where clusters are still attached.
    pub fn region_up(&mut self, region: &str, at: SystemTime) -> Result<(), DataError> {
        self.catch_up(at)?;
        self.down.remove(region);
        Ok(())
    }

    pub fn region_is_down(&self, region: &str) -> bool {
        !self.is_up(region)
    }

    fn global_mut(&mut self, id: &str) -> Result<&mut GlobalData, DataError> {
        self.globals.get_mut(id).ok_or_else(|| DataError::Unknown(format!("global cluster {id}")))
    }

    /// A switchover begins: writes are fenced; replication keeps draining.
    pub fn begin_switchover(&mut self, global: &str, at: SystemTime) -> Result<(), DataError> {
        self.catch_up(at)?;
        self.global_mut(global)?.writable = false;
        Ok(())
    }

    /// A switchover completes: the target has every transaction, becomes the writer, and
    /// the old writer becomes its secondary. Nothing is lost.
    pub fn complete_switchover(&mut self, global: &str, target: &ClusterRef, at: SystemTime) -> Result<(), DataError> {
        self.catch_up(at)?;
        let Some(mut g) = self.globals.remove(global) else {
            return Err(DataError::Unknown(format!("global cluster {global}")));
        };
        let res = (|| {
            let secondaries: Vec<ClusterRef> = g.queues.keys().cloned().collect();
            for s in &secondaries {
                // Aurora synchronises every secondary before the roles change.
                self.replicate(&mut g, s, |_| true)?;
            }
            let old = std::mem::replace(&mut g.writer, target.clone());
            g.queues.remove(target);
            g.queues.insert(old, VecDeque::new());
            g.writable = true;
            Ok(())
        })();
        self.globals.insert(global.to_string(), g);
        res
    }

    /// A failover with data loss begins towards `target`: the old writer is fenced, the
    /// target stops receiving replication, and what it lacks is recorded as ground truth.
    pub fn begin_failover(
        &mut self,
        global: &str,
        target: &ClusterRef,
        at: SystemTime,
    ) -> Result<GroundTruth, DataError> {
        self.catch_up(at)?;
        let region_failed_at = {
            let g = self.global_mut(global)?;
            g.writable = false;
            g.writer.region.clone()
        };
        let region_failed_at = self.down.get(&region_failed_at).copied();
        let g = self.globals.get_mut(global).ok_or_else(|| DataError::Unknown(global.to_string()))?;
        let pending: Vec<Arc<Txn>> = g.queues.remove(target).map(Vec::from).unwrap_or_default();
        let (old, new) = match (self.clusters.get(&g.writer), self.clusters.get(target)) {
            (Some(o), Some(n)) => (o, n),
            _ => return Err(DataError::Unknown(format!("member cluster of {global}"))),
        };
        let truth = GroundTruth {
            global_cluster: g.id.clone(),
            old_primary: g.writer.clone(),
            new_primary: target.clone(),
            region_failed_at,
            failover_started_at: at,
            unreplicated_transactions: pending.len(),
            unreplicated_window: pending.first().zip(pending.last()).map(|(a, b)| (a.at, b.at)),
            tables: compare(&g.defs, &old.mirror, &new.mirror),
        };
        g.truths.push(truth.clone());
        Ok(truth)
    }

    /// A failover completes: the target takes writes; the old writer is detached until
    /// [`DataStore::rejoin`].
    pub fn complete_failover(&mut self, global: &str, target: &ClusterRef, at: SystemTime) -> Result<(), DataError> {
        self.catch_up(at)?;
        let g = self.global_mut(global)?;
        g.writer = target.clone();
        g.queues.remove(target);
        g.writable = true;
        // The design rule: from here on only rows created after the failover change.
        g.generator.mutable.clear();
        Ok(())
    }

    /// The old primary of a failover rejoins as a secondary. First, when `snapshot` names
    /// one, its tables (the data as of the failure) are dumped into that snapshot; then its
    /// database is rebuilt from the writer's data, as Aurora builds a new storage volume.
    pub fn rejoin(
        &mut self,
        global: &str,
        cluster: &ClusterRef,
        at: SystemTime,
        snapshot: Option<&str>,
    ) -> Result<(), DataError> {
        self.catch_up(at)?;
        if let Some(name) = snapshot {
            self.take_snapshot(cluster, name)?;
        }
        let writer = self.global_mut(global)?.writer.clone();
        let rows = self.clusters.get(&writer).map(|w| w.mirror.clone()).unwrap_or_default();
        let c = self.clusters.get_mut(cluster).ok_or_else(|| DataError::Unknown(format!("cluster {cluster}")))?;
        let defs = c.schema.tables();
        let mut sql: Vec<String> =
            defs.iter().map(|d| format!("DELETE FROM {}", quote_ident(c.db.dialect, d.name))).collect();
        sql.extend(insert_all(&defs, c.db.dialect, &rows));
        run_batch(&c.db, &sql)?;
        c.mirror = rows;
        let g = self.global_mut(global)?;
        g.queues.insert(cluster.clone(), VecDeque::new());
        Ok(())
    }

    /// Dumps `cluster`'s tables (read back from its database) into snapshot `name`.
    pub fn take_snapshot(&mut self, cluster: &ClusterRef, name: &str) -> Result<(), DataError> {
        let c = self.clusters.get(cluster).ok_or_else(|| DataError::Unknown(format!("cluster {cluster}")))?;
        let tables = dump(&c.db, c.schema)?;
        self.snapshots.insert(name.to_string(), (c.schema, Arc::new(tables)));
        Ok(())
    }

    /// A copy of snapshot `from` named `to` (copies share the immutable data).
    pub fn copy_snapshot(&mut self, from: &str, to: &str) -> Result<(), DataError> {
        let s = self.snapshots.get(from).cloned().ok_or_else(|| DataError::Unknown(format!("snapshot {from}")))?;
        self.snapshots.insert(to.to_string(), s);
        Ok(())
    }

    pub fn has_snapshot(&self, name: &str) -> bool {
        self.snapshots.contains_key(name)
    }

    /// The data held by snapshot `name`.
    pub fn snapshot_tables(&self, name: &str) -> Option<Arc<Tables>> {
        self.snapshots.get(name).map(|(_, t)| t.clone())
    }

    pub fn forget_snapshot(&mut self, name: &str) {
        self.snapshots.remove(name);
    }

    /// Creates `cluster`'s database holding snapshot `name`'s data (a restore).
    pub fn restore(&mut self, name: &str, cluster: &ClusterRef) -> Result<DbLocation, DataError> {
        let (schema, tables) =
            self.snapshots.get(name).cloned().ok_or_else(|| DataError::Unknown(format!("snapshot {name}")))?;
        self.create_db(cluster, schema)?;
        let c = self.clusters.get_mut(cluster).ok_or_else(|| DataError::Unknown(format!("cluster {cluster}")))?;
        let defs = schema.tables();
        run_batch(&c.db, &insert_all(&defs, c.db.dialect, &tables))?;
        c.mirror = (*tables).clone();
        Ok(location(&c.db))
    }

    /// Drops `cluster`'s database (DeleteDBCluster).
    pub fn drop_cluster(&mut self, cluster: &ClusterRef) {
        if let Some(c) = self.clusters.remove(cluster) {
            for g in self.globals.values_mut() {
                g.queues.remove(cluster);
            }
            self.drop_db(c);
        }
    }

    /// Where `cluster`'s database can be opened.
    pub fn location(&self, cluster: &ClusterRef) -> Option<DbLocation> {
        self.clusters.get(cluster).map(|c| location(&c.db))
    }

    /// The replication lag a secondary reports at `now`: the configured lag while its
    /// source replicates to it, growing from the moment the source's Region went down;
    /// `None` for a writer, a detached cluster, or a cluster outside any global cluster.
    pub fn replication_lag(&self, cluster: &ClusterRef, now: SystemTime) -> Option<Duration> {
        let g = self.globals.values().find(|g| g.queues.contains_key(cluster))?;
        match self.down.get(&g.writer.region) {
            Some(since) => Some(g.lag + now.duration_since(*since).unwrap_or_default()),
            None => Some(g.lag),
        }
    }

    /// Changes a global cluster's replication lag (a fault: a lagging secondary).
    pub fn set_replication_lag(&mut self, global: &str, lag: Duration) -> Result<(), DataError> {
        self.global_mut(global)?.lag = lag;
        Ok(())
    }

    /// The reference schema a global cluster carries.
    pub fn schema(&self, global: &str) -> Option<Schema> {
        self.globals.get(global).map(|g| g.schema)
    }

    /// The current writer of a global cluster's data.
    pub fn writer(&self, global: &str) -> Option<&ClusterRef> {
        self.globals.get(global).map(|g| &g.writer)
    }

    /// The ground truth of every failover with data loss so far, oldest first.
    pub fn ground_truth(&self, global: &str) -> Vec<GroundTruth> {
        self.globals.get(global).map(|g| g.truths.clone()).unwrap_or_default()
    }

    pub fn stats(&self, global: &str) -> Option<WorkloadStats> {
        self.globals.get(global).map(|g| g.stats)
    }

    /// The simulator's exact copy of what `cluster`'s database holds.
    pub fn mirror(&self, cluster: &ClusterRef) -> Option<&Tables> {
        self.clusters.get(cluster).map(|c| &c.mirror)
    }

    /// Reads `cluster`'s tables back from its database.
    pub fn dump(&self, cluster: &ClusterRef) -> Result<Tables, DataError> {
        let c = self.clusters.get(cluster).ok_or_else(|| DataError::Unknown(format!("cluster {cluster}")))?;
        dump(&c.db, c.schema)
    }

    /// The transactions queued for `secondary` (committed on the writer, not yet applied).
    pub fn pending(&self, secondary: &ClusterRef) -> Vec<Txn> {
        self.globals
            .values()
            .filter_map(|g| g.queues.get(secondary))
            .flat_map(|q| q.iter().map(|t| (**t).clone()))
            .collect()
    }
}

impl Drop for DataStore {
    fn drop(&mut self) {
        let clusters = std::mem::take(&mut self.clusters);
        for (_, c) in clusters {
            self.drop_db(c);
        }
    }
}

fn location(db: &Database) -> DbLocation {
    DbLocation { dialect: db.dialect, url: db.url.clone(), database: db.name.clone(), path: db.path.clone() }
}

/// The SQL of `ops` in order, with runs of inserts into a table merged into multi-row
/// inserts: a table's pending inserts are written before any other write to that table, so
/// the result equals applying the ops one by one (the server executes far fewer statements).
fn statements<'a>(defs: &[TableDef], dialect: Dialect, ops: impl Iterator<Item = &'a Op>) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending: Vec<Vec<&Row>> = vec![Vec::new(); defs.len()];
    let flush = |out: &mut Vec<String>, rows: &mut Vec<&Row>, def: &TableDef| {
        if !rows.is_empty() {
            out.push(def.insert_sql(dialect, rows));
            rows.clear();
        }
    };
    for op in ops {
        let t = op.table();
        match op {
            Op::Insert { row, .. } => {
                pending[t].push(row);
                if pending[t].len() >= 200 {
                    flush(&mut out, &mut pending[t], &defs[t]);
                }
            }
            other => {
                flush(&mut out, &mut pending[t], &defs[t]);
                out.push(defs[t].op_sql(dialect, other));
            }
        }
    }
    for (t, rows) in pending.iter_mut().enumerate() {
        flush(&mut out, rows, &defs[t]);
    }
    out
}

/// Runs statements as one transaction.
fn run_batch(db: &Database, sql: &[String]) -> Result<(), DataError> {
    if sql.is_empty() {
        return Ok(());
    }
    let begin = if db.dialect == Dialect::Mysql { "START TRANSACTION" } else { "BEGIN" };
    // Bounded batches keep one statement string reasonable for the servers.
    for chunk in sql.chunks(2000) {
        let mut s = String::with_capacity(chunk.iter().map(|q| q.len() + 2).sum::<usize>() + 32);
        s.push_str(begin);
        s.push_str(";\n");
        for q in chunk {
            s.push_str(q);
            s.push_str(";\n");
        }
        s.push_str("COMMIT");
        db.exec(&s)?;
    }
    Ok(())
}

fn insert_all(defs: &[TableDef], dialect: Dialect, tables: &Tables) -> Vec<String> {
    let mut out = Vec::new();
    for def in defs {
        let Some(rows) = tables.get(def.name) else { continue };
        let rows: Vec<&Row> = rows.values().collect();
        for chunk in rows.chunks(200) {
            out.push(def.insert_sql(dialect, chunk));
        }
    }
    out
}

fn dump(db: &Database, schema: Schema) -> Result<Tables, DataError> {
    let mut out = Tables::new();
    for def in schema.tables() {
        let rows = db.query(&def.select_sql(db.dialect))?;
        let table = out.entry(def.name.to_string()).or_default();
        for cells in rows {
            let row: Row = def.columns.iter().zip(cells.iter()).map(|(c, cell)| c.ty.parse(cell.as_deref())).collect();
            table.insert(def.key_of(&row), row);
        }
    }
    Ok(out)
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
    fn backends_from_urls() {
        assert_eq!(Backend::from_url("sqlite").unwrap(), Backend::Sqlite(None));
        assert_eq!(Backend::from_url("sqlite:/tmp/x").unwrap(), Backend::Sqlite(Some("/tmp/x".into())));
        assert!(matches!(Backend::from_url("postgres://postgres@127.0.0.1:5432/test").unwrap(), Backend::Postgres(_)));
        assert_eq!(
            Backend::from_url("mariadb://root@127.0.0.1:3306/test").unwrap(),
            Backend::Mysql("mysql://root@127.0.0.1:3306/test".into())
        );
        assert!(Backend::from_url("oracle://x").is_err());
    }

    #[test]
    fn long_cluster_names_give_distinct_database_names() {
        let store = DataStore::new(Backend::Sqlite(None), 1).unwrap();
        let long = "retail-orders-recovery-0123456789abcdef0123456789abcdef0123456789";
        let a = store.db_name(&ClusterRef::new("us-east-1", format!("{long}-a")));
        let b = store.db_name(&ClusterRef::new("us-east-1", format!("{long}-b")));
        assert!(a.len() <= 63 && b.len() <= 63);
        assert_ne!(a, b);
    }

    #[test]
    fn text_literals_are_escaped_per_dialect() {
        let v = Value::Text("o'brien \\".into());
        assert_eq!(v.sql(Dialect::Postgres), "'o''brien \\'");
        assert_eq!(v.sql(Dialect::Mysql), "'o''brien \\\\'");
    }

    #[test]
    fn the_generator_is_deterministic_and_mixes_writes() {
        for schema in [Schema::Orders, Schema::Catalog] {
            generator_mixes_writes(schema);
        }
    }

    fn generator_mixes_writes(schema: Schema) {
        let cfg = WorkloadConfig { txns_per_second: 1.0, update_percent: 30, delete_percent: 10, stop_after: None };
        let run = || {
            let mut g = Generator { schema, rng: Rng(42), next_id: 1, mutable: Vec::new() };
            let mut mirror = Tables::new();
            let defs = schema.tables();
            let mut kinds = [0; 3];
            for k in 0..300 {
                let ops = g.txn(&cfg, SystemTime::UNIX_EPOCH + Duration::from_secs(k), &mirror);
                for op in &ops {
                    if let Op::Update { table, row } = op {
                        let def = &defs[*table];
                        let before = &mirror[def.name][&def.key_of(row)];
                        let differs = def
                            .columns
                            .iter()
                            .enumerate()
                            .any(|(i, c)| c.ty != ColType::Timestamp && before[i] != row[i]);
                        assert!(differs, "an update changes more than its time stamps: {before:?} -> {row:?}");
                    }
                    kinds[match op {
                        Op::Insert { .. } => 0,
                        Op::Update { .. } => 1,
                        Op::Delete { .. } => 2,
                    }] += 1;
                    apply_to_mirror(&defs, &mut mirror, op);
                }
            }
            (mirror, kinds)
        };
        let (a, kinds) = run();
        assert_eq!(a, run().0, "same seed, same data");
        assert!(kinds.iter().all(|&n| n > 10), "inserts, updates and deletes all occur: {kinds:?}");
        let defs = schema.tables();
        let parents = &a[defs[0].name];
        for k in a[defs[1].name].keys() {
            assert!(parents.contains_key(&vec![k[0].clone()]), "no orphan child {k:?}");
        }
    }
}
