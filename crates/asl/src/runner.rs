//! Executions: the [`Runner`] that starts them and the [`ExecutionHandle`] that watches them.
//!
//! One execution is one tokio task. Parallel branches and Map iterations are futures polled
//! concurrently inside it (never separate tasks), so a failing branch cancels its siblings by
//! being dropped, as Step Functions stops them. Every wait goes through the runner's
//! [`SharedClock`]; under a paused runtime with a virtual clock an hour-long Wait costs nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use failover_core::SharedClock;
use futures::future::{BoxFuture, FutureExt, try_join_all};
use futures::{StreamExt, TryStreamExt};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng};
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, watch};

use crate::definition::{
    Definition, Integration, Io, Kind, Machine, Retrier, Seconds, State, TaskSpec, Text, Transition, WaitFor,
};
use crate::dispatch::{TaskContext, TaskDispatcher, lambda_envelope};
use crate::error::{self, AslError, CallbackError, Failure};
use crate::history::{HistoryEvent, details_key};
use crate::intrinsics::{Entropy, uuid_v4};
use crate::path::JsonPath;

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
        }
    }
}

/// Options of one execution.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// The execution name; a UUID when absent.
    pub name: Option<String>,
    pub state_machine_name: Option<String>,
}

/// The status of an execution, as `DescribeExecution` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

/// A finished execution.
#[derive(Debug, Clone, Serialize)]
pub struct ExecutionResult {
    pub status: Status,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub history: Vec<HistoryEvent>,
}

/// What `DescribeExecution` returns.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionDescription {
    pub execution_arn: String,
    pub state_machine_arn: String,
    pub name: String,
    pub status: Status,
    #[serde(serialize_with = "failover_core::time_fmt::serialize")]
    pub start_date: SystemTime,
    #[serde(serialize_with = "failover_core::time_fmt::serialize_opt")]
    pub stop_date: Option<SystemTime>,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

impl ExecutionDescription {
    /// The `DescribeExecution` response as the JSON 1.0 protocol carries it: times in epoch
    /// seconds, input and output as JSON strings, absent fields left out.
    pub fn to_api_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("executionArn".into(), self.execution_arn.clone().into());
        m.insert("stateMachineArn".into(), self.state_machine_arn.clone().into());
        m.insert("name".into(), self.name.clone().into());
        m.insert("status".into(), json!(self.status));
        m.insert("startDate".into(), crate::history::epoch_seconds(self.start_date).into());
        if let Some(t) = self.stop_date {
            m.insert("stopDate".into(), crate::history::epoch_seconds(t).into());
        }
        m.insert("input".into(), self.input.to_string().into());
        m.insert("inputDetails".into(), json!({"included": true}));
        if let Some(o) = &self.output {
            m.insert("output".into(), o.to_string().into());
            m.insert("outputDetails".into(), json!({"included": true}));
        }
        if let Some(e) = &self.error {
            m.insert("error".into(), e.clone().into());
        }
        if let Some(c) = &self.cause {
            m.insert("cause".into(), c.clone().into());
        }
        Value::Object(m)
    }
}

/// Sees every history event of every execution of a runner, as it is recorded.
pub type Observer = Arc<dyn Fn(&ExecutionHandle, &HistoryEvent) + Send + Sync>;

/// Starts executions; cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct Runner {
    inner: Arc<RunnerInner>,
}

struct RunnerInner {
    dispatcher: Arc<dyn TaskDispatcher>,
    clock: SharedClock,
    config: RunnerConfig,
    rng: Mutex<StdRng>,
    tokens: Mutex<HashMap<String, TokenSlot>>,
    executions: Mutex<Vec<ExecutionHandle>>,
    observers: Mutex<Vec<Observer>>,
}

enum TokenSlot {
    Open { execution: String, tx: mpsc::UnboundedSender<Callback> },
    Done,
    TimedOut,
}

