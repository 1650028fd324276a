//! routing-control over aws-smithy-mocks: one mock client per cluster endpoint, backed by
//! one shared fake of ARC's routing-control state.

use std::collections::BTreeMap;

use failover_core::ErrorKind;
use failover_core::contract::RoutingState;
use failover_core::contract::routing::{AllowAllOff, RoutingControlInput};
use failover_steps::routing_control;

mod support;
use support::{Behaviour, FakeArc, SAFETY_MSG, plan, to_west};

const ALL_HEALTHY: [Behaviour; 5] = [Behaviour::Healthy; 5];

#[tokio::test(start_paused = true)]
async fn updates_both_regions_in_one_call_and_reads_back() {
    let plan = plan();
    let fake = FakeArc::new(&plan, "us-east-1");
    let clients = fake.clients(&plan, &ALL_HEALTHY);
    let out = routing_control::handle(to_west(&plan), &clients).await.unwrap();
    assert!(out.changed);
    assert_eq!(fake.update_count(), 1, "one UpdateRoutingControlStates for both Regions");
    let (_, entries, overrides) = fake.updates.lock().unwrap()[0].clone();
    assert_eq!(entries.len(), 2, "both Regions' controls in the one update");
    assert!(overrides.is_empty(), "no safety rule overridden unless asked");
    for c in &out.controls {
        let want = if c.region == "us-west-2" { RoutingState::On } else { RoutingState::Off };
        assert_eq!(c.state, want, "{c:?}");
    }
    assert!(out.failed_endpoints.is_empty());
    assert_ne!(out.endpoint.region, "us-east-1", "the Region being switched Off is tried last");
}

#[tokio::test(start_paused = true)]
async fn already_as_requested_succeeds_without_an_update() {
    let plan = plan();
    let fake = FakeArc::new(&plan, "us-west-2");
    let clients = fake.clients(&plan, &ALL_HEALTHY);
    let out = routing_control::handle(to_west(&plan), &clients).await.unwrap();
    assert!(!out.changed);
    assert_eq!(fake.update_count(), 0);
    // And a second run after a real change repeats nothing either.
    let fake = FakeArc::new(&plan, "us-east-1");
    let clients = fake.clients(&plan, &ALL_HEALTHY);
    routing_control::handle(to_west(&plan), &clients).await.unwrap();
    let again = routing_control::handle(to_west(&plan), &clients).await.unwrap();
    assert!(!again.changed);
    assert_eq!(fake.update_count(), 1, "a retried task does not update again");
}

#[tokio::test(start_paused = true)]
async fn conflict_then_success() {
    let plan = plan();
    let fake = FakeArc::new(&plan, "us-east-1");
    let clients = fake.clients(&plan, &[Behaviour::Conflict(2); 5]);
    let out = routing_control::handle(to_west(&plan), &clients).await.unwrap();
    assert!(out.changed);
    assert_eq!(fake.update_count(), 3, "two conflicts, then the update goes through");
    assert!(out.failed_endpoints.is_empty(), "a conflict is not an endpoint failure");
}

#[tokio::test(start_paused = true)]
async fn conflict_every_time_is_bounded_and_reported() {
    let plan = plan();
    let fake = FakeArc::new(&plan, "us-east-1");
    let clients = fake.clients(&plan, &[Behaviour::Conflict(u32::MAX); 5]);
    let err = routing_control::handle(to_west(&plan), &clients).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict);
    assert_eq!(fake.update_count(), 1 + plan.arc.conflict_retries as usize);
    assert!(err.message.contains("another update is in progress"), "ARC's message is kept: {}", err.message);
}

