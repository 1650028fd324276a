//! `approval`: the Function URL behind the approval e-mail's links, over the approvals table
//! (DynamoDB), the stack's signing key (Secrets Manager) and the waiting task (Step
//! Functions). The pure half (links, the request's transitions, the pages) is
//! `failover_core::approval`; this module reads, writes and calls.
//!
//! * [`handle`]: one Function URL request. `GET` verifies the link, reads the request
//!   (consistent read) and renders its page: it never decides and calls no Step Functions
//!   API. `POST` (the confirmation form) verifies the same signed fields, reads, and
//!   `decide`s: a pending request is written decided (conditionally: still pending and not
//!   expired; a lost race reads again and shows what won), the decision is sent
//!   (`SendTaskSuccess`, or `SendTaskFailure` with `Failover.ApprovalRejected`), and the
//!   record is written delivered (conditionally: still decided the same way). A decision
//!   Step Functions did not take stays decided, and the next POST sends it again.
//!   Every problem becomes a page; only a broken configuration (the signing key or the table
//!   unreadable for good: access denied, not found, a key too short) is a Lambda error, with
//!   a stable `errorType`.
//! * [`approve_via_api`]: the same decision for the CLI (`failover approve EXECUTION --as
//!   NAME`), through the same record and transitions, not a side door: the execution's
//!   request is found through the table's `by-execution` index, then read consistently.
//! * [`Store`]: the item layout ([`attr`]) that notify writes ([`Store::put`]) and this
//!   module reads and updates; [`KeyCache`]: the signing key, read once per container.
//!
//! The task token is read from the item and handed to Step Functions, nothing else: no
//! page, log line, output or error message is built from it, and Step Functions' error
//! messages (which might quote it) are not kept, only their codes.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lambda_events::http::{HeaderName, HeaderValue};
use aws_lambda_events::lambda_function_urls::{LambdaFunctionUrlRequest, LambdaFunctionUrlResponse};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use failover_core::approval::{
    Answer, ApprovalRecord, Decided, Decision, Delivery, Link, NAME_FIELD, Page, Refusal, RequestId, Status,
    StoredApproval, TaskAnswer, TaskToken, Transition, decide, deliver_outcome, form_field, page_headers, parse_form,
    render_get, render_outcome, render_refusal, task_answer, unix_seconds, verify, verify_query,
};
use failover_core::plan::{Region, parse_arn};
use failover_core::{ErrorKind, StepError};

use crate::aws::{AwsClients, Classified, classify};

/// The attributes of an approval request's item in the approvals table (key `pk`, index
/// [`BY_EXECUTION`] on `execution_arn`, TTL on `expires_at`).
pub mod attr {
    /// S: the request id (32 lowercase hex digits).
    pub const PK: &str = "pk";
    /// S: the `ApprovalRecord` as JSON, without the token: the source of truth.
    pub const RECORD: &str = "record";
    /// S: `pending`, `decided` or `delivered`, the record's status, for the conditions.
    pub const STATUS: &str = "status";
    /// S: the execution that waits (the key of the `by-execution` index).
    pub const EXECUTION_ARN: &str = "execution_arn";
    /// S: the plan's name.
    pub const PLAN: &str = "plan";
    /// N: unix seconds from which the request is refused (the record's `expires_at`).
    pub const REQUEST_EXPIRES_AT: &str = "request_expires_at";
    /// N: unix seconds, DynamoDB's TTL: the request's expiry plus the audit retention.
    pub const EXPIRES_AT: &str = "expires_at";
    /// N: unix seconds, when notify wrote the request.
    pub const CREATED_AT: &str = "created_at";
    /// S: the Step Functions task token. Read only to answer the task.
    pub const TASK_TOKEN: &str = "task_token";
    /// S: `approve` or `reject`, once decided.
    pub const DECISION: &str = "decision";
    /// S: the name the approver typed (or gave the CLI).
    pub const DECIDED_BY: &str = "decided_by";
    /// S: the source IP of the POST, or the CLI caller's IAM principal.
    pub const DECIDED_FROM: &str = "decided_from";
    /// N: unix seconds.
    pub const DECIDED_AT: &str = "decided_at";
    /// N: unix seconds, once Step Functions answered.
    pub const DELIVERED_AT: &str = "delivered_at";
    /// S: `accepted` or `no-longer-waiting`.
    pub const ANSWER: &str = "answer";
}

/// The approvals table's index on `execution_arn`.
pub const BY_EXECUTION: &str = "by-execution";

/// How long an item outlives its request before DynamoDB's TTL removes it: the audit trail
/// of who decided what.
pub const RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// The shortest signing key accepted, in bytes (the template generates 64 characters).
pub const MIN_KEY_BYTES: usize = 16;

/// The condition of the request's first write: a request id is never reused.
pub const PUT_CONDITION: &str = "attribute_not_exists(pk)";

/// The condition of the decision's write: still pending, not expired.
pub const DECIDE_CONDITION: &str = "#s = :pending AND #x > :now";

