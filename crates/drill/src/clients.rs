//! When clients moved, observed: the simulator's sampled resolvers (`regionsim::resolvers`)
//! followed fetch by fetch until every one answers the target, not the authoritative change
//! plus a TTL. What the drill's RTO counts as "clients switched".

use std::time::{Duration, SystemTime};

use failover_core::SharedClock;
use regionsim::Sim;
use regionsim::resolvers::Resolvers;

/// The first moment from `from` at which every sampled resolver answers `target` alone,
/// waiting on the clock for at most `limit` (the resolvers still caching the old answer
/// have to fetch again); `None` when they had not all switched by then.
pub async fn switched(
    sim: &Sim,
    clock: &SharedClock,
    target: &str,
    from: SystemTime,
    limit: Duration,
) -> Option<SystemTime> {
    let resolvers = sim.try_service::<Resolvers>()?;
    let want = vec![target.to_string()];
    let deadline = clock.now() + limit;
    loop {
        let now = clock.now();
        if let Some(at) = resolvers.switched_by(&want, from, now) {
            return Some(at);
        }
        if now >= deadline {
            return None;
        }
        // By then every resolver has fetched at least once more.
        let next = resolvers.all_fetched_after(now + Duration::from_millis(1)).min(deadline);
        clock.sleep(next.duration_since(now).unwrap_or_default().max(Duration::from_millis(1))).await;
    }
}

/// The waits for a human decision in an execution's history: from each callback task's
/// `TaskSubmitted` (the request went out) to its answer (`TaskSucceeded`, `TaskFailed` or
/// `TaskTimedOut`).
pub fn decision_waits(history: &[failover_asl::HistoryEvent]) -> Vec<failover_core::rto::Wait> {
    let mut waits = Vec::new();
    let mut open: Option<SystemTime> = None;
    for ev in history {
        match ev.event_type.as_str() {
            "TaskSubmitted" => open = Some(ev.timestamp),
            "TaskSucceeded" | "TaskFailed" | "TaskTimedOut" => {
                if let Some(from) = open.take() {
                    waits.push(failover_core::rto::Wait { from, to: ev.timestamp });
                }
            }
            _ => {}
        }
    }
    waits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: u64, secs: u64, event_type: &str) -> failover_asl::HistoryEvent {
        failover_asl::HistoryEvent {
            id,
            previous_event_id: id.saturating_sub(1),
            timestamp: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
            event_type: event_type.to_string(),
            details: serde_json::Map::new(),
        }
    }

    #[test]
    fn a_wait_runs_from_the_request_to_its_answer() {
        let history = [
            ev(1, 0, "ExecutionStarted"),
            ev(2, 1, "TaskScheduled"),
            ev(3, 1, "TaskStarted"),
            ev(4, 2, "TaskSucceeded"),
            ev(5, 3, "TaskScheduled"),
            ev(6, 4, "TaskSubmitted"),
            ev(7, 304, "TaskSucceeded"),
            ev(8, 305, "TaskScheduled"),
            ev(9, 306, "TaskSucceeded"),
        ];
        let waits = decision_waits(&history);
        let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(waits, vec![failover_core::rto::Wait { from: at(4), to: at(304) }], "only the callback task waited");
    }
}
