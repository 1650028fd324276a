//! The control API: HTTP with JSON bodies on its own port, for processes that drive a
//! standalone simulator (`failover sim`). It is never subject to the simulated faults.
//!
//! | Method and path                | Body                                         |
//! |--------------------------------|----------------------------------------------|
//! | `GET /state`                   | health, faults, routing controls, DNS, calls |
//! | `GET /calls`                   | the call log                                 |
//! | `GET /sns/messages`            | the published messages                       |
//! | `POST /regions/{r}/down`       | `{"mode": "refuse" \| "hang"}`               |
//! | `POST /regions/{r}/up`         |                                              |
//! | `POST /arc/endpoints`          | `{"dead": k, "kind": "refuse" \| "hang" \| "server-error" \| "unavailable"}` |
//! | `POST /arc/endpoints/{i}`      | `{"fault": kind or null}`                    |
//! | `POST /arc/conflicts`          | `{"count": n}`                               |
//! | `POST /throttle`               | `{"service": "arc", "rate": 0.5}`            |
//! | `POST /latency`                | `{"service": "rds", "ms": 250}`              |
//! | `POST /alarms`                 | `{"region": r, "name": n, "state": "ALARM" or null}` |
//! | `POST /x/{name}`               | handed to a hook registered with [`Sim::register_control`] (e.g. `stall`) |
//!
//! Answers are JSON; errors are `{"error": "..."}` with status 400 or 404.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::arc::ArcCluster;
use crate::cloudwatch::CloudWatch;
use crate::dns::Dns;
use crate::services::service;
use crate::sim::{DownMode, EndpointFault, Sim, WeakSim};
use crate::sns::Sns;

/// A control hook: JSON in, JSON out or an error message.
pub type ControlHook = Arc<dyn Fn(&Value) -> Result<Value, String> + Send + Sync>;

/// Starts the control API on `addr` (port 0 for an ephemeral one); returns its address.
pub async fn start(sim: &Sim, addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let weak = sim.downgrade();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let weak = weak.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                    let weak = weak.clone();
                    async move { Ok::<_, std::convert::Infallible>(handle(weak, req).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(local)
}

async fn handle(weak: WeakSim, req: http::Request<Incoming>) -> http::Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let (status, value) = match weak.upgrade() {
        None => (503, json!({ "error": "the simulator stopped" })),
        Some(sim) => {
            let input: Value =
                if body.is_empty() { json!({}) } else { serde_json::from_slice(&body).unwrap_or(Value::Null) };
            match route(&sim, method.as_str(), &path, &input) {
                Ok(v) => (200, v),
                Err((status, msg)) => (status, json!({ "error": msg })),
            }
        }
    };
    let mut resp = http::Response::new(Full::new(Bytes::from(value.to_string())));
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST);
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    resp
}

fn bad(msg: impl Into<String>) -> (u16, String) {
    (400, msg.into())
}

fn parse<T: serde::de::DeserializeOwned>(v: &Value, what: &str) -> Result<T, (u16, String)> {
    serde_json::from_value(v.clone()).map_err(|e| bad(format!("{what}: {e}")))
}