/// The condition of the delivery's write: still decided, the same way.
pub const DELIVER_CONDITION: &str = "#s = :decided AND #d = :decision";

/// The code shown when a lost race found the same decision written by another request
/// that is delivering it.
pub const DELIVERY_IN_PROGRESS: &str = "DeliveryInProgress";

const CONDITION_FAILED: &str = "ConditionalCheckFailedException";

/// The `status` attribute of a record's status.
pub fn status_name(status: &Status) -> &'static str {
    match status {
        Status::Pending => "pending",
        Status::Decided(_) => "decided",
        Status::Delivered { .. } => "delivered",
    }
}

fn answer_name(answer: Answer) -> &'static str {
    match answer {
        Answer::Accepted => "accepted",
        Answer::NoLongerWaiting => "no-longer-waiting",
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn record_json(record: &ApprovalRecord) -> Result<String, StepError> {
    serde_json::to_string(record).map_err(|e| StepError::internal(format!("approval record does not serialise: {e}")))
}

/// The attributes that mirror a status (beside `record`, which holds all of it).
fn status_attributes(status: &Status) -> Vec<(&'static str, AttributeValue)> {
    let mut out = vec![(attr::STATUS, s(status_name(status)))];
    let decided = match status {
        Status::Pending => None,
        Status::Decided(d) => Some(d),
        Status::Delivered { decided, delivered_at, answer } => {
            out.push((attr::DELIVERED_AT, n(*delivered_at)));
            out.push((attr::ANSWER, s(answer_name(*answer))));
            Some(decided)
        }
    };
    if let Some(d) = decided {
        out.push((attr::DECISION, s(d.decision.as_str())));
        out.push((attr::DECIDED_BY, s(&d.by)));
        out.push((attr::DECIDED_FROM, s(&d.from)));
        out.push((attr::DECIDED_AT, n(d.at)));
    }
    out
}

/// The item of a new request: the record as JSON, its status, execution, plan and expiry
/// as attributes, the TTL (`expires_at`: the request's expiry plus `retention`), and the
/// token in its own attribute.
pub fn new_item(
    stored: &StoredApproval,
    created_at: u64,
    retention: Duration,
) -> Result<HashMap<String, AttributeValue>, StepError> {
    let r = &stored.record;
    let mut item = HashMap::new();
    item.insert(attr::PK.to_string(), s(r.request_id.as_str()));
    item.insert(attr::RECORD.to_string(), AttributeValue::S(record_json(r)?));
    for (k, v) in status_attributes(&r.status) {
        item.insert(k.to_string(), v);
    }
    item.insert(attr::EXECUTION_ARN.to_string(), s(&r.execution_arn));
    item.insert(attr::PLAN.to_string(), s(&r.plan));
    item.insert(attr::REQUEST_EXPIRES_AT.to_string(), n(r.expires_at));
    item.insert(attr::EXPIRES_AT.to_string(), n(r.expires_at.saturating_add(retention.as_secs())));
    item.insert(attr::CREATED_AT.to_string(), n(created_at));
    item.insert(attr::TASK_TOKEN.to_string(), s(stored.task_token.expose()));
    Ok(item)
}

fn string_attr<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Result<&'a str, StepError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StepError::internal(format!("approval item: `{name}` is missing or not a string")))
}

fn record_of(item: &HashMap<String, AttributeValue>) -> Result<ApprovalRecord, StepError> {
    let pk = string_attr(item, attr::PK)?;
    let record: ApprovalRecord = serde_json::from_str(string_attr(item, attr::RECORD)?)
        .map_err(|e| StepError::internal(format!("approval item {pk}: `record` does not parse: {e}")))?;
    if record.request_id.as_str() != pk {
        return Err(StepError::internal(format!("approval item {pk}: its record is request {}", record.request_id)));
    }
    Ok(record)
}

/// Reads an item back: the record and its token.
pub fn parse_item(item: &HashMap<String, AttributeValue>) -> Result<StoredApproval, StepError> {
    let record = record_of(item)?;
    let token = string_attr(item, attr::TASK_TOKEN)?;
    if token.is_empty() {
        return Err(StepError::internal(format!("approval item {}: `task_token` is empty", record.request_id)));
    }
    Ok(StoredApproval { record, task_token: TaskToken::new(token) })
}

/// How a conditional write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Done,
    /// The condition did not hold: someone else wrote first, or the request expired.
    ConditionFailed,
}

/// The approvals table of one Region's stack.
#[derive(Clone, Copy)]
pub struct Store<'a> {
    pub clients: &'a AwsClients,
    pub region: &'a str,
    pub table: &'a str,
}

impl fmt::Debug for Store<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("region", &self.region).field("table", &self.table).finish()
    }
}

impl<'a> Store<'a> {
    pub fn new(clients: &'a AwsClients, region: &'a str, table: &'a str) -> Self {
        Self { clients, region, table }
    }

    fn client(&self) -> aws_sdk_dynamodb::Client {
        self.clients.dynamodb.get(self.region)
    }

    fn what(&self, op: &str, id: &RequestId) -> String {
        format!("{op} of approval request {id} in {} ({})", self.table, self.region)
    }

