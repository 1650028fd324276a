//! The approval path over aws-smithy-mocks clients backed by one small in-memory world (an
//! approvals table that evaluates the conditions it is given, a signing secret, a topic,
//! Step Functions with scripted answers): notify records the request
//! (`attribute_not_exists(pk)`) and e-mails both signed links, never the token; the
//! Function URL's GET shows the confirmation and decides nothing; the POST decides once
//! (conditional UpdateItem, SendTaskSuccess, delivered) and a second POST sends nothing; a
//! decision Step Functions did not take is delivered by the next POST; TaskTimedOut means
//! "no longer waiting"; a reject is `Failover.ApprovalRejected`; forged, expired and
//! other-Region links are refused before anything is read; a lost race shows what won; the
//! CLI path goes through the same record. Then the drill's approver, end to end: read the
//! e-mail, GET the link, POST the page's form.

mod rds_mocks;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use aws_lambda_events::lambda_function_urls::{LambdaFunctionUrlRequest, LambdaFunctionUrlResponse};
use aws_sdk_dynamodb::operation::get_item::{GetItemError, GetItemOutput};
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_secretsmanager::operation::get_secret_value::{GetSecretValueError, GetSecretValueOutput};
use aws_sdk_sfn::operation::send_task_failure::{SendTaskFailureError, SendTaskFailureOutput};
use aws_sdk_sfn::operation::send_task_success::{SendTaskSuccessError, SendTaskSuccessOutput};
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_smithy_async::rt::sleep::SharedAsyncSleep;
use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};
use base64::Engine as _;
use failover_core::approval::{
    Answer, ApprovalRecord, Decided, Decision, Delivery, Link, Reason, RequestId, Status, StoredApproval, TaskToken,
    sign, verify_query,
};
use failover_core::contract::Mode;
use failover_core::contract::aurora::LagObservation;
use failover_core::contract::notify::{ApprovalTask, NotifyInput, Phase, TimelineEntry};
use failover_core::contract::preflight::DataAtRisk;
use failover_core::{ErrorKind, SharedClock};
use failover_steps::approval::{self, Approvals, Config, RETENTION, approve_via_api, new_item};
use failover_steps::aws::{AwsClients, Regional};
use failover_steps::notify::{self, ApprovalSettings, ApprovalSetup};
use rds_mocks::*;
use serde_json::json;

const TOKEN: &str = "AQCEAAAAKgAAAAMAAAAAAAAAAfake+task/token==SECRET-PART-7f3a";
const KEY: &str = "the-approval-signing-key-of-the-us-west-2-stack-0123456789abcdef";
const OTHER_KEY: &str = "the-approval-signing-key-of-the-us-east-1-stack-0123456789abcdef";
const TABLE: &str = "failover-retail-store-approvals";
/// The plan's `stacks.us-west-2.approval_secret`.
const SECRET_ARN: &str =
    "arn:aws:secretsmanager:us-west-2:111122223333:secret:failover/retail-store/approval-key-DdEeFf";
const STATE_MACHINE: &str = "arn:aws:states:us-west-2:111122223333:stateMachine:failover-retail-store";
const EXECUTION_ARN: &str =
    "arn:aws:states:us-west-2:111122223333:execution:failover-retail-store:drill-2027-01-15-0800";
const APPROVAL_URL: &str = "https://abcdefghij.lambda-url.us-west-2.on.aws/";
const ID: &str = "0123456789abcdef0123456789abcdef";
const IP: &str = "192.0.2.44";
const CONDITION_FAILED: &str = "ConditionalCheckFailedException";

type Item = HashMap<String, AttributeValue>;

#[derive(Debug, Clone)]
struct DdbCall {
    op: &'static str,
    region: String,
    table: String,
    condition: Option<String>,
    consistent: Option<bool>,
    index: Option<String>,
}

#[derive(Debug, Clone)]
struct SfnCall {
    op: &'static str,
    region: String,
    token: String,
    output: Option<String>,
    error: Option<String>,
    cause: Option<String>,
}

#[derive(Debug, Clone)]
struct Published {
    subject: String,
    message: String,
    attributes: Vec<(String, String)>,
}

/// The simulated stack: table, secret, topic and Step Functions, with a log of calls.
#[derive(Default)]
struct World {
    items: Mutex<BTreeMap<String, Item>>,
    ddb: Mutex<Vec<DdbCall>>,
    sfn: Mutex<Vec<SfnCall>>,
    /// Error codes the next Step Functions calls answer, in order; then success.
    sfn_script: Mutex<VecDeque<&'static str>>,
    /// An error code every GetItem answers.
    get_error: Mutex<Option<&'static str>>,
    /// Replaces the item just before the next UpdateItem: a concurrent decision.
    interfere: Mutex<Option<Item>>,
    /// The secret's value (`None`: the secret does not exist).
    secret: Mutex<Option<String>>,
    secret_reads: Mutex<usize>,
    published: Mutex<Vec<Published>>,
}

impl World {
    fn new() -> Arc<World> {
        let w = World::default();
        *w.secret.lock().unwrap() = Some(KEY.to_string());
        Arc::new(w)
    }

    fn ddb_ops(&self) -> Vec<&'static str> {
        self.ddb.lock().unwrap().iter().map(|c| c.op).collect()
    }

    fn writes(&self) -> Vec<DdbCall> {
        self.ddb.lock().unwrap().iter().filter(|c| c.op == "PutItem" || c.op == "UpdateItem").cloned().collect()
    }

    fn sfn_calls(&self) -> Vec<SfnCall> {
        self.sfn.lock().unwrap().clone()
    }

    fn item(&self, id: &str) -> Item {
        self.items.lock().unwrap().get(id).cloned().unwrap_or_else(|| panic!("no item {id}"))
    }

    fn s(&self, id: &str, name: &str) -> String {
        self.item(id).get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_else(|| panic!("{id}: no S {name}"))
    }

    fn n(&self, id: &str, name: &str) -> u64 {
        self.item(id)
            .get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{id}: no N {name}"))
    }

    fn record(&self, id: &str) -> ApprovalRecord {
        serde_json::from_str(&self.s(id, "record")).expect("the record attribute is the record's JSON")
    }

    fn clear_logs(&self) {
        self.ddb.lock().unwrap().clear();
        self.sfn.lock().unwrap().clear();
    }
}

