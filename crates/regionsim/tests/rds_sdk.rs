//! The simulated RDS behind the real aws-sdk-rds client over HTTP: every operation the
//! functions use, success and modeled errors, in both Regions, on a paused virtual clock.
//! The databases are SQLite here; tests/data_replication.rs covers PostgreSQL and MariaDB.

mod common;

use std::time::{Duration, SystemTime};

use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_rds::primitives::DateTime;
use aws_sdk_rds::types::{Filter, GlobalCluster};
use failover_core::SharedClock;
use regionsim::data::{Backend, ClusterRef};
use regionsim::rds::{Aurora, AuroraConfig};
use regionsim::{DownMode, Sim, SimBuilder, service};

const USE1: &str = "us-east-1";
const USW2: &str = "us-west-2";
const GLOBAL: &str = "retail-orders-global";
const C_USE1: &str = "arn:aws:rds:us-east-1:111122223333:cluster:retail-orders-use1";
const C_USW2: &str = "arn:aws:rds:us-west-2:111122223333:cluster:retail-orders-usw2";

async fn start() -> (Sim, SharedClock, std::sync::Arc<Aurora>) {
    start_on(Backend::Sqlite(None)).await.expect("SQLite is always there")
}

/// The simulator with its databases on `backend`; `None` (a loud skip) when a database
/// server is missing outside CI.
async fn start_on(backend: Backend) -> Option<(Sim, SharedClock, std::sync::Arc<Aurora>)> {
    let clock = SharedClock::virtual_at(common::epoch());
    let sim = SimBuilder::new(clock.clone()).seed(7).world_as_planned().start().await.expect("the simulator starts");
    let mut cfg = AuroraConfig::from_plan(&sim.plan());
    cfg.replication_lag = Duration::from_secs(2);
    cfg.globals[0].workload.txns_per_second = 4.0;
    cfg.backend = backend.clone();
    match Aurora::install(&sim, cfg) {
        Ok(aurora) => Some((sim, clock, aurora)),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => panic!("CI=true and {backend:?} is unavailable: {e}"),
        Err(e) => {
            eprintln!("SKIPPING this test on {backend:?}: the server is unavailable ({e})");
            None
        }
    }
}

fn rds(sim: &Sim, clock: &SharedClock, region: &str) -> aws_sdk_rds::Client {
    let url = sim.endpoints().url(service::RDS).expect("rds endpoint").to_string();
    aws_sdk_rds::Client::new(&common::sdk_config(clock, region, &url, Duration::from_secs(5)))
}

fn code<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(e: SdkError<E, R>) -> String {
    match e.as_service_error() {
        Some(s) => s.code().unwrap_or("<no code>").to_string(),
        None => format!("<not a service error: {e:?}>"),
    }
}

async fn global(client: &aws_sdk_rds::Client) -> GlobalCluster {
    let out =
        client.describe_global_clusters().global_cluster_identifier(GLOBAL).send().await.expect("describe global");
    out.global_clusters().first().cloned().expect("one global cluster")
}

fn writer_arn(g: &GlobalCluster) -> String {
    g.global_cluster_members()
        .iter()
        .find(|m| m.is_writer() == Some(true))
        .and_then(|m| m.db_cluster_arn())
        .unwrap_or("")
        .into()
}

/// A switchover of `global` to the cluster `target`, ready to send.
fn switchover(
    client: &aws_sdk_rds::Client,
    global: &str,
    target: &str,
) -> aws_sdk_rds::operation::switchover_global_cluster::builders::SwitchoverGlobalClusterFluentBuilder {
    client.switchover_global_cluster().global_cluster_identifier(global).target_db_cluster_identifier(target)
}

/// A failover of the global cluster to `target` with data loss allowed, ready to send.
fn failover(
    client: &aws_sdk_rds::Client,
    target: &str,
) -> aws_sdk_rds::operation::failover_global_cluster::builders::FailoverGlobalClusterFluentBuilder {
    client
        .failover_global_cluster()
        .global_cluster_identifier(GLOBAL)
        .target_db_cluster_identifier(target)
        .allow_data_loss(true)
}