    /// Writes a new request (`attribute_not_exists(pk)`: a request id is never reused).
    pub async fn put(&self, stored: &StoredApproval, created_at: u64, retention: Duration) -> Result<(), StepError> {
        let id = &stored.record.request_id;
        let item = new_item(stored, created_at, retention)?;
        let sent = self
            .client()
            .put_item()
            .table_name(self.table)
            .set_item(Some(item))
            .condition_expression(PUT_CONDITION)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) => {
                let c = classify(&e);
                if c.code == CONDITION_FAILED {
                    Err(StepError::internal(format!("{}: the request id exists already", self.what("PutItem", id))))
                } else {
                    Err(c.into_step_error(&self.what("PutItem", id)))
                }
            }
        }
    }

    /// The request `id` (consistent read), `None` when there is no such item.
    pub async fn read(&self, id: &RequestId) -> Result<Option<StoredApproval>, StepError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table)
            .key(attr::PK, s(id.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(&e).into_step_error(&self.what("GetItem", id)))?;
        out.item().map(parse_item).transpose()
    }

    /// pending -> decided, if still pending and not expired at `now`.
    pub async fn write_decided(
        &self,
        stored: &StoredApproval,
        decided: &Decided,
        now: u64,
    ) -> Result<Write, StepError> {
        let id = &stored.record.request_id;
        let mut record = stored.record.clone();
        record.status = Status::Decided(decided.clone());
        let sent = self
            .client()
            .update_item()
            .table_name(self.table)
            .key(attr::PK, s(id.as_str()))
            .update_expression("SET #s = :decided, #r = :record, #d = :decision, #by = :by, #from = :from, #at = :at")
            .condition_expression(DECIDE_CONDITION)
            .expression_attribute_names("#s", attr::STATUS)
            .expression_attribute_names("#r", attr::RECORD)
            .expression_attribute_names("#d", attr::DECISION)
            .expression_attribute_names("#by", attr::DECIDED_BY)
            .expression_attribute_names("#from", attr::DECIDED_FROM)
            .expression_attribute_names("#at", attr::DECIDED_AT)
            .expression_attribute_names("#x", attr::REQUEST_EXPIRES_AT)
            .expression_attribute_values(":decided", s("decided"))
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":record", AttributeValue::S(record_json(&record)?))
            .expression_attribute_values(":decision", s(decided.decision.as_str()))
            .expression_attribute_values(":by", s(&decided.by))
            .expression_attribute_values(":from", s(&decided.from))
            .expression_attribute_values(":at", n(decided.at))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        self.conditional(sent.map(|_| ()), "UpdateItem (decided)", id)
    }

    /// decided -> delivered with Step Functions' `answer`, if still decided the same way.
    pub async fn write_delivered(
        &self,
        record: &ApprovalRecord,
        decided: &Decided,
        answer: Answer,
        delivered_at: u64,
    ) -> Result<Write, StepError> {
        let id = &record.request_id;
        let mut record = record.clone();
        record.status = Status::Delivered { decided: decided.clone(), delivered_at, answer };
        let sent = self
            .client()
            .update_item()
            .table_name(self.table)
            .key(attr::PK, s(id.as_str()))
            .update_expression("SET #s = :delivered, #r = :record, #ans = :answer, #da = :delivered_at")
            .condition_expression(DELIVER_CONDITION)
            .expression_attribute_names("#s", attr::STATUS)
            .expression_attribute_names("#r", attr::RECORD)
            .expression_attribute_names("#d", attr::DECISION)
            .expression_attribute_names("#ans", attr::ANSWER)
            .expression_attribute_names("#da", attr::DELIVERED_AT)
            .expression_attribute_values(":delivered", s("delivered"))
            .expression_attribute_values(":decided", s("decided"))
            .expression_attribute_values(":decision", s(decided.decision.as_str()))
            .expression_attribute_values(":record", AttributeValue::S(record_json(&record)?))
            .expression_attribute_values(":answer", s(answer_name(answer)))
            .expression_attribute_values(":delivered_at", n(delivered_at))
            .send()
            .await;
        self.conditional(sent.map(|_| ()), "UpdateItem (delivered)", id)
    }

    fn conditional<E>(
        &self,
        sent: Result<(), SdkError<E, HttpResponse>>,
        op: &str,
        id: &RequestId,
    ) -> Result<Write, StepError>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match sent {
            Ok(()) => Ok(Write::Done),
            Err(e) => {
                let c = classify(&e);
                if c.code == CONDITION_FAILED {
                    Ok(Write::ConditionFailed)
                } else {
                    Err(c.into_step_error(&self.what(op, id)))
                }
            }
        }
    }

    /// The records of the requests of execution `execution_arn` (the `by-execution` index:
    /// eventually consistent, so read the one chosen again with [`Store::read`]). Items that
    /// do not parse are skipped and logged.
    pub async fn by_execution(&self, execution_arn: &str) -> Result<Vec<ApprovalRecord>, StepError> {
        const MAX_PAGES: usize = 10;
        let mut records = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        for _ in 0..MAX_PAGES {
            let out = self
                .client()
                .query()
                .table_name(self.table)
                .index_name(BY_EXECUTION)
                .key_condition_expression("#e = :e")
                .expression_attribute_names("#e", attr::EXECUTION_ARN)
                .expression_attribute_values(":e", s(execution_arn))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| {
                    classify(&e).into_step_error(&format!(
                        "Query {BY_EXECUTION} of {} ({}) for {execution_arn}",
                        self.table, self.region
                    ))
                })?;
            for item in out.items() {
                match record_of(item) {
                    Ok(r) => records.push(r),
                    Err(e) => tracing::warn!(error = %e.message, "approval item skipped"),
                }
            }
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(records)
    }
}

