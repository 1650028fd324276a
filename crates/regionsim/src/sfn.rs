//! Step Functions (`states`, awsJson 1.0, target prefix `AWSStepFunctions.`) over the local
//! States Language runner of `failover-asl`.
//!
//! [`Sfn`] serves the execution and callback operations the drills, the CLI and tests need:
//! `StartExecution`, `DescribeExecution`, `ListExecutions`, `GetExecutionHistory`,
//! `SendTaskSuccess`, `SendTaskFailure` and `SendTaskHeartbeat`. State machines are not
//! created through the API: they are given at construction, keyed by the ARN the runner
//! gives them ([`Sfn::state_machine_arn`]), because the runner derives every execution ARN
//! from its own Region and account and a key that disagreed would never list anything.
//!
//! The executions are the runner's: an execution started in-process shows up in
//! `ListExecutions`, and a callback sent through the API reaches the same task as
//! [`Runner::send_task_success`] would.

use std::collections::BTreeMap;
use std::sync::Arc;

use failover_asl::{AslError, CallbackError, Definition, ExecutionHandle, Runner, StartOptions, Status};
use serde_json::{Map, Value, json};

use crate::iam::Authorization;
use crate::server::{ApiError, HttpService, Request, Response, ResponseFuture};
use crate::services::service;
use crate::sim::{Setup, Sim};
use crate::wire;

const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
const TARGET_PREFIX: &str = "AWSStepFunctions.";
/// The API's default and largest page sizes (`maxResults` 0 means the default).
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

/// Keeps the `states` port for [`Sfn::install`]: it answers 501 until then.
pub fn reserve_port(setup: &mut Setup<'_>) {
    setup.listen_shared(service::SFN, Some("AWS_ENDPOINT_URL_SFN"));
}

/// The simulated Step Functions service.
pub struct Sfn {
    runner: Runner,
    machines: BTreeMap<String, Definition>,
}

impl Sfn {
    /// A service over `runner`, serving the state machines in `machines` (ARN -> definition).
    pub fn new(runner: Runner, machines: impl IntoIterator<Item = (String, Definition)>) -> Self {
        Self { runner, machines: machines.into_iter().collect() }
    }

    /// The ARN `runner` gives the state machine `name` (what [`Sfn::new`] expects as keys).
    pub fn state_machine_arn(runner: &Runner, name: &str) -> String {
        let cfg = runner.config();
        format!("arn:aws:states:{}:{}:stateMachine:{name}", cfg.region, cfg.account)
    }

    /// Serves this service on the simulator's `states` port; `sim.try_service::<Sfn>()`
    /// finds it.
    pub fn install(self, sim: &Sim) -> Arc<Self> {
        let svc = Arc::new(self);
        sim.register_service(service::SFN, svc.clone());
        sim.provide(svc.clone());
        svc
    }

    pub fn runner(&self) -> &Runner {
        &self.runner
    }

    fn call(&self, req: &Request) -> Result<Value, ApiError> {
        let (op, input) = wire::json_call(req, TARGET_PREFIX)?;
        match op {
            "StartExecution" => self.start_execution(&input),
            "DescribeExecution" => {
                let exec = self.execution(&input)?;
                Ok(exec.describe().to_api_json())
            }
            "ListExecutions" => self.list_executions(&input),
            "StopExecution" => {
                let exec = self.execution(&input)?;
                let error = input.get("error").and_then(Value::as_str);
                let cause = input.get("cause").and_then(Value::as_str);
                // Stopping an execution that has ended is not an error in the API.
                exec.stop(error, cause);
                let now = self.runner.clock().now();
                let secs = now.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
                Ok(json!({ "stopDate": secs }))
            }
            "GetExecutionHistory" => self.history(&input),
            "SendTaskSuccess" => {
                let token = token(&input)?;
                let text = input.get("output").and_then(Value::as_str).ok_or_else(|| required("output"))?;
                let output: Value = serde_json::from_str(text)
                    .map_err(|e| ApiError::new(400, "InvalidOutput", format!("the output is not valid JSON: {e}")))?;
                self.runner.send_task_success(token, output).map_err(callback_error)?;
                Ok(json!({}))
            }
            "SendTaskFailure" => {
                let token = token(&input)?;
                // Both are optional in the API; an absent error still fails the task.
                let error = input.get("error").and_then(Value::as_str).unwrap_or("");
                let cause = input.get("cause").and_then(Value::as_str).unwrap_or("");
                self.runner.send_task_failure(token, error, cause).map_err(callback_error)?;
                Ok(json!({}))
            }
            "SendTaskHeartbeat" => {
                self.runner.send_task_heartbeat(token(&input)?).map_err(callback_error)?;
                Ok(json!({}))
            }
            other => Err(ApiError::new(400, "UnknownOperationException", format!("unknown operation {other}"))),
        }
    }

