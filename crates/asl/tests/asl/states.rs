//! Each state type and its fields.

use std::time::Duration;

use failover_asl::{Runner, Status};
use serde_json::json;

use crate::common::*;

#[tokio::test(start_paused = true)]
async fn pass_with_result_and_result_path() {
    let r = run(
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.r", "End": true}}}),
        json!({"a": 1}),
    )
    .await;
    assert_eq!(ok(&r), &json!({"a": 1, "r": {"x": 1}}));
    assert_eq!(types(&r), ["ExecutionStarted", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"]);
    let ids: Vec<(u64, u64)> = r.history.iter().map(|e| (e.id, e.previous_event_id)).collect();
    assert_eq!(ids, [(1, 0), (2, 1), (3, 2), (4, 3)]);
}

#[tokio::test(start_paused = true)]
async fn pass_parameters_with_context_object() {
    let runner = Runner::new(echo(), clock());
    let d = def(json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {
        "id.$": "$$.Execution.Id", "name.$": "$$.Execution.Name", "input.$": "$$.Execution.Input",
        "start.$": "$$.Execution.StartTime", "state.$": "$$.State.Name", "entered.$": "$$.State.EnteredTime",
        "sm.$": "$$.StateMachine.Name", "literal": [1, {"v.$": "$.v"}]
    }, "End": true}}}));
    let h = runner.start(&d, json!({"v": 7}), Some("exec-1")).unwrap();
    let r = h.wait().await;
    assert_eq!(
        ok(&r),
        &json!({
            "id": "arn:aws:states:us-east-1:123456789012:execution:StateMachine:exec-1",
            "name": "exec-1", "input": {"v": 7},
            "start": "2026-01-01T00:00:00Z", "state": "P", "entered": "2026-01-01T00:00:00Z",
            "sm": "StateMachine", "literal": [1, {"v": 7}]
        })
    );
}

#[tokio::test(start_paused = true)]
async fn an_hour_long_wait_takes_no_wall_time() {
    let c = clock();
    let runner = Runner::new(echo(), c.clone());
    let d = def(json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}}));
    let wall = std::time::Instant::now();
    let r = runner.run(&d, json!({"k": 1})).await.unwrap();
    assert_eq!(ok(&r), &json!({"k": 1}));
    assert_eq!(c.now(), epoch() + Duration::from_secs(3600));
    assert!(wall.elapsed() < Duration::from_secs(5));
    assert_eq!(types(&r), ["ExecutionStarted", "WaitStateEntered", "WaitStateExited", "ExecutionSucceeded"]);
    let exited = &r.history[2];
    assert_eq!(exited.timestamp, epoch() + Duration::from_secs(3600));
}

#[tokio::test(start_paused = true)]
async fn wait_seconds_path_timestamp_and_timestamp_path() {
    let c = clock();
    let runner = Runner::new(echo(), c.clone());
    let d = def(json!({"StartAt": "A", "States": {
        "A": {"Type": "Wait", "SecondsPath": "$.s", "Next": "B"},
        "B": {"Type": "Wait", "Timestamp": "2026-01-01T01:00:00Z", "Next": "C"},
        "C": {"Type": "Wait", "TimestampPath": "$.t", "Next": "D"},
        "D": {"Type": "Wait", "Timestamp": "2025-01-01T00:00:00Z", "End": true}
    }}));
    let r = runner.run(&d, json!({"s": 60, "t": "2026-01-01T02:00:00Z"})).await.unwrap();
    ok(&r);
    assert_eq!(c.now(), epoch() + Duration::from_secs(7200), "a timestamp in the past does not wait");
    let r = runner.run(&d, json!({"s": "x", "t": "2026-01-01T02:00:00Z"})).await.unwrap();
    assert_eq!(failed(&r).0, "States.Runtime");
}

#[tokio::test(start_paused = true)]
async fn succeed_and_fail() {
    let r =
        run(json!({"StartAt": "S", "States": {"S": {"Type": "Succeed", "OutputPath": "$.a"}}}), json!({"a": 2})).await;
    assert_eq!(ok(&r), &json!(2));
    assert_eq!(types(&r), ["ExecutionStarted", "SucceedStateEntered", "SucceedStateExited", "ExecutionSucceeded"]);

    let r =
        run(json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Bad", "Cause": "because"}}}), json!({}))
            .await;
    assert_eq!(failed(&r), ("Bad", "because"));
    assert_eq!(types(&r), ["ExecutionStarted", "FailStateEntered", "ExecutionFailed"]);

    let r = run(
        json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "ErrorPath": "$.e", "CausePath": "States.Format('code {}', $.c)"}}}),
        json!({"e": "Custom.Error", "c": 42}),
    )
    .await;
    assert_eq!(failed(&r), ("Custom.Error", "code 42"));
}

