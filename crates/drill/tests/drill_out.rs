//! `failover drill --out DIR` after a region-outage drill: the report as the recovery
//! stored it, the e-mails, the histories and the timeline page, each against the drill's
//! own report; the live lines a person follows; and the timeline page and the report
//! opened in headless Chromium, asserting what a person sees there.
//!
//! Chromium is Debian's `chromium` (`.ci/run` installs it). Under CI=true a missing
//! Chromium fails the test; elsewhere the test is skipped, loudly, on stdout and stderr.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use failover_drill::{DrillOptions, DrillReport};

struct Drilled {
    report: DrillReport,
    dir: PathBuf,
    files: Vec<String>,
    lines: Vec<String>,
}

/// One region-outage drill for every test of this file, its files written once.
fn drilled() -> &'static Drilled {
    static ONCE: OnceLock<Drilled> = OnceLock::new();
    ONCE.get_or_init(|| {
        let opts = DrillOptions { seed: 7, ..DrillOptions::default() };
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = lines.clone();
        let progress: Arc<dyn Fn(&str) + Send + Sync> =
            Arc::new(move |l: &str| sink.lock().unwrap_or_else(|p| p.into_inner()).push(l.to_string()));
        let (report, artifacts) = failover_drill::run_with_artifacts_blocking(&opts, progress).expect("the drill runs");
        assert!(report.as_expected, "{:#?}", report.problems);
        let dir = std::env::temp_dir().join(format!("failover-drill-out-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let files = failover_drill::out::write(&dir, &report, &artifacts).expect("the files are written");
        let lines = lines.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Drilled { report, dir, files, lines }
    })
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every opening tag of `html` that starts with `start` (`<tr class="lost-table"`).
fn tags<'a>(html: &'a str, start: &str) -> Vec<&'a str> {
    html.match_indices(start).map(|(i, _)| &html[i..i + html[i..].find('>').unwrap_or(html.len() - i)]).collect()
}

/// An attribute's value in an opening tag.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let i = tag.find(&key)? + key.len();
    tag[i..].find('"').map(|j| &tag[i..i + j])
}

/// The phases in the page's order.
fn phases_of(html: &str) -> Vec<(String, String)> {
    tags(html, "<g class=\"phase")
        .into_iter()
        .map(|t| (attr(t, "data-execution").unwrap_or("").to_string(), attr(t, "data-phase").unwrap_or("").to_string()))
        .collect()
}

/// (database, table) -> lost rows, from the page's table of lost rows.
fn lost_of(html: &str) -> Vec<(String, String, String)> {
    tags(html, "<tr class=\"lost-table\"")
        .into_iter()
        .map(|t| {
            let a = |n| attr(t, n).unwrap_or("").to_string();
            (a("data-database"), a("data-table"), a("data-lost"))
        })
        .collect()
}

fn reported_lost(r: &DrillReport) -> Vec<(String, String, String)> {
    r.lost
        .reported
        .iter()
        .flat_map(|(db, tables)| tables.iter().map(move |(t, l)| (db.clone(), t.clone(), l.lost.to_string())))
        .collect()
}

