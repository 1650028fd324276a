//! Dispatch from an open connection to its engine module.

use tokio::sync::mpsc;

use crate::Fetched;
use crate::model::DiffError;
use crate::source::{Engine, Inner};
use crate::table::{Column, Dialect, KeyDecode};
use crate::{lite, my, pg};

pub(crate) fn dialect(e: Engine) -> &'static dyn Dialect {
    match e {
        Engine::Postgres => &pg::DIALECT,
        Engine::Mysql => &my::DIALECT,
        Engine::Sqlite => &lite::DIALECT,
    }
}

pub(crate) async fn begin(i: &mut Inner) -> Result<(), DiffError> {
    match i {
        Inner::Pg(c) => pg::begin(c).await,
        Inner::My(c) => my::begin(c).await,
        Inner::Lite(c) => lite::begin(c).await,
    }
}

pub(crate) async fn end(i: &mut Inner) -> Result<(), DiffError> {
    match i {
        Inner::Pg(c) => pg::end(c).await,
        Inner::My(c) => my::end(c).await,
        Inner::Lite(c) => lite::end(c).await,
    }
}

pub(crate) async fn columns(i: &mut Inner, t: &str) -> Result<Option<Vec<Column>>, DiffError> {
    match i {
        Inner::Pg(c) => pg::columns(c, t).await,
        Inner::My(c) => my::columns(c, t).await,
        Inner::Lite(c) => lite::columns(c, t).await,
    }
}

pub(crate) async fn primary_key(i: &mut Inner, t: &str) -> Result<Vec<String>, DiffError> {
    match i {
        Inner::Pg(c) => pg::primary_key(c, t).await,
        Inner::My(c) => my::primary_key(c, t).await,
        Inner::Lite(c) => lite::primary_key(c, t).await,
    }
}

pub(crate) async fn tables(i: &mut Inner) -> Result<Vec<String>, DiffError> {
    match i {
        Inner::Pg(c) => pg::tables(c).await,
        Inner::My(c) => my::tables(c).await,
        Inner::Lite(c) => lite::tables(c).await,
    }
}

pub(crate) async fn estimate(i: &mut Inner, t: &str) -> Result<u64, DiffError> {
    match i {
        Inner::Pg(c) => pg::estimate(c, t).await,
        Inner::My(c) => my::estimate(c, t).await,
        Inner::Lite(c) => lite::estimate(c, t).await,
    }
}

pub(crate) async fn buckets(i: &mut Inner, t: &str, sql: &str) -> Result<Vec<(u64, u64, u64)>, DiffError> {
    match i {
        Inner::Pg(c) => pg::buckets(c, t, sql).await,
        Inner::My(c) => my::buckets(c, t, sql).await,
        Inner::Lite(c) => lite::buckets(c, t, sql).await,
    }
}

pub(crate) async fn text_rows(i: &mut Inner, t: &str, sql: &str) -> Result<Vec<Vec<Option<String>>>, DiffError> {
    match i {
        Inner::Pg(c) => pg::text_rows(c, t, sql).await,
        Inner::My(c) => my::text_rows(c, t, sql).await,
        Inner::Lite(c) => lite::text_rows(c, t, sql).await,
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn fetch(
    i: &mut Inner,
    t: &str,
    sql: &str,
    dec: &[KeyDecode],
    nvals: usize,
    with_after: bool,
    tx: mpsc::Sender<Fetched>,
) -> Result<(), DiffError> {
    match i {
        Inner::Pg(c) => pg::fetch(c, t, sql, dec, nvals, with_after, tx).await,
        Inner::My(c) => my::fetch(c, t, sql, dec, nvals, with_after, tx).await,
        Inner::Lite(c) => lite::fetch(c, t, sql, dec.len(), nvals, with_after, tx).await,
    }
}
