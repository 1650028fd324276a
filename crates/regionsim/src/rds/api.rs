//! The wire API of the simulated RDS: each query-protocol action read from its form,
//! carried out on the model and the databases, and answered with the XML of `xml.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::model::{Cluster, Event, GlobalCluster, Instance, RdsModel, Snapshot, SyncInfo};
use super::xml::{cluster_xml, event_xml, global_xml, instance_xml, snapshot_xml};
use super::{Aurora, State, XMLNS, apply, internal};
use crate::data::ClusterRef;
use crate::iam::Authorization;
use crate::secrets::SecretsManager;
use crate::server::{ApiError, HttpService, Request, Response, ResponseFuture};
use crate::wire::{Form, query_error, query_response, xml_elem};

impl Aurora {
    /// Answers one query-protocol request for `region`: the `Result` element's content.
    pub fn handle_action(&self, region: &str, form: &Form) -> Result<String, ApiError> {
        let now = self.clock.now();
        let mut st = self.lock();
        self.sync_locked(&mut st, now).map_err(internal)?;
        let st = &mut *st;
        let action = form.action();
        match action {
            "DescribeGlobalClusters" => describe_global_clusters(&st.model, form, now),
            "SwitchoverGlobalCluster" => {
                let (g, t) = (required(form, "GlobalClusterIdentifier")?, required(form, "TargetDbClusterIdentifier")?);
                let sync = sync_info(st, t, now);
                let effects = st.model.switchover(g, t, sync, now)?;
                apply(&mut st.data, effects).map_err(internal)?;
                Ok(global_result(&st.model, g, now))
            }
            "FailoverGlobalCluster" => {
                let (g, t) = (required(form, "GlobalClusterIdentifier")?, required(form, "TargetDbClusterIdentifier")?);
                let allow = flag(form, "AllowDataLoss");
                if allow && flag(form, "Switchover") {
                    return Err(ApiError::new(
                        400,
                        "InvalidParameterCombination",
                        "Specify either AllowDataLoss or Switchover, not both.",
                    ));
                }
                let effects = if allow {
                    st.model.failover(g, t, now)?
                } else {
                    let sync = sync_info(st, t, now);
                    st.model.switchover(g, t, sync, now)?
                };
                apply(&mut st.data, effects).map_err(internal)?;
                Ok(global_result(&st.model, g, now))
            }
            "DescribeDBClusters" => describe_clusters(&st.model, region, form, now),
            "DescribeDBInstances" => describe_instances(&st.model, region, form, now),
            "DescribeDBClusterSnapshots" => describe_snapshots(&st.model, region, form, now),
            "DescribeEvents" => describe_events(&st.model, region, form, now),
            "CopyDBClusterSnapshot" => {
                let src = required(form, "SourceDBClusterSnapshotIdentifier")?;
                let dst = required(form, "TargetDBClusterSnapshotIdentifier")?;
                let (snap, effects) =
                    st.model.copy_snapshot(region, src, dst, form.get("KmsKeyId").map(str::to_string), now)?;
                apply(&mut st.data, effects).map_err(internal)?;
                Ok(format!("<DBClusterSnapshot>{}</DBClusterSnapshot>", snapshot_xml(&st.model, &snap, now)))
            }
            "RestoreDBClusterFromSnapshot" => {
                let id = required(form, "DBClusterIdentifier")?;
                let snap = required(form, "SnapshotIdentifier")?;
                let engine = required(form, "Engine")?;
                let (c, effects) = st.model.restore(
                    region,
                    id,
                    snap,
                    engine,
                    form.get("EngineVersion").map(str::to_string),
                    form.get("DBSubnetGroupName").map(str::to_string),
                    form.list("VpcSecurityGroupIds.VpcSecurityGroupId"),
                    form.get("KmsKeyId").map(str::to_string),
                    now,
                )?;
                apply(&mut st.data, effects).map_err(internal)?;
                Ok(format!("<DBCluster>{}</DBCluster>", cluster_xml(&st.model, &c, now)))
            }
            "CreateDBInstance" => {
                let id = required(form, "DBInstanceIdentifier")?;
                let class = required(form, "DBInstanceClass")?;
                required(form, "Engine")?;
                let cluster = form.get("DBClusterIdentifier").ok_or_else(|| {
                    ApiError::new(
                        400,
                        "InvalidParameterCombination",
                        "An Aurora DB instance needs DBClusterIdentifier.",
                    )
                })?;
                let i = st.model.create_instance(region, id, cluster, class, now)?;
                Ok(format!("<DBInstance>{}</DBInstance>", instance_xml(&st.model, &i, now)))
            }
            "ModifyDBCluster" => {
                let id = required(form, "DBClusterIdentifier")?;
                let manage = form.get("ManageMasterUserPassword").map(|v| v.eq_ignore_ascii_case("true"));
                let min = form.get("ServerlessV2ScalingConfiguration.MinCapacity").and_then(|v| v.parse().ok());
                let max = form.get("ServerlessV2ScalingConfiguration.MaxCapacity").and_then(|v| v.parse().ok());
                let (c, secret) = st.model.modify_cluster(region, id, manage, min.zip(max), now)?;
                if let (Some(arn), Some(sim)) = (secret, self.sim()) {
                    // RDS keeps the managed password in Secrets Manager as JSON, where the
                    // functions read it like any other credentials secret.
                    let password = format!("sim-{:016x}", failover_core::stable_hash(&arn));
                    let value = serde_json::json!({ "username": c.master_username, "password": password });
                    sim.service::<SecretsManager>().put(region, &arn, &value.to_string(), now);
                }
                Ok(format!("<DBCluster>{}</DBCluster>", cluster_xml(&st.model, &c, now)))
            }
            "DeleteDBInstance" => {
                let i = st.model.delete_instance(region, required(form, "DBInstanceIdentifier")?, now)?;
                Ok(format!("<DBInstance>{}</DBInstance>", instance_xml(&st.model, &i, now)))
            }
            "DeleteDBCluster" => {
                let id = required(form, "DBClusterIdentifier")?;
                if !flag(form, "SkipFinalSnapshot") && form.get("FinalDBSnapshotIdentifier").is_none() {
                    return Err(ApiError::new(
                        400,
                        "InvalidParameterCombination",
                        "FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is true.",
                    ));
                }
                let (c, effects) = st.model.delete_cluster(region, id, now)?;
                apply(&mut st.data, effects).map_err(internal)?;
                Ok(format!("<DBCluster>{}</DBCluster>", cluster_xml(&st.model, &c, now)))
            }
            "" => Err(ApiError::new(400, "MissingAction", "The request has no Action.")),
            other => Err(ApiError::new(
                400,
                "InvalidAction",
                format!("The action {other} is not valid for this web service."),
            )),
        }
    }
}

