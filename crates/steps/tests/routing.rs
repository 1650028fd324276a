//! routing-control over aws-smithy-mocks: one mock client per cluster endpoint, backed by
//! one shared fake of ARC's routing-control state.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::retry::RetryConfig;
use aws_sdk_route53recoverycluster as arc;
use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use arc::operation::get_routing_control_state::{GetRoutingControlStateError, GetRoutingControlStateOutput};
use arc::operation::update_routing_control_states::{
    UpdateRoutingControlStatesError, UpdateRoutingControlStatesOutput,
};
use arc::types::RoutingControlState;
use arc::types::error::{
    AccessDeniedException, ConflictException, EndpointTemporarilyUnavailableException, InternalServerException,
    ThrottlingException, ValidationException,
};
use failover_core::contract::RoutingState;
use failover_core::contract::routing::{AllowAllOff, RoutingControlInput};
use failover_core::{ErrorKind, Plan, SharedClock};
use failover_steps::aws::AwsClients;
use failover_steps::routing;

const PLAN: &str = include_str!("../../../examples/retail-store.plan.yaml");
const SAFETY_MSG: &str = "Cannot update the routing control state: the change would violate safety rule \
                          at-least-one-region-on (assertion rule: at least 1 of 2 controls must be On)";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Behaviour {
    Healthy,
    Unavailable,
    Http503,
    Throttled,
    InternalError,
    /// Answers reads, but the update gets ConflictException this many times, then succeeds.
    Conflict(u32),
    DeniedOnUpdate,
    SafetyRule,
}

/// ARC's state, shared by all five endpoints, and what each endpoint does.
struct FakeArc {
    states: Arc<Mutex<BTreeMap<String, RoutingControlState>>>,
    updates: Arc<Mutex<Vec<(String, Vec<(String, RoutingControlState)>, Vec<String>)>>>,
    reads: Arc<Mutex<BTreeMap<String, u32>>>,
}

fn meta(code: &str, msg: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(msg).build()
}

impl FakeArc {
    fn new(plan: &Plan, on: &str) -> Self {
        let mut states = BTreeMap::new();
        for (region, controls) in &plan.arc.routing_controls {
            for c in controls {
                let s = if region == on { RoutingControlState::On } else { RoutingControlState::Off };
                states.insert(c.clone(), s);
            }
        }
        FakeArc {
            states: Arc::new(Mutex::new(states)),
            updates: Arc::default(),
            reads: Arc::default(),
        }
    }

