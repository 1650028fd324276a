//! `snapshot-restore`: the old primary's snapshot, found, copied, restored, checked and
//! cleaned up (the recovery machine, after an unplanned failover).
//!
//! [`handle`] runs one [`SnapshotAction`]. Every resource it creates is named after the
//! database and the recovery execution ([`failover_core::contract::snapshot::names`]), and
//! every action looks for its resource before creating it, so a retried or redriven task
//! repeats no mutation.
//!
//! * `find` looks in the old Region for the newest `rds:unplanned-global-failover-<old
//!   cluster>-*` snapshot taken after the failover began. Aurora only attempts it, once the
//!   old Region is back: until then `NotYet` (or `Transient` while the Region does not
//!   answer). Once the old cluster has rejoined the global cluster as a secondary with no
//!   such snapshot, it never will appear: `SnapshotUnavailable`, with the lag at the
//!   failover as the exposure. It also returns the old cluster's RDS events since the
//!   failover, the write-fencing ones marked, for the report.
//! * `copy` copies it to a manual snapshot (a system snapshot expires with the old
//!   cluster's backup retention): in the old Region, or, when the plan restores in the
//!   target Region, across to it (the call then runs in the destination Region and
//!   encrypts with the destination's KMS key).
//! * `restore` restores the copy into the recovery cluster, in the plan's subnet group and
//!   security groups, then creates its instance (class or serverless v2 from the plan).
//! * `check` answers `NotYet` until cluster and instance are available and the master
//!   password is managed (below); then the endpoint, port, engine and secret.
//! * `cleanup` deletes the recovery instance and cluster, without a final snapshot, unless
//!   the plan keeps them. The copy stays: it is the evidence the report was built from.
//!
//! # How the report connects to the recovery cluster
//!
//! Decision: **an RDS-managed master password**, not IAM database authentication. The
//! restored cluster keeps the old primary's users and passwords as they were in the
//! snapshot, which may no longer match any secret we hold (rotation), and IAM
//! authentication would work only for a database user that was prepared for it before the
//! disaster. Instead `check`, once the cluster is available, calls `ModifyDBCluster` with
//! `ManageMasterUserPassword` (the SDK's `RestoreDBClusterFromSnapshot` has no such
//! parameter): RDS sets a new master password and keeps it in a Secrets Manager secret in
//! the recovery Region, whose ARN `check` returns as `master_user_secret_arn`. That needs
//! nothing prepared in the database, works for both engines, and the secret is deleted with
//! the cluster. The diff engine reads through it in read-only transactions only; the new
//! primary is still read through its reader endpoint with the plan's own credentials.

use std::time::{Duration, SystemTime};

use aws_sdk_rds::types::{DbClusterSnapshot, SourceType};
use aws_smithy_types::DateTime;
use failover_core::contract::aurora::cluster_id_of_arn;
use failover_core::contract::snapshot::{
    MAX_EVENTS, RdsEvent, RecoveryCluster, RecoveryNames, SnapshotAction, SnapshotInfo, SnapshotRestoreInput,
    SnapshotRestoreOutput,
};
use failover_core::plan::GlobalDatabase;
use failover_core::time_fmt::{parse_rfc3339, rfc3339};
use failover_core::{ErrorKind, StepError};

use crate::aws::{AwsClients, classify};
use crate::rds::{
    NewInstance, create_instance, describe_global_cluster, find_cluster, find_instance, tag, unless_not_found,
};

/// How long `find` waits for the old Region before answering `NotYet`.
pub const FIND_BOUND: Duration = Duration::from_secs(25);

/// The prefix of the snapshot Aurora attempts of the old primary after an unplanned
/// global failover.
pub fn system_snapshot_prefix(old_cluster_id: &str) -> String {
    format!("rds:unplanned-global-failover-{old_cluster_id}-")
}

