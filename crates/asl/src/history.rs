//! Execution history events, shaped like `GetExecutionHistory`'s.

use std::time::SystemTime;

use serde::Serialize;
use serde_json::{Map, Value};

/// One history event. `details` holds the type-specific object under its AWS name
/// (`stateEnteredEventDetails`, `taskFailedEventDetails`, ...), with inputs and outputs as
/// JSON strings as the API returns them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEvent {
    pub id: u64,
    pub previous_event_id: u64,
    #[serde(serialize_with = "failover_core::time_fmt::serialize")]
    pub timestamp: SystemTime,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(flatten)]
    pub details: Map<String, Value>,
}

impl HistoryEvent {
    /// The type-specific details object, whatever its key.
    pub fn detail(&self) -> Option<&Map<String, Value>> {
        self.details.values().next().and_then(Value::as_object)
    }

    /// The state this event is about, for state entered/exited and Map iteration events.
    pub fn state_name(&self) -> Option<&str> {
        self.detail()?.get("name")?.as_str()
    }

    /// A string field of the details (`error`, `cause`, `resource`, ...).
    pub fn detail_str(&self, key: &str) -> Option<&str> {
        self.detail()?.get(key)?.as_str()
    }

    /// The event as the Step Functions JSON 1.0 protocol carries it (`GetExecutionHistory`):
    /// the timestamp in epoch seconds.
    pub fn to_api_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), self.id.into());
        m.insert("previousEventId".into(), self.previous_event_id.into());
        m.insert("timestamp".into(), epoch_seconds(self.timestamp).into());
        m.insert("type".into(), self.event_type.clone().into());
        for (k, v) in &self.details {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }

    /// A JSON-string field of the details (`input`, `output`, `parameters`) parsed back.
    pub fn detail_json(&self, key: &str) -> Option<Value> {
        serde_json::from_str(self.detail_str(key)?).ok()
    }
}

/// The details key AWS uses for an event type.
pub(crate) fn details_key(event_type: &str) -> Option<&'static str> {
    Some(match event_type {
        t if t.ends_with("StateEntered") => "stateEnteredEventDetails",
        t if t.ends_with("StateExited") => "stateExitedEventDetails",
        "ExecutionStarted" => "executionStartedEventDetails",
        "ExecutionSucceeded" => "executionSucceededEventDetails",
        "ExecutionFailed" => "executionFailedEventDetails",
        "ExecutionAborted" => "executionAbortedEventDetails",
        "ExecutionTimedOut" => "executionTimedOutEventDetails",
        "TaskScheduled" => "taskScheduledEventDetails",
        "TaskStarted" => "taskStartedEventDetails",
        "TaskSubmitted" => "taskSubmittedEventDetails",
        "TaskSucceeded" => "taskSucceededEventDetails",
        "TaskFailed" => "taskFailedEventDetails",
        "TaskTimedOut" => "taskTimedOutEventDetails",
        "LambdaFunctionScheduled" => "lambdaFunctionScheduledEventDetails",
        "LambdaFunctionSucceeded" => "lambdaFunctionSucceededEventDetails",
        "LambdaFunctionFailed" => "lambdaFunctionFailedEventDetails",
        "LambdaFunctionTimedOut" => "lambdaFunctionTimedOutEventDetails",
        "MapStateStarted" => "mapStateStartedEventDetails",
        "MapIterationStarted" => "mapIterationStartedEventDetails",
        "MapIterationSucceeded" => "mapIterationSucceededEventDetails",
        "MapIterationFailed" => "mapIterationFailedEventDetails",
        "MapIterationAborted" => "mapIterationAbortedEventDetails",
        _ => return None,
    })
}

/// Seconds since the epoch with millisecond precision, as the AWS JSON protocols encode times.
pub(crate) fn epoch_seconds(t: SystemTime) -> f64 {
    let ms = t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    ms as f64 / 1000.0
}
