//! rowdiff: an exact, fast diff of tables between two databases of the same engine
//! (PostgreSQL, MySQL/MariaDB, SQLite), built for the missing-transaction report after an
//! unplanned failover: which rows were lost (only in the restored old primary), which are
//! new, which changed, and which were written after the failover.
//!
//! Principal types: [`SourceConfig`] (how to reach a side, from parts or a URL) and
//! [`Source`] (an open read-only connection); [`TableSpec`] (a table, its key, ignored
//! columns, time and creation columns, optional [`KeyRange`]); [`DiffOptions`] (the failover
//! time and point); [`TableDiff`] (the result: every differing key with its [`Class`] and the
//! row of each side, [`Counts`] per class); [`DiffError`] (names the table and the column).
//! Entry points: [`diff_tables`], [`plan_ranges`] (split a big table for a Step Functions
//! Map), [`estimate_failover_point`], and [`report`] (JSON Lines, CSV, HTML, `summary.json`,
//! to a directory or to memory).
//!
//! # Classes
//! Every differing key is classified by where it is and by its time columns on each side
//! against the failover point `P` (the last instant whose writes the new primary received):
//! a time column later than `P` is a write the new side never received (old side) or made
//! after the failover (new side). Only on the old side: lost insert (written after `P`) or
//! deleted after the failover (not); only on the new side: inserted after the failover
//! (written after `P`) or lost delete (not); on both: lost update (the new side unchanged
//! since `P`), updated after the failover (only the new side changed), conflict or reused id
//! (both changed). A creation column tells a row that did not exist at `P` from one that did.
//! Without a time column every difference is lost (insert, update, delete by presence).
//! `P` is estimated, when not given, as the latest time (or creation) column value on the new
//! side not after the old side's last write (or the failover's start, if later): the new side
//! takes writes only once promoted, after the old side's last, so what it holds up to there
//! was replicated, and every write later than the estimate is lost or new. The estimate is never later
//! than the true point (no lost write hidden); it is earlier only when every row the last
//! replicated transactions wrote was rewritten or deleted since, and then those rows are
//! reported as conflicts or lost, for a person to look at, never as nothing.
//!
//! # Algorithm
//! Rows are partitioned into buckets. With a single integer key, bucket `b` is a slice of the
//! key space, `(key - min) >> shift`, so restricting a later query to some buckets is a set
//! of key ranges the primary key index serves; with any other key (text, UUID, timestamp,
//! composite) a bucket is a class of a hash of the key identity. Level 0 is one grouped
//! query per side, `SELECT bucket, count(*), xor(row_hash) ... GROUP BY bucket`, run on both
//! sides at once; the number of buckets follows the table's size so that a bucket holds
//! about [`DiffOptions::leaf_rows`] rows (at most 2^16 buckets). Buckets whose count or
//! checksum differ are the only ones that go further: a deeper level splits them (more hash
//! bits, or a smaller key slice), again one grouped query per side restricted to them, while
//! their rows would still be many; then the rows of the differing leaves alone are streamed
//! from both sides, ordered by key identity, and merged. Memory holds one level's checksums
//! and a bounded channel of rows per side; kept result rows are capped by
//! [`DiffOptions::max_rows_kept`] (counts stay exact).
//!
//! # Why it is exact
//! * **Snapshots.** Each side runs in one read-only repeatable-read transaction
//!   (PostgreSQL `REPEATABLE READ READ ONLY`, MySQL `WITH CONSISTENT SNAPSHOT, READ ONLY`,
//!   SQLite a read transaction on a file opened read-only), so every level and the fetch see
//!   the same rows.
//! * **One canonical form per column, used twice.** The row hash covers the values the
//!   fetch returns (canonical text on PostgreSQL and MySQL, typed values on SQLite), or a
//!   form one-to-one with them (a PostgreSQL type's own hash, a MySQL `TIMESTAMP`'s Unix
//!   time), so
//!   a checksum differs if and only if (up to a 2^-64 collision) the client finds a row
//!   difference. Both sessions fix every output setting (time zone UTC, ISO dates, float
//!   digits, hex bytea), so both sides print a value the same way. Numeric values compare by
//!   value (PostgreSQL `trim_scale`: `1.5 = 1.50`, as the database's `=`; MySQL decimals have
//!   a fixed scale per column, and column types must match on both sides). Timestamps with
//!   time zone compare as instants; precision is part of the column type, which must match.
//!   Floats compare by their shortest round-trip text, with -0 folded into 0 on PostgreSQL.
//! * **NULL is not a value.** PostgreSQL's `hash_record_extended` hashes a NULL field as 0,
//!   so the row hash also covers `num_nulls` of the nullable columns; MySQL encodes each
//!   column in a prefix-free code (`length:bytes` for text, `text,` for numbers and dates,
//!   `-` for NULL); SQLite hashes the storage class. So NULL, `''` and `'<null>'` all
//!   differ, in the hash and in the client's comparison.
//! * **Hashes.** PostgreSQL: `hash_record_extended`, the cheapest 64-bit hash it has, and a
//!   non-linear one. MySQL: the first 64 bits of SHA-256 (`CRC32` is linear, so an XOR of CRCs
//!   cancels when two rows swap values). SQLite: XXH3-64 in process. The XOR of a bucket
//!   misses a difference with probability about 2^-64; counts are compared too.
//! * **Key identity and the merge.** The fetch orders rows by the very identity values it
//!   returns, in an order the client reproduces exactly (signed/unsigned integers, or bytes
//!   compared with memcmp), and the merge checks that each stream is strictly increasing: a
//!   misaligned merge is an error, never a wrong answer. Text keys use the database's own
//!   notion of equality: MySQL's identity is `WEIGHT_STRING` (the collation's sort key, with
//!   trailing spaces trimmed first under PAD SPACE collations), so `'abc'` and `'ABC'` under
//!   a case-insensitive collation are one row (reported as changed if the case changed);
//!   PostgreSQL's deterministic collations mean equality is byte equality, and keys are
//!   ordered `COLLATE "C"`; nondeterministic collations on key columns are refused.
//!   SQLite keys compare as stored (`COLLATE BINARY`).
//!
//! # Not tested here
//! Only MariaDB 10.11 runs in this environment. MySQL 8 (Aurora MySQL 3) defaults to the
//! NO PAD `utf8mb4_0900_ai_ci` collation, reports `PAD_ATTRIBUTE` in
//! `information_schema.COLLATIONS` (read when present), and may differ from MariaDB in
//! `WEIGHT_STRING` output and in how floats print; the code handles NO PAD by not trimming,
//! but no test has run it against MySQL 8. TLS certificate verification is tested for both
//! drivers against loopback endpoints that speak the start of each protocol's TLS
//! negotiation, not against a TLS-enabled server.
//! PostgreSQL must be 14 or later (`hash_record_extended`, `bit_xor`).

