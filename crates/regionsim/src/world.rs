//! The simulated world's own figures: how long things take in it, drawn from seeded ranges.
//!
//! The plan holds the operator's beliefs about the world (`dns.ttl_seconds`,
//! `dns.health_check_propagation_seconds`); a [`World`] is what the world actually does, and
//! the two may disagree (a drill shows where). Every figure is drawn once per seed from a
//! [`Span`] of [`Ranges`], each draw from its own hash of (seed, figure name), so a figure
//! does not change when another is added or drawn in another order. The ranges and where
//! each comes from (a documented figure, or an estimate, marked as such) are in
//! `crates/regionsim/ARCHITECTURE-regionsim.md`, "Modeled time".
//!
//! What is modeled, and who spends it on the virtual clock:
//! * a call's latency: the service's own time in its Region plus one network round trip
//!   between the caller's Region and the service's ([`World::call_latency`], spent by the
//!   server before it answers; the caller's Region comes from `Sim::set_caller_regions`);
//! * a Lambda invocation's overhead, and the cold start of a function's first invocation
//!   in a new execution environment ([`World::lambda_invoke`], [`World::cold_start`], spent
//!   by whoever plays Lambda: the drill's dispatcher);
//! * a Step Functions state transition ([`World::state_transition`], spent by the local
//!   runner when the drill gives it);
//! * Route 53's health checks taking up a routing-control change, the record's TTL, and the
//!   resolvers that cache it, some for longer than the TTL ([`World::resolvers`]);
//! * Aurora's operation durations ([`World::rds`]);
//! * the approver: how long a person takes to decide ([`World::approver_delay`]).
//!
//! Nothing here is zero unless asked for: [`World::as_the_plan_believes`] is the world of
//! protocol tests that pin exact times (no latency, the plan's propagation and TTL).
//!
//! This module never reads the wall clock and holds no state: it is figures only.

use std::collections::BTreeMap;
use std::time::Duration;

use failover_core::plan::Plan;
use serde::Serialize;

use crate::rds::model::Timings;
use crate::services::service;

/// A range a figure is drawn from (seconds), and whether it is an estimate (no documented
/// figure: the simulator's own choice, to be replaced by a measurement).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Span {
    pub lo_s: f64,
    pub hi_s: f64,
    pub estimate: bool,
}

impl Span {
    /// A documented range.
    pub const fn documented(lo_s: f64, hi_s: f64) -> Self {
        Span { lo_s, hi_s, estimate: false }
    }

    /// An estimate.
    pub const fn estimate(lo_s: f64, hi_s: f64) -> Self {
        Span { lo_s, hi_s, estimate: true }
    }

    /// The figure `name` of the world of `seed`: uniform in `[lo, hi]`.
    pub fn draw(&self, seed: u64, name: &str) -> Duration {
        let x = self.lo_s + (self.hi_s - self.lo_s) * unit(seed, name);
        Duration::from_secs_f64(x.max(0.0))
    }

    /// Whether `d` lies in the range (both ends included).
    pub fn contains(&self, d: Duration) -> bool {
        (self.lo_s - 1e-9..=self.hi_s + 1e-9).contains(&d.as_secs_f64())
    }

    fn show(&self) -> String {
        let fmt = |x: f64| if x < 1.0 { format!("{:.0} ms", x * 1000.0) } else { format!("{x:.0} s") };
        let est = if self.estimate { ", estimate" } else { "" };
        format!("[{} - {}{est}]", fmt(self.lo_s), fmt(self.hi_s))
    }
}

/// A number in `[0, 1)` for the figure `name` of the world of `seed`: FNV-1a of both
/// (`failover_core::stable_hash`, stable across releases), mixed by SplitMix64's finaliser
/// so that names differing in one character give unrelated numbers.
pub fn unit(seed: u64, name: &str) -> f64 {
    let mut z = failover_core::stable_hash(format!("{seed}/{name}")).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// The simulated resolver population: how many, and how many keep an answer longer than
/// its TTL, by how much.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolverRanges {
    /// The resolvers the drill samples.
    pub count: usize,
    /// The share of them that cache past the TTL.
    pub stretching_share: f64,
    /// How much longer than the TTL those keep an answer (a factor).
    pub stretch: (f64, f64),
    /// Whether the share and the factor are estimates.
    pub estimate: bool,
}

