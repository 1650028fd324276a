//! Two databases of one engine per test, uniquely named, and helpers to assert exact sets.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};

use mysql_async::prelude::*;
use rowdiff::{Class, DiffOptions, Engine, KeyDiff, Source, SourceConfig, TableDiff, TableSpec};

static SEQ: AtomicU32 = AtomicU32::new(0);

fn unique(name: &str) -> String {
    format!("rd_{}_{}_{}", name, std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed))
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> Option<Pair> {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{what} is required under CI=true but unavailable: {e}");
    }
    eprintln!("!!!!! SKIPPING: {what} unavailable ({e}); set CI=true to make this a failure !!!!!");
    None
}

pub enum Admin {
    Pg(tokio_postgres::Client, tokio_postgres::Client),
    My(mysql_async::Conn, mysql_async::Conn),
    Lite(rusqlite::Connection, rusqlite::Connection),
}

/// An old and a new database of one engine.
pub struct Pair {
    pub engine: Engine,
    pub old: SourceConfig,
    pub new: SourceConfig,
    admin: Admin,
    names: (String, String),
}

pub const ENGINES: [Engine; 3] = [Engine::Postgres, Engine::Mysql, Engine::Sqlite];

async fn pg_client(db: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (c, conn) =
        tokio_postgres::connect(&format!("host=127.0.0.1 port=5432 user=postgres dbname={db}"), tokio_postgres::NoTls)
            .await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(c)
}

async fn my_conn(db: Option<&str>) -> Result<mysql_async::Conn, mysql_async::Error> {
    let o = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(3306)
        .user(Some("root"))
        .db_name(db.map(String::from))
        .prefer_socket(false)
        .init(vec!["SET NAMES utf8mb4", "SET time_zone = '+00:00'"]);
    mysql_async::Conn::new(o).await
}

impl Pair {
    pub async fn new(engine: Engine, name: &str) -> Option<Pair> {
        let (o, n) = (unique(&format!("{name}_o")), unique(&format!("{name}_n")));
        match engine {
            Engine::Postgres => {
                let admin = match pg_client("test").await {
                    Ok(c) => c,
                    Err(e) => return unavailable("PostgreSQL on 127.0.0.1:5432", e),
                };
                for db in [&o, &n] {
                    admin.batch_execute(&format!("CREATE DATABASE {db}")).await.unwrap();
                }
                let (a, b) = (pg_client(&o).await.unwrap(), pg_client(&n).await.unwrap());
                Some(Pair {
                    engine,
                    old: SourceConfig::postgres("127.0.0.1", 5432, "postgres", None, &o),
                    new: SourceConfig::postgres("127.0.0.1", 5432, "postgres", None, &n),
                    admin: Admin::Pg(a, b),
                    names: (o, n),
                })
            }
            Engine::Mysql => {
                let mut admin = match my_conn(None).await {
                    Ok(c) => c,
                    Err(e) => return unavailable("MariaDB on 127.0.0.1:3306", e),
                };
                for db in [&o, &n] {
                    admin
                        .query_drop(format!("CREATE DATABASE {db} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"))
                        .await
                        .unwrap();
                }
                let (a, b) = (my_conn(Some(&o)).await.unwrap(), my_conn(Some(&n)).await.unwrap());
                Some(Pair {
                    engine,
                    old: SourceConfig::mysql("127.0.0.1", 3306, "root", None, &o),
                    new: SourceConfig::mysql("127.0.0.1", 3306, "root", None, &n),
                    admin: Admin::My(a, b),
                    names: (o, n),
                })
            }
            Engine::Sqlite => {
                let dir = std::env::temp_dir();
                let (po, pn) = (dir.join(format!("{o}.sqlite")), dir.join(format!("{n}.sqlite")));
                let (a, b) = (rusqlite::Connection::open(&po).unwrap(), rusqlite::Connection::open(&pn).unwrap());
                Some(Pair {
                    engine,
                    old: SourceConfig::sqlite(&po),
                    new: SourceConfig::sqlite(&pn),
                    admin: Admin::Lite(a, b),
                    names: (po.to_string_lossy().into_owned(), pn.to_string_lossy().into_owned()),
                })
            }
        }
    }

