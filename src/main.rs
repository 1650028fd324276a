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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Plan(c) => cmd::plan::run(c),
        Command::Asl(c) => cmd::asl::run(c),
        Command::Sim(a) => cmd::sim::run(a),
        Command::Diff(a) => cmd::diff::run(a),
        Command::Drill(a) => cmd::drill::run(a),
    }
}
