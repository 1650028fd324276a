//! One drill: a scenario on a simulated Region pair, end to end, on virtual time.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use failover_asl::{ExecutionHandle, FaultInjector, FaultRule, LambdaFault, Runner, RunnerConfig, StartOptions};
use failover_core::{Plan, SharedClock, time_fmt};
use failover_steps::aws::AwsClients;
use regionsim::rds::{Aurora, AuroraConfig};
use regionsim::sfn::Sfn;
use regionsim::{DownMode, Sim, SimBuilder};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::artifacts::Artifacts;
use crate::dispatch::{
    ApprovalRequest, ClientsOf, DiffReportFn, IntegrationLog, Invocation, LambdaCosts, StepsDispatcher,
};
use crate::principals::{DRILL_ACCESS_KEY, Principal, Role};
use crate::report::{Approve, DrillError, DrillOptions, DrillReport, Fault, Scenario};
use crate::{clients, definitions, expect};

/// The plan of the reference workload, the drill's embedded default.
/// The tasks of both machines whose handlers change something in AWS (the notifications
/// aside): the `lost-answers` fault loses the answer of the first invocation of each.
pub const MUTATING_TASKS: &[&str] =
    &["MoveTraffic", "StartDatabase", "CopySnapshot", "RestoreCluster", "DiffReport", "MergeReport", "Cleanup"];

pub const DEFAULT_PLAN: &str = include_str!("../../../examples/retail-store.plan.yaml");

/// Where simulated time starts: 2026-01-01T00:00:00Z.
pub const EPOCH_SECS: u64 = 1_767_225_600;

/// How long the workload runs before anything happens.
pub const WARM_UP: Duration = Duration::from_secs(300);

/// How long the workload writes: the warm-up, the failover and the outage, and writes on the
/// new primary after it (updates and deletes of old rows, reused ids) long before the report
/// reads it.
pub const WORKLOAD_FOR: Duration = Duration::from_secs(3600);

/// How long after the outage the old Region comes back (region-outage).
pub const OUTAGE: Duration = Duration::from_secs(1800);

/// The SDK configuration of `region` with static credentials.
fn sdk_config(region: &str, credentials: Credentials) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .build()
}

/// Builds clients for `region`, pointed at the simulator, signed with the drill's own key.
pub fn sim_clients(sim: &Sim, clock: &SharedClock, region: &str, seed: u64) -> AwsClients {
    sim_clients_signed(sim, clock, region, seed, DRILL_ACCESS_KEY)
}

/// Builds clients for `region`, pointed at the simulator, signed with access key id `akid`.
pub fn sim_clients_signed(sim: &Sim, clock: &SharedClock, region: &str, seed: u64, akid: &str) -> AwsClients {
    clients_at(&sim.endpoints().services, clock, region, seed, akid)
}

fn clients_at(
    endpoints: &BTreeMap<String, String>,
    clock: &SharedClock,
    region: &str,
    seed: u64,
    akid: &str,
) -> AwsClients {
    let base = sdk_config(region, Credentials::new(akid, "drill-secret", None, None, "drill"));
    // Each role's clients keep their own SDK retry quota, as the role's function in its own
    // Lambda process would, however many drills share this process (tests, campaigns).
    static CLIENT_SETS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = CLIENT_SETS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let partition = format!("drill-{n}-{akid}");
    let mut clients = AwsClients::with_endpoints_partitioned(base, clock.clone(), endpoints, Some(partition));
    clients.seed = Some(seed);
    clients
}

/// The clients of every role of both stacks, each signed with the role's own key
/// ([`Principal::access_key_id`]), built once each. It holds the simulator's endpoints,
/// not the simulator: the dispatcher that keeps it must not keep the simulator alive.
pub(crate) fn role_clients(sim: &Sim, clock: &SharedClock, seed: u64) -> ClientsOf {
    let (endpoints, clock) = (sim.endpoints().services.clone(), clock.clone());
    let cache: Mutex<BTreeMap<Principal, AwsClients>> = Mutex::new(BTreeMap::new());
    Arc::new(move |p: &Principal| {
        let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(p.clone())
            .or_insert_with(|| clients_at(&endpoints, &clock, &p.stack, seed, &p.access_key_id()))
            .clone()
    })
}

/// Runs a drill on its own paused runtime: virtual time, no wall-clock waiting.
pub fn run_blocking(opts: &DrillOptions, progress: Arc<dyn Fn(&str) + Send + Sync>) -> Result<DrillReport, DrillError> {
    let rt = failover_asl::virtual_runtime().map_err(|e| DrillError::Sim(e.to_string()))?;
    rt.block_on(run(opts, progress))
}

