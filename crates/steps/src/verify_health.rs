//! `verify-health`: is the target Region serving, as clients see it?
//!
//! Four checks, each with a verdict in the output:
//! * routing: the routing controls read from at least two ARC endpoints agree with the
//!   desired states (one endpoint could answer from a stale view during a partition);
//! * dns: the record, asked of the hosted zone's authoritative name servers (not a
//!   caching resolver), answers with the On Regions' endpoints only;
//! * http: the target Region's endpoints answer with the expected status within the
//!   expected latency;
//! * alarm: the canary alarms that watch the target Region from the other Region are OK
//!   (INSUFFICIENT_DATA counts as failing: missing data is breaching).
//!
//! Any failing check makes the step fail with `Failover.NotHealthyYet`, which the state
//! machine retries; a control or alarm that does not exist is fatal (`Failover.NotFound`).
//! Nothing is asked of a Region named impaired.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::types::StateValue;
use aws_sdk_route53recoverycluster::types::RoutingControlState;
use failover_core::contract::RoutingState;
use failover_core::contract::health::{CheckVerdict, Verdict, VerifyHealthInput, VerifyHealthOutput};
use failover_core::plan::{ClusterEndpoint, Plan};
use failover_core::{ErrorKind, StepError, time_fmt};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::aws::{AwsClients, classify};

/// How long one DNS query may take before the next name server is asked.
const DNS_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn handle(input: VerifyHealthInput, clients: &AwsClients) -> Result<VerifyHealthOutput, StepError> {
    input.validate()?;
    let (checks, ttl) = run_checks(&input, clients).await?;

    let now = clients.clock.now();
    let failing: Vec<String> = checks
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .map(|c| format!("{} {}: {}", c.kind, c.subject, c.detail))
        .collect();
    if !failing.is_empty() {
        return Err(StepError::new(
            ErrorKind::NotHealthyYet,
            format!("{} is not serving yet: {}", input.target_region, failing.join("; ")),
        ));
    }
    let dns_passed = checks.iter().any(|c| c.kind == "dns" && c.verdict == Verdict::Pass);
    let clients_switched_by = match (dns_passed, ttl) {
        (true, Some(t)) => Some(time_fmt::rfc3339(now + Duration::from_secs(u64::from(t)))),
        _ => None,
    };
    Ok(VerifyHealthOutput {
        target_region: input.target_region.clone(),
        checks,
        dns_ttl_seconds: ttl,
        clients_switched_by,
        checked_at: time_fmt::rfc3339(now),
    })
}

/// Runs the checks `input.checks` selects and returns every verdict without judging them,
/// with the TTL the name servers answered. Preflight reuses it for the target's HTTP probes
/// and canary alarms.
pub(crate) async fn run_checks(
    input: &VerifyHealthInput,
    clients: &AwsClients,
) -> Result<(Vec<CheckVerdict>, Option<u32>), StepError> {
    let desired = input.desired_states();
    let mut checks = Vec::new();
    let mut ttl = None;
    if input.checks.routing {
        checks.extend(check_routing(input, &desired, clients).await?);
    }
    if input.checks.dns {
        let (verdicts, answered_ttl) = check_dns(&input.plan, &desired, clients).await;
        ttl = answered_ttl;
        checks.extend(verdicts);
    }
    if input.checks.http {
        checks.extend(check_http(input, clients).await);
    }
    if input.checks.alarms {
        checks.extend(check_alarms(input, clients).await?);
    }
    Ok((checks, ttl))
}

fn verdict(kind: &str, subject: &str, v: Verdict, detail: impl Into<String>) -> CheckVerdict {
    CheckVerdict { kind: kind.into(), subject: subject.into(), verdict: v, detail: detail.into() }
}

