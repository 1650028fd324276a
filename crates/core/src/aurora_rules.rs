//! The Aurora move rules: may a global database's writer be moved to the target Region, in
//! which mode, and if not, why? The one home of these rules: `preflight` shows every
//! [`Finding`] as a check; `aurora-failover` refuses on the first blocking one
//! ([`refusal`]) before it calls `SwitchoverGlobalCluster` or `FailoverGlobalCluster`.
//!
//! Pure: an [`Observation`] goes in (what `DescribeGlobalClusters`, `DescribeDBClusters`,
//! `DescribeDBInstances` and CloudWatch said, gathered by `failover_steps::rds::observe`),
//! findings come out. Nothing here performs I/O or reads a clock.
//!
//! Parts of an observation may be missing ([`Observed::NotObserved`], `None`): a step that
//! stops at the first refusal gathers in stages, and a rule whose inputs were not observed
//! says nothing. So the findings of a partial observation are a subset of those of the
//! whole one, which is what makes "preflight said ready for mode M" imply "start in mode M
//! is not refused by a precondition" (tested as a property).
//!
//! The facts behind the rules (AWS documentation): a switchover needs every member
//! available and synchronised and the lag known; both switchover and managed failover need
//! the same major and minor engine version on both sides and an available instance in the
//! target; a failover towards another cluster in progress forbids ours.

use crate::ErrorKind;
use crate::contract::Mode;
use crate::contract::aurora::{LagObservation, major_minor};
use crate::contract::health::Verdict;
use crate::contract::preflight::{Blocks, PreflightCheck};

/// The CloudWatch metrics of a secondary's replication lag, in order of preference.
pub const LAG_METRICS: [&str; 2] = ["AuroraGlobalDBRPOLag", "AuroraGlobalDBReplicationLag"];

/// How far back the lag metrics are read (they are published every minute).
pub const LAG_WINDOW_SECONDS: u64 = 300;

/// Instance states that end on their own in `available`: worth waiting for.
pub const TRANSITIONAL: &[&str] = &[
    "creating",
    "backing-up",
    "configuring-enhanced-monitoring",
    "configuring-iam-database-auth",
    "configuring-log-exports",
    "converting-to-vpc",
    "maintenance",
    "modifying",
    "moving-to-vpc",
    "rebooting",
    "renaming",
    "resetting-master-credentials",
    "starting",
    "storage-optimization",
    "upgrading",
];

/// Something that was looked for: not looked for, looked for and absent, or found.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Observed<T> {
    #[default]
    NotObserved,
    Missing,
    Found(T),
    /// Asked, and no answer came (its Region's API did not answer in time): the reason.
    Unreachable(String),
}

impl<T> Observed<T> {
    pub fn found(&self) -> Option<&T> {
        match self {
            Observed::Found(t) => Some(t),
            _ => None,
        }
    }
}

/// What one database's move depends on, as seen from the target Region (and, in planned
/// mode only, the source cluster in its own Region).
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The plan's name of the database (`databases[].name`).
    pub database: String,
    pub global_cluster: String,
    pub target_region: String,
    pub target_arn: String,
    /// The Region the writer leaves.
    pub source_region: String,
    /// The member clusters the plan names: (Region, cluster ARN).
    pub planned_members: Vec<(String, String)>,
    pub global: GlobalView,
    pub target: Observed<ClusterView>,
    /// Read in planned mode only: in unplanned mode the source Region may be gone.
    pub source: Observed<ClusterView>,
    /// The instances of the target cluster and their states; `None` when not looked at.
    pub instances: Option<Vec<InstanceView>>,
    /// The instance class the plan lets a failover create in a headless target.
    pub headless_class: Option<String>,
    /// `None` when not read.
    pub lag: Option<LagView>,
    pub rpo_ms: u64,
}

/// `DescribeGlobalClusters`, read in the target Region.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalView {
    pub status: String,
    pub engine_version: Option<String>,
    pub members: Vec<MemberView>,
    pub failover: Option<InFlight>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MemberView {
    pub arn: String,
    pub is_writer: bool,
    /// `SynchronizationStatus` of a secondary (`connected`, `pending-resync`, ...).
    pub synchronization: Option<String>,
}

