//! The state of the protocol-level services (ARC, CloudWatch, SNS, S3, Secrets Manager,
//! DNS), seeded from the plan. One lock guards it all: calls are short and the simulator
//! serves a handful of clients.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use failover_core::plan::Plan;

use crate::sim::{Sim, service};

/// Everything the built-in services know.
#[derive(Debug, Clone)]
pub struct World {
    pub arc: crate::arc::ArcModel,
    pub cloudwatch: crate::cloudwatch::CloudWatchModel,
    pub sns: crate::sns::SnsModel,
    pub s3: crate::s3::S3Model,
    pub secrets: crate::secrets::SecretsModel,
    pub dns: crate::dns::DnsModel,
}

impl World {
    /// Seeds every model from the plan: the primary Region's routing controls On and the
    /// secondary's Off, every plan safety rule as "at least one of all controls On", the
    /// canary alarms, the topics, buckets and secrets of both stacks, the DNS record.
    pub fn from_plan(
        plan: &Plan,
        now: SystemTime,
        propagation: Duration,
        alarm_delay: Duration,
        lag: Duration,
    ) -> Self {
        let mut arc = crate::arc::ArcModel { propagation, ..Default::default() };
        let mut all_controls = Vec::new();
        for (region, controls) in &plan.arc.routing_controls {
            for c in controls {
                arc.add_control(c, Some(region), *region == plan.regions.primary, now);
                all_controls.push(c.clone());
            }
        }
        for rule in &plan.arc.safety_rules {
            arc.rules.push(crate::arc::AssertionRule {
                arn: rule.arn.clone(),
                name: rule.name.clone(),
                controls: all_controls.clone(),
                min_on: 1,
            });
        }

        let mut cloudwatch = crate::cloudwatch::CloudWatchModel { alarm_delay, default_lag: lag, ..Default::default() };
        for (watched, health) in &plan.health {
            for alarm in &health.alarms {
                let home = alarm.region.clone().unwrap_or_else(|| other(plan, watched).to_string());
                cloudwatch.add_canary_alarm(&home, &alarm.name, watched, now);
            }
        }

        let mut sns = crate::sns::SnsModel::default();
        let mut s3 = crate::s3::S3Model::default();
        let mut secrets = crate::secrets::SecretsModel::default();
        for (region, stack) in &plan.stacks {
            sns.topics.insert(stack.topic_arn.clone());
            s3.create_bucket(&stack.report_bucket, region);
            if let Some(arn) = &stack.approval_secret {
                secrets.put(region, arn, "simulated-approval-signing-key-0123456789abcdef", now);
            }
        }
        for db in &plan.databases {
            if let Some(report) = &db.report {
                for (region, arn) in &report.credentials {
                    let value = serde_json::json!({
                        "username": "failover_report",
                        "password": "simulated",
                        "engine": db.engine.as_str(),
                        "dbname": report.database,
                    });
                    secrets.put(region, arn, &value.to_string(), now);
                }
            }
        }

        let mut dns = crate::dns::DnsModel {
            record: plan.dns.record.clone(),
            record_type: plan.dns.record_type.clone(),
            ttl: plan.dns.ttl_seconds,
            order: vec![plan.regions.primary.clone(), plan.regions.secondary.clone()],
            ..Default::default()
        };
        for (region, h) in &plan.health {
            dns.answers.insert(region.clone(), h.dns_answers.clone());
        }
        World { arc, cloudwatch, sns, s3, secrets, dns }
    }
}

fn other<'a>(plan: &'a Plan, region: &str) -> &'a str {
    if plan.regions.primary == region { &plan.regions.secondary } else { &plan.regions.primary }
}

/// Registers the built-in protocol services; the RDS engineer's handler comes through
/// [`crate::SimBuilder::service`].
pub(crate) fn register_builtin_services(sim: &Sim) {
    let weak = sim.downgrade();
    sim.register_service(service::ARC, Arc::new(crate::arc::ArcService::new(weak.clone())));
    sim.register_service(service::CLOUDWATCH, Arc::new(crate::cloudwatch::CloudWatchService::new(weak.clone())));
    sim.register_service(service::SNS, Arc::new(crate::sns::SnsService::new(weak.clone())));
    sim.register_service(service::S3, Arc::new(crate::s3::S3Service::new(weak.clone())));
    sim.register_service(service::SECRETS_MANAGER, Arc::new(crate::secrets::SecretsService::new(weak.clone())));
    sim.register_service(service::WEB, Arc::new(crate::web::WebService));
}
