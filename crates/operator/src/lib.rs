//! The operator's commands against a deployed stack: `failover start | status | approve |
//! reject | abort | readiness`.
//!
//! Everything is found from the stack's CloudFormation outputs in the Region asked for
//! (the state machines, the approvals table, the signing secret, the plan parameter), never
//! from a local file: at 3 a.m. the deployed stack is the truth. A start reads the plan
//! from that Region's own parameter and passes it with its version, as every starter does
//! (ARCHITECTURE.md, "The plan, and how a deployed function gets it"). An approval goes
//! through the same single-use record as the e-mail's link
//! ([`failover_steps::approval::approve_via_api`]), never a side door, and records the
//! caller's IAM principal.
//!
//! Errors are [`OpError`]: `Config` (credentials, Region, stack or an output missing: exit
//! 2), `Refused` (the stack said no: exit 1) and `Aws` (a call failed: exit 1).

pub mod timeline;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_sdk_sfn::types::ExecutionStatus;
use failover_core::SharedClock;
use failover_core::approval::Decision;
use failover_core::plan::Plan;
use failover_steps::aws::{AwsClients, classify};
use serde_json::{Value, json};

pub use timeline::{Step, Timeline};

/// What went wrong, and so the exit code.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// Missing or wrong configuration: credentials, Region, stack, an output (exit 2).
    #[error("{0}")]
    Config(String),
    /// The stack refused (no such execution, nothing to approve, already decided...).
    #[error("{0}")]
    Refused(String),
    /// An AWS call failed.
    #[error("{0}")]
    Aws(String),
}

impl OpError {
    pub fn exit_code(&self) -> u8 {
        match self {
            OpError::Config(_) => 2,
            OpError::Refused(_) | OpError::Aws(_) => 1,
        }
    }
}

/// An SDK error as an [`OpError`]: missing credentials are configuration.
fn aws_error<E, R>(what: &str, e: &aws_sdk_sfn::error::SdkError<E, R>) -> OpError
where
    E: std::error::Error + aws_smithy_types::error::metadata::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_sfn::error::SdkError;
    let text = match e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            format!("{}: {}", err.code().unwrap_or("error"), err.message().unwrap_or(""))
        }
        other => {
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            text
        }
    };
    let lower = text.to_ascii_lowercase();
    if lower.contains("credential") || lower.contains("no credentials") {
        return OpError::Config(format!(
            "{what}: no AWS credentials ({text}); set AWS_PROFILE or the AWS_ACCESS_KEY_ID variables"
        ));
    }
    if matches!(e, SdkError::ServiceError(_)) {
        OpError::Refused(format!("{what}: {text}"))
    } else {
        OpError::Aws(format!("{what}: {text}"))
    }
}

/// The stack outputs the commands use (template.yaml's `Outputs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackOutputs {
    pub failover_machine: String,
    pub recovery_machine: Option<String>,
    pub readiness_machine: Option<String>,
    pub approval_url: Option<String>,
    pub table: String,
    pub approval_secret: String,
    pub plan_parameter: String,
    pub topic: Option<String>,
}

impl StackOutputs {
    /// From DescribeStacks' outputs; every output the commands need must be there.
    pub fn from_outputs(stack: &str, outputs: &BTreeMap<String, String>) -> Result<Self, OpError> {
        let need = |key: &str| {
            outputs.get(key).filter(|v| !v.is_empty()).cloned().ok_or_else(|| {
                OpError::Config(format!(
                    "stack {stack}: output {key} is missing (is it a failover stack, deployed from this version's template.yaml?)"
                ))
            })
        };
        let opt = |key: &str| outputs.get(key).filter(|v| !v.is_empty()).cloned();
        Ok(StackOutputs {
            failover_machine: need("FailoverStateMachineArn")?,
            recovery_machine: opt("RecoveryStateMachineArn"),
            readiness_machine: opt("ReadinessStateMachineArn"),
            approval_url: opt("ApprovalUrl"),
            table: need("ApprovalsTableName")?,
            approval_secret: need("ApprovalSecretArn")?,
            plan_parameter: need("PlanParameterName")?,
            topic: opt("TopicArn"),
        })
    }
}

