//! The ARC cluster data plane (`route53-recovery-cluster`, awsJson 1.0, target prefix
//! `ToggleCustomerAPI.`): routing controls, assertion safety rules, injected conflicts.
//!
//! Every one of the cluster's endpoints serves the same state. An endpoint insists that a
//! request is signed for the endpoint's own Region, as ARC does. A routing-control change
//! is immediate on the data plane; what Route 53 health checks (and so DNS) see lags by
//! the propagation delay, which is why every change is kept with its time.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use failover_core::plan::{ClusterEndpoint, Plan};
use serde_json::{Value, json};

use crate::dns::HealthChecks;
use crate::endpoints::Endpoints;
use crate::iam::Authorization;
use crate::server::{ApiError, HttpService, Request, Response, ResponseFuture};
use crate::services::service;
use crate::sim::{Setup, WeakSim, lock};
use crate::wire;

const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
const TARGET_PREFIX: &str = "ToggleCustomerAPI.";

/// The five Regions of the default ARC cluster's endpoints.
pub const DEFAULT_ARC_REGIONS: [&str; 5] = ["us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1", "ap-southeast-2"];

/// One routing control and the history of its state.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingControl {
    pub arn: String,
    pub name: String,
    pub control_panel_arn: String,
    pub control_panel_name: String,
    /// The Region whose traffic the control admits (from the plan), if any.
    pub region: Option<String>,
    /// (time, on) for every change, oldest first; never empty.
    pub history: Vec<(SystemTime, bool)>,
}

impl RoutingControl {
    pub fn is_on(&self) -> bool {
        self.history.last().is_some_and(|(_, on)| *on)
    }

    /// The state as of `t` (the last change at or before `t`; Off before any).
    pub fn on_at(&self, t: SystemTime) -> bool {
        self.history.iter().rev().find(|(at, _)| *at <= t).is_some_and(|(_, on)| *on)
    }
}

/// An assertion safety rule: at least `min_on` of `controls` must be On after any update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionRule {
    pub arn: String,
    pub name: String,
    pub controls: Vec<String>,
    pub min_on: usize,
}

/// The routing-control state of the simulated cluster.
#[derive(Debug, Clone, Default)]
pub struct ArcModel {
    pub controls: BTreeMap<String, RoutingControl>,
    pub rules: Vec<AssertionRule>,
    /// How many upcoming update calls answer `ConflictException`.
    pub pending_conflicts: u32,
    /// Route 53 health-check propagation delay after a change.
    pub propagation: Duration,
}

/// The part of a routing-control ARN before `/routingcontrol/`: its control panel.
fn control_panel_of(arn: &str) -> String {
    arn.split("/routingcontrol/").next().unwrap_or(arn).to_string()
}

impl ArcModel {
    /// The plan's routing controls, the primary Region's On and the secondary's Off, and
    /// every plan safety rule as "at least one of all the controls On".
    pub fn from_plan(plan: &Plan, propagation: Duration, now: SystemTime) -> Self {
        let mut arc = ArcModel { propagation, ..Default::default() };
        let mut all_controls = Vec::new();
        for (region, controls) in &plan.arc.routing_controls {
            for c in controls {
                arc.add_control(c, Some(region), *region == plan.regions.primary, now);
                all_controls.push(c.clone());
            }
        }
        for rule in &plan.arc.safety_rules {
            arc.rules.push(AssertionRule {
                arn: rule.arn.clone(),
                name: rule.name.clone(),
                controls: all_controls.clone(),
                min_on: 1,
            });
        }
        arc
    }

