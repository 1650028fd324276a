//! The simulated Step Functions API behind the real `aws-sdk-sfn` client: executions of the
//! local runner started, listed, described, read back and answered through the SDK.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType};
use failover_asl::{Definition, ExecutionHandle, FnDispatcher, Runner, RunnerConfig, TaskContext, TaskFailure};
use failover_core::SharedClock;
use regionsim::sfn::Sfn;
use regionsim::{Sim, SimBuilder, service};
use serde_json::{Value, json};

const REGION: &str = "us-east-1";

/// An approval: the notify task receives the token, the approver answers with a callback.
fn approval() -> Definition {
    Definition::from_value(&json!({"StartAt": "Approve", "States": {
        "Approve": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "notify", "Payload": {"token.$": "$$.Task.Token"}},
            "TimeoutSeconds": 3600, "HeartbeatSeconds": 600, "ResultPath": "$.decision",
            "Catch": [{"ErrorEquals": ["Approval.Rejected"], "ResultPath": "$.error", "Next": "Rejected"}],
            "Next": "Approved"},
        "Approved": {"Type": "Pass", "End": true},
        "Rejected": {"Type": "Fail", "Error": "Rejected", "Cause": "the approver said no"}
    }}))
    .expect("the definition is supported")
}

struct Fixture {
    sim: Sim,
    runner: Runner,
    client: aws_sdk_sfn::Client,
    machine: String,
    clock: SharedClock,
    /// Every token the notify task was given, in order.
    tokens: Arc<Mutex<Vec<String>>>,
}

async fn fixture() -> Fixture {
    let clock = SharedClock::virtual_at(common::epoch());
    let tokens = Arc::new(Mutex::new(Vec::new()));
    let seen = tokens.clone();
    let dispatcher = FnDispatcher(move |_r: String, p: Value, _c: TaskContext| {
        seen.lock().unwrap().extend(p["token"].as_str().map(str::to_string));
        async move { Ok::<_, TaskFailure>(json!({"MessageId": "m-1"})) }
    });
    let runner_config =
        RunnerConfig { region: REGION.into(), account: "111122223333".into(), ..RunnerConfig::default() };
    let runner = Runner::with_config(dispatcher, clock.clone(), runner_config);
    let machine = Sfn::state_machine_arn(&runner, "failover");
    let sim = SimBuilder::new(clock.clone()).seed(7).world_as_planned().start().await.expect("the simulator starts");
    Sfn::new(runner.clone(), [(machine.clone(), approval())]).install(&sim);
    let url = sim.endpoints().url(service::SFN).expect("a states endpoint").to_string();
    let client = aws_sdk_sfn::Client::new(&config(&clock, &url));
    Fixture { sim, runner, client, machine, clock, tokens }
}

fn config(clock: &SharedClock, url: &str) -> SdkConfig {
    common::sdk_config(clock, REGION, url, Duration::from_secs(1))
}

impl Fixture {
    /// `ListExecutions` of the fixture's state machine, ready to send.
    fn list(&self) -> aws_sdk_sfn::operation::list_executions::builders::ListExecutionsFluentBuilder {
        self.client.list_executions().state_machine_arn(&self.machine)
    }

    async fn start(&self, name: &str, input: &str) -> (String, ExecutionHandle) {
        let out = self
            .client
            .start_execution()
            .state_machine_arn(&self.machine)
            .name(name)
            .input(input)
            .send()
            .await
            .expect("StartExecution");
        let arn = out.execution_arn().to_string();
        let handle = self.runner.execution(&arn).expect("the runner holds the execution");
        (arn, handle)
    }
}

fn code<E: aws_sdk_sfn::error::ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or("<none>").to_string()
}

