//! The drill's values as the command line spells them (`region-outage`, `auto`,
//! `arc-dead=4:hang`), for every line and page a person reads. Rust's `Debug` spelling
//! (`RegionOutage`) never reaches them.
//!
//! The matches are exhaustive on purpose: a new [`Fault`] variant does not compile until
//! it has a kind name and a spelling that [`Fault::parse`] reads back, which is what lets
//! the campaign's matrix (`campaign`) pick it up.

use std::fmt;

use regionsim::EndpointFault;

use crate::report::{Approve, Fault, Scenario};

impl Scenario {
    /// Every scenario, in the order the command line lists them.
    pub const ALL: [Scenario; 3] = [Scenario::Planned, Scenario::RegionOutage, Scenario::Failback];

    /// `planned`, `region-outage`, `failback`: the `--scenario` value.
    pub fn cli_name(self) -> &'static str {
        match self {
            Scenario::Planned => "planned",
            Scenario::RegionOutage => "region-outage",
            Scenario::Failback => "failback",
        }
    }

    /// The scenario of a `--scenario` value.
    pub fn from_cli_name(s: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|x| x.cli_name() == s)
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.cli_name())
    }
}

impl Approve {
    /// The `--approve` value.
    pub fn cli_name(self) -> &'static str {
        match self {
            Approve::Auto => "auto",
            Approve::Reject => "reject",
            Approve::Timeout => "timeout",
            Approve::Replayed => "replayed",
            Approve::Forged => "forged",
            Approve::Scanner => "scanner",
            Approve::Impostor => "impostor",
        }
    }
}

impl fmt::Display for Approve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.cli_name())
    }
}

/// `refuse`, `hang`, `server-error`, `unavailable`: the simulator's own names.
fn endpoint_fault_name(how: EndpointFault) -> &'static str {
    match how {
        EndpointFault::Refuse => "refuse",
        EndpointFault::Hang => "hang",
        EndpointFault::ServerError => "server-error",
        EndpointFault::Unavailable => "unavailable",
    }
}

impl Fault {
    /// The fault's name on the command line, without its argument: `arc-dead`, `lag`.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::ArcDead { .. } => "arc-dead",
            Fault::Throttle { .. } => "throttle",
            Fault::Latency { .. } => "latency",
            Fault::LambdaOnce => "lambda-once",
            Fault::NeverReturns => "never-returns",
            Fault::NoSnapshot => "no-snapshot",
            Fault::Lag { .. } => "lag",
            Fault::ClusterQuota { .. } => "cluster-quota",
            Fault::NoLagMetric => "no-lag-metric",
            Fault::RefuseMove { .. } => "refuse-move",
            Fault::StallMove { .. } => "stall-move",
            Fault::LostAnswers => "lost-answers",
            Fault::MisreportOneKey => "misreport-one-key",
            Fault::AlarmStorm => "alarm-storm",
            Fault::Partition => "partition",
        }
    }

    /// The `--fault` value that [`Fault::parse`] reads back as this fault.
    pub fn spec(&self) -> String {
        match self {
            Fault::ArcDead { k, how } => format!("arc-dead={k}:{}", endpoint_fault_name(*how)),
            Fault::Throttle { service, rate } => format!("throttle={service}:{rate}"),
            Fault::Latency { service, millis } => format!("latency={service}:{millis}"),
            Fault::Lag { seconds } => format!("lag={seconds}"),
            Fault::ClusterQuota { clusters } => format!("cluster-quota={clusters}"),
            Fault::RefuseMove { database } | Fault::StallMove { database } => format!("{}={database}", self.kind()),
            Fault::LambdaOnce
            | Fault::NeverReturns
            | Fault::NoSnapshot
            | Fault::NoLagMetric
            | Fault::LostAnswers
            | Fault::MisreportOneKey
            | Fault::AlarmStorm
            | Fault::Partition => self.kind().to_string(),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.spec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_is_the_command_lines_and_reads_back() {
        let faults = [
            Fault::ArcDead { k: 4, how: EndpointFault::Hang },
            Fault::ArcDead { k: 5, how: EndpointFault::ServerError },
            Fault::Throttle { service: "rds".into(), rate: 0.3 },
            Fault::Latency { service: "arc".into(), millis: 200 },
            Fault::Lag { seconds: 30 },
            Fault::ClusterQuota { clusters: 1 },
            Fault::RefuseMove { database: "catalog".into() },
            Fault::StallMove { database: "orders".into() },
            Fault::LambdaOnce,
            Fault::NeverReturns,
            Fault::NoSnapshot,
            Fault::NoLagMetric,
            Fault::LostAnswers,
        ];
        for f in faults {
            assert_eq!(Fault::parse(&f.spec()).as_ref(), Ok(&f), "{}", f.spec());
            assert!(f.spec().starts_with(f.kind()), "{}", f.spec());
        }
        assert_eq!(Scenario::RegionOutage.to_string(), "region-outage");
        assert_eq!(Scenario::from_cli_name("failback"), Some(Scenario::Failback));
        assert_eq!(Approve::Replayed.to_string(), "replayed");
    }
}
