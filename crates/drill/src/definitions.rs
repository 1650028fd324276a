//! The state machine definitions, embedded, and their substitutions.

use std::collections::BTreeMap;

use failover_asl::{AslError, Definition, substitute};
use failover_core::contract::Function;

/// `statemachine/failover.asl.json`, as deployed.
pub const FAILOVER: &str = include_str!("../../../statemachine/failover.asl.json");
/// `statemachine/recovery.asl.json`, as deployed.
pub const RECOVERY: &str = include_str!("../../../statemachine/recovery.asl.json");

/// `statemachine/readiness.asl.json`, as deployed.
pub const READINESS: &str = include_str!("../../../statemachine/readiness.asl.json");

/// The account the simulated stack lives in.
pub const ACCOUNT: &str = "111122223333";

/// The ARN a function has in the simulated stack of `region`.
pub fn function_arn(region: &str, function: Function) -> String {
    format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{}", function.binary())
}

/// The name of a machine (`failover` or `recovery`) of the stack of plan `plan`, as the
/// template names it: `failover-<plan>`, `failover-<plan>-recovery`.
pub fn machine_name(plan: &str, machine: &str) -> String {
    if machine == "failover" { format!("failover-{plan}") } else { format!("failover-{plan}-{machine}") }
}

/// The ARN of a state machine (`failover` or `recovery`) in the stack of `region`.
pub fn state_machine_arn(region: &str, plan: &str, machine: &str) -> String {
    format!("arn:aws:states:{region}:{ACCOUNT}:stateMachine:{}", machine_name(plan, machine))
}

/// What the SAM template's `DefinitionSubstitutions` give the stack of `region`.
pub fn substitutions(region: &str, plan: &str) -> BTreeMap<String, String> {
    let mut s = BTreeMap::new();
    for function in Function::ALL {
        s.insert(function.placeholder().to_string(), function_arn(region, function));
    }
    s.insert("RecoveryStateMachineArn".into(), state_machine_arn(region, plan, "recovery"));
    s.insert("Region".into(), region.to_string());
    s
}

/// Both definitions for the stack of `region`, substituted and parsed (anything the local
/// runner does not support is refused here, before an execution starts).
pub fn load(region: &str, plan: &str) -> Result<(Definition, Definition), AslError> {
    let subs = substitutions(region, plan);
    let failover = Definition::parse(&substitute(FAILOVER, &subs)?)?;
    let recovery = Definition::parse(&substitute(RECOVERY, &subs)?)?;
    Ok((failover, recovery))
}

/// The readiness machine of the stack of `region`, substituted and parsed.
pub fn load_readiness(region: &str, plan: &str) -> Result<Definition, AslError> {
    Definition::parse(&substitute(READINESS, &substitutions(region, plan))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_definitions_parse_with_every_placeholder_filled() {
        let (f, r) = load("us-west-2", "retail-store").unwrap_or_else(|e| panic!("{e}"));
        let _ = (f, r);
    }

    #[test]
    fn function_names_come_back_from_arns() {
        assert_eq!(Function::of(&function_arn("us-west-2", Function::RoutingControl)), Some(Function::RoutingControl));
        assert_eq!(Function::of("failover-notify"), Some(Function::Notify));
        assert_eq!(Function::of("failover-nothing"), None);
    }
}
