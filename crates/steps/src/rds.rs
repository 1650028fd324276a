//! RDS calls shared by the steps that read or change Aurora clusters (aurora-failover,
//! preflight, snapshot-restore), and [`observe`]: what the Aurora move rules
//! (`failover_core::aurora_rules`) judge, gathered in the Regions those rules allow.
//!
//! Architecture invariant: the source cluster is read (in its own Region) only when the
//! caller asks for it, which the callers do in planned mode only; everything else is read in
//! the target Region.

use aws_sdk_rds::types::{DbCluster, GlobalCluster};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use failover_core::aurora_rules::{ClusterView, GlobalView, InFlight, InstanceView, LagView, MemberView, Observed};
use failover_core::plan::Capacity;
use failover_core::{ErrorKind, StepError};

use crate::aws::{AwsClients, classify};

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

/// The global cluster as the rules see it.
pub fn global_view(g: &GlobalCluster) -> GlobalView {
    let failover = g.failover_state().and_then(|f| {
        // A FailoverState with no field set is what "no failover" looks like on the wire
        // for some responses; only a status or a target means one is in flight.
        let status = f.status().map(|s| s.as_str().to_string());
        let to = f.to_db_cluster_arn().map(str::to_string);
        (status.is_some() || to.is_some()).then(|| InFlight { status: status.unwrap_or_else(|| "unknown".into()), to })
    });
    GlobalView {
        status: g.status().unwrap_or("unknown").to_string(),
        engine_version: g.engine_version().map(str::to_string),
        members: g
            .global_cluster_members()
            .iter()
            .filter_map(|m| {
                Some(MemberView {
                    arn: m.db_cluster_arn()?.to_string(),
                    is_writer: m.is_writer() == Some(true),
                    synchronization: m.synchronization_status().map(|s| s.as_str().to_string()),
                })
            })
            .collect(),
        failover,
    }
}

fn cluster_view(c: &DbCluster) -> ClusterView {
    ClusterView {
        id: c.db_cluster_identifier().unwrap_or_default().to_string(),
        status: c.status().unwrap_or("unknown").to_string(),
        engine_version: c.engine_version().unwrap_or_default().to_string(),
    }
}

/// Gathers an [`Observation`](failover_core::aurora_rules::Observation) of one database in
/// stages, so that a step which stops at the first refusal makes no call it does not need:
/// [`Observer::global`], then [`Observer::clusters`], [`Observer::lag`],
/// [`Observer::instances`].
pub struct Observer<'a> {
    pub clients: &'a AwsClients,
    pub db: &'a failover_core::plan::GlobalDatabase,
    pub target_region: &'a str,
    pub source_region: &'a str,
    /// Read the source cluster in its own Region (planned mode only: in unplanned mode its
    /// Region may be gone).
    pub read_source: bool,
    pub rpo_ms: u64,
}

