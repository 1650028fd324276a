//! Examples from the Step Functions documentation, with their documented outputs.

use failover_asl::{FnDispatcher, TaskContext, TaskFailure};
use serde_json::{Value, json};

use crate::common::*;

/// The documentation's "HelloFunction": `Hello, ${who}!`.
fn hello() -> impl failover_asl::TaskDispatcher {
    FnDispatcher(|_r: String, event: Value, _c: TaskContext| async move {
        Ok::<_, TaskFailure>(json!(format!("Hello, {}!", event["who"].as_str().unwrap_or("?"))))
    })
}

fn hello_task(extra: Value) -> Value {
    let mut t = json!({"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:HelloFunction", "End": true});
    for (k, v) in extra.as_object().unwrap() {
        t[k] = v.clone();
    }
    json!({"StartAt": "Hello", "States": {"Hello": t}})
}

#[tokio::test(start_paused = true)]
async fn result_path_replace_discard_and_include() {
    let input = json!({"comment": "This is a test", "details": "Default example", "who": "Step Functions"});
    let r = run_with(hello(), hello_task(json!({"ResultPath": "$"})), input.clone()).await;
    assert_eq!(ok(&r), &json!("Hello, Step Functions!"));
    let r = run_with(hello(), hello_task(json!({"ResultPath": null})), input.clone()).await;
    assert_eq!(ok(&r), &input);
    let r = run_with(hello(), hello_task(json!({"ResultPath": "$.taskresult"})), input.clone()).await;
    assert_eq!(
        ok(&r),
        &json!({"comment": "This is a test", "details": "Default example", "who": "Step Functions",
                "taskresult": "Hello, Step Functions!"})
    );
}

#[tokio::test(start_paused = true)]
async fn input_result_and_output_path_together() {
    let input = json!({"comment": "An input comment.", "data": {"val1": 23, "val2": 17}, "extra": "foo",
                       "lambda": {"who": "AWS Step Functions"}});
    let r = run_with(
        hello(),
        hello_task(json!({"InputPath": "$.lambda", "ResultPath": "$.data.lambdaresult", "OutputPath": "$.data"})),
        input,
    )
    .await;
    assert_eq!(ok(&r), &json!({"val1": 23, "val2": 17, "lambdaresult": "Hello, AWS Step Functions!"}));
}

#[tokio::test(start_paused = true)]
async fn input_path_selects_a_dataset() {
    let input = json!({"comment": "Example for InputPath.",
                       "dataset1": {"val1": 1, "val2": 2, "val3": 3},
                       "dataset2": {"val1": "a", "val2": "b", "val3": "c"}});
    let r =
        run(json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": "$.dataset2", "End": true}}}), input)
            .await;
    assert_eq!(ok(&r), &json!({"val1": "a", "val2": "b", "val3": "c"}));
}

#[tokio::test(start_paused = true)]
async fn parameters_select_what_i_care_about() {
    let input = json!({"comment": "Example for Parameters.",
        "product": {"details": {"color": "blue", "size": "small", "material": "cotton"},
                    "availability": "in stock", "sku": "2317", "cost": "$23"}});
    let d = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true, "Parameters": {
        "comment": "Selecting what I care about.",
        "MyDetails": {"size.$": "$.product.details.size", "exists.$": "$.product.availability", "StaticValue": "foo"}
    }}}});
    let r = run(d, input).await;
    assert_eq!(
        ok(&r),
        &json!({"comment": "Selecting what I care about.",
                "MyDetails": {"size": "small", "exists": "in stock", "StaticValue": "foo"}})
    );
}

#[tokio::test(start_paused = true)]
async fn choice_state_example() {
    let d = json!({"StartAt": "ChoiceStateX", "States": {
        "ChoiceStateX": {"Type": "Choice", "Choices": [
            {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"},
            {"Variable": "$.value", "NumericEquals": 0, "Next": "ValueIsZero"},
            {"And": [{"Variable": "$.value", "NumericGreaterThanEquals": 20},
                     {"Variable": "$.value", "NumericLessThan": 30}], "Next": "ValueInTwenties"}
        ], "Default": "DefaultState"},
        "Public": {"Type": "Pass", "Result": "Public", "End": true},
        "ValueIsZero": {"Type": "Pass", "Result": "ValueIsZero", "End": true},
        "ValueInTwenties": {"Type": "Pass", "Result": "ValueInTwenties", "End": true},
        "DefaultState": {"Type": "Fail", "Error": "DefaultStateError", "Cause": "No Matches!"}
    }});
    for (input, expected) in [
        (json!({"type": "Public"}), "Public"),
        (json!({"type": "Private", "value": 0}), "ValueIsZero"),
        (json!({"type": "Private", "value": 22}), "ValueInTwenties"),
    ] {
        let r = run(d.clone(), input).await;
        assert_eq!(ok(&r), &json!(expected));
        assert_eq!(count(&r, "ChoiceStateEntered"), 1);
        assert_eq!(count(&r, "ChoiceStateExited"), 1);
    }
    let r = run(d.clone(), json!({"type": "Private", "value": 40})).await;
    assert_eq!(failed(&r), ("DefaultStateError", "No Matches!"));
}

#[tokio::test(start_paused = true)]
async fn map_context_object_example() {
    let d = json!({"StartAt": "ExampleMapState", "States": {"ExampleMapState": {
        "Type": "Map",
        "ItemSelector": {"ContextIndex.$": "$$.Map.Item.Index", "ContextValue.$": "$$.Map.Item.Value"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "TestPass",
                          "States": {"TestPass": {"Type": "Pass", "End": true}}},
        "End": true
    }}});
    let r = run(d, json!([{"who": "bob"}, {"who": "meg"}, {"who": "joe"}])).await;
    assert_eq!(
        ok(&r),
        &json!([
            {"ContextIndex": 0, "ContextValue": {"who": "bob"}},
            {"ContextIndex": 1, "ContextValue": {"who": "meg"}},
            {"ContextIndex": 2, "ContextValue": {"who": "joe"}}
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn map_shipping_example() {
    let input = json!({"ship-date": "2016-03-14T01:59:00Z", "detail": {"delivery-partner": "UQS", "shipped": [
        {"prod": "R31", "dest-code": 9511, "quantity": 1344},
        {"prod": "S39", "dest-code": 9511, "quantity": 40}
    ]}});
    let d = json!({"StartAt": "Validate-All", "States": {"Validate-All": {
        "Type": "Map", "InputPath": "$.detail", "ItemsPath": "$.shipped", "MaxConcurrency": 0,
        "ItemSelector": {"parcel.$": "$$.Map.Item.Value", "courier.$": "$.delivery-partner"},
        "ItemProcessor": {"StartAt": "Validate", "States": {"Validate": {"Type": "Pass", "End": true}}},
        "ResultPath": "$.detail.shipped", "End": true
    }}});
    let r = run(d, input).await;
    assert_eq!(
        ok(&r)["detail"]["shipped"],
        json!([
            {"parcel": {"prod": "R31", "dest-code": 9511, "quantity": 1344}, "courier": "UQS"},
            {"parcel": {"prod": "S39", "dest-code": 9511, "quantity": 40}, "courier": "UQS"}
        ])
    );
    assert_eq!(ok(&r)["ship-date"], json!("2016-03-14T01:59:00Z"));
}
