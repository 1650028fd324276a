//! AWS Systems Manager Parameter Store (`ssm`, awsJson 1.1, target prefix `AmazonSSM.`):
//! `GetParameter` and `PutParameter`, what each stack's copy of the plan
//! (`/failover/<name>/plan`) needs. A parameter belongs to one Region and keeps every
//! version: `PutParameter` with `Overwrite` adds version N+1, without it an existing name is
//! `ParameterAlreadyExists`; `GetParameter` answers the latest, or the version a
//! `name:N` selector asks for (`ParameterVersionNotFound` when there is none). An unknown
//! name is `ParameterNotFound`, as AWS answers it. A parameter is found by name or by ARN.
//! Labels, `SecureString` decryption, policies and tiers beyond their size limits (4 KB
//! standard, 8 KB advanced) are not modeled.
//!
//! ```
//! use regionsim::SimBuilder;
//! use regionsim::ssm::Ssm;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let sim = SimBuilder::new(failover_core::SharedClock::system()).start().await.unwrap();
//! let ssm = sim.service::<Ssm>();
//! assert_eq!(ssm.put("us-west-2", "/failover/retail-store/plan", "{}"), 1);
//! assert_eq!(ssm.put("us-west-2", "/failover/retail-store/plan", "{\"name\":1}"), 2);
//! assert_eq!(ssm.get("us-west-2", "/failover/retail-store/plan").map(|p| p.version), Some(2));
//! assert!(ssm.get("us-east-1", "/failover/retail-store/plan").is_none());
//! # });
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::iam::{Authorization, SIMULATED_ACCOUNT};
use crate::server::{ApiError, HttpService, Request, Response, ResponseFuture};
use crate::services::service;
use crate::sim::{Setup, WeakSim, lock};
use crate::wire;

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const TARGET_PREFIX: &str = "AmazonSSM.";

/// One version of a parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterVersion {
    pub name: String,
    pub region: String,
    pub value: String,
    /// `String`, `StringList` or `SecureString`.
    pub kind: String,
    /// `Standard` or `Advanced`.
    pub tier: String,
    /// From 1.
    pub version: u64,
    pub modified: SystemTime,
}

/// Every parameter of both Regions, each with all its versions (oldest first).
#[derive(Debug, Clone, Default)]
pub struct SsmModel {
    /// By (Region, name).
    pub parameters: BTreeMap<(String, String), Vec<ParameterVersion>>,
}

/// The name a `Name` field means: a name, or an ARN (`arn:aws:ssm:<r>:<a>:parameter/<name
/// without its leading slash>`), with an optional `:N` version selector.
fn parse_name(id: &str) -> Result<(String, Option<u64>), ApiError> {
    let (base, selector) = match id.rsplit_once(':') {
        Some((b, v)) if !b.is_empty() && !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit()) => (b, Some(v)),
        _ => (id, None),
    };
    let name = match base.split_once(":parameter") {
        Some((arn, rest)) if arn.starts_with("arn:") => {
            if rest.starts_with('/') {
                rest.to_string()
            } else {
                format!("/{rest}")
            }
        }
        _ => base.to_string(),
    };
    if name.is_empty() {
        return Err(ApiError::new(400, "ValidationException", "Parameter name: can't be empty"));
    }
    let version = match selector {
        Some(v) => Some(v.parse::<u64>().map_err(|_| ApiError::new(400, "ValidationException", "bad version"))?),
        None => None,
    };
    Ok((name, version))
}

impl SsmModel {
    /// Stores a new version of `name` in `region` and returns its number.
    pub fn put(&mut self, region: &str, name: &str, value: &str, kind: &str, tier: &str, now: SystemTime) -> u64 {
        let versions = self.parameters.entry((region.to_string(), name.to_string())).or_default();
        let version = versions.last().map_or(1, |v| v.version + 1);
        versions.push(ParameterVersion {
            name: name.to_string(),
            region: region.to_string(),
            value: value.to_string(),
            kind: kind.to_string(),
            tier: tier.to_string(),
            version,
            modified: now,
        });
        version
    }

    /// The latest version of `name` in `region`, or version `version`.
    pub fn get(&self, region: &str, name: &str, version: Option<u64>) -> Option<&ParameterVersion> {
        let versions = self.parameters.get(&(region.to_string(), name.to_string()))?;
        match version {
            None => versions.last(),
            Some(n) => versions.iter().find(|v| v.version == n),
        }
    }
}

/// Simulated Parameter Store: `sim.service::<Ssm>()`.
pub struct Ssm {
    sim: WeakSim,
    state: Mutex<SsmModel>,
}

impl Ssm {
    /// Serves Parameter Store on a shared port (`AWS_ENDPOINT_URL_SSM`), with no parameter.
    pub fn register(setup: &mut Setup<'_>) {
        let svc = Arc::new(Ssm { sim: setup.sim().downgrade(), state: Mutex::new(SsmModel::default()) });
        setup.serve_shared(service::SSM, Some("AWS_ENDPOINT_URL_SSM"), svc);
    }