impl Aurora {
    /// What IAM evaluates for `action` in `region` (see [`crate::iam`]): the RDS action on
    /// every resource the request names (new and existing: a restore acts on the cluster
    /// it creates, its snapshot, its subnet group), `rds:AddTagsToResource` for the tags
    /// of a request that creates and tags, and what RDS does with the caller's
    /// permissions: `kms:CreateGrant` and `kms:DescribeKey` on the KMS key of a copy or
    /// restore, and the managed master secret of `ManageMasterUserPassword`
    /// (`secretsmanager:CreateSecret`, `TagResource`, `RotateSecret`; RDS user guide,
    /// "Password management with Amazon RDS and AWS Secrets Manager", required permissions).
    pub fn authorizations(&self, region: &str, action: &str, form: &Form) -> Vec<Authorization> {
        let account = self.account.as_str();
        let arn = |kind: &str, ident: &str| -> String {
            if ident.starts_with("arn:") {
                ident.to_string()
            } else {
                format!("arn:aws:rds:{region}:{account}:{kind}:{}", ident.to_ascii_lowercase())
            }
        };
        let global = |ident: &str| -> String {
            if ident.starts_with("arn:") {
                ident.to_string()
            } else {
                format!("arn:aws:rds::{account}:global-cluster:{}", ident.to_ascii_lowercase())
            }
        };
        let iam_action = format!("rds:{action}");
        let one = |kind: &str, field: &str| -> Vec<Authorization> {
            let resource = form.get(field).map_or_else(|| arn(kind, "*"), |id| arn(kind, id));
            vec![Authorization::new(iam_action.clone(), resource)]
        };
        let tags: Vec<(String, String)> = form
            .structs("Tags.Tag")
            .into_iter()
            .filter_map(|t| Some((t.get("Key")?.clone(), t.get("Value").cloned().unwrap_or_default())))
            .collect();
        let tagging = |resource: &str| -> Vec<Authorization> {
            if tags.is_empty() {
                return Vec::new();
            }
            vec![Authorization::new("rds:AddTagsToResource", resource).with_tags(Some("rds"), &tags)]
        };
        let kms_through_rds = |key: &str| -> Vec<Authorization> {
            let key = crate::iam::kms_key_arn(key, region);
            ["kms:CreateGrant", "kms:DescribeKey"]
                .into_iter()
                .map(|a| Authorization::new(a, key.clone()).via("rds", region))
                .collect()
        };
        match action {
            "DescribeGlobalClusters" => {
                let id = form.get("GlobalClusterIdentifier").unwrap_or("*");
                vec![Authorization::new(iam_action, global(id))]
            }
            "SwitchoverGlobalCluster" | "FailoverGlobalCluster" => {
                let mut out = Vec::new();
                if let Some(g) = form.get("GlobalClusterIdentifier") {
                    out.push(Authorization::new(iam_action.clone(), global(g)));
                }
                if let Some(t) = form.get("TargetDbClusterIdentifier") {
                    out.push(Authorization::new(iam_action.clone(), arn("cluster", t)));
                }
                out
            }
            "DescribeDBClusters" | "ModifyDBCluster" | "DeleteDBCluster" => {
                let mut out = one("cluster", "DBClusterIdentifier");
                let manage = form.get("ManageMasterUserPassword").is_some_and(|v| v.eq_ignore_ascii_case("true"));
                if action == "ModifyDBCluster"
                    && manage
                    && let Some(id) = form.get("DBClusterIdentifier")
                {
                    let st = self.lock();
                    if let Some(c) = st.model.find_cluster(region, id, self.clock.now()) {
                        let secret = super::model::managed_secret_arn(account, c);
                        for a in
                            ["secretsmanager:CreateSecret", "secretsmanager:TagResource", "secretsmanager:RotateSecret"]
                        {
                            out.push(Authorization::new(a, secret.clone()).via("rds", region));
                        }
                    }
                }
                out
            }
            "DescribeDBInstances" | "DeleteDBInstance" => one("db", "DBInstanceIdentifier"),
            "DescribeDBClusterSnapshots" => {
                let mut out = Vec::new();
                if let Some(c) = form.get("DBClusterIdentifier") {
                    out.push(Authorization::new(iam_action.clone(), arn("cluster", c)));
                }
                if let Some(s) = form.get("DBClusterSnapshotIdentifier") {
                    out.push(Authorization::new(iam_action.clone(), arn("cluster-snapshot", s)));
                }
                if out.is_empty() {
                    out.push(Authorization::new(iam_action, arn("cluster-snapshot", "*")));
                }
                out
            }
            "CopyDBClusterSnapshot" => {
                let mut out = Vec::new();
                let target = form.get("TargetDBClusterSnapshotIdentifier").map(|t| arn("cluster-snapshot", t));
                if let Some(src) = form.get("SourceDBClusterSnapshotIdentifier") {
                    out.push(Authorization::new(iam_action.clone(), arn("cluster-snapshot", src)));
                }
                if let Some(t) = &target {
                    out.push(Authorization::new(iam_action.clone(), t.clone()));
                    out.extend(tagging(t));
                }
                if let Some(k) = form.get("KmsKeyId") {
                    out.extend(kms_through_rds(k));
                }
                out
            }
            "RestoreDBClusterFromSnapshot" => {
                let mut out = Vec::new();
                let cluster = form.get("DBClusterIdentifier").map(|c| arn("cluster", c));
                if let Some(c) = &cluster {
                    out.push(Authorization::new(iam_action.clone(), c.clone()));
                }
                let snapshot = form.get("SnapshotIdentifier");
                if let Some(s) = snapshot {
                    out.push(Authorization::new(iam_action.clone(), arn("cluster-snapshot", s)));
                }
                for (field, kind) in [
                    ("DBSubnetGroupName", "subgrp"),
                    ("DBClusterParameterGroupName", "cluster-pg"),
                    ("OptionGroupName", "og"),
                ] {
                    if let Some(name) = form.get(field) {
                        out.push(Authorization::new(iam_action.clone(), arn(kind, name)));
                    }
                }
                if let Some(c) = &cluster {
                    out.extend(tagging(c));
                }
                // The restored cluster is encrypted with the request's key, else the
                // snapshot's: RDS creates a grant on it either way.
                let key = form.get("KmsKeyId").map(str::to_string).or_else(|| {
                    let s = snapshot?;
                    let (snap_region, id) = match s.strip_prefix("arn:aws:rds:") {
                        Some(rest) => {
                            let r = rest.split(':').next().unwrap_or(region).to_string();
                            (r, s.split(":cluster-snapshot:").nth(1).unwrap_or(s).to_string())
                        }
                        None => (region.to_string(), s.to_string()),
                    };
                    let st = self.lock();
                    let found =
                        st.model.snapshots.values().find(|x| x.region == snap_region && x.id.eq_ignore_ascii_case(&id));
                    found.and_then(|x| x.kms_key_id.clone())
                });
                if let Some(k) = key {
                    out.extend(kms_through_rds(&k));
                }
                out
            }
            "CreateDBInstance" => {
                let instance = arn("db", form.get("DBInstanceIdentifier").unwrap_or("*"));
                let mut out = vec![Authorization::new(iam_action.clone(), instance.clone())];
                if let Some(c) = form.get("DBClusterIdentifier") {
                    out.push(Authorization::new(iam_action, arn("cluster", c)));
                }
                out.extend(tagging(&instance));
                out
            }
            "DescribeEvents" => vec![Authorization::new(iam_action, "*")],
            _ => vec![Authorization::new(iam_action, "*")],
        }
    }
}

