//! The call log names who signed each call (the SigV4 access key id) and what IAM
//! evaluates for it, as each service reads the request: the action, one resource each,
//! the condition keys, and the KMS or Secrets Manager use a service makes on the caller's
//! behalf. Through the real SDK clients, on a paused virtual clock.

mod common;

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use failover_core::SharedClock;
use regionsim::rds::{Aurora, AuroraConfig};
use regionsim::s3::S3;
use regionsim::sns::Sns;
use regionsim::{Authorization, CallRecord, Sim, SimBuilder, service};

const USE1: &str = "us-east-1";
const USW2: &str = "us-west-2";
const RC_USE1: &str = "arn:aws:route53-recovery-control::111122223333:controlpanel/00000000000000000000000000000001/routingcontrol/use1cell0000001";
const RC_USW2: &str = "arn:aws:route53-recovery-control::111122223333:controlpanel/00000000000000000000000000000001/routingcontrol/usw2cell0000001";
const TOPIC_USW2: &str = "arn:aws:sns:us-west-2:111122223333:failover-retail-store";
const BUCKET_USW2: &str = "failover-retail-store-reports-111122223333-us-west-2";
const KEY: &str = "arn:aws:kms:us-west-2:111122223333:key/00000000-0000-4000-8000-000000000001";

async fn start() -> (Sim, SharedClock) {
    let clock = SharedClock::virtual_at(common::epoch());
    let sim = SimBuilder::new(clock.clone()).seed(7).world_as_planned().start().await.expect("the simulator starts");
    (sim, clock)
}

/// A configuration signed with the access key id `akid`.
fn signed_as(clock: &SharedClock, region: &str, url: &str, akid: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(akid, "secret", None, None, "test")))
        .endpoint_url(url)
        .sleep_impl(clock.sdk_sleep())
        .time_source(clock.sdk_time_source())
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        .timeout_config(
            aws_smithy_types::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(5))
                .build(),
        )
        .build()
}

fn url(sim: &Sim, svc: &str) -> String {
    sim.endpoints().url(svc).expect("service endpoint").to_string()
}

/// (action, resource) of each authorization of a call.
fn pairs(c: &CallRecord) -> Vec<(String, String)> {
    c.authorizations.iter().map(|a| (a.action.clone(), a.resource.clone())).collect()
}

fn pair(action: &str, resource: &str) -> (String, String) {
    (action.to_string(), resource.to_string())
}

fn last(sim: &Sim, svc: &str) -> CallRecord {
    sim.calls().into_iter().rev().find(|c| c.service == svc).expect("a call to the service")
}

#[tokio::test(start_paused = true)]
async fn arc_calls_name_their_caller_and_each_routing_control() {
    use aws_sdk_route53recoverycluster::types::{RoutingControlState, UpdateRoutingControlStateEntry};
    let (sim, clock) = start().await;
    let (url, region) = sim.endpoints().arc[1].clone();
    let c = aws_sdk_route53recoverycluster::Client::new(&signed_as(&clock, &region, &url, "AKIDROUTING"));
    let entry = |arn: &str, s: RoutingControlState| {
        UpdateRoutingControlStateEntry::builder().routing_control_arn(arn).routing_control_state(s).build().unwrap()
    };
    c.update_routing_control_states()
        .update_routing_control_state_entries(entry(RC_USW2, RoutingControlState::On))
        .update_routing_control_state_entries(entry(RC_USE1, RoutingControlState::Off))
        .send()
        .await
        .unwrap();
    let call = last(&sim, service::ARC);
    assert_eq!(call.caller.as_deref(), Some("AKIDROUTING"));
    let action = "route53-recovery-cluster:UpdateRoutingControlStates";
    assert_eq!(pairs(&call), vec![pair(action, RC_USW2), pair(action, RC_USE1)]);
}

