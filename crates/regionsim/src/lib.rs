//! regionsim: a simulated AWS Region pair on 127.0.0.1, behind the real AWS SDK clients.
//!
//! Only the endpoint changes: the code under test builds its `aws-sdk-*` clients as it
//! does in AWS, with an explicit Region, and points them at the URLs in [`Endpoints`].
//!
//! # Principal types
//! * [`SimBuilder`]: configures a simulator from a [`failover_core::Plan`] and a
//!   [`failover_core::SharedClock`], binds every port on 127.0.0.1 and returns a [`Sim`].
//! * [`Sim`]: the shared handle. Region health ([`Sim::set_region_down`]), faults
//!   ([`Sim::set_endpoint_fault`], [`Sim::set_throttle_rate`], [`Sim::set_extra_latency`]),
//!   the call log ([`Sim::calls`], [`Sim::api_calls`], [`Sim::repeated_mutations`]),
//!   the endpoints, and the plan that
//!   points at them ([`Sim::plan`], [`Sim::write_plan`]).
//! * [`HttpService`]: what a simulated service implements; [`Request`] in, [`Response`] out.
//!
//! # Plugging in a service (the RDS model)
//! Every service in [`service::SHARED`] gets one port that serves both Regions; the Region
//! of a call is [`Request::region`], taken from the SigV4 credential scope. To serve RDS:
//!
//! ```
//! use std::sync::Arc;
//! use regionsim::{ApiError, HttpService, Request, Response, ResponseFuture, SimBuilder, service, wire};
//!
//! struct Rds; // the real one holds the model and a `regionsim::WeakSim`
//!
//! impl HttpService for Rds {
//!     fn handle(&self, req: Request) -> ResponseFuture {
//!         let form = wire::Form::parse(&req.body);
//!         let region = req.region.clone().unwrap_or_default();
//!         let resp = match form.action() {
//!             "DescribeGlobalClusters" => wire::query_response(
//!                 "DescribeGlobalClusters",
//!                 "http://rds.amazonaws.com/doc/2014-10-31/",
//!                 "<GlobalClusters/>",
//!             ),
//!             other => self.error_response(&req, &ApiError::new(400, "InvalidAction", format!("{other} in {region}"))),
//!         };
//!         Box::pin(async move { resp })
//!     }
//!     fn error_response(&self, _req: &Request, err: &ApiError) -> Response {
//!         wire::query_error(err)
//!     }
//!     fn throttling_error(&self) -> ApiError {
//!         ApiError::new(400, "Throttling", "Rate exceeded")
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let clock = failover_core::SharedClock::system();
//! let sim = SimBuilder::new(clock).service(service::RDS, |_sim| Arc::new(Rds)).start().await.unwrap();
//! assert!(sim.endpoints().url(service::RDS).unwrap().starts_with("http://127.0.0.1:"));
//! # });
//! ```
//! or, after start, [`Sim::register_service`] (what `rds::Aurora::install` does). Before `handle` runs, the server has
//! already applied the Region-down gate (a down Region's requests hang or are dropped),
//! endpoint faults, extra latency and throttling (rendered with `throttling_error` and
//! `error_response`), and logged the call under [`HttpService::operation`] (the default
//! reads the query protocol's `Action`). Other hooks for the RDS model:
//! [`Sim::subscribe_changes`], [`Sim::region_up`] and [`Sim::health_transitions`] (every
//! down and up, in order, with its time), [`Sim::register_control`] (a `POST /x/{name}`
//! hook of the control API, e.g. `stall`),
//! [`Sim::set_lag_source`] (the values of CloudWatch's `AuroraGlobalDBRPOLag` and
//! `AuroraGlobalDBReplicationLag`), [`Sim::insert_extension`] / [`Sim::extension`] (share
//! the model with drills), [`Sim::clock`] and [`Sim::random_f64`].
//!
//! # Time
//! Every delay the simulator applies (extra latency, propagation, alarm evaluation, the
//! Aurora model's durations) is measured on the [`failover_core::SharedClock`] it was
//! built with: a `VirtualClock` under a paused tokio runtime for in-process drills (a
//! hanging endpoint then costs no wall time: the client's timeout fires as soon as every
//! task waits), a `ScaledClock` for `failover sim`.
//!
//! # Services
//! * `arc`: the ARC cluster data plane, five Regional endpoints ([`arc`]).
//! * `cloudwatch`, `sns`, `s3`, `secretsmanager`: one shared port each.
//! * `rds`: the Aurora model (module [`rds`]), registered by its author.
//! * `states`: Step Functions over a `failover_asl::Runner` ([`sfn::Sfn`], installed by whoever owns the runner).
//! * `web`: one health URL per Region (`GET /health`).
//! * DNS: an authoritative UDP/TCP server for the plan's record ([`dns`]).
//!
//! Module ownership while the crate is being built:
//! * `server`, `sim`, `world`, `wire`, `arc`, `dns`, `cloudwatch`, `sns`, `s3`, `secrets`,
//!   `web`, `control`: protocols and the shared simulation handle.
//! * `rds`, `data`: the Aurora model and the databases behind it (workload, replication,
//!   ground truth).

pub mod arc;
pub mod cloudwatch;
mod compat;
pub mod control;
pub mod data;
pub mod dns;
pub mod endpoints;
pub mod rds;
pub mod s3;
pub mod secrets;
pub mod server;
pub mod services;
pub mod sfn;
pub mod sim;
pub mod sns;
pub mod web;
pub mod wire;

pub use cloudwatch::{LagQuery, LagSource};
pub use endpoints::Endpoints;
pub use server::{ApiError, HttpService, Listener, Request, Response, ResponseFuture};
pub use services::service;
pub use sim::{CallRecord, DownMode, EndpointFault, HealthTransition, RegionStatus, Setup, Sim, SimBuilder, WeakSim};

/// The plan a simulator uses when none is given (the retail store, us-east-1 and
/// us-west-2, one global database `orders`).
pub fn default_plan() -> failover_core::Plan {
    failover_core::Plan::from_yaml(include_str!("default-plan.yaml")).expect("the built-in plan is valid")
}