/// Reads every control from endpoints in shuffled order (the impaired Region's last) until
/// two have answered in full.
async fn check_routing(
    input: &VerifyHealthInput,
    desired: &failover_core::contract::RegionStates,
    clients: &AwsClients,
) -> Result<Vec<CheckVerdict>, StepError> {
    let arc = &input.plan.arc;
    let eps = endpoint_order(&input.plan, input.impaired_region.as_deref(), clients.seed);
    let controls: Vec<(&String, RoutingState)> = desired
        .iter()
        .flat_map(|(region, state)| arc.routing_controls.get(region).into_iter().flatten().map(move |c| (c, *state)))
        .collect();
    let arns: Vec<&str> = controls.iter().map(|(arn, _)| arn.as_str()).collect();
    let read = read_controls(&input.plan, eps, &arns, 2, clients).await?;
    let mut verdicts = Vec::new();
    for reading in &read.readings {
        for ((arn, want), got) in controls.iter().zip(&reading.states) {
            let matches = matches!(
                (got, want),
                (RoutingControlState::On, RoutingState::On) | (RoutingControlState::Off, RoutingState::Off)
            );
            verdicts.push(verdict(
                "routing",
                arn,
                if matches { Verdict::Pass } else { Verdict::Fail },
                format!("{} reads {} (want {})", reading.endpoint.url, got.as_str(), want.as_str()),
            ));
        }
    }
    let answered = read.readings.len();
    let failures = read.failures;
    let all_others_failed = answered + failures.len() >= arc.cluster_endpoints.len();
    if answered == 1 && all_others_failed {
        // Beyond ARC's guarantee (three of five up), one endpoint is all there is: its
        // reading stands, and the verdict says a second one could not be had.
        verdicts.push(verdict(
            "routing",
            "endpoints",
            Verdict::Skipped,
            format!("no second reading: every other endpoint failed ({})", failures.join(", ")),
        ));
    } else if answered < 2 {
        verdicts.push(verdict(
            "routing",
            "endpoints",
            Verdict::Fail,
            format!("only {answered} endpoint(s) answered; failures: {}", failures.join(", ")),
        ));
    }
    Ok(verdicts)
}

/// The ARC endpoints in the order they are read: shuffled, the impaired Region's last.
pub(crate) fn endpoint_order(plan: &Plan, impaired: Option<&str>, seed: Option<u64>) -> Vec<ClusterEndpoint> {
    let mut eps: Vec<ClusterEndpoint> = plan.arc.cluster_endpoints.clone();
    match seed {
        Some(s) => eps.shuffle(&mut rand::rngs::StdRng::seed_from_u64(s.wrapping_add(1))),
        None => eps.shuffle(&mut rand::rng()),
    }
    eps.sort_by_key(|e| impaired == Some(e.region.as_str()));
    eps
}

/// One endpoint's reading of every control asked for, in the order asked.
pub(crate) struct ControlsReading {
    pub endpoint: ClusterEndpoint,
    pub states: Vec<RoutingControlState>,
}

pub(crate) struct ControlsRead {
    /// Up to `want` complete readings, from different endpoints.
    pub readings: Vec<ControlsReading>,
    /// `url: code` of each endpoint that failed.
    pub failures: Vec<String>,
}

/// Reads every control in `arns` from the endpoints in `order` until `want` endpoints have
/// answered in full. A control that does not exist, or access denied, stops the reading.
pub(crate) async fn read_controls(
    plan: &Plan,
    order: Vec<ClusterEndpoint>,
    arns: &[&str],
    want: usize,
    clients: &AwsClients,
) -> Result<ControlsRead, StepError> {
    let mut readings = Vec::new();
    let mut failures = Vec::new();
    for ep in order {
        if readings.len() == want {
            break;
        }
        let client = (clients.arc)(&ep, &plan.arc.timeouts);
        let mut states = Vec::with_capacity(arns.len());
        for arn in arns {
            match client.get_routing_control_state().routing_control_arn(*arn).send().await {
                Ok(o) => states.push(o.routing_control_state().clone()),
                Err(e) => {
                    let c = classify(&e);
                    if c.kind == ErrorKind::NotFound {
                        return Err(StepError::not_found(format!(
                            "routing control {arn} does not exist: {}",
                            c.message
                        )));
                    }
                    if c.kind == ErrorKind::AccessDenied {
                        return Err(c.into_step_error(&format!("GetRoutingControlState ({arn}) at {}", ep.url)));
                    }
                    failures.push(format!("{}: {}", ep.url, c.code));
                    break;
                }
            }
        }
        if states.len() == arns.len() {
            readings.push(ControlsReading { endpoint: ep, states });
        }
    }
    Ok(ControlsRead { readings, failures })
}

