//! `notify`: publish a phase or an outcome of an execution to the running Region's SNS topic.
//!
//! The state machine calls it at every phase with what it knows so far: the timeline, the
//! error of a failure (`$.error` from a `Catch`), free detail, the data at risk from
//! preflight. For the approval task (`.waitForTaskToken`) it also passes the task token in
//! `approval.task_token`; the token never appears in a message, a log line or the output
//! (its `Debug` is redacted). With the approval store configured, notify keeps the token
//! server-side in an approval record and e-mails signed links to it (`failover_core::approval`);
//! the output names the record (`request_id`).
//!
//! Two entries of the free `detail` are read, by convention, for the approval record:
//! `detail.execution_arn` (`$$.Execution.Id`) and `detail.reason` (a
//! `failover_core::approval::Reason`: `{"kind": "alarms", "alarms": [...]}` or
//! `{"kind": "operator", "note": "..."}`).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::aurora::validate_execution;
use super::preflight::DataAtRisk;
use super::{ExecutionRef, Mode, check_region, validate_plan};
use crate::approval::RequestId;
use crate::error::StepError;
use crate::plan::{Plan, Region};

/// The phases and outcomes a message can announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// The failover execution started (preflight passed).
    Started,
    /// An approver must decide (the `.waitForTaskToken` task).
    ApprovalRequested,
    Approved,
    Rejected,
    ApprovalTimedOut,
    /// A planned switchover was refused (lag or a member); the approver is asked whether to
    /// continue unplanned.
    SwitchoverRefused,
    TrafficMoved,
    DatabasesMoved,
    Verified,
    Succeeded,
    Failed,
    RecoveryStarted,
    SnapshotFound,
    SnapshotUnavailable,
    ReportReady,
    RecoverySucceeded,
    RecoveryFailed,
    /// The scheduled readiness check found the pair not ready.
    NotReady,
}

impl Phase {
    pub const ALL: [Phase; 18] = [
        Phase::Started,
        Phase::ApprovalRequested,
        Phase::Approved,
        Phase::Rejected,
        Phase::ApprovalTimedOut,
        Phase::SwitchoverRefused,
        Phase::TrafficMoved,
        Phase::DatabasesMoved,
        Phase::Verified,
        Phase::Succeeded,
        Phase::Failed,
        Phase::RecoveryStarted,
        Phase::SnapshotFound,
        Phase::SnapshotUnavailable,
        Phase::ReportReady,
        Phase::RecoverySucceeded,
        Phase::RecoveryFailed,
        Phase::NotReady,
    ];

    /// The wire name (`approval-requested`).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Started => "started",
            Phase::ApprovalRequested => "approval-requested",
            Phase::Approved => "approved",
            Phase::Rejected => "rejected",
            Phase::ApprovalTimedOut => "approval-timed-out",
            Phase::SwitchoverRefused => "switchover-refused",
            Phase::TrafficMoved => "traffic-moved",
            Phase::DatabasesMoved => "databases-moved",
            Phase::Verified => "verified",
            Phase::Succeeded => "succeeded",
            Phase::Failed => "failed",
            Phase::RecoveryStarted => "recovery-started",
            Phase::SnapshotFound => "snapshot-found",
            Phase::SnapshotUnavailable => "snapshot-unavailable",
            Phase::ReportReady => "report-ready",
            Phase::RecoverySucceeded => "recovery-succeeded",
            Phase::RecoveryFailed => "recovery-failed",
            Phase::NotReady => "not-ready",
        }
    }

    /// The message's status attribute: what a subscription filter keys on.
    pub fn status(self) -> Status {
        match self {
            Phase::ApprovalRequested | Phase::SwitchoverRefused => Status::ActionRequired,
            Phase::Failed | Phase::RecoveryFailed | Phase::SnapshotUnavailable | Phase::NotReady => Status::Failed,
            Phase::Rejected | Phase::ApprovalTimedOut => Status::Stopped,
            Phase::Succeeded | Phase::RecoverySucceeded | Phase::ReportReady => Status::Succeeded,
            _ => Status::InProgress,
        }
    }

    /// Phases of the recovery machine (the RTO was measured when the failover ended).
    pub fn is_recovery(self) -> bool {
        matches!(
            self,
            Phase::RecoveryStarted
                | Phase::SnapshotFound
                | Phase::SnapshotUnavailable
                | Phase::ReportReady
                | Phase::RecoverySucceeded
                | Phase::RecoveryFailed
        )
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    InProgress,
    ActionRequired,
    Succeeded,
    Stopped,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "in-progress",
            Status::ActionRequired => "action-required",
            Status::Succeeded => "succeeded",
            Status::Stopped => "stopped",
            Status::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyInput {
    pub plan: Plan,
    /// The Region this execution runs in: its stack's topic is the one published to.
    pub running_region: Region,
    pub execution: ExecutionRef,
    pub phase: Phase,
    #[serde(default)]
    pub mode: Option<Mode>,
    /// The Region traffic and writers move to.
    #[serde(default)]
    pub target_region: Option<Region>,
    /// The error caught by a `Catch` (`ResultPath: $.error`).
    #[serde(default)]
    pub error: Option<TaskError>,
    /// Free detail from the state (the lag, the report counts, the report's S3 key...).
    /// Keys that look like secrets and values that look like presigned URLs are redacted.
    #[serde(default)]
    pub detail: serde_json::Value,
    /// The phases so far, oldest first.
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
    /// From preflight: what an unplanned failover loses (or lost).
    #[serde(default)]
    pub data_at_risk: Vec<DataAtRisk>,
    /// The approval task, with `phase: approval-requested`.
    #[serde(default)]
    pub approval: Option<ApprovalTask>,
    /// The approvals decided on the way (`$.decision`, `$.unplanned_decision`; `null` for one
    /// that was not asked): their waits are left out of the recovery time (`crate::rto`).
    #[serde(default)]
    pub approvals: Vec<Option<ApprovalDecision>>,
    /// When each writer was seen in the target (`$.moved[1][*].check.observed_at`, RFC 3339).
    #[serde(default)]
    pub writers_moved_at: Vec<String>,
}

/// An approval task's result as the failover machine keeps it (its `ResultSelector`): when
/// the request went out and what the approval page answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalDecision {
    /// When the approval state was entered (`$$.State.EnteredTime`, RFC 3339).
    #[serde(default)]
    pub asked_at: Option<String>,
    /// The decision sent to the task (`{"decision", "request_id", "by", "at", "from"}`).
    #[serde(default)]
    pub answer: serde_json::Value,
}

