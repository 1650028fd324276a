//! The store: one real database and one exact mirror per simulated cluster, the lazy
//! workload and replication, failovers, snapshots and restores.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::db::{Database, Dialect, Server, owner_pid, quote_ident};
use super::truth::{ClusterRef, GroundTruth, compare};
use super::values::{Op, Row, Schema, TableDef, Tables, Txn, apply_to_mirror};
use super::workload::{Generator, LagModel, Rng, WorkloadConfig};
use super::{Backend, DataError};

/// Where a simulated cluster's database can be opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DbLocation {
    pub dialect: Dialect,
    /// `sqlite:///abs/file.db`, `postgres://postgres@127.0.0.1:5432/rsim_...`, `mysql://root@127.0.0.1:3306/rsim_...`.
    pub url: String,
    /// The database (schema) name on the server, or the SQLite file's stem.
    pub database: String,
    /// The SQLite file.
    pub path: Option<PathBuf>,
}

/// Counters of one global cluster's workload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WorkloadStats {
    /// Transactions committed on a writer.
    pub committed: u64,
    /// Transactions that found no writer (Region down, writes fenced during a switchover
    /// or failover); the application would have seen an error, so nothing was committed.
    pub rejected: u64,
    /// Transaction applications on secondaries.
    pub replicated: u64,
}

struct ClusterData {
    schema: Schema,
    db: Database,
    mirror: Tables,
}

struct GlobalData {
    id: String,
    schema: Schema,
    defs: Vec<TableDef>,
    cfg: WorkloadConfig,
    generator: Generator,
    start: SystemTime,
    /// The sequence number of the next workload transaction, and its commit time (`None`
    /// once the workload stopped).
    next_k: u64,
    next_at: Option<SystemTime>,
    writer: ClusterRef,
    /// False while writes are fenced (a switchover or failover in progress).
    writable: bool,
    /// Replication queues of the attached secondaries.
    queues: BTreeMap<ClusterRef, VecDeque<Arc<Txn>>>,
    /// The commit time of the last transaction each secondary applied.
    applied_until: BTreeMap<ClusterRef, SystemTime>,
    lag: LagModel,
    stats: WorkloadStats,
    truths: Vec<GroundTruth>,
}

/// The specification of one global cluster's data.
#[derive(Debug, Clone)]
pub struct GlobalDataSpec {
    pub global_cluster: String,
    pub schema: Schema,
    pub workload: WorkloadConfig,
    /// Rows committed at `t` become visible on a secondary at `t + lag`.
    pub replication_lag: Duration,
    pub writer: ClusterRef,
    pub secondaries: Vec<ClusterRef>,
    /// When the workload starts.
    pub start: SystemTime,
}

static RUN_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Every simulated cluster's database, the workloads and the replication between them.
pub struct DataStore {
    backend: Backend,
    seed: u64,
    run_id: String,
    server: Option<Server>,
    dir: PathBuf,
    _tempdir: Option<tempfile::TempDir>,
    clusters: BTreeMap<ClusterRef, ClusterData>,
    globals: BTreeMap<String, GlobalData>,
    /// Regions that are down, since when.
    down: BTreeMap<String, SystemTime>,
    snapshots: BTreeMap<String, (Schema, Arc<Tables>)>,
    /// Keep server databases when the store is dropped (for inspection after a drill).
    pub keep_databases: bool,
}

