//! `failover drill --campaign`: the scenario × fault × seed matrix a chaos day runs, each
//! drill on its own simulator and virtual clock, several at once, and what they add up to.
//!
//! * [`matrix`] is the one place the cells are listed: every [`Scenario`], with no fault
//!   and with each of [`fault_samples`] that [`applies`] to it, for every seed. A fault
//!   added to [`Fault`] joins the matrix by getting a sample there (`spell` makes the
//!   compiler ask for its kind name; a test holds the samples against the kinds
//!   [`Fault::parse`] lists).
//! * [`run`] runs cells on worker threads (each drill builds its own runtime, as
//!   [`crate::run_blocking`] does) and aggregates them into a [`Campaign`]: per scenario
//!   and fault, the outcomes, the RTO percentiles against the objective and the lower
//!   bound, the rows lost as reported and as the ground truth has them, the repeated side
//!   effects and the history events.
//! * A cell is as expected when its drill's verdict (`expect`, the scenario table) says
//!   so; a campaign never compares with an earlier run.

use std::fmt::Write as _;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use failover_core::Plan;
use regionsim::EndpointFault;
use serde::Serialize;

use crate::report::{DrillError, DrillOptions, DrillReport, Fault, Scenario};
use crate::timeline::{self, Scale, esc};

/// Seeds per cell when the command line names none.
pub const DEFAULT_SEEDS: u64 = 3;

/// One drill of the matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub scenario: Scenario,
    pub fault: Option<Fault>,
    pub seed: u64,
}

impl Cell {
    /// `none`, or the fault as `--fault` spells it.
    pub fn fault_spec(&self) -> String {
        self.fault.as_ref().map_or_else(|| "none".to_string(), Fault::spec)
    }

    /// `SCENARIO/FAULT/SEED`, as `--only` takes it: `region-outage/arc-dead=4:hang/2`.
    pub fn id(&self) -> String {
        format!("{}/{}/{}", self.scenario, self.fault_spec(), self.seed)
    }

    /// The drill of this cell: `base` (plan, schema, database, approver, RTO ratio) with
    /// the cell's scenario, fault and seed.
    pub fn options(&self, base: &DrillOptions) -> DrillOptions {
        DrillOptions {
            scenario: self.scenario,
            faults: self.fault.iter().cloned().collect(),
            seed: self.seed,
            ..base.clone()
        }
    }
}

/// One sample of every fault kind (two of `arc-dead`: most endpoints dead, and all of
/// them), with the plan's databases where a fault names one. The arguments are the ones
/// the drill suite (`tests/drill.rs`) runs.
/// Fault kinds a campaign leaves out, with the reason: they test the drill, not the failover.
pub const NOT_IN_CAMPAIGN: &[(&str, &str)] = &[(
    "misreport-one-key",
    "the verdict's own test: it corrupts the drill's reading of the report, so its drill must fail",
)];

pub fn fault_samples(plan: &Plan) -> Vec<Fault> {
    let first = plan.databases.first().map(|d| d.name.clone());
    let last = plan.databases.last().map(|d| d.name.clone());
    let mut out = vec![
        Fault::ArcDead { k: 4, how: EndpointFault::Hang },
        Fault::ArcDead { k: 5, how: EndpointFault::Refuse },
        Fault::Throttle { service: "rds".into(), rate: 0.3 },
        Fault::Latency { service: "arc".into(), millis: 200 },
        Fault::LambdaOnce,
        Fault::LostAnswers,
        Fault::NeverReturns,
        Fault::NoSnapshot,
        Fault::Lag { seconds: 30 },
        Fault::ClusterQuota { clusters: 1 },
        Fault::NoLagMetric,
        Fault::AlarmStorm,
        Fault::Partition,
    ];
    if let Some(database) = first {
        out.push(Fault::RefuseMove { database });
    }
    if let Some(database) = last {
        out.push(Fault::StallMove { database });
    }
    out
}

