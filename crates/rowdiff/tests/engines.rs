//! Every case of the test list, against real PostgreSQL, MariaDB and SQLite.

mod common;

use common::*;
use rowdiff::{Engine, TableSpec};

/// Column types per engine for the same logical table.
fn ty(e: Engine, t: &str) -> &'static str {
    match (e, t) {
        (Engine::Postgres, "key") => "text",
        (Engine::Mysql, "key") => "varchar(64)",
        (Engine::Sqlite, "key") => "TEXT",
        (Engine::Postgres, "text") => "text",
        (Engine::Mysql, "text") => "longtext",
        (Engine::Sqlite, "text") => "TEXT",
        (Engine::Postgres, "int") => "bigint",
        (Engine::Mysql, "int") => "bigint",
        (Engine::Sqlite, "int") => "INTEGER",
        _ => panic!("no type {t}"),
    }
}

#[tokio::test]
async fn null_empty_and_the_text_null_all_differ() {
    for e in ENGINES {
        let Some(mut p) = Pair::new(e, "nulls").await else { continue };
        let (i, t) = (ty(e, "int"), ty(e, "text"));
        p.both(&[&format!("CREATE TABLE t (id {i} PRIMARY KEY, v {t})")]).await;
        p.old("INSERT INTO t VALUES (1, NULL), (2, ''), (3, '<null>'), (4, NULL), (5, ''), (6, '<null>'), (7, 'x')").await;
        p.new_side("INSERT INTO t VALUES (1, ''), (2, '<null>'), (3, NULL), (4, NULL), (5, ''), (6, '<null>'), (7, NULL)").await;
        let d = p.diff1(TableSpec::new("t")).await;
        assert_sets(&d, &[], &[], &["1", "2", "3", "7"]);
        p.drop().await;
    }
}
