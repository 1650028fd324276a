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
