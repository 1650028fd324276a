//! The proposer's decision table, row by row (issue 11, "Proposer decision table"): the
//! proposer in us-west-2 (X) judging us-east-1 (R), which serves, on the example plan.
//! The storm, concurrency and malformed-event rows need the lock and the handler:
//! crates/steps/tests/propose_failover.rs.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use failover_core::Plan;
use failover_core::contract::RoutingState::{self, Off, On};
use failover_core::propose::{
    AlarmEvent, AlarmState, ArcView, Decision, Ignored, Observation, Refusal, decide, execution_input,
};

const EXAMPLE: &str = include_str!("../../../examples/retail-store.plan.yaml");
const USE1: &str = "us-east-1";
const USW2: &str = "us-west-2";
/// us-west-2's canary watching us-east-1, and us-west-2's own signal.
const WATCHER: &str = "retail-canary-watching-use1";
const OWN: &str = "retail-canary-self-usw2";

fn plan() -> Plan {
    Plan::from_yaml(EXAMPLE).unwrap()
}

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn event(alarm: &str, state: AlarmState) -> AlarmEvent {
    AlarmEvent {
        id: "7bf73129-1428-4cd3-a780-95db273d1602".into(),
        alarm: alarm.into(),
        region: USW2.into(),
        state,
        previous: Some(AlarmState::Ok),
    }
}

fn routing(use1: RoutingState, usw2: RoutingState) -> ArcView {
    ArcView::Read { states: BTreeMap::from([(USE1.to_string(), vec![use1]), (USW2.to_string(), vec![usw2])]) }
}

/// R's watcher in ALARM, X's own signal OK, nothing running, us-east-1 serving.
fn outage() -> Observation {
    Observation {
        here: USW2.into(),
        alarms: BTreeMap::from([(WATCHER.to_string(), AlarmState::Alarm), (OWN.to_string(), AlarmState::Ok)]),
        running: None,
        last_ended: None,
        now: now(),
        arc: routing(On, Off),
    }
}

fn alarm() -> AlarmEvent {
    event(WATCHER, AlarmState::Alarm)
}

#[test]
fn r_in_alarm_and_x_ok_starts_a_failover_from_r_to_x() {
    let plan = plan();
    let Decision::Start(p) = decide(&plan, &alarm(), &outage()) else { panic!("expected a start") };
    assert_eq!((p.source_region.as_str(), p.target_region.as_str()), (USE1, USW2));
    assert_eq!(p.execution_name, "alarm-us-east-1-to-us-west-2-1800000000");
    assert_eq!(p.reason.alarms, vec![WATCHER.to_string()]);
    assert_eq!(p.reason.own_alarms, BTreeMap::from([(OWN.to_string(), AlarmState::Ok)]));

    // The input the failover machine receives: unplanned, to X, the plan and its version,
    // and a reason the approval path reads as `Reason::Alarms`.
    let input = execution_input(&plan, "4", &p);
    assert_eq!(input["mode"], "unplanned");
    assert_eq!(input["target_region"], USW2);
    assert_eq!(input["plan_version"], "4");
    assert_eq!(input["started_by"], "propose-failover");
    assert_eq!(Plan::from_json_value(input["plan"].clone()).unwrap(), plan);
    let reason: failover_core::approval::Reason = serde_json::from_value(input["reason"].clone()).unwrap();
    assert_eq!(reason, failover_core::approval::Reason::Alarms { alarms: vec![WATCHER.into()] });
}

#[test]
fn both_impaired_notifies_and_starts_nothing() {
    let mut obs = outage();
    obs.alarms.insert(OWN.into(), AlarmState::Alarm);
    let d = decide(&plan(), &alarm(), &obs);
    let Decision::Notify(r @ Refusal::BothImpaired { .. }) = &d else { panic!("{d:?}") };
    assert!(r.message(USW2).contains("not a Regional problem"), "{}", r.message(USW2));
}

