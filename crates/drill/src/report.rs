//! The drill's vocabulary: what a drill is asked to do ([`DrillOptions`]: a [`Scenario`],
//! an [`Approve`] policy, [`Fault`]s) and what it reports ([`DrillReport`]). Running
//! (`run`) and assessing (`expect`) both use these types and never each other.

use std::collections::BTreeMap;
use std::time::SystemTime;

use failover_asl::{Coverage, Status};
use failover_core::time_fmt;
use regionsim::{EndpointFault, service};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// A planned switchover to the secondary: nothing may be lost.
    Planned,
    /// The primary Region fails under write load; unplanned failover; the old Region
    /// returns 30 minutes later; snapshot, restore, missing-transaction report.
    RegionOutage,
    /// A planned move to the secondary, then the planned move back (the decision under test).
    Failback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Approve {
    /// Follows the e-mail's Approve link and confirms on the page.
    Auto,
    /// Follows the Reject link and confirms.
    Reject,
    /// Never answers: the approval times out.
    Timeout,
    /// Approves, then sends the same form again: the second is answered "already decided"
    /// and sends nothing to Step Functions.
    Replayed,
    /// Opens the Approve link with an altered signature and posts its fields: refused,
    /// nothing decided (the approval times out).
    Forged,
    /// Only opens the Approve link, as a mail scanner prefetches it: a GET decides nothing
    /// (the approval times out).
    Scanner,
    /// Someone who is not one of the plan's approvers posts the genuine form under their
    /// own name first: refused, nothing decided; then a listed approver approves.
    Impostor,
}

impl Approve {
    /// Whether the decision under test is "approved".
    pub fn approves(self) -> bool {
        matches!(self, Approve::Auto | Approve::Replayed | Approve::Impostor)
    }

    /// The error the execution must end with when nothing is approved.
    pub fn refusal_error(self) -> &'static str {
        if self == Approve::Reject { "Failover.ApprovalRejected" } else { "Failover.ApprovalTimedOut" }
    }
}

/// A fault injected into the drill.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "fault")]
pub enum Fault {
    /// `k` of the five ARC endpoints dead, each failing the given way.
    ArcDead { k: usize, how: EndpointFault },
    /// A share of one service's calls throttled.
    Throttle { service: String, rate: f64 },
    /// Extra latency on one service.
    Latency { service: String, millis: u64 },
    /// Every Lambda task fails once at the Lambda level before running.
    LambdaOnce,
    /// The old Region never comes back.
    NeverReturns,
    /// Aurora never takes the old primary's snapshot.
    NoSnapshot,
    /// Every secondary lags this many seconds behind its writer from the start (a planned
    /// switchover over the RPO is refused, and the approver is asked to continue unplanned).
    Lag { seconds: u64 },
    /// The account may create only this many more DB clusters in a Region: the recovery
    /// clusters of the other databases are refused (`DBClusterQuotaExceededFault`), and
    /// those databases' recoveries fail while the others report.
    ClusterQuota { clusters: usize },
    /// CloudWatch has no replication-lag datapoint: the data at risk is unknown.
    NoLagMetric,
    /// RDS refuses every switchover and failover of this database's global cluster
    /// (`InvalidGlobalClusterStateFault`): traffic and the other writers move, this writer
    /// stays, and the execution fails naming it (after the recovery of the others).
    RefuseMove { database: String },
    /// RDS accepts this database's switchover and never completes it: its completion is
    /// never confirmed, the writer stays; the others move and the execution fails naming
    /// it. Planned scenarios only (an unplanned failover that never completes leaves no
    /// snapshot for the recovery to find).
    StallMove { database: String },
    /// The first invocation of every mutating task runs (its side effect happens) and then
    /// times out, its answer lost: Step Functions invokes it again, and the step must
    /// recognise what it already did.
    LostAnswers,
    /// The verdict's own test: the first key of each database's report is read back with
    /// another class than the report gave it. The verdict must fail, naming that key.
    MisreportOneKey,
    /// Region-outage: once the first canary alarm reaches the proposer, 49 more deliveries
    /// within the minute (retries, flapping, several canaries; some concurrent). Exactly one
    /// execution must start.
    AlarmStorm,
    /// Region-outage as a partition: the primary is cut off from the secondary and the rest
    /// of the world (which sees it down), but its own stack goes on, and its canaries
    /// watching the secondary alarm too. Both proposers fire with opposite proposals: only
    /// the secondary's may start an execution (it moves traffic away from the Region that
    /// serves), the primary's must end with its reason and start nothing.
    Partition,
}

