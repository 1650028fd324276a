//! Who signs the drill's calls, and what the simulated stacks name that CloudFormation
//! would generate.
//!
//! Every role of a Region's stack that the drill plays signs with an access key id of its
//! own ([`Principal::access_key_id`]): each function's clients, the approval page (the
//! drill's approver answers the callbacks as the `approval` function would), and the
//! failover and recovery state machines (their Lambda invocations and the start of the
//! recovery machine, which the local runner makes in-process and the dispatcher logs). So
//! the simulator's call log says which role made each call, in which Region's stack; the
//! least-privilege test (`crates/drill/tests/least_privilege.rs`) holds each role's calls
//! against its policies in the transformed template.
//!
//! [`stack_values`] gives what the template leaves to CloudFormation (the functions'
//! generated names, the keys' ids) as the simulated stack of a Region has them, so that
//! the template's `${PreflightFunction.Arn}` or `${TopicKey.Arn}` can be resolved to what
//! the drill's calls name.

use std::collections::BTreeMap;

use failover_core::contract::Function;

use crate::definitions::{ACCOUNT, function_arn, machine_name, state_machine_arn};

/// A role of a simulated stack that makes calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// A function's execution role.
    Function(Function),
    /// The `approval` function (the approval page behind the e-mail links), which answers
    /// the callbacks; the drill's approver stands in for it.
    Approval,
    /// The `propose-failover` function (the canary rule's target), which starts the
    /// failover machine.
    ProposeFailover,
    /// The failover state machine's role (its Lambda invocations, the recovery start).
    FailoverMachine,
    /// The recovery state machine's role.
    RecoveryMachine,
}

impl Role {
    /// Every role the drill plays.
    pub fn all() -> Vec<Role> {
        let mut v: Vec<Role> = Function::ALL.into_iter().map(Role::Function).collect();
        v.extend([Role::Approval, Role::ProposeFailover, Role::FailoverMachine, Role::RecoveryMachine]);
        v
    }

    /// `ROUTINGCONTROL`, `APPROVAL`, `FAILOVERMACHINE`: the role's part of a key id.
    fn tag(self) -> String {
        match self {
            Role::Function(f) => f.name().replace('-', "").to_ascii_uppercase(),
            Role::Approval => "APPROVAL".into(),
            Role::ProposeFailover => "PROPOSEFAILOVER".into(),
            Role::FailoverMachine => "FAILOVERMACHINE".into(),
            Role::RecoveryMachine => "RECOVERYMACHINE".into(),
        }
    }

    /// Where the role's policies are in the IAM dump of `.ci/check_template.py`
    /// (`functions/<package>` or `state_machines/<logical id>`).
    pub fn template_key(self) -> String {
        match self {
            Role::Function(f) => format!("functions/{}", f.name()),
            Role::Approval => "functions/approval".into(),
            Role::ProposeFailover => "functions/propose-failover".into(),
            Role::FailoverMachine => "state_machines/FailoverStateMachine".into(),
            Role::RecoveryMachine => "state_machines/RecoveryStateMachine".into(),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::Function(func) => write!(f, "{func}"),
            Role::Approval => f.write_str("approval"),
            Role::ProposeFailover => f.write_str("propose-failover"),
            Role::FailoverMachine => f.write_str("failover machine"),
            Role::RecoveryMachine => f.write_str("recovery machine"),
        }
    }
}

/// A role of the stack of one Region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Principal {
    pub role: Role,
    /// The Region of the stack (`us-west-2`).
    pub stack: String,
}

/// The key the drill's own calls sign with (none of a stack's roles): set-up and
/// inspection, never held against the template.
pub const DRILL_ACCESS_KEY: &str = "AKIDDRILL";

impl Principal {
    pub fn new(role: Role, stack: &str) -> Self {
        Self { role, stack: stack.to_string() }
    }

    /// `AKID` + the role + the Region without dashes: `AKIDROUTINGCONTROLUSWEST2`.
    pub fn access_key_id(&self) -> String {
        format!("AKID{}{}", self.role.tag(), self.stack.replace('-', "").to_ascii_uppercase())
    }

