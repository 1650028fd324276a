//! aurora-failover over aws-smithy-mocks RDS and CloudWatch clients, one client per Region.
//!
//! Every test counts the mutating calls (`SwitchoverGlobalCluster`, `FailoverGlobalCluster`,
//! `CreateDBInstance`, `ModifyDBCluster`) through the rules' `num_calls()`, and checks which
//! Regions were called: in unplanned mode never the old primary's.

mod rds_mocks;

use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataError;
use aws_sdk_rds::operation::create_db_instance::CreateDbInstanceOutput;
use aws_sdk_rds::operation::describe_db_clusters::DescribeDBClustersError;
use aws_sdk_rds::operation::describe_db_instances::DescribeDBInstancesError;
use aws_sdk_rds::operation::describe_global_clusters::DescribeGlobalClustersError;
use aws_sdk_rds::operation::failover_global_cluster::{FailoverGlobalClusterError, FailoverGlobalClusterOutput};
use aws_sdk_rds::operation::switchover_global_cluster::{SwitchoverGlobalClusterError, SwitchoverGlobalClusterOutput};
use aws_smithy_mocks::{Rule, mock};
use failover_core::aurora_rules::LAG_METRICS;
use failover_core::contract::Mode;
use failover_core::contract::aurora::{AuroraAction, AuroraFailoverInput, AuroraOutcome};
use failover_core::{ErrorKind, StepError};
use failover_steps::aurora_failover::{handle, headless_instance_name};
use rds_mocks::*;

const MYSQL: &str = "8.0.mysql_aurora.3.05.2";
const PG: &str = "15.4";

fn input(db: &str, target: &str, mode: Mode, action: AuroraAction) -> AuroraFailoverInput {
    AuroraFailoverInput {
        plan: plan(),
        database: db.into(),
        target_region: target.into(),
        mode,
        action,
        execution: execution("drill-2027-01-15-0800"),
    }
}

fn describe_global(outputs: Vec<Global>) -> Rule {
    let mut seq = mock!(aws_sdk_rds::Client::describe_global_clusters).sequence();
    let last = outputs.len() - 1;
    for (i, g) in outputs.into_iter().enumerate() {
        let out = g.output();
        seq = seq.output(move || out.clone());
        if i == last {
            return seq.repeatedly().build();
        }
    }
    unreachable!()
}

fn describe_cluster(c: aws_sdk_rds::types::DbCluster) -> Rule {
    let id = c.db_cluster_identifier().unwrap().to_string();
    let out = clusters_output(c);
    mock!(aws_sdk_rds::Client::describe_db_clusters)
        .match_requests(move |r| r.db_cluster_identifier() == Some(id.as_str()))
        .then_output(move || out.clone())
}

fn describe_instance(id: &str, status: &str) -> Rule {
    let out = instances_output(instance(id, status));
    let id = id.to_string();
    mock!(aws_sdk_rds::Client::describe_db_instances)
        .match_requests(move |r| r.db_instance_identifier() == Some(id.as_str()))
        .then_output(move || out.clone())
}

fn lag(rpo: &[(i64, f64)], replication: &[(i64, f64)]) -> Rule {
    let out = lag_output(rpo, replication);
    mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .match_requests(|r| {
            // Both metrics over the last five minutes.
            let (Some(start), Some(end)) = (r.start_time(), r.end_time()) else { return false };
            r.metric_data_queries().len() == 2 && end.secs() - start.secs() == 300 && end.secs() >= dt(0).secs()
        })
        .then_output(move || out.clone())
}

fn switchover(global: &str, target_arn: &str) -> Rule {
    let (g, t) = (global.to_string(), target_arn.to_string());
    mock!(aws_sdk_rds::Client::switchover_global_cluster)
        .match_requests(move |r| {
            r.global_cluster_identifier() == Some(g.as_str()) && r.target_db_cluster_identifier() == Some(t.as_str())
        })
        .then_output(|| SwitchoverGlobalClusterOutput::builder().build())
}

fn failover(global: &str, target_arn: &str) -> Rule {
    let (g, t) = (global.to_string(), target_arn.to_string());
    mock!(aws_sdk_rds::Client::failover_global_cluster)
        .match_requests(move |r| {
            r.global_cluster_identifier() == Some(g.as_str())
                && r.target_db_cluster_identifier() == Some(t.as_str())
                && r.allow_data_loss() == Some(true)
                && r.switchover().is_none()
        })
        .then_output(|| FailoverGlobalClusterOutput::builder().build())
}

/// The target (us-west-2) and source (us-east-1) clusters of `db`, available, one instance
/// each, at `version`.
struct Healthy {
    target_arn: String,
    global: String,
    target_cluster: Rule,
    target_instance: Rule,
    source_cluster: Rule,
}

fn healthy(db: &str, version: &str) -> Healthy {
    let p = plan();
    let t_id = cluster_id(&p, db, SECONDARY);
    let s_id = cluster_id(&p, db, PRIMARY);
    let target_arn = member_arn(&p, db, SECONDARY);
    Healthy {
        global: p.database(db).unwrap().global_cluster.clone(),
        target_cluster: describe_cluster(cluster(&t_id, &target_arn, "available", version, &[&format!("{t_id}-1")])),
        target_instance: describe_instance(&format!("{t_id}-1"), "available"),
        source_cluster: describe_cluster(cluster(
            &s_id,
            &member_arn(&p, db, PRIMARY),
            "available",
            version,
            &[&format!("{s_id}-1")],
        )),
        target_arn,
    }
}

