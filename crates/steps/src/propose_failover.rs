//! `propose-failover`: a canary alarm of this Region changed state; propose a failover to
//! this Region, or say why not. The decision table is `failover_core::propose`; this module
//! reads what it needs, in this Region only, and acts:
//!
//! 1. the event (`EventBridgeEvent<CloudWatchAlarmData>`, any alarm configuration: metric
//!    math parses) -> [`AlarmEvent`]; a malformed event is `Failover.BadInput`, nothing read;
//! 2. the plan from this Region's SSM parameter (`PLAN_PARAMETER`), with its version;
//! 3. [`propose::screen`]: OK and INSUFFICIENT_DATA transitions, alarms of another Region and
//!    alarms not in the plan end here;
//! 4. the lock of the direction (`propose::lock_key`) in the stack's approvals table: held by
//!    this very event (a retried delivery) -> start (or find) the execution it names; held by
//!    another -> `already-proposed`;
//! 5. the alarm states (DescribeAlarms in this Region), the failover machine's executions
//!    (ListExecutions: one running? when did the last end?) and the routing controls (ARC's
//!    data plane: two endpoints that agree, or the only one answering) -> [`propose::decide`];
//! 6. a start takes the lock (a conditional write: of concurrent invocations exactly one
//!    wins), starts the execution named after the lock, and publishes; a refusal a person
//!    must know is published; the rest is logged and returned.
//!
//! A step never waits for AWS: the execution it starts waits for approval (unless the plan
//! sets `approval.alarm_may_fail_over_without_approval`).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use aws_lambda_events::cloudwatch_alarms::{CloudWatchAlarmData, CloudWatchAlarmStateValue};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_route53recoverycluster::types::RoutingControlState;
use aws_sdk_sfn::types::ExecutionStatus;
use failover_core::approval::unix_seconds;
use failover_core::contract::RoutingState;
use failover_core::plan::Plan;
use failover_core::propose::{
    self, AlarmEvent, AlarmState, ArcView, Decision, Ignored, Observation, Proposal, Refusal,
};
use failover_core::{ErrorKind, StepError};
use serde::Serialize;

use crate::aws::{AwsClients, classify};
use crate::verify_health;

/// The event's `source` and `detail-type` (the template's rule matches these).
pub const SOURCE: &str = "aws.cloudwatch";
pub const DETAIL_TYPE: &str = "CloudWatch Alarm State Change";

/// The attributes of a proposal lock in the approvals table (key `pk`, TTL `expires_at`).
pub mod attr {
    /// S: `propose::lock_key(plan, source, target)`.
    pub const PK: &str = "pk";
    /// S: `proposal-lock`.
    pub const KIND: &str = "kind";
    pub const PLAN: &str = "plan";
    pub const SOURCE_REGION: &str = "source_region";
    pub const TARGET_REGION: &str = "target_region";
    /// S: the execution the lock's holder starts.
    pub const EXECUTION_NAME: &str = "execution_name";
    /// S: the EventBridge event id of the holder (a retried delivery keeps it).
    pub const EVENT_ID: &str = "event_id";
    pub const ALARM: &str = "alarm";
    /// N: unix seconds.
    pub const TAKEN_AT: &str = "taken_at";
    /// N: unix seconds until which the lock holds; tested by the condition itself (expired
    /// items linger until DynamoDB's TTL sweep, and still satisfy conditions).
    pub const LOCKED_UNTIL: &str = "locked_until";
    /// N: DynamoDB's TTL: `locked_until` plus the audit retention.
    pub const EXPIRES_AT: &str = "expires_at";
}

/// The lock's condition: nobody holds it, or the holder's time is over.
pub const LOCK_CONDITION: &str = "attribute_not_exists(pk) OR #u <= :now";

/// How long a lock item is kept after it stops holding: the audit of who proposed what.
pub const LOCK_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// The function's configuration (its environment, read by `main`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The Region the function runs in (`AWS_REGION`).
    pub region: String,
    /// `APPROVALS_TABLE`: the stack's table, where the locks live.
    pub table: String,
    /// `FAILOVER_STATE_MACHINE_ARN`: the failover machine of this stack.
    pub state_machine_arn: String,
    /// `PLAN_PARAMETER`: `/failover/<name>/plan`.
    pub plan_parameter: String,
    /// `TOPIC_ARN`: this stack's topic.
    pub topic_arn: String,
}

