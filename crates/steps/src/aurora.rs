//! `aurora-failover`: move the writer of one Aurora global database to the target Region.
//!
//! [`handle`] runs one [`AuroraAction`]:
//!
//! * `start` reads the global cluster in the target Region and decides: already the writer
//!   (nothing to do), a move to the same target in progress (nothing to do, keep polling), a
//!   move to another target in progress (`InvalidState`), or a move to start. Before it
//!   calls `SwitchoverGlobalCluster` (planned) or `FailoverGlobalCluster` with
//!   `AllowDataLoss` (unplanned) it checks what both need (same major and minor engine
//!   version, an available instance in the target, creating one in a headless target when
//!   the plan allows) and, for a switchover, what only it needs (every member available, lag
//!   under the RPO). It reads the replication lag just before the call: the RPO exposure.
//! * `check` makes one `DescribeGlobalClusters` call: complete, or `NotYet`.
//!
//! Every RDS and CloudWatch call goes to the target Region, except that a planned
//! switchover also reads the source cluster in its own (healthy) Region. In unplanned mode
//! nothing here calls the old primary's Region: it may be gone.

use std::time::Duration;

use aws_sdk_rds::types::{DbCluster, GlobalCluster};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::DateTime;
use failover_core::contract::Mode;
use failover_core::contract::aurora::{
    AuroraAction, AuroraFailoverInput, AuroraFailoverOutput, AuroraOutcome, LagObservation, cluster_id_of_arn,
    major_minor, rds_identifier,
};
use failover_core::plan::{Capacity, GlobalDatabase};
use failover_core::{ErrorKind, StepError};

use crate::aws::{AwsClients, classify};

/// How far back the lag metrics are read (they are published every minute).
const LAG_WINDOW: Duration = Duration::from_secs(300);

/// The CloudWatch metrics of a secondary's replication lag, in order of preference.
pub const LAG_METRICS: [&str; 2] = ["AuroraGlobalDBRPOLag", "AuroraGlobalDBReplicationLag"];

/// Instance states that end on their own in `available`: worth waiting for.
const TRANSITIONAL: &[&str] = &[
    "creating",
    "backing-up",
    "configuring-enhanced-monitoring",
    "configuring-iam-database-auth",
    "configuring-log-exports",
    "converting-to-vpc",
    "maintenance",
    "modifying",
    "moving-to-vpc",
    "rebooting",
    "renaming",
    "resetting-master-credentials",
    "starting",
    "storage-optimization",
    "upgrading",
];

/// Runs one action of `aurora-failover`. Bad input changes nothing.
pub async fn handle(input: AuroraFailoverInput, clients: &AwsClients) -> Result<AuroraFailoverOutput, StepError> {
    input.validate()?;
    let ctx = Ctx::new(&input, clients)?;
    match input.action {
        AuroraAction::Start => ctx.start().await,
        AuroraAction::Check => ctx.check().await,
    }
}

/// The name of the instance `start` creates in a headless target for an execution.
pub fn headless_instance_name(target_cluster_id: &str, execution: &str) -> String {
    rds_identifier(&[target_cluster_id, "failover", execution], 63)
}

struct Ctx<'a> {
    input: &'a AuroraFailoverInput,
    db: &'a GlobalDatabase,
    clients: &'a AwsClients,
    target_arn: &'a str,
    rds: aws_sdk_rds::Client,
}

/// What `DescribeGlobalClusters` says about the move.
#[derive(Debug)]
struct Topology {
    status: String,
    writer: Option<String>,
    failover: Option<InFlight>,
    engine_version: Option<String>,
    members: Vec<String>,
    /// Members whose synchronisation is not `connected` (a switchover would wait on them).
    unsynchronised: Vec<String>,
}

#[derive(Debug)]
struct InFlight {
    status: String,
    to: Option<String>,
}

