//! InputPath, Parameters, ResultSelector, ResultPath, OutputPath, intrinsic functions.

use serde_json::json;

use crate::common::*;

#[tokio::test(start_paused = true)]
async fn null_paths_and_nested_result_path() {
    let d = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "InputPath": null, "Next": "B"},
        "B": {"Type": "Pass", "Result": 1, "ResultPath": "$.x.y.z", "Next": "C"},
        "C": {"Type": "Pass", "Result": 2, "ResultPath": "$.x.w", "Next": "D"},
        "D": {"Type": "Pass", "OutputPath": null, "Next": "E"},
        "E": {"Type": "Pass", "Result": {"k": [1, 2, 3]}, "OutputPath": "$.k[1]", "End": true}
    }});
    let r = run(d.clone(), json!({"ignored": true})).await;
    assert_eq!(ok(&r), &json!(2));
    let states: Vec<_> = r
        .history
        .iter()
        .filter(|e| e.event_type == "PassStateExited")
        .filter_map(|e| e.detail_json("output"))
        .collect();
    assert_eq!(states[0], json!({}));
    assert_eq!(states[1], json!({"x": {"y": {"z": 1}}}));
    assert_eq!(states[2], json!({"x": {"y": {"z": 1}, "w": 2}}));
    assert_eq!(states[3], json!({}));
}

#[tokio::test(start_paused = true)]
async fn result_path_into_a_non_object_fails() {
    let d = json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": 1, "ResultPath": "$.a.b", "End": true}}});
    let r = run(d, json!({"a": "string"})).await;
    assert_eq!(failed(&r).0, "States.ResultPathMatchFailure");
}

#[tokio::test(start_paused = true)]
async fn missing_paths_are_runtime_errors() {
    for state in [
        json!({"Type": "Pass", "InputPath": "$.nope", "End": true}),
        json!({"Type": "Pass", "Parameters": {"a.$": "$.nope"}, "End": true}),
        json!({"Type": "Pass", "OutputPath": "$.nope", "End": true}),
    ] {
        let r = run(json!({"StartAt": "A", "States": {"A": state}}), json!({"x": 1})).await;
        let (e, c) = failed(&r);
        assert_eq!(e, "States.Runtime");
        assert!(c.contains("$.nope"), "{c}");
    }
}

#[tokio::test(start_paused = true)]
async fn wildcard_paths_select_arrays() {
    let d = json!({"StartAt": "A", "States": {"A": {"Type": "Pass",
        "Parameters": {"names.$": "$.people[*].name", "first2.$": "$.people[0:2]", "last.$": "$.people[-1].name"}, "End": true}}});
    let r = run(d, json!({"people": [{"name": "a"}, {"name": "b"}, {"name": "c"}]})).await;
    assert_eq!(ok(&r), &json!({"names": ["a", "b", "c"], "first2": [{"name": "a"}, {"name": "b"}], "last": "c"}));
}

#[tokio::test(start_paused = true)]
async fn intrinsics_in_parameters_and_result_selector() {
    let d = json!({"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {
            "FunctionName": "f",
            "Payload": {
                "msg.$": "States.Format('{} has {} items', $.name, States.ArrayLength($.items))",
                "json.$": "States.StringToJson($.raw)",
                "text.$": "States.JsonToString($.obj)",
                "arr.$": "States.Array($.name, 1, true)",
                "has.$": "States.ArrayContains($.items, 2)",
                "sum.$": "States.MathAdd($.n, 5)",
                "merged.$": "States.JsonMerge($.obj, $.more, false)",
                "id.$": "States.UUID()"
            }
        },
        "ResultSelector": {"payload.$": "$.Payload", "status.$": "$.StatusCode"},
        "End": true
    }}});
    let r = run(
        d,
        json!({"name": "cart", "items": [1, 2, 3], "raw": "{\"a\":[1]}", "obj": {"k": "v"}, "more": {"z": 0}, "n": 37}),
    )
    .await;
    let out = ok(&r);
    assert_eq!(out["status"], json!(200));
    let p = &out["payload"];
    assert_eq!(p["msg"], json!("cart has 3 items"));
    assert_eq!(p["json"], json!({"a": [1]}));
    assert_eq!(p["text"], json!("{\"k\":\"v\"}"));
    assert_eq!(p["arr"], json!(["cart", 1, true]));
    assert_eq!(p["has"], json!(true));
    assert_eq!(p["sum"], json!(42));
    assert_eq!(p["merged"], json!({"k": "v", "z": 0}));
    let id = p["id"].as_str().unwrap();
    assert_eq!(id.len(), 36);
    assert_eq!(&id[14..15], "4", "a version 4 UUID");
}

