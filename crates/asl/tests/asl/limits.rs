//! The 25,000-event history quota and the 256 KiB payload quota.

use failover_asl::{AslError, FnDispatcher, HISTORY_LIMIT, PAYLOAD_LIMIT, Runner, TaskContext, TaskFailure};
use serde_json::{Value, json};

use crate::common::*;

fn counter_loop(until: u64) -> Value {
    json!({"StartAt": "Inc", "States": {
        "Inc": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)"}, "Next": "Loop"},
        "Loop": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericLessThan": until, "Next": "Inc"}], "Default": "Done"},
        "Done": {"Type": "Succeed"}
    }})
}

#[tokio::test(start_paused = true)]
async fn exceeding_the_history_limit_fails_the_execution() {
    let r = run(counter_loop(1_000_000), json!({"n": 0})).await;
    let (error, cause) = failed(&r);
    assert_eq!(error, "States.Runtime");
    assert!(cause.contains("25000"), "{cause}");
    assert_eq!(r.history.len(), HISTORY_LIMIT, "never more events than the quota");
    assert_eq!(r.history.last().unwrap().event_type, "ExecutionFailed");
}

#[tokio::test(start_paused = true)]
async fn a_loop_inside_the_limit_completes() {
    // 1 + 4 per iteration + 2 (Succeed) + 1 = 24,004 events for 6,000 iterations.
    let r = run(counter_loop(6_000), json!({"n": 0})).await;
    assert_eq!(ok(&r), &json!({"n": 6000}));
    assert_eq!(r.history.len(), 24_004);
}

#[tokio::test(start_paused = true)]
async fn oversized_results_fail_and_states_all_does_not_catch_them() {
    let big = FnDispatcher(|_r: String, _p: Value, _c: TaskContext| async move {
        Ok::<_, TaskFailure>(json!("x".repeat(PAYLOAD_LIMIT)))
    });
    let d = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "f"},
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}], "End": true},
        "C": {"Type": "Pass", "End": true}
    }});
    let r = run_with(big, d, json!({})).await;
    assert_eq!(failed(&r).0, "States.DataLimitExceeded");
}

#[tokio::test(start_paused = true)]
async fn a_result_just_under_the_limit_passes() {
    let near = FnDispatcher(|_r: String, _p: Value, _c: TaskContext| async move {
        Ok::<_, TaskFailure>(json!("x".repeat(PAYLOAD_LIMIT - 2)))
    });
    let d = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "End": true}}});
    let r = run_with(near, d, json!({})).await;
    assert_eq!(ok(&r).as_str().unwrap().len(), PAYLOAD_LIMIT - 2);
}

#[tokio::test(start_paused = true)]
async fn oversized_input_and_callback_output_are_refused() {
    let runner = Runner::new(echo(), clock());
    let d = def(json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}));
    let err = runner.start(&d, json!("x".repeat(PAYLOAD_LIMIT)), None).unwrap_err();
    assert!(matches!(err, AslError::InvalidInput(_)), "{err}");
    let res = runner.send_task_success("AQ00", json!("x".repeat(PAYLOAD_LIMIT)));
    assert!(matches!(res, Err(failover_asl::CallbackError::InvalidOutput(_))));
}

#[tokio::test(start_paused = true)]
async fn oversized_parameters_fail() {
    let d = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "f", "Payload": {"a.$": "$.s", "b.$": "$.s"}}, "End": true}}});
    let r = run(d, json!({"s": "y".repeat(PAYLOAD_LIMIT / 2 + 10)})).await;
    assert_eq!(failed(&r).0, "States.DataLimitExceeded");
}
