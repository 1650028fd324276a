//! The simulator behind the real AWS SDK clients: every operation, success and error, on
//! both Regions, and every fault. One integration binary; time is virtual (paused tokio
//! clock), so hangs and delays cost no wall time.

mod common;

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_sdk_route53recoverycluster::operation::update_routing_control_state::builders::UpdateRoutingControlStateFluentBuilder;
use aws_sdk_route53recoverycluster::operation::update_routing_control_states::builders::UpdateRoutingControlStatesFluentBuilder;
use aws_sdk_route53recoverycluster::types::{RoutingControlState, UpdateRoutingControlStateEntry};
use failover_core::SharedClock;
use regionsim::arc::ArcCluster;
use regionsim::cloudwatch::{CloudWatch, LagFn};
use regionsim::dns::Dns;
use regionsim::s3::S3;
use regionsim::sns::Sns;
use regionsim::{DownMode, EndpointFault, Sim, SimBuilder, service};

const USE1: &str = "us-east-1";
const USW2: &str = "us-west-2";
const RC_USE1: &str = "arn:aws:route53-recovery-control::111122223333:controlpanel/00000000000000000000000000000001/routingcontrol/use1cell0000001";
const RC_USW2: &str = "arn:aws:route53-recovery-control::111122223333:controlpanel/00000000000000000000000000000001/routingcontrol/usw2cell0000001";
const SAFETY_RULE: &str = "arn:aws:route53-recovery-control::111122223333:controlpanel/00000000000000000000000000000001/safetyrule/atleastone00001";
const TOPIC_USE1: &str = "arn:aws:sns:us-east-1:111122223333:failover-retail-store";
const TOPIC_USW2: &str = "arn:aws:sns:us-west-2:111122223333:failover-retail-store";
const BUCKET_USE1: &str = "failover-retail-store-reports-111122223333-us-east-1";
const BUCKET_USW2: &str = "failover-retail-store-reports-111122223333-us-west-2";

async fn start() -> (Sim, SharedClock) {
    let clock = SharedClock::virtual_at(common::epoch());
    let sim = SimBuilder::new(clock.clone()).seed(7).world_as_planned().start().await.expect("the simulator starts");
    (sim, clock)
}

fn config(clock: &SharedClock, region: &str, url: &str) -> SdkConfig {
    common::sdk_config(clock, region, url, Duration::from_secs(1))
}

fn arc_client(sim: &Sim, clock: &SharedClock, i: usize) -> aws_sdk_route53recoverycluster::Client {
    let (url, region) = &sim.endpoints().arc[i];
    aws_sdk_route53recoverycluster::Client::new(&config(clock, region, url))
}

fn url(sim: &Sim, svc: &str) -> String {
    sim.endpoints().url(svc).expect("service endpoint").to_string()
}

fn sns(sim: &Sim, clock: &SharedClock, region: &str) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(&config(clock, region, &url(sim, service::SNS)))
}

fn s3(sim: &Sim, clock: &SharedClock, region: &str) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(&config(clock, region, &url(sim, service::S3)))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

fn secrets(sim: &Sim, clock: &SharedClock, region: &str) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&config(clock, region, &url(sim, service::SECRETS_MANAGER)))
}

fn cloudwatch(sim: &Sim, clock: &SharedClock, region: &str) -> aws_sdk_cloudwatch::Client {
    aws_sdk_cloudwatch::Client::new(&config(clock, region, &url(sim, service::CLOUDWATCH)))
}

/// An update of one routing control, ready to send.
fn set_state(
    client: &aws_sdk_route53recoverycluster::Client,
    arn: &str,
    state: RoutingControlState,
) -> UpdateRoutingControlStateFluentBuilder {
    client.update_routing_control_state().routing_control_arn(arn).routing_control_state(state)
}

/// The batch update that moves traffic to us-west-2 (its control On, us-east-1's Off), ready to send.
fn switch_to_usw2(client: &aws_sdk_route53recoverycluster::Client) -> UpdateRoutingControlStatesFluentBuilder {
    let entry = |arn: &str, s: RoutingControlState| {
        UpdateRoutingControlStateEntry::builder().routing_control_arn(arn).routing_control_state(s).build().unwrap()
    };
    client
        .update_routing_control_states()
        .update_routing_control_state_entries(entry(RC_USW2, RoutingControlState::On))
        .update_routing_control_state_entries(entry(RC_USE1, RoutingControlState::Off))
}

async fn state(client: &aws_sdk_route53recoverycluster::Client, arn: &str) -> String {
    let out = client.get_routing_control_state().routing_control_arn(arn).send().await.expect("get state");
    out.routing_control_state().as_str().to_string()
}

// ----- ARC -----

#[tokio::test(start_paused = true)]
async fn arc_every_endpoint_serves_the_same_state_signed_for_its_own_region() {
    let (sim, clock) = start().await;
    assert_eq!(sim.endpoints().arc.len(), 5);
    for i in 0..5 {
        let c = arc_client(&sim, &clock, i);
        assert_eq!(state(&c, RC_USE1).await, "On", "endpoint {i}");
        assert_eq!(state(&c, RC_USW2).await, "Off", "endpoint {i}");
        let list = c.list_routing_controls().send().await.expect("list");
        let names: Vec<&str> = list.routing_controls().iter().filter_map(|r| r.routing_control_name()).collect();
        assert_eq!(names, ["use1cell0000001", "usw2cell0000001"]);
    }
    let regions: Vec<Option<String>> =
        sim.calls().iter().filter(|c| c.service == "arc").map(|c| c.region.clone()).collect();
    let expected: Vec<Option<String>> =
        sim.endpoints().arc.iter().flat_map(|(_, r)| std::iter::repeat_n(Some(r.clone()), 3)).collect();
    assert_eq!(regions, expected, "each call is signed for and recorded in its endpoint's Region");
}

#[tokio::test(start_paused = true)]
async fn arc_rejects_a_request_signed_for_another_region() {
    let (sim, clock) = start().await;
    let (url, _) = &sim.endpoints().arc[2];
    let c = aws_sdk_route53recoverycluster::Client::new(&config(&clock, USE1, url));
    let err = c.get_routing_control_state().routing_control_arn(RC_USE1).send().await.unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    let meta = aws_smithy_types::error::metadata::ProvideErrorMetadata::code(&err);
    assert_eq!(meta, Some("InvalidSignatureException"));
}

