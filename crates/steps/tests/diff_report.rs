//! diff-report over aws-smithy-mocks S3 and Secrets Manager clients and real SQLite
//! databases (rowdiff's SQLite source; PostgreSQL and MariaDB are tested in rowdiff), and
//! once over HTTP against regionsim's S3 and Secrets Manager.
//!
//! The S3 mock is a small in-memory bucket: PutObject stores the body and the encryption
//! headers, GetObject serves what was stored or NoSuchKey, so idempotency is observable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::operation::put_object::{PutObjectError, PutObjectOutput};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_sdk_s3::types::error::NoSuchKey;
use aws_sdk_secretsmanager::operation::get_secret_value::{GetSecretValueError, GetSecretValueOutput};
use aws_sdk_secretsmanager::types::error::ResourceNotFoundException;
use aws_smithy_mocks::{MockResponse, Rule, RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use failover_core::contract::ExecutionRef;
use failover_core::contract::diff_report::{DiffAction, DiffReportInput, DiffReportOutput, RangePart, TableCounts};
use failover_core::contract::snapshot::RecoveryCluster;
use failover_core::{ErrorKind, Plan, SharedClock, StepError};
use failover_steps::aws::{AwsClients, Regional};
use failover_steps::diff_report::{AwsConnector, Connector, DbCredentials, DbTarget, Resolve, Side, handle};
use futures::future::BoxFuture;
use rowdiff::{Source, SourceConfig};

const PLAN: &str = include_str!("../../../examples/retail-store.plan.yaml");
const OLD: &str = "us-east-1";
const NEW: &str = "us-west-2";
const EXEC: &str = "recovery-2027-01-15-0800";
const BUCKET: &str = "failover-retail-store-reports-111122223333-us-west-2";
const PREFIX: &str = "reports/retail-store/recovery-2027-01-15-0800/orders/";
const RECOVERY_SECRET: &str = "arn:aws:secretsmanager:us-east-1:111122223333:secret:rds!cluster-0123-AbCdEf";
const NEW_SECRET: &str = "arn:aws:secretsmanager:us-west-2:111122223333:secret:retail/orders/report-StUvWx";
const FAILOVER_AT: &str = "2027-01-15T07:50:00Z";
const BEFORE: &str = "2027-01-15 07:00:00";
const AFTER: &str = "2027-01-15 08:10:00";
/// When the old primary wrote what the new one never received: after the last replicated
/// write (`BEFORE`), before the failover.
const LOST_AT: &str = "2027-01-15 07:30:00";

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn plan() -> Plan {
    Plan::from_yaml(PLAN).expect("the example plan is valid")
}

fn recovery() -> RecoveryCluster {
    RecoveryCluster {
        cluster: "failover-orders-recovery-2027-01-15-0800".into(),
        instance: "failover-orders-recovery-2027-01-15-0800-1".into(),
        region: OLD.into(),
        status: "available".into(),
        instance_status: "available".into(),
        endpoint: Some("failover-orders-recovery-2027-01-15-0800.cluster-abc.us-east-1.rds.amazonaws.com".into()),
        port: Some(5432),
        engine: Some("aurora-postgresql".into()),
        engine_version: Some("16.4".into()),
        master_username: Some("postgres".into()),
        master_user_secret_arn: Some(RECOVERY_SECRET.into()),
    }
}

fn input(plan: Plan) -> DiffReportInput {
    DiffReportInput {
        plan,
        database: "orders".into(),
        old_region: OLD.into(),
        new_region: NEW.into(),
        action: DiffAction::Diff,
        recovery: recovery(),
        execution: ExecutionRef { name: EXEC.into(), started_at: "2027-01-15T08:00:00Z".into() },
        failover_started_at: FAILOVER_AT.into(),
        tables: None,
        key_range: None,
        parts_per_table: None,
        parts: vec![],
    }
}

fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

// ----- the databases -----

/// Two SQLite files: the old primary as restored, and the new primary's reader.
struct Dbs {
    _dir: tempfile::TempDir,
    old: PathBuf,
    new: PathBuf,
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, amount TEXT, status TEXT, \
     created_at TEXT NOT NULL, updated_at TEXT)",
    "CREATE TABLE order_items (order_id INTEGER NOT NULL, product_id INTEGER NOT NULL, qty INTEGER NOT NULL, \
     created_at TEXT NOT NULL, updated_at TEXT, PRIMARY KEY (order_id, product_id))",
];

fn exec(path: &Path, sql: &[String]) {
    let c = rusqlite::Connection::open(path).unwrap();
    for s in sql {
        c.execute_batch(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    }
}

/// The lost orders (inserted on the old side after the last replicated write, so only there)
/// and the other edits the report must find.
const LOST_ORDERS: [i64; 5] = [3, 17, 42, 77, 99];
const CHANGED_ORDERS: [i64; 4] = [5, 20, 60, 100];
/// Only `updated_at` (an ignored column) differs.
const TOUCHED_ORDERS: [i64; 2] = [8, 9];
const NEW_ORDERS: [i64; 3] = [201, 202, 203];
const AFTER_ORDERS: [i64; 6] = [301, 302, 303, 304, 305, 306];

fn dbs() -> Dbs {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.sqlite");
    let new = dir.path().join("new.sqlite");
    let mut both: Vec<String> = SCHEMA.iter().map(|s| s.to_string()).collect();
    for id in 1..=100i64 {
        both.push(format!(
            "INSERT INTO orders VALUES ({id}, {}, '{}.50', 'placed', '{BEFORE}', '{BEFORE}')",
            id % 7,
            id * 3
        ));
    }
    for o in 1..=25i64 {
        for p in [1i64, 2] {
            both.push(format!("INSERT INTO order_items VALUES ({o}, {p}, {}, '{BEFORE}', '{BEFORE}')", o + p));
        }
    }
    exec(&old, &both);
    exec(&new, &both);
    // The lost rows carry the time they were written on the old side, after the failover point.
    let mut lost: Vec<String> = LOST_ORDERS
        .iter()
        .map(|id| format!("UPDATE orders SET created_at = '{LOST_AT}', updated_at = '{LOST_AT}' WHERE id = {id}"))
        .collect();
    lost.push(format!(
        "UPDATE order_items SET created_at = '{LOST_AT}', updated_at = '{LOST_AT}' \
         WHERE (order_id = 4 AND product_id = 2) OR (order_id = 11 AND product_id = 1)"
    ));
    exec(&old, &lost);
    let mut edits = Vec::new();
    for id in LOST_ORDERS {
        edits.push(format!("DELETE FROM orders WHERE id = {id}"));
    }
    for id in CHANGED_ORDERS {
        edits.push(format!("UPDATE orders SET amount = '0.01' WHERE id = {id}"));
    }
    for id in TOUCHED_ORDERS {
        edits.push(format!("UPDATE orders SET updated_at = '{AFTER}' WHERE id = {id}"));
    }
    for id in NEW_ORDERS {
        edits.push(format!("INSERT INTO orders VALUES ({id}, 1, '9.99', 'placed', '{BEFORE}', '{BEFORE}')"));
    }
    for id in AFTER_ORDERS {
        edits.push(format!("INSERT INTO orders VALUES ({id}, 2, '1.00', 'placed', '{AFTER}', '{AFTER}')"));
    }
    // order_items: two lost, one changed, one written after the failover.
    edits.push("DELETE FROM order_items WHERE order_id = 4 AND product_id = 2".into());
    edits.push("DELETE FROM order_items WHERE order_id = 11 AND product_id = 1".into());
    edits.push("UPDATE order_items SET qty = 99 WHERE order_id = 7 AND product_id = 1".into());
    edits.push(format!("INSERT INTO order_items VALUES (301, 1, 1, '{AFTER}', '{AFTER}')"));
    exec(&new, &edits);
    Dbs { _dir: dir, old, new }
}

/// Opens the SQLite files whatever the target, recording the targets asked for.
struct SqliteConnector {
    old: PathBuf,
    new: PathBuf,
    seen: Mutex<Vec<DbTarget>>,
}

impl SqliteConnector {
    fn new(d: &Dbs) -> Self {
        SqliteConnector { old: d.old.clone(), new: d.new.clone(), seen: Mutex::default() }
    }
    fn seen(&self) -> Vec<DbTarget> {
        self.seen.lock().unwrap().clone()
    }
}

impl Connector for SqliteConnector {
    fn source(&self, target: DbTarget) -> BoxFuture<'_, Result<Source, StepError>> {
        Box::pin(async move {
            let path = if target.side == Side::Old { &self.old } else { &self.new };
            self.seen.lock().unwrap().push(target);
            SourceConfig::sqlite(path).connect().await.map_err(|e| StepError::internal(e.to_string()))
        })
    }
}

