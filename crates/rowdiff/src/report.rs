//! Report writers: `summary.json` (counts per table), `differences.jsonl` (one line per row),
//! one CSV per table, and `report.html` (self-contained, what a person reads first).
//!
//! [`render_all`] returns the files in memory (for an S3 upload); [`write_all`] writes them
//! to a directory. NULL stays distinct from `''` and `'<null>'` in every format: JSON
//! `null`, an unquoted empty CSV field (every non-NULL CSV field is quoted, as PostgreSQL's
//! `COPY ... CSV` does), and a marked cell in HTML.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as J, json};

use crate::model::{ChangedRow, Row, TableDiff, Value};

/// The summary as JSON: per table `lost`, `new`, `changed`, `written_after`, row counts,
/// and overall `identical`.
pub fn summary(diffs: &[TableDiff]) -> J {
    let tables: Vec<J> = diffs
        .iter()
        .map(|d| {
            json!({
                "table": d.table,
                "lost": d.counts.lost,
                "new": d.counts.new,
                "changed": d.counts.changed,
                "written_after": d.counts.written_after,
                "old_rows": d.counts.old_rows,
                "new_rows": d.counts.new_rows,
                "truncated": d.truncated,
                "range": d.range,
            })
        })
        .collect();
    let sum = |f: fn(&TableDiff) -> u64| diffs.iter().map(f).sum::<u64>();
    json!({
        "identical": diffs.iter().all(|d| d.counts.differences() == 0),
        "lost": sum(|d| d.counts.lost),
        "new": sum(|d| d.counts.new),
        "changed": sum(|d| d.counts.changed),
        "written_after": sum(|d| d.counts.written_after),
        "tables": tables,
    })
}

fn obj(cols: &[String], vals: &[Value]) -> J {
    let mut m = Map::new();
    for (c, v) in cols.iter().zip(vals) {
        m.insert(c.clone(), serde_json::to_value(v).unwrap_or(J::Null));
    }
    J::Object(m)
}

fn key_obj(d: &TableDiff, vals: &[Value]) -> J {
    obj(&d.key, &vals[..d.key.len().min(vals.len())])
}

/// All kinds of differences of a table, in report order.
fn each_row<'a>(d: &'a TableDiff) -> impl Iterator<Item = (&'static str, Option<&'a Row>, Option<&'a ChangedRow>)> {
    let rows = |k: &'static str, v: &'a [Row]| v.iter().map(move |r| (k, Some(r), None));
    let ch = |k: &'static str, v: &'a [ChangedRow]| v.iter().map(move |c| (k, None, Some(c)));
    rows("lost", &d.lost)
        .chain(rows("new", &d.new))
        .chain(ch("changed", &d.changed))
        .chain(rows("new_after_failover", &d.new_after))
        .chain(ch("changed_after_failover", &d.changed_after))
}