/// Whether `fault` means something in `scenario`. Faults hold from the drill's start, so in
/// a failback (a move out, then the move back under test) a fault on the databases' moves
/// or on the lag hits the move out, not the decision; the faults of the old Region's
/// return and of the recovery mean something only where a recovery runs. `stall-move` is
/// refused for an outage by the drill itself (`run`).
pub fn applies(fault: &Fault, scenario: Scenario) -> bool {
    use Scenario::*;
    match fault {
        Fault::ArcDead { k, .. } => *k < 5 || scenario != Failback,
        Fault::Throttle { .. } | Fault::Latency { .. } | Fault::LambdaOnce | Fault::LostAnswers => true,
        Fault::NeverReturns | Fault::NoSnapshot | Fault::ClusterQuota { .. } | Fault::AlarmStorm | Fault::Partition => {
            scenario == RegionOutage
        }
        Fault::Lag { .. } | Fault::NoLagMetric | Fault::RefuseMove { .. } => scenario != Failback,
        Fault::StallMove { .. } => scenario == Planned,
        Fault::MisreportOneKey => false,
    }
}

/// Every cell: each scenario with no fault and with each sample that applies to it, for
/// each seed.
pub fn matrix(plan: &Plan, seeds: &[u64]) -> Vec<Cell> {
    let samples = fault_samples(plan);
    let mut cells = Vec::new();
    for scenario in Scenario::ALL {
        let faults = std::iter::once(None).chain(samples.iter().filter(|f| applies(f, scenario)).cloned().map(Some));
        for fault in faults {
            for &seed in seeds {
                cells.push(Cell { scenario, fault: fault.clone(), seed });
            }
        }
    }
    cells
}

/// `--only SCENARIO[/FAULT[/SEED]]`: each part a value or `*`; FAULT is a kind (`arc-dead`),
/// a full spelling (`arc-dead=5:refuse`) or `none`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    scenario: Option<Scenario>,
    fault: Option<String>,
    seed: Option<u64>,
}

/// An `--only` part that matches anything.
fn any(p: &str) -> bool {
    p.is_empty() || p == "*"
}

impl Filter {
    pub fn parse(s: &str) -> Result<Filter, String> {
        let parts: Vec<&str> = s.split('/').collect();
        if parts.len() > 3 {
            return Err(format!("--only `{s}`: SCENARIO/FAULT/SEED has three parts at most"));
        }
        let scenario = parts
            .first()
            .filter(|p| !any(p))
            .map(|p| {
                Scenario::from_cli_name(p).ok_or_else(|| {
                    format!("--only `{s}`: `{p}` is not a scenario (planned, region-outage, failback or *)")
                })
            })
            .transpose()?;
        let fault = parts.get(1).filter(|p| !any(p)).map(|p| p.to_string());
        let seed = parts
            .get(2)
            .filter(|p| !any(p))
            .map(|p| p.parse::<u64>().map_err(|_| format!("--only `{s}`: the seed `{p}` is not a number")))
            .transpose()?;
        Ok(Filter { scenario, fault, seed })
    }

    pub fn matches(&self, c: &Cell) -> bool {
        self.scenario.is_none_or(|s| s == c.scenario)
            && self.seed.is_none_or(|s| s == c.seed)
            && self.fault.as_deref().is_none_or(|f| match &c.fault {
                None => f == "none",
                Some(x) => f == x.kind() || f == x.spec(),
            })
    }
}

/// What one cell did.
#[derive(Debug, Clone, Serialize)]
pub struct CellResult {
    pub id: String,
    pub scenario: Scenario,
    /// `none` or the fault's spelling.
    pub fault: String,
    pub seed: u64,
    /// The drill's verdict; false when the drill could not run.
    pub as_expected: bool,
    /// Why the drill could not run (a bad plan, a simulator that did not start, a panic).
    pub error: Option<String>,
    /// Wall-clock seconds this drill took.
    pub wall_s: f64,
    pub drill: Option<DrillReport>,
}

/// Nearest-rank percentiles and the maximum of a set of values.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Stats {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub max: Option<f64>,
}

impl Stats {
    pub fn of(values: &[f64]) -> Stats {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Stats::default();
        }
        v.sort_by(f64::total_cmp);
        let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Stats { p50: Some(rank(0.50)), p95: Some(rank(0.95)), max: v.last().copied() }
    }
}

