//! `diff-report`: the missing-transaction report, after an unplanned failover.
//!
//! [`handle`] runs one [`DiffAction`] of [`DiffReportInput`]:
//! * `diff` compares every selected table of the recovery cluster (the old primary restored
//!   from its snapshot: the *old* side) with the new primary read through its **reader**
//!   endpoint (the *new* side) using [`rowdiff`], and writes `differences.jsonl`, one CSV
//!   per table, `report.html` and, last, `summary.json` to the report bucket of the new
//!   primary's Region. With `key_range` it does the same for one key range of one table (a
//!   part, under `parts/`).
//! * `plan-ranges` splits the tables into key ranges on the old side
//!   ([`rowdiff::plan_ranges`]) for a Map state that runs `diff` once per range.
//! * `merge` combines the parts' summaries into the database's `summary.json` and an index
//!   `report.html` that points at the parts' files.
//!
//! # What it must never do
//! * Write to a database: both sides run in read-only snapshot transactions (rowdiff), and
//!   the new primary is read through its reader endpoint only; a cluster (writer)
//!   endpoint is refused as bad input.
//! * Leak the rows: every object is written with SSE-KMS (`aws:kms`, with the plan's KMS
//!   key for the Region when it names one); no presigned URL is ever made. Lost rows are
//!   customer data.
//! * Log a password: credentials live in [`DbCredentials`], whose `Debug` hides the
//!   password, and only reach the driver's connection settings.
//!
//! # Idempotency
//! `summary.json` is written after every other file: when it exists under the invocation's
//! prefix (see [`DiffReportInput::prefix`]), `diff` and `merge` return it (with `reused:
//! true`) without connecting to any database. An invocation cut short leaves no summary,
//! so its retry recomputes and overwrites the partial files.
//!
//! # Connections
//! [`Connector`] opens a [`rowdiff::Source`] for a [`DbTarget`]. [`AwsConnector`] is the
//! production one: it reads the credentials secret (JSON with `username` and `password`,
//! as RDS-managed master secrets and rotation secrets are) from Secrets Manager in the
//! secret's own Region, then connects with TLS verified against a CA bundle (the RDS
//! global bundle, shipped in the function package). A drill gives it another
//! [`Resolve`] to map simulated clusters to their databases, or implements
//! [`Connector`] itself.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use failover_core::contract::aurora::cluster_id_of_arn;
use failover_core::contract::diff_report::{
    Compared, DiffAction, DiffReportInput, DiffReportOutput, RangePart, ReportLocation, TableCounts, TableObject,
    Totals, is_writer_endpoint, key_segment, secret_region,
};
use failover_core::plan::{Engine, Region, Table};
use failover_core::{ErrorKind, StepError};
use futures::future::BoxFuture;
use rowdiff::{DiffError, DiffOptions, KeyRange, Source, SourceConfig, TableDiff, TableSpec, TlsConfig};

use crate::aws::{AwsClients, classify};

/// The most bytes of ranges `plan-ranges` returns: Step Functions caps a payload at 256 KiB.
pub const MAX_PARTS_PAYLOAD: usize = 200 * 1024;

/// The file names under a report's prefix.
pub const SUMMARY: &str = "summary.json";
pub const HTML: &str = "report.html";
pub const JSONL: &str = "differences.jsonl";

/// Which side of the comparison a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The recovery cluster: the old primary as restored from its snapshot.
    Old,
    /// A reader of the new primary.
    New,
}

/// What a [`Connector`] connects to. Holds no credentials: only where to find them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbTarget {
    pub side: Side,
    /// The Region the cluster runs in.
    pub region: Region,
    /// The cluster identifier (the recovery cluster, or the new primary's member cluster).
    pub cluster: String,
    /// The endpoint host: the recovery cluster's endpoint, or the new primary's reader endpoint.
    pub host: String,
    pub port: u16,
    pub engine: Engine,
    /// The database (schema) name inside the cluster.
    pub database: String,
    /// The Secrets Manager secret holding `username` and `password`.
    pub secret_arn: String,
}

