//! The recovery time (RTO as measured): one definition, used by notify, the drill and the
//! benchmarks (ARCHITECTURE.md, "Recovery time").
//!
//! The recovery time of a failover execution runs from the start of the execution to the
//! moment clients are served by the target Region: every client resolver answers the target
//! AND every writer is in the target, whichever comes later. Time spent waiting for a human
//! decision (an approval request published and not yet answered) is left out: it is
//! reported apart, and it is neither in the figure compared with the plan's objective nor
//! in its lower bound.
//!
//! What differs between the users is only how each knows the moments: the drill observes
//! the simulated resolvers and the simulator's writers; notify, inside the execution, has
//! the DNS watch's authoritative change plus the answered TTL and the writers as the state
//! machine saw them, and says so.
//!
//! Pure: no clock, no AWS.

use std::time::{Duration, SystemTime};

/// A span of time spent waiting for a human decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    pub from: SystemTime,
    pub to: SystemTime,
}

/// The time spent waiting in `waits`, overlaps counted once.
pub fn waited(waits: &[Wait]) -> Duration {
    let mut spans: Vec<Wait> = waits.iter().copied().filter(|w| w.to > w.from).collect();
    spans.sort_by_key(|w| w.from);
    let mut total = Duration::ZERO;
    let mut cur: Option<Wait> = None;
    for w in spans {
        match cur.as_mut() {
            Some(c) if w.from <= c.to => c.to = c.to.max(w.to),
            _ => {
                if let Some(c) = cur.take() {
                    total += c.to.duration_since(c.from).unwrap_or_default();
                }
                cur = Some(w);
            }
        }
    }
    if let Some(c) = cur {
        total += c.to.duration_since(c.from).unwrap_or_default();
    }
    total
}

/// When clients are served: the later of the clients' switch and every writer in the
/// target (`None` among `writers`: a writer not known to be there, so not served).
pub fn served_at(clients: SystemTime, writers: &[Option<SystemTime>]) -> Option<SystemTime> {
    writers.iter().try_fold(clients, |acc, w| w.map(|w| acc.max(w)))
}

/// The recovery time: from `started` to `served`, less the time waited for decisions.
pub fn recovery_time(started: SystemTime, served: SystemTime, waits: &[Wait]) -> Duration {
    served.duration_since(started).unwrap_or_default().saturating_sub(waited(waits))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(s)
    }

    #[test]
    fn the_approval_wait_is_left_out_once() {
        let waits =
            [Wait { from: t(10), to: t(310) }, Wait { from: t(300), to: t(320) }, Wait { from: t(400), to: t(410) }];
        assert_eq!(waited(&waits), Duration::from_secs(320));
        let served = served_at(t(500), &[Some(t(450)), Some(t(520))]).unwrap();
        assert_eq!(served, t(520));
        assert_eq!(recovery_time(t(0), served, &waits), Duration::from_secs(200));
        assert_eq!(served_at(t(500), &[Some(t(450)), None]), None, "a writer not in the target: not served");
        assert_eq!(served_at(t(500), &[]), Some(t(500)), "no database: the clients alone");
    }
}
