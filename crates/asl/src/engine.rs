//! The engine: runs one execution's states with the documented data flow, Retry and Catch,
//! timeouts, heartbeats, callbacks, Parallel and Map, and records its history.
//!
//! Parallel branches and Map iterations are futures polled concurrently inside the
//! execution's task (never separate tasks), so a failing branch cancels its siblings by
//! being dropped, as Step Functions stops them.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::future::{BoxFuture, FutureExt, try_join_all};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, watch};

use crate::definition::{
    Definition, Integration, Io, Kind, Machine, Retrier, Seconds, State, TaskSpec, Text, Transition, WaitFor,
};
use crate::dispatch::{TaskContext, lambda_envelope};
use crate::error::{self, Failure};
use crate::execution::{ExecutionHandle, Status};
use crate::history::{HistoryEvent, details_key};
use crate::intrinsics::Entropy;
use crate::path::JsonPath;
use crate::runner::{Callback, RunnerInner, TOKEN_PREFIX, TokenSlot};

/// Ends an execution whose task stopped without finishing it (a panicking handler, a runtime
/// shut down), so that `wait` never hangs.
struct Unfinished<'a>(&'a Engine);

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if self.0.ex.status() == Status::Running {
            let why = if std::thread::panicking() { "a task handler panicked" } else { "the runtime stopped" };
            self.0.finish(Ok(Some(Err(Failure::runtime(format!("The local runner stopped the execution: {why}."))))));
        }
    }
}

pub(crate) struct Engine {
    rt: Arc<RunnerInner>,
    ex: ExecutionHandle,
    base_ctx: Value,
}

impl Engine {
    /// Records `ExecutionStarted`, then runs the execution on a tokio task of its own until it
    /// ends, times out or is stopped through `abort`.
    pub(crate) fn launch(
        rt: Arc<RunnerInner>,
        ex: ExecutionHandle,
        base_ctx: Value,
        definition: &Definition,
        input: Value,
        input_text: String,
        mut abort_rx: watch::Receiver<Option<(String, String)>>,
    ) {
        let engine = Engine { rt, ex, base_ctx };
        let started = engine.record_final(
            0,
            "ExecutionStarted",
            json!({"input": input_text, "inputDetails": {"truncated": false}, "roleArn": engine.base_ctx["Execution"]["RoleArn"]}),
        );
        let definition = definition.clone();
        tokio::spawn(async move {
            let _guard = Unfinished(&engine);
            let clock = engine.rt.clock.clone();
            let run = engine.run_machine(&definition.root, input, started);
            let timed = async {
                match definition.timeout_seconds {
                    Some(t) => clock.timeout(Duration::from_secs(t), run).await.ok(),
                    None => Some(run.await),
                }
            };
            let aborted = async {
                loop {
                    if let Some(reason) = abort_rx.borrow_and_update().clone() {
                        return reason;
                    }
                    if abort_rx.changed().await.is_err() {
                        futures::future::pending::<()>().await;
                    }
                }
            };
            let outcome = tokio::select! {
                biased;
                r = timed => Ok(r),
                reason = aborted => Err(reason),
            };
            engine.finish(outcome);
        });
    }
}

enum Step<'a> {
    Next(&'a str, Value),
    End(Value),
}

type Outcome = Result<Option<Result<(Value, u64), Failure>>, (String, String)>;

impl Engine {
    fn now(&self) -> SystemTime {
        self.rt.clock.now()
    }

    /// Appends an event, refusing when the history quota is reached (one slot stays free
    /// for the execution's final event).
    fn record(&self, prev: u64, event_type: &str, details: Value) -> Result<u64, Failure> {
        self.push(prev, event_type, details, false)
    }

    fn record_final(&self, prev: u64, event_type: &str, details: Value) -> u64 {
        self.push(prev, event_type, details, true).unwrap_or(0)
    }