    /// The principal an access key id of [`Principal::access_key_id`] names, among the
    /// roles of the stacks of `regions`.
    pub fn of_access_key_id(akid: &str, regions: &[String]) -> Option<Principal> {
        regions
            .iter()
            .flat_map(|r| Role::all().into_iter().map(move |role| Principal::new(role, r)))
            .find(|p| p.access_key_id() == akid)
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} stack)", self.role, self.stack)
    }
}

/// The simulated KMS key of a stack's topic (`TopicKey`).
pub fn topic_key_arn(region: &str) -> String {
    format!("arn:aws:kms:{region}:{ACCOUNT}:key/00000000-0000-4000-8000-00000000000a")
}

/// The simulated KMS key of a stack's report bucket, approvals table and signing secret
/// (`DataKey`).
pub fn data_key_arn(region: &str) -> String {
    format!("arn:aws:kms:{region}:{ACCOUNT}:key/00000000-0000-4000-8000-00000000000d")
}

/// What the stack of `region` is in the drill, for the template's references that
/// CloudFormation fills in: `Ref` and `Fn::GetAtt` values by `LogicalId` or
/// `LogicalId.Attribute` (the functions' ARNs, the machines' ARNs and names, the keys'
/// ARNs, the approval secret's ARN from the plan). Everything the template names itself
/// (the topic, the bucket, the documents) is derived from the template instead.
pub fn stack_values(region: &str, plan: &str, approval_secret: Option<&str>) -> BTreeMap<String, String> {
    let mut v = BTreeMap::new();
    for f in Function::ALL {
        let logical = format!("{}Function", f.placeholder().trim_end_matches("FunctionArn"));
        v.insert(format!("{logical}.Arn"), function_arn(region, f));
        v.insert(logical, f.binary());
    }
    v.insert("FailoverStateMachine".into(), state_machine_arn(region, plan, "failover"));
    v.insert("FailoverStateMachine.Name".into(), machine_name(plan, "failover"));
    v.insert("RecoveryStateMachine".into(), state_machine_arn(region, plan, "recovery"));
    v.insert("RecoveryStateMachine.Name".into(), machine_name(plan, "recovery"));
    v.insert("TopicKey.Arn".into(), topic_key_arn(region));
    v.insert("TopicKey".into(), topic_key_arn(region).rsplit('/').next().unwrap_or_default().to_string());
    v.insert("DataKey.Arn".into(), data_key_arn(region));
    v.insert("DataKey".into(), data_key_arn(region).rsplit('/').next().unwrap_or_default().to_string());
    if let Some(s) = approval_secret {
        v.insert("ApprovalSigningSecret".into(), s.to_string());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_principal_has_its_own_key_and_comes_back_from_it() {
        let regions = vec!["us-east-1".to_string(), "us-west-2".to_string()];
        let mut keys = std::collections::BTreeSet::new();
        for r in &regions {
            for role in Role::all() {
                let p = Principal::new(role, r);
                let k = p.access_key_id();
                assert!(keys.insert(k.clone()), "{k} twice");
                assert_ne!(k, DRILL_ACCESS_KEY);
                assert_eq!(Principal::of_access_key_id(&k, &regions), Some(p));
            }
        }
        assert_eq!(
            Principal::new(Role::Function(Function::RoutingControl), "us-west-2").access_key_id(),
            "AKIDROUTINGCONTROLUSWEST2"
        );
        assert_eq!(Principal::of_access_key_id(DRILL_ACCESS_KEY, &regions), None);
    }

    #[test]
    fn stack_values_name_the_drills_functions_and_machines() {
        let v = stack_values("us-west-2", "retail-store", None);
        assert_eq!(v["PreflightFunction.Arn"], function_arn("us-west-2", Function::Preflight));
        assert_eq!(v["RoutingControlFunction.Arn"], function_arn("us-west-2", Function::RoutingControl));
        assert_eq!(v["RecoveryStateMachine"], state_machine_arn("us-west-2", "retail-store", "recovery"));
        assert!(v["RecoveryStateMachine"].ends_with(&format!(":stateMachine:{}", v["RecoveryStateMachine.Name"])));
        assert!(v["FailoverStateMachine"].ends_with(&format!(":stateMachine:{}", v["FailoverStateMachine.Name"])));
    }
}