#[test]
fn the_out_directory_holds_the_report_the_emails_the_histories_and_the_timeline() {
    let d = drilled();
    let r = &d.report;
    assert_eq!(d.files.first().map(String::as_str), Some("timeline.html"));
    for f in &d.files {
        assert!(d.dir.join(f).is_file(), "{f} listed but not written");
    }
    // The report, per database, as the recovery stored it.
    assert!(!r.lost.reported.is_empty(), "the outage drill reports");
    for (db, tables) in &r.lost.reported {
        let here = d.dir.join("report").join(db);
        let names: Vec<String> = std::fs::read_dir(&here)
            .unwrap_or_else(|e| panic!("{}: {e}", here.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let html = names.iter().find(|n| n.ends_with(".html")).expect("the report's HTML");
        assert!(read(&here.join(html)).contains(&format!("Missing-transaction report: {db}")), "{html}");
        let csvs = names.iter().filter(|n| n.ends_with(".csv")).count();
        assert_eq!(csvs, tables.len(), "a CSV per table of {db}: {names:?}");
        let jsonl = read(&here.join("differences.jsonl"));
        let lost_lines = jsonl
            .lines()
            .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v["lost"] == true))
            .count();
        let lost: usize = tables.values().map(|t| t.lost).sum();
        assert_eq!(lost_lines, lost, "{db}: the JSON Lines file lists every lost row");
        assert!(names.iter().any(|n| n == "summary.json"), "{names:?}");
    }
    // Every notification, as the e-mail reads, in the order they were sent.
    let mut mails: Vec<String> = std::fs::read_dir(d.dir.join("notifications"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    mails.sort();
    assert_eq!(mails.len(), r.notifications.len(), "{mails:?}");
    for (file, n) in mails.iter().zip(&r.notifications) {
        let text = read(&d.dir.join("notifications").join(file));
        let subject = n.subject.clone().unwrap_or_else(|| "(no subject)".into());
        assert!(text.contains(&format!("\nSubject: {subject}\n")), "{file}: {text}");
        let body = text.split_once("\n\n").map(|(_, b)| b).unwrap_or("");
        assert!(!body.trim().is_empty(), "{file} has a body");
        if let Some(p) = &n.phase {
            assert!(file.ends_with(&format!("-{p}.txt")), "{file} for phase {p}");
        }
    }
    // Every execution's history, whole.
    for (execution, n) in &r.history_events {
        let doc: serde_json::Value =
            serde_json::from_str(&read(&d.dir.join("histories").join(format!("{execution}.json")))).unwrap();
        assert_eq!(doc["execution"], execution.as_str());
        assert_eq!(doc["events"].as_array().map(Vec::len), Some(*n), "{execution}");
    }
    let drill: serde_json::Value = serde_json::from_str(&read(&d.dir.join("drill.json"))).unwrap();
    assert_eq!(drill["scenario"], "region-outage");
}

#[test]
fn the_timeline_page_has_the_phases_in_order_the_objective_the_marks_and_the_lost_rows() {
    let d = drilled();
    let r = &d.report;
    let page = read(&d.dir.join("timeline.html"));
    let want: Vec<(String, String)> = r.phases.iter().map(|p| (p.execution.clone(), p.state.clone())).collect();
    assert_eq!(phases_of(&page), want);
    let objective = tags(&page, "<g id=\"rto-objective\"");
    assert_eq!(objective.len(), 1, "one objective line");
    assert_eq!(attr(objective[0], "data-seconds"), Some(format!("{:.3}", r.plan_rto_s as f64).as_str()));
    assert!(page.contains("RTO objective 15 min 00 s"), "the line is labelled");
    assert_eq!(lost_of(&page), reported_lost(r));
    let mark_at = |id: &str| -> f64 {
        let t = tags(&page, &format!("<g id=\"mark-{id}\""));
        attr(t.first().unwrap_or_else(|| panic!("no {id} mark")), "data-at-s").unwrap().parse().unwrap()
    };
    assert!(mark_at("region-back") > mark_at("outage"), "the Region comes back after it fails");
    assert_eq!(tags(&page, "<g id=\"mark-decision\"").len(), 1, "the approval decision is marked");
    assert!(!page.contains("<script") && !page.contains("src=\"http"), "self-contained, no script");
}

#[test]
fn the_live_lines_name_the_database_and_print_durations_as_the_cli_spells_values() {
    let d = drilled();
    let lines = &d.lines;
    let header = lines.iter().find(|l| l.starts_with("drill ")).expect("a header line");
    assert!(header.starts_with("drill region-outage, approve auto, seed 7;"), "{header}");
    for db in ["catalog", "orders"] {
        assert!(lines.iter().any(|l| l.contains(&format!("CheckDatabase [{db}]"))), "CheckDatabase of {db}");
        assert!(lines.iter().any(|l| l.contains(&format!("FindSnapshot [{db}]"))), "the wait for {db}'s snapshot");
        assert!(lines.iter().any(|l| l.contains(&format!("DiffReport [{db}] done in"))), "the report of {db} ends");
    }
    assert!(lines.iter().any(|l| l.contains("MoveTraffic done in")), "a duration when a state ends");
    assert!(lines.iter().any(|l| l.contains("waiting: poll 1")), "a poll is shown");
    assert!(!lines.iter().any(|l| l.contains("RegionOutage") || l.contains("Auto,")), "Debug spelling leaked");
}

/// Chromium on PATH, or `None` after a loud skip (a failure under CI=true).
fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .flat_map(|dir| ["chromium", "chromium-browser"].map(|n| dir.join(n)))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true and chromium is not on PATH (.ci/run installs Debian's chromium)");
        }
        let msg = "!!!!! SKIPPING the Chromium test of the timeline page and the report: no `chromium` on PATH; \
                   install Debian's chromium, or set CI=true to make this a failure !!!!!";
        let _ = writeln!(std::io::stdout(), "{msg}");
        let _ = writeln!(std::io::stderr(), "{msg}");
    }
    found
}

/// The page's DOM as headless Chromium built it.
fn dump_dom(chromium: &Path, page: &Path) -> String {
    static PROFILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = PROFILES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let profile = std::env::temp_dir().join(format!("failover-chromium-{}-{n}", std::process::id()));
    let out = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(out.status.success(), "chromium failed on {}: {}", page.display(), String::from_utf8_lossy(&out.stderr));
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(dom.contains("</html>"), "chromium printed no DOM for {}: {dom}", page.display());
    dom
}

#[test]
fn chromium_shows_the_phases_in_order_the_rto_line_and_the_lost_rows_the_drill_reported() {
    let Some(chromium) = chromium() else { return };
    let d = drilled();
    let r = &d.report;
    let dom = dump_dom(&chromium, &d.dir.join("timeline.html"));
    let want: Vec<(String, String)> = r.phases.iter().map(|p| (p.execution.clone(), p.state.clone())).collect();
    assert_eq!(phases_of(&dom), want, "the phases, in order");
    let objective = tags(&dom, "<g id=\"rto-objective\"");
    assert_eq!(objective.len(), 1, "the RTO objective line");
    assert_eq!(attr(objective[0], "data-seconds"), Some(format!("{:.3}", r.plan_rto_s as f64).as_str()));
    assert!(dom.contains("RTO objective 15 min 00 s</text>"), "the line's label is shown");
    assert_eq!(lost_of(&dom), reported_lost(r), "the lost rows per table");

    // The report as the recovery wrote it: its summary table's lost column.
    for (db, tables) in &r.lost.reported {
        let here = d.dir.join("report").join(db);
        let html = std::fs::read_dir(&here)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "html"))
            .expect("the report's HTML");
        let dom = dump_dom(&chromium, &html);
        let mut shown: Vec<(String, String)> = dom
            .split("<a href=\"#t-")
            .skip(1)
            .filter_map(|row| {
                let (_, rest) = row.split_once("\">")?;
                let (table, rest) = rest.split_once("</a></td><td")?;
                let (_, rest) = rest.split_once('>')?;
                let (lost, _) = rest.split_once("</td>")?;
                Some((table.to_string(), lost.trim().to_string()))
            })
            .collect();
        shown.sort();
        let want: Vec<(String, String)> = tables.iter().map(|(t, l)| (t.clone(), l.lost.to_string())).collect();
        assert_eq!(shown, want, "{db}: the report's lost rows per table");
    }
}