/// An Aurora PostgreSQL instance `instance` of class `class` in `cluster`, ready to send.
fn create_instance(
    client: &aws_sdk_rds::Client,
    instance: &str,
    cluster: &str,
    class: &str,
) -> aws_sdk_rds::operation::create_db_instance::builders::CreateDBInstanceFluentBuilder {
    client
        .create_db_instance()
        .db_instance_identifier(instance)
        .db_cluster_identifier(cluster)
        .db_instance_class(class)
        .engine("aurora-postgresql")
}

/// A copy of the snapshot `source` named `target`, ready to send.
fn copy_snapshot(
    client: &aws_sdk_rds::Client,
    source: &str,
    target: &str,
) -> aws_sdk_rds::operation::copy_db_cluster_snapshot::builders::CopyDBClusterSnapshotFluentBuilder {
    client
        .copy_db_cluster_snapshot()
        .source_db_cluster_snapshot_identifier(source)
        .target_db_cluster_snapshot_identifier(target)
}

/// The synchronization status of the member `arn` of `g`.
fn sync_status(g: &GlobalCluster, arn: &str) -> Option<String> {
    let member = g.global_cluster_members().iter().find(|m| m.db_cluster_arn() == Some(arn)).expect("a member");
    member.synchronization_status().map(|s| s.as_str().to_string())
}

fn failover_status(g: &GlobalCluster) -> Option<String> {
    g.failover_state().and_then(|f| f.status()).map(|s| s.as_str().to_string())
}

async fn advance(clock: &SharedClock, secs: u64) {
    clock.sleep(Duration::from_secs(secs)).await;
}

#[tokio::test(start_paused = true)]
async fn describe_in_both_regions_and_not_found_errors() {
    let (sim, clock, _aurora) = start().await;
    for region in [USE1, USW2] {
        let c = rds(&sim, &clock, region);
        let g = global(&c).await;
        assert_eq!(g.engine(), Some("aurora-postgresql"));
        assert_eq!(g.status(), Some("available"));
        assert_eq!(writer_arn(&g), C_USE1, "the global view is the same from {region}");
        assert!(g.failover_state().is_none());
        let secondary = g.global_cluster_members().iter().find(|m| m.is_writer() == Some(false)).unwrap();
        assert_eq!(secondary.synchronization_status().map(|s| s.as_str()), Some("connected"));

        let clusters = c.describe_db_clusters().send().await.unwrap();
        assert_eq!(clusters.db_clusters().len(), 1, "a Region sees only its own clusters");
        let cl = &clusters.db_clusters()[0];
        assert_eq!(cl.db_cluster_arn(), Some(if region == USE1 { C_USE1 } else { C_USW2 }));
        assert_eq!(cl.status(), Some("available"));
        assert_eq!(cl.global_cluster_identifier(), Some(GLOBAL));
        assert_eq!(cl.db_cluster_members().len(), 1);
        assert_eq!(cl.db_cluster_members()[0].is_cluster_writer(), Some(region == USE1));
        let by_arn = c.describe_db_clusters().db_cluster_identifier(cl.db_cluster_arn().unwrap()).send().await.unwrap();
        assert_eq!(by_arn.db_clusters().len(), 1);

        let inst = c
            .describe_db_instances()
            .filters(Filter::builder().name("db-cluster-id").values(cl.db_cluster_identifier().unwrap()).build())
            .send()
            .await
            .unwrap();
        assert_eq!(inst.db_instances().len(), 1);
        assert_eq!(inst.db_instances()[0].db_instance_status(), Some("available"));
        assert!(inst.db_instances()[0].endpoint().and_then(|e| e.address()).is_some());
    }
    let c = rds(&sim, &clock, USE1);
    let e = c.describe_global_clusters().global_cluster_identifier("nope").send().await.unwrap_err();
    assert!(e.as_service_error().is_some_and(|s| s.is_global_cluster_not_found_fault()), "{e:?}");
    let e = c.describe_db_clusters().db_cluster_identifier("retail-orders-usw2").send().await.unwrap_err();
    assert!(e.as_service_error().is_some_and(|s| s.is_db_cluster_not_found_fault()), "other Region's cluster: {e:?}");
    let e = c.describe_db_instances().db_instance_identifier("nope").send().await.unwrap_err();
    assert!(e.as_service_error().is_some_and(|s| s.is_db_instance_not_found_fault()));
    let e = c.describe_db_cluster_snapshots().db_cluster_snapshot_identifier("nope").send().await.unwrap_err();
    assert!(e.as_service_error().is_some_and(|s| s.is_db_cluster_snapshot_not_found_fault()));
    let e = c.describe_events().source_identifier("retail-orders-use1").send().await.unwrap_err();
    assert_eq!(code(e), "InvalidParameterCombination");
}

