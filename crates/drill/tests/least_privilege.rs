//! Least privilege, proven on the drills.
//!
//! Every role of both stacks signs its calls with an access key id of its own
//! (`failover_drill::principals`), and regionsim logs, for every call, who signed it and
//! what IAM evaluates for it: the action, each resource's ARN, the condition keys, and the
//! KMS (or Secrets Manager) use S3, SNS and RDS make on the caller's behalf
//! (`regionsim::iam`). This test runs a suite of drills and holds every call of every
//! role against that role's policies in the transformed template, as deployed in the
//! stack of the call's Region with samconfig.toml's parameters (`.ci/iam-stacks`, the SAM
//! transform and the intrinsics resolved offline): an Allow statement must match the
//! action, the resource (IAM's `*` and `?` wildcards) and its conditions; no Deny of the
//! role or of a resource policy (topic, bucket, queue, key) may match; a KMS key must be a
//! key of the template whose policy lets IAM grant it, or one of the plan's keys
//! (`DatabaseKmsKeyArns`, whose policies are the operator's). The calls the template
//! itself makes with a role that no drill runs (the schedules, the Automation documents)
//! come from `.ci/iam-stacks` as `static_calls` and are held the same way.
//!
//! Then the other direction: every action a role is allowed is called by some drill (or
//! static call), or is in [`NEVER_CALLED`] with the reason; an entry there that some call
//! uses, or that no role is allowed, fails the test too, so the list cannot outlive the
//! grants.
//!
//! Needs the venv of `.ci/static-checks` (aws-sam-translator): under CI=true a missing
//! venv fails the test; elsewhere the test is skipped, loudly. Run with
//! `cargo test -p failover-drill --test least_privilege -- --nocapture` to see the calls
//! of each role.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use failover_drill::principals::{DRILL_ACCESS_KEY, Principal};
use failover_drill::{Approve, CallLog, DrillOptions, Fault, Scenario};
use regionsim::Authorization;
use serde_json::Value;

