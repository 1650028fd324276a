//! The RDS model: global clusters, member clusters, instances, cluster snapshots and events,
//! as plain data moved by requests and by the simulated clock. No I/O and no wall clock.
//!
//! Statuses that only depend on time (an instance `creating` until `ready_at`, a snapshot
//! `copying` until `ready_at`, a `FailoverState` `pending` before `active_at`) are derived
//! from `now` when read. Transitions that move data (a failover completing, the old primary
//! rejoining) are deadlines: [`RdsModel::next_deadline`] tells the caller when the next one
//! is due, and [`RdsModel::fire`] processes it and returns the [`Effect`]s the data layer
//! must carry out, in time order with the workload.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::data::{ClusterRef, Schema};
use crate::server::ApiError;

/// Durations of the simulated operations (defaults: the drill's published latencies).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timings {
    /// `SwitchoverGlobalCluster` (plus the replication lag, which Aurora must drain first).
    pub switchover: Duration,
    /// `FailoverGlobalCluster` with `AllowDataLoss`.
    pub failover: Duration,
    /// How long `FailoverState.Status` stays `pending` before the operation proper.
    pub pending: Duration,
    /// From the old primary's Region recovering to its snapshot appearing; `None`: the
    /// snapshot is never taken (Aurora only attempts it).
    pub snapshot_after_recovery: Option<Duration>,
    /// From the Region recovering to the old primary rejoining as a secondary (after the
    /// snapshot attempt: Aurora snapshots the old volume before building a new one).
    pub rejoin_after_recovery: Duration,
    /// How long a system snapshot is kept (the old cluster's backup retention).
    pub system_snapshot_retention: Duration,
    pub snapshot_copy: Duration,
    pub restore: Duration,
    pub create_instance: Duration,
    pub delete_instance: Duration,
    pub delete_cluster: Duration,
    /// From `ManageMasterUserPassword` to its secret being `active`.
    pub managed_secret: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            switchover: Duration::from_secs(90),
            failover: Duration::from_secs(60),
            pending: Duration::from_secs(5),
            snapshot_after_recovery: Some(Duration::from_secs(300)),
            rejoin_after_recovery: Duration::from_secs(360),
            system_snapshot_retention: Duration::from_secs(7 * 86_400),
            snapshot_copy: Duration::from_secs(300),
            restore: Duration::from_secs(600),
            create_instance: Duration::from_secs(480),
            delete_instance: Duration::from_secs(60),
            delete_cluster: Duration::from_secs(60),
            managed_secret: Duration::from_secs(30),
        }
    }
}

/// One member of a global cluster at start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberSpec {
    pub region: String,
    pub cluster: String,
    pub engine_version: String,
    /// Instances of the cluster (none: a headless secondary).
    pub instances: usize,
}

/// One global cluster at start: the first member is the primary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GlobalSpec {
    pub id: String,
    /// `aurora-mysql` or `aurora-postgresql`.
    pub engine: String,
    pub members: Vec<MemberSpec>,
    pub instance_class: String,
    pub database_name: String,
    pub schema: Schema,
}

/// What the data layer must do, and when (on the simulated clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    BeginSwitchover {
        global: String,
        at: SystemTime,
    },
    CompleteSwitchover {
        global: String,
        target: ClusterRef,
        at: SystemTime,
    },
    BeginFailover {
        global: String,
        target: ClusterRef,
        at: SystemTime,
    },
    CompleteFailover {
        global: String,
        target: ClusterRef,
        at: SystemTime,
    },
    /// Dump the old primary (frozen since the failure) into snapshot `snapshot`.
    CaptureSnapshot {
        cluster: ClusterRef,
        snapshot: String,
        at: SystemTime,
    },
    /// Rebuild the old primary as a secondary of the current writer.
    Rejoin {
        global: String,
        cluster: ClusterRef,
        at: SystemTime,
    },
    CopySnapshot {
        from: String,
        to: String,
    },
    Restore {
        snapshot: String,
        cluster: ClusterRef,
    },
    DropCluster {
        cluster: ClusterRef,
    },
    DropSnapshot {
        snapshot: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OpKind {
    Switchover,
    Failover,
}

/// A switchover or failover in progress.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GlobalOp {
    pub kind: OpKind,
    pub from: ClusterRef,
    pub to: ClusterRef,
    pub started: SystemTime,
    pub active_at: SystemTime,
    /// `None` while stalled (the "failover that stalls" fault).
    pub completes_at: Option<SystemTime>,
    /// The planned duration, kept to reschedule when a stall is lifted.
    pub duration: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GlobalCluster {
    pub id: String,
    pub resource_id: String,
    pub engine: String,
    pub engine_version: String,
    pub database_name: String,
    pub members: Vec<ClusterRef>,
    pub writer: ClusterRef,
    pub op: Option<GlobalOp>,
    pub schema: Schema,
}

/// A member cluster's place in its global cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Role {
    Writer,
    Secondary,
    /// The old primary after a failover, until it is rebuilt (`pending-resync`).
    Detached,
    /// Not in a global cluster (a restored recovery cluster).
    Standalone,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cluster {
    pub key: ClusterRef,
    pub arn: String,
    pub resource_id: String,
    pub engine: String,
    pub engine_version: String,
    pub global: Option<String>,
    pub role: Role,
    pub created: SystemTime,
    /// `creating` until then (a restore).
    pub ready_at: SystemTime,
    /// `deleting` from this time on, gone at `gone_at`.
    pub deleting_since: Option<SystemTime>,
    pub gone_at: Option<SystemTime>,
    pub database_name: String,
    pub master_username: String,
    pub port: u16,
    pub backup_retention_days: u32,
    pub kms_key_id: Option<String>,
    pub db_subnet_group: Option<String>,
    pub vpc_security_groups: Vec<String>,
    /// When the old primary rejoins after its Region recovered.
    pub rejoin_at: Option<SystemTime>,
    pub schema: Schema,
    /// The master password managed by RDS in Secrets Manager (`ManageMasterUserPassword`).
    pub master_user_secret: Option<MasterSecret>,
    /// Aurora Serverless v2 capacity (min, max ACUs).
    pub serverless_v2: Option<(f64, f64)>,
}

/// The Secrets Manager secret RDS keeps a cluster's master password in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MasterSecret {
    pub arn: String,
    pub kms_key_id: String,
    /// `creating` until then, `active` after.
    pub active_at: SystemTime,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Instance {
    pub region: String,
    pub id: String,
    pub arn: String,
    pub resource_id: String,
    pub cluster: String,
    pub class: String,
    pub engine: String,
    pub engine_version: String,
    pub created: SystemTime,
    pub ready_at: SystemTime,
    pub deleting_since: Option<SystemTime>,
    pub gone_at: Option<SystemTime>,
    pub promotion_tier: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    pub region: String,
    pub id: String,
    pub arn: String,
    pub cluster: String,
    pub cluster_resource_id: String,
    /// `automated` (the system snapshot) or `manual`.
    pub snapshot_type: String,
    pub engine: String,
    pub engine_version: String,
    pub port: u16,
    pub master_username: String,
    pub cluster_created: SystemTime,
    /// Invisible before this time (the snapshot attempt is in progress).
    pub visible_at: SystemTime,
    /// `creating`/`copying` until this time.
    pub ready_at: SystemTime,
    /// Create time as reported: when the snapshot was started.
    pub created: SystemTime,
    pub expires_at: Option<SystemTime>,
    pub source_arn: Option<String>,
    pub kms_key_id: Option<String>,
    /// `creating` or `copying` while not ready.
    pub pending_status: &'static str,
    pub schema: Schema,
}

/// One RDS event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub region: String,
    pub source_id: String,
    /// `db-cluster`, `db-instance`, `db-cluster-snapshot`.
    pub source_type: String,
    pub source_arn: String,
    pub message: String,
    pub categories: Vec<String>,
    pub date: SystemTime,
}

