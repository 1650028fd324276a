//! regionsim: a simulated AWS Region pair on 127.0.0.1, behind the real AWS SDK clients.
//!
//! Only the endpoint changes: the code under test builds its `aws-sdk-*` clients as it
//! does in AWS, with an explicit Region, and points them at the URLs in [`Endpoints`].
//!
//! # Principal types
//! * [`SimBuilder`]: configures a simulator from a [`failover_core::Plan`] and a
//!   [`failover_core::SharedClock`], builds every service of [`services`], binds their
//!   ports on 127.0.0.1 and returns a [`Sim`].
//! * [`Sim`]: the kernel's handle. Region health ([`Sim::set_region_down`]), faults
//!   ([`Sim::set_endpoint_fault`], [`Sim::kill_endpoints`], [`Sim::set_throttle_rate`],
//!   [`Sim::set_extra_latency`]), the call log ([`Sim::calls`], [`Sim::api_calls`],
//!   [`Sim::repeated_mutations`]; each [`CallRecord`] names its caller, the SigV4 access
//!   key id, and what IAM evaluates for it, [`iam`]), the endpoints, the plan that points at them
//!   ([`Sim::plan`], [`Sim::write_plan`]) and the registry of services ([`Sim::service`]).
//!   The kernel names no service.
//! * A service's own handle, with its state behind its own lock:
//!   `sim.service::<ArcCluster>()` ([`arc::ArcCluster`]: routing controls, conflicts,
//!   safety rules), [`cloudwatch::CloudWatch`] (alarms, metrics), [`sns::Sns`] (published
//!   messages), [`s3::S3`] (objects), [`secrets::SecretsManager`], [`dns::Dns`] (the
//!   current answer), [`web::Web`], [`dynamodb::DynamoDb`] (each Region's tables, TTL
//!   sweep), [`function_urls::FunctionUrls`] (each Region's function URL and its handler);
//!   once installed, `sim.try_service::<Aurora>()` ([`rds::Aurora`]) and [`sfn::Sfn`].
//! * [`world::World`]: the simulated world's figures (call latencies per service and
//!   Region pair, Lambda and Step Functions costs, health-check propagation, the record's
//!   TTL, the resolvers, Aurora's durations, the approver), drawn from seeded ranges;
//!   [`Sim::world`]. [`resolvers::Resolvers`]: the clients' caching resolvers, what a drill
//!   observes to say when clients moved.
//! * [`HttpService`]: what a simulated service implements; [`Request`] in, [`Response`] out.
//!
//! ```
//! use regionsim::{SimBuilder, arc::ArcCluster, sns::Sns};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let sim = SimBuilder::new(failover_core::SharedClock::system()).start().await.unwrap();
//! let arc = sim.service::<ArcCluster>();
//! arc.inject_conflicts(1);
//! assert_eq!(arc.state().pending_conflicts, 1);
//! assert!(sim.service::<Sns>().messages().is_empty());
//! # });
//! ```
//!
//! # Code map
//! * `iam.rs`: [`Authorization`], what IAM evaluates for a call (each service's
//!   [`HttpService::authorizations`] says it from the request it parses).
//! * Kernel: `sim.rs` (the handle: health, faults, call log, registry), `sim/builder.rs`
//!   ([`SimBuilder`], the [`Setup`] a registration sees), `server.rs` (one hyper listener
//!   per port; the fault gate, latency, throttling and call log around
//!   [`HttpService::handle`]), `endpoints.rs` (the address book), `wire.rs` (protocol
//!   helpers shared by services), `control.rs` (the JSON control API of `failover sim`).
//! * `services.rs`: the one list of built-in services (`services::BUILTIN`, crate
//!   private) and their names ([`service`]).
//! * One file a service: `arc.rs`, `cloudwatch.rs`, `sns.rs`, `s3.rs`, `secrets.rs`,
//!   `web.rs`, `dns.rs`, `sfn.rs` (Step Functions over a `failover_asl::Runner`),
//!   `dynamodb.rs` with `dynamodb/` (`model.rs`: tables, items, TTL; `expr.rs`: the
//!   expression parser and evaluator; `value.rs`: attribute values and decimal numbers),
//!   `function_urls.rs` (HTTP to payload format 2.0 events and back), `rds.rs`
//!   with `rds/` (the Aurora model: `model.rs` and `model/`, the wire API `api.rs` and
//!   `xml.rs`), and `data.rs` with `data/` (the databases behind it: `values.rs`,
//!   `workload.rs`, `truth.rs`, `store.rs`, `db.rs`).
//! * `compat.rs`: shortcuts kept for callers in other crates (`sim.sns_messages()`, ...).
//!
//! # Adding a service
//! Write its module: its state behind its own `Mutex`, its [`HttpService`], and a
//! `register(setup: &mut Setup)` that builds it from [`Setup::plan`] and asks for its
//! ports, e.g. `setup.serve_shared("dynamodb", Some("AWS_ENDPOINT_URL_DYNAMODB"), svc)`.
//! Declare it here (`pub mod dynamodb;`) and add one line to `services::BUILTIN`:
//!
//! ```text
//!     crate::dynamodb::DynamoDb::register,
//! ```
//!
//! Nothing else names it: its port, its `AWS_ENDPOINT_URL_*` line, the call log, faults
//! and throttling (by its name) and `sim.service::<DynamoDb>()` follow. A service that
//! reads another does it through a narrow trait the reader defines and the other
//! provides ([`Sim::provide`] with a `dyn Trait`): [`dns::HealthChecks`] (ARC),
//! [`cloudwatch::LagFn`] (the Aurora model's replication lag).
//!
//! # Plugging in a handler after start (the RDS model)
//! A service whose state is built later reserves its port in the list (`rds::reserve_port`)
//! and installs its handler with [`Sim::register_service`] (what `rds::Aurora::install`
//! does) or [`SimBuilder::service`]. The Region of a call on a shared port is
//! [`Request::region`], taken from the SigV4 credential scope:
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
//!
//! Before `handle` runs, the server has already applied the Region-down gate (a down
//! Region's requests hang or are dropped), endpoint faults, extra latency and throttling
//! (rendered with `throttling_error` and `error_response`), and logged the call under
//! [`HttpService::operation`] (the default reads the query protocol's `Action`). Other
//! hooks for the RDS model: [`Sim::subscribe_changes`], [`Sim::region_up`] and
//! [`Sim::health_transitions`] (every down and up, in order, with its time),
//! [`Sim::register_control`] (a `POST /x/{name}` hook of the control API, e.g. `stall`),
//! [`Sim::provide`] (its handle, and its [`cloudwatch::LagFn`]), [`Sim::clock`] and
//! [`Sim::random_f64`].
//!
//! # Time
//! Every delay the simulator applies (extra latency, propagation, alarm evaluation, the
//! Aurora model's durations) is measured on the [`failover_core::SharedClock`] it was
//! built with: a `VirtualClock` under a paused tokio runtime for in-process drills (a
//! hanging endpoint then costs no wall time: the client's timeout fires as soon as every
//! task waits), a `ScaledClock` for `failover sim`.

pub mod arc;
pub mod cloudformation;
pub mod cloudwatch;
mod compat;
pub mod control;
pub mod data;
pub mod dns;
pub mod dynamodb;
pub mod endpoints;
pub mod eventbridge;
pub mod function_urls;
pub mod iam;
pub mod rds;
pub mod resolvers;
pub mod s3;
pub mod secrets;
pub mod server;
pub mod services;
pub mod sfn;
pub mod sim;
pub mod sns;
pub mod ssm;
pub mod sts;
pub mod web;
pub mod wire;
pub mod world;

pub use cloudwatch::{LagQuery, LagSource};
pub use endpoints::Endpoints;
pub use iam::Authorization;
pub use server::{ApiError, HttpService, Listener, Request, Response, ResponseFuture};
pub use services::service;
pub use sim::{
    CallRecord, CallerRegions, DownMode, EndpointFault, HealthTransition, RegionStatus, Setup, Sim, SimBuilder, WeakSim,
};

/// The plan a simulator uses when none is given (the retail store, us-east-1 and
/// us-west-2, one global database `orders`).
pub fn default_plan() -> failover_core::Plan {
    failover_core::Plan::from_yaml(include_str!("default-plan.yaml")).expect("the built-in plan is valid")
}
