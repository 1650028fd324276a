//! The XML of the simulated RDS's resources, member for member as aws-sdk-rds's
//! `protocol_serde` reads them.

use std::time::SystemTime;

use super::model::{Cluster, Event, GlobalCluster, Instance, OpKind, RdsModel, Role, Snapshot};
use crate::data::ClusterRef;
use crate::wire::{iso8601, xml_elem};

fn b(v: bool) -> &'static str {
    if v { "true" } else { "false" }
}

pub(super) fn global_xml(m: &RdsModel, g: &GlobalCluster, now: SystemTime) -> String {
    let mut x = String::new();
    x += &xml_elem("GlobalClusterIdentifier", &g.id);
    x += &xml_elem("GlobalClusterResourceId", &g.resource_id);
    x += &xml_elem("GlobalClusterArn", &m.global_arn(&g.id));
    x += &xml_elem("Status", m.global_status(g, now));
    x += &xml_elem("Engine", &g.engine);
    x += &xml_elem("EngineVersion", &g.engine_version);
    x += &xml_elem("DatabaseName", &g.database_name);
    x += "<StorageEncrypted>true</StorageEncrypted><DeletionProtection>false</DeletionProtection>";
    x += "<GlobalClusterMembers>";
    for key in &g.members {
        let Some(c) = m.clusters.get(key) else { continue };
        let is_writer = g.writer == *key;
        x += "<GlobalClusterMember>";
        x += &xml_elem("DBClusterArn", &c.arn);
        x += "<Readers>";
        if is_writer {
            for other in g.members.iter().filter(|o| *o != key) {
                x += &xml_elem("member", &m.cluster_arn(&other.region, &other.cluster));
            }
        }
        x += "</Readers>";
        x += &xml_elem("IsWriter", b(is_writer));
        x += "<GlobalWriteForwardingStatus>disabled</GlobalWriteForwardingStatus>";
        if !is_writer {
            x += &xml_elem("SynchronizationStatus", m.synchronization_status(c));
        }
        x += "</GlobalClusterMember>";
    }
    x += "</GlobalClusterMembers>";
    x += &xml_elem("Endpoint", &format!("{}.global-{}.global.rds.amazonaws.com", g.id, m.endpoint_hash("global")));
    if let Some(op) = &g.op {
        x += "<FailoverState>";
        x += &xml_elem("Status", m.failover_status(op, now));
        x += &xml_elem("FromDbClusterArn", &m.cluster_arn(&op.from.region, &op.from.cluster));
        x += &xml_elem("ToDbClusterArn", &m.cluster_arn(&op.to.region, &op.to.cluster));
        x += &xml_elem("IsDataLossAllowed", b(op.kind == OpKind::Failover));
        x += "</FailoverState>";
    }
    x
}

fn zones(region: &str) -> String {
    ["a", "b", "c"].iter().map(|z| xml_elem("AvailabilityZone", &format!("{region}{z}"))).collect()
}

pub(super) fn cluster_xml(m: &RdsModel, c: &Cluster, now: SystemTime) -> String {
    let region = &c.key.region;
    let hash = m.endpoint_hash(region);
    let status = m.cluster_status(c, now);
    let mut x = String::new();
    x += &format!("<AvailabilityZones>{}</AvailabilityZones>", zones(region));
    x += &xml_elem("BackupRetentionPeriod", &c.backup_retention_days.to_string());
    if !c.database_name.is_empty() {
        x += &xml_elem("DatabaseName", &c.database_name);
    }
    x += &xml_elem("DBClusterIdentifier", &c.key.cluster);
    x += &xml_elem("DBClusterParameterGroup", &format!("default.{}", c.engine));
    if let Some(sg) = &c.db_subnet_group {
        x += &xml_elem("DBSubnetGroup", sg);
    }
    x += &xml_elem("Status", status);
    if status != "creating" {
        x += &xml_elem("Endpoint", &format!("{}.cluster-{hash}.{region}.rds.amazonaws.com", c.key.cluster));
        x += &xml_elem("ReaderEndpoint", &format!("{}.cluster-ro-{hash}.{region}.rds.amazonaws.com", c.key.cluster));
    }
    x += "<MultiAZ>false</MultiAZ>";
    x += &xml_elem("Engine", &c.engine);
    x += &xml_elem("EngineVersion", &c.engine_version);
    x += &xml_elem("Port", &c.port.to_string());
    x += &xml_elem("MasterUsername", &c.master_username);
    x += "<DBClusterMembers>";
    let writer_capable = matches!(c.role, Role::Writer | Role::Standalone);
    let mut instances = m.live_instances(region, &c.key.cluster, now);
    instances.sort_by_key(|i| (i.promotion_tier, i.id.clone()));
    for (n, i) in instances.iter().enumerate() {
        x += "<DBClusterMember>";
        x += &xml_elem("DBInstanceIdentifier", &i.id);
        x += &xml_elem("IsClusterWriter", b(writer_capable && n == 0));
        x += "<DBClusterParameterGroupStatus>in-sync</DBClusterParameterGroupStatus>";
        x += &xml_elem("PromotionTier", &i.promotion_tier.to_string());
        x += "</DBClusterMember>";
    }
    x += "</DBClusterMembers>";
    x += "<VpcSecurityGroups>";
    for sg in &c.vpc_security_groups {
        x += &format!(
            "<VpcSecurityGroupMembership>{}<Status>active</Status></VpcSecurityGroupMembership>",
            xml_elem("VpcSecurityGroupId", sg)
        );
    }
    x += "</VpcSecurityGroups>";
    x += "<HostedZoneId>Z2R2ITUGPM61AM</HostedZoneId><StorageEncrypted>true</StorageEncrypted>";
    if let Some(k) = &c.kms_key_id {
        x += &xml_elem("KmsKeyId", k);
    }
    x += &xml_elem("DbClusterResourceId", &c.resource_id);
    x += &xml_elem("DBClusterArn", &c.arn);
    x += "<IAMDatabaseAuthenticationEnabled>true</IAMDatabaseAuthenticationEnabled>";
    x += &xml_elem("ClusterCreateTime", &iso8601(c.created));
    x += "<EngineMode>provisioned</EngineMode><DeletionProtection>false</DeletionProtection>";
    if let Some(g) = &c.global {
        x += &xml_elem("GlobalClusterIdentifier", g);
    }
    if let Some((min, max)) = c.serverless_v2 {
        x += &format!(
            "<ServerlessV2ScalingConfiguration>{}{}</ServerlessV2ScalingConfiguration>",
            xml_elem("MinCapacity", &min.to_string()),
            xml_elem("MaxCapacity", &max.to_string())
        );
    }
    if let Some(secret) = &c.master_user_secret {
        let status = if now < secret.active_at { "creating" } else { "active" };
        x += &format!(
            "<MasterUserSecret>{}{}{}</MasterUserSecret>",
            xml_elem("SecretArn", &secret.arn),
            xml_elem("SecretStatus", status),
            xml_elem("KmsKeyId", &secret.kms_key_id)
        );
    }
    x
}