    fn start_execution(&self, input: &Value) -> Result<Value, ApiError> {
        let arn = str_field(input, "stateMachineArn")?;
        check_arn(arn)?;
        let definition = self.machines.get(arn).ok_or_else(|| {
            ApiError::new(400, "StateMachineDoesNotExist", format!("State Machine Does Not Exist: '{arn}'"))
        })?;
        let text = input.get("input").and_then(Value::as_str).unwrap_or("{}");
        let exec_input: Value = serde_json::from_str(text).map_err(|e| {
            ApiError::new(400, "InvalidExecutionInput", format!("Invalid State Machine Execution Input: {e}"))
        })?;
        let name = input.get("name").and_then(Value::as_str);
        let sm_name = arn.rsplit(':').next().unwrap_or(arn);
        if let Some(n) = name {
            // StartExecution is idempotent for a running execution with the same name and input.
            let exec_arn = arn.replacen(":stateMachine:", ":execution:", 1) + ":" + n;
            if let Some(e) = self.runner.execution(&exec_arn) {
                if e.status() == Status::Running && *e.input() == exec_input {
                    return Ok(started(&e));
                }
                return Err(ApiError::new(
                    400,
                    "ExecutionAlreadyExists",
                    format!("Execution Already Exists: '{exec_arn}'"),
                ));
            }
        }
        let opts = StartOptions {
            name: name.map(str::to_string),
            state_machine_name: Some(sm_name.to_string()),
            region: arn.split(':').nth(3).map(str::to_string),
        };
        let exec = self.runner.start_with(definition, exec_input, opts).map_err(|e| match e {
            AslError::ExecutionAlreadyExists(n) => {
                ApiError::new(400, "ExecutionAlreadyExists", format!("Execution Already Exists: '{n}'"))
            }
            AslError::InvalidInput(m) if m.contains("execution name") => ApiError::new(400, "InvalidName", m),
            AslError::InvalidInput(m) => ApiError::new(400, "InvalidExecutionInput", m),
            other => ApiError::new(400, "ValidationException", other.to_string()),
        })?;
        Ok(started(&exec))
    }

    fn execution(&self, input: &Value) -> Result<ExecutionHandle, ApiError> {
        let arn = str_field(input, "executionArn")?;
        check_arn(arn)?;
        self.runner
            .execution(arn)
            .ok_or_else(|| ApiError::new(400, "ExecutionDoesNotExist", format!("Execution Does Not Exist: '{arn}'")))
    }

    fn list_executions(&self, input: &Value) -> Result<Value, ApiError> {
        let arn = str_field(input, "stateMachineArn")?;
        check_arn(arn)?;
        if !self.machines.contains_key(arn) {
            return Err(ApiError::new(
                400,
                "StateMachineDoesNotExist",
                format!("State Machine Does Not Exist: '{arn}'"),
            ));
        }
        let filter = input.get("statusFilter").and_then(Value::as_str);
        // Newest first, as the API lists them.
        let mut all: Vec<Value> = self
            .runner
            .executions()
            .iter()
            .filter(|e| e.state_machine_arn() == arn)
            .map(|e| e.describe().to_api_json())
            .filter(|d| filter.is_none_or(|f| d["status"] == f))
            .map(|d| {
                let mut item = Map::new();
                for key in ["executionArn", "stateMachineArn", "name", "status", "startDate", "stopDate"] {
                    if let Some(v) = d.get(key) {
                        item.insert(key.to_string(), v.clone());
                    }
                }
                Value::Object(item)
            })
            .collect();
        all.reverse();
        let (page, next) = paginate(all, input)?;
        let mut out = json!({ "executions": page });
        if let Some(t) = next {
            out["nextToken"] = t.into();
        }
        Ok(out)
    }

    fn history(&self, input: &Value) -> Result<Value, ApiError> {
        let exec = self.execution(input)?;
        let mut events: Vec<Value> = exec.history().iter().map(|e| e.to_api_json()).collect();
        if input.get("reverseOrder").and_then(Value::as_bool).unwrap_or(false) {
            events.reverse();
        }
        if input.get("includeExecutionData").and_then(Value::as_bool) == Some(false) {
            for e in &mut events {
                strip_data(e);
            }
        }
        let (page, next) = paginate(events, input)?;
        let mut out = json!({ "events": page });
        if let Some(t) = next {
            out["nextToken"] = t.into();
        }
        Ok(out)
    }
}

