//! `preflight`: may the failover to the target Region go ahead? The first state of the
//! failover machine, and the readiness check run on a schedule.
//!
//! [`assess`] runs every check and never fails on a verdict (only on bad input and on AWS
//! failures worth a retry); [`decide`] turns the verdict into the error contract for a
//! failover; [`handle`] is both; [`handle_with_metric`] also hands the verdict to a sink as
//! a CloudWatch embedded-metric-format line ([`emf_line`]), before deciding, so a refused
//! failover still reports its readiness.
//!
//! Checks: the plan (validated as input); that the execution runs in the target Region; the
//! routing controls and their states (read from one ARC endpoint, as verify-health reads
//! them); per global database, in the target Region: the global cluster, its members
//! against the plan, the writer, engine versions (major and minor), an available instance
//! in the target, the replication lag against the RPO; the canary alarms of both Regions;
//! the target's HTTP probes and canary alarms (verify-health's checks). Routing and DNS are
//! not judged: before a failover they show the source serving, as they should.
//!
//! Architecture invariant: in unplanned mode nothing here calls the source Region (its
//! RDS, its CloudWatch, its ARC endpoint): it may be gone or hanging. In planned mode the
//! source cluster is read in its own Region (a switchover needs it healthy).

use std::time::SystemTime;

use aws_sdk_route53recoverycluster::types::RoutingControlState;
use failover_core::aurora_rules::{self, LagView};
use failover_core::contract::health::{CheckVerdict, HealthChecks, Verdict, VerifyHealthInput};
use failover_core::contract::preflight::{
    Blocks, DataAtRisk, PlanRef, PreflightCheck, PreflightInput, PreflightOutput, Readiness,
};
use failover_core::contract::routing::ControlState;
use failover_core::contract::{Mode, RoutingState};
use failover_core::plan::{GlobalDatabase, Plan};
use failover_core::{ErrorKind, StepError};
use sha2::{Digest, Sha256};

use crate::aws::AwsClients;
use crate::rds::Observer;
use crate::verify_health;

/// Runs the checks and decides, without emitting the metric (the local drill).
pub async fn handle(input: PreflightInput, clients: &AwsClients) -> Result<PreflightOutput, StepError> {
    handle_with_metric(input, clients, |_| {}).await
}

/// Runs the checks, hands the EMF line to `emit` (the Lambda prints it on stdout), then
/// decides.
pub async fn handle_with_metric(
    input: PreflightInput,
    clients: &AwsClients,
    emit: impl FnOnce(&str),
) -> Result<PreflightOutput, StepError> {
    let out = assess(&input, clients).await?;
    emit(&emf_line(&out, &input.execution.name, clients.clock.now()));
    decide(&input, out)
}

/// Every check, and the overall verdict. Fails only on bad input, access denied and
/// transient AWS failures, including every ARC endpoint failing in a failover (the state
/// machine retries those).
pub async fn assess(input: &PreflightInput, clients: &AwsClients) -> Result<PreflightOutput, StepError> {
    input.validate()?;
    let plan = &input.plan;
    let source = input.source_region().to_string();
    let mut checks = vec![check(
        "plan",
        &plan.name,
        Verdict::Pass,
        format!(
            "valid: {} global database(s), RTO {} s, RPO {} s",
            plan.databases.len(),
            plan.objectives.rto_seconds,
            plan.objectives.rpo_seconds
        ),
        None,
    )];

    if input.running_region == input.target_region {
        checks.push(check("running-region", &input.running_region, Verdict::Pass, "runs in the target Region", None));
    } else {
        checks.push(check(
            "running-region",
            &input.running_region,
            Verdict::Fail,
            format!(
                "this execution runs in {} but fails over to {}: start it in the target Region's stack, whose \
                 resources do not depend on the Region it leaves",
                input.running_region, input.target_region
            ),
            Some(Blocks::Failover),
        ));
    }

    let (routing_checks, routing) = check_routing(input, &source, clients).await?;
    checks.extend(routing_checks);

    let mut databases = Vec::new();
    for db in &plan.databases {
        let (db_checks, risk) = check_database(input, db, &source, clients).await?;
        checks.extend(db_checks);
        databases.push(risk);
    }

    checks.extend(check_health(input, &source, clients).await?);

    let readiness = Readiness::of(&checks);
    let reasons = checks
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .map(|c| format!("{} {}: {}", c.kind, c.subject, c.detail))
        .collect();
    Ok(PreflightOutput {
        readiness,
        mode: input.mode,
        target_region: input.target_region.clone(),
        source_region: source,
        running_region: input.running_region.clone(),
        readiness_only: input.readiness_only,
        forced: false,
        reasons,
        checks,
        plan: PlanRef { name: plan.name.clone(), digest: plan_digest(plan), version: input.plan_version.clone() },
        routing,
        databases,
        started_at: input.execution.started_at.clone(),
        checked_at: clients.clock.now_rfc3339(),
    })
}

