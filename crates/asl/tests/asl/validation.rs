//! Refusal of invalid and unsupported definitions, before anything runs.

use failover_asl::{AslError, Definition, substitute};
use serde_json::{Value, json};

fn problems(v: Value) -> Vec<String> {
    match Definition::from_value(&v) {
        Ok(_) => panic!("accepted: {v}"),
        Err(AslError::Invalid(p)) => p.iter().map(|p| p.to_string()).collect(),
        Err(e) => panic!("unexpected error {e}"),
    }
}

fn one_state(state: Value) -> Value {
    json!({"StartAt": "S", "States": {"S": state, "Next1": {"Type": "Succeed"}}})
}

fn assert_refused(v: Value, needle: &str) {
    let p = problems(v);
    assert!(p.iter().any(|p| p.contains(needle)), "expected a problem containing `{needle}`, got {p:#?}");
}

#[test]
fn unknown_fields_and_types_are_named() {
    assert_refused(
        json!({"StartAt": "S", "States": {"S": {"Type": "Pass", "End": true, "Resutl": 1}}}),
        "States.S.Resutl: unsupported field for a Pass state",
    );
    assert_refused(
        json!({"StartAt": "S", "States": {"S": {"Type": "Activity", "End": true}}}),
        "States.S.Type: unsupported state type `Activity`",
    );
    assert_refused(
        json!({"StartAt": "S", "States": {"S": {"Type": "Pass", "End": true, "Assign": {"x": 1}}}}),
        "JSONata and variables",
    );
    assert_refused(
        json!({"QueryLanguage": "JSONata", "StartAt": "S", "States": {"S": {"Type": "Pass", "End": true}}}),
        "QueryLanguage",
    );
    assert_refused(
        json!({"StartAt": "S", "States": {"S": {"Type": "Wait", "End": true, "Seconds": 1, "ResultPath": "$.x"}}}),
        "States.S.ResultPath: unsupported field for a Wait state",
    );
    assert_refused(
        json!({"StartAt": "S", "Foo": 1, "States": {"S": {"Type": "Pass", "End": true}}}),
        "Foo: unsupported field for the top level",
    );
}

#[test]
fn transitions_are_checked() {
    assert_refused(one_state(json!({"Type": "Pass", "Next": "Nowhere"})), "States.S.Next: `Nowhere` is not a state");
    assert_refused(
        json!({"StartAt": "X", "States": {"S": {"Type": "Pass", "End": true}}}),
        "StartAt: `X` is not a state",
    );
    assert_refused(
        json!({"StartAt": "S", "States": {"S": {"Type": "Pass", "End": true}, "Lonely": {"Type": "Succeed"}}}),
        "States.Lonely: the state cannot be reached",
    );
    assert_refused(json!({"StartAt": "S", "States": {"S": {"Type": "Pass"}}}), "needs `Next` or `End: true`");
    assert_refused(
        json!({"StartAt": "S", "States": {"S": {"Type": "Pass", "End": true, "Next": "S"}}}),
        "both `Next` and `End`",
    );
    assert_refused(
        json!({"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsPresent": true, "Next": "Z"}], "Default": "Y"}}}),
        "States.C.Choices[0].Next: `Z` is not a state",
    );
    assert_refused(
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "End": true,
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Gone"}]}}}),
        "States.T.Catch[0].Next: `Gone`",
    );
    assert_refused(
        json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Out"}}}]}}}),
        "States.P.Branches[0].States.A.Next: `Out` is not a state",
    );
}

#[test]
fn retry_and_catch_rules() {
    let task = |retry: Value, catch: Value| {
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f",
            "Retry": retry, "Catch": catch, "End": true}}})
    };
    assert_refused(
        task(json!([{"ErrorEquals": ["States.ALL", "E"]}]), json!([])),
        "States.T.Retry[0].ErrorEquals: States.ALL must appear alone",
    );
    assert_refused(
        task(json!([{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["E"]}]), json!([])),
        "States.T.Retry[0].ErrorEquals: a retrier or catcher with States.ALL must be the last",
    );
    assert_refused(task(json!([{"ErrorEquals": ["E"], "BackoffRate": 0.5}]), json!([])), "Retry[0].BackoffRate");
    assert_refused(
        task(json!([{"ErrorEquals": ["E"], "JitterStrategy": "HALF"}]), json!([])),
        "Retry[0].JitterStrategy",
    );
    assert_refused(task(json!([{"ErrorEquals": []}]), json!([])), "Retry[0].ErrorEquals");
    assert_refused(
        task(json!([{"ErrorEquals": ["E"], "MaxAttemps": 2}]), json!([])),
        "Retry[0].MaxAttemps: unsupported field for a retrier",
    );
}