/// Where the commands act: a stack in a Region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub stack: String,
    pub region: String,
}

/// The default stack name of a Region, as samconfig.toml names it.
pub const DEFAULT_STACK: &str = "failover-retail-store";

/// An operator connected to one stack.
pub struct Operator {
    pub target: Target,
    pub outputs: StackOutputs,
    /// Every output of the stack, by key.
    pub raw_outputs: BTreeMap<String, String>,
    clients: AwsClients,
    clock: SharedClock,
    sfn: aws_sdk_sfn::Client,
    ssm: aws_sdk_ssm::Client,
    sts: aws_sdk_sts::Client,
}

/// A started execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub execution_arn: String,
    pub plan_version: i64,
}

/// An approval or rejection as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionOutcome {
    pub execution_arn: String,
    pub decision: String,
    pub by: String,
    pub principal: String,
    /// Whether Step Functions took it; `false`: run the command again.
    pub delivered: bool,
    pub detail: String,
}

/// Where an aborted execution left things.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aborted {
    pub execution_arn: String,
    /// Whether this call stopped it (`false`: it had already ended).
    pub stopped: bool,
    pub status: String,
    /// Routing control ARN -> `On`/`Off`, or why it could not be read.
    pub routing_controls: Vec<(String, String)>,
    /// Database -> the Region of its writer, or why it could not be read.
    pub writers: Vec<(String, String)>,
}

/// The readiness check's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Readiness {
    pub execution_arn: String,
    pub status: String,
    /// `ready`, `ready-unplanned-only` or `not-ready`.
    pub verdict: Option<String>,
    pub reasons: Vec<String>,
    pub output: Value,
    /// The error and cause when the check itself failed.
    pub failure: Option<String>,
}

impl Operator {
    /// Finds the stack's outputs (DescribeStacks in `target.region`). `sdk` carries the
    /// credentials and endpoint overrides; its Region is replaced by the target's.
    pub async fn connect(sdk: &SdkConfig, clock: SharedClock, target: Target) -> Result<Self, OpError> {
        Self::connect_with_endpoints(sdk, clock, target, &BTreeMap::new()).await
    }

