//! propose-failover against regionsim through the real SDK clients: the plan from SSM, the
//! alarms from CloudWatch, the executions from Step Functions, the routing controls from
//! ARC's five endpoints, the lock in DynamoDB, the notice on SNS. The rows of the decision
//! table that need the lock and the handler: one execution for an alarm storm (concurrent
//! invocations, across a minute and an hour boundary), a retried delivery that finds its own
//! execution, an execution running, the cooldown, a partition, malformed events. Time is
//! virtual (paused tokio clock).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use failover_asl::{Definition, FnDispatcher, Runner, RunnerConfig, StartOptions, Status, TaskContext, TaskFailure};
use failover_core::propose::{Decision, Ignored, Refusal};
use failover_core::{ErrorKind, Plan, SharedClock};
use failover_steps::aws::AwsClients;
use failover_steps::propose_failover::{self, Config, ProposeOutput, Proposer};
use regionsim::cloudwatch::CloudWatch;
use regionsim::dynamodb::{AttrValue, DynamoDb, DynamoSettings, TableSpec};
use regionsim::eventbridge::state_change_event;
use regionsim::sfn::Sfn;
use regionsim::sns::Sns;
use regionsim::ssm::Ssm;
use regionsim::{DownMode, EndpointFault, Sim, SimBuilder, service};
use serde_json::{Value, json};

const USE1: &str = "us-east-1";
const USW2: &str = "us-west-2";
const TABLE: &str = "failover-retail-store-approvals";
const PARAMETER: &str = "/failover/retail-store/plan";
const MACHINE: &str = "failover-retail-store";
/// us-west-2's canary watching us-east-1, and us-west-2's own signal.
const WATCHER: &str = "retail-canary-watching-use1";
const OWN: &str = "retail-canary-self-usw2";

/// 2026-01-01T00:00:00Z.
fn epoch() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

struct World {
    sim: Sim,
    clock: SharedClock,
    runner: Runner,
    plan: Plan,
    /// The proposer of each Region's stack.
    usw2: Arc<Proposer>,
    use1: Arc<Proposer>,
}

fn machine_arn(region: &str) -> String {
    format!("arn:aws:states:{region}:111122223333:stateMachine:{MACHINE}")
}

/// Stands in for the failover machine: it runs for an hour, then succeeds.
fn machine() -> Definition {
    Definition::from_value(&json!({"StartAt": "Work", "States": {
        "Work": {"Type": "Wait", "Seconds": 3600, "Next": "Done"},
        "Done": {"Type": "Succeed"}
    }}))
    .expect("a supported definition")
}

async fn world() -> World {
    let clock = SharedClock::virtual_at(epoch());
    let sim = SimBuilder::new(clock.clone())
        .seed(5)
        .setting(|s: &mut DynamoSettings| s.tables.push(TableSpec::approvals(TABLE)))
        .start()
        .await
        .expect("the simulator starts");
    let plan = sim.plan();
    let text = serde_json::to_string(&plan).unwrap();
    for region in [USE1, USW2] {
        assert_eq!(sim.service::<Ssm>().put(region, PARAMETER, &text), 1);
    }
    let dispatcher = FnDispatcher(|_r: String, _p: Value, _c: TaskContext| async { Ok::<_, TaskFailure>(json!({})) });
    let config = RunnerConfig { region: USW2.into(), account: "111122223333".into(), ..RunnerConfig::default() };
    let runner = Runner::with_config(dispatcher, clock.clone(), config);
    Sfn::new(runner.clone(), [(machine_arn(USW2), machine()), (machine_arn(USE1), machine())]).install(&sim);
    let proposer = |region: &str| {
        let base = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKIDTEST", "secret", None, None, "test",
            )))
            .build();
        let mut clients = AwsClients::with_endpoints(base, clock.clone(), &sim.endpoints().services);
        clients.seed = Some(9);
        let config = Config::from_values(
            Some(region.into()),
            Some(TABLE.into()),
            Some(machine_arn(region)),
            Some(PARAMETER.into()),
            Some(plan.stacks[region].topic_arn.clone()),
        )
        .expect("a complete configuration");
        Arc::new(Proposer::new(clients, config))
    };
    let (usw2, use1) = (proposer(USW2), proposer(USE1));
    World { sim, clock, runner, plan, usw2, use1 }
}

impl World {
    /// us-west-2's watcher of us-east-1 goes to ALARM, as EventBridge delivers it.
    fn alarm(&self) -> Value {
        state_change_event(USW2, WATCHER, USE1, "OK", "ALARM", self.clock.now())
    }

