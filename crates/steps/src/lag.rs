//! The replication lag of an Aurora global database's secondary, from CloudWatch in the
//! secondary's own Region: the RPO exposure of an unplanned failover, and the proof a
//! switchover needs that it loses nothing. Read by preflight and aurora-failover.

use std::time::Duration;

use aws_smithy_types::DateTime;
use failover_core::StepError;
use failover_core::aurora_rules::{LAG_METRICS, LAG_WINDOW_SECONDS};
use failover_core::contract::aurora::LagObservation;

use crate::aws::classify;

/// The newest replication-lag datapoint of a secondary cluster, from `AuroraGlobalDBRPOLag`
/// or, where it has none, `AuroraGlobalDBReplicationLag`, over the last five minutes.
pub async fn read_lag(
    cw: &aws_sdk_cloudwatch::Client,
    cluster_id: &str,
    region: &str,
    clock: &failover_core::SharedClock,
) -> Result<Option<LagObservation>, StepError> {
    use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
    let now = clock.now();
    let query = |id: &str, name: &str| {
        MetricDataQuery::builder()
            .id(id)
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace("AWS/RDS")
                            .metric_name(name)
                            .dimensions(Dimension::builder().name("DBClusterIdentifier").value(cluster_id).build())
                            .build(),
                    )
                    .period(60)
                    .stat("Maximum")
                    .build(),
            )
            .return_data(true)
            .build()
    };
    let out = cw
        .get_metric_data()
        .metric_data_queries(query("rpo", LAG_METRICS[0]))
        .metric_data_queries(query("replication", LAG_METRICS[1]))
        .start_time(DateTime::from(now - Duration::from_secs(LAG_WINDOW_SECONDS)))
        .end_time(DateTime::from(now))
        .scan_by(ScanBy::TimestampDescending)
        .send()
        .await
        .map_err(|e| classify(&e).into_step_error(&format!("GetMetricData in {region}")))?;
    for (id, metric) in [("rpo", LAG_METRICS[0]), ("replication", LAG_METRICS[1])] {
        let Some(result) = out.metric_data_results().iter().find(|r| r.id() == Some(id)) else { continue };
        // Newest datapoint, whatever order the service used.
        let newest =
            result.timestamps().iter().zip(result.values()).filter(|(_, v)| v.is_finite()).max_by(|a, b| a.0.cmp(b.0));
        if let Some((at, value)) = newest {
            let at = std::time::SystemTime::try_from(*at)
                .map(failover_core::time_fmt::rfc3339)
                .unwrap_or_else(|_| at.to_string());
            return Ok(Some(LagObservation {
                metric: metric.to_string(),
                milliseconds: value.max(0.0).round() as u64,
                at,
            }));
        }
    }
    Ok(None)
}