    /// [`Operator::connect`] with an endpoint URL per service (`cloudformation`, `sts`,
    /// `ssm`, `states`, and the ones of [`AwsClients::with_endpoints`]): a simulated pair.
    pub async fn connect_with_endpoints(
        sdk: &SdkConfig,
        clock: SharedClock,
        target: Target,
        endpoints: &BTreeMap<String, String>,
    ) -> Result<Self, OpError> {
        if target.region.trim().is_empty() {
            return Err(OpError::Config("no Region: pass --region (or set AWS_REGION)".into()));
        }
        if target.stack.trim().is_empty() {
            return Err(OpError::Config("no stack: pass --stack".into()));
        }
        if sdk.credentials_provider().is_none() {
            return Err(OpError::Config(
                "no AWS credentials: set AWS_PROFILE or the AWS_ACCESS_KEY_ID variables".into(),
            ));
        }
        let regional = failover_steps::aws::regional_config(sdk, &target.region, &clock);
        macro_rules! client {
            ($krate:ident, $service:literal) => {{
                let mut b = $krate::config::Builder::from(&regional);
                if let Some(u) = endpoints.get($service) {
                    b = b.endpoint_url(u.clone());
                }
                $krate::Client::from_conf(b.build())
            }};
        }
        let cfn = client!(aws_sdk_cloudformation, "cloudformation");
        let described = cfn.describe_stacks().stack_name(&target.stack).send().await.map_err(|e| {
            let c = classify(&e);
            if c.code == "ValidationError" {
                OpError::Config(format!(
                    "stack {} not found in {} ({}); pass --stack and --region",
                    target.stack, target.region, c.message
                ))
            } else {
                aws_error(&format!("DescribeStacks {} in {}", target.stack, target.region), &e)
            }
        })?;
        let stack = described
            .stacks()
            .first()
            .ok_or_else(|| OpError::Config(format!("stack {} not found in {}", target.stack, target.region)))?;
        let outputs: BTreeMap<String, String> = stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value().unwrap_or_default().to_string())))
            .collect();
        let raw_outputs = outputs.clone();
        let outputs = StackOutputs::from_outputs(&target.stack, &outputs)?;
        let clients = AwsClients::with_endpoints(sdk.clone(), clock.clone(), endpoints);
        Ok(Operator {
            sfn: client!(aws_sdk_sfn, "states"),
            ssm: client!(aws_sdk_ssm, "ssm"),
            sts: client!(aws_sdk_sts, "sts"),
            target,
            outputs,
            raw_outputs,
            clients,
            clock,
        })
    }

    /// The caller's IAM principal (STS GetCallerIdentity).
    pub async fn caller(&self) -> Result<String, OpError> {
        let out = self.sts.get_caller_identity().send().await.map_err(|e| aws_error("GetCallerIdentity", &e))?;
        out.arn().map(str::to_string).ok_or_else(|| OpError::Aws("GetCallerIdentity answered no ARN".into()))
    }

    /// This Region's copy of the plan and its version.
    pub async fn plan(&self) -> Result<(Plan, i64), OpError> {
        let name = &self.outputs.plan_parameter;
        let out = self.ssm.get_parameter().name(name).send().await.map_err(|e| {
            let c = classify(&e);
            if c.code == "ParameterNotFound" {
                OpError::Config(format!(
                    "the plan parameter {name} does not exist in {}: publish the plan (scripts/publish-plan)",
                    self.target.region
                ))
            } else {
                aws_error(&format!("GetParameter {name}"), &e)
            }
        })?;
        let p = out.parameter().ok_or_else(|| OpError::Aws(format!("GetParameter {name}: no parameter")))?;
        let text = p.value().unwrap_or_default();
        let value: Value = serde_json::from_str(text)
            .map_err(|e| OpError::Config(format!("{name}: the plan is not JSON ({e}); publish it again")))?;
        let plan = Plan::from_json_value(value).map_err(|e| OpError::Config(format!("{name}: {e}")))?;
        Ok((plan, p.version()))
    }

    /// Starts a failover to this stack's Region. The failover runs in the target Region's
    /// stack: `to` must be the stack's Region.
    pub async fn start(&self, to: &str, mode: &str, reason: Option<&str>, now: SystemTime) -> Result<Started, OpError> {
        if to != self.target.region {
            return Err(OpError::Config(format!(
                "--to {to}: a failover to {to} runs in {to}'s stack; pass --region {to} (the stack here is in {})",
                self.target.region
            )));
        }
        if !matches!(mode, "planned" | "unplanned") {
            return Err(OpError::Config(format!("--mode {mode}: planned or unplanned")));
        }
        let (plan, version) = self.plan().await?;
        if !plan.has_region(to) {
            return Err(OpError::Config(format!("--to {to}: not a Region of plan {}", plan.name)));
        }
        let caller = self.caller().await?;
        let secs = now.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs();
        let name = format!("cli-{mode}-{to}-{secs}");
        let input = json!({
            "plan": plan,
            "plan_version": version.to_string(),
            "mode": mode,
            "target_region": to,
            "reason": reason.unwrap_or("started by an operator"),
            "started_by": { "kind": "operator", "principal": caller },
        });
        let out = self
            .sfn
            .start_execution()
            .state_machine_arn(&self.outputs.failover_machine)
            .name(&name)
            .input(input.to_string())
            .send()
            .await
            .map_err(|e| aws_error("StartExecution", &e))?;
        Ok(Started { execution_arn: out.execution_arn().to_string(), plan_version: version })
    }

    /// An execution ARN from a name or an ARN (of the failover machine by default); the
    /// latest execution of the failover machine when `None`.
    pub async fn execution_arn(&self, execution: Option<&str>) -> Result<String, OpError> {
        match execution.map(str::trim).filter(|e| !e.is_empty()) {
            Some(e) if e.starts_with("arn:") => Ok(e.to_string()),
            Some(name) => {
                Ok(format!("{}:{name}", self.outputs.failover_machine.replacen(":stateMachine:", ":execution:", 1)))
            }
            None => {
                let out = self
                    .sfn
                    .list_executions()
                    .state_machine_arn(&self.outputs.failover_machine)
                    .max_results(1)
                    .send()
                    .await
                    .map_err(|e| aws_error("ListExecutions", &e))?;
                out.executions()
                    .first()
                    .map(|e| e.execution_arn().to_string())
                    .ok_or_else(|| OpError::Refused(format!("no execution of {} yet", self.outputs.failover_machine)))
            }
        }
    }

    /// DescribeExecution.
    async fn describe(
        &self,
        arn: &str,
    ) -> Result<aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput, OpError> {
        self.sfn.describe_execution().execution_arn(arn).send().await.map_err(|e| aws_error("DescribeExecution", &e))
    }

    /// The execution's timeline, from its history.
    pub async fn status(&self, execution: Option<&str>, now: SystemTime) -> Result<Timeline, OpError> {
        let arn = self.execution_arn(execution).await?;
        let d = self.describe(&arn).await?;
        let mut events = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .sfn
                .get_execution_history()
                .execution_arn(&arn)
                .include_execution_data(false)
                .set_next_token(token)
                .max_results(1000)
                .send()
                .await
                .map_err(|e| aws_error("GetExecutionHistory", &e))?;
            events.extend(out.events().iter().cloned());
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        let input: Value = d.input().and_then(|i| serde_json::from_str(i).ok()).unwrap_or(Value::Null);
        let rto = input.pointer("/plan/objectives/rto_seconds").and_then(Value::as_u64).map(Duration::from_secs);
        let started = to_system(d.start_date());
        let stopped = d.stop_date().map(to_system);
        Ok(Timeline::from_history(arn, d.status().as_str(), started, stopped, rto, &events, now))
    }

    /// `failover status --follow`: the timeline of one execution (the latest when `execution`
    /// is `None`, pinned at the first read, so an execution started meanwhile is not
    /// followed instead), read every `every` on `clock` until the execution ends. `changed`
    /// gets each running timeline whose steps differ from the last one it got (the elapsed
    /// time alone is no change); the ended timeline is returned.
    pub async fn follow(
        &self,
        execution: Option<&str>,
        clock: &SharedClock,
        every: Duration,
        mut changed: impl FnMut(&Timeline),
    ) -> Result<Timeline, OpError> {
        let mut t = self.status(execution, clock.now()).await?;
        let arn = t.execution_arn.clone();
        let mut shown: Option<Vec<Step>> = None;
        while !t.finished() {
            if shown.as_ref() != Some(&t.steps) {
                changed(&t);
                shown = Some(t.steps.clone());
            }
            clock.sleep(every).await;
            t = self.status(Some(&arn), clock.now()).await?;
        }
        Ok(t)
    }

    /// Approves or rejects the execution's pending request, as `name`, through the
    /// single-use record the e-mail's link uses.
    pub async fn decide(&self, execution: &str, decision: Decision, name: &str) -> Result<DecisionOutcome, OpError> {
        if name.trim().is_empty() {
            return Err(OpError::Config("--as: the name recorded with the decision is required".into()));
        }
        let principal = self.caller().await?;
        let config = failover_steps::approval::Config::from_values(
            Some(self.target.region.clone()),
            Some(self.outputs.table.clone()),
            Some(self.outputs.approval_secret.clone()),
            Some(self.outputs.failover_machine.clone()),
        )
        .map_err(OpError::Config)?;
        let deps = failover_steps::approval::Approvals::new(self.clients.clone(), config);
        let out = failover_steps::approval::approve_via_api(execution, decision, name, &principal, &deps)
            .await
            .map_err(|e| OpError::Refused(format!("{}: {}", e.kind.as_str(), e.message)))?;
        let (delivered, detail) = match &out.delivery {
            failover_core::approval::Delivery::Answered(a) => (true, format!("{a:?}")),
            failover_core::approval::Delivery::NotDelivered { code } => {
                (false, format!("not delivered to Step Functions ({code}): run the command again"))
            }
        };
        Ok(DecisionOutcome {
            execution_arn: out.execution_arn,
            decision: out.decided.decision.as_str().to_string(),
            by: out.decided.by,
            principal,
            delivered,
            detail,
        })
    }

    /// Stops the execution and reports where each routing control and writer was left.
    pub async fn abort(&self, execution: &str, reason: Option<&str>) -> Result<Aborted, OpError> {
        let arn = self.execution_arn(Some(execution)).await?;
        let d = self.describe(&arn).await?;
        let mut stopped = false;
        if *d.status() == ExecutionStatus::Running {
            let caller = self.caller().await?;
            self.sfn
                .stop_execution()
                .execution_arn(&arn)
                .error("Failover.Aborted")
                .cause(format!("aborted by {caller}: {}", reason.unwrap_or("no reason given")))
                .send()
                .await
                .map_err(|e| aws_error("StopExecution", &e))?;
            stopped = true;
        }
        // StopExecution is asynchronous: the status follows within moments.
        let mut after;
        let mut waited = Duration::ZERO;
        loop {
            after = self.describe(&arn).await?;
            if *after.status() != ExecutionStatus::Running || waited >= Duration::from_secs(10) {
                break;
            }
            self.clock.sleep(Duration::from_millis(500)).await;
            waited += Duration::from_millis(500);
        }
        let input: Value = d.input().and_then(|i| serde_json::from_str(i).ok()).unwrap_or(Value::Null);
        let plan = match input.get("plan").cloned().map(Plan::from_json_value) {
            Some(Ok(p)) => p,
            _ => self.plan().await?.0,
        };
        Ok(Aborted {
            execution_arn: arn,
            stopped,
            status: after.status().as_str().to_string(),
            routing_controls: self.routing_controls(&plan).await,
            writers: self.writers(&plan).await,
        })
    }

    /// Every routing control of the plan, read from the first cluster endpoint that answers.
    async fn routing_controls(&self, plan: &Plan) -> Vec<(String, String)> {
        let arns: Vec<&String> = plan.arc.routing_controls.values().flatten().collect();
        let mut failures = Vec::new();
        for ep in &plan.arc.cluster_endpoints {
            let client = (self.clients.arc)(ep, &plan.arc.timeouts);
            let mut states = Vec::new();
            for arn in &arns {
                match client.get_routing_control_state().routing_control_arn(arn.as_str()).send().await {
                    Ok(o) => states.push(((*arn).clone(), o.routing_control_state().as_str().to_string())),
                    Err(e) => {
                        failures.push(format!("{}: {}", ep.url, classify(&e).code));
                        break;
                    }
                }
            }
            if states.len() == arns.len() {
                return states;
            }
        }
        let why = format!("not read ({})", failures.join("; "));
        arns.into_iter().map(|a| (a.clone(), why.clone())).collect()
    }

    /// The writer's Region of every database, read in this stack's Region.
    async fn writers(&self, plan: &Plan) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let source = plan.other_region(&self.target.region).unwrap_or(&self.target.region).to_string();
        for db in &plan.databases {
            let observer = failover_steps::rds::Observer {
                clients: &self.clients,
                db,
                target_region: &self.target.region,
                source_region: &source,
                read_source: false,
                rpo_ms: plan.objectives.rpo_seconds * 1000,
            };
            let writer = match observer.global().await {
                Ok(o) => {
                    let w = o.global.members.iter().find(|m| m.is_writer).map(|m| m.arn.clone());
                    match w {
                        Some(arn) => {
                            let region = arn.split(':').nth(3).unwrap_or("?").to_string();
                            let moving =
                                o.global.failover.as_ref().map(|f| format!(" (a move is in flight: {})", f.status));
                            format!("{region}{}", moving.unwrap_or_default())
                        }
                        None => "no writer".to_string(),
                    }
                }
                Err(e) => format!("not read ({}: {})", e.kind.as_str(), e.message),
            };
            out.push((db.name.clone(), writer));
        }
        out
    }

    /// Starts the stack's readiness check; returns its execution ARN.
    pub async fn start_readiness(&self) -> Result<String, OpError> {
        let machine = self.outputs.readiness_machine.clone().ok_or_else(|| {
            OpError::Config(format!("stack {}: output ReadinessStateMachineArn is missing", self.target.stack))
        })?;
        let (plan, version) = self.plan().await?;
        let secs = self.clock.now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs();
        let input = json!({ "plan": plan, "plan_version": version.to_string() });
        let started = self
            .sfn
            .start_execution()
            .state_machine_arn(&machine)
            .name(format!("cli-readiness-{secs}"))
            .input(input.to_string())
            .send()
            .await
            .map_err(|e| aws_error("StartExecution", &e))?;
        Ok(started.execution_arn().to_string())
    }

    /// The readiness check's verdict; `None` while it runs.
    pub async fn readiness_result(&self, arn: &str) -> Result<Option<Readiness>, OpError> {
        let d = self.describe(arn).await?;
        if *d.status() == ExecutionStatus::Running {
            return Ok(None);
        }
        let output: Value = d.output().and_then(|o| serde_json::from_str(o).ok()).unwrap_or(Value::Null);
        let verdict = output.get("readiness").and_then(Value::as_str).map(str::to_string);
        let reasons = output
            .get("reasons")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|r| r.as_str().map(str::to_string).unwrap_or_else(|| r.to_string())).collect())
            .unwrap_or_default();
        let failure = d.error().map(|e| format!("{e}: {}", d.cause().unwrap_or_default()));
        Ok(Some(Readiness {
            execution_arn: arn.to_string(),
            status: d.status().as_str().to_string(),
            verdict,
            reasons,
            output,
            failure,
        }))
    }

    /// Starts the stack's readiness check and waits for its verdict, polling every 2 s.
    pub async fn readiness(&self, timeout: Duration) -> Result<Readiness, OpError> {
        let arn = self.start_readiness().await?;
        let deadline = self.clock.now() + timeout;
        loop {
            if let Some(r) = self.readiness_result(&arn).await? {
                return Ok(r);
            }
            if self.clock.now() >= deadline {
                return Err(OpError::Aws(format!("{arn}: still running after {} s", timeout.as_secs())));
            }
            self.clock.sleep(Duration::from_secs(2)).await;
        }
    }
}

