use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use failover_asl::{Definition, ExecutionResult, FnDispatcher, Runner, TaskContext, TaskDispatcher, TaskFailure};
use failover_core::SharedClock;
use serde_json::{Value, json};

/// 2026-01-01T00:00:00Z, the start of every test execution.
pub fn epoch() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

pub fn clock() -> SharedClock {
    SharedClock::virtual_at(epoch())
}

pub fn def(v: Value) -> Definition {
    Definition::from_value(&v).unwrap_or_else(|e| panic!("{e}"))
}

/// A dispatcher that echoes the event it receives.
pub fn echo() -> impl TaskDispatcher {
    FnDispatcher(|_r: String, params: Value, _c: TaskContext| async move { Ok::<_, TaskFailure>(params) })
}

/// Records every call (resource, params, context) and answers with `answer`.
#[derive(Clone, Default)]
pub struct Calls(pub Arc<Mutex<Vec<(String, Value, TaskContext)>>>);

impl Calls {
    pub fn resources(&self) -> Vec<String> {
        self.0.lock().unwrap().iter().map(|c| c.0.clone()).collect()
    }
}

pub fn recording<F>(calls: &Calls, answer: F) -> impl TaskDispatcher
where
    F: Fn(&str, &Value, &TaskContext) -> Result<Value, TaskFailure> + Send + Sync + 'static,
{
    let calls = calls.clone();
    FnDispatcher(move |r: String, p: Value, c: TaskContext| {
        let out = answer(&r, &p, &c);
        calls.0.lock().unwrap().push((r, p, c));
        async move { out }
    })
}

pub async fn run_with(d: impl TaskDispatcher, definition: Value, input: Value) -> ExecutionResult {
    let runner = Runner::new(d, clock());
    runner.run(&def(definition), input).await.unwrap()
}

pub async fn run(definition: Value, input: Value) -> ExecutionResult {
    run_with(echo(), definition, input).await
}

pub fn types(r: &ExecutionResult) -> Vec<&str> {
    r.history.iter().map(|e| e.event_type.as_str()).collect()
}

pub fn count(r: &ExecutionResult, ty: &str) -> usize {
    r.history.iter().filter(|e| e.event_type == ty).count()
}

/// The names of the states entered, in order.
pub fn entered(r: &ExecutionResult) -> Vec<&str> {
    r.history.iter().filter(|e| e.event_type.ends_with("StateEntered")).filter_map(|e| e.state_name()).collect()
}

pub fn ok(r: &ExecutionResult) -> &Value {
    assert_eq!(r.status, failover_asl::Status::Succeeded, "error {:?} cause {:?}", r.error, r.cause);
    r.output.as_ref().unwrap()
}

pub fn failed(r: &ExecutionResult) -> (&str, &str) {
    assert_eq!(r.status, failover_asl::Status::Failed, "output {:?}", r.output);
    (r.error.as_deref().unwrap(), r.cause.as_deref().unwrap())
}

pub fn lambda_task(function: &str, next: Option<&str>) -> Value {
    let mut t = json!({
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function, "Payload.$": "$"},
        "OutputPath": "$.Payload"
    });
    match next {
        Some(n) => t["Next"] = json!(n),
        None => t["End"] = json!(true),
    }
    t
}
