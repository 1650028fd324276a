//! End-to-end drills: the deployed state machine definitions, executed by crates/asl with
//! the real handlers in-process, against regionsim and real databases (SQLite files by
//! default). Each scenario checks the final routing and writers, the report against the
//! simulator's ground truth, that no mutating call was repeated, and the states visited.

use std::sync::Arc;

use failover_drill::{Approve, DrillOptions, DrillReport, Fault, Scenario};
use regionsim::EndpointFault;

async fn drill(scenario: Scenario, approve: Approve, faults: Vec<Fault>) -> DrillReport {
    let opts = DrillOptions { scenario, approve, faults, seed: 7, ..DrillOptions::default() };
    let progress: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(|_| {});
    failover_drill::run(&opts, progress).await.expect("the drill runs")
}

fn assert_expected(r: &DrillReport) {
    assert!(r.as_expected, "{:?} / {:?}: {:#?}", r.scenario, r.approve, r.problems);
}

fn states(r: &DrillReport, execution: &str) -> Vec<String> {
    r.phases.iter().filter(|p| p.execution == execution).map(|p| p.state.clone()).collect()
}

/// Each mutating operation at most `n` times (successful calls, as the simulator saw them).
fn assert_mutations(r: &DrillReport, op: &str, n: u64) {
    let got = r.mutating_calls.get(op).copied().unwrap_or(0);
    assert_eq!(got, n, "{op}: {:#?}", r.mutating_calls);
}

#[tokio::test(start_paused = true)]
async fn planned_auto_moves_traffic_and_writers_and_loses_nothing() {
    let r = drill(Scenario::Planned, Approve::Auto, vec![]).await;
    assert_expected(&r);
    assert_eq!(r.serving_regions, vec!["us-west-2"]);
    assert!(r.writers.values().all(|w| w == "us-west-2"), "{:?}", r.writers);
    assert_mutations(&r, "arc:UpdateRoutingControlStates", 1);
    assert_mutations(&r, "rds:SwitchoverGlobalCluster", 2);
    assert_mutations(&r, "rds:FailoverGlobalCluster", 0);
    let rto = r.rto_s.unwrap();
    let lb = r.rto_lower_bound_s.unwrap();
    assert!(rto >= lb * 0.95 && rto <= lb * 1.10, "RTO {rto} against lower bound {lb}");
    let visited = states(&r, "drill-planned");
    for s in
        ["Preflight", "RequestApproval", "MoveTraffic", "WatchDns", "StartDatabase", "CheckDatabase", "VerifyService"]
    {
        assert!(visited.iter().any(|v| v == s), "{s} not visited: {visited:?}");
    }
    assert!(!visited.iter().any(|v| v == "StartRecovery"), "a planned run starts no recovery");
}

#[tokio::test(start_paused = true)]
async fn planned_rejected_or_timed_out_moves_nothing() {
    for approve in [Approve::Reject, Approve::Timeout] {
        let r = drill(Scenario::Planned, approve, vec![]).await;
        assert_expected(&r);
        assert_eq!(r.serving_regions, vec!["us-east-1"], "{approve:?}");
        assert!(r.writers.values().all(|w| w == "us-east-1"), "{approve:?}: {:?}", r.writers);
        assert_mutations(&r, "arc:UpdateRoutingControlStates", 0);
        assert!(r.mutating_calls.keys().all(|k| !k.starts_with("rds:")), "{:?}", r.mutating_calls);
    }
}

