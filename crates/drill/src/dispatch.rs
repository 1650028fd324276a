//! Task dispatch for drills: function ARNs to the real handlers, in-process.
//!
//! [`StepsDispatcher`] is what Lambda and Step Functions are in AWS: it parses the event
//! into the function's input type (bad input names the field), calls the same `handle` the
//! Lambda package calls, and reports a failure with the stable `errorType` and the Lambda
//! error JSON as the cause. `states:startExecution` starts the recovery machine on the same
//! runner. Approval requests (`.waitForTaskToken` notify tasks) are handed to the drill's
//! approver through a channel; the token never leaves the process.
//!
//! Each function runs with the clients of its own role in the stack its ARN names
//! ([`crate::principals`]: every role signs with its own access key id), and every call
//! the runner makes with a state machine's role (the Lambda invocation, the start of the
//! recovery machine) is logged as that machine's, for the least-privilege test.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use failover_asl::{
    Definition, Integration, StartOptions, TaskContext, TaskDispatcher, TaskFailure, TaskFuture, WeakRunner,
};
use failover_core::StepError;
use failover_core::contract::Function;
use failover_steps::aws::AwsClients;
use failover_steps::lambda::dispatch;
use failover_steps::notify;
use futures::FutureExt;
use futures::future::BoxFuture;
use regionsim::{Authorization, CallRecord};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::principals::{Principal, Role};

/// An approval the state machine waits for: which execution asks, in which stack. The task
/// token is not here: the approver finds the request in the e-mail, as a person does.
#[derive(Debug, Clone)]
pub struct ApprovalRequest {
    pub state: String,
    pub execution: String,
    /// The Region of the execution's stack, whose approval page answers.
    pub stack: String,
}

/// One function invocation, for the drill's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub function: String,
    pub state: String,
    pub error: Option<String>,
}

/// Extra dependencies of some handlers.
pub type DiffReportFn = Arc<dyn Fn(Value, AwsClients) -> BoxFuture<'static, Result<Value, StepError>> + Send + Sync>;

/// The clients a role of a stack calls AWS with, signed with its own key.
pub type ClientsOf = Arc<dyn Fn(&Principal) -> AwsClients + Send + Sync>;

/// The calls the runner made with the state machines' roles, in order.
pub type IntegrationLog = Arc<Mutex<Vec<CallRecord>>>;

/// What Lambda costs around an invocation in the simulated world (`regionsim::world`): the
/// overhead of every invocation, and a cold start when no execution environment of the
/// function is free (its first invocation, and each concurrent one beyond the environments
/// already made). Environments stay warm for the rest of the drill. Spent on the clock
/// before the handler runs.
#[derive(Clone, Default)]
pub struct LambdaCosts {
    world: Option<Arc<regionsim::world::World>>,
    /// Free environments by (stack, function).
    idle: Arc<Mutex<BTreeMap<(String, String), usize>>>,
    cold_starts: Arc<std::sync::atomic::AtomicUsize>,
}

impl LambdaCosts {
    /// The costs of `world`.
    pub fn of(world: regionsim::world::World) -> Self {
        LambdaCosts { world: Some(Arc::new(world)), ..LambdaCosts::default() }
    }

    /// Takes an environment for one invocation of `function` in `stack`: what it costs.
    fn begin(&self, stack: &str, function: &str) -> std::time::Duration {
        let Some(world) = &self.world else { return std::time::Duration::ZERO };
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let free = idle.entry((stack.to_string(), function.to_string())).or_default();
        if *free > 0 {
            *free -= 1;
            world.lambda_invoke()
        } else {
            self.cold_starts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            world.lambda_invoke() + world.cold_start(function)
        }
    }

    /// Gives the environment back.
    fn end(&self, stack: &str, function: &str) {
        if self.world.is_some() {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            *idle.entry((stack.to_string(), function.to_string())).or_default() += 1;
        }
    }

    /// How many invocations started cold.
    pub fn cold_starts(&self) -> usize {
        self.cold_starts.load(std::sync::atomic::Ordering::Relaxed)
    }
}

pub struct StepsDispatcher {
    clients: ClientsOf,
    /// The runner that dispatches to this dispatcher: weak, or the two would keep each
    /// other (and the simulated databases behind `diff_report`) alive for ever.
    runner: Arc<OnceLock<WeakRunner>>,
    recovery: Arc<Definition>,
    approvals: mpsc::UnboundedSender<ApprovalRequest>,
    invocations: Arc<Mutex<Vec<Invocation>>>,
    diff_report: Option<DiffReportFn>,
    integrations: IntegrationLog,
    clock: failover_core::SharedClock,
    notify_configs: Arc<BTreeMap<String, Arc<notify::Config>>>,
    lambda: LambdaCosts,
}