/// Normalises a DNS answer or an expected value for comparison.
fn norm(s: &str) -> String {
    s.trim().trim_end_matches('.').to_ascii_lowercase()
}

async fn check_dns(
    plan: &Plan,
    desired: &failover_core::contract::RegionStates,
    clients: &AwsClients,
) -> (Vec<CheckVerdict>, Option<u32>) {
    let expected: BTreeSet<String> = desired
        .iter()
        .filter(|(_, s)| **s == RoutingState::On)
        .flat_map(|(r, _)| plan.health.get(r).map(|h| h.dns_answers.clone()).unwrap_or_default())
        .map(|a| norm(&a))
        .collect();
    let rtype = match plan.dns.record_type.as_str() {
        "AAAA" => RecordType::AAAA,
        "CNAME" => RecordType::CNAME,
        _ => RecordType::A,
    };
    let mut verdicts = Vec::new();
    let mut ttl: Option<u32> = None;
    let mut answered = 0;
    for ns in &plan.dns.name_servers {
        match query(ns, &plan.dns.record, rtype, clients).await {
            Ok((answers, t)) => {
                answered += 1;
                ttl = Some(ttl.map_or(t, |old: u32| old.max(t)));
                let got: BTreeSet<String> = answers.iter().map(|a| norm(a)).collect();
                let v = if got == expected { Verdict::Pass } else { Verdict::Fail };
                let detail = format!(
                    "answers [{}] (want [{}]), TTL {t} s",
                    got.iter().cloned().collect::<Vec<_>>().join(", "),
                    expected.iter().cloned().collect::<Vec<_>>().join(", ")
                );
                verdicts.push(verdict("dns", ns, v, detail));
            }
            // One silent server of four is normal; it is reported, and judged below.
            Err(e) => verdicts.push(verdict("dns", ns, Verdict::Skipped, format!("no answer: {e}"))),
        }
    }
    if answered == 0 {
        verdicts.push(verdict("dns", &plan.dns.record, Verdict::Fail, "no authoritative name server answered"));
    }
    (verdicts, ttl)
}

/// One query to one authoritative server, over UDP, timed on the clock.
async fn query(ns: &str, record: &str, rtype: RecordType, clients: &AwsClients) -> Result<(Vec<String>, u32), String> {
    let target = if ns.contains(':') && !ns.starts_with('[') && ns.matches(':').count() == 1 {
        ns.to_string()
    } else {
        format!("{ns}:53")
    };
    let addr: SocketAddr = match target.parse() {
        Ok(a) => a,
        Err(_) => tokio::net::lookup_host(&target)
            .await
            .map_err(|e| format!("cannot resolve {target}: {e}"))?
            .next()
            .ok_or_else(|| format!("{target} resolves to nothing"))?,
    };
    let name = Name::from_ascii(record).map_err(|e| format!("bad record name: {e}"))?;
    let id: u16 = rand::random();
    let mut msg = Message::new();
    msg.set_id(id).set_message_type(MessageType::Query).set_op_code(OpCode::Query).set_recursion_desired(false);
    msg.add_query(Query::query(name, rtype));
    let bytes = msg.to_vec().map_err(|e| e.to_string())?;
    let bind: SocketAddr = if addr.is_ipv4() { "0.0.0.0:0".parse().unwrap() } else { "[::]:0".parse().unwrap() };
    let sock = tokio::net::UdpSocket::bind(bind).await.map_err(|e| e.to_string())?;
    sock.send_to(&bytes, addr).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 4096];
    let recv = async {
        loop {
            let (n, from) = sock.recv_from(&mut buf).await?;
            if from == addr {
                return Ok::<_, std::io::Error>(n);
            }
        }
    };
    let n = clients.clock.timeout(DNS_TIMEOUT, recv).await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
    let resp = Message::from_vec(&buf[..n]).map_err(|e| e.to_string())?;
    if resp.id() != id {
        return Err("answer with another id".into());
    }
    let mut out = Vec::new();
    let mut ttl = 0;
    for r in resp.answers() {
        let value = match r.data() {
            RData::A(a) if rtype == RecordType::A => a.0.to_string(),
            RData::AAAA(a) if rtype == RecordType::AAAA => a.0.to_string(),
            RData::CNAME(c) if rtype == RecordType::CNAME => c.0.to_ascii(),
            _ => continue,
        };
        ttl = ttl.max(r.ttl());
        out.push(value);
    }
    Ok((out, ttl))
}

