//! The drill's live output: a line a person can follow for each state entered, with the
//! database (or the key range) a Map iteration works on, the duration when a Task, Map,
//! Parallel or Wait state ends, and the long polls (a snapshot that takes hours to appear)
//! as a line per polling round, thinned out as the wait grows.
//!
//! It only reads history events as the runner's observer hands them over; it never looks
//! at the simulator, so what it prints is what the execution history says.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use failover_asl::{ExecutionHandle, HistoryEvent};
use failover_core::time_fmt;
use serde_json::Value;

/// Where a drill's lines go.
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// A poll's first line prints at once; the next ones at most every this much simulated
/// time, or every quarter of the time waited so far, whichever is longer: an hour's wait
/// prints a handful of lines, a fortnight's a few dozen.
pub const WAIT_LINE_EVERY: Duration = Duration::from_secs(600);

/// The errors a state machine retries to poll (the awaited condition is not reached yet).
const POLL_ERRORS: [&str; 2] = ["Failover.NotYet", "Failover.NotHealthyYet"];

/// What an event belongs to: the innermost state open when it was recorded, and the
/// database or part of the Map iteration it is in. Events chain by `previous_event_id`
/// within one iteration, so an event inherits its predecessor's context.
#[derive(Debug, Clone, Default)]
struct Context {
    state: Option<String>,
    label: Option<String>,
    entered: Option<SystemTime>,
}

#[derive(Debug, Clone)]
struct Wait {
    since: SystemTime,
    polls: u32,
    printed: SystemTime,
}

#[derive(Default)]
struct Live {
    /// (execution, event id) -> context.
    events: HashMap<(String, u64), Context>,
    /// (execution, state, label) -> the poll under way.
    waits: HashMap<(String, String, String), Wait>,
}

/// The observer to hand to `Runner::observe`: it prints through `progress`, with simulated
/// time since `epoch`.
pub fn observer(
    progress: Progress,
    epoch: SystemTime,
) -> impl Fn(&ExecutionHandle, &HistoryEvent) + Send + Sync + 'static {
    let live = Mutex::new(Live::default());
    move |h: &ExecutionHandle, ev: &HistoryEvent| {
        let line = {
            let mut live = live.lock().unwrap_or_else(|p| p.into_inner());
            live.line(h.name(), ev, epoch)
        };
        if let Some(line) = line {
            progress(&line);
        }
    }
}

impl Live {
    fn line(&mut self, execution: &str, ev: &HistoryEvent, epoch: SystemTime) -> Option<String> {
        let prev = self.events.get(&(execution.to_string(), ev.previous_event_id)).cloned().unwrap_or_default();
        let at = time_fmt::elapsed(ev.timestamp.duration_since(epoch).unwrap_or_default());
        let head = format!("{at:>9}  {execution:<34}");
        let t = ev.event_type.as_str();
        let (ctx, line) = if t.ends_with("StateEntered") {
            let state = ev.state_name().unwrap_or("?").to_string();
            let label = ev.detail_str("input").and_then(label_of).or_else(|| prev.label.clone());
            let line = format!("{head} {state}{}", bracket(&label));
            (Context { state: Some(state), label, entered: Some(ev.timestamp) }, Some(line))
        } else if t.ends_with("StateExited") {
            let state = ev.state_name().unwrap_or("?").to_string();
            let timed = ["TaskStateExited", "MapStateExited", "ParallelStateExited", "WaitStateExited"].contains(&t);
            let took = prev
                .entered
                .filter(|_| prev.state.as_deref() == Some(state.as_str()))
                .map(|t0| ev.timestamp.duration_since(t0).unwrap_or_default());
            self.waits.remove(&(execution.to_string(), state.clone(), prev.label.clone().unwrap_or_default()));
            let line = match took {
                Some(d) if timed => Some(format!("{head} {state}{} done in {}", bracket(&prev.label), duration(d))),
                _ => None,
            };
            (prev, line)
        } else if matches!(t, "TaskFailed" | "LambdaFunctionFailed" | "TaskTimedOut" | "LambdaFunctionTimedOut") {
            let error = ev.detail_str("error").unwrap_or("?").to_string();
            let cause = short(ev.detail_str("cause").unwrap_or(""));
            let state = prev.state.clone().unwrap_or_else(|| "?".into());
            let line = if POLL_ERRORS.contains(&error.as_str()) {
                self.poll(execution, &state, &prev, ev.timestamp).map(|(polls, waited)| {
                    format!(
                        "{head} {state}{} waiting: poll {polls}, {} so far ({cause})",
                        bracket(&prev.label),
                        duration(waited)
                    )
                })
            } else {
                Some(format!("{head} {state}{} failed: {error}{}", bracket(&prev.label), colon(&cause)))
            };
            (prev, line)
        } else if t == "ExecutionStarted" {
            (prev, Some(format!("{head} execution started")))
        } else if t == "ExecutionSucceeded" {
            (prev, Some(format!("{head} execution succeeded")))
        } else if matches!(t, "ExecutionFailed" | "ExecutionTimedOut" | "ExecutionAborted") {
            let error = ev.detail_str("error").unwrap_or("");
            let cause = short(ev.detail_str("cause").unwrap_or(""));
            let what = match t {
                "ExecutionFailed" => "failed",
                "ExecutionTimedOut" => "timed out",
                _ => "aborted",
            };
            (prev, Some(format!("{head} execution {what}: {error}{}", colon(&cause))))
        } else {
            (prev, None)
        };
        self.events.insert((execution.to_string(), ev.id), ctx);
        line
    }

