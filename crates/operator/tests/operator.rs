//! The operator commands against both stacks of the reference plan on a simulated pair,
//! through the real SDK clients: the stack found from CloudFormation, the plan from the
//! Region's parameter, a start that waits for approval, the timeline, approve and reject
//! through the single-use record, abort, readiness, and each missing-configuration path.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use failover_core::approval::Decision;
use failover_core::{Plan, SharedClock};
use failover_drill::stage::Stage;
use failover_operator::{OpError, Operator, Target};

const EPOCH: u64 = 1_767_225_600;
const OPERATOR_KEY: &str = "AKIDOPERATORALICE";
const ALICE: &str = "arn:aws:sts::111122223333:assumed-role/oncall/alice";

fn sdk(region: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            OPERATOR_KEY,
            "operator-secret",
            None,
            None,
            "test",
        )))
        .build()
}

async fn stage() -> Stage {
    let clock = SharedClock::virtual_at(SystemTime::UNIX_EPOCH + Duration::from_secs(EPOCH));
    let plan = Plan::from_yaml(failover_drill::run::DEFAULT_PLAN).expect("the reference plan parses");
    let stage = Stage::start(clock, plan, 7).await.expect("the stage starts");
    stage.sim.service::<regionsim::sts::Sts>().set_identity(OPERATOR_KEY, ALICE);
    stage
}

fn endpoints(stage: &Stage) -> BTreeMap<String, String> {
    stage.sim.endpoints().services.clone()
}

async fn operator(stage: &Stage, region: &str) -> Result<Operator, OpError> {
    let target = Target { stack: format!("failover-{}", stage.plan.name), region: region.to_string() };
    Operator::connect_with_endpoints(&sdk(region), stage.clock.clone(), target, &endpoints(stage)).await
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    failover_asl::virtual_runtime().expect("a runtime").block_on(f)
}

#[test]
fn a_missing_stack_region_or_plan_is_a_configuration_error() {
    run(async {
        let stage = stage().await;
        let wrong = Target { stack: "failover-nothing".into(), region: "us-west-2".into() };
        let e = Operator::connect_with_endpoints(&sdk("us-west-2"), stage.clock.clone(), wrong, &endpoints(&stage))
            .await
            .err()
            .expect("no such stack");
        assert_eq!(e.exit_code(), 2, "{e}");
        assert!(e.to_string().contains("stack failover-nothing not found in us-west-2"), "{e}");

        let no_region = Target { stack: "failover-retail-store".into(), region: String::new() };
        let e = Operator::connect_with_endpoints(&sdk("us-west-2"), stage.clock.clone(), no_region, &endpoints(&stage))
            .await
            .err()
            .expect("no Region");
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("--region"), "{e}");

        // A stack whose outputs lack what the commands need.
        stage.sim.service::<regionsim::cloudformation::CloudFormation>().put_stack(
            "us-west-2",
            regionsim::cloudformation::Stack {
                name: "failover-old".into(),
                status: "UPDATE_COMPLETE".into(),
                outputs: BTreeMap::from([("TopicArn".to_string(), "arn:aws:sns:us-west-2:1:t".to_string())]),
            },
        );
        let old = Target { stack: "failover-old".into(), region: "us-west-2".into() };
        let e = Operator::connect_with_endpoints(&sdk("us-west-2"), stage.clock.clone(), old, &endpoints(&stage))
            .await
            .err()
            .expect("outputs missing");
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("output FailoverStateMachineArn is missing"), "{e}");

        // The plan was never published in this Region.
        let o = operator(&stage, "us-west-2").await.expect("the stack is found");
        let e = o.start("us-west-2", "planned", None, stage.clock.now()).await.expect_err("no plan parameter");
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("/failover/retail-store/plan does not exist in us-west-2"), "{e}");

        // A failover to us-east-1 does not run in us-west-2's stack.
        stage.publish_plan().expect("published");
        let e = o.start("us-east-1", "planned", None, stage.clock.now()).await.expect_err("wrong stack");
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("pass --region us-east-1"), "{e}");
    });
}

