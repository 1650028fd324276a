//! Test support shared by the step tests: a fake ARC behind aws-smithy-mocks clients.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc::operation::get_routing_control_state::{GetRoutingControlStateError, GetRoutingControlStateOutput};
use arc::operation::update_routing_control_states::{
    UpdateRoutingControlStatesError, UpdateRoutingControlStatesOutput,
};
use arc::types::RoutingControlState;
use arc::types::error::{
    AccessDeniedException, ConflictException, EndpointTemporarilyUnavailableException, InternalServerException,
    ThrottlingException, ValidationException,
};
use aws_config::retry::RetryConfig;
use aws_sdk_route53recoverycluster as arc;
use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use failover_core::contract::RoutingState;
use failover_core::contract::routing::RoutingControlInput;
use failover_core::{Plan, SharedClock};
use failover_steps::aws::AwsClients;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const PLAN: &str = include_str!("../../../../examples/retail-store.plan.yaml");
pub const SAFETY_MSG: &str = "Cannot update the routing control state: the change would violate safety rule \
                          at-least-one-region-on (assertion rule: at least 1 of 2 controls must be On)";

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Behaviour {
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

/// One update as an endpoint received it: (endpoint URL, entries, safety rules overridden).
pub type Update = (String, Vec<(String, RoutingControlState)>, Vec<String>);

/// ARC's state, shared by all five endpoints, and what each endpoint does.
pub struct FakeArc {
    pub states: Arc<Mutex<BTreeMap<String, RoutingControlState>>>,
    pub updates: Arc<Mutex<Vec<Update>>>,
    pub reads: Arc<Mutex<BTreeMap<String, u32>>>,
}

pub fn meta(code: &str, msg: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(msg).build()
}

impl FakeArc {
    pub fn new(plan: &Plan, on: &str) -> Self {
        let mut states = BTreeMap::new();
        for (region, controls) in &plan.arc.routing_controls {
            for c in controls {
                let s = if region == on { RoutingControlState::On } else { RoutingControlState::Off };
                states.insert(c.clone(), s);
            }
        }
        FakeArc { states: Arc::new(Mutex::new(states)), updates: Arc::default(), reads: Arc::default() }
    }

    pub fn client(&self, url: &str, b: Behaviour) -> arc::Client {
        let states = self.states.clone();
        let reads = self.reads.clone();
        let u = url.to_string();
        let get = mock!(arc::Client::get_routing_control_state).then_compute_response(move |req| {
            *reads.lock().unwrap().entry(u.clone()).or_default() += 1;
            let arn = req.routing_control_arn().unwrap().to_string();
            match b {
                Behaviour::Unavailable => {
                    MockResponse::Error(GetRoutingControlStateError::EndpointTemporarilyUnavailableException(
                        EndpointTemporarilyUnavailableException::builder()
                            .message("endpoint unavailable")
                            .meta(meta("EndpointTemporarilyUnavailableException", "endpoint unavailable"))
                            .build()
                            .unwrap(),
                    ))
                }
                Behaviour::Http503 => MockResponse::Http(http_status(503)),
                Behaviour::Throttled => MockResponse::Error(GetRoutingControlStateError::ThrottlingException(
                    ThrottlingException::builder()
                        .message("slow down")
                        .meta(meta("ThrottlingException", "slow down"))
                        .build()
                        .unwrap(),
                )),
                Behaviour::InternalError => MockResponse::Error(GetRoutingControlStateError::InternalServerException(
                    InternalServerException::builder()
                        .message("oops")
                        .meta(meta("InternalServerException", "oops"))
                        .build()
                        .unwrap(),
                )),
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

    pub fn clients(&self, plan: &Plan, behaviours: &[Behaviour]) -> AwsClients {
        let mut by_url = BTreeMap::new();
        for (ep, b) in plan.arc.cluster_endpoints.iter().zip(behaviours) {
            by_url.insert(ep.url.clone(), self.client(&ep.url, *b));
        }
        let mut clients = base_clients();
        clients.seed = Some(7);
        clients.arc = Arc::new(move |ep, _| by_url.get(&ep.url).expect("endpoint of the plan").clone());
        clients
    }

    pub fn update_count(&self) -> usize {
        self.updates.lock().unwrap().len()
    }
}

pub fn http_status(code: u16) -> aws_smithy_runtime_api::client::orchestrator::HttpResponse {
    aws_smithy_runtime_api::client::orchestrator::HttpResponse::new(
        code.try_into().unwrap(),
        aws_smithy_types::body::SdkBody::from("service unavailable"),
    )
}

pub fn plan() -> Plan {
    Plan::from_yaml(PLAN).unwrap()
}

/// Clients with no real endpoint behind them, on a virtual clock; tests replace the ones
/// they use.
pub fn base_clients() -> AwsClients {
    let mut c = AwsClients::from_sdk_config(
        aws_config::SdkConfig::builder().build(),
        SharedClock::virtual_at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
    );
    c.seed = Some(7);
    c
}

/// A one-route HTTP server on 127.0.0.1 answering every request with `status`.
pub async fn http_server(status: u16) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = sock.read(&mut buf).await;
                let resp = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/health")
}

/// Fail over to us-west-2: us-west-2 On, us-east-1 Off.
pub fn to_west(plan: &Plan) -> RoutingControlInput {
    let mut states = BTreeMap::new();
    states.insert("us-east-1".to_string(), RoutingState::Off);
    states.insert("us-west-2".to_string(), RoutingState::On);
    RoutingControlInput {
        plan: plan.clone(),
        states,
        target_region: None,
        allow_all_off: None,
        override_safety_rules: vec![],
    }
}
