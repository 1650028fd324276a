//! Errors that name the table and column, ignored columns, the time column, key ranges,
//! source URLs and the report writers.

mod common;

use common::*;
use rowdiff::{Class, DiffError, DiffOptions, Engine, KeyRange, Source, SourceConfig, TableSpec};

fn int(e: Engine) -> &'static str {
    if e == Engine::Sqlite { "INTEGER" } else { "bigint" }
}

#[tokio::test]
async fn errors_name_the_table_and_the_column() {
    for e in ENGINES {
        let Some(mut p) = Pair::new(e, "errs").await else { continue };
        let i = int(e);
        p.both(&[
            &format!("CREATE TABLE nopk (a {i}, b {i})"),
            &format!("CREATE TABLE wide (id {i} PRIMARY KEY, a {i})"),
        ])
        .await;
        p.old(&format!("CREATE TABLE only_old (id {i} PRIMARY KEY)")).await;
        p.old(&format!("CREATE TABLE typed (id {i} PRIMARY KEY, amount {i})")).await;
        p.new_side(&format!("CREATE TABLE typed (id {i} PRIMARY KEY, amount varchar(10))")).await;
        p.new_side(&format!("ALTER TABLE wide ADD COLUMN extra {i}")).await;
        let o = DiffOptions::default();

        let err = p.diff(&[TableSpec::new("only_old")], &o).await.unwrap_err();
        assert!(matches!(&err, DiffError::TableMissing { table, side: "new" } if table == "only_old"), "{e:?}: {err}");
        assert!(err.to_string().contains("only_old"));

        let err = p.diff(&[TableSpec::new("nopk")], &o).await.unwrap_err();
        assert!(matches!(&err, DiffError::NoPrimaryKey { table } if table == "nopk"), "{err}");
        // Naming the key makes a table without a primary key comparable.
        let d = p.diff(&[TableSpec::new("nopk").key(["a"])], &o).await.unwrap();
        assert_eq!(d[0].counts.differences(), 0);

        let err = p.diff(&[TableSpec::new("typed")], &o).await.unwrap_err();
        match &err {
            DiffError::ColumnTypeMismatch { table, column, .. } => {
                assert_eq!((table.as_str(), column.as_str()), ("typed", "amount"))
            }
            other => panic!("{e:?}: {other}"),
        }
        assert!(err.to_string().contains("typed") && err.to_string().contains("amount"));

        let err = p.diff(&[TableSpec::new("wide")], &o).await.unwrap_err();
        assert!(
            matches!(&err, DiffError::ColumnMissing { table, column, side: "old" } if table == "wide" && column == "extra"),
            "{err}"
        );
        // Ignoring the column makes the tables comparable.
        let d = p.diff(&[TableSpec::new("wide").ignore(["extra"])], &o).await.unwrap();
        assert_eq!(d[0].columns, vec!["id".to_string(), "a".to_string()]);

        let err =
            p.diff(&[TableSpec::new("wide").key(["id"]).ignore(["extra"]).time_column("nope")], &o).await.unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        p.drop().await;
    }
}

#[tokio::test]
async fn engines_must_match_and_unreachable_databases_say_which_side() {
    let lite = std::env::temp_dir().join(format!("rd_mismatch_{}.sqlite", std::process::id()));
    rusqlite::Connection::open(&lite).unwrap().execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY)").unwrap();
    let a = Source::connect(&SourceConfig::sqlite(&lite)).await.unwrap();
    if let Some(p) = Pair::new(Engine::Postgres, "mismatch").await {
        let b = Source::connect(&p.new).await.unwrap();
        let err = rowdiff::diff_tables(&a, &b, &[], &DiffOptions::default()).await.err().unwrap();
        assert!(matches!(err, DiffError::EngineMismatch { old: "sqlite", new: "postgres" }), "{err}");
        drop(b);
        p.drop().await;
    }
    let err = Source::connect(&SourceConfig::postgres("127.0.0.1", 1, "postgres", None, "x")).await.err().unwrap();
    assert!(matches!(err, DiffError::Connect { .. }), "{err}");
    let err = Source::connect(&SourceConfig::mysql("127.0.0.1", 1, "root", None, "x")).await.err().unwrap();
    assert!(matches!(err, DiffError::Connect { .. }), "{err}");
    std::fs::remove_file(lite).unwrap();
}