/// One scenario and fault over its seeds.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: Scenario,
    pub fault: String,
    pub cells: usize,
    pub as_expected: usize,
    /// The distinct outcomes (`moved`, `nothing-moved`, ...), `error` for a drill that
    /// could not run.
    pub outcomes: Vec<String>,
    pub rto_s: Stats,
    pub plan_rto_s: Option<u64>,
    /// The RTO over its lower bound.
    pub rto_ratio: Stats,
    pub rto_ratio_allowed: Option<f64>,
    /// Cells whose RTO was over the plan's objective.
    pub over_objective: usize,
    /// Lost rows summed over the cells' tables: as the reports said, and the ground truth.
    pub lost_reported: usize,
    pub lost_truth: usize,
    /// Cells whose report equals the ground truth key by key.
    pub reports_exact: usize,
    pub repeated_side_effects: usize,
    /// The largest history of any execution of these cells.
    pub history_events_max: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Campaign {
    pub plan: String,
    pub seeds: Vec<u64>,
    pub workers: usize,
    pub drills: usize,
    pub wall_s: f64,
    /// Every cell as expected.
    pub as_expected: bool,
    /// The ids of the cells that were not.
    pub unexpected: Vec<String>,
    pub rows: Vec<Row>,
    pub cells: Vec<CellResult>,
}

/// How a cell's drill is run: [`run_drill`], or one that also writes the drill's files.
pub type RunCell<'a> = dyn Fn(&Cell, &DrillOptions) -> Result<DrillReport, DrillError> + Sync + 'a;

/// Called as each cell ends: the result, how many have ended, how many there are.
pub type OnDone<'a> = dyn Fn(&CellResult, usize, usize) + Sync + 'a;

/// A cell's drill, silent, on its own paused runtime.
pub fn run_drill(_cell: &Cell, opts: &DrillOptions) -> Result<DrillReport, DrillError> {
    crate::run_blocking(opts, Arc::new(|_: &str| {}))
}

/// Workers for `cells` cells: `requested`, or one per available core, never more than the
/// cells.
pub fn workers(requested: Option<usize>, cells: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    requested.unwrap_or(cores).clamp(1, cells.max(1))
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Runs `cells` on `workers` threads, each drill built from `base`, and aggregates them.
/// A drill that panics or cannot start is a cell not as expected, not the campaign's end.
pub fn run(
    plan_name: &str,
    cells: &[Cell],
    base: &DrillOptions,
    workers: usize,
    run_cell: &RunCell<'_>,
    on_done: &OnDone<'_>,
) -> Campaign {
    let wall = Instant::now();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<CellResult>>> = Mutex::new(vec![None; cells.len()]);
    let workers = workers.clamp(1, cells.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(cell) = cells.get(i) else { break };
                    let opts = cell.options(base);
                    let t0 = Instant::now();
                    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| run_cell(cell, &opts)));
                    let wall_s = t0.elapsed().as_secs_f64();
                    let (drill, error) = match outcome {
                        Ok(Ok(r)) => (Some(r), None),
                        Ok(Err(e)) => (None, Some(format!("the drill did not run: {e}"))),
                        Err(p) => (None, Some(format!("the drill panicked: {}", panic_message(p.as_ref())))),
                    };
                    let result = CellResult {
                        id: cell.id(),
                        scenario: cell.scenario,
                        fault: cell.fault_spec(),
                        seed: cell.seed,
                        as_expected: drill.as_ref().is_some_and(|d| d.as_expected),
                        error,
                        wall_s,
                        drill,
                    };
                    let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                    on_done(&result, n, cells.len());
                    results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(result);
                }
            });
        }
    });
    let cells_done: Vec<CellResult> =
        results.into_inner().unwrap_or_else(|p| p.into_inner()).into_iter().flatten().collect();
    let mut seeds: Vec<u64> = cells.iter().map(|c| c.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let unexpected: Vec<String> = cells_done.iter().filter(|c| !c.as_expected).map(|c| c.id.clone()).collect();
    Campaign {
        plan: plan_name.to_string(),
        seeds,
        workers,
        drills: cells_done.len(),
        wall_s: wall.elapsed().as_secs_f64(),
        as_expected: unexpected.is_empty() && !cells_done.is_empty(),
        unexpected,
        rows: rows(&cells_done),
        cells: cells_done,
    }
}