impl fmt::Debug for DataStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataStore")
            .field("backend", &self.backend)
            .field("clusters", &self.clusters.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl DataStore {
    /// A store on `backend`; `seed` makes every workload reproducible.
    pub fn new(backend: Backend, seed: u64) -> Result<DataStore, DataError> {
        let n = RUN_COUNTER.fetch_add(1, Ordering::Relaxed);
        // Unique names per store so parallel tests on one server never collide.
        let run_id = super::db::run_id(n);
        let (server, dir, tempdir) = match &backend {
            Backend::Sqlite(Some(dir)) => {
                let dir = dir.join(format!("regionsim-{run_id}"));
                std::fs::create_dir_all(&dir).map_err(|e| DataError::Database(format!("{}: {e}", dir.display())))?;
                (None, dir, None)
            }
            Backend::Sqlite(None) => {
                let t = tempfile::Builder::new()
                    .prefix("regionsim-")
                    .tempdir()
                    .map_err(|e| DataError::Database(format!("temporary directory: {e}")))?;
                (None, t.path().to_path_buf(), Some(t))
            }
            Backend::Postgres(url) => (Some(Server::connect(Dialect::Postgres, url)?), PathBuf::new(), None),
            Backend::Mysql(url) => (Some(Server::connect(Dialect::Mysql, url)?), PathBuf::new(), None),
        };
        if let Some(server) = &server {
            // What killed or interrupted runs left there (a store drops its own when dropped).
            server.sweep_abandoned();
        }
        Ok(DataStore {
            backend,
            seed,
            run_id,
            server,
            dir,
            _tempdir: tempdir,
            clusters: BTreeMap::new(),
            globals: BTreeMap::new(),
            down: BTreeMap::new(),
            snapshots: BTreeMap::new(),
            keep_databases: false,
        })
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The databases this process made on `backend`'s server and has not dropped yet: none
    /// once every store it made is dropped. None for SQLite.
    pub fn databases_of_this_process(backend: &Backend) -> Result<Vec<String>, DataError> {
        let server = match backend {
            Backend::Postgres(url) => Server::connect(Dialect::Postgres, url)?,
            Backend::Mysql(url) => Server::connect(Dialect::Mysql, url)?,
            Backend::Sqlite(_) => return Ok(Vec::new()),
        };
        let me = std::process::id();
        Ok(server.simulator_databases()?.into_iter().filter(|n| owner_pid(n) == Some(me)).collect())
    }

    fn db_name(&self, c: &ClusterRef) -> String {
        let clean = |s: &str| {
            s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect::<String>()
        };
        let name = format!("rsim_{}_{}_{}", self.run_id, clean(&c.region), clean(&c.cluster));
        if name.len() <= 63 {
            return name;
        }
        // Server identifiers stop at 63 (PostgreSQL) or 64 (MySQL) characters; a hash of
        // the whole keeps two long cluster names apart.
        format!("{}_{:08x}", &name[..54], failover_core::stable_hash(&name) as u32)
    }

    fn create_db(&mut self, c: &ClusterRef, schema: &Schema) -> Result<(), DataError> {
        if let Some(old) = self.clusters.remove(c) {
            self.drop_db(old);
        }
        let name = self.db_name(c);
        let db = match &self.server {
            Some(server) => server.create(&name)?,
            None => Database::open_sqlite(self.dir.join(format!("{name}.db")), &name)?,
        };
        let ddl: Vec<String> = schema.tables().iter().map(|t| t.create_sql(db.dialect)).collect();
        db.exec(&ddl.join(";\n"))?;
        self.clusters.insert(c.clone(), ClusterData { schema: schema.clone(), db, mirror: Tables::new() });
        Ok(())
    }

    fn drop_db(&self, data: ClusterData) {
        let ClusterData { db, .. } = data;
        let (name, path) = (db.name.clone(), db.path.clone());
        drop(db);
        if self.keep_databases {
            return;
        }
        match (&self.server, path) {
            (Some(server), _) => {
                if let Err(e) = server.drop_database(&name) {
                    tracing::warn!(database = %name, error = %e, "could not drop a simulated cluster's database");
                }
            }
            (None, Some(path)) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            (None, None) => {}
        }
    }

    /// Creates the databases of a global cluster's members and starts its workload.
    pub fn add_global(&mut self, spec: GlobalDataSpec) -> Result<(), DataError> {
        let members: Vec<ClusterRef> = std::iter::once(spec.writer.clone()).chain(spec.secondaries.clone()).collect();
        for m in &members {
            self.create_db(m, &spec.schema)?;
        }
        let seed = self.seed ^ failover_core::stable_hash(&spec.global_cluster);
        let generator = Generator::new(spec.schema.clone(), Rng(seed));
        let lag = LagModel {
            base: spec.replication_lag,
            variation: spec.workload.lag_variation,
            seed: seed ^ 0x6C61_6721,
            start: spec.start,
        };
        let next_at = spec.workload.first(spec.start);
        let queues = spec.secondaries.iter().map(|s| (s.clone(), VecDeque::new())).collect();
        self.globals.insert(
            spec.global_cluster.clone(),
            GlobalData {
                id: spec.global_cluster,
                defs: spec.schema.tables(),
                schema: spec.schema,
                cfg: spec.workload,
                generator,
                start: spec.start,
                next_k: 0,
                next_at,
                writer: spec.writer,
                writable: true,
                queues,
                applied_until: BTreeMap::new(),
                lag,
                stats: WorkloadStats::default(),
                truths: Vec::new(),
            },
        );
        Ok(())
    }

    fn is_up(&self, region: &str) -> bool {
        !self.down.contains_key(region)
    }

    /// Commits every workload transaction due by `now` and replicates every transaction
    /// whose time has come, in every global cluster.
    pub fn catch_up(&mut self, now: SystemTime) -> Result<(), DataError> {
        let ids: Vec<String> = self.globals.keys().cloned().collect();
        for id in ids {
            self.catch_up_global(&id, now)?;
        }
        Ok(())
    }

    fn catch_up_global(&mut self, id: &str, now: SystemTime) -> Result<(), DataError> {
        let Some(mut g) = self.globals.remove(id) else { return Ok(()) };
        let res = self.catch_up_inner(&mut g, now);
        self.globals.insert(id.to_string(), g);
        res
    }

    fn catch_up_inner(&mut self, g: &mut GlobalData, now: SystemTime) -> Result<(), DataError> {
        // Writes on the writer.
        let writer_up = self.is_up(&g.writer.region);
        let mut batch: Vec<Arc<Txn>> = Vec::new();
        while let Some(t) = g.next_at.filter(|t| *t <= now) {
            g.next_k += 1;
            g.next_at = g.cfg.next_after(g.start, t);
            let Some(w) = self.clusters.get_mut(&g.writer).filter(|_| g.writable && writer_up) else {
                g.stats.rejected += 1;
                continue;
            };
            let ops = g.generator.txn(&g.cfg, t, &w.mirror);
            if ops.is_empty() {
                continue;
            }
            for op in &ops {
                apply_to_mirror(&g.defs, &mut w.mirror, op);
            }
            let txn = Arc::new(Txn { seq: g.next_k - 1, at: t, ops });
            for q in g.queues.values_mut() {
                q.push_back(txn.clone());
            }
            batch.push(txn);
            g.stats.committed += 1;
        }
        if let Some(w) = self.clusters.get(&g.writer) {
            run_batch(&w.db, &statements(&g.defs, w.db.dialect, batch.iter().flat_map(|t| t.ops.iter())))?;
        }
        // Replication to each attached secondary: only while both ends are up.
        let secondaries: Vec<ClusterRef> = g.queues.keys().cloned().collect();
        for s in secondaries {
            if !writer_up || !self.is_up(&s.region) {
                continue;
            }
            // In commit order: a transaction waits for those before it, whatever its own lag.
            let lag = g.lag;
            self.replicate(g, &s, |t| t.at + lag.at(t.at) <= now)?;
        }
        Ok(())
    }

    /// Applies queued transactions on `s` while `due` holds for the queue's head.
    fn replicate(&mut self, g: &mut GlobalData, s: &ClusterRef, due: impl Fn(&Txn) -> bool) -> Result<(), DataError> {
        let (Some(q), Some(c)) = (g.queues.get_mut(s), self.clusters.get_mut(s)) else { return Ok(()) };
        let mut batch = Vec::new();
        while q.front().is_some_and(|t| due(t)) {
            let Some(t) = q.pop_front() else { break };
            for op in &t.ops {
                apply_to_mirror(&g.defs, &mut c.mirror, op);
            }
            g.stats.replicated += 1;
            batch.push(t);
        }
        if let Some(last) = batch.last() {
            g.applied_until.insert(s.clone(), last.at);
        }
        run_batch(&c.db, &statements(&g.defs, c.db.dialect, batch.iter().flat_map(|t| t.ops.iter())))
    }

    /// A Region goes down at `at`: its writers stop taking writes, replication from and to
    /// it stops. Call after [`DataStore::catch_up`] to `at`.
    pub fn region_down(&mut self, region: &str, at: SystemTime) -> Result<(), DataError> {
        self.catch_up(at)?;
        self.down.entry(region.to_string()).or_insert(at);
        Ok(())
    }

    /// A Region comes back at `at`: replication resumes where clusters are still attached.
    pub fn region_up(&mut self, region: &str, at: SystemTime) -> Result<(), DataError> {
        self.catch_up(at)?;
        self.down.remove(region);
        Ok(())
    }

    pub fn region_is_down(&self, region: &str) -> bool {
        !self.is_up(region)
    }

    fn global_mut(&mut self, id: &str) -> Result<&mut GlobalData, DataError> {
        self.globals.get_mut(id).ok_or_else(|| DataError::Unknown(format!("global cluster {id}")))
    }

    /// A switchover begins: writes are fenced; replication keeps draining.
    pub fn begin_switchover(&mut self, global: &str, at: SystemTime) -> Result<(), DataError> {
        self.catch_up(at)?;
        self.global_mut(global)?.writable = false;
        Ok(())
    }

    /// A switchover completes: the target has every transaction, becomes the writer, and
    /// the old writer becomes its secondary. Nothing is lost.
    pub fn complete_switchover(&mut self, global: &str, target: &ClusterRef, at: SystemTime) -> Result<(), DataError> {
        self.catch_up(at)?;
        let Some(mut g) = self.globals.remove(global) else {
            return Err(DataError::Unknown(format!("global cluster {global}")));
        };
        let res = (|| {
            let secondaries: Vec<ClusterRef> = g.queues.keys().cloned().collect();
            for s in &secondaries {
                // Aurora synchronises every secondary before the roles change.
                self.replicate(&mut g, s, |_| true)?;
            }
            let old = std::mem::replace(&mut g.writer, target.clone());
            g.queues.remove(target);
            g.queues.insert(old, VecDeque::new());
            g.writable = true;
            Ok(())
        })();
        self.globals.insert(global.to_string(), g);
        res
    }

    /// A failover with data loss begins towards `target`: the old writer is fenced, the
    /// target stops receiving replication, and what it lacks is recorded as ground truth.
    pub fn begin_failover(
        &mut self,
        global: &str,
        target: &ClusterRef,
        at: SystemTime,
    ) -> Result<GroundTruth, DataError> {
        self.catch_up(at)?;
        let region_failed_at = {
            let g = self.global_mut(global)?;
            g.writable = false;
            g.writer.region.clone()
        };
        let region_failed_at = self.down.get(&region_failed_at).copied();
        let g = self.globals.get_mut(global).ok_or_else(|| DataError::Unknown(global.to_string()))?;
        let pending: Vec<Arc<Txn>> = g.queues.remove(target).map(Vec::from).unwrap_or_default();
        let (old, new) = match (self.clusters.get(&g.writer), self.clusters.get(target)) {
            (Some(o), Some(n)) => (o, n),
            _ => return Err(DataError::Unknown(format!("member cluster of {global}"))),
        };
        let truth = GroundTruth {
            global_cluster: g.id.clone(),
            old_primary: g.writer.clone(),
            new_primary: target.clone(),
            region_failed_at,
            failover_started_at: at,
            unreplicated_transactions: pending.len(),
            unreplicated_window: pending.first().zip(pending.last()).map(|(a, b)| (a.at, b.at)),
            replicated_until: g.applied_until.get(target).copied(),
            read_at: None,
            tables: compare(&g.defs, &old.mirror, &new.mirror),
            // The old writer takes no write from here on: its snapshot will hold these rows.
            old_rows: Arc::new(old.mirror.clone()),
            replicated_rows: Arc::new(new.mirror.clone()),
            earlier_reads: Vec::new(),
            dropped_reads: 0,
        };
        g.truths.push(truth.clone());
        Ok(truth)
    }

    /// A failover completes: the target takes writes; the old writer is detached until
    /// [`DataStore::rejoin`].
    pub fn complete_failover(&mut self, global: &str, target: &ClusterRef, at: SystemTime) -> Result<(), DataError> {
        self.catch_up(at)?;
        let g = self.globals.get_mut(global).ok_or_else(|| DataError::Unknown(format!("global cluster {global}")))?;
        g.writer = target.clone();
        g.queues.remove(target);
        g.writable = true;
        // The workload goes on with the new writer's rows and its id sequence.
        g.generator.after_failover(self.clusters.get(target).map(|c| &c.mirror));
        Ok(())
    }

    /// A report reads `cluster` at `at` (call after [`DataStore::catch_up`] to `at`): when it
    /// is the writer a failover with data loss moved to, the last ground truth of that global
    /// cluster classifies every key against its data as of now (what the report sees).
    pub fn note_read(&mut self, cluster: &ClusterRef, at: SystemTime) {
        let Some(c) = self.clusters.get(cluster) else { return };
        for g in self.globals.values_mut().filter(|g| &g.writer == cluster) {
            if let Some(truth) = g.truths.last_mut().filter(|t| &t.new_primary == cluster) {
                truth.classify(&g.defs, &c.mirror, at);
            }
        }
    }

    /// The old primary of a failover rejoins as a secondary. First, when `snapshot` names
    /// one, its tables (the data as of the failure) are dumped into that snapshot; then its
    /// database is rebuilt from the writer's data, as Aurora builds a new storage volume.
    pub fn rejoin(
        &mut self,
        global: &str,
        cluster: &ClusterRef,
        at: SystemTime,
        snapshot: Option<&str>,
    ) -> Result<(), DataError> {
        self.catch_up(at)?;
        if let Some(name) = snapshot {
            self.take_snapshot(cluster, name)?;
        }
        let writer = self.global_mut(global)?.writer.clone();
        let rows = self.clusters.get(&writer).map(|w| w.mirror.clone()).unwrap_or_default();
        let c = self.clusters.get_mut(cluster).ok_or_else(|| DataError::Unknown(format!("cluster {cluster}")))?;
        let defs = c.schema.tables();
        let mut sql: Vec<String> =
            defs.iter().map(|d| format!("DELETE FROM {}", quote_ident(c.db.dialect, &d.name))).collect();
        sql.extend(insert_all(&defs, c.db.dialect, &rows));
        run_batch(&c.db, &sql)?;
        c.mirror = rows;
        let g = self.global_mut(global)?;
        g.queues.insert(cluster.clone(), VecDeque::new());
        Ok(())
    }

    /// Dumps `cluster`'s tables (read back from its database) into snapshot `name`.
    pub fn take_snapshot(&mut self, cluster: &ClusterRef, name: &str) -> Result<(), DataError> {
        let c = self.clusters.get(cluster).ok_or_else(|| DataError::Unknown(format!("cluster {cluster}")))?;
        let tables = dump(&c.db, &c.schema)?;
        self.snapshots.insert(name.to_string(), (c.schema.clone(), Arc::new(tables)));
        Ok(())
    }

    /// A copy of snapshot `from` named `to` (copies share the immutable data).
    pub fn copy_snapshot(&mut self, from: &str, to: &str) -> Result<(), DataError> {
        let s = self.snapshots.get(from).cloned().ok_or_else(|| DataError::Unknown(format!("snapshot {from}")))?;
        self.snapshots.insert(to.to_string(), s);
        Ok(())
    }

    pub fn has_snapshot(&self, name: &str) -> bool {
        self.snapshots.contains_key(name)
    }

    /// The data held by snapshot `name`.
    pub fn snapshot_tables(&self, name: &str) -> Option<Arc<Tables>> {
        self.snapshots.get(name).map(|(_, t)| t.clone())
    }

    pub fn forget_snapshot(&mut self, name: &str) {
        self.snapshots.remove(name);
    }

    /// Creates `cluster`'s database holding snapshot `name`'s data (a restore).
    pub fn restore(&mut self, name: &str, cluster: &ClusterRef) -> Result<DbLocation, DataError> {
        let (schema, tables) =
            self.snapshots.get(name).cloned().ok_or_else(|| DataError::Unknown(format!("snapshot {name}")))?;
        self.create_db(cluster, &schema)?;
        let c = self.clusters.get_mut(cluster).ok_or_else(|| DataError::Unknown(format!("cluster {cluster}")))?;
        let defs = schema.tables();
        run_batch(&c.db, &insert_all(&defs, c.db.dialect, &tables))?;
        c.mirror = (*tables).clone();
        Ok(location(&c.db))
    }

    /// Drops `cluster`'s database (DeleteDBCluster).
    pub fn drop_cluster(&mut self, cluster: &ClusterRef) {
        if let Some(c) = self.clusters.remove(cluster) {
            for g in self.globals.values_mut() {
                g.queues.remove(cluster);
            }
            self.drop_db(c);
        }
    }

    /// Where `cluster`'s database can be opened.
    pub fn location(&self, cluster: &ClusterRef) -> Option<DbLocation> {
        self.clusters.get(cluster).map(|c| location(&c.db))
    }

    /// The replication lag a secondary reports at `now`: the configured lag while its
    /// source replicates to it, growing from the moment the source's Region went down;
    /// `None` for a writer, a detached cluster, or a cluster outside any global cluster.
    pub fn replication_lag(&self, cluster: &ClusterRef, now: SystemTime) -> Option<Duration> {
        let g = self.globals.values().find(|g| g.queues.contains_key(cluster))?;
        match self.down.get(&g.writer.region) {
            Some(since) => Some(g.lag.at(*since) + now.duration_since(*since).unwrap_or_default()),
            None => Some(g.lag.at(now)),
        }
    }

    /// Changes a global cluster's replication lag (a fault: a lagging secondary); it stays
    /// at that from now on, without variation.
    pub fn set_replication_lag(&mut self, global: &str, lag: Duration) -> Result<(), DataError> {
        let g = self.global_mut(global)?;
        g.lag.base = lag;
        g.lag.variation = None;
        Ok(())
    }

    /// The schema a global cluster carries.
    pub fn schema(&self, global: &str) -> Option<Schema> {
        self.globals.get(global).map(|g| g.schema.clone())
    }

    /// The current writer of a global cluster's data.
    pub fn writer(&self, global: &str) -> Option<&ClusterRef> {
        self.globals.get(global).map(|g| &g.writer)
    }

    /// The ground truth of every failover with data loss so far, oldest first.
    pub fn ground_truth(&self, global: &str) -> Vec<GroundTruth> {
        self.globals.get(global).map(|g| g.truths.clone()).unwrap_or_default()
    }

    pub fn stats(&self, global: &str) -> Option<WorkloadStats> {
        self.globals.get(global).map(|g| g.stats)
    }

    /// The simulator's exact copy of what `cluster`'s database holds.
    pub fn mirror(&self, cluster: &ClusterRef) -> Option<&Tables> {
        self.clusters.get(cluster).map(|c| &c.mirror)
    }

    /// Reads `cluster`'s tables back from its database.
    pub fn dump(&self, cluster: &ClusterRef) -> Result<Tables, DataError> {
        let c = self.clusters.get(cluster).ok_or_else(|| DataError::Unknown(format!("cluster {cluster}")))?;
        dump(&c.db, &c.schema)
    }

    /// The transactions queued for `secondary` (committed on the writer, not yet applied).
    pub fn pending(&self, secondary: &ClusterRef) -> Vec<Txn> {
        self.globals
            .values()
            .filter_map(|g| g.queues.get(secondary))
            .flat_map(|q| q.iter().map(|t| (**t).clone()))
            .collect()
    }
}

impl Drop for DataStore {
    fn drop(&mut self) {
        let clusters = std::mem::take(&mut self.clusters);
        for (_, c) in clusters {
            self.drop_db(c);
        }
    }
}

fn location(db: &Database) -> DbLocation {
    DbLocation { dialect: db.dialect, url: db.url.clone(), database: db.name.clone(), path: db.path.clone() }
}

/// The SQL of `ops` in order, with runs of inserts into a table merged into multi-row
/// inserts: a table's pending inserts are written before any other write to that table, so
/// the result equals applying the ops one by one (the server executes far fewer statements).
fn statements<'a>(defs: &[TableDef], dialect: Dialect, ops: impl Iterator<Item = &'a Op>) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending: Vec<Vec<&Row>> = vec![Vec::new(); defs.len()];
    let flush = |out: &mut Vec<String>, rows: &mut Vec<&Row>, def: &TableDef| {
        if !rows.is_empty() {
            out.push(def.insert_sql(dialect, rows));
            rows.clear();
        }
    };
    for op in ops {
        let t = op.table();
        match op {
            Op::Insert { row, .. } => {
                pending[t].push(row);
                if pending[t].len() >= 200 {
                    flush(&mut out, &mut pending[t], &defs[t]);
                }
            }
            other => {
                flush(&mut out, &mut pending[t], &defs[t]);
                out.push(defs[t].op_sql(dialect, other));
            }
        }
    }
    for (t, rows) in pending.iter_mut().enumerate() {
        flush(&mut out, rows, &defs[t]);
    }
    out
}

