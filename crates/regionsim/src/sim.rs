//! The kernel: the Region pair, its health, the faults, the clock, the call log, the
//! listeners and the registry of services. It names no service.
//!
//! [`SimBuilder::start`] (in `sim/builder.rs`) runs every registration of
//! `crate::services::BUILTIN`, binds the ports they ask for and returns a [`Sim`], a cheap
//! clonable handle. Everything a test or a drill changes or inspects goes through it: the
//! kernel's own state directly (health, faults, the call log), a service's state through
//! its typed handle, [`Sim::service`]. Services hold a [`WeakSim`] so that dropping the
//! last `Sim` stops the listeners.
//!
//! Architecture invariant: every service keeps its state behind its own lock; the kernel
//! holds only the kernel's. A service reads another through a narrow trait it finds in
//! the registry ([`Sim::try_service`] with a `dyn Trait`), not through the other's state.

mod builder;

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, Weak};
use std::time::{Duration, SystemTime};

use failover_core::SharedClock;
use failover_core::plan::Plan;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::endpoints::Endpoints;
use crate::iam::Authorization;
use crate::server::{HttpService, Listener, Request};
use crate::world::World;

pub use builder::{PlanRewrite, Register, ServiceFactory, Setup, SimBuilder, SocketStart};

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
    /// Who signed it: the access key id of its SigV4 credential; `None` when unsigned (a
    /// health probe of the application, not an AWS API).
    pub caller: Option<String>,
    /// What IAM evaluates for it, as the service read the request (see [`crate::iam`]);
    /// empty when the service does not say.
    pub authorizations: Vec<Authorization>,
}

impl CallRecord {
    /// A call made inside the process rather than through a listener: what the local Step
    /// Functions runner does with a state machine's role (invoking a function, starting
    /// an execution). Never mutating as the call log counts it (it repeats by design when
    /// a task is retried), numbered apart from the servers' calls (`seq` is the caller's).
    #[allow(clippy::too_many_arguments)]
    pub fn in_process(
        seq: u64,
        at: SystemTime,
        caller: &str,
        service: &str,
        operation: &str,
        region: &str,
        authorizations: Vec<Authorization>,
        status: Option<u16>,
    ) -> Self {
        CallRecord {
            seq,
            at,
            service: service.to_string(),
            operation: operation.to_string(),
            region: Some(region.to_string()),
            endpoint: 0,
            mutating: false,
            fingerprint: 0,
            status,
            caller: Some(caller.to_string()),
            authorizations,
        }
    }
}

struct Control {
    health: BTreeMap<String, RegionStatus>,
    /// A Region of the pair cut off from the rest ([`Sim::set_region_partitioned`]), since when.
    partition: Option<(String, SystemTime)>,
    transitions: Vec<HealthTransition>,
    endpoint_faults: BTreeMap<(String, usize), EndpointFault>,
    throttle: BTreeMap<String, f64>,
    latency: BTreeMap<String, Duration>,
    rng: StdRng,
    calls: Vec<CallRecord>,
}

/// Which Region a caller (by the access key id of its signature) runs in: what makes a call
/// in-Region or cross-Region ([`Sim::set_caller_regions`]).
pub type CallerRegions = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

struct Inner {
    clock: SharedClock,
    regions: [String; 2],
    template: Plan,
    /// The simulated world's figures (latencies, propagation, TTL, resolvers, durations).
    world: World,
    caller_regions: RwLock<Option<CallerRegions>>,
    changes: watch::Sender<u64>,
    control: Mutex<Control>,
    handlers: RwLock<BTreeMap<String, Arc<dyn HttpService>>>,
    /// By the `TypeId` of `T`, an `Arc<T>` (`T` may be a `dyn Trait`).
    services: RwLock<HashMap<TypeId, Box<dyn Any + Send + Sync>>>,
    control_hooks: Mutex<BTreeMap<String, crate::control::ControlHook>>,
    endpoints: OnceLock<Endpoints>,
    plan_rewrites: OnceLock<Vec<PlanRewrite>>,
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

    /// A handle to no simulator (unit tests of a service's pure parts).
    #[cfg(test)]
    pub(crate) fn dangling() -> Self {
        WeakSim(Weak::new())
    }
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim").field("regions", &self.0.regions).field("endpoints", &self.0.endpoints.get()).finish()
    }
}

