//! Lambda entry point of `preflight`: glue only (see failover_steps::preflight). The
//! readiness verdict goes to stdout as an embedded-metric-format line, which CloudWatch turns
//! into the metric the readiness alarm watches.

use failover_steps::lambda;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (level, format) = (std::env::var("AWS_LAMBDA_LOG_LEVEL").ok(), std::env::var("AWS_LAMBDA_LOG_FORMAT").ok());
    lambda::init_tracing(level.as_deref(), format.as_deref());
    let clients = lambda::clients(aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await);
    lambda::serve(|event| {
        lambda::dispatch(event, |input| {
            failover_steps::preflight::handle_with_metric(input, clients, |line| println!("{line}"))
        })
    })
    .await
}
