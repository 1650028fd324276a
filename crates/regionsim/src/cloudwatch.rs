//! Amazon CloudWatch as the current SDK speaks it: Smithy RPC v2 CBOR
//! (`POST /service/GraniteServiceVersion20100801/operation/{Op}`, `smithy-protocol:
//! rpc-v2-cbor`), query-compatible error codes (`x-amzn-query-error`).
//!
//! Modeled: the canary alarms of the plan (`DescribeAlarms`), which follow the health of
//! the Region they watch after an evaluation delay and live in the other Region; the
//! Aurora replication-lag metrics (`GetMetricData`, `GetMetricStatistics`), whose values
//! come from a [`LagSource`] (the RDS model provides one) or a configured constant; and
//! `PutMetricData`, whose points the metric reads return.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use ciborium::Value;
use failover_core::plan::Plan;

use crate::iam::{Authorization, SIMULATED_ACCOUNT};
use crate::server::{ApiError, HttpService, Request, Response, ResponseFuture};
use crate::services::service;
use crate::sim::{RegionStatus, Setup, Sim, WeakSim, lock};
use crate::wire;

/// The metric names whose values come from the replication model.
pub const LAG_METRICS: [&str; 2] = ["AuroraGlobalDBRPOLag", "AuroraGlobalDBReplicationLag"];

/// The replication-lag metric query a [`LagSource`] answers.
#[derive(Debug, Clone, PartialEq)]
pub struct LagQuery {
    /// The Region the metric is read in (the secondary's Region).
    pub region: String,
    /// `AuroraGlobalDBRPOLag` or `AuroraGlobalDBReplicationLag`.
    pub metric: String,
    /// The metric's dimensions (`DBClusterIdentifier`, ...).
    pub dimensions: Vec<(String, String)>,
    pub at: SystemTime,
}

/// What CloudWatch reads the replication-lag metrics through: milliseconds, `None` for
/// "no data point". Whoever models replication provides one: `sim.provide::<LagFn>(..)`.
pub type LagFn = dyn Fn(&LagQuery) -> Option<f64> + Send + Sync;

/// A [`LagFn`] as it is provided.
pub type LagSource = Arc<LagFn>;

/// A canary alarm: it lives in one Region and watches the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanaryAlarm {
    pub name: String,
    /// The Region the alarm lives in (the watching Region).
    pub region: String,
    pub watched_region: String,
    /// A state forced by a test or the control API (`OK`, `ALARM`, `INSUFFICIENT_DATA`).
    pub forced: Option<String>,
    pub created: SystemTime,
}

/// One stored metric point (from `PutMetricData`).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    pub region: String,
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<(String, String)>,
    pub at: SystemTime,
    pub value: f64,
}

/// What [`CloudWatch`] reads from [`crate::SimBuilder::setting`].
#[derive(Debug, Clone)]
pub struct CloudWatchSettings {
    /// How long a Region must be down before the canary alarms watching it go to ALARM.
    pub alarm_delay: Duration,
    /// The replication lag reported when no [`LagSource`] is provided.
    pub default_lag: Duration,
}

impl Default for CloudWatchSettings {
    fn default() -> Self {
        Self { alarm_delay: Duration::from_secs(60), default_lag: Duration::from_millis(800) }
    }
}

#[derive(Debug, Clone, Default)]
pub struct CloudWatchModel {
    /// By (Region, name).
    pub alarms: BTreeMap<(String, String), CanaryAlarm>,
    /// How long a watched Region's health must hold before its alarm follows.
    pub alarm_delay: Duration,
    /// The replication lag reported when the RDS model supplies none.
    pub default_lag: Duration,
    pub points: Vec<MetricPoint>,
}

impl CloudWatchModel {
    /// The canary alarms of the plan: each watcher lives in the Region that watches (the
    /// other one unless the plan says); each Region's own alarms live in it and watch it.
    pub fn from_plan(plan: &Plan, settings: &CloudWatchSettings, now: SystemTime) -> Self {
        let mut cw = CloudWatchModel {
            alarm_delay: settings.alarm_delay,
            default_lag: settings.default_lag,
            ..Default::default()
        };
        for (watched, health) in &plan.health {
            for alarm in &health.alarms {
                let home = alarm.region.clone().unwrap_or_else(|| {
                    let other =
                        if plan.regions.primary == *watched { &plan.regions.secondary } else { &plan.regions.primary };
                    other.clone()
                });
                cw.add_canary_alarm(&home, &alarm.name, watched, now);
            }
            // A Region's own signals live in it and watch it.
            for alarm in &health.own_alarms {
                let home = alarm.region.clone().unwrap_or_else(|| watched.clone());
                cw.add_canary_alarm(&home, &alarm.name, watched, now);
            }
        }
        cw
    }