// ---------------------------------------------------------------------------------------
// The fake table: just enough of DynamoDB's expressions for the ones the code writes
// ---------------------------------------------------------------------------------------

fn resolve(token: &str, names: Option<&HashMap<String, String>>) -> String {
    if token.starts_with('#') {
        names.and_then(|n| n.get(token)).cloned().unwrap_or_else(|| panic!("unbound attribute name {token}"))
    } else {
        token.to_string()
    }
}

/// Evaluates `a AND b AND ...` of `attribute_not_exists(x)`, `x = :v`, `x > :v`, `x < :v`.
fn holds(
    condition: &str,
    item: Option<&Item>,
    names: Option<&HashMap<String, String>>,
    values: Option<&HashMap<String, AttributeValue>>,
) -> bool {
    condition.split(" AND ").all(|clause| {
        let clause = clause.trim();
        if let Some(inner) = clause.strip_prefix("attribute_not_exists(").and_then(|c| c.strip_suffix(')')) {
            return item.is_none_or(|i| !i.contains_key(&resolve(inner.trim(), names)));
        }
        let (left, op, right) = ["=", ">", "<"]
            .into_iter()
            .find_map(|op| clause.split_once(&format!(" {op} ")).map(|(l, r)| (l.trim(), op, r.trim())))
            .unwrap_or_else(|| panic!("unsupported condition clause `{clause}`"));
        let right = values.and_then(|v| v.get(right)).unwrap_or_else(|| panic!("unbound value {right}"));
        let Some(left) = item.and_then(|i| i.get(&resolve(left, names))) else { return false };
        match op {
            "=" => left == right,
            _ => {
                let number = |v: &AttributeValue| v.as_n().ok().and_then(|n| n.parse::<f64>().ok()).expect("a number");
                let (a, b) = (number(left), number(right));
                if op == ">" { a > b } else { a < b }
            }
        }
    })
}

/// Applies `SET a = :x, b = :y`.
fn apply_set(
    expression: &str,
    item: &mut Item,
    names: Option<&HashMap<String, String>>,
    values: Option<&HashMap<String, AttributeValue>>,
) {
    let sets = expression.strip_prefix("SET ").unwrap_or_else(|| panic!("only SET is simulated: {expression}"));
    for assignment in sets.split(", ") {
        let (l, r) = assignment.split_once(" = ").unwrap_or_else(|| panic!("not `a = :v`: {assignment}"));
        let value = values.and_then(|v| v.get(r.trim())).cloned().unwrap_or_else(|| panic!("unbound value {r}"));
        item.insert(resolve(l.trim(), names), value);
    }
}

fn pk_of(key: Option<&Item>) -> String {
    key.and_then(|k| k.get("pk")).and_then(|v| v.as_s().ok()).cloned().expect("a pk")
}

fn ddb_client(world: &Arc<World>, region: &str, sleep: SharedAsyncSleep) -> aws_sdk_dynamodb::Client {
    let (w, r) = (world.clone(), region.to_string());
    let put = mock!(aws_sdk_dynamodb::Client::put_item).then_compute_response(move |req| {
        w.ddb.lock().unwrap().push(DdbCall {
            op: "PutItem",
            region: r.clone(),
            table: req.table_name().unwrap_or_default().into(),
            condition: req.condition_expression().map(str::to_string),
            consistent: None,
            index: None,
        });
        let item = req.item().cloned().unwrap_or_default();
        let pk = pk_of(Some(&item));
        let mut items = w.items.lock().unwrap();
        if let Some(c) = req.condition_expression()
            && !holds(c, items.get(&pk), req.expression_attribute_names(), req.expression_attribute_values())
        {
            return MockResponse::Error(PutItemError::generic(meta(
                CONDITION_FAILED,
                "The conditional request failed",
            )));
        }
        items.insert(pk, item);
        MockResponse::Output(PutItemOutput::builder().build())
    });
    let (w, r) = (world.clone(), region.to_string());
    let get = mock!(aws_sdk_dynamodb::Client::get_item).then_compute_response(move |req| {
        w.ddb.lock().unwrap().push(DdbCall {
            op: "GetItem",
            region: r.clone(),
            table: req.table_name().unwrap_or_default().into(),
            condition: None,
            consistent: req.consistent_read(),
            index: None,
        });
        if let Some(code) = *w.get_error.lock().unwrap() {
            return MockResponse::Error(GetItemError::generic(meta(code, "scripted")));
        }
        let item = w.items.lock().unwrap().get(&pk_of(req.key())).cloned();
        MockResponse::Output(GetItemOutput::builder().set_item(item).build())
    });
    let (w, r) = (world.clone(), region.to_string());
    let update = mock!(aws_sdk_dynamodb::Client::update_item).then_compute_response(move |req| {
        w.ddb.lock().unwrap().push(DdbCall {
            op: "UpdateItem",
            region: r.clone(),
            table: req.table_name().unwrap_or_default().into(),
            condition: req.condition_expression().map(str::to_string),
            consistent: None,
            index: None,
        });
        let pk = pk_of(req.key());
        let mut items = w.items.lock().unwrap();
        if let Some(replacement) = w.interfere.lock().unwrap().take() {
            items.insert(pk.clone(), replacement);
        }
        let (names, values) = (req.expression_attribute_names(), req.expression_attribute_values());
        if let Some(c) = req.condition_expression()
            && !holds(c, items.get(&pk), names, values)
        {
            return MockResponse::Error(UpdateItemError::generic(meta(
                CONDITION_FAILED,
                "The conditional request failed",
            )));
        }
        let mut item = items
            .get(&pk)
            .cloned()
            .unwrap_or_else(|| HashMap::from([("pk".to_string(), AttributeValue::S(pk.clone()))]));
        apply_set(req.update_expression().expect("an update expression"), &mut item, names, values);
        items.insert(pk, item);
        MockResponse::Output(UpdateItemOutput::builder().build())
    });
    let (w, r) = (world.clone(), region.to_string());
    let query = mock!(aws_sdk_dynamodb::Client::query).then_compute_response(move |req| {
        w.ddb.lock().unwrap().push(DdbCall {
            op: "Query",
            region: r.clone(),
            table: req.table_name().unwrap_or_default().into(),
            condition: req.key_condition_expression().map(str::to_string),
            consistent: req.consistent_read(),
            index: req.index_name().map(str::to_string),
        });
        assert_eq!(req.key_condition_expression(), Some("#e = :e"));
        assert_eq!(
            req.expression_attribute_names().and_then(|n| n.get("#e")).map(String::as_str),
            Some("execution_arn")
        );
        let e = req.expression_attribute_values().and_then(|v| v.get(":e")).cloned().expect(":e");
        let items: Vec<Item> =
            w.items.lock().unwrap().values().filter(|i| i.get("execution_arn") == Some(&e)).cloned().collect();
        MockResponse::Output(QueryOutput::builder().set_items(Some(items)).build())
    });
    let region = region.to_string();
    mock_client!(
        aws_sdk_dynamodb,
        RuleMode::MatchAny,
        [&put, &get, &update, &query],
        // No SDK retries: each scripted answer is one call (a retried attempt would reach the
        // next rule of the mock client).
        move |b: aws_sdk_dynamodb::config::Builder| b
            .region(aws_sdk_dynamodb::config::Region::new(region.clone()))
            .sleep_impl(sleep.clone())
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
    )
}