// ---------------------------------------------------------------------------------------
// The signing key
// ---------------------------------------------------------------------------------------

/// A stack's approval signing key. Its `Debug` is redacted.
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// The signing key, read from Secrets Manager on first use and kept for the life of the
/// container (a failed read is not kept: the next request tries again).
#[derive(Default)]
pub struct KeyCache {
    cell: tokio::sync::OnceCell<Arc<SigningKey>>,
}

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCache").field("loaded", &self.cell.initialized()).finish()
    }
}

impl KeyCache {
    /// The key in secret `secret_arn`, read in the secret's own Region (`region` when the
    /// ARN names none).
    pub async fn get(
        &self,
        clients: &AwsClients,
        secret_arn: &str,
        region: &str,
    ) -> Result<Arc<SigningKey>, StepError> {
        self.cell.get_or_try_init(|| read_key(clients, secret_arn, region)).await.cloned()
    }
}

async fn read_key(clients: &AwsClients, secret_arn: &str, region: &str) -> Result<Arc<SigningKey>, StepError> {
    let region = parse_arn(secret_arn).map(|a| a.region).filter(|r| !r.is_empty()).unwrap_or(region);
    let out = clients.secrets.get(region).get_secret_value().secret_id(secret_arn).send().await.map_err(|e| {
        classify(&e).into_step_error(&format!("GetSecretValue of the approval secret {secret_arn} in {region}"))
    })?;
    let bytes = match (out.secret_string(), out.secret_binary()) {
        (Some(text), _) => text.as_bytes().to_vec(),
        (None, Some(blob)) => blob.as_ref().to_vec(),
        (None, None) => Vec::new(),
    };
    if bytes.len() < MIN_KEY_BYTES {
        return Err(StepError::internal(format!(
            "the approval secret {secret_arn} holds {} bytes, fewer than {MIN_KEY_BYTES}: store a longer key",
            bytes.len()
        )));
    }
    Ok(Arc::new(SigningKey(bytes)))
}

// ---------------------------------------------------------------------------------------
// The function
// ---------------------------------------------------------------------------------------

/// The approval function's configuration, from its environment (read in `main.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// This stack's Region (`AWS_REGION`): links for the other Region's stack are refused,
    /// and every call is made here.
    pub region: Region,
    /// `APPROVALS_TABLE`.
    pub table: String,
    /// `APPROVAL_SECRET_ARN`: the key that signs and checks this stack's links.
    pub secret_arn: String,
    /// `FAILOVER_STATE_MACHINE_ARN`: [`approve_via_api`] turns an execution name into its ARN.
    pub state_machine_arn: Option<String>,
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

impl Config {
    /// From the values of the environment variables, as `main.rs` read them. Names every
    /// variable that is missing or wrong.
    pub fn from_values(
        region: Option<String>,
        table: Option<String>,
        secret_arn: Option<String>,
        state_machine_arn: Option<String>,
    ) -> Result<Self, String> {
        let (region, table, secret_arn) = (non_empty(region), non_empty(table), non_empty(secret_arn));
        let state_machine_arn = non_empty(state_machine_arn);
        let mut problems = Vec::new();
        for (name, v) in [("AWS_REGION", &region), ("APPROVALS_TABLE", &table), ("APPROVAL_SECRET_ARN", &secret_arn)] {
            if v.is_none() {
                problems.push(format!("{name} is not set"));
            }
        }
        if let Some(m) = &state_machine_arn
            && execution_arn(m, "x").is_none()
        {
            problems.push(format!("FAILOVER_STATE_MACHINE_ARN: `{m}` is not a state machine ARN"));
        }
        match (region, table, secret_arn) {
            (Some(region), Some(table), Some(secret_arn)) if problems.is_empty() => {
                Ok(Config { region, table, secret_arn, state_machine_arn })
            }
            _ => Err(problems.join("; ")),
        }
    }
}

/// The ARN of execution `name` of the state machine `state_machine_arn`
/// (`arn:aws:states:r:a:stateMachine:M` gives `arn:aws:states:r:a:execution:M:<name>`).
pub fn execution_arn(state_machine_arn: &str, name: &str) -> Option<String> {
    let arn = parse_arn(state_machine_arn).filter(|a| a.service == "states")?;
    let machine = arn.resource.strip_prefix("stateMachine:").filter(|m| !m.is_empty() && !m.contains(':'))?;
    Some(format!("arn:{}:states:{}:{}:execution:{machine}:{name}", arn.partition, arn.region, arn.account))
}