/// Runs statements as one transaction.
fn run_batch(db: &Database, sql: &[String]) -> Result<(), DataError> {
    if sql.is_empty() {
        return Ok(());
    }
    let begin = if db.dialect == Dialect::Mysql { "START TRANSACTION" } else { "BEGIN" };
    // Bounded batches keep one statement string reasonable for the servers.
    for chunk in sql.chunks(2000) {
        let mut s = String::with_capacity(chunk.iter().map(|q| q.len() + 2).sum::<usize>() + 32);
        s.push_str(begin);
        s.push_str(";\n");
        for q in chunk {
            s.push_str(q);
            s.push_str(";\n");
        }
        s.push_str("COMMIT");
        db.exec(&s)?;
    }
    Ok(())
}

fn insert_all(defs: &[TableDef], dialect: Dialect, tables: &Tables) -> Vec<String> {
    let mut out = Vec::new();
    for def in defs {
        let Some(rows) = tables.get(&def.name) else { continue };
        let rows: Vec<&Row> = rows.values().collect();
        for chunk in rows.chunks(200) {
            out.push(def.insert_sql(dialect, chunk));
        }
    }
    out
}

fn dump(db: &Database, schema: &Schema) -> Result<Tables, DataError> {
    let mut out = Tables::new();
    for def in schema.tables() {
        let rows = db.query(&def.select_sql(db.dialect))?;
        let table = out.entry(def.name.to_string()).or_default();
        for cells in rows {
            let row: Row = def.columns.iter().zip(cells.iter()).map(|(c, cell)| c.ty.parse(cell.as_deref())).collect();
            table.insert(def.key_of(&row), row);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_cluster_names_give_distinct_database_names() {
        let store = DataStore::new(Backend::Sqlite(None), 1).unwrap();
        let long = "retail-orders-recovery-0123456789abcdef0123456789abcdef0123456789";
        let a = store.db_name(&ClusterRef::new("us-east-1", format!("{long}-a")));
        let b = store.db_name(&ClusterRef::new("us-east-1", format!("{long}-b")));
        assert!(a.len() <= 63 && b.len() <= 63);
        assert_ne!(a, b);
    }
}
