//! `routing-control`: set the ARC routing controls of both Regions in one update.
//!
//! ARC's data plane is five Regional cluster endpoints, at least three of them up at any
//! time. This step tries them one after the other, each through its own client signed for
//! its own Region, with the SDK's retries off and short timeouts, so that a dead or hanging
//! endpoint costs one timeout, not a Lambda timeout.
//!
//! Order: shuffled (as ARC's documentation recommends, so that callers spread over the
//! endpoints and no single dead endpoint is always first), then the endpoints in a Region
//! being switched Off are moved to the end: in an unplanned failover that Region is the
//! impaired one and its endpoint is the likeliest to hang.
//!
//! On each endpoint: read every control; if all are already as requested, succeed without
//! an update (idempotent: a retried or redriven task changes nothing); otherwise one
//! `UpdateRoutingControlStates` with all the controls of both Regions, then read back.
//! Moves on on connection errors, timeouts, 5xx, throttling and
//! `EndpointTemporarilyUnavailableException`; retries `ConflictException` a bounded number
//! of times on the same endpoint; stops on access denied, validation (including ARC's
//! safety-rule rejections, whose message is surfaced verbatim), not found and service
//! limits.

use std::time::Duration;

use aws_sdk_route53recoverycluster::error::SdkError;
use aws_sdk_route53recoverycluster::types::{RoutingControlState, UpdateRoutingControlStateEntry};
use failover_core::contract::RoutingState;
use failover_core::contract::routing::{
    ControlState, EndpointFailure, EndpointRef, RoutingControlInput, RoutingControlOutput,
};
use failover_core::plan::{ArcTimeouts, ClusterEndpoint};
use failover_core::{ErrorKind, StepError};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::aws::{AwsClients, classify};

/// Runs the step.
pub async fn handle(input: RoutingControlInput, clients: &AwsClients) -> Result<RoutingControlOutput, StepError> {
    input.validate()?;
    let desired = desired_controls(&input);

    if input.regions_on().is_empty() {
        match &input.allow_all_off {
            None => {
                return Err(StepError::new(
                    ErrorKind::SafetyRefusal,
                    "refused: this change would leave no Region On (every routing control Off). \
                     Set allow_all_off with a reason to do it anyway",
                ));
            }
            Some(a) => tracing::warn!(reason = %a.reason, "switching every Region Off, as explicitly allowed"),
        }
    }
    let override_arns: Vec<String> = input
        .override_safety_rules
        .iter()
        .filter_map(|name| input.plan.arc.safety_rules.iter().find(|r| &r.name == name).map(|r| r.arn.clone()))
        .collect();
    if !override_arns.is_empty() {
        tracing::warn!(rules = ?input.override_safety_rules, "overriding ARC safety rules, as explicitly requested");
    }

    let order = endpoint_order(&input, clients.seed);
    let arc = &input.plan.arc;
    let mut failed = Vec::new();
    let mut updated = false;

    for endpoint in order {
        let client = (clients.arc)(&endpoint, &arc.timeouts);
        match on_endpoint(
            &client,
            &endpoint,
            &desired,
            &override_arns,
            updated,
            arc.conflict_retries,
            clients,
            &arc.timeouts,
        )
        .await
        {
            Ok(EndpointResult { controls, changed }) => {
                updated |= changed;
                return Ok(RoutingControlOutput {
                    changed: updated,
                    controls,
                    endpoint: EndpointRef { url: endpoint.url.clone(), region: endpoint.region.clone() },
                    failed_endpoints: failed,
                    overridden_safety_rules: if updated { override_arns } else { vec![] },
                    all_off_reason: input.allow_all_off.as_ref().map(|a| a.reason.clone()),
                    completed_at: clients.clock.now_rfc3339(),
                });
            }
            Err(Failure::Next { failure, update_made }) => {
                updated |= update_made;
                tracing::warn!(endpoint = %failure.url, kind = %failure.kind, message = %failure.message, "ARC endpoint failed, trying the next");
                failed.push(failure);
            }
            Err(Failure::Fatal(e)) => return Err(e),
        }
    }
    let detail: Vec<String> = failed.iter().map(|f| format!("{} ({}): {}", f.url, f.region, f.message)).collect();
    Err(StepError::new(
        ErrorKind::EndpointsUnavailable,
        format!(
            "every ARC cluster endpoint failed{}: {}",
            if updated { " after the update was accepted (reading back failed)" } else { "" },
            detail.join("; ")
        ),
    ))
}

