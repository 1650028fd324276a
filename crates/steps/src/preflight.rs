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
use failover_core::contract::aurora::{cluster_id_of_arn, major_minor};
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
use crate::{aurora, health};

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

    let readiness = readiness_of(&checks);
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

/// The overall verdict of a list of checks.
pub fn readiness_of(checks: &[PreflightCheck]) -> Readiness {
    let failing = |b: Blocks| checks.iter().any(|c| c.verdict == Verdict::Fail && c.blocks == Some(b));
    if failing(Blocks::Failover) {
        Readiness::NotReady
    } else if failing(Blocks::Switchover) {
        Readiness::ReadyUnplannedOnly
    } else {
        Readiness::Ready
    }
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
    let mut order = health::endpoint_order(plan, Some(source), clients.seed);
    if input.mode == Mode::Unplanned {
        order.retain(|e| e.region != source);
    }
    let controls: Vec<(&str, &str)> = plan
        .arc
        .routing_controls
        .iter()
        .flat_map(|(region, arns)| arns.iter().map(move |a| (region.as_str(), a.as_str())))
        .collect();
    let arns: Vec<&str> = controls.iter().map(|(_, a)| *a).collect();
    let read = match health::read_controls(plan, order, &arns, 1, clients).await {
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

/// The global cluster of one database, read in the target Region.
async fn check_database(
    input: &PreflightInput,
    db: &GlobalDatabase,
    source: &str,
    clients: &AwsClients,
) -> Result<(Vec<PreflightCheck>, DataAtRisk), StepError> {
    let target = input.target_region.as_str();
    let gc = db.global_cluster.as_str();
    let rds = clients.rds.get(target);
    let mut checks = Vec::new();
    let mut risk = DataAtRisk {
        database: db.name.clone(),
        global_cluster: gc.to_string(),
        writer: None,
        writer_region: None,
        lag: None,
    };
    let region_of = |arn: &str| db.members.iter().find(|(_, a)| a.eq_ignore_ascii_case(arn)).map(|(r, _)| r.clone());

    let g = match aurora::describe_global_cluster(&rds, gc, target).await {
        Ok(g) => g,
        Err(e) if e.kind == ErrorKind::NotFound => {
            checks.push(check("global-cluster", gc, Verdict::Fail, e.message, Some(Blocks::Failover)));
            return Ok((checks, risk));
        }
        Err(e) => return Err(e),
    };
    let status = g.status().unwrap_or("unknown");
    checks.push(check(
        "global-cluster",
        gc,
        if status == "available" { Verdict::Pass } else { Verdict::Fail },
        format!("`{status}` in {target}"),
        Some(Blocks::Switchover),
    ));

    let members = g.global_cluster_members();
    let mut seen: Vec<String> =
        members.iter().filter_map(|m| m.db_cluster_arn()).map(str::to_ascii_lowercase).collect();
    let mut want: Vec<String> = db.members.values().map(|a| a.to_ascii_lowercase()).collect();
    seen.sort();
    want.sort();
    checks.push(check(
        "members",
        gc,
        if seen == want { Verdict::Pass } else { Verdict::Fail },
        if seen == want {
            format!("{} members, as the plan says", seen.len())
        } else {
            format!("members are [{}], the plan says [{}]", seen.join(", "), want.join(", "))
        },
        Some(Blocks::Failover),
    ));

    let target_arn = db.members.get(target).map(String::as_str).unwrap_or_default();
    let writer = members.iter().find(|m| m.is_writer() == Some(true)).and_then(|m| m.db_cluster_arn());
    risk.writer = writer.map(str::to_string);
    risk.writer_region = writer.and_then(region_of);
    let target_writes = writer.is_some_and(|w| w.eq_ignore_ascii_case(target_arn));
    let in_flight = g.failover_state().and_then(|f| {
        let status = f.status().map(|s| s.as_str().to_string());
        let to = f.to_db_cluster_arn().map(str::to_string);
        (status.is_some() || to.is_some()).then_some((status.unwrap_or_else(|| "unknown".into()), to))
    });
    match (&in_flight, writer) {
        (Some((status, to)), _) if !to.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(target_arn)) => {
            checks.push(check(
                "writer",
                gc,
                Verdict::Fail,
                format!(
                    "a failover towards {} is in progress ({status})",
                    to.as_deref().unwrap_or("an unnamed cluster")
                ),
                Some(Blocks::Failover),
            ));
        }
        (Some((status, _)), _) => {
            checks.push(check("writer", gc, Verdict::Pass, format!("already moving to the target ({status})"), None));
        }
        (None, None) => {
            checks.push(check("writer", gc, Verdict::Fail, "no member is the writer", Some(Blocks::Failover)));
        }
        (None, Some(w)) => {
            let detail = if target_writes {
                format!("{} (the target) already writes", cluster_id_of_arn(w))
            } else {
                format!("{} in {}", cluster_id_of_arn(w), risk.writer_region.as_deref().unwrap_or("an unknown Region"))
            };
            checks.push(check("writer", gc, Verdict::Pass, detail, None));
        }
    }
    let unsynchronised: Vec<String> = members
        .iter()
        .filter(|m| m.is_writer() != Some(true))
        .filter_map(|m| {
            let s = m.synchronization_status()?.as_str();
            (s != "connected").then(|| format!("{} ({s})", cluster_id_of_arn(m.db_cluster_arn().unwrap_or("?"))))
        })
        .collect();
    if !unsynchronised.is_empty() {
        checks.push(check(
            "members",
            gc,
            Verdict::Fail,
            format!("not synchronised: {}", unsynchronised.join(", ")),
            Some(Blocks::Switchover),
        ));
    }

    let target_id = cluster_id_of_arn(target_arn);
    let Some(target_cluster) = aurora::find_cluster(&rds, target_id, target).await? else {
        checks.push(check(
            "engine-version",
            target_id,
            Verdict::Fail,
            format!("the target member cluster {target_id} does not exist in {target}"),
            Some(Blocks::Failover),
        ));
        return Ok((checks, risk));
    };
    let target_status = target_cluster.status().unwrap_or("unknown");
    if target_status != "available" {
        checks.push(check(
            "members",
            target_id,
            Verdict::Fail,
            format!("target cluster is `{target_status}`, not available"),
            Some(Blocks::Switchover),
        ));
    }
    let target_version = target_cluster.engine_version().unwrap_or_default().to_string();
    let (source_what, source_version) = match input.mode {
        Mode::Planned => {
            let source_arn = db.members.get(source).map(String::as_str).unwrap_or_default();
            let source_id = cluster_id_of_arn(source_arn);
            match aurora::find_cluster(&clients.rds.get(source), source_id, source).await? {
                Some(c) => {
                    let s = c.status().unwrap_or("unknown");
                    if s != "available" {
                        checks.push(check(
                            "members",
                            source_id,
                            Verdict::Fail,
                            format!(
                                "source cluster is `{s}`, not available: a switchover needs every member available"
                            ),
                            Some(Blocks::Switchover),
                        ));
                    }
                    (format!("source cluster {source_id}"), c.engine_version().unwrap_or_default().to_string())
                }
                None => {
                    checks.push(check(
                        "members",
                        source_id,
                        Verdict::Fail,
                        format!("the source member cluster does not exist in {source}"),
                        Some(Blocks::Switchover),
                    ));
                    (format!("global cluster {gc}"), g.engine_version().unwrap_or_default().to_string())
                }
            }
        }
        // The source Region may be gone: the global cluster's version, as the target Region
        // reports it, stands for the source (as aurora-failover does).
        Mode::Unplanned => (format!("global cluster {gc}"), g.engine_version().unwrap_or_default().to_string()),
    };
    let same = !target_version.is_empty()
        && !source_version.is_empty()
        && major_minor(&target_version) == major_minor(&source_version);
    checks.push(check(
        "engine-version",
        gc,
        if same { Verdict::Pass } else { Verdict::Fail },
        if same {
            format!("{target_id} runs `{target_version}`, {source_what} `{source_version}`")
        } else {
            format!(
                "engine versions differ: {target_id} runs `{target_version}`, {source_what} runs `{source_version}`; \
                 both sides need the same major and minor version"
            )
        },
        Some(Blocks::Failover),
    ));

    checks.push(check_instance(db, &target_cluster, target, &rds).await?);

    if target_writes {
        checks.push(check(
            "replication-lag",
            target_id,
            Verdict::Pass,
            "the target already writes: nothing to replicate",
            None,
        ));
    } else {
        let cw = clients.cloudwatch.get(target);
        let rpo_ms = input.plan.objectives.rpo_seconds.saturating_mul(1000);
        match aurora::read_lag(&cw, target_id, target, &clients.clock).await {
            Ok(Some(l)) => {
                let over = l.milliseconds > rpo_ms;
                checks.push(check(
                    "replication-lag",
                    target_id,
                    if over { Verdict::Fail } else { Verdict::Pass },
                    format!(
                        "{} ms ({} at {}), {} the RPO of {rpo_ms} ms",
                        l.milliseconds,
                        l.metric,
                        l.at,
                        if over { "over" } else { "within" }
                    ),
                    Some(Blocks::Switchover),
                ));
                risk.lag = Some(l);
            }
            Ok(None) => checks.push(check(
                "replication-lag",
                target_id,
                Verdict::Fail,
                format!(
                    "no {} or {} datapoint in {target}: a switchover cannot be shown to lose nothing",
                    aurora::LAG_METRICS[0],
                    aurora::LAG_METRICS[1]
                ),
                Some(Blocks::Switchover),
            )),
            Err(e) if e.kind.retryable() || e.kind == ErrorKind::AccessDenied => return Err(e),
            Err(e) => {
                checks.push(check("replication-lag", target_id, Verdict::Fail, e.message, Some(Blocks::Switchover)))
            }
        }
    }
    Ok((checks, risk))
}

/// An available instance in the target, or a headless target the plan lets the failover
/// give one.
async fn check_instance(
    db: &GlobalDatabase,
    target_cluster: &aws_sdk_rds::types::DbCluster,
    target: &str,
    rds: &aws_sdk_rds::Client,
) -> Result<PreflightCheck, StepError> {
    let id = target_cluster.db_cluster_identifier().unwrap_or_default();
    let mut found = Vec::new();
    for m in target_cluster.db_cluster_members() {
        let Some(instance) = m.db_instance_identifier() else { continue };
        if let Some(i) = aurora::find_instance(rds, instance, target).await? {
            found.push((instance.to_string(), i.db_instance_status().unwrap_or("unknown").to_string()));
        }
    }
    if let Some((name, _)) = found.iter().find(|(_, s)| s == "available") {
        return Ok(check("instance", id, Verdict::Pass, format!("{name} is available"), None));
    }
    if found.is_empty() {
        return Ok(match &db.headless {
            Some(cap) => check(
                "instance",
                id,
                Verdict::Pass,
                format!(
                    "headless: the failover first creates a {} instance (several minutes of the RTO)",
                    cap.instance_class
                ),
                None,
            ),
            None => check(
                "instance",
                id,
                Verdict::Fail,
                format!("headless and the plan gives no capacity (databases[{}].headless): add an instance", db.name),
                Some(Blocks::Failover),
            ),
        });
    }
    let list: Vec<String> = found.iter().map(|(n, s)| format!("{n} ({s})")).collect();
    Ok(check(
        "instance",
        id,
        Verdict::Fail,
        format!("no available instance: {}", list.join(", ")),
        Some(Blocks::Failover),
    ))
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
    let (http, _) = health::run_checks(&run(&input.target_region, true, false), clients).await?;
    out.extend(http.into_iter().map(|c| from_health(c, Blocks::Failover, &input.target_region)));
    for (watched, judged) in [(input.target_region.as_str(), true), (source, false)] {
        match health::run_checks(&run(watched, false, true), clients).await {
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
