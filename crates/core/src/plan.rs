//! The failover plan: one YAML document that describes the Region pair.
//!
//! [`Plan::from_yaml`] parses and validates. Structural errors (a missing field, a wrong
//! type, an unknown key) stop the parse with one message naming the field path; semantic
//! checks then run over the whole document and report every problem, each with its path
//! (`databases[1].report.tables[0].key: ...`). A plan that fails validation is never used.
//!
//! The plan is data only: nothing here talks to AWS.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

/// A Region name such as `us-east-1`.
pub type Region = String;

/// The AWS Regions a plan may name (commercial, GovCloud and China partitions).
pub const KNOWN_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];

pub fn is_known_region(r: &str) -> bool {
    KNOWN_REGIONS.contains(&r)
}

/// An ARN split into its six parts: `arn:<partition>:<service>:<region>:<account>:<resource>`.
/// The resource keeps its own `:` and `/` (`secret:retail/orders-AbCdEf`, `key/<id>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    /// Empty for the services whose resources are global (ARC's routing controls).
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

/// Splits an ARN into its parts, or `None` when `s` is not one: six `:`-separated parts, the
/// first `arn`, a partition of AWS (`aws`, `aws-cn`, `aws-us-gov`, ...), a service and a
/// resource. What the service and the resource must be is for the caller to check: this is
/// the one ARN parser of the plan's rules.
pub fn parse_arn(s: &str) -> Option<Arn<'_>> {
    let mut parts = s.splitn(6, ':');
    let mut next = || parts.next();
    let (Some("arn"), Some(partition), Some(service), Some(region), Some(account), Some(resource)) =
        (next(), next(), next(), next(), next(), next())
    else {
        return None;
    };
    if !partition.starts_with("aws") || service.is_empty() || resource.is_empty() {
        return None;
    }
    Some(Arn { partition, service, region, account, resource })
}

