//! The operator commands as a person types them: the `failover` binary, its flags, its
//! output and its exit codes, against both stacks of the reference plan served in this
//! process on 127.0.0.1 (the environment `failover sim` prints).

use std::process::{Command, Output};
use std::time::Duration;

use failover_core::{Plan, SharedClock};
use failover_drill::stage::Stage;

fn failover(args: &[&str], env: &[(String, String)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_failover"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent")
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

async fn stage() -> Stage {
    let plan = Plan::from_yaml(failover_drill::run::DEFAULT_PLAN).expect("the reference plan parses");
    let stage = Stage::start(SharedClock::system(), plan, 3).await.expect("the stage starts");
    stage.publish_plan().expect("published");
    stage
}

fn sim_env(stage: &Stage) -> Vec<(String, String)> {
    let mut env = stage.sim.endpoints().env_vars();
    env.push(("AWS_ACCESS_KEY_ID".into(), "AKIDOPERATORBOB".into()));
    env.push(("AWS_SECRET_ACCESS_KEY".into(), "operator".into()));
    env
}

/// Runs the binary off the runtime's thread, so the simulator keeps answering.
async fn run(args: &[&str], env: Vec<(String, String)>) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        failover(&args, &env)
    })
    .await
    .expect("the command ran")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_region_stack_or_credentials_exit_2_with_a_clear_message() {
    let stage = stage().await;
    let o = run(&["status"], vec![]).await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("no Region: pass --region"), "{err}");

    let mut env = sim_env(&stage);
    let o = run(&["status", "--region", "us-west-2", "--stack", "failover-nothing"], env.clone()).await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("stack failover-nothing not found in us-west-2"), "{err}");

    env.retain(|(k, _)| !k.starts_with("AWS_ACCESS_KEY_ID") && !k.starts_with("AWS_SECRET"));
    let o = run(&["status", "--region", "us-west-2"], env).await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("no AWS credentials"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_status_and_approve_from_the_command_line() {
    let mut stage = stage().await;
    let env = sim_env(&stage);
    let o = run(
        &["start", "--region", "us-west-2", "--to", "us-west-2", "--mode", "planned", "--reason", "drill"],
        env.clone(),
    )
    .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.starts_with("started arn:aws:states:us-west-2:"), "{out}");
    let arn = out.split_whitespace().nth(1).expect("the execution ARN").to_string();

    let asked = tokio::time::timeout(Duration::from_secs(60), stage.approvals.recv())
        .await
        .expect("asked within a minute")
        .expect("an approval request");
    assert!(arn.ends_with(&asked.execution));

    let o = run(&["status", "--region", "us-west-2"], env.clone()).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(out.contains("RUNNING"), "{out}");
    assert!(out.contains("Preflight") && out.contains("now: RequestApproval"), "{out}");

    // The reference plan lists its approvers: Bob is not one, and the command says so.
    let o = run(&["approve", &arn, "--region", "us-west-2", "--as", "Bob"], env.clone()).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(err.contains("`Bob` is not one of the plan's approvers"), "{err}");

    let o = run(&["approve", &arn, "--region", "us-west-2", "--as", "Ravi Menon"], env.clone()).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("approve by Ravi Menon (arn:aws:iam::111122223333:user/akidoperatorbob)"), "{out}");

    let o = run(&["reject", &arn, "--region", "us-west-2", "--as", "Ravi Menon"], env.clone()).await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "a decided request cannot be rejected: {err}");
}