#[tokio::test(start_paused = true)]
async fn publishing_to_an_encrypted_topic_uses_its_key_through_sns() {
    let (sim, clock) = start().await;
    sim.service::<Sns>().set_topic_key(TOPIC_USW2, Some(KEY));
    let c = aws_sdk_sns::Client::new(&signed_as(&clock, USW2, &url(&sim, service::SNS), "AKIDNOTIFY"));
    c.publish().topic_arn(TOPIC_USW2).message("m").send().await.unwrap();
    let call = last(&sim, service::SNS);
    assert_eq!(call.caller.as_deref(), Some("AKIDNOTIFY"));
    assert_eq!(
        pairs(&call),
        vec![pair("sns:Publish", TOPIC_USW2), pair("kms:GenerateDataKey", KEY), pair("kms:Decrypt", KEY)]
    );
    let kms = &call.authorizations[1];
    assert_eq!(kms.via.as_deref(), Some("sns"));
    assert_eq!(kms.context["kms:ViaService"], vec!["sns.us-west-2.amazonaws.com".to_string()]);
    assert!(call.authorizations[0].via.is_none(), "the call itself");
}

#[tokio::test(start_paused = true)]
async fn s3_writes_use_the_bucket_key_and_a_missing_key_needs_list_bucket() {
    use aws_sdk_s3::primitives::ByteStream;
    use aws_sdk_s3::types::ServerSideEncryption;
    let (sim, clock) = start().await;
    assert!(sim.service::<S3>().set_default_encryption(BUCKET_USW2, Some(KEY)));
    let conf = aws_sdk_s3::config::Builder::from(&signed_as(&clock, USW2, &url(&sim, service::S3), "AKIDREPORT"))
        .force_path_style(true)
        .build();
    let c = aws_sdk_s3::Client::from_conf(conf);
    let object = format!("arn:aws:s3:::{BUCKET_USW2}/reports/a.json");

    // No encryption headers: the bucket's default, SSE-KMS with its key.
    c.put_object().bucket(BUCKET_USW2).key("reports/a.json").body(ByteStream::from_static(b"{}")).send().await.unwrap();
    let put = last(&sim, service::S3);
    assert_eq!(put.caller.as_deref(), Some("AKIDREPORT"));
    assert_eq!(pairs(&put), vec![pair("s3:PutObject", &object), pair("kms:GenerateDataKey", KEY)]);
    let stored = sim.service::<S3>().object(BUCKET_USW2, "reports/a.json").unwrap();
    assert_eq!((stored.sse.as_str(), stored.kms_key_id.as_deref()), ("aws:kms", Some(KEY)));

    // SSE-KMS asked for without a key: S3 uses the AWS managed key, whatever the bucket says.
    c.put_object()
        .bucket(BUCKET_USW2)
        .key("reports/b.json")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .body(ByteStream::from_static(b"{}"))
        .send()
        .await
        .unwrap();
    let put = last(&sim, service::S3);
    let kms = put.authorizations.iter().find(|a| a.action == "kms:GenerateDataKey").unwrap();
    assert!(kms.resource.ends_with(":alias/aws/s3"), "{kms:?}");
    assert_eq!(put.authorizations[0].context["s3:x-amz-server-side-encryption"], vec!["aws:kms".to_string()]);

    c.get_object().bucket(BUCKET_USW2).key("reports/a.json").send().await.unwrap();
    assert_eq!(pairs(&last(&sim, service::S3)), vec![pair("s3:GetObject", &object), pair("kms:Decrypt", KEY)]);
    let _ = c.get_object().bucket(BUCKET_USW2).key("reports/none").send().await.unwrap_err();
    assert_eq!(
        pairs(&last(&sim, service::S3)),
        vec![
            pair("s3:GetObject", &format!("arn:aws:s3:::{BUCKET_USW2}/reports/none")),
            pair("s3:ListBucket", &format!("arn:aws:s3:::{BUCKET_USW2}")),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn secrets_and_alarms_name_their_arns_metrics_have_none() {
    let (sim, clock) = start().await;
    let secret = "arn:aws:secretsmanager:us-west-2:111122223333:secret:retail/orders/report-StUvWx";
    let sm = aws_sdk_secretsmanager::Client::new(&signed_as(
        &clock,
        USW2,
        &url(&sim, service::SECRETS_MANAGER),
        "AKIDREPORT",
    ));
    sm.get_secret_value().secret_id("retail/orders/report").send().await.unwrap();
    assert_eq!(
        pairs(&last(&sim, service::SECRETS_MANAGER)),
        vec![pair("secretsmanager:GetSecretValue", secret)],
        "the full ARN, found by name"
    );
    let cw = aws_sdk_cloudwatch::Client::new(&signed_as(&clock, USE1, &url(&sim, service::CLOUDWATCH), "AKIDHEALTH"));
    cw.describe_alarms().alarm_names("retail-canary-watching-usw2").send().await.unwrap();
    assert_eq!(
        pairs(&last(&sim, service::CLOUDWATCH)),
        vec![pair(
            "cloudwatch:DescribeAlarms",
            "arn:aws:cloudwatch:us-east-1:111122223333:alarm:retail-canary-watching-usw2"
        )]
    );
    let now = aws_sdk_cloudwatch::primitives::DateTime::from(clock.now());
    let q = aws_sdk_cloudwatch::types::MetricDataQuery::builder().id("q").expression("SELECT 1").build();
    let _ = cw.get_metric_data().metric_data_queries(q).start_time(now).end_time(now).send().await;
    assert_eq!(pairs(&last(&sim, service::CLOUDWATCH)), vec![pair("cloudwatch:GetMetricData", "*")]);
}

#[tokio::test(start_paused = true)]
async fn rds_moves_name_the_global_and_the_target_cluster_and_tags_need_add_tags() {
    let (sim, clock) = start().await;
    let cfg = AuroraConfig::from_plan(&sim.plan());
    let _aurora = Aurora::install(&sim, cfg).expect("the RDS model starts on SQLite");
    let rds = aws_sdk_rds::Client::new(&signed_as(&clock, USW2, &url(&sim, service::RDS), "AKIDAURORA"));
    let target = "arn:aws:rds:us-west-2:111122223333:cluster:retail-orders-usw2";
    // What IAM evaluates is logged whatever the model answers.
    let _ = rds
        .switchover_global_cluster()
        .global_cluster_identifier("retail-orders-global")
        .target_db_cluster_identifier(target)
        .send()
        .await;
    let call = last(&sim, service::RDS);
    assert_eq!(call.caller.as_deref(), Some("AKIDAURORA"));
    assert_eq!(
        pairs(&call),
        vec![
            pair("rds:SwitchoverGlobalCluster", "arn:aws:rds::111122223333:global-cluster:retail-orders-global"),
            pair("rds:SwitchoverGlobalCluster", target),
        ]
    );
    let tag = aws_sdk_rds::types::Tag::builder().key("failover:execution").value("e1").build();
    let _ = rds
        .create_db_instance()
        .db_instance_identifier("failover-extra")
        .db_cluster_identifier("retail-orders-usw2")
        .engine("aurora-postgresql")
        .db_instance_class("db.r6g.large")
        .tags(tag)
        .send()
        .await;
    let call = last(&sim, service::RDS);
    let instance = "arn:aws:rds:us-west-2:111122223333:db:failover-extra";
    assert_eq!(
        pairs(&call),
        vec![
            pair("rds:CreateDBInstance", instance),
            pair("rds:CreateDBInstance", target),
            pair("rds:AddTagsToResource", instance),
        ]
    );
    let tags: &Authorization = &call.authorizations[2];
    assert_eq!(tags.context["aws:RequestTag/failover:execution"], vec!["e1".to_string()]);
}
