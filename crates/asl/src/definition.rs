//! Parsing and validating a state machine definition.
//!
//! Everything is checked before an execution starts: a field, state type, intrinsic function,
//! path form or resource this runner does not implement is a [`Problem`] naming the state and
//! the field. Nothing is ignored silently, because a drill that skipped a `Retry` would prove
//! nothing about the deployed machine.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Map, Value};

use crate::choice::{Rule, timestamp};
use crate::error::{AslError, Problem};
use crate::path::JsonPath;
use crate::template::{Dynamic, Template};

/// A parsed, validated state machine definition; cheap to clone.
#[derive(Debug, Clone)]
pub struct Definition {
    pub(crate) root: Arc<Machine>,
    pub(crate) timeout_seconds: Option<u64>,
    source: Arc<Value>,
}

#[derive(Debug)]
pub(crate) struct Machine {
    pub start_at: String,
    pub states: HashMap<String, State>,
}

#[derive(Debug)]
pub(crate) struct State {
    pub name: String,
    pub kind: Kind,
    pub io: Io,
    /// `None` for Choice, Succeed and Fail.
    pub transition: Option<Transition>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    /// Whether any field of the state reads the context object (`$$`).
    pub uses_context: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Io {
    /// `None` is `null` (an empty object); the default is `$`.
    pub input_path: Option<JsonPath>,
    pub output_path: Option<JsonPath>,
    /// `None` is `null` (discard the result).
    pub result_path: Option<JsonPath>,
    pub parameters: Option<Template>,
    pub result_selector: Option<Template>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Transition {
    Next(String),
    End,
}

#[derive(Debug)]
pub(crate) struct Retrier {
    pub errors: Vec<String>,
    pub interval_seconds: f64,
    pub max_attempts: u32,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<f64>,
    pub full_jitter: bool,
}

#[derive(Debug)]
pub(crate) struct Catcher {
    pub errors: Vec<String>,
    pub next: String,
    pub result_path: Option<JsonPath>,
}

#[derive(Debug)]
pub(crate) enum Seconds {
    Fixed(u64),
    Path(JsonPath),
}

#[derive(Debug)]
pub(crate) enum WaitFor {
    Seconds(Seconds),
    Timestamp(SystemTime),
    TimestampPath(JsonPath),
}

#[derive(Debug)]
pub(crate) enum Text {
    Literal(String),
    Dynamic(Dynamic),
}

/// How a Task's `Resource` is executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integration {
    /// `arn:aws:states:::lambda:invoke`: the function in `Parameters.FunctionName` gets
    /// `Parameters.Payload`; its result comes back in the `Payload` envelope.
    LambdaInvoke,
    /// A Lambda function ARN as the resource: the function gets the effective input and its
    /// result is the task result, without envelope.
    LambdaFunction,
    /// `arn:aws:states:::states:startExecution`: another state machine, started through the
    /// dispatcher.
    StartExecution,
    /// Another optimized integration the dispatcher answers as a whole (`sns:publish`,
    /// `sqs:sendMessage`, `events:putEvents`).
    Service,
}

#[derive(Debug)]
pub(crate) struct TaskSpec {
    pub resource: String,
    pub integration: Integration,
    pub callback: bool,
    pub timeout: Option<Seconds>,
    pub heartbeat: Option<Seconds>,
}

#[derive(Debug)]
pub(crate) enum Kind {
    Pass { result: Option<Value> },
    Task(TaskSpec),
    Choice { choices: Vec<(Rule, String)>, default: Option<String> },
    Wait(WaitFor),
    Succeed,
    Fail { error: Option<Text>, cause: Option<Text> },
    Parallel { branches: Vec<Machine> },
    Map { items_path: JsonPath, item_selector: Option<Template>, max_concurrency: Option<Seconds>, processor: Machine },
}

impl Kind {
    /// The prefix of the history event types (`TaskStateEntered`, `MapStateExited`, ...).
    pub fn event_prefix(&self) -> &'static str {
        match self {
            Kind::Pass { .. } => "Pass",
            Kind::Task(_) => "Task",
            Kind::Choice { .. } => "Choice",
            Kind::Wait(_) => "Wait",
            Kind::Succeed => "Succeed",
            Kind::Fail { .. } => "Fail",
            Kind::Parallel { .. } => "Parallel",
            Kind::Map { .. } => "Map",
        }
    }
}