fn sfn_client(world: &Arc<World>, region: &str, sleep: SharedAsyncSleep) -> aws_sdk_sfn::Client {
    let (w, r) = (world.clone(), region.to_string());
    let success = mock!(aws_sdk_sfn::Client::send_task_success).then_compute_response(move |req| {
        w.sfn.lock().unwrap().push(SfnCall {
            op: "SendTaskSuccess",
            region: r.clone(),
            token: req.task_token().unwrap_or_default().into(),
            output: req.output().map(str::to_string),
            error: None,
            cause: None,
        });
        match w.sfn_script.lock().unwrap().pop_front() {
            Some(code) => MockResponse::Error(SendTaskSuccessError::generic(meta(code, "scripted"))),
            None => MockResponse::Output(SendTaskSuccessOutput::builder().build()),
        }
    });
    let (w, r) = (world.clone(), region.to_string());
    let failure = mock!(aws_sdk_sfn::Client::send_task_failure).then_compute_response(move |req| {
        w.sfn.lock().unwrap().push(SfnCall {
            op: "SendTaskFailure",
            region: r.clone(),
            token: req.task_token().unwrap_or_default().into(),
            output: None,
            error: req.error().map(str::to_string),
            cause: req.cause().map(str::to_string),
        });
        match w.sfn_script.lock().unwrap().pop_front() {
            Some(code) => MockResponse::Error(SendTaskFailureError::generic(meta(code, "scripted"))),
            None => MockResponse::Output(SendTaskFailureOutput::builder().build()),
        }
    });
    let region = region.to_string();
    // No SDK retries: each scripted answer is one call.
    mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&success, &failure], move |b: aws_sdk_sfn::config::Builder| b
        .region(aws_sdk_sfn::config::Region::new(region.clone()))
        .sleep_impl(sleep.clone())
        .retry_config(aws_sdk_sfn::config::retry::RetryConfig::disabled()))
}

fn secrets_client(world: &Arc<World>, region: &str, sleep: SharedAsyncSleep) -> aws_sdk_secretsmanager::Client {
    let w = world.clone();
    let get = mock!(aws_sdk_secretsmanager::Client::get_secret_value).then_compute_response(move |req| {
        *w.secret_reads.lock().unwrap() += 1;
        match (req.secret_id(), w.secret.lock().unwrap().clone()) {
            (Some(id), Some(v)) if id == SECRET_ARN => {
                MockResponse::Output(GetSecretValueOutput::builder().arn(id).secret_string(v).build())
            }
            _ => MockResponse::Error(GetSecretValueError::generic(meta(
                "ResourceNotFoundException",
                "Secrets Manager can't find the specified secret.",
            ))),
        }
    });
    let region = region.to_string();
    mock_client!(
        aws_sdk_secretsmanager,
        RuleMode::MatchAny,
        [&get],
        move |b: aws_sdk_secretsmanager::config::Builder| b
            .region(aws_sdk_secretsmanager::config::Region::new(region.clone()))
            .sleep_impl(sleep.clone())
    )
}

fn sns_client(world: &Arc<World>, sleep: SharedAsyncSleep) -> aws_sdk_sns::Client {
    let w = world.clone();
    let publish = mock!(aws_sdk_sns::Client::publish).then_compute_output(move |r| {
        let mut attributes: Vec<(String, String)> = r
            .message_attributes()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.string_value().unwrap_or_default().to_string())).collect())
            .unwrap_or_default();
        attributes.sort();
        w.published.lock().unwrap().push(Published {
            subject: r.subject().unwrap_or_default().into(),
            message: r.message().unwrap_or_default().into(),
            attributes,
        });
        PublishOutput::builder().message_id("msg-0001").build()
    });
    mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&publish], move |b: aws_sdk_sns::config::Builder| b
        .sleep_impl(sleep.clone()))
}

/// Clients of the world in every Region (each call records its Region), at T0.
fn clients(world: &Arc<World>) -> AwsClients {
    let clock = SharedClock::virtual_at(at(0));
    let mut c = AwsClients::from_sdk_config(aws_config::SdkConfig::builder().build(), clock.clone());
    let sleep = clock.sdk_sleep();
    let (w, s) = (world.clone(), sleep.clone());
    c.dynamodb = Arc::new(Regional::from_fn(move |region| ddb_client(&w, region, s.clone())));
    let (w, s) = (world.clone(), sleep.clone());
    c.sfn = Arc::new(Regional::from_fn(move |region| sfn_client(&w, region, s.clone())));
    let (w, s) = (world.clone(), sleep.clone());
    c.secrets = Arc::new(Regional::from_fn(move |region| secrets_client(&w, region, s.clone())));
    let (w, s) = (world.clone(), sleep);
    c.sns = Arc::new(Regional::from_fn(move |_| sns_client(&w, s.clone())));
    c
}

fn approvals(world: &Arc<World>) -> Approvals {
    Approvals::new(
        clients(world),
        Config {
            region: SECONDARY.into(),
            table: TABLE.into(),
            secret_arn: SECRET_ARN.into(),
            state_machine_arn: Some(STATE_MACHINE.into()),
        },
    )
}

// ---------------------------------------------------------------------------------------
// Requests, records, links
// ---------------------------------------------------------------------------------------

