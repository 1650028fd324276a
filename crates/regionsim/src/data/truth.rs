//! Ground truth: exactly which rows a failover with data loss left only in the old primary.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::SystemTime;

use serde::Serialize;

use super::values::{Key, Schema, TableDef, Tables};

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
/// A drill compares a snapshot's data ([`DataStore::snapshot_tables`](super::DataStore::snapshot_tables)) with the new
/// primary's current rows ([`DataStore::mirror`](super::DataStore::mirror)) this way: the expected report at that
/// moment, rows written after the failover included (they are in `deleted`).
pub fn diff_tables(schema: &Schema, old: &Tables, new: &Tables) -> BTreeMap<String, TableTruth> {
    compare(&schema.tables(), old, new)
}

pub(super) fn compare(defs: &[TableDef], old: &Tables, new: &Tables) -> BTreeMap<String, TableTruth> {
    let empty = BTreeMap::new();
    let mut out = BTreeMap::new();
    for def in defs {
        let o = old.get(&def.name).unwrap_or(&empty);
        let n = new.get(&def.name).unwrap_or(&empty);
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
        out.insert(def.name.clone(), t);
    }
    out
}