impl Config {
    /// The configuration from the environment's values, or what is missing.
    pub fn from_values(
        region: Option<String>,
        table: Option<String>,
        state_machine_arn: Option<String>,
        plan_parameter: Option<String>,
        topic_arn: Option<String>,
    ) -> Result<Config, String> {
        let mut missing = Vec::new();
        let mut get = |name: &str, v: Option<String>| {
            let v = v.filter(|s| !s.trim().is_empty());
            if v.is_none() {
                missing.push(name.to_string());
            }
            v.unwrap_or_default()
        };
        let config = Config {
            region: get("AWS_REGION", region),
            table: get("APPROVALS_TABLE", table),
            state_machine_arn: get("FAILOVER_STATE_MACHINE_ARN", state_machine_arn),
            plan_parameter: get("PLAN_PARAMETER", plan_parameter),
            topic_arn: get("TOPIC_ARN", topic_arn),
        };
        if missing.is_empty() { Ok(config) } else { Err(format!("missing {}", missing.join(", "))) }
    }
}

/// What one invocation decided and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProposeOutput {
    #[serde(flatten)]
    pub decision: Decision,
    /// The execution started (or found, for a retried delivery).
    pub execution_arn: Option<String>,
    /// Whether a notification was published.
    pub notified: bool,
    /// One line saying what happened and why.
    pub message: String,
}

/// Parses a "CloudWatch Alarm State Change" event. Every problem names its field.
pub fn parse_event(value: serde_json::Value) -> Result<AlarmEvent, StepError> {
    let event: EventBridgeEvent<CloudWatchAlarmData> = failover_core::contract::parse_input(value)?;
    if event.source != SOURCE {
        return Err(StepError::bad_input(format!("source: `{}` is not `{SOURCE}`", event.source)));
    }
    if event.detail_type != DETAIL_TYPE {
        return Err(StepError::bad_input(format!("detail-type: `{}` is not `{DETAIL_TYPE}`", event.detail_type)));
    }
    let id = event.id.filter(|s| !s.is_empty()).ok_or_else(|| StepError::bad_input("id: missing"))?;
    let region = event.region.filter(|s| !s.is_empty()).ok_or_else(|| StepError::bad_input("region: missing"))?;
    let alarm = event.detail.alarm_name;
    if alarm.trim().is_empty() {
        return Err(StepError::bad_input("detail.alarmName: must not be empty"));
    }
    let state = event.detail.state.ok_or_else(|| StepError::bad_input("detail.state: missing"))?;
    let state = state_of(&state.value).ok_or_else(|| StepError::bad_input("detail.state.value: unknown state"))?;
    let previous = event.detail.previous_state.and_then(|p| state_of(&p.value));
    Ok(AlarmEvent { id, alarm, region, state, previous })
}

fn state_of(v: &CloudWatchAlarmStateValue) -> Option<AlarmState> {
    match v {
        CloudWatchAlarmStateValue::Ok => Some(AlarmState::Ok),
        CloudWatchAlarmStateValue::Alarm => Some(AlarmState::Alarm),
        CloudWatchAlarmStateValue::InsufficientData => Some(AlarmState::InsufficientData),
        _ => None,
    }
}

/// The proposer: its clients and configuration, built once per container.
pub struct Proposer {
    pub clients: AwsClients,
    pub config: Config,
}

impl std::fmt::Debug for Proposer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proposer").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Proposer {
    pub fn new(clients: AwsClients, config: Config) -> Self {
        Self { clients, config }
    }
}