mod db;
mod model;
mod mysql;
mod postgres;
pub mod report;
mod source;
mod sqlite;
mod table;

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use tokio::sync::mpsc;

pub use model::{Class, Counts, DiffError, DiffOptions, KeyDiff, KeyRange, Row, Stats, TableDiff, TableSpec, Value};
pub use source::{Engine, Source, SourceConfig, TlsConfig};

use source::Inner;
use table::{Column, Plan};

/// One part of a key identity, ordered the way the fetch query orders it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum KeyPart {
    Null,
    Int(i64),
    UInt(u64),
    /// SQLite REAL keys, as order-preserving bits.
    Real(u64),
    Bytes(Vec<u8>),
    /// SQLite BLOB keys, which sort after text.
    Blob(Vec<u8>),
}

impl KeyPart {
    pub(crate) fn real(r: f64) -> KeyPart {
        let b = r.to_bits();
        KeyPart::Real(if b >> 63 == 1 { !b } else { b | (1 << 63) })
    }
}

/// One fetched row: key identity, compared values, and whether its time column (`after`)
/// and its creation column (`created_after`) are later than the failover point.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub key: Vec<KeyPart>,
    pub vals: Vec<Value>,
    pub after: bool,
    pub created_after: bool,
}

impl Fetched {
    /// Reads the flags the fetch query appended after the values (`flags` of them).
    pub(crate) fn new(key: Vec<KeyPart>, vals: Vec<Value>, flags: &[bool]) -> Fetched {
        Fetched {
            key,
            vals,
            after: flags.first().copied().unwrap_or(false),
            created_after: flags.get(1).copied().unwrap_or(false),
        }
    }
}

/// At most this many buckets per level, so a level's checksums stay small in memory and
/// on the wire.
const MAX_BITS_PER_LEVEL: u32 = 16;
/// Catalog row estimates below this are replaced by an exact count.
const EXACT_COUNT_BELOW: u64 = 100_000;

/// Compares `tables` between `old` (the restored old primary) and `new` (a reader of the new
/// primary). An empty `tables` means every table with a primary key. Each side runs in one
/// read-only snapshot transaction for the whole call.
pub async fn diff_tables(
    old: &Source,
    new: &Source,
    tables: &[TableSpec],
    opts: &DiffOptions,
) -> Result<Vec<TableDiff>, DiffError> {
    if old.engine != new.engine {
        return Err(DiffError::EngineMismatch { old: old.engine.as_str(), new: new.engine.as_str() });
    }
    let engine = old.engine;
    let mut o = old.inner.lock().await;
    let mut n = new.inner.lock().await;
    let (a, b) = tokio::join!(db::begin(&mut o), db::begin(&mut n));
    a.map_err(|e| e.on("old"))?;
    b.map_err(|e| e.on("new"))?;
    let res = diff_all(&mut o, &mut n, engine, tables, opts).await;
    // Read-only transactions: ending them by rollback is the same as a commit, and also
    // works after a failed query.
    let (a, b) = tokio::join!(db::end(&mut o), db::end(&mut n));
    let out = res?;
    a.map_err(|e| e.on("old"))?;
    b.map_err(|e| e.on("new"))?;
    Ok(out)
}