#[tokio::test(start_paused = true)]
async fn switchover_pending_switching_over_done_and_refusals() {
    let (sim, clock, aurora) = start().await;
    let c2 = rds(&sim, &clock, USW2);
    let e = switchover(&c2, "nope", C_USW2).send().await;
    assert!(e.unwrap_err().as_service_error().is_some_and(|s| s.is_global_cluster_not_found_fault()));
    let e = switchover(&c2, GLOBAL, "arn:aws:rds:us-west-2:111122223333:cluster:nope").send().await;
    assert!(e.unwrap_err().as_service_error().is_some_and(|s| s.is_db_cluster_not_found_fault()));
    let e = switchover(&c2, GLOBAL, C_USE1).send().await;
    assert!(
        e.unwrap_err().as_service_error().is_some_and(|s| s.is_invalid_global_cluster_state_fault()),
        "already primary"
    );

    advance(&clock, 30).await;
    let out = switchover(&c2, GLOBAL, C_USW2).send().await;
    let g = out.expect("switchover starts").global_cluster().cloned().unwrap();
    assert_eq!(failover_status(&g).as_deref(), Some("pending"));
    let fs = g.failover_state().unwrap();
    assert_eq!(
        (fs.from_db_cluster_arn(), fs.to_db_cluster_arn(), fs.is_data_loss_allowed()),
        (Some(C_USE1), Some(C_USW2), Some(false))
    );

    let e = switchover(&c2, GLOBAL, C_USW2).send().await;
    assert!(
        e.unwrap_err().as_service_error().is_some_and(|s| s.is_invalid_global_cluster_state_fault()),
        "in progress"
    );
    advance(&clock, 10).await;
    let g = global(&c2).await;
    assert_eq!(failover_status(&g).as_deref(), Some("switching-over"), "a status unknown to the SDK enum");
    assert_eq!(g.status(), Some("switching-over"));
    advance(&clock, 90).await;
    let g = global(&c2).await;
    assert!(g.failover_state().is_none(), "FailoverState is empty once done");
    assert_eq!(writer_arn(&g), C_USW2);
    assert!(aurora.ground_truth(GLOBAL).is_empty(), "a switchover loses nothing");
    let (a, b) = aurora.with_data(|d| {
        (
            d.mirror(&ClusterRef::new(USE1, "retail-orders-use1")).cloned(),
            d.mirror(&ClusterRef::new(USW2, "retail-orders-usw2")).cloned(),
        )
    });
    assert!(a.unwrap()["orders"].len() <= b.unwrap()["orders"].len(), "the new writer has everything");
    let ev = c2.describe_events().source_type(aws_sdk_rds::types::SourceType::DbCluster).send().await.unwrap();
    let msgs: Vec<&str> = ev.events().iter().filter_map(|e| e.message()).collect();
    assert!(msgs.iter().any(|m| m.contains("switchover") && m.contains("started")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("switchover") && m.contains("completed")), "{msgs:?}");

    // Versions differing in the minor version refuse both modes.
    aurora.set_engine_version(USE1, "retail-orders-use1", "16.2");
    let c1 = rds(&sim, &clock, USE1);
    let e = switchover(&c1, GLOBAL, C_USE1).send().await;
    let e = e.unwrap_err();
    assert!(e.as_service_error().is_some_and(|s| s.is_invalid_global_cluster_state_fault()));
    assert!(e.as_service_error().and_then(|s| s.message()).is_some_and(|m| m.contains("16.2")));
    let e = failover(&c1, C_USE1).send().await;
    assert!(e.unwrap_err().as_service_error().is_some_and(|s| s.is_invalid_global_cluster_state_fault()));
}

#[tokio::test(start_paused = true)]
async fn region_outage_on_sqlite() {
    region_outage_failover_recovery_snapshot_copy_restore_cleanup(Backend::Sqlite(None)).await;
}

#[tokio::test(start_paused = true)]
async fn region_outage_on_postgres() {
    region_outage_failover_recovery_snapshot_copy_restore_cleanup(Backend::Postgres(
        "postgres://postgres@127.0.0.1:5432/test".into(),
    ))
    .await;
}

