//! The clients' side of DNS: a seeded population of caching resolvers that query the
//! authoritative servers over time and answer from their copies, some keeping a copy longer
//! than its TTL (`crate::world::Resolver`).
//!
//! Clients have moved when the resolvers they ask answer the new Region, not when the
//! authoritative answer changed: this is what a drill observes ([`Resolvers::switched_by`]).
//! Each resolver fetches the record every `cache` from `phase` after the simulator's
//! start; what it gets is the authoritative answer at that instant (`Dns::answer_at`). The
//! population is lazy, like the Aurora model: nothing runs on a timer, an answer is worked
//! out from the resolver's fetch times when asked, and only up to the clock's now.
//!
//! It never reads the wall clock and holds no lock of its own.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::dns::{Dns, DnsAnswer};
use crate::sim::{Setup, WeakSim};
use crate::world::Resolver;

/// The resolver population: `sim.service::<Resolvers>()`.
pub struct Resolvers {
    sim: WeakSim,
    start: SystemTime,
    population: Vec<Resolver>,
}

impl Resolvers {
    /// The world's resolvers, from the simulator's start.
    pub fn register(setup: &mut Setup<'_>) {
        let population = setup.sim().world().resolvers.clone();
        let resolvers = Arc::new(Resolvers::new(setup.sim().downgrade(), setup.now(), population));
        setup.sim().provide(resolvers);
    }

    fn new(sim: WeakSim, start: SystemTime, population: Vec<Resolver>) -> Self {
        Resolvers { sim, start, population }
    }

    pub fn population(&self) -> &[Resolver] {
        &self.population
    }

    /// The latest fetch of resolver `r` at or before `t` (the simulator's start before its
    /// first: it came up with the answer of that moment).
    fn last_fetch(&self, r: &Resolver, t: SystemTime) -> SystemTime {
        let first = self.start + r.phase;
        if t < first {
            return self.start;
        }
        if r.cache.is_zero() {
            return t;
        }
        let since = t.duration_since(first).unwrap_or_default();
        let k = (since.as_secs_f64() / r.cache.as_secs_f64()).floor();
        let at = first + r.cache.mul_f64(k);
        // Float rounding must not put the fetch after `t`.
        if at > t { at.checked_sub(r.cache).unwrap_or(first).max(first) } else { at }
    }

    /// The first fetch of resolver `r` at or after `t`.
    fn next_fetch(&self, r: &Resolver, t: SystemTime) -> SystemTime {
        let first = self.start + r.phase;
        if t <= first {
            return first;
        }
        if r.cache.is_zero() {
            return t;
        }
        let since = t.duration_since(first).unwrap_or_default();
        let k = (since.as_secs_f64() / r.cache.as_secs_f64()).ceil();
        let at = first + r.cache.mul_f64(k);
        // Float rounding must not put the fetch before `t`.
        if at < t { at + r.cache } else { at }
    }

    /// What resolver `index` answers its clients at `t` (at most the clock's now): the
    /// authoritative answer of its latest fetch.
    pub fn answer(&self, index: usize, t: SystemTime) -> Option<DnsAnswer> {
        let r = self.population.get(index)?;
        let dns = self.sim.upgrade()?.service::<Dns>();
        Some(dns.answer_at(self.last_fetch(r, t)))
    }

    /// The next fetch of any resolver strictly after `t`.
    pub fn next_fetch_after(&self, t: SystemTime) -> Option<SystemTime> {
        let just_after = t + Duration::from_nanos(1);
        self.population.iter().map(|r| self.next_fetch(r, just_after)).min()
    }

    /// The first moment in `[from, until]` (`until` at most the clock's now) at which every
    /// resolver answers `regions` exactly, as their clients see them: each resolver's copy is
    /// followed from `from`, fetch by fetch, in time order. `None` when some resolver still
    /// answers otherwise at `until`.
    pub fn switched_by(&self, regions: &[String], from: SystemTime, until: SystemTime) -> Option<SystemTime> {
        let sim = self.sim.upgrade()?;
        let dns = sim.service::<Dns>();
        let until = until.min(sim.clock().now());
        let serves = |at: SystemTime| dns.answer_at(at).regions == regions;
        let mut on_target: Vec<bool> = self.population.iter().map(|r| serves(self.last_fetch(r, from))).collect();
        let mut count = on_target.iter().filter(|x| **x).count();
        if count == self.population.len() {
            return Some(from);
        }
        let mut fetches: BinaryHeap<Reverse<(SystemTime, usize)>> = self
            .population
            .iter()
            .enumerate()
            .map(|(i, r)| Reverse((self.next_fetch(r, from + Duration::from_nanos(1)), i)))
            .collect();
        while let Some(Reverse((at, i))) = fetches.pop() {
            if at > until {
                return None;
            }
            let now_on = serves(at);
            if now_on != on_target[i] {
                on_target[i] = now_on;
                if now_on { count += 1 } else { count -= 1 }
            }
            if count == self.population.len() {
                return Some(at);
            }
            let r = &self.population[i];
            if r.cache.is_zero() {
                continue;
            }
            fetches.push(Reverse((self.next_fetch(r, at + Duration::from_nanos(1)), i)));
        }
        None
    }

    /// The model's answer, not an observation: if the authoritative answer changes at
    /// `change` (and stays), the moment the last resolver fetches it. Every resolver's first
    /// fetch at or after `change`, the latest of them. A drill's lower bound.
    pub fn all_fetched_after(&self, change: SystemTime) -> SystemTime {
        self.population.iter().map(|r| self.next_fetch(r, change)).max().unwrap_or(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: f64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs_f64(s)
    }

    fn resolver(cache: f64, phase: f64) -> Resolver {
        Resolver { cache: Duration::from_secs_f64(cache), phase: Duration::from_secs_f64(phase), stretches: false }
    }

    #[test]
    fn fetches_are_periodic_from_the_phase() {
        let r = Resolvers::new(WeakSim::dangling(), at(1000.0), vec![resolver(60.0, 10.0)]);
        let x = &r.population[0];
        assert_eq!(r.last_fetch(x, at(1005.0)), at(1000.0), "before its first fetch: the start's answer");
        assert_eq!(r.last_fetch(x, at(1010.0)), at(1010.0));
        assert_eq!(r.last_fetch(x, at(1069.0)), at(1010.0));
        assert_eq!(r.last_fetch(x, at(1071.0)), at(1070.0));
        assert_eq!(r.next_fetch(x, at(1011.0)), at(1070.0));
        assert_eq!(r.next_fetch(x, at(1070.0)), at(1070.0));
        assert_eq!(r.next_fetch(x, at(1000.0)), at(1010.0));
    }

    #[test]
    fn a_resolver_that_caches_past_the_ttl_delays_the_switch() {
        let start = at(0.0);
        let honest = Resolvers::new(WeakSim::dangling(), start, vec![resolver(60.0, 5.0); 3]);
        let mut pop = vec![resolver(60.0, 5.0); 3];
        pop.push(Resolver { stretches: true, ..resolver(180.0, 5.0) });
        let stretched = Resolvers::new(WeakSim::dangling(), start, pop);
        let change = at(100.0);
        assert_eq!(honest.all_fetched_after(change), at(125.0));
        assert_eq!(stretched.all_fetched_after(change), at(185.0), "the stretching resolver fetches at 185 s");
    }
}
