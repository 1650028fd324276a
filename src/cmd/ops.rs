//! The operator commands against a deployed stack: `failover start | status | approve |
//! reject | abort | readiness`. The logic is `failover_operator`; this is the flags and
//! the printing. Exit 0 done, 1 refused or failed, 2 configuration (credentials, Region,
//! stack) missing or wrong.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use failover_core::SharedClock;
use failover_core::approval::Decision;
use failover_operator::{OpError, Operator, Target};

/// Where the command acts: the stack and its Region.
#[derive(Args, Debug, Clone)]
pub struct StackArgs {
    /// The stack's name (samconfig.toml's `stack_name`).
    #[arg(long, env = "FAILOVER_STACK", default_value = failover_operator::DEFAULT_STACK)]
    stack: String,
    /// The stack's Region (default: AWS_REGION).
    #[arg(long, env = "AWS_REGION")]
    region: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Mode {
    Planned,
    Unplanned,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    #[command(flatten)]
    stack: StackArgs,
    /// The Region to fail over to: the stack's own Region (the failover runs there).
    #[arg(long)]
    to: String,
    #[arg(long, value_enum)]
    mode: Mode,
    /// Why, for the approvers and the history.
    #[arg(long)]
    reason: Option<String>,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    stack: StackArgs,
    /// An execution name or ARN (default: the latest failover).
    execution: Option<String>,
    /// Print the timeline again every few seconds until the execution ends.
    #[arg(long)]
    follow: bool,
}

#[derive(Args, Debug)]
pub struct DecideArgs {
    #[command(flatten)]
    stack: StackArgs,
    /// The execution name or ARN waiting for the decision.
    execution: String,
    /// Your name, recorded with the decision (with your IAM principal).
    #[arg(long = "as")]
    name: String,
}

#[derive(Args, Debug)]
pub struct AbortArgs {
    #[command(flatten)]
    stack: StackArgs,
    execution: String,
    #[arg(long)]
    reason: Option<String>,
}

#[derive(Args, Debug)]
pub struct ReadinessArgs {
    #[command(flatten)]
    stack: StackArgs,
    /// How long to wait for the verdict.
    #[arg(long, default_value_t = 300)]
    timeout_seconds: u64,
}

/// Which command.
pub enum Op {
    Start(StartArgs),
    Status(StatusArgs),
    Approve(DecideArgs),
    Reject(DecideArgs),
    Abort(AbortArgs),
    Readiness(ReadinessArgs),
}

pub fn run(op: Op) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(execute(op)) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("failover: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn connect(args: &StackArgs, clock: &SharedClock) -> Result<Operator, OpError> {
    let region = args
        .region
        .clone()
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .filter(|r| !r.trim().is_empty())
        .ok_or_else(|| OpError::Config("no Region: pass --region (or set AWS_REGION)".into()))?;
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.clone()))
        .load()
        .await;
    Operator::connect(&sdk, clock.clone(), Target { stack: args.stack.clone(), region }).await
}

async fn execute(op: Op) -> Result<String, OpError> {
    let clock = SharedClock::system();
    match op {
        Op::Start(a) => {
            let o = connect(&a.stack, &clock).await?;
            let mode = match a.mode {
                Mode::Planned => "planned",
                Mode::Unplanned => "unplanned",
            };
            let s = o.start(&a.to, mode, a.reason.as_deref(), clock.now()).await?;
            Ok(format!(
                "started {}\n  plan version {}; follow it with: failover status {} --region {} --follow\n",
                s.execution_arn, s.plan_version, s.execution_arn, o.target.region
            ))
        }
        Op::Status(a) => {
            let o = connect(&a.stack, &clock).await?;
            let t = if a.follow {
                o.follow(a.execution.as_deref(), &clock, Duration::from_secs(5), |t| println!("{t}")).await?
            } else {
                o.status(a.execution.as_deref(), clock.now()).await?
            };
            Ok(t.to_string())
        }
        Op::Approve(a) | Op::Reject(a) if a.name.trim().is_empty() => {
            Err(OpError::Config("--as: your name is required".into()))
        }
        Op::Approve(a) => decide(&a, Decision::Approve, &clock).await,
        Op::Reject(a) => decide(&a, Decision::Reject, &clock).await,
        Op::Abort(a) => {
            let o = connect(&a.stack, &clock).await?;
            let r = o.abort(&a.execution, a.reason.as_deref()).await?;
            let mut text = format!(
                "{} {}: {}\n",
                r.execution_arn,
                if r.stopped { "stopped" } else { "had already ended" },
                r.status
            );
            text.push_str("routing controls:\n");
            for (arn, state) in &r.routing_controls {
                text.push_str(&format!("  {arn}: {state}\n"));
            }
            text.push_str("writers:\n");
            for (db, region) in &r.writers {
                text.push_str(&format!("  {db}: {region}\n"));
            }
            Ok(text)
        }
        Op::Readiness(a) => {
            let o = connect(&a.stack, &clock).await?;
            let r = o.readiness(Duration::from_secs(a.timeout_seconds)).await?;
            let mut text = format!(
                "{}: {} ({})\n",
                o.target.region,
                r.verdict.as_deref().unwrap_or("no verdict"),
                r.execution_arn
            );
            for reason in &r.reasons {
                text.push_str(&format!("  - {reason}\n"));
            }
            match &r.failure {
                Some(f) => Err(OpError::Refused(format!("{text}the readiness check failed: {f}"))),
                None => Ok(text),
            }
        }
    }
}

async fn decide(a: &DecideArgs, decision: Decision, clock: &SharedClock) -> Result<String, OpError> {
    let o = connect(&a.stack, clock).await?;
    let d = o.decide(&a.execution, decision, &a.name).await?;
    Ok(format!(
        "{}: {} by {} ({}); {}\n",
        d.execution_arn,
        d.decision,
        d.by,
        d.principal,
        if d.delivered { "Step Functions has it".to_string() } else { d.detail }
    ))
}
