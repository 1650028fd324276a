//! `verify-health`: is the target Region serving, as clients see it?

use serde::{Deserialize, Serialize};

use super::{RegionStates, RoutingState, check_region, validate_plan};
use crate::error::StepError;
use crate::plan::{Plan, Region};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyHealthInput {
    pub plan: Plan,
    /// The Region that must be serving.
    pub target_region: Region,
    /// The routing states to verify; by default the target On and the other Region Off.
    #[serde(default)]
    pub states: Option<RegionStates>,
    /// When the routing change was accepted (RFC 3339, from routing-control's
    /// `completed_at`); the moment clients switch is computed from it.
    #[serde(default)]
    pub changed_at: Option<String>,
    /// Which checks to run (all by default).
    #[serde(default)]
    pub checks: HealthChecks,
    /// A Region known to be impaired: nothing is asked of it (its canary alarms are
    /// skipped, its ARC endpoint is tried last).
    #[serde(default)]
    pub impaired_region: Option<Region>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthChecks {
    #[serde(default = "yes")]
    pub routing: bool,
    #[serde(default = "yes")]
    pub dns: bool,
    #[serde(default = "yes")]
    pub http: bool,
    #[serde(default = "yes")]
    pub alarms: bool,
}

fn yes() -> bool {
    true
}

impl Default for HealthChecks {
    fn default() -> Self {
        Self { routing: true, dns: true, http: true, alarms: true }
    }
}

impl VerifyHealthInput {
    pub fn validate(&self) -> Result<(), StepError> {
        validate_plan(&self.plan)?;
        check_region(&self.plan, "target_region", &self.target_region)?;
        if let Some(states) = &self.states {
            for region in states.keys() {
                check_region(&self.plan, &format!("states.{region}"), region)?;
            }
            if states.get(&self.target_region) != Some(&RoutingState::On) {
                return Err(StepError::bad_input(format!(
                    "states.{}: the target Region must be On to be verified as serving",
                    self.target_region
                )));
            }
        }
        if let Some(r) = &self.impaired_region {
            check_region(&self.plan, "impaired_region", r)?;
            if r == &self.target_region {
                return Err(StepError::bad_input("impaired_region: the target Region cannot be the impaired one"));
            }
        }
        if let Some(t) = &self.changed_at {
            crate::time_fmt::parse_rfc3339(t).map_err(|e| StepError::bad_input(format!("changed_at: {e}")))?;
        }
        Ok(())
    }

    /// The states to verify: explicit, or the target On and the other Region Off.
    pub fn desired_states(&self) -> RegionStates {
        if let Some(s) = &self.states {
            return s.clone();
        }
        let mut s = RegionStates::new();
        s.insert(self.target_region.clone(), RoutingState::On);
        if let Some(other) = self.plan.other_region(&self.target_region) {
            s.insert(other.to_string(), RoutingState::Off);
        }
        s
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyHealthOutput {
    pub target_region: Region,
    /// One verdict per check, in the order they ran.
    pub checks: Vec<CheckVerdict>,
    /// The TTL of the record as the authoritative servers answered it.
    #[serde(default)]
    pub dns_ttl_seconds: Option<u32>,
    /// When every client has the new answer: the DNS change was observed, plus the TTL.
    #[serde(default)]
    pub clients_switched_by: Option<String>,
    pub checked_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckVerdict {
    /// `routing`, `dns`, `http` or `alarm`.
    pub kind: String,
    /// What was checked (a control ARN, a name server, a URL, an alarm name).
    pub subject: String,
    pub verdict: Verdict,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Skipped,
}