/// A Function URL event as Lambda delivers it.
fn url_request(method: &str, query: &str, body: Option<String>, base64: bool) -> LambdaFunctionUrlRequest {
    serde_json::from_value(json!({
        "version": "2.0",
        "rawPath": "/",
        "rawQueryString": query.trim_start_matches('?'),
        "headers": {
            "host": "abcdefghij.lambda-url.us-west-2.on.aws",
            "content-type": "application/x-www-form-urlencoded"
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghij",
            "domainName": "abcdefghij.lambda-url.us-west-2.on.aws",
            "domainPrefix": "abcdefghij",
            "http": {
                "method": method,
                "path": "/",
                "protocol": "HTTP/1.1",
                "sourceIp": IP,
                "userAgent": "Mozilla/5.0 (iPhone)"
            },
            "requestId": "8f0e2c7a-0000-4000-8000-000000000001",
            "time": "15/Jan/2027:08:00:00 +0000",
            "timeEpoch": 1_800_000_000_000_i64
        },
        "body": body,
        "isBase64Encoded": base64
    }))
    .expect("a Function URL event")
}

async fn get(deps: &Approvals, query: &str) -> LambdaFunctionUrlResponse {
    approval::handle(url_request("GET", query, None, false), deps).await.expect("a page")
}

/// The confirmation form's POST: the link's signed fields (as the page's hidden fields carry
/// them) and the name.
async fn post(deps: &Approvals, query: &str, name: &str) -> LambdaFunctionUrlResponse {
    let body = format!("{}&{}", query.trim_start_matches('?'), form(&[("name", name)]));
    approval::handle(url_request("POST", "", Some(body), false), deps).await.expect("a page")
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn status(r: &LambdaFunctionUrlResponse) -> i64 {
    r.status_code
}

fn body(r: &LambdaFunctionUrlResponse) -> &str {
    r.body.as_deref().unwrap_or_default()
}

fn id() -> RequestId {
    RequestId::parse(ID).unwrap()
}

fn record(status: Status) -> ApprovalRecord {
    ApprovalRecord {
        request_id: id(),
        execution_arn: EXECUTION_ARN.into(),
        plan: "retail-store".into(),
        source: PRIMARY.into(),
        target: SECONDARY.into(),
        mode: Mode::Unplanned,
        reason: Reason::Alarms { alarms: vec!["retail-store-canary-us-east-1".into()] },
        lag_seconds: Some(1.2),
        rpo_seconds: 5,
        expires_at: T0 + 3600,
        status,
        approvers: vec![],
    }
}

fn seed(world: &World, record: ApprovalRecord) {
    let stored = StoredApproval { record, task_token: TaskToken::new(TOKEN) };
    let item = new_item(&stored, T0 - 60, RETENTION).unwrap();
    world.items.lock().unwrap().insert(stored.record.request_id.to_string(), item);
}

fn link(decision: Decision) -> Link {
    Link { request_id: id(), decision, expires_at: T0 + 3600, region: SECONDARY.into(), plan: "retail-store".into() }
}

fn signed(decision: Decision) -> String {
    sign(KEY.as_bytes(), &link(decision))
}

fn no_token_in(what: &str, text: &str) {
    assert!(!text.contains(TOKEN) && !text.contains("SECRET-PART"), "the token leaked into the {what}: {text}");
}

// ---------------------------------------------------------------------------------------
// notify: the request
// ---------------------------------------------------------------------------------------

fn settings(secret_arn: &str) -> notify::Config {
    notify::Config {
        approvals: ApprovalSetup::On(
            ApprovalSettings::new(TABLE.into(), secret_arn.into(), APPROVAL_URL.into(), Some(STATE_MACHINE.into()))
                .expect("valid settings"),
        ),
    }
}

fn approval_input() -> NotifyInput {
    NotifyInput {
        plan: plan(),
        running_region: SECONDARY.into(),
        execution: execution("drill-2027-01-15-0800"),
        phase: Phase::ApprovalRequested,
        mode: Some(Mode::Unplanned),
        target_region: Some(SECONDARY.into()),
        error: None,
        detail: json!({ "note": format!("token is {TOKEN}") }),
        timeline: vec![TimelineEntry { phase: "started".into(), at: rfc(-60) }],
        data_at_risk: vec![
            DataAtRisk {
                database: "catalog".into(),
                global_cluster: "retail-catalog-global".into(),
                writer: Some(member_arn(&plan(), "catalog", PRIMARY)),
                writer_region: Some(PRIMARY.into()),
                lag: Some(LagObservation { metric: "AuroraGlobalDBRPOLag".into(), milliseconds: 1200, at: rfc(-30) }),
            },
            DataAtRisk {
                database: "orders".into(),
                global_cluster: "retail-orders-global".into(),
                writer: Some(member_arn(&plan(), "orders", PRIMARY)),
                writer_region: Some(PRIMARY.into()),
                lag: Some(LagObservation { metric: "AuroraGlobalDBRPOLag".into(), milliseconds: 300, at: rfc(-30) }),
            },
        ],
        approval: Some(ApprovalTask {
            task_token: TaskToken::new(TOKEN),
            state: Some("RequestApproval".into()),
            question: Some("Approve the failover of the application to the target Region?".into()),
        }),
        approvals: vec![],
        writers_moved_at: vec![],
    }
}

fn link_of<'a>(message: &'a str, label: &str) -> &'a str {
    message
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{message}"))
}

