//! The RDS model: global clusters, member clusters, instances, cluster snapshots and events,
//! as plain data moved by requests and by the simulated clock. No I/O and no wall clock.
//!
//! Statuses that only depend on time (an instance `creating` until `ready_at`, a snapshot
//! `copying` until `ready_at`, a `FailoverState` `pending` before `active_at`) are derived
//! from `now` when read. Transitions that move data (a failover completing, the old primary
//! rejoining) are deadlines: [`RdsModel::next_deadline`] tells the caller when the next one
//! is due, and [`RdsModel::fire`] processes it and returns the [`Effect`]s the data layer
//! must carry out, in time order with the workload.
//!
//! This file holds the types, the set-up and the reads; `model/operations.rs` the global
//! switchovers and failovers and the clock, `model/resources.rs` snapshots, restores,
//! instances, modification and deletion.

mod operations;
mod resources;

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

/// The ARN of the Secrets Manager secret RDS keeps the master password of `cluster` in
/// (`ManageMasterUserPassword`): `rds!cluster-<resource id>-<suffix>`, in its Region.
pub fn managed_secret_arn(account: &str, cluster: &Cluster) -> String {
    let suffix = format!("{:06x}", failover_core::stable_hash(&cluster.arn) & 0xff_ffff);
    format!(
        "arn:aws:secretsmanager:{}:{account}:secret:rds!cluster-{}-{suffix}",
        cluster.key.region,
        cluster.resource_id.trim_start_matches("cluster-").to_ascii_lowercase()
    )
}

/// The whole simulated RDS of the Region pair.
#[derive(Debug, Clone)]
pub struct RdsModel {
    pub account: String,
    pub timings: Timings,
    /// Refuse a switchover when the lag exceeds this (AWS does not; `None` by default:
    /// the switchover just takes longer, by the lag).
    pub switchover_max_lag: Option<Duration>,
    /// How many more DB clusters each Region's account may create (restores count);
    /// `None`: no quota in the way. Past it RDS answers `DBClusterQuotaExceededFault`.
    pub cluster_quota: Option<usize>,
    /// The "failover that stalls" fault: operations started while set never complete.
    pub stall_operations: bool,
    /// Global clusters (lower case) whose switchover and failover RDS refuses with
    /// `InvalidGlobalClusterStateFault` (a fault: another operation holds the global
    /// cluster), while the others move.
    pub refuse_moves: std::collections::BTreeSet<String>,
    /// Global clusters (lower case) whose switchovers and failovers are accepted and then
    /// never complete (the "failover that stalls" fault for one global cluster).
    pub stall_globals: std::collections::BTreeSet<String>,
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
            cluster_quota: None,
            stall_operations: false,
            refuse_moves: Default::default(),
            stall_globals: Default::default(),
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
                resource_id: format!("cluster-{:026X}", failover_core::stable_hash(format!("{key}")) as u128 * 7919),
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
                schema: spec.schema.clone(),
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
                schema: spec.schema.clone(),
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
                    failover_core::stable_hash(format!("{region}/{id}")) as u128 * 15_485_863
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

    /// The current writer of a global cluster.
    pub fn writer_of(&self, global: &str) -> Option<&ClusterRef> {
        self.globals.get(&global.to_ascii_lowercase()).map(|g| &g.writer)
    }
}

#[cfg(test)]
mod tests;
