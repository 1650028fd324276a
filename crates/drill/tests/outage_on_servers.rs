//! The region-outage drill with the simulated clusters' databases on PostgreSQL and on
//! MariaDB: the workload and the diff engine run on the paused virtual clock against
//! servers that answer in real time, the report equals the ground truth, and the drill
//! leaves no database on the server. Under CI=true a missing server fails the test;
//! elsewhere the test is skipped, loudly.

use std::io::Write;
use std::sync::{Arc, OnceLock};

use failover_drill::{Approve, DrillOptions, Scenario};
use regionsim::data::{Backend, DataStore};

const PG: &str = "postgres://postgres@127.0.0.1:5432/test";
const MY: &str = "mysql://root@127.0.0.1:3306/test";

/// Whether the server of `url` answers; outside CI, `false` after a loud skip.
fn available(url: &str) -> bool {
    let backend = Backend::from_url(url).expect("a server URL");
    match DataStore::new(backend, 1) {
        Ok(_) => true,
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => panic!("CI=true and {url} is unavailable: {e}"),
        Err(e) => {
            // Straight to stdout: the test harness keeps `println!` of a passing test, and
            // a skip must show.
            let _ = writeln!(
                std::io::stdout(),
                "!!!!! SKIPPING the region-outage drill on {url}: the server is unavailable ({e}); \
                 set CI=true to make this a failure !!!!!"
            );
            false
        }
    }
}

fn region_outage_on(url: &str) {
    if !available(url) {
        return;
    }
    let backend = Backend::from_url(url).expect("a server URL");
    // While the drill runs, its databases are on the server (so that the check after it,
    // that none is left, can see them).
    let during: Arc<OnceLock<usize>> = Arc::default();
    let (d, b) = (during.clone(), backend.clone());
    let progress: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(move |_: &str| {
        let _ = d.get_or_init(|| DataStore::databases_of_this_process(&b).map_or(0, |v| v.len()));
    });
    let opts = DrillOptions {
        scenario: Scenario::RegionOutage,
        approve: Approve::Auto,
        seed: 7,
        database: Some(url.to_string()),
        ..DrillOptions::default()
    };
    // On its own paused runtime, as `failover drill` runs; the runtime is gone when it returns.
    let r = failover_drill::run_blocking(&opts, progress).expect("the drill runs");
    let left = DataStore::databases_of_this_process(&backend).expect("the server lists its databases");
    assert!(left.is_empty(), "{url}: the drill left {left:?}");
    assert!(during.get().is_some_and(|n| *n > 0), "{url}: no database of the drill seen on the server");
    assert!(r.as_expected, "{url}: {:#?}", r.problems);
    assert!(r.lost.exact, "{url}: {:#?}", r.lost);
    let lost: usize = r.lost.ground_truth.values().flat_map(|t| t.values()).map(|t| t.lost).sum();
    assert!(lost > 0, "{url}: an outage under write load loses something: {:#?}", r.lost);
}

#[test]
fn region_outage_on_postgresql_reports_exactly_the_lost_rows_and_leaves_no_database() {
    region_outage_on(PG);
}

#[test]
fn region_outage_on_mariadb_reports_exactly_the_lost_rows_and_leaves_no_database() {
    region_outage_on(MY);
}