/// Starts `db`'s move to us-west-2 in `mode`, expecting a refusal.
async fn start_err(mocks: &Mocks, db: &str, mode: Mode) -> StepError {
    handle(input(db, SECONDARY, mode, AuroraAction::Start), &mocks.clients()).await.unwrap_err()
}

impl Healthy {
    /// A planned switchover's mocks: `describe`, the target cluster and instance and `call` in
    /// the target Region, the source cluster in its own, `cw` answering the lag.
    fn planned(&self, describe: &Rule, call: &Rule, cw: &Rule) -> Mocks {
        Mocks::new()
            .rds(SECONDARY, &[describe, &self.target_cluster, &self.target_instance, call])
            .rds(PRIMARY, &[&self.source_cluster])
            .cloudwatch(SECONDARY, &[cw])
    }

    /// An unplanned failover's mocks: the same in the target Region, nothing in the old one.
    fn unplanned(&self, describe: &Rule, call: &Rule, cw: &Rule) -> Mocks {
        Mocks::new()
            .rds(SECONDARY, &[describe, &self.target_cluster, &self.target_instance, call])
            .cloudwatch(SECONDARY, &[cw])
    }
}

#[tokio::test(start_paused = true)]
async fn switchover_goes_through_pending_and_switching_over_to_done() {
    let p = plan();
    let h = healthy("catalog", MYSQL);
    let g = || Global::of(&p, "catalog", PRIMARY, MYSQL);
    let describe = describe_global(vec![
        g(),
        g().failing_over("pending", &h.target_arn),
        g().status("switching-over").failing_over("switching-over", &h.target_arn),
        Global::of(&p, "catalog", SECONDARY, MYSQL),
    ]);
    let switch = switchover(&h.global, &h.target_arn);
    let cw = lag(&[(-30, 800.0), (-90, 400.0)], &[(-30, 750.0)]);
    let mocks = h.planned(&describe, &switch, &cw);
    let clients = mocks.clients();

    let out = handle(input("catalog", SECONDARY, Mode::Planned, AuroraAction::Start), &clients).await.unwrap();
    assert_eq!(out.outcome, AuroraOutcome::Started);
    assert_eq!(out.calls, vec!["SwitchoverGlobalCluster"]);
    let lag = out.lag.expect("lag observed before the call");
    assert_eq!((lag.metric.as_str(), lag.milliseconds), (LAG_METRICS[0], 800));
    assert_eq!(lag.at, rfc(-30));
    assert_eq!(out.writer_region.as_deref(), Some(PRIMARY));

    let check = input("catalog", SECONDARY, Mode::Planned, AuroraAction::Check);
    let e = handle(check.clone(), &clients).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotYet);
    assert!(e.message.contains("failover pending"), "{e}");
    let e = handle(check.clone(), &clients).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotYet);
    assert!(e.message.contains("status switching-over, failover switching-over"), "{e}");
    let done = handle(check.clone(), &clients).await.unwrap();
    assert_eq!(done.outcome, AuroraOutcome::Completed);
    assert_eq!(done.writer.as_deref(), Some(h.target_arn.as_str()));
    assert_eq!(done.writer_region.as_deref(), Some(SECONDARY));
    assert_eq!(done.failover_status, None);

    // A redriven start after success repeats nothing.
    let again = handle(input("catalog", SECONDARY, Mode::Planned, AuroraAction::Start), &clients).await.unwrap();
    assert_eq!(again.outcome, AuroraOutcome::AlreadyDone);
    assert!(again.calls.is_empty());
    assert_eq!(switch.num_calls(), 1, "one switchover for the whole flow");
    assert_eq!(describe.num_calls(), 5);
    assert_eq!(mocks.regions_asked("cloudwatch"), vec![SECONDARY]);
}

#[tokio::test(start_paused = true)]
async fn unplanned_failover_allows_data_loss_and_never_calls_the_old_region() {
    let p = plan();
    let h = healthy("orders", PG);
    let describe = describe_global(vec![
        Global::of(&p, "orders", PRIMARY, PG).sync(&member_arn(&p, "orders", SECONDARY), "pending-resync"),
        Global::of(&p, "orders", PRIMARY, PG).status("failing-over").failing_over("failing-over", &h.target_arn),
        Global::of(&p, "orders", SECONDARY, PG),
    ]);
    let fail = failover(&h.global, &h.target_arn);
    // No RPO-lag series (as for Aurora MySQL): the replication lag stands in.
    let cw = lag(&[], &[(-20, 2_500.0), (-80, 1_000.0)]);
    let mocks = h.unplanned(&describe, &fail, &cw);
    let clients = mocks.clients();

    let out = handle(input("orders", SECONDARY, Mode::Unplanned, AuroraAction::Start), &clients).await.unwrap();
    assert_eq!(out.outcome, AuroraOutcome::Started);
    assert_eq!(out.calls, vec!["FailoverGlobalCluster"]);
    let lag = out.lag.unwrap();
    assert_eq!((lag.metric.as_str(), lag.milliseconds), (LAG_METRICS[1], 2_500));

    // Retried start while the failover runs: nothing repeated.
    let again = handle(input("orders", SECONDARY, Mode::Unplanned, AuroraAction::Start), &clients).await.unwrap();
    assert_eq!(again.outcome, AuroraOutcome::InProgress);
    assert_eq!(again.failover_status.as_deref(), Some("failing-over"));
    assert!(again.calls.is_empty());

    let done = handle(input("orders", SECONDARY, Mode::Unplanned, AuroraAction::Check), &clients).await.unwrap();
    assert_eq!(done.outcome, AuroraOutcome::Completed);
    assert_eq!(fail.num_calls(), 1);
    assert_eq!(mocks.regions_asked("rds"), vec![SECONDARY], "the impaired Region is never called");
    assert_eq!(mocks.regions_asked("cloudwatch"), vec![SECONDARY]);
}