/// diff-report as deployed (secrets read through Secrets Manager, reports written to S3),
/// except that a simulated cluster's endpoint resolves to the database behind it.
fn diff_report_in(aurora: Arc<Aurora>) -> DiffReportFn {
    use failover_steps::diff_report::{AwsConnector, DbTarget, Resolve};
    let resolve: Resolve = Arc::new(move |t: &DbTarget, _credentials| {
        let loc = aurora.database(&t.region, &t.cluster).ok_or_else(|| {
            failover_core::StepError::not_found(format!("no simulated cluster {} in {}", t.cluster, t.region))
        })?;
        rowdiff::SourceConfig::from_url(&loc.url).map_err(|e| failover_core::StepError::internal(e.to_string()))
    });
    Arc::new(move |event: Value, clients: AwsClients| {
        let connector = AwsConnector::with_resolver(clients.clone(), resolve.clone(), Duration::from_secs(30));
        Box::pin(async move {
            failover_steps::lambda::dispatch(event, |i| failover_steps::diff_report::handle(i, &clients, &connector))
                .await
        })
    })
}

/// What a drill's roles called: every call the simulator saw (with its caller, the access
/// key id of a [`Principal`], and what IAM evaluates for it), and the calls the local
/// Step Functions runner made with the state machines' roles.
#[derive(Debug, Clone, Default)]
pub struct CallLog {
    pub calls: Vec<regionsim::CallRecord>,
    pub integrations: Vec<regionsim::CallRecord>,
    /// The Regions of the stacks the drill played (both of the plan's).
    pub regions: Vec<String>,
}

/// Runs a drill; call inside a runtime whose clock is paused (`start_paused`).
pub async fn run(opts: &DrillOptions, progress: Arc<dyn Fn(&str) + Send + Sync>) -> Result<DrillReport, DrillError> {
    run_recorded(opts, progress).await.map(|(report, _)| report)
}

/// [`run`], with the calls of every role ([`CallLog`]): what the least-privilege test
/// holds against the template.
pub async fn run_recorded(
    opts: &DrillOptions,
    progress: Arc<dyn Fn(&str) + Send + Sync>,
) -> Result<(DrillReport, CallLog), DrillError> {
    run_inner(opts, progress, false).await.map(|(report, log, _)| (report, log))
}

/// [`run`], with what a person opens after the drill ([`Artifacts`]: the report files, the
/// e-mails, the histories), for `failover drill --out`.
pub async fn run_with_artifacts(
    opts: &DrillOptions,
    progress: Arc<dyn Fn(&str) + Send + Sync>,
) -> Result<(DrillReport, Artifacts), DrillError> {
    let (report, _, artifacts) = run_inner(opts, progress, true).await?;
    Ok((report, artifacts.unwrap_or_default()))
}

/// [`run_with_artifacts`] on its own paused runtime, as [`run_blocking`].
pub fn run_with_artifacts_blocking(
    opts: &DrillOptions,
    progress: Arc<dyn Fn(&str) + Send + Sync>,
) -> Result<(DrillReport, Artifacts), DrillError> {
    let rt = failover_asl::virtual_runtime().map_err(|e| DrillError::Sim(e.to_string()))?;
    rt.block_on(run_with_artifacts(opts, progress))
}