impl Definition {
    /// Parses and validates a definition (with its `${Placeholders}` already substituted, see
    /// [`crate::substitute`]).
    pub fn parse(text: &str) -> Result<Definition, AslError> {
        let v: Value = serde_json::from_str(text)?;
        Self::from_value(&v)
    }

    pub fn from_value(v: &Value) -> Result<Definition, AslError> {
        let cx = Cx::default();
        let Some(m) = v.as_object() else {
            return Err(AslError::Invalid(vec![Problem {
                location: "(definition)".into(),
                message: "must be a JSON object".into(),
            }]));
        };
        let mut top = Fields::new(m, String::new());
        let timeout_seconds = top.get("TimeoutSeconds").and_then(|v| cx.positive_int(&top.at("TimeoutSeconds"), v));
        top.get("Comment");
        if let Some(ver) = top.get("Version")
            && ver.as_str() != Some("1.0")
        {
            cx.bad(top.at("Version"), "only version \"1.0\" exists");
        }
        if let Some(q) = top.get("QueryLanguage")
            && q.as_str() != Some("JSONPath")
        {
            cx.bad(top.at("QueryLanguage"), "only JSONPath is supported by the local runner (not JSONata)");
        }
        let machine = parse_machine(&cx, &mut top, "");
        top.finish(&cx, "the top level of a definition");
        if let Some(root) = &machine {
            // Step Functions requires unique names across branches and processors too, and
            // mocks and histories identify states by name alone.
            let mut seen = HashSet::new();
            let mut dups = Vec::new();
            root.walk(&mut |s| {
                if !seen.insert(s.name.clone()) {
                    dups.push(s.name.clone());
                }
            });
            dups.sort();
            dups.dedup();
            for d in dups {
                cx.bad(format!("States.{d}"), "a state name must be unique in the whole definition, branches included");
            }
        }
        let problems = cx.problems.into_inner();
        match machine {
            Some(root) if problems.is_empty() => {
                Ok(Definition { root: Arc::new(root), timeout_seconds, source: Arc::new(v.clone()) })
            }
            _ => Err(AslError::Invalid(problems)),
        }
    }

    /// The definition as parsed JSON.
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// The names of every Task state, including those inside Parallel branches and Map processors.
    pub fn task_state_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.root.walk(&mut |s| {
            if matches!(s.kind, Kind::Task(_)) {
                out.push(s.name.clone());
            }
        });
        out.sort();
        out
    }

    /// The names of every state, nested ones included.
    pub fn state_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.root.walk(&mut |s| out.push(s.name.clone()));
        out.sort();
        out
    }
}

impl Machine {
    pub fn walk(&self, f: &mut dyn FnMut(&State)) {
        for s in self.states.values() {
            f(s);
            match &s.kind {
                Kind::Parallel { branches } => branches.iter().for_each(|b| b.walk(f)),
                Kind::Map { processor, .. } => processor.walk(f),
                _ => {}
            }
        }
    }
}

#[derive(Default)]
struct Cx {
    problems: RefCell<Vec<Problem>>,
}

impl Cx {
    fn bad(&self, location: String, message: impl Into<String>) {
        self.problems.borrow_mut().push(Problem { location, message: message.into() });
    }

    fn positive_int(&self, at: &str, v: &Value) -> Option<u64> {
        match v.as_u64() {
            Some(n) if n > 0 => Some(n),
            _ => {
                self.bad(at.to_string(), format!("must be a positive integer, got {v}"));
                None
            }
        }
    }

