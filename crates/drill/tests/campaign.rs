//! The campaign's matrix (every scenario, every fault kind the drill knows, the seeds),
//! the `--only` filter, and the rule that one cell ending other than its scenario expects
//! fails the campaign.

use std::collections::BTreeSet;

use failover_drill::campaign::{self, Cell, CellResult, Filter};
use failover_drill::{DrillError, DrillOptions, DrillReport, Fault, Scenario};

fn plan() -> failover_core::Plan {
    failover_core::Plan::from_yaml(failover_drill::run::DEFAULT_PLAN).expect("the reference plan")
}

/// The fault kinds `Fault::parse` knows, read from its answer to an unknown fault (the list
/// a person sees): a fault added there and not to the matrix fails this test.
fn parse_kinds() -> BTreeSet<String> {
    let msg = Fault::parse("no-such-fault").expect_err("an unknown fault is refused");
    let list = msg.split_once('(').and_then(|(_, l)| l.rsplit_once(')')).map(|(l, _)| l).expect("a list of faults");
    let kinds: BTreeSet<String> =
        list.split(", ").map(|f| f.split(['=', '[']).next().unwrap_or(f).trim().to_string()).collect();
    assert!(kinds.len() >= 12, "{kinds:?} from {msg}");
    kinds
}

#[test]
fn every_scenario_and_every_fault_kind_is_in_the_matrix() {
    let seeds = [1, 2, 3];
    let cells = campaign::matrix(&plan(), &seeds);
    let kinds: BTreeSet<&str> = cells.iter().filter_map(|c| c.fault.as_ref().map(Fault::kind)).collect();
    for k in parse_kinds() {
        if failover_drill::campaign::NOT_IN_CAMPAIGN.iter().any(|(name, _)| *name == k) {
            continue;
        }
        assert!(kinds.contains(k.as_str()), "fault kind `{k}` is not in the matrix: {kinds:?}");
    }
    for s in Scenario::ALL {
        for seed in seeds {
            assert!(
                cells.iter().any(|c| c.scenario == s && c.fault.is_none() && c.seed == seed),
                "{s} without a fault, seed {seed}"
            );
        }
    }
    // Each cell once; every fault in a scenario it applies to, the drill's refusals kept.
    let ids: BTreeSet<String> = cells.iter().map(Cell::id).collect();
    assert_eq!(ids.len(), cells.len(), "duplicate cells");
    for c in &cells {
        if let Some(f) = &c.fault {
            assert!(campaign::applies(f, c.scenario), "{}", c.id());
            assert_eq!(Fault::parse(&f.spec()).as_ref(), Ok(f), "{}", c.id());
        }
    }
    assert!(!cells.iter().any(|c| c.scenario == Scenario::RegionOutage && c.fault_spec().starts_with("stall-move")));
    assert!(cells.iter().any(|c| c.id() == "region-outage/no-snapshot/2"), "{ids:?}");
    assert!(cells.iter().any(|c| c.id() == "planned/stall-move=orders/1"), "{ids:?}");
    // Three seeds of every (scenario, fault): at least the 60 drills of the target.
    assert_eq!(cells.len() % 3, 0);
    assert!(cells.len() >= 60, "{} cells", cells.len());
}

#[test]
fn only_reruns_the_cells_it_names() {
    let cells = campaign::matrix(&plan(), &[1, 2, 3]);
    let pick = |f: &str| -> Vec<String> {
        let f = Filter::parse(f).expect("a filter");
        cells.iter().filter(|c| f.matches(c)).map(Cell::id).collect()
    };
    assert_eq!(pick("region-outage/no-snapshot/2"), ["region-outage/no-snapshot/2"]);
    assert_eq!(pick("planned/arc-dead=5:refuse/3"), ["planned/arc-dead=5:refuse/3"]);
    // A kind picks every sample of it; `none` the cells without a fault; `*` anything.
    assert_eq!(pick("planned/arc-dead/1"), ["planned/arc-dead=4:hang/1", "planned/arc-dead=5:refuse/1"]);
    assert_eq!(pick("*/none/1"), ["planned/none/1", "region-outage/none/1", "failback/none/1"]);
    assert_eq!(pick("failback/none").len(), 3);
    assert!(pick("failback/stall-move").is_empty(), "stall-move is planned only");
    assert_eq!(pick("*").len(), cells.len());
}

/// A cell's drill with the plan's objective at 30 s: the DNS path alone takes 90 s, so the
/// verdict says no.
fn over_the_objective(_: &Cell, opts: &DrillOptions) -> Result<DrillReport, DrillError> {
    let plan = failover_drill::run::DEFAULT_PLAN.replace("rto_seconds: 900", "rto_seconds: 30");
    assert_ne!(plan, failover_drill::run::DEFAULT_PLAN);
    let opts = DrillOptions { plan_yaml: Some(plan), ..opts.clone() };
    failover_drill::run_blocking(&opts, std::sync::Arc::new(|_: &str| {}))
}