/// Locks a service's or the kernel's state. A panic inside a handler must not take the
/// whole simulator down with poison.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sim {
    fn new(clock: SharedClock, template: Plan, seed: u64, world: World) -> Self {
        let regions = [template.regions.primary.clone(), template.regions.secondary.clone()];
        let health = regions
            .iter()
            .map(|r| (r.clone(), RegionStatus { up: true, mode: DownMode::Refuse, since: SystemTime::UNIX_EPOCH }))
            .collect();
        let (changes, _) = watch::channel(0u64);
        Sim(Arc::new(Inner {
            clock,
            regions,
            template,
            world,
            caller_regions: RwLock::new(None),
            changes,
            control: Mutex::new(Control {
                health,
                partition: None,
                transitions: Vec::new(),
                endpoint_faults: BTreeMap::new(),
                throttle: BTreeMap::new(),
                latency: BTreeMap::new(),
                rng: StdRng::seed_from_u64(seed),
                calls: Vec::new(),
            }),
            handlers: RwLock::new(BTreeMap::new()),
            services: RwLock::new(HashMap::new()),
            control_hooks: Mutex::new(BTreeMap::new()),
            endpoints: OnceLock::new(),
            plan_rewrites: OnceLock::new(),
        }))
    }

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

    /// The plan pointing at this simulator: every service rewrites what it serves (ARC
    /// endpoints, name servers, health URLs) to its loopback ports; everything else as in
    /// the template.
    pub fn plan(&self) -> Plan {
        let mut plan = self.0.template.clone();
        for rewrite in self.0.plan_rewrites.get().into_iter().flatten() {
            rewrite(&mut plan, self.endpoints());
        }
        plan
    }

    /// Writes [`Sim::plan`] as YAML.
    pub fn write_plan(&self, path: &Path) -> std::io::Result<()> {
        let yaml = serde_norway::to_string(&self.plan()).map_err(std::io::Error::other)?;
        let header = "# Written by regionsim: this plan points at a simulated Region pair on 127.0.0.1.\n";
        std::fs::write(path, format!("{header}{yaml}"))
    }

    /// The simulated world: how long calls, propagation, caches and operations take in it
    /// (drawn from the builder's seed, or given with [`SimBuilder::world`]).
    pub fn world(&self) -> &World {
        &self.0.world
    }

    /// Tells the simulator in which Region each caller runs, by the access key id of its
    /// signature: a call from another Region than the service's costs a round trip more.
    /// Without it (or for an unsigned call, or a key it does not know) every call is taken
    /// to come from the service's own Region.
    pub fn set_caller_regions(&self, regions: CallerRegions) {
        *self.0.caller_regions.write().unwrap_or_else(|e| e.into_inner()) = Some(regions);
    }

    /// The Region the caller of `req` runs in, by its signature's access key id; `None` when
    /// unsigned or not known ([`Sim::set_caller_regions`]).
    pub(crate) fn caller_region(&self, req: &Request) -> Option<String> {
        crate::server::sigv4_access_key(&req.headers, &req.query).and_then(|akid| {
            let regions = self.0.caller_regions.read().unwrap_or_else(|e| e.into_inner());
            regions.as_ref().and_then(|f| f(&akid))
        })
    }

    /// What the world charges for `req` before it is answered: the service's time and the
    /// round trip from the caller's Region to the one the request is served in (a Regional
    /// endpoint's own Region, else the signing Region).
    pub(crate) fn call_latency(&self, req: &Request) -> Duration {
        let world = &self.0.world;
        if world.instant {
            return Duration::ZERO;
        }
        let caller = self.caller_region(req);
        let served_in = req.listener.region.as_deref().or(req.region.as_deref());
        world.call_latency(&req.listener.service, caller.as_deref().or(served_in), served_in)
    }

    // ----- the registry -----

    /// Registers (or replaces) the handler behind `name`'s port.
    pub fn register_service(&self, name: &str, handler: Arc<dyn HttpService>) {
        self.0.handlers.write().unwrap_or_else(|e| e.into_inner()).insert(name.to_string(), handler);
    }

    pub fn service_handler(&self, name: &str) -> Option<Arc<dyn HttpService>> {
        self.0.handlers.read().unwrap_or_else(|e| e.into_inner()).get(name).cloned()
    }

    /// Stores a value any component fetches by type: a service's own handle
    /// (`sim.provide(sns)`, then `sim.service::<Sns>()`) or a narrow trait another service
    /// reads through (`sim.provide::<dyn HealthChecks>(arc)`). Replaces an earlier one.
    pub fn provide<T: ?Sized + Send + Sync + 'static>(&self, value: Arc<T>) {
        self.0.services.write().unwrap_or_else(|e| e.into_inner()).insert(TypeId::of::<T>(), Box::new(value));
    }

    /// The value of type `T` given to [`Sim::provide`], if any.
    pub fn try_service<T: ?Sized + Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let services = self.0.services.read().unwrap_or_else(|e| e.into_inner());
        services.get(&TypeId::of::<T>()).and_then(|v| v.downcast_ref::<Arc<T>>()).cloned()
    }

    /// The handle of a registered service: `sim.service::<Sns>().messages()`.
    ///
    /// # Panics
    /// When no `T` was provided: every service of `crate::services::BUILTIN` is, from the
    /// moment the simulator starts; the others (the RDS model, Step Functions) are once
    /// installed, so use [`Sim::try_service`] for them.
    pub fn service<T: ?Sized + Send + Sync + 'static>(&self) -> Arc<T> {
        self.try_service::<T>().unwrap_or_else(|| panic!("regionsim: no {} is registered", std::any::type_name::<T>()))
    }

    /// Registers a control-API hook served at `POST /x/{name}` (e.g. the RDS model's
    /// `stall`).
    pub fn register_control(&self, name: &str, hook: crate::control::ControlHook) {
        lock(&self.0.control_hooks).insert(name.to_string(), hook);
    }

    pub fn control_hook(&self, name: &str) -> Option<crate::control::ControlHook> {
        lock(&self.0.control_hooks).get(name).cloned()
    }

    // ----- health and faults -----

    /// A receiver that changes whenever health or a fault changes.
    pub fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.0.changes.subscribe()
    }

    /// Wakes whoever waits on [`Sim::subscribe_changes`] (a service whose state others
    /// follow, like an alarm forced to a state).
    pub(crate) fn changed(&self) {
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

    /// Cuts `region` off from the other Region of the pair and from everyone outside it: the
    /// world sees it down (as [`Sim::set_region_down`]: the canaries watching it alarm, its
    /// endpoints refuse or hang for outside callers, its data stops), while its own stack
    /// goes on: calls signed by a caller in `region` reach `region` and the Regions outside
    /// the pair (the ARC endpoints elsewhere), never the other Region of the pair, and
    /// `region`'s canaries watching the other Region alarm too. [`Sim::set_region_up`] heals it.
    pub fn set_region_partitioned(&self, region: &str, mode: DownMode) {
        let now = self.clock().now();
        {
            let mut c = lock(&self.0.control);
            if c.partition.as_ref().is_none_or(|(r, _)| r != region) {
                c.partition = Some((region.to_string(), now));
            }
        }
        self.set_region_down(region, mode);
    }

    /// The partitioned Region and since when, if any.
    pub fn partition(&self) -> Option<(String, SystemTime)> {
        lock(&self.0.control).partition.clone()
    }

    /// `watched`'s health as the canaries in `from` see it: in a partition, the Region cut
    /// off sees the other Region of the pair down since the partition began, and itself up.
    pub fn region_status_seen_from(&self, from: &str, watched: &str) -> Option<RegionStatus> {
        let c = lock(&self.0.control);
        if let Some((p, since)) = &c.partition
            && p == from
        {
            let mode = c.health.get(p).map_or(DownMode::Refuse, |s| s.mode);
            if watched == from {
                // Its own signals, measured inside it, stay as they were: up.
                return Some(RegionStatus { up: true, mode, since: SystemTime::UNIX_EPOCH });
            }
            if self.0.regions.iter().any(|r| r == watched) {
                return Some(RegionStatus { up: false, mode, since: *since });
            }
        }
        c.health.get(watched).copied()
    }

    /// Whether `region`'s own services work for its own stack: it is up, or partitioned.
    pub fn region_works_inside(&self, region: &str) -> bool {
        self.region_up(region) || lock(&self.0.control).partition.as_ref().is_some_and(|(r, _)| r == region)
    }

    /// Brings a Region back (and heals its partition).
    pub fn set_region_up(&self, region: &str) {
        let now = self.clock().now();
        {
            let mut c = lock(&self.0.control);
            if c.partition.as_ref().is_some_and(|(r, _)| r == region) {
                c.partition = None;
            }
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

    /// The fault on endpoint `index` of `service`, if any.
    pub fn endpoint_fault_at(&self, service: &str, index: usize) -> Option<EndpointFault> {
        lock(&self.0.control).endpoint_faults.get(&(service.to_string(), index)).copied()
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

    /// Makes the first `k` Regional endpoints of `service` fail with `fault` and clears the
    /// others.
    pub fn kill_endpoints(&self, service: &str, k: usize, fault: EndpointFault) {
        let n = self.endpoints().regional(service).len();
        for i in 0..n {
            self.set_endpoint_fault(service, i, (i < k).then_some(fault));
        }
    }

    pub fn endpoint_fault(&self, listener: &Listener) -> Option<EndpointFault> {
        self.endpoint_fault_at(&listener.service, listener.index)
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
    /// health of `region` (the endpoint's own Region or the request's signing Region). The
    /// ports of a partitioned Region stay open: each request is judged by its caller
    /// ([`Sim::request_gate`]).
    pub(crate) fn gate(&self, listener: &Listener, region: Option<&str>) -> Gate {
        self.judge(listener, region, None, true)
    }

    /// How one request is treated: [`Sim::gate`], except in a partition, where a caller
    /// inside the partitioned Region reaches its own Region and the Regions outside the
    /// pair, and never the other Region of the pair.
    pub(crate) fn request_gate(&self, listener: &Listener, region: Option<&str>, caller: Option<&str>) -> Gate {
        self.judge(listener, region, caller, false)
    }

    /// Both gates, under one look at the control state: the endpoint's fault first, then
    /// the partition (a connection to the partitioned Region is open; a request from
    /// inside it is judged by where it goes), then `region`'s health.
    fn judge(&self, listener: &Listener, region: Option<&str>, caller: Option<&str>, connection: bool) -> Gate {
        let c = lock(&self.0.control);
        let down = |mode: DownMode| match mode {
            DownMode::Refuse => Gate::Refuse,
            DownMode::Hang => Gate::Hang,
        };
        match c.endpoint_faults.get(&(listener.service.clone(), listener.index)) {
            Some(EndpointFault::Refuse) => return Gate::Refuse,
            Some(EndpointFault::Hang) => return Gate::Hang,
            _ => {}
        }
        if let Some((p, _)) = &c.partition {
            if connection && region == Some(p.as_str()) {
                return Gate::Open;
            }
            if caller == Some(p.as_str()) {
                let mode = c.health.get(p).map_or(DownMode::Refuse, |s| s.mode);
                let other_of_pair = region.is_some_and(|r| r != p && self.0.regions.iter().any(|x| x == r));
                return if other_of_pair { down(mode) } else { Gate::Open };
            }
        }
        match region.and_then(|r| c.health.get(r)) {
            Some(s) if !s.up => down(s.mode),
            _ => Gate::Open,
        }
    }

    // ----- the call log -----

    pub(crate) fn record_call_start(
        &self,
        req: &Request,
        operation: &str,
        mutating: bool,
        authorizations: Vec<Authorization>,
    ) -> u64 {
        let at = self.clock().now();
        let caller = crate::server::sigv4_access_key(&req.headers, &req.query);
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
            caller,
            authorizations,
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

    /// Mutating calls that ask again for what an earlier successful mutating call already
    /// did (same fingerprint), whatever they were answered: a repeat that succeeded did the
    /// side effect twice, and a refused one (`InvalidGlobalClusterStateFault` for a second
    /// switchover) shows a step that did not read before it wrote.
    pub fn repeated_side_effects(&self) -> Vec<CallRecord> {
        let calls = lock(&self.0.control).calls.clone();
        let mut done = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for c in calls.into_iter().filter(|c| c.mutating) {
            if done.contains(&c.fingerprint) {
                out.push(c);
            } else if c.status.is_some_and(|s| (200..300).contains(&s)) {
                done.insert(c.fingerprint);
            }
        }
        out
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
