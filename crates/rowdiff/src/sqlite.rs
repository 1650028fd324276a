//! SQLite, in process.
//!
//! SQLite has neither a hash function nor an XOR aggregate, so the connection gets two:
//! `rowdiff_hash(...)`, XXH3-64 over each argument's storage class, length and bytes (so
//! NULL, `''` and `'<null>'` differ, and so do the integer 1 and the text '1'), and
//! `rowdiff_xor(x)`. Values are compared as stored, with their storage class.

use std::sync::{Arc, Mutex};

use rusqlite::functions::{Aggregate, Context, FunctionFlags};
use rusqlite::types::ValueRef;
use tokio::sync::mpsc;

use crate::model::{DiffError, Value};
use crate::source::{Inner, SourceConfig};
use crate::table::{Column, Dialect, KeyDecode, Plan, hex};
use crate::{Fetched, KeyPart};

pub(crate) struct Lite;

pub(crate) static DIALECT: Lite = Lite;

fn int_affinity(c: &Column) -> bool {
    c.base.contains("int")
}

impl Dialect for Lite {
    fn quote(&self, ident: &str) -> String {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }
    fn identity(&self, _table: &str, c: &Column) -> Result<(String, KeyDecode), DiffError> {
        Ok((format!("{} COLLATE BINARY", self.quote(&c.name)), KeyDecode::Lite))
    }
    fn key_hash(&self, plan: &Plan) -> Result<String, DiffError> {
        let parts: Vec<String> = plan.key().iter().map(|c| self.quote(&c.name)).collect();
        Ok(format!("rowdiff_hash({})", parts.join(", ")))
    }
    fn key_hash_bits(&self) -> u32 {
        48
    }
    fn int_key(&self, c: &Column) -> bool {
        // Only an INTEGER PRIMARY KEY (the rowid) is sure to hold integers alone.
        c.base == "integer"
    }
    fn row_hash(&self, plan: &Plan) -> String {
        let parts: Vec<String> = plan.cols.iter().map(|c| self.quote(&c.name)).collect();
        format!("rowdiff_hash({})", parts.join(", "))
    }
    fn xor_agg(&self, expr: &str) -> String {
        format!("rowdiff_xor({expr})")
    }
    fn canon(&self, c: &Column) -> String {
        self.quote(&c.name)
    }
    fn after(&self, c: &Column, utc: &str) -> String {
        let q = self.quote(&c.name);
        format!(
            "COALESCE(CASE WHEN typeof({q}) IN ('integer', 'real') THEN {q} > unixepoch('{utc}', 'subsec') \
             ELSE julianday({q}) > julianday('{utc}') END, 0)"
        )
    }
    fn latest_not_after(&self, col: &str, from: &str, utc: &str) -> String {
        let q = self.quote(col);
        // Text keeps its own digits; a number (Unix time) is printed to the millisecond.
        format!(
            "SELECT CASE WHEN typeof(m) IN ('integer', 'real') THEN strftime('%Y-%m-%d %H:%M:%f', m, 'unixepoch') \
             ELSE m END FROM (SELECT MAX({q}) AS m FROM {from} WHERE {q} IS NOT NULL AND NOT \
             (CASE WHEN typeof({q}) IN ('integer', 'real') THEN {q} > unixepoch('{utc}', 'subsec') \
             ELSE julianday({q}) > julianday('{utc}') END))"
        )
    }
    fn literal(&self, table: &str, c: &Column, text: &str) -> Result<String, DiffError> {
        if int_affinity(c) {
            return text.trim().parse::<i64>().map(|i| i.to_string()).map_err(|_| DiffError::BadSpec {
                table: table.into(),
                message: format!("key range value {text:?} of column {} is not an integer", c.name),
            });
        }
        Ok(format!("CAST(X'{}' AS TEXT)", hex(text.as_bytes())))
    }
    fn print(&self, c: &Column) -> String {
        format!("CAST({} AS TEXT)", self.quote(&c.name))
    }
}