fn sync_info(st: &State, target: &str, now: SystemTime) -> SyncInfo {
    let key = match target.strip_prefix("arn:aws:rds:") {
        Some(rest) => {
            let p: Vec<&str> = rest.splitn(4, ':').collect();
            ClusterRef::new(p.first().copied().unwrap_or(""), p.get(3).copied().unwrap_or("").to_ascii_lowercase())
        }
        None => st
            .model
            .clusters
            .keys()
            .find(|k| k.cluster == target.to_ascii_lowercase())
            .cloned()
            .unwrap_or_else(|| ClusterRef::new("", target)),
    };
    SyncInfo { lag: st.data.replication_lag(&key, now) }
}

/// The HTTP face of [`Aurora`] on the simulator's `rds` port.
pub struct RdsService(pub Arc<Aurora>);

impl HttpService for RdsService {
    fn handle(&self, req: Request) -> ResponseFuture {
        let form = Form::parse(&req.body);
        let region =
            req.effective_region().map(str::to_string).or_else(|| self.0.regions.first().cloned()).unwrap_or_default();
        let action = form.action().to_string();
        let resp = match self.0.handle_action(&region, &form) {
            Ok(xml) => query_response(&action, XMLNS, &xml),
            Err(e) => query_error(&e),
        };
        Box::pin(async move { resp })
    }

