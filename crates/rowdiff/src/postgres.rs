//! PostgreSQL (14 or later: `hash_record_extended` and `bit_xor`).
//!
//! Row hash: `hash_record_extended` over the columns, each in a form whose type hash agrees
//! with the canonical text the fetch returns (numeric: `trim_scale`, floats: `+ 0` so that
//! -0 and 0 agree, types without a sound hash: their text), plus `num_nulls` of the
//! nullable columns, because `hash_record_extended` counts a NULL field as hash 0. It is the cheapest hash the server
//! offers (the issue measured it 6.5 times faster than md5 over the same rows).

use futures::StreamExt;
use tokio::sync::mpsc;

use crate::model::{DiffError, Value};
use crate::source::{Inner, SourceConfig};
use crate::table::{Column, Dialect, KeyDecode, Plan};
use crate::{Fetched, KeyPart};

pub(crate) struct Pg;

pub(crate) static DIALECT: Pg = Pg;

/// Types whose native hash agrees with the equality of `canon`.
fn native_hash(base: &str) -> bool {
    matches!(
        base,
        "int2"
            | "int4"
            | "int8"
            | "text"
            | "varchar"
            | "bpchar"
            | "uuid"
            | "timestamptz"
            | "timestamp"
            | "date"
            | "bool"
            | "bytea"
            | "jsonb"
            | "numeric"
            | "float4"
            | "float8"
            | "oid"
    )
}

impl Dialect for Pg {
    fn quote(&self, ident: &str) -> String {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }
    fn identity(&self, table: &str, c: &Column) -> Result<(String, KeyDecode), DiffError> {
        if c.nondeterministic {
            return Err(DiffError::Unsupported {
                table: table.into(),
                column: c.name.clone(),
                message: format!("key column with the nondeterministic collation {:?}", c.collation),
            });
        }
        let q = self.quote(&c.name);
        Ok(match c.base.as_str() {
            "int2" | "int4" | "int8" => (format!("{q}::int8"), KeyDecode::Int),
            _ => (format!("({}) COLLATE \"C\"", self.canon(c)), KeyDecode::Bytes),
        })
    }
    fn key_hash(&self, plan: &Plan) -> Result<String, DiffError> {
        let key = plan.key();
        if key.len() == 1 && matches!(key[0].base.as_str(), "int2" | "int4" | "int8") {
            return Ok(format!("hashint8extended({}::int8, 0)", self.quote(&key[0].name)));
        }
        let parts: Vec<String> =
            key.iter().map(|c| self.identity(&plan.table, c).map(|x| x.0)).collect::<Result<_, _>>()?;
        Ok(format!("hash_record_extended(row({}), 0)", parts.join(", ")))
    }
    fn key_hash_bits(&self) -> u32 {
        48
    }
    fn int_key(&self, c: &Column) -> bool {
        matches!(c.base.as_str(), "int2" | "int4" | "int8")
    }
    fn wide(&self, c: &Column) -> String {
        format!("{}::int8", self.quote(&c.name))
    }
    fn row_hash(&self, plan: &Plan) -> String {
        let mut parts: Vec<String> = plan
            .cols
            .iter()
            .map(|c| {
                let q = self.quote(&c.name);
                match c.base.as_str() {
                    "float4" => format!("({q} + 0::float4)"),
                    "float8" => format!("({q} + 0::float8)"),
                    b if native_hash(b) && !c.nondeterministic => q,
                    _ => format!("convert_to({}, 'UTF8')", self.canon(c)),
                }
            })
            .collect();
        // hash_record_extended counts a NULL field as hash 0; the NULL count makes a NULL
        // differ from any value, even one whose hash were 0.
        let nullable: Vec<String> = plan.cols.iter().filter(|c| c.nullable).map(|c| self.quote(&c.name)).collect();
        if !nullable.is_empty() {
            parts.push(format!("num_nulls({})", nullable.join(", ")));
        }
        format!("hash_record_extended(row({}), 0)", parts.join(", "))
    }
    fn xor_agg(&self, expr: &str) -> String {
        format!("bit_xor({expr})")
    }
    fn canon(&self, c: &Column) -> String {
        let q = self.quote(&c.name);
        match c.base.as_str() {
            "numeric" => format!("trim_scale({q})::text"),
            "float4" => format!("({q} + 0::float4)::text"),
            "float8" => format!("({q} + 0::float8)::text"),
            _ => format!("{q}::text"),
        }
    }
    fn after(&self, c: &Column, utc: &str) -> String {
        format!("COALESCE({} > '{utc}+00'::timestamptz, false)", self.quote(&c.name))
    }
    fn latest_not_after(&self, col: &str, from: &str, utc: &str) -> String {
        let q = self.quote(col);
        format!(
            "SELECT to_char(MAX({q})::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') FROM {from} \
             WHERE {q} <= '{utc}+00'::timestamptz"
        )
    }
    fn literal(&self, table: &str, c: &Column, text: &str) -> Result<String, DiffError> {
        if text.contains("$rd$") {
            return Err(DiffError::BadSpec {
                table: table.into(),
                message: format!("key range value of column {} contains $rd$", c.name),
            });
        }
        Ok(format!("$rd${text}$rd$::{}", c.type_name))
    }
    fn print(&self, c: &Column) -> String {
        format!("{}::text", self.quote(&c.name))
    }
}

