//! `notify`: one message to the running Region's SNS topic per phase and outcome.
//!
//! [`compose`] is pure: the subject (at most 99 characters, SNS's limit is under 100), a
//! plain-text body written for an SRE woken at 3 a.m. (what happened, what to do if
//! anything, the recovery time against the RTO, the timeline, the data at risk, the error),
//! and message attributes for subscription filters (`phase`, `status`, `plan`,
//! `execution`, `dedup_id`, and `mode` / `target_region` when known). [`handle`] publishes
//! it with one `Publish` call to `plan.stacks[running_region].topic_arn`.
//!
//! Never in a message, a log line or the output: the approval task token (the approver
//! acts through the execution name; the message carries only a fingerprint of the token so
//! a tool can check it acts on the right task), values under secret-looking keys, and
//! presigned URLs. Nothing is stored.
//!
//! Idempotency: SNS `Publish` is not idempotent, and a retried task may publish twice.
//! Every message carries `dedup_id`, a hash of the input that does not change between
//! attempts, so a subscriber (or a mail filter) can drop repeats; nothing heavier is worth
//! it for notifications.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, SystemTime};

use aws_sdk_sns::types::MessageAttributeValue;
use failover_core::contract::Mode;
use failover_core::contract::notify::{NotifyInput, NotifyOutput, Phase};
use failover_core::{StepError, time_fmt};
use sha2::{Digest, Sha256};

use crate::aws::{AwsClients, classify};

/// SNS: "Subjects must be ... less than 100 characters long."
pub const MAX_SUBJECT: usize = 99;
/// Far below SNS's 256 KiB, and more than anyone reads in an e-mail.
const MAX_BODY: usize = 64 * 1024;
/// How many lines of free detail are shown.
const MAX_DETAIL_LINES: usize = 40;

/// A composed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub body: String,
    pub attributes: BTreeMap<String, String>,
    pub dedup_id: String,
}

/// Publishes the message of `input` to the running Region's topic.
pub async fn handle(input: NotifyInput, clients: &AwsClients) -> Result<NotifyOutput, StepError> {
    input.validate()?;
    let now = clients.clock.now();
    let msg = compose(&input, now);
    let region = &input.running_region;
    let topic = &input
        .plan
        .stacks
        .get(region)
        .ok_or_else(|| StepError::bad_input(format!("plan.stacks: no stack for running_region `{region}`")))?
        .topic_arn;
    let attributes = msg
        .attributes
        .iter()
        .map(|(k, v)| {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .map_err(|e| StepError::internal(format!("message attribute {k}: {e}")))?;
            Ok((k.clone(), value))
        })
        .collect::<Result<std::collections::HashMap<_, _>, StepError>>()?;
    let out = clients
        .sns
        .get(region)
        .publish()
        .topic_arn(topic)
        .subject(&msg.subject)
        .message(&msg.body)
        .set_message_attributes(Some(attributes))
        .send()
        .await
        .map_err(|e| classify(&e).into_step_error(&format!("Publish to {topic} in {region}")))?;
    let message_id = out.message_id().unwrap_or_default().to_string();
    tracing::info!(phase = %input.phase, topic = %topic, message_id = %message_id, dedup_id = %msg.dedup_id, "notification published");
    Ok(NotifyOutput {
        phase: input.phase,
        topic_arn: topic.clone(),
        message_id,
        dedup_id: msg.dedup_id,
        subject: msg.subject,
        published_at: time_fmt::rfc3339(now),
    })
}

