//! `failover asl run|check`: a States Language definition offline, over failover-asl.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use clap::Subcommand;
use failover_asl::{Coverage, Definition, MockSelection, OfflineRun, Status};

#[derive(Subcommand, Debug)]
pub enum AslCommand {
    /// Run a definition to its end on virtual time and print status, output, history and the
    /// states entered and never entered (`coverage`) as JSON
    /// (exit 0 if it succeeded, 1 if it failed, timed out or was aborted, 2 on bad input).
    Run {
        /// The state machine definition (JSON).
        definition: PathBuf,
        /// The execution input (JSON); `{}` when absent.
        #[arg(long)]
        input: Option<PathBuf>,
        /// A Step Functions Local mock configuration answering the Task states.
        #[arg(long, requires = "test_case")]
        mock_config: Option<PathBuf>,
        /// The test case of the mock configuration.
        #[arg(long, requires = "mock_config")]
        test_case: Option<String>,
        /// The `StateMachines` entry of the mock configuration (default: the file name without
        /// `.asl.json`, or the only entry).
        #[arg(long)]
        state_machine: Option<String>,
        /// A `DefinitionSubstitutions` entry, KEY=VALUE (repeatable).
        #[arg(long = "substitution", value_name = "KEY=VALUE")]
        substitutions: Vec<String>,
        /// Seeds execution names, task tokens, States.UUID and retry jitter.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// The execution name.
        #[arg(long)]
        name: Option<String>,
        /// The virtual start time (RFC 3339); now when absent.
        #[arg(long)]
        start: Option<String>,
    },
    /// Validate a definition: every unsupported or invalid field, one per line (exit 2), or "valid".
    Check {
        definition: PathBuf,
        #[arg(long = "substitution", value_name = "KEY=VALUE")]
        substitutions: Vec<String>,
    },
}

pub fn run(cmd: AslCommand) -> ExitCode {
    match execute(cmd) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))
}

fn substitutions(list: &[String]) -> Result<BTreeMap<String, String>, String> {
    list.iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(format!("--substitution `{s}`: expected KEY=VALUE")),
        })
        .collect()
}

fn execute(cmd: AslCommand) -> Result<ExitCode, String> {
    match cmd {
        AslCommand::Check { definition, substitutions: subs } => {
            let text =
                failover_asl::substitute(&read(&definition)?, &substitutions(&subs)?).map_err(|e| e.to_string())?;
            match Definition::parse(&text) {
                Ok(_) => {
                    println!("{}: valid", definition.display());
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("{}: {e}", definition.display());
                    Ok(ExitCode::from(2))
                }
            }
        }
        AslCommand::Run {
            definition,
            input,
            mock_config,
            test_case,
            state_machine,
            substitutions: subs,
            seed,
            name,
            start,
        } => {
            let input = match input {
                Some(p) => {
                    serde_json::from_str(&read(&p)?).map_err(|e| format!("{}: invalid JSON: {e}", p.display()))?
                }
                None => serde_json::json!({}),
            };
            let start = match start {
                Some(s) => failover_core::time_fmt::parse_rfc3339(&s)?,
                None => SystemTime::now(),
            };
            let mock = match (mock_config, test_case) {
                (Some(p), Some(case)) => Some(MockSelection {
                    config_text: read(&p)?,
                    state_machine: state_machine.or_else(|| default_machine_name(&definition)),
                    test_case: case,
                }),
                _ => None,
            };
            let text = read(&definition)?;
            let subs = substitutions(&subs)?;
            let parsed = failover_asl::substitute(&text, &subs)
                .and_then(|t| Definition::parse(&t))
                .map_err(|e| format!("{}: {e}", definition.display()))?;
            let result = failover_asl::run_offline(OfflineRun {
                definition_text: text,
                substitutions: subs,
                input,
                mock,
                seed,
                execution_name: name,
                start: Some(start),
            })
            .map_err(|e| format!("{}: {e}", definition.display()))?;
            let mut coverage = Coverage::of(&parsed);
            coverage.record(&result.history);
            let mut shown = serde_json::to_value(&result).map_err(|e| e.to_string())?;
            if let Some(o) = shown.as_object_mut() {
                o.insert(
                    "coverage".into(),
                    serde_json::json!({"entered": coverage.entered, "never_entered": coverage.never_entered()}),
                );
            }
            println!("{}", serde_json::to_string_pretty(&shown).map_err(|e| e.to_string())?);
            Ok(if result.status == Status::Succeeded { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
    }
}

/// `statemachine/failover.asl.json` -> `failover`.
fn default_machine_name(path: &Path) -> Option<String> {
    let file = path.file_name()?.to_str()?;
    Some(file.trim_end_matches(".json").trim_end_matches(".asl").to_string())
}
