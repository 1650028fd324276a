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
//! This module never reads the wall clock; time comes from the [`SharedClock`].

pub mod model;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use failover_core::SharedClock;
use failover_core::plan::Plan;

use crate::cloudwatch::{LagFn, LagQuery};
use crate::data::{
    Backend, ClusterRef, DataError, DataStore, DbLocation, GlobalDataSpec, GroundTruth, Schema, WorkloadConfig,
};
use crate::secrets::SecretsManager;
use crate::server::{ApiError, HttpService, Request, Response, ResponseFuture};
use crate::services::service;
use crate::sim::{Setup, Sim, WeakSim};
use crate::wire::{Form, iso8601, query_error, query_response, xml_elem};
use model::{
    Cluster, Effect, Event, GlobalCluster, GlobalSpec, Instance, MemberSpec, RdsModel, Role, Snapshot, SyncInfo,
    Timings,
};

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
    /// Region's member is the writer), one instance each, the orders schema unless the
    /// database's name says catalog.
    pub fn from_plan(plan: &Plan) -> Self {
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
                let schema = if d.name.contains("catalog") { Schema::Catalog } else { Schema::Orders };
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
                schema: g.spec.schema,
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

    /// Where a cluster's database can be opened (the diff report's connection).
    pub fn database(&self, region: &str, cluster: &str) -> Option<DbLocation> {
        self.lock().data.location(&ClusterRef::new(region, cluster.to_ascii_lowercase()))
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

    /// Answers one query-protocol request for `region`: the `Result` element's content.
    pub fn handle_action(&self, region: &str, form: &Form) -> Result<String, ApiError> {
        let now = self.clock.now();
        let mut st = self.lock();
        self.sync_locked(&mut st, now).map_err(internal)?;
        let st = &mut *st;
        let action = form.action();
        match action {
            "DescribeGlobalClusters" => describe_global_clusters(&st.model, form, now),
            "SwitchoverGlobalCluster" => {
                let (g, t) = (required(form, "GlobalClusterIdentifier")?, required(form, "TargetDbClusterIdentifier")?);
                let sync = sync_info(st, t, now);
                let effects = st.model.switchover(g, t, sync, now)?;
                apply(&mut st.data, effects).map_err(internal)?;
                Ok(global_result(&st.model, g, now))
            }
            "FailoverGlobalCluster" => {
                let (g, t) = (required(form, "GlobalClusterIdentifier")?, required(form, "TargetDbClusterIdentifier")?);
                let allow = flag(form, "AllowDataLoss");
                if allow && flag(form, "Switchover") {
                    return Err(ApiError::new(
                        400,
                        "InvalidParameterCombination",
                        "Specify either AllowDataLoss or Switchover, not both.",
                    ));
                }
                let effects = if allow {
                    st.model.failover(g, t, now)?
                } else {
                    let sync = sync_info(st, t, now);
                    st.model.switchover(g, t, sync, now)?
                };
                apply(&mut st.data, effects).map_err(internal)?;
                Ok(global_result(&st.model, g, now))
            }
            "DescribeDBClusters" => describe_clusters(&st.model, region, form, now),
            "DescribeDBInstances" => describe_instances(&st.model, region, form, now),
            "DescribeDBClusterSnapshots" => describe_snapshots(&st.model, region, form, now),
            "DescribeEvents" => describe_events(&st.model, region, form, now),
            "CopyDBClusterSnapshot" => {
                let src = required(form, "SourceDBClusterSnapshotIdentifier")?;
                let dst = required(form, "TargetDBClusterSnapshotIdentifier")?;
                let (snap, effects) =
                    st.model.copy_snapshot(region, src, dst, form.get("KmsKeyId").map(str::to_string), now)?;
                apply(&mut st.data, effects).map_err(internal)?;
                Ok(format!("<DBClusterSnapshot>{}</DBClusterSnapshot>", snapshot_xml(&st.model, &snap, now)))
            }
            "RestoreDBClusterFromSnapshot" => {
                let id = required(form, "DBClusterIdentifier")?;
                let snap = required(form, "SnapshotIdentifier")?;
                let engine = required(form, "Engine")?;
                let (c, effects) = st.model.restore(
                    region,
                    id,
                    snap,
                    engine,
                    form.get("EngineVersion").map(str::to_string),
                    form.get("DBSubnetGroupName").map(str::to_string),
                    form.list("VpcSecurityGroupIds.VpcSecurityGroupId"),
                    form.get("KmsKeyId").map(str::to_string),
                    now,
                )?;
                apply(&mut st.data, effects).map_err(internal)?;
                Ok(format!("<DBCluster>{}</DBCluster>", cluster_xml(&st.model, &c, now)))
            }
            "CreateDBInstance" => {
                let id = required(form, "DBInstanceIdentifier")?;
                let class = required(form, "DBInstanceClass")?;
                required(form, "Engine")?;
                let cluster = form.get("DBClusterIdentifier").ok_or_else(|| {
                    ApiError::new(
                        400,
                        "InvalidParameterCombination",
                        "An Aurora DB instance needs DBClusterIdentifier.",
                    )
                })?;
                let i = st.model.create_instance(region, id, cluster, class, now)?;
                Ok(format!("<DBInstance>{}</DBInstance>", instance_xml(&st.model, &i, now)))
            }
            "ModifyDBCluster" => {
                let id = required(form, "DBClusterIdentifier")?;
                let manage = form.get("ManageMasterUserPassword").map(|v| v.eq_ignore_ascii_case("true"));
                let min = form.get("ServerlessV2ScalingConfiguration.MinCapacity").and_then(|v| v.parse().ok());
                let max = form.get("ServerlessV2ScalingConfiguration.MaxCapacity").and_then(|v| v.parse().ok());
                let (c, secret) = st.model.modify_cluster(region, id, manage, min.zip(max), now)?;
                if let (Some(arn), Some(sim)) = (secret, self.sim()) {
                    // RDS keeps the managed password in Secrets Manager as JSON, where the
                    // functions read it like any other credentials secret.
                    let password = format!("sim-{:016x}", failover_core::stable_hash(&arn));
                    let value = serde_json::json!({ "username": c.master_username, "password": password });
                    sim.service::<SecretsManager>().put(region, &arn, &value.to_string(), now);
                }
                Ok(format!("<DBCluster>{}</DBCluster>", cluster_xml(&st.model, &c, now)))
            }
            "DeleteDBInstance" => {
                let i = st.model.delete_instance(region, required(form, "DBInstanceIdentifier")?, now)?;
                Ok(format!("<DBInstance>{}</DBInstance>", instance_xml(&st.model, &i, now)))
            }
            "DeleteDBCluster" => {
                let id = required(form, "DBClusterIdentifier")?;
                if !flag(form, "SkipFinalSnapshot") && form.get("FinalDBSnapshotIdentifier").is_none() {
                    return Err(ApiError::new(
                        400,
                        "InvalidParameterCombination",
                        "FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is true.",
                    ));
                }
                let (c, effects) = st.model.delete_cluster(region, id, now)?;
                apply(&mut st.data, effects).map_err(internal)?;
                Ok(format!("<DBCluster>{}</DBCluster>", cluster_xml(&st.model, &c, now)))
            }
            "" => Err(ApiError::new(400, "MissingAction", "The request has no Action.")),
            other => Err(ApiError::new(
                400,
                "InvalidAction",
                format!("The action {other} is not valid for this web service."),
            )),
        }
    }
}

fn sync_info(st: &State, target: &str, now: SystemTime) -> SyncInfo {
    let key = match target.strip_prefix("arn:aws:rds:") {
        Some(rest) => {
            let p: Vec<&str> = rest.splitn(4, ':').collect();
            ClusterRef::new(p.first().copied().unwrap_or(""), p.get(3).copied().unwrap_or("").to_ascii_lowercase())
        }
        None => st
            .model
            .clusters
            .keys()
            .find(|k| k.cluster == target.to_ascii_lowercase())
            .cloned()
            .unwrap_or_else(|| ClusterRef::new("", target)),
    };
    SyncInfo { lag: st.data.replication_lag(&key, now) }
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

/// The HTTP face of [`Aurora`] on the simulator's `rds` port.
pub struct RdsService(pub Arc<Aurora>);

impl HttpService for RdsService {
    fn handle(&self, req: Request) -> ResponseFuture {
        let form = Form::parse(&req.body);
        let region =
            req.effective_region().map(str::to_string).or_else(|| self.0.regions.first().cloned()).unwrap_or_default();
        let action = form.action().to_string();
        let resp = match self.0.handle_action(&region, &form) {
            Ok(xml) => query_response(&action, XMLNS, &xml),
            Err(e) => query_error(&e),
        };
        Box::pin(async move { resp })
    }

    fn error_response(&self, _req: &Request, err: &ApiError) -> Response {
        query_error(err)
    }

    fn throttling_error(&self) -> ApiError {
        ApiError::new(400, "Throttling", "Rate exceeded")
    }
}

// ---------------------------------------------------------------------------------------
// Input helpers
// ---------------------------------------------------------------------------------------

fn required<'a>(form: &'a Form, name: &str) -> Result<&'a str, ApiError> {
    form.get(name).filter(|v| !v.is_empty()).ok_or_else(|| {
        ApiError::new(400, "MissingParameter", format!("The request must contain the parameter {name}."))
    })
}