/// The message for `input` at `now`. Pure.
pub fn compose(input: &NotifyInput, now: SystemTime) -> Message {
    let plan = &input.plan;
    let target = input.target_region.as_deref();
    let source = target.and_then(|t| plan.other_region(t));
    let mode = match input.mode {
        Some(Mode::Planned) => "planned switchover",
        Some(Mode::Unplanned) => "unplanned failover",
        None => "failover",
    };
    let to = target.map(|t| format!(" to {t}")).unwrap_or_default();
    let from_to = match (source, target) {
        (Some(s), Some(t)) => format!(" from {s} to {t}"),
        _ => to.clone(),
    };
    let exec = &input.execution.name;
    let error = input.error.as_ref().map(|e| (e.error.clone(), cause_message(e.cause.as_deref())));

    let (title, what) = match input.phase {
        Phase::Started => (format!("{mode}{to} started"), format!("A {mode} of {}{from_to} has started.", plan.name)),
        Phase::ApprovalRequested => (
            format!("APPROVAL NEEDED: {mode}{to}"),
            format!("An approver must decide whether the {mode} of {}{from_to} goes ahead.", plan.name),
        ),
        Phase::Approved => (format!("{mode}{to} approved"), "The approver approved; the failover continues.".into()),
        Phase::Rejected => (
            format!("{mode}{to} rejected, nothing moved"),
            "The approver rejected the failover. Nothing was moved: traffic and writers stay where they were.".into(),
        ),
        Phase::ApprovalTimedOut => (
            format!("approval timed out, nothing moved{to}"),
            format!(
                "Nobody decided within the approval timeout ({} s). Nothing was moved: traffic and writers stay where they were.",
                plan.approval.timeout_seconds
            ),
        ),
        Phase::SwitchoverRefused => (
            format!("switchover{to} refused: continue unplanned?"),
            format!(
                "A planned switchover of {}{from_to} was refused (replication lag over the RPO of {} s, or a member not \
                 available). An unplanned failover is possible but loses the data at risk below.",
                plan.name, plan.objectives.rpo_seconds
            ),
        ),
        Phase::TrafficMoved => (
            format!("traffic moved{to}"),
            format!(
                "The routing controls now send traffic{to}. Clients follow after Route 53's health-check propagation \
                 (~{} s) and the DNS TTL ({} s).",
                plan.dns.health_check_propagation_seconds, plan.dns.ttl_seconds
            ),
        ),
        Phase::DatabasesMoved => (
            format!("database writers moved{to}"),
            format!("Every global database's writer is now{}.", target.map(|t| format!(" in {t}")).unwrap_or_default()),
        ),
        Phase::Verified => (
            format!("{} verified serving", target.unwrap_or("target")),
            "Routing states, DNS answers, HTTP probes and canary alarms all say the target Region serves.".into(),
        ),
        Phase::Succeeded => {
            (format!("{mode}{to} SUCCEEDED"), format!("The {mode} of {}{from_to} succeeded.", plan.name))
        }
        Phase::Failed => (
            format!("{mode}{to} FAILED{}", error.as_ref().map(|(e, _)| format!(": {e}")).unwrap_or_default()),
            format!(
                "The {mode} of {}{from_to} FAILED. Before acting, check where traffic and the writers are now; the \
                 execution's history shows the last step that ran.",
                plan.name
            ),
        ),
        Phase::RecoveryStarted => (
            "recovery of the old primary started".into(),
            "The recovery of the old primary started: it waits for the old Region to return and for Aurora's snapshot \
             of the old writer, then restores it and reports the transactions it lost."
                .into(),
        ),
        Phase::SnapshotFound => (
            "old primary's snapshot found".into(),
            "Aurora's snapshot of the old primary exists; it is being copied and restored.".into(),
        ),
        Phase::SnapshotUnavailable => (
            "old primary's snapshot UNAVAILABLE".into(),
            "The old primary rejoined without a snapshot: the lost transactions cannot be listed. The exposure is the \
             replication lag at the failover (below)."
                .into(),
        ),
        Phase::ReportReady => (
            "missing-transaction report ready".into(),
            "The missing-transaction report is written to the report bucket of this Region's stack (no link is sent: \
             lost rows are customer data)."
                .into(),
        ),
        Phase::RecoverySucceeded => ("recovery finished".into(), "The recovery of the old primary finished.".into()),
        Phase::RecoveryFailed => (
            format!("recovery FAILED{}", error.as_ref().map(|(e, _)| format!(": {e}")).unwrap_or_default()),
            "The recovery of the old primary FAILED; the lost transactions are not reported yet.".into(),
        ),
        Phase::NotReady => (
            format!("NOT READY to fail over{to}"),
            format!("The readiness check found that {} cannot fail over{to} now (reasons below).", plan.name),
        ),
    };

    let mut b = String::new();
    let _ = writeln!(b, "{what}");
    if let Some(a) = &input.approval {
        let deadline = time_fmt::rfc3339(now + Duration::from_secs(plan.approval.timeout_seconds));
        let _ = writeln!(b);
        if let Some(q) = &a.question {
            let _ = writeln!(b, "Question: {}", one_line(q, 300));
        }
        let _ = writeln!(b, "To approve:  failover approve --execution {exec}");
        let _ = writeln!(b, "To reject:   failover reject --execution {exec}");
        let _ = writeln!(b, "Decide by {deadline}; without a decision nothing moves.");
        let _ = writeln!(
            b,
            "Task: {} of execution {exec} (token fingerprint {}).",
            a.state.as_deref().unwrap_or("the approval state"),
            fingerprint(a.task_token.expose())
        );
    }

    let started = time_fmt::parse_rfc3339(&input.execution.started_at).ok();
    if let Some(started) = started {
        let elapsed = now.duration_since(started).unwrap_or_default();
        let rto = Duration::from_secs(plan.objectives.rto_seconds);
        let _ = writeln!(b);
        if input.phase.is_recovery() {
            let _ = writeln!(
                b,
                "Recovery time: measured by the failover execution; this recovery has run {}.",
                time_fmt::elapsed(elapsed)
            );
        } else {
            let verdict = if elapsed <= rto {
                format!("within the RTO of {}", time_fmt::elapsed(rto))
            } else {
                format!("OVER the RTO of {} by {}", time_fmt::elapsed(rto), time_fmt::elapsed(elapsed - rto))
            };
            let label = if input.phase == Phase::Succeeded { "Recovery time" } else { "Elapsed so far" };
            let _ = writeln!(b, "{label}: {} since the execution started, {verdict}.", time_fmt::elapsed(elapsed));
        }
    }

    if let Some((name, message)) = &error {
        let _ = writeln!(b, "\nError: {name}");
        if !message.is_empty() {
            let _ = writeln!(b, "  {}", one_line(message, 2000));
        }
    }

    let _ = writeln!(b, "\nTimeline:");
    for e in &input.timeline {
        let offset = match (started, time_fmt::parse_rfc3339(&e.at)) {
            (Some(s), Ok(at)) => format!("+{}", time_fmt::elapsed(at.duration_since(s).unwrap_or_default())),
            _ => String::new(),
        };
        let at = time_fmt::parse_rfc3339(&e.at).map(clock_time).unwrap_or_else(|_| e.at.clone());
        let _ = writeln!(b, "  {at}  {offset:<14} {}", one_line(&e.phase, 80));
    }
    let offset = started
        .map(|s| format!("+{}", time_fmt::elapsed(now.duration_since(s).unwrap_or_default())))
        .unwrap_or_default();
    let _ = writeln!(b, "  {}  {offset:<14} {} (this message)", clock_time(now), input.phase);

    if !input.data_at_risk.is_empty() {
        let rpo = plan.objectives.rpo_seconds;
        let _ = match input.mode {
            Some(Mode::Planned) => writeln!(b, "\nReplication lag (RPO {rpo} s):"),
            _ => writeln!(
                b,
                "\nData at risk: writes to the old writer not yet replicated{to} when last measured (RPO {rpo} s):"
            ),
        };
        for d in &input.data_at_risk {
            let lag = match &d.lag {
                Some(l) => format!("up to {} ms of writes ({} at {})", l.milliseconds, l.metric, l.at),
                None if d.writer_region.as_deref().is_some_and(|w| Some(w) == target) => {
                    "none: the target already writes".into()
                }
                None => "unknown (no replication lag reading)".into(),
            };
            let writer = d.writer_region.as_deref().map(|r| format!(", writer in {r}")).unwrap_or_default();
            let _ = writeln!(b, "  {} ({}): {lag}{writer}", d.database, d.global_cluster);
        }
        if input.mode == Some(Mode::Planned) && input.phase != Phase::SwitchoverRefused {
            let _ = writeln!(b, "  A planned switchover waits for replication: it loses none of this.");
        }
    }

    let token = input.approval.as_ref().map(|a| a.task_token.expose());
    let detail = detail_lines(&input.detail, token);
    if !detail.is_empty() {
        let _ = writeln!(b, "\nDetail:");
        for l in detail {
            let _ = writeln!(b, "  {l}");
        }
    }

    let _ = writeln!(
        b,
        "\nExecution {exec} (started {}), plan {}, published from {}.",
        input.execution.started_at, plan.name, input.running_region
    );
    let mut body = truncate(&b, MAX_BODY);
    if let Some(t) = token.filter(|t| !t.is_empty()) {
        // Belt and braces: whatever a free-text field carried, the token does not leave.
        body = body.replace(t, "[redacted]");
    }

    let subject = subject(&format!("[failover {}] {title} ({exec})", plan.name));
    let dedup_id = dedup_id(input);
    let mut attributes = BTreeMap::new();
    attributes.insert("phase".into(), input.phase.as_str().to_string());
    attributes.insert("status".into(), input.phase.status().as_str().to_string());
    attributes.insert("plan".into(), plan.name.clone());
    attributes.insert("execution".into(), exec.clone());
    attributes.insert("dedup_id".into(), dedup_id.clone());
    if let Some(m) = input.mode {
        attributes.insert("mode".into(), if m == Mode::Planned { "planned" } else { "unplanned" }.into());
    }
    if let Some(t) = target {
        attributes.insert("target_region".into(), t.to_string());
    }
    Message { subject, body, attributes, dedup_id }
}

