//! failover-steps: the logic of every failover step, over the AWS SDK clients.
//!
//! One module per Lambda function, each exposing `handle(input, &deps) -> Result<Output,
//! StepError>` over typed inputs from `failover_core::contract`. The Lambda packages under
//! `functions/` are thin `main.rs` files around these; the local drill calls the same
//! handlers in-process.
//!
//! * [`aws`]: clients per Region on the shared clock, and SDK errors mapped to the error
//!   contract.
//! * [`routing_control`]: ARC routing controls over the five cluster endpoints.
//! * [`verify_health`]: is the target Region serving (routing states, DNS, HTTP, canary
//!   alarms)?
//! * [`aurora_failover`]: Aurora global switchover and failover, and polling their
//!   progress, refusing on the rules of `failover_core::aurora_rules`.
//! * [`snapshot_restore`]: the old primary's snapshot found, copied, restored and cleaned
//!   up.
//! * [`preflight`]: is the pair ready to fail over (a verdict per check, and overall)?
//! * [`notify`]: a phase or an outcome published to the running Region's SNS topic; an
//!   approval request recorded in the approvals table and e-mailed with signed links.
//! * [`approval`]: the Function URL behind those links (confirm, then approve or reject
//!   the waiting task through the single-use record), and the CLI's path to the same record.
//! * [`propose_failover`]: a canary alarm of this Region says the other is down: propose a
//!   failover to this Region (the lock, the execution, the notification), or say why not.
//! * [`diff_report`]: the missing-transaction report (rowdiff between the recovery cluster
//!   and a reader of the new primary), written to S3.
//! * [`rds`]: the RDS calls the Aurora steps share, and the observation the Aurora move
//!   rules judge; [`lag`]: the replication lag from CloudWatch.
//! * [`lambda`]: the glue every function's `main` uses.
//!
//! Steps never sleep to wait for AWS (the state machine polls) and never call another
//! function.

pub mod approval;
pub mod aurora_failover;
pub mod aws;
pub mod diff_report;
pub mod lag;
pub mod lambda;
pub mod notify;
pub mod preflight;
pub mod propose_failover;
pub mod rds;
pub mod routing_control;
pub mod snapshot_restore;
pub mod verify_health;
