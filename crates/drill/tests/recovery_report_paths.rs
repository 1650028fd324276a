//! The recovery machine's report branch as deployed, with every task mocked (the Step
//! Functions Local mock configuration): one whole-database diff, the fan-out over key ranges
//! and its merge, and the fallback to one whole diff when planning the ranges fails. The
//! drills run the same branch with the real handlers; these cases pin the control flow.

use std::time::{Duration, SystemTime};

use failover_asl::{MockConfig, Runner, Status};
use failover_core::SharedClock;
use serde_json::{Value, json};

const CONFIG: &str = r#"{
  "StateMachines": {
    "Recovery": {
      "TestCases": {
        "Whole": {"NotifyRecoveryStarted": "Ok", "FindSnapshot": "Found", "CopySnapshot": "Copied",
                  "RestoreCluster": "Ok", "CheckRecoveryCluster": "Restored", "PlanReport": "OnePart",
                  "DiffReport": "Report", "Cleanup": "Ok", "NotifyReport": "Ok"},
        "Split": {"NotifyRecoveryStarted": "Ok", "FindSnapshot": "Found", "CopySnapshot": "Copied",
                  "RestoreCluster": "Ok", "CheckRecoveryCluster": "Restored", "PlanReport": "ThreeParts",
                  "DiffPart": "PartDone", "MergeReport": "Merged", "Cleanup": "Ok", "NotifyReport": "Ok"},
        "PlanFails": {"NotifyRecoveryStarted": "Ok", "FindSnapshot": "Found", "CopySnapshot": "Copied",
                      "RestoreCluster": "Ok", "CheckRecoveryCluster": "Restored", "PlanReport": "PlanError",
                      "DiffReport": "Report", "Cleanup": "Ok", "NotifyReport": "Ok"},
        "PartFails": {"NotifyRecoveryStarted": "Ok", "FindSnapshot": "Found", "CopySnapshot": "Copied",
                      "RestoreCluster": "Ok", "CheckRecoveryCluster": "Restored", "PlanReport": "ThreeParts",
                      "DiffPart": "SecondPartFails", "Cleanup": "Ok", "NotifyReport": "Ok"}
      }
    }
  },
  "MockedResponses": {
    "Ok": {"0": {"Return": {"StatusCode": 200, "Payload": {}}}},
    "Found": {"0": {"Return": {"StatusCode": 200, "Payload": {
      "snapshot": {"identifier": "rds:unplanned-global-failover-orders-use1-1", "arn": "arn:aws:rds:us-east-1:111122223333:cluster-snapshot:x", "region": "us-east-1"},
      "events": []}}}},
    "Copied": {"0": {"Return": {"StatusCode": 200, "Payload": {
      "snapshot": {"identifier": "failover-orders-copy", "arn": "arn:aws:rds:us-east-1:111122223333:cluster-snapshot:y", "region": "us-east-1"}}}}},
    "Restored": {"0": {"Return": {"StatusCode": 200, "Payload": {"recovery": {"cluster": "failover-orders-recovery", "region": "us-east-1"}}}}},
    "OnePart": {"0": {"Return": {"StatusCode": 200, "Payload": {"split": false,
      "parts": [{"table": "orders", "index": 0, "count": 1}]}}}},
    "ThreeParts": {"0": {"Return": {"StatusCode": 200, "Payload": {"split": true, "parts": [
      {"table": "orders", "index": 0, "count": 2, "upper": ["5000"]},
      {"table": "orders", "index": 1, "count": 2, "lower": ["5000"]},
      {"table": "order_items", "index": 0, "count": 1}]}}}},
    "PlanError": {"0": {"Throw": {"Error": "Failover.Internal", "Cause": "the catalog could not be read"}}},
    "Report": {"0": {"Return": {"StatusCode": 200, "Payload": {"action": "diff", "report": {"html": "whole/report.html"}, "totals": {"lost": 3}}}}},
    "PartDone": {"0-2": {"Return": {"StatusCode": 200, "Payload": {"action": "diff", "totals": {"lost": 1}}}}},
    "SecondPartFails": {
      "0": {"Return": {"StatusCode": 200, "Payload": {"action": "diff", "totals": {"lost": 1}}}},
      "1": {"Throw": {"Error": "Failover.PreconditionFailed", "Cause": "column amount differs"}},
      "2": {"Return": {"StatusCode": 200, "Payload": {"action": "diff", "totals": {"lost": 1}}}}},
    "Merged": {"0": {"Return": {"StatusCode": 200, "Payload": {"action": "merge", "report": {"html": "merged/report.html"}, "totals": {"lost": 3}}}}}
  }
}"#;