fn flag(form: &Form, name: &str) -> bool {
    form.get(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// `Filters.Filter.N.Name` / `Filters.Filter.N.Values.Value.M`.
fn filters(form: &Form) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in form.structs("Filters.Filter") {
        let Some(name) = f.get("Name") else { continue };
        let values: Vec<String> = (1..).map_while(|i| f.get(&format!("Values.Value.{i}")).cloned()).collect();
        out.entry(name.clone()).or_default().extend(values);
    }
    out
}

fn matches_filter(filters: &BTreeMap<String, Vec<String>>, name: &str, candidates: &[&str]) -> bool {
    filters.get(name).is_none_or(|vals| vals.iter().any(|v| candidates.iter().any(|c| c.eq_ignore_ascii_case(v))))
}

/// The `db-cluster-id` filter on a resource of the cluster `cluster` of `region`: the
/// filter names the cluster by identifier or ARN.
fn matches_cluster_filter(m: &RdsModel, filters: &BTreeMap<String, Vec<String>>, region: &str, cluster: &str) -> bool {
    matches_filter(filters, "db-cluster-id", &[cluster, &m.cluster_arn(region, cluster)])
}

/// `MaxRecords` (20..=100, default 100) and `Marker` (an offset) paging.
fn page<T>(items: Vec<T>, form: &Form) -> Result<(Vec<T>, Option<String>), ApiError> {
    let max = match form.get("MaxRecords") {
        Some(v) => {
            let n: usize =
                v.parse().map_err(|_| ApiError::new(400, "InvalidParameterValue", "MaxRecords must be a number."))?;
            if !(20..=100).contains(&n) {
                return Err(ApiError::new(400, "InvalidParameterValue", "MaxRecords must be between 20 and 100."));
            }
            n
        }
        None => 100,
    };
    let start: usize = form.get("Marker").and_then(|m| m.parse().ok()).unwrap_or(0);
    let total = items.len();
    let items: Vec<T> = items.into_iter().skip(start).take(max).collect();
    let next = (start + max < total).then(|| (start + max).to_string());
    Ok((items, next))
}

fn marker_xml(m: Option<String>) -> String {
    m.map(|m| xml_elem("Marker", &m)).unwrap_or_default()
}

/// One page of `items` (see [`page`]) as `<{list}><{member}>…</{member}>…</{list}>`,
/// followed by the `Marker` of the next page.
fn paged_xml<T>(
    items: Vec<T>,
    form: &Form,
    list: &str,
    member: &str,
    xml: impl Fn(&T) -> String,
) -> Result<String, ApiError> {
    let (items, marker) = page(items, form)?;
    let body: String = items.iter().map(|i| format!("<{member}>{}</{member}>", xml(i))).collect();
    Ok(format!("<{list}>{body}</{list}>{}", marker_xml(marker)))
}

fn short_id(ident: &str) -> String {
    ident.rsplit(':').next().unwrap_or(ident).to_ascii_lowercase()
}

// ---------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------

fn describe_global_clusters(m: &RdsModel, form: &Form, now: SystemTime) -> Result<String, ApiError> {
    let want = form.get("GlobalClusterIdentifier").map(short_id);
    let f = filters(form);
    let mut list: Vec<&GlobalCluster> = m
        .globals
        .values()
        .filter(|g| want.as_ref().is_none_or(|w| *w == g.id))
        .filter(|g| matches_filter(&f, "global-cluster-id", &[&g.id, &m.global_arn(&g.id)]))
        .collect();
    if let Some(w) = want.filter(|_| list.is_empty()) {
        return Err(ApiError::new(404, "GlobalClusterNotFoundFault", format!("Global cluster {w} not found.")));
    }
    list.sort_by(|a, b| a.id.cmp(&b.id));
    paged_xml(list, form, "GlobalClusters", "GlobalClusterMember", |g| global_xml(m, g, now))
}

fn global_result(m: &RdsModel, id: &str, now: SystemTime) -> String {
    match m.globals.get(&short_id(id)) {
        Some(g) => format!("<GlobalCluster>{}</GlobalCluster>", global_xml(m, g, now)),
        None => String::new(),
    }
}

fn describe_clusters(m: &RdsModel, region: &str, form: &Form, now: SystemTime) -> Result<String, ApiError> {
    let want = form.get("DBClusterIdentifier");
    let f = filters(form);
    let list: Vec<&Cluster> = match want {
        Some(id) => {
            let c = m
                .find_cluster(region, id, now)
                .ok_or_else(|| ApiError::new(404, "DBClusterNotFoundFault", format!("DBCluster {id} not found.")))?;
            vec![c]
        }
        None => m.live_clusters(region, now),
    };
    let list: Vec<&Cluster> = list
        .into_iter()
        .filter(|c| matches_filter(&f, "db-cluster-id", &[&c.key.cluster, &c.arn]))
        .filter(|c| matches_filter(&f, "engine", &[&c.engine]))
        .collect();
    paged_xml(list, form, "DBClusters", "DBCluster", |c| cluster_xml(m, c, now))
}

fn describe_instances(m: &RdsModel, region: &str, form: &Form, now: SystemTime) -> Result<String, ApiError> {
    let f = filters(form);
    let mut list: Vec<&Instance> = m.instances_in(region, now);
    if let Some(id) = form.get("DBInstanceIdentifier") {
        let id = short_id(id);
        list.retain(|i| i.id == id);
        if list.is_empty() {
            return Err(ApiError::new(404, "DBInstanceNotFound", format!("DBInstance {id} not found.")));
        }
    }
    let list: Vec<&Instance> = list
        .into_iter()
        .filter(|i| matches_cluster_filter(m, &f, region, &i.cluster))
        .filter(|i| matches_filter(&f, "db-instance-id", &[&i.id, &i.arn]))
        .collect();
    paged_xml(list, form, "DBInstances", "DBInstance", |i| instance_xml(m, i, now))
}

fn describe_snapshots(m: &RdsModel, region: &str, form: &Form, now: SystemTime) -> Result<String, ApiError> {
    let f = filters(form);
    let mut list: Vec<&Snapshot> = m.snapshots_in(region, now);
    if let Some(id) = form.get("DBClusterSnapshotIdentifier") {
        let id = short_id(id);
        list.retain(|s| s.id == id);
        if list.is_empty() {
            return Err(ApiError::new(
                404,
                "DBClusterSnapshotNotFoundFault",
                format!("DBClusterSnapshot {id} not found."),
            ));
        }
    }
    if let Some(c) = form.get("DBClusterIdentifier") {
        let c = short_id(c);
        list.retain(|s| s.cluster == c);
    }
    if let Some(t) = form.get("SnapshotType").filter(|t| !t.is_empty()) {
        list.retain(|s| s.snapshot_type.eq_ignore_ascii_case(t));
    }
    let list: Vec<&Snapshot> = list
        .into_iter()
        .filter(|s| matches_cluster_filter(m, &f, region, &s.cluster))
        .filter(|s| matches_filter(&f, "db-cluster-snapshot-id", &[&s.id, &s.arn]))
        .filter(|s| matches_filter(&f, "snapshot-type", &[&s.snapshot_type]))
        .filter(|s| matches_filter(&f, "engine", &[&s.engine]))
        .collect();
    paged_xml(list, form, "DBClusterSnapshots", "DBClusterSnapshot", |s| snapshot_xml(m, s, now))
}

fn describe_events(m: &RdsModel, region: &str, form: &Form, now: SystemTime) -> Result<String, ApiError> {
    let parse_time = |name: &str| -> Result<Option<SystemTime>, ApiError> {
        form.get(name)
            .map(|v| {
                failover_core::time_fmt::parse_rfc3339(v).map_err(|e| ApiError::new(400, "InvalidParameterValue", e))
            })
            .transpose()
    };
    let source_id = form.get("SourceIdentifier");
    let source_type = form.get("SourceType");
    if source_id.is_some() && source_type.is_none() {
        return Err(ApiError::new(
            400,
            "InvalidParameterCombination",
            "SourceType must be specified when SourceIdentifier is specified.",
        ));
    }
    let end = parse_time("EndTime")?.unwrap_or(now).min(now);
    let start = match (parse_time("StartTime")?, form.get("Duration")) {
        (Some(s), _) => s,
        (None, Some(d)) => {
            let mins: u64 =
                d.parse().map_err(|_| ApiError::new(400, "InvalidParameterValue", "Duration must be a number."))?;
            end.checked_sub(Duration::from_secs(mins * 60)).unwrap_or(SystemTime::UNIX_EPOCH)
        }
        // The documented default: the past hour.
        (None, None) => end.checked_sub(Duration::from_secs(3600)).unwrap_or(SystemTime::UNIX_EPOCH),
    };
    let cats = form.list("EventCategories.EventCategory");
    let mut list: Vec<&Event> = m
        .events
        .iter()
        .filter(|e| e.region == region && e.date >= start && e.date <= end)
        .filter(|e| source_type.is_none_or(|t| e.source_type == t))
        .filter(|e| {
            source_id.is_none_or(|id| e.source_id.eq_ignore_ascii_case(&short_id_keep_rds(id)) || e.source_arn == id)
        })
        .filter(|e| cats.is_empty() || e.categories.iter().any(|c| cats.contains(c)))
        .collect();
    list.sort_by_key(|e| e.date);
    paged_xml(list, form, "Events", "Event", |e| event_xml(e))
}

/// An identifier without an ARN prefix, keeping the `rds:` of system snapshot names.
fn short_id_keep_rds(ident: &str) -> String {
    match ident.strip_prefix("arn:aws:rds:") {
        Some(rest) => rest.splitn(4, ':').nth(3).unwrap_or(rest).to_string(),
        None => ident.to_string(),
    }
}

// ---------------------------------------------------------------------------------------
// XML
// ---------------------------------------------------------------------------------------

fn b(v: bool) -> &'static str {
    if v { "true" } else { "false" }
}