/// The cells grouped by scenario and fault, in the matrix's order.
pub fn rows(cells: &[CellResult]) -> Vec<Row> {
    let mut keys: Vec<(Scenario, String)> = Vec::new();
    for c in cells {
        if !keys.iter().any(|(s, f)| *s == c.scenario && *f == c.fault) {
            keys.push((c.scenario, c.fault.clone()));
        }
    }
    keys.into_iter()
        .map(|(scenario, fault)| {
            let group: Vec<&CellResult> = cells.iter().filter(|c| c.scenario == scenario && c.fault == fault).collect();
            let drills: Vec<&DrillReport> = group.iter().filter_map(|c| c.drill.as_ref()).collect();
            let mut outcomes: Vec<String> = Vec::new();
            for c in &group {
                let o = c.drill.as_ref().map_or_else(|| "error".to_string(), |d| d.outcome.clone());
                if !outcomes.contains(&o) {
                    outcomes.push(o);
                }
            }
            let rtos: Vec<f64> = drills.iter().filter_map(|d| d.rto_s).collect();
            let ratios: Vec<f64> =
                drills.iter().filter_map(|d| Some(d.rto_s? / d.rto_lower_bound_s.filter(|lb| *lb > 0.0)?)).collect();
            let sum = |f: fn(&crate::report::TableLoss) -> usize, truth: bool| -> usize {
                drills
                    .iter()
                    .map(|d| {
                        let m = if truth { &d.lost.ground_truth } else { &d.lost.reported };
                        m.values().flat_map(|t| t.values()).map(f).sum::<usize>()
                    })
                    .sum()
            };
            Row {
                scenario,
                fault,
                cells: group.len(),
                as_expected: group.iter().filter(|c| c.as_expected).count(),
                outcomes,
                rto_s: Stats::of(&rtos),
                plan_rto_s: drills.first().map(|d| d.plan_rto_s),
                rto_ratio: Stats::of(&ratios),
                rto_ratio_allowed: drills.first().map(|d| d.rto_ratio_allowed),
                over_objective: drills.iter().filter(|d| d.rto_s.is_some_and(|r| r > d.plan_rto_s as f64)).count(),
                lost_reported: sum(|t| t.lost, false),
                lost_truth: sum(|t| t.lost, true),
                reports_exact: drills.iter().filter(|d| d.lost.exact).count(),
                repeated_side_effects: drills.iter().map(|d| d.repeated_side_effects.len()).sum(),
                history_events_max: drills.iter().flat_map(|d| d.history_events.values()).copied().max().unwrap_or(0),
            }
        })
        .collect()
}

fn opt_s(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |x| format!("{x:.1}"))
}

fn opt_ratio(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |x| format!("{x:.3}"))
}

/// The campaign as a table for a terminal: a line per scenario and fault, then the cells
/// that were not as expected with their problems.
pub fn table(c: &Campaign) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<14} {:<22} {:>5}  {:<22} {:>8} {:>8} {:>8} {:>9}  {:>6} {:>6}  {:>13}  {:>7} {:>7}",
        "scenario",
        "fault",
        "ok",
        "outcome",
        "RTO p50",
        "p95",
        "max",
        "objective",
        "/LB95",
        "/LBmax",
        "lost rep/true",
        "repeats",
        "history"
    );
    for r in &c.rows {
        let ok = format!("{}/{}", r.as_expected, r.cells);
        let lost = format!("{}/{}{}", r.lost_reported, r.lost_truth, if r.reports_exact == r.cells { "" } else { "*" });
        let objective = r.plan_rto_s.map_or_else(|| "–".to_string(), |s| format!("{s} s"));
        let _ = writeln!(
            out,
            "{:<14} {:<22} {:>5}  {:<22} {:>8} {:>8} {:>8} {:>9}  {:>6} {:>6}  {:>13}  {:>7} {:>7}",
            r.scenario,
            r.fault,
            ok,
            r.outcomes.join(","),
            opt_s(r.rto_s.p50),
            opt_s(r.rto_s.p95),
            opt_s(r.rto_s.max),
            objective,
            opt_ratio(r.rto_ratio.p95),
            opt_ratio(r.rto_ratio.max),
            lost,
            r.repeated_side_effects,
            r.history_events_max,
        );
    }
    let _ = writeln!(
        out,
        "RTO in simulated seconds (p50/p95/max over the seeds); /LB: the RTO over its lower bound (allowed {}); \
         lost: rows only in the old primary, reported / ground truth (* where a report differs from the ground truth)",
        c.rows.iter().find_map(|r| r.rto_ratio_allowed).map_or_else(|| "–".to_string(), |a| format!("{a:.2}"))
    );
    for cell in c.cells.iter().filter(|x| !x.as_expected) {
        let _ = writeln!(out, "NOT AS EXPECTED: {}", cell.id);
        if let Some(e) = &cell.error {
            let _ = writeln!(out, "  {e}");
        }
        if let Some(d) = &cell.drill {
            let _ = writeln!(out, "  outcome {} (expected: {})", d.outcome, d.expected_outcome);
            for p in &d.problems {
                let _ = writeln!(out, "  problem: {p}");
            }
        }
    }
    let _ = writeln!(
        out,
        "{} drills on {} workers in {:.1} s of wall time: {}",
        c.drills,
        c.workers,
        c.wall_s,
        if c.as_expected {
            "CAMPAIGN PASSED".to_string()
        } else {
            format!("CAMPAIGN FAILED ({} not as expected)", c.unexpected.len())
        }
    );
    out
}

