//! The canary-alarm proposer's decision table: whether one alarm state change starts a
//! failover, and if not, why. Pure: no clock, no AWS; `crates/steps/src/propose_failover.rs`
//! reads what [`Observation`] holds and acts on the [`Decision`].
//!
//! The proposer runs in each Region X of the pair and sees only X: EventBridge is Regional
//! and a dead Region sends nothing. It judges the other Region R by the canaries that run in
//! X and watch R (`health.<R>.alarms` living in X), and X itself by X's own signals
//! (`health.<X>.own_alarms`), both read in X. A failover R -> X is proposed only when
//!
//! 1. the event is an ALARM transition of a watcher of R that lives in X (the event's own
//!    Region is X);
//! 2. no execution of the failover machine is running, and the last one ended at least the
//!    plan's `cooldown_seconds` ago;
//! 3. every watcher of R living in X reads ALARM now (the event may be stale);
//! 4. every own signal of X reads OK (otherwise both Regions look impaired: "not a Regional
//!    problem", a person is told, nothing starts);
//! 5. the ARC routing controls, read from the cluster's data plane, say R serves and X does
//!    not (R's controls all On, X's all Off). This is the split-brain rule below.
//!
//! ## What INSUFFICIENT_DATA means
//!
//! The canaries treat missing data as breaching, so a Region that stops answering drives its
//! watchers to ALARM, not to INSUFFICIENT_DATA. INSUFFICIENT_DATA says the alarm itself has
//! nothing to judge (a new alarm, a canary that is not running, CloudWatch catching up): it
//! is a fact about the watcher, not about the watched Region. So:
//! * an event whose new state is INSUFFICIENT_DATA starts nothing (like OK);
//! * a watcher of R reading INSUFFICIENT_DATA is no evidence that R is down: nothing starts;
//! * an own signal of X reading INSUFFICIENT_DATA (or missing) means X is not known to be
//!   healthy: nothing starts, and a person is told, because moving traffic to a Region we
//!   cannot vouch for could turn a partial outage into a total one.
//!
//! ## Split brain
//!
//! In a partition both proposers can see the other Region's watchers in ALARM and their own
//! signals OK, and propose opposite failovers. ARC's data plane is the one store both
//! Regions read, but it is not a lock: UpdateRoutingControlStates has no compare-and-set.
//! So the proposer only ever proposes moving traffic **away from the Region that serves
//! now**, as the data plane says: R's controls On and X's Off. Both proposers read the same
//! state, so only the one in the Region that does not serve starts; the other is told
//! [`Refusal::PeerNotServing`] and starts nothing. When the controls cannot be read from
//! enough endpoints ([`ArcView::Unreadable`]), or the endpoints disagree, or the state is
//! neither "R serves" nor "X serves" (both On, both Off, mixed), nothing starts.
//! ARCHITECTURE.md lists what this rule does not cover.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::contract::RoutingState;
use crate::plan::{Plan, Region};
use crate::time_fmt;

/// An alarm's state, as CloudWatch and its events name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