/// What the approval function works with: clients, configuration, the key once read.
pub struct Approvals {
    pub clients: AwsClients,
    pub config: Config,
    keys: KeyCache,
}

impl fmt::Debug for Approvals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Approvals").field("config", &self.config).field("keys", &self.keys).finish_non_exhaustive()
    }
}

impl Approvals {
    pub fn new(clients: AwsClients, config: Config) -> Self {
        Self { clients, config, keys: KeyCache::default() }
    }

    /// This stack's approvals table.
    pub fn store(&self) -> Store<'_> {
        Store::new(&self.clients, &self.config.region, &self.config.table)
    }

    async fn key(&self) -> Result<Arc<SigningKey>, Failure> {
        self.keys.get(&self.clients, &self.config.secret_arn, &self.config.region).await.map_err(|e| {
            if e.kind == ErrorKind::Transient { Failure::Unavailable(e) } else { Failure::Configuration(e) }
        })
    }
}

/// Why a request got no page of its own.
#[derive(Debug)]
enum Failure {
    /// The function cannot work as configured: a Lambda error with a stable `errorType`.
    Configuration(StepError),
    /// A call failed (throttling, a timeout, an unreadable item): a "try again" page.
    Unavailable(StepError),
}

impl From<StepError> for Failure {
    /// A failed call of the table: a missing table, a denied call or a request the table
    /// refuses is the configuration's fault; anything else may pass.
    fn from(e: StepError) -> Self {
        match e.kind {
            ErrorKind::AccessDenied | ErrorKind::NotFound | ErrorKind::BadInput => Failure::Configuration(e),
            _ => Failure::Unavailable(e),
        }
    }
}

impl Failure {
    fn into_error(self) -> StepError {
        match self {
            Failure::Configuration(e) | Failure::Unavailable(e) => e,
        }
    }
}

/// What an attempt to decide came to.
#[derive(Debug)]
enum Outcome {
    Refused(Refusal),
    Done { record: Box<ApprovalRecord>, decided: Decided, delivery: Delivery },
}

impl Outcome {
    fn page(&self) -> Page {
        match self {
            Outcome::Refused(r) => render_refusal(r.clone()),
            Outcome::Done { record, decided, delivery } => render_outcome(record, decided, delivery),
        }
    }
}

/// One request to the Function URL: a page, or a Lambda error when the configuration is
/// broken (the page then is the Function URL's own 502).
pub async fn handle(
    request: LambdaFunctionUrlRequest,
    deps: &Approvals,
) -> Result<LambdaFunctionUrlResponse, StepError> {
    let method = request.request_context.http.method.as_deref().unwrap_or("").to_ascii_uppercase();
    let result = match method.as_str() {
        "GET" | "HEAD" => get(&request, deps).await,
        "POST" => post(&request, deps).await,
        _ => Ok(method_not_allowed()),
    };
    match result {
        Ok(page) => Ok(to_response(page)),
        Err(Failure::Configuration(e)) => {
            tracing::error!(error_type = e.kind.as_str(), error = %e.message, "approval: broken configuration");
            Err(e)
        }
        Err(Failure::Unavailable(e)) => {
            tracing::warn!(error_type = e.kind.as_str(), error = %e.message, "approval: unavailable");
            Ok(to_response(unavailable(&e)))
        }
    }
}

async fn get(request: &LambdaFunctionUrlRequest, deps: &Approvals) -> Result<Page, Failure> {
    let now = deps.clients.clock.now();
    let key = deps.key().await?;
    let query = request.raw_query_string.as_deref().unwrap_or("");
    let link = match verify_query(key.bytes(), query, now, &deps.config.region) {
        Ok(link) => link,
        Err(e) => {
            tracing::info!(method = "GET", refusal = %e, "approval link refused");
            return Ok(render_refusal(e));
        }
    };
    let stored = deps.store().read(&link.request_id).await?;
    let page = render_get(stored.as_ref().map(|s| &s.record), &link, key.bytes(), &action_path(request), now);
    tracing::info!(
        method = "GET",
        request_id = %link.request_id,
        decision = %link.decision,
        status = page.status,
        "approval page shown"
    );
    Ok(page)
}

async fn post(request: &LambdaFunctionUrlRequest, deps: &Approvals) -> Result<Page, Failure> {
    let now = deps.clients.clock.now();
    let key = deps.key().await?;
    let body = request.body.as_deref().unwrap_or("");
    let verified = parse_form(body, request.is_base64_encoded)
        .and_then(|pairs| verify(key.bytes(), &pairs, now, &deps.config.region).map(|link| (link, pairs)));
    let (link, pairs) = match verified {
        Ok(v) => v,
        Err(e) => {
            tracing::info!(method = "POST", refusal = %e, "approval link refused");
            return Ok(render_refusal(e));
        }
    };
    let name = form_field(&pairs, NAME_FIELD).unwrap_or("");
    let from = request.request_context.http.source_ip.as_deref().filter(|ip| !ip.is_empty()).unwrap_or("unknown");
    let outcome = decide_and_deliver(deps, &link, name, from, now).await?;
    Ok(outcome.page())
}

