//! preflight over aws-smithy-mocks ARC, RDS and CloudWatch clients (one per Region) and a
//! local HTTP probe target: every verdict, what each refuses, force, the EMF line, and that
//! unplanned mode asks nothing of the source Region. The same against regionsim over HTTP
//! is at the end.

mod rds_mocks;
mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataError;
use aws_sdk_cloudwatch::types::{MetricAlarm, StateValue};
use aws_sdk_rds::operation::describe_global_clusters::DescribeGlobalClustersError;
use aws_smithy_mocks::{Rule, mock};
use failover_core::contract::Mode;
use failover_core::contract::health::Verdict;
use failover_core::contract::preflight::{Blocks, PreflightInput, PreflightOutput, Readiness};
use failover_core::{ErrorKind, Plan, StepError};
use failover_steps::aws::AwsClients;
use failover_steps::preflight::{self, emf_line, plan_digest};
use rds_mocks::*;
use support::{Behaviour, FakeArc, http_server};

const MYSQL: &str = "8.0.mysql_aurora.3.05.2";
const PG: &str = "15.4";

/// What the world looks like; each test changes what it is about.
struct World {
    plan: Plan,
    mode: Mode,
    running: &'static str,
    force: bool,
    readiness_only: bool,
    /// Engine version of each database's target (us-west-2) cluster.
    target_version: BTreeMap<&'static str, &'static str>,
    /// Databases whose global cluster does not exist.
    missing_global: Vec<&'static str>,
    /// RPO lag (ms) of each database's target cluster; absent: no datapoint.
    lag_ms: BTreeMap<&'static str, f64>,
    /// Alarms that exist, per Region, with their state.
    alarms: Vec<(&'static str, &'static str, StateValue)>,
    probe_status: u16,
    /// Databases whose target cluster has no instance.
    headless: Vec<&'static str>,
    /// A member the global cluster has beyond the plan's.
    extra_member: Option<&'static str>,
    /// The source Region's RDS answers every cluster read with `Throttling`.
    source_throttled: bool,
    /// Counters of calls to the mocks.
    metric_reads: Arc<Mutex<Vec<String>>>,
}

fn world() -> World {
    World {
        plan: plan(),
        mode: Mode::Planned,
        running: SECONDARY,
        force: false,
        readiness_only: false,
        target_version: BTreeMap::from([("catalog", MYSQL), ("orders", PG)]),
        missing_global: vec![],
        lag_ms: BTreeMap::from([("catalog", 800.0), ("orders", 1200.0)]),
        alarms: vec![
            // Watches us-west-2 (the target), lives in us-east-1.
            (PRIMARY, "retail-canary-watching-usw2", StateValue::Ok),
            // Watches us-east-1 (the source), lives in us-west-2.
            (SECONDARY, "retail-canary-watching-use1", StateValue::Ok),
        ],
        probe_status: 200,
        headless: vec![],
        extra_member: None,
        source_throttled: false,
        metric_reads: Arc::default(),
    }
}

struct Run {
    result: Result<PreflightOutput, StepError>,
    emf: Option<String>,
    mocks: Mocks,
    arc: FakeArc,
}

fn source_version(db: &str) -> &'static str {
    if db == "catalog" { MYSQL } else { PG }
}

impl World {
    fn input(&self) -> PreflightInput {
        PreflightInput {
            plan: self.plan.clone(),
            mode: self.mode,
            target_region: SECONDARY.into(),
            running_region: self.running.into(),
            execution: execution("drill-2027-01-15-0800"),
            force: self.force,
            readiness_only: self.readiness_only,
            plan_version: Some("7".into()),
        }
    }

