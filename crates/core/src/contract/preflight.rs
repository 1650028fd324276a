//! `preflight`: is the Region pair ready to fail over to the target? The first state of the
//! failover machine, and the scheduled readiness check.
//!
//! Every check gets a verdict; a failing check says what it blocks: any failover, or only a
//! planned switchover (the unplanned mode may still be possible). The overall [`Readiness`]
//! follows from them. In a failover (`readiness_only` false) `not-ready` is the error
//! `Failover.PreconditionFailed` unless `force`, and `ready-unplanned-only` in planned mode
//! is `Failover.SwitchoverRefused`, whose message states the data at risk so that the
//! approver can choose the unplanned mode knowingly.

use serde::{Deserialize, Serialize};

use super::aurora::{LagObservation, validate_execution};
use super::health::Verdict;
use super::routing::ControlState;
use super::{ExecutionRef, Mode, check_region, validate_plan};
use crate::error::StepError;
use crate::plan::{Plan, Region};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreflightInput {
    pub plan: Plan,
    pub mode: Mode,
    /// The Region traffic and writers move to.
    pub target_region: Region,
    /// The Region this execution runs in (`$$.Execution.Id`'s Region, or the stack's). It
    /// must be the target: the failover runs in the target Region's stack, so that nothing
    /// it needs lives in the Region it leaves.
    pub running_region: Region,
    pub execution: ExecutionRef,
    /// Proceed although the checks say `not-ready` (e.g. the target's canary is in alarm
    /// while its Region is known to be fine). Never overrides the running-Region check.
    #[serde(default)]
    pub force: bool,
    /// Only report: the scheduled readiness check. No verdict is an error then.
    #[serde(default)]
    pub readiness_only: bool,
    /// The version of the plan's copy the stack read (the SSM parameter version), recorded
    /// in the output next to the digest.
    #[serde(default)]
    pub plan_version: Option<String>,
}

impl PreflightInput {
    /// Semantic checks; every problem names its field. The running Region being the other
    /// Region of the pair is not bad input: it is a failing check (see the module docs).
    pub fn validate(&self) -> Result<(), StepError> {
        validate_plan(&self.plan)?;
        validate_execution(&self.execution)?;
        check_region(&self.plan, "target_region", &self.target_region)?;
        if self.running_region.trim().is_empty() {
            return Err(StepError::bad_input("running_region: must not be empty"));
        }
        if let Some(v) = &self.plan_version
            && v.trim().is_empty()
        {
            return Err(StepError::bad_input("plan_version: must not be empty when given"));
        }
        Ok(())
    }

    /// The Region the failover leaves (valid after [`Self::validate`]).
    pub fn source_region(&self) -> &str {
        self.plan.other_region(&self.target_region).unwrap_or_default()
    }
}

/// The overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Readiness {
    /// Both modes may proceed.
    Ready,
    /// A switchover would be refused (lag over the RPO, a member not available), a failover
    /// with data loss is possible.
    ReadyUnplannedOnly,
    /// Neither mode may proceed; `reasons` says why.
    NotReady,
}

impl Readiness {
    /// The overall verdict of a list of checks: not ready when a failing check blocks any
    /// failover, ready for an unplanned failover only when one blocks a switchover.
    pub fn of(checks: &[PreflightCheck]) -> Readiness {
        let failing = |b: Blocks| checks.iter().any(|c| c.verdict == Verdict::Fail && c.blocks == Some(b));
        if failing(Blocks::Failover) {
            Readiness::NotReady
        } else if failing(Blocks::Switchover) {
            Readiness::ReadyUnplannedOnly
        } else {
            Readiness::Ready
        }
    }

    /// Whether a failover in `mode` may proceed on this verdict.
    pub fn allows(self, mode: super::Mode) -> bool {
        match self {
            Readiness::Ready => true,
            Readiness::ReadyUnplannedOnly => mode == super::Mode::Unplanned,
            Readiness::NotReady => false,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Readiness::Ready => "ready",
            Readiness::ReadyUnplannedOnly => "ready-unplanned-only",
            Readiness::NotReady => "not-ready",
        }
    }
}

/// What a failing check prevents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Blocks {
    /// Any failover, planned or not.
    Failover,
    /// A planned switchover only.
    Switchover,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreflightCheck {
    /// `plan`, `running-region`, `routing`, `global-cluster`, `members`, `writer`,
    /// `engine-version`, `instance`, `replication-lag`, `alarm` or `http`.
    pub kind: String,
    /// What was checked (a control ARN, a global cluster, an alarm name, a URL).
    pub subject: String,
    pub verdict: Verdict,
    pub detail: String,
    /// For a failing check, what it prevents.
    #[serde(default)]
    pub blocks: Option<Blocks>,
}

/// Which plan an execution ran with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRef {
    pub name: String,
    /// `sha256:<hex>` of the plan's canonical JSON (keys sorted, no spaces).
    pub digest: String,
    #[serde(default)]
    pub version: Option<String>,
}

/// One global database as preflight found it: the writer, and the data a failover with
/// data loss would lose now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataAtRisk {
    pub database: String,
    pub global_cluster: String,
    /// The writer member's cluster ARN and Region, as observed.
    #[serde(default)]
    pub writer: Option<String>,
    #[serde(default)]
    pub writer_region: Option<Region>,
    /// The target's replication lag: what an unplanned failover would lose. Absent when
    /// unknown, or when the target already writes.
    #[serde(default)]
    pub lag: Option<LagObservation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreflightOutput {
    pub readiness: Readiness,
    pub mode: Mode,
    pub target_region: Region,
    pub source_region: Region,
    pub running_region: Region,
    pub readiness_only: bool,
    /// `not-ready` was overridden by `force`.
    pub forced: bool,
    /// One line per failing check.
    pub reasons: Vec<String>,
    pub checks: Vec<PreflightCheck>,
    pub plan: PlanRef,
    /// Every routing control's state as read (the source normally On before a failover).
    pub routing: Vec<ControlState>,
    pub databases: Vec<DataAtRisk>,
    /// The execution's start (from `execution.started_at`): the origin of the RTO.
    pub started_at: String,
    pub checked_at: String,
}