#[tokio::test(start_paused = true)]
async fn region_outage_on_mariadb() {
    region_outage_failover_recovery_snapshot_copy_restore_cleanup(Backend::Mysql(
        "mysql://root@127.0.0.1:3306/test".into(),
    ))
    .await;
}

async fn region_outage_failover_recovery_snapshot_copy_restore_cleanup(backend: Backend) {
    let Some((sim, clock, aurora)) = start_on(backend.clone()).await else { return };
    let c1 = rds(&sim, &clock, USE1);
    let c2 = rds(&sim, &clock, USW2);
    advance(&clock, 120).await;

    // The primary Region fails under write load.
    sim.set_region_down(USE1, DownMode::Refuse);
    let failed_at = clock.now();
    assert!(c1.describe_db_clusters().send().await.is_err(), "a down Region's endpoint does not answer");
    advance(&clock, 20).await;
    let lag = aurora.replication_lag(USW2, "retail-orders-usw2").unwrap();
    assert_eq!(lag, Duration::from_secs(22), "the lag grows from the failure");

    // A switchover is refused (not every member is available); a failover proceeds.
    let e = switchover(&c2, GLOBAL, C_USW2).send().await;
    assert!(e.unwrap_err().as_service_error().is_some_and(|s| s.is_invalid_global_cluster_state_fault()));
    let e = failover(&c2, C_USW2).switchover(true).send().await;
    assert_eq!(code(e.unwrap_err()), "InvalidParameterCombination");
    let started = clock.now();
    let g = failover(&c2, C_USW2).send().await.expect("failover starts").global_cluster().cloned().unwrap();
    assert_eq!(g.failover_state().and_then(|f| f.is_data_loss_allowed()), Some(true));
    advance(&clock, 10).await;
    assert_eq!(failover_status(&global(&c2).await).as_deref(), Some("failing-over"));
    advance(&clock, 50).await;
    let g = global(&c2).await;
    assert!(g.failover_state().is_none());
    assert_eq!(writer_arn(&g), C_USW2);
    assert_eq!(sync_status(&g, C_USE1).as_deref(), Some("pending-resync"));

    let truth = aurora.ground_truth(GLOBAL);
    assert_eq!(truth.len(), 1);
    assert!(truth[0].total_rows() > 0, "about 2 s of writes were lost");
    assert_eq!(truth[0].region_failed_at, Some(failed_at));

    // Fencing could not be confirmed on the unreachable old primary: recorded in us-west-2.
    let ev = c2
        .describe_events()
        .source_type(aws_sdk_rds::types::SourceType::DbCluster)
        .source_identifier("retail-orders-usw2")
        .start_time(DateTime::from(started))
        .send()
        .await
        .unwrap();
    let msgs: Vec<&str> = ev.events().iter().filter_map(|e| e.message()).collect();
    assert!(msgs.iter().any(|m| m.contains("timed out")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("failover") && m.contains("completed")), "{msgs:?}");

    // No snapshot while the Region is down, nor in the first 5 minutes after it returns.
    advance(&clock, 1800).await;
    sim.set_region_up(USE1);
    let recovered = clock.now();
    let automated = || {
        c1.describe_db_cluster_snapshots().db_cluster_identifier("retail-orders-use1").snapshot_type("automated").send()
    };
    assert!(automated().await.unwrap().db_cluster_snapshots().is_empty());
    advance(&clock, 299).await;
    assert!(automated().await.unwrap().db_cluster_snapshots().is_empty());
    advance(&clock, 1).await;
    let snaps = automated().await.unwrap();
    let snap = snaps.db_cluster_snapshots()[0].clone();
    let id = snap.db_cluster_snapshot_identifier().unwrap().to_string();
    assert!(id.starts_with("rds:unplanned-global-failover-retail-orders-use1-"), "{id}");
    assert_eq!((snap.status(), snap.snapshot_type()), (Some("available"), Some("automated")));
    assert!(
        snap.snapshot_create_time()
            .is_some_and(|t| t.secs() as u64 >= recovered.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs())
    );
    assert_eq!(
        sync_status(&global(&c2).await, C_USE1).as_deref(),
        Some("pending-resync"),
        "rejoins after the snapshot"
    );
    advance(&clock, 60).await;
    let g = global(&c2).await;
    assert_eq!(sync_status(&g, C_USE1).as_deref(), Some("connected"), "rejoined as a secondary");

    // Copy (5 min), restore (10 min), instance (8 min), in the old Region.
    let copy = copy_snapshot(&c1, snap.db_cluster_snapshot_arn().unwrap(), "recovery-copy").send().await.unwrap();
    assert_eq!(copy.db_cluster_snapshot().and_then(|s| s.status()), Some("copying"));
    let e = copy_snapshot(&c1, &id, "recovery-copy").send().await;
    assert!(e.unwrap_err().as_service_error().is_some_and(|s| s.is_db_cluster_snapshot_already_exists_fault()));
    let e = copy_snapshot(&c1, "nope", "x").send().await;
    assert!(e.unwrap_err().as_service_error().is_some_and(|s| s.is_db_cluster_snapshot_not_found_fault()));
    let restore = || {
        c1.restore_db_cluster_from_snapshot()
            .db_cluster_identifier("retail-orders-recovery")
            .snapshot_identifier("recovery-copy")
            .engine("aurora-postgresql")
            .vpc_security_group_ids("sg-0123")
            .db_subnet_group_name("recovery-subnets")
            .send()
    };
    let e = restore().await.unwrap_err();
    assert!(e.as_service_error().is_some_and(|s| s.is_invalid_db_cluster_snapshot_state_fault()), "still copying");
    advance(&clock, 300).await;
    let manual = c1.describe_db_cluster_snapshots().snapshot_type("manual").send().await.unwrap();
    assert_eq!(manual.db_cluster_snapshots()[0].status(), Some("available"));
    let out = restore().await.unwrap();
    assert_eq!(out.db_cluster().and_then(|c| c.status()), Some("creating"));
    let e = restore().await.unwrap_err();
    assert!(e.as_service_error().is_some_and(|s| s.is_db_cluster_already_exists_fault()));
    let create = || create_instance(&c1, "retail-orders-recovery-1", "retail-orders-recovery", "db.r6g.large").send();
    let inst = create().await.unwrap();
    assert_eq!(inst.db_instance().and_then(|i| i.db_instance_status()), Some("creating"));
    assert!(create().await.unwrap_err().as_service_error().is_some_and(|s| s.is_db_instance_already_exists_fault()));
    let e = create_instance(&c1, "x-1", "nope", "db.r6g.large").send().await;
    assert!(e.unwrap_err().as_service_error().is_some_and(|s| s.is_db_cluster_not_found_fault()));
    let modify = || {
        c1.modify_db_cluster()
            .db_cluster_identifier("retail-orders-recovery")
            .manage_master_user_password(true)
            .apply_immediately(true)
            .send()
    };
    let e = modify().await.unwrap_err();
    assert!(e.as_service_error().is_some_and(|s| s.is_invalid_db_cluster_state_fault()), "still creating");
    advance(&clock, 600).await;
    let e = c1.modify_db_cluster().db_cluster_identifier("nope").manage_master_user_password(true).send().await;
    assert!(e.unwrap_err().as_service_error().is_some_and(|s| s.is_db_cluster_not_found_fault()));
    let m = modify().await.unwrap();
    let secret = m.db_cluster().and_then(|c| c.master_user_secret()).cloned().expect("a managed secret");
    assert_eq!(secret.secret_status(), Some("creating"));
    let secret_arn = secret.secret_arn().unwrap().to_string();
    assert!(
        secret_arn.starts_with("arn:aws:secretsmanager:us-east-1:111122223333:secret:rds!cluster-"),
        "{secret_arn}"
    );
    advance(&clock, 30).await;
    let rc = c1.describe_db_clusters().db_cluster_identifier("retail-orders-recovery").send().await.unwrap();
    assert_eq!(rc.db_clusters()[0].master_user_secret().and_then(|s| s.secret_status()), Some("active"));
    let sm_url = sim.endpoints().url(service::SECRETS_MANAGER).unwrap().to_string();
    let sm_conf = common::sdk_config(&clock, USE1, &sm_url, Duration::from_secs(5));
    let value =
        aws_sdk_secretsmanager::Client::new(&sm_conf).get_secret_value().secret_id(&secret_arn).send().await.unwrap();
    let creds: serde_json::Value = serde_json::from_str(value.secret_string().unwrap()).unwrap();
    assert_eq!(creds["username"], "admin");
    assert!(creds["password"].as_str().is_some_and(|p| !p.is_empty()));
    let rc = c1.describe_db_clusters().db_cluster_identifier("retail-orders-recovery").send().await.unwrap();
    let rc = &rc.db_clusters()[0];
    assert_eq!(rc.status(), Some("available"));
    assert!(rc.reader_endpoint().is_some_and(|e| e.starts_with("retail-orders-recovery.cluster-ro-")));
    let ri = c1.describe_db_instances().db_instance_identifier("retail-orders-recovery-1").send().await.unwrap();
    assert_eq!(ri.db_instances()[0].db_instance_status(), Some("available"));

    // The recovery cluster's database holds the old primary's data as of the failure: the
    // ground truth is exactly its difference with the new primary at the failover.
    let loc = aurora.database(USE1, "retail-orders-recovery").expect("a database");
    assert_eq!(loc.dialect, backend.dialect(), "{}", loc.url);
    let (restored, snapshot) = aurora.with_data(|d| {
        (
            d.dump(&ClusterRef::new(USE1, "retail-orders-recovery")).unwrap(),
            d.snapshot_tables(&format!("{USE1}/{id}")).unwrap(),
        )
    });
    assert_eq!(restored, *snapshot);
    for (table, t) in &truth[0].tables {
        for k in &t.lost {
            assert!(restored[table].contains_key(k), "lost row {k:?} of {table} is in the restored copy");
        }
    }

    // Cleanup, twice.
    let e =
        c1.delete_db_cluster().db_cluster_identifier("retail-orders-recovery").skip_final_snapshot(true).send().await;
    assert!(
        e.unwrap_err().as_service_error().is_some_and(|s| s.is_invalid_db_cluster_state_fault()),
        "instances first"
    );
    c1.delete_db_instance()
        .db_instance_identifier("retail-orders-recovery-1")
        .skip_final_snapshot(true)
        .send()
        .await
        .unwrap();
    let e = c1.delete_db_instance().db_instance_identifier("retail-orders-recovery-1").send().await;
    assert!(e.unwrap_err().as_service_error().is_some_and(|s| s.is_invalid_db_instance_state_fault()));
    let out = c1
        .delete_db_cluster()
        .db_cluster_identifier("retail-orders-recovery")
        .skip_final_snapshot(true)
        .send()
        .await
        .unwrap();
    assert_eq!(out.db_cluster().and_then(|c| c.status()), Some("deleting"));
    assert!(aurora.database(USE1, "retail-orders-recovery").is_none());
    advance(&clock, 60).await;
    let e =
        c1.delete_db_cluster().db_cluster_identifier("retail-orders-recovery").skip_final_snapshot(true).send().await;
    assert!(e.unwrap_err().as_service_error().is_some_and(|s| s.is_db_cluster_not_found_fault()));
    let e = c1.delete_db_instance().db_instance_identifier("retail-orders-recovery-1").send().await;
    assert!(e.unwrap_err().as_service_error().is_some_and(|s| s.is_db_instance_not_found_fault()));
}