#[tokio::test(start_paused = true)]
async fn arc_switches_both_regions_in_one_call_and_lists_pages() {
    let (sim, clock) = start().await;
    let c = arc_client(&sim, &clock, 1);
    switch_to_usw2(&c).send().await.expect("a switch that keeps one Region On passes the safety rule");
    let other = arc_client(&sim, &clock, 4);
    assert_eq!(state(&other, RC_USE1).await, "Off");
    assert_eq!(state(&other, RC_USW2).await, "On");

    let page = c.list_routing_controls().max_results(1).send().await.unwrap();
    assert_eq!(page.routing_controls().len(), 1);
    let token = page.next_token().expect("a second page").to_string();
    let page2 = c.list_routing_controls().max_results(1).next_token(token).send().await.unwrap();
    assert_eq!(page2.routing_controls()[0].routing_control_arn(), Some(RC_USW2));
    assert!(page2.next_token().is_none());
    let panel = c.list_routing_controls().control_panel_arn("arn:aws:other").send().await.unwrap();
    assert!(panel.routing_controls().is_empty());

    let mutating: Vec<String> = sim.calls().iter().filter(|c| c.mutating).map(|c| c.operation.clone()).collect();
    assert_eq!(mutating, ["UpdateRoutingControlStates"]);
    assert!(sim.repeated_mutations().is_empty());
    switch_to_usw2(&c).send().await.unwrap();
    let repeated = sim.repeated_mutations();
    assert_eq!(repeated.len(), 1, "the same update sent twice is reported");
    assert_eq!(repeated[0].operation, "UpdateRoutingControlStates");
    assert_eq!(sim.api_calls()["arc"]["ListRoutingControls"], 3);
    assert_eq!(sim.api_calls()["arc"]["UpdateRoutingControlStates"], 2);
}

#[tokio::test(start_paused = true)]
async fn arc_safety_rule_refuses_turning_every_region_off_unless_overridden() {
    let (sim, clock) = start().await;
    let c = arc_client(&sim, &clock, 0);
    use aws_sdk_route53recoverycluster::operation::update_routing_control_state::UpdateRoutingControlStateError;
    let err = set_state(&c, RC_USE1, RoutingControlState::Off).send().await.unwrap_err().into_service_error();
    let UpdateRoutingControlStateError::ValidationException(v) = &err else {
        panic!("expected ValidationException, got {err:?}")
    };
    assert!(v.message().contains("at-least-one-region-on"), "the message names the rule: {}", v.message());
    assert_eq!(state(&c, RC_USE1).await, "On", "a refused update changes nothing");

    set_state(&c, RC_USE1, RoutingControlState::Off)
        .safety_rules_to_override(SAFETY_RULE)
        .send()
        .await
        .expect("an explicit override passes");
    assert_eq!(state(&c, RC_USE1).await, "Off");
}

#[tokio::test(start_paused = true)]
async fn arc_unknown_control_bad_state_and_injected_conflicts() {
    let (sim, clock) = start().await;
    let c = arc_client(&sim, &clock, 3);
    use aws_sdk_route53recoverycluster::operation::get_routing_control_state::GetRoutingControlStateError;
    use aws_sdk_route53recoverycluster::operation::update_routing_control_state::UpdateRoutingControlStateError;
    let err = c.get_routing_control_state().routing_control_arn("arn:aws:nope").send().await.unwrap_err();
    assert!(matches!(err.into_service_error(), GetRoutingControlStateError::ResourceNotFoundException(_)));

    sim.service::<ArcCluster>().inject_conflicts(2);
    for _ in 0..2 {
        let err = set_state(&c, RC_USW2, RoutingControlState::On).send().await.unwrap_err();
        assert!(matches!(err.into_service_error(), UpdateRoutingControlStateError::ConflictException(_)));
    }
    set_state(&c, RC_USW2, RoutingControlState::On).send().await.expect("conflicts are used up");
    assert_eq!(state(&c, RC_USW2).await, "On");
}

#[tokio::test(start_paused = true)]
async fn arc_endpoint_faults_refuse_hang_5xx_and_unavailable() {
    let (sim, clock) = start().await;
    use aws_sdk_route53recoverycluster::operation::get_routing_control_state::GetRoutingControlStateError;
    sim.set_endpoint_fault(service::ARC, 0, Some(EndpointFault::Refuse));
    sim.set_endpoint_fault(service::ARC, 1, Some(EndpointFault::Hang));
    sim.set_endpoint_fault(service::ARC, 2, Some(EndpointFault::ServerError));
    sim.set_endpoint_fault(service::ARC, 3, Some(EndpointFault::Unavailable));
    tokio::task::yield_now().await;

    let refused = arc_client(&sim, &clock, 0).get_routing_control_state().routing_control_arn(RC_USE1).send().await;
    let addr = sim.endpoints().arc[0].0.trim_start_matches("http://").trim_end_matches("/v1").to_string();
    let err = tokio::net::TcpStream::connect(&addr).await.expect_err("nothing listens on a refused endpoint");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    match refused.unwrap_err() {
        aws_sdk_route53recoverycluster::error::SdkError::DispatchFailure(d) => assert!(d.is_io(), "{d:?}"),
        other => panic!("expected a connection failure, got {other:?}"),
    }

    let before = clock.now();
    let hung = arc_client(&sim, &clock, 1).get_routing_control_state().routing_control_arn(RC_USE1).send().await;
    assert!(matches!(hung.unwrap_err(), aws_sdk_route53recoverycluster::error::SdkError::TimeoutError(_)));
    assert_eq!(clock.now().duration_since(before).unwrap(), Duration::from_secs(1), "the attempt timeout fired");

    let err =
        arc_client(&sim, &clock, 2).get_routing_control_state().routing_control_arn(RC_USE1).send().await.unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(500));
    assert!(matches!(err.into_service_error(), GetRoutingControlStateError::InternalServerException(_)));

    let err =
        arc_client(&sim, &clock, 3).get_routing_control_state().routing_control_arn(RC_USE1).send().await.unwrap_err();
    assert!(matches!(
        err.into_service_error(),
        GetRoutingControlStateError::EndpointTemporarilyUnavailableException(_)
    ));

    assert_eq!(state(&arc_client(&sim, &clock, 4), RC_USE1).await, "On", "the fifth endpoint is healthy");

    sim.kill_endpoints(service::ARC, 0, EndpointFault::Refuse);
    tokio::task::yield_now().await;
    assert_eq!(state(&arc_client(&sim, &clock, 0), RC_USE1).await, "On", "a refused endpoint comes back on its port");
}