fn hash_args(ctx: &Context<'_>) -> i64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for i in 0..ctx.len() {
        match ctx.get_raw(i) {
            ValueRef::Null => h.update(b"n"),
            ValueRef::Integer(x) => {
                h.update(b"i");
                h.update(&x.to_le_bytes());
            }
            ValueRef::Real(x) => {
                h.update(b"r");
                h.update(&x.to_bits().to_le_bytes());
            }
            ValueRef::Text(t) => {
                h.update(b"t");
                h.update(&(t.len() as u64).to_le_bytes());
                h.update(t);
            }
            ValueRef::Blob(b) => {
                h.update(b"b");
                h.update(&(b.len() as u64).to_le_bytes());
                h.update(b);
            }
        }
    }
    h.digest() as i64
}

struct Xor;

impl Aggregate<i64, i64> for Xor {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<i64> {
        Ok(0)
    }
    fn step(&self, ctx: &mut Context<'_>, acc: &mut i64) -> rusqlite::Result<()> {
        *acc ^= ctx.get::<i64>(0)?;
        Ok(())
    }
    fn finalize(&self, _: &mut Context<'_>, acc: Option<i64>) -> rusqlite::Result<i64> {
        Ok(acc.unwrap_or(0))
    }
}

fn lerr(table: &str, e: rusqlite::Error) -> DiffError {
    DiffError::Query { table: table.into(), side: "", message: e.to_string() }
}

pub(crate) fn register(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let f = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("rowdiff_hash", -1, f, |ctx| Ok(hash_args(ctx)))?;
    conn.create_aggregate_function("rowdiff_xor", 1, f, Xor)?;
    Ok(())
}

pub(crate) fn connect(cfg: &SourceConfig) -> Result<Inner, DiffError> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        &cfg.database,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(|e| DiffError::Connect { side: "", message: format!("{}: {e}", cfg.database) })?;
    register(&conn).map_err(|e| DiffError::Connect { side: "", message: e.to_string() })?;
    Ok(Inner::Sqlite(Arc::new(Mutex::new(conn))))
}

type Shared = Arc<Mutex<rusqlite::Connection>>;

async fn blocking<T: Send + 'static>(
    c: &Shared,
    f: impl FnOnce(&rusqlite::Connection) -> Result<T, DiffError> + Send + 'static,
) -> Result<T, DiffError> {
    let c = c.clone();
    tokio::task::spawn_blocking(move || {
        let g = c.lock().map_err(|_| DiffError::Io("sqlite connection poisoned".into()))?;
        f(&g)
    })
    .await
    .map_err(|e| DiffError::Io(format!("sqlite task: {e}")))?
}

pub(crate) async fn begin(c: &Shared) -> Result<(), DiffError> {
    // A deferred transaction takes its snapshot at the first read; read at once.
    blocking(c, |c| {
        // A diff that failed half-way may have left its transaction open.
        if !c.is_autocommit() {
            c.execute_batch("ROLLBACK").map_err(|e| lerr("", e))?;
        }
        c.execute_batch("BEGIN; SELECT count(*) FROM sqlite_master;").map_err(|e| lerr("", e))
    })
    .await
}

pub(crate) async fn end(c: &Shared) -> Result<(), DiffError> {
    blocking(c, |c| c.execute_batch("ROLLBACK").map_err(|e| lerr("", e))).await
}

pub(crate) async fn columns(c: &Shared, table: &str) -> Result<Option<Vec<Column>>, DiffError> {
    let t = table.to_string();
    let rows = blocking(c, move |c| {
        let mut st =
            c.prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1)").map_err(|e| lerr(&t, e))?;
        let rows = st
            .query_map([&t], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?))
            })
            .map_err(|e| lerr(&t, e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| lerr(&t, e))
    })
    .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        rows.into_iter()
            .map(|(name, ty, notnull, _)| Column {
                name,
                base: ty.to_ascii_lowercase(),
                type_name: ty,
                nullable: notnull == 0,
                collation: None,
                nondeterministic: false,
                pad_space: false,
                unsigned: false,
            })
            .collect(),
    ))
}