#[tokio::test(start_paused = true)]
async fn seeded_runs_are_reproducible() {
    let d = json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Parameters": {"id.$": "States.UUID()", "r.$": "States.MathRandom(0, 1000)"}, "End": true}}});
    let a = run(d.clone(), json!({})).await;
    let b = run(d, json!({})).await;
    assert_eq!(ok(&a), ok(&b));
}

#[tokio::test(start_paused = true)]
async fn intrinsic_failure_is_catchable() {
    let d = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
              "Parameters": {"FunctionName": "f", "Payload.$": "States.StringToJson($.bad)"},
              "Catch": [{"ErrorEquals": ["States.IntrinsicFailure"], "Next": "C"}], "End": true},
        "C": {"Type": "Pass", "End": true}
    }});
    let r = run(d, json!({"bad": "{not json"})).await;
    assert_eq!(ok(&r)["Error"], json!("States.IntrinsicFailure"));
}

#[tokio::test(start_paused = true)]
async fn choice_operators() {
    let d = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [
            {"And": [
                {"Variable": "$.s", "StringEquals": "abc"},
                {"Variable": "$.s", "StringLessThan": "abd"},
                {"Variable": "$.s", "StringGreaterThan": "abb"},
                {"Variable": "$.s", "StringLessThanEquals": "abc"},
                {"Variable": "$.s", "StringGreaterThanEquals": "abc"},
                {"Variable": "$.s", "StringEqualsPath": "$.s2"},
                {"Variable": "$.s", "StringMatches": "a*c"},
                {"Variable": "$.n", "NumericEquals": 5},
                {"Variable": "$.n", "NumericLessThan": 6},
                {"Variable": "$.n", "NumericGreaterThan": 4.5},
                {"Variable": "$.n", "NumericLessThanEquals": 5},
                {"Variable": "$.n", "NumericGreaterThanEquals": 5},
                {"Variable": "$.n", "NumericLessThanPath": "$.big"},
                {"Variable": "$.n", "NumericGreaterThanEqualsPath": "$.n"},
                {"Variable": "$.b", "BooleanEquals": true},
                {"Variable": "$.b", "BooleanEqualsPath": "$.b"},
                {"Variable": "$.t", "TimestampEquals": "2026-01-01T00:00:00Z"},
                {"Variable": "$.t", "TimestampLessThan": "2026-01-01T00:00:01Z"},
                {"Variable": "$.t", "TimestampGreaterThan": "2025-12-31T23:59:59Z"},
                {"Variable": "$.t", "TimestampLessThanEqualsPath": "$.t"},
                {"Variable": "$.t", "TimestampGreaterThanEqualsPath": "$$.Execution.StartTime"},
                {"Variable": "$.missing", "IsPresent": false},
                {"Variable": "$.nul", "IsNull": true},
                {"Variable": "$.n", "IsNumeric": true},
                {"Variable": "$.s", "IsString": true},
                {"Variable": "$.b", "IsBoolean": true},
                {"Variable": "$.t", "IsTimestamp": true},
                {"Variable": "$.s", "IsTimestamp": false},
                {"Not": {"Variable": "$.s", "NumericEquals": 1}},
                {"Or": [{"Variable": "$.n", "NumericEquals": 1}, {"Variable": "$.n", "NumericEquals": 5}]}
            ], "Next": "Yes"}
        ], "Default": "No"},
        "Yes": {"Type": "Pass", "Result": "yes", "End": true},
        "No": {"Type": "Pass", "Result": "no", "End": true}
    }});
    let input =
        json!({"s": "abc", "s2": "abc", "n": 5, "big": 10, "b": true, "t": "2026-01-01T00:00:00Z", "nul": null});
    let r = run(d.clone(), input.clone()).await;
    assert_eq!(ok(&r), &json!("yes"));
    let mut other = input;
    other["n"] = json!(5.5);
    let r = run(d, other).await;
    assert_eq!(ok(&r), &json!("no"));
}

#[tokio::test(start_paused = true)]
async fn choice_errors() {
    // A comparison on a missing variable is a runtime error; IsPresent first avoids it.
    let d = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "StringEquals": "a", "Next": "Y"}]},
        "Y": {"Type": "Succeed"}
    }});
    let r = run(d.clone(), json!({})).await;
    assert_eq!(failed(&r).0, "States.Runtime");
    let r = run(d, json!({"x": "b"})).await;
    assert_eq!(failed(&r).0, "States.NoChoiceMatched");
    let d = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"And": [{"Variable": "$.x", "IsPresent": true}, {"Variable": "$.x", "StringEquals": "a"}], "Next": "Y"}], "Default": "N"},
        "Y": {"Type": "Succeed"}, "N": {"Type": "Pass", "Result": "n", "End": true}
    }});
    let r = run(d, json!({})).await;
    assert_eq!(ok(&r), &json!("n"));
}