    fn string<'a>(&self, at: &str, v: &'a Value) -> Option<&'a str> {
        let s = v.as_str();
        if s.is_none() {
            self.bad(at.to_string(), format!("must be a string, got {v}"));
        }
        s
    }

    fn path(&self, at: &str, v: &Value, reference: bool) -> Option<JsonPath> {
        let s = self.string(at, v)?;
        match JsonPath::parse(s) {
            Ok(p) if reference && !p.is_definite() => {
                self.bad(at.to_string(), format!("`{p}` must be a reference path (no wildcards or slices)"));
                None
            }
            Ok(p) => Some(p),
            Err(e) => {
                self.bad(at.to_string(), e);
                None
            }
        }
    }

    /// `InputPath` / `OutputPath` / `ResultPath`: absent is `$`, `null` is `None`.
    fn nullable_path(&self, at: &str, v: Option<&Value>, reference: bool, context_ok: bool) -> Option<JsonPath> {
        match v {
            None => Some(JsonPath::root()),
            Some(Value::Null) => None,
            Some(v) => {
                let p = self.path(at, v, reference)?;
                if p.is_context() && !context_ok {
                    self.bad(at.to_string(), "the context object (`$$`) cannot be used here");
                }
                Some(p)
            }
        }
    }

    fn template(&self, at: &str, v: &Value) -> Option<Template> {
        let mut p = Vec::new();
        let t = Template::compile(v, &mut p);
        for (f, msg) in p {
            self.bad(format!("{at}{f}"), msg);
        }
        Some(t)
    }
}

struct Fields<'a> {
    m: &'a Map<String, Value>,
    used: HashSet<&'a str>,
    loc: String,
}

impl<'a> Fields<'a> {
    fn new(m: &'a Map<String, Value>, loc: String) -> Self {
        Self { m, used: HashSet::new(), loc }
    }

    fn get(&mut self, k: &str) -> Option<&'a Value> {
        let (key, v) = self.m.get_key_value(k)?;
        self.used.insert(key.as_str());
        Some(v)
    }

    fn at(&self, field: &str) -> String {
        if self.loc.is_empty() { field.to_string() } else { format!("{}.{field}", self.loc) }
    }

    fn finish(self, cx: &Cx, what: &str) {
        for k in self.m.keys() {
            if !self.used.contains(k.as_str()) {
                let why = match k.as_str() {
                    "Assign" | "Arguments" | "Output" | "QueryLanguage" => {
                        " (JSONata and variables are not supported by the local runner)"
                    }
                    "ItemReader"
                    | "ItemBatcher"
                    | "ResultWriter"
                    | "ToleratedFailurePercentage"
                    | "ToleratedFailureCount"
                    | "ToleratedFailurePercentagePath"
                    | "ToleratedFailureCountPath"
                    | "Label" => " (distributed Map is not supported by the local runner)",
                    "Credentials" => " (cross-account tasks are not supported by the local runner)",
                    _ => "",
                };
                cx.bad(self.at(k), format!("unsupported field for {what}{why}"));
            }
        }
    }
}

fn parse_machine(cx: &Cx, f: &mut Fields<'_>, loc: &str) -> Option<Machine> {
    let start_at = f.get("StartAt").and_then(|v| cx.string(&f.at("StartAt"), v)).map(str::to_string);
    if start_at.is_none() && !f.m.contains_key("StartAt") {
        cx.bad(f.at("StartAt"), "is required");
    }
    let Some(states_v) = f.get("States") else {
        cx.bad(f.at("States"), "is required");
        return None;
    };
    let Some(states_m) = states_v.as_object().filter(|m| !m.is_empty()) else {
        cx.bad(f.at("States"), "must be a non-empty object");
        return None;
    };
    let prefix = if loc.is_empty() { "States".to_string() } else { format!("{loc}.States") };
    let mut states = HashMap::new();
    for (name, sv) in states_m {
        let sloc = format!("{prefix}.{name}");
        if name.is_empty() || name.chars().count() > 80 {
            cx.bad(sloc.clone(), "a state name must have 1 to 80 characters");
        }
        match sv.as_object() {
            Some(sm) => {
                if let Some(s) = parse_state(cx, name, sm, &sloc) {
                    states.insert(name.clone(), s);
                }
            }
            None => cx.bad(sloc, "a state must be an object"),
        }
    }
    let start_at = start_at?;
    if !states_m.contains_key(&start_at) {
        cx.bad(f.at("StartAt"), format!("`{start_at}` is not a state of this machine"));
    }
    // Targets and reachability are checked against the names present, even if a state failed
    // to parse, so that one mistake does not hide the others.
    let mut edges: HashMap<&str, Vec<(String, String)>> = HashMap::new();
    for (name, s) in &states {
        let sloc = format!("{prefix}.{name}");
        let mut targets = Vec::new();
        if let Some(Transition::Next(n)) = &s.transition {
            targets.push((format!("{sloc}.Next"), n.clone()));
        }
        if let Kind::Choice { choices, default } = &s.kind {
            for (i, (_, n)) in choices.iter().enumerate() {
                targets.push((format!("{sloc}.Choices[{i}].Next"), n.clone()));
            }
            if let Some(d) = default {
                targets.push((format!("{sloc}.Default"), d.clone()));
            }
        }
        for (i, c) in s.catch.iter().enumerate() {
            targets.push((format!("{sloc}.Catch[{i}].Next"), c.next.clone()));
        }
        for (at, t) in &targets {
            if !states_m.contains_key(t) {
                cx.bad(at.clone(), format!("`{t}` is not a state of this machine"));
            }
        }
        edges.insert(name.as_str(), targets);
    }
    if states.len() == states_m.len() && states_m.contains_key(&start_at) {
        let mut seen: HashSet<&str> = HashSet::new();
        let mut stack = vec![start_at.as_str()];
        while let Some(n) = stack.pop() {
            if seen.insert(n) {
                for (_, t) in edges.get(n).into_iter().flatten() {
                    stack.push(t.as_str());
                }
            }
        }
        let mut unreachable: Vec<&String> = states_m.keys().filter(|k| !seen.contains(k.as_str())).collect();
        unreachable.sort();
        for u in unreachable {
            cx.bad(format!("{prefix}.{u}"), "the state cannot be reached from StartAt");
        }
    }
    Some(Machine { start_at, states })
}

