//! Lambda entry point of `aurora-failover`: glue only (see failover_steps::aurora_failover).

use failover_steps::lambda;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (level, format) = (std::env::var("AWS_LAMBDA_LOG_LEVEL").ok(), std::env::var("AWS_LAMBDA_LOG_FORMAT").ok());
    lambda::init_tracing(level.as_deref(), format.as_deref());
    // Credentials resolve lazily on the first call: nothing heavy before the first event.
    let clients = lambda::clients(aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await);
    lambda::serve(|event| lambda::dispatch(event, |input| failover_steps::aurora_failover::handle(input, clients)))
        .await
}