    fn rds_rules(&self) -> (Vec<Rule>, Vec<Rule>) {
        let p = &self.plan;
        let mut target = Vec::new();
        let mut source = Vec::new();
        for db in ["catalog", "orders"] {
            let gid = p.database(db).unwrap().global_cluster.clone();
            let mut g = Global::of(p, db, PRIMARY, source_version(db));
            if let Some(arn) = self.extra_member {
                g = g.member(arn, false, Some("connected"));
            }
            if self.missing_global.contains(&db) {
                let id = gid.clone();
                target.push(
                    mock!(aws_sdk_rds::Client::describe_global_clusters)
                        .match_requests(move |r| r.global_cluster_identifier() == Some(id.as_str()))
                        .then_error(|| {
                            DescribeGlobalClustersError::generic(meta("GlobalClusterNotFoundFault", "not found"))
                        }),
                );
            } else {
                let out = g.output();
                let id = gid.clone();
                target.push(
                    mock!(aws_sdk_rds::Client::describe_global_clusters)
                        .match_requests(move |r| r.global_cluster_identifier() == Some(id.as_str()))
                        .then_output(move || out.clone()),
                );
            }
            let t_id = cluster_id(p, db, SECONDARY);
            let s_id = cluster_id(p, db, PRIMARY);
            let t_inst = format!("{t_id}-1");
            let instances: Vec<&str> = if self.headless.contains(&db) { vec![] } else { vec![&t_inst] };
            target.push(cluster_rule(cluster(
                &t_id,
                &member_arn(p, db, SECONDARY),
                "available",
                self.target_version[db],
                &instances,
            )));
            target.push(instance_rule(&t_inst, "available"));
            if self.source_throttled {
                source.push(mock!(aws_sdk_rds::Client::describe_db_clusters).then_error(|| {
                    aws_sdk_rds::operation::describe_db_clusters::DescribeDBClustersError::generic(meta(
                        "Throttling",
                        "Rate exceeded",
                    ))
                }));
                continue;
            }
            source.push(cluster_rule(cluster(
                &s_id,
                &member_arn(p, db, PRIMARY),
                "available",
                source_version(db),
                &[&format!("{s_id}-1")],
            )));
        }
        (target, source)
    }

    fn cloudwatch_rules(&self, region: &'static str) -> Vec<Rule> {
        let mut rules = Vec::new();
        let alarms: Vec<(String, StateValue)> =
            self.alarms.iter().filter(|(r, _, _)| *r == region).map(|(_, n, s)| (n.to_string(), s.clone())).collect();
        rules.push(mock!(aws_sdk_cloudwatch::Client::describe_alarms).then_compute_output(move |req| {
            let found = req
                .alarm_names()
                .iter()
                .filter_map(|n| alarms.iter().find(|(name, _)| name == n))
                .map(|(n, s)| MetricAlarm::builder().alarm_name(n).state_value(s.clone()).build())
                .collect();
            DescribeAlarmsOutput::builder().set_metric_alarms(Some(found)).build()
        }));
        if region == SECONDARY {
            let p = self.plan.clone();
            let lag = self.lag_ms.clone();
            let reads = self.metric_reads.clone();
            rules.push(mock!(aws_sdk_cloudwatch::Client::get_metric_data).then_compute_output(move |req| {
                let cluster = req.metric_data_queries()[0]
                    .metric_stat()
                    .and_then(|s| s.metric())
                    .map(|m| m.dimensions()[0].value().unwrap_or_default().to_string())
                    .unwrap_or_default();
                reads.lock().unwrap().push(cluster.clone());
                let db = ["catalog", "orders"].into_iter().find(|d| cluster_id(&p, d, SECONDARY) == cluster).unwrap();
                match lag.get(db) {
                    Some(ms) => lag_output(&[(-30, *ms)], &[]),
                    None => lag_output(&[], &[]),
                }
            }));
        }
        rules
    }

    async fn run(mut self) -> Run {
        let url = http_server(self.probe_status).await;
        self.plan.health.get_mut(SECONDARY).unwrap().http[0].url = url;
        let (target, source) = self.rds_rules();
        let cw_target = self.cloudwatch_rules(SECONDARY);
        let cw_source = self.cloudwatch_rules(PRIMARY);
        let mocks = Mocks::new()
            .rds(SECONDARY, &target.iter().collect::<Vec<_>>())
            .rds(PRIMARY, &source.iter().collect::<Vec<_>>())
            .cloudwatch(SECONDARY, &cw_target.iter().collect::<Vec<_>>())
            .cloudwatch(PRIMARY, &cw_source.iter().collect::<Vec<_>>());
        let arc = FakeArc::new(&self.plan, PRIMARY);
        let clients = with_arc(mocks.clients(), &arc, &self.plan, [Behaviour::Healthy; 5]);
        let mut emf = None;
        let result = preflight::handle_with_metric(self.input(), &clients, |l| emf = Some(l.to_string())).await;
        Run { result, emf, mocks, arc }
    }
}

