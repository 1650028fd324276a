//! The simulated Amazon RDS (Aurora global databases), speaking the query protocol.
//!
//! [`Aurora`] joins the pure [`model::RdsModel`] (global clusters, clusters, instances,
//! snapshots, events, `FailoverState` on the simulated clock) with the
//! [`crate::data::DataStore`] (the real databases, the workload, replication and ground
//! truth) and serves both Regions on the simulator's `rds` port. Every request first
//! brings the simulation up to the clock's `now` ([`Aurora::sync`]): Region health changes
//! seen on the [`Sim`], operation deadlines and the workload are replayed in time order, so
//! the databases always hold what they would have held at that instant.
//!
//! Operations: DescribeGlobalClusters, SwitchoverGlobalCluster, FailoverGlobalCluster,
//! DescribeDBClusters, DescribeDBInstances, DescribeDBClusterSnapshots,
//! CopyDBClusterSnapshot, RestoreDBClusterFromSnapshot, CreateDBInstance, ModifyDBCluster
//! (managed master password, Serverless v2 capacity), DeleteDBInstance, DeleteDBCluster,
//! DescribeEvents. Anything else answers `InvalidAction`.
//!
//! `rds.rs` holds the service and its sync; `rds/api.rs` the query-protocol operations
//! (input, paging, filters) and `rds/xml.rs` their XML; `rds/model.rs` the model.
//!
//! This module never reads the wall clock; time comes from the [`SharedClock`].

mod api;
pub mod model;
mod xml;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use failover_core::SharedClock;
use failover_core::plan::Plan;

use crate::cloudwatch::{LagFn, LagQuery};
use crate::data::{
    Backend, ClusterRef, DataError, DataStore, DbLocation, GlobalDataSpec, GroundTruth, Schema, WorkloadConfig,
};
use crate::server::ApiError;
use crate::services::service;
use crate::sim::{Setup, Sim, WeakSim};
use model::{Effect, GlobalSpec, MemberSpec, RdsModel, Timings};

pub use api::RdsService;

/// The query protocol's XML namespace for RDS.
pub const XMLNS: &str = "http://rds.amazonaws.com/doc/2014-10-31/";

/// Keeps the `rds` port for [`Aurora::install`]: it answers 501 until then.
pub fn reserve_port(setup: &mut Setup<'_>) {
    setup.listen_shared(service::RDS, Some("AWS_ENDPOINT_URL_RDS"));
}

/// One global cluster to simulate, with its workload.
#[derive(Debug, Clone)]
pub struct AuroraGlobal {
    pub spec: GlobalSpec,
    pub workload: WorkloadConfig,
}

/// Everything [`Aurora::new`] needs.
#[derive(Debug, Clone)]
pub struct AuroraConfig {
    pub account: String,
    pub globals: Vec<AuroraGlobal>,
    pub backend: Backend,
    pub seed: u64,
    /// Replication lag of every global cluster at start.
    pub replication_lag: Duration,
    pub timings: Timings,
}

/// The default engine version of each engine (the same on both sides unless a test or a
/// fault says otherwise).
pub fn default_engine_version(engine: &str) -> &'static str {
    if engine.contains("postgres") { "16.4" } else { "8.0.mysql_aurora.3.08.0" }
}

impl AuroraConfig {
    /// The global clusters of a plan: members from `databases[].members` (the primary
    /// Region's member is the writer), one instance each, the tables of
    /// [`crate::data::generated_schema`].
    pub fn from_plan(plan: &Plan) -> Self {
        Self::build(plan, crate::data::generated_schema)
    }

    /// As [`AuroraConfig::from_plan`], with the tables of each database named in `ddl`
    /// (database name -> (file, DDL text)) taken from its DDL. Returns the notes on the types
    /// the simulator approximates.
    pub fn from_plan_with_ddl(
        plan: &Plan,
        ddl: &std::collections::BTreeMap<String, (String, String)>,
    ) -> Result<(Self, Vec<String>), DataError> {
        if let Some(name) = ddl.keys().find(|n| !plan.databases.iter().any(|d| &d.name == *n)) {
            let file = &ddl[name].0;
            return Err(DataError::Schema(format!("{file}: names database `{name}`, which the plan does not have")));
        }
        let mut schemas = std::collections::BTreeMap::new();
        let mut notes = Vec::new();
        for d in &plan.databases {
            let schema = match ddl.get(&d.name) {
                Some((file, text)) => {
                    let (schema, n) = crate::data::ddl_schema(d, file, text)?;
                    notes.extend(n);
                    schema
                }
                None => crate::data::generated_schema(d),
            };
            schemas.insert(d.name.clone(), schema);
        }
        Ok((Self::build(plan, |d| schemas[&d.name].clone()), notes))
    }

