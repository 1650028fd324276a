//! Both stacks of a plan, deployed on a simulated Region pair, with nothing happening: the
//! stage a drill's scenario plays on, and what `failover sim` serves so that the operator
//! CLI can be tried against it (and is tested against it).
//!
//! A [`Stage`] holds the simulator and its Aurora model, each stack's state machines
//! (failover, recovery, readiness) on one local Step Functions runner served by the
//! simulator's `states` API, the real handlers behind them (each with its role's
//! clients), each stack's approval page as its Function URL, and the stacks' outputs in
//! the simulated CloudFormation.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use failover_asl::{Definition, Runner, RunnerConfig, WeakRunner};
use failover_core::{Plan, SharedClock};
use regionsim::rds::{Aurora, AuroraConfig};
use regionsim::sfn::Sfn;
use regionsim::{Sim, SimBuilder};
use tokio::sync::mpsc;

use crate::definitions;
use crate::dispatch::{ApprovalRequest, ClientsOf, IntegrationLog, Invocation, StepsDispatcher};
use crate::principals::{self, Principal, Role};
use crate::report::DrillError;
use crate::run::role_clients;

/// The approvals table of a plan's stacks, as the template names it.
pub fn approvals_table(plan: &str) -> String {
    format!("failover-{plan}-approvals")
}

/// Each stack's topic and report bucket under the stack's keys, as the template has them
/// (TopicKey, DataKey): the KMS use SNS and S3 make for their callers.
pub fn encrypt_stack_resources(sim: &Sim, plan: &Plan) {
    for (region, stack) in &plan.stacks {
        let (topic_key, data_key) = (principals::topic_key_arn(region), principals::data_key_arn(region));
        sim.service::<regionsim::sns::Sns>().set_topic_key(&stack.topic_arn, Some(topic_key.as_str()));
        sim.service::<regionsim::s3::S3>().set_default_encryption(&stack.report_bucket, Some(data_key.as_str()));
    }
}

/// The approval path of each stack: notify's configuration (it stores the request and
/// e-mails signed links to that stack's approval page), and the approval function behind
/// each Region's simulated Function URL. Returns notify's configurations by Region.
pub fn install_approval_pages(
    sim: &Sim,
    plan: &Plan,
    clients: &ClientsOf,
) -> Result<BTreeMap<String, Arc<failover_steps::notify::Config>>, DrillError> {
    let table = approvals_table(&plan.name);
    let mut notify_configs = BTreeMap::new();
    for region in [&plan.regions.primary, &plan.regions.secondary] {
        let secret = plan.stacks.get(region.as_str()).and_then(|s| s.approval_secret.clone());
        let machine = definitions::state_machine_arn(region, &plan.name, "failover");
        let url = sim.service::<regionsim::function_urls::FunctionUrls>().url(region);
        notify_configs.insert(
            region.clone(),
            Arc::new(failover_steps::notify::Config::from_values(
                Some(table.clone()),
                secret.clone(),
                url,
                Some(machine.clone()),
            )),
        );
        let config = failover_steps::approval::Config::from_values(
            Some(region.clone()),
            Some(table.clone()),
            secret,
            Some(machine),
        )
        .map_err(DrillError::Plan)?;
        let deps = Arc::new(failover_steps::approval::Approvals::new(
            clients(&Principal::new(Role::Approval, region)),
            config,
        ));
        sim.service::<regionsim::function_urls::FunctionUrls>().set_handler(region, move |event| {
            let deps = deps.clone();
            async move {
                match failover_steps::approval::handle(event, &deps).await {
                    Ok(r) => r,
                    Err(e) => {
                        let mut r =
                            aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse::default();
                        r.status_code = 502;
                        r.body = Some(format!("{}: {}", e.kind.as_str(), e.message));
                        r
                    }
                }
            }
        });
    }
    Ok(notify_configs)
}

/// Both stacks of a plan on a simulated pair, idle.
pub struct Stage {
    pub sim: Sim,
    pub clock: SharedClock,
    pub plan: Plan,
    pub aurora: Arc<Aurora>,
    pub runner: Runner,
    /// The approvals the machines wait for (the approver's inbox; the token is not here).
    pub approvals: mpsc::UnboundedReceiver<ApprovalRequest>,
    pub invocations: Arc<Mutex<Vec<Invocation>>>,
    pub integrations: IntegrationLog,
}

