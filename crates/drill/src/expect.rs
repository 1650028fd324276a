//! What a drill's outcome should be, and whether it was: the scenario table of the issue,
//! the RTO against its lower bound, and the report against the simulator's ground truth.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use failover_asl::{ExecutionHandle, Status};
use failover_core::Plan;
use regionsim::Sim;
use regionsim::rds::Aurora;
use regionsim::rds::model::Timings;
use serde_json::Value;

use crate::dispatch::Invocation;
use crate::report::{
    Approve, DrillOptions, DrillReport, ExecutionSummary, Fault, Lost, Notification, PhaseTiming, Scenario, TableLoss,
    parse_time, service_names,
};

pub(crate) struct Inputs<'a> {
    pub opts: &'a DrillOptions,
    pub plan: &'a Plan,
    pub sim: &'a Sim,
    pub aurora: &'a Aurora,
    pub timings: &'a Timings,
    /// The simulated world the drill ran in.
    pub world: &'a regionsim::world::World,
    /// When every sampled resolver answered the target (observed; `None`: never, or nothing
    /// moved).
    pub clients_at: Option<SystemTime>,
    /// The approver's delay over each request it decided, seconds.
    pub decided_s: &'a [f64],
    pub cold_starts: usize,
    pub epoch: SystemTime,
    pub executions: &'a [ExecutionHandle],
    pub decision: &'a ExecutionHandle,
    pub decision_target: &'a str,
    pub decisions: &'a [String],
    pub invocations: &'a [Invocation],
    pub lambda_faults_injected: usize,
    /// The deployed definitions, by machine: `failover`, `recovery`.
    pub definitions: [(&'a str, &'a failover_asl::Definition); 2],
    pub schema_notes: &'a [String],
}

/// What the proposers did in a drill that has an outage to detect.
pub(crate) struct Proposals<'a> {
    pub opts: &'a DrillOptions,
    pub primary: &'a str,
    pub secondary: &'a str,
    /// One line per proposer invocation, `"<region>: <decision>"`.
    pub lines: &'a [String],
    /// The failover executions the proposers started (`alarm-...`, recoveries left out).
    pub started: usize,
    /// The alarm events EventBridge delivered to a proposer.
    pub delivered: usize,
}

/// The proposers' verdict: one incident starts exactly one execution however many alarms
/// arrive, none when the routing cannot be read (and the proposer says so), and in a
/// partition the proposer of the Region that still serves refuses with its reason. Each
/// problem found, as the drill prints it.
pub(crate) fn proposers(p: &Proposals<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    let all_arc_dead = p.opts.all_arc_dead();
    let want_started = usize::from(!all_arc_dead);
    if p.started != want_started {
        problems.push(format!(
            "{} alarm event(s) started {} failover execution(s), not {want_started}: one incident starts exactly one, \
             none when the routing cannot be read",
            p.delivered, p.started
        ));
    }
    if all_arc_dead && !p.lines.iter().any(|l| l.contains("routing controls could not be read")) {
        problems.push(format!(
            "with every ARC endpoint dead the proposer must say it cannot read the routing: {:?}",
            p.lines
        ));
    }
    if p.opts.faults.contains(&Fault::Partition) {
        // Both proposers fired; the one in the Region that serves must have said why it
        // started nothing (the other's execution is the only one, judged above).
        let prefix = format!("{}: ", p.primary);
        let serving_side: Vec<&String> = p.lines.iter().filter(|l| l.starts_with(&prefix)).collect();
        if serving_side.is_empty() {
            problems.push(format!(
                "partition: the proposer in {} never fired (its canaries watching {} must alarm)",
                p.primary, p.secondary
            ));
        } else if !serving_side.iter().all(|l| l.contains("no failover started")) {
            problems.push(format!(
                "partition: the proposer in {} did not refuse with its reason: {serving_side:?}",
                p.primary
            ));
        }
    }
    if p.opts.faults.contains(&Fault::AlarmStorm) && p.delivered < 50 {
        problems.push(format!("the alarm storm delivered {} event(s), not 50", p.delivered));
    }
    problems
}