    pub fn add_canary_alarm(&mut self, region: &str, name: &str, watched: &str, now: SystemTime) {
        self.alarms.insert(
            (region.to_string(), name.to_string()),
            CanaryAlarm {
                name: name.to_string(),
                region: region.to_string(),
                watched_region: watched.to_string(),
                forced: None,
                created: now,
            },
        );
    }
}

/// An alarm's state and when it entered it, given the watched Region's health: the
/// alarm sees the health as it was `delay` ago (one evaluation period of canary runs).
pub fn alarm_state(
    alarm: &CanaryAlarm,
    health: Option<RegionStatus>,
    now: SystemTime,
    delay: Duration,
) -> (String, SystemTime) {
    if let Some(s) = &alarm.forced {
        return (s.clone(), alarm.created);
    }
    let Some(h) = health else { return ("OK".into(), alarm.created) };
    let settled = h.since + delay <= now;
    let down_seen = if settled { !h.up } else { h.up };
    let since = if settled { (h.since + delay).max(alarm.created) } else { alarm.created };
    if down_seen { ("ALARM".into(), since) } else { ("OK".into(), since.max(alarm.created)) }
}

/// Simulated CloudWatch with its alarms and metrics: `sim.service::<CloudWatch>()`.
pub struct CloudWatch {
    sim: WeakSim,
    state: Mutex<CloudWatchModel>,
}

impl CloudWatch {
    /// Builds the plan's canary alarms and serves CloudWatch on a shared port.
    pub fn register(setup: &mut Setup<'_>) {
        let settings: CloudWatchSettings = setup.setting();
        let model = CloudWatchModel::from_plan(setup.plan(), &settings, setup.now());
        let cw = Arc::new(CloudWatch { sim: setup.sim().downgrade(), state: Mutex::new(model) });
        setup.serve_shared(service::CLOUDWATCH, Some("AWS_ENDPOINT_URL_CLOUDWATCH"), cw);
    }

    /// The alarms and stored points, locked.
    pub fn state(&self) -> MutexGuard<'_, CloudWatchModel> {
        lock(&self.state)
    }

    /// The current state of canary alarm `name` in `region`, if it exists.
    pub fn alarm_state(&self, region: &str, name: &str) -> Option<String> {
        let sim = self.sim.upgrade()?;
        let now = sim.clock().now();
        let cw = self.state();
        let a = cw.alarms.get(&(region.to_string(), name.to_string()))?;
        Some(alarm_state(a, sim.region_status_seen_from(&a.region, &a.watched_region), now, cw.alarm_delay).0)
    }

    /// Forces an alarm's state (`None` lets it follow health again). Whoever follows the
    /// alarms' transitions (the EventBridge model) is woken.
    pub fn force_alarm_state(&self, region: &str, name: &str, state: Option<&str>) -> bool {
        let found = match self.state().alarms.get_mut(&(region.to_string(), name.to_string())) {
            Some(a) => {
                a.forced = state.map(str::to_string);
                true
            }
            None => false,
        };
        if found && let Some(sim) = self.sim.upgrade() {
            sim.changed();
        }
        found
    }

    /// Sets the replication lag reported when no lag source is provided.
    pub fn set_default_lag(&self, lag: Duration) {
        self.state().default_lag = lag;
    }
}

// ----- CBOR -----

