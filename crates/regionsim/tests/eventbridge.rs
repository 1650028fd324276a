//! The canary rule of each Region's stack: alarm state changes delivered as EventBridge
//! events to the handler of the alarm's Region, at the simulated time of the transition, in
//! the shape `aws_lambda_events` parses, only ALARM transitions of the Region's watchers of
//! the other Region, and never from a Region that is down.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::cloudwatch_alarms::{CloudWatchAlarmData, CloudWatchAlarmStateValue};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use failover_core::SharedClock;
use regionsim::cloudwatch::CloudWatch;
use regionsim::eventbridge::EventBridge;
use regionsim::{DownMode, Sim, SimBuilder};
use serde_json::Value;

const USE1: &str = "us-east-1";
const USW2: &str = "us-west-2";

type Inbox = Arc<Mutex<Vec<(std::time::SystemTime, Value)>>>;

async fn start() -> (Sim, SharedClock, Inbox, Inbox) {
    let clock = SharedClock::virtual_at(common::epoch());
    let sim = SimBuilder::new(clock.clone()).seed(7).start().await.expect("the simulator starts");
    let bus = sim.service::<EventBridge>();
    let inbox = |region: &str| {
        let inbox: Inbox = Arc::default();
        let (sink, c) = (inbox.clone(), clock.clone());
        bus.set_handler(region, move |event| {
            let (sink, c) = (sink.clone(), c.clone());
            async move { sink.lock().unwrap().push((c.now(), event)) }
        });
        inbox
    };
    let (use1, usw2) = (inbox(USE1), inbox(USW2));
    (sim, clock, use1, usw2)
}

#[tokio::test(start_paused = true)]
async fn a_canary_alarm_reaches_its_regions_handler_when_it_goes_to_alarm() {
    let (sim, clock, use1, usw2) = start().await;
    let bus = sim.service::<EventBridge>();
    assert_eq!(bus.rule(USW2), vec!["retail-canary-watching-use1".to_string()], "the template's CanaryAlarmNames");
    assert_eq!(bus.rule(USE1), vec!["retail-canary-watching-usw2".to_string()]);

    let t0 = clock.now();
    sim.set_region_down(USE1, DownMode::Hang);
    clock.sleep(Duration::from_secs(59)).await;
    assert!(usw2.lock().unwrap().is_empty(), "not before the evaluation delay");
    clock.sleep(Duration::from_secs(2)).await;

    let got = usw2.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:#?}");
    let (at, event) = &got[0];
    assert_eq!(*at, t0 + Duration::from_secs(60), "delivered at the transition");
    assert_eq!(event["source"], "aws.cloudwatch");
    assert_eq!(event["detail-type"], "CloudWatch Alarm State Change");
    assert_eq!(event["region"], USW2);
    assert_eq!(event["resources"][0], "arn:aws:cloudwatch:us-west-2:111122223333:alarm:retail-canary-watching-use1");
    let parsed: EventBridgeEvent<CloudWatchAlarmData> = serde_json::from_value(event.clone()).expect("it parses");
    assert_eq!(parsed.detail.alarm_name, "retail-canary-watching-use1");
    assert_eq!(parsed.detail.state.map(|s| s.value), Some(CloudWatchAlarmStateValue::Alarm));
    assert_eq!(parsed.detail.previous_state.map(|s| s.value), Some(CloudWatchAlarmStateValue::Ok));
    assert!(parsed.id.is_some_and(|id| id.len() == 36));
    // us-east-1 is down: its own signal went to ALARM too, and nothing came from there.
    assert!(use1.lock().unwrap().is_empty());
    let seen = bus.events();
    assert!(
        seen.iter()
            .any(|e| e.region == USE1 && e.event["detail"]["alarmName"] == "retail-canary-self-use1" && !e.delivered),
        "{seen:#?}"
    );

    // Back up: the watcher goes OK after its delay; the rule matches ALARM only.
    sim.set_region_up(USE1);
    clock.sleep(Duration::from_secs(61)).await;
    assert_eq!(usw2.lock().unwrap().len(), 1, "an OK transition is not delivered");
    let ok = bus.events().into_iter().rfind(|e| e.event["detail"]["alarmName"] == "retail-canary-watching-use1");
    assert_eq!(ok.map(|e| (e.event["detail"]["state"]["value"].clone(), e.delivered)), Some(("OK".into(), false)));
}

