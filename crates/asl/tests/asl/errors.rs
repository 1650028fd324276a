//! Retry and Catch: matching order, attempt counting per retrier, intervals, jitter,
//! States.ALL / States.TaskFailed / States.Timeout semantics, timeouts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use failover_asl::{FnDispatcher, Runner, RunnerConfig, TaskContext, TaskFailure};
use serde_json::{Value, json};

use crate::common::*;

/// Fails with the given errors in order, then succeeds; records the virtual time of each call.
fn script(
    errors: &[&str],
    clock: failover_core::SharedClock,
) -> (impl failover_asl::TaskDispatcher, Arc<std::sync::Mutex<Vec<SystemTime>>>) {
    let errors: Vec<String> = errors.iter().map(|s| s.to_string()).collect();
    let n = Arc::new(AtomicU32::new(0));
    let times = Arc::new(std::sync::Mutex::new(Vec::new()));
    let t2 = times.clone();
    let d = FnDispatcher(move |_r: String, _p: Value, _c: TaskContext| {
        let i = n.fetch_add(1, Ordering::SeqCst) as usize;
        t2.lock().unwrap().push(clock.now());
        let out = match errors.get(i) {
            Some(e) => Err(TaskFailure::function_error(e.clone(), format!("attempt {i}"))),
            None => Ok(json!({"attempts": i + 1})),
        };
        async move { out }
    });
    (d, times)
}

fn task_with(retry: Value, catch: Value) -> Value {
    let mut d = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
              "Parameters": {"FunctionName": "f", "Payload.$": "$"}, "OutputPath": "$.Payload",
              "Retry": retry, "Catch": catch, "End": true}
    }});
    // Only the catch targets that are used, as unreachable states are refused.
    let text = d.to_string();
    if text.contains("\"Caught\"") {
        d["States"]["Caught"] = json!({"Type": "Pass", "End": true});
    }
    if text.contains("\"CaughtOther\"") {
        d["States"]["CaughtOther"] = json!({"Type": "Pass", "Result": "other", "End": true});
    }
    d
}

fn secs_between(times: &[SystemTime]) -> Vec<f64> {
    times.windows(2).map(|w| w[1].duration_since(w[0]).unwrap().as_secs_f64()).collect()
}

#[tokio::test(start_paused = true)]
async fn retry_backoff_and_max_delay() {
    let c = clock();
    let (d, times) = script(&["E", "E", "E", "E"], c.clone());
    let runner = Runner::new(d, c);
    let def = def(task_with(
        json!([{"ErrorEquals": ["E"], "IntervalSeconds": 2, "BackoffRate": 3.0, "MaxAttempts": 4, "MaxDelaySeconds": 10}]),
        json!([]),
    ));
    let r = runner.run(&def, json!({})).await.unwrap();
    assert_eq!(ok(&r), &json!({"attempts": 5}));
    assert_eq!(secs_between(&times.lock().unwrap()), [2.0, 6.0, 10.0, 10.0]);
    assert_eq!(count(&r, "TaskScheduled"), 5);
    assert_eq!(count(&r, "TaskFailed"), 4);
    assert_eq!(count(&r, "TaskSucceeded"), 1);
    assert_eq!(count(&r, "TaskStateEntered"), 1, "retries stay inside one state entry");
}

#[tokio::test(start_paused = true)]
async fn retry_defaults_are_1s_rate_2_three_attempts() {
    let c = clock();
    let (d, times) = script(&["E", "E", "E", "E"], c.clone());
    let runner = Runner::new(d, c);
    let r = runner.run(&def(task_with(json!([{"ErrorEquals": ["States.ALL"]}]), json!([]))), json!({})).await.unwrap();
    assert_eq!(failed(&r).0, "E");
    assert_eq!(secs_between(&times.lock().unwrap()), [1.0, 2.0, 4.0]);
}