/// The Region of an ARN (`arn:aws:lambda:us-west-2:...`), if it names one.
fn region_of(arn: &str) -> Option<String> {
    arn.strip_prefix("arn:").and_then(|_| arn.split(':').nth(3)).filter(|r| !r.is_empty()).map(str::to_string)
}

/// The role of the machine an execution belongs to (`...:execution:failover-<plan>-recovery:x`).
fn machine_of(execution_arn: &str) -> Role {
    match execution_arn.split(':').nth(6) {
        Some(m) if m.ends_with("-recovery") => Role::RecoveryMachine,
        _ => Role::FailoverMachine,
    }
}

impl StepsDispatcher {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        clients: ClientsOf,
        runner: Arc<OnceLock<WeakRunner>>,
        recovery: Arc<Definition>,
        approvals: mpsc::UnboundedSender<ApprovalRequest>,
        invocations: Arc<Mutex<Vec<Invocation>>>,
        diff_report: Option<DiffReportFn>,
        integrations: IntegrationLog,
        clock: failover_core::SharedClock,
    ) -> Self {
        Self {
            clients,
            runner,
            recovery,
            approvals,
            invocations,
            diff_report,
            integrations,
            clock,
            notify_configs: Arc::default(),
            lambda: LambdaCosts::default(),
        }
    }

    /// What Lambda costs around each invocation (none by default).
    pub fn with_lambda_costs(mut self, costs: LambdaCosts) -> Self {
        self.lambda = costs;
        self
    }

    /// notify's configuration in each stack (by Region): the approvals table, the signing
    /// secret and the approval URL, as the template gives them.
    pub fn with_notify_configs(mut self, configs: BTreeMap<String, Arc<notify::Config>>) -> Self {
        self.notify_configs = Arc::new(configs);
        self
    }

    /// Logs a call the runner makes with the role of the machine of `ctx`'s execution, in
    /// the stack of `region`.
    fn log_integration(&self, ctx: &TaskContext, region: &str, service: &str, operation: &str, auth: Authorization) {
        let caller = Principal::new(machine_of(&ctx.execution_arn), region).access_key_id();
        let mut log = self.integrations.lock().unwrap_or_else(|p| p.into_inner());
        let seq = log.len() as u64;
        log.push(CallRecord::in_process(
            seq,
            self.clock.now(),
            &caller,
            service,
            operation,
            region,
            vec![auth],
            Some(200),
        ));
    }
}

/// Runs the handler of `function` on `event`, as its Lambda package would.
pub async fn invoke_function(
    function: Function,
    event: Value,
    clients: &AwsClients,
    diff_report: Option<&DiffReportFn>,
    notify_config: Option<&notify::Config>,
) -> Result<Value, StepError> {
    use failover_steps::{aurora_failover, preflight, routing_control, snapshot_restore, verify_health};
    match function {
        Function::RoutingControl => dispatch(event, |i| routing_control::handle(i, clients)).await,
        Function::VerifyHealth => dispatch(event, |i| verify_health::handle(i, clients)).await,
        Function::AuroraFailover => dispatch(event, |i| aurora_failover::handle(i, clients)).await,
        Function::SnapshotRestore => dispatch(event, |i| snapshot_restore::handle(i, clients)).await,
        Function::Preflight => dispatch(event, |i| preflight::handle(i, clients)).await,
        Function::Notify => match notify_config {
            Some(c) => dispatch(event, |i| notify::handle_with(i, clients, c)).await,
            None => dispatch(event, |i| notify::handle(i, clients)).await,
        },
        Function::DiffReport => match diff_report {
            Some(f) => f(event, clients.clone()).await,
            None => Err(StepError::internal("diff-report is not wired into this drill")),
        },
    }
}

