//! The shared simulation handle: the Region pair, its health, the faults, the clock, the
//! call log, and the state of every protocol-level service.
//!
//! [`SimBuilder::start`] binds every port and returns a [`Sim`], a cheap clonable handle.
//! Everything a test or a drill changes or inspects goes through it. Services hold a
//! [`WeakSim`] so that dropping the last `Sim` stops the listeners.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, Weak};
use std::time::{Duration, SystemTime};

use failover_core::SharedClock;
use failover_core::plan::Plan;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::server::{self, HttpService, Listener, Request};

/// The service names used for ports, the call log and faults.
pub mod service {
    /// The ARC cluster data plane (five Regional endpoints).
    pub const ARC: &str = "arc";
    pub const RDS: &str = "rds";
    pub const CLOUDWATCH: &str = "cloudwatch";
    pub const SNS: &str = "sns";
    pub const S3: &str = "s3";
    pub const SECRETS_MANAGER: &str = "secretsmanager";
    /// Step Functions; served only once a handler is installed (`sfn::Sfn::install`).
    pub const SFN: &str = "states";
    /// Each Region's application health endpoint (`GET /health`), one port per Region.
    pub const WEB: &str = "web";
    /// The services that share one port for both Regions.
    pub const SHARED: [&str; 6] = [RDS, CLOUDWATCH, SNS, S3, SECRETS_MANAGER, SFN];
}

/// How a down Region's endpoints behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DownMode {
    /// Connections are refused (Regional ports close) or dropped without an answer
    /// (ports shared by both Regions, once the request names the down Region).
    Refuse,
    /// Connections are accepted and never answered.
    Hang,
}

/// A fault on one Regional endpoint (an ARC cluster endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndpointFault {
    /// Nothing listens: connections are refused.
    Refuse,
    /// Accepts and never answers.
    Hang,
    /// Answers HTTP 500.
    ServerError,
    /// Answers `EndpointTemporarilyUnavailableException` (HTTP 503).
    Unavailable,
}

/// What the server does with a connection or request, given health and faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    Open,
    Refuse,
    Hang,
}

/// The health of one simulated Region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RegionStatus {
    pub up: bool,
    /// How its endpoints fail while down.
    pub mode: DownMode,
    /// When it last changed (sim clock); the Unix epoch if it never did.
    pub since: SystemTime,
}

/// A Region going down or coming back, as recorded by [`Sim::health_transitions`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthTransition {
    pub at: SystemTime,
    pub region: String,
    pub up: bool,
}

/// One API call as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallRecord {
    pub seq: u64,
    pub at: SystemTime,
    pub service: String,
    pub operation: String,
    /// The signing Region, else the endpoint's Region.
    pub region: Option<String>,
    /// The endpoint index (which of the five ARC endpoints).
    pub endpoint: usize,
    pub mutating: bool,
    /// A hash of the service, operation, path, query and body: two calls with the same
    /// fingerprint asked for the same thing.
    pub fingerprint: u64,
    /// The HTTP status answered; `None` while in flight, or when the call hung or its
    /// connection was dropped by a fault.
    pub status: Option<u16>,
}

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

/// Supplies replication-lag metric values in milliseconds (set by the RDS model); `None`
/// means "no data point".
pub type LagSource = Arc<dyn Fn(&LagQuery) -> Option<f64> + Send + Sync>;

/// The URLs and addresses of a running simulator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoints {
    /// The ARC cluster endpoints, in order: (URL, Region).
    pub arc: Vec<(String, String)>,
    /// The shared endpoint of each service (`rds`, `cloudwatch`, `sns`, `s3`,
    /// `secretsmanager`), serving both Regions.
    pub services: BTreeMap<String, String>,
    /// Each Region's application health URL (`http://127.0.0.1:port/health`).
    pub web: BTreeMap<String, String>,
    /// The authoritative DNS server (UDP and TCP).
    pub dns: SocketAddr,
}

impl Endpoints {
    /// The shared endpoint URL of `service`.
    pub fn url(&self, service: &str) -> Option<&str> {
        self.services.get(service).map(String::as_str)
    }

    /// The `AWS_ENDPOINT_URL_<SERVICE>` settings the SDKs read.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        let names = [
            (service::RDS, "AWS_ENDPOINT_URL_RDS"),
            (service::CLOUDWATCH, "AWS_ENDPOINT_URL_CLOUDWATCH"),
            (service::SNS, "AWS_ENDPOINT_URL_SNS"),
            (service::S3, "AWS_ENDPOINT_URL_S3"),
            (service::SECRETS_MANAGER, "AWS_ENDPOINT_URL_SECRETS_MANAGER"),
        ];
        names.iter().filter_map(|(s, var)| self.url(s).map(|u| (var.to_string(), u.to_string()))).collect()
    }
}