/// A `FailoverState` with a status or a target: a move in flight.
#[derive(Debug, Clone, PartialEq)]
pub struct InFlight {
    pub status: String,
    pub to: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClusterView {
    pub id: String,
    pub status: String,
    pub engine_version: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InstanceView {
    pub id: String,
    pub status: String,
}

/// The newest lag datapoint of the target, none, or why it could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum LagView {
    Reading(LagObservation),
    NoDatapoint,
    Unreadable(String),
}

fn same_arn(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The cluster identifier inside a cluster ARN.
fn id_of(arn: &str) -> &str {
    crate::contract::aurora::cluster_id_of_arn(arn)
}

impl GlobalView {
    pub fn writer(&self) -> Option<&str> {
        self.members.iter().find(|m| m.is_writer).map(|m| m.arn.as_str())
    }
}

/// Where the move stands, from the global cluster alone.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// A move towards the target is in flight (with its status): nothing to start.
    InFlightToTarget(String),
    /// A move towards another cluster is in flight: ours is forbidden.
    InFlightElsewhere(InFlight),
    /// The target writes and nothing is in flight.
    TargetWrites,
    /// The target is not a member of the global cluster.
    TargetNotAMember,
    /// A move would have to be started.
    ToStart,
}

pub fn progress(global: &GlobalView, target_arn: &str) -> Progress {
    if !global.members.iter().any(|m| same_arn(&m.arn, target_arn)) {
        return Progress::TargetNotAMember;
    }
    match &global.failover {
        Some(f) if f.to.as_deref().is_some_and(|to| same_arn(to, target_arn)) => {
            Progress::InFlightToTarget(f.status.clone())
        }
        Some(f) => Progress::InFlightElsewhere(f.clone()),
        None if global.writer().is_some_and(|w| same_arn(w, target_arn)) => Progress::TargetWrites,
        None => Progress::ToStart,
    }
}

/// What stops both a start and a check, whatever else holds: the target is no member, or
/// a move towards another cluster is in flight.
pub fn progress_refusal(o: &Observation, progress: &Progress) -> Option<crate::StepError> {
    let gc = &o.global_cluster;
    match progress {
        Progress::TargetNotAMember => Some(crate::StepError::new(
            ErrorKind::PreconditionFailed,
            format!(
                "{} is not a member of global cluster {gc} (members: {})",
                o.target_arn,
                o.global.members.iter().map(|m| m.arn.as_str()).collect::<Vec<_>>().join(", ")
            ),
        )),
        Progress::InFlightElsewhere(f) => Some(crate::StepError::new(
            ErrorKind::InvalidState,
            format!(
                "global cluster {gc}: a failover towards {} is in progress ({}); not starting one towards {}",
                f.to.as_deref().unwrap_or("an unnamed cluster"),
                f.status,
                o.target_arn
            ),
        )),
        _ => None,
    }
}

/// One rule's verdict on one observation.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub check: PreflightCheck,
    /// The error a start refuses with when this finding blocks its mode.
    pub refusal: ErrorKind,
}

impl Finding {
    /// Whether this finding stops a move in `mode`.
    pub fn blocks(&self, mode: Mode) -> bool {
        self.check.verdict == Verdict::Fail
            && match self.check.blocks {
                Some(Blocks::Failover) => true,
                Some(Blocks::Switchover) => mode == Mode::Planned,
                None => false,
            }
    }
}

fn pass(kind: &str, subject: &str, detail: impl Into<String>) -> Finding {
    Finding {
        check: PreflightCheck {
            kind: kind.into(),
            subject: subject.into(),
            verdict: Verdict::Pass,
            detail: detail.into(),
            blocks: None,
        },
        refusal: ErrorKind::Internal,
    }
}

fn fail(kind: &str, subject: &str, detail: impl Into<String>, blocks: Blocks, refusal: ErrorKind) -> Finding {
    Finding {
        check: PreflightCheck {
            kind: kind.into(),
            subject: subject.into(),
            verdict: Verdict::Fail,
            detail: detail.into(),
            blocks: Some(blocks),
        },
        refusal,
    }
}

/// Blocks a switchover only: an unplanned failover may still go ahead.
fn switchover_refused(kind: &str, subject: &str, detail: impl Into<String>) -> Finding {
    fail(kind, subject, detail, Blocks::Switchover, ErrorKind::SwitchoverRefused)
}

/// Blocks every mode.
fn precondition(kind: &str, subject: &str, detail: impl Into<String>) -> Finding {
    fail(kind, subject, detail, Blocks::Failover, ErrorKind::PreconditionFailed)
}