#[test]
fn start_waits_for_approval_and_approve_moves_it_once() {
    run(async {
        let mut stage = stage().await;
        stage.publish_plan().expect("published");
        let o = operator(&stage, "us-west-2").await.expect("the stack is found");
        assert!(o.outputs.failover_machine.ends_with(":stateMachine:failover-retail-store"));

        let started = o.start("us-west-2", "planned", Some("drill by hand"), stage.clock.now()).await.expect("started");
        assert_eq!(started.plan_version, 1);
        let asked = stage.approvals.recv().await.expect("an approval is asked");
        assert!(started.execution_arn.ends_with(&asked.execution), "{} / {}", started.execution_arn, asked.execution);

        let waiting = o.status(None, stage.clock.now()).await.expect("status");
        assert_eq!(waiting.status, "RUNNING");
        assert!(waiting.steps.iter().any(|s| s.name == "Preflight" && s.took.is_some()), "{waiting}");
        let current: Vec<&str> = waiting.current().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(current, ["RequestApproval"], "{waiting}");
        assert!(waiting.to_string().contains("against an RTO of"), "{waiting}");

        // The reference plan lists its approvers: another name decides nothing, and says so.
        let e = o.decide(&started.execution_arn, Decision::Approve, "Alice Oncall").await.expect_err("not listed");
        assert!(e.to_string().contains("`Alice Oncall` is not one of the plan's approvers"), "{e}");
        let still = o.status(None, stage.clock.now()).await.expect("status");
        let current: Vec<&str> = still.current().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(current, ["RequestApproval"], "a refused name decides nothing: {still}");

        let d = o.decide(&started.execution_arn, Decision::Approve, "ana silva").await.expect("approved");
        assert_eq!((d.decision.as_str(), d.by.as_str(), d.principal.as_str()), ("approve", "ana silva", ALICE));
        assert!(d.delivered, "{d:?}");

        let exec = stage.runner.execution(&started.execution_arn).expect("the execution exists");
        exec.wait().await;
        let done = o.status(Some(&started.execution_arn), stage.clock.now()).await.expect("status");
        assert_eq!(done.status, "SUCCEEDED", "{done}");
        assert!(done.steps.iter().any(|s| s.name == "MoveTraffic"), "{done}");
        assert!(done.current().is_empty());

        // The same decision again is no second decision: the record is decided.
        let again = o.decide(&started.execution_arn, Decision::Reject, "Ravi Menon").await;
        assert!(again.is_err(), "a decided request cannot be decided the other way: {again:?}");
    });
}

#[test]
fn status_follow_shows_each_change_until_the_execution_ends() {
    run(async {
        let mut stage = stage().await;
        stage.publish_plan().expect("published");
        let o = operator(&stage, "us-west-2").await.expect("the stack is found");
        let started = o.start("us-west-2", "planned", None, stage.clock.now()).await.expect("started");
        let clock = stage.clock.clone();
        let t0 = clock.now();
        let mut shown: Vec<failover_operator::Timeline> = Vec::new();
        let approvals = &mut stage.approvals;
        let follow = o.follow(None, &clock, Duration::from_secs(5), |t| shown.push(t.clone()));
        let approve = async {
            approvals.recv().await.expect("an approval is asked");
            // The approver takes two minutes: the follower keeps reading, and shows nothing new.
            clock.sleep(Duration::from_secs(120)).await;
            o.decide(&started.execution_arn, Decision::Approve, "Ana Silva").await.expect("approved");
        };
        let (done, ()) = tokio::join!(follow, approve);
        let done = done.expect("followed to the end");
        assert_eq!(done.execution_arn, started.execution_arn);
        assert_eq!(done.status, "SUCCEEDED", "{done}");
        assert!(clock.now().duration_since(t0).unwrap() >= Duration::from_secs(120));

        assert!(shown.len() >= 2, "the wait and the moves after it: {} shown", shown.len());
        assert!(shown.iter().all(|t| t.status == "RUNNING"), "an ended timeline is returned, not shown");
        assert!(shown.windows(2).all(|w| w[0].steps != w[1].steps), "a timeline is shown only when it changed");
        let waiting = shown
            .iter()
            .filter(|t| t.current().iter().map(|s| s.name.as_str()).collect::<Vec<_>>() == ["RequestApproval"])
            .count();
        assert_eq!(waiting, 1, "24 reads during the approver's two minutes, one shown");
        assert!(shown.last().unwrap().steps.iter().any(|s| s.name == "RequestApproval" && s.took.is_some()));
    });
}