const COMMON: &[&str] = &["Type", "Comment"];

fn parse_state(cx: &Cx, name: &str, m: &Map<String, Value>, loc: &str) -> Option<State> {
    let mut f = Fields::new(m, loc.to_string());
    for k in COMMON {
        f.get(k);
    }
    let Some(ty) = m.get("Type").and_then(Value::as_str) else {
        cx.bad(f.at("Type"), "is required and must be a string");
        return None;
    };
    if let Some(q) = f.get("QueryLanguage")
        && q.as_str() != Some("JSONPath")
    {
        cx.bad(f.at("QueryLanguage"), "only JSONPath is supported by the local runner (not JSONata)");
    }
    let has = |k: &str| m.contains_key(k);
    let mut io = Io::default();
    // Which of the data-flow fields each type takes, as in the States Language specification.
    let (input_output, result_path, parameters, selector) = match ty {
        "Pass" => (true, true, true, false),
        "Task" | "Parallel" | "Map" => (true, true, true, true),
        "Choice" | "Wait" | "Succeed" => (true, false, false, false),
        "Fail" => (false, false, false, false),
        other => {
            cx.bad(f.at("Type"), format!("unsupported state type `{other}`"));
            return None;
        }
    };
    if input_output {
        io.input_path = cx.nullable_path(&f.at("InputPath"), f.get("InputPath"), false, false);
        io.output_path = cx.nullable_path(&f.at("OutputPath"), f.get("OutputPath"), false, false);
    }
    if result_path {
        io.result_path = cx.nullable_path(&f.at("ResultPath"), f.get("ResultPath"), true, false);
    } else {
        io.result_path = Some(JsonPath::root());
    }
    if parameters && let Some(p) = f.get("Parameters") {
        io.parameters = cx.template(&f.at("Parameters"), p);
    }
    if selector && let Some(p) = f.get("ResultSelector") {
        io.result_selector = cx.template(&f.at("ResultSelector"), p);
    }

    let terminal = matches!(ty, "Choice" | "Succeed" | "Fail");
    let transition = if terminal {
        None
    } else {
        let next = f.get("Next");
        let end = f.get("End");
        match (next, end) {
            (Some(n), None) => cx.string(&f.at("Next"), n).map(|n| Transition::Next(n.to_string())),
            (None, Some(Value::Bool(true))) => Some(Transition::End),
            (Some(_), Some(_)) => {
                cx.bad(f.at("End"), "a state cannot have both `Next` and `End`");
                None
            }
            (None, Some(v)) => {
                cx.bad(f.at("End"), format!("must be true, got {v}"));
                None
            }
            (None, None) => {
                cx.bad(f.at("Next"), "a non-terminal state needs `Next` or `End: true`");
                None
            }
        }
    };

    let mut retry = Vec::new();
    let mut catch = Vec::new();
    if matches!(ty, "Task" | "Parallel" | "Map") {
        if let Some(r) = f.get("Retry") {
            retry = parse_retry(cx, &f.at("Retry"), r);
        }
        if let Some(c) = f.get("Catch") {
            catch = parse_catch(cx, &f.at("Catch"), c);
        }
    }

    let kind = match ty {
        "Pass" => Kind::Pass { result: f.get("Result").cloned() },
        "Task" => Kind::Task(parse_task(cx, &mut f, &io)?),
        "Choice" => {
            let mut choices = Vec::new();
            match f.get("Choices").and_then(Value::as_array).filter(|a| !a.is_empty()) {
                None => cx.bad(f.at("Choices"), "is required and must be a non-empty array"),
                Some(list) => {
                    for (i, rv) in list.iter().enumerate() {
                        let at = f.at(&format!("Choices[{i}]"));
                        let mut p = Vec::new();
                        let rule = Rule::parse(rv, true, &mut p);
                        for (fld, msg) in p {
                            cx.bad(format!("{at}{fld}"), msg);
                        }
                        let next = rv.get("Next").and_then(Value::as_str);
                        if let (Some(rule), Some(next)) = (rule, next) {
                            choices.push((rule, next.to_string()));
                        }
                    }
                }
            }
            let default = f.get("Default").and_then(|d| cx.string(&f.at("Default"), d)).map(str::to_string);
            Kind::Choice { choices, default }
        }
        "Wait" => {
            let keys = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"];
            let present: Vec<&str> = keys.iter().copied().filter(|k| has(k)).collect();
            if present.len() != 1 {
                cx.bad(
                    f.at("Seconds"),
                    "a Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath",
                );
                return None;
            }
            let k = present[0];
            let v = f.get(k)?;
            let at = f.at(k);
            match k {
                "Seconds" => match v.as_u64() {
                    Some(n) => Kind::Wait(WaitFor::Seconds(Seconds::Fixed(n))),
                    None => {
                        cx.bad(at, format!("must be a non-negative integer, got {v}"));
                        return None;
                    }
                },
                "SecondsPath" => Kind::Wait(WaitFor::Seconds(Seconds::Path(cx.path(&at, v, true)?))),
                "Timestamp" => match cx.string(&at, v).and_then(timestamp) {
                    Some(t) => Kind::Wait(WaitFor::Timestamp(t)),
                    None => {
                        cx.bad(at, format!("{v} is not an RFC 3339 timestamp"));
                        return None;
                    }
                },
                _ => Kind::Wait(WaitFor::TimestampPath(cx.path(&at, v, true)?)),
            }
        }
        "Succeed" => Kind::Succeed,
        "Fail" => {
            let mut text = |lit: &str, path: &str| -> Option<Text> {
                match (f.get(lit), f.get(path)) {
                    (Some(_), Some(_)) => {
                        cx.bad(f.at(path), format!("`{lit}` and `{path}` are mutually exclusive"));
                        None
                    }
                    (Some(v), None) => cx.string(&f.at(lit), v).map(|s| Text::Literal(s.to_string())),
                    (None, Some(v)) => match cx.string(&f.at(path), v).map(Dynamic::parse) {
                        Some(Ok(d)) => Some(Text::Dynamic(d)),
                        Some(Err(e)) => {
                            cx.bad(f.at(path), e);
                            None
                        }
                        None => None,
                    },
                    (None, None) => None,
                }
            };
            let error = text("Error", "ErrorPath");
            let cause = text("Cause", "CausePath");
            Kind::Fail { error, cause }
        }
        "Parallel" => {
            let mut branches = Vec::new();
            match f.get("Branches").and_then(Value::as_array).filter(|a| !a.is_empty()) {
                None => cx.bad(f.at("Branches"), "is required and must be a non-empty array"),
                Some(list) => {
                    for (i, b) in list.iter().enumerate() {
                        let bloc = f.at(&format!("Branches[{i}]"));
                        let Some(bm) = b.as_object() else {
                            cx.bad(bloc, "a branch must be an object");
                            continue;
                        };
                        let mut bf = Fields::new(bm, bloc.clone());
                        bf.get("Comment");
                        if let Some(m) = parse_machine(cx, &mut bf, &bloc) {
                            branches.push(m);
                        }
                        bf.finish(cx, "a Parallel branch");
                    }
                }
            }
            Kind::Parallel { branches }
        }
        "Map" => parse_map(cx, &mut f, &mut io)?,
        _ => unreachable!("types were checked above"),
    };
    f.finish(cx, &format!("a {ty} state"));
    // Nested states of a Parallel or Map are in the text too: a false positive only costs a copy.
    let uses_context = Value::Object(m.clone()).to_string().contains("$$");
    Some(State { name: name.to_string(), kind, io, transition, retry, catch, uses_context })
}