/// One event (module docs).
pub async fn handle(event: serde_json::Value, deps: &Proposer) -> Result<ProposeOutput, StepError> {
    let event = parse_event(event)?;
    let here = deps.config.region.as_str();
    let (plan, version) = read_plan(deps).await?;
    if !plan.has_region(here) {
        return Err(StepError::bad_input(format!(
            "the plan in {} is for {} and {}, not this Region ({here})",
            deps.config.plan_parameter, plan.regions.primary, plan.regions.secondary
        )));
    }
    let watched = match propose::screen(&plan, &event, here) {
        Ok(r) => r,
        Err(ignored) => return Ok(ignore(ignored, here, &event)),
    };
    let key = propose::lock_key(&plan.name, &watched, here);
    let now = deps.clients.clock.now();

    // A retried delivery of the event that holds the lock resumes its own start.
    if let Some(lock) = read_lock(deps, &key).await?
        && lock.held_at(now)
    {
        if lock.event_id == event.id {
            return resume(deps, &plan, &version, &event, &watched, &lock).await;
        }
        return Ok(ignore(Ignored::AlreadyProposed { execution: lock.execution_name }, here, &event));
    }

    let obs = observe(deps, &plan, &watched, now).await?;
    let decision = propose::decide(&plan, &event, &obs);
    match decision {
        Decision::Ignore(ignored) => Ok(ignore(ignored, here, &event)),
        Decision::Notify(refusal) => {
            let message = refusal.message(here);
            tracing::warn!(alarm = %event.alarm, event_id = %event.id, %message, "propose-failover: refused");
            publish(deps, &plan, &refusal_subject(&plan, &refusal, here), &refusal_body(&plan, &event, &message))
                .await?;
            if matches!(refusal, Refusal::RoutingUnreadable { .. }) {
                // Worth another try (Lambda retries an asynchronous invocation): three of the
                // five endpoints are up at any time.
                return Err(StepError::new(ErrorKind::EndpointsUnavailable, message));
            }
            Ok(ProposeOutput { decision: Decision::Notify(refusal), execution_arn: None, notified: true, message })
        }
        Decision::Start(proposal) => {
            let lock = Lock {
                execution_name: proposal.execution_name.clone(),
                event_id: event.id.clone(),
                locked_until: unix_seconds(now + propose::lock_duration(&plan)),
            };
            match take_lock(deps, &plan, &key, &proposal, &event, &lock, now).await? {
                Taken::Ours => {}
                Taken::HeldBy(other) if other.event_id == event.id => {
                    // A concurrent delivery of the same event won: it starts the same name.
                    return resume(deps, &plan, &version, &event, &watched, &other).await;
                }
                Taken::HeldBy(other) => {
                    return Ok(ignore(Ignored::AlreadyProposed { execution: other.execution_name }, here, &event));
                }
            }
            start(deps, &plan, &version, proposal).await
        }
    }
}

fn ignore(ignored: Ignored, here: &str, event: &AlarmEvent) -> ProposeOutput {
    let message = ignored_message(&ignored, here, event);
    tracing::info!(alarm = %event.alarm, event_id = %event.id, %message, "propose-failover: nothing to do");
    ProposeOutput { decision: Decision::Ignore(ignored), execution_arn: None, notified: false, message }
}

fn ignored_message(ignored: &Ignored, here: &str, event: &AlarmEvent) -> String {
    let alarm = &event.alarm;
    match ignored {
        Ignored::OkTransition => format!("{alarm} went to OK: nothing to propose"),
        Ignored::InsufficientData => {
            format!("{alarm} went to INSUFFICIENT_DATA: no evidence of an outage (missing data is breaching)")
        }
        Ignored::UnknownAlarm => format!("{alarm} is not a canary of {here} watching the other Region in the plan"),
        Ignored::OwnSignal => format!("{alarm} is one of {here}'s own signals: it says nothing about the other Region"),
        Ignored::OtherRegion { alarm_region } => {
            format!("{alarm} lives in {alarm_region}; only the proposer there judges it")
        }
        Ignored::AlreadyRunning { execution } => format!("execution {execution} is running: no second one"),
        Ignored::Cooldown { until, .. } => format!(
            "the last failover execution ended less than the plan's cooldown ago (until {})",
            failover_core::time_fmt::rfc3339(*until)
        ),
        Ignored::WatchersNotAllInAlarm { states } => format!(
            "not every canary of {here} watching the other Region is in ALARM now ({})",
            states.iter().map(|(n, s)| format!("{n} {s}")).collect::<Vec<_>>().join(", ")
        ),
        Ignored::AlreadyProposed { execution } => {
            format!("this failover was proposed already by another alarm event: execution {execution}")
        }
    }
}

