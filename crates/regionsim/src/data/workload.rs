//! The seeded workload: what each transaction on a global cluster's writer writes, how many
//! a second (a base rate and rush periods), and how the replication lag varies.
//!
//! The reference schemas' workload has what a real outage has: every transaction is an
//! order with its items (or a product with its tags), an update, or a delete, applied and
//! replicated whole; after a failover the workload goes on against the new primary's rows,
//! updating and deleting rows from before the failover (some of them rows whose last write
//! was lost: conflicts), and takes ids from the new primary's own sequence, so the ids of
//! lost orders are handed out again.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::values::{ColType, Key, Op, Schema, TableDef, Tables, Value};

/// How a global cluster's writer is loaded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkloadConfig {
    /// Transactions per simulated second (evenly spaced; 0 disables the workload).
    pub txns_per_second: f64,
    /// Percent of transactions that update an existing row.
    pub update_percent: u32,
    /// Percent of transactions that delete an existing row.
    pub delete_percent: u32,
    /// The workload stops this long after it started (`None`: it never stops). A drill
    /// that waits days for a Region would otherwise replay days of writes.
    pub stop_after: Option<Duration>,
    /// Periods at another rate than `txns_per_second` (a rush hour).
    pub rushes: Vec<Rush>,
    /// How the replication lag varies around the configured one (`None`: it stays as set).
    pub lag_variation: Option<LagVariation>,
}

/// From `from` after the workload's start, for `length`, `txns_per_second` transactions a
/// second (evenly spaced) instead of the base rate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rush {
    pub from: Duration,
    pub length: Duration,
    pub txns_per_second: f64,
}

/// A replication lag that varies: the time is cut into `step`s; in each, a transaction
/// committed then becomes visible on a secondary after the configured lag times a factor
/// drawn (seeded) between `low` and `high`, or, one step in `burst_one_in`, after `burst`.
/// Transactions are applied in commit order, so a burst holds back the ones after it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LagVariation {
    pub step: Duration,
    pub low: f64,
    pub high: f64,
    pub burst: Duration,
    pub burst_one_in: u32,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        Self {
            txns_per_second: 2.0,
            update_percent: 20,
            delete_percent: 5,
            stop_after: None,
            rushes: Vec::new(),
            lag_variation: None,
        }
    }
}

impl WorkloadConfig {
    /// The drills' workload: 2 transactions a second, and a rush of 200 a second for the
    /// minute around the fifth (from 4 min 30 s; the drills' Region fails at 5 min, inside
    /// it); a lag around the configured one (half to one and a half times it, in 5 s steps)
    /// that bursts to 4 s one step in six, below the reference plan's RPO of 5 s. One minute
    /// of rush keeps a drill's writes near twenty thousand (its wall time) while an outage in
    /// it loses hundreds to thousands of rows.
    pub fn realistic() -> WorkloadConfig {
        WorkloadConfig {
            rushes: vec![Rush {
                from: Duration::from_secs(270),
                length: Duration::from_secs(60),
                txns_per_second: 200.0,
            }],
            lag_variation: Some(LagVariation {
                step: Duration::from_secs(5),
                low: 0.5,
                high: 1.5,
                burst: Duration::from_secs(4),
                burst_one_in: 6,
            }),
            ..WorkloadConfig::default()
        }
    }

    /// The rate at `offset` after the start.
    pub(super) fn rate_at(&self, offset: Duration) -> f64 {
        self.rushes
            .iter()
            .find(|r| offset >= r.from && offset < r.from + r.length)
            .map_or(self.txns_per_second, |r| r.txns_per_second)
    }

    /// The commit time of the transaction after the one at `at` (`start` is the workload's
    /// start), or `None` once the workload stops.
    pub(super) fn next_after(&self, start: SystemTime, at: SystemTime) -> Option<SystemTime> {
        let offset = at.duration_since(start).unwrap_or_default();
        let rate = self.rate_at(offset);
        if rate <= 0.0 || !rate.is_finite() {
            return None;
        }
        let next = offset + Duration::from_secs_f64(1.0 / rate);
        if self.stop_after.is_some_and(|stop| next > stop) {
            return None;
        }
        Some(start + next)
    }

    /// The first transaction's time, if the workload runs at all.
    pub(super) fn first(&self, start: SystemTime) -> Option<SystemTime> {
        (self.txns_per_second > 0.0 && self.txns_per_second.is_finite()).then_some(start)
    }
}

/// The replication lag of a global cluster, as a value the replicator can keep while it
/// holds the cluster mutably.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct LagModel {
    pub(super) base: Duration,
    pub(super) variation: Option<LagVariation>,
    pub(super) seed: u64,
    pub(super) start: SystemTime,
}