// ----- S3 and Secrets Manager mocks -----

#[derive(Debug, Clone)]
struct Stored {
    body: Vec<u8>,
    sse: Option<ServerSideEncryption>,
    kms: Option<String>,
    content_type: Option<String>,
}

/// An in-memory bucket behind mocked S3 clients, one per Region.
#[derive(Clone, Default)]
struct FakeS3 {
    objects: Arc<Mutex<BTreeMap<(String, String), Stored>>>,
    /// Keys in the order they were written.
    puts: Arc<Mutex<Vec<String>>>,
    gets: Arc<Mutex<Vec<String>>>,
    regions: Arc<Mutex<Vec<String>>>,
    deny_get: bool,
    deny_put: bool,
}

impl FakeS3 {
    fn rules(&self) -> Vec<Rule> {
        let objects = self.objects.clone();
        let puts = self.puts.clone();
        let deny_put = self.deny_put;
        let put = mock!(aws_sdk_s3::Client::put_object).then_compute_response(move |r| {
            if deny_put {
                return MockResponse::Error(PutObjectError::generic(meta("AccessDenied", "Access Denied")));
            }
            let key = (r.bucket().unwrap().to_string(), r.key().unwrap().to_string());
            puts.lock().unwrap().push(key.1.clone());
            let body = r.body().bytes().expect("an in-memory body").to_vec();
            objects.lock().unwrap().insert(
                key,
                Stored {
                    body,
                    sse: r.server_side_encryption().cloned(),
                    kms: r.ssekms_key_id().map(str::to_string),
                    content_type: r.content_type().map(str::to_string),
                },
            );
            MockResponse::Output(PutObjectOutput::builder().build())
        });
        let objects = self.objects.clone();
        let gets = self.gets.clone();
        let deny_get = self.deny_get;
        let get = mock!(aws_sdk_s3::Client::get_object).then_compute_response(move |r| {
            if deny_get {
                return MockResponse::Error(GetObjectError::generic(meta("AccessDenied", "Access Denied")));
            }
            let key = (r.bucket().unwrap().to_string(), r.key().unwrap().to_string());
            gets.lock().unwrap().push(key.1.clone());
            match objects.lock().unwrap().get(&key) {
                Some(o) => {
                    MockResponse::Output(GetObjectOutput::builder().body(ByteStream::from(o.body.clone())).build())
                }
                None => MockResponse::Error(GetObjectError::NoSuchKey(
                    NoSuchKey::builder()
                        .message("The specified key does not exist.")
                        .meta(meta("NoSuchKey", "no"))
                        .build(),
                )),
            }
        });
        vec![put, get]
    }

    fn object(&self, key: &str) -> Option<Stored> {
        self.objects.lock().unwrap().get(&(BUCKET.to_string(), key.to_string())).cloned()
    }

    fn summary(&self, prefix: &str) -> DiffReportOutput {
        serde_json::from_slice(&self.object(&format!("{prefix}summary.json")).expect("summary written").body).unwrap()
    }

    fn puts(&self) -> Vec<String> {
        self.puts.lock().unwrap().clone()
    }
}

