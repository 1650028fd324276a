//! Lambda entry point of `diff-report`: glue only (see failover_steps::diff_report). The
//! RDS CA bundle ships with the package (`global-bundle.pem`, see README.md);
//! `FAILOVER_CA_BUNDLE` may point elsewhere.

use std::path::PathBuf;

use failover_steps::diff_report::{AwsConnector, AwsConnectorConfig};
use failover_steps::lambda;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (level, format) = (std::env::var("AWS_LAMBDA_LOG_LEVEL").ok(), std::env::var("AWS_LAMBDA_LOG_FORMAT").ok());
    lambda::init_tracing(level.as_deref(), format.as_deref());
    let ca_bundle = match std::env::var_os("FAILOVER_CA_BUNDLE") {
        Some(p) => PathBuf::from(p),
        None => {
            PathBuf::from(std::env::var_os("LAMBDA_TASK_ROOT").unwrap_or_else(|| ".".into())).join("global-bundle.pem")
        }
    };
    let clients = lambda::clients(aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await);
    let connector: &'static AwsConnector =
        Box::leak(Box::new(AwsConnector::new(clients.clone(), AwsConnectorConfig::new(ca_bundle))?));
    lambda::serve(|event| {
        lambda::dispatch(event, |input| failover_steps::diff_report::handle(input, clients, connector))
    })
    .await
}