    fn force(&self, region: &str, alarm: &str, state: &str) {
        assert!(self.sim.service::<CloudWatch>().force_alarm_state(region, alarm, Some(state)), "{alarm}");
    }

    fn executions(&self) -> Vec<failover_asl::ExecutionHandle> {
        self.runner.executions()
    }

    fn published(&self, region: &str) -> Vec<regionsim::sns::SnsMessage> {
        self.sim.service::<Sns>().messages().into_iter().filter(|m| m.region.as_deref() == Some(region)).collect()
    }
}

async fn propose(p: &Proposer, event: Value) -> ProposeOutput {
    propose_failover::handle(event, p).await.expect("the proposer answers")
}

#[tokio::test(start_paused = true)]
async fn an_outage_seen_by_the_canaries_starts_one_unplanned_failover_waiting_for_approval() {
    let w = world().await;
    w.sim.set_region_down(USE1, DownMode::Refuse);
    w.clock.sleep(Duration::from_secs(61)).await;
    let out = propose(&w.usw2, w.alarm()).await;
    let Decision::Start(p) = &out.decision else { panic!("{out:#?}") };
    assert_eq!((p.source_region.as_str(), p.target_region.as_str()), (USE1, USW2));
    assert!(out.notified && out.message.contains("waiting for approval"), "{}", out.message);

    let execs = w.executions();
    assert_eq!(execs.len(), 1);
    let e = &execs[0];
    assert_eq!(Some(e.arn()), out.execution_arn.as_deref());
    assert_eq!(e.name(), p.execution_name);
    assert!(e.name().starts_with("alarm-us-east-1-to-us-west-2-"), "{}", e.name());
    let input = e.input();
    assert_eq!(input["mode"], "unplanned");
    assert_eq!(input["target_region"], USW2);
    assert_eq!(input["plan_version"], "1");
    assert_eq!(input["started_by"], "propose-failover");
    assert_eq!(input["reason"]["kind"], "alarms");
    assert_eq!(input["reason"]["alarms"], json!([WATCHER]));
    assert_eq!(Plan::from_json_value(input["plan"].clone()).unwrap(), w.plan);

    // The lock records who holds it, until when.
    let key = AttrValue::s("proposal#retail-store#us-east-1->us-west-2");
    let lock = w.sim.service::<DynamoDb>().item(USW2, TABLE, &key).expect("the lock");
    assert_eq!(lock.get("execution_name"), Some(&AttrValue::s(e.name())));

    let notes = w.published(USW2);
    assert_eq!(notes.len(), 1);
    assert!(notes[0].subject.as_deref().is_some_and(|s| s.contains("us-east-1 looks down")), "{notes:#?}");
    assert!(notes[0].message.contains(e.arn()), "{}", notes[0].message);
    // Nothing was asked of the Region that is down but its ARC endpoint, tried last.
    let asked_use1: Vec<_> = w
        .sim
        .calls()
        .into_iter()
        .filter(|c| c.region.as_deref() == Some(USE1) && c.service != service::ARC)
        .map(|c| format!("{} {}", c.service, c.operation))
        .collect();
    assert!(asked_use1.is_empty(), "{asked_use1:?}");
}

