//! The mock configuration of the retired Step Functions Local, so teams keep their test cases.
//!
//! ```json
//! {"StateMachines": {"Machine": {"TestCases": {"HappyPath": {"State": "MockedResponseName"}}}},
//!  "MockedResponses": {"MockedResponseName": {"0": {"Return": {...}}, "1-2": {"Throw": {"Error": "E", "Cause": "C"}}}}}
//! ```
//!
//! A mocked response replaces the whole service integration response (for `lambda:invoke`,
//! the mock returns the envelope itself), and a mocked `.waitForTaskToken` task completes with
//! the mocked response without waiting for a callback, as in Step Functions Local. Keys count
//! the invocations of a state within one execution, retries included, from 0. An invocation
//! past the last key fails with `States.Runtime` rather than guessing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use futures::FutureExt;
use serde_json::Value;

use crate::Definition;
use crate::dispatch::{TaskContext, TaskDispatcher, TaskFailure, TaskFuture};
use crate::error::AslError;

/// One scripted answer.
#[derive(Debug, Clone, PartialEq)]
pub enum MockAnswer {
    Return(Value),
    Throw { error: String, cause: String },
}

/// A named sequence of answers by invocation number.
#[derive(Debug, Clone, PartialEq)]
pub struct MockedResponse {
    ranges: Vec<(u32, u32, MockAnswer)>,
}

impl MockedResponse {
    /// The answer to the `n`th invocation (from 0).
    pub fn answer(&self, n: u32) -> Option<&MockAnswer> {
        self.ranges.iter().find(|(lo, hi, _)| (*lo..=*hi).contains(&n)).map(|(_, _, a)| a)
    }
}

/// A parsed mock configuration file.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// state machine -> test case -> state -> mocked response name
    pub state_machines: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
    pub responses: BTreeMap<String, MockedResponse>,
}

fn bad(m: impl Into<String>) -> AslError {
    AslError::MockConfig(m.into())
}

impl MockConfig {
    pub fn parse(text: &str) -> Result<MockConfig, AslError> {
        let v: Value = serde_json::from_str(text)?;
        let root = v.as_object().ok_or_else(|| bad("the configuration must be a JSON object"))?;
        for k in root.keys() {
            if k != "StateMachines" && k != "MockedResponses" {
                return Err(bad(format!("unknown top-level field `{k}`")));
            }
        }
        let mut responses = BTreeMap::new();
        if let Some(mr) = root.get("MockedResponses") {
            let mr = mr.as_object().ok_or_else(|| bad("MockedResponses must be an object"))?;
            for (name, r) in mr {
                responses.insert(name.clone(), parse_response(name, r)?);
            }
        }
        let mut state_machines = BTreeMap::new();
        if let Some(sms) = root.get("StateMachines") {
            let sms = sms.as_object().ok_or_else(|| bad("StateMachines must be an object"))?;
            for (sm, body) in sms {
                let at = format!("StateMachines.{sm}");
                let body = body.as_object().ok_or_else(|| bad(format!("{at} must be an object")))?;
                if let Some(k) = body.keys().find(|k| *k != "TestCases") {
                    return Err(bad(format!("{at}.{k}: unknown field")));
                }
                let mut cases = BTreeMap::new();
                if let Some(tc) = body.get("TestCases") {
                    let tc = tc.as_object().ok_or_else(|| bad(format!("{at}.TestCases must be an object")))?;
                    for (case, states) in tc {
                        let cat = format!("{at}.TestCases.{case}");
                        let states = states.as_object().ok_or_else(|| bad(format!("{cat} must be an object")))?;
                        let mut map = BTreeMap::new();
                        for (state, resp) in states {
                            let resp = resp.as_str().ok_or_else(|| bad(format!("{cat}.{state} must be a string")))?;
                            if !responses.contains_key(resp) {
                                return Err(bad(format!("{cat}.{state}: no mocked response named `{resp}`")));
                            }
                            map.insert(state.clone(), resp.to_string());
                        }
                        cases.insert(case.clone(), map);
                    }
                }
                state_machines.insert(sm.clone(), cases);
            }
        }
        Ok(MockConfig { state_machines, responses })
    }