/// Every range a [`World`] is drawn from. `Ranges::default()` is the simulator's model,
/// cited figure by figure in ARCHITECTURE-regionsim.md ("Modeled time").
#[derive(Debug, Clone, PartialEq)]
pub struct Ranges {
    /// A call's time inside the service, in its own Region, by service name.
    pub service_time: BTreeMap<String, Span>,
    /// A service not in `service_time`.
    pub default_service_time: Span,
    /// One network round trip between two Regions, by Region pair (names in order).
    pub round_trip: BTreeMap<(String, String), Span>,
    /// A pair not in `round_trip`.
    pub default_round_trip: Span,
    /// Lambda's own time around an invocation of a warm function (Step Functions to Lambda
    /// and back).
    pub lambda_invoke: Span,
    /// A function's first invocation in a new execution environment, on top of
    /// `lambda_invoke` (drawn per function).
    pub cold_start: Span,
    /// One Step Functions state transition.
    pub state_transition: Span,
    /// From a routing-control change to Route 53's health checks (and so the authoritative
    /// answers) reflecting it.
    pub health_check_propagation: Span,
    /// The record's TTL as the hosted zone has it (whole seconds).
    pub dns_ttl: Span,
    pub resolvers: ResolverRanges,
    /// How long the approver takes to decide once the e-mail is there.
    pub approver_delay: Span,
    pub switchover: Span,
    pub failover: Span,
    pub pending: Span,
    pub snapshot_after_recovery: Span,
    /// After the snapshot: the rejoin comes this long after it.
    pub rejoin_after_snapshot: Span,
    pub snapshot_copy: Span,
    pub restore: Span,
    pub create_instance: Span,
    pub delete_instance: Span,
    pub delete_cluster: Span,
    pub managed_secret: Span,
}

/// The Regions of the default ARC cluster and the plan's pair, and the round trips between
/// them (estimates from public inter-Region latency grids; see the architecture document).
const ROUND_TRIPS: &[(&str, &str, f64, f64)] = &[
    ("us-east-1", "us-west-2", 0.060, 0.075),
    ("eu-west-1", "us-east-1", 0.065, 0.080),
    ("ap-northeast-1", "us-east-1", 0.140, 0.165),
    ("ap-southeast-2", "us-east-1", 0.190, 0.215),
    ("eu-west-1", "us-west-2", 0.120, 0.140),
    ("ap-northeast-1", "us-west-2", 0.095, 0.115),
    ("ap-southeast-2", "us-west-2", 0.135, 0.155),
    ("ap-northeast-1", "eu-west-1", 0.200, 0.225),
    ("ap-southeast-2", "eu-west-1", 0.250, 0.275),
    ("ap-northeast-1", "ap-southeast-2", 0.100, 0.120),
];

fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b { (a.to_string(), b.to_string()) } else { (b.to_string(), a.to_string()) }
}