/// Allowed actions no drill calls, by role (`functions/<package>`,
/// `state_machines/<LogicalId>`, `other_roles/<LogicalId>`, or `*` for every role), with
/// the reason.
const NEVER_CALLED: &[(&str, &str, &str)] = &[
    // What the services do with a role, not the code.
    (
        "*",
        "logs:CreateLogStream",
        "Lambda writes the function's logs (LoggingConfig) with its role; the handler never calls CloudWatch Logs",
    ),
    (
        "*",
        "logs:PutLogEvents",
        "Lambda writes the function's logs with its role; the handler never calls CloudWatch Logs",
    ),
    ("*", "xray:PutTraceSegments", "X-Ray active tracing: Lambda and Step Functions send the segments with the role"),
    (
        "*",
        "xray:PutTelemetryRecords",
        "X-Ray active tracing: Lambda and Step Functions send the telemetry with the role",
    ),
    ("*", "xray:GetSamplingRules", "Step Functions tracing reads the sampling rules with the machine's role"),
    ("*", "xray:GetSamplingTargets", "Step Functions tracing reads the sampling targets with the machine's role"),
    ("*", "logs:CreateLogDelivery", "Step Functions logging (a vended log delivery) is set up with the machine's role"),
    ("*", "logs:GetLogDelivery", "Step Functions logging (vended log delivery)"),
    ("*", "logs:UpdateLogDelivery", "Step Functions logging (vended log delivery)"),
    ("*", "logs:DeleteLogDelivery", "Step Functions logging (vended log delivery)"),
    ("*", "logs:ListLogDeliveries", "Step Functions logging (vended log delivery)"),
    ("*", "logs:PutResourcePolicy", "Step Functions logging: the log group's resource policy for the delivery"),
    ("*", "logs:DescribeResourcePolicies", "Step Functions logging (vended log delivery)"),
    ("*", "logs:DescribeLogGroups", "Step Functions logging (vended log delivery)"),
    (
        "functions/diff-report",
        "ec2:CreateNetworkInterface",
        "Lambda attaches the function to the plan's subnets (VpcConfig) with its role",
    ),
    ("functions/diff-report", "ec2:DeleteNetworkInterface", "Lambda's VPC attachment"),
    ("functions/diff-report", "ec2:AssignPrivateIpAddresses", "Lambda's VPC attachment"),
    ("functions/diff-report", "ec2:UnassignPrivateIpAddresses", "Lambda's VPC attachment"),
    ("functions/diff-report", "ec2:DescribeNetworkInterfaces", "Lambda's VPC attachment"),
    ("functions/diff-report", "ec2:DescribeSubnets", "Lambda's VPC attachment"),
    // Paths no drill takes.
    (
        "functions/aurora-failover",
        "rds:ModifyDBCluster",
        "a headless target (its Serverless v2 range): no drill fault makes a target headless; crates/steps/tests/aurora_failover.rs covers it",
    ),
    (
        "functions/aurora-failover",
        "rds:CreateDBInstance",
        "a headless target (the instance it creates): no drill fault makes a target headless",
    ),
    (
        "functions/aurora-failover",
        "rds:AddTagsToResource",
        "a headless target (the tags of the instance it creates): no drill fault makes a target headless",
    ),
    (
        "state_machines/ReadinessStateMachine",
        "lambda:InvokeFunction",
        "the drills do not run the readiness machine (statemachine/readiness.asl.json: preflight alone)",
    ),
    // What the simulator does not model.
    (
        "functions/snapshot-restore",
        "kms:Decrypt",
        "not modeled: the simulator records the KMS calls RDS makes with the caller's permissions for a copy or restore as kms:CreateGrant and kms:DescribeKey; RDS's own use of the key goes through the grant (unverified for a cross-Region copy, kept)",
    ),
    ("functions/snapshot-restore", "kms:GenerateDataKey", "not modeled, as kms:Decrypt above"),
    // The approval function exists; the drill's approver does not go through its page yet
    // (issue 11, the drill part): it answers the task token directly, as the approval role.
    ("functions/approval", "dynamodb:Query", "the drill's approver does not use the approval page yet"),
    ("functions/approval", "kms:Decrypt", "the drill's approver does not use the approval page yet"),
    ("functions/approval", "kms:GenerateDataKey", "the drill's approver does not use the approval page yet"),
];

/// The account of the reference plan's ARNs.
const ACCOUNT: &str = "111122223333";

/// The drills whose calls are held: every scenario, the approver's two answers, a refused
/// switchover continued unplanned, a snapshot that never comes (the old Region's global
/// cluster read), a table diffed in key ranges and merged (reads of the written parts),
/// and Lambda-level failures (every task retried).
fn suite() -> Vec<(&'static str, DrillOptions)> {
    let d = |scenario, approve, faults| DrillOptions { scenario, approve, faults, seed: 7, ..DrillOptions::default() };
    let split_plan = failover_drill::run::DEFAULT_PLAN
        .replace("      database: orders\n", "      database: orders\n      rows_per_part: 150\n");
    assert_ne!(split_plan, failover_drill::run::DEFAULT_PLAN, "the plan names rows_per_part");
    vec![
        ("planned", d(Scenario::Planned, Approve::Auto, vec![])),
        ("planned, rejected", d(Scenario::Planned, Approve::Reject, vec![])),
        (
            "planned over the RPO, continued unplanned",
            d(Scenario::Planned, Approve::Auto, vec![Fault::Lag { seconds: 30 }]),
        ),
        ("region-outage", d(Scenario::RegionOutage, Approve::Auto, vec![])),
        ("region-outage, no snapshot", d(Scenario::RegionOutage, Approve::Auto, vec![Fault::NoSnapshot])),
        ("region-outage, every task failing once", d(Scenario::RegionOutage, Approve::Auto, vec![Fault::LambdaOnce])),
        (
            "region-outage, orders in key ranges",
            DrillOptions { plan_yaml: Some(split_plan), ..d(Scenario::RegionOutage, Approve::Auto, vec![]) },
        ),
        ("failback", d(Scenario::Failback, Approve::Auto, vec![])),
    ]
}

