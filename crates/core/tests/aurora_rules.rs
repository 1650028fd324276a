//! The Aurora move rules as a property: for any observation, preflight's verdict "ready for
//! mode M" implies that aurora-failover's start in mode M is not refused by a precondition,
//! at any stage of its staged gathering; and the refusals of a partial observation are
//! findings of the whole one (a stage never invents a refusal).

use failover_core::aurora_rules::{
    ClusterView, GlobalView, InFlight, InstanceView, LagView, MemberView, Observation, Observed, findings, refusal,
};
use failover_core::contract::Mode;
use failover_core::contract::aurora::LagObservation;
use failover_core::contract::preflight::Readiness;
use proptest::prelude::*;

const SOURCE: &str = "arn:aws:rds:us-east-1:111122223333:cluster:orders-use1";
const TARGET: &str = "arn:aws:rds:us-west-2:111122223333:cluster:orders-usw2";
const THIRD: &str = "arn:aws:rds:eu-west-1:111122223333:cluster:orders-euw1";

fn status() -> impl Strategy<Value = String> {
    prop_oneof![Just("available"), Just("modifying"), Just("failing-over"), Just("some-future-status")]
        .prop_map(String::from)
}

fn version() -> impl Strategy<Value = String> {
    prop_oneof![Just("15.4"), Just("15.4.3"), Just("16.2"), Just("")].prop_map(String::from)
}

fn cluster(id: &'static str) -> impl Strategy<Value = Observed<ClusterView>> {
    prop_oneof![
        Just(Observed::NotObserved),
        Just(Observed::Missing),
        (status(), version()).prop_map(move |(status, engine_version)| Observed::Found(ClusterView {
            id: id.into(),
            status,
            engine_version
        })),
    ]
}

fn global() -> impl Strategy<Value = GlobalView> {
    let sync = prop_oneof![Just(None), Just(Some("connected")), Just(Some("pending-resync"))]
        .prop_map(|s: Option<&str>| s.map(String::from));
    let writer = prop_oneof![Just(Some(SOURCE)), Just(Some(TARGET)), Just(None)];
    let failover = prop_oneof![
        Just(None),
        status().prop_map(|s| Some(InFlight { status: s, to: Some(TARGET.into()) })),
        status().prop_map(|s| Some(InFlight { status: s, to: Some(THIRD.into()) })),
        status().prop_map(|s| Some(InFlight { status: s, to: None })),
    ];
    let membership = prop_oneof![Just(vec![SOURCE, TARGET]), Just(vec![SOURCE]), Just(vec![SOURCE, TARGET, THIRD])];
    (status(), prop::option::of(version()), membership, writer, sync, failover).prop_map(
        |(status, engine_version, members, writer, sync, failover)| GlobalView {
            status,
            engine_version,
            members: members
                .into_iter()
                .map(|arn| MemberView {
                    arn: arn.into(),
                    is_writer: writer == Some(arn),
                    synchronization: if writer == Some(arn) { None } else { sync.clone() },
                })
                .collect(),
            failover,
        },
    )
}

fn instances() -> impl Strategy<Value = Option<Vec<InstanceView>>> {
    let one = prop_oneof![Just("available"), Just("creating"), Just("stopped"), Just("incompatible-network")]
        .prop_map(|s| InstanceView { id: format!("orders-usw2-{s}"), status: s.into() });
    prop::option::of(prop::collection::vec(one, 0..3))
}

fn lag() -> impl Strategy<Value = Option<LagView>> {
    prop_oneof![
        Just(None),
        Just(Some(LagView::NoDatapoint)),
        Just(Some(LagView::Unreadable("GetMetricData in us-west-2: AccessDenied".into()))),
        (0u64..20_000).prop_map(|ms| Some(LagView::Reading(LagObservation {
            metric: "AuroraGlobalDBRPOLag".into(),
            milliseconds: ms,
            at: "2027-01-15T08:00:00Z".into(),
        }))),
    ]
}

