//! Amazon DynamoDB (`dynamodb`, awsJson 1.0, target prefix `DynamoDB_20120810.`): what
//! the approval function and the proposer's lock use, with each Region's tables of its own
//! (no global tables).
//!
//! Operations: `PutItem`, `GetItem`, `UpdateItem`, `DeleteItem`, `Query` (on the table's
//! key or a global secondary index), `Scan`, `CreateTable`, `DescribeTable`, `DeleteTable`,
//! `ListTables`, `UpdateTimeToLive`, `DescribeTimeToLive`; condition, update, key-condition,
//! filter and projection expressions with `ExpressionAttributeNames` and
//! `ExpressionAttributeValues` (`dynamodb/expr.rs`); `ReturnValues`,
//! `ReturnValuesOnConditionCheckFailure`. Errors carry DynamoDB's `__type`
//! (`com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException`,
//! `com.amazon.coral.validate#ValidationException`, ...) and message, so the SDK maps them to
//! its typed errors.
//!
//! Tables come from [`DynamoSettings::tables`] (declared at set-up, `ACTIVE` from the
//! start, e.g. [`TableSpec::approvals`]) or from `CreateTable` (`CREATING` for
//! [`DynamoSettings::creation_delay`]). Time to live follows AWS: an expired item stays
//! readable, and still satisfies conditions, until the sweep deletes it at a seeded delay
//! after expiry ([`TtlSweep`], 24 to 48 hours by default). Every call runs under the
//! service's one lock, so two conditional writes on the same item are serialised: exactly
//! one of two `attribute_not_exists(pk)` puts wins.
//!
//! The server's fault gate applies as everywhere: a request signed for a Region that is
//! down is dropped (or hangs) before it gets here.
//!
//! ```
//! use regionsim::SimBuilder;
//! use regionsim::dynamodb::{AttrValue, DynamoDb, DynamoSettings, TableSpec};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let sim = SimBuilder::new(failover_core::SharedClock::system())
//!     .setting(|s: &mut DynamoSettings| s.tables.push(TableSpec::approvals("failover-approvals")))
//!     .start()
//!     .await
//!     .unwrap();
//! let ddb = sim.service::<DynamoDb>();
//! let item = [("pk".to_string(), AttrValue::s("r1"))].into_iter().collect();
//! ddb.put_item("us-east-1", "failover-approvals", item).unwrap();
//! assert!(ddb.item("us-east-1", "failover-approvals", &AttrValue::s("r1")).is_some());
//! assert!(ddb.item("us-west-2", "failover-approvals", &AttrValue::s("r1")).is_none());
//! # });
//! ```

pub mod expr;
pub mod model;
pub mod value;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

pub use model::{DdbError, DynamoModel, IndexSpec, KeyType, Projection, TableSpec, TtlDeletion, TtlSweep};
pub use value::{AttrValue, Item, Number};

use crate::server::{ApiError, HttpService, Request, Response, ResponseFuture};
use crate::services::service;
use crate::sim::{Setup, WeakSim, lock};
use crate::wire;

const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
const TARGET_PREFIX: &str = "DynamoDB_20120810.";

/// The DynamoDB service's settings (`SimBuilder::setting::<DynamoSettings>`).
#[derive(Debug, Clone)]
pub struct DynamoSettings {
    /// Tables that exist from the start, `ACTIVE`, in their Regions (both by default).
    pub tables: Vec<TableSpec>,
    /// When TTL deletes expired items.
    pub ttl_sweep: TtlSweep,
    /// How long a table created through `CreateTable` is `CREATING` (item operations on it
    /// answer `ResourceNotFoundException` meanwhile, as in AWS). 5 s by default: AWS
    /// documents no figure; on-demand tables without indexes take seconds.
    pub creation_delay: Duration,
}

impl Default for DynamoSettings {
    fn default() -> Self {
        Self { tables: Vec::new(), ttl_sweep: TtlSweep::default(), creation_delay: Duration::from_secs(5) }
    }
}

/// Simulated DynamoDB with the tables of both Regions: `sim.service::<DynamoDb>()`.
pub struct DynamoDb {
    sim: WeakSim,
    state: Mutex<DynamoModel>,
}

impl DynamoDb {
    /// Declares the settings' tables and serves DynamoDB on a shared port
    /// (`AWS_ENDPOINT_URL_DYNAMODB`).
    pub fn register(setup: &mut Setup<'_>) {
        let settings: DynamoSettings = setup.setting();
        let mut model = DynamoModel::new(settings.ttl_sweep.clone(), settings.creation_delay);
        let pair = setup.sim().regions().to_vec();
        for spec in &settings.tables {
            let regions = if spec.regions.is_empty() { pair.clone() } else { spec.regions.clone() };
            for region in regions {
                model.declare(&region, spec.clone(), setup.now());
            }
        }
        let svc = Arc::new(DynamoDb { sim: setup.sim().downgrade(), state: Mutex::new(model) });
        setup.serve_shared(service::DYNAMODB, Some("AWS_ENDPOINT_URL_DYNAMODB"), svc);
    }

    fn now(&self) -> SystemTime {
        self.sim.upgrade().map_or(SystemTime::UNIX_EPOCH, |s| s.clock().now())
    }