/// Every rule's finding for `mode`, in the order a start checks them. Rules whose inputs
/// were not observed say nothing.
pub fn findings(o: &Observation, mode: Mode) -> Vec<Finding> {
    let mut out = Vec::new();
    let gc = o.global_cluster.as_str();
    let g = &o.global;
    let target_id = id_of(&o.target_arn);

    // The writer, and a move in flight (first: a move towards another cluster explains
    // whatever else looks wrong).
    let writer = g.writer();
    let progress = progress(g, &o.target_arn);
    out.push(match (&progress, progress_refusal(o, &progress)) {
        (_, Some(e)) => fail("writer", gc, e.message, Blocks::Failover, e.kind),
        (Progress::InFlightToTarget(status), None) => {
            pass("writer", gc, format!("already moving to the target ({status})"))
        }
        (Progress::TargetWrites, None) => pass("writer", gc, format!("{target_id} (the target) already writes")),
        (_, None) => match writer {
            None => precondition("writer", gc, "no member is the writer"),
            Some(w) => {
                let region = o.planned_members_region(w).unwrap_or("an unknown Region");
                pass("writer", gc, format!("{} in {region}", id_of(w)))
            }
        },
    });

    // Members against the plan.
    let mut seen: Vec<String> = g.members.iter().map(|m| m.arn.to_ascii_lowercase()).collect();
    let mut want: Vec<String> = o.planned_members.iter().map(|(_, a)| a.to_ascii_lowercase()).collect();
    seen.sort();
    want.sort();
    out.push(if seen == want {
        pass("members", gc, format!("{} members, as the plan says", seen.len()))
    } else {
        precondition("members", gc, format!("members are [{}], the plan says [{}]", seen.join(", "), want.join(", ")))
    });

    // A switchover needs the global cluster available and every secondary synchronised.
    out.push(if g.status == "available" {
        pass("global-cluster", gc, format!("`available` in {}", o.target_region))
    } else {
        switchover_refused(
            "global-cluster",
            gc,
            format!("global cluster {gc} is `{}` in {}", g.status, o.target_region),
        )
    });
    let unsynchronised: Vec<String> = g
        .members
        .iter()
        .filter(|m| !m.is_writer)
        .filter_map(|m| {
            let s = m.synchronization.as_deref()?;
            (s != "connected").then(|| format!("{} ({s})", id_of(&m.arn)))
        })
        .collect();
    if !unsynchronised.is_empty() {
        out.push(switchover_refused("members", gc, format!("members not synchronised: {}", unsynchronised.join(", "))));
    }

    // The target cluster.
    match &o.target {
        Observed::NotObserved => {}
        Observed::Missing => out.push(fail(
            "members",
            target_id,
            format!("the target member cluster {target_id} does not exist in {}", o.target_region),
            Blocks::Failover,
            ErrorKind::NotFound,
        )),
        Observed::Found(t) if t.status != "available" => out.push(switchover_refused(
            "members",
            target_id,
            format!("target cluster {target_id} is `{}`, not available", t.status),
        )),
        Observed::Found(_) => {}
        // The target is read in its own Region, where the function runs; never recorded
        // unreachable (a failed read is the step's error), but refused if it were.
        Observed::Unreachable(why) => out.push(fail(
            "members",
            target_id,
            format!("the target member cluster {target_id} could not be read in {}: {why}", o.target_region),
            Blocks::Failover,
            ErrorKind::Transient,
        )),
    }

    // The source cluster, read in planned mode only.
    let source_id = o.source_id();
    match &o.source {
        Observed::Missing => out.push(switchover_refused(
            "members",
            source_id,
            format!("the source member cluster {source_id} does not exist in {}", o.source_region),
        )),
        Observed::Unreachable(why) => out.push(switchover_refused(
            "members",
            source_id,
            format!(
                "the source member cluster {source_id} could not be read in {} ({why}): a switchover needs the source Region's API",
                o.source_region
            ),
        )),
        Observed::Found(s) if s.status != "available" => out.push(switchover_refused(
            "members",
            source_id,
            format!(
                "source cluster {source_id} is `{}`, not available: a switchover needs every member available",
                s.status
            ),
        )),
        _ => {}
    }

    // Engine versions: the source as read in its own Region (planned), or the global
    // cluster's version as the target Region reports it (the source Region may be gone).
    if let Some(t) = o.target.found() {
        let (source_what, source_version) = match (mode, &o.source) {
            (Mode::Planned, Observed::Found(s)) => (format!("source cluster {source_id}"), s.engine_version.clone()),
            _ => (format!("global cluster {gc}"), g.engine_version.clone().unwrap_or_default()),
        };
        let tv = &t.engine_version;
        let same = !tv.is_empty() && !source_version.is_empty() && major_minor(tv) == major_minor(&source_version);
        out.push(if same {
            pass(
                "engine-version",
                gc,
                format!("target cluster {target_id} runs `{tv}`, {source_what} `{source_version}`"),
            )
        } else {
            precondition(
                "engine-version",
                gc,
                format!(
                    "engine versions differ: target cluster {target_id} runs `{tv}`, {source_what} runs \
                     `{source_version}`; both sides need the same major and minor version"
                ),
            )
        });
    }

    // The lag: the exposure of an unplanned failover, and a switchover's proof of no loss.
    let target_writes = writer.is_some_and(|w| same_arn(w, &o.target_arn));
    match (&o.lag, target_writes) {
        (_, true) => out.push(pass("replication-lag", target_id, "the target already writes: nothing to replicate")),
        (None, false) => {}
        (Some(LagView::Reading(l)), false) => {
            let rpo = o.rpo_ms;
            let detail = |word: &str| {
                format!(
                    "replication lag of {target_id} is {} ms ({} at {}), {word} the RPO of {rpo} ms",
                    l.milliseconds, l.metric, l.at
                )
            };
            out.push(if l.milliseconds > rpo {
                switchover_refused(
                    "replication-lag",
                    target_id,
                    format!("{}; an unplanned failover would lose up to that", detail("over")),
                )
            } else {
                pass("replication-lag", target_id, detail("within"))
            });
        }
        (Some(LagView::NoDatapoint), false) => out.push(switchover_refused(
            "replication-lag",
            target_id,
            format!(
                "no replication lag of {target_id}: no {} or {} datapoint in {} in the last {LAG_WINDOW_SECONDS} s: \
                 a switchover cannot be shown to lose nothing",
                LAG_METRICS[0], LAG_METRICS[1], o.target_region
            ),
        )),
        (Some(LagView::Unreadable(e)), false) => out.push(switchover_refused("replication-lag", target_id, e.clone())),
    }

    // An available instance in the target, or one the failover may create.
    if let Some(instances) = &o.instances {
        let list = || instances.iter().map(|i| format!("{} ({})", i.id, i.status)).collect::<Vec<_>>().join(", ");
        out.push(if let Some(i) = instances.iter().find(|i| i.status == "available") {
            pass("instance", target_id, format!("{} is available", i.id))
        } else if instances.is_empty() {
            match &o.headless_class {
                Some(class) => pass(
                    "instance",
                    target_id,
                    format!("headless: the failover first creates a {class} instance (several minutes of the RTO)"),
                ),
                None => precondition(
                    "instance",
                    target_id,
                    format!(
                        "target cluster {target_id} has no instance and the plan gives no headless capacity \
                         (databases[{}].headless): add an instance, or set it",
                        o.database
                    ),
                ),
            }
        } else if instances.iter().any(|i| TRANSITIONAL.contains(&i.status.as_str())) {
            fail(
                "instance",
                target_id,
                format!("no available instance in target cluster {target_id} yet: {}", list()),
                Blocks::Failover,
                ErrorKind::NotYet,
            )
        } else {
            precondition(
                "instance",
                target_id,
                format!("no available instance in target cluster {target_id}: {}", list()),
            )
        });
    }
    out
}

/// The first finding that stops a start in `mode`, as the error it refuses with.
pub fn refusal(o: &Observation, mode: Mode) -> Option<crate::StepError> {
    findings(o, mode).into_iter().find(|f| f.blocks(mode)).map(|f| crate::StepError::new(f.refusal, f.check.detail))
}

/// Whether a headless target needs the instance a failover creates (no instance at all,
/// and the plan gives a capacity).
pub fn needs_instance(o: &Observation) -> bool {
    o.headless_class.is_some() && o.instances.as_ref().is_some_and(|i| i.is_empty())
}

impl Observation {
    /// The plan's Region of a member cluster.
    pub fn planned_members_region(&self, arn: &str) -> Option<&str> {
        self.planned_members.iter().find(|(_, a)| same_arn(a, arn)).map(|(r, _)| r.as_str())
    }

    fn source_id(&self) -> &str {
        self.planned_members.iter().find(|(r, _)| *r == self.source_region).map_or("", |(_, a)| id_of(a))
    }
}