pub(crate) async fn connect(cfg: &SourceConfig) -> Result<Inner, DiffError> {
    let mut pc = tokio_postgres::Config::new();
    pc.host(&cfg.host).port(cfg.port).user(&cfg.user).dbname(&cfg.database);
    pc.application_name("rowdiff");
    pc.options("-c default_transaction_read_only=on");
    if let Some(p) = &cfg.password {
        pc.password(p);
    }
    pc.connect_timeout(std::time::Duration::from_secs(10));
    let err = |e: tokio_postgres::Error| DiffError::Connect {
        side: "",
        message: format!("{}:{}: {}", cfg.host, cfg.port, crate::model::chain(&e)),
    };
    let client = if cfg.tls.enabled {
        pc.ssl_mode(tokio_postgres::config::SslMode::Require);
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(cfg.tls.rustls_config()?);
        let (client, conn) = pc.connect(tls).await.map_err(err)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    } else {
        let (client, conn) = pc.connect(tokio_postgres::NoTls).await.map_err(err)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    };
    // Fixed output settings make the canonical text the same on both sides whatever the
    // servers' defaults are.
    client
        .batch_execute(
            "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; \
             SET extra_float_digits = 1; SET bytea_output = 'hex'; SET statement_timeout = 0",
        )
        .await
        .map_err(err)?;
    Ok(Inner::Postgres(client))
}

fn qerr(table: &str, e: tokio_postgres::Error) -> DiffError {
    let message = match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => crate::model::chain(&e),
    };
    DiffError::Query { table: table.into(), side: "", message }
}

pub(crate) async fn begin(c: &tokio_postgres::Client) -> Result<(), DiffError> {
    c.batch_execute("ROLLBACK; BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await.map_err(|e| qerr("", e))
}

pub(crate) async fn end(c: &tokio_postgres::Client) -> Result<(), DiffError> {
    c.batch_execute("ROLLBACK").await.map_err(|e| qerr("", e))
}

pub(crate) async fn columns(c: &tokio_postgres::Client, table: &str) -> Result<Option<Vec<Column>>, DiffError> {
    let rel = match c.query_opt("SELECT to_regclass($1)::oid", &[&Pg.table_ref(table)]).await {
        Ok(Some(r)) => r.get::<_, Option<tokio_postgres::types::Oid>>(0),
        Ok(None) => None,
        Err(e) => return Err(qerr(table, e)),
    };
    let Some(rel) = rel else { return Ok(None) };
    let rows = c
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), t.typname::text, NOT a.attnotnull, \
                    CASE WHEN a.attcollation <> 0 THEN co.collname::text END, \
                    COALESCE(NOT co.collisdeterministic, false) \
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
             LEFT JOIN pg_collation co ON co.oid = a.attcollation \
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[&rel],
        )
        .await
        .map_err(|e| qerr(table, e))?;
    Ok(Some(
        rows.iter()
            .map(|r| Column {
                name: r.get(0),
                type_name: r.get(1),
                base: r.get(2),
                nullable: r.get(3),
                collation: r.get(4),
                nondeterministic: r.get(5),
                pad_space: false,
                unsigned: false,
            })
            .collect(),
    ))
}