/// Encodes a CBOR value the way the SDK's decoder accepts: definite lengths, every float
/// as a 64-bit float (the SDK's decoder is built without half-precision support).
pub fn encode(v: &Value, out: &mut Vec<u8>) {
    fn head(major: u8, n: u64, out: &mut Vec<u8>) {
        let m = major << 5;
        match n {
            0..=23 => out.push(m | n as u8),
            24..=0xff => out.extend([m | 24, n as u8]),
            0x100..=0xffff => {
                out.push(m | 25);
                out.extend((n as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                out.push(m | 26);
                out.extend((n as u32).to_be_bytes());
            }
            _ => {
                out.push(m | 27);
                out.extend(n.to_be_bytes());
            }
        }
    }
    match v {
        Value::Integer(i) => {
            let i = i128::from(*i);
            if i >= 0 { head(0, i as u64, out) } else { head(1, (-1 - i) as u64, out) }
        }
        Value::Bytes(b) => {
            head(2, b.len() as u64, out);
            out.extend(b);
        }
        Value::Text(s) => {
            head(3, s.len() as u64, out);
            out.extend(s.as_bytes());
        }
        Value::Array(a) => {
            head(4, a.len() as u64, out);
            a.iter().for_each(|x| encode(x, out));
        }
        Value::Map(m) => {
            head(5, m.len() as u64, out);
            for (k, x) in m {
                encode(k, out);
                encode(x, out);
            }
        }
        Value::Tag(t, x) => {
            head(6, *t, out);
            encode(x, out);
        }
        Value::Float(f) => {
            out.push(0xfb);
            out.extend(f.to_be_bytes());
        }
        Value::Bool(b) => out.push(if *b { 0xf5 } else { 0xf4 }),
        _ => out.push(0xf6),
    }
}

fn text(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| (text(k), v)).collect())
}

fn timestamp(t: SystemTime) -> Value {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    Value::Tag(1, Box::new(Value::Float(secs)))
}

fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_map()?.iter().find(|(k, _)| k.as_text() == Some(key)).map(|(_, v)| v)
}

fn field_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    field(v, key).and_then(Value::as_text)
}

fn field_i64(v: &Value, key: &str) -> Option<i64> {
    field(v, key).and_then(|x| x.as_integer()).and_then(|i| i64::try_from(i).ok())
}

fn field_f64(v: &Value, key: &str) -> Option<f64> {
    match field(v, key)? {
        Value::Float(f) => Some(*f),
        Value::Integer(i) => i64::try_from(*i).ok().map(|i| i as f64),
        _ => None,
    }
}

fn field_time(v: &Value, key: &str) -> Option<SystemTime> {
    let secs = match field(v, key)? {
        Value::Tag(1, inner) => match inner.as_ref() {
            Value::Float(f) => *f,
            Value::Integer(i) => i64::try_from(*i).ok()? as f64,
            _ => return None,
        },
        Value::Float(f) => *f,
        Value::Integer(i) => i64::try_from(*i).ok()? as f64,
        _ => return None,
    };
    (secs >= 0.0).then(|| SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs))
}

fn field_list<'a>(v: &'a Value, key: &str) -> Vec<&'a Value> {
    field(v, key).and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default()
}

fn dimensions(v: &Value) -> Vec<(String, String)> {
    field_list(v, "Dimensions")
        .into_iter()
        .filter_map(|d| Some((field_str(d, "Name")?.to_string(), field_str(d, "Value")?.to_string())))
        .collect()
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::new(400, "InvalidParameterValue", msg)
}

/// The time range a read asks for (`StartTime`, `EndTime`, both required, start first).
fn time_range(input: &Value) -> Result<(SystemTime, SystemTime), ApiError> {
    let start = field_time(input, "StartTime")
        .ok_or_else(|| ApiError::new(400, "MissingParameter", "StartTime is required"))?;
    let end =
        field_time(input, "EndTime").ok_or_else(|| ApiError::new(400, "MissingParameter", "EndTime is required"))?;
    if end <= start {
        return Err(invalid("The parameter StartTime must be less than the parameter EndTime."));
    }
    Ok((start, end))
}

/// One metric of one Region: namespace, name and the dimensions a point must carry.
struct MetricRef<'a> {
    region: &'a str,
    namespace: &'a str,
    name: &'a str,
    dims: &'a [(String, String)],
}