fn cluster_rule(c: aws_sdk_rds::types::DbCluster) -> Rule {
    let id = c.db_cluster_identifier().unwrap().to_string();
    let out = clusters_output(c);
    mock!(aws_sdk_rds::Client::describe_db_clusters)
        .match_requests(move |r| r.db_cluster_identifier() == Some(id.as_str()))
        .then_output(move || out.clone())
}

fn instance_rule(id: &str, status: &str) -> Rule {
    let out = instances_output(instance(id, status));
    let id = id.to_string();
    mock!(aws_sdk_rds::Client::describe_db_instances)
        .match_requests(move |r| r.db_instance_identifier() == Some(id.as_str()))
        .then_output(move || out.clone())
}

fn with_arc(mut clients: AwsClients, arc: &FakeArc, plan: &Plan, behaviours: [Behaviour; 5]) -> AwsClients {
    let mut by_url = BTreeMap::new();
    for (ep, b) in plan.arc.cluster_endpoints.iter().zip(behaviours) {
        by_url.insert(ep.url.clone(), arc.client(&ep.url, b));
    }
    clients.seed = Some(7);
    clients.arc = Arc::new(move |ep, _| by_url.get(&ep.url).expect("endpoint of the plan").clone());
    clients
}

fn failing(out: &PreflightOutput) -> Vec<(String, String, Option<Blocks>)> {
    out.checks
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .map(|c| (c.kind.clone(), c.subject.clone(), c.blocks))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_healthy_pair_is_ready() {
    let run = world().run().await;
    let out = run.result.unwrap();
    assert_eq!(out.readiness, Readiness::Ready, "{:#?}", out.reasons);
    assert!(out.reasons.is_empty());
    assert!(!out.forced);
    assert_eq!(out.source_region, PRIMARY);
    let kinds: Vec<&str> = out.checks.iter().map(|c| c.kind.as_str()).collect();
    for k in [
        "plan",
        "running-region",
        "routing",
        "global-cluster",
        "members",
        "writer",
        "engine-version",
        "instance",
        "replication-lag",
        "alarm",
        "http",
    ] {
        assert!(kinds.contains(&k), "a `{k}` check: {kinds:?}");
    }
    // Routing is read, not judged: the source serves before a failover.
    assert_eq!(out.routing.len(), 2);
    assert!(out.routing.iter().any(|c| c.region == PRIMARY && c.state == failover_core::contract::RoutingState::On));
    assert_eq!(run.arc.reads.lock().unwrap().len(), 1, "one ARC endpoint is enough to read the states");
    // The data at risk, per database.
    let lags: Vec<(&str, u64)> =
        out.databases.iter().map(|d| (d.database.as_str(), d.lag.as_ref().unwrap().milliseconds)).collect();
    assert_eq!(lags, vec![("catalog", 800), ("orders", 1200)]);
    assert!(out.databases.iter().all(|d| d.writer_region.as_deref() == Some(PRIMARY)));
    // The plan it ran with.
    assert_eq!(out.plan.name, "retail-store");
    assert_eq!(out.plan.version.as_deref(), Some("7"));
    assert!(out.plan.digest.starts_with("sha256:") && out.plan.digest.len() == 7 + 64, "{}", out.plan.digest);
    assert_eq!(out.started_at, rfc(-60));
    // Planned mode reads the source clusters in their own Region.
    assert!(run.mocks.regions_asked("rds").contains(&PRIMARY.to_string()));
}

#[tokio::test(start_paused = true)]
async fn lag_over_the_rpo_refuses_a_switchover_and_states_the_data_at_risk() {
    let mut w = world();
    w.lag_ms.insert("orders", 7_500.0); // RPO is 5 s
    let run = w.run().await;
    let err = run.result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::SwitchoverRefused, "{err}");
    assert!(err.message.contains("7500 ms"), "{}", err.message);
    assert!(err.message.contains("over the RPO of 5000 ms"), "{}", err.message);
    assert!(err.message.contains("data at risk: catalog: 800 ms of writes"), "{}", err.message);
    assert!(err.message.contains("orders: 7500 ms of writes"), "{}", err.message);
    // The metric still went out, saying not ready for a switchover but ready to fail over.
    let emf: serde_json::Value = serde_json::from_str(&run.emf.unwrap()).unwrap();
    assert_eq!(emf["Ready"], 0);
    assert_eq!(emf["ReadyUnplanned"], 1);
    assert_eq!(emf["Readiness"], "ready-unplanned-only");
}

