//! Report writers: `summary.json` (counts per table and class), `differences.jsonl` (one line
//! per differing key: its class, its old and new rows), one CSV per table, and `report.html`
//! (self-contained, what a person reads first).
//!
//! [`render_all`] returns the files in memory (for an S3 upload); [`write_all`] writes them
//! to a directory. NULL stays distinct from `''` and `'<null>'` in every format: JSON
//! `null`, an unquoted empty CSV field (every non-NULL CSV field is quoted, as PostgreSQL's
//! `COPY ... CSV` does), and a marked cell in HTML.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as J, json};

use crate::model::{Class, Counts, KeyDiff, TableDiff, Value};

fn class_counts(c: &Counts) -> J {
    let mut m = Map::new();
    for class in Class::ALL {
        m.insert(class.as_str().to_string(), json!(c.get(class)));
    }
    J::Object(m)
}

/// The summary as JSON: per table the count of every class, `lost` (every lost class) and
/// `after_failover` (the rest), row counts and the failover point; overall `identical` (no
/// lost key) and the same totals.
pub fn summary(diffs: &[TableDiff]) -> J {
    let tables: Vec<J> = diffs
        .iter()
        .map(|d| {
            json!({
                "table": d.table,
                "lost": d.counts.lost(),
                "after_failover": d.counts.after(),
                "classes": class_counts(&d.counts),
                "old_rows": d.counts.old_rows,
                "new_rows": d.counts.new_rows,
                "failover_point": d.failover_point,
                "truncated": d.truncated,
                "range": d.range,
            })
        })
        .collect();
    let mut total = Counts::default();
    for d in diffs {
        total.absorb(&d.counts);
    }
    json!({
        "identical": total.lost() == 0,
        "lost": total.lost(),
        "after_failover": total.after(),
        "classes": class_counts(&total),
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

fn side(d: &TableDiff, vals: Option<&Vec<Value>>) -> J {
    vals.map_or(J::Null, |v| obj(&d.columns, v))
}

/// JSON Lines: one object per differing key: `table`, `class`, `lost` (whether the class is
/// a lost write), `key`, the `old` and `new` rows (`null` on the side without it), and the
/// differing `columns` when both exist.
pub fn jsonl(diffs: &[TableDiff], out: &mut impl Write) -> std::io::Result<()> {
    for d in diffs {
        for k in &d.rows {
            let line = json!({
                "table": d.table,
                "class": k.class.as_str(),
                "lost": k.class.is_lost(),
                "key": key_obj(d, k.values()),
                "old": side(d, k.old.as_ref()),
                "new": side(d, k.new.as_ref()),
                "columns": k.columns,
            });
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

/// CSV of one table: `class,side,changed_columns,<columns...>`, one line per row: a key with
/// a row on both sides is two lines, its old and its new version.
pub fn csv(d: &TableDiff, out: &mut impl Write) -> std::io::Result<()> {
    let mut s = String::new();
    s.push_str("\"class\",\"side\",\"changed_columns\"");
    for c in &d.columns {
        s.push(',');
        csv_text(c, &mut s);
    }
    s.push_str("\r\n");
    let line = |class: &str, side: &str, cols: &str, vals: &[Value], s: &mut String| {
        csv_text(class, s);
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
    for k in &d.rows {
        let cols = k.columns.join(";");
        if let Some(v) = &k.old {
            line(k.class.as_str(), "old", &cols, v, &mut s);
        }
        if let Some(v) = &k.new {
            line(k.class.as_str(), "new", &cols, v, &mut s);
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

/// Keys shown per class and table in the HTML for the classes that are not lost (the lost
/// ones are always all shown).
const HTML_OTHER_ROWS: usize = 1000;

/// One self-contained HTML page: the summary, then per table the keys of each class, lost
/// classes first, each with its old and its new row and the differing cells marked.
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
    let lost: u64 = diffs.iter().map(|d| d.counts.lost()).sum();
    let verdict = if lost == 0 {
        "<p class=\"ok\">No lost write.</p>".to_string()
    } else {
        format!("<p class=\"lost\"><strong>{lost}</strong> key(s) with a lost write in total.</p>")
    };
    s.push_str(&verdict);
    s.push_str("<table><tr><th>table</th><th>lost (keys)</th>");
    for c in Class::ALL {
        s.push_str(&format!("<th>{}</th>", c.as_str()));
    }
    s.push_str("<th>old rows</th><th>new rows</th><th>failover point (UTC)</th></tr>");
    for d in diffs {
        let c = &d.counts;
        s.push_str(&format!(
            "<tr><td><a href=\"#t-{}\">{}</a></td><td class=\"{}\">{}</td>",
            esc(&d.table),
            esc(&d.table),
            if c.lost() == 0 { "ok" } else { "lost" },
            c.lost()
        ));
        for class in Class::ALL {
            s.push_str(&format!("<td>{}</td>", c.get(class)));
        }
        s.push_str(&format!(
            "<td>{}</td><td>{}</td><td>{}</td></tr>",
            c.old_rows,
            c.new_rows,
            esc(d.failover_point.as_deref().unwrap_or("none: no time column, every difference is lost"))
        ));
    }
    s.push_str("</table>");
    for d in diffs {
        s.push_str(&format!("<h2 id=\"t-{}\">{}</h2>", esc(&d.table), esc(&d.table)));
        if d.truncated {
            s.push_str("<p>Not every row was kept in memory: the counts are exact, the lists are not complete.</p>");
        }
        for class in Class::ALL {
            let keys: Vec<&KeyDiff> = d.of_class(class).collect();
            if keys.is_empty() {
                continue;
            }
            let cap = if class.is_lost() { usize::MAX } else { HTML_OTHER_ROWS };
            s.push_str(&format!(
                "<h3>{} ({}): {}</h3><table><tr><th></th>",
                class.as_str(),
                d.counts.get(class),
                esc(class.describe())
            ));
            for c in &d.columns {
                s.push_str(&format!("<th>{}</th>", esc(c)));
            }
            s.push_str("</tr>");
            for k in keys.iter().take(cap) {
                for (side, vals) in [("old", &k.old), ("new", &k.new)] {
                    let Some(vals) = vals else { continue };
                    s.push_str(&format!("<tr><td>{side}</td>"));
                    for (v, c) in vals.iter().zip(&d.columns) {
                        s.push_str(&cell(v, k.columns.contains(c)));
                    }
                    s.push_str("</tr>");
                }
            }
            s.push_str("</table>");
            if keys.len() > cap {
                s.push_str(&format!("<p>{} more in differences.jsonl.</p>", keys.len() - cap));
            }
        }
        if d.counts.lost() + d.counts.after() == 0 {
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