fn global_xml(m: &RdsModel, g: &GlobalCluster, now: SystemTime) -> String {
    let mut x = String::new();
    x += &xml_elem("GlobalClusterIdentifier", &g.id);
    x += &xml_elem("GlobalClusterResourceId", &g.resource_id);
    x += &xml_elem("GlobalClusterArn", &m.global_arn(&g.id));
    x += &xml_elem("Status", m.global_status(g, now));
    x += &xml_elem("Engine", &g.engine);
    x += &xml_elem("EngineVersion", &g.engine_version);
    x += &xml_elem("DatabaseName", &g.database_name);
    x += "<StorageEncrypted>true</StorageEncrypted><DeletionProtection>false</DeletionProtection>";
    x += "<GlobalClusterMembers>";
    for key in &g.members {
        let Some(c) = m.clusters.get(key) else { continue };
        let is_writer = g.writer == *key;
        x += "<GlobalClusterMember>";
        x += &xml_elem("DBClusterArn", &c.arn);
        x += "<Readers>";
        if is_writer {
            for other in g.members.iter().filter(|o| *o != key) {
                x += &xml_elem("member", &m.cluster_arn(&other.region, &other.cluster));
            }
        }
        x += "</Readers>";
        x += &xml_elem("IsWriter", b(is_writer));
        x += "<GlobalWriteForwardingStatus>disabled</GlobalWriteForwardingStatus>";
        if !is_writer {
            x += &xml_elem("SynchronizationStatus", m.synchronization_status(c));
        }
        x += "</GlobalClusterMember>";
    }
    x += "</GlobalClusterMembers>";
    x += &xml_elem("Endpoint", &format!("{}.global-{}.global.rds.amazonaws.com", g.id, m.endpoint_hash("global")));
    if let Some(op) = &g.op {
        x += "<FailoverState>";
        x += &xml_elem("Status", m.failover_status(op, now));
        x += &xml_elem("FromDbClusterArn", &m.cluster_arn(&op.from.region, &op.from.cluster));
        x += &xml_elem("ToDbClusterArn", &m.cluster_arn(&op.to.region, &op.to.cluster));
        x += &xml_elem("IsDataLossAllowed", b(op.kind == model::OpKind::Failover));
        x += "</FailoverState>";
    }
    x
}