#[test]
fn one_cell_not_as_expected_fails_the_campaign_and_is_named() {
    let cells: Vec<Cell> =
        [1, 2].into_iter().map(|seed| Cell { scenario: Scenario::Planned, fault: None, seed }).collect();
    let run_cell = |c: &Cell, opts: &DrillOptions| -> Result<DrillReport, DrillError> {
        if c.seed == 2 { over_the_objective(c, opts) } else { campaign::run_drill(c, opts) }
    };
    let seen = std::sync::Mutex::new(Vec::new());
    let on_done = |r: &CellResult, done: usize, total: usize| {
        assert_eq!(total, 2);
        seen.lock().unwrap().push((r.id.clone(), done));
    };
    let c = campaign::run("retail-store", &cells, &DrillOptions::default(), 2, &run_cell, &on_done);
    assert!(!c.as_expected, "{}", campaign::table(&c));
    assert_eq!(c.unexpected, ["planned/none/2"]);
    assert_eq!(c.drills, 2);
    assert_eq!(c.cells.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(), ["planned/none/1", "planned/none/2"]);
    assert!(c.cells[0].as_expected, "{:#?}", c.cells[0].drill.as_ref().map(|d| &d.problems));
    let bad = c.cells[1].drill.as_ref().expect("the drill ran");
    assert!(bad.problems.iter().any(|p| p.contains("over the plan's objective of 30 s")), "{:#?}", bad.problems);
    let mut seen = seen.into_inner().unwrap();
    seen.sort();
    assert_eq!(seen.iter().map(|(_, n)| *n).collect::<BTreeSet<_>>(), BTreeSet::from([1, 2]));
    // One row for the scenario and fault, which says one of two and counts the miss.
    assert_eq!(c.rows.len(), 1);
    assert_eq!((c.rows[0].cells, c.rows[0].as_expected, c.rows[0].over_objective), (2, 1, 1));
    let rto = c.rows[0].rto_s;
    assert!(rto.max.is_some_and(|m| m > 30.0) && rto.p50 <= rto.max, "{rto:?}");
    let table = campaign::table(&c);
    assert!(table.contains("NOT AS EXPECTED: planned/none/2"), "{table}");
    assert!(table.contains("CAMPAIGN FAILED (1 not as expected)"), "{table}");
    // The JSON keeps the drills under `cells`.
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["cells"].as_array().map(Vec::len), Some(2));
    assert_eq!(json["cells"][1]["drill"]["as_expected"], false);
    assert_eq!(json["cells"][1]["scenario"], "planned");
}

#[test]
fn a_drill_that_panics_or_cannot_start_is_a_cell_not_as_expected() {
    let cells: Vec<Cell> = [Scenario::Planned, Scenario::Failback]
        .into_iter()
        .map(|scenario| Cell { scenario, fault: None, seed: 1 })
        .collect();
    let run_cell = |c: &Cell, _: &DrillOptions| -> Result<DrillReport, DrillError> {
        match c.scenario {
            Scenario::Planned => panic!("a bug in a handler"),
            _ => Err(DrillError::Plan("no such plan".into())),
        }
    };
    let c =
        campaign::run("p", &cells, &DrillOptions::default(), 1, &run_cell, &|_: &CellResult, _: usize, _: usize| {});
    assert!(!c.as_expected);
    assert_eq!(c.unexpected.len(), 2);
    assert!(c.cells[0].error.as_deref().is_some_and(|e| e.contains("a bug in a handler")), "{:?}", c.cells[0].error);
    assert!(c.cells[1].error.as_deref().is_some_and(|e| e.contains("no such plan")), "{:?}", c.cells[1].error);
    assert_eq!(c.rows.iter().map(|r| r.outcomes.clone()).collect::<Vec<_>>(), [["error"], ["error"]]);
}

#[test]
fn the_campaign_page_holds_the_matrix_and_the_objective() {
    let cells = vec![Cell { scenario: Scenario::Planned, fault: None, seed: 1 }];
    let c = campaign::run(
        "retail-store",
        &cells,
        &DrillOptions::default(),
        1,
        &campaign::run_drill,
        &|_: &CellResult, _: usize, _: usize| {},
    );
    assert!(c.as_expected, "{}", campaign::table(&c));
    let page = campaign::page(&c, &|x: &CellResult| Some(format!("cells/{}/timeline.html", x.id)));
    assert!(page.contains("data-cell=\"planned/none/1\" data-as-expected=\"true\""), "{page}");
    assert!(page.contains("<g id=\"rto-objective\" class=\"rto-objective\" data-seconds=\"900.000\">"), "{page}");
    let rto = c.cells[0].drill.as_ref().and_then(|d| d.rto_s).expect("an RTO");
    assert!(page.contains(&format!("data-rto-s=\"{rto:.3}\"")), "{page}");
    assert!(!page.contains("<script"), "no script");
}