/// JSON Lines: one object per differing row.
pub fn jsonl(diffs: &[TableDiff], out: &mut impl Write) -> std::io::Result<()> {
    for d in diffs {
        for (kind, row, ch) in each_row(d) {
            let line = match (row, ch) {
                (Some(r), _) => {
                    json!({"table": d.table, "kind": kind, "key": key_obj(d, &r.values), "row": obj(&d.columns, &r.values)})
                }
                (_, Some(c)) => json!({
                    "table": d.table, "kind": kind, "key": key_obj(d, &c.old), "columns": c.columns,
                    "old": obj(&d.columns, &c.old), "new": obj(&d.columns, &c.new)
                }),
                _ => continue,
            };
            serde_json::to_writer(&mut *out, &line)?;
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}

fn csv_field(v: &Value, out: &mut String) {
    if let Value::Null = v {
        return;
    }
    out.push('"');
    out.push_str(&v.to_string().replace('"', "\"\""));
    out.push('"');
}

fn csv_text(s: &str, out: &mut String) {
    out.push('"');
    out.push_str(&s.replace('"', "\"\""));
    out.push('"');
}

/// CSV of one table: `kind,side,changed_columns,<columns...>`; a changed row is two lines,
/// its old and its new version.
pub fn csv(d: &TableDiff, out: &mut impl Write) -> std::io::Result<()> {
    let mut s = String::new();
    s.push_str("\"kind\",\"side\",\"changed_columns\"");
    for c in &d.columns {
        s.push(',');
        csv_text(c, &mut s);
    }
    s.push_str("\r\n");
    let line = |kind: &str, side: &str, cols: &str, vals: &[Value], s: &mut String| {
        csv_text(kind, s);
        s.push(',');
        csv_text(side, s);
        s.push(',');
        csv_text(cols, s);
        for v in vals {
            s.push(',');
            csv_field(v, s);
        }
        s.push_str("\r\n");
    };
    for (kind, row, ch) in each_row(d) {
        match (row, ch) {
            (Some(r), _) => line(kind, if kind == "lost" { "old" } else { "new" }, "", &r.values, &mut s),
            (_, Some(c)) => {
                let cols = c.columns.join(";");
                line(kind, "old", &cols, &c.old, &mut s);
                line(kind, "new", &cols, &c.new, &mut s);
            }
            _ => {}
        }
        if s.len() > 1 << 16 {
            out.write_all(s.as_bytes())?;
            s.clear();
        }
    }
    out.write_all(s.as_bytes())
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn cell(v: &Value, changed: bool) -> String {
    let cls = if changed { " class=\"chg\"" } else { "" };
    match v {
        Value::Null => format!("<td{cls}><span class=\"null\">NULL</span></td>"),
        Value::Text(t) if t.is_empty() => format!("<td{cls}><span class=\"empty\">(empty)</span></td>"),
        v => format!("<td{cls}>{}</td>", esc(&v.to_string())),
    }
}

/// Rows of kinds other than lost shown per table in the HTML (lost rows are always all shown).
const HTML_OTHER_ROWS: usize = 1000;

/// One self-contained HTML page: the summary, then per table the lost rows in full, the
/// changed rows with the differing cells marked, the new rows.
pub fn html(diffs: &[TableDiff], title: &str, out: &mut impl Write) -> std::io::Result<()> {
    let mut s = String::new();
    s.push_str("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
    s.push_str(&esc(title));
    s.push_str(
        "</title><style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
         table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.2em .5em;\
         font-family:ui-monospace,monospace;font-size:.9em;vertical-align:top}th{background:#f3f3f3}\
         .null{color:#999;font-style:italic}.empty{color:#999}.chg{background:#fff1b8}\
         .lost{color:#b00020}.ok{color:#0a7a0a}</style></head><body>",
    );
    s.push_str(&format!("<h1>{}</h1>", esc(title)));
    let lost: u64 = diffs.iter().map(|d| d.counts.lost).sum();
    let verdict = if diffs.iter().all(|d| d.counts.differences() == 0) {
        "<p class=\"ok\">No lost, new or changed rows.</p>".to_string()
    } else {
        format!("<p class=\"lost\"><strong>{lost}</strong> lost row(s) in total.</p>")
    };
    s.push_str(&verdict);
    s.push_str("<table><tr><th>table</th><th>lost</th><th>changed</th><th>new</th><th>written after failover</th><th>old rows</th><th>new rows</th></tr>");
    for d in diffs {
        let c = &d.counts;
        s.push_str(&format!(
            "<tr><td><a href=\"#t-{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&d.table),
            esc(&d.table),
            c.lost,
            c.changed,
            c.new,
            c.written_after,
            c.old_rows,
            c.new_rows
        ));
    }
    s.push_str("</table>");
    for d in diffs {
        s.push_str(&format!("<h2 id=\"t-{}\">{}</h2>", esc(&d.table), esc(&d.table)));
        if d.truncated {
            s.push_str("<p>Not every row was kept in memory: the counts are exact, the lists are not complete.</p>");
        }
        let header = |s: &mut String, extra: &str| {
            s.push_str("<table><tr>");
            s.push_str(extra);
            for c in &d.columns {
                s.push_str(&format!("<th>{}</th>", esc(c)));
            }
            s.push_str("</tr>");
        };
        let rows = |s: &mut String, name: &str, rows: &[Row], cap: usize| {
            if rows.is_empty() {
                return;
            }
            s.push_str(&format!("<h3>{name} ({})</h3>", rows.len()));
            header(s, "");
            for r in rows.iter().take(cap) {
                s.push_str("<tr>");
                for v in &r.values {
                    s.push_str(&cell(v, false));
                }
                s.push_str("</tr>");
            }
            s.push_str("</table>");
            if rows.len() > cap {
                s.push_str(&format!("<p>{} more in differences.jsonl.</p>", rows.len() - cap));
            }
        };
        let changed = |s: &mut String, name: &str, rows: &[ChangedRow]| {
            if rows.is_empty() {
                return;
            }
            s.push_str(&format!("<h3>{name} ({})</h3>", rows.len()));
            header(s, "<th></th>");
            for r in rows.iter().take(HTML_OTHER_ROWS) {
                for (side, vals) in [("old", &r.old), ("new", &r.new)] {
                    s.push_str(&format!("<tr><td>{side}</td>"));
                    for (v, c) in vals.iter().zip(&d.columns) {
                        s.push_str(&cell(v, r.columns.contains(c)));
                    }
                    s.push_str("</tr>");
                }
            }
            s.push_str("</table>");
        };
        rows(&mut s, "Lost rows (only in the old primary)", &d.lost, usize::MAX);
        changed(&mut s, "Changed rows", &d.changed);
        rows(&mut s, "New rows (only in the new primary)", &d.new, HTML_OTHER_ROWS);
        changed(&mut s, "Changed after the failover", &d.changed_after);
        rows(&mut s, "Written after the failover", &d.new_after, HTML_OTHER_ROWS);
        if d.counts.differences() + d.counts.written_after == 0 {
            s.push_str("<p class=\"ok\">Identical.</p>");
        }
        if s.len() > 1 << 16 {
            out.write_all(s.as_bytes())?;
            s.clear();
        }
    }
    s.push_str("</body></html>\n");
    out.write_all(s.as_bytes())
}

fn file_name(table: &str) -> String {
    table.chars().map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '_' }).collect()
}

/// Every report file, in memory: `(file name, bytes)`.
pub fn render_all(diffs: &[TableDiff]) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut b = serde_json::to_vec_pretty(&summary(diffs)).unwrap_or_default();
    b.push(b'\n');
    files.push(("summary.json".to_string(), b));
    let mut b = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = jsonl(diffs, &mut b);
    files.push(("differences.jsonl".to_string(), b));
    for d in diffs {
        let mut b = Vec::new();
        let _ = csv(d, &mut b);
        files.push((format!("{}.csv", file_name(&d.table)), b));
    }
    let mut b = Vec::new();
    let _ = html(diffs, "Missing-transaction report", &mut b);
    files.push(("report.html".to_string(), b));
    files
}

/// Writes every report file into `dir` (created if missing); returns the paths written.
pub fn write_all(dir: &Path, diffs: &[TableDiff]) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut paths = Vec::new();
    for (name, bytes) in render_all(diffs) {
        let p = dir.join(name);
        std::fs::write(&p, bytes)?;
        paths.push(p);
    }
    Ok(paths)
}
