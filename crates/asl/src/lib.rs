//! failover-asl: a local Amazon States Language interpreter on the failover clock.
//!
//! It runs the deployed state machine definitions offline, against handlers in-process, the
//! way Step Functions runs them: data flow (`InputPath`, `Parameters`, `ResultSelector`,
//! `ResultPath`, `OutputPath`, the context object, intrinsic functions), `Retry` and `Catch`
//! with the documented matching order, timeouts, heartbeats and callbacks, the history with its
//! 25,000-event quota and the 256 KiB payload quota.
//!
//! * [`Definition`]: a parsed definition. Parsing refuses, with a [`Problem`] naming the state
//!   and the field, anything this runner does not implement.
//! * [`Runner`]: starts executions on a [`failover_core::SharedClock`]; [`ExecutionHandle`]
//!   waits for one, reads its [`HistoryEvent`]s live, and sends task success, failure and
//!   heartbeats.
//! * [`TaskDispatcher`]: what a Task calls. [`FaultInjector`] adds Lambda-level failures;
//!   [`MockDispatcher`] answers from a Step Functions Local mock configuration ([`MockConfig`]).
//! * [`substitute()`]: fills `DefinitionSubstitutions`; [`run_offline`] runs one execution on
//!   virtual time (`failover asl run`); [`Coverage`]: which states executions entered.
//!
//! This crate never reads the wall clock or the environment, and never talks to AWS.

mod choice;
mod coverage;
mod definition;
mod dispatch;
mod engine;
pub mod error;
mod execution;
mod history;
mod intrinsics;
mod mock;
mod offline;
mod path;
mod runner;
mod subst;
mod template;

pub use coverage::Coverage;
pub use definition::{Definition, Integration};
pub use dispatch::{
    FaultInjector, FaultRule, FnDispatcher, LambdaFault, TaskContext, TaskDispatcher, TaskFailure, TaskFuture,
};
pub use error::{AslError, CallbackError, Problem};
pub use execution::{ExecutionDescription, ExecutionHandle, ExecutionResult, Status};
pub use history::HistoryEvent;
pub use mock::{MockAnswer, MockConfig, MockDispatcher, MockedResponse};
pub use offline::{MockSelection, OfflineRun, run_offline};
pub use path::JsonPath;
pub use runner::{HISTORY_LIMIT, Observer, PAYLOAD_LIMIT, Runner, RunnerConfig, StartOptions, WeakRunner};
pub use subst::substitute;

/// A current-thread tokio runtime whose clock is paused: with a [`failover_core::clock::VirtualClock`]
/// made inside it, waits and retries cost no wall time. For offline runs (`failover asl run`,
/// drills).
pub fn virtual_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build()
}
