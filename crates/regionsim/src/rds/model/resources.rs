//! Cluster snapshots (copy), restores, instances, modification and deletion.

use std::time::SystemTime;

use super::{Cluster, Effect, Instance, MasterSecret, RdsModel, Role, Snapshot, err};
use crate::data::ClusterRef;
use crate::server::ApiError;

impl RdsModel {
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
        if let Some(quota) = self.cluster_quota {
            let restored = self
                .clusters
                .values()
                .filter(|c| c.key.region == region && c.role == Role::Standalone && Self::exists(c.gone_at, now))
                .count();
            if restored >= quota {
                return Err(err(
                    400,
                    "DBClusterQuotaExceededFault",
                    format!("Cannot create more than {quota} additional DB clusters in {region} (quota exceeded)."),
                ));
            }
        }
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
                failover_core::stable_hash(format!("{key}/{}", snap.id)) as u128 * 7919
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
            schema: snap.schema.clone(),
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
                let arn = super::managed_secret_arn(&account, entry);
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
}
