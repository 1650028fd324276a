//! The Retry, Catch, timeout and poll policy of every Task, Map and Parallel state of the
//! deployed machines, held against a table: a change to a definition's error handling must
//! change this table too, on purpose. Compact form: `ERRORS interval/attempts/backoff[ maxN]`
//! per retrier, `ERRORS>Next` per catcher; `LAMBDA` is the Lambda-level set (the service,
//! the SDK client, throttling, States.Timeout), `PRE_RUN` its part raised before the function
//! ran (what an approval task may retry without e-mailing twice), `TRANSIENT` the retried
//! Failover errors. Timeouts are each function's Lambda timeout (template.yaml) plus 10 s for
//! the invocation, except NotifyStarted (bounded: it is on the way to moving traffic).

use serde_json::Value;

const LAMBDA: &[&str] = &[
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "States.Timeout",
];
const PRE_RUN: &[&str] = &["Lambda.ServiceException", "Lambda.TooManyRequestsException"];
const TRANSIENT: &[&str] = &["Failover.Transient", "Failover.EndpointsUnavailable", "Failover.Conflict"];

/// (machine, state, timeout, retriers, catchers).
const POLICY: &[(&str, &str, &str, &str, &str)] = &[
    (
        "failover",
        "Preflight",
        "70",
        "LAMBDA 1/3/2.0; TRANSIENT 2/4/2.0 max20",
        "Failover.SwitchoverRefused>AssessUnplanned; States.ALL>NotifyFailed",
    ),
    ("failover", "AssessUnplanned", "70", "LAMBDA 1/3/2.0; TRANSIENT 2/4/2.0 max20", "States.ALL>NotifyFailed"),
    (
        "failover",
        "NotifySwitchoverRefused",
        "25",
        "LAMBDA 1/3/2.0; TRANSIENT 2/4/2.0 max20",
        "States.ALL>AskContinueUnplanned",
    ),
    (
        "failover",
        "AskContinueUnplanned",
        "$.plan.approval.timeout_seconds",
        "PRE_RUN 1/3/2.0",
        "States.Timeout>NotifyApprovalTimedOut; Failover.ApprovalRejected>NotifyRejected; States.ALL>NotifyFailed",
    ),
    ("failover", "NotifyStarted", "10", "PRE_RUN 1/1/1.0", "States.ALL>NeedApproval"),
    (
        "failover",
        "RequestApproval",
        "$.plan.approval.timeout_seconds",
        "PRE_RUN 1/3/2.0",
        "States.Timeout>NotifyApprovalTimedOut; Failover.ApprovalRejected>NotifyRejected; States.ALL>NotifyFailed",
    ),
    ("failover", "MoveTraffic", "70", "LAMBDA 1/3/2.0; TRANSIENT 2/4/2.0 max20", "States.ALL>NotifyFailed"),
    ("failover", "MoveDatabasesAndWatchDns", "-", "", "States.ALL>NotifyFailed"),
    ("failover", "WatchDns", "40", "Failover.NotHealthyYet 3/100/1.0; LAMBDA 1/3/2.0; TRANSIENT 2/10/2.0 max20", ""),
    ("failover", "Databases", "-", "", ""),
    (
        "failover",
        "StartDatabase",
        "40",
        "Failover.NotYet 30/40/1.0; LAMBDA 1/3/2.0; TRANSIENT 2/10/2.0 max20",
        "States.ALL>DatabaseNotStarted",
    ),
    (
        "failover",
        "CheckDatabase",
        "40",
        "Failover.NotYet 3/400/1.0; LAMBDA 1/3/2.0; TRANSIENT 2/10/2.0 max20",
        "States.ALL>DatabaseUnconfirmed",
    ),
    ("failover", "NotifyMoved", "25", "LAMBDA 1/3/2.0; TRANSIENT 2/4/2.0 max20", "States.ALL>VerifyService"),
    (
        "failover",
        "VerifyService",
        "40",
        "Failover.NotHealthyYet 10/30/1.0; LAMBDA 1/3/2.0; TRANSIENT 2/10/2.0 max20",
        "States.ALL>NotifyFailed",
    ),
    ("failover", "NotifySucceeded", "25", "LAMBDA 1/3/2.0; TRANSIENT 2/4/2.0 max20", "States.ALL>IsUnplanned"),
    (
        "failover",
        "StartRecovery",
        "30",
        "StepFunctions.ThrottlingException+StepFunctions.ServiceUnavailableException+States.Timeout 1/3/2.0",
        "StepFunctions.ExecutionAlreadyExistsException>Finish; States.ALL>NotifyFailed",
    ),
    (
        "failover",
        "NotifyApprovalTimedOut",
        "25",
        "LAMBDA 1/3/2.0; TRANSIENT 2/4/2.0 max20",
        "States.ALL>ApprovalTimedOut",
    ),
    ("failover", "NotifyRejected", "25", "LAMBDA 1/3/2.0; TRANSIENT 2/4/2.0 max20", "States.ALL>Rejected"),
    ("failover", "NotifyFailed", "25", "LAMBDA 1/3/2.0; TRANSIENT 2/4/2.0 max20", "States.ALL>Failed"),
    ("recovery", "NotifyRecoveryStarted", "25", "LAMBDA 1/3/2.0; TRANSIENT 2/4/2.0 max20", "States.ALL>Databases"),
    ("recovery", "Databases", "-", "", "States.ALL>NotifyRecoveryFailed"),
    (
        "recovery",
        "FindSnapshot",
        "70",
        "Failover.NotYet 60/800/1.5 max1800; LAMBDA 1/3/2.0; TRANSIENT 2/10/2.0 max20",
        "Failover.SnapshotUnavailable>SnapshotUnavailable; Failover.NotYet>OldRegionNeverReturned; States.ALL>DatabaseFailed",
    ),
    ("recovery", "CopySnapshot", "70", "LAMBDA 1/3/2.0; TRANSIENT 2/4/2.0 max20", "States.ALL>DatabaseFailed"),
    (
        "recovery",
        "RestoreCluster",
        "70",
        "Failover.NotYet 30/120/1.0; LAMBDA 1/3/2.0; TRANSIENT 2/10/2.0 max20",
        "States.ALL>DatabaseFailed",
    ),
    (
        "recovery",
        "CheckRecoveryCluster",
        "70",
        "Failover.NotYet 30/240/1.0; LAMBDA 1/3/2.0; TRANSIENT 2/10/2.0 max20",
        "States.ALL>DatabaseFailed",
    ),
    ("recovery", "PlanReport", "910", "LAMBDA 1/3/2.0; TRANSIENT 2/4/2.0 max20", "States.ALL>DiffReport"),
    ("recovery", "DiffReport", "910", "LAMBDA 1/3/2.0; TRANSIENT 2/4/2.0 max20", "States.ALL>DatabaseFailed"),
    ("recovery", "DiffParts", "-", "", "States.ALL>DatabaseFailed"),
    ("recovery", "DiffPart", "910", "LAMBDA 1/3/2.0; TRANSIENT 2/4/2.0 max20", ""),
    ("recovery", "MergeReport", "910", "LAMBDA 1/3/2.0; TRANSIENT 2/4/2.0 max20", "States.ALL>DatabaseFailed"),
    ("recovery", "Cleanup", "70", "LAMBDA 1/3/2.0; TRANSIENT 2/4/2.0 max20", "States.ALL>DatabaseFailed"),
    ("recovery", "NotifyReport", "25", "LAMBDA 1/3/2.0; TRANSIENT 2/4/2.0 max20", "States.ALL>RecoveryDone"),
    ("recovery", "NotifyRecoveryFailed", "25", "LAMBDA 1/3/2.0; TRANSIENT 2/4/2.0 max20", "States.ALL>RecoveryFailed"),
    ("readiness", "Preflight", "70", "LAMBDA 1/3/2.0; TRANSIENT 2/4/2.0 max20", ""),
];