enum Callback {
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
    fn uuid(&self) -> String {
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

const TOKEN_PREFIX: &str = "AQ";

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
        let sm_arn = format!("arn:aws:states:{}:{}:stateMachine:{sm_name}", cfg.region, cfg.account);
        let arn = format!("arn:aws:states:{}:{}:execution:{sm_name}:{name}", cfg.region, cfg.account);
        let start = rt.clock.now();
        let (done_tx, _) = watch::channel(false);
        let (abort_tx, mut abort_rx) = watch::channel(None);
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
        let engine = Engine { rt: self.inner.clone(), ex: handle.clone(), base_ctx };
        let started = engine.record_final(
            0,
            "ExecutionStarted",
            json!({"input": input_text, "inputDetails": {"truncated": false}, "roleArn": engine.base_ctx["Execution"]["RoleArn"]}),
        );
        let definition = definition.clone();
        tokio::spawn(async move {
            let _guard = Unfinished(&engine);
            let clock = engine.rt.clock.clone();
            let run = engine.run_machine(&definition.root, input, started);
            let timed = async {
                match definition.timeout_seconds {
                    Some(t) => clock.timeout(Duration::from_secs(t), run).await.ok(),
                    None => Some(run.await),
                }
            };
            let aborted = async {
                loop {
                    if let Some(reason) = abort_rx.borrow_and_update().clone() {
                        return reason;
                    }
                    if abort_rx.changed().await.is_err() {
                        futures::future::pending::<()>().await;
                    }
                }
            };
            let outcome = tokio::select! {
                biased;
                r = timed => Ok(r),
                reason = aborted => Err(reason),
            };
            engine.finish(outcome);
        });
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

/// A running or finished execution; cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct ExecutionHandle {
    shared: Arc<ExecShared>,
}

struct ExecShared {
    arn: String,
    name: String,
    state_machine_arn: String,
    input: Value,
    start: SystemTime,
    state: Mutex<ExecState>,
    done: watch::Sender<bool>,
    abort: watch::Sender<Option<(String, String)>>,
    runner: Weak<RunnerInner>,
}

struct ExecState {
    status: Status,
    output: Option<Value>,
    error: Option<String>,
    cause: Option<String>,
    stop: Option<SystemTime>,
    history: Vec<HistoryEvent>,
    subscribers: Vec<mpsc::UnboundedSender<HistoryEvent>>,
}

impl std::fmt::Debug for ExecutionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutionHandle").field("arn", &self.shared.arn).finish()
    }
}

impl ExecutionHandle {
    pub fn arn(&self) -> &str {
        &self.shared.arn
    }

    pub fn name(&self) -> &str {
        &self.shared.name
    }

    pub fn start_date(&self) -> SystemTime {
        self.shared.start
    }

    pub fn state_machine_arn(&self) -> &str {
        &self.shared.state_machine_arn
    }

    pub fn input(&self) -> &Value {
        &self.shared.input
    }

    pub fn status(&self) -> Status {
        self.shared.state.lock().unwrap().status
    }

    /// Waits for the end of the execution.
    pub async fn wait(&self) -> ExecutionResult {
        let mut rx = self.shared.done.subscribe();
        // The sender lives as long as this handle, so wait_for only fails if it was dropped.
        let _ = rx.wait_for(|d| *d).await;
        let st = self.shared.state.lock().unwrap();
        ExecutionResult {
            status: st.status,
            output: st.output.clone(),
            error: st.error.clone(),
            cause: st.cause.clone(),
            history: st.history.clone(),
        }
    }

    /// The history so far.
    pub fn history(&self) -> Vec<HistoryEvent> {
        self.shared.state.lock().unwrap().history.clone()
    }

    pub fn describe(&self) -> ExecutionDescription {
        let st = self.shared.state.lock().unwrap();
        ExecutionDescription {
            execution_arn: self.shared.arn.clone(),
            state_machine_arn: self.shared.state_machine_arn.clone(),
            name: self.shared.name.clone(),
            status: st.status,
            start_date: self.shared.start,
            stop_date: st.stop,
            input: self.shared.input.clone(),
            output: st.output.clone(),
            error: st.error.clone(),
            cause: st.cause.clone(),
        }
    }

    /// Every event so far, then each new one as it is recorded; the stream ends with the
    /// execution.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<HistoryEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut st = self.shared.state.lock().unwrap();
        for e in &st.history {
            let _ = tx.send(e.clone());
        }
        if st.status == Status::Running {
            st.subscribers.push(tx);
        }
        rx
    }

    /// `StopExecution`: aborts a running execution. Returns false if it had already ended.
    pub fn stop(&self, error: Option<&str>, cause: Option<&str>) -> bool {
        if self.status() != Status::Running {
            return false;
        }
        let reason = (error.unwrap_or_default().to_string(), cause.unwrap_or_default().to_string());
        self.shared.abort.send_replace(Some(reason));
        true
    }

    pub fn send_task_success(&self, token: &str, output: Value) -> Result<(), CallbackError> {
        self.runner()?.send_task_success(token, output)
    }

    pub fn send_task_failure(&self, token: &str, error: &str, cause: &str) -> Result<(), CallbackError> {
        self.runner()?.send_task_failure(token, error, cause)
    }

    pub fn send_task_heartbeat(&self, token: &str) -> Result<(), CallbackError> {
        self.runner()?.send_task_heartbeat(token)
    }

    /// The tokens this execution's callback tasks are waiting on.
    pub fn open_task_tokens(&self) -> Vec<String> {
        match self.runner() {
            Ok(r) => r.open_task_tokens().into_iter().filter(|(_, e)| *e == self.shared.arn).map(|(t, _)| t).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Waits until a callback task of this execution waits on a token, and returns it; `None`
    /// once the execution has ended. How a drill or a test plays the approver.
    pub async fn wait_for_task_token(&self) -> Option<String> {
        let mut events = self.subscribe();
        loop {
            if let Some(t) = self.open_task_tokens().into_iter().next() {
                return Some(t);
            }
            events.recv().await?;
        }
    }

    fn runner(&self) -> Result<Runner, CallbackError> {
        self.shared
            .runner
            .upgrade()
            .map(|inner| Runner { inner })
            .ok_or_else(|| CallbackError::TaskDoesNotExist("the runner is gone".into()))
    }
}

/// Ends an execution whose task stopped without finishing it (a panicking handler, a runtime
/// shut down), so that `wait` never hangs.
struct Unfinished<'a>(&'a Engine);

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if self.0.ex.status() == Status::Running {
            let why = if std::thread::panicking() { "a task handler panicked" } else { "the runtime stopped" };
            self.0.finish(Ok(Some(Err(Failure::runtime(format!("The local runner stopped the execution: {why}."))))));
        }
    }
}