    /// The dispatcher for one test case of one state machine. With `definition`, every Task
    /// state must be mocked and every mocked state must exist: nothing would answer an
    /// unmocked task offline.
    pub fn dispatcher(
        &self,
        state_machine: &str,
        test_case: &str,
        definition: Option<&Definition>,
    ) -> Result<MockDispatcher, AslError> {
        let cases = self.state_machines.get(state_machine).ok_or_else(|| {
            bad(format!(
                "no state machine `{state_machine}` (have: {})",
                self.state_machines.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        let case = cases.get(test_case).ok_or_else(|| {
            bad(format!(
                "no test case `{test_case}` for `{state_machine}` (have: {})",
                cases.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        if let Some(def) = definition {
            let tasks = def.task_state_names();
            let all = def.state_names();
            let mut problems = Vec::new();
            for t in &tasks {
                if !case.contains_key(t) {
                    problems.push(format!("Task state `{t}` has no mocked response in test case `{test_case}`"));
                }
            }
            for s in case.keys() {
                if !all.contains(s) {
                    problems
                        .push(format!("test case `{test_case}` mocks `{s}`, which is not a state of the definition"));
                } else if !tasks.contains(s) {
                    problems.push(format!("test case `{test_case}` mocks `{s}`, which is not a Task state"));
                }
            }
            if !problems.is_empty() {
                return Err(bad(problems.join("; ")));
            }
        }
        let states = case.iter().map(|(s, r)| (s.clone(), self.responses[r].clone())).collect();
        Ok(MockDispatcher { states, calls: Mutex::new(HashMap::new()) })
    }
}

impl MockConfig {
    /// A dispatcher that answers nothing (for definitions without Task states).
    pub(crate) fn empty_dispatcher() -> MockDispatcher {
        MockDispatcher { states: HashMap::new(), calls: Mutex::new(HashMap::new()) }
    }
}

fn parse_response(name: &str, v: &Value) -> Result<MockedResponse, AslError> {
    let at = format!("MockedResponses.{name}");
    let m = v.as_object().ok_or_else(|| bad(format!("{at} must be an object")))?;
    let mut ranges = Vec::new();
    for (k, a) in m {
        let num =
            |s: &str| s.trim().parse::<u32>().map_err(|_| bad(format!("{at}: `{k}` is not an attempt or a range")));
        let (lo, hi) = match k.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(k)?, num(k)?),
        };
        if hi < lo {
            return Err(bad(format!("{at}.{k}: empty range")));
        }
        let am = a.as_object().ok_or_else(|| bad(format!("{at}.{k} must be an object")))?;
        let answer = match (am.get("Return"), am.get("Throw"), am.len()) {
            (Some(r), None, 1) => MockAnswer::Return(r.clone()),
            (None, Some(t), 1) => {
                let s = |f: &str| t.get(f).and_then(Value::as_str).unwrap_or_default().to_string();
                if t.get("Error").and_then(Value::as_str).is_none() {
                    return Err(bad(format!("{at}.{k}.Throw needs an `Error` string")));
                }
                MockAnswer::Throw { error: s("Error"), cause: s("Cause") }
            }
            _ => return Err(bad(format!("{at}.{k} must hold exactly one of `Return` or `Throw`"))),
        };
        if ranges.iter().any(|(l, h, _)| lo <= *h && *l <= hi) {
            return Err(bad(format!("{at}.{k} overlaps another range")));
        }
        ranges.push((lo, hi, answer));
    }
    if ranges.is_empty() {
        return Err(bad(format!("{at} has no responses")));
    }
    ranges.sort_by_key(|r| r.0);
    Ok(MockedResponse { ranges })
}

/// Answers Task states from one test case of a [`MockConfig`].
pub struct MockDispatcher {
    states: HashMap<String, MockedResponse>,
    calls: Mutex<HashMap<(String, String), u32>>,
}

impl MockDispatcher {
    fn answer(&self, ctx: &TaskContext) -> Result<Value, TaskFailure> {
        let Some(resp) = self.states.get(&ctx.state_name) else {
            return Err(TaskFailure::new(
                crate::error::RUNTIME,
                format!("state `{}` has no mocked response in this test case", ctx.state_name),
            ));
        };
        let n = {
            let mut calls = self.calls.lock().unwrap();
            let c = calls.entry((ctx.execution_arn.clone(), ctx.state_name.clone())).or_insert(0);
            let n = *c;
            *c += 1;
            n
        };
        match resp.answer(n) {
            Some(MockAnswer::Return(v)) => Ok(v.clone()),
            Some(MockAnswer::Throw { error, cause }) => Err(TaskFailure::new(error.clone(), cause.clone())),
            None => Err(TaskFailure::new(
                crate::error::RUNTIME,
                format!("state `{}` has no mocked response for invocation {n}", ctx.state_name),
            )),
        }
    }
}

impl TaskDispatcher for MockDispatcher {
    fn invoke(&self, _resource: &str, _params: Value, ctx: TaskContext) -> TaskFuture {
        let r = self.answer(&ctx);
        async move { r }.boxed()
    }

    fn intercept(&self, _params: &Value, ctx: &TaskContext) -> Option<TaskFuture> {
        let r = self.answer(ctx);
        Some(async move { r }.boxed())
    }
}
