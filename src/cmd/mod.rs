//! One module per subcommand.

pub mod asl;
pub mod plan;
pub mod sim;