#[tokio::test(start_paused = true)]
async fn an_approval_through_the_sdk_resumes_the_execution() {
    let f = fixture().await;
    let (arn, handle) = f.start("approve-1", r#"{"plan":"retail"}"#).await;
    assert_eq!(arn, "arn:aws:states:us-east-1:111122223333:execution:failover:approve-1");
    let token = handle.wait_for_task_token().await.expect("the task waits for its token");
    assert_eq!(*f.tokens.lock().unwrap(), vec![token.clone()], "notify received the token");

    let listed = f.list().send().await.expect("ListExecutions");
    assert_eq!(listed.executions().len(), 1);
    assert_eq!(listed.executions()[0].execution_arn(), arn);
    assert_eq!(listed.executions()[0].status(), &ExecutionStatus::Running);
    assert_eq!(listed.executions()[0].start_date().secs(), 1_767_225_600);
    let none = f.list().status_filter(ExecutionStatus::Succeeded).send().await.unwrap();
    assert!(none.executions().is_empty(), "the status filter applies");

    let running = f.client.describe_execution().execution_arn(&arn).send().await.expect("DescribeExecution");
    assert_eq!(running.status(), &ExecutionStatus::Running);
    assert_eq!(running.name(), Some("approve-1"));
    assert_eq!(running.state_machine_arn(), f.machine);
    assert_eq!(serde_json::from_str::<Value>(running.input().unwrap()).unwrap(), json!({"plan": "retail"}));
    assert!(running.stop_date().is_none() && running.output().is_none());

    let history = f.client.get_execution_history().execution_arn(&arn).send().await.expect("GetExecutionHistory");
    let types: Vec<HistoryEventType> = history.events().iter().map(|e| e.r#type().clone()).collect();
    assert_eq!(
        types,
        [
            HistoryEventType::ExecutionStarted,
            HistoryEventType::TaskStateEntered,
            HistoryEventType::TaskScheduled,
            HistoryEventType::TaskStarted,
            HistoryEventType::TaskSubmitted,
        ]
    );
    let entered = history.events()[1].state_entered_event_details().expect("stateEnteredEventDetails");
    assert_eq!(entered.name(), "Approve");
    let scheduled = history.events()[2].task_scheduled_event_details().expect("taskScheduledEventDetails");
    assert_eq!(scheduled.resource_type(), "lambda");
    assert_eq!(scheduled.heartbeat_in_seconds(), Some(600));
    assert_eq!(history.events()[0].timestamp().secs(), 1_767_225_600);
    let bare = f.client.get_execution_history().execution_arn(&arn).include_execution_data(false).send().await.unwrap();
    let started = bare.events()[0].execution_started_event_details().expect("executionStartedEventDetails");
    assert!(started.input().is_none() && started.input_details().is_some(), "data left out, details kept");
    assert!(history.next_token().is_none());

    // A page of two, newest first, then the rest through the token.
    let page =
        f.client.get_execution_history().execution_arn(&arn).reverse_order(true).max_results(2).send().await.unwrap();
    let ids: Vec<i64> = page.events().iter().map(|e| e.id()).collect();
    assert_eq!(ids, [5, 4]);
    let rest = f
        .client
        .get_execution_history()
        .execution_arn(&arn)
        .reverse_order(true)
        .max_results(2)
        .set_next_token(page.next_token().map(str::to_string))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.events().iter().map(|e| e.id()).collect::<Vec<_>>(), [3, 2]);
    assert!(rest.next_token().is_some(), "one event remains");

    // A heartbeat keeps the task alive past its HeartbeatSeconds.
    f.clock.sleep(Duration::from_secs(500)).await;
    f.client.send_task_heartbeat().task_token(&token).send().await.expect("SendTaskHeartbeat");
    f.clock.sleep(Duration::from_secs(500)).await;

    f.client
        .send_task_success()
        .task_token(&token)
        .output(r#"{"decision":"approve","approver":"sdk"}"#)
        .send()
        .await
        .expect("SendTaskSuccess");
    handle.wait().await;
    let done = f.client.describe_execution().execution_arn(&arn).send().await.unwrap();
    assert_eq!(done.status(), &ExecutionStatus::Succeeded);
    assert_eq!(
        serde_json::from_str::<Value>(done.output().unwrap()).unwrap(),
        json!({"plan": "retail", "decision": {"decision": "approve", "approver": "sdk"}})
    );
    assert_eq!(done.stop_date().unwrap().secs(), 1_767_225_600 + 1000);
    let last =
        f.client.get_execution_history().execution_arn(&arn).reverse_order(true).max_results(1).send().await.unwrap();
    let succeeded = &last.events()[0];
    assert_eq!(succeeded.r#type(), &HistoryEventType::ExecutionSucceeded);
    let details = succeeded.execution_succeeded_event_details().expect("executionSucceededEventDetails");
    assert_eq!(serde_json::from_str::<Value>(details.output().unwrap()).unwrap()["decision"]["approver"], "sdk");

    let again = f.client.send_task_success().task_token(&token).output("{}").send().await.unwrap_err();
    assert!(again.as_service_error().is_some_and(|e| e.is_task_does_not_exist()), "a token answers once: {again:?}");
}

#[tokio::test(start_paused = true)]
async fn a_task_failure_through_the_sdk_fails_the_execution() {
    let f = fixture().await;
    let (_, first) = f.start("first", "{}").await;
    let (arn, second) = f.start("second", "{}").await;
    first.wait_for_task_token().await.unwrap();
    let token = second.wait_for_task_token().await.unwrap();
    f.client
        .send_task_failure()
        .task_token(&token)
        .error("Approval.Rejected")
        .cause("not tonight")
        .send()
        .await
        .expect("SendTaskFailure");
    second.wait().await;
    let d = f.client.describe_execution().execution_arn(&arn).send().await.unwrap();
    assert_eq!(d.status(), &ExecutionStatus::Failed);
    assert_eq!(d.error(), Some("Rejected"));
    assert_eq!(d.cause(), Some("the approver said no"));
    let h = f.client.get_execution_history().execution_arn(&arn).send().await.unwrap();
    let failed = h.events().iter().find(|e| e.r#type() == &HistoryEventType::TaskFailed).expect("TaskFailed");
    let details = failed.task_failed_event_details().unwrap();
    assert_eq!((details.error(), details.cause()), (Some("Approval.Rejected"), Some("not tonight")));

    let listed = f.list().send().await.unwrap();
    let names: Vec<&str> = listed.executions().iter().map(|e| e.name()).collect();
    assert_eq!(names, ["second", "first"], "newest first");
    let failed_only = f.list().status_filter(ExecutionStatus::Failed).send().await.unwrap();
    assert_eq!(failed_only.executions().iter().map(|e| e.name()).collect::<Vec<_>>(), ["second"]);
    let page = f.list().max_results(1).send().await.unwrap();
    assert_eq!(page.executions()[0].name(), "second");
    let next = f.list().max_results(1).set_next_token(page.next_token().map(str::to_string)).send().await.unwrap();
    assert_eq!(next.executions()[0].name(), "first");
    assert!(next.next_token().is_none());
    assert_eq!(first.status(), failover_asl::Status::Running, "the other execution still waits");
}

#[tokio::test(start_paused = true)]
async fn errors_are_the_ones_the_sdk_models() {
    let f = fixture().await;
    let (arn, handle) = f.start("dup", r#"{"a":1}"#).await;
    let token = handle.wait_for_task_token().await.unwrap();

    let (same, _) = f.start("dup", r#"{"a":1}"#).await;
    assert_eq!(same, arn, "a running execution with the same name and input is returned again");
    let err = f
        .client
        .start_execution()
        .state_machine_arn(&f.machine)
        .name("dup")
        .input(r#"{"a":2}"#)
        .send()
        .await
        .unwrap_err();
    assert!(err.as_service_error().is_some_and(|e| e.is_execution_already_exists()), "{err:?}");

    let missing = Sfn::state_machine_arn(&f.runner, "nope");
    let err = f.client.start_execution().state_machine_arn(&missing).send().await.unwrap_err();
    assert!(err.as_service_error().is_some_and(|e| e.is_state_machine_does_not_exist()), "{err:?}");
    let err = f.client.list_executions().state_machine_arn(&missing).send().await.unwrap_err();
    assert!(err.as_service_error().is_some_and(|e| e.is_state_machine_does_not_exist()), "{err:?}");
    let err = f.client.start_execution().state_machine_arn(&f.machine).input("{not json").send().await.unwrap_err();
    assert!(err.as_service_error().is_some_and(|e| e.is_invalid_execution_input()), "{err:?}");

    let unknown = arn.replace(":dup", ":ghost");
    let err = f.client.describe_execution().execution_arn(&unknown).send().await.unwrap_err();
    assert!(err.as_service_error().is_some_and(|e| e.is_execution_does_not_exist()), "{err:?}");
    let err = f.client.get_execution_history().execution_arn(&unknown).send().await.unwrap_err();
    assert!(err.as_service_error().is_some_and(|e| e.is_execution_does_not_exist()), "{err:?}");
    let err = f.client.describe_execution().execution_arn("not-an-arn").send().await.unwrap_err();
    assert!(err.as_service_error().is_some_and(|e| e.is_invalid_arn()), "{err:?}");
    let err = f.client.get_execution_history().execution_arn(&arn).next_token("bogus").send().await.unwrap_err();
    assert!(err.as_service_error().is_some_and(|e| e.is_invalid_token()), "{err:?}");

    let err = f.client.send_task_success().task_token("garbage").output("{}").send().await.unwrap_err();
    assert!(err.as_service_error().is_some_and(|e| e.is_invalid_token()), "{err:?}");
    let err = f.client.send_task_failure().task_token("garbage").send().await.unwrap_err();
    assert!(err.as_service_error().is_some_and(|e| e.is_invalid_token()), "{err:?}");
    let err = f.client.send_task_success().task_token(&token).output("{not json").send().await.unwrap_err();
    assert!(err.as_service_error().is_some_and(|e| e.is_invalid_output()), "{err:?}");
    assert_eq!(handle.status(), failover_asl::Status::Running, "a refused callback changes nothing");

    // No heartbeat for HeartbeatSeconds: the task times out and its token is spent.
    f.clock.sleep(Duration::from_secs(601)).await;
    handle.wait().await;
    let err = f.client.send_task_heartbeat().task_token(&token).send().await.unwrap_err();
    assert!(err.as_service_error().is_some_and(|e| e.is_task_timed_out()), "{err:?}");
    assert_eq!(code(err.as_service_error().unwrap()), "TaskTimedOut");

    // The simulator's faults apply to this service as to the others.
    f.sim.set_throttle_rate(service::SFN, 1.0);
    let err = f.client.describe_execution().execution_arn(&arn).send().await.unwrap_err();
    assert_eq!(code(err.as_service_error().unwrap()), "ThrottlingException");
}