#[tokio::test(start_paused = true)]
async fn the_same_lag_lets_an_unplanned_failover_proceed_without_calling_the_source() {
    let mut w = world();
    w.lag_ms.insert("orders", 7_500.0);
    w.mode = Mode::Unplanned;
    let run = w.run().await;
    let out = run.result.unwrap();
    assert_eq!(out.readiness, Readiness::ReadyUnplannedOnly);
    assert_eq!(failing(&out), vec![("replication-lag".into(), "retail-orders-usw2".into(), Some(Blocks::Switchover))]);
    // Nothing asked of us-east-1: no RDS, no CloudWatch, no ARC endpoint there.
    assert!(!run.mocks.regions_asked("rds").contains(&PRIMARY.to_string()), "{:?}", run.mocks.regions_asked("rds"));
    assert!(!run.mocks.regions_asked("cloudwatch").contains(&PRIMARY.to_string()));
    let use1_endpoint = plan().arc.cluster_endpoints[0].url.clone();
    assert!(!run.arc.reads.lock().unwrap().contains_key(&use1_endpoint));
    // The alarm watching the target lives in the source: skipped, not failed.
    let skipped = out.checks.iter().find(|c| c.subject == "retail-canary-watching-usw2").unwrap();
    assert_eq!(skipped.verdict, Verdict::Skipped, "{skipped:?}");
}

#[tokio::test(start_paused = true)]
async fn no_lag_datapoint_is_ready_unplanned_only() {
    let mut w = world();
    w.lag_ms.remove("catalog");
    w.readiness_only = true;
    let out = w.run().await.result.unwrap();
    assert_eq!(out.readiness, Readiness::ReadyUnplannedOnly);
    assert!(
        out.reasons[0].contains("no AuroraGlobalDBRPOLag or AuroraGlobalDBReplicationLag datapoint"),
        "{:?}",
        out.reasons
    );
    assert_eq!(out.databases[0].lag, None);
}

#[tokio::test(start_paused = true)]
async fn engine_versions_differing_is_not_ready_in_both_modes() {
    for mode in [Mode::Planned, Mode::Unplanned] {
        let mut w = world();
        w.mode = mode;
        w.target_version.insert("catalog", "8.0.mysql_aurora.3.04.1");
        let err = w.run().await.result.unwrap_err();
        assert_eq!(err.kind, ErrorKind::PreconditionFailed, "{mode:?}: {err}");
        assert!(err.message.contains("engine versions differ"), "{}", err.message);
        assert!(err.message.contains("`8.0.mysql_aurora.3.04.1`"), "{}", err.message);
    }
    // A patch level apart is fine.
    let mut w = world();
    w.target_version.insert("catalog", "8.0.mysql_aurora.3.05.0");
    assert_eq!(w.run().await.result.unwrap().readiness, Readiness::Ready);
}