async fn check_http(input: &VerifyHealthInput, clients: &AwsClients) -> Vec<CheckVerdict> {
    let mut out = Vec::new();
    let Some(health) = input.plan.health.get(&input.target_region) else { return out };
    for c in &health.http {
        let limit = Duration::from_millis(c.max_latency_ms);
        let started = clients.clock.now();
        // Give a slow answer time to arrive so the verdict can say how slow it was.
        let res = clients.clock.timeout(limit * 3, clients.http().get(&c.url).send()).await;
        let took = clients.clock.now().duration_since(started).unwrap_or_default();
        let v = match res {
            Err(_) => verdict("http", &c.url, Verdict::Fail, format!("no answer within {} ms", limit.as_millis() * 3)),
            Ok(Err(e)) => verdict("http", &c.url, Verdict::Fail, format!("request failed: {e}")),
            Ok(Ok(resp)) => {
                let status = resp.status().as_u16();
                if status != c.expected_status {
                    verdict("http", &c.url, Verdict::Fail, format!("status {status}, want {}", c.expected_status))
                } else if took > limit {
                    verdict(
                        "http",
                        &c.url,
                        Verdict::Fail,
                        format!("took {} ms, limit {} ms", took.as_millis(), c.max_latency_ms),
                    )
                } else {
                    verdict("http", &c.url, Verdict::Pass, format!("status {status} in {} ms", took.as_millis()))
                }
            }
        };
        out.push(v);
    }
    out
}

async fn check_alarms(input: &VerifyHealthInput, clients: &AwsClients) -> Result<Vec<CheckVerdict>, StepError> {
    let mut out = Vec::new();
    let Some(health) = input.plan.health.get(&input.target_region) else { return Ok(out) };
    let watcher_default = input.plan.other_region(&input.target_region).unwrap_or_default().to_string();
    let mut by_region: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
    for a in &health.alarms {
        let region = a.region.clone().unwrap_or_else(|| watcher_default.clone());
        by_region.entry(region).or_default().push(&a.name);
    }
    for (region, names) in by_region {
        if input.impaired_region.as_deref() == Some(region.as_str()) {
            for n in names {
                out.push(verdict("alarm", n, Verdict::Skipped, format!("it lives in {region}, the impaired Region")));
            }
            continue;
        }
        let cw = clients.cloudwatch.get(&region);
        let res =
            cw.describe_alarms().set_alarm_names(Some(names.iter().map(|s| s.to_string()).collect())).send().await;
        let resp = match res {
            Ok(r) => r,
            Err(e) => {
                let c = classify(&e);
                if c.kind == ErrorKind::AccessDenied {
                    return Err(c.into_step_error(&format!("DescribeAlarms in {region}")));
                }
                for n in names {
                    out.push(verdict(
                        "alarm",
                        n,
                        Verdict::Fail,
                        format!("DescribeAlarms in {region} failed: {}", c.code),
                    ));
                }
                continue;
            }
        };
        let states: Vec<(String, StateValue)> = resp
            .metric_alarms()
            .iter()
            .filter_map(|a| Some((a.alarm_name()?.to_string(), a.state_value()?.clone())))
            .chain(
                resp.composite_alarms()
                    .iter()
                    .filter_map(|a| Some((a.alarm_name()?.to_string(), a.state_value()?.clone()))),
            )
            .collect();
        for n in names {
            match states.iter().find(|(name, _)| name == n) {
                None => {
                    return Err(StepError::not_found(format!(
                        "canary alarm `{n}` does not exist in {region} (health.{}.alarms)",
                        input.target_region
                    )));
                }
                Some((_, StateValue::Ok)) => out.push(verdict("alarm", n, Verdict::Pass, format!("OK in {region}"))),
                Some((_, s)) => out.push(verdict("alarm", n, Verdict::Fail, format!("{} in {region}", s.as_str()))),
            }
        }
    }
    Ok(out)
}

/// When every client has moved: the DNS change observed at `observed`, plus the TTL.
pub fn clients_switch_time(observed: SystemTime, ttl_seconds: u32) -> SystemTime {
    observed + Duration::from_secs(u64::from(ttl_seconds))
}