async fn run_inner(
    opts: &DrillOptions,
    progress: Arc<dyn Fn(&str) + Send + Sync>,
    keep_artifacts: bool,
) -> Result<(DrillReport, CallLog, Option<Artifacts>), DrillError> {
    let epoch = SystemTime::UNIX_EPOCH + Duration::from_secs(EPOCH_SECS);
    let clock = SharedClock::virtual_at(epoch);
    let plan = Plan::from_yaml(opts.plan_yaml.as_deref().unwrap_or(DEFAULT_PLAN))
        .map_err(|e| DrillError::Plan(e.to_string()))?;
    if opts.approve == Approve::Impostor && plan.approval.approvers.is_empty() {
        return Err(DrillError::Plan(
            "approval.approvers: --approve impostor needs a plan that lists its approvers (anyone holding the link \
             may decide this one, so nobody is an impostor)"
                .into(),
        ));
    }
    // The name the drill's approver types: the plan's first approver, when it lists any.
    let approver_name: Arc<str> = plan.approval.approvers.first().map_or(DRILL_APPROVER, |a| a.as_str()).trim().into();
    let primary = plan.regions.primary.clone();
    let secondary = plan.regions.secondary.clone();

    // The approvals table of each stack, as the template names it.
    let approvals_table = format!("failover-{}-approvals", plan.name);
    let table = approvals_table.clone();
    // The simulated world: drawn from the seed, with what the drill was asked to set.
    let world = world_of(opts);
    let sim = SimBuilder::with_plan(clock.clone(), plan.clone())
        .seed(opts.seed)
        .world(world.clone())
        .setting(move |s: &mut regionsim::dynamodb::DynamoSettings| {
            s.tables.push(regionsim::dynamodb::TableSpec::approvals(&table))
        })
        .start()
        .await
        .map_err(|e| DrillError::Sim(e.to_string()))?;
    let (mut aurora_cfg, schema_notes) =
        AuroraConfig::from_plan_with_ddl(&plan, &opts.schema_ddl).map_err(|e| DrillError::Plan(e.to_string()))?;
    aurora_cfg.seed = opts.seed;
    aurora_cfg.timings = world.rds.clone();
    for g in &mut aurora_cfg.globals {
        // A rush around the outage, a lag that varies and bursts; writes go on through the
        // failover and the recovery of a normal outage; a drill that waits two weeks for a
        // Region need not replay two weeks of them.
        g.workload = regionsim::data::WorkloadConfig::realistic();
        g.workload.stop_after = Some(WORKLOAD_FOR);
    }
    if let Some(url) = &opts.database {
        aurora_cfg.backend = regionsim::data::Backend::from_url(url).map_err(|e| DrillError::Sim(e.to_string()))?;
    }
    let timings = aurora_cfg.timings.clone();
    let aurora = Aurora::install(&sim, aurora_cfg).map_err(|e| DrillError::Sim(e.to_string()))?;
    let plan = sim.plan();
    // Every role runs in its stack's Region: a call to another Region costs a round trip.
    let stacks: BTreeMap<String, String> = [&primary, &secondary]
        .into_iter()
        .flat_map(|r| Role::all().into_iter().map(move |role| Principal::new(role, r)))
        .map(|p| (p.access_key_id(), p.stack))
        .collect();
    sim.set_caller_regions(Arc::new(move |akid: &str| stacks.get(akid).cloned()));
    crate::stage::encrypt_stack_resources(&sim, &plan);

    for f in &opts.faults {
        match f {
            Fault::ArcDead { k, how } => {
                // The target Region's endpoint stays: the dead ones are the others, the
                // way an impaired Region and its neighbours would look.
                sim.kill_arc_endpoints(*k, *how);
            }
            Fault::Throttle { service, rate } => sim.set_throttle_rate(service, *rate),
            Fault::Latency { service, millis } => sim.set_extra_latency(service, Duration::from_millis(*millis)),
            Fault::NoSnapshot => aurora.set_snapshot_after_recovery(None),
            Fault::ClusterQuota { clusters } => aurora.set_cluster_quota(Some(*clusters)),
            Fault::RefuseMove { database } => {
                let d = plan.database(database).ok_or_else(|| {
                    DrillError::Plan(format!("--fault refuse-move: `{database}` is not a database of the plan"))
                })?;
                aurora.refuse_moves(&d.global_cluster);
            }
            Fault::StallMove { database } => {
                if opts.scenario == Scenario::RegionOutage {
                    return Err(DrillError::Plan(
                        "--fault stall-move drills a planned switchover (--scenario planned or failback)".into(),
                    ));
                }
                let d = plan.database(database).ok_or_else(|| {
                    DrillError::Plan(format!("--fault stall-move: `{database}` is not a database of the plan"))
                })?;
                aurora.stall_moves(&d.global_cluster);
            }
            Fault::NoLagMetric => {
                let none: regionsim::cloudwatch::LagSource = Arc::new(|_| None);
                sim.provide::<regionsim::cloudwatch::LagFn>(none);
            }
            Fault::Lag { seconds } => {
                for d in &plan.databases {
                    aurora
                        .set_replication_lag(&d.global_cluster, Duration::from_secs(*seconds))
                        .map_err(|e| DrillError::Sim(e.to_string()))?;
                }
            }
            Fault::LambdaOnce
            | Fault::NeverReturns
            | Fault::LostAnswers
            | Fault::AlarmStorm
            | Fault::Partition
            | Fault::MisreportOneKey => {}
        }
    }

    // The failover runs in the target Region's stack.
    let (first_target, decision_target) = match opts.scenario {
        Scenario::Planned | Scenario::RegionOutage => (secondary.clone(), secondary.clone()),
        Scenario::Failback => (secondary.clone(), primary.clone()),
    };
    let (failover_def, recovery_def) =
        definitions::load(&decision_target, &plan.name).map_err(|e| DrillError::Definitions(e.to_string()))?;
    let recovery_plain = recovery_def.clone();
    let recovery_def = Arc::new(recovery_def);
    let failover_machine = definitions::machine_name(&plan.name, "failover");
    let machines = [
        (failover_machine.clone(), failover_def.clone()),
        (definitions::machine_name(&plan.name, "recovery"), (*recovery_def).clone()),
    ];
    let clients = role_clients(&sim, &clock, opts.seed);
    let integrations: IntegrationLog = Arc::default();

    let runner_cell: Arc<OnceLock<failover_asl::WeakRunner>> = Arc::new(OnceLock::new());
    let (approvals_tx, mut approvals_rx) = mpsc::unbounded_channel::<ApprovalRequest>();
    let invocations: Arc<Mutex<Vec<Invocation>>> = Arc::default();
    let diff_report = Some(diff_report_in(aurora.clone()));
    // The approval path of each stack: notify stores the request and e-mails signed links
    // to that stack's approval page, which the simulator serves as its Function URL.
    let notify_configs = crate::stage::install_approval_pages(&sim, &plan, &clients)?;
    let lambda_costs = LambdaCosts::of(world.clone());
    let dispatcher = StepsDispatcher::new(
        clients.clone(),
        runner_cell.clone(),
        recovery_def,
        approvals_tx,
        invocations.clone(),
        diff_report,
        integrations.clone(),
        clock.clone(),
    )
    .with_notify_configs(notify_configs)
    .with_lambda_costs(lambda_costs.clone());
    let lambda_once = opts.faults.contains(&Fault::LambdaOnce);
    let mut rules = if lambda_once {
        vec![
            FaultRule::every_task_once(LambdaFault::ServiceException),
            FaultRule { state: Some("MoveTraffic".into()), calls: 2..=2, fault: LambdaFault::TimeoutAfterRun },
        ]
    } else {
        vec![]
    };
    if opts.faults.contains(&Fault::LostAnswers) {
        rules.extend(MUTATING_TASKS.iter().map(|state| FaultRule {
            state: Some((*state).to_string()),
            calls: 1..=1,
            fault: LambdaFault::TimeoutAfterRun,
        }));
    }
    let injector = Arc::new(FaultInjector::new(dispatcher, rules));
    let config = RunnerConfig {
        region: decision_target.clone(),
        account: definitions::ACCOUNT.into(),
        state_machine_name: failover_machine.clone(),
        seed: opts.seed,
        state_transition: world.state_transition(),
        ..RunnerConfig::default()
    };
    let runner = Runner::with_config(injector.clone(), clock.clone(), config);
    let _ = runner_cell.set(runner.downgrade());
    // The approver and anyone else answer callbacks through the Step Functions API.
    // In an outage the other stack's machines exist too (its proposer lists their
    // executions: none, in a drill whose executions all run in the decision target's stack).
    let mut other_machines = Vec::new();
    if opts.scenario == Scenario::RegionOutage {
        let other_stack = if decision_target == primary { &secondary } else { &primary };
        let (other_failover, other_recovery) =
            definitions::load(other_stack, &plan.name).map_err(|e| DrillError::Definitions(e.to_string()))?;
        other_machines.push((definitions::state_machine_arn(other_stack, &plan.name, "failover"), other_failover));
        other_machines.push((definitions::state_machine_arn(other_stack, &plan.name, "recovery"), other_recovery));
    }
    Sfn::new(
        runner.clone(),
        machines.map(|(name, def)| (Sfn::state_machine_arn(&runner, &name), def)).into_iter().chain(other_machines),
    )
    .install(&sim);

    // Each stack's copy of the plan (what scripts/publish-plan writes), and in a region
    // outage each Region's propose-failover behind its canary rule, signed as its own role.
    let proposals: Arc<Mutex<Vec<String>>> = Arc::default();
    if opts.scenario == Scenario::RegionOutage {
        let text = serde_json::to_string(&plan).map_err(|e| DrillError::Plan(e.to_string()))?;
        let parameter = format!("/failover/{}/plan", plan.name);
        for region in [&primary, &secondary] {
            sim.service::<regionsim::ssm::Ssm>().put(region, &parameter, &text);
            let config = failover_steps::propose_failover::Config::from_values(
                Some(region.clone()),
                Some(approvals_table.clone()),
                Some(definitions::state_machine_arn(region, &plan.name, "failover")),
                Some(parameter.clone()),
                plan.stacks.get(region.as_str()).map(|s| s.topic_arn.clone()),
            )
            .map_err(DrillError::Plan)?;
            let proposer = Arc::new(failover_steps::propose_failover::Proposer::new(
                clients(&Principal::new(Role::ProposeFailover, region)),
                config,
            ));
            let (log, region_name) = (proposals.clone(), region.clone());
            sim.service::<regionsim::eventbridge::EventBridge>().set_handler(region, move |event| {
                let (proposer, log, region) = (proposer.clone(), log.clone(), region_name.clone());
                async move {
                    let line = match failover_steps::propose_failover::handle(event, &proposer).await {
                        Ok(out) => format!("{region}: {}", out.message),
                        Err(e) => format!("{region}: {}: {}", e.kind.as_str(), e.message),
                    };
                    log.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            });
        }
    }

    // A line per state entered (naming a Map iteration's database), per state ended with
    // its duration, and per polling round of a long wait.
    runner.observe(crate::live::observer(progress.clone(), epoch));

    // The approver: decides as the drill was told, the moment it is asked.
    let approve = opts.approve;
    let scenario = opts.scenario;
    // The approver reads the e-mail (the simulated topic's messages) and follows its link.
    let mailbox = sim.downgrade();
    let http = reqwest::Client::new();
    let approver_progress = progress.clone();
    let decisions: Arc<Mutex<Vec<String>>> = Arc::default();
    let decisions_w = decisions.clone();
    // A person takes a while to read the e-mail and decide: the world's delay, on the clock.
    let decided: Arc<Mutex<Vec<f64>>> = Arc::default();
    let decided_w = decided.clone();
    let (approver_clock, approver_world, approver_delay) = (clock.clone(), world.clone(), opts.world.approver_delay);
    tokio::spawn(async move {
        let mut n = 0;
        while let Some(req) = approvals_rx.recv().await {
            n += 1;
            let delay = approver_delay.unwrap_or_else(|| approver_world.approver_delay(n));
            // In a failback drill the first execution (the move out) is approved; the
            // decision under test is the move back.
            let mode = if scenario == Scenario::Failback && !req.execution.starts_with("drill-failback") {
                Approve::Auto
            } else {
                approve
            };
            let line = match mode {
                Approve::Timeout => "left unanswered (it will time out)".to_string(),
                decide => {
                    approver_clock.sleep(delay).await;
                    decided_w.lock().unwrap_or_else(|p| p.into_inner()).push(delay.as_secs_f64());
                    let Some(sim) = mailbox.upgrade() else { break };
                    let messages = sim.sns_messages();
                    drop(sim);
                    match follow_the_link(&http, &messages, &req, decide, &approver_name).await {
                        Ok(page) => page,
                        Err(e) => format!("not decided: {e}"),
                    }
                }
            };
            decisions_w.lock().unwrap_or_else(|p| p.into_inner()).push(format!("{}: {line}", req.state));
            let after =
                if mode == Approve::Timeout { String::new() } else { format!(" after {}", time_fmt::elapsed(delay)) };
            approver_progress(&format!("{:>9}  approval #{n} for {} {line}{after}", "", req.execution));
        }
    });

    progress(&format!(
        "drill {}, approve {}, seed {}{}; plan {}: {} -> {}",
        opts.scenario,
        opts.approve,
        opts.seed,
        opts.faults.iter().map(|f| format!(", fault {f}")).collect::<String>(),
        plan.name,
        primary,
        secondary
    ));
    progress(&format!(
        "simulated world (seed {}; ranges and sources in crates/regionsim/ARCHITECTURE-regionsim.md, \"Modeled time\"):",
        opts.seed
    ));
    for (name, value) in world.figures() {
        progress(&format!("  {name:<26} {value}"));
    }
    for belief in expect::beliefs(&plan, &world) {
        progress(&format!("  the plan believes otherwise: {belief}"));
    }

    clock.sleep(WARM_UP).await;
    let mut executions: Vec<ExecutionHandle> = Vec::new();
    let mut detection: Option<Detection> = None;
    let decision_exec: ExecutionHandle = match opts.scenario {
        Scenario::Planned => {
            let h = start_failover(&runner, &failover_def, &plan, "planned", &first_target, "drill-planned")?;
            h.wait().await;
            executions.push(h.clone());
            h
        }
        Scenario::Failback => {
            let (out_def, _) =
                definitions::load(&first_target, &plan.name).map_err(|e| DrillError::Definitions(e.to_string()))?;
            let h = start_failover(&runner, &out_def, &plan, "planned", &first_target, "drill-move-out")?;
            h.wait().await;
            executions.push(h);
            clock.sleep(WARM_UP).await;
            let h = start_failover(&runner, &failover_def, &plan, "planned", &decision_target, "drill-failback")?;
            h.wait().await;
            executions.push(h.clone());
            h
        }
        Scenario::RegionOutage => {
            if opts.faults.contains(&Fault::Partition) {
                progress(&format!(
                    "{:>9}  {primary} is cut off from {secondary} and the world (which sees it down, its databases \
                     stop); its own stack goes on and its canaries see {secondary} down",
                    time_fmt::elapsed(Duration::from_secs_f64(secs(&clock, epoch)))
                ));
                sim.set_region_partitioned(&primary, DownMode::Hang);
            } else {
                progress(&format!(
                    "{:>9}  {primary} fails (its endpoints hang, its databases stop)",
                    time_fmt::elapsed(Duration::from_secs_f64(secs(&clock, epoch)))
                ));
                sim.set_region_down(&primary, DownMode::Hang);
            }
            if !opts.faults.contains(&Fault::NeverReturns) {
                let sim2 = sim.clone();
                let clock2 = clock.clone();
                let progress2 = progress.clone();
                let primary2 = primary.clone();
                tokio::spawn(async move {
                    clock2.sleep(OUTAGE).await;
                    progress2(&format!(
                        "{:>9}  {primary2} is back",
                        time_fmt::elapsed(Duration::from_secs_f64(secs(&clock2, epoch)))
                    ));
                    sim2.set_region_up(&primary2);
                });
            }
            // Nobody starts the failover by hand: the canaries in the secondary that watch the
            // primary go to ALARM after their evaluation periods, EventBridge delivers the
            // change to the secondary's propose-failover, which starts the execution.
            let outage_at = clock.now();
            if opts.faults.contains(&Fault::AlarmStorm) {
                storm_after_the_first_alarm(&sim, &clock, &first_target);
            }
            let refused_here = {
                let (log, prefix) = (proposals.clone(), format!("{first_target}: "));
                move || {
                    log.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .iter()
                        .find(|l| l.starts_with(&prefix) && l.contains("no failover started"))
                        .cloned()
                }
            };
            let proposed =
                wait_for_proposal(&runner, &clock, &failover_machine, Duration::from_secs(1800), &refused_here).await;
            let h = match (proposed, refused_here()) {
                (Some(h), _) => h,
                // The proposer refused and said why (every ARC endpoint dead: the routing
                // cannot be read): the operator, told by its e-mail, starts the failover by
                // hand, and it must fail cleanly with nothing moved.
                (None, Some(why)) => {
                    progress(&format!(
                        "{:>9}  the proposer started nothing ({why}); the operator starts the failover by hand",
                        time_fmt::elapsed(Duration::from_secs_f64(secs(&clock, epoch)))
                    ));
                    start_failover(&runner, &failover_def, &plan, "unplanned", &first_target, "drill-outage-by-hand")?
                }
                (None, None) => {
                    return Err(DrillError::Sim(format!(
                        "no proposer started a failover within 30 min of {primary}'s outage"
                    )));
                }
            };
            let bus = sim.service::<regionsim::eventbridge::EventBridge>();
            let first_alarm = bus.events().iter().filter(|e| e.delivered).map(|e| e.at).min();
            detection = Some(Detection {
                detected_s: first_alarm.map(|t| secs_since(outage_at, t)),
                proposed_s: secs_since(outage_at, h.start_date()),
                alarm_events: bus.events().iter().filter(|e| e.delivered).count(),
            });
            progress(&format!(
                "{:>9}  propose-failover in {first_target} started {} ({} alarm event(s) delivered)",
                time_fmt::elapsed(Duration::from_secs_f64(secs(&clock, epoch))),
                h.name(),
                detection.as_ref().map_or(0, |d| d.alarm_events)
            ));
            h.wait().await;
            executions.push(h.clone());
            h
        }
    };
    // Clients have moved when the resolvers they ask answer the target: wait until they all
    // do (the ones still caching the old answer fetch again), if traffic moved at all.
    let moved_traffic = decision_exec.describe().status == failover_asl::Status::Succeeded
        || sim.service::<regionsim::dns::Dns>().answer().regions == vec![decision_target.clone()];
    let clients_at = if moved_traffic {
        let limit = Duration::from_secs(plan.objectives.rto_seconds.max(60) * 4);
        clients::switched(&sim, &clock, &decision_target, decision_exec.start_date(), limit).await
    } else {
        None
    };
    // The recovery machine of every execution that started one (an unplanned failover, or
    // a refused switchover that was continued unplanned).
    for name in executions.iter().map(|e| format!("{}-recovery", e.name())).collect::<Vec<_>>() {
        if let Some(rec) = runner.executions().into_iter().find(|e| e.name() == name) {
            rec.wait().await;
            executions.push(rec);
        }
    }

    let decisions_now = decisions.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let decided_now = decided.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let invocations_now = invocations.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let report = expect::assess(expect::Inputs {
        opts,
        plan: &plan,
        sim: &sim,
        aurora: &aurora,
        timings: &timings,
        world: &world,
        clients_at,
        decided_s: &decided_now,
        cold_starts: lambda_costs.cold_starts(),
        epoch,
        executions: &executions,
        decision: &decision_exec,
        decision_target: &decision_target,
        decisions: &decisions_now,
        invocations: &invocations_now,
        lambda_faults_injected: injector.injected().len(),
        definitions: [("failover", &failover_def), ("recovery", &recovery_plain)],
        schema_notes: &schema_notes,
    })
    .await;
    let mut report = report;
    // The proposers: when they saw the outage, what each invocation decided, and that one
    // incident started exactly one execution however many alarms arrived.
    report.proposals = proposals.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(d) = &detection {
        report.detected_s = d.detected_s;
        report.proposed_s = Some(d.proposed_s);
        let started = runner
            .executions()
            .into_iter()
            .filter(|e| e.name().starts_with("alarm-") && !e.name().ends_with("-recovery"))
            .count();
        let delivered =
            sim.service::<regionsim::eventbridge::EventBridge>().events().iter().filter(|e| e.delivered).count();
        let problems = expect::proposers(&expect::Proposals {
            opts,
            primary: &primary,
            secondary: &secondary,
            lines: &report.proposals,
            started,
            delivered,
        });
        if !problems.is_empty() {
            report.as_expected = false;
            report.problems.extend(problems);
        }
    }
    let log = CallLog {
        calls: sim.calls(),
        integrations: integrations.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        regions: vec![primary.clone(), secondary.clone()],
    };
    let artifacts = keep_artifacts.then(|| crate::artifacts::collect(&sim, epoch, &executions, &decision_exec));
    Ok((report, log, artifacts))
}

/// The world of the drill's seed, with the figures it was asked to set.
fn world_of(opts: &DrillOptions) -> regionsim::world::World {
    let mut world = regionsim::world::World::draw(opts.seed);
    let o = &opts.world;
    if let Some(p) = o.health_check_propagation {
        world.health_check_propagation = p;
    }
    if let Some(ttl) = o.dns_ttl.filter(|t| *t > 0 && *t != world.dns_ttl) {
        // The resolvers keep their answers in proportion to the record's TTL.
        let f = f64::from(ttl) / f64::from(world.dns_ttl);
        for r in &mut world.resolvers {
            r.cache = r.cache.mul_f64(f);
            r.phase = r.phase.mul_f64(f);
        }
        world.dns_ttl = ttl;
    }
    world
}

/// When the outage was seen and acted on, from the outage.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// The outage to the first canary alarm delivered to a proposer.
    pub detected_s: Option<f64>,
    /// The outage to the start of the execution the proposer started.
    pub proposed_s: f64,
    /// The alarm events the proposers received.
    pub alarm_events: usize,
}

