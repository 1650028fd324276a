//! `.waitForTaskToken`: success, failure, heartbeats, timeouts, token errors.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use failover_asl::{CallbackError, FnDispatcher, Runner, Status, TaskContext, TaskFailure};
use serde_json::{Value, json};

use crate::common::*;

fn approval(heartbeat: Option<u64>, timeout: u64) -> Value {
    let mut t = json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": "notify", "Payload": {"token.$": "$$.Task.Token", "request.$": "$"}},
        "TimeoutSeconds": timeout, "ResultPath": "$.decision",
        "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "TimedOut"},
                  {"ErrorEquals": ["Approval.Rejected"], "ResultPath": "$.error", "Next": "Rejected"}],
        "Next": "Approved"});
    if let Some(h) = heartbeat {
        t["HeartbeatSeconds"] = json!(h);
    }
    json!({"StartAt": "Approve", "States": {
        "Approve": t,
        "Approved": {"Type": "Pass", "End": true},
        "Rejected": {"Type": "Fail", "Error": "Rejected"},
        "TimedOut": {"Type": "Fail", "Error": "TimedOut"}
    }})
}

/// Captures the token the notify function receives.
fn notifier() -> (impl failover_asl::TaskDispatcher, Arc<Mutex<Option<String>>>) {
    let tok = Arc::new(Mutex::new(None));
    let t2 = tok.clone();
    let d = FnDispatcher(move |_r: String, p: Value, c: TaskContext| {
        assert_eq!(p["token"].as_str(), c.task_token.as_deref());
        *t2.lock().unwrap() = p["token"].as_str().map(str::to_string);
        async move { Ok::<_, TaskFailure>(json!({"MessageId": "m-1"})) }
    });
    (d, tok)
}

async fn until_token(_runner: &Runner, h: &failover_asl::ExecutionHandle) -> String {
    h.wait_for_task_token().await.expect("a task token")
}

#[tokio::test(start_paused = true)]
async fn success_resumes_with_the_callback_output() {
    let c = clock();
    let (d, tok) = notifier();
    let runner = Runner::new(d, c.clone());
    let h = runner.start(&def(approval(None, 3600)), json!({"plan": "p"}), Some("a")).unwrap();
    let token = until_token(&runner, &h).await;
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(h.status(), Status::Running);
    assert_eq!(tok.lock().unwrap().as_deref(), Some(token.as_str()));
    h.send_task_success(&token, json!({"approved": true})).unwrap();
    let r = h.wait().await;
    assert_eq!(ok(&r), &json!({"plan": "p", "decision": {"approved": true}}));
    assert!(types(&r).contains(&"TaskSubmitted"));
    assert!(
        r.history.iter().all(|e| e.previous_event_id == e.id - 1),
        "a linear run chains every event to the one before"
    );
    let submitted = r.history.iter().find(|e| e.event_type == "TaskSubmitted").unwrap();
    assert_eq!(submitted.detail_json("output").unwrap()["Payload"], json!({"MessageId": "m-1"}));
    assert_eq!(submitted.detail_str("resource"), Some("invoke.waitForTaskToken"));
    assert_eq!(
        runner.send_task_success(&token, json!({})),
        Err(CallbackError::TaskDoesNotExist(token.clone())),
        "a token answers once"
    );
    assert!(matches!(runner.send_task_success("garbage", json!({})), Err(CallbackError::InvalidToken(_))));
}

#[tokio::test(start_paused = true)]
async fn failure_is_matched_by_catch() {
    let (d, _) = notifier();
    let runner = Runner::new(d, clock());
    let h = runner.start(&def(approval(None, 3600)), json!({}), None).unwrap();
    let token = until_token(&runner, &h).await;
    runner.send_task_failure(&token, "Approval.Rejected", "no").unwrap();
    let r = h.wait().await;
    assert_eq!(failed(&r).0, "Rejected");
    assert_eq!(entered(&r), ["Approve", "Rejected"]);
}

#[tokio::test(start_paused = true)]
async fn heartbeats_keep_it_alive_and_missing_ones_time_it_out() {
    let c = clock();
    let (d, _) = notifier();
    let runner = Runner::new(d, c.clone());
    let h = runner.start(&def(approval(Some(60), 3600)), json!({}), None).unwrap();
    let token = until_token(&runner, &h).await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(50)).await;
        h.send_task_heartbeat(&token).unwrap();
    }
    assert_eq!(h.status(), Status::Running, "150 s in, heartbeats every 50 s");
    let r = h.wait().await;
    assert_eq!(failed(&r).0, "TimedOut");
    assert_eq!(c.now(), epoch() + Duration::from_secs(210), "60 s after the last heartbeat");
    let timed_out = r.history.iter().find(|e| e.event_type == "TaskTimedOut").unwrap();
    assert_eq!(timed_out.detail_str("error"), Some("States.HeartbeatTimeout"));
    assert!(matches!(runner.send_task_heartbeat(&token), Err(CallbackError::TaskTimedOut(_))));
}

#[tokio::test(start_paused = true)]
async fn task_timeout_without_answer() {
    let c = clock();
    let (d, _) = notifier();
    let runner = Runner::new(d, c.clone());
    let r = runner.run(&def(approval(None, 900)), json!({})).await.unwrap();
    assert_eq!(failed(&r).0, "TimedOut");
    assert_eq!(c.now(), epoch() + Duration::from_secs(900));
}

#[tokio::test(start_paused = true)]
async fn a_callback_sent_during_the_invocation_is_kept() {
    // The notify function answers at once, as an auto-approving drill does.
    let runner_slot: Arc<Mutex<Option<Runner>>> = Arc::new(Mutex::new(None));
    let slot = runner_slot.clone();
    let d = FnDispatcher(move |_r: String, p: Value, _c: TaskContext| {
        let runner = slot.lock().unwrap().clone().unwrap();
        runner.send_task_success(p["token"].as_str().unwrap(), json!("auto")).unwrap();
        async move { Ok::<_, TaskFailure>(json!({})) }
    });
    let runner = Runner::new(d, clock());
    *runner_slot.lock().unwrap() = Some(runner.clone());
    let r = runner.run(&def(approval(None, 60)), json!({})).await.unwrap();
    assert_eq!(ok(&r)["decision"], json!("auto"));
}

#[tokio::test(start_paused = true)]
async fn no_token_for_an_execution_without_callbacks() {
    let runner = Runner::new(crate::common::echo(), clock());
    let h = runner
        .start(
            &def(json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 5, "End": true}}})),
            json!({}),
            None,
        )
        .unwrap();
    assert_eq!(h.wait_for_task_token().await, None);
    assert_eq!(h.status(), Status::Succeeded);
}