/// Reads the request `link` names, decides, writes and delivers: the one path of the page
/// and of the CLI.
async fn decide_and_deliver(
    deps: &Approvals,
    link: &Link,
    name: &str,
    from: &str,
    now: SystemTime,
) -> Result<Outcome, Failure> {
    let store = deps.store();
    let id = &link.request_id;
    let stored = store.read(id).await?;
    let transition = match decide(stored.as_ref().map(|s| &s.record), link, name, from, now) {
        Ok(t) => t,
        Err(refusal) => return Ok(refused(link, refusal)),
    };
    let Some(stored) = stored else { return Ok(refused(link, Refusal::UnknownRequest)) };
    match transition {
        Transition::Decide(decided) => match store.write_decided(&stored, &decided, unix_seconds(now)).await? {
            Write::Done => {
                tracing::info!(
                    request_id = %id,
                    decision = %decided.decision,
                    by = %decided.by,
                    from = %decided.from,
                    "approval request decided"
                );
                let mut record = stored.record;
                record.status = Status::Decided(decided.clone());
                Ok(deliver(deps, record, &stored.task_token, decided, now).await)
            }
            Write::ConditionFailed => {
                // Someone decided first, or the request expired this second: read again and
                // show what is there. A same decision written by another request is being
                // delivered by it: not sent twice at once.
                let again = store.read(id).await?.map(|s| s.record);
                tracing::info!(request_id = %id, "approval request changed while deciding: read again");
                match decide(again.as_ref(), link, name, from, now) {
                    Err(refusal) => Ok(refused(link, refusal)),
                    Ok(t) => {
                        let Some(record) = again else { return Ok(refused(link, Refusal::UnknownRequest)) };
                        match t {
                            Transition::AlreadyDone { decided, answer, .. } => Ok(Outcome::Done {
                                record: Box::new(record),
                                decided,
                                delivery: Delivery::Answered(answer),
                            }),
                            Transition::Redeliver(decided) => Ok(Outcome::Done {
                                record: Box::new(record),
                                decided,
                                delivery: Delivery::NotDelivered { code: DELIVERY_IN_PROGRESS.to_string() },
                            }),
                            Transition::Decide(_) => Err(Failure::Unavailable(StepError::transient(format!(
                                "approval request {id} changed while it was being decided"
                            )))),
                        }
                    }
                }
            }
        },
        Transition::Redeliver(decided) => {
            tracing::info!(request_id = %id, decision = %decided.decision, "approval decision delivered again");
            Ok(deliver(deps, stored.record, &stored.task_token, decided, now).await)
        }
        Transition::AlreadyDone { decided, answer, .. } => {
            tracing::info!(request_id = %id, decision = %decided.decision, "approval already delivered: nothing sent");
            Ok(Outcome::Done { record: Box::new(stored.record), decided, delivery: Delivery::Answered(answer) })
        }
    }
}

fn refused(link: &Link, refusal: Refusal) -> Outcome {
    tracing::info!(request_id = %link.request_id, decision = %link.decision, refusal = %refusal, "approval refused");
    Outcome::Refused(refusal)
}

/// The output of `SendTaskSuccess`: core's answer (the decision, the request, who, when),
/// and where it came from.
fn success_output(output: &str, decided: &Decided) -> String {
    match serde_json::from_str::<serde_json::Value>(output) {
        Ok(serde_json::Value::Object(mut m)) => {
            m.entry("from").or_insert_with(|| serde_json::Value::String(decided.from.clone()));
            serde_json::Value::Object(m).to_string()
        }
        _ => output.to_string(),
    }
}

/// Sends `decided` to the task, then writes the record delivered when Step Functions
/// answered. Never fails: what did not happen is in the returned [`Delivery`].
async fn deliver(
    deps: &Approvals,
    record: ApprovalRecord,
    token: &TaskToken,
    decided: Decided,
    now: SystemTime,
) -> Outcome {
    let id = record.request_id.clone();
    let sfn = deps.clients.sfn.get(&deps.config.region);
    let sent: Result<(), Classified> = match task_answer(&record, &decided) {
        TaskAnswer::Success { output } => sfn
            .send_task_success()
            .task_token(token.expose())
            .output(success_output(&output, &decided))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&e)),
        TaskAnswer::Failure { error, cause } => sfn
            .send_task_failure()
            .task_token(token.expose())
            .error(error)
            .cause(cause)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&e)),
    };
    // Only the code: Step Functions' message might quote the token.
    let code = sent.as_ref().err().map(|c| c.code.as_str());
    let delivery = match code {
        None => deliver_outcome(Ok(())),
        // The token does not name a task (any more): as TaskDoesNotExist.
        Some("InvalidToken") => deliver_outcome(Err("TaskDoesNotExist")),
        Some(code) => deliver_outcome(Err(code)),
    };
    match &delivery {
        Delivery::Answered(answer) => {
            tracing::info!(
                request_id = %id,
                decision = %decided.decision,
                answer = answer_name(*answer),
                code = code.unwrap_or("ok"),
                "approval decision delivered"
            );
            match deps.store().write_delivered(&record, &decided, *answer, unix_seconds(now)).await {
                Ok(_) => {}
                Err(e) => tracing::warn!(
                    request_id = %id,
                    error = %e.message,
                    "approval delivered but not marked delivered: the next submission sends it again and reads TaskTimedOut"
                ),
            }
        }
        Delivery::NotDelivered { code } => {
            let kind = sent.as_ref().err().map(|c| c.kind).unwrap_or(ErrorKind::Internal);
            if kind == ErrorKind::Transient {
                tracing::warn!(request_id = %id, code = %code, "approval decision not delivered: the next submission sends it again");
            } else {
                tracing::error!(request_id = %id, code = %code, error_type = kind.as_str(), "approval decision not delivered");
            }
        }
    }
    Outcome::Done { record: Box::new(record), decided, delivery }
}

