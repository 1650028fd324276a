//! Test support for the database steps: per-Region aws-smithy-mocks RDS and CloudWatch
//! clients that record which Regions were asked for, and builders of RDS answers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_sdk_rds::types::{
    DbCluster, DbClusterMember, DbClusterSnapshot, DbInstance, FailoverState, FailoverStatus, GlobalCluster,
    GlobalClusterMember, GlobalClusterMemberSynchronizationStatus,
};
use aws_smithy_mocks::{Rule, RuleMode, mock_client};
use aws_smithy_types::DateTime;
use aws_smithy_types::error::ErrorMetadata;
use failover_core::contract::ExecutionRef;
use failover_core::{Plan, SharedClock};
use failover_steps::aws::{AwsClients, Regional};

pub const PLAN: &str = include_str!("../../../../examples/retail-store.plan.yaml");
pub const PRIMARY: &str = "us-east-1";
pub const SECONDARY: &str = "us-west-2";
/// The virtual clock's start: 2027-01-15T08:00:00Z.
pub const T0: u64 = 1_800_000_000;

pub fn plan() -> Plan {
    Plan::from_yaml(PLAN).expect("the example plan is valid")
}

pub fn at(secs_after_t0: i64) -> SystemTime {
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(T0);
    if secs_after_t0 >= 0 {
        base + Duration::from_secs(secs_after_t0 as u64)
    } else {
        base - Duration::from_secs(secs_after_t0.unsigned_abs())
    }
}

pub fn dt(secs_after_t0: i64) -> DateTime {
    DateTime::from(at(secs_after_t0))
}

pub fn rfc(secs_after_t0: i64) -> String {
    failover_core::time_fmt::rfc3339(at(secs_after_t0))
}

pub fn execution(name: &str) -> ExecutionRef {
    ExecutionRef { name: name.to_string(), started_at: rfc(-60) }
}

pub fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

/// Mock clients per Region. A Region given no rules gets a client whose every call panics
/// (aws-smithy-mocks' must-match), and every Region a step asks a client for is recorded.
#[derive(Default)]
pub struct Mocks {
    rds: BTreeMap<String, Vec<Rule>>,
    cloudwatch: BTreeMap<String, Vec<Rule>>,
    asked: Arc<Mutex<Vec<(String, String)>>>,
}

impl Mocks {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn rds(mut self, region: &str, rules: &[&Rule]) -> Self {
        self.rds.entry(region.to_string()).or_default().extend(rules.iter().map(|r| (*r).clone()));
        self
    }

    pub fn cloudwatch(mut self, region: &str, rules: &[&Rule]) -> Self {
        self.cloudwatch.entry(region.to_string()).or_default().extend(rules.iter().map(|r| (*r).clone()));
        self
    }

    /// Clients on a virtual clock at [`T0`] (create inside a paused runtime).
    pub fn clients(&self) -> AwsClients {
        let clock = SharedClock::virtual_at(at(0));
        let mut clients = AwsClients::from_sdk_config(aws_config::SdkConfig::builder().build(), clock.clone());
        let rules = self.rds.clone();
        let asked = self.asked.clone();
        let sleep = clock.sdk_sleep();
        clients.rds = Arc::new(Regional::from_fn(move |region| {
            asked.lock().unwrap().push(("rds".into(), region.to_string()));
            let rules = rules.get(region).cloned().unwrap_or_default();
            let sleep = sleep.clone();
            let region = region.to_string();
            mock_client!(aws_sdk_rds, RuleMode::MatchAny, rules.iter(), move |c: aws_sdk_rds::config::Builder| c
                .region(aws_sdk_rds::config::Region::new(region.clone()))
                .sleep_impl(sleep.clone()))
        }));
        let rules = self.cloudwatch.clone();
        let asked = self.asked.clone();
        let sleep = clock.sdk_sleep();
        clients.cloudwatch = Arc::new(Regional::from_fn(move |region| {
            asked.lock().unwrap().push(("cloudwatch".into(), region.to_string()));
            let rules = rules.get(region).cloned().unwrap_or_default();
            let sleep = sleep.clone();
            let region = region.to_string();
            mock_client!(
                aws_sdk_cloudwatch,
                RuleMode::MatchAny,
                rules.iter(),
                move |c: aws_sdk_cloudwatch::config::Builder| c
                    .region(aws_sdk_cloudwatch::config::Region::new(region.clone()))
                    .sleep_impl(sleep.clone())
            )
        }));
        clients
    }

    /// The Regions a client of `service` was asked for.
    pub fn regions_asked(&self, service: &str) -> Vec<String> {
        self.asked.lock().unwrap().iter().filter(|(s, _)| s == service).map(|(_, r)| r.clone()).collect()
    }

    pub fn nothing_asked(&self) -> bool {
        self.asked.lock().unwrap().is_empty()
    }
}

pub fn member_arn(plan: &Plan, db: &str, region: &str) -> String {
    plan.database(db).unwrap().members[region].clone()
}

pub fn cluster_id(plan: &Plan, db: &str, region: &str) -> String {
    member_arn(plan, db, region).rsplit(':').next().unwrap().to_string()
}

