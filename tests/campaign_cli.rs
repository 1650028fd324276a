//! `failover drill --campaign` as a person runs it: `--only` reruns one cell, the exit code
//! is 1 when a cell ends other than its scenario expects (a plan whose RTO objective no
//! drill can meet), 0 otherwise, and `--json` keeps the drills under `cells`.

use std::path::PathBuf;
use std::process::Command;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("failover-campaign-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

fn campaign(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_failover"))
        .args(["drill", "--campaign", "--quiet"])
        .args(args)
        .output()
        .expect("the binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn only_reruns_one_cell_and_the_exit_code_follows_the_verdict() {
    let dir = scratch("verdict");
    let json = dir.join("campaign.json");
    let (code, stdout, stderr) = campaign(&["--only", "planned/none/1", "--json", json.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("CAMPAIGN PASSED"), "{stdout}");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let cells = doc["cells"].as_array().expect("the drills under `cells`");
    assert_eq!(cells.len(), 1);
    assert_eq!(cells[0]["id"], "planned/none/1");
    assert_eq!(cells[0]["drill"]["scenario"], "planned");

    // The same cell against a plan whose objective (30 s) is under the DNS path alone.
    let plan = dir.join("tight.plan.yaml");
    let text = failover_drill::run::DEFAULT_PLAN.replace("rto_seconds: 900", "rto_seconds: 30");
    assert_ne!(text, failover_drill::run::DEFAULT_PLAN);
    std::fs::write(&plan, text).unwrap();
    let (code, stdout, stderr) = campaign(&["--only", "planned/none/1", "--plan", plan.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("NOT AS EXPECTED: planned/none/1"), "{stdout}");
    assert!(stdout.contains("over the plan's objective of 30 s"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_filter_that_matches_nothing_or_a_single_drill_flag_is_refused() {
    let (code, _, stderr) = campaign(&["--only", "failback/stall-move"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("no cell of the matrix matches") && stderr.contains("planned/stall-move="), "{stderr}");
    let (code, _, stderr) = campaign(&["--only", "outage"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("`outage` is not a scenario"), "{stderr}");
    let (code, _, stderr) = campaign(&["--fault", "lambda-once"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--fault"), "{stderr}");
}