/// Opens a read-only [`rowdiff::Source`] for a target.
pub trait Connector: Send + Sync {
    fn source(&self, target: DbTarget) -> BoxFuture<'_, Result<Source, StepError>>;
}

/// A database user and password read from a secret.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
pub struct DbCredentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for DbCredentials {
    // The password never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbCredentials").field("username", &self.username).field("password", &"***").finish()
    }
}

/// Reads `username` and `password` from a Secrets Manager secret, in the secret's own Region.
pub async fn fetch_credentials(clients: &AwsClients, secret_arn: &str) -> Result<DbCredentials, StepError> {
    let region = secret_region(secret_arn).map_err(StepError::bad_input)?;
    let out = clients
        .secrets
        .get(region)
        .get_secret_value()
        .secret_id(secret_arn)
        .send()
        .await
        .map_err(|e| classify(&e).into_step_error(&format!("Secrets Manager GetSecretValue {secret_arn}")))?;
    let text = out.secret_string().ok_or_else(|| {
        StepError::bad_input(format!("secret {secret_arn}: holds no string (a binary secret cannot hold credentials)"))
    })?;
    // The parser's message could quote the value: say only what is wrong.
    serde_json::from_str::<DbCredentials>(text).map_err(|_| {
        StepError::bad_input(format!(
            "secret {secret_arn}: is not a JSON object with string fields `username` and `password`"
        ))
    })
}

/// Turns a target and its credentials into connection settings.
pub type Resolve = Arc<dyn Fn(&DbTarget, DbCredentials) -> Result<SourceConfig, StepError> + Send + Sync>;

/// Settings of the production connector.
#[derive(Debug, Clone)]
pub struct AwsConnectorConfig {
    /// The PEM CA bundle the database certificates are verified against: the RDS global
    /// bundle (`global-bundle.pem`, see the function's README).
    pub ca_bundle: PathBuf,
    /// How long opening one connection may take, on the clock.
    pub connect_timeout: Duration,
}

impl AwsConnectorConfig {
    pub fn new(ca_bundle: impl Into<PathBuf>) -> Self {
        Self { ca_bundle: ca_bundle.into(), connect_timeout: Duration::from_secs(30) }
    }
}

/// Reads the credentials from Secrets Manager, then connects.
#[derive(Clone)]
pub struct AwsConnector {
    clients: AwsClients,
    resolve: Resolve,
    connect_timeout: Duration,
}

impl std::fmt::Debug for AwsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsConnector").field("connect_timeout", &self.connect_timeout).finish_non_exhaustive()
    }
}

impl AwsConnector {
    /// The production connector: PostgreSQL or MySQL by the plan's engine, TLS verified
    /// against the CA bundle (read once, here).
    pub fn new(clients: AwsClients, config: AwsConnectorConfig) -> Result<Self, StepError> {
        let tls = TlsConfig::with_ca_file(&config.ca_bundle).map_err(|e| StepError::internal(e.to_string()))?;
        let resolve: Resolve = Arc::new(move |t, creds| Ok(aurora_source(t, creds, tls.clone())));
        Ok(Self { clients, resolve, connect_timeout: config.connect_timeout })
    }

    /// A connector that reads the secret the same way but connects where `resolve` says
    /// (simulated clusters in a drill).
    pub fn with_resolver(clients: AwsClients, resolve: Resolve, connect_timeout: Duration) -> Self {
        Self { clients, resolve, connect_timeout }
    }
}

/// The connection settings of an Aurora cluster endpoint.
pub fn aurora_source(t: &DbTarget, creds: DbCredentials, tls: TlsConfig) -> SourceConfig {
    let mut cfg = match t.engine {
        Engine::AuroraMysql => {
            SourceConfig::mysql(&t.host, t.port, &creds.username, Some(&creds.password), &t.database)
        }
        Engine::AuroraPostgresql => {
            SourceConfig::postgres(&t.host, t.port, &creds.username, Some(&creds.password), &t.database)
        }
    };
    cfg.tls = tls;
    cfg
}