#[tokio::test(start_paused = true)]
async fn first_matching_retrier_counts_even_when_exhausted() {
    // The first retrier matches E and has one attempt; the second would allow more, but a
    // retrier that matched and is exhausted sends the error to Catch.
    let c = clock();
    let (d, _) = script(&["E", "E", "E"], c.clone());
    let runner = Runner::new(d, c);
    let def = def(task_with(
        json!([{"ErrorEquals": ["E"], "MaxAttempts": 1}, {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5}]),
        json!([{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]),
    ));
    let r = runner.run(&def, json!({})).await.unwrap();
    assert_eq!(ok(&r)["Error"], json!("E"));
    assert_eq!(count(&r, "TaskScheduled"), 2);
}

#[tokio::test(start_paused = true)]
async fn attempt_counts_are_per_retrier() {
    // A, B, A, B: each retrier allows 2 retries of its own error, so all four are retried.
    let c = clock();
    let (d, _) = script(&["A", "B", "A", "B"], c.clone());
    let runner = Runner::new(d, c);
    let def = def(task_with(
        json!([{"ErrorEquals": ["A"], "MaxAttempts": 2}, {"ErrorEquals": ["B"], "MaxAttempts": 2}]),
        json!([]),
    ));
    let r = runner.run(&def, json!({})).await.unwrap();
    assert_eq!(ok(&r), &json!({"attempts": 5}));
}

#[tokio::test(start_paused = true)]
async fn max_attempts_zero_never_retries() {
    let c = clock();
    let (d, _) = script(&["E"], c.clone());
    let runner = Runner::new(d, c);
    let r = runner
        .run(&def(task_with(json!([{"ErrorEquals": ["E"], "MaxAttempts": 0}]), json!([]))), json!({}))
        .await
        .unwrap();
    assert_eq!(failed(&r).0, "E");
    assert_eq!(count(&r, "TaskScheduled"), 1);
}

#[tokio::test(start_paused = true)]
async fn full_jitter_stays_under_the_interval_and_is_seeded() {
    let mut all = Vec::new();
    for _ in 0..2 {
        let c = clock();
        let (d, times) = script(&["E", "E", "E"], c.clone());
        let runner = Runner::with_config(d, c, RunnerConfig { seed: 7, ..Default::default() });
        let def = def(task_with(
            json!([{"ErrorEquals": ["E"], "IntervalSeconds": 10, "BackoffRate": 1.0, "JitterStrategy": "FULL"}]),
            json!([]),
        ));
        ok(&runner.run(&def, json!({})).await.unwrap());
        let gaps = secs_between(&times.lock().unwrap());
        assert!(gaps.iter().all(|g| *g >= 0.0 && *g <= 10.0), "{gaps:?}");
        assert!(gaps.iter().any(|g| *g < 10.0), "jitter shortens the interval: {gaps:?}");
        all.push(gaps);
    }
    assert_eq!(all[0], all[1], "the same seed gives the same jitter");
}

#[tokio::test(start_paused = true)]
async fn first_matching_catcher_wins_and_error_output_goes_to_result_path() {
    let c = clock();
    let (d, _) = script(&["Failover.NotYet"], c.clone());
    let runner = Runner::new(d, c);
    let def = def(task_with(
        json!([]),
        json!([
            {"ErrorEquals": ["Other"], "Next": "CaughtOther"},
            {"ErrorEquals": ["Failover.NotYet", "X"], "ResultPath": "$.error", "Next": "Caught"},
            {"ErrorEquals": ["States.ALL"], "Next": "CaughtOther"}
        ]),
    ));
    let r = runner.run(&def, json!({"keep": 1})).await.unwrap();
    let out = ok(&r);
    assert_eq!(out["keep"], json!(1));
    assert_eq!(out["error"]["Error"], json!("Failover.NotYet"));
    let cause: Value = serde_json::from_str(out["error"]["Cause"].as_str().unwrap()).unwrap();
    assert_eq!(cause["errorType"], json!("Failover.NotYet"));
    assert_eq!(cause["errorMessage"], json!("attempt 0"));
    assert_eq!(entered(&r), ["T", "Caught"]);
    assert_eq!(
        types(&r)[..6],
        ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskFailed", "TaskStateExited"]
    );
}

#[tokio::test(start_paused = true)]
async fn task_failed_matches_all_but_timeouts() {
    // TimeoutSeconds 5 on a task that takes 10 s: States.Timeout, which TaskFailed does not match.
    let slow = FnDispatcher(|_r: String, _p: Value, _c: TaskContext| async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok::<_, TaskFailure>(json!(1))
    });
    let d = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "TimeoutSeconds": 5,
              "Parameters": {"FunctionName": "f"},
              "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "TF"}, {"ErrorEquals": ["States.Timeout"], "Next": "TO"}],
              "End": true},
        "TF": {"Type": "Pass", "Result": "task-failed", "End": true},
        "TO": {"Type": "Pass", "Result": "timeout", "End": true}
    }});
    let r = run_with(slow, d.clone(), json!({})).await;
    assert_eq!(ok(&r), &json!("timeout"));
    assert_eq!(count(&r, "TaskTimedOut"), 1);

    let failing = FnDispatcher(|_r: String, _p: Value, _c: TaskContext| async move {
        Err::<Value, _>(TaskFailure::function_error("Anything.AtAll", "x"))
    });
    let r = run_with(failing, d, json!({})).await;
    assert_eq!(ok(&r), &json!("task-failed"));
}

#[tokio::test(start_paused = true)]
async fn timeout_seconds_path() {
    let slow = FnDispatcher(|_r: String, _p: Value, _c: TaskContext| async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok::<_, TaskFailure>(json!(1))
    });
    let d = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "TimeoutSecondsPath": "$.t", "Parameters": {"FunctionName": "f"}, "End": true}}});
    let r = run_with(slow, d.clone(), json!({"t": 3})).await;
    assert_eq!(failed(&r).0, "States.Timeout");
    let scheduled = r.history.iter().find(|e| e.event_type == "TaskScheduled").unwrap();
    assert_eq!(scheduled.detail().unwrap()["timeoutInSeconds"], json!(3));
}

#[tokio::test(start_paused = true)]
async fn runtime_errors_are_never_caught_or_retried() {
    let d = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
              "Parameters": {"FunctionName": "f", "Payload.$": "$.missing"},
              "Retry": [{"ErrorEquals": ["States.ALL"]}],
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}], "End": true},
        "C": {"Type": "Pass", "End": true}
    }});
    let r = run(d, json!({})).await;
    assert_eq!(failed(&r).0, "States.Runtime");
}

#[tokio::test(start_paused = true)]
async fn map_retry_reruns_the_whole_map() {
    let calls = Arc::new(AtomicU32::new(0));
    let c2 = calls.clone();
    let d = FnDispatcher(move |_r: String, p: Value, _c: TaskContext| {
        let n = c2.fetch_add(1, Ordering::SeqCst);
        async move { if n == 1 { Err(TaskFailure::function_error("Flaky", "once")) } else { Ok(p) } }
    });
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "MaxConcurrency": 1,
        "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1}],
        "ItemProcessor": {"StartAt": "T", "States": {"T": lambda_task("f", None)}}, "End": true}}});
    let r = run_with(d, def, json!([1, 2])).await;
    assert_eq!(ok(&r), &json!([1, 2]));
    assert_eq!(count(&r, "MapStateStarted"), 2);
    assert_eq!(count(&r, "MapStateFailed"), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}