    /// The tables, locked, with the TTL sweep caught up to now.
    pub fn state(&self) -> MutexGuard<'_, DynamoModel> {
        let now = self.now();
        let mut state = lock(&self.state);
        state.sweep(now);
        state
    }

    /// Adds a table to `region`, `ACTIVE` at once (replaces one of the same name).
    pub fn declare_table(&self, region: &str, spec: TableSpec) {
        let now = self.now();
        lock(&self.state).declare(region, spec, now);
    }

    /// The item of `table` in `region` whose partition key is `key`, as a read now sees it.
    pub fn item(&self, region: &str, table: &str, key: &AttrValue) -> Option<Item> {
        self.state().table(region, table)?.get(key).cloned()
    }

    /// Every item of `table` in `region`, in key order.
    pub fn items(&self, region: &str, table: &str) -> Vec<Item> {
        self.state()
            .table(region, table)
            .map(|t| t.items.values().map(|s| s.attrs.clone()).collect())
            .unwrap_or_default()
    }

    /// Stores an item as an unconditional `PutItem` would (for set-up and tests).
    pub fn put_item(&self, region: &str, table: &str, item: Item) -> Result<(), DdbError> {
        let now = self.now();
        let mut state = self.state();
        state.put(region, table, item, now)
    }

    /// When TTL deletes the item whose partition key is `key` (if it is set to expire).
    pub fn sweep_due(&self, region: &str, table: &str, key: &AttrValue) -> Option<SystemTime> {
        self.state().sweep_due(region, table, key)
    }

    /// Every item TTL deleted so far, in order.
    pub fn ttl_deletions(&self) -> Vec<TtlDeletion> {
        self.state().ttl_deletions.clone()
    }

    fn call(&self, req: &Request) -> Result<Value, DdbError> {
        let sim = self.sim.upgrade().ok_or_else(|| DdbError::new(500, "InternalServerError", "simulator stopped"))?;
        let region = req.region.clone().unwrap_or_else(|| sim.regions()[0].clone());
        let target = req.header("x-amz-target").unwrap_or("");
        let op = target
            .strip_prefix(TARGET_PREFIX)
            .ok_or_else(|| DdbError::new(400, "UnknownOperationException", format!("unknown target `{target}`")))?;
        let input: Value = if req.body.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(&req.body)
                .map_err(|e| DdbError::new(400, "SerializationException", format!("invalid JSON: {e}")))?
        };
        let now = sim.clock().now();
        drop(sim);
        lock(&self.state).call(&region, op, &input, now)
    }
}

/// The namespace DynamoDB puts before an error code in `__type`.
fn namespace(code: &str) -> &'static str {
    match code {
        "ValidationException" => "com.amazon.coral.validate#",
        "SerializationException" | "UnknownOperationException" => "com.amazon.coral.service#",
        "ThrottlingException" => "com.amazon.coral.availability#",
        _ => "com.amazonaws.dynamodb.v20120810#",
    }
}

/// An error as DynamoDB answers it: `{"__type": "<namespace>#<Code>", "message": ...}`
/// (and the item, for a failed condition with `ReturnValuesOnConditionCheckFailure`).
fn error(status: u16, code: &str, message: &str, item: Option<&Item>) -> Response {
    let kind = if code.contains('#') { code.to_string() } else { format!("{}{code}", namespace(code)) };
    let mut body = json!({ "__type": kind, "message": message });
    if let Some(item) = item {
        body["Item"] = value::item_to_json(item);
    }
    Response::new(status, CONTENT_TYPE, body.to_string()).with_header("x-amzn-requestid", &wire::request_id())
}

impl HttpService for DynamoDb {
    fn handle(&self, req: Request) -> ResponseFuture {
        let resp = match self.call(&req) {
            Ok(v) => wire::json_response(CONTENT_TYPE, &v),
            Err(e) => error(e.status, e.code, &e.message, e.item.as_ref()),
        };
        Box::pin(async move { resp })
    }

    /// `dynamodb:<Operation>` on the table, or on the index a Query or Scan names (IAM
    /// evaluates `table/T/index/I` for those).
    fn authorizations(&self, req: &Request, operation: &str) -> Vec<crate::iam::Authorization> {
        let input: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let region = req.region.clone().or_else(|| self.sim.upgrade().map(|s| s.regions()[0].clone()));
        let region = region.unwrap_or_default();
        let table = input.get("TableName").and_then(Value::as_str).unwrap_or("");
        let mut arn = format!("arn:aws:dynamodb:{region}:{}:table/{table}", crate::iam::SIMULATED_ACCOUNT);
        if let Some(index) = input.get("IndexName").and_then(Value::as_str) {
            arn = format!("{arn}/index/{index}");
        }
        vec![crate::iam::Authorization::new(format!("dynamodb:{operation}"), arn)]
    }

    fn is_mutating(&self, operation: &str) -> bool {
        !(matches!(operation, "GetItem" | "Query" | "Scan" | "BatchGetItem" | "TransactGetItems")
            || operation.starts_with("Describe")
            || operation.starts_with("List"))
    }

    fn error_response(&self, _req: &Request, err: &ApiError) -> Response {
        error(err.status, &err.code, &err.message, None)
    }

    fn internal_error(&self) -> ApiError {
        ApiError::new(500, "InternalServerError", "Internal server error")
    }

    fn throttling_error(&self) -> ApiError {
        ApiError::new(
            400,
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded. Consider increasing your \
             provisioning level with the UpdateTable API.",
        )
    }
}
