//! Glue shared by the functions' `main.rs` files: logging, the clients, the event loop.
//!
//! A `main.rs` reads the environment (the logging configuration, the SDK configuration) and
//! hands the values here; nothing in this module reads an environment variable itself.

use aws_config::SdkConfig;
use failover_core::{SharedClock, StepError};
use lambda_runtime::tracing::subscriber::filter::{EnvFilter, LevelFilter};
use lambda_runtime::{LambdaEvent, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::aws::AwsClients;

/// Logging as the function's Lambda logging configuration says: `level` from
/// `AWS_LAMBDA_LOG_LEVEL` (default INFO), JSON when `AWS_LAMBDA_LOG_FORMAT` is `JSON`.
///
/// The runtime's own target is capped at DEBUG whatever the level: at TRACE it logs every
/// raw event, and an approval request's event carries its task token.
pub fn init_tracing(level: Option<&str>, format: Option<&str>) {
    let level = level.and_then(|l| l.parse::<LevelFilter>().ok()).unwrap_or(LevelFilter::INFO);
    let filter = EnvFilter::builder()
        .with_default_directive(level.into())
        .parse_lossy("")
        .add_directive("lambda_runtime=debug".parse().expect("a valid directive"));
    let fmt = lambda_runtime::tracing::subscriber::fmt().with_target(false).without_time().with_env_filter(filter);
    if format.is_some_and(|f| f.eq_ignore_ascii_case("json")) {
        let _ = fmt.json().try_init();
    } else {
        let _ = fmt.try_init();
    }
}

/// The clients of a function, built once from the configuration `main` loaded, on the wall
/// clock, for the life of the process.
pub fn clients(config: SdkConfig) -> &'static AwsClients {
    Box::leak(Box::new(AwsClients::from_sdk_config(config, SharedClock::system())))
}

/// The Lambda event loop around a handler of raw events (usually [`dispatch`] of a step).
pub async fn serve<F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Value) -> Fut,
    Fut: std::future::Future<Output = Result<Value, StepError>>,
{
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| handler(event.payload))).await
}

/// Runs a typed handler on a raw event: parse (bad input names the field), call, serialise.
pub async fn dispatch<I, O, F, Fut>(event: serde_json::Value, f: F) -> Result<serde_json::Value, StepError>
where
    I: DeserializeOwned,
    O: Serialize,
    F: FnOnce(I) -> Fut,
    Fut: std::future::Future<Output = Result<O, StepError>>,
{
    let input: I = failover_core::contract::parse_input(event)?;
    let out = f(input).await?;
    serde_json::to_value(out).map_err(|e| StepError::internal(format!("output does not serialise: {e}")))
}
