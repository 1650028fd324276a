//! snapshot-restore over aws-smithy-mocks RDS clients, one client per Region.
//!
//! The mutating calls (`CopyDBClusterSnapshot`, `RestoreDBClusterFromSnapshot`,
//! `CreateDBInstance`, `ModifyDBCluster`, `DeleteDBInstance`, `DeleteDBCluster`) are counted
//! through the rules' `num_calls()`: a repeated action must not repeat them.

mod rds_mocks;

use aws_sdk_rds::operation::copy_db_cluster_snapshot::CopyDbClusterSnapshotOutput;
use aws_sdk_rds::operation::create_db_instance::CreateDbInstanceOutput;
use aws_sdk_rds::operation::delete_db_cluster::{DeleteDBClusterError, DeleteDbClusterOutput};
use aws_sdk_rds::operation::delete_db_instance::DeleteDbInstanceOutput;
use aws_sdk_rds::operation::describe_db_cluster_snapshots::DescribeDBClusterSnapshotsError;
use aws_sdk_rds::operation::describe_db_clusters::DescribeDBClustersError;
use aws_sdk_rds::operation::describe_db_instances::DescribeDBInstancesError;
use aws_sdk_rds::operation::describe_events::DescribeEventsOutput;
use aws_sdk_rds::operation::describe_global_clusters::DescribeGlobalClustersError;
use aws_sdk_rds::operation::modify_db_cluster::ModifyDbClusterOutput;
use aws_sdk_rds::operation::restore_db_cluster_from_snapshot::RestoreDbClusterFromSnapshotOutput;
use aws_sdk_rds::types::{DbCluster, Event, MasterUserSecret, SourceType};
use aws_smithy_mocks::{Rule, mock};
use failover_core::ErrorKind;
use failover_core::contract::snapshot::{SnapshotAction, SnapshotRef, SnapshotRestoreInput, names};
use failover_core::plan::RestoreIn;
use failover_steps::snapshot_restore::handle;
use rds_mocks::*;

const EXEC: &str = "recovery-2027-01-15-0800";
const OLD_ID: &str = "retail-catalog-use1";

fn input(action: SnapshotAction) -> SnapshotRestoreInput {
    SnapshotRestoreInput {
        plan: plan(),
        database: "catalog".into(),
        old_region: PRIMARY.into(),
        action,
        execution: execution(EXEC),
        failover_started_at: rfc(-600),
        lag_at_failover_ms: Some(1_234),
        snapshot: None,
    }
}

fn system_id(stamp: &str) -> String {
    format!("rds:unplanned-global-failover-{OLD_ID}-{stamp}")
}

fn list_snapshots(seq: Vec<Vec<aws_sdk_rds::types::DbClusterSnapshot>>) -> Rule {
    let mut b = mock!(aws_sdk_rds::Client::describe_db_cluster_snapshots)
        .match_requests(|r| r.db_cluster_identifier() == Some(OLD_ID) && r.db_cluster_snapshot_identifier().is_none())
        .sequence();
    for s in seq {
        let out = snapshots_output(s);
        b = b.output(move || out.clone());
    }
    b.repeatedly().build()
}

/// DescribeDBClusterSnapshots of one snapshot by identifier: absent, then each of `then`.
fn snapshot_by_id(id: &str, absent_first: bool, then: Vec<aws_sdk_rds::types::DbClusterSnapshot>) -> Rule {
    let id_owned = id.to_string();
    let mut b = mock!(aws_sdk_rds::Client::describe_db_cluster_snapshots)
        .match_requests(move |r| r.db_cluster_snapshot_identifier() == Some(id_owned.as_str()))
        .sequence();
    if absent_first {
        b = b.error(|| DescribeDBClusterSnapshotsError::generic(meta("DBClusterSnapshotNotFoundFault", "not found")));
    }
    for s in then {
        let out = snapshots_output(vec![s]);
        b = b.output(move || out.clone());
    }
    b.repeatedly().build()
}