/// A global cluster as DescribeGlobalClusters answers it.
pub struct Global {
    pub id: String,
    pub status: String,
    pub engine_version: String,
    /// (member ARN, is writer, synchronisation status)
    pub members: Vec<(String, bool, Option<&'static str>)>,
    /// (status, to ARN)
    pub failover: Option<(String, String)>,
}

impl Global {
    /// The plan's global cluster of `db`, writer in `writer`, available, no failover.
    pub fn of(plan: &Plan, db: &str, writer: &str, engine_version: &str) -> Self {
        let d = plan.database(db).unwrap();
        Global {
            id: d.global_cluster.clone(),
            status: "available".into(),
            engine_version: engine_version.into(),
            members: d
                .members
                .iter()
                .map(|(r, arn)| (arn.clone(), r == writer, (r != writer).then_some("connected")))
                .collect(),
            failover: None,
        }
    }

    pub fn status(mut self, s: &str) -> Self {
        self.status = s.into();
        self
    }

    pub fn failing_over(mut self, status: &str, to: &str) -> Self {
        self.failover = Some((status.into(), to.into()));
        self
    }

    pub fn member(mut self, arn: &str, writer: bool, sync: Option<&'static str>) -> Self {
        self.members.push((arn.into(), writer, sync));
        self
    }

    pub fn sync(mut self, arn: &str, sync: &'static str) -> Self {
        for m in &mut self.members {
            if m.0 == arn {
                m.2 = Some(sync);
            }
        }
        self
    }

    pub fn build(&self) -> GlobalCluster {
        let mut b = GlobalCluster::builder()
            .global_cluster_identifier(&self.id)
            .status(&self.status)
            .engine_version(&self.engine_version);
        for (arn, writer, sync) in &self.members {
            let mut m = GlobalClusterMember::builder().db_cluster_arn(arn).is_writer(*writer);
            if let Some(s) = sync {
                m = m.synchronization_status(GlobalClusterMemberSynchronizationStatus::from(*s));
            }
            b = b.global_cluster_members(m.build());
        }
        if let Some((status, to)) = &self.failover {
            let from = self.members.iter().find(|m| m.1).map(|m| m.0.clone()).unwrap_or_default();
            b = b.failover_state(
                FailoverState::builder()
                    .status(FailoverStatus::from(status.as_str()))
                    .from_db_cluster_arn(from)
                    .to_db_cluster_arn(to)
                    .is_data_loss_allowed(false)
                    .build(),
            );
        }
        b.build()
    }

    pub fn output(&self) -> aws_sdk_rds::operation::describe_global_clusters::DescribeGlobalClustersOutput {
        aws_sdk_rds::operation::describe_global_clusters::DescribeGlobalClustersOutput::builder()
            .global_clusters(self.build())
            .build()
    }
}

pub fn cluster(id: &str, arn: &str, status: &str, engine_version: &str, instances: &[&str]) -> DbCluster {
    let mut b = DbCluster::builder()
        .db_cluster_identifier(id)
        .db_cluster_arn(arn)
        .status(status)
        .engine_version(engine_version);
    for i in instances {
        b = b
            .db_cluster_members(DbClusterMember::builder().db_instance_identifier(*i).is_cluster_writer(false).build());
    }
    b.build()
}

pub fn clusters_output(c: DbCluster) -> aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput {
    aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput::builder().db_clusters(c).build()
}

pub fn instance(id: &str, status: &str) -> DbInstance {
    DbInstance::builder().db_instance_identifier(id).db_instance_status(status).build()
}

pub fn instances_output(i: DbInstance) -> aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput {
    aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput::builder().db_instances(i).build()
}

pub fn snapshot(id: &str, region: &str, created: i64, status: &str) -> DbClusterSnapshot {
    DbClusterSnapshot::builder()
        .db_cluster_snapshot_identifier(id)
        .db_cluster_snapshot_arn(format!("arn:aws:rds:{region}:111122223333:cluster-snapshot:{id}"))
        .snapshot_create_time(dt(created))
        .status(status)
        .engine_version("8.0.mysql_aurora.3.05.2")
        .storage_encrypted(true)
        .kms_key_id(format!("arn:aws:kms:{region}:111122223333:key/old"))
        .build()
}

pub fn snapshots_output(
    s: Vec<DbClusterSnapshot>,
) -> aws_sdk_rds::operation::describe_db_cluster_snapshots::DescribeDbClusterSnapshotsOutput {
    aws_sdk_rds::operation::describe_db_cluster_snapshots::DescribeDbClusterSnapshotsOutput::builder()
        .set_db_cluster_snapshots(Some(s))
        .build()
}

/// A GetMetricData answer: the RPO lag and the replication lag series, newest first.
pub fn lag_output(
    rpo: &[(i64, f64)],
    replication: &[(i64, f64)],
) -> aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput {
    use aws_sdk_cloudwatch::types::MetricDataResult;
    let series = |id: &str, points: &[(i64, f64)]| {
        MetricDataResult::builder()
            .id(id)
            .set_timestamps(Some(points.iter().map(|(t, _)| dt(*t)).collect()))
            .set_values(Some(points.iter().map(|(_, v)| *v).collect()))
            .build()
    };
    aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput::builder()
        .metric_data_results(series("rpo", rpo))
        .metric_data_results(series("replication", replication))
        .build()
}
