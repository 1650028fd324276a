//! Lambda entry point of `approval` (the Function URL behind the approval e-mail's links):
//! glue only (see failover_steps::approval).
//!
//! A configuration that is missing or wrong does not stop the start: every request then
//! fails with `Failover.Internal` naming what is missing, so the function's errors alarm
//! says so instead of a process that never polls.

use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use failover_core::StepError;
use failover_steps::approval::{self, Approvals};
use failover_steps::lambda;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let env = |name: &str| std::env::var(name).ok();
    let (level, format) = (env("AWS_LAMBDA_LOG_LEVEL"), env("AWS_LAMBDA_LOG_FORMAT"));
    lambda::init_tracing(level.as_deref(), format.as_deref());
    let config = approval::Config::from_values(
        env("AWS_REGION"),
        env("APPROVALS_TABLE"),
        env("APPROVAL_SECRET_ARN"),
        env("FAILOVER_STATE_MACHINE_ARN"),
    );
    if let Err(problem) = &config {
        lambda_runtime::tracing::error!(problem = %problem, "approval: every request will fail (configuration)");
    }
    // Credentials resolve lazily on the first call: nothing heavy before the first event.
    let clients = lambda::clients(aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await);
    let deps: Result<&'static Approvals, String> =
        config.map(|c| &*Box::leak(Box::new(Approvals::new(clients.clone(), c))));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<LambdaFunctionUrlRequest>| {
        let deps = deps.clone();
        async move {
            match deps {
                // Boxed: the handler's future is too deep to inline into `main`'s.
                Ok(deps) => Box::pin(approval::handle(event.payload, deps)).await,
                Err(problem) => Err(StepError::internal(format!("configuration: {problem}"))),
            }
        }
    }))
    .await
}