fn parse_seconds(cx: &Cx, f: &mut Fields<'_>, fixed: &str, path: &str) -> Option<Seconds> {
    match (f.get(fixed), f.get(path)) {
        (Some(_), Some(_)) => {
            cx.bad(f.at(path), format!("`{fixed}` and `{path}` are mutually exclusive"));
            None
        }
        (Some(v), None) => cx.positive_int(&f.at(fixed), v).map(Seconds::Fixed),
        (None, Some(v)) => cx.path(&f.at(path), v, true).map(Seconds::Path),
        (None, None) => None,
    }
}

fn parse_task(cx: &Cx, f: &mut Fields<'_>, io: &Io) -> Option<TaskSpec> {
    let resource = f.get("Resource").and_then(|r| cx.string(&f.at("Resource"), r));
    let Some(resource) = resource else {
        if !f.m.contains_key("Resource") {
            cx.bad(f.at("Resource"), "is required");
        }
        return None;
    };
    let timeout = parse_seconds(cx, f, "TimeoutSeconds", "TimeoutSecondsPath");
    let heartbeat = parse_seconds(cx, f, "HeartbeatSeconds", "HeartbeatSecondsPath");
    if let (Some(Seconds::Fixed(t)), Some(Seconds::Fixed(h))) = (&timeout, &heartbeat)
        && h >= t
    {
        cx.bad(f.at("HeartbeatSeconds"), "must be smaller than TimeoutSeconds");
    }
    let at = f.at("Resource");
    let (integration, callback) = match classify_resource(resource) {
        Ok(x) => x,
        Err(msg) => {
            cx.bad(at, msg);
            return None;
        }
    };
    if heartbeat.is_some() && !callback {
        // Only a callback can send heartbeats; a heartbeat on anything else would always time out.
        cx.bad(f.at("HeartbeatSeconds"), "only `.waitForTaskToken` tasks can receive heartbeats in the local runner");
    }
    let params = io.parameters.as_ref();
    let check_fields = |allowed: &[&str], required: &str| match params {
        None => cx.bad(f.at("Parameters"), format!("`{resource}` needs Parameters with `{required}`")),
        Some(p) => {
            if !p.has_field(required) {
                cx.bad(f.at(&format!("Parameters.{required}")), "is required for this resource");
            }
            for k in p.field_names() {
                if !allowed.contains(&k.as_str()) {
                    cx.bad(f.at(&format!("Parameters.{k}")), format!("unsupported parameter for `{resource}`"));
                }
            }
        }
    };
    match integration {
        Integration::LambdaInvoke => {
            check_fields(
                &["FunctionName", "Payload", "InvocationType", "Qualifier", "ClientContext", "LogType"],
                "FunctionName",
            );
            if let Some(t) = params.and_then(|p| p.literal_field("InvocationType"))
                && t.as_str() != Some("RequestResponse")
            {
                cx.bad(f.at("Parameters.InvocationType"), "only RequestResponse is supported by the local runner");
            }
        }
        Integration::StartExecution => {
            check_fields(&["StateMachineArn", "Input", "Name", "TraceHeader"], "StateMachineArn");
        }
        Integration::LambdaFunction | Integration::Service => {}
    }
    Some(TaskSpec { resource: resource.to_string(), integration, callback, timeout, heartbeat })
}