async fn diff_all(
    o: &mut Inner,
    n: &mut Inner,
    engine: Engine,
    tables: &[TableSpec],
    opts: &DiffOptions,
) -> Result<Vec<TableDiff>, DiffError> {
    let specs: Vec<TableSpec> = if tables.is_empty() {
        let (a, b) = tokio::join!(db::tables(o), db::tables(n));
        let mut names = a.map_err(|e| e.on("old"))?;
        for t in b.map_err(|e| e.on("new"))? {
            if !names.contains(&t) {
                names.push(t);
            }
        }
        names.sort();
        names.into_iter().map(TableSpec::new).collect()
    } else {
        tables.to_vec()
    };
    let point = failover_point(o, n, engine, &specs, opts).await?;
    let mut out = Vec::with_capacity(specs.len());
    for spec in &specs {
        out.push(diff_one(o, n, engine, spec, opts, point.as_deref()).await.map_err(|e| e.in_table(&spec.name))?);
    }
    Ok(out)
}

/// Before this, no time column is read as later than the failover point: the estimate when
/// the new side holds no row from before the failover (everything on the old side is lost).
const BEFORE_EVERYTHING: &str = "1970-01-01 00:00:01.000000";

/// The failover point as UTC text: the one given, else the estimate; `None` when no table has
/// a time column.
async fn failover_point(
    o: &mut Inner,
    n: &mut Inner,
    engine: Engine,
    specs: &[TableSpec],
    opts: &DiffOptions,
) -> Result<Option<String>, DiffError> {
    if !specs.iter().any(|s| s.time_column.is_some()) {
        return Ok(None);
    }
    if let Some(p) = &opts.failover_point {
        return table::utc_text(p).map(Some);
    }
    // Without the failover time, each table with a time column says so, after its columns.
    let Some(after) = &opts.after else { return Ok(None) };
    let after = table::utc_text(after)?;
    Ok(Some(estimate_point(o, n, engine, specs, &after).await?.unwrap_or_else(|| BEFORE_EVERYTHING.to_string())))
}

/// Later than any time a database holds: the bound of "the latest value" on the old side.
const AFTER_EVERYTHING: &str = "9999-12-31 23:59:59.999999";

/// The failover point, estimated: the latest time or creation column value on the new side
/// not after `bound`, the later of `after` (the failover's start, UTC text) and the old
/// side's latest such value (its last write, before it was fenced: everything the new side
/// holds up to it was replicated, since the new side takes writes only once promoted, after
/// the old one's last). Assumes the old primary took no write after the new one was
/// promoted, which Aurora's fencing ensures. `None` when the new side holds no such value.
async fn estimate_point(
    o: &mut Inner,
    n: &mut Inner,
    engine: Engine,
    specs: &[TableSpec],
    after: &str,
) -> Result<Option<String>, DiffError> {
    let last_old = latest(o, engine, specs, AFTER_EVERYTHING).await.map_err(|e| e.on("old"))?;
    let bound = match last_old {
        Some(l) if l.as_str() > after => l,
        _ => after.to_string(),
    };
    latest(n, engine, specs, &bound).await.map_err(|e| e.on("new"))
}

/// The latest time or creation column value not after `after` over `specs` on one side, as
/// UTC text. Tables or columns missing there are skipped: comparing them reports the error.
async fn latest(n: &mut Inner, engine: Engine, specs: &[TableSpec], after: &str) -> Result<Option<String>, DiffError> {
    let d = db::dialect(engine);
    let mut best: Option<String> = None;
    for spec in specs {
        if spec.time_column.is_none() {
            continue;
        }
        let Some(cols) = db::columns(n, &spec.name).await? else { continue };
        // A creation time outlives the updates made after the failover: a row inserted by
        // the last replicated transaction still shows it when it was updated since.
        for tc in spec.time_column.iter().chain(&spec.created_column) {
            if !cols.iter().any(|c| &c.name == tc) {
                continue;
            }
            let sql = d.latest_not_after(tc, &d.table_ref(&spec.name), after);
            let rows = db::text_rows(n, &spec.name, &sql).await?;
            let Some(text) = rows.first().and_then(|r| r.first().cloned().flatten()) else { continue };
            let t = table::normalize_time(&text).ok_or_else(|| DiffError::Unsupported {
                table: spec.name.clone(),
                column: tc.clone(),
                message: format!("the time column's value {text:?} is not a date and time"),
            })?;
            // Same fixed-width UTC text: compared as text, compared as times.
            if best.as_ref().is_none_or(|b| t > *b) {
                best = Some(t);
            }
        }
    }
    Ok(best)
}

/// The failover point of `tables` as [`diff_tables`] estimates it when
/// [`DiffOptions::failover_point`] is not given: the latest time or creation column value on
/// `new` not after the later of `after` (RFC 3339, the failover's start) and the latest such
/// value on `old` (its last write), over every table; `None` when no such row exists. Key
/// ranges are ignored: the parts of one table, compared in several calls, pass the one point
/// computed here over the whole database.
pub async fn estimate_failover_point(
    old: &Source,
    new: &Source,
    tables: &[TableSpec],
    after: &str,
) -> Result<Option<String>, DiffError> {
    if old.engine != new.engine {
        return Err(DiffError::EngineMismatch { old: old.engine.as_str(), new: new.engine.as_str() });
    }
    let after = table::utc_text(after)?;
    let engine = new.engine;
    let mut o = old.inner.lock().await;
    let mut n = new.inner.lock().await;
    let (a, b) = tokio::join!(db::begin(&mut o), db::begin(&mut n));
    a.map_err(|e| e.on("old"))?;
    b.map_err(|e| e.on("new"))?;
    let res = estimate_point(&mut o, &mut n, engine, tables, &after).await;
    let (a, b) = tokio::join!(db::end(&mut o), db::end(&mut n));
    let out = res?;
    a.map_err(|e| e.on("old"))?;
    b.map_err(|e| e.on("new"))?;
    Ok(out)
}