#[tokio::test(start_paused = true)]
async fn unplanned_failover_proceeds_when_the_lag_cannot_be_read() {
    let p = plan();
    let h = healthy("orders", PG);
    let describe = describe_global(vec![Global::of(&p, "orders", PRIMARY, PG)]);
    let fail = failover(&h.global, &h.target_arn);
    let denied = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .then_error(|| GetMetricDataError::generic(meta("AccessDenied", "not authorized to GetMetricData")));
    let mocks = h.unplanned(&describe, &fail, &denied);
    let out = handle(input("orders", SECONDARY, Mode::Unplanned, AuroraAction::Start), &mocks.clients()).await.unwrap();
    assert_eq!(out.outcome, AuroraOutcome::Started);
    assert_eq!(out.lag, None);
    assert_eq!(fail.num_calls(), 1);

    // The same failure refuses a planned switchover: the lag must be known.
    let h = healthy("orders", PG);
    let describe = describe_global(vec![Global::of(&p, "orders", PRIMARY, PG)]);
    let switch = switchover(&h.global, &h.target_arn);
    let mocks = h.planned(&describe, &switch, &denied);
    let e = start_err(&mocks, "orders", Mode::Planned).await;
    assert_eq!(e.kind, ErrorKind::AccessDenied, "{e}");
    assert!(e.message.contains("GetMetricData in us-west-2"), "{e}");
    assert_eq!(switch.num_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_status_unknown_to_the_sdk_is_reported_not_an_error() {
    let p = plan();
    let target = member_arn(&p, "catalog", SECONDARY);
    let describe = describe_global(vec![
        Global::of(&p, "catalog", PRIMARY, MYSQL)
            .status("some-future-status")
            .failing_over("some-future-status", &target),
    ]);
    let mocks = Mocks::new().rds(SECONDARY, &[&describe]);
    let clients = mocks.clients();
    let e = handle(input("catalog", SECONDARY, Mode::Planned, AuroraAction::Check), &clients).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotYet);
    assert!(e.message.contains("failover some-future-status"), "{e}");
    let out = handle(input("catalog", SECONDARY, Mode::Planned, AuroraAction::Start), &clients).await.unwrap();
    assert_eq!(out.outcome, AuroraOutcome::InProgress);
    assert_eq!(out.failover_status.as_deref(), Some("some-future-status"));
    assert_eq!(out.status, "some-future-status");
}

#[tokio::test(start_paused = true)]
async fn already_the_writer_is_done_without_a_call() {
    let p = plan();
    // Only DescribeGlobalClusters is mocked: any other call would panic.
    let describe = describe_global(vec![Global::of(&p, "catalog", SECONDARY, MYSQL)]);
    let mocks = Mocks::new().rds(SECONDARY, &[&describe]);
    let clients = mocks.clients();
    for mode in [Mode::Planned, Mode::Unplanned] {
        let out = handle(input("catalog", SECONDARY, mode, AuroraAction::Start), &clients).await.unwrap();
        assert_eq!(out.outcome, AuroraOutcome::AlreadyDone);
        assert!(out.calls.is_empty());
        assert_eq!(out.lag, None);
    }
    assert_eq!(describe.num_calls(), 2);
    assert!(mocks.regions_asked("cloudwatch").is_empty());
}

#[tokio::test(start_paused = true)]
async fn in_progress_to_the_same_target_is_success_and_polling_continues() {
    let p = plan();
    let target = member_arn(&p, "catalog", SECONDARY);
    let describe = describe_global(vec![
        Global::of(&p, "catalog", PRIMARY, MYSQL).status("switching-over").failing_over("switching-over", &target),
    ]);
    let mocks = Mocks::new().rds(SECONDARY, &[&describe]);
    let out = handle(input("catalog", SECONDARY, Mode::Planned, AuroraAction::Start), &mocks.clients()).await.unwrap();
    assert_eq!(out.outcome, AuroraOutcome::InProgress);
    assert_eq!(out.failover_status.as_deref(), Some("switching-over"));
    assert!(out.calls.is_empty());
}

#[tokio::test(start_paused = true)]
async fn in_progress_to_another_target_is_fatal() {
    let p = plan();
    let third = "arn:aws:rds:eu-west-1:111122223333:cluster:retail-catalog-euw1";
    let describe = describe_global(vec![
        Global::of(&p, "catalog", PRIMARY, MYSQL)
            .member(third, false, Some("connected"))
            .status("failing-over")
            .failing_over("failing-over", third),
    ]);
    let mocks = Mocks::new().rds(SECONDARY, &[&describe]);
    let clients = mocks.clients();
    for action in [AuroraAction::Start, AuroraAction::Check] {
        let e = handle(input("catalog", SECONDARY, Mode::Unplanned, action), &clients).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidState, "{action:?}: {e}");
        assert!(e.message.contains(third), "{e}");
        assert!(!e.kind.retryable());
    }
}