/// Which integration a `Resource` is, and whether it waits for a task token.
pub(crate) fn classify_resource(resource: &str) -> Result<(Integration, bool), String> {
    let parts: Vec<&str> = resource.splitn(6, ':').collect();
    if parts.len() < 6 || parts[0] != "arn" || !parts[1].starts_with("aws") {
        return Err(format!("`{resource}` is not an ARN"));
    }
    match parts[2] {
        "lambda" if parts[5].starts_with("function:") => Ok((Integration::LambdaFunction, false)),
        "states" if parts[3].is_empty() && parts[4].is_empty() => {
            let api = parts[5];
            let (api, callback) = match api.strip_suffix(".waitForTaskToken") {
                Some(a) => (a, true),
                None => (api, false),
            };
            if api.contains(".sync") {
                return Err(format!("`{resource}`: the `.sync` pattern is not supported by the local runner"));
            }
            match api {
                "lambda:invoke" => Ok((Integration::LambdaInvoke, callback)),
                "states:startExecution" => Ok((Integration::StartExecution, callback)),
                "sns:publish" | "sqs:sendMessage" | "events:putEvents" => Ok((Integration::Service, callback)),
                _ => Err(format!("`{resource}`: this service integration is not supported by the local runner")),
            }
        }
        "states" if parts[5].starts_with("activity:") => {
            Err(format!("`{resource}`: activities are not supported by the local runner"))
        }
        _ => Err(format!("`{resource}`: this resource is not supported by the local runner")),
    }
}

