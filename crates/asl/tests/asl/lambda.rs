//! The `lambda:invoke` integration, Lambda ARNs, `states:startExecution`, Lambda-level faults.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use failover_asl::{
    FaultInjector, FaultRule, FnDispatcher, Integration, LambdaFault, Runner, TaskContext, TaskFailure,
};
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test(start_paused = true)]
async fn lambda_invoke_wraps_the_result_in_the_payload_envelope() {
    let calls = Calls::default();
    let d = recording(&calls, |_, p, _| Ok(json!({"got": p})));
    let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:preflight", "Payload": {"x.$": "$.x"}},
        "End": true}}});
    let r = run_with(d, def, json!({"x": 1})).await;
    let out = ok(&r);
    assert_eq!(out["Payload"], json!({"got": {"x": 1}}));
    assert_eq!(out["StatusCode"], json!(200));
    assert_eq!(out["ExecutedVersion"], json!("$LATEST"));
    assert_eq!(out["SdkHttpMetadata"]["HttpStatusCode"], json!(200));
    assert!(out["SdkResponseMetadata"]["RequestId"].is_string());
    assert_eq!(calls.resources(), ["arn:aws:lambda:us-east-1:123456789012:function:preflight"]);
    let (_, _, ctx) = calls.0.lock().unwrap()[0].clone();
    assert_eq!(ctx.integration, Integration::LambdaInvoke);
    assert_eq!(ctx.state_name, "T");
    assert_eq!(ctx.retry_count, 0);
    assert_eq!(
        types(&r),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ]
    );
    let scheduled = r.history[2].detail().unwrap();
    assert_eq!(scheduled["resourceType"], json!("lambda"));
    assert_eq!(scheduled["resource"], json!("invoke"));
    assert_eq!(scheduled["region"], json!("us-east-1"));
    let params: Value = serde_json::from_str(scheduled["parameters"].as_str().unwrap()).unwrap();
    assert_eq!(params["Payload"], json!({"x": 1}));
}

#[tokio::test(start_paused = true)]
async fn function_errors_surface_with_their_error_type() {
    let d = FnDispatcher(|_r: String, _p: Value, _c: TaskContext| async move {
        Err::<Value, _>(TaskFailure::function_error("Failover.SwitchoverRefused", "lag 12 s over the RPO"))
    });
    let r = run_with(d, json!({"StartAt": "T", "States": {"T": lambda_task("f", None)}}), json!({})).await;
    let (error, cause) = failed(&r);
    assert_eq!(error, "Failover.SwitchoverRefused");
    let cause: Value = serde_json::from_str(cause).unwrap();
    assert_eq!(cause["errorType"], json!("Failover.SwitchoverRefused"));
    assert_eq!(cause["errorMessage"], json!("lag 12 s over the RPO"));
    let failed_ev = r.history.iter().find(|e| e.event_type == "TaskFailed").unwrap();
    assert_eq!(failed_ev.detail_str("error"), Some("Failover.SwitchoverRefused"));
}

#[tokio::test(start_paused = true)]
async fn lambda_arn_resource_has_no_envelope_and_its_own_events() {
    let calls = Calls::default();
    let d = recording(&calls, |_, p, _| Ok(json!({"echo": p})));
    let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task",
        "Resource": "arn:aws:lambda:us-east-1:123456789012:function:notify", "End": true}}});
    let r = run_with(d, def, json!({"a": 1})).await;
    assert_eq!(ok(&r), &json!({"echo": {"a": 1}}));
    assert_eq!(calls.resources(), ["arn:aws:lambda:us-east-1:123456789012:function:notify"]);
    assert_eq!(
        types(&r),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "LambdaFunctionScheduled",
            "LambdaFunctionStarted",
            "LambdaFunctionSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn start_execution_goes_through_the_dispatcher() {
    let calls = Calls::default();
    let d = recording(&calls, |r, p, _| {
        assert_eq!(r, "arn:aws:states:::states:startExecution");
        Ok(
            json!({"ExecutionArn": format!("{}:exec", p["StateMachineArn"].as_str().unwrap()), "StartDate": "2026-01-01T00:00:00Z"}),
        )
    });
    let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution",
        "Parameters": {"StateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:recovery", "Input": {"from.$": "$$.Execution.Id"}},
        "End": true}}});
    let r = run_with(d, def, json!({})).await;
    assert_eq!(ok(&r)["ExecutionArn"], json!("arn:aws:states:us-east-1:1:stateMachine:recovery:exec"));
    let (_, params, ctx) = calls.0.lock().unwrap()[0].clone();
    assert_eq!(ctx.integration, Integration::StartExecution);
    assert!(params["Input"]["from"].as_str().unwrap().contains(":execution:"));
}