impl CloudWatch {
    fn call(&self, req: &Request) -> Result<Value, ApiError> {
        let sim = self.sim.upgrade().ok_or_else(|| ApiError::new(500, "InternalServiceError", "simulator stopped"))?;
        let region = req.region.clone().unwrap_or_else(|| sim.regions()[0].clone());
        let op = crate::server::operation_name(req);
        let input: Value = if req.body.is_empty() {
            Value::Map(Vec::new())
        } else {
            ciborium::from_reader(&req.body[..])
                .map_err(|e| ApiError::new(400, "SerializationException", format!("invalid CBOR: {e}")))?
        };
        let now = sim.clock().now();
        match op.as_str() {
            "DescribeAlarms" => Ok(self.describe_alarms(&sim, &region, &input, now)),
            "GetMetricData" => self.get_metric_data(&sim, &region, &input, now),
            "GetMetricStatistics" => self.get_metric_statistics(&sim, &region, &input, now),
            "PutMetricData" => {
                let namespace = field_str(&input, "Namespace")
                    .ok_or_else(|| ApiError::new(400, "MissingParameter", "Namespace is required"))?;
                if namespace.starts_with("AWS/") {
                    return Err(invalid("The value AWS/ for parameter Namespace is invalid."));
                }
                let mut cw = self.state();
                for d in field_list(&input, "MetricData") {
                    let name = field_str(d, "MetricName").unwrap_or("").to_string();
                    let value = field_f64(d, "Value").unwrap_or(0.0);
                    let at = field_time(d, "Timestamp").unwrap_or(now);
                    cw.points.push(MetricPoint {
                        region: region.clone(),
                        namespace: namespace.to_string(),
                        name,
                        dimensions: dimensions(d),
                        at,
                        value,
                    });
                }
                Ok(Value::Map(Vec::new()))
            }
            other => Err(ApiError::new(400, "UnknownOperationException", format!("unknown operation {other}"))),
        }
    }

    fn describe_alarms(&self, sim: &Sim, region: &str, input: &Value, now: SystemTime) -> Value {
        let names: Vec<&str> = field_list(input, "AlarmNames").into_iter().filter_map(Value::as_text).collect();
        let prefix = field_str(input, "AlarmNamePrefix");
        let wanted_state = field_str(input, "StateValue");
        let types: Vec<&str> = field_list(input, "AlarmTypes").into_iter().filter_map(Value::as_text).collect();
        if !types.is_empty() && !types.contains(&"MetricAlarm") {
            return map(vec![
                ("MetricAlarms", Value::Array(Vec::new())),
                ("CompositeAlarms", Value::Array(Vec::new())),
            ]);
        }
        let cw = self.state();
        let mut alarms = Vec::new();
        for a in cw.alarms.values().filter(|a| a.region == region) {
            if !names.is_empty() && !names.contains(&a.name.as_str()) {
                continue;
            }
            if prefix.is_some_and(|p| !a.name.starts_with(p)) {
                continue;
            }
            let (state, since) =
                alarm_state(a, sim.region_status_seen_from(&a.region, &a.watched_region), now, cw.alarm_delay);
            if wanted_state.is_some_and(|s| s != state) {
                continue;
            }
            let reason = match state.as_str() {
                "ALARM" => format!("Threshold Crossed: the canaries in {} cannot reach {}", a.region, a.watched_region),
                _ => format!("the canaries in {} reach {}", a.region, a.watched_region),
            };
            alarms.push(map(vec![
                ("AlarmName", text(&a.name)),
                ("AlarmArn", text(format!("arn:aws:cloudwatch:{}:111122223333:alarm:{}", a.region, a.name))),
                ("StateValue", text(state)),
                ("StateReason", text(reason)),
                ("StateUpdatedTimestamp", timestamp(since)),
                ("StateTransitionedTimestamp", timestamp(since)),
                ("AlarmConfigurationUpdatedTimestamp", timestamp(a.created)),
                ("ActionsEnabled", Value::Bool(true)),
                ("MetricName", text("SuccessPercent")),
                ("Namespace", text("CloudWatchSynthetics")),
                ("Statistic", text("Average")),
                ("Dimensions", Value::Array(vec![map(vec![("Name", text("CanaryName")), ("Value", text(&a.name))])])),
                ("Period", Value::Integer(60.into())),
                ("EvaluationPeriods", Value::Integer(1.into())),
                ("Threshold", Value::Float(90.0)),
                ("ComparisonOperator", text("LessThanThreshold")),
                ("TreatMissingData", text("breaching")),
            ]));
        }
        map(vec![("MetricAlarms", Value::Array(alarms)), ("CompositeAlarms", Value::Array(Vec::new()))])
    }

