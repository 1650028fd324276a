//! `diff-report`: the missing-transaction report of one global database, after an
//! unplanned failover (the recovery machine, after `snapshot-restore check`).
//!
//! It compares every configured table of the recovery cluster (the old primary restored
//! from its snapshot) with a reader of the new primary, and writes the report to the
//! report bucket of the new primary's Region, the Region the recovery machine runs in.
//!
//! Three actions:
//! * `diff` (the default): compares the tables (or one key range of one table, for a
//!   fan-out) and writes the report files; the summary is written last and is what makes
//!   the action idempotent: when it exists, it is returned and nothing is recomputed.
//! * `plan-ranges`: splits each table into key ranges ([`RangePart`]): as many as the
//!   table's estimated rows need at `report.rows_per_part` rows each (one range for a
//!   table below it), or at most `parts_per_table` when the input says; `split` tells
//!   whether any table was cut.
//! * `merge`: after the Map, combines the parts' results into the database's report, the
//!   same files a whole `diff` writes (the lost rows in full in `report.html`).
//!
//! In the recovery machine: `recovery` is `snapshot-restore check`'s `recovery` as is;
//! `plan-ranges` runs first; when no table is split, one `diff` compares the database;
//! otherwise a Map runs `diff` over the `parts` (each item becomes `key_range`, with a
//! bounded `MaxConcurrency`: every item opens one connection to each cluster), then `merge`
//! with the same `parts`. Every action may be retried as is.
//!
//! The S3 layout ([`report_prefix`]) is part of the contract: `reports/<plan>/<execution>/
//! <database>/` holds `summary.json`, `report.html`, `differences.jsonl` and one
//! `<table>.csv` per table; a part lives under `parts/<table>/<index>-of-<count>/` below it.

use serde::{Deserialize, Serialize};

use super::aurora::{database_in_plan, validate_execution};
use super::snapshot::RecoveryCluster;
use super::{ExecutionRef, check_region, validate_plan};
use crate::error::StepError;
use crate::plan::{GlobalDatabase, Plan, Region, Report};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiffAction {
    #[default]
    Diff,
    PlanRanges,
    Merge,
}

impl DiffAction {
    pub fn as_str(self) -> &'static str {
        match self {
            DiffAction::Diff => "diff",
            DiffAction::PlanRanges => "plan-ranges",
            DiffAction::Merge => "merge",
        }
    }
}

/// The most parts one table may be split into.
pub const MAX_PARTS_PER_TABLE: u32 = 200;

/// The most parts of one database: every part costs about 7 events of the recovery
/// execution's history (more with retries), which it shares with the snapshot wait
/// (about 2,400 events a database over 16 days) and the other databases, under the
/// 25,000-event limit. Above it, the tables' parts are made fewer and larger.
pub const MAX_PARTS_PER_DATABASE: u32 = 400;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffReportInput {
    pub plan: Plan,
    /// The name of the database in `plan.databases`.
    pub database: String,
    /// The Region of the old primary.
    pub old_region: Region,
    /// The Region of the new primary: its reader is compared, its stack's bucket receives
    /// the report (the recovery machine runs there).
    pub new_region: Region,
    #[serde(default)]
    pub action: DiffAction,
    /// The recovery cluster as `snapshot-restore check` returned it (endpoint, port,
    /// engine, and the RDS-managed master secret the report connects with).
    pub recovery: RecoveryCluster,
    /// The recovery execution: the report's S3 prefix derives from its name.
    pub execution: ExecutionRef,
    /// When the failover began (RFC 3339): rows whose time column is later were written
    /// after the failover and are reported apart.
    pub failover_started_at: String,
    /// Only these tables of `plan.databases[].report.tables` (default: all of them).
    #[serde(default)]
    pub tables: Option<Vec<String>>,
    /// `diff` of one key range of one table (one item of `plan-ranges`' `parts`).
    #[serde(default)]
    pub key_range: Option<RangePart>,
    /// `plan-ranges`: split every table into this many ranges, at most (fewer for small
    /// tables); 1 leaves a table whole. Default: from each table's estimated rows and the
    /// plan's `report.rows_per_part`.
    #[serde(default)]
    pub parts_per_table: Option<u32>,
    /// `merge`: the parts `plan-ranges` returned.
    #[serde(default)]
    pub parts: Vec<RangePart>,
}