#[tokio::test(start_paused = true)]
async fn throttling_then_success() {
    let p = plan();
    let h = healthy("catalog", MYSQL);
    // Throttled once: the SDK's own retry absorbs it within the invocation.
    let describe = mock!(aws_sdk_rds::Client::describe_global_clusters)
        .sequence()
        .error(|| DescribeGlobalClustersError::generic(meta("Throttling", "Rate exceeded")))
        .output({
            let out = Global::of(&p, "catalog", PRIMARY, MYSQL).output();
            move || out.clone()
        })
        .repeatedly()
        .build();
    // 503 on the first invocation's switchover: the SDK does not re-send a move call whose
    // answer may hide an accepted call (a re-sent switchover is refused), the step reads the global cluster again, finds no move
    // of its own in flight and answers `Transient`; the state machine retries the task and
    // the second invocation's switchover goes through.
    let switch = {
        let t = h.target_arn.clone();
        mock!(aws_sdk_rds::Client::switchover_global_cluster)
            .match_requests(move |r| r.target_db_cluster_identifier() == Some(t.as_str()))
            .sequence()
            .http_status(503, None)
            .times(1)
            .output(|| SwitchoverGlobalClusterOutput::builder().build())
            .build()
    };
    let cw = lag(&[(-30, 100.0)], &[]);
    let mocks = h.planned(&describe, &switch, &cw);
    let clients = mocks.clients();

    let e = handle(input("catalog", SECONDARY, Mode::Planned, AuroraAction::Start), &clients).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient, "{e}");
    assert!(e.message.starts_with("SwitchoverGlobalCluster in us-west-2: http-503"), "{e}");
    assert_eq!(describe.num_calls(), 3, "one throttled, one answered, one after the refused call");
    assert_eq!(switch.num_calls(), 1, "a move call is sent once per invocation");

    let out = handle(input("catalog", SECONDARY, Mode::Planned, AuroraAction::Start), &clients).await.unwrap();
    assert_eq!(out.outcome, AuroraOutcome::Started);
    assert_eq!(switch.num_calls(), 2, "exactly one accepted switchover");
}

#[tokio::test(start_paused = true)]
async fn a_throttled_move_call_is_re_sent_by_the_sdk_within_the_invocation() {
    // RDS refuses a throttled request before executing it, so the SDK may send it again: the
    // throttles are absorbed within one invocation, in both modes, and the state machine's
    // retry budget is not spent on them.
    let p = plan();
    for mode in [Mode::Planned, Mode::Unplanned] {
        let h = healthy("catalog", MYSQL);
        let describe = describe_global(vec![Global::of(&p, "catalog", PRIMARY, MYSQL)]);
        let t = h.target_arn.clone();
        let call = match mode {
            Mode::Planned => mock!(aws_sdk_rds::Client::switchover_global_cluster)
                .match_requests(move |r| r.target_db_cluster_identifier() == Some(t.as_str()))
                .sequence()
                .error(|| SwitchoverGlobalClusterError::generic(meta("Throttling", "Rate exceeded")))
                .times(2)
                .output(|| SwitchoverGlobalClusterOutput::builder().build())
                .build(),
            Mode::Unplanned => mock!(aws_sdk_rds::Client::failover_global_cluster)
                .match_requests(move |r| r.target_db_cluster_identifier() == Some(t.as_str()))
                .sequence()
                .error(|| FailoverGlobalClusterError::generic(meta("Throttling", "Rate exceeded")))
                .times(2)
                .output(|| FailoverGlobalClusterOutput::builder().build())
                .build(),
        };
        let cw = lag(&[(-30, 100.0)], &[]);
        let mocks = match mode {
            Mode::Planned => h.planned(&describe, &call, &cw),
            Mode::Unplanned => h.unplanned(&describe, &call, &cw),
        };
        let out = handle(input("catalog", SECONDARY, mode, AuroraAction::Start), &mocks.clients()).await.unwrap();
        assert_eq!(out.outcome, AuroraOutcome::Started, "{mode:?}");
        assert_eq!(call.num_calls(), 3, "{mode:?}: two throttled, then accepted");
        assert_eq!(describe.num_calls(), 1, "{mode:?}: no read after a refusal: there was none");
    }

    // Throttled past the SDK's three attempts: transient for the state machine, and no more
    // than three sends.
    let h = healthy("catalog", MYSQL);
    let describe = describe_global(vec![Global::of(&p, "catalog", PRIMARY, MYSQL)]);
    let call = mock!(aws_sdk_rds::Client::switchover_global_cluster)
        .then_error(|| SwitchoverGlobalClusterError::generic(meta("Throttling", "Rate exceeded")));
    let cw = lag(&[(-30, 100.0)], &[]);
    let mocks = h.planned(&describe, &call, &cw);
    let e = start_err(&mocks, "catalog", Mode::Planned).await;
    assert_eq!(e.kind, ErrorKind::Transient, "{e}");
    assert_eq!(call.num_calls(), 3);

    // A refusal that is not a throttle is never re-sent.
    let h = healthy("orders", PG);
    let describe = describe_global(vec![Global::of(&p, "orders", PRIMARY, PG)]);
    let call = mock!(aws_sdk_rds::Client::failover_global_cluster)
        .then_error(|| FailoverGlobalClusterError::generic(meta("RequestTimeout", "request timed out")));
    let cw = lag(&[(-5, 0.0)], &[]);
    let mocks = h.unplanned(&describe, &call, &cw);
    let e = start_err(&mocks, "orders", Mode::Unplanned).await;
    assert_eq!(e.kind, ErrorKind::Transient, "{e}");
    assert_eq!(call.num_calls(), 1, "a timed-out request may have been executed: sent once");
}

