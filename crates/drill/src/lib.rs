//! failover-drill: the deployed state machines, run offline with the real handlers.
//!
//! * [`definitions`]: the failover and recovery definitions as deployed
//!   (`statemachine/*.asl.json`, embedded), with their `${Placeholders}` filled the way the
//!   SAM template's `DefinitionSubstitutions` fill them.

pub mod definitions;
pub mod dispatch;
mod expect;
pub mod run;

pub use run::{Approve, DrillError, DrillOptions, DrillReport, Fault, Scenario, run, run_blocking};

/// The diff-report handler, wired for drills: simulated clusters are opened through the
/// simulator's database locations. (Filled in when the diff-report step exists.)
pub fn diff_report_fn() -> dispatch::DiffReportFn {
    std::sync::Arc::new(|_event, _clients| {
        Box::pin(async { Err(failover_core::StepError::internal("diff-report is not wired into drills yet")) })
    })
}