#[tokio::test(start_paused = true)]
async fn headless_secondary_stalled_failover_and_snapshot_never_taken() {
    let (sim, clock, aurora) = start().await;
    let c2 = rds(&sim, &clock, USW2);
    aurora.make_headless(USW2, "retail-orders-usw2");
    let e = failover(&c2, C_USW2).send().await.unwrap_err();
    assert!(e.as_service_error().is_some_and(|s| s.is_invalid_db_cluster_state_fault()), "no instance to promote");
    let m = c2
        .modify_db_cluster()
        .db_cluster_identifier("retail-orders-usw2")
        .serverless_v2_scaling_configuration(
            aws_sdk_rds::types::ServerlessV2ScalingConfiguration::builder().min_capacity(0.5).max_capacity(8.0).build(),
        )
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let cap = m.db_cluster().and_then(|c| c.serverless_v2_scaling_configuration()).cloned().unwrap();
    assert_eq!((cap.min_capacity(), cap.max_capacity()), (Some(0.5), Some(8.0)));
    create_instance(&c2, "retail-orders-usw2-2", "retail-orders-usw2", "db.serverless").send().await.unwrap();
    advance(&clock, 480).await;

    aurora.set_failover_stalls(true);
    aurora.set_snapshot_after_recovery(None);
    sim.set_region_down(USE1, DownMode::Hang);
    failover(&c2, C_USW2).send().await.expect("failover starts");
    advance(&clock, 3600).await;
    assert_eq!(failover_status(&global(&c2).await).as_deref(), Some("failing-over"), "stalled");
    aurora.set_failover_stalls(false);
    advance(&clock, 60).await;
    assert!(global(&c2).await.failover_state().is_none());
    sim.set_region_up(USE1);
    advance(&clock, 3600).await;
    let c1 = rds(&sim, &clock, USE1);
    let snaps = c1.describe_db_cluster_snapshots().db_cluster_identifier("retail-orders-use1").send().await.unwrap();
    assert!(snaps.db_cluster_snapshots().is_empty(), "the snapshot was never taken");
    let g = global(&c2).await;
    assert_eq!(sync_status(&g, C_USE1).as_deref(), Some("connected"), "rejoined anyway");
}