#[tokio::test(start_paused = true)]
async fn parallel_branches_overlap_in_time() {
    let c = clock();
    let runner = Runner::new(echo(), c.clone());
    let d = def(json!({"StartAt": "P", "States": {"P": {
        "Type": "Parallel", "End": true, "ResultSelector": {"a.$": "$[0]", "b.$": "$[1]"},
        "Branches": [
            {"StartAt": "W1", "States": {"W1": {"Type": "Wait", "Seconds": 60, "End": true}}},
            {"StartAt": "W2", "States": {"W2": {"Type": "Wait", "Seconds": 90, "Next": "X"},
                                          "X": {"Type": "Pass", "Result": "done", "End": true}}}
        ]
    }}}));
    let r = runner.run(&d, json!({"in": 1})).await.unwrap();
    assert_eq!(ok(&r), &json!({"a": {"in": 1}, "b": "done"}));
    assert_eq!(c.now(), epoch() + Duration::from_secs(90), "branches run concurrently");
    assert_eq!(count(&r, "ParallelStateStarted"), 1);
    assert_eq!(count(&r, "ParallelStateSucceeded"), 1);
    assert_eq!(count(&r, "WaitStateEntered"), 2);
}

#[tokio::test(start_paused = true)]
async fn parallel_failure_cancels_siblings_and_is_caught() {
    let c = clock();
    let runner = Runner::new(echo(), c.clone());
    let d = def(json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Next": "Done",
              "Catch": [{"ErrorEquals": ["Boom"], "ResultPath": "$.err", "Next": "Handled"}],
              "Branches": [
                {"StartAt": "Slow", "States": {"Slow": {"Type": "Wait", "Seconds": 1000, "End": true}}},
                {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 5, "Next": "F"},
                                           "F": {"Type": "Fail", "Error": "Boom", "Cause": "b"}}}
              ]},
        "Done": {"Type": "Succeed"},
        "Handled": {"Type": "Pass", "End": true}
    }}));
    let r = runner.run(&d, json!({})).await.unwrap();
    assert_eq!(ok(&r), &json!({"err": {"Error": "Boom", "Cause": "b"}}));
    assert_eq!(c.now(), epoch() + Duration::from_secs(5), "the slow branch was stopped");
    assert_eq!(count(&r, "ParallelStateFailed"), 1);
    assert_eq!(entered(&r), ["P", "Slow", "W", "F", "Handled"]);
}

#[tokio::test(start_paused = true)]
async fn map_with_item_selector_and_max_concurrency() {
    let c = clock();
    let runner = Runner::new(echo(), c.clone());
    let d = def(json!({"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2, "ResultPath": "$.results",
        "ItemSelector": {"index.$": "$$.Map.Item.Index", "value.$": "$$.Map.Item.Value", "shared.$": "$.shared"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "W", "States": {
            "W": {"Type": "Wait", "Seconds": 10, "End": true}
        }},
        "End": true
    }}}));
    let r = runner.run(&d, json!({"items": ["a", "b", "c"], "shared": 1})).await.unwrap();
    assert_eq!(
        ok(&r)["results"],
        json!([{"index": 0, "value": "a", "shared": 1}, {"index": 1, "value": "b", "shared": 1}, {"index": 2, "value": "c", "shared": 1}])
    );
    assert_eq!(c.now(), epoch() + Duration::from_secs(20), "two at a time: 3 items of 10 s take 20 s");
    assert_eq!(count(&r, "MapIterationStarted"), 3);
    assert_eq!(count(&r, "MapIterationSucceeded"), 3);
    let started = r.history.iter().find(|e| e.event_type == "MapStateStarted").unwrap();
    assert_eq!(started.detail().unwrap()["length"], json!(3));

    // The older Iterator and Parameters spelling, unlimited concurrency.
    let c = clock();
    let runner = Runner::new(echo(), c.clone());
    let d = def(json!({"StartAt": "M", "States": {"M": {
        "Type": "Map", "Parameters": {"v.$": "$$.Map.Item.Value"},
        "Iterator": {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 10, "End": true}}},
        "End": true
    }}}));
    let r = runner.run(&d, json!([1, 2, 3, 4])).await.unwrap();
    assert_eq!(ok(&r), &json!([{"v": 1}, {"v": 2}, {"v": 3}, {"v": 4}]));
    assert_eq!(c.now(), epoch() + Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn map_items_path_must_be_an_array() {
    let r = run(
        json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.x",
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}}),
        json!({"x": 3}),
    )
    .await;
    assert_eq!(failed(&r).0, "States.Runtime");
}

