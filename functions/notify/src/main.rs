//! Lambda entry point of `notify`: glue only (see failover_steps::notify).

use failover_core::SharedClock;
use failover_steps::aws::AwsClients;
use lambda_runtime::tracing::subscriber::filter::{EnvFilter, LevelFilter};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    init_tracing();
    // Credentials resolve lazily on the first call: nothing heavy before the first event.
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let clients = AwsClients::from_sdk_config(config, SharedClock::system());
    let clients = &clients;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        failover_steps::lambda::dispatch(event.payload, |input| failover_steps::notify::handle(input, clients)).await
    }))
    .await
}

/// The runtime's default subscriber, except that the runtime itself never logs at TRACE:
/// there it prints every raw event, and an approval request's event carries the task token.
fn init_tracing() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let filter = EnvFilter::builder()
        .with_default_directive(level.into())
        .from_env_lossy()
        .add_directive("lambda_runtime=debug".parse().expect("a valid directive"));
    let fmt = lambda_runtime::tracing::subscriber::fmt().with_target(false).without_time().with_env_filter(filter);
    if std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        fmt.json().init();
    } else {
        fmt.init();
    }
}