impl TaskDispatcher for StepsDispatcher {
    fn invoke(&self, resource: &str, params: Value, ctx: TaskContext) -> TaskFuture {
        match ctx.integration {
            Integration::StartExecution => self.start_execution(params, &ctx),
            Integration::LambdaInvoke | Integration::LambdaFunction => {
                let Some(function) = Function::of(resource) else {
                    let r = resource.to_string();
                    return async move {
                        Err(TaskFailure::from(StepError::not_found(format!("no function `{r}` in this stack"))))
                    }
                    .boxed();
                };
                // The stack is the one whose function the definition names.
                let stack = region_of(resource).or_else(|| region_of(&ctx.execution_arn)).unwrap_or_default();
                self.log_integration(
                    &ctx,
                    &stack,
                    "lambda",
                    "Invoke",
                    Authorization::new("lambda:InvokeFunction", resource),
                );
                let clients = (self.clients)(&Principal::new(Role::Function(function), &stack));
                let approvals = self.approvals.clone();
                let invocations = self.invocations.clone();
                let diff_report = self.diff_report.clone();
                let notify_config = self.notify_configs.get(&stack).cloned();
                let (lambda, clock) = (self.lambda.clone(), self.clock.clone());
                async move {
                    let cost = lambda.begin(&stack, function.name());
                    if !cost.is_zero() {
                        clock.sleep(cost).await;
                    }
                    let res =
                        invoke_function(function, params, &clients, diff_report.as_ref(), notify_config.as_deref())
                            .await;
                    lambda.end(&stack, function.name());
                    invocations.lock().unwrap_or_else(|p| p.into_inner()).push(Invocation {
                        function: function.name().to_string(),
                        state: ctx.state_name.clone(),
                        error: res.as_ref().err().map(|e| e.kind.as_str().to_string()),
                    });
                    match res {
                        Ok(v) => {
                            if ctx.task_token.is_some() {
                                let stack = region_of(&ctx.execution_arn).unwrap_or(stack);
                                let _ = approvals.send(ApprovalRequest {
                                    state: ctx.state_name,
                                    execution: ctx.execution_name,
                                    stack,
                                });
                            }
                            Ok(v)
                        }
                        Err(e) => Err(TaskFailure::from(e)),
                    }
                }
                .boxed()
            }
            Integration::Service => {
                let r = resource.to_string();
                async move { Err(TaskFailure::new("States.Runtime", format!("{r} is not available in drills"))) }
                    .boxed()
            }
        }
    }
}

impl StepsDispatcher {
    fn start_execution(&self, params: Value, ctx: &TaskContext) -> TaskFuture {
        let runner = self.runner.get().and_then(WeakRunner::upgrade);
        let recovery = self.recovery.clone();
        let machine = params.get("StateMachineArn").and_then(Value::as_str).unwrap_or("").to_string();
        let region = region_of(&machine).or_else(|| region_of(&ctx.execution_arn));
        let stack = region.clone().unwrap_or_default();
        self.log_integration(
            ctx,
            &stack,
            "states",
            "StartExecution",
            Authorization::new("states:StartExecution", &machine),
        );
        // The machine the task names (`...:stateMachine:failover-<plan>-recovery`).
        let machine_name = machine.rsplit(':').next().unwrap_or_default().to_string();
        async move {
            let runner = runner.ok_or_else(|| TaskFailure::new("States.Runtime", "the runner is not ready"))?;
            let name = params.get("Name").and_then(Value::as_str).map(str::to_string);
            let input = params.get("Input").cloned().unwrap_or(Value::Null);
            let input = match input {
                Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
                other => other,
            };
            if let Some(n) = &name
                && runner.executions().iter().any(|e| e.name() == n)
            {
                return Err(TaskFailure::new(
                    "StepFunctions.ExecutionAlreadyExistsException",
                    format!("Execution Already Exists: '{n}'"),
                ));
            }
            let handle = runner
                .start_with(&recovery, input, StartOptions { name, state_machine_name: Some(machine_name), region })
                .map_err(|e| TaskFailure::new("States.Runtime", e.to_string()))?;
            let start = failover_core::time_fmt::rfc3339(handle.start_date());
            Ok(json!({"ExecutionArn": handle.arn(), "StartDate": start}))
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stack_and_machine_come_from_the_arns() {
        assert_eq!(
            region_of("arn:aws:lambda:us-west-2:111122223333:function:failover-notify").as_deref(),
            Some("us-west-2")
        );
        assert_eq!(region_of("failover-notify"), None);
        assert_eq!(
            machine_of("arn:aws:states:us-west-2:1:execution:failover-retail-store-recovery:x-recovery"),
            Role::RecoveryMachine
        );
        assert_eq!(machine_of("arn:aws:states:us-west-2:1:execution:failover-retail-store:x"), Role::FailoverMachine);
    }
}