fn events() -> Rule {
    let out = DescribeEventsOutput::builder()
        .events(
            Event::builder()
                .source_identifier(OLD_ID)
                .source_type(SourceType::DbCluster)
                .message("Write I/O to the DB cluster was fenced: it is no longer the primary of the global cluster")
                .date(dt(3_500))
                .build(),
        )
        .events(
            Event::builder()
                .source_identifier(OLD_ID)
                .source_type(SourceType::DbCluster)
                .message("DB cluster recovered")
                .date(dt(3_400))
                .build(),
        )
        .build();
    mock!(aws_sdk_rds::Client::describe_events)
        .match_requests(|r| {
            r.source_identifier() == Some(OLD_ID)
                && r.source_type() == Some(&SourceType::DbCluster)
                && r.start_time() == Some(&dt(-600))
        })
        .then_output(move || out.clone())
}

#[tokio::test(start_paused = true)]
async fn find_waits_for_the_snapshot_and_ignores_older_ones() {
    let p = plan();
    let older = snapshot(&system_id("2026-12-01-10-00"), PRIMARY, -30 * 86_400, "available");
    let manual = snapshot("weekly-manual", PRIMARY, 60, "available");
    let first = snapshot(&system_id("2027-01-15-08-50"), PRIMARY, 3_000, "available");
    let creating = snapshot(&system_id("2027-01-15-09-00"), PRIMARY, 3_600, "creating");
    let newest = snapshot(&system_id("2027-01-15-09-00"), PRIMARY, 3_600, "available");
    let list = list_snapshots(vec![
        vec![older.clone(), manual.clone()],
        vec![older.clone(), manual.clone(), first.clone(), creating],
        vec![older, manual, first, newest],
    ]);
    // While the old Region recovers it does not know the global cluster yet.
    let global = mock!(aws_sdk_rds::Client::describe_global_clusters)
        .then_error(|| DescribeGlobalClustersError::generic(meta("GlobalClusterNotFoundFault", "not found")));
    let ev = events();
    let mocks = Mocks::new().rds(PRIMARY, &[&list, &global, &ev]);
    let clients = mocks.clients();

    let e = handle(input(SnapshotAction::Find), &clients).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotYet, "{e}");
    assert!(e.message.contains(&format!("no rds:unplanned-global-failover-{OLD_ID}-* snapshot in us-east-1")), "{e}");
    let e = handle(input(SnapshotAction::Find), &clients).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotYet, "{e}");
    assert!(e.message.contains("is `creating`"), "the newest is awaited, not the earlier one: {e}");

    let out = handle(input(SnapshotAction::Find), &clients).await.unwrap();
    let s = out.snapshot.unwrap();
    assert_eq!(s.identifier, system_id("2027-01-15-09-00"));
    assert_eq!(s.region, PRIMARY);
    assert_eq!(s.created_at.as_deref(), Some(rfc(3_600).as_str()));
    assert!(!out.changed);
    assert_eq!(out.events.len(), 2);
    assert!(out.events[0].fencing && !out.events[1].fencing, "{:?}", out.events);
    assert_eq!(ev.num_calls(), 1);
    assert_eq!(mocks.regions_asked("rds"), vec![PRIMARY], "find looks in the old Region only");
    let _ = p;
}