#[tokio::test(start_paused = true)]
async fn a_missing_global_cluster_is_not_ready() {
    let mut w = world();
    w.missing_global.push("orders");
    w.readiness_only = true;
    let out = w.run().await.result.unwrap();
    assert_eq!(out.readiness, Readiness::NotReady);
    assert_eq!(failing(&out), vec![("global-cluster".into(), "retail-orders-global".into(), Some(Blocks::Failover))]);
    assert!(
        out.reasons[0].contains("no global cluster `retail-orders-global`") || out.reasons[0].contains("not found"),
        "{:?}",
        out.reasons
    );
    let orders = out.databases.iter().find(|d| d.database == "orders").unwrap();
    assert_eq!(orders.writer, None);
}

#[tokio::test(start_paused = true)]
async fn a_missing_canary_alarm_is_not_ready() {
    let mut w = world();
    w.alarms.retain(|(_, n, _)| *n != "retail-canary-watching-use1");
    w.readiness_only = true;
    let out = w.run().await.result.unwrap();
    assert_eq!(out.readiness, Readiness::NotReady);
    assert!(
        out.reasons.iter().any(|r| r.contains("`retail-canary-watching-use1` does not exist in us-west-2")),
        "{:?}",
        out.reasons
    );
}

#[tokio::test(start_paused = true)]
async fn the_source_in_alarm_is_reported_not_judged_but_the_target_in_alarm_is() {
    let mut w = world();
    w.alarms[1].2 = StateValue::Alarm; // the canary watching us-east-1
    let out = w.run().await.result.unwrap();
    assert_eq!(out.readiness, Readiness::Ready);
    let c = out.checks.iter().find(|c| c.subject == "retail-canary-watching-use1").unwrap();
    assert!(c.detail.contains("ALARM"), "{c:?}");

    let mut w = world();
    w.alarms[0].2 = StateValue::Alarm; // the canary watching us-west-2
    let err = w.run().await.result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::PreconditionFailed);
    assert!(err.message.contains("alarm retail-canary-watching-usw2: ALARM in us-east-1"), "{}", err.message);
}

#[tokio::test(start_paused = true)]
async fn force_proceeds_although_the_target_looks_unhealthy() {
    let mut w = world();
    w.probe_status = 503;
    w.mode = Mode::Unplanned;
    w.force = true;
    let run = w.run().await;
    let out = run.result.unwrap();
    assert_eq!(out.readiness, Readiness::NotReady);
    assert!(out.forced);
    assert!(out.reasons.iter().any(|r| r.contains("status 503, want 200")), "{:?}", out.reasons);
    let emf: serde_json::Value = serde_json::from_str(&run.emf.unwrap()).unwrap();
    assert_eq!(emf["Ready"], 0);
    assert_eq!(emf["ReadyUnplanned"], 0);
}

#[tokio::test(start_paused = true)]
async fn running_outside_the_target_region_is_refused_even_when_forced() {
    let mut w = world();
    w.running = PRIMARY;
    w.force = true;
    let err = w.run().await.result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::PreconditionFailed);
    assert!(err.message.contains("runs in us-east-1 but fails over to us-west-2"), "{}", err.message);
    assert!(err.message.contains("force does not override"), "{}", err.message);

    // As a readiness check it is a verdict, not an error.
    let mut w = world();
    w.running = PRIMARY;
    w.readiness_only = true;
    let out = w.run().await.result.unwrap();
    assert_eq!(out.readiness, Readiness::NotReady);
    assert_eq!(failing(&out), vec![("running-region".into(), PRIMARY.into(), Some(Blocks::Failover))]);
}

#[tokio::test(start_paused = true)]
async fn bad_input_names_the_field_and_calls_nothing() {
    let w = world();
    let mut input = w.input();
    input.target_region = "eu-west-1".into();
    let mocks = Mocks::new();
    let err = preflight::handle(input, &mocks.clients()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadInput);
    assert!(err.message.starts_with("target_region: `eu-west-1`"), "{}", err.message);
    let mut input = w.input();
    input.execution.started_at = "yesterday".into();
    let err = preflight::handle(input, &mocks.clients()).await.unwrap_err();
    assert!(err.message.starts_with("execution.started_at:"), "{}", err.message);
    assert!(mocks.nothing_asked());
}

