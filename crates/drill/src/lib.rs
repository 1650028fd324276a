//! failover-drill: the deployed state machines, run offline with the real handlers.
//!
//! * [`definitions`]: the failover and recovery definitions as deployed
//!   (`statemachine/*.asl.json`, embedded), with their `${Placeholders}` filled the way the
//!   SAM template's `DefinitionSubstitutions` fill them.
//! * [`clients`]: when clients moved, observed on the simulator's sampled resolvers, and
//!   the waits for human decisions in an execution's history.
//! * [`dispatch`]: function ARNs to the real handlers, in-process, each with the clients
//!   of its own role.
//! * [`principals`]: who signs the drill's calls (one access key id per role of each
//!   stack) and what the simulated stacks name that CloudFormation would generate.
//! * [`report`]: what a drill is asked ([`DrillOptions`]) and what it reports
//!   ([`DrillReport`]).
//! * [`run`]: the drill itself (simulator, runner, approver, faults), and
//!   [`run::run_recorded`] with every role's calls ([`run::CallLog`]); `expect` (private):
//!   the verdict of a run against the scenario table.
//! * [`live`]: the lines a person follows while a drill runs (the database of each Map
//!   iteration, durations, long polls); [`spell`]: values as the command line spells them.
//! * [`artifacts`]: what a drill leaves to read (report files, e-mails, histories), taken
//!   out of the simulator; [`out`] writes them with the [`timeline`] page.
//! * [`campaign`]: the scenario × fault × seed matrix, run in parallel, and its table and
//!   page.

pub mod artifacts;
pub mod campaign;
pub mod clients;
pub mod definitions;
pub mod dispatch;
mod expect;
pub mod live;
pub mod out;
pub mod principals;
pub mod report;
pub mod run;
pub mod spell;
pub mod stage;
pub mod timeline;

pub use artifacts::Artifacts;
pub use report::{Approve, DrillError, DrillOptions, DrillReport, Fault, Scenario, WorldOverrides};
pub use run::{CallLog, run, run_blocking, run_recorded, run_with_artifacts, run_with_artifacts_blocking};
