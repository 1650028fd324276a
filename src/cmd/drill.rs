//! `failover drill`: a scenario end to end on a simulated Region pair.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use failover_drill::campaign::Filter;
use failover_drill::{Approve, DrillOptions, DrillReport, Fault, Scenario};

#[derive(Args, Debug)]
pub struct DrillArgs {
    /// What happens: a planned switchover, a Regional outage with an unplanned failover and
    /// recovery, or a planned move out and back.
    #[arg(long, value_enum, default_value_t = ScenarioArg::RegionOutage)]
    scenario: ScenarioArg,
    /// How the approver answers.
    #[arg(long, value_enum, default_value_t = ApproveArg::Auto)]
    approve: ApproveArg,
    /// Faults to inject (repeatable): arc-dead=K[:refuse|hang|server-error|unavailable],
    /// throttle=SERVICE:RATE, latency=SERVICE:MS, lag=SECONDS (every secondary lags; a planned
    /// switchover over the RPO is refused and the approver asked to continue unplanned),
    /// cluster-quota=N (the target Region holds at most N clusters; a restore past it fails for
    /// that database only), no-lag-metric (CloudWatch has no lag datapoints),
    /// refuse-move=DATABASE (RDS refuses that database's move; the others go on),
    /// stall-move=DATABASE (planned: that database's switchover never completes), lambda-once,
    /// never-returns, no-snapshot, misreport-one-key (the verdict reads one key of each
    /// report with another class: the drill must fail).
    #[arg(long = "fault", value_parser = Fault::parse)]
    faults: Vec<Fault>,
    /// Seeds the workload, the endpoint shuffles and the retry jitter.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Back the simulated clusters with this PostgreSQL or MariaDB server instead of SQLite
    /// files (postgres://postgres@127.0.0.1:5432/test, mysql://root@127.0.0.1:3306/test).
    #[arg(long)]
    database: Option<String>,
    /// The plan to drill (default: the reference workload, examples/retail-store.plan.yaml).
    #[arg(long)]
    plan: Option<PathBuf>,
    /// The tables of the plan's databases as the user's migrations define them: one DDL file
    /// per database, `DIR/<database name>.sql` (CREATE TABLE statements in the database's
    /// engine). Without it, a database whose tables are not the reference ones gets
    /// generated columns around the plan's keys and time columns.
    #[arg(long, value_name = "DIR")]
    schema: Option<PathBuf>,
    /// The verdict fails when the RTO exceeds its lower bound by more than this ratio (it
    /// always fails when the RTO exceeds the plan's objective).
    #[arg(long, default_value_t = failover_drill::report::DEFAULT_RTO_RATIO)]
    rto_ratio: f64,
    /// The simulated world's health-check propagation, seconds, instead of the seed's draw
    /// (the plan's `dns.health_check_propagation_seconds` is only the operator's belief).
    #[arg(long, value_name = "SECONDS")]
    world_propagation: Option<f64>,
    /// The simulated record's TTL, seconds, instead of the seed's draw.
    #[arg(long, value_name = "SECONDS")]
    world_ttl: Option<u32>,
    /// How long the approver takes to decide, seconds, instead of the seed's draw (2-10 min).
    #[arg(long, value_name = "SECONDS")]
    approver_delay: Option<f64>,
    /// Write the drill's report as JSON (a campaign: every drill under `cells`).
    #[arg(long)]
    json: Option<PathBuf>,
    /// No line per state, only the summary (a campaign: no progress line).
    #[arg(long)]
    quiet: bool,
    /// Write what a person opens after the drill into DIR: timeline.html (a bar per phase
    /// on the simulated clock, the RTO objective, the lost rows per table), the
    /// missing-transaction report as the recovery stored it (report/), every notification
    /// as the e-mail reads (notifications/), the execution histories (histories/). A
    /// campaign adds campaign.html and one such directory per drill under cells/.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Run the scenario x fault x seed matrix instead of one drill: every scenario, with no
    /// fault and with every fault kind that applies to it, --seeds seeds each (from --seed
    /// on), several drills at once; prints a table and exits 1 if any drill ends other than
    /// its scenario expects.
    #[arg(long, conflicts_with_all = ["scenario", "faults"])]
    campaign: bool,
    /// Seeds per cell of a campaign (default 3).
    #[arg(long, requires = "campaign")]
    seeds: Option<u64>,
    /// Run only the campaign's cells that match SCENARIO[/FAULT[/SEED]]: each part a value
    /// or `*`, FAULT a kind (`arc-dead`), a spelling (`arc-dead=4:hang`) or `none`.
    #[arg(long, value_name = "SCENARIO/FAULT/SEED", requires = "campaign", value_parser = Filter::parse)]
    only: Option<Filter>,
    /// Drills a campaign runs at once (default: one per available core).
    #[arg(long, requires = "campaign")]
    jobs: Option<usize>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ScenarioArg {
    Planned,
    RegionOutage,
    Failback,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ApproveArg {
    /// Follow the e-mail's Approve link and confirm on the page.
    Auto,
    /// Follow the Reject link and confirm.
    Reject,
    /// Never answer (the approval times out).
    Timeout,
    /// Approve, then send the same form again (answered "already decided").
    Replayed,
    /// Open the Approve link with an altered signature and post its fields (refused).
    Forged,
    /// Only open the Approve link, as a mail scanner does (a GET decides nothing).
    Scanner,
    /// Post the genuine form under a name the plan's approvers do not list (refused), then
    /// approve as the plan's first approver. The plan must list approvers.
    Impostor,
}

pub fn run(args: DrillArgs) -> ExitCode {
    let plan_yaml = match &args.plan {
        None => None,
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("{}: cannot read: {e}", p.display());
                return ExitCode::from(2);
            }
        },
    };
    if !(args.rto_ratio.is_finite() && args.rto_ratio >= 1.0) {
        eprintln!("--rto-ratio: must be a number of at least 1, not {}", args.rto_ratio);
        return ExitCode::from(2);
    }
    let seconds = |name: &str, v: Option<f64>| -> Result<Option<std::time::Duration>, String> {
        match v {
            None => Ok(None),
            Some(x) if x.is_finite() && x >= 0.0 => Ok(Some(std::time::Duration::from_secs_f64(x))),
            Some(x) => Err(format!("--{name}: must be a number of seconds of at least 0, not {x}")),
        }
    };
    let world =
        match (seconds("world-propagation", args.world_propagation), seconds("approver-delay", args.approver_delay)) {
            (Ok(health_check_propagation), Ok(approver_delay)) => {
                failover_drill::WorldOverrides { health_check_propagation, dns_ttl: args.world_ttl, approver_delay }
            }
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        };
    if args.world_ttl == Some(0) {
        eprintln!("--world-ttl: must be at least 1 second");
        return ExitCode::from(2);
    }
    let schema_ddl = match &args.schema {
        None => Default::default(),
        Some(dir) => match read_schema_dir(dir) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        },
    };
    let opts = DrillOptions {
        scenario: match args.scenario {
            ScenarioArg::Planned => Scenario::Planned,
            ScenarioArg::RegionOutage => Scenario::RegionOutage,
            ScenarioArg::Failback => Scenario::Failback,
        },
        approve: match args.approve {
            ApproveArg::Auto => Approve::Auto,
            ApproveArg::Reject => Approve::Reject,
            ApproveArg::Timeout => Approve::Timeout,
            ApproveArg::Replayed => Approve::Replayed,
            ApproveArg::Forged => Approve::Forged,
            ApproveArg::Scanner => Approve::Scanner,
            ApproveArg::Impostor => Approve::Impostor,
        },
        faults: args.faults.clone(),
        seed: args.seed,
        database: args.database.clone(),
        plan_yaml,
        schema_ddl,
        rto_ratio: args.rto_ratio,
        world,
    };
    if args.campaign {
        return super::campaign::run(
            opts,
            super::campaign::CampaignArgs {
                seeds: args.seeds,
                only: args.only,
                jobs: args.jobs,
                json: args.json,
                out: args.out,
                quiet: args.quiet,
            },
        );
    }
    let quiet = args.quiet;
    let progress: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(move |line: &str| {
        if !quiet {
            println!("{line}");
        }
    });
    let wall = std::time::Instant::now();
    let ran = match &args.out {
        None => failover_drill::run_blocking(&opts, progress).map(|r| (r, None)),
        Some(_) => failover_drill::run_with_artifacts_blocking(&opts, progress).map(|(r, a)| (r, Some(a))),
    };
    let (report, artifacts) = match ran {
        Ok(r) => r,
        Err(e) => {
            eprintln!("drill: {e}");
            return ExitCode::from(2);
        }
    };
    print_summary(&report, wall.elapsed());
    if let (Some(dir), Some(artifacts)) = (&args.out, &artifacts) {
        match failover_drill::out::write(dir, &report, artifacts) {
            Ok(files) => println!(
                "wrote {} files to {}; open {}",
                files.len(),
                dir.display(),
                dir.join("timeline.html").display()
            ),
            Err(e) => {
                eprintln!("--out: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).expect("the report serialises");
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("{}: cannot write: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    if report.as_expected { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// `DIR/<database>.sql` -> database -> (file, DDL). The drill refuses a file that names no
/// database of the plan.
fn read_schema_dir(dir: &std::path::Path) -> Result<std::collections::BTreeMap<String, (String, String)>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: cannot read: {e}", dir.display()))?;
    let mut out = std::collections::BTreeMap::new();
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: cannot read: {e}", dir.display()))?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("sql") {
            continue;
        }
        let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(str::to_string) else { continue };
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        out.insert(name, (path.display().to_string(), text));
    }
    if out.is_empty() {
        return Err(format!("{}: no <database>.sql file", dir.display()));
    }
    Ok(out)
}

fn print_summary(r: &DrillReport, wall: std::time::Duration) {
    println!();
    println!("== timeline (simulated seconds from the start of each execution) ==");
    for p in r.phases.iter().filter(|p| p.duration_s >= 0.5 || p.state.starts_with("Move")) {
        println!("  {:<28} {:<32} +{:>8.1} s  {:>8.1} s", p.execution, p.state, p.start_s, p.duration_s);
    }
    for n in &r.schema_notes {
        println!("schema: {n}");
    }
    println!();
    match (r.rto_s, r.rto_lower_bound_s) {
        (Some(rto), Some(lb)) => {
            println!(
                "RTO {rto:.1} s (plan objective {} s); lower bound {lb:.1} s; ratio {:.3} (allowed {:.2})",
                r.plan_rto_s,
                rto / lb,
                r.rto_ratio_allowed
            )
        }
        (Some(rto), None) => println!("RTO {rto:.1} s (plan objective {} s)", r.plan_rto_s),
        _ => println!("RTO: not measured (nothing moved)"),
    }
    if r.rto_s.is_some() {
        let at = |x: Option<f64>| x.map_or("never".to_string(), |s| format!("{s:.1} s"));
        println!(
            "  clients switched (every sampled resolver on the target) at {}, writers in the target at {}",
            at(r.clients_switched_s),
            at(r.writers_moved_s)
        );
        if let Some(e) = r.execution_rto_s {
            println!("  the execution's own figure (authoritative DNS change + TTL, what notify reports): {e:.1} s");
        }
        if let Some(o) = r.outage_to_served_s {
            println!("  from the outage to clients served: {o:.1} s");
        }
    }
    if let Some(p) = r.proposed_s {
        let detected = r.detected_s.map_or("never".to_string(), |d| format!("{d:.1} s"));
        println!(
            "detected (outage to the first canary alarm): {detected}; proposed (outage to the execution's start): {p:.1} s"
        );
        for line in &r.proposals {
            println!("  propose-failover {line}");
        }
    }
    if r.approval_wait_s > 0.0 || !r.decided_s.is_empty() {
        let decided: Vec<String> = r.decided_s.iter().map(|d| format!("{d:.0} s")).collect();
        println!(
            "approval wait {:.1} s (left out of the RTO and its bound); the approver decided after [{}]",
            r.approval_wait_s,
            decided.join(", ")
        );
    }
    for b in &r.beliefs {
        println!("the plan believes otherwise: {b}");
    }
    if !r.lost.ground_truth.is_empty() {
        println!("lost transactions (per database and table: keys lost / changed after the failover, by class):");
        let classes = |t: &failover_drill::report::TableLoss| {
            t.classes.iter().map(|(c, n)| format!("{n} {c}")).collect::<Vec<_>>().join(", ")
        };
        for (db, tables) in &r.lost.ground_truth {
            for (t, truth) in tables {
                let rep = r.lost.reported.get(db).and_then(|x| x.get(t));
                println!(
                    "  {db}.{t}: ground truth {}/{} [{}], reported {}",
                    truth.lost,
                    truth.after,
                    classes(truth),
                    rep.map_or("nothing".to_string(), |x| format!("{}/{} [{}]", x.lost, x.after, classes(x)))
                );
            }
        }
        for (db, (reported, exact)) in &r.lost.failover_points {
            println!(
                "  {db}: failover point {} (estimated by the report), last replicated write {}",
                reported.as_deref().unwrap_or("none"),
                exact.as_deref().unwrap_or("unknown")
            );
        }
        if r.lost.ambiguous > 0 {
            println!(
                "  {} key(s) rewritten after the failover are reported as conflicts or lost: their last replicated \
                 write is later than the estimated failover point",
                r.lost.ambiguous
            );
        }
        println!("  report equals ground truth on every key: {}", if r.lost.exact { "yes" } else { "NO" });
        for m in &r.lost.key_mismatches {
            println!("    {m}");
        }
    }
    let writers: Vec<String> = r.writers.iter().map(|(db, region)| format!("{db} in {region}")).collect();
    println!("serving: {}; writers: {}", r.serving_regions.join(", "), writers.join(", "));
    let history: Vec<String> = r.history_events.iter().map(|(e, n)| format!("{e} {n}")).collect();
    println!("notifications: {}; history events: {}", r.notifications.len(), history.join(", "));
    let calls: Vec<String> =
        r.api_calls.iter().map(|(svc, ops)| format!("{svc} {}", ops.values().sum::<u64>())).collect();
    println!("API calls: {}", calls.join(", "));
    println!("wall time {:.2} s", wall.as_secs_f64());
    println!();
    println!("outcome: {} (expected: {})", r.outcome, r.expected_outcome);
    for p in &r.problems {
        println!("  problem: {p}");
    }
    println!("{}", if r.as_expected { "DRILL PASSED" } else { "DRILL FAILED" });
}
