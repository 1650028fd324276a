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
        /// Also compare the plan's `stacks` with each Region's deployed stack (its
        /// CloudFormation outputs: topic, bucket, signing secret) and warn where they differ.
        #[arg(long)]
        stacks: bool,
        /// The stacks' name (default: failover-<plan name>, as samconfig.toml names them).
        #[arg(long)]
        stack_name: Option<String>,
    },
}

pub fn run(cmd: PlanCommand) -> ExitCode {
    match cmd {
        PlanCommand::Check { file, json, stacks, stack_name } => {
            let code = check(&file, json);
            if code != ExitCode::SUCCESS || !stacks {
                return code;
            }
            compare_stacks(&file, stack_name)
        }
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

/// Warns where the plan's `stacks` and the deployed stacks disagree (exit 0 either way:
/// they are warnings; 2 when a stack cannot be read).
fn compare_stacks(file: &PathBuf, stack_name: Option<String>) -> ExitCode {
    let Ok(plan) = std::fs::read_to_string(file)
        .map_err(|e| e.to_string())
        .and_then(|t| Plan::from_yaml(&t).map_err(|e| e.to_string()))
    else {
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let stack = stack_name.unwrap_or_else(|| format!("failover-{}", plan.name));
    runtime.block_on(async {
        let mut code = ExitCode::SUCCESS;
        for region in [&plan.regions.primary, &plan.regions.secondary] {
            let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(region.clone()))
                .load()
                .await;
            let target = failover_operator::Target { stack: stack.clone(), region: region.clone() };
            match failover_operator::Operator::connect(&sdk, failover_core::SharedClock::system(), target).await {
                Ok(o) => {
                    let warnings = o.disagreements(&plan);
                    if warnings.is_empty() {
                        println!("{region}: stack {stack} agrees with the plan");
                    }
                    for w in warnings {
                        println!("warning: {w}");
                    }
                }
                Err(e) => {
                    eprintln!("{region}: {e}");
                    code = ExitCode::from(e.exit_code());
                }
            }
        }
        code
    })
}
