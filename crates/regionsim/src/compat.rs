//! Shortcuts from before the services had handles of their own, kept for the callers in
//! other crates (drill, steps tests, the CLI). New code reaches a service through its
//! handle, e.g. `sim.service::<Sns>().messages()`; nothing in `src/` uses these.

use std::time::Duration;

use crate::arc::{ArcCluster, ArcSettings};
use crate::cloudwatch::CloudWatchSettings;
use crate::s3::{S3, S3Object};
use crate::services::service;
use crate::sim::{EndpointFault, Sim, SimBuilder};
use crate::sns::{Sns, SnsMessage};

impl Sim {
    /// `sim.service::<Sns>().messages()`.
    pub fn sns_messages(&self) -> Vec<SnsMessage> {
        self.service::<Sns>().messages()
    }

    /// `sim.service::<S3>().object(bucket, key)`.
    pub fn s3_object(&self, bucket: &str, key: &str) -> Option<S3Object> {
        self.service::<S3>().object(bucket, key)
    }

    /// `sim.service::<S3>().keys(bucket)`.
    pub fn s3_keys(&self, bucket: &str) -> Vec<String> {
        self.service::<S3>().keys(bucket)
    }

    /// `sim.service::<ArcCluster>().control_on(arn)`.
    pub fn routing_control_on(&self, arn: &str) -> Option<bool> {
        self.service::<ArcCluster>().control_on(arn)
    }

    /// `sim.kill_endpoints(service::ARC, k, fault)`.
    pub fn kill_arc_endpoints(&self, k: usize, fault: EndpointFault) {
        self.kill_endpoints(service::ARC, k, fault);
    }

    /// `sim.endpoint_fault_at(service::ARC, index)`.
    pub fn arc_endpoint_fault(&self, index: usize) -> Option<EndpointFault> {
        self.endpoint_fault_at(service::ARC, index)
    }
}

impl SimBuilder {
    /// `setting(|s: &mut ArcSettings| s.regions = ..)`: the Regions of the ARC cluster
    /// endpoints.
    pub fn arc_regions(self, regions: impl IntoIterator<Item = impl Into<String>>) -> Self {
        let regions: Vec<String> = regions.into_iter().map(Into::into).collect();
        self.setting(move |s: &mut ArcSettings| s.regions = Some(regions))
    }

    /// `setting(|s: &mut ArcSettings| s.propagation = ..)`: how long Route 53 health
    /// checks take to see a routing-control change.
    pub fn propagation_delay(self, d: Duration) -> Self {
        self.setting(move |s: &mut ArcSettings| s.propagation = Some(d))
    }

    /// `setting(|s: &mut CloudWatchSettings| s.alarm_delay = ..)`.
    pub fn alarm_delay(self, d: Duration) -> Self {
        self.setting(move |s: &mut CloudWatchSettings| s.alarm_delay = d)
    }

    /// `setting(|s: &mut CloudWatchSettings| s.default_lag = ..)`: the replication lag
    /// CloudWatch reports when no lag source is provided.
    pub fn replication_lag(self, d: Duration) -> Self {
        self.setting(move |s: &mut CloudWatchSettings| s.default_lag = d)
    }
}