/// Secrets per Region: `(arn, value)`; any other secret is ResourceNotFoundException.
fn secret_rules(secrets: Vec<(&'static str, String)>) -> Vec<Rule> {
    let get = mock!(aws_sdk_secretsmanager::Client::get_secret_value).then_compute_response(move |r| {
        let id = r.secret_id().unwrap_or_default();
        match secrets.iter().find(|(arn, _)| *arn == id) {
            Some((arn, v)) => {
                MockResponse::Output(GetSecretValueOutput::builder().arn(*arn).secret_string(v.clone()).build())
            }
            None => MockResponse::Error(GetSecretValueError::ResourceNotFoundException(
                ResourceNotFoundException::builder()
                    .message("Secrets Manager can't find the specified secret.")
                    .meta(meta("ResourceNotFoundException", "Secrets Manager can't find the specified secret."))
                    .build(),
            )),
        }
    });
    vec![get]
}

struct Env {
    clients: AwsClients,
    s3: FakeS3,
    secrets_asked: Arc<Mutex<Vec<(String, String)>>>,
}

fn env_with(s3: FakeS3, secrets: Vec<(&'static str, String)>) -> Env {
    let clock = SharedClock::virtual_at(t0());
    let mut clients = AwsClients::from_sdk_config(aws_config::SdkConfig::builder().build(), clock);
    let fake = s3.clone();
    clients.s3 = Arc::new(Regional::from_fn(move |region| {
        fake.regions.lock().unwrap().push(region.to_string());
        let rules = fake.rules();
        let region = region.to_string();
        mock_client!(aws_sdk_s3, RuleMode::MatchAny, rules.iter(), move |c: aws_sdk_s3::config::Builder| c
            .region(aws_sdk_s3::config::Region::new(region.clone())))
    }));
    let asked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let asked2 = asked.clone();
    clients.secrets = Arc::new(Regional::from_fn(move |region| {
        let rules = secret_rules(secrets.clone());
        let region = region.to_string();
        let asked = asked2.clone();
        mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::MatchAny,
            rules.iter(),
            move |c: aws_sdk_secretsmanager::config::Builder| {
                asked.lock().unwrap().push(("client".into(), region.clone()));
                c.region(aws_sdk_secretsmanager::config::Region::new(region.clone()))
            }
        )
    }));
    Env { clients, s3, secrets_asked: asked }
}

fn env() -> Env {
    env_with(FakeS3::default(), vec![])
}

/// Lost inserts, lost deletes, lost updates, and keys changed after the failover; nothing else.
fn counts(out: &DiffReportOutput, table: &str) -> (u64, u64, u64, u64) {
    let c: &TableCounts =
        out.tables.iter().find(|c| c.table == table).unwrap_or_else(|| panic!("no {table}: {out:#?}"));
    assert_eq!(c.lost, c.lost_insert + c.lost_delete + c.lost_update, "no conflict or reused id here: {c:?}");
    (c.lost_insert, c.lost_delete, c.lost_update, c.after_failover)
}

fn lost_ids(jsonl: &[u8], table: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = String::from_utf8_lossy(jsonl)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["table"] == table && v["class"] == "lost-insert")
        // SQLite keeps the stored integer; PostgreSQL and MySQL give canonical text.
        .map(|v| v["key"]["id"].as_i64().or_else(|| v["key"]["id"].as_str()?.parse().ok()).unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

// ----- the tests -----

#[tokio::test(start_paused = true)]
async fn the_report_has_exact_counts_encrypted_files_and_is_not_recomputed() {
    let d = dbs();
    let e = env();
    let conn = SqliteConnector::new(&d);
    let out = handle(input(plan()), &e.clients, &conn).await.expect("the report is written");

    assert_eq!(counts(&out, "orders"), (5, 3, 4, 6), "lost, new, changed, after: {out:#?}");
    assert_eq!(counts(&out, "order_items"), (2, 0, 1, 1));
    let t = out.totals;
    assert_eq!((t.lost_insert, t.lost_delete, t.lost_update, t.after_failover), (7, 3, 5, 7));
    assert_eq!((t.lost, t.inserted_after), (15, 7));
    // Classified against the last write the new primary had from before the failover.
    assert_eq!(out.compared.as_ref().and_then(|c| c.failover_point.as_deref()), Some("2027-01-15 07:00:00.000000"));
    assert!(!out.identical && !out.reused);
    let orders = out.tables.iter().find(|c| c.table == "orders").unwrap();
    assert_eq!((orders.old_rows, orders.new_rows), (100, 104));

    // What was compared: the recovery cluster and the new primary's reader, each with its secret.
    let seen = conn.seen();
    assert_eq!(seen.len(), 2);
    let old = seen.iter().find(|t| t.side == Side::Old).unwrap();
    let new = seen.iter().find(|t| t.side == Side::New).unwrap();
    assert_eq!(old.host, recovery().endpoint.unwrap());
    assert_eq!((old.region.as_str(), old.port, old.secret_arn.as_str()), (OLD, 5432, RECOVERY_SECRET));
    assert_eq!(new.host, "retail-orders-usw2.cluster-ro-mnopqrstuvwx.us-west-2.rds.amazonaws.com");
    assert_eq!((new.region.as_str(), new.port, new.secret_arn.as_str()), (NEW, 5432, NEW_SECRET));
    assert_eq!(new.cluster, "retail-orders-usw2");
    assert_eq!((old.database.as_str(), new.database.as_str()), ("orders", "orders"));

    // Every file under the prefix in the new primary's Region's bucket, the summary last,
    // every one with SSE-KMS.
    let expected: Vec<String> = ["differences.jsonl", "orders.csv", "order_items.csv", "report.html", "summary.json"]
        .iter()
        .map(|f| format!("{PREFIX}{f}"))
        .collect();
    assert_eq!(e.s3.puts(), expected);
    assert!(e.s3.regions.lock().unwrap().iter().all(|r| r == NEW), "S3 is called in the new primary's Region only");
    for k in &expected {
        let o = e.s3.object(k).unwrap();
        // `aws:kms` without a key id would be the AWS managed aws/s3 key, not the bucket's.
        assert_eq!(
            (o.sse, o.kms),
            (None, None),
            "{k}: the plan names no KMS key for orders: no headers, the bucket's default (SSE-KMS, the stack's key)"
        );
    }
    assert_eq!(e.s3.object(&expected[4]).unwrap().content_type.as_deref(), Some("application/json"));
    let loc = out.report.as_ref().unwrap();
    assert_eq!((loc.bucket.as_str(), loc.region.as_str(), loc.prefix.as_str()), (BUCKET, NEW, PREFIX));
    assert_eq!(loc.summary, expected[4]);
    assert_eq!(loc.html, expected[3]);
    assert_eq!(loc.jsonl.as_deref(), Some(expected[0].as_str()));
    let csv: Vec<(&str, &str)> = loc.csv.iter().map(|c| (c.table.as_str(), c.key.as_str())).collect();
    assert_eq!(csv, vec![("orders", expected[1].as_str()), ("order_items", expected[2].as_str())]);
    assert_eq!(loc.encryption, "aws:kms");

    // The files hold the rows: the lost orders in full, in JSONL, CSV and HTML.
    let jsonl = e.s3.object(&expected[0]).unwrap().body;
    assert_eq!(lost_ids(&jsonl, "orders"), LOST_ORDERS.to_vec());
    let csv = String::from_utf8(e.s3.object(&expected[1]).unwrap().body).unwrap();
    assert_eq!(csv.lines().filter(|l| l.starts_with("\"lost-insert\",\"old\"")).count(), 5);
    assert!(!csv.contains("updated_at"), "the ignored column is left out: {}", csv.lines().next().unwrap());
    let html = String::from_utf8(e.s3.object(&expected[3]).unwrap().body).unwrap();
    assert!(html.contains("Missing-transaction report: orders (recovery-2027-01-15-0800)"));
    assert!(html.contains("<strong>15</strong> key(s) with a lost write"), "{html}");
    let mut stored = e.s3.summary(PREFIX);
    assert_eq!(stored, out, "summary.json is the output");
    assert!(!String::from_utf8_lossy(&serde_json::to_vec(&stored).unwrap()).contains("password"));

    // Invoked again (a Retry or a redrive): the summary is returned, nothing is recomputed.
    let again = handle(input(plan()), &e.clients, &conn).await.unwrap();
    assert!(again.reused);
    stored.reused = true;
    assert_eq!(again, stored);
    assert_eq!(conn.seen().len(), 2, "no new connection");
    assert_eq!(e.s3.puts().len(), 5, "nothing rewritten");
}

#[tokio::test(start_paused = true)]
async fn the_plans_kms_key_for_the_region_encrypts_the_files() {
    let d = dbs();
    let e = env();
    let mut p = plan();
    let key = "arn:aws:kms:us-west-2:111122223333:key/66666666-7777-8888-9999-000000000000";
    p.databases[1].recovery.kms_keys.insert(NEW.into(), key.into());
    let out = handle(input(p), &e.clients, &SqliteConnector::new(&d)).await.unwrap();
    assert_eq!(out.report.as_ref().unwrap().kms_key_id.as_deref(), Some(key));
    for k in e.s3.puts() {
        let o = e.s3.object(&k).unwrap();
        assert_eq!((o.sse, o.kms.as_deref()), (Some(ServerSideEncryption::AwsKms), Some(key)), "{k}");
    }
}

#[tokio::test(start_paused = true)]
async fn access_denied_on_the_bucket_is_access_denied_before_any_database_is_read() {
    let d = dbs();
    let e = env_with(FakeS3 { deny_get: true, ..Default::default() }, vec![]);
    let conn = SqliteConnector::new(&d);
    let err = handle(input(plan()), &e.clients, &conn).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::AccessDenied, "{err}");
    assert!(err.message.contains(BUCKET) && err.message.contains("AccessDenied"), "{err}");
    assert!(conn.seen().is_empty());

    let e = env_with(FakeS3 { deny_put: true, ..Default::default() }, vec![]);
    let err = handle(input(plan()), &e.clients, &conn).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::AccessDenied, "{err}");
    assert!(err.message.contains("PutObject"), "{err}");
    assert!(e.s3.object(&format!("{PREFIX}summary.json")).is_none());
}