/// The verdict as the failover machine needs it: `not-ready` is `PreconditionFailed`
/// (unless forced), `ready-unplanned-only` in planned mode is `SwitchoverRefused` with the
/// data at risk. A readiness-only run always succeeds. Running outside the target Region is
/// never forced.
pub fn decide(input: &PreflightInput, mut out: PreflightOutput) -> Result<PreflightOutput, StepError> {
    if input.readiness_only {
        return Ok(out);
    }
    let wrong_region = out.checks.iter().any(|c| c.kind == "running-region" && c.verdict == Verdict::Fail);
    if out.readiness == Readiness::NotReady {
        if input.force && !wrong_region {
            tracing::warn!(reasons = ?out.reasons, "not ready, proceeding because the input sets force");
            out.forced = true;
            return Ok(out);
        }
        return Err(StepError::new(
            ErrorKind::PreconditionFailed,
            format!(
                "not ready to fail over to {}{}: {}",
                out.target_region,
                if input.force { " (force does not override the running Region)" } else { "" },
                out.reasons.join("; ")
            ),
        ));
    }
    if out.readiness == Readiness::ReadyUnplannedOnly && input.mode == Mode::Planned {
        return Err(StepError::new(
            ErrorKind::SwitchoverRefused,
            format!(
                "a switchover to {} would be refused: {}. An unplanned failover is possible; data at risk: {}",
                out.target_region,
                out.reasons.join("; "),
                data_at_risk_line(&out.databases)
            ),
        ));
    }
    Ok(out)
}