#[tokio::test(start_paused = true)]
async fn a_throttled_source_region_is_transient_not_a_refused_switchover() {
    // Throttled is an answer: the source Region's API is there, so the switchover is not
    // refused (which would offer the approver an unplanned failover that loses data); the
    // step fails Transient and the state machine retries it.
    let mut w = world();
    w.source_throttled = true;
    let run = w.run().await;
    let err = run.result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert!(err.message.contains("DescribeDBClusters in us-east-1: Throttling"), "{}", err.message);
}

#[tokio::test(start_paused = true)]
async fn a_throttled_lag_read_is_transient() {
    let mut w = world();
    w.readiness_only = true;
    w.mode = Mode::Unplanned;
    let url = http_server(200).await;
    w.plan.health.get_mut(SECONDARY).unwrap().http[0].url = url;
    let (target, _) = w.rds_rules();
    let throttled = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .then_error(|| GetMetricDataError::generic(meta("Throttling", "Rate exceeded")));
    let mocks = Mocks::new().rds(SECONDARY, &target.iter().collect::<Vec<_>>()).cloudwatch(SECONDARY, &[&throttled]);
    let arc = FakeArc::new(&w.plan, PRIMARY);
    let clients = with_arc(mocks.clients(), &arc, &w.plan, [Behaviour::Healthy; 5]);
    let err = preflight::handle(w.input(), &clients).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
}

#[test]
fn the_emf_line_is_a_cloudwatch_metric() {
    let out = PreflightOutput {
        readiness: Readiness::Ready,
        mode: Mode::Planned,
        target_region: SECONDARY.into(),
        source_region: PRIMARY.into(),
        running_region: SECONDARY.into(),
        readiness_only: true,
        forced: false,
        reasons: vec![],
        checks: vec![],
        plan: failover_core::contract::preflight::PlanRef {
            name: "retail-store".into(),
            digest: "sha256:00".into(),
            version: None,
        },
        routing: vec![],
        databases: vec![],
        started_at: rfc(0),
        checked_at: rfc(0),
    };
    let line = emf_line(&out, "readiness-0800", at(5));
    assert!(!line.contains('\n'), "one log line");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["_aws"]["Timestamp"], (T0 + 5) * 1000);
    let m = &v["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(m["Namespace"], "Failover");
    assert_eq!(m["Dimensions"], serde_json::json!([["Plan", "TargetRegion"]]));
    assert_eq!(m["Metrics"][0]["Name"], "Ready");
    // Every dimension and metric named has a value at the top level.
    assert_eq!(v["Plan"], "retail-store");
    assert_eq!(v["TargetRegion"], SECONDARY);
    assert_eq!(v["Ready"], 1);
    assert_eq!(v["ReadyUnplanned"], 1);
    let not_ready = PreflightOutput { readiness: Readiness::NotReady, ..out };
    let v: serde_json::Value = serde_json::from_str(&emf_line(&not_ready, "x", at(5))).unwrap();
    assert_eq!((v["Ready"].as_u64(), v["ReadyUnplanned"].as_u64()), (Some(0), Some(0)));
}

#[test]
fn the_digest_ignores_yaml_order_and_comments_but_not_content() {
    let a = plan();
    let reordered = Plan::from_yaml(&format!("# a comment\n{}", PLAN.replace("cooldown_seconds: 3600", ""))).unwrap();
    assert_eq!(plan_digest(&a), plan_digest(&reordered), "cooldown 3600 is the default: the same plan");
    let mut b = plan();
    b.objectives.rpo_seconds = 6;
    assert_ne!(plan_digest(&a), plan_digest(&b));
    assert_eq!(plan_digest(&a), plan_digest(&a.clone()));
}

// ---- against regionsim over HTTP ----

mod sim {
    use super::*;
    use aws_config::{BehaviorVersion, Region, SdkConfig};
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;
    use failover_core::SharedClock;
    use regionsim::rds::{Aurora, AuroraConfig};
    use regionsim::{DownMode, SimBuilder, service};

    fn epoch() -> std::time::SystemTime {
        std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
    }