/// What the data layer knows about a secondary's replication, for the switchover checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncInfo {
    /// The replication lag, `None` when the secondary does not replicate.
    pub lag: Option<Duration>,
}

fn err(status: u16, code: &str, msg: impl Into<String>) -> ApiError {
    ApiError::new(status, code, msg)
}

/// Aurora's notion of "the same major and minor version": for Aurora MySQL the Aurora
/// version after `mysql_aurora.` (`3.05`), otherwise the first two components (`15.4`).
/// Written here independently of the code under test, so that a bug there is not mirrored.
pub fn engine_major_minor(v: &str) -> String {
    let tail = match v.find("mysql_aurora.") {
        Some(i) => &v[i + "mysql_aurora.".len()..],
        None => v,
    };
    let mut parts = tail.split('.');
    format!("{}.{}", parts.next().unwrap_or(""), parts.next().unwrap_or(""))
}

/// The whole simulated RDS of the Region pair.
#[derive(Debug, Clone)]
pub struct RdsModel {
    pub account: String,
    pub timings: Timings,
    /// Refuse a switchover when the lag exceeds this (AWS does not; `None` by default:
    /// the switchover just takes longer, by the lag).
    pub switchover_max_lag: Option<Duration>,
    /// The "failover that stalls" fault: operations started while set never complete.
    pub stall_operations: bool,
    pub globals: BTreeMap<String, GlobalCluster>,
    pub clusters: BTreeMap<ClusterRef, Cluster>,
    /// (region, instance id).
    pub instances: BTreeMap<(String, String), Instance>,
    /// (region, snapshot id).
    pub snapshots: BTreeMap<(String, String), Snapshot>,
    pub events: Vec<Event>,
    /// Regions down, since when.
    pub down: BTreeMap<String, SystemTime>,
}

impl RdsModel {
    pub fn new(account: impl Into<String>, timings: Timings) -> Self {
        Self {
            account: account.into(),
            timings,
            switchover_max_lag: None,
            stall_operations: false,
            globals: BTreeMap::new(),
            clusters: BTreeMap::new(),
            instances: BTreeMap::new(),
            snapshots: BTreeMap::new(),
            events: Vec::new(),
            down: BTreeMap::new(),
        }
    }

    pub fn cluster_arn(&self, region: &str, id: &str) -> String {
        format!("arn:aws:rds:{region}:{}:cluster:{id}", self.account)
    }

    pub fn global_arn(&self, id: &str) -> String {
        format!("arn:aws:rds::{}:global-cluster:{id}", self.account)
    }

    pub fn instance_arn(&self, region: &str, id: &str) -> String {
        format!("arn:aws:rds:{region}:{}:db:{id}", self.account)
    }

    pub fn snapshot_arn(&self, region: &str, id: &str) -> String {
        format!("arn:aws:rds:{region}:{}:cluster-snapshot:{id}", self.account)
    }