/// `catalog: 1200 ms (AuroraGlobalDBRPOLag at ...), orders: unknown`.
pub fn data_at_risk_line(databases: &[DataAtRisk]) -> String {
    if databases.is_empty() {
        return "no global database".into();
    }
    databases
        .iter()
        .map(|d| match &d.lag {
            Some(l) => format!("{}: {} ms of writes ({} at {})", d.database, l.milliseconds, l.metric, l.at),
            None => format!("{}: unknown (no replication lag reading)", d.database),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The readiness as one CloudWatch embedded-metric-format log line: namespace `Failover`,
/// metrics `Ready` (1 when both modes may proceed) and `ReadyUnplanned` (1 unless
/// not-ready), dimensions `Plan` and `TargetRegion`.
pub fn emf_line(out: &PreflightOutput, execution: &str, at: SystemTime) -> String {
    let ms = at.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let ready = u8::from(out.readiness == Readiness::Ready);
    let unplanned = u8::from(out.readiness != Readiness::NotReady);
    serde_json::json!({
        "_aws": {
            "Timestamp": ms,
            "CloudWatchMetrics": [{
                "Namespace": "Failover",
                "Dimensions": [["Plan", "TargetRegion"]],
                "Metrics": [{"Name": "Ready", "Unit": "Count"}, {"Name": "ReadyUnplanned", "Unit": "Count"}],
            }],
        },
        "Plan": out.plan.name,
        "TargetRegion": out.target_region,
        "Ready": ready,
        "ReadyUnplanned": unplanned,
        "Readiness": out.readiness.as_str(),
        "Mode": match out.mode { Mode::Planned => "planned", Mode::Unplanned => "unplanned" },
        "Execution": execution,
        "PlanDigest": out.plan.digest,
    })
    .to_string()
}

/// `sha256:<hex>` of the plan's canonical JSON: object keys sorted, no whitespace, so the
/// same plan gives the same digest whatever the YAML's order or comments.
pub fn plan_digest(plan: &Plan) -> String {
    let value = serde_json::to_value(plan).unwrap_or(serde_json::Value::Null);
    let mut canonical = String::new();
    write_canonical(&value, &mut canonical);
    let hash = Sha256::digest(canonical.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn write_canonical(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn check(
    kind: &str,
    subject: &str,
    verdict: Verdict,
    detail: impl Into<String>,
    blocks: Option<Blocks>,
) -> PreflightCheck {
    PreflightCheck {
        kind: kind.into(),
        subject: subject.into(),
        verdict,
        detail: detail.into(),
        blocks: if verdict == Verdict::Fail { blocks } else { None },
    }
}

/// Every control's state, from one endpoint (the source Region's last, or not at all in
/// unplanned mode). Not judged against a desired state: before a failover the source is On.
/// No endpoint answering is `EndpointsUnavailable` in a failover (retried), a failing check
/// in a readiness run.
async fn check_routing(
    input: &PreflightInput,
    source: &str,
    clients: &AwsClients,
) -> Result<(Vec<PreflightCheck>, Vec<ControlState>), StepError> {
    let plan = &input.plan;
    let mut order = verify_health::endpoint_order(plan, Some(source), clients.seed);
    if input.mode == Mode::Unplanned {
        order.retain(|e| e.region != source);
    }
    let controls = plan.routing_controls();
    let arns: Vec<&str> = controls.iter().map(|(_, a)| *a).collect();
    let read = match verify_health::read_controls(plan, order, &arns, 1, clients).await {
        Ok(r) => r,
        Err(e) if e.kind == ErrorKind::NotFound => {
            return Ok((vec![check("routing", "controls", Verdict::Fail, e.message, Some(Blocks::Failover))], vec![]));
        }
        Err(e) => return Err(e),
    };
    let Some(reading) = read.readings.first() else {
        if !input.readiness_only {
            // Worth a retry by the state machine rather than a refusal: at least three of
            // the five endpoints are up at any time.
            return Err(StepError::new(
                ErrorKind::EndpointsUnavailable,
                format!("no ARC cluster endpoint answered: {}", read.failures.join(", ")),
            ));
        }
        let detail = format!(
            "no ARC endpoint answered{}: {}",
            if input.mode == Mode::Unplanned { format!(" (those in {source} not tried)") } else { String::new() },
            read.failures.join(", ")
        );
        return Ok((vec![check("routing", "endpoints", Verdict::Fail, detail, Some(Blocks::Failover))], vec![]));
    };
    let mut checks = Vec::new();
    let mut states = Vec::new();
    for ((region, arn), got) in controls.iter().zip(&reading.states) {
        let state = match got {
            RoutingControlState::On => RoutingState::On,
            RoutingControlState::Off => RoutingState::Off,
            other => {
                checks.push(check(
                    "routing",
                    arn,
                    Verdict::Fail,
                    format!("{} reads the unexpected state `{}`", reading.endpoint.url, other.as_str()),
                    Some(Blocks::Failover),
                ));
                continue;
            }
        };
        checks.push(check(
            "routing",
            arn,
            Verdict::Pass,
            format!("{region}: {} at {}", state.as_str(), reading.endpoint.url),
            None,
        ));
        states.push(ControlState { arn: arn.to_string(), region: region.to_string(), state });
    }
    Ok((checks, states))
}

/// The Aurora move rules' findings for one database (`failover_core::aurora_rules`, the
/// same rules aurora-failover refuses on), each shown as a check.
async fn check_database(
    input: &PreflightInput,
    db: &GlobalDatabase,
    source: &str,
    clients: &AwsClients,
) -> Result<(Vec<PreflightCheck>, DataAtRisk), StepError> {
    let target = input.target_region.as_str();
    let gc = db.global_cluster.as_str();
    let mut risk = DataAtRisk {
        database: db.name.clone(),
        global_cluster: gc.to_string(),
        writer: None,
        writer_region: None,
        lag: None,
    };
    let observer = Observer {
        clients,
        db,
        target_region: target,
        source_region: source,
        read_source: input.mode == Mode::Planned,
        rpo_ms: input.plan.objectives.rpo_seconds.saturating_mul(1000),
    };
    let mut o = match observer.global().await {
        Ok(o) => o,
        Err(e) if e.kind == ErrorKind::NotFound => {
            return Ok((vec![check("global-cluster", gc, Verdict::Fail, e.message, Some(Blocks::Failover))], risk));
        }
        Err(e) => return Err(e),
    };
    let writer = o.global.writer().map(str::to_string);
    risk.writer_region = writer.as_deref().and_then(|w| o.planned_members_region(w)).map(str::to_string);
    let target_writes = writer.as_deref().is_some_and(|w| w.eq_ignore_ascii_case(&o.target_arn));
    risk.writer = writer;

    if let Some(target_cluster) = observer.clusters(&mut o).await? {
        observer.instances(&mut o, &target_cluster, None).await?;
        if !target_writes {
            match observer.lag(&mut o).await {
                // No verdict without the reading: retried by the state machine, or denied.
                Err(e) if e.kind.retryable() || e.kind == ErrorKind::AccessDenied => return Err(e),
                _ => {}
            }
        }
    }
    if let Some(LagView::Reading(l)) = &o.lag {
        risk.lag = Some(l.clone());
    }
    let checks = aurora_rules::findings(&o, input.mode).into_iter().map(|f| f.check).collect();
    Ok((checks, risk))
}

/// The target's HTTP probes and canary alarms (verify-health's checks, which skip alarms
/// living in the source in unplanned mode), then the alarms watching the source: they must
/// exist; their state is reported, not judged (an outage is why one fails over).
async fn check_health(
    input: &PreflightInput,
    source: &str,
    clients: &AwsClients,
) -> Result<Vec<PreflightCheck>, StepError> {
    let impaired = (input.mode == Mode::Unplanned).then(|| source.to_string());
    let run = |region: &str, http: bool, alarms: bool| VerifyHealthInput {
        plan: input.plan.clone(),
        target_region: region.to_string(),
        states: None,
        changed_at: None,
        checks: HealthChecks { routing: false, dns: false, http, alarms },
        impaired_region: impaired.clone(),
    };
    let mut out = Vec::new();
    let (http, _) = verify_health::run_checks(&run(&input.target_region, true, false), clients).await?;
    out.extend(http.into_iter().map(|c| from_health(c, Blocks::Failover, &input.target_region)));
    for (watched, judged) in [(input.target_region.as_str(), true), (source, false)] {
        match verify_health::run_checks(&run(watched, false, true), clients).await {
            Ok((alarms, _)) => out.extend(alarms.into_iter().map(|mut c| {
                if !judged && c.verdict == Verdict::Fail && !c.detail.contains("failed:") {
                    c.verdict = Verdict::Pass;
                    c.detail = format!("exists; {} (it watches {watched}, the source)", c.detail);
                }
                from_health(c, Blocks::Failover, watched)
            })),
            Err(e) if e.kind == ErrorKind::NotFound => {
                out.push(check("alarm", watched, Verdict::Fail, e.message, Some(Blocks::Failover)));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn from_health(c: CheckVerdict, blocks: Blocks, watched: &str) -> PreflightCheck {
    let detail = if c.kind == "alarm" && !c.detail.contains("watches") {
        format!("{} (watches {watched})", c.detail)
    } else {
        c.detail
    };
    check(&c.kind, &c.subject, c.verdict, detail, Some(blocks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_and_drops_whitespace() {
        let v: serde_json::Value = serde_json::from_str(r#"{"b": [1, {"z": 0.5, "a": "x"}], "a": null}"#).unwrap();
        let mut s = String::new();
        write_canonical(&v, &mut s);
        assert_eq!(s, r#"{"a":null,"b":[1,{"a":"x","z":0.5}]}"#);
    }
}