#[tokio::test(start_paused = true)]
async fn cloudwatch_reports_the_secondary_lag_from_the_rds_model() {
    use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
    let (sim, clock, aurora) = start().await;
    advance(&clock, 300).await;
    let lag = |region: &str, cluster: &str| {
        let url = sim.endpoints().url(service::CLOUDWATCH).unwrap().to_string();
        let cw = aws_sdk_cloudwatch::Client::new(&common::sdk_config(&clock, region, &url, Duration::from_secs(5)));
        let metric = Metric::builder()
            .namespace("AWS/RDS")
            .metric_name("AuroraGlobalDBRPOLag")
            .dimensions(Dimension::builder().name("DBClusterIdentifier").value(cluster).build())
            .build();
        let q = MetricDataQuery::builder()
            .id("lag")
            .metric_stat(MetricStat::builder().metric(metric).period(60).stat("Maximum").build())
            .build();
        let now = clock.now();
        async move {
            let out = cw
                .get_metric_data()
                .metric_data_queries(q)
                .start_time(DateTime::from(now - Duration::from_secs(300)))
                .end_time(DateTime::from(now))
                .send()
                .await
                .expect("get metric data");
            out.metric_data_results().first().and_then(|r| r.values().first().copied())
        }
    };
    assert_eq!(lag(USW2, "retail-orders-usw2").await, Some(2000.0), "the secondary reports the replication lag");
    assert_eq!(lag(USE1, "retail-orders-use1").await, None, "the writer reports none");
    aurora.set_replication_lag(GLOBAL, Duration::from_secs(45)).unwrap();
    assert_eq!(lag(USW2, "retail-orders-usw2").await, Some(45_000.0), "a lagging secondary");
}