struct Engine {
    rt: Arc<RunnerInner>,
    ex: ExecutionHandle,
    base_ctx: Value,
}

enum Step<'a> {
    Next(&'a str, Value),
    End(Value),
}

type Outcome = Result<Option<Result<(Value, u64), Failure>>, (String, String)>;

impl Engine {
    fn now(&self) -> SystemTime {
        self.rt.clock.now()
    }

    /// Appends an event, refusing when the history quota is reached (one slot stays free
    /// for the execution's final event).
    fn record(&self, prev: u64, event_type: &str, details: Value) -> Result<u64, Failure> {
        self.push(prev, event_type, details, false)
    }

    fn record_final(&self, prev: u64, event_type: &str, details: Value) -> u64 {
        self.push(prev, event_type, details, true).unwrap_or(0)
    }

    fn push(&self, prev: u64, event_type: &str, details: Value, last: bool) -> Result<u64, Failure> {
        let limit = self.rt.config.history_limit;
        let event;
        let subscribers;
        {
            let mut st = self.ex.shared.state.lock().unwrap();
            if !last && st.history.len() + 1 >= limit {
                return Err(Failure::runtime(format!(
                    "The execution reached the maximum number of history events ({limit})."
                )));
            }
            let mut d = Map::new();
            if let Some(k) = details_key(event_type) {
                d.insert(k.to_string(), details);
            }
            event = HistoryEvent {
                id: st.history.len() as u64 + 1,
                previous_event_id: prev,
                timestamp: self.now(),
                event_type: event_type.to_string(),
                details: d,
            };
            st.history.push(event.clone());
            st.subscribers.retain(|s| s.send(event.clone()).is_ok());
            subscribers = self.rt.observers.lock().unwrap().clone();
        }
        for o in subscribers {
            o(&self.ex, &event);
        }
        Ok(event.id)
    }

    fn finish(&self, outcome: Outcome) {
        let (status, output, error, cause) = match outcome {
            Ok(Some(Ok((out, last)))) => {
                self.record_final(
                    last,
                    "ExecutionSucceeded",
                    json!({"output": out.to_string(), "outputDetails": {"truncated": false}}),
                );
                (Status::Succeeded, Some(out), None, None)
            }
            Ok(Some(Err(f))) => {
                let last = self.last_id();
                self.record_final(last, "ExecutionFailed", json!({"error": f.error, "cause": f.cause}));
                (Status::Failed, None, Some(f.error), Some(f.cause))
            }
            Ok(None) => {
                let cause = "The execution ran longer than the state machine's TimeoutSeconds.".to_string();
                let last = self.last_id();
                self.record_final(last, "ExecutionTimedOut", json!({"error": error::TIMEOUT, "cause": cause}));
                (Status::TimedOut, None, Some(error::TIMEOUT.to_string()), Some(cause))
            }
            Err((e, c)) => {
                let last = self.last_id();
                self.record_final(last, "ExecutionAborted", json!({"error": e, "cause": c}));
                (Status::Aborted, None, Some(e), Some(c))
            }
        };
        {
            let mut st = self.ex.shared.state.lock().unwrap();
            st.status = status;
            st.output = output;
            st.error = error;
            st.cause = cause;
            st.stop = Some(self.now());
            st.subscribers.clear();
        }
        let mut tokens = self.rt.tokens.lock().unwrap();
        for slot in tokens.values_mut() {
            if matches!(slot, TokenSlot::Open { execution, .. } if *execution == self.ex.shared.arn) {
                *slot = TokenSlot::Done;
            }
        }
        drop(tokens);
        self.ex.shared.done.send_replace(true);
    }

