//! The Step Functions Local mock configuration.

use failover_asl::{MockConfig, MockSelection, OfflineRun, Runner, run_offline};
use serde_json::json;

use crate::common::*;

const CONFIG: &str = r#"{
  "StateMachines": {
    "LambdaSQSIntegration": {
      "TestCases": {
        "HappyPath": {"LambdaState": "MockedLambdaSuccess", "SQSState": "MockedSQSSuccess"},
        "RetryPath": {"LambdaState": "MockedLambdaRetry", "SQSState": "MockedSQSSuccess"},
        "HybridPath": {"LambdaState": "MockedLambdaSuccess"}
      }
    }
  },
  "MockedResponses": {
    "MockedLambdaSuccess": {"0": {"Return": {"StatusCode": 200, "Payload": {"StatusCode": 200, "body": "Hello from Lambda!"}}}},
    "MockedSQSSuccess": {"0": {"Return": {"MD5OfMessageBody": "3bcb6e8e", "MessageId": "3bcb6e8e-8b51"}}},
    "MockedLambdaRetry": {
      "0": {"Throw": {"Error": "Lambda.ResourceNotReadyException", "Cause": "Lambda resource is not ready."}},
      "1-2": {"Throw": {"Error": "Lambda.TimeoutException", "Cause": "Lambda timed out."}},
      "3": {"Return": {"StatusCode": 200, "Payload": {"StatusCode": 200, "body": "Hello from Lambda!"}}}
    }
  }
}"#;

fn machine() -> serde_json::Value {
    json!({"StartAt": "LambdaState", "States": {
        "LambdaState": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "HelloWorldFunction", "Payload.$": "$"},
            "ResultSelector": {"body.$": "$.Payload.body"},
            "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 2}],
            "Next": "SQSState"},
        "SQSState": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
            "Parameters": {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/1/q", "MessageBody.$": "$"},
            "ResultPath": "$.sqs", "End": true}
    }})
}

#[tokio::test(start_paused = true)]
async fn happy_and_retry_paths() {
    let config = MockConfig::parse(CONFIG).unwrap();
    let d = def(machine());
    let mock = config.dispatcher("LambdaSQSIntegration", "HappyPath", Some(&d)).unwrap();
    let r = Runner::new(mock, clock()).run(&d, json!({})).await.unwrap();
    assert_eq!(
        ok(&r),
        &json!({"body": "Hello from Lambda!", "sqs": {"MD5OfMessageBody": "3bcb6e8e", "MessageId": "3bcb6e8e-8b51"}})
    );

    let c = clock();
    let mock = config.dispatcher("LambdaSQSIntegration", "RetryPath", Some(&d)).unwrap();
    let r = Runner::new(mock, c.clone()).run(&d, json!({})).await.unwrap();
    assert_eq!(ok(&r)["body"], json!("Hello from Lambda!"));
    let errors: Vec<_> =
        r.history.iter().filter(|e| e.event_type == "TaskFailed").filter_map(|e| e.detail_str("error")).collect();
    assert_eq!(errors, ["Lambda.ResourceNotReadyException", "Lambda.TimeoutException", "Lambda.TimeoutException"]);
    assert_eq!(c.now(), epoch() + std::time::Duration::from_secs(2 + 4 + 8));
}

#[tokio::test(start_paused = true)]
async fn incomplete_test_cases_and_bad_configs_are_refused() {
    let config = MockConfig::parse(CONFIG).unwrap();
    let d = def(machine());
    let err = config.dispatcher("LambdaSQSIntegration", "HybridPath", Some(&d)).err().unwrap().to_string();
    assert!(err.contains("`SQSState` has no mocked response"), "{err}");
    assert!(config.dispatcher("Nope", "HappyPath", None).is_err());
    assert!(config.dispatcher("LambdaSQSIntegration", "Nope", None).is_err());
    assert!(MockConfig::parse(r#"{"MockedResponses": {"R": {"0": {"Return": 1, "Throw": {"Error": "E"}}}}}"#).is_err());
    assert!(MockConfig::parse(r#"{"MockedResponses": {"R": {"0-2": {"Return": 1}, "2": {"Return": 2}}}}"#).is_err());
    assert!(
        MockConfig::parse(r#"{"StateMachines": {"M": {"TestCases": {"C": {"S": "Missing"}}}}, "MockedResponses": {}}"#)
            .is_err()
    );
}

#[tokio::test(start_paused = true)]
async fn mocked_callback_tasks_complete_without_waiting() {
    let config = MockConfig::parse(
        r#"{"StateMachines": {"M": {"TestCases": {"Approve": {"Ask": "Yes"}}}},
        "MockedResponses": {"Yes": {"0": {"Return": {"approved": true}}}}}"#,
    )
    .unwrap();
    let d = def(json!({"StartAt": "Ask", "States": {"Ask": {"Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": "notify", "Payload": {"token.$": "$$.Task.Token"}}, "End": true}}}));
    let mock = config.dispatcher("M", "Approve", Some(&d)).unwrap();
    let r = Runner::new(mock, clock()).run(&d, json!({})).await.unwrap();
    assert_eq!(ok(&r), &json!({"approved": true}));
}

#[tokio::test(start_paused = true)]
async fn invocations_past_the_script_fail_loudly() {
    let config = MockConfig::parse(
        r#"{"StateMachines": {"M": {"TestCases": {"C": {"T": "Once"}}}},
        "MockedResponses": {"Once": {"0": {"Throw": {"Error": "E", "Cause": "c"}}}}}"#,
    )
    .unwrap();
    let d = def(
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f",
        "Retry": [{"ErrorEquals": ["E"]}], "End": true}}}),
    );
    let mock = config.dispatcher("M", "C", Some(&d)).unwrap();
    let r = Runner::new(mock, clock()).run(&d, json!({})).await.unwrap();
    let (e, c) = failed(&r);
    assert_eq!(e, "States.Runtime");
    assert!(c.contains("invocation 1"), "{c}");
}

#[test]
fn run_offline_with_substitutions_and_a_mock() {
    let text = r#"{"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 86400, "Next": "LambdaState"},
        "LambdaState": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "${Fn}", "Payload.$": "$"}, "OutputPath": "$.Payload", "End": true}}}"#;
    let run = |mock: Option<MockSelection>, subs: &[(&str, &str)]| {
        run_offline(OfflineRun {
            definition_text: text.to_string(),
            substitutions: subs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            input: json!({"a": 1}),
            mock,
            ..Default::default()
        })
    };
    let mock = MockSelection {
        config_text: r#"{"StateMachines": {"m": {"TestCases": {"T": {"LambdaState": "R"}}}},
            "MockedResponses": {"R": {"0": {"Return": {"StatusCode": 200, "Payload": {"ok": 1}}}}}}"#
            .into(),
        state_machine: Some("other-name".into()),
        test_case: "T".into(),
    };
    let wall = std::time::Instant::now();
    let r = run(Some(mock.clone()), &[("Fn", "f")]).unwrap();
    assert_eq!(ok(&r), &json!({"ok": 1}));
    assert!(wall.elapsed() < std::time::Duration::from_secs(5), "a day of waiting is virtual");
    assert!(run(Some(mock), &[]).unwrap_err().to_string().contains("${Fn}"));
    assert!(run(None, &[("Fn", "f")]).unwrap_err().to_string().contains("LambdaState"));
}