impl Stage {
    /// Starts the simulator on `clock` with `plan`, both stacks deployed on it.
    pub async fn start(clock: SharedClock, plan: Plan, seed: u64) -> Result<Stage, DrillError> {
        Self::start_with(clock, plan, seed, |_| {}).await
    }

    /// [`Stage::start`], with the Aurora model's configuration changed first (its backend).
    pub async fn start_with(
        clock: SharedClock,
        plan: Plan,
        seed: u64,
        configure: impl FnOnce(&mut AuroraConfig),
    ) -> Result<Stage, DrillError> {
        let table = approvals_table(&plan.name);
        let sim = SimBuilder::with_plan(clock.clone(), plan.clone())
            .seed(seed)
            .setting(move |s: &mut regionsim::dynamodb::DynamoSettings| {
                s.tables.push(regionsim::dynamodb::TableSpec::approvals(&table))
            })
            .start()
            .await
            .map_err(|e| DrillError::Sim(e.to_string()))?;
        let mut aurora_cfg = AuroraConfig::from_plan(&plan);
        aurora_cfg.seed = seed;
        aurora_cfg.timings = sim.world().rds.clone();
        configure(&mut aurora_cfg);
        let aurora = Aurora::install(&sim, aurora_cfg).map_err(|e| DrillError::Sim(e.to_string()))?;
        let plan = sim.plan();
        encrypt_stack_resources(&sim, &plan);

        let clients = role_clients(&sim, &clock, seed);
        let notify_configs = install_approval_pages(&sim, &plan, &clients)?;
        let secondary = plan.regions.secondary.clone();
        let (_, recovery) =
            definitions::load(&secondary, &plan.name).map_err(|e| DrillError::Definitions(e.to_string()))?;
        let mut machines: Vec<(String, Definition)> = Vec::new();
        for region in [&plan.regions.primary, &plan.regions.secondary] {
            let (f, r) = definitions::load(region, &plan.name).map_err(|e| DrillError::Definitions(e.to_string()))?;
            let readiness =
                definitions::load_readiness(region, &plan.name).map_err(|e| DrillError::Definitions(e.to_string()))?;
            machines.push((definitions::state_machine_arn(region, &plan.name, "failover"), f));
            machines.push((definitions::state_machine_arn(region, &plan.name, "recovery"), r));
            machines.push((definitions::state_machine_arn(region, &plan.name, "readiness"), readiness));
        }
        let runner_cell: Arc<OnceLock<WeakRunner>> = Arc::new(OnceLock::new());
        let (approvals_tx, approvals) = mpsc::unbounded_channel::<ApprovalRequest>();
        let invocations: Arc<Mutex<Vec<Invocation>>> = Arc::default();
        let integrations: IntegrationLog = Arc::default();
        let dispatcher = StepsDispatcher::new(
            clients,
            runner_cell.clone(),
            Arc::new(recovery),
            approvals_tx,
            invocations.clone(),
            None,
            integrations.clone(),
            clock.clone(),
        )
        .with_notify_configs(notify_configs);
        let config = RunnerConfig {
            region: secondary,
            account: definitions::ACCOUNT.into(),
            state_machine_name: definitions::machine_name(&plan.name, "failover"),
            seed,
            ..RunnerConfig::default()
        };
        let runner = Runner::with_config(Arc::new(dispatcher), clock.clone(), config);
        let _ = runner_cell.set(runner.downgrade());
        Sfn::new(runner.clone(), machines).install(&sim);
        Ok(Stage { sim, clock, plan, aurora, runner, approvals, invocations, integrations })
    }

    /// Writes the plan into each Region's plan parameter, as scripts/publish-plan does.
    pub fn publish_plan(&self) -> Result<(), DrillError> {
        let text = serde_json::to_string(&self.plan).map_err(|e| DrillError::Plan(e.to_string()))?;
        let name = format!("/failover/{}/plan", self.plan.name);
        for region in [&self.plan.regions.primary, &self.plan.regions.secondary] {
            self.sim.service::<regionsim::ssm::Ssm>().put(region, &name, &text);
        }
        Ok(())
    }
}
