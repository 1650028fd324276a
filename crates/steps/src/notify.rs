//! `notify`: one message to the running Region's SNS topic per phase and outcome.
//!
//! [`compose`] is pure: the subject (at most 99 characters, SNS's limit is under 100), a
//! plain-text body written for an SRE woken at 3 a.m. (what happened, what to do if
//! anything, the recovery time against the RTO, the timeline, the data at risk, the error),
//! and message attributes for subscription filters (`phase`, `status`, `plan`,
//! `execution`, `dedup_id`, and `mode` / `target_region` when known). [`handle_with`]
//! publishes it with one `Publish` call to `plan.stacks[running_region].topic_arn`.
//!
//! The approval request (`phase: approval-requested`), with the approval store configured
//! ([`ApprovalSetup::On`]): a random request id; the request's item in the running
//! Region's approvals table (`attribute_not_exists(pk)`; the record, and the task token in
//! its own attribute: `crate::approval::attr`); the stack's signing key from Secrets Manager
//! (read once per container); then the e-mail of [`compose_approval`], with an approve and a
//! reject link signed for this stack (`<APPROVAL_URL>?r=..&d=..&e=..&g=..&p=..&s=..`), which
//! open the approval function's confirmation page. Without the store ([`ApprovalSetup::Off`],
//! [`handle`]) the request names the CLI commands and a fingerprint of the token.
//!
//! Never in a message, a log line or the output: the approval task token, values under
//! secret-looking keys, presigned URLs and the signing key.
//!
//! Idempotency: SNS `Publish` is not idempotent, and a retried task may publish twice.
//! Every message carries `dedup_id`, a hash of the input that does not change between
//! attempts, so a subscriber (or a mail filter) can drop repeats; nothing heavier is worth
//! it for notifications. An approval request's `dedup_id` also hashes its request id: each
//! attempt records a new request with its own links, and dropping one would drop the links
//! that work.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_sns::types::MessageAttributeValue;
use failover_core::approval::{
    ApprovalRecord, Decision, Link, Reason, RequestId, Status, StoredApproval, new_request_id, sign, unix_seconds,
};
use failover_core::contract::Mode;
use failover_core::contract::notify::{NotifyInput, NotifyOutput, Phase};
use failover_core::{Plan, StepError, time_fmt};
use sha2::{Digest, Sha256};

use crate::approval::{KeyCache, RETENTION, Store};
use crate::aws::{AwsClients, classify};

/// SNS: "Subjects must be ... less than 100 characters long."
pub const MAX_SUBJECT: usize = 99;
/// Far below SNS's 256 KiB, and more than anyone reads in an e-mail.
const MAX_BODY: usize = 64 * 1024;
/// How many lines of free detail are shown.
const MAX_DETAIL_LINES: usize = 40;
/// How many databases an approval e-mail lists.
const MAX_RISK_LINES: usize = 8;

/// The state of the failover machine that asks whether to continue as an unplanned
/// failover after a refused switchover: its decision is about an unplanned failover, whatever
/// the execution's `mode` still says (it switches only once approved).
pub const ASK_CONTINUE_UNPLANNED: &str = "AskContinueUnplanned";

/// A composed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub body: String,
    pub attributes: BTreeMap<String, String>,
    pub dedup_id: String,
}

/// The notify function's configuration, built once in its `main.rs`.
#[derive(Debug, Default)]
pub struct Config {
    pub approvals: ApprovalSetup,
}

/// How approval requests are made.
#[derive(Debug, Default)]
pub enum ApprovalSetup {
    /// No approval store: the request names the CLI commands only.
    #[default]
    Off,
    /// Each request is recorded in the approvals table and e-mailed with signed links.
    On(ApprovalSettings),
    /// Partly or wrongly configured: every approval request fails with this problem
    /// (`Failover.Internal`, nothing recorded or published); other phases publish.
    Broken(String),
}