fn creds_json(user: &str) -> String {
    serde_json::json!({"username": user, "password": "pa55-w0rd-never-logged", "engine": "postgres"}).to_string()
}

/// Reads the secrets through Secrets Manager like production, then opens the SQLite files.
fn sqlite_resolver(d: &Dbs, seen: Arc<Mutex<Vec<(Side, String)>>>) -> Resolve {
    let (old, new) = (d.old.clone(), d.new.clone());
    Arc::new(move |t: &DbTarget, c: DbCredentials| {
        seen.lock().unwrap().push((t.side, c.username.clone()));
        Ok(SourceConfig::sqlite(if t.side == Side::Old { &old } else { &new }))
    })
}

#[tokio::test(start_paused = true)]
async fn a_missing_secret_is_not_found() {
    let d = dbs();
    let e = env_with(FakeS3::default(), vec![(NEW_SECRET, creds_json("report"))]);
    let seen = Arc::default();
    let conn = AwsConnector::with_resolver(e.clients.clone(), sqlite_resolver(&d, seen), Duration::from_secs(5));
    let err = handle(input(plan()), &e.clients, &conn).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    assert!(err.message.contains(RECOVERY_SECRET) && err.message.contains("ResourceNotFoundException"), "{err}");
    assert!(e.s3.puts().is_empty());
}