#[tokio::test(start_paused = true)]
async fn old_cluster_rejoined_without_a_snapshot_is_snapshot_unavailable() {
    let p = plan();
    let old_arn = member_arn(&p, "catalog", PRIMARY);
    let list = list_snapshots(vec![vec![snapshot(&system_id("2026-12-01-10-00"), PRIMARY, -86_400, "available")]]);
    let rejoined = {
        let g = Global::of(&p, "catalog", SECONDARY, "8.0.mysql_aurora.3.05.2").output();
        mock!(aws_sdk_rds::Client::describe_global_clusters).then_output(move || g.clone())
    };
    let mocks = Mocks::new().rds(PRIMARY, &[&list, &rejoined]);
    let e = handle(input(SnapshotAction::Find), &mocks.clients()).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::SnapshotUnavailable, "{e}");
    assert!(
        e.message
            .contains(&format!("cluster {OLD_ID} has rejoined global cluster retail-catalog-global as a secondary")),
        "{e}"
    );
    assert!(e.message.contains("1234 ms"), "the exposure is the lag at the failover: {e}");
    assert!(!e.kind.retryable());

    // Back as a member but still resynchronising: not yet decided.
    let resync = {
        let g =
            Global::of(&p, "catalog", SECONDARY, "8.0.mysql_aurora.3.05.2").sync(&old_arn, "pending-resync").output();
        mock!(aws_sdk_rds::Client::describe_global_clusters).then_output(move || g.clone())
    };
    let mocks = Mocks::new().rds(PRIMARY, &[&list, &resync]);
    let e = handle(input(SnapshotAction::Find), &mocks.clients()).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotYet, "{e}");
}

fn found() -> SnapshotRef {
    let id = system_id("2027-01-15-09-00");
    SnapshotRef {
        arn: format!("arn:aws:rds:{PRIMARY}:111122223333:cluster-snapshot:{id}"),
        identifier: id,
        region: PRIMARY.into(),
    }
}

fn copy_rule(source: &str, target: &str, kms: Option<&str>) -> Rule {
    let (source, target, kms) = (source.to_string(), target.to_string(), kms.map(str::to_string));
    mock!(aws_sdk_rds::Client::copy_db_cluster_snapshot)
        .match_requests(move |r| {
            r.source_db_cluster_snapshot_identifier() == Some(source.as_str())
                && r.target_db_cluster_snapshot_identifier() == Some(target.as_str())
                && r.kms_key_id() == kms.as_deref()
                && r.pre_signed_url().is_none()
        })
        .then_compute_output(|r| {
            CopyDbClusterSnapshotOutput::builder()
                .db_cluster_snapshot(snapshot(
                    r.target_db_cluster_snapshot_identifier().unwrap(),
                    "x",
                    4_000,
                    "copying",
                ))
                .build()
        })
}

#[tokio::test(start_paused = true)]
async fn copy_in_the_old_region_and_again_when_it_exists() {
    let p = plan();
    let n = names("catalog", EXEC);
    let mut copy_input = input(SnapshotAction::Copy);
    copy_input.snapshot = Some(found());
    let source = list_snapshots(vec![vec![snapshot(&found().identifier, PRIMARY, 3_600, "available")]]);
    let copy_lookup = snapshot_by_id(&n.copy, true, vec![snapshot(&n.copy, PRIMARY, 4_000, "copying")]);
    let key = p.database("catalog").unwrap().recovery.kms_keys[PRIMARY].clone();
    let copy = copy_rule(&found().identifier, &n.copy, Some(&key));
    let mocks = Mocks::new().rds(PRIMARY, &[&source, &copy_lookup, &copy]);
    let clients = mocks.clients();

    let out = handle(copy_input.clone(), &clients).await.unwrap();
    assert!(out.changed);
    assert_eq!(out.region, PRIMARY);
    assert_eq!(out.snapshot.as_ref().unwrap().identifier, n.copy);
    // Copy already there: nothing repeated.
    let again = handle(copy_input, &clients).await.unwrap();
    assert!(!again.changed);
    assert_eq!(again.snapshot.unwrap().status, "copying");
    assert_eq!(copy.num_calls(), 1);
    assert_eq!(mocks.regions_asked("rds"), vec![PRIMARY]);
}