#[tokio::test(start_paused = true)]
async fn four_endpoints_failing_then_the_fifth_succeeds() {
    let plan = plan();
    let fake = FakeArc::new(&plan, "us-east-1");
    // Endpoint 1 (us-west-2) is the healthy one; the others fail each in its own way.
    let behaviours = [
        Behaviour::Unavailable,
        Behaviour::Healthy,
        Behaviour::Http503,
        Behaviour::Throttled,
        Behaviour::InternalError,
    ];
    let clients = fake.clients(&plan, &behaviours);
    let out = routing_control::handle(to_west(&plan), &clients).await.unwrap();
    assert!(out.changed);
    assert_eq!(out.endpoint.url, plan.arc.cluster_endpoints[1].url);
    assert_eq!(out.endpoint.region, "us-west-2");
    assert_eq!(fake.update_count(), 1);
    let mut kinds: Vec<&str> = out.failed_endpoints.iter().map(|f| f.kind.as_str()).collect();
    kinds.sort();
    // Only the endpoints tried before the healthy one appear; the order is shuffled, so
    // check every recorded failure is classified correctly.
    for f in &out.failed_endpoints {
        let i = plan.arc.cluster_endpoints.iter().position(|e| e.url == f.url).unwrap();
        let want = match behaviours[i] {
            Behaviour::Unavailable => "unavailable",
            Behaviour::Http503 => "http-5xx",
            Behaviour::Throttled => "throttled",
            Behaviour::InternalError => "http-5xx",
            b => panic!("a healthy endpoint recorded as failed: {b:?}"),
        };
        assert_eq!(f.kind, want, "{f:?}");
        assert_eq!(f.region, plan.arc.cluster_endpoints[i].region);
    }
}

#[tokio::test(start_paused = true)]
async fn every_endpoint_failing_is_a_clear_error() {
    let plan = plan();
    let fake = FakeArc::new(&plan, "us-east-1");
    let behaviours = [
        Behaviour::Unavailable,
        Behaviour::Http503,
        Behaviour::Throttled,
        Behaviour::InternalError,
        Behaviour::Unavailable,
    ];
    let clients = fake.clients(&plan, &behaviours);
    let err = routing_control::handle(to_west(&plan), &clients).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::EndpointsUnavailable);
    for ep in &plan.arc.cluster_endpoints {
        assert!(err.message.contains(&ep.url), "{} missing from: {}", ep.url, err.message);
    }
    assert_eq!(fake.update_count(), 0);
    let reads = fake.reads.lock().unwrap();
    assert_eq!(reads.len(), 5, "each endpoint tried");
    assert!(reads.values().all(|n| *n == 1), "each endpoint tried once: {reads:?}");
}

#[tokio::test(start_paused = true)]
async fn leaving_no_region_on_is_refused_locally_unless_allowed_with_a_reason() {
    let plan = plan();
    let fake = FakeArc::new(&plan, "us-east-1");
    let clients = fake.clients(&plan, &ALL_HEALTHY);
    let mut input = to_west(&plan);
    input.states.insert("us-west-2".into(), RoutingState::Off);
    let err = routing_control::handle(input.clone(), &clients).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::SafetyRefusal);
    assert!(err.message.contains("allow_all_off"), "{}", err.message);
    assert_eq!(fake.update_count(), 0);
    assert!(fake.reads.lock().unwrap().is_empty(), "refused before any call");

    input.allow_all_off = Some(AllowAllOff { reason: "  ".into() });
    let err = routing_control::handle(input.clone(), &clients).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadInput);
    assert!(err.message.starts_with("allow_all_off.reason:"), "{}", err.message);

    input.allow_all_off = Some(AllowAllOff { reason: "game day: both Regions drained".into() });
    let out = routing_control::handle(input, &clients).await.unwrap();
    assert!(out.controls.iter().all(|c| c.state == RoutingState::Off));
    assert_eq!(out.all_off_reason.as_deref(), Some("game day: both Regions drained"));
}

#[tokio::test(start_paused = true)]
async fn arc_safety_rule_rejection_is_surfaced_verbatim() {
    let plan = plan();
    let fake = FakeArc::new(&plan, "us-east-1");
    let clients = fake.clients(&plan, &[Behaviour::SafetyRule; 5]);
    let err = routing_control::handle(to_west(&plan), &clients).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::SafetyRefusal);
    assert!(err.message.contains(SAFETY_MSG), "{}", err.message);
    assert_eq!(fake.update_count(), 1, "a rejection is final: not retried on other endpoints");
}