#[tokio::test(start_paused = true)]
async fn secrets_are_read_in_their_own_region_and_the_password_stays_out_of_logs() {
    let d = dbs();
    let e = env_with(
        FakeS3::default(),
        vec![(RECOVERY_SECRET, creds_json("postgres")), (NEW_SECRET, creds_json("report"))],
    );
    let seen: Arc<Mutex<Vec<(Side, String)>>> = Arc::default();
    let conn =
        AwsConnector::with_resolver(e.clients.clone(), sqlite_resolver(&d, seen.clone()), Duration::from_secs(5));
    let out = handle(input(plan()), &e.clients, &conn).await.unwrap();
    assert_eq!(out.totals.lost_insert, 7);
    let mut users = seen.lock().unwrap().clone();
    users.sort_by_key(|(s, _)| *s == Side::New);
    assert_eq!(users, vec![(Side::Old, "postgres".to_string()), (Side::New, "report".to_string())]);
    let mut regions: Vec<String> = e.secrets_asked.lock().unwrap().iter().map(|(_, r)| r.clone()).collect();
    regions.sort();
    regions.dedup();
    assert_eq!(regions, vec![OLD.to_string(), NEW.to_string()], "each secret in its own Region");

    let c = DbCredentials { username: "u".into(), password: "pa55-w0rd-never-logged".into() };
    assert!(!format!("{c:?}").contains("pa55"));
    // A secret that is not the expected JSON is named without quoting its value.
    let e = env_with(FakeS3::default(), vec![(RECOVERY_SECRET, "\"pa55-w0rd\"".into()), (NEW_SECRET, creds_json("r"))]);
    let conn =
        AwsConnector::with_resolver(e.clients.clone(), sqlite_resolver(&d, Arc::default()), Duration::from_secs(5));
    let err = handle(input(plan()), &e.clients, &conn).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadInput, "{err}");
    assert!(err.message.contains(RECOVERY_SECRET) && !err.message.contains("pa55"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_writer_endpoint_is_refused_before_anything_is_called() {
    let d = dbs();
    let e = env();
    let conn = SqliteConnector::new(&d);
    let mut p = plan();
    p.databases[1]
        .report
        .as_mut()
        .unwrap()
        .reader_endpoints
        .insert(NEW.into(), "retail-orders-usw2.cluster-mnopqrstuvwx.us-west-2.rds.amazonaws.com".into());
    let err = handle(input(p), &e.clients, &conn).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadInput, "{err}");
    assert!(err.message.contains("reader_endpoints.us-west-2") && err.message.contains("writer"), "{err}");
    assert!(conn.seen().is_empty());
    assert!(e.s3.regions.lock().unwrap().is_empty(), "no S3 client was even built");
}

#[tokio::test(start_paused = true)]
async fn bad_input_names_the_field() {
    let d = dbs();
    let e = env();
    let conn = SqliteConnector::new(&d);
    type Edit = Box<dyn Fn(&mut DiffReportInput)>;
    let cases: Vec<(Edit, &str)> = vec![
        (Box::new(|i| i.new_region = OLD.into()), "new_region"),
        (Box::new(|i| i.database = "nope".into()), "database"),
        (Box::new(|i| i.tables = Some(vec!["carts".into()])), "tables[0]"),
        (Box::new(|i| i.tables = Some(vec![])), "tables"),
        (Box::new(|i| i.recovery.engine = Some("aurora-mysql".into())), "recovery.engine"),
        (Box::new(|i| i.recovery.endpoint = None), "recovery.endpoint"),
        (Box::new(|i| i.failover_started_at = "yesterday".into()), "failover_started_at"),
        (
            Box::new(|i| {
                i.key_range = Some(RangePart {
                    table: "order_items".into(),
                    index: 0,
                    count: 2,
                    lower: Some(vec!["1".into()]),
                    upper: None,
                })
            }),
            "key_range.lower",
        ),
        (
            Box::new(|i| {
                i.action = DiffAction::PlanRanges;
                i.parts_per_table = Some(10_000);
            }),
            "parts_per_table",
        ),
        (Box::new(|i| i.action = DiffAction::Merge), "parts"),
    ];
    for (edit, field) in cases {
        let mut i = input(plan());
        edit(&mut i);
        let err = handle(i, &e.clients, &conn).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadInput, "{field}: {err}");
        assert!(err.message.starts_with(&format!("{field}:")), "{field}: {err}");
    }
    assert!(conn.seen().is_empty());
    assert!(e.s3.puts().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_schema_that_differs_from_the_plan_is_a_precondition_naming_table_and_column() {
    let d = dbs();
    exec(&d.new, &["ALTER TABLE order_items ADD COLUMN gift INTEGER".to_string()]);
    let e = env();
    let err = handle(input(plan()), &e.clients, &SqliteConnector::new(&d)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::PreconditionFailed, "{err}");
    assert!(err.message.contains("order_items") && err.message.contains("gift"), "{err}");
    assert!(e.s3.puts().is_empty(), "nothing written");
}

#[tokio::test(start_paused = true)]
async fn a_subset_of_tables_has_its_own_prefix() {
    let d = dbs();
    let e = env();
    let mut i = input(plan());
    i.tables = Some(vec!["order_items".into()]);
    let out = handle(i, &e.clients, &SqliteConnector::new(&d)).await.unwrap();
    assert_eq!(out.tables.len(), 1);
    assert_eq!(counts(&out, "order_items"), (2, 0, 1, 1));
    let prefix = &out.report.as_ref().unwrap().prefix;
    assert!(prefix.starts_with(&format!("{PREFIX}tables-")) && prefix.ends_with('/'), "{prefix}");
    assert!(e.s3.object(&format!("{PREFIX}summary.json")).is_none(), "never passes for the whole database's report");
}

#[tokio::test(start_paused = true)]
async fn plan_ranges_fan_out_and_merge_add_up_to_the_whole() {
    let d = dbs();
    let e = env();
    let conn = SqliteConnector::new(&d);

    let mut i = input(plan());
    i.action = DiffAction::PlanRanges;
    i.parts_per_table = Some(4);
    let planned = handle(i, &e.clients, &conn).await.unwrap();
    assert!(e.s3.puts().is_empty(), "plan-ranges writes nothing");
    let sides: Vec<Side> = conn.seen().iter().map(|t| t.side).collect();
    assert!(sides.contains(&Side::Old) && sides.contains(&Side::New), "ranges span both sides: {sides:?}");
    let parts = planned.parts.clone();
    let of = |t: &str| parts.iter().filter(|p| p.table == t).count();
    assert_eq!((of("orders"), of("order_items")), (4, 4));
    let orders: Vec<&RangePart> = parts.iter().filter(|p| p.table == "orders").collect();
    assert_eq!(orders[0].lower, None);
    assert_eq!(orders[3].upper, None);
    for w in orders.windows(2) {
        assert_eq!(w[0].upper, w[1].lower, "contiguous ranges");
    }
    // Composite keys: one value per key column.
    assert!(parts.iter().filter(|p| p.table == "order_items").all(|p| p.upper.as_ref().is_none_or(|u| u.len() == 2)));
    // The output round-trips through JSON, as it will through the state machine.
    let json = serde_json::to_value(&planned).unwrap();
    assert_eq!(serde_json::from_value::<DiffReportOutput>(json).unwrap(), planned);

    // The Map: one diff per part.
    let mut sum = BTreeMap::<String, (u64, u64, u64, u64)>::new();
    for p in &parts {
        let mut i = input(plan());
        i.key_range = Some(p.clone());
        let out = handle(i, &e.clients, &conn).await.unwrap();
        let prefix = format!("{PREFIX}parts/{}/{:04}-of-{:04}/", p.table, p.index, p.count);
        assert_eq!(out.report.as_ref().unwrap().prefix, prefix);
        assert_eq!(out.part.as_ref(), Some(p));
        let c = counts(&out, &p.table);
        let s = sum.entry(p.table.clone()).or_default();
        *s = (s.0 + c.0, s.1 + c.1, s.2 + c.2, s.3 + c.3);
    }
    assert_eq!(sum["orders"], (5, 3, 4, 6));
    assert_eq!(sum["order_items"], (2, 0, 1, 1));

    let mut m = input(plan());
    m.action = DiffAction::Merge;
    m.parts = parts.clone();
    let merged = handle(m.clone(), &e.clients, &conn).await.unwrap();
    assert_eq!(counts(&merged, "orders"), (5, 3, 4, 6));
    assert_eq!(counts(&merged, "order_items"), (2, 0, 1, 1));
    assert_eq!((merged.totals.lost_insert, merged.totals.after_failover), (7, 7));
    assert_eq!(merged.tables.iter().map(|t| t.parts).collect::<Vec<_>>(), vec![4, 4]);
    let orders = merged.tables.iter().find(|c| c.table == "orders").unwrap();
    assert_eq!((orders.old_rows, orders.new_rows), (100, 104));
    let loc = merged.report.as_ref().unwrap();
    assert_eq!(loc.summary, format!("{PREFIX}summary.json"));
    assert!(loc.part_prefixes.is_empty(), "the output stays small for the state machine");
    let summary: DiffReportOutput = serde_json::from_slice(&e.s3.object(&loc.summary).unwrap().body).unwrap();
    assert_eq!(summary.report.unwrap().part_prefixes.len(), 8, "summary.json lists the parts");
    // The merged report is the same report a whole diff writes, rows included.
    let mut whole = input(plan());
    whole.tables = Some(vec!["orders".into(), "order_items".into()]);
    let whole = handle(whole, &e.clients, &conn).await.unwrap();
    let body = |k: &str| e.s3.object(k).unwrap().body;
    let wloc = whole.report.as_ref().unwrap();
    assert_eq!(body(loc.jsonl.as_ref().unwrap()), body(wloc.jsonl.as_ref().unwrap()), "same rows, same order");
    assert_eq!(loc.csv.len(), 2);
    for (m, w) in loc.csv.iter().zip(&wloc.csv) {
        assert_eq!(body(&m.key), body(&w.key), "{}", m.table);
    }
    let html = String::from_utf8(body(&loc.html)).unwrap();
    for id in LOST_ORDERS {
        assert!(html.contains(&format!(">{id}<")), "lost order {id} in the page: {html}");
    }
    for key in [&loc.summary, &loc.html, loc.jsonl.as_ref().unwrap()] {
        assert_eq!(e.s3.object(key).unwrap().sse, None, "{key}: the bucket's default encryption");
    }
    let puts = e.s3.puts().len();
    let connections = conn.seen().len();

    // Merge again, and a part again: returned as written.
    let again = handle(m, &e.clients, &conn).await.unwrap();
    assert!(again.reused);
    let mut i = input(plan());
    i.key_range = Some(parts[0].clone());
    assert!(handle(i, &e.clients, &conn).await.unwrap().reused);
    assert_eq!((e.s3.puts().len(), conn.seen().len()), (puts, connections));
}

#[tokio::test(start_paused = true)]
async fn plan_ranges_splits_only_the_tables_above_rows_per_part() {
    let d = dbs();
    let e = env();
    let conn = SqliteConnector::new(&d);
    let plan_ranges = |rows_per_part: Option<u64>| {
        let mut p = plan();
        p.databases.iter_mut().find(|d| d.name == "orders").unwrap().report.as_mut().unwrap().rows_per_part =
            rows_per_part;
        let mut i = input(p);
        i.action = DiffAction::PlanRanges;
        handle(i, &e.clients, &conn)
    };
    // The default (50 million rows) leaves both small tables whole: one diff does it.
    let whole = plan_ranges(None).await.unwrap();
    assert!(!whole.split);
    assert_eq!(whole.parts.len(), 2);
    assert!(whole.parts.iter().all(|p| p.count == 1 && p.lower.is_none() && p.upper.is_none()), "{:?}", whole.parts);
    // 30 rows per part: orders (100 rows on the old side) in 4 key slices, order_items
    // (50 rows) in 2.
    let split = plan_ranges(Some(30)).await.unwrap();
    assert!(split.split);
    let of = |t: &str| split.parts.iter().filter(|p| p.table == t).count();
    assert_eq!((of("orders"), of("order_items")), (4, 2), "{:?}", split.parts);
    // Integer keys are cut into equal slices of the key span of both sides, [1, 306]: the
    // orders written on the new primary after the failover (301 to 306) count too.
    let bounds: Vec<_> = split.parts.iter().filter(|p| p.table == "orders").map(|p| p.upper.clone()).collect();
    assert_eq!(bounds, vec![Some(vec!["77".to_string()]), Some(vec!["154".into()]), Some(vec!["230".into()]), None]);
    // One row a part: as many parts as the larger side has rows (104 on the new side).
    let fine = plan_ranges(Some(1)).await.unwrap();
    assert_eq!(fine.parts.iter().filter(|p| p.table == "orders").count(), 104);
    assert!(e.s3.puts().is_empty(), "plan-ranges writes nothing");
}

#[tokio::test(start_paused = true)]
async fn merge_refuses_a_part_without_a_report() {
    let d = dbs();
    let e = env();
    let conn = SqliteConnector::new(&d);
    let mut i = input(plan());
    i.action = DiffAction::PlanRanges;
    i.parts_per_table = Some(2);
    let parts = handle(i, &e.clients, &conn).await.unwrap().parts;
    for p in parts.iter().skip(1) {
        let mut i = input(plan());
        i.key_range = Some(p.clone());
        handle(i, &e.clients, &conn).await.unwrap();
    }
    let mut m = input(plan());
    m.action = DiffAction::Merge;
    m.parts = parts.clone();
    let err = handle(m, &e.clients, &conn).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidState, "{err}");
    assert!(err.message.contains("part 1 of 2 of table `orders`"), "{err}");
    assert!(e.s3.object(&format!("{PREFIX}summary.json")).is_none());
}

// ----- over HTTP against regionsim -----

#[tokio::test(start_paused = true)]
async fn against_regionsim_s3_and_secrets_manager() {
    use aws_config::{BehaviorVersion, Region};
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;
    use regionsim::{SimBuilder, service};

    let clock = SharedClock::virtual_at(t0());
    let sim = SimBuilder::new(clock.clone()).seed(5).world_as_planned().start().await.expect("the simulator starts");
    let plan = sim.plan();
    // The bucket as the template configures it: SSE-KMS under the stack's key by default.
    let data_key = "arn:aws:kms:us-west-2:111122223333:key/00000000-0000-4000-8000-00000000000d";
    assert!(sim.service::<regionsim::s3::S3>().set_default_encryption(&plan.stacks[NEW].report_bucket, Some(data_key)));
    let base = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(NEW))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new("AKIDTEST", "secret", None, None, "t")))
        .build();
    let mut clients = AwsClients::from_sdk_config(base.clone(), clock.clone());
    let s3_url = sim.endpoints().url(service::S3).unwrap().to_string();
    let sm_url = sim.endpoints().url(service::SECRETS_MANAGER).unwrap().to_string();
    let (b, c) = (base.clone(), clock.clone());
    clients.s3 = Arc::new(Regional::from_fn(move |r| {
        let conf = aws_sdk_s3::config::Builder::from(&failover_steps::aws::regional_config(&b, r, &c))
            .endpoint_url(s3_url.clone())
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }));
    let (b, c) = (base, clock.clone());
    clients.secrets = Arc::new(Regional::from_fn(move |r| {
        let conf = aws_sdk_secretsmanager::config::Builder::from(&failover_steps::aws::regional_config(&b, r, &c))
            .endpoint_url(sm_url.clone())
            .build();
        aws_sdk_secretsmanager::Client::from_conf(conf)
    }));

    let d = dbs();
    let seen: Arc<Mutex<Vec<(Side, String)>>> = Arc::default();
    let conn = AwsConnector::with_resolver(clients.clone(), sqlite_resolver(&d, seen.clone()), Duration::from_secs(5));
    let mut i = input(plan.clone());
    // The simulator holds the plan's report secrets: read the recovery cluster with the
    // old Region's one.
    i.recovery.master_user_secret_arn = None;
    let out = handle(i.clone(), &clients, &conn).await.expect("the report is written through regionsim");
    // The simulator's plan does not ignore `updated_at`: the two touched orders count as changed.
    assert_eq!(counts(&out, "orders"), (5, 3, 4 + TOUCHED_ORDERS.len() as u64, 6));
    assert_eq!(counts(&out, "order_items"), (2, 0, 1, 1));
    let users: Vec<String> = seen.lock().unwrap().iter().map(|(_, u)| u.clone()).collect();
    assert_eq!(users, vec!["failover_report".to_string(); 2], "both secrets came from the simulated Secrets Manager");

    let bucket = &plan.stacks[NEW].report_bucket;
    let prefix = format!("reports/{}/{EXEC}/orders/", plan.name);
    let keys = sim.s3_keys(bucket);
    for f in ["differences.jsonl", "orders.csv", "order_items.csv", "report.html", "summary.json"] {
        let k = format!("{prefix}{f}");
        assert!(keys.contains(&k), "{k} in {keys:?}");
        let o = sim.s3_object(bucket, &k).unwrap();
        assert_eq!((o.sse.as_str(), o.kms_key_id.as_deref()), ("aws:kms", Some(data_key)), "{k}");
    }
    let stored: DiffReportOutput =
        serde_json::from_slice(&sim.s3_object(bucket, &format!("{prefix}summary.json")).unwrap().body).unwrap();
    assert_eq!(stored, out);
    assert!(sim.s3_keys(&plan.stacks[OLD].report_bucket).is_empty(), "nothing in the old Region's bucket");

    let before = sim.calls().iter().filter(|c| c.service == service::S3 && c.mutating).count();
    let again = handle(i, &clients, &conn).await.unwrap();
    assert!(again.reused);
    assert_eq!(seen.lock().unwrap().len(), 2, "no database read again");
    let after = sim.calls().iter().filter(|c| c.service == service::S3 && c.mutating).count();
    assert_eq!(before, after, "no object rewritten");
}