#[tokio::test(start_paused = true)]
async fn arc_throttling_answers_throttling_exception() {
    let (sim, clock) = start().await;
    use aws_sdk_route53recoverycluster::operation::get_routing_control_state::GetRoutingControlStateError;
    sim.set_throttle_rate(service::ARC, 1.0);
    let err =
        arc_client(&sim, &clock, 0).get_routing_control_state().routing_control_arn(RC_USE1).send().await.unwrap_err();
    assert!(matches!(err.into_service_error(), GetRoutingControlStateError::ThrottlingException(_)));
    sim.set_throttle_rate(service::ARC, 0.0);
    assert_eq!(state(&arc_client(&sim, &clock, 0), RC_USE1).await, "On");
}

// ----- Region health -----

#[tokio::test(start_paused = true)]
async fn a_down_region_refuses_or_hangs_while_the_other_serves_on_the_same_port() {
    let (sim, clock) = start().await;
    sim.set_region_down(USE1, DownMode::Refuse);
    let err = sns(&sim, &clock, USE1).publish().topic_arn(TOPIC_USE1).message("m").send().await.unwrap_err();
    assert!(matches!(err, aws_sdk_sns::error::SdkError::DispatchFailure(_)), "{err:?}");
    sns(&sim, &clock, USW2).publish().topic_arn(TOPIC_USW2).message("m").send().await.expect("us-west-2 serves");
    // The ARC endpoint in the down Region is gone too; the others serve.
    let arc0 = arc_client(&sim, &clock, 0).get_routing_control_state().routing_control_arn(RC_USE1).send().await;
    assert!(arc0.is_err());
    assert_eq!(state(&arc_client(&sim, &clock, 1), RC_USE1).await, "On");

    sim.set_region_down(USE1, DownMode::Hang);
    let before = clock.now();
    let err = sns(&sim, &clock, USE1).publish().topic_arn(TOPIC_USE1).message("m").send().await.unwrap_err();
    assert!(matches!(err, aws_sdk_sns::error::SdkError::TimeoutError(_)), "{err:?}");
    assert_eq!(clock.now().duration_since(before).unwrap(), Duration::from_secs(1));

    sim.set_region_up(USE1);
    sns(&sim, &clock, USE1).publish().topic_arn(TOPIC_USE1).message("m").send().await.expect("back up");
    assert_eq!(sim.service::<Sns>().messages().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn extra_latency_is_spent_on_the_sim_clock() {
    let (sim, clock) = start().await;
    sim.set_extra_latency(service::SECRETS_MANAGER, Duration::from_millis(700));
    let before = clock.now();
    secrets(&sim, &clock, USE1)
        .get_secret_value()
        .secret_id("failover/retail-store/approval-key")
        .send()
        .await
        .unwrap();
    assert_eq!(clock.now().duration_since(before).unwrap(), Duration::from_millis(700));
}

#[tokio::test(start_paused = true)]
async fn region_health_endpoints_answer_while_up() {
    let (sim, _clock) = start().await;
    let url = sim.endpoints().web[USW2].clone();
    let addr = url.trim_start_matches("http://").trim_end_matches("/health").to_string();
    let status = raw_get(&addr, "/health").await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    sim.set_region_down(USW2, DownMode::Refuse);
    tokio::task::yield_now().await;
    assert!(tokio::net::TcpStream::connect(&addr).await.is_err(), "a down Region's health port refuses");
}

async fn raw_get(addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

// ----- DNS -----

async fn resolve(addr: std::net::SocketAddr, name: &str, tcp: bool) -> (Vec<String>, u32) {
    use hickory_proto::op::{Message, Query};
    use hickory_proto::rr::{Name, RecordType};
    let mut m = Message::new();
    m.set_id(42).add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    let bytes = m.to_vec().unwrap();
    let reply = if tcp {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(&(bytes.len() as u16).to_be_bytes()).await.unwrap();
        s.write_all(&bytes).await.unwrap();
        let mut len = [0u8; 2];
        s.read_exact(&mut len).await.unwrap();
        let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut buf).await.unwrap();
        buf
    } else {
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        sock.send_to(&bytes, addr).await.unwrap();
        let mut buf = vec![0u8; 2048];
        let (n, _) = sock.recv_from(&mut buf).await.unwrap();
        buf.truncate(n);
        buf
    };
    let r = Message::from_vec(&reply).unwrap();
    assert_eq!(r.id(), 42);
    assert!(r.authoritative());
    let ttl = r.answers().first().map_or(0, |a| a.ttl());
    (r.answers().iter().map(|a| a.data().to_string()).collect(), ttl)
}

#[tokio::test(start_paused = true)]
async fn dns_follows_routing_controls_after_the_propagation_delay() {
    let (sim, clock) = start().await;
    let dns = sim.endpoints().dns;
    assert_eq!(resolve(dns, "shop.example.com.", false).await, (vec!["192.0.2.10".to_string()], 60));
    assert_eq!(resolve(dns, "SHOP.example.com", true).await.0, vec!["192.0.2.10"], "TCP, case-insensitive");

    switch_to_usw2(&arc_client(&sim, &clock, 0)).send().await.unwrap();
    assert_eq!(resolve(dns, "shop.example.com", false).await.0, vec!["192.0.2.10"], "not propagated yet");
    clock.sleep(Duration::from_secs(29)).await;
    assert_eq!(resolve(dns, "shop.example.com", false).await.0, vec!["192.0.2.10"]);
    clock.sleep(Duration::from_secs(1)).await;
    assert_eq!(resolve(dns, "shop.example.com", false).await.0, vec!["198.51.100.20"], "propagated after 30 s");
    assert_eq!(sim.service::<Dns>().answer().regions, vec![USW2]);
    let (other, _) = resolve(dns, "other.example.com", false).await;
    assert!(other.is_empty());
}

// ----- CloudWatch -----

#[tokio::test(start_paused = true)]
async fn canary_alarms_follow_the_watched_region_after_one_evaluation_period() {
    let (sim, clock) = start().await;
    let cw = cloudwatch(&sim, &clock, USW2);
    let states = |out: aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput| -> Vec<(String, String)> {
        out.metric_alarms()
            .iter()
            .map(|a| (a.alarm_name().unwrap().to_string(), a.state_value().unwrap().as_str().to_string()))
            .collect()
    };
    let all = states(cw.describe_alarms().send().await.unwrap());
    let ok = |n: &str| (n.to_string(), "OK".to_string());
    assert_eq!(
        all,
        vec![ok("retail-canary-self-usw2"), ok("retail-canary-watching-use1")],
        "only us-west-2's alarms: its own signal and its watcher of us-east-1"
    );

    sim.set_region_down(USE1, DownMode::Hang);
    clock.sleep(Duration::from_secs(59)).await;
    assert_eq!(
        states(cw.describe_alarms().alarm_names("retail-canary-watching-use1").send().await.unwrap())[0].1,
        "OK"
    );
    clock.sleep(Duration::from_secs(1)).await;
    let out = cw.describe_alarms().alarm_name_prefix("retail-canary-watching").send().await.unwrap();
    assert_eq!(states(out.clone())[0].1, "ALARM");
    assert_eq!(
        out.metric_alarms()[0].state_updated_timestamp().map(|t| t.secs()),
        Some(common::epoch().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64 + 60)
    );
    let only_ok = cw.describe_alarms().state_value(aws_sdk_cloudwatch::types::StateValue::Ok).send().await.unwrap();
    // us-west-2's own signal watches us-west-2, which is up.
    assert_eq!(states(only_ok), vec![ok("retail-canary-self-usw2")]);
    let composite =
        cw.describe_alarms().alarm_types(aws_sdk_cloudwatch::types::AlarmType::CompositeAlarm).send().await.unwrap();
    assert!(composite.metric_alarms().is_empty() && composite.composite_alarms().is_empty());

    sim.set_region_up(USE1);
    clock.sleep(Duration::from_secs(60)).await;
    assert_eq!(states(cw.describe_alarms().send().await.unwrap()), all);

    let use1 = states(cloudwatch(&sim, &clock, USE1).describe_alarms().send().await.unwrap());
    assert_eq!(use1, vec![ok("retail-canary-self-use1"), ok("retail-canary-watching-usw2")]);
}

#[tokio::test(start_paused = true)]
async fn replication_lag_metrics_come_from_the_lag_source_or_the_default() {
    let (sim, clock) = start().await;
    clock.sleep(Duration::from_secs(300)).await;
    let cw = cloudwatch(&sim, &clock, USW2);
    use aws_sdk_cloudwatch::primitives::DateTime;
    use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, Statistic};
    let now = clock.now();
    let query = |name: &str| {
        MetricDataQuery::builder()
            .id("lag")
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace("AWS/RDS")
                            .metric_name(name)
                            .dimensions(
                                Dimension::builder().name("DBClusterIdentifier").value("retail-orders-usw2").build(),
                            )
                            .build(),
                    )
                    .period(60)
                    .stat("Maximum")
                    .build(),
            )
            .build()
    };
    let out = cw
        .get_metric_data()
        .metric_data_queries(query("AuroraGlobalDBRPOLag"))
        .start_time(DateTime::from(now - Duration::from_secs(180)))
        .end_time(DateTime::from(now))
        .send()
        .await
        .unwrap();
    let r = &out.metric_data_results()[0];
    assert_eq!(r.values(), [800.0, 800.0, 800.0], "the configured default lag, newest first");
    assert_eq!(r.timestamps()[0].secs(), DateTime::from(now - Duration::from_secs(60)).secs());

    sim.provide::<LagFn>(std::sync::Arc::new(|q: &regionsim::LagQuery| {
        assert_eq!(q.region, "us-west-2");
        assert!(q.dimensions.contains(&("DBClusterIdentifier".into(), "retail-orders-usw2".into())));
        Some(if q.metric == "AuroraGlobalDBReplicationLag" { 120.0 } else { 4500.0 })
    }));
    let out = cw
        .get_metric_statistics()
        .namespace("AWS/RDS")
        .metric_name("AuroraGlobalDBReplicationLag")
        .dimensions(Dimension::builder().name("DBClusterIdentifier").value("retail-orders-usw2").build())
        .start_time(DateTime::from(now - Duration::from_secs(120)))
        .end_time(DateTime::from(now))
        .period(60)
        .statistics(Statistic::Maximum)
        .statistics(Statistic::Average)
        .send()
        .await
        .unwrap();
    assert_eq!(out.datapoints().len(), 2);
    assert!(out.datapoints().iter().all(|d| d.maximum() == Some(120.0) && d.average() == Some(120.0)));

    let err = cw
        .get_metric_statistics()
        .namespace("AWS/RDS")
        .metric_name("AuroraGlobalDBRPOLag")
        .start_time(DateTime::from(now))
        .end_time(DateTime::from(now - Duration::from_secs(60)))
        .period(60)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_invalid_parameter_value_exception());
}