/// A subject SNS accepts: one line of printable ASCII, at most [`MAX_SUBJECT`] characters.
pub fn subject(s: &str) -> String {
    let clean: String = s.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { ' ' }).collect();
    let clean = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    if clean.len() <= MAX_SUBJECT { clean } else { format!("{}...", &clean[..MAX_SUBJECT - 3]) }
}

/// Stable across attempts with the same input: the execution, the phase and what the
/// state passed (never the token).
pub fn dedup_id(input: &NotifyInput) -> String {
    let key = serde_json::json!({
        "execution": input.execution.name,
        "phase": input.phase,
        "timeline": input.timeline,
        "error": input.error,
        "detail": input.detail,
        "state": input.approval.as_ref().map(|a| a.state.clone()),
    });
    let hash = Sha256::digest(key.to_string().as_bytes());
    hash.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// A short, one-way reference to a task token.
pub fn fingerprint(token: &str) -> String {
    let hash = Sha256::digest(token.as_bytes());
    hash.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// A Lambda error's `Cause` is JSON with `errorMessage`; other causes are text.
fn cause_message(cause: Option<&str>) -> String {
    let Some(cause) = cause else { return String::new() };
    match serde_json::from_str::<serde_json::Value>(cause) {
        Ok(v) => {
            v.get("errorMessage").and_then(|m| m.as_str()).map(str::to_string).unwrap_or_else(|| cause.to_string())
        }
        Err(_) => cause.to_string(),
    }
}

fn sensitive_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "token",
        "secret",
        "password",
        "passwd",
        "credential",
        "signature",
        "authorization",
        "apikey",
        "api_key",
        "private",
    ]
    .iter()
    .any(|s| k.contains(s))
}

