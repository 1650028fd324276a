//! `failover drill --out DIR`: the files a person opens after a drill.
//!
//! ```text
//! DIR/timeline.html                   the timeline picture (see `timeline`), linking to the rest
//! DIR/drill.json                      the drill's report, as `--json` writes it
//! DIR/report/<database>/<file>        the missing-transaction report as the recovery wrote it
//!                                     to S3 (report.html, differences.jsonl, <table>.csv, summary.json)
//! DIR/notifications/<nn>-<phase>.txt  every notification as the e-mail reads (subject and body)
//! DIR/histories/<execution>.json      every execution's history
//! ```
//!
//! A campaign's `--out` writes one such directory per cell under `DIR/cells/` and the
//! matrix page `DIR/campaign.html` (see `campaign`). Nothing here judges a drill.

use std::io;
use std::path::{Path, PathBuf};

use failover_core::time_fmt;

use crate::artifacts::{Artifacts, seconds_label};
use crate::report::DrillReport;
use crate::run::EPOCH_SECS;
use crate::timeline;

/// A file or directory name made of the characters every file system takes.
pub fn file_name(s: &str) -> String {
    let mut out: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' }).collect();
    if out.is_empty() || out.starts_with('.') {
        out.insert(0, '_');
    }
    out
}

/// The last segment of an S3 key.
fn base_name(key: &str) -> &str {
    key.rsplit('/').find(|s| !s.is_empty()).unwrap_or(key)
}

fn write_file(path: &Path, body: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, body).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// A notification as the e-mail reads: the headers a mail client shows, then the body.
pub fn email_text(m: &regionsim::sns::SnsMessage) -> String {
    let epoch = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(EPOCH_SECS);
    let since = m.at.duration_since(epoch).unwrap_or_default();
    let phase = m.attributes.get("phase").map(|(_, v)| v.as_str()).unwrap_or("");
    let mut s = String::new();
    s.push_str(&format!("From: {} (Amazon SNS, {})\n", m.topic_arn, m.region.as_deref().unwrap_or("?")));
    s.push_str(&format!(
        "Date: {} (simulated, {} after the drill's start)\n",
        time_fmt::rfc3339(m.at),
        time_fmt::elapsed(since)
    ));
    s.push_str(&format!("Subject: {}\n", m.subject.as_deref().unwrap_or("(no subject)")));
    if !phase.is_empty() {
        s.push_str(&format!("Phase: {phase}\n"));
    }
    s.push('\n');
    s.push_str(&m.message);
    if !m.message.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// Writes the drill's files under `dir` (created if missing). Returns the paths written,
/// relative to `dir`, the timeline page first.
pub fn write(dir: &Path, report: &DrillReport, artifacts: &Artifacts) -> io::Result<Vec<String>> {
    std::fs::create_dir_all(dir).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    let mut written: Vec<String> = Vec::new();
    let mut links: Vec<(String, String)> = Vec::new();
    let mut put = |rel: String, body: &[u8], label: Option<String>| -> io::Result<()> {
        write_file(&dir.join(&rel), body)?;
        if let Some(l) = label {
            links.push((l, rel.clone()));
        }
        written.push(rel);
        Ok(())
    };

    for f in &artifacts.report_files {
        let rel = format!("report/{}/{}", file_name(&f.database), file_name(base_name(&f.key)));
        let label = match (f.kind, &f.table) {
            ("html", _) => format!("{}: the missing-transaction report (HTML)", f.database),
            ("csv", Some(t)) => format!("{}: table {t} (CSV)", f.database),
            ("jsonl", _) => format!("{}: every differing row (JSON Lines)", f.database),
            ("summary", _) => format!("{}: the report's summary (JSON)", f.database),
            (k, _) => format!("{}: {k}", f.database),
        };
        put(rel, &f.body, Some(format!("{label}, from s3://{}/{}", f.bucket, f.key)))?;
    }
    for (n, m) in artifacts.messages.iter().enumerate() {
        let phase = m.attributes.get("phase").map(|(_, v)| v.as_str()).unwrap_or("message");
        let rel = format!("notifications/{:02}-{}.txt", n + 1, file_name(phase));
        let label = format!(
            "e-mail {}: {} ({})",
            n + 1,
            m.subject.as_deref().unwrap_or("(no subject)"),
            seconds_label(
                m.at.duration_since(std::time::SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
                    - EPOCH_SECS as f64
                    - artifacts.decision_start_s
            )
        );
        put(rel, email_text(m).as_bytes(), Some(label))?;
    }
    for (name, events) in &artifacts.histories {
        let rel = format!("histories/{}.json", file_name(name));
        let doc = serde_json::json!({"execution": name, "events": events});
        let text = serde_json::to_string_pretty(&doc).map_err(io::Error::other)?;
        put(rel, text.as_bytes(), Some(format!("history of {name} ({} events)", events.len())))?;
    }
    let json = serde_json::to_string_pretty(report).map_err(io::Error::other)?;
    put("drill.json".into(), format!("{json}\n").as_bytes(), Some("the drill's report (JSON)".into()))?;

    let page = timeline::page(report, &artifacts.marks, &links);
    write_file(&dir.join("timeline.html"), page.as_bytes())?;
    written.insert(0, "timeline.html".into());
    Ok(written)
}

/// Where a campaign writes a cell's files.
pub fn cell_dir(dir: &Path, cell_id: &str) -> PathBuf {
    dir.join("cells").join(file_name(cell_id))
}