fn zones(region: &str) -> String {
    ["a", "b", "c"].iter().map(|z| xml_elem("AvailabilityZone", &format!("{region}{z}"))).collect()
}

fn cluster_xml(m: &RdsModel, c: &Cluster, now: SystemTime) -> String {
    let region = &c.key.region;
    let hash = m.endpoint_hash(region);
    let status = m.cluster_status(c, now);
    let mut x = String::new();
    x += &format!("<AvailabilityZones>{}</AvailabilityZones>", zones(region));
    x += &xml_elem("BackupRetentionPeriod", &c.backup_retention_days.to_string());
    if !c.database_name.is_empty() {
        x += &xml_elem("DatabaseName", &c.database_name);
    }
    x += &xml_elem("DBClusterIdentifier", &c.key.cluster);
    x += &xml_elem("DBClusterParameterGroup", &format!("default.{}", c.engine));
    if let Some(sg) = &c.db_subnet_group {
        x += &xml_elem("DBSubnetGroup", sg);
    }
    x += &xml_elem("Status", status);
    if status != "creating" {
        x += &xml_elem("Endpoint", &format!("{}.cluster-{hash}.{region}.rds.amazonaws.com", c.key.cluster));
        x += &xml_elem("ReaderEndpoint", &format!("{}.cluster-ro-{hash}.{region}.rds.amazonaws.com", c.key.cluster));
    }
    x += "<MultiAZ>false</MultiAZ>";
    x += &xml_elem("Engine", &c.engine);
    x += &xml_elem("EngineVersion", &c.engine_version);
    x += &xml_elem("Port", &c.port.to_string());
    x += &xml_elem("MasterUsername", &c.master_username);
    x += "<DBClusterMembers>";
    let writer_capable = matches!(c.role, Role::Writer | Role::Standalone);
    let mut instances = m.live_instances(region, &c.key.cluster, now);
    instances.sort_by_key(|i| (i.promotion_tier, i.id.clone()));
    for (n, i) in instances.iter().enumerate() {
        x += "<DBClusterMember>";
        x += &xml_elem("DBInstanceIdentifier", &i.id);
        x += &xml_elem("IsClusterWriter", b(writer_capable && n == 0));
        x += "<DBClusterParameterGroupStatus>in-sync</DBClusterParameterGroupStatus>";
        x += &xml_elem("PromotionTier", &i.promotion_tier.to_string());
        x += "</DBClusterMember>";
    }
    x += "</DBClusterMembers>";
    x += "<VpcSecurityGroups>";
    for sg in &c.vpc_security_groups {
        x += &format!(
            "<VpcSecurityGroupMembership>{}<Status>active</Status></VpcSecurityGroupMembership>",
            xml_elem("VpcSecurityGroupId", sg)
        );
    }
    x += "</VpcSecurityGroups>";
    x += "<HostedZoneId>Z2R2ITUGPM61AM</HostedZoneId><StorageEncrypted>true</StorageEncrypted>";
    if let Some(k) = &c.kms_key_id {
        x += &xml_elem("KmsKeyId", k);
    }
    x += &xml_elem("DbClusterResourceId", &c.resource_id);
    x += &xml_elem("DBClusterArn", &c.arn);
    x += "<IAMDatabaseAuthenticationEnabled>true</IAMDatabaseAuthenticationEnabled>";
    x += &xml_elem("ClusterCreateTime", &iso8601(c.created));
    x += "<EngineMode>provisioned</EngineMode><DeletionProtection>false</DeletionProtection>";
    if let Some(g) = &c.global {
        x += &xml_elem("GlobalClusterIdentifier", g);
    }
    if let Some((min, max)) = c.serverless_v2 {
        x += &format!(
            "<ServerlessV2ScalingConfiguration>{}{}</ServerlessV2ScalingConfiguration>",
            xml_elem("MinCapacity", &min.to_string()),
            xml_elem("MaxCapacity", &max.to_string())
        );
    }
    if let Some(secret) = &c.master_user_secret {
        let status = if now < secret.active_at { "creating" } else { "active" };
        x += &format!(
            "<MasterUserSecret>{}{}{}</MasterUserSecret>",
            xml_elem("SecretArn", &secret.arn),
            xml_elem("SecretStatus", status),
            xml_elem("KmsKeyId", &secret.kms_key_id)
        );
    }
    x
}

