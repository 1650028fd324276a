//! `snapshot-restore`: bring the old primary's data back after an unplanned failover.
//!
//! The recovery machine calls the function with, in order, `find` (polled: `Failover.NotYet`
//! until Aurora's `rds:unplanned-global-failover-<cluster>-<timestamp>` snapshot appears in
//! the old Region), `copy` (to a manual snapshot named after the execution), `restore`
//! (polled while the copy is not available yet), `check` (polled until the recovery
//! cluster and its instance are available), and after the report `cleanup`.
//!
//! Every resource name derives from the database and the execution name ([`names`]), so
//! each action is idempotent: it looks for its resource before creating it.

use serde::{Deserialize, Serialize};

use super::aurora::{database_in_plan, rds_identifier, validate_execution};
use super::{ExecutionRef, check_region, validate_plan};
use crate::error::StepError;
use crate::plan::{GlobalDatabase, Plan, Region, RestoreIn};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotAction {
    Find,
    Copy,
    Restore,
    Check,
    Cleanup,
}

impl SnapshotAction {
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotAction::Find => "find",
            SnapshotAction::Copy => "copy",
            SnapshotAction::Restore => "restore",
            SnapshotAction::Check => "check",
            SnapshotAction::Cleanup => "cleanup",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotRestoreInput {
    pub plan: Plan,
    /// The name of the database in `plan.databases`.
    pub database: String,
    /// The Region of the old primary: where Aurora takes the snapshot.
    pub old_region: Region,
    pub action: SnapshotAction,
    /// The recovery execution: resource names derive from its name.
    pub execution: ExecutionRef,
    /// When the failover began (RFC 3339); older snapshots are not the one wanted.
    pub failover_started_at: String,
    /// The replication lag observed at the failover (aurora-failover's `lag`), carried
    /// into "snapshot unavailable" as the exposure when the lost rows cannot be known.
    #[serde(default)]
    pub lag_at_failover_ms: Option<u64>,
    /// The snapshot `find` returned; required by `copy`.
    #[serde(default)]
    pub snapshot: Option<SnapshotRef>,
}

/// A snapshot as `find` returned it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotRef {
    pub identifier: String,
    pub arn: String,
    pub region: Region,
}

impl SnapshotRestoreInput {
    /// Semantic checks; every problem names its field.
    pub fn validate(&self) -> Result<(), StepError> {
        validate_plan(&self.plan)?;
        validate_execution(&self.execution)?;
        check_region(&self.plan, "old_region", &self.old_region)?;
        let db = database_in_plan(&self.plan, "database", &self.database)?;
        if !db.members.contains_key(&self.old_region) {
            return Err(StepError::bad_input(format!(
                "database: `{}` has no member cluster in `{}`",
                self.database, self.old_region
            )));
        }
        crate::time_fmt::parse_rfc3339(&self.failover_started_at)
            .map_err(|e| StepError::bad_input(format!("failover_started_at: {e}")))?;
        match (&self.snapshot, self.action) {
            (None, SnapshotAction::Copy) => {
                return Err(StepError::bad_input("snapshot: `copy` needs the snapshot that `find` returned"));
            }
            (Some(s), _) => {
                if s.identifier.trim().is_empty() {
                    return Err(StepError::bad_input("snapshot.identifier: must not be empty"));
                }
                if s.region != self.old_region {
                    return Err(StepError::bad_input(format!(
                        "snapshot.region: the snapshot is in `{}` but the old primary is in `{}`",
                        s.region, self.old_region
                    )));
                }
                if !s.arn.starts_with("arn:") || !s.arn.contains(":cluster-snapshot:") {
                    return Err(StepError::bad_input(format!(
                        "snapshot.arn: `{}` is not a cluster snapshot ARN",
                        s.arn
                    )));
                }
            }
            (None, _) => {}
        }
        Ok(())
    }

    pub fn global_database(&self) -> Result<&GlobalDatabase, StepError> {
        database_in_plan(&self.plan, "database", &self.database)
    }

    /// Where the copy, the recovery cluster and its instance live.
    pub fn recovery_region(&self) -> Result<Region, StepError> {
        let db = self.global_database()?;
        Ok(match db.recovery.restore_in {
            RestoreIn::Old => self.old_region.clone(),
            RestoreIn::Target => self
                .plan
                .other_region(&self.old_region)
                .ok_or_else(|| StepError::bad_input("old_region: not one of the plan's Regions"))?
                .to_string(),
        })
    }

    /// The names of the resources this execution creates.
    pub fn names(&self) -> RecoveryNames {
        names(&self.database, &self.execution.name)
    }
}

/// The names of the resources a recovery execution creates for one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryNames {
    /// The manual copy of the old primary's snapshot.
    pub copy: String,
    /// The recovery cluster restored from the copy.
    pub cluster: String,
    /// Its one instance.
    pub instance: String,
}

/// The resource names for `database` in execution `execution`.
pub fn names(database: &str, execution: &str) -> RecoveryNames {
    let base = rds_identifier(&["failover", database, execution], 61);
    RecoveryNames { copy: base.clone(), instance: format!("{base}-1"), cluster: base }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotRestoreOutput {
    pub action: SnapshotAction,
    pub database: String,
    /// The Region this action worked in.
    pub region: Region,
    /// Whether this invocation changed anything (false: found, or already done).
    pub changed: bool,
    /// `find`: the old primary's snapshot; `copy`: the copy.
    #[serde(default)]
    pub snapshot: Option<SnapshotInfo>,
    /// `find`: the RDS events of the old primary cluster since the failover began (write
    /// fencing among them), newest first, at most [`MAX_EVENTS`].
    #[serde(default)]
    pub events: Vec<RdsEvent>,
    /// `restore`, `check`, `cleanup`: the recovery cluster.
    #[serde(default)]
    pub recovery: Option<RecoveryCluster>,
    pub observed_at: String,
}

/// Enough events for the report while keeping the payload far below 256 KiB.
pub const MAX_EVENTS: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotInfo {
    pub identifier: String,
    pub arn: String,
    pub region: Region,
    pub status: String,
    /// When the snapshot was taken (RFC 3339).
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub engine_version: Option<String>,
    #[serde(default)]
    pub kms_key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RdsEvent {
    /// RFC 3339.
    pub date: String,
    pub source: String,
    pub message: String,
    /// Whether the message is about fencing writes on the old primary.
    pub fencing: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryCluster {
    pub cluster: String,
    pub instance: String,
    pub region: Region,
    /// The cluster's status (`creating`, `available`, `deleting`, `deleted`).
    pub status: String,
    pub instance_status: String,
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub engine: Option<String>,
    #[serde(default)]
    pub engine_version: Option<String>,
    #[serde(default)]
    pub master_username: Option<String>,
    /// The Secrets Manager secret RDS manages for the master user, in `region`: how the
    /// report connects (see the decision in the steps crate's `snapshot` module).
    #[serde(default)]
    pub master_user_secret_arn: Option<String>,
}
