//! The [`Runner`]: it starts executions (validating the input, naming them, registering
//! them) and routes task callbacks by token.
//!
//! One execution is one tokio task (`engine.rs`); [`ExecutionHandle`] (`execution.rs`)
//! watches it. Every wait goes through the runner's [`SharedClock`]; under a paused runtime
//! with a virtual clock an hour-long Wait costs nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use failover_core::SharedClock;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use crate::definition::Definition;
use crate::dispatch::TaskDispatcher;
use crate::engine::Engine;
use crate::error::{AslError, CallbackError};
use crate::execution::{ExecShared, ExecState, ExecutionHandle, ExecutionResult, Status};
use crate::history::HistoryEvent;
use crate::intrinsics::{Entropy, uuid_v4};

/// Step Functions' history quota for one Standard execution.
pub const HISTORY_LIMIT: usize = 25_000;
/// Step Functions' payload quota: 256 KiB for any input, output or result.
pub const PAYLOAD_LIMIT: usize = 256 * 1024;

/// Where the simulated executions live, and the quotas they obey.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    pub region: String,
    pub account: String,
    /// The state machine name used when [`StartOptions::state_machine_name`] is not given.
    pub state_machine_name: String,
    pub history_limit: usize,
    pub payload_limit: usize,
    /// Seeds execution names, task tokens, `States.UUID`, request ids and retry jitter.
    pub seed: u64,
    /// What one state transition costs on the clock, spent before each state is entered.
    /// Zero for a bare runner, which models no service; a drill gives it the simulated
    /// world's (`regionsim::world::World::state_transition`).
    pub state_transition: std::time::Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            account: "123456789012".into(),
            state_machine_name: "StateMachine".into(),
            history_limit: HISTORY_LIMIT,
            payload_limit: PAYLOAD_LIMIT,
            seed: 0,
            state_transition: std::time::Duration::ZERO,
        }
    }
}

/// Options of one execution.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// The execution name; a UUID when absent.
    pub name: Option<String>,
    pub state_machine_name: Option<String>,
    /// The Region of the state machine and its execution ARNs; the runner's when absent
    /// (a runner that plays the stacks of both Regions starts each in its own).
    pub region: Option<String>,
}

/// Sees every history event of every execution of a runner, as it is recorded.
pub type Observer = Arc<dyn Fn(&ExecutionHandle, &HistoryEvent) + Send + Sync>;

/// Starts executions; cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct Runner {
    pub(crate) inner: Arc<RunnerInner>,
}

/// A [`Runner`] that does not keep it alive: what a dispatcher that starts executions on
/// its own runner holds (a [`Runner`] there would be a cycle, and nothing the dispatcher
/// owns would ever be dropped).
#[derive(Clone)]
pub struct WeakRunner(Weak<RunnerInner>);

impl WeakRunner {
    /// The runner, while anything else still holds it.
    pub fn upgrade(&self) -> Option<Runner> {
        self.0.upgrade().map(|inner| Runner { inner })
    }
}

pub(crate) struct RunnerInner {
    pub(crate) dispatcher: Arc<dyn TaskDispatcher>,
    pub(crate) clock: SharedClock,
    pub(crate) config: RunnerConfig,
    pub(crate) rng: Mutex<StdRng>,
    pub(crate) tokens: Mutex<HashMap<String, TokenSlot>>,
    pub(crate) executions: Mutex<Vec<ExecutionHandle>>,
    pub(crate) observers: Mutex<Vec<Observer>>,
}

pub(crate) enum TokenSlot {
    Open { execution: String, tx: mpsc::UnboundedSender<Callback> },
    Done,
    TimedOut,
}

pub(crate) enum Callback {
    Success(Value),
    Failure(String, String),
    Heartbeat,
}

impl Entropy for RunnerInner {
    fn next_u64(&self) -> u64 {
        self.rng.lock().unwrap().random()
    }
}

impl RunnerInner {
    pub(crate) fn uuid(&self) -> String {
        uuid_v4(self.next_u64(), self.next_u64())
    }

    fn callback(&self, token: &str, cb: Callback) -> Result<(), CallbackError> {
        let mut tokens = self.tokens.lock().unwrap();
        let final_cb = !matches!(cb, Callback::Heartbeat);
        match tokens.get(token) {
            None if token.starts_with(TOKEN_PREFIX) => Err(CallbackError::TaskDoesNotExist(token.to_string())),
            None => Err(CallbackError::InvalidToken(token.to_string())),
            Some(TokenSlot::Done) => Err(CallbackError::TaskDoesNotExist(token.to_string())),
            Some(TokenSlot::TimedOut) => Err(CallbackError::TaskTimedOut(token.to_string())),
            Some(TokenSlot::Open { tx, .. }) => {
                if tx.send(cb).is_err() {
                    tokens.insert(token.to_string(), TokenSlot::Done);
                    return Err(CallbackError::TaskDoesNotExist(token.to_string()));
                }
                if final_cb {
                    tokens.insert(token.to_string(), TokenSlot::Done);
                }
                Ok(())
            }
        }
    }
}

pub(crate) const TOKEN_PREFIX: &str = "AQ";

impl Runner {
    pub fn new(dispatcher: impl TaskDispatcher, clock: SharedClock) -> Self {
        Self::with_config(dispatcher, clock, RunnerConfig::default())
    }

    pub fn with_config(dispatcher: impl TaskDispatcher, clock: SharedClock, config: RunnerConfig) -> Self {
        Self {
            inner: Arc::new(RunnerInner {
                dispatcher: Arc::new(dispatcher),
                clock,
                rng: Mutex::new(StdRng::seed_from_u64(config.seed)),
                config,
                tokens: Mutex::new(HashMap::new()),
                executions: Mutex::new(Vec::new()),
                observers: Mutex::new(Vec::new()),
            }),
        }
    }