#[tokio::test(start_paused = true)]
async fn put_metric_data_points_are_read_back_per_region() {
    let (sim, clock) = start().await;
    use aws_sdk_cloudwatch::primitives::DateTime;
    use aws_sdk_cloudwatch::types::{MetricDatum, Statistic};
    let start = clock.now();
    let cw = cloudwatch(&sim, &clock, USE1);
    for v in [1.0, 3.0] {
        cw.put_metric_data()
            .namespace("Failover")
            .metric_data(MetricDatum::builder().metric_name("Drills").value(v).build())
            .send()
            .await
            .unwrap();
    }
    clock.sleep(Duration::from_secs(60)).await;
    let stats = |c: aws_sdk_cloudwatch::Client| async move {
        c.get_metric_statistics()
            .namespace("Failover")
            .metric_name("Drills")
            .start_time(DateTime::from(start))
            .end_time(DateTime::from(start + Duration::from_secs(60)))
            .period(60)
            .statistics(Statistic::Sum)
            .send()
            .await
            .unwrap()
    };
    let out = stats(cw.clone()).await;
    assert_eq!(out.datapoints()[0].sum(), Some(4.0));
    assert!(stats(cloudwatch(&sim, &clock, USW2)).await.datapoints().is_empty(), "metrics are Regional");
    let err = cw
        .put_metric_data()
        .namespace("AWS/RDS")
        .metric_data(MetricDatum::builder().metric_name("x").value(1.0).build())
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_invalid_parameter_value_exception());
}

