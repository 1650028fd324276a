//! The failover-asl integration tests: one binary, one module per topic.

mod common;

mod callbacks;
mod dataflow;
mod docs_examples;
mod errors;
mod lambda;
mod limits;
mod mock_config;
mod states;
mod validation;