#[tokio::test(start_paused = true)]
async fn notify_records_the_request_and_mails_both_links_never_the_token() {
    let world = World::new();
    let c = clients(&world);
    let config = settings(SECRET_ARN);
    let out = notify::handle_with(approval_input(), &c, &config).await.expect("published");
    let id = out.request_id.clone().expect("the output names the request");
    no_token_in("output", &serde_json::to_string(&out).unwrap());

    // The item: written once, in the running Region's table, only if new.
    let writes = world.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].op, "PutItem");
    assert_eq!(writes[0].condition.as_deref(), Some("attribute_not_exists(pk)"));
    assert_eq!((writes[0].region.as_str(), writes[0].table.as_str()), (SECONDARY, TABLE));
    let pk = id.as_str();
    assert_eq!(world.s(pk, "pk"), pk);
    assert_eq!(world.s(pk, "status"), "pending");
    assert_eq!(world.s(pk, "execution_arn"), EXECUTION_ARN, "from the state machine's ARN and the name");
    assert_eq!(world.s(pk, "task_token"), TOKEN, "the token in its own attribute");
    assert_eq!(world.n(pk, "request_expires_at"), T0 + 3600, "the plan's approval timeout");
    assert_eq!(world.n(pk, "expires_at"), T0 + 3600 + 30 * 24 * 3600, "the TTL keeps the audit record 30 days");
    let record = world.record(pk);
    no_token_in("record attribute", &world.s(pk, "record"));
    assert_eq!(record.status, Status::Pending);
    assert_eq!((record.source.as_str(), record.target.as_str(), record.mode), (PRIMARY, SECONDARY, Mode::Unplanned));
    assert_eq!(record.lag_seconds, Some(1.2), "the worst lag");
    assert_eq!(record.rpo_seconds, 5);
    assert_eq!(record.expires_at, T0 + 3600);

    // The e-mail: both links, signed for this stack, and never the token.
    let published = world.published.lock().unwrap().clone();
    assert_eq!(published.len(), 1);
    let p = &published[0];
    for (what, text) in [("subject", &p.subject), ("body", &p.message), ("attributes", &format!("{:?}", p.attributes))]
    {
        no_token_in(what, text);
    }
    assert!(p.subject.len() < 100 && !p.subject.contains('\n'), "{}", p.subject);
    assert_eq!(
        p.subject,
        "[failover retail-store] APPROVE? unplanned failover us-east-1 -> us-west-2 (drill-2027-01-15-0800)"
    );
    let m = &p.message;
    for (label, decision) in [("Approve:", Decision::Approve), ("Reject:", Decision::Reject)] {
        let url = link_of(m, label);
        let query = url.strip_prefix(APPROVAL_URL).unwrap_or_else(|| panic!("{url} is not under {APPROVAL_URL}"));
        let link = verify_query(KEY.as_bytes(), query, at(0), SECONDARY).expect("a link the approval page accepts");
        assert_eq!(
            link,
            Link {
                request_id: id.clone(),
                decision,
                expires_at: T0 + 3600,
                region: SECONDARY.into(),
                plan: "retail-store".into()
            }
        );
    }
    assert!(m.starts_with("DECIDE: unplanned failover of retail-store from us-east-1 to us-west-2?\n"), "{m}");
    assert!(
        m.contains("At risk: up to 1.2 s of writes to us-east-1 not yet replicated to us-west-2 (RPO 5 s)."),
        "{m}"
    );
    assert!(m.contains("  catalog: 1200 ms lag at 2027-01-15 07:59:30Z"), "{m}");
    assert!(m.contains("Expires 2027-01-15 09:00:00Z (in 1 h 00 min)"), "{m}");
    assert!(m.contains("bearer credential"), "{m}");
    assert!(
        m.contains("Only the plan's approvers may decide (type your name as listed): Ana Silva, Ravi Menon."),
        "{m}"
    );
    assert_eq!(record.approvers, ["Ana Silva", "Ravi Menon"], "the plan's approvers, in the record");
    assert!(m.contains("Timeline:\n  2027-01-15 07:59:00Z  +0 s           started"), "{m}");
    assert!(!m.contains("Note: the plan names"), "the plan's secret is the function's: {m}");
    // One screen: the decision, the risk and both links come first.
    let reject_line = m.lines().position(|l| l.starts_with("Reject:")).unwrap();
    assert!(reject_line < 14, "the links are on the first screen: line {reject_line} of\n{m}");
    assert!(p.attributes.contains(&("request_id".to_string(), id.to_string())), "{:?}", p.attributes);
    assert!(p.attributes.contains(&("status".to_string(), "action-required".to_string())));

    // A second request: a new record, and the key was read once for the container.
    let out2 = notify::handle_with(approval_input(), &c, &config).await.expect("published");
    assert_ne!(out2.request_id, out.request_id);
    assert_ne!(out2.dedup_id, out.dedup_id, "each request is its own message");
    assert_eq!(world.items.lock().unwrap().len(), 2);
    assert_eq!(*world.secret_reads.lock().unwrap(), 1, "the signing key is cached");
}

#[tokio::test(start_paused = true)]
async fn notify_says_when_the_plan_names_another_secret_never_the_key() {
    let world = World::new();
    // The plan names another secret than the function's (SECRET_ARN, which signs).
    let other = "arn:aws:secretsmanager:us-west-2:111122223333:secret:failover/other-key-ZzYyXx";
    let mut input = approval_input();
    input.plan.stacks.get_mut(SECONDARY).unwrap().approval_secret = Some(other.into());
    notify::handle_with(input, &clients(&world), &settings(SECRET_ARN)).await.expect("published");
    let m = world.published.lock().unwrap()[0].message.clone();
    assert!(m.contains(&format!("Note: the plan names {other} as this stack's approval secret")), "{m}");
    assert!(m.contains(SECRET_ARN), "{m}");
    assert!(!m.contains(KEY), "never the key: {m}");
    // The same secret named without its random suffix is the same secret.
    let world = World::new();
    let mut input = approval_input();
    input.plan.stacks.get_mut(SECONDARY).unwrap().approval_secret =
        Some("arn:aws:secretsmanager:us-west-2:111122223333:secret:failover/retail-store/approval-key".into());
    notify::handle_with(input, &clients(&world), &settings(SECRET_ARN)).await.expect("published");
    assert!(!world.published.lock().unwrap()[0].message.contains("Note: the plan names"));
}

#[tokio::test(start_paused = true)]
async fn notify_asks_to_continue_unplanned_as_an_unplanned_failover() {
    let world = World::new();
    let mut input = approval_input();
    input.mode = Some(Mode::Planned);
    input.approval.as_mut().unwrap().state = Some(notify::ASK_CONTINUE_UNPLANNED.into());
    input.detail = json!({ "reason": { "kind": "alarms", "alarms": ["retail-store-canary-us-east-1"] } });
    let out = notify::handle_with(input, &clients(&world), &settings(SECRET_ARN)).await.unwrap();
    let record = world.record(out.request_id.unwrap().as_str());
    assert_eq!(record.mode, Mode::Unplanned, "approving continues unplanned: the page must say data may be lost");
    assert_eq!(record.reason, Reason::Alarms { alarms: vec!["retail-store-canary-us-east-1".into()] });
    let p = world.published.lock().unwrap()[0].clone();
    assert!(p.subject.contains("APPROVE? continue as unplanned failover us-east-1 -> us-west-2"), "{}", p.subject);
    assert!(p.message.contains("Why: canary alarms: retail-store-canary-us-east-1"), "{}", p.message);
}