struct Run {
    status: Status,
    output: Value,
    entered: Vec<String>,
    /// (state, error) of every failed task.
    failed: Vec<(String, String)>,
}

async fn run(case: &str) -> Run {
    let (_, recovery) = failover_drill::definitions::load("us-west-2", "retail-store").expect("the definitions parse");
    let mock = MockConfig::parse(CONFIG).unwrap().dispatcher("Recovery", case, None).unwrap();
    let clock = SharedClock::virtual_at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let input = json!({
        "plan": {"name": "retail-store"},
        "databases": [{"database": "orders", "lag": {"milliseconds": 1200}}],
        "old_region": "us-east-1",
        "target_region": "us-west-2",
        "failover_started_at": "2027-01-15T07:50:00Z"
    });
    let r = Runner::new(mock, clock).run(&recovery, input).await.expect("the execution starts");
    let mut entered = Vec::new();
    let mut failed = Vec::new();
    let mut last_entered = String::new();
    for e in &r.history {
        if e.event_type.ends_with("StateEntered") {
            last_entered = e.state_name().unwrap_or_default().to_string();
            entered.push(last_entered.clone());
        }
        if e.event_type == "TaskFailed" {
            failed.push((last_entered.clone(), e.detail_str("error").unwrap_or_default().to_string()));
        }
    }
    Run { status: r.status, output: r.output.unwrap_or(Value::Null), entered, failed }
}

fn count(r: &Run, state: &str) -> usize {
    r.entered.iter().filter(|s| *s == state).count()
}

#[tokio::test(start_paused = true)]
async fn a_database_small_enough_takes_one_whole_diff() {
    let r = run("Whole").await;
    assert_eq!(r.status, Status::Succeeded, "{:?}", r.entered);
    assert_eq!(
        (count(&r, "PlanReport"), count(&r, "DiffReport"), count(&r, "DiffParts")),
        (1, 1, 0),
        "{:?}",
        r.entered
    );
    assert_eq!(r.output["results"][0]["outcome"], "reported");
    assert_eq!(r.output["results"][0]["report"]["report"]["html"], "whole/report.html");
}

#[tokio::test(start_paused = true)]
async fn a_split_database_is_compared_part_by_part_then_merged() {
    let r = run("Split").await;
    assert_eq!(r.status, Status::Succeeded, "{:?}", r.entered);
    assert_eq!(count(&r, "DiffPart"), 3, "one invocation per range: {:?}", r.entered);
    assert_eq!((count(&r, "MergeReport"), count(&r, "DiffReport")), (1, 0), "{:?}", r.entered);
    assert_eq!(r.output["results"][0]["outcome"], "reported");
    assert_eq!(r.output["results"][0]["report"]["report"]["html"], "merged/report.html");
}

#[tokio::test(start_paused = true)]
async fn when_planning_the_ranges_fails_one_whole_diff_is_still_tried() {
    let r = run("PlanFails").await;
    assert_eq!(r.status, Status::Succeeded, "{:?}", r.entered);
    assert_eq!(r.failed, vec![("PlanReport".to_string(), "Failover.Internal".to_string())]);
    assert_eq!(count(&r, "DiffReport"), 1, "{:?}", r.entered);
    assert_eq!(r.output["results"][0]["outcome"], "reported");
    assert_eq!(r.output["results"][0]["report"]["report"]["html"], "whole/report.html");
}

#[tokio::test(start_paused = true)]
async fn a_failed_part_fails_the_database_and_nothing_is_merged() {
    let r = run("PartFails").await;
    assert_eq!(r.status, Status::Succeeded, "the recovery reports the failure: {:?}", r.entered);
    assert!(r.failed.contains(&("DiffPart".to_string(), "Failover.PreconditionFailed".to_string())), "{:?}", r.failed);
    assert_eq!(count(&r, "MergeReport"), 0, "{:?}", r.entered);
    assert_eq!(count(&r, "Cleanup"), 0, "the recovery cluster is kept for a retry: {:?}", r.entered);
    assert_eq!(r.output["results"][0]["outcome"], "failed");
    assert_eq!(r.output["results"][0]["error"]["Error"], "Failover.PreconditionFailed");
}
