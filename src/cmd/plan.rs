//! `failover plan check FILE`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use failover_core::Plan;

#[derive(Subcommand, Debug)]
pub enum PlanCommand {
    /// Validate a plan: print a summary (exit 0) or every problem, one per line (exit 2).
    Check {
        /// The plan file (YAML).
        file: PathBuf,
        /// Print the validated plan as JSON (what the state machine carries) instead of a summary.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: PlanCommand) -> ExitCode {
    match cmd {
        PlanCommand::Check { file, json } => check(&file, json),
    }
}

fn check(file: &PathBuf, json: bool) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: cannot read: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    match Plan::from_yaml(&text) {
        Ok(plan) if json => {
            println!("{}", serde_json::to_string_pretty(&plan).expect("a plan serialises"));
            ExitCode::SUCCESS
        }
        Ok(plan) => {
            println!("{}: valid", file.display());
            println!("{}", plan.summary());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{}: {} problem(s)", file.display(), errors.0.len());
            for p in &errors.0 {
                eprintln!("{p}");
            }
            ExitCode::from(2)
        }
    }
}