#[test]
fn every_sample_event_is_valid_input() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("diff-report.") {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let i: DiffReportInput = failover_core::contract::parse_input(v).unwrap_or_else(|e| panic!("{name}: {e}"));
        i.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        n += 1;
    }
    assert!(n >= 5, "the diff-report events: {n}");
}

#[tokio::test(start_paused = true)]
async fn unreachable_and_hanging_clusters_are_transient_and_name_the_side() {
    let e = env_with(FakeS3::default(), vec![(RECOVERY_SECRET, creds_json("postgres")), (NEW_SECRET, creds_json("r"))]);
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // Accepts connections and never answers: a cluster whose security group drops nothing
    // but whose database does not respond.
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hang_port = hang.local_addr().unwrap().port();
    let held = Arc::new(Mutex::new(Vec::new()));
    let h = held.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = hang.accept().await {
            h.lock().unwrap().push(s);
        }
    });
    let d = dbs();
    // The server answers in real time, so the deadline is real time even on this paused
    // clock: a short one.
    for (port, what) in [(closed, "cannot connect"), (hang_port, "no connection within 1 s")] {
        let new_path = d.new.clone();
        let resolve: Resolve = Arc::new(move |t: &DbTarget, c: DbCredentials| {
            Ok(match t.side {
                Side::Old => SourceConfig::postgres("127.0.0.1", port, &c.username, Some(&c.password), "orders"),
                Side::New => SourceConfig::sqlite(&new_path),
            })
        });
        let conn = AwsConnector::with_resolver(e.clients.clone(), resolve, Duration::from_secs(1));
        let err = handle(input(plan()), &e.clients, &conn).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Transient, "{err}");
        assert!(err.message.starts_with("old side (") && err.message.contains(what), "{err}");
        assert!(!err.message.contains("pa55"), "{err}");
    }
    assert!(e.s3.puts().is_empty());
}