#[tokio::test(start_paused = true)]
async fn lag_over_the_rpo_refuses_the_switchover_with_the_lag() {
    let p = plan();
    for (rpo, replication, expect) in [
        (vec![(-30, 12_000.0), (-90, 3_000.0)], vec![], "is 12000 ms (AuroraGlobalDBRPOLag"),
        // Out-of-order datapoints: the newest counts, not the first listed.
        (vec![], vec![(-200, 100.0), (-10, 7_000.0)], "is 7000 ms (AuroraGlobalDBReplicationLag"),
        (vec![], vec![], "no replication lag"),
    ] {
        let h = healthy("catalog", MYSQL);
        let describe = describe_global(vec![Global::of(&p, "catalog", PRIMARY, MYSQL)]);
        let switch = switchover(&h.global, &h.target_arn);
        let cw = lag(&rpo, &replication);
        let mocks = h.planned(&describe, &switch, &cw);
        let e = start_err(&mocks, "catalog", Mode::Planned).await;
        assert_eq!(e.kind, ErrorKind::SwitchoverRefused, "{e}");
        assert!(e.message.contains(expect), "{e}");
        if !rpo.is_empty() || !replication.is_empty() {
            assert!(e.message.contains("over the RPO of 5000 ms"), "{e}");
        }
        assert_eq!(switch.num_calls(), 0);
    }
}

#[tokio::test(start_paused = true)]
async fn a_switchover_needs_every_member_available_and_synchronised() {
    let p = plan();
    let target = member_arn(&p, "catalog", SECONDARY);
    let cases: Vec<(Global, &str, &str)> = vec![
        (Global::of(&p, "catalog", PRIMARY, MYSQL), "modifying", "source cluster retail-catalog-use1 is `modifying`"),
        (Global::of(&p, "catalog", PRIMARY, MYSQL).sync(&target, "pending-resync"), "available", "not synchronised"),
        (
            Global::of(&p, "catalog", PRIMARY, MYSQL).status("modifying"),
            "available",
            "global cluster retail-catalog-global is `modifying`",
        ),
    ];
    for (global, source_status, expect) in cases {
        let mut h = healthy("catalog", MYSQL);
        let s_id = cluster_id(&p, "catalog", PRIMARY);
        h.source_cluster =
            describe_cluster(cluster(&s_id, &member_arn(&p, "catalog", PRIMARY), source_status, MYSQL, &["x"]));
        let describe = describe_global(vec![global]);
        let switch = switchover(&h.global, &h.target_arn);
        let cw = lag(&[(-30, 10.0)], &[]);
        let mocks = h.planned(&describe, &switch, &cw);
        let e = start_err(&mocks, "catalog", Mode::Planned).await;
        assert_eq!(e.kind, ErrorKind::SwitchoverRefused, "{e}");
        assert!(e.message.contains(expect), "{e}");
        assert_eq!(switch.num_calls(), 0);
    }
}