    /// The value of a metric over one period ending at `end`, or `None` for no data.
    fn value(&self, sim: &Sim, metric: &MetricRef, start: SystemTime, end: SystemTime, stat: &str) -> Option<f64> {
        let MetricRef { region, namespace, name, dims } = *metric;
        if LAG_METRICS.contains(&name) {
            if let Some(source) = sim.try_service::<LagFn>() {
                let q = LagQuery {
                    region: region.to_string(),
                    metric: name.to_string(),
                    dimensions: dims.to_vec(),
                    at: end,
                };
                return source(&q);
            }
            return Some(self.state().default_lag.as_secs_f64() * 1000.0);
        }
        let vals: Vec<f64> = self
            .state()
            .points
            .iter()
            .filter(|p| p.region == region && p.namespace == namespace && p.name == name && p.at >= start && p.at < end)
            .filter(|p| dims.iter().all(|d| p.dimensions.contains(d)))
            .map(|p| p.value)
            .collect();
        if vals.is_empty() {
            return None;
        }
        Some(match stat {
            "Maximum" => vals.iter().cloned().fold(f64::MIN, f64::max),
            "Minimum" => vals.iter().cloned().fold(f64::MAX, f64::min),
            "Sum" => vals.iter().sum(),
            "SampleCount" => vals.len() as f64,
            _ => vals.iter().sum::<f64>() / vals.len() as f64,
        })
    }

    fn get_metric_data(&self, sim: &Sim, region: &str, input: &Value, now: SystemTime) -> Result<Value, ApiError> {
        let (start, end) = time_range(input)?;
        let ascending = field_str(input, "ScanBy") == Some("TimestampAscending");
        let max_points = field_i64(input, "MaxDatapoints").unwrap_or(100_800).clamp(1, 100_800) as usize;
        let mut results = Vec::new();
        for q in field_list(input, "MetricDataQueries") {
            let id = field_str(q, "Id").unwrap_or("").to_string();
            let Some(ms) = field(q, "MetricStat") else {
                return Err(invalid(format!("query {id}: metric math expressions are not simulated")));
            };
            let metric = field(ms, "Metric").ok_or_else(|| invalid(format!("query {id}: Metric is required")))?;
            let name = field_str(metric, "MetricName").unwrap_or("");
            let namespace = field_str(metric, "Namespace").unwrap_or("");
            let dims = dimensions(metric);
            let period = field_i64(ms, "Period").unwrap_or(60).max(1) as u64;
            let stat = field_str(ms, "Stat").unwrap_or("Average");
            let metric = MetricRef { region, namespace, name, dims: &dims };
            let (times, values) = self.series(sim, &metric, start, end.min(now), period, stat, max_points);
            let mut pairs: Vec<(SystemTime, f64)> = times.into_iter().zip(values).collect();
            if !ascending {
                pairs.reverse();
            }
            results.push(map(vec![
                ("Id", text(id)),
                ("Label", text(name)),
                ("Timestamps", Value::Array(pairs.iter().map(|(t, _)| timestamp(*t)).collect())),
                ("Values", Value::Array(pairs.iter().map(|(_, v)| Value::Float(*v)).collect())),
                ("StatusCode", text("Complete")),
            ]));
        }
        Ok(map(vec![("MetricDataResults", Value::Array(results)), ("Messages", Value::Array(Vec::new()))]))
    }

    /// The data points of one metric: one per period from `start` up to `end`.
    #[allow(clippy::too_many_arguments)]
    fn series(
        &self,
        sim: &Sim,
        metric: &MetricRef,
        start: SystemTime,
        end: SystemTime,
        period: u64,
        stat: &str,
        max_points: usize,
    ) -> (Vec<SystemTime>, Vec<f64>) {
        let step = Duration::from_secs(period);
        // Align to the period like CloudWatch does, so repeated reads agree.
        let secs = start.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let mut t = SystemTime::UNIX_EPOCH + Duration::from_secs(secs - secs % period);
        let (mut times, mut values) = (Vec::new(), Vec::new());
        while t + step <= end && times.len() < max_points.min(1440) {
            if let Some(v) = self.value(sim, metric, t, t + step, stat) {
                times.push(t);
                values.push(v);
            }
            t += step;
        }
        // The current, partial period: CloudWatch shows the latest point as it arrives.
        if times.len() < max_points.min(1440)
            && t < end
            && let Some(v) = self.value(sim, metric, t, end, stat)
        {
            times.push(t);
            values.push(v);
        }
        (times, values)
    }