impl AlarmState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Ok => "OK",
            AlarmState::Alarm => "ALARM",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }

    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`; anything else is `None`.
    pub fn parse(s: &str) -> Option<AlarmState> {
        match s {
            "OK" => Some(AlarmState::Ok),
            "ALARM" => Some(AlarmState::Alarm),
            "INSUFFICIENT_DATA" => Some(AlarmState::InsufficientData),
            _ => None,
        }
    }
}

impl fmt::Display for AlarmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One "CloudWatch Alarm State Change" event, as the proposer needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmEvent {
    /// EventBridge's event id: a retried delivery carries the same one.
    pub id: String,
    pub alarm: String,
    /// The Region the alarm lives in (the event's `region`).
    pub region: Region,
    pub state: AlarmState,
    pub previous: Option<AlarmState>,
}

/// What the ARC data plane says, read from the cluster endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArcView {
    /// Fewer endpoints than needed answered; `detail` names the failures.
    Unreadable { detail: String },
    /// The endpoints that answered disagree (one may answer from a stale view).
    Disagree { detail: String },
    /// Every routing control of each Region, in the plan's order, as the endpoints agree.
    Read { states: BTreeMap<Region, Vec<RoutingState>> },
}

/// Everything the decision needs, read in the proposer's own Region.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The Region the proposer runs in (X).
    pub here: Region,
    /// The current state of every alarm named below that exists in X (DescribeAlarms in X):
    /// the watchers of the other Region that live in X and X's own signals.
    pub alarms: BTreeMap<String, AlarmState>,
    /// The name of an execution of the failover machine that is running, if any.
    pub running: Option<String>,
    /// When the last execution of the failover machine ended, if any did.
    pub last_ended: Option<SystemTime>,
    pub now: SystemTime,
    pub arc: ArcView,
}

/// A failover the proposer starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Proposal {
    /// The Region that serves now and looks down (R).
    pub source_region: Region,
    /// The proposer's Region (X).
    pub target_region: Region,
    /// The execution's name, from [`execution_name`].
    pub execution_name: String,
    pub reason: ProposalReason,
}

/// Why: the execution input's `reason`, which notify and the approval page show. Its
/// `kind` and `alarms` are what `failover_core::approval::Reason::Alarms` reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProposalReason {
    /// Always `alarms`.
    pub kind: &'static str,
    /// The watchers of the source Region, all in ALARM.
    pub alarms: Vec<String>,
    pub watched_region: Region,
    /// Where the alarms live and were read (the target Region).
    pub read_in: Region,
    /// The target's own signals and their states (all OK).
    pub own_alarms: BTreeMap<String, AlarmState>,
    /// The event that triggered it.
    pub trigger: AlarmEvent,
}

/// Why nothing starts although a person must know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum Refusal {
    /// The other Region's watchers are in ALARM and so is one of this Region's own
    /// signals: not a Regional problem (or not only one); failing over would not help.
    BothImpaired { watched_region: Region, own_alarms: BTreeMap<String, String> },
    /// An own signal of this Region is INSUFFICIENT_DATA or missing: this Region is not
    /// known to be healthy, so traffic is not proposed to move here.
    HereNotKnownHealthy { watched_region: Region, own_alarms: BTreeMap<String, String> },
    /// The Region that looks down does not serve (its controls Off, this Region's On):
    /// nothing to move away from it. In a partition this is the proposer in the serving
    /// Region, and the other proposer's execution is the only one.
    PeerNotServing { watched_region: Region },
    /// The routing controls could not be read from enough endpoints.
    RoutingUnreadable { detail: String },
    /// The routing controls are neither "the other Region serves" nor "this Region serves"
    /// (both On, both Off, a Region's controls mixed, endpoints disagreeing).
    RoutingUnclear { detail: String },
}

/// Why nothing starts and nobody needs to be told (logged, returned).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum Ignored {
    /// The alarm went to OK: nothing to propose.
    OkTransition,
    /// The alarm went to INSUFFICIENT_DATA: no evidence of an outage (module docs).
    InsufficientData,
    /// The alarm is not a watcher of the other Region in the plan.
    UnknownAlarm,
    /// The alarm is one of this Region's own signals: it says nothing about the other.
    OwnSignal,
    /// The event's alarm lives in another Region than this proposer's (only that Region's
    /// proposer may judge it: alarm states are read in their own Region only).
    OtherRegion { alarm_region: Region },
    /// An execution of the failover machine is running.
    AlreadyRunning { execution: String },
    /// The last execution ended less than `cooldown_seconds` ago.
    Cooldown {
        #[serde(serialize_with = "time_fmt::serialize")]
        last_ended: SystemTime,
        #[serde(serialize_with = "time_fmt::serialize")]
        until: SystemTime,
    },
    /// Not every watcher of the other Region that lives here reads ALARM now.
    WatchersNotAllInAlarm { states: BTreeMap<String, String> },
    /// The lock of this direction is held: another invocation proposed it already.
    AlreadyProposed { execution: String },
}

/// The outcome of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
// One per alarm event, moved once: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Decision {
    Start(Proposal),
    /// Nothing starts; the proposer publishes why.
    Notify(Refusal),
    Ignore(Ignored),
}

impl Refusal {
    /// One line for the notification and the log.
    pub fn message(&self, here: &str) -> String {
        let list =
            |m: &BTreeMap<String, String>| m.iter().map(|(n, s)| format!("{n} {s}")).collect::<Vec<_>>().join(", ");
        match self {
            Refusal::BothImpaired { watched_region, own_alarms } => format!(
                "{watched_region} looks down from {here}, but so does {here} itself ({}): not a Regional problem; \
                 no failover started",
                list(own_alarms)
            ),
            Refusal::HereNotKnownHealthy { watched_region, own_alarms } => format!(
                "{watched_region} looks down from {here}, but {here} is not known to be healthy ({}); no failover \
                 started",
                list(own_alarms)
            ),
            Refusal::PeerNotServing { watched_region } => format!(
                "{watched_region} looks down from {here}, but it does not serve ({here} does, as ARC reads): nothing to \
                 move; no failover started. If this is a partition, the proposer in {watched_region} may propose \
                 moving traffic there: check both Regions before approving it"
            ),
            Refusal::RoutingUnreadable { detail } => {
                format!("the routing controls could not be read ({detail}); no failover started")
            }
            Refusal::RoutingUnclear { detail } => {
                format!("the routing controls do not say which Region serves ({detail}); no failover started")
            }
        }
    }
}

/// How long the lock of one direction holds: the cooldown, and at least as long as an
/// event can still arrive (the rule's `MaximumEventAgeInSeconds`, 900 s), so a late
/// delivery of the same storm cannot take it again.
pub fn lock_duration(plan: &Plan) -> Duration {
    Duration::from_secs(plan.cooldown_seconds.max(MAX_EVENT_AGE_SECONDS))
}

/// The canary rule's `MaximumEventAgeInSeconds` (template.yaml).
pub const MAX_EVENT_AGE_SECONDS: u64 = 900;

/// The execution started for the lock taken at `taken_at` on `source -> target`:
/// `alarm-<source>-to-<target>-<unix seconds>`. A retried invocation reads the name from the
/// lock, so it finds the execution it started instead of starting another.
pub fn execution_name(source: &str, target: &str, taken_at: SystemTime) -> String {
    format!("alarm-{source}-to-{target}-{}", crate::approval::unix_seconds(taken_at))
}

/// The lock's key in the stack's approvals table (`pk`): one per plan and direction. Request
/// ids there are 32 hex digits, so the prefix cannot collide with them.
pub fn lock_key(plan: &str, source: &str, target: &str) -> String {
    format!("proposal#{plan}#{source}->{target}")
}

/// The Region whose watcher `alarm` is, when it lives in `here`.
fn watched_by(plan: &Plan, here: &str, alarm: &str) -> Option<Region> {
    let other = plan.other_region(here)?;
    plan.watchers_of(other).iter().any(|(n, home)| *n == alarm && *home == here).then(|| other.to_string())
}

/// The rows that need nothing but the event and the plan: an ALARM transition of a watcher
/// of the other Region living in `here` gives the watched Region; anything else why not.
/// The proposer reads nothing more for an event this refuses.
pub fn screen(plan: &Plan, event: &AlarmEvent, here: &str) -> Result<Region, Ignored> {
    match event.state {
        AlarmState::Ok => return Err(Ignored::OkTransition),
        AlarmState::InsufficientData => return Err(Ignored::InsufficientData),
        AlarmState::Alarm => {}
    }
    if event.region != here {
        return Err(Ignored::OtherRegion { alarm_region: event.region.clone() });
    }
    watched_by(plan, here, &event.alarm).ok_or_else(|| {
        if plan.own_alarms_of(here).contains(&event.alarm.as_str()) {
            Ignored::OwnSignal
        } else {
            Ignored::UnknownAlarm
        }
    })
}

/// The decision table (module docs).
pub fn decide(plan: &Plan, event: &AlarmEvent, obs: &Observation) -> Decision {
    let here = obs.here.as_str();
    let watched = match screen(plan, event, here) {
        Ok(r) => r,
        Err(ignored) => return Decision::Ignore(ignored),
    };
    if let Some(execution) = &obs.running {
        return Decision::Ignore(Ignored::AlreadyRunning { execution: execution.clone() });
    }
    if let Some(last_ended) = obs.last_ended {
        let until = last_ended + Duration::from_secs(plan.cooldown_seconds);
        if obs.now < until {
            return Decision::Ignore(Ignored::Cooldown { last_ended, until });
        }
    }
    let state_of = |name: &str| obs.alarms.get(name).copied();
    let shown = |s: Option<AlarmState>| s.map_or("missing".to_string(), |s| s.as_str().to_string());

    let watchers: Vec<&str> =
        plan.watchers_of(&watched).into_iter().filter(|(_, home)| *home == here).map(|(n, _)| n).collect();
    if watchers.iter().any(|n| state_of(n) != Some(AlarmState::Alarm)) {
        let states = watchers.iter().map(|n| (n.to_string(), shown(state_of(n)))).collect();
        return Decision::Ignore(Ignored::WatchersNotAllInAlarm { states });
    }

    let own = plan.own_alarms_of(here);
    let own_shown: BTreeMap<String, String> = own.iter().map(|n| (n.to_string(), shown(state_of(n)))).collect();
    if own.iter().any(|n| state_of(n) == Some(AlarmState::Alarm)) {
        return Decision::Notify(Refusal::BothImpaired { watched_region: watched, own_alarms: own_shown });
    }
    if own.is_empty() || own.iter().any(|n| state_of(n) != Some(AlarmState::Ok)) {
        return Decision::Notify(Refusal::HereNotKnownHealthy { watched_region: watched, own_alarms: own_shown });
    }

    let states = match &obs.arc {
        ArcView::Unreadable { detail } => {
            return Decision::Notify(Refusal::RoutingUnreadable { detail: detail.clone() });
        }
        ArcView::Disagree { detail } => return Decision::Notify(Refusal::RoutingUnclear { detail: detail.clone() }),
        ArcView::Read { states } => states,
    };
    let all = |region: &str, want: RoutingState| {
        states.get(region).is_some_and(|s| !s.is_empty() && s.iter().all(|x| *x == want))
    };
    if all(watched.as_str(), RoutingState::On) && all(here, RoutingState::Off) {
        let own_alarms = own.iter().map(|n| (n.to_string(), AlarmState::Ok)).collect();
        return Decision::Start(Proposal {
            source_region: watched.clone(),
            target_region: here.to_string(),
            execution_name: execution_name(&watched, here, obs.now),
            reason: ProposalReason {
                kind: "alarms",
                alarms: watchers.iter().map(|n| n.to_string()).collect(),
                watched_region: watched,
                read_in: here.to_string(),
                own_alarms,
                trigger: event.clone(),
            },
        });
    }
    if all(watched.as_str(), RoutingState::Off) && all(here, RoutingState::On) {
        return Decision::Notify(Refusal::PeerNotServing { watched_region: watched });
    }
    let describe = |r: &str| {
        states
            .get(r)
            .map(|s| s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join("/"))
            .unwrap_or_else(|| "none".to_string())
    };
    Decision::Notify(Refusal::RoutingUnclear {
        detail: format!("{watched} reads {}, {here} reads {}", describe(watched.as_str()), describe(here)),
    })
}

/// Who starts an execution from an alarm, in the execution input's `started_by`.
pub const STARTED_BY: &str = "propose-failover";

/// The failover machine's input for a proposal: the plan as read from this Region's
/// parameter and its version, unplanned mode (the source looks down), the target, the
/// reason and who started it. The machine waits for approval unless the plan sets
/// `approval.alarm_may_fail_over_without_approval` (statemachine/failover.asl.json,
/// `NeedApproval`, keys on `reason.kind` = `alarms`).
pub fn execution_input(plan: &Plan, plan_version: &str, proposal: &Proposal) -> serde_json::Value {
    serde_json::json!({
        "plan": plan,
        "plan_version": plan_version,
        "mode": "unplanned",
        "target_region": proposal.target_region,
        "reason": proposal.reason,
        "started_by": STARTED_BY,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_parse_and_print_as_cloudwatch_names_them() {
        for s in [AlarmState::Ok, AlarmState::Alarm, AlarmState::InsufficientData] {
            assert_eq!(AlarmState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(AlarmState::parse("alarm"), None);
    }

    #[test]
    fn names_fit_step_functions() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
        let n = execution_name("us-east-1", "us-west-2", t);
        assert_eq!(n, "alarm-us-east-1-to-us-west-2-1764000000");
        assert!(n.len() <= 80 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        assert_eq!(lock_key("retail-store", "us-east-1", "us-west-2"), "proposal#retail-store#us-east-1->us-west-2");
    }
}