    fn last_id(&self) -> u64 {
        self.ex.shared.state.lock().unwrap().history.len() as u64
    }

    fn check_size(&self, text_len: usize, what: &str, state: &str) -> Result<(), Failure> {
        let limit = self.rt.config.payload_limit;
        if text_len > limit {
            return Err(Failure::new(
                error::DATA_LIMIT_EXCEEDED,
                format!("The {what} of state '{state}' has a size of {text_len} bytes, over the {limit} byte limit."),
            ));
        }
        Ok(())
    }

    /// The context object (`$$`) of a state; `null` for a state that never reads it, as copying
    /// the execution input for every state would dominate long loops over large payloads.
    fn context(
        &self,
        s: &State,
        entered: SystemTime,
        retry: u32,
        token: Option<&str>,
        item: Option<(usize, &Value)>,
    ) -> Value {
        if !s.uses_context {
            return Value::Null;
        }
        let state = &s.name;
        let mut ctx = self.base_ctx.clone();
        ctx["State"] = json!({
            "Name": state,
            "EnteredTime": failover_core::time_fmt::rfc3339(entered),
            "RetryCount": retry,
        });
        if let Some(t) = token {
            ctx["Task"] = json!({"Token": t});
        }
        if let Some((i, v)) = item {
            ctx["Map"] = json!({"Item": {"Index": i, "Value": v}});
        }
        ctx
    }

