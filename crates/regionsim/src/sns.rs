//! Amazon SNS (query protocol, XML responses): `Publish` to the topics of the plan's
//! stacks, with every message kept for inspection, and `CreateTopic` / `ListTopics`.
//!
//! A topic lives in the Region of its ARN: publishing to it through a client signed for
//! another Region fails as SNS does (`NotFound`, since topics are Regional).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use serde::Serialize;

use crate::iam::{Authorization, SIMULATED_ACCOUNT};
use crate::server::{ApiError, HttpService, Request, Response, ResponseFuture};
use crate::services::service;
use crate::sim::{Setup, WeakSim, lock};
use crate::wire::{self, Form, xml_elem};

const XMLNS: &str = "http://sns.amazonaws.com/doc/2010-03-31/";

/// One published message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnsMessage {
    pub message_id: String,
    pub topic_arn: String,
    /// The Region the publish call was signed for.
    pub region: Option<String>,
    pub subject: Option<String>,
    pub message: String,
    /// Message attributes: name → (data type, string value).
    pub attributes: BTreeMap<String, (String, String)>,
    pub at: SystemTime,
}

#[derive(Debug, Clone, Default)]
pub struct SnsModel {
    pub topics: BTreeSet<String>,
    pub messages: Vec<SnsMessage>,
    /// A topic's `KmsMasterKeyId` (topic ARN -> key ARN): the key SNS uses on a
    /// publisher's behalf. Recorded in the call log's authorizations only; publishing
    /// answers the same.
    pub topic_keys: BTreeMap<String, String>,
}

/// Simulated SNS with every message published: `sim.service::<Sns>()`.
pub struct Sns {
    sim: WeakSim,
    state: Mutex<SnsModel>,
}

impl Sns {
    /// Creates the topic of each of the plan's stacks and serves SNS on a shared port.
    pub fn register(setup: &mut Setup<'_>) {
        let topics = setup.plan().stacks.values().map(|stack| stack.topic_arn.clone()).collect();
        let model = SnsModel { topics, messages: Vec::new(), topic_keys: BTreeMap::new() };
        let sns = Arc::new(Sns { sim: setup.sim().downgrade(), state: Mutex::new(model) });
        setup.serve_shared(service::SNS, Some("AWS_ENDPOINT_URL_SNS"), sns);
    }

