use super::*;

fn t(s: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000 + s)
}

fn model() -> RdsModel {
    let mut m = RdsModel::new("123456789012", Timings::default());
    m.add_global(
        &GlobalSpec {
            id: "orders-global".into(),
            engine: "aurora-mysql".into(),
            members: vec![
                MemberSpec {
                    region: "us-east-1".into(),
                    cluster: "orders-use1".into(),
                    engine_version: "8.0.mysql_aurora.3.05.2".into(),
                    instances: 2,
                },
                MemberSpec {
                    region: "us-west-2".into(),
                    cluster: "orders-usw2".into(),
                    engine_version: "8.0.mysql_aurora.3.05.1".into(),
                    instances: 1,
                },
            ],
            instance_class: "db.r6g.large".into(),
            database_name: "orders".into(),
            schema: Schema::Orders,
        },
        t(0),
    );
    m
}

const TARGET: &str = "arn:aws:rds:us-west-2:123456789012:cluster:orders-usw2";
const SYNCED: SyncInfo = SyncInfo { lag: Some(Duration::from_secs(1)) };

fn run_to(m: &mut RdsModel, t: SystemTime) -> Vec<Effect> {
    let mut out = Vec::new();
    while let Some(d) = m.next_deadline().filter(|d| *d <= t) {
        out.extend(m.fire(d));
    }
    out
}

#[test]
fn versions_compare_on_major_and_minor() {
    assert_eq!(engine_major_minor("8.0.mysql_aurora.3.05.2"), "3.05");
    assert_eq!(engine_major_minor("15.4"), "15.4");
    assert_eq!(engine_major_minor("16.1.2"), "16.1");
}

#[test]
fn switchover_goes_pending_switching_over_then_done() {
    let mut m = model();
    let fx = m.switchover("orders-global", TARGET, SYNCED, t(0)).unwrap();
    assert_eq!(fx, vec![Effect::BeginSwitchover { global: "orders-global".into(), at: t(0) }]);
    let g = &m.globals["orders-global"];
    let op = g.op.clone().unwrap();
    assert_eq!(m.failover_status(&op, t(1)), "pending");
    assert_eq!(m.failover_status(&op, t(10)), "switching-over");
    assert_eq!(m.global_status(g, t(10)), "switching-over");
    assert_eq!(op.completes_at, Some(t(91)), "90 s plus the 1 s of lag to drain");
    let e = m.switchover("orders-global", TARGET, SYNCED, t(20)).unwrap_err();
    assert_eq!(e.code, "InvalidGlobalClusterStateFault", "one operation at a time");
    assert!(run_to(&mut m, t(90)).is_empty());
    let fx = run_to(&mut m, t(91));
    assert_eq!(
        fx,
        vec![Effect::CompleteSwitchover {
            global: "orders-global".into(),
            target: ClusterRef::new("us-west-2", "orders-usw2"),
            at: t(91)
        }]
    );
    let g = &m.globals["orders-global"];
    assert!(g.op.is_none());
    assert_eq!(g.writer, ClusterRef::new("us-west-2", "orders-usw2"));
    assert_eq!(m.clusters[&ClusterRef::new("us-east-1", "orders-use1")].role, Role::Secondary);
    assert_eq!(
        m.switchover("orders-global", TARGET, SYNCED, t(100)).unwrap_err().code,
        "InvalidGlobalClusterStateFault"
    );
}

#[test]
fn switchover_refusals() {
    let mut m = model();
    assert_eq!(m.switchover("nope", TARGET, SYNCED, t(0)).unwrap_err().code, "GlobalClusterNotFoundFault");
    assert_eq!(
        m.switchover("orders-global", "arn:aws:rds:us-west-2:123456789012:cluster:nope", SYNCED, t(0))
            .unwrap_err()
            .code,
        "DBClusterNotFoundFault"
    );
    let e = m.switchover("orders-global", TARGET, SyncInfo { lag: None }, t(0)).unwrap_err();
    assert_eq!(e.code, "InvalidGlobalClusterStateFault");
    m.switchover_max_lag = Some(Duration::from_secs(5));
    let e = m.switchover("orders-global", TARGET, SyncInfo { lag: Some(Duration::from_secs(30)) }, t(0)).unwrap_err();
    assert!(e.message.contains("30000 ms"), "{}", e.message);
    m.region_failed("us-east-1", t(0));
    assert_eq!(m.switchover("orders-global", TARGET, SYNCED, t(0)).unwrap_err().code, "InvalidGlobalClusterStateFault");
}