#[tokio::test(start_paused = true)]
async fn cross_region_copy_runs_in_the_destination_with_its_key() {
    let mut copy_input = input(SnapshotAction::Copy);
    copy_input.plan.databases[0].recovery.restore_in = RestoreIn::Target;
    copy_input.snapshot = Some(found());
    let n = names("catalog", EXEC);
    let source = list_snapshots(vec![vec![snapshot(&found().identifier, PRIMARY, 3_600, "available")]]);
    let copy_lookup = snapshot_by_id(&n.copy, true, vec![snapshot(&n.copy, SECONDARY, 4_000, "copying")]);
    let key = copy_input.plan.databases[0].recovery.kms_keys[SECONDARY].clone();
    assert!(key.contains("us-west-2"));
    // Across Regions the source is named by its ARN.
    let copy = copy_rule(&found().arn, &n.copy, Some(&key));
    let mocks = Mocks::new().rds(PRIMARY, &[&source]).rds(SECONDARY, &[&copy_lookup, &copy]);
    let clients = mocks.clients();
    let out = handle(copy_input.clone(), &clients).await.unwrap();
    assert!(out.changed);
    assert_eq!(out.region, SECONDARY);
    let again = handle(copy_input.clone(), &clients).await.unwrap();
    assert!(!again.changed);
    assert_eq!(copy.num_calls(), 1);

    // An encrypted snapshot with no key for the destination is refused before any copy.
    copy_input.plan.databases[0].recovery.kms_keys.remove(SECONDARY);
    let copy_lookup = snapshot_by_id(&n.copy, true, vec![]);
    let copy = copy_rule(&found().arn, &n.copy, None);
    let mocks = Mocks::new().rds(PRIMARY, &[&source]).rds(SECONDARY, &[&copy_lookup, &copy]);
    let e = handle(copy_input, &mocks.clients()).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::PreconditionFailed, "{e}");
    assert!(e.message.contains("recovery.kms_keys"), "{e}");
    assert_eq!(copy.num_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_expired_source_snapshot_is_snapshot_unavailable() {
    let mut copy_input = input(SnapshotAction::Copy);
    copy_input.snapshot = Some(found());
    let n = names("catalog", EXEC);
    let source = list_snapshots(vec![vec![snapshot(&system_id("2026-12-01-10-00"), PRIMARY, -86_400, "available")]]);
    let copy_lookup = snapshot_by_id(&n.copy, true, vec![]);
    let mocks = Mocks::new().rds(PRIMARY, &[&source, &copy_lookup]);
    let e = handle(copy_input, &mocks.clients()).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::SnapshotUnavailable, "{e}");
}

fn recovery_cluster(status: &str, secret: Option<&str>) -> DbCluster {
    let n = names("catalog", EXEC);
    let mut b = DbCluster::builder()
        .db_cluster_identifier(&n.cluster)
        .status(status)
        .engine("aurora-mysql")
        .engine_version("8.0.mysql_aurora.3.05.2")
        .endpoint(format!("{}.cluster-abc.us-east-1.rds.amazonaws.com", n.cluster))
        .port(3306)
        .master_username("admin");
    if let Some(s) = secret {
        b = b.master_user_secret(
            MasterUserSecret::builder()
                .secret_arn("arn:aws:secretsmanager:us-east-1:111122223333:secret:rds!cluster-1-AbCdEf")
                .secret_status(s)
                .build(),
        );
    }
    b.build()
}