/// Lists the tables with a primary key on one side.
pub async fn list_tables(source: &Source) -> Result<Vec<String>, DiffError> {
    let mut i = source.inner.lock().await;
    db::tables(&mut i).await
}

/// About how many rows a table has on one side: the catalog's estimate, or an exact count
/// when the catalog has none (a table never analysed). Enough to decide how many key
/// ranges a table is split into ([`plan_ranges`]).
pub async fn estimate_rows(source: &Source, table: &str) -> Result<u64, DiffError> {
    let d = db::dialect(source.engine);
    let mut i = source.inner.lock().await;
    if db::columns(&mut i, table).await?.is_none() {
        return Err(DiffError::TableMissing { table: table.into(), side: "this" });
    }
    rows_estimate(&mut i, d, table).await
}

async fn rows_estimate(i: &mut Inner, d: &dyn table::Dialect, table: &str) -> Result<u64, DiffError> {
    let est = db::estimate(i, table).await?;
    if est > 0 {
        return Ok(est);
    }
    let r = db::text_rows(i, table, &format!("SELECT COUNT(*) FROM {}", d.table_ref(table))).await?;
    Ok(r.first().and_then(|x| x.first().cloned().flatten()).and_then(|s| s.parse().ok()).unwrap_or(0))
}

/// Splits a table into `n` key ranges (fewer when the table is small), for fanning one
/// diff out over many invocations; see [`plan_ranges_over`].
pub async fn plan_ranges(source: &Source, table: &TableSpec, n: usize) -> Result<Vec<KeyRange>, DiffError> {
    plan_ranges_over(&[source], table, n, None).await
}