/// 50 events within a minute, the first ten at the same instant, straddling 01:00:00.
#[tokio::test(start_paused = true)]
async fn an_alarm_storm_across_an_hour_boundary_with_concurrent_invocations_starts_exactly_one() {
    let w = Arc::new(world().await);
    // 00:59:40: the storm runs from there to past 01:00:30.
    w.clock.sleep(Duration::from_secs(3600 - 20)).await;
    w.force(USW2, WATCHER, "ALARM");
    let mut tasks = Vec::new();
    for i in 0..50u64 {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            let delay = if i < 10 { Duration::ZERO } else { Duration::from_millis(1200 * i) };
            w.clock.sleep(delay).await;
            let mut event = w.alarm();
            event["id"] = json!(format!("storm-{i:02}"));
            propose(&w.usw2, event).await
        }));
    }
    let mut outs = Vec::new();
    for t in tasks {
        outs.push(t.await.expect("no panic"));
    }
    let starts: Vec<&ProposeOutput> = outs.iter().filter(|o| matches!(o.decision, Decision::Start(_))).collect();
    assert_eq!(starts.len(), 1, "{outs:#?}");
    assert_eq!(w.executions().len(), 1);
    let name = w.executions()[0].name().to_string();
    for o in outs.iter().filter(|o| !matches!(o.decision, Decision::Start(_))) {
        match &o.decision {
            Decision::Ignore(Ignored::AlreadyProposed { execution }) => assert_eq!(*execution, name),
            Decision::Ignore(Ignored::AlreadyRunning { .. }) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(w.published(USW2).len(), 1, "one notice for one proposal");
}

#[tokio::test(start_paused = true)]
async fn a_retried_delivery_finds_its_own_execution() {
    let w = world().await;
    w.force(USW2, WATCHER, "ALARM");
    let event = w.alarm();
    let first = propose(&w.usw2, event.clone()).await;
    let again = propose(&w.usw2, event.clone()).await;
    assert!(matches!(again.decision, Decision::Start(_)), "{again:#?}");
    assert_eq!(again.execution_arn, first.execution_arn);
    assert!(!again.notified);
    assert_eq!(w.executions().len(), 1);

    // A holder that took the lock and died before StartExecution: its retry starts the
    // execution the lock names.
    let w = world().await;
    w.force(USW2, WATCHER, "ALARM");
    let now = w.clock.now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    let item = [
        ("pk", AttrValue::s("proposal#retail-store#us-east-1->us-west-2")),
        ("execution_name", AttrValue::s("alarm-us-east-1-to-us-west-2-1767225000")),
        ("event_id", AttrValue::s(event["id"].as_str().unwrap())),
        ("locked_until", AttrValue::n(&(now + 900).to_string()).expect("a number")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    w.sim.service::<DynamoDb>().put_item(USW2, TABLE, item).unwrap();
    let resumed = propose(&w.usw2, event).await;
    assert!(matches!(resumed.decision, Decision::Start(_)), "{resumed:#?}");
    assert_eq!(
        w.executions().iter().map(|e| e.name().to_string()).collect::<Vec<_>>(),
        vec!["alarm-us-east-1-to-us-west-2-1767225000".to_string()]
    );
}

#[tokio::test(start_paused = true)]
async fn an_execution_running_then_the_cooldown_start_nothing() {
    let w = world().await;
    let opts = StartOptions {
        name: Some("ssm-operator".into()),
        state_machine_name: Some(MACHINE.into()),
        region: Some(USW2.into()),
    };
    w.runner.start_with(&machine(), json!({}), opts).unwrap();
    w.force(USW2, WATCHER, "ALARM");
    let out = propose(&w.usw2, w.alarm()).await;
    assert_eq!(out.decision, Decision::Ignore(Ignored::AlreadyRunning { execution: "ssm-operator".into() }));

    // It ends after an hour; the plan's cooldown (an hour) then holds.
    w.clock.sleep(Duration::from_secs(3601)).await;
    assert_eq!(w.executions()[0].status(), Status::Succeeded);
    let out = propose(&w.usw2, w.alarm()).await;
    assert!(matches!(out.decision, Decision::Ignore(Ignored::Cooldown { .. })), "{out:#?}");
    assert!(out.message.contains("cooldown"), "{}", out.message);
    w.clock.sleep(Duration::from_secs(w.plan.cooldown_seconds)).await;
    let out = propose(&w.usw2, w.alarm()).await;
    assert!(matches!(out.decision, Decision::Start(_)), "{out:#?}");
    assert_eq!(w.executions().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_partition_starts_one_proposal_and_the_other_says_why_not() {
    let w = world().await;
    // Both Regions up; each one's canaries watching the other in ALARM.
    w.force(USW2, WATCHER, "ALARM");
    w.force(USE1, "retail-canary-watching-usw2", "ALARM");
    let from_usw2 = propose(&w.usw2, w.alarm()).await;
    let event = state_change_event(USE1, "retail-canary-watching-usw2", USW2, "OK", "ALARM", w.clock.now());
    let from_use1 = propose(&w.use1, event).await;
    assert!(matches!(from_usw2.decision, Decision::Start(_)), "{from_usw2:#?}");
    assert!(matches!(from_use1.decision, Decision::Notify(Refusal::PeerNotServing { .. })), "{from_use1:#?}");
    assert!(
        from_use1.message.contains("us-west-2 looks down from us-east-1, but it does not serve"),
        "{}",
        from_use1.message
    );
    assert_eq!(w.executions().len(), 1, "at most one of the two moves anything");
    assert_eq!(w.executions()[0].state_machine_arn(), machine_arn(USW2));
    assert_eq!(w.published(USE1).len(), 1, "the refusal is published in us-east-1");
}

#[tokio::test(start_paused = true)]
async fn both_impaired_or_unknown_health_here_notifies_and_starts_nothing() {
    let w = world().await;
    w.force(USW2, WATCHER, "ALARM");
    w.force(USW2, OWN, "ALARM");
    let out = propose(&w.usw2, w.alarm()).await;
    assert!(matches!(out.decision, Decision::Notify(Refusal::BothImpaired { .. })), "{out:#?}");
    assert!(out.notified);
    assert!(w.published(USW2)[0].message.contains("not a Regional problem"), "{:#?}", w.published(USW2));

    w.force(USW2, OWN, "INSUFFICIENT_DATA");
    let out = propose(&w.usw2, w.alarm()).await;
    assert!(matches!(out.decision, Decision::Notify(Refusal::HereNotKnownHealthy { .. })), "{out:#?}");
    assert!(w.executions().is_empty());
}

#[tokio::test(start_paused = true)]
async fn ok_insufficient_data_and_unknown_alarms_read_nothing_more() {
    let w = world().await;
    let calls = |w: &World| w.sim.calls().into_iter().filter(|c| c.service != service::SSM).count();
    let before = calls(&w);
    for event in [
        state_change_event(USW2, WATCHER, USE1, "ALARM", "OK", w.clock.now()),
        state_change_event(USW2, WATCHER, USE1, "OK", "INSUFFICIENT_DATA", w.clock.now()),
        state_change_event(USW2, "someone-elses-alarm", USE1, "OK", "ALARM", w.clock.now()),
    ] {
        let out = propose(&w.usw2, event).await;
        assert!(matches!(out.decision, Decision::Ignore(_)), "{out:#?}");
    }
    assert_eq!(calls(&w), before, "only the plan was read");
    assert!(w.executions().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_metric_math_alarm_parses() {
    let w = world().await;
    w.force(USW2, WATCHER, "ALARM");
    let mut event = w.alarm();
    event["detail"]["configuration"] = json!({
        "description": "errors over requests",
        "metrics": [
            {"id": "e1", "expression": "m1 / m2 * 100", "label": "error rate", "returnData": true},
            {"id": "m1", "metricStat": {"metric": {"namespace": "AWS/ApplicationELB", "name": "HTTPCode_Target_5XX_Count",
                "dimensions": {"LoadBalancer": "app/x/1"}}, "period": 60, "stat": "Sum"}, "returnData": false},
            {"id": "m2", "metricStat": {"metric": {"namespace": "AWS/ApplicationELB", "name": "RequestCount",
                "dimensions": {"LoadBalancer": "app/x/1"}}, "period": 60, "stat": "Sum"}, "returnData": false}
        ]
    });
    let out = propose(&w.usw2, event).await;
    assert!(matches!(out.decision, Decision::Start(_)), "{out:#?}");
}

#[tokio::test(start_paused = true)]
async fn malformed_events_are_clear_errors_and_start_nothing() {
    let w = world().await;
    w.force(USW2, WATCHER, "ALARM");
    let before = w.sim.calls().len();
    let good = w.alarm();
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let mut no_detail = good.clone();
    no_detail.as_object_mut().unwrap().remove("detail");
    cases.push((no_detail, "detail"));
    let mut bad_state = good.clone();
    bad_state["detail"]["state"]["value"] = json!("BROKEN");
    cases.push((bad_state, "detail.state.value"));
    let mut other_source = good.clone();
    other_source["source"] = json!("aws.ec2");
    cases.push((other_source, "source: `aws.ec2`"));
    let mut no_id = good.clone();
    no_id.as_object_mut().unwrap().remove("id");
    cases.push((no_id, "id: missing"));
    cases.push((json!("ALARM"), "invalid input"));
    for (event, says) in cases {
        let err = propose_failover::handle(event, &w.usw2).await.expect_err("refused");
        assert_eq!(err.kind, ErrorKind::BadInput, "{err}");
        assert!(err.message.contains(says), "`{}` does not say `{says}`", err.message);
    }
    assert_eq!(w.sim.calls().len(), before, "nothing was read, nothing started");
    assert!(w.executions().is_empty());
}

#[tokio::test(start_paused = true)]
async fn unreadable_routing_starts_nothing_and_is_tried_again() {
    let w = world().await;
    w.force(USW2, WATCHER, "ALARM");
    w.sim.kill_endpoints(service::ARC, 5, EndpointFault::Refuse);
    let err = propose_failover::handle(w.alarm(), &w.usw2).await.expect_err("ARC unreadable");
    assert_eq!(err.kind, ErrorKind::EndpointsUnavailable, "{err}");
    assert!(err.message.contains("could not be read"), "{}", err.message);
    assert!(w.executions().is_empty());
    assert_eq!(w.published(USW2).len(), 1, "a person is told");
}