// ----- SNS -----

#[tokio::test(start_paused = true)]
async fn sns_keeps_published_messages_and_refuses_unknown_topics() {
    let (sim, clock) = start().await;
    use aws_sdk_sns::types::MessageAttributeValue;
    for (region, topic) in [(USE1, TOPIC_USE1), (USW2, TOPIC_USW2)] {
        let out = sns(&sim, &clock, region)
            .publish()
            .topic_arn(topic)
            .subject("Failover approval needed")
            .message("approve or reject")
            .message_attributes(
                "phase",
                MessageAttributeValue::builder().data_type("String").string_value("approval").build().unwrap(),
            )
            .send()
            .await
            .unwrap();
        assert!(out.message_id().is_some());
    }
    let msgs = sim.service::<Sns>().messages();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[1].region.as_deref(), Some(USW2));
    assert_eq!(msgs[1].topic_arn, TOPIC_USW2);
    assert_eq!(msgs[0].subject.as_deref(), Some("Failover approval needed"));
    assert_eq!(msgs[0].attributes["phase"], ("String".to_string(), "approval".to_string()));

    let err = sns(&sim, &clock, USE1)
        .publish()
        .topic_arn("arn:aws:sns:us-east-1:111122223333:nope")
        .message("m")
        .send()
        .await;
    assert!(err.unwrap_err().into_service_error().is_not_found_exception());
    let err = sns(&sim, &clock, USE1).publish().topic_arn(TOPIC_USW2).message("m").send().await;
    assert!(err.unwrap_err().into_service_error().is_not_found_exception(), "a topic is Regional");
    let err = sns(&sim, &clock, USE1).publish().topic_arn(TOPIC_USE1).message("").send().await;
    assert!(err.unwrap_err().into_service_error().is_invalid_parameter_exception());

    let created = sns(&sim, &clock, USW2).create_topic().name("extra").send().await.unwrap();
    assert_eq!(created.topic_arn(), Some("arn:aws:sns:us-west-2:111122223333:extra"));
    let topics = sns(&sim, &clock, USW2).list_topics().send().await.unwrap();
    assert_eq!(topics.topics().len(), 2);
    assert_eq!(sim.api_calls()["sns"]["Publish"], 5);
}

// ----- Secrets Manager -----

#[tokio::test(start_paused = true)]
async fn secrets_are_regional_and_found_by_arn_or_name() {
    let (sim, clock) = start().await;
    let arn = "arn:aws:secretsmanager:us-west-2:111122223333:secret:retail/orders/report-StUvWx";
    let c = secrets(&sim, &clock, USW2);
    let v = c.get_secret_value().secret_id(arn).send().await.unwrap();
    assert_eq!(v.arn(), Some(arn));
    let creds: serde_json::Value = serde_json::from_str(v.secret_string().unwrap()).unwrap();
    assert_eq!(creds["dbname"], "orders");
    let by_name = c.get_secret_value().secret_id("retail/orders/report").send().await.unwrap();
    assert_eq!(by_name.arn(), Some(arn));

    let err = secrets(&sim, &clock, USE1).get_secret_value().secret_id(arn).send().await.unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception(), "a us-west-2 secret is not in us-east-1");

    let created = c.create_secret().name("drill/extra").secret_string("s3cr3t").send().await.unwrap();
    let got = c.get_secret_value().secret_id(created.arn().unwrap()).send().await.unwrap();
    assert_eq!(got.secret_string(), Some("s3cr3t"));
    let dup = c.create_secret().name("drill/extra").secret_string("x").send().await.unwrap_err();
    assert!(dup.into_service_error().is_resource_exists_exception());
}

// ----- S3 -----

#[tokio::test(start_paused = true)]
async fn s3_put_get_head_list_with_checksums_and_encryption() {
    let (sim, clock) = start().await;
    use aws_sdk_s3::primitives::ByteStream;
    use aws_sdk_s3::types::ServerSideEncryption;
    for (region, bucket) in [(USE1, BUCKET_USE1), (USW2, BUCKET_USW2)] {
        let c = s3(&sim, &clock, region);
        let body = format!("{{\"lost\": [1, 2, 3], \"region\": \"{region}\"}}");
        c.put_object()
            .bucket(bucket)
            .key("reports/exec-1/report.json")
            .content_type("application/json")
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id("arn:aws:kms:us-west-2:111122223333:key/k")
            .body(ByteStream::from(body.clone().into_bytes()))
            .send()
            .await
            .unwrap();
        c.put_object()
            .bucket(bucket)
            .key("reports/exec-1/report.csv")
            .body(ByteStream::from_static(b"id\n1\n"))
            .send()
            .await
            .unwrap();
        c.put_object().bucket(bucket).key("other/x").body(ByteStream::from_static(b"x")).send().await.unwrap();

        let got = c.get_object().bucket(bucket).key("reports/exec-1/report.json").send().await.unwrap();
        assert_eq!(got.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
        assert_eq!(got.content_type(), Some("application/json"));
        assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), body.as_bytes());

        let stored = sim.service::<S3>().object(bucket, "reports/exec-1/report.json").unwrap();
        assert_eq!(stored.sse, "aws:kms");
        assert_eq!(stored.kms_key_id.as_deref(), Some("arn:aws:kms:us-west-2:111122223333:key/k"));
        assert!(stored.checksum.is_some(), "the SDK's default checksum arrived: {stored:?}");
        assert_eq!(sim.service::<S3>().object(bucket, "other/x").unwrap().sse, "AES256", "SSE-S3 by default");

        let head = c.head_object().bucket(bucket).key("reports/exec-1/report.csv").send().await.unwrap();
        assert_eq!(head.content_length(), Some(5));

        let list = c.list_objects_v2().bucket(bucket).prefix("reports/").max_keys(1).send().await.unwrap();
        assert_eq!(list.contents().len(), 1);
        assert_eq!(list.is_truncated(), Some(true));
        let next = c
            .list_objects_v2()
            .bucket(bucket)
            .prefix("reports/")
            .continuation_token(list.next_continuation_token().unwrap())
            .send()
            .await
            .unwrap();
        let keys: Vec<&str> = next.contents().iter().filter_map(|o| o.key()).collect();
        assert_eq!(keys, ["reports/exec-1/report.json"]);
        let dirs = c.list_objects_v2().bucket(bucket).delimiter("/").send().await.unwrap();
        let prefixes: Vec<&str> = dirs.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
        assert_eq!(prefixes, ["other/", "reports/"]);
    }
}