/// Where approval requests are recorded and how their links are made.
#[derive(Debug)]
pub struct ApprovalSettings {
    /// `APPROVALS_TABLE`: the table of this stack, in the running Region.
    pub table: String,
    /// `APPROVAL_SECRET_ARN`: the key that signs the links; the approval function checks
    /// them with the same secret.
    pub secret_arn: String,
    /// `APPROVAL_URL`: the approval function's Function URL, normalised (`https://.../`).
    pub approval_url: String,
    /// `FAILOVER_STATE_MACHINE_ARN`: gives the record the execution's ARN (else the state
    /// passes it as `detail.execution_arn`, else the record holds the execution's name).
    pub state_machine_arn: Option<String>,
    /// How long an item outlives its request before the table's TTL removes it.
    pub retention: Duration,
    keys: KeyCache,
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

impl ApprovalSettings {
    /// Checks the approval URL: `https`, or `http` on loopback (a drill), without a query or
    /// a fragment.
    pub fn new(
        table: String,
        secret_arn: String,
        approval_url: String,
        state_machine_arn: Option<String>,
    ) -> Result<Self, String> {
        let url = url::Url::parse(approval_url.trim())
            .map_err(|e| format!("APPROVAL_URL: `{approval_url}` is not a URL ({e})"))?;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) {
            return Err(format!("APPROVAL_URL: `{approval_url}` must be https (http only on loopback, for drills)"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("APPROVAL_URL: `{approval_url}` must have no query and no fragment"));
        }
        if let Some(m) = &state_machine_arn
            && crate::approval::execution_arn(m, "x").is_none()
        {
            return Err(format!("FAILOVER_STATE_MACHINE_ARN: `{m}` is not a state machine ARN"));
        }
        Ok(Self {
            table,
            secret_arn,
            approval_url: url.to_string(),
            state_machine_arn,
            retention: RETENTION,
            keys: KeyCache::default(),
        })
    }
}

impl Config {
    /// From the values of `APPROVALS_TABLE`, `APPROVAL_SECRET_ARN`, `APPROVAL_URL` and
    /// `FAILOVER_STATE_MACHINE_ARN` as `main.rs` read them: none of the first three set is
    /// [`ApprovalSetup::Off`], all three [`ApprovalSetup::On`], some [`ApprovalSetup::Broken`].
    pub fn from_values(
        table: Option<String>,
        secret_arn: Option<String>,
        approval_url: Option<String>,
        state_machine_arn: Option<String>,
    ) -> Self {
        let approvals = match (non_empty(table), non_empty(secret_arn), non_empty(approval_url)) {
            (None, None, None) => ApprovalSetup::Off,
            (Some(t), Some(s), Some(u)) => match ApprovalSettings::new(t, s, u, non_empty(state_machine_arn)) {
                Ok(settings) => ApprovalSetup::On(settings),
                Err(problem) => ApprovalSetup::Broken(problem),
            },
            (t, s, u) => {
                let missing: Vec<&str> = [
                    ("APPROVALS_TABLE", t.is_none()),
                    ("APPROVAL_SECRET_ARN", s.is_none()),
                    ("APPROVAL_URL", u.is_none()),
                ]
                .into_iter()
                .filter(|(_, missing)| *missing)
                .map(|(name, _)| name)
                .collect();
                ApprovalSetup::Broken(format!(
                    "{} not set: approval requests need APPROVALS_TABLE, APPROVAL_SECRET_ARN and APPROVAL_URL",
                    missing.join(", ")
                ))
            }
        };
        Config { approvals }
    }
}

/// Publishes the message of `input` without an approval store: [`handle_with`] with
/// [`Config::default`] (an approval request then names the CLI commands).
pub async fn handle(input: NotifyInput, clients: &AwsClients) -> Result<NotifyOutput, StepError> {
    handle_with(input, clients, &Config::default()).await
}

/// Publishes the message of `input` to the running Region's topic; an approval request is
/// first recorded, when `config` has the approval store.
pub async fn handle_with(input: NotifyInput, clients: &AwsClients, config: &Config) -> Result<NotifyOutput, StepError> {
    input.validate()?;
    if input.phase == Phase::ApprovalRequested {
        match &config.approvals {
            ApprovalSetup::On(settings) => return request_approval(input, clients, settings).await,
            ApprovalSetup::Broken(problem) => return Err(StepError::internal(format!("configuration: {problem}"))),
            ApprovalSetup::Off => {}
        }
    }
    let now = clients.clock.now();
    let msg = compose(&input, now);
    let topic = topic_of(&input)?;
    let message_id = publish(clients, &input.running_region, &topic, &msg).await?;
    tracing::info!(phase = %input.phase, topic = %topic, message_id = %message_id, dedup_id = %msg.dedup_id, "notification published");
    Ok(output(&input, topic, message_id, msg, now, None))
}

/// What notify answers once a message is published.
fn output(
    input: &NotifyInput,
    topic_arn: String,
    message_id: String,
    msg: Message,
    now: SystemTime,
    request_id: Option<failover_core::approval::RequestId>,
) -> NotifyOutput {
    NotifyOutput {
        phase: input.phase,
        topic_arn,
        message_id,
        dedup_id: msg.dedup_id,
        subject: msg.subject,
        published_at: time_fmt::rfc3339(now),
        request_id,
    }
}

fn topic_of(input: &NotifyInput) -> Result<String, StepError> {
    let region = &input.running_region;
    input
        .plan
        .stacks
        .get(region)
        .map(|s| s.topic_arn.clone())
        .ok_or_else(|| StepError::bad_input(format!("plan.stacks: no stack for running_region `{region}`")))
}

/// One `Publish`; SNS's message id.
async fn publish(clients: &AwsClients, region: &str, topic: &str, msg: &Message) -> Result<String, StepError> {
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
    Ok(out.message_id().unwrap_or_default().to_string())
}

/// The approval request: read the key, record the request, then e-mail its links (in this
/// order: a request is never e-mailed before it is recorded, nor recorded with links that
/// cannot be signed).
async fn request_approval(
    input: NotifyInput,
    clients: &AwsClients,
    settings: &ApprovalSettings,
) -> Result<NotifyOutput, StepError> {
    let now = clients.clock.now();
    let region = input.running_region.clone();
    let topic = topic_of(&input)?;
    let Some(task) = input.approval.as_ref() else {
        return Err(StepError::bad_input("approval: required with phase approval-requested"));
    };
    let key = settings.keys.get(clients, &settings.secret_arn, &region).await?;
    let record = approval_record(&input, settings, now)?;
    let stored = StoredApproval { record, task_token: task.task_token.clone() };
    Store::new(clients, &region, &settings.table).put(&stored, unix_seconds(now), settings.retention).await?;
    let record = stored.record;
    tracing::info!(
        request_id = %record.request_id,
        execution = %record.execution_arn,
        expires_at = record.expires_at,
        "approval request recorded"
    );
    let note = secret_note(&input.plan, &region, &settings.secret_arn);
    if let Some(note) = &note {
        tracing::warn!(request_id = %record.request_id, note = %note, "approval secret differs from the plan's");
    }
    let links = Links::signed(&settings.approval_url, key.bytes(), &record, &region);
    let msg = compose_approval(&input, &record, &links, note.as_deref(), now);
    let message_id = publish(clients, &region, &topic, &msg).await?;
    tracing::info!(
        phase = %input.phase,
        request_id = %record.request_id,
        topic = %topic,
        message_id = %message_id,
        dedup_id = %msg.dedup_id,
        "approval request published"
    );
    Ok(output(&input, topic, message_id, msg, now, Some(record.request_id)))
}

/// The record of a new approval request for `input` at `now` (a new random id, pending,
/// expiring after the plan's approval timeout).
pub fn approval_record(
    input: &NotifyInput,
    settings: &ApprovalSettings,
    now: SystemTime,
) -> Result<ApprovalRecord, StepError> {
    let plan = &input.plan;
    let target = input.target_region.clone().unwrap_or_else(|| input.running_region.clone());
    let source = plan
        .other_region(&target)
        .ok_or_else(|| StepError::bad_input(format!("target_region: `{target}` is not one of the plan's Regions")))?
        .to_string();
    let lag_seconds = worst_lag(input, &target);
    Ok(ApprovalRecord {
        request_id: new_request_id(&mut rand::rng()),
        execution_arn: execution_arn_of(input, settings.state_machine_arn.as_deref()),
        plan: plan.name.clone(),
        source,
        target,
        mode: approval_mode(input)?,
        reason: reason_of(input).unwrap_or(Reason::Operator { note: String::new() }),
        lag_seconds,
        rpo_seconds: plan.objectives.rpo_seconds,
        expires_at: unix_seconds(now).saturating_add(plan.approval.timeout_seconds),
        status: Status::Pending,
        // Empty: anyone who holds the link decides.
        approvers: plan.approval.approvers.clone(),
    })
}

/// The mode the decision is about.
fn approval_mode(input: &NotifyInput) -> Result<Mode, StepError> {
    if input.approval.as_ref().and_then(|a| a.state.as_deref()) == Some(ASK_CONTINUE_UNPLANNED) {
        return Ok(Mode::Unplanned);
    }
    input.mode.ok_or_else(|| {
        StepError::bad_input("mode: required with phase approval-requested (the approver is told what moves)")
    })
}

/// `detail.execution_arn` when the state passes it (`$$.Execution.Id`), else the ARN of the
/// execution of `state_machine_arn`, else the execution's name.
fn execution_arn_of(input: &NotifyInput, state_machine_arn: Option<&str>) -> String {
    if let Some(arn) = input
        .detail
        .get("execution_arn")
        .and_then(|v| v.as_str())
        .filter(|a| a.starts_with("arn:") && a.contains(":execution:"))
    {
        return arn.to_string();
    }
    state_machine_arn
        .and_then(|m| crate::approval::execution_arn(m, &input.execution.name))
        .unwrap_or_else(|| input.execution.name.clone())
}

/// `detail.reason`, when the state passes one.
fn reason_of(input: &NotifyInput) -> Option<Reason> {
    input.detail.get("reason").and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// The worst replication lag towards `target`, seconds: `None` when a database whose
/// writer is elsewhere has no reading (unknown is worse than any number).
fn worst_lag(input: &NotifyInput, target: &str) -> Option<f64> {
    if input.plan.databases.is_empty() {
        return Some(0.0);
    }
    if input.data_at_risk.is_empty() {
        return None;
    }
    let mut worst = 0.0_f64;
    for d in &input.data_at_risk {
        if d.writer_region.as_deref() == Some(target) {
            continue;
        }
        match &d.lag {
            Some(l) => worst = worst.max(l.milliseconds as f64 / 1000.0),
            None => return None,
        }
    }
    Some(worst)
}

/// Secrets Manager ARNs end in `-` and six random characters; a plan may name the secret
/// without them.
fn same_secret(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    a == b || long.strip_prefix(short).is_some_and(|rest| rest.len() == 7 && rest.starts_with('-'))
}

/// A line for the e-mail when the plan names another secret than the one that signs.
fn secret_note(plan: &Plan, region: &str, used: &str) -> Option<String> {
    let named = plan.stacks.get(region)?.approval_secret.as_deref()?;
    (!same_secret(named, used)).then(|| {
        format!(
            "Note: the plan names {named} as this stack's approval secret, but the stack signs with {used} (the \
             links work; correct the plan's stacks.{region}.approval_secret)."
        )
    })
}

/// The approve and reject URLs of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Links {
    pub approve: String,
    pub reject: String,
}

impl Links {
    /// Both links of `record`, signed under `key` for the stack of `region`.
    pub fn signed(approval_url: &str, key: &[u8], record: &ApprovalRecord, region: &str) -> Self {
        let link = |decision: Decision| Link {
            request_id: record.request_id.clone(),
            decision,
            expires_at: record.expires_at,
            region: region.to_string(),
            plan: record.plan.clone(),
        };
        Links {
            approve: format!("{approval_url}{}", sign(key, &link(Decision::Approve))),
            reject: format!("{approval_url}{}", sign(key, &link(Decision::Reject))),
        }
    }
}

/// The approval request's e-mail. Pure. The subject says the Regions, the mode and what is
/// asked; the body fits a phone's screen: the decision asked for, why, the data at risk
/// (lag against the RPO), the two links, the expiry, the line that the links are bearer
/// credentials, then the time so far and the timeline.
pub fn compose_approval(
    input: &NotifyInput,
    record: &ApprovalRecord,
    links: &Links,
    secret_note: Option<&str>,
    now: SystemTime,
) -> Message {
    let plan = &input.plan;
    let exec = &input.execution.name;
    let (source, target) = (&record.source, &record.target);
    let kind = match record.mode {
        Mode::Planned => "planned switchover",
        Mode::Unplanned => "unplanned failover",
    };
    let continuing = input.approval.as_ref().and_then(|a| a.state.as_deref()) == Some(ASK_CONTINUE_UNPLANNED);
    let ask = if continuing { format!("continue as {kind}") } else { kind.to_string() };
    let subject = subject(&format!("[failover {}] APPROVE? {ask} {source} -> {target} ({exec})", plan.name));

    let mut b = String::new();
    let _ = writeln!(b, "DECIDE: {ask} of {} from {source} to {target}?", plan.name);
    if let Some(q) = input.approval.as_ref().and_then(|a| a.question.as_deref()).filter(|q| !q.trim().is_empty()) {
        let _ = writeln!(b, "{}", one_line(q, 300));
    }
    if let Some(reason) = reason_of(input) {
        let _ = writeln!(b, "Why: {}", reason_line(&reason));
    }
    let _ = writeln!(b);
    for l in risk_lines(input, record) {
        let _ = writeln!(b, "{l}");
    }
    let _ = writeln!(b);
    let _ = writeln!(b, "Approve: {}", links.approve);
    let _ = writeln!(b);
    let _ = writeln!(b, "Reject: {}", links.reject);
    let _ = writeln!(b);
    if !record.approvers.is_empty() {
        let _ = writeln!(
            b,
            "Only the plan's approvers may decide (type your name as listed): {}.",
            one_line(&record.approvers.join(", "), 600)
        );
    }
    let expiry = UNIX_EPOCH + Duration::from_secs(record.expires_at);
    let _ = writeln!(
        b,
        "Each link opens a confirmation page; only its button decides. Expires {} (in {}); without a decision \
         nothing moves.",
        clock_time(expiry),
        time_fmt::elapsed(expiry.duration_since(now).unwrap_or_default())
    );
    let _ = writeln!(b, "The links are a bearer credential: anyone with this e-mail can use them. Do not forward it.");
    if let Some(note) = secret_note {
        let _ = writeln!(b, "{}", one_line(note, 600));
    }
    let started = time_fmt::parse_rfc3339(&input.execution.started_at).ok();
    if let Some(started) = started {
        let elapsed = now.duration_since(started).unwrap_or_default();
        let _ = writeln!(
            b,
            "\nElapsed so far: {} since the execution started (RTO {}; the wait for approval counts).",
            time_fmt::elapsed(elapsed),
            time_fmt::elapsed(Duration::from_secs(plan.objectives.rto_seconds))
        );
    }
    write_timeline(&mut b, input, started, now);
    let _ = writeln!(
        b,
        "\nExecution {exec} (started {}), plan {}, request {}, from {}.",
        input.execution.started_at, plan.name, record.request_id, input.running_region
    );

    let mut body = truncate(&b, MAX_BODY);
    let mut subject = subject;
    if let Some(t) = input.approval.as_ref().map(|a| a.task_token.expose()).filter(|t| !t.is_empty()) {
        // Belt and braces: whatever a free-text field carried, the token does not leave.
        body = body.replace(t, "[redacted]");
        subject = subject.replace(t, "[redacted]");
    }
    let dedup_id = approval_dedup_id(input, &record.request_id);
    let mut attributes = attributes(input, &dedup_id);
    attributes.insert("request_id".into(), record.request_id.to_string());
    Message { subject, body, attributes, dedup_id }
}

fn reason_line(reason: &Reason) -> String {
    match reason {
        Reason::Alarms { alarms } if alarms.is_empty() => "canary alarms".to_string(),
        Reason::Alarms { alarms } => one_line(&format!("canary alarms: {}", alarms.join(", ")), 300),
        Reason::Operator { note } if note.trim().is_empty() => "started by an operator".to_string(),
        Reason::Operator { note } => format!("started by an operator: {}", one_line(note, 200)),
    }
}

/// What the decision risks: the headline (lag against the RPO), then one line per database.
fn risk_lines(input: &NotifyInput, record: &ApprovalRecord) -> Vec<String> {
    let rpo = record.rpo_seconds;
    let (source, target) = (&record.source, &record.target);
    let mut out = vec![match (record.mode, record.lag_seconds) {
        (Mode::Unplanned, Some(lag)) => format!(
            "At risk: up to {lag:.1} s of writes to {source} not yet replicated to {target} (RPO {rpo} s){}.",
            if lag > rpo as f64 { ", OVER THE RPO" } else { "" }
        ),
        (Mode::Unplanned, None) => {
            format!("At risk: UNKNOWN, a database's replication lag is not known (RPO {rpo} s).")
        }
        (Mode::Planned, Some(lag)) => {
            format!("Replication lag {lag:.1} s (RPO {rpo} s): a switchover waits for it and loses nothing.")
        }
        (Mode::Planned, None) => {
            format!("Replication lag unknown (RPO {rpo} s): a switchover waits for replication and loses nothing.")
        }
    }];
    for d in input.data_at_risk.iter().take(MAX_RISK_LINES) {
        let lag = match &d.lag {
            Some(l) => {
                let at = time_fmt::parse_rfc3339(&l.at).map(clock_time).unwrap_or_else(|_| l.at.clone());
                format!("{} ms lag at {at}", l.milliseconds)
            }
            None if d.writer_region.as_deref() == Some(target.as_str()) => "none: the target already writes".into(),
            None => "lag unknown".into(),
        };
        out.push(format!("  {}: {lag}", d.database));
    }
    if input.data_at_risk.len() > MAX_RISK_LINES {
        out.push(format!("  ... and {} more", input.data_at_risk.len() - MAX_RISK_LINES));
    }
    out
}

/// [`dedup_id`] and the request id: each attempt's request is its own.
fn approval_dedup_id(input: &NotifyInput, request_id: &RequestId) -> String {
    let hash = Sha256::digest(format!("{}\n{request_id}", dedup_id(input)).as_bytes());
    hash.iter().take(16).map(|b| format!("{b:02x}")).collect()
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
        if !plan.approval.approvers.is_empty() {
            let _ = writeln!(
                b,
                "Only the plan's approvers may decide (--as, your name as listed): {}.",
                one_line(&plan.approval.approvers.join(", "), 600)
            );
        }
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
            let verdict = |d: Duration| {
                if d <= rto {
                    format!("within the RTO of {}", time_fmt::elapsed(rto))
                } else {
                    format!("OVER the RTO of {} by {}", time_fmt::elapsed(rto), time_fmt::elapsed(d - rto))
                }
            };
            match recovery_time(input, started) {
                Some((measured, waited)) if input.phase == Phase::Succeeded => {
                    let _ = writeln!(
                        b,
                        "Recovery time: {} from the start to clients and writers on {}{}, {}.",
                        time_fmt::elapsed(measured),
                        input.target_region.as_deref().unwrap_or("the target"),
                        if waited.is_zero() {
                            String::new()
                        } else {
                            format!(", less {} waiting for approval (reported apart)", time_fmt::elapsed(waited))
                        },
                        verdict(measured)
                    );
                    let _ = writeln!(
                        b,
                        "  Clients are counted from the authoritative DNS change plus the TTL; resolvers that keep \
                         answers longer are not seen from here (a drill observes them)."
                    );
                }
                _ => {
                    let label = if input.phase == Phase::Succeeded { "Recovery time" } else { "Elapsed so far" };
                    let _ = writeln!(
                        b,
                        "{label}: {} since the execution started, {}.",
                        time_fmt::elapsed(elapsed),
                        verdict(elapsed)
                    );
                }
            }
        }
    }

    if let Some((name, message)) = &error {
        let _ = writeln!(b, "\nError: {name}");
        if !message.is_empty() {
            let _ = writeln!(b, "  {}", one_line(message, 2000));
        }
    }

    write_timeline(&mut b, input, started, now);

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
    let attributes = attributes(input, &dedup_id);
    Message { subject, body, attributes, dedup_id }
}

