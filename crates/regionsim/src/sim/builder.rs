//! Starting a simulator: [`SimBuilder`] makes the kernel, hands a [`Setup`] to every
//! registration of `crate::services::BUILTIN` (each builds its service from the plan and
//! asks for the ports it serves), binds those ports and returns the [`Sim`].

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use failover_core::SharedClock;
use failover_core::plan::Plan;

use super::Sim;
use crate::endpoints::{Endpoints, Listeners};
use crate::server::{self, HttpService};
use crate::world::World;

/// One service's registration: builds it from the plan and asks for its ports. The list of
/// them is `crate::services::BUILTIN`.
pub type Register = fn(&mut Setup<'_>);

/// Rewrites what a service serves in a plan to its loopback addresses (see [`Sim::plan`]).
pub type PlanRewrite = fn(&mut Plan, &Endpoints);

/// Starts a listener that is not HTTP (the DNS server) and returns its address.
pub type SocketStart = for<'a> fn(&'a Sim) -> Pin<Box<dyn Future<Output = std::io::Result<SocketAddr>> + Send + 'a>>;

/// Builds a factory for a service handler: called once with the started [`Sim`].
pub type ServiceFactory = Box<dyn FnOnce(&Sim) -> Arc<dyn HttpService> + Send>;

/// A port a registration asks for.
enum Listen {
    /// One port serving both Regions; `env_var` is the SDK's `AWS_ENDPOINT_URL_*` for it.
    Shared {
        service: &'static str,
        env_var: Option<&'static str>,
    },
    /// One port per Region, in order, each answering as its Region; URLs end in `path`.
    Regional {
        service: &'static str,
        regions: Vec<String>,
        path: &'static str,
    },
    Socket {
        service: &'static str,
        start: SocketStart,
    },
}

/// What a registration sees and asks for while the simulator starts.
pub struct Setup<'a> {
    sim: &'a Sim,
    now: SystemTime,
    settings: &'a Settings,
    listen: Vec<Listen>,
    rewrites: Vec<PlanRewrite>,
}

impl<'a> Setup<'a> {
    /// The simulator being started (its ports are not bound yet).
    pub fn sim(&self) -> &'a Sim {
        self.sim
    }

    /// The plan the simulator is built from.
    pub fn plan(&self) -> &'a Plan {
        self.sim.template_plan()
    }

    /// The sim clock's time at start.
    pub fn now(&self) -> SystemTime {
        self.now
    }

    /// A service's settings as given to [`SimBuilder::setting`], else their default.
    pub fn setting<T: Clone + Default + Send + Sync + 'static>(&self) -> T {
        self.settings.get(&TypeId::of::<T>()).and_then(|v| v.downcast_ref::<T>()).cloned().unwrap_or_default()
    }

    /// Serves `service` on `name`'s ports and makes it reachable as `sim.service::<S>()`.
    pub fn serve<S: HttpService>(&mut self, name: &str, service: Arc<S>) {
        self.sim.register_service(name, service.clone());
        self.sim.provide(service);
    }

    /// [`Setup::serve`] on one port of its own, serving both Regions: what most services do.
    pub fn serve_shared<S: HttpService>(&mut self, name: &'static str, env_var: Option<&'static str>, service: Arc<S>) {
        self.serve(name, service);
        self.listen_shared(name, env_var);
    }

    /// One port for `service`, serving both Regions (the Region comes from the SigV4 scope);
    /// `env_var` is the SDK's `AWS_ENDPOINT_URL_*` variable for it.
    pub fn listen_shared(&mut self, service: &'static str, env_var: Option<&'static str>) {
        self.listen.push(Listen::Shared { service, env_var });
    }

    /// One port for `service` per Region in `regions`, in order (endpoint index = position);
    /// their URLs end in `path`.
    pub fn listen_regional(&mut self, service: &'static str, regions: Vec<String>, path: &'static str) {
        self.listen.push(Listen::Regional { service, regions, path });
    }

    /// A listener the service starts itself (not HTTP).
    pub fn listen_socket(&mut self, service: &'static str, start: SocketStart) {
        self.listen.push(Listen::Socket { service, start });
    }

    /// Adds what this service rewrites in [`Sim::plan`].
    pub fn rewrite_plan(&mut self, rewrite: PlanRewrite) {
        self.rewrites.push(rewrite);
    }
}