impl Default for Ranges {
    fn default() -> Self {
        let service_time: BTreeMap<String, Span> = [
            (service::ARC, Span::estimate(0.010, 0.040)),
            (service::RDS, Span::estimate(0.060, 0.200)),
            (service::CLOUDWATCH, Span::estimate(0.020, 0.080)),
            (service::SNS, Span::estimate(0.020, 0.060)),
            (service::S3, Span::estimate(0.020, 0.080)),
            (service::SECRETS_MANAGER, Span::estimate(0.015, 0.050)),
            (service::SFN, Span::estimate(0.020, 0.060)),
            (service::DYNAMODB, Span::documented(0.002, 0.009)),
            (service::FUNCTION_URLS, Span::estimate(0.020, 0.060)),
            (service::WEB, Span::estimate(0.010, 0.050)),
        ]
        .into_iter()
        .map(|(s, span)| (s.to_string(), span))
        .collect();
        let round_trip = ROUND_TRIPS.iter().map(|(a, b, lo, hi)| (pair(a, b), Span::estimate(*lo, *hi))).collect();
        Ranges {
            service_time,
            default_service_time: Span::estimate(0.020, 0.080),
            round_trip,
            default_round_trip: Span::estimate(0.050, 0.250),
            lambda_invoke: Span::estimate(0.010, 0.030),
            cold_start: Span::estimate(0.100, 0.400),
            state_transition: Span::estimate(0.010, 0.050),
            health_check_propagation: Span::estimate(15.0, 45.0),
            dns_ttl: Span::estimate(30.0, 60.0),
            resolvers: ResolverRanges { count: 200, stretching_share: 0.10, stretch: (1.5, 3.0), estimate: true },
            approver_delay: Span::estimate(120.0, 600.0),
            switchover: Span::estimate(60.0, 120.0),
            failover: Span::estimate(45.0, 90.0),
            pending: Span::estimate(3.0, 8.0),
            snapshot_after_recovery: Span::estimate(180.0, 600.0),
            rejoin_after_snapshot: Span::estimate(60.0, 180.0),
            snapshot_copy: Span::estimate(180.0, 480.0),
            restore: Span::estimate(480.0, 900.0),
            create_instance: Span::estimate(360.0, 720.0),
            delete_instance: Span::estimate(60.0, 120.0),
            delete_cluster: Span::estimate(60.0, 120.0),
            managed_secret: Span::estimate(20.0, 40.0),
        }
    }
}

/// One simulated resolver: it fetches the record from the authoritative servers every
/// `cache` (its clients keep it busy: it fetches again as soon as its copy expires), the
/// first time `phase` after the simulator starts, and answers its clients from its copy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Resolver {
    /// How long it keeps an answer: the TTL, or longer for a resolver that stretches it.
    pub cache: Duration,
    /// When, after the simulator's start, it first fetches (in `[0, cache)`).
    pub phase: Duration,
    /// Whether it keeps answers longer than their TTL.
    pub stretches: bool,
}

/// The figures of one simulated world (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct World {
    pub seed: u64,
    /// What the figures were drawn from (kept for the per-pair and per-function draws).
    pub ranges: Ranges,
    pub service_time: BTreeMap<String, Duration>,
    pub default_service_time: Duration,
    pub lambda_invoke: Duration,
    pub state_transition: Duration,
    pub health_check_propagation: Duration,
    pub dns_ttl: u32,
    pub resolvers: Vec<Resolver>,
    pub rds: Timings,
    /// No latency, propagation or TTL of its own: the world of [`World::as_the_plan_believes`].
    pub instant: bool,
}

impl World {
    /// The world of `seed`, drawn from the simulator's model (`Ranges::default()`).
    pub fn draw(seed: u64) -> World {
        Self::draw_from(Ranges::default(), seed)
    }

    /// The world of `seed`, drawn from `ranges`.
    pub fn draw_from(ranges: Ranges, seed: u64) -> World {
        let d = |span: &Span, name: &str| span.draw(seed, name);
        let service_time =
            ranges.service_time.iter().map(|(s, span)| (s.clone(), d(span, &format!("service/{s}")))).collect();
        let dns_ttl = d(&ranges.dns_ttl, "dns-ttl").as_secs_f64().round().max(1.0) as u32;
        let resolvers = draw_resolvers(&ranges.resolvers, seed, dns_ttl);
        let snapshot = d(&ranges.snapshot_after_recovery, "rds/snapshot-after-recovery");
        let rds = Timings {
            switchover: d(&ranges.switchover, "rds/switchover"),
            failover: d(&ranges.failover, "rds/failover"),
            pending: d(&ranges.pending, "rds/pending"),
            snapshot_after_recovery: Some(snapshot),
            rejoin_after_recovery: snapshot + d(&ranges.rejoin_after_snapshot, "rds/rejoin"),
            system_snapshot_retention: Timings::default().system_snapshot_retention,
            snapshot_copy: d(&ranges.snapshot_copy, "rds/snapshot-copy"),
            restore: d(&ranges.restore, "rds/restore"),
            create_instance: d(&ranges.create_instance, "rds/create-instance"),
            delete_instance: d(&ranges.delete_instance, "rds/delete-instance"),
            delete_cluster: d(&ranges.delete_cluster, "rds/delete-cluster"),
            managed_secret: d(&ranges.managed_secret, "rds/managed-secret"),
        };
        World {
            seed,
            service_time,
            default_service_time: d(&ranges.default_service_time, "service/*"),
            lambda_invoke: d(&ranges.lambda_invoke, "lambda/invoke"),
            state_transition: d(&ranges.state_transition, "states/transition"),
            health_check_propagation: d(&ranges.health_check_propagation, "dns/propagation"),
            dns_ttl,
            resolvers,
            rds,
            instant: false,
            ranges,
        }
    }