fn secs_between(a: SystemTime, b: SystemTime) -> f64 {
    b.duration_since(a).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

pub(crate) async fn assess(i: Inputs<'_>) -> DrillReport {
    let mut problems = Vec::new();
    let plan = i.plan;
    let decision_result = i.decision.wait().await;
    let serving = serving_regions(i.sim, plan);
    let writers: BTreeMap<String, String> = plan
        .databases
        .iter()
        .map(|d| {
            let w = i.aurora.with_data(|data| data.writer(&d.global_cluster).map(|c| c.region.clone()));
            (d.name.clone(), w.unwrap_or_else(|| "none".into()))
        })
        .collect();
    let other = plan.other_region(i.decision_target).unwrap_or_default().to_string();
    let never_returns = i.opts.faults.contains(&Fault::NeverReturns);
    let no_snapshot = i.opts.faults.contains(&Fault::NoSnapshot);
    let all_arc_dead = i.opts.all_arc_dead();
    // With a cluster quota, the databases past it cannot be restored: their recovery fails,
    // the others' report.
    let quota_failures = i.opts.cluster_quota().map_or(0, |q| plan.databases.len().saturating_sub(q));
    // RDS refuses these databases' moves: their writers stay, the others move.
    let refused: Vec<String> = i.opts.refused_moves().into_iter().map(str::to_string).collect();
    // A planned switchover whose lag is over the RPO, or unknown (no lag datapoint), is
    // refused; the approver is asked whether to continue unplanned (and the rest is an
    // unplanned failover's).
    let refused_switchover = i.opts.scenario == Scenario::Planned
        && (i.opts.lag().is_some_and(|s| s.saturating_mul(1000) > plan.objectives.rpo_seconds.saturating_mul(1000))
            || i.opts.faults.contains(&Fault::NoLagMetric));
    let entered = |state: &str| {
        i.decision.history().iter().any(|ev| ev.event_type.ends_with("StateEntered") && ev.state_name() == Some(state))
    };
    if refused_switchover {
        for state in ["AssessUnplanned", "NotifySwitchoverRefused", "AskContinueUnplanned"] {
            if !entered(state) {
                problems.push(format!("the refused switchover never entered {state}"));
            }
        }
    }

    // Executions.
    let executions: Vec<ExecutionSummary> = i
        .executions
        .iter()
        .map(|h| {
            let d = h.describe();
            ExecutionSummary {
                name: h.name().to_string(),
                status: d.status,
                error: d.error.clone(),
                cause: d.cause.clone(),
                history_events: h.history().len(),
            }
        })
        .collect();
    let recovery = i.executions.iter().find(|h| h.name().ends_with("-recovery"));

    // Expected outcome.
    let moved = serving == vec![i.decision_target.to_string()]
        && writers.iter().all(|(db, w)| (w == i.decision_target) != refused.contains(db));
    let (expected, outcome) = match i.opts.approve {
        Approve::Auto | Approve::Replayed | Approve::Impostor if all_arc_dead => {
            // No ARC endpoint answers: preflight cannot read the routing controls, nothing
            // moves, the failure is notified and the execution fails.
            let failed = decision_result.status == Status::Failed;
            let notified =
                i.sim.sns_messages().iter().any(|m| m.attributes.get("phase").is_some_and(|(_, v)| v == "failed"));
            let still = !serving.contains(&i.decision_target.to_string()) || serving == vec![other.clone()];
            let writers_still = writers.values().all(|w| *w != i.decision_target);
            if !failed {
                problems.push(format!("with every ARC endpoint dead the execution ended {:?}", decision_result.status));
            }
            if !notified {
                problems.push("the failure was not notified".into());
            }
            if !(still && writers_still) {
                problems.push(format!("something moved: serving {serving:?}, writers {writers:?}"));
            }
            (
                "failed: no ARC endpoint answers; nothing moved, the failure notified".to_string(),
                if failed && notified && still && writers_still { "failed-nothing-moved" } else { "unexpected" }
                    .to_string(),
            )
        }
        Approve::Auto | Approve::Replayed | Approve::Impostor if !refused.is_empty() => {
            // Traffic and the other writers move; the refused ones stay; the execution
            // fails naming them, after starting the recovery of the others when unplanned.
            let failed = decision_result.status == Status::Failed
                && decision_result.error.as_deref() == Some("Failover.DatabasesNotMoved");
            let cause = decision_result.cause.clone().unwrap_or_default();
            let named = refused.iter().all(|d| cause.contains(&format!("\"{d}\"")));
            let notified =
                i.sim.sns_messages().iter().any(|m| m.attributes.get("phase").is_some_and(|(_, v)| v == "failed"));
            if !failed || !named {
                problems.push(format!(
                    "the execution ended {:?} with {:?} ({cause}): expected Failover.DatabasesNotMoved naming {refused:?}",
                    decision_result.status, decision_result.error
                ));
            }
            if !moved {
                problems.push(format!(
                    "serving {serving:?}, writers {writers:?}: expected traffic and every writer but {refused:?} in {}",
                    i.decision_target
                ));
            }
            if !notified {
                problems.push("the failure was not notified".into());
            }
            (
                format!(
                    "traffic and the other writers moved, {} refused and left in place; the execution failed naming it{}",
                    refused.join(", "),
                    if i.opts.scenario == Scenario::RegionOutage {
                        "; the others recovered, report equal to ground truth"
                    } else {
                        ""
                    }
                ),
                if failed && named && moved && notified { "partly-moved" } else { "unexpected" }.to_string(),
            )
        }
        Approve::Auto | Approve::Replayed | Approve::Impostor => {
            let expected = match i.opts.scenario {
                Scenario::Planned if refused_switchover => {
                    "switchover refused (lag over the RPO or unknown), continued unplanned on approval: failed over, recovered, report equal to ground truth"
                        .to_string()
                }
                Scenario::Planned | Scenario::Failback => "traffic and writers in the target, nothing lost".to_string(),
                Scenario::RegionOutage if never_returns => {
                    "failed over; the old Region never returned: the recovery waited within its history budget and reported it"
                        .to_string()
                }
                Scenario::RegionOutage if no_snapshot => {
                    "failed over; no snapshot: the report says the lost rows are unknown".to_string()
                }
                Scenario::RegionOutage if quota_failures > 0 => format!(
                    "failed over; {quota_failures} database(s) past the cluster quota not restored (recovery failed for them), the others reported exactly"
                ),
                Scenario::RegionOutage => "failed over, recovered, report equal to ground truth".to_string(),
            };
            let mut ok = decision_result.status == Status::Succeeded;
            if !ok {
                problems.push(format!(
                    "the failover execution ended {:?}: {} {}",
                    decision_result.status,
                    decision_result.error.clone().unwrap_or_default(),
                    decision_result.cause.clone().unwrap_or_default()
                ));
            }
            if !moved {
                ok = false;
                problems.push(format!("serving {serving:?}, writers {writers:?}: not all in {}", i.decision_target));
            }
            (expected, if ok { "moved".to_string() } else { "not-moved".to_string() })
        }
        Approve::Reject | Approve::Timeout | Approve::Forged | Approve::Scanner => {
            let want_error = i.opts.approve.refusal_error();
            let still = serving == vec![other.clone()] && writers.values().all(|w| *w == other)
                || (i.opts.scenario == Scenario::RegionOutage && !serving.contains(&i.decision_target.to_string()));
            let recorded = decision_result.error.as_deref() == Some(want_error);
            if !still {
                problems.push(format!("something moved: serving {serving:?}, writers {writers:?}"));
            }
            if !recorded {
                problems.push(format!(
                    "the decision was not recorded as {want_error} (the execution ended {:?} with {:?})",
                    decision_result.status, decision_result.error
                ));
            }
            (
                "nothing moved, the decision recorded".to_string(),
                if still && recorded { "nothing-moved".to_string() } else { "moved-or-unrecorded".to_string() },
            )
        }
    };

    // RTO (`failover_core::rto`, ARCHITECTURE.md "Recovery time"): from the start of the
    // decision execution to clients served by the target (every sampled resolver answers it,
    // observed, and every writer is there, by the simulator's completion events), less the
    // time waited for human decisions, which is reported apart.
    let out = decision_result.output.clone().unwrap_or(Value::Null);
    let start = i.decision.start_date();
    let waits = crate::clients::decision_waits(&i.decision.history());
    let waited = failover_core::rto::waited(&waits);
    let moving: Vec<&failover_core::plan::GlobalDatabase> =
        plan.databases.iter().filter(|d| !refused.contains(&d.name)).collect();
    let writer_times: Vec<Option<SystemTime>> =
        moving.iter().map(|d| writer_moved_at(i.aurora, d, i.decision_target, start)).collect();
    let served = i.clients_at.and_then(|c| failover_core::rto::served_at(c, &writer_times));
    let rto_s = served.map(|at| failover_core::rto::recovery_time(start, at, &waits).as_secs_f64());
    // The lower bound: the world's costs on the critical path that no orchestration avoids,
    // from the model, not from the run. From the last human decision (or the start, when
    // nobody was asked): one state transition and one warm invocation, then in parallel (a)
    // the routing update on the target's own ARC endpoint, Route 53's propagation and every
    // resolver's next fetch after it, (b) the move call in the target Region and the slowest
    // database operation as long as the model made it. The work before a decision (preflight,
    // the request) is counted in the RTO and in the bound alike: a decision comes when the
    // person makes it, and the resolvers' fetches are anchored to that instant, not to an
    // imagined decision at the start (a few seconds of shift there would move a resolver's
    // next fetch by a whole cache period and judge the person's timing, not the
    // orchestration's).
    let w = i.world;
    let target = Some(i.decision_target);
    let decided = waits.iter().map(|w| w.to).max().unwrap_or(start).max(start);
    let begin = decided + w.state_transition() + w.lambda_invoke();
    let changed = begin + w.call_latency(regionsim::service::ARC, target, target) + w.health_check_propagation;
    // The resolvers' tail is taken after the authoritative change as it happened: given the
    // instant the answer changed, when each resolver next fetches is nobody's doing, and a
    // delay of the change is judged by its own length (from the modeled `changed` on), not
    // by the cache periods it happens to straddle.
    let actual_change = i.clients_at.and_then(|until| first_answer_of(i.sim, i.decision_target, decided, until));
    let dns_end = match (i.sim.try_service::<regionsim::resolvers::Resolvers>(), actual_change) {
        (Some(r), Some(actual)) => changed + r.all_fetched_after(actual).duration_since(actual).unwrap_or_default(),
        (Some(r), None) => r.all_fetched_after(changed),
        (None, _) => changed + w.longest_cache(),
    };
    let db_end = (!moving.is_empty()).then(|| {
        begin + w.call_latency(regionsim::service::RDS, target, target) + slowest_global_operation(i.aurora, start)
    });
    let bound_end = db_end.map_or(dns_end, |d| d.max(dns_end));
    let rto_lower_bound_s =
        served.map(|_| bound_end.duration_since(start).unwrap_or_default().saturating_sub(waited).as_secs_f64());
    if i.opts.approve.approves() && rto_s.is_none() && decision_result.status == Status::Succeeded {
        problems.push(format!(
            "the RTO could not be measured: clients switched {:?}, writers {:?}",
            i.clients_at.map(|c| secs_between(start, c)),
            writer_times.iter().map(|t| t.map(|t| secs_between(start, t))).collect::<Vec<_>>()
        ));
    }
    // The verdict on the RTO: over the plan's objective, or over the lower bound by more
    // than the allowed ratio, the drill fails.
    if let Some(rto) = rto_s {
        let objective = plan.objectives.rto_seconds as f64;
        if rto > objective {
            problems.push(format!("RTO {rto:.1} s is over the plan's objective of {objective:.0} s"));
        }
        if let Some(lb) = rto_lower_bound_s.filter(|lb| *lb > 0.0)
            && rto > lb * i.opts.rto_ratio
        {
            problems.push(format!(
                "RTO {rto:.1} s is {:.3} times its lower bound of {lb:.1} s, over the allowed ratio {:.2}",
                rto / lb,
                i.opts.rto_ratio
            ));
        }
    }
    // The same definition from what the execution itself knew (what notify reports): the DNS
    // watch's authoritative change plus the answered TTL, the writers as polled.
    let execution_rto_s = execution_rto(&out, start);
    let outage_to_served_s = served.and_then(|at| {
        let down = i.sim.health_transitions().into_iter().filter(|t| !t.up && t.at <= start).map(|t| t.at).max()?;
        (i.opts.scenario == Scenario::RegionOutage)
            .then(|| at.duration_since(down).unwrap_or_default().saturating_sub(waited).as_secs_f64())
    });
    let mut beliefs = beliefs(plan, i.world);
    if let (Some(measured), Some(believed)) = (rto_s, execution_rto_s)
        && measured > believed + 1.0
    {
        beliefs.push(format!(
            "the execution put the RTO at {believed:.1} s (authoritative change + TTL); its clients were served at {measured:.1} s"
        ));
    }

    let unplanned = i.opts.scenario == Scenario::RegionOutage || refused_switchover;
    if refused_switchover && i.opts.approve.approves() && !entered("SwitchToUnplanned") {
        problems.push("the approved refusal never switched to the unplanned mode".into());
    }

    // Phases: every Task and Map state of every execution, by entered and exited events.
    let mut phases = Vec::new();
    for h in i.executions {
        let mut open: BTreeMap<String, SystemTime> = BTreeMap::new();
        for ev in h.history() {
            let Some(name) = ev.state_name().map(str::to_string) else { continue };
            if ev.event_type.ends_with("StateEntered") {
                open.entry(name).or_insert(ev.timestamp);
            } else if ev.event_type.ends_with("StateExited")
                && let Some(t0) = open.remove(&name)
            {
                phases.push(PhaseTiming {
                    execution: h.name().to_string(),
                    state: name,
                    start_s: secs_between(start.min(t0), t0) - secs_between(start.min(t0), start),
                    duration_s: secs_between(t0, ev.timestamp),
                });
            }
        }
    }

    // Lost transactions (none where nothing could move: every ARC endpoint dead).
    let recovers = unplanned && i.opts.approve.approves() && !all_arc_dead;
    let lost = if recovers {
        let mut failed_dbs: std::collections::BTreeSet<String> = if quota_failures > 0 {
            recovery_results(recovery)
                .iter()
                .filter(|r| r.pointer("/outcome").and_then(Value::as_str) == Some("failed"))
                .filter_map(|r| r.pointer("/database").and_then(Value::as_str).map(str::to_string))
                .collect()
        } else {
            Default::default()
        };
        failed_dbs.extend(refused.iter().cloned());
        let l = compare_lost(&i, recovery, &failed_dbs);
        if !l.exact && !never_returns && !no_snapshot {
            problems.push(format!(
                "the missing-transaction report differs from the ground truth: {}",
                l.key_mismatches.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
            ));
        }
        l
    } else {
        let mut l = Lost { exact: true, ..Lost::default() };
        for d in &plan.databases {
            let truths = i.aurora.ground_truth(&d.global_cluster);
            let n: usize = truths.iter().map(|t| t.total_rows()).sum();
            if n > 0 {
                l.exact = false;
                problems.push(format!("{}: {n} rows lost in a scenario that must lose nothing", d.name));
            }
        }
        l
    };
    if recovers {
        match recovery {
            None => problems.push("the failover did not start the recovery machine".into()),
            Some(r) => {
                let st = r.status();
                if st != Status::Succeeded {
                    problems.push(format!("the recovery execution ended {st:?}"));
                }
                let all: Vec<Value> = r
                    .describe()
                    .output
                    .as_ref()
                    .and_then(|o| o.pointer("/results").and_then(Value::as_array).cloned())
                    .unwrap_or_default();
                let is_refused = |x: &Value| {
                    x.pointer("/database").and_then(Value::as_str).is_some_and(|d| refused.iter().any(|r| r == d))
                };
                for x in all.iter().filter(|x| is_refused(x)) {
                    if x.pointer("/outcome").and_then(Value::as_str) != Some("not-moved") {
                        problems.push(format!("recovery of a database that never moved: {x}, expected `not-moved`"));
                    }
                }
                let results: Vec<Value> = all.into_iter().filter(|x| !is_refused(x)).collect();
                let outcomes: Vec<String> = results
                    .iter()
                    .filter_map(|x| x.pointer("/outcome").and_then(Value::as_str).map(str::to_string))
                    .collect();
                let want = if never_returns {
                    "old-region-never-returned"
                } else if no_snapshot {
                    "snapshot-unavailable"
                } else {
                    "reported"
                };
                let failed = outcomes.iter().filter(|o| *o == "failed").count();
                let quota_errors = results
                    .iter()
                    .filter(|x| x.pointer("/outcome").and_then(Value::as_str) == Some("failed"))
                    .all(|x| x.pointer("/error").is_some_and(|e| e.to_string().contains("QuotaExceeded")));
                if quota_failures > 0 {
                    if failed != quota_failures || !quota_errors {
                        problems.push(format!(
                            "recovery outcomes {outcomes:?}: expected {quota_failures} failed by the cluster quota, the rest reported"
                        ));
                    }
                    if outcomes.iter().any(|o| o != "failed" && o != want) {
                        problems.push(format!("recovery outcomes {outcomes:?}: the others must be `{want}`"));
                    }
                } else if outcomes.is_empty() || outcomes.iter().any(|o| o != want) {
                    problems.push(format!("recovery outcomes {outcomes:?}, expected every database `{want}`"));
                    let errors: Vec<String> = results
                        .iter()
                        .filter_map(|x| {
                            x.pointer("/error").map(|e| {
                                format!("{}: {e}", x.pointer("/database").and_then(Value::as_str).unwrap_or("?"))
                            })
                        })
                        .collect();
                    problems.extend(errors);
                }
            }
        }
    }

    // The approval page decides each request exactly once: a replayed form sends nothing
    // more, and a forged link or a scanner's GET sends nothing at all.
    let asked = i
        .sim
        .sns_messages()
        .iter()
        .filter(|m| m.attributes.get("phase").is_some_and(|(_, v)| v == "approval-requested"))
        .count();
    let calls = i.sim.calls();
    let sent = calls
        .iter()
        .filter(|c| c.service == "states" && c.operation.starts_with("SendTask") && c.status.is_some_and(|s| s < 300))
        .count();
    let page_calls = calls.iter().filter(|c| c.service == regionsim::service::FUNCTION_URLS).count();
    match i.opts.approve {
        Approve::Replayed if sent != asked => {
            problems.push(format!("{asked} approval(s) asked, {sent} decision(s) sent: a replayed form was acted on"))
        }
        Approve::Forged | Approve::Scanner if i.opts.scenario != Scenario::Failback && sent != 0 => {
            problems.push(format!("{sent} decision(s) sent from a forged link or a scanner's GET"))
        }
        Approve::Forged | Approve::Scanner if page_calls == 0 => {
            problems.push("the approval page was never reached".to_string())
        }
        _ => {}
    }

    // Who decided: every name recorded with a decision is one the plan lists (when it lists
    // any), and an impostor's form was refused before the approver's was taken.
    let refused_posts = calls
        .iter()
        .filter(|c| {
            c.service == regionsim::service::FUNCTION_URLS && c.operation.starts_with("POST ") && c.status == Some(403)
        })
        .count();
    problems.extend(deciders_listed(
        &deciders_of(i.sim, i.plan),
        &i.plan.approval.approvers,
        i.opts.approve,
        refused_posts,
    ));

    // Notifications, API calls, mutating calls repeated?
    let notifications: Vec<Notification> = i
        .sim
        .sns_messages()
        .into_iter()
        .map(|m| Notification {
            at_s: secs_between(i.epoch, m.at),
            region: m.region.clone(),
            subject: m.subject.clone(),
            phase: m.attributes.get("phase").map(|(_, v)| v.clone()),
        })
        .collect();
    let api_calls = i.sim.api_calls();
    let mut mutating_calls: BTreeMap<String, u64> = BTreeMap::new();
    for c in &calls {
        if c.mutating && c.status.is_some_and(|s| s < 300) {
            *mutating_calls.entry(format!("{}:{}", c.service, c.operation)).or_default() += 1;
        }
    }
    let _ = service_names();
    // Repeated side effects, by the simulator's fingerprints. A repeated notification is a
    // duplicate e-mail, which SNS standard topics cannot prevent: counted, not judged. A
    // form sent twice to the approval page is the person's request, not a side effect: what
    // the page does with it (its table writes and Step Functions calls) is judged.
    let repeated_side_effects: Vec<String> = i
        .sim
        .repeated_side_effects()
        .into_iter()
        .map(|c| {
            format!("{}:{} at {:.1} s (answered {:?})", c.service, c.operation, secs_between(i.epoch, c.at), c.status)
        })
        .collect();
    for r in repeated_side_effects.iter().filter(|r| !r.starts_with("sns:Publish") && !r.starts_with("function-urls:"))
    {
        problems.push(format!("a side effect repeated: {r}"));
    }
    let history_events: BTreeMap<String, usize> =
        i.executions.iter().map(|h| (h.name().to_string(), h.history().len())).collect();
    for (name, n) in &history_events {
        if *n > 25_000 {
            problems.push(format!("{name}: {n} history events exceed the 25,000 limit"));
        }
    }
    let mut latencies = BTreeMap::new();
    latencies.insert("health_check_propagation_s".into(), i.world.health_check_propagation.as_secs_f64());
    latencies.insert("dns_ttl_s".into(), f64::from(i.world.dns_ttl));
    latencies.insert("longest_resolver_cache_s".into(), i.world.longest_cache().as_secs_f64());
    latencies.insert("plan_health_check_propagation_s".into(), f64::from(plan.dns.health_check_propagation_seconds));
    latencies.insert("plan_dns_ttl_s".into(), f64::from(plan.dns.ttl_seconds));
    latencies.insert("lambda_invoke_s".into(), i.world.lambda_invoke().as_secs_f64());
    latencies.insert("state_transition_s".into(), i.world.state_transition().as_secs_f64());
    latencies.insert("switchover_s".into(), i.timings.switchover.as_secs_f64());
    latencies.insert("failover_s".into(), i.timings.failover.as_secs_f64());
    latencies.insert("pending_s".into(), i.timings.pending.as_secs_f64());
    latencies.insert("snapshot_copy_s".into(), i.timings.snapshot_copy.as_secs_f64());
    latencies.insert("restore_s".into(), i.timings.restore.as_secs_f64());
    latencies.insert("instance_s".into(), i.timings.create_instance.as_secs_f64());
    let _ = i.decisions;

    DrillReport {
        scenario: i.opts.scenario,
        approve: i.opts.approve,
        faults: i.opts.faults.clone(),
        seed: i.opts.seed,
        as_expected: problems.is_empty(),
        outcome,
        expected_outcome: expected,
        problems,
        rto_s,
        rto_lower_bound_s,
        approval_wait_s: waited.as_secs_f64(),
        decided_s: i.decided_s.to_vec(),
        detected_s: None,
        proposed_s: None,
        proposals: Vec::new(),
        clients_switched_s: i.clients_at.map(|c| secs_between(start, c)),
        writers_moved_s: writer_times
            .iter()
            .try_fold(None::<SystemTime>, |acc, t| t.map(|t| Some(acc.map_or(t, |a| a.max(t)))))
            .flatten()
            .map(|t| secs_between(start, t)),
        outage_to_served_s,
        execution_rto_s,
        world: i.world.figures(),
        beliefs,
        cold_starts: i.cold_starts,
        plan_rto_s: plan.objectives.rto_seconds,
        rto_ratio_allowed: i.opts.rto_ratio,
        latencies,
        phases,
        lost,
        notifications,
        api_calls,
        mutating_calls,
        repeated_side_effects,
        history_events,
        executions,
        serving_regions: serving,
        writers,
        invocations: i.invocations.len(),
        lambda_faults_injected: i.lambda_faults_injected,
        coverage: coverage(&i),
        schema_notes: i.schema_notes.to_vec(),
    }
}

/// The Regions whose routing controls are all On.
/// The states each machine's executions entered (`<name>-recovery` executions are the
/// recovery machine's).
fn coverage(i: &Inputs<'_>) -> BTreeMap<String, failover_asl::Coverage> {
    let mut out: BTreeMap<String, failover_asl::Coverage> =
        i.definitions.iter().map(|(name, def)| (name.to_string(), failover_asl::Coverage::of(def))).collect();
    for h in i.executions {
        let machine = if h.name().ends_with("-recovery") { "recovery" } else { "failover" };
        if let Some(c) = out.get_mut(machine) {
            c.record(&h.history());
        }
    }
    out
}

fn serving_regions(sim: &Sim, plan: &Plan) -> Vec<String> {
    plan.arc
        .routing_controls
        .iter()
        .filter(|(_, controls)| controls.iter().all(|c| sim.routing_control_on(c) == Some(true)))
        .map(|(r, _)| r.clone())
        .collect()
}

/// The first instant in `[from, until]` at which the authoritative answer is `target` alone
/// (it is at `until`, where every resolver answered it), to the millisecond.
fn first_answer_of(sim: &Sim, target: &str, from: SystemTime, until: SystemTime) -> Option<SystemTime> {
    let dns = sim.try_service::<regionsim::dns::Dns>()?;
    let serves = |t: SystemTime| dns.answer_at(t).regions == [target.to_string()];
    if !serves(until) || until < from {
        return None;
    }
    if serves(from) {
        return Some(from);
    }
    let (mut lo, mut hi) = (from, until);
    while hi.duration_since(lo).unwrap_or_default() > Duration::from_millis(1) {
        let mid = lo + hi.duration_since(lo).unwrap_or_default() / 2;
        if serves(mid) { hi = mid } else { lo = mid }
    }
    Some(hi)
}

/// The report of every database against the simulator's ground truth.
/// The recovery machine's per-database results.
fn recovery_results(recovery: Option<&ExecutionHandle>) -> Vec<Value> {
    recovery
        .and_then(|r| r.describe().output)
        .and_then(|o| o.pointer("/results").and_then(Value::as_array).cloned())
        .unwrap_or_default()
}

/// Where a plan table's time and creation columns sit in the simulator's rows.
#[derive(Debug, Clone, Copy)]
struct TimeColumns {
    time: Option<usize>,
    created: Option<usize>,
}

fn micros(v: Option<&regionsim::data::Value>) -> Option<i64> {
    match v {
        Some(regionsim::data::Value::Timestamp(us)) => Some(*us),
        _ => None,
    }
}

/// The report's failover point (`YYYY-MM-DD HH:MM:SS.ffffff`, UTC) in microseconds.
fn point_micros(text: &str) -> Option<i64> {
    let t = failover_core::time_fmt::parse_rfc3339(&format!("{}Z", text.trim().replacen(' ', "T", 1))).ok()?;
    Some(t.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_micros() as i64)
}

/// The class the report must give a key whose exact class is `fate.class`, and whether the
/// report's failover point made it ambiguous.
///
/// Without a time column every difference is lost, by presence. Otherwise the report must
/// give the exact class (without a creation column a row on one side only counts as
/// inserted, a reused id as a conflict), unless a time of the key's old row lies between the
/// report's failover point `point` and the exact one `exact` (both in microseconds): the
/// report's estimate is earlier than the exact point when the last replicated rows were all
/// rewritten since, and such a key's old row then looks lost. For those keys alone the class
/// is the report's rule applied to what it could see: the old row's times against `point`,
/// and the new row's as the exact class has them (the new side holds no time between the
/// two points, so its flags are the same against either).
fn expected_class(
    fate: regionsim::data::KeyFate,
    cols: &TimeColumns,
    old: Option<&regionsim::data::Row>,
    point: Option<i64>,
    exact: Option<i64>,
) -> (&'static str, bool) {
    use regionsim::data::KeyClass::*;
    if cols.time.is_none() {
        let c = match (fate.on_old, fate.on_new) {
            (true, false) => LostInsert,
            (false, true) => LostDelete,
            _ => LostUpdate,
        };
        return (c.as_str(), false);
    }
    let created = cols.created.is_some();
    let value = |col: Option<usize>| old.zip(col).and_then(|(row, col)| micros(row.get(col)));
    let (om, oc) = (value(cols.time), value(cols.created));
    let in_window = |v: Option<i64>| match (v, point, exact) {
        (Some(v), Some(p), Some(e)) => p < v && v <= e,
        _ => false,
    };
    if !(in_window(om) || in_window(oc)) {
        let c = match fate.class {
            IdReused if !created => Conflict,
            Conflict if !created && !fate.on_new => LostInsert,
            Conflict if !created && !fate.on_old => InsertedAfter,
            other => other,
        };
        return (c.as_str(), false);
    }
    let after = |v: Option<i64>| matches!((v, point), (Some(v), Some(p)) if v > p);
    let (o_after, o_created_after) = (after(om), after(oc));
    // The new side changed the key after the failover, and inserted it after the failover.
    let n_after = matches!(fate.class, Conflict | IdReused | InsertedAfter | UpdatedAfter);
    let n_created_after = matches!(fate.class, IdReused | InsertedAfter);
    let c = match (fate.on_old, fate.on_new) {
        (true, true) if !n_after => LostUpdate,
        (true, true) if !o_after => UpdatedAfter,
        (true, true) if created && o_created_after => IdReused,
        (true, true) => Conflict,
        (true, false) if !o_after => DeletedAfter,
        (true, false) if created && !o_created_after => Conflict,
        (true, false) => LostInsert,
        (false, _) if !n_after => LostDelete,
        (false, _) if created && !n_created_after => Conflict,
        (false, _) => InsertedAfter,
    };
    (c.as_str(), true)
}

/// A key as text, its columns' values joined by `|`.
fn key_text(k: &[regionsim::data::Value]) -> String {
    k.iter().map(|v| v.to_text().unwrap_or_default()).collect::<Vec<_>>().join("|")
}

/// The report's keys from its JSON Lines file: (table, key) -> class. With `misreport`, the
/// first key's class is read back as another one (the verdict's own test).
fn reported_keys(
    jsonl: &str,
    key_columns: &BTreeMap<String, Vec<String>>,
    misreport: bool,
) -> BTreeMap<(String, String), String> {
    let mut got = BTreeMap::new();
    for line in jsonl.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
        let (Some(table), Some(class)) =
            (v.pointer("/table").and_then(Value::as_str), v.pointer("/class").and_then(Value::as_str))
        else {
            continue;
        };
        let cols = key_columns.get(table).cloned().unwrap_or_default();
        let key = cols
            .iter()
            .map(|c| match v.get("key").and_then(|key| key.get(c)) {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            })
            .collect::<Vec<_>>()
            .join("|");
        let mut class = class.to_string();
        if misreport && got.is_empty() {
            class = if class == "lost-insert" { "deleted-after".into() } else { "lost-insert".into() };
        }
        got.insert((table.to_string(), key), class);
    }
    got
}