    /// Counts a poll; `Some((polls, waited))` when it deserves a line.
    fn poll(&mut self, execution: &str, state: &str, ctx: &Context, at: SystemTime) -> Option<(u32, Duration)> {
        let key = (execution.to_string(), state.to_string(), ctx.label.clone().unwrap_or_default());
        let since = ctx.entered.unwrap_or(at);
        let w = self.waits.entry(key).or_insert(Wait { since, polls: 0, printed: since });
        w.polls += 1;
        let waited = at.duration_since(w.since).unwrap_or_default();
        let quiet_for = at.duration_since(w.printed).unwrap_or_default();
        if w.polls == 1 || quiet_for >= WAIT_LINE_EVERY.max(waited / 4) {
            w.printed = at;
            Some((w.polls, waited))
        } else {
            None
        }
    }
}

/// The database, and the key range, a state's input names: `orders`, `orders: table
/// orders part 2 of 5`.
fn label_of(input: &str) -> Option<String> {
    if !input.contains("\"database\"") {
        return None;
    }
    let v: Value = serde_json::from_str(input).ok()?;
    let db = v.get("database")?.as_str()?.to_string();
    let part = v.get("key_range").filter(|p| !p.is_null()).map(|p| {
        let table = p.get("table").and_then(Value::as_str).unwrap_or("?");
        let index = p.get("index").and_then(Value::as_u64).unwrap_or(0) + 1;
        let count = p.get("count").and_then(Value::as_u64).unwrap_or(0);
        format!(": table {table} part {index} of {count}")
    });
    Some(format!("{db}{}", part.unwrap_or_default()))
}

fn bracket(label: &Option<String>) -> String {
    label.as_ref().map(|l| format!(" [{l}]")).unwrap_or_default()
}

fn colon(s: &str) -> String {
    if s.is_empty() { String::new() } else { format!(": {s}") }
}

/// Seconds with a tenth under a minute, then the CLI's elapsed format.
fn duration(d: Duration) -> String {
    if d < Duration::from_secs(60) { format!("{:.1} s", d.as_secs_f64()) } else { time_fmt::elapsed(d) }
}

/// The first line of a cause, at most 100 characters.
fn short(s: &str) -> String {
    let first = s.lines().next().unwrap_or("");
    let mut out: String = first.chars().take(100).collect();
    if first.chars().count() > 100 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(id: u64, prev: u64, at: u64, ty: &str, details: Value) -> HistoryEvent {
        let mut d = serde_json::Map::new();
        d.insert("d".into(), details);
        HistoryEvent {
            id,
            previous_event_id: prev,
            timestamp: SystemTime::UNIX_EPOCH + Duration::from_secs(at),
            event_type: ty.into(),
            details: d,
        }
    }

    #[test]
    fn a_map_iteration_names_its_database_and_a_state_its_duration() {
        let mut live = Live::default();
        let epoch = SystemTime::UNIX_EPOCH;
        let input = json!({"plan": {}, "database": "orders"}).to_string();
        let entered = ev(2, 1, 10, "TaskStateEntered", json!({"name": "CheckDatabase", "input": input}));
        let line = live.line("drill-outage", &entered, epoch).unwrap();
        assert!(line.ends_with("CheckDatabase [orders]"), "{line}");
        let sched = ev(3, 2, 10, "TaskScheduled", json!({}));
        assert_eq!(live.line("drill-outage", &sched, epoch), None);
        let failed = ev(4, 3, 13, "TaskFailed", json!({"error": "Failover.NotYet", "cause": "switching over"}));
        let line = live.line("drill-outage", &failed, epoch).unwrap();
        assert!(line.contains("CheckDatabase [orders] waiting: poll 1"), "{line}");
        // The next poll 3 s later is not worth a line.
        let failed = ev(5, 4, 16, "TaskFailed", json!({"error": "Failover.NotYet", "cause": "switching over"}));
        assert_eq!(live.line("drill-outage", &failed, epoch), None);
        let exited = ev(6, 5, 40, "TaskStateExited", json!({"name": "CheckDatabase", "output": "{}"}));
        let line = live.line("drill-outage", &exited, epoch).unwrap();
        assert!(line.ends_with("CheckDatabase [orders] done in 30.0 s"), "{line}");
    }

    #[test]
    fn a_long_wait_prints_less_often_as_it_grows() {
        let mut live = Live::default();
        let epoch = SystemTime::UNIX_EPOCH;
        let input = json!({"database": "catalog"}).to_string();
        live.line("r", &ev(1, 0, 0, "TaskStateEntered", json!({"name": "FindSnapshot", "input": input})), epoch);
        let mut lines = 0;
        // A poll a minute for two weeks.
        for i in 0..(14 * 24 * 60) {
            let e = ev(i + 2, i + 1, 60 * (i + 1), "TaskFailed", json!({"error": "Failover.NotYet", "cause": "no"}));
            lines += usize::from(live.line("r", &e, epoch).is_some());
        }
        assert!((5..=60).contains(&lines), "{lines} lines for two weeks of polls");
    }

    #[test]
    fn a_key_range_is_named() {
        let input = json!({"database": "orders", "key_range": {"table": "orders", "index": 1, "count": 5}});
        assert_eq!(label_of(&input.to_string()).as_deref(), Some("orders: table orders part 2 of 5"));
        assert_eq!(label_of(&json!({"plan": {"databases": []}}).to_string()), None);
    }
}
