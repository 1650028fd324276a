//! Lambda entry point of `notify`: glue only (see failover_steps::notify).

use failover_core::SharedClock;
use failover_steps::aws::AwsClients;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    failover_steps::lambda::init_tracing();
    // Credentials resolve lazily on the first call: nothing heavy before the first event.
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let clients = AwsClients::from_sdk_config(config, SharedClock::system());
    let clients = &clients;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        failover_steps::lambda::dispatch(event.payload, |input| failover_steps::notify::handle(input, clients)).await
    }))
    .await
}