/// The plan from this Region's parameter, validated, and the parameter's version.
async fn read_plan(deps: &Proposer) -> Result<(Plan, String), StepError> {
    let name = &deps.config.plan_parameter;
    let region = &deps.config.region;
    let out = deps
        .clients
        .ssm
        .get(region)
        .get_parameter()
        .name(name)
        .send()
        .await
        .map_err(|e| classify(&e).into_step_error(&format!("GetParameter {name} in {region}")))?;
    let p = out
        .parameter()
        .ok_or_else(|| StepError::internal(format!("GetParameter {name} in {region}: no parameter in the answer")))?;
    let text = p.value().unwrap_or_default();
    // scripts/publish-plan writes the plan as JSON (the Automation documents substitute it
    // into execution inputs); a hand-written YAML copy is read too.
    let parsed = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => Plan::from_json_value(v),
        Err(_) => Plan::from_yaml(text),
    };
    let plan = parsed.map_err(|errors| {
        let lines: Vec<String> = errors.0.iter().map(|p| p.to_string()).collect();
        StepError::bad_input(format!("the plan in {name} ({region}, version {}): {}", p.version(), lines.join("; ")))
    })?;
    Ok((plan, p.version().to_string()))
}

/// A proposal lock as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Lock {
    execution_name: String,
    event_id: String,
    locked_until: u64,
}

impl Lock {
    fn held_at(&self, now: SystemTime) -> bool {
        self.locked_until > unix_seconds(now)
    }

    fn of(item: &HashMap<String, AttributeValue>) -> Option<Lock> {
        let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        let n = |k: &str| item.get(k).and_then(|v| v.as_n().ok()).and_then(|v| v.parse::<u64>().ok());
        Some(Lock {
            execution_name: s(attr::EXECUTION_NAME)?,
            event_id: s(attr::EVENT_ID)?,
            locked_until: n(attr::LOCKED_UNTIL)?,
        })
    }
}

enum Taken {
    Ours,
    HeldBy(Lock),
}

