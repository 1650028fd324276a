//! One execution, offline and on virtual time: what `failover asl run` does.

use std::collections::BTreeMap;
use std::time::SystemTime;

use failover_core::SharedClock;
use serde_json::Value;

use crate::error::AslError;
use crate::{Definition, ExecutionResult, MockConfig, Runner, RunnerConfig, StartOptions, substitute};

/// A Step Functions Local test case to answer the Task states.
#[derive(Debug, Clone)]
pub struct MockSelection {
    pub config_text: String,
    /// The `StateMachines` key; when absent or unknown and the file has a single state machine,
    /// that one.
    pub state_machine: Option<String>,
    pub test_case: String,
}

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct OfflineRun {
    pub definition_text: String,
    pub substitutions: BTreeMap<String, String>,
    pub input: Value,
    pub mock: Option<MockSelection>,
    pub seed: u64,
    pub execution_name: Option<String>,
    /// The virtual clock's starting time.
    pub start: Option<SystemTime>,
}

/// Validates, then runs one execution to its end on a paused runtime: waits and retry
/// intervals take no wall time. Without a mock, a definition with Task states is refused, as
/// nothing could answer them.
pub fn run_offline(run: OfflineRun) -> Result<ExecutionResult, AslError> {
    let text = substitute(&run.definition_text, &run.substitutions)?;
    let definition = Definition::parse(&text)?;
    let (dispatcher, sm_name) = match &run.mock {
        Some(m) => {
            let config = MockConfig::parse(&m.config_text)?;
            let name = match &m.state_machine {
                Some(n) if config.state_machines.contains_key(n) => n.clone(),
                _ if config.state_machines.len() == 1 => {
                    config.state_machines.keys().next().cloned().unwrap_or_default()
                }
                Some(n) => n.clone(),
                None => {
                    return Err(AslError::MockConfig(
                        "the file has several state machines: name one with --state-machine".into(),
                    ));
                }
            };
            (Some(config.dispatcher(&name, &m.test_case, Some(&definition))?), name)
        }
        None => {
            let tasks = definition.task_state_names();
            if !tasks.is_empty() {
                return Err(AslError::MockConfig(format!(
                    "the definition has Task states ({}): give a mock configuration and a test case",
                    tasks.join(", ")
                )));
            }
            (None, "StateMachine".to_string())
        }
    };
    let rt = crate::virtual_runtime().map_err(|e| AslError::InvalidInput(format!("cannot start a runtime: {e}")))?;
    rt.block_on(async move {
        let clock = SharedClock::virtual_at(run.start.unwrap_or(SystemTime::UNIX_EPOCH));
        let config = RunnerConfig { seed: run.seed, state_machine_name: sm_name, ..Default::default() };
        let runner = match dispatcher {
            Some(d) => Runner::with_config(d, clock, config),
            None => Runner::with_config(crate::MockConfig::empty_dispatcher(), clock, config),
        };
        let opts = StartOptions { name: run.execution_name, state_machine_name: None, region: None };
        Ok(runner.start_with(&definition, run.input, opts)?.wait().await)
    })
}