pub(crate) async fn primary_key(c: &tokio_postgres::Client, table: &str) -> Result<Vec<String>, DiffError> {
    let rows = c
        .query(
            "SELECT a.attname::text FROM pg_index i \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
             WHERE i.indrelid = to_regclass($1) AND i.indisprimary \
             ORDER BY array_position(i.indkey::int2[], a.attnum)",
            &[&Pg.table_ref(table)],
        )
        .await
        .map_err(|e| qerr(table, e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

pub(crate) async fn tables(c: &tokio_postgres::Client) -> Result<Vec<String>, DiffError> {
    let rows = c
        .query(
            "SELECT CASE WHEN n.nspname = current_schema() THEN c.relname::text \
                         ELSE n.nspname || '.' || c.relname END \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' \
               AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) \
             ORDER BY 1",
            &[],
        )
        .await
        .map_err(|e| qerr("", e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

pub(crate) async fn estimate(c: &tokio_postgres::Client, table: &str) -> Result<u64, DiffError> {
    let r = c
        .query_one(
            // The leaves of a partitioned table hold its rows and its statistics (a
            // partitioned parent is never analysed by autovacuum); a plain table is its
            // own only leaf.
            "SELECT COALESCE(SUM(GREATEST(c.reltuples, 0)), 0)::int8 FROM pg_partition_tree(to_regclass($1)) p \
             JOIN pg_class c ON c.oid = p.relid WHERE p.isleaf",
            &[&Pg.table_ref(table)],
        )
        .await
        .map_err(|e| qerr(table, e))?;
    Ok(r.get::<_, i64>(0) as u64)
}

pub(crate) async fn buckets(
    c: &tokio_postgres::Client,
    table: &str,
    sql: &str,
) -> Result<Vec<(u64, u64, u64)>, DiffError> {
    let rows = c.query(sql, &[]).await.map_err(|e| qerr(table, e))?;
    Ok(rows.iter().map(|r| (r.get::<_, i64>(0) as u64, r.get::<_, i64>(1) as u64, r.get::<_, i64>(2) as u64)).collect())
}

pub(crate) async fn text_rows(
    c: &tokio_postgres::Client,
    table: &str,
    sql: &str,
) -> Result<Vec<Vec<Option<String>>>, DiffError> {
    let rows = c.simple_query(sql).await.map_err(|e| qerr(table, e))?;
    Ok(rows
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_owned)).collect())
            }
            _ => None,
        })
        .collect())
}

pub(crate) async fn fetch(
    c: &tokio_postgres::Client,
    table: &str,
    sql: &str,
    dec: &[KeyDecode],
    nvals: usize,
    flags: usize,
    tx: mpsc::Sender<Fetched>,
) -> Result<(), DiffError> {
    let stream = c.query_raw(sql, std::iter::empty::<i32>()).await.map_err(|e| qerr(table, e))?;
    let mut stream = std::pin::pin!(stream);
    while let Some(r) = stream.next().await {
        let r = r.map_err(|e| qerr(table, e))?;
        let mut key = Vec::with_capacity(dec.len());
        for (i, d) in dec.iter().enumerate() {
            key.push(match d {
                KeyDecode::Int => KeyPart::Int(r.get::<_, i64>(i)),
                _ => KeyPart::Bytes(r.get::<_, &str>(i).as_bytes().to_vec()),
            });
        }
        let mut vals = Vec::with_capacity(nvals);
        for i in 0..nvals {
            vals.push(match r.get::<_, Option<String>>(dec.len() + i) {
                Some(s) => Value::Text(s),
                None => Value::Null,
            });
        }
        let flags: Vec<bool> = (0..flags).map(|i| r.get::<_, bool>(dec.len() + nvals + i)).collect();
        if tx.send(Fetched::new(key, vals, &flags)).await.is_err() {
            break;
        }
    }
    Ok(())
}