pub(super) fn instance_xml(m: &RdsModel, i: &Instance, now: SystemTime) -> String {
    let status = m.instance_status(i, now);
    let hash = m.endpoint_hash(&i.region);
    let port = m.clusters.get(&ClusterRef::new(&i.region, &i.cluster)).map_or(3306, |c| c.port);
    let mut x = String::new();
    x += &xml_elem("DBInstanceIdentifier", &i.id);
    x += &xml_elem("DBInstanceClass", &i.class);
    x += &xml_elem("Engine", &i.engine);
    x += &xml_elem("DBInstanceStatus", status);
    x += "<MasterUsername>admin</MasterUsername>";
    if status != "creating" {
        x += &format!(
            "<Endpoint>{}{}<HostedZoneId>Z2R2ITUGPM61AM</HostedZoneId></Endpoint>",
            xml_elem("Address", &format!("{}.{hash}.{}.rds.amazonaws.com", i.id, i.region)),
            xml_elem("Port", &port.to_string())
        );
    }
    x += &xml_elem("InstanceCreateTime", &iso8601(i.created));
    x += &xml_elem("AvailabilityZone", &format!("{}a", i.region));
    x += "<MultiAZ>false</MultiAZ>";
    x += &xml_elem("EngineVersion", &i.engine_version);
    x += "<AutoMinorVersionUpgrade>true</AutoMinorVersionUpgrade><PubliclyAccessible>false</PubliclyAccessible>";
    x += "<StorageType>aurora</StorageType><DbInstancePort>0</DbInstancePort>";
    x += &xml_elem("DBClusterIdentifier", &i.cluster);
    x += "<StorageEncrypted>true</StorageEncrypted>";
    x += &xml_elem("DbiResourceId", &i.resource_id);
    x += &xml_elem("PromotionTier", &i.promotion_tier.to_string());
    x += &xml_elem("DBInstanceArn", &i.arn);
    x
}

pub(super) fn snapshot_xml(m: &RdsModel, s: &Snapshot, now: SystemTime) -> String {
    let status = m.snapshot_status(s, now);
    let mut x = String::new();
    x += &format!("<AvailabilityZones>{}</AvailabilityZones>", zones(&s.region));
    x += &xml_elem("DBClusterSnapshotIdentifier", &s.id);
    x += &xml_elem("DBClusterIdentifier", &s.cluster);
    x += &xml_elem("SnapshotCreateTime", &iso8601(s.created));
    x += &xml_elem("Engine", &s.engine);
    x += "<EngineMode>provisioned</EngineMode><AllocatedStorage>0</AllocatedStorage>";
    x += &xml_elem("Status", status);
    x += &xml_elem("Port", &s.port.to_string());
    x += &xml_elem("ClusterCreateTime", &iso8601(s.cluster_created));
    x += &xml_elem("MasterUsername", &s.master_username);
    x += &xml_elem("EngineVersion", &s.engine_version);
    x += &xml_elem("LicenseModel", &s.engine);
    x += &xml_elem("SnapshotType", &s.snapshot_type);
    x += &xml_elem("PercentProgress", if status == "available" { "100" } else { "0" });
    x += "<StorageEncrypted>true</StorageEncrypted>";
    if let Some(k) = &s.kms_key_id {
        x += &xml_elem("KmsKeyId", k);
    }
    x += &xml_elem("DBClusterSnapshotArn", &s.arn);
    if let Some(src) = &s.source_arn {
        x += &xml_elem("SourceDBClusterSnapshotArn", src);
    }
    x += "<IAMDatabaseAuthenticationEnabled>true</IAMDatabaseAuthenticationEnabled>";
    x += &xml_elem("DbClusterResourceId", &s.cluster_resource_id);
    x += "<StorageType>aurora</StorageType>";
    x
}

pub(super) fn event_xml(e: &Event) -> String {
    let cats: String = e.categories.iter().map(|c| xml_elem("EventCategory", c)).collect();
    format!(
        "{}{}{}<EventCategories>{cats}</EventCategories>{}{}",
        xml_elem("SourceIdentifier", &e.source_id),
        xml_elem("SourceType", &e.source_type),
        xml_elem("Message", &e.message),
        xml_elem("Date", &iso8601(e.date)),
        xml_elem("SourceArn", &e.source_arn),
    )
}
