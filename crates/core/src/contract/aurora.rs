//! `aurora-failover`: switch over or fail over one global cluster, and poll its progress.
//!
//! The state machine maps over `plan.databases` and, for each, calls the function with
//! `action: start`, then with `action: check` in a Wait/Choice poll loop until the target
//! cluster is the writer. `start` answers `Failover.NotYet` while an instance it created in
//! a headless target is not available yet (the state machine retries `start`); `check`
//! answers `Failover.NotYet` until the move is complete. Both are idempotent: a repeated
//! `start` after success calls nothing ("already done" or "in progress").

use serde::{Deserialize, Serialize};

use super::{ExecutionRef, Mode, check_region, validate_plan};
use crate::error::StepError;
use crate::plan::{GlobalDatabase, Plan, Region};

/// What an invocation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuroraAction {
    /// Check the preconditions and call `SwitchoverGlobalCluster` (planned) or
    /// `FailoverGlobalCluster` with `AllowDataLoss` (unplanned).
    Start,
    /// One `DescribeGlobalClusters`: done, or `Failover.NotYet` with the observed status.
    Check,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuroraFailoverInput {
    pub plan: Plan,
    /// The name of the database in `plan.databases`.
    pub database: String,
    /// The Region whose member cluster becomes the writer. RDS is called there only (in
    /// unplanned mode the other Region is never called).
    pub target_region: Region,
    pub mode: Mode,
    pub action: AuroraAction,
    pub execution: ExecutionRef,
}

impl AuroraFailoverInput {
    /// Semantic checks; every problem names its field.
    pub fn validate(&self) -> Result<(), StepError> {
        validate_plan(&self.plan)?;
        validate_execution(&self.execution)?;
        check_region(&self.plan, "target_region", &self.target_region)?;
        let db = database_in_plan(&self.plan, "database", &self.database)?;
        if !db.members.contains_key(&self.target_region) {
            return Err(StepError::bad_input(format!(
                "database: `{}` has no member cluster in `{}`",
                self.database, self.target_region
            )));
        }
        Ok(())
    }

    /// The database of the plan this input names (valid after [`Self::validate`]).
    pub fn global_database(&self) -> Result<&GlobalDatabase, StepError> {
        database_in_plan(&self.plan, "database", &self.database)
    }

    /// The Region that is not the target: the old primary.
    pub fn source_region(&self) -> Result<&str, StepError> {
        self.plan.other_region(&self.target_region).ok_or_else(|| {
            StepError::bad_input(format!("target_region: `{}` is not one of the plan's Regions", self.target_region))
        })
    }
}

/// What a successful invocation found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuroraOutcome {
    /// `start` called `SwitchoverGlobalCluster` or `FailoverGlobalCluster`.
    Started,
    /// `start` found the target already the writer with no failover in progress.
    AlreadyDone,
    /// `start` found a failover to the same target in progress; polling continues.
    InProgress,
    /// `check` found the target the writer, the global cluster available, and no failover.
    Completed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuroraFailoverOutput {
    pub action: AuroraAction,
    pub database: String,
    pub global_cluster: String,
    pub mode: Mode,
    pub target_region: Region,
    pub outcome: AuroraOutcome,
    /// The mutating RDS calls this invocation made (`CreateDBInstance`,
    /// `SwitchoverGlobalCluster`, `FailoverGlobalCluster`); empty when nothing changed.
    pub calls: Vec<String>,
    /// The global cluster's status as observed (`available`, `failing-over`, ...).
    pub status: String,
    /// `FailoverState.Status` as observed, including values unknown to the SDK
    /// (`switching-over`); absent when no failover is in progress.
    #[serde(default)]
    pub failover_status: Option<String>,
    /// The writer member's cluster ARN, and its Region, as observed.
    #[serde(default)]
    pub writer: Option<String>,
    #[serde(default)]
    pub writer_region: Option<Region>,
    /// The replication lag observed just before the call: the RPO exposure of this move.
    #[serde(default)]
    pub lag: Option<LagObservation>,
    /// The instance created in a headless target (named after the execution).
    #[serde(default)]
    pub instance_created: Option<String>,
    /// When this invocation observed the above (RFC 3339).
    pub observed_at: String,
}