    fn get_metric_statistics(
        &self,
        sim: &Sim,
        region: &str,
        input: &Value,
        now: SystemTime,
    ) -> Result<Value, ApiError> {
        let name = field_str(input, "MetricName")
            .ok_or_else(|| ApiError::new(400, "MissingParameter", "MetricName is required"))?;
        let namespace = field_str(input, "Namespace").unwrap_or("");
        let (start, end) = time_range(input)?;
        let period = field_i64(input, "Period").unwrap_or(60).max(1) as u64;
        let stats: Vec<&str> = field_list(input, "Statistics").into_iter().filter_map(Value::as_text).collect();
        if stats.is_empty() {
            return Err(ApiError::new(400, "MissingParameter", "Statistics or ExtendedStatistics is required"));
        }
        let dims = dimensions(input);
        let unit = if LAG_METRICS.contains(&name) { "Milliseconds" } else { "None" };
        let mut points: BTreeMap<SystemTime, Vec<(&str, f64)>> = BTreeMap::new();
        let metric = MetricRef { region, namespace, name, dims: &dims };
        for stat in &stats {
            let (times, values) = self.series(sim, &metric, start, end.min(now), period, stat, 1440);
            for (t, v) in times.into_iter().zip(values) {
                points.entry(t).or_default().push((stat, v));
            }
        }
        let datapoints = points
            .into_iter()
            .map(|(t, vals)| {
                let mut entries = vec![("Timestamp", timestamp(t)), ("Unit", text(unit))];
                entries.extend(vals.into_iter().map(|(s, v)| (s, Value::Float(v))));
                map(entries)
            })
            .collect();
        Ok(map(vec![("Label", text(name)), ("Datapoints", Value::Array(datapoints))]))
    }
}

impl HttpService for CloudWatch {
    fn handle(&self, req: Request) -> ResponseFuture {
        let resp = match self.call(&req) {
            Ok(v) => {
                let mut body = Vec::new();
                encode(&v, &mut body);
                Response::new(200, "application/cbor", body)
                    .with_header("smithy-protocol", "rpc-v2-cbor")
                    .with_header("x-amzn-requestid", &wire::request_id())
            }
            Err(e) => self.error_response(&req, &e),
        };
        Box::pin(async move { resp })
    }

    /// `cloudwatch:DescribeAlarms` on each named alarm of the signing Region (every alarm,
    /// `alarm:*`, when none is named); the metric actions have no resource type
    /// (`PutMetricData` carries `cloudwatch:namespace`).
    fn authorizations(&self, req: &Request, operation: &str) -> Vec<Authorization> {
        let action = format!("cloudwatch:{operation}");
        let input: Value = ciborium::from_reader(&req.body[..]).unwrap_or(Value::Map(Vec::new()));
        let region =
            req.region.clone().or_else(|| self.sim.upgrade().map(|s| s.regions()[0].clone())).unwrap_or_default();
        let alarm = |name: &str| format!("arn:aws:cloudwatch:{region}:{SIMULATED_ACCOUNT}:alarm:{name}");
        match operation {
            "DescribeAlarms" => {
                let names: Vec<&str> =
                    field_list(&input, "AlarmNames").into_iter().filter_map(Value::as_text).collect();
                if names.is_empty() {
                    vec![Authorization::new(action, alarm("*"))]
                } else {
                    Authorization::each(&action, names.iter().map(|n| alarm(n)))
                }
            }
            "PutMetricData" => {
                let namespace = field_str(&input, "Namespace").unwrap_or("").to_string();
                vec![Authorization::new(action, "*").with("cloudwatch:namespace", namespace)]
            }
            _ => vec![Authorization::new(action, "*")],
        }
    }

    fn error_response(&self, _req: &Request, err: &ApiError) -> Response {
        let mut body = Vec::new();
        encode(&map(vec![("__type", text(&err.code)), ("message", text(&err.message))]), &mut body);
        let kind = if err.is_sender_fault() { "Sender" } else { "Receiver" };
        Response::new(err.status, "application/cbor", body)
            .with_header("smithy-protocol", "rpc-v2-cbor")
            .with_header("x-amzn-query-error", &format!("{};{kind}", err.code))
            .with_header("x-amzn-requestid", &wire::request_id())
    }

    fn throttling_error(&self) -> ApiError {
        ApiError::new(400, "Throttling", "Rate exceeded")
    }
}