    /// The simulator with its Aurora model, and clients whose every service points at it.
    async fn start(lag: Duration) -> (regionsim::Sim, AwsClients, Plan, Arc<Aurora>) {
        let clock = SharedClock::virtual_at(epoch());
        let sim =
            SimBuilder::new(clock.clone()).seed(5).world_as_planned().start().await.expect("the simulator starts");
        let mut cfg = AuroraConfig::from_plan(&sim.plan());
        cfg.replication_lag = lag;
        cfg.globals[0].workload.txns_per_second = 2.0;
        let aurora = Aurora::install(&sim, cfg).expect("the RDS model starts");
        let mut plan = sim.plan();
        plan.arc.timeouts.connect_ms = 100;
        plan.arc.timeouts.attempt_ms = 100;
        let base = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(SECONDARY))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKIDTEST", "secret", None, None, "test",
            )))
            .build();
        let urls = sim.endpoints().clone();
        let mut clients = AwsClients::from_sdk_config(base.clone(), clock.clone());
        // One port per service: point each client family at its own.
        macro_rules! point {
            ($field:ident, $krate:ident, $svc:expr) => {{
                let url = urls.url($svc).unwrap().to_string();
                let base = base.clone();
                let clock = clock.clone();
                clients.$field = Arc::new(failover_steps::aws::Regional::from_fn(move |r| {
                    let conf = failover_steps::aws::regional_config(&base, r, &clock);
                    $krate::Client::from_conf($krate::config::Builder::from(&conf).endpoint_url(url.clone()).build())
                }));
            }};
        }
        point!(rds, aws_sdk_rds, service::RDS);
        point!(cloudwatch, aws_sdk_cloudwatch, service::CLOUDWATCH);
        clients.seed = Some(3);
        (sim, clients, plan, aurora)
    }

    fn input(plan: &Plan, mode: Mode) -> PreflightInput {
        PreflightInput {
            plan: plan.clone(),
            mode,
            target_region: SECONDARY.into(),
            running_region: SECONDARY.into(),
            execution: failover_core::contract::ExecutionRef {
                name: "sim-1".into(),
                started_at: failover_core::time_fmt::rfc3339(epoch()),
            },
            force: false,
            readiness_only: false,
            plan_version: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_simulated_pair_is_ready_then_only_unplanned_once_the_primary_is_down() {
        let (sim, clients, plan, _aurora) = start(Duration::from_secs(1)).await;
        // Let a lag datapoint exist.
        clients.clock.sleep(Duration::from_secs(120)).await;
        let out = preflight::handle(input(&plan, Mode::Planned), &clients).await.expect("ready");
        assert_eq!(out.readiness, Readiness::Ready, "{:#?}", out.reasons);
        assert_eq!(out.databases.len(), 1);
        assert_eq!(out.databases[0].writer_region.as_deref(), Some(PRIMARY));
        assert!(out.databases[0].lag.is_some(), "the simulated lag metric is read");
        assert!(
            out.routing.iter().any(|c| c.region == PRIMARY && c.state == failover_core::contract::RoutingState::On)
        );

        sim.set_region_down(PRIMARY, DownMode::Hang);
        clients.clock.sleep(Duration::from_secs(300)).await;
        let before = sim.calls().len();
        let out = preflight::handle(input(&plan, Mode::Unplanned), &clients).await.expect("a failover may go ahead");
        assert_ne!(out.readiness, Readiness::NotReady, "{:#?}", out.reasons);
        let calls = sim.calls();
        let to_source: Vec<_> = calls[before..]
            .iter()
            .filter(|c| c.region.as_deref() == Some(PRIMARY) && c.service != service::WEB)
            .collect();
        assert!(to_source.is_empty(), "nothing is asked of the source Region: {to_source:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_simulated_pair_with_lag_over_the_rpo_or_differing_versions_is_refused() {
        let (_sim, clients, plan, aurora) = start(Duration::from_secs(9)).await;
        clients.clock.sleep(Duration::from_secs(120)).await;
        let err = preflight::handle(input(&plan, Mode::Planned), &clients).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::SwitchoverRefused, "{err}");
        assert!(err.message.contains("over the RPO of 5000 ms"), "{}", err.message);

        aurora.set_engine_version(SECONDARY, "retail-orders-usw2", "15.4");
        let err = preflight::handle(input(&plan, Mode::Unplanned), &clients).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::PreconditionFailed, "{err}");
        assert!(err.message.contains("engine versions differ"), "{}", err.message);
    }
}