#[tokio::test(start_paused = true)]
async fn forced_states_are_delivered_at_once_and_a_dead_region_sends_nothing() {
    let (sim, clock, use1, usw2) = start().await;
    let cw = sim.service::<CloudWatch>();
    // A partition: both Regions up, each one's canaries watching the other in ALARM.
    assert!(cw.force_alarm_state(USE1, "retail-canary-watching-usw2", Some("ALARM")));
    assert!(cw.force_alarm_state(USW2, "retail-canary-watching-use1", Some("ALARM")));
    clock.sleep(Duration::from_millis(10)).await;
    assert_eq!(use1.lock().unwrap().len(), 1);
    assert_eq!(usw2.lock().unwrap().len(), 1);
    assert_eq!(use1.lock().unwrap()[0].1["detail"]["alarmName"], "retail-canary-watching-usw2");

    // INSUFFICIENT_DATA and OK are not the rule's.
    cw.force_alarm_state(USW2, "retail-canary-watching-use1", Some("INSUFFICIENT_DATA"));
    clock.sleep(Duration::from_millis(10)).await;
    assert_eq!(usw2.lock().unwrap().len(), 1);

    // us-east-1 down: its alarm flapping back to ALARM sends nothing.
    cw.force_alarm_state(USE1, "retail-canary-watching-usw2", Some("OK"));
    clock.sleep(Duration::from_millis(10)).await;
    sim.set_region_down(USE1, DownMode::Refuse);
    cw.force_alarm_state(USE1, "retail-canary-watching-usw2", Some("ALARM"));
    clock.sleep(Duration::from_millis(10)).await;
    assert_eq!(use1.lock().unwrap().len(), 1, "a dead Region sends nothing");
    let last = sim.service::<EventBridge>().events().pop().expect("seen");
    assert_eq!((last.region.as_str(), last.delivered), (USE1, false));

    // An event put on the bus (the drill's alarm storm) follows the same rule.
    let event = usw2.lock().unwrap()[0].1.clone();
    assert!(sim.service::<EventBridge>().put_event(USW2, event.clone()));
    assert!(!sim.service::<EventBridge>().put_event(USE1, event), "not us-east-1's alarm, and us-east-1 is down");
    clock.sleep(Duration::from_millis(10)).await;
    assert_eq!(usw2.lock().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_partitioned_region_sees_the_other_down_and_keeps_its_own_stack_while_the_world_sees_it_down() {
    let (sim, clock, use1, usw2) = start().await;
    // The test's signature (AKIDTEST) runs in the Region this cell names.
    let caller: Arc<Mutex<&'static str>> = Arc::new(Mutex::new(USE1));
    let c = caller.clone();
    sim.set_caller_regions(Arc::new(move |akid: &str| (akid == "AKIDTEST").then(|| c.lock().unwrap().to_string())));
    let url = sim.endpoints().url(regionsim::service::CLOUDWATCH).expect("cloudwatch").to_string();
    let cw = |region: &str| {
        aws_sdk_cloudwatch::Client::new(&common::sdk_config(&clock, region, &url, Duration::from_secs(2)))
    };
    let states = |out: aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput| {
        out.metric_alarms()
            .iter()
            .map(|a| format!("{} {}", a.alarm_name().unwrap_or_default(), a.state_value().map_or("", |s| s.as_str())))
            .collect::<Vec<_>>()
    };

    let t0 = clock.now();
    sim.set_region_partitioned(USE1, DownMode::Refuse);
    assert_eq!(sim.partition(), Some((USE1.to_string(), t0)));
    clock.sleep(Duration::from_secs(61)).await;

    // Both proposers are told: each Region's watchers of the other are in ALARM.
    assert_eq!(usw2.lock().unwrap().len(), 1, "us-west-2's canaries cannot reach us-east-1");
    let got = use1.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "us-east-1's canaries cannot reach us-west-2: {got:#?}");
    assert_eq!(got[0].1["detail"]["alarmName"], "retail-canary-watching-usw2");

    // Inside us-east-1 its own stack works: its alarms read, its own signal OK.
    let inside = states(cw(USE1).describe_alarms().send().await.expect("us-east-1 answers its own stack"));
    assert_eq!(inside, vec!["retail-canary-self-use1 OK", "retail-canary-watching-usw2 ALARM"]);
    // ...but us-west-2 is out of its reach.
    assert!(cw(USW2).describe_alarms().send().await.is_err(), "a caller in us-east-1 cannot reach us-west-2");

    // From us-west-2 (the world) it is us-east-1 that is gone.
    *caller.lock().unwrap() = USW2;
    assert!(cw(USE1).describe_alarms().send().await.is_err(), "a caller in us-west-2 cannot reach us-east-1");
    let outside = states(cw(USW2).describe_alarms().send().await.expect("us-west-2 answers"));
    assert!(outside.contains(&"retail-canary-watching-use1 ALARM".to_string()), "{outside:?}");

    // Healed: the partition is over and us-east-1's watcher goes back to OK.
    sim.set_region_up(USE1);
    assert_eq!(sim.partition(), None);
    clock.sleep(Duration::from_secs(61)).await;
    *caller.lock().unwrap() = USE1;
    let healed = states(cw(USE1).describe_alarms().send().await.expect("us-east-1 answers"));
    assert_eq!(healed, vec!["retail-canary-self-use1 OK", "retail-canary-watching-usw2 OK"]);
    *caller.lock().unwrap() = USW2;
    assert!(cw(USE1).describe_alarms().send().await.is_ok(), "reachable again from us-west-2");
}
