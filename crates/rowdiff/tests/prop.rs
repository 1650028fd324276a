//! Property: for random tables and random edits, the report equals the edits.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use proptest::prelude::*;
use rowdiff::{DiffOptions, Engine, TableSpec};

type Table = BTreeMap<i64, (Option<String>, Option<i64>)>;

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    SetA(usize, Option<String>),
    SetB(usize, Option<i64>),
    Insert(i64, Option<String>, Option<i64>),
}

fn text() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some(String::new())),
        Just(Some("<null>".to_string())),
        Just(Some("NULL".to_string())),
        "[a-c ]{0,3}".prop_map(Some),
        "\\PC{0,6}".prop_map(Some),
    ]
}

fn num() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![Just(None), Just(Some(0)), any::<i64>().prop_map(Some), (-3i64..3).prop_map(Some)]
}

fn table() -> impl Strategy<Value = Table> {
    prop::collection::btree_map(-50i64..400, (text(), num()), 0..120)
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(
        prop_oneof![
            any::<usize>().prop_map(Edit::Delete),
            (any::<usize>(), text()).prop_map(|(i, a)| Edit::SetA(i, a)),
            (any::<usize>(), num()).prop_map(|(i, b)| Edit::SetB(i, b)),
            (400i64..2000, text(), num()).prop_map(|(k, a, b)| Edit::Insert(k, a, b)),
        ],
        0..25,
    )
}

fn apply(t: &Table, edits: &[Edit]) -> Table {
    let mut n = t.clone();
    for e in edits {
        let nth = |i: &usize, n: &Table| n.keys().nth(i % n.len().max(1)).copied();
        match e {
            Edit::Delete(i) => {
                if let Some(k) = nth(i, &n) {
                    n.remove(&k);
                }
            }
            Edit::SetA(i, a) => {
                if let Some(k) = nth(i, &n) {
                    n.get_mut(&k).unwrap().0 = a.clone();
                }
            }
            Edit::SetB(i, b) => {
                if let Some(k) = nth(i, &n) {
                    n.get_mut(&k).unwrap().1 = *b;
                }
            }
            Edit::Insert(k, a, b) => {
                n.insert(*k, (a.clone(), *b));
            }
        }
    }
    n
}

fn lit_text(e: Engine, v: &Option<String>) -> String {
    match v {
        None => "NULL".into(),
        Some(s) if e == Engine::Mysql => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''")),
        Some(s) => format!("'{}'", s.replace('\'', "''")),
    }
}

fn lit_num(v: &Option<i64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_else(|| "NULL".into())
}

/// Integer keys make buckets key slices; text keys make them hash classes: both are drawn.
fn key_lit(k: i64, text_key: bool) -> String {
    if text_key { format!("'k{k}'") } else { k.to_string() }
}

async fn load(p: &mut Pair, old: &Table, new: &Table, text_key: bool) {
    let e = p.engine;
    let t = if e == Engine::Mysql { "text CHARACTER SET utf8mb4 COLLATE utf8mb4_bin" } else { "text" };
    let i = if e == Engine::Sqlite { "INTEGER" } else { "bigint" };
    let k = if text_key { "varchar(24)" } else { i };
    p.both(&["DROP TABLE IF EXISTS p", &format!("CREATE TABLE p (id {k} PRIMARY KEY, a {t}, b {i})")]).await;
    for (side, rows) in [(true, old), (false, new)] {
        if rows.is_empty() {
            continue;
        }
        let vals: Vec<String> = rows
            .iter()
            .map(|(k, (a, b))| format!("({}, {}, {})", key_lit(*k, text_key), lit_text(e, a), lit_num(b)))
            .collect();
        let sql = format!("INSERT INTO p VALUES {}", vals.join(", "));
        if side { p.old(&sql).await } else { p.new_side(&sql).await }
    }
}

fn expected(old: &Table, new: &Table, text_key: bool) -> (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) {
    let name = |k: &i64| if text_key { format!("k{k}") } else { k.to_string() };
    let lost = old.keys().filter(|k| !new.contains_key(k)).map(name).collect();
    let added = new.keys().filter(|k| !old.contains_key(k)).map(name).collect();
    let changed = old.iter().filter(|(k, v)| new.get(k).is_some_and(|w| w != *v)).map(|(k, _)| name(k)).collect();
    (lost, added, changed)
}

fn check(e: Engine, cases: u32) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let Some(pair) = rt.block_on(Pair::new(e, "prop")) else { return };
    let pair = std::cell::RefCell::new(pair);
    let deep = std::cell::Cell::new(0u32);
    let cfg = ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(cfg, |(old in table(), ed in edits(), leaf in 1u64..6, descend in prop_oneof![Just(0u64), Just(50_000u64)], first in prop_oneof![Just(None), (0u32..4).prop_map(Some)], text_key in any::<bool>())| {
        let new = apply(&old, &ed);
        let mut p = pair.borrow_mut();
        rt.block_on(load(&mut p, &old, &new, text_key));
        let opts = DiffOptions { leaf_rows: leaf, descend_above_rows: descend, first_level_bits: first, ..Default::default() };
        let d = rt.block_on(p.diff(&[TableSpec::new("p")], &opts)).unwrap().remove(0);
        let (lost, added, changed) = expected(&old, &new, text_key);
        if d.stats.levels > 1 {
            deep.set(deep.get() + 1);
        }
        prop_assert_eq!(common::lost(&d), lost);
        prop_assert_eq!(common::added(&d), added);
        prop_assert_eq!(common::changed(&d), changed);
        prop_assert_eq!((d.counts.old_rows, d.counts.new_rows), (old.len() as u64, new.len() as u64));
    });
    rt.block_on(pair.into_inner().drop());
    {
        assert!(deep.get() > 0, "no case descended below level 0: the bisection went untested");
    }
}

#[test]
fn report_equals_edits_sqlite() {
    check(Engine::Sqlite, 200);
}

#[test]
fn report_equals_edits_postgres() {
    check(Engine::Postgres, 24);
}

#[test]
fn report_equals_edits_mariadb() {
    check(Engine::Mysql, 24);
}