#[tokio::test(start_paused = true)]
async fn notify_records_nothing_and_mails_nothing_without_its_key_or_with_a_broken_configuration() {
    let world = World::new();
    *world.secret.lock().unwrap() = None;
    let err = notify::handle_with(approval_input(), &clients(&world), &settings(SECRET_ARN)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    assert!(err.message.contains(SECRET_ARN), "{err}");
    assert!(world.writes().is_empty() && world.published.lock().unwrap().is_empty());

    let broken = notify::Config::from_values(Some(TABLE.into()), None, Some(APPROVAL_URL.into()), None);
    let err = notify::handle_with(approval_input(), &clients(&world), &broken).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Internal);
    assert!(err.message.contains("APPROVAL_SECRET_ARN not set"), "{err}");
    assert!(world.writes().is_empty() && world.published.lock().unwrap().is_empty());

    assert!(matches!(notify::Config::from_values(None, None, None, None).approvals, ApprovalSetup::Off));
    let http = notify::Config::from_values(
        Some(TABLE.into()),
        Some(SECRET_ARN.into()),
        Some("http://abcdefghij.lambda-url.us-west-2.on.aws/".into()),
        None,
    );
    assert!(
        matches!(http.approvals, ApprovalSetup::Broken(ref p) if p.contains("must be https")),
        "{:?}",
        http.approvals
    );
}

// ---------------------------------------------------------------------------------------
// approval: the page
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_get_shows_the_confirmation_and_decides_nothing() {
    let world = World::new();
    seed(&world, record(Status::Pending));
    let deps = approvals(&world);
    let r = get(&deps, &signed(Decision::Approve)).await;
    assert_eq!(status(&r), 200, "{}", body(&r));
    let b = body(&r);
    assert!(b.contains("Approve failover of retail-store?"), "{b}");
    assert!(b.contains("<form method=\"post\" action=\"/\">"), "{b}");
    assert!(b.contains("bearer credential"), "{b}");
    no_token_in("page", b);
    assert_eq!(r.headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    assert_eq!(r.headers.get("referrer-policy").and_then(|v| v.to_str().ok()), Some("no-referrer"));
    assert_eq!(world.ddb_ops(), vec!["GetItem"], "one read");
    assert_eq!(world.ddb.lock().unwrap()[0].consistent, Some(true), "a consistent read");
    assert!(world.sfn_calls().is_empty(), "a GET calls no Step Functions API");
    assert_eq!(world.s(ID, "status"), "pending");
}

#[tokio::test(start_paused = true)]
async fn a_post_decides_once_and_a_second_post_sends_nothing() {
    let world = World::new();
    seed(&world, record(Status::Pending));
    let deps = approvals(&world);
    let r = post(&deps, &signed(Decision::Approve), "Alice").await;
    assert_eq!(status(&r), 200, "{}", body(&r));
    assert!(body(&r).contains("Approved by Alice"), "{}", body(&r));
    assert!(body(&r).contains("Step Functions took the decision"), "{}", body(&r));
    no_token_in("page", body(&r));

    assert_eq!(world.ddb_ops(), vec!["GetItem", "UpdateItem", "UpdateItem"]);
    let writes = world.writes();
    assert_eq!(
        writes[0].condition.as_deref(),
        Some("#s = :pending AND #x > :now"),
        "decided only if pending, not expired"
    );
    assert_eq!(
        writes[1].condition.as_deref(),
        Some("#s = :decided AND #d = :decision"),
        "delivered only if decided so"
    );
    let calls = world.sfn_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!((calls[0].op, calls[0].region.as_str(), calls[0].token.as_str()), ("SendTaskSuccess", SECONDARY, TOKEN));
    let output: serde_json::Value = serde_json::from_str(calls[0].output.as_deref().unwrap()).unwrap();
    assert_eq!(output["decision"], "approve");
    assert_eq!(output["by"], "Alice");
    assert_eq!(output["from"], IP, "from where");
    assert_eq!(output["request_id"], ID);
    assert_eq!(output["at"], "2027-01-15T08:00:00Z");

    assert_eq!(world.s(ID, "status"), "delivered");
    assert_eq!(world.s(ID, "decided_by"), "Alice");
    assert_eq!(world.s(ID, "decided_from"), IP);
    assert_eq!(world.s(ID, "answer"), "accepted");
    let decided = Decided { decision: Decision::Approve, by: "Alice".into(), from: IP.into(), at: T0 };
    assert_eq!(world.record(ID).status, Status::Delivered { decided, delivered_at: T0, answer: Answer::Accepted });

    // Again (a double click, a replayed form): shown, nothing written, nothing sent.
    world.clear_logs();
    let r = post(&deps, &signed(Decision::Approve), "Mallory").await;
    assert_eq!(status(&r), 200, "{}", body(&r));
    assert!(body(&r).contains("Approved by Alice"), "the first decision stands: {}", body(&r));
    assert_eq!(world.ddb_ops(), vec!["GetItem"]);
    assert!(world.sfn_calls().is_empty());
    // The other decision is refused.
    let r = post(&deps, &signed(Decision::Reject), "Bob").await;
    assert_eq!(status(&r), 409, "{}", body(&r));
    assert!(world.sfn_calls().is_empty() && world.writes().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_decision_step_functions_did_not_take_is_delivered_by_the_next_post() {
    let world = World::new();
    seed(&world, record(Status::Pending));
    world.sfn_script.lock().unwrap().push_back("ServiceUnavailable");
    let deps = approvals(&world);
    let r = post(&deps, &signed(Decision::Approve), "Alice").await;
    assert_eq!(status(&r), 503, "{}", body(&r));
    assert!(body(&r).contains("not delivered yet"), "{}", body(&r));
    assert_eq!(world.s(ID, "status"), "decided", "recorded, not delivered");
    assert_eq!(world.sfn_calls().len(), 1);

    // Opening the link again shows that it is decided and not confirmed; still no call.
    let r = get(&deps, &signed(Decision::Approve)).await;
    assert_eq!(status(&r), 200);
    assert!(body(&r).contains("Already approved by Alice"), "{}", body(&r));
    assert_eq!(world.sfn_calls().len(), 1, "a GET never sends");

    // The next POST sends the same decision again (whoever submits it), then marks it.
    world.clear_logs();
    let r = post(&deps, &signed(Decision::Approve), "Bob").await;
    assert_eq!(status(&r), 200, "{}", body(&r));
    assert!(body(&r).contains("Approved by Alice"), "{}", body(&r));
    let calls = world.sfn_calls();
    assert_eq!(calls.len(), 1);
    let output: serde_json::Value = serde_json::from_str(calls[0].output.as_deref().unwrap()).unwrap();
    assert_eq!(output["by"], "Alice", "the recorded decision, not a new one");
    assert_eq!(world.ddb_ops(), vec!["GetItem", "UpdateItem"], "no second decision write");
    assert_eq!(world.s(ID, "status"), "delivered");
}

#[tokio::test(start_paused = true)]
async fn a_task_that_no_longer_waits_is_already_decided_or_expired() {
    for code in ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"] {
        let world = World::new();
        seed(&world, record(Status::Pending));
        world.sfn_script.lock().unwrap().push_back(code);
        let deps = approvals(&world);
        let r = post(&deps, &signed(Decision::Approve), "Alice").await;
        assert_eq!(status(&r), 200, "{code}: {}", body(&r));
        assert!(
            body(&r).contains(
                "Step Functions no longer waits for this decision: it was delivered earlier, or the approval timed out"
            ),
            "{code}: {}",
            body(&r)
        );
        assert_eq!(world.s(ID, "status"), "delivered", "{code}");
        assert_eq!(world.s(ID, "answer"), "no-longer-waiting", "{code}");
        no_token_in("page", body(&r));
    }
}

#[tokio::test(start_paused = true)]
async fn a_reject_fails_the_task_with_failover_approval_rejected() {
    let world = World::new();
    seed(&world, record(Status::Pending));
    let deps = approvals(&world);
    // The form as a browser may send it through a Function URL: base64.
    let body64 = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}&{}",
        signed(Decision::Reject).trim_start_matches('?'),
        form(&[("name", "Bob Stone")])
    ));
    let r = approval::handle(url_request("POST", "", Some(body64), true), &deps).await.unwrap();
    assert_eq!(status(&r), 200, "{}", body(&r));
    assert!(body(&r).contains("Rejected by Bob Stone"), "{}", body(&r));
    let calls = world.sfn_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].op, "SendTaskFailure");
    assert_eq!(calls[0].token, TOKEN);
    assert_eq!(calls[0].error.as_deref(), Some("Failover.ApprovalRejected"));
    assert!(calls[0].cause.as_deref().unwrap().contains("rejected by Bob Stone"), "{calls:?}");
    assert_eq!(world.s(ID, "decision"), "reject");
    assert_eq!(world.s(ID, "status"), "delivered");
}

