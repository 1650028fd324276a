//! AWS STS, only `GetCallerIdentity` (query protocol): who signed the request. The operator
//! CLI records the caller's principal with an approval, and checks it against the plan's
//! approvers. An access key id answers the identity [`Sts::set_identity`] gave it, else an
//! IAM user named after the key.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::iam::{Authorization, SIMULATED_ACCOUNT};
use crate::server::{ApiError, HttpService, Request, Response, ResponseFuture, sigv4_access_key};
use crate::services::service;
use crate::sim::{Setup, lock};
use crate::wire::{self, Form, xml_elem};

/// The query protocol's XML namespace for STS.
pub const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Simulated STS: `sim.service::<Sts>()`.
pub struct Sts {
    /// Access key id -> principal ARN.
    identities: Mutex<BTreeMap<String, String>>,
}

impl Sts {
    pub fn register(setup: &mut Setup<'_>) {
        let svc = Arc::new(Sts { identities: Mutex::new(BTreeMap::new()) });
        setup.serve_shared(service::STS, Some("AWS_ENDPOINT_URL_STS"), svc);
    }

    /// Requests signed with `access_key_id` come from `arn`.
    pub fn set_identity(&self, access_key_id: &str, arn: &str) {
        lock(&self.identities).insert(access_key_id.to_string(), arn.to_string());
    }

    /// The principal of `access_key_id`.
    pub fn identity(&self, access_key_id: &str) -> String {
        lock(&self.identities)
            .get(access_key_id)
            .cloned()
            .unwrap_or_else(|| format!("arn:aws:iam::{SIMULATED_ACCOUNT}:user/{}", access_key_id.to_ascii_lowercase()))
    }
}

impl HttpService for Sts {
    fn handle(&self, req: Request) -> ResponseFuture {
        let form = Form::parse(&req.body);
        let action = form.action().to_string();
        let resp = match action.as_str() {
            "GetCallerIdentity" => match sigv4_access_key(&req.headers, &req.query) {
                Some(key) => {
                    let arn = self.identity(&key);
                    let xml = format!(
                        "{}{}{}",
                        xml_elem("Arn", &arn),
                        xml_elem("UserId", &key),
                        xml_elem("Account", SIMULATED_ACCOUNT)
                    );
                    wire::query_response(&action, XMLNS, &xml)
                }
                None => wire::query_error(&ApiError::new(
                    403,
                    "MissingAuthenticationToken",
                    "Request is missing Authentication Token",
                )),
            },
            other => wire::query_error(&ApiError::new(400, "InvalidAction", format!("{other} is not simulated"))),
        };
        Box::pin(async move { resp })
    }

    /// GetCallerIdentity needs no permission (IAM cannot deny it).
    fn authorizations(&self, _req: &Request, _operation: &str) -> Vec<Authorization> {
        Vec::new()
    }

    fn is_mutating(&self, _operation: &str) -> bool {
        false
    }

    fn error_response(&self, _req: &Request, err: &ApiError) -> Response {
        wire::query_error(err)
    }
}