impl Observer<'_> {
    fn target_arn(&self) -> &str {
        self.db.members.get(self.target_region).map(String::as_str).unwrap_or_default()
    }

    fn target_id(&self) -> &str {
        failover_core::contract::aurora::cluster_id_of_arn(self.target_arn())
    }

    /// `DescribeGlobalClusters` in the target Region; `NotFound` when it does not exist.
    pub async fn global(&self) -> Result<failover_core::aurora_rules::Observation, StepError> {
        let rds = self.clients.rds.get(self.target_region);
        let g = describe_global_cluster(&rds, &self.db.global_cluster, self.target_region).await?;
        Ok(failover_core::aurora_rules::Observation {
            database: self.db.name.clone(),
            global_cluster: self.db.global_cluster.clone(),
            target_region: self.target_region.to_string(),
            source_region: self.source_region.to_string(),
            target_arn: self.target_arn().to_string(),
            planned_members: self.db.members.iter().map(|(r, a)| (r.clone(), a.clone())).collect(),
            global: global_view(&g),
            target: Observed::NotObserved,
            source: Observed::NotObserved,
            instances: None,
            headless_class: self.db.headless.as_ref().map(|c| c.instance_class.clone()),
            lag: None,
            rpo_ms: self.rpo_ms,
        })
    }

    /// The target cluster (returned when it exists) and, when asked, the source cluster.
    pub async fn clusters(
        &self,
        o: &mut failover_core::aurora_rules::Observation,
    ) -> Result<Option<DbCluster>, StepError> {
        let rds = self.clients.rds.get(self.target_region);
        let target = find_cluster(&rds, self.target_id(), self.target_region).await?;
        o.target = target.as_ref().map_or(Observed::Missing, |c| Observed::Found(cluster_view(c)));
        if self.read_source {
            let source_arn = self.db.members.get(self.source_region).map(String::as_str).unwrap_or_default();
            let source_id = failover_core::contract::aurora::cluster_id_of_arn(source_arn);
            let rds = self.clients.rds.get(self.source_region);
            // An unanswered source Region refuses the switchover (a finding), it does not
            // fail the check: the readiness check and a planned start must say why. A
            // throttled read was answered: the Region's API is there, the step fails
            // Transient and is retried, never offered as a reason to lose data.
            let res = rds.describe_db_clusters().db_cluster_identifier(source_id).send().await;
            o.source = match res {
                Ok(out) => out
                    .db_clusters()
                    .iter()
                    .find(|c| c.db_cluster_identifier() == Some(source_id))
                    .map_or(Observed::Missing, |c| Observed::Found(cluster_view(c))),
                Err(e) => {
                    let c = classify(&e);
                    let what = format!("DescribeDBClusters in {}", self.source_region);
                    match c.kind {
                        ErrorKind::NotFound => Observed::Missing,
                        ErrorKind::Transient if c.unanswered() => {
                            Observed::Unreachable(c.into_step_error(&what).message)
                        }
                        _ => return Err(c.into_step_error(&what)),
                    }
                }
            };
        }
        Ok(target)
    }

    /// The target's lag, recorded in the observation; a failed read is recorded as
    /// unreadable and also returned, for the caller to decide whether it stops.
    pub async fn lag(&self, o: &mut failover_core::aurora_rules::Observation) -> Result<(), StepError> {
        let cw = self.clients.cloudwatch.get(self.target_region);
        match crate::lag::read_lag(&cw, self.target_id(), self.target_region, &self.clients.clock).await {
            Ok(Some(l)) => o.lag = Some(LagView::Reading(l)),
            Ok(None) => o.lag = Some(LagView::NoDatapoint),
            Err(e) => {
                o.lag = Some(LagView::Unreadable(e.message.clone()));
                return Err(e);
            }
        }
        Ok(())
    }

    /// The states of the target's instances. `also`: an instance that may exist without
    /// being listed as a member yet (the one a failover creates in a headless target),
    /// looked up when no listed instance is available and the plan allows creating it.
    pub async fn instances(
        &self,
        o: &mut failover_core::aurora_rules::Observation,
        target: &DbCluster,
        also: Option<&str>,
    ) -> Result<(), StepError> {
        let rds = self.clients.rds.get(self.target_region);
        let ids: Vec<String> =
            target.db_cluster_members().iter().filter_map(|m| m.db_instance_identifier()).map(str::to_string).collect();
        let mut found = Vec::new();
        for id in &ids {
            if let Some(status) = describe_instance_status(&rds, id, self.target_region).await? {
                found.push(InstanceView { id: id.clone(), status });
            }
        }
        if let Some(extra) = also
            && !found.iter().any(|i| i.status == "available")
            && !ids.iter().any(|i| i == extra)
            && self.db.headless.is_some()
            && let Some(status) = describe_instance_status(&rds, extra, self.target_region).await?
        {
            found.push(InstanceView { id: extra.to_string(), status });
        }
        o.instances = Some(found);
        Ok(())
    }
}
