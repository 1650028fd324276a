//! AWS CloudFormation, only as far as the operator CLI reads it: `DescribeStacks` (query
//! protocol) answers each Region's failover stack with the outputs `template.yaml` declares,
//! so `failover status|approve|...` finds the state machines, the approval URL, the table
//! and the plan parameter the way it does in AWS.
//!
//! Each Region has the stack `failover-<plan>` (samconfig.toml's name) by default, its
//! outputs derived from the plan and the simulator's own endpoints; [`CloudFormation::put_stack`]
//! replaces or adds a stack (a test's other name, missing outputs), and
//! [`CloudFormation::remove_stack`] takes one away (the "no such stack" path).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::iam::{Authorization, SIMULATED_ACCOUNT};
use crate::server::{ApiError, HttpService, Request, Response, ResponseFuture};
use crate::services::service;
use crate::sim::{Setup, WeakSim, lock};
use crate::wire::{self, Form, xml_elem};

/// The query protocol's XML namespace for CloudFormation.
pub const XMLNS: &str = "http://cloudformation.amazonaws.com/doc/2010-05-15/";

/// The stack name samconfig.toml gives a plan's stacks.
pub fn stack_name(plan: &str) -> String {
    format!("failover-{plan}")
}

/// One stack as DescribeStacks shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    pub name: String,
    pub status: String,
    pub outputs: BTreeMap<String, String>,
}

/// Simulated CloudFormation: `sim.service::<CloudFormation>()`.
pub struct CloudFormation {
    sim: WeakSim,
    /// (Region, stack name) -> the stack; `None` marks a default stack removed.
    stacks: Mutex<BTreeMap<(String, String), Option<Stack>>>,
}

impl CloudFormation {
    pub fn register(setup: &mut Setup<'_>) {
        let svc = Arc::new(CloudFormation { sim: setup.sim().downgrade(), stacks: Mutex::new(BTreeMap::new()) });
        setup.serve_shared(service::CLOUDFORMATION, Some("AWS_ENDPOINT_URL_CLOUDFORMATION"), svc);
    }

    /// Adds or replaces `stack` in `region`.
    pub fn put_stack(&self, region: &str, stack: Stack) {
        lock(&self.stacks).insert((region.to_string(), stack.name.clone()), Some(stack));
    }

    /// Takes the stack `name` away from `region` (DescribeStacks then says it does not exist).
    pub fn remove_stack(&self, region: &str, name: &str) {
        lock(&self.stacks).insert((region.to_string(), name.to_string()), None);
    }

    /// The stack `name` of `region`, as DescribeStacks answers it.
    pub fn stack(&self, region: &str, name: &str) -> Option<Stack> {
        if let Some(entry) = lock(&self.stacks).get(&(region.to_string(), name.to_string())) {
            return entry.clone();
        }
        let sim = self.sim.upgrade()?;
        let plan = sim.plan();
        if name != stack_name(&plan.name) || !sim.regions().iter().any(|r| r == region) {
            return None;
        }
        Some(Stack { name: name.to_string(), status: "UPDATE_COMPLETE".into(), outputs: default_outputs(&sim, region) })
    }

    fn describe(&self, region: &str, form: &Form) -> Result<String, ApiError> {
        let Some(name) = form.get("StackName").filter(|n| !n.is_empty()) else {
            return Err(ApiError::new(400, "ValidationError", "StackName is required by this simulator"));
        };
        let name = name.rsplit_once(":stack/").map_or(name, |(_, rest)| rest.split('/').next().unwrap_or(rest));
        let stack = self
            .stack(region, name)
            .ok_or_else(|| ApiError::new(400, "ValidationError", format!("Stack with id {name} does not exist")))?;
        let outputs: String = stack
            .outputs
            .iter()
            .map(|(k, v)| format!("<member>{}{}</member>", xml_elem("OutputKey", k), xml_elem("OutputValue", v)))
            .collect();
        let id = format!(
            "arn:aws:cloudformation:{region}:{SIMULATED_ACCOUNT}:stack/{}/00000000-0000-0000-0000-000000000000",
            stack.name
        );
        Ok(format!(
            "<Stacks><member>{}{}{}{}<Outputs>{outputs}</Outputs></member></Stacks>",
            xml_elem("StackName", &stack.name),
            xml_elem("StackId", &id),
            xml_elem("CreationTime", "2026-01-01T00:00:00Z"),
            xml_elem("StackStatus", &stack.status),
        ))
    }
}

/// The outputs template.yaml declares, for the simulated stack of `region`.
fn default_outputs(sim: &crate::Sim, region: &str) -> BTreeMap<String, String> {
    let plan = sim.plan();
    let p = &plan.name;
    let machine =
        |suffix: &str| format!("arn:aws:states:{region}:{SIMULATED_ACCOUNT}:stateMachine:failover-{p}{suffix}");
    let mut out = BTreeMap::new();
    out.insert("FailoverStateMachineArn".into(), machine(""));
    out.insert("RecoveryStateMachineArn".into(), machine("-recovery"));
    out.insert("ReadinessStateMachineArn".into(), machine("-readiness"));
    if let Some(url) = sim.try_service::<crate::function_urls::FunctionUrls>().and_then(|f| f.url(region)) {
        out.insert("ApprovalUrl".into(), url);
    }
    if let Some(stack) = plan.stacks.get(region) {
        out.insert("TopicArn".into(), stack.topic_arn.clone());
        out.insert("ReportBucketName".into(), stack.report_bucket.clone());
        if let Some(secret) = &stack.approval_secret {
            out.insert("ApprovalSecretArn".into(), secret.clone());
        }
    }
    out.insert("ApprovalsTableName".into(), format!("failover-{p}-approvals"));
    out.insert("PlanParameterName".into(), format!("/failover/{p}/plan"));
    out.insert("FailoverDocumentName".into(), format!("{p}-Failover"));
    out.insert("FailbackDocumentName".into(), format!("{p}-Failback"));
    out.insert("ReadinessDocumentName".into(), format!("{p}-Readiness"));
    out.insert("DashboardName".into(), format!("failover-{p}"));
    out
}

impl HttpService for CloudFormation {
    fn handle(&self, req: Request) -> ResponseFuture {
        let form = Form::parse(&req.body);
        let region = req.effective_region().unwrap_or_default().to_string();
        let action = form.action().to_string();
        let resp = match action.as_str() {
            "DescribeStacks" => self.describe(&region, &form).map(|xml| wire::query_response(&action, XMLNS, &xml)),
            other => Err(ApiError::new(400, "InvalidAction", format!("{other} is not simulated"))),
        };
        let resp = resp.unwrap_or_else(|e| wire::query_error(&e));
        Box::pin(async move { resp })
    }

    /// `cloudformation:DescribeStacks` on the stack's ARN.
    fn authorizations(&self, req: &Request, operation: &str) -> Vec<Authorization> {
        let form = Form::parse(&req.body);
        let region = req.effective_region().unwrap_or_default();
        let name = form.get("StackName").unwrap_or("*");
        vec![Authorization::new(
            format!("cloudformation:{operation}"),
            format!("arn:aws:cloudformation:{region}:{SIMULATED_ACCOUNT}:stack/{name}/*"),
        )]
    }

    fn error_response(&self, _req: &Request, err: &ApiError) -> Response {
        wire::query_error(err)
    }

    fn throttling_error(&self) -> ApiError {
        ApiError::new(400, "Throttling", "Rate exceeded")
    }
}
