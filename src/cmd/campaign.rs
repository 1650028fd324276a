//! `failover drill --campaign`: the scenario x fault x seed matrix, a counter line on
//! stderr while it runs, the table on stdout. Glue over `failover_drill::campaign`.
//!
//! The progress line is written by hand rather than with a progress-bar crate: one line,
//! redrawn in place on a terminal and a line per drill elsewhere (CI logs), is all it needs.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use failover_drill::campaign::{self, Cell, CellResult, Filter};
use failover_drill::{DrillError, DrillOptions, DrillReport};

pub struct CampaignArgs {
    pub seeds: Option<u64>,
    pub only: Option<Filter>,
    pub jobs: Option<usize>,
    pub json: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub quiet: bool,
}

/// `[#####.....]` for `done` of `total`.
fn bar(done: usize, total: usize) -> String {
    const WIDTH: usize = 24;
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    format!("[{}{}]", "#".repeat(filled), ".".repeat(WIDTH - filled))
}

pub fn run(base: DrillOptions, a: CampaignArgs) -> ExitCode {
    let plan_text = base.plan_yaml.as_deref().unwrap_or(failover_drill::run::DEFAULT_PLAN);
    let plan = match failover_core::Plan::from_yaml(plan_text) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("the plan: {e}");
            return ExitCode::from(2);
        }
    };
    let n = a.seeds.unwrap_or(campaign::DEFAULT_SEEDS);
    if n == 0 {
        eprintln!("--seeds: a campaign runs at least one seed per cell");
        return ExitCode::from(2);
    }
    if a.jobs == Some(0) {
        eprintln!("--jobs: at least one drill at a time");
        return ExitCode::from(2);
    }
    let seeds: Vec<u64> = (0..n).map(|i| base.seed.saturating_add(i)).collect();
    let all = campaign::matrix(&plan, &seeds);
    let cells: Vec<Cell> = match &a.only {
        None => all.clone(),
        Some(f) => all.iter().filter(|c| f.matches(c)).cloned().collect(),
    };
    if cells.is_empty() {
        let ids: Vec<String> = all.iter().map(Cell::id).collect();
        eprintln!("--only: no cell of the matrix matches; its cells are:\n  {}", ids.join("\n  "));
        return ExitCode::from(2);
    }
    let workers = campaign::workers(a.jobs, cells.len());
    let quiet = a.quiet;
    let tty = std::io::stderr().is_terminal();
    if !quiet {
        eprintln!("campaign: {} drills of plan {} on {workers} workers", cells.len(), plan.name);
    }

    let started = Instant::now();
    let unexpected = AtomicUsize::new(0);
    let on_done = |r: &CellResult, done: usize, total: usize| {
        if !r.as_expected {
            unexpected.fetch_add(1, Ordering::SeqCst);
        }
        if quiet {
            return;
        }
        let what = match (&r.drill, &r.error) {
            (Some(d), _) => d.outcome.clone(),
            (None, Some(e)) => e.clone(),
            (None, None) => "?".into(),
        };
        let verdict = if r.as_expected { "as expected" } else { "NOT AS EXPECTED" };
        let line = format!(
            "{} {done:>3}/{total} {:>5.0} s, {} not as expected; {}: {what} ({verdict}, {:.1} s)",
            bar(done, total),
            started.elapsed().as_secs_f64(),
            unexpected.load(Ordering::SeqCst),
            r.id,
            r.wall_s
        );
        let mut err = std::io::stderr().lock();
        if tty {
            // One line, redrawn in place; a cell not as expected stays on screen.
            let _ = write!(err, "\r\x1b[2K{line}");
            if !r.as_expected || done == total {
                let _ = writeln!(err);
            }
        } else {
            let _ = writeln!(err, "{line}");
        }
    };

    let write_errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let with_files = |cell: &Cell, opts: &DrillOptions| -> Result<DrillReport, DrillError> {
        let (report, artifacts) = failover_drill::run_with_artifacts_blocking(opts, std::sync::Arc::new(|_: &str| {}))?;
        if let Some(dir) = &a.out
            && let Err(e) =
                failover_drill::out::write(&failover_drill::out::cell_dir(dir, &cell.id()), &report, &artifacts)
        {
            write_errors.lock().unwrap_or_else(|p| p.into_inner()).push(format!("{}: {e}", cell.id()));
        }
        Ok(report)
    };
    let run_cell: &campaign::RunCell<'_> = if a.out.is_some() { &with_files } else { &campaign::run_drill };
    let result = campaign::run(&plan.name, &cells, &base, workers, run_cell, &on_done);

    print!("{}", campaign::table(&result));
    let mut code = if result.as_expected { ExitCode::SUCCESS } else { ExitCode::from(1) };
    if let Some(dir) = &a.out {
        let href = |c: &CellResult| Some(format!("cells/{}/timeline.html", failover_drill::out::file_name(&c.id)));
        let page = campaign::page(&result, &href);
        let path = dir.join("campaign.html");
        let written = std::fs::create_dir_all(dir).and_then(|_| std::fs::write(&path, page));
        match written {
            Ok(()) => {
                println!("wrote {} and a directory per drill under {}", path.display(), dir.join("cells").display())
            }
            Err(e) => write_errors.lock().unwrap_or_else(|p| p.into_inner()).push(format!("{}: {e}", path.display())),
        }
    }
    if let Some(path) = &a.json {
        let text = serde_json::to_string_pretty(&result).expect("the campaign serialises");
        if let Err(e) = std::fs::write(path, text + "\n") {
            write_errors
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(format!("{}: cannot write: {e}", path.display()));
        }
    }
    let errors = write_errors.into_inner().unwrap_or_else(|p| p.into_inner());
    for e in &errors {
        eprintln!("--out/--json: {e}");
    }
    if !errors.is_empty() {
        code = ExitCode::from(2);
    }
    code
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bar_fills_with_the_drills_done() {
        assert_eq!(super::bar(0, 4), format!("[{}]", ".".repeat(24)));
        assert_eq!(super::bar(2, 4), format!("[{}{}]", "#".repeat(12), ".".repeat(12)));
        assert_eq!(super::bar(4, 4), format!("[{}]", "#".repeat(24)));
    }
}