#[tokio::test(start_paused = true)]
async fn restore_then_instance_then_available() {
    let p = plan();
    let n = names("catalog", EXEC);
    let copy_lookup = snapshot_by_id(
        &n.copy,
        false,
        vec![snapshot(&n.copy, PRIMARY, 4_000, "copying"), snapshot(&n.copy, PRIMARY, 4_000, "available")],
    );
    let clusters = {
        let id = n.cluster.clone();
        let outs: Vec<_> = [
            recovery_cluster("creating", None),
            recovery_cluster("creating", None),
            recovery_cluster("available", None),
            recovery_cluster("available", Some("creating")),
            recovery_cluster("available", Some("active")),
        ]
        .into_iter()
        .map(clusters_output)
        .collect();
        let mut b = mock!(aws_sdk_rds::Client::describe_db_clusters)
            .match_requests(move |r| r.db_cluster_identifier() == Some(id.as_str()))
            .sequence()
            .error(|| DescribeDBClustersError::generic(meta("DBClusterNotFoundFault", "not found")));
        for o in outs {
            b = b.output(move || o.clone());
        }
        b.repeatedly().build()
    };
    let instances = {
        let id = n.instance.clone();
        let creating = instances_output(instance(&n.instance, "creating"));
        let available = instances_output(instance(&n.instance, "available"));
        mock!(aws_sdk_rds::Client::describe_db_instances)
            .match_requests(move |r| r.db_instance_identifier() == Some(id.as_str()))
            .sequence()
            .error(|| DescribeDBInstancesError::generic(meta("DBInstanceNotFound", "not found")))
            .output(move || creating.clone())
            .times(2)
            .output(move || available.clone())
            .repeatedly()
            .build()
    };
    let restore = {
        let (id, copy) = (n.cluster.clone(), n.copy.clone());
        mock!(aws_sdk_rds::Client::restore_db_cluster_from_snapshot)
            .match_requests(move |r| {
                let scaling = r.serverless_v2_scaling_configuration();
                r.db_cluster_identifier() == Some(id.as_str())
                    && r.snapshot_identifier().is_some_and(|s| s.ends_with(&format!(":cluster-snapshot:{copy}")))
                    && r.engine() == Some("aurora-mysql")
                    && r.db_subnet_group_name() == Some("retail-db-use1")
                    && r.vpc_security_group_ids() == ["sg-0123456789abcdef0"]
                    && scaling.and_then(|s| s.min_capacity()) == Some(0.5)
                    && scaling.and_then(|s| s.max_capacity()) == Some(8.0)
                    && r.deletion_protection() == Some(false)
            })
            .then_output(|| RestoreDbClusterFromSnapshotOutput::builder().build())
    };
    let create = {
        let (id, cluster) = (n.instance.clone(), n.cluster.clone());
        mock!(aws_sdk_rds::Client::create_db_instance)
            .match_requests(move |r| {
                r.db_instance_identifier() == Some(id.as_str())
                    && r.db_cluster_identifier() == Some(cluster.as_str())
                    && r.db_instance_class() == Some("db.serverless")
                    && r.engine() == Some("aurora-mysql")
            })
            .then_output(|| CreateDbInstanceOutput::builder().build())
    };
    let modify = {
        let id = n.cluster.clone();
        mock!(aws_sdk_rds::Client::modify_db_cluster)
            .match_requests(move |r| {
                r.db_cluster_identifier() == Some(id.as_str()) && r.manage_master_user_password() == Some(true)
            })
            .then_output(|| ModifyDbClusterOutput::builder().build())
    };
    let mocks = Mocks::new().rds(PRIMARY, &[&copy_lookup, &clusters, &instances, &restore, &create, &modify]);
    let clients = mocks.clients();

    // The copy is still copying: nothing restored yet.
    let e = handle(input(SnapshotAction::Restore), &clients).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotYet, "{e}");
    assert_eq!(restore.num_calls(), 0);

    let out = handle(input(SnapshotAction::Restore), &clients).await.unwrap();
    assert!(out.changed);
    assert_eq!((restore.num_calls(), create.num_calls()), (1, 1));
    let again = handle(input(SnapshotAction::Restore), &clients).await.unwrap();
    assert!(!again.changed, "restore repeated: nothing created twice");
    assert_eq!((restore.num_calls(), create.num_calls()), (1, 1));

    // check: creating, then available without a managed password (one ModifyDBCluster),
    // then the secret being created, then ready.
    let check = || input(SnapshotAction::Check);
    let e = handle(check(), &clients).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotYet);
    assert!(e.message.contains("is `creating`"), "{e}");
    let e = handle(check(), &clients).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotYet);
    assert!(e.message.contains("master password is now managed"), "{e}");
    assert_eq!(modify.num_calls(), 1);
    let e = handle(check(), &clients).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotYet);
    assert!(e.message.contains("secret is `creating`"), "{e}");
    let ready = handle(check(), &clients).await.unwrap();
    let rec = ready.recovery.unwrap();
    assert_eq!(rec.cluster, n.cluster);
    assert_eq!(rec.port, Some(3306));
    assert_eq!(rec.engine.as_deref(), Some("aurora-mysql"));
    assert!(rec.endpoint.unwrap().starts_with(&n.cluster));
    assert_eq!(rec.master_username.as_deref(), Some("admin"));
    assert!(rec.master_user_secret_arn.unwrap().contains("secretsmanager:us-east-1"));
    assert_eq!(modify.num_calls(), 1, "the password is managed once");
    assert_eq!(mocks.regions_asked("rds"), vec![PRIMARY]);
    let _ = p;
}