    fn push(&self, prev: u64, event_type: &str, details: Value, last: bool) -> Result<u64, Failure> {
        let limit = self.rt.config.history_limit;
        let event;
        let subscribers;
        {
            let mut st = self.ex.shared.state.lock().unwrap();
            if !last && st.history.len() + 1 >= limit {
                return Err(Failure::runtime(format!(
                    "The execution reached the maximum number of history events ({limit})."
                )));
            }
            let mut d = Map::new();
            if let Some(k) = details_key(event_type) {
                d.insert(k.to_string(), details);
            }
            event = HistoryEvent {
                id: st.history.len() as u64 + 1,
                previous_event_id: prev,
                timestamp: self.now(),
                event_type: event_type.to_string(),
                details: d,
            };
            st.history.push(event.clone());
            st.subscribers.retain(|s| s.send(event.clone()).is_ok());
            subscribers = self.rt.observers.lock().unwrap().clone();
        }
        for o in subscribers {
            o(&self.ex, &event);
        }
        Ok(event.id)
    }

    fn finish(&self, outcome: Outcome) {
        let (status, output, error, cause) = match outcome {
            Ok(Some(Ok((out, last)))) => {
                self.record_final(
                    last,
                    "ExecutionSucceeded",
                    json!({"output": out.to_string(), "outputDetails": {"truncated": false}}),
                );
                (Status::Succeeded, Some(out), None, None)
            }
            Ok(Some(Err(f))) => {
                let last = self.last_id();
                self.record_final(last, "ExecutionFailed", json!({"error": f.error, "cause": f.cause}));
                (Status::Failed, None, Some(f.error), Some(f.cause))
            }
            Ok(None) => {
                let cause = "The execution ran longer than the state machine's TimeoutSeconds.".to_string();
                let last = self.last_id();
                self.record_final(last, "ExecutionTimedOut", json!({"error": error::TIMEOUT, "cause": cause}));
                (Status::TimedOut, None, Some(error::TIMEOUT.to_string()), Some(cause))
            }
            Err((e, c)) => {
                let last = self.last_id();
                self.record_final(last, "ExecutionAborted", json!({"error": e, "cause": c}));
                (Status::Aborted, None, Some(e), Some(c))
            }
        };
        {
            let mut st = self.ex.shared.state.lock().unwrap();
            st.status = status;
            st.output = output;
            st.error = error;
            st.cause = cause;
            st.stop = Some(self.now());
            st.subscribers.clear();
        }
        let mut tokens = self.rt.tokens.lock().unwrap();
        for slot in tokens.values_mut() {
            if matches!(slot, TokenSlot::Open { execution, .. } if *execution == self.ex.shared.arn) {
                *slot = TokenSlot::Done;
            }
        }
        drop(tokens);
        self.ex.shared.done.send_replace(true);
    }

    fn last_id(&self) -> u64 {
        self.ex.shared.state.lock().unwrap().history.len() as u64
    }

    fn check_size(&self, text_len: usize, what: &str, state: &str) -> Result<(), Failure> {
        let limit = self.rt.config.payload_limit;
        if text_len > limit {
            return Err(Failure::new(
                error::DATA_LIMIT_EXCEEDED,
                format!("The {what} of state '{state}' has a size of {text_len} bytes, over the {limit} byte limit."),
            ));
        }
        Ok(())
    }

    /// The context object (`$$`) of a state; `null` for a state that never reads it, as copying
    /// the execution input for every state would dominate long loops over large payloads.
    fn context(
        &self,
        s: &State,
        entered: SystemTime,
        retry: u32,
        token: Option<&str>,
        item: Option<(usize, &Value)>,
    ) -> Value {
        if !s.uses_context {
            return Value::Null;
        }
        let state = &s.name;
        let mut ctx = self.base_ctx.clone();
        ctx["State"] = json!({
            "Name": state,
            "EnteredTime": failover_core::time_fmt::rfc3339(entered),
            "RetryCount": retry,
        });
        if let Some(t) = token {
            ctx["Task"] = json!({"Token": t});
        }
        if let Some((i, v)) = item {
            ctx["Map"] = json!({"Item": {"Index": i, "Value": v}});
        }
        ctx
    }