impl Connector for AwsConnector {
    fn source(&self, target: DbTarget) -> BoxFuture<'_, Result<Source, StepError>> {
        Box::pin(async move {
            let creds = fetch_credentials(&self.clients, &target.secret_arn).await?;
            let cfg = (self.resolve)(&target, creds)?;
            let what = format!("{} side ({} in {})", side_name(target.side), target.host, target.region);
            match self.clients.clock.timeout(self.connect_timeout, cfg.connect()).await {
                Ok(Ok(s)) => Ok(s),
                Ok(Err(e)) => {
                    let e = diff_error(e);
                    Err(StepError::new(e.kind, format!("{what}: {}", e.message)))
                }
                Err(_) => Err(StepError::transient(format!(
                    "{what}: no connection within {} s",
                    self.connect_timeout.as_secs()
                ))),
            }
        })
    }
}

fn side_name(s: Side) -> &'static str {
    match s {
        Side::Old => "old",
        Side::New => "new",
    }
}

/// The error contract of a rowdiff error: schema mismatches are preconditions that a retry
/// cannot fix; lost connections and failed queries are retried.
pub fn diff_error(e: DiffError) -> StepError {
    let kind = match &e {
        DiffError::Connect { .. } | DiffError::Query { .. } => ErrorKind::Transient,
        DiffError::EngineMismatch { .. }
        | DiffError::TableMissing { .. }
        | DiffError::NoPrimaryKey { .. }
        | DiffError::ColumnMissing { .. }
        | DiffError::ColumnTypeMismatch { .. }
        | DiffError::Unsupported { .. }
        | DiffError::BadSpec { .. } => ErrorKind::PreconditionFailed,
        DiffError::BadSource(_) | DiffError::Io(_) => ErrorKind::Internal,
    };
    StepError::new(kind, e.to_string())
}

/// Runs one action of `diff-report`. Bad input changes nothing and connects to nothing.
pub async fn handle(
    input: DiffReportInput,
    clients: &AwsClients,
    connector: &dyn Connector,
) -> Result<DiffReportOutput, StepError> {
    input.validate()?;
    let ctx = Ctx::new(&input, clients, connector)?;
    match input.action {
        DiffAction::Diff => ctx.diff().await,
        DiffAction::PlanRanges => ctx.plan_ranges().await,
        DiffAction::Merge => ctx.merge().await,
    }
}

struct Ctx<'a> {
    input: &'a DiffReportInput,
    clients: &'a AwsClients,
    connector: &'a dyn Connector,
    engine: Engine,
    tables: Vec<&'a Table>,
    old: DbTarget,
    new: DbTarget,
    bucket: String,
    kms_key_id: Option<String>,
}

/// `host` or `host:port`; the engine's default port when none is given.
fn host_port(endpoint: &str, engine: Engine) -> (String, u16) {
    if let Some((h, p)) = endpoint.rsplit_once(':')
        && let Ok(p) = p.parse::<u16>()
    {
        return (h.to_string(), p);
    }
    let port = match engine {
        Engine::AuroraMysql => 3306,
        Engine::AuroraPostgresql => 5432,
    };
    (endpoint.to_string(), port)
}