async fn read_lock(deps: &Proposer, key: &str) -> Result<Option<Lock>, StepError> {
    let out = deps
        .clients
        .dynamodb
        .get(&deps.config.region)
        .get_item()
        .table_name(&deps.config.table)
        .key(attr::PK, AttributeValue::S(key.to_string()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| {
            classify(&e).into_step_error(&format!("GetItem {key} of {} ({})", deps.config.table, deps.config.region))
        })?;
    Ok(out.item().and_then(Lock::of))
}

/// The conditional write that decides which of concurrent invocations starts.
async fn take_lock(
    deps: &Proposer,
    plan: &Plan,
    key: &str,
    proposal: &Proposal,
    event: &AlarmEvent,
    lock: &Lock,
    now: SystemTime,
) -> Result<Taken, StepError> {
    let s = |v: &str| AttributeValue::S(v.to_string());
    let n = |v: u64| AttributeValue::N(v.to_string());
    let item = HashMap::from([
        (attr::PK.to_string(), s(key)),
        (attr::KIND.to_string(), s("proposal-lock")),
        (attr::PLAN.to_string(), s(&plan.name)),
        (attr::SOURCE_REGION.to_string(), s(&proposal.source_region)),
        (attr::TARGET_REGION.to_string(), s(&proposal.target_region)),
        (attr::EXECUTION_NAME.to_string(), s(&lock.execution_name)),
        (attr::EVENT_ID.to_string(), s(&lock.event_id)),
        (attr::ALARM.to_string(), s(&event.alarm)),
        (attr::TAKEN_AT.to_string(), n(unix_seconds(now))),
        (attr::LOCKED_UNTIL.to_string(), n(lock.locked_until)),
        (attr::EXPIRES_AT.to_string(), n(lock.locked_until.saturating_add(LOCK_RETENTION.as_secs()))),
    ]);
    let sent = deps
        .clients
        .dynamodb
        .get(&deps.config.region)
        .put_item()
        .table_name(&deps.config.table)
        .set_item(Some(item))
        .condition_expression(LOCK_CONDITION)
        .expression_attribute_names("#u", attr::LOCKED_UNTIL)
        .expression_attribute_values(":now", n(unix_seconds(now)))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await;
    match sent {
        Ok(_) => Ok(Taken::Ours),
        Err(e) => {
            if let Some(PutItemError::ConditionalCheckFailedException(c)) = e.as_service_error() {
                let held = c.item().and_then(Lock::of);
                return match held {
                    Some(l) => Ok(Taken::HeldBy(l)),
                    // The winner's item did not come back: read it.
                    None => match read_lock(deps, key).await? {
                        Some(l) => Ok(Taken::HeldBy(l)),
                        None => Err(StepError::transient(format!("the lock {key} was taken and is gone; try again"))),
                    },
                };
            }
            Err(classify(&e)
                .into_step_error(&format!("PutItem {key} of {} ({})", deps.config.table, deps.config.region)))
        }
    }
}

/// Reads what the decision needs, in this Region: alarm states, executions, routing.
async fn observe(deps: &Proposer, plan: &Plan, watched: &str, now: SystemTime) -> Result<Observation, StepError> {
    let here = deps.config.region.as_str();
    let mut names: Vec<String> =
        plan.watchers_of(watched).into_iter().filter(|(_, home)| *home == here).map(|(n, _)| n.to_string()).collect();
    names.extend(plan.own_alarms_of(here).into_iter().map(str::to_string));
    let alarms = alarm_states(deps, names).await?;
    let (running, last_ended) = executions(deps).await?;
    let arc = routing(deps, plan, watched).await?;
    Ok(Observation { here: here.to_string(), alarms, running, last_ended, now, arc })
}

async fn alarm_states(deps: &Proposer, names: Vec<String>) -> Result<BTreeMap<String, AlarmState>, StepError> {
    let region = &deps.config.region;
    let out = deps
        .clients
        .cloudwatch
        .get(region)
        .describe_alarms()
        .set_alarm_names(Some(names))
        .send()
        .await
        .map_err(|e| classify(&e).into_step_error(&format!("DescribeAlarms in {region}")))?;
    let metric = out.metric_alarms().iter().filter_map(|a| Some((a.alarm_name()?, a.state_value()?.as_str())));
    let composite = out.composite_alarms().iter().filter_map(|a| Some((a.alarm_name()?, a.state_value()?.as_str())));
    // A state this code does not know is not OK: it cannot vouch for anything.
    Ok(metric
        .chain(composite)
        .map(|(n, s)| (n.to_string(), AlarmState::parse(s).unwrap_or(AlarmState::InsufficientData)))
        .collect())
}

/// A running execution of the failover machine, and when the last closed one ended.
async fn executions(deps: &Proposer) -> Result<(Option<String>, Option<SystemTime>), StepError> {
    let region = &deps.config.region;
    let arn = &deps.config.state_machine_arn;
    let sfn = deps.clients.sfn.get(region);
    let what = || format!("ListExecutions of {arn}");
    let running = sfn
        .list_executions()
        .state_machine_arn(arn)
        .status_filter(ExecutionStatus::Running)
        .max_results(1)
        .send()
        .await
        .map_err(|e| classify(&e).into_step_error(&what()))?;
    let running = running.executions().first().map(|e| e.name().to_string());
    // Newest first: the last one to end is among the most recent starts.
    let recent = sfn
        .list_executions()
        .state_machine_arn(arn)
        .max_results(20)
        .send()
        .await
        .map_err(|e| classify(&e).into_step_error(&what()))?;
    let last_ended =
        recent.executions().iter().filter_map(|e| e.stop_date()).filter_map(|d| SystemTime::try_from(*d).ok()).max();
    Ok((running, last_ended))
}

/// The routing controls of both Regions: from two endpoints, which must agree, or from the
/// only one that answers (the watched Region's endpoints last: the likeliest to hang).
async fn routing(deps: &Proposer, plan: &Plan, watched: &str) -> Result<ArcView, StepError> {
    let order = verify_health::endpoint_order(plan, Some(watched), deps.clients.seed);
    let controls = plan.routing_controls();
    let arns: Vec<&str> = controls.iter().map(|(_, a)| *a).collect();
    let view = |states: &[RoutingControlState]| -> Result<BTreeMap<String, Vec<RoutingState>>, String> {
        let mut out: BTreeMap<String, Vec<RoutingState>> = BTreeMap::new();
        for ((region, arn), s) in controls.iter().zip(states) {
            let s = match s {
                RoutingControlState::On => RoutingState::On,
                RoutingControlState::Off => RoutingState::Off,
                other => return Err(format!("{arn} reads the unexpected state `{}`", other.as_str())),
            };
            out.entry(region.to_string()).or_default().push(s);
        }
        Ok(out)
    };
    let read = verify_health::read_controls(plan, order, &arns, 2, &deps.clients).await?;
    if read.readings.is_empty() {
        return Ok(ArcView::Unreadable {
            detail: format!(
                "none of the {} endpoints answered; failures: {}",
                plan.arc.cluster_endpoints.len(),
                read.failures.join(", ")
            ),
        });
    }
    if read.readings.len() == 1 {
        // One endpoint is the cluster's answer (every endpoint serves the same replicated
        // state; ARC's own guidance is to try them in turn until one answers): an outage
        // that leaves one endpoint reachable must not also silence the proposer.
        return Ok(match view(&read.readings[0].states) {
            Ok(states) => ArcView::Read { states },
            Err(detail) => ArcView::Disagree { detail },
        });
    }
    let first = view(&read.readings[0].states);
    let second = view(&read.readings[1].states);
    Ok(match (first, second) {
        (Ok(a), Ok(b)) if a == b => ArcView::Read { states: a },
        (Err(e), _) | (_, Err(e)) => ArcView::Disagree { detail: e },
        _ => ArcView::Disagree {
            detail: format!(
                "{} and {} read different states",
                read.readings[0].endpoint.url, read.readings[1].endpoint.url
            ),
        },
    })
}

/// Starts the execution of a lock this invocation took.
async fn start(deps: &Proposer, plan: &Plan, version: &str, proposal: Proposal) -> Result<ProposeOutput, StepError> {
    let here = deps.config.region.clone();
    let input = propose::execution_input(plan, version, &proposal);
    let arn = start_execution(deps, &proposal.execution_name, &input).await?;
    let message = format!(
        "{} looks down from {here} ({}): failover {} -> {here} proposed as execution {}{}",
        proposal.source_region,
        proposal.reason.alarms.join(", "),
        proposal.source_region,
        proposal.execution_name,
        if waits_for_approval(plan) { ", waiting for approval" } else { " (the plan lets it run without approval)" }
    );
    tracing::warn!(execution = %arn, %message, "propose-failover: started");
    let subject =
        format!("[failover] {}: {} looks down, failover to {here} proposed", plan.name, proposal.source_region);
    let mut body = String::new();
    let _ = writeln!(body, "{message}.");
    let _ = writeln!(body);
    let _ = writeln!(
        body,
        "Canaries in {here} watching {}: {} in ALARM.",
        proposal.source_region,
        proposal.reason.alarms.join(", ")
    );
    let own: Vec<String> = proposal.reason.own_alarms.iter().map(|(n, s)| format!("{n} {s}")).collect();
    let _ = writeln!(body, "{here}'s own signals: {}.", own.join(", "));
    let _ = writeln!(body, "Routing (ARC): {} serves, {here} does not.", proposal.source_region);
    let _ = writeln!(body, "Execution: {arn}");
    let _ =
        writeln!(body, "Triggered by alarm {} (event {}).", proposal.reason.trigger.alarm, proposal.reason.trigger.id);
    // The execution is started: a lost notification must not lose it (the execution itself
    // notifies at start and asks for approval).
    let notified = match publish(deps, plan, &subject, &body).await {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(error = %e, "propose-failover: the proposal was started but not announced");
            false
        }
    };
    Ok(ProposeOutput { decision: Decision::Start(proposal), execution_arn: Some(arn), notified, message })
}