impl Topology {
    fn of(g: &GlobalCluster) -> Self {
        let failover = g.failover_state().and_then(|f| {
            // A FailoverState with no field set is what "no failover" looks like on the wire
            // for some responses; only a status or a target means one is in flight.
            let status = f.status().map(|s| s.as_str().to_string());
            let to = f.to_db_cluster_arn().map(str::to_string);
            if status.is_none() && to.is_none() {
                None
            } else {
                Some(InFlight { status: status.unwrap_or_else(|| "unknown".into()), to })
            }
        });
        let members = g.global_cluster_members();
        Topology {
            status: g.status().unwrap_or("unknown").to_string(),
            writer: members
                .iter()
                .find(|m| m.is_writer() == Some(true))
                .and_then(|m| m.db_cluster_arn())
                .map(str::to_string),
            failover,
            engine_version: g.engine_version().map(str::to_string),
            members: members.iter().filter_map(|m| m.db_cluster_arn()).map(str::to_string).collect(),
            unsynchronised: members
                .iter()
                .filter(|m| m.is_writer() != Some(true))
                .filter_map(|m| {
                    let s = m.synchronization_status()?.as_str();
                    (s != "connected").then(|| format!("{} ({s})", m.db_cluster_arn().unwrap_or("?")))
                })
                .collect(),
        }
    }
}