    fn run_machine<'a>(
        &'a self,
        m: &'a Machine,
        input: Value,
        prev: u64,
    ) -> BoxFuture<'a, Result<(Value, u64), Failure>> {
        async move {
            let mut th = prev;
            let mut name = m.start_at.as_str();
            let mut input = input;
            loop {
                let state = &m.states[name];
                match self.run_state(state, input, &mut th).await? {
                    Step::Next(n, out) => {
                        name = n;
                        input = out;
                    }
                    Step::End(out) => return Ok((out, th)),
                }
            }
        }
        .boxed()
    }

    async fn run_state<'a>(&'a self, s: &'a State, raw: Value, th: &mut u64) -> Result<Step<'a>, Failure> {
        let prefix = s.kind.event_prefix();
        let transition = self.rt.config.state_transition;
        if !transition.is_zero() {
            self.rt.clock.sleep(transition).await;
        }
        let entered = self.now();
        let raw_text = raw.to_string();
        self.check_size(raw_text.len(), "input", &s.name)?;
        *th = self.record(
            *th,
            &format!("{prefix}StateEntered"),
            json!({"name": s.name, "input": raw_text, "inputDetails": {"truncated": false}}),
        )?;
        let ctx = self.context(s, entered, 0, None, None);
        let result: Result<(Value, Option<&'a str>), Failure> = match &s.kind {
            Kind::Pass { result } => (|| {
                let input = input_of(&s.io, &raw)?;
                let eff = self.parameters(&s.io, &input, &ctx)?;
                let res = result.clone().unwrap_or(eff);
                Ok((self.finish_io(&s.io, &raw, res, &ctx)?, None))
            })(),
            Kind::Task(t) => self.run_task(s, t, &raw, entered, th).await.map(|v| (v, None)),
            Kind::Choice { choices, default } => (|| {
                let input = input_of(&s.io, &raw)?;
                for (rule, next) in choices {
                    if rule.eval(&input, &ctx)? {
                        return Ok((output_of(&s.io, input)?, Some(next.as_str())));
                    }
                }
                match default {
                    Some(d) => Ok((output_of(&s.io, input)?, Some(d.as_str()))),
                    None => Err(Failure::new(
                        error::NO_CHOICE_MATCHED,
                        format!("No Choice Rule matched and no Default in state '{}'", s.name),
                    )),
                }
            })(),
            Kind::Wait(w) => self.run_wait(s, w, &raw).await.map(|v| (v, None)),
            Kind::Succeed => input_of(&s.io, &raw).and_then(|i| output_of(&s.io, i)).map(|v| (v, None)),
            Kind::Fail { error, cause } => {
                let text = |t: &Option<Text>| -> Result<String, Failure> {
                    match t {
                        None => Ok(String::new()),
                        Some(Text::Literal(s)) => Ok(s.clone()),
                        Some(Text::Dynamic(d)) => match d.eval(&raw, &ctx, &*self.rt, "ErrorPath/CausePath")? {
                            Value::String(s) => Ok(s),
                            other => {
                                Err(Failure::runtime(format!("ErrorPath/CausePath must give a string, got {other}")))
                            }
                        },
                    }
                };
                let (e, c) = (text(error)?, text(cause)?);
                Err(Failure::new(e, c))
            }
            Kind::Parallel { branches } => self.run_parallel(s, branches, &raw, &ctx, th).await.map(|v| (v, None)),
            Kind::Map { .. } => self.run_map(s, &raw, entered, th).await.map(|v| (v, None)),
        };
        let exit = |out: Value, next: Option<&'a str>, th: &mut u64| -> Result<Step<'a>, Failure> {
            let text = out.to_string();
            self.check_size(text.len(), "output", &s.name)?;
            *th = self.record(
                *th,
                &format!("{prefix}StateExited"),
                json!({"name": s.name, "output": text, "outputDetails": {"truncated": false}}),
            )?;
            Ok(match (next, &s.transition) {
                (Some(n), _) => Step::Next(n, out),
                (None, Some(Transition::Next(n))) => Step::Next(n.as_str(), out),
                (None, _) => Step::End(out),
            })
        };
        match result {
            Ok((out, next)) => exit(out, next, th),
            Err(f) => {
                let Some(c) = s.catch.iter().find(|c| c.errors.iter().any(|e| f.matches(e))) else {
                    return Err(f);
                };
                let err_out = json!({"Error": f.error, "Cause": f.cause});
                let out = apply_result_path(c.result_path.as_ref(), raw, err_out)?;
                exit(out, Some(c.next.as_str()), th)
            }
        }
    }

    fn parameters(&self, io: &Io, input: &Value, ctx: &Value) -> Result<Value, Failure> {
        match &io.parameters {
            Some(t) => t.eval(input, ctx, &*self.rt),
            None => Ok(input.clone()),
        }
    }

    /// ResultSelector, ResultPath, OutputPath.
    fn finish_io(&self, io: &Io, raw: &Value, result: Value, ctx: &Value) -> Result<Value, Failure> {
        let result = match &io.result_selector {
            Some(t) => t.eval(&result, ctx, &*self.rt)?,
            None => result,
        };
        let merged = match &io.result_path {
            Some(p) if p.is_root() => result,
            other => apply_result_path(other.as_ref(), raw.clone(), result)?,
        };
        output_of(io, merged)
    }

    fn retry_delay(&self, retriers: &[Retrier], counts: &mut [u32], f: &Failure) -> Option<Duration> {
        // Only the first retrier whose ErrorEquals matches counts, even once it is exhausted.
        let (i, r) = retriers.iter().enumerate().find(|(_, r)| r.errors.iter().any(|e| f.matches(e)))?;
        if counts[i] >= r.max_attempts {
            return None;
        }
        let mut secs = r.interval_seconds * r.backoff_rate.powi(counts[i] as i32);
        if let Some(max) = r.max_delay_seconds {
            secs = secs.min(max);
        }
        if r.full_jitter {
            let unit = (self.rt.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            secs *= unit;
        }
        counts[i] += 1;
        Some(Duration::from_secs_f64(secs.max(0.0)))
    }

    fn seconds(&self, s: &Option<Seconds>, input: &Value, field: &str) -> Result<Option<u64>, Failure> {
        match s {
            None => Ok(None),
            Some(Seconds::Fixed(n)) => Ok(Some(*n)),
            Some(Seconds::Path(p)) => match p.get(input).and_then(Value::as_u64) {
                Some(n) => Ok(Some(n)),
                None => Err(Failure::runtime(format!("{field}: `{p}` does not point at a non-negative integer"))),
            },
        }
    }

    async fn run_task(
        &self,
        s: &State,
        t: &TaskSpec,
        raw: &Value,
        entered: SystemTime,
        th: &mut u64,
    ) -> Result<Value, Failure> {
        let input = input_of(&s.io, raw)?;
        let mut counts = vec![0u32; s.retry.len()];
        let mut retry_count = 0;
        loop {
            match self.task_attempt(s, t, &input, entered, retry_count, th).await {
                Ok(result) => {
                    let ctx = self.context(s, entered, retry_count, None, None);
                    return self.finish_io(&s.io, raw, result, &ctx);
                }
                Err(f) => match self.retry_delay(&s.retry, &mut counts, &f) {
                    Some(d) => {
                        self.rt.clock.sleep(d).await;
                        retry_count += 1;
                    }
                    None => return Err(f),
                },
            }
        }
    }

    async fn task_attempt(
        &self,
        s: &State,
        t: &TaskSpec,
        input: &Value,
        entered: SystemTime,
        retry_count: u32,
        th: &mut u64,
    ) -> Result<Value, Failure> {
        let rt = &self.rt;
        let token = t
            .callback
            .then(|| format!("{TOKEN_PREFIX}{:016x}{:016x}{:016x}", rt.next_u64(), rt.next_u64(), rt.next_u64()));
        let rx = token.as_ref().map(|tok| {
            let (tx, rx) = mpsc::unbounded_channel();
            rt.tokens
                .lock()
                .unwrap()
                .insert(tok.clone(), TokenSlot::Open { execution: self.ex.shared.arn.clone(), tx });
            rx
        });
        let result = self.task_attempt_inner(s, t, input, entered, retry_count, token.as_deref(), rx, th).await;
        if let Some(tok) = token {
            let mut tokens = rt.tokens.lock().unwrap();
            let timed_out =
                matches!(&result, Err(f) if f.error == error::TIMEOUT || f.error == error::HEARTBEAT_TIMEOUT);
            tokens.insert(tok, if timed_out { TokenSlot::TimedOut } else { TokenSlot::Done });
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn task_attempt_inner(
        &self,
        s: &State,
        t: &TaskSpec,
        input: &Value,
        entered: SystemTime,
        retry_count: u32,
        token: Option<&str>,
        rx: Option<mpsc::UnboundedReceiver<Callback>>,
        th: &mut u64,
    ) -> Result<Value, Failure> {
        let ctx = self.context(s, entered, retry_count, token, None);
        let params = self.parameters(&s.io, input, &ctx)?;
        let params_text = params.to_string();
        self.check_size(params_text.len(), "parameters", &s.name)?;
        let timeout = self.seconds(&t.timeout, input, "TimeoutSecondsPath")?;
        let heartbeat = self.seconds(&t.heartbeat, input, "HeartbeatSecondsPath")?;
        let legacy = t.integration == Integration::LambdaFunction;
        let (rtype, rname) = resource_parts(&t.resource);
        if legacy {
            let mut d = json!({"resource": t.resource, "input": params_text, "inputDetails": {"truncated": false}});
            if let Some(x) = timeout {
                d["timeoutInSeconds"] = x.into();
            }
            *th = self.record(*th, "LambdaFunctionScheduled", d)?;
            *th = self.record(*th, "LambdaFunctionStarted", Value::Null)?;
        } else {
            let mut d =
                json!({"resourceType": rtype, "resource": rname, "region": rt_region(self), "parameters": params_text});
            if let Some(x) = timeout {
                d["timeoutInSeconds"] = x.into();
            }
            if let Some(x) = heartbeat {
                d["heartbeatInSeconds"] = x.into();
            }
            *th = self.record(*th, "TaskScheduled", d)?;
            *th = self.record(*th, "TaskStarted", json!({"resourceType": rtype, "resource": rname}))?;
        }
        let tctx = TaskContext {
            execution_arn: self.ex.shared.arn.clone(),
            execution_name: self.ex.shared.name.clone(),
            state_name: s.name.clone(),
            resource: t.resource.clone(),
            integration: t.integration,
            task_token: token.map(str::to_string),
            retry_count,
            entered_time: entered,
        };
        let work = self.invoke(t, params, tctx, rx, heartbeat, th);
        let res = match timeout {
            Some(secs) => match self.rt.clock.timeout(Duration::from_secs(secs), work).await {
                Ok(r) => r,
                Err(_) => {
                    Err(Failure::new(error::TIMEOUT, format!("The task '{}' ran longer than {secs} seconds.", s.name)))
                }
            },
            None => work.await,
        };
        let res = res.and_then(|v| {
            let text = v.to_string();
            self.check_size(text.len(), "result", &s.name)?;
            Ok((v, text))
        });
        match res {
            Ok((v, text)) => {
                if legacy {
                    *th = self.record(
                        *th,
                        "LambdaFunctionSucceeded",
                        json!({"output": text, "outputDetails": {"truncated": false}}),
                    )?;
                } else {
                    *th = self.record(
                        *th,
                        "TaskSucceeded",
                        json!({"resourceType": rtype, "resource": rname, "output": text, "outputDetails": {"truncated": false}}),
                    )?;
                }
                Ok(v)
            }
            Err(f) => {
                let timed_out = f.error == error::TIMEOUT || f.error == error::HEARTBEAT_TIMEOUT;
                let ty = match (legacy, timed_out) {
                    (true, true) => "LambdaFunctionTimedOut",
                    (true, false) => "LambdaFunctionFailed",
                    (false, true) => "TaskTimedOut",
                    (false, false) => "TaskFailed",
                };
                let d = if legacy {
                    json!({"error": f.error, "cause": f.cause})
                } else {
                    json!({"resourceType": rtype, "resource": rname, "error": f.error, "cause": f.cause})
                };
                *th = self.record(*th, ty, d)?;
                Err(f)
            }
        }
    }

    async fn invoke(
        &self,
        t: &TaskSpec,
        params: Value,
        ctx: TaskContext,
        rx: Option<mpsc::UnboundedReceiver<Callback>>,
        heartbeat: Option<u64>,
        th: &mut u64,
    ) -> Result<Value, Failure> {
        let d = &self.rt.dispatcher;
        let to_failure = |e: crate::dispatch::TaskFailure| Failure::new(e.error, e.cause);
        let response = if let Some(fut) = d.intercept(&params, &ctx) {
            // An intercepted integration is answered whole, callbacks included (mocks).
            return fut.await.map_err(to_failure);
        } else {
            match t.integration {
                Integration::LambdaInvoke => {
                    let Some(function) = params.get("FunctionName").and_then(Value::as_str).map(str::to_string) else {
                        return Err(Failure::runtime("Parameters.FunctionName must be a string"));
                    };
                    let payload = params.get("Payload").cloned().unwrap_or_else(|| json!({}));
                    let request_id = self.rt.uuid();
                    let out = d.invoke(&function, payload, ctx).await.map_err(to_failure)?;
                    lambda_envelope(out, &request_id)
                }
                Integration::LambdaFunction | Integration::StartExecution | Integration::Service => {
                    d.invoke(&t.resource, params, ctx).await.map_err(to_failure)?
                }
            }
        };
        let Some(mut rx) = rx else {
            return Ok(response);
        };
        *th = self.record(
            *th,
            "TaskSubmitted",
            json!({"resourceType": resource_parts(&t.resource).0, "resource": resource_parts(&t.resource).1, "output": response.to_string(), "outputDetails": {"truncated": false}}),
        )?;
        loop {
            let beat = async {
                match heartbeat {
                    Some(h) => self.rt.clock.sleep(Duration::from_secs(h)).await,
                    None => futures::future::pending::<()>().await,
                }
            };
            tokio::select! {
                cb = rx.recv() => match cb {
                    Some(Callback::Success(v)) => return Ok(v),
                    Some(Callback::Failure(e, c)) => return Err(Failure::new(e, c)),
                    Some(Callback::Heartbeat) => continue,
                    None => return Err(Failure::runtime("the task token was discarded")),
                },
                _ = beat => return Err(Failure::new(
                    error::HEARTBEAT_TIMEOUT,
                    format!("No heartbeat was received within {} seconds.", heartbeat.unwrap_or(0)),
                )),
            }
        }
    }

    async fn run_wait(&self, s: &State, w: &WaitFor, raw: &Value) -> Result<Value, Failure> {
        let input = input_of(&s.io, raw)?;
        let dur = match w {
            WaitFor::Seconds(secs) => {
                Duration::from_secs(self.seconds(&Some(clone_secs(secs)), &input, "SecondsPath")?.unwrap_or(0))
            }
            WaitFor::Timestamp(t) => t.duration_since(self.now()).unwrap_or_default(),
            WaitFor::TimestampPath(p) => {
                let t = p.get(&input).and_then(Value::as_str).and_then(crate::choice::timestamp).ok_or_else(|| {
                    Failure::runtime(format!("TimestampPath: `{p}` does not point at an RFC 3339 timestamp"))
                })?;
                t.duration_since(self.now()).unwrap_or_default()
            }
        };
        self.rt.clock.sleep(dur).await;
        output_of(&s.io, input)
    }

    async fn run_parallel(
        &self,
        s: &State,
        branches: &[Machine],
        raw: &Value,
        ctx: &Value,
        th: &mut u64,
    ) -> Result<Value, Failure> {
        let input = input_of(&s.io, raw)?;
        let eff = self.parameters(&s.io, &input, ctx)?;
        let mut counts = vec![0u32; s.retry.len()];
        loop {
            *th = self.record(*th, "ParallelStateStarted", Value::Null)?;
            let started = *th;
            let res = try_join_all(branches.iter().map(|b| self.run_machine(b, eff.clone(), started))).await;
            match res {
                Ok(outs) => {
                    *th = self.record(*th, "ParallelStateSucceeded", Value::Null)?;
                    let results = Value::Array(outs.into_iter().map(|(v, _)| v).collect());
                    return self.finish_io(&s.io, raw, results, ctx);
                }
                Err(f) => {
                    let _ = self.record(*th, "ParallelStateFailed", Value::Null);
                    match self.retry_delay(&s.retry, &mut counts, &f) {
                        Some(d) => self.rt.clock.sleep(d).await,
                        None => return Err(f),
                    }
                }
            }
        }
    }

    async fn run_map(&self, s: &State, raw: &Value, entered: SystemTime, th: &mut u64) -> Result<Value, Failure> {
        let Kind::Map { items_path, item_selector, max_concurrency, processor } = &s.kind else {
            unreachable!("run_map is called for Map states")
        };
        let input = input_of(&s.io, raw)?;
        let items = match items_path.get(&input) {
            Some(Value::Array(a)) => a.clone(),
            Some(other) => {
                return Err(Failure::runtime(format!("ItemsPath `{items_path}` must point at an array, got {other}")));
            }
            None => return Err(Failure::runtime(format!("ItemsPath `{items_path}` could not be found in the input"))),
        };
        let conc = self.seconds(max_concurrency, &input, "MaxConcurrencyPath")?.unwrap_or(0) as usize;
        let limit = if conc == 0 { items.len().max(1) } else { conc };
        let mut counts = vec![0u32; s.retry.len()];
        loop {
            *th = self.record(*th, "MapStateStarted", json!({"length": items.len()}))?;
            let started = *th;
            // Boxed one by one: a lazily mapped iterator of borrowing futures trips the
            // higher-ranked lifetime check of the boxed machine future.
            let mut iterations: Vec<BoxFuture<'_, Result<(usize, Value), Failure>>> = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let input = &input;
                iterations.push(
                    async move {
                        let ctx = self.context(s, entered, 0, None, Some((i, item)));
                        let it_input = match item_selector {
                            Some(t) => t.eval(input, &ctx, &*self.rt)?,
                            None => item.clone(),
                        };
                        let id = self.record(started, "MapIterationStarted", json!({"name": s.name, "index": i}))?;
                        match self.run_machine(processor, it_input, id).await {
                            Ok((v, last)) => {
                                self.record(last, "MapIterationSucceeded", json!({"name": s.name, "index": i}))?;
                                Ok((i, v))
                            }
                            Err(f) => {
                                let _ = self.record(id, "MapIterationFailed", json!({"name": s.name, "index": i}));
                                Err(f)
                            }
                        }
                    }
                    .boxed(),
                );
            }
            // Unordered, so that a slow iteration does not hold back the start of the next ones:
            // MaxConcurrency bounds the iterations running, not a window over the items.
            let res: Result<Vec<(usize, Value)>, Failure> =
                futures::stream::iter(iterations).buffer_unordered(limit).try_collect().await;
            match res {
                Ok(mut outs) => {
                    outs.sort_by_key(|(i, _)| *i);
                    let outs: Vec<Value> = outs.into_iter().map(|(_, v)| v).collect();
                    *th = self.record(*th, "MapStateSucceeded", Value::Null)?;
                    let ctx = self.context(s, entered, 0, None, None);
                    return self.finish_io(&s.io, raw, Value::Array(outs), &ctx);
                }
                Err(f) => {
                    let _ = self.record(*th, "MapStateFailed", Value::Null);
                    match self.retry_delay(&s.retry, &mut counts, &f) {
                        Some(d) => self.rt.clock.sleep(d).await,
                        None => return Err(f),
                    }
                }
            }
        }
    }
}

fn rt_region(e: &Engine) -> &str {
    &e.rt.config.region
}

fn clone_secs(s: &Seconds) -> Seconds {
    match s {
        Seconds::Fixed(n) => Seconds::Fixed(*n),
        Seconds::Path(p) => Seconds::Path(p.clone()),
    }
}

/// `arn:aws:states:::lambda:invoke.waitForTaskToken` -> ("lambda", "invoke.waitForTaskToken");
/// a Lambda ARN -> ("lambda", the ARN).
fn resource_parts(resource: &str) -> (String, String) {
    let parts: Vec<&str> = resource.splitn(6, ':').collect();
    if parts.len() == 6
        && parts[2] == "states"
        && let Some((svc, api)) = parts[5].split_once(':')
    {
        return (svc.to_string(), api.to_string());
    }
    (parts.get(2).copied().unwrap_or("").to_string(), resource.to_string())
}

fn input_of(io: &Io, raw: &Value) -> Result<Value, Failure> {
    match &io.input_path {
        None => Ok(json!({})),
        Some(p) => p
            .select(raw)
            .ok_or_else(|| Failure::runtime(format!("Invalid path '{p}' : No results for path: {p} (InputPath)"))),
    }
}

fn output_of(io: &Io, v: Value) -> Result<Value, Failure> {
    match &io.output_path {
        None => Ok(json!({})),
        Some(p) if p.is_root() => Ok(v),
        Some(p) => p
            .select(&v)
            .ok_or_else(|| Failure::runtime(format!("Invalid path '{p}' : No results for path: {p} (OutputPath)"))),
    }
}

fn apply_result_path(path: Option<&JsonPath>, raw: Value, result: Value) -> Result<Value, Failure> {
    match path {
        None => Ok(raw),
        Some(p) => {
            let mut out = raw;
            p.set(&mut out, result).map_err(|e| Failure::new(error::RESULT_PATH_MATCH_FAILURE, e))?;
            Ok(out)
        }
    }
}