// ---------------------------------------------------------------------------------------
// The CLI's path
// ---------------------------------------------------------------------------------------

/// What [`approve_via_api`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiOutcome {
    pub request_id: RequestId,
    pub execution_arn: String,
    /// The decision as recorded (an earlier one, when it was already decided this way).
    pub decided: Decided,
    /// What Step Functions made of it; `NotDelivered`: run the command again.
    pub delivery: Delivery,
}

/// Decides the approval request of `execution` (its ARN, or its name when the configuration
/// names the state machine) as `name`, for the CLI (`failover approve EXECUTION --as NAME`):
/// the same record, the same transitions and the same delivery as the page's POST, with the
/// caller's IAM principal (`caller_principal`, from `sts:GetCallerIdentity`) recorded where
/// the page records the source IP. The plan's approvers, when the record names any, are
/// checked the same way.
///
/// The request is the execution's newest that is still open (pending, or decided and not
/// delivered, and not expired), found through the `by-execution` index and read again
/// consistently. A refusal is an error: `NotFound` (no request), `InvalidState` (expired,
/// decided the other way), `AccessDenied` (not an approver), `BadInput` (the name).
pub async fn approve_via_api(
    execution: &str,
    decision: Decision,
    name: &str,
    caller_principal: &str,
    deps: &Approvals,
) -> Result<ApiOutcome, StepError> {
    let now = deps.clients.clock.now();
    let execution = execution.trim();
    if execution.is_empty() {
        return Err(StepError::bad_input("execution: required (an execution ARN or name)"));
    }
    let principal = caller_principal.trim();
    if principal.is_empty() {
        return Err(StepError::bad_input("caller_principal: required (it is recorded with the decision)"));
    }
    let store = deps.store();
    let mut records = Vec::new();
    for candidate in execution_candidates(execution, deps.config.state_machine_arn.as_deref()) {
        records = store.by_execution(&candidate).await?;
        if !records.is_empty() {
            break;
        }
    }
    let Some(chosen) = pick_request(&records, now) else {
        return Err(StepError::not_found(format!(
            "execution: no approval request of `{execution}` in {} ({})",
            deps.config.table, deps.config.region
        )));
    };
    let link = Link {
        request_id: chosen.request_id.clone(),
        decision,
        expires_at: chosen.expires_at,
        region: deps.config.region.clone(),
        plan: chosen.plan.clone(),
    };
    match decide_and_deliver(deps, &link, name, principal, now).await.map_err(Failure::into_error)? {
        Outcome::Refused(refusal) => Err(refusal_error(&refusal)),
        Outcome::Done { record, decided, delivery } => {
            Ok(ApiOutcome { request_id: record.request_id, execution_arn: record.execution_arn, decided, delivery })
        }
    }
}

/// The keys to look the execution up by: its ARN first (derived from the state machine's
/// when given a name), then what was given (a request recorded without the ARN holds the
/// execution's name).
fn execution_candidates(execution: &str, state_machine_arn: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    if execution.starts_with("arn:") {
        out.push(execution.to_string());
        if let Some((_, name)) = execution.rsplit_once(':') {
            out.push(name.to_string());
        }
    } else {
        if let Some(arn) = state_machine_arn.and_then(|m| execution_arn(m, execution)) {
            out.push(arn);
        }
        out.push(execution.to_string());
    }
    out.dedup();
    out
}

/// The execution's newest open request, else its newest.
fn pick_request(records: &[ApprovalRecord], now: SystemTime) -> Option<&ApprovalRecord> {
    records.iter().max_by_key(|r| (!r.is_expired(now) && !matches!(r.status, Status::Delivered { .. }), r.expires_at))
}