    /// A world with no latency of its own, whose Route 53 takes the plan's propagation and
    /// whose record has the plan's TTL, one resolver honouring it, and the RDS model's fixed
    /// durations: for protocol tests that pin exact times, never for a drill.
    pub fn as_the_plan_believes(plan: &Plan) -> World {
        let ttl = plan.dns.ttl_seconds.max(1);
        World {
            seed: 0,
            ranges: Ranges::default(),
            service_time: BTreeMap::new(),
            default_service_time: Duration::ZERO,
            lambda_invoke: Duration::ZERO,
            state_transition: Duration::ZERO,
            health_check_propagation: Duration::from_secs(u64::from(plan.dns.health_check_propagation_seconds)),
            dns_ttl: ttl,
            resolvers: vec![Resolver {
                cache: Duration::from_secs(u64::from(ttl)),
                phase: Duration::ZERO,
                stretches: false,
            }],
            rds: Timings::default(),
            instant: true,
        }
    }

    /// A call's time inside `service` in its own Region.
    pub fn service_time(&self, service: &str) -> Duration {
        if self.instant {
            return Duration::ZERO;
        }
        self.service_time.get(service).copied().unwrap_or(self.default_service_time)
    }

    /// One network round trip between two Regions; zero within a Region (or when either is
    /// unknown: a caller the simulator cannot place is taken to be in the service's Region).
    pub fn round_trip(&self, a: Option<&str>, b: Option<&str>) -> Duration {
        let (Some(a), Some(b)) = (a, b) else { return Duration::ZERO };
        if self.instant || a == b {
            return Duration::ZERO;
        }
        let key = pair(a, b);
        let span = self.ranges.round_trip.get(&key).copied().unwrap_or(self.ranges.default_round_trip);
        span.draw(self.seed, &format!("rtt/{}/{}", key.0, key.1))
    }

    /// What a call from `caller_region` to `service` in `service_region` costs before it is
    /// answered: the service's time plus one round trip between the Regions.
    pub fn call_latency(&self, service: &str, caller_region: Option<&str>, service_region: Option<&str>) -> Duration {
        self.service_time(service) + self.round_trip(caller_region, service_region)
    }

    /// Lambda's overhead around one invocation of a warm function.
    pub fn lambda_invoke(&self) -> Duration {
        self.lambda_invoke
    }

    /// The cold start of `function` (its first invocation in a new execution environment),
    /// on top of [`World::lambda_invoke`].
    pub fn cold_start(&self, function: &str) -> Duration {
        if self.instant {
            return Duration::ZERO;
        }
        self.ranges.cold_start.draw(self.seed, &format!("lambda/cold-start/{function}"))
    }

    /// One state transition of Step Functions.
    pub fn state_transition(&self) -> Duration {
        self.state_transition
    }

    /// How long the approver takes over the `n`-th request (from 1) once the e-mail is there.
    pub fn approver_delay(&self, n: usize) -> Duration {
        if self.instant {
            return Duration::ZERO;
        }
        self.ranges.approver_delay.draw(self.seed, &format!("approver/{n}"))
    }

    /// The longest time any resolver keeps an answer.
    pub fn longest_cache(&self) -> Duration {
        self.resolvers.iter().map(|r| r.cache).max().unwrap_or_default()
    }