#[tokio::test(start_paused = true)]
async fn s3_errors_no_such_key_no_such_bucket_not_found_wrong_region() {
    let (sim, clock) = start().await;
    let c = s3(&sim, &clock, USE1);
    let err = c.get_object().bucket(BUCKET_USE1).key("missing").send().await.unwrap_err();
    assert!(err.into_service_error().is_no_such_key());
    let err = c.head_object().bucket(BUCKET_USE1).key("missing").send().await.unwrap_err();
    assert!(err.into_service_error().is_not_found());
    let err = c.list_objects_v2().bucket("no-such-bucket").send().await.unwrap_err();
    assert!(err.into_service_error().is_no_such_bucket());
    let err = c.get_object().bucket(BUCKET_USW2).key("k").send().await.unwrap_err();
    assert_eq!(
        aws_smithy_types::error::metadata::ProvideErrorMetadata::code(&err),
        Some("AuthorizationHeaderMalformed")
    );
    // Without force_path_style the SDK still addresses an IP endpoint path-style.
    let plain = aws_sdk_s3::Client::new(&config(&clock, USE1, &url(&sim, service::S3)));
    plain
        .put_object()
        .bucket(BUCKET_USE1)
        .key("a b/c")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"1"))
        .send()
        .await
        .unwrap();
    assert_eq!(sim.service::<S3>().keys(BUCKET_USE1), ["a b/c"]);
    sim.set_throttle_rate(service::S3, 1.0);
    let err = c.get_object().bucket(BUCKET_USE1).key("missing").send().await.unwrap_err();
    assert_eq!(aws_smithy_types::error::metadata::ProvideErrorMetadata::code(&err), Some("SlowDown"));
}

// ----- the plan -----