fn definitions() -> [(&'static str, Value); 3] {
    let parse = |s: &str| serde_json::from_str::<Value>(s).expect("a definition is JSON");
    [
        ("failover", parse(include_str!("../../../statemachine/failover.asl.json"))),
        ("recovery", parse(include_str!("../../../statemachine/recovery.asl.json"))),
        ("readiness", parse(include_str!("../../../statemachine/readiness.asl.json"))),
    ]
}

fn errors(v: &Value) -> String {
    let e: Vec<&str> = v["ErrorEquals"].as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
    if e == LAMBDA {
        "LAMBDA".into()
    } else if e == PRE_RUN {
        "PRE_RUN".into()
    } else if e == TRANSIENT {
        "TRANSIENT".into()
    } else {
        e.join("+")
    }
}

fn num(v: &Value, field: &str, default: f64) -> String {
    let n = v.get(field).and_then(Value::as_f64).unwrap_or(default);
    if field == "BackoffRate" { format!("{n:.1}") } else { format!("{n}") }
}

/// Every Task, Map and Parallel state: (state, timeout, retriers, catchers, caught by an
/// enclosing state).
fn states(machine: &str, st: &Value, enclosing_catch: bool, out: &mut Vec<(String, [String; 4], bool)>) {
    for (name, s) in st.as_object().unwrap() {
        let ty = s["Type"].as_str().unwrap();
        if !["Task", "Map", "Parallel"].contains(&ty) {
            continue;
        }
        let timeout = s
            .get("TimeoutSeconds")
            .map(|t| t.to_string())
            .or_else(|| s.get("TimeoutSecondsPath").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| "-".into());
        let retry: Vec<String> = s
            .get("Retry")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|r| {
                let max = r.get("MaxDelaySeconds").map(|m| format!(" max{m}")).unwrap_or_default();
                format!(
                    "{} {}/{}/{}{max}",
                    errors(r),
                    num(r, "IntervalSeconds", 1.0),
                    num(r, "MaxAttempts", 3.0),
                    num(r, "BackoffRate", 2.0)
                )
            })
            .collect();
        let catch: Vec<String> = s
            .get("Catch")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| format!("{}>{}", errors(c), c["Next"].as_str().unwrap()))
            .collect();
        let caught = !catch.is_empty();
        out.push((
            format!("{machine}/{name}"),
            [ty.to_string(), timeout, retry.join("; "), catch.join("; ")],
            enclosing_catch,
        ));
        for inner in s
            .get("ItemProcessor")
            .map(|p| &p["States"])
            .into_iter()
            .chain(s.get("Branches").and_then(Value::as_array).into_iter().flatten().map(|b| &b["States"]))
        {
            states(machine, inner, enclosing_catch || caught, out);
        }
    }
}

