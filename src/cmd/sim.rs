//! `failover sim`: a simulated Region pair on 127.0.0.1 for other processes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clap::Args;
use failover_core::clock::ScaledClock;
use failover_core::{Plan, SharedClock};

#[derive(Args, Debug)]
pub struct SimArgs {
    /// The plan to simulate (YAML); the built-in retail-store plan when absent.
    #[arg(long)]
    plan: Option<PathBuf>,
    /// Where to write the plan that points at the simulator.
    #[arg(long, default_value = "regionsim.plan.yaml")]
    write_plan: PathBuf,
    /// How much faster than real time the simulated clock runs (60: a minute per second).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// The control API's address.
    #[arg(long, default_value = "127.0.0.1:0")]
    control: SocketAddr,
    /// Seed for every random choice (throttling, the workload).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The databases behind the Aurora clusters: `sqlite`, `sqlite:DIR`, `postgres://...`, `mysql://...`.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// Stop after this many real seconds (default: run until interrupted).
    #[arg(long)]
    seconds: Option<u64>,
}

pub fn run(args: SimArgs) -> ExitCode {
    let plan = match &args.plan {
        None => regionsim::default_plan(),
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| Plan::from_yaml(&t).map_err(|e| e.to_string()))
        {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
    };
    let backend = match regionsim::data::Backend::from_url(&args.backend) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("--backend: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async move {
        let clock = SharedClock::new(ScaledClock::new(SystemTime::now(), args.speed));
        // Both stacks deployed: their state machines with the real handlers, the approval
        // pages, the stack outputs and each Region's plan parameter, for the CLI to try.
        let stage = match failover_drill::stage::Stage::start_with(clock, plan.clone(), args.seed, |cfg| {
            cfg.backend = backend;
        })
        .await
        {
            Ok(s) => s,
            Err(e) => {
                eprintln!("cannot start the simulator: {e}");
                return ExitCode::from(2);
            }
        };
        if let Err(e) = stage.publish_plan() {
            eprintln!("cannot publish the plan: {e}");
            return ExitCode::from(2);
        }
        let sim = stage.sim.clone();
        let aurora = stage.aurora.clone();
        sim.register_control(
            "stall",
            Arc::new(move |v: &serde_json::Value| {
                let stall = v.get("stall").and_then(serde_json::Value::as_bool).unwrap_or(true);
                aurora.set_failover_stalls(stall);
                Ok(serde_json::json!({ "stall": stall }))
            }),
        );
        let control = match regionsim::control::start(&sim, args.control).await {
            Ok(a) => a,
            Err(e) => {
                eprintln!("cannot bind the control API on {}: {e}", args.control);
                return ExitCode::from(2);
            }
        };
        if let Err(e) = sim.write_plan(&args.write_plan) {
            eprintln!("{}: cannot write the plan: {e}", args.write_plan.display());
            return ExitCode::from(2);
        }
        let eps = sim.endpoints();
        println!("# regionsim: {} (primary) and {}, clock x{}", sim.regions()[0], sim.regions()[1], args.speed);
        println!("# simulated world (seed {}; sources: crates/regionsim/ARCHITECTURE-regionsim.md):", args.seed);
        for (name, value) in sim.world().figures() {
            println!("#   {name}: {value}");
        }
        for (k, v) in eps.env_vars() {
            println!("export {k}={v}");
        }
        println!("export AWS_ACCESS_KEY_ID=AKIDREGIONSIM AWS_SECRET_ACCESS_KEY=regionsim");
        for (i, (url, region)) in eps.arc.iter().enumerate() {
            println!("# ARC endpoint {i}: {url} ({region})");
        }
        for (region, url) in &eps.web {
            println!("# health {region}: {url}");
        }
        println!("# DNS (UDP and TCP): {}", eps.dns);
        println!("# control API: http://{control}/state");
        println!("# plan: {}", args.write_plan.display());
        println!(
            "# stacks: {stack} in {} and {}; try: failover status --region {} --stack {stack}",
            sim.regions()[0],
            sim.regions()[1],
            sim.regions()[1],
            stack = regionsim::cloudformation::stack_name(&plan.name),
        );
        match args.seconds {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => std::future::pending::<()>().await,
        }
        drop(sim);
        drop(stage);
        ExitCode::SUCCESS
    })
}