    /// The topics and messages, locked.
    pub fn state(&self) -> MutexGuard<'_, SnsModel> {
        lock(&self.state)
    }

    /// Encrypts `topic` with the KMS key `key` (its `KmsMasterKeyId`), or with none.
    pub fn set_topic_key(&self, topic: &str, key: Option<&str>) {
        let mut sns = self.state();
        match key {
            Some(k) => sns.topic_keys.insert(topic.to_string(), k.to_string()),
            None => sns.topic_keys.remove(topic),
        };
    }

    /// Every message published so far, oldest first.
    pub fn messages(&self) -> Vec<SnsMessage> {
        self.state().messages.clone()
    }

    fn call(&self, req: &Request) -> Result<(String, String), ApiError> {
        let sim = self.sim.upgrade().ok_or_else(|| ApiError::new(500, "InternalError", "simulator stopped"))?;
        let form = Form::parse(&req.body);
        let region = req.region.clone();
        let now = sim.clock().now();
        let mut sns = self.state();
        let action = form.action().to_string();
        match action.as_str() {
            "Publish" => {
                let arn = form.get("TopicArn").or_else(|| form.get("TargetArn")).ok_or_else(|| {
                    ApiError::new(400, "InvalidParameter", "Invalid parameter: TopicArn or TargetArn is required")
                })?;
                let topic_region = arn.split(':').nth(3).unwrap_or("");
                if !sns.topics.contains(arn) || region.as_deref().is_some_and(|r| r != topic_region) {
                    return Err(ApiError::new(404, "NotFound", "Topic does not exist"));
                }
                let message = form
                    .get("Message")
                    .filter(|m| !m.is_empty())
                    .ok_or_else(|| ApiError::new(400, "InvalidParameter", "Invalid parameter: Empty message"))?;
                let subject = form.get("Subject").map(str::to_string);
                if subject.as_ref().is_some_and(|s| s.len() > 100) {
                    return Err(ApiError::new(400, "InvalidParameter", "Invalid parameter: Subject"));
                }
                let attributes = form
                    .structs("MessageAttributes.entry")
                    .into_iter()
                    .filter_map(|e| {
                        let name = e.get("Name")?.clone();
                        let kind = e.get("Value.DataType").cloned().unwrap_or_default();
                        let value = e.get("Value.StringValue").cloned().unwrap_or_default();
                        Some((name, (kind, value)))
                    })
                    .collect();
                let message_id = wire::request_id();
                sns.messages.push(SnsMessage {
                    message_id: message_id.clone(),
                    topic_arn: arn.to_string(),
                    region,
                    subject,
                    message: message.to_string(),
                    attributes,
                    at: now,
                });
                Ok((action, xml_elem("MessageId", &message_id)))
            }
            "CreateTopic" => {
                let name =
                    form.get("Name").ok_or_else(|| ApiError::new(400, "InvalidParameter", "Name is required"))?;
                let arn = format!("arn:aws:sns:{}:111122223333:{name}", region.as_deref().unwrap_or("us-east-1"));
                sns.topics.insert(arn.clone());
                Ok((action, xml_elem("TopicArn", &arn)))
            }
            "ListTopics" => {
                let members: String = sns
                    .topics
                    .iter()
                    .filter(|t| region.as_deref().is_none_or(|r| t.split(':').nth(3) == Some(r)))
                    .map(|t| format!("<member>{}</member>", xml_elem("TopicArn", t)))
                    .collect();
                Ok((action, format!("<Topics>{members}</Topics>")))
            }
            other => {
                Err(ApiError::new(400, "InvalidAction", format!("The action {other} is not valid for this endpoint.")))
            }
        }
    }
}

impl HttpService for Sns {
    fn handle(&self, req: Request) -> ResponseFuture {
        let resp = match self.call(&req) {
            Ok((action, xml)) => wire::query_response(&action, XMLNS, &xml),
            Err(e) => self.error_response(&req, &e),
        };
        Box::pin(async move { resp })
    }

    /// `sns:Publish` on the topic; to an encrypted topic also the KMS use SNS makes on the
    /// publisher's behalf, `kms:GenerateDataKey` and `kms:Decrypt` on the topic's key (SNS
    /// developer guide, "Encryption at rest": publishers need both).
    fn authorizations(&self, req: &Request, operation: &str) -> Vec<Authorization> {
        let form = Form::parse(&req.body);
        let action = format!("sns:{operation}");
        let region = req.region.clone().unwrap_or_default();
        match operation {
            "Publish" => {
                let Some(topic) = form.get("TopicArn").or_else(|| form.get("TargetArn")) else {
                    return vec![Authorization::new(action, "*")];
                };
                let mut out = vec![Authorization::new(action, topic)];
                if let Some(key) = self.state().topic_keys.get(topic) {
                    for kms in ["kms:GenerateDataKey", "kms:Decrypt"] {
                        out.push(Authorization::new(kms, key.clone()).via("sns", &region));
                    }
                }
                out
            }
            "CreateTopic" => {
                let name = form.get("Name").unwrap_or("");
                vec![Authorization::new(action, format!("arn:aws:sns:{region}:{SIMULATED_ACCOUNT}:{name}"))]
            }
            _ => vec![Authorization::new(action, "*")],
        }
    }

    fn error_response(&self, _req: &Request, err: &ApiError) -> Response {
        wire::query_error(err)
    }

    fn throttling_error(&self) -> ApiError {
        ApiError::new(400, "Throttling", "Rate exceeded")
    }
}