    /// Adds a control (state Off unless `on`), as of `now`.
    pub fn add_control(&mut self, arn: &str, region: Option<&str>, on: bool, now: SystemTime) {
        let name = arn.rsplit('/').next().unwrap_or(arn).to_string();
        let panel = control_panel_of(arn);
        let panel_name = panel.rsplit('/').next().unwrap_or(&panel).to_string();
        self.controls.insert(
            arn.to_string(),
            RoutingControl {
                arn: arn.to_string(),
                name,
                control_panel_arn: panel,
                control_panel_name: panel_name,
                region: region.map(str::to_string),
                // Back-dated so that the initial state is already propagated.
                history: vec![(SystemTime::UNIX_EPOCH, on), (now, on)],
            },
        );
    }

    /// Applies `changes` atomically, checking the safety rules not in `overrides`.
    pub fn update(
        &mut self,
        changes: &[(String, bool)],
        overrides: &[String],
        now: SystemTime,
    ) -> Result<(), ApiError> {
        for (arn, _) in changes {
            if !self.controls.contains_key(arn) {
                return Err(ApiError::new(
                    404,
                    "ResourceNotFoundException",
                    format!("routing control {arn} not found"),
                ));
            }
        }
        let after = |arn: &str| -> bool {
            changes.iter().rev().find(|(a, _)| a == arn).map_or_else(|| self.controls[arn].is_on(), |(_, on)| *on)
        };
        for rule in &self.rules {
            if overrides.contains(&rule.arn) {
                continue;
            }
            let on = rule.controls.iter().filter(|c| self.controls.contains_key(c.as_str()) && after(c)).count();
            if on < rule.min_on {
                return Err(ApiError::new(
                    400,
                    "ValidationException",
                    format!(
                        "Cannot update the routing control state: the change would violate safety rule {} ({}): \
                         at least {} of its {} routing controls must be On",
                        rule.name,
                        rule.arn,
                        rule.min_on,
                        rule.controls.len()
                    ),
                ));
            }
        }
        for (arn, on) in changes {
            let c = self.controls.get_mut(arn).expect("checked above");
            if c.is_on() != *on {
                c.history.push((now, *on));
            }
        }
        Ok(())
    }

    /// The Regions that Route 53 health checks see as served at `now`: those with a
    /// routing control On as of `now - propagation`.
    pub fn serving_regions(&self, now: SystemTime) -> Vec<String> {
        let seen = now.checked_sub(self.propagation).unwrap_or(SystemTime::UNIX_EPOCH);
        let mut out: Vec<String> = Vec::new();
        for c in self.controls.values() {
            if let Some(r) = &c.region
                && c.on_at(seen)
                && !out.contains(r)
            {
                out.push(r.clone());
            }
        }
        out
    }
}

/// What [`ArcCluster`] reads from [`crate::SimBuilder::setting`].
#[derive(Debug, Clone, Default)]
pub struct ArcSettings {
    /// The Regions of the cluster endpoints (five in a real cluster); by default the
    /// plan's cluster endpoints, else [`DEFAULT_ARC_REGIONS`].
    pub regions: Option<Vec<String>>,
    /// How long Route 53 health checks take to see a routing-control change; by default
    /// the simulated world's ([`crate::world::World::health_check_propagation`]), not the
    /// plan's belief (`dns.health_check_propagation_seconds`).
    pub propagation: Option<Duration>,
}

/// The data-plane service behind all the cluster's endpoints, with its routing controls:
/// `sim.service::<ArcCluster>()`.
pub struct ArcCluster {
    sim: WeakSim,
    state: Mutex<ArcModel>,
}

impl ArcCluster {
    /// Builds the cluster from the plan, serves it on one port per endpoint Region and
    /// gives the DNS server its health checks.
    pub fn register(setup: &mut Setup<'_>) {
        let plan = setup.plan();
        let settings: ArcSettings = setup.setting();
        let propagation = settings.propagation.unwrap_or(setup.sim().world().health_check_propagation);
        let regions = settings.regions.unwrap_or_else(|| {
            let from_plan: Vec<String> = plan.arc.cluster_endpoints.iter().map(|e| e.region.clone()).collect();
            if from_plan.is_empty() { DEFAULT_ARC_REGIONS.iter().map(|s| s.to_string()).collect() } else { from_plan }
        });
        let arc = Arc::new(ArcCluster {
            sim: setup.sim().downgrade(),
            state: Mutex::new(ArcModel::from_plan(plan, propagation, setup.now())),
        });
        let checks: Arc<dyn HealthChecks> = arc.clone();
        setup.sim().provide(checks);
        setup.serve(service::ARC, arc);
        setup.listen_regional(service::ARC, regions, "/v1");
        setup.rewrite_plan(rewrite_plan);
    }