#[tokio::test(start_paused = true)]
async fn the_plan_points_at_the_simulator_and_round_trips() {
    let (sim, _clock) = start().await;
    let plan = sim.plan();
    plan.validate().expect("the simulator's plan is valid");
    assert_eq!(plan.arc.cluster_endpoints.len(), 5);
    assert!(plan.arc.cluster_endpoints.iter().all(|e| e.url.starts_with("http://127.0.0.1:")));
    assert_eq!(plan.dns.name_servers, vec![sim.endpoints().dns.to_string()]);
    let dir = std::env::temp_dir().join(format!("regionsim-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("plan.yaml");
    sim.write_plan(&path).unwrap();
    let back = failover_core::Plan::from_yaml(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(back, plan);
    std::fs::remove_dir_all(&dir).unwrap();
    let vars = sim.endpoints().env_vars();
    assert!(vars.iter().any(|(k, v)| k == "AWS_ENDPOINT_URL_SNS" && v.starts_with("http://127.0.0.1:")));
}

// ----- the control API and the call log -----

async fn raw_request(addr: &std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out[9..12].parse().unwrap();
    let json = out.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(json).unwrap_or(serde_json::Value::Null))
}

#[tokio::test(start_paused = true)]
async fn the_control_api_drives_faults_over_http() {
    let (sim, clock) = start().await;
    let ctl = regionsim::control::start(&sim, "127.0.0.1:0".parse().unwrap()).await.unwrap();

    let (status, state) = raw_request(&ctl, "POST", "/arc/endpoints", r#"{"dead": 2, "kind": "hang"}"#).await;
    assert_eq!(status, 200);
    assert_eq!(state["arc_endpoints"][1]["fault"], "hang");
    assert_eq!(state["arc_endpoints"][2]["fault"], serde_json::Value::Null);
    assert_eq!(sim.endpoint_fault_at(service::ARC, 0), Some(EndpointFault::Hang));

    let (status, _) = raw_request(&ctl, "POST", "/regions/us-west-2/down", r#"{"mode": "refuse"}"#).await;
    assert_eq!(status, 200);
    assert!(!sim.region_up(USW2));
    raw_request(&ctl, "POST", "/regions/us-west-2/up", "").await;
    assert!(sim.region_up(USW2));
    let t = sim.health_transitions();
    assert_eq!(t.iter().map(|t| (t.region.as_str(), t.up)).collect::<Vec<_>>(), [(USW2, false), (USW2, true)]);

    raw_request(&ctl, "POST", "/latency", r#"{"service": "sns", "ms": 250}"#).await;
    raw_request(&ctl, "POST", "/throttle", r#"{"service": "secretsmanager", "rate": 1}"#).await;
    let before = clock.now();
    sns(&sim, &clock, USE1).publish().topic_arn(TOPIC_USE1).message("m").send().await.unwrap();
    assert_eq!(clock.now().duration_since(before).unwrap(), Duration::from_millis(250));
    let err = secrets(&sim, &clock, USE1).get_secret_value().secret_id("x").send().await.unwrap_err();
    assert_eq!(aws_smithy_types::error::metadata::ProvideErrorMetadata::code(&err), Some("ThrottlingException"));

    let (status, _) = raw_request(
        &ctl,
        "POST",
        "/alarms",
        r#"{"region": "us-west-2", "name": "retail-canary-watching-use1", "state": "ALARM"}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(sim.service::<CloudWatch>().alarm_state(USW2, "retail-canary-watching-use1").as_deref(), Some("ALARM"));

    sim.register_control(
        "stall",
        std::sync::Arc::new(|v: &serde_json::Value| Ok(serde_json::json!({ "got": v["stall"] }))),
    );
    let (status, out) = raw_request(&ctl, "POST", "/x/stall", r#"{"stall": true}"#).await;
    assert_eq!((status, out), (200, serde_json::json!({ "got": true })));

    let (status, err) = raw_request(&ctl, "POST", "/regions/eu-west-1/down", "").await;
    assert_eq!(status, 404);
    assert!(err["error"].as_str().unwrap().contains("eu-west-1"));
    let (status, _) = raw_request(&ctl, "POST", "/arc/endpoints/1", r#"{"fault": "sideways"}"#).await;
    assert_eq!(status, 400, "a bad fault kind is refused");

    let (_, state) = raw_request(&ctl, "GET", "/state", "").await;
    assert_eq!(state["api_calls"]["sns"]["Publish"], 1);
    assert_eq!(state["dns"]["values"][0], "192.0.2.10");
    let (_, msgs) = raw_request(&ctl, "GET", "/sns/messages", "").await;
    assert_eq!(msgs[0]["topic_arn"], TOPIC_USE1);
}

#[tokio::test(start_paused = true)]
async fn hung_calls_are_logged_without_a_status() {
    let (sim, clock) = start().await;
    sim.kill_endpoints(service::ARC, 1, EndpointFault::Hang);
    let _ =
        arc_client(&sim, &clock, 0).get_routing_control_state().routing_control_arn(RC_USE1).send().await.unwrap_err();
    let _ = state(&arc_client(&sim, &clock, 1), RC_USE1).await;
    let calls = sim.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!((calls[0].endpoint, calls[0].status), (0, None));
    assert_eq!((calls[1].endpoint, calls[1].status), (1, Some(200)));
    assert_eq!(calls[1].region.as_deref(), Some(USW2));
}

#[tokio::test(start_paused = true)]
async fn a_hung_connection_is_closed_unanswered_once_the_fault_clears() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (sim, clock) = start().await;
    sim.set_endpoint_fault(service::ARC, 2, Some(EndpointFault::Hang));
    let addr = sim.endpoints().arc[2].0.trim_start_matches("http://").trim_end_matches("/v1").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"POST /v1/ HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}").await.unwrap();
    let mut buf = Vec::new();
    let read = clock.timeout(Duration::from_secs(3600), s.read_to_end(&mut buf)).await;
    assert!(read.is_err(), "no answer for an hour while the endpoint hangs");
    sim.set_endpoint_fault(service::ARC, 2, None);
    let n = clock.timeout(Duration::from_secs(1), s.read_to_end(&mut buf)).await.expect("closed promptly");
    assert_eq!(n.unwrap_or(0), 0, "closed without an answer");
    assert!(buf.is_empty());
    assert!(sim.service::<ArcCluster>().set_control(RC_USW2, true));
    assert_eq!(state(&arc_client(&sim, &clock, 2), RC_USW2).await, "On");
}

#[tokio::test(start_paused = true)]
async fn a_refusing_endpoint_closes_its_pooled_connections_too() {
    let (sim, clock) = start().await;
    let c = arc_client(&sim, &clock, 4);
    assert_eq!(state(&c, RC_USE1).await, "On");
    sim.set_endpoint_fault(service::ARC, 4, Some(EndpointFault::Refuse));
    tokio::task::yield_now().await;
    let err = c.get_routing_control_state().routing_control_arn(RC_USE1).send().await.unwrap_err();
    match err {
        aws_sdk_route53recoverycluster::error::SdkError::DispatchFailure(d) => assert!(d.is_io(), "{d:?}"),
        other => panic!("expected a connection failure, got {other:?}"),
    }
    assert_eq!(sim.calls().len(), 1, "the second call never reached a server");
    sim.set_endpoint_fault(service::ARC, 4, None);
    tokio::task::yield_now().await;
    assert_eq!(state(&c, RC_USE1).await, "On", "the same client reconnects once the endpoint is back");
}

#[tokio::test(start_paused = true)]
async fn the_example_plan_shapes_the_simulator_and_its_cname_record() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/retail-store.plan.yaml")).unwrap();
    let plan = failover_core::Plan::from_yaml(&text).unwrap();
    let clock = SharedClock::virtual_at(common::epoch());
    let sim = SimBuilder::with_plan(clock.clone(), plan.clone()).world_as_planned().start().await.unwrap();
    let regions: Vec<&str> = sim.endpoints().arc.iter().map(|(_, r)| r.as_str()).collect();
    let wanted: Vec<&str> = plan.arc.cluster_endpoints.iter().map(|e| e.region.as_str()).collect();
    assert_eq!(regions, wanted);

    use hickory_proto::op::{Message, Query};
    use hickory_proto::rr::{Name, RData, RecordType};
    let ask = || async {
        let mut m = Message::new();
        m.set_id(7).add_query(Query::query(Name::from_ascii("shop.example.com").unwrap(), RecordType::CNAME));
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        sock.send_to(&m.to_vec().unwrap(), sim.endpoints().dns).await.unwrap();
        let mut buf = vec![0u8; 2048];
        let (n, _) = sock.recv_from(&mut buf).await.unwrap();
        let r = Message::from_vec(&buf[..n]).unwrap();
        r.answers()
            .iter()
            .map(|a| match a.data() {
                RData::CNAME(c) => (c.0.to_ascii(), a.ttl()),
                other => panic!("expected a CNAME, got {other:?}"),
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(ask().await, [("retail-ui-use1-1234567890.us-east-1.elb.amazonaws.com.".to_string(), 60)]);

    // Both Regions On: a CNAME still has one target, the primary's.
    let usw2 = &plan.arc.routing_controls["us-west-2"][0];
    assert!(sim.service::<ArcCluster>().set_control(usw2, true));
    clock.sleep(Duration::from_secs(30)).await;
    assert_eq!(ask().await.len(), 1);
    // Every Region Off: Route 53 answers as if all were healthy.
    let use1 = &plan.arc.routing_controls["us-east-1"][0];
    sim.service::<ArcCluster>().set_control(use1, false);
    sim.service::<ArcCluster>().set_control(usw2, false);
    clock.sleep(Duration::from_secs(30)).await;
    assert_eq!(ask().await[0].0, "retail-ui-use1-1234567890.us-east-1.elb.amazonaws.com.");
    sim.service::<ArcCluster>().set_control(usw2, true);
    clock.sleep(Duration::from_secs(30)).await;
    assert_eq!(ask().await[0].0, "retail-ui-usw2-0987654321.us-west-2.elb.amazonaws.com.");

    // The plan's report credentials and approval secrets exist in their Regions.
    let c = secrets(&sim, &clock, "us-west-2");
    for arn in [
        &plan.databases[1].report.as_ref().unwrap().credentials["us-west-2"],
        plan.stacks["us-west-2"].approval_secret.as_ref().unwrap(),
    ] {
        assert_eq!(c.get_secret_value().secret_id(arn.as_str()).send().await.unwrap().arn(), Some(arn.as_str()));
    }
    let cw = cloudwatch(&sim, &clock, "us-east-1").describe_alarms().send().await.unwrap();
    let names: Vec<_> = cw.metric_alarms().iter().filter_map(|a| a.alarm_name()).collect();
    assert_eq!(names, vec!["retail-canary-self-use1", "retail-canary-watching-usw2"]);
}

// ----- the modeled world -----

#[tokio::test(start_paused = true)]
async fn a_call_costs_the_worlds_latency_and_a_cross_region_call_a_round_trip_more() {
    let clock = SharedClock::virtual_at(common::epoch());
    let sim = SimBuilder::new(clock.clone()).seed(7).start().await.expect("the simulator starts");
    assert_eq!(sim.world(), &regionsim::world::World::draw(7), "the world is the seed's");
    sim.set_caller_regions(std::sync::Arc::new(|akid: &str| (akid == "AKIDTEST").then(|| USW2.to_string())));
    let mut took = Vec::new();
    for i in [1, 4] {
        let (_, region) = sim.endpoints().arc[i].clone();
        let before = clock.now();
        state(&arc_client(&sim, &clock, i), RC_USW2).await;
        let elapsed = clock.now().duration_since(before).unwrap();
        let want = sim.world().call_latency(service::ARC, Some(USW2), Some(region.as_str()));
        assert!(!want.is_zero());
        // The virtual clock's timers have a millisecond's resolution.
        assert!((want..=want + Duration::from_millis(2)).contains(&elapsed), "{region}: {elapsed:?} against {want:?}");
        took.push(elapsed);
    }
    assert!(took[1] > took[0] + Duration::from_millis(100), "ap-southeast-2 from us-west-2 is far: {took:?}");
}

/// A world as the plan believes, with the given resolvers: `(cache s, first fetch s, stretches)`.
async fn with_resolvers(resolvers: &[(u64, u64, bool)]) -> (Sim, SharedClock) {
    let clock = SharedClock::virtual_at(common::epoch());
    let mut world = regionsim::world::World::as_the_plan_believes(&regionsim::default_plan());
    world.health_check_propagation = Duration::from_secs(30);
    world.resolvers = resolvers
        .iter()
        .map(|(cache, phase, stretches)| regionsim::world::Resolver {
            cache: Duration::from_secs(*cache),
            phase: Duration::from_secs(*phase),
            stretches: *stretches,
        })
        .collect();
    let sim = SimBuilder::new(clock.clone()).world(world).start().await.expect("the simulator starts");
    (sim, clock)
}

#[tokio::test(start_paused = true)]
async fn resolvers_that_cache_past_the_ttl_delay_the_switch_their_clients_see() {
    let mut switched = Vec::new();
    for population in [vec![(60, 10, false), (60, 40, false)], vec![(60, 10, false), (60, 40, false), (150, 50, true)]]
    {
        let (sim, clock) = with_resolvers(&population).await;
        let start = clock.now();
        clock.sleep(Duration::from_secs(100)).await;
        let arc = sim.service::<ArcCluster>();
        arc.set_control(RC_USW2, true);
        arc.set_control(RC_USE1, false);
        let resolvers = sim.service::<regionsim::resolvers::Resolvers>();
        let west = vec![USW2.to_string()];
        clock.sleep(Duration::from_secs(40)).await;
        assert_eq!(sim.service::<Dns>().answer().regions, west, "the authoritative answer changed at 130 s");
        assert_eq!(resolvers.switched_by(&west, start, clock.now()), None, "the resolver fetching at 160 s has not");
        clock.sleep(Duration::from_secs(200)).await;
        assert_eq!(resolvers.answer(0, clock.now()).unwrap().regions, west);
        let at = resolvers.switched_by(&west, start, clock.now()).expect("every resolver answers us-west-2");
        switched.push(at.duration_since(start).unwrap());
        // The model's own figure for a change at 130 s agrees with what was observed.
        assert_eq!(resolvers.all_fetched_after(start + Duration::from_secs(130)), at);
    }
    // Fetches at 10, 70, 130 and 40, 100, 160: the honest population has switched at 160 s;
    // the resolver that keeps its answer for 150 s fetched at 50 s and again only at 200 s.
    assert_eq!(switched, vec![Duration::from_secs(160), Duration::from_secs(200)]);
    let (sim, clock) = with_resolvers(&[(60, 10, false), (150, 100, true)]).await;
    let start = clock.now();
    clock.sleep(Duration::from_secs(100)).await;
    sim.service::<ArcCluster>().set_control(RC_USW2, true);
    sim.service::<ArcCluster>().set_control(RC_USE1, false);
    clock.sleep(Duration::from_secs(400)).await;
    let at = sim.service::<regionsim::resolvers::Resolvers>().switched_by(&[USW2.to_string()], start, clock.now());
    assert_eq!(
        at.map(|t| t.duration_since(start).unwrap()),
        Some(Duration::from_secs(250)),
        "fetched at 100 s, then 250 s"
    );
}
