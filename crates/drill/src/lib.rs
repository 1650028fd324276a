//! failover-drill: the deployed state machines, run offline with the real handlers.
//!
//! * [`definitions`]: the failover and recovery definitions as deployed
//!   (`statemachine/*.asl.json`, embedded), with their `${Placeholders}` filled the way the
//!   SAM template's `DefinitionSubstitutions` fill them.
//! * [`dispatch`]: function ARNs to the real handlers, in-process.
//! * [`report`]: what a drill is asked ([`DrillOptions`]) and what it reports
//!   ([`DrillReport`]).
//! * [`run`]: the drill itself (simulator, runner, approver, faults); `expect` (private):
//!   the verdict of a run against the scenario table.

pub mod definitions;
pub mod dispatch;
mod expect;
pub mod report;
pub mod run;

pub use report::{Approve, DrillError, DrillOptions, DrillReport, Fault, Scenario};
pub use run::{run, run_blocking};