/// One replication-lag reading of the target (secondary) cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LagObservation {
    /// `AuroraGlobalDBRPOLag` or `AuroraGlobalDBReplicationLag`.
    pub metric: String,
    pub milliseconds: u64,
    /// The datapoint's timestamp (RFC 3339).
    pub at: String,
}

/// Finds `name` in `plan.databases`, naming `field` and the known names when absent.
pub(crate) fn database_in_plan<'p>(plan: &'p Plan, field: &str, name: &str) -> Result<&'p GlobalDatabase, StepError> {
    plan.database(name).ok_or_else(|| {
        let known: Vec<&str> = plan.databases.iter().map(|d| d.name.as_str()).collect();
        StepError::bad_input(format!(
            "{field}: `{name}` is not a database of the plan (known: {})",
            if known.is_empty() { "none".to_string() } else { known.join(", ") }
        ))
    })
}

pub(crate) fn validate_execution(execution: &ExecutionRef) -> Result<(), StepError> {
    if execution.name.trim().is_empty() {
        return Err(StepError::bad_input("execution.name: must not be empty"));
    }
    crate::time_fmt::parse_rfc3339(&execution.started_at)
        .map_err(|e| StepError::bad_input(format!("execution.started_at: {e}")))?;
    Ok(())
}

/// The cluster identifier inside a cluster ARN (`arn:aws:rds:r:a:cluster:<id>`).
pub fn cluster_id_of_arn(arn: &str) -> &str {
    arn.rsplit_once(":cluster:").map_or(arn, |(_, id)| id)
}

/// Major and minor engine version, the part both sides of a switchover or managed failover
/// must share: `8.0.mysql_aurora.3.05.2` -> `3.05` (Aurora MySQL's own version), `15.4` ->
/// `15.4` (Aurora PostgreSQL).
pub fn major_minor(engine_version: &str) -> String {
    let v = engine_version.rsplit_once("mysql_aurora.").map_or(engine_version, |(_, aurora)| aurora);
    v.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// An RDS identifier (cluster, instance, snapshot) made from `parts`: lowercase letters,
/// digits and single hyphens, starting with a letter, at most `max` characters. A name that
/// would be longer is cut and ends with a hash of the whole, so distinct inputs keep
/// distinct names. The same parts always give the same name: it is what makes the steps
/// idempotent.
pub fn rds_identifier(parts: &[&str], max: usize) -> String {
    let mut s = String::new();
    for c in parts.join("-").chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            s.push(c);
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
    }
    let mut s = s.trim_end_matches('-').to_string();
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        s.insert_str(0, "f-");
    }
    if s.len() <= max {
        return s;
    }
    let hash = format!("{:08x}", crate::stable_hash(s.as_bytes()) as u32);
    let keep = max.saturating_sub(hash.len() + 1);
    let head = s[..keep].trim_end_matches('-');
    format!("{head}-{hash}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_on_major_and_minor() {
        assert_eq!(major_minor("8.0.mysql_aurora.3.05.2"), "3.05");
        assert_eq!(major_minor("8.0.mysql_aurora.3.05.0"), "3.05");
        assert_ne!(major_minor("8.0.mysql_aurora.3.04.1"), major_minor("8.0.mysql_aurora.3.05.2"));
        assert_eq!(major_minor("15.4"), "15.4");
        assert_eq!(major_minor("16"), "16");
    }

    #[test]
    fn identifiers_are_valid_and_stable() {
        assert_eq!(
            rds_identifier(&["failover", "orders", "drill_2026-11-26--0531"], 63),
            "failover-orders-drill-2026-11-26-0531"
        );
        assert_eq!(rds_identifier(&["9lives"], 63), "f-9lives");
        let long = "x".repeat(100);
        let a = rds_identifier(&["failover", &long, "a"], 63);
        let b = rds_identifier(&["failover", &long, "b"], 63);
        assert!(a.len() <= 63 && b.len() <= 63, "{a} {b}");
        assert_ne!(a, b);
        assert_eq!(a, rds_identifier(&["failover", &long, "a"], 63));
        assert!(!a.contains("--") && !a.ends_with('-'));
    }

    #[test]
    fn cluster_ids_come_from_arns() {
        assert_eq!(
            cluster_id_of_arn("arn:aws:rds:us-east-1:111122223333:cluster:retail-orders-use1"),
            "retail-orders-use1"
        );
        assert_eq!(cluster_id_of_arn("plain-id"), "plain-id");
    }
}
