//! The state contract: the input and output type of every Lambda function.
//!
//! One submodule per function. These types are the API between the state machine
//! definitions (which build each task's input with `Parameters`) and the handlers; change
//! them with care, together with `statemachine/*.asl.json` and `events/`. Every file in
//! `events/` deserialises into its function's input type and round-trips (a test checks it).
//!
//! Inputs are parsed with [`parse_input`], which names the field of the first structural
//! problem (`states.us-east-1: unknown variant ...`); each input type's `validate` then
//! reports semantic problems, also by field path. Inputs carry the whole validated plan
//! (`plan`), passed along by the state machine from the preflight step, so a function
//! never reads a plan of its own and every task of an execution uses the same version.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::StepError;
use crate::plan::{Plan, Region};

pub mod aurora;
pub mod diff_report;
pub mod health;
pub mod notify;
pub mod preflight;
pub mod routing;
pub mod snapshot;

/// A function of the suite: its name (`functions/<name>`, the `events/<name>.*.json`
/// prefix), its binary (`failover-<name>`) and its `${Placeholder}` in the definitions all
/// derive from this one enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Function {
    Preflight,
    RoutingControl,
    VerifyHealth,
    AuroraFailover,
    SnapshotRestore,
    DiffReport,
    Notify,
}

impl Function {
    pub const ALL: [Function; 7] = [
        Function::Preflight,
        Function::RoutingControl,
        Function::VerifyHealth,
        Function::AuroraFailover,
        Function::SnapshotRestore,
        Function::DiffReport,
        Function::Notify,
    ];

    /// `routing-control`: the package directory and the event-file prefix.
    pub const fn name(self) -> &'static str {
        match self {
            Function::Preflight => "preflight",
            Function::RoutingControl => "routing-control",
            Function::VerifyHealth => "verify-health",
            Function::AuroraFailover => "aurora-failover",
            Function::SnapshotRestore => "snapshot-restore",
            Function::DiffReport => "diff-report",
            Function::Notify => "notify",
        }
    }

    /// `RoutingControlFunctionArn`: the placeholder of its ARN in `statemachine/*.asl.json`.
    pub const fn placeholder(self) -> &'static str {
        match self {
            Function::Preflight => "PreflightFunctionArn",
            Function::RoutingControl => "RoutingControlFunctionArn",
            Function::VerifyHealth => "VerifyHealthFunctionArn",
            Function::AuroraFailover => "AuroraFailoverFunctionArn",
            Function::SnapshotRestore => "SnapshotRestoreFunctionArn",
            Function::DiffReport => "DiffReportFunctionArn",
            Function::Notify => "NotifyFunctionArn",
        }
    }

    /// `failover-routing-control`: the binary, and the function's name in a stack.
    pub fn binary(self) -> String {
        format!("failover-{}", self.name())
    }

    /// The function of a name (`routing-control`), a binary name (`failover-routing-control`)
    /// or a function ARN.
    pub fn of(name_or_arn: &str) -> Option<Function> {
        let name = name_or_arn.rsplit(':').next().unwrap_or(name_or_arn);
        let name = name.strip_prefix("failover-").unwrap_or(name);
        Function::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl std::fmt::Display for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses a function's input from the event JSON, naming the field of a structural error.
pub fn parse_input<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, StepError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            StepError::bad_input(format!("invalid input: {}", e.inner()))
        } else {
            StepError::bad_input(format!("{path}: {}", e.inner()))
        }
    })
}

/// Validates the plan carried by an input; problems are reported under `plan.`.
pub fn validate_plan(plan: &Plan) -> Result<(), StepError> {
    plan.validate().map_err(|errors| {
        let lines: Vec<String> = errors
            .0
            .iter()
            .map(|p| {
                if p.path.is_empty() {
                    format!("plan: {}", p.message)
                } else {
                    format!("plan.{}: {}", p.path, p.message)
                }
            })
            .collect();
        StepError::bad_input(lines.join("; "))
    })
}

/// Checks that `region` is one of the plan's two Regions.
pub fn check_region(plan: &Plan, field: &str, region: &str) -> Result<(), StepError> {
    if plan.has_region(region) {
        Ok(())
    } else {
        Err(StepError::bad_input(format!(
            "{field}: `{region}` is not one of the plan's Regions ({} and {})",
            plan.regions.primary, plan.regions.secondary
        )))
    }
}

/// The state of an ARC routing control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RoutingState {
    On,
    Off,
}

impl RoutingState {
    pub fn as_str(self) -> &'static str {
        match self {
            RoutingState::On => "On",
            RoutingState::Off => "Off",
        }
    }
}

/// Desired or observed routing state per Region.
pub type RegionStates = BTreeMap<Region, RoutingState>;

/// The failover mode: planned (switchover, nothing lost) or unplanned (failover, data loss
/// allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Planned,
    Unplanned,
}

/// Identifies the execution a task belongs to (resource names and idempotency derive from it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionRef {
    /// The execution name (unique per state machine), e.g. `drill-2026-11-26-0531`.
    pub name: String,
    /// When the execution started (RFC 3339), from `$$.Execution.StartTime`.
    pub started_at: String,
}

/// Parses `value` as the input of `function` and serialises it back (the events/ test).
pub fn round_trip_input(function: Function, value: serde_json::Value) -> Result<serde_json::Value, StepError> {
    fn rt<T: DeserializeOwned + Serialize>(v: serde_json::Value) -> Result<serde_json::Value, StepError> {
        let t: T = parse_input(v)?;
        serde_json::to_value(t).map_err(|e| StepError::internal(e.to_string()))
    }
    match function {
        Function::RoutingControl => rt::<routing::RoutingControlInput>(value),
        Function::VerifyHealth => rt::<health::VerifyHealthInput>(value),
        Function::AuroraFailover => rt::<aurora::AuroraFailoverInput>(value),
        Function::SnapshotRestore => rt::<snapshot::SnapshotRestoreInput>(value),
        Function::DiffReport => rt::<diff_report::DiffReportInput>(value),
        Function::Preflight => rt::<preflight::PreflightInput>(value),
        Function::Notify => rt::<notify::NotifyInput>(value),
    }
}