/// Runs one action of `snapshot-restore`. Bad input changes nothing.
pub async fn handle(input: SnapshotRestoreInput, clients: &AwsClients) -> Result<SnapshotRestoreOutput, StepError> {
    input.validate()?;
    let ctx = Ctx { db: input.global_database()?, names: input.names(), input: &input, clients };
    match input.action {
        SnapshotAction::Find => {
            // The old Region may still be down and may hang rather than refuse: give up in
            // time for the state machine to poll again, well inside the Lambda timeout.
            let region = &input.old_region;
            // An old Region that does not answer (hangs, refuses, 5xx) is the normal state of
            // an outage: the snapshot can only come after it is back, so it is "not yet",
            // polled on the recovery machine's long, growing interval, not a transient error
            // that exhausts a short retry budget.
            match clients.clock.timeout(FIND_BOUND, ctx.find()).await {
                Ok(Err(e)) if e.kind == ErrorKind::Transient => {
                    Err(StepError::not_yet(format!("{region} does not answer yet ({})", e.message)))
                }
                Ok(out) => out,
                Err(_) => Err(StepError::not_yet(format!(
                    "{region} did not answer within {} s; it may still be down",
                    FIND_BOUND.as_secs()
                ))),
            }
        }
        SnapshotAction::Copy => ctx.copy().await,
        SnapshotAction::Restore => ctx.restore().await,
        SnapshotAction::Check => ctx.check().await,
        SnapshotAction::Cleanup => ctx.cleanup().await,
    }
}

struct Ctx<'a> {
    input: &'a SnapshotRestoreInput,
    db: &'a GlobalDatabase,
    names: RecoveryNames,
    clients: &'a AwsClients,
}

fn time_of(t: Option<&DateTime>) -> Option<SystemTime> {
    t.and_then(|t| SystemTime::try_from(*t).ok())
}

fn info(s: &DbClusterSnapshot, region: &str) -> SnapshotInfo {
    SnapshotInfo {
        identifier: s.db_cluster_snapshot_identifier().unwrap_or_default().to_string(),
        arn: s.db_cluster_snapshot_arn().unwrap_or_default().to_string(),
        region: region.to_string(),
        status: s.status().unwrap_or("unknown").to_string(),
        created_at: time_of(s.snapshot_create_time()).map(rfc3339),
        engine_version: s.engine_version().map(str::to_string),
        kms_key_id: s.kms_key_id().map(str::to_string),
    }
}

fn is_code<E>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
    code: &str,
) -> bool
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    classify(e).code == code
}

