//! Ground truth: exactly which rows a failover with data loss left only in the old primary,
//! and, once a report has read the new primary, what happened to every key since.
//!
//! Three states decide a key's class: `old` (the old primary as it failed: what its snapshot
//! holds), `replicated` (the new primary when the failover began: everything it had received)
//! and `new` (the new primary when the report read it). The old side lost a write when `old`
//! differs from `replicated`; the new side changed the key after the failover when `new`
//! differs from `replicated`. No time column is involved: this is what the report, which
//! sees only `old` and `new` and their time columns, must find.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

use super::values::{Key, Row, Schema, TableDef, Tables};

/// What happened to a key, exactly (the names are the report's, `rowdiff::Class`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyClass {
    /// Inserted on the old primary, never replicated, no row there on the new one.
    LostInsert,
    /// Updated on the old primary, never replicated; the new primary has not changed it.
    LostUpdate,
    /// Deleted on the old primary, never replicated; the new primary has not changed it.
    LostDelete,
    /// Changed on the old primary (lost) and changed on the new one after the failover.
    Conflict,
    /// Inserted on the old primary (lost); the new primary inserted another row under the key.
    IdReused,
    /// Inserted on the new primary after the failover.
    InsertedAfter,
    /// Updated on the new primary after the failover; the old primary had not changed it.
    UpdatedAfter,
    /// Deleted on the new primary after the failover; the old primary had not changed it.
    DeletedAfter,
}

impl KeyClass {
    pub const ALL: [KeyClass; 8] = [
        KeyClass::LostInsert,
        KeyClass::LostUpdate,
        KeyClass::LostDelete,
        KeyClass::Conflict,
        KeyClass::IdReused,
        KeyClass::InsertedAfter,
        KeyClass::UpdatedAfter,
        KeyClass::DeletedAfter,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyClass::LostInsert => "lost-insert",
            KeyClass::LostUpdate => "lost-update",
            KeyClass::LostDelete => "lost-delete",
            KeyClass::Conflict => "conflict",
            KeyClass::IdReused => "id-reused",
            KeyClass::InsertedAfter => "inserted-after",
            KeyClass::UpdatedAfter => "updated-after",
            KeyClass::DeletedAfter => "deleted-after",
        }
    }

    /// A write of the old primary that the new one lacks.
    pub fn is_lost(self) -> bool {
        matches!(
            self,
            KeyClass::LostInsert
                | KeyClass::LostUpdate
                | KeyClass::LostDelete
                | KeyClass::Conflict
                | KeyClass::IdReused
        )
    }

    /// The class of a key from its row in the three states; `None` when both sides agree
    /// (nothing to report, even if both changed it alike).
    pub fn of(old: Option<&Row>, replicated: Option<&Row>, new: Option<&Row>) -> Option<KeyClass> {
        if old == new {
            return None;
        }
        let lost = old != replicated;
        let changed = new != replicated;
        Some(match (lost, changed, replicated.is_some()) {
            (true, false, false) => KeyClass::LostInsert,
            (true, false, true) if old.is_none() => KeyClass::LostDelete,
            (true, false, true) => KeyClass::LostUpdate,
            (false, true, false) => KeyClass::InsertedAfter,
            (false, true, true) if new.is_none() => KeyClass::DeletedAfter,
            (false, true, true) => KeyClass::UpdatedAfter,
            (true, true, false) => KeyClass::IdReused,
            (true, true, true) => KeyClass::Conflict,
            // old != new, so one of them differs from `replicated`.
            (false, false, _) => return None,
        })
    }
}

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

/// A differing key's class, and which sides hold a row for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyFate {
    pub class: KeyClass,
    pub on_old: bool,
    pub on_new: bool,
    /// When both sides hold a row: the columns whose values differ between them, bit `i`
    /// for column `i` (a report told to ignore columns sees no difference when only those
    /// differ). Zero otherwise.
    pub differs: u64,
}

