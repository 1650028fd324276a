//! What a person opens after a drill, taken out of the simulator before it stops: the
//! missing-transaction report files as the recovery wrote them to the simulated S3, every
//! message the simulated SNS topics carried (the e-mails), the execution histories, and
//! the moments a timeline marks (the Region failing and coming back, the decision).
//!
//! Collecting copies bytes and nothing else: it never judges (that is `expect`'s job) and
//! never changes the simulator.

use std::time::{Duration, SystemTime};

use failover_asl::{ExecutionHandle, HistoryEvent};
use regionsim::Sim;
use regionsim::sns::SnsMessage;
use serde_json::Value;

/// One object of a missing-transaction report, byte for byte as diff-report stored it.
#[derive(Debug, Clone)]
pub struct ReportFile {
    pub database: String,
    pub bucket: String,
    pub key: String,
    /// `html`, `csv`, `jsonl` or `summary`.
    pub kind: &'static str,
    /// The table of a CSV file.
    pub table: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// A moment on the timeline, in seconds from the start of the decision execution (the one
/// the RTO is measured on, as the report's phase times are).
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// `outage`, `region-back`, `detection`, `decision`: the page's element ids use it.
    pub id: String,
    pub label: String,
    pub at_s: f64,
}

/// Everything [`crate::out::write`] writes besides the drill's report.
#[derive(Debug, Clone, Default)]
pub struct Artifacts {
    /// Seconds from the simulated epoch to the decision execution's start.
    pub decision_start_s: f64,
    pub report_files: Vec<ReportFile>,
    pub messages: Vec<SnsMessage>,
    /// Every execution's history, by execution name, in the order the drill ran them.
    pub histories: Vec<(String, Vec<HistoryEvent>)>,
    /// The Region's health changes and the decision; detection when the drill records one.
    pub marks: Vec<Mark>,
}

fn secs_between(a: SystemTime, b: SystemTime) -> f64 {
    match b.duration_since(a) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// Takes the artifacts of a finished drill out of `sim`.
pub(crate) fn collect(
    sim: &Sim,
    epoch: SystemTime,
    executions: &[ExecutionHandle],
    decision: &ExecutionHandle,
) -> Artifacts {
    let start = decision.start_date();
    let mut marks = Vec::new();
    for t in sim.health_transitions() {
        let (id, label) = if t.up {
            ("region-back", format!("{} is back", t.region))
        } else {
            ("outage", format!("{} fails", t.region))
        };
        marks.push(Mark { id: id.to_string(), label, at_s: secs_between(start, t.at) });
    }
    // The detection: the first canary alarm a proposer received.
    if let Some(first) = sim
        .try_service::<regionsim::eventbridge::EventBridge>()
        .and_then(|b| b.events().into_iter().filter(|e| e.delivered).map(|e| e.at).min())
    {
        marks.push(Mark { id: "detection".into(), label: "canary alarm".into(), at_s: secs_between(start, first) });
    }
    // The decision: the end of the approval the decision execution waited for.
    let history = decision.history();
    let decided = history.iter().rev().find(|ev| {
        ev.event_type == "TaskStateExited"
            && matches!(ev.state_name(), Some("RequestApproval") | Some("AskContinueUnplanned"))
    });
    if let Some(ev) = decided {
        marks.push(Mark {
            id: "decision".into(),
            label: "approval decided".into(),
            at_s: secs_between(start, ev.timestamp),
        });
    }
    marks.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));

    let mut report_files = Vec::new();
    for h in executions.iter().filter(|h| h.name().ends_with("-recovery")) {
        let results = h
            .describe()
            .output
            .and_then(|o| o.pointer("/results").and_then(Value::as_array).cloned())
            .unwrap_or_default();
        for r in &results {
            let (Some(database), Some(loc)) =
                (r.pointer("/database").and_then(Value::as_str), r.pointer("/report/report"))
            else {
                continue;
            };
            let Some(bucket) = loc.get("bucket").and_then(Value::as_str) else { continue };
            let mut wanted: Vec<(&'static str, Option<String>, String)> = Vec::new();
            for (kind, field) in [("html", "html"), ("jsonl", "jsonl"), ("summary", "summary")] {
                if let Some(key) = loc.get(field).and_then(Value::as_str) {
                    wanted.push((kind, None, key.to_string()));
                }
            }
            for c in loc.get("csv").and_then(Value::as_array).into_iter().flatten() {
                if let Some(key) = c.get("key").and_then(Value::as_str) {
                    wanted.push(("csv", c.get("table").and_then(Value::as_str).map(str::to_string), key.to_string()));
                }
            }
            for (kind, table, key) in wanted {
                if let Some(obj) = sim.s3_object(bucket, &key) {
                    report_files.push(ReportFile {
                        database: database.to_string(),
                        bucket: bucket.to_string(),
                        key,
                        kind,
                        table,
                        content_type: obj.content_type.clone(),
                        body: obj.body.to_vec(),
                    });
                }
            }
        }
    }

    Artifacts {
        decision_start_s: secs_between(epoch, start),
        report_files,
        messages: sim.sns_messages(),
        histories: executions.iter().map(|h| (h.name().to_string(), h.history())).collect(),
        marks,
    }
}

/// Seconds as the pages print them.
pub(crate) fn seconds_label(s: f64) -> String {
    let sign = if s < -0.05 { "-" } else { "" };
    let a = s.abs();
    if a < 60.0 {
        format!("{sign}{a:.0} s")
    } else {
        format!("{sign}{}", failover_core::time_fmt::elapsed(Duration::from_secs_f64(a)))
    }
}