    fn client(&self, url: &str, b: Behaviour) -> arc::Client {
        let states = self.states.clone();
        let reads = self.reads.clone();
        let u = url.to_string();
        let get = mock!(arc::Client::get_routing_control_state).then_compute_response(move |req| {
            *reads.lock().unwrap().entry(u.clone()).or_default() += 1;
            let arn = req.routing_control_arn().unwrap().to_string();
            match b {
                Behaviour::Unavailable => MockResponse::Error(
                    GetRoutingControlStateError::EndpointTemporarilyUnavailableException(
                        EndpointTemporarilyUnavailableException::builder()
                            .message("endpoint unavailable")
                            .meta(meta("EndpointTemporarilyUnavailableException", "endpoint unavailable"))
                            .build()
                            .unwrap(),
                    ),
                ),
                Behaviour::Http503 => MockResponse::Http(http_status(503)),
                Behaviour::Throttled => MockResponse::Error(GetRoutingControlStateError::ThrottlingException(
                    ThrottlingException::builder()
                        .message("slow down")
                        .meta(meta("ThrottlingException", "slow down"))
                        .build()
                        .unwrap(),
                )),
                Behaviour::InternalError => {
                    MockResponse::Error(GetRoutingControlStateError::InternalServerException(
                        InternalServerException::builder()
                            .message("oops")
                            .meta(meta("InternalServerException", "oops"))
                            .build()
                            .unwrap(),
                    ))
                }
                _ => {
                    let s = states.lock().unwrap().get(&arn).cloned().expect("known control");
                    MockResponse::Output(
                        GetRoutingControlStateOutput::builder()
                            .routing_control_arn(arn)
                            .routing_control_state(s)
                            .build()
                            .unwrap(),
                    )
                }
            }
        });
        let states = self.states.clone();
        let updates = self.updates.clone();
        let conflicts = Arc::new(Mutex::new(0u32));
        let u = url.to_string();
        let update = mock!(arc::Client::update_routing_control_states).then_compute_response(move |req| {
            let entries: Vec<(String, RoutingControlState)> = req
                .update_routing_control_state_entries()
                .iter()
                .map(|e| (e.routing_control_arn().to_string(), e.routing_control_state().clone()))
                .collect();
            let overrides = req.safety_rules_to_override().to_vec();
            updates.lock().unwrap().push((u.clone(), entries.clone(), overrides));
            match b {
                Behaviour::Conflict(n) => {
                    let mut c = conflicts.lock().unwrap();
                    if *c < n {
                        *c += 1;
                        return MockResponse::Error(UpdateRoutingControlStatesError::ConflictException(
                            ConflictException::builder()
                                .message("another update is in progress")
                                .resource_id("x")
                                .resource_type("routingcontrol")
                                .meta(meta("ConflictException", "another update is in progress"))
                                .build()
                                .unwrap(),
                        ));
                    }
                }
                Behaviour::DeniedOnUpdate => {
                    return MockResponse::Error(UpdateRoutingControlStatesError::AccessDeniedException(
                        AccessDeniedException::builder()
                            .message("not authorized to perform UpdateRoutingControlStates")
                            .meta(meta("AccessDeniedException", "not authorized to perform UpdateRoutingControlStates"))
                            .build()
                            .unwrap(),
                    ));
                }
                Behaviour::SafetyRule => {
                    return MockResponse::Error(UpdateRoutingControlStatesError::ValidationException(
                        ValidationException::builder()
                            .message(SAFETY_MSG)
                            .meta(meta("ValidationException", SAFETY_MSG))
                            .build()
                            .unwrap(),
                    ));
                }
                _ => {}
            }
            let mut s = states.lock().unwrap();
            for (arn, st) in entries {
                s.insert(arn, st);
            }
            MockResponse::Output(UpdateRoutingControlStatesOutput::builder().build())
        });
        mock_client!(arc, RuleMode::MatchAny, [&get, &update], |c| c.retry_config(RetryConfig::disabled()))
    }

    fn clients(&self, plan: &Plan, behaviours: &[Behaviour]) -> AwsClients {
        let mut by_url = BTreeMap::new();
        for (ep, b) in plan.arc.cluster_endpoints.iter().zip(behaviours) {
            by_url.insert(ep.url.clone(), self.client(&ep.url, *b));
        }
        let mut clients = AwsClients::from_sdk_config(
            aws_config::SdkConfig::builder().build(),
            SharedClock::virtual_at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
        );
        clients.seed = Some(7);
        clients.arc = Arc::new(move |ep, _| by_url.get(&ep.url).expect("endpoint of the plan").clone());
        clients
    }

    fn update_count(&self) -> usize {
        self.updates.lock().unwrap().len()
    }
}

fn http_status(code: u16) -> aws_smithy_runtime_api::client::orchestrator::HttpResponse {
    aws_smithy_runtime_api::client::orchestrator::HttpResponse::new(
        code.try_into().unwrap(),
        aws_smithy_types::body::SdkBody::from("service unavailable"),
    )
}

fn plan() -> Plan {
    Plan::from_yaml(PLAN).unwrap()
}

/// Fail over to us-west-2: us-west-2 On, us-east-1 Off.
fn to_west(plan: &Plan) -> RoutingControlInput {
    let mut states = BTreeMap::new();
    states.insert("us-east-1".to_string(), RoutingState::Off);
    states.insert("us-west-2".to_string(), RoutingState::On);
    RoutingControlInput { plan: plan.clone(), states, allow_all_off: None, override_safety_rules: vec![] }
}

const ALL_HEALTHY: [Behaviour; 5] = [Behaviour::Healthy; 5];