impl LagModel {
    /// How long after `t` a transaction committed at `t` becomes visible on a secondary.
    pub(super) fn at(&self, t: SystemTime) -> Duration {
        let Some(v) = self.variation else { return self.base };
        let offset = t.duration_since(self.start).unwrap_or_default();
        let step = v.step.as_nanos().max(1);
        let index = (offset.as_nanos() / step) as u64;
        let h = mix64(self.seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        if v.burst_one_in > 0 && h.is_multiple_of(u64::from(v.burst_one_in)) {
            return v.burst;
        }
        let u = (h >> 11) as f64 / (1u64 << 53) as f64;
        self.base.mul_f64(v.low + (v.high - v.low) * u)
    }
}

/// SplitMix64's finaliser: a stable hash of one number.
pub(super) fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// SplitMix64: tiny, seedable, and stable across crate versions (the ground truth of a
/// seeded drill must not change when a dependency does).
#[derive(Debug, Clone)]
pub(super) struct Rng(pub(super) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

const STATUSES: [&str; 4] = ["paid", "shipped", "delivered", "cancelled"];
const TAGS: [&str; 5] = ["new", "sale", "eco", "gift", "bulk"];

#[derive(Debug, Clone)]
pub(super) struct Generator {
    pub(super) schema: Schema,
    pub(super) rng: Rng,
    pub(super) next_id: i64,
    /// Ids the workload may update or delete, oldest first.
    pub(super) mutable: Vec<i64>,
    /// A plan schema's tables, and the rows (table index, key) the generic workload may
    /// update or delete.
    defs: Vec<TableDef>,
    rows: Vec<(usize, Key)>,
    /// Per table of `defs`, worked out once: the columns an update may change (neither key
    /// nor time stamp), and the time stamps an update sets (`*updated*`, `*modified*`,
    /// `*changed*`).
    updatable: Vec<Vec<usize>>,
    stamped: Vec<Vec<usize>>,
}

impl Generator {
    pub(super) fn new(schema: Schema, rng: Rng) -> Generator {
        let defs = if matches!(schema, Schema::Plan(_)) { schema.tables() } else { Vec::new() };
        let columns = |keep: &dyn Fn(&TableDef, usize) -> bool| -> Vec<Vec<usize>> {
            defs.iter().map(|d| (0..d.columns.len()).filter(|&c| keep(d, c)).collect()).collect()
        };
        let updatable = columns(&|d, c| !d.key.contains(&c) && d.columns[c].ty != ColType::Timestamp);
        let stamped = columns(&|d, c| {
            let name = d.columns[c].name.to_ascii_lowercase();
            d.columns[c].ty == ColType::Timestamp
                && !d.key.contains(&c)
                && ["updated", "modified", "changed"].iter().any(|w| name.contains(w))
        });
        Generator { schema, rng, next_id: 1, mutable: Vec::new(), defs, rows: Vec::new(), updatable, stamped }
    }

    /// A failover made `mirror` the writer's data. The reference workloads go on with its
    /// rows, from before the failover too, and its id sequence (the next id after its
    /// highest: the ids of lost rows are handed out again, as an auto-increment counter
    /// does); the generic workload changes only rows created from now on (`data`'s design
    /// rule for plan schemas).
    pub(super) fn after_failover(&mut self, mirror: Option<&Tables>) {
        self.rows.clear();
        if matches!(self.schema, Schema::Plan(_)) {
            self.mutable.clear();
            return;
        }
        let first = self.schema.tables().first().map(|d| d.name.clone()).unwrap_or_default();
        self.mutable = mirror
            .and_then(|m| m.get(&first))
            .map(|t| {
                t.keys().filter_map(|k| if let Some(Value::Int(id)) = k.first() { Some(*id) } else { None }).collect()
            })
            .unwrap_or_default();
        self.next_id = self.mutable.last().map_or(1, |id| id + 1);
    }

    /// The index in `mutable` of the row an update or a delete touches, any of them alike
    /// (an order changes over hours; the minutes around an outage are all recent).
    fn pick(&mut self) -> Option<usize> {
        let n = self.mutable.len() as u64;
        if n == 0 { None } else { Some(self.rng.below(n) as usize) }
    }

    /// The writes of one transaction at `at`, given the writer's current `mirror`.
    pub(super) fn txn(&mut self, cfg: &WorkloadConfig, at: SystemTime, mirror: &Tables) -> Vec<Op> {
        if matches!(self.schema, Schema::Plan(_)) {
            return self.generic_txn(cfg, at, mirror);
        }
        let roll = self.rng.below(100) as u32;
        let pick = if roll < cfg.delete_percent + cfg.update_percent { self.pick() } else { None };
        let now = Value::ts(at);
        match (pick, roll) {
            (Some(i), r) if r < cfg.delete_percent => {
                // `remove`, not `swap_remove`: the list stays oldest first.
                let id = self.mutable.remove(i);
                let mut ops: Vec<Op> = children_of(mirror, self.child_table(), id)
                    .into_iter()
                    .map(|key| Op::Delete { table: 1, key })
                    .collect();
                ops.push(Op::Delete { table: 0, key: vec![Value::Int(id)] });
                ops
            }
            (Some(i), r) if r < cfg.delete_percent + cfg.update_percent => {
                let id = self.mutable[i];
                let table = if self.schema == Schema::Orders { "orders" } else { "products" };
                let Some(mut row) = mirror.get(table).and_then(|t| t.get(&vec![Value::Int(id)])).cloned() else {
                    return Vec::new();
                };
                let mut ops = Vec::new();
                match self.schema {
                    // Every update changes a column other than the time stamps, so that a
                    // diff ignoring `updated_at` still sees it.
                    Schema::Orders => {
                        row[2] = self.amount();
                        let others: Vec<&str> =
                            STATUSES.iter().copied().filter(|s| row[3] != Value::Text(s.to_string())).collect();
                        row[3] = Value::Text(others[self.rng.below(others.len() as u64) as usize].into());
                        row[5] = now.clone();
                        ops.push(Op::Update { table: 0, row });
                        let items = children_of(mirror, "order_items", id);
                        if !items.is_empty() && self.rng.below(2) == 0 {
                            let key = &items[self.rng.below(items.len() as u64) as usize];
                            if let Some(mut item) = mirror.get("order_items").and_then(|t| t.get(key)).cloned() {
                                let old = if let Value::Int(q) = item[2] { q } else { 0 };
                                item[2] = Value::Int(1 + (old + self.rng.below(8) as i64) % 9);
                                item[5] = now.clone();
                                ops.push(Op::Update { table: 1, row: item });
                            }
                        }
                    }
                    _ => {
                        let old = row[2].clone();
                        row[2] = self.amount();
                        if row[2] == old {
                            row[2] = match old {
                                Value::Decimal(c) => Value::Decimal(c + 1),
                                _ => Value::Decimal(999),
                            };
                        }
                        row[3] = now;
                        ops.push(Op::Update { table: 0, row });
                    }
                }
                ops
            }
            _ => {
                let id = self.next_id;
                self.next_id += 1;
                self.mutable.push(id);
                match self.schema {
                    Schema::Orders => {
                        let customer = 1 + self.rng.below(500) as i64;
                        let mut ops = vec![Op::Insert {
                            table: 0,
                            row: vec![
                                Value::Int(id),
                                Value::Int(customer),
                                self.amount(),
                                Value::Text("pending".into()),
                                now.clone(),
                                now.clone(),
                            ],
                        }];
                        let n = 1 + self.rng.below(3);
                        let mut products = BTreeSet::new();
                        while (products.len() as u64) < n {
                            products.insert(1 + self.rng.below(100) as i64);
                        }
                        for p in products {
                            let price = Value::Decimal(100 + self.rng.below(20_000) as i64);
                            let qty = Value::Int(1 + self.rng.below(5) as i64);
                            ops.push(Op::Insert {
                                table: 1,
                                row: vec![Value::Int(id), Value::Int(p), qty, price, now.clone(), now.clone()],
                            });
                        }
                        ops
                    }
                    _ => {
                        let mut ops = vec![Op::Insert {
                            table: 0,
                            row: vec![Value::Int(id), Value::Text(format!("product-{id}")), self.amount(), now.clone()],
                        }];
                        let n = self.rng.below(3);
                        let mut tags = BTreeSet::new();
                        while (tags.len() as u64) < n {
                            tags.insert(TAGS[self.rng.below(TAGS.len() as u64) as usize]);
                        }
                        for t in tags {
                            ops.push(Op::Insert {
                                table: 1,
                                row: vec![Value::Int(id), Value::Text(t.into()), now.clone()],
                            });
                        }
                        ops
                    }
                }
            }
        }
    }

    /// The table whose rows belong to a row of the first table.
    fn child_table(&self) -> &'static str {
        match self.schema {
            Schema::Catalog => "tags",
            _ => "order_items",
        }
    }

    /// One transaction of the generic workload over a plan's tables: a delete or an update
    /// of a row the workload inserted (one column other than the key and the time stamps
    /// changes, so a diff ignoring time stamps still sees it), or the insert of a row into
    /// one table, sometimes of a second row into another table in the same transaction.
    fn generic_txn(&mut self, cfg: &WorkloadConfig, at: SystemTime, mirror: &Tables) -> Vec<Op> {
        let roll = self.rng.below(100) as u32;
        let now = Value::ts(at);
        if !self.rows.is_empty() && roll < cfg.delete_percent + cfg.update_percent {
            let i = self.rng.below(self.rows.len() as u64) as usize;
            let (table, key) = self.rows[i].clone();
            let Some(mut row) = mirror.get(&self.defs[table].name).and_then(|t| t.get(&key)).cloned() else {
                self.rows.swap_remove(i);
                return Vec::new();
            };
            let n = self.updatable[table].len();
            if roll < cfg.delete_percent || n == 0 {
                self.rows.swap_remove(i);
                return vec![Op::Delete { table, key }];
            }
            let c = self.updatable[table][self.rng.below(n as u64) as usize];
            let old = row[c].clone();
            let (ty, nullable) = (self.defs[table].columns[c].ty, self.defs[table].columns[c].nullable);
            let mut new = self.value(ty, nullable, &now);
            if new == old {
                new = match (ty, old) {
                    (ColType::Int | ColType::BigInt, Value::Int(v)) => Value::Int(v + 1),
                    (ColType::Decimal, Value::Decimal(v)) => Value::Decimal(v + 1),
                    (_, Value::Text(t)) => Value::Text(format!("{t}+")),
                    (ColType::Text, _) => Value::Text("changed".into()),
                    (ColType::Decimal, _) => Value::Decimal(999),
                    _ => Value::Int(1),
                };
            }
            row[c] = new;
            for &j in &self.stamped[table] {
                row[j] = now.clone();
            }
            return vec![Op::Update { table, row }];
        }
        let n = self.defs.len() as u64;
        let first = self.rng.below(n) as usize;
        let mut tables = vec![first];
        if n > 1 && self.rng.below(3) == 0 {
            tables.push((first + 1 + self.rng.below(n - 1) as usize) % n as usize);
        }
        let mut ops = Vec::new();
        for table in tables {
            let id = self.next_id;
            self.next_id += 1;
            let def = &self.defs[table];
            let cols: Vec<(ColType, bool, bool)> =
                def.columns.iter().enumerate().map(|(j, c)| (c.ty, c.nullable, def.key.contains(&j))).collect();
            let row: Vec<Value> = cols
                .into_iter()
                .map(|(ty, nullable, key)| if key { key_value(ty, id) } else { self.value(ty, nullable, &now) })
                .collect();
            let key = self.defs[table].key_of(&row);
            self.rows.push((table, key));
            ops.push(Op::Insert { table, row });
        }
        ops
    }

    /// A value of a column that is not part of the key; NULL one time in twenty when nullable.
    fn value(&mut self, ty: ColType, nullable: bool, now: &Value) -> Value {
        if nullable && self.rng.below(20) == 0 {
            return Value::Null;
        }
        match ty {
            ColType::BigInt => Value::Int(1 + self.rng.below(1_000_000) as i64),
            ColType::Int => Value::Int(1 + self.rng.below(1_000) as i64),
            ColType::Decimal => Value::Decimal(100 + self.rng.below(100_000) as i64),
            ColType::Text => {
                Value::Text(format!("{}-{}", TAGS[self.rng.below(TAGS.len() as u64) as usize], self.rng.below(10_000)))
            }
            ColType::Timestamp => now.clone(),
        }
    }

    /// An amount, NULL one time in twenty (the column is nullable and the diff must cope).
    fn amount(&mut self) -> Value {
        if self.rng.below(20) == 0 { Value::Null } else { Value::Decimal(100 + self.rng.below(100_000) as i64) }
    }
}

/// A key column's value for the generic workload's `id`-th row: every key column follows the
/// one sequence, so keys never repeat, whatever their types.
fn key_value(ty: ColType, id: i64) -> Value {
    match ty {
        ColType::BigInt | ColType::Int => Value::Int(id),
        ColType::Decimal => Value::Decimal(id * 100),
        ColType::Text => Value::Text(format!("k{id:08}")),
        // A microsecond past a fixed instant (2026-01-01) per row.
        ColType::Timestamp => Value::Timestamp(1_767_225_600_000_000 + id),
    }
}

/// The keys of `table` whose first key column is `parent` (an order's items, a product's tags).
fn children_of(mirror: &Tables, table: &str, parent: i64) -> Vec<Key> {
    let Some(t) = mirror.get(table) else { return Vec::new() };
    // Keys compare element by element: `[p, x]` sorts after `[p]` and before `[p + 1]`.
    let lo = vec![Value::Int(parent)];
    let hi = vec![Value::Int(parent + 1)];
    t.range(lo..hi).map(|(k, _)| k.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::values::{ColType, apply_to_mirror};

    #[test]
    fn the_generator_is_deterministic_and_mixes_writes() {
        for schema in [Schema::Orders, Schema::Catalog] {
            generator_mixes_writes(schema);
        }
    }

    #[test]
    fn the_generic_workload_mixes_writes_over_every_table_of_a_plan_schema() {
        use crate::data::values::Column;
        let col = |name: &str, ty, nullable| Column { name: name.into(), ty, nullable };
        let defs = vec![
            TableDef {
                name: "accounts".into(),
                columns: vec![
                    col("account_id", ColType::BigInt, false),
                    col("email", ColType::Text, false),
                    col("balance", ColType::Decimal, true),
                    col("updated_at", ColType::Timestamp, false),
                ],
                key: vec![0],
            },
            TableDef {
                name: "events".into(),
                columns: vec![
                    col("stream", ColType::Text, false),
                    col("seq", ColType::Int, false),
                    col("created_at", ColType::Timestamp, false),
                ],
                key: vec![0, 1],
            },
        ];
        let cfg = WorkloadConfig {
            txns_per_second: 1.0,
            update_percent: 30,
            delete_percent: 10,
            ..WorkloadConfig::default()
        };
        let mut g = Generator::new(Schema::Plan(std::sync::Arc::new(defs.clone())), Rng(7));
        let mut mirror = Tables::new();
        let mut kinds = [[0; 3]; 2];
        for k in 0..400 {
            for op in g.txn(&cfg, SystemTime::UNIX_EPOCH + Duration::from_secs(k), &mirror) {
                if let Op::Update { table, row } = &op {
                    let def = &defs[*table];
                    let before = &mirror[&def.name][&def.key_of(row)];
                    assert!(
                        def.columns.iter().enumerate().any(|(i, c)| c.ty != ColType::Timestamp && before[i] != row[i]),
                        "an update changes more than its time stamps: {before:?} -> {row:?}"
                    );
                }
                let (t, kind) = match &op {
                    Op::Insert { table, .. } => (*table, 0),
                    Op::Update { table, .. } => (*table, 1),
                    Op::Delete { table, .. } => (*table, 2),
                };
                kinds[t][kind] += 1;
                apply_to_mirror(&defs, &mut mirror, &op);
            }
        }
        assert!(kinds[0].iter().all(|&n| n > 5), "accounts: inserts, updates and deletes: {kinds:?}");
        assert!(kinds[1][0] > 5 && kinds[1][2] > 5, "events: inserts and deletes: {kinds:?}");
        assert_eq!(kinds[1][1], 0, "events has no column an update could change but its key and time stamp");
    }

    fn generator_mixes_writes(schema: Schema) {
        let cfg = WorkloadConfig {
            txns_per_second: 1.0,
            update_percent: 30,
            delete_percent: 10,
            ..WorkloadConfig::default()
        };
        let run = || {
            let mut g = Generator::new(schema.clone(), Rng(42));
            let mut mirror = Tables::new();
            let defs = schema.tables();
            let mut kinds = [0; 3];
            for k in 0..300 {
                let ops = g.txn(&cfg, SystemTime::UNIX_EPOCH + Duration::from_secs(k), &mirror);
                for op in &ops {
                    if let Op::Update { table, row } = op {
                        let def = &defs[*table];
                        let before = &mirror[&def.name][&def.key_of(row)];
                        let differs = def
                            .columns
                            .iter()
                            .enumerate()
                            .any(|(i, c)| c.ty != ColType::Timestamp && before[i] != row[i]);
                        assert!(differs, "an update changes more than its time stamps: {before:?} -> {row:?}");
                    }
                    kinds[match op {
                        Op::Insert { .. } => 0,
                        Op::Update { .. } => 1,
                        Op::Delete { .. } => 2,
                    }] += 1;
                    apply_to_mirror(&defs, &mut mirror, op);
                }
            }
            (mirror, kinds)
        };
        let (a, kinds) = run();
        assert_eq!(a, run().0, "same seed, same data");
        assert!(kinds.iter().all(|&n| n > 10), "inserts, updates and deletes all occur: {kinds:?}");
        let defs = schema.tables();
        let parents = &a[&defs[0].name];
        for k in a[&defs[1].name].keys() {
            assert!(parents.contains_key(&vec![k[0].clone()]), "no orphan child {k:?}");
        }
    }
}