fn started(e: &ExecutionHandle) -> Value {
    let d = e.describe().to_api_json();
    json!({ "executionArn": d["executionArn"], "startDate": d["startDate"] })
}

/// One page of `items` after `nextToken` (an offset into the same listing), and the token of
/// the next page if there is one.
fn paginate(items: Vec<Value>, input: &Value) -> Result<(Vec<Value>, Option<String>), ApiError> {
    let max = match input.get("maxResults").and_then(Value::as_u64).unwrap_or(0) as usize {
        0 => DEFAULT_PAGE,
        n => n.min(MAX_PAGE),
    };
    let skip = match input.get("nextToken").and_then(Value::as_str) {
        None => 0,
        Some(t) => t
            .strip_prefix("page-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= items.len())
            .ok_or_else(|| ApiError::new(400, "InvalidToken", format!("Invalid Token: '{t}'")))?,
    };
    let end = (skip + max).min(items.len());
    let next = (end < items.len()).then(|| format!("page-{end}"));
    Ok((items.into_iter().skip(skip).take(end - skip).collect(), next))
}

/// `includeExecutionData: false` leaves out inputs and outputs, keeping their `*Details`.
fn strip_data(event: &mut Value) {
    if let Some(obj) = event.as_object_mut() {
        for (k, v) in obj.iter_mut() {
            if k.ends_with("EventDetails")
                && let Some(d) = v.as_object_mut()
            {
                d.remove("input");
                d.remove("output");
                d.remove("parameters");
            }
        }
    }
}

fn callback_error(e: CallbackError) -> ApiError {
    let message = match &e {
        CallbackError::InvalidToken(m)
        | CallbackError::TaskDoesNotExist(m)
        | CallbackError::TaskTimedOut(m)
        | CallbackError::InvalidOutput(m) => m.clone(),
    };
    ApiError::new(400, e.code(), message)
}

fn token(input: &Value) -> Result<&str, ApiError> {
    str_field(input, "taskToken")
}

fn str_field<'a>(v: &'a Value, key: &str) -> Result<&'a str, ApiError> {
    v.get(key).and_then(Value::as_str).ok_or_else(|| required(key))
}

fn required(key: &str) -> ApiError {
    ApiError::new(
        400,
        "ValidationException",
        format!(
            "1 validation error detected: Value null at '{key}' failed to satisfy constraint: Member must not be null"
        ),
    )
}

fn check_arn(arn: &str) -> Result<(), ApiError> {
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() < 7 || parts[0] != "arn" || parts[2] != "states" {
        return Err(ApiError::new(400, "InvalidArn", format!("Invalid Arn: '{arn}'")));
    }
    Ok(())
}

impl HttpService for Sfn {
    fn handle(&self, req: Request) -> ResponseFuture {
        wire::json_answer(CONTENT_TYPE, self.call(&req), |e| self.error_response(&req, e))
    }

    /// `states:<Operation>` on the state machine (`StartExecution`, `ListExecutions`) or
    /// the execution (`DescribeExecution`, `GetExecutionHistory`) the request names; a
    /// callback (`SendTaskSuccess`, `SendTaskFailure`, `SendTaskHeartbeat`) on the state
    /// machine of the token's execution, as AWS evaluates it (see [`crate::iam`]).
    fn authorizations(&self, req: &Request, operation: &str) -> Vec<Authorization> {
        let action = format!("states:{operation}");
        let input: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let field = |k: &str| input.get(k).and_then(Value::as_str).map(str::to_string);
        let resource = match operation {
            "StartExecution" | "ListExecutions" => field("stateMachineArn"),
            "DescribeExecution" | "GetExecutionHistory" | "StopExecution" => field("executionArn"),
            "SendTaskSuccess" | "SendTaskFailure" | "SendTaskHeartbeat" => field("taskToken").and_then(|t| {
                let (_, execution) = self.runner.open_task_tokens().into_iter().find(|(open, _)| *open == t)?;
                self.runner.execution(&execution).map(|e| e.state_machine_arn().to_string())
            }),
            _ => None,
        };
        vec![Authorization::new(action, resource.unwrap_or_else(|| "*".to_string()))]
    }

    /// A heartbeat repeats by design; it must not count as a repeated mutation.
    fn is_mutating(&self, operation: &str) -> bool {
        !["Get", "List", "Describe", "SendTaskHeartbeat"].iter().any(|p| operation.starts_with(p))
    }

    fn throttling_error(&self) -> ApiError {
        ApiError::new(400, "ThrottlingException", "Rate exceeded")
    }

    fn error_response(&self, _req: &Request, err: &ApiError) -> Response {
        wire::json_error(CONTENT_TYPE, err, json!({}))
    }
}
