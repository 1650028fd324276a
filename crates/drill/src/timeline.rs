//! The timeline picture of a drill: one self-contained HTML page (inline SVG and CSS, no
//! script, no external asset) that a person opens after the drill: a bar per phase on the
//! simulated clock (the report's phase timings), the outage, the Region's return and the
//! decision as marks, the RTO objective as a line, and the lost rows per table.
//!
//! The page is also read by tests, so its parts carry stable hooks: every phase bar is a
//! `g.phase` with `data-phase` (in the report's order), `data-execution`, `data-start-s`
//! and `data-duration-s`; the objective is `#rto-objective` with `data-seconds`; marks are
//! `g.mark` with `data-mark`; the lost rows are `#lost-rows` rows with `data-lost`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::artifacts::{Mark, seconds_label};
use crate::report::{DrillReport, PhaseTiming, TableLoss};

/// Width of a panel's drawing, in SVG units.
const WIDTH: f64 = 1100.0;
/// The left column (the state's name).
const LEFT: f64 = 250.0;
const RIGHT: f64 = 30.0;
const LANE: f64 = 20.0;
const TOP: f64 = 52.0;
const AXIS: f64 = 40.0;

/// Text or a double-quoted attribute value, escaped (`&`, `<`, `>`, `"`; `/` stays: ids
/// and links keep it).
pub(crate) fn esc(s: &str) -> String {
    html_escape::encode_double_quoted_attribute(s).into_owned()
}

