//! Every case of the test list, against real PostgreSQL, MariaDB and SQLite.

mod common;

use common::*;
use rowdiff::{Engine, TableSpec};

/// Column types per engine for the same logical table.
fn ty(e: Engine, t: &str) -> &'static str {
    match (e, t) {
        (Engine::Postgres, "key") => "text",
        (Engine::Mysql, "key") => "varchar(64)",
        (Engine::Sqlite, "key") => "TEXT",
        (Engine::Postgres, "text") => "text",
        (Engine::Mysql, "text") => "longtext",
        (Engine::Sqlite, "text") => "TEXT",
        (Engine::Postgres, "int") => "bigint",
        (Engine::Mysql, "int") => "bigint",
        (Engine::Sqlite, "int") => "INTEGER",
        _ => panic!("no type {t}"),
    }
}

#[tokio::test]
async fn null_empty_and_the_text_null_all_differ() {
    for e in ENGINES {
        let Some(mut p) = Pair::new(e, "nulls").await else { continue };
        let (i, t) = (ty(e, "int"), ty(e, "text"));
        p.both(&[&format!("CREATE TABLE t (id {i} PRIMARY KEY, v {t})")]).await;
        p.old("INSERT INTO t VALUES (1, NULL), (2, ''), (3, '<null>'), (4, NULL), (5, ''), (6, '<null>'), (7, 'x')")
            .await;
        p.new_side(
            "INSERT INTO t VALUES (1, ''), (2, '<null>'), (3, NULL), (4, NULL), (5, ''), (6, '<null>'), (7, NULL)",
        )
        .await;
        let d = p.diff1(TableSpec::new("t")).await;
        assert_sets(&d, &[], &[], &["1", "2", "3", "7"]);
        p.drop().await;
    }
}

