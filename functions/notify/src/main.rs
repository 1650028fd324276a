//! Lambda entry point of `notify`: glue only (see failover_steps::notify).

use failover_steps::lambda;
use failover_steps::notify::{self, ApprovalSetup};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let env = |name: &str| std::env::var(name).ok();
    let (level, format) = (env("AWS_LAMBDA_LOG_LEVEL"), env("AWS_LAMBDA_LOG_FORMAT"));
    lambda::init_tracing(level.as_deref(), format.as_deref());
    // The approval store: all of these, or none (approval requests then name the CLI only).
    let config: &'static notify::Config = Box::leak(Box::new(notify::Config::from_values(
        env("APPROVALS_TABLE"),
        env("APPROVAL_SECRET_ARN"),
        env("APPROVAL_URL"),
        env("FAILOVER_STATE_MACHINE_ARN"),
    )));
    if let ApprovalSetup::Broken(problem) = &config.approvals {
        lambda_runtime::tracing::error!(problem = %problem, "notify: approval requests will fail (configuration)");
    }
    // Credentials resolve lazily on the first call: nothing heavy before the first event.
    let clients = lambda::clients(aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await);
    // Boxed: the approval path makes the handler's future too deep for the compiler's layout
    // query when it is inlined into `main`'s.
    lambda::serve(|event| lambda::dispatch(event, |input| Box::pin(notify::handle_with(input, clients, config)))).await
}