fn parse_retry(cx: &Cx, at: &str, v: &Value) -> Vec<Retrier> {
    let Some(list) = v.as_array() else {
        cx.bad(at.to_string(), "must be an array");
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, r) in list.iter().enumerate() {
        let rloc = format!("{at}[{i}]");
        let Some(m) = r.as_object() else {
            cx.bad(rloc, "a retrier must be an object");
            continue;
        };
        let mut f = Fields::new(m, rloc.clone());
        f.get("Comment");
        let errors = error_equals(cx, &mut f, i + 1 == list.len());
        let num = |f: &mut Fields<'_>, k: &str| -> Option<f64> {
            let v = f.get(k)?;
            let n = v.as_f64();
            if n.is_none() {
                cx.bad(f.at(k), format!("must be a number, got {v}"));
            }
            n
        };
        let interval_seconds = num(&mut f, "IntervalSeconds").unwrap_or(1.0);
        if interval_seconds < 1.0 || interval_seconds.fract() != 0.0 {
            cx.bad(f.at("IntervalSeconds"), "must be a positive integer");
        }
        let max_attempts = num(&mut f, "MaxAttempts").unwrap_or(3.0);
        if max_attempts < 0.0 || max_attempts.fract() != 0.0 {
            cx.bad(f.at("MaxAttempts"), "must be a non-negative integer");
        }
        let backoff_rate = num(&mut f, "BackoffRate").unwrap_or(2.0);
        if backoff_rate < 1.0 {
            cx.bad(f.at("BackoffRate"), "must be at least 1.0");
        }
        let max_delay_seconds = num(&mut f, "MaxDelaySeconds");
        if let Some(d) = max_delay_seconds
            && (d < 1.0 || d.fract() != 0.0)
        {
            cx.bad(f.at("MaxDelaySeconds"), "must be a positive integer");
        }
        let full_jitter = match f.get("JitterStrategy") {
            None => false,
            Some(v) => match v.as_str() {
                Some("FULL") => true,
                Some("NONE") => false,
                _ => {
                    cx.bad(f.at("JitterStrategy"), format!("must be FULL or NONE, got {v}"));
                    false
                }
            },
        };
        f.finish(cx, "a retrier");
        out.push(Retrier {
            errors,
            interval_seconds,
            max_attempts: max_attempts.max(0.0) as u32,
            backoff_rate,
            max_delay_seconds,
            full_jitter,
        });
    }
    out
}

fn parse_catch(cx: &Cx, at: &str, v: &Value) -> Vec<Catcher> {
    let Some(list) = v.as_array() else {
        cx.bad(at.to_string(), "must be an array");
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let cloc = format!("{at}[{i}]");
        let Some(m) = c.as_object() else {
            cx.bad(cloc, "a catcher must be an object");
            continue;
        };
        let mut f = Fields::new(m, cloc.clone());
        f.get("Comment");
        let errors = error_equals(cx, &mut f, i + 1 == list.len());
        let next = match f.get("Next").and_then(|n| cx.string(&f.at("Next"), n)) {
            Some(n) => n.to_string(),
            None => {
                if !m.contains_key("Next") {
                    cx.bad(f.at("Next"), "is required");
                }
                String::new()
            }
        };
        let result_path = cx.nullable_path(&f.at("ResultPath"), f.get("ResultPath"), true, false);
        f.finish(cx, "a catcher");
        if !next.is_empty() {
            out.push(Catcher { errors, next, result_path });
        }
    }
    out
}