/// Every control of the plan with the state requested for its Region.
pub fn desired_controls(input: &RoutingControlInput) -> Vec<ControlState> {
    let mut out = Vec::new();
    for (region, state) in &input.expanded_states() {
        for arn in input.plan.arc.routing_controls.get(region).into_iter().flatten() {
            out.push(ControlState { arn: arn.clone(), region: region.clone(), state: *state });
        }
    }
    out
}

/// The endpoints in the order they are tried: shuffled, those in a Region being switched
/// Off last.
pub fn endpoint_order(input: &RoutingControlInput, seed: Option<u64>) -> Vec<ClusterEndpoint> {
    let mut eps = input.plan.arc.cluster_endpoints.clone();
    match seed {
        Some(s) => eps.shuffle(&mut rand::rngs::StdRng::seed_from_u64(s)),
        None => eps.shuffle(&mut rand::rng()),
    }
    let states = input.expanded_states();
    let off = |ep: &ClusterEndpoint| states.get(&ep.region) == Some(&RoutingState::Off);
    eps.sort_by_key(off);
    eps
}

struct EndpointResult {
    controls: Vec<ControlState>,
    changed: bool,
}

enum Failure {
    /// Move on to the next endpoint.
    Next { failure: EndpointFailure, update_made: bool },
    /// Stop: retrying elsewhere cannot help.
    Fatal(StepError),
}

#[allow(clippy::too_many_arguments)]
async fn on_endpoint(
    client: &aws_sdk_route53recoverycluster::Client,
    endpoint: &ClusterEndpoint,
    desired: &[ControlState],
    override_arns: &[String],
    already_updated: bool,
    conflict_retries: u32,
    clients: &AwsClients,
    _timeouts: &ArcTimeouts,
) -> Result<EndpointResult, Failure> {
    let current = read_states(client, endpoint, desired, already_updated).await?;
    if current.iter().zip(desired).all(|(c, d)| c.state == d.state) {
        return Ok(EndpointResult { controls: current, changed: false });
    }
    if already_updated {
        // The update was accepted through an earlier endpoint, yet this one reads other
        // states: report rather than update twice.
        return Err(Failure::Fatal(StepError::new(
            ErrorKind::Internal,
            format!("after the update, endpoint {} reads states that differ from those requested", endpoint.url),
        )));
    }

    let entries: Vec<UpdateRoutingControlStateEntry> = desired
        .iter()
        .map(|d| {
            UpdateRoutingControlStateEntry::builder()
                .routing_control_arn(&d.arn)
                .routing_control_state(sdk_state(d.state))
                .build()
                .expect("arn and state are set")
        })
        .collect();
    let mut attempt = 0u32;
    loop {
        let res = client
            .update_routing_control_states()
            .set_update_routing_control_state_entries(Some(entries.clone()))
            .set_safety_rules_to_override(if override_arns.is_empty() { None } else { Some(override_arns.to_vec()) })
            .send()
            .await;
        match res {
            Ok(_) => break,
            Err(err) => {
                let c = classify(&err);
                if c.code == "ConflictException" {
                    if attempt < conflict_retries {
                        attempt += 1;
                        clients.clock.sleep(crate_backoff(attempt)).await;
                        continue;
                    }
                    return Err(Failure::Fatal(StepError::new(
                        ErrorKind::Conflict,
                        format!(
                            "UpdateRoutingControlStates at {} was refused with ConflictException {} times: {}",
                            endpoint.url,
                            attempt + 1,
                            c.message
                        ),
                    )));
                }
                return Err(failure_of(&err, endpoint, "UpdateRoutingControlStates", &controls_list(desired), false));
            }
        }
    }
    tracing::info!(endpoint = %endpoint.url, "routing controls updated");
    let after = read_states(client, endpoint, desired, true).await?;
    Ok(EndpointResult { controls: after, changed: true })
}