type Settings = HashMap<TypeId, Box<dyn Any + Send + Sync>>;

/// Configures and starts a simulator.
pub struct SimBuilder {
    clock: SharedClock,
    plan: Plan,
    seed: u64,
    world: Option<World>,
    as_planned: bool,
    settings: Settings,
    factories: Vec<(String, ServiceFactory)>,
}

impl SimBuilder {
    /// A simulator for the default plan (us-east-1 primary, us-west-2 secondary).
    pub fn new(clock: SharedClock) -> Self {
        Self::with_plan(clock, crate::default_plan())
    }

    /// A simulator shaped by `plan`: its Regions, routing controls and safety rules, alarms,
    /// DNS record, topics, buckets and secrets. ARC endpoint Regions come from the plan's
    /// cluster endpoints when there are any.
    pub fn with_plan(clock: SharedClock, plan: Plan) -> Self {
        Self { clock, plan, seed: 0, world: None, as_planned: false, settings: HashMap::new(), factories: Vec::new() }
    }

    /// Seeds the random choices (throttling) and the world ([`World::draw`]) unless one is
    /// given.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The simulated world's figures (by default, [`World::draw`] of the seed).
    pub fn world(mut self, world: World) -> Self {
        self.world = Some(world);
        self
    }

    /// A world with no latency of its own whose propagation and TTL are the plan's
    /// ([`World::as_the_plan_believes`]): for protocol tests that pin exact times.
    pub fn world_as_planned(mut self) -> Self {
        self.as_planned = true;
        self
    }

    /// Changes a service's settings (e.g. `arc::ArcSettings`), which it reads when it is
    /// built ([`Setup::setting`]).
    pub fn setting<T: Default + Send + Sync + 'static>(mut self, change: impl FnOnce(&mut T)) -> Self {
        let entry = self.settings.entry(TypeId::of::<T>()).or_insert_with(|| Box::new(T::default()));
        if let Some(value) = entry.downcast_mut::<T>() {
            change(value);
        }
        self
    }

    /// Registers a service handler (e.g. the RDS model) built from the started simulator.
    pub fn service(mut self, name: &str, factory: impl FnOnce(&Sim) -> Arc<dyn HttpService> + Send + 'static) -> Self {
        self.factories.push((name.to_string(), Box::new(factory)));
        self
    }

    /// Builds every service, binds every port on 127.0.0.1 and starts serving.
    pub async fn start(self) -> std::io::Result<Sim> {
        let now = self.clock.now();
        let world = match self.world {
            Some(w) => w,
            None if self.as_planned => World::as_the_plan_believes(&self.plan),
            None => World::draw(self.seed),
        };
        let sim = Sim::new(self.clock, self.plan, self.seed, world);
        let mut setup = Setup { sim: &sim, now, settings: &self.settings, listen: Vec::new(), rewrites: Vec::new() };
        for register in crate::services::BUILTIN {
            register(&mut setup);
        }
        let Setup { listen, rewrites, .. } = setup;

        let mut bound = Listeners::default();
        for l in listen {
            match l {
                Listen::Shared { service, env_var } => {
                    let l = server::bind(&sim, service, 0, None).await?;
                    bound.shared.push((service.to_string(), format!("http://{}", l.addr), env_var));
                }
                Listen::Regional { service, regions, path } => {
                    let mut urls = Vec::new();
                    for (i, region) in regions.into_iter().enumerate() {
                        let l = server::bind(&sim, service, i, Some(region.clone())).await?;
                        urls.push((format!("http://{}{path}", l.addr), region));
                    }
                    bound.regional.insert(service.to_string(), urls);
                }
                Listen::Socket { service, start } => {
                    bound.sockets.insert(service.to_string(), start(&sim).await?);
                }
            }
        }
        let _ = sim.0.endpoints.set(Endpoints::new(bound));
        let _ = sim.0.plan_rewrites.set(rewrites);
        for (name, factory) in self.factories {
            let handler = factory(&sim);
            sim.register_service(&name, handler);
        }
        Ok(sim)
    }
}