impl Ctx<'_> {
    fn output(&self, region: &str, changed: bool) -> SnapshotRestoreOutput {
        SnapshotRestoreOutput {
            action: self.input.action,
            database: self.db.name.clone(),
            region: region.to_string(),
            changed,
            snapshot: None,
            events: Vec::new(),
            recovery: None,
            observed_at: self.clients.clock.now_rfc3339(),
        }
    }

    fn old_cluster_arn(&self) -> &str {
        self.db.members.get(&self.input.old_region).map(String::as_str).unwrap_or_default()
    }

    fn failover_started(&self) -> Result<SystemTime, StepError> {
        parse_rfc3339(&self.input.failover_started_at)
            .map_err(|e| StepError::bad_input(format!("failover_started_at: {e}")))
    }

    async fn find(&self) -> Result<SnapshotRestoreOutput, StepError> {
        let region = &self.input.old_region;
        let rds = self.clients.rds.get(region);
        let old_id = cluster_id_of_arn(self.old_cluster_arn());
        let since = self.failover_started()?;
        let prefix = system_snapshot_prefix(old_id);

        let snapshots = list_cluster_snapshots(&rds, old_id, region).await?;
        let newest = snapshots
            .iter()
            .filter(|s| s.db_cluster_snapshot_identifier().is_some_and(|id| id.starts_with(&prefix)))
            .filter_map(|s| time_of(s.snapshot_create_time()).map(|t| (t, s)))
            // One from an earlier failover is not this failover's data.
            .filter(|(t, _)| *t >= since)
            .max_by_key(|(t, _)| *t)
            .map(|(_, s)| s);

        let Some(snapshot) = newest else {
            if let Some(why) = self.rejoined_without_snapshot(&rds, old_id).await? {
                let exposure = match self.input.lag_at_failover_ms {
                    Some(ms) => format!(
                        "the replication lag at the failover was {ms} ms: writes of about that long before it are lost and cannot be listed"
                    ),
                    None => "the replication lag at the failover was not observed".to_string(),
                };
                return Err(StepError::new(
                    ErrorKind::SnapshotUnavailable,
                    format!(
                        "no {prefix}* snapshot in {region} taken after {}, and {why}: it will not appear; {exposure}",
                        self.input.failover_started_at
                    ),
                ));
            }
            return Err(StepError::not_yet(format!(
                "no {prefix}* snapshot in {region} taken after {} yet ({} older or other snapshots of {old_id})",
                self.input.failover_started_at,
                snapshots.len()
            )));
        };
        let found = info(snapshot, region);
        if found.status != "available" {
            return Err(StepError::not_yet(format!(
                "snapshot {} in {region} is `{}` ({}% done)",
                found.identifier,
                found.status,
                snapshot.percent_progress().unwrap_or(0)
            )));
        }
        let events = self.events(&rds, old_id, since).await?;
        tracing::info!(snapshot = %found.identifier, events = events.len(), "old primary snapshot found");
        let mut out = self.output(region, false);
        out.snapshot = Some(found);
        out.events = events;
        Ok(out)
    }

    /// Why the snapshot will never come, when the old cluster is back as a secondary.
    async fn rejoined_without_snapshot(
        &self,
        rds: &aws_sdk_rds::Client,
        old_id: &str,
    ) -> Result<Option<String>, StepError> {
        let region = &self.input.old_region;
        let g = match describe_global_cluster(rds, &self.db.global_cluster, region).await {
            Ok(g) => g,
            // The old Region does not see the global cluster (yet): it has not rejoined.
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let old_arn = self.old_cluster_arn();
        let Some(member) = g
            .global_cluster_members()
            .iter()
            .find(|m| m.db_cluster_arn().is_some_and(|a| a.eq_ignore_ascii_case(old_arn)))
        else {
            return Ok(None);
        };
        let in_flight = g.failover_state().is_some_and(|f| f.status().is_some() || f.to_db_cluster_arn().is_some());
        let syncing = member.synchronization_status().is_some_and(|s| s.as_str() != "connected");
        if member.is_writer() == Some(false) && !in_flight && !syncing && g.status() == Some("available") {
            Ok(Some(format!("cluster {old_id} has rejoined global cluster {} as a secondary", self.db.global_cluster)))
        } else {
            Ok(None)
        }
    }

    async fn events(
        &self,
        rds: &aws_sdk_rds::Client,
        old_id: &str,
        since: SystemTime,
    ) -> Result<Vec<RdsEvent>, StepError> {
        let region = &self.input.old_region;
        let now = self.clients.clock.now();
        let mut all = Vec::new();
        let mut marker: Option<String> = None;
        // RDS keeps 14 days of events; a few pages cover any one cluster's recovery.
        for _ in 0..10 {
            let out = rds
                .describe_events()
                .source_type(SourceType::DbCluster)
                .source_identifier(old_id)
                .start_time(DateTime::from(since))
                .end_time(DateTime::from(now.max(since)))
                .max_records(100)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| classify(&e).into_step_error(&format!("DescribeEvents in {region}")))?;
            for e in out.events() {
                let message = e.message().unwrap_or_default().to_string();
                all.push((
                    time_of(e.date()).unwrap_or(since),
                    RdsEvent {
                        date: time_of(e.date()).map(rfc3339).unwrap_or_default(),
                        source: e.source_identifier().unwrap_or(old_id).to_string(),
                        fencing: message.to_ascii_lowercase().contains("fenc"),
                        message,
                    },
                ));
            }
            marker = out.marker().map(str::to_string);
            if marker.is_none() {
                break;
            }
        }
        all.sort_by_key(|e| std::cmp::Reverse(e.0));
        // Fencing events are what the report needs most: they survive the cap first.
        let (fencing, other): (Vec<_>, Vec<_>) = all.into_iter().partition(|(_, e)| e.fencing);
        let mut kept: Vec<_> = fencing.into_iter().take(MAX_EVENTS).collect();
        let room = MAX_EVENTS - kept.len();
        kept.extend(other.into_iter().take(room));
        kept.sort_by_key(|e| std::cmp::Reverse(e.0));
        Ok(kept.into_iter().map(|(_, e)| e).collect())
    }

    async fn copy(&self) -> Result<SnapshotRestoreOutput, StepError> {
        let Some(source) = &self.input.snapshot else {
            return Err(StepError::bad_input("snapshot: `copy` needs the snapshot that `find` returned"));
        };
        let dest = self.input.recovery_region()?;
        let rds = self.clients.rds.get(&dest);
        if let Some(existing) = find_snapshot(&rds, &self.names.copy, &dest).await? {
            let mut out = self.output(&dest, false);
            out.snapshot = Some(info(&existing, &dest));
            return Ok(out);
        }

        // Read the source again: a system snapshot may have expired since `find`, and its
        // encryption decides the KMS key of the copy. It is listed with its cluster's
        // snapshots rather than looked up by identifier, which for an automated (`rds:`)
        // snapshot would also need its snapshot type.
        let old_rds = self.clients.rds.get(&source.region);
        let old_id = cluster_id_of_arn(self.old_cluster_arn());
        let listed = list_cluster_snapshots(&old_rds, old_id, &source.region).await?;
        let Some(src) =
            listed.into_iter().find(|s| s.db_cluster_snapshot_identifier() == Some(source.identifier.as_str()))
        else {
            return Err(StepError::new(
                ErrorKind::SnapshotUnavailable,
                format!(
                    "snapshot {} is gone from {} (system snapshots expire with the old cluster's backup retention)",
                    source.identifier, source.region
                ),
            ));
        };
        let cross_region = dest != source.region;
        let encrypted = src.storage_encrypted() == Some(true);
        let key = self.db.recovery.kms_keys.get(&dest);
        if encrypted && cross_region && key.is_none() {
            return Err(StepError::new(
                ErrorKind::PreconditionFailed,
                format!(
                    "snapshot {} is encrypted and is copied to {dest}: the plan's recovery.kms_keys of database `{}` needs a key in {dest}",
                    source.identifier, self.db.name
                ),
            ));
        }
        let res = rds
            .copy_db_cluster_snapshot()
            // Across Regions the source is named by its ARN.
            .source_db_cluster_snapshot_identifier(if cross_region { &source.arn } else { &source.identifier })
            .target_db_cluster_snapshot_identifier(&self.names.copy)
            .set_kms_key_id(if encrypted { key.cloned() } else { None })
            .tags(tag("failover:execution", &self.input.execution.name))
            .tags(tag("failover:source-snapshot", &source.arn))
            .send()
            .await;
        let copied = match res {
            Ok(out) => out.db_cluster_snapshot().map(|s| info(s, &dest)),
            Err(e) if is_code(&e, "DBClusterSnapshotAlreadyExistsFault") => None,
            Err(e) => return Err(classify(&e).into_step_error(&format!("CopyDBClusterSnapshot in {dest}"))),
        };
        tracing::info!(copy = %self.names.copy, region = %dest, cross_region, "snapshot copy started");
        let mut out = self.output(&dest, copied.is_some());
        out.snapshot = Some(copied.unwrap_or_else(|| SnapshotInfo {
            identifier: self.names.copy.clone(),
            arn: String::new(),
            region: dest.clone(),
            status: "unknown".into(),
            created_at: None,
            engine_version: None,
            kms_key_id: None,
        }));
        Ok(out)
    }

    async fn restore(&self) -> Result<SnapshotRestoreOutput, StepError> {
        let region = self.input.recovery_region()?;
        let rds = self.clients.rds.get(&region);
        let Some(copy) = find_snapshot(&rds, &self.names.copy, &region).await? else {
            return Err(StepError::not_found(format!(
                "snapshot copy {} does not exist in {region}: `copy` comes first",
                self.names.copy
            )));
        };
        let copy_status = copy.status().unwrap_or("unknown");
        if copy_status != "available" {
            return Err(StepError::not_yet(format!(
                "snapshot copy {} in {region} is `{copy_status}` ({}% done)",
                self.names.copy,
                copy.percent_progress().unwrap_or(0)
            )));
        }
        let mut calls = 0;
        let capacity = &self.db.recovery.capacity;
        if find_cluster(&rds, &self.names.cluster, &region).await?.is_none() {
            let network = self.input.plan.network.get(&region).cloned().unwrap_or_default();
            let res = rds
                .restore_db_cluster_from_snapshot()
                .db_cluster_identifier(&self.names.cluster)
                .snapshot_identifier(copy.db_cluster_snapshot_arn().unwrap_or(&self.names.copy))
                .engine(self.db.engine.as_str())
                .set_engine_version(copy.engine_version().map(str::to_string))
                .set_db_subnet_group_name(network.db_subnet_group.clone())
                .set_vpc_security_group_ids(
                    (!network.security_groups.is_empty()).then_some(network.security_groups.clone()),
                )
                .set_serverless_v2_scaling_configuration(capacity.serverless.map(|s| {
                    aws_sdk_rds::types::ServerlessV2ScalingConfiguration::builder()
                        .min_capacity(s.min_acu)
                        .max_capacity(s.max_acu)
                        .build()
                }))
                .deletion_protection(false)
                .tags(tag("failover:execution", &self.input.execution.name))
                .tags(tag("failover:role", "recovery"))
                .send()
                .await;
            match res {
                Ok(_) => calls += 1,
                Err(e) if is_code(&e, "DBClusterAlreadyExistsFault") => {}
                Err(e) => {
                    return Err(classify(&e).into_step_error(&format!("RestoreDBClusterFromSnapshot in {region}")));
                }
            }
        }
        if find_instance(&rds, &self.names.instance, &region).await?.is_none() {
            let instance = NewInstance {
                name: &self.names.instance,
                cluster: &self.names.cluster,
                engine: self.db.engine.as_str(),
                capacity,
                execution: &self.input.execution.name,
            };
            if create_instance(&rds, &instance, &region).await? {
                calls += 1;
            }
        }
        tracing::info!(cluster = %self.names.cluster, region = %region, calls, "recovery cluster restore requested");
        let mut out = self.output(&region, calls > 0);
        out.recovery = Some(self.recovery(&region, "creating", "creating"));
        Ok(out)
    }

    fn recovery(&self, region: &str, status: &str, instance_status: &str) -> RecoveryCluster {
        RecoveryCluster {
            cluster: self.names.cluster.clone(),
            instance: self.names.instance.clone(),
            region: region.to_string(),
            status: status.to_string(),
            instance_status: instance_status.to_string(),
            endpoint: None,
            port: None,
            engine: None,
            engine_version: None,
            master_username: None,
            master_user_secret_arn: None,
        }
    }

    async fn check(&self) -> Result<SnapshotRestoreOutput, StepError> {
        let region = self.input.recovery_region()?;
        let rds = self.clients.rds.get(&region);
        let Some(cluster) = find_cluster(&rds, &self.names.cluster, &region).await? else {
            return Err(StepError::not_found(format!(
                "recovery cluster {} does not exist in {region}: `restore` comes first",
                self.names.cluster
            )));
        };
        let Some(instance) = find_instance(&rds, &self.names.instance, &region).await? else {
            return Err(StepError::not_found(format!(
                "recovery instance {} does not exist in {region}: `restore` comes first",
                self.names.instance
            )));
        };
        let status = cluster.status().unwrap_or("unknown");
        let instance_status = instance.db_instance_status().unwrap_or("unknown");
        if status != "available" || instance_status != "available" {
            return Err(StepError::not_yet(format!(
                "recovery cluster {} is `{status}`, instance {} is `{instance_status}`",
                self.names.cluster, self.names.instance
            )));
        }
        let mut out = self.output(&region, false);
        match cluster.master_user_secret() {
            None => {
                rds.modify_db_cluster()
                    .db_cluster_identifier(&self.names.cluster)
                    .manage_master_user_password(true)
                    .apply_immediately(true)
                    .send()
                    .await
                    .map_err(|e| classify(&e).into_step_error(&format!("ModifyDBCluster in {region}")))?;
                return Err(StepError::not_yet(format!(
                    "recovery cluster {}: the master password is now managed by RDS; waiting for its secret",
                    self.names.cluster
                )));
            }
            Some(s) if s.secret_status().is_some_and(|st| st != "active") => {
                return Err(StepError::not_yet(format!(
                    "recovery cluster {}: master user secret is `{}`",
                    self.names.cluster,
                    s.secret_status().unwrap_or_default()
                )));
            }
            Some(_) => {}
        }
        let mut rec = self.recovery(&region, status, instance_status);
        rec.endpoint = cluster.endpoint().map(str::to_string);
        rec.port = cluster.port().and_then(|p| u16::try_from(p).ok());
        rec.engine = cluster.engine().map(str::to_string);
        rec.engine_version = cluster.engine_version().map(str::to_string);
        rec.master_username = cluster.master_username().map(str::to_string);
        rec.master_user_secret_arn = cluster.master_user_secret().and_then(|s| s.secret_arn()).map(str::to_string);
        out.recovery = Some(rec);
        Ok(out)
    }

    async fn cleanup(&self) -> Result<SnapshotRestoreOutput, StepError> {
        let region = self.input.recovery_region()?;
        if self.db.recovery.keep_cluster {
            tracing::info!(cluster = %self.names.cluster, "the plan keeps the recovery cluster");
            let mut out = self.output(&region, false);
            out.recovery = Some(self.recovery(&region, "kept", "kept"));
            return Ok(out);
        }
        let rds = self.clients.rds.get(&region);
        let mut calls = 0;
        let instance = find_instance(&rds, &self.names.instance, &region).await?;
        let instance_status = match &instance {
            None => "deleted".to_string(),
            Some(i) if i.db_instance_status() == Some("deleting") => "deleting".to_string(),
            Some(_) => {
                match rds.delete_db_instance().db_instance_identifier(&self.names.instance).send().await {
                    Ok(_) => calls += 1,
                    Err(e) if classify(&e).kind == ErrorKind::NotFound => {}
                    Err(e) => return Err(classify(&e).into_step_error(&format!("DeleteDBInstance in {region}"))),
                }
                "deleting".to_string()
            }
        };
        let cluster = find_cluster(&rds, &self.names.cluster, &region).await?;
        let status = match &cluster {
            None => "deleted".to_string(),
            Some(c) if c.status() == Some("deleting") => "deleting".to_string(),
            Some(_) => {
                let res = rds
                    .delete_db_cluster()
                    .db_cluster_identifier(&self.names.cluster)
                    .skip_final_snapshot(true)
                    .send()
                    .await;
                match res {
                    Ok(_) => calls += 1,
                    Err(e) if classify(&e).kind == ErrorKind::NotFound => {}
                    // RDS may refuse while the instance is still being deleted.
                    Err(e) if classify(&e).kind == ErrorKind::InvalidState && instance.is_some() => {
                        return Err(StepError::not_yet(format!(
                            "recovery instance {} is being deleted; cluster {} follows ({})",
                            self.names.instance,
                            self.names.cluster,
                            classify(&e).message
                        )));
                    }
                    Err(e) => return Err(classify(&e).into_step_error(&format!("DeleteDBCluster in {region}"))),
                }
                "deleting".to_string()
            }
        };
        tracing::info!(cluster = %self.names.cluster, calls, "recovery cluster cleanup");
        let mut out = self.output(&region, calls > 0);
        out.recovery = Some(self.recovery(&region, &status, &instance_status));
        Ok(out)
    }
}