/// Runs one control request; also usable in-process.
pub fn route(sim: &Sim, method: &str, path: &str, input: &Value) -> Result<Value, (u16, String)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        ("GET", ["state"]) => Ok(state(sim)),
        ("GET", ["calls"]) => serde_json::to_value(sim.calls()).map_err(|e| bad(e.to_string())),
        ("GET", ["sns", "messages"]) => {
            serde_json::to_value(sim.service::<Sns>().messages()).map_err(|e| bad(e.to_string()))
        }
        ("POST", ["regions", region, action]) => {
            if !sim.regions().iter().any(|r| r == region) {
                return Err((404, format!("`{region}` is not one of the simulated Regions")));
            }
            match *action {
                "down" => {
                    let mode: DownMode = match input.get("mode") {
                        Some(m) => parse(m, "mode")?,
                        None => DownMode::Refuse,
                    };
                    sim.set_region_down(region, mode);
                }
                "up" => sim.set_region_up(region),
                other => return Err((404, format!("unknown action `{other}` (down or up)"))),
            }
            Ok(state(sim))
        }
        ("POST", ["arc", "endpoints"]) => {
            let dead = input.get("dead").and_then(Value::as_u64).ok_or_else(|| bad("dead: a number is required"))?;
            let kind: EndpointFault = parse(input.get("kind").unwrap_or(&json!("refuse")), "kind")?;
            sim.kill_endpoints(service::ARC, dead as usize, kind);
            Ok(state(sim))
        }
        ("POST", ["arc", "endpoints", index]) => {
            let i: usize = index.parse().map_err(|_| bad("the endpoint index is a number"))?;
            if i >= sim.endpoints().regional(service::ARC).len() {
                return Err((404, format!("there is no ARC endpoint {i}")));
            }
            let fault: Option<EndpointFault> = parse(input.get("fault").unwrap_or(&Value::Null), "fault")?;
            sim.set_endpoint_fault(service::ARC, i, fault);
            Ok(state(sim))
        }
        ("POST", ["arc", "conflicts"]) => {
            let n = input.get("count").and_then(Value::as_u64).ok_or_else(|| bad("count: a number is required"))?;
            sim.service::<ArcCluster>().inject_conflicts(u32::try_from(n).unwrap_or(u32::MAX));
            Ok(state(sim))
        }
        ("POST", ["throttle"]) => {
            let svc = input.get("service").and_then(Value::as_str).ok_or_else(|| bad("service is required"))?;
            let rate = input.get("rate").and_then(Value::as_f64).ok_or_else(|| bad("rate: a number in 0..=1"))?;
            sim.set_throttle_rate(svc, rate);
            Ok(state(sim))
        }
        ("POST", ["latency"]) => {
            let svc = input.get("service").and_then(Value::as_str).ok_or_else(|| bad("service is required"))?;
            let ms = input.get("ms").and_then(Value::as_u64).ok_or_else(|| bad("ms: a number of milliseconds"))?;
            sim.set_extra_latency(svc, Duration::from_millis(ms));
            Ok(state(sim))
        }
        ("POST", ["alarms"]) => {
            let region = input.get("region").and_then(Value::as_str).ok_or_else(|| bad("region is required"))?;
            let name = input.get("name").and_then(Value::as_str).ok_or_else(|| bad("name is required"))?;
            let st = input.get("state").and_then(Value::as_str);
            if let Some(s) = st
                && !["OK", "ALARM", "INSUFFICIENT_DATA"].contains(&s)
            {
                return Err(bad("state: OK, ALARM, INSUFFICIENT_DATA or null"));
            }
            if !sim.service::<CloudWatch>().force_alarm_state(region, name, st) {
                return Err((404, format!("no alarm `{name}` in {region}")));
            }
            Ok(state(sim))
        }
        ("POST", ["x", name]) => {
            let hook = sim.control_hook(name).ok_or_else(|| (404, format!("no control hook `{name}`")))?;
            hook(input).map_err(bad)
        }
        _ => Err((404, format!("unknown control request {method} {path}"))),
    }
}

/// A snapshot of everything a driver wants to see.
pub fn state(sim: &Sim) -> Value {
    let now = sim.clock().now();
    let regions: serde_json::Map<String, Value> = sim
        .regions()
        .iter()
        .map(|r| {
            let s = sim.region_status(r);
            let v = json!({
                "up": s.is_none_or(|s| s.up),
                "mode": s.map(|s| s.mode),
                "since": s.map(|s| crate::wire::iso8601(s.since)),
            });
            (r.clone(), v)
        })
        .collect();
    let arc: Vec<Value> = sim
        .endpoints()
        .regional(service::ARC)
        .iter()
        .enumerate()
        .map(|(i, (url, region))| {
            json!({ "url": url, "region": region, "fault": sim.endpoint_fault_at(service::ARC, i) })
        })
        .collect();
    let controls: serde_json::Map<String, Value> = sim
        .service::<ArcCluster>()
        .state()
        .controls
        .values()
        .map(|c| (c.arn.clone(), json!(if c.is_on() { "On" } else { "Off" })))
        .collect();
    let cloudwatch = sim.service::<CloudWatch>();
    let alarms: Vec<(String, String)> = cloudwatch.state().alarms.keys().cloned().collect();
    let alarms: Vec<Value> = alarms
        .into_iter()
        .map(
            |(region, name)| json!({ "region": region, "name": name, "state": cloudwatch.alarm_state(&region, &name) }),
        )
        .collect();
    let dns = sim.service::<Dns>().answer();
    json!({
        "now": crate::wire::iso8601(now),
        "regions": regions,
        "arc_endpoints": arc,
        "routing_controls": controls,
        "dns": { "regions": dns.regions, "values": dns.values, "ttl": dns.ttl },
        "alarms": alarms,
        "api_calls": sim.api_calls(),
    })
}