/// The timeline block: each phase so far with its offset from the start, then this message.
/// The recovery time as `failover_core::rto` defines it, from what the execution knows: the
/// timeline's `clients-switched` (the DNS watch's authoritative change plus the TTL), the
/// writers as the state machine saw them in the target, less the approval waits. `None`
/// until clients have switched. Also returns the time waited.
fn recovery_time(input: &NotifyInput, started: SystemTime) -> Option<(Duration, Duration)> {
    let clients = input
        .timeline
        .iter()
        .filter(|e| e.phase == "clients-switched")
        .filter_map(|e| time_fmt::parse_rfc3339(&e.at).ok())
        .max()?;
    let writers: Vec<Option<SystemTime>> =
        input.writers_moved_at.iter().map(|w| time_fmt::parse_rfc3339(w).ok()).collect();
    let served = failover_core::rto::served_at(clients, &writers)?;
    let waits: Vec<failover_core::rto::Wait> = input.approvals.iter().flatten().filter_map(|a| a.wait()).collect();
    Some((failover_core::rto::recovery_time(started, served, &waits), failover_core::rto::waited(&waits)))
}

fn write_timeline(b: &mut String, input: &NotifyInput, started: Option<SystemTime>, now: SystemTime) {
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
}

/// The message attributes subscription filters key on.
fn attributes(input: &NotifyInput, dedup_id: &str) -> BTreeMap<String, String> {
    let mut attributes = BTreeMap::new();
    attributes.insert("phase".into(), input.phase.as_str().to_string());
    attributes.insert("status".into(), input.phase.status().as_str().to_string());
    attributes.insert("plan".into(), input.plan.name.clone());
    attributes.insert("execution".into(), input.execution.name.clone());
    attributes.insert("dedup_id".into(), dedup_id.to_string());
    if let Some(m) = input.mode {
        attributes.insert("mode".into(), if m == Mode::Planned { "planned" } else { "unplanned" }.into());
    }
    if let Some(t) = &input.target_region {
        attributes.insert("target_region".into(), t.clone());
    }
    attributes
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