/// The campaign's page: the matrix (a row per scenario and fault, a column per seed, each
/// cell its outcome, linked to its timeline when `cell_href` gives one) and the RTO
/// distribution (a dot per drill against the objective line). Hooks for tests: `#matrix`
/// rows `tr.row` with `data-scenario` / `data-fault`, cells `td.cell` with `data-cell` and
/// `data-as-expected`; dots `circle.rto` with `data-cell` and `data-rto-s`;
/// `#rto-objective` with `data-seconds`.
pub fn page(c: &Campaign, cell_href: &dyn Fn(&CellResult) -> Option<String>) -> String {
    let title = format!(
        "Drill campaign {}: {} of {} drills as expected ({})",
        if c.as_expected { "passed" } else { "FAILED" },
        c.drills - c.unexpected.len(),
        c.drills,
        c.plan
    );
    let mut out = timeline::head(&title);
    let _ = writeln!(out, "<h1>{}</h1>", esc(&title));
    let _ = writeln!(
        out,
        "<p id=\"verdict\" class=\"{}\" data-as-expected=\"{}\">{} drills on {} workers, {:.1} s of wall time; seeds {}.</p>",
        if c.as_expected { "pass" } else { "fail" },
        c.as_expected,
        c.drills,
        c.workers,
        c.wall_s,
        c.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
    );
    out.push_str("<h2>The matrix</h2>\n<table id=\"matrix\"><thead><tr><th>scenario</th><th>fault</th>");
    for s in &c.seeds {
        let _ = write!(out, "<th>seed {s}</th>");
    }
    out.push_str(
        "<th>RTO p50 / p95 / max (s)</th><th>objective</th><th>RTO / lower bound, max</th>\
         <th>lost rows, reported / ground truth</th><th>repeated side effects</th><th>history events, max</th></tr></thead><tbody>\n",
    );
    for r in &c.rows {
        let _ = write!(
            out,
            "<tr class=\"row {}\" data-scenario=\"{}\" data-fault=\"{}\"><td>{}</td><td><code>{}</code></td>",
            if r.as_expected == r.cells { "expected" } else { "unexpected" },
            esc(&r.scenario.to_string()),
            esc(&r.fault),
            esc(&r.scenario.to_string()),
            esc(&r.fault)
        );
        for s in &c.seeds {
            match c.cells.iter().find(|x| x.scenario == r.scenario && x.fault == r.fault && x.seed == *s) {
                None => out.push_str("<td></td>"),
                Some(x) => {
                    let what = x.drill.as_ref().map_or_else(|| "error".to_string(), |d| d.outcome.clone());
                    let text = match cell_href(x) {
                        Some(h) => format!("<a href=\"{}\">{}</a>", esc(&h), esc(&what)),
                        None => esc(&what),
                    };
                    let _ = write!(
                        out,
                        "<td class=\"cell {}\" data-cell=\"{}\" data-as-expected=\"{}\" title=\"{}\">{}{}</td>",
                        if x.as_expected { "pass" } else { "fail" },
                        esc(&x.id),
                        x.as_expected,
                        esc(&x
                            .drill
                            .as_ref()
                            .map_or_else(|| x.error.clone().unwrap_or_default(), |d| d.problems.join("; "))),
                        if x.as_expected { "✓ " } else { "✗ " },
                        text
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "<td class=\"num\">{} / {} / {}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{} / {}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            opt_s(r.rto_s.p50),
            opt_s(r.rto_s.p95),
            opt_s(r.rto_s.max),
            r.plan_rto_s.map_or_else(|| "–".to_string(), |s| format!("{s} s")),
            opt_ratio(r.rto_ratio.max),
            r.lost_reported,
            r.lost_truth,
            r.repeated_side_effects,
            r.history_events_max
        );
    }
    out.push_str("</tbody></table>\n");
    distribution(&mut out, c);
    out.push_str("</body></html>\n");
    out
}

/// The RTO distribution: a lane per scenario and fault, a dot per drill, the objective as a
/// line.
fn distribution(out: &mut String, c: &Campaign) {
    const WIDTH: f64 = 1100.0;
    const LEFT: f64 = 330.0;
    const LANE: f64 = 18.0;
    const TOP: f64 = 30.0;
    let objective = c.rows.iter().find_map(|r| r.plan_rto_s).map(|s| s as f64);
    let max_rto = c.cells.iter().filter_map(|x| x.drill.as_ref()?.rto_s).fold(0.0, f64::max);
    out.push_str(
        "<h2>RTO distribution</h2>\n<p>A dot per drill at its measured RTO (simulated seconds from the start of the \
         failover execution until every client and writer is in the target); hollow dots missed their verdict. The red \
         line is the plan's RTO objective. Drills where nothing moved have no RTO.</p>\n",
    );
    let t1 = (objective.unwrap_or(0.0).max(max_rto) * 1.05).max(1.0);
    let scale = Scale { t0: 0.0, t1, left: LEFT, width: WIDTH - LEFT - 30.0 };
    let bottom = TOP + c.rows.len() as f64 * LANE + 6.0;
    let height = bottom + 50.0;
    let _ = write!(
        out,
        "<svg id=\"rto-distribution\" viewBox=\"0 0 {WIDTH} {height:.0}\" width=\"{WIDTH}\" height=\"{height:.0}\" \
         role=\"img\" aria-label=\"RTO per drill\"><title>RTO per drill, per scenario and fault</title>"
    );
    timeline::axis(out, scale, TOP - 4.0, bottom, "RTO, simulated time since the failover execution started");
    for (n, r) in c.rows.iter().enumerate() {
        let y = TOP + n as f64 * LANE + LANE / 2.0;
        let _ = write!(
            out,
            "<g class=\"lane\" data-scenario=\"{0}\" data-fault=\"{1}\"><text x=\"{2:.1}\" y=\"{3:.1}\" text-anchor=\"end\">{0} / {1}</text>",
            esc(&r.scenario.to_string()),
            esc(&r.fault),
            LEFT - 8.0,
            y + 4.0
        );
        for x in c.cells.iter().filter(|x| x.scenario == r.scenario && x.fault == r.fault) {
            let Some(rto) = x.drill.as_ref().and_then(|d| d.rto_s) else { continue };
            let _ = write!(
                out,
                "<circle class=\"rto\" data-cell=\"{}\" data-rto-s=\"{rto:.3}\" cx=\"{:.1}\" cy=\"{y:.1}\" r=\"4\" \
                 fill=\"{}\" stroke=\"#4a78c2\" stroke-width=\"1.5\"><title>{}: RTO {rto:.1} s</title></circle>",
                esc(&x.id),
                scale.x(rto),
                if x.as_expected { "#4a78c2" } else { "none" },
                esc(&x.id)
            );
        }
        out.push_str("</g>");
    }
    if let Some(o) = objective {
        let _ = write!(
            out,
            "<g id=\"rto-objective\" class=\"rto-objective\" data-seconds=\"{o:.3}\"><line x1=\"{0:.1}\" y1=\"{1:.1}\" \
             x2=\"{0:.1}\" y2=\"{bottom:.1}\"/><text x=\"{2:.1}\" y=\"{3:.1}\">RTO objective {o:.0} s</text></g>",
            scale.x(o),
            TOP - 10.0,
            scale.x(o) + 3.0,
            TOP - 14.0
        );
    }
    out.push_str("</svg>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s = Stats::of(&[3.0, 1.0, 2.0]);
        assert_eq!((s.p50, s.p95, s.max), (Some(2.0), Some(3.0), Some(3.0)));
        let s = Stats::of(&(1..=100).map(f64::from).collect::<Vec<_>>());
        assert_eq!((s.p50, s.p95, s.max), (Some(50.0), Some(95.0), Some(100.0)));
        assert_eq!(Stats::of(&[]).max, None);
    }

    #[test]
    fn a_filter_names_its_bad_part() {
        assert!(Filter::parse("outage").unwrap_err().contains("`outage` is not a scenario"));
        assert!(Filter::parse("planned/none/x").unwrap_err().contains("the seed `x`"));
        assert!(Filter::parse("a/b/c/d").is_err());
        assert_eq!(Filter::parse("*").unwrap(), Filter::default());
    }
}