/// Builds a factory for a service handler: called once with the started [`Sim`].
pub type ServiceFactory = Box<dyn FnOnce(&Sim) -> Arc<dyn HttpService> + Send>;

/// Configures and starts a simulator.
pub struct SimBuilder {
    clock: SharedClock,
    plan: Plan,
    seed: u64,
    arc_regions: Option<Vec<String>>,
    propagation: Option<Duration>,
    alarm_delay: Duration,
    lag: Duration,
    factories: Vec<(String, ServiceFactory)>,
}

/// The five Regions of the default ARC cluster's endpoints.
pub const DEFAULT_ARC_REGIONS: [&str; 5] = ["us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1", "ap-southeast-2"];

impl SimBuilder {
    /// A simulator for the default plan (us-east-1 primary, us-west-2 secondary).
    pub fn new(clock: SharedClock) -> Self {
        Self::with_plan(clock, crate::default_plan())
    }

    /// A simulator shaped by `plan`: its Regions, routing controls and safety rules, alarms,
    /// DNS record, topics, buckets and secrets. ARC endpoint Regions come from the plan's
    /// cluster endpoints when there are any.
    pub fn with_plan(clock: SharedClock, plan: Plan) -> Self {
        Self {
            clock,
            plan,
            seed: 0,
            arc_regions: None,
            propagation: None,
            alarm_delay: Duration::from_secs(60),
            lag: Duration::from_millis(800),
            factories: Vec::new(),
        }
    }

    /// Seeds the random choices (throttling).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The Regions of the ARC cluster endpoints (five in a real cluster).
    pub fn arc_regions(mut self, regions: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.arc_regions = Some(regions.into_iter().map(Into::into).collect());
        self
    }

    /// How long Route 53 health checks take to see a routing-control change (default: the
    /// plan's `dns.health_check_propagation_seconds`).
    pub fn propagation_delay(mut self, d: Duration) -> Self {
        self.propagation = Some(d);
        self
    }

    /// How long a Region must be down before the canary alarms watching it go to ALARM.
    pub fn alarm_delay(mut self, d: Duration) -> Self {
        self.alarm_delay = d;
        self
    }

    /// The replication lag CloudWatch reports when no [`LagSource`] is set.
    pub fn replication_lag(mut self, d: Duration) -> Self {
        self.lag = d;
        self
    }

    /// Registers a service handler (e.g. the RDS model) built from the started simulator.
    pub fn service(mut self, name: &str, factory: impl FnOnce(&Sim) -> Arc<dyn HttpService> + Send + 'static) -> Self {
        self.factories.push((name.to_string(), Box::new(factory)));
        self
    }

    /// Binds every port on 127.0.0.1 and starts serving.
    pub async fn start(self) -> std::io::Result<Sim> {
        let plan = self.plan;
        let regions = [plan.regions.primary.clone(), plan.regions.secondary.clone()];
        let arc_regions = self.arc_regions.unwrap_or_else(|| {
            let from_plan: Vec<String> = plan.arc.cluster_endpoints.iter().map(|e| e.region.clone()).collect();
            if from_plan.is_empty() { DEFAULT_ARC_REGIONS.iter().map(|s| s.to_string()).collect() } else { from_plan }
        });
        let propagation =
            self.propagation.unwrap_or(Duration::from_secs(u64::from(plan.dns.health_check_propagation_seconds)));
        let now = self.clock.now();
        let health = regions
            .iter()
            .map(|r| (r.clone(), RegionStatus { up: true, mode: DownMode::Refuse, since: SystemTime::UNIX_EPOCH }))
            .collect();
        let world = crate::world::World::from_plan(&plan, now, propagation, self.alarm_delay, self.lag);
        let (changes, _) = watch::channel(0u64);
        let inner = Arc::new(Inner {
            clock: self.clock,
            regions,
            template: plan,
            changes,
            control: Mutex::new(Control {
                health,
                transitions: Vec::new(),
                endpoint_faults: BTreeMap::new(),
                throttle: BTreeMap::new(),
                latency: BTreeMap::new(),
                rng: StdRng::seed_from_u64(self.seed),
                calls: Vec::new(),
            }),
            world: Mutex::new(world),
            handlers: RwLock::new(BTreeMap::new()),
            extensions: Mutex::new(HashMap::new()),
            lag_source: RwLock::new(None),
            control_hooks: Mutex::new(BTreeMap::new()),
            endpoints: OnceLock::new(),
        });
        let sim = Sim(inner);
        crate::world::register_builtin_services(&sim);

        let mut arc = Vec::new();
        for (i, region) in arc_regions.iter().enumerate() {
            let l = server::bind(&sim, service::ARC, i, Some(region.clone())).await?;
            arc.push((format!("http://{}/v1", l.addr), region.clone()));
        }
        let mut services = BTreeMap::new();
        for name in service::SHARED {
            let l = server::bind(&sim, name, 0, None).await?;
            services.insert(name.to_string(), format!("http://{}", l.addr));
        }
        let mut web = BTreeMap::new();
        for (i, region) in sim.regions().iter().enumerate() {
            let l = server::bind(&sim, service::WEB, i, Some(region.clone())).await?;
            web.insert(region.clone(), format!("http://{}/health", l.addr));
        }
        let dns = crate::dns::start(&sim).await?;
        let _ = sim.0.endpoints.set(Endpoints { arc, services, web, dns });
        for (name, factory) in self.factories {
            let handler = factory(&sim);
            sim.register_service(&name, handler);
        }
        Ok(sim)
    }
}