#[tokio::test(start_paused = true)]
async fn engine_versions_differing_are_refused_in_both_modes() {
    let p = plan();
    // Planned: the source cluster, read in its own Region, runs another minor version.
    let h = healthy("catalog", MYSQL);
    let s_id = cluster_id(&p, "catalog", PRIMARY);
    let old_source = describe_cluster(cluster(
        &s_id,
        &member_arn(&p, "catalog", PRIMARY),
        "available",
        "8.0.mysql_aurora.3.04.1",
        &["x"],
    ));
    let describe = describe_global(vec![Global::of(&p, "catalog", PRIMARY, "8.0.mysql_aurora.3.04.1")]);
    let switch = switchover(&h.global, &h.target_arn);
    let mocks = Mocks::new()
        .rds(SECONDARY, &[&describe, &h.target_cluster, &h.target_instance, &switch])
        .rds(PRIMARY, &[&old_source]);
    let e = start_err(&mocks, "catalog", Mode::Planned).await;
    assert_eq!(e.kind, ErrorKind::PreconditionFailed, "{e}");
    assert!(e.message.contains("`8.0.mysql_aurora.3.05.2`") && e.message.contains("`8.0.mysql_aurora.3.04.1`"), "{e}");
    assert_eq!(switch.num_calls(), 0);

    // Unplanned: the global cluster's version, as the target Region reports it.
    let h = healthy("orders", PG);
    let describe = describe_global(vec![Global::of(&p, "orders", PRIMARY, "16.2")]);
    let fail = failover(&h.global, &h.target_arn);
    let mocks = Mocks::new().rds(SECONDARY, &[&describe, &h.target_cluster, &h.target_instance, &fail]);
    let e = start_err(&mocks, "orders", Mode::Unplanned).await;
    assert_eq!(e.kind, ErrorKind::PreconditionFailed, "{e}");
    assert!(e.message.contains("global cluster retail-orders-global runs `16.2`"), "{e}");
    assert_eq!(fail.num_calls(), 0);
    assert_eq!(mocks.regions_asked("rds"), vec![SECONDARY]);
    // A patch-level difference is allowed.
    let h = healthy("orders", "15.4.1");
    let describe = describe_global(vec![Global::of(&p, "orders", PRIMARY, "15.4.3")]);
    let fail = failover(&h.global, &h.target_arn);
    let cw = lag(&[(-5, 0.0)], &[]);
    let mocks = h.unplanned(&describe, &fail, &cw);
    handle(input("orders", SECONDARY, Mode::Unplanned, AuroraAction::Start), &mocks.clients()).await.unwrap();
    assert_eq!(fail.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn no_instance_in_the_target_and_none_may_be_created_is_refused() {
    let p = plan();
    let t_id = cluster_id(&p, "orders", SECONDARY);
    let target_arn = member_arn(&p, "orders", SECONDARY);
    let describe = describe_global(vec![Global::of(&p, "orders", PRIMARY, PG)]);
    let headless = describe_cluster(cluster(&t_id, &target_arn, "available", PG, &[]));
    let fail = failover(&p.database("orders").unwrap().global_cluster, &target_arn);
    let cw = lag(&[(-5, 0.0)], &[]);
    let mocks = Mocks::new().rds(SECONDARY, &[&describe, &headless, &fail]).cloudwatch(SECONDARY, &[&cw]);
    let e = start_err(&mocks, "orders", Mode::Unplanned).await;
    assert_eq!(e.kind, ErrorKind::PreconditionFailed, "{e}");
    assert!(e.message.contains("has no instance") && e.message.contains("headless"), "{e}");
    assert_eq!(fail.num_calls(), 0);

    // An instance that will not come back (stopped, failed) is refused too.
    let stopped_cluster = describe_cluster(cluster(&t_id, &target_arn, "available", PG, &["orders-usw2-1"]));
    let stopped = describe_instance("orders-usw2-1", "incompatible-network");
    let mocks =
        Mocks::new().rds(SECONDARY, &[&describe, &stopped_cluster, &stopped, &fail]).cloudwatch(SECONDARY, &[&cw]);
    let e = start_err(&mocks, "orders", Mode::Unplanned).await;
    assert_eq!(e.kind, ErrorKind::PreconditionFailed, "{e}");
    assert!(e.message.contains("orders-usw2-1 (incompatible-network)"), "{e}");
    assert_eq!(fail.num_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_headless_target_gets_an_instance_first_then_the_failover() {
    let p = plan();
    let t_id = cluster_id(&p, "catalog", SECONDARY);
    let target_arn = member_arn(&p, "catalog", SECONDARY);
    let ours = headless_instance_name(&t_id, "drill-2027-01-15-0800");
    assert!(ours.starts_with("retail-catalog-usw2-failover-drill"), "{ours}");
    let describe = describe_global(vec![Global::of(&p, "catalog", PRIMARY, MYSQL)]);
    let clusters = {
        let empty = clusters_output(cluster(&t_id, &target_arn, "available", MYSQL, &[]));
        let with_ours = clusters_output(cluster(&t_id, &target_arn, "available", MYSQL, &[&ours]));
        mock!(aws_sdk_rds::Client::describe_db_clusters)
            .sequence()
            .output(move || empty.clone())
            .output(move || with_ours.clone())
            .repeatedly()
            .build()
    };
    let instances = {
        let creating = instances_output(instance(&ours, "creating"));
        let available = instances_output(instance(&ours, "available"));
        let id = ours.clone();
        mock!(aws_sdk_rds::Client::describe_db_instances)
            .match_requests(move |r| r.db_instance_identifier() == Some(id.as_str()))
            .sequence()
            .error(|| DescribeDBInstancesError::generic(meta("DBInstanceNotFound", "DBInstance not found")))
            .output(move || creating.clone())
            .output(move || available.clone())
            .repeatedly()
            .build()
    };
    let create = {
        let (id, cluster) = (ours.clone(), t_id.clone());
        mock!(aws_sdk_rds::Client::create_db_instance)
            .match_requests(move |r| {
                r.db_instance_identifier() == Some(id.as_str())
                    && r.db_cluster_identifier() == Some(cluster.as_str())
                    && r.db_instance_class() == Some("db.r6g.large")
                    && r.engine() == Some("aurora-mysql")
            })
            .then_output(|| CreateDbInstanceOutput::builder().build())
    };
    let fail = failover(&p.database("catalog").unwrap().global_cluster, &target_arn);
    let cw = lag(&[(-30, 1_500.0)], &[]);
    let mocks =
        Mocks::new().rds(SECONDARY, &[&describe, &clusters, &instances, &create, &fail]).cloudwatch(SECONDARY, &[&cw]);
    let clients = mocks.clients();
    let start = || input("catalog", SECONDARY, Mode::Unplanned, AuroraAction::Start);

    let e = handle(start(), &clients).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotYet, "{e}");
    assert!(e.message.contains(&format!("created instance {ours}")), "{e}");
    assert_eq!((create.num_calls(), fail.num_calls()), (1, 0));

    let e = handle(start(), &clients).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotYet, "{e}");
    assert!(e.message.contains(&format!("{ours} (creating)")), "{e}");
    assert_eq!((create.num_calls(), fail.num_calls()), (1, 0), "no second instance");

    let out = handle(start(), &clients).await.unwrap();
    assert_eq!(out.outcome, AuroraOutcome::Started);
    assert_eq!(out.instance_created.as_deref(), Some(ours.as_str()));
    assert_eq!(out.lag.unwrap().milliseconds, 1_500);
    assert_eq!((create.num_calls(), fail.num_calls()), (1, 1));
    assert_eq!(mocks.regions_asked("rds"), vec![SECONDARY]);
}

#[tokio::test(start_paused = true)]
async fn rds_failures_map_into_the_error_contract() {
    let p = plan();
    let cases: Vec<(&str, ErrorKind)> = vec![
        ("InvalidGlobalClusterStateFault", ErrorKind::InvalidState),
        ("AccessDenied", ErrorKind::AccessDenied),
        ("GlobalClusterNotFoundFault", ErrorKind::NotFound),
        ("DBClusterQuotaExceededFault", ErrorKind::QuotaExceeded),
    ];
    for (code, kind) in cases {
        let h = healthy("orders", PG);
        let describe = describe_global(vec![Global::of(&p, "orders", PRIMARY, PG)]);
        let code_owned = code.to_string();
        let fail = mock!(aws_sdk_rds::Client::failover_global_cluster)
            .then_error(move || FailoverGlobalClusterError::generic(meta(&code_owned, "refused")));
        let cw = lag(&[(-5, 0.0)], &[]);
        let mocks = h.unplanned(&describe, &fail, &cw);
        let e = start_err(&mocks, "orders", Mode::Unplanned).await;
        assert_eq!(e.kind, kind, "{code}: {e}");
        assert!(e.message.contains(&format!("FailoverGlobalCluster in us-west-2: {code}: refused")), "{e}");
    }
    // Throttling that outlasts the SDK's retries is transient for the state machine.
    let describe = mock!(aws_sdk_rds::Client::describe_global_clusters)
        .then_error(|| DescribeGlobalClustersError::generic(meta("Throttling", "Rate exceeded")));
    let mocks = Mocks::new().rds(SECONDARY, &[&describe]);
    let e =
        handle(input("orders", SECONDARY, Mode::Unplanned, AuroraAction::Check), &mocks.clients()).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient, "{e}");
    assert_eq!(describe.num_calls(), 3);
    // A missing target cluster.
    let describe = describe_global(vec![Global::of(&p, "orders", PRIMARY, PG)]);
    let missing = mock!(aws_sdk_rds::Client::describe_db_clusters)
        .then_error(|| DescribeDBClustersError::generic(meta("DBClusterNotFoundFault", "no such cluster")));
    let mocks = Mocks::new().rds(SECONDARY, &[&describe, &missing]);
    let e = start_err(&mocks, "orders", Mode::Unplanned).await;
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
    let _ = SwitchoverGlobalClusterError::generic(meta("x", "y"));
}

#[tokio::test(start_paused = true)]
async fn bad_input_names_the_field_and_calls_nothing() {
    let mocks = Mocks::new();
    let clients = mocks.clients();
    let mut i = input("inventory", SECONDARY, Mode::Planned, AuroraAction::Start);
    let e = handle(i.clone(), &clients).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadInput);
    assert!(
        e.message.starts_with("database: `inventory` is not a database of the plan (known: catalog, orders)"),
        "{e}"
    );
    i.database = "catalog".into();
    i.target_region = "eu-west-1".into();
    let e = handle(i.clone(), &clients).await.unwrap_err();
    assert!(e.message.starts_with("target_region:"), "{e}");
    i.target_region = SECONDARY.into();
    i.execution.started_at = "yesterday".into();
    let e = handle(i.clone(), &clients).await.unwrap_err();
    assert!(e.message.starts_with("execution.started_at:"), "{e}");
    i.execution.started_at = rfc(0);
    i.plan.objectives.rto_seconds = 0;
    let e = handle(i, &clients).await.unwrap_err();
    assert!(e.message.starts_with("plan.objectives.rto_seconds:"), "{e}");
    assert!(mocks.nothing_asked());

    let e = failover_core::contract::parse_input::<AuroraFailoverInput>(serde_json::json!({
        "plan": serde_json::to_value(plan()).unwrap(), "database": "catalog", "target_region": SECONDARY,
        "mode": "sideways", "action": "start", "execution": {"name": "x", "started_at": rfc(0)}
    }))
    .unwrap_err();
    assert!(e.message.starts_with("mode: unknown variant `sideways`"), "{e}");
}