#[test]
fn source_urls_and_parts() {
    let c = SourceConfig::from_url("postgres://app:p%40ss@db.example:6432/orders?sslmode=require").unwrap();
    assert_eq!((c.engine, c.host.as_str(), c.port, c.user.as_str()), (Engine::Postgres, "db.example", 6432, "app"));
    assert_eq!((c.password.as_deref(), c.database.as_str(), c.tls.enabled), (Some("p@ss"), "orders", true));
    assert!(!format!("{c:?}").contains("p@ss"), "the password never reaches Debug");
    let c = SourceConfig::from_url("mysql://root@127.0.0.1/test").unwrap();
    assert_eq!((c.engine, c.port, c.password.clone(), c.tls.enabled), (Engine::Mysql, 3306, None, false));
    let c = SourceConfig::from_url("sqlite:///tmp/x.db").unwrap();
    assert_eq!((c.engine, c.database.as_str()), (Engine::Sqlite, "/tmp/x.db"));
    assert!(SourceConfig::from_url("oracle://x/y").is_err());
    assert!(SourceConfig::from_url("postgres://h/").is_err());
    assert!(SourceConfig::from_url("postgres://h/db?sslrootcert=/nonexistent/ca.pem").is_err());
    let parts =
        SourceConfig::postgres("h", 5432, "u", Some("p"), "d").with_tls(rowdiff::TlsConfig::with_ca_pem(b"x".to_vec()));
    assert!(parts.tls.enabled);
}

#[tokio::test]
async fn tls_with_a_bad_ca_bundle_is_refused_before_connecting() {
    let cfg = SourceConfig::postgres("127.0.0.1", 5432, "postgres", None, "test")
        .with_tls(rowdiff::TlsConfig::with_ca_pem(b"not a certificate".to_vec()));
    let err = Source::connect(&cfg).await.err().unwrap();
    assert!(err.to_string().contains("CA bundle"), "{err}");
}

/// The failover began at 10:00; the new primary had the old one's writes up to 09:50 (the
/// latest time it holds from before 10:00: the failover point); the old primary went on
/// writing until 09:59, writes the new one never received.
const F: &str = "2024-05-01T10:00:00Z";