/// One key range of one table: `lower <= key < upper`, each bound one text value per key
/// column as the database prints it; `None` is unbounded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangePart {
    pub table: String,
    /// 0-based position among the table's parts.
    pub index: u32,
    /// How many parts the table was split into.
    pub count: u32,
    #[serde(default)]
    pub lower: Option<Vec<String>>,
    #[serde(default)]
    pub upper: Option<Vec<String>>,
}

impl DiffReportInput {
    /// Semantic checks; every problem names its field.
    pub fn validate(&self) -> Result<(), StepError> {
        validate_plan(&self.plan)?;
        validate_execution(&self.execution)?;
        check_region(&self.plan, "old_region", &self.old_region)?;
        check_region(&self.plan, "new_region", &self.new_region)?;
        if self.old_region == self.new_region {
            return Err(StepError::bad_input(format!(
                "new_region: must differ from old_region (both are `{}`)",
                self.new_region
            )));
        }
        let db = database_in_plan(&self.plan, "database", &self.database)?;
        let report = self.report_config()?;
        crate::time_fmt::parse_rfc3339(&self.failover_started_at)
            .map_err(|e| StepError::bad_input(format!("failover_started_at: {e}")))?;

        let reader = report.reader_endpoints.get(&self.new_region).ok_or_else(|| {
            StepError::bad_input(format!(
                "plan.databases[{}].report.reader_endpoints: no reader endpoint for `{}`",
                self.database, self.new_region
            ))
        })?;
        if is_writer_endpoint(reader) {
            return Err(StepError::bad_input(format!(
                "plan.databases[{}].report.reader_endpoints.{}: `{reader}` is a cluster writer endpoint; the report \
                 reads the new primary through its reader endpoint (`.cluster-ro-`), never its writer",
                self.database, self.new_region
            )));
        }
        if !report.credentials.contains_key(&self.new_region) {
            return Err(StepError::bad_input(format!(
                "plan.databases[{}].report.credentials: no secret for `{}`",
                self.database, self.new_region
            )));
        }

        let r = &self.recovery;
        check_region(&self.plan, "recovery.region", &r.region)?;
        match r.endpoint.as_deref() {
            None | Some("") => {
                return Err(StepError::bad_input(
                    "recovery.endpoint: missing; pass the output of `snapshot-restore check` once it has the endpoint",
                ));
            }
            Some(_) => {}
        }
        if r.port.is_none_or(|p| p == 0) {
            return Err(StepError::bad_input("recovery.port: missing or zero"));
        }
        match r.engine.as_deref() {
            None => return Err(StepError::bad_input("recovery.engine: missing")),
            Some(e) if e != db.engine.as_str() => {
                return Err(StepError::bad_input(format!(
                    "recovery.engine: `{e}` but the plan's database `{}` is `{}`: both sides must be the same engine",
                    self.database, db.engine
                )));
            }
            Some(_) => {}
        }
        match &r.master_user_secret_arn {
            Some(arn) => secret_region(arn)
                .map(|_| ())
                .map_err(|e| StepError::bad_input(format!("recovery.master_user_secret_arn: {e}")))?,
            None => {
                if !report.credentials.contains_key(&r.region) {
                    return Err(StepError::bad_input(format!(
                        "recovery.master_user_secret_arn: absent, and plan.databases[{}].report.credentials has no \
                         secret for the recovery cluster's Region `{}`",
                        self.database, r.region
                    )));
                }
            }
        }

        if let Some(tables) = &self.tables {
            if tables.is_empty() {
                return Err(StepError::bad_input("tables: name at least one table, or leave the field out for all"));
            }
            for (i, t) in tables.iter().enumerate() {
                if !report.tables.iter().any(|x| &x.name == t) {
                    return Err(StepError::bad_input(format!(
                        "tables[{i}]: `{t}` is not a report table of database `{}` (known: {})",
                        self.database,
                        report.tables.iter().map(|x| x.name.as_str()).collect::<Vec<_>>().join(", ")
                    )));
                }
                if tables[..i].contains(t) {
                    return Err(StepError::bad_input(format!("tables[{i}]: `{t}` is named twice")));
                }
            }
        }
        let selected = self.selected_tables()?;
        let check_part = |field: &str, p: &RangePart| -> Result<(), StepError> {
            let Some(t) = selected.iter().find(|t| t.name == p.table) else {
                return Err(StepError::bad_input(format!(
                    "{field}.table: `{}` is not a selected report table",
                    p.table
                )));
            };
            if p.count == 0 || p.index >= p.count {
                return Err(StepError::bad_input(format!(
                    "{field}.index: {} is not below count {} (count must be at least 1)",
                    p.index, p.count
                )));
            }
            for (name, b) in [("lower", &p.lower), ("upper", &p.upper)] {
                if let Some(v) = b
                    && v.len() != t.key.len()
                {
                    return Err(StepError::bad_input(format!(
                        "{field}.{name}: {} values for the {} key columns of `{}`",
                        v.len(),
                        t.key.len(),
                        t.name
                    )));
                }
            }
            Ok(())
        };
        if let Some(p) = &self.key_range {
            if self.action != DiffAction::Diff {
                return Err(StepError::bad_input(format!(
                    "key_range: only the `diff` action takes it, not `{}`",
                    self.action.as_str()
                )));
            }
            check_part("key_range", p)?;
        }
        match self.action {
            DiffAction::PlanRanges => match self.parts_per_table {
                None => {}
                Some(n) if n == 0 || n > MAX_PARTS_PER_TABLE => {
                    return Err(StepError::bad_input(format!(
                        "parts_per_table: {n} is not between 1 and {MAX_PARTS_PER_TABLE}"
                    )));
                }
                Some(_) => {}
            },
            DiffAction::Merge => {
                if self.parts.is_empty() {
                    return Err(StepError::bad_input("parts: `merge` needs the parts that `plan-ranges` returned"));
                }
                for (i, p) in self.parts.iter().enumerate() {
                    check_part(&format!("parts[{i}]"), p)?;
                    if self.parts[..i].iter().any(|q| q.table == p.table && q.index == p.index) {
                        return Err(StepError::bad_input(format!(
                            "parts[{i}]: part {} of `{}` is named twice",
                            p.index, p.table
                        )));
                    }
                }
                for t in &selected {
                    let ps: Vec<&RangePart> = self.parts.iter().filter(|p| p.table == t.name).collect();
                    let Some(first) = ps.first() else {
                        return Err(StepError::bad_input(format!("parts: no part of table `{}`", t.name)));
                    };
                    if ps.len() as u32 != first.count || ps.iter().any(|p| p.count != first.count) {
                        return Err(StepError::bad_input(format!(
                            "parts: table `{}` has {} parts listed but its parts say {}",
                            t.name,
                            ps.len(),
                            first.count
                        )));
                    }
                }
            }
            DiffAction::Diff => {}
        }
        Ok(())
    }