impl<'a> Ctx<'a> {
    fn new(
        input: &'a DiffReportInput,
        clients: &'a AwsClients,
        connector: &'a dyn Connector,
    ) -> Result<Self, StepError> {
        let db = input.global_database()?;
        let report = input.report_config()?;
        let r = &input.recovery;
        let internal = |what: &str| StepError::internal(format!("{what} missing after validation"));
        let old = DbTarget {
            side: Side::Old,
            region: r.region.clone(),
            cluster: r.cluster.clone(),
            host: r.endpoint.clone().ok_or_else(|| internal("recovery.endpoint"))?,
            port: r.port.ok_or_else(|| internal("recovery.port"))?,
            engine: db.engine,
            database: report.database.clone(),
            secret_arn: input.recovery_secret()?,
        };
        let reader = report.reader_endpoints.get(&input.new_region).ok_or_else(|| internal("reader endpoint"))?;
        // Validation refused it already; checked again because reading a writer is the one
        // thing this step must never do.
        if is_writer_endpoint(reader) {
            return Err(StepError::bad_input(format!("`{reader}` is a writer endpoint")));
        }
        let (host, port) = host_port(reader, db.engine);
        let new = DbTarget {
            side: Side::New,
            region: input.new_region.clone(),
            cluster: db.members.get(&input.new_region).map(|a| cluster_id_of_arn(a).to_string()).unwrap_or_default(),
            host,
            port,
            engine: db.engine,
            database: report.database.clone(),
            secret_arn: report.credentials.get(&input.new_region).cloned().ok_or_else(|| internal("credentials"))?,
        };
        let stack = input
            .plan
            .stacks
            .get(&input.new_region)
            .ok_or_else(|| StepError::bad_input(format!("plan.stacks: no stack for `{}`", input.new_region)))?;
        Ok(Ctx {
            input,
            clients,
            connector,
            engine: db.engine,
            tables: input.selected_tables()?,
            old,
            new,
            bucket: stack.report_bucket.clone(),
            kms_key_id: db.recovery.kms_keys.get(&input.new_region).cloned(),
        })
    }

    fn s3(&self) -> aws_sdk_s3::Client {
        self.clients.s3.get(&self.input.new_region)
    }

    fn location(&self, prefix: String) -> ReportLocation {
        ReportLocation {
            bucket: self.bucket.clone(),
            region: self.input.new_region.clone(),
            summary: format!("{prefix}{SUMMARY}"),
            html: format!("{prefix}{HTML}"),
            jsonl: None,
            csv: vec![],
            part_prefixes: vec![],
            prefix,
            encryption: ServerSideEncryption::AwsKms.as_str().to_string(),
            kms_key_id: self.kms_key_id.clone(),
        }
    }

    fn compared(&self) -> Compared {
        Compared {
            engine: self.engine.as_str().to_string(),
            old_region: self.old.region.clone(),
            old_host: self.old.host.clone(),
            old_cluster: self.old.cluster.clone(),
            new_region: self.new.region.clone(),
            new_host: self.new.host.clone(),
            failover_started_at: self.input.failover_started_at.clone(),
        }
    }