fn ty2(e: Engine, pg: &'static str, my: &'static str, lite: &'static str) -> &'static str {
    match e {
        Engine::Postgres => pg,
        Engine::Mysql => my,
        Engine::Sqlite => lite,
    }
}

#[tokio::test]
async fn null_becoming_a_value_and_back() {
    for e in ENGINES {
        let Some(mut p) = Pair::new(e, "nullval").await else { continue };
        let (i, t) = (ty(e, "int"), ty(e, "text"));
        let num = ty2(e, "numeric(12,2)", "decimal(12,2)", "NUMERIC");
        p.both(&[&format!("CREATE TABLE t (id {i} PRIMARY KEY, amount {num}, note {t})")]).await;
        p.old("INSERT INTO t VALUES (1, NULL, 'a'), (2, 10.50, NULL), (3, NULL, NULL), (4, 7.25, 'd')").await;
        p.new_side("INSERT INTO t VALUES (1, 3.10, 'a'), (2, NULL, 'b'), (3, NULL, NULL), (4, 7.25, 'd')").await;
        let d = p.diff1(TableSpec::new("t")).await;
        assert_sets(&d, &[], &[], &["1", "2"]);
        let c1 = changed_row(&d, "1");
        assert_eq!(c1.columns, vec!["amount".to_string()], "{e:?}");
        let c2 = changed_row(&d, "2");
        assert_eq!(c2.columns, vec!["amount".to_string(), "note".to_string()], "{e:?}");
        p.drop().await;
    }
}

#[tokio::test]
async fn unicode_and_collation_sensitive_text_keys() {
    for e in ENGINES {
        let Some(mut p) = Pair::new(e, "coll").await else { continue };
        let k = ty(e, "key");
        p.both(&[&format!("CREATE TABLE t (k {k} PRIMARY KEY, v int)")]).await;
        // Distinct under every collation here (case, accent and pad insensitive included),
        // identical on both sides: the merge must walk them in step.
        let shared = [
            "Apple",
            "apricot",
            "Banana",
            "b2",
            "Çedilla",
            "cherry",
            "ñandu",
            "Ødegaard",
            "zebra",
            "Zulu",
            "a b",
            "日本語",
            "emoji 😀",
            "Straße",
            "zz z",
            "x\ty",
            "1",
            "10",
            "9",
            "~tilde",
            "_under",
        ];
        for s in shared {
            let sql = format!("INSERT INTO t VALUES ('{s}', 1)");
            p.both(&[&sql]).await;
        }
        p.old("INSERT INTO t VALUES ('lost one', 1), ('cherry2', 1), ('Mixed', 1), ('pad', 1), ('crème', 1)").await;
        p.new_side("INSERT INTO t VALUES ('new one', 1), ('cherry2', 2), ('mixed', 1), ('pad ', 1), ('creme', 1)")
            .await;
        let d = p.diff1(TableSpec::new("t")).await;
        match e {
            // utf8mb4_general_ci: case, accents and trailing spaces do not make another key,
            // so those rows are the same row with a changed key text.
            Engine::Mysql => {
                assert_sets(&d, &["lost one"], &["new one"], &["cherry2", "mixed", "pad ", "creme"]);
                let c = changed_row(&d, "mixed");
                assert_eq!(c.columns, vec!["k".to_string()]);
            }
            // Deterministic (byte) equality.
            _ => assert_sets(
                &d,
                &["lost one", "Mixed", "pad", "crème"],
                &["new one", "mixed", "pad ", "creme"],
                &["cherry2"],
            ),
        }
        p.drop().await;
    }
}

#[tokio::test]
async fn mysql_nopad_and_binary_collations_keep_trailing_spaces_and_case() {
    let Some(mut p) = Pair::new(Engine::Mysql, "nopad").await else { return };
    p.both(&[
        "CREATE TABLE n (k varchar(32) COLLATE utf8mb4_nopad_bin PRIMARY KEY, v int)",
        "CREATE TABLE b (k varchar(32) COLLATE utf8mb4_bin PRIMARY KEY, v int)",
        "INSERT INTO n VALUES ('a', 1), ('B', 1), ('c ', 1)",
        "INSERT INTO b VALUES ('a', 1), ('B', 1), ('c', 1)",
    ])
    .await;
    p.old("INSERT INTO n VALUES ('x', 1), ('A', 1)").await;
    p.new_side("INSERT INTO n VALUES ('x ', 1), ('a ', 2)").await;
    p.old("INSERT INTO b VALUES ('y', 1), ('b', 1)").await;
    p.new_side("INSERT INTO b VALUES ('y ', 2), ('b', 2)").await;
    let ds = p.diff(&[TableSpec::new("n"), TableSpec::new("b")], &Default::default()).await.unwrap();
    // NO PAD: 'x' and 'x ' are different keys.
    assert_sets(&ds[0], &["x", "A"], &["x ", "a "], &[]);
    // utf8mb4_bin is PAD SPACE: 'y' and 'y ' are one key; case still matters.
    assert_sets(&ds[1], &[], &[], &["y ", "b"]);
    p.drop().await;
}

#[tokio::test]
async fn composite_keys() {
    for e in ENGINES {
        let Some(mut p) = Pair::new(e, "comp").await else { continue };
        let (i, k) = (ty(e, "int"), ty(e, "key"));
        p.both(&[
            &format!("CREATE TABLE t (region {k} NOT NULL, id {i} NOT NULL, v int, PRIMARY KEY (region, id))"),
            "INSERT INTO t VALUES ('eu', 1, 1), ('eu', 2, 1), ('us', 1, 1), ('us', 2, 1), ('ap', 9, 1)",
        ])
        .await;
        p.old("INSERT INTO t VALUES ('eu', 3, 1), ('us', 3, 1)").await;
        p.new_side("INSERT INTO t VALUES ('eu', 4, 1), ('us', 3, 2)").await;
        p.new_side("UPDATE t SET v = 5 WHERE region = 'ap' AND id = 9").await;
        let d = p.diff1(TableSpec::new("t")).await;
        let pair = |v: &[rowdiff::Value]| format!("{}/{}", v[0], v[1]);
        let of = |c: rowdiff::Class| -> std::collections::BTreeSet<String> {
            d.of_class(c).map(|k| pair(k.values())).collect()
        };
        let (lost, new, ch) =
            (of(rowdiff::Class::LostInsert), of(rowdiff::Class::LostDelete), of(rowdiff::Class::LostUpdate));
        assert_eq!(lost, set(&["eu/3"]), "{e:?}");
        assert_eq!(new, set(&["eu/4"]), "{e:?}");
        assert_eq!(ch, set(&["us/3", "ap/9"]), "{e:?}");
        assert_eq!(d.key, vec!["region".to_string(), "id".to_string()]);
        p.drop().await;
    }
}

#[tokio::test]
async fn uuid_keys() {
    for e in ENGINES {
        let Some(mut p) = Pair::new(e, "uuid").await else { continue };
        let u = ty2(e, "uuid", "uuid", "TEXT");
        let ids: Vec<String> = (0..40u32)
            .map(|n| {
                format!(
                    "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                    n.wrapping_mul(2654435761),
                    n * 7,
                    n,
                    n * 3,
                    n as u64 * 99991
                )
            })
            .collect();
        p.both(&[&format!("CREATE TABLE t (id {u} PRIMARY KEY, v int)")]).await;
        for (n, id) in ids.iter().enumerate() {
            if n != 5 {
                p.both(&[&format!("INSERT INTO t VALUES ('{id}', {n})")]).await;
            }
        }
        p.old(&format!("INSERT INTO t VALUES ('{}', 5)", ids[5])).await;
        p.new_side(&format!("UPDATE t SET v = 100 WHERE id = '{}'", ids[17])).await;
        p.new_side("INSERT INTO t VALUES ('ffffffff-ffff-4fff-8fff-ffffffffffff', 1)").await;
        let d = p.diff1(TableSpec::new("t")).await;
        assert_sets(&d, &[&ids[5]], &["ffffffff-ffff-4fff-8fff-ffffffffffff"], &[&ids[17]]);
        p.drop().await;
    }
}

#[tokio::test]
async fn numeric_scale() {
    for e in ENGINES {
        let Some(mut p) = Pair::new(e, "scale").await else { continue };
        let i = ty(e, "int");
        // PostgreSQL: unconstrained numeric keeps the scale it was given; the database's
        // equality (and the report) ignores trailing zeros.
        let num = ty2(e, "numeric", "decimal(20,6)", "NUMERIC");
        p.both(&[&format!("CREATE TABLE t (id {i} PRIMARY KEY, a {num})")]).await;
        p.old("INSERT INTO t VALUES (1, 1.5), (2, 2.50), (3, 100), (4, 0.000001), (5, 12345678901234.5)").await;
        p.new_side("INSERT INTO t VALUES (1, 1.50), (2, 2.51), (3, 100.000), (4, 0.000002), (5, 12345678901234.5)")
            .await;
        let d = p.diff1(TableSpec::new("t")).await;
        assert_sets(&d, &[], &[], &["2", "4"]);
        p.drop().await;
    }
}

#[tokio::test]
async fn timestamp_precision_and_time_zones() {
    for e in [Engine::Postgres, Engine::Mysql] {
        let Some(mut p) = Pair::new(e, "ts").await else { continue };
        let i = ty(e, "int");
        let ts = ty2(e, "timestamptz(6)", "timestamp(6) NULL", "");
        let dt = ty2(e, "timestamp(3)", "datetime(3)", "");
        p.both(&[&format!("CREATE TABLE t (id {i} PRIMARY KEY, at {ts}, local {dt})")]).await;
        p.old(
            "INSERT INTO t VALUES (1, '2024-03-01 12:00:00+00', '2024-03-01 12:00:00.100'), \
             (2, '2024-03-01 12:00:00.123456+00', '2024-03-01 12:00:00'), \
             (3, '2024-03-01 12:00:00+00', '2024-03-01 12:00:00.123'), \
             (4, '2024-03-01 12:00:00+00', '2024-03-01 12:00:00')"
                .replace("+00'", if e == Engine::Mysql { "'" } else { "+00'" })
                .as_str(),
        )
        .await;
        // The new side writes the same instants from another time zone.
        let zone = if e == Engine::Mysql { "SET time_zone = '+02:00'" } else { "SET TimeZone = 'Europe/Paris'" };
        p.new_side(zone).await;
        p.new_side(
            "INSERT INTO t VALUES (1, '2024-03-01 13:00:00+01', '2024-03-01 12:00:00.1'), \
             (2, '2024-03-01 14:00:00.123457+02', '2024-03-01 12:00:00'), \
             (3, '2024-03-01 13:00:00+01', '2024-03-01 12:00:00.124'), \
             (4, '2024-03-01 14:00:00+02', '2024-03-01 12:00:00')"
                .replace("13:00:00+01'", if e == Engine::Mysql { "13:00:00'" } else { "13:00:00+01'" })
                .replace("+02'", if e == Engine::Mysql { "'" } else { "+02'" })
                .as_str(),
        )
        .await;
        let d = p.diff1(TableSpec::new("t")).await;
        // MariaDB: '13:00' at +02:00 is 11:00 UTC, so row 1 and 3 differ in `at` there.
        match e {
            Engine::Mysql => assert_sets(&d, &[], &[], &["1", "2", "3"]),
            _ => assert_sets(&d, &[], &[], &["2", "3"]),
        }
        p.drop().await;
    }
    // SQLite has no timestamp type: values are text and compare as stored.
    let Some(mut p) = Pair::new(Engine::Sqlite, "ts").await else { return };
    p.both(&["CREATE TABLE t (id INTEGER PRIMARY KEY, at TEXT)"]).await;
    p.old("INSERT INTO t VALUES (1, '2024-03-01T12:00:00.123456Z'), (2, '2024-03-01T12:00:00Z')").await;
    p.new_side("INSERT INTO t VALUES (1, '2024-03-01T12:00:00.123457Z'), (2, '2024-03-01T12:00:00Z')").await;
    assert_sets(&p.diff1(TableSpec::new("t")).await, &[], &[], &["1"]);
    p.drop().await;
}

#[tokio::test]
async fn floats() {
    for e in ENGINES {
        let Some(mut p) = Pair::new(e, "float").await else { continue };
        let i = ty(e, "int");
        let f = ty2(e, "float8", "double", "REAL");
        p.both(&[&format!("CREATE TABLE t (id {i} PRIMARY KEY, x {f})")]).await;
        p.old("INSERT INTO t VALUES (1, 0.1), (2, 0.3), (3, 1e300), (4, -2.5), (5, 123456789.123456789), (6, 1e-300)")
            .await;
        p.new_side("INSERT INTO t VALUES (1, 0.1), (2, 0.30000000000000004), (3, 1e300), (4, -2.5), (5, 123456789.12345679), (6, 2e-300)").await;
        let d = p.diff1(TableSpec::new("t")).await;
        assert_sets(&d, &[], &[], &["2", "6"]);
        p.drop().await;
    }
}

#[tokio::test]
async fn large_text_json_and_binary_values() {
    for e in ENGINES {
        let Some(mut p) = Pair::new(e, "large").await else { continue };
        let (i, t) = (ty(e, "int"), ty(e, "text"));
        let j = ty2(e, "jsonb", "json", "TEXT");
        let b = ty2(e, "bytea", "longblob", "BLOB");
        let lit = |hex: &str| if e == Engine::Postgres { format!("'\\x{hex}'::bytea") } else { format!("X'{hex}'") };
        p.both(&[&format!("CREATE TABLE t (id {i} PRIMARY KEY, body {t}, doc {j}, bin {b})")]).await;
        let big = "lorem ipsum ".repeat(20_000);
        let mut big2 = big.clone();
        big2.replace_range(120_000..120_001, "L");
        let rows = |body: &str, bin3: &str| {
            format!(
                "INSERT INTO t VALUES (1, '{big}', '{{\"a\": 1, \"b\": [1, 2]}}', {}), (2, '{body}', '{{\"k\": \"v\"}}', {}), \
                 (3, 'x', '{{\"n\": null}}', {}), (4, 'y', '[]', {})",
                lit("00ff00"),
                lit(""),
                lit(bin3),
                lit("0001020304")
            )
        };
        p.old(&rows(&big, "deadbeef")).await;
        p.new_side(&rows(&big2, "deadbeee")).await;
        let d = p.diff1(TableSpec::new("t")).await;
        assert_sets(&d, &[], &[], &["2", "3"]);
        assert_eq!(changed_row(&d, "3").columns, vec!["bin".to_string()]);
        p.drop().await;
    }
}

async fn orders_table(p: &mut Pair, rows_old: &[i64], rows_new: &[i64]) {
    let i = ty(p.engine, "int");
    p.both(&[&format!("CREATE TABLE o (id {i} PRIMARY KEY, customer {i}, status varchar(16))")]).await;
    for (side, rows) in [(true, rows_old), (false, rows_new)] {
        for chunk in rows.chunks(500) {
            let vals: Vec<String> = chunk.iter().map(|r| format!("({r}, {}, 'paid')", r % 97)).collect();
            let sql = format!("INSERT INTO o VALUES {}", vals.join(", "));
            if side { p.old(&sql).await } else { p.new_side(&sql).await }
        }
    }
}

#[tokio::test]
async fn empty_tables_and_one_side_empty() {
    for e in ENGINES {
        let Some(mut p) = Pair::new(e, "empty").await else { continue };
        orders_table(&mut p, &[], &[]).await;
        let d = p.diff1(TableSpec::new("o")).await;
        assert_sets(&d, &[], &[], &[]);
        assert_eq!((d.counts.old_rows, d.counts.new_rows), (0, 0));
        let ids: Vec<i64> = (1..=300).collect();
        let v: Vec<String> = ids.iter().map(|i| format!("({i}, 1, 'paid')")).collect();
        p.old(&format!("INSERT INTO o VALUES {}", v.join(", "))).await;
        let d = p.diff1(TableSpec::new("o")).await;
        let all: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        assert_sets(&d, &all, &[], &[]);
        // And the other way round.
        p.new_side(&format!("INSERT INTO o VALUES {}", v.join(", "))).await;
        p.old("DELETE FROM o").await;
        let d = p.diff1(TableSpec::new("o")).await;
        assert_sets(&d, &[], &all, &[]);
        p.drop().await;
    }
}

#[tokio::test]
async fn identical_tables_need_one_level_and_fetch_nothing() {
    for e in ENGINES {
        let Some(mut p) = Pair::new(e, "ident").await else { continue };
        let ids: Vec<i64> = (1..=5000).collect();
        orders_table(&mut p, &ids, &ids).await;
        let d = p.diff1(TableSpec::new("o")).await;
        assert_sets(&d, &[], &[], &[]);
        assert_eq!(d.counts.old_rows, 5000);
        assert_eq!(d.stats.levels, 1);
        assert_eq!(d.stats.rows_fetched, 0);
        p.drop().await;
    }
}

#[tokio::test]
async fn every_row_different() {
    for e in ENGINES {
        let Some(mut p) = Pair::new(e, "every").await else { continue };
        let ids: Vec<i64> = (1..=2000).collect();
        orders_table(&mut p, &ids, &ids).await;
        p.new_side("UPDATE o SET status = 'refunded'").await;
        let d = p.diff1(TableSpec::new("o")).await;
        assert_eq!(d.counts.lost_update, 2000);
        assert_eq!(d.counts.lost(), 2000);
        assert!(changed_rows(&d).iter().all(|c| c.columns == vec!["status".to_string()]));
        let got = changed(&d);
        assert_eq!(got, ids.iter().map(|i| i.to_string()).collect());
        p.drop().await;
    }
}

#[tokio::test]
async fn gaps_in_the_key_range() {
    for e in ENGINES {
        let Some(mut p) = Pair::new(e, "gaps").await else { continue };
        let mut ids: Vec<i64> = (1..=50).collect();
        ids.extend(1_000_000..1_000_050);
        ids.extend((1i64 << 40)..(1i64 << 40) + 50);
        ids.extend([-9_000_000_000_000, -1, 0, i64::MAX - 1]);
        let mut new: Vec<i64> =
            ids.iter().copied().filter(|i| ![-1, 1_000_000, 1i64 << 40, i64::MAX - 1].contains(i)).collect();
        new.extend([500_000, 3_000_000_000, i64::MAX]);
        orders_table(&mut p, &ids, &new).await;
        p.new_side("UPDATE o SET status = 'x' WHERE id IN (-9000000000000, 1000049)").await;
        let d = p.diff1(TableSpec::new("o")).await;
        let big = (1i64 << 40).to_string();
        let max1 = (i64::MAX - 1).to_string();
        let max = i64::MAX.to_string();
        assert_sets(
            &d,
            &["-1", "1000000", &big, &max1],
            &["500000", "3000000000", &max],
            &["-9000000000000", "1000049"],
        );
        p.drop().await;
    }
}

#[tokio::test]
async fn sparse_differences_descend_through_levels() {
    for e in ENGINES {
        let Some(mut p) = Pair::new(e, "deep").await else { continue };
        let ids: Vec<i64> = (1..=20_000).collect();
        let new: Vec<i64> = ids.iter().copied().filter(|i| *i != 777 && *i != 15_001).chain([25_000]).collect();
        orders_table(&mut p, &ids, &new).await;
        p.new_side("UPDATE o SET status = 'x' WHERE id = 4242").await;
        // Four buckets at first, as if the catalog had underestimated the table.
        let opts = rowdiff::DiffOptions {
            leaf_rows: 64,
            descend_above_rows: 0,
            first_level_bits: Some(2),
            ..Default::default()
        };
        let d = p.diff(&[TableSpec::new("o")], &opts).await.unwrap().remove(0);
        assert_sets(&d, &["777", "15001"], &["25000"], &["4242"]);
        assert!(d.stats.levels >= 2, "{e:?}: {:?}", d.stats);
        // Only the differing leaves' rows crossed the wire.
        assert!(d.stats.rows_fetched < 8 * 64, "{e:?}: {:?}", d.stats);
        p.drop().await;
    }
}

#[tokio::test]
async fn narrow_integer_keys_spanning_their_whole_range() {
    for e in ENGINES {
        let Some(mut p) = Pair::new(e, "int4").await else { continue };
        let k = if e == Engine::Sqlite { "INTEGER" } else { "int" };
        p.both(&[
            &format!("CREATE TABLE t (id {k} PRIMARY KEY, v int)"),
            "INSERT INTO t VALUES (-2147483648, 1), (-5, 1), (0, 1), (7, 1), (2147483647, 1)",
        ])
        .await;
        p.old("INSERT INTO t VALUES (2147483000, 1)").await;
        p.new_side("UPDATE t SET v = 2 WHERE id = -2147483648").await;
        p.new_side("INSERT INTO t VALUES (-2147483000, 1)").await;
        let d = p.diff1(TableSpec::new("t")).await;
        assert_sets(&d, &["2147483000"], &["-2147483000"], &["-2147483648"]);
        p.drop().await;
    }
}

#[tokio::test]
async fn many_scattered_differences() {
    for e in ENGINES {
        let Some(mut p) = Pair::new(e, "scatter").await else { continue };
        let ids: Vec<i64> = (1..=5000).collect();
        orders_table(&mut p, &ids, &ids).await;
        p.new_side("UPDATE o SET status = 'x' WHERE id % 7 = 3").await;
        let opts = rowdiff::DiffOptions { leaf_rows: 4, ..Default::default() };
        let d = p.diff(&[TableSpec::new("o")], &opts).await.unwrap().remove(0);
        let want: std::collections::BTreeSet<String> =
            ids.iter().filter(|i| *i % 7 == 3).map(|i| i.to_string()).collect();
        assert_eq!(changed(&d), want, "{e:?}");
        assert_eq!(d.counts.lost(), d.counts.lost_update);
        // Only the differing buckets' rows were fetched, not the whole table.
        assert!(d.stats.rows_fetched < 2 * 5000, "{e:?}: {:?}", d.stats);
        p.drop().await;
    }
}
