//! AWS Secrets Manager (awsJson 1.1, target prefix `secretsmanager.`): `GetSecretValue`
//! and `CreateSecret`. A secret belongs to one Region; it is found by ARN or by name
//! (the ARN without its random six-character suffix also matches, as in AWS).

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::server::{ApiError, HttpService, Request, Response, ResponseFuture};
use crate::sim::WeakSim;
use crate::wire;

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    pub arn: String,
    pub name: String,
    pub region: String,
    pub value: String,
    pub version_id: String,
    pub created: SystemTime,
}

#[derive(Debug, Clone, Default)]
pub struct SecretsModel {
    /// By ARN.
    pub secrets: BTreeMap<String, Secret>,
}

/// The secret name inside an ARN (`...:secret:retail/orders/report-AbCdEf` → `retail/orders/report`).
fn name_of_arn(arn: &str) -> String {
    let tail = arn.split(":secret:").nth(1).unwrap_or(arn);
    match tail.rsplit_once('-') {
        Some((name, suffix)) if suffix.len() == 6 => name.to_string(),
        _ => tail.to_string(),
    }
}

impl SecretsModel {
    /// Creates or replaces a secret. `id` is an ARN or a bare name.
    pub fn put(&mut self, region: &str, id: &str, value: &str, now: SystemTime) -> Secret {
        let (arn, name) = if id.starts_with("arn:") {
            (id.to_string(), name_of_arn(id))
        } else {
            (format!("arn:aws:secretsmanager:{region}:111122223333:secret:{id}-AbCdEf"), id.to_string())
        };
        let version =
            format!("v{}", self.secrets.get(&arn).map_or(1, |s| s.version_id[1..].parse::<u64>().unwrap_or(1) + 1));
        let secret = Secret {
            arn: arn.clone(),
            name,
            region: region.to_string(),
            value: value.to_string(),
            version_id: version,
            created: now,
        };
        self.secrets.insert(arn, secret.clone());
        secret
    }

    /// Finds a secret of `region` by ARN, partial ARN or name.
    pub fn find(&self, region: &str, id: &str) -> Option<&Secret> {
        self.secrets.values().find(|s| {
            s.region == region
                && (s.arn == id
                    || s.name == id
                    || (id.starts_with("arn:") && s.arn.starts_with(id) && name_of_arn(id) == s.name))
        })
    }
}

pub struct SecretsService {
    sim: WeakSim,
}

impl SecretsService {
    pub fn new(sim: WeakSim) -> Self {
        Self { sim }
    }

    fn call(&self, req: &Request) -> Result<Value, ApiError> {
        let sim = self.sim.upgrade().ok_or_else(|| ApiError::new(500, "InternalServiceError", "simulator stopped"))?;
        let region = req.region.clone().unwrap_or_else(|| sim.regions()[0].clone());
        let input: Value = serde_json::from_slice(&req.body)
            .map_err(|e| ApiError::new(400, "SerializationException", format!("invalid JSON: {e}")))?;
        let now = sim.clock().now();
        let mut world = sim.world();
        let op = req.header("x-amz-target").and_then(|t| t.strip_prefix("secretsmanager.")).unwrap_or("").to_string();
        match op.as_str() {
            "GetSecretValue" => {
                let id = input.get("SecretId").and_then(Value::as_str).unwrap_or("");
                let s = world.secrets.find(&region, id).ok_or_else(|| {
                    ApiError::new(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
                })?;
                Ok(json!({
                    "ARN": s.arn,
                    "Name": s.name,
                    "VersionId": s.version_id,
                    "SecretString": s.value,
                    "VersionStages": ["AWSCURRENT"],
                    "CreatedDate": s.created.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0),
                }))
            }
            "CreateSecret" => {
                let name = input.get("Name").and_then(Value::as_str).unwrap_or("");
                if name.is_empty() {
                    return Err(ApiError::new(400, "InvalidParameterException", "You must provide a Name."));
                }
                if world.secrets.find(&region, name).is_some() {
                    return Err(ApiError::new(
                        400,
                        "ResourceExistsException",
                        format!("The operation failed because the secret {name} already exists."),
                    ));
                }
                let value = input.get("SecretString").and_then(Value::as_str).unwrap_or("");
                let s = world.secrets.put(&region, name, value, now);
                Ok(json!({ "ARN": s.arn, "Name": s.name, "VersionId": s.version_id }))
            }
            other => Err(ApiError::new(400, "UnknownOperationException", format!("unknown operation {other}"))),
        }
    }
}

impl HttpService for SecretsService {
    fn handle(&self, req: Request) -> ResponseFuture {
        wire::json_answer(CONTENT_TYPE, self.call(&req), |e| self.error_response(&req, e))
    }

    fn error_response(&self, _req: &Request, err: &ApiError) -> Response {
        wire::json_error(CONTENT_TYPE, err, json!({}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_names_drop_the_random_suffix() {
        assert_eq!(
            name_of_arn("arn:aws:secretsmanager:us-east-1:1:secret:retail/orders/report-MnOpQr"),
            "retail/orders/report"
        );
    }
}