    pub fn global_database(&self) -> Result<&GlobalDatabase, StepError> {
        database_in_plan(&self.plan, "database", &self.database)
    }

    /// The database's report configuration.
    pub fn report_config(&self) -> Result<&Report, StepError> {
        self.global_database()?.report.as_ref().ok_or_else(|| {
            StepError::bad_input(format!("database: `{}` has no `report` section in the plan", self.database))
        })
    }

    /// The tables this invocation covers, in plan order.
    pub fn selected_tables(&self) -> Result<Vec<&crate::plan::Table>, StepError> {
        let report = self.report_config()?;
        Ok(match &self.tables {
            None => report.tables.iter().collect(),
            Some(names) => report.tables.iter().filter(|t| names.contains(&t.name)).collect(),
        })
    }

    /// The secret the recovery cluster is read with: the RDS-managed master secret
    /// `snapshot-restore check` returned, else the plan's secret for its Region.
    pub fn recovery_secret(&self) -> Result<String, StepError> {
        if let Some(arn) = &self.recovery.master_user_secret_arn {
            return Ok(arn.clone());
        }
        self.report_config()?.credentials.get(&self.recovery.region).cloned().ok_or_else(|| {
            StepError::bad_input(format!(
                "recovery: no secret for the recovery cluster's Region `{}`",
                self.recovery.region
            ))
        })
    }