struct Control {
    health: BTreeMap<String, RegionStatus>,
    transitions: Vec<HealthTransition>,
    endpoint_faults: BTreeMap<(String, usize), EndpointFault>,
    throttle: BTreeMap<String, f64>,
    latency: BTreeMap<String, Duration>,
    rng: StdRng,
    calls: Vec<CallRecord>,
}

struct Inner {
    clock: SharedClock,
    regions: [String; 2],
    template: Plan,
    changes: watch::Sender<u64>,
    control: Mutex<Control>,
    world: Mutex<crate::world::World>,
    handlers: RwLock<BTreeMap<String, Arc<dyn HttpService>>>,
    extensions: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    lag_source: RwLock<Option<LagSource>>,
    control_hooks: Mutex<BTreeMap<String, crate::control::ControlHook>>,
    endpoints: OnceLock<Endpoints>,
}

/// The handle to a running simulator. Clones share it; dropping the last one stops it.
#[derive(Clone)]
pub struct Sim(Arc<Inner>);

/// A handle that does not keep the simulator alive (held by services and listeners).
#[derive(Clone)]
pub struct WeakSim(Weak<Inner>);

impl WeakSim {
    pub fn upgrade(&self) -> Option<Sim> {
        self.0.upgrade().map(Sim)
    }
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim").field("regions", &self.0.regions).field("endpoints", &self.0.endpoints.get()).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic inside a handler must not take the whole simulator down with poison.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sim {
    pub fn downgrade(&self) -> WeakSim {
        WeakSim(Arc::downgrade(&self.0))
    }

    pub fn clock(&self) -> &SharedClock {
        &self.0.clock
    }

    /// The plan's Regions: `[primary, secondary]`.
    pub fn regions(&self) -> &[String; 2] {
        &self.0.regions
    }

    /// The Region of the pair that is not `region`.
    pub fn other_region(&self, region: &str) -> &str {
        if self.0.regions[0] == region { &self.0.regions[1] } else { &self.0.regions[0] }
    }

    pub fn endpoints(&self) -> &Endpoints {
        self.0.endpoints.get().expect("endpoints are set before the simulator is returned")
    }

    /// The plan the simulator was built from (with its real-world URLs).
    pub fn template_plan(&self) -> &Plan {
        &self.0.template
    }

    /// The plan pointing at this simulator: ARC endpoints, name servers and health URLs
    /// rewritten to the loopback ports; everything else as in the template.
    pub fn plan(&self) -> Plan {
        let mut plan = self.0.template.clone();
        let eps = self.endpoints();
        plan.arc.cluster_endpoints = eps
            .arc
            .iter()
            .map(|(url, region)| failover_core::plan::ClusterEndpoint { url: url.clone(), region: region.clone() })
            .collect();
        plan.dns.name_servers = vec![eps.dns.to_string()];
        for (region, h) in plan.health.iter_mut() {
            if let Some(url) = eps.web.get(region) {
                h.http = vec![failover_core::plan::HttpCheck {
                    url: url.clone(),
                    expected_status: 200,
                    max_latency_ms: h.http.first().map_or(2000, |c| c.max_latency_ms),
                }];
            }
        }
        plan
    }