#[tokio::test(start_paused = true)]
async fn updates_both_regions_in_one_call_and_reads_back() {
    let plan = plan();
    let fake = FakeArc::new(&plan, "us-east-1");
    let clients = fake.clients(&plan, &ALL_HEALTHY);
    let out = routing::handle(to_west(&plan), &clients).await.unwrap();
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
    let out = routing::handle(to_west(&plan), &clients).await.unwrap();
    assert!(!out.changed);
    assert_eq!(fake.update_count(), 0);
    // And a second run after a real change repeats nothing either.
    let fake = FakeArc::new(&plan, "us-east-1");
    let clients = fake.clients(&plan, &ALL_HEALTHY);
    routing::handle(to_west(&plan), &clients).await.unwrap();
    let again = routing::handle(to_west(&plan), &clients).await.unwrap();
    assert!(!again.changed);
    assert_eq!(fake.update_count(), 1, "a retried task does not update again");
}

#[tokio::test(start_paused = true)]
async fn conflict_then_success() {
    let plan = plan();
    let fake = FakeArc::new(&plan, "us-east-1");
    let clients = fake.clients(&plan, &[Behaviour::Conflict(2); 5]);
    let out = routing::handle(to_west(&plan), &clients).await.unwrap();
    assert!(out.changed);
    assert_eq!(fake.update_count(), 3, "two conflicts, then the update goes through");
    assert!(out.failed_endpoints.is_empty(), "a conflict is not an endpoint failure");
}

#[tokio::test(start_paused = true)]
async fn conflict_every_time_is_bounded_and_reported() {
    let plan = plan();
    let fake = FakeArc::new(&plan, "us-east-1");
    let clients = fake.clients(&plan, &[Behaviour::Conflict(u32::MAX); 5]);
    let err = routing::handle(to_west(&plan), &clients).await.unwrap_err();
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
    let out = routing::handle(to_west(&plan), &clients).await.unwrap();
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
    let err = routing::handle(to_west(&plan), &clients).await.unwrap_err();
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
    let err = routing::handle(input.clone(), &clients).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::SafetyRefusal);
    assert!(err.message.contains("allow_all_off"), "{}", err.message);
    assert_eq!(fake.update_count(), 0);
    assert!(fake.reads.lock().unwrap().is_empty(), "refused before any call");

    input.allow_all_off = Some(AllowAllOff { reason: "  ".into() });
    let err = routing::handle(input.clone(), &clients).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadInput);
    assert!(err.message.starts_with("allow_all_off.reason:"), "{}", err.message);

    input.allow_all_off = Some(AllowAllOff { reason: "game day: both Regions drained".into() });
    let out = routing::handle(input, &clients).await.unwrap();
    assert!(out.controls.iter().all(|c| c.state == RoutingState::Off));
    assert_eq!(out.all_off_reason.as_deref(), Some("game day: both Regions drained"));
}

#[tokio::test(start_paused = true)]
async fn arc_safety_rule_rejection_is_surfaced_verbatim() {
    let plan = plan();
    let fake = FakeArc::new(&plan, "us-east-1");
    let clients = fake.clients(&plan, &[Behaviour::SafetyRule; 5]);
    let err = routing::handle(to_west(&plan), &clients).await.unwrap_err();
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
    let out = routing::handle(input.clone(), &clients).await.unwrap();
    let arn = plan.arc.safety_rules[0].arn.clone();
    assert_eq!(out.overridden_safety_rules, vec![arn.clone()]);
    assert_eq!(fake.updates.lock().unwrap()[0].2, vec![arn]);

    input.override_safety_rules = vec!["no-such-rule".into()];
    let err = routing::handle(input, &clients).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadInput);
    assert!(err.message.starts_with("override_safety_rules[0]: `no-such-rule`"), "{}", err.message);
}

#[tokio::test(start_paused = true)]
async fn access_denied_stops_and_names_the_controls() {
    let plan = plan();
    let fake = FakeArc::new(&plan, "us-east-1");
    let clients = fake.clients(&plan, &[Behaviour::DeniedOnUpdate; 5]);
    let err = routing::handle(to_west(&plan), &clients).await.unwrap_err();
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
    let out = routing::handle(to_west(&plan), &clients).await.unwrap();
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
        let order = routing::endpoint_order(&input, Some(seed));
        assert_eq!(order.len(), 5);
        assert_eq!(order[4].region, "us-east-1", "seed {seed}: the Region going Off is last");
        firsts.insert(order[0].url.clone());
    }
    assert!(firsts.len() >= 3, "the first endpoint varies with the shuffle: {firsts:?}");
}
