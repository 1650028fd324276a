//! Lambda entry point of `diff-report`: glue only (see failover_steps::diff_report).
//!
//! `FAILOVER_CA_BUNDLE` names the PEM bundle the database certificates are verified
//! against; by default `global-bundle.pem` next to the binary in the package
//! (`$LAMBDA_TASK_ROOT`). See this package's README for where the bundle comes from.

use std::path::PathBuf;

use failover_core::SharedClock;
use failover_steps::aws::AwsClients;
use failover_steps::diff_report::{AwsConnector, AwsConnectorConfig};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    failover_steps::lambda::init_tracing();
    let ca_bundle = match std::env::var_os("FAILOVER_CA_BUNDLE") {
        Some(p) => PathBuf::from(p),
        None => {
            PathBuf::from(std::env::var_os("LAMBDA_TASK_ROOT").unwrap_or_else(|| ".".into())).join("global-bundle.pem")
        }
    };
    // Credentials resolve lazily on the first call: nothing heavy before the first event.
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let clients = AwsClients::from_sdk_config(config, SharedClock::system());
    // A missing bundle fails the cold start, loudly, rather than every report.
    let connector = AwsConnector::new(clients.clone(), AwsConnectorConfig::new(ca_bundle))?;
    let (clients, connector) = (&clients, &connector);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        failover_steps::lambda::dispatch(event.payload, |input| {
            failover_steps::diff_report::handle(input, clients, connector)
        })
        .await
    }))
    .await
}