/// Every snapshot of one cluster (automated and manual), across pages.
async fn list_cluster_snapshots(
    rds: &aws_sdk_rds::Client,
    cluster_id: &str,
    region: &str,
) -> Result<Vec<DbClusterSnapshot>, StepError> {
    let mut all = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = rds
            .describe_db_cluster_snapshots()
            .db_cluster_identifier(cluster_id)
            .max_records(100)
            .set_marker(marker.take())
            .send()
            .await;
        let out = match out {
            Ok(o) => o,
            // The old cluster may be unknown to a Region that is still recovering.
            Err(e) if classify(&e).kind == ErrorKind::NotFound => return Ok(all),
            Err(e) => return Err(classify(&e).into_step_error(&format!("DescribeDBClusterSnapshots in {region}"))),
        };
        all.extend(out.db_cluster_snapshots().iter().cloned());
        marker = out.marker().map(str::to_string);
        if marker.is_none() || all.len() > 10_000 {
            return Ok(all);
        }
    }
}

/// One cluster snapshot by identifier; `None` when it does not exist.
async fn find_snapshot(
    rds: &aws_sdk_rds::Client,
    id: &str,
    region: &str,
) -> Result<Option<DbClusterSnapshot>, StepError> {
    let out = unless_not_found(
        rds.describe_db_cluster_snapshots().db_cluster_snapshot_identifier(id).send().await,
        "DescribeDBClusterSnapshots",
        region,
    )?;
    Ok(out.and_then(|out| {
        out.db_cluster_snapshots().iter().find(|s| s.db_cluster_snapshot_identifier() == Some(id)).cloned()
    }))
}
