//! `routing-control`: set the routing controls of both Regions in one call.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{RegionStates, RoutingState, check_region, validate_plan};
use crate::error::StepError;
use crate::plan::{Plan, Region};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingControlInput {
    pub plan: Plan,
    /// The requested state of each Region's routing controls; both Regions must be named.
    /// Either this or `target_region`.
    #[serde(default)]
    pub states: RegionStates,
    /// Shorthand for `states`: this Region On, the other Off (what a failover asks, and what
    /// a state machine can say without building an object keyed by Region names).
    #[serde(default)]
    pub target_region: Option<Region>,
    /// Allows a change that leaves no Region On. Needs a reason, which is logged and
    /// returned.
    #[serde(default)]
    pub allow_all_off: Option<AllowAllOff>,
    /// Names (from `plan.arc.safety_rules`) of the ARC safety rules to override.
    #[serde(default)]
    pub override_safety_rules: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowAllOff {
    pub reason: String,
}

impl RoutingControlInput {
    /// Semantic checks; every problem names its field.
    pub fn validate(&self) -> Result<(), StepError> {
        validate_plan(&self.plan)?;
        if let Some(target) = &self.target_region {
            check_region(&self.plan, "target_region", target)?;
            let expanded = self.expanded_states();
            if !self.states.is_empty() && self.states != expanded {
                return Err(StepError::bad_input(
                    "target_region: give either states or target_region, not two different requests",
                ));
            }
        }
        let states = self.expanded_states();
        for region in states.keys() {
            check_region(&self.plan, &format!("states.{region}"), region)?;
        }
        for region in [&self.plan.regions.primary, &self.plan.regions.secondary] {
            if !states.contains_key(region) {
                return Err(StepError::bad_input(format!(
                    "states: the requested state of Region `{region}` is missing"
                )));
            }
        }
        if let Some(a) = &self.allow_all_off
            && a.reason.trim().is_empty()
        {
            return Err(StepError::bad_input("allow_all_off.reason: a reason is required to switch every Region Off"));
        }
        let mut seen = BTreeSet::new();
        for (i, name) in self.override_safety_rules.iter().enumerate() {
            if !self.plan.arc.safety_rules.iter().any(|r| &r.name == name) {
                let known: Vec<&str> = self.plan.arc.safety_rules.iter().map(|r| r.name.as_str()).collect();
                return Err(StepError::bad_input(format!(
                    "override_safety_rules[{i}]: `{name}` is not a safety rule of the plan (known: {})",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                )));
            }
            if !seen.insert(name) {
                return Err(StepError::bad_input(format!("override_safety_rules[{i}]: `{name}` is named twice")));
            }
        }
        Ok(())
    }

    /// The requested states, with `target_region` expanded.
    pub fn expanded_states(&self) -> RegionStates {
        match &self.target_region {
            Some(target) if self.plan.has_region(target) => {
                let mut s = RegionStates::new();
                s.insert(target.clone(), RoutingState::On);
                if let Some(other) = self.plan.other_region(target) {
                    s.insert(other.to_string(), RoutingState::Off);
                }
                s
            }
            _ => self.states.clone(),
        }
    }

    /// The Regions that would be On after the change.
    pub fn regions_on(&self) -> Vec<Region> {
        self.expanded_states().into_iter().filter(|(_, s)| *s == RoutingState::On).map(|(r, _)| r).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingControlOutput {
    /// Whether an update was made (false: every control was already as requested).
    pub changed: bool,
    /// Every control's state, read back after the update.
    pub controls: Vec<ControlState>,
    /// The endpoint that carried the update (or the read, when nothing changed).
    pub endpoint: EndpointRef,
    /// The endpoints that failed before it, and why.
    pub failed_endpoints: Vec<EndpointFailure>,
    /// The ARNs of the safety rules overridden by this update.
    pub overridden_safety_rules: Vec<String>,
    /// The reason given for leaving every Region Off, when that was requested.
    #[serde(default)]
    pub all_off_reason: Option<String>,
    /// When the update was accepted (RFC 3339).
    pub completed_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlState {
    pub arn: String,
    pub region: Region,
    pub state: RoutingState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointRef {
    pub url: String,
    pub region: Region,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointFailure {
    pub url: String,
    pub region: Region,
    /// `connect`, `timeout`, `http-5xx`, `throttled`, `unavailable` (ARC's
    /// EndpointTemporarilyUnavailableException) or `other`.
    pub kind: String,
    pub message: String,
}