    /// The summary already written under `key`, if any.
    async fn existing(&self, key: &str) -> Result<Option<DiffReportOutput>, StepError> {
        match self.s3().get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => {
                let body = out.body.collect().await.map_err(|e| {
                    StepError::transient(format!("S3 GetObject s3://{}/{key}: reading the body: {e}", self.bucket))
                })?;
                let summary: DiffReportOutput = serde_json::from_slice(&body.into_bytes()).map_err(|e| {
                    StepError::new(
                        ErrorKind::InvalidState,
                        format!(
                            "s3://{}/{key} exists but is not a report summary ({e}); remove it to recompute",
                            self.bucket
                        ),
                    )
                })?;
                Ok(Some(summary))
            }
            Err(SdkError::ServiceError(se)) if se.err().code() == Some("NoSuchKey") => Ok(None),
            Err(e) => Err(classify(&e).into_step_error(&format!("S3 GetObject s3://{}/{key}", self.bucket))),
        }
    }

    async fn put(&self, key: &str, content_type: &str, body: Vec<u8>) -> Result<(), StepError> {
        self.s3()
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .set_ssekms_key_id(self.kms_key_id.clone())
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| classify(&e).into_step_error(&format!("S3 PutObject s3://{}/{key}", self.bucket)))?;
        Ok(())
    }

    fn specs(&self, range: Option<&RangePart>) -> Vec<TableSpec> {
        self.tables
            .iter()
            .filter(|t| range.is_none_or(|r| r.table == t.name))
            .map(|t| {
                let mut s = TableSpec::new(t.name.clone()).key(t.key.clone()).ignore(t.ignore_columns.clone());
                s.time_column = t.time_column.clone();
                if let Some(r) = range {
                    s.range = Some(KeyRange { lower: r.lower.clone(), upper: r.upper.clone() });
                }
                s
            })
            .collect()
    }

    async fn connect_both(&self) -> Result<(Source, Source), StepError> {
        let (old, new) = tokio::join!(self.connector.source(self.old.clone()), self.connector.source(self.new.clone()));
        Ok((old?, new?))
    }

    async fn diff(&self) -> Result<DiffReportOutput, StepError> {
        let prefix = self.input.prefix();
        let mut loc = self.location(prefix.clone());
        if let Some(mut done) = self.existing(&loc.summary).await? {
            tracing::info!(key = %loc.summary, "the report is already written: returning it");
            done.reused = true;
            return Ok(done);
        }
        let part = self.input.key_range.as_ref();
        let specs = self.specs(part);
        tracing::info!(
            database = %self.input.database,
            old = %self.old.host,
            new = %self.new.host,
            tables = specs.len(),
            part = ?part.map(|p| (&p.table, p.index, p.count)),
            "comparing"
        );
        let (old, new) = self.connect_both().await?;
        let opts = DiffOptions { after: Some(self.input.failover_started_at.clone()), ..DiffOptions::default() };
        let diffs = rowdiff::diff_tables(&old, &new, &specs, &opts).await.map_err(diff_error)?;
        drop((old, new));

        let mut title = format!("Missing-transaction report: {} ({})", self.input.database, self.input.execution.name);
        if let Some(p) = part {
            title.push_str(&format!(", table {} part {} of {}", p.table, p.index + 1, p.count));
        }
        let mut files: Vec<(String, &str, Vec<u8>)> = Vec::new();
        let mut jsonl = Vec::new();
        rowdiff::report::jsonl(&diffs, &mut jsonl).map_err(|e| StepError::internal(format!("JSON Lines: {e}")))?;
        files.push((format!("{prefix}{JSONL}"), "application/x-ndjson", jsonl));
        loc.jsonl = Some(format!("{prefix}{JSONL}"));
        let mut used = Vec::new();
        for d in &diffs {
            let mut name = key_segment(&d.table);
            while used.contains(&name) {
                name.push('_');
            }
            used.push(name.clone());
            let mut csv = Vec::new();
            rowdiff::report::csv(d, &mut csv).map_err(|e| StepError::internal(format!("CSV: {e}")))?;
            let key = format!("{prefix}{name}.csv");
            loc.csv.push(TableObject { table: d.table.clone(), key: key.clone() });
            files.push((key, "text/csv; charset=utf-8", csv));
        }
        let mut html = Vec::new();
        rowdiff::report::html(&diffs, &title, &mut html).map_err(|e| StepError::internal(format!("HTML: {e}")))?;
        files.push((loc.html.clone(), "text/html; charset=utf-8", html));

        let tables: Vec<TableCounts> = diffs.iter().map(counts).collect();
        let totals = Totals::of(&tables);
        let out = DiffReportOutput {
            action: DiffAction::Diff,
            database: self.input.database.clone(),
            execution: self.input.execution.name.clone(),
            reused: false,
            report: Some(loc),
            compared: Some(self.compared()),
            identical: totals.differences() == 0,
            tables,
            totals,
            part: part.cloned(),
            parts: vec![],
            completed_at: self.clients.clock.now_rfc3339(),
        };
        for (key, ct, body) in files {
            self.put(&key, ct, body).await?;
        }
        self.write_summary(&out).await?;
        tracing::info!(
            lost = totals.lost,
            new = totals.new,
            changed = totals.changed,
            after = totals.after_failover,
            "report written"
        );
        Ok(out)
    }

    /// The summary goes last: its presence says every other file is complete.
    async fn write_summary(&self, out: &DiffReportOutput) -> Result<(), StepError> {
        let loc = out.report.as_ref().ok_or_else(|| StepError::internal("a summary without a location"))?;
        let mut body = serde_json::to_vec_pretty(out)
            .map_err(|e| StepError::internal(format!("summary does not serialise: {e}")))?;
        body.push(b'\n');
        self.put(&loc.summary, "application/json", body).await
    }

    async fn plan_ranges(&self) -> Result<DiffReportOutput, StepError> {
        let n = self.input.parts_per_table.unwrap_or(1) as usize;
        let old = self.connector.source(self.old.clone()).await?;
        let mut parts = Vec::new();
        for spec in self.specs(None) {
            let ranges = rowdiff::plan_ranges(&old, &spec, n).await.map_err(diff_error)?;
            let count = ranges.len() as u32;
            for (i, r) in ranges.into_iter().enumerate() {
                parts.push(RangePart {
                    table: spec.name.clone(),
                    index: i as u32,
                    count,
                    lower: r.lower,
                    upper: r.upper,
                });
            }
        }
        let size = serde_json::to_vec(&parts).map(|v| v.len()).unwrap_or(usize::MAX);
        if size > MAX_PARTS_PAYLOAD {
            return Err(StepError::bad_input(format!(
                "parts_per_table: {n} parts per table make {size} bytes of ranges, over the {MAX_PARTS_PAYLOAD} bytes a \
                 state machine payload can carry; ask for fewer"
            )));
        }
        Ok(DiffReportOutput {
            action: DiffAction::PlanRanges,
            database: self.input.database.clone(),
            execution: self.input.execution.name.clone(),
            reused: false,
            report: None,
            compared: Some(self.compared()),
            tables: vec![],
            totals: Totals::default(),
            identical: false,
            part: None,
            parts,
            completed_at: self.clients.clock.now_rfc3339(),
        })
    }

    async fn merge(&self) -> Result<DiffReportOutput, StepError> {
        let mut loc = self.location(self.input.prefix());
        if let Some(mut done) = self.existing(&loc.summary).await? {
            tracing::info!(key = %loc.summary, "the merged report is already written: returning it");
            done.reused = true;
            return Ok(done);
        }
        let mut per_table: BTreeMap<&str, TableCounts> = BTreeMap::new();
        let mut part_rows: Vec<(RangePart, String, TableCounts)> = Vec::new();
        let mut compared = None;
        let mut parts: Vec<&RangePart> = self.input.parts.iter().collect();
        parts.sort_by_key(|p| (self.tables.iter().position(|t| t.name == p.table), p.index));
        for p in parts {
            let prefix = self.input.part_prefix(p);
            let key = format!("{prefix}{SUMMARY}");
            let s = self.existing(&key).await?.ok_or_else(|| {
                StepError::new(
                    ErrorKind::InvalidState,
                    format!(
                        "part {} of {} of table `{}` has no report (s3://{}/{key}): its `diff` did not complete",
                        p.index + 1,
                        p.count,
                        p.table,
                        self.bucket
                    ),
                )
            })?;
            if s.part.as_ref() != Some(p) {
                return Err(StepError::new(
                    ErrorKind::InvalidState,
                    format!(
                        "s3://{}/{key} is the report of another range than part {} of `{}`",
                        self.bucket, p.index, p.table
                    ),
                ));
            }
            compared = compared.or(s.compared.clone());
            let c = s.tables.iter().find(|c| c.table == p.table).cloned().unwrap_or_default();
            let acc = per_table
                .entry(&p.table)
                .or_insert_with(|| TableCounts { table: p.table.clone(), ..Default::default() });
            acc.lost += c.lost;
            acc.new += c.new;
            acc.changed += c.changed;
            acc.after_failover += c.after_failover;
            acc.old_rows += c.old_rows;
            acc.new_rows += c.new_rows;
            acc.truncated |= c.truncated;
            acc.parts += 1;
            loc.part_prefixes.push(prefix.clone());
            part_rows.push((p.clone(), prefix, c));
        }
        let tables: Vec<TableCounts> = self.tables.iter().filter_map(|t| per_table.remove(t.name.as_str())).collect();
        let totals = Totals::of(&tables);
        let out = DiffReportOutput {
            action: DiffAction::Merge,
            database: self.input.database.clone(),
            execution: self.input.execution.name.clone(),
            reused: false,
            report: Some(loc),
            compared: compared.or_else(|| Some(self.compared())),
            identical: totals.differences() == 0,
            tables,
            totals,
            part: None,
            // Not echoed: the input's list may be near the payload limit already.
            parts: vec![],
            completed_at: self.clients.clock.now_rfc3339(),
        };
        let html = index_html(&out, &part_rows);
        let html_key = out.report.as_ref().map(|l| l.html.clone()).unwrap_or_default();
        self.put(&html_key, "text/html; charset=utf-8", html.into_bytes()).await?;
        self.write_summary(&out).await?;
        Ok(out)
    }
}

