//! failover-core: the pieces every other crate agrees on.
//!
//! * [`plan::Plan`]: the failover plan, parsed from YAML and validated, the single source
//!   of truth about the Region pair.
//! * [`contract`]: the input and output type of every Lambda function (the state
//!   contract). Changing a type here changes the API between the state machine and the
//!   functions.
//! * [`error::StepError`] and [`error::ErrorKind`]: the error contract, the stable
//!   `errorType` names the state machines match.
//! * [`clock::SharedClock`]: the only source of time.
//!
//! This crate talks to no AWS service and reads no environment variable.

pub mod clock;
pub mod contract;
pub mod error;
pub mod plan;
pub mod time_fmt;

pub use clock::SharedClock;
pub use error::{ErrorKind, StepError};
pub use plan::Plan;