    fn run_machine<'a>(
        &'a self,
        m: &'a Machine,
        input: Value,
        prev: u64,
    ) -> BoxFuture<'a, Result<(Value, u64), Failure>> {
        async move {
            let mut th = prev;
            let mut name = m.start_at.as_str();
            let mut input = input;
            loop {
                let state = &m.states[name];
                match self.run_state(state, input, &mut th).await? {
                    Step::Next(n, out) => {
                        name = n;
                        input = out;
                    }
                    Step::End(out) => return Ok((out, th)),
                }
            }
        }
        .boxed()
    }

    async fn run_state<'a>(&'a self, s: &'a State, raw: Value, th: &mut u64) -> Result<Step<'a>, Failure> {
        let prefix = s.kind.event_prefix();
        let entered = self.now();
        let raw_text = raw.to_string();
        self.check_size(raw_text.len(), "input", &s.name)?;
        *th = self.record(
            *th,
            &format!("{prefix}StateEntered"),
            json!({"name": s.name, "input": raw_text, "inputDetails": {"truncated": false}}),
        )?;
        let ctx = self.context(s, entered, 0, None, None);
        let result: Result<(Value, Option<&'a str>), Failure> = match &s.kind {
            Kind::Pass { result } => (|| {
                let input = input_of(&s.io, &raw)?;
                let eff = self.parameters(&s.io, &input, &ctx)?;
                let res = result.clone().unwrap_or(eff);
                Ok((self.finish_io(&s.io, &raw, res, &ctx)?, None))
            })(),
            Kind::Task(t) => self.run_task(s, t, &raw, entered, th).await.map(|v| (v, None)),
            Kind::Choice { choices, default } => (|| {
                let input = input_of(&s.io, &raw)?;
                for (rule, next) in choices {
                    if rule.eval(&input, &ctx)? {
                        return Ok((output_of(&s.io, input)?, Some(next.as_str())));
                    }
                }
                match default {
                    Some(d) => Ok((output_of(&s.io, input)?, Some(d.as_str()))),
                    None => Err(Failure::new(
                        error::NO_CHOICE_MATCHED,
                        format!("No Choice Rule matched and no Default in state '{}'", s.name),
                    )),
                }
            })(),
            Kind::Wait(w) => self.run_wait(s, w, &raw).await.map(|v| (v, None)),
            Kind::Succeed => input_of(&s.io, &raw).and_then(|i| output_of(&s.io, i)).map(|v| (v, None)),
            Kind::Fail { error, cause } => {
                let text = |t: &Option<Text>| -> Result<String, Failure> {
                    match t {
                        None => Ok(String::new()),
                        Some(Text::Literal(s)) => Ok(s.clone()),
                        Some(Text::Dynamic(d)) => match d.eval(&raw, &ctx, &*self.rt, "ErrorPath/CausePath")? {
                            Value::String(s) => Ok(s),
                            other => {
                                Err(Failure::runtime(format!("ErrorPath/CausePath must give a string, got {other}")))
                            }
                        },
                    }
                };
                let (e, c) = (text(error)?, text(cause)?);
                Err(Failure::new(e, c))
            }
            Kind::Parallel { branches } => self.run_parallel(s, branches, &raw, &ctx, th).await.map(|v| (v, None)),
            Kind::Map { .. } => self.run_map(s, &raw, entered, th).await.map(|v| (v, None)),
        };
        let exit = |out: Value, next: Option<&'a str>, th: &mut u64| -> Result<Step<'a>, Failure> {
            let text = out.to_string();
            self.check_size(text.len(), "output", &s.name)?;
            *th = self.record(
                *th,
                &format!("{prefix}StateExited"),
                json!({"name": s.name, "output": text, "outputDetails": {"truncated": false}}),
            )?;
            Ok(match (next, &s.transition) {
                (Some(n), _) => Step::Next(n, out),
                (None, Some(Transition::Next(n))) => Step::Next(n.as_str(), out),
                (None, _) => Step::End(out),
            })
        };
        match result {
            Ok((out, next)) => exit(out, next, th),
            Err(f) => {
                let Some(c) = s.catch.iter().find(|c| c.errors.iter().any(|e| f.matches(e))) else {
                    return Err(f);
                };
                let err_out = json!({"Error": f.error, "Cause": f.cause});
                let out = apply_result_path(c.result_path.as_ref(), raw, err_out)?;
                exit(out, Some(c.next.as_str()), th)
            }
        }
    }

    fn parameters(&self, io: &Io, input: &Value, ctx: &Value) -> Result<Value, Failure> {
        match &io.parameters {
            Some(t) => t.eval(input, ctx, &*self.rt),
            None => Ok(input.clone()),
        }
    }

    /// ResultSelector, ResultPath, OutputPath.
    fn finish_io(&self, io: &Io, raw: &Value, result: Value, ctx: &Value) -> Result<Value, Failure> {
        let result = match &io.result_selector {
            Some(t) => t.eval(&result, ctx, &*self.rt)?,
            None => result,
        };
        let merged = match &io.result_path {
            Some(p) if p.is_root() => result,
            other => apply_result_path(other.as_ref(), raw.clone(), result)?,
        };
        output_of(io, merged)
    }

    fn retry_delay(&self, retriers: &[Retrier], counts: &mut [u32], f: &Failure) -> Option<Duration> {
        // Only the first retrier whose ErrorEquals matches counts, even once it is exhausted.
        let (i, r) = retriers.iter().enumerate().find(|(_, r)| r.errors.iter().any(|e| f.matches(e)))?;
        if counts[i] >= r.max_attempts {
            return None;
        }
        let mut secs = r.interval_seconds * r.backoff_rate.powi(counts[i] as i32);
        if let Some(max) = r.max_delay_seconds {
            secs = secs.min(max);
        }
        if r.full_jitter {
            let unit = (self.rt.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            secs *= unit;
        }
        counts[i] += 1;
        Some(Duration::from_secs_f64(secs.max(0.0)))
    }

    fn seconds(&self, s: &Option<Seconds>, input: &Value, field: &str) -> Result<Option<u64>, Failure> {
        match s {
            None => Ok(None),
            Some(Seconds::Fixed(n)) => Ok(Some(*n)),
            Some(Seconds::Path(p)) => match p.get(input).and_then(Value::as_u64) {
                Some(n) => Ok(Some(n)),
                None => Err(Failure::runtime(format!("{field}: `{p}` does not point at a non-negative integer"))),
            },
        }
    }

    async fn run_task(
        &self,
        s: &State,
        t: &TaskSpec,
        raw: &Value,
        entered: SystemTime,
        th: &mut u64,
    ) -> Result<Value, Failure> {
        let input = input_of(&s.io, raw)?;
        let mut counts = vec![0u32; s.retry.len()];
        let mut retry_count = 0;
        loop {
            match self.task_attempt(s, t, &input, entered, retry_count, th).await {
                Ok(result) => {
                    let ctx = self.context(s, entered, retry_count, None, None);
                    return self.finish_io(&s.io, raw, result, &ctx);
                }
                Err(f) => match self.retry_delay(&s.retry, &mut counts, &f) {
                    Some(d) => {
                        self.rt.clock.sleep(d).await;
                        retry_count += 1;
                    }
                    None => return Err(f),
                },
            }
        }
    }

    async fn task_attempt(
        &self,
        s: &State,
        t: &TaskSpec,
        input: &Value,
        entered: SystemTime,
        retry_count: u32,
        th: &mut u64,
    ) -> Result<Value, Failure> {
        let rt = &self.rt;
        let token = t
            .callback
            .then(|| format!("{TOKEN_PREFIX}{:016x}{:016x}{:016x}", rt.next_u64(), rt.next_u64(), rt.next_u64()));
        let rx = token.as_ref().map(|tok| {
            let (tx, rx) = mpsc::unbounded_channel();
            rt.tokens
                .lock()
                .unwrap()
                .insert(tok.clone(), TokenSlot::Open { execution: self.ex.shared.arn.clone(), tx });
            rx
        });
        let result = self.task_attempt_inner(s, t, input, entered, retry_count, token.as_deref(), rx, th).await;
        if let Some(tok) = token {
            let mut tokens = rt.tokens.lock().unwrap();
            let timed_out =
                matches!(&result, Err(f) if f.error == error::TIMEOUT || f.error == error::HEARTBEAT_TIMEOUT);
            tokens.insert(tok, if timed_out { TokenSlot::TimedOut } else { TokenSlot::Done });
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn task_attempt_inner(
        &self,
        s: &State,
        t: &TaskSpec,
        input: &Value,
        entered: SystemTime,
        retry_count: u32,
        token: Option<&str>,
        rx: Option<mpsc::UnboundedReceiver<Callback>>,
        th: &mut u64,
    ) -> Result<Value, Failure> {
        let ctx = self.context(s, entered, retry_count, token, None);
        let params = self.parameters(&s.io, input, &ctx)?;
        let params_text = params.to_string();
        self.check_size(params_text.len(), "parameters", &s.name)?;
        let timeout = self.seconds(&t.timeout, input, "TimeoutSecondsPath")?;
        let heartbeat = self.seconds(&t.heartbeat, input, "HeartbeatSecondsPath")?;
        let legacy = t.integration == Integration::LambdaFunction;
        let (rtype, rname) = resource_parts(&t.resource);
        if legacy {
            let mut d = json!({"resource": t.resource, "input": params_text, "inputDetails": {"truncated": false}});
            if let Some(x) = timeout {
                d["timeoutInSeconds"] = x.into();
            }
            *th = self.record(*th, "LambdaFunctionScheduled", d)?;
            *th = self.record(*th, "LambdaFunctionStarted", Value::Null)?;
        } else {
            let mut d =
                json!({"resourceType": rtype, "resource": rname, "region": rt_region(self), "parameters": params_text});
            if let Some(x) = timeout {
                d["timeoutInSeconds"] = x.into();
            }
            if let Some(x) = heartbeat {
                d["heartbeatInSeconds"] = x.into();
            }
            *th = self.record(*th, "TaskScheduled", d)?;
            *th = self.record(*th, "TaskStarted", json!({"resourceType": rtype, "resource": rname}))?;
        }
        let tctx = TaskContext {
            execution_arn: self.ex.shared.arn.clone(),
            execution_name: self.ex.shared.name.clone(),
            state_name: s.name.clone(),
            resource: t.resource.clone(),
            integration: t.integration,
            task_token: token.map(str::to_string),
            retry_count,
            entered_time: entered,
        };
        let work = self.invoke(t, params, tctx, rx, heartbeat, th);
        let res = match timeout {
            Some(secs) => match self.rt.clock.timeout(Duration::from_secs(secs), work).await {
                Ok(r) => r,
                Err(_) => {
                    Err(Failure::new(error::TIMEOUT, format!("The task '{}' ran longer than {secs} seconds.", s.name)))
                }
            },
            None => work.await,
        };
        let res = res.and_then(|v| {
            let text = v.to_string();
            self.check_size(text.len(), "result", &s.name)?;
            Ok((v, text))
        });
        match res {
            Ok((v, text)) => {
                if legacy {
                    *th = self.record(
                        *th,
                        "LambdaFunctionSucceeded",
                        json!({"output": text, "outputDetails": {"truncated": false}}),
                    )?;
                } else {
                    *th = self.record(
                        *th,
                        "TaskSucceeded",
                        json!({"resourceType": rtype, "resource": rname, "output": text, "outputDetails": {"truncated": false}}),
                    )?;
                }
                Ok(v)
            }
            Err(f) => {
                let timed_out = f.error == error::TIMEOUT || f.error == error::HEARTBEAT_TIMEOUT;
                let ty = match (legacy, timed_out) {
                    (true, true) => "LambdaFunctionTimedOut",
                    (true, false) => "LambdaFunctionFailed",
                    (false, true) => "TaskTimedOut",
                    (false, false) => "TaskFailed",
                };
                let d = if legacy {
                    json!({"error": f.error, "cause": f.cause})
                } else {
                    json!({"resourceType": rtype, "resource": rname, "error": f.error, "cause": f.cause})
                };
                *th = self.record(*th, ty, d)?;
                Err(f)
            }
        }
    }

    async fn invoke(
        &self,
        t: &TaskSpec,
        params: Value,
        ctx: TaskContext,
        rx: Option<mpsc::UnboundedReceiver<Callback>>,
        heartbeat: Option<u64>,
        th: &mut u64,
    ) -> Result<Value, Failure> {
        let d = &self.rt.dispatcher;
        let to_failure = |e: crate::dispatch::TaskFailure| Failure::new(e.error, e.cause);
        let response = if let Some(fut) = d.intercept(&params, &ctx) {
            // An intercepted integration is answered whole, callbacks included (mocks).
            return fut.await.map_err(to_failure);
        } else {
            match t.integration {
                Integration::LambdaInvoke => {
                    let Some(function) = params.get("FunctionName").and_then(Value::as_str).map(str::to_string) else {
                        return Err(Failure::runtime("Parameters.FunctionName must be a string"));
                    };
                    let payload = params.get("Payload").cloned().unwrap_or_else(|| json!({}));
                    let request_id = self.rt.uuid();
                    let out = d.invoke(&function, payload, ctx).await.map_err(to_failure)?;
                    lambda_envelope(out, &request_id)
                }
                Integration::LambdaFunction | Integration::StartExecution | Integration::Service => {
                    d.invoke(&t.resource, params, ctx).await.map_err(to_failure)?
                }
            }
        };
        let Some(mut rx) = rx else {
            return Ok(response);
        };
        *th = self.record(
            *th,
            "TaskSubmitted",
            json!({"resourceType": resource_parts(&t.resource).0, "resource": resource_parts(&t.resource).1, "output": response.to_string(), "outputDetails": {"truncated": false}}),
        )?;
        loop {
            let beat = async {
                match heartbeat {
                    Some(h) => self.rt.clock.sleep(Duration::from_secs(h)).await,
                    None => futures::future::pending::<()>().await,
                }
            };
            tokio::select! {
                cb = rx.recv() => match cb {
                    Some(Callback::Success(v)) => return Ok(v),
                    Some(Callback::Failure(e, c)) => return Err(Failure::new(e, c)),
                    Some(Callback::Heartbeat) => continue,
                    None => return Err(Failure::runtime("the task token was discarded")),
                },
                _ = beat => return Err(Failure::new(
                    error::HEARTBEAT_TIMEOUT,
                    format!("No heartbeat was received within {} seconds.", heartbeat.unwrap_or(0)),
                )),
            }
        }
    }

    async fn run_wait(&self, s: &State, w: &WaitFor, raw: &Value) -> Result<Value, Failure> {
        let input = input_of(&s.io, raw)?;
        let dur = match w {
            WaitFor::Seconds(secs) => {
                Duration::from_secs(self.seconds(&Some(clone_secs(secs)), &input, "SecondsPath")?.unwrap_or(0))
            }
            WaitFor::Timestamp(t) => t.duration_since(self.now()).unwrap_or_default(),
            WaitFor::TimestampPath(p) => {
                let t = p.get(&input).and_then(Value::as_str).and_then(crate::choice::timestamp).ok_or_else(|| {
                    Failure::runtime(format!("TimestampPath: `{p}` does not point at an RFC 3339 timestamp"))
                })?;
                t.duration_since(self.now()).unwrap_or_default()
            }
        };
        self.rt.clock.sleep(dur).await;
        output_of(&s.io, input)
    }

    async fn run_parallel(
        &self,
        s: &State,
        branches: &[Machine],
        raw: &Value,
        ctx: &Value,
        th: &mut u64,
    ) -> Result<Value, Failure> {
        let input = input_of(&s.io, raw)?;
        let eff = self.parameters(&s.io, &input, ctx)?;
        let mut counts = vec![0u32; s.retry.len()];
        loop {
            *th = self.record(*th, "ParallelStateStarted", Value::Null)?;
            let started = *th;
            let res = try_join_all(branches.iter().map(|b| self.run_machine(b, eff.clone(), started))).await;
            match res {
                Ok(outs) => {
                    *th = self.record(*th, "ParallelStateSucceeded", Value::Null)?;
                    let results = Value::Array(outs.into_iter().map(|(v, _)| v).collect());
                    return self.finish_io(&s.io, raw, results, ctx);
                }
                Err(f) => {
                    let _ = self.record(*th, "ParallelStateFailed", Value::Null);
                    match self.retry_delay(&s.retry, &mut counts, &f) {
                        Some(d) => self.rt.clock.sleep(d).await,
                        None => return Err(f),
                    }
                }
            }
        }
    }

    async fn run_map(&self, s: &State, raw: &Value, entered: SystemTime, th: &mut u64) -> Result<Value, Failure> {
        let Kind::Map { items_path, item_selector, max_concurrency, processor } = &s.kind else {
            unreachable!("run_map is called for Map states")
        };
        let input = input_of(&s.io, raw)?;
        let items = match items_path.get(&input) {
            Some(Value::Array(a)) => a.clone(),
            Some(other) => {
                return Err(Failure::runtime(format!("ItemsPath `{items_path}` must point at an array, got {other}")));
            }
            None => return Err(Failure::runtime(format!("ItemsPath `{items_path}` could not be found in the input"))),
        };
        let conc = self.seconds(max_concurrency, &input, "MaxConcurrencyPath")?.unwrap_or(0) as usize;
        let limit = if conc == 0 { items.len().max(1) } else { conc };
        let mut counts = vec![0u32; s.retry.len()];
        loop {
            *th = self.record(*th, "MapStateStarted", json!({"length": items.len()}))?;
            let started = *th;
            // Boxed one by one: a lazily mapped iterator of borrowing futures trips the
            // higher-ranked lifetime check of the boxed machine future.
            let mut iterations: Vec<BoxFuture<'_, Result<(usize, Value), Failure>>> = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let input = &input;
                iterations.push(
                    async move {
                        let ctx = self.context(s, entered, 0, None, Some((i, item)));
                        let it_input = match item_selector {
                            Some(t) => t.eval(input, &ctx, &*self.rt)?,
                            None => item.clone(),
                        };
                        let id = self.record(started, "MapIterationStarted", json!({"name": s.name, "index": i}))?;
                        match self.run_machine(processor, it_input, id).await {
                            Ok((v, last)) => {
                                self.record(last, "MapIterationSucceeded", json!({"name": s.name, "index": i}))?;
                                Ok((i, v))
                            }
                            Err(f) => {
                                let _ = self.record(id, "MapIterationFailed", json!({"name": s.name, "index": i}));
                                Err(f)
                            }
                        }
                    }
                    .boxed(),
                );
            }
            // Unordered, so that a slow iteration does not hold back the start of the next ones:
            // MaxConcurrency bounds the iterations running, not a window over the items.
            let res: Result<Vec<(usize, Value)>, Failure> =
                futures::stream::iter(iterations).buffer_unordered(limit).try_collect().await;
            match res {
                Ok(mut outs) => {
                    outs.sort_by_key(|(i, _)| *i);
                    let outs: Vec<Value> = outs.into_iter().map(|(_, v)| v).collect();
                    *th = self.record(*th, "MapStateSucceeded", Value::Null)?;
                    let ctx = self.context(s, entered, 0, None, None);
                    return self.finish_io(&s.io, raw, Value::Array(outs), &ctx);
                }
                Err(f) => {
                    let _ = self.record(*th, "MapStateFailed", Value::Null);
                    match self.retry_delay(&s.retry, &mut counts, &f) {
                        Some(d) => self.rt.clock.sleep(d).await,
                        None => return Err(f),
                    }
                }
            }
        }
    }
}

fn rt_region(e: &Engine) -> &str {
    &e.rt.config.region
}

fn clone_secs(s: &Seconds) -> Seconds {
    match s {
        Seconds::Fixed(n) => Seconds::Fixed(*n),
        Seconds::Path(p) => Seconds::Path(p.clone()),
    }
}

/// `arn:aws:states:::lambda:invoke.waitForTaskToken` -> ("lambda", "invoke.waitForTaskToken");
/// a Lambda ARN -> ("lambda", the ARN).
fn resource_parts(resource: &str) -> (String, String) {
    let parts: Vec<&str> = resource.splitn(6, ':').collect();
    if parts.len() == 6
        && parts[2] == "states"
        && let Some((svc, api)) = parts[5].split_once(':')
    {
        return (svc.to_string(), api.to_string());
    }
    (parts.get(2).copied().unwrap_or("").to_string(), resource.to_string())
}

fn input_of(io: &Io, raw: &Value) -> Result<Value, Failure> {
    match &io.input_path {
        None => Ok(json!({})),
        Some(p) => p
            .select(raw)
            .ok_or_else(|| Failure::runtime(format!("Invalid path '{p}' : No results for path: {p} (InputPath)"))),
    }
}

fn output_of(io: &Io, v: Value) -> Result<Value, Failure> {
    match &io.output_path {
        None => Ok(json!({})),
        Some(p) if p.is_root() => Ok(v),
        Some(p) => p
            .select(&v)
            .ok_or_else(|| Failure::runtime(format!("Invalid path '{p}' : No results for path: {p} (OutputPath)"))),
    }
}

fn apply_result_path(path: Option<&JsonPath>, raw: Value, result: Value) -> Result<Value, Failure> {
    match path {
        None => Ok(raw),
        Some(p) => {
            let mut out = raw;
            p.set(&mut out, result).map_err(|e| Failure::new(error::RESULT_PATH_MATCH_FAILURE, e))?;
            Ok(out)
        }
    }
}
