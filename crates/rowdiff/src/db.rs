//! Dispatch from an open connection to its engine module.

use tokio::sync::mpsc;

use crate::Fetched;
use crate::model::DiffError;
use crate::source::{Engine, Inner};
use crate::table::{Column, Dialect, KeyDecode};
use crate::{mysql, postgres, sqlite};

pub(crate) fn dialect(e: Engine) -> &'static dyn Dialect {
    match e {
        Engine::Postgres => &postgres::DIALECT,
        Engine::Mysql => &mysql::DIALECT,
        Engine::Sqlite => &sqlite::DIALECT,
    }
}

pub(crate) async fn begin(i: &mut Inner) -> Result<(), DiffError> {
    match i {
        Inner::Postgres(c) => postgres::begin(c).await,
        Inner::Mysql(c) => mysql::begin(c).await,
        Inner::Sqlite(c) => sqlite::begin(c).await,
    }
}

pub(crate) async fn end(i: &mut Inner) -> Result<(), DiffError> {
    match i {
        Inner::Postgres(c) => postgres::end(c).await,
        Inner::Mysql(c) => mysql::end(c).await,
        Inner::Sqlite(c) => sqlite::end(c).await,
    }
}

pub(crate) async fn columns(i: &mut Inner, t: &str) -> Result<Option<Vec<Column>>, DiffError> {
    match i {
        Inner::Postgres(c) => postgres::columns(c, t).await,
        Inner::Mysql(c) => mysql::columns(c, t).await,
        Inner::Sqlite(c) => sqlite::columns(c, t).await,
    }
}

pub(crate) async fn primary_key(i: &mut Inner, t: &str) -> Result<Vec<String>, DiffError> {
    match i {
        Inner::Postgres(c) => postgres::primary_key(c, t).await,
        Inner::Mysql(c) => mysql::primary_key(c, t).await,
        Inner::Sqlite(c) => sqlite::primary_key(c, t).await,
    }
}

pub(crate) async fn tables(i: &mut Inner) -> Result<Vec<String>, DiffError> {
    match i {
        Inner::Postgres(c) => postgres::tables(c).await,
        Inner::Mysql(c) => mysql::tables(c).await,
        Inner::Sqlite(c) => sqlite::tables(c).await,
    }
}

pub(crate) async fn estimate(i: &mut Inner, t: &str) -> Result<u64, DiffError> {
    match i {
        Inner::Postgres(c) => postgres::estimate(c, t).await,
        Inner::Mysql(c) => mysql::estimate(c, t).await,
        Inner::Sqlite(c) => sqlite::estimate(c, t).await,
    }
}

pub(crate) async fn buckets(i: &mut Inner, t: &str, sql: &str) -> Result<Vec<(u64, u64, u64)>, DiffError> {
    match i {
        Inner::Postgres(c) => postgres::buckets(c, t, sql).await,
        Inner::Mysql(c) => mysql::buckets(c, t, sql).await,
        Inner::Sqlite(c) => sqlite::buckets(c, t, sql).await,
    }
}

pub(crate) async fn text_rows(i: &mut Inner, t: &str, sql: &str) -> Result<Vec<Vec<Option<String>>>, DiffError> {
    match i {
        Inner::Postgres(c) => postgres::text_rows(c, t, sql).await,
        Inner::Mysql(c) => mysql::text_rows(c, t, sql).await,
        Inner::Sqlite(c) => sqlite::text_rows(c, t, sql).await,
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn fetch(
    i: &mut Inner,
    t: &str,
    sql: &str,
    dec: &[KeyDecode],
    nvals: usize,
    flags: usize,
    tx: mpsc::Sender<Fetched>,
) -> Result<(), DiffError> {
    match i {
        Inner::Postgres(c) => postgres::fetch(c, t, sql, dec, nvals, flags, tx).await,
        Inner::Mysql(c) => mysql::fetch(c, t, sql, dec, nvals, flags, tx).await,
        Inner::Sqlite(c) => sqlite::fetch(c, t, sql, dec.len(), nvals, flags, tx).await,
    }
}