    /// The S3 prefix (ending in `/`) of this invocation's report.
    ///
    /// A part's prefix does not depend on `tables`, so that `merge` finds the parts
    /// whatever subset the Map's items carried; a subset's own report has a prefix of its
    /// own, so that it never passes for the whole database's.
    pub fn prefix(&self) -> String {
        let base = report_prefix(&self.plan.name, &self.execution.name, &self.database);
        if self.action == DiffAction::Diff
            && let Some(part) = &self.key_range
        {
            return format!("{base}{}", part_suffix(part));
        }
        match &self.tables {
            None => base,
            Some(names) => {
                let mut sorted: Vec<&str> = names.iter().map(String::as_str).collect();
                sorted.sort_unstable();
                format!("{base}tables-{:08x}/", crate::stable_hash(sorted.join("\n").as_bytes()) as u32)
            }
        }
    }

    /// The prefix of one part's report.
    pub fn part_prefix(&self, part: &RangePart) -> String {
        format!("{}{}", report_prefix(&self.plan.name, &self.execution.name, &self.database), part_suffix(part))
    }
}

/// `reports/<plan>/<execution>/<database>/`.
pub fn report_prefix(plan: &str, execution: &str, database: &str) -> String {
    format!("reports/{}/{}/{}/", key_segment(plan), key_segment(execution), key_segment(database))
}

/// Where a part's report lives below the database's prefix.
pub fn part_suffix(part: &RangePart) -> String {
    format!("parts/{}/{:04}-of-{:04}/", key_segment(&part.table), part.index, part.count)
}

/// A file or key segment made of `[A-Za-z0-9._-]`, other characters as `_`.
pub fn key_segment(s: &str) -> String {
    let out: String = s.chars().map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '_' }).collect();
    if out.is_empty() || out.chars().all(|c| c == '.') { "_".into() } else { out }
}

/// Whether `host` is an Aurora cluster (writer) endpoint, not its reader endpoint.
pub fn is_writer_endpoint(host: &str) -> bool {
    host.contains(".cluster-") && !host.contains(".cluster-ro-")
}

/// The Region of a Secrets Manager secret ARN.
pub fn secret_region(arn: &str) -> Result<&str, String> {
    match crate::plan::parse_arn(arn) {
        Some(a) if a.service == "secretsmanager" && !a.region.is_empty() && a.resource.starts_with("secret:") => {
            Ok(a.region)
        }
        _ => Err(format!("`{arn}` is not a Secrets Manager secret ARN")),
    }
}

/// The output of every action; `summary.json` holds the same document for `diff` and
/// `merge` (with `reused: false`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffReportOutput {
    pub action: DiffAction,
    pub database: String,
    /// The recovery execution's name.
    pub execution: String,
    /// True when the report was already written and was returned as found: nothing was
    /// recomputed or rewritten.
    #[serde(default)]
    pub reused: bool,
    /// `diff`, `merge`: where the report is.
    #[serde(default)]
    pub report: Option<ReportLocation>,
    /// `diff`, `merge`: what was compared.
    #[serde(default)]
    pub compared: Option<Compared>,
    /// `diff`, `merge`: the counts per table.
    #[serde(default)]
    pub tables: Vec<TableCounts>,
    #[serde(default)]
    pub totals: Totals,
    /// No key with a lost write in any table (writes after the failover do not count).
    #[serde(default)]
    pub identical: bool,
    /// `diff` of one key range: which.
    #[serde(default)]
    pub part: Option<RangePart>,
    /// `plan-ranges`: the parts to fan out (`merge` does not echo them: see
    /// [`ReportLocation::part_prefixes`]).
    #[serde(default)]
    pub parts: Vec<RangePart>,
    /// `plan-ranges`: some table was cut into more than one range, so the database is
    /// compared part by part and merged; otherwise one `diff` compares it whole.
    #[serde(default)]
    pub split: bool,
    /// When the report was computed (RFC 3339); for a reused report, when it was first computed.
    pub completed_at: String,
}

/// The report's objects. All are encrypted with SSE-KMS (`encryption`); no link to them is
/// ever presigned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportLocation {
    pub bucket: String,
    pub region: Region,
    /// Ends in `/`.
    pub prefix: String,
    pub summary: String,
    pub html: String,
    /// The JSON Lines file (every differing row).
    #[serde(default)]
    pub jsonl: Option<String>,
    /// One CSV per table: `(table, key)`.
    #[serde(default)]
    pub csv: Vec<TableObject>,
    /// `merge`, in `summary.json` only: the parts' prefixes, each a report of its key range.
    #[serde(default)]
    pub part_prefixes: Vec<String>,
    /// `aws:kms`.
    pub encryption: String,
    /// The KMS key, when the plan names one for this Region; otherwise the bucket's
    /// default key for SSE-KMS.
    #[serde(default)]
    pub kms_key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableObject {
    pub table: String,
    pub key: String,
}