#[tokio::test(start_paused = true)]
async fn forged_expired_and_other_region_links_are_refused_before_anything_is_read() {
    let world = World::new();
    seed(&world, record(Status::Pending));
    let deps = approvals(&world);
    let good = signed(Decision::Approve);
    let last = good.chars().last().unwrap();
    let forged = format!("{}{}", &good[..good.len() - 1], if last == '0' { '1' } else { '0' });
    let other_key = sign(OTHER_KEY.as_bytes(), &link(Decision::Approve));
    let expired = sign(KEY.as_bytes(), &Link { expires_at: T0, ..link(Decision::Approve) });
    let other_region = sign(KEY.as_bytes(), &Link { region: PRIMARY.into(), ..link(Decision::Approve) });
    let altered = good.replace("d=approve", "d=reject");
    for (what, query, code) in [
        ("forged signature", forged.as_str(), 403),
        ("another stack's key", other_key.as_str(), 403),
        ("altered decision", altered.as_str(), 403),
        ("expired", expired.as_str(), 410),
        ("the other Region's stack", other_region.as_str(), 421),
        ("incomplete", "?r=0123456789abcdef0123456789abcdef&d=approve", 400),
    ] {
        let r = get(&deps, query).await;
        assert_eq!(status(&r), code, "GET {what}: {}", body(&r));
        assert!(body(&r).contains("Nothing was decided or changed."), "{what}: {}", body(&r));
        let r = post(&deps, query, "Alice").await;
        assert_eq!(status(&r), code, "POST {what}: {}", body(&r));
    }
    assert!(world.ddb_ops().is_empty(), "nothing read or written: {:?}", world.ddb_ops());
    assert!(world.sfn_calls().is_empty());
    assert_eq!(world.s(ID, "status"), "pending");
}

#[tokio::test(start_paused = true)]
async fn a_lost_race_shows_the_decision_that_won() {
    let world = World::new();
    seed(&world, record(Status::Pending));
    // Between Alice's read and her write, Bob rejects.
    let bob = Decided { decision: Decision::Reject, by: "Bob".into(), from: "198.51.100.7".into(), at: T0 - 5 };
    let stored = StoredApproval { record: record(Status::Decided(bob.clone())), task_token: TaskToken::new(TOKEN) };
    *world.interfere.lock().unwrap() = Some(new_item(&stored, T0 - 60, RETENTION).unwrap());
    let deps = approvals(&world);
    let r = post(&deps, &signed(Decision::Approve), "Alice").await;
    assert_eq!(status(&r), 409, "{}", body(&r));
    assert!(body(&r).contains("Already rejected"), "{}", body(&r));
    assert_eq!(world.ddb_ops(), vec!["GetItem", "UpdateItem", "GetItem"], "a failed condition reads again");
    assert!(world.sfn_calls().is_empty(), "Alice's decision is not sent");
    assert_eq!(world.record(ID).status, Status::Decided(bob));
}

#[tokio::test(start_paused = true)]
async fn an_expired_record_is_refused_and_a_missing_one_is_unknown() {
    let world = World::new();
    // The link is valid for an hour, but the stored request expired (its own expiry counts,
    // whether or not the TTL has removed it yet).
    seed(&world, ApprovalRecord { expires_at: T0, ..record(Status::Pending) });
    let deps = approvals(&world);
    let r = post(&deps, &signed(Decision::Approve), "Alice").await;
    assert_eq!(status(&r), 410, "{}", body(&r));
    assert!(world.writes().is_empty() && world.sfn_calls().is_empty());

    let world = World::new();
    let deps = approvals(&world);
    let r = get(&deps, &signed(Decision::Approve)).await;
    assert_eq!(status(&r), 404, "{}", body(&r));
}