/// A retried (or concurrent) delivery of the event that holds the lock: the execution of
/// the lock's name, started now if the first attempt did not get that far.
async fn resume(
    deps: &Proposer,
    plan: &Plan,
    version: &str,
    event: &AlarmEvent,
    watched: &str,
    lock: &Lock,
) -> Result<ProposeOutput, StepError> {
    let here = deps.config.region.as_str();
    // The input of the first attempt, as far as it can be rebuilt: the alarms as the plan
    // names them. Step Functions answers ExecutionAlreadyExists when it differs, which means
    // the execution exists: that is the answer a retry wants.
    let proposal = Proposal {
        source_region: watched.to_string(),
        target_region: here.to_string(),
        execution_name: lock.execution_name.clone(),
        reason: propose::ProposalReason {
            kind: "alarms",
            alarms: plan
                .watchers_of(watched)
                .into_iter()
                .filter(|(_, home)| *home == here)
                .map(|(n, _)| n.to_string())
                .collect(),
            watched_region: watched.to_string(),
            read_in: here.to_string(),
            own_alarms: plan.own_alarms_of(here).into_iter().map(|n| (n.to_string(), AlarmState::Ok)).collect(),
            trigger: event.clone(),
        },
    };
    let input = propose::execution_input(plan, version, &proposal);
    let arn = start_execution(deps, &lock.execution_name, &input).await?;
    let message = format!("this event's proposal is execution {} (a retried delivery)", lock.execution_name);
    tracing::info!(execution = %arn, %message, "propose-failover: resumed");
    Ok(ProposeOutput { decision: Decision::Start(proposal), execution_arn: Some(arn), notified: false, message })
}