fn same_arn(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

impl<'a> Ctx<'a> {
    fn new(input: &'a AuroraFailoverInput, clients: &'a AwsClients) -> Result<Self, StepError> {
        let db = input.global_database()?;
        let target_arn = db
            .members
            .get(&input.target_region)
            .ok_or_else(|| StepError::bad_input(format!("database: no member in `{}`", input.target_region)))?;
        Ok(Ctx { input, db, clients, target_arn, rds: clients.rds.get(&input.target_region) })
    }

    fn target_id(&self) -> &str {
        cluster_id_of_arn(self.target_arn)
    }

    fn region_of(&self, arn: &str) -> Option<String> {
        self.db.members.iter().find(|(_, a)| same_arn(a, arn)).map(|(r, _)| r.clone())
    }

    fn output(&self, outcome: AuroraOutcome, topo: &Topology, calls: Vec<String>) -> AuroraFailoverOutput {
        AuroraFailoverOutput {
            action: self.input.action,
            database: self.db.name.clone(),
            global_cluster: self.db.global_cluster.clone(),
            mode: self.input.mode,
            target_region: self.input.target_region.clone(),
            outcome,
            calls,
            status: topo.status.clone(),
            failover_status: topo.failover.as_ref().map(|f| f.status.clone()),
            writer: topo.writer.clone(),
            writer_region: topo.writer.as_deref().and_then(|w| self.region_of(w)),
            lag: None,
            instance_created: None,
            observed_at: self.clients.clock.now_rfc3339(),
        }
    }

    async fn topology(&self) -> Result<Topology, StepError> {
        let g = describe_global_cluster(&self.rds, &self.db.global_cluster, &self.input.target_region).await?;
        let topo = Topology::of(&g);
        if !topo.members.iter().any(|m| same_arn(m, self.target_arn)) {
            return Err(StepError::new(
                ErrorKind::PreconditionFailed,
                format!(
                    "{} is not a member of global cluster {} (members: {})",
                    self.target_arn,
                    self.db.global_cluster,
                    topo.members.join(", ")
                ),
            ));
        }
        Ok(topo)
    }

    /// A move towards another cluster forbids ours; one towards ours is ours.
    fn in_flight_to_target(&self, topo: &Topology) -> Result<bool, StepError> {
        match &topo.failover {
            None => Ok(false),
            Some(f) if f.to.as_deref().is_some_and(|to| same_arn(to, self.target_arn)) => Ok(true),
            Some(f) => Err(StepError::new(
                ErrorKind::InvalidState,
                format!(
                    "global cluster {}: a failover towards {} is in progress ({}); not starting one towards {}",
                    self.db.global_cluster,
                    f.to.as_deref().unwrap_or("an unnamed cluster"),
                    f.status,
                    self.target_arn
                ),
            )),
        }
    }

    async fn check(&self) -> Result<AuroraFailoverOutput, StepError> {
        let topo = self.topology().await?;
        self.in_flight_to_target(&topo)?;
        let target_writes = topo.writer.as_deref().is_some_and(|w| same_arn(w, self.target_arn));
        if target_writes && topo.status == "available" && topo.failover.is_none() {
            return Ok(self.output(AuroraOutcome::Completed, &topo, Vec::new()));
        }
        Err(StepError::not_yet(format!(
            "global cluster {}: status {}, failover {}, writer {}",
            self.db.global_cluster,
            topo.status,
            topo.failover.as_ref().map_or("none", |f| f.status.as_str()),
            topo.writer.as_deref().unwrap_or("none")
        )))
    }

    async fn start(&self) -> Result<AuroraFailoverOutput, StepError> {
        let topo = self.topology().await?;
        if self.in_flight_to_target(&topo)? {
            return Ok(self.output(AuroraOutcome::InProgress, &topo, Vec::new()));
        }
        if topo.writer.as_deref().is_some_and(|w| same_arn(w, self.target_arn)) {
            return Ok(self.output(AuroraOutcome::AlreadyDone, &topo, Vec::new()));
        }

        let target = describe_cluster(&self.rds, self.target_id(), &self.input.target_region).await?;
        let target_version = target.engine_version().unwrap_or("").to_string();
        let (source_what, source_version) = match self.input.mode {
            Mode::Planned => {
                let source = self.check_source_available().await?;
                self.check_switchover_topology(&topo, &target)?;
                (
                    format!("source cluster {}", source.db_cluster_identifier().unwrap_or("?")),
                    source.engine_version().unwrap_or("").to_string(),
                )
            }
            // The old primary's Region may be gone: the global cluster's version, as the
            // target Region reports it, stands for the source.
            Mode::Unplanned => {
                (format!("global cluster {}", self.db.global_cluster), topo.engine_version.clone().unwrap_or_default())
            }
        };
        if target_version.is_empty()
            || source_version.is_empty()
            || major_minor(&target_version) != major_minor(&source_version)
        {
            return Err(StepError::new(
                ErrorKind::PreconditionFailed,
                format!(
                    "engine versions differ: target cluster {} runs `{}`, {} runs `{}`; both sides need the same major and minor version",
                    self.target_id(),
                    target_version,
                    source_what,
                    source_version
                ),
            ));
        }

        let lag = self.lag().await;
        let lag = match (self.input.mode, lag) {
            (Mode::Planned, Err(e)) => return Err(e),
            (Mode::Planned, Ok(None)) => {
                return Err(StepError::new(
                    ErrorKind::SwitchoverRefused,
                    format!(
                        "no replication lag of {} in the last {} s ({} or {}): the switchover cannot be shown to lose nothing",
                        self.target_id(),
                        LAG_WINDOW.as_secs(),
                        LAG_METRICS[0],
                        LAG_METRICS[1]
                    ),
                ));
            }
            (Mode::Planned, Ok(Some(l))) => {
                let rpo_ms = self.input.plan.objectives.rpo_seconds.saturating_mul(1000);
                if l.milliseconds > rpo_ms {
                    return Err(StepError::new(
                        ErrorKind::SwitchoverRefused,
                        format!(
                            "replication lag of {} is {} ms ({} at {}), over the RPO of {} ms; an unplanned failover would lose up to that",
                            self.target_id(),
                            l.milliseconds,
                            l.metric,
                            l.at,
                            rpo_ms
                        ),
                    ));
                }
                Some(l)
            }
            // The lag is the exposure to report, never a reason to hold back a failover.
            (Mode::Unplanned, Err(e)) => {
                tracing::warn!(error = %e, "replication lag unknown; failing over anyway");
                None
            }
            (Mode::Unplanned, Ok(l)) => l,
        };

        let (instance_created, mut calls) = self.ensure_instance(&target).await?;

        let call = match self.input.mode {
            Mode::Planned => {
                self.rds
                    .switchover_global_cluster()
                    .global_cluster_identifier(&self.db.global_cluster)
                    .target_db_cluster_identifier(self.target_arn)
                    .send()
                    .await
                    .map_err(|e| {
                        classify(&e)
                            .into_step_error(&format!("SwitchoverGlobalCluster in {}", self.input.target_region))
                    })?;
                "SwitchoverGlobalCluster"
            }
            Mode::Unplanned => {
                self.rds
                    .failover_global_cluster()
                    .global_cluster_identifier(&self.db.global_cluster)
                    .target_db_cluster_identifier(self.target_arn)
                    .allow_data_loss(true)
                    .send()
                    .await
                    .map_err(|e| {
                        classify(&e).into_step_error(&format!("FailoverGlobalCluster in {}", self.input.target_region))
                    })?;
                "FailoverGlobalCluster"
            }
        };
        tracing::info!(global_cluster = %self.db.global_cluster, target = %self.target_arn, call, lag_ms = ?lag.as_ref().map(|l| l.milliseconds), "failover started");
        calls.push(call.to_string());
        let mut out = self.output(AuroraOutcome::Started, &topo, calls);
        out.lag = lag;
        out.instance_created = instance_created;
        Ok(out)
    }

    /// A switchover needs the source healthy; reading it is safe in planned mode only.
    async fn check_source_available(&self) -> Result<DbCluster, StepError> {
        let source_region = self.input.source_region()?;
        let source_arn = self
            .db
            .members
            .get(source_region)
            .ok_or_else(|| StepError::bad_input(format!("database: no member in `{source_region}`")))?;
        let rds = self.clients.rds.get(source_region);
        let source = describe_cluster(&rds, cluster_id_of_arn(source_arn), source_region).await?;
        let status = source.status().unwrap_or("unknown");
        if status != "available" {
            return Err(StepError::new(
                ErrorKind::SwitchoverRefused,
                format!(
                    "source cluster {} is `{status}`, not available: a switchover needs every member available",
                    cluster_id_of_arn(source_arn)
                ),
            ));
        }
        Ok(source)
    }

    fn check_switchover_topology(&self, topo: &Topology, target: &DbCluster) -> Result<(), StepError> {
        if topo.status != "available" {
            return Err(StepError::new(
                ErrorKind::SwitchoverRefused,
                format!("global cluster {} is `{}`, not available", self.db.global_cluster, topo.status),
            ));
        }
        let status = target.status().unwrap_or("unknown");
        if status != "available" {
            return Err(StepError::new(
                ErrorKind::SwitchoverRefused,
                format!("target cluster {} is `{status}`, not available", self.target_id()),
            ));
        }
        if !topo.unsynchronised.is_empty() {
            return Err(StepError::new(
                ErrorKind::SwitchoverRefused,
                format!("members not synchronised: {}", topo.unsynchronised.join(", ")),
            ));
        }
        Ok(())
    }

    /// An available instance in the target, or `NotYet` while one gets there. A headless
    /// target gets an instance named after the execution when the plan gives a capacity.
    /// Returns that instance's name (when it exists) and the mutating calls made.
    async fn ensure_instance(&self, target: &DbCluster) -> Result<(Option<String>, Vec<String>), StepError> {
        let region = &self.input.target_region;
        let ours = headless_instance_name(self.target_id(), &self.input.execution.name);
        let ids: Vec<String> =
            target.db_cluster_members().iter().filter_map(|m| m.db_instance_identifier()).map(str::to_string).collect();
        let mut found = Vec::new();
        for id in &ids {
            if let Some(status) = describe_instance_status(&self.rds, id, region).await? {
                found.push((id.clone(), status));
            }
        }
        if !found.iter().any(|(_, s)| s == "available") && !ids.contains(&ours) && self.db.headless.is_some() {
            // Ours may be too new to be listed as a member yet.
            if let Some(status) = describe_instance_status(&self.rds, &ours, region).await? {
                found.push((ours.clone(), status));
            }
        }
        let created = found.iter().any(|(id, _)| *id == ours).then(|| ours.clone());
        if found.iter().any(|(_, s)| s == "available") {
            return Ok((created, Vec::new()));
        }
        if !found.is_empty() {
            let list: Vec<String> = found.iter().map(|(id, s)| format!("{id} ({s})")).collect();
            if found.iter().any(|(_, s)| TRANSITIONAL.contains(&s.as_str())) {
                return Err(StepError::not_yet(format!(
                    "no available instance in target cluster {} yet: {}",
                    self.target_id(),
                    list.join(", ")
                )));
            }
            return Err(StepError::new(
                ErrorKind::PreconditionFailed,
                format!("no available instance in target cluster {}: {}", self.target_id(), list.join(", ")),
            ));
        }
        let Some(capacity) = &self.db.headless else {
            return Err(StepError::new(
                ErrorKind::PreconditionFailed,
                format!(
                    "target cluster {} has no instance and the plan gives no `headless` capacity for database `{}`: add an instance, or set databases[].headless",
                    self.target_id(),
                    self.db.name
                ),
            ));
        };
        let calls = self.create_instance(target, capacity, &ours).await?;
        Err(StepError::not_yet(format!(
            "created instance {ours} in headless target cluster {} ({}); waiting until it is available",
            self.target_id(),
            calls.join(", ")
        )))
    }

    async fn create_instance(
        &self,
        target: &DbCluster,
        capacity: &Capacity,
        name: &str,
    ) -> Result<Vec<String>, StepError> {
        let region = &self.input.target_region;
        let mut calls = Vec::new();
        if let Some(s) = &capacity.serverless
            && target.serverless_v2_scaling_configuration().is_none()
        {
            // A db.serverless instance needs the cluster's serverless v2 range first.
            self.rds
                .modify_db_cluster()
                .db_cluster_identifier(self.target_id())
                .serverless_v2_scaling_configuration(
                    aws_sdk_rds::types::ServerlessV2ScalingConfiguration::builder()
                        .min_capacity(s.min_acu)
                        .max_capacity(s.max_acu)
                        .build(),
                )
                .apply_immediately(true)
                .send()
                .await
                .map_err(|e| classify(&e).into_step_error(&format!("ModifyDBCluster in {region}")))?;
            calls.push("ModifyDBCluster".to_string());
        }
        let instance = NewInstance {
            name,
            cluster: self.target_id(),
            engine: self.db.engine.as_str(),
            capacity,
            execution: &self.input.execution.name,
        };
        if create_instance(&self.rds, &instance, region).await? {
            calls.push("CreateDBInstance".to_string());
        }
        tracing::info!(instance = name, cluster = self.target_id(), "instance created in headless target");
        Ok(calls)
    }

    async fn lag(&self) -> Result<Option<LagObservation>, StepError> {
        let cw = self.clients.cloudwatch.get(&self.input.target_region);
        read_lag(&cw, self.target_id(), &self.input.target_region, &self.clients.clock).await
    }
}

pub(crate) fn tag(key: &str, value: &str) -> aws_sdk_rds::types::Tag {
    aws_sdk_rds::types::Tag::builder().key(key).value(value).build()
}

/// An instance to create in a cluster, tagged with the execution that creates it.
pub(crate) struct NewInstance<'a> {
    pub name: &'a str,
    pub cluster: &'a str,
    pub engine: &'a str,
    pub capacity: &'a Capacity,
    pub execution: &'a str,
}