pub(crate) async fn primary_key(c: &Shared, table: &str) -> Result<Vec<String>, DiffError> {
    let t = table.to_string();
    blocking(c, move |c| {
        let mut st =
            c.prepare("SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk").map_err(|e| lerr(&t, e))?;
        let rows = st.query_map([&t], |r| r.get::<_, String>(0)).map_err(|e| lerr(&t, e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| lerr(&t, e))
    })
    .await
}

pub(crate) async fn tables(c: &Shared) -> Result<Vec<String>, DiffError> {
    blocking(c, |c| {
        let mut st = c
            .prepare(
                "SELECT m.name FROM sqlite_master m WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
                 AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) p WHERE p.pk > 0) ORDER BY 1",
            )
            .map_err(|e| lerr("", e))?;
        let rows = st.query_map([], |r| r.get::<_, String>(0)).map_err(|e| lerr("", e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| lerr("", e))
    })
    .await
}

pub(crate) async fn estimate(c: &Shared, table: &str) -> Result<u64, DiffError> {
    let sql = format!("SELECT count(*) FROM {}", Lite.table_ref(table));
    let t = table.to_string();
    blocking(c, move |c| c.query_row(&sql, [], |r| r.get::<_, i64>(0)).map(|n| n as u64).map_err(|e| lerr(&t, e))).await
}

pub(crate) async fn buckets(c: &Shared, table: &str, sql: &str) -> Result<Vec<(u64, u64, u64)>, DiffError> {
    let (t, sql) = (table.to_string(), sql.to_string());
    blocking(c, move |c| {
        let mut st = c.prepare(&sql).map_err(|e| lerr(&t, e))?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64)))
            .map_err(|e| lerr(&t, e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| lerr(&t, e))
    })
    .await
}

fn to_text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(r) => Some(format!("{r:?}")),
        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Some(hex(b)),
    }
}

pub(crate) async fn text_rows(c: &Shared, table: &str, sql: &str) -> Result<Vec<Vec<Option<String>>>, DiffError> {
    let (t, sql) = (table.to_string(), sql.to_string());
    blocking(c, move |c| {
        let mut st = c.prepare(&sql).map_err(|e| lerr(&t, e))?;
        let n = st.column_count();
        let rows = st
            .query_map([], |r| (0..n).map(|i| r.get_ref(i).map(to_text)).collect::<Result<Vec<_>, _>>())
            .map_err(|e| lerr(&t, e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| lerr(&t, e))
    })
    .await
}

fn value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
    }
}

fn key_part(v: ValueRef<'_>) -> KeyPart {
    match v {
        ValueRef::Null => KeyPart::Null,
        ValueRef::Integer(i) => KeyPart::Int(i),
        ValueRef::Real(r) => KeyPart::real(r),
        ValueRef::Text(t) => KeyPart::Bytes(t.to_vec()),
        ValueRef::Blob(b) => KeyPart::Blob(b.to_vec()),
    }
}

pub(crate) async fn fetch(
    c: &Shared,
    table: &str,
    sql: &str,
    nkey: usize,
    nvals: usize,
    flags: usize,
    tx: mpsc::Sender<Fetched>,
) -> Result<(), DiffError> {
    let (t, sql) = (table.to_string(), sql.to_string());
    blocking(c, move |c| {
        let mut st = c.prepare(&sql).map_err(|e| lerr(&t, e))?;
        let mut rows = st.query([]).map_err(|e| lerr(&t, e))?;
        while let Some(r) = rows.next().map_err(|e| lerr(&t, e))? {
            let g = |i: usize| r.get_ref(i).map_err(|e| lerr(&t, e));
            let key = (0..nkey).map(|i| g(i).map(key_part)).collect::<Result<Vec<_>, _>>()?;
            let vals = (0..nvals).map(|i| g(nkey + i).map(value)).collect::<Result<Vec<_>, _>>()?;
            let flags = (0..flags)
                .map(|i| g(nkey + nvals + i).map(|v| matches!(v, ValueRef::Integer(x) if x != 0)))
                .collect::<Result<Vec<bool>, _>>()?;
            if tx.blocking_send(Fetched::new(key, vals, &flags)).is_err() {
                break;
            }
        }
        Ok(())
    })
    .await
}