    /// The routing controls, safety rules and pending conflicts, locked.
    pub fn state(&self) -> MutexGuard<'_, ArcModel> {
        lock(&self.state)
    }

    /// Makes the next `n` routing-control updates answer `ConflictException`.
    pub fn inject_conflicts(&self, n: u32) {
        self.state().pending_conflicts = n;
    }

    /// A routing control's current state (`None` for an unknown ARN).
    pub fn control_on(&self, arn: &str) -> Option<bool> {
        self.state().controls.get(arn).map(RoutingControl::is_on)
    }

    /// Sets a routing control directly (test and drill set-up), bypassing safety rules.
    pub fn set_control(&self, arn: &str, on: bool) -> bool {
        let Some(now) = self.sim.upgrade().map(|s| s.clock().now()) else { return false };
        match self.state().controls.get_mut(arn) {
            Some(c) => {
                if c.is_on() != on {
                    c.history.push((now, on));
                }
                true
            }
            None => false,
        }
    }

    /// Adds an assertion safety rule: at least `min_on` of `controls` stay On.
    pub fn add_assertion_rule(&self, arn: &str, name: &str, controls: &[&str], min_on: usize) {
        self.state().rules.push(AssertionRule {
            arn: arn.to_string(),
            name: name.to_string(),
            controls: controls.iter().map(|c| c.to_string()).collect(),
            min_on,
        });
    }
}

impl HealthChecks for ArcCluster {
    fn healthy_regions(&self, now: SystemTime) -> Vec<String> {
        self.state().serving_regions(now)
    }
}

/// The plan's cluster endpoints become the simulated ones.
fn rewrite_plan(plan: &mut Plan, eps: &Endpoints) {
    plan.arc.cluster_endpoints = eps
        .regional(service::ARC)
        .iter()
        .map(|(url, region)| ClusterEndpoint { url: url.clone(), region: region.clone() })
        .collect();
}

fn parse_state(s: &str) -> Result<bool, ApiError> {
    match s {
        "On" => Ok(true),
        "Off" => Ok(false),
        other => Err(ApiError::new(400, "ValidationException", format!("invalid RoutingControlState `{other}`"))),
    }
}

fn state_str(on: bool) -> &'static str {
    if on { "On" } else { "Off" }
}

fn str_field<'a>(v: &'a Value, key: &str) -> Result<&'a str, ApiError> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::new(400, "ValidationException", format!("{key} is required")))
}

