//! An execution's timeline as `failover status` prints it: every state entered, when
//! (from the start), how long it took, what it is waiting on now, and the elapsed time
//! against the plan's RTO. Built from `GetExecutionHistory` without execution data (the
//! approval task token is execution data; the timeline never needs it).

use std::fmt;
use std::time::{Duration, SystemTime};

use aws_sdk_sfn::types::{HistoryEvent, HistoryEventType};
use failover_core::time_fmt;

/// One state of the execution (a Map iteration's states carry their iteration index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    /// From the start of the execution.
    pub entered: Duration,
    /// `None` while the state runs.
    pub took: Option<Duration>,
    /// The Map iteration (`[1]`), when the state is inside one.
    pub iteration: Option<i32>,
}

/// What `failover status` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    pub execution_arn: String,
    /// RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED.
    pub status: String,
    pub elapsed: Duration,
    pub rto: Option<Duration>,
    pub steps: Vec<Step>,
    /// The error and cause of a failed execution or the last failed task.
    pub failure: Option<String>,
}

fn at(e: &HistoryEvent) -> SystemTime {
    SystemTime::try_from(*e.timestamp()).unwrap_or(SystemTime::UNIX_EPOCH)
}

impl Timeline {
    pub fn from_history(
        execution_arn: String,
        status: &str,
        started: SystemTime,
        stopped: Option<SystemTime>,
        rto: Option<Duration>,
        events: &[HistoryEvent],
        now: SystemTime,
    ) -> Self {
        let since = |t: SystemTime| t.duration_since(started).unwrap_or_default();
        let mut steps: Vec<Step> = Vec::new();
        let mut failure = None;
        // The Map iteration the next states belong to, per the iteration events.
        let mut iteration: Option<i32> = None;
        for e in events {
            match e.r#type() {
                HistoryEventType::MapIterationStarted => {
                    iteration = e.map_iteration_started_event_details().map(|d| d.index());
                }
                HistoryEventType::MapIterationSucceeded
                | HistoryEventType::MapIterationFailed
                | HistoryEventType::MapIterationAborted => iteration = None,
                t if t.as_str().ends_with("StateEntered") => {
                    if let Some(d) = e.state_entered_event_details() {
                        steps.push(Step { name: d.name().to_string(), entered: since(at(e)), took: None, iteration });
                    }
                }
                t if t.as_str().ends_with("StateExited") => {
                    if let Some(d) = e.state_exited_event_details() {
                        let exited = since(at(e));
                        if let Some(s) = steps.iter_mut().rev().find(|s| s.name == d.name() && s.took.is_none()) {
                            s.took = Some(exited.saturating_sub(s.entered));
                        }
                    }
                }
                HistoryEventType::ExecutionFailed => {
                    if let Some(d) = e.execution_failed_event_details() {
                        failure = Some(format!("{}: {}", d.error().unwrap_or("?"), d.cause().unwrap_or("")));
                    }
                }
                HistoryEventType::ExecutionAborted => {
                    if let Some(d) = e.execution_aborted_event_details() {
                        failure = Some(format!("{}: {}", d.error().unwrap_or("aborted"), d.cause().unwrap_or("")));
                    }
                }
                HistoryEventType::TaskFailed | HistoryEventType::LambdaFunctionFailed if failure.is_none() => {
                    let text = e
                        .task_failed_event_details()
                        .map(|d| format!("{}: {}", d.error().unwrap_or("?"), d.cause().unwrap_or("")))
                        .or_else(|| {
                            e.lambda_function_failed_event_details()
                                .map(|d| format!("{}: {}", d.error().unwrap_or("?"), d.cause().unwrap_or("")))
                        });
                    if status != "RUNNING" {
                        failure = text;
                    }
                }
                _ => {}
            }
        }
        let end = stopped.unwrap_or(now);
        Timeline { execution_arn, status: status.to_string(), elapsed: since(end), rto, steps, failure }
    }

    /// The states still running (the current step, and the Map's iterations in flight).
    pub fn current(&self) -> Vec<&Step> {
        if self.status != "RUNNING" {
            return Vec::new();
        }
        self.steps.iter().filter(|s| s.took.is_none()).collect()
    }

    /// Whether the execution has ended.
    pub fn finished(&self) -> bool {
        self.status != "RUNNING"
    }
}

impl fmt::Display for Timeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.execution_arn)?;
        let rto = match self.rto {
            Some(rto) => {
                let verdict = if self.elapsed > rto { "over the objective" } else { "within the objective" };
                format!(" against an RTO of {} ({verdict})", time_fmt::elapsed(rto))
            }
            None => String::new(),
        };
        writeln!(f, "{}: {} elapsed{rto}", self.status, time_fmt::elapsed(self.elapsed))?;
        for s in &self.steps {
            let took = match s.took {
                Some(d) => format!("{:>9}", time_fmt::elapsed(d)),
                None => format!("{:>9}", "running"),
            };
            let iter = s.iteration.map(|i| format!(" [{i}]")).unwrap_or_default();
            writeln!(f, "  {:>9}  {took}  {}{iter}", time_fmt::elapsed(s.entered), s.name)?;
        }
        let current = self.current();
        if !current.is_empty() {
            let names: Vec<String> = current
                .iter()
                .map(|s| format!("{}{}", s.name, s.iteration.map(|i| format!(" [{i}]")).unwrap_or_default()))
                .collect();
            writeln!(f, "now: {}", names.join(", "))?;
        }
        if let Some(fail) = &self.failure {
            writeln!(f, "failure: {fail}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sfn::types::{StateEnteredEventDetails, StateExitedEventDetails};
    use aws_smithy_types::DateTime;

    fn event(id: i64, secs: i64, t: HistoryEventType, name: Option<&str>) -> HistoryEvent {
        let mut b = HistoryEvent::builder().id(id).timestamp(DateTime::from_secs(1_000 + secs)).r#type(t.clone());
        if let Some(n) = name {
            if t.as_str().ends_with("StateEntered") {
                b = b.state_entered_event_details(StateEnteredEventDetails::builder().name(n).build().unwrap());
            } else {
                b = b.state_exited_event_details(StateExitedEventDetails::builder().name(n).build().unwrap());
            }
        }
        b.build().unwrap()
    }

    #[test]
    fn steps_durations_and_the_current_one() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let events = vec![
            event(1, 0, HistoryEventType::ExecutionStarted, None),
            event(2, 0, HistoryEventType::TaskStateEntered, Some("Preflight")),
            event(3, 4, HistoryEventType::TaskStateExited, Some("Preflight")),
            event(4, 4, HistoryEventType::TaskStateEntered, Some("RequestApproval")),
        ];
        let now = start + Duration::from_secs(1_000);
        let t = Timeline::from_history(
            "arn:x".into(),
            "RUNNING",
            start,
            None,
            Some(Duration::from_secs(900)),
            &events,
            now,
        );
        assert_eq!(t.steps.len(), 2);
        assert_eq!(t.steps[0].took, Some(Duration::from_secs(4)));
        assert_eq!(t.current().iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["RequestApproval"]);
        let text = t.to_string();
        assert!(text.contains("over the objective"), "{text}");
        assert!(text.contains("now: RequestApproval"), "{text}");
    }
}
