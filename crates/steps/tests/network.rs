//! The steps over real sockets, against regionsim's ARC endpoints, DNS, web and CloudWatch
//! on 127.0.0.1: dead endpoints refuse, hang, answer 5xx or
//! EndpointTemporarilyUnavailableException, and the update still goes through. Time is
//! virtual: a hanging endpoint costs its 100 ms timeout on the paused clock, no wall time.

use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use failover_core::contract::RoutingState;
use failover_core::contract::health::{HealthChecks, Verdict, VerifyHealthInput};
use failover_core::{ErrorKind, Plan, SharedClock};
use failover_steps::aws::AwsClients;
use failover_steps::{routing_control, verify_health};
use regionsim::{EndpointFault, Sim, SimBuilder, service};

mod support;
use support::to_west;

fn epoch() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

async fn start() -> (Sim, AwsClients, Plan) {
    let clock = SharedClock::virtual_at(epoch());
    let sim = SimBuilder::new(clock.clone()).seed(11).world_as_planned().start().await.expect("the simulator starts");
    let mut plan = sim.plan();
    plan.arc.timeouts.connect_ms = 100;
    plan.arc.timeouts.attempt_ms = 100;
    let base = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDTEST", "secret", None, None, "test",
        )))
        .endpoint_url(sim.endpoints().url(service::CLOUDWATCH).unwrap())
        .build();
    let mut clients = AwsClients::from_sdk_config(base, clock);
    clients.seed = Some(3);
    (sim, clients, plan)
}

#[tokio::test(start_paused = true)]
async fn four_dead_endpoints_each_dead_differently_and_the_fifth_carries_the_update() {
    let (sim, clients, plan) = start().await;
    // Endpoint 0 is us-east-1's, the Region being switched Off: tried last, so every dead
    // endpoint is tried first.
    let faults = [
        (1, EndpointFault::Refuse, "connect"),
        (2, EndpointFault::Hang, "timeout"),
        (3, EndpointFault::ServerError, "http-5xx"),
        (4, EndpointFault::Unavailable, "unavailable"),
    ];
    for (i, fault, _) in faults {
        sim.set_endpoint_fault(service::ARC, i, Some(fault));
    }
    let started = clients.clock.now();
    let out =
        routing_control::handle(to_west(&plan), &clients).await.expect("the update goes through the fifth endpoint");
    assert!(out.changed);
    assert_eq!(out.endpoint.url, plan.arc.cluster_endpoints[0].url);
    assert_eq!(out.failed_endpoints.len(), 4, "{:#?}", out.failed_endpoints);
    for (i, _, kind) in faults {
        let f = out.failed_endpoints.iter().find(|f| f.url == plan.arc.cluster_endpoints[i].url).unwrap();
        assert_eq!(f.kind, kind, "endpoint {i}: {f:?}");
        assert_eq!(f.region, plan.arc.cluster_endpoints[i].region);
    }
    // Only the hanging endpoint costs time: its 100 ms attempt timeout.
    let took = clients.clock.now().duration_since(started).unwrap();
    assert!(took >= Duration::from_millis(100) && took < Duration::from_millis(400), "took {took:?}");

    let calls: Vec<_> = sim.calls().into_iter().filter(|c| c.service == service::ARC).collect();
    let per_endpoint = |i: usize| calls.iter().filter(|c| c.endpoint == i).collect::<Vec<_>>();
    assert!(per_endpoint(1).is_empty(), "nothing listens on a refusing endpoint");
    // The hanging endpoint accepted the connection and never read the request: it shows
    // in the failure kind and the 100 ms it cost, not in the server's call log.
    for i in [3, 4] {
        let c = per_endpoint(i);
        assert_eq!(c.len(), 1, "endpoint {i} is tried exactly once: {c:?}");
        assert_eq!(c[0].operation, "GetRoutingControlState");
        assert_eq!(
            c[0].region.as_deref(),
            Some(plan.arc.cluster_endpoints[i].region.as_str()),
            "signed for its own Region"
        );
    }
    let good = per_endpoint(0);
    let ops: Vec<&str> = good.iter().map(|c| c.operation.as_str()).collect();
    assert_eq!(
        ops,
        vec![
            "GetRoutingControlState",
            "GetRoutingControlState",
            "UpdateRoutingControlStates",
            "GetRoutingControlState",
            "GetRoutingControlState"
        ]
    );
    assert!(good.iter().all(|c| c.region.as_deref() == Some("us-east-1")), "signed for us-east-1: {good:?}");
    assert_eq!(good.iter().filter(|c| c.mutating).count(), 1, "one mutating call");
}

#[tokio::test(start_paused = true)]
async fn all_five_dead_is_a_clear_error_naming_each() {
    let (sim, clients, plan) = start().await;
    sim.kill_arc_endpoints(5, EndpointFault::Hang);
    let err = routing_control::handle(to_west(&plan), &clients).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::EndpointsUnavailable);
    assert_eq!(err.message.matches("timeout: no answer in time").count(), 5, "{}", err.message);
}

#[tokio::test(start_paused = true)]
async fn the_simulated_safety_rule_rejects_all_off_unless_overridden() {
    let (_sim, clients, plan) = start().await;
    let mut input = to_west(&plan);
    input.states.insert("us-west-2".into(), RoutingState::Off);
    input.allow_all_off = Some(failover_core::contract::routing::AllowAllOff { reason: "drill".into() });
    let err = routing_control::handle(input.clone(), &clients).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::SafetyRefusal, "{err}");
    input.override_safety_rules = vec!["at-least-one-region-on".into()];
    let out = routing_control::handle(input, &clients).await.unwrap();
    assert!(out.controls.iter().all(|c| c.state == RoutingState::Off));
}

#[tokio::test(start_paused = true)]
async fn verify_health_waits_for_dns_propagation_then_reports_the_ttl() {
    let (_sim, clients, plan) = start().await;
    routing_control::handle(to_west(&plan), &clients).await.unwrap();
    let input = VerifyHealthInput {
        plan: plan.clone(),
        target_region: "us-west-2".into(),
        states: None,
        changed_at: None,
        checks: HealthChecks::default(),
        impaired_region: None,
    };
    let err = verify_health::handle(input.clone(), &clients).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotHealthyYet);
    assert!(err.message.contains("dns"), "Route 53 has not seen the change yet: {}", err.message);

    clients.clock.sleep(Duration::from_secs(plan.dns.health_check_propagation_seconds as u64 + 1)).await;
    let out = verify_health::handle(input, &clients).await.expect("healthy once the change propagated");
    assert!(out.checks.iter().all(|c| c.verdict == Verdict::Pass), "{:#?}", out.checks);
    assert_eq!(out.dns_ttl_seconds, Some(plan.dns.ttl_seconds));
    let by = failover_core::time_fmt::parse_rfc3339(out.clients_switched_by.as_deref().unwrap()).unwrap();
    assert_eq!(by.duration_since(clients.clock.now()).unwrap().as_secs(), u64::from(plan.dns.ttl_seconds));
}
