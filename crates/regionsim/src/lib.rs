//! regionsim: a simulated AWS Region pair on 127.0.0.1.
//!
//! (Overview to be written by the crate's authors: the principal types, the services, the
//! model, the faults, the time line.)
//!
//! Module ownership while the crate is being built:
//! * `server`, `sim`, `faults`, `arc`, `dns`, `cloudwatch`, `sns`, `s3`, `secrets`: protocols
//!   and the shared simulation handle.
//! * `rds`, `data`: the Aurora model and the databases behind it (workload, replication,
//!   ground truth).

pub mod data;
pub mod rds;