/// Splits a table into `n` key ranges (fewer when the table is small). With a single
/// integer key whose values are dense enough, equal slices of the key span over every
/// source (two index lookups each), so that rows written on one side only (the new
/// primary's, after the failover) are spread like the others instead of piling into the
/// last range; otherwise ranges of about equal row counts on the first source (one pass
/// over its key). Boundaries are plain key values compared by the database, so they cut
/// every side the same way. The sources must be distinct. `rows` is the table's row count
/// as the caller already estimated it ([`estimate_rows`], the largest over the sources);
/// `None` estimates it here.
pub async fn plan_ranges_over(
    sources: &[&Source],
    table: &TableSpec,
    n: usize,
    rows: Option<u64>,
) -> Result<Vec<KeyRange>, DiffError> {
    let Some(first) = sources.first() else {
        return Err(DiffError::BadSpec { table: table.name.clone(), message: "no source to plan ranges on".into() });
    };
    let d = db::dialect(first.engine);
    let name = table.name.as_str();
    let key: Vec<Column> = {
        let mut i = first.inner.lock().await;
        let cols = db::columns(&mut i, name)
            .await?
            .ok_or_else(|| DiffError::TableMissing { table: name.into(), side: "this" })?;
        let key_names = if table.key.is_empty() { db::primary_key(&mut i, name).await? } else { table.key.clone() };
        if key_names.is_empty() {
            return Err(DiffError::NoPrimaryKey { table: name.into() });
        }
        key_names
            .iter()
            .map(|k| {
                cols.iter().find(|c| &c.name == k).cloned().ok_or_else(|| DiffError::ColumnMissing {
                    table: name.into(),
                    column: k.clone(),
                    side: "this",
                })
            })
            .collect::<Result<_, _>>()?
    };
    if n <= 1 {
        return Ok(vec![KeyRange::default()]);
    }
    let from = d.table_ref(name);
    let estimate = match rows {
        Some(r) => r,
        None => {
            let mut m = 0u64;
            for s in sources {
                let mut i = s.inner.lock().await;
                m = m.max(rows_estimate(&mut i, d, name).await?);
            }
            m
        }
    };
    if key.len() == 1 && d.int_key(&key[0]) {
        let col = d.quote(&key[0].name);
        let (mut lo, mut hi) = (None::<i64>, None::<i64>);
        let mut integers = true;
        for s in sources {
            let mut i = s.inner.lock().await;
            let r = db::text_rows(&mut i, name, &format!("SELECT MIN({col}), MAX({col}) FROM {from}")).await?;
            let cell = |j: usize| r.first().and_then(|x| x.get(j).cloned().flatten());
            match (cell(0), cell(1)) {
                (None, None) => {}
                (Some(a), Some(b)) => match (a.parse::<i64>(), b.parse::<i64>()) {
                    (Ok(a), Ok(b)) => {
                        lo = Some(lo.map_or(a, |l| l.min(a)));
                        hi = Some(hi.map_or(b, |h| h.max(b)));
                    }
                    _ => integers = false,
                },
                _ => integers = false,
            }
        }
        match (integers, lo, hi) {
            (true, None, None) => return Ok(vec![KeyRange::default()]),
            (true, Some(lo), Some(hi)) => {
                let span = hi as i128 - lo as i128 + 1;
                // Sparse keys (an outlier, big gaps) would make slices of very unequal
                // sizes: count rows instead.
                if span <= 4 * estimate as i128 {
                    let parts = (n as i128).min(span);
                    let mut out = Vec::with_capacity(parts as usize);
                    let mut lower: Option<Vec<String>> = None;
                    for k in 1..parts {
                        let b = (lo as i128 + span * k / parts).to_string();
                        out.push(KeyRange { lower: lower.take(), upper: Some(vec![b.clone()]) });
                        lower = Some(vec![b]);
                    }
                    out.push(KeyRange { lower, upper: None });
                    return Ok(out);
                }
            }
            // Values that are not integers after all (SQLite): count rows.
            _ => {}
        }
    }
    let mut i = first.inner.lock().await;
    // A catalog estimate spares a pass over a big table; a small one is counted exactly.
    let total = if estimate >= EXACT_COUNT_BELOW {
        estimate
    } else {
        let r = db::text_rows(&mut i, name, &format!("SELECT COUNT(*) FROM {from}")).await?;
        r.first().and_then(|r| r[0].as_deref()).and_then(|s| s.parse().ok()).unwrap_or(0)
    };
    let step = total.div_ceil(n as u64).max(1);
    let kq: Vec<String> = key.iter().map(|c| d.quote(&c.name)).collect();
    let printed: Vec<String> = key.iter().map(|c| d.print(c)).collect();
    let sql = format!(
        "SELECT {} FROM (SELECT {}, ROW_NUMBER() OVER (ORDER BY {}) AS rd_rn FROM {from}) s \
         WHERE rd_rn > 1 AND (rd_rn - 1) % {step} = 0 ORDER BY rd_rn LIMIT {}",
        printed.join(", "),
        kq.join(", "),
        kq.join(", "),
        n - 1
    );
    let rows = db::text_rows(&mut i, name, &sql).await?;
    let mut bounds = Vec::new();
    for r in rows {
        let vals: Option<Vec<String>> = r.into_iter().collect();
        bounds.push(
            vals.ok_or_else(|| DiffError::BadSpec { table: name.into(), message: "NULL in a key column".into() })?,
        );
    }
    let mut out = Vec::with_capacity(bounds.len() + 1);
    let mut lower = None;
    for b in bounds {
        out.push(KeyRange { lower: lower.take(), upper: Some(b.clone()) });
        lower = Some(b);
    }
    out.push(KeyRange { lower, upper: None });
    Ok(out)
}

fn resolve(
    engine: Engine,
    spec: &TableSpec,
    point: Option<&str>,
    cols_o: Vec<Column>,
    cols_n: Vec<Column>,
    key_names: Vec<String>,
) -> Result<Plan, DiffError> {
    let d = db::dialect(engine);
    let t = spec.name.as_str();
    let find = |cols: &[Column], name: &str, side: &'static str| {
        cols.iter().find(|c| c.name == name).cloned().ok_or_else(|| DiffError::ColumnMissing {
            table: t.into(),
            column: name.into(),
            side,
        })
    };
    for ig in &spec.ignore_columns {
        if key_names.contains(ig) {
            return Err(DiffError::BadSpec { table: t.into(), message: format!("key column {ig} cannot be ignored") });
        }
        if !cols_o.iter().any(|c| &c.name == ig) && !cols_n.iter().any(|c| &c.name == ig) {
            return Err(DiffError::ColumnMissing { table: t.into(), column: ig.clone(), side: "old and new" });
        }
    }
    let ignored: HashSet<&str> = spec.ignore_columns.iter().map(String::as_str).collect();
    let mut names: Vec<String> = key_names.clone();
    names.extend(
        cols_o
            .iter()
            .filter(|c| !key_names.contains(&c.name) && !ignored.contains(c.name.as_str()))
            .map(|c| c.name.clone()),
    );
    for c in &cols_n {
        if !ignored.contains(c.name.as_str()) && !names.contains(&c.name) {
            return Err(DiffError::ColumnMissing { table: t.into(), column: c.name.clone(), side: "old" });
        }
    }
    let mut cols = Vec::with_capacity(names.len());
    for name in &names {
        let a = find(&cols_o, name, "old")?;
        let b = find(&cols_n, name, "new")?;
        if a.signature() != b.signature() {
            return Err(DiffError::ColumnTypeMismatch {
                table: t.into(),
                column: name.clone(),
                old: a.signature(),
                new: b.signature(),
            });
        }
        // A column nullable on either side may hold NULL on that side.
        cols.push(Column { nullable: a.nullable || b.nullable, ..a });
    }
    let time = match &spec.time_column {
        Some(tc) => {
            find(&cols_n, tc, "new")?;
            Some(find(&cols_o, tc, "old")?)
        }
        None => None,
    };
    let created = match (&spec.created_column, &time) {
        (Some(_), None) => {
            return Err(DiffError::BadSpec {
                table: t.into(),
                message: "a creation column needs a time column (the row's last write)".into(),
            });
        }
        (Some(cc), Some(_)) => {
            find(&cols_n, cc, "new")?;
            Some(find(&cols_o, cc, "old")?)
        }
        (None, _) => None,
    };
    let after = match (&time, point) {
        (Some(_), Some(p)) => Some(p.to_string()),
        (Some(_), None) => {
            return Err(DiffError::BadSpec {
                table: t.into(),
                message: "a time column needs the failover time (after)".into(),
            });
        }
        _ => None,
    };
    let nkey = key_names.len();
    let range_sql = match &spec.range {
        Some(r) => table::range_sql(d, t, &cols[..nkey], r)?,
        None => None,
    };
    for c in &cols[..nkey] {
        d.identity(t, c)?;
    }
    Ok(Plan { table: t.into(), from: d.table_ref(t), cols, nkey, time, created, after, range_sql, int_range: None })
}