fn instance_xml(m: &RdsModel, i: &Instance, now: SystemTime) -> String {
    let status = m.instance_status(i, now);
    let hash = m.endpoint_hash(&i.region);
    let port = m.clusters.get(&ClusterRef::new(&i.region, &i.cluster)).map_or(3306, |c| c.port);
    let mut x = String::new();
    x += &xml_elem("DBInstanceIdentifier", &i.id);
    x += &xml_elem("DBInstanceClass", &i.class);
    x += &xml_elem("Engine", &i.engine);
    x += &xml_elem("DBInstanceStatus", status);
    x += "<MasterUsername>admin</MasterUsername>";
    if status != "creating" {
        x += &format!(
            "<Endpoint>{}{}<HostedZoneId>Z2R2ITUGPM61AM</HostedZoneId></Endpoint>",
            xml_elem("Address", &format!("{}.{hash}.{}.rds.amazonaws.com", i.id, i.region)),
            xml_elem("Port", &port.to_string())
        );
    }
    x += &xml_elem("InstanceCreateTime", &iso8601(i.created));
    x += &xml_elem("AvailabilityZone", &format!("{}a", i.region));
    x += "<MultiAZ>false</MultiAZ>";
    x += &xml_elem("EngineVersion", &i.engine_version);
    x += "<AutoMinorVersionUpgrade>true</AutoMinorVersionUpgrade><PubliclyAccessible>false</PubliclyAccessible>";
    x += "<StorageType>aurora</StorageType><DbInstancePort>0</DbInstancePort>";
    x += &xml_elem("DBClusterIdentifier", &i.cluster);
    x += "<StorageEncrypted>true</StorageEncrypted>";
    x += &xml_elem("DbiResourceId", &i.resource_id);
    x += &xml_elem("PromotionTier", &i.promotion_tier.to_string());
    x += &xml_elem("DBInstanceArn", &i.arn);
    x
}