#[test]
fn reject_ends_the_execution_with_nothing_moved() {
    run(async {
        let mut stage = stage().await;
        stage.publish_plan().expect("published");
        let o = operator(&stage, "us-west-2").await.expect("the stack is found");
        let started = o.start("us-west-2", "planned", None, stage.clock.now()).await.expect("started");
        stage.approvals.recv().await.expect("an approval is asked");
        let name = started.execution_arn.rsplit(':').next().unwrap().to_string();
        let d = o.decide(&name, Decision::Reject, "Ravi Menon").await.expect("rejected by execution name");
        assert_eq!(d.decision, "reject");
        stage.runner.execution(&started.execution_arn).expect("exists").wait().await;
        let t = o.status(Some(&name), stage.clock.now()).await.expect("status");
        assert_eq!(t.status, "FAILED", "{t}");
        assert!(t.failure.as_deref().unwrap_or("").contains("Failover.ApprovalRejected"), "{t}");
        assert!(!t.steps.iter().any(|s| s.name == "MoveTraffic"), "{t}");
    });
}

#[test]
fn abort_stops_the_execution_and_says_where_things_were_left() {
    run(async {
        let mut stage = stage().await;
        stage.publish_plan().expect("published");
        let o = operator(&stage, "us-west-2").await.expect("the stack is found");
        let started = o.start("us-west-2", "planned", None, stage.clock.now()).await.expect("started");
        stage.approvals.recv().await.expect("an approval is asked");
        let a = o.abort(&started.execution_arn, Some("wrong Region")).await.expect("aborted");
        assert!(a.stopped);
        assert_eq!(a.status, "ABORTED");
        let states: BTreeMap<&str, &str> =
            a.routing_controls.iter().map(|(arn, s)| (arn.rsplit('/').next().unwrap(), s.as_str())).collect();
        assert_eq!(states.get("use1cell0000001"), Some(&"On"), "{a:?}");
        assert_eq!(states.get("usw2cell0000001"), Some(&"Off"), "{a:?}");
        assert_eq!(a.writers.len(), 2);
        assert!(a.writers.iter().all(|(_, r)| r == "us-east-1"), "{a:?}");
        let again = o.abort(&started.execution_arn, None).await.expect("a second abort reports");
        assert!(!again.stopped);
    });
}

/// Starts the readiness check and waits for it on the runner (a poll loop on a paused
/// clock would race the simulated calls in flight).
async fn readiness(stage: &Stage, o: &Operator) -> failover_operator::Readiness {
    let arn = o.start_readiness().await.expect("started");
    stage.runner.execution(&arn).expect("the check runs").wait().await;
    o.readiness_result(&arn).await.expect("described").expect("it has ended")
}

#[test]
fn readiness_prints_the_verdict_of_the_stack() {
    run(async {
        let stage = stage().await;
        stage.publish_plan().expect("published");
        let o = operator(&stage, "us-west-2").await.expect("the stack is found");
        let r = readiness(&stage, &o).await;
        assert_eq!(r.status, "SUCCEEDED", "{r:?}");
        assert_eq!(r.verdict.as_deref(), Some("ready"), "{r:?}");
        assert!(r.failure.is_none());

        // us-east-1 goes down: us-west-2's check still answers, and says why not ready.
        stage.sim.set_region_down("us-east-1", regionsim::DownMode::Hang);
        stage.clock.sleep(Duration::from_secs(60)).await;
        let r = readiness(&stage, &o).await;
        assert_eq!(r.status, "SUCCEEDED", "{r:?}");
        assert_ne!(r.verdict.as_deref(), Some("ready"), "{r:?}");
        assert!(!r.reasons.is_empty(), "{r:?}");
    });
}

#[test]
fn the_plan_and_a_stack_that_disagree_are_named_field_by_field() {
    run(async {
        let stage = stage().await;
        let o = operator(&stage, "us-west-2").await.expect("the stack is found");
        assert_eq!(o.disagreements(&stage.plan), Vec::<String>::new(), "the simulated stack is the plan's");

        let cfn = stage.sim.service::<regionsim::cloudformation::CloudFormation>();
        let mut stack = cfn.stack("us-west-2", "failover-retail-store").expect("the default stack");
        stack.outputs.insert("TopicArn".into(), "arn:aws:sns:us-west-2:111122223333:someone-else".into());
        stack
            .outputs
            .insert("ApprovalSecretArn".into(), "arn:aws:secretsmanager:us-west-2:111122223333:secret:x-AbCdEf".into());
        cfn.put_stack("us-west-2", stack);
        let o = operator(&stage, "us-west-2").await.expect("the stack is found");
        let d = o.disagreements(&stage.plan);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(
            d[0].starts_with(
                "stacks.us-west-2.topic_arn: the plan says arn:aws:sns:us-west-2:111122223333:failover-retail-store"
            ),
            "{d:?}"
        );
        assert!(d[1].starts_with("stacks.us-west-2.approval_secret:"), "{d:?}");
    });
}
