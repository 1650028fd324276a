//! Task dispatch: how a Task state reaches code the caller provides.
//!
//! The runner implements the service integrations (the `lambda:invoke` envelope, callbacks,
//! timeouts); a [`TaskDispatcher`] only answers "run this function with this event". The
//! in-process drill maps function ARNs to the real handlers; [`crate::MockDispatcher`] answers
//! from a Step Functions Local mock configuration; [`FaultInjector`] wraps any dispatcher to
//! inject the Lambda-level failures that never carry our own error names.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::definition::Integration;

/// What a task invocation knows about where it runs.
#[derive(Debug, Clone)]
pub struct TaskContext {
    pub execution_arn: String,
    pub execution_name: String,
    pub state_name: String,
    /// The state's `Resource`, as written (after substitution).
    pub resource: String,
    pub integration: Integration,
    /// The token of a `.waitForTaskToken` task.
    pub task_token: Option<String>,
    /// 0 for the first attempt, then 1, 2, ... for each retry of this state entry.
    pub retry_count: u32,
    pub entered_time: SystemTime,
}

/// A failed invocation: the error name Retry and Catch match, and the cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFailure {
    pub error: String,
    pub cause: String,
}

impl TaskFailure {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self { error: error.into(), cause: cause.into() }
    }

    /// A Lambda function error: the `errorType` becomes the error, the cause is the JSON
    /// Lambda reports (`{"errorType": ..., "errorMessage": ...}`).
    pub fn function_error(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        let error_type = error_type.into();
        let cause = json!({"errorType": error_type, "errorMessage": message.into(), "trace": []}).to_string();
        Self { error: error_type, cause }
    }
}

impl From<failover_core::StepError> for TaskFailure {
    /// A handler's error as Lambda reports it: its stable kind is the `errorType`.
    fn from(e: failover_core::StepError) -> Self {
        Self::function_error(e.kind.as_str(), e.message)
    }
}

/// What a [`TaskDispatcher`] answers: the function's result or its failure, later.
pub type TaskFuture = BoxFuture<'static, Result<Value, TaskFailure>>;

/// The caller's side of a Task: runs a function (or a whole integration) and answers.
///
/// For `lambda:invoke` and Lambda ARN resources, `invoke` receives the function name or ARN
/// and the event, and returns the function's result; the runner adds the `Payload`
/// envelope. For `states:startExecution` and the other integrations, `invoke` receives the
/// `Resource` and the effective parameters, and returns the service's response.
pub trait TaskDispatcher: Send + Sync + 'static {
    fn invoke(&self, resource: &str, params: Value, ctx: TaskContext) -> TaskFuture;

    /// Answers a whole service integration before the runner interprets it (no envelope is
    /// added to what this returns). Mocks use it: Step Functions Local mocks return the
    /// integration's full response. The default answers nothing.
    fn intercept(&self, _params: &Value, _ctx: &TaskContext) -> Option<TaskFuture> {
        None
    }
}

impl<T: TaskDispatcher + ?Sized> TaskDispatcher for Arc<T> {
    fn invoke(&self, resource: &str, params: Value, ctx: TaskContext) -> TaskFuture {
        (**self).invoke(resource, params, ctx)
    }
    fn intercept(&self, params: &Value, ctx: &TaskContext) -> Option<TaskFuture> {
        (**self).intercept(params, ctx)
    }
}

/// A dispatcher from a closure, for tests and small tools.
pub struct FnDispatcher<F>(pub F);

impl<F, Fut> TaskDispatcher for FnDispatcher<F>
where
    F: Fn(String, Value, TaskContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, TaskFailure>> + Send + 'static,
{
    fn invoke(&self, resource: &str, params: Value, ctx: TaskContext) -> TaskFuture {
        (self.0)(resource.to_string(), params, ctx).boxed()
    }
}

/// A Lambda-level failure to inject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LambdaFault {
    /// `Lambda.ServiceException`; the function does not run.
    ServiceException,
    /// `Lambda.TooManyRequestsException` (throttling); the function does not run.
    TooManyRequests,
    /// The function runs (its side effects happen) but exceeds its timeout: `States.Timeout`,
    /// and the result is lost. This is the case that proves a handler idempotent.
    TimeoutAfterRun,
}