    fn build(plan: &Plan, schema_of: impl Fn(&failover_core::plan::GlobalDatabase) -> Schema) -> Self {
        let account = plan
            .databases
            .iter()
            .flat_map(|d| d.members.values())
            .find_map(|arn| arn.split(':').nth(4).map(str::to_string))
            .unwrap_or_else(|| "123456789012".into());
        let globals = plan
            .databases
            .iter()
            .map(|d| {
                let engine = d.engine.as_str().to_string();
                let version = default_engine_version(&engine).to_string();
                let mut members: Vec<MemberSpec> = d
                    .members
                    .iter()
                    .map(|(region, arn)| MemberSpec {
                        region: region.clone(),
                        cluster: arn.rsplit(':').next().unwrap_or(arn).to_string(),
                        engine_version: version.clone(),
                        instances: 1,
                    })
                    .collect();
                members.sort_by_key(|m| m.region != plan.regions.primary);
                let schema = schema_of(d);
                AuroraGlobal {
                    spec: GlobalSpec {
                        id: d.global_cluster.clone(),
                        engine,
                        members,
                        instance_class: d.recovery.capacity.instance_class.clone(),
                        database_name: d.report.as_ref().map_or(d.name.clone(), |r| r.database.clone()),
                        schema,
                    },
                    workload: WorkloadConfig::default(),
                }
            })
            .collect();
        Self {
            account,
            globals,
            backend: Backend::Sqlite(None),
            seed: 1,
            replication_lag: Duration::from_secs(1),
            timings: Timings::default(),
        }
    }
}

struct State {
    model: RdsModel,
    data: DataStore,
    /// How far the simulation has been brought.
    synced_to: SystemTime,
}

/// The simulated RDS of both Regions, with its databases.
pub struct Aurora {
    state: Mutex<State>,
    clock: SharedClock,
    sim: Mutex<Option<WeakSim>>,
    regions: Vec<String>,
    /// The account of the clusters' ARNs.
    account: String,
}

impl std::fmt::Debug for Aurora {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aurora").field("regions", &self.regions).finish()
    }
}

fn internal(e: DataError) -> ApiError {
    ApiError::new(500, "InternalFailure", e.to_string())
}

impl Aurora {
    /// Creates the model and every member's database (workloads start at the clock's now).
    pub fn new(cfg: AuroraConfig, clock: SharedClock) -> Result<Arc<Aurora>, DataError> {
        let now = clock.now();
        let mut model = RdsModel::new(cfg.account.clone(), cfg.timings.clone());
        let mut data = DataStore::new(cfg.backend.clone(), cfg.seed)?;
        let mut regions = Vec::new();
        for g in &cfg.globals {
            model.add_global(&g.spec, now);
            let refs: Vec<ClusterRef> =
                g.spec.members.iter().map(|m| ClusterRef::new(&m.region, m.cluster.to_ascii_lowercase())).collect();
            for r in &refs {
                if !regions.contains(&r.region) {
                    regions.push(r.region.clone());
                }
            }
            data.add_global(GlobalDataSpec {
                global_cluster: g.spec.id.to_ascii_lowercase(),
                schema: g.spec.schema.clone(),
                workload: g.workload.clone(),
                replication_lag: cfg.replication_lag,
                writer: refs[0].clone(),
                secondaries: refs[1..].to_vec(),
                start: now,
            })?;
        }
        Ok(Arc::new(Aurora {
            state: Mutex::new(State { model, data, synced_to: now }),
            clock,
            sim: Mutex::new(None),
            regions,
            account: cfg.account.clone(),
        }))
    }

    /// Builds the service from a plan and plugs it into `sim`: the `rds` port, the lag
    /// metrics CloudWatch reports, and the handle drills fetch with `sim.try_service::<Aurora>()`.
    pub fn install(sim: &Sim, cfg: AuroraConfig) -> Result<Arc<Aurora>, DataError> {
        let aurora = Aurora::new(cfg, sim.clock().clone())?;
        aurora.attach(sim);
        Ok(aurora)
    }