#[test]
fn ok_and_insufficient_data_transitions_start_nothing() {
    assert_eq!(decide(&plan(), &event(WATCHER, AlarmState::Ok), &outage()), Decision::Ignore(Ignored::OkTransition));
    assert_eq!(
        decide(&plan(), &event(WATCHER, AlarmState::InsufficientData), &outage()),
        Decision::Ignore(Ignored::InsufficientData)
    );
}

#[test]
fn insufficient_data_is_no_evidence_against_r_and_no_proof_of_x() {
    // A watcher of R that reads INSUFFICIENT_DATA now (the event was stale) starts nothing.
    let mut obs = outage();
    obs.alarms.insert(WATCHER.into(), AlarmState::InsufficientData);
    let d = decide(&plan(), &alarm(), &obs);
    assert!(matches!(d, Decision::Ignore(Ignored::WatchersNotAllInAlarm { .. })), "{d:?}");
    // So does one that went back to OK.
    obs.alarms.insert(WATCHER.into(), AlarmState::Ok);
    assert!(matches!(decide(&plan(), &alarm(), &obs), Decision::Ignore(Ignored::WatchersNotAllInAlarm { .. })));

    // X's own signal in INSUFFICIENT_DATA: X is not known healthy; a person is told.
    let mut obs = outage();
    obs.alarms.insert(OWN.into(), AlarmState::InsufficientData);
    let d = decide(&plan(), &alarm(), &obs);
    let Decision::Notify(Refusal::HereNotKnownHealthy { own_alarms, .. }) = &d else { panic!("{d:?}") };
    assert_eq!(own_alarms[OWN], "INSUFFICIENT_DATA");
    // And missing (deleted, or never created): the same.
    obs.alarms.remove(OWN);
    let d = decide(&plan(), &alarm(), &obs);
    let Decision::Notify(Refusal::HereNotKnownHealthy { own_alarms, .. }) = &d else { panic!("{d:?}") };
    assert_eq!(own_alarms[OWN], "missing");
}

#[test]
fn an_alarm_not_in_the_plan_or_not_of_this_region_starts_nothing() {
    assert_eq!(
        decide(&plan(), &event("somebody-elses-alarm", AlarmState::Alarm), &outage()),
        Decision::Ignore(Ignored::UnknownAlarm)
    );
    // X's own signal going to ALARM says nothing about R.
    assert_eq!(decide(&plan(), &event(OWN, AlarmState::Alarm), &outage()), Decision::Ignore(Ignored::OwnSignal));
    // us-east-1's watcher of us-west-2 lives in us-east-1: not ours to judge, even if
    // delivered here.
    assert_eq!(
        decide(&plan(), &event("retail-canary-watching-usw2", AlarmState::Alarm), &outage()),
        Decision::Ignore(Ignored::UnknownAlarm)
    );
    let mut elsewhere = alarm();
    elsewhere.region = USE1.into();
    assert_eq!(
        decide(&plan(), &elsewhere, &outage()),
        Decision::Ignore(Ignored::OtherRegion { alarm_region: USE1.into() })
    );
}

#[test]
fn an_execution_running_starts_nothing() {
    let mut obs = outage();
    obs.running = Some("ssm-0123".into());
    assert_eq!(
        decide(&plan(), &alarm(), &obs),
        Decision::Ignore(Ignored::AlreadyRunning { execution: "ssm-0123".into() })
    );
}

#[test]
fn within_the_cooldown_starts_nothing_and_after_it_starts() {
    let plan = plan();
    let cooldown = Duration::from_secs(plan.cooldown_seconds);
    let mut obs = outage();
    let last_ended = now() - cooldown + Duration::from_secs(1);
    obs.last_ended = Some(last_ended);
    assert_eq!(
        decide(&plan, &alarm(), &obs),
        Decision::Ignore(Ignored::Cooldown { last_ended, until: last_ended + cooldown })
    );
    obs.last_ended = Some(now() - cooldown);
    assert!(matches!(decide(&plan, &alarm(), &obs), Decision::Start(_)));
}