    pub fn config(&self) -> &RunnerConfig {
        &self.inner.config
    }

    /// A handle that does not keep this runner alive (see [`WeakRunner`]).
    pub fn downgrade(&self) -> WeakRunner {
        WeakRunner(Arc::downgrade(&self.inner))
    }

    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    /// Calls `f` for every history event of every execution started by this runner from now on
    /// (a drill prints a line per state with it).
    pub fn observe(&self, f: impl Fn(&ExecutionHandle, &HistoryEvent) + Send + Sync + 'static) {
        self.inner.observers.lock().unwrap().push(Arc::new(f));
    }

    /// Starts an execution on the current tokio runtime.
    pub fn start(
        &self,
        definition: &Definition,
        input: Value,
        name: Option<&str>,
    ) -> Result<ExecutionHandle, AslError> {
        self.start_with(definition, input, StartOptions { name: name.map(str::to_string), ..Default::default() })
    }

    pub fn start_with(
        &self,
        definition: &Definition,
        input: Value,
        opts: StartOptions,
    ) -> Result<ExecutionHandle, AslError> {
        let rt = &self.inner;
        let cfg = &rt.config;
        let input_text = input.to_string();
        if input_text.len() > cfg.payload_limit {
            return Err(AslError::InvalidInput(format!(
                "{} bytes exceed the {} byte payload limit",
                input_text.len(),
                cfg.payload_limit
            )));
        }
        let name = opts.name.unwrap_or_else(|| rt.uuid());
        if name.is_empty() || name.len() > 80 {
            return Err(AslError::InvalidInput(format!("execution name `{name}` must have 1 to 80 characters")));
        }
        let sm_name = opts.state_machine_name.unwrap_or_else(|| cfg.state_machine_name.clone());
        let region = opts.region.unwrap_or_else(|| cfg.region.clone());
        let sm_arn = format!("arn:aws:states:{region}:{}:stateMachine:{sm_name}", cfg.account);
        let arn = format!("arn:aws:states:{region}:{}:execution:{sm_name}:{name}", cfg.account);
        let start = rt.clock.now();
        let (done_tx, _) = watch::channel(false);
        let (abort_tx, abort_rx) = watch::channel(None);
        let handle = ExecutionHandle {
            shared: Arc::new(ExecShared {
                arn: arn.clone(),
                name: name.clone(),
                state_machine_arn: sm_arn.clone(),
                input: input.clone(),
                start,
                state: Mutex::new(ExecState {
                    status: Status::Running,
                    output: None,
                    error: None,
                    cause: None,
                    stop: None,
                    history: Vec::new(),
                    subscribers: Vec::new(),
                }),
                done: done_tx,
                abort: abort_tx,
                runner: Arc::downgrade(&self.inner),
            }),
        };
        {
            let mut execs = rt.executions.lock().unwrap();
            if execs.iter().any(|e| e.arn() == arn) {
                return Err(AslError::ExecutionAlreadyExists(name));
            }
            execs.push(handle.clone());
        }
        let base_ctx = json!({
            "Execution": {
                "Id": arn,
                "Input": input,
                "Name": name,
                "RoleArn": format!("arn:aws:iam::{}:role/failover-local-runner", cfg.account),
                "StartTime": failover_core::time_fmt::rfc3339(start),
                "RedriveCount": 0,
            },
            "StateMachine": {"Id": sm_arn, "Name": sm_name},
        });
        Engine::launch(self.inner.clone(), handle.clone(), base_ctx, definition, input, input_text, abort_rx);
        Ok(handle)
    }

    /// Starts an execution and waits for its end.
    pub async fn run(&self, definition: &Definition, input: Value) -> Result<ExecutionResult, AslError> {
        Ok(self.start(definition, input, None)?.wait().await)
    }

    /// Every execution this runner started, oldest first.
    pub fn executions(&self) -> Vec<ExecutionHandle> {
        self.inner.executions.lock().unwrap().clone()
    }

    pub fn execution(&self, arn: &str) -> Option<ExecutionHandle> {
        self.inner.executions.lock().unwrap().iter().find(|e| e.arn() == arn).cloned()
    }

    /// `SendTaskSuccess`: `output` becomes the task's result.
    pub fn send_task_success(&self, token: &str, output: Value) -> Result<(), CallbackError> {
        let size = output.to_string().len();
        if size > self.inner.config.payload_limit {
            return Err(CallbackError::InvalidOutput(format!("{size} bytes exceed the payload limit")));
        }
        self.inner.callback(token, Callback::Success(output))
    }

    /// `SendTaskFailure`: the task fails with `error` and `cause`.
    pub fn send_task_failure(&self, token: &str, error: &str, cause: &str) -> Result<(), CallbackError> {
        self.inner.callback(token, Callback::Failure(error.to_string(), cause.to_string()))
    }

    /// `SendTaskHeartbeat`: restarts the task's `HeartbeatSeconds` timer.
    pub fn send_task_heartbeat(&self, token: &str) -> Result<(), CallbackError> {
        self.inner.callback(token, Callback::Heartbeat)
    }

    /// The tokens of the callback tasks currently waiting, with their execution ARN.
    pub fn open_task_tokens(&self) -> Vec<(String, String)> {
        let tokens = self.inner.tokens.lock().unwrap();
        let mut out: Vec<(String, String)> = tokens
            .iter()
            .filter_map(|(t, s)| match s {
                TokenSlot::Open { execution, tx } if !tx.is_closed() => Some((t.clone(), execution.clone())),
                _ => None,
            })
            .collect();
        out.sort();
        out
    }
}