fn presigned(value: &str) -> bool {
    let v = value.to_ascii_lowercase();
    v.contains("x-amz-signature")
        || v.contains("x-amz-credential")
        || (v.contains("signature=") && v.contains("expires="))
}

/// `path: value` lines of the free detail, secrets and presigned URLs redacted.
fn detail_lines(detail: &serde_json::Value, token: Option<&str>) -> Vec<String> {
    fn walk(v: &serde_json::Value, path: &str, token: Option<&str>, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Null => {}
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                    if sensitive_key(k) {
                        out.push(format!("{p}: [redacted]"));
                    } else {
                        walk(v, &p, token, out);
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, &format!("{path}[{i}]"), token, out);
                }
            }
            serde_json::Value::String(s) => {
                let shown = if presigned(s) {
                    "[redacted: presigned URL]".to_string()
                } else if token.is_some_and(|t| !t.is_empty() && s.contains(t)) {
                    "[redacted]".to_string()
                } else {
                    one_line(s, 200)
                };
                out.push(format!("{}: {shown}", if path.is_empty() { "detail" } else { path }));
            }
            other => out.push(format!("{}: {other}", if path.is_empty() { "detail" } else { path })),
        }
    }
    let mut out = Vec::new();
    walk(detail, "", token, &mut out);
    if out.len() > MAX_DETAIL_LINES {
        let more = out.len() - MAX_DETAIL_LINES;
        out.truncate(MAX_DETAIL_LINES);
        out.push(format!("... and {more} more (see the execution's history)"));
    }
    out
}

fn one_line(s: &str, max: usize) -> String {
    truncate(&s.split_whitespace().collect::<Vec<_>>().join(" "), max)
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub(3);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// `2026-11-26 05:31:02Z`: fixed width, to the second, for the timeline's column.
fn clock_time(t: SystemTime) -> String {
    const FORMAT: &[time::format_description::FormatItem<'_>] =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z");
    time::OffsetDateTime::from(t).format(FORMAT).unwrap_or_else(|_| time_fmt::rfc3339(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_one_short_ascii_line() {
        let s = subject(&format!("a\nb \u{e9} {}", "x".repeat(200)));
        assert!(s.len() <= MAX_SUBJECT, "{}", s.len());
        assert!(s.starts_with("a b "), "{s}");
        assert!(s.chars().all(|c| c.is_ascii_graphic() || c == ' '));
    }
}
