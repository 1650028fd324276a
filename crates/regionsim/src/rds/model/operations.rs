//! Global switchovers and failovers, and the clock that completes them: deadlines fired
//! in time order, Regions failing and recovering, old primaries snapshotted and rejoined.

use std::time::{Duration, SystemTime};

use super::{Effect, GlobalOp, OpKind, RdsModel, Role, Snapshot, SyncInfo, engine_major_minor, err};
use crate::data::ClusterRef;
use crate::server::ApiError;

impl RdsModel {
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
        self.refused_move(&gid)?;
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
    /// The `refuse_moves` fault.
    fn refused_move(&self, gid: &str) -> Result<(), ApiError> {
        if self.refuse_moves.contains(&gid.to_ascii_lowercase()) {
            return Err(err(
                400,
                "InvalidGlobalClusterStateFault",
                format!("Global cluster {gid} is in a state that does not allow this operation."),
            ));
        }
        Ok(())
    }

    pub fn failover(&mut self, global: &str, target: &str, now: SystemTime) -> Result<Vec<Effect>, ApiError> {
        let (gid, key) = self.global_and_target(global, target, now)?;
        self.common_checks(&gid, &key, now)?;
        self.refused_move(&gid)?;
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
        let stalled = self.stall_operations || self.stall_globals.contains(&gid.to_ascii_lowercase());
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
                    schema: c.schema.clone(),
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
}