fn to_system(t: &aws_smithy_types::DateTime) -> SystemTime {
    SystemTime::try_from(*t).unwrap_or(SystemTime::UNIX_EPOCH)
}

/// What the plan says about a stack against what the stack's outputs say: one line per
/// disagreement (topic, bucket, signing secret), each naming the plan's field. notify and
/// diff-report use the plan's values, so a mismatch sends mail to another topic, reports to
/// another bucket, or signs links with a key the approval page does not check.
pub fn stack_disagreements(
    plan: &Plan,
    region: &str,
    outputs: &StackOutputs,
    raw: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    let Some(stack) = plan.stacks.get(region) else {
        return vec![format!("stacks.{region}: the plan names no stack in {region}")];
    };
    let mut compare = |field: &str, planned: Option<&str>, output: &str, actual: Option<&str>| {
        if planned != actual {
            out.push(format!(
                "stacks.{region}.{field}: the plan says {}, the stack's {output} is {}",
                planned.unwrap_or("nothing"),
                actual.unwrap_or("missing")
            ));
        }
    };
    compare("topic_arn", Some(stack.topic_arn.as_str()), "TopicArn", outputs.topic.as_deref());
    compare(
        "report_bucket",
        Some(stack.report_bucket.as_str()),
        "ReportBucketName",
        raw.get("ReportBucketName").map(String::as_str),
    );
    compare(
        "approval_secret",
        stack.approval_secret.as_deref(),
        "ApprovalSecretArn",
        Some(outputs.approval_secret.as_str()),
    );
    out
}

impl Operator {
    /// [`stack_disagreements`] for this operator's stack.
    pub fn disagreements(&self, plan: &Plan) -> Vec<String> {
        stack_disagreements(plan, &self.target.region, &self.outputs, &self.raw_outputs)
    }
}
