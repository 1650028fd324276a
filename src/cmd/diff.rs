//! `failover diff`: glue over rowdiff. Compares tables between the old and the new primary
//! and writes the report files and `summary.json` into a directory.
//!
//! Exit codes: 0 nothing lost, 1 a key with a lost write found (rows written after the
//! failover do not count), 2 error (the message names the table and the column).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use rowdiff::{DiffOptions, Source, SourceConfig, TableSpec};

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The old primary (restored from its snapshot): postgres://, mysql:// or sqlite://PATH.
    #[arg(long, value_name = "URL")]
    old: String,
    /// A reader of the new primary (never its writer), same engine as --old.
    #[arg(long, value_name = "URL")]
    new: String,
    /// A table to compare, optionally with its key columns; repeatable. Default: every
    /// table with a primary key.
    #[arg(long = "table", value_name = "NAME[:KEY,...]")]
    tables: Vec<String>,
    /// A column left out of the comparison, as TABLE.COLUMN; repeatable.
    #[arg(long = "ignore", value_name = "TABLE.COLUMN")]
    ignore: Vec<String>,
    /// Every table's last-write time column (set on every insert and update): a value later
    /// than the failover point is a lost write on the old side, a write after the failover on
    /// the new side.
    #[arg(long, value_name = "COL", requires = "after")]
    time_column: Option<String>,
    /// Every table's creation time column: tells a reused id from a conflict, a lost insert
    /// from a lost update deleted since.
    #[arg(long, value_name = "COL", requires = "time_column")]
    created_column: Option<String>,
    /// When the failover began, RFC 3339 (2024-05-01T10:00:00Z).
    #[arg(long, value_name = "TIMESTAMP", requires = "time_column")]
    after: Option<String>,
    /// The last instant whose writes the new primary received (RFC 3339). Default: the latest
    /// time column value on the new side not after --after.
    #[arg(long, value_name = "TIMESTAMP", requires = "after")]
    failover_point: Option<String>,
    /// Directory that receives summary.json, differences.jsonl, one CSV per table, report.html.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

fn parse_table(s: &str) -> Result<TableSpec, String> {
    let (name, key) = match s.split_once(':') {
        Some((n, k)) => (n, k.split(',').map(str::trim).filter(|k| !k.is_empty()).map(String::from).collect()),
        None => (s, Vec::new()),
    };
    if name.trim().is_empty() {
        return Err(format!("--table {s:?}: empty table name"));
    }
    Ok(TableSpec { name: name.trim().to_string(), key, ..Default::default() })
}

pub fn run(args: DiffArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(diff(args)) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
    }
}

async fn diff(args: DiffArgs) -> Result<ExitCode, String> {
    let old_cfg = SourceConfig::from_url(&args.old).map_err(|e| format!("--old: {e}"))?;
    let new_cfg = SourceConfig::from_url(&args.new).map_err(|e| format!("--new: {e}"))?;
    let (old, new) = tokio::join!(Source::connect(&old_cfg), Source::connect(&new_cfg));
    let old = old.map_err(|e| format!("old side: {e}"))?;
    let new = new.map_err(|e| format!("new side: {e}"))?;

    let mut specs: Vec<TableSpec> = args.tables.iter().map(|t| parse_table(t)).collect::<Result<_, _>>()?;
    if specs.is_empty() && (!args.ignore.is_empty() || args.time_column.is_some()) {
        // Ignored columns and the time column attach to named tables: name them all.
        specs = rowdiff::list_tables(&old).await.map_err(|e| e.to_string())?.into_iter().map(TableSpec::new).collect();
    }
    for ig in &args.ignore {
        let (t, c) = ig.rsplit_once('.').ok_or_else(|| format!("--ignore {ig:?}: expected TABLE.COLUMN"))?;
        let spec = specs
            .iter_mut()
            .find(|s| s.name == t)
            .ok_or_else(|| format!("--ignore {ig:?}: table {t} is not compared"))?;
        spec.ignore_columns.push(c.to_string());
    }
    if let Some(tc) = &args.time_column {
        for s in &mut specs {
            s.time_column = Some(tc.clone());
            s.created_column = args.created_column.clone();
        }
    }
    let opts =
        DiffOptions { after: args.after.clone(), failover_point: args.failover_point.clone(), ..Default::default() };
    let diffs = rowdiff::diff_tables(&old, &new, &specs, &opts).await.map_err(|e| e.to_string())?;
    rowdiff::report::write_all(&args.out, &diffs).map_err(|e| format!("{}: {e}", args.out.display()))?;

    let mut differences = 0;
    for d in &diffs {
        let c = &d.counts;
        let classes: Vec<String> =
            rowdiff::Class::ALL.into_iter().filter(|k| c.get(*k) > 0).map(|k| format!("{} {k}", c.get(k))).collect();
        println!(
            "{}: {} lost, {} after the failover [{}] ({} old rows, {} new rows)",
            d.table,
            c.lost(),
            c.after(),
            if classes.is_empty() { "identical".to_string() } else { classes.join(", ") },
            c.old_rows,
            c.new_rows
        );
        differences += c.differences();
    }
    println!("report: {}", args.out.join("report.html").display());
    Ok(if differences == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_arguments() {
        let t = parse_table("orders").unwrap();
        assert_eq!((t.name.as_str(), t.key.len()), ("orders", 0));
        let t = parse_table("sales.items:order_id, line").unwrap();
        assert_eq!(t.name, "sales.items");
        assert_eq!(t.key, vec!["order_id".to_string(), "line".to_string()]);
        assert!(parse_table(":id").is_err());
    }

    // The root package does not depend on rusqlite and rowdiff opens files read-only: the
    // test databases are written with the sqlite3 command.
    fn db(path: &std::path::Path, sql: &str) -> String {
        let _ = std::fs::remove_file(path);
        let ok =
            std::process::Command::new("sqlite3").arg(path).arg(sql).status().map(|s| s.success()).unwrap_or(false);
        assert!(ok, "sqlite3 is needed to build the test databases");
        format!("sqlite://{}", path.display())
    }

    fn args(old: &str, new: &str, out: &std::path::Path) -> DiffArgs {
        DiffArgs {
            old: old.into(),
            new: new.into(),
            tables: vec![],
            ignore: vec![],
            time_column: None,
            created_column: None,
            after: None,
            failover_point: None,
            out: out.to_path_buf(),
        }
    }

    #[test]
    fn exit_codes_and_summary() {
        let dir = std::env::temp_dir().join(format!("failover_diff_cli_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let old = db(
            &dir.join("old.db"),
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'), (2, NULL);",
        );
        let new = db(
            &dir.join("new.db"),
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'), (3, '');",
        );
        let out = dir.join("out");
        assert_eq!(format!("{:?}", run(args(&old, &new, &out))), format!("{:?}", ExitCode::from(1)));
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
        let t = &summary["tables"][0];
        assert_eq!(t["lost"].as_u64(), Some(2), "{summary}");
        assert_eq!((t["classes"]["lost-insert"].as_u64(), t["classes"]["lost-delete"].as_u64()), (Some(1), Some(1)));
        assert_eq!(format!("{:?}", run(args(&old, &old, &out))), format!("{:?}", ExitCode::SUCCESS));
        let mut a = args(&old, &new, &out);
        a.tables = vec!["missing".into()];
        assert_eq!(format!("{:?}", run(a)), format!("{:?}", ExitCode::from(2)));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
