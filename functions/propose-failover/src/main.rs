//! Lambda entry point of `propose-failover` (the target of the stack's canary rule): glue
//! only (see failover_steps::propose_failover).
//!
//! A configuration that is missing does not stop the start: every event then fails with
//! `Failover.Internal` naming what is missing, so the function's errors alarm says so
//! instead of a process that never polls.

use failover_core::StepError;
use failover_steps::lambda;
use failover_steps::propose_failover::{self, Proposer};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let env = |name: &str| std::env::var(name).ok();
    let (level, format) = (env("AWS_LAMBDA_LOG_LEVEL"), env("AWS_LAMBDA_LOG_FORMAT"));
    lambda::init_tracing(level.as_deref(), format.as_deref());
    let config = propose_failover::Config::from_values(
        env("AWS_REGION"),
        env("APPROVALS_TABLE"),
        env("FAILOVER_STATE_MACHINE_ARN"),
        env("PLAN_PARAMETER"),
        env("TOPIC_ARN"),
    );
    if let Err(problem) = &config {
        lambda_runtime::tracing::error!(problem = %problem, "propose-failover: every event will fail (configuration)");
    }
    // Credentials resolve lazily on the first call: nothing heavy before the first event.
    let clients = lambda::clients(aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await);
    let deps: Result<&'static Proposer, String> =
        config.map(|c| &*Box::leak(Box::new(Proposer::new(clients.clone(), c))));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let deps = deps.clone();
        async move {
            match deps {
                // Boxed: the handler's future is too deep to inline into `main`'s.
                Ok(deps) => Box::pin(propose_failover::handle(event.payload, deps)).await,
                Err(problem) => Err(StepError::internal(format!("configuration: {problem}"))),
            }
        }
    }))
    .await
}