async fn diff_one(
    o: &mut Inner,
    n: &mut Inner,
    engine: Engine,
    spec: &TableSpec,
    opts: &DiffOptions,
    point: Option<&str>,
) -> Result<TableDiff, DiffError> {
    let d = db::dialect(engine);
    let t = spec.name.as_str();
    let (co, cn) = tokio::join!(db::columns(o, t), db::columns(n, t));
    let co = co.map_err(|e| e.on("old"))?.ok_or_else(|| DiffError::TableMissing { table: t.into(), side: "old" })?;
    let cn = cn.map_err(|e| e.on("new"))?.ok_or_else(|| DiffError::TableMissing { table: t.into(), side: "new" })?;
    let key_names = if spec.key.is_empty() {
        let (ko, kn) = tokio::join!(db::primary_key(o, t), db::primary_key(n, t));
        let (ko, kn) = (ko.map_err(|e| e.on("old"))?, kn.map_err(|e| e.on("new"))?);
        if ko.is_empty() || kn.is_empty() {
            return Err(DiffError::NoPrimaryKey { table: t.into() });
        }
        if ko != kn {
            return Err(DiffError::BadSpec {
                table: t.into(),
                message: format!("primary keys differ: ({}) on old, ({}) on new", ko.join(", "), kn.join(", ")),
            });
        }
        ko
    } else {
        spec.key.clone()
    };
    let plan = resolve(engine, spec, point, co, cn, key_names)?;

    let mut stats = Stats::default();
    let (eo, en) = tokio::join!(db::estimate(o, t), db::estimate(n, t));
    let mut est = eo.map_err(|e| e.on("old"))?.max(en.map_err(|e| e.on("new"))?);
    // Catalog estimates are missing for never-analysed tables and say nothing about a
    // range; a wrong guess costs a whole level, an exact count of a small slice is cheap.
    if est < EXACT_COUNT_BELOW || plan.range_sql.is_some() {
        let sql = format!("SELECT COUNT(*) FROM {}{}", plan.from, plan.where_range());
        let (a, b) = tokio::join!(db::text_rows(o, t, &sql), db::text_rows(n, t, &sql));
        let count = |r: Vec<Vec<Option<String>>>| -> u64 {
            r.first().and_then(|x| x.first().cloned().flatten()).and_then(|s| s.parse().ok()).unwrap_or(0)
        };
        est = count(a.map_err(|e| e.on("old"))?).max(count(b.map_err(|e| e.on("new"))?));
    }
    let est = est.max(1);
    let leaf = opts.leaf_rows.max(1);
    let mut plan = plan;
    if plan.nkey == 1 && d.int_key(&plan.cols[0]) {
        plan.int_range = int_range(d, o, n, &plan).await?;
    }
    let max_bits = match &plan.int_range {
        Some(r) => r.total_bits,
        None => d.key_hash_bits(),
    };
    let mut bits =
        opts.first_level_bits.unwrap_or_else(|| ceil_log2(est.div_ceil(leaf))).min(MAX_BITS_PER_LEVEL).min(max_bits);
    let mut prev: Option<(u32, Vec<u64>)> = None;
    let mut counts = Counts::default();
    let mut first = true;
    let (differing, total_nonempty) = loop {
        stats.levels += 1;
        let sql = table::bucket_sql(d, &plan, bits, prev.as_ref().map(|(b, l)| (*b, l.as_slice())))?;
        let (bo, bn) = tokio::join!(db::buckets(o, t, &sql), db::buckets(n, t, &sql));
        let bo = bo.map_err(|e| e.on("old"))?;
        let bn = bn.map_err(|e| e.on("new"))?;
        if first {
            counts.old_rows = bo.iter().map(|x| x.1).sum();
            counts.new_rows = bn.iter().map(|x| x.1).sum();
            first = false;
        }
        let mo: HashMap<u64, (u64, u64)> = bo.iter().map(|&(b, c, x)| (b, (c, x))).collect();
        let mn: HashMap<u64, (u64, u64)> = bn.iter().map(|&(b, c, x)| (b, (c, x))).collect();
        stats.buckets_compared += mo.len().max(mn.len()) as u64;
        let mut all: Vec<u64> = mo.keys().chain(mn.keys()).copied().collect::<HashSet<_>>().into_iter().collect();
        all.sort_unstable();
        let total_nonempty = all.len();
        let mut fetch_rows = 0u64;
        let differing: Vec<u64> = all
            .into_iter()
            .filter(|b| {
                let a = mo.get(b).copied().unwrap_or((0, 0));
                let c = mn.get(b).copied().unwrap_or((0, 0));
                if a != c {
                    fetch_rows += a.0.max(c.0);
                }
                a != c
            })
            .collect();
        drop((mo, mn, bo, bn));
        if differing.is_empty() {
            return Ok(Acc::new(&plan, spec, opts, counts, stats).finish());
        }
        // Descending costs one more pass over the buckets' rows; it pays only when the
        // differences are sparse among many rows.
        let dense = differing.len() * 4 > total_nonempty && total_nonempty >= 64;
        if fetch_rows <= opts.descend_above_rows.max(leaf * differing.len() as u64 * 2) || dense || bits >= max_bits {
            break (differing, total_nonempty);
        }
        let max_count = fetch_rows / differing.len() as u64;
        let room = MAX_BITS_PER_LEVEL.saturating_sub(ceil_log2(differing.len() as u64)).max(1);
        let extra = ceil_log2(max_count.div_ceil(leaf)).clamp(1, room);
        prev = Some((bits, differing));
        bits = (bits + extra).min(max_bits);
    };

    let filter =
        if differing.len() == total_nonempty && prev.is_none() { None } else { Some((bits, differing.as_slice())) };
    let flags = plan.flags();
    let (sql, dec) = table::fetch_sql(d, &plan, filter)?;
    let nvals = plan.cols.len();
    let (txo, rxo) = mpsc::channel::<Fetched>(512);
    let (txn, rxn) = mpsc::channel::<Fetched>(512);
    let mut acc = Acc::new(&plan, spec, opts, counts, stats);
    let (fo, fnw, m) = tokio::join!(
        db::fetch(o, t, &sql, &dec, nvals, flags, txo),
        db::fetch(n, t, &sql, &dec, nvals, flags, txn),
        merge(rxo, rxn, &mut acc)
    );
    // A merge error closes the channels, which stops the fetches: report the cause first.
    m?;
    fo.map_err(|e| e.on("old"))?;
    fnw.map_err(|e| e.on("new"))?;
    Ok(acc.finish())
}

