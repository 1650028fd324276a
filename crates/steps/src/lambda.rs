//! Glue shared by the functions' `main.rs` files.

use failover_core::StepError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The runtime's default subscriber: JSON or text as the function's logging
/// configuration says (`AWS_LAMBDA_LOG_FORMAT`, `AWS_LAMBDA_LOG_LEVEL`), with the request id.
pub fn init_tracing() {
    lambda_runtime::tracing::init_default_subscriber();
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