impl Fault {
    /// `arc-dead=4`, `arc-dead=4:hang` (`refuse`, `hang`, `server-error`, `unavailable`), `lag=30`, `throttle=rds:0.3`, `latency=arc:200`, `lambda-once`,
    /// `never-returns`, `no-snapshot`.
    pub fn parse(s: &str) -> Result<Fault, String> {
        let (name, arg) = s.split_once('=').map_or((s, None), |(a, b)| (a, Some(b)));
        let need = |what: &str| arg.ok_or_else(|| format!("--fault {name} needs ={what}"));
        match name {
            "arc-dead" => {
                let a = need("K[:refuse|hang|server-error|unavailable]")?;
                let (k, how) = a.split_once(':').unwrap_or((a, "refuse"));
                let k: usize = k.parse().map_err(|_| format!("--fault arc-dead: `{k}` is not a number"))?;
                if k > 5 {
                    return Err("--fault arc-dead: an ARC cluster has 5 endpoints".into());
                }
                // The simulator's own names (its control API takes the same).
                let how: EndpointFault = serde_json::from_value(Value::String(how.to_string())).map_err(|_| {
                    format!("--fault arc-dead: `{how}` is not refuse, hang, server-error or unavailable")
                })?;
                Ok(Fault::ArcDead { k, how })
            }
            "throttle" => {
                let a = need("SERVICE:RATE")?;
                let (svc, rate) = a.split_once(':').ok_or("--fault throttle=SERVICE:RATE")?;
                let rate: f64 = rate.parse().map_err(|_| format!("--fault throttle: `{rate}` is not a rate"))?;
                if !(0.0..=1.0).contains(&rate) {
                    return Err("--fault throttle: the rate is between 0 and 1".into());
                }
                Ok(Fault::Throttle { service: svc.to_string(), rate })
            }
            "latency" => {
                let a = need("SERVICE:MILLIS")?;
                let (svc, ms) = a.split_once(':').ok_or("--fault latency=SERVICE:MILLIS")?;
                let millis: u64 = ms.parse().map_err(|_| format!("--fault latency: `{ms}` is not milliseconds"))?;
                Ok(Fault::Latency { service: svc.to_string(), millis })
            }
            "lag" => {
                let a = need("SECONDS")?;
                let seconds: u64 = a.parse().map_err(|_| format!("--fault lag: `{a}` is not a number of seconds"))?;
                Ok(Fault::Lag { seconds })
            }
            "cluster-quota" => {
                let a = need("CLUSTERS")?;
                let clusters: usize =
                    a.parse().map_err(|_| format!("--fault cluster-quota: `{a}` is not a number of clusters"))?;
                Ok(Fault::ClusterQuota { clusters })
            }
            "no-lag-metric" => Ok(Fault::NoLagMetric),
            "refuse-move" => Ok(Fault::RefuseMove { database: need("DATABASE")?.to_string() }),
            "stall-move" => Ok(Fault::StallMove { database: need("DATABASE")?.to_string() }),
            "lambda-once" => Ok(Fault::LambdaOnce),
            "lost-answers" => Ok(Fault::LostAnswers),
            "misreport-one-key" => Ok(Fault::MisreportOneKey),
            "alarm-storm" => Ok(Fault::AlarmStorm),
            "partition" => Ok(Fault::Partition),
            "never-returns" => Ok(Fault::NeverReturns),
            "no-snapshot" => Ok(Fault::NoSnapshot),
            other => Err(format!(
                "unknown fault `{other}` (arc-dead=K[:how], throttle=SERVICE:RATE, latency=SERVICE:MS, lag=SECONDS, cluster-quota=N, no-lag-metric, refuse-move=DATABASE, stall-move=DATABASE, lost-answers, misreport-one-key, alarm-storm, partition, lambda-once, never-returns, no-snapshot)"
            )),
        }
    }
}

impl DrillOptions {
    /// The cluster quota a `cluster-quota` fault imposes, if any.
    pub fn cluster_quota(&self) -> Option<usize> {
        self.faults.iter().find_map(|f| match f {
            Fault::ClusterQuota { clusters } => Some(*clusters),
            _ => None,
        })
    }