/// The key span of both sides, when a single integer key lets buckets be key slices.
async fn int_range(
    d: &dyn table::Dialect,
    o: &mut Inner,
    n: &mut Inner,
    plan: &Plan,
) -> Result<Option<table::IntRange>, DiffError> {
    let col = d.quote(&plan.cols[0].name);
    let sql = format!("SELECT MIN({col}), MAX({col}) FROM {}{}", plan.from, plan.where_range());
    let (a, b) = tokio::join!(db::text_rows(o, &plan.table, &sql), db::text_rows(n, &plan.table, &sql));
    let (a, b) = (a.map_err(|e| e.on("old"))?, b.map_err(|e| e.on("new"))?);
    let mut lo: Option<i64> = None;
    let mut hi: Option<i64> = None;
    for r in a.iter().chain(b.iter()) {
        let parse = |i: usize| r.get(i).cloned().flatten().map(|s| s.parse::<i64>());
        match (parse(0), parse(1)) {
            (Some(Ok(x)), Some(Ok(y))) => {
                lo = Some(lo.map_or(x, |l| l.min(x)));
                hi = Some(hi.map_or(y, |h| h.max(y)));
            }
            (None, None) => {}
            // Not integers after all (SQLite): keep hash buckets.
            _ => return Ok(None),
        }
    }
    let (Some(lo), Some(hi)) = (lo, hi) else { return Ok(None) };
    let span = hi as i128 - lo as i128 + 1;
    // `k - lo` must not overflow a signed 64-bit integer in SQL.
    if span >= 1i128 << 62 {
        return Ok(None);
    }
    let wide = d.wide(&plan.cols[0]);
    Ok(Some(table::IntRange { col, wide, lo, hi, total_bits: ceil_log2(span as u64) }))
}

fn ceil_log2(x: u64) -> u32 {
    if x <= 1 { 0 } else { 64 - (x - 1).leading_zeros() }
}

struct Acc {
    diff: TableDiff,
    max: usize,
    names: Vec<String>,
    /// The table has a time column: classes follow it (otherwise every difference is lost).
    timed: bool,
    /// The table has a creation column.
    created: bool,
}