impl ApprovalDecision {
    /// The wait for this decision, when both ends are known.
    pub fn wait(&self) -> Option<crate::rto::Wait> {
        let asked = crate::time_fmt::parse_rfc3339(self.asked_at.as_deref()?).ok()?;
        let decided = crate::time_fmt::parse_rfc3339(self.answer.get("at")?.as_str()?).ok()?;
        Some(crate::rto::Wait { from: asked, to: decided })
    }
}

/// The `{Error, Cause}` object a `Catch` puts in the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskError {
    #[serde(rename = "Error")]
    pub error: String,
    /// For a Lambda error, a JSON string with `errorType` and `errorMessage`.
    #[serde(rename = "Cause", default)]
    pub cause: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineEntry {
    pub phase: String,
    /// RFC 3339.
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalTask {
    /// `$$.Task.Token`. Never published, logged or returned; with the approval store
    /// configured it is kept in the approval request's item (`task_token`), and only the
    /// approval function reads it back, to answer the task.
    pub task_token: TaskToken,
    /// The state waiting for the decision (`$$.State.Name`).
    #[serde(default)]
    pub state: Option<String>,
    /// What the approver is asked, one line (e.g. "continue in unplanned mode?").
    #[serde(default)]
    pub question: Option<String>,
}

/// A Step Functions task token: a bearer credential for the waiting task. Its `Debug` and
/// `Display` are redacted so that it cannot reach a log line by accident.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskToken(String);

impl TaskToken {
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }
    /// The token itself, for the one place that must hand it to Step Functions.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TaskToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TaskToken(<redacted>)")
    }
}

impl fmt::Display for TaskToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl NotifyInput {
    /// Semantic checks; every problem names its field.
    pub fn validate(&self) -> Result<(), StepError> {
        validate_plan(&self.plan)?;
        validate_execution(&self.execution)?;
        check_region(&self.plan, "running_region", &self.running_region)?;
        if let Some(t) = &self.target_region {
            check_region(&self.plan, "target_region", t)?;
        }
        for (i, at) in self.writers_moved_at.iter().enumerate() {
            crate::time_fmt::parse_rfc3339(at)
                .map_err(|m| StepError::bad_input(format!("writers_moved_at[{i}]: {m}")))?;
        }
        for (i, e) in self.timeline.iter().enumerate() {
            if e.phase.trim().is_empty() {
                return Err(StepError::bad_input(format!("timeline[{i}].phase: must not be empty")));
            }
            crate::time_fmt::parse_rfc3339(&e.at)
                .map_err(|m| StepError::bad_input(format!("timeline[{i}].at: {m}")))?;
        }
        match (&self.approval, self.phase) {
            (None, Phase::ApprovalRequested) => {
                return Err(StepError::bad_input("approval: required with phase approval-requested"));
            }
            (Some(_), p) if p != Phase::ApprovalRequested => {
                return Err(StepError::bad_input(format!(
                    "approval: only phase approval-requested carries an approval task (phase is {p})"
                )));
            }
            (Some(a), _) if a.task_token.expose().trim().is_empty() => {
                return Err(StepError::bad_input("approval.task_token: must not be empty"));
            }
            _ => {}
        }
        for (i, d) in self.data_at_risk.iter().enumerate() {
            if self.plan.database(&d.database).is_none() {
                return Err(StepError::bad_input(format!(
                    "data_at_risk[{i}].database: `{}` is not a database of the plan",
                    d.database
                )));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyOutput {
    pub phase: Phase,
    pub topic_arn: String,
    /// SNS's id of the published message.
    pub message_id: String,
    /// The same for every attempt with the same input: subscribers may drop repeats of it
    /// (SNS Publish is not idempotent; a retried task may publish twice).
    pub dedup_id: String,
    pub subject: String,
    pub published_at: String,
    /// With `phase: approval-requested` when the approval store is configured: the id of
    /// the approval request recorded for this task (`failover_core::approval`), the key of
    /// its item in the approvals table. Never the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<RequestId>,
}