#[tokio::test(start_paused = true)]
async fn execution_timeout_and_stop() {
    let runner = Runner::new(echo(), clock());
    let d = def(
        json!({"TimeoutSeconds": 30, "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": true}}}),
    );
    let r = runner.run(&d, json!({})).await.unwrap();
    assert_eq!(r.status, Status::TimedOut);
    assert_eq!(r.error.as_deref(), Some("States.Timeout"));
    assert_eq!(types(&r).last(), Some(&"ExecutionTimedOut"));

    let d = def(json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": true}}}));
    let h = runner.start(&d, json!({}), Some("to-stop")).unwrap();
    tokio::task::yield_now().await;
    assert_eq!(h.status(), Status::Running);
    assert!(h.stop(Some("Operator"), Some("changed my mind")));
    let r = h.wait().await;
    assert_eq!(r.status, Status::Aborted);
    assert_eq!(types(&r).last(), Some(&"ExecutionAborted"));
    assert!(!h.stop(None, None));
    assert_eq!(h.describe().status, Status::Aborted);
    assert!(runner.start(&d, json!({}), Some("to-stop")).is_err(), "names are unique");
}

#[tokio::test(start_paused = true)]
async fn history_is_observable_live() {
    let runner = Runner::new(echo(), clock());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    runner.observe(move |h, e| s2.lock().unwrap().push((h.name().to_string(), e.event_type.clone())));
    let d = def(
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 5, "Next": "P"}, "P": {"Type": "Pass", "End": true}}}),
    );
    let h = runner.start(&d, json!({}), Some("live")).unwrap();
    let mut rx = h.subscribe();
    let mut got = Vec::new();
    while let Some(e) = rx.recv().await {
        got.push(e.event_type);
    }
    assert_eq!(
        got,
        [
            "ExecutionStarted",
            "WaitStateEntered",
            "WaitStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ]
    );
    assert_eq!(seen.lock().unwrap().len(), 6);
    assert_eq!(h.history().len(), 6);
    let desc = h.describe();
    assert_eq!(desc.status, Status::Succeeded);
    assert_eq!(desc.stop_date, Some(epoch() + Duration::from_secs(5)));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_handler_fails_the_execution_instead_of_hanging() {
    let d = failover_asl::FnDispatcher(|_r: String, _p: serde_json::Value, _c: failover_asl::TaskContext| async move {
        if true {
            panic!("handler bug");
        }
        Ok::<_, failover_asl::TaskFailure>(json!(1))
    });
    let runner = Runner::new(d, clock());
    let h =
        runner.start(&def(json!({"StartAt": "T", "States": {"T": lambda_task("f", None)}})), json!({}), None).unwrap();
    let r = h.wait().await;
    let (e, c) = failed(&r);
    assert_eq!(e, "States.Runtime");
    assert!(c.contains("panicked"), "{c}");
}

#[tokio::test(start_paused = true)]
async fn parallel_parameters_and_map_max_concurrency_path() {
    let c = clock();
    let runner = Runner::new(echo(), c.clone());
    let d = def(json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Parameters": {"n.$": "$.n", "limit.$": "$.limit", "items.$": "$.items"}, "ResultPath": "$.branches", "Next": "M",
              "Branches": [{"StartAt": "A", "States": {"A": {"Type": "Pass", "InputPath": "$.n", "End": true}}}]},
        "M": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrencyPath": "$.limit",
              "ItemProcessor": {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 5, "End": true}}},
              "ResultPath": null, "End": true}
    }}));
    let r = runner.run(&d, json!({"n": 3, "limit": 1, "items": [1, 2, 3]})).await.unwrap();
    assert_eq!(ok(&r)["branches"], json!([3]));
    assert_eq!(c.now(), epoch() + Duration::from_secs(15), "one at a time");
}

#[tokio::test(start_paused = true)]
async fn map_iteration_failure_is_caught_by_the_map() {
    let r = run(
        json!({"StartAt": "M", "States": {
            "M": {"Type": "Map", "ItemProcessor": {"StartAt": "C", "States": {
                    "C": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericGreaterThan": 1, "Next": "Bad"}], "Default": "Ok"},
                    "Bad": {"Type": "Fail", "Error": "TooBig", "Cause": "item over 1"},
                    "Ok": {"Type": "Pass", "End": true}}},
                  "Catch": [{"ErrorEquals": ["TooBig"], "ResultPath": "$", "Next": "Handled"}], "End": true},
            "Handled": {"Type": "Pass", "End": true}
        }}),
        json!([0, 1, 2]),
    )
    .await;
    assert_eq!(ok(&r), &json!({"Error": "TooBig", "Cause": "item over 1"}));
    assert_eq!(count(&r, "MapIterationFailed"), 1);
    assert_eq!(count(&r, "MapStateFailed"), 1);
    assert_eq!(count(&r, "MapStateExited"), 1);
}