#[tokio::test(start_paused = true)]
async fn cleanup_twice_deletes_once() {
    let n = names("catalog", EXEC);
    let instances = {
        let a = instances_output(instance(&n.instance, "available"));
        mock!(aws_sdk_rds::Client::describe_db_instances)
            .sequence()
            .output(move || a.clone())
            .error(|| DescribeDBInstancesError::generic(meta("DBInstanceNotFound", "not found")))
            .repeatedly()
            .build()
    };
    let clusters = {
        let a = clusters_output(recovery_cluster("available", Some("active")));
        let d = clusters_output(recovery_cluster("deleting", Some("active")));
        mock!(aws_sdk_rds::Client::describe_db_clusters)
            .sequence()
            .output(move || a.clone())
            .output(move || d.clone())
            .repeatedly()
            .build()
    };
    let delete_instance = {
        let id = n.instance.clone();
        mock!(aws_sdk_rds::Client::delete_db_instance)
            .match_requests(move |r| r.db_instance_identifier() == Some(id.as_str()))
            .then_output(|| DeleteDbInstanceOutput::builder().build())
    };
    let delete_cluster = {
        let id = n.cluster.clone();
        mock!(aws_sdk_rds::Client::delete_db_cluster)
            .match_requests(move |r| {
                r.db_cluster_identifier() == Some(id.as_str()) && r.skip_final_snapshot() == Some(true)
            })
            .then_output(|| DeleteDbClusterOutput::builder().build())
    };
    let mocks = Mocks::new().rds(PRIMARY, &[&instances, &clusters, &delete_instance, &delete_cluster]);
    let clients = mocks.clients();
    let first = handle(input(SnapshotAction::Cleanup), &clients).await.unwrap();
    assert!(first.changed);
    assert_eq!(first.recovery.as_ref().unwrap().status, "deleting");
    let second = handle(input(SnapshotAction::Cleanup), &clients).await.unwrap();
    assert!(!second.changed);
    assert_eq!(second.recovery.as_ref().unwrap().instance_status, "deleted");
    assert_eq!((delete_instance.num_calls(), delete_cluster.num_calls()), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn cleanup_waits_for_the_instance_and_keeps_what_the_plan_keeps() {
    let n = names("catalog", EXEC);
    let instances = {
        let d = instances_output(instance(&n.instance, "deleting"));
        mock!(aws_sdk_rds::Client::describe_db_instances).then_output(move || d.clone())
    };
    let clusters = {
        let a = clusters_output(recovery_cluster("available", Some("active")));
        mock!(aws_sdk_rds::Client::describe_db_clusters).then_output(move || a.clone())
    };
    let refused = mock!(aws_sdk_rds::Client::delete_db_cluster).then_error(|| {
        DeleteDBClusterError::generic(meta(
            "InvalidDBClusterStateFault",
            "Cluster cannot be deleted, it still contains DB instances",
        ))
    });
    let mocks = Mocks::new().rds(PRIMARY, &[&instances, &clusters, &refused]);
    let e = handle(input(SnapshotAction::Cleanup), &mocks.clients()).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotYet, "{e}");

    let mut keep = input(SnapshotAction::Cleanup);
    keep.plan.databases[0].recovery.keep_cluster = true;
    let mocks = Mocks::new();
    let out = handle(keep, &mocks.clients()).await.unwrap();
    assert!(!out.changed);
    assert_eq!(out.recovery.unwrap().status, "kept");
    assert!(mocks.nothing_asked());
}

#[tokio::test(start_paused = true)]
async fn bad_input_names_the_field_and_calls_nothing() {
    let mocks = Mocks::new();
    let clients = mocks.clients();
    let e = handle(input(SnapshotAction::Copy), &clients).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadInput);
    assert!(e.message.starts_with("snapshot:"), "{e}");
    let mut i = input(SnapshotAction::Find);
    i.failover_started_at = "after lunch".into();
    let e = handle(i, &clients).await.unwrap_err();
    assert!(e.message.starts_with("failover_started_at:"), "{e}");
    let mut i = input(SnapshotAction::Copy);
    i.snapshot = Some(SnapshotRef { region: SECONDARY.into(), ..found() });
    let e = handle(i, &clients).await.unwrap_err();
    assert!(e.message.starts_with("snapshot.region:"), "{e}");
    let mut i = input(SnapshotAction::Find);
    i.old_region = "eu-west-1".into();
    let e = handle(i, &clients).await.unwrap_err();
    assert!(e.message.starts_with("old_region:"), "{e}");
    assert!(mocks.nothing_asked());
}