/// The columns where two rows differ, bit `i` for column `i` (columns past 63 share bit 63).
pub fn differing_columns(a: &Row, b: &Row) -> u64 {
    a.iter().zip(b).enumerate().filter(|(_, (x, y))| x != y).fold(0, |m, (i, _)| m | (1u64 << i.min(63)))
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
    /// The table's columns, in row order.
    pub columns: Vec<String>,
    /// Every differing key's class as of the last report read ([`GroundTruth::read_at`]);
    /// empty before it.
    #[serde(skip)]
    pub classes: BTreeMap<Key, KeyFate>,
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
    /// The commit time of the last transaction the new primary received: the exact failover
    /// point the report estimates.
    #[serde(serialize_with = "failover_core::time_fmt::serialize_opt")]
    pub replicated_until: Option<SystemTime>,
    /// When a report last read the new primary, and so the moment [`TableTruth::classes`]
    /// describe.
    #[serde(serialize_with = "failover_core::time_fmt::serialize_opt")]
    pub read_at: Option<SystemTime>,
    pub tables: BTreeMap<String, TableTruth>,
    /// The old primary's data as it failed, and the new one's when the failover began.
    #[serde(skip)]
    pub old_rows: Arc<Tables>,
    #[serde(skip)]
    pub replicated_rows: Arc<Tables>,
    /// The classes of the reads before the last, oldest first (at most [`MAX_READS`]): a
    /// report whose key ranges are compared one invocation after another reads the new
    /// primary at several moments, and each range holds the classes of its own read.
    #[serde(skip)]
    pub earlier_reads: Vec<(SystemTime, ClassesByTable)>,
    /// The reads whose classes were dropped to keep [`MAX_READS`]: a report with more key
    /// ranges than that cannot be judged key by key.
    #[serde(skip)]
    pub dropped_reads: usize,
}

/// Every differing key's fate, table by table.
pub type ClassesByTable = BTreeMap<String, BTreeMap<Key, KeyFate>>;

/// The reads of the new primary a ground truth remembers the classes of.
pub const MAX_READS: usize = 64;

impl GroundTruth {
    /// Rows lost, changed or deleted, over all tables.
    pub fn total_rows(&self) -> usize {
        self.tables.values().map(|t| t.lost.len() + t.changed.len() + t.deleted.len()).sum()
    }

    /// Classifies every key against `new`, the new primary's data as a report reads it at `at`.
    /// Linear in the rows: one pass over the keys of each side.
    pub fn classify(&mut self, defs: &[TableDef], new: &Tables, at: SystemTime) {
        if let Some(before) = self.read_at {
            let classes = self.tables.iter_mut().map(|(n, t)| (n.clone(), std::mem::take(&mut t.classes))).collect();
            self.earlier_reads.push((before, classes));
            if self.earlier_reads.len() >= MAX_READS {
                self.earlier_reads.remove(0);
                self.dropped_reads += 1;
            }
        }
        let empty = BTreeMap::new();
        for def in defs {
            let o = self.old_rows.get(&def.name).unwrap_or(&empty);
            let r = self.replicated_rows.get(&def.name).unwrap_or(&empty);
            let n = new.get(&def.name).unwrap_or(&empty);
            let mut classes = BTreeMap::new();
            for (k, row) in o {
                let on_new = n.get(k);
                if let Some(class) = KeyClass::of(Some(row), r.get(k), on_new) {
                    let differs = on_new.map_or(0, |n| differing_columns(row, n));
                    classes.insert(k.clone(), KeyFate { class, on_old: true, on_new: on_new.is_some(), differs });
                }
            }
            for (k, row) in n {
                if !o.contains_key(k)
                    && let Some(class) = KeyClass::of(None, r.get(k), Some(row))
                {
                    classes.insert(k.clone(), KeyFate { class, on_old: false, on_new: true, differs: 0 });
                }
            }
            if let Some(t) = self.tables.get_mut(&def.name) {
                t.classes = classes;
            }
        }
        self.read_at = Some(at);
    }

    /// The keys of every class, over all tables, as of the last read.
    pub fn class_counts(&self) -> BTreeMap<KeyClass, usize> {
        let mut out = BTreeMap::new();
        for t in self.tables.values() {
            for f in t.classes.values() {
                *out.entry(f.class).or_default() += 1;
            }
        }
        out
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
        let mut t = TableTruth {
            key_columns: def.key_columns().iter().map(|s| s.to_string()).collect(),
            columns: def.columns.iter().map(|c| c.name.clone()).collect(),
            ..Default::default()
        };
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