#[test]
fn the_sample_events_are_valid_inputs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("aurora-failover.") && name.ends_with(".json") {
            let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let i: AuroraFailoverInput = failover_core::contract::parse_input(v).unwrap();
            i.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
            n += 1;
        }
    }
    assert!(n >= 4, "{n} aurora-failover events");
}

#[tokio::test(start_paused = true)]
async fn a_serverless_headless_target_gets_its_capacity_range_before_the_instance() {
    let p = plan();
    let t_id = cluster_id(&p, "catalog", SECONDARY);
    let target_arn = member_arn(&p, "catalog", SECONDARY);
    let mut i = input("catalog", SECONDARY, Mode::Unplanned, AuroraAction::Start);
    i.plan.databases[0].headless = Some(failover_core::plan::Capacity {
        instance_class: "db.serverless".into(),
        serverless: Some(failover_core::plan::ServerlessCapacity { min_acu: 1.0, max_acu: 4.0 }),
    });
    let ours = headless_instance_name(&t_id, &i.execution.name);
    let describe = describe_global(vec![Global::of(&p, "catalog", PRIMARY, MYSQL)]);
    let headless = describe_cluster(cluster(&t_id, &target_arn, "available", MYSQL, &[]));
    let absent = {
        let id = ours.clone();
        mock!(aws_sdk_rds::Client::describe_db_instances)
            .match_requests(move |r| r.db_instance_identifier() == Some(id.as_str()))
            .then_error(|| DescribeDBInstancesError::generic(meta("DBInstanceNotFound", "not found")))
    };
    let modify = {
        let id = t_id.clone();
        mock!(aws_sdk_rds::Client::modify_db_cluster)
            .match_requests(move |r| {
                let s = r.serverless_v2_scaling_configuration();
                r.db_cluster_identifier() == Some(id.as_str())
                    && s.and_then(|s| s.min_capacity()) == Some(1.0)
                    && s.and_then(|s| s.max_capacity()) == Some(4.0)
            })
            .then_output(|| aws_sdk_rds::operation::modify_db_cluster::ModifyDbClusterOutput::builder().build())
    };
    let create = mock!(aws_sdk_rds::Client::create_db_instance)
        .match_requests(|r| r.db_instance_class() == Some("db.serverless"))
        .then_output(|| CreateDbInstanceOutput::builder().build());
    let cw = lag(&[(-30, 10.0)], &[]);
    let mocks =
        Mocks::new().rds(SECONDARY, &[&describe, &headless, &absent, &modify, &create]).cloudwatch(SECONDARY, &[&cw]);
    let e = handle(i, &mocks.clients()).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotYet, "{e}");
    assert!(e.message.contains("ModifyDBCluster, CreateDBInstance"), "{e}");
    assert_eq!((modify.num_calls(), create.num_calls()), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn check_waits_for_the_global_cluster_to_be_available_after_the_writer_moved() {
    let p = plan();
    let describe = describe_global(vec![
        Global::of(&p, "orders", SECONDARY, PG).status("modifying"),
        Global::of(&p, "orders", SECONDARY, PG),
    ]);
    let mocks = Mocks::new().rds(SECONDARY, &[&describe]);
    let clients = mocks.clients();
    let check = || input("orders", SECONDARY, Mode::Unplanned, AuroraAction::Check);
    let e = handle(check(), &clients).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotYet);
    assert!(e.message.contains("status modifying, failover none"), "{e}");
    assert_eq!(handle(check(), &clients).await.unwrap().outcome, AuroraOutcome::Completed);
    assert_eq!(describe.num_calls(), 2, "one DescribeGlobalClusters per check");
}