// ------------------------------------------------------------------ the template's side

/// One statement, resolved.
#[derive(Debug, Clone)]
struct Statement {
    sid: String,
    effect: String,
    principal: Value,
    actions: Vec<String>,
    resources: Vec<String>,
    condition: Value,
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

fn statement(v: &Value) -> Statement {
    Statement {
        sid: v["sid"].as_str().unwrap_or("(no Sid)").to_string(),
        effect: v["effect"].as_str().unwrap_or("").to_string(),
        principal: v.get("principal").cloned().unwrap_or(Value::Null),
        actions: strings(&v["actions"]),
        resources: strings(&v["resources"]),
        condition: v.get("condition").cloned().unwrap_or(Value::Null),
    }
}

/// One Region's stack.
struct Stack {
    roles: BTreeMap<String, Vec<Statement>>,
    /// (owner logical id, type, resources, statements).
    resource_policies: Vec<(String, String, Vec<String>, Vec<Statement>)>,
    /// The template's KMS keys' ARNs, by logical id.
    keys: BTreeMap<String, String>,
    /// The plan's keys (`DatabaseKmsKeyArns`).
    plan_keys: Vec<String>,
    static_calls: Vec<(String, String, Authorization)>,
}

fn stack(v: &Value) -> Stack {
    let mut roles: BTreeMap<String, Vec<Statement>> = BTreeMap::new();
    for (k, r) in v["roles"].as_object().into_iter().flatten() {
        roles.insert(k.clone(), r["statements"].as_array().into_iter().flatten().map(statement).collect());
    }
    let resource_policies: Vec<(String, String, Vec<String>, Vec<Statement>)> = v["resource_policies"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["owner"].as_str().unwrap_or("").to_string(),
                p["type"].as_str().unwrap_or("").to_string(),
                strings(&p["resources"]),
                p["statements"].as_array().into_iter().flatten().map(statement).collect(),
            )
        })
        .collect();
    let keys: BTreeMap<String, String> = v["keys"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, a)| (k.clone(), a.as_str().unwrap_or("").to_string()))
        .collect();
    let plan_keys = strings(&v["parameters"]["DatabaseKmsKeyArns"]).into_iter().filter(|k| !k.is_empty()).collect();
    let static_calls: Vec<(String, String, Authorization)> = v["static_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let mut a = Authorization::new(c["action"].as_str().unwrap_or(""), c["resource"].as_str().unwrap_or(""));
            if let Some(ctx) = c["context"].as_object() {
                for (k, vals) in ctx {
                    for val in strings(vals) {
                        a = a.with(k, val);
                    }
                }
            }
            (c["principal"].as_str().unwrap_or("").to_string(), c["source"].as_str().unwrap_or("").to_string(), a)
        })
        .collect();
    Stack { roles, resource_policies, keys, plan_keys, static_calls }
}