#[tokio::test(start_paused = true)]
async fn healthy_failover_fences_the_old_primary_and_a_cross_region_copy_restores_in_the_target() {
    let (sim, clock, aurora) = start().await;
    let c1 = rds(&sim, &clock, USE1);
    let c2 = rds(&sim, &clock, USW2);
    advance(&clock, 60).await;
    let started = clock.now();
    failover(&c2, C_USW2).send().await.expect("a failover with data loss while both Regions are up");
    // The old primary is reachable: the fencing event is recorded on it, in its Region.
    let ev = c1
        .describe_events()
        .source_type(aws_sdk_rds::types::SourceType::DbCluster)
        .source_identifier(C_USE1)
        .start_time(DateTime::from(started))
        .send()
        .await
        .unwrap();
    assert!(ev.events().iter().any(|e| e.message().is_some_and(|m| m.contains("were stopped"))), "{:?}", ev.events());
    advance(&clock, 60).await;
    assert_eq!(writer_arn(&global(&c1).await), C_USW2);
    let truth = aurora.ground_truth(GLOBAL);
    assert_eq!(truth.len(), 1);
    assert_eq!(truth[0].region_failed_at, None, "no Region failed");

    // The old primary is rebuilt at once; its snapshot appears 5 minutes after the failover.
    advance(&clock, 300).await;
    let snaps = c1.describe_db_cluster_snapshots().snapshot_type("automated").send().await.unwrap();
    let arn = snaps.db_cluster_snapshots()[0].db_cluster_snapshot_arn().unwrap().to_string();
    assert!(
        arn.starts_with("arn:aws:rds:us-east-1:111122223333:cluster-snapshot:rds:unplanned-global-failover-"),
        "{arn}"
    );

    // Copied across to the target Region (the call runs in the destination), restored there.
    let copy = copy_snapshot(&c2, &arn, "orders-recovery-copy")
        .kms_key_id("arn:aws:kms:us-west-2:111122223333:key/recovery")
        .send()
        .await
        .unwrap();
    let copy = copy.db_cluster_snapshot().unwrap();
    assert_eq!(copy.source_db_cluster_snapshot_arn(), Some(arn.as_str()));
    assert_eq!(copy.kms_key_id(), Some("arn:aws:kms:us-west-2:111122223333:key/recovery"));
    assert!(copy.db_cluster_snapshot_arn().unwrap().starts_with("arn:aws:rds:us-west-2:"));
    assert!(
        c1.describe_db_cluster_snapshots()
            .snapshot_type("manual")
            .send()
            .await
            .unwrap()
            .db_cluster_snapshots()
            .is_empty()
    );
    advance(&clock, 300).await;
    c2.restore_db_cluster_from_snapshot()
        .db_cluster_identifier("orders-recovery")
        .snapshot_identifier("orders-recovery-copy")
        .engine("aurora-postgresql")
        .send()
        .await
        .unwrap();
    create_instance(&c2, "orders-recovery-1", "orders-recovery", "db.r6g.large").send().await.unwrap();
    advance(&clock, 600).await;
    let ri = c2.describe_db_instances().db_instance_identifier("orders-recovery-1").send().await.unwrap();
    assert_eq!(ri.db_instances()[0].db_instance_status(), Some("available"));
    let restored = aurora.with_data(|d| d.dump(&ClusterRef::new(USW2, "orders-recovery")).unwrap());
    for (table, t) in &truth[0].tables {
        for k in t.lost.iter().chain(&t.changed) {
            assert!(restored[table].contains_key(k), "{table} {k:?} is in the restored copy");
        }
    }
    assert!(aurora.database(USW2, "orders-recovery").is_some());
}