/// One key of every class, on one engine: `(id, class)` expected with a creation column.
async fn every_class_table(p: &mut Pair, e: Engine) {
    let i = int(e);
    let ts = match e {
        Engine::Postgres => "timestamptz",
        Engine::Mysql => "datetime(6)",
        Engine::Sqlite => "TEXT",
    };
    p.both(&[&format!(
        "CREATE TABLE o (id {i} PRIMARY KEY, status varchar(10), touched {i}, created_at {ts}, updated_at {ts})"
    )])
    .await;
    let base = |ids: &[i64]| {
        ids.iter()
            .map(|id| format!("({id}, 'a', 1, '2024-05-01 09:00:00', '2024-05-01 09:00:00')"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Replicated to both before the failover; 12 is the last replicated write (09:50).
    p.both(&[
        &format!("INSERT INTO o VALUES {}", base(&[1, 3, 4, 5, 6, 7, 10, 11])),
        "INSERT INTO o VALUES (12, 'a', 1, '2024-05-01 09:50:00', '2024-05-01 09:50:00')",
    ])
    .await;
    // The old primary's writes after 09:50, never replicated.
    p.old("INSERT INTO o VALUES (2, 'lost', 1, '2024-05-01 09:55:00', '2024-05-01 09:55:00')").await;
    p.old("UPDATE o SET status = 'b', updated_at = '2024-05-01 09:56:00' WHERE id IN (3, 5, 6)").await;
    p.old("DELETE FROM o WHERE id IN (4, 7)").await;
    p.old("INSERT INTO o VALUES (8, 'lost', 1, '2024-05-01 09:58:00', '2024-05-01 09:58:00')").await;
    // The new primary's writes after the failover.
    p.new_side("UPDATE o SET touched = 2").await;
    p.new_side("UPDATE o SET status = 'c', updated_at = '2024-05-01 10:10:00' WHERE id IN (5, 7, 10)").await;
    p.new_side("DELETE FROM o WHERE id IN (6, 11)").await;
    p.new_side(
        "INSERT INTO o VALUES (8, 'other', 1, '2024-05-01 10:12:00', '2024-05-01 10:12:00'), \
         (9, 'late', 1, '2024-05-01 10:13:00', '2024-05-01 10:13:00')",
    )
    .await;
}

fn by_class(d: &rowdiff::TableDiff) -> Vec<(String, Class)> {
    d.rows.iter().map(|k| (key_text(k), k.class)).collect()
}

fn ids(v: &[(i64, Class)]) -> Vec<(String, Class)> {
    v.iter().map(|(i, c)| (i.to_string(), *c)).collect()
}

#[tokio::test]
async fn every_key_is_classified_against_the_failover_point_on_both_sides() {
    use Class::*;
    for e in ENGINES {
        let Some(mut p) = Pair::new(e, "classes").await else { continue };
        every_class_table(&mut p, e).await;
        let opts = DiffOptions { after: Some(F.into()), ..Default::default() };
        let spec = TableSpec::new("o").ignore(["touched"]).time_column("updated_at").created_column("created_at");
        let d = p.diff(std::slice::from_ref(&spec), &opts).await.unwrap().remove(0);
        assert_eq!(d.failover_point.as_deref(), Some("2024-05-01 09:50:00.000000"), "{e:?}: estimated");
        // Key order; 1 and 12 are the same on both sides; the ignored column counts for nothing.
        let want = ids(&[
            (2, LostInsert),
            (3, LostUpdate),
            (4, LostDelete),
            (5, Conflict),
            (6, Conflict),
            (7, Conflict),
            (8, IdReused),
            (9, InsertedAfter),
            (10, UpdatedAfter),
            (11, DeletedAfter),
        ]);
        assert_eq!(by_class(&d), want, "{e:?}");
        assert_eq!((d.counts.lost(), d.counts.after(), d.counts.conflict), (7, 3, 3), "{e:?}: {:?}", d.counts);
        // Both rows where both exist, with the differing columns.
        let k5 = d.rows.iter().find(|k| key_text(k) == "5").unwrap();
        assert_eq!(
            (k5.old.as_ref().unwrap()[1].to_string(), k5.new.as_ref().unwrap()[1].to_string()),
            ("b".into(), "c".into())
        );
        assert!(k5.columns.contains(&"status".to_string()) && !k5.columns.contains(&"touched".to_string()), "{e:?}");
        assert!(d.rows.iter().find(|k| key_text(k) == "6").unwrap().new.is_none());

        // Without a creation column, a row on one side only written after the point counts
        // as inserted, and a reused id as a conflict.
        let mut no_created = spec.clone();
        no_created.created_column = None;
        let d = p.diff(&[no_created], &opts).await.unwrap().remove(0);
        let want = ids(&[
            (2, LostInsert),
            (3, LostUpdate),
            (4, LostDelete),
            (5, Conflict),
            (6, LostInsert),
            (7, InsertedAfter),
            (8, Conflict),
            (9, InsertedAfter),
            (10, UpdatedAfter),
            (11, DeletedAfter),
        ]);
        assert_eq!(by_class(&d), want, "{e:?}");

        // The point given, not estimated: the same classes.
        let given = DiffOptions { failover_point: Some("2024-05-01T09:50:00Z".into()), ..opts.clone() };
        let d = p.diff(std::slice::from_ref(&spec), &given).await.unwrap().remove(0);
        assert_eq!(by_class(&d).len(), 10, "{e:?}");
        assert_eq!(d.counts.lost(), 7, "{e:?}");
        // The one function a fan-out uses to share the estimate.
        let (o, n) = (Source::connect(&p.old).await.unwrap(), Source::connect(&p.new).await.unwrap());
        let point = rowdiff::estimate_failover_point(&o, &n, std::slice::from_ref(&spec), F).await.unwrap();
        assert_eq!(point.as_deref(), Some("2024-05-01 09:50:00.000000"), "{e:?}");

        // The reference plan's old mistake: a creation time as the time column. A status
        // changed after the failover is then taken for a lost update.
        let created_only = TableSpec::new("o").ignore(["touched", "updated_at"]).time_column("created_at");
        let d = p.diff(&[created_only], &opts).await.unwrap().remove(0);
        assert_eq!(d.rows.iter().find(|k| key_text(k) == "10").map(|k| k.class), Some(LostUpdate), "{e:?}");
        p.drop().await;
    }
}

#[tokio::test]
async fn a_time_column_needs_the_failover_time_and_a_creation_column_a_time_column() {
    let Some(mut p) = Pair::new(Engine::Sqlite, "needs").await else { return };
    every_class_table(&mut p, Engine::Sqlite).await;
    let err = p.diff(&[TableSpec::new("o").time_column("updated_at")], &DiffOptions::default()).await.unwrap_err();
    assert!(err.to_string().contains("failover time"), "{err}");
    let opts = DiffOptions { after: Some(F.into()), ..Default::default() };
    let err = p.diff(&[TableSpec::new("o").created_column("created_at")], &opts).await.unwrap_err();
    assert!(err.to_string().contains("creation column needs a time column"), "{err}");
    let err = p.diff(&[TableSpec::new("o").time_column("updated_at").created_column("nope")], &opts).await.unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    p.drop().await;
}

#[tokio::test]
async fn key_ranges_partition_the_diff() {
    for e in ENGINES {
        let Some(mut p) = Pair::new(e, "ranges").await else { continue };
        let i = int(e);
        let k = if e == Engine::Mysql { "varchar(20)" } else { "text" };
        p.both(&[&format!("CREATE TABLE c (g {k} NOT NULL, n {i} NOT NULL, v {i}, PRIMARY KEY (g, n))")]).await;
        let mut rows = Vec::new();
        for g in ["alpha", "Beta", "gamma", "delta"] {
            for n in 0..250 {
                rows.push(format!("('{g}', {n}, {n})"));
            }
        }
        p.both(&[&format!("INSERT INTO c VALUES {}", rows.join(", "))]).await;
        p.new_side("DELETE FROM c WHERE n % 37 = 3").await;
        p.new_side("UPDATE c SET v = -1 WHERE n % 53 = 7").await;
        p.new_side("INSERT INTO c VALUES ('zeta', 1, 1), ('Beta', 1000, 1)").await;
        let whole = p.diff1(TableSpec::new("c")).await;
        assert!(whole.counts.lost_insert > 0 && whole.counts.lost_update > 0 && whole.counts.lost_delete == 2);

        let src = Source::connect(&p.old).await.unwrap();
        let ranges = rowdiff::plan_ranges(&src, &TableSpec::new("c"), 7).await.unwrap();
        drop(src);
        assert_eq!(ranges.len(), 7, "{e:?}: {ranges:?}");
        assert_eq!(ranges[0].lower, None);
        assert_eq!(ranges[6].upper, None);
        let specs: Vec<TableSpec> = ranges.iter().map(|r| TableSpec::new("c").range(r.clone())).collect();
        let parts = p.diff(&specs, &DiffOptions::default()).await.unwrap();
        let mut lost = Vec::new();
        let (mut new, mut changed) = (0, 0);
        for part in &parts {
            lost.extend(part.of_class(Class::LostInsert).map(|k| format!("{}/{}", k.values()[0], k.values()[1])));
            new += part.counts.lost_delete;
            changed += part.counts.lost_update;
        }
        lost.sort();
        let mut want: Vec<String> =
            whole.of_class(Class::LostInsert).map(|k| format!("{}/{}", k.values()[0], k.values()[1])).collect();
        want.sort();
        assert_eq!(lost, want, "{e:?}");
        assert_eq!((new, changed), (whole.counts.lost_delete, whole.counts.lost_update), "{e:?}");
        // A range with bounds given by hand.
        let r =
            KeyRange { lower: Some(vec!["alpha".into(), "0".into()]), upper: Some(vec!["alpha".into(), "10".into()]) };
        let d = p.diff(&[TableSpec::new("c").range(r)], &DiffOptions::default()).await.unwrap().remove(0);
        assert_eq!(d.counts.old_rows, 10);
        assert_eq!(common::lost(&d), set(&["alpha"]));
        assert_eq!(d.rows[0].values()[1].to_string(), "3");
        p.drop().await;
    }
}

#[tokio::test]
async fn integer_keys_are_cut_by_key_span_over_both_sides_unless_sparse() {
    for e in ENGINES {
        let Some(mut p) = Pair::new(e, "slices").await else { continue };
        let i = int(e);
        let values = |from: i64, to: i64| (from..=to).map(|k| format!("({k}, {k})")).collect::<Vec<_>>().join(", ");
        p.both(&[
            &format!("CREATE TABLE t (id {i} PRIMARY KEY, v {i})"),
            &format!("INSERT INTO t VALUES {}", values(1, 100)),
        ])
        .await;
        // The new side kept taking writes: 200 more rows above the old side's keys.
        p.new_side(&format!("INSERT INTO t VALUES {}", values(101, 300))).await;
        p.both(&[
            &format!("CREATE TABLE s (id {i} PRIMARY KEY, v {i})"),
            &format!("INSERT INTO s VALUES {}", values(1, 100)),
        ])
        .await;
        // One outlier key makes the span a million times the rows.
        p.both(&["INSERT INTO s VALUES (1000000000, 0)"]).await;
        let (o, n) = (Source::connect(&p.old).await.unwrap(), Source::connect(&p.new).await.unwrap());
        let upper = |r: &[KeyRange]| r.iter().map(|x| x.upper.clone().map(|u| u.join(","))).collect::<Vec<_>>();

        // Both sides' span [1, 300] in three equal slices; the old side alone would put
        // every new row into the last range.
        let both = rowdiff::plan_ranges_over(&[&o, &n], &TableSpec::new("t"), 3, None).await.unwrap();
        assert_eq!(upper(&both), vec![Some("101".into()), Some("201".into()), None], "{e:?}");
        let old_only = rowdiff::plan_ranges(&o, &TableSpec::new("t"), 3).await.unwrap();
        assert_eq!(upper(&old_only), vec![Some("34".into()), Some("67".into()), None], "{e:?}");

        // Sparse keys: cut by row counts (101 rows, 26 a part), not by the span.
        let sparse = rowdiff::plan_ranges(&o, &TableSpec::new("s"), 4).await.unwrap();
        assert_eq!(upper(&sparse), vec![Some("27".into()), Some("53".into()), Some("79".into()), None], "{e:?}");
        drop((o, n));
        p.drop().await;
    }
}

#[tokio::test]
async fn reports_keep_null_empty_and_text_null_apart() {
    let Some(mut p) = Pair::new(Engine::Sqlite, "report").await else { return };
    p.both(&["CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO t VALUES (9, 'same')"]).await;
    p.old("INSERT INTO t VALUES (1, NULL), (2, ''), (3, '<null>'), (4, 'a \"quoted\", <b>')").await;
    p.new_side("INSERT INTO t VALUES (1, 'x'), (5, 'new')").await;
    let d = p.diff(&[TableSpec::new("t")], &DiffOptions::default()).await.unwrap();
    let files = rowdiff::report::render_all(&d);
    let get = |n: &str| String::from_utf8(files.iter().find(|f| f.0 == n).unwrap().1.clone()).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&get("summary.json")).unwrap();
    // No time column: every difference is lost, by presence.
    let t = &summary["tables"][0];
    assert_eq!(
        (&t["classes"]["lost-insert"], &t["classes"]["lost-delete"], &t["classes"]["lost-update"]),
        (&serde_json::json!(3), &serde_json::json!(1), &serde_json::json!(1))
    );
    assert_eq!((&t["lost"], &t["after_failover"]), (&serde_json::json!(5), &serde_json::json!(0)));
    assert_eq!(summary["identical"], false);
    let lines: Vec<serde_json::Value> =
        get("differences.jsonl").lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 5);
    let lost_vals: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["class"] == "lost-insert").map(|l| &l["old"]["v"]).collect();
    assert_eq!(
        lost_vals,
        vec![&serde_json::json!(""), &serde_json::json!("<null>"), &serde_json::json!("a \"quoted\", <b>")]
    );
    assert!(lines.iter().filter(|l| l["class"] == "lost-insert").all(|l| l["new"].is_null() && l["lost"] == true));
    let changed = lines.iter().find(|l| l["class"] == "lost-update").unwrap();
    assert_eq!(changed["old"]["v"], serde_json::Value::Null);
    assert_eq!(changed["new"]["v"], serde_json::json!("x"));
    assert_eq!(changed["key"], serde_json::json!({"id": 1}));
    assert_eq!(changed["columns"], serde_json::json!(["v"]));
    let csv = get("t.csv");
    assert!(csv.contains("\"lost-update\",\"old\",\"v\",\"1\",\r\n"), "NULL is an unquoted empty field: {csv}");
    assert!(csv.contains("\"lost-update\",\"new\",\"v\",\"1\",\"x\"\r\n"), "{csv}");
    assert!(csv.contains("\"lost-insert\",\"old\",\"\",\"2\",\"\"\r\n"), "'' is a quoted empty field: {csv}");
    assert!(csv.contains("\"a \"\"quoted\"\", <b>\""));
    let html = get("report.html");
    assert!(html.contains("a &quot;quoted&quot;, &lt;b&gt;") && !html.contains("<b>"));
    assert!(html.contains("5</strong> key(s) with a lost write"));
    let dir = std::env::temp_dir().join(format!("rd_report_{}", std::process::id()));
    let written = rowdiff::report::write_all(&dir, &d).unwrap();
    assert_eq!(written.len(), 4);
    assert_eq!(std::fs::read_to_string(dir.join("summary.json")).unwrap(), get("summary.json"));
    std::fs::remove_dir_all(dir).unwrap();
    p.drop().await;
}