fn counts(d: &TableDiff) -> TableCounts {
    TableCounts {
        table: d.table.clone(),
        lost: d.counts.lost,
        new: d.counts.new,
        changed: d.counts.changed,
        after_failover: d.counts.written_after,
        old_rows: d.counts.old_rows,
        new_rows: d.counts.new_rows,
        truncated: d.truncated,
        parts: 0,
    }
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The merged report's page: totals, counts per table, and per part a relative link to its
/// own page (the rows stay in the parts' files; the links work in a copy of the prefix).
fn index_html(out: &DiffReportOutput, parts: &[(RangePart, String, TableCounts)]) -> String {
    let base = out.report.as_ref().map(|l| l.prefix.as_str()).unwrap_or("");
    let mut s = String::new();
    let title = format!("Missing-transaction report: {} ({})", out.database, out.execution);
    s.push_str("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
    s.push_str(&esc(&title));
    s.push_str(
        "</title><style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;\
         margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.2em .5em;font-size:.9em}th{background:#f3f3f3}\
         .lost{color:#b00020}.ok{color:#0a7a0a}</style></head><body>",
    );
    s.push_str(&format!("<h1>{}</h1>", esc(&title)));
    if out.identical {
        s.push_str("<p class=\"ok\">No lost, new or changed rows.</p>");
    } else {
        s.push_str(&format!("<p class=\"lost\"><strong>{}</strong> lost row(s) in total.</p>", out.totals.lost));
    }
    s.push_str(
        "<p>Each table was compared in key ranges; the rows are in each part's report, linked below.</p>\
         <table><tr><th>table</th><th>lost</th><th>changed</th><th>new</th><th>written after failover</th>\
         <th>old rows</th><th>new rows</th><th>parts</th></tr>",
    );
    for t in &out.tables {
        s.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&t.table),
            t.lost,
            t.changed,
            t.new,
            t.after_failover,
            t.old_rows,
            t.new_rows,
            t.parts
        ));
    }
    s.push_str(
        "</table><h2>Parts</h2><table><tr><th>table</th><th>part</th><th>lost</th><th>changed</th><th>new</th>\
                <th>written after failover</th><th>report</th></tr>",
    );
    for (p, prefix, c) in parts {
        let rel = prefix.strip_prefix(base).unwrap_or(prefix);
        s.push_str(&format!(
            "<tr><td>{}</td><td>{} of {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><a href=\"{}{HTML}\">{}{HTML}</a></td></tr>",
            esc(&p.table),
            p.index + 1,
            p.count,
            c.lost,
            c.changed,
            c.new,
            c.after_failover,
            esc(rel),
            esc(rel)
        ));
    }
    s.push_str("</table></body></html>\n");
    s
}
