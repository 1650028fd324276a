//! Amazon EventBridge, as far as the proposer needs it: each Region's canary rule delivers
//! the "CloudWatch Alarm State Change" events of the simulated canary alarms to the handler
//! registered for that Region (the `propose-failover` function of its stack).
//!
//! The rule is the template's `CanaryAlarmRule` of the Region's stack: `source`
//! `aws.cloudwatch`, `detail-type` `CloudWatch Alarm State Change`, `detail.alarmName` one of
//! the Region's `CanaryAlarmNames` (the plan's watchers of the other Region that live here),
//! `detail.state.value` `ALARM`. An event is delivered at the simulated time of the
//! transition (the alarms follow the watched Region's health after their evaluation delay,
//! `cloudwatch::alarm_state`, or a forced state at once), in the real event's JSON shape,
//! and only while the alarm's own Region is up: a dead Region sends nothing, and what it
//! missed is not sent later. Each delivery is an asynchronous invocation: the handler runs
//! on a task of its own and nothing waits for it. Every event the bus saw, delivered or not,
//! is kept ([`EventBridge::events`]).
//!
//! Nothing runs until a handler is set ([`EventBridge::set_handler`]): then one task follows
//! the alarms, sleeping on the simulator's clock until the next transition or until health
//! or a forced alarm state changes.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::cloudwatch::{CloudWatch, alarm_state};
use crate::iam::SIMULATED_ACCOUNT;
use crate::sim::{Setup, Sim, WeakSim, lock};

/// The event's `source` and `detail-type`.
pub const SOURCE: &str = "aws.cloudwatch";
pub const DETAIL_TYPE: &str = "CloudWatch Alarm State Change";

/// What a handler returns: the invocation, run on a task of its own.
pub type HandlerFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The target of a Region's rule.
pub type Handler = Arc<dyn Fn(Value) -> HandlerFuture + Send + Sync + 'static>;

/// One event the bus saw.
#[derive(Debug, Clone, PartialEq)]
pub struct SeenEvent {
    /// The alarm's Region (the event's `region`).
    pub region: String,
    pub at: SystemTime,
    pub event: Value,
    /// Whether the Region's rule matched it and a handler got it.
    pub delivered: bool,
}

#[derive(Default)]
struct State {
    /// The rule's alarm names, by Region.
    rules: BTreeMap<String, BTreeSet<String>>,
    handlers: BTreeMap<String, Handler>,
    /// Each alarm's last known state, by (Region, name).
    last: BTreeMap<(String, String), String>,
    seen: Vec<SeenEvent>,
    watching: bool,
}

/// The simulated EventBridge: `sim.service::<EventBridge>()`.
pub struct EventBridge {
    sim: WeakSim,
    me: Weak<EventBridge>,
    state: Mutex<State>,
}

impl EventBridge {
    /// Declares each Region's canary rule from the plan; serves no port.
    pub fn register(setup: &mut Setup<'_>) {
        let plan = setup.plan();
        let mut rules: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for region in [&plan.regions.primary, &plan.regions.secondary] {
            let Some(peer) = plan.other_region(region) else { continue };
            let names = plan.watchers_of(peer).into_iter().filter(|(_, home)| *home == region.as_str());
            rules.entry(region.clone()).or_default().extend(names.map(|(n, _)| n.to_string()));
        }
        let sim = setup.sim().downgrade();
        let bus = Arc::new_cyclic(|me| EventBridge {
            sim,
            me: me.clone(),
            state: Mutex::new(State { rules, ..State::default() }),
        });
        setup.sim().provide(bus);
    }

    /// The alarm names the rule of `region` matches.
    pub fn rule(&self, region: &str) -> Vec<String> {
        lock(&self.state).rules.get(region).map(|r| r.iter().cloned().collect()).unwrap_or_default()
    }