#[test]
fn the_sample_events_are_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("preflight.") {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let input: PreflightInput = failover_core::contract::parse_input(v).unwrap_or_else(|e| panic!("{name}: {e}"));
        input.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        seen += 1;
    }
    assert!(seen >= 3, "sample preflight events: {seen}");
}

#[tokio::test(start_paused = true)]
async fn arc_unreachable_is_retryable_in_a_failover_and_a_verdict_in_a_readiness_check() {
    for readiness_only in [false, true] {
        let mut w = world();
        w.mode = Mode::Unplanned;
        w.readiness_only = readiness_only;
        let url = http_server(200).await;
        w.plan.health.get_mut(SECONDARY).unwrap().http[0].url = url;
        let (target, _) = w.rds_rules();
        let cw = w.cloudwatch_rules(SECONDARY);
        let mocks = Mocks::new()
            .rds(SECONDARY, &target.iter().collect::<Vec<_>>())
            .cloudwatch(SECONDARY, &cw.iter().collect::<Vec<_>>());
        let arc = FakeArc::new(&w.plan, PRIMARY);
        let mut behaviours = [Behaviour::Unavailable; 5];
        behaviours[0] = Behaviour::Healthy; // us-east-1's: the source, never tried in unplanned mode
        let clients = with_arc(mocks.clients(), &arc, &w.plan, behaviours);
        let res = preflight::handle(w.input(), &clients).await;
        assert!(!arc.reads.lock().unwrap().contains_key(&w.plan.arc.cluster_endpoints[0].url));
        if readiness_only {
            let out = res.unwrap();
            assert_eq!(out.readiness, Readiness::NotReady);
            assert!(
                out.reasons[0].contains("no ARC endpoint answered (those in us-east-1 not tried)"),
                "{:?}",
                out.reasons
            );
        } else {
            let err = res.unwrap_err();
            assert_eq!(err.kind, ErrorKind::EndpointsUnavailable, "{err}");
            assert_eq!(err.message.matches("EndpointTemporarilyUnavailableException").count(), 4, "{}", err.message);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_headless_target_is_ready_only_when_the_plan_gives_it_a_capacity() {
    let mut w = world();
    w.headless = vec!["catalog", "orders"];
    w.readiness_only = true;
    let out = w.run().await.result.unwrap();
    let instance = |id: &str| out.checks.iter().find(|c| c.kind == "instance" && c.subject == id).unwrap().clone();
    let catalog = instance("retail-catalog-usw2");
    assert_eq!(catalog.verdict, Verdict::Pass);
    assert!(catalog.detail.contains("creates a db.r6g.large instance"), "{catalog:?}");
    let orders = instance("retail-orders-usw2");
    assert_eq!((orders.verdict, orders.blocks), (Verdict::Fail, Some(Blocks::Failover)));
    assert!(orders.detail.contains("databases[orders].headless"), "{orders:?}");
    assert_eq!(out.readiness, Readiness::NotReady);
}

#[tokio::test(start_paused = true)]
async fn members_other_than_the_plans_are_not_ready() {
    let mut w = world();
    w.extra_member = Some("arn:aws:rds:eu-west-1:111122223333:cluster:stray");
    w.readiness_only = true;
    let out = w.run().await.result.unwrap();
    assert_eq!(out.readiness, Readiness::NotReady);
    let members: Vec<_> = failing(&out).into_iter().filter(|(k, _, _)| k == "members").collect();
    assert_eq!(members.len(), 2, "both global clusters: {members:?}");
    assert!(
        out.reasons.iter().any(|r| r.contains("cluster:stray") && r.contains("the plan says")),
        "{:?}",
        out.reasons
    );
}