#[test]
fn the_sample_events_are_valid_inputs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut actions = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("snapshot-restore.") && name.ends_with(".json") {
            let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let i: SnapshotRestoreInput = failover_core::contract::parse_input(v).unwrap();
            i.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
            actions.push(i.action.as_str());
        }
    }
    actions.sort();
    assert_eq!(actions, ["check", "cleanup", "copy", "find", "restore"]);
}

/// An HTTP client whose requests never get an answer: a Region that hangs.
#[derive(Debug)]
struct Hang;

impl aws_smithy_runtime_api::client::http::HttpConnector for Hang {
    fn call(
        &self,
        _request: aws_smithy_runtime_api::client::orchestrator::HttpRequest,
    ) -> aws_smithy_runtime_api::client::http::HttpConnectorFuture {
        aws_smithy_runtime_api::client::http::HttpConnectorFuture::new(std::future::pending())
    }
}

impl aws_smithy_runtime_api::client::http::HttpClient for Hang {
    fn http_connector(
        &self,
        _settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        aws_smithy_runtime_api::client::http::SharedHttpConnector::new(Hang)
    }
}

#[tokio::test(start_paused = true)]
async fn find_gives_up_on_a_hanging_old_region_in_bounded_time() {
    let mut clients = Mocks::new().clients();
    let sleep = clients.clock.sdk_sleep();
    clients.rds = std::sync::Arc::new(failover_steps::aws::Regional::from_fn(move |region| {
        let conf = aws_sdk_rds::Config::builder()
            .with_test_defaults_v2()
            .region(aws_sdk_rds::config::Region::new(region.to_string()))
            .http_client(Hang)
            .sleep_impl(sleep.clone())
            .build();
        aws_sdk_rds::Client::from_conf(conf)
    }));
    let before = clients.clock.now();
    let e = handle(input(SnapshotAction::Find), &clients).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotYet, "a Region still down is polled, not retried as transient: {e}");
    assert!(e.message.contains("us-east-1 did not answer within 25 s"), "{e}");
    assert_eq!(clients.clock.now().duration_since(before).unwrap(), failover_steps::snapshot_restore::FIND_BOUND);
}