    /// The parameters, locked.
    pub fn state(&self) -> MutexGuard<'_, SsmModel> {
        lock(&self.state)
    }

    fn now(&self) -> SystemTime {
        self.sim.upgrade().map_or(SystemTime::UNIX_EPOCH, |s| s.clock().now())
    }

    /// Writes a new version of a `String` parameter (as `PutParameter --overwrite` would)
    /// and returns its number: how the drill stores each Region's copy of the plan.
    pub fn put(&self, region: &str, name: &str, value: &str) -> u64 {
        let now = self.now();
        self.state().put(region, name, value, "String", "Advanced", now)
    }

    /// The latest version of `name` in `region`.
    pub fn get(&self, region: &str, name: &str) -> Option<ParameterVersion> {
        self.state().get(region, name, None).cloned()
    }

    fn call(&self, req: &Request) -> Result<Value, ApiError> {
        let sim = self.sim.upgrade().ok_or_else(|| ApiError::new(500, "InternalServerError", "simulator stopped"))?;
        let region = req.region.clone().unwrap_or_else(|| sim.regions()[0].clone());
        let now = sim.clock().now();
        drop(sim);
        let (op, input) = wire::json_call(req, TARGET_PREFIX)?;
        let id = input.get("Name").and_then(Value::as_str).ok_or_else(|| {
            ApiError::new(
                400,
                "ValidationException",
                "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null",
            )
        })?;
        let (name, version) = parse_name(id)?;
        match op {
            "GetParameter" => {
                let state = self.state();
                let p = state.get(&region, &name, version).ok_or_else(|| match version {
                    Some(v) if state.get(&region, &name, None).is_some() => ApiError::new(
                        400,
                        "ParameterVersionNotFound",
                        format!(
                            "Systems Manager could not find version {v} of {name}. Verify the version and try again."
                        ),
                    ),
                    _ => ApiError::new(400, "ParameterNotFound", ""),
                })?;
                Ok(json!({ "Parameter": parameter_json(p) }))
            }
            "PutParameter" => {
                if version.is_some() {
                    return Err(ApiError::new(400, "ValidationException", "a parameter name cannot carry a version"));
                }
                let value = input.get("Value").and_then(Value::as_str).unwrap_or("");
                if value.is_empty() {
                    return Err(ApiError::new(400, "ValidationException", "Parameter value: can't be empty"));
                }
                let overwrite = input.get("Overwrite").and_then(Value::as_bool).unwrap_or(false);
                let tier = input.get("Tier").and_then(Value::as_str).unwrap_or("Standard");
                let kind = input.get("Type").and_then(Value::as_str).unwrap_or("String");
                let limit = if tier == "Advanced" { 8192 } else { 4096 };
                if value.len() > limit {
                    return Err(ApiError::new(
                        400,
                        "ValidationException",
                        format!("Parameter value is {} bytes, over the {limit} bytes of the {tier} tier", value.len()),
                    ));
                }
                let mut state = self.state();
                if !overwrite && state.get(&region, &name, None).is_some() {
                    return Err(ApiError::new(
                        400,
                        "ParameterAlreadyExists",
                        "The parameter already exists. To overwrite this value, set the overwrite option in the \
                         request to true.",
                    ));
                }
                let version = state.put(&region, &name, value, kind, tier, now);
                Ok(json!({ "Version": version, "Tier": tier }))
            }
            other => Err(ApiError::new(400, "UnknownOperationException", format!("unknown operation {other}"))),
        }
    }
}

fn parameter_json(p: &ParameterVersion) -> Value {
    let arn_name = p.name.strip_prefix('/').unwrap_or(&p.name);
    json!({
        "Name": p.name,
        "Type": p.kind,
        "Value": p.value,
        "Version": p.version,
        "LastModifiedDate": p.modified.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0),
        "ARN": format!("arn:aws:ssm:{}:{SIMULATED_ACCOUNT}:parameter/{arn_name}", p.region),
        "DataType": "text",
    })
}

impl HttpService for Ssm {
    fn handle(&self, req: Request) -> ResponseFuture {
        wire::json_answer(CONTENT_TYPE, self.call(&req), |e| self.error_response(&req, e))
    }

    /// `ssm:<Operation>` on the parameter's ARN in the signing Region (the version selector
    /// is not part of it: IAM evaluates `parameter/<name>`).
    fn authorizations(&self, req: &Request, operation: &str) -> Vec<Authorization> {
        let input: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let region = req.region.clone().or_else(|| self.sim.upgrade().map(|s| s.regions()[0].clone()));
        let region = region.unwrap_or_default();
        let id = input.get("Name").and_then(Value::as_str).unwrap_or("");
        let name = parse_name(id).map(|(n, _)| n).unwrap_or_else(|_| id.to_string());
        let name = name.strip_prefix('/').unwrap_or(&name).to_string();
        vec![Authorization::new(
            format!("ssm:{operation}"),
            format!("arn:aws:ssm:{region}:{SIMULATED_ACCOUNT}:parameter/{name}"),
        )]
    }

    fn error_response(&self, _req: &Request, err: &ApiError) -> Response {
        wire::json_error(CONTENT_TYPE, err, json!({}))
    }

    fn internal_error(&self) -> ApiError {
        ApiError::new(500, "InternalServerError", "simulated server error")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_arns_and_version_selectors() {
        assert_eq!(parse_name("/failover/x/plan").unwrap(), ("/failover/x/plan".to_string(), None));
        assert_eq!(parse_name("/failover/x/plan:3").unwrap(), ("/failover/x/plan".to_string(), Some(3)));
        assert_eq!(
            parse_name("arn:aws:ssm:us-west-2:111122223333:parameter/failover/x/plan").unwrap(),
            ("/failover/x/plan".to_string(), None)
        );
        assert_eq!(
            parse_name("arn:aws:ssm:us-west-2:111122223333:parameter/failover/x/plan:2").unwrap(),
            ("/failover/x/plan".to_string(), Some(2))
        );
        assert!(parse_name("").is_err());
    }
}