fn retrying_machine() -> Value {
    json!({"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
              "Parameters": {"FunctionName": "fa", "Payload.$": "$"}, "OutputPath": "$.Payload",
              "Retry": [{"ErrorEquals": ["Lambda.ServiceException", "Lambda.TooManyRequestsException", "States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 2}],
              "Next": "B"},
        "B": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
              "Parameters": {"FunctionName": "fb", "Payload.$": "$"}, "OutputPath": "$.Payload",
              "Retry": [{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 2}],
              "End": true}
    }})
}

#[tokio::test(start_paused = true)]
async fn injected_lambda_faults_are_retried_and_a_timeout_still_ran_the_function() {
    let ran = Arc::new(AtomicU32::new(0));
    let r2 = ran.clone();
    let inner = FnDispatcher(move |_r: String, p: Value, _c: TaskContext| {
        r2.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<_, TaskFailure>(p) }
    });
    let rules = vec![
        FaultRule { state: Some("A".into()), calls: 1..=1, fault: LambdaFault::ServiceException },
        FaultRule { state: Some("A".into()), calls: 2..=2, fault: LambdaFault::TimeoutAfterRun },
        FaultRule { state: Some("B".into()), calls: 1..=1, fault: LambdaFault::TooManyRequests },
    ];
    let injector = Arc::new(FaultInjector::new(inner, rules));
    let runner = Runner::new(injector.clone(), clock());
    let r = runner.run(&def(retrying_machine()), json!({"v": 1})).await.unwrap();
    assert_eq!(ok(&r), &json!({"v": 1}));
    let errors: Vec<&str> = r
        .history
        .iter()
        .filter(|e| e.event_type == "TaskFailed" || e.event_type == "TaskTimedOut")
        .filter_map(|e| e.detail_str("error"))
        .collect();
    assert_eq!(errors, ["Lambda.ServiceException", "States.Timeout", "Lambda.TooManyRequestsException"]);
    // A: fault (not run), timeout (ran), success (ran); B: throttled (not run), success (ran).
    assert_eq!(ran.load(Ordering::SeqCst), 3);
    assert_eq!(injector.injected().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn every_task_once() {
    let injector = FaultInjector::new(echo(), vec![FaultRule::every_task_once(LambdaFault::ServiceException)]);
    let runner = Runner::new(injector, clock());
    let r = runner.run(&def(retrying_machine()), json!({"v": 1})).await.unwrap();
    ok(&r);
    assert_eq!(count(&r, "TaskFailed"), 2);
    assert_eq!(count(&r, "TaskSucceeded"), 2);
}

#[tokio::test(start_paused = true)]
async fn step_errors_map_to_their_stable_names() {
    let d = FnDispatcher(|_r: String, _p: Value, _c: TaskContext| async move {
        Err::<Value, TaskFailure>(failover_core::StepError::not_yet("writer still in us-east-1").into())
    });
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "check"},
              "Retry": [{"ErrorEquals": ["Failover.NotYet"], "IntervalSeconds": 30, "MaxAttempts": 2}], "End": true}}});
    let r = run_with(d, def, json!({})).await;
    assert_eq!(failed(&r).0, "Failover.NotYet");
    assert_eq!(count(&r, "TaskScheduled"), 3);
}
