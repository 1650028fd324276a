//! `aurora-failover`: move the writer of one Aurora global database to the target Region.
//!
//! [`handle`] runs one [`AuroraAction`]:
//!
//! * `start` reads the global cluster in the target Region and decides: already the writer
//!   (nothing to do), a move to the same target in progress (nothing to do, keep polling), a
//!   move to another target in progress (`InvalidState`), or a move to start. Before it
//!   calls `SwitchoverGlobalCluster` (planned) or `FailoverGlobalCluster` with
//!   `AllowDataLoss` (unplanned) it refuses on the first blocking finding of the Aurora move
//!   rules (`failover_core::aurora_rules`, the same findings preflight shows), gathering
//!   the observation in stages so that it makes no call a refusal makes useless; a headless
//!   target gets an instance first when the plan allows. The lag read just before the call
//!   is the RPO exposure.
//! * `check` makes one `DescribeGlobalClusters` call: complete, or `NotYet`.
//!
//! Every RDS and CloudWatch call goes to the target Region, except that a planned
//! switchover also reads the source cluster in its own (healthy) Region. In unplanned mode
//! nothing here calls the old primary's Region: it may be gone.

use aws_sdk_rds::types::DbCluster;
use failover_core::StepError;
use failover_core::aurora_rules::{self, GlobalView, Observation, Progress};
use failover_core::contract::Mode;
use failover_core::contract::aurora::{
    AuroraAction, AuroraFailoverInput, AuroraFailoverOutput, AuroraOutcome, cluster_id_of_arn, rds_identifier,
};
use failover_core::plan::{Capacity, GlobalDatabase};

use crate::aws::{AwsClients, classify};
use crate::rds::{NewInstance, Observer, create_instance};

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
    source_region: &'a str,
    rds: aws_sdk_rds::Client,
}

impl<'a> Ctx<'a> {
    fn new(input: &'a AuroraFailoverInput, clients: &'a AwsClients) -> Result<Self, StepError> {
        let db = input.global_database()?;
        let target_arn = db
            .members
            .get(&input.target_region)
            .ok_or_else(|| StepError::bad_input(format!("database: no member in `{}`", input.target_region)))?;
        let source_region = input.source_region()?;
        Ok(Ctx { input, db, clients, target_arn, source_region, rds: clients.rds.get(&input.target_region) })
    }

    fn target_id(&self) -> &str {
        cluster_id_of_arn(self.target_arn)
    }