#[tokio::test]
async fn all_tables_with_a_primary_key_when_none_is_named() {
    for e in ENGINES {
        let Some(mut p) = Pair::new(e, "all").await else { continue };
        let i = int(e);
        p.both(&[
            &format!("CREATE TABLE a (id {i} PRIMARY KEY)"),
            &format!("CREATE TABLE b (id {i} PRIMARY KEY)"),
            &format!("CREATE TABLE nokey (id {i})"),
            "INSERT INTO a VALUES (1), (2)",
        ])
        .await;
        p.old("INSERT INTO b VALUES (7)").await;
        let d = p.diff(&[], &DiffOptions::default()).await.unwrap();
        let names: Vec<&str> = d.iter().map(|t| t.table.as_str()).collect();
        assert_eq!(names, vec!["a", "b"], "{e:?}");
        assert_eq!(d[1].counts.lost_insert, 1);
        p.drop().await;
    }
}

#[tokio::test]
async fn kept_rows_are_capped_but_counts_stay_exact() {
    let Some(mut p) = Pair::new(Engine::Sqlite, "cap").await else { return };
    p.both(&["CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)"]).await;
    let rows: Vec<String> = (0..1000).map(|i| format!("({i}, {i})")).collect();
    p.old(&format!("INSERT INTO t VALUES {}", rows.join(","))).await;
    let opts = DiffOptions { max_rows_kept: 10, ..Default::default() };
    let d = p.diff(&[TableSpec::new("t")], &opts).await.unwrap().remove(0);
    assert_eq!((d.counts.lost_insert, d.rows.len(), d.truncated), (1000, 10, true));
    p.drop().await;
}