#[test]
fn every_retry_catch_and_timeout_is_the_one_in_the_table() {
    let mut found = Vec::new();
    for (machine, d) in definitions() {
        states(machine, &d["States"], false, &mut found);
    }
    let mut problems = Vec::new();
    for (name, [_, timeout, retry, catch], _) in &found {
        let Some((_, _, t, r, c)) = POLICY.iter().find(|(m, s, ..)| format!("{m}/{s}") == *name) else {
            problems.push(format!("{name}: not in the table"));
            continue;
        };
        for (what, want, got) in [("timeout", t, timeout), ("retry", r, retry), ("catch", c, catch)] {
            if want != got {
                problems.push(format!("{name} {what}: the table says `{want}`, the definition `{got}`"));
            }
        }
    }
    for (m, s, ..) in POLICY {
        if !found.iter().any(|(n, ..)| *n == format!("{m}/{s}")) {
            problems.push(format!("{m}/{s}: in the table, not in the definitions"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_table_keeps_the_rules_every_task_must_follow() {
    for (m, s, timeout, retry, catch) in POLICY {
        let task = !["MoveDatabasesAndWatchDns", "Databases", "DiffParts"].contains(s);
        if !task {
            continue;
        }
        assert_ne!(*timeout, "-", "{m}/{s}: every Task has a timeout");
        if s.starts_with("Ask") || *s == "RequestApproval" {
            assert_eq!(*retry, "PRE_RUN 1/3/2.0", "{m}/{s}: an approval task retries only what ran nothing");
            assert!(catch.contains("States.Timeout>"), "{m}/{s}: an approval that times out is its own outcome");
        } else if !s.starts_with("StartRecovery") {
            assert!(
                retry.contains("LAMBDA ") || retry.contains("PRE_RUN "),
                "{m}/{s}: Lambda-level errors are retried"
            );
        }
        // A retrier's count runs over the whole time a state spends in it, its polls
        // included: a poll's transient budget must outlast a throttled API across the poll
        // (a 12-minute poll at 30 % throttling met 5 transient failures).
        if retry.contains("Failover.NotYet") || retry.contains("Failover.NotHealthyYet") {
            assert!(retry.contains("TRANSIENT 2/10/"), "{m}/{s}: a poll retries Transient errors 10 times: {retry}");
        }
        // A poll waits at least 3 s between attempts: faster polling spends the execution's
        // 25,000 history events (3 per attempt) without learning anything sooner.
        for poll in
            retry.split("; ").filter(|r| r.starts_with("Failover.NotYet") || r.starts_with("Failover.NotHealthyYet"))
        {
            let interval: f64 =
                poll.split(' ').nth(1).and_then(|p| p.split('/').next()).and_then(|i| i.parse().ok()).unwrap();
            assert!(interval >= 3.0, "{m}/{s}: polls every {interval} s: {poll}");
        }
    }
}

#[test]
fn every_task_failure_is_caught_somewhere_except_the_readiness_check() {
    let mut found = Vec::new();
    for (machine, d) in definitions() {
        states(machine, &d["States"], false, &mut found);
    }
    for (name, [ty, _, _, catch], enclosing) in &found {
        if ty != "Task" || name.starts_with("readiness/") {
            continue;
        }
        assert!(!catch.is_empty() || *enclosing, "{name}: a failure here escapes every Catch");
    }
}
