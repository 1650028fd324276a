//! verify-health: routing states from two endpoints, HTTP probes, canary alarms; the DNS
//! check runs against regionsim in the network tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_cloudwatch as cw;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use cw::operation::describe_alarms::DescribeAlarmsOutput;
use cw::types::{MetricAlarm, StateValue};
use failover_core::contract::health::{HealthChecks, Verdict, VerifyHealthInput};
use failover_core::{ErrorKind, Plan};
use failover_steps::aws::{AwsClients, Regional};
use failover_steps::verify_health;

mod support;
use support::{Behaviour, FakeArc, http_server, plan};

/// CloudWatch in each Region answering DescribeAlarms with the given states; counts calls
/// per Region.
fn alarms(clients: &mut AwsClients, states: Vec<(&'static str, StateValue)>, calls: Arc<[AtomicUsize; 2]>) {
    clients.cloudwatch = Arc::new(Regional::from_fn(move |region| {
        let idx = if region == "us-east-1" { 0 } else { 1 };
        let states = states.clone();
        let calls = calls.clone();
        let rule = mock!(cw::Client::describe_alarms).then_compute_output(move |req| {
            calls[idx].fetch_add(1, Ordering::SeqCst);
            let alarms = req
                .alarm_names()
                .iter()
                .filter_map(|n| states.iter().find(|(name, _)| name == n))
                .map(|(n, s)| MetricAlarm::builder().alarm_name(*n).state_value(s.clone()).build())
                .collect();
            DescribeAlarmsOutput::builder().set_metric_alarms(Some(alarms)).build()
        });
        mock_client!(cw, RuleMode::MatchAny, [&rule])
    }));
}

struct Setup {
    input: VerifyHealthInput,
    clients: AwsClients,
    fake: FakeArc,
    cw_calls: Arc<[AtomicUsize; 2]>,
}

/// us-west-2 serving after a failover: routing us-west-2 On, its HTTP endpoint answering
/// `status`, its canary alarm (in us-east-1) in `alarm`.
async fn setup(routing_on: &str, status: u16, alarm: StateValue, arc: [Behaviour; 5]) -> Setup {
    let mut plan: Plan = plan();
    let url = http_server(status).await;
    plan.health.get_mut("us-west-2").unwrap().http[0].url = url;
    let fake = FakeArc::new(&plan, routing_on);
    let mut clients = fake.clients(&plan, &arc);
    let cw_calls: Arc<[AtomicUsize; 2]> = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    alarms(&mut clients, vec![("retail-canary-watching-usw2", alarm)], cw_calls.clone());
    let input = VerifyHealthInput {
        plan,
        target_region: "us-west-2".into(),
        states: None,
        changed_at: None,
        checks: HealthChecks { dns: false, ..HealthChecks::default() },
        impaired_region: None,
    };
    Setup { input, clients, fake, cw_calls }
}

#[tokio::test(start_paused = true)]
async fn a_serving_region_passes_every_check() {
    let s = setup("us-west-2", 200, StateValue::Ok, [Behaviour::Healthy; 5]).await;
    let out = verify_health::handle(s.input, &s.clients).await.unwrap();
    let kinds: Vec<(&str, Verdict)> = out.checks.iter().map(|c| (c.kind.as_str(), c.verdict)).collect();
    assert_eq!(
        kinds,
        vec![
            ("routing", Verdict::Pass),
            ("routing", Verdict::Pass),
            ("routing", Verdict::Pass),
            ("routing", Verdict::Pass),
            ("http", Verdict::Pass),
            ("alarm", Verdict::Pass),
        ],
        "two endpoints x two controls, one probe, one alarm"
    );
    let endpoints_read = s.fake.reads.lock().unwrap().len();
    assert_eq!(endpoints_read, 2, "routing states are read from exactly two endpoints");
    assert_eq!(s.cw_calls[0].load(Ordering::SeqCst), 1, "the alarm watching us-west-2 lives in us-east-1");
    assert_eq!(s.cw_calls[1].load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn routing_not_yet_switched_is_retryable() {
    let s = setup("us-east-1", 200, StateValue::Ok, [Behaviour::Healthy; 5]).await;
    let err = verify_health::handle(s.input, &s.clients).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotHealthyYet);
    assert!(err.message.contains("reads Off (want On)"), "{}", err.message);
}

#[tokio::test(start_paused = true)]
async fn no_answering_endpoint_fails_and_a_lone_survivor_is_said_so() {
    let s = setup("us-west-2", 200, StateValue::Ok, [Behaviour::Unavailable; 5]).await;
    let err = verify_health::handle(s.input, &s.clients).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotHealthyYet);
    assert!(err.message.contains("only 0 endpoint(s) answered"), "{}", err.message);

    // Four dead (beyond ARC's guarantee): the one survivor's reading stands, and the
    // output says that no second reading could be had.
    let mut arc = [Behaviour::Unavailable; 5];
    arc[2] = Behaviour::Healthy;
    let s = setup("us-west-2", 200, StateValue::Ok, arc).await;
    let out = verify_health::handle(s.input, &s.clients).await.unwrap();
    let lone = out.checks.iter().find(|c| c.subject == "endpoints").expect("a verdict on the endpoints");
    assert_eq!(lone.verdict, Verdict::Skipped);
    assert!(lone.detail.contains("no second reading"), "{}", lone.detail);
    assert_eq!(s.fake.reads.lock().unwrap().len(), 5, "every endpoint was tried");
}

#[tokio::test(start_paused = true)]
async fn a_canary_in_alarm_or_without_data_fails() {
    for state in [StateValue::Alarm, StateValue::InsufficientData] {
        let s = setup("us-west-2", 200, state.clone(), [Behaviour::Healthy; 5]).await;
        let err = verify_health::handle(s.input, &s.clients).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotHealthyYet, "{state:?}");
        assert!(
            err.message.contains(&format!("alarm retail-canary-watching-usw2: {}", state.as_str())),
            "{}",
            err.message
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_missing_alarm_is_fatal() {
    let mut s = setup("us-west-2", 200, StateValue::Ok, [Behaviour::Healthy; 5]).await;
    alarms(&mut s.clients, vec![("some-other-alarm", StateValue::Ok)], s.cw_calls.clone());
    let err = verify_health::handle(s.input, &s.clients).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(err.message.contains("`retail-canary-watching-usw2` does not exist in us-east-1"), "{}", err.message);
}

#[tokio::test(start_paused = true)]
async fn nothing_is_asked_of_the_impaired_region() {
    let mut s = setup("us-west-2", 200, StateValue::Alarm, [Behaviour::Healthy; 5]).await;
    s.input.impaired_region = Some("us-east-1".into());
    let out = verify_health::handle(s.input, &s.clients).await.unwrap();
    let alarm = out.checks.iter().find(|c| c.kind == "alarm").unwrap();
    assert_eq!(alarm.verdict, Verdict::Skipped);
    assert_eq!(s.cw_calls[0].load(Ordering::SeqCst), 0, "no CloudWatch call into the impaired Region");
    let reads = s.fake.reads.lock().unwrap();
    assert!(!reads.contains_key(&plan().arc.cluster_endpoints[0].url), "its ARC endpoint is not needed: {reads:?}");
}

#[tokio::test(start_paused = true)]
async fn a_wrong_status_fails_the_probe() {
    let s = setup("us-west-2", 503, StateValue::Ok, [Behaviour::Healthy; 5]).await;
    let err = verify_health::handle(s.input, &s.clients).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotHealthyYet);
    assert!(err.message.contains("status 503, want 200"), "{}", err.message);
}

#[tokio::test(start_paused = true)]
async fn bad_input_is_refused_before_any_call() {
    let mut s = setup("us-west-2", 200, StateValue::Ok, [Behaviour::Healthy; 5]).await;
    s.input.target_region = "eu-west-1".into();
    let err = verify_health::handle(s.input.clone(), &s.clients).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadInput);
    assert!(err.message.starts_with("target_region: `eu-west-1`"), "{}", err.message);
    s.input.target_region = "us-west-2".into();
    s.input.impaired_region = Some("us-west-2".into());
    let err = verify_health::handle(s.input, &s.clients).await.unwrap_err();
    assert!(err.message.starts_with("impaired_region:"), "{}", err.message);
    assert!(s.fake.reads.lock().unwrap().is_empty());
}