#[tokio::test(start_paused = true)]
async fn only_a_broken_configuration_is_a_lambda_error() {
    // The key cannot be read for good: a Lambda error, with the stable name.
    let world = World::new();
    *world.secret.lock().unwrap() = None;
    let deps = approvals(&world);
    let err = approval::handle(url_request("GET", &signed(Decision::Approve), None, false), &deps).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");

    // The table throttles: a page that says to try again.
    let world = World::new();
    seed(&world, record(Status::Pending));
    *world.get_error.lock().unwrap() = Some("ThrottlingException");
    let deps = approvals(&world);
    let r = get(&deps, &signed(Decision::Approve)).await;
    assert_eq!(status(&r), 503, "{}", body(&r));
    assert!(world.sfn_calls().is_empty());

    // Other methods get a page too.
    let r = approval::handle(url_request("PUT", "", None, false), &deps).await.unwrap();
    assert_eq!(status(&r), 405);
    assert_eq!(r.headers.get("allow").and_then(|v| v.to_str().ok()), Some("GET, POST"));

    let err = Config::from_values(Some(SECONDARY.into()), None, None, None).unwrap_err();
    assert!(err.contains("APPROVALS_TABLE is not set") && err.contains("APPROVAL_SECRET_ARN is not set"), "{err}");
}

// ---------------------------------------------------------------------------------------
// The CLI's path
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_cli_decides_through_the_same_record() {
    let world = World::new();
    seed(&world, record(Status::Pending));
    let deps = approvals(&world);
    let principal = "arn:aws:iam::111122223333:user/carol";
    // By name: the state machine's ARN gives the execution's.
    let out = approve_via_api("drill-2027-01-15-0800", Decision::Approve, "Carol", principal, &deps).await.unwrap();
    assert_eq!(out.request_id, id());
    assert_eq!(out.execution_arn, EXECUTION_ARN);
    assert_eq!(
        out.decided,
        Decided { decision: Decision::Approve, by: "Carol".into(), from: principal.into(), at: T0 }
    );
    assert_eq!(out.delivery, Delivery::Answered(Answer::Accepted));
    let calls = world.ddb.lock().unwrap().clone();
    assert_eq!(calls[0].op, "Query");
    assert_eq!(calls[0].index.as_deref(), Some("by-execution"));
    assert_eq!(calls[1].op, "GetItem", "the index is eventually consistent: read the item again");
    assert_eq!(calls[1].consistent, Some(true));
    assert_eq!(world.sfn_calls().len(), 1);
    assert_eq!(world.s(ID, "decided_from"), principal);

    // The link cannot decide otherwise afterwards, and the CLI again sends nothing.
    let r = post(&deps, &signed(Decision::Reject), "Bob").await;
    assert_eq!(status(&r), 409, "{}", body(&r));
    let again = approve_via_api(EXECUTION_ARN, Decision::Approve, "Carol", principal, &deps).await.unwrap();
    assert_eq!(again.decided.by, "Carol");
    assert_eq!(world.sfn_calls().len(), 1, "single use");
    let err = approve_via_api(EXECUTION_ARN, Decision::Reject, "Carol", principal, &deps).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidState, "{err}");

    let err = approve_via_api("no-such-execution", Decision::Approve, "Carol", principal, &deps).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
}

#[tokio::test(start_paused = true)]
async fn the_cli_checks_the_approvers_when_the_record_names_them() {
    let world = World::new();
    seed(&world, ApprovalRecord { approvers: vec!["Alice".into()], ..record(Status::Pending) });
    let deps = approvals(&world);
    let err = approve_via_api(EXECUTION_ARN, Decision::Approve, "Mallory", "arn:aws:iam::111122223333:user/m", &deps)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::AccessDenied, "{err}");
    assert!(world.writes().is_empty() && world.sfn_calls().is_empty());
    let out = approve_via_api(EXECUTION_ARN, Decision::Approve, "alice", "arn:aws:iam::111122223333:user/a", &deps)
        .await
        .unwrap();
    assert_eq!(out.delivery, Delivery::Answered(Answer::Accepted));
}

// ---------------------------------------------------------------------------------------
// The drill's approver, end to end
// ---------------------------------------------------------------------------------------

/// The hidden fields of the page's form, as a browser would post them.
fn hidden_fields(page: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = page;
    while let Some(i) = rest.find("<input type=\"hidden\" name=\"") {
        rest = &rest[i + "<input type=\"hidden\" name=\"".len()..];
        let (name, after) = rest.split_once("\" value=\"").expect("a value");
        let (value, after) = after.split_once('"').expect("a closing quote");
        out.push((name.to_string(), value.to_string()));
        rest = after;
    }
    out
}

#[tokio::test(start_paused = true)]
async fn the_approver_reads_the_mail_opens_the_link_and_submits_the_form() {
    let world = World::new();
    let c = clients(&world);
    notify::handle_with(approval_input(), &c, &settings(SECRET_ARN)).await.unwrap();
    let mail = world.published.lock().unwrap()[0].message.clone();
    let url = link_of(&mail, "Approve:").to_string();
    let query = url.strip_prefix(APPROVAL_URL).unwrap().to_string();

    let deps = approvals(&world);
    let page = get(&deps, &query).await;
    assert_eq!(status(&page), 200, "{}", body(&page));
    assert!(
        body(&page).contains("Only the plan's approvers may decide: Ana Silva, Ravi Menon."),
        "the page says who may decide: {}",
        body(&page)
    );
    let fields = hidden_fields(body(&page));
    assert_eq!(fields.len(), 6, "{fields:?}");
    let submit = |name: &str| {
        let mut fields = fields.clone();
        fields.push(("name".into(), name.into()));
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        url_request("POST", "", Some(form(&pairs)), false)
    };
    // The plan lists its approvers: another name is refused, and nothing is written or sent.
    let writes = world.writes().len();
    let r = approval::handle(submit("Alice"), &deps).await.unwrap();
    assert_eq!(status(&r), 403, "{}", body(&r));
    assert!(body(&r).contains("Not an approver"), "{}", body(&r));
    assert_eq!((world.writes().len(), world.sfn_calls().len()), (writes, 0), "a refused name decides nothing");
    // A listed approver, typed in another case, decides.
    let r = approval::handle(submit("ana silva"), &deps).await.unwrap();
    assert_eq!(status(&r), 200, "{}", body(&r));
    let calls = world.sfn_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!((calls[0].op, calls[0].token.as_str()), ("SendTaskSuccess", TOKEN));
}