    /// Whether every ARC cluster endpoint is dead (nothing can move traffic).
    pub fn all_arc_dead(&self) -> bool {
        self.faults.iter().any(|f| matches!(f, Fault::ArcDead { k: 5, .. }))
    }

    /// The databases whose moves a `refuse-move` fault refuses or a `stall-move` fault
    /// stalls: their writers stay.
    pub fn refused_moves(&self) -> Vec<&str> {
        self.faults
            .iter()
            .filter_map(|f| match f {
                Fault::RefuseMove { database } | Fault::StallMove { database } => Some(database.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The replication lag a `lag` fault imposes, if any.
    pub fn lag(&self) -> Option<u64> {
        self.faults.iter().find_map(|f| match f {
            Fault::Lag { seconds } => Some(*seconds),
            _ => None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct DrillOptions {
    pub scenario: Scenario,
    pub approve: Approve,
    pub faults: Vec<Fault>,
    pub seed: u64,
    /// A PostgreSQL or MariaDB server for the simulated clusters' databases; SQLite files
    /// when `None`.
    pub database: Option<String>,
    /// The plan (YAML); the reference workload's when `None`.
    pub plan_yaml: Option<String>,
    /// The DDL of the databases whose tables come from the user's schema: database name ->
    /// (the file it was read from, its text). The others get generated columns, or the
    /// reference schema when the plan names exactly its tables.
    pub schema_ddl: BTreeMap<String, (String, String)>,
    /// The verdict fails when the RTO exceeds its lower bound by more than this ratio
    /// (default [`DEFAULT_RTO_RATIO`]), as it fails when the RTO exceeds the plan's objective.
    pub rto_ratio: f64,
    /// Figures of the simulated world set instead of drawn from the seed: a world that
    /// differs from the plan's beliefs, or a slow approver.
    pub world: WorldOverrides,
}

/// Figures of the simulated world a drill sets rather than draws (`regionsim::world`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorldOverrides {
    /// Route 53's health-check propagation after a routing-control change.
    pub health_check_propagation: Option<std::time::Duration>,
    /// The record's TTL, seconds (the resolvers cache in proportion).
    pub dns_ttl: Option<u32>,
    /// How long the approver takes over every request.
    pub approver_delay: Option<std::time::Duration>,
}

/// How far over its lower bound a drill's RTO may be before the verdict fails.
pub const DEFAULT_RTO_RATIO: f64 = 1.10;

impl Default for DrillOptions {
    fn default() -> Self {
        Self {
            scenario: Scenario::RegionOutage,
            approve: Approve::Auto,
            faults: vec![],
            seed: 1,
            database: None,
            plan_yaml: None,
            schema_ddl: BTreeMap::new(),
            rto_ratio: DEFAULT_RTO_RATIO,
            world: WorldOverrides::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error("the plan: {0}")]
    Plan(String),
    #[error("the simulator: {0}")]
    Sim(String),
    #[error("the state machines: {0}")]
    Definitions(String),
}

/// One phase of the timeline, in seconds from the failover execution's start.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseTiming {
    pub execution: String,
    pub state: String,
    pub start_s: f64,
    pub duration_s: f64,
}

/// One table's keys by class (ARCHITECTURE.md, "The missing-transaction report").
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct TableLoss {
    /// Keys with a lost write (lost insert, update, delete, conflict, reused id).
    pub lost: usize,
    /// Keys changed on the new primary after the failover, nothing lost.
    pub after: usize,
    /// Keys per class name (`lost-insert`, ...).
    pub classes: BTreeMap<String, usize>,
}

impl TableLoss {
    pub(crate) fn add(&mut self, class: &str, lost: bool) {
        *self.classes.entry(class.to_string()).or_default() += 1;
        if lost { self.lost += 1 } else { self.after += 1 }
    }
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Lost {
    /// Per database and table: the keys of each class the report must give (the simulator's
    /// exact classes, as far as the plan's columns and the report's failover point can tell
    /// them: see `ambiguous`).
    pub ground_truth: BTreeMap<String, BTreeMap<String, TableLoss>>,
    /// Per database and table: what the missing-transaction report said.
    pub reported: BTreeMap<String, BTreeMap<String, TableLoss>>,
    /// Whether the report equals the ground truth exactly: counts, and every key with its class.
    pub exact: bool,
    /// How many keys were compared (the larger of the two sides' key sets, over all databases).
    pub keys_compared: usize,
    /// The first differing keys, when any: `db.table key: report X, truth Y`.
    pub key_mismatches: Vec<String>,
    /// Keys changed after the failover only on the new primary whose old row was written
    /// after the report's estimated failover point (which the estimate puts earlier than the
    /// exact one when the last replicated rows were all rewritten since): the report can only
    /// call them conflicts or lost, and must.
    pub ambiguous: usize,
    /// Per database: the report's failover point and the exact one (the last replicated commit).
    pub failover_points: BTreeMap<String, (Option<String>, Option<String>)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub at_s: f64,
    pub region: Option<String>,
    pub subject: Option<String>,
    pub phase: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExecutionSummary {
    pub name: String,
    pub status: Status,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub history_events: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    pub scenario: Scenario,
    pub approve: Approve,
    pub faults: Vec<Fault>,
    pub seed: u64,
    pub outcome: String,
    pub expected_outcome: String,
    pub as_expected: bool,
    pub problems: Vec<String>,
    /// The recovery time (`failover_core::rto`): from the decision execution's start to every
    /// sampled resolver answering the target and every writer there, less `approval_wait_s`.
    pub rto_s: Option<f64>,
    /// The critical path of the world's costs no orchestration avoids (the routing update,
    /// its propagation and the resolvers' caches, beside the slowest database move), computed
    /// from the model; the approval wait left out too.
    pub rto_lower_bound_s: Option<f64>,
    /// Time spent waiting for human decisions in the decision execution (reported apart,
    /// in neither the RTO nor its bound).
    pub approval_wait_s: f64,
    /// How long the approver took over each request (the modeled delay), seconds.
    pub decided_s: Vec<f64>,
    /// Region-outage: the outage to the first canary alarm a proposer received, seconds.
    pub detected_s: Option<f64>,
    /// Region-outage: the outage to the start of the execution a proposer started, seconds.
    pub proposed_s: Option<f64>,
    /// What each propose-failover invocation decided, one line each (`Region: message`).
    pub proposals: Vec<String>,
    /// When every sampled resolver answered the target, seconds from the execution's start.
    pub clients_switched_s: Option<f64>,
    /// When the last writer was in the target, seconds from the execution's start.
    pub writers_moved_s: Option<f64>,
    /// From the Region's failure to clients served (region-outage), less the approval wait.
    pub outage_to_served_s: Option<f64>,
    /// The RTO as the execution itself could know it (what notify reports: the authoritative
    /// DNS change plus the answered TTL, the writers as polled), same definition.
    pub execution_rto_s: Option<f64>,
    /// The simulated world's figures, as printed at the start (name, value and range).
    pub world: Vec<(String, String)>,
    /// Where the plan's beliefs and the simulated world disagree.
    pub beliefs: Vec<String>,
    /// Lambda invocations that started cold.
    pub cold_starts: usize,
    pub plan_rto_s: u64,
    /// The ratio to the lower bound over which the verdict fails.
    pub rto_ratio_allowed: f64,
    pub latencies: BTreeMap<String, f64>,
    pub phases: Vec<PhaseTiming>,
    pub lost: Lost,
    pub notifications: Vec<Notification>,
    pub api_calls: BTreeMap<String, BTreeMap<String, u64>>,
    pub mutating_calls: BTreeMap<String, u64>,
    /// Mutating calls that asked again for what an earlier one did (the simulator's
    /// fingerprints), refused repeats included: `service:Operation` at simulated seconds.
    pub repeated_side_effects: Vec<String>,
    pub history_events: BTreeMap<String, usize>,
    pub executions: Vec<ExecutionSummary>,
    pub serving_regions: Vec<String>,
    pub writers: BTreeMap<String, String>,
    pub invocations: usize,
    pub lambda_faults_injected: usize,
    /// Per machine (`failover`, `recovery`): its states, and those this drill entered.
    pub coverage: BTreeMap<String, Coverage>,
    /// The column types of the user's schema files that the simulator approximates.
    pub schema_notes: Vec<String>,
}

/// A timestamp field of a task's output.
pub(crate) fn parse_time(v: Option<&Value>) -> Option<SystemTime> {
    v.and_then(Value::as_str).and_then(|s| time_fmt::parse_rfc3339(s).ok())
}

/// The services whose calls the report counts.
pub(crate) fn service_names() -> [&'static str; 6] {
    [service::ARC, service::RDS, service::CLOUDWATCH, service::SNS, service::S3, service::SECRETS_MANAGER]
}