#[tokio::test(start_paused = true)]
async fn throttled_calls_answer_the_query_protocol_throttling_error() {
    let (sim, clock, _aurora) = start().await;
    sim.set_throttle_rate(service::RDS, 1.0);
    let e = rds(&sim, &clock, USW2).describe_global_clusters().send().await.unwrap_err();
    assert_eq!(code(e), "Throttling");
    sim.set_throttle_rate(service::RDS, 0.0);
    assert!(rds(&sim, &clock, USW2).describe_global_clusters().send().await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_short_outage_between_two_calls_still_stops_writes_and_replication() {
    let (sim, clock, aurora) = start().await;
    advance(&clock, 10).await;
    let before = aurora.with_data(|d| d.stats(GLOBAL).unwrap());
    sim.set_region_down(USE1, DownMode::Refuse);
    advance(&clock, 30).await;
    sim.set_region_up(USE1);
    advance(&clock, 1).await;
    let after = aurora.with_data(|d| d.stats(GLOBAL).unwrap());
    assert!(after.rejected >= before.rejected + 115, "writes failed during the outage: {before:?} -> {after:?}");
    let g = global(&rds(&sim, &clock, USW2)).await;
    assert_eq!(writer_arn(&g), C_USE1, "nothing failed over");
    assert!(aurora.ground_truth(GLOBAL).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_move_sent_again_is_a_repeated_side_effect_even_when_refused() {
    let (sim, clock, _aurora) = start().await;
    let c = rds(&sim, &clock, "us-west-2");
    switchover(&c, GLOBAL, C_USW2).send().await.expect("the first switchover is accepted");
    assert!(sim.repeated_side_effects().is_empty());
    // Sent again while the first runs: refused, and still a repeat of what was done.
    let err = switchover(&c, GLOBAL, C_USW2).send().await.unwrap_err();
    assert_eq!(code(err), "InvalidGlobalClusterStateFault");
    let repeated = sim.repeated_side_effects();
    assert_eq!(repeated.len(), 1, "{repeated:?}");
    assert_eq!(repeated[0].operation, "SwitchoverGlobalCluster");
    assert_eq!(repeated[0].status, Some(400));
    assert!(sim.repeated_mutations().is_empty(), "only successful repeats are repeated_mutations");
}
