//! The simulated Amazon RDS (Aurora global databases).