/// The two sides that were compared (no credentials).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compared {
    pub engine: String,
    pub old_region: Region,
    /// The recovery cluster's endpoint and identifier.
    pub old_host: String,
    pub old_cluster: String,
    pub new_region: Region,
    /// The new primary's reader endpoint.
    pub new_host: String,
    pub failover_started_at: String,
    /// The failover point every table was classified against (UTC): the last instant whose
    /// writes the new primary received, estimated from its data (ARCHITECTURE.md, "The
    /// missing-transaction report"). `None` when no table has a time column.
    #[serde(default)]
    pub failover_point: Option<String>,
}

/// Exact counts of one table (or one part of it), per class of key (ARCHITECTURE.md, "The
/// missing-transaction report").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableCounts {
    pub table: String,
    /// Keys holding a write of the old primary that the new one lacks: the five lost classes.
    pub lost: u64,
    /// Keys changed on the new primary after the failover, nothing lost: the three others.
    pub after_failover: u64,
    #[serde(default)]
    pub lost_insert: u64,
    #[serde(default)]
    pub lost_update: u64,
    #[serde(default)]
    pub lost_delete: u64,
    #[serde(default)]
    pub conflict: u64,
    #[serde(default)]
    pub id_reused: u64,
    #[serde(default)]
    pub inserted_after: u64,
    #[serde(default)]
    pub updated_after: u64,
    #[serde(default)]
    pub deleted_after: u64,
    pub old_rows: u64,
    pub new_rows: u64,
    /// Some rows were counted but not listed in the files (too many to keep).
    #[serde(default)]
    pub truncated: bool,
    /// `merge`: how many parts were combined.
    #[serde(default)]
    pub parts: u32,
}

/// The counts of every table added up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Totals {
    pub lost: u64,
    pub after_failover: u64,
    #[serde(default)]
    pub lost_insert: u64,
    #[serde(default)]
    pub lost_update: u64,
    #[serde(default)]
    pub lost_delete: u64,
    #[serde(default)]
    pub conflict: u64,
    #[serde(default)]
    pub id_reused: u64,
    #[serde(default)]
    pub inserted_after: u64,
    #[serde(default)]
    pub updated_after: u64,
    #[serde(default)]
    pub deleted_after: u64,
}

impl Totals {
    pub fn of(tables: &[TableCounts]) -> Totals {
        let mut t = Totals::default();
        for c in tables {
            t.lost += c.lost;
            t.after_failover += c.after_failover;
            t.lost_insert += c.lost_insert;
            t.lost_update += c.lost_update;
            t.lost_delete += c.lost_delete;
            t.conflict += c.conflict;
            t.id_reused += c.id_reused;
            t.inserted_after += c.inserted_after;
            t.updated_after += c.updated_after;
            t.deleted_after += c.deleted_after;
        }
        t
    }

    /// Keys with a lost write: the differences not explained by writes after the failover.
    pub fn differences(&self) -> u64 {
        self.lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_endpoints_are_recognised() {
        assert!(is_writer_endpoint("db.cluster-abc.us-east-1.rds.amazonaws.com"));
        assert!(!is_writer_endpoint("db.cluster-ro-abc.us-east-1.rds.amazonaws.com"));
        assert!(!is_writer_endpoint("127.0.0.1"));
    }

    #[test]
    fn secret_regions_come_from_the_arn() {
        assert_eq!(secret_region("arn:aws:secretsmanager:us-west-2:1:secret:a/b-AbCdEf"), Ok("us-west-2"));
        assert!(secret_region("arn:aws:s3:::bucket").is_err());
        assert!(secret_region("plain-name").is_err());
    }

    #[test]
    fn key_segments_are_safe() {
        assert_eq!(key_segment("public.orders"), "public.orders");
        assert_eq!(key_segment("a/b c"), "a_b_c");
        assert_eq!(key_segment(".."), "_");
        assert_eq!(report_prefix("retail", "exec-1", "orders"), "reports/retail/exec-1/orders/");
        let p = RangePart { table: "orders".into(), index: 3, count: 12, lower: None, upper: None };
        assert_eq!(part_suffix(&p), "parts/orders/0003-of-0012/");
    }
}