#[tokio::test]
async fn diff_futures_are_send_for_lambda_handlers() {
    fn assert_send<T: Send>(_: &T) {}
    let lite = std::env::temp_dir().join(format!("rd_send_{}.sqlite", std::process::id()));
    rusqlite::Connection::open(&lite).unwrap().execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY)").unwrap();
    let s = Source::connect(&SourceConfig::sqlite(&lite)).await.unwrap();
    let specs = [TableSpec::new("t")];
    let opts = DiffOptions::default();
    let f = rowdiff::diff_tables(&s, &s, &specs, &opts);
    assert_send(&f);
    drop(f);
    let f = rowdiff::plan_ranges(&s, &specs[0], 4);
    assert_send(&f);
    drop(f);
    std::fs::remove_file(lite).unwrap();
}

#[tokio::test]
async fn a_source_stays_usable_after_a_failed_diff() {
    for e in ENGINES {
        let Some(mut p) = Pair::new(e, "reuse").await else { continue };
        p.both(&[&format!("CREATE TABLE t (id {} PRIMARY KEY)", int(e)), "INSERT INTO t VALUES (1)"]).await;
        let (o, n) = (Source::connect(&p.old).await.unwrap(), Source::connect(&p.new).await.unwrap());
        let o2 = DiffOptions::default();
        assert!(rowdiff::diff_tables(&o, &n, &[TableSpec::new("missing")], &o2).await.is_err());
        // The same connections see a fresh snapshot next time.
        p.new_side("INSERT INTO t VALUES (2)").await;
        let d = rowdiff::diff_tables(&o, &n, &[TableSpec::new("t")], &o2).await.unwrap();
        assert_eq!(added(&d[0]), set(&["2"]), "{e:?}");
        drop((o, n));
        p.drop().await;
    }
}