/// The `<head>` and opening `<body>` every page of the drill uses.
pub(crate) fn head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{}</style></head><body>\n",
        esc(title),
        CSS
    )
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}\
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em}\
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}\
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}\
.pass{color:#0a7a0a}.fail{color:#b00020}dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}\
dt{font-weight:600}svg{display:block;margin:.5em 0 1.5em;max-width:100%;height:auto}\
svg text{font-size:12px;font-family:system-ui,sans-serif;fill:#222}svg .axis text{fill:#555}\
svg .tick line{stroke:#ddd}svg .phase rect{fill:#4a78c2}svg .phase.wait rect{fill:#9bb5de}\
svg .mark line{stroke:#b06000;stroke-width:2;stroke-dasharray:4 3}svg .mark text{fill:#b06000}\
svg #rto-objective line,svg .rto-objective line{stroke:#b00020;stroke-width:2}svg #rto-objective text{fill:#b00020}\
svg .rto-measured line{stroke:#0a7a0a;stroke-width:2}svg .rto-measured text{fill:#0a7a0a}\
svg .rto-bound line{stroke:#555;stroke-width:1;stroke-dasharray:2 2}\
svg .lost rect{fill:#b00020}svg .truth rect{fill:none;stroke:#222;stroke-dasharray:3 2}\
tr.unexpected td{background:#fde8ea}tr.expected td:first-child{border-left:4px solid #0a7a0a}";

/// A tick step that gives at most about ten ticks over `span` seconds.
fn tick_step(span: f64) -> f64 {
    const STEPS: [f64; 20] = [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 10800.0, 21600.0,
        43200.0, 86400.0, 172800.0, 604800.0,
    ];
    STEPS.into_iter().find(|s| span / s <= 10.0).unwrap_or(1_209_600.0)
}

/// Seconds `t0..t1` over `width` SVG units from `left`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scale {
    pub t0: f64,
    pub t1: f64,
    pub left: f64,
    pub width: f64,
}

impl Scale {
    pub fn x(&self, t: f64) -> f64 {
        self.left + (t - self.t0) / (self.t1 - self.t0) * self.width
    }
}

/// The x axis of `s` at height `y`, its ticks up to `y_top`, and its caption.
pub(crate) fn axis(svg: &mut String, s: Scale, y_top: f64, y: f64, caption: &str) {
    let step = tick_step(s.t1 - s.t0);
    let _ = write!(
        svg,
        "<g class=\"axis\"><line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#555\"/>",
        s.left,
        s.left + s.width
    );
    let mut t = (s.t0 / step).ceil() * step;
    while t <= s.t1 + 1e-9 {
        let _ = write!(
            svg,
            "<g class=\"tick\"><line x1=\"{0:.1}\" y1=\"{y_top:.1}\" x2=\"{0:.1}\" y2=\"{y:.1}\"/>\
             <text x=\"{0:.1}\" y=\"{1:.1}\" text-anchor=\"middle\">{2}</text></g>",
            s.x(t),
            y + 15.0,
            esc(&seconds_label(t))
        );
        t += step;
    }
    let _ = write!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text></g>",
        s.left + s.width / 2.0,
        y + 32.0,
        esc(caption)
    );
}

/// The execution the RTO is measured on: the last one that is not a recovery.
fn decision_execution(r: &DrillReport) -> Option<&str> {
    r.executions.iter().rev().map(|e| e.name.as_str()).find(|n| !n.ends_with("-recovery"))
}

/// One panel: the phases of one execution on their own scale.
fn panel(
    out: &mut String,
    r: &DrillReport,
    execution: &str,
    phases: &[&PhaseTiming],
    marks: &[Mark],
    used: &mut BTreeSet<String>,
) {
    let decision = decision_execution(r) == Some(execution);
    let mut t0 = phases.iter().map(|p| p.start_s).fold(f64::INFINITY, f64::min);
    let mut t1 = phases.iter().map(|p| p.start_s + p.duration_s).fold(f64::NEG_INFINITY, f64::max);
    if decision {
        // The outage and the alarm come before the execution the proposer started.
        t0 = t0.min(0.0).min(marks.iter().map(|m| m.at_s).fold(0.0, f64::min));
        t1 = t1.max(r.plan_rto_s as f64).max(r.rto_s.unwrap_or(0.0)).max(r.rto_lower_bound_s.unwrap_or(0.0));
    }
    if !t0.is_finite() || !t1.is_finite() {
        return;
    }
    if t1 - t0 < 1.0 {
        t1 = t0 + 1.0;
    }
    // A little room on the right for the labels of lines at the end.
    let span = (t1 - t0) * 1.04;
    let t1 = t0 + span;
    let scale = Scale { t0, t1, left: LEFT, width: WIDTH - LEFT - RIGHT };
    let x = |t: f64| scale.x(t);
    let lanes = phases.len() as f64;
    let bottom = TOP + lanes * LANE + 6.0;
    let height = bottom + AXIS + 10.0;
    let title = format!("Phases of {execution}");
    let _ = write!(
        out,
        "<section class=\"execution\" data-execution=\"{0}\"><h3>{0}{1}</h3>\n\
         <svg class=\"timeline\" viewBox=\"0 0 {WIDTH} {height:.0}\" width=\"{WIDTH}\" height=\"{height:.0}\" role=\"img\" aria-label=\"{2}\">\
         <title>{2}</title>",
        esc(execution),
        if decision { " (the RTO is measured on this execution)" } else { "" },
        esc(&title)
    );
    axis(out, scale, TOP - 4.0, bottom, "simulated time since the failover execution started");
    for (n, p) in phases.iter().enumerate() {
        let y = TOP + n as f64 * LANE;
        let w = (x(p.start_s + p.duration_s) - x(p.start_s)).max(2.0);
        let waits = p.duration_s >= 60.0;
        let _ = write!(
            out,
            "<g class=\"phase{}\" data-phase=\"{}\" data-execution=\"{}\" data-start-s=\"{:.3}\" data-duration-s=\"{:.3}\">\
             <title>{}: from {} for {:.1} s</title>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" rx=\"2\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            if waits { " wait" } else { "" },
            esc(&p.state),
            esc(&p.execution),
            p.start_s,
            p.duration_s,
            esc(&p.state),
            esc(&seconds_label(p.start_s)),
            p.duration_s,
            LEFT - 8.0,
            y + LANE * 0.7,
            esc(&p.state),
            x(p.start_s),
            y + 3.0,
            LANE - 6.0,
            x(p.start_s) + w + 4.0,
            y + LANE * 0.7,
            esc(&duration_text(p.duration_s)),
        );
    }
    let line = |out: &mut String, id: Option<&str>, class: &str, t: f64, label: &str, data: &str| {
        let id = id.map(|i| format!(" id=\"{}\"", esc(i))).unwrap_or_default();
        let _ = write!(
            out,
            "<g{id} class=\"{class}\" {data}><line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{0:.1}\" y2=\"{bottom:.1}\"/>\
             <text x=\"{2:.1}\" y=\"{3:.1}\">{4}</text></g>",
            x(t),
            TOP - 26.0,
            x(t) + 3.0,
            TOP - 30.0,
            esc(label)
        );
    };
    for (k, m) in marks.iter().filter(|m| m.at_s >= t0 && m.at_s <= t1).enumerate() {
        let id = format!("mark-{}", m.id);
        let id = used.insert(id.clone()).then_some(id);
        // Marks' labels are staggered so that two close marks stay readable.
        let id_attr = id.map(|i| format!(" id=\"{i}\"")).unwrap_or_default();
        let (mx, label_y) = (x(m.at_s), TOP - 6.0 - 11.0 * ((k % 2) as f64));
        let _ = write!(
            out,
            "<g{id_attr} class=\"mark\" data-mark=\"{mark}\" data-at-s=\"{at:.3}\">\
             <line x1=\"{mx:.1}\" y1=\"{top:.1}\" x2=\"{mx:.1}\" y2=\"{bottom:.1}\"/>\
             <text x=\"{tx:.1}\" y=\"{label_y:.1}\">{label} ({when})</text></g>",
            mark = esc(&m.id),
            at = m.at_s,
            top = TOP - 2.0,
            tx = mx + 3.0,
            label = esc(&m.label),
            when = esc(&seconds_label(m.at_s)),
        );
    }
    if decision {
        let objective = r.plan_rto_s as f64;
        line(
            out,
            Some("rto-objective"),
            "rto-objective",
            objective,
            &format!("RTO objective {}", seconds_label(objective)),
            &format!("data-seconds=\"{objective:.3}\""),
        );
        if let Some(rto) = r.rto_s {
            line(
                out,
                Some("rto-measured"),
                "rto-measured",
                rto,
                &format!("RTO {rto:.1} s"),
                &format!("data-seconds=\"{rto:.3}\""),
            );
        }
        if let Some(lb) = r.rto_lower_bound_s {
            line(out, Some("rto-lower-bound"), "rto-bound", lb, "", &format!("data-seconds=\"{lb:.3}\""));
        }
    }
    out.push_str("</svg></section>\n");
}

fn duration_text(s: f64) -> String {
    if s < 60.0 { format!("{s:.1} s") } else { seconds_label(s) }
}

/// Per database and table: (reported, ground truth), every table either names.
pub(crate) fn lost_tables(r: &DrillReport) -> Vec<(String, String, Option<TableLoss>, Option<TableLoss>)> {
    let mut keys: BTreeMap<(String, String), (Option<TableLoss>, Option<TableLoss>)> = BTreeMap::new();
    for (db, tables) in &r.lost.reported {
        for (t, l) in tables {
            keys.entry((db.clone(), t.clone())).or_default().0 = Some(l.clone());
        }
    }
    for (db, tables) in &r.lost.ground_truth {
        for (t, l) in tables {
            keys.entry((db.clone(), t.clone())).or_default().1 = Some(l.clone());
        }
    }
    keys.into_iter().map(|((db, t), (rep, truth))| (db, t, rep, truth)).collect()
}

fn lost_section(out: &mut String, r: &DrillReport) {
    out.push_str("<h2 id=\"lost\">Lost rows per table</h2>\n");
    let rows = lost_tables(r);
    if rows.is_empty() {
        out.push_str("<p id=\"no-loss\">No table was compared: this scenario must lose nothing, and the simulator recorded no lost row.</p>\n");
        return;
    }
    let _ = writeln!(
        out,
        "<p>As the missing-transaction report counted them, next to what the simulator knows was lost (the ground truth). \
         The report {} the ground truth on every key.</p>",
        if r.lost.exact {
            "<strong class=\"pass\">equals</strong>"
        } else {
            "<strong class=\"fail\">differs from</strong>"
        }
    );
    let max = rows
        .iter()
        .map(|(_, _, rep, truth)| rep.as_ref().map_or(0, |l| l.lost).max(truth.as_ref().map_or(0, |l| l.lost)))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let bar_w = WIDTH - LEFT - RIGHT - 80.0;
    let height = TOP + rows.len() as f64 * (LANE + 6.0) + 10.0;
    let _ = write!(
        out,
        "<svg id=\"lost-chart\" viewBox=\"0 0 {WIDTH} {height:.0}\" width=\"{WIDTH}\" height=\"{height:.0}\" role=\"img\" aria-label=\"Lost rows per table\">\
         <title>Lost rows per table: filled bars as reported, dashed outlines the ground truth</title>\
         <text x=\"{LEFT}\" y=\"18\">rows lost (filled: reported; dashed: ground truth)</text>"
    );
    for (n, (db, t, rep, truth)) in rows.iter().enumerate() {
        let y = TOP + n as f64 * (LANE + 6.0);
        let lost = rep.as_ref().map(|l| l.lost);
        let truth_lost = truth.as_ref().map(|l| l.lost);
        let w = |v: usize| (v as f64 / max * bar_w).max(if v > 0 { 2.0 } else { 0.0 });
        let _ = write!(
            out,
            "<g class=\"lost\" data-database=\"{0}\" data-table=\"{1}\" data-lost=\"{2}\" data-truth-lost=\"{3}\">\
             <text x=\"{4:.1}\" y=\"{5:.1}\" text-anchor=\"end\">{0}.{1}</text>\
             <rect x=\"{LEFT}\" y=\"{6:.1}\" width=\"{7:.1}\" height=\"{8:.1}\"/>\
             <g class=\"truth\"><rect x=\"{LEFT}\" y=\"{6:.1}\" width=\"{9:.1}\" height=\"{8:.1}\"/></g>\
             <text x=\"{10:.1}\" y=\"{5:.1}\">{11}</text></g>",
            esc(db),
            esc(t),
            lost.map_or("none".to_string(), |v| v.to_string()),
            truth_lost.map_or("none".to_string(), |v| v.to_string()),
            LEFT - 8.0,
            y + LANE * 0.7,
            y + 2.0,
            w(lost.unwrap_or(0)),
            LANE - 4.0,
            w(truth_lost.unwrap_or(0)),
            LEFT + w(lost.unwrap_or(0).max(truth_lost.unwrap_or(0))) + 6.0,
            esc(&format!(
                "{} reported, {} in the ground truth",
                lost.map_or("not".to_string(), |v| v.to_string()),
                truth_lost.map_or("none".to_string(), |v| v.to_string())
            )),
        );
    }
    out.push_str("</svg>\n");
    out.push_str(
        "<table id=\"lost-rows\"><thead><tr><th>database</th><th>table</th><th>lost (reported)</th>\
         <th>written after the failover (reported)</th><th>classes (reported)</th><th>lost (ground truth)</th>\
         <th>written after the failover (ground truth)</th><th>classes (ground truth)</th></tr></thead><tbody>\n",
    );
    for (db, t, rep, truth) in &rows {
        let n = |l: &Option<TableLoss>, f: fn(&TableLoss) -> usize| {
            l.as_ref().map_or("–".to_string(), |l| f(l).to_string())
        };
        let classes = |l: &Option<TableLoss>| {
            l.as_ref().map_or("–".to_string(), |l| {
                l.classes.iter().map(|(c, k)| format!("{c} {k}")).collect::<Vec<_>>().join(", ")
            })
        };
        let _ = writeln!(
            out,
            "<tr class=\"lost-table\" data-database=\"{0}\" data-table=\"{1}\" data-lost=\"{2}\" data-truth-lost=\"{5}\">\
             <td>{0}</td><td>{1}</td><td class=\"num\">{2}</td><td class=\"num\">{3}</td><td class=\"num\">{4}</td>\
             <td class=\"num\">{5}</td><td class=\"num\">{6}</td><td class=\"num\">{7}</td></tr>",
            esc(db),
            esc(t),
            n(rep, |l| l.lost),
            n(rep, |l| l.after),
            esc(&classes(rep)),
            n(truth, |l| l.lost),
            n(truth, |l| l.after),
            esc(&classes(truth)),
        );
    }
    out.push_str("</tbody></table>\n");
}

/// The timeline page of one drill. `links` are (label, relative href) of the files next to
/// it (the report, the e-mails, the histories).
pub fn page(r: &DrillReport, marks: &[Mark], links: &[(String, String)]) -> String {
    let faults = if r.faults.is_empty() {
        "none".to_string()
    } else {
        r.faults.iter().map(|f| f.spec()).collect::<Vec<_>>().join(", ")
    };
    let title = format!(
        "Drill {}: {} (fault {faults}, seed {})",
        if r.as_expected { "passed" } else { "FAILED" },
        r.scenario,
        r.seed
    );
    let mut out = head(&title);
    let _ = writeln!(out, "<h1>{}</h1>", esc(&title));
    let _ = writeln!(
        out,
        "<p id=\"verdict\" class=\"{}\" data-as-expected=\"{}\"><strong>{}</strong>: the drill ended <code>{}</code>; expected: {}.</p>",
        if r.as_expected { "pass" } else { "fail" },
        r.as_expected,
        if r.as_expected { "As expected" } else { "Not as expected" },
        esc(&r.outcome),
        esc(&r.expected_outcome)
    );
    if !r.problems.is_empty() {
        out.push_str("<ul id=\"problems\">");
        for p in &r.problems {
            let _ = write!(out, "<li class=\"fail\">{}</li>", esc(p));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("<dl id=\"summary\">");
    let mut dd = |k: &str, v: String| {
        let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
    };
    dd("scenario", r.scenario.to_string());
    dd("approver", r.approve.to_string());
    dd("faults", faults.clone());
    dd("seed", r.seed.to_string());
    dd("RTO objective (the plan)", format!("{} s", r.plan_rto_s));
    dd("RTO measured", r.rto_s.map_or("not measured (nothing moved)".into(), |v| format!("{v:.1} s")));
    dd("RTO lower bound (the model)", r.rto_lower_bound_s.map_or("none".into(), |v| format!("{v:.1} s")));
    if let (Some(rto), Some(lb)) = (r.rto_s, r.rto_lower_bound_s.filter(|lb| *lb > 0.0)) {
        dd("ratio to the lower bound", format!("{:.3} (allowed {:.2})", rto / lb, r.rto_ratio_allowed));
    }
    dd("serving Regions", r.serving_regions.join(", "));
    dd("writers", r.writers.iter().map(|(d, w)| format!("{d}: {w}")).collect::<Vec<_>>().join(", "));
    dd("repeated side effects", r.repeated_side_effects.len().to_string());
    dd("history events", r.history_events.iter().map(|(e, n)| format!("{e}: {n}")).collect::<Vec<_>>().join(", "));
    out.push_str("</dl>\n");

    out.push_str(
        "<h2 id=\"phases\">Phases on the simulated clock</h2>\n<p>One bar per state of each execution, from its \
         entry to its exit, in seconds since the failover execution the RTO is measured on started. \
         The red line is the plan's RTO objective, the green one the measured RTO, the dotted one its lower bound; \
         the dashed orange lines mark the outage, the Region's return and the approval decision.</p>\n",
    );
    let mut used = BTreeSet::new();
    let mut names: Vec<&str> = r.executions.iter().map(|e| e.name.as_str()).collect();
    for p in &r.phases {
        if !names.contains(&p.execution.as_str()) {
            names.push(&p.execution);
        }
    }
    for name in names {
        let phases: Vec<&PhaseTiming> = r.phases.iter().filter(|p| p.execution == name).collect();
        if !phases.is_empty() {
            panel(&mut out, r, name, &phases, marks, &mut used);
        }
    }
    // A mark outside every panel's span is still said.
    for m in marks.iter().filter(|m| !used.contains(&format!("mark-{}", m.id))) {
        let _ = writeln!(
            out,
            "<p class=\"mark\" data-mark=\"{}\">{} at {}</p>",
            esc(&m.id),
            esc(&m.label),
            esc(&seconds_label(m.at_s))
        );
    }
    lost_section(&mut out, r);

    if !links.is_empty() {
        out.push_str("<h2 id=\"files\">Files of this drill</h2>\n<ul>");
        for (label, href) in links {
            let _ = write!(out, "<li><a href=\"{}\">{}</a></li>", esc(href), esc(label));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</body></html>\n");
    out
}