/// `CreateDBInstance`; `false` when the instance already exists: a retried invocation whose
/// first attempt created it.
pub(crate) async fn create_instance(
    rds: &aws_sdk_rds::Client,
    instance: &NewInstance<'_>,
    region: &str,
) -> Result<bool, StepError> {
    let res = rds
        .create_db_instance()
        .db_instance_identifier(instance.name)
        .db_cluster_identifier(instance.cluster)
        .engine(instance.engine)
        .db_instance_class(&instance.capacity.instance_class)
        .tags(tag("failover:execution", instance.execution))
        .send()
        .await;
    match res {
        Ok(_) => Ok(true),
        Err(e) if classify(&e).code == "DBInstanceAlreadyExists" => Ok(false),
        Err(e) => Err(classify(&e).into_step_error(&format!("CreateDBInstance in {region}"))),
    }
}

/// A describe call's answer; `None` when the service says the resource does not exist.
pub(crate) fn unless_not_found<T, E>(
    res: Result<T, SdkError<E, HttpResponse>>,
    operation: &str,
    region: &str,
) -> Result<Option<T>, StepError>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    match res {
        Ok(out) => Ok(Some(out)),
        Err(e) => {
            let c = classify(&e);
            if c.kind == ErrorKind::NotFound {
                Ok(None)
            } else {
                Err(c.into_step_error(&format!("{operation} in {region}")))
            }
        }
    }
}