#[test]
fn a_missing_ca_bundle_stops_the_production_connector() {
    use failover_steps::diff_report::{AwsConnectorConfig, CaBundle};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let clients = rt.block_on(async { env().clients });
    // An override that names no file stops the function at its start, naming the file.
    let err = AwsConnector::new(
        clients.clone(),
        AwsConnectorConfig::new(CaBundle::File("/nonexistent/global-bundle.pem".into())),
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Internal);
    assert!(err.message.contains("/nonexistent/global-bundle.pem"), "{err}");
    // Without one, the bundle compiled into the function: no file is needed.
    AwsConnector::new(clients, AwsConnectorConfig::default()).unwrap();
}

// ----- the production connection settings against real servers -----

fn server_unavailable(what: &str, e: impl std::fmt::Display) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{what} is required under CI=true but unavailable: {e}");
    }
    eprintln!("!!!!! SKIPPING: {what} unavailable ({e}); set CI=true to make this a failure !!!!!");
}

fn unique(name: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEQ: AtomicU32 = AtomicU32::new(0);
    format!("dr_{name}_{}_{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed))
}

/// `aurora_source` as in production, TLS off (the local servers have none), pointed at the
/// local server's database for each side.
fn local_resolver(port: u16, old_db: String, new_db: String) -> Resolve {
    Arc::new(move |t: &DbTarget, c: DbCredentials| {
        let mut cfg = failover_steps::diff_report::aurora_source(t, c, rowdiff::TlsConfig::disabled());
        cfg.host = "127.0.0.1".into();
        cfg.port = port;
        cfg.database = if t.side == Side::Old { old_db.clone() } else { new_db.clone() };
        Ok(cfg)
    })
}

#[tokio::test]
async fn postgresql_through_the_production_settings() {
    async fn client(db: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (c, conn) = tokio_postgres::connect(
            &format!("host=127.0.0.1 port=5432 user=postgres dbname={db}"),
            tokio_postgres::NoTls,
        )
        .await?;
        tokio::spawn(conn);
        Ok(c)
    }
    let admin = match client("test").await {
        Ok(c) => c,
        Err(e) => return server_unavailable("PostgreSQL on 127.0.0.1:5432", e),
    };
    let (o, n) = (unique("pg_old"), unique("pg_new"));
    for db in [&o, &n] {
        admin.batch_execute(&format!("CREATE DATABASE {db}")).await.unwrap();
    }
    let (co, cn) = (client(&o).await.unwrap(), client(&n).await.unwrap());
    let schema = "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL, amount numeric(12,2), \
                  status text, created_at timestamptz NOT NULL, updated_at timestamptz); \
                  CREATE TABLE order_items (order_id bigint, product_id bigint, qty int NOT NULL, \
                  created_at timestamptz NOT NULL, updated_at timestamptz, PRIMARY KEY (order_id, product_id)); \
                  INSERT INTO orders SELECT g, g % 7, g * 3 + 0.5, 'placed', '2027-01-15 07:00:00+00', NULL \
                  FROM generate_series(1, 100) g; \
                  INSERT INTO order_items SELECT o, p, o + p, '2027-01-15 07:00:00+00', '2027-01-15 07:00:00+00' \
                  FROM generate_series(1, 25) o, generate_series(1, 2) p;";
    co.batch_execute(schema).await.unwrap();
    cn.batch_execute(schema).await.unwrap();
    // The lost rows, as the old side wrote them after the last replicated write.
    co.batch_execute(
        "UPDATE orders SET created_at = '2027-01-15 07:30:00+00', updated_at = '2027-01-15 07:30:00+00' \
         WHERE id IN (3, 17, 42, 77, 99); \
         UPDATE order_items SET created_at = '2027-01-15 07:30:00+00', updated_at = '2027-01-15 07:30:00+00' \
         WHERE (order_id, product_id) IN ((4, 2), (11, 1));",
    )
    .await
    .unwrap();
    cn.batch_execute(
        "DELETE FROM orders WHERE id IN (3, 17, 42, 77, 99); \
         UPDATE orders SET amount = 0.01 WHERE id IN (5, 20, 60, 100); \
         UPDATE orders SET updated_at = now() WHERE id IN (8, 9); \
         INSERT INTO orders SELECT g, 1, 9.99, 'placed', '2027-01-15 07:00:00+00', '2027-01-15 07:00:00+00' \
           FROM generate_series(201, 203) g; \
         INSERT INTO orders SELECT g, 2, 1.00, 'placed', '2027-01-15 08:10:00+00', '2027-01-15 08:10:00+00' \
           FROM generate_series(301, 306) g; \
         DELETE FROM order_items WHERE (order_id, product_id) IN ((4, 2), (11, 1)); \
         UPDATE order_items SET qty = 99 WHERE order_id = 7 AND product_id = 1; \
         INSERT INTO order_items VALUES (301, 1, 1, '2027-01-15 08:10:00+00', '2027-01-15 08:10:00+00');",
    )
    .await
    .unwrap();

    let e = env_with(
        FakeS3::default(),
        vec![(RECOVERY_SECRET, creds_json("postgres")), (NEW_SECRET, creds_json("postgres"))],
    );
    let conn = AwsConnector::with_resolver(
        e.clients.clone(),
        local_resolver(5432, o.clone(), n.clone()),
        Duration::from_secs(30),
    );
    let result = handle(input(plan()), &e.clients, &conn).await;
    let mut i = input(plan());
    i.action = DiffAction::PlanRanges;
    i.parts_per_table = Some(3);
    let ranges = handle(i, &e.clients, &conn).await;
    drop((co, cn));
    for db in [&o, &n] {
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await;
    }
    let out = result.expect("the report over PostgreSQL");
    assert_eq!(counts(&out, "orders"), (5, 3, 4, 6));
    assert_eq!(counts(&out, "order_items"), (2, 0, 1, 1));
    assert_eq!(
        lost_ids(&e.s3.object(&format!("{PREFIX}differences.jsonl")).unwrap().body, "orders"),
        LOST_ORDERS.to_vec()
    );
    let ranges = ranges.expect("plan-ranges over PostgreSQL").parts;
    let orders: Vec<&RangePart> = ranges.iter().filter(|p| p.table == "orders").collect();
    assert_eq!(orders.len(), 3);
    assert_eq!(orders[0].upper, Some(vec!["103".to_string()]), "equal slices of both sides' key span 1..=306");
}

#[tokio::test]
async fn mariadb_through_the_production_settings() {
    use mysql_async::prelude::Queryable;
    async fn conn(db: Option<&str>) -> Result<mysql_async::Conn, mysql_async::Error> {
        let o = mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(3306)
            .user(Some("root"))
            .db_name(db.map(String::from))
            .prefer_socket(false);
        mysql_async::Conn::new(o).await
    }
    let mut admin = match conn(None).await {
        Ok(c) => c,
        Err(e) => return server_unavailable("MariaDB on 127.0.0.1:3306", e),
    };
    let (o, n) = (unique("my_old"), unique("my_new"));
    for db in [&o, &n] {
        admin.query_drop(format!("CREATE DATABASE {db} CHARACTER SET utf8mb4")).await.unwrap();
    }
    let mut sides = (conn(Some(&o)).await.unwrap(), conn(Some(&n)).await.unwrap());
    for c in [&mut sides.0, &mut sides.1] {
        c.query_drop("CREATE TABLE products (id bigint PRIMARY KEY, name varchar(100) NOT NULL, price decimal(10,2))")
            .await
            .unwrap();
        c.query_drop("CREATE TABLE tags (product_id bigint, tag_name varchar(50), PRIMARY KEY (product_id, tag_name))")
            .await
            .unwrap();
        for id in 1..=40 {
            c.query_drop(format!("INSERT INTO products VALUES ({id}, 'product {id}', {id}.25)")).await.unwrap();
            c.query_drop(format!("INSERT INTO tags VALUES ({id}, 'new'), ({id}, 'Sale')")).await.unwrap();
        }
    }
    for s in [
        "DELETE FROM products WHERE id IN (2, 30, 31)",
        "UPDATE products SET price = NULL WHERE id = 4",
        "UPDATE products SET name = 'renamed' WHERE id = 5",
        "INSERT INTO products VALUES (41, 'only new', 1.00)",
        "DELETE FROM tags WHERE product_id = 9",
        "INSERT INTO tags VALUES (41, 'new')",
    ] {
        sides.1.query_drop(s).await.unwrap();
    }

    let catalog_secret = "arn:aws:secretsmanager:us-west-2:111122223333:secret:retail/catalog/report-GhIjKl";
    let creds = serde_json::json!({"username": "root", "password": ""}).to_string();
    let e = env_with(FakeS3::default(), vec![(RECOVERY_SECRET, creds.clone()), (catalog_secret, creds)]);
    let c = AwsConnector::with_resolver(
        e.clients.clone(),
        local_resolver(3306, o.clone(), n.clone()),
        Duration::from_secs(30),
    );
    let mut i = input(plan());
    i.database = "catalog".into();
    i.recovery.engine = Some("aurora-mysql".into());
    i.recovery.port = Some(3306);
    // These tables carry no time column: nothing here counts as written after the failover.
    let catalog = i.plan.databases.iter_mut().find(|d| d.name == "catalog").unwrap();
    for t in &mut catalog.report.as_mut().unwrap().tables {
        t.time_column = None;
    }
    let result = handle(i, &e.clients, &c).await;
    drop(sides);
    for db in [&o, &n] {
        let _ = admin.query_drop(format!("DROP DATABASE IF EXISTS {db}")).await;
    }
    let out = result.expect("the report over MariaDB");
    assert_eq!(counts(&out, "products"), (3, 1, 2, 0));
    assert_eq!(counts(&out, "tags"), (2, 1, 0, 0));
    assert!(e.s3.object("reports/retail-store/recovery-2027-01-15-0800/catalog/summary.json").is_some());
}