    /// Plugs an existing service into `sim` (see [`Aurora::install`]).
    pub fn attach(self: &Arc<Self>, sim: &Sim) {
        *self.sim.lock().unwrap_or_else(|e| e.into_inner()) = Some(sim.downgrade());
        sim.register_service(service::RDS, Arc::new(RdsService(self.clone())));
        sim.provide(self.clone());
        let weak = Arc::downgrade(self);
        sim.provide::<LagFn>(Arc::new(move |q: &LagQuery| weak.upgrade().and_then(|a| a.lag_metric(q))));
        // Syncing on every health or fault change records a Region that goes down and comes
        // back between two RDS calls; requests alone would see only its latest state.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let mut changes = sim.subscribe_changes();
            let weak = Arc::downgrade(self);
            rt.spawn(async move {
                while changes.changed().await.is_ok() {
                    let Some(aurora) = weak.upgrade() else { break };
                    if let Err(e) = aurora.sync() {
                        tracing::error!(error = %e, "regionsim rds: sync after a health change failed");
                    }
                }
            });
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sim(&self) -> Option<Sim> {
        self.sim.lock().unwrap_or_else(|e| e.into_inner()).as_ref().and_then(WeakSim::upgrade)
    }

    /// Brings the model and the databases to the clock's now.
    pub fn sync(&self) -> Result<(), DataError> {
        let now = self.clock.now();
        let mut st = self.lock();
        self.sync_locked(&mut st, now)
    }

    fn sync_locked(&self, st: &mut State, now: SystemTime) -> Result<(), DataError> {
        let now = now.max(st.synced_to);
        // Health changes made on the Sim since the last sync, at the time they happened.
        let mut transitions: Vec<(SystemTime, String, bool)> = Vec::new();
        if let Some(sim) = self.sim() {
            for r in &self.regions {
                if let Some(s) = sim.region_status(r) {
                    let known_up = !st.model.down.contains_key(r);
                    if s.up != known_up {
                        transitions.push((s.since.clamp(st.synced_to, now), r.clone(), s.up));
                    }
                }
            }
        }
        transitions.sort();
        let mut transitions = transitions.into_iter().peekable();
        loop {
            let deadline = st.model.next_deadline().filter(|d| *d <= now);
            let take_transition = match (transitions.peek(), deadline) {
                (Some((t, _, _)), Some(d)) => *t <= d,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if take_transition {
                let Some((at, region, up)) = transitions.next() else { break };
                let effects = if up {
                    st.data.region_up(&region, at)?;
                    st.model.region_recovered(&region, at)
                } else {
                    st.data.region_down(&region, at)?;
                    st.model.region_failed(&region, at);
                    Vec::new()
                };
                apply(&mut st.data, effects)?;
            } else if let Some(d) = deadline {
                st.data.catch_up(d)?;
                let effects = st.model.fire(d);
                apply(&mut st.data, effects)?;
            }
        }
        st.data.catch_up(now)?;
        st.synced_to = now;
        Ok(())
    }

    /// The old primary's Region failed at `at` (when not driven through a [`Sim`]).
    pub fn region_failed(&self, region: &str, at: SystemTime) -> Result<(), DataError> {
        let mut st = self.lock();
        self.sync_locked(&mut st, at)?;
        st.data.region_down(region, at)?;
        st.model.region_failed(region, at);
        Ok(())
    }

    /// A Region is back at `at`: old primaries there are snapshotted and rejoin.
    pub fn region_recovered(&self, region: &str, at: SystemTime) -> Result<(), DataError> {
        let mut st = self.lock();
        self.sync_locked(&mut st, at)?;
        st.data.region_up(region, at)?;
        let effects = st.model.region_recovered(region, at);
        apply(&mut st.data, effects)
    }

    /// The "failover that stalls" fault: switchovers and failovers started while it is set
    /// never finish; clearing it lets them finish their planned duration from now.
    pub fn set_failover_stalls(&self, stall: bool) {
        let now = self.clock.now();
        self.lock().model.set_stall(stall, now);
    }

    /// The "snapshot never taken" fault (`None`), or the delay before it appears.
    pub fn set_snapshot_after_recovery(&self, delay: Option<Duration>) {
        self.lock().model.timings.snapshot_after_recovery = delay;
    }

    /// Refuse switchovers whose lag exceeds `max` (AWS itself waits instead).
    pub fn set_switchover_max_lag(&self, max: Option<Duration>) {
        self.lock().model.switchover_max_lag = max;
    }

    /// The account may create `quota` more DB clusters per Region (restores beyond it are
    /// refused with `DBClusterQuotaExceededFault`); `None` lifts it.
    /// Refuses every switchover and failover of `global` (`InvalidGlobalClusterStateFault`)
    /// while the other global clusters move.
    pub fn refuse_moves(&self, global: &str) {
        self.lock().model.refuse_moves.insert(global.to_ascii_lowercase());
    }

    /// Every switchover and failover of `global` is accepted and then never completes,
    /// while the other global clusters move.
    pub fn stall_moves(&self, global: &str) {
        self.lock().model.stall_globals.insert(global.to_ascii_lowercase());
    }

    pub fn set_cluster_quota(&self, quota: Option<usize>) {
        self.lock().model.cluster_quota = quota;
    }

    /// A lagging secondary: changes a global cluster's replication lag from now on.
    pub fn set_replication_lag(&self, global: &str, lag: Duration) -> Result<(), DataError> {
        let now = self.clock.now();
        let mut st = self.lock();
        self.sync_locked(&mut st, now)?;
        st.data.set_replication_lag(&global.to_ascii_lowercase(), lag)
    }

    /// Changes a member's engine version (the "versions differ" precondition).
    pub fn set_engine_version(&self, region: &str, cluster: &str, version: &str) {
        let mut st = self.lock();
        if let Some(c) = st.model.clusters.get_mut(&ClusterRef::new(region, cluster.to_ascii_lowercase())) {
            c.engine_version = version.to_string();
        }
    }

    /// Removes a cluster's instances at once (a headless secondary).
    pub fn make_headless(&self, region: &str, cluster: &str) {
        let mut st = self.lock();
        let cluster = cluster.to_ascii_lowercase();
        st.model.instances.retain(|(r, _), i| !(r == region && i.cluster == cluster));
    }

    /// Where a cluster's database can be opened (the diff report's connection). The data
    /// is brought to now first, and a read of the writer a failover with data loss moved to
    /// makes the ground truth classify every key against what the report will see.
    pub fn database(&self, region: &str, cluster: &str) -> Option<DbLocation> {
        let now = self.clock.now();
        let mut st = self.lock();
        if let Err(e) = self.sync_locked(&mut st, now) {
            tracing::error!(error = %e, "regionsim rds: sync failed");
        }
        let c = ClusterRef::new(region, cluster.to_ascii_lowercase());
        st.data.note_read(&c, now);
        st.data.location(&c)
    }

    /// A secondary's replication lag now; `None` for writers and detached clusters.
    pub fn replication_lag(&self, region: &str, cluster: &str) -> Option<Duration> {
        let now = self.clock.now();
        let mut st = self.lock();
        if let Err(e) = self.sync_locked(&mut st, now) {
            tracing::error!(error = %e, "regionsim rds: sync failed");
        }
        st.data.replication_lag(&ClusterRef::new(region, cluster.to_ascii_lowercase()), now)
    }

    fn lag_metric(&self, q: &LagQuery) -> Option<f64> {
        if q.metric != "AuroraGlobalDBRPOLag" && q.metric != "AuroraGlobalDBReplicationLag" {
            return None;
        }
        let cluster = q.dimensions.iter().find(|(k, _)| k == "DBClusterIdentifier").map(|(_, v)| v.clone())?;
        let cluster = cluster.rsplit(':').next().unwrap_or(&cluster).to_string();
        self.replication_lag(&q.region, &cluster).map(|d| d.as_secs_f64() * 1000.0)
    }

    /// The ground truth of every failover with data loss of `global`, oldest first.
    pub fn ground_truth(&self, global: &str) -> Vec<GroundTruth> {
        self.lock().data.ground_truth(&global.to_ascii_lowercase())
    }

    /// Read access to the databases (after a sync).
    pub fn with_data<R>(&self, f: impl FnOnce(&DataStore) -> R) -> R {
        let now = self.clock.now();
        let mut st = self.lock();
        if let Err(e) = self.sync_locked(&mut st, now) {
            tracing::error!(error = %e, "regionsim rds: sync failed");
        }
        f(&st.data)
    }

    /// Read access to the model (after a sync).
    pub fn with_model<R>(&self, f: impl FnOnce(&RdsModel) -> R) -> R {
        let now = self.clock.now();
        let mut st = self.lock();
        if let Err(e) = self.sync_locked(&mut st, now) {
            tracing::error!(error = %e, "regionsim rds: sync failed");
        }
        f(&st.model)
    }
}

fn apply(data: &mut DataStore, effects: Vec<Effect>) -> Result<(), DataError> {
    for e in effects {
        match e {
            Effect::BeginSwitchover { global, at } => data.begin_switchover(&global, at)?,
            Effect::CompleteSwitchover { global, target, at } => data.complete_switchover(&global, &target, at)?,
            Effect::BeginFailover { global, target, at } => {
                let truth = data.begin_failover(&global, &target, at)?;
                tracing::info!(global = %global, lost_rows = truth.total_rows(), "regionsim rds: failover with data loss began");
            }
            Effect::CompleteFailover { global, target, at } => data.complete_failover(&global, &target, at)?,
            Effect::CaptureSnapshot { cluster, snapshot, at } => {
                data.catch_up(at)?;
                data.take_snapshot(&cluster, &snapshot)?;
            }
            Effect::Rejoin { global, cluster, at } => data.rejoin(&global, &cluster, at, None)?,
            Effect::CopySnapshot { from, to } => data.copy_snapshot(&from, &to)?,
            Effect::Restore { snapshot, cluster } => {
                data.restore(&snapshot, &cluster)?;
            }
            Effect::DropCluster { cluster } => data.drop_cluster(&cluster),
            Effect::DropSnapshot { snapshot } => data.forget_snapshot(&snapshot),
        }
    }
    Ok(())
}