/// StartExecution; an execution of that name that exists already is the one asked for.
async fn start_execution(deps: &Proposer, name: &str, input: &serde_json::Value) -> Result<String, StepError> {
    let arn = &deps.config.state_machine_arn;
    let sent = deps
        .clients
        .sfn
        .get(&deps.config.region)
        .start_execution()
        .state_machine_arn(arn)
        .name(name)
        .input(input.to_string())
        .send()
        .await;
    match sent {
        Ok(out) => Ok(out.execution_arn().to_string()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_execution_already_exists()) => {
            crate::approval::execution_arn(arn, name)
                .ok_or_else(|| StepError::internal(format!("`{arn}` is not a state machine ARN")))
        }
        Err(e) => Err(classify(&e).into_step_error(&format!("StartExecution {name} of {arn}"))),
    }
}

/// Whether an execution started from an alarm waits for a person (statemachine
/// `NeedApproval`).
pub fn waits_for_approval(plan: &Plan) -> bool {
    !plan.approval.alarm_may_fail_over_without_approval
}

fn refusal_subject(plan: &Plan, refusal: &Refusal, here: &str) -> String {
    let what = match refusal {
        Refusal::BothImpaired { watched_region, .. } => {
            format!("{watched_region} and {here} both look impaired, no failover")
        }
        Refusal::HereNotKnownHealthy { watched_region, .. } => {
            format!("{watched_region} looks down, {here} not known healthy, no failover")
        }
        Refusal::PeerNotServing { watched_region } => {
            format!("{watched_region} looks down from {here} but does not serve")
        }
        Refusal::RoutingUnreadable { .. } => "routing controls unreadable, no failover".to_string(),
        Refusal::RoutingUnclear { .. } => "routing controls unclear, no failover".to_string(),
    };
    let s = format!("[failover] {}: {what}", plan.name);
    s.chars().take(99).collect()
}

fn refusal_body(plan: &Plan, event: &AlarmEvent, message: &str) -> String {
    let mut body = String::new();
    let _ = writeln!(body, "{message}.");
    let _ = writeln!(body);
    let _ = writeln!(
        body,
        "Plan: {}. Triggered by alarm {} in {} (event {}).",
        plan.name, event.alarm, event.region, event.id
    );
    let _ = writeln!(body, "Nothing was started. Operators can start a failover themselves if they judge it needed.");
    body
}

async fn publish(deps: &Proposer, plan: &Plan, subject: &str, body: &str) -> Result<(), StepError> {
    let region = &deps.config.region;
    let topic = &deps.config.topic_arn;
    let subject: String = subject.replace(['\r', '\n'], " ").chars().take(99).collect();
    deps.clients
        .sns
        .get(region)
        .publish()
        .topic_arn(topic)
        .subject(subject)
        .message(body)
        .send()
        .await
        .map_err(|e| classify(&e).into_step_error(&format!("Publish to {topic} in {region} ({})", plan.name)))?;
    Ok(())
}