    fn observer(&self) -> Observer<'_> {
        Observer {
            clients: self.clients,
            db: self.db,
            target_region: &self.input.target_region,
            source_region: self.source_region,
            read_source: self.input.mode == Mode::Planned,
            rpo_ms: self.input.plan.objectives.rpo_seconds.saturating_mul(1000),
        }
    }

    fn output(&self, outcome: AuroraOutcome, o: &Observation, calls: Vec<String>) -> AuroraFailoverOutput {
        let writer = o.global.writer().map(str::to_string);
        AuroraFailoverOutput {
            action: self.input.action,
            database: self.db.name.clone(),
            global_cluster: self.db.global_cluster.clone(),
            mode: self.input.mode,
            target_region: self.input.target_region.clone(),
            outcome,
            calls,
            status: o.global.status.clone(),
            failover_status: o.global.failover.as_ref().map(|f| f.status.clone()),
            writer_region: writer.as_deref().and_then(|w| o.planned_members_region(w)).map(str::to_string),
            writer,
            lag: None,
            instance_created: None,
            observed_at: self.clients.clock.now_rfc3339(),
        }
    }

    async fn check(&self) -> Result<AuroraFailoverOutput, StepError> {
        let o = self.observer().global().await?;
        let g: &GlobalView = &o.global;
        let progress = aurora_rules::progress(g, self.target_arn);
        if let Some(e) = aurora_rules::progress_refusal(&o, &progress) {
            return Err(e);
        }
        if progress == Progress::TargetWrites && g.status == "available" {
            return Ok(self.output(AuroraOutcome::Completed, &o, Vec::new()));
        }
        Err(StepError::not_yet(format!(
            "global cluster {}: status {}, failover {}, writer {}",
            self.db.global_cluster,
            g.status,
            g.failover.as_ref().map_or("none", |f| f.status.as_str()),
            g.writer().unwrap_or("none")
        )))
    }

    async fn start(&self) -> Result<AuroraFailoverOutput, StepError> {
        let mode = self.input.mode;
        let observer = self.observer();
        let refuse = |o: &Observation| aurora_rules::refusal(o, mode).map_or(Ok(()), Err);

        let mut o = observer.global().await?;
        match aurora_rules::progress(&o.global, self.target_arn) {
            Progress::InFlightToTarget(_) => return Ok(self.output(AuroraOutcome::InProgress, &o, Vec::new())),
            Progress::TargetWrites => return Ok(self.output(AuroraOutcome::AlreadyDone, &o, Vec::new())),
            Progress::InFlightElsewhere(_) | Progress::TargetNotAMember | Progress::ToStart => refuse(&o)?,
        }

        let target = observer.clusters(&mut o).await?;
        refuse(&o)?;
        let Some(target) = target else {
            return Err(StepError::not_found(format!(
                "DescribeDBClusters in {}: no cluster `{}`",
                self.input.target_region,
                self.target_id()
            )));
        };

        match (mode, observer.lag(&mut o).await) {
            // A switchover must show it loses nothing: an unread lag stops it.
            (Mode::Planned, Err(e)) => return Err(e),
            // The lag is the exposure to report, never a reason to hold back a failover.
            (Mode::Unplanned, Err(e)) => tracing::warn!(error = %e, "replication lag unknown; failing over anyway"),
            (_, Ok(())) => {}
        }
        refuse(&o)?;
        let lag = match &o.lag {
            Some(aurora_rules::LagView::Reading(l)) => Some(l.clone()),
            _ => None,
        };

        let ours = headless_instance_name(self.target_id(), &self.input.execution.name);
        observer.instances(&mut o, &target, Some(&ours)).await?;
        refuse(&o)?;
        let instance_created = o.instances.iter().flatten().any(|i| i.id == ours).then(|| ours.clone());
        if aurora_rules::needs_instance(&o) {
            let capacity =
                self.db.headless.as_ref().ok_or_else(|| StepError::internal("needs_instance without a capacity"))?;
            let calls = self.create_instance(&target, capacity, &ours).await?;
            return Err(StepError::not_yet(format!(
                "created instance {ours} in headless target cluster {} ({}); waiting until it is available",
                self.target_id(),
                calls.join(", ")
            )));
        }

        let call = match mode {
            Mode::Planned => {
                let sent = self
                    .rds
                    .switchover_global_cluster()
                    .global_cluster_identifier(&self.db.global_cluster)
                    .target_db_cluster_identifier(self.target_arn)
                    .customize()
                    .config_override(move_call_retries())
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| {
                        classify(&e)
                            .into_step_error(&format!("SwitchoverGlobalCluster in {}", self.input.target_region))
                    });
                if let Err(e) = sent {
                    return self.accepted_before(e).await;
                }
                "SwitchoverGlobalCluster"
            }
            Mode::Unplanned => {
                let sent = self
                    .rds
                    .failover_global_cluster()
                    .global_cluster_identifier(&self.db.global_cluster)
                    .target_db_cluster_identifier(self.target_arn)
                    .allow_data_loss(true)
                    .customize()
                    .config_override(move_call_retries())
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| {
                        classify(&e).into_step_error(&format!("FailoverGlobalCluster in {}", self.input.target_region))
                    });
                if let Err(e) = sent {
                    return self.accepted_before(e).await;
                }
                "FailoverGlobalCluster"
            }
        };
        tracing::info!(global_cluster = %self.db.global_cluster, target = %self.target_arn, call, lag_ms = ?lag.as_ref().map(|l| l.milliseconds), "failover started");
        let mut out = self.output(AuroraOutcome::Started, &o, vec![call.to_string()]);
        out.lag = lag;
        out.instance_created = instance_created;
        Ok(out)
    }

    /// The move call failed: if the global cluster shows a move to our target in flight or
    /// done, an earlier call (whose answer was lost: a Lambda timeout after the call, a
    /// dropped connection) was accepted, and this is polling, not a failure. Otherwise the
    /// call's own error stands. A Describe that lags behind an accepted call shows neither,
    /// and the error stands too: a transient one is retried by the state machine and then
    /// finds the move.
    async fn accepted_before(&self, call_error: StepError) -> Result<AuroraFailoverOutput, StepError> {
        let Ok(o) = self.observer().global().await else { return Err(call_error) };
        match aurora_rules::progress(&o.global, self.target_arn) {
            Progress::InFlightToTarget(_) => {
                tracing::info!(global_cluster = %self.db.global_cluster, error = %call_error, "the move was accepted earlier; polling");
                Ok(self.output(AuroraOutcome::InProgress, &o, Vec::new()))
            }
            Progress::TargetWrites => Ok(self.output(AuroraOutcome::AlreadyDone, &o, Vec::new())),
            _ => Err(call_error),
        }
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
}

/// The move calls are not idempotent: re-sent after a lost answer they are refused
/// (`InvalidGlobalClusterStateFault`), so the SDK re-sends one only when RDS refused it
/// unexecuted, a throttle ([`crate::aws::ThrottlesOnly`]); a timeout, a dropped connection or
/// a 5xx may hide an accepted call and goes to the state machine's retry, which re-invokes
/// the step, and the step reads the global cluster first.
fn move_call_retries() -> aws_sdk_rds::config::Builder {
    aws_sdk_rds::config::Builder::default()
        .retry_config(aws_config::retry::RetryConfig::standard())
        .retry_classifier(crate::aws::ThrottlesOnly)
}