#[tokio::test(start_paused = true)]
async fn overriding_a_safety_rule_is_explicit_and_passed_by_arn() {
    let plan = plan();
    let fake = FakeArc::new(&plan, "us-east-1");
    let clients = fake.clients(&plan, &ALL_HEALTHY);
    let mut input = to_west(&plan);
    input.override_safety_rules = vec!["at-least-one-region-on".into()];
    let out = routing_control::handle(input.clone(), &clients).await.unwrap();
    let arn = plan.arc.safety_rules[0].arn.clone();
    assert_eq!(out.overridden_safety_rules, vec![arn.clone()]);
    assert_eq!(fake.updates.lock().unwrap()[0].2, vec![arn]);

    input.override_safety_rules = vec!["no-such-rule".into()];
    let err = routing_control::handle(input, &clients).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadInput);
    assert!(err.message.starts_with("override_safety_rules[0]: `no-such-rule`"), "{}", err.message);
}

#[tokio::test(start_paused = true)]
async fn access_denied_stops_and_names_the_controls() {
    let plan = plan();
    let fake = FakeArc::new(&plan, "us-east-1");
    let clients = fake.clients(&plan, &[Behaviour::DeniedOnUpdate; 5]);
    let err = routing_control::handle(to_west(&plan), &clients).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::AccessDenied);
    for c in plan.arc.routing_controls.values().flatten() {
        assert!(err.message.contains(c), "{c} missing from: {}", err.message);
    }
    assert_eq!(fake.update_count(), 1, "access denied is not retried elsewhere");
}

#[tokio::test(start_paused = true)]
async fn throttling_everywhere_but_one_endpoint() {
    let plan = plan();
    let fake = FakeArc::new(&plan, "us-east-1");
    let mut behaviours = [Behaviour::Throttled; 5];
    behaviours[0] = Behaviour::Healthy; // us-east-1's endpoint: tried last, since it goes Off
    let clients = fake.clients(&plan, &behaviours);
    let out = routing_control::handle(to_west(&plan), &clients).await.unwrap();
    assert_eq!(out.endpoint.region, "us-east-1");
    assert_eq!(out.failed_endpoints.len(), 4);
    assert!(out.failed_endpoints.iter().all(|f| f.kind == "throttled"));
}

#[test]
fn bad_input_names_the_field() {
    let plan = plan();
    let mut v = serde_json::to_value(to_west(&plan)).unwrap();
    v["states"]["us-west-2"] = serde_json::json!("ON");
    let err = failover_core::contract::parse_input::<RoutingControlInput>(v).unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadInput);
    assert!(err.message.starts_with("states.us-west-2: unknown variant `ON`"), "{}", err.message);

    let mut input = to_west(&plan);
    input.states.remove("us-east-1");
    let err = input.validate().unwrap_err();
    assert!(err.message.starts_with("states: the requested state of Region `us-east-1` is missing"), "{}", err.message);

    let mut input = to_west(&plan);
    input.plan.objectives.rto_seconds = 0;
    let err = input.validate().unwrap_err();
    assert!(err.message.starts_with("plan.objectives.rto_seconds:"), "{}", err.message);
}

#[test]
fn endpoint_order_is_shuffled_with_the_switched_off_region_last() {
    let plan = plan();
    let input = to_west(&plan);
    let mut firsts = std::collections::BTreeSet::new();
    for seed in 0..40 {
        let order = routing_control::endpoint_order(&input, Some(seed));
        assert_eq!(order.len(), 5);
        assert_eq!(order[4].region, "us-east-1", "seed {seed}: the Region going Off is last");
        firsts.insert(order[0].url.clone());
    }
    assert!(firsts.len() >= 3, "the first endpoint varies with the shuffle: {firsts:?}");
}

#[tokio::test(start_paused = true)]
async fn target_region_is_shorthand_for_target_on_other_off() {
    let plan = plan();
    let fake = FakeArc::new(&plan, "us-east-1");
    let clients = fake.clients(&plan, &ALL_HEALTHY);
    let input = RoutingControlInput {
        plan: plan.clone(),
        states: BTreeMap::new(),
        target_region: Some("us-west-2".into()),
        allow_all_off: None,
        override_safety_rules: vec![],
    };
    let out = routing_control::handle(input.clone(), &clients).await.unwrap();
    assert!(out.changed);
    for c in &out.controls {
        let want = if c.region == "us-west-2" { RoutingState::On } else { RoutingState::Off };
        assert_eq!(c.state, want);
    }
    let mut both = input;
    both.states.insert("us-east-1".into(), RoutingState::On);
    both.states.insert("us-west-2".into(), RoutingState::On);
    let err = both.validate().unwrap_err();
    assert!(err.message.starts_with("target_region: give either"), "{}", err.message);
}
