//! One module per subcommand.

pub mod asl;
pub mod campaign;
pub mod diff;
pub mod drill;
pub mod ops;
pub mod plan;
pub mod sim;