/// The Region named in an AWS host name (`x.route53-recovery-cluster.eu-west-1.amazonaws.com`,
/// `orders.cluster-ro-abc.us-east-1.rds.amazonaws.com`, with or without `:port`). `None` for
/// a host outside `amazonaws.com` (a loopback simulator, a private DNS name): there is no
/// Region to compare then.
pub fn region_of_aws_host(host: &str) -> Option<&str> {
    let host = match host.rsplit_once(':') {
        Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    let inner = host.strip_suffix(".amazonaws.com").or_else(|| host.strip_suffix(".amazonaws.com.cn"))?;
    inner.split('.').rev().find(|label| is_known_region(label))
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// A short name for the application (`retail-store`).
    pub name: String,
    pub regions: Regions,
    pub objectives: Objectives,
    pub arc: Arc,
    #[serde(default)]
    pub databases: Vec<GlobalDatabase>,
    /// Subnets and security groups per Region, for the recovery cluster and the Lambdas.
    #[serde(default)]
    pub network: BTreeMap<Region, Network>,
    /// Health checks per Region.
    pub health: BTreeMap<Region, RegionHealth>,
    /// The DNS record clients resolve.
    pub dns: Dns,
    /// The resources of each Region's own stack.
    pub stacks: BTreeMap<Region, StackResources>,
    #[serde(default)]
    pub approval: Approval,
    /// The shortest time between two failover executions.
    #[serde(default = "default_cooldown")]
    pub cooldown_seconds: u64,
}

fn default_cooldown() -> u64 {
    3600
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Regions {
    /// The Region that normally serves and holds the writers.
    pub primary: Region,
    /// The standby Region.
    pub secondary: Region,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Objectives {
    /// Recovery time objective.
    pub rto_seconds: u64,
    /// Recovery point objective: the most replication lag a planned switchover accepts.
    pub rpo_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arc {
    /// The cluster's Regional data-plane endpoints (five for an ARC cluster).
    pub cluster_endpoints: Vec<ClusterEndpoint>,
    /// The routing controls that admit traffic to each Region.
    pub routing_controls: BTreeMap<Region, Vec<String>>,
    /// Safety rules that an operator may name to override; never overridden implicitly.
    #[serde(default)]
    pub safety_rules: Vec<SafetyRule>,
    #[serde(default)]
    pub timeouts: ArcTimeouts,
    /// How many times a `ConflictException` is retried before it is reported.
    #[serde(default = "default_conflict_retries")]
    pub conflict_retries: u32,
}

fn default_conflict_retries() -> u32 {
    3
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterEndpoint {
    pub url: String,
    pub region: Region,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafetyRule {
    pub name: String,
    pub arn: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArcTimeouts {
    /// Connect timeout per endpoint attempt.
    #[serde(default = "default_connect_ms")]
    pub connect_ms: u64,
    /// Whole-attempt timeout per endpoint (connect, send, read).
    #[serde(default = "default_attempt_ms")]
    pub attempt_ms: u64,
}

fn default_connect_ms() -> u64 {
    500
}
fn default_attempt_ms() -> u64 {
    1000
}

impl Default for ArcTimeouts {
    fn default() -> Self {
        Self { connect_ms: default_connect_ms(), attempt_ms: default_attempt_ms() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    AuroraMysql,
    AuroraPostgresql,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::AuroraMysql => "aurora-mysql",
            Engine::AuroraPostgresql => "aurora-postgresql",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One Aurora global database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalDatabase {
    /// A short name (`orders`), used in resource names and reports.
    pub name: String,
    /// The global cluster identifier.
    pub global_cluster: String,
    pub engine: Engine,
    /// The member cluster ARN in each Region.
    pub members: BTreeMap<Region, String>,
    /// What to do when the target cluster has no instance (a headless secondary).
    #[serde(default)]
    pub headless: Option<Capacity>,
    #[serde(default)]
    pub recovery: Recovery,
    #[serde(default)]
    pub report: Option<Report>,
}

/// Instance capacity: a provisioned class or Aurora Serverless v2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    /// `db.r6g.large`, or `db.serverless` together with `serverless`.
    pub instance_class: String,
    #[serde(default)]
    pub serverless: Option<ServerlessCapacity>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerlessCapacity {
    pub min_acu: f64,
    pub max_acu: f64,
}

/// How the old primary is recovered after an unplanned failover.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recovery {
    /// Where the snapshot is copied and restored: `old` (the old primary's Region, the
    /// default) or `target` (copied across to the Region failed over to).
    #[serde(default)]
    pub restore_in: RestoreIn,
    #[serde(default = "default_recovery_capacity")]
    pub capacity: Capacity,
    /// KMS key per Region for the copy and the restore (the destination's key is used).
    #[serde(default)]
    pub kms_keys: BTreeMap<Region, String>,
    /// Keep the recovery cluster after the report (default: delete it).
    #[serde(default)]
    pub keep_cluster: bool,
}

fn default_recovery_capacity() -> Capacity {
    Capacity {
        instance_class: "db.serverless".into(),
        serverless: Some(ServerlessCapacity { min_acu: 0.5, max_acu: 16.0 }),
    }
}

impl Default for Recovery {
    fn default() -> Self {
        Self {
            restore_in: RestoreIn::Old,
            capacity: default_recovery_capacity(),
            kms_keys: BTreeMap::new(),
            keep_cluster: false,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestoreIn {
    #[default]
    Old,
    Target,
}

/// The missing-transaction report of one global database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// The database (schema) name inside the cluster.
    pub database: String,
    /// Secrets Manager secret with the credentials to use, per Region (the recovery
    /// cluster's Region and the new primary's Region).
    pub credentials: BTreeMap<Region, String>,
    /// The reader endpoint of each Region's cluster: the report reads the new primary
    /// through it, never through its writer.
    pub reader_endpoints: BTreeMap<Region, String>,
    pub tables: Vec<Table>,
    /// A table whose estimated row count is above this is compared in key ranges of
    /// about this many rows, one `diff-report` invocation each, fanned out by the recovery
    /// machine's Map state and merged after it (default [`DEFAULT_ROWS_PER_PART`]).
    #[serde(default)]
    pub rows_per_part: Option<u64>,
}

/// Rows per key range of a split table when the plan does not say. rowdiff compares 10
/// million PostgreSQL rows per side in about 4 s on two cores (bench/rowdiff); the database
/// scan dominates, so 50 million rows stay far inside one 15-minute invocation even on a
/// small Aurora instance, and a bigger table is compared in parallel ranges.
pub const DEFAULT_ROWS_PER_PART: u64 = 50_000_000;

impl Report {
    /// The rows per key range of a split table.
    pub fn rows_per_part(&self) -> u64 {
        self.rows_per_part.unwrap_or(DEFAULT_ROWS_PER_PART).max(1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    pub name: String,
    /// Key columns (the primary key).
    pub key: Vec<String>,
    #[serde(default)]
    pub ignore_columns: Vec<String>,
    /// The row's last-write time, set on every insert and every update (`updated_at`): a
    /// value later than the failover point marks a write the new primary never received (old
    /// side) or one made after the failover (new side). A creation time here makes every
    /// update made after the failover to an older row look lost (ARCHITECTURE.md, "The
    /// missing-transaction report").
    #[serde(default)]
    pub time_column: Option<String>,
    /// The row's creation time (`created_at`), set on insert only: tells a reused id from a
    /// conflict and a lost insert from a lost update deleted since.
    #[serde(default)]
    pub created_column: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    #[serde(default)]
    pub subnets: Vec<String>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// The DB subnet group for the recovery cluster.
    #[serde(default)]
    pub db_subnet_group: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionHealth {
    #[serde(default)]
    pub http: Vec<HttpCheck>,
    /// What the DNS record answers when this Region serves (IP addresses or names).
    #[serde(default)]
    pub dns_answers: Vec<String>,
    /// The canary alarms that watch this Region from the other Region.
    #[serde(default)]
    pub alarms: Vec<AlarmRef>,
    /// This Region's own signals, readable in this Region: alarms that live here and watch
    /// this Region itself (the canaries here probing this Region's own load balancer). The
    /// proposer here reads them before it proposes moving traffic here: when they are not
    /// OK, both Regions look impaired and it starts nothing. Plan check requires one.
    #[serde(default)]
    pub own_alarms: Vec<AlarmRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    pub url: String,
    #[serde(default = "default_status")]
    pub expected_status: u16,
    #[serde(default = "default_latency")]
    pub max_latency_ms: u64,
}

fn default_status() -> u16 {
    200
}
fn default_latency() -> u64 {
    2000
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmRef {
    pub name: String,
    /// The Region the alarm lives in: for `health.<R>.alarms` the watching Region (the other
    /// one) by default; for `health.<R>.own_alarms` R itself, the only Region allowed.
    #[serde(default)]
    pub region: Option<Region>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dns {
    /// The record clients resolve (`shop.example.com`).
    pub record: String,
    /// `A`, `AAAA` or `CNAME`.
    #[serde(default = "default_record_type")]
    pub record_type: String,
    /// The record's TTL as configured (the answer's TTL is also read at run time).
    pub ttl_seconds: u32,
    /// The hosted zone's authoritative name servers (`host` or `host:port`).
    pub name_servers: Vec<String>,
    /// Route 53 health-check propagation allowance after a routing-control change.
    #[serde(default = "default_propagation")]
    pub health_check_propagation_seconds: u32,
}

fn default_record_type() -> String {
    "A".into()
}
fn default_propagation() -> u32 {
    30
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackResources {
    pub topic_arn: String,
    pub report_bucket: String,
    /// The secret that signs approval links.
    #[serde(default)]
    pub approval_secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    #[serde(default = "default_true")]
    pub required: bool,
    #[serde(default = "default_approval_timeout")]
    pub timeout_seconds: u64,
    /// Whether a canary alarm may start a failover that runs without approval.
    #[serde(default)]
    pub alarm_may_fail_over_without_approval: bool,
    /// Who may decide, by name (compared without case or surrounding blanks); empty: anyone
    /// who holds the link. The approval page and the CLI refuse any other name. A typed name
    /// authenticates nobody: the link and, for the CLI, the caller's IAM identity do.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
}

fn default_true() -> bool {
    true
}
fn default_approval_timeout() -> u64 {
    3600
}

impl Default for Approval {
    fn default() -> Self {
        Self {
            required: true,
            timeout_seconds: default_approval_timeout(),
            alarm_may_fail_over_without_approval: false,
            approvers: Vec::new(),
        }
    }
}

/// One problem found in a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanProblem {
    /// The field path, `databases[1].report.tables[0].key`, or empty for the document.
    pub path: String,
    pub message: String,
}

impl fmt::Display for PlanProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

/// Every problem found in a plan, in document order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PlanErrors(pub Vec<PlanProblem>);

impl fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl PlanErrors {
    pub fn paths(&self) -> Vec<&str> {
        self.0.iter().map(|p| p.path.as_str()).collect()
    }
}

impl Plan {
    /// Parses and validates a YAML plan.
    pub fn from_yaml(text: &str) -> Result<Plan, PlanErrors> {
        let de = serde_norway::Deserializer::from_str(text);
        let plan: Plan = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            PlanErrors(vec![PlanProblem { path, message: strip_location(&e.inner().to_string()) }])
        })?;
        plan.validate()?;
        Ok(plan)
    }

    /// Parses and validates a plan carried as JSON (inside a state machine payload).
    pub fn from_json_value(value: serde_json::Value) -> Result<Plan, PlanErrors> {
        let plan: Plan = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            PlanErrors(vec![PlanProblem { path, message: e.inner().to_string() }])
        })?;
        plan.validate()?;
        Ok(plan)
    }

    /// The Region that is not `region`, if `region` is one of the pair.
    pub fn other_region(&self, region: &str) -> Option<&str> {
        if region == self.regions.primary {
            Some(&self.regions.secondary)
        } else if region == self.regions.secondary {
            Some(&self.regions.primary)
        } else {
            None
        }
    }

    /// Every routing control as (Region, ARN), Region by Region in the plan's order.
    pub fn routing_controls(&self) -> Vec<(&str, &str)> {
        self.arc
            .routing_controls
            .iter()
            .flat_map(|(region, arns)| arns.iter().map(move |a| (region.as_str(), a.as_str())))
            .collect()
    }

    pub fn has_region(&self, region: &str) -> bool {
        region == self.regions.primary || region == self.regions.secondary
    }

    pub fn database(&self, name: &str) -> Option<&GlobalDatabase> {
        self.databases.iter().find(|d| d.name == name)
    }

    /// The canary alarms that judge `watched`, each with the Region it lives in (the other
    /// Region unless the plan says).
    pub fn watchers_of(&self, watched: &str) -> Vec<(&str, &str)> {
        let default = self.other_region(watched).unwrap_or_default();
        self.health
            .get(watched)
            .map(|h| h.alarms.iter().map(|a| (a.name.as_str(), a.region.as_deref().unwrap_or(default))).collect())
            .unwrap_or_default()
    }

    /// The names of `region`'s own alarms (`health.<region>.own_alarms`), which live in
    /// `region`.
    pub fn own_alarms_of(&self, region: &str) -> Vec<&str> {
        self.health.get(region).map(|h| h.own_alarms.iter().map(|a| a.name.as_str()).collect()).unwrap_or_default()
    }

    /// Runs every semantic check and returns all the problems found.
    pub fn validate(&self) -> Result<(), PlanErrors> {
        let mut v = Validator::default();
        v.plan(self);
        if v.problems.is_empty() { Ok(()) } else { Err(PlanErrors(v.problems)) }
    }

    /// A few lines an operator reads to confirm the plan is the one intended.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        use std::fmt::Write;
        let _ =
            writeln!(s, "plan {}: primary {}, secondary {}", self.name, self.regions.primary, self.regions.secondary);
        let _ = writeln!(s, "objectives: RTO {} s, RPO {} s", self.objectives.rto_seconds, self.objectives.rpo_seconds);
        let controls: usize = self.arc.routing_controls.values().map(Vec::len).sum();
        let _ = writeln!(
            s,
            "ARC: {} cluster endpoints, {} routing controls, {} overridable safety rules",
            self.arc.cluster_endpoints.len(),
            controls,
            self.arc.safety_rules.len()
        );
        for db in &self.databases {
            let tables = db.report.as_ref().map_or(0, |r| r.tables.len());
            let _ = writeln!(
                s,
                "database {}: global cluster {} ({}), {} report tables",
                db.name, db.global_cluster, db.engine, tables
            );
        }
        let _ = writeln!(s, "DNS: {} {} (TTL {} s)", self.dns.record, self.dns.record_type, self.dns.ttl_seconds);
        let approvers = if self.approval.approvers.is_empty() {
            "anyone holding the link".to_string()
        } else {
            self.approval.approvers.join(", ")
        };
        let _ = write!(
            s,
            "approval: {}, timeout {} s, approvers: {approvers}; cooldown {} s",
            if self.approval.required { "required" } else { "not required" },
            self.approval.timeout_seconds,
            self.cooldown_seconds
        );
        s
    }
}

fn strip_location(msg: &str) -> String {
    // serde_norway appends " at line L column C"; keep it, it helps find the field.
    msg.to_string()
}

/// What a field of the plan must hold: an ARN of one service and resource type.
struct ArnKind {
    /// `a KMS key ARN`, for the message.
    what: &'static str,
    service: &'static str,
    /// The expected form, quoted in the message.
    form: &'static str,
    /// Whether the ARN names a Region (ARC's controls are global: their Region is empty).
    regional: bool,
    /// Whether the resource part (after the account) is of the right type.
    resource: fn(&str) -> bool,
}

/// `<prefix><non-empty rest>`.
fn has_prefix(resource: &str, prefix: &str) -> bool {
    resource.strip_prefix(prefix).is_some_and(|rest| !rest.is_empty())
}

/// The type of an ARC control-panel resource, `controlpanel/<id>/<type>/<id>`.
fn arc_resource_type(resource: &str) -> Option<&str> {
    match resource.split('/').collect::<Vec<_>>()[..] {
        ["controlpanel", panel, kind, id] if !panel.is_empty() && !id.is_empty() => Some(kind),
        _ => None,
    }
}

/// A KMS key, for the recovery copy and restore and the report's SSE-KMS.
///
/// Alias ARNs (`...:alias/<name>`) are accepted: CopyDBClusterSnapshot and
/// RestoreDBClusterFromSnapshot take a key ARN, key id, alias ARN or alias name, and S3's
/// SSE-KMS takes an alias ARN too; like a key ARN, an alias ARN names its Region and account,
/// so the Region rule still holds. A key id or a bare alias name (`alias/x`) is refused: it
/// is resolved in whatever Region and account the caller runs in, which is exactly what the
/// plan must pin down (and across Regions RDS needs the destination's key).
const KMS_KEY: ArnKind = ArnKind {
    what: "a KMS key ARN",
    service: "kms",
    form: "arn:<partition>:kms:<region>:<12-digit account>:key/<key id>, or an alias ARN ...:alias/<name>",
    regional: true,
    resource: |r| (has_prefix(r, "key/") && !r["key/".len()..].contains('/')) || has_prefix(r, "alias/"),
};

const SECRET: ArnKind = ArnKind {
    what: "a Secrets Manager secret ARN",
    service: "secretsmanager",
    form: "arn:<partition>:secretsmanager:<region>:<12-digit account>:secret:<name>",
    regional: true,
    resource: |r| has_prefix(r, "secret:"),
};

const SNS_TOPIC: ArnKind = ArnKind {
    what: "an SNS topic ARN",
    service: "sns",
    form: "arn:<partition>:sns:<region>:<12-digit account>:<topic name>",
    regional: true,
    // A subscription ARN is `<topic>:<subscription id>`.
    resource: |r| !r.contains(':'),
};

const AURORA_CLUSTER: ArnKind = ArnKind {
    what: "an Aurora cluster ARN",
    service: "rds",
    form: "arn:<partition>:rds:<region>:<12-digit account>:cluster:<cluster id>",
    regional: true,
    resource: |r| has_prefix(r, "cluster:") && !r["cluster:".len()..].contains(':'),
};

const ROUTING_CONTROL: ArnKind = ArnKind {
    what: "an ARC routing control ARN",
    service: "route53-recovery-control",
    form: "arn:<partition>:route53-recovery-control::<12-digit account>:controlpanel/<id>/routingcontrol/<id>",
    regional: false,
    resource: |r| arc_resource_type(r) == Some("routingcontrol"),
};

const SAFETY_RULE: ArnKind = ArnKind {
    what: "an ARC safety rule ARN",
    service: "route53-recovery-control",
    form: "arn:<partition>:route53-recovery-control::<12-digit account>:controlpanel/<id>/safetyrule/<id>",
    regional: false,
    resource: |r| arc_resource_type(r) == Some("safetyrule"),
};

#[derive(Default)]
struct Validator {
    problems: Vec<PlanProblem>,
    /// Whether the two Regions are known and distinct. When they are not, the per-Region
    /// maps are not checked against them: one wrong Region name would otherwise repeat as a
    /// problem in every map.
    pair_ok: bool,
}

impl Validator {
    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(PlanProblem { path: path.into(), message: message.into() });
    }

    fn non_empty(&mut self, path: &str, value: &str) {
        if value.trim().is_empty() {
            self.problem(path, "must not be empty");
        }
    }

    fn region(&mut self, path: &str, region: &str) {
        if region.trim().is_empty() {
            self.problem(path, "a Region is required");
        } else if !is_known_region(region) {
            self.problem(path, format!("`{region}` is not a known AWS Region"));
        }
    }

    /// Checks a map keyed by Region: keys must be the plan's Regions; `required` means both.
    fn region_keys<T>(&mut self, path: &str, map: &BTreeMap<Region, T>, pair: &[&str; 2], required: bool) {
        if !self.pair_ok {
            return;
        }
        for key in map.keys() {
            if !pair.contains(&key.as_str()) {
                self.problem(
                    format!("{path}.{key}"),
                    format!("`{key}` is not one of the plan's Regions ({} and {})", pair[0], pair[1]),
                );
            }
        }
        if required {
            for r in pair {
                if !map.contains_key(*r) {
                    self.problem(path, format!("missing an entry for Region `{r}`"));
                }
            }
        }
    }

    /// Checks that `value` is an ARN of `kind` (service, resource type, a 12-digit account,
    /// a Region when the service is Regional). Returns its parts when it is one, for the
    /// rules that then compare its Region.
    fn arn<'a>(&mut self, path: &str, value: &'a str, kind: &ArnKind) -> Option<Arn<'a>> {
        let arn = parse_arn(value).filter(|a| {
            a.service == kind.service
                && (kind.resource)(a.resource)
                && a.account.len() == 12
                && a.account.bytes().all(|b| b.is_ascii_digit())
                && a.region.is_empty() != kind.regional
        });
        if arn.is_none() {
            self.problem(path, format!("`{value}` is not {} (expected `{}`)", kind.what, kind.form));
        }
        arn
    }

    /// Checks that the ARN found at `path` lives in `region`, the Region its entry is for;
    /// `why` says what would break in the other Region.
    fn arn_in_region(&mut self, path: &str, arn: Option<Arn<'_>>, region: &str, why: &str) {
        if let Some(a) = arn
            && a.region != region
        {
            self.problem(path, format!("the ARN is in `{}`, another Region than `{region}`: {why}", a.region));
        }
    }

    fn url(&mut self, path: &str, s: &str, schemes: &[&str]) {
        match url::Url::parse(s) {
            Ok(u) if schemes.contains(&u.scheme()) && u.host_str().is_some() => {}
            Ok(u) => self.problem(
                path,
                format!("`{s}` must be an {} URL with a host (scheme is {})", schemes.join(" or "), u.scheme()),
            ),
            Err(e) => self.problem(path, format!("`{s}` is not a valid URL ({e})")),
        }
    }

    fn unique<'a>(&mut self, path: &str, what: &str, items: impl IntoIterator<Item = &'a str>) {
        let mut seen = BTreeSet::new();
        for (i, item) in items.into_iter().enumerate() {
            if !seen.insert(item) {
                self.problem(format!("{path}[{i}]"), format!("duplicate {what} `{item}`"));
            }
        }
    }

    fn plan(&mut self, p: &Plan) {
        self.non_empty("name", &p.name);
        if !p.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            self.problem("name", "use letters, digits and hyphens only (it is part of resource names)");
        }
        self.region("regions.primary", &p.regions.primary);
        self.region("regions.secondary", &p.regions.secondary);
        if p.regions.primary == p.regions.secondary && !p.regions.primary.is_empty() {
            self.problem(
                "regions.secondary",
                format!("must differ from regions.primary (both are `{}`)", p.regions.primary),
            );
        }
        let pair = [p.regions.primary.as_str(), p.regions.secondary.as_str()];
        self.pair_ok = pair.iter().all(|r| is_known_region(r)) && pair[0] != pair[1];

        if p.objectives.rto_seconds == 0 {
            self.problem("objectives.rto_seconds", "must be greater than zero");
        }

        self.arc(&p.arc, &pair);

        self.unique("databases", "database name", p.databases.iter().map(|d| d.name.as_str()));
        self.unique("databases", "global cluster", p.databases.iter().map(|d| d.global_cluster.as_str()));
        for (i, db) in p.databases.iter().enumerate() {
            self.database(&format!("databases[{i}]"), db, &pair);
        }

        self.region_keys("network", &p.network, &pair, false);
        self.region_keys("health", &p.health, &pair, true);
        for (region, h) in &p.health {
            let base = format!("health.{region}");
            for (i, c) in h.http.iter().enumerate() {
                self.url(&format!("{base}.http[{i}].url"), &c.url, &["http", "https"]);
                if !(100..=599).contains(&c.expected_status) {
                    self.problem(
                        format!("{base}.http[{i}].expected_status"),
                        format!("{} is not an HTTP status", c.expected_status),
                    );
                }
                if c.max_latency_ms == 0 {
                    self.problem(format!("{base}.http[{i}].max_latency_ms"), "must be greater than zero");
                }
            }
            // `health.<R>.alarms` are the canaries that judge R from the other Region: an
            // alarm is named, and lives in `region` (the other Region when left out). An alarm
            // in R itself would go silent, or unreadable, exactly when R fails.
            let watcher = p.other_region(region).filter(|_| self.pair_ok);
            for (i, a) in h.alarms.iter().enumerate() {
                let name_path = format!("{base}.alarms[{i}].name");
                self.non_empty(&name_path, &a.name);
                if let Some(arn) = parse_arn(&a.name) {
                    // DescribeAlarms looks alarms up by name, in the Region of `region`.
                    let name = arn.resource.strip_prefix("alarm:").unwrap_or(arn.resource);
                    self.problem(
                        name_path,
                        format!(
                            "`{}` is an ARN; give the alarm's name (`{name}`) and its Region in `region` \
                             (alarms are looked up by name in that Region)",
                            a.name
                        ),
                    );
                }
                if let Some(r) = &a.region {
                    if self.pair_ok && !pair.contains(&r.as_str()) {
                        self.problem(
                            format!("{base}.alarms[{i}].region"),
                            format!("`{r}` is not one of the plan's Regions"),
                        );
                    } else if r == region {
                        self.problem(
                            format!("{base}.alarms[{i}].region"),
                            format!(
                                "`{r}` is the Region this alarm watches: it would go silent with {r}; a canary \
                                 judging {r} runs in {} (leave `region` out for that default)",
                                watcher.unwrap_or("the other Region")
                            ),
                        );
                    }
                }
            }
            self.unique(&format!("{base}.alarms"), "alarm", h.alarms.iter().map(|a| a.name.as_str()));
            self.own_alarms(p, region, h);
        }

        self.non_empty("dns.record", &p.dns.record);
        if !["A", "AAAA", "CNAME"].contains(&p.dns.record_type.as_str()) {
            self.problem("dns.record_type", format!("`{}` is not one of A, AAAA, CNAME", p.dns.record_type));
        }
        if p.dns.name_servers.is_empty() {
            self.problem("dns.name_servers", "name at least one authoritative name server of the hosted zone");
        }
        for (i, ns) in p.dns.name_servers.iter().enumerate() {
            if ns.trim().is_empty() || ns.contains('/') {
                self.problem(format!("dns.name_servers[{i}]"), format!("`{ns}` is not a host or host:port"));
            }
        }

        self.region_keys("stacks", &p.stacks, &pair, true);
        for (region, s) in &p.stacks {
            let path = format!("stacks.{region}.topic_arn");
            let topic = self.arn(&path, &s.topic_arn, &SNS_TOPIC);
            self.arn_in_region(
                &path,
                topic,
                region,
                &format!(
                    "the stack in {region} publishes to its own Region's topic; one in the other Region would go silent \
                     when that Region fails"
                ),
            );
            self.non_empty(&format!("stacks.{region}.report_bucket"), &s.report_bucket);
            if let Some(secret) = &s.approval_secret {
                let path = format!("stacks.{region}.approval_secret");
                let arn = self.arn(&path, secret, &SECRET);
                self.arn_in_region(
                    &path,
                    arn,
                    region,
                    &format!(
                        "the stack in {region} signs and checks approval links with it, so it must not depend on the \
                         other Region (replicate the secret to {region} and name the replica)"
                    ),
                );
            }
        }

        if p.approval.timeout_seconds == 0 {
            self.problem("approval.timeout_seconds", "must be greater than zero");
        }
        for (i, name) in p.approval.approvers.iter().enumerate() {
            let path = format!("approval.approvers[{i}]");
            if let Some(problem) = crate::approval::name_problem(name) {
                self.problem(&path, problem);
            } else if let Some(j) = p.approval.approvers[..i].iter().position(|a| crate::approval::same_name(a, name)) {
                self.problem(&path, format!("`{}` is listed already, as approval.approvers[{j}]", name.trim()));
            }
        }
    }

    /// `health.<R>.own_alarms`: R's own signals, living in R and read there by R's proposer.
    /// At least one, or the proposer could not tell "the peer is down" from "our own canaries
    /// cannot reach anything" (a problem of R, or of the network, not of the peer).
    fn own_alarms(&mut self, p: &Plan, region: &str, h: &RegionHealth) {
        let base = format!("health.{region}.own_alarms");
        if h.own_alarms.is_empty() {
            self.problem(
                &base,
                format!(
                    "name at least one alarm living in {region} that watches {region} itself (e.g. its canaries \
                     probing its own load balancer): the proposer in {region} must know {region} is healthy before \
                     it proposes moving traffic there"
                ),
            );
        }
        // An alarm of R judging the peer (`health.<peer>.alarms` living in R).
        let peer_watchers: Vec<&str> = p
            .other_region(region)
            .filter(|_| self.pair_ok)
            .map(|peer| p.watchers_of(peer).into_iter().filter(|(_, home)| *home == region).map(|(n, _)| n).collect())
            .unwrap_or_default();
        for (i, a) in h.own_alarms.iter().enumerate() {
            let name_path = format!("{base}[{i}].name");
            self.non_empty(&name_path, &a.name);
            if parse_arn(&a.name).is_some() {
                self.problem(
                    &name_path,
                    format!("`{}` is an ARN; give the alarm's name (alarms are looked up by name in {region})", a.name),
                );
            }
            if let Some(r) = &a.region
                && r != region
            {
                self.problem(
                    format!("{base}[{i}].region"),
                    format!(
                        "`{r}`: {region}'s own signals live in {region} and are read there (EventBridge and \
                         DescribeAlarms see only their own Region); leave `region` out"
                    ),
                );
            }
            if peer_watchers.contains(&a.name.as_str()) {
                self.problem(
                    &name_path,
                    format!(
                        "`{}` also judges the other Region (its health.alarms): one alarm cannot say both \
                         \"the other Region is down\" and \"{region} is healthy\"",
                        a.name
                    ),
                );
            }
        }
        self.unique(&base, "alarm", h.own_alarms.iter().map(|a| a.name.as_str()));
    }

    fn arc(&mut self, arc: &Arc, pair: &[&str; 2]) {
        if arc.cluster_endpoints.is_empty() {
            self.problem("arc.cluster_endpoints", "name the cluster's endpoints (an ARC cluster has five)");
        }
        for (i, e) in arc.cluster_endpoints.iter().enumerate() {
            self.url(&format!("arc.cluster_endpoints[{i}].url"), &e.url, &["https", "http"]);
            self.region(&format!("arc.cluster_endpoints[{i}].region"), &e.region);
            // Each call is signed for `region`; an endpoint refuses a signature for another
            // Region, so a mismatch makes one of the five endpoints fail on every call.
            let host = url::Url::parse(&e.url).ok().and_then(|u| u.host_str().map(str::to_string));
            if let Some(in_host) = host.as_deref().and_then(region_of_aws_host)
                && is_known_region(&e.region)
                && in_host != e.region
            {
                self.problem(
                    format!("arc.cluster_endpoints[{i}].region"),
                    format!(
                        "`{}` but the URL's host is in `{in_host}`: calls are signed for this Region, so it must be \
                         the endpoint's own ({in_host})",
                        e.region
                    ),
                );
            }
        }
        self.unique("arc.cluster_endpoints", "endpoint URL", arc.cluster_endpoints.iter().map(|e| e.url.as_str()));

        self.region_keys("arc.routing_controls", &arc.routing_controls, pair, true);
        let mut all = Vec::new();
        for (region, controls) in &arc.routing_controls {
            if controls.is_empty() {
                self.problem(format!("arc.routing_controls.{region}"), "name at least one routing control");
            }
            for (i, c) in controls.iter().enumerate() {
                let path = format!("arc.routing_controls.{region}[{i}]");
                if parse_arn(c).is_some_and(|a| arc_resource_type(a.resource) == Some("safetyrule")) {
                    self.problem(
                        &path,
                        format!(
                            "`{c}` is a safety rule, not a routing control: list it under arc.safety_rules, and \
                             here the routing controls (`.../controlpanel/<id>/routingcontrol/<id>`)"
                        ),
                    );
                } else {
                    self.arn(&path, c, &ROUTING_CONTROL);
                }
                all.push((path, c.as_str()));
            }
        }
        let mut seen = BTreeSet::new();
        for (path, c) in all {
            if !seen.insert(c) {
                self.problem(path, format!("duplicate routing control `{c}` (a control belongs to one Region)"));
            }
        }
        for (i, r) in arc.safety_rules.iter().enumerate() {
            self.non_empty(&format!("arc.safety_rules[{i}].name"), &r.name);
            let path = format!("arc.safety_rules[{i}].arn");
            if parse_arn(&r.arn).is_some_and(|a| arc_resource_type(a.resource) == Some("routingcontrol")) {
                self.problem(
                    &path,
                    format!(
                        "`{}` is a routing control, not a safety rule: list it under arc.routing_controls, and here \
                         the safety rules (`.../controlpanel/<id>/safetyrule/<id>`)",
                        r.arn
                    ),
                );
            } else {
                self.arn(&path, &r.arn, &SAFETY_RULE);
            }
        }
        self.unique("arc.safety_rules", "safety rule name", arc.safety_rules.iter().map(|r| r.name.as_str()));
        if arc.timeouts.connect_ms == 0 {
            self.problem("arc.timeouts.connect_ms", "must be greater than zero");
        }
        if arc.timeouts.attempt_ms == 0 {
            self.problem("arc.timeouts.attempt_ms", "must be greater than zero");
        }
        if arc.timeouts.connect_ms > arc.timeouts.attempt_ms {
            self.problem("arc.timeouts.connect_ms", "must not exceed attempt_ms");
        }
    }

    fn database(&mut self, base: &str, db: &GlobalDatabase, pair: &[&str; 2]) {
        self.non_empty(&format!("{base}.name"), &db.name);
        if !db.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            self.problem(format!("{base}.name"), "use letters, digits and hyphens only (it is part of resource names)");
        }
        self.non_empty(&format!("{base}.global_cluster"), &db.global_cluster);
        self.region_keys(&format!("{base}.members"), &db.members, pair, true);
        for (region, arn) in &db.members {
            let path = format!("{base}.members.{region}");
            let parsed = self.arn(&path, arn, &AURORA_CLUSTER);
            self.arn_in_region(&path, parsed, region, &format!("this entry is the member cluster in {region}"));
        }
        if let Some(cap) = &db.headless {
            self.capacity(&format!("{base}.headless"), cap);
        }
        self.capacity(&format!("{base}.recovery.capacity"), &db.recovery.capacity);
        self.region_keys(&format!("{base}.recovery.kms_keys"), &db.recovery.kms_keys, pair, false);
        // The key for R encrypts the snapshot copy and the recovery cluster restored in R, and
        // the report objects written to R's bucket when R is the new primary. KMS keys are
        // Regional: a key of another Region cannot be used there.
        for (region, key) in &db.recovery.kms_keys {
            let path = format!("{base}.recovery.kms_keys.{region}");
            let arn = self.arn(&path, key, &KMS_KEY);
            self.arn_in_region(
                &path,
                arn,
                region,
                &format!(
                    "this key encrypts the copy, the restore and the report in {region}, and KMS keys are Regional"
                ),
            );
        }
        if let Some(report) = &db.report {
            let rb = format!("{base}.report");
            self.non_empty(&format!("{rb}.database"), &report.database);
            self.region_keys(&format!("{rb}.credentials"), &report.credentials, pair, true);
            // The report runs in the new primary's Region and reads two clusters: the new
            // primary through `reader_endpoints.<new>` with `credentials.<new>`, and the
            // recovery cluster (in the Region it was restored in) with `credentials.<that
            // Region>` unless RDS manages its password. So the entry for R is always about the
            // cluster in R: its secret must be in R (a secret in the other Region would make
            // reading the new primary depend on the Region that failed; replicate it to R and
            // name the replica), and its reader endpoint must be the reader of R's cluster.
            for (region, secret) in &report.credentials {
                let path = format!("{rb}.credentials.{region}");
                let arn = self.arn(&path, secret, &SECRET);
                self.arn_in_region(
                    &path,
                    arn,
                    region,
                    &format!(
                        "these are the credentials of the cluster in {region}, read from {region} when it is the \
                         new primary"
                    ),
                );
            }
            self.region_keys(&format!("{rb}.reader_endpoints"), &report.reader_endpoints, pair, true);
            for (region, ep) in &report.reader_endpoints {
                let path = format!("{rb}.reader_endpoints.{region}");
                if ep.contains(".cluster-") && !ep.contains(".cluster-ro-") {
                    self.problem(
                        &path,
                        "this is a cluster writer endpoint; the report reads through the reader endpoint (`.cluster-ro-`)",
                    );
                }
                if let Some(in_host) = region_of_aws_host(ep)
                    && in_host != region
                {
                    self.problem(
                        &path,
                        format!(
                            "`{ep}` is in `{in_host}`, another Region than `{region}`: this entry is the reader of the \
                             cluster in {region}, which the report reads when {region} is the new primary"
                        ),
                    );
                }
            }
            if report.rows_per_part == Some(0) {
                self.problem(format!("{rb}.rows_per_part"), "must be at least 1 (or left out for the default)");
            }
            if report.tables.is_empty() {
                self.problem(format!("{rb}.tables"), "name at least one table to compare");
            }
            self.unique(&format!("{rb}.tables"), "table", report.tables.iter().map(|t| t.name.as_str()));
            for (i, t) in report.tables.iter().enumerate() {
                let tb = format!("{rb}.tables[{i}]");
                self.non_empty(&format!("{tb}.name"), &t.name);
                if t.key.is_empty() {
                    self.problem(format!("{tb}.key"), format!("table `{}` needs its key columns", t.name));
                }
                self.unique(&format!("{tb}.key"), "key column", t.key.iter().map(String::as_str));
                for (j, c) in t.ignore_columns.iter().enumerate() {
                    if t.key.contains(c) {
                        self.problem(
                            format!("{tb}.ignore_columns[{j}]"),
                            format!("`{c}` is a key column and cannot be ignored"),
                        );
                    }
                }
                if t.created_column.is_some() && t.time_column.is_none() {
                    self.problem(
                        format!("{tb}.created_column"),
                        "needs a time_column (the row's last-write time) beside it",
                    );
                }
            }
        }
    }

    fn capacity(&mut self, base: &str, cap: &Capacity) {
        if !cap.instance_class.starts_with("db.") {
            self.problem(
                format!("{base}.instance_class"),
                format!("`{}` is not an instance class (db.*)", cap.instance_class),
            );
        }
        match (&cap.serverless, cap.instance_class == "db.serverless") {
            (None, true) => self.problem(format!("{base}.serverless"), "db.serverless needs min_acu and max_acu"),
            (Some(_), false) => {
                self.problem(format!("{base}.serverless"), "serverless capacity goes with instance_class db.serverless")
            }
            (Some(s), true) => {
                if !(s.min_acu >= 0.0 && s.max_acu >= 1.0 && s.min_acu <= s.max_acu && s.max_acu <= 256.0) {
                    self.problem(
                        format!("{base}.serverless"),
                        format!(
                            "min_acu {} and max_acu {} are not a valid range (0 <= min <= max, 1 <= max <= 256)",
                            s.min_acu, s.max_acu
                        ),
                    );
                }
            }
            (None, false) => {}
        }
    }
}