fn secs_since(from: SystemTime, to: SystemTime) -> f64 {
    to.duration_since(from).unwrap_or_default().as_secs_f64()
}

/// The first execution of `machine` that a proposer started (named `alarm-...`), waiting on
/// the clock up to `limit`.
async fn wait_for_proposal(
    runner: &Runner,
    clock: &SharedClock,
    machine: &str,
    limit: Duration,
    refused: &impl Fn() -> Option<String>,
) -> Option<ExecutionHandle> {
    let deadline = clock.now() + limit;
    loop {
        let found = runner
            .executions()
            .into_iter()
            .filter(|e| e.name().starts_with("alarm-") && e.state_machine_arn().ends_with(&format!(":{machine}")))
            .min_by_key(|e| e.start_date());
        if found.is_some() || clock.now() >= deadline || refused().is_some() {
            return found;
        }
        clock.sleep(Duration::from_secs(1)).await;
    }
}

/// `alarm-storm`: once the first ALARM reaches `region`'s proposer, 49 more deliveries of
/// that alarm's change within the minute (EventBridge retries, flapping canaries, several
/// canaries), some at the same instant.
fn storm_after_the_first_alarm(sim: &Sim, clock: &SharedClock, region: &str) {
    let (weak, clock, region) = (sim.downgrade(), clock.clone(), region.to_string());
    tokio::spawn(async move {
        let first = loop {
            let Some(sim) = weak.upgrade() else { return };
            let bus = sim.service::<regionsim::eventbridge::EventBridge>();
            if let Some(e) = bus.events().into_iter().find(|e| e.delivered && e.region == region) {
                break e;
            }
            drop(sim);
            clock.sleep(Duration::from_millis(500)).await;
        };
        for i in 1..50u64 {
            if i % 5 != 0 {
                clock.sleep(Duration::from_millis(1200)).await;
            }
            let Some(sim) = weak.upgrade() else { return };
            let mut event = first.event.clone();
            // Each delivery its own event id, as distinct state changes would have.
            event["id"] = Value::String(format!("storm-{i:02}-{}", event["id"].as_str().unwrap_or("")));
            sim.service::<regionsim::eventbridge::EventBridge>().put_event(&region, event);
        }
    });
}

