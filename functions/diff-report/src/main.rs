//! Lambda entry point of `diff-report`: glue only (see failover_steps::diff_report). The
//! Amazon RDS CA bundle is compiled in (`failover_steps::diff_report::RDS_CA_BUNDLE`), so the
//! package is the bootstrap alone; `FAILOVER_CA_BUNDLE` may name a PEM file to trust
//! instead (README.md).

use failover_steps::diff_report::{AwsConnector, AwsConnectorConfig, CaBundle};
use failover_steps::lambda;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (level, format) = (std::env::var("AWS_LAMBDA_LOG_LEVEL").ok(), std::env::var("AWS_LAMBDA_LOG_FORMAT").ok());
    lambda::init_tracing(level.as_deref(), format.as_deref());
    // An empty value is no override.
    let ca_bundle = match std::env::var_os("FAILOVER_CA_BUNDLE") {
        Some(path) if !path.is_empty() => CaBundle::File(path.into()),
        _ => CaBundle::Embedded,
    };
    let clients = lambda::clients(aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await);
    let connector: &'static AwsConnector =
        Box::leak(Box::new(AwsConnector::new(clients.clone(), AwsConnectorConfig::new(ca_bundle))?));
    lambda::serve(|event| {
        lambda::dispatch(event, |input| failover_steps::diff_report::handle(input, clients, connector))
    })
    .await
}
