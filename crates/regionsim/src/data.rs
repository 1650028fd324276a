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
//! the lost ones. [`DataStore::begin_failover`] records a [`GroundTruth`]: per table the keys
//! only in the old primary, keys whose values differ, keys deleted only in the old primary,
//! and both mirrors as they are then (the old primary's data as it failed, and everything
//! the new one had received). The workload goes on against the new writer. When a report
//! reads the new writer ([`DataStore::note_read`], which the simulated RDS calls when a
//! cluster's database is asked for), the truth classifies every key ([`KeyClass`]: lost
//! insert, update or delete, conflict, reused id, inserted, updated or deleted after the
//! failover) from the three states, with no time column: what the report must say. When
//! the old primary's Region returns, [`DataStore::rejoin`] first dumps the old primary's
//! tables into a snapshot (its data as of the failure) and then rebuilds it as a secondary
//! of the new primary.
//!
//! The reference schemas' workload ([`WorkloadConfig::realistic`] for drills) has every
//! case a real outage has: multi-row transactions lost whole, updates and deletes after the
//! failover of rows from before it, lost writes overwritten after it, ids handed out again.
//! Design rule, for plan schemas only (the generic workload): after a failover with data
//! loss it only updates or deletes rows created after that failover, because a plan's time
//! column need not be one every update sets.
//!
//! This module never reads the wall clock: every time comes from the caller.

mod db;
mod plan_schema;
mod store;
mod truth;
mod values;
mod workload;

use std::path::PathBuf;

pub use db::Dialect;
pub use plan_schema::{ddl_schema, generated_schema};
pub use store::{DataStore, DbLocation, GlobalDataSpec, WorkloadStats};
pub use truth::{ClusterRef, GroundTruth, KeyClass, KeyFate, MAX_READS, TableTruth, diff_tables};
pub use values::{ColType, Column, Key, Op, Row, Schema, TableDef, Tables, Txn, Value};
pub use workload::{LagVariation, Rush, WorkloadConfig};

/// A failure of the data layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    #[error("database error: {0}")]
    Database(String),
    #[error("bad database URL: {0}")]
    BadUrl(String),
    #[error("unknown {0}")]
    Unknown(String),
    #[error("schema {0}")]
    Schema(String),
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