fn crate_backoff(attempt: u32) -> Duration {
    failover_core::clock::backoff(Duration::from_millis(100), 2.0, Duration::from_secs(1), attempt.saturating_sub(1))
}

async fn read_states(
    client: &aws_sdk_route53recoverycluster::Client,
    endpoint: &ClusterEndpoint,
    desired: &[ControlState],
    update_made: bool,
) -> Result<Vec<ControlState>, Failure> {
    let mut out = Vec::with_capacity(desired.len());
    for d in desired {
        let res = client.get_routing_control_state().routing_control_arn(&d.arn).send().await;
        match res {
            Ok(o) => {
                let state = match o.routing_control_state() {
                    RoutingControlState::On => RoutingState::On,
                    RoutingControlState::Off => RoutingState::Off,
                    other => {
                        return Err(Failure::Next {
                            failure: EndpointFailure {
                                url: endpoint.url.clone(),
                                region: endpoint.region.clone(),
                                kind: "other".into(),
                                message: format!("{} has the unexpected state `{}`", d.arn, other.as_str()),
                            },
                            update_made,
                        });
                    }
                };
                out.push(ControlState { arn: d.arn.clone(), region: d.region.clone(), state });
            }
            Err(err) => return Err(failure_of(&err, endpoint, "GetRoutingControlState", &d.arn, update_made)),
        }
    }
    Ok(out)
}

fn controls_list(desired: &[ControlState]) -> String {
    desired.iter().map(|d| d.arn.as_str()).collect::<Vec<_>>().join(", ")
}

fn sdk_state(s: RoutingState) -> RoutingControlState {
    match s {
        RoutingState::On => RoutingControlState::On,
        RoutingState::Off => RoutingControlState::Off,
    }
}

/// Decides whether an ARC error moves on to the next endpoint or stops the step.
fn failure_of<E>(
    err: &SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
    endpoint: &ClusterEndpoint,
    op: &str,
    controls: &str,
    update_made: bool,
) -> Failure
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    let c = classify(err);
    let what = format!("{op} ({controls}) at {}", endpoint.url);
    let next = |kind: &str| Failure::Next {
        failure: EndpointFailure {
            url: endpoint.url.clone(),
            region: endpoint.region.clone(),
            kind: kind.to_string(),
            message: if c.message.is_empty() { c.code.clone() } else { format!("{}: {}", c.code, c.message) },
        },
        update_made,
    };
    match c.code.as_str() {
        "EndpointTemporarilyUnavailableException" => return next("unavailable"),
        "ThrottlingException" => return next("throttled"),
        "InternalServerException" => return next("http-5xx"),
        "timeout" => return next("timeout"),
        "connect" | "dispatch" => return next("connect"),
        "ValidationException" => {
            // ARC has no error code of its own for a safety-rule rejection: it is a
            // ValidationException on the update, recognised by its message and surfaced as is.
            let lower = c.message.to_ascii_lowercase();
            let kind = if op.starts_with("Update") && (lower.contains("safety rule") || lower.contains("rule")) {
                ErrorKind::SafetyRefusal
            } else {
                ErrorKind::BadInput
            };
            return Failure::Fatal(StepError::new(kind, format!("{what}: ARC refused the request: {}", c.message)));
        }
        "ServiceLimitExceededException" => {
            return Failure::Fatal(StepError::new(ErrorKind::QuotaExceeded, format!("{what}: {}", c.message)));
        }
        _ => {}
    }
    match (c.kind, c.status) {
        (_, Some(s)) if s >= 500 => next("http-5xx"),
        (_, Some(429)) => next("throttled"),
        (ErrorKind::Transient, _) => next("other"),
        (kind, _) => Failure::Fatal(StepError::new(kind, format!("{what}: {}: {}", c.code, c.message))),
    }
}
