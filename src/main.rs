//! The `failover` command line: glue only.
//!
//! Every subcommand is a thin layer over a library crate: `plan` over failover-core,
//! `diff` over rowdiff, `asl` over the States Language runner, `sim` over regionsim,
//! `drill` over all of them. Exit codes: 0 success, 1 "ran, and the answer is no"
//! (differences found, drill outcome not the expected one), 2 bad input or error.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

#[derive(Parser, Debug)]
#[command(
    name = "failover",
    version,
    about = "Fail a two-Region AWS application over to the healthy Region, and prove it"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Work with failover plans.
    #[command(subcommand)]
    Plan(cmd::plan::PlanCommand),
    /// Run or check a States Language definition offline.
    #[command(subcommand)]
    Asl(cmd::asl::AslCommand),
    /// Run a simulated Region pair on 127.0.0.1 for other processes.
    Sim(cmd::sim::SimArgs),
    /// Compare tables between the old and the new primary: the missing-transaction report.
    Diff(cmd::diff::DiffArgs),
    /// Run the failover and recovery state machines with the real handlers against a
    /// simulated Region pair, on virtual time.
    Drill(cmd::drill::DrillArgs),
    /// Start a failover in a deployed stack (reads the plan from the stack's parameter).
    Start(cmd::ops::StartArgs),
    /// Follow an execution: its states, durations, the current step, the time against the RTO.
    Status(cmd::ops::StatusArgs),
    /// Approve an execution's pending request (the same single-use record as the e-mail's link).
    Approve(cmd::ops::DecideArgs),
    /// Reject an execution's pending request.
    Reject(cmd::ops::DecideArgs),
    /// Stop an execution and report where each routing control and writer was left.
    Abort(cmd::ops::AbortArgs),
    /// Run the stack's readiness check and print each verdict.
    Readiness(cmd::ops::ReadinessArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Plan(c) => cmd::plan::run(c),
        Command::Asl(c) => cmd::asl::run(c),
        Command::Sim(a) => cmd::sim::run(a),
        Command::Diff(a) => cmd::diff::run(a),
        Command::Drill(a) => cmd::drill::run(a),
        Command::Start(a) => cmd::ops::run(cmd::ops::Op::Start(a)),
        Command::Status(a) => cmd::ops::run(cmd::ops::Op::Status(a)),
        Command::Approve(a) => cmd::ops::run(cmd::ops::Op::Approve(a)),
        Command::Reject(a) => cmd::ops::run(cmd::ops::Op::Reject(a)),
        Command::Abort(a) => cmd::ops::run(cmd::ops::Op::Abort(a)),
        Command::Readiness(a) => cmd::ops::run(cmd::ops::Op::Readiness(a)),
    }
}