#[test]
fn differing_minor_versions_are_refused_in_both_modes() {
    let mut m = model();
    m.clusters.get_mut(&ClusterRef::new("us-west-2", "orders-usw2")).unwrap().engine_version =
        "8.0.mysql_aurora.3.04.0".into();
    let e = m.switchover("orders-global", TARGET, SYNCED, t(0)).unwrap_err();
    assert!(e.message.contains("3.04.0"), "{}", e.message);
    assert_eq!(m.failover("orders-global", TARGET, t(0)).unwrap_err().code, "InvalidGlobalClusterStateFault");
}

#[test]
fn a_headless_target_needs_an_instance_first() {
    let mut m = model();
    let k = ("us-west-2".to_string(), "orders-usw2-1".to_string());
    m.instances.remove(&k);
    assert_eq!(m.failover("orders-global", TARGET, t(0)).unwrap_err().code, "InvalidDBClusterStateFault");
    let i = m.create_instance("us-west-2", "orders-usw2-new", "orders-usw2", "db.r6g.large", t(0)).unwrap();
    assert_eq!(m.instance_status(&i, t(479)), "creating");
    assert_eq!(m.failover("orders-global", TARGET, t(479)).unwrap_err().code, "InvalidDBClusterStateFault");
    assert!(m.failover("orders-global", TARGET, t(480)).is_ok(), "available after 8 minutes");
}

#[test]
fn failover_with_the_primary_region_down_then_recovery_and_snapshot() {
    let mut m = model();
    m.region_failed("us-east-1", t(0));
    let fx = m.failover("orders-global", TARGET, t(10)).unwrap();
    assert!(matches!(fx[0], Effect::BeginFailover { .. }));
    let g = &m.globals["orders-global"];
    assert_eq!(m.global_status(g, t(20)), "failing-over");
    assert!(g.op.as_ref().is_some_and(|o| o.kind == OpKind::Failover));
    assert!(m.events.iter().any(|e| e.region == "us-west-2" && e.message.contains("timed out")), "fencing timed out");
    let fx = run_to(&mut m, t(70));
    assert_eq!(fx.len(), 1, "completion only; the old Region is still down: {fx:?}");
    let old = ClusterRef::new("us-east-1", "orders-use1");
    assert_eq!(m.clusters[&old].role, Role::Detached);
    assert_eq!(m.synchronization_status(&m.clusters[&old]), "pending-resync");
    assert!(m.snapshots_in("us-east-1", t(5000)).is_empty(), "no snapshot before the Region recovers");

    let back = "arn:aws:rds:us-east-1:123456789012:cluster:orders-use1";
    assert_eq!(m.failover("orders-global", back, t(100)).unwrap_err().code, "InvalidDBClusterStateFault", "stale data");
    let fx = m.region_recovered("us-east-1", t(1800));
    assert!(matches!(&fx[..], [Effect::CaptureSnapshot { at, .. }] if *at == t(1800)));
    assert!(m.snapshots_in("us-east-1", t(2099)).is_empty(), "the snapshot takes 5 minutes to appear");
    let snaps = m.snapshots_in("us-east-1", t(2100));
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0].snapshot_type, "automated");
    assert!(snaps[0].id.starts_with("rds:unplanned-global-failover-orders-use1-"), "{}", snaps[0].id);
    assert_eq!(m.clusters[&old].role, Role::Detached, "rejoins only after the snapshot");
    let fx = run_to(&mut m, t(1800 + 360));
    assert!(matches!(&fx[..], [Effect::Rejoin { .. }]));
    assert_eq!(m.clusters[&old].role, Role::Secondary);
    assert!(m.snapshots_in("us-east-1", t(2100 + 7 * 86_400)).is_empty(), "system snapshots expire");
}