    /// Sets the target of `region`'s rule, and starts following the alarms.
    pub fn set_handler<F, Fut>(&self, region: &str, handler: F)
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |event: Value| -> HandlerFuture { Box::pin(handler(event)) });
        let start = {
            let mut s = lock(&self.state);
            s.handlers.insert(region.to_string(), handler);
            !std::mem::replace(&mut s.watching, true)
        };
        if start && let (Some(sim), Some(me)) = (self.sim.upgrade(), self.me.upgrade()) {
            // The states now are the baseline: only what changes from here is an event.
            me.poll(&sim, false);
            let (weak, clock, mut changes) = (self.sim.clone(), sim.clock().clone(), sim.subscribe_changes());
            drop(sim);
            let me = Arc::downgrade(&me);
            tokio::spawn(async move {
                loop {
                    let (Some(sim), Some(bus)) = (weak.upgrade(), me.upgrade()) else { return };
                    let next = bus.poll(&sim, true);
                    drop((sim, bus));
                    match next {
                        Some(wait) => tokio::select! {
                            _ = clock.sleep(wait) => {}
                            changed = changes.changed() => if changed.is_err() { return },
                        },
                        None => {
                            if changes.changed().await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    }

    /// Every event the bus saw, in order.
    pub fn events(&self) -> Vec<SeenEvent> {
        lock(&self.state).seen.clone()
    }

    /// Delivers `event` to `region`'s handler as the rule would (an event from another
    /// source: a test, the drill's alarm storm), if the rule matches and the Region is up.
    /// Returns whether it was delivered.
    pub fn put_event(&self, region: &str, event: Value) -> bool {
        let Some(sim) = self.sim.upgrade() else { return false };
        self.route(&sim, region, event)
    }

    fn route(&self, sim: &Sim, region: &str, event: Value) -> bool {
        let now = sim.clock().now();
        let name = event["detail"]["alarmName"].as_str().unwrap_or_default().to_string();
        let handler = {
            let mut s = lock(&self.state);
            let matches = event["source"] == SOURCE
                && event["detail-type"] == DETAIL_TYPE
                && event["detail"]["state"]["value"] == "ALARM"
                && s.rules.get(region).is_some_and(|r| r.contains(&name));
            let handler =
                if matches && sim.region_works_inside(region) { s.handlers.get(region).cloned() } else { None };
            s.seen.push(SeenEvent {
                region: region.to_string(),
                at: now,
                event: event.clone(),
                delivered: handler.is_some(),
            });
            handler
        };
        match handler {
            Some(h) => {
                tokio::spawn(h(event));
                true
            }
            None => false,
        }
    }

    /// Emits an event for every alarm whose state changed since the last poll (when `emit`),
    /// and returns how long until the next transition the health already implies.
    fn poll(&self, sim: &Sim, emit: bool) -> Option<Duration> {
        let cw = sim.try_service::<CloudWatch>()?;
        let now = sim.clock().now();
        let (alarms, delay) = {
            let cw = cw.state();
            (cw.alarms.values().cloned().collect::<Vec<_>>(), cw.alarm_delay)
        };
        let mut next: Option<Duration> = None;
        let mut changes = Vec::new();
        for a in &alarms {
            let health = sim.region_status_seen_from(&a.region, &a.watched_region);
            let (state, _) = alarm_state(a, health, now, delay);
            if a.forced.is_none()
                && let Some(h) = health
                && h.since + delay > now
            {
                let wait = (h.since + delay).duration_since(now).unwrap_or_default();
                next = Some(next.map_or(wait, |n| n.min(wait)));
            }
            let key = (a.region.clone(), a.name.clone());
            let previous = lock(&self.state).last.insert(key, state.clone());
            if emit
                && let Some(prev) = previous
                && prev != state
            {
                changes.push((a.clone(), prev, state));
            }
        }
        for (a, prev, state) in changes {
            let event = state_change_event(&a.region, &a.name, &a.watched_region, &prev, &state, now);
            self.route(sim, &a.region, event);
        }
        next
    }
}

/// `2026-01-01T00:01:00.000+0000`, as CloudWatch writes an alarm state's timestamp.
fn alarm_time(t: SystemTime) -> String {
    let s = failover_core::time_fmt::rfc3339(t);
    match s.strip_suffix('Z') {
        Some(base) => format!("{base}+0000"),
        None => s,
    }
}

/// The "CloudWatch Alarm State Change" event of a canary alarm, as EventBridge delivers it.
pub fn state_change_event(
    region: &str,
    name: &str,
    watched: &str,
    previous: &str,
    state: &str,
    at: SystemTime,
) -> Value {
    let reason = |s: &str| match s {
        "ALARM" => format!("Threshold Crossed: the canaries in {region} cannot reach {watched}"),
        "INSUFFICIENT_DATA" => "Insufficient Data: 1 datapoint was unknown.".to_string(),
        _ => format!("Threshold Crossed: the canaries in {region} reach {watched}"),
    };
    let id = {
        let h = failover_core::stable_hash(format!("{region}/{name}/{state}/{}", alarm_time(at)));
        let g = failover_core::stable_hash(h.to_be_bytes());
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            h >> 32,
            (h >> 16) & 0xffff,
            h & 0xfff,
            g & 0xfff,
            (g >> 16) & 0xffff_ffff_ffff
        )
    };
    // SuccessPercent: nothing succeeds while the watched Region does not answer.
    let point = if state == "ALARM" { 0.0 } else { 100.0 };
    let reason_data = json!({
        "version": "1.0",
        "queryDate": alarm_time(at),
        "statistic": "Average",
        "period": 60,
        "recentDatapoints": [point],
        "threshold": 90.0,
        "evaluatedDatapoints": [{ "timestamp": alarm_time(at), "sampleCount": 1.0, "value": point }],
    });
    json!({
        "version": "0",
        "id": id,
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": SIMULATED_ACCOUNT,
        "time": failover_core::time_fmt::rfc3339(at).replace(".000Z", "Z"),
        "region": region,
        "resources": [format!("arn:aws:cloudwatch:{region}:{SIMULATED_ACCOUNT}:alarm:{name}")],
        "detail": {
            "alarmName": name,
            "state": {
                "value": state,
                "reason": reason(state),
                "reasonData": reason_data.to_string(),
                "timestamp": alarm_time(at),
            },
            "previousState": {
                "value": previous,
                "reason": reason(previous),
                "timestamp": alarm_time(at),
            },
            "configuration": {
                "description": format!("The canaries in {region} watching {watched}"),
                "metrics": [{
                    "id": "m1",
                    "metricStat": {
                        "metric": {
                            "namespace": "CloudWatchSynthetics",
                            "name": "SuccessPercent",
                            "dimensions": { "CanaryName": name },
                        },
                        "period": 60,
                        "stat": "Average",
                    },
                    "returnData": true,
                }],
            },
        },
    })
}
