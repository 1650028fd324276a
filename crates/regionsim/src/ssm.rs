//! AWS Systems Manager Parameter Store (awsJson 1.1, target `AmazonSSM.`): `GetParameter`
//! and `PutParameter`, with versions. Each Region's stack keeps its own copy of the plan
//! as a parameter (`/failover/<name>/plan`): every starter reads its own Region's copy and
//! passes it with its version (ARCHITECTURE.md). A parameter belongs to one Region.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::iam::{Authorization, SIMULATED_ACCOUNT};
use crate::server::{ApiError, HttpService, Request, Response, ResponseFuture};
use crate::services::service;
use crate::sim::{Setup, WeakSim, lock};
use crate::wire;

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// One parameter's current value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    pub name: String,
    pub value: String,
    pub version: i64,
    pub modified: SystemTime,
}

/// Simulated Parameter Store: `sim.service::<Ssm>()`.
pub struct Ssm {
    sim: WeakSim,
    /// (Region, name) -> the parameter.
    parameters: Mutex<BTreeMap<(String, String), Parameter>>,
}

fn arn(region: &str, name: &str) -> String {
    format!("arn:aws:ssm:{region}:{SIMULATED_ACCOUNT}:parameter/{}", name.trim_start_matches('/'))
}

impl Ssm {
    pub fn register(setup: &mut Setup<'_>) {
        let svc = Arc::new(Ssm { sim: setup.sim().downgrade(), parameters: Mutex::new(BTreeMap::new()) });
        setup.serve_shared(service::SSM, Some("AWS_ENDPOINT_URL_SSM"), svc);
    }

    /// Writes `value` as the next version of `name` in `region`; returns the version.
    pub fn put_parameter(&self, region: &str, name: &str, value: &str) -> i64 {
        let now = self.sim.upgrade().map_or(SystemTime::UNIX_EPOCH, |s| s.clock().now());
        let mut params = lock(&self.parameters);
        let key = (region.to_string(), name.to_string());
        let version = params.get(&key).map_or(1, |p| p.version + 1);
        params.insert(key, Parameter { name: name.to_string(), value: value.to_string(), version, modified: now });
        version
    }

    /// The current value of `name` in `region`.
    pub fn parameter(&self, region: &str, name: &str) -> Option<Parameter> {
        lock(&self.parameters).get(&(region.to_string(), name.to_string())).cloned()
    }

    fn call(&self, req: &Request) -> Result<Value, ApiError> {
        let (op, input) = wire::json_call(req, "AmazonSSM.")?;
        let region = req.effective_region().unwrap_or_default().to_string();
        let name = input.get("Name").and_then(Value::as_str).unwrap_or("");
        if name.is_empty() {
            return Err(ApiError::new(
                400,
                "ValidationException",
                "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null",
            ));
        }
        match op {
            "GetParameter" => {
                // `name:version` selects a version; only the current one is kept here.
                let (base, wanted) = match name.rsplit_once(':') {
                    Some((b, v)) if v.chars().all(|c| c.is_ascii_digit()) => (b, v.parse::<i64>().ok()),
                    _ => (name, None),
                };
                let p = self
                    .parameter(&region, base)
                    .filter(|p| wanted.is_none_or(|v| v == p.version))
                    .ok_or_else(|| ApiError::new(400, "ParameterNotFound", ""))?;
                Ok(json!({ "Parameter": {
                    "Name": p.name,
                    "Type": "String",
                    "Value": p.value,
                    "Version": p.version,
                    "ARN": arn(&region, &p.name),
                    "DataType": "text",
                    "LastModifiedDate": p.modified.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0),
                }}))
            }
            "PutParameter" => {
                let value = input.get("Value").and_then(Value::as_str).unwrap_or("");
                let overwrite = input.get("Overwrite").and_then(Value::as_bool).unwrap_or(false);
                if !overwrite && self.parameter(&region, name).is_some() {
                    return Err(ApiError::new(
                        400,
                        "ParameterAlreadyExists",
                        "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
                    ));
                }
                let version = self.put_parameter(&region, name, value);
                Ok(
                    json!({ "Version": version, "Tier": input.get("Tier").cloned().unwrap_or_else(|| "Standard".into()) }),
                )
            }
            other => Err(ApiError::new(400, "UnknownOperationException", format!("unknown operation {other}"))),
        }
    }
}

impl HttpService for Ssm {
    fn handle(&self, req: Request) -> ResponseFuture {
        wire::json_answer(CONTENT_TYPE, self.call(&req), |e| self.error_response(&req, e))
    }

    /// `ssm:<Operation>` on the parameter's ARN (the name without a version selector).
    fn authorizations(&self, req: &Request, operation: &str) -> Vec<Authorization> {
        let input: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let region = req.effective_region().unwrap_or_default();
        let name = input.get("Name").and_then(Value::as_str).unwrap_or("");
        let name = match name.rsplit_once(':') {
            Some((b, v)) if v.chars().all(|c| c.is_ascii_digit()) => b,
            _ => name,
        };
        vec![Authorization::new(format!("ssm:{operation}"), arn(region, name))]
    }

    fn error_response(&self, _req: &Request, err: &ApiError) -> Response {
        wire::json_error(CONTENT_TYPE, err, json!({}))
    }
}