/// Both stacks as `.ci/iam-stacks` resolves them, with the simulated stacks' names for
/// what CloudFormation generates; `None` after a loud skip when the venv is missing
/// outside CI.
fn stacks(regions: &[String]) -> Option<BTreeMap<String, Stack>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = std::env::temp_dir().join(format!("failover-least-privilege-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let plan = failover_core::Plan::from_yaml(failover_drill::run::DEFAULT_PLAN).expect("the reference plan");
    let values: serde_json::Map<String, Value> = regions
        .iter()
        .map(|r| {
            (
                r.clone(),
                // The stack's signing secret is the one the plan names (plan check warns when
                // they differ).
                serde_json::to_value(failover_drill::principals::stack_values(
                    r,
                    "retail-store",
                    plan.stacks.get(r.as_str()).and_then(|s| s.approval_secret.as_deref()),
                ))
                .unwrap(),
            )
        })
        .collect();
    let values_path = dir.join("stack-values.json");
    std::fs::write(&values_path, Value::Object(values).to_string()).expect("the stack values are written");
    let out_path = dir.join("stacks.json");
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let run = Command::new("bash")
        .arg(".ci/iam-stacks")
        .arg("--stack-values")
        .arg(&values_path)
        .arg("--out")
        .arg(&out_path)
        .current_dir(&root)
        .output();
    let skip = |why: String| {
        if ci {
            panic!("CI=true and the template cannot be resolved: {why}");
        }
        let line = format!(
            "!!!!! SKIPPING the least-privilege test: {why}; run `bash .ci/static-checks` once (it creates the venv), \
             or set CI=true to make this a failure !!!!!"
        );
        // Both streams: a skip must show in the test output, not only in captured stderr.
        println!("{line}");
        let _ = writeln!(std::io::stderr(), "{line}");
        None
    };
    let output = match run {
        Ok(o) => o,
        Err(e) => return skip(format!("bash could not run .ci/iam-stacks ({e})")),
    };
    if output.status.code() == Some(3) {
        return skip(String::from_utf8_lossy(&output.stderr).trim().to_string());
    }
    assert!(
        output.status.success(),
        ".ci/iam-stacks failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(&out_path).expect(".ci/iam-stacks wrote its output");
    let _ = std::fs::remove_dir_all(&dir);
    let v: Value = serde_json::from_str(&text).expect("the output of .ci/iam-stacks is JSON");
    let errors = strings(&v["errors"]);
    assert!(errors.is_empty(), "the template does not resolve:\n{}", errors.join("\n"));
    let mut out = BTreeMap::new();
    for r in regions {
        let s = v["stacks"].get(r).unwrap_or_else(|| panic!("samconfig.toml deploys no stack in {r}"));
        out.insert(r.clone(), stack(s));
    }
    Some(out)
}

// ------------------------------------------------------------------ IAM evaluation

/// IAM's wildcard match: `*` any run of characters (`:` and `/` included), `?` one.
fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let norm = |s: &str| if ignore_case { s.to_ascii_lowercase() } else { s.to_string() };
    let (p, t): (Vec<char>, Vec<char>) = (norm(pattern).chars().collect(), norm(text).chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0usize, 0usize, None::<usize>, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// The request's condition keys: the call's own, and what every request to AWS carries.
fn context(a: &Authorization, region: &str) -> BTreeMap<String, Vec<String>> {
    let mut ctx = a.context.clone();
    // The SDK speaks HTTPS to AWS; plain HTTP is the simulator's loopback transport.
    ctx.entry("aws:SecureTransport".into()).or_insert_with(|| vec!["true".into()]);
    ctx.entry("aws:PrincipalAccount".into()).or_insert_with(|| vec![ACCOUNT.into()]);
    ctx.entry("aws:RequestedRegion".into()).or_insert_with(|| vec![region.to_string()]);
    ctx
}

/// How a condition operator compares a policy value with a request value.
#[derive(Debug, Clone, Copy)]
enum Cmp {
    Exact,
    IgnoreCase,
    /// `*` and `?` wildcards (StringLike, and the ARN operators).
    Like,
}

impl Cmp {
    fn matches(self, wanted: &str, have: &str) -> bool {
        match self {
            Cmp::Exact => wanted == have,
            Cmp::IgnoreCase => wanted.eq_ignore_ascii_case(have),
            Cmp::Like => glob(wanted, have, false),
        }
    }
}

/// Whether a statement's `Condition` holds for `ctx`; `Err` for an operator this test
/// cannot evaluate.
fn condition_holds(cond: &Value, ctx: &BTreeMap<String, Vec<String>>) -> Result<bool, String> {
    let Some(ops) = cond.as_object() else { return Ok(true) };
    for (op, keys) in ops {
        let (set, rest) = match op.split_once(':') {
            Some((s @ ("ForAllValues" | "ForAnyValue"), r)) => (Some(s), r),
            _ => (None, op.as_str()),
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(b) => (b, true),
            None => (rest, false),
        };
        let Some(keys) = keys.as_object() else { return Err(format!("condition {op} is not an object")) };
        for (key, wanted) in keys {
            let wanted = strings(wanted);
            let have = ctx.get(key).cloned().unwrap_or_default();
            if base == "Null" {
                let absent = have.is_empty();
                if !wanted.iter().any(|w| (w == "true") == absent) {
                    return Ok(false);
                }
                continue;
            }
            let (positive, cmp) = match base {
                "StringEquals" => (true, Cmp::Exact),
                "StringNotEquals" => (false, Cmp::Exact),
                "StringEqualsIgnoreCase" | "Bool" => (true, Cmp::IgnoreCase),
                "StringNotEqualsIgnoreCase" => (false, Cmp::IgnoreCase),
                "StringLike" | "ArnLike" | "ArnEquals" => (true, Cmp::Like),
                "StringNotLike" | "ArnNotLike" | "ArnNotEquals" => (false, Cmp::Like),
                other => {
                    return Err(format!("condition operator {other} ({op} on {key}) is not evaluated by this test"));
                }
            };
            let any_match = |h: &String| wanted.iter().any(|w| cmp.matches(w, h));
            let holds = match set {
                Some("ForAllValues") => have.iter().all(any_match),
                Some(_) => have.iter().any(any_match),
                None if have.is_empty() => if_exists || !positive,
                None if positive => have.iter().any(any_match),
                None => !have.iter().any(any_match),
            };
            if !holds {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Whether `st` applies to action `action` on `resource` in `ctx`.
fn applies(st: &Statement, a: &Authorization, ctx: &BTreeMap<String, Vec<String>>) -> Result<bool, String> {
    let action = st.actions.iter().any(|p| glob(p, &a.action, true));
    let resource = st.resources.iter().any(|p| glob(p, &a.resource, false));
    if !(action && resource) {
        return Ok(false);
    }
    condition_holds(&st.condition, ctx).map_err(|e| format!("{} ({}): {e}", st.sid, st.effect))
}

/// Whether a resource policy's statement names every principal (or this account's).
fn for_any_principal(principal: &Value) -> bool {
    let root = format!("arn:aws:iam::{ACCOUNT}:root");
    match principal {
        Value::String(s) => s == "*",
        Value::Object(o) => o.get("AWS").is_some_and(|v| strings(v).iter().any(|p| p == "*" || *p == root)),
        _ => false,
    }
}

/// IAM's decision on one authorization of `role` in `s`: `Err` says why it is denied.
fn decide(s: &Stack, role: &str, a: &Authorization, region: &str) -> Result<(), String> {
    let ctx = context(a, region);
    let Some(statements) = s.roles.get(role) else { return Err(format!("the stack has no role {role}")) };
    for st in statements.iter().filter(|st| st.effect == "Deny") {
        if applies(st, a, &ctx)? {
            return Err(format!("denied by {role}'s statement {}", st.sid));
        }
    }
    for (owner, _, _, sts) in &s.resource_policies {
        for st in sts.iter().filter(|st| st.effect == "Deny" && for_any_principal(&st.principal)) {
            if applies(st, a, &ctx)? {
                return Err(format!("denied by the resource policy {owner}, statement {}", st.sid));
            }
        }
    }
    let mut allowed = false;
    for st in statements.iter().filter(|st| st.effect == "Allow") {
        if applies(st, a, &ctx)? {
            allowed = true;
            break;
        }
    }
    if !allowed {
        let near: Vec<String> = statements
            .iter()
            .filter(|st| st.effect == "Allow" && st.actions.iter().any(|p| glob(p, &a.action, true)))
            .map(|st| format!("{} on {:?} when {}", st.sid, st.resources, st.condition))
            .collect();
        return Err(if near.is_empty() {
            format!("{role} is allowed no {}", a.action)
        } else {
            format!("no Allow of {role} matches (the statements with the action: {})", near.join("; "))
        });
    }
    if a.action.starts_with("kms:") {
        key_policy_allows(s, a, &ctx)?;
    }
    Ok(())
}

/// A KMS request needs the key's policy too: a key of the template must let IAM policies
/// grant it (the account root statement); a key of the plan is the operator's; any other
/// key (an AWS managed key such as `aws/s3`) means something is encrypted with a key
/// nobody chose.
fn key_policy_allows(s: &Stack, a: &Authorization, ctx: &BTreeMap<String, Vec<String>>) -> Result<(), String> {
    if let Some((owner, _, _, sts)) =
        s.resource_policies.iter().find(|(_, t, res, _)| t == "AWS::KMS::Key" && res.contains(&a.resource))
    {
        let root = format!("arn:aws:iam::{ACCOUNT}:root");
        for st in sts.iter().filter(|st| st.effect == "Allow") {
            let delegates = st.principal.get("AWS").is_some_and(|p| strings(p).contains(&root));
            if delegates && applies(st, a, ctx)? {
                return Ok(());
            }
        }
        return Err(format!("the key policy of {owner} does not let IAM policies grant {}", a.action));
    }
    if s.plan_keys.contains(&a.resource) {
        return Ok(());
    }
    Err(format!(
        "{} is neither a key of the template ({:?}) nor of the plan (DatabaseKmsKeyArns {:?}): encrypted with a key no one chose",
        a.resource,
        s.keys.values().collect::<Vec<_>>(),
        s.plan_keys
    ))
}

// ------------------------------------------------------------------ the test

/// One authorization a role needed: where it came from, for the messages.
struct Need {
    source: String,
    role: String,
    region: String,
    auth: Authorization,
}

/// Every authorization of a drill's calls, by the role that signed them; problems for
/// calls no role of a stack signed, or that regionsim says nothing about.
fn needs(label: &str, log: &CallLog, problems: &mut Vec<String>) -> Vec<Need> {
    let mut out = Vec::new();
    for c in log.calls.iter().chain(&log.integrations) {
        let source = format!("{label}: {}:{} #{}", c.service, c.operation, c.seq);
        let Some(key) = &c.caller else {
            // The application's health URL is probed without AWS credentials, and the
            // approval page's Function URL is public by design (AuthType NONE: the signed
            // link and the single-use record authenticate; the template check holds that).
            if c.service != regionsim::service::WEB && c.service != regionsim::service::FUNCTION_URLS {
                problems.push(format!("{source}: unsigned"));
            }
            continue;
        };
        if key == DRILL_ACCESS_KEY {
            continue;
        }
        let Some(p) = Principal::of_access_key_id(key, &log.regions) else {
            problems.push(format!("{source}: signed with {key}, no role of the stacks"));
            continue;
        };
        if c.authorizations.is_empty() {
            problems.push(format!("{source} by {p}: regionsim records nothing IAM evaluates for it"));
        }
        for a in &c.authorizations {
            out.push(Need {
                source: source.clone(),
                role: p.role.template_key(),
                region: p.stack.clone(),
                auth: a.clone(),
            });
        }
    }
    out
}

#[tokio::test(start_paused = true)]
async fn every_call_of_every_role_is_allowed_and_every_grant_is_used() {
    let plan = failover_core::Plan::from_yaml(failover_drill::run::DEFAULT_PLAN).expect("the reference plan");
    let regions = vec![plan.regions.primary.clone(), plan.regions.secondary.clone()];
    let Some(stacks) = stacks(&regions) else { return };

    let mut problems: Vec<String> = Vec::new();
    let mut all: Vec<Need> = Vec::new();
    for (label, opts) in suite() {
        let progress: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(|_| {});
        let (report, log) = failover_drill::run_recorded(&opts, progress).await.expect("the drill runs");
        if !report.as_expected {
            let _ = writeln!(std::io::stderr(), "note: drill `{label}` is not as expected: {:?}", report.problems);
        }
        all.extend(needs(label, &log, &mut problems));
    }
    for (region, s) in &stacks {
        for (role, source, auth) in &s.static_calls {
            all.push(Need {
                source: format!("template: {source}"),
                role: role.clone(),
                region: region.clone(),
                auth: auth.clone(),
            });
        }
    }

    // Every call allowed, nothing denied.
    let mut called: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for n in &all {
        called.entry(n.role.clone()).or_default().insert(n.auth.action.to_ascii_lowercase());
        let verdict = stacks
            .get(&n.region)
            .ok_or_else(|| format!("no stack in {}", n.region))
            .and_then(|s| decide(s, &n.role, &n.auth, &n.region));
        if let Err(why) = verdict {
            let via = n.auth.via.as_deref().map(|v| format!(" (through {v})")).unwrap_or_default();
            let line = format!(
                "DENIED {} in {}: {} on {}{via} [{}]: {why}",
                n.role, n.region, n.auth.action, n.auth.resource, n.source
            );
            // The same denial from many calls is one finding.
            let key = format!("{} {} {} {} {why}", n.role, n.region, n.auth.action, n.auth.resource);
            if seen.insert(key) {
                problems.push(line);
            }
        }
    }

    // Every grant used, or listed with its reason; every listed entry still true.
    let is_called =
        |role: &str, action: &str| called.get(role).is_some_and(|a| a.contains(&action.to_ascii_lowercase()));
    let listed = |role: &str, action: &str| {
        NEVER_CALLED.iter().any(|(r, a, _)| (*r == "*" || *r == role) && a.eq_ignore_ascii_case(action))
    };
    let mut granted: BTreeSet<(String, String)> = BTreeSet::new();
    for s in stacks.values() {
        for (role, sts) in &s.roles {
            for st in sts.iter().filter(|st| st.effect == "Allow") {
                for action in &st.actions {
                    granted.insert((role.clone(), action.clone()));
                }
            }
        }
    }
    for (role, action) in &granted {
        if !is_called(role.as_str(), action.as_str()) && !listed(role.as_str(), action.as_str()) {
            problems.push(format!(
                "UNUSED {role} may {action}, which no drill or template call makes: remove it, or list it in NEVER_CALLED with the reason"
            ));
        }
    }
    for (role, action, _) in NEVER_CALLED {
        let allowed: Vec<&(String, String)> =
            granted.iter().filter(|(r, a)| (*role == "*" || r == role) && a.eq_ignore_ascii_case(action)).collect();
        if allowed.is_empty() {
            problems.push(format!("NEVER_CALLED lists {role} {action}, which no role is allowed: remove the entry"));
        }
        for (r, a) in allowed {
            if is_called(r.as_str(), a.as_str()) {
                problems.push(format!("NEVER_CALLED lists {role} {action}, but {r} calls it: remove the entry"));
            }
        }
    }

    // Resources no call matches (informational: the other Region's variants, paths no
    // drill takes, resources a request names implicitly): where a grant may narrow.
    let mut notes = Vec::new();
    for (region, s) in &stacks {
        for (role, sts) in &s.roles {
            for st in sts.iter().filter(|st| st.effect == "Allow") {
                for pattern in &st.resources {
                    let used = all.iter().any(|n| {
                        n.role == *role
                            && n.region == *region
                            && st.actions.iter().any(|a| glob(a, &n.auth.action, true))
                            && glob(pattern, &n.auth.resource, false)
                    });
                    if !used && st.actions.iter().any(|a| is_called(role.as_str(), a.as_str())) {
                        notes.push(format!("{role} in {region}: {} {pattern}", st.sid));
                    }
                }
            }
        }
    }
    let _ = writeln!(
        std::io::stderr(),
        "resources of called actions that no call matched ({}):\n{}",
        notes.len(),
        notes.join("\n")
    );

    // What each role did, for the reader (shown with --nocapture or on failure).
    let mut summary = String::new();
    for (role, actions) in &called {
        summary.push_str(&format!("{role}: {}\n", actions.iter().cloned().collect::<Vec<_>>().join(", ")));
    }
    let _ = writeln!(std::io::stderr(), "calls held against the template, by role:\n{summary}");
    assert!(problems.is_empty(), "{} least-privilege problem(s):\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn the_wildcards_and_conditions_behave_as_iam_does() {
    assert!(glob(
        "arn:aws:rds:us-east-1:1:cluster:failover-*",
        "arn:aws:rds:us-east-1:1:cluster:failover-orders-x",
        false
    ));
    assert!(!glob("arn:aws:rds:us-east-1:1:cluster:failover-*", "arn:aws:rds:us-west-2:1:cluster:failover-x", false));
    assert!(glob("arn:aws:s3:::b/reports/*", "arn:aws:s3:::b/reports/a/b.json", false));
    assert!(!glob("arn:aws:s3:::b/reports/*", "arn:aws:s3:::b/other", false));
    assert!(glob("a?c", "abc", false) && !glob("a?c", "ac", false));
    assert!(glob("kms:GenerateDataKey*", "kms:generatedatakey", true));
    assert!(glob("*", "arn:aws:anything", false));
    assert!(!glob("Abc", "abc", false), "resources are case-sensitive");

    let a = Authorization::new("kms:Decrypt", "k").via("sns", "us-west-2");
    let ctx = context(&a, "us-west-2");
    let cond = |v: Value| condition_holds(&v, &ctx).unwrap();
    assert!(cond(serde_json::json!({"StringEquals": {"kms:ViaService": "sns.us-west-2.amazonaws.com"}})));
    assert!(!cond(serde_json::json!({"StringEquals": {"kms:ViaService": "s3.us-west-2.amazonaws.com"}})));
    assert!(cond(
        serde_json::json!({"StringEquals": {"kms:ViaService": ["s3.us-west-2.amazonaws.com", "sns.us-west-2.amazonaws.com"]}})
    ));
    assert!(cond(serde_json::json!({"StringLike": {"kms:ViaService": "sns.*.amazonaws.com"}})));
    assert!(!cond(serde_json::json!({"StringEquals": {"iam:PassedToService": "ssm.amazonaws.com"}})), "absent key");
    assert!(cond(serde_json::json!({"StringEqualsIfExists": {"iam:PassedToService": "ssm.amazonaws.com"}})));
    assert!(cond(serde_json::json!({"StringNotEquals": {"iam:PassedToService": "ssm.amazonaws.com"}})));
    assert!(!cond(serde_json::json!({"Bool": {"aws:SecureTransport": "false"}})));
    assert!(cond(serde_json::json!({"Null": {"aws:RequestTag/x": "true"}})));
    assert!(
        condition_holds(&serde_json::json!({"NumericLessThan": {"x": "1"}}), &ctx).is_err(),
        "unknown operators fail loudly"
    );

    let tagged = Authorization::new("rds:AddTagsToResource", "r")
        .with_tags(Some("rds"), &[("failover:execution".to_string(), "e".to_string())]);
    let ctx = context(&tagged, "us-east-1");
    assert!(
        condition_holds(&serde_json::json!({"ForAllValues:StringLike": {"aws:TagKeys": "failover:*"}}), &ctx).unwrap()
    );
    assert!(
        !condition_holds(&serde_json::json!({"ForAnyValue:StringEquals": {"aws:TagKeys": "other"}}), &ctx).unwrap()
    );
}