/// The newest replication-lag datapoint of a secondary cluster, from `AuroraGlobalDBRPOLag`
/// or, where it has none, `AuroraGlobalDBReplicationLag`, over the last five minutes.
pub async fn read_lag(
    cw: &aws_sdk_cloudwatch::Client,
    cluster_id: &str,
    region: &str,
    clock: &failover_core::SharedClock,
) -> Result<Option<LagObservation>, StepError> {
    use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
    let now = clock.now();
    let query = |id: &str, name: &str| {
        MetricDataQuery::builder()
            .id(id)
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace("AWS/RDS")
                            .metric_name(name)
                            .dimensions(Dimension::builder().name("DBClusterIdentifier").value(cluster_id).build())
                            .build(),
                    )
                    .period(60)
                    .stat("Maximum")
                    .build(),
            )
            .return_data(true)
            .build()
    };
    let out = cw
        .get_metric_data()
        .metric_data_queries(query("rpo", LAG_METRICS[0]))
        .metric_data_queries(query("replication", LAG_METRICS[1]))
        .start_time(DateTime::from(now - LAG_WINDOW))
        .end_time(DateTime::from(now))
        .scan_by(ScanBy::TimestampDescending)
        .send()
        .await
        .map_err(|e| classify(&e).into_step_error(&format!("GetMetricData in {region}")))?;
    for (id, metric) in [("rpo", LAG_METRICS[0]), ("replication", LAG_METRICS[1])] {
        let Some(result) = out.metric_data_results().iter().find(|r| r.id() == Some(id)) else { continue };
        // Newest datapoint, whatever order the service used.
        let newest =
            result.timestamps().iter().zip(result.values()).filter(|(_, v)| v.is_finite()).max_by(|a, b| a.0.cmp(b.0));
        if let Some((at, value)) = newest {
            let at = std::time::SystemTime::try_from(*at)
                .map(failover_core::time_fmt::rfc3339)
                .unwrap_or_else(|_| at.to_string());
            return Ok(Some(LagObservation {
                metric: metric.to_string(),
                milliseconds: value.max(0.0).round() as u64,
                at,
            }));
        }
    }
    Ok(None)
}