    /// Every figure with its range, one line each: what the drill prints at its start.
    /// Estimates say so.
    pub fn figures(&self) -> Vec<(String, String)> {
        let r = &self.ranges;
        let secs = |d: Duration| format!("{:.1} s", d.as_secs_f64());
        let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
        if self.instant {
            return vec![(
                "world".into(),
                format!(
                    "as the plan believes: no latency, propagation {}, TTL {} s",
                    secs(self.health_check_propagation),
                    self.dns_ttl
                ),
            )];
        }
        let mut out = vec![
            (
                "health-check propagation".into(),
                format!("{} {}", secs(self.health_check_propagation), r.health_check_propagation.show()),
            ),
            ("record TTL".into(), format!("{} s {}", self.dns_ttl, r.dns_ttl.show())),
            (
                "resolvers".into(),
                format!(
                    "{} sampled, {} keep answers past the TTL (x{:.1}-x{:.1}{}), longest cache {}",
                    self.resolvers.len(),
                    self.resolvers.iter().filter(|x| x.stretches).count(),
                    r.resolvers.stretch.0,
                    r.resolvers.stretch.1,
                    if r.resolvers.estimate { ", estimate" } else { "" },
                    secs(self.longest_cache())
                ),
            ),
            ("Lambda invocation".into(), format!("{} {}", ms(self.lambda_invoke), r.lambda_invoke.show())),
            ("Lambda cold start".into(), format!("per function {}", r.cold_start.show())),
            ("state transition".into(), format!("{} {}", ms(self.state_transition), r.state_transition.show())),
            ("approver".into(), format!("decides after {} {}", secs(self.approver_delay(1)), r.approver_delay.show())),
        ];
        for (s, d) in &self.service_time {
            let span = r.service_time.get(s).copied().unwrap_or(r.default_service_time);
            out.push((format!("{s} call"), format!("{} {}", ms(*d), span.show())));
        }
        out.push(("cross-Region round trip".into(), format!("per Region pair {}", r.default_round_trip.show())));
        let t = &self.rds;
        for (name, d, span) in [
            ("Aurora switchover", t.switchover, r.switchover),
            ("Aurora failover", t.failover, r.failover),
            ("Aurora pending", t.pending, r.pending),
            ("snapshot copy", t.snapshot_copy, r.snapshot_copy),
            ("restore", t.restore, r.restore),
            ("instance", t.create_instance, r.create_instance),
        ] {
            out.push((name.into(), format!("{} {}", secs(d), span.show())));
        }
        out.push((
            "old primary's snapshot".into(),
            format!(
                "{} after the Region returns {}",
                t.snapshot_after_recovery.map_or("never".to_string(), secs),
                r.snapshot_after_recovery.show()
            ),
        ));
        out
    }
}