#[test]
fn unsupported_resources_intrinsics_and_paths() {
    let task = |resource: &str, params: Value| json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": resource, "Parameters": params, "End": true}}});
    assert_refused(
        task("arn:aws:states:::dynamodb:putItem", json!({})),
        "States.T.Resource: `arn:aws:states:::dynamodb:putItem`: this service integration is not supported",
    );
    assert_refused(task("arn:aws:states:::lambda:invoke.sync", json!({"FunctionName": "f"})), "`.sync` pattern");
    assert_refused(task("arn:aws:states:us-east-1:1:activity:a", json!({})), "activities");
    assert_refused(task("${NotSubstituted}", json!({})), "is not an ARN");
    assert_refused(
        task("arn:aws:states:::lambda:invoke", json!({"Payload": {}})),
        "States.T.Parameters.FunctionName: is required",
    );
    assert_refused(
        task("arn:aws:states:::lambda:invoke", json!({"FunctionName": "f", "Foo": 1})),
        "States.T.Parameters.Foo: unsupported parameter",
    );
    assert_refused(
        task("arn:aws:states:::lambda:invoke", json!({"FunctionName": "f", "InvocationType": "Event"})),
        "only RequestResponse",
    );
    assert_refused(
        task("arn:aws:states:::lambda:invoke", json!({"FunctionName": "f", "Payload": {"h.$": "States.Nope($.a)"}})),
        "States.T.Parameters.Payload.h.$: unsupported intrinsic function `States.Nope`",
    );
    assert_refused(
        task("arn:aws:states:::lambda:invoke", json!({"FunctionName": "f", "Payload": {"h.$": "$..a"}})),
        "recursive descent",
    );
    assert_refused(
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "ResultPath": "$.a[*]", "End": true}}}),
        "States.P.ResultPath: `$.a[*]` must be a reference path",
    );
    assert_refused(
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "HeartbeatSeconds": 10, "End": true}}}),
        "HeartbeatSeconds",
    );
    assert_refused(
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "f"}, "HeartbeatSeconds": 100, "TimeoutSeconds": 50, "End": true}}}),
        "must be smaller than TimeoutSeconds",
    );
}

#[test]
fn distributed_map_and_bad_choices() {
    assert_refused(
        json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "ItemReader": {},
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}}}}),
        "distributed Map is not supported",
    );
    assert_refused(
        json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}}}}),
        "States.M.ItemProcessor.ProcessorConfig.Mode: only INLINE",
    );
    assert_refused(
        json!({"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "StringEqual": "x", "Next": "D"}], "Default": "D"}, "D": {"Type": "Succeed"}}}),
        "States.C.Choices[0].StringEqual: unsupported field in a choice rule",
    );
    assert_refused(
        json!({"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "NumericEquals": "1", "Next": "D"}]}, "D": {"Type": "Succeed"}}}),
        "is not a valid operand for NumericEquals",
    );
    assert_refused(
        json!({"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Not": {"Variable": "$.a", "IsNull": true, "Next": "D"}, "Next": "D"}]}, "D": {"Type": "Succeed"}}}),
        "States.C.Choices[0].Not.Next: only top-level choice rules may have `Next`",
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let p = problems(json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B", "Bogus": 1},
        "B": {"Type": "Wait", "End": true},
        "C": {"Type": "Pass", "End": true, "ResultPath": 5}
    }}));
    assert_eq!(p.len(), 3, "{p:#?}");
}

#[test]
fn substitution_then_parse() {
    let text = r#"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "${PreflightArn}", "End": true}}}"#;
    let subs = [("PreflightArn".to_string(), "arn:aws:lambda:us-east-1:1:function:preflight".to_string())].into();
    let d = Definition::parse(&substitute(text, &subs).unwrap()).unwrap();
    assert_eq!(d.task_state_names(), ["T"]);
    let err = substitute(text, &Default::default()).unwrap_err();
    assert!(err.to_string().contains("${PreflightArn}"));
}

#[test]
fn state_names_are_unique_across_branches() {
    assert_refused(
        json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "Next": "X", "Branches": [
            {"StartAt": "X", "States": {"X": {"Type": "Pass", "End": true}}}]}, "X": {"Type": "Succeed"}}}),
        "States.X: a state name must be unique",
    );
}
