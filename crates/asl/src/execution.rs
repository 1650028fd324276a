//! An execution as its callers see it: [`ExecutionHandle`] reads its status, history and
//! description, waits for it, stops it and sends its task callbacks.

use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, watch};

use crate::error::CallbackError;
use crate::history::HistoryEvent;
use crate::runner::{Runner, RunnerInner};

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

/// A running or finished execution; cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct ExecutionHandle {
    pub(crate) shared: Arc<ExecShared>,
}

pub(crate) struct ExecShared {
    pub(crate) arn: String,
    pub(crate) name: String,
    pub(crate) state_machine_arn: String,
    pub(crate) input: Value,
    pub(crate) start: SystemTime,
    pub(crate) state: Mutex<ExecState>,
    pub(crate) done: watch::Sender<bool>,
    pub(crate) abort: watch::Sender<Option<(String, String)>>,
    pub(crate) runner: Weak<RunnerInner>,
}

pub(crate) struct ExecState {
    pub(crate) status: Status,
    pub(crate) output: Option<Value>,
    pub(crate) error: Option<String>,
    pub(crate) cause: Option<String>,
    pub(crate) stop: Option<SystemTime>,
    pub(crate) history: Vec<HistoryEvent>,
    pub(crate) subscribers: Vec<mpsc::UnboundedSender<HistoryEvent>>,
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