impl Acc {
    fn new(plan: &Plan, spec: &TableSpec, opts: &DiffOptions, counts: Counts, stats: Stats) -> Acc {
        let names: Vec<String> = plan.cols.iter().map(|c| c.name.clone()).collect();
        Acc {
            diff: TableDiff {
                table: plan.table.clone(),
                key: plan.key().iter().map(|c| c.name.clone()).collect(),
                columns: names.clone(),
                range: spec.range.clone(),
                failover_point: plan.after.clone(),
                counts,
                rows: vec![],
                truncated: false,
                stats,
            },
            max: opts.max_rows_kept,
            names,
            timed: plan.time.is_some() && plan.after.is_some(),
            created: plan.created.is_some() && plan.after.is_some(),
        }
    }
    fn keep(&mut self, k: KeyDiff) {
        self.diff.counts.add(k.class, 1);
        if self.diff.rows.len() < self.max {
            self.diff.rows.push(k);
        } else {
            self.diff.truncated = true;
        }
    }
    /// Only on the old side.
    fn lost(&mut self, r: Fetched) {
        let class = if !self.timed {
            Class::LostInsert
        } else if !r.after {
            // Unchanged since the failover point, so the new side had it and removed it.
            Class::DeletedAfter
        } else if self.created && !r.created_after {
            // It existed before the failover point: a lost update the new side deleted since.
            Class::Conflict
        } else {
            Class::LostInsert
        };
        self.keep(KeyDiff { class, old: Some(r.vals), new: None, columns: vec![] });
    }
    /// Only on the new side.
    fn new_row(&mut self, r: Fetched) {
        let class = if !self.timed || !r.after {
            // Unchanged since the failover point: the old side deleted it after that.
            Class::LostDelete
        } else if self.created && !r.created_after {
            // It existed before the failover point: a lost delete the new side updated since.
            Class::Conflict
        } else {
            Class::InsertedAfter
        };
        self.keep(KeyDiff { class, old: None, new: Some(r.vals), columns: vec![] });
    }
    /// On both sides.
    fn both(&mut self, a: Fetched, b: Fetched) {
        let columns: Vec<String> =
            a.vals.iter().zip(&b.vals).zip(&self.names).filter(|((x, y), _)| x != y).map(|(_, n)| n.clone()).collect();
        if columns.is_empty() {
            return;
        }
        let class = if !self.timed || !b.after {
            // The new side still holds the version from before the failover point.
            Class::LostUpdate
        } else if !a.after {
            Class::UpdatedAfter
        } else if self.created && a.created_after {
            // The old row was itself inserted after the failover point (a lost insert), and
            // the new side has another row under its key.
            Class::IdReused
        } else {
            Class::Conflict
        };
        self.keep(KeyDiff { class, old: Some(a.vals), new: Some(b.vals), columns });
    }
    fn finish(self) -> TableDiff {
        self.diff
    }
}

fn misorder(table: &str, side: &'static str) -> DiffError {
    DiffError::Query {
        table: table.into(),
        side,
        message: "rows arrived out of key order: the key ordering differs from the one the merge assumes".into(),
    }
}

async fn next_checked(
    rx: &mut mpsc::Receiver<Fetched>,
    last: &mut Option<Vec<KeyPart>>,
    table: &str,
    side: &'static str,
    fetched: &mut u64,
) -> Result<Option<Fetched>, DiffError> {
    let r = rx.recv().await;
    if let Some(r) = &r {
        *fetched += 1;
        if let Some(l) = last.as_ref()
            && r.key <= *l
        {
            return Err(misorder(table, side));
        }
        *last = Some(r.key.clone());
    }
    Ok(r)
}

async fn merge(
    mut ro: mpsc::Receiver<Fetched>,
    mut rn: mpsc::Receiver<Fetched>,
    acc: &mut Acc,
) -> Result<(), DiffError> {
    let t = acc.diff.table.clone();
    let (mut lo, mut ln) = (None, None);
    let mut a = next_checked(&mut ro, &mut lo, &t, "old", &mut acc.diff.stats.rows_fetched).await?;
    let mut b = next_checked(&mut rn, &mut ln, &t, "new", &mut acc.diff.stats.rows_fetched).await?;
    loop {
        match (a.take(), b.take()) {
            (None, None) => return Ok(()),
            (Some(x), None) => {
                acc.lost(x);
                a = next_checked(&mut ro, &mut lo, &t, "old", &mut acc.diff.stats.rows_fetched).await?;
            }
            (None, Some(y)) => {
                acc.new_row(y);
                b = next_checked(&mut rn, &mut ln, &t, "new", &mut acc.diff.stats.rows_fetched).await?;
            }
            (Some(x), Some(y)) => match x.key.cmp(&y.key) {
                Ordering::Less => {
                    acc.lost(x);
                    b = Some(y);
                    a = next_checked(&mut ro, &mut lo, &t, "old", &mut acc.diff.stats.rows_fetched).await?;
                }
                Ordering::Greater => {
                    acc.new_row(y);
                    a = Some(x);
                    b = next_checked(&mut rn, &mut ln, &t, "new", &mut acc.diff.stats.rows_fetched).await?;
                }
                Ordering::Equal => {
                    acc.both(x, y);
                    a = next_checked(&mut ro, &mut lo, &t, "old", &mut acc.diff.stats.rows_fetched).await?;
                    b = next_checked(&mut rn, &mut ln, &t, "new", &mut acc.diff.stats.rows_fetched).await?;
                }
            },
        }
    }
}