    fn authorizations(&self, req: &Request, operation: &str) -> Vec<Authorization> {
        let form = Form::parse(&req.body);
        let region =
            req.effective_region().map(str::to_string).or_else(|| self.0.regions.first().cloned()).unwrap_or_default();
        self.0.authorizations(&region, operation, &form)
    }

    fn error_response(&self, _req: &Request, err: &ApiError) -> Response {
        query_error(err)
    }

    fn throttling_error(&self) -> ApiError {
        ApiError::new(400, "Throttling", "Rate exceeded")
    }
}

// ----- input helpers -----

fn required<'a>(form: &'a Form, name: &str) -> Result<&'a str, ApiError> {
    form.get(name).filter(|v| !v.is_empty()).ok_or_else(|| {
        ApiError::new(400, "MissingParameter", format!("The request must contain the parameter {name}."))
    })
}

fn flag(form: &Form, name: &str) -> bool {
    form.get(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// `Filters.Filter.N.Name` / `Filters.Filter.N.Values.Value.M`.
fn filters(form: &Form) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in form.structs("Filters.Filter") {
        let Some(name) = f.get("Name") else { continue };
        let values: Vec<String> = (1..).map_while(|i| f.get(&format!("Values.Value.{i}")).cloned()).collect();
        out.entry(name.clone()).or_default().extend(values);
    }
    out
}

fn matches_filter(filters: &BTreeMap<String, Vec<String>>, name: &str, candidates: &[&str]) -> bool {
    filters.get(name).is_none_or(|vals| vals.iter().any(|v| candidates.iter().any(|c| c.eq_ignore_ascii_case(v))))
}

/// The `db-cluster-id` filter on a resource of the cluster `cluster` of `region`: the
/// filter names the cluster by identifier or ARN.
fn matches_cluster_filter(m: &RdsModel, filters: &BTreeMap<String, Vec<String>>, region: &str, cluster: &str) -> bool {
    matches_filter(filters, "db-cluster-id", &[cluster, &m.cluster_arn(region, cluster)])
}

/// `MaxRecords` (20..=100, default 100) and `Marker` (an offset) paging.
fn page<T>(items: Vec<T>, form: &Form) -> Result<(Vec<T>, Option<String>), ApiError> {
    let max = match form.get("MaxRecords") {
        Some(v) => {
            let n: usize =
                v.parse().map_err(|_| ApiError::new(400, "InvalidParameterValue", "MaxRecords must be a number."))?;
            if !(20..=100).contains(&n) {
                return Err(ApiError::new(400, "InvalidParameterValue", "MaxRecords must be between 20 and 100."));
            }
            n
        }
        None => 100,
    };
    let start: usize = form.get("Marker").and_then(|m| m.parse().ok()).unwrap_or(0);
    let total = items.len();
    let items: Vec<T> = items.into_iter().skip(start).take(max).collect();
    let next = (start + max < total).then(|| (start + max).to_string());
    Ok((items, next))
}

fn marker_xml(m: Option<String>) -> String {
    m.map(|m| xml_elem("Marker", &m)).unwrap_or_default()
}

/// One page of `items` (see [`page`]) as `<{list}><{member}>…</{member}>…</{list}>`,
/// followed by the `Marker` of the next page.
fn paged_xml<T>(
    items: Vec<T>,
    form: &Form,
    list: &str,
    member: &str,
    xml: impl Fn(&T) -> String,
) -> Result<String, ApiError> {
    let (items, marker) = page(items, form)?;
    let body: String = items.iter().map(|i| format!("<{member}>{}</{member}>", xml(i))).collect();
    Ok(format!("<{list}>{body}</{list}>{}", marker_xml(marker)))
}

fn short_id(ident: &str) -> String {
    ident.rsplit(':').next().unwrap_or(ident).to_ascii_lowercase()
}

// ----- operations -----

fn describe_global_clusters(m: &RdsModel, form: &Form, now: SystemTime) -> Result<String, ApiError> {
    let want = form.get("GlobalClusterIdentifier").map(short_id);
    let f = filters(form);
    let mut list: Vec<&GlobalCluster> = m
        .globals
        .values()
        .filter(|g| want.as_ref().is_none_or(|w| *w == g.id))
        .filter(|g| matches_filter(&f, "global-cluster-id", &[&g.id, &m.global_arn(&g.id)]))
        .collect();
    if let Some(w) = want.filter(|_| list.is_empty()) {
        return Err(ApiError::new(404, "GlobalClusterNotFoundFault", format!("Global cluster {w} not found.")));
    }
    list.sort_by(|a, b| a.id.cmp(&b.id));
    paged_xml(list, form, "GlobalClusters", "GlobalClusterMember", |g| global_xml(m, g, now))
}

fn global_result(m: &RdsModel, id: &str, now: SystemTime) -> String {
    match m.globals.get(&short_id(id)) {
        Some(g) => format!("<GlobalCluster>{}</GlobalCluster>", global_xml(m, g, now)),
        None => String::new(),
    }
}

fn describe_clusters(m: &RdsModel, region: &str, form: &Form, now: SystemTime) -> Result<String, ApiError> {
    let want = form.get("DBClusterIdentifier");
    let f = filters(form);
    let list: Vec<&Cluster> = match want {
        Some(id) => {
            let c = m
                .find_cluster(region, id, now)
                .ok_or_else(|| ApiError::new(404, "DBClusterNotFoundFault", format!("DBCluster {id} not found.")))?;
            vec![c]
        }
        None => m.live_clusters(region, now),
    };
    let list: Vec<&Cluster> = list
        .into_iter()
        .filter(|c| matches_filter(&f, "db-cluster-id", &[&c.key.cluster, &c.arn]))
        .filter(|c| matches_filter(&f, "engine", &[&c.engine]))
        .collect();
    paged_xml(list, form, "DBClusters", "DBCluster", |c| cluster_xml(m, c, now))
}

fn describe_instances(m: &RdsModel, region: &str, form: &Form, now: SystemTime) -> Result<String, ApiError> {
    let f = filters(form);
    let mut list: Vec<&Instance> = m.instances_in(region, now);
    if let Some(id) = form.get("DBInstanceIdentifier") {
        let id = short_id(id);
        list.retain(|i| i.id == id);
        if list.is_empty() {
            return Err(ApiError::new(404, "DBInstanceNotFound", format!("DBInstance {id} not found.")));
        }
    }
    let list: Vec<&Instance> = list
        .into_iter()
        .filter(|i| matches_cluster_filter(m, &f, region, &i.cluster))
        .filter(|i| matches_filter(&f, "db-instance-id", &[&i.id, &i.arn]))
        .collect();
    paged_xml(list, form, "DBInstances", "DBInstance", |i| instance_xml(m, i, now))
}

fn describe_snapshots(m: &RdsModel, region: &str, form: &Form, now: SystemTime) -> Result<String, ApiError> {
    let f = filters(form);
    let mut list: Vec<&Snapshot> = m.snapshots_in(region, now);
    if let Some(id) = form.get("DBClusterSnapshotIdentifier") {
        let id = short_id(id);
        list.retain(|s| s.id == id);
        if list.is_empty() {
            return Err(ApiError::new(
                404,
                "DBClusterSnapshotNotFoundFault",
                format!("DBClusterSnapshot {id} not found."),
            ));
        }
    }
    if let Some(c) = form.get("DBClusterIdentifier") {
        let c = short_id(c);
        list.retain(|s| s.cluster == c);
    }
    if let Some(t) = form.get("SnapshotType").filter(|t| !t.is_empty()) {
        list.retain(|s| s.snapshot_type.eq_ignore_ascii_case(t));
    }
    let list: Vec<&Snapshot> = list
        .into_iter()
        .filter(|s| matches_cluster_filter(m, &f, region, &s.cluster))
        .filter(|s| matches_filter(&f, "db-cluster-snapshot-id", &[&s.id, &s.arn]))
        .filter(|s| matches_filter(&f, "snapshot-type", &[&s.snapshot_type]))
        .filter(|s| matches_filter(&f, "engine", &[&s.engine]))
        .collect();
    paged_xml(list, form, "DBClusterSnapshots", "DBClusterSnapshot", |s| snapshot_xml(m, s, now))
}

fn describe_events(m: &RdsModel, region: &str, form: &Form, now: SystemTime) -> Result<String, ApiError> {
    let parse_time = |name: &str| -> Result<Option<SystemTime>, ApiError> {
        form.get(name)
            .map(|v| {
                failover_core::time_fmt::parse_rfc3339(v).map_err(|e| ApiError::new(400, "InvalidParameterValue", e))
            })
            .transpose()
    };
    let source_id = form.get("SourceIdentifier");
    let source_type = form.get("SourceType");
    if source_id.is_some() && source_type.is_none() {
        return Err(ApiError::new(
            400,
            "InvalidParameterCombination",
            "SourceType must be specified when SourceIdentifier is specified.",
        ));
    }
    let end = parse_time("EndTime")?.unwrap_or(now).min(now);
    let start = match (parse_time("StartTime")?, form.get("Duration")) {
        (Some(s), _) => s,
        (None, Some(d)) => {
            let mins: u64 =
                d.parse().map_err(|_| ApiError::new(400, "InvalidParameterValue", "Duration must be a number."))?;
            end.checked_sub(Duration::from_secs(mins * 60)).unwrap_or(SystemTime::UNIX_EPOCH)
        }
        // The documented default: the past hour.
        (None, None) => end.checked_sub(Duration::from_secs(3600)).unwrap_or(SystemTime::UNIX_EPOCH),
    };
    let cats = form.list("EventCategories.EventCategory");
    let mut list: Vec<&Event> = m
        .events
        .iter()
        .filter(|e| e.region == region && e.date >= start && e.date <= end)
        .filter(|e| source_type.is_none_or(|t| e.source_type == t))
        .filter(|e| {
            source_id.is_none_or(|id| e.source_id.eq_ignore_ascii_case(&short_id_keep_rds(id)) || e.source_arn == id)
        })
        .filter(|e| cats.is_empty() || e.categories.iter().any(|c| cats.contains(c)))
        .collect();
    list.sort_by_key(|e| e.date);
    paged_xml(list, form, "Events", "Event", |e| event_xml(e))
}

/// An identifier without an ARN prefix, keeping the `rds:` of system snapshot names.
fn short_id_keep_rds(ident: &str) -> String {
    match ident.strip_prefix("arn:aws:rds:") {
        Some(rest) => rest.splitn(4, ':').nth(3).unwrap_or(rest).to_string(),
        None => ident.to_string(),
    }
}