fn refusal_error(refusal: &Refusal) -> StepError {
    let kind = match refusal {
        Refusal::UnknownRequest => ErrorKind::NotFound,
        Refusal::Expired { .. } | Refusal::DecidedOtherwise { .. } => ErrorKind::InvalidState,
        Refusal::NotAnApprover { .. } => ErrorKind::AccessDenied,
        Refusal::NameMissing | Refusal::NameInvalid => ErrorKind::BadInput,
    };
    StepError::new(kind, refusal.to_string())
}

// ---------------------------------------------------------------------------------------
// Pages and responses
// ---------------------------------------------------------------------------------------

/// Where the confirmation form posts: this URL's path (a Function URL answers on every
/// path), or `/` when the path is unusual. Never `//...`, which a browser reads as another
/// host.
fn action_path(request: &LambdaFunctionUrlRequest) -> String {
    match request.raw_path.as_deref() {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && p.len() <= 256
                && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_.~".contains(&b)) =>
        {
            p.to_string()
        }
        _ => "/".to_string(),
    }
}

/// A page of fixed text (no value of the request in it, so nothing to escape).
fn fixed_page(status: u16, title: &str, text: &str) -> Page {
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><title>{title}</title></head><body><h1>{title}</h1>\
         <p>{text}</p></body></html>\n"
    );
    Page { status, headers: page_headers(), body }
}

fn method_not_allowed() -> Page {
    let mut page = fixed_page(
        405,
        "Not allowed",
        "This page answers the links of the approval e-mail (GET) and its confirmation form (POST) only. Nothing \
         was decided or changed.",
    );
    page.headers.push(("Allow".to_string(), "GET, POST".to_string()));
    page
}

fn unavailable(e: &StepError) -> Page {
    if e.kind.retryable() {
        fixed_page(
            503,
            "Try again in a minute",
            "The approval page could not reach its table, its key or Step Functions just now. Open the link from the \
             e-mail again in a minute: a decision is never counted twice.",
        )
    } else {
        fixed_page(
            500,
            "This approval request cannot be read",
            "Something is wrong with this request on the server. Tell the operators; the execution's history and \
             the approval function's log say more. A decision is never counted twice.",
        )
    }
}

/// A page as the Function URL's response.
#[allow(clippy::field_reassign_with_default)] // non_exhaustive: no struct literal outside its crate
pub fn to_response(page: Page) -> LambdaFunctionUrlResponse {
    let mut r = LambdaFunctionUrlResponse::default();
    r.status_code = i64::from(page.status);
    for (name, value) in &page.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            r.headers.insert(name, value);
        }
    }
    r.body = Some(page.body);
    r.is_base64_encoded = false;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_arns_come_from_the_state_machine() {
        let m = "arn:aws:states:us-west-2:111122223333:stateMachine:failover-retail-store";
        assert_eq!(
            execution_arn(m, "drill-1").as_deref(),
            Some("arn:aws:states:us-west-2:111122223333:execution:failover-retail-store:drill-1")
        );
        assert_eq!(execution_arn("arn:aws:sns:us-west-2:111122223333:topic", "x"), None);
        assert_eq!(execution_arn("not an arn", "x"), None);
        assert_eq!(
            execution_candidates("drill-1", Some(m)),
            vec!["arn:aws:states:us-west-2:111122223333:execution:failover-retail-store:drill-1", "drill-1"]
        );
        assert_eq!(
            execution_candidates("arn:aws:states:us-west-2:111122223333:execution:failover-retail-store:drill-1", None),
            vec!["arn:aws:states:us-west-2:111122223333:execution:failover-retail-store:drill-1", "drill-1"]
        );
    }

    #[test]
    fn the_configuration_names_what_is_missing() {
        let err =
            Config::from_values(Some("us-west-2".into()), None, Some(" ".into()), Some("nope".into())).unwrap_err();
        assert!(err.contains("APPROVALS_TABLE is not set"), "{err}");
        assert!(err.contains("APPROVAL_SECRET_ARN is not set"), "{err}");
        assert!(err.contains("FAILOVER_STATE_MACHINE_ARN: `nope`"), "{err}");
        let ok = Config::from_values(Some("us-west-2".into()), Some("t".into()), Some("arn:s".into()), None).unwrap();
        assert_eq!(ok.table, "t");
    }

    #[test]
    fn the_form_posts_to_this_path_only() {
        let mut r = LambdaFunctionUrlRequest::default();
        for (path, want) in [
            (None, "/"),
            (Some("/"), "/"),
            (Some("/approve"), "/approve"),
            (Some("//evil.example/x"), "/"),
            (Some("/a\"b"), "/"),
            (Some("relative"), "/"),
        ] {
            r.raw_path = path.map(str::to_string);
            assert_eq!(action_path(&r), want, "{path:?}");
        }
    }

    #[test]
    fn the_success_output_says_where_the_decision_came_from() {
        let d = Decided { decision: Decision::Approve, by: "Alice".into(), from: "192.0.2.1".into(), at: 1 };
        let out: serde_json::Value =
            serde_json::from_str(&success_output(r#"{"decision":"approve","by":"Alice"}"#, &d)).unwrap();
        assert_eq!(out["from"], "192.0.2.1");
        assert_eq!(out["decision"], "approve");
    }
}