fn snapshot_xml(m: &RdsModel, s: &Snapshot, now: SystemTime) -> String {
    let status = m.snapshot_status(s, now);
    let mut x = String::new();
    x += &format!("<AvailabilityZones>{}</AvailabilityZones>", zones(&s.region));
    x += &xml_elem("DBClusterSnapshotIdentifier", &s.id);
    x += &xml_elem("DBClusterIdentifier", &s.cluster);
    x += &xml_elem("SnapshotCreateTime", &iso8601(s.created));
    x += &xml_elem("Engine", &s.engine);
    x += "<EngineMode>provisioned</EngineMode><AllocatedStorage>0</AllocatedStorage>";
    x += &xml_elem("Status", status);
    x += &xml_elem("Port", &s.port.to_string());
    x += &xml_elem("ClusterCreateTime", &iso8601(s.cluster_created));
    x += &xml_elem("MasterUsername", &s.master_username);
    x += &xml_elem("EngineVersion", &s.engine_version);
    x += &xml_elem("LicenseModel", &s.engine);
    x += &xml_elem("SnapshotType", &s.snapshot_type);
    x += &xml_elem("PercentProgress", if status == "available" { "100" } else { "0" });
    x += "<StorageEncrypted>true</StorageEncrypted>";
    if let Some(k) = &s.kms_key_id {
        x += &xml_elem("KmsKeyId", k);
    }
    x += &xml_elem("DBClusterSnapshotArn", &s.arn);
    if let Some(src) = &s.source_arn {
        x += &xml_elem("SourceDBClusterSnapshotArn", src);
    }
    x += "<IAMDatabaseAuthenticationEnabled>true</IAMDatabaseAuthenticationEnabled>";
    x += &xml_elem("DbClusterResourceId", &s.cluster_resource_id);
    x += "<StorageType>aurora</StorageType>";
    x
}

fn event_xml(e: &Event) -> String {
    let cats: String = e.categories.iter().map(|c| xml_elem("EventCategory", c)).collect();
    format!(
        "{}{}{}<EventCategories>{cats}</EventCategories>{}{}",
        xml_elem("SourceIdentifier", &e.source_id),
        xml_elem("SourceType", &e.source_type),
        xml_elem("Message", &e.message),
        xml_elem("Date", &iso8601(e.date)),
        xml_elem("SourceArn", &e.source_arn),
    )
}
