//! AWS Secrets Manager (awsJson 1.1, target prefix `secretsmanager.`): `GetSecretValue`
//! and `CreateSecret`. A secret belongs to one Region; it is found by ARN or by name
//! (the ARN without its random six-character suffix also matches, as in AWS).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use failover_core::plan::Plan;
use serde_json::{Value, json};

use crate::iam::{Authorization, SIMULATED_ACCOUNT};
use crate::server::{ApiError, HttpService, Request, Response, ResponseFuture};
use crate::services::service;
use crate::sim::{Setup, WeakSim, lock};
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
    /// The secrets of the plan: each stack's approval signing key, each database's report
    /// credentials in every Region that names them.
    pub fn from_plan(plan: &Plan, now: SystemTime) -> Self {
        let mut secrets = SecretsModel::default();
        for (region, stack) in &plan.stacks {
            if let Some(arn) = &stack.approval_secret {
                secrets.put(region, arn, "simulated-approval-signing-key-0123456789abcdef", now);
            }
        }
        for db in &plan.databases {
            if let Some(report) = &db.report {
                for (region, arn) in &report.credentials {
                    let value = json!({
                        "username": "failover_report",
                        "password": "simulated",
                        "engine": db.engine.as_str(),
                        "dbname": report.database,
                    });
                    secrets.put(region, arn, &value.to_string(), now);
                }
            }
        }
        secrets
    }

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

/// Simulated Secrets Manager with its secrets: `sim.service::<SecretsManager>()`.
pub struct SecretsManager {
    sim: WeakSim,
    state: Mutex<SecretsModel>,
}

impl SecretsManager {
    /// Stores the plan's secrets and serves Secrets Manager on a shared port.
    pub fn register(setup: &mut Setup<'_>) {
        let model = SecretsModel::from_plan(setup.plan(), setup.now());
        let sm = Arc::new(SecretsManager { sim: setup.sim().downgrade(), state: Mutex::new(model) });
        setup.serve_shared(service::SECRETS_MANAGER, Some("AWS_ENDPOINT_URL_SECRETS_MANAGER"), sm);
    }

    /// The secrets, locked.
    pub fn state(&self) -> MutexGuard<'_, SecretsModel> {
        lock(&self.state)
    }

    /// Creates or replaces a secret of `region` (`id`: an ARN or a bare name).
    pub fn put(&self, region: &str, id: &str, value: &str, now: SystemTime) -> Secret {
        self.state().put(region, id, value, now)
    }

    fn call(&self, req: &Request) -> Result<Value, ApiError> {
        let sim = self.sim.upgrade().ok_or_else(|| ApiError::new(500, "InternalServiceError", "simulator stopped"))?;
        let region = req.region.clone().unwrap_or_else(|| sim.regions()[0].clone());
        let input: Value = serde_json::from_slice(&req.body)
            .map_err(|e| ApiError::new(400, "SerializationException", format!("invalid JSON: {e}")))?;
        let now = sim.clock().now();
        let mut secrets = self.state();
        let op = req.header("x-amz-target").and_then(|t| t.strip_prefix("secretsmanager.")).unwrap_or("").to_string();
        match op.as_str() {
            "GetSecretValue" => {
                let id = input.get("SecretId").and_then(Value::as_str).unwrap_or("");
                let s = secrets.find(&region, id).ok_or_else(|| {
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
                if secrets.find(&region, name).is_some() {
                    return Err(ApiError::new(
                        400,
                        "ResourceExistsException",
                        format!("The operation failed because the secret {name} already exists."),
                    ));
                }
                let value = input.get("SecretString").and_then(Value::as_str).unwrap_or("");
                let s = secrets.put(&region, name, value, now);
                Ok(json!({ "ARN": s.arn, "Name": s.name, "VersionId": s.version_id }))
            }
            other => Err(ApiError::new(400, "UnknownOperationException", format!("unknown operation {other}"))),
        }
    }
}

impl HttpService for SecretsManager {
    fn handle(&self, req: Request) -> ResponseFuture {
        wire::json_answer(CONTENT_TYPE, self.call(&req), |e| self.error_response(&req, e))
    }

    /// `secretsmanager:<Operation>` on the secret's full ARN (the one found by name or
    /// partial ARN in the signing Region; the ARN as given, or the name's ARN, otherwise).
    fn authorizations(&self, req: &Request, operation: &str) -> Vec<Authorization> {
        let action = format!("secretsmanager:{operation}");
        let input: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let region = req.region.clone().or_else(|| self.sim.upgrade().map(|s| s.regions()[0].clone()));
        let region = region.unwrap_or_default();
        let id = input.get("SecretId").or_else(|| input.get("Name")).and_then(Value::as_str).unwrap_or("");
        let arn = match self.state().find(&region, id) {
            Some(s) => s.arn.clone(),
            None if id.starts_with("arn:") => id.to_string(),
            None => format!("arn:aws:secretsmanager:{region}:{SIMULATED_ACCOUNT}:secret:{id}-??????"),
        };
        vec![Authorization::new(action, arn)]
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