    /// Writes [`Sim::plan`] as YAML.
    pub fn write_plan(&self, path: &Path) -> std::io::Result<()> {
        let yaml = serde_norway::to_string(&self.plan()).map_err(std::io::Error::other)?;
        let header = "# Written by regionsim: this plan points at a simulated Region pair on 127.0.0.1.\n";
        std::fs::write(path, format!("{header}{yaml}"))
    }

    // ----- services -----

    /// Registers (or replaces) the handler behind `name`'s port.
    pub fn register_service(&self, name: &str, handler: Arc<dyn HttpService>) {
        self.0.handlers.write().unwrap_or_else(|e| e.into_inner()).insert(name.to_string(), handler);
    }

    pub fn service_handler(&self, name: &str) -> Option<Arc<dyn HttpService>> {
        self.0.handlers.read().unwrap_or_else(|e| e.into_inner()).get(name).cloned()
    }

    /// Stores a value any component can fetch by type (e.g. the RDS model for drills).
    pub fn insert_extension<T: Any + Send + Sync>(&self, value: Arc<T>) {
        lock(&self.0.extensions).insert(TypeId::of::<T>(), value);
    }

    pub fn extension<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        lock(&self.0.extensions).get(&TypeId::of::<T>()).cloned().and_then(|v| v.downcast::<T>().ok())
    }

    /// Sets where CloudWatch's replication-lag metrics come from.
    pub fn set_lag_source(&self, source: LagSource) {
        *self.0.lag_source.write().unwrap_or_else(|e| e.into_inner()) = Some(source);
    }

    pub(crate) fn lag_source(&self) -> Option<LagSource> {
        self.0.lag_source.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn world(&self) -> MutexGuard<'_, crate::world::World> {
        lock(&self.0.world)
    }

    // ----- health and faults -----

    /// A receiver that changes whenever health or a fault changes.
    pub fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.0.changes.subscribe()
    }

    fn changed(&self) {
        self.0.changes.send_modify(|g| *g += 1);
    }

    pub fn region_status(&self, region: &str) -> Option<RegionStatus> {
        lock(&self.0.control).health.get(region).copied()
    }

    /// Whether `region` is up; Regions outside the pair (ARC endpoint Regions) are up.
    pub fn region_up(&self, region: &str) -> bool {
        self.region_status(region).is_none_or(|s| s.up)
    }

    /// Takes a Region down: its endpoints refuse or hang, its canaries alarm.
    pub fn set_region_down(&self, region: &str, mode: DownMode) {
        let now = self.clock().now();
        {
            let mut c = lock(&self.0.control);
            let entry = c.health.entry(region.to_string()).or_insert(RegionStatus { up: true, mode, since: now });
            let was_up = entry.up;
            if was_up || entry.mode != mode {
                *entry = RegionStatus { up: false, mode, since: if was_up { now } else { entry.since } };
            }
            if was_up {
                c.transitions.push(HealthTransition { at: now, region: region.to_string(), up: false });
            }
        }
        tracing::info!(region, ?mode, "region down");
        self.changed();
    }

    /// Brings a Region back.
    pub fn set_region_up(&self, region: &str) {
        let now = self.clock().now();
        {
            let mut c = lock(&self.0.control);
            let entry = c.health.entry(region.to_string()).or_insert(RegionStatus {
                up: true,
                mode: DownMode::Refuse,
                since: now,
            });
            if !entry.up {
                *entry = RegionStatus { up: true, mode: entry.mode, since: now };
                c.transitions.push(HealthTransition { at: now, region: region.to_string(), up: true });
            }
        }
        tracing::info!(region, "region up");
        self.changed();
    }

    /// Every Region transition so far, oldest first (a Region may go down and come back
    /// between two looks at [`Sim::region_status`]).
    pub fn health_transitions(&self) -> Vec<HealthTransition> {
        lock(&self.0.control).transitions.clone()
    }

    /// Registers a control-API hook served at `POST /x/{name}` (e.g. the RDS model's
    /// `stall`).
    pub fn register_control(&self, name: &str, hook: crate::control::ControlHook) {
        lock(&self.0.control_hooks).insert(name.to_string(), hook);
    }

    pub fn control_hook(&self, name: &str) -> Option<crate::control::ControlHook> {
        lock(&self.0.control_hooks).get(name).cloned()
    }

    /// The fault on ARC endpoint `index`, if any.
    pub fn arc_endpoint_fault(&self, index: usize) -> Option<EndpointFault> {
        lock(&self.0.control).endpoint_faults.get(&(service::ARC.to_string(), index)).copied()
    }

    /// Sets or clears (`None`) a fault on endpoint `index` of `service` (ARC: 0..5).
    pub fn set_endpoint_fault(&self, service: &str, index: usize, fault: Option<EndpointFault>) {
        {
            let mut c = lock(&self.0.control);
            match fault {
                Some(f) => c.endpoint_faults.insert((service.to_string(), index), f),
                None => c.endpoint_faults.remove(&(service.to_string(), index)),
            };
        }
        self.changed();
    }

    /// Makes the first `k` ARC endpoints fail with `fault` and clears the others.
    pub fn kill_arc_endpoints(&self, k: usize, fault: EndpointFault) {
        let n = self.endpoints().arc.len();
        for i in 0..n {
            self.set_endpoint_fault(service::ARC, i, (i < k).then_some(fault));
        }
    }

    pub fn endpoint_fault(&self, listener: &Listener) -> Option<EndpointFault> {
        lock(&self.0.control).endpoint_faults.get(&(listener.service.clone(), listener.index)).copied()
    }

    /// The probability (0..=1) that a call to `service` is throttled.
    pub fn set_throttle_rate(&self, service: &str, rate: f64) {
        lock(&self.0.control).throttle.insert(service.to_string(), rate.clamp(0.0, 1.0));
        self.changed();
    }

    /// Extra latency added to every call to `service` (on the sim clock).
    pub fn set_extra_latency(&self, service: &str, latency: Duration) {
        lock(&self.0.control).latency.insert(service.to_string(), latency);
        self.changed();
    }

    pub(crate) fn extra_latency(&self, service: &str) -> Duration {
        lock(&self.0.control).latency.get(service).copied().unwrap_or_default()
    }

    pub(crate) fn roll_throttle(&self, service: &str) -> bool {
        let mut c = lock(&self.0.control);
        let rate = c.throttle.get(service).copied().unwrap_or(0.0);
        rate > 0.0 && c.rng.random_bool(rate)
    }

    /// A number from the simulator's seeded generator, in `0.0..1.0`.
    pub fn random_f64(&self) -> f64 {
        lock(&self.0.control).rng.random()
    }

    /// Decides how a listener treats connections: an endpoint fault first, then the
    /// health of `region` (the endpoint's own Region or the request's signing Region).
    pub(crate) fn gate(&self, listener: &Listener, region: Option<&str>) -> Gate {
        let c = lock(&self.0.control);
        match c.endpoint_faults.get(&(listener.service.clone(), listener.index)) {
            Some(EndpointFault::Refuse) => return Gate::Refuse,
            Some(EndpointFault::Hang) => return Gate::Hang,
            _ => {}
        }
        match region.and_then(|r| c.health.get(r)) {
            Some(s) if !s.up => match s.mode {
                DownMode::Refuse => Gate::Refuse,
                DownMode::Hang => Gate::Hang,
            },
            _ => Gate::Open,
        }
    }

    // ----- the call log -----

    pub(crate) fn record_call_start(&self, req: &Request, operation: &str, mutating: bool) -> u64 {
        let at = self.clock().now();
        let mut c = lock(&self.0.control);
        let seq = c.calls.len() as u64;
        c.calls.push(CallRecord {
            seq,
            at,
            service: req.listener.service.clone(),
            operation: operation.to_string(),
            region: req.effective_region().map(str::to_string),
            endpoint: req.listener.index,
            mutating,
            fingerprint: {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                (&req.listener.service, operation, &req.path, &req.query, &req.body[..]).hash(&mut h);
                h.finish()
            },
            status: None,
        });
        seq
    }

    pub(crate) fn record_call_end(&self, seq: u64, status: u16) {
        if let Some(r) = lock(&self.0.control).calls.get_mut(seq as usize) {
            r.status = Some(status);
        }
    }

    /// Every call the servers answered or are answering, in arrival order.
    pub fn calls(&self) -> Vec<CallRecord> {
        lock(&self.0.control).calls.clone()
    }

    /// Successful mutating calls that repeat an earlier successful one (same fingerprint):
    /// what an idempotent step must never produce.
    pub fn repeated_mutations(&self) -> Vec<CallRecord> {
        let mut seen = std::collections::BTreeSet::new();
        lock(&self.0.control)
            .calls
            .iter()
            .filter(|c| c.mutating && c.status.is_some_and(|s| (200..300).contains(&s)))
            .filter(|c| !seen.insert(c.fingerprint))
            .cloned()
            .collect()
    }

    /// Call counts per service and operation.
    pub fn api_calls(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for c in lock(&self.0.control).calls.iter() {
            *out.entry(c.service.clone()).or_default().entry(c.operation.clone()).or_default() += 1;
        }
        out
    }
}