fn start_failover(
    runner: &Runner,
    def: &failover_asl::Definition,
    plan: &Plan,
    mode: &str,
    target: &str,
    name: &str,
) -> Result<ExecutionHandle, DrillError> {
    let input = json!({"plan": plan, "mode": mode, "target_region": target});
    runner
        .start_with(
            def,
            input,
            StartOptions {
                name: Some(name.to_string()),
                state_machine_name: Some(definitions::machine_name(&plan.name, "failover")),
                region: Some(target.to_string()),
            },
        )
        .map_err(|e| DrillError::Definitions(e.to_string()))
}

/// The name the drill's approver types when the plan lists no approvers.
pub(crate) const DRILL_APPROVER: &str = "drill approver";
/// The name an impostor types (`--approve impostor`): never one of a plan's approvers.
pub(crate) const IMPOSTOR: &str = "mallory (not an approver)";

/// The approver's click: the approval e-mail of `req`'s execution (the latest one its
/// stack's topic carries), its Approve or Reject link opened (GET: the confirmation page,
/// which decides nothing), then the page's form sent with the approver's name (POST).
/// `Replayed` sends the form twice, `Forged` alters the link's signature before opening it
/// and posting its fields, `Scanner` only opens the link, `Impostor` first sends the form
/// as [`IMPOSTOR`], who must be refused. `approver` is the name typed. Returns what the
/// pages said.
async fn follow_the_link(
    http: &reqwest::Client,
    messages: &[regionsim::sns::SnsMessage],
    req: &crate::dispatch::ApprovalRequest,
    mode: Approve,
    approver: &str,
) -> Result<String, String> {
    let mail = messages
        .iter()
        .rev()
        .find(|m| {
            m.region.as_deref() == Some(req.stack.as_str())
                && m.attributes.get("phase").is_some_and(|(_, v)| v == "approval-requested")
                && m.attributes.get("execution").is_some_and(|(_, v)| *v == req.execution)
        })
        .ok_or_else(|| format!("no approval e-mail for {} in {}", req.execution, req.stack))?;
    let label = if mode == Approve::Reject { "Reject: " } else { "Approve: " };
    let mut link = mail
        .message
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .ok_or_else(|| format!("the e-mail has no `{label}` line"))?
        .trim()
        .to_string();
    if mode == Approve::Forged {
        // One hex digit of the signature changed: what an attacker who saw the link's shape
        // would try.
        let last = link.pop().unwrap_or('0');
        link.push(if last == '0' { '1' } else { '0' });
    }
    let action = link.split('?').next().unwrap_or(&link).to_string();
    let (status, page) = get(http, &link).await?;
    match mode {
        Approve::Scanner => return Ok(format!("link opened by a scanner: {status} {}", first_line_of_page(&page))),
        Approve::Forged => {
            // The page refuses; the attacker posts the link's own fields anyway.
            let mut form: Vec<(String, String)> = link
                .split_once('?')
                .map(|(_, q)| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default();
            form.push(("name".into(), "mallory".into()));
            let (posted, body) = post(http, &action, &form).await?;
            return Ok(format!(
                "forged link: GET {status} {}, POST {posted} {}",
                first_line_of_page(&page),
                first_line_of_page(&body)
            ));
        }
        _ => {}
    }
    if !status.is_success() {
        return Err(format!("GET {link}: {status}: {}", first_line_of_page(&page)));
    }
    let mut said = String::new();
    if mode == Approve::Impostor {
        let mut form = hidden_fields(&page);
        form.push(("name".into(), IMPOSTOR.into()));
        let (refused, body) = post(http, &action, &form).await?;
        if refused.is_success() {
            return Err(format!("POST {action} as {IMPOSTOR}: {refused}: decided by a name the plan does not list"));
        }
        said = format!("{IMPOSTOR}: {refused} {}; then ", first_line_of_page(&body));
    }
    let mut form = hidden_fields(&page);
    form.push(("name".into(), approver.into()));
    let (status, body) = post(http, &action, &form).await?;
    if !status.is_success() {
        return Err(format!("POST {action}: {status}: {}", first_line_of_page(&body)));
    }
    let what = if mode == Approve::Reject { "rejected" } else { "approved" };
    said.push_str(&format!("{what} by {approver} through the e-mail link ({})", first_line_of_page(&body)));
    if mode == Approve::Replayed {
        let (again, body) = post(http, &action, &form).await?;
        said.push_str(&format!("; the same form again: {again} {}", first_line_of_page(&body)));
    }
    Ok(said)
}

async fn get(http: &reqwest::Client, url: &str) -> Result<(reqwest::StatusCode, String), String> {
    let r = http.get(url).send().await.map_err(|e| format!("GET {url}: {e}"))?;
    let status = r.status();
    Ok((status, r.text().await.map_err(|e| format!("GET {url}: {e}"))?))
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    form: &[(String, String)],
) -> Result<(reqwest::StatusCode, String), String> {
    let r = http.post(url).form(form).send().await.map_err(|e| format!("POST {url}: {e}"))?;
    let status = r.status();
    Ok((status, r.text().await.map_err(|e| format!("POST {url}: {e}"))?))
}

/// The hidden fields of the confirmation page's form, decoded.
fn hidden_fields(page: &str) -> Vec<(String, String)> {
    let attr = |tag: &str, name: &str| {
        let key = format!("{name}=\"");
        tag.find(&key).and_then(|i| {
            let rest = &tag[i + key.len()..];
            rest.find('"').map(|j| html_escape::decode_html_entities(&rest[..j]).into_owned())
        })
    };
    page.split("<input")
        .skip(1)
        .filter_map(|t| t.split('>').next())
        .filter(|t| attr(t, "type").as_deref() == Some("hidden"))
        .filter_map(|t| Some((attr(t, "name")?, attr(t, "value")?)))
        .collect()
}

/// A page's `<h1>`, or its first 80 characters.
fn first_line_of_page(page: &str) -> String {
    let h1 = page.split("<h1>").nth(1).and_then(|r| r.split("</h1>").next());
    let text = h1.unwrap_or(page);
    html_escape::decode_html_entities(&text.chars().take(80).collect::<String>()).into_owned()
}

fn secs(clock: &SharedClock, epoch: SystemTime) -> f64 {
    clock.now().duration_since(epoch).unwrap_or_default().as_secs_f64()
}