/// Whether every key of `part` (table, key -> class) holds its class in one and the same of
/// `reads`.
fn holds_one_read(part: &BTreeMap<(String, String), String>, reads: &[&BTreeMap<(String, String), &str>]) -> bool {
    reads.iter().any(|m| part.iter().all(|(k, g)| m.get(k).copied() == Some(g.as_str())))
}

/// Per table, the keys of each class.
fn by_table<'a>(keys: impl Iterator<Item = (&'a (String, String), &'a str)>) -> BTreeMap<String, TableLoss> {
    let mut out: BTreeMap<String, TableLoss> = BTreeMap::new();
    for ((table, _), class) in keys {
        let lost = rowdiff::Class::parse(class).is_none_or(|c| c.is_lost());
        out.entry(table.clone()).or_default().add(class, lost);
    }
    out
}

/// The report against the ground truth, key by key and class by class, for every database
/// but `skip` (those whose recovery was expected to fail).
fn compare_lost(i: &Inputs<'_>, recovery: Option<&ExecutionHandle>, skip: &std::collections::BTreeSet<String>) -> Lost {
    let mut lost = Lost { exact: true, ..Lost::default() };
    let results = recovery_results(recovery);
    let misreport = i.opts.faults.contains(&Fault::MisreportOneKey);
    for d in i.plan.databases.iter().filter(|d| !skip.contains(&d.name)) {
        let result = results.iter().find(|r| r.pointer("/database").and_then(Value::as_str) == Some(d.name.as_str()));
        let point_text = result
            .and_then(|r| r.pointer("/report/compared/failover_point"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let point = point_text.as_deref().and_then(point_micros);
        let to_micros = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_micros() as i64).ok();
        let truths = i.aurora.ground_truth(&d.global_cluster);
        // The last failover with data loss, as the report read its new primary.
        let truth = truths.iter().rev().find(|t| t.read_at.is_some()).or(truths.last());
        let mismatches_before = lost.key_mismatches.len();
        lost.failover_points.insert(
            d.name.clone(),
            (point_text.clone(), truth.and_then(|t| t.replicated_until).map(failover_core::time_fmt::rfc3339)),
        );
        let plan_tables = d.report.as_ref().map(|r| r.tables.clone()).unwrap_or_default();
        let mut want: BTreeMap<(String, String), &'static str> = BTreeMap::new();
        // The classes as of each earlier read of the new primary (a report compared in key
        // ranges reads it once a range): a key may hold the class of any read.
        let mut earlier: Vec<BTreeMap<(String, String), &'static str>> = Vec::new();
        let mut key_columns: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if let Some(t) = truth {
            let mut cols_of: BTreeMap<String, TimeColumns> = BTreeMap::new();
            // The columns the plan tells the report to ignore, per table (as a bit mask).
            let mut ignored: BTreeMap<String, u64> = BTreeMap::new();
            for (name, tt) in &t.tables {
                key_columns.insert(name.clone(), tt.key_columns.clone());
                let cfg = plan_tables.iter().find(|p| &p.name == name);
                let index = |col: Option<&String>| col.and_then(|c| tt.columns.iter().position(|x| x == c));
                let mask = cfg
                    .map(|c| {
                        c.ignore_columns.iter().filter_map(|col| index(Some(col))).fold(0u64, |m, i| m | 1 << i.min(63))
                    })
                    .unwrap_or(0);
                ignored.insert(name.clone(), mask);
                cols_of.insert(
                    name.clone(),
                    TimeColumns {
                        time: index(cfg.and_then(|c| c.time_column.as_ref())),
                        created: index(cfg.and_then(|c| c.created_column.as_ref())),
                    },
                );
            }
            // A key whose rows differ only in ignored columns is no difference to the report.
            let expect = |name: &String, k: &regionsim::data::Key, fate: &regionsim::data::KeyFate| {
                let mask = ignored.get(name).copied().unwrap_or(0);
                if fate.on_old && fate.on_new && fate.differs & !mask == 0 {
                    return None;
                }
                let cols = cols_of.get(name).copied().unwrap_or(TimeColumns { time: None, created: None });
                let old = t.old_rows.get(name).and_then(|o| o.get(k));
                Some(expected_class(*fate, &cols, old, point, t.replicated_until.and_then(to_micros)))
            };
            for (name, tt) in &t.tables {
                for (k, fate) in &tt.classes {
                    let Some((class, ambiguous)) = expect(name, k, fate) else { continue };
                    lost.ambiguous += usize::from(ambiguous);
                    want.insert((name.clone(), key_text(k)), class);
                }
            }
            for (_, read) in &t.earlier_reads {
                let mut m = BTreeMap::new();
                for (name, classes) in read {
                    for (k, fate) in classes {
                        if let Some((class, _)) = expect(name, k, fate) {
                            m.insert((name.clone(), key_text(k)), class);
                        }
                    }
                }
                earlier.push(m);
            }
            // The estimate may be earlier than the exact point, never later: a point at or
            // after the first lost write would call lost writes "after the failover".
            if let (Some(p), Some((first_lost, _))) = (point, t.unreplicated_window) {
                let first =
                    first_lost.duration_since(SystemTime::UNIX_EPOCH).map(|x| x.as_micros() as i64).unwrap_or(0);
                if p >= first {
                    lost.exact = false;
                    lost.key_mismatches.push(format!(
                        "{}: the report's failover point {} is not before the first lost write: lost writes pass for later ones",
                        d.name,
                        point_text.clone().unwrap_or_default()
                    ));
                }
            }
        }
        lost.ground_truth.insert(d.name.clone(), by_table(want.iter().map(|(k, v)| (k, *v))));

        let Some(r) = result else {
            lost.exact = false;
            continue;
        };
        // The counts of the summary, per table.
        let mut counted = BTreeMap::new();
        for t in r.pointer("/report/tables").and_then(Value::as_array).into_iter().flatten() {
            let Some(name) = t.pointer("/table").and_then(Value::as_str) else { continue };
            let mut loss = TableLoss::default();
            for c in rowdiff::Class::ALL {
                let n = t.get(c.as_str().replace('-', "_")).and_then(Value::as_u64).unwrap_or(0) as usize;
                if n > 0 {
                    loss.classes.insert(c.as_str().to_string(), n);
                }
            }
            loss.lost = t.get("lost").and_then(Value::as_u64).unwrap_or(0) as usize;
            loss.after = t.get("after_failover").and_then(Value::as_u64).unwrap_or(0) as usize;
            counted.insert(name.to_string(), loss);
        }
        // Every key the report names (read back from its JSON Lines file in the simulated S3).
        let bucket = r.pointer("/report/report/bucket").and_then(Value::as_str);
        let jsonl = r.pointer("/report/report/jsonl").and_then(Value::as_str);
        let got = match (bucket, jsonl) {
            (Some(b), Some(k)) => i
                .sim
                .s3_object(b, k)
                .map(|obj| reported_keys(&String::from_utf8_lossy(&obj.body), &key_columns, misreport))
                .unwrap_or_default(),
            _ => BTreeMap::new(),
        };
        lost.keys_compared += want.len().max(got.len());
        // A report compared in key ranges: each part read the new primary once, so every key
        // one part reports holds the class of one and the same read (a key may hold any
        // read's class, a part may not mix them).
        if !earlier.is_empty()
            && let Some(b) = bucket
        {
            let reads: Vec<&BTreeMap<(String, String), &'static str>> =
                earlier.iter().chain(std::iter::once(&want)).collect();
            let summary =
                r.pointer("/report/report/summary").and_then(Value::as_str).and_then(|k| i.sim.s3_object(b, k));
            let prefixes: Vec<String> = summary
                .and_then(|o| serde_json::from_slice::<Value>(&o.body).ok())
                .and_then(|v| v.pointer("/report/part_prefixes").cloned())
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default();
            for prefix in prefixes {
                let Some(obj) = i.sim.s3_object(b, &format!("{prefix}differences.jsonl")) else {
                    lost.exact = false;
                    lost.key_mismatches.push(format!("{}: part {prefix} has no differences.jsonl", d.name));
                    continue;
                };
                let part = reported_keys(&String::from_utf8_lossy(&obj.body), &key_columns, false);
                if !holds_one_read(&part, &reads) {
                    lost.exact = false;
                    lost.key_mismatches.push(format!(
                        "{}: part {prefix}: its {} keys hold the classes of no single read of the new primary",
                        d.name,
                        part.len()
                    ));
                }
            }
        }
        let mut keys: Vec<&(String, String)> = want.keys().chain(got.keys()).collect();
        keys.sort();
        keys.dedup();
        let mut matched: BTreeMap<(String, String), &str> = BTreeMap::new();
        for k in keys {
            let (w, g) = (want.get(k).copied(), got.get(k).map(String::as_str));
            let earlier_match = earlier.iter().any(|m| m.get(k).copied() == g);
            if let Some(g) = g.filter(|_| w == g || earlier_match) {
                matched.insert(k.clone(), g);
            }
            if w != g && !earlier_match {
                lost.exact = false;
                if lost.key_mismatches.len() < 20 {
                    lost.key_mismatches.push(format!(
                        "{}.{} {}: report {}, truth {}",
                        d.name,
                        k.0,
                        k.1,
                        g.unwrap_or("nothing"),
                        w.unwrap_or("nothing")
                    ));
                }
            }
        }
        // The summary's counts against the truth's (the classes of the keys as they matched,
        // which with one read is the ground truth itself), table by table (tables with
        // nothing to report may be absent from either).
        let matched_tables = by_table(matched.iter().map(|(k, v)| (k, *v)));
        let truth_tables = if earlier.is_empty() { &lost.ground_truth[&d.name] } else { &matched_tables };
        let names: std::collections::BTreeSet<&String> = truth_tables.keys().chain(counted.keys()).collect();
        for name in names {
            let (a, b) =
                (truth_tables.get(name).cloned().unwrap_or_default(), counted.get(name).cloned().unwrap_or_default());
            if a != b {
                lost.exact = false;
                if lost.key_mismatches.len() < 20 {
                    lost.key_mismatches.push(format!("{}.{name}: counts {b:?} reported, {a:?} true", d.name));
                }
            }
        }
        if let Some(t) = truth.filter(|t| t.dropped_reads > 0 && lost.key_mismatches.len() > mismatches_before) {
            // The simulator remembers the classes of so many reads only: an early key range
            // may have held classes no read kept shows.
            lost.key_mismatches.push(format!(
                "{}: the report read the new primary {} times, and the simulator keeps the classes of the last {} \
                 only: an early key range may be judged against reads it did not make (a larger report.rows_per_part \
                 cuts fewer ranges)",
                d.name,
                t.earlier_reads.len() + 1 + t.dropped_reads,
                regionsim::data::MAX_READS
            ));
        }
        lost.reported.insert(d.name.clone(), counted);
    }
    lost
}

/// The longest global switchover or failover started after `since`, from the simulator's
/// own "started" and "completed" events.
fn slowest_global_operation(aurora: &Aurora, since: SystemTime) -> Duration {
    let events = aurora.with_model(|m| m.events.clone());
    let mut started: BTreeMap<String, SystemTime> = BTreeMap::new();
    let mut longest = Duration::ZERO;
    for e in events.iter().filter(|e| e.date >= since) {
        let is_op = e.message.starts_with("Global switchover") || e.message.starts_with("Global failover");
        if !is_op {
            continue;
        }
        if e.message.ends_with("started.") {
            started.entry(e.source_arn.clone()).or_insert(e.date);
        } else if e.message.ends_with("completed.") {
            // The completion is reported on the new writer, the start on the cluster the
            // call named: measured from the earliest start before it.
            let t0 = started.iter().filter(|(_, t)| **t <= e.date).map(|(_, t)| *t).min().unwrap_or(e.date);
            longest = longest.max(e.date.duration_since(t0).unwrap_or_default());
        }
    }
    longest
}

/// When `d`'s writer moved to `target`: the simulator's "completed." event of a global
/// switchover or failover to the target's member after `since` (`None`: it did not).
fn writer_moved_at(
    aurora: &Aurora,
    d: &failover_core::plan::GlobalDatabase,
    target: &str,
    since: SystemTime,
) -> Option<SystemTime> {
    let member = d.members.get(target)?.to_ascii_lowercase();
    let events = aurora.with_model(|m| m.events.clone());
    events
        .iter()
        .filter(|e| e.date >= since && e.message.ends_with("completed."))
        .filter(|e| e.message.starts_with("Global switchover") || e.message.starts_with("Global failover"))
        .filter(|e| e.message.to_ascii_lowercase().contains(&member))
        .map(|e| e.date)
        .min()
}

/// The RTO by the same definition from the execution's output alone: what notify reports.
fn execution_rto(out: &Value, start: SystemTime) -> Option<f64> {
    let clients = parse_time(out.pointer("/verified/clients_switched_by"))
        .or_else(|| parse_time(out.pointer("/moved/0/clients_switched_by")))?;
    let writers: Vec<Option<SystemTime>> = out
        .pointer("/moved/1")
        .and_then(Value::as_array)
        .map(|dbs| dbs.iter().map(|d| parse_time(d.pointer("/check/observed_at"))).collect())
        .unwrap_or_default();
    let served = failover_core::rto::served_at(clients, &writers)?;
    let waits: Vec<failover_core::rto::Wait> = ["/decision", "/unplanned_decision"]
        .iter()
        .filter_map(|p| out.pointer(p).cloned())
        .filter_map(|v| serde_json::from_value::<failover_core::contract::notify::ApprovalDecision>(v).ok())
        .filter_map(|a| a.wait())
        .collect();
    Some(failover_core::rto::recovery_time(start, served, &waits).as_secs_f64())
}

/// The names recorded with the decisions of both stacks' approval requests, as the items
/// of their approvals tables hold them.
fn deciders_of(sim: &Sim, plan: &Plan) -> Vec<String> {
    let ddb = sim.service::<regionsim::dynamodb::DynamoDb>();
    let table = crate::stage::approvals_table(&plan.name);
    sim.regions()
        .iter()
        .flat_map(|region| ddb.items(region, &table))
        .filter_map(|item| match item.get(failover_steps::approval::attr::DECIDED_BY) {
            Some(regionsim::dynamodb::AttrValue::S(name)) => Some(name.clone()),
            _ => None,
        })
        .collect()
}

/// The approvers' verdict: no decision is recorded under a name the plan's `approvers` do
/// not list (when it lists any), and under `--approve impostor` the impostor's form was
/// refused (`refused_posts`: the page's 403 answers to a POST) and no decision bears the
/// impostor's name.
pub(crate) fn deciders_listed(
    deciders: &[String],
    approvers: &[String],
    approve: Approve,
    refused_posts: usize,
) -> Vec<String> {
    let mut problems = Vec::new();
    if !approvers.is_empty() {
        for name in deciders {
            if !approvers.iter().any(|a| failover_core::approval::same_name(a, name)) {
                problems.push(format!(
                    "a decision was recorded by `{name}`, whom the plan's approvers ({}) do not list",
                    approvers.join(", ")
                ));
            }
        }
    }
    if approve == Approve::Impostor {
        if refused_posts == 0 {
            problems.push(format!("the impostor's form ({}) was not refused by the page", crate::run::IMPOSTOR));
        }
        if deciders.is_empty() {
            problems.push("no decision was recorded after the impostor was refused".to_string());
        }
    }
    problems
}

/// Where the plan's beliefs about the world (`dns.health_check_propagation_seconds`,
/// `dns.ttl_seconds`) and the simulated world disagree, one line each.
pub(crate) fn beliefs(plan: &Plan, world: &regionsim::world::World) -> Vec<String> {
    let mut out = Vec::new();
    let believed = f64::from(plan.dns.health_check_propagation_seconds);
    let actual = world.health_check_propagation.as_secs_f64();
    if (believed - actual).abs() >= 0.5 {
        out.push(format!("health-check propagation: the plan believes {believed:.0} s, the world takes {actual:.1} s"));
    }
    if plan.dns.ttl_seconds != world.dns_ttl {
        out.push(format!("record TTL: the plan believes {} s, the zone has {} s", plan.dns.ttl_seconds, world.dns_ttl));
    }
    let longest = world.longest_cache().as_secs_f64();
    if longest > f64::from(world.dns_ttl) + 0.5 {
        out.push(format!(
            "resolver caches: some resolvers keep the answer up to {longest:.0} s, past the {} s TTL",
            world.dns_ttl
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: &str = "us-east-1";
    const SECONDARY: &str = "us-west-2";

    fn opts(faults: &[&str]) -> DrillOptions {
        DrillOptions {
            faults: faults.iter().map(|f| Fault::parse(f).unwrap()).collect(),
            scenario: Scenario::RegionOutage,
            ..DrillOptions::default()
        }
    }

    fn judge(opts: &DrillOptions, lines: &[&str], started: usize, delivered: usize) -> Vec<String> {
        let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        proposers(&Proposals { opts, primary: PRIMARY, secondary: SECONDARY, lines: &lines, started, delivered })
    }

    const STARTED: &str = "us-west-2: started alarm-us-east-1-to-us-west-2-0001";

    #[test]
    fn a_decision_by_a_name_the_plan_does_not_list_is_a_no() {
        let listed = vec!["Ana Silva".to_string(), "Ravi Menon".to_string()];
        let by = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        // A listed approver, typed in another case: yes.
        assert_eq!(deciders_listed(&by(&[" ana SILVA "]), &listed, Approve::Auto, 0), Vec::<String>::new());
        // A name nobody listed: no, naming it.
        let no = deciders_listed(&by(&["Ana Silva", "mallory"]), &listed, Approve::Auto, 0);
        assert_eq!(no.len(), 1, "{no:?}");
        assert!(no[0].contains("`mallory`"), "{no:?}");
        // A plan that lists nobody lets anyone decide.
        assert_eq!(deciders_listed(&by(&["anyone"]), &[], Approve::Auto, 0), Vec::<String>::new());
        // An impostor never refused, or a request never decided after it: no.
        assert_eq!(deciders_listed(&by(&["Ravi Menon"]), &listed, Approve::Impostor, 0).len(), 1);
        assert_eq!(deciders_listed(&[], &listed, Approve::Impostor, 1).len(), 1);
        assert_eq!(deciders_listed(&by(&["Ravi Menon"]), &listed, Approve::Impostor, 1), Vec::<String>::new());
    }

    #[test]
    fn one_incident_one_execution_and_the_verdict_says_no_to_two_or_none() {
        let o = opts(&[]);
        assert_eq!(judge(&o, &[STARTED], 1, 3), Vec::<String>::new());
        let two = judge(&o, &[STARTED, STARTED], 2, 3);
        assert_eq!(two.len(), 1, "{two:?}");
        assert!(two[0].starts_with("3 alarm event(s) started 2 failover execution(s), not 1"), "{two:?}");
        assert!(judge(&o, &[], 0, 3)[0].contains("started 0 failover execution(s), not 1"));
    }

    #[test]
    fn every_arc_endpoint_dead_wants_no_execution_and_the_reason() {
        let o = opts(&["arc-dead=5"]);
        assert!(o.all_arc_dead());
        let refused =
            "us-west-2: Failover.EndpointsUnavailable: routing controls could not be read; no failover started";
        assert_eq!(judge(&o, &[refused], 0, 4), Vec::<String>::new());
        // A proposer that starts anyway.
        let started = judge(&o, &[STARTED], 1, 4);
        assert_eq!(started.len(), 2, "{started:?}");
        assert!(started[0].contains("started 1 failover execution(s), not 0"), "{started:?}");
        assert!(started[1].starts_with("with every ARC endpoint dead the proposer must say"), "{started:?}");
        // A proposer that starts nothing but for another reason (or says nothing).
        let silent = judge(&o, &["us-west-2: no alarm in ALARM; no failover started"], 0, 4);
        assert_eq!(silent.len(), 1, "{silent:?}");
        assert!(silent[0].contains("cannot read the routing"), "{silent:?}");
    }

    #[test]
    fn a_partition_wants_the_serving_side_to_refuse_with_its_reason() {
        let o = opts(&["partition"]);
        let refused = "us-east-1: us-west-2 looks down from us-east-1 but does not serve; no failover started";
        assert_eq!(judge(&o, &[STARTED, refused], 1, 6), Vec::<String>::new());
        // The serving side never fired.
        let never = judge(&o, &[STARTED], 1, 6);
        assert_eq!(
            never,
            vec!["partition: the proposer in us-east-1 never fired (its canaries watching us-west-2 must alarm)"]
        );
        // The serving side fired and said something other than a refusal: it too started
        // (counted as two), or it failed.
        let wrong = judge(&o, &[STARTED, "us-east-1: started alarm-us-west-2-to-us-east-1-0001"], 2, 6);
        assert_eq!(wrong.len(), 2, "{wrong:?}");
        assert!(
            wrong[1].starts_with("partition: the proposer in us-east-1 did not refuse with its reason"),
            "{wrong:?}"
        );
        let failed = judge(&o, &[STARTED, "us-east-1: Failover.Transient: ListExecutions: timeout"], 1, 6);
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert!(failed[0].contains("did not refuse"), "{failed:?}");
    }

    #[test]
    fn a_part_of_a_report_in_key_ranges_holds_the_classes_of_one_read() {
        let key = |k: &str| ("orders".to_string(), k.to_string());
        // Key 1 was lost and key 2 conflicted as of the first read; by the second, 1 was
        // overwritten on the new primary (a conflict) and 2 deleted there.
        let first = BTreeMap::from([(key("1"), "lost-insert"), (key("2"), "conflict")]);
        let second = BTreeMap::from([(key("1"), "conflict"), (key("2"), "deleted-after")]);
        let reads = [&first, &second];
        let part = |classes: &[(&str, &str)]| -> BTreeMap<(String, String), String> {
            classes.iter().map(|(k, c)| (key(k), c.to_string())).collect()
        };
        assert!(holds_one_read(&part(&[("1", "lost-insert"), ("2", "conflict")]), &reads));
        assert!(holds_one_read(&part(&[("1", "conflict"), ("2", "deleted-after")]), &reads));
        assert!(holds_one_read(&part(&[]), &reads), "a part with nothing to report");
        // Each key matches some read, but no one read: the part mixed two moments.
        assert!(!holds_one_read(&part(&[("1", "lost-insert"), ("2", "deleted-after")]), &reads));
        assert!(!holds_one_read(&part(&[("1", "updated-after")]), &reads), "a class no read had");
    }

    #[test]
    fn an_alarm_storm_that_was_not_delivered_is_a_no() {
        let o = opts(&["alarm-storm"]);
        assert_eq!(judge(&o, &[STARTED], 1, 50), Vec::<String>::new());
        assert_eq!(judge(&o, &[STARTED], 1, 49), vec!["the alarm storm delivered 49 event(s), not 50"]);
    }
}