#[test]
fn a_snapshot_never_taken_still_rejoins() {
    let mut m = model();
    m.timings.snapshot_after_recovery = None;
    m.region_failed("us-east-1", t(0));
    m.failover("orders-global", TARGET, t(0)).unwrap();
    run_to(&mut m, t(60));
    assert!(m.region_recovered("us-east-1", t(100)).is_empty());
    run_to(&mut m, t(10_000));
    assert_eq!(m.clusters[&ClusterRef::new("us-east-1", "orders-use1")].role, Role::Secondary);
    assert!(m.snapshots_in("us-east-1", t(10_000)).is_empty());
}

#[test]
fn a_stalled_failover_never_completes_until_released() {
    let mut m = model();
    m.set_stall(true, t(0));
    m.failover("orders-global", TARGET, t(0)).unwrap();
    assert!(run_to(&mut m, t(100_000)).is_empty());
    assert_eq!(m.global_status(&m.globals["orders-global"], t(100_000)), "failing-over");
    m.set_stall(false, t(100_000));
    assert_eq!(run_to(&mut m, t(100_060)).len(), 2, "completion, and the reachable old primary's recovery");
}

#[test]
fn copy_restore_instance_and_cleanup() {
    let mut m = model();
    m.failover("orders-global", TARGET, t(0)).unwrap();
    let mut fx = run_to(&mut m, t(60));
    fx.extend(run_to(&mut m, t(400)));
    let snap = m.snapshots_in("us-east-1", t(400))[0].clone();
    assert!(fx.iter().any(|e| matches!(e, Effect::CaptureSnapshot { .. })), "{fx:?}");
    let (copy, _) = m.copy_snapshot("us-east-1", &snap.arn, "recovery-copy", None, t(400)).unwrap();
    assert_eq!((copy.snapshot_type.as_str(), m.snapshot_status(&copy, t(400))), ("manual", "copying"));
    assert_eq!(
        m.copy_snapshot("us-east-1", &snap.id, "recovery-copy", None, t(401)).unwrap_err().code,
        "DBClusterSnapshotAlreadyExistsFault"
    );
    assert_eq!(
        m.restore("us-east-1", "rec", "recovery-copy", "aurora-mysql", None, None, vec![], None, t(500))
            .unwrap_err()
            .code,
        "InvalidDBClusterSnapshotStateFault"
    );
    let (c, fx) =
        m.restore("us-east-1", "rec", "recovery-copy", "aurora-mysql", None, None, vec![], None, t(700)).unwrap();
    assert!(matches!(&fx[..], [Effect::Restore { .. }]));
    assert_eq!(m.cluster_status(&c, t(1299)), "creating");
    assert_eq!(m.cluster_status(&c, t(1300)), "available");
    let i = m.create_instance("us-east-1", "rec-1", "rec", "db.r6g.large", t(700)).unwrap();
    assert_eq!(i.ready_at, t(1300).max(t(700 + 480)));
    assert_eq!(m.delete_cluster("us-east-1", "rec", t(1400)).unwrap_err().code, "InvalidDBClusterStateFault");
    m.delete_instance("us-east-1", "rec-1", t(1400)).unwrap();
    assert_eq!(m.delete_instance("us-east-1", "rec-1", t(1401)).unwrap_err().code, "InvalidDBInstanceState");
    m.delete_cluster("us-east-1", "rec", t(1400)).unwrap();
    assert_eq!(m.delete_cluster("us-east-1", "rec", t(1401)).unwrap_err().code, "InvalidDBClusterStateFault");
    assert_eq!(m.delete_cluster("us-east-1", "rec", t(1460)).unwrap_err().code, "DBClusterNotFoundFault");
    assert_eq!(m.delete_instance("us-east-1", "rec-1", t(1460)).unwrap_err().code, "DBInstanceNotFound");
}