#[tokio::test(start_paused = true)]
async fn describe_serializes_like_the_api() {
    let runner = Runner::new(echo(), clock());
    let d = def(json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}));
    let h = runner.start(&d, json!({"a": 1}), Some("n1")).unwrap();
    h.wait().await;
    let v = serde_json::to_value(h.describe()).unwrap();
    assert_eq!(v["status"], json!("SUCCEEDED"));
    assert_eq!(v["name"], json!("n1"));
    assert_eq!(v["startDate"], json!("2026-01-01T00:00:00Z"));
    assert_eq!(v["stateMachineArn"], json!("arn:aws:states:us-east-1:123456789012:stateMachine:StateMachine"));
    assert_eq!(runner.executions().len(), 1);
    assert!(runner.execution(h.arn()).is_some());
    let ev = serde_json::to_value(&h.history()[1]).unwrap();
    assert_eq!(ev["type"], json!("PassStateEntered"));
    assert_eq!(ev["stateEnteredEventDetails"]["name"], json!("P"));
    assert_eq!(ev["stateEnteredEventDetails"]["input"], json!("{\"a\":1}"));
}

#[tokio::test(start_paused = true)]
async fn max_concurrency_bounds_running_iterations_not_a_window() {
    // Item 0 waits 100 s, the others 10 s each: with two slots, items 1..=4 run one after the
    // other in the second slot while item 0 runs, so the Map ends at 100 s, not later.
    let c = clock();
    let runner = Runner::new(echo(), c.clone());
    let d = def(json!({"StartAt": "M", "States": {"M": {"Type": "Map", "MaxConcurrency": 2,
        "ItemProcessor": {"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$", "End": true}}}, "End": true}}}));
    let r = runner.run(&d, json!([100, 10, 10, 10, 10])).await.unwrap();
    assert_eq!(ok(&r), &json!([100, 10, 10, 10, 10]));
    assert_eq!(c.now(), epoch() + Duration::from_secs(100));
}

#[tokio::test(start_paused = true)]
async fn api_json_shapes() {
    let runner = Runner::new(echo(), clock());
    let d = def(json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 2, "End": true}}}));
    let h = runner.start(&d, json!({"a": 1}), Some("api")).unwrap();
    h.wait().await;
    let v = h.describe().to_api_json();
    assert_eq!(v["startDate"], json!(1_767_225_600.0));
    assert_eq!(v["stopDate"], json!(1_767_225_602.0));
    assert_eq!(v["input"], json!("{\"a\":1}"));
    assert_eq!(v["output"], json!("{\"a\":1}"));
    assert_eq!(v["status"], json!("SUCCEEDED"));
    assert!(v.get("error").is_none());
    let e = h.history()[2].to_api_json();
    assert_eq!(e["type"], json!("WaitStateExited"));
    assert_eq!(e["timestamp"], json!(1_767_225_602.0));
    assert_eq!(e["stateExitedEventDetails"]["name"], json!("W"));
}

#[test]
fn handles_are_send_sync_and_cheap_to_clone() {
    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
    assert_send_sync_clone::<Runner>();
    assert_send_sync_clone::<failover_asl::ExecutionHandle>();
    assert_send_sync_clone::<failover_asl::Definition>();
}

#[tokio::test(start_paused = true)]
async fn every_state_transition_costs_the_configured_time() {
    let c = clock();
    let config = failover_asl::RunnerConfig {
        state_transition: Duration::from_millis(40),
        ..failover_asl::RunnerConfig::default()
    };
    let runner = Runner::with_config(echo(), c.clone(), config);
    let d = def(json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"},
        "B": {"Type": "Pass", "Next": "C"},
        "C": {"Type": "Pass", "End": true}
    }}));
    let start = c.now();
    let r = runner.run(&d, json!({})).await.unwrap();
    ok(&r);
    let entered: Vec<Duration> = r
        .history
        .iter()
        .filter(|e| e.event_type == "PassStateEntered")
        .map(|e| e.timestamp.duration_since(start).unwrap())
        .collect();
    assert_eq!(entered, [40, 80, 120].map(Duration::from_millis), "each state entered one transition later");
    // A bare runner models no service: no cost.
    let r = Runner::new(echo(), c.clone()).run(&d, json!({})).await.unwrap();
    let t: Vec<_> = r.history.iter().map(|e| e.timestamp).collect();
    assert!(t.windows(2).all(|w| w[0] == w[1]), "{t:?}");
}