/// `DescribeGlobalClusters` for one global cluster.
pub(crate) async fn describe_global_cluster(
    rds: &aws_sdk_rds::Client,
    id: &str,
    region: &str,
) -> Result<GlobalCluster, StepError> {
    let out = rds
        .describe_global_clusters()
        .global_cluster_identifier(id)
        .send()
        .await
        .map_err(|e| classify(&e).into_step_error(&format!("DescribeGlobalClusters in {region}")))?;
    out.global_clusters()
        .iter()
        .find(|g| g.global_cluster_identifier() == Some(id))
        .cloned()
        .ok_or_else(|| StepError::not_found(format!("DescribeGlobalClusters in {region}: no global cluster `{id}`")))
}

/// `DescribeDBClusters` for one cluster.
pub(crate) async fn describe_cluster(
    rds: &aws_sdk_rds::Client,
    id: &str,
    region: &str,
) -> Result<DbCluster, StepError> {
    find_cluster(rds, id, region)
        .await?
        .ok_or_else(|| StepError::not_found(format!("DescribeDBClusters in {region}: no cluster `{id}`")))
}

/// `DescribeDBClusters` for one cluster; `None` when it does not exist.
pub(crate) async fn find_cluster(
    rds: &aws_sdk_rds::Client,
    id: &str,
    region: &str,
) -> Result<Option<DbCluster>, StepError> {
    let out = unless_not_found(
        rds.describe_db_clusters().db_cluster_identifier(id).send().await,
        "DescribeDBClusters",
        region,
    )?;
    Ok(out.and_then(|out| out.db_clusters().iter().find(|c| c.db_cluster_identifier() == Some(id)).cloned()))
}

/// `DescribeDBInstances` for one instance; `None` when it does not exist.
pub(crate) async fn find_instance(
    rds: &aws_sdk_rds::Client,
    id: &str,
    region: &str,
) -> Result<Option<aws_sdk_rds::types::DbInstance>, StepError> {
    let out = unless_not_found(
        rds.describe_db_instances().db_instance_identifier(id).send().await,
        "DescribeDBInstances",
        region,
    )?;
    Ok(out.and_then(|out| out.db_instances().iter().find(|i| i.db_instance_identifier() == Some(id)).cloned()))
}

async fn describe_instance_status(
    rds: &aws_sdk_rds::Client,
    id: &str,
    region: &str,
) -> Result<Option<String>, StepError> {
    Ok(find_instance(rds, id, region).await?.map(|i| i.db_instance_status().unwrap_or("unknown").to_string()))
}