#[test]
fn split_brain_only_the_proposer_in_the_region_that_does_not_serve_starts() {
    let plan = plan();
    // A partition: both Regions up, each one's canaries watching the other in ALARM, each
    // one's own signals OK. Both proposers read the same ARC state: us-east-1 serves.
    let arc = routing(On, Off);
    let in_usw2 = decide(&plan, &alarm(), &Observation { arc: arc.clone(), ..outage() });
    let in_use1 = decide(
        &plan,
        &AlarmEvent { region: USE1.into(), ..event("retail-canary-watching-usw2", AlarmState::Alarm) },
        &Observation {
            here: USE1.into(),
            alarms: BTreeMap::from([
                ("retail-canary-watching-usw2".to_string(), AlarmState::Alarm),
                ("retail-canary-self-use1".to_string(), AlarmState::Ok),
            ]),
            arc,
            ..outage()
        },
    );
    assert!(matches!(in_usw2, Decision::Start(_)), "{in_usw2:?}");
    let Decision::Notify(r @ Refusal::PeerNotServing { .. }) = &in_use1 else { panic!("{in_use1:?}") };
    assert!(r.message(USE1).contains("it does not serve"), "{}", r.message(USE1));

    // Whatever the routing state, at most one of the two opposite proposals starts.
    for (a, b) in [(On, Off), (Off, On), (On, On), (Off, Off)] {
        let arc = routing(a, b);
        let x = decide(&plan, &alarm(), &Observation { arc: arc.clone(), ..outage() });
        let y = decide(
            &plan,
            &AlarmEvent { region: USE1.into(), ..event("retail-canary-watching-usw2", AlarmState::Alarm) },
            &Observation {
                here: USE1.into(),
                alarms: BTreeMap::from([
                    ("retail-canary-watching-usw2".to_string(), AlarmState::Alarm),
                    ("retail-canary-self-use1".to_string(), AlarmState::Ok),
                ]),
                arc,
                ..outage()
            },
        );
        let starts = [&x, &y].iter().filter(|d| matches!(d, Decision::Start(_))).count();
        assert!(starts <= 1, "{a:?}/{b:?}: {x:?} and {y:?}");
    }
}

#[test]
fn routing_that_cannot_be_read_or_does_not_say_who_serves_starts_nothing() {
    let mut obs = outage();
    obs.arc = ArcView::Unreadable { detail: "1 of 5 endpoints answered".into() };
    assert!(matches!(decide(&plan(), &alarm(), &obs), Decision::Notify(Refusal::RoutingUnreadable { .. })));
    obs.arc = ArcView::Disagree { detail: "two readings differ".into() };
    assert!(matches!(decide(&plan(), &alarm(), &obs), Decision::Notify(Refusal::RoutingUnclear { .. })));
    for arc in [routing(On, On), routing(Off, Off)] {
        obs.arc = arc;
        assert!(matches!(decide(&plan(), &alarm(), &obs), Decision::Notify(Refusal::RoutingUnclear { .. })));
    }
    obs.arc =
        ArcView::Read { states: BTreeMap::from([(USE1.to_string(), vec![On, Off]), (USW2.to_string(), vec![Off])]) };
    let d = decide(&plan(), &alarm(), &obs);
    let Decision::Notify(Refusal::RoutingUnclear { detail }) = &d else { panic!("{d:?}") };
    assert!(detail.contains("us-east-1 reads On/Off"), "{detail}");
}

#[test]
fn every_watcher_of_r_living_here_must_be_in_alarm() {
    let mut plan = plan();
    plan.health
        .get_mut(USE1)
        .unwrap()
        .alarms
        .push(failover_core::plan::AlarmRef { name: "retail-canary-watching-use1-checkout".into(), region: None });
    plan.validate().unwrap();
    let obs = outage();
    let d = decide(&plan, &alarm(), &obs);
    let Decision::Ignore(Ignored::WatchersNotAllInAlarm { states }) = &d else { panic!("{d:?}") };
    assert_eq!(states["retail-canary-watching-use1-checkout"], "missing");
    let mut obs = obs;
    obs.alarms.insert("retail-canary-watching-use1-checkout".into(), AlarmState::Alarm);
    let Decision::Start(p) = decide(&plan, &alarm(), &obs) else { panic!("expected a start") };
    assert_eq!(p.reason.alarms.len(), 2);
}