fn overrides(v: &Value) -> Vec<String> {
    v.get("SafetyRulesToOverride")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

impl ArcCluster {
    fn call(&self, req: &Request) -> Result<Value, ApiError> {
        let sim =
            self.sim.upgrade().ok_or_else(|| ApiError::new(500, "InternalServerException", "simulator stopped"))?;
        if let (Some(signed), Some(own)) = (req.region.as_deref(), req.listener.region.as_deref())
            && signed != own
        {
            return Err(ApiError::new(
                403,
                "InvalidSignatureException",
                format!("Credential should be scoped to a valid region, not '{signed}'. Expected '{own}'."),
            ));
        }
        let (op, input) = wire::json_call(req, TARGET_PREFIX)?;
        let now = sim.clock().now();
        let mut state = self.state();
        let arc = &mut *state;
        match op {
            "GetRoutingControlState" => {
                let arn = str_field(&input, "RoutingControlArn")?;
                let c = arc.controls.get(arn).ok_or_else(|| not_found(arn))?;
                Ok(json!({
                    "RoutingControlArn": c.arn,
                    "RoutingControlState": state_str(c.is_on()),
                    "RoutingControlName": c.name,
                }))
            }
            "ListRoutingControls" => {
                let panel = input.get("ControlPanelArn").and_then(Value::as_str);
                let max = input.get("MaxResults").and_then(Value::as_u64).unwrap_or(500).clamp(1, 1000) as usize;
                let start = input.get("NextToken").and_then(Value::as_str);
                let all: Vec<&RoutingControl> =
                    arc.controls.values().filter(|c| panel.is_none_or(|p| c.control_panel_arn == p)).collect();
                let skip = match start {
                    Some(tok) => all.iter().position(|c| c.arn.as_str() > tok).unwrap_or(all.len()),
                    None => 0,
                };
                let page: Vec<&RoutingControl> = all.iter().skip(skip).take(max).copied().collect();
                let items: Vec<Value> = page
                    .iter()
                    .map(|c| {
                        json!({
                            "ControlPanelArn": c.control_panel_arn,
                            "ControlPanelName": c.control_panel_name,
                            "RoutingControlArn": c.arn,
                            "RoutingControlName": c.name,
                            "RoutingControlState": state_str(c.is_on()),
                            "Owner": c.arn.split(':').nth(4).unwrap_or(""),
                        })
                    })
                    .collect();
                let mut out = json!({ "RoutingControls": items });
                if skip + page.len() < all.len()
                    && let Some(last) = page.last()
                {
                    out["NextToken"] = json!(last.arn);
                }
                Ok(out)
            }
            "UpdateRoutingControlState" => {
                let arn = str_field(&input, "RoutingControlArn")?;
                let on = parse_state(str_field(&input, "RoutingControlState")?)?;
                take_conflict(arc)?;
                arc.update(&[(arn.to_string(), on)], &overrides(&input), now)?;
                Ok(json!({}))
            }
            "UpdateRoutingControlStates" => {
                let entries =
                    input.get("UpdateRoutingControlStateEntries").and_then(Value::as_array).ok_or_else(|| {
                        ApiError::new(400, "ValidationException", "UpdateRoutingControlStateEntries is required")
                    })?;
                let mut changes = Vec::new();
                for e in entries {
                    changes.push((
                        str_field(e, "RoutingControlArn")?.to_string(),
                        parse_state(str_field(e, "RoutingControlState")?)?,
                    ));
                }
                take_conflict(arc)?;
                arc.update(&changes, &overrides(&input), now)?;
                Ok(json!({}))
            }
            other => Err(ApiError::new(400, "UnknownOperationException", format!("unknown operation {other}"))),
        }
    }
}

fn take_conflict(arc: &mut ArcModel) -> Result<(), ApiError> {
    if arc.pending_conflicts > 0 {
        arc.pending_conflicts -= 1;
        return Err(ApiError::new(409, "ConflictException", "There is a conflicting update in progress; try again"));
    }
    Ok(())
}

fn not_found(arn: &str) -> ApiError {
    ApiError::new(404, "ResourceNotFoundException", format!("routing control {arn} not found"))
}

/// The routing controls a request acts on: `RoutingControlArn`, or every entry's.
fn requested_controls(input: &Value) -> Vec<String> {
    let one = input.get("RoutingControlArn").and_then(Value::as_str).map(str::to_string);
    let entries: Vec<String> = input
        .get("UpdateRoutingControlStateEntries")
        .and_then(Value::as_array)
        .map(|es| es.iter().filter_map(|e| e.get("RoutingControlArn")?.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    one.into_iter().chain(entries).collect()
}

impl HttpService for ArcCluster {
    fn handle(&self, req: Request) -> ResponseFuture {
        wire::json_answer(CONTENT_TYPE, self.call(&req), |e| self.error_response(&req, e))
    }

    /// `route53-recovery-cluster:<Operation>` on each routing control the request names;
    /// `ListRoutingControls` has no resource type.
    fn authorizations(&self, req: &Request, operation: &str) -> Vec<Authorization> {
        let action = format!("route53-recovery-cluster:{operation}");
        let input: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        match operation {
            "ListRoutingControls" => vec![Authorization::new(action, "*")],
            _ => Authorization::each(&action, requested_controls(&input)),
        }
    }

    fn internal_error(&self) -> ApiError {
        ApiError::new(500, "InternalServerException", "simulated internal server error")
    }

    fn throttling_error(&self) -> ApiError {
        ApiError::new(429, "ThrottlingException", "Rate exceeded")
    }

    fn error_response(&self, req: &Request, err: &ApiError) -> Response {
        let extra = match err.code.as_str() {
            "ResourceNotFoundException" | "ConflictException" => {
                let id = req
                    .body
                    .is_empty()
                    .then(String::new)
                    .or_else(|| {
                        serde_json::from_slice::<Value>(&req.body)
                            .ok()
                            .and_then(|v| v.get("RoutingControlArn").and_then(Value::as_str).map(str::to_string))
                    })
                    .unwrap_or_default();
                json!({ "resourceId": id, "resourceType": "RoutingControl" })
            }
            "ThrottlingException" => json!({ "retryAfterSeconds": 1 }),
            _ => json!({}),
        };
        wire::json_error(CONTENT_TYPE, err, extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + s)
    }

    fn model() -> ArcModel {
        let mut m = ArcModel { propagation: Duration::from_secs(30), ..Default::default() };
        m.add_control("arn:p/routingcontrol/a", Some("r1"), true, at(0));
        m.add_control("arn:p/routingcontrol/b", Some("r2"), false, at(0));
        let both = vec!["arn:p/routingcontrol/a".to_string(), "arn:p/routingcontrol/b".to_string()];
        m.rules.push(AssertionRule { arn: "rule-1".into(), name: "one".into(), controls: both.clone(), min_on: 1 });
        m.rules.push(AssertionRule { arn: "rule-2".into(), name: "two".into(), controls: both, min_on: 2 });
        m
    }

    #[test]
    fn every_rule_not_overridden_is_checked() {
        let mut m = model();
        let err = m.update(&[("arn:p/routingcontrol/a".into(), true)], &["rule-1".into()], at(1)).unwrap_err();
        assert!(err.message.contains("two"), "{}", err.message);
        m.update(&[("arn:p/routingcontrol/b".into(), true)], &["rule-1".into()], at(1))
            .expect("both On satisfies rule two");
        let err = m.update(&[("arn:p/routingcontrol/a".into(), false)], &["rule-1".into()], at(2)).unwrap_err();
        assert_eq!(err.code, "ValidationException");
        assert!(err.message.contains("two"), "{}", err.message);
        assert!(m.controls["arn:p/routingcontrol/a"].is_on(), "a refused update changes nothing");
        m.update(&[("arn:p/routingcontrol/a".into(), false)], &["rule-1".into(), "rule-2".into()], at(2)).unwrap();
        assert!(!m.controls["arn:p/routingcontrol/a"].is_on());
    }

    #[test]
    fn health_checks_see_changes_after_the_propagation_delay() {
        let mut m = model();
        m.rules.clear();
        m.update(&[("arn:p/routingcontrol/a".into(), false), ("arn:p/routingcontrol/b".into(), true)], &[], at(100))
            .unwrap();
        assert_eq!(m.serving_regions(at(129)), ["r1"]);
        assert_eq!(m.serving_regions(at(130)), ["r2"]);
        assert_eq!(control_panel_of("arn:x:controlpanel/p1/routingcontrol/rc"), "arn:x:controlpanel/p1");
    }
}
