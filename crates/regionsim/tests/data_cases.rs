//! The realistic workload has every case a real outage has, seeded: a rush of hundreds of
//! transactions a second under a lag that varies, a failure that loses hundreds of rows
//! (orders lost whole, with their items), and after the failover updates and deletes of rows
//! from before it, lost writes rewritten, lost ids handed out again. The ground truth gives
//! every class at least once, the same for the same seed.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use regionsim::data::{Backend, ClusterRef, DataStore, GlobalDataSpec, KeyClass, Schema, Value, WorkloadConfig};

fn t(s: f64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000) + Duration::from_secs_f64(s)
}

const GLOBAL: &str = "orders-global";

/// One outage on SQLite in a rush of 250 transactions a second: the writer's Region fails at
/// 60 s, the failover, then the rush goes on for 100 s on the new writer and the workload for
/// 20 minutes more; the report reads it. Returns the classes' counts and the truth.
fn outage(seed: u64) -> (BTreeMap<KeyClass, usize>, regionsim::data::GroundTruth) {
    let writer = ClusterRef::new("us-east-1", "orders-use1");
    let secondary = ClusterRef::new("us-west-2", "orders-usw2");
    let mut workload = WorkloadConfig::realistic();
    workload.rushes =
        vec![regionsim::data::Rush { from: Duration::ZERO, length: Duration::from_secs(70), txns_per_second: 250.0 }];
    let mut store = DataStore::new(Backend::Sqlite(None), seed).unwrap();
    store
        .add_global(GlobalDataSpec {
            global_cluster: GLOBAL.into(),
            schema: Schema::Orders,
            workload,
            replication_lag: Duration::from_secs(1),
            writer: writer.clone(),
            secondaries: vec![secondary.clone()],
            start: t(0.0),
        })
        .unwrap();
    store.region_down("us-east-1", t(60.0)).unwrap();
    let truth = store.begin_failover(GLOBAL, &secondary, t(61.0)).unwrap();
    assert!(
        truth.unreplicated_transactions >= 100,
        "a rush under a lag loses hundreds: {}",
        truth.unreplicated_transactions
    );
    store.complete_failover(GLOBAL, &secondary, t(62.0)).unwrap();
    store.catch_up(t(62.0 + 1200.0)).unwrap();
    store.note_read(&secondary, t(62.0 + 1200.0));
    let truth = store.ground_truth(GLOBAL).pop().unwrap();
    (truth.class_counts(), truth)
}

#[test]
fn the_realistic_workload_has_every_case_of_an_outage_and_is_seeded() {
    let (counts, truth) = outage(11);
    for c in KeyClass::ALL {
        assert!(counts.get(&c).copied().unwrap_or(0) > 0, "no key of class {}: {counts:?}", c.as_str());
    }
    let lost: usize = counts.iter().filter(|(c, _)| c.is_lost()).map(|(_, n)| n).sum();
    assert!(lost >= 200, "hundreds of rows lost: {counts:?}");
    assert_eq!(outage(11).0, counts, "the same seed, the same outage");

    // Transactions are lost whole: no item of an order lost with its insert reached the new
    // primary, and every item the old primary had for it is lost too.
    let orders = &truth.tables["orders"].classes;
    let items = &truth.tables["order_items"].classes;
    let replicated_items = &truth.replicated_rows["order_items"];
    let old_items = &truth.old_rows["order_items"];
    let mut lost_orders = 0;
    for (k, f) in orders.iter().filter(|(_, f)| matches!(f.class, KeyClass::LostInsert | KeyClass::IdReused)) {
        let Some(Value::Int(id)) = k.first() else { panic!("an order key is an id: {k:?}") };
        lost_orders += 1;
        let of = |key: &Vec<Value>| key.first() == Some(&Value::Int(*id));
        assert!(!replicated_items.keys().any(of), "order {id} is lost but an item of it replicated");
        for key in old_items.keys().filter(|key| of(key)) {
            let class = items.get(key).map(|f| f.class);
            assert!(
                matches!(class, Some(KeyClass::LostInsert | KeyClass::IdReused)),
                "order {id} ({:?}) is lost, its item {key:?} is {class:?}",
                f.class
            );
        }
    }
    assert!(lost_orders > 0);
    // A reused id is a lost order's: the new writer's first orders took the lost ids.
    assert!(orders.values().any(|f| f.class == KeyClass::IdReused && f.on_old && f.on_new));
}

#[test]
fn the_lag_varies_and_bursts_and_a_fault_holds_it() {
    let writer = ClusterRef::new("us-east-1", "orders-use1");
    let secondary = ClusterRef::new("us-west-2", "orders-usw2");
    let mut store = DataStore::new(Backend::Sqlite(None), 5).unwrap();
    let mut workload = WorkloadConfig::realistic();
    workload.txns_per_second = 1.0;
    workload.rushes.clear();
    store
        .add_global(GlobalDataSpec {
            global_cluster: GLOBAL.into(),
            schema: Schema::Orders,
            workload,
            replication_lag: Duration::from_secs(1),
            writer,
            secondaries: vec![secondary.clone()],
            start: t(0.0),
        })
        .unwrap();
    let lags: Vec<Duration> =
        (0..120).map(|s| store.replication_lag(&secondary, t(f64::from(s) * 5.0)).unwrap()).collect();
    let distinct: std::collections::BTreeSet<Duration> = lags.iter().copied().collect();
    assert!(distinct.len() > 20, "the lag varies: {distinct:?}");
    assert!(lags.iter().any(|l| *l == Duration::from_secs(4)), "and bursts: {lags:?}");
    assert!(lags.iter().all(|l| *l >= Duration::from_millis(500) && *l <= Duration::from_secs(4)), "{lags:?}");
    store.set_replication_lag(GLOBAL, Duration::from_secs(30)).unwrap();
    assert_eq!(store.replication_lag(&secondary, t(900.0)), Some(Duration::from_secs(30)), "a fault holds it still");
}