fn observation() -> impl Strategy<Value = Observation> {
    (
        global(),
        cluster("orders-usw2"),
        cluster("orders-use1"),
        instances(),
        prop::option::of(Just("db.r6g.large".to_string())),
        lag(),
        prop_oneof![Just(0u64), Just(1_000), Just(5_000)],
    )
        .prop_map(|(global, target, source, instances, headless_class, lag, rpo_ms)| Observation {
            database: "orders".into(),
            global_cluster: "orders-global".into(),
            target_region: "us-west-2".into(),
            source_region: "us-east-1".into(),
            target_arn: TARGET.into(),
            planned_members: vec![("us-east-1".into(), SOURCE.into()), ("us-west-2".into(), TARGET.into())],
            global,
            target,
            source,
            instances,
            headless_class,
            lag,
            rpo_ms,
        })
}

/// The observations aurora-failover's start holds at each of its refusal points: the
/// global cluster, then the clusters, then the lag, then the instances.
fn stages(o: &Observation) -> Vec<Observation> {
    let mut a = o.clone();
    a.target = Observed::NotObserved;
    a.source = Observed::NotObserved;
    a.lag = None;
    a.instances = None;
    let b = Observation { target: o.target.clone(), source: o.source.clone(), ..a.clone() };
    let c = Observation { lag: o.lag.clone(), ..b.clone() };
    vec![a, b, c, o.clone()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn ready_for_a_mode_means_no_stage_of_the_start_refuses(o in observation()) {
        for mode in [Mode::Planned, Mode::Unplanned] {
            let checks: Vec<_> = findings(&o, mode).into_iter().map(|f| f.check).collect();
            if Readiness::of(&checks).allows(mode) {
                for (i, stage) in stages(&o).iter().enumerate() {
                    prop_assert!(refusal(stage, mode).is_none(), "{mode:?}, stage {i}: {:?}", refusal(stage, mode));
                }
            }
        }
    }

    #[test]
    fn a_stage_refuses_only_with_a_finding_of_the_whole_observation(o in observation()) {
        for mode in [Mode::Planned, Mode::Unplanned] {
            let whole: Vec<_> = findings(&o, mode).into_iter().filter(|f| f.blocks(mode)).collect();
            for (i, stage) in stages(&o).iter().enumerate() {
                for f in findings(stage, mode).into_iter().filter(|f| f.blocks(mode)) {
                    prop_assert!(whole.contains(&f), "{mode:?}, stage {i}: {f:?} is not a finding of the whole");
                }
            }
        }
    }
}

#[test]
fn lag_over_the_rpo_blocks_a_switchover_only() {
    let o = Observation {
        database: "orders".into(),
        global_cluster: "orders-global".into(),
        target_region: "us-west-2".into(),
        source_region: "us-east-1".into(),
        target_arn: TARGET.into(),
        planned_members: vec![("us-east-1".into(), SOURCE.into()), ("us-west-2".into(), TARGET.into())],
        global: GlobalView {
            status: "available".into(),
            engine_version: Some("15.4".into()),
            members: vec![
                MemberView { arn: SOURCE.into(), is_writer: true, synchronization: None },
                MemberView { arn: TARGET.into(), is_writer: false, synchronization: Some("connected".into()) },
            ],
            failover: None,
        },
        target: Observed::Found(ClusterView {
            id: "orders-usw2".into(),
            status: "available".into(),
            engine_version: "15.4".into(),
        }),
        source: Observed::NotObserved,
        instances: Some(vec![InstanceView { id: "orders-usw2-1".into(), status: "available".into() }]),
        headless_class: None,
        lag: Some(LagView::Reading(LagObservation {
            metric: "AuroraGlobalDBRPOLag".into(),
            milliseconds: 7_500,
            at: "t".into(),
        })),
        rpo_ms: 5_000,
    };
    let planned = refusal(&o, Mode::Planned).expect("a switchover is refused");
    assert_eq!(planned.kind, failover_core::ErrorKind::SwitchoverRefused);
    assert!(planned.message.contains("7500 ms") && planned.message.contains("over the RPO of 5000 ms"), "{planned}");
    assert!(refusal(&o, Mode::Unplanned).is_none());
    let checks: Vec<_> = findings(&o, Mode::Planned).into_iter().map(|f| f.check).collect();
    assert_eq!(Readiness::of(&checks), Readiness::ReadyUnplannedOnly);
}