#[tokio::test(start_paused = true)]
async fn failback_rejected_or_timed_out_stays_in_the_secondary() {
    for approve in [Approve::Reject, Approve::Timeout] {
        let r = drill(Scenario::Failback, approve, vec![]).await;
        assert_expected(&r);
        assert_eq!(r.serving_regions, vec!["us-west-2"], "{approve:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn failback_auto_comes_home() {
    let r = drill(Scenario::Failback, Approve::Auto, vec![]).await;
    assert_expected(&r);
    assert_eq!(r.serving_regions, vec!["us-east-1"]);
    assert!(r.writers.values().all(|w| w == "us-east-1"));
}

#[tokio::test(start_paused = true)]
async fn region_outage_rejected_or_timed_out_moves_nothing() {
    for approve in [Approve::Reject, Approve::Timeout] {
        let r = drill(Scenario::RegionOutage, approve, vec![]).await;
        assert_expected(&r);
        assert_mutations(&r, "arc:UpdateRoutingControlStates", 0);
        assert_mutations(&r, "rds:FailoverGlobalCluster", 0);
        assert!(r.executions.iter().all(|e| !e.name.ends_with("-recovery")), "no recovery without a failover");
    }
}

#[tokio::test(start_paused = true)]
async fn region_outage_fails_over_recovers_and_reports_exactly_the_lost_rows() {
    let r = drill(Scenario::RegionOutage, Approve::Auto, vec![]).await;
    assert_expected(&r);
    assert!(r.lost.exact, "{:#?}", r.lost);
    let lost: usize = r.lost.ground_truth.values().flat_map(|t| t.values()).map(|t| t.lost + t.changed).sum();
    assert!(lost > 0, "an outage under write load loses something: {:#?}", r.lost);
    assert_mutations(&r, "arc:UpdateRoutingControlStates", 1);
    assert_mutations(&r, "rds:FailoverGlobalCluster", 2);
    assert_mutations(&r, "rds:CopyDBClusterSnapshot", 2);
    assert_mutations(&r, "rds:RestoreDBClusterFromSnapshot", 2);
    let rto = r.rto_s.unwrap();
    let lb = r.rto_lower_bound_s.unwrap();
    assert!(rto <= lb * 1.10, "RTO {rto} against lower bound {lb}");
    assert!(r.history_events.values().all(|n| *n < 25_000));
    let phases: Vec<_> = r.notifications.iter().filter_map(|n| n.phase.clone()).collect();
    for p in ["started", "approval-requested", "databases-moved", "succeeded", "recovery-started", "report-ready"] {
        assert!(phases.iter().any(|x| x == p), "no `{p}` notification: {phases:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_table_too_large_for_one_invocation_is_compared_in_key_ranges_and_merged() {
    let plan = failover_drill::run::DEFAULT_PLAN
        .replace("      database: orders\n", "      database: orders\n      rows_per_part: 150\n");
    assert_ne!(plan, failover_drill::run::DEFAULT_PLAN, "the plan names rows_per_part");
    let opts = DrillOptions { seed: 7, plan_yaml: Some(plan), ..DrillOptions::default() };
    let progress: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(|_| {});
    let r = failover_drill::run(&opts, progress).await.expect("the drill runs");
    assert_expected(&r);
    assert!(r.lost.exact, "the merged report equals the ground truth key by key: {:#?}", r.lost);
    let visited = states(&r, "drill-outage-recovery");
    let parts = visited.iter().filter(|s| *s == "DiffPart").count();
    assert!(parts >= 3, "orders is cut into key ranges: {parts} parts in {visited:?}");
    assert_eq!(visited.iter().filter(|s| *s == "MergeReport").count(), 1, "{visited:?}");
    // catalog stays whole: one DiffReport for it.
    assert_eq!(visited.iter().filter(|s| *s == "DiffReport").count(), 1, "{visited:?}");
}

#[tokio::test(start_paused = true)]
async fn four_of_five_arc_endpoints_dead() {
    let r = drill(Scenario::RegionOutage, Approve::Auto, vec![Fault::ArcDead { k: 4, how: EndpointFault::Hang }]).await;
    assert_expected(&r);
    assert_mutations(&r, "arc:UpdateRoutingControlStates", 1);
}

#[tokio::test(start_paused = true)]
async fn rds_throttled_at_thirty_percent() {
    let r = drill(Scenario::Planned, Approve::Auto, vec![Fault::Throttle { service: "rds".into(), rate: 0.3 }]).await;
    assert_expected(&r);
    assert_mutations(&r, "rds:SwitchoverGlobalCluster", 2);
}

#[tokio::test(start_paused = true)]
async fn a_lambda_level_failure_of_every_task_once() {
    let r = drill(Scenario::RegionOutage, Approve::Auto, vec![Fault::LambdaOnce]).await;
    assert_expected(&r);
    assert!(r.lambda_faults_injected >= 10, "{} faults injected", r.lambda_faults_injected);
    // MoveTraffic also timed out once after running: the retry must not update again.
    assert_mutations(&r, "arc:UpdateRoutingControlStates", 1);
    assert_mutations(&r, "rds:FailoverGlobalCluster", 2);
}

#[tokio::test(start_paused = true)]
async fn the_old_region_never_returns() {
    let r = drill(Scenario::RegionOutage, Approve::Auto, vec![Fault::NeverReturns]).await;
    assert_expected(&r);
    let recovery = r.executions.iter().find(|e| e.name.ends_with("-recovery")).expect("recovery ran");
    assert!(recovery.history_events < 25_000, "{} events", recovery.history_events);
}

#[tokio::test(start_paused = true)]
async fn no_snapshot_is_reported_as_unavailable() {
    let r = drill(Scenario::RegionOutage, Approve::Auto, vec![Fault::NoSnapshot]).await;
    assert_expected(&r);
}

/// The refused-switchover path: a planned switchover with the lag over the RPO is refused,
/// the approver is asked (with the data at risk) whether to continue unplanned, and on
/// approval the drill fails over, recovers and reports exactly what the lag cost.
#[tokio::test(start_paused = true)]
async fn planned_with_lag_over_the_rpo_asks_then_fails_over_unplanned_and_reports_exactly() {
    let r = drill(Scenario::Planned, Approve::Auto, vec![Fault::Lag { seconds: 30 }]).await;
    assert_expected(&r);
    assert!(r.expected_outcome.starts_with("switchover refused"), "{}", r.expected_outcome);
    assert_eq!(r.serving_regions, vec!["us-west-2"]);
    assert!(r.writers.values().all(|w| w == "us-west-2"), "{:?}", r.writers);
    assert_mutations(&r, "rds:SwitchoverGlobalCluster", 0);
    assert_mutations(&r, "rds:FailoverGlobalCluster", 2);
    let visited = states(&r, "drill-planned");
    for s in ["AssessUnplanned", "NotifySwitchoverRefused", "AskContinueUnplanned", "MoveTraffic", "StartRecovery"] {
        assert!(visited.iter().any(|v| v == s), "{s} not visited: {visited:?}");
    }
    let phases: Vec<_> = r.notifications.iter().filter_map(|n| n.phase.as_deref()).collect();
    assert!(phases.contains(&"switchover-refused"), "{phases:?}");
    assert!(r.lost.exact, "{:#?}", r.lost.key_mismatches);
    let lost: usize = r.lost.ground_truth.values().flat_map(|t| t.values()).map(|t| t.lost + t.changed).sum();
    assert!(lost > 0, "30 s of lag loses writes: {:#?}", r.lost.ground_truth);
}

#[tokio::test(start_paused = true)]
async fn planned_with_lag_over_the_rpo_rejected_or_timed_out_moves_nothing() {
    for approve in [Approve::Reject, Approve::Timeout] {
        let r = drill(Scenario::Planned, approve, vec![Fault::Lag { seconds: 30 }]).await;
        assert_expected(&r);
        assert_eq!(r.serving_regions, vec!["us-east-1"], "{approve:?}");
        assert!(r.writers.values().all(|w| w == "us-east-1"), "{approve:?}: {:?}", r.writers);
        assert!(
            r.mutating_calls.keys().all(|k| !k.starts_with("rds:") && !k.starts_with("arc:")),
            "{:?}",
            r.mutating_calls
        );
        let visited = states(&r, "drill-planned");
        assert!(visited.iter().any(|v| v == "AskContinueUnplanned"), "{approve:?}: {visited:?}");
    }
}