fn error_equals(cx: &Cx, f: &mut Fields<'_>, last: bool) -> Vec<String> {
    let at = f.at("ErrorEquals");
    let Some(list) = f.get("ErrorEquals").and_then(Value::as_array).filter(|l| !l.is_empty()) else {
        cx.bad(at, "is required and must be a non-empty array of error names");
        return Vec::new();
    };
    let names: Vec<String> = list.iter().filter_map(|v| cx.string(&at, v)).map(str::to_string).collect();
    if names.iter().any(|n| n == crate::error::ALL) {
        if names.len() != 1 {
            cx.bad(at.clone(), "States.ALL must appear alone in ErrorEquals");
        }
        if !last {
            cx.bad(at, "a retrier or catcher with States.ALL must be the last one");
        }
    }
    names
}

fn parse_map(cx: &Cx, f: &mut Fields<'_>, io: &mut Io) -> Option<Kind> {
    let items_path = match f.get("ItemsPath") {
        None => JsonPath::root(),
        Some(v) => cx.path(&f.at("ItemsPath"), v, true)?,
    };
    let item_selector = match (f.get("ItemSelector"), io.parameters.take()) {
        (Some(_), Some(_)) => {
            cx.bad(f.at("ItemSelector"), "`ItemSelector` and `Parameters` are mutually exclusive");
            None
        }
        (Some(v), None) => cx.template(&f.at("ItemSelector"), v),
        (None, legacy) => legacy,
    };
    let max_concurrency = match (f.get("MaxConcurrency"), f.get("MaxConcurrencyPath")) {
        (Some(_), Some(_)) => {
            cx.bad(f.at("MaxConcurrencyPath"), "`MaxConcurrency` and `MaxConcurrencyPath` are mutually exclusive");
            None
        }
        (Some(v), None) => match v.as_u64() {
            Some(n) => Some(Seconds::Fixed(n)),
            None => {
                cx.bad(f.at("MaxConcurrency"), format!("must be a non-negative integer, got {v}"));
                None
            }
        },
        (None, Some(v)) => cx.path(&f.at("MaxConcurrencyPath"), v, true).map(Seconds::Path),
        (None, None) => None,
    };
    let (key, pv) = match (f.get("ItemProcessor"), f.get("Iterator")) {
        (Some(_), Some(_)) => {
            cx.bad(f.at("Iterator"), "`Iterator` and `ItemProcessor` are mutually exclusive");
            return None;
        }
        (Some(p), None) => ("ItemProcessor", p),
        (None, Some(p)) => ("Iterator", p),
        (None, None) => {
            cx.bad(f.at("ItemProcessor"), "a Map state needs `ItemProcessor` (or the older `Iterator`)");
            return None;
        }
    };
    let ploc = f.at(key);
    let Some(pm) = pv.as_object() else {
        cx.bad(ploc, "must be an object");
        return None;
    };
    let mut pf = Fields::new(pm, ploc.clone());
    pf.get("Comment");
    if let Some(conf) = pf.get("ProcessorConfig") {
        let mode = conf.get("Mode").and_then(Value::as_str).unwrap_or("INLINE");
        if mode != "INLINE" {
            cx.bad(format!("{ploc}.ProcessorConfig.Mode"), "only INLINE Map is supported by the local runner");
        }
        if let Some(cm) = conf.as_object() {
            for k in cm.keys().filter(|k| k.as_str() != "Mode") {
                cx.bad(format!("{ploc}.ProcessorConfig.{k}"), "unsupported field for ProcessorConfig");
            }
        }
    }
    let processor = parse_machine(cx, &mut pf, &ploc);
    pf.finish(cx, &format!("a Map {key}"));
    Some(Kind::Map { items_path, item_selector, max_concurrency, processor: processor? })
}