    /// The per-account part of endpoint names (`<id>.cluster-<hash>.<region>.rds.amazonaws.com`):
    /// `sim`, as the default plan writes its reader endpoints.
    pub fn endpoint_hash(&self, _region: &str) -> &'static str {
        "sim"
    }

    /// The data layer's name for a snapshot's data.
    pub fn snapshot_data_key(region: &str, id: &str) -> String {
        format!("{region}/{id}")
    }

    fn port_of(engine: &str) -> u16 {
        if engine.contains("postgres") { 5432 } else { 3306 }
    }

    /// Adds a global cluster and its members (all available at `now`).
    pub fn add_global(&mut self, spec: &GlobalSpec, now: SystemTime) {
        let gid = spec.id.to_ascii_lowercase();
        let members: Vec<ClusterRef> =
            spec.members.iter().map(|m| ClusterRef::new(&m.region, m.cluster.to_ascii_lowercase())).collect();
        for (i, (m, key)) in spec.members.iter().zip(&members).enumerate() {
            let cluster = Cluster {
                key: key.clone(),
                arn: self.cluster_arn(&key.region, &key.cluster),
                resource_id: format!("cluster-{:026X}", failover_core::stable_hash(&format!("{key}")) as u128 * 7919),
                engine: spec.engine.clone(),
                engine_version: m.engine_version.clone(),
                global: Some(gid.clone()),
                role: if i == 0 { Role::Writer } else { Role::Secondary },
                created: now,
                ready_at: now,
                deleting_since: None,
                gone_at: None,
                database_name: spec.database_name.clone(),
                master_username: "admin".into(),
                port: Self::port_of(&spec.engine),
                backup_retention_days: 7,
                kms_key_id: None,
                db_subnet_group: None,
                vpc_security_groups: Vec::new(),
                rejoin_at: None,
                schema: spec.schema,
                master_user_secret: None,
                serverless_v2: None,
            };
            self.clusters.insert(key.clone(), cluster);
            for n in 1..=m.instances {
                let id = format!("{}-{n}", key.cluster);
                self.insert_instance(&key.region, &id, &key.cluster, &spec.instance_class, now, now);
            }
        }
        let writer = members[0].clone();
        let version = spec.members[0].engine_version.clone();
        self.globals.insert(
            gid.clone(),
            GlobalCluster {
                id: gid.clone(),
                resource_id: format!("cluster-{:026X}", failover_core::stable_hash(&gid) as u128 * 104_729),
                engine: spec.engine.clone(),
                engine_version: version,
                database_name: spec.database_name.clone(),
                members,
                writer,
                op: None,
                schema: spec.schema,
            },
        );
    }

    fn insert_instance(
        &mut self,
        region: &str,
        id: &str,
        cluster: &str,
        class: &str,
        now: SystemTime,
        ready: SystemTime,
    ) {
        let (engine, version) = self
            .clusters
            .get(&ClusterRef::new(region, cluster))
            .map(|c| (c.engine.clone(), c.engine_version.clone()))
            .unwrap_or_default();
        let promotion_tier = self.live_instances(region, cluster, now).len() as u32;
        self.instances.insert(
            (region.to_string(), id.to_string()),
            Instance {
                region: region.to_string(),
                id: id.to_string(),
                arn: self.instance_arn(region, id),
                resource_id: format!(
                    "db-{:026X}",
                    failover_core::stable_hash(&format!("{region}/{id}")) as u128 * 15_485_863
                ),
                cluster: cluster.to_string(),
                class: class.to_string(),
                engine,
                engine_version: version,
                created: now,
                ready_at: ready,
                deleting_since: None,
                gone_at: None,
                promotion_tier: promotion_tier.min(15),
            },
        );
    }

    // ----- reading -----

    fn exists(gone_at: Option<SystemTime>, now: SystemTime) -> bool {
        gone_at.is_none_or(|g| now < g)
    }

    /// The status of a cluster or an instance: `creating` until `ready_at`, `deleting` from
    /// `deleting_since`.
    fn lifecycle_status(deleting_since: Option<SystemTime>, ready_at: SystemTime, now: SystemTime) -> &'static str {
        if deleting_since.is_some_and(|d| now >= d) {
            "deleting"
        } else if now < ready_at {
            "creating"
        } else {
            "available"
        }
    }

    pub fn cluster_status(&self, c: &Cluster, now: SystemTime) -> &'static str {
        Self::lifecycle_status(c.deleting_since, c.ready_at, now)
    }

    pub fn instance_status(&self, i: &Instance, now: SystemTime) -> &'static str {
        Self::lifecycle_status(i.deleting_since, i.ready_at, now)
    }

    pub fn snapshot_status(&self, s: &Snapshot, now: SystemTime) -> &'static str {
        if now < s.ready_at { s.pending_status } else { "available" }
    }

    /// The clusters of `region` that exist at `now`.
    pub fn live_clusters(&self, region: &str, now: SystemTime) -> Vec<&Cluster> {
        self.clusters.values().filter(|c| c.key.region == region && Self::exists(c.gone_at, now)).collect()
    }

    pub fn live_instances(&self, region: &str, cluster: &str, now: SystemTime) -> Vec<&Instance> {
        self.instances
            .values()
            .filter(|i| i.region == region && i.cluster == cluster && Self::exists(i.gone_at, now))
            .collect()
    }

    pub fn instances_in(&self, region: &str, now: SystemTime) -> Vec<&Instance> {
        self.instances.values().filter(|i| i.region == region && Self::exists(i.gone_at, now)).collect()
    }

    pub fn snapshots_in(&self, region: &str, now: SystemTime) -> Vec<&Snapshot> {
        self.snapshots
            .values()
            .filter(|s| s.region == region && now >= s.visible_at && s.expires_at.is_none_or(|e| now < e))
            .collect()
    }

    /// Finds a cluster of `region` by identifier or ARN (identifiers are case-insensitive).
    pub fn find_cluster(&self, region: &str, ident: &str, now: SystemTime) -> Option<&Cluster> {
        let key = self.resolve_cluster(ident).filter(|k| k.region == region)?;
        self.clusters.get(&key).filter(|c| Self::exists(c.gone_at, now))
    }

    /// The cluster an identifier names: an ARN (any Region), or an id (looked up in every
    /// Region, which callers narrow to their own).
    fn resolve_cluster(&self, ident: &str) -> Option<ClusterRef> {
        if let Some(rest) = ident.strip_prefix("arn:aws:rds:") {
            let mut parts = rest.splitn(4, ':');
            let region = parts.next()?;
            let _account = parts.next()?;
            let id = parts.next().filter(|k| *k == "cluster").and(parts.next())?;
            return Some(ClusterRef::new(region, id.to_ascii_lowercase()));
        }
        let id = ident.to_ascii_lowercase();
        self.clusters.keys().find(|k| k.cluster == id).cloned()
    }

    fn resolve_cluster_in(&self, region: &str, ident: &str) -> ClusterRef {
        if ident.starts_with("arn:") {
            self.resolve_cluster(ident).unwrap_or_else(|| ClusterRef::new(region, ident))
        } else {
            ClusterRef::new(region, ident.to_ascii_lowercase())
        }
    }

    /// The live cluster of `region` that `ident` (identifier or ARN) names, or
    /// `DBClusterNotFoundFault`.
    fn cluster_in(&self, region: &str, ident: &str, now: SystemTime) -> Result<&Cluster, ApiError> {
        let key = self.resolve_cluster_in(region, ident);
        self.find_cluster(region, &key.cluster, now)
            .ok_or_else(|| err(404, "DBClusterNotFoundFault", format!("DBCluster {ident} not found.")))
    }

    /// The snapshot of `region` with the identifier `id`, once it is available;
    /// `DBClusterSnapshotNotFoundFault` naming `ident` (what the caller asked for) or
    /// `InvalidDBClusterSnapshotStateFault`.
    fn available_snapshot(&self, region: &str, id: &str, ident: &str, now: SystemTime) -> Result<Snapshot, ApiError> {
        let snap =
            self.snapshots_in(region, now).into_iter().find(|s| s.id.eq_ignore_ascii_case(id)).cloned().ok_or_else(
                || err(404, "DBClusterSnapshotNotFoundFault", format!("DBClusterSnapshot {ident} not found.")),
            )?;
        if self.snapshot_status(&snap, now) != "available" {
            return Err(err(
                400,
                "InvalidDBClusterSnapshotStateFault",
                format!("DBClusterSnapshot {} is not available.", snap.id),
            ));
        }
        Ok(snap)
    }

    /// The FailoverState status at `now`, if an operation is in progress.
    pub fn failover_status(&self, op: &GlobalOp, now: SystemTime) -> &'static str {
        if now < op.active_at {
            "pending"
        } else {
            match op.kind {
                OpKind::Switchover => "switching-over",
                OpKind::Failover => "failing-over",
            }
        }
    }

    pub fn global_status(&self, g: &GlobalCluster, now: SystemTime) -> &'static str {
        match &g.op {
            Some(op) if now >= op.active_at => self.failover_status(op, now),
            _ => "available",
        }
    }

    /// `connected` or `pending-resync` for a member.
    pub fn synchronization_status(&self, c: &Cluster) -> &'static str {
        if c.role == Role::Detached { "pending-resync" } else { "connected" }
    }

    #[allow(clippy::too_many_arguments)]
    fn add_event(
        &mut self,
        region: &str,
        source_type: &str,
        source_id: &str,
        arn: &str,
        msg: String,
        cat: &[&str],
        at: SystemTime,
    ) {
        self.events.push(Event {
            region: region.to_string(),
            source_id: source_id.to_string(),
            source_type: source_type.to_string(),
            source_arn: arn.to_string(),
            message: msg,
            categories: cat.iter().map(|s| s.to_string()).collect(),
            date: at,
        });
    }

    fn cluster_event(&mut self, key: &ClusterRef, msg: String, cat: &[&str], at: SystemTime) {
        let arn = self.cluster_arn(&key.region, &key.cluster);
        self.add_event(&key.region, "db-cluster", &key.cluster, &arn, msg, cat, at);
    }

    // ----- global operations -----

    fn global_and_target(&self, global: &str, target: &str, now: SystemTime) -> Result<(String, ClusterRef), ApiError> {
        let gid = global.to_ascii_lowercase();
        let g = self
            .globals
            .get(&gid)
            .ok_or_else(|| err(404, "GlobalClusterNotFoundFault", format!("Global cluster {global} not found.")))?;
        let key = self
            .resolve_cluster(target)
            .filter(|k| self.clusters.get(k).is_some_and(|c| Self::exists(c.gone_at, now)))
            .ok_or_else(|| err(404, "DBClusterNotFoundFault", format!("DBCluster {target} not found.")))?;
        if !g.members.contains(&key) {
            return Err(err(
                400,
                "InvalidGlobalClusterStateFault",
                format!("DB cluster {target} is not a member of global cluster {global}."),
            ));
        }
        Ok((gid, key))
    }

    /// The checks shared by switchover and managed failover.
    fn common_checks(&self, gid: &str, target: &ClusterRef, now: SystemTime) -> Result<(), ApiError> {
        let g = &self.globals[gid];
        if let Some(op) = &g.op {
            return Err(err(
                400,
                "InvalidGlobalClusterStateFault",
                format!(
                    "Global cluster {} is in the middle of a {} to {} ({}).",
                    g.id,
                    if op.kind == OpKind::Switchover { "switchover" } else { "failover" },
                    self.cluster_arn(&op.to.region, &op.to.cluster),
                    self.failover_status(op, now)
                ),
            ));
        }
        if &g.writer == target {
            return Err(err(
                400,
                "InvalidGlobalClusterStateFault",
                format!("DB cluster {} is already the primary cluster of global cluster {}.", target.cluster, g.id),
            ));
        }
        let writer = &self.clusters[&g.writer];
        let tc = &self.clusters[target];
        let (a, b) = (engine_major_minor(&writer.engine_version), engine_major_minor(&tc.engine_version));
        if a != b {
            return Err(err(
                400,
                "InvalidGlobalClusterStateFault",
                format!(
                    "The primary ({}) and the target ({}) must run the same major and minor engine version.",
                    writer.engine_version, tc.engine_version
                ),
            ));
        }
        if tc.role == Role::Detached {
            return Err(err(
                400,
                "InvalidDBClusterStateFault",
                format!("DB cluster {} is waiting to be resynchronized (pending-resync).", target.cluster),
            ));
        }
        if self.cluster_status(tc, now) != "available" {
            return Err(err(
                400,
                "InvalidDBClusterStateFault",
                format!("DB cluster {} is not available.", target.cluster),
            ));
        }
        let has_instance = self
            .live_instances(&target.region, &target.cluster, now)
            .iter()
            .any(|i| self.instance_status(i, now) == "available");
        if !has_instance {
            return Err(err(
                400,
                "InvalidDBClusterStateFault",
                format!("DB cluster {} has no available DB instance to promote.", target.cluster),
            ));
        }
        Ok(())
    }

    /// `SwitchoverGlobalCluster` (and `FailoverGlobalCluster` without `AllowDataLoss`).
    pub fn switchover(
        &mut self,
        global: &str,
        target: &str,
        sync: SyncInfo,
        now: SystemTime,
    ) -> Result<Vec<Effect>, ApiError> {
        let (gid, key) = self.global_and_target(global, target, now)?;
        self.common_checks(&gid, &key, now)?;
        let g = &self.globals[&gid];
        for m in &g.members {
            let c = &self.clusters[m];
            let unavailable = self.down.contains_key(&m.region)
                || c.role == Role::Detached
                || self.cluster_status(c, now) != "available";
            if unavailable {
                return Err(err(
                    400,
                    "InvalidGlobalClusterStateFault",
                    format!("Global cluster {gid} is not healthy: member {} is not available.", m.cluster),
                ));
            }
        }
        let lag = sync.lag.ok_or_else(|| {
            err(
                400,
                "InvalidGlobalClusterStateFault",
                format!("DB cluster {} is not synchronized with the primary.", key.cluster),
            )
        })?;
        if let Some(max) = self.switchover_max_lag.filter(|max| lag > *max) {
            return Err(err(
                400,
                "InvalidGlobalClusterStateFault",
                format!("Replication lag of {} ({} ms) exceeds {} ms.", key.cluster, lag.as_millis(), max.as_millis()),
            ));
        }
        let duration = self.timings.switchover + lag;
        self.start_op(&gid, OpKind::Switchover, key.clone(), duration, now);
        let from = self.globals[&gid].writer.clone();
        let target_arn = self.cluster_arn(&key.region, &key.cluster);
        for c in [&from, &key] {
            let msg = format!("Global switchover to DB cluster {target_arn} in Region {} started.", key.region);
            self.cluster_event(c, msg, &["global-switchover"], now);
        }
        Ok(vec![Effect::BeginSwitchover { global: gid, at: now }])
    }

    /// `FailoverGlobalCluster` with `AllowDataLoss`: promotes the target even with the
    /// old primary's Region down.
    pub fn failover(&mut self, global: &str, target: &str, now: SystemTime) -> Result<Vec<Effect>, ApiError> {
        let (gid, key) = self.global_and_target(global, target, now)?;
        self.common_checks(&gid, &key, now)?;
        let duration = self.timings.failover;
        self.start_op(&gid, OpKind::Failover, key.clone(), duration, now);
        let from = self.globals[&gid].writer.clone();
        let target_arn = self.cluster_arn(&key.region, &key.cluster);
        let from_arn = self.cluster_arn(&from.region, &from.cluster);
        self.cluster_event(
            &key,
            format!("Global failover to DB cluster {target_arn} in Region {} started.", key.region),
            &["global-failover"],
            now,
        );
        // Aurora records the fencing outcome on the old primary when it can reach it,
        // otherwise on the new primary.
        if self.down.contains_key(&from.region) {
            self.cluster_event(
                &key,
                format!(
                    "Write fencing of the old primary DB cluster {from_arn} timed out: its writes could not be stopped."
                ),
                &["global-failover"],
                now,
            );
        } else {
            self.cluster_event(
                &from,
                format!("Writes on DB cluster {from_arn} were stopped (write fencing) for the global failover."),
                &["global-failover"],
                now,
            );
        }
        Ok(vec![Effect::BeginFailover { global: gid, target: key, at: now }])
    }

    fn start_op(&mut self, gid: &str, kind: OpKind, to: ClusterRef, duration: Duration, now: SystemTime) {
        let stalled = self.stall_operations;
        let pending = self.timings.pending.min(duration);
        let g = self.globals.get_mut(gid).expect("checked by the caller");
        g.op = Some(GlobalOp {
            kind,
            from: g.writer.clone(),
            to,
            started: now,
            active_at: now + pending,
            completes_at: (!stalled).then_some(now + duration),
            duration,
        });
    }

    /// Sets or lifts the "failover that stalls" fault; lifting it lets a stalled operation
    /// finish its planned duration from `now`.
    pub fn set_stall(&mut self, stall: bool, now: SystemTime) {
        self.stall_operations = stall;
        for g in self.globals.values_mut() {
            if let Some(op) = g.op.as_mut() {
                op.completes_at = if stall { None } else { op.completes_at.or(Some(now + op.duration)) };
            }
        }
    }

    // ----- the clock -----

    /// The earliest pending deadline (an operation completing, a rejoin).
    pub fn next_deadline(&self) -> Option<SystemTime> {
        let ops = self.globals.values().filter_map(|g| g.op.as_ref().and_then(|o| o.completes_at));
        let rejoins = self.clusters.values().filter_map(|c| c.rejoin_at);
        ops.chain(rejoins).min()
    }

    /// Processes every deadline at or before `t` (the caller has caught the data up to the
    /// earliest of them, see [`RdsModel::next_deadline`]).
    pub fn fire(&mut self, t: SystemTime) -> Vec<Effect> {
        let mut effects = Vec::new();
        let gids: Vec<String> = self.globals.keys().cloned().collect();
        for gid in gids {
            let due = self.globals[&gid].op.as_ref().and_then(|o| o.completes_at).filter(|c| *c <= t);
            if let Some(at) = due {
                effects.extend(self.complete_op(&gid, at));
            }
        }
        let rejoins: Vec<(ClusterRef, SystemTime)> = self
            .clusters
            .values()
            .filter_map(|c| c.rejoin_at.filter(|r| *r <= t).map(|r| (c.key.clone(), r)))
            .collect();
        for (key, at) in rejoins {
            effects.extend(self.complete_rejoin(&key, at));
        }
        effects
    }

    fn complete_op(&mut self, gid: &str, at: SystemTime) -> Vec<Effect> {
        let Some(op) = self.globals.get_mut(gid).and_then(|g| g.op.take()) else { return Vec::new() };
        let g = self.globals.get_mut(gid).expect("exists");
        g.writer = op.to.clone();
        if let Some(c) = self.clusters.get_mut(&op.to) {
            c.role = Role::Writer;
            g.engine_version = c.engine_version.clone();
        }
        let to_arn = self.cluster_arn(&op.to.region, &op.to.cluster);
        let mut effects = Vec::new();
        match op.kind {
            OpKind::Switchover => {
                if let Some(c) = self.clusters.get_mut(&op.from) {
                    c.role = Role::Secondary;
                }
                for c in [&op.from, &op.to] {
                    let msg = format!("Global switchover to DB cluster {to_arn} in Region {} completed.", op.to.region);
                    self.cluster_event(c, msg, &["global-switchover"], at);
                }
                effects.push(Effect::CompleteSwitchover { global: gid.to_string(), target: op.to.clone(), at });
            }
            OpKind::Failover => {
                if let Some(c) = self.clusters.get_mut(&op.from) {
                    c.role = Role::Detached;
                }
                let msg = format!("Global failover to DB cluster {to_arn} in Region {} completed.", op.to.region);
                self.cluster_event(&op.to, msg, &["global-failover"], at);
                effects.push(Effect::CompleteFailover { global: gid.to_string(), target: op.to.clone(), at });
                if !self.down.contains_key(&op.from.region) {
                    // The old primary is reachable: Aurora rebuilds it right away.
                    effects.extend(self.schedule_recovery(&op.from, at));
                }
            }
        }
        effects
    }

    /// The old primary's Region is back (or was never gone): attempt the snapshot of the
    /// old volume, then rebuild the cluster as a secondary.
    fn schedule_recovery(&mut self, key: &ClusterRef, at: SystemTime) -> Vec<Effect> {
        let Some(c) = self.clusters.get(key).cloned() else { return Vec::new() };
        if c.role != Role::Detached || c.rejoin_at.is_some() {
            return Vec::new();
        }
        let mut effects = Vec::new();
        if let Some(delay) = self.timings.snapshot_after_recovery {
            let visible = at + delay;
            let stamp = time::OffsetDateTime::from(visible)
                .format(time::macros::format_description!("[year]-[month]-[day]-[hour]-[minute]"))
                .unwrap_or_default();
            let id = format!("rds:unplanned-global-failover-{}-{stamp}", c.key.cluster);
            let arn = self.snapshot_arn(&key.region, &id);
            self.snapshots.insert(
                (key.region.clone(), id.clone()),
                Snapshot {
                    region: key.region.clone(),
                    id: id.clone(),
                    arn: arn.clone(),
                    cluster: c.key.cluster.clone(),
                    cluster_resource_id: c.resource_id.clone(),
                    snapshot_type: "automated".into(),
                    engine: c.engine.clone(),
                    engine_version: c.engine_version.clone(),
                    port: c.port,
                    master_username: c.master_username.clone(),
                    cluster_created: c.created,
                    visible_at: visible,
                    ready_at: visible,
                    created: visible,
                    expires_at: Some(visible + self.timings.system_snapshot_retention),
                    source_arn: None,
                    kms_key_id: c.kms_key_id.clone(),
                    pending_status: "creating",
                    schema: c.schema,
                },
            );
            self.add_event(
                &key.region,
                "db-cluster-snapshot",
                &id,
                &arn,
                format!("Automated snapshot of the old primary DB cluster {} created.", c.key.cluster),
                &["backup"],
                visible,
            );
            effects.push(Effect::CaptureSnapshot {
                cluster: key.clone(),
                snapshot: Self::snapshot_data_key(&key.region, &id),
                at,
            });
        }
        if let Some(c) = self.clusters.get_mut(key) {
            c.rejoin_at = Some(at + self.timings.rejoin_after_recovery);
        }
        effects
    }

    fn complete_rejoin(&mut self, key: &ClusterRef, at: SystemTime) -> Vec<Effect> {
        let Some(c) = self.clusters.get_mut(key) else { return Vec::new() };
        c.rejoin_at = None;
        c.role = Role::Secondary;
        let Some(gid) = c.global.clone() else { return Vec::new() };
        let msg = format!("DB cluster {} rejoined global cluster {gid} as a secondary cluster.", key.cluster);
        self.cluster_event(key, msg, &["global-failover"], at);
        vec![Effect::Rejoin { global: gid, cluster: key.clone(), at }]
    }

    /// A Region went down at `at`.
    pub fn region_failed(&mut self, region: &str, at: SystemTime) {
        self.down.entry(region.to_string()).or_insert(at);
    }

    /// A Region came back at `at`: each old primary there is snapshotted and rebuilt.
    pub fn region_recovered(&mut self, region: &str, at: SystemTime) -> Vec<Effect> {
        self.down.remove(region);
        let detached: Vec<ClusterRef> = self
            .clusters
            .values()
            .filter(|c| c.key.region == region && c.role == Role::Detached)
            .map(|c| c.key.clone())
            .collect();
        detached.iter().flat_map(|k| self.schedule_recovery(k, at)).collect()
    }

    // ----- snapshots, restore, instances, deletion -----

    /// `CopyDBClusterSnapshot` into `region` (the source may be an ARN in the other Region).
    pub fn copy_snapshot(
        &mut self,
        region: &str,
        source: &str,
        target: &str,
        kms_key_id: Option<String>,
        now: SystemTime,
    ) -> Result<(Snapshot, Vec<Effect>), ApiError> {
        let (src_region, src_id) = match source.strip_prefix("arn:aws:rds:") {
            Some(rest) => {
                let parts: Vec<&str> = rest.splitn(4, ':').collect();
                match parts.as_slice() {
                    [r, _, "cluster-snapshot", id] => (r.to_string(), id.to_string()),
                    _ => {
                        return Err(err(
                            400,
                            "InvalidParameterValue",
                            format!("{source} is not a DB cluster snapshot ARN."),
                        ));
                    }
                }
            }
            None => (region.to_string(), source.to_string()),
        };
        let not_found = || err(404, "DBClusterSnapshotNotFoundFault", format!("DBClusterSnapshot {source} not found."));
        if src_region != region && self.down.contains_key(&src_region) {
            return Err(not_found());
        }
        let src = self.available_snapshot(&src_region, &src_id, source, now)?;
        let id = target.to_ascii_lowercase();
        if self.snapshots.get(&(region.to_string(), id.clone())).is_some_and(|s| s.expires_at.is_none_or(|e| now < e)) {
            return Err(err(
                400,
                "DBClusterSnapshotAlreadyExistsFault",
                format!("Cannot create the snapshot because a snapshot with the identifier {id} already exists."),
            ));
        }
        let arn = self.snapshot_arn(region, &id);
        let snap = Snapshot {
            region: region.to_string(),
            id: id.clone(),
            arn,
            snapshot_type: "manual".into(),
            visible_at: now,
            ready_at: now + self.timings.snapshot_copy,
            created: src.created,
            expires_at: None,
            source_arn: Some(src.arn.clone()),
            kms_key_id: kms_key_id.or(src.kms_key_id.clone()),
            pending_status: "copying",
            ..src.clone()
        };
        self.snapshots.insert((region.to_string(), id.clone()), snap.clone());
        let from = Self::snapshot_data_key(&src.region, &src.id);
        let to = Self::snapshot_data_key(region, &id);
        Ok((snap, vec![Effect::CopySnapshot { from, to }]))
    }

    /// `RestoreDBClusterFromSnapshot` in `region`.
    #[allow(clippy::too_many_arguments)]
    pub fn restore(
        &mut self,
        region: &str,
        cluster: &str,
        snapshot: &str,
        engine: &str,
        engine_version: Option<String>,
        subnet_group: Option<String>,
        security_groups: Vec<String>,
        kms_key_id: Option<String>,
        now: SystemTime,
    ) -> Result<(Cluster, Vec<Effect>), ApiError> {
        let id = cluster.to_ascii_lowercase();
        let key = ClusterRef::new(region, &id);
        if self.clusters.get(&key).is_some_and(|c| Self::exists(c.gone_at, now)) {
            return Err(err(400, "DBClusterAlreadyExistsFault", format!("DB Cluster already exists: {id}")));
        }
        let snap_id = match snapshot.strip_prefix("arn:aws:rds:") {
            Some(rest) => rest.splitn(4, ':').nth(3).unwrap_or(snapshot).to_string(),
            None => snapshot.to_string(),
        };
        let snap = self.available_snapshot(region, &snap_id, snapshot, now)?;
        if !engine.eq_ignore_ascii_case(&snap.engine) {
            return Err(err(
                400,
                "InvalidParameterCombination",
                format!("Engine {engine} does not match the snapshot's engine {}.", snap.engine),
            ));
        }
        let c = Cluster {
            key: key.clone(),
            arn: self.cluster_arn(region, &id),
            resource_id: format!(
                "cluster-{:026X}",
                failover_core::stable_hash(&format!("{key}/{}", snap.id)) as u128 * 7919
            ),
            engine: snap.engine.clone(),
            engine_version: engine_version.unwrap_or(snap.engine_version.clone()),
            global: None,
            role: Role::Standalone,
            created: now,
            ready_at: now + self.timings.restore,
            deleting_since: None,
            gone_at: None,
            database_name: self
                .globals
                .values()
                .find(|g| g.schema == snap.schema)
                .map(|g| g.database_name.clone())
                .unwrap_or_default(),
            master_username: snap.master_username.clone(),
            port: snap.port,
            backup_retention_days: 1,
            kms_key_id: kms_key_id.or(snap.kms_key_id.clone()),
            db_subnet_group: subnet_group,
            vpc_security_groups: security_groups,
            rejoin_at: None,
            schema: snap.schema,
            master_user_secret: None,
            serverless_v2: None,
        };
        self.clusters.insert(key.clone(), c.clone());
        self.cluster_event(
            &key,
            format!("DB cluster {id} restored from snapshot {}.", snap.id),
            &["creation"],
            c.ready_at,
        );
        Ok((c, vec![Effect::Restore { snapshot: Self::snapshot_data_key(region, &snap.id), cluster: key }]))
    }

    /// `CreateDBInstance` in a cluster.
    pub fn create_instance(
        &mut self,
        region: &str,
        id: &str,
        cluster: &str,
        class: &str,
        now: SystemTime,
    ) -> Result<Instance, ApiError> {
        let id = id.to_ascii_lowercase();
        if self.instances.get(&(region.to_string(), id.clone())).is_some_and(|i| Self::exists(i.gone_at, now)) {
            return Err(err(400, "DBInstanceAlreadyExists", format!("DB instance already exists: {id}")));
        }
        let c = self.cluster_in(region, cluster, now)?;
        if self.cluster_status(c, now) == "deleting" {
            return Err(err(
                400,
                "InvalidDBClusterStateFault",
                format!("DB cluster {} is being deleted.", c.key.cluster),
            ));
        }
        // An instance added while the cluster is still being created is ready when both are.
        let ready = (now + self.timings.create_instance).max(c.ready_at);
        let cluster_id = c.key.cluster.clone();
        self.insert_instance(region, &id, &cluster_id, class, now, ready);
        let arn = self.instance_arn(region, &id);
        self.add_event(region, "db-instance", &id, &arn, "DB instance created".into(), &["creation"], ready);
        Ok(self.instances[&(region.to_string(), id)].clone())
    }

    /// `DeleteDBInstance`.
    pub fn delete_instance(&mut self, region: &str, id: &str, now: SystemTime) -> Result<Instance, ApiError> {
        let key = (region.to_string(), id.to_ascii_lowercase());
        let not_found = || err(404, "DBInstanceNotFound", format!("DBInstance {id} not found."));
        let i = self.instances.get(&key).filter(|i| Self::exists(i.gone_at, now)).cloned().ok_or_else(not_found)?;
        if i.deleting_since.is_some() {
            return Err(err(400, "InvalidDBInstanceState", format!("Instance {} is already being deleted.", i.id)));
        }
        let cluster = ClusterRef::new(region, &i.cluster);
        let is_global_writer = self.globals.values().any(|g| g.writer == cluster)
            && self.live_instances(region, &i.cluster, now).iter().filter(|x| x.deleting_since.is_none()).count() == 1;
        if is_global_writer {
            return Err(err(
                400,
                "InvalidDBClusterStateFault",
                format!("Cannot delete the last instance of the primary cluster {} of a global cluster.", i.cluster),
            ));
        }
        let gone = now + self.timings.delete_instance;
        let entry = self.instances.get_mut(&key).expect("found above");
        entry.deleting_since = Some(now);
        entry.gone_at = Some(gone);
        let out = entry.clone();
        self.add_event(region, "db-instance", &out.id, &out.arn, "DB instance deleted".into(), &["deletion"], gone);
        Ok(out)
    }

    /// `DeleteDBCluster`: refused while it has instances that are not being deleted, or
    /// while it belongs to a global cluster.
    pub fn delete_cluster(
        &mut self,
        region: &str,
        ident: &str,
        now: SystemTime,
    ) -> Result<(Cluster, Vec<Effect>), ApiError> {
        let c = self.cluster_in(region, ident, now)?.clone();
        if c.deleting_since.is_some() {
            return Err(err(
                400,
                "InvalidDBClusterStateFault",
                format!("DB cluster {} is already being deleted.", c.key.cluster),
            ));
        }
        if c.global.is_some() {
            return Err(err(
                400,
                "InvalidGlobalClusterStateFault",
                format!("DB cluster {} is a member of a global cluster; remove it first.", c.key.cluster),
            ));
        }
        if self.live_instances(region, &c.key.cluster, now).iter().any(|i| i.deleting_since.is_none()) {
            return Err(err(
                400,
                "InvalidDBClusterStateFault",
                "Cluster cannot be deleted, it still contains DB instances in non-deleting state.",
            ));
        }
        let gone = now + self.timings.delete_cluster;
        let entry = self.clusters.get_mut(&c.key).expect("found above");
        entry.deleting_since = Some(now);
        entry.gone_at = Some(gone);
        let out = entry.clone();
        self.cluster_event(&c.key, "DB cluster deleted".into(), &["deletion"], gone);
        Ok((out, vec![Effect::DropCluster { cluster: c.key }]))
    }

    /// `ModifyDBCluster`, for what the functions change: a managed master password (the
    /// new secret's ARN is returned, for the caller to store in Secrets Manager) and
    /// Serverless v2 capacity. Other parameters are accepted and ignored.
    pub fn modify_cluster(
        &mut self,
        region: &str,
        ident: &str,
        manage_master_password: Option<bool>,
        serverless_v2: Option<(f64, f64)>,
        now: SystemTime,
    ) -> Result<(Cluster, Option<String>), ApiError> {
        let c = self.cluster_in(region, ident, now)?.clone();
        if self.cluster_status(&c, now) != "available" {
            return Err(err(
                400,
                "InvalidDBClusterStateFault",
                format!("DB cluster {} is not available for modification.", c.key.cluster),
            ));
        }
        let mut new_secret = None;
        let account = self.account.clone();
        let delay = self.timings.managed_secret;
        let entry = self.clusters.get_mut(&c.key).expect("found above");
        match manage_master_password {
            Some(true) if entry.master_user_secret.is_none() => {
                let suffix = format!("{:06x}", failover_core::stable_hash(&entry.arn) & 0xff_ffff);
                let arn = format!(
                    "arn:aws:secretsmanager:{region}:{account}:secret:rds!cluster-{}-{suffix}",
                    entry.resource_id.trim_start_matches("cluster-").to_ascii_lowercase()
                );
                entry.master_user_secret = Some(MasterSecret {
                    arn: arn.clone(),
                    kms_key_id: format!("arn:aws:kms:{region}:{account}:alias/aws/secretsmanager"),
                    active_at: now + delay,
                });
                new_secret = Some(arn);
            }
            Some(false) => entry.master_user_secret = None,
            _ => {}
        }
        if serverless_v2.is_some() {
            entry.serverless_v2 = serverless_v2;
        }
        Ok((entry.clone(), new_secret))
    }

    /// The current writer of a global cluster.
    pub fn writer_of(&self, global: &str) -> Option<&ClusterRef> {
        self.globals.get(&global.to_ascii_lowercase()).map(|g| &g.writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000 + s)
    }

    fn model() -> RdsModel {
        let mut m = RdsModel::new("123456789012", Timings::default());
        m.add_global(
            &GlobalSpec {
                id: "orders-global".into(),
                engine: "aurora-mysql".into(),
                members: vec![
                    MemberSpec {
                        region: "us-east-1".into(),
                        cluster: "orders-use1".into(),
                        engine_version: "8.0.mysql_aurora.3.05.2".into(),
                        instances: 2,
                    },
                    MemberSpec {
                        region: "us-west-2".into(),
                        cluster: "orders-usw2".into(),
                        engine_version: "8.0.mysql_aurora.3.05.1".into(),
                        instances: 1,
                    },
                ],
                instance_class: "db.r6g.large".into(),
                database_name: "orders".into(),
                schema: Schema::Orders,
            },
            t(0),
        );
        m
    }

    const TARGET: &str = "arn:aws:rds:us-west-2:123456789012:cluster:orders-usw2";
    const SYNCED: SyncInfo = SyncInfo { lag: Some(Duration::from_secs(1)) };

    fn run_to(m: &mut RdsModel, t: SystemTime) -> Vec<Effect> {
        let mut out = Vec::new();
        while let Some(d) = m.next_deadline().filter(|d| *d <= t) {
            out.extend(m.fire(d));
        }
        out
    }

    #[test]
    fn versions_compare_on_major_and_minor() {
        assert_eq!(engine_major_minor("8.0.mysql_aurora.3.05.2"), "3.05");
        assert_eq!(engine_major_minor("15.4"), "15.4");
        assert_eq!(engine_major_minor("16.1.2"), "16.1");
    }

    #[test]
    fn switchover_goes_pending_switching_over_then_done() {
        let mut m = model();
        let fx = m.switchover("orders-global", TARGET, SYNCED, t(0)).unwrap();
        assert_eq!(fx, vec![Effect::BeginSwitchover { global: "orders-global".into(), at: t(0) }]);
        let g = &m.globals["orders-global"];
        let op = g.op.clone().unwrap();
        assert_eq!(m.failover_status(&op, t(1)), "pending");
        assert_eq!(m.failover_status(&op, t(10)), "switching-over");
        assert_eq!(m.global_status(g, t(10)), "switching-over");
        assert_eq!(op.completes_at, Some(t(91)), "90 s plus the 1 s of lag to drain");
        let e = m.switchover("orders-global", TARGET, SYNCED, t(20)).unwrap_err();
        assert_eq!(e.code, "InvalidGlobalClusterStateFault", "one operation at a time");
        assert!(run_to(&mut m, t(90)).is_empty());
        let fx = run_to(&mut m, t(91));
        assert_eq!(
            fx,
            vec![Effect::CompleteSwitchover {
                global: "orders-global".into(),
                target: ClusterRef::new("us-west-2", "orders-usw2"),
                at: t(91)
            }]
        );
        let g = &m.globals["orders-global"];
        assert!(g.op.is_none());
        assert_eq!(g.writer, ClusterRef::new("us-west-2", "orders-usw2"));
        assert_eq!(m.clusters[&ClusterRef::new("us-east-1", "orders-use1")].role, Role::Secondary);
        assert_eq!(
            m.switchover("orders-global", TARGET, SYNCED, t(100)).unwrap_err().code,
            "InvalidGlobalClusterStateFault"
        );
    }

    #[test]
    fn switchover_refusals() {
        let mut m = model();
        assert_eq!(m.switchover("nope", TARGET, SYNCED, t(0)).unwrap_err().code, "GlobalClusterNotFoundFault");
        assert_eq!(
            m.switchover("orders-global", "arn:aws:rds:us-west-2:123456789012:cluster:nope", SYNCED, t(0))
                .unwrap_err()
                .code,
            "DBClusterNotFoundFault"
        );
        let e = m.switchover("orders-global", TARGET, SyncInfo { lag: None }, t(0)).unwrap_err();
        assert_eq!(e.code, "InvalidGlobalClusterStateFault");
        m.switchover_max_lag = Some(Duration::from_secs(5));
        let e =
            m.switchover("orders-global", TARGET, SyncInfo { lag: Some(Duration::from_secs(30)) }, t(0)).unwrap_err();
        assert!(e.message.contains("30000 ms"), "{}", e.message);
        m.region_failed("us-east-1", t(0));
        assert_eq!(
            m.switchover("orders-global", TARGET, SYNCED, t(0)).unwrap_err().code,
            "InvalidGlobalClusterStateFault"
        );
    }

    #[test]
    fn differing_minor_versions_are_refused_in_both_modes() {
        let mut m = model();
        m.clusters.get_mut(&ClusterRef::new("us-west-2", "orders-usw2")).unwrap().engine_version =
            "8.0.mysql_aurora.3.04.0".into();
        let e = m.switchover("orders-global", TARGET, SYNCED, t(0)).unwrap_err();
        assert!(e.message.contains("3.04.0"), "{}", e.message);
        assert_eq!(m.failover("orders-global", TARGET, t(0)).unwrap_err().code, "InvalidGlobalClusterStateFault");
    }

    #[test]
    fn a_headless_target_needs_an_instance_first() {
        let mut m = model();
        let k = ("us-west-2".to_string(), "orders-usw2-1".to_string());
        m.instances.remove(&k);
        assert_eq!(m.failover("orders-global", TARGET, t(0)).unwrap_err().code, "InvalidDBClusterStateFault");
        let i = m.create_instance("us-west-2", "orders-usw2-new", "orders-usw2", "db.r6g.large", t(0)).unwrap();
        assert_eq!(m.instance_status(&i, t(479)), "creating");
        assert_eq!(m.failover("orders-global", TARGET, t(479)).unwrap_err().code, "InvalidDBClusterStateFault");
        assert!(m.failover("orders-global", TARGET, t(480)).is_ok(), "available after 8 minutes");
    }

    #[test]
    fn failover_with_the_primary_region_down_then_recovery_and_snapshot() {
        let mut m = model();
        m.region_failed("us-east-1", t(0));
        let fx = m.failover("orders-global", TARGET, t(10)).unwrap();
        assert!(matches!(fx[0], Effect::BeginFailover { .. }));
        let g = &m.globals["orders-global"];
        assert_eq!(m.global_status(g, t(20)), "failing-over");
        assert!(g.op.as_ref().is_some_and(|o| o.kind == OpKind::Failover));
        assert!(
            m.events.iter().any(|e| e.region == "us-west-2" && e.message.contains("timed out")),
            "fencing timed out"
        );
        let fx = run_to(&mut m, t(70));
        assert_eq!(fx.len(), 1, "completion only; the old Region is still down: {fx:?}");
        let old = ClusterRef::new("us-east-1", "orders-use1");
        assert_eq!(m.clusters[&old].role, Role::Detached);
        assert_eq!(m.synchronization_status(&m.clusters[&old]), "pending-resync");
        assert!(m.snapshots_in("us-east-1", t(5000)).is_empty(), "no snapshot before the Region recovers");

        let back = "arn:aws:rds:us-east-1:123456789012:cluster:orders-use1";
        assert_eq!(
            m.failover("orders-global", back, t(100)).unwrap_err().code,
            "InvalidDBClusterStateFault",
            "stale data"
        );
        let fx = m.region_recovered("us-east-1", t(1800));
        assert!(matches!(&fx[..], [Effect::CaptureSnapshot { at, .. }] if *at == t(1800)));
        assert!(m.snapshots_in("us-east-1", t(2099)).is_empty(), "the snapshot takes 5 minutes to appear");
        let snaps = m.snapshots_in("us-east-1", t(2100));
        assert_eq!(snaps.len(), 1);
        assert_eq!(snaps[0].snapshot_type, "automated");
        assert!(snaps[0].id.starts_with("rds:unplanned-global-failover-orders-use1-"), "{}", snaps[0].id);
        assert_eq!(m.clusters[&old].role, Role::Detached, "rejoins only after the snapshot");
        let fx = run_to(&mut m, t(1800 + 360));
        assert!(matches!(&fx[..], [Effect::Rejoin { .. }]));
        assert_eq!(m.clusters[&old].role, Role::Secondary);
        assert!(m.snapshots_in("us-east-1", t(2100 + 7 * 86_400)).is_empty(), "system snapshots expire");
    }

    #[test]
    fn a_snapshot_never_taken_still_rejoins() {
        let mut m = model();
        m.timings.snapshot_after_recovery = None;
        m.region_failed("us-east-1", t(0));
        m.failover("orders-global", TARGET, t(0)).unwrap();
        run_to(&mut m, t(60));
        assert!(m.region_recovered("us-east-1", t(100)).is_empty());
        run_to(&mut m, t(10_000));
        assert_eq!(m.clusters[&ClusterRef::new("us-east-1", "orders-use1")].role, Role::Secondary);
        assert!(m.snapshots_in("us-east-1", t(10_000)).is_empty());
    }

    #[test]
    fn a_stalled_failover_never_completes_until_released() {
        let mut m = model();
        m.set_stall(true, t(0));
        m.failover("orders-global", TARGET, t(0)).unwrap();
        assert!(run_to(&mut m, t(100_000)).is_empty());
        assert_eq!(m.global_status(&m.globals["orders-global"], t(100_000)), "failing-over");
        m.set_stall(false, t(100_000));
        assert_eq!(run_to(&mut m, t(100_060)).len(), 2, "completion, and the reachable old primary's recovery");
    }

    #[test]
    fn copy_restore_instance_and_cleanup() {
        let mut m = model();
        m.failover("orders-global", TARGET, t(0)).unwrap();
        let mut fx = run_to(&mut m, t(60));
        fx.extend(run_to(&mut m, t(400)));
        let snap = m.snapshots_in("us-east-1", t(400))[0].clone();
        assert!(fx.iter().any(|e| matches!(e, Effect::CaptureSnapshot { .. })), "{fx:?}");
        let (copy, _) = m.copy_snapshot("us-east-1", &snap.arn, "recovery-copy", None, t(400)).unwrap();
        assert_eq!((copy.snapshot_type.as_str(), m.snapshot_status(&copy, t(400))), ("manual", "copying"));
        assert_eq!(
            m.copy_snapshot("us-east-1", &snap.id, "recovery-copy", None, t(401)).unwrap_err().code,
            "DBClusterSnapshotAlreadyExistsFault"
        );
        assert_eq!(
            m.restore("us-east-1", "rec", "recovery-copy", "aurora-mysql", None, None, vec![], None, t(500))
                .unwrap_err()
                .code,
            "InvalidDBClusterSnapshotStateFault"
        );
        let (c, fx) =
            m.restore("us-east-1", "rec", "recovery-copy", "aurora-mysql", None, None, vec![], None, t(700)).unwrap();
        assert!(matches!(&fx[..], [Effect::Restore { .. }]));
        assert_eq!(m.cluster_status(&c, t(1299)), "creating");
        assert_eq!(m.cluster_status(&c, t(1300)), "available");
        let i = m.create_instance("us-east-1", "rec-1", "rec", "db.r6g.large", t(700)).unwrap();
        assert_eq!(i.ready_at, t(1300).max(t(700 + 480)));
        assert_eq!(m.delete_cluster("us-east-1", "rec", t(1400)).unwrap_err().code, "InvalidDBClusterStateFault");
        m.delete_instance("us-east-1", "rec-1", t(1400)).unwrap();
        assert_eq!(m.delete_instance("us-east-1", "rec-1", t(1401)).unwrap_err().code, "InvalidDBInstanceState");
        m.delete_cluster("us-east-1", "rec", t(1400)).unwrap();
        assert_eq!(m.delete_cluster("us-east-1", "rec", t(1401)).unwrap_err().code, "InvalidDBClusterStateFault");
        assert_eq!(m.delete_cluster("us-east-1", "rec", t(1460)).unwrap_err().code, "DBClusterNotFoundFault");
        assert_eq!(m.delete_instance("us-east-1", "rec-1", t(1460)).unwrap_err().code, "DBInstanceNotFound");
    }
}