#[tokio::test(start_paused = true)]
async fn a_refused_move_whose_earlier_call_was_accepted_is_polling() {
    // The first invocation's switchover was accepted but its answer lost; the task runs
    // again before the Describe shows it, sends the switchover again and is refused: the
    // global cluster read after the refusal shows the move to our target, so this is
    // polling, not a failure.
    let p = plan();
    let h = healthy("catalog", MYSQL);
    let describe = mock!(aws_sdk_rds::Client::describe_global_clusters)
        .sequence()
        .output({
            let out = Global::of(&p, "catalog", PRIMARY, MYSQL).output();
            move || out.clone()
        })
        .output({
            let out = Global::of(&p, "catalog", PRIMARY, MYSQL)
                .status("switching-over")
                .failing_over("switching-over", &h.target_arn)
                .output();
            move || out.clone()
        })
        .repeatedly()
        .build();
    let switch = mock!(aws_sdk_rds::Client::switchover_global_cluster).then_error(|| {
        aws_sdk_rds::operation::switchover_global_cluster::SwitchoverGlobalClusterError::generic(meta(
            "InvalidGlobalClusterStateFault",
            "Global cluster retail-catalog-global is not in a valid state.",
        ))
    });
    let cw = lag(&[(-30, 100.0)], &[]);
    let mocks = h.planned(&describe, &switch, &cw);
    let out = handle(input("catalog", SECONDARY, Mode::Planned, AuroraAction::Start), &mocks.clients()).await.unwrap();
    assert_eq!(out.outcome, AuroraOutcome::InProgress);
    assert_eq!(switch.num_calls(), 1);
    assert_eq!(describe.num_calls(), 2);
}
