//! The drill's verdict on the missing-transaction report: every key of the report against
//! the simulator's ground truth, class included, and a report wrong on one key fails it.

use std::sync::Arc;

use failover_drill::{Approve, DrillOptions, DrillReport, Fault, Scenario};

async fn outage(faults: Vec<Fault>) -> DrillReport {
    let opts =
        DrillOptions { scenario: Scenario::RegionOutage, approve: Approve::Auto, faults, ..DrillOptions::default() };
    let progress: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(|_| {});
    failover_drill::run(&opts, progress).await.expect("the drill runs")
}

#[tokio::test(start_paused = true)]
async fn the_outage_report_equals_the_ground_truth_on_every_key_and_class() {
    let r = outage(vec![]).await;
    assert!(r.as_expected, "{:#?}", r.problems);
    assert!(r.lost.exact, "{:#?}", r.lost.key_mismatches);
    let tables = || r.lost.ground_truth.values().flat_map(|t| t.values());
    let lost: usize = tables().map(|t| t.lost).sum();
    assert!(lost >= 100, "an outage in the rush loses hundreds of rows: {:#?}", r.lost.ground_truth);
    let keys: usize = tables().map(|t| t.lost + t.after).sum();
    assert!(r.lost.keys_compared >= keys, "every key compared: {:#?}", r.lost);
    // The hard cases are in the workload, and the report names them as the truth does.
    for class in
        ["lost-insert", "lost-update", "lost-delete", "conflict", "id-reused", "updated-after", "deleted-after"]
    {
        let n: usize = tables().map(|t| t.classes.get(class).copied().unwrap_or(0)).sum();
        assert!(n > 0, "no `{class}` key: {:#?}", r.lost.ground_truth);
    }
    // Only the orders carry a creation column: a reused id is told apart there.
    assert!(r.lost.ground_truth["orders"]["orders"].classes.contains_key("id-reused"), "{:#?}", r.lost.ground_truth);
    for (db, (reported, exact)) in &r.lost.failover_points {
        assert!(reported.is_some() && exact.is_some(), "{db}: {reported:?} {exact:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_report_wrong_on_one_key_fails_the_verdict() {
    let r = outage(vec![Fault::MisreportOneKey]).await;
    assert!(!r.as_expected, "the verdict must say no");
    assert!(!r.lost.exact);
    // One key per database, named with both classes (and the counts it then misses).
    let keyed: Vec<&String> = r.lost.key_mismatches.iter().filter(|m| m.contains(": report ")).collect();
    assert_eq!(keyed.len(), r.lost.ground_truth.len(), "{:#?}", r.lost.key_mismatches);
    assert!(keyed.iter().all(|m| m.contains(", truth ")), "{keyed:#?}");
    assert!(r.problems.iter().any(|p| p.contains("differs from the ground truth")), "{:#?}", r.problems);
}