    pub async fn old(&mut self, sql: &str) {
        match &mut self.admin {
            Admin::Pg(a, _) => a.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e:?}")),
            Admin::My(a, _) => a.query_drop(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}")),
            Admin::Lite(a, _) => a.execute_batch(sql).unwrap_or_else(|e| panic!("{sql}: {e}")),
        }
    }
    pub async fn new_side(&mut self, sql: &str) {
        match &mut self.admin {
            Admin::Pg(_, b) => b.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e:?}")),
            Admin::My(_, b) => b.query_drop(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}")),
            Admin::Lite(_, b) => b.execute_batch(sql).unwrap_or_else(|e| panic!("{sql}: {e}")),
        }
    }
    /// Runs each `;`-free statement on both sides.
    pub async fn both(&mut self, sqls: &[&str]) {
        for s in sqls {
            self.old(s).await;
            self.new_side(s).await;
        }
    }

    pub async fn diff(&self, specs: &[TableSpec], opts: &DiffOptions) -> Result<Vec<TableDiff>, rowdiff::DiffError> {
        let o = Source::connect(&self.old).await?;
        let n = Source::connect(&self.new).await?;
        rowdiff::diff_tables(&o, &n, specs, opts).await
    }

    pub async fn diff1(&self, spec: TableSpec) -> TableDiff {
        let mut v = self.diff(&[spec], &DiffOptions::default()).await.unwrap();
        v.remove(0)
    }

    /// Drops the two databases (also done when a failing test unwinds).
    pub async fn drop(self) {}
}

impl Drop for Pair {
    fn drop(&mut self) {
        let (engine, names) = (self.engine, self.names.clone());
        // A thread with its own runtime: Drop cannot await, and may run inside a runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                match engine {
                    Engine::Postgres => {
                        if let Ok(admin) = pg_client("test").await {
                            for db in [&names.0, &names.1] {
                                let _ =
                                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await;
                            }
                        }
                    }
                    Engine::Mysql => {
                        if let Ok(mut admin) = my_conn(None).await {
                            for db in [&names.0, &names.1] {
                                let _ = admin.query_drop(format!("DROP DATABASE IF EXISTS {db}")).await;
                            }
                        }
                    }
                    Engine::Sqlite => {
                        let _ = std::fs::remove_file(&names.0);
                        let _ = std::fs::remove_file(&names.1);
                    }
                }
            })
        })
        .join();
    }
}

/// The first key column of a key's row, as text: the new side's when it has one (a key
/// whose text changed under a case-insensitive collation shows its new spelling).
pub fn key_text(k: &KeyDiff) -> String {
    k.new.as_ref().or(k.old.as_ref()).and_then(|v| v.first()).map(|v| v.to_string()).unwrap_or_default()
}

/// The first key column of every kept key of `class`.
pub fn class_keys(d: &TableDiff, class: Class) -> BTreeSet<String> {
    d.of_class(class).map(key_text).collect()
}

/// Without a time column: the keys only in the old side (lost inserts).
pub fn lost(d: &TableDiff) -> BTreeSet<String> {
    class_keys(d, Class::LostInsert)
}

/// Without a time column: the keys only in the new side (lost deletes).
pub fn added(d: &TableDiff) -> BTreeSet<String> {
    class_keys(d, Class::LostDelete)
}

/// Without a time column: the keys on both sides with other values (lost updates).
pub fn changed(d: &TableDiff) -> BTreeSet<String> {
    class_keys(d, Class::LostUpdate)
}

/// The kept keys on both sides (lost updates without a time column).
pub fn changed_rows(d: &TableDiff) -> Vec<&KeyDiff> {
    d.of_class(Class::LostUpdate).collect()
}

/// The changed key of `changed_rows` whose first key column reads `key`.
pub fn changed_row<'a>(d: &'a TableDiff, key: &str) -> &'a KeyDiff {
    changed_rows(d).into_iter().find(|k| key_text(k) == key).unwrap_or_else(|| panic!("no changed key {key}"))
}

pub fn set(xs: &[&str]) -> BTreeSet<String> {
    xs.iter().map(|s| s.to_string()).collect()
}

/// Asserts the exact sets of keys only in the old side, only in the new side, and on both
/// with other values, of a table without a time column (every difference lost), and that
/// nothing else was reported.
pub fn assert_sets(d: &TableDiff, old_only: &[&str], new_only: &[&str], both: &[&str]) {
    assert_eq!(lost(d), set(old_only), "old-only keys of {}", d.table);
    assert_eq!(added(d), set(new_only), "new-only keys of {}", d.table);
    assert_eq!(changed(d), set(both), "changed keys of {}", d.table);
    assert_eq!(d.counts.lost_insert, old_only.len() as u64);
    assert_eq!(d.counts.lost_delete, new_only.len() as u64);
    assert_eq!(d.counts.lost_update, both.len() as u64);
    assert_eq!(d.counts.lost(), (old_only.len() + new_only.len() + both.len()) as u64, "{:?}", d.counts);
}