impl LambdaFault {
    fn failure(&self, function: &str) -> TaskFailure {
        match self {
            LambdaFault::ServiceException => TaskFailure::new(
                "Lambda.ServiceException",
                format!(
                    "Lambda.ServiceException: the Lambda service failed to invoke {function} (Service: Lambda, Status Code: 500) (injected)"
                ),
            ),
            LambdaFault::TooManyRequests => TaskFailure::new(
                "Lambda.TooManyRequestsException",
                format!("Rate exceeded for {function} (Service: Lambda, Status Code: 429) (injected)"),
            ),
            LambdaFault::TimeoutAfterRun => {
                TaskFailure::new(crate::error::TIMEOUT, format!("{function}: Task timed out (injected)"))
            }
        }
    }
}

/// Which invocations a fault hits.
#[derive(Debug, Clone)]
pub struct FaultRule {
    /// The state to hit; `None` hits every Lambda task.
    pub state: Option<String>,
    /// The 1-based invocation numbers of that state within one execution (retries count).
    pub calls: std::ops::RangeInclusive<u32>,
    pub fault: LambdaFault,
}

impl FaultRule {
    /// The first invocation of every Lambda task fails once with `fault`.
    pub fn every_task_once(fault: LambdaFault) -> Self {
        Self { state: None, calls: 1..=1, fault }
    }
}

/// Wraps a dispatcher and injects Lambda-level failures into Lambda tasks by rule.
pub struct FaultInjector<D> {
    inner: Arc<D>,
    rules: Vec<FaultRule>,
    calls: Mutex<HashMap<(String, String), u32>>,
    injected: Mutex<Vec<(String, LambdaFault)>>,
}

impl<D: TaskDispatcher> FaultInjector<D> {
    pub fn new(inner: D, rules: Vec<FaultRule>) -> Self {
        Self { inner: Arc::new(inner), rules, calls: Mutex::new(HashMap::new()), injected: Mutex::new(Vec::new()) }
    }

    /// Every fault injected so far, as (state name, fault).
    pub fn injected(&self) -> Vec<(String, LambdaFault)> {
        self.injected.lock().unwrap().clone()
    }
}

impl<D: TaskDispatcher> TaskDispatcher for FaultInjector<D> {
    fn invoke(&self, resource: &str, params: Value, ctx: TaskContext) -> TaskFuture {
        if !matches!(ctx.integration, Integration::LambdaInvoke | Integration::LambdaFunction) {
            return self.inner.invoke(resource, params, ctx);
        }
        let n = {
            let mut calls = self.calls.lock().unwrap();
            let c = calls.entry((ctx.execution_arn.clone(), ctx.state_name.clone())).or_insert(0);
            *c += 1;
            *c
        };
        let rule =
            self.rules.iter().find(|r| r.state.as_deref().is_none_or(|s| s == ctx.state_name) && r.calls.contains(&n));
        let Some(rule) = rule else {
            return self.inner.invoke(resource, params, ctx);
        };
        self.injected.lock().unwrap().push((ctx.state_name.clone(), rule.fault.clone()));
        let failure = rule.fault.failure(resource);
        if rule.fault == LambdaFault::TimeoutAfterRun {
            let run = self.inner.invoke(resource, params, ctx);
            return async move {
                let _ = run.await;
                Err(failure)
            }
            .boxed();
        }
        async move { Err(failure) }.boxed()
    }

    fn intercept(&self, params: &Value, ctx: &TaskContext) -> Option<TaskFuture> {
        self.inner.intercept(params, ctx)
    }
}

/// The response of `lambda:invoke` around a function's result.
pub(crate) fn lambda_envelope(payload: Value, request_id: &str) -> Value {
    json!({
        "ExecutedVersion": "$LATEST",
        "Payload": payload,
        "SdkHttpMetadata": {
            "AllHttpHeaders": {
                "X-Amz-Executed-Version": ["$LATEST"],
                "x-amzn-Remapped-Content-Length": ["0"],
                "Connection": ["keep-alive"],
                "x-amzn-RequestId": [request_id],
                "Content-Type": ["application/json"]
            },
            "HttpHeaders": {
                "Connection": "keep-alive",
                "Content-Type": "application/json",
                "X-Amz-Executed-Version": "$LATEST",
                "x-amzn-Remapped-Content-Length": "0",
                "x-amzn-RequestId": request_id
            },
            "HttpStatusCode": 200
        },
        "SdkResponseMetadata": {"RequestId": request_id},
        "StatusCode": 200
    })
}