/// The resolver population of `seed`: `count` resolvers, each stretching the TTL with the
/// probability `stretching_share` (its own draw), each with its own phase.
fn draw_resolvers(r: &ResolverRanges, seed: u64, ttl: u32) -> Vec<Resolver> {
    let ttl = Duration::from_secs(u64::from(ttl));
    (0..r.count)
        .map(|i| {
            let stretches = unit(seed, &format!("resolver/{i}/stretches")) < r.stretching_share;
            let cache = if stretches {
                let f = r.stretch.0 + (r.stretch.1 - r.stretch.0) * unit(seed, &format!("resolver/{i}/stretch"));
                ttl.mul_f64(f)
            } else {
                ttl
            };
            let phase = cache.mul_f64(unit(seed, &format!("resolver/{i}/phase")));
            Resolver { cache, phase, stretches }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_modeled_cost_is_drawn_from_its_range() {
        let r = Ranges::default();
        for seed in [1u64, 2, 7, 1234] {
            let w = World::draw(seed);
            for (s, d) in &w.service_time {
                assert!(r.service_time[s].contains(*d), "{s}: {d:?}");
                assert!(!d.is_zero(), "{s}: a real cost is never zero");
            }
            assert!(r.lambda_invoke.contains(w.lambda_invoke));
            assert!(r.state_transition.contains(w.state_transition));
            assert!(r.health_check_propagation.contains(w.health_check_propagation));
            assert!(r.dns_ttl.contains(Duration::from_secs(u64::from(w.dns_ttl))));
            assert!(r.cold_start.contains(w.cold_start("routing-control")));
            assert!(r.approver_delay.contains(w.approver_delay(1)));
            assert!(r.switchover.contains(w.rds.switchover));
            assert!(r.failover.contains(w.rds.failover));
            assert!(r.pending.contains(w.rds.pending));
            assert!(r.restore.contains(w.rds.restore));
            assert!(r.snapshot_copy.contains(w.rds.snapshot_copy));
            assert!(w.rds.rejoin_after_recovery > w.rds.snapshot_after_recovery.unwrap());
            let rtt = w.round_trip(Some("us-east-1"), Some("us-west-2"));
            assert!(r.round_trip[&pair("us-west-2", "us-east-1")].contains(rtt), "{rtt:?}");
            assert_eq!(w.round_trip(Some("us-west-2"), Some("us-west-2")), Duration::ZERO);
            assert_eq!(w.resolvers.len(), r.resolvers.count);
            let ttl = Duration::from_secs(u64::from(w.dns_ttl));
            for x in &w.resolvers {
                assert!(x.phase < x.cache);
                if x.stretches {
                    assert!(
                        (ttl.mul_f64(r.resolvers.stretch.0)..=ttl.mul_f64(r.resolvers.stretch.1)).contains(&x.cache)
                    );
                } else {
                    assert_eq!(x.cache, ttl);
                }
            }
            let stretching = w.resolvers.iter().filter(|x| x.stretches).count();
            assert!(stretching > 0 && stretching < r.resolvers.count / 4, "{stretching} stretching resolvers");
        }
    }

    #[test]
    fn the_same_seed_draws_the_same_world_and_another_seed_another() {
        assert_eq!(World::draw(7), World::draw(7));
        let (a, b) = (World::draw(7), World::draw(8));
        assert_ne!(a.health_check_propagation, b.health_check_propagation);
        assert_ne!(a.rds.switchover, b.rds.switchover);
        assert_ne!(a.resolvers, b.resolvers);
        assert_eq!(a.cold_start("notify"), World::draw(7).cold_start("notify"));
        assert_ne!(a.cold_start("notify"), a.cold_start("preflight"), "each function its own draw");
        assert_eq!(a.approver_delay(2), World::draw(7).approver_delay(2));
    }

    #[test]
    fn a_draw_does_not_depend_on_the_others() {
        let mut ranges = Ranges::default();
        ranges.service_time.insert("newservice".into(), Span::estimate(1.0, 2.0));
        let (a, b) = (World::draw(3), World::draw_from(ranges, 3));
        assert_eq!(a.health_check_propagation, b.health_check_propagation);
        assert_eq!(a.service_time[service::ARC], b.service_time[service::ARC]);
    }

    #[test]
    fn the_plan_believing_world_costs_nothing_and_takes_the_plans_figures() {
        let plan = crate::default_plan();
        let w = World::as_the_plan_believes(&plan);
        assert_eq!(w.call_latency(service::RDS, Some("us-east-1"), Some("us-west-2")), Duration::ZERO);
        assert_eq!(w.dns_ttl, plan.dns.ttl_seconds);
        assert_eq!(w.health_check_propagation.as_secs(), u64::from(plan.dns.health_check_propagation_seconds));
        assert_eq!(w.cold_start("notify"), Duration::ZERO);
    }

    #[test]
    fn a_cross_region_call_costs_a_round_trip_more() {
        let w = World::draw(5);
        let near = w.call_latency(service::ARC, Some("us-west-2"), Some("us-west-2"));
        let far = w.call_latency(service::ARC, Some("us-west-2"), Some("ap-southeast-2"));
        assert_eq!(far - near, w.round_trip(Some("ap-southeast-2"), Some("us-west-2")));
        assert!(far > near + Duration::from_millis(100));
        assert_eq!(w.call_latency(service::ARC, None, Some("ap-southeast-2")), near, "an unplaced caller is local");
    }
}
